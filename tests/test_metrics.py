"""Metrics: names, units, attributes and values from a scripted run; nothing without a provider."""

from __future__ import annotations

import pytest
from agents_fixtures import PARALLEL_TOOLS, THREE_STEP_CODE, code, code_agent, tool_agent
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from smolagents_otel import LifecycleEvent, Veto


@pytest.fixture
def reader():
    return InMemoryMetricReader()


def collect(reader):
    out = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            if sm.scope.name != "smolagents_otel":
                continue
            for metric in sm.metrics:
                out[metric.name] = metric
    return out


def points(metric):
    return {tuple(sorted(p.attributes.items())): p for p in metric.data.data_points}


def test_metrics_from_runs(instrument, reader):
    inst = instrument(meter_provider=MeterProvider(metric_readers=[reader]))
    inst.on(
        LifecycleEvent.TOOL_START,
        lambda e: (_ for _ in ()).throw(Veto("no")) if e.tool_name == "weather" else None,
    )
    inst.on(LifecycleEvent.STEP_END, lambda e: 1 / 0 if e.step_number == 1 else None)
    assert code_agent(THREE_STEP_CODE).run("x") == 26
    tool_agent(PARALLEL_TOOLS, stream_outputs=True).run("y")
    code_agent([code("broken(1)"), code("final_answer(1)")]).run("z")
    metrics = collect(reader)
    assert {m: metrics[m].unit for m in metrics} == {
        "gen_ai.client.operation.duration": "s",
        "gen_ai.client.token.usage": "{token}",
        "gen_ai.client.operation.time_to_first_chunk": "s",
        "smolagents.agent.run.duration": "s",
        "smolagents.agent.steps": "{step}",
        "smolagents.tool.calls": "{call}",
        "smolagents.tool.errors": "{error}",
        "smolagents.vetoes": "{veto}",
        "smolagents.callback.errors": "{error}",
    }
    tokens = points(metrics["gen_ai.client.token.usage"])
    key_in = (
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "smolagents"),
        ("gen_ai.request.model", "scripted-model"),
        ("gen_ai.token.type", "input"),
    )
    assert tokens[key_in].count == 3 + 2 + 2 and tokens[key_in].sum == 700
    duration = points(metrics["gen_ai.client.operation.duration"])
    assert sum(p.count for p in duration.values()) == 7
    ttfc = points(metrics["gen_ai.client.operation.time_to_first_chunk"])
    assert sum(p.count for p in ttfc.values()) == 2  # only the streamed calls
    runs = points(metrics["smolagents.agent.run.duration"])
    assert {dict(k)["gen_ai.agent.name"] for k in runs} == {"CodeAgent", "ToolCallingAgent"}
    assert {dict(k)["smolagents.finish_reason"] for k in runs} == {"final_answer"}
    steps = points(metrics["smolagents.agent.steps"])
    assert steps[(("gen_ai.agent.name", "CodeAgent"),)].sum == 3 + 2
    calls = points(metrics["smolagents.tool.calls"])
    assert calls[(("gen_ai.tool.name", "add"),)].value == 3
    assert calls[(("gen_ai.tool.name", "weather"),)].value == 1
    errors = points(metrics["smolagents.tool.errors"])
    assert errors[(("error.type", "ValueError"), ("gen_ai.tool.name", "broken"))].value == 1
    assert errors[(("error.type", "Veto"), ("gen_ai.tool.name", "weather"))].value == 1
    vetoes = points(metrics["smolagents.vetoes"])
    assert (
        vetoes[
            (("gen_ai.agent.name", "ToolCallingAgent"), ("smolagents.lifecycle.event", "tool_start"))
        ].value
        == 1
    )
    cb = metrics["smolagents.callback.errors"].data.data_points
    assert sum(p.value for p in cb) == 3 and {p.attributes["smolagents.lifecycle.event"] for p in cb} == {
        "step_end"
    }


def test_no_meter_provider_means_no_instruments(instrument):
    inst = instrument()
    assert inst._runtime.metrics is None
