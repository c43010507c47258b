"""The one place that builds adapters from Settings. Every entry point (the Lambda handlers in app.py, the
CLI, `bbbscale run`, the simulator, tests) makes a `Wiring` and asks it for the typed ports the service
takes (`ports()` for a capacity check or the burst guard, `store` for commands and status); services
never see the Wiring itself. Nothing else reads the environment.

Adapters are built on first use, so a cold start pays only for what its handler needs (`status` opens the
store, never a provider's SDK).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.ports import BbbServer, ProviderContext, SecretLookup
from chalicelib.registry import PROVIDERS, STATE_BACKENDS, resolve
from chalicelib.service.keys import ServerKeys

if TYPE_CHECKING:
    from chalicelib.domain.tick_report import TickReport
    from chalicelib.service.fleet_ports import FleetPorts
    from chalicelib.service.room_memory import GuardMemory

log = logging.getLogger("bbbscale")


def utcnow() -> datetime:
    return datetime.now(UTC)


def env_secret(name: str) -> str | None:
    """A secret by name: the environment first, then (on AWS) SSM or Secrets Manager via chalicelib.secrets."""
    value = os.environ.get(name)
    if value:
        return value
    try:
        from chalicelib import secrets
    except ImportError:
        return None
    return secrets.secret(name)


def open_store(settings: Settings):
    """The state store of `[state]`: the one place a store is built from settings (the history's time to
    live included)."""
    s = settings.state
    cls = resolve(STATE_BACKENDS, s.backend, "state backend")
    if s.backend == "sqlite":
        return cls(s.path, cluster=settings.cluster)
    if s.backend == "dynamodb":
        return cls(s.table, cluster=settings.cluster, history_ttl_days=s.history_days)
    return cls(cluster=settings.cluster)


def build_provider(name: str, p, context: ProviderContext):
    """The adapter of one configured provider (a production kind: the simulator builds its own)."""
    cls = resolve(PROVIDERS, p.kind, "provider kind")
    options = cls.Options.model_validate(p.options) if hasattr(cls, "Options") else p.options
    return cls(name, p, options, context)


def school_calendar(settings: Settings):
    """The school calendar of `[forecast]` (zone, country): holidays and public days off."""
    from chalicelib.adapters.calendar import FrenchSchoolCalendar

    return FrenchSchoolCalendar.from_settings(settings.forecast)


def forecaster(settings: Settings, store=None, profile=None):
    """The forecast (timetable, calendar, recorded history or a fixed `profile`)."""
    from chalicelib.service.forecasting import Forecaster

    return Forecaster(settings, store=store, profile=profile, calendar=school_calendar(settings))


class Wiring:
    """Settings plus the adapters behind the ports, each built on first use. Keyword arguments replace an
    adapter (the simulator's in-process Scalelite, a test's fake provider)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store=None,
        scalelite=None,
        providers=None,
        bbb_factory: Callable[[str, str, str | None], BbbServer] | None = None,
        clock: Callable[[], datetime] = utcnow,
        secret: SecretLookup = env_secret,
        forecaster=None,
        notifier=None,
        progress=None,
        dns=None,
        parallel_checks: bool = True,
        lease_heartbeat: float | None = None,
        certificate_store=None,
        certificate_authority=None,
    ):
        self.settings, self.clock, self.secret = settings, clock, secret
        self._store, self._scalelite, self._providers = store, scalelite, providers
        self._bbb_factory, self._forecaster, self._notifier = bbb_factory, forecaster, notifier
        self._progress, self._dns = progress, dns
        self.parallel_checks, self.lease_heartbeat = parallel_checks, lease_heartbeat
        self._certificate_authority = certificate_authority
        self._ports: FleetPorts | None = None
        self._memory: GuardMemory | None = None
        self._certificate_store = certificate_store

    # --- adapters -------------------------------------------------------------------------------------
    @property
    def store(self):
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @property
    def scalelite(self):
        if self._scalelite is None:
            self._scalelite = self._new_scalelite()
        return self._scalelite

    def _new_scalelite(self):
        from chalicelib.adapters.scalelite.client import ScaleliteClient

        secret = self.secret(self.settings.scalelite.secret_env)
        if not secret:
            from chalicelib.config import ConfigError

            raise ConfigError(f"no Scalelite secret: set {self.settings.scalelite.secret_env}")
        return ScaleliteClient(self.settings.scalelite, secret)

    @property
    def providers(self) -> dict:
        if self._providers is None:
            context = ProviderContext(cluster=self.settings.cluster, now=self.clock, secret=self.secret)
            self._providers = {
                name: build_provider(name, p, context) for name, p in self.settings.providers.items()
            }
        return self._providers

    def _batch_progress(self, provider: str) -> Callable[[int, int], None]:
        return lambda done, total: self.progress(f"{provider}: {done}/{total} server(s) created")

    @property
    def dns(self):
        """The `Dns` port of `[dns]` (None when the configuration has none): one record per server."""
        if self._dns is None and self.settings.dns is not None:
            from chalicelib.registry import DNS_DRIVERS

            d = self.settings.dns
            cls = resolve(DNS_DRIVERS, d.driver, "DNS driver")
            context = ProviderContext(cluster=self.settings.cluster, now=self.clock, secret=self.secret)
            self._dns = cls(d, cls.Options.model_validate(d.options), context)
        return self._dns

    @property
    def certificate_store(self):
        """Where the fleet's certificate is kept (`[certificates] store`); None without `[certificates]`."""
        if self._certificate_store is None and self.settings.certificates is not None:
            from chalicelib.adapters.certificates import open_certificate_store

            settings = self.settings.certificates
            if settings.store == "secretsmanager" and not settings.secret_id:
                prefix = os.environ.get("BBBSCALE_SECRETS_PREFIX") or "bbbscale/"
                settings = settings.model_copy(update={"secret_id": f"{prefix}fleet-certificate"})
            self._certificate_store = open_certificate_store(settings)
        return self._certificate_store

    def certificates(self):
        """The capacity check's certificate step (service/certificates.py), or None."""
        if self.settings.certificates is None:
            return None
        from chalicelib.service.certificates import CertificateKeeper

        authority = self._certificate_authority
        if authority is None:
            from chalicelib.adapters.acme.client import AcmeAuthority

            authority = AcmeAuthority(self.settings.certificates)
        return CertificateKeeper(
            self.settings.certificates, self.certificate_store, authority, self.dns, self.store.history
        )

    @property
    def forecaster(self):
        """The forecast (timetable, calendar, recorded history); None when `[forecast]` is off."""
        if self._forecaster is None and self.settings.forecast.enabled:
            self._forecaster = forecaster(self.settings, store=self.store)
        return self._forecaster

    @property
    def idempotency(self):
        """Where chat requests are remembered, so a repeat is answered without acting twice."""
        from chalicelib.adapters.state.idempotency import persistence_layer

        return persistence_layer(self.settings)

    def progress(self, message: str) -> None:
        if self._progress is not None:
            self._progress(message)
        log.info(message)

    def notify(self, result: TickReport) -> None:
        """Post an acting tick's changes to the configured chat webhooks."""
        if self._notifier is not None:
            self._notifier(result)
            return
        from chalicelib.adapters.chat.notify import chats_from_environment
        from chalicelib.service.notify import notify_tick

        # the channels the environment names now; stuck drains remembered in the store
        chats = chats_from_environment(self.settings.chat)
        notify_tick(
            result,
            chats,
            seen=self.store.announced,
            cluster=self.settings.cluster,
            zone=self.settings.timezone,
        )

    def user_data(self, server) -> str:
        from chalicelib.adapters.providers.userdata import render_user_data

        return render_user_data(self.settings, server, secret=self.secret, server_secret=self.keys.of)

    @property
    def keys(self) -> ServerKeys:
        return ServerKeys(self.settings, self.secret)

    def ports(self) -> FleetPorts:
        """The typed ports of a capacity check and the burst guard, built once."""
        if self._ports is None:
            from chalicelib.adapters.scalelite.client import ScaleliteClient
            from chalicelib.adapters.scalelite.servers import BbbServersOverHttp
            from chalicelib.service.fleet_ports import FleetPorts

            for name, provider in self.providers.items():  # long batches report how far they got
                provider.report_progress(self._batch_progress(name))

            self._ports = FleetPorts(
                settings=self.settings,
                store=self.store,
                scalelite=self.scalelite,
                providers=self.providers,
                bbb=BbbServersOverHttp(self.settings.scalelite, self._bbb_factory),
                keys=self.keys,
                user_data=self.user_data,
                clock=self.clock,
                dns=self.dns,
                forecaster=self.forecaster,
                notify=self.notify,
                progress=self.progress,
                parallel_checks=self.parallel_checks,
                lease_heartbeat=self.lease_heartbeat,
                fresh_scalelite=self.scalelite.twin if isinstance(self.scalelite, ScaleliteClient) else None,
                certificates=self.certificates(),
            )
        return self._ports

    @property
    def memory(self) -> GuardMemory:
        """What this process learns between ticks (room sizes, the guard itself): owned here, beside the
        frozen ports, and handed to the tick and the guard (service/room_memory.py)."""
        if self._memory is None:
            from chalicelib.service.room_memory import GuardMemory

            self._memory = GuardMemory()
        return self._memory

    # --- entry points ---------------------------------------------------------------------------------
    def tick(self, dry_run: bool = False, now: datetime | None = None) -> TickReport:
        """One capacity check (service/tick.py) on these ports, with this process's memory."""
        from chalicelib.service.tick import run_tick

        return run_tick(self.ports(), now=now, dry_run=dry_run, memory=self.memory)

    def status(self) -> dict:
        from chalicelib.service.status import status

        return status(self.settings, self.store, self.clock())

    def plan(self, users: int, webcam_ratio=None, mic_ratio=None, room_size=None) -> dict:
        from chalicelib.service.status import plan

        return plan(self.settings, users, webcam_ratio, mic_ratio, room_size)


