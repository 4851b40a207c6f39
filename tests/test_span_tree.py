"""The span tree: exact names, parents, kinds and attribute types for every agent shape."""

from __future__ import annotations

import gc

import pytest
from agents_fixtures import PARALLEL_TOOLS, THREE_STEP_CODE, code, code_agent, tool_agent, tool_call
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from smolagents_otel.testing import ScriptedModel

RUN_KEYS = {
    "gen_ai.operation.name": str,
    "gen_ai.agent.name": str,
    "openinference.span.kind": str,
    "smolagents.span.type": str,
    "smolagents.finish_reason": str,
    "smolagents.run.steps": int,
    "smolagents.run.input_tokens": int,
    "smolagents.run.output_tokens": int,
    "smolagents.run.total_tokens": int,
    "input.value": str,
    "output.value": str,
}
MODEL_KEYS = {
    "gen_ai.operation.name": str,
    "gen_ai.request.model": str,
    "gen_ai.usage.input_tokens": int,
    "gen_ai.usage.output_tokens": int,
    "openinference.span.kind": str,
    "smolagents.span.type": str,
    "input.value": str,
    "output.value": str,
}
TOOL_KEYS = {
    "gen_ai.operation.name": str,
    "gen_ai.tool.name": str,
    "openinference.span.kind": str,
    "smolagents.span.type": str,
    "input.value": str,
    "output.value": str,
}


def assert_types(span, keys):
    for key, typ in keys.items():
        assert key in span.attributes, f"{span.name} lacks {key}"
        assert isinstance(span.attributes[key], typ), f"{span.name}.{key} is {type(span.attributes[key])}"


def assert_common(tr):
    for span in tr.spans:
        assert span.attributes["smolagents.span.type"] in {"run", "step", "planning", "model", "tool", "code"}
        assert any(k.startswith("gen_ai.") for k in span.attributes), span.name
        assert span.attributes["openinference.span.kind"] in {"AGENT", "CHAIN", "LLM", "TOOL"}
        assert not any(k.startswith("gen_ai.usage") for k in span.attributes) or span.name.startswith("chat ")
        assert len({s.context.trace_id for s in tr.spans}) == 1


def test_code_agent_three_steps(instrument, get_trace):
    instrument()
    agent = code_agent(THREE_STEP_CODE)
    assert agent.run("compute") == 26
    tr = get_trace()
    assert tr.tree() == [
        (0, "invoke_agent CodeAgent"),
        (1, "step 1"),
        (2, "chat scripted-model"),
        (2, "execute_tool python_interpreter"),
        (3, "execute_tool add"),
        (1, "step 2"),
        (2, "chat scripted-model"),
        (2, "execute_tool python_interpreter"),
        (3, "execute_tool add"),
        (1, "step 3"),
        (2, "chat scripted-model"),
        (2, "execute_tool python_interpreter"),
        (3, "execute_tool final_answer"),
    ]
    assert_common(tr)
    run = tr.one("invoke_agent CodeAgent")
    assert_types(run, RUN_KEYS)
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["openinference.span.kind"] == "AGENT"
    assert run.attributes["smolagents.finish_reason"] == "final_answer"
    assert run.attributes["smolagents.run.steps"] == 3
    assert run.attributes["smolagents.run.input_tokens"] == 300
    assert run.attributes["smolagents.run.output_tokens"] == 60
    assert run.attributes["output.value"] == "26"
    assert run.attributes["input.value"] == "compute"
    assert run.status.status_code is StatusCode.UNSET
    for n, step in enumerate(tr.named("step 1") + tr.named("step 2") + tr.named("step 3"), start=1):
        assert step.attributes["smolagents.step.number"] == n
        assert step.attributes["openinference.span.kind"] == "CHAIN"
        assert tr.parent(step) is run
    for chat in tr.named("chat scripted-model"):
        assert_types(chat, MODEL_KEYS)
        assert chat.attributes["gen_ai.usage.input_tokens"] == 100
        assert chat.attributes["openinference.span.kind"] == "LLM"
    code_spans = tr.named("execute_tool python_interpreter")
    assert [s.attributes["gen_ai.tool.call.id"] for s in code_spans] == ["call_1", "call_2", "call_3"]
    assert code_spans[0].attributes["input.value"] == "x = add(1, 2)\nprint(x)"
    assert code_spans[0].attributes["smolagents.span.type"] == "code"
    add_span = tr.named("execute_tool add")[0]
    assert_types(add_span, TOOL_KEYS)
    assert add_span.attributes["output.value"] == "3"
    assert tr.parent(add_span) is code_spans[0]


