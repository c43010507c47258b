"""Configuration: one pydantic model tree, validated once at start (errors name the field).

Read by chalicelib/config_file.py from a TOML file (`--config PATH`) or the built-in demo configuration
(`default.toml`), which reproduces the seed's fleet: 96 owned servers plus two hourly hosters with quotas
150 and 50. The domain reads these models, so this file imports no adapter and no loader.
Secrets never live here: each names the environment variable (or SSM/Secrets Manager parameter) it
comes from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from chalicelib.errors import BbbscaleError
from chalicelib.load_units import REFERENCE_SERVER_UNITS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def weekday_keys(value):
    """TOML table keys are strings: a weekday table's "0".."6" are read as the numbers they are (the
    models are strict, so nothing else turns text into a number)."""
    if isinstance(value, dict):
        return {
            int(k) if isinstance(k, str) and k.isascii() and k.isdigit() else k: v for k, v in value.items()
        }
    return value


class LoadWeights(Strict):
    """Cost of a meeting in load units. Defaults and their sources (docs/scalelite-and-bbb.md):

    - an 8-core server carries ~200 typical users (BBB FAQ) — with these weights a typical class of 25
      (1 webcam, 5 mics, listen-only rest) costs ~38 units, 8 such classes ~300 = one server;
    - per room 5 (bbblb's 5/meeting; b3lb uses 30): each room has its own FreeSWITCH conference and
      mediasoup router;
    - per voice 0.5 (bbblb): an open mic is a two-way stream mixed by FreeSWITCH; listen-only is cheaper;
    - webcams dominate: 20 users all on webcam = 400 streams (20 in, 380 out), so a published stream
      costs 1 and each delivered copy (webcams x viewers) 0.1: that room costs ~90 units, 3 per server.
    - young rooms: Scalelite counts a meeting younger than 15 min as at least 15 users, since pupils are
      still joining; we do the same so a fresh 08:00 room reserves its seats.
    """

    room: float = Field(5.0, ge=0)
    participant: float = Field(1.0, ge=0)
    voice: float = Field(0.5, ge=0)
    listen_only: float = Field(0.1, ge=0)
    webcam: float = Field(1.0, ge=0)
    delivered_webcam: float = Field(0.1, ge=0)
    young_room_minutes: float = Field(15.0, ge=0)
    young_room_participants: int = Field(15, ge=0)


class Headroom(Strict):
    """The headroom: the margin provisioned above the need (load, forecast or reservations), max(percent
    of it, absolute units); `units` defaults to one reference server. Not to be confused with the spare
    capacity `status` reports (what the serving servers carry beyond the measured load)."""

    percent: float = Field(17.5, ge=0, le=500)
    units: float = Field(REFERENCE_SERVER_UNITS, ge=0)


class ProviderSettings(Strict):
    """One place servers run. `kind` picks the adapter (see chalicelib.registry); `options` are the
    adapter's own settings, validated by its model when the adapter is built.

    `capacity_units` is the one source of a server's capacity (chalicelib.domain.fleet.capacity_of): the
    planner, `status`, the burst guard, Scalelite's load multiplier and the simulated VMs all read it."""

    kind: str = "simulated"
    mode: Literal["create", "power", "static"] = "create"
    capacity_units: float = Field(
        REFERENCE_SERVER_UNITS, gt=0, description="load units one server carries at full load"
    )
    hourly_cost: float = Field(0.0, ge=0)
    min_servers: int = Field(0, ge=0)
    max_servers: int = Field(1000, ge=0)
    quota: int = Field(1000, ge=0, description="what the provider lets us run at most")
    priority: int = Field(100, description="lower fills first; ties go to the cheaper provider")
    billing: Literal["second", "minute", "hour"] = "hour"
    # A VM from the prepared image serves ~6-8 min after its start (first boot through bbb-install:
    # docs/providers/README.md, "How long a first boot takes"): the simulator boots in this time too.
    boot_minutes: float = Field(8.0, ge=0, description="expected time from start to serving")
    max_provision_minutes: float = Field(15.0, gt=0)
    max_surge: int = Field(25, ge=1, description="servers started at most per tick")
    image: str = "bbb-3.0-prepared"
    options: dict = Field(default_factory=dict)
    # The secret names its adapter cannot work without (its options' `secrets_needed`), set by the
    # loader when it validates the options (config_file.check_kinds), so the start-up check of missing
    # secrets (service/keys.py) reads them here rather than resolving adapters itself. None: not loaded.
    _secrets_needed: tuple[str, ...] | None = PrivateAttr(default=None)

    @property
    def secrets_needed(self) -> tuple[str, ...] | None:
        """What the loader found its adapter needs (None when the settings did not pass the loader)."""
        return self._secrets_needed

    @model_validator(mode="after")
    def _bounds(self) -> ProviderSettings:
        if self.min_servers > min(self.max_servers, self.quota):
            raise ValueError(f"min_servers ({self.min_servers}) exceeds max_servers/quota")
        return self

    @property
    def limit(self) -> int:
        """The most servers this provider may run."""
        return min(self.max_servers, self.quota)


class ScaleliteSettings(Strict):
    url: str = "http://127.0.0.1:0/bigbluebutton/api"
    secret_env: str = "BBBSCALE_SCALELITE_SECRET"
    checksum: Literal["sha1", "sha256", "sha512"] = "sha256"
    connect_timeout: float = Field(3.0, gt=0)
    read_timeout: float = Field(20.0, gt=0)
    retries: int = Field(2, ge=0, le=10)
    max_response_bytes: int = Field(256 * 1024 * 1024, gt=0, description="getMeetings size limit")
    server_poll_concurrency: int = Field(32, ge=1, le=256)
    # Scalelite gives untagged meetings only to untagged servers (Server.find_available), so servers are
    # registered without a tag unless the platform routes meetings by tag (meta_server-tag).
    server_tag: str | None = Field(None, description="Scalelite tag for the servers bbbscale registers")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as error:
            raise ValueError(f"not a URL: {error}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host (the API base)")
        return value


class LifecycleSettings(Strict):
    stabilization_minutes: float = Field(10.0, ge=0, description="desired must stay below fleet this long")
    # Off by default: on the generated school week it saves ~2 % of the cost for ~10 % more overloaded
    # server-minutes (the burst lands on fewer servers), about what 2 points less headroom trade.
    consolidate_before_slot_minutes: float = Field(
        0.0,
        ge=0,
        le=30,
        description="this close to a timetable class start, surplus servers are cordoned without waiting for the "
        "stabilization window, so the class's rooms land on the servers kept (0: never)",
    )
    scale_in_window_minutes: float = Field(
        10.0, ge=0, description="stop hourly servers this close to period end"
    )
    drain_report_minutes: float = Field(120.0, gt=0, description="a longer drain is reported, never forced")
    recording_max_wait_minutes: float = Field(
        240.0,
        ge=0,
        description="wait for a drained server's recordings to reach Scalelite; past it: reported",
    )
    max_age_days: float = Field(7.0, gt=0)
    refresh_batch: int = Field(2, ge=1, description="servers replaced at a time when recycling")
    offline_ticks_before_replace: int = Field(3, ge=1)
    backoff_base_minutes: float = Field(5.0, gt=0)
    backoff_max_minutes: float = Field(30.0, gt=0)
    failures_before_backoff: int = Field(3, ge=1)
    # Short, renewed by a heartbeat while a tick works: a killed holder blocks scaling for at most this long.
    lease_seconds: int = Field(
        60, ge=10, description="tick lease, renewed every third of it while a tick works"
    )
    forget_after_hours: float = Field(24.0, gt=0, description="drop destroyed/lost/failed records after this")
    # A Lambda tick is killed at its timeout (capacity_check: 240 s), and a big scale-up at a slow API
    # (CloudStack waits for each deploy job) can take longer: past this budget no new batch is sent, and
    # the next tick starts the rest (service/creation.py).
    create_budget_seconds: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="a tick's act step sends no new batch of creations past this long; the next tick "
        "starts the rest",
    )


