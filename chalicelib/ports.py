"""The ports: the small interfaces the service talks to. Adapters implement them; unit tests use fakes.

Each port speaks the domain and stays small. Implementations register by name in the registries of
`chalicelib.registry`; an unknown name in the configuration is a validation error naming the choices.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

# The values the ports carry are the domain's own (the domain imports no port), and the root error sits
# below the settings model (errors.py); adapters and tests may name them all from here.
from chalicelib.domain.certificate import AcmeAccount, CertificateVault, FleetCertificate, PendingOrder
from chalicelib.domain.chat import Notice
from chalicelib.domain.dns import DnsRecord
from chalicelib.domain.fleet import VM, ScaleliteServer, Server
from chalicelib.errors import BbbscaleError, one_line
from chalicelib.state_ports import (
    AnnouncedNotices,
    ClosureLedger,
    GuardLedger,
    GuardReadings,
    GuardRuns,
    LoadHistory,
    MeetingsRoute,
    ProviderFailures,
    RoomMemory,
    TickMemory,
)

if TYPE_CHECKING:  # for annotations only: domain.load brings pydantic, which `import app` does not need
    from chalicelib.domain.load import LoadSnapshot


# --- errors every adapter raises, so the service can tell "failed" from "unknown" -------------------
class ApiError(BbbscaleError):
    """A BBB/Scalelite API answered FAILED. `key` is the messageKey (e.g. checksumError, internalError)."""

    def __init__(self, key: str, message: str = ""):
        # the server's words, as one bounded line: they reach a terminal, the history and chat
        key, message = one_line(key, 80), one_line(message, 300)
        super().__init__(f"{key}: {message}" if message else key)
        self.key = key
        self.message = message


class ResponseError(BbbscaleError):
    """An answer that cannot be trusted: malformed or hostile XML/JSON, or over the size limit."""


class UnreachableError(BbbscaleError):
    """Connection refused, timed out, or an HTTP error status after the allowed retries. `timed_out`: no
    answer came within the time limits (a hung server, which the next call would wait for as long)."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


class ProviderError(BbbscaleError):
    """A provider API call failed. `retryable` is True for throttling and transient faults."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class DnsError(BbbscaleError):
    """A DNS API call failed (the zone could not be read or changed)."""


class ConflictError(BbbscaleError):
    """A conditional write lost a race (someone else changed the record first)."""


# --- Scalelite ---------------------------------------------------------------------------------------
class Scalelite(Protocol):
    """Scalelite's BBB API (getMeetings) and server admin API. Nothing automatic calls panicServer."""

    def meetings(self) -> LoadSnapshot: ...
    def servers(self) -> list[ScaleliteServer]: ...
    def add(self, url: str, secret: str, load_multiplier: float, tag: str | None) -> ScaleliteServer: ...
    def set_state(self, server_id: str, state: str) -> None: ...
    def delete(self, server_id: str) -> None: ...


class BbbServer(Protocol):
    """One BBB server reached directly (health, its own meetings, its recordings in progress)."""

    def healthy(self) -> bool: ...
    def meetings(self) -> LoadSnapshot: ...
    def recordings_pending(self) -> int: ...


class BbbServers(Protocol):
    """How the service reaches BBB servers directly: one by its URL and secret, or all of a list in
    parallel (Scalelite's getMeetings fails whole when one server errors; this reads each on its own)."""

    def server(self, url: str, secret: str, name: str | None) -> BbbServer: ...
    def poll(self, servers: list[ScaleliteServer]) -> LoadSnapshot: ...


#: The service's clock (UTC, aware); the simulator sets its own.
Clock = Callable[[], datetime]
#: A secret by name (environment, SSM or Secrets Manager), None when it is not set.
SecretLookup = Callable[[str], "str | None"]


# --- providers ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """What a new VM needs: its name, rendered cloud-init user data, tags, and the image to boot."""

    name: str
    user_data: str = field(default="", repr=False)
    tags: dict[str, str] = field(default_factory=dict)
    image: str | None = None


#: Where a provider reports a bulk creation's progress: (done, total), `done` counting the creations
#: finished so far (failed ones included), `total` the number asked. Long batches (hundreds of VMs at a
#: rate limit) take minutes; the CLI prints these on stderr.
CreationProgress = Callable[[int, int], None]
#: What `Provider.calls` describes.
PROVIDER_OPERATIONS = ("create", "start", "stop", "destroy")


