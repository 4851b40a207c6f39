"""What Langfuse would make of the demo's spans, checked against a capture server standing in for Langfuse.

The capture server on 127.0.0.1 records every request. The app side is ours (``configure(backend=
"langfuse")``) or Langfuse's own Python SDK (``langfuse.get_client()``). The OTLP protobuf bodies are
decoded and run through :func:`langfuse_observation`, a small re-implementation of the rules Langfuse's
server applies (docs: /work/shared/reference/langfuse-otel-mapping.md; source:
``packages/shared/src/server/otel/ObservationTypeMapper.ts`` and ``OtelIngestionProcessor.ts`` in
langfuse/langfuse): observation type, name, model, usage, the input/output pair, level.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from smolagents_otel import configure
from smolagents_otel.demo import DEMO_MODEL_ID, ROOT_SPAN_NAME, run_demo

PUBLIC_KEY = "pk-lf-0123-demo"
SECRET_KEY = "sk-lf-4567-demo"
TRACES_PATH = "/api/public/otel/v1/traces"


# --------------------------------------------------------------------------------------------- capture server


class CaptureServer:
    """Records every request (method, path, headers, decompressed body); answers 200 with JSON."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                with capture.lock:
                    capture.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                reply = b'{"status":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_POST = do_GET = do_PUT = _record  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def trace_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == TRACES_PATH]


@pytest.fixture
def capture():
    server = CaptureServer()
    yield server
    server.close()


