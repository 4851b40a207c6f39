"""Tests for smolagents_otel.export_setup and smolagents_otel.otlp_json.

Everything runs for real on 127.0.0.1: an HTTP server (stdlib) that records what the OTLP/HTTP
exporter posts, a gRPC server implementing the OTLP TraceService, files under tmp_path, and
child interpreters for the exit-time flush. Only the environment is arranged (monkeypatch).
"""

from __future__ import annotations

import atexit
import base64
import json
import logging
import math
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util._once import Once

from smolagents_otel import export_setup
from smolagents_otel.export_setup import configure, provider_from_environment, sdk_provider_is_set
from smolagents_otel.otlp_json import read_otlp_json_file, spans_to_otlp_json

SRC_DIR = Path(__file__).resolve().parents[1] / "src"
PUBLIC_KEY = "pk-lf-1234-public"
SECRET_KEY = "sk-lf-5678-TOP-SECRET-value"
BASIC_TOKEN = base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No OTEL_*/LANGFUSE_*/PHOENIX_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "LANGFUSE_", "PHOENIX_", "SMOLAGENTS_OTEL_")):
            monkeypatch.delenv(name)
    monkeypatch.setattr(export_setup, "_warned_no_backend", False)


@pytest.fixture
def providers():
    """Collects providers made by a test and shuts them down afterwards."""
    made: list[TracerProvider] = []
    yield made
    for provider in made:
        provider.shutdown()


def _reset_global_tracer_provider() -> None:
    # OpenTelemetry allows set_tracer_provider once per process; tests need a clean slate.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def fresh_global():
    _reset_global_tracer_provider()
    yield
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        current.shutdown()
    _reset_global_tracer_provider()


class CaptureServer:
    """OTLP/HTTP stand-in: records path, headers and body of every POST."""

    def __init__(self, status: int = 200, reply: bytes = b"{}") -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = status
        self.reply = reply
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                capture.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                self.send_response(capture.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(capture.reply)))
                self.end_headers()
                self.wfile.write(capture.reply)

            def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def http_server():
    server = CaptureServer()
    yield server
    server.stop()


@pytest.fixture
def grpc_server():
    grpc = pytest.importorskip("grpc")
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received: list[tuple[Any, dict[str, str]]] = []

    class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # noqa: N802 - gRPC naming
            received.append((request, dict(context.invocation_metadata())))
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    server.received = received
    server.url = f"http://127.0.0.1:{port}"
    yield server
    server.stop(grace=None)


# --------------------------------------------------------------------------------------------- helpers


def _any_value(value) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    return getattr(value, kind)


