"""Layers point down: each part of chalicelib imports only the parts below it, and no two modules import
each other, however far round (imports inside functions count: they tie the modules all the same).

From the ground up: errors.py, load_units.py and credentials.py; config.py (the settings model, with
its larger sections beside it: config_guard.py, config_forecast.py, config_dns.py, on config_strict.py); domain/
(pure); ports.py (with state_ports.py, what the services keep between ticks); the registry (adapters named by string, imported on use) and the simulator's port
(plugins.py: the simulator itself, bbbsim/, sits outside chalicelib and is never imported from it,
tests/unit/test_simulator_outside.py); service/ beside secrets.py and observability.py; adapters/; then
the loader (config_file.py), bootstrap and the entry points, which may use everything below them. Read from the source with `ast`, so nothing is
imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The floors every part above the registry may use.
LOW = (
    "chalicelib.domain.",
    "chalicelib.ports",
    "chalicelib.state_ports",
    "chalicelib.config",
    "chalicelib.errors",
    "chalicelib.load_units",
    "chalicelib.credentials",
    "chalicelib.untrusted_json",
)
#: What each low part may import of ours (by module name prefix); anything else of ours is refused.
ALLOWED = {
    "chalicelib.errors": (),
    "chalicelib.load_units": (),
    "chalicelib.credentials": (),
    "chalicelib.untrusted_json": (),  # bounded JSON parsing: adapters and services read untrusted bodies
    "chalicelib.config_bounds": (),
    "chalicelib.config_strict": (),
    "chalicelib.config_guard": ("chalicelib.config_strict",),
    "chalicelib.config_forecast": ("chalicelib.config_strict",),
    "chalicelib.config_dns": ("chalicelib.config_strict",),
    "chalicelib.config": (
        "chalicelib.errors",
        "chalicelib.load_units",
        "chalicelib.config_bounds",
        "chalicelib.config_strict",
        "chalicelib.config_guard",
        "chalicelib.config_forecast",
        "chalicelib.config_dns",
    ),
    "chalicelib.domain.": (
        "chalicelib.domain.",
        "chalicelib.config",
        "chalicelib.errors",
        "chalicelib.load_units",
    ),
    "chalicelib.ports": ("chalicelib.domain.", "chalicelib.errors", "chalicelib.state_ports"),
    "chalicelib.state_ports": ("chalicelib.domain.",),
    "chalicelib.registry": ("chalicelib.config",),
    "chalicelib.plugins": ("chalicelib.config",),
    "chalicelib.service.": (
        "chalicelib",  # its version, for tick --json
        "chalicelib.service.",
        *LOW,
    ),
    "chalicelib.adapters.": (
        "chalicelib.adapters.",
        "chalicelib.registry",
        "chalicelib.observability",  # the metrics endpoint serves what observability records
        *LOW,
    ),
}


def modules() -> dict[str, Path]:
    found = {"app": ROOT / "app.py"}
    for path in (ROOT / "chalicelib").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = modules()


def imports_of(name: str) -> set[str]:
    """Our modules that `name` imports, anywhere in the file (a name imported from a package counts as
    its module when it is one, else as the package)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                inner = f"{node.module}.{alias.name}"
                found.add(inner if inner in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or (p.endswith(".") and module.startswith(p)) for p in prefixes)


def upward(graph: dict[str, set[str]], part: str) -> list[str]:
    """Imports by modules of `part` of anything outside what ALLOWED lets it use."""
    return sorted(
        f"{name} -> {module}"
        for name, imported in graph.items()
        if within(name, (part,))
        for module in imported
        if not within(module, ALLOWED[part])
    )


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_the_low_parts_import_nothing_above_them(part):
    assert upward(GRAPH, part) == []


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected groups of two modules or more (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            step = next(pending, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(frozenset(group))
    return found


def test_no_import_circle():
    assert [sorted(c) for c in circles(GRAPH)] == []


def test_the_checks_catch_what_they_are_for():
    """A circle far round, and an upward import, in a made-up house; and the real graph is read."""
    house = {
        "chalicelib.config": {"chalicelib.errors"},
        "chalicelib.errors": set(),
        "chalicelib.domain.a": {"chalicelib.domain.b", "chalicelib.config"},
        "chalicelib.domain.b": {"chalicelib.ports"},
        "chalicelib.ports": {"chalicelib.domain.a"},
        "app": {"chalicelib.ports"},
    }
    assert circles(house) == [frozenset({"chalicelib.domain.a", "chalicelib.domain.b", "chalicelib.ports"})]
    assert upward(house, "chalicelib.domain.") == ["chalicelib.domain.b -> chalicelib.ports"]
    assert upward(house, "chalicelib.config") == []
    assert "chalicelib.config" in GRAPH["chalicelib.domain.planner"]
    assert "chalicelib.adapters.providers.userdata" in GRAPH["chalicelib.config_file"]  # inside a function
