"""The settings store is the operator's (freeze, floors, drain requests) and nothing else: no
production module reads or writes another key there (issue 21). The stores refuse such a key at run
time (tests/contract/test_kept_state.py); this reads the source with `ast`, so a module on a path no
test runs is caught too."""

from __future__ import annotations

import ast
from pathlib import Path

from chalicelib.domain import overrides
from chalicelib.domain.overrides import OPERATOR_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
#: The names production code may give a settings key: the operator settings' constants.
KEY_NAMES = {
    name
    for name in dir(overrides)
    if isinstance(getattr(overrides, name), str) and getattr(overrides, name) in OPERATOR_SETTINGS
}


def settings_calls(tree: ast.AST) -> list[tuple[int, ast.expr | None]]:
    """(line, key argument) of every `<...>.settings.get(...)` / `.put(...)` call in a module."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "put")
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "settings"
        ):
            found.append((node.lineno, node.args[0] if node.args else None))
    return found


def stray_keys(source: str) -> list[str]:
    """The settings keys of a module that are neither an operator setting's text nor its constant."""
    stray = []
    for line, key in settings_calls(ast.parse(source)):
        if isinstance(key, ast.Constant) and key.value in OPERATOR_SETTINGS:
            continue
        if isinstance(key, ast.Name) and key.id in KEY_NAMES:
            continue
        stray.append(f"{line}: {ast.unparse(key) if key is not None else '(no key)'}")
    return stray


def test_no_production_module_keeps_its_state_in_the_operator_settings():
    modules = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    found = {
        str(path.relative_to(ROOT)): stray
        for path in modules
        if (stray := stray_keys(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_scan_sees_what_it_is_for():
    """A settings call under another key (a constant, an f-string, a variable) is caught; the
    operator's are not; a `settings` that is the configuration's (`settings.get` absent) is no call."""
    source = """
store.settings.put(FREEZE, None)
store.settings.get("floors", None)
ports.store.settings.put(GUARD_CORDONS, held)
self.store.settings.get(f"load_slots:{day}", None)
store.settings.put(key, value)
settings.guard.enabled
"""
    assert stray_keys(source) == ["4: GUARD_CORDONS", "5: f'load_slots:{day}'", "6: key"]
