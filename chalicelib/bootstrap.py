"""The one place that wires adapters into a Runtime from Settings. Entry points (CLI, Lambda handlers, the
demo, the simulator, tests) build a Runtime and call its methods; nothing else reads the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.config import Settings
from chalicelib.config_file import load_settings
from chalicelib.domain.fleet import Server
from chalicelib.domain.load import LoadSnapshot
from chalicelib.domain.policy import allocate, plan_report, with_headroom
from chalicelib.ports import ConflictError, HistoryEntry, LaunchSpec, ProviderContext, ScaleliteServer
from chalicelib.registry import PROVIDERS, STATE_BACKENDS, resolve

log = logging.getLogger("bbbscale")

#: Tests and the chat routes may point this at a factory of their own (see app.py `_runtime`).
RUNTIME_FACTORY: Callable[[], Runtime] | None = None


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


def bbb_api(s, url: str, secret: str, name: str | None):
    """A BBB server's own API client with the Scalelite settings' checksum, timeouts and size limit: no
    retries (a server that does not answer is reported as such, the next tick asks again)."""
    from chalicelib.adapters.scalelite.bbb import BbbApi

    return BbbApi(
        url,
        secret,
        algorithm=s.checksum,
        connect_timeout=s.connect_timeout,
        read_timeout=s.read_timeout,
        retries=0,
        max_bytes=s.max_response_bytes,
        server_name=name,
    )


class Runtime:
    """Settings plus the adapters behind the ports. Adapters are built lazily (cold start stays light)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store=None,
        scalelite=None,
        providers=None,
        bbb_factory=None,
        clock: Callable[[], datetime] = utcnow,
        secret: Callable[[str], str | None] = env_secret,
        world=None,
        forecaster=None,
        notifier=None,
        progress=None,
        dns=None,
    ):
        self.settings, self.clock, self.secret, self.world = settings, clock, secret, world
        self._store, self._scalelite, self._providers = store, scalelite, providers
        self._bbb_factory, self._forecaster, self._notifier = bbb_factory, forecaster, notifier
        self._progress = progress
        self._dns = dns

    # --- adapters -------------------------------------------------------------------------------------
    @property
    def store(self):
        if self._store is None:
            cls = resolve(STATE_BACKENDS, self.settings.state.backend, "state backend")
            s = self.settings.state
            if s.backend == "sqlite":
                self._store = cls(s.path, cluster=self.settings.cluster)
            elif s.backend == "dynamodb":
                self._store = cls(s.table, cluster=self.settings.cluster, history_ttl_days=s.history_days)
            else:
                self._store = cls(cluster=self.settings.cluster)
        return self._store

    @property
    def scalelite(self):
        if self._scalelite is None:
            from chalicelib.adapters.scalelite.client import ScaleliteClient

            secret = self.secret(self.settings.scalelite.secret_env)
            if not secret:
                from chalicelib.config import ConfigError

                raise ConfigError(f"no Scalelite secret: set {self.settings.scalelite.secret_env}")
            self._scalelite = ScaleliteClient(self.settings.scalelite, secret)
        return self._scalelite

    @property
    def providers(self) -> dict:
        if self._providers is None:
            context = ProviderContext(
                cluster=self.settings.cluster, now=self.clock, secret=self.secret, world=self.world
            )
            built = {}
            for name, p in self.settings.providers.items():
                cls = resolve(PROVIDERS, p.kind, "provider kind")
                options = cls.Options.model_validate(p.options) if hasattr(cls, "Options") else p.options
                built[name] = cls(name, p, options, context)
                if hasattr(built[name], "on_progress"):  # long batches report how far they got
                    built[name].on_progress = (
                        lambda provider: (
                            lambda done, total: self.progress(f"{provider}: {done}/{total} server(s) created")
                        )
                    )(name)
            self._providers = built
        return self._providers

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

    def bbb(self, server: Server):
        """The BbbServer port for one of our servers (its secret derived from the master key)."""
        return self._bbb(server.url, self.server_secret(server), server.name)

    def _bbb(self, url: str, secret: str, name: str | None):
        if self._bbb_factory is not None:
            return self._bbb_factory(url, secret, name)
        return bbb_api(self.settings.scalelite, url, secret, name)

    def poll_servers(self, servers: list[ScaleliteServer]) -> LoadSnapshot:
        """Each server's own getMeetings in parallel (Scalelite's fails whole when one server errors)."""
        from chalicelib.adapters.scalelite.observe import observe_per_server

        s = self.settings.scalelite
        api_for = None
        if self._bbb_factory is not None:
            api_for = lambda server: self._bbb_factory(server.url, server.secret, server.id)  # noqa: E731
        return observe_per_server(
            servers,
            s.checksum,
            s.server_poll_concurrency,
            s.connect_timeout,
            s.read_timeout,
            0,
            s.max_response_bytes,
            api_for=api_for,
        )

    def server_api(self, server: ScaleliteServer):
        """The BbbServer port for a server as Scalelite lists it (its registered URL and secret)."""
        return self._bbb(server.url, server.secret, server.id)

    @property
    def room_sizes(self):
        """What each room weighed (the burst guard's expected sizes); learned by the tick."""
        if getattr(self, "_room_sizes", None) is None:
            from chalicelib.service.guard import load_room_sizes

            self._room_sizes = load_room_sizes(self)
        return self._room_sizes

    @property
    def guard(self):
        """The burst guard (None when switched off in `[guard]`)."""
        if not self.settings.guard.enabled:
            return None
        if getattr(self, "_guard", None) is None:
            from chalicelib.service.guard import BurstGuard

            self._guard = BurstGuard(self)
        return self._guard

    def beside(self) -> Runtime:
        """A runtime for a thread beside this one (the burst guard in `bbbscale run`): the same store,
        clock, world and memories, its own Scalelite client (an HTTP session is not shared between
        threads)."""
        scalelite = self._scalelite
        if scalelite is not None and hasattr(scalelite, "_secret") and hasattr(scalelite, "settings"):
            scalelite = type(scalelite)(scalelite.settings, scalelite._secret)
        other = Runtime(
            self.settings,
            store=self.store,
            scalelite=scalelite,
            providers=self._providers,
            bbb_factory=self._bbb_factory,
            clock=self.clock,
            secret=self.secret,
            world=self.world,
            forecaster=self._forecaster,
        )
        other._room_sizes = self.room_sizes
        other.parallel_checks = getattr(self, "parallel_checks", True)
        return other

    # --- helpers the service uses ---------------------------------------------------------------------
    def server_secret(self, server: Server) -> str:
        """Per-VM BBB secret: HMAC-SHA256(master key, server name). Unique per VM, recomputable, never
        stored: losing the store never loses a server's secret."""
        master = self.secret(SERVER_KEY)
        if not master:
            if not simulated_only(self.settings):
                # A built-in key would be guessable, and it feeds the secrets sent with addServer.
                from chalicelib.config import ConfigError

                raise ConfigError(f"no server secret key: set {SERVER_KEY} (real providers need one)")
            master = f"bbbscale-{self.settings.cluster}-simulated-fleet-demo-key"  # no real VM is made
        return hmac.new(master.encode(), server.name.encode(), hashlib.sha256).hexdigest()

    def launch_spec(self, server: Server) -> LaunchSpec:
        tags = {"bbbscale:cluster": self.settings.cluster, "bbbscale:provider": server.provider}
        try:
            from chalicelib.adapters.providers.userdata import render_user_data
        except ImportError:  # pragma: no cover - providers package not installed
            user_data = f"#!/bin/sh\nBBB_SECRET={self.server_secret(server)}\n"
        else:
            user_data = render_user_data(self, server)
        return LaunchSpec(name=server.name, user_data=user_data, tags=tags, image=server.image)

    def describe(self, action, fleet) -> list[str]:
        """The provider calls an action would make (dry run)."""
        provider = self.providers.get(action.provider)
        if provider is None or not callable(getattr(provider, "calls", None)):
            return []
        if action.action == "start":
            names = [f"bbbscale-{self.settings.cluster}-{action.provider}-<next>"] * (action.count or 0)
            calls = provider.calls("create", [LaunchSpec(name=n) for n in names])
            if self.dns is not None and names and self.settings.providers[action.provider].mode == "create":
                from chalicelib.domain.dns import Naming

                name = Naming(self.settings.dns.name, self.settings.cluster).record_name(names[0])
                calls.append(
                    f"dns {self.settings.dns.driver}: create A/AAAA {name}.{self.dns.zone} for each new VM "
                    "once the provider reports its address"
                )
            return calls
        server = next((s for s in fleet.servers if s.name == action.server), None)
        if action.action == "stop" and server is not None:
            mode = self.settings.providers[action.provider].mode
            calls = provider.calls("stop" if mode == "power" else "destroy", [server.vm_id])
            if self.dns is not None and mode != "power":
                calls.append(f"dns {self.settings.dns.driver}: delete the records of {server.name}")
            return calls
        return []

    def transition(self, server: Server, persist: bool = True) -> Server:
        """Save a record (conditional on its version) and record the transition with its reason."""
        if not persist:
            return server
        saved = self.store.servers.save(server)
        self.store.history.record(
            HistoryEntry(
                server.since,
                "transition",
                f"{server.name} -> {server.state.value}: {server.reason}",
                {"server": server.name, "state": server.state.value},
            )
        )
        return saved

    def save_quietly(self, server: Server) -> Server:
        try:
            return self.store.servers.save(server)
        except ConflictError:
            return server

    @property
    def forecaster(self):
        """The forecast (timetable, calendar, recorded history); built on first use."""
        if self._forecaster is None and self.settings.forecast.enabled:
            from chalicelib.service.forecasting import Forecaster

            self._forecaster = Forecaster(self.settings, store=self.store)
        return self._forecaster

    def forecast(self, now: datetime) -> tuple[float, str]:
        if self.forecaster is None:
            return 0.0, ""
        return self.forecaster(now)

    def learn(self, now: datetime, units: float | None) -> None:
        """Feed the measured load to the forecast's history."""
        record = getattr(self.forecaster, "record", None)
        if record is not None:
            record(now, units)

    def notify(self, result: dict) -> None:
        """Post an acting tick's changes to the configured chat webhooks. A failed post is logged and
        never fails the tick."""
        try:
            if self._notifier is not None:
                self._notifier(result)
            else:
                from chalicelib.adapters.chat.notify import notify_after_tick

                notify_after_tick(self, result)
        except Exception as error:  # noqa: BLE001 - chat is best effort; the history has everything
            log.warning("notification not sent: %s", type(error).__name__)

    def progress(self, message: str) -> None:
        if self._progress is not None:
            self._progress(message)
        log.info(message)

    # --- service facade -------------------------------------------------------------------------------
    def tick(self, dry_run: bool = False, now: datetime | None = None) -> dict:
        from chalicelib.service.tick import run_tick

        return run_tick(self, now=now, dry_run=dry_run)

    def plan(self, users: int, webcam_ratio=None, mic_ratio=None, room_size=None) -> dict:
        from chalicelib.domain.load import units_per_user

        mix = self.settings.mix
        per_user = units_per_user(
            self.settings.weights,
            mix.webcam_ratio if webcam_ratio is None else webcam_ratio,
            mix.mic_ratio if mic_ratio is None else mic_ratio,
            mix.room_size if room_size is None else room_size,
        )
        units = users * per_user
        allocation = allocate(with_headroom(units, self.settings.headroom), self.settings.providers)
        return plan_report(users, units, allocation, self.settings.providers, self.settings.currency)

    def status(self) -> dict:
        """What `status` shows: fleet per provider and state, the last tick's load and desired counts,
        headroom, reservations to come, freeze and floors."""
        from chalicelib.domain.fleet import Fleet, ServerState
        from chalicelib.domain.overrides import read_overrides
        from chalicelib.service.closures import reservation_json
        from chalicelib.service.guard import guard_status

        now = self.clock()
        servers = self.store.servers.servers()
        last = self.store.history.recent(1, kind="tick")
        detail = last[0].detail if last else {}
        load = detail.get("load")
        capacity = sum(s.capacity for s in servers if s.state == ServerState.SERVING)
        overrides = read_overrides(self.store.settings.get, now)
        freeze = overrides.freeze
        return {
            "at": now.isoformat(),
            "last_tick": last[0].at.isoformat() if last else None,
            "fleet": Fleet(tuple(servers)).counts(),
            "desired": detail.get("desired", {}),
            "load": load,
            "capacity_units": capacity,
            "headroom_units": round(capacity - (load or {}).get("load_units", 0.0), 1),
            "reservations": [
                reservation_json(r) for r in self.store.reservations.reservations() if r.ends_at > now
            ],
            "freeze": {
                "by": freeze.by,
                "until": freeze.until.isoformat() if freeze.until else None,
                "reason": freeze.reason,
            }
            if freeze
            else None,
            "floors": {
                f.provider: {
                    "servers": f.servers,
                    "by": f.by,
                    "until": f.until.isoformat() if f.until else None,
                }
                for f in overrides.floors
            },
            "guard": guard_status(self),
        }


