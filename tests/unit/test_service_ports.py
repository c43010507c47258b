"""Each service takes the ports it uses and nothing more (issue 21, chalicelib/service/service_ports.py).

Read from the source with `ast`: every `ports.<name>` and `self.ports.<name>` in the modules a bundle is
handed to, with a bundle method (`bbb_of`, `forecast`) standing for the ports its body reads. A port a
bundle carries that none of its modules reads fails the test (mypy already refuses a read of a port the
bundle lacks); so does a mutable memory back in the frozen `FleetPorts`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from pathlib import Path

import pytest

from chalicelib.service import service_ports
from chalicelib.service.dry_run import DryRunPorts
from chalicelib.service.fleet_ports import FleetPorts
from chalicelib.service.room_memory import GuardMemory

SERVICE = Path(__file__).resolve().parents[2] / "chalicelib" / "service"

#: Each bundle and the modules it is handed to (the actuator hands its bundle on to creation and DNS).
BUNDLES = {
    service_ports.ObservePorts: ("observe.py",),
    service_ports.ActuatorPorts: ("actuator.py", "creation.py", "dns.py"),
    service_ports.CreationPorts: ("creation.py",),
    service_ports.DnsPorts: ("dns.py",),
    service_ports.GuardPorts: ("guard.py", "guard_reads.py", "guard_changes.py"),
    DryRunPorts: ("dry_run.py",),  # the pattern the others follow
}


def _reads(source: str) -> set[str]:
    """The names read off `ports` or `self.ports` in a module's source."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id == "ports":
            names.add(node.attr)
        elif isinstance(owner, ast.Attribute) and owner.attr == "ports" and isinstance(owner.value, ast.Name):
            if owner.value.id == "self":
                names.add(node.attr)
    return names


def _members(bundle: type) -> set[str]:
    """The ports a bundle carries: a dataclass's fields, a Protocol's properties."""
    if dataclasses.is_dataclass(bundle):
        return {f.name for f in dataclasses.fields(bundle)}
    return {name for name, value in vars(bundle).items() if isinstance(value, property)}


def _method_reads(bundle: type) -> dict[str, set[str]]:
    """What each method of a bundle (its own or a mixin's) reads off `self`."""
    out: dict[str, set[str]] = {}
    for cls in bundle.__mro__:
        for name, value in vars(cls).items():
            if name.startswith("_") or not inspect.isfunction(value) or name in out:
                continue
            tree = ast.parse(textwrap.dedent(inspect.getsource(value)))
            out[name] = {
                n.attr
                for n in ast.walk(tree)
                if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
            }
    return out


def unused_ports(bundle: type, sources: list[str]) -> set[str]:
    """The ports `bundle` carries that none of `sources` reads (directly or through a bundle method)."""
    methods = _method_reads(bundle)
    used: set[str] = set()
    for source in sources:
        for name in _reads(source):
            used |= methods.get(name, {name})
    return _members(bundle) - used


@pytest.mark.parametrize("bundle", list(BUNDLES), ids=lambda b: b.__name__)
def test_a_bundle_carries_only_the_ports_its_service_reads(bundle):
    sources = [(SERVICE / name).read_text() for name in BUNDLES[bundle]]
    assert not unused_ports(bundle, sources), f"{bundle.__name__} carries ports its service never reads"
    assert _members(bundle), "a bundle names its ports"


@pytest.mark.parametrize("bundle", list(BUNDLES), ids=lambda b: b.__name__)
def test_every_read_is_a_port_of_the_bundle(bundle):
    """The other way round (mypy checks it too): a service reads nothing its bundle lacks."""
    known = _members(bundle) | set(_method_reads(bundle))
    for name in BUNDLES[bundle]:
        stray = _reads((SERVICE / name).read_text()) - known
        assert not stray, f"{name} reads {sorted(stray)} beyond {bundle.__name__}"


def test_the_scan_catches_a_port_no_one_reads():
    """The check can fail: a bundle with one port more than its service reads is caught."""

    @dataclasses.dataclass(frozen=True)
    class Wider(service_ports.ObservePorts):
        clock: object = None

    source = (SERVICE / "observe.py").read_text()
    assert unused_ports(Wider, [source]) == {"clock"}
    assert unused_ports(service_ports.GuardPorts, ["def f(ports):\n    return ports.scalelite\n"]) == {
        "settings",
        "store",
        "bbb",
        "clock",
        "forecaster",
        "parallel_checks",
    }


def test_a_method_read_stands_for_the_ports_its_body_reads():
    assert unused_ports(service_ports.GuardPorts, ["ports.forecast(now)"]) >= {"scalelite"}
    assert "forecaster" not in unused_ports(service_ports.GuardPorts, ["ports.forecast(now)"])


def test_the_frozen_ports_hold_no_mutable_memory():
    """The process's memory (room sizes, the guard itself) is owned beside the ports, not inside."""
    kinds = {f.name: f.type for f in dataclasses.fields(FleetPorts)}
    assert "memory" not in kinds and not any("GuardMemory" in str(t) for t in kinds.values())
    for bundle in [FleetPorts, *(b for b in BUNDLES if dataclasses.is_dataclass(b))]:
        assert bundle.__dataclass_params__.frozen, f"{bundle.__name__} is frozen"  # type: ignore[attr-defined]
        assert not any("GuardMemory" in str(f.type) for f in dataclasses.fields(bundle))
    assert not GuardMemory.__dataclass_params__.frozen  # type: ignore[attr-defined] - it is the mutable one
