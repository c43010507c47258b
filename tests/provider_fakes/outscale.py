"""A loopback fake of the Outscale OSC API: JSON POSTs on /api/v1/<Action>.

Shapes follow Outscale's API reference (CreateVms with its idempotent ClientToken, CreateTags, ReadVms with Filters.Tags
"key=value" and VmStateNames, StartVms, StopVms, DeleteVms, ReadImages): answers carry
`ResponseContext.RequestId`; errors are `{"Errors": [{"Code", "Type", "Details"}]}`. Requests must be
signed `OSC4-HMAC-SHA256 Credential=<access key>/...` (the fake checks the scheme and key id only)."""

from __future__ import annotations

import re
import uuid

from tests.provider_fakes.http import LoopbackApi

IMAGE = {
    "ImageId": "ami-bbb27a01",
    "ImageName": "bbb-3.0-prepared",
    "State": "available",
    "Tags": [],
    "AccountAlias": "",
    "Architecture": "x86_64",
    "CreationDate": "2026-11-01T10:00:00.000Z",
}


def _error(status, code, kind, details=""):
    return (
        status,
        {},
        {
            "Errors": [{"Code": code, "Type": kind, "Details": details}],
            "ResponseContext": {"RequestId": str(uuid.uuid4())},
        },
    )


class FakeOutscale(LoopbackApi):
    def __init__(self, access_key="osc-ak"):
        super().__init__()
        self.access_key = access_key
        self.vms: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.n = 0

    def handle(self, r):
        auth = r.headers.get("Authorization", "")
        if not auth.startswith(f"OSC4-HMAC-SHA256 Credential={self.access_key}/"):
            return _error(401, "1", "AccessDenied", "the access key is unknown")
        match = re.fullmatch(r"/api/v1/(\w+)", r.path)
        reply = getattr(self, f"_{match[1]}", None) if match else None
        if reply is None:
            return _error(400, "4118", "OperationNotSupported")
        result = reply(r.json())
        if isinstance(result, tuple):
            return result
        return 200, {}, {**result, "ResponseContext": {"RequestId": str(uuid.uuid4())}}

    def _ReadImages(self, body):
        return {"Images": [IMAGE]}

    def _CreateVms(self, body):
        if body["ImageId"] != IMAGE["ImageId"]:
            return _error(400, "5023", "InvalidResource", f"The ImageId '{body['ImageId']}' does not exist.")
        token = body.get("ClientToken")
        if token and token in self.tokens:  # idempotent: the first call's VM, whatever its state now
            return {"Vms": [self.tokens[token]]}
        self.n += 1
        vm = {
            "VmId": f"i-{uuid.uuid4().hex[:8]}",
            "VmType": body.get("VmType", "tinav5.c1r1p2"),
            "ImageId": body["ImageId"],
            "State": "pending" if body.get("BootOnCreation", True) else "stopped",
            "Tags": [],
            "PrivateIp": f"10.0.0.{self.n}",
            "PublicIp": f"171.33.0.{self.n}",
            "PublicDnsName": f"ows-171-33-0-{self.n}.eu-west-2.compute.outscale.com",
            "CreationDate": "2026-11-23T08:00:00.000Z",
            "KeypairName": body.get("KeypairName"),
            "LaunchNumber": 0,
            "Placement": {"SubregionName": "eu-west-2a", "Tenancy": "default"},
            "BlockDeviceMappings": [],
            "SecurityGroups": [],
            "Nics": [],
            "_user_data": body.get("UserData"),
            "ClientToken": token or "",
        }
        self.vms[vm["VmId"]] = vm
        if token:
            self.tokens[token] = vm
        return {"Vms": [vm]}

    def _CreateTags(self, body):
        if not isinstance(body.get("Tags"), list):
            return _error(400, "3001", "InvalidParameterValue", "Tags must be an array")
        for vm_id in body["ResourceIds"]:
            self.vms[vm_id]["Tags"].extend(body["Tags"])
        return {}

    def _ReadVms(self, body):
        filters = body.get("Filters", {})
        found = []
        for vm in self.vms.values():
            tags = {f"{t['Key']}={t['Value']}" for t in vm["Tags"]}
            if "Tags" in filters and not set(filters["Tags"]) & tags:
                continue
            if "VmIds" in filters and vm["VmId"] not in filters["VmIds"]:
                continue
            if "ClientTokens" in filters and vm.get("ClientToken") not in filters["ClientTokens"]:
                continue
            if "VmStateNames" in filters and vm["State"] not in filters["VmStateNames"]:
                continue
            found.append(vm)
        return {"Vms": found}

    def _change(self, body, state):
        ids = body.get("VmIds")
        if not isinstance(ids, list):
            return _error(400, "3001", "InvalidParameterValue", "VmIds must be an array")
        missing = [i for i in ids if i not in self.vms]
        if missing:
            return _error(400, "5063", "InvalidResource", f"The VmId '{missing[0]}' does not exist.")
        out = []
        for vm_id in ids:
            vm = self.vms[vm_id]
            out.append({"VmId": vm_id, "PreviousState": vm["State"], "CurrentState": state})
            vm["State"] = state
            if state == "terminated":
                del self.vms[vm_id]
        return {"Vms": out}

    def _StartVms(self, body):
        return self._change(body, "running")

    def _StopVms(self, body):
        return self._change(body, "stopped")

    def _DeleteVms(self, body):
        return self._change(body, "terminated")
