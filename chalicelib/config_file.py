"""Reading the configuration: a TOML file (`--config PATH`) or the built-in demo configuration
(`default.toml` beside this file), validated into the `Settings` tree of chalicelib/config.py.

Apart from the settings model on purpose: the model is what the domain reads, so it imports nothing
above it; checking each provider's kind and options needs the adapter classes (through the registry),
which only the loader, above the adapters, may import.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from chalicelib.config import ConfigError, Settings
from chalicelib.domain.dns import Naming
from chalicelib.errors import validation_message
from chalicelib.registry import DNS_DRIVERS, PROVIDER_KINDS, PROVIDERS, SIMULATED_KINDS, resolve

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")
#: A configuration file is read whole; a static pool of 10,000 servers is well under this.
MAX_CONFIG_BYTES = 8 << 20


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate a TOML file (default: the built-in demo configuration)."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)  # /dev/zero has no size to check first
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"cannot read configuration {path}: over {MAX_CONFIG_BYTES >> 20} MiB, not a configuration"
            )
        document = tomllib.loads(raw.decode("utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read configuration {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:  # exit 2 like any unreadable file, not a traceback's exit 1
        raise ConfigError(
            f"cannot read configuration {path}: not UTF-8 text (byte {error.start}: {error.reason})"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML in {path}: {error}") from None
    return parse_settings(document, source=str(path))


def parse_settings(document: dict, source: str = "configuration") -> Settings:
    """Validate a configuration document; a ConfigError names every invalid field."""
    try:
        settings = Settings.model_validate(document)
    except ValidationError as error:
        raise ConfigError(f"invalid {source}: {_describe(error)}") from None
    check_kinds(settings)
    return settings


def check_kinds(settings: Settings) -> None:
    """Validate each provider's kind and its adapter options, and `[dns]`; errors name the field."""
    for name, provider in settings.providers.items():
        if provider.kind not in PROVIDER_KINDS:
            raise ConfigError(
                f"invalid configuration: providers.{name}.kind: unknown provider kind {provider.kind!r}; "
                f"choose one of: {', '.join(sorted(PROVIDER_KINDS))}"
            )
        cls = provider_class(name, provider.kind)
        options_model = getattr(cls, "Options", None)
        if options_model is None:
            provider._secrets_needed = ()
            continue
        try:
            options = options_model.model_validate(provider.options)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"invalid configuration: providers.{name}.options.{where}: {validation_message(first)}"
            ) from None
        needs = getattr(options, "secrets_needed", None)
        provider._secrets_needed = tuple(needs()) if needs else ()
    if settings.dns is not None:
        check_dns(settings)
    if settings.certificates is not None:
        check_certificates(settings)


def provider_class(name: str, kind: str) -> type:
    """The class of a known provider kind: production's from the registry, a simulated kind's from the
    simulator (plugins.py: one clear error when it is not installed)."""
    if kind in SIMULATED_KINDS:
        from chalicelib.plugins import simulator

        return simulator(f"providers.{name}.kind {kind!r}").provider_class(kind)
    cls: type = resolve(PROVIDERS, kind, "provider kind")
    return cls


#: Provider kinds whose servers do not boot the prepared image (no `boot.domain` to match).
_NO_BOOT = ("static", "simulated")


def check_dns(settings: Settings) -> None:
    """Validate `[dns]`: a known driver, its options, and names that match what each provider's servers
    wait for at first boot (`<server>.<boot.domain>`). Errors name the field. Here, not in the DNS
    adapter, since it holds the DNS settings against the providers' boot options."""

    dns = settings.dns
    assert dns is not None
    if dns.driver not in DNS_DRIVERS:
        raise ConfigError(
            f"invalid configuration: dns.driver: unknown DNS driver {dns.driver!r}; "
            f"choose one of: {', '.join(sorted(DNS_DRIVERS))}"
        )
    cls = resolve(DNS_DRIVERS, dns.driver, "DNS driver")
    try:
        cls.Options.model_validate(dns.options)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid configuration: dns.options.{where}: {first['msg']}") from None
    naming = Naming(dns.name, settings.cluster)
    for name, boot in _booting(settings):
        if boot.hostnames:
            raise ConfigError(
                f"invalid configuration: providers.{name}.options.boot.hostnames: a hostname pool cannot be "
                "combined with [dns] (records are named after the servers)"
            )
        sample = f"bbbscale-{settings.cluster}-{name}-1"
        made, awaited = f"{naming.record_name(sample)}.{dns.zone}", f"{sample}.{boot.domain}"
        if made != awaited:
            raise ConfigError(
                f"invalid configuration: providers.{name}.options.boot.domain: its servers wait for "
                f"{awaited} but [dns] makes {made} (set boot.domain = {made.split('.', 1)[1]!r})"
            )


def _booting(settings: Settings):
    """(name, boot options) of each provider whose servers boot the image; a provider whose boot options
    are invalid is left out (its own check names that error)."""
    from chalicelib.adapters.providers.userdata import BootOptions

    for name, provider in settings.providers.items():
        if provider.mode == "static" or provider.kind in _NO_BOOT:
            continue
        try:
            yield name, BootOptions.model_validate((provider.options or {}).get("boot", {}))
        except ValidationError:
            continue


def check_certificates(settings: Settings) -> None:
    """Validate `[certificates]` against the rest: DNS-01 needs `[dns]` with the domain inside its zone,
    and every provider whose servers boot the image must name the same domain (`boot.domain`, so the
    wildcard covers their names) and the route they fetch it from (`boot.cert_url`)."""

    cert = settings.certificates
    assert cert is not None
    if settings.dns is None:
        raise ConfigError(
            "invalid configuration: certificates: needs [dns] (DNS-01 challenges are answered there)"
        )
    zone = settings.dns.zone
    if cert.domain != zone and not cert.domain.endswith(f".{zone}"):
        raise ConfigError(
            f"invalid configuration: certificates.domain: {cert.domain!r} is not inside the [dns] zone {zone!r}"
        )
    for name, boot in _booting(settings):
        if boot.domain != cert.domain:
            raise ConfigError(
                f"invalid configuration: providers.{name}.options.boot.domain: {boot.domain!r} is not "
                f"covered by the fleet certificate *.{cert.domain} (set certificates.domain or boot.domain)"
            )
        if not boot.cert_url:
            raise ConfigError(
                f"invalid configuration: providers.{name}.options.boot.cert_url: needed with [certificates] "
                "(the https URL of bbbscale's /fleet/certificate route)"
            )


def _describe(error: ValidationError) -> str:
    """Every problem at once, "field: message; field: message" (fixing one at a time is slow)."""
    problems = []
    for found in error.errors():
        where = ".".join(str(p) for p in found["loc"]) or "(top level)"
        problems.append(f"{where}: {validation_message(found)}")
    return "; ".join(problems)