SERVER_KEY = "BBBSCALE_SERVER_SECRET_KEY"


def simulated_only(settings: Settings) -> bool:
    """True when no provider creates or starts real VMs: every provider is the simulated cloud or a
    static pool of existing servers (whose secrets come from their own options), so no BBB secret we
    derive is at stake."""
    return all(p.kind == "simulated" or p.mode == "static" for p in settings.providers.values())


def check_secrets(settings: Settings, secret: Callable[[str], str | None] = env_secret) -> None:
    """Refuse to start a tick on real providers while secrets it needs are missing, naming them all at
    once (ConfigError, exit 2): the Scalelite secret, and the server secret key when real VMs are made.
    The simulated fleet needs neither."""
    if all(p.kind == "simulated" for p in settings.providers.values()):
        return
    needed = [settings.scalelite.secret_env] + ([] if simulated_only(settings) else [SERVER_KEY])
    missing = [name for name in needed if not secret(name)]
    if missing:
        from chalicelib.config import ConfigError

        raise ConfigError(
            f"missing secrets: {', '.join(missing)} (set them in the environment or the secret store)"
        )


def build(settings: Settings, **overrides) -> Runtime:
    return Runtime(settings, **overrides)


def runtime_from_environment() -> Runtime:
    """The runtime the Lambda handlers use: BBBSCALE_CONFIG names the TOML file (default: built-in).
    A simulated configuration (the embedded default) gets the process's own simulated fleet, kept from
    one invocation to the next (`chalice local --stage local`, the Chalice test client)."""
    if RUNTIME_FACTORY is not None:
        return RUNTIME_FACTORY()
    settings = with_environment(load_settings(_config_path(os.environ.get("BBBSCALE_CONFIG"))))
    if any(p.kind == "simulated" for p in settings.providers.values()):
        from chalicelib.sim.resident import resident_runtime

        return resident_runtime(settings)
    return Runtime(settings)


