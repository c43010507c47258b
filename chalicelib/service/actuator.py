"""The act step: carry out a decision's actions, recording every transition before and after each call.

Intent is written before any provider call (a REQUESTED record exists before `create` is sent), so a tick
killed half-way leaves records that reconciliation resolves; every write is conditional on the version
read, so two ticks can never carry out the same decision twice. Failures are recorded with the action,
counted per provider for backoff, and never stop the other actions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.domain.decision import Action, Decision
from chalicelib.domain.fleet import Fleet, Server, ServerState
from chalicelib.domain.kept import ProviderFailure
from chalicelib.domain.kinds import HoldKind, Outcome
from chalicelib.domain.reconcile import GONE
from chalicelib.domain.tick_report import ActionReport, DnsReport
from chalicelib.ports import ApiError, BbbscaleError, ConflictError, LaunchSpec, ProviderError
from chalicelib.service import creation
from chalicelib.service.records import transition
from chalicelib.service.service_ports import ActuatorPorts


def launch_spec(ports: ActuatorPorts, server: Server) -> LaunchSpec:
    """What a new VM of `server` is created with: its name, user data, the cluster's tags, its image."""
    tags = {"bbbscale:cluster": ports.settings.cluster, "bbbscale:provider": server.provider}
    return LaunchSpec(name=server.name, user_data=ports.user_data(server), tags=tags, image=server.image)