class GuardSettings(Strict):
    """The burst guard (chalicelib/domain/guard.py): around class starts and surges, a fast loop that
    cordons servers Scalelite would herd a burst onto and enables them again once they have room."""

    enabled: bool = True
    act: bool = Field(
        True, description="false: only look and measure the spread after each burst, change nothing"
    )
    threshold: float = Field(
        0.9, gt=0, le=2, description="cordon a server projected at this share of its capacity or more"
    )
    balance_margin: float = Field(
        0.05,
        ge=0,
        le=1,
        description="below the threshold, cordon a server projected this far above the share the whole "
        "fleet will carry once the burst is in (spreads the burst evenly)",
    )
    balance_floor: float = Field(0.6, ge=0, le=2, description="never cordon a server below this share")
    balance_keep_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="a cordon for balance (below `threshold`) leaves at least this share of the serving "
        "servers placeable: without a forecast of the burst, every server just above the mean would be "
        "cordoned and the burst funnelled onto `min_enabled` of them",
    )
    reopen_below: float = Field(
        0.75, gt=0, le=2, description="enable a guard-cordoned server again below this share"
    )
    interval_seconds: float = Field(2.0, ge=0.25, le=60, description="time between two looks during a burst")
    start_interval_seconds: float = Field(
        0.5,
        ge=0.1,
        le=60,
        description="time between two looks from a minute before a class start to two minutes after (one "
        "that finds nothing moved costs a getServers): the first rooms of a class are seen within it",
    )
    burst_interval_seconds: float = Field(
        0.25,
        ge=0.1,
        le=60,
        description="time between two looks while rooms are being created (a look that finds nothing "
        "moved costs one getServers)",
    )
    before_slot_minutes: float = Field(3.0, ge=0, le=30, description="start looking this long before a class")
    after_slot_minutes: float = Field(15.0, ge=1, le=60, description="keep looking this long after it")
    fill_minutes: float = Field(10.0, gt=0, le=60, description="a room younger than this is still filling")
    surge_load_per_minute: float = Field(
        150.0, gt=0, description="Scalelite's load rising this fast outside a class start is a surge"
    )
    min_enabled: int = Field(
        2, ge=1, description="never fewer placeable servers with room (enabled, with a load) than this"
    )
    hold_seconds: float = Field(
        3.0,
        ge=0,
        le=600,
        description="keep a cordon at least this long before enabling it by choice (no flapping)",
    )
    cordon_ttl_seconds: float = Field(
        120.0,
        ge=10,
        le=3600,
        description="a guard cordon expires this long after the guard's last look renewed it; the "
        "capacity check then enables it (a guard that died leaves nothing cordoned)",
    )
    cordoned_read_seconds: float = Field(
        2.0,
        ge=0.5,
        le=60,
        description="re-read a guard-cordoned server's rooms this often (its load is frozen)",
    )
    window_read_seconds: float = Field(
        5.0,
        ge=0.5,
        le=600,
        description="from a minute before a class start to two minutes after, read each server's rooms at "
        "least this often: a room that ends does not move the load Scalelite reports, so without it the "
        "guard projects the last lesson's rooms",
    )
    undo_grace_seconds: float = Field(
        0.5, ge=0, le=10, description="a room created this long after a cordon shows the cordon was undone"
    )
    max_run_minutes: float = Field(
        14.0, gt=0, le=14.5, description="one run of the guard's Lambda function (15-minute limit)"
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> GuardSettings:
        if self.reopen_below > self.threshold:
            raise ValueError(f"reopen_below ({self.reopen_below}) exceeds threshold ({self.threshold})")
        return self


class StateSettings(Strict):
    backend: Literal["sqlite", "dynamodb", "memory"] = "sqlite"
    path: str = Field("bbbscale.sqlite3", description="SQLite file (sqlite backend)")
    table: str = Field("bbbscale", description="DynamoDB table (dynamodb backend)")
    history_days: int = Field(30, ge=1)


class TimetableSettings(Strict):
    """Class starts per weekday (0=Monday), local times 'HH:MM'. Default: French secondary school."""

    starts: dict[int, list[str]] = Field(
        default_factory=lambda: {
            d: ["08:00", "09:00", "10:00", "11:00", "13:00", "14:00", "15:00", "16:00"]
            if d != 2
            else ["08:00", "09:00", "10:00", "11:00"]
            for d in range(5)
        }
    )
    margin_minutes: float = Field(10.0, ge=0)

    @field_validator("starts", mode="before")
    @classmethod
    def _weekdays(cls, value):
        return weekday_keys(value)

    @field_validator("starts")
    @classmethod
    def _starts(cls, value: dict[int, list[str]]) -> dict[int, list[str]]:
        for weekday, starts in value.items():
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday {weekday} is not 0 (Monday) .. 6 (Sunday)")
            for start in starts:
                if not _is_hhmm(start):
                    raise ValueError(f"class start {start!r} of weekday {weekday} is not 'HH:MM'")
        return value


class ForecastSettings(Strict):
    enabled: bool = True
    zone: str = Field("B", description="French school-holiday zone: A, B or C")
    country: str = "FR"
    timetable: TimetableSettings = Field(default_factory=TimetableSettings)
    history_weeks: int = Field(3, ge=0)
    history_factor: float = Field(1.0, ge=0)
    max_trend_factor: float = Field(
        2.0,
        ge=1.0,
        le=5.0,
        description="when today runs above the history (measured load over the history's for the same time, "
        "highest of the last hour), the forecast is raised by that ratio, up to this (1: never)",
    )
    min_history_days: int = Field(
        1,
        ge=0,
        description="a weekday with fewer remembered school days than this borrows the other school days' "
        "history for the same slot (the median of their figures, the higher middle one if even; half days aside); 0: never borrow",
    )
    half_days: dict[int, str] = Field(
        default_factory=lambda: {2: "12:00"},
        description="weekday (0=Monday) -> local 'HH:MM' from which that day usually has no class (French "
        "Wednesday afternoon): its afternoon and other days' afternoons are never borrowed for one another",
    )
    cold_start_users: int = Field(
        15_000,
        ge=0,
        description="users each timetable class slot expects while there is no history at all (the first "
        "days after install), turned into load units with `mix`; default the seed's peak; 0: no cold start",
    )
    cold_start_slots: dict[str, int] = Field(
        default_factory=dict, description="per class start 'HH:MM': users that slot expects at cold start"
    )

    @field_validator("half_days", mode="before")
    @classmethod
    def _half_day_keys(cls, value):
        return weekday_keys(value)

    @field_validator("half_days")
    @classmethod
    def _half_days(cls, value: dict[int, str]) -> dict[int, str]:
        for weekday, start in value.items():
            if not 0 <= weekday <= 6 or not _is_hhmm(start):
                raise ValueError(f"half day {weekday}: {start!r} needs a weekday 0..6 and 'HH:MM'")
        return value

    @field_validator("cold_start_slots")
    @classmethod
    def _cold_start_slots(cls, value: dict[str, int]) -> dict[str, int]:
        for start, users in value.items():
            if not _is_hhmm(start) or users < 0:
                raise ValueError(f"cold start slot {start!r}: {users} needs 'HH:MM' and users >= 0")
        return value


def _is_hhmm(text: str) -> bool:
    """A local time 'HH:MM' (24 h)."""
    hour, sep, minute = text.partition(":")
    return bool(
        sep
        and len(hour) == 2
        and len(minute) == 2
        and hour.isdigit()
        and minute.isdigit()
        and int(hour) < 24
        and int(minute) < 60
    )


class ChatSettings(Strict):
    operators: list[str] = Field(default_factory=list, description="user ids allowed to change things")
    slack_webhook_env: str = "BBBSCALE_SLACK_WEBHOOK_URL"
    rocketchat_webhook_env: str = "BBBSCALE_ROCKETCHAT_WEBHOOK_URL"
    dispatcher: Literal["thread", "sqs"] = Field(
        "thread", description="how slow work after a request runs: a background thread, or SQS on AWS"
    )
    jobs_queue_url_env: str = Field("BBBSCALE_JOBS_QUEUE_URL", description="SQS queue URL (dispatcher sqs)")


class DnsSettings(Strict):
    """One A (and AAAA) record per server in a zone the cluster manages (docs/dns.md). The record's name
    must be the name the server's first boot waits for: `name` with {server} = the server name, in
    `zone`, i.e. each provider's `boot.domain` (checked at load)."""

    driver: str = Field(description="gandi_live | ovh | route53 (chalicelib.registry.DNS_DRIVERS)")
    zone: str = Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
    name: str = Field(
        "{server}", pattern=r"^[a-z0-9.{}-]+$", description="record name; {server}: server name"
    )
    ttl: int = Field(300, ge=60, le=86400, description="seconds (Gandi LiveDNS refuses less than 300)")
    ipv6: bool = Field(True, description="an AAAA record too when the VM has a public IPv6 address")
    options: dict = Field(default_factory=dict, description="the driver's own: credentials' env names...")

    @field_validator("name")
    @classmethod
    def _one_server(cls, value: str) -> str:
        if (
            value.count("{server}") != 1
            or value.replace("{server}", "").count("{")
            or "}" in value.replace("{server}", "")
        ):
            raise ValueError("name must hold {server} exactly once, e.g. '{server}' or '{server}.bbb'")
        return value


class CertificateSettings(Strict):
    """The fleet's one wildcard certificate, `*.<domain>` (docs/certificates.md): ordered from an ACME CA
    by DNS-01 through `[dns]`, renewed by the capacity check `renew_before_days` before it expires, kept
    in a secret store, and fetched by each server at first boot from `/fleet/certificate`. One name for
    the whole fleet: Let's Encrypt allows 50 certificates per registered domain a week, and a fleet that
    starts tens of VMs a day would be refused within days if each asked for its own."""

    domain: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$",
        description="the fleet's domain (each provider's boot.domain): the certificate is for *.<domain>",
    )
    directory: str = Field(
        "https://acme-v02.api.letsencrypt.org/directory", description="the ACME CA's directory URL"
    )
    directory_ca: str = Field(
        "", description="CA bundle to verify the directory's HTTPS with (a test CA); empty: the system's"
    )
    email: str = Field("", description="contact address for the ACME account (expiry notices); optional")
    renew_before_days: float = Field(30.0, gt=0, le=80, description="renew this long before expiry")
    retry_hours: float = Field(
        6.0, gt=0, le=168, description="after a failed order, wait this long (doubling) before the next"
    )
    max_retry_hours: float = Field(48.0, gt=0, le=720, description="the longest wait between two orders")
    propagation_seconds: float = Field(
        60.0, ge=0, le=3600, description="wait after setting the challenge's TXT record before answering"
    )
    step_seconds: float = Field(
        15.0, gt=0, le=120, description="time one tick may spend polling the CA: the rest waits a tick"
    )
    order_timeout_minutes: float = Field(
        60.0, gt=0, le=1440, description="an order not finished by then is given up (a failure)"
    )
    store: Literal["file", "secretsmanager", "memory"] = Field(
        "file", description="where the certificate, its key and the ACME account key are kept"
    )
    path: str = Field(
        "/var/lib/bbbscale/certificate.json", description="store file: created 0600 (store file)"
    )
    secret_id: str = Field(
        "",
        description="Secrets Manager secret name (store secretsmanager); empty: <BBBSCALE_SECRETS_PREFIX>"
        "fleet-certificate, the secret the state stack creates (bbbscale/<stage>/fleet-certificate)",
    )
    token_max_seconds: int = Field(
        600, ge=30, le=3600, description="a server's fetch token may expire at most this far ahead"
    )

    @model_validator(mode="after")
    def _waits(self) -> CertificateSettings:
        if self.max_retry_hours < self.retry_hours:
            raise ValueError(
                f"max_retry_hours ({self.max_retry_hours}) below retry_hours ({self.retry_hours})"
            )
        if not self.directory.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("directory must be an https:// URL")
        return self


