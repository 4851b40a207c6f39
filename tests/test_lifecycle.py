"""Lifecycle events and callbacks: order, context, veto, errors, registration, scoping, sinks."""

from __future__ import annotations

import threading
from itertools import groupby

import pytest
from agents_fixtures import (
    PARALLEL_TOOLS,
    SIDE_EFFECTS,
    THREE_STEP_CODE,
    code,
    code_agent,
    tool_agent,
    tool_call,
)
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from smolagents_otel import AgentEvent, LifecycleEvent, Veto

E = LifecycleEvent


class Recorder:
    """Registers one callback for every event; records (event, current span name, event.span name)."""

    def __init__(self, instrumentor, agent=None):
        self.rows = []
        self.events = []
        self.lock = threading.Lock()
        for event in LifecycleEvent:
            instrumentor.on(event, self._record, agent=agent)

    def _record(self, event: AgentEvent) -> None:
        current = trace.get_current_span()
        with self.lock:
            self.events.append(event)
            self.rows.append((event.name, getattr(current, "name", None), getattr(event.span, "name", None)))

    def names(self, collapse_deltas: bool = True):
        names = [r[0].name for r in self.rows]
        if collapse_deltas:
            names = [k for k, _ in groupby(names)] if names else names
        return names


STEP_NO_TOOL = ["STEP_START", "MODEL_OUTPUT", "PRE_EXECUTION", "POST_EXECUTION", "STEP_END"]


def code_step(tools):
    seq = ["STEP_START", "MODEL_OUTPUT", "PRE_EXECUTION"]
    seq += ["TOOL_START", "TOOL_END"] * len(tools)
    return seq + ["POST_EXECUTION"]


def test_event_sequence_code_agent_with_planning(instrument):
    inst = instrument()
    rec = Recorder(inst)
    agent = code_agent(["the plan"] + THREE_STEP_CODE, planning_interval=5)
    assert agent.run("compute") == 26
    assert rec.names() == (
        ["RUN_START", "PLANNING_START", "MODEL_OUTPUT", "PLANNING_END"]
        + code_step(["add"])
        + ["STEP_END"]
        + code_step(["add"])
        + ["STEP_END"]
        + code_step(["final_answer"])
        + ["FINAL_ANSWER", "STEP_END", "RUN_END"]
    )
    pre = [e for e in rec.events if e.name is E.PRE_EXECUTION]
    assert [e.code for e in pre] == [
        "x = add(1, 2)\nprint(x)",
        "y = add(x, 10)\nprint(y)",
        "final_answer(y * 2)",
    ]
    assert [e.code_action for e in pre] == [e.code for e in pre]
    assert [e.step_number for e in pre] == [1, 2, 3]
    assert all(len(e.tool_calls) == 1 and e.tool_calls[0].name == "python_interpreter" for e in pre)
    model_outputs = [e for e in rec.events if e.name is E.MODEL_OUTPUT]
    assert model_outputs[0].purpose == "planning" and model_outputs[0].model_output == "the plan"
    assert model_outputs[1].token_usage.input_tokens == 100 and model_outputs[1].model_id == "scripted-model"
    end = rec.events[-1]
    assert end.name is E.RUN_END and end.output == 26 and end.finish_reason == "final_answer"
    final = [e for e in rec.events if e.name is E.FINAL_ANSWER]
    assert len(final) == 1 and final[0].final_answer == 26
    tool_end = [e for e in rec.events if e.name is E.TOOL_END][0]
    assert tool_end.tool_name == "add" and tool_end.result == 3 and tool_end.arguments == {"a": 1, "b": 2}