def test_tool_calling_agent_parallel_calls(instrument, get_trace):
    instrument()
    agent = tool_agent(PARALLEL_TOOLS)
    assert agent.run("weather and sum") == "done"
    tr = get_trace()
    assert_common(tr)
    step1 = tr.one("step 1")
    tools = {s.name: s for s in tr.children(step1) if s.name.startswith("execute_tool")}
    assert set(tools) == {"execute_tool weather", "execute_tool add"}
    assert tools["execute_tool weather"].attributes["gen_ai.tool.call.id"] == "call_a"
    assert tools["execute_tool add"].attributes["gen_ai.tool.call.id"] == "call_b"
    assert tools["execute_tool add"].attributes["output.value"] == "5"
    final = tr.one("execute_tool final_answer")
    assert final.attributes["gen_ai.tool.call.id"] == "call_c"
    assert tr.parent_name(final) == "step 2"
    assert [name for _, name in tr.tree()].count("chat scripted-model") == 2


@pytest.mark.parametrize("kind", ["code", "tools"])
def test_streamed_run_and_streamed_model(kind, instrument, get_trace, provider):
    instrument()
    if kind == "code":
        agent = code_agent(THREE_STEP_CODE, stream_outputs=True)
    else:
        agent = tool_agent(PARALLEL_TOOLS, stream_outputs=True)
    outer = provider.get_tracer("test").start_span("caller")
    items = []
    with trace.use_span(outer, end_on_exit=True):
        for item in agent.run("go", stream=True):
            # Between yields the caller's own span is current, never ours.
            assert trace.get_current_span() is outer
            items.append(item)
    assert type(items[-1]).__name__ == "FinalAnswerStep"
    tr = get_trace()
    run = tr.one(f"invoke_agent {type(agent).__name__}")
    assert tr.parent(run).name == "caller"
    assert run.attributes["smolagents.stream"] is True
    assert run.attributes["smolagents.finish_reason"] == "final_answer"
    chats = tr.named("chat scripted-model")
    assert chats and all(tr.parent_name(c).startswith("step ") for c in chats)
    for chat in chats:
        assert chat.attributes["smolagents.stream"] is True
        assert isinstance(chat.attributes["smolagents.model.time_to_first_chunk_s"], float)
        assert chat.attributes["gen_ai.usage.output_tokens"] == 20


def test_planning_interval(instrument, get_trace):
    instrument()
    agent = code_agent(["Plan: add numbers", code("final_answer(add(2, 2))")], planning_interval=3)
    assert agent.run("plan it") == 4
    tr = get_trace()
    run = tr.one("invoke_agent CodeAgent")
    planning = tr.one("planning")
    assert tr.parent(planning) is run
    assert planning.attributes["smolagents.span.type"] == "planning"
    assert planning.attributes["smolagents.step.number"] == 1
    assert "Plan: add numbers" in planning.attributes["output.value"]
    plan_chat = tr.children(planning)
    assert [s.name for s in plan_chat] == ["chat scripted-model"]
    assert plan_chat[0].attributes["smolagents.model.purpose"] == "planning"
    assert run.attributes["smolagents.run.model_calls"] == 2
    assert run.attributes["smolagents.run.input_tokens"] == 200


def test_max_steps_reached(instrument, get_trace):
    instrument()
    agent = code_agent([code("print('again')"), code("print('again')"), "The answer is 42"], max_steps=2)
    assert agent.run("never ends") == "The answer is 42"
    tr = get_trace()
    run = tr.one("invoke_agent CodeAgent")
    assert run.attributes["smolagents.finish_reason"] == "max_steps"
    assert run.attributes["smolagents.run.steps"] == 2
    final_chat = [c for c in tr.children(run) if c.name.startswith("chat ")]
    assert len(final_chat) == 1
    assert final_chat[0].attributes["smolagents.model.purpose"] == "final_answer"
    assert run.attributes["smolagents.run.input_tokens"] == 300  # 2 steps + the final-answer call
    assert "smolagents.max_steps_reached" in tr.event_names(run)


def test_recovered_parse_error_and_tool_error(instrument, get_trace):
    instrument()
    agent = code_agent(["no code here at all", code("broken(1)"), code("final_answer(7)")])
    assert agent.run("recover") == 7
    tr = get_trace()
    run = tr.one("invoke_agent CodeAgent")
    assert run.status.status_code is StatusCode.UNSET
    step1, step2, step3 = tr.one("step 1"), tr.one("step 2"), tr.one("step 3")
    assert step1.status.status_code is StatusCode.ERROR
    assert step1.attributes["error.type"] == "AgentParsingError"
    assert [e.name for e in step1.events].count("exception") == 1
    assert step2.status.status_code is StatusCode.ERROR
    assert step2.attributes["error.type"] == "AgentExecutionError"
    assert [e.name for e in step2.events].count("exception") == 1
    broken = tr.one("execute_tool broken")
    assert broken.status.status_code is StatusCode.ERROR
    assert broken.attributes["error.type"] == "ValueError"
    assert step3.status.status_code is StatusCode.UNSET


