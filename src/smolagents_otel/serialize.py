"""Turning agent data into bounded, redacted strings for attributes, whatever its type.

Nothing here raises: an object whose ``str`` fails becomes ``<unrepresentable T>``. Work is bounded by
the size limit, not by the size of the input: long strings are cut before they are scanned, message
lists are read from the newest message back until the limit is reached, and images are described,
never inlined.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ._guard import bounded_put
from .attributes import TRUNCATED_MARKER

_REDACT_WINDOW = 256  # characters kept past the limit so a secret cut by the limit is still seen whole


def _no_redaction(text: str) -> str:
    return text


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    marker = TRUNCATED_MARKER.format(n=len(text) - limit)
    return text[:limit] + marker


def _describe_image(value: Any) -> str | None:
    cls = type(value)
    module = cls.__module__ or ""
    name = cls.__name__
    if module.startswith("PIL.") or name in ("AgentImage",):
        size = getattr(value, "size", None)
        mode = getattr(value, "mode", None)
        return f"<image {name} size={size} mode={mode}>"
    return None


def safe_str(value: Any, limit: int) -> str:
    """``str(value)``, bounded, never raising, never inlining bytes or images."""
    if isinstance(value, str):
        return value if len(value) <= limit + _REDACT_WINDOW else value[: limit + _REDACT_WINDOW]
    if value is None:
        return "None"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{type(value).__name__} len={len(value)}>"
    image = _describe_image(value)
    if image is not None:
        return image
    try:
        text = str(value)
    except BaseException as exc:  # noqa: BLE001 - any __str__ may fail, even with RecursionError
        try:
            return f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
        except BaseException:  # noqa: BLE001
            return "<unrepresentable>"
    if not isinstance(text, str):
        return f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= limit + _REDACT_WINDOW else text[: limit + _REDACT_WINDOW]


def clean_text(text: str, limit: int, redact: Callable[[str], str]) -> str:
    """Redact, then cut to ``limit`` with a visible marker; drops lone surrogates."""
    text = redact(text)
    if len(text) > limit:
        text = truncate(text, limit)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def to_text(value: Any, limit: int, redact: Callable[[str], str]) -> str:
    return clean_text(safe_str(value, limit), limit, redact)


def _content_text(content: Any, limit: int) -> str:
    """Text of a ChatMessage content: a str or a list of {type: text|image, ...} parts."""
    if type(content) is list and len(content) == 1:  # smolagents' usual shape: one text part
        part = content[0]
        if type(part) is dict and part.get("type") == "text":
            text = part.get("text")
            if type(text) is str:
                return text if len(text) <= limit + _REDACT_WINDOW else text[: limit + _REDACT_WINDOW]
    if content is None:
        return ""
    if isinstance(content, str):
        return safe_str(content, limit)
    if isinstance(content, list):
        parts: list[str] = []
        used = 0
        for part in content:
            if used > limit:
                break
            if isinstance(part, dict):
                kind = part.get("type")
                if kind == "text":
                    text = safe_str(part.get("text", ""), limit)
                elif kind in ("image", "image_url"):
                    text = "[image]"
                else:
                    text = f"[{kind}]"
            else:
                text = safe_str(part, limit)
            parts.append(text)
            used += len(text)
        return "\n".join(parts)
    return safe_str(content, limit)


_FRAGMENT_CACHE_SIZE = 256


class MessageEncoder:
    """Encodes a model's input messages as a JSON list of {role, content[, tool_calls]}.

    Newest messages are kept first when ``limit`` is reached, and older ones are not even looked at
    then. Each message's redacted JSON fragment is cached by its role and text: a model's input is the
    agent's memory, so from one call to the next only the new messages are encoded and scanned for
    secrets, and the cost of a model span follows what is new, not the length of the memory.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], str] = {}

    def encode(self, messages: Any, limit: int, redact: Callable[[str], str]) -> str:
        try:
            items = messages if isinstance(messages, list) else list(messages)
        except Exception:  # noqa: BLE001
            return to_text(messages, limit, redact)
        fragments: list[str] = []
        used = 0
        for message in reversed(items):
            fragment = self._fragment(message, limit, redact)
            if fragments and used + len(fragment) > limit:
                break
            fragments.append(fragment)
            used += len(fragment) + 1
        omitted = len(items) - len(fragments)
        if omitted:
            note = {"role": "system", "content": f"[{omitted} earlier messages omitted]"}
            fragments.append(json.dumps(note))
        fragments.reverse()
        return clean_text("[" + ",".join(fragments) + "]", limit, _no_redaction)

    def _fragment(self, message: Any, limit: int, redact: Callable[[str], str]) -> str:
        try:
            role, text, calls = _message_parts(message, limit)
        except Exception:  # noqa: BLE001
            entry = {"role": "unknown", "content": redact(safe_str(message, limit))}
            return json.dumps(entry, ensure_ascii=False)
        key = (role, text, calls)
        cache = self._cache
        fragment = cache.get(key)
        if fragment is not None:
            return fragment
        entry: dict[str, Any] = {"role": role, "content": redact(text)}
        if calls:
            entry["tool_calls"] = [{"id": i, "name": n, "arguments": redact(a)} for i, n, a in calls]
        fragment = json.dumps(entry, ensure_ascii=False, default=str)
        bounded_put(cache, key, fragment, _FRAGMENT_CACHE_SIZE)
        return fragment


def _message_parts(message: Any, limit: int) -> tuple[str, str, tuple[tuple[Any, Any, str], ...]]:
    """(role, text, tool calls as (id, name, arguments text)) of a ChatMessage or message dict."""
    if isinstance(message, dict):
        role, content, tool_calls = message.get("role"), message.get("content"), message.get("tool_calls")
    else:
        role = getattr(message, "role", None)
        content = getattr(message, "content", None)
        tool_calls = getattr(message, "tool_calls", None)
    role = getattr(role, "value", role)
    calls: tuple[tuple[Any, Any, str], ...] = ()
    if tool_calls:
        found = []
        for call in tool_calls:
            function = call.get("function") if isinstance(call, dict) else getattr(call, "function", None)
            if isinstance(function, dict):
                name, arguments = function.get("name"), function.get("arguments")
            else:
                name, arguments = getattr(function, "name", None), getattr(function, "arguments", None)
            call_id = call.get("id") if isinstance(call, dict) else getattr(call, "id", None)
            found.append((call_id, name, safe_str(arguments, limit)))
        calls = tuple(found)
    return (str(role) if role is not None else "unknown"), _content_text(content, limit), calls


def message_output_json(message: Any, limit: int, redact: Callable[[str], str]) -> str:
    """The model's answer as one assistant message in JSON (content and tool calls)."""
    try:
        role, text, calls = _message_parts(message, limit)
        entry: dict[str, Any] = {"role": role, "content": text}
        if calls:
            entry["tool_calls"] = [{"id": i, "name": n, "arguments": a} for i, n, a in calls]
    except Exception:  # noqa: BLE001
        entry = {"role": "assistant", "content": safe_str(message, limit)}
    return clean_text(json.dumps([entry], ensure_ascii=False, default=str), limit, redact)
