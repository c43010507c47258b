"""A loopback OVHcloud API for DNS zones (/1.0/domain/zone/{zone}/...), checking OVH's request signature
exactly as OVH documents it (https://help.ovhcloud.com, "First steps with the OVHcloud APIs"):
X-Ovh-Signature = "$1$" + sha1(application secret + "+" + consumer key + "+" + method + "+" + full URL
+ "+" + body + "+" + timestamp), with X-Ovh-Application, X-Ovh-Consumer and X-Ovh-Timestamp; the clock at
/1.0/auth/time is unsigned. Records as OVH answers them (ids from /record, objects from /record/{id});
the zone export is BIND text; changes are served once /refresh is called."""

from __future__ import annotations

import hashlib
import json
import time

from tests.provider_fakes.http import LoopbackApi

APPLICATION_KEY = "ovh-application-key"
APPLICATION_SECRET = "ovh-application-secret"
CONSUMER_KEY = "ovh-consumer-key"


class FakeOvhDns(LoopbackApi):
    """One or more zones; `records` by id; `pending` counts changes not yet refreshed."""

    def __init__(self, zones=("bbb.example.org",)):
        super().__init__()
        self.zones = set(zones)
        self.records: dict[int, dict] = {}
        self.next_id = 1000
        self.pending = 0
        self.refreshes = 0
        self.fail_next: list[int] = []
        self.bad_signatures = 0

    def _signed(self, request) -> bool:
        h = request.headers
        query = "&".join(f"{k}={v}" for k, v in request.query.items())
        url = f"https://127.0.0.1{request.path}" + (f"?{query}" if query else "")
        base = "+".join(
            [
                APPLICATION_SECRET,
                h.get("X-Ovh-Consumer", ""),
                request.method,
                url,
                request.body.decode(),
                h.get("X-Ovh-Timestamp", ""),
            ]
        )
        expected = "$1$" + hashlib.sha1(base.encode()).hexdigest()  # noqa: S324 - OVH's scheme
        return (
            h.get("X-Ovh-Application") == APPLICATION_KEY
            and h.get("X-Ovh-Consumer") == CONSUMER_KEY
            and h.get("X-Ovh-Signature") == expected
            and abs(int(h.get("X-Ovh-Timestamp") or 0) - time.time()) < 300
        )

    def handle(self, request):
        if request.path == "/1.0/auth/time":
            return 200, {}, int(time.time())
        if not self._signed(request):
            self.bad_signatures += 1
            return 400, {}, {"errorCode": "INVALID_SIGNATURE", "message": "Invalid signature"}
        if self.fail_next:
            return self.fail_next.pop(0), {}, {"message": "Internal server error"}
        parts = request.path.split("/")  # '', '1.0', 'domain', 'zone', zone, rest...
        if parts[1:4] != ["1.0", "domain", "zone"] or len(parts) < 6 or parts[4] not in self.zones:
            return 404, {}, {"message": "This service does not exist"}
        zone, rest = parts[4], parts[5:]
        mine = {i: r for i, r in self.records.items() if r["zone"] == zone}
        if rest == ["export"] and request.method == "GET":
            return 200, {"Content-Type": "application/json"}, json.dumps(self.export(zone))  # a JSON string
        if rest == ["refresh"] and request.method == "POST":
            self.pending, self.refreshes = 0, self.refreshes + 1
            return 200, {}, None
        if rest == ["record"] and request.method == "GET":
            q = request.query
            return (
                200,
                {},
                [
                    i
                    for i, r in mine.items()
                    if q.get("fieldType", r["fieldType"]) == r["fieldType"]
                    and q.get("subDomain", r["subDomain"]) == r["subDomain"]
                ],
            )
        if rest == ["record"] and request.method == "POST":
            body = request.json()
            self.next_id += 1
            record = {
                "id": self.next_id,
                "zone": zone,
                "subDomain": body.get("subDomain", ""),
                "fieldType": body["fieldType"],
                # OVH keeps (and answers) a TXT target as a quoted character-string
                "target": f'"{body["target"]}"'
                if body["fieldType"] == "TXT" and not body["target"].startswith('"')
                else body["target"],
                "ttl": body.get("ttl", 0),
            }
            self.records[self.next_id] = record
            self.pending += 1
            return 200, {}, record
        if len(rest) == 2 and rest[0] == "record" and rest[1].isdigit() and int(rest[1]) in mine:
            if request.method == "GET":
                return 200, {}, mine[int(rest[1])]
            if request.method == "DELETE":
                del self.records[int(rest[1])]
                self.pending += 1
                return 200, {}, None
        return 404, {}, {"message": f"The requested object ({request.path}) does not exist"}

    def export(self, zone: str) -> str:
        lines = [
            "$TTL 3600",
            "@\tIN SOA dns10.ovh.net. tech.ovh.net. (2026113001 86400 3600 3600000 300)",
            "\t\t\t\tIN NS     dns10.ovh.net.",
            "\t\t\t\tIN NS     ns10.ovh.net.",
            "www\t\t\t\tIN CNAME  lb.example.org.",
        ]
        for r in self.records.values():
            if r["zone"] == zone:
                ttl = f"{r['ttl']} " if r["ttl"] else ""
                lines.append(f"{r['subDomain'] or '@'}\t\t{ttl}IN {r['fieldType']}\t{r['target']}")
        return "\n".join(lines) + "\n"

    def addresses(self, zone: str = "bbb.example.org") -> dict[tuple[str, str], list[str]]:
        out: dict[tuple[str, str], list[str]] = {}
        for r in self.records.values():
            if r["zone"] == zone and r["fieldType"] in ("A", "AAAA"):
                out.setdefault((r["subDomain"], r["fieldType"]), []).append(r["target"])
        return out

    def txt(self, name: str, zone: str = "bbb.example.org") -> list[str]:
        """The texts of TXT set `name`, unquoted (`pending == 0` says they are served)."""
        return sorted(
            r["target"].strip('"')
            for r in self.records.values()
            if r["zone"] == zone and r["fieldType"] == "TXT" and r["subDomain"] == name
        )
