"""Never break the agent: faults injected into our own code, hostile tool outputs, bad configuration,
property-based checks of the serializer and the callback registry, concurrency."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from agents_fixtures import PARALLEL_TOOLS, THREE_STEP_CODE, code, code_agent, tool_agent
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.instrumentation.utils import suppress_instrumentation
from smolagents import Tool

from smolagents_otel import Config, Instrumentor, LifecycleEvent
from smolagents_otel.callbacks import CallbackRegistry
from smolagents_otel.redaction import Redactor
from smolagents_otel.serialize import MessageEncoder, to_text

# ----------------------------------------------------------------------------- fault injection
INJECTION_POINTS = [
    ("smolagents_otel.wrap_agents", "_begin_run"),
    ("smolagents_otel.wrap_agents", "_step_attributes"),
    ("smolagents_otel.wrap_agents", "_finish_reason"),
    ("smolagents_otel.wrap_agents", "_smolagents_class"),
    ("smolagents_otel.wrap_agents.StepState", "__init__"),
    ("smolagents_otel.wrap_agents._StepObserver", "__init__"),
    ("smolagents_otel.wrap_agents._PlanningObserver", "__init__"),
    ("smolagents_otel.serialize.MessageEncoder", "encode"),
    ("smolagents_otel.serialize", "_message_parts"),
    ("smolagents_otel.wrap_models", "message_output_json"),
    ("smolagents_otel.wrap_models", "_content_text"),
    ("smolagents_otel.wrap_models._ModelCall", "open"),
    ("smolagents_otel.wrap_tools", "_tool_arguments"),
    ("smolagents_otel.wrap_tools", "_match_call_id"),
    ("smolagents_otel.wrap_tools", "_end_tool"),
    ("smolagents_otel.wrap_tools.ToolState", "__init__"),
    ("smolagents_otel.runtime.Runtime", "text"),
    ("smolagents_otel.runtime.Runtime", "set_error"),
    ("smolagents_otel.runtime.Runtime", "_event_attributes"),
    ("smolagents_otel.runtime.Runtime", "write_event"),
    ("smolagents_otel.runtime", "AgentEvent"),
    ("smolagents_otel.redaction.Redactor", "__call__"),
    ("smolagents_otel.redaction.Redactor", "refresh_environment"),
    ("smolagents_otel.metrics.Metrics", "model_call"),
    ("smolagents_otel.metrics.Metrics", "run"),
    ("smolagents_otel.metrics.Metrics", "tool"),
    ("smolagents_otel._state", "context_with"),
    ("smolagents_otel.wrap_agents", "context_with"),
    ("smolagents_otel.wrap_tools", "context_with"),
    ("smolagents_otel.wrap_models", "context_with"),
]


def _scenario():
    """Several agent shapes; returns what an uninstrumented run would return, to compare."""
    agents = [
        code_agent(["a plan"] + THREE_STEP_CODE, planning_interval=5),
        code_agent([code("broken(1)"), code("final_answer('recovered')")]),
        tool_agent(PARALLEL_TOOLS, stream_outputs=True),
    ]
    results = [
        agents[0].run("compute"),
        agents[1].run("recover"),
        list(agents[2].run("go", stream=True))[-1].output,
    ]
    memory = [
        [
            (type(s).__name__, getattr(s, "observations", None), str(getattr(s, "error", None)))
            for s in a.memory.steps
        ]
        for a in agents
    ]
    return results, memory


@pytest.fixture(scope="module")
def uninstrumented():
    with suppress_instrumentation():
        return _scenario()


def _resolve(path: str):
    import importlib

    module_path, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_path), attr)
    except ModuleNotFoundError:
        return importlib.import_module(path)


@pytest.mark.parametrize(
    "target,name", INJECTION_POINTS, ids=[f"{t.split('.')[-1]}.{n}" for t, n in INJECTION_POINTS]
)
def test_fault_in_our_code_leaves_the_agent_as_uninstrumented(
    target, name, instrument, monkeypatch, uninstrumented
):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    inst = instrument(
        meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
        event_sinks=["span_events", "logs", "langfuse_spans"],
    )
    for event in LifecycleEvent:
        inst.on(event, lambda e: None)

    def explode(*args, **kwargs):
        raise RuntimeError(f"injected into {name}")

    monkeypatch.setattr(_resolve(target), name, explode)
    assert _scenario() == uninstrumented


# ----------------------------------------------------------------------------- hostile tool outputs
class NoRepr:
    __slots__ = ()


class RaisingRepr:
    def __repr__(self):
        raise RuntimeError("repr exploded")

    __str__ = __repr__


def _recursive():
    a: list = [1]
    a.append(a)
    d: dict = {"self": None}
    d["self"] = d
    return [a, d]


def _deep(n=5000):
    d: dict = {}
    cur = d
    for _ in range(n):
        cur["x"] = {}
        cur = cur["x"]
    return d


def _hostile_values():
    values = {
        "no_repr": NoRepr(),
        "raising_repr": RaisingRepr(),
        "bytes": b"\x00\xff" * 1000,
        "recursive": _recursive(),
        "ten_mb": "z" * 10_000_000,
        "surrogates": "bad \udcff unicode \ud800",
        "deep": _deep(),
        "none": None,
    }
    try:
        from PIL import Image

        values["pil_image"] = Image.new("RGB", (64, 32))
    except ImportError:
        pass
    try:
        import numpy as np

        values["numpy"] = np.arange(1_000_000)
    except ImportError:
        pass
    try:
        import pandas as pd

        values["dataframe"] = pd.DataFrame({"a": range(10_000)})
    except ImportError:
        pass
    return values


HOSTILE = _hostile_values()


class Hostile(Tool):
    name = "hostile"
    description = "returns something awkward"
    inputs = {"kind": {"type": "string", "description": "which"}}
    output_type = "any"

    def forward(self, kind: str):
        return HOSTILE[kind]


def _hostile_run(kind):
    agent = code_agent(
        [code(f"r = hostile('{kind}')"), code("final_answer(r)")], tools=[Hostile()], max_steps=3
    )
    try:
        answer = agent.run("be hostile")
    except Exception as exc:  # noqa: BLE001 - compared with the uninstrumented outcome below
        return ("raised", type(exc).__name__)
    steps = [(type(s).__name__, str(getattr(s, "error", None))) for s in agent.memory.steps]
    return ("answer", type(answer).__name__, steps)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_tool_outputs_and_answers(kind, instrument, get_trace):
    instrument()
    with suppress_instrumentation():
        expected = _hostile_run(kind)
    assert _hostile_run(kind) == expected  # the agent behaves exactly as uninstrumented
    limit = Config().max_attribute_length
    for span in get_trace().spans:
        for key, value in span.attributes.items():
            if isinstance(value, str):
                assert len(value) <= limit + 40, (span.name, key, len(value))
                value.encode("utf-8")
        assert len(span.attributes) < 64
    tool_span = get_trace().one("execute_tool hostile")
    assert tool_span.status.status_code.name == "UNSET"  # the tool itself worked
    if kind == "pil_image":
        assert tool_span.attributes["output.value"].startswith("<image ")
    if kind == "ten_mb":
        assert tool_span.attributes["output.value"].endswith("chars]")


# ----------------------------------------------------------------------------- bad configuration
@pytest.mark.parametrize(
    "env,value,message",
    [
        ("SMOLAGENTS_OTEL_CAPTURE_CONTENT", "maybe", "not a boolean"),
        ("SMOLAGENTS_OTEL_MAX_ATTRIBUTE_LENGTH", "lots", "not an integer"),
        ("SMOLAGENTS_OTEL_MAX_ATTRIBUTE_LENGTH", "3", ">= 64"),
        ("SMOLAGENTS_OTEL_EVENT_SINKS", "span_events,carrier_pigeon", "unknown sink"),
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "sometimes", "not understood"),
        ("SMOLAGENTS_OTEL_SPANS", "2", "not a boolean"),
    ],
)
def test_bad_environment_values_fail_at_instrument(env, value, message, instrumentor, provider, monkeypatch):
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError, match=message):
        instrumentor.instrument(tracer_provider=provider)
    assert not instrumentor.is_instrumented_by_opentelemetry


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"capture_content": "yes"}, TypeError),
        ({"max_attribute_length": 10.5}, TypeError),
        ({"event_sinks": "span_events"}, TypeError),
        ({"event_sinks": ["nope"]}, ValueError),
        ({"max_event_content_length": -1}, ValueError),
    ],
)
def test_bad_config_arguments(kwargs, error):
    with pytest.raises(error):
        Config(**kwargs)


def test_explicit_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("SMOLAGENTS_OTEL_CAPTURE_CONTENT", "false")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    assert Config.from_env().capture_content is False
    assert Config.from_env(capture_content=True).capture_content is True
    with pytest.raises(TypeError, match="unknown Config setting"):
        Config.from_env(capture=True)


# ----------------------------------------------------------------------------- property-based
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=values, limit=st.integers(min_value=64, max_value=2000))
def test_serializer_is_total_and_bounded(value, limit):
    redact = Redactor(True)
    text = to_text(value, limit, redact)
    assert isinstance(text, str)
    assert len(text) <= limit + 40
    text.encode("utf-8")


messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system", "tool-response"]),
            "content": st.one_of(
                st.text(),
                st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": st.text()})),
                st.none(),
            ),
        }
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(msgs=messages, limit=st.integers(min_value=64, max_value=4000))
def test_message_serializer_bounded_and_newest_first(msgs, limit):
    text = MessageEncoder().encode(msgs, limit, Redactor(False))
    assert len(text) <= limit + 40
    if len(text) < limit and msgs:
        parsed = json.loads(text)
        assert parsed[-1]["role"] == msgs[-1]["role"]


def _fn0():
    return None


def _fn1(e):
    return None


def _fn2(e, a):
    return None


def _fn3(e, a, b):
    return None


def _fn_opt(e, a=None, b=None):
    return None


async def _afn(e):
    return None


CALLABLES = {
    "fn0": (_fn0, None),
    "fn1": (_fn1, 1),
    "fn2": (_fn2, 2),
    "fn3": (_fn3, None),
    "fn_opt": (_fn_opt, 2),
    "afn": (_afn, None),
    "notcallable": (42, None),
}


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["add", "remove"]),
            st.sampled_from([e.name for e in LifecycleEvent] + ["bogus", "pre_execution"]),
            st.sampled_from(sorted(CALLABLES)),
        ),
        max_size=40,
    )
)
def test_registry_model(ops):
    registry = CallbackRegistry()
    model: dict[LifecycleEvent, list] = {}
    handles = []
    for op, event_name, fn_name in ops:
        fn, arity = CALLABLES[fn_name]
        if op == "add":
            try:
                event = LifecycleEvent.coerce(event_name)
            except ValueError:
                with pytest.raises(ValueError):
                    registry.add(event_name, fn)
                continue
            if arity is None:
                with pytest.raises(TypeError):
                    registry.add(event, fn)
                continue
            handle = registry.add(event, fn)
            assert handle.registration.arity == arity
            handles.append(handle)
            model.setdefault(event, []).append(handle.registration)
        elif handles:
            handle = handles.pop(0)
            handle.remove()
            model[handle.registration.event].remove(handle.registration)
    for event in LifecycleEvent:
        assert list(registry.snapshot(event)) == model.get(event, [])
        assert registry.has_callbacks(event) == bool(model.get(event))


# ----------------------------------------------------------------------------- concurrency
def _check_separate_traces(tr, n):
    runs = [s for s in tr.spans if s.name.startswith("invoke_agent")]
    assert len(runs) == n and len({r.context.trace_id for r in runs}) == n
    for span in tr.spans:
        root = span
        while tr.parent(root) is not None:
            root = tr.parent(root)
        assert root.name.startswith("invoke_agent") and root.context.trace_id == span.context.trace_id


def test_eight_agents_in_threads_and_asyncio(instrument, get_trace):
    inst = instrument()
    agents = [code_agent(THREE_STEP_CODE, name=f"t{i}") for i in range(4)]
    agents += [tool_agent(PARALLEL_TOOLS, name=f"a{i}") for i in range(4)]
    seen: dict[str, list] = {a.name: [] for a in agents}
    lock = threading.Lock()

    def record(event):
        with lock:
            seen[event.agent_name].append(event.name)

    for a in agents:
        inst.on(LifecycleEvent.PRE_EXECUTION, record, agent=a)
    results: dict[str, object] = {}
    threads = [
        threading.Thread(target=lambda a=a: results.__setitem__(a.name, a.run("go"))) for a in agents[:4]
    ]
    for t in threads:
        t.start()

    async def main():
        return await asyncio.gather(*(asyncio.to_thread(a.run, "go") for a in agents[4:]))

    async_results = asyncio.run(main())
    for t in threads:
        t.join()
    assert [results[a.name] for a in agents[:4]] == [26] * 4
    assert async_results == ["done"] * 4
    for a in agents:
        assert seen[a.name] == [LifecycleEvent.PRE_EXECUTION] * (3 if a.name.startswith("t") else 2)
    _check_separate_traces(get_trace(), 8)


def test_instrument_and_uninstrument_while_agents_run(instrumentor, provider):
    stop = threading.Event()
    errors: list[BaseException] = []
    answers: list[object] = []

    def loop():
        while not stop.is_set():
            try:
                answers.append(code_agent(THREE_STEP_CODE).run("go"))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=loop) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(15):
        instrumentor.instrument(tracer_provider=provider)
        instrumentor.uninstrument()
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert answers and set(answers) == {26}
    assert Instrumentor().is_instrumented_by_opentelemetry is False
