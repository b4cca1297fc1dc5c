"""What the server refuses before Gradio sees a request: a body over the cap (public mode), and a hidden file of a
served folder.

Gradio caps uploads (``max_file_size``) but not the JSON of an API call: a script can send any string input at
any length, and Gradio's own choice check then echoes it back whole in its error. One cap in front of every
endpoint bounds them all, including tabs added later; file uploads keep their own route and cap.

Gradio's file route serves everything under ``allowed_paths``, dot-files included: under the runs folder those are
the server's own (the key browsers' identities are sealed with, name claims, stop requests, uploads, votes).
``blocked_paths`` takes folders, not a pattern, so the rule "no dot-file, at any depth" is kept here.
"""

from __future__ import annotations

import json
from pathlib import Path

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
        await _answer(
            send,
            413,
            f"request too large: this server takes up to {self.max_bytes // 1024} KB per request "
            "(prompts up to 8,000 characters)",
        )


class HiddenFiles:
    """Pure ASGI middleware: 403 for a file-route request naming a path under ``roots`` with a part that starts
    with a dot (``.browser-secret``, ``run/.learner.json``), however it is spelled (``%2e``, ``..``, a link)."""

    def __init__(self, app, roots: list[str]):
        self.app = app
        self.roots = [Path(root).resolve() for root in roots]

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "/file=" in scope.get("path", "") and self._hidden(scope["path"]):
            await _answer(send, 403, "File not allowed: hidden files are the server's own.")
            return
        await self.app(scope, receive, send)

    def _hidden(self, route: str) -> bool:
        # Resolved as Gradio resolves it before serving (relative to the working folder, links followed).
        path = Path(route.partition("/file=")[2]).resolve()
        for root in self.roots:
            if path.is_relative_to(root) and any(part.startswith(".") for part in path.relative_to(root).parts):
                return True
        return False


async def _answer(send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def middleware(max_bytes: int = MAX_BODY_BYTES) -> Middleware:
    """For ``launch(app_kwargs={"middleware": [middleware()]})``."""
    return Middleware(BodyLimit, max_bytes=max_bytes)


def hidden_files_middleware(roots: list[str]) -> Middleware:
    """For ``launch(app_kwargs={"middleware": [...]})``: ``roots`` are the folders given as ``allowed_paths``."""
    return Middleware(HiddenFiles, roots=roots)