def test_run_that_raises_is_error_and_stream_error_is_not_ok(instrument, get_trace):
    instrument()

    class Failing(ScriptedModel):
        def generate(self, *a, **k):
            raise ConnectionError("model down")

        def generate_stream(self, *a, **k):
            raise ConnectionError("model down")
            yield  # pragma: no cover

    agent = code_agent([])
    agent.model = Failing([])
    with pytest.raises(Exception, match="model down"):
        agent.run("x")
    streamed = code_agent([], stream_outputs=True)
    streamed.model = Failing([])
    with pytest.raises(Exception, match="model down"):
        list(streamed.run("x", stream=True))
    tr = get_trace()
    runs = tr.named("invoke_agent CodeAgent")
    assert len(runs) == 2
    for run in runs:
        assert run.status.status_code is StatusCode.ERROR
        assert run.attributes["smolagents.finish_reason"] == "error"
    chats = tr.named("chat scripted-model")
    assert len(chats) == 2 and all(c.status.status_code is StatusCode.ERROR for c in chats)


def test_stream_closed_early_and_abandoned_end_their_span_once(instrument, get_trace):
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    def close_early(agent):
        gen = agent.run("stop early", stream=True)
        next(gen)
        try:
            gen.close()
        except RuntimeError as exc:  # smolagents' _run_stream yields in a finally block
            return repr(exc)
        return None

    instrument()
    with suppress_instrumentation():
        baseline = close_early(code_agent(THREE_STEP_CODE))
    assert close_early(code_agent(THREE_STEP_CODE)) == baseline  # same behaviour as uninstrumented
    never_started = code_agent(THREE_STEP_CODE).run("never iterated", stream=True)
    del never_started
    gc.collect()
    tr = get_trace()
    runs = tr.named("invoke_agent CodeAgent")
    assert len(runs) == 2
    assert [r.attributes["smolagents.finish_reason"] for r in runs] == ["interrupted", "interrupted"]
    assert all(r.end_time is not None for r in tr.spans)


def test_managed_agent_called_from_code_and_from_tool_calling_agent(instrument, get_trace):
    instrument()
    helper = code_agent([code("final_answer('helped')")], name="helper", description="helps")
    manager = code_agent([code("r = helper(task='help me')\nfinal_answer(r)")], managed_agents=[helper])
    assert "helped" in manager.run("delegate")
    tr = get_trace()
    helper_run = tr.one("invoke_agent helper")
    tool_span = tr.parent(helper_run)
    assert tool_span.name == "execute_tool helper"
    assert tool_span.attributes["smolagents.tool.managed_agent"] is True
    assert tr.parent_name(tool_span) == "execute_tool python_interpreter"
    assert len({s.context.trace_id for s in tr.spans}) == 1

    helper2 = code_agent([code("final_answer('from tca')")], name="helper2", description="helps too")
    arguments = {"task": "do it", "additional_args": {}}  # smolagents < 1.21 requires additional_args
    tca = tool_agent(
        [
            [tool_call("helper2", arguments, "call_m")],
            [tool_call("final_answer", {"answer": "ok"}, "c2")],
        ],
        managed_agents=[helper2],
    )
    assert tca.run("delegate via tools") == "ok"
    tr = get_trace()
    helper2_run = tr.one("invoke_agent helper2")
    call_span = tr.parent(helper2_run)
    assert call_span.name == "execute_tool helper2"
    assert call_span.attributes["gen_ai.tool.call.id"] == "call_m"
    assert tr.parent_name(call_span) == "step 1"
    outer_run = tr.one("invoke_agent ToolCallingAgent")
    assert helper2_run.context.trace_id == outer_run.context.trace_id
    # the manager's totals include its managed agent's tokens
    assert outer_run.attributes["smolagents.run.input_tokens"] == 300


def test_model_subclass_defined_after_instrument(instrument, get_trace):
    instrument()
    from smolagents.models import ChatMessage, MessageRole, Model

    class LateModel(Model):
        def generate(self, messages, **kwargs):
            return ChatMessage(role=MessageRole.ASSISTANT, content=code("final_answer('late')"))

    class LaterModel(LateModel):
        def generate(self, messages, **kwargs):  # calls super(): still one span
            return super().generate(messages, **kwargs)

    agent = code_agent([])
    agent.model = LaterModel(model_id="later")
    assert agent.run("x") == "late"
    tr = get_trace()
    assert len(tr.named("chat later")) == 1