def decode_request(request_or_body) -> list[dict[str, Any]]:
    """Flatten an ExportTraceServiceRequest (message or protobuf bytes) into span dicts."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    if isinstance(request_or_body, bytes):
        request = ExportTraceServiceRequest()
        request.ParseFromString(request_or_body)
    else:
        request = request_or_body
    spans = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _any_value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    {
                        "name": span.name,
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "attributes": {kv.key: _any_value(kv.value) for kv in span.attributes},
                        "resource": resource,
                        "scope": scope_spans.scope.name,
                    }
                )
    return spans


def emit_two_spans(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("smolagents-otel-tests", "0.0.1")
    with tracer.start_as_current_span(
        "agent.run", attributes={"gen_ai.operation.name": "invoke_agent", "steps": 2}
    ):
        with tracer.start_as_current_span("tool.call", attributes={"gen_ai.tool.name": "search"}):
            pass


def assert_two_spans(spans: list[dict[str, Any]], service_name: str = "smolagents-agent") -> None:
    by_name = {span["name"]: span for span in spans}
    assert sorted(by_name) == ["agent.run", "tool.call"]
    assert by_name["agent.run"]["attributes"] == {"gen_ai.operation.name": "invoke_agent", "steps": 2}
    assert by_name["tool.call"]["attributes"] == {"gen_ai.tool.name": "search"}
    assert by_name["tool.call"]["parent_span_id"] == by_name["agent.run"]["span_id"]
    assert by_name["agent.run"]["resource"]["service.name"] == service_name
    assert by_name["agent.run"]["scope"] == "smolagents-otel-tests"


def set_langfuse_keys(monkeypatch) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PUBLIC_KEY)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET_KEY)


# --------------------------------------------------------------------------------------------- langfuse


def test_langfuse_posts_protobuf_with_basic_auth(monkeypatch, http_server, providers):
    set_langfuse_keys(monkeypatch)
    provider = configure(backend="langfuse", endpoint=http_server.url, set_global=False)
    providers.append(provider)
    emit_two_spans(provider)
    assert provider.force_flush(5000)

    assert len(http_server.requests) == 1
    request = http_server.requests[0]
    assert request["path"] == "/api/public/otel/v1/traces"
    scheme, _, token = request["headers"]["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"{PUBLIC_KEY}:{SECRET_KEY}"
    assert request["headers"]["content-type"] == "application/x-protobuf"
    assert request["headers"]["x-langfuse-ingestion-version"] == "4"
    assert_two_spans(decode_request(request["body"]))


@pytest.mark.parametrize("host_var", ["LANGFUSE_HOST", "LANGFUSE_BASE_URL"])
def test_langfuse_host_from_environment(monkeypatch, http_server, providers, host_var):
    set_langfuse_keys(monkeypatch)
    monkeypatch.setenv(host_var, http_server.url + "/")
    provider = configure("langfuse", set_global=False)
    providers.append(provider)
    emit_two_spans(provider)
    provider.force_flush(5000)
    assert [r["path"] for r in http_server.requests] == ["/api/public/otel/v1/traces"]


def test_langfuse_host_wins_over_base_url(monkeypatch, providers):
    host, base = CaptureServer(), CaptureServer()
    try:
        set_langfuse_keys(monkeypatch)
        monkeypatch.setenv("LANGFUSE_HOST", host.url)
        monkeypatch.setenv("LANGFUSE_BASE_URL", base.url)
        provider = configure("langfuse", set_global=False)
        providers.append(provider)
        emit_two_spans(provider)
        provider.force_flush(5000)
        assert len(host.requests) == 1
        assert base.requests == []
    finally:
        host.stop()
        base.stop()


def test_langfuse_default_host_is_cloud(monkeypatch, providers, caplog):
    set_langfuse_keys(monkeypatch)
    caplog.set_level(logging.INFO, logger="smolagents_otel.export_setup")
    providers.append(configure("langfuse", set_global=False))
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1
    assert "https://cloud.langfuse.com/api/public/otel/v1/traces" in infos[0]


# --------------------------------------------------------------------------------------------- otlp


def test_otlp_http_protobuf(http_server, providers):
    provider = configure(
        "otlp", endpoint=http_server.url, headers={"X-Team": "agents"}, service_name="svc-a", set_global=False
    )
    providers.append(provider)
    emit_two_spans(provider)
    provider.force_flush(5000)

    assert len(http_server.requests) == 1
    request = http_server.requests[0]
    assert request["path"] == "/v1/traces"
    assert request["headers"]["content-type"] == "application/x-protobuf"
    assert request["headers"]["x-team"] == "agents"
    assert "authorization" not in request["headers"]
    assert_two_spans(decode_request(request["body"]), service_name="svc-a")


def test_otlp_http_endpoint_with_path_is_kept(http_server, providers):
    provider = configure("otlp", endpoint=http_server.url + "/custom/traces", set_global=False)
    providers.append(provider)
    emit_two_spans(provider)
    provider.force_flush(5000)
    assert [r["path"] for r in http_server.requests] == ["/custom/traces"]


def test_otlp_http_from_env_merges_headers(monkeypatch, http_server, providers):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_server.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from-env=1,x-both=env")
    provider = configure("otlp", headers={"x-from-arg": "2", "x-both": "arg"}, set_global=False)
    providers.append(provider)
    emit_two_spans(provider)
    provider.force_flush(5000)

    request = http_server.requests[0]
    assert request["path"] == "/v1/traces"
    assert request["headers"]["x-from-env"] == "1"
    assert request["headers"]["x-from-arg"] == "2"
    assert request["headers"]["x-both"] == "arg"


def test_otlp_grpc(monkeypatch, grpc_server, providers):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from-env=1")
    provider = configure(
        "otlp", protocol="grpc", endpoint=grpc_server.url, headers={"X-Team": "agents"}, set_global=False
    )
    providers.append(provider)
    emit_two_spans(provider)
    assert provider.force_flush(10000)

    assert len(grpc_server.received) == 1
    request, metadata = grpc_server.received[0]
    assert metadata["x-team"] == "agents"
    assert metadata["x-from-env"] == "1"  # the gRPC exporter alone would drop env headers when given some
    assert_two_spans(decode_request(request))


def test_otlp_grpc_chosen_by_environment(monkeypatch, grpc_server, providers):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", grpc_server.url)
    provider = configure("otlp", set_global=False)
    providers.append(provider)
    emit_two_spans(provider)
    provider.force_flush(10000)
    assert len(grpc_server.received) == 1
    assert_two_spans(decode_request(grpc_server.received[0][0]))


@pytest.mark.parametrize(
    ("blocked_module", "kwargs"),
    [
        ("opentelemetry.exporter.otlp.proto.http.trace_exporter", {"backend": "otlp"}),
        ("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", {"backend": "otlp", "protocol": "grpc"}),
        ("opentelemetry.exporter.otlp.proto.http.trace_exporter", {"backend": "phoenix"}),
    ],
)
def test_missing_exporter_package_says_what_to_install(monkeypatch, blocked_module, kwargs):
    monkeypatch.setitem(sys.modules, blocked_module, None)  # makes `import` fail like an absent package
    with pytest.raises(ImportError) as excinfo:
        configure(set_global=False, **kwargs)
    assert 'pip install "smolagents-otel[otlp]"' in str(excinfo.value)


# --------------------------------------------------------------------------------------------- phoenix


def test_phoenix_http_sets_project_name(http_server, providers):
    provider = configure("phoenix", endpoint=http_server.url, service_name="my-project", set_global=False)
    providers.append(provider)
    emit_two_spans(provider)
    provider.force_flush(5000)

    request = http_server.requests[0]
    assert request["path"] == "/v1/traces"
    spans = decode_request(request["body"])
    assert_two_spans(spans, service_name="my-project")
    assert spans[0]["resource"]["openinference.project.name"] == "my-project"


def test_phoenix_grpc(grpc_server, providers):
    provider = configure("phoenix", protocol="grpc", endpoint=grpc_server.url, set_global=False)
    providers.append(provider)
    emit_two_spans(provider)
    provider.force_flush(10000)
    spans = decode_request(grpc_server.received[0][0])
    assert spans[0]["resource"]["openinference.project.name"] == "smolagents-agent"


def test_phoenix_collector_endpoint_and_api_key_from_env(monkeypatch, http_server, providers, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", http_server.url)
    monkeypatch.setenv("PHOENIX_API_KEY", "phx-api-key-SECRET")
    provider = configure("phoenix", set_global=False)
    providers.append(provider)
    emit_two_spans(provider)
    provider.force_flush(5000)
    request = http_server.requests[0]
    assert request["path"] == "/v1/traces"
    assert request["headers"]["authorization"] == "Bearer phx-api-key-SECRET"
    assert "phx-api-key-SECRET" not in caplog.text


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [("http/protobuf", "http://127.0.0.1:6006/v1/traces"), ("grpc", "127.0.0.1:4317")],
)
def test_phoenix_default_endpoints(providers, caplog, protocol, expected):
    caplog.set_level(logging.INFO, logger="smolagents_otel.export_setup")
    providers.append(configure("phoenix", protocol=protocol, set_global=False))
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert expected in message
    assert "Phoenix" in message


# --------------------------------------------------------------------------------------------- console, file


def test_console_prints_each_span_synchronously(capsys, providers):
    provider = configure("console", set_global=False)
    providers.append(provider)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("hello-console"):
        pass
    # No force_flush: the console goes through a SimpleSpanProcessor.
    out = capsys.readouterr().out
    assert '"name": "hello-console"' in out


def test_file_backend_round_trip(tmp_path, providers):
    path = tmp_path / "nested" / "traces.jsonl"
    provider = configure("file", file_path=path, service_name="file-svc", set_global=False)
    providers.append(provider)
    tracer = provider.get_tracer("file-scope", "1.2.3")
    with tracer.start_as_current_span(
        "agent.run",
        kind=SpanKind.CLIENT,
        attributes={
            "s": "text",
            "i": 42,
            "big": 2**62,
            "f": 0.25,
            "b": False,
            "ls": ["a", "b"],
            "li": [1, 2],
            "lf": [1.5],
            "lb": [True, False],
        },
    ) as root:
        root.add_event("step.started", {"step": 1, "label": "first"})
        with tracer.start_as_current_span("tool.call") as child:
            child.set_status(Status(StatusCode.ERROR, "tool failed"))
    assert provider.force_flush(5000)

    spans = read_otlp_json_file(path)
    by_name = {span["name"]: span for span in spans}
    assert sorted(by_name) == ["agent.run", "tool.call"]
    run, tool = by_name["agent.run"], by_name["tool.call"]
    assert run["attributes"] == {
        "s": "text",
        "i": 42,
        "big": 2**62,
        "f": 0.25,
        "b": False,
        "ls": ["a", "b"],
        "li": [1, 2],
        "lf": [1.5],
        "lb": [True, False],
    }
    assert run["kind"] == "CLIENT"
    assert run["parent_span_id"] is None
    assert tool["parent_span_id"] == run["span_id"]
    assert tool["trace_id"] == run["trace_id"]
    assert len(run["trace_id"]) == 32 and len(run["span_id"]) == 16
    assert run["start_ns"] <= tool["start_ns"] <= tool["end_ns"] <= run["end_ns"]
    assert run["start_ns"] > 1_600_000_000 * 10**9
    assert run["status_code"] == "UNSET" and run["status_message"] == ""
    assert tool["status_code"] == "ERROR" and tool["status_message"] == "tool failed"
    assert [(e["name"], e["attributes"]) for e in run["events"]] == [
        ("step.started", {"step": 1, "label": "first"})
    ]
    assert run["start_ns"] <= run["events"][0]["time_ns"] <= run["end_ns"]
    assert run["scope_name"] == "file-scope"
    assert run["resource_attributes"]["service.name"] == "file-svc"

    # The raw line is the standard OTLP JSON encoding.
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    document = json.loads(lines[0])
    scope_spans = document["resourceSpans"][0]["scopeSpans"][0]
    assert scope_spans["scope"] == {"name": "file-scope", "version": "1.2.3"}
    raw = {span["name"]: span for span in scope_spans["spans"]}
    raw_run = raw["agent.run"]
    assert raw_run["traceId"] == run["trace_id"] and all(c in "0123456789abcdef" for c in raw_run["traceId"])
    assert raw["tool.call"]["parentSpanId"] == raw_run["spanId"]
    assert "parentSpanId" not in raw_run
    assert raw_run["kind"] == 3
    assert isinstance(raw_run["startTimeUnixNano"], str) and isinstance(raw_run["endTimeUnixNano"], str)
    attributes = {kv["key"]: kv["value"] for kv in raw_run["attributes"]}
    assert attributes["s"] == {"stringValue": "text"}
    assert attributes["i"] == {"intValue": "42"}
    assert attributes["f"] == {"doubleValue": 0.25}
    assert attributes["b"] == {"boolValue": False}
    assert attributes["ls"] == {"arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}}
    assert raw["tool.call"]["status"] == {"code": 2, "message": "tool failed"}
    assert raw_run["events"][0]["name"] == "step.started"
    assert isinstance(raw_run["events"][0]["timeUnixNano"], str)


def test_file_backend_appends_one_document_per_batch(tmp_path, providers):
    path = tmp_path / "t.jsonl"
    path.write_text('{"resourceSpans": []}\n', encoding="utf-8")  # existing content is kept
    provider = configure("file", file_path=str(path), set_global=False)
    providers.append(provider)
    tracer = provider.get_tracer("t")
    for name in ("first", "second"):
        with tracer.start_as_current_span(name):
            pass
        provider.force_flush(5000)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    assert [s["name"] for s in read_otlp_json_file(path)] == ["first", "second"]


def test_file_backend_default_path(tmp_path, monkeypatch, providers):
    monkeypatch.chdir(tmp_path)
    provider = configure("file", set_global=False)
    providers.append(provider)
    with provider.get_tracer("t").start_as_current_span("default-path"):
        pass
    provider.force_flush(5000)
    spans = read_otlp_json_file(tmp_path / "smolagents-otel-traces.jsonl")
    assert [s["name"] for s in spans] == ["default-path"]


def _library_otlp_json(spans) -> dict[str, Any]:
    """Reference: the OTLP protobuf encoder + protobuf's JSON mapping, fixed up to OTLP JSON rules."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    document = MessageToDict(encode_spans(spans), use_integers_for_enums=True)

    def fix(node):
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()  # OTLP JSON: hex ids, not base64
                else:
                    fix(value)
        elif isinstance(node, list):
            for item in node:
                fix(item)

    fix(document)
    return document


