"""State backends: where bbbscale keeps its servers, history, settings, reservations and tick lease.

`open_store(settings)` builds the backend the configuration names (registry STATE_BACKENDS), scoped to
the configured cluster. Nothing heavy is imported here: boto3 loads only with the DynamoDB backend.
"""

from __future__ import annotations


def open_store(settings, **options):
    """The StateStore named by `settings.state.backend`, for `settings.cluster`. `options` go to the
    backend's constructor (e.g. `endpoint_url=` for DynamoDB in tests)."""
    from chalicelib.registry import STATE_BACKENDS, resolve

    state = settings.state
    backend = resolve(STATE_BACKENDS, state.backend, "state backend")
    if state.backend == "sqlite":
        return backend(state.path, cluster=settings.cluster, history_ttl_days=state.history_days, **options)
    if state.backend == "dynamodb":
        return backend(state.table, cluster=settings.cluster, history_ttl_days=state.history_days, **options)
    return backend(cluster=settings.cluster, history_ttl_days=state.history_days, **options)
