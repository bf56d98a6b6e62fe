"""Posted forms are checked before any page handler reads them: the body must be UTF-8 with no
NUL character, and at most ``FORM_MAX_BYTES``. Starlette's form parser would turn a byte that
is not UTF-8 into U+FFFD and store the damaged text; PostgreSQL refuses a NUL in text with a
server error. Here either is a 400 page naming the field, and nothing is changed."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Request

from curata.core.errors import CurataError
from curata.web.errors import page_error

FORM_MAX_BYTES = 1 << 20
"""The largest form a page accepts (a guideline or a safe response is a few KiB)."""

URLENCODED = b"application/x-www-form-urlencoded"


class FormError(CurataError):
    status_code = 400


def form_problem(body: bytes) -> str | None:
    """What is wrong with a urlencoded form body (naming the field), or ``None``."""
    for number, pair in enumerate(body.split(b"&"), start=1):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name_bytes = unquote_to_bytes(raw_name.replace(b"+", b" "))
        label = name_bytes.decode("utf-8", "replace") or f"field {number}"
        try:
            name = name_bytes.decode("utf-8")
        except UnicodeDecodeError:
            return f"form field {number}: its name is not UTF-8 text"
        try:
            value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"form field {label!r}: not UTF-8 text (byte {exc.start + 1} of the value)"
        if "\x00" in name or "\x00" in value:
            return f"form field {label!r}: contains a NUL character"
    return None


class FormGuard:
    """Plain ASGI: buffers a page's urlencoded POST body, answers 400/413 for a bad one, and
    hands the same bytes on to the app otherwise (the API under ``/api/`` is left alone: it
    reads JSON and answers its own 4xx)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].startswith("/api/")
            or not _content_type(scope).startswith(URLENCODED)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > FORM_MAX_BYTES:
                await self._refuse(scope, send, 413, f"the form is larger than "
                                   f"{FORM_MAX_BYTES // 1024} KiB")  # fmt: skip
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = form_problem(body)
        if problem is not None:
            await self._refuse(scope, send, 400, problem)
            return
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Any, send: Any, status_code: int, message: str) -> None:
        async def nothing() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        response = page_error(Request(scope, nothing), FormError(message), status_code)
        await response(scope, nothing, send)


def _content_type(scope: Any) -> bytes:
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            return bytes(value).lower()
    return b""