def test_otlp_json_encoding_matches_official_protobuf_encoder():
    pytest.importorskip("opentelemetry.exporter.otlp.proto.common")
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "ref"}, schema_url="https://opentelemetry.io/schemas/1.21.0"
        ),
        shutdown_on_exit=False,
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer_a = provider.get_tracer("scope-a", "1.0", schema_url="https://example.com/s", attributes={"sa": 1})
    tracer_b = provider.get_tracer("scope-b")
    remote_parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    linked = SpanContext(trace_id=0x1, span_id=0x2, is_remote=False)
    with tracer_a.start_as_current_span(
        "remote-child",
        context=trace.set_span_in_context(NonRecordingSpan(remote_parent)),
        kind=SpanKind.SERVER,
        links=[Link(linked, {"why": "because"})],
        attributes={"s": "x", "i": -7, "f": 1e300, "b": True, "ls": ["a"], "lb": [False], "empty": []},
    ) as span:
        span.add_event("e1", {"k": "v"}, timestamp=1_700_000_000_000_000_001)
        span.add_event("e2")
        span.set_status(Status(StatusCode.OK))
        with tracer_b.start_as_current_span("local-child", kind=SpanKind.PRODUCER):
            pass
    with tracer_b.start_as_current_span("consumer", kind=SpanKind.CONSUMER) as span:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    finished = memory.get_finished_spans()
    assert len(finished) == 3

    assert spans_to_otlp_json(finished) == _library_otlp_json(finished)


