"""Hand-written fakes of OUR ports (never of libraries we do not own). Each records what it was asked,
like cluster-autoscaler's test cloud provider, so tests assert on the calls a tick made."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chalicelib.domain.fleet import VM
from chalicelib.domain.load import LoadSnapshot, Meeting
from chalicelib.ports import (
    PROVIDER_OPERATIONS,
    ApiError,
    LaunchSpec,
    ProviderError,
    ScaleliteServer,
    UnreachableError,
)


class FakeProvider:
    """VMs are pending at create, running when `boot()` is called; `stop` powers one off and `start`
    boots it again (pending until the next `boot()`). `fail` makes the next calls raise. With a
    `cluster`, it tags what it creates and lists only that cluster's VMs, as the real adapters do;
    without one it lists its whole account (unit tests drive a single cluster).
    Held to the same contract as the real adapters (tests/contract/test_provider.py)."""

    def __init__(self, name: str, clock, cluster: str | None = None):
        self.name, self.clock, self.cluster = name, clock, cluster
        self.vms: dict[str, VM] = {}
        self.asked: list[tuple[str, object]] = []
        self.fail: list[ProviderError] = []  # for create/start/stop/destroy
        self.fail_list: list[ProviderError] = []
        self.lose_answer = False  # create happens but the answer is lost (a timeout)
        self.progress_to = None

    def _maybe_fail(self):
        if self.fail:
            raise self.fail.pop(0)

    def _mine(self, vm: VM) -> bool:
        return self.cluster is None or vm.tags.get("bbbscale:cluster") == self.cluster

    def _get(self, vm_id) -> VM:
        vm = self.vms.get(vm_id)
        if vm is None or not self._mine(vm):
            raise ProviderError(f"provider {self.name}: no VM {vm_id!r}")
        return vm

    def list(self) -> list[VM]:
        self.asked.append(("list", None))
        if self.fail_list:
            raise self.fail_list.pop(0)
        return [vm for vm in self.vms.values() if self._mine(vm)]

    def create(self, specs: list[LaunchSpec]) -> list[VM]:
        self.asked.append(("create", [s.name for s in specs]))
        self._maybe_fail()
        own = {"bbbscale:cluster": self.cluster, "bbbscale:provider": self.name} if self.cluster else {}
        out = []
        for s in specs:
            vm = VM(
                self.name,
                f"id-{s.name}",
                s.name,
                "pending",
                f"http://{s.name}/bigbluebutton/api",
                s.image,
                self.clock(),
                {**s.tags, **own},
            )
            self.vms[vm.vm_id] = vm
            out.append(vm)
        if self.lose_answer:
            raise ProviderError("timed out", retryable=True)
        if specs and self.progress_to:
            self.progress_to(len(specs), len(specs))
        return out

    def boot(self):
        for vm_id, vm in self.vms.items():
            if vm.status == "pending":
                self.vms[vm_id] = replace(vm, status="running")

    def start(self, vm_id):
        self.asked.append(("start", vm_id))
        self._maybe_fail()
        vm = self._get(vm_id)
        if vm.status == "stopped":
            vm = self.vms[vm_id] = replace(vm, status="pending")
        return vm

    def stop(self, vm_id):
        self.asked.append(("stop", vm_id))
        self._maybe_fail()
        self.vms[vm_id] = replace(self._get(vm_id), status="stopped")

    def destroy(self, vm_id):
        """Already gone is fine, as with every real provider (a retried destroy finds it gone)."""
        self.asked.append(("destroy", vm_id))
        self._maybe_fail()
        self.vms.pop(vm_id, None)

    def calls(self, operation, targets):
        """One line per target, as an API adapter describes its requests; asks nothing."""
        if operation not in PROVIDER_OPERATIONS:
            raise ProviderError(f"unknown operation {operation!r}")
        return [f"{operation} {getattr(target, 'name', target)}" for target in targets]

    def report_progress(self, to):
        self.progress_to = to


class FakeScalelite:
    """Scalelite's registry and meetings, as if its poller had just run (servers are online, a disabled one
    has no load); `down` makes every call fail as an unreachable server would, `internal_error` fails
    getMeetings as one failing server does. Held to the same contract as the real client
    (tests/contract/test_scalelite.py)."""

    _STATES = {"enable": "enabled", "cordon": "cordoned", "disable": "disabled"}

    def __init__(self):
        self.servers_by_id: dict[str, ScaleliteServer] = {}
        self.meetings_by_url: dict[str, int] = {}
        self.asked: list[tuple[str, object]] = []
        self.down = False
        self.added = 0  # ids are never given twice (Scalelite's are UUIDs), a deleted server's included
        self.internal_error = False
        self.meetings_fault: Exception | None = None  # getMeetings alone fails so (a slow fan-out: a timeout)
        self.meetings_asked = 0  # getMeetings calls, answered or not

    def _check(self):
        if self.down:
            raise UnreachableError("connection refused")

    def meetings(self) -> LoadSnapshot:
        """The meetings of enabled and cordoned servers (Scalelite asks no other), without their server."""
        self.meetings_asked += 1
        self._check()
        if self.meetings_fault is not None:
            raise self.meetings_fault
        if self.internal_error:
            raise ApiError("internalError", "one server failed")
        asked = {s.url for s in self.servers_by_id.values() if s.state != "disabled"}
        out = []
        for url, n in self.meetings_by_url.items():
            if url in asked:
                out += [Meeting(f"{url}-{i}", participants=20, create_time_ms=1) for i in range(n)]
        return LoadSnapshot(tuple(out))

    def servers(self) -> list[ScaleliteServer]:
        self._check()
        return [
            ScaleliteServer(
                s.id,
                s.url,
                s.secret,
                s.state,
                s.online,
                None if s.state == "disabled" else float(self.meetings_by_url.get(s.url, 0) * 20),
                s.load_multiplier,
                s.tag,
            )
            for s in self.servers_by_id.values()
        ]

    def add(self, url, secret, load_multiplier, tag):
        self._check()
        self.asked.append(("add", url))
        self.added += 1
        s = ScaleliteServer(f"sl{self.added}", url, secret, "disabled", True, None, load_multiplier, tag)
        self.servers_by_id[s.id] = s
        return s

    def set_state(self, server_id, state):
        """Scalelite's words (enable, cordon, disable) or the reported ones, as the client takes them."""
        self._check()
        word = state if state in self._STATES else {v: k for k, v in self._STATES.items()}.get(state)
        if word is None:
            raise ValueError(f"unknown server state {state!r}; choose one of: enable, cordon, disable")
        self.asked.append((word, server_id))
        s = self.servers_by_id.get(server_id)
        if s is None:
            raise ApiError("notFound", f"Couldn't find server with id={server_id}")
        self.servers_by_id[server_id] = replace(s, state=self._STATES[word])

    def delete(self, server_id):
        """An id it no longer knows counts as deleted, as with the real client."""
        self._check()
        self.asked.append(("delete", server_id))
        s = self.servers_by_id.pop(server_id, None)
        assert s is None or self.meetings_by_url.get(s.url, 0) == 0, "deleted a server that has meetings"


class FakeBbb:
    """A server's own API, answering from the fake Scalelite's meetings; `recordings` (by URL) are the
    recordings it is still processing. One that is not healthy raises UnreachableError on every call,
    as the real client does. Held to the port's contract (tests/contract/test_bbb_server.py)."""

    def __init__(self, scalelite: FakeScalelite, url: str, healthy: set[str], recordings=None):
        self.scalelite, self.url, self.healthy_urls = scalelite, url, healthy
        self.recordings: dict[str, int] = recordings if recordings is not None else {}

    def _check(self):
        if self.url not in self.healthy_urls:
            raise UnreachableError("no answer")

    def healthy(self) -> bool:
        return self.url in self.healthy_urls

    def meetings(self) -> LoadSnapshot:
        self._check()
        n = self.scalelite.meetings_by_url.get(self.url, 0)
        return LoadSnapshot(tuple(Meeting(f"m{i}", participants=3) for i in range(n)))

    def recordings_pending(self) -> int:
        self._check()
        return self.recordings.get(self.url, 0)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta):
        from datetime import timedelta

        self.now += timedelta(**delta)
