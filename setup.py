"""The wheel's import name: `bbbscale`, not `chalicelib`.

`chalicelib/` is Chalice's layout (the one folder Lambda packages beside app.py), and the checkout keeps
it: app.py, the tests and `python -m chalicelib` import it by that name. An installed package named
`chalicelib` would collide with any other Chalice app in the same environment, so the wheel carries the
same modules as the package `bbbscale`: `build_py` copies `chalicelib/` to `bbbscale/` and rewrites the
name `chalicelib` to `bbbscale` in its Python sources (imports, and the registry's "module:Class"
strings), and the `bbbscale` command points at `bbbscale.cli:main`. The simulator (`bbbsim/`, beside
`chalicelib/`, plugged in by the entry point PLUGINS declares) installs under its own name, its
imports of `chalicelib` rewritten the same way. Nothing else differs: the
end-to-end test (tests/e2e/test_wheel.py) installs the wheel alone and runs the commands from an empty
directory.

The editable install of the checkout (`./dev setup`: `pip install -e .`, command `editable_wheel`)
keeps `chalicelib`, as the tree's own imports need. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

SOURCE = "chalicelib"
INSTALLED = "bbbscale"
#: The simulator, a top-level package beside chalicelib (plugged in by pyproject.toml's entry point); it
#: installs under its own name, its imports of `chalicelib` renamed like the package's own.
SIMULATOR = "bbbsim"
#: The simulator's plug: chalicelib/plugins.py looks this entry point up (both installs register it).
PLUGINS = {"bbbscale.plugins": [f"simulator = {SIMULATOR}.plugin:SIMULATOR"]}
NAME = re.compile(rf"\b{SOURCE}\b")
DATA = ["*.toml", "**/*.toml", "**/*.j2", "**/*.csv", "**/*.tmpl"]
EDITABLE = any(command in sys.argv for command in ("editable_wheel", "develop"))


class RenamingBuildPy(build_py):
    """Copies the package as setuptools does, then rewrites `chalicelib` to `bbbscale` in the copies
    (Python sources only: data files are read by path, not imported)."""

    def run(self) -> None:
        super().run()
        paths = [
            *Path(self.build_lib, INSTALLED).rglob("*.py"),
            *Path(self.build_lib, SIMULATOR).rglob("*.py"),
        ]
        for path in paths:
            text = path.read_text(encoding="utf-8")
            renamed = NAME.sub(INSTALLED, text)
            if renamed != text:
                path.write_text(renamed, encoding="utf-8")


SIMULATOR_PACKAGES = find_packages(include=[SIMULATOR, f"{SIMULATOR}.*"])

if EDITABLE:
    setup(
        packages=find_packages(include=[SOURCE, f"{SOURCE}.*"]) + SIMULATOR_PACKAGES,
        package_data={SOURCE: DATA},
        entry_points={"console_scripts": [f"bbbscale = {SOURCE}.cli:main"], **PLUGINS},
    )
else:
    packages = [INSTALLED + name[len(SOURCE) :] for name in find_packages(include=[SOURCE, f"{SOURCE}.*"])]
    setup(
        packages=packages + SIMULATOR_PACKAGES,
        package_dir={INSTALLED: SOURCE},
        package_data={INSTALLED: DATA},
        entry_points={"console_scripts": [f"bbbscale = {INSTALLED}.cli:main"], **PLUGINS},
        cmdclass={"build_py": RenamingBuildPy},
    )