def build(settings: Settings, **overrides) -> Wiring:
    return Wiring(settings, **overrides)


def config_path(named: str | None) -> str | None:
    """BBBSCALE_CONFIG as the stages give it (`chalicelib/fleet.toml`): relative to the project (Lambda's
    /var/task), whatever the working directory of `chalice local` or a test."""
    if not named or os.path.isabs(named):
        return named or None
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), named)


def with_environment(settings: Settings, environ: Mapping[str, str] | None = None) -> Settings:
    """Lay the deployment's environment (default: this process's) over the file: `cluster`
    (BBBSCALE_CLUSTER: each AWS stage its own, so dev never touches prod's VMs, whose tag its policies
    name), the [state] section (the Chalice stages set BBBSCALE_STATE_BACKEND=dynamodb and the table
    name per stage), `[chat] dispatcher` (BBBSCALE_CHAT_DISPATCHER) and, when `[certificates]` is set,
    its store (BBBSCALE_CERTIFICATE_STORE)."""
    env = os.environ if environ is None else environ
    state = {
        key: env[var]
        for key, var in (
            ("backend", "BBBSCALE_STATE_BACKEND"),
            ("table", "BBBSCALE_STATE_TABLE"),
            ("path", "BBBSCALE_STATE_PATH"),
        )
        if env.get(var)
    }
    # the AWS stages run follow-ups through SQS (a Lambda freezes once it has answered), the local one
    # on a thread
    chat = {"dispatcher": env["BBBSCALE_CHAT_DISPATCHER"]} if env.get("BBBSCALE_CHAT_DISPATCHER") else {}
    cluster = env.get("BBBSCALE_CLUSTER") or None
    # the AWS stages keep the fleet certificate in Secrets Manager (Lambda has no disk to keep it on)
    certificates = (
        {"store": env["BBBSCALE_CERTIFICATE_STORE"]}
        if env.get("BBBSCALE_CERTIFICATE_STORE") and settings.certificates is not None
        else {}
    )
    if not state and not chat and cluster is None and not certificates:
        return settings
    from chalicelib.config_file import parse_settings

    document = settings.model_dump()
    document["state"] = {**document["state"], **state}
    document["chat"] = {**document["chat"], **chat}
    if cluster is not None:
        document["cluster"] = cluster
    if certificates:
        document["certificates"] = {**document["certificates"], **certificates}
    return parse_settings(document, source="configuration with the deployment's environment (BBBSCALE_*)")