@pytest.mark.parametrize("stream", [False, True])
def test_event_sequence_tool_calling_agent(stream, instrument):
    inst = instrument()
    rec = Recorder(inst)
    agent = tool_agent(PARALLEL_TOOLS, stream_outputs=stream)
    if stream:
        list(agent.run("go", stream=True))
    else:
        agent.run("go")
    names = rec.names()
    head = (
        ["RUN_START", "STEP_START"]
        + (["MODEL_STREAM_DELTA"] if stream else [])
        + ["MODEL_OUTPUT", "PRE_EXECUTION"]
    )
    assert names[: len(head)] == head
    # both tool calls run after PRE_EXECUTION, in any order (they run in parallel)
    assert sorted(names[len(head) : len(head) + 4]) == ["TOOL_END", "TOOL_END", "TOOL_START", "TOOL_START"]
    assert names[len(head) + 4 :] == (
        ["POST_EXECUTION", "STEP_END", "STEP_START"]
        + (["MODEL_STREAM_DELTA"] if stream else [])
        + [
            "MODEL_OUTPUT",
            "PRE_EXECUTION",
            "TOOL_START",
            "TOOL_END",
            "POST_EXECUTION",
            "FINAL_ANSWER",
            "STEP_END",
            "RUN_END",
        ]
    )
    pre = [e for e in rec.events if e.name is E.PRE_EXECUTION][0]
    assert pre.code is None
    assert [(c.name, c.id) for c in pre.tool_calls] == [("weather", "call_a"), ("add", "call_b")]
    starts = {e.tool_call_id: e for e in rec.events if e.name is E.TOOL_START}
    assert starts["call_a"].tool_name == "weather" and starts["call_a"].arguments == {"city": "Paris"}
    if stream:
        assert any(e.name is E.MODEL_STREAM_DELTA and e.delta is not None for e in rec.events)


def test_callbacks_run_inside_the_span_they_belong_to(instrument, get_trace):
    inst = instrument()
    rec = Recorder(inst)
    assert code_agent(["the plan"] + THREE_STEP_CODE, planning_interval=5).run("x") == 26
    expected_prefix = {
        E.RUN_START: "invoke_agent",
        E.RUN_END: "invoke_agent",
        E.STEP_START: "step ",
        E.STEP_END: "step ",
        E.PRE_EXECUTION: "step ",
        E.POST_EXECUTION: "step ",
        E.FINAL_ANSWER: "step ",
        E.MODEL_OUTPUT: "chat ",
        E.TOOL_START: "execute_tool ",
        E.TOOL_END: "execute_tool ",
        E.PLANNING_START: "planning",
        E.PLANNING_END: "planning",
    }
    assert rec.rows
    for name, current, own in rec.rows:
        assert current == own, (name, current, own)
        assert current.startswith(expected_prefix[name]), (name, current)


def test_callback_spans_and_attributes_nest_under_the_event_span(instrument, get_trace, provider):
    inst = instrument()
    tracer = provider.get_tracer("user")

    @inst.on(E.PRE_EXECUTION)
    def audit(event):
        event.span.set_attribute("audit.checked", True)
        with tracer.start_as_current_span("user.audit"):
            pass

    code_agent(THREE_STEP_CODE).run("x")
    tr = get_trace()
    audits = tr.named("user.audit")
    assert [tr.parent_name(a) for a in audits] == ["step 1", "step 2", "step 3"]
    assert all(tr.one(f"step {n}").attributes["audit.checked"] is True for n in (1, 2, 3))


def test_veto_blocks_the_action_and_the_run_goes_on(instrument, get_trace):
    inst = instrument()
    SIDE_EFFECTS.clear()

    @inst.on(E.PRE_EXECUTION)
    def policy(event):
        if event.code and "add(" in event.code:
            raise Veto("no adding allowed")

    agent = code_agent([code("x = add(1, 2)"), code("final_answer('gave up adding')")])
    assert agent.run("try to add") == "gave up adding"
    assert SIDE_EFFECTS == []  # the vetoed code never ran
    second_input = " ".join(str(m.content) for m in agent.model.calls[1])
    assert "execution blocked: no adding allowed" in second_input
    tr = get_trace()
    step1 = tr.one("step 1")
    assert step1.status.status_code is StatusCode.ERROR
    assert step1.attributes["smolagents.veto.reason"] == "no adding allowed"
    assert step1.attributes["smolagents.veto.callback"].endswith("policy")
    assert step1.attributes["smolagents.veto.abort"] is False
    assert "smolagents.veto" in tr.event_names(step1)
    assert tr.named("execute_tool python_interpreter")[0].parent.span_id == tr.one("step 2").context.span_id
    assert tr.one("invoke_agent CodeAgent").attributes["smolagents.finish_reason"] == "final_answer"


