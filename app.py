"""Chalice entry points: handlers only. Every decision lives in chalicelib/service."""

import functools
import logging
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalice import Chalice, Rate, Response
from chalice.app import Request

from chalicelib import untrusted_json
from chalicelib.adapters.chat import rocketchat, slack
from chalicelib.adapters.chat.dispatch import Dispatcher, Job, dispatcher_for
from chalicelib.adapters.chat.notify import chats_from_environment
from chalicelib.adapters.unavailable import reason as unavailable_reason
from chalicelib.observability import install
from chalicelib.ports import BbbscaleError, ConflictError
from chalicelib.service import closures, commands, notify
from chalicelib.service.once import expires_for, first_delivery, once, request_key

if TYPE_CHECKING:
    from chalicelib.domain.tick_report import TickReport

app = Chalice(app_name="bbbscale", configure_logs=False)
install(app)  # Powertools: Lambda context in JSON logs, one EMF metrics flush per invocation
log = logging.getLogger("bbbscale.app")

#: The Dispatcher for slow work, built on first use from the settings (tests may set their own).
DISPATCHER: Dispatcher | None = None
_BUILT: tuple = (None, None)  # (chat settings, the dispatcher built for them)
#: The SQS queue `chat_jobs` reads, per stage (infra/cloudformation/state.yaml creates it). Read at import
#: on purpose: the event source is fixed when `chalice deploy`/`package` imports this file, and Chalice
#: sets the stage's environment variables before that import (and in the deployed function).
JOBS_QUEUE = os.environ.get("BBBSCALE_JOBS_QUEUE") or "bbbscale-jobs"