# --------------------------------------------------------------------------------------------- decoding


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def decode(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spans of OTLP protobuf bodies, flattened: ids as hex, attributes as a dict, scope and resource."""
    spans = []
    for request in requests:
        message = ExportTraceServiceRequest()
        message.ParseFromString(request["body"])
        for resource_spans in message.resource_spans:
            resource = {kv.key: _any_value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        {
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex() or None,
                            "name": span.name,
                            "status_code": span.status.code,  # 2 = ERROR
                            "status_message": span.status.message,
                            "attributes": {kv.key: _any_value(kv.value) for kv in span.attributes},
                            "events": [
                                {
                                    "name": e.name,
                                    "attributes": {kv.key: _any_value(kv.value) for kv in e.attributes},
                                }
                                for e in span.events
                            ],
                            "scope": scope_spans.scope.name,
                            "resource": resource,
                        }
                    )
    return spans


# ------------------------------------------------------------------------------------------ Langfuse's rules

LANGFUSE_TYPES = {"span", "generation", "event", "embedding", "agent", "tool", "chain", "retriever"}
LANGFUSE_TYPES |= {"guardrail", "evaluator"}
OPENINFERENCE_TYPES = {
    "LLM": "generation",
    "CHAIN": "chain",
    "AGENT": "agent",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
    "EMBEDDING": "embedding",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
}
GENAI_OPERATION_TYPES = {
    "chat": "generation",
    "completion": "generation",
    "text_completion": "generation",
    "generate_content": "generation",
    "generate": "generation",
    "embeddings": "embedding",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "execute_tool": "tool",
}
TYPE_MODEL_KEYS = ("langfuse.observation.model.name", "gen_ai.request.model", "gen_ai.response.model")
TYPE_MODEL_KEYS += ("llm.model_name", "model")
MODEL_KEYS = ("langfuse.observation.model.name", "gen_ai.response.model", "gen_ai.request.model")
MODEL_KEYS += ("llm.response.model", "llm.model_name", "model")
INPUT_EVENTS = {
    "gen_ai.system.message",
    "gen_ai.user.message",
    "gen_ai.assistant.message",
    "gen_ai.tool.message",
}
GENAI_EVENTS = INPUT_EVENTS | {"gen_ai.choice", "gen_ai.content.prompt", "gen_ai.content.completion"}
GENAI_EVENTS |= {"gen_ai.client.inference.operation.details"}
# (input key, output key) pairs after Langfuse's own and the gen_ai events, in the server's order.
PAIRS = [
    ("gcp.vertex.agent.llm_request", "gcp.vertex.agent.llm_response"),
    ("prompt", "all_messages_events"),
    ("lk.input_text", "lk.function_tool.output"),
    ("mlflow.spanInputs", "mlflow.spanOutputs"),
    ("traceloop.entity.input", "traceloop.entity.output"),
    ("input.value", "output.value"),  # OpenInference (the server's comment: "SmolAgents")
    ("input", "output"),
    ("tool_arguments", "tool_response"),
    ("gen_ai.prompt.*", "gen_ai.completion.*"),
    ("llm.input_messages.*", "llm.output_messages.*"),
    ("gen_ai.input.messages", "gen_ai.output.messages"),
    ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result"),
]


def _meaningful(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def observation_type(attributes: dict[str, Any]) -> tuple[str, str]:
    """(type, rule that decided): the first mapper that can map and gives a known type wins."""
    value = attributes.get("langfuse.observation.type")
    if _meaningful(value) and value in LANGFUSE_TYPES:
        return value, "langfuse.observation.type"
    value = attributes.get("openinference.span.kind")
    if _meaningful(value) and value in OPENINFERENCE_TYPES:
        return OPENINFERENCE_TYPES[value], "openinference.span.kind"
    value = attributes.get("gen_ai.operation.name")
    if _meaningful(value) and value in GENAI_OPERATION_TYPES:
        return GENAI_OPERATION_TYPES[value], "gen_ai.operation.name"
    # (Vercel AI SDK rules: operation.name / ai.operationId, absent here; asserted below)
    if _meaningful(attributes.get("gen_ai.tool.name")) or _meaningful(attributes.get("gen_ai.tool.call.id")):
        return "tool", "gen_ai.tool.*"
    if any(_meaningful(attributes.get(k)) for k in TYPE_MODEL_KEYS):
        return "generation", "model key"
    return "span", "default"


def _prefixed(attributes: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if k.startswith(prefix)}


def input_output(attributes: dict[str, Any], events: list[dict[str, Any]]) -> tuple[Any, Any, str | None]:
    """The (input, output) pair and where it came from; the first source with either value wins."""
    lf_in, lf_out = (
        attributes.get("langfuse.observation.input"),
        attributes.get("langfuse.observation.output"),
    )
    if lf_in is not None or lf_out is not None:
        return lf_in, lf_out, "langfuse.observation.*"
    named = [e for e in events if e["name"] in GENAI_EVENTS]
    if named:
        ins = [
            e["attributes"]
            for e in named
            if e["name"] in INPUT_EVENTS or e["name"] == "gen_ai.content.prompt"
        ]
        outs = [e["attributes"] for e in named if e["name"] not in INPUT_EVENTS | {"gen_ai.content.prompt"}]
        return ins or None, outs or None, "gen_ai events"
    for in_key, out_key in PAIRS:
        if in_key.endswith(".*"):
            got_in = _prefixed(attributes, in_key[:-1]) or None
            got_out = _prefixed(attributes, out_key[:-1]) or None
        else:
            got_in, got_out = attributes.get(in_key), attributes.get(out_key)
        if got_in or got_out:  # the server tests truthiness
            return got_in, got_out, in_key
    return None, None, None


def usage(attributes: dict[str, Any]) -> dict[str, int]:
    if "langfuse.observation.usage_details" in attributes:
        return json.loads(attributes["langfuse.observation.usage_details"])
    raw: dict[str, Any] = {}
    for key, value in attributes.items():
        for prefix in ("gen_ai.usage.", "llm.token_count."):
            if key.startswith(prefix):
                raw.setdefault(key[len(prefix) :], value)
    out: dict[str, int] = {}
    for name, keys in (
        ("input", ("prompt_tokens", "input_tokens", "prompt")),
        ("output", ("completion_tokens", "output_tokens", "completion")),
        ("total", ("total_tokens", "total")),
    ):
        for key in keys:
            if key in raw:
                out[name] = raw[key]
                break
    return out


def langfuse_observation(span: dict[str, Any]) -> dict[str, Any]:
    """One span -> the observation Langfuse stores (the fields the tests look at)."""
    attributes = span["attributes"]
    kind, rule = observation_type(attributes)
    tool_name = attributes.get("gen_ai.tool.name")
    name = (tool_name if isinstance(tool_name, str) else json.dumps(tool_name)) if tool_name else span["name"]
    model = next((attributes[k] for k in MODEL_KEYS if _meaningful(attributes.get(k))), None)
    obs_input, obs_output, source = input_output(attributes, span["events"])
    level = attributes.get("langfuse.observation.level") or (
        "ERROR" if span["status_code"] == 2 else "DEFAULT"
    )
    status_message = attributes.get("langfuse.observation.status_message") or span["status_message"] or None
    return {
        "type": kind,
        "type_rule": rule,
        "name": name,
        "model": model,
        "usage": usage(attributes),
        "input": obs_input,
        "output": obs_output,
        "io_source": source,
        "level": level,
        "status_message": status_message,
        "session_id": attributes.get("langfuse.session.id") or attributes.get("session.id"),
    }


# --------------------------------------------------------------------------------------------- assertions


def check_observations(spans: list[dict[str, Any]]) -> Counter:
    """Assert the observation each demo span becomes; returns a count per observation type."""
    by_id = {s["span_id"]: s for s in spans}
    (trace_id,) = {s["trace_id"] for s in spans}
    assert len(trace_id) == 32 and int(trace_id, 16)  # a zero/short id makes Langfuse reject the whole batch
    (root,) = [s for s in spans if s["parent_span_id"] is None]
    types: Counter = Counter()
    for span in spans:
        assert len(span["span_id"]) == 16 and int(span["span_id"], 16)
        if span is not root:
            assert span["parent_span_id"] in by_id, span["name"]  # one tree in Langfuse
        attributes = span["attributes"]
        assert not any(k in attributes for k in ("operation.name", "ai.operationId"))  # no Vercel rules apply
        assert not any(e["name"] in GENAI_EVENTS for e in span["events"])
        obs = langfuse_observation(span)
        types[obs["type"]] += 1
        span_type = attributes.get("smolagents.span.type")
        where = f"{span['name']} -> {obs}"
        if obs["type"] != "generation":
            assert obs["usage"] == {}, where  # usage only on model calls: never counted twice
        # when several conventions are present they agree, so the precedence cannot surprise
        kind = attributes.get("openinference.span.kind")
        operation = GENAI_OPERATION_TYPES.get(attributes.get("gen_ai.operation.name"))
        if kind and operation:
            assert OPENINFERENCE_TYPES[kind] == operation, where
        if "gen_ai.request.model" in attributes and "llm.model_name" in attributes:
            assert attributes["gen_ai.request.model"] == attributes["llm.model_name"], where

        if attributes.get("langfuse.observation.type") == "event":
            assert obs["type"] == "event" and obs["type_rule"] == "langfuse.observation.type", where
            assert span["name"].startswith("smolagents."), where
            parent = by_id[span["parent_span_id"]]
            assert "langfuse.observation.type" not in parent["attributes"], where  # hangs under a real span
            # Langfuse names an observation after gen_ai.tool.name when there is one (tool_start/tool_end)
            expected_name = attributes.get("gen_ai.tool.name") or span["name"]
            assert obs["name"] == expected_name, where
            if span["name"] == "smolagents.veto":
                assert obs["level"] == "WARNING" and attributes["smolagents.veto.reason"], where
            else:
                assert obs["level"] == "DEFAULT", where
        elif span_type == "model":
            assert obs["type"] == "generation", where
            assert obs["name"] == f"chat {DEMO_MODEL_ID}" and obs["model"] == DEMO_MODEL_ID, where
            assert obs["usage"] == {"input": 100, "output": 20}, where
            assert obs["input"] and obs["output"] and obs["io_source"] == "input.value", where
            assert json.loads(obs["input"])[-1]["role"] in ("user", "tool-response")
            assert json.loads(obs["output"])[0]["role"] == "assistant"
        elif span_type in ("tool", "code"):
            assert obs["type"] == "tool", where
            assert (
                obs["name"] == attributes["gen_ai.tool.name"] == span["name"].removeprefix("execute_tool ")
            ), where
            assert obs["input"] and obs["output"] and obs["io_source"] == "input.value", where
        elif span_type == "run":
            assert obs["type"] == "agent" and obs["name"] == span["name"], where
            assert obs["input"] and obs["output"] and obs["io_source"] == "input.value", where
            assert obs["model"] == DEMO_MODEL_ID  # the agent's model, shown on the agent observation
        elif span_type in ("step", "planning"):
            assert obs["type"] == "chain" and obs["name"] == span["name"], where
            if span["status_code"] == 2:  # the vetoed step: an error, no output
                assert obs["level"] == "ERROR", where
                assert "execution blocked: code touching 'subprocess'" in obs["status_message"], where
                assert obs["input"] is None and obs["output"] is None, where
            else:
                assert obs["output"] and obs["level"] == "DEFAULT", where
                # steps carry output.value only: Langfuse shows no input for a step
                assert obs["input"] is None and obs["io_source"] == "input.value", where
        else:
            assert span is root, where
            assert obs["type"] == "chain" and obs["name"] == ROOT_SPAN_NAME, where  # also the trace name
            assert obs["input"] and obs["output"], where
    return types


def check_event_spans_mirror_span_events(spans: list[dict[str, Any]]) -> int:
    """Each lifecycle span event has a Langfuse event span of the same name under the same span."""
    children: dict[str, list[str]] = {}
    for span in spans:
        if span["attributes"].get("langfuse.observation.type") == "event":
            children.setdefault(span["parent_span_id"], []).append(span["name"])
    mirrored = 0
    for span in spans:
        if span["attributes"].get("langfuse.observation.type") == "event":
            continue
        lifecycle = sorted(e["name"] for e in span["events"] if e["name"].startswith("smolagents."))
        assert sorted(children.get(span["span_id"], [])) == lifecycle, span["name"]
        mirrored += len(lifecycle)
    return mirrored


# --------------------------------------------------------------------------------------------- tests


def test_demo_through_configure_langfuse(capture, instrumentor, monkeypatch):
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PUBLIC_KEY)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET_KEY)
    provider = configure(
        backend="langfuse", endpoint=capture.url, service_name="party-demo", set_global=False
    )
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor.instrument(tracer_provider=provider, event_sinks=["span_events", "langfuse_spans"])
    result = run_demo(tracer_provider=provider)
    instrumentor.uninstrument()
    assert provider.force_flush(30_000)
    provider.shutdown()

    requests = capture.trace_requests()
    assert requests and len(requests) == len(capture.requests)  # nothing but OTLP traces was sent
    token = base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    for request in requests:
        assert request["method"] == "POST" and request["path"] == TRACES_PATH
        assert request["headers"]["authorization"] == f"Basic {token}"
        assert request["headers"]["content-type"] == "application/x-protobuf"
        assert request["headers"]["x-langfuse-ingestion-version"] == "4"
    spans = decode(requests)
    sent = memory.get_finished_spans()
    assert sorted(s["span_id"] for s in spans) == sorted(format(s.context.span_id, "016x") for s in sent)
    assert {s["trace_id"] for s in spans} == {result.trace_id}
    assert all(s["resource"]["service.name"] == "party-demo" for s in spans)
    assert all(s["scope"] in ("smolagents_otel", "smolagents_otel.demo") for s in spans)

    types = check_observations(spans)
    mirrored = check_event_spans_mirror_span_events(spans)
    summary = dict(sorted(types.items()))
    print(f"\nLangfuse observations from {len(spans)} spans: {summary}; {mirrored} event spans")
    assert types["generation"] == 10 and types["agent"] == 4 and types["event"] == mirrored > 0
    assert types["chain"] == 1 + 9 + 1  # root, 9 steps, alfred's planning
    # 4 code actions; 6 tools called from code (alfred's 3, catering_agent, 2 final_answer);
    # 5 native tool calls (theme_scout 3, catering_agent 2)
    assert types["tool"] == 4 + 6 + 5
    assert sum(types.values()) == len(spans) and types["span"] == 0


def test_tool_event_observations_keep_the_event_name(capture, instrumentor, monkeypatch):
    """Langfuse would name an observation after gen_ai.tool.name: event spans carry it under another key."""
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PUBLIC_KEY)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET_KEY)
    provider = configure(backend="langfuse", endpoint=capture.url, set_global=False)
    instrumentor.instrument(tracer_provider=provider, event_sinks=["langfuse_spans"])
    run_demo(tracer_provider=provider)
    instrumentor.uninstrument()
    provider.force_flush(30_000)
    provider.shutdown()
    spans = decode(capture.trace_requests())
    tool_events = [s for s in spans if s["name"] in ("smolagents.tool_start", "smolagents.tool_end")]
    assert tool_events
    for span in tool_events:
        obs = langfuse_observation(span)
        assert obs["type"] == "event" and obs["name"] == span["name"]
        assert "gen_ai.tool.name" not in span["attributes"] and span["attributes"]["smolagents.tool.name"]
        assert obs["input"] is not None  # the event's content is what Langfuse shows as its input
    # without the span_events sink the lifecycle events exist only as event spans; what stays on the spans
    # is the exception event and the veto (recorded on the vetoed span whatever the sinks)
    left = Counter(e["name"] for s in spans for e in s["events"])
    assert left == Counter({"exception": 1, "smolagents.veto": 1})
    assert sum(s["name"] == "smolagents.veto" for s in spans) == 1


LANGFUSE_APP = r"""
import json, sys
from langfuse import get_client
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

langfuse = get_client()  # credentials and host from the environment, as in the agents course
provider = trace.get_tracer_provider()
assert isinstance(provider, TracerProvider), type(provider)  # Langfuse installed its provider globally
processors = [type(p).__name__ for p in provider._active_span_processor._span_processors]
memory = InMemorySpanExporter()
provider.add_span_processor(SimpleSpanProcessor(memory))

from smolagents_otel import Instrumentor
from smolagents_otel.demo import run_demo

Instrumentor().instrument(event_sinks=["span_events", "langfuse_spans"])  # the global provider: Langfuse's
result = run_demo()
# control: a span Langfuse's filter must drop (unknown instrumentation scope, no gen_ai.* attribute)
trace.get_tracer("some.http.client").start_span("GET /healthz").end()
langfuse.flush()
print(json.dumps({
    "processors": processors,
    "trace_id": result.trace_id,
    "spans": [
        {"span_id": format(s.context.span_id, "016x"), "name": s.name, "scope": s.instrumentation_scope.name}
        for s in memory.get_finished_spans()
    ],
}))
"""


def test_langfuse_sdk_get_client_forwards_every_span(capture, tmp_path):
    pytest.importorskip("langfuse", reason="the Langfuse Python SDK is not installed (pip install langfuse)")
    script = tmp_path / "app.py"
    script.write_text(LANGFUSE_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LANGFUSE_"))}
    env.update(
        LANGFUSE_PUBLIC_KEY=PUBLIC_KEY,
        LANGFUSE_SECRET_KEY=SECRET_KEY,
        LANGFUSE_HOST=capture.url,
        LANGFUSE_BASE_URL=capture.url,
        SMOLAGENTS_OTEL_SPANS="true",
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    app = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "LangfuseSpanProcessor" in app["processors"]

    requests = capture.trace_requests()
    assert requests
    for request in requests:
        assert request["headers"]["authorization"].startswith("Basic ")
        assert request["headers"]["x-langfuse-public-key"] == PUBLIC_KEY
        assert request["headers"]["content-type"] == "application/x-protobuf"
    received = decode(requests)
    received_ids = {s["span_id"] for s in received}
    ours = [s for s in app["spans"] if s["scope"].startswith("smolagents_otel")]
    control = [s for s in app["spans"] if s["scope"] == "some.http.client"]
    assert len(control) == 1 and control[0]["span_id"] not in received_ids  # the filter is active...
    missing = [s["name"] for s in ours if s["span_id"] not in received_ids]
    assert missing == []  # ...and dropped none of ours
    assert received_ids == {s["span_id"] for s in ours}
    assert {s["trace_id"] for s in received} == {app["trace_id"]}
    types = check_observations(received)
    check_event_spans_mirror_span_events(received)
    print(
        f"\nlangfuse.get_client(): {len(ours)} spans of ours made, {len(received)} received, "
        f"control span dropped; observation types {dict(sorted(types.items()))}"
    )
