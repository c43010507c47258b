"""Chalice entry points: handlers only. Every decision lives in chalicelib/service."""

from chalice import Chalice, Rate

from chalicelib.observability import install

app = Chalice(app_name="bbbscale", configure_logs=False)
install(app)  # Powertools: Lambda context in JSON logs, one EMF metrics flush per invocation


@app.schedule(Rate(1, unit=Rate.MINUTES), name="capacity_check")
def capacity_check(event):
    """One capacity check: the same service function as `bbbscale tick`."""
    from chalicelib.bootstrap import runtime_from_environment

    return runtime_from_environment().tick(dry_run=False)
