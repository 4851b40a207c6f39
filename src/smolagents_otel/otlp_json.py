"""OTLP/JSON encoding of finished spans, a JSON-lines file exporter, and a reader for such files.

The encoding is the standard OTLP JSON encoding of an ``ExportTraceServiceRequest``
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding), the same format the
OpenTelemetry Collector's ``file`` exporter writes and its ``otlpjsonfile`` receiver reads:

* field names in lowerCamelCase (``resourceSpans``, ``scopeSpans``, ``startTimeUnixNano``...);
* ``traceId`` / ``spanId`` / ``parentSpanId`` as lowercase hex strings (not base64);
* enums (``kind``, ``status.code``) as integers;
* 64-bit integers (timestamps, ``intValue``) as decimal strings;
* attributes as ``[{"key": ..., "value": {"stringValue" | "intValue" | "doubleValue" |
  "boolValue" | "bytesValue" | "arrayValue" | "kvlistValue": ...}}]``;
* fields holding their default value (0, "", empty list) are left out, as protobuf's JSON mapping does.

``google.protobuf.json_format`` applied to the ``opentelemetry-proto`` messages is *not* used:
it writes ids as base64 and enums as names, which OTLP JSON receivers reject. Writing the
encoder here also keeps the ``file`` backend free of the protobuf dependency.

:class:`OTLPJsonFileSpanExporter` appends one ``{"resourceSpans": [...]}`` document per line
(JSON lines) for each exported batch; :func:`read_otlp_json_file` reads such a file back into
flat span dicts, convenient for tests and for offline inspection.
"""

from __future__ import annotations

import base64
import json
import math
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

__all__ = [
    "OTLPJsonFileSpanExporter",
    "read_otlp_json_file",
    "spans_to_otlp_json",
]

# OTLP SpanKind numbers (opentelemetry/proto/trace/v1/trace.proto); the SDK enum starts at 0 for INTERNAL.
_SPAN_KIND_TO_OTLP = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
_OTLP_KIND_NAMES = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_OTLP_STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}

# SpanFlags bits (trace.proto): bit 8 = "has is_remote information", bit 9 = "parent is remote".
_FLAG_HAS_IS_REMOTE = 0x100
_FLAG_IS_REMOTE = 0x200


# --------------------------------------------------------------------------------------------- encoding


