"""A loopback fake of Scaleway's Instances API v1 (zones/{zone}/servers, /action, /user_data, /images).

Shapes follow Scaleway's public Instances API reference: a server object carries id, name, project,
commercial_type, creation_date, image{id,name}, public_ip/public_ips, state, tags, volumes{"0":{...}},
zone; new servers are `stopped`; actions answer 202 with a task."""

from __future__ import annotations

import itertools
import re
import uuid

from tests.provider_fakes.http import LoopbackApi

IMAGE_ID = "8f3a1c2e-1111-4e2b-9d3c-0123456789ab"


class FakeScaleway(LoopbackApi):
    def __init__(self, token="scw-secret", zone="fr-par-1", throttle_first=0):
        super().__init__()
        self.token, self.zone = token, zone
        self.servers: dict[str, dict] = {}
        self.user_data: dict[str, bytes] = {}
        self.volumes: set[str] = set()
        self.throttle_left = throttle_first
        self.counter = itertools.count(10)

    def handle(self, r):
        if r.headers.get("X-Auth-Token") != self.token:
            return 401, {}, {"message": "authentication is denied", "type": "denied_authentication"}
        prefix = f"/instance/v1/zones/{self.zone}"
        if not r.path.startswith(prefix):
            return 404, {}, {"message": "zone not found"}
        path = r.path[len(prefix) :]
        if path == "/images" and r.method == "GET":
            images = [
                {"id": IMAGE_ID, "name": "bbb-3.0-prepared", "creation_date": "2026-11-01T10:00:00+00:00"}
            ]
            return 200, {}, {"images": [i for i in images if r.query.get("name", i["name"]) in i["name"]]}
        if path == "/servers" and r.method == "POST":
            if self.throttle_left:
                self.throttle_left -= 1
                return 429, {}, {"message": "quota exceeded: too many requests", "type": "too_many_requests"}
            return self._create(r.json())
        if path == "/servers" and r.method == "GET":
            tag = r.query.get("tags")
            found = [s for s in self.servers.values() if not tag or tag in s["tags"]]
            page, size = int(r.query.get("page", 1)), int(r.query.get("per_page", 50))
            return (
                200,
                {"X-Total-Count": str(len(found))},
                {"servers": found[(page - 1) * size : page * size]},
            )
        match = re.fullmatch(r"/servers/([^/]+)(/action|/user_data/cloud-init)?", path)
        if match and match[1] in self.servers:
            server = self.servers[match[1]]
            if match[2] == "/action":
                return self._act(server, r.json()["action"])
            if match[2]:
                self.user_data[server["id"]] = r.body
                return 204, {}, b""
            if r.method == "DELETE":
                del self.servers[server["id"]]
                return 204, {}, b""
            return 200, {}, {"server": server}
        match = re.fullmatch(r"/volumes/([^/]+)", path)
        if match and r.method == "DELETE" and match[1] in self.volumes:
            self.volumes.discard(match[1])
            return 204, {}, b""
        return 404, {}, {"message": "resource not found", "type": "not_found"}

    def _create(self, body):
        if body.get("image") != IMAGE_ID:
            return 404, {}, {"message": "image not found", "type": "not_found"}
        sid, vid = str(uuid.uuid4()), str(uuid.uuid4())
        self.volumes.add(vid)
        server = {
            "id": sid,
            "name": body["name"],
            "project": body["project"],
            "organization": body["project"],
            "commercial_type": body["commercial_type"],
            "creation_date": "2026-11-23T08:00:00.000000+00:00",
            "dynamic_ip_required": body.get("dynamic_ip_required", True),
            "hostname": body["name"],
            "image": {"id": body["image"], "name": "bbb-3.0-prepared"},
            "public_ip": None,
            "public_ips": [],
            "state": "stopped",
            "tags": body.get("tags", []),
            "zone": self.zone,
            "volumes": {
                "0": {"id": vid, "name": f"{body['name']}-root", "size": 20000000000, "volume_type": "l_ssd"}
            },
        }
        self.servers[sid] = server
        return 201, {}, {"server": server}

    def _act(self, server, action):
        if action == "poweron":
            ip = {"id": str(uuid.uuid4()), "address": f"51.15.0.{next(self.counter)}", "dynamic": True}
            server.update(state="running", public_ips=[ip], public_ip=ip)
        elif action in ("poweroff", "stop_in_place"):
            server.update(
                state="stopped" if action == "poweroff" else "stopped in place", public_ips=[], public_ip=None
            )
        elif action == "terminate":
            if server["state"] == "stopped":
                return 400, {}, {"message": "server should be running", "type": "precondition_failed"}
            del self.servers[server["id"]]
            for volume in server["volumes"].values():
                self.volumes.discard(volume["id"])
        else:
            return 400, {}, {"message": f"unknown action {action}", "type": "invalid_arguments"}
        return 202, {}, {"task": {"id": str(uuid.uuid4()), "description": action, "status": "pending"}}
