"""A loopback fake of the CloudStack API (as Ikoula runs it): signed GETs on /client/api.

Shapes follow the CloudStack API reference (listZones, listServiceOfferings, listTemplates,
deployVirtualMachine, queryAsyncJobResult, createTags, listVirtualMachines, start/stop/
destroyVirtualMachine; for isolated networks listNetworks, associateIpAddress, enableStaticNat,
createFirewallRule, listPublicIpAddresses, disassociateIpAddress): every answer is `{"<command lowercased>response": {...}}`; changes answer a
`jobid` whose `queryAsyncJobResult` carries `jobstatus` (1 done) and `jobresult`. The signature is
checked as the reference describes it: parameters sorted by lowercased name, URL-encoded, the whole
string lowercased, HMAC-SHA1 with the secret key, base64."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from urllib.parse import quote

from tests.provider_fakes.http import LoopbackApi

ZONE = {
    "id": "a41b82a0-78d8-4a8f-bb79-303a791bb8a7",
    "name": "EU-FR-IKDC2-Z4-ADVANCED",
    "networktype": "Advanced",
    "allocationstate": "Enabled",
}
OFFERING = {
    "id": "c6b89fea-1242-4f54-b15e-9d8ec8a0b7e8",
    "name": "m1.xlarge",
    "cpunumber": 8,
    "cpuspeed": 2000,
    "memory": 16384,
    "displaytext": "8 vCPU 16 GB",
}
NETWORK = {
    "id": "5f1d3c2b-0a9e-4b7c-8d6e-2f1a0b9c8d7e",
    "name": "bbb-isolated",
    "displaytext": "bbb-isolated",
    "type": "Isolated",
    "networkofferingid": "3c8d1f7a-1b2c-4d5e-9f0a-6b7c8d9e0f1a",
    "zoneid": ZONE["id"],
    "state": "Implemented",
    "cidr": "10.1.1.0/24",
    "networkofferingname": "DefaultIsolatedNetworkOfferingWithSourceNatService",
    "egressdefaultpolicy": True,
}
TEMPLATE = {
    "id": "0c2a5f8e-6c7b-4c1e-9a33-6f0e2f9c0b11",
    "name": "bbb-3.0-prepared",
    "hypervisor": "KVM",
    "format": "QCOW2",
    "ostypename": "Ubuntu 22.04 LTS",
    "displaytext": "BBB 2.7 prepared",
    "size": 21474836480,
    "isready": True,
}


def signature(params: dict, secret: str) -> str:
    pairs = sorted((k.lower(), v) for k, v in params.items() if k != "signature")
    text = (
        "&".join(f"{quote(k, safe='[]')}={quote(str(v), safe='[]*')}" for k, v in pairs)
        .lower()
        .replace("+", "%20")
    )
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()).decode()


class FakeCloudStack(LoopbackApi):
    def __init__(self, api_key="ck-api", secret_key="ck-secret", allow_expunge=True):
        super().__init__()
        # listCapabilities' allowuserexpungerecovervm (allow.user.expunge.recover.vm, or an admin)
        self.allow_expunge = allow_expunge
        self.api_key, self.secret_key = api_key, secret_key
        self.vms: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.ips: dict[str, dict] = {}  # allocated public IPs (billed until disassociated)
        self.rules: dict[str, dict] = {}  # firewall rules, by id
        self.n = 0

    def handle(self, r):
        q = r.query
        if q.get("apiKey") != self.api_key or q.get("signature") != signature(q, self.secret_key):
            return (
                401,
                {},
                {
                    "errorresponse": {
                        "errorcode": 401,
                        "errortext": "unable to verify user credentials and/or request signature",
                    }
                },
            )
        command = q["command"]
        reply = getattr(self, f"_{command}", None)
        if reply is None:
            return (
                432,
                {},
                {
                    "errorresponse": {
                        "errorcode": 432,
                        "errortext": f"The given command {command} does not exist",
                    }
                },
            )
        status, body = reply(q)
        return status, {}, {f"{command.lower()}response": body}

    def _job(self, result, made: str | None = None):
        """An async command's first answer: the job id, and the id of what it makes (as CloudStack
        answers deployVirtualMachine and associateIpAddress)."""
        job = str(uuid.uuid4())
        self.jobs[job] = result
        return 200, {"jobid": job, **({"id": made} if made else {})}

    def _queryAsyncJobResult(self, q):
        return 200, {
            "jobid": q["jobid"],
            "jobstatus": 1,
            "jobresultcode": 0,
            "jobresulttype": "object",
            "jobresult": self.jobs[q["jobid"]],
        }

    def _listZones(self, q):
        return 200, {"count": 1, "zone": [ZONE]}

    def _listServiceOfferings(self, q):
        return 200, {"count": 1, "serviceoffering": [OFFERING]}

    def _listTemplates(self, q):
        assert q["templatefilter"] == "executable"
        return 200, {"count": 1, "template": [TEMPLATE]}

    def _deployVirtualMachine(self, q):
        if (
            q["templateid"] != TEMPLATE["id"]
            or q["serviceofferingid"] != OFFERING["id"]
            or q["zoneid"] != ZONE["id"]
        ):
            return 431, {
                "errorcode": 431,
                "errortext": "Unable to execute API command deployvirtualmachine due to invalid value.",
            }
        self.n += 1
        isolated = q.get("networkids") == NETWORK["id"]
        vm = {
            "id": str(uuid.uuid4()),
            "name": q["name"],
            "displayname": q.get("displayname", q["name"]),
            "account": "demo",
            "domain": "ROOT",
            "created": "2026-11-23T09:00:00+0100",
            "state": "Running" if q.get("startvm") == "True" else "Stopped",
            "haenable": False,
            "zoneid": ZONE["id"],
            "zonename": ZONE["name"],
            "templateid": q["templateid"],
            "serviceofferingid": q["serviceofferingid"],
            "cpunumber": 8,
            "memory": 16384,
            "keypair": q.get("keypair"),
            "nic": [
                {
                    "id": str(uuid.uuid4()),
                    "ipaddress": f"10.1.1.{self.n}" if isolated else f"178.170.0.{self.n}",
                    "isdefault": True,
                    "networkid": NETWORK["id"] if isolated else "n-1",
                    "type": "Isolated" if isolated else "Shared",
                }
            ],
            "hypervisor": "KVM",
            "tags": [],
            "_userdata": q.get("userdata"),
        }
        self.vms[vm["id"]] = vm
        return self._job({"virtualmachine": vm}, made=vm["id"])

    def _createTags(self, q):
        kind = q["resourcetype"]
        assert kind in ("UserVm", "PublicIpAddress")
        table = self.vms if kind == "UserVm" else self.ips
        i = 0
        while f"tags[{i}].key" in q:
            for resource_id in q["resourceids"].split(","):
                table[resource_id]["tags"].append(
                    {
                        "key": q[f"tags[{i}].key"],
                        "value": q[f"tags[{i}].value"],
                        "resourcetype": kind,
                        "resourceid": resource_id,
                    }
                )
            i += 1
        return self._job({"success": True})

    def _listNetworks(self, q):
        return 200, {"count": 1, "network": [NETWORK]}

    def _associateIpAddress(self, q):
        assert q["networkid"] == NETWORK["id"] and q["zoneid"] == ZONE["id"]
        ip = {
            "id": str(uuid.uuid4()),
            "ipaddress": f"178.170.9.{len(self.ips) + 1}",
            "associatednetworkid": q["networkid"],
            "zoneid": q["zoneid"],
            "issourcenat": False,
            "isstaticnat": False,
            "state": "Allocated",
            "tags": [],
        }
        self.ips[ip["id"]] = ip
        return self._job({"ipaddress": ip}, made=ip["id"])

    def _enableStaticNat(self, q):
        ip, vm = self.ips.get(q["ipaddressid"]), self.vms.get(q["virtualmachineid"])
        if ip is None or vm is None:
            return 431, {"errorcode": 431, "errortext": "Unable to find ip address or vm"}
        ip.update(isstaticnat=True, virtualmachineid=vm["id"], virtualmachinename=vm["name"])
        return 200, {"success": "true"}

    def _createFirewallRule(self, q):
        if q["ipaddressid"] not in self.ips:
            return 431, {"errorcode": 431, "errortext": "Unable to find ip address"}
        rule = {
            "id": str(uuid.uuid4()),
            "ipaddressid": q["ipaddressid"],
            "ipaddress": self.ips[q["ipaddressid"]]["ipaddress"],
            "protocol": q["protocol"],
            "startport": int(q["startport"]),
            "endport": int(q["endport"]),
            "cidrlist": q["cidrlist"],
            "state": "Active",
        }
        self.rules[rule["id"]] = rule
        return self._job({"firewallrule": rule})

    def _listPublicIpAddresses(self, q):
        ips = list(self.ips.values())
        return 200, ({"count": len(ips), "publicipaddress": ips} if ips else {})

    def _disassociateIpAddress(self, q):
        if q["id"] not in self.ips:
            return 431, {
                "errorcode": 431,
                "errortext": f"Unable to find ip address by id={q['id']}: does not exist",
            }
        # Releasing an IP removes its static NAT and its rules (CloudStack's IpAddressManager cleanup).
        del self.ips[q["id"]]
        self.rules = {i: r for i, r in self.rules.items() if r["ipaddressid"] != q["id"]}
        return self._job({"success": True})

    def _listVirtualMachines(self, q):
        vms = [v for v in self.vms.values() if q.get("id") in (None, v["id"])]
        return 200, ({"count": len(vms), "virtualmachine": vms} if vms else {})

    def _listPortForwardingRules(self, q):
        return 200, {}

    def _listIpForwardingRules(self, q):
        return 200, {}

    def _vm_action(self, q, state):
        vm = self.vms.get(q["id"])
        if vm is None:
            return 431, {
                "errorcode": 431,
                "errortext": f"Unable to execute API command due to invalid value. Entity {q['id']} does not exist",
            }
        vm["state"] = state
        if state == "Expunging":
            del self.vms[vm["id"]]
            for ip in self.ips.values():  # static NAT ends with the VM; the IP stays allocated (billed)
                if ip.get("virtualmachineid") == vm["id"]:
                    ip["isstaticnat"] = False
                    del ip["virtualmachineid"]
        return self._job({"virtualmachine": vm})

    def _startVirtualMachine(self, q):
        return self._vm_action(q, "Running")

    def _stopVirtualMachine(self, q):
        return self._vm_action(q, "Stopped")

    def _listCapabilities(self, q):
        return 200, {
            "capability": {"cloudstackversion": "4.19.1.0", "allowuserexpungerecovervm": self.allow_expunge}
        }

    def _destroyVirtualMachine(self, q):
        if q.get("expunge") == "True" and not self.allow_expunge:  # CloudStack's PermissionDeniedException
            text = "Parameter expunge can be passed by Admin only. Or when the allow.user.expunge.recover.vm key is set."
            return 531, {"errorcode": 531, "errortext": text}
        return self._vm_action(q, "Expunging" if q.get("expunge") == "True" else "Destroyed")
