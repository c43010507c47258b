"""Scalelite: its BBB-compatible getMeetings and its server admin API (v1.5.1+): the Scalelite port.

Protocol facts (blindsidenetworks/scalelite: app/controllers/api/servers_controller.rb,
scalelite_api_controller.rb, concerns/api_helper.rb, config/routes.rb):
- the admin API lives at `/scalelite/api/<action>` beside `/bigbluebutton/api`;
- checksum = hash(camelCase action + raw query string without `checksum` + secret), so a POST whose
  only query parameter is the checksum is signed over the action name alone; POST bodies are JSON and
  must say `Content-Type: application/json` (else FAILED unsupportedContentType);
- checksum and content-type errors come back as XML FAILED with HTTP 200; admin results are JSON:
  200 (addServer 201), 404 `{"error"}` for an unknown id, 400 `{"error"}` for a refused update;
- getServers with no server configured answers 404 `{"error": "No servers are configured"}`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

import requests

from chalicelib.adapters.scalelite.bbb import BbbApi
from chalicelib.adapters.scalelite.checksum import signed_query
from chalicelib.adapters.scalelite.parse import parse_failure
from chalicelib.adapters.scalelite.transport import Transport
from chalicelib.config import ConfigError, ScaleliteSettings
from chalicelib.domain.load import LoadSnapshot
from chalicelib.ports import ApiError, ResponseError, Scalelite, ScaleliteServer
from chalicelib.untrusted_json import UntrustedJsonError
from chalicelib.untrusted_json import loads as json_loads

#: The admin API's answers are small JSON (getServers for 1,000 servers is ~300 KB) and read whole, so
#: they get their own byte limit: 8 MiB, 25x that, keeps a parse under the 100 MB memory budget
#: (issue 23: a 180 MB getServers of empty objects took 4.9 GB). getMeetings, streamed, keeps
#: `max_response_bytes`.
ADMIN_MAX_BYTES = 8 * 1024 * 1024

_STATES = {
    "enable": "enable",
    "cordon": "cordon",
    "disable": "disable",
    "enabled": "enable",
    "cordoned": "cordon",
    "disabled": "disable",
}
_REPORTED_STATES = frozenset({"enabled", "cordoned", "disabled"})


def admin_base(api_url: str) -> str:
    """`https://lb/bigbluebutton/api` -> `https://lb/scalelite/api` (Scalelite's routes.rb)."""
    base = api_url.rstrip("/")
    if not base.endswith("/bigbluebutton/api"):
        raise ConfigError(
            f"invalid configuration: scalelite.url must end with /bigbluebutton/api, got {base!r}"
        )
    return base[: -len("/bigbluebutton/api")] + "/scalelite/api"


def server_from_json(doc: dict) -> ScaleliteServer:
    """One server of getServers/getServerInfo/addServer. `load` "unavailable" -> None; the multiplier
    is a decimal Rails serialises as a string; tag and bbb_version are "" when unset."""
    if not isinstance(doc, dict):
        raise ResponseError("Scalelite server entry is not a JSON object")
    missing = [key for key in ("id", "url", "secret", "state", "online") if key not in doc]
    if missing:
        raise ResponseError(f"Scalelite server entry lacks {', '.join(missing)}")
    server_id = str(doc["id"])
    state, online = doc["state"], doc["online"]
    if state not in _REPORTED_STATES:
        raise ResponseError(f"Scalelite server {server_id}: unknown state {str(state)[:20]!r}")
    if online not in ("online", "offline", True, False):
        raise ResponseError(f"Scalelite server {server_id}: unknown online value {str(online)[:20]!r}")
    load = doc.get("load", "unavailable")
    return ScaleliteServer(
        id=server_id,
        url=str(doc["url"]),
        secret=str(doc["secret"]),
        state=state,
        online=online in ("online", True),
        load=None if load in ("unavailable", None, "") else _number(load, "load", server_id),
        load_multiplier=_number(doc.get("load_multiplier", 1.0), "load_multiplier", server_id),
        tag=str(doc["tag"]) if doc.get("tag") else None,
    )


def _number(value, field: str, server_id: str) -> float:
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = Decimal(str(value))
        if not number.is_finite():
            raise InvalidOperation
        return float(number)
    except (InvalidOperation, ValueError):
        raise ResponseError(
            f"Scalelite server {server_id}: {field} is not a number ({str(value)[:20]!r})"
        ) from None


class ScaleliteClient:
    """Scalelite's getMeetings and server admin API, signed with the load balancer's secret.

    `meetings()` raises ApiError("internalError") when any server behind Scalelite failed: see
    `chalicelib.service.observe.load_snapshot`. Nothing automatic may call `panic`.
    """

    def __init__(self, settings: ScaleliteSettings, secret: str, session=None, backoff: float = 0.5):
        self.settings = settings
        self._secret = secret
        self._admin = admin_base(settings.url)
        session = session or requests.Session()
        self._api = BbbApi(
            settings.url,
            secret,
            settings.checksum,
            settings.connect_timeout,
            settings.read_timeout,
            settings.retries,
            settings.max_response_bytes,
            session,
            backoff=backoff,
        )
        self._transport = Transport(
            "scalelite",
            settings.connect_timeout,
            settings.read_timeout,
            settings.retries,
            min(settings.max_response_bytes, ADMIN_MAX_BYTES),
            session,
            backoff,
        )

    def twin(self) -> ScaleliteClient:
        """A client of its own for another thread (an HTTP session is not shared between threads)."""
        return ScaleliteClient(self.settings, self._secret)

    def __repr__(self) -> str:
        from chalicelib.credentials import mask_credentials

        return f"ScaleliteClient({mask_credentials(self.settings.url)!r})"

    def meetings(self) -> LoadSnapshot:
        """Every meeting behind Scalelite (Meeting.server stays None: Scalelite does not say where)."""
        return self._api.meetings()

    def servers(self) -> list[ScaleliteServer]:
        """Every server Scalelite knows, in any state (none configured -> [])."""
        status, doc = self._call("getServers", "GET", {}, empty_on_404=True)
        if status == 404:
            return []
        if not isinstance(doc, list):
            raise ResponseError("Scalelite getServers answer is not a JSON list")
        return [server_from_json(entry) for entry in doc]

    def server(self, server_id: str) -> ScaleliteServer:
        """One server by id; ApiError("notFound") when Scalelite does not know it."""
        return server_from_json(self._call("getServerInfo", "GET", {"id": server_id})[1])

    def add(
        self, url: str, secret: str, load_multiplier: float = 1.0, tag: str | None = None
    ) -> ScaleliteServer:
        """Register a BBB server. Scalelite adds it `disabled`: enable it once it is healthy. Retried
        only when the request surely never arrived, so a timeout cannot register it twice."""
        server = {"url": url, "secret": secret, "load_multiplier": str(load_multiplier), "tag": tag or ""}
        _, doc = self._call("addServer", "POST", {"server": server}, idempotent=False, also_secret=secret)
        return server_from_json(doc)

    def set_state(self, server_id: str, state: str) -> None:
        """enable (gets new meetings) | cordon (keeps its meetings, gets none; Scalelite disables it once
        empty) | disable. The reported forms enabled/cordoned/disabled are accepted too."""
        if state not in _STATES:
            raise ValueError(f"unknown server state {state!r}; choose one of: enable, cordon, disable")
        self._call("updateServer", "POST", {"id": server_id, "server": {"state": _STATES[state]}})

    def delete(self, server_id: str) -> None:
        """Unregister a server. Scalelite does NOT check for meetings: cordon and drain first. An id
        Scalelite no longer knows counts as deleted (a retried delete may find it gone)."""
        try:
            self._call("deleteServer", "POST", {"id": server_id})
        except ApiError as error:
            if error.key != "notFound":
                raise

    def panic(self, server_id: str, keep_state: bool = False) -> None:
        """ENDS EVERY MEETING on the server and disables it (unless keep_state). For an operator at the
        keyboard only: nothing automatic — tick, planner, actuator, chat — may call this. Never retried."""
        # keep_state is a top-level key: the controller's comment nests it under "server", but its
        # server_panic_params permit it at the top (servers_controller.rb).
        self._call("panicServer", "POST", {"id": server_id, "keep_state": keep_state}, idempotent=False)

    def _call(
        self,
        action: str,
        method: str,
        payload: dict,
        *,
        empty_on_404: bool = False,
        idempotent: bool = True,
        also_secret: str | None = None,
    ):
        params = payload if method == "GET" else None
        url = f"{self._admin}/{action}?{signed_query(action, params, self._secret, self.settings.checksum)}"
        secrets = [s for s in (self._secret, also_secret) if s]

        def consume(response, body):
            raw = body.read()
            if raw.lstrip()[:1] == b"<":  # checksum/content-type errors: XML FAILED, HTTP 200
                error = parse_failure(raw, len(raw), f"Scalelite {action} answer")
                raise (
                    _scrubbed(error, secrets)
                    if error
                    else ResponseError(f"Scalelite {action}: unexpected XML")
                )
            try:
                doc = json_loads(raw)
            except UntrustedJsonError as error:
                raise ResponseError(
                    f"Scalelite {action} answer refused (HTTP {response.status_code}): {error}"
                ) from None
            if response.status_code in (200, 201):
                return response.status_code, doc
            message = doc.get("error", "") if isinstance(doc, dict) else ""
            if response.status_code == 404 and empty_on_404:
                return 404, doc
            key = "notFound" if response.status_code == 404 else f"http{response.status_code}"
            raise _scrubbed(ApiError(key, str(message)[:300]), secrets)

        return self._transport.call(
            action,
            method,
            url,
            consume,
            json_body=None if method == "GET" else payload,
            idempotent=idempotent,
        )


def _scrubbed(error: ApiError, secrets: list[str]) -> ApiError:
    message = error.message
    for secret in secrets:
        message = message.replace(secret, "***")
    return ApiError(error.key, message)


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Scalelite] = ScaleliteClient