def test_veto_with_abort_ends_the_run(instrument, get_trace):
    inst = instrument()
    SIDE_EFFECTS.clear()
    inst.on(E.PRE_EXECUTION, lambda e: (_ for _ in ()).throw(Veto("stop everything", abort=True)))
    agent = code_agent([code("add(1, 1)"), code("final_answer(1)")])
    with pytest.raises(Veto, match="execution blocked: stop everything") as info:
        agent.run("x")
    assert info.value.abort is True
    assert SIDE_EFFECTS == []
    run = get_trace().one("invoke_agent CodeAgent")
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes["smolagents.finish_reason"] == "vetoed"


@pytest.mark.parametrize("kind", ["code", "tools", "managed"])
def test_tool_start_veto_cannot_be_bypassed(kind, instrument, get_trace):
    inst = instrument()
    SIDE_EFFECTS.clear()
    blocked = {"weather", "helper"}

    @inst.on(E.TOOL_START)
    def deny(event, agent):
        if event.tool_name in blocked:
            raise Veto(f"{event.tool_name} is off limits")

    if kind == "code":
        agent = code_agent([code("w = weather('Rome')"), code("final_answer('no weather')")])
    elif kind == "tools":
        agent = tool_agent(
            [
                [tool_call("weather", {"city": "Rome"}, "c1")],
                [tool_call("final_answer", {"answer": "no weather"}, "c2")],
            ]
        )
    else:
        helper = code_agent([code("final_answer(weather('Oslo'))")], name="helper", description="d")
        agent = code_agent(
            [code("r = helper(task='weather')"), code("final_answer('no weather')")], managed_agents=[helper]
        )
    assert agent.run("weather please") == "no weather"
    assert SIDE_EFFECTS == []
    second_input = " ".join(str(m.content) for m in agent.model.calls[1])
    assert "execution blocked:" in second_input and "is off limits" in second_input
    tr = get_trace()
    vetoed = [s for s in tr.spans if "smolagents.veto.reason" in s.attributes]
    assert len(vetoed) == 1 and vetoed[0].name.startswith("execute_tool ")
    assert vetoed[0].status.status_code is StatusCode.ERROR
    assert tr.named("invoke_agent helper") == []


def test_failing_callback_is_recorded_and_the_agent_goes_on(instrument, get_trace, caplog):
    inst = instrument()

    def flaky(event):
        raise KeyError("oops")

    inst.on(E.STEP_START, flaky)
    inst.on(E.PRE_EXECUTION, flaky)  # registered with .on(): a plain error does not veto
    with caplog.at_level("WARNING", logger="smolagents_otel"):
        assert code_agent(THREE_STEP_CODE).run("x") == 26
    step1 = get_trace().one("step 1")
    errors = [e for e in step1.events if e.name == "smolagents.callback_error"]
    assert len(errors) == 2
    assert errors[0].attributes["smolagents.callback.name"].endswith("flaky")
    assert errors[0].attributes["smolagents.callback.exception.type"] == "KeyError"
    assert "oops" in errors[0].attributes["smolagents.callback.exception.message"]
    assert step1.status.status_code is StatusCode.UNSET
    assert any(r.exc_info for r in caplog.records if "flaky" in r.getMessage())


