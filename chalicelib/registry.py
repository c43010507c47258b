"""The one explicit registry of adapter implementations, by the name the configuration uses.

Entries are "module:Class" strings, imported only when used, so that `import app` stays light (no
libcloud or boto3 at cold start). Every provider class has an `Options` pydantic model for its
`options` table and a constructor `(name, settings, options, context)`. The registry imports nothing of
ours but ConfigError; the loader (chalicelib/config_file.py) checks a configuration's kinds against it.
"""

from __future__ import annotations

from importlib import import_module

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
#: production bootstrap. Their classes come from the simulator, plugged in from outside (plugins.py).
SIMULATED_KINDS: tuple[str, ...] = ("simulated",)

#: Every kind a configuration may name.
PROVIDER_KINDS: tuple[str, ...] = (*PROVIDERS, *SIMULATED_KINDS)

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
