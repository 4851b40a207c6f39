"""Render spans as a plain-text tree for the terminal.

Input: the flat span dicts of :func:`smolagents_otel.otlp_json.read_otlp_json_file`, or OpenTelemetry SDK
``ReadableSpan`` objects (converted to the same dicts with :func:`spans_to_dicts`), or a mix of both.

.. code-block:: text

    trace 5b8e...c2  (40 spans, 1 error)
    invoke_workflow party_planning  12.3 ms  [CHAIN]
    ├─ invoke_agent alfred  8.1 ms  [AGENT]  finish=final_answer  steps=3  tokens=400 in/80 out
    │  • smolagents.run_start
    │  ├─ step 1  1.0 ms  ERROR "AgentExecutionError: execution blocked: ..."  [CHAIN]  vetoed
    │  │  • smolagents.step_start
    │  │  ├─ chat gpt-4o  0.3 ms  [LLM]  tokens=100 in/20 out
    │  │  │  • smolagents.model_output
    │  │  • smolagents.pre_execution
    │  │  • smolagents.veto  reason="..."

Each span shows its name, duration, ``ERROR`` with the status message when it failed, its
``openinference.span.kind`` and a few key attributes (tokens on model calls and runs, the tool call id,
finish reasons, a veto). Span events (the lifecycle events ``smolagents.*``, ``exception``...) are listed
with a bullet at the level of the span's children, in time order with them. Children are ordered by start
time, then name, then span id, so the same spans always give the same text. Colour (ANSI) is off unless
asked for; ``ascii=True`` draws the tree with ASCII characters only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["render_tree", "span_to_dict", "spans_to_dicts"]

_MAX_VALUE = 80

_UNICODE = {"tee": "├─ ", "last": "└─ ", "pipe": "│  ", "blank": "   ", "bullet": "• ", "ellipsis": "…"}
_ASCII = {"tee": "|- ", "last": "`- ", "pipe": "|  ", "blank": "   ", "bullet": "* ", "ellipsis": "..."}

_RESET = "\033[0m"
_BOLD = "\033[1m"
_DIM = "\033[2m"
_RED = "\033[31m"
_CYAN = "\033[36m"
_YELLOW = "\033[33m"

# Span-event attributes worth a glance: (attribute, label), in display order.
_EVENT_KEYS = (
    ("smolagents.veto.reason", "reason"),
    ("gen_ai.tool.name", "tool"),
    ("gen_ai.tool.call.id", "call_id"),
    ("smolagents.finish_reason", "finish"),
    ("error.type", "error"),
    ("exception.type", "type"),
    ("exception.message", "message"),
    ("smolagents.callback.name", "callback"),
    ("smolagents.callback.exception.type", "raised"),
)


# --------------------------------------------------------------------------------------------- input


def span_to_dict(span: Any) -> dict[str, Any]:
    """One SDK ``ReadableSpan`` as a dict shaped like those of ``read_otlp_json_file``."""
    return spans_to_dicts([span])[0]


def spans_to_dicts(spans: Iterable[Any]) -> list[dict[str, Any]]:
    """SDK ``ReadableSpan`` objects as dicts shaped like those of ``read_otlp_json_file``, in input order.

    The conversion goes through the same OTLP/JSON encoding as the file exporter, so a span renders
    the same whether it was read back from a file or taken from memory. Dicts are passed through.
    """
    from .otlp_json import flatten_document, spans_to_otlp_json

    items = list(spans)
    out: list[dict[str, Any] | None] = [None] * len(items)
    readable = [(index, span) for index, span in enumerate(items) if not isinstance(span, Mapping)]
    for index, span in enumerate(items):
        if isinstance(span, Mapping):
            out[index] = dict(span)
    for index, span in readable:
        # One span per document keeps the input order (the encoder groups by resource and scope).
        (out[index],) = flatten_document(spans_to_otlp_json([span]))
    return [d for d in out if d is not None]


# --------------------------------------------------------------------------------------------- formatting


def _short(value: Any, ellipsis: str, limit: int = _MAX_VALUE) -> str:
    if isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    text = " ".join(text.split())  # one line
    if len(text) > limit:
        text = text[: limit - len(ellipsis)] + ellipsis
    return text


def _quoted(value: Any, ellipsis: str) -> str:
    text = _short(value, ellipsis)
    if not text or any(c in text for c in ' "=') or text != text.strip():
        return json.dumps(text, ensure_ascii=False)
    return text


def _duration(span: Mapping[str, Any]) -> str:
    start, end = span.get("start_ns") or 0, span.get("end_ns") or 0
    if not start or not end:
        return "unfinished"
    return f"{max(end - start, 0) / 1e6:.1f} ms"


class _Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, *codes: str) -> str:
        if not self.color or not text:
            return text
        return "".join(codes) + text + _RESET


def _span_details(span: Mapping[str, Any], chars: Mapping[str, str]) -> list[str]:
    """Key attributes of a span, as ``key=value`` strings."""
    attrs: Mapping[str, Any] = span.get("attributes") or {}
    details: list[str] = []
    span_type = attrs.get("smolagents.span.type")
    if attrs.get("langfuse.observation.type") == "event":
        details.append("langfuse-event")
    if span_type == "run" or "smolagents.run.steps" in attrs:
        if "smolagents.finish_reason" in attrs:
            details.append(f"finish={attrs['smolagents.finish_reason']}")
        if "smolagents.run.steps" in attrs:
            details.append(f"steps={attrs['smolagents.run.steps']}")
        if "smolagents.run.input_tokens" in attrs or "smolagents.run.output_tokens" in attrs:
            details.append(
                f"tokens={attrs.get('smolagents.run.input_tokens', '?')} in"
                f"/{attrs.get('smolagents.run.output_tokens', '?')} out"
            )
    if "gen_ai.usage.input_tokens" in attrs or "gen_ai.usage.output_tokens" in attrs:
        details.append(
            f"tokens={attrs.get('gen_ai.usage.input_tokens', '?')} in"
            f"/{attrs.get('gen_ai.usage.output_tokens', '?')} out"
        )
    for key in ("gen_ai.response.finish_reasons", "llm.finish_reason"):
        if key in attrs:
            details.append(f"finish={_quoted(attrs[key], chars['ellipsis'])}")
            break
    if attrs.get("smolagents.stream") is True and span_type == "model":
        details.append("streamed")
    if "gen_ai.tool.call.id" in attrs and not (
        attrs.get("langfuse.observation.type") == "event" or span_type in (None, "run", "step")
    ):
        details.append(f"call_id={_quoted(attrs['gen_ai.tool.call.id'], chars['ellipsis'])}")
    if attrs.get("smolagents.tool.managed_agent") is True:
        details.append("managed-agent")
    if "smolagents.veto.reason" in attrs and attrs.get("langfuse.observation.type") != "event":
        details.append("vetoed")
    return details


def _event_line(event: Mapping[str, Any], chars: Mapping[str, str]) -> str:
    attrs: Mapping[str, Any] = event.get("attributes") or {}
    parts = [str(event.get("name", ""))]
    for key, label in _EVENT_KEYS:
        if key in attrs and attrs[key] not in (None, ""):
            parts.append(f"{label}={_quoted(attrs[key], chars['ellipsis'])}")
    return "  ".join(parts)


# --------------------------------------------------------------------------------------------- tree


def _sort_key(span: Mapping[str, Any]) -> tuple[int, str, str]:
    return (int(span.get("start_ns") or 0), str(span.get("name", "")), str(span.get("span_id", "")))


def render_tree(
    spans: Iterable[Any],
    *,
    color: bool = False,
    ascii: bool = False,
    durations: bool = True,
    events: bool = True,
    show_io: bool = False,
) -> str:
    """Render ``spans`` as an indented tree, one block per trace; returns the text (ends with a newline).

    Args:
        spans: span dicts (``read_otlp_json_file``) and/or SDK ``ReadableSpan`` objects.
        color: ANSI colours (bold names, red errors, dim events).
        ascii: draw with ASCII characters only (for terminals that cannot show box drawing).
        durations: show each span's duration (turn off for output that must not vary between runs).
        events: list span events under their span.
        show_io: add each span's ``input.value`` / ``output.value``, shortened to one line.
    """
    items = spans_to_dicts(spans)
    chars = _ASCII if ascii else _UNICODE
    paint = _Painter(color)
    if not items:
        return "(no spans)\n"

    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in items:
        by_trace.setdefault(str(span.get("trace_id", "")), []).append(span)

    def trace_start(trace_spans: list[dict[str, Any]]) -> tuple[int, str]:
        return (min(int(s.get("start_ns") or 0) for s in trace_spans), str(trace_spans[0].get("trace_id")))

    lines: list[str] = []
    for trace_id, trace_spans in sorted(by_trace.items(), key=lambda kv: trace_start(kv[1])):
        if lines:
            lines.append("")
        lines.extend(_render_trace(trace_id, trace_spans, chars, paint, durations, events, show_io))
    return "\n".join(lines) + "\n"


def _render_trace(
    trace_id: str,
    trace_spans: list[dict[str, Any]],
    chars: Mapping[str, str],
    paint: _Painter,
    durations: bool,
    events: bool,
    show_io: bool,
) -> list[str]:
    ids = {str(s.get("span_id")) for s in trace_spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots: list[dict[str, Any]] = []
    for span in trace_spans:
        parent = span.get("parent_span_id")
        if parent and str(parent) in ids and str(parent) != str(span.get("span_id")):
            children.setdefault(str(parent), []).append(span)
        else:
            roots.append(span)
    for siblings in children.values():
        siblings.sort(key=_sort_key)
    roots.sort(key=_sort_key)
    errors = sum(1 for s in trace_spans if s.get("status_code") == "ERROR")
    header = f"trace {trace_id or '?'}  ({len(trace_spans)} span{'s' if len(trace_spans) != 1 else ''}"
    header += f", {errors} error{'s' if errors != 1 else ''})" if errors else ")"
    lines = [paint(header, _DIM)]
    seen: set[str] = set()

    def walk(span: dict[str, Any], prefix: str, connector: str, child_prefix: str) -> None:
        span_id = str(span.get("span_id"))
        seen.add(span_id)
        parts = [paint(str(span.get("name", "")), _BOLD)]
        if durations:
            parts.append(_duration(span))
        if span.get("status_code") == "ERROR":
            message = span.get("status_message") or ""
            error = "ERROR" + (f" {_quoted(message, chars['ellipsis'])}" if message else "")
            parts.append(paint(error, _RED, _BOLD))
        attrs = span.get("attributes") or {}
        kind = attrs.get("openinference.span.kind")
        if kind:
            parts.append(paint(f"[{kind}]", _CYAN))
        parts.extend(_span_details(span, chars))
        parent = span.get("parent_span_id")
        if parent and str(parent) not in ids:
            parts.append(paint(f"(parent {parent} not in input)", _YELLOW))
        lines.append(prefix + connector + "  ".join(parts))

        # Children and events in time order (an event at a child's start time goes first).
        entries: list[tuple[int, int, int, Any]] = []
        if events:
            for index, event in enumerate(span.get("events") or ()):
                entries.append((int(event.get("time_ns") or 0), 0, index, event))
        kids = [c for c in children.get(span_id, ()) if str(c.get("span_id")) not in seen]
        for index, child in enumerate(kids):
            entries.append((int(child.get("start_ns") or 0), 1, index, child))
        entries.sort(key=lambda e: e[:3])
        last_child = max((i for i, e in enumerate(entries) if e[1] == 1), default=-1)
        inner = prefix + child_prefix
        if show_io:
            rail = chars["pipe"] if last_child >= 0 else chars["blank"]
            for key, label in (("input.value", "in"), ("output.value", "out")):
                if key in attrs:
                    text = _short(attrs[key], chars["ellipsis"], 100)
                    lines.append(inner + rail + paint(f"{label}: {text}", _DIM))
        for position, (_, is_child, _, entry) in enumerate(entries):
            if is_child:
                last = position == last_child
                walk(
                    entry,
                    inner,
                    chars["last"] if last else chars["tee"],
                    chars["blank"] if last else chars["pipe"],
                )
            else:
                lines.append(inner + paint(chars["bullet"] + _event_line(entry, chars), _DIM))

    for root in roots:
        walk(root, "", "", "")
    # Anything left (a parent cycle) is shown flat rather than lost.
    for span in sorted(trace_spans, key=_sort_key):
        if str(span.get("span_id")) not in seen:
            walk(span, "", "", "")
    return lines