class Actuator:
    """Applies actions for one tick through the ports."""

    def __init__(self, ports: ActuatorPorts, now: datetime, holds=None, dns_records=None):
        self.ports, self.now, self.settings = ports, now, ports.settings
        self.holds = holds or (lambda: True)
        self.dns_records = dns_records  # this cluster's records as observed (None: no [dns] or unreadable)
        self.dns_report: list[DnsReport] = []  # every DNS change made, with its outcome
        self._dns_holds: list[ActionReport] = []
        self._destroyed: set[str] = set()  # servers whose VM this tick destroyed: their records only go
        # the act step's start, in the process's time: creation batches stay within its budget
        self.monotonic = creation.SECONDS
        self.started = self.monotonic()

    def apply(self, decision: Decision, fleet: Fleet) -> tuple[ActionReport, ...]:
        """Carry out each action in turn and say what became of it. Before each one (holds excepted) the
        tick's lease is checked: a tick that lost it (taken over after a pause) acts no more and says so."""
        servers = {s.name: s for s in fleet.servers}
        results: list[ActionReport] = []
        lost = False
        for action in decision.actions:
            if action.action != "hold" and (lost or not self.holds()):
                lost = True
                results.append(
                    ActionReport.of(action, Outcome.SKIPPED, "lease lost (another tick took over)")
                )
                continue
            try:
                result = getattr(self, f"_{action.action}")(action, servers)
            except ConflictError:
                result = ActionReport.of(
                    action, Outcome.SKIPPED, "the record changed under us (another tick acted)"
                )
            except BbbscaleError as error:
                result = ActionReport.of(action, Outcome.FAILED, str(error))
                if action.action == "start":
                    self._failure(action.provider, str(error))
            results.append(result)
        changes = [c for c in decision.dns if c.server not in self._destroyed]
        if changes and not lost and self.holds():  # record changes too are acts: only under the lease
            self._dns(changes)
        return tuple(results + self._dns_holds)

    def _dns(self, changes) -> None:
        """DNS record changes, intent recorded before each call (service/dns.py); failures become holds."""
        if not changes or self.ports.dns is None:
            return
        from chalicelib.service.dns import apply_changes

        done, holds = apply_changes(self.ports.dns, self.ports.store, changes, self.now)
        self.dns_report += done
        self._dns_holds += holds

    def _gone(self, s: Server) -> None:
        """A destroyed VM's records go at once (reconciliation removes any this tick did not see)."""
        from chalicelib.service.dns import records_of_gone_vm

        self._destroyed.add(s.name)
        self._dns(records_of_gone_vm(self.ports, s.name, s.provider, self.dns_records))

    # --- transitions ------------------------------------------------------------------------------
    def _move(self, servers: dict, name: str, state: ServerState, reason: str, **changes) -> Server:
        server = transition(self.ports.store, servers[name].moved(state, self.now, reason, **changes))
        servers[name] = server
        return server

    def _hold(self, action: Action, servers) -> ActionReport:
        return ActionReport.of(action, Outcome.HELD)

    def _start(self, action: Action, servers) -> ActionReport:
        """Create `count` servers in batches within the act step's time (service/creation.py): intent
        records per batch, each batch's VMs booting and named in DNS before the next is sent."""
        from chalicelib.domain.reconcile import api_url
        from chalicelib.service.dns import records_for_new_vm

        provider = self.ports.providers[action.provider]
        p = self.settings.providers[action.provider]
        if p.mode == "power":
            return self._power_on(action, servers, provider)

        def new_record() -> Server:
            n = self.ports.store.servers.next_number(action.provider)
            name = f"bbbscale-{self.settings.cluster}-{action.provider}-{n}"
            record = Server(
                name=name,
                provider=action.provider,
                state=ServerState.REQUESTED,
                since=self.now,
                capacity=p.capacity_units,
                image=p.image,
                created_at=self.now,
                reason=action.reason,
            )
            servers[name] = transition(self.ports.store, record)
            return servers[name]

        def on_created(vms, records) -> None:
            for vm in vms:  # its name must resolve before its first boot asks for a certificate
                self._dns(records_for_new_vm(self.ports, vm))
            created = {vm.name: vm for vm in vms}
            for record in records:
                made = created.get(record.name)
                if made is not None:
                    self._move(
                        servers,
                        record.name,
                        ServerState.BOOTING,
                        "created at the provider",
                        vm_id=made.vm_id,
                        url=api_url(made.address),
                        billed_since=made.launched_at or self.now,
                    )

        done = creation.create_in_batches(
            self.ports,
            action.provider,
            action.count or 0,
            new_record,
            lambda record: launch_spec(self.ports, record),
            on_created,
            self.started,
            self.monotonic,
            self.holds,
        )
        for name in done.refused:
            self._move(servers, name, ServerState.FAILED, f"create refused: {done.error}")
        if done.error is not None and not done.created:
            raise done.error
        if done.lost and not done.requested:
            return ActionReport.of(action, Outcome.SKIPPED, "lease lost (another tick took over)")
        notes = []
        if done.error is not None:
            notes.append(f"then: {done.error}")
            self._failure(action.provider, str(done.error))
        unconfirmed = len(done.requested) - done.created - len(done.refused)
        if unconfirmed:
            notes.append(f"{unconfirmed} unconfirmed (reconciled next tick)")
        if done.deferred:
            notes.append(done.why_deferred)
        if done.lost:
            notes.append(
                f"lease lost (another tick took over) after {len(done.requested)} of {done.asked} asked: "
                "the rest is that tick's to decide"
            )
        if notes:
            return ActionReport.of(action, Outcome.PARTIAL, f"{done.created} created, " + "; ".join(notes))
        return ActionReport.of(action, Outcome.DONE)

    def _power_on(self, action: Action, servers, provider) -> ActionReport:
        pool = sorted(
            (s for s in servers.values() if s.provider == action.provider and s.state == ServerState.STOPPED),
            key=lambda s: s.since,
        )[: action.count or 0]
        for started, s in enumerate(pool):
            if started and not self.holds():  # as a create's batches: a tick taken over starts no more
                return ActionReport.of(
                    action,
                    Outcome.PARTIAL,
                    f"{started} started, then the lease was lost (another tick took over)",
                )
            self._move(servers, s.name, ServerState.REQUESTED, action.reason)
            try:
                provider.start(s.vm_id)
            except ProviderError as error:
                self._move(servers, s.name, ServerState.STOPPED, f"start failed: {error}")
                raise
            self._move(servers, s.name, ServerState.BOOTING, "started at the provider", billed_since=self.now)
        short = (action.count or 0) - len(pool)
        if short:
            return ActionReport.of(action, Outcome.PARTIAL, f"only {len(pool)} stopped VMs in the pool")
        return ActionReport.of(action, Outcome.DONE)

    def _register(self, action: Action, servers) -> ActionReport:
        s = servers[action.server]
        if s.scalelite_id is None:
            from chalicelib.domain.fleet import capacity_of, scalelite_multiplier

            multiplier = scalelite_multiplier(capacity_of(s, self.settings.providers))
            added = self.ports.scalelite.add(
                s.url, self.ports.keys.of(s.name), multiplier, self.settings.scalelite.server_tag
            )
            s = self._move(servers, s.name, ServerState.REGISTERED, action.reason, scalelite_id=added.id)
        else:
            s = self._move(servers, s.name, ServerState.REGISTERED, action.reason)
        self._recovered(s.provider)
        return ActionReport.of(action, Outcome.DONE)

    def _enable(self, action: Action, servers) -> ActionReport:
        s = servers[action.server]
        if s.state != ServerState.REGISTERED:
            return ActionReport.of(action, Outcome.SKIPPED, f"{s.name} is {s.state.value}")
        self.ports.scalelite.set_state(s.scalelite_id, "enable")
        self._move(servers, s.name, ServerState.SERVING, action.reason)
        return ActionReport.of(action, Outcome.DONE)

    def _uncordon(self, action: Action, servers) -> ActionReport:
        s = servers[action.server]
        if s.scalelite_id:
            self.ports.scalelite.set_state(s.scalelite_id, "enable")
        self._move(
            servers, s.name, ServerState.SERVING if s.scalelite_id else ServerState.BOOTING, action.reason
        )
        return ActionReport.of(action, Outcome.DONE)

    def _cordon(self, action: Action, servers) -> ActionReport:
        s = servers[action.server]
        if s.scalelite_id:
            self.ports.scalelite.set_state(s.scalelite_id, "cordon")
        self._move(servers, s.name, ServerState.DRAINING, action.reason)
        return ActionReport.of(action, Outcome.DONE)

    def _recordon(self, action: Action, servers) -> ActionReport:
        """A draining server's cordon again, as the only sequence Scalelite keeps: enable then cordon (a
        second cordon alone changes nothing when a poll undid the first). Its drain is dated anew."""
        s = servers[action.server]
        if s.state != ServerState.DRAINING or not s.scalelite_id:
            return ActionReport.of(action, Outcome.SKIPPED, f"{s.name} is {s.state.value}")
        self.ports.scalelite.set_state(s.scalelite_id, "enable")
        self.ports.scalelite.set_state(s.scalelite_id, "cordon")
        self._move(servers, s.name, ServerState.DRAINING, action.reason)
        return ActionReport.of(action, Outcome.DONE)

    def _replace(self, action: Action, servers) -> ActionReport:
        s = servers[action.server]
        if s.state == ServerState.BOOTING and s.scalelite_id is None:
            # Never registered in Scalelite, so it cannot hold a meeting: safe to destroy now.
            self.ports.providers[s.provider].destroy(s.vm_id)
            self._move(servers, s.name, ServerState.FAILED, action.reason)
            self._failure(s.provider, action.reason)
            self._gone(s)
            return ActionReport.of(action, Outcome.DONE)
        return self._cordon(action, servers)

    def _stop(self, action: Action, servers) -> ActionReport:
        s = servers[action.server]
        if (
            s.state == ServerState.STOPPED
            and self.settings.providers[s.provider].mode == "create"
            and not s.scalelite_id  # else only its registration goes, below (a step of its own)
        ):
            self.ports.providers[s.provider].destroy(s.vm_id)  # stopped: no meeting can be on it
            self._move(servers, s.name, ServerState.DESTROYED, "destroyed at the provider", scalelite_id=None)
            self._gone(s)
            return ActionReport.of(action, Outcome.DONE)
        if s.state in GONE:  # only a registration left behind: its VM is already gone
            self._deregister(s)
            self._move(servers, s.name, s.state, action.reason, scalelite_id=None)
            return ActionReport.of(action, Outcome.DONE)
        if s.scalelite_id:
            # Last look right before acting: the server itself must still say it has no meeting.
            try:
                left = len(self.ports.bbb_of(s).meetings().meetings)
            except BbbscaleError as error:
                why = f"{s.name} could not confirm it is empty ({error})"
                return ActionReport.of(action, Outcome.HELD, why, HoldKind.UNCONFIRMED)
            if left:
                why = f"{s.name} has {left} meeting(s) again"
                return ActionReport.of(action, Outcome.HELD, why, HoldKind.BUSY)
        if s.scalelite_id:
            self._deregister(s)
            s = self._move(servers, s.name, ServerState.DRAINED, action.reason, scalelite_id=None)
        self._move(servers, s.name, ServerState.STOPPING, "stopping at the provider")
        provider = self.ports.providers[s.provider]
        if self.settings.providers[s.provider].mode == "power":
            provider.stop(s.vm_id)
            self._move(servers, s.name, ServerState.STOPPED, "stopped at the provider")
        else:
            provider.destroy(s.vm_id)
            self._move(servers, s.name, ServerState.DESTROYED, "destroyed at the provider")
            self._gone(s)
        return ActionReport.of(action, Outcome.DONE)

    def _deregister(self, s: Server) -> None:
        """deleteServer; an id Scalelite no longer knows was already deleted (a lost answer, a killed tick)."""
        if s.scalelite_id is None:  # never registered, or already deleted
            return
        try:
            self.ports.scalelite.delete(s.scalelite_id)
        except ApiError as error:
            if error.key != "notFound":
                raise

    # --- provider backoff ---------------------------------------------------------------------------
    def _failure(self, provider: str, why: str) -> None:
        """Count a provider failure; after `failures_before_backoff` in a row, back off exponentially."""
        life, failures = self.settings.lifecycle, self.ports.store.provider_failures
        before = failures.failures().get(provider, ProviderFailure(0))
        count, until = before.count + 1, before.until
        over = count - life.failures_before_backoff
        if over >= 0:
            wait = min(life.backoff_base_minutes * (2**over), life.backoff_max_minutes)
            until = self.now + timedelta(minutes=wait)
        failures.failed(provider, ProviderFailure(count, until, why[:200]))

    def _recovered(self, provider: str) -> None:
        self.ports.store.provider_failures.recovered(provider)
