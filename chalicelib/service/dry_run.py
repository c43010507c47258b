"""What a dry run shows of each action: the provider and DNS calls it would make, without making them.

It takes the ports it reads and nothing more (issue 21): the providers, the DNS zone if any, and the
settings that name servers and records; never the store, Scalelite or the guard's memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.domain.decision import Action
from chalicelib.domain.fleet import Fleet
from chalicelib.ports import Dns, LaunchSpec, Provider

if TYPE_CHECKING:  # annotations only: the settings model brings pydantic
    from chalicelib.config import Settings


@dataclass(frozen=True)
class DryRunPorts:
    """What a dry run describes with: `providers` by the configuration's name, the `dns` zone naming
    servers (None without `[dns]`), and the `settings` (cluster, providers' modes, the DNS driver)."""

    settings: Settings
    providers: Mapping[str, Provider]
    dns: Dns | None = None


def describe(ports: DryRunPorts, action: Action, fleet: Fleet) -> list[str]:
    """The calls `action` would make: the provider's own words for them (`Provider.calls`), and the DNS
    records a new or destroyed VM would get or lose."""
    provider = ports.providers.get(action.provider)
    settings = ports.settings
    if provider is None:
        return []
    if action.action == "start":
        names = [f"bbbscale-{settings.cluster}-{action.provider}-<next>"] * (action.count or 0)
        calls = provider.calls("create", [LaunchSpec(name=n) for n in names])
        if ports.dns is not None and settings.dns is not None and names:
            if settings.providers[action.provider].mode == "create":
                from chalicelib.domain.dns import Naming

                name = Naming(settings.dns.name, settings.cluster).record_name(names[0])
                calls.append(
                    f"dns {settings.dns.driver}: create A/AAAA {name}.{ports.dns.zone} for each new VM "
                    "once the provider reports its address"
                )
        return calls
    server = next((s for s in fleet.servers if s.name == action.server), None)
    if action.action == "stop" and server is not None:
        mode = settings.providers[action.provider].mode
        calls = provider.calls("stop" if mode == "power" else "destroy", [server.vm_id])
        if ports.dns is not None and settings.dns is not None and mode != "power":
            calls.append(f"dns {settings.dns.driver}: delete the records of {server.name}")
        return calls
    return []
