"""The ``openai`` target: any OpenAI-compatible ``/chat/completions`` endpoint over HTTP.

vLLM, Ollama, llama.cpp's server, TGI, LiteLLM and hosted APIs all speak it. The client is
aiohttp, one session (one keep-alive connection pool) per opened target: against a server that
answers in 50 ms at concurrency 32, a bare aiohttp client reached about 600 requests/s on the
reference machine and a bare httpx client about 410/s (issue #14), and the ideal is 640/s.

The API key is read from the environment variable named by ``api_key_env`` when the target is
opened and sent as ``Authorization: Bearer …``; it is never a parameter, so it is never in
:meth:`~curata.redteam.targets.base.Target.describe`, a ``repr``, an attempt or a log record.
An unset variable sends no key (local servers need none). Header and extra body values whose
names look like credentials are shown as ``[redacted]`` in the description.
"""

from __future__ import annotations

import json
import os
import time
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from pydantic import Field, field_validator

from curata.redteam.targets.base import (
    Conversation,
    Reply,
    Target,
    TargetError,
    TargetParams,
    TransientError,
    Usage,
    redacted,
)

RETRIED = frozenset({408, 409, 429})
"""HTTP statuses below 500 that are worth retrying (timeout, conflict, rate limited)."""


class OpenAIParams(TargetParams):
    """How to reach the endpoint and how to sample (a sampling setting left at ``None`` is not
    sent: the server's default applies, and the description records ``null``)."""

    base_url: str = Field(description="The API root, e.g. http://127.0.0.1:8000/v1 "
                          "(/chat/completions is appended).")
    model: str = Field(min_length=1, description="The model name sent with each request.")
    temperature: float | None = Field(default=None, ge=0, description="Sampling temperature.")
    max_tokens: int | None = Field(default=None, ge=1, description="Most tokens to generate.")
    top_p: float | None = Field(default=None, gt=0, le=1, description="Nucleus sampling mass.")
    seed: int | None = Field(default=None, description="Sampling seed, for servers that "
                             "honour one.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers "
                                    "(values of credential-like names are redacted from the "
                                    "description; put keys in api_key_env instead).")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="Extra JSON fields "
                                       "of the request body (e.g. vLLM's top_k).")
    api_key_env: str | None = Field(default="OPENAI_API_KEY", description="Name of the "
                                    "environment variable holding the API key (sent as a "
                                    "Bearer token); none or unset: no key is sent.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value.split("//", 1)[1]) < 1:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/")


class OpenAITarget(Target):
    """An OpenAI-compatible chat-completions endpoint (see the module docstring)."""

    name = "openai"
    summary = "An OpenAI-compatible /chat/completions endpoint over HTTP (vLLM, Ollama, hosted)."
    Params = OpenAIParams
    params: OpenAIParams

    def __init__(self, params: OpenAIParams | None = None, /, **values: Any) -> None:
        super().__init__(params, **values)
        self.url = f"{self.params.base_url}/chat/completions"
        self._session: aiohttp.ClientSession | None = None

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["headers"] = redacted(self.params.headers)
        out["extra_body"] = redacted(self.params.extra_body)
        return out

    async def open(self) -> None:
        if self._session is not None:
            return
        headers = {"Content-Type": "application/json", **self.params.headers}
        key = os.environ.get(self.params.api_key_env) if self.params.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None),  # the runner owns the timeout
            headers=headers,
        )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def body(self, conversation: Conversation) -> dict[str, Any]:
        """The JSON request for ``conversation``."""
        p = self.params
        body: dict[str, Any] = {"model": p.model,
                                "messages": [m.to_dict() for m in conversation]}
        for key in ("temperature", "max_tokens", "top_p", "seed"):
            value = getattr(p, key)
            if value is not None:
                body[key] = value
        body.update(p.extra_body)
        return body

    async def complete(self, conversation: Conversation) -> Reply:
        if self._session is None:
            await self.open()
        assert self._session is not None
        where = f"POST {self.url}"
        data = json.dumps(self.body(conversation))
        try:
            async with self._session.post(self.url, data=data) as response:
                raw = await response.read()
                status = response.status
                retry_after = _retry_after(response.headers)
        except aiohttp.ClientConnectorError as exc:
            raise TransientError(f"{where}: cannot connect ({_reason(exc)})") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise TransientError(f"{where}: connection lost ({_reason(exc)})") from exc
        if status != 200:
            message = f"{where}: HTTP {status}: {_error_text(raw)}"
            if status >= 500 or status in RETRIED:
                raise TransientError(message, retry_after=retry_after)
            if status in (401, 403) and self.params.api_key_env:
                message += f" (is {self.params.api_key_env} set to a valid key?)"
            raise TargetError(message)
        return _parse(raw, where)


def _parse(raw: bytes, where: str) -> Reply:
    """A chat completion's first choice; anything else is a :class:`TargetError`."""
    try:
        doc = json.loads(raw)
        choice = doc["choices"][0]
        message = choice.get("message") or {}
        content = message.get("content")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise TargetError(
            f"{where}: the answer is not a chat completion: {_excerpt(raw)}") from None
    if content is not None and not isinstance(content, str):
        raise TargetError(f"{where}: choices[0].message.content is not text: {_excerpt(raw)}")
    usage = doc.get("usage") if isinstance(doc.get("usage"), dict) else None
    return Reply(
        text=content or "",
        finish_reason=choice.get("finish_reason"),
        usage=Usage(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")))
        if usage else None,
        model=doc.get("model") if isinstance(doc.get("model"), str) else None,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, or ``Retry-After`` as seconds or
    an HTTP date; None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _error_text(raw: bytes) -> str:
    """The error's message (OpenAI's ``{"error": {"message"}}``), or the body's start."""
    try:
        doc = json.loads(raw)
        message = doc["error"]["message"] if isinstance(doc["error"], dict) else doc["error"]
        if isinstance(message, str) and message:
            return message[:300]
    except (ValueError, KeyError, TypeError):
        pass
    return _excerpt(raw)


def _excerpt(raw: bytes) -> str:
    text = raw[:200].decode("utf-8", "replace").strip()
    return repr(text) if text else "(empty body)"


def _reason(exc: BaseException) -> str:
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, OSError) and os_error.errno:
        return os.strerror(os_error.errno)
    if isinstance(os_error, OSError) and os_error.strerror:
        return os_error.strerror
    return str(exc) or type(exc).__name__
