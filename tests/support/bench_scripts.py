"""A script of bench/ as a module, for the tests of what it computes (bench/ is no package: its scripts
run as files)."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


@cache
def load_bench(name: str) -> ModuleType:
    """bench/`name`.py, loaded once; registered under `name` (dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
