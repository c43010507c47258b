"""How `capacity_check` starts the `burst_guard` function on AWS: an asynchronous Lambda invocation of the
function the deployment names. Off Lambda there is none to start (`bbbscale run` guards in a thread)."""

from __future__ import annotations

import json
import os

from chalicelib.errors import BbbscaleError


def on_lambda() -> bool:
    """Whether this runs where a burst_guard function can be started: in Lambda, or told its name. Off
    it, each check near a class recorded "burst guard not started: not on AWS" (in chat too)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or os.environ.get("BBBSCALE_GUARD_FUNCTION"))


def guard_function_name() -> str:
    """BBBSCALE_GUARD_FUNCTION (`!Ref` of the function in the SAM template, infra/sam/guard.json), else
    Chalice's <app>-<stage>-burst_guard beside this <app>-<stage>-capacity_check."""
    name = os.environ.get("BBBSCALE_GUARD_FUNCTION")
    current = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    if not name and current.endswith("-capacity_check"):
        name = current[: -len("capacity_check")] + "burst_guard"
    if not name:
        raise BbbscaleError("not on AWS: no burst_guard function to start")
    return name


def invoke_guard(payload: dict) -> None:
    """Start `burst_guard` asynchronously (Event invocation) with `payload`. A failure raises: the caller
    reports it."""
    import boto3

    boto3.client("lambda").invoke(
        FunctionName=guard_function_name(), InvocationType="Event", Payload=json.dumps(payload)
    )