def test_otlp_json_special_floats_are_valid_json(tmp_path):
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span(
        "floats", attributes={"nan": math.nan, "inf": math.inf, "ninf": -math.inf}
    ):
        pass
    document = spans_to_otlp_json(memory.get_finished_spans())
    text = json.dumps(document, allow_nan=False)  # raises if a bare NaN/Infinity slipped through
    path = tmp_path / "f.jsonl"
    path.write_text(text + "\n", encoding="utf-8")
    (span,) = read_otlp_json_file(path)
    assert math.isnan(span["attributes"]["nan"])
    assert span["attributes"]["inf"] == math.inf and span["attributes"]["ninf"] == -math.inf


def test_read_otlp_json_file_reports_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"resourceSpans": []}\n\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:3"):
        read_otlp_json_file(path)


# ---------------------------------------------------------------------------------- resource, sampling


def test_service_name_precedence(monkeypatch, tmp_path, providers):
    provider = configure("file", file_path=tmp_path / "a.jsonl", set_global=False)
    providers.append(provider)
    assert provider.resource.attributes["service.name"] == "smolagents-agent"

    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    provider = configure("file", file_path=tmp_path / "b.jsonl", set_global=False)
    providers.append(provider)
    assert provider.resource.attributes["service.name"] == "from-env"

    provider = configure("file", file_path=tmp_path / "c.jsonl", service_name="from-arg", set_global=False)
    providers.append(provider)
    assert provider.resource.attributes["service.name"] == "from-arg"