def test_strict_mode_reraises_callback_errors(instrument):
    inst = instrument(strict_callbacks=True)
    inst.on(E.STEP_START, lambda event: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        code_agent(THREE_STEP_CODE).run("x")


def test_registration_errors(instrumentor):
    async def coro(event):
        pass

    def three(a, b, c):
        pass

    def kwonly(event, *, must):
        pass

    with pytest.raises(ValueError, match="unknown lifecycle event 'BEFORE_LUNCH'"):
        instrumentor.on("BEFORE_LUNCH", print)
    with pytest.raises(TypeError, match="must be callable"):
        instrumentor.on(E.RUN_START, 42)
    with pytest.raises(TypeError, match="async"):
        instrumentor.on(E.RUN_START, coro)
    with pytest.raises(TypeError, match="requires 3 arguments"):
        instrumentor.on(E.RUN_START, three)
    with pytest.raises(TypeError, match="keyword-only"):
        instrumentor.on(E.RUN_START, kwonly)
    with pytest.raises(TypeError, match="takes no arguments"):
        instrumentor.on(E.RUN_START, lambda: None)
    with pytest.raises(ValueError, match="unknown lifecycle event"):
        instrumentor.instrument(lifecycle_callbacks={"nope": print})
    assert instrumentor.is_instrumented_by_opentelemetry is False
    handle = instrumentor.on("pre_execution", lambda e, a: None)
    assert instrumentor.callbacks.has_callbacks(E.PRE_EXECUTION)
    handle.remove()
    handle.remove()
    assert not instrumentor.callbacks.has_callbacks(E.PRE_EXECUTION)


def test_per_agent_scoping_and_threads(instrument, get_trace):
    inst = instrument()
    agents = [code_agent(THREE_STEP_CODE, name=f"agent_{i}") for i in range(4)]
    seen = {a.name: [] for a in agents}
    for a in agents:
        inst.on(
            E.STEP_START, lambda e, agent, own=a: seen[own.name].append((e.agent_name, agent is own)), agent=a
        )
    threads = [threading.Thread(target=a.run, args=("go",)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, rows in seen.items():
        assert rows == [(name, True)] * 3
    tr = get_trace()
    runs = [s for s in tr.spans if s.name.startswith("invoke_agent")]
    assert len(runs) == 4 and len({r.context.trace_id for r in runs}) == 4
    for run in runs:
        for span in tr.spans:
            if span.context.trace_id == run.context.trace_id and span is not run:
                root = span
                while tr.parent(root) is not None:
                    root = tr.parent(root)
                assert root is run


def test_pr_1959_examples_work_with_only_the_import_changed(instrument):
    instrument()
    from smolagents import CodeAgent

    from smolagents_otel import LifecycleEvent, ModelOutputEvent, PreExecutionEvent
    from smolagents_otel.testing import ScriptedModel

    class TTS:
        def __init__(self):
            self.queued = []

        def queue(self, text):
            self.queued.append(text)

    tts_service = TTS()

    def on_model_output(event: ModelOutputEvent, agent):
        tts_service.queue(event.model_output)

    def on_pre_execution(event: PreExecutionEvent, agent):
        if "dangerous_function" in (event.code_action or ""):
            raise ValueError("Dangerous code blocked!")

    model = ScriptedModel([code("dangerous_function()"), code("final_answer('safe')")])
    agent = CodeAgent(
        tools=[],
        model=model,
        lifecycle_callbacks={
            LifecycleEvent.MODEL_OUTPUT: on_model_output,
            LifecycleEvent.PRE_EXECUTION: on_pre_execution,
        },
        verbosity_level=0,
    )
    assert agent.run("do it") == "safe"
    assert len(tts_service.queued) == 2 and "dangerous_function()" in tts_service.queued[0]
    assert "execution blocked: Dangerous code blocked!" in str(agent.memory.steps[1].error)


def test_dict_form_at_instrument(instrumentor, provider):
    seen = []
    instrumentor.instrument(tracer_provider=provider, lifecycle_callbacks={E.MODEL_OUTPUT: seen.append})
    code_agent(THREE_STEP_CODE).run("x")
    assert len(seen) == 3 and all(e.name is E.MODEL_OUTPUT for e in seen)
    instrumentor.uninstrument()
    assert not instrumentor.callbacks.has_callbacks(E.MODEL_OUTPUT)


def test_no_payload_built_without_callbacks(instrument, monkeypatch):
    import smolagents_otel.runtime as runtime

    instrument(event_sinks=())
    built = []
    real = runtime.AgentEvent
    monkeypatch.setattr(runtime, "AgentEvent", lambda **kw: built.append(kw) or real(**kw))
    code_agent(THREE_STEP_CODE).run("x")
    assert built == []


def test_sink_span_events_and_content_capture_off(instrument, get_trace):
    instrument(capture_content=False)
    code_agent(THREE_STEP_CODE).run("secret task text")
    tr = get_trace()
    step = tr.one("step 1")
    pre = [e for e in step.events if e.name == "smolagents.pre_execution"][0]
    assert pre.attributes["smolagents.step.number"] == 1
    assert pre.attributes["smolagents.tool_calls"] == ("python_interpreter",)
    assert "smolagents.code" not in pre.attributes
    for span in tr.spans:
        values = [str(v) for v in span.attributes.values()] + [
            str(v) for e in span.events for v in e.attributes.values()
        ]
        assert not any("add(1, 2)" in v or "secret task text" in v for v in values)
        assert "input.value" not in span.attributes and "output.value" not in span.attributes


def test_sink_logs(instrument, get_trace):
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    log_exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    instrument(event_sinks=["logs"], logger_provider=logger_provider)
    code_agent(THREE_STEP_CODE).run("x")
    tr = get_trace()
    records = [r.log_record for r in log_exporter.get_finished_logs()]
    names = [r.event_name for r in records]
    assert names.count("smolagents.pre_execution") == 3 and names[0] == "smolagents.run_start"
    step1 = tr.one("step 1")
    pre = [r for r in records if r.event_name == "smolagents.pre_execution"][0]
    assert pre.span_id == step1.context.span_id and pre.trace_id == step1.context.trace_id
    assert "smolagents.pre_execution" not in tr.event_names(step1)  # span events are off in this config


def test_sink_langfuse_event_spans(instrument, get_trace):
    instrument(event_sinks=["langfuse_spans"])
    code_agent(THREE_STEP_CODE).run("x")
    tr = get_trace()
    events = tr.named("smolagents.pre_execution")
    assert len(events) == 3
    for n, ev in enumerate(events, start=1):
        assert ev.attributes["langfuse.observation.type"] == "event"
        assert ev.attributes["gen_ai.agent.name"] == "CodeAgent"
        assert tr.parent_name(ev) == f"step {n}"


def test_events_only_mode_under_openinference_spans(instrumentor, provider, exporter, get_trace):
    import smolagents.local_python_executor as lpe

    if not hasattr(lpe, "ThreadPoolExecutor"):
        pytest.skip("openinference-instrumentation-smolagents 0.1.43 itself fails on smolagents < 1.24")
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor

    instrumentor.instrument(tracer_provider=provider, spans=False)
    oi = SmolagentsInstrumentor()
    oi.instrument(tracer_provider=provider)
    try:
        rec = Recorder(instrumentor)
        assert code_agent(THREE_STEP_CODE).run("x") == 26
    finally:
        oi.uninstrument()
    tr = get_trace()
    assert not any(s.name.startswith(("invoke_agent", "step ")) for s in tr.spans)  # no spans of ours
    assert not any("smolagents.span.type" in s.attributes for s in tr.spans)
    events_by_span = {s.name: tr.event_names(s) for s in tr.spans}
    assert any("smolagents.pre_execution" in names for names in events_by_span.values())
    assert sum(names.count("smolagents.pre_execution") for names in events_by_span.values()) == 3
    assert "PRE_EXECUTION" in rec.names()
    assert all(current is not None for _, current, _ in rec.rows)
