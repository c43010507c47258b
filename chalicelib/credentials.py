"""Credentials written into URLs (`https://user:password@host/...`) masked wherever text leaves bbbscale.

Operators do put a password in a URL (a Scalelite behind basic auth, a proxy). Errors, tick problems,
logs and reprs may quote a URL, so every such outlet passes its text through `mask_credentials`:
`http://u:pw@host` becomes `http://u:***@host` (the user stays: it helps to tell which account failed).
"""

from __future__ import annotations

import logging
import re

# scheme://user:password@ — the password runs up to the last "@" before the host's path or the end
# (a password may itself hold "@" or ":" when the operator did not percent-encode it).
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*):(?P<password>[^/\s]*)@")


def mask_credentials(text: str) -> str:
    """`text` with the password of every `scheme://user:password@` replaced by ***."""
    if "@" not in text:
        return text
    return _USERINFO.sub(lambda found: f"{found['head']}:***@", text)


class CredentialFilter(logging.Filter):
    """For a logging handler: masks passwords written into URLs in each record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_credentials(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True