def test_uninstrument_restores_every_original_by_identity(instrumentor, provider):
    import smolagents.agents as agents
    import smolagents.local_python_executor as lpe
    import smolagents.models as models
    import smolagents.tools as tools

    targets = [
        (agents.MultiStepAgent, "run"),
        (agents.MultiStepAgent, "__call__"),
        (agents.MultiStepAgent, "__init__"),
        (agents.MultiStepAgent, "_generate_planning_step"),
        (agents.CodeAgent, "_step_stream"),
        (agents.ToolCallingAgent, "_step_stream"),
        (agents.ToolCallingAgent, "execute_tool_call"),
        (tools.Tool, "__call__"),
        (lpe.LocalPythonExecutor, "__call__"),
        (models.Model, "generate"),
        (models.OpenAIModel, "generate"),
        (models.OpenAIModel, "generate_stream"),
        (models.LiteLLMModel, "generate_stream"),
    ]
    before = {t: vars(t[0])[t[1]] for t in targets}
    pool = getattr(lpe, "ThreadPoolExecutor", None)
    had_hook = "__init_subclass__" in vars(models.Model)
    instrumentor.instrument(tracer_provider=provider)
    instrumentor.instrument(tracer_provider=provider)  # twice is harmless
    assert all(vars(c)[n] is not before[(c, n)] for c, n in targets)

    class DefinedWhileInstrumented(models.Model):
        def generate(self, messages, **kwargs):
            return None

    instrumentor.uninstrument()
    for (cls, name), original in before.items():
        assert vars(cls)[name] is original, f"{cls.__name__}.{name} not restored"
    assert getattr(lpe, "ThreadPoolExecutor", None) is pool
    assert ("__init_subclass__" in vars(models.Model)) == had_hook
    assert not hasattr(vars(DefinedWhileInstrumented)["generate"], "__wrapped__")
    # no copies left in subclasses
    for cls in [models.OpenAIModel, models.LiteLLMModel, agents.CodeAgent]:
        for name in ("generate", "run", "__call__"):
            if name in vars(cls):
                assert not hasattr(vars(cls)[name], "__wrapped__")


def test_suppressed_instrumentation_makes_no_span(instrument, get_trace):
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    instrument()
    with suppress_instrumentation():
        assert code_agent(THREE_STEP_CODE).run("quiet") == 26
    assert get_trace().spans == []


def test_fault_in_attribute_code_leaves_answer_unchanged(instrument, get_trace, monkeypatch, caplog):
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    import smolagents_otel.wrap_agents as wa

    instrument()
    expected = code_agent(THREE_STEP_CODE)
    with suppress_instrumentation():
        expected.run("compute")

    def explode(*a, **k):
        raise RuntimeError("injected")

    from smolagents_otel.serialize import MessageEncoder

    monkeypatch.setattr(MessageEncoder, "encode", explode)
    monkeypatch.setattr(wa, "_step_attributes", explode)
    agent = code_agent(THREE_STEP_CODE)
    with caplog.at_level("WARNING", logger="smolagents_otel"):
        assert agent.run("compute") == 26
    assert [getattr(m, "observations", None) for m in agent.memory.steps] == [
        getattr(m, "observations", None) for m in expected.memory.steps
    ]
    assert [getattr(m, "error", None) for m in agent.memory.steps] == [None] * len(expected.memory.steps)
    warnings = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert {r.getMessage().split(" in ")[1].split(";")[0] for r in warnings} == {
        "starting a model span",
        "starting a step span",
    }
    assert len(warnings) == 2  # logged once per place, not once per call
    tr = get_trace()
    assert tr.named("step 1") == [] and tr.named("invoke_agent CodeAgent")


def test_secrets_never_reach_attributes(instrument, get_trace, monkeypatch):
    from smolagents import tool

    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-very-private-value-123")
    openai_key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"

    @tool
    def leak(q: str) -> str:
        """Returns secrets.

        Args:
            q: query
        """
        return f"key={openai_key} and env tok-very-private-value-123 and hf_{'x' * 34}"

    instrument()
    agent = code_agent([code("r = leak('x')\nprint(r)"), code("final_answer(r)")], tools=[leak])
    result = agent.run("leak please tok-very-private-value-123")
    assert openai_key in result  # the agent itself is untouched
    for span in get_trace().spans:
        blobs = [str(v) for v in span.attributes.values()]
        blobs += [str(v) for e in span.events for v in e.attributes.values()]
        for blob in blobs:
            assert (
                openai_key not in blob and "tok-very-private-value-123" not in blob and "hf_xxxx" not in blob
            )
    leak_span = get_trace().one("execute_tool leak")
    assert "[REDACTED]" in leak_span.attributes["output.value"]
