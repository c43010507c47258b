"""Adapters stay light to import (configuration validation imports them at cold start): no SDK loads
until an adapter makes its first call. Checked in a fresh interpreter."""

import subprocess
import sys
from pathlib import Path

from chalicelib.registry import PROVIDERS


def test_importing_every_adapter_loads_no_sdk():
    code = (
        "import sys\n"
        "from chalicelib.registry import resolve, PROVIDERS\n"
        "for kind in ['openstack', 'cloudstack', 'outscale', 'ec2', 'scaleway', 'static']:\n"
        "    assert resolve(PROVIDERS, kind, 'provider kind').Options\n"
        "heavy = [m for m in ('libcloud', 'boto3', 'botocore', 'requests') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
    assert {"openstack", "cloudstack", "outscale", "ec2", "scaleway", "static"} <= set(PROVIDERS)
