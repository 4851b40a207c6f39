"""How the instrumentor is switched on: entry point, zero-config export, rollback, trace_context."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from agents_fixtures import THREE_STEP_CODE, code_agent
from stub_servers import stop_process

from smolagents_otel import trace_context

HERE = Path(__file__).parent


def test_entry_point_for_opentelemetry_instrument():
    from importlib.metadata import entry_points

    found = [
        ep
        for ep in entry_points(group="opentelemetry_instrumentor")
        if ep.value.startswith("smolagents_otel")
    ]
    assert {ep.name for ep in found} == {"smolagents_otel"}  # OpenInference owns "smolagents"
    from smolagents_otel import Instrumentor

    assert found[0].load() is Instrumentor


def test_failure_half_way_through_instrument_undoes_everything(instrumentor, provider, monkeypatch):
    import smolagents.agents as agents
    import smolagents.models as models
    import smolagents.tools as tools

    import smolagents_otel.instrumentor as module

    before = {
        (agents.MultiStepAgent, "run"): vars(agents.MultiStepAgent)["run"],
        (agents.CodeAgent, "_step_stream"): vars(agents.CodeAgent)["_step_stream"],
        (tools.Tool, "__call__"): vars(tools.Tool)["__call__"],
        (models.Model, "generate"): vars(models.Model)["generate"],
    }

    def broken_factory(*args, **kwargs):
        raise RuntimeError("cannot build the model wrapper")

    monkeypatch.setattr(module, "make_model_wrapper", broken_factory)  # fails after agents, tools are patched
    with pytest.raises(RuntimeError, match="cannot build the model wrapper"):
        instrumentor.instrument(tracer_provider=provider)
    for (cls, name), original in before.items():
        assert vars(cls)[name] is original
    assert "__init_subclass__" not in vars(models.Model)
    assert not instrumentor.is_instrumented_by_opentelemetry
    monkeypatch.undo()
    instrumentor.instrument(tracer_provider=provider)  # and it can be instrumented afterwards
    assert vars(agents.MultiStepAgent)["run"] is not before[(agents.MultiStepAgent, "run")]


ZERO_CONFIG_APP = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(level=logging.INFO)
    sys.path.insert(0, {tests!r})
    from agents_fixtures import THREE_STEP_CODE, code_agent
    from smolagents_otel import Instrumentor
    Instrumentor().instrument()          # no provider anywhere: built from the environment
    assert code_agent(THREE_STEP_CODE).run("zero config") == 26
    # no flush here: the exit handler must deliver the spans
    """
)


def test_zero_config_export_from_environment_flushed_at_exit(tmp_path):
    server = subprocess.Popen(
        [sys.executable, str(HERE / "servers" / "otlp_faulty.py"), "ok"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline().split()[1])
        app = tmp_path / "app.py"
        app.write_text(ZERO_CONFIG_APP.format(tests=str(HERE)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LANGFUSE_"))}
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
        env["OTEL_SERVICE_NAME"] = "zero-config-test"
        done = subprocess.run(
            [sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "sending traces to" in done.stderr and f"127.0.0.1:{port}" in done.stderr  # the one log line
        import json
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
            stats = json.loads(response.read())
        assert stats["spans"] == 13 and "invoke_agent CodeAgent" in stats["names"]
    finally:
        stop_process(server, signal.SIGKILL)


def test_zero_config_without_any_backend_warns_once(tmp_path):
    app = tmp_path / "app.py"
    app.write_text(
        ZERO_CONFIG_APP.format(tests=str(HERE)) + "\nInstrumentor().uninstrument()\n"
        "Instrumentor().instrument()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LANGFUSE_"))}
    done = subprocess.run([sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if "OTEL_EXPORTER_OTLP_ENDPOINT" in line]
    assert len(warnings) == 1 and "LANGFUSE_PUBLIC_KEY" in warnings[0]


def test_trace_context_on_runs_nested_and_threads(instrument, get_trace):
    instrument()
    results = []
    with trace_context(
        user_id="bruce", session_id="s-1", tags=["party"], metadata={"venue": "manor", "n": 3}
    ):
        code_agent(THREE_STEP_CODE, name="outer").run("x")
        with trace_context(tags=["inner"], metadata={"extra": {"a": 1}}):
            code_agent(THREE_STEP_CODE, name="inner").run("y")
        import contextvars

        ctx = contextvars.copy_context()
        t = threading.Thread(
            target=ctx.run,
            args=(lambda: results.append(code_agent(THREE_STEP_CODE, name="threaded").run("z")),),
        )
        t.start()
        t.join()
    code_agent(THREE_STEP_CODE, name="outside").run("w")
    tr = get_trace()
    outer, inner, threaded, outside = (
        tr.one(f"invoke_agent {n}") for n in ("outer", "inner", "threaded", "outside")
    )
    for run in (outer, inner, threaded):
        assert run.attributes["langfuse.user.id"] == "bruce" and run.attributes["user.id"] == "bruce"
        assert run.attributes["langfuse.session.id"] == "s-1" and run.attributes["session.id"] == "s-1"
        assert run.attributes["langfuse.trace.metadata.venue"] == "manor"
        assert run.attributes["langfuse.trace.metadata.n"] == 3
    assert outer.attributes["langfuse.trace.tags"] == ("party",)
    assert inner.attributes["langfuse.trace.tags"] == ("party", "inner")
    assert inner.attributes["langfuse.trace.metadata.extra"] == '{"a": 1}'
    assert "langfuse.user.id" not in outside.attributes
    assert results == [26]


def test_trace_context_rejects_bad_values():
    with pytest.raises(TypeError):
        with trace_context(user_id=42):
            pass
    with pytest.raises(TypeError):
        with trace_context(tags="not-a-list"):
            pass


def test_langfuse_mode_turns_on_langfuse_event_spans(instrumentor, monkeypatch, get_trace):
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from smolagents_otel import configure

    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-test")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-test-secret")
    provider = configure("langfuse", endpoint="http://127.0.0.1:9", set_global=False)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor.instrument(tracer_provider=provider)
    code_agent(THREE_STEP_CODE).run("x")
    names = [s.name for s in memory.get_finished_spans()]
    assert names.count("smolagents.pre_execution") == 3  # event spans, next to the span events
    instrumentor.uninstrument()
    memory.clear()
    instrumentor.instrument(tracer_provider=provider, event_sinks=["span_events"])  # an explicit choice wins
    code_agent(THREE_STEP_CODE).run("x")
    assert "smolagents.pre_execution" not in [s.name for s in memory.get_finished_spans()]
    instrumentor.uninstrument()
    provider.shutdown()