def _encode_double(value: float) -> float | str:
    # JSON has no NaN/Infinity; protobuf's JSON mapping spells them as strings.
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _encode_any_value(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, bool):  # before int: bool is an int subclass
        return {"boolValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": _encode_double(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"bytesValue": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        values = [_encode_key_value(str(k), v) for k, v in value.items()]
        return {"kvlistValue": {"values": values} if values else {}}
    if isinstance(value, Sequence):
        values = [_encode_any_value(v) for v in value]
        return {"arrayValue": {"values": values} if values else {}}
    # Anything else cannot come from the SDK (it validates attribute types); keep the data readable.
    return {"stringValue": str(value)}


def _encode_key_value(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": _encode_any_value(value)}


def _encode_attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not attributes:
        return []
    return [_encode_key_value(key, value) for key, value in attributes.items()]


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is the protobuf default (omitted in the JSON mapping)."""
    if value is None or value == 0 or value == "" or value == [] or value is False:
        return
    target[key] = value


def _trace_id_hex(trace_id: int) -> str:
    return format(trace_id, "032x")


def _span_id_hex(span_id: int) -> str:
    return format(span_id, "016x")


def _flags(parent_context: Any) -> int:
    flags = _FLAG_HAS_IS_REMOTE
    if parent_context is not None and getattr(parent_context, "is_remote", False):
        flags |= _FLAG_IS_REMOTE
    return flags


def _encode_span(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    out: dict[str, Any] = {}
    _put(out, "traceId", _trace_id_hex(ctx.trace_id) if ctx.trace_id else "")
    _put(out, "spanId", _span_id_hex(ctx.span_id) if ctx.span_id else "")
    trace_state = ctx.trace_state
    if trace_state:
        _put(out, "traceState", ",".join(f"{k}={v}" for k, v in trace_state.items()))
    if span.parent is not None and span.parent.span_id:
        out["parentSpanId"] = _span_id_hex(span.parent.span_id)
    _put(out, "name", span.name)
    _put(out, "kind", _SPAN_KIND_TO_OTLP.get(span.kind, 0))
    if span.start_time:
        out["startTimeUnixNano"] = str(span.start_time)
    if span.end_time:
        out["endTimeUnixNano"] = str(span.end_time)
    _put(out, "attributes", _encode_attributes(span.attributes))
    _put(out, "droppedAttributesCount", span.dropped_attributes)

    events = []
    for event in span.events:
        encoded: dict[str, Any] = {}
        if event.timestamp:
            encoded["timeUnixNano"] = str(event.timestamp)
        _put(encoded, "name", event.name)
        _put(encoded, "attributes", _encode_attributes(event.attributes))
        _put(encoded, "droppedAttributesCount", event.dropped_attributes)
        events.append(encoded)
    _put(out, "events", events)
    _put(out, "droppedEventsCount", span.dropped_events)

    links = []
    for link in span.links:
        encoded = {}
        _put(encoded, "traceId", _trace_id_hex(link.context.trace_id) if link.context.trace_id else "")
        _put(encoded, "spanId", _span_id_hex(link.context.span_id) if link.context.span_id else "")
        _put(encoded, "attributes", _encode_attributes(link.attributes))
        _put(encoded, "droppedAttributesCount", link.dropped_attributes)
        _put(encoded, "flags", _flags(link.context))
        links.append(encoded)
    _put(out, "links", links)
    _put(out, "droppedLinksCount", span.dropped_links)

    status: dict[str, Any] = {}
    if span.status is not None:
        _put(status, "message", span.status.description or "")
        _put(status, "code", span.status.status_code.value)
    out["status"] = status
    _put(out, "flags", _flags(span.parent))
    return out


def _encode_scope(scope: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if scope is None:
        return out
    _put(out, "name", scope.name or "")
    _put(out, "version", scope.version or "")
    _put(out, "attributes", _encode_attributes(getattr(scope, "attributes", None)))
    return out


def spans_to_otlp_json(spans: Iterable[ReadableSpan]) -> dict[str, Any]:
    """Encode finished SDK spans as one OTLP/JSON ``ExportTraceServiceRequest`` document.

    Spans are grouped by resource, then by instrumentation scope, in first-seen order, exactly
    like the OTLP protobuf exporters do. The result is a plain ``dict`` ready for ``json.dumps``.
    """
    # SDK Resources and InstrumentationScopes hash by value; dicts keep first-seen order.
    grouped: dict[Any, dict[Any, list[dict[str, Any]]]] = {}
    for span in spans:
        resource = span.resource
        scope = span.instrumentation_scope or None
        grouped.setdefault(resource, {}).setdefault(scope, []).append(_encode_span(span))

    resource_spans = []
    for resource, scopes in grouped.items():
        scope_spans = []
        for scope, encoded_spans in scopes.items():
            entry: dict[str, Any] = {"scope": _encode_scope(scope), "spans": encoded_spans}
            _put(entry, "schemaUrl", (scope.schema_url or "") if scope is not None else "")
            scope_spans.append(entry)
        resource_entry: dict[str, Any] = {"resource": {}}
        _put(resource_entry["resource"], "attributes", _encode_attributes(resource.attributes))
        resource_entry["scopeSpans"] = scope_spans
        _put(resource_entry, "schemaUrl", resource.schema_url or "")
        resource_spans.append(resource_entry)
    return {"resourceSpans": resource_spans}


# --------------------------------------------------------------------------------------------- exporter


class OTLPJsonFileSpanExporter(SpanExporter):
    """Append each exported batch to ``path`` as one OTLP/JSON document per line.

    The file is opened in append mode for every batch (so external log rotation or deletion is
    tolerated) and writes are serialised with a lock; each line is written with a single
    ``write`` call and flushed before ``export`` returns.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._shutdown = False

    @property
    def path(self) -> Path:
        return self._path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            line = json.dumps(spans_to_otlp_json(spans), separators=(",", ":"), ensure_ascii=False)
            with self._lock, open(self._path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
        except (OSError, TypeError, ValueError):
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export() is written and flushed synchronously


# --------------------------------------------------------------------------------------------- decoding


def _decode_id(value: Any, length_bytes: int) -> str:
    """Return a lowercase hex id; accept hex (OTLP JSON) or base64 (protobuf JSON mapping)."""
    if not value:
        return ""
    text = str(value)
    if len(text) == 2 * length_bytes:
        try:
            int(text, 16)
            return text.lower()
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return text
    return raw.hex() if len(raw) == length_bytes else text


def _decode_double(value: Any) -> float:
    return float(value)  # float() understands "NaN", "Infinity" and "-Infinity"


def _decode_any_value(value: Mapping[str, Any] | None) -> Any:
    if not value:
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return _decode_double(value["doubleValue"])
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"])
    if "arrayValue" in value:
        return [_decode_any_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return _decode_attributes((value["kvlistValue"] or {}).get("values", []))
    return None


def _decode_attributes(attributes: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {kv["key"]: _decode_any_value(kv.get("value")) for kv in attributes or ()}


def _enum_int(value: Any, names: Mapping[int, str], prefix: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.isdigit():
        return int(text)
    short = text.removeprefix(prefix)
    for number, name in names.items():
        if name == short:
            return number
    return 0


def flatten_document(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = []
    for resource_spans in document.get("resourceSpans", []) or []:
        resource_attributes = _decode_attributes((resource_spans.get("resource") or {}).get("attributes"))
        # "instrumentationLibrarySpans" is the pre-1.0 name, still found in old collector files.
        scope_groups = (
            resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []
        )
        for scope_spans in scope_groups:
            scope = scope_spans.get("scope") or scope_spans.get("instrumentationLibrary") or {}
            for span in scope_spans.get("spans", []) or []:
                status = span.get("status") or {}
                spans.append(
                    {
                        "trace_id": _decode_id(span.get("traceId"), 16),
                        "span_id": _decode_id(span.get("spanId"), 8),
                        "parent_span_id": _decode_id(span.get("parentSpanId"), 8) or None,
                        "name": span.get("name", ""),
                        "kind": _OTLP_KIND_NAMES.get(
                            _enum_int(span.get("kind"), _OTLP_KIND_NAMES, "SPAN_KIND_"), "UNSPECIFIED"
                        ),
                        "start_ns": int(span.get("startTimeUnixNano") or 0),
                        "end_ns": int(span.get("endTimeUnixNano") or 0),
                        "status_code": _OTLP_STATUS_NAMES.get(
                            _enum_int(status.get("code"), _OTLP_STATUS_NAMES, "STATUS_CODE_"), "UNSET"
                        ),
                        "status_message": status.get("message", ""),
                        "attributes": _decode_attributes(span.get("attributes")),
                        "events": [
                            {
                                "name": event.get("name", ""),
                                "time_ns": int(event.get("timeUnixNano") or 0),
                                "attributes": _decode_attributes(event.get("attributes")),
                            }
                            for event in span.get("events", []) or []
                        ],
                        "scope_name": scope.get("name", ""),
                        "resource_attributes": resource_attributes,
                    }
                )
    return spans


def read_otlp_json_file(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSON-lines file of OTLP/JSON trace documents and return its spans, flattened.

    Each span is a dict with keys ``trace_id`` and ``span_id`` (lowercase hex), ``parent_span_id``
    (hex, or ``None`` for a root span), ``name``, ``kind`` (``"INTERNAL"``, ``"CLIENT"``...),
    ``start_ns``/``end_ns`` (int nanoseconds since the epoch), ``status_code`` (``"UNSET"``,
    ``"OK"`` or ``"ERROR"``), ``status_message``, ``attributes`` (a plain dict; arrays become
    lists, ``kvlistValue`` becomes a dict), ``events`` (list of ``{name, time_ns, attributes}``),
    ``scope_name`` and ``resource_attributes``. Spans come in file order. Blank lines are skipped;
    a malformed line raises ``ValueError`` naming its line number.
    """
    spans: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{os.fspath(path)}:{lineno}: not a JSON document: {exc}") from exc
            if not isinstance(document, dict):
                raise ValueError(f"{os.fspath(path)}:{lineno}: expected a JSON object with 'resourceSpans'")
            spans.extend(flatten_document(document))
    return spans
