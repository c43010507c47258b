"""The simulator stays beside production (issue 21): no module of chalicelib/ nor app.py imports it or
names one of its modules for a later import; production reaches it only through the entry point
(chalicelib/plugins.py), and when no simulator is installed whatever needed it fails with one clear
error naming what is missing. Read from the source with `ast`: nothing is imported to check it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from chalicelib import cli, fleets, plugins
from chalicelib.config_file import load_settings
from tests.support.cli_runs import run_main

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = "bbbsim"
#: A module path of the simulator, as an import or a "module:attr" string names it.
NAMED = re.compile(rf"^(?:{SIMULATOR}|chalicelib\.sim)(?:$|[.:])")


def production() -> dict[str, str]:
    """Every production source, by path: app.py and chalicelib/."""
    paths = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in paths}


def reaches_the_simulator(source: str) -> list[str]:
    """What in `source` imports the simulator or names one of its modules (a string an import_module,
    a registry entry or an entry point would load), anywhere in the file, functions included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if NAMED.match(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if NAMED.match(node.module):
                found.append(f"from {node.module} import ...")
            elif node.module == "chalicelib" and any(a.name == "sim" for a in node.names):
                found.append("from chalicelib import sim")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and NAMED.match(node.value):
            found.append(f"the string {node.value!r}")
    return found


def test_no_production_module_imports_or_names_the_simulator():
    sources = production()
    assert "chalicelib/plugins.py" in sources and "app.py" in sources
    reached = {path: found for path, source in sources.items() if (found := reaches_the_simulator(source))}
    assert reached == {}
    assert not (ROOT / "chalicelib" / "sim").exists(), "the simulator lives in bbbsim/, beside chalicelib"


def test_the_scan_catches_what_it_is_for():
    made_up = (
        "import bbbsim\n"
        "def f():\n    from bbbsim.world import SimWorld\n"
        "from chalicelib.sim import replay\n"
        "from chalicelib import sim\n"
        "CLASS = 'bbbsim.cloud:SimulatedCloud'\n"
        "PACKAGE = 'bbbsim'\n"
        "import bbbsimulator, os\nNOTE = 'the bbbsim package'\n"
    )
    assert sorted(reaches_the_simulator(made_up)) == [
        "from bbbsim.world import ...",
        "from chalicelib import sim",
        "from chalicelib.sim import ...",
        "import bbbsim",
        "the string 'bbbsim'",
        "the string 'bbbsim.cloud:SimulatedCloud'",
    ]


def test_the_installed_simulator_is_found_through_its_entry_point():
    found = plugins.simulator("a test")
    assert type(found).__module__ == "bbbsim.plugin"
    assert list(found.commands) == list(cli.SIMULATOR_COMMANDS)
    assert found.provider_class("simulated").__name__ == "SimulatedCloud"


@pytest.fixture
def no_simulator(monkeypatch):
    """An installation without the simulator: its entry point is not there (as in the Lambda package)."""
    monkeypatch.setattr(plugins, "entry_points", lambda **_: ())
    plugins.installed.cache_clear()
    yield
    plugins.installed.cache_clear()


REAL = """
cluster = "real"
[scalelite]
url = "http://127.0.0.1:9/bigbluebutton/api"
[providers.owned]
kind = "static"
mode = "static"
min_servers = 1
max_servers = 1
quota = 1
[providers.owned.options]
servers = [{ name = "bbb01", url = "https://bbb01.example.org/bigbluebutton/api" }]
"""


def test_without_the_simulator_each_need_of_it_is_one_clear_error(no_simulator, tmp_path, capsys):
    missing = "needs the simulator, which is not installed: no entry point 'simulator' in group"
    with pytest.raises(plugins.SimulatorMissing, match="providers.owned.kind 'simulated' " + missing):
        load_settings()  # the built-in configuration is the simulated fleet
    real = tmp_path / "real.toml"
    real.write_text(REAL, encoding="utf-8")
    assert not fleets.simulated(load_settings(real))  # a real fleet's configuration needs no simulator

    said = run_main(capsys, "--config", str(real), "simulate", "--trace", "x.csv", "--plot", "p.png", "-h")
    line = said.assert_failed(2, "bbbscale simulate: bbbscale simulate " + missing, "'bbbscale.plugins'")
    assert line.endswith(
        "(the package 'bbbsim', shipped in the bbbscale wheel; a checkout gets it from `./dev setup`)"
    )
    run_main(capsys, "demo").assert_failed(2, "bbbscale demo: providers.owned.kind 'simulated' " + missing)
    run_main(capsys, "tick").assert_failed(2, missing)
    listed = run_main(capsys, "--help")
    assert "trace" in listed.out and "(needs the simulator, which is not installed)" in listed.out


def test_without_the_simulator_a_simulated_fleet_is_one_clear_error(monkeypatch):
    settings = load_settings()  # read while the simulator is there
    monkeypatch.setattr(plugins, "entry_points", lambda **_: ())
    plugins.installed.cache_clear()
    try:
        with pytest.raises(
            plugins.SimulatorMissing, match=r"^the simulated fleet \(the embedded default\) needs"
        ):
            with fleets.for_command(settings):
                pass
        monkeypatch.delenv("BBBSCALE_CONFIG", raising=False)
        with pytest.raises(plugins.SimulatorMissing, match="needs the simulator"):
            fleets.from_environment()
    finally:
        plugins.installed.cache_clear()
