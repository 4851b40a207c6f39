"""Real backends: the demo's trace sent to a local Arize Phoenix, directly and through the rotel collector.

One Phoenix per session (``phoenix serve`` on free 127.0.0.1 ports, a fresh working directory), started
with the same :class:`smolagents_otel.cli.PhoenixServer` that ``smolagents-otel demo --ui`` uses. Each
test sends the demo with its own ``openinference.project.name`` and reads the spans back from Phoenix's
REST API, then compares them with what was sent: names, parent links, span kinds, status, attributes and
span events. The figures (spans sent / read back, events sent / kept) are printed (``pytest -s``) and
written to ``<pytest basetemp>/backend-figures.json``.

Skipped only when Arize Phoenix (``arize-phoenix``) or rotel is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from stub_servers import stop_process

from smolagents_otel import configure
from smolagents_otel.cli import PhoenixServer, phoenix_command, wait_for_phoenix_spans
from smolagents_otel.demo import ROOT_SPAN_NAME, run_demo

logger = logging.getLogger(__name__)


def _rotel_agent() -> Path | None:
    spec = importlib.util.find_spec("rotel")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        binary = Path(location) / "rotel-agent"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    return None


ROTEL_AGENT = _rotel_agent()

pytestmark = [
    pytest.mark.backend,
    pytest.mark.skipif(
        phoenix_command() is None,
        reason='Arize Phoenix is not installed (pip install "smolagents-otel[phoenix]" or arize-phoenix)',
    ),
]
needs_rotel = pytest.mark.skipif(
    ROTEL_AGENT is None,
    reason="rotel is not installed (pip install rotel): no <site-packages>/rotel/rotel-agent",
)

KINDS = {"run": "AGENT", "step": "CHAIN", "planning": "CHAIN", "model": "LLM", "tool": "TOOL", "code": "TOOL"}


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory):
    server = PhoenixServer(tmp_path_factory.mktemp("phoenix-working-dir"))
    started = time.monotonic()
    server.start()
    logger.info("Phoenix ready on %s in %.1f s", server.base_url, time.monotonic() - started)
    try:
        yield server
    finally:
        pid = server.process.pid if server.process is not None else None
        server.stop()  # SIGTERM by pid, SIGKILL after 10 s
        if pid is not None:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


@pytest.fixture(scope="session")
def figures(tmp_path_factory):
    rows: list[dict[str, Any]] = []
    yield rows
    path = tmp_path_factory.getbasetemp() / "backend-figures.json"
    path.write_text(json.dumps(rows, indent=2))
    lines = [f"backend round-trip figures (also in {path}):"]
    for row in rows:
        lines.append(
            f"  {row['route']}: spans sent {row['spans_sent']}, read back {row['spans_read']}; "
            f"events sent {row['events_sent']}, kept {row['events_kept']}; "
            f"attributes sent {row['attributes_sent']}, kept {row['attributes_kept']}; "
            f"readable after {row['seconds_until_readable']} s"
        )
    print("\n" + "\n".join(lines))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def rotel(phoenix, tmp_path):
    """rotel-agent forwarding everything it receives (OTLP gRPC + HTTP) to Phoenix over OTLP/HTTP."""
    grpc_port, http_port = _free_port(), _free_port()
    log = open(tmp_path / "rotel.log", "wb")  # noqa: SIM115
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTEL_")}
    proc = subprocess.Popen(
        [
            str(ROTEL_AGENT),
            "start",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{grpc_port}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{http_port}",
            "--exporter",
            "otlp",
            "--otlp-exporter-protocol",
            "http",
            "--otlp-exporter-endpoint",
            phoenix.base_url,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, (tmp_path / "rotel.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", http_port), timeout=0.5).close()
                socket.create_connection(("127.0.0.1", grpc_port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "rotel did not listen within 15 s"
                time.sleep(0.05)
        yield {"grpc": f"http://127.0.0.1:{grpc_port}", "http": f"http://127.0.0.1:{http_port}"}
    finally:
        stop_process(proc)
        log.close()


# --------------------------------------------------------------------------------------------- helpers


def send_demo(provider, instrumentor) -> tuple[str, list[Any]]:
    """Run the demo traced by ``provider`` (plus an in-memory copy of what was sent); flush."""
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor.instrument(tracer_provider=provider)
    try:
        result = run_demo(tracer_provider=provider)
    finally:
        instrumentor.uninstrument()
    assert provider.force_flush(30_000)
    provider.shutdown()
    sent = list(memory.get_finished_spans())
    assert result.trace_id and len(sent) == 40
    return result.trace_id, sent


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def compare(sent: list[Any], read: list[dict[str, Any]], trace_id: str) -> dict[str, int]:
    """Assert Phoenix kept the tree, kinds, status, attributes and events of every sent span."""
    by_id = {r["context"]["span_id"]: r for r in read}
    assert set(by_id) == {format(s.context.span_id, "016x") for s in sent}
    counts = {"events_sent": 0, "events_kept": 0, "attributes_sent": 0, "attributes_kept": 0}
    for span in sent:
        got = by_id[format(span.context.span_id, "016x")]
        where = f"{span.name} ({got['context']['span_id']})"
        assert got["name"] == span.name
        assert got["context"]["trace_id"] == trace_id
        parent = format(span.parent.span_id, "016x") if span.parent is not None else None
        assert got["parent_id"] == parent, where
        span_type = span.attributes.get("smolagents.span.type")
        expected_kind = KINDS[span_type] if span_type else "CHAIN"  # the demo's root span
        assert span.attributes["openinference.span.kind"] == expected_kind
        assert got["span_kind"] == expected_kind, where
        assert got["status_code"] == span.status.status_code.name, where
        if span.status.description:
            assert got["status_message"] == span.status.description, where
        # typed attributes, kept as sent (Phoenix may add derived ones such as llm.model_name);
        # openinference.span.kind is not an attribute there: it became span_kind, checked above
        attributes = {k: v for k, v in span.attributes.items() if k != "openinference.span.kind"}
        for key, value in attributes.items():
            counts["attributes_sent"] += 1
            if got["attributes"].get(key) == _plain(value):
                counts["attributes_kept"] += 1
        missing = {k for k, v in attributes.items() if got["attributes"].get(k) != _plain(v)}
        assert not missing, f"{where}: attributes lost or changed: {sorted(missing)}"
        # span events (the lifecycle events), in order, with their attributes
        counts["events_sent"] += len(span.events)
        got_events = sorted(got["events"], key=lambda e: e["timestamp"])
        assert [e["name"] for e in got_events] == [e.name for e in span.events], where
        for sent_event, got_event in zip(span.events, got_events, strict=True):
            for key, value in sent_event.attributes.items():
                assert got_event["attributes"].get(key) == _plain(value), f"{where} {sent_event.name}.{key}"
            counts["events_kept"] += 1
    return counts


def assert_demo_shape(read: list[dict[str, Any]]) -> None:
    """Spot checks on what Phoenix shows for the demo, independent of what was sent."""
    by_id = {r["context"]["span_id"]: r for r in read}
    (root,) = [r for r in read if r["parent_id"] is None]
    assert root["name"] == ROOT_SPAN_NAME and root["span_kind"] == "CHAIN"

    def parent(span: dict[str, Any]) -> dict[str, Any]:
        return by_id[span["parent_id"]]

    runs = {r["attributes"]["gen_ai.agent.name"]: r for r in read if r["name"].startswith("invoke_agent ")}
    assert set(runs) == {"alfred", "theme_scout", "party_manager", "catering_agent"}
    assert all(r["span_kind"] == "AGENT" for r in runs.values())
    assert parent(runs["alfred"]) is root and parent(runs["party_manager"]) is root
    managed_call = parent(runs["catering_agent"])
    assert managed_call["name"] == "execute_tool catering_agent"
    assert managed_call["attributes"]["smolagents.tool.managed_agent"] is True
    assert parent(parent(managed_call))["name"] == "step 1"
    chats = [r for r in read if r["span_kind"] == "LLM"]
    assert len(chats) == 10  # alfred 4 (plan + 3 steps), 2 each for the others
    assert all(c["attributes"]["gen_ai.usage.input_tokens"] == 100 for c in chats)
    (vetoed,) = [r for r in read if r["status_code"] == "ERROR"]
    assert vetoed["name"] == "step 1" and parent(vetoed) is runs["alfred"]
    assert "execution blocked: code touching 'subprocess'" in vetoed["status_message"]
    veto_events = [e for e in vetoed["events"] if e["name"] == "smolagents.veto"]
    assert veto_events[0]["attributes"]["smolagents.veto.reason"].startswith("code touching 'subprocess'")
    assert "smolagents.pre_execution" in [e["name"] for e in vetoed["events"]]
    tool_calls = {r["attributes"].get("gen_ai.tool.call.id") for r in read if r["span_kind"] == "TOOL"}
    assert {"call_theme_1", "call_menu_1", "call_cater_1"} <= tool_calls


def round_trip(route, phoenix, project, provider, instrumentor, figures) -> None:
    trace_id, sent = send_demo(provider, instrumentor)
    started = time.monotonic()
    read = wait_for_phoenix_spans(phoenix.base_url, project, trace_id, expected=len(sent), timeout=30)
    waited = round(time.monotonic() - started, 2)
    assert len(read) == len(sent), f"Phoenix shows {len(read)} of {len(sent)} spans after 30 s"
    counts = compare(sent, read, trace_id)
    assert_demo_shape(read)
    row = {
        "route": route,
        "project": project,
        "spans_sent": len(sent),
        "spans_read": len(read),
        **counts,
        "seconds_until_readable": waited,
    }
    figures.append(row)
    print(f"\n{route}: {json.dumps(row)}")
    assert counts["events_kept"] == counts["events_sent"] > 0


# --------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_demo_to_phoenix(protocol, phoenix, instrumentor, figures):
    project = f"demo-direct-{protocol.split('/')[0]}"
    endpoint = phoenix.base_url if protocol == "http/protobuf" else phoenix.otlp_grpc_endpoint
    provider = configure(
        backend="phoenix", endpoint=endpoint, protocol=protocol, service_name=project, set_global=False
    )
    assert provider.resource.attributes["openinference.project.name"] == project
    round_trip(f"app -> Phoenix ({protocol})", phoenix, project, provider, instrumentor, figures)


@needs_rotel
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_demo_through_rotel_to_phoenix(protocol, phoenix, rotel, instrumentor, figures, monkeypatch):
    project = f"demo-rotel-{protocol.split('/')[0]}"
    # A plain OTLP app: the project comes from the resource, set the standard way.
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"openinference.project.name={project}")
    endpoint = rotel["http"] if protocol == "http/protobuf" else rotel["grpc"]
    provider = configure(
        backend="otlp", endpoint=endpoint, protocol=protocol, service_name=project, set_global=False
    )
    route = f"app -> rotel ({protocol}) -> Phoenix (http/protobuf)"
    round_trip(route, phoenix, project, provider, instrumentor, figures)


@pytest.mark.skipif(
    os.environ.get("SMOLAGENTS_OTEL_TEST_UI") != "1",
    reason="starts a second Phoenix (~15 s); set SMOLAGENTS_OTEL_TEST_UI=1 to run it",
)
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_demo_ui_end_to_end(stop_signal, tmp_path):
    """``smolagents-otel demo --ui``: Phoenix starts, the trace URL answers, Ctrl-C/SIGTERM stops it all."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "smolagents_otel", "demo", "--ui", "--out", str(tmp_path / "ui.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        for line in proc.stdout:
            match = re.search(r"^Trace: (http://127\.0\.0\.1:\d+/redirects/traces/[0-9a-f]{32})$", line)
            if match:
                url = match.group(1)
                break
        assert url, proc.stderr.read()
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
        base, trace_id = url.split("/redirects/traces/")
        read = wait_for_phoenix_spans(base, "smolagents-otel-demo", trace_id, expected=40, timeout=5)
        assert len(read) == 40
        proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Stopping Phoenix." in out
        with pytest.raises(OSError):
            urllib.request.urlopen(base + "/healthz", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