def _one_line_errors(handler):
    """A handler whose backing services are missing (an AWS stage without region or credentials, a state
    file that cannot be opened) answers 503 with one clear line, logged once: never a traceback."""

    @functools.wraps(handler)
    def guarded(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            return _answer(503, {"error": _unavailable(handler.__name__, error)})

    return guarded


@app.schedule(Rate(1, unit=Rate.MINUTES), name="capacity_check")
def capacity_check(event):
    """One capacity check: the same service function as `bbbscale tick`. When its services are missing
    it logs one line and returns {"error": ...} (the next minute tries again)."""
    from chalicelib.fleets import from_environment
    from chalicelib.observability import emit_tick_metrics, log_tick, metrics
    from chalicelib.render import tick_json

    try:
        wiring = from_environment()
        began = time.monotonic()
        result = tick_json(wiring.tick(dry_run=False))
        seconds = time.monotonic() - began
    except Exception as error:
        return {"error": _unavailable("capacity_check", error)}
    log_tick(result, wiring.settings.cluster)
    emit_tick_metrics(metrics, result, wiring.settings.cluster, seconds=seconds)
    from chalicelib.adapters.guard_invoke import invoke_guard, on_lambda

    invoker = GUARD_INVOKER or (invoke_guard if on_lambda() else None)
    if invoker is None:  # chalice local, a script: no function to start (`bbbscale run` guards in a thread)
        return result
    from chalicelib.service.guard_function import start_guard_run

    started = start_guard_run(wiring.settings, wiring.store, wiring.clock(), invoker, _load_units(result))
    if started is not None:
        result["guard_run"] = started
    return result


#: How capacity_check starts the burst guard (tests set a recorder of their own).
GUARD_INVOKER = None


def _load_units(result: dict) -> float | None:
    return (result.get("load") or {}).get("load_units")


@app.lambda_function(name="burst_guard")
def burst_guard(event, context):
    """The burst guard for one class start or surge (started by capacity_check), up to 14 minutes, while
    it holds the fleet's guard lease (the next run waits for it): cordons servers Scalelite would herd
    the burst onto and enables them again (updateServer only)."""
    import time

    from chalicelib.fleets import from_environment
    from chalicelib.observability import emit_guard_failure
    from chalicelib.service.guard_function import run_guard_function

    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else 900.0
    try:
        ports = from_environment().ports()
    except Exception as error:  # services missing (no region, no credentials, no table): one line
        return {"error": _unavailable("burst_guard", error)}
    cluster = ports.settings.cluster
    return run_guard_function(
        ports, event or {}, remaining, time.sleep, failed=lambda kind: emit_guard_failure(cluster, kind)
    )


def _unavailable(function: str, error: Exception) -> str:
    """The one line a function logs and answers when its services are missing (no region, no
    credentials, no table: adapters/unavailable.py), naming the service, never a value; any other error
    is raised again as it is."""
    said = unavailable_reason(error)
    if said is None:
        raise error
    log.error("%s: %s", function, said)
    return said


def _wiring():
    """The wiring for this request; tests point chalicelib.fleets.WIRING_FACTORY at their own."""
    from chalicelib import fleets

    return fleets.from_environment()


def _dispatch(wiring, job: Job) -> None:
    global DISPATCHER, _BUILT
    built_for, built = _BUILT
    if DISPATCHER is None or (DISPATCHER is built and built_for != wiring.settings.chat):
        DISPATCHER = dispatcher_for(wiring.settings.chat, _run_job)
        _BUILT = (wiring.settings.chat, DISPATCHER)
    try:
        DISPATCHER.submit(job)
    except BbbscaleError as error:  # the change is stored; the next scheduled check acts on it
        log.warning("follow-up check not queued: %s", error)


def _run_job(job: Job) -> "TickReport | None":
    """Carry out a follow-up job: one acting tick, answered on the chat channels the environment names.
    When its services are missing (no region, no credentials, no table) it logs one line and raises a
    one-line error, so that SQS delivers the message again (docs/deploy.md: up to three times, then the
    dead-letter queue), rather than a traceback."""
    from chalicelib.observability import log_tick
    from chalicelib.render import tick_json

    try:
        wiring = _wiring()
        chats = chats_from_environment(wiring.settings.chat)

        def check():  # logged as the scheduled check is: CloudWatch shows what a follow-up did
            report = wiring.tick(dry_run=False)
            log_tick(tick_json(report), wiring.settings.cluster)
            return report

        return notify.run_job(job, check, wiring.store.reservations, chats, wiring.settings.timezone)
    except Exception as error:
        raise BbbscaleError(_unavailable("chat_jobs", error)) from None


def _secret(wiring, name: str) -> str | None:
    # looked up per request (the environment first, then SSM/Secrets Manager on AWS, as the wiring
    # does it): Chalice patches stage environment variables only while handling an invocation
    return wiring.secret(name) or None


def _answer(status: int, body: dict) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


def _request() -> Request:
    """The request a route handler is answering. Chalice types `current_request` optional because it is
    None outside a route; every caller here is inside one."""
    request = app.current_request
    if request is None:
        raise RuntimeError("no current request: called outside a route handler")
    return request


def _raw_body() -> bytes:
    body = _request().raw_body or b""
    return body.encode() if isinstance(body, str) else body


def _request_path(routed: str) -> str:
    """The path the route saw, without the query (what the closure signature covers): API Gateway's
    and `chalice local`'s event carry it as `path`; `routed` (the route filled in) when one does not."""
    path = _request().to_original_event().get("path")
    return path if isinstance(path, str) and path else routed


#: A chat command is a few hundred bytes; a body past this is not one (answered 413, nothing parsed).
MAX_CHAT_BODY_BYTES = 16 * 1024


def _too_large() -> Response | None:
    size = len(_raw_body())
    if size > MAX_CHAT_BODY_BYTES:
        return _answer(413, {"error": f"body of {size} bytes is larger than {MAX_CHAT_BODY_BYTES} bytes"})
    return None


@app.route("/hooks/closure", methods=["POST"])
@_one_line_errors
def closure_webhook():
    """A school-closure announcement (docs/contract.md): 202 stored, 200 repeated, 400/401/409/503."""
    wiring = _wiring()
    secret = _secret(wiring, "BBBSCALE_WEBHOOK_SECRET")
    if not secret:
        return _answer(503, {"error": "closure webhook not configured"})
    headers, body, now = _request().headers, _raw_body(), datetime.now(UTC)
    try:
        closures.verify_signature(
            secret,
            headers.get("x-bbbscale-timestamp"),
            headers.get("x-bbbscale-signature"),
            ("POST", _request_path("/hooks/closure"), body),
            now,
        )
        receipt = closures.accept(
            wiring.store, body, now, wiring.settings.timezone, headers.get("x-bbbscale-timestamp")
        )
    except closures.SignatureError as error:
        return _answer(401, {"error": str(error)})
    except closures.InvalidRequest as error:
        return _answer(400, {"error": str(error)})
    except ConflictError as error:
        return _answer(409, {"error": str(error)})
    if receipt.created:
        _dispatch(wiring, Job(f"closure {receipt.reservation.id}", reservation_id=receipt.reservation.id))
    return _answer(202 if receipt.created else 200, closures.reservation_json(receipt.reservation))


@app.route("/hooks/closure/{reservation_id}", methods=["DELETE"])
@_one_line_errors
def closure_cancel(reservation_id):
    """Cancel one reservation; signed like the announcement, over an empty body."""
    wiring = _wiring()
    secret = _secret(wiring, "BBBSCALE_WEBHOOK_SECRET")
    if not secret:
        return _answer(503, {"error": "closure webhook not configured"})
    headers, now = _request().headers, datetime.now(UTC)
    try:
        closures.verify_signature(
            secret,
            headers.get("x-bbbscale-timestamp"),
            headers.get("x-bbbscale-signature"),
            ("DELETE", _request_path(f"/hooks/closure/{reservation_id}"), _raw_body()),
            now,
        )
        closures.cancel(wiring.store, reservation_id, now)
    except closures.SignatureError as error:
        return _answer(401, {"error": str(error)})
    except closures.NotFound as error:
        return _answer(404, {"error": str(error)})
    # as chat `unreserve` does: the capacity it held is let go from now, not from the next timer's check
    _dispatch(wiring, Job(f"cancel {reservation_id}"))
    return _answer(200, {"id": reservation_id, "cancelled": True})


@app.route("/chat/slack", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
@_one_line_errors
def slack_command():
    """A Slack slash command, answered at once; slow work is posted later to its response_url."""
    wiring = _wiring()
    secret = _secret(wiring, "BBBSCALE_SLACK_SIGNING_SECRET")
    if not secret:
        return _answer(503, {"error": "slack commands not configured"})
    refused = _too_large()
    if refused is not None:
        return refused
    body, now, headers = _raw_body(), datetime.now(UTC), dict(_request().headers)
    try:
        body.decode("utf-8")  # slack_sdk decodes it while verifying: a stray byte was a 500 and a traceback
    except UnicodeDecodeError:
        return _answer(400, {"error": "body: not UTF-8 text"})
    if not slack.verify(secret, body, headers, now):
        return _answer(401, {"error": "invalid Slack signature"})
    if first_delivery(wiring.idempotency, "slack", headers) is False:
        return _answer(401, {"error": "replayed request refused (signature already used)"})
    command = slack.parse_slash(body)

    def serve() -> dict:
        reply = commands.execute(command.text, wiring, command.caller, now)
        if reply.followup:
            target = (
                {"platform": "slack", "response_url": command.response_url} if command.response_url else None
            )
            _dispatch(wiring, Job(reply.followup.reason, reply.followup.reservation_id, target))
        return slack.reply_body(reply)

    key = request_key("slack", body)  # a retry's body is the first's, trigger_id included
    return _answer(200, once(wiring.idempotency, key, serve, expires_for(command.trigger_id)))


@app.route("/chat/rocketchat", methods=["POST"])
@_one_line_errors
def rocketchat_command():
    """A Rocket.Chat outgoing-webhook message; the JSON answer is posted to the room."""
    wiring = _wiring()
    token = _secret(wiring, "BBBSCALE_ROCKETCHAT_TOKEN")
    if not token:
        return _answer(503, {"error": "rocket.chat commands not configured"})
    refused = _too_large()
    if refused is not None:
        return refused
    try:
        document = untrusted_json.loads(_raw_body())
    except untrusted_json.UntrustedJsonError as error:  # deep nesting too: 400, one line, never 500
        return _answer(400, {"error": f"body: {error}"})
    if not isinstance(document, dict) or not rocketchat.verify(token, document):
        return _answer(401, {"error": "invalid Rocket.Chat token"})
    message = rocketchat.parse_outgoing(document)
    if message.from_bot:  # never answer bots (our own messages included): no loops
        return _answer(200, {})
    now = datetime.now(UTC)

    def serve() -> dict:
        reply = commands.execute(message.text, wiring, message.caller, now)
        if reply.followup:
            target = {"platform": "rocketchat", "channel": message.channel}
            _dispatch(wiring, Job(reply.followup.reason, reply.followup.reservation_id, target))
        return rocketchat.reply_body(reply)

    delivery = document.get("message_id")
    key = request_key("rocketchat", _raw_body(), delivery)
    return _answer(200, once(wiring.idempotency, key, serve, expires_for(delivery)))


@app.route("/fleet/certificate", methods=["GET"])
def fleet_certificate():
    """The fleet's wildcard certificate for one of its servers (docs/certificates.md): 200 with the chain
    and key for a valid token, 401 for a missing/forged/expired/other server's token, 503 while none is
    issued or its services are missing. Never cached (Cache-Control: no-store); the body is never logged."""
    from chalicelib.service.cert_delivery import deliver

    try:
        wiring = _wiring()
        settings = wiring.settings.certificates
        if settings is None:
            status, body = 503, {"error": "certificate delivery not configured ([certificates])"}
        else:
            said = deliver(
                _request().headers.get("authorization"),
                wiring.settings.cluster,
                wiring.keys.of,
                wiring.store.servers.servers,
                wiring.certificate_store,
                datetime.now(UTC),
                settings.token_max_seconds,
            )
            status, body = said.status, said.body
    except Exception as error:
        status, body = 503, {"error": _unavailable("fleet_certificate", error)}
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
    )


@app.on_sqs_message(queue=JOBS_QUEUE, batch_size=1, name="chat_jobs")
def chat_jobs(event):
    """Slow work queued by the `sqs` dispatcher: one capacity check per message."""
    for record in event:
        try:
            job = Job.from_json(record.body)
        except BbbscaleError as error:  # a stray message: drop it rather than have SQS redeliver it forever
            log.warning("SQS message ignored: %s", error)
            continue
        _run_job(job)
