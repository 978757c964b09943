"""Nothing on the page reaches a third party: Gradio's page template asks the browser for
a script on cdnjs.cloudflare.com (iframe resizing, for embedding in other sites) and
preconnects to Google Fonts. This ASGI middleware strips such tags from the HTML the
server sends, so a visit is seen by this server alone (and the page does not wait on
hosts an offline machine cannot reach). The theme uses the system's fonts (``THEME``)."""

from __future__ import annotations

import re
from typing import Any

# a <script src=...> or <link href=...> tag that names another host
EXTERNAL_TAG = re.compile(rb'<script\b[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>'
                          rb'|<link\b[^>]*\shref="https?://[^"]*"[^>]*>')
SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "sans-serif")


def theme() -> Any:
    """Gradio's default theme with the system's fonts instead of Google Fonts."""
    import gradio as gr

    return gr.themes.Default(font=SYSTEM_FONTS)


def strip_external(html: bytes) -> bytes:
    """``html`` without script and link tags that load from another host."""
    return EXTERNAL_TAG.sub(b"", html)


class LocalOnly:
    """ASGI middleware: HTML responses lose their third-party script and link tags."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict | None = None
        body: list[bytes] = []

        async def wrapped(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if headers.get(b"content-type", b"").startswith(b"text/html"):
                    start = message  # held until the whole page is here
                    return
            elif start is not None and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                page = strip_external(b"".join(body))
                headers = [(k, v) for k, v in start.get("headers", [])
                           if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(page)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": page})
                return
            await send(message)

        await self.app(scope, receive, wrapped)
