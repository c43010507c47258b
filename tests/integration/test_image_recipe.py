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


def test_every_file_the_playbook_installs_exists():
    import yaml

    (play,) = yaml.safe_load((IMAGE / "playbook.yml").read_text())
    sources = []
    for task in play["tasks"]:
        for module in ("ansible.builtin.copy", "ansible.builtin.template"):
            src = (task.get(module) or {}).get("src")
            if src:
                items = task.get("loop") or [None]
                sources += [src.replace("{{ item }}", str(item)) for item in items]
    assert sources and all((IMAGE / src).is_file() for src in sources), sources


def test_the_build_installs_packages_only_and_leaves_configuration_to_the_first_boot():
    """At build: no certificate (-d/-e), the external-TURN form (-c: no coturn, no haproxy with a
    placeholder name); the first boot runs bbb-install with the server's own parameters."""
    text = (IMAGE / "playbook.yml").read_text()
    (line,) = [x for x in text.splitlines() if "bbb-install.sh -v" in x]
    assert " -c {{ bbb_build_turn }}" in line and " -w" in line and " -e " not in line and " -d" not in line
    assert "scalelite_post_publish.rb" in text and "post_publish/" in text