def _config_path(named: str | None) -> str | None:
    """BBBSCALE_CONFIG as the stages give it (`chalicelib/fleet.toml`): relative to the project (Lambda's
    /var/task), whatever the working directory of `chalice local` or a test."""
    if not named or os.path.isabs(named):
        return named or None
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), named)


def with_environment(settings: Settings) -> Settings:
    """Lay the deployment's environment over the file's [state] section (the Chalice stages set
    BBBSCALE_STATE_BACKEND=dynamodb and the table name per stage) and `[chat] dispatcher`
    (BBBSCALE_CHAT_DISPATCHER)."""
    state = {
        key: os.environ[var]
        for key, var in (
            ("backend", "BBBSCALE_STATE_BACKEND"),
            ("table", "BBBSCALE_STATE_TABLE"),
            ("path", "BBBSCALE_STATE_PATH"),
        )
        if os.environ.get(var)
    }
    # the AWS stages run follow-ups through SQS (a Lambda freezes once it has answered), the local one
    # on a thread
    chat = (
        {"dispatcher": os.environ["BBBSCALE_CHAT_DISPATCHER"]}
        if os.environ.get("BBBSCALE_CHAT_DISPATCHER")
        else {}
    )
    if not state and not chat:
        return settings
    from chalicelib.config_file import parse_settings

    document = settings.model_dump()
    document["state"] = {**document["state"], **state}
    document["chat"] = {**document["chat"], **chat}
    return parse_settings(document, source="configuration with the environment's state settings")
