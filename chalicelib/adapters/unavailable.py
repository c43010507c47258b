"""Why a request could not be served, in one line: the services behind the app are missing or refuse.

An AWS stage run where AWS is not (no region, no credentials, DynamoDB or SSM unreachable or denied),
a state file that cannot be opened, a configuration that does not validate: the handler answers 503
with this line and logs it once, rather than Chalice's 500 and a traceback. The line names what failed
and what to do; it never holds a secret (botocore's messages name regions, tables and parameters only).
"""

from __future__ import annotations

from chalicelib.ports import BbbscaleError

#: botocore's errors that mean "AWS is not set up here", with the advice that goes with them.
_NOT_SET_UP = {
    "NoRegionError": "no AWS region configured (set AWS_DEFAULT_REGION, or run the local stage: "
    "chalice local --stage local)",
    "NoCredentialsError": "no AWS credentials found (or run the local stage: chalice local --stage local)",
    "PartialCredentialsError": "incomplete AWS credentials",
    "EndpointConnectionError": "AWS endpoint unreachable",
    "ConnectTimeoutError": "AWS endpoint unreachable (timeout)",
}


def _chain(error: BaseException):
    """The error and the ones it was raised from or during (Powertools wraps the SDK's)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def reason(error: BaseException) -> str | None:
    """One line saying which backing service failed and why, or None when `error` is not about a
    backing service (a bug: let it be a 500 with its traceback in the log)."""
    for link in _chain(error):
        name = type(link).__name__
        if name in _NOT_SET_UP and type(link).__module__.startswith("botocore"):
            return f"service unavailable: {_NOT_SET_UP[name]}"
        if name == "ClientError" and type(link).__module__.startswith("botocore"):
            details = getattr(link, "response", {}).get("Error", {})
            operation = getattr(link, "operation_name", "call")
            return f"service unavailable: AWS refused {operation}: {details.get('Code', 'error')}"
    for link in _chain(error):
        if isinstance(link, BbbscaleError):
            return f"service unavailable: {(str(link).splitlines() or [''])[0][:300]}"
    return None
