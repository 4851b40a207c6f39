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


def _message_dict(message: Any, limit: int, redact: Callable[[str], str] = _no_redaction) -> dict[str, Any]:
    if isinstance(message, dict):
        role = message.get("role")
        content = message.get("content")
        tool_calls = message.get("tool_calls")
    else:
        role = getattr(message, "role", None)
        content = getattr(message, "content", None)
        tool_calls = getattr(message, "tool_calls", None)
    role = getattr(role, "value", role)
    out: dict[str, Any] = {"role": str(role) if role is not None else "unknown"}
    out["content"] = redact(_content_text(content, limit))
    if tool_calls:
        calls = []
        for call in tool_calls:
            function = call.get("function") if isinstance(call, dict) else getattr(call, "function", None)
            if isinstance(function, dict):
                name, arguments = function.get("name"), function.get("arguments")
            else:
                name, arguments = getattr(function, "name", None), getattr(function, "arguments", None)
            call_id = call.get("id") if isinstance(call, dict) else getattr(call, "id", None)
            calls.append({"id": call_id, "name": name, "arguments": redact(safe_str(arguments, limit))})
        out["tool_calls"] = calls
    return out


def messages_to_json(messages: Any, limit: int, redact: Callable[[str], str]) -> str:
    """A JSON list of {role, content} messages, newest kept first when the limit is reached.

    Work is bounded by ``limit``: older messages are not even looked at once the newest fill it, so the
    cost of a model call's attribute does not grow with the agent's memory.
    """
    try:
        items = list(messages) if not isinstance(messages, list) else messages
    except Exception:  # noqa: BLE001
        return to_text(messages, limit, redact)
    kept: list[dict[str, Any]] = []
    used = 0
    for message in reversed(items):
        try:
            entry = _message_dict(message, limit, redact)
        except Exception:  # noqa: BLE001
            entry = {"role": "unknown", "content": redact(safe_str(message, limit))}
        size = len(entry["content"]) + 32
        if kept and used + size > limit:
            break
        kept.append(entry)
        used += size
    omitted = len(items) - len(kept)
    kept.reverse()
    if omitted:
        kept.insert(0, {"role": "system", "content": f"[{omitted} earlier messages omitted]"})
    # Each message was redacted on its own (cached across calls), so the JSON needs no second pass.
    return clean_text(json.dumps(kept, ensure_ascii=False, default=str), limit, _no_redaction)


def message_output_json(message: Any, limit: int, redact: Callable[[str], str]) -> str:
    """The model's answer as one assistant message in JSON (content and tool calls)."""
    try:
        entry = _message_dict(message, limit)
    except Exception:  # noqa: BLE001
        entry = {"role": "assistant", "content": safe_str(message, limit)}
    return clean_text(json.dumps([entry], ensure_ascii=False, default=str), limit, redact)