class UserMix(Strict):
    """How a number of users turns into load (plan, reservations). Default: the seed's peak mix."""

    webcam_ratio: float = Field(550 / 15000, ge=0, le=1)
    mic_ratio: float = Field(5500 / 15000, ge=0, le=1)
    room_size: float = Field(15.0, ge=1)


class MetricsSettings(Strict):
    """`bbbscale run`'s Prometheus endpoint: the figures Lambda sends to CloudWatch as EMF, served at
    http://<address>:<port>/metrics. Loopback by default: put a reverse proxy or an agent in front to
    reach it from elsewhere (it has no authentication)."""

    enabled: bool = True
    address: str = Field("127.0.0.1", description="listen address (0.0.0.0: every interface)")
    port: int = Field(9464, ge=0, le=65535, description="0: any free port")


class Settings(Strict):
    cluster: str = Field("demo", pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    interval_minutes: int = Field(1, ge=1, le=60)
    currency: str = "EUR"
    timezone: str = "Europe/Paris"
    weights: LoadWeights = Field(default_factory=LoadWeights)
    headroom: Headroom = Field(default_factory=Headroom)
    mix: UserMix = Field(default_factory=UserMix)
    providers: dict[str, ProviderSettings]
    scalelite: ScaleliteSettings = Field(default_factory=ScaleliteSettings)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    guard: GuardSettings = Field(default_factory=GuardSettings)
    dns: DnsSettings | None = None
    certificates: CertificateSettings | None = None
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {value!r} (an IANA name, e.g. Europe/Paris)") from None
        return value

    @field_validator("providers")
    @classmethod
    def _providers(cls, value: dict[str, ProviderSettings]) -> dict[str, ProviderSettings]:
        if not value:
            raise ValueError("at least one provider is needed")
        for name in value:
            if not name.replace("-", "").isalnum() or not name.islower():
                raise ValueError(f"provider name {name!r} must be lowercase letters, digits and '-'")
        return value


class ConfigError(BbbscaleError):
    """The configuration file is missing, unreadable or invalid; the message names the field."""


def _apply_ceilings() -> None:
    from chalicelib import config_bounds

    config_bounds.apply(globals())


_apply_ceilings()