@runtime_checkable
class Provider(Protocol):
    """Where servers run. Required: list, create, destroy. Optional (mode `power`): start, stop — an
    adapter without them raises ProviderError. `list` returns only this cluster's VMs (by tag/name).

    `calls(operation, targets)` describes, without calling anything, the API requests an operation
    (PROVIDER_OPERATIONS) would send — LaunchSpecs for create, VM ids otherwise — one human
    line each, secrets and user data left out; a provider that sends none (an owned pool, the in-process
    simulated cloud) answers []; another operation is a ProviderError. The dry run shows these lines.
    `report_progress(to)` names the hook `create` reports to (None: nobody listens): reports run in
    order of `done`, the last one (total, total) before `create` returns; a create made in one call
    reports once at its end, and an empty create reports nothing."""

    name: str

    def list(self) -> list[VM]: ...
    # `list` is the method from here on: the type is spelt builtins.list.
    def create(self, specs: builtins.list[LaunchSpec]) -> builtins.list[VM]: ...
    def start(self, vm_id: str) -> VM: ...
    def stop(self, vm_id: str) -> None: ...
    def destroy(self, vm_id: str) -> None: ...
    def calls(self, operation: str, targets: builtins.list) -> builtins.list[str]: ...
    def report_progress(self, to: CreationProgress | None) -> None: ...


# --- DNS ---------------------------------------------------------------------------------------------
@runtime_checkable
class Dns(Protocol):
    """The zone that names each server (Let's Encrypt's HTTP-01 challenge at first boot needs it) and
    answers the fleet certificate's ACME DNS-01 challenge (TXT sets). `records` lists only this
    cluster's A/AAAA records (names the configured pattern makes; TXT sets are never listed, so never
    reconciled away as orphans); `delete` of a record already gone is no error; `calls` describes,
    without calling, what an operation sends."""

    zone: str

    def records(self) -> list[DnsRecord]: ...
    def create(self, record: DnsRecord) -> None: ...
    def delete(self, record: DnsRecord) -> None: ...
    def calls(self, operation: str, records: list[DnsRecord]) -> list[str]: ...
    def set_txt(self, name: str, values: list[str], ttl: int = 60) -> None:
        """Make the TXT record set `name` hold exactly `values` (replacing what it held). `name` is
        relative to the zone, without a trailing dot: "_acme-challenge.bbb" for *.bbb.<zone>, and
        "_acme-challenge" for *.<zone>. Raises DnsError naming the zone and operation, never a secret."""

    def delete_txt(self, name: str) -> None:
        """Remove the TXT record set `name`; one already gone is no error."""


# --- state -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Reservation:
    """Capacity promised for a period: from a closure webhook, a chat `reserve`, or an operator."""

    id: str
    starts_at: datetime
    ends_at: datetime
    expected_users: int
    zone: str | None = None
    note: str | None = None
    source: str = "webhook"  # webhook | chat:<user> | cli
    body_hash: str = ""  # for idempotency: same id + same body -> same reservation
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One recorded decision, transition, or operator command, with its reason."""

    at: datetime
    kind: str  # tick | action | transition | command | notice
    summary: str  # one human line, the reason included
    detail: dict = field(default_factory=dict)
    actor: str = "bbbscale"


class ServerStore(Protocol):
    def servers(self) -> list[Server]: ...
    def save(self, server: Server) -> Server:
        """Insert (version 0) or update if the stored version equals server.version; returns the stored
        record with version + 1. Raises ConflictError otherwise."""

    def next_number(self, provider: str) -> int:
        """A fresh, never reused number for naming the provider's next server."""

    def forget(self, server: Server) -> bool:
        """Remove a record that reached its end (destroyed, lost), if its stored version is still
        server.version; True when removed. The history keeps its trail."""


class HistoryLog(Protocol):
    def record(self, entry: HistoryEntry) -> None: ...
    def recent(self, limit: int = 20, kind: str | None = None) -> list[HistoryEntry]: ...


class SettingsStore(Protocol):
    """Operator settings changed at run time (freeze, floors, drain requests), as JSON values. Only
    those keys (domain/overrides.py OPERATOR_SETTINGS): another is refused with a RecordError, since
    what the services keep between ticks has its own ports (chalicelib/state_ports.py)."""

    def get(self, key: str, default=None): ...
    def put(self, key: str, value) -> None: ...


class ReservationStore(Protocol):
    def reservations(self) -> list[Reservation]: ...
    def add(self, reservation: Reservation) -> tuple[Reservation, bool]:
        """Store it unless the id exists; returns (the stored one, created?)."""

    def cancel(self, reservation_id: str) -> bool: ...


class Lease(Protocol):
    def acquire(self, owner: str, now: datetime, ttl_seconds: int) -> bool:
        """True if `owner` now holds the lease (free, expired, or already its own). The same owner calling
        again renews it: a tick's heartbeat keeps a short lease while it works."""

    def holds(self, owner: str, now: datetime) -> bool:
        """True if `owner` still holds an unexpired lease at `now` (a fresh read): checked before each act,
        so a holder that lost its lease (paused past its end, taken over) does not act."""

    def release(self, owner: str) -> None: ...

    def holder(self, now: datetime) -> str | None:
        """The owner of the unexpired lease at `now`, or None when it is free or ran out (a fresh read):
        whether some guard is alive, without being it."""


