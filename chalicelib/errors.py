"""The root of bbbscale's own errors, at the ground floor so that every layer can raise one.

Each error bbbscale reports is one clear line (never a traceback): the CLI exits 1 or 2 with it, the
handlers answer with it. Port errors (chalicelib/ports.py) and ConfigError (chalicelib/config.py)
derive from it; they live with what raises them, this base lives below them all.
"""

from __future__ import annotations


class BbbscaleError(Exception):
    """Base of every error bbbscale reports as one clear line."""
