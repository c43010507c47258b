"""Reconciliation: make the stored fleet agree with what providers and Scalelite report. Pure.

Run at the start of every tick, it is what makes a killed tick harmless: a create whose answer was lost
is adopted when its VM shows up (found by its name), a VM that vanished is marked lost, a registration
whose answer was lost is adopted from Scalelite's list (found by URL), and transitions left half-done are
resumed by the planner from the state they reached. Nothing bbbscale created is ever forgotten.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.config import Settings
from chalicelib.domain.fleet import FINAL, RUNNING, VM, ScaleliteServer, Server, ServerState

#: States whose VM is gone (or stopped): a registration left in Scalelite for one is cleaned up.
GONE = FINAL | {ServerState.FAILED}
#: States in which a registration found in Scalelite is adopted by the record (running, or gone: cleaned up).
ADOPTABLE = RUNNING | GONE

#: An intent (REQUESTED record) older than this whose VM the provider does not list is marked failed at
#: once (and revived if its VM appears later). The tick that wrote it has ended: this tick holds the lease,
#: which the writer released or lost by dying (a live holder's heartbeat keeps it). The grace covers only a
#: writer whose heartbeat could not reach the store while one provider call (30 s timeout by default) was
#: still in flight. Before issue 23 this waited 3 minutes, and the record counted as coming capacity all
#: that time: a kill between the intent and the call delayed scale-up by ~3 minutes.
UNCONFIRMED_GRACE_SECONDS = 30.0


def api_url(address: str | None) -> str | None:
    """BBB API base of a VM address (a full URL, of any scheme, is kept as it is: the in-process
    simulator's VMs answer at sim://NAME, which https://sim://NAME/... would no longer name)."""
    if not address:
        return None
    if "://" in address:
        return address.rstrip("/")
    return f"https://{address}/bigbluebutton/api"


def name_prefix(cluster: str, provider: str) -> str:
    return f"bbbscale-{cluster}-{provider}-"


def reconcile(
    records: list[Server],
    vms: dict[str, list[VM] | None],
    scalelite: dict[str, ScaleliteServer] | None,
    settings: Settings,
    now: datetime,
) -> list[Server]:
    """Records that changed or are new, each moved with its reason. `vms[p]` is None when provider p's
    list failed this tick: its records are left alone (on doubt, hold)."""
    changed: dict[str, Server] = {}
    by_name = {r.name: r for r in records}
    by_provider: dict[str, list[Server]] = {}  # in the records' order, read once (a tick has ~150 records)
    for r in records:
        by_provider.setdefault(r.provider, []).append(r)
    for provider, listed in vms.items():
        if listed is None:
            continue
        p = settings.providers[provider]
        mine = {vm.name: vm for vm in listed}
        for r in by_provider.get(provider, ()):
            vm = mine.get(r.name)
            moved = _follow(r, vm, p.mode, now)
            if moved is not None:
                changed[r.name] = moved
        for vm in listed:
            if vm.status == "gone":
                continue
            known = by_name.get(vm.name)
            if known is None:
                changed[vm.name] = _adopt(vm, provider, p, now)
            elif _back(known, p.mode) and vm.status in ("pending", "running"):
                changed[vm.name] = known.moved(
                    ServerState.BOOTING,
                    now,
                    "its VM appeared after all: adopted"
                    if known.state != ServerState.STOPPED
                    else "its VM was started again outside bbbscale: adopted",
                    vm_id=vm.vm_id,
                    url=known.url or api_url(vm.address),
                    billed_since=vm.launched_at or now,
                )
    if scalelite is not None:
        # The owned pool (mode static) is registered from the start, and a provider no longer configured is
        # not ours to repair: their registrations are left as they are.
        managed = {name for name, p in settings.providers.items() if p.mode != "static"}
        # the VMs adopted above too: with the state lost and the fleet still running, each was registered
        # in Scalelite a second time (a cordoned one as a fresh enabled server)
        adopted = [c for name, c in changed.items() if name not in by_name]
        wiped = _registry_wiped(records, scalelite)
        for r in [*records, *adopted]:
            if r.provider not in managed:
                continue
            current = changed.get(r.name, r)
            registered = scalelite.get(current.url) if current.url else None
            if registered and r.name not in by_name and current.state == ServerState.BOOTING:
                changed[r.name] = _registered_already(current, registered, now)
            elif registered and current.scalelite_id != registered.id and current.state in ADOPTABLE:
                changed[r.name] = current.moved(
                    current.state,
                    current.since,
                    f"registration {registered.id} found in Scalelite: adopted",
                    scalelite_id=registered.id,
                )
            elif registered is None and current.scalelite_id and current.state == ServerState.SERVING:
                changed[r.name] = _missing(current, wiped, now)
            # Scalelite's state wins over a record a killed tick did not save (updateServer done, save not):
            # a "serving" server Scalelite has cordoned takes no meeting, yet would count as capacity forever;
            # a "draining" one it has enabled takes meetings, yet would never count nor finish draining.
            elif (
                registered
                and current.state == ServerState.SERVING
                and registered.state in ("cordoned", "disabled")
            ):
                changed[r.name] = current.moved(
                    ServerState.DRAINING,
                    now,
                    f"Scalelite shows it {registered.state}: "
                    "draining (a cordon whose record was not saved, or an operator's)",
                )
            elif registered and current.state == ServerState.DRAINING and registered.state == "enabled":
                changed[r.name] = current.moved(
                    ServerState.SERVING,
                    now,
                    "Scalelite shows it enabled: serving "
                    "(an uncordon whose record was not saved, or an operator's)",
                )
    return list(changed.values())


#: Why a create pool's VM found stopped is kept as it is for now (lifecycle.destroy_stopped_after_hours).
STOPPED_OUTSIDE = (
    "stopped outside bbbscale: not capacity; a create pool never starts it again, and destroys it "
    "lifecycle.destroy_stopped_after_hours after this unless it is started again by then"
)


def _registry_wiped(records: list[Server], scalelite: dict[str, ScaleliteServer]) -> bool:
    """Whether Scalelite lists none of the servers bbbscale registered (a new or reset database): then a
    missing registration is Scalelite's loss, not an operator's removal of one server."""
    ours = [r.url for r in records if r.url and r.scalelite_id and r.state in RUNNING]
    return bool(ours) and not any(url in scalelite for url in ours)


def _missing(server: Server, wiped: bool, now: datetime) -> Server:
    """A serving server whose registration is gone from Scalelite. With the whole fleet's gone, it is
    registered again. Alone, an operator deleted it (Scalelite's deleteServer or `rake servers:remove`):
    that is their word, as a cordon is: it is drained, never registered behind their back; its old id
    kept, so the drain still asks the server itself for meetings before it is stopped."""
    if wiped:
        why = (
            "missing from Scalelite, as every server of this fleet (a new or reset Scalelite): register again"
        )
        return server.moved(ServerState.HEALTHY, now, why, scalelite_id=None)
    return server.moved(
        ServerState.DRAINING,
        now,
        "deleted from Scalelite outside bbbscale (an operator's deleteServer): drained, not registered "
        "again (add it back in Scalelite to have it serve)",
    )


def _back(known: Server, mode: str) -> bool:
    """A record whose VM, running again, is taken back: one given up (failed, lost), or a create pool's VM
    stopped outside bbbscale and started again by hand."""
    return known.state in (ServerState.FAILED, ServerState.LOST) or (
        known.state == ServerState.STOPPED and mode == "create"
    )


def _follow(r: Server, vm: VM | None, mode: str, now: datetime) -> Server | None:
    """A record's next state given its VM (None: the provider does not list it)."""
    if r.state == ServerState.STOPPED and mode == "power":  # final for a create pool, a spare for a power one
        if vm is None or vm.status == "gone":
            return r.moved(ServerState.LOST, now, "the stopped VM is no longer listed by the provider")
        return None
    if r.state == ServerState.STOPPED and mode == "create" and (vm is None or vm.status == "gone"):
        return r.moved(
            ServerState.DESTROYED, now, "the stopped VM is no longer listed: destroyed outside bbbscale"
        )
    if r.state in FINAL or r.state == ServerState.FAILED:
        return None
    if r.state == ServerState.REQUESTED:
        if vm is not None and vm.status in ("pending", "running"):
            return r.moved(
                ServerState.BOOTING,
                now,
                "the provider confirmed the VM",
                vm_id=vm.vm_id,
                url=api_url(vm.address),
                billed_since=vm.launched_at or now,
            )
        waited = (now - r.since).total_seconds()
        if vm is None and waited >= UNCONFIRMED_GRACE_SECONDS:
            # The provider was asked this tick (its list, by our cluster tag, looked up by the intent's
            # name, which is also EC2's ClientToken): no VM, so the create never reached it.
            return r.moved(
                ServerState.FAILED,
                now,
                f"create not confirmed: the provider lists no VM named {r.name} {waited:.0f} s after the "
                "intent (the call was never sent or its answer was lost before it acted)",
            )
        return None
    if r.state == ServerState.STOPPING:
        if vm is None or vm.status == "gone":
            return r.moved(ServerState.DESTROYED, now, "the provider no longer lists the VM")
        if vm.status == "stopped":
            return r.moved(ServerState.STOPPED, now, "the provider reports the VM stopped")
        return None
    if r.state in RUNNING:
        if vm is None or vm.status == "gone":
            return r.moved(ServerState.LOST, now, "the VM vanished at the provider")
        if vm.status == "stopped" and mode == "create":  # not lost: bbbscale knows where it is
            return r.moved(ServerState.STOPPED, now, STOPPED_OUTSIDE)
        if vm.status == "stopped" and mode != "static":
            return r.moved(ServerState.LOST, now, "the VM was stopped outside bbbscale")
    if vm is not None and r.url is None and vm.address:
        return r.moved(r.state, r.since, r.reason, url=api_url(vm.address))
    return None


def _registered_already(adopted: Server, registered: ScaleliteServer, now: datetime) -> Server:
    """A VM adopted this tick (its record was lost) that Scalelite already knows by its URL: it keeps
    that registration and the state Scalelite gives it (enabled and online: serving; cordoned or
    disabled: draining, as a record whose cordon was not saved), never a second registration."""
    why = f"registration {registered.id} found in Scalelite ({registered.state}): adopted"
    if registered.state in ("cordoned", "disabled"):
        return adopted.moved(ServerState.DRAINING, now, f"{why}, draining", scalelite_id=registered.id)
    if registered.online:
        return adopted.moved(ServerState.SERVING, now, f"{why}, serving", scalelite_id=registered.id)
    return adopted.moved(adopted.state, now, f"{why}; offline in Scalelite", scalelite_id=registered.id)


def _adopt(vm: VM, provider: str, p, now: datetime) -> Server:
    """A record for a VM listed under our cluster tag that the store does not know."""
    if p.mode == "static":
        state, why = ServerState.SERVING, "owned pool server (always on)"
    elif vm.status == "stopped" and p.mode == "power":
        state, why = ServerState.STOPPED, "stopped VM of the power pool"
    elif vm.status == "stopped":  # a create pool never restarts a VM: say what becomes of it
        state, why = ServerState.STOPPED, f"stopped VM with our cluster tag: {STOPPED_OUTSIDE}"
    else:
        state, why = ServerState.BOOTING, "unknown VM with our cluster tag found at the provider: adopted"
    return Server(
        name=vm.name,
        provider=provider,
        state=state,
        since=now,
        capacity=p.capacity_units,
        vm_id=vm.vm_id,
        url=api_url(vm.address),
        image=vm.image or p.image,
        billed_since=vm.launched_at or now,
        created_at=vm.launched_at or now,
        reason=why,
    )