def _count_exported(provider: TracerProvider, path: Path, n: int = 50) -> int:
    tracer = provider.get_tracer("t")
    for _ in range(n):
        with tracer.start_as_current_span("sampled?"):
            pass
    provider.force_flush(5000)
    return len(read_otlp_json_file(path)) if path.exists() else 0


def test_sampling_ratio_argument(tmp_path, providers):
    none = configure("file", file_path=tmp_path / "none.jsonl", sampling_ratio=0, set_global=False)
    everything = configure("file", file_path=tmp_path / "all.jsonl", sampling_ratio=1.0, set_global=False)
    quarter = configure("file", file_path=tmp_path / "q.jsonl", sampling_ratio=0.25, set_global=False)
    providers.extend([none, everything, quarter])
    assert _count_exported(none, tmp_path / "none.jsonl") == 0
    assert _count_exported(everything, tmp_path / "all.jsonl") == 50
    assert quarter.sampler.get_description().startswith("ParentBased{root:TraceIdRatioBased{0.25}")


def test_sampling_defaults_to_always_on(tmp_path, providers):
    provider = configure("file", file_path=tmp_path / "t.jsonl", set_global=False)
    providers.append(provider)
    assert _count_exported(provider, tmp_path / "t.jsonl") == 50


@pytest.mark.parametrize(
    ("sampler", "expected_prefix"),
    [
        ("parentbased_traceidratio", "ParentBased{root:TraceIdRatioBased{0.0}"),
        ("traceidratio", "TraceIdRatioBased"),
    ],
)
def test_sampling_ratio_from_environment(monkeypatch, tmp_path, providers, sampler, expected_prefix):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    provider = configure("file", file_path=tmp_path / "t.jsonl", set_global=False)
    providers.append(provider)
    assert provider.sampler.get_description().startswith(expected_prefix)
    assert _count_exported(provider, tmp_path / "t.jsonl") == 0


def test_sampling_argument_beats_environment(monkeypatch, tmp_path, providers):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    provider = configure("file", file_path=tmp_path / "t.jsonl", sampling_ratio=1, set_global=False)
    providers.append(provider)
    assert _count_exported(provider, tmp_path / "t.jsonl") == 50


# --------------------------------------------------------------------------------------------- bad values


