"""Posting JSON to chat endpoints (incoming webhooks, Slack's response_url), without leaking them.

Incoming-webhook URLs are credentials (anyone holding one can post), so no error message, log line or
repr here contains a URL: failures name the channel kind and the HTTP status only.
"""

from __future__ import annotations

from chalicelib.ports import UnreachableError

#: Chat endpoints answer in well under a second; a tick must not wait long on a slow one.
TIMEOUT = (3.0, 10.0)


def post_json(url: str, document: dict, channel: str) -> None:
    """POST `document` as JSON to `url`; raise UnreachableError naming `channel` (never the URL)."""
    import requests  # here, not at import: `import app` stays light for Lambda cold starts

    try:
        response = requests.post(url, json=document, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as error:
        raise UnreachableError(f"{channel}: cannot post ({type(error).__name__})") from None
    if response.status_code >= 300:
        raise UnreachableError(f"{channel}: HTTP {response.status_code}")
