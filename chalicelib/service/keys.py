"""Each VM's BBB secret, and the secrets a tick needs before it may call anything.

A VM's secret is HMAC-SHA256(master key, server name): unique per VM, recomputable, never stored, so
losing the store never loses a server's secret. Real providers need a master key of their own; the
simulated fleet, where no real VM is made, uses a demo key named as such.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from chalicelib.ports import SecretLookup

if TYPE_CHECKING:  # annotations only: the settings model brings pydantic, which `import app` avoids
    from chalicelib.config import Settings

SERVER_KEY = "BBBSCALE_SERVER_SECRET_KEY"


def simulated_only(settings: Settings) -> bool:
    """True when no provider creates or starts real VMs: every provider is the simulated cloud or a
    static pool of existing servers (whose secrets come from their own options), so no BBB secret we
    derive is at stake."""
    return all(p.kind == "simulated" or p.mode == "static" for p in settings.providers.values())


class ServerKeys:
    """The per-VM secret of each server this cluster makes."""

    def __init__(self, settings: Settings, secret: SecretLookup):
        self.settings, self.secret = settings, secret

    def __repr__(self) -> str:  # never the key
        return f"ServerKeys(cluster={self.settings.cluster!r})"

    def of(self, name: str) -> str:
        master = self.secret(SERVER_KEY)
        if not master:
            if not simulated_only(self.settings):
                # A built-in key would be guessable, and it feeds the secrets sent with addServer.
                from chalicelib.config import ConfigError

                raise ConfigError(f"no server secret key: set {SERVER_KEY} (real providers need one)")
            master = f"bbbscale-{self.settings.cluster}-simulated-fleet-demo-key"  # no real VM is made
        return hmac.new(master.encode(), name.encode(), hashlib.sha256).hexdigest()


def _provider_secrets(settings: Settings) -> dict[str, list[str]]:
    """Each real provider's secret names, as the loader found them in its adapter's options."""
    found: dict[str, list[str]] = {}
    for name, provider in settings.providers.items():
        if provider.kind == "simulated":
            continue
        if provider.secrets_needed is None:  # a Settings built by hand, not through the loader
            from chalicelib.config import ConfigError

            raise ConfigError(f"providers.{name}: its secrets are unknown (the configuration was not loaded)")
        found[name] = list(provider.secrets_needed)
    return found


def check_secrets(
    settings: Settings, secret: SecretLookup, providers: dict[str, list[str]] | None = None
) -> None:
    """Refuse to start a tick on real providers while secrets it needs are missing, naming them all at
    once (ConfigError, exit 2): the Scalelite secret, the server secret key when real VMs are made, and
    each provider's own credentials (`providers`: name -> the secret names its options need, e.g.
    OS_PASSWORD; by default what the loader read in each provider's options). The simulated fleet needs
    none."""
    if all(p.kind == "simulated" for p in settings.providers.values()):
        return
    needed = [settings.scalelite.secret_env] + ([] if simulated_only(settings) else [SERVER_KEY])
    for name, names in sorted((_provider_secrets(settings) if providers is None else providers).items()):
        needed += [f"{secret_name} (providers.{name})" for secret_name in names]
    missing = [name for name in needed if not secret(name.split(" (", 1)[0])]
    if missing:
        from chalicelib.config import ConfigError

        raise ConfigError(
            f"missing secrets: {', '.join(missing)} (set them in the environment or the secret store)"
        )