BAD_CALLS = [
    pytest.param(
        {"backend": "jaeger"}, ValueError, ["backend", "'langfuse'", "'otlp'", "'phoenix'"], id="unknown"
    ),
    pytest.param({"backend": 3}, TypeError, ["backend"], id="backend-type"),
    pytest.param({"backend": ""}, ValueError, ["backend"], id="backend-empty"),
    pytest.param(
        {"backend": "otlp", "protocol": "http/json"}, ValueError, ["protocol", "'grpc'"], id="protocol"
    ),
    pytest.param({"backend": "otlp", "protocol": 4317}, TypeError, ["protocol"], id="protocol-type"),
    pytest.param(
        {"backend": "file", "sampling_ratio": 1.5}, ValueError, ["sampling_ratio", "1.0"], id="ratio-high"
    ),
    pytest.param({"backend": "file", "sampling_ratio": -0.1}, ValueError, ["sampling_ratio"], id="ratio-low"),
    pytest.param(
        {"backend": "file", "sampling_ratio": math.nan}, ValueError, ["sampling_ratio"], id="ratio-nan"
    ),
    pytest.param({"backend": "file", "sampling_ratio": "0.5"}, TypeError, ["sampling_ratio"], id="ratio-str"),
    pytest.param({"backend": "file", "sampling_ratio": True}, TypeError, ["sampling_ratio"], id="ratio-bool"),
    pytest.param({"backend": "otlp", "endpoint": ""}, ValueError, ["endpoint"], id="endpoint-empty"),
    pytest.param({"backend": "otlp", "endpoint": "   "}, ValueError, ["endpoint"], id="endpoint-blank"),
    pytest.param({"backend": "otlp", "endpoint": 4318}, TypeError, ["endpoint"], id="endpoint-type"),
    pytest.param(
        {"backend": "otlp", "endpoint": "localhost:4318"}, ValueError, ["endpoint", "http://"], id="no-scheme"
    ),
    pytest.param(
        {"backend": "phoenix", "endpoint": "ftp://x"}, ValueError, ["endpoint", "https://"], id="ftp"
    ),
    pytest.param({"backend": "otlp", "headers": ["a=b"]}, TypeError, ["headers"], id="headers-type"),
    pytest.param({"backend": "otlp", "headers": {"x-n": 1}}, TypeError, ["headers"], id="header-value"),
    pytest.param({"backend": "otlp", "headers": {"": "v"}}, ValueError, ["headers"], id="header-key"),
    pytest.param({"backend": "file", "service_name": ""}, ValueError, ["service_name"], id="service-empty"),
    pytest.param(
        {"backend": "console", "file_path": "x.jsonl"}, ValueError, ["file_path"], id="file-path-console"
    ),
    pytest.param(
        {"backend": "console", "endpoint": "http://x"}, ValueError, ["endpoint"], id="endpoint-console"
    ),
    pytest.param({"backend": "file", "protocol": "grpc"}, ValueError, ["protocol"], id="protocol-file"),
    pytest.param({"backend": "file", "file_path": 12}, TypeError, ["file_path"], id="file-path-type"),
    pytest.param({"backend": "file", "file_path": ""}, ValueError, ["file_path"], id="file-path-empty"),
    pytest.param({"backend": "console", "set_global": "yes"}, TypeError, ["set_global"], id="set-global"),
    pytest.param(
        {"backend": "langfuse"}, ValueError, ["LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"], id="lf-keys"
    ),
    pytest.param(
        {}, ValueError, ["backend", "LANGFUSE_PUBLIC_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT"], id="no-backend"
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "fragments"), BAD_CALLS)
def test_bad_arguments_raise_before_anything_is_built(kwargs, error, fragments):
    handlers_before = atexit._ncallbacks()
    with pytest.raises(error) as excinfo:
        configure(**kwargs)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message
    assert atexit._ncallbacks() == handlers_before  # no provider was made
    assert not sdk_provider_is_set()


