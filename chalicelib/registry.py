"""The one explicit registry of adapter implementations, by the name the configuration uses.

Entries are "module:Class" strings, imported only when used, so that `import app` stays light (no
libcloud or boto3 at cold start). Every provider class has an `Options` pydantic model for its
`options` table and a constructor `(name, settings, options, context)`.
"""

from __future__ import annotations

from importlib import import_module

from pydantic import ValidationError

#: The production providers: what the bootstrap builds from a configuration.
PROVIDERS: dict[str, str] = {
    "static": "chalicelib.adapters.providers.static:StaticPool",
    "openstack": "chalicelib.adapters.providers.openstack:OpenStackProvider",
    "cloudstack": "chalicelib.adapters.providers.cloudstack:CloudStackProvider",
    "outscale": "chalicelib.adapters.providers.outscale:OutscaleProvider",
    "ec2": "chalicelib.adapters.providers.ec2:Ec2Provider",
    "scaleway": "chalicelib.adapters.providers.scaleway:ScalewayProvider",
}

#: Kinds only the simulator builds (it hands each its world): valid in a configuration, never built by the
#: production bootstrap.
SIMULATED_PROVIDERS: dict[str, str] = {
    "simulated": "chalicelib.sim.cloud:SimulatedCloud",
}

#: Every kind a configuration may name.
PROVIDER_KINDS: dict[str, str] = {**PROVIDERS, **SIMULATED_PROVIDERS}

DNS_DRIVERS: dict[str, str] = {
    "gandi_live": "chalicelib.adapters.dns.gandi:GandiLiveDns",
    "ovh": "chalicelib.adapters.dns.ovh:OvhDns",
    "route53": "chalicelib.adapters.dns.route53:Route53Dns",
}

STATE_BACKENDS: dict[str, str] = {
    "sqlite": "chalicelib.adapters.state.sqlite:SqliteStateStore",
    "memory": "chalicelib.adapters.state.memory:MemoryStateStore",
    "dynamodb": "chalicelib.adapters.state.dynamodb:DynamoStateStore",
}


def resolve(table: dict[str, str], name: str, what: str):
    """Import the implementation registered under `name`; unknown names list the choices."""
    from chalicelib.config import ConfigError

    if name not in table:
        raise ConfigError(f"unknown {what} {name!r}; choose one of: {', '.join(sorted(table))}")
    module, _, attr = table[name].partition(":")
    return getattr(import_module(module), attr)


def check_kinds(settings) -> None:
    """Validate each provider's kind and its adapter options; errors name the field."""
    from chalicelib.config import ConfigError

    for name, provider in settings.providers.items():
        if provider.kind not in PROVIDER_KINDS:
            raise ConfigError(
                f"invalid configuration: providers.{name}.kind: unknown provider kind {provider.kind!r}; "
                f"choose one of: {', '.join(sorted(PROVIDER_KINDS))}"
            )
        cls = resolve(PROVIDER_KINDS, provider.kind, "provider kind")
        options_model = getattr(cls, "Options", None)
        if options_model is None:
            continue
        try:
            options_model.model_validate(provider.options)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"invalid configuration: providers.{name}.options.{where}: {first['msg']}"
            ) from None
    if settings.dns is not None:
        from chalicelib.adapters.dns.base import check_dns

        check_dns(settings)
