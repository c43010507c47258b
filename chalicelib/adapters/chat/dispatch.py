"""Work that must not hold up an HTTP answer: a capacity check after a closure or a chat change.

Slack wants an answer within 3 seconds and a webhook sender should not wait on a tick, so handlers
submit a `Job` to a `Dispatcher` and answer at once. Two implementations:
  - ThreadDispatcher: one background worker thread (the embedded default, `chalice local`, the CLI);
  - SqsDispatcher: an SQS message, run by the app's `@app.on_sqs_message` handler (on AWS a Lambda is
    frozen once it has answered, so a thread there would not finish).
`Job` (chalicelib/ports.py) is what travels; service/notify.py's `run_job` is the one place a job is
carried out, whichever way it travelled.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Protocol

from chalicelib.ports import BbbscaleError, Job

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """Runs jobs after the current request has been answered. `submit` must return quickly."""

    def submit(self, job: Job) -> None: ...


class ThreadDispatcher:
    """Jobs run one at a time on a background thread, in submission order (ticks never overlap)."""

    def __init__(self, handler: Callable[[Job], object]):  # what the handler returns is not used
        self._handler = handler
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bbbscale-job")
        self._pending: list[Future] = []

    def submit(self, job: Job) -> None:
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._executor.submit(self._guarded, job))

    def _guarded(self, job: Job) -> None:
        try:
            self._handler(job)
        except Exception:  # a background job has no caller to raise to: log it, keep the worker alive
            log.exception("job %s (%s) failed", job.kind, job.reason)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the jobs submitted so far are done; False on timeout (for tests and shutdown)."""
        done, not_done = wait(list(self._pending), timeout=timeout)
        return not not_done


class SqsDispatcher:
    """Jobs become SQS messages on the queue whose URL is in the environment variable `queue_url_env`,
    or else on the queue named by BBBSCALE_JOBS_QUEUE (the Chalice stages name theirs,
    `bbbscale-<stage>-jobs`; its URL is looked up once). Both are read at submit time: Chalice sets stage
    variables only while handling an invocation."""

    QUEUE_NAME_ENV = "BBBSCALE_JOBS_QUEUE"

    def __init__(self, queue_url_env: str, client=None):
        self._queue_url_env = queue_url_env
        self._client = client
        self._urls: dict[str, str] = {}

    def submit(self, job: Job) -> None:
        queue_url, queue_name = os.environ.get(self._queue_url_env), os.environ.get(self.QUEUE_NAME_ENV)
        if not queue_url and not queue_name:
            raise BbbscaleError(
                f"job queue not configured: set {self._queue_url_env} or {self.QUEUE_NAME_ENV}"
            )
        import boto3  # late: keeps `import app` light at cold start
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self._client is None:
                self._client = boto3.client("sqs")
            if not queue_url and queue_name:  # no URL set: the name is (one of the two is, above)
                queue_url = self._url_of(queue_name)
            self._client.send_message(QueueUrl=queue_url, MessageBody=job.to_json())
        except (BotoCoreError, ClientError) as error:
            raise BbbscaleError(f"job queue refused the job: {type(error).__name__}") from None

    def _url_of(self, queue_name: str) -> str:
        from botocore.exceptions import ClientError

        if queue_name not in self._urls:
            try:
                self._urls[queue_name] = self._client.get_queue_url(QueueName=queue_name)["QueueUrl"]
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                raise BbbscaleError(
                    f"job queue {queue_name} not found ({code}): create it with "
                    f"infra/cloudformation/state.yaml, or set {self._queue_url_env}"
                ) from None
        return self._urls[queue_name]


def dispatcher_for(chat_settings, handler: Callable[[Job], object]) -> Dispatcher:
    """The dispatcher the configuration names (`chat.dispatcher`: thread | sqs)."""
    if getattr(chat_settings, "dispatcher", "thread") == "sqs":
        return SqsDispatcher(chat_settings.jobs_queue_url_env)
    return ThreadDispatcher(handler)
