"""A loopback fake of Keystone v3 + Nova (compute v2.1) + Glance v2 + Neutron v2.0.

Shapes follow the OpenStack API reference (identity v3 "Password authentication with scoped
authorization", compute "Create Server"/"List Servers Detailed"/"Start Server (os-start Action)",
image v2 "List images", networking v2.0 "List networks"): the token id travels in the X-Subject-Token
header, the body carries the token with its service catalog; Nova answers 202 to create and actions,
204 to delete."""

from __future__ import annotations

import re
import uuid

from tests.provider_fakes.http import LoopbackApi

PROJECT_ID = "4f1c1a0b5c2d4e6f8a9b0c1d2e3f4a5b"


class FakeOpenStack(LoopbackApi):
    def __init__(self, region="GRA11", user="alice", password="s3cret", appcred=("ac-1", "ac-secret")):
        super().__init__()
        self.region, self.user, self.password, self.appcred = region, user, password, appcred
        self.tokens: set[str] = set()
        self.servers: dict[str, dict] = {}
        self.flavors = [
            {
                "id": "906e8259-0001",
                "name": "b2-15",
                "ram": 15000,
                "disk": 100,
                "vcpus": 4,
                "links": [],
                "swap": "",
                "rxtx_factor": 1.0,
                "OS-FLV-EXT-DATA:ephemeral": 0,
                "OS-FLV-DISABLED:disabled": False,
                "os-flavor-access:is_public": True,
                "description": None,
            }
        ]
        self.images = [
            {
                "id": "0b7e9b0a-aaaa-4f5e-9d1c-1e2f3a4b5c6d",
                "name": "bbb-3.0-prepared",
                "status": "active",
                "visibility": "private",
                "created_at": "2026-11-01T10:00:00Z",
                "updated_at": "2026-11-01T10:05:00Z",
                "min_ram": 0,
                "min_disk": 20,
                "disk_format": "qcow2",
                "container_format": "bare",
            }
        ]
        self.networks = [
            {
                "id": "6c1e4f2a-bbbb-4c3d-8e9f-0a1b2c3d4e5f",
                "name": "Ext-Net",
                "status": "ACTIVE",
                "subnets": [],
                "router:external": True,
                "admin_state_up": True,
                "shared": True,
            }
        ]
        self.n = 0

    # --- keystone --------------------------------------------------------------------------------------
    def _auth(self, r):
        identity = r.json()["auth"]["identity"]
        if identity["methods"] == ["password"]:
            user = identity["password"]["user"]
            ok = user["name"] == self.user and user["password"] == self.password
        else:
            cred = identity["application_credential"]
            ok = (cred["id"], cred["secret"]) == self.appcred
        if not ok:
            return (
                401,
                {},
                {
                    "error": {
                        "code": 401,
                        "title": "Unauthorized",
                        "message": "The request you have made requires authentication.",
                    }
                },
            )
        token = uuid.uuid4().hex
        self.tokens.add(token)

        def service(kind, name, path):
            return {
                "type": kind,
                "name": name,
                "id": uuid.uuid4().hex,
                "endpoints": [
                    {
                        "id": uuid.uuid4().hex,
                        "interface": face,
                        "region": self.region,
                        "region_id": self.region,
                        "url": f"{self.url}{path}",
                    }
                    for face in ("public", "internal")
                ],
            }

        body = {
            "token": {
                "methods": identity["methods"],
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "issued_at": "2026-11-23T08:00:00.000000Z",
                "user": {"domain": {"id": "default", "name": "Default"}, "id": "u-1", "name": self.user},
                "project": {"domain": {"id": "default", "name": "Default"}, "id": PROJECT_ID, "name": "demo"},
                "roles": [{"id": "r-1", "name": "member"}],
                "catalog": [
                    service("identity", "keystone", "/identity"),
                    service("compute", "nova", "/compute/v2.1"),
                    service("image", "glance", "/image"),
                    service("network", "neutron", "/network"),
                ],
            }
        }
        return 201, {"X-Subject-Token": token}, body

    def handle(self, r):
        if r.path == "/v3/auth/tokens" and r.method == "POST":
            return self._auth(r)
        if r.headers.get("X-Auth-Token") not in self.tokens:
            return 401, {}, {"error": {"code": 401, "message": "unauthorized"}}
        if r.path == "/compute/v2.1/flavors/detail":
            return 200, {}, {"flavors": self.flavors}
        if r.path == "/image/v2/images":
            return 200, {}, {"images": self.images, "first": "/v2/images", "schema": "/v2/schemas/images"}
        if r.path == "/network/v2.0/networks":
            return 200, {}, {"networks": self.networks}
        if r.path == "/compute/v2.1/servers" and r.method == "POST":
            return self._create(r.json()["server"])
        if r.path == "/compute/v2.1/servers/detail":
            return 200, {}, {"servers": list(self.servers.values())}
        match = re.fullmatch(r"/compute/v2\.1/servers/([^/]+)(/action)?", r.path)
        if not match or match[1] not in self.servers:
            return 404, {}, {"itemNotFound": {"code": 404, "message": "Instance could not be found."}}
        server = self.servers[match[1]]
        if match[2]:
            action = next(iter(r.json()))
            server["status"] = {"os-start": "ACTIVE", "os-stop": "SHUTOFF"}[action]
            return 202, {}, b""
        if r.method == "DELETE":
            del self.servers[server["id"]]
            return 204, {}, b""
        return 200, {}, {"server": server}

    def _create(self, body):
        if body["flavorRef"] not in [f["id"] for f in self.flavors] or body["imageRef"] not in [
            i["id"] for i in self.images
        ]:
            return (
                400,
                {},
                {"badRequest": {"code": 400, "message": "Invalid flavorRef or imageRef provided."}},
            )
        self.n += 1
        sid = str(uuid.uuid4())
        link = f"{self.url}/compute/v2.1/servers/{sid}"
        self.servers[sid] = {
            "id": sid,
            "name": body["name"],
            "status": "BUILD",
            "tenant_id": PROJECT_ID,
            "user_id": "u-1",
            "metadata": body.get("metadata", {}),
            "hostId": "",
            "created": "2026-11-23T08:00:00Z",
            "updated": "2026-11-23T08:00:01Z",
            "addresses": {
                "Ext-Net": [{"addr": f"51.68.10.{self.n}", "version": 4, "OS-EXT-IPS:type": "fixed"}]
            },
            "accessIPv4": "",
            "accessIPv6": "",
            "key_name": body.get("key_name"),
            "image": {"id": body["imageRef"], "links": []},
            "flavor": {"id": body["flavorRef"], "links": []},
            "links": [{"rel": "self", "href": link}, {"rel": "bookmark", "href": link}],
            "OS-DCF:diskConfig": "AUTO",
            "OS-EXT-AZ:availability_zone": body.get("availability_zone", "nova"),
            "OS-EXT-STS:power_state": 0,
            "OS-EXT-STS:task_state": "scheduling",
            "OS-EXT-STS:vm_state": "building",
            "config_drive": "",
            "progress": 0,
            "os-extended-volumes:volumes_attached": [],
            "security_groups": body.get("security_groups", [{"name": "default"}]),
            "_user_data": body.get("user_data"),
            "_networks": body.get("networks"),
        }
        return (
            202,
            {},
            {
                "server": {
                    "id": sid,
                    "links": [{"rel": "self", "href": link}],
                    "adminPass": "gen-pass",
                    "OS-DCF:diskConfig": "AUTO",
                    "security_groups": [{"name": "default"}],
                }
            },
        )
