"""A loopback forwarding proxy in front of another loopback API (moto's server), so that the fault
injection of `LoopbackApi.fail_request` works for APIs we do not fake ourselves."""

from __future__ import annotations

import requests

from tests.provider_fakes.http import LoopbackApi

HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


class ForwardingProxy(LoopbackApi):
    def __init__(self, target: str):
        super().__init__()
        self.target = target.rstrip("/")
        self.session = requests.Session()

    def respond(self, request):
        # No global lock here (forwarding may be slow); faults are still looked up under it.
        with self.lock:
            fault = self.faults.pop(getattr(request, "number", 0), None)
        if fault and not fault[1]:
            return (
                fault[0],
                {},
                b"<Response><Errors><Error><Code>InjectedFault</Code></Error></Errors></Response>",
            )
        answer = self.handle(request)
        if fault:  # carried out, answer lost
            return (
                fault[0],
                {},
                b"<Response><Errors><Error><Code>InternalError</Code></Error></Errors></Response>",
            )
        return answer

    def handle(self, request):
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        response = self.session.request(
            request.method,
            self.target + request.path,
            params=request.query,
            data=request.body,
            headers=headers,
            timeout=30,
        )
        keep = {k: v for k, v in response.headers.items() if k.lower() == "content-type"}
        return response.status_code, keep, response.content