@pytest.mark.parametrize(
    ("env", "kwargs", "fragments"),
    [
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            {"backend": "otlp"},
            ["OTEL_EXPORTER_OTLP_PROTOCOL", "'grpc'"],
        ),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"}, {"backend": "phoenix"}, ["TRACES_PROTOCOL"]),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
            {"backend": "console"},
            ["OTEL_TRACES_SAMPLER_ARG"],
        ),
        (
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
            {"backend": "console"},
            ["OTEL_TRACES_SAMPLER_ARG", "1.0"],
        ),
        (
            {"SMOLAGENTS_OTEL_EXIT_FLUSH_TIMEOUT_MS": "soon"},
            {"backend": "console"},
            ["EXIT_FLUSH_TIMEOUT_MS"],
        ),
        ({"SMOLAGENTS_OTEL_EXIT_FLUSH_TIMEOUT_MS": "-5"}, {"backend": "console"}, ["EXIT_FLUSH_TIMEOUT_MS"]),
        ({"LANGFUSE_HOST": "cloud.langfuse.com"}, {"backend": "langfuse"}, ["LANGFUSE_HOST", "https://"]),
        (
            {"PHOENIX_COLLECTOR_ENDPOINT": "phoenix:6006"},
            {"backend": "phoenix"},
            ["PHOENIX_COLLECTOR_ENDPOINT"],
        ),
    ],
)
def test_bad_environment_values_raise(monkeypatch, env, kwargs, fragments):
    set_langfuse_keys(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handlers_before = atexit._ncallbacks()
    with pytest.raises(ValueError) as excinfo:
        configure(set_global=False, **kwargs)
    for fragment in fragments:
        assert fragment in str(excinfo.value)
    assert atexit._ncallbacks() == handlers_before


@pytest.mark.parametrize(
    ("present", "missing"),
    [("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"), ("LANGFUSE_SECRET_KEY", "LANGFUSE_PUBLIC_KEY")],
)
def test_langfuse_with_one_key_names_the_missing_one(monkeypatch, present, missing):
    monkeypatch.setenv(present, SECRET_KEY)
    with pytest.raises(ValueError) as excinfo:
        configure("langfuse", set_global=False)
    assert missing in str(excinfo.value)
    assert SECRET_KEY not in str(excinfo.value)


def test_langfuse_rejects_grpc(monkeypatch):
    set_langfuse_keys(monkeypatch)
    with pytest.raises(ValueError, match="http/protobuf"):
        configure("langfuse", protocol="grpc", set_global=False)


def test_file_path_that_is_a_directory(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        configure("file", file_path=tmp_path, set_global=False)


# --------------------------------------------------------------------------------------------- secrets


def _all_errors_with_secret_set(monkeypatch, url: str) -> list[BaseException]:
    set_langfuse_keys(monkeypatch)
    calls = [
        {"backend": "langfuse", "protocol": "grpc"},
        {"backend": "langfuse", "endpoint": "ftp://example.invalid"},
        {"backend": "langfuse", "headers": {"Authorization": 5}},
        {"backend": "langfuse", "sampling_ratio": 3},
        {"backend": "langfuse", "endpoint": url, "file_path": "x"},
        {"backend": "nope"},
    ]
    errors = []
    for kwargs in calls:
        with pytest.raises((ValueError, TypeError)) as excinfo:
            configure(set_global=False, **kwargs)
        errors.append(excinfo.value)
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY")
    with pytest.raises(ValueError) as excinfo:
        provider_from_environment()
    errors.append(excinfo.value)
    return errors


def test_secret_key_never_in_logs_or_errors(monkeypatch, caplog, providers):
    caplog.set_level(logging.DEBUG)  # every logger, every level, exporter and urllib3 included
    server = CaptureServer(status=401, reply=b'{"message": "Invalid credentials"}')
    try:
        set_langfuse_keys(monkeypatch)
        provider = configure("langfuse", endpoint=server.url, set_global=False)
        providers.append(provider)
        emit_two_spans(provider)
        provider.force_flush(5000)
        provider.shutdown()
        assert len(server.requests) == 1  # the export really happened (and was refused)
        assert server.requests[0]["headers"]["authorization"] == f"Basic {BASIC_TOKEN}"
        errors = _all_errors_with_secret_set(monkeypatch, server.url)
    finally:
        server.stop()

    assert caplog.records, "expected log records to inspect"
    for text in [caplog.text, *(r.getMessage() for r in caplog.records)]:
        assert SECRET_KEY not in text
        assert BASIC_TOKEN not in text
    for error in errors:
        for text in (str(error), repr(error), str(error.__cause__), str(error.__context__)):
            assert SECRET_KEY not in text
            assert BASIC_TOKEN not in text


def test_log_line_hides_url_credentials(http_server, caplog, providers):
    caplog.set_level(logging.INFO, logger="smolagents_otel.export_setup")
    endpoint = f"http://user:url-password@127.0.0.1:{http_server.port}/v1/traces?token=query-secret"
    providers.append(configure("otlp", endpoint=endpoint, set_global=False))
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert f"127.0.0.1:{http_server.port}/v1/traces" in message
    assert "url-password" not in message and "query-secret" not in message


# --------------------------------------------------------------------------------------------- environment


def test_provider_from_environment_langfuse(monkeypatch, http_server, fresh_global):
    set_langfuse_keys(monkeypatch)
    monkeypatch.setenv("LANGFUSE_HOST", http_server.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # Langfuse keys win
    assert not sdk_provider_is_set()
    provider = provider_from_environment()
    assert isinstance(provider, TracerProvider)
    assert trace.get_tracer_provider() is provider
    assert sdk_provider_is_set()
    emit_two_spans(provider)
    provider.force_flush(5000)
    assert [r["path"] for r in http_server.requests] == ["/api/public/otel/v1/traces"]


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
def test_provider_from_environment_otlp(monkeypatch, http_server, fresh_global, variable):
    url = http_server.url if variable == "OTEL_EXPORTER_OTLP_ENDPOINT" else http_server.url + "/v1/traces"
    monkeypatch.setenv(variable, url)
    provider = provider_from_environment()
    assert trace.get_tracer_provider() is provider
    emit_two_spans(provider)
    provider.force_flush(5000)
    assert [r["path"] for r in http_server.requests] == ["/v1/traces"]
    assert "authorization" not in http_server.requests[0]["headers"]
    assert_two_spans(decode_request(http_server.requests[0]["body"]))


def test_configure_without_backend_follows_environment(monkeypatch, http_server, providers):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_server.url)
    provider = configure(set_global=False)
    providers.append(provider)
    emit_two_spans(provider)
    provider.force_flush(5000)
    assert [r["path"] for r in http_server.requests] == ["/v1/traces"]


def test_provider_from_environment_nothing_set_warns_once(caplog, fresh_global):
    caplog.set_level(logging.DEBUG, logger="smolagents_otel.export_setup")
    assert provider_from_environment() is None
    assert provider_from_environment() is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    for fragment in (
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "configure(",
    ):
        assert fragment in message
    assert not sdk_provider_is_set()


@pytest.mark.parametrize(
    ("present", "missing"),
    [("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"), ("LANGFUSE_SECRET_KEY", "LANGFUSE_PUBLIC_KEY")],
)
def test_provider_from_environment_one_langfuse_key(monkeypatch, fresh_global, present, missing):
    monkeypatch.setenv(present, "value-of-" + present)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(ValueError) as excinfo:
        provider_from_environment()
    assert f"{missing} is not" in str(excinfo.value)
    assert "value-of-" not in str(excinfo.value)
    assert not sdk_provider_is_set()


def test_provider_from_environment_respects_sdk_disabled(monkeypatch, caplog, fresh_global):
    caplog.set_level(logging.DEBUG, logger="smolagents_otel.export_setup")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    assert provider_from_environment() is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# ---------------------------------------------------------------------------------- global provider


def test_sdk_provider_is_set(fresh_global, tmp_path):
    assert not sdk_provider_is_set()  # default proxy provider
    trace.set_tracer_provider(trace.NoOpTracerProvider())
    assert not sdk_provider_is_set()
    _reset_global_tracer_provider()
    provider = configure("file", file_path=tmp_path / "t.jsonl")
    assert trace.get_tracer_provider() is provider
    assert sdk_provider_is_set()


def test_second_global_configure_warns(fresh_global, tmp_path, caplog, providers):
    caplog.set_level(logging.WARNING, logger="smolagents_otel.export_setup")
    first = configure("file", file_path=tmp_path / "a.jsonl")
    second = configure("file", file_path=tmp_path / "b.jsonl")
    providers.append(second)
    assert trace.get_tracer_provider() is first
    assert any("already set" in r.getMessage() for r in caplog.records)


def test_set_global_false_leaves_global_alone(fresh_global, tmp_path, providers):
    providers.append(configure("file", file_path=tmp_path / "t.jsonl", set_global=False))
    assert not sdk_provider_is_set()


# --------------------------------------------------------------------------------------------- exit handling


def test_one_exit_handler_per_provider(tmp_path, providers):
    before = atexit._ncallbacks()
    provider = configure("file", file_path=tmp_path / "t.jsonl", set_global=False)
    providers.append(provider)
    assert atexit._ncallbacks() == before + 1
    assert export_setup._register_exit_flush(provider, 100) is False
    assert atexit._ncallbacks() == before + 1


def _run_child(
    script: str, env: dict[str, str], timeout: float = 60
) -> tuple[subprocess.CompletedProcess, float]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LANGFUSE_", "PHOENIX_"))}
    child_env.update(env)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_DIR), child_env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    finished = time.time()
    assert proc.returncode == 0, proc.stderr
    script_end = float(proc.stdout.strip().splitlines()[-1])
    return proc, finished - script_end


def test_exit_handler_flushes_pending_spans(tmp_path):
    path = tmp_path / "exit.jsonl"
    script = f"""
        import time
        from smolagents_otel.export_setup import configure
        provider = configure("file", file_path={str(path)!r})
        with provider.get_tracer("t").start_as_current_span("never-flushed-by-hand"):
            pass
        print(time.time())
    """
    _run_child(script, {})
    assert [s["name"] for s in read_otlp_json_file(path)] == ["never-flushed-by-hand"]


def test_exit_handler_is_bounded_when_collector_hangs():
    # A listening socket that never accepts: connections complete in the backlog, requests never
    # get an answer. The exporter alone would wait OTEL_EXPORTER_OTLP_TIMEOUT (30 s) per attempt.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hang:
        hang.bind(("127.0.0.1", 0))
        hang.listen(16)
        port = hang.getsockname()[1]
        script = f"""
            import time
            from smolagents_otel.export_setup import configure
            provider = configure("otlp", endpoint="http://127.0.0.1:{port}", set_global=False)
            with provider.get_tracer("t").start_as_current_span("stuck"):
                pass
            print(time.time())
        """
        proc, exit_seconds = _run_child(
            script, {"SMOLAGENTS_OTEL_EXIT_FLUSH_TIMEOUT_MS": "500", "OTEL_EXPORTER_OTLP_TIMEOUT": "30"}
        )
    assert exit_seconds < 10, f"exit took {exit_seconds:.1f}s"
    assert "within 500 ms" in proc.stderr
