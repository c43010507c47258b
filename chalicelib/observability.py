"""Logs and metrics on Lambda: Powertools Logger (JSON) and CloudWatch EMF metrics, secrets redacted.

`install(app)` wires both into Chalice as middleware: every handler's logs carry the Lambda context, and
the metrics gathered during an invocation are flushed once at its end (`metrics.log_metrics`). EMF is
printed to stdout and turned into metrics by CloudWatch Logs, so no PutMetricData permission is needed.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from chalicelib import __version__
from chalicelib.credentials import mask_credentials

SERVICE = "bbbscale"
NAMESPACE = "bbbscale"
MASK = "***"
#: Environment variables whose values are secrets even before anyone asked for them.
SECRET_MARKERS = ("SECRET", "TOKEN", "PASSWORD", "WEBHOOK_URL", "PRIVATE_KEY", "API_KEY")
#: Shorter values are too likely to be ordinary words or numbers to be masked everywhere.
MIN_SECRET_LENGTH = 6


def secret_values() -> set[str]:
    """Values that must never reach a log: secrets handed out, and secret-named environment variables."""
    from chalicelib import secrets  # late: keeps chalicelib.ports (pydantic models) out of `import app`

    found = set(secrets.revealed())
    found.update(
        value for name, value in os.environ.items() if any(m in name.upper() for m in SECRET_MARKERS)
    )
    return {value for value in found if len(value) >= MIN_SECRET_LENGTH}


def redact(text: str, values: set[str] | None = None) -> str:
    """`text` with every secret value (also in its JSON-escaped form) and every password written into a
    URL replaced by ***."""
    text = mask_credentials(text)
    for value in sorted(values if values is not None else secret_values(), key=len, reverse=True):
        text = text.replace(value, MASK)
        escaped = json.dumps(value)[1:-1]
        if escaped != value:
            text = text.replace(escaped, MASK)
    return text


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with secret values masked in the finished line (message, extra keys,
    exception text alike)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingFilter(logging.Filter):
    """For plain logging handlers: masks secret values in the record's message and drops its args."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of the record (not at import), so redirections and
    test capture see the lines. Logs go to stderr: stdout belongs to `--json` output in the CLI and to
    EMF documents on Lambda."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _ignored):
        pass


#: Every line carries the version, so two deployments' logs tell which code wrote them.
logger = Logger(
    service=SERVICE,
    logger_handler=StderrHandler(),
    logger_formatter=RedactingFormatter(),
    version=__version__,
)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def install(app) -> None:
    """Register the Powertools middleware on a Chalice app: Lambda context in logs, one metrics flush."""
    from chalice.app import ConvertToMiddleware

    app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context))
    app.register_middleware(ConvertToMiddleware(metrics.log_metrics))


#: tick --json load field -> metric name.
LOAD_METRICS = {
    "load_units": "LoadUnits",
    "meetings": "Rooms",
    "participants": "Participants",
    "voice": "Mics",
    "video_streams": "Webcams",
}
#: fleet state -> metric name.
FLEET_METRICS = {"serving": "Serving", "booting": "Booting", "draining": "Draining"}


def _failed(action: dict) -> bool:
    return str(action.get("result", "")).startswith("failed")


#: After a burst (when the guard measured one) and when the guard changed something (docs/herding.md).
HERDING_METRICS = ("HerdingRoomsCV", "HerdingLoadCV", "OverloadedServers", "GuardChanges")
#: How long the tick took, wall clock (its caller measures it: the tick's document stays its decision).
TICK_SECONDS = "TickSeconds"
#: 1 when a tick that ran could not read the load (every scale-down held), 0 when it could; none from a
#: tick that found the lease held. What an alarm on "the load is unknown" reads (infra/cloudformation/).
LOAD_UNKNOWN = "LoadUnknown"
#: 1 per failure the burst guard survived (it restarts after a backoff), printed as it happens.
GUARD_FAILURES = "GuardFailures"


