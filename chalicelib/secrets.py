"""Where secrets come from: the environment first, else SSM Parameter Store or Secrets Manager.

A secret is asked for by its environment variable name (docs/contract.md: BBBSCALE_WEBHOOK_SECRET, ...).
When the variable is unset (or empty) and a store is configured, the name maps to a parameter:
`BBBSCALE_WEBHOOK_SECRET` -> `<prefix>webhook-secret` (the `BBBSCALE_` head dropped, lower case, `_` -> `-`),
with prefixes from `BBBSCALE_SSM_PREFIX` (e.g. `/bbbscale/prod/`, SecureString, decrypted) and then
`BBBSCALE_SECRETS_PREFIX` (e.g. `bbbscale/prod/`, Secrets Manager). Powertools' providers cache each value
for `max_age` seconds, so a warm Lambda does not call AWS every minute; a miss is remembered as long (a
secret kept in Secrets Manager was first asked of SSM at every lookup: ten booting servers, ten SSM calls
in one tick, and a surge's hundreds risk SSM's throttling). A parameter that does not exist is
None (the route answers 503); any other failure raises one error naming the parameter. Values are never
logged, put in reprs or in error messages; each value found is remembered for log redaction.
"""

from __future__ import annotations

import os
import threading
import time

from chalicelib.ports import BbbscaleError

_NOT_FOUND = {"ParameterNotFound", "ResourceNotFoundException"}
_revealed: set[str] = set()
_revealed_lock = threading.Lock()


class SecretError(BbbscaleError):
    """A configured secret store could not be read (denied, unreachable). Names the parameter only."""


def parameter_name(prefix: str, name: str) -> str:
    """The store's name for an environment variable name, under `prefix`."""
    short = name.removeprefix("BBBSCALE_").lower().replace("_", "-")
    return f"{prefix}{short}"


def revealed() -> frozenset[str]:
    """Every secret value handed out so far (for log redaction; never for output)."""
    with _revealed_lock:
        return frozenset(_revealed)


def _remember(value: str | None) -> str | None:
    if value:
        with _revealed_lock:
            _revealed.add(value)
    return value


class SecretSource:
    """Looks secrets up: environment, then SSM (if `ssm_prefix`), then Secrets Manager (if
    `secrets_prefix`). Clients are made on first use (boto3 honours AWS_ENDPOINT_URL) unless given."""

    def __init__(
        self,
        ssm_prefix: str | None = None,
        secrets_prefix: str | None = None,
        max_age: int = 300,
        environ=None,
        ssm_client=None,
        secrets_client=None,
    ):
        self.ssm_prefix, self.secrets_prefix, self.max_age = ssm_prefix, secrets_prefix, max_age
        # None: the process environment as it is at each lookup. Not `os.environ` captured here: Chalice
        # (the test client, `chalice local`) swaps os.environ for a copy with the stage's variables while
        # it handles an invocation, and a source made then would keep that stage's copy for good.
        self._environ = environ
        self._clients = {"ssm": ssm_client, "secretsmanager": secrets_client}
        self._providers: dict[str, object] = {}
        self._lock = threading.Lock()
        self._missing: dict[tuple[str, str], float] = {}  # (service, parameter) -> when to ask again

    def __repr__(self) -> str:
        return f"SecretSource(ssm_prefix={self.ssm_prefix!r}, secrets_prefix={self.secrets_prefix!r})"

    def __call__(self, name: str) -> str | None:
        """The secret's value, or None when it is configured nowhere."""
        value = (os.environ if self._environ is None else self._environ).get(name)
        if value:
            return _remember(value)
        if self.ssm_prefix:
            value = self._fetch("ssm", parameter_name(self.ssm_prefix, name))
            if value is not None:
                return _remember(value)
        if self.secrets_prefix:
            return _remember(self._fetch("secretsmanager", parameter_name(self.secrets_prefix, name)))
        return None

    def _provider(self, service: str):
        with self._lock:
            if service not in self._providers:
                from aws_lambda_powertools.utilities import parameters

                kind = parameters.SSMProvider if service == "ssm" else parameters.SecretsProvider
                self._providers[service] = kind(boto3_client=self._clients[service])
            return self._providers[service]

    def _fetch(self, service: str, parameter: str) -> str | None:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        options = {"decrypt": True} if service == "ssm" else {}
        with self._lock:
            if self._missing.get((service, parameter), 0.0) > time.monotonic():
                return None
        try:
            value = self._provider(service).get(parameter, max_age=self.max_age, **options)
        except GetParameterError as error:
            # Powertools wraps the SDK error; the original (with its code) is the context.
            code = getattr(error.__context__, "response", {}).get("Error", {}).get("Code", "")
            if code in _NOT_FOUND:
                if self.max_age > 0:
                    with self._lock:
                        self._missing[(service, parameter)] = time.monotonic() + self.max_age
                return None
            reason = code or type(error.__context__).__name__
            raise SecretError(f"cannot read secret {parameter} from {service}: {reason}") from None
        return value if isinstance(value, str) else None


_sources: dict[tuple, SecretSource] = {}
_default_lock = threading.Lock()


def source_from_environment() -> SecretSource:
    """The process's SecretSource, configured by BBBSCALE_SSM_PREFIX / BBBSCALE_SECRETS_PREFIX and
    BBBSCALE_SECRETS_MAX_AGE (seconds, default 300). Read at each call, not at import: Chalice sets
    stage variables only during an invoke, and one process (the test client) may serve several stages;
    one source (and its cache) per setting."""
    key = (
        os.environ.get("BBBSCALE_SSM_PREFIX") or None,
        os.environ.get("BBBSCALE_SECRETS_PREFIX") or None,
        int(os.environ.get("BBBSCALE_SECRETS_MAX_AGE", "300")),
    )
    with _default_lock:
        if key not in _sources:
            _sources[key] = SecretSource(ssm_prefix=key[0], secrets_prefix=key[1], max_age=key[2])
        return _sources[key]


def secret(name: str) -> str | None:
    """The secret named by environment variable `name`: environment first, then the configured stores."""
    return source_from_environment()(name)