class StateStore(Protocol):
    """One backend (SQLite, DynamoDB) offering each part. Two leases, by name, each held by one owner at
    a time: `lease` the capacity check's ("tick"), `guard_lease` the burst guard's ("guard"), so one
    guard acts on a fleet however many `bbbscale run` processes or Lambda runs look. What the services
    keep between ticks: one port each, with its one writer (chalicelib/state_ports.py)."""

    servers: ServerStore
    history: HistoryLog
    settings: SettingsStore
    reservations: ReservationStore
    lease: Lease
    guard_lease: Lease
    guard_ledger: GuardLedger
    guard_readings: GuardReadings
    guard_runs: GuardRuns
    tick_memory: TickMemory
    room_memory: RoomMemory
    provider_failures: ProviderFailures
    closures: ClosureLedger
    meetings_route: MeetingsRoute
    load_history: LoadHistory
    announced: AnnouncedNotices


@dataclass(frozen=True)
class ProviderContext:
    """What an adapter gets besides its settings: the cluster name (for names and tags), the clock and
    a secret lookup (environment, SSM or Secrets Manager)."""

    cluster: str
    now: Callable[[], datetime]
    secret: Callable[[str], str | None]


# --- chat --------------------------------------------------------------------------------------------
@runtime_checkable
class Chat(Protocol):
    """One chat platform (`platform`: slack | rocketchat), outbound, as the service uses it; reading and
    verifying an incoming command stays in the platform's adapter and app.py.

    `announce` posts a notice to the team's channel (the incoming webhook the environment names): True
    when posted, False when this platform has no channel configured. `answer` posts a later answer to
    the asker a job's `reply` names ({"platform": "slack", "response_url": ...} or {"platform":
    "rocketchat", "channel": ...}): True when posted, False when the asker is not on this platform or
    cannot be reached from here. A post that fails raises UnreachableError naming the platform, never a
    URL: webhook URLs and response_urls are credentials."""

    platform: str

    def announce(self, notice: Notice) -> bool: ...
    def answer(self, reply: dict, text: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Job:
    """A capacity check to run after an HTTP answer (a closure, a chat change), why, an optional
    reservation to announce first, and the asker to answer (`reply`, see `Chat.answer`). It travels on
    a thread or as an SQS message (adapters/chat/dispatch.py) and is carried out by service/notify.py."""

    reason: str
    reservation_id: str | None = None
    reply: dict | None = field(default=None, repr=False)  # a Slack response_url is a credential
    kind: str = "capacity_check"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        """Read a queued job; anything else raises BbbscaleError (so a stray message is dropped, not retried)."""
        try:
            document = json.loads(text)
            job = cls(
                **{k: document[k] for k in ("reason", "reservation_id", "reply", "kind") if k in document}
            )
        except (ValueError, TypeError) as error:
            raise BbbscaleError(f"not a bbbscale job: {type(error).__name__}") from None
        if (
            not isinstance(job.reason, str)
            or job.kind != "capacity_check"
            or not isinstance(job.reply, dict | None)
        ):
            raise BbbscaleError("not a bbbscale job: unexpected fields")
        return job


# --- the fleet's certificate -------------------------------------------------------------------------
class CertificateError(BbbscaleError):
    """The ACME CA refused or failed an order step, or the certificate store could not be read or
    written. One line naming the step; never a key or a certificate."""


class CertificateStore(Protocol):
    """Where the fleet's certificate, its key, the ACME account key and the order under way are kept, as
    one secret (adapters/certificates/): `load` gives an empty vault when nothing is kept yet; `save`
    replaces it whole. Only the capacity check (under its lease) writes; the route only reads."""

    def load(self) -> CertificateVault: ...
    def save(self, vault: CertificateVault) -> None: ...


class CertificateAuthority(Protocol):
    """An ACME CA ordering the fleet's certificate by DNS-01, in steps that each return quickly (the
    service publishes the TXT record between `order` and `complete`):

    `account(existing)` registers (or finds) the ACME account, reusing `existing` when it belongs to this
    CA. `order(account, domain)` starts an order for `*.<domain>` and returns it with the TXT record
    (relative to `zone`) and values its DNS-01 challenge expects. `complete(account, pending, seconds)`
    answers the challenge if not yet done, polls, finalizes and downloads within `seconds`: the
    certificate, or the pending order (answered) when the CA is not done yet. Failures raise
    CertificateError."""

    def account(self, existing: AcmeAccount | None) -> AcmeAccount: ...
    def order(self, account: AcmeAccount, domain: str, zone: str, now: datetime) -> PendingOrder: ...
    def complete(
        self, account: AcmeAccount, pending: PendingOrder, seconds: float
    ) -> FleetCertificate | PendingOrder: ...