def emit_tick_metrics(
    metrics: Metrics, tick_result: dict, cluster: str, new_document=None, seconds: float | None = None
) -> None:
    """Turn one tick result (docs/contract.md `tick --json`) into EMF metrics.

    Cluster totals (LoadUnits, Rooms, Participants, Mics, Webcams, Actions, Failures; dimension
    `cluster`) go on `metrics`, flushed once at the end of the invocation by `log_metrics`. Per-provider
    figures (Desired, Serving, Booting, Draining, Actions, Failures; dimensions `cluster`, `provider`)
    need one EMF document per provider, because an EMF document holds one value per metric name; those
    are printed here, one document each. A load that could not be read adds no load metrics (never zeros).
    `new_document()` makes each provider's document (default: an EMF one); `bbbscale run` passes a
    recorder instead, so its Prometheus endpoint serves exactly these figures (adapters/metrics/).
    `seconds`, the tick's wall-clock time, becomes TickSeconds: a tick past the timer's minute (a
    Scalelite that does not answer in time) makes the next one find the lease held. LoadUnknown is 1
    when a tick that ran could not read the load, 0 when it could (none when the lease was held).
    """
    from chalicelib.domain.tick_document import load_unknown  # late, as secrets: keeps `import app` light

    metrics.add_dimension(name="cluster", value=cluster)
    load = tick_result.get("load")
    unknown = load_unknown(tick_result)
    if unknown is not None:
        metrics.add_metric(name=LOAD_UNKNOWN, unit=MetricUnit.Count, value=int(unknown))
    if load:
        for field, name in LOAD_METRICS.items():
            unit = MetricUnit.Count if name != "LoadUnits" else MetricUnit.NoUnit
            metrics.add_metric(name=name, unit=unit, value=float(load.get(field, 0)))
    actions = [a for a in tick_result.get("actions", []) if a.get("action") != "hold"]
    metrics.add_metric(name="Actions", unit=MetricUnit.Count, value=len(actions))
    metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=sum(map(_failed, actions)))
    if seconds is not None:
        metrics.add_metric(name=TICK_SECONDS, unit=MetricUnit.Seconds, value=round(seconds, 3))

    herding = tick_result.get("herding")  # the spread after a burst, when the guard measured one
    if herding:
        metrics.add_metric(name="HerdingRoomsCV", unit=MetricUnit.Percent, value=100 * herding["rooms_cv"])
        metrics.add_metric(name="HerdingLoadCV", unit=MetricUnit.Percent, value=100 * herding["load_cv"])
        metrics.add_metric(name="OverloadedServers", unit=MetricUnit.Count, value=herding["overloaded"])
    if tick_result.get("guard"):
        metrics.add_metric(name="GuardChanges", unit=MetricUnit.Count, value=len(tick_result["guard"]))

    desired, fleet = tick_result.get("desired") or {}, tick_result.get("fleet") or {}
    for provider in sorted(set(desired) | set(fleet)):
        document = new_document() if new_document else EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        document.add_dimension(name="cluster", value=cluster)
        document.add_dimension(name="provider", value=provider)
        if provider in desired:
            document.add_metric(name="Desired", unit=MetricUnit.Count, value=desired[provider])
        states = fleet.get(provider, {})
        for state, name in FLEET_METRICS.items():
            document.add_metric(name=name, unit=MetricUnit.Count, value=states.get(state, 0))
        own = [a for a in actions if a.get("provider") == provider]
        document.add_metric(name="Actions", unit=MetricUnit.Count, value=len(own))
        document.add_metric(name="Failures", unit=MetricUnit.Count, value=sum(map(_failed, own)))
        document.flush_metrics()


def emit_guard_failure(cluster: str, kind: str) -> None:
    """One GuardFailures figure (dimensions `cluster`, `service`, as the tick's cluster totals), printed
    now: a guard run lasts up to 14 minutes, and its failures must not wait for its end. The failure's
    kind (the exception's name) rides along as a property, not a dimension, so one alarm reads them
    all."""
    document = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    document.add_dimension(name="cluster", value=cluster)
    document.add_metric(name=GUARD_FAILURES, unit=MetricUnit.Count, value=1)
    document.add_metadata(key="kind", value=kind)
    document.flush_metrics()


def log_tick(tick_result: dict, cluster: str) -> None:
    """One JSON log line per action (and one for the tick), keyed by tick id, cluster and action, so a
    CloudWatch Logs Insights query can follow a decision from its reason to its result."""
    keys = {"tick": tick_result.get("tick_id"), "cluster": cluster}
    load = tick_result.get("load") or {}
    logger.info(
        "capacity check",
        extra={
            **keys,
            "desired": tick_result.get("desired"),
            "load_units": load.get("load_units"),
            "problems": tick_result.get("problems"),
        },
    )
    for action in tick_result.get("actions", []):
        logger.info(
            f"{action['action']} on {action['provider']}: {action['reason']}",
            extra={
                **keys,
                "action": action["action"],
                "provider": action["provider"],
                "server": action.get("server"),
                "count": action.get("count"),
                "result": action.get("result"),
            },
        )
