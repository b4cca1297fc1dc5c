"""A cap on the size of every API request body in public mode, so no endpoint receives a megabyte of text.

Gradio caps uploads (``max_file_size``) but not the JSON of an API call: a script can send any string input at
any length, and Gradio's own choice check then echoes it back whole in its error. One cap in front of every
endpoint bounds them all, including tabs added later; file uploads keep their own route and cap.
"""

from __future__ import annotations

import json

from starlette.middleware import Middleware

# Far above what the page sends (prompts and conversations are capped at 8,000 characters; a chat history's JSON
# is a few times that), far below what would cost the server anything.
MAX_BODY_BYTES = 256 * 1024
UPLOAD_ROUTES = ("/gradio_api/upload", "/upload")  # multipart files: Gradio's max_file_size applies there


class BodyLimit:
    """Pure ASGI middleware: refuse a request whose body is over ``max_bytes`` with 413, declared or streamed."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path", "").rstrip("/") in UPLOAD_ROUTES:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def counting_receive():  # a body sent without a length (chunked) is counted as it arrives
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    return {"type": "http.disconnect"}  # the app stops reading; nothing of it is kept
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send) -> None:
        body = json.dumps(
            {
                "error": f"request too large: this server takes up to {self.max_bytes // 1024} KB per "
                "request (prompts up to 8,000 characters)"
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def middleware(max_bytes: int = MAX_BODY_BYTES) -> Middleware:
    """For ``launch(app_kwargs={"middleware": [middleware()]})``."""
    return Middleware(BodyLimit, max_bytes=max_bytes)
