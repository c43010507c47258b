"""Where `tick` and `run` keep their SQLite state when the configuration does not say (README "On a
plain VM"): the user's state directory, so a tick run from any directory leaves no database or WAL in it.
"""

from __future__ import annotations

import os

from chalicelib.config import StateSettings


def state_home() -> str:
    """$XDG_STATE_HOME/bbbscale, else ~/.local/state/bbbscale (the XDG base directory default)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "bbbscale")


def with_state_path(option: str | None, settings):
    """The settings with the state file where `--state` (`option`) says, else where BBBSCALE_STATE_PATH
    says (as for `chalice local`), else, when the configuration leaves `[state] path` at its bare default
    (`bbbscale.sqlite3`, the built-in configuration's), in `state_home()`. Any other configured path
    stays as it is."""
    if settings.state.backend != "sqlite":
        return settings
    path = option or os.environ.get("BBBSCALE_STATE_PATH")
    if not path and settings.state.path == StateSettings().path:
        path = os.path.join(state_home(), settings.state.path)
    if not path:
        return settings
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return settings.model_copy(update={"state": settings.state.model_copy(update={"path": path})})
