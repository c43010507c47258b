"""Scalelite's server admin API (v1.8 app/controllers/api/servers_controller.rb) over the simulated world.

Status codes and JSON shapes as the real controller renders them: addServer 201 with the server
(state disabled); getServers 404 `{"error": "No servers are configured"}` when empty; an unknown id
404 `{"error": "Couldn't find server with id=..."}`; a bad update 400 `{"error": "..."}`; a missing
`server` object is Rails' ParameterMissing, which Scalelite renders as XML FAILED internalError (HTTP
200). `load_multiplier` is a BigDecimal in Rails, so it comes out as a JSON string ("1.0").
The checksum and Content-Type checks happen before this, in the HTTP layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bbbsim import xml_render as render
from bbbsim.scalelite_model import RegisteredServer

ROUTES = {
    "getServers": "GET",
    "getServerInfo": "GET",
    "addServer": "POST",
    "updateServer": "POST",
    "deleteServer": "POST",
    "panicServer": "POST",
}


@dataclass(frozen=True)
class AdminAnswer:
    status: int
    body: bytes
    content_type: str = "application/xml; charset=utf-8"


def _json(status: int, document) -> AdminAnswer:
    return AdminAnswer(status, json.dumps(document).encode(), "application/json; charset=utf-8")


def _missing(param: str) -> AdminAnswer:
    return AdminAnswer(
        200, render.failed_xml("internalError", f"param is missing or the value is empty: {param}")
    )


def server_json(entry: RegisteredServer, bbb_version: str = "") -> dict:
    """One server as getServers/getServerInfo render it."""
    return {
        "id": entry.id,
        "url": entry.url,
        "secret": entry.secret,
        "tag": entry.tag or "",
        "bbb_version": bbb_version,
        "state": entry.state,
        "load": entry.load if entry.load is not None else "unavailable",
        "load_multiplier": repr(float(entry.load_multiplier)),
        "online": "online" if entry.online else "offline",
    }


def _version(world, entry: RegisteredServer) -> str:
    node = world.node_for_url(entry.url)
    return node.version if node is not None and entry.online else ""


def admin_call(world, method: str, action: str, params: dict) -> AdminAnswer:
    """Dispatch one admin call whose checksum is already verified."""
    if ROUTES.get(action) != method:
        return AdminAnswer(404, b"Not Found", "text/html")
    if action == "getServers":
        entries = world.scalelite_servers()
        if not entries:
            return _json(404, {"error": "No servers are configured"})
        return _json(200, [server_json(e, _version(world, e)) for e in entries])
    if action == "addServer":
        spec = params.get("server")
        if not isinstance(spec, dict) or not spec:
            return _missing("server")
        if not spec.get("url") or not spec.get("secret"):
            return _json(400, {"error": "Server needs a URL and a secret"})
        try:
            multiplier = float(spec.get("load_multiplier") or 1.0)
        except (TypeError, ValueError):
            multiplier = 1.0
        entry = world.add_server(str(spec["url"]), str(spec["secret"]), multiplier, spec.get("tag") or None)
        return _json(201, server_json(entry))
    server_id = str(params.get("id", ""))
    try:
        entry = world.scalelite_server(server_id)
    except KeyError:
        return _json(404, {"error": f"Couldn't find server with id={server_id}"})
    if action == "getServerInfo":
        return _json(200, server_json(entry, _version(world, entry)))
    if action == "deleteServer":
        world.delete_server(server_id)
        return _json(200, {"success": f"Server id={server_id} was destroyed"})
    if action == "panicServer":
        given = params.get("server")
        nested = given if isinstance(given, dict) else {}
        keep = params.get("keep_state", nested.get("keep_state", False))
        world.panic_server(server_id, keep_state=str(keep).lower() == "true")
        return _json(
            200, {"success": f"Server id={server_id} has been disabled and the meetings have been destroyed"}
        )
    spec = params.get("server")
    if not isinstance(spec, dict) or not spec:
        return _missing("server")
    try:
        asked = spec.get("load_multiplier")
        entry = world.update_server(
            server_id,
            state=spec.get("state") or None,
            load_multiplier=None if asked is None or asked == "" else float(asked),
            secret=spec.get("secret") or None,
            tag=spec.get("tag"),
        )
    except (ValueError, TypeError) as error:
        return _json(400, {"error": str(error)})
    return _json(200, server_json(entry, _version(world, entry)))
