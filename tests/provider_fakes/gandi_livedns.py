"""A loopback Gandi LiveDNS, both APIs: the current one (api.gandi.net: /v5/livedns/domains/{fqdn}/records
[/{name}/{type}], `Authorization: Bearer <personal access token>`) and the legacy one libcloud's
GANDI_LIVE driver speaks (dns.api.gandi.net: /api/v5/domains/..., `X-Api-Key`). Shapes from Gandi's
LiveDNS API documentation (rrset_name, rrset_type, rrset_ttl, rrset_values; 409 for an existing rrset,
404 for a missing one, errors as {"code", "message", "object", "cause"})."""

from __future__ import annotations

from tests.provider_fakes.http import LoopbackApi

TOKEN = "gandi-personal-access-token"
API_KEY = "gandi-legacy-api-key"
PREFIXES = {
    "/v5/livedns/domains/": ("Authorization", f"Bearer {TOKEN}"),
    "/api/v5/domains/": ("X-Api-Key", API_KEY),
}


def _error(code: int, cause: str, message: str):
    return code, {}, {"code": code, "message": message, "object": "HTTPError", "cause": cause}


def _stored(rrset_type: str, value: str) -> str:
    """LiveDNS keeps (and answers) a TXT value as a quoted character-string."""
    return f'"{value}"' if rrset_type == "TXT" and not value.startswith('"') else value


class FakeGandiLiveDns(LoopbackApi):
    """Domains and their rrsets; `fail_next` answers the next calls with that status (e.g. 503)."""

    def __init__(self, domains=("bbb.example.org",)):
        super().__init__()
        self.rrsets: dict[str, dict[tuple[str, str], dict]] = {d: {} for d in domains}
        self.fail_next: list[int] = []

    def handle(self, request):
        prefix = next((p for p in PREFIXES if request.path.startswith(p)), None)
        if prefix is None:
            return _error(404, "Not Found", "unknown path")
        header, credential = PREFIXES[prefix]
        if request.headers.get(header) != credential:
            return _error(403, "Forbidden", "Access was denied to this resource.")
        if self.fail_next:
            return _error(self.fail_next.pop(0), "Service Unavailable", "try again later")
        parts = request.path[len(prefix) :].split("/")
        domain = parts[0]
        if domain not in self.rrsets or len(parts) < 2 or parts[1] != "records":
            return _error(404, "Not Found", "Unknown domain")
        zone = self.rrsets[domain]
        if len(parts) == 2 and request.method == "GET":
            return 200, {}, list(zone.values())
        if len(parts) == 2 and request.method == "POST":
            body = request.json()
            key = (body["rrset_name"], body["rrset_type"])
            if key in zone:
                return _error(409, "Conflict", "A record with that name already exists")
            zone[key] = {
                "rrset_name": key[0],
                "rrset_type": key[1],
                "rrset_ttl": body.get("rrset_ttl", 10800),
                "rrset_values": list(body["rrset_values"]),
            }
            return 201, {}, {"message": "DNS Record Created"}
        if len(parts) == 4 and request.method == "PUT":  # replace (or create) one rrset
            body = request.json()
            if int(body.get("rrset_ttl", 10800)) < 300:
                return _error(400, "Bad Request", "rrset_ttl: must be at least 300")
            key = (parts[2], parts[3])
            values = [_stored(key[1], v) for v in body["rrset_values"]]
            zone[key] = {
                "rrset_name": key[0],
                "rrset_type": key[1],
                "rrset_ttl": body.get("rrset_ttl", 10800),
            }
            zone[key]["rrset_values"] = values
            return 201, {}, {"message": "DNS Record Created"}
        if len(parts) == 4:
            key = (parts[2], parts[3])
            if key not in zone:
                return _error(404, "Not Found", "Unknown record")
            if request.method == "GET":
                return 200, {}, zone[key]
            if request.method == "DELETE":
                del zone[key]
                return 204, {}, b""
        return _error(405, "Method Not Allowed", "not supported by the fake")

    def addresses(self, domain: str = "bbb.example.org") -> dict[tuple[str, str], list[str]]:
        return {
            key: rrset["rrset_values"]
            for key, rrset in self.rrsets[domain].items()
            if key[1] in ("A", "AAAA")
        }

    def txt(self, name: str, domain: str = "bbb.example.org") -> list[str]:
        """The texts of TXT set `name`, unquoted (what a resolver hands ACME)."""
        rrset = self.rrsets[domain].get((name, "TXT"))
        return sorted(v.strip('"') for v in rrset["rrset_values"]) if rrset else []
