"""The prepared-image recipe (infra/image): the playbook parses and passes ansible-lint, the first-boot
script parses, and it reads every parameter the cloud-init template hands it."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "infra" / "image"
TEMPLATE = ROOT / "chalicelib" / "adapters" / "providers" / "cloud-init.yaml.tmpl"


def _tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install -r requirements-dev.txt installs it)")
    return found


def _run(args, tmp_path):
    env = {**os.environ, "ANSIBLE_LOCAL_TEMP": str(tmp_path), "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    return subprocess.run(args, cwd=IMAGE, env=env, capture_output=True, text=True, timeout=240)


def test_playbook_syntax(tmp_path):
    result = _run([_tool("ansible-playbook"), "--syntax-check", "-i", "localhost,", "playbook.yml"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_playbook_passes_ansible_lint(tmp_path):
    result = _run([_tool("ansible-lint"), "--offline", "playbook.yml"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_firstboot_script_parses_and_reads_every_boot_parameter():
    script = IMAGE / "files" / "bbbscale-firstboot.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    keys = re.findall(r"^\s+([A-Z_]+)=\$", TEMPLATE.read_text(), flags=re.M)
    assert "BBB_SECRET" in keys and len(keys) >= 10
    text = script.read_text()
    unread = [
        key for key in keys if not re.search(r"\$\{?" + key + r"\b", text) and key != "BBBSCALE_CLUSTER"
    ]
    assert unread == [], f"first-boot script ignores {unread}"
