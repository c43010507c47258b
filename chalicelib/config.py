"""Configuration: one pydantic model tree, validated once at start (errors name the field). The
sections with most settings live beside it (config_guard.py, config_forecast.py, config_dns.py: `[dns]`
and `[certificates]`), all strict (config_strict.py); the ceilings of every number in config_bounds.py.

Read by chalicelib/config_file.py from a TOML file (`--config PATH`) or the built-in demo configuration
(`default.toml`), which reproduces the seed's fleet: 96 owned servers plus two hourly hosters with quotas
150 and 50. The domain reads these models, so this file imports no adapter and no loader.
Secrets never live here: each names the environment variable (or SSM/Secrets Manager parameter) it
comes from.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from chalicelib.config_dns import CertificateSettings, DnsSettings
from chalicelib.config_forecast import ForecastSettings, TimetableSettings
from chalicelib.config_guard import GuardSettings
from chalicelib.config_strict import SecretName, Strict
from chalicelib.errors import BbbscaleError
from chalicelib.load_units import REFERENCE_SERVER_UNITS

# The sections kept in their own files, named here too: `from chalicelib.config import GuardSettings`
# and config_bounds' ceilings (applied to this module's names) reach every model through this one.
__all__ = [
    "CertificateSettings",
    "ChatSettings",
    "ConfigError",
    "DnsSettings",
    "ForecastSettings",
    "GuardSettings",
    "Headroom",
    "LifecycleSettings",
    "LoadWeights",
    "MetricsSettings",
    "ProviderSettings",
    "ScaleliteSettings",
    "Settings",
    "StateSettings",
    "Strict",
    "TimetableSettings",
    "UserMix",
]


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
    capacity_units: float = Field(  # >= 1: 5e-324 passed `> 0`, then a plan divided into infinity
        REFERENCE_SERVER_UNITS, ge=1, description="load units one server carries at full load"
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
    secret_env: SecretName = "BBBSCALE_SCALELITE_SECRET"
    checksum: Literal["sha1", "sha256", "sha512"] = "sha256"
    connect_timeout: float = Field(3.0, gt=0)
    read_timeout: float = Field(20.0, gt=0)
    retries: int = Field(2, ge=0, le=10)
    max_response_bytes: int = Field(256 * 1024 * 1024, gt=0, description="getMeetings size limit")
    server_poll_concurrency: int = Field(32, ge=1, le=256)
    meetings_direct_minutes: float = Field(
        30.0,
        ge=0,
        description="after Scalelite's getMeetings timed out while getServers answered, the load is read from "
        "each server's own getMeetings this long before Scalelite is asked again (0: ask it every tick)",
    )
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
        if not parts.path.rstrip("/").endswith("/bigbluebutton/api"):  # checked here, not at a tick only
            raise ValueError(
                "must end with /bigbluebutton/api (the API base, e.g. https://lb.example.org/bigbluebutton/api)"
            )
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
    destroy_stopped_after_hours: float = Field(
        24.0,
        ge=0,
        description="a create pool's VM stopped outside bbbscale (it never starts one again) is destroyed this "
        "long after it was found stopped, unless started again by then (0: never, kept and reported)",
    )
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


class StateSettings(Strict):
    backend: Literal["sqlite", "dynamodb", "memory"] = "sqlite"
    path: str = Field("bbbscale.sqlite3", description="SQLite file (sqlite backend)")
    table: str = Field("bbbscale", description="DynamoDB table (dynamodb backend)")
    history_days: int = Field(30, ge=1)


class ChatSettings(Strict):
    operators: list[str] = Field(default_factory=list, description="user ids allowed to change things")
    slack_webhook_env: SecretName = "BBBSCALE_SLACK_WEBHOOK_URL"
    rocketchat_webhook_env: SecretName = "BBBSCALE_ROCKETCHAT_WEBHOOK_URL"
    dispatcher: Literal["thread", "sqs"] = Field(
        "thread", description="how slow work after a request runs: a background thread, or SQS on AWS"
    )
    jobs_queue_url_env: SecretName = Field(
        "BBBSCALE_JOBS_QUEUE_URL", description="SQS queue URL (dispatcher sqs)"
    )


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
        for name in value:  # ASCII: "ｇandi" and "gandié" passed isalnum()/islower(); names go into VM names
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", name):
                raise ValueError(
                    f"provider name {name[:40]!r} must be 1-31 lowercase ASCII letters, digits and '-', "
                    "starting with a letter or digit"
                )
        return value


class ConfigError(BbbscaleError):
    """The configuration file is missing, unreadable or invalid; the message names the field."""


def _apply_ceilings() -> None:
    from chalicelib import config_bounds

    config_bounds.apply(globals())


_apply_ceilings()
