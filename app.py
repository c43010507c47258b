"""Chalice entry points: handlers only. Every decision lives in chalicelib/service."""

from chalice import Chalice, Rate

app = Chalice(app_name="bbbscale", configure_logs=False)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="capacity_check")
def capacity_check(event):
    """One capacity check: the same service function as `bbbscale tick`."""
    from chalicelib.bootstrap import runtime_from_environment

    return runtime_from_environment().tick(dry_run=False)
