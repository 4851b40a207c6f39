#!/usr/bin/env python
"""Overhead benchmark: smolagents-otel against no instrumentation, OpenInference and the OpenTelemetry
contrib smolagents instrumentation, on scripted (offline, deterministic) agent runs.

    python benchmarks/bench.py              # full run, about 4 minutes on 2 cores
    python benchmarks/bench.py --quick      # smoke run, under a minute
    python benchmarks/bench.py --markdown   # the same tables as markdown
    python benchmarks/bench.py --profile b:code10   # cProfile one configuration on one workload

Configurations (interleaved in one process: each round, each configuration in turn is instrumented,
runs every workload once to warm up and twice timed, and is uninstrumented; the benchmark checks that
uninstrumenting really restored smolagents, reports what was left behind, and undoes it):

    a        uninstrumented
    b        smolagents-otel, spans only                 instrument(tracer_provider=tp, event_sinks=())
    c        smolagents-otel, spans + span events + one no-op callback per LifecycleEvent
    d        smolagents-otel with NoOpTracerProvider     (default event sinks)
    e        OpenInference SmolagentsInstrumentor        (tracer_provider=tp)
    e-noSDK  OpenInference with NoOpTracerProvider
    f        opentelemetry-instrumentation-genai-smolagents (it traces agent.run only here: it leaves
             models that are not in-process models, such as the scripted one, and tools untraced)

``tp`` is an SDK TracerProvider with a BatchSpanProcessor into an exporter that drops every span.

Workloads: ``code10`` (CodeAgent, 9 code steps calling a @tool + final_answer), ``tool10``
(ToolCallingAgent, 9 steps of 2 parallel tool calls + final_answer), ``long50`` (ToolCallingAgent,
50 tool steps whose tool returns ~50 KB of text, then a final-answer step; each action step timed by
a proxy around the agent's ``_step_stream``) and ``memory`` (1,000 short runs, tracemalloc growth).

Method: times are process CPU time of all threads (the machine this was written on is shared; CPU
time is far less disturbed than wall time, which is reported too). Per round the fastest of the timed
runs counts; the result is the median over rounds of (configuration - uninstrumented, same round).
Overhead per step = that difference / action steps; per span = / spans per run (counted in a separate
non-timed pass with a capturing processor, which also counts what the SDK limits dropped). The
bare-SDK floor is one span with 4 attributes and 1 event under a current parent on the same provider
set-up, CPU time including its export. glibc's malloc thresholds are pinned (see ``MALLOC_ENV``).

Results go to stdout and to ``benchmarks/results/latest.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import logging
import os
import platform
import pstats
import random
import statistics
import sys
import time
import timeit
import tracemalloc
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")

import smolagents  # noqa: E402
from opentelemetry import context as otel_context  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from smolagents import CodeAgent, ToolCallingAgent, tool  # noqa: E402

from smolagents_otel import Instrumentor, LifecycleEvent  # noqa: E402
from smolagents_otel.testing import ScriptedModel, tool_call  # noqa: E402

try:
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor as OpenInferenceInstrumentor
except ImportError:  # pragma: no cover - optional comparison
    OpenInferenceInstrumentor = None
try:
    from opentelemetry.instrumentation.genai.smolagents import SmolagentsInstrumentor as ContribInstrumentor
except ImportError:  # pragma: no cover - optional comparison
    ContribInstrumentor = None

# OpenInference wraps only the Model classes that ``smolagents`` itself exports (it walks
# ``vars(smolagents)``). Exporting the scripted model there lets it create its LLM spans too, so
# both packages trace the same calls; without this OpenInference would skip every model call.
smolagents.ScriptedModel = ScriptedModel  # type: ignore[attr-defined]

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# ============================================================================================ workload


@tool
def add(a: int, b: int) -> int:
    """Adds two integers.

    Args:
        a: first number
        b: second number
    """
    return a + b


def _page_text(size: int) -> str:
    """Deterministic prose-like text (words, numbers, punctuation) of about ``size`` characters."""
    rng = random.Random(1234)
    words = (
        "agent tool model step span trace memory observation result value table row column index "
        "search page link title body section report figure number total average market share growth"
    ).split()
    parts: list[str] = []
    used = 0
    while used < size:
        chunk = " ".join(rng.choice(words) for _ in range(12)) + f" {rng.randint(0, 99999)}.\n"
        parts.append(chunk)
        used += len(chunk)
    return "".join(parts)[:size]


PAGE = _page_text(50_000)


@tool
def fetch_page(page: int) -> str:
    """Fetches one page of a long document.

    Args:
        page: page number
    """
    return f"page {page}\n{PAGE}"


CODE_STEP = "Thought: x\n<code>\nprint(add(1, 2))\n</code>"
CODE_FINAL = "Thought: x\n<code>\nfinal_answer(add(1, 2))\n</code>"


def code_replies(steps: int) -> list[Any]:
    return [CODE_STEP] * (steps - 1) + [CODE_FINAL]


def parallel_tool_replies(steps: int) -> list[Any]:
    replies: list[Any] = [
        [tool_call("add", {"a": i, "b": 1}, f"call_{i}_a"), tool_call("add", {"a": i, "b": 2}, f"call_{i}_b")]
        for i in range(steps - 1)
    ]
    replies.append([tool_call("final_answer", {"answer": "done"}, "call_final")])
    return replies


def long_replies(tool_steps: int) -> list[Any]:
    replies: list[Any] = [[tool_call("fetch_page", {"page": i}, f"call_{i}")] for i in range(tool_steps)]
    replies.append([tool_call("final_answer", {"answer": "done"}, "call_final")])
    return replies


@dataclass
class Workload:
    name: str
    description: str
    agent_class: type
    tools: list[Any]
    replies: list[Any]
    steps: int  # action steps per run
    max_steps: int = 20

    def make_agent(self, time_steps: bool = False) -> Any:
        """A quiet agent (LogLevel.OFF: no rich console output). Make it after instrumenting.

        With ``time_steps`` the agent records the process CPU time, wall time and cyclic-GC time of
        each action step in ``agent.step_times`` ({step number: (cpu ns, wall ns, gc ns)}): its
        ``_step_stream`` (as instrumented, so our step span is inside) is shadowed on the instance by
        a timing proxy."""
        agent = self.agent_class(
            tools=list(self.tools),
            model=ScriptedModel(self.replies),
            verbosity_level=-1,
            max_steps=self.max_steps,
        )
        if time_steps:
            agent.step_times = {}
            step_stream = agent._step_stream  # the class attribute, i.e. whatever instrumentation wraps it

            def timed_step_stream(memory_step: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
                cpu, wall, gc_ns = time.process_time_ns(), time.perf_counter_ns(), GC_CLOCK.read()[0]
                yield from step_stream(memory_step, *args, **kwargs)
                agent.step_times[memory_step.step_number] = (
                    time.process_time_ns() - cpu,
                    time.perf_counter_ns() - wall,
                    GC_CLOCK.read()[0] - gc_ns,
                )

            agent._step_stream = timed_step_stream
        return agent

    def run(self, agent: Any) -> tuple[int, int]:
        """One run from a fresh scripted model; returns (process CPU ns, wall ns)."""
        agent.model = ScriptedModel(self.replies)
        cpu, wall = time.process_time_ns(), time.perf_counter_ns()
        output = agent.run("Compute the thing.")
        cpu, wall = time.process_time_ns() - cpu, time.perf_counter_ns() - wall
        if output is None:
            raise RuntimeError(f"workload {self.name}: run returned no final answer")
        return cpu, wall


WORKLOADS = {
    "code10": Workload(
        "code10",
        "CodeAgent, 10 steps: 9x print(add(1, 2)) + final_answer",
        CodeAgent,
        [add],
        code_replies(10),
        10,
    ),
    "tool10": Workload(
        "tool10",
        "ToolCallingAgent, 10 steps: 9x two parallel add calls + final_answer",
        ToolCallingAgent,
        [add],
        parallel_tool_replies(10),
        10,
    ),
}
LONG_TOOL_STEPS = 50
LONG = Workload(
    "long50",
    f"ToolCallingAgent, {LONG_TOOL_STEPS} steps returning ~50 KB each + final-answer step",
    ToolCallingAgent,
    [fetch_page],
    long_replies(LONG_TOOL_STEPS),
    LONG_TOOL_STEPS + 1,
    max_steps=LONG_TOOL_STEPS + 5,
)
LONG_PROBE_STEPS = (1, 10, 25, 50)
MEMORY_WORKLOADS = (
    Workload("code3", "CodeAgent, 3 steps", CodeAgent, [add], code_replies(3), 3),
    Workload(
        "tool3",
        "ToolCallingAgent, 3 steps, parallel calls",
        ToolCallingAgent,
        [add],
        parallel_tool_replies(3),
        3,
    ),
)

# ============================================================================================ telemetry


class DroppingExporter(SpanExporter):
    """Accepts every batch and keeps nothing (counts spans, to check none were lost)."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class CapturingProcessor(SpanProcessor):
    """Keeps finished spans (for the non-timed pass that counts spans, events and dropped attributes)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def sdk_provider() -> tuple[TracerProvider, DroppingExporter]:
    exporter = DroppingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, exporter


class InternalErrorCounter(logging.Handler):
    """Counts warnings smolagents-otel logs about its own failures (there should be none)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:200])


class CountingSink(io.TextIOBase):
    """stdout replacement while agents run: counts what smolagents would have printed."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)

    def writable(self) -> bool:
        return True


class GcClock:
    """Time spent in the cyclic garbage collector (instrumentation allocations make it run more)."""

    def __init__(self) -> None:
        self.total_ns = 0
        self.collections = 0
        self._started = 0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
        elif self._started:
            self.total_ns += time.perf_counter_ns() - self._started
            self.collections += 1
            self._started = 0

    def read(self) -> tuple[int, int]:
        return self.total_ns, self.collections


GC_CLOCK = GcClock()

# ============================================================================================ configs


@dataclass
class Config:
    key: str
    label: str
    setup: Callable[[Any], Any]  # (provider) -> state for teardown
    teardown: Callable[[Any], None]
    uses_sdk: bool
    available: bool = True


def _ours(**kwargs: Any) -> Callable[[Any], Any]:
    def setup(provider: Any) -> Any:
        inst = Instrumentor()
        inst.instrument(tracer_provider=provider, **kwargs)
        return []

    return setup


def _ours_with_callbacks(provider: Any) -> Any:
    inst = Instrumentor()
    inst.instrument(tracer_provider=provider)
    return [inst.on(event, lambda e: None) for event in LifecycleEvent]


def _ours_noop(provider: Any) -> Any:
    Instrumentor().instrument(tracer_provider=trace.NoOpTracerProvider())
    return []


def _ours_teardown(handles: Any) -> None:
    for handle in handles:
        handle.remove()
    Instrumentor().uninstrument()


def _oi_setup(provider: Any) -> Any:
    OpenInferenceInstrumentor().instrument(tracer_provider=provider)


def _oi_noop_setup(provider: Any) -> Any:
    OpenInferenceInstrumentor().instrument(tracer_provider=trace.NoOpTracerProvider())


def _oi_teardown(state: Any) -> None:
    OpenInferenceInstrumentor().uninstrument()


def _contrib_setup(provider: Any) -> Any:
    ContribInstrumentor().instrument(tracer_provider=provider)


def _contrib_teardown(state: Any) -> None:
    ContribInstrumentor().uninstrument()


CONFIGS = {
    c.key: c
    for c in (
        Config("a", "uninstrumented", lambda p: None, lambda s: None, False),
        Config("b", "smolagents-otel spans only", _ours(event_sinks=()), _ours_teardown, True),
        Config("c", "smolagents-otel spans+events+15 callbacks", _ours_with_callbacks, _ours_teardown, True),
        Config("d", "smolagents-otel, NoOpTracerProvider", _ours_noop, _ours_teardown, False),
        Config("e", "OpenInference", _oi_setup, _oi_teardown, True, OpenInferenceInstrumentor is not None),
        Config(
            "e-noSDK",
            "OpenInference, NoOpTracerProvider",
            _oi_noop_setup,
            _oi_teardown,
            False,
            OpenInferenceInstrumentor is not None,
        ),
        Config(
            "f",
            "otel-contrib genai-smolagents",
            _contrib_setup,
            _contrib_teardown,
            True,
            ContribInstrumentor is not None,
        ),
    )
}
TIMED_CONFIGS = [k for k, c in CONFIGS.items() if c.available]
LONG_CONFIGS = [k for k in ("a", "b", "c", "e") if CONFIGS[k].available]
MEMORY_CONFIGS = ["a", "b", "c", "d"]

# ============================================================================================ restore check

_IGNORED_KEYS = {"_instance", "_is_instrumented_by_opentelemetry", "__weakref__"}


def _patch_surface() -> dict[tuple[str, ...], Any]:
    """Every global of the smolagents modules and every attribute of the classes they define."""
    out: dict[tuple[str, ...], Any] = {}
    for modname, module in list(sys.modules.items()):
        if module is None or not (modname == "smolagents" or modname.startswith("smolagents.")):
            continue
        for name, value in list(vars(module).items()):
            out[(modname, name)] = value
            if isinstance(value, type) and value.__module__.startswith("smolagents"):
                for attr, member in list(vars(value).items()):
                    if attr not in _IGNORED_KEYS:
                        out[(modname, name, attr)] = member
    return out


_ABSENT = object()


def restore_check(before: dict[tuple[str, ...], Any]) -> list[str]:
    """Differences left after uninstrument(); each is reported and then undone by the benchmark."""
    after = _patch_surface()
    problems: list[str] = []
    modules = {key[0] for key in before}
    for key in set(before) | set(after):
        if key[0] not in modules:
            continue  # a module imported meanwhile
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if old is new or (old is _ABSENT and isinstance(new, types.ModuleType)):
            continue  # unchanged, or a submodule imported meanwhile
        problems.append(
            f"{'.'.join(key)}: {'absent' if old is _ABSENT else type(old).__name__} -> "
            f"{'absent' if new is _ABSENT else type(new).__name__}"
        )
        owner: Any = sys.modules[key[0]]
        if len(key) == 3:
            owner = vars(owner)[key[1]]
        if old is _ABSENT:
            with contextlib.suppress(AttributeError, TypeError):
                delattr(owner, key[-1])
        else:
            setattr(owner, key[-1], old)
    return sorted(problems)


@contextlib.contextmanager
def configured(key: str, provider: Any, restore_log: dict[str, list[str]]) -> Iterator[None]:
    config = CONFIGS[key]
    before = _patch_surface()
    state = config.setup(provider)
    try:
        yield
    finally:
        config.teardown(state)
        problems = restore_check(before)
        if problems:
            seen = restore_log.setdefault(key, [])
            seen.extend(p for p in problems if p not in seen)


@contextlib.contextmanager
def quiet() -> Iterator[CountingSink]:
    sink = CountingSink()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):  # type: ignore[type-var]
        yield sink


# ============================================================================================ measurement


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rotated(keys: list[str], round_index: int) -> list[str]:
    """The configurations in a different order each round, so none always follows the same one."""
    shift = round_index % len(keys)
    return keys[shift:] + keys[:shift]


@dataclass
class Results:
    settings: dict[str, Any]
    # bare-SDK floor per round: process CPU ns per span (incl. export), and wall ns (timeit, no export)
    floor_cpu_ns: list[float] = field(default_factory=list)
    floor_wall_ns: list[float] = field(default_factory=list)
    floor_current_cpu_ns: list[float] = field(default_factory=list)
    # workload -> config -> clock ("cpu" or "wall") -> per-round fastest run time (ns)
    rounds: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    # workload -> config -> clock -> per-round overhead against "a" in the same round (ns per run)
    overhead: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    # workload -> config -> [gc ns, collections, runs] over the timed runs
    gc: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    # long50: config -> step -> per-round fastest step time (ns); overhead per round against "a"
    long_steps: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    long_steps_wall: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    long_overhead: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    long_overhead_wall: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    long_gc: dict[str, dict[int, list[int]]] = field(default_factory=dict)  # GC ns in the step, per run
    long_gc_per_run: dict[str, list[int]] = field(default_factory=dict)  # GC ns per run
    capture: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    restore: dict[str, list[str]] = field(default_factory=dict)
    exported_spans: dict[str, int] = field(default_factory=dict)
    expected_spans: dict[str, int] = field(default_factory=dict)
    console_chars: int = 0
    console_by: dict[str, int] = field(default_factory=dict)
    internal_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add_console(self, key: str, where: str, chars: int) -> None:
        if chars:
            self.console_chars += chars
            name = f"{key}/{where}"
            self.console_by[name] = self.console_by.get(name, 0) + chars


FLOOR_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "scripted-model",
    "smolagents.step.number": 3,
    "smolagents.span.type": "model",
}
FLOOR_EVENT_ATTRIBUTES = {"gen_ai.agent.name": "agent"}


def measure_floor(provider: TracerProvider, number: int, repeat: int = 3) -> tuple[float, float, float]:
    """The bare-SDK floor: one span with 4 attributes and 1 event, started under a current parent
    and ended, on the same provider set-up as the instrumented runs.

    Returns (process CPU ns per span, including the BatchSpanProcessor export of those spans;
    wall ns per span by timeit; CPU ns per span when the span is also made current)."""
    tracer = provider.get_tracer("bench.floor")
    parent = tracer.start_span("parent")
    token = otel_context.attach(trace.set_span_in_context(parent))

    def bare() -> None:
        span = tracer.start_span("floor", attributes=FLOOR_ATTRIBUTES)
        span.add_event("floor.event", FLOOR_EVENT_ATTRIBUTES)
        span.end()

    def current() -> None:
        with tracer.start_as_current_span("floor", attributes=FLOOR_ATTRIBUTES) as span:
            span.add_event("floor.event", FLOOR_EVENT_ATTRIBUTES)

    def cpu_per_span(fn: Callable[[], None]) -> float:
        samples = []
        for _ in range(repeat):
            provider.force_flush()
            start = time.process_time_ns()
            for _ in range(number):
                fn()
            provider.force_flush()
            samples.append((time.process_time_ns() - start) / number)
        return median(samples)

    try:
        cpu_ns = cpu_per_span(bare)
        current_ns = cpu_per_span(current)
        wall_ns = median(timeit.repeat(bare, number=number, repeat=repeat)) / number * 1e9
    finally:
        otel_context.detach(token)
        parent.end()
    provider.force_flush()
    return cpu_ns, wall_ns, current_ns


def timed_round(
    results: Results, round_index: int, provider: TracerProvider, exporter: DroppingExporter, runs: int
) -> None:
    """One round: each configuration in turn is instrumented, runs every 10-step workload (one
    warm-up run, then ``runs`` timed runs), and is uninstrumented again."""
    medians: dict[str, dict[str, dict[str, float]]] = {w: {} for w in WORKLOADS}
    for key in rotated(TIMED_CONFIGS, round_index):
        exported_before = exporter.count
        with configured(key, provider, results.restore):
            for wname, workload in WORKLOADS.items():
                agent = workload.make_agent()
                with quiet() as sink:
                    workload.run(agent)  # warm-up: first-call caches, lazily built objects
                    gc.collect()
                    gc_before = GC_CLOCK.read()
                    samples = [workload.run(agent) for _ in range(runs)]
                    gc_after = GC_CLOCK.read()
                results.add_console(key, wname, sink.chars)
                gc_total = results.gc.setdefault(wname, {}).setdefault(key, [0, 0, 0])
                gc_total[0] += gc_after[0] - gc_before[0]
                gc_total[1] += gc_after[1] - gc_before[1]
                gc_total[2] += runs
                # the fastest run of the round: interference from other processes only ever adds time
                per_clock = {"cpu": min(s[0] for s in samples), "wall": min(s[1] for s in samples)}
                medians[wname][key] = per_clock
                for clock, value in per_clock.items():
                    results.rounds.setdefault(wname, {}).setdefault(key, {}).setdefault(clock, []).append(
                        value
                    )
        provider.force_flush()
        results.exported_spans[key] = results.exported_spans.get(key, 0) + exporter.count - exported_before
    for wname, per_config in medians.items():
        for key, per_clock in per_config.items():
            if key == "a":
                continue
            for clock, value in per_clock.items():
                results.overhead.setdefault(wname, {}).setdefault(key, {}).setdefault(clock, []).append(
                    value - per_config["a"][clock]
                )


def long_round(results: Results, round_index: int, provider: TracerProvider, runs: int) -> None:
    """One round of the 50-step workload: per configuration, ``runs`` runs timing each action step.

    The CPU figure of a step leaves out cyclic-GC pauses: the run is deterministic, so a collection
    triggered by the run's allocations lands in the same step every time and would be charged to
    that one step; GC time per step is kept apart (``long_gc``)."""
    per_round: dict[str, dict[int, tuple[float, float]]] = {}
    for key in rotated(LONG_CONFIGS, round_index):
        with configured(key, provider, results.restore):
            agent = LONG.make_agent(time_steps=True)
            cpu: dict[int, list[int]] = {s: [] for s in LONG_PROBE_STEPS}
            wall: dict[int, list[int]] = {s: [] for s in LONG_PROBE_STEPS}
            gc_ns: dict[int, list[int]] = {s: [] for s in LONG_PROBE_STEPS}
            with quiet() as sink:
                gc.collect()
                for _ in range(runs):
                    agent.step_times.clear()
                    LONG.run(agent)
                    for s in LONG_PROBE_STEPS:
                        step_cpu, step_wall, step_gc = agent.step_times[s]
                        cpu[s].append(step_cpu - step_gc)
                        wall[s].append(step_wall)
                        gc_ns[s].append(step_gc)
                    gc_total = sum(t[2] for t in agent.step_times.values())
                    results.long_gc_per_run.setdefault(key, []).append(gc_total)
            results.add_console(key, LONG.name, sink.chars)
            del agent
            gc.collect()
        provider.force_flush()
        per_round[key] = {s: (min(cpu[s]), min(wall[s])) for s in LONG_PROBE_STEPS}
        for s in LONG_PROBE_STEPS:
            results.long_gc.setdefault(key, {}).setdefault(s, []).extend(gc_ns[s])
            results.long_steps.setdefault(key, {}).setdefault(s, []).append(per_round[key][s][0])
            results.long_steps_wall.setdefault(key, {}).setdefault(s, []).append(per_round[key][s][1])
    for key, steps in per_round.items():
        if key == "a":
            continue
        for s, (cpu_ns, wall_ns) in steps.items():
            base_cpu, base_wall = per_round["a"][s]
            results.long_overhead.setdefault(key, {}).setdefault(s, []).append(cpu_ns - base_cpu)
            results.long_overhead_wall.setdefault(key, {}).setdefault(s, []).append(wall_ns - base_wall)


def capture_pass(results: Results) -> None:
    """Not timed: spans, events and attributes per run, and what the SDK limits dropped."""
    for key in [k for k in TIMED_CONFIGS if CONFIGS[k].uses_sdk]:
        processor = CapturingProcessor()
        provider = TracerProvider()
        provider.add_span_processor(processor)
        calls = [0]

        def counting(event: Any, *, calls: list[int] = calls) -> None:  # arity 1: fn(event)
            calls[0] += 1

        for wname, workload in [*WORKLOADS.items(), (LONG.name, LONG)]:
            processor.spans.clear()
            calls[0] = 0
            with configured(key, provider, results.restore):
                # (c) registers no-op callbacks; here they also count how often they are called
                counters = [Instrumentor().on(ev, counting) for ev in LifecycleEvent] if key == "c" else []
                agent = workload.make_agent()
                with quiet() as sink:
                    workload.run(agent)
                results.add_console(f"{key} (capture)", wname, sink.chars)
                for handle in counters:
                    handle.remove()
            spans = list(processor.spans)
            stats: dict[str, Any] = {
                "spans": len(spans),
                "events": sum(len(s.events) for s in spans),
                "attributes": sum(len(s.attributes or {}) for s in spans),
                "event_attributes": sum(len(e.attributes or {}) for s in spans for e in s.events),
                "attribute_chars": sum(_value_chars(v) for s in spans for v in (s.attributes or {}).values()),
                "dropped_attributes": sum(s.dropped_attributes for s in spans),
                "dropped_event_attributes": sum(e.dropped_attributes for s in spans for e in s.events),
                "dropped_events": sum(s.dropped_events for s in spans),
                "dropped_links": sum(s.dropped_links for s in spans),
                "max_attributes_on_a_span": max((len(s.attributes or {}) for s in spans), default=0),
                "spans_by_name": _count_names(spans),
            }
            if key == "c":
                stats["callback_calls"] = calls[0]
            results.capture.setdefault(wname, {})[key] = stats
        provider.shutdown()


def _short_path(filename: str) -> str:
    return filename.split("site-packages/")[-1].split("src/")[-1]


def _count_names(spans: list[ReadableSpan]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for span in spans:
        counts[span.name] = counts.get(span.name, 0) + 1
    return dict(sorted(counts.items()))


def _value_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (tuple, list)):
        return sum(len(v) if isinstance(v, str) else 8 for v in value)
    return 8


def memory_pass(
    results: Results, provider: TracerProvider, runs: int, warmup: int, checkpoints: int = 10
) -> None:
    """tracemalloc growth per run over ``runs`` short runs (CodeAgent and ToolCallingAgent in turn).

    After ``warmup`` runs, memory is read at ``checkpoints`` evenly spaced points (each after
    ``force_flush`` and ``gc.collect``). The headline figure is the median growth per run over the
    intervals (a leak shows in every interval; a one-off dict resize or cache fill in one only);
    the growth from first to last checkpoint is reported too."""
    per_checkpoint = max(1, runs // checkpoints)
    for key in [k for k in MEMORY_CONFIGS if CONFIGS[k].available]:
        with configured(key, provider, results.restore):
            agents = [(w, w.make_agent()) for w in MEMORY_WORKLOADS]
            points: list[tuple[int, int]] = []
            done = 0
            with quiet() as sink:
                tracemalloc.start()
                try:
                    for i in range(warmup):
                        w, agent = agents[i % len(agents)]
                        w.run(agent)

                    def checkpoint(done: int, points: list[tuple[int, int]] = points) -> None:
                        provider.force_flush()
                        gc.collect()
                        points.append((done, tracemalloc.get_traced_memory()[0]))

                    checkpoint(done)
                    start_snapshot = tracemalloc.take_snapshot()
                    for _ in range(checkpoints):
                        for _ in range(per_checkpoint):
                            w, agent = agents[done % len(agents)]
                            w.run(agent)
                            done += 1
                        checkpoint(done)
                    end_snapshot = tracemalloc.take_snapshot()
                finally:
                    tracemalloc.stop()
            results.add_console(key, "memory", sink.chars)
        top = [
            f"{_short_path(stat.traceback[0].filename)}:{stat.traceback[0].lineno} {stat.size_diff:+d} B"
            for stat in end_snapshot.compare_to(start_snapshot, "lineno")[:5]
            if stat.size_diff > 0
        ]
        intervals = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(points, points[1:], strict=False)]
        results.memory[key] = {
            "runs": done,
            "warmup_runs": warmup,
            "bytes_per_run": median(intervals),
            "bytes_per_run_first_to_last": (points[-1][1] - points[0][1]) / done,
            "interval_bytes_per_run": intervals,
            "checkpoints": points,
            "top_growth": top,
        }
        del agents, start_snapshot, end_snapshot
        gc.collect()


# ============================================================================================ analysis


def _iqr(values: Sequence[float]) -> list[float]:
    if len(values) < 4:
        return [min(values), max(values)] if values else []
    q = statistics.quantiles(values, n=4)
    return [q[0], q[2]]


def analyse(results: Results) -> dict[str, Any]:
    floor_us = median(results.floor_cpu_ns) / 1e3
    summary: dict[str, Any] = {
        "clock": "process CPU time (all threads) unless marked wall",
        "floor_us_per_span": floor_us,
        "floor_wall_us_per_span": median(results.floor_wall_ns) / 1e3,
        "floor_current_span_us": median(results.floor_current_cpu_ns) / 1e3,
        "workloads": {},
    }
    for wname, workload in WORKLOADS.items():
        rows: dict[str, dict[str, Any]] = {}
        base_ms = median(results.rounds[wname]["a"]["cpu"]) / 1e6
        for key in TIMED_CONFIGS:
            row: dict[str, Any] = {
                "label": CONFIGS[key].label,
                "run_ms": median(results.rounds[wname][key]["cpu"]) / 1e6,
                "run_ms_wall": median(results.rounds[wname][key]["wall"]) / 1e6,
            }
            gc_ns, gc_count, gc_runs = results.gc[wname][key]
            row["gc_ms_per_run"] = gc_ns / gc_runs / 1e6
            row["gc_collections_per_run"] = gc_count / gc_runs
            if key != "a":
                per_round = results.overhead[wname][key]
                over_ns = median(per_round["cpu"])
                row["overhead_run_ms"] = over_ns / 1e6
                row["overhead_pct"] = 100 * over_ns / 1e6 / base_ms
                row["overhead_step_us"] = over_ns / 1e3 / workload.steps
                row["overhead_step_us_iqr"] = _iqr([v / 1e3 / workload.steps for v in per_round["cpu"]])
                row["overhead_step_us_wall"] = median(per_round["wall"]) / 1e3 / workload.steps
                spans = results.capture.get(wname, {}).get(key, {}).get("spans", 0)
                row["spans_per_run"] = spans
                if spans:
                    row["overhead_span_us"] = over_ns / 1e3 / spans
                    row["span_vs_floor"] = row["overhead_span_us"] / floor_us
            rows[key] = row
        for key, ref in (("b", "e"), ("c", "e"), ("d", "e-noSDK"), ("f", "e")):
            if key in rows and ref in rows:
                rows[key]["ref"] = ref
                rows[key]["vs_ref"] = rows[key]["overhead_step_us"] / rows[ref]["overhead_step_us"]
        summary["workloads"][wname] = rows
    long_rows: dict[str, Any] = {}
    for s in LONG_PROBE_STEPS:
        entry: dict[str, Any] = {
            "base_ms": median(results.long_steps["a"][s]) / 1e6,
            "base_ms_wall": median(results.long_steps_wall["a"][s]) / 1e6,
        }
        for key in LONG_CONFIGS[1:]:
            entry[f"{key}_overhead_us"] = median(results.long_overhead[key][s]) / 1e3
            entry[f"{key}_overhead_us_wall"] = median(results.long_overhead_wall[key][s]) / 1e3
        for key in LONG_CONFIGS:
            entry[f"{key}_gc_us_mean"] = statistics.fmean(results.long_gc[key][s]) / 1e3
        long_rows[str(s)] = entry
    summary["long50"] = long_rows
    summary["long50_gc_ms_per_run"] = {
        key: statistics.fmean(values) / 1e6 for key, values in results.long_gc_per_run.items()
    }
    summary["targets"] = targets(results, summary)
    return summary


def targets(results: Results, summary: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, value: float, limit: float, unit: str, detail: str) -> None:
        out.append(
            {
                "target": name,
                "value": value,
                "limit": limit,
                "unit": unit,
                "detail": detail,
                "status": "PASS" if value <= limit else "MISS",
            }
        )

    for wname in WORKLOADS:
        rows = summary["workloads"][wname]
        for key, ref, limit in (("b", "e", 15), ("c", "e", 25), ("d", "e-noSDK", 5)):
            if "vs_ref" in rows.get(key, {}):
                add(
                    f"{wname}: ({key}) overhead/step <= {limit}% of ({ref})'s",
                    100 * rows[key]["vs_ref"],
                    limit,
                    "%",
                    f"{rows[key]['overhead_step_us']:.0f} us vs {rows[ref]['overhead_step_us']:.0f} us",
                )
        if "span_vs_floor" in rows.get("b", {}):
            add(
                f"{wname}: (b) overhead/span <= 1.5x bare-SDK span",
                rows["b"]["span_vs_floor"],
                1.5,
                "x",
                f"{rows['b']['overhead_span_us']:.1f} us/span vs floor {summary['floor_us_per_span']:.1f} us",
            )
    long = summary["long50"]
    for key in ("b", "c"):
        if f"{key}_overhead_us" in long["1"]:
            first, last = long["1"][f"{key}_overhead_us"], long["50"][f"{key}_overhead_us"]
            add(
                f"long50: ({key}) overhead at step 50 <= 1.5x step 1",
                last / first if first > 0 else float("inf"),
                1.5,
                "x",
                f"step 1: {first:.0f} us, step 50: {last:.0f} us",
            )
    dropped = 0
    detail = []
    for wname, per_config in results.capture.items():
        for key in ("b", "c"):
            stats = per_config.get(key)
            if stats:
                n = (
                    stats["dropped_attributes"]
                    + stats["dropped_event_attributes"]
                    + stats["dropped_events"]
                    + stats["dropped_links"]
                )
                dropped += n
                detail.append(f"{wname}/{key}={n}")
    add("(b),(c): attributes dropped by SDK limits == 0", dropped, 0, "", ", ".join(detail))
    base = results.memory.get("a", {}).get("bytes_per_run", 0.0)
    for key in ("b", "c"):
        mem = results.memory.get(key)
        if mem:
            add(
                f"memory: ({key}) growth per run < 100 B (net of (a))",
                mem["bytes_per_run"] - base,
                100,
                " B",
                f"{mem['bytes_per_run']:.1f} B/run raw, (a) {base:.1f} B/run, {mem['runs']} runs",
            )
    return out


# ============================================================================================ output


def _fmt(value: Any, spec: str = ".0f") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return format(value, spec)


def tables(results: Results, summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    out = []
    headers = [
        "config",
        "run ms",
        "over/run ms",
        "over %",
        "over/step us",
        "IQR us",
        "wall over/step us",
        "spans/run",
        "over/span us",
        "x floor",
        "vs ref",
        "GC ms/run",
    ]
    for wname, workload in WORKLOADS.items():
        rows = []
        for key, row in summary["workloads"][wname].items():
            iqr = row.get("overhead_step_us_iqr") or []
            rows.append(
                [
                    f"{key} {row['label']}",
                    _fmt(row["run_ms"], ".2f"),
                    _fmt(row.get("overhead_run_ms"), ".2f"),
                    _fmt(row.get("overhead_pct")),
                    _fmt(row.get("overhead_step_us")),
                    f"{iqr[0]:.0f}..{iqr[1]:.0f}" if iqr else "-",
                    _fmt(row.get("overhead_step_us_wall")),
                    _fmt(row.get("spans_per_run"), "d") if key != "a" else "-",
                    _fmt(row.get("overhead_span_us"), ".1f"),
                    _fmt(row.get("span_vs_floor"), ".1f"),
                    f"{row['vs_ref']:.2f} x ({row['ref']})" if "vs_ref" in row else "-",
                    _fmt(row["gc_ms_per_run"], ".2f"),
                ]
            )
        out.append((f"{wname}: {workload.description}", headers, rows))
    long_headers = (
        ["step", "(a) step ms"]
        + [f"({k}) over us" for k in LONG_CONFIGS[1:]]
        + [f"({k}) wall over us" for k in LONG_CONFIGS[1:]]
        + [f"({k}) GC us" for k in LONG_CONFIGS]
    )
    long_rows = [
        [s, _fmt(v["base_ms"], ".2f")]
        + [_fmt(v.get(f"{k}_overhead_us")) for k in LONG_CONFIGS[1:]]
        + [_fmt(v.get(f"{k}_overhead_us_wall")) for k in LONG_CONFIGS[1:]]
        + [_fmt(v.get(f"{k}_gc_us_mean")) for k in LONG_CONFIGS]
        for s, v in summary["long50"].items()
    ]
    gc_runs = ", ".join(f"({k}) {v:.2f}" for k, v in summary["long50_gc_ms_per_run"].items())
    out.append(
        (
            f"long50: {LONG.description}; overhead per step against (a), CPU excluding cyclic-GC pauses "
            f"(GC us = mean GC time that fell in the step; GC ms per run: {gc_runs})",
            long_headers,
            long_rows,
        )
    )
    cap_headers = [
        "workload",
        "config",
        "spans",
        "events",
        "attrs",
        "event attrs",
        "attr KB",
        "max attrs/span",
        "dropped attrs",
        "dropped event attrs",
        "dropped events",
        "callback calls",
    ]
    cap_rows = []
    for wname, per_config in results.capture.items():
        for key, s in per_config.items():
            cap_rows.append(
                [
                    wname,
                    key,
                    str(s["spans"]),
                    str(s["events"]),
                    str(s["attributes"]),
                    str(s["event_attributes"]),
                    f"{s['attribute_chars'] / 1024:.0f}",
                    str(s["max_attributes_on_a_span"]),
                    str(s["dropped_attributes"]),
                    str(s["dropped_event_attributes"]),
                    str(s["dropped_events"]),
                    str(s.get("callback_calls", "-")),
                ]
            )
    out.append(("per run (non-timed capture pass, SimpleSpanProcessor into memory)", cap_headers, cap_rows))
    if results.memory:
        mem_headers = ["config", "runs", "B/run (median interval)", "B/run (first to last)", "largest growth"]
        mem_rows = [
            [
                k,
                str(m["runs"]),
                f"{m['bytes_per_run']:.1f}",
                f"{m['bytes_per_run_first_to_last']:.1f}",
                (m["top_growth"][0] if m["top_growth"] else "-"),
            ]
            for k, m in results.memory.items()
        ]
        out.append(
            (
                "memory: tracemalloc over short runs (3-step CodeAgent / ToolCallingAgent in turn)",
                mem_headers,
                mem_rows,
            )
        )
    target_rows = [
        [t["status"], t["target"], f"{t['value']:.2f}{t['unit']}", f"{t['limit']}{t['unit']}", t["detail"]]
        for t in summary["targets"]
    ]
    out.append(("targets", ["", "target", "value", "limit", "detail"], target_rows))
    return out


def render_plain(title: str, headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = [
        title,
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    return "\n".join(lines)


def render_markdown(title: str, headers: list[str], rows: list[list[str]]) -> str:
    lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def source_state() -> dict[str, Any]:
    """Which smolagents-otel source was measured (others may be editing src/ at the same time)."""
    import hashlib
    import subprocess

    root = Path(__file__).resolve().parent.parent
    out: dict[str, Any] = {}
    try:
        out["commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        out["uncommitted_src"] = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.split("\n")[:-1]
    except (OSError, subprocess.SubprocessError):
        pass
    digest = hashlib.sha256()
    for path in sorted((root / "src" / "smolagents_otel").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    out["src_sha256"] = digest.hexdigest()[:16]
    return out


def versions() -> dict[str, str]:
    out = {}
    for dist in (
        "smolagents",
        "smolagents-otel",
        "opentelemetry-sdk",
        "opentelemetry-api",
        "openinference-instrumentation-smolagents",
        "opentelemetry-instrumentation-genai-smolagents",
        "wrapt",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


# ============================================================================================ profile


# (label, file suffix, function name): cumulative costs worth naming in a profile (they overlap).
_PROFILE_GROUPS = (
    ("redaction (Redactor.__call__)", "smolagents_otel/redaction.py", "__call__"),
    ("Redactor.refresh_environment", "smolagents_otel/redaction.py", "refresh_environment"),
    ("messages_to_json (model input)", "smolagents_otel/serialize.py", "messages_to_json"),
    ("message_output_json (model output)", "smolagents_otel/serialize.py", "message_output_json"),
    ("to_text (other content attributes)", "smolagents_otel/serialize.py", "to_text"),
    ("json.dumps", "json/__init__.py", "dumps"),
    ("Runtime.emit (events + callbacks)", "smolagents_otel/runtime.py", "emit"),
    ("SDK Tracer.start_span", "opentelemetry/sdk/trace/__init__.py", "start_span"),
    ("SDK Span.end", "opentelemetry/sdk/trace/__init__.py", "end"),
    ("SDK Span.set_attribute", "opentelemetry/sdk/trace/__init__.py", "set_attribute"),
    ("SDK Span.set_attributes", "opentelemetry/sdk/trace/__init__.py", "set_attributes"),
    ("SDK Span.add_event", "opentelemetry/sdk/trace/__init__.py", "add_event"),
    ("context attach", "opentelemetry/context/__init__.py", "attach"),
    ("context detach", "opentelemetry/context/__init__.py", "detach"),
    ("context_with (_state.py)", "smolagents_otel/_state.py", "context_with"),
)


def _profile_threads() -> tuple[list[cProfile.Profile], Callable[[], None]]:
    """cProfile every thread started from now on (smolagents runs code and parallel tools in threads)."""
    import threading

    profiles: list[cProfile.Profile] = []

    def hook(frame: Any, event: str, arg: Any) -> None:
        profiler = cProfile.Profile()
        profiles.append(profiler)
        profiler.enable()  # replaces this hook for the rest of the thread's life

    threading.setprofile(hook)
    return profiles, lambda: threading.setprofile(None)  # type: ignore[arg-type]


def profile(spec: str, runs: int, top: int) -> None:
    """cProfile ``runs`` runs of one workload under one configuration, all threads; show where
    smolagents-otel's time goes (own time of its functions, and the named cumulative groups)."""
    key, _, wname = spec.partition(":")
    workload = WORKLOADS.get(wname) or (LONG if wname == LONG.name else None)
    if key not in CONFIGS or workload is None:
        raise SystemExit(
            f"--profile CONFIG:WORKLOAD, CONFIG in {list(CONFIGS)}, WORKLOAD in {[*WORKLOADS, LONG.name]}"
        )
    provider, _ = sdk_provider()
    with configured(key, provider, {}):
        agent = workload.make_agent()
        with quiet():
            workload.run(agent)
            thread_profiles, stop_threads = _profile_threads()
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(runs):
                workload.run(agent)
            profiler.disable()
            stop_threads()
    stats = pstats.Stats(profiler)
    for extra in thread_profiles:
        with contextlib.suppress(Exception):
            stats.add(extra)
    table = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in table.items():
        if (
            "smolagents_otel" in filename
            or "/opentelemetry/" in filename
            or func in ("<method 'sub' of 're.Pattern' objects>", "<method 'search' of 're.Pattern' objects>")
        ):
            rows.append((tt, ct, nc, f"{_short_path(filename)}:{line}({func})"))
    rows.sort(reverse=True)
    print(f"profile {key}:{wname}, {runs} runs, {len(thread_profiles)} worker threads profiled too")
    print("own time (tottime) per run, us | cumulative per run, us | calls per run | function")
    for tt, ct, nc, name in rows[:top]:
        print(f"{tt / runs * 1e6:10.0f} {ct / runs * 1e6:10.0f} {nc / runs:8.1f}  {name}")
    print("\nnamed costs (cumulative per run, us; groups overlap):")
    for label, suffix, func in _PROFILE_GROUPS:
        total = sum(
            ct for (f, _l, fn), (_cc, _nc, _tt, ct, _c) in table.items() if f.endswith(suffix) and fn == func
        )
        calls = sum(
            nc for (f, _l, fn), (_cc, nc, _tt, _ct, _c) in table.items() if f.endswith(suffix) and fn == func
        )
        print(f"{total / runs * 1e6:10.0f} {calls / runs:8.1f}  {label}")
    own = sum(tt for (f, _l, _fn), (_cc, _nc, tt, _ct, _c) in table.items() if "smolagents_otel" in f)
    print(f"{own / runs * 1e6:10.0f}           own time of all smolagents_otel functions")
    provider.shutdown()


# ============================================================================================ main


# glibc adapts its mmap and trim thresholds as a process frees large blocks. With ~50 KB strings
# (long50) that makes page faults (kernel CPU time) start at a step that depends on the process's
# history and on how much it allocates, so one configuration faults from step 36 on and another
# from step 49: a step-to-step difference of more than a millisecond that is not the instrumentation's
# work. Fixed thresholds remove that; --default-malloc keeps glibc's behaviour.
MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(4 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
    "MALLOC_TOP_PAD_": str(64 << 20),
}


def pin_malloc() -> None:
    if all(os.environ.get(k) == v for k, v in MALLOC_ENV.items()):
        return
    os.environ.update(MALLOC_ENV)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.argv])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="smolagents-otel overhead benchmark (see the module docstring)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs (< 90 s)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    parser.add_argument("--rounds", type=int, help="rounds of the 10-step workloads (default 40, quick 8)")
    parser.add_argument(
        "--runs", type=int, help="timed runs per configuration, workload and round (default 2)"
    )
    parser.add_argument("--long-rounds", type=int, help="rounds of long50 (default 10, quick 2)")
    parser.add_argument(
        "--long-runs", type=int, help="long50 runs per configuration and round (default 2, quick 1)"
    )
    parser.add_argument("--memory-runs", type=int, help="runs of the memory check (default 1000, quick 200)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory check")
    parser.add_argument(
        "--json", type=Path, default=RESULTS_DIR / "latest.json", help="where to write the JSON"
    )
    parser.add_argument("--profile", metavar="CONFIG:WORKLOAD", help="only profile one pair, e.g. b:code10")
    parser.add_argument("--profile-runs", type=int, default=20)
    parser.add_argument("--profile-top", type=int, default=40)
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="keep glibc's adaptive malloc thresholds (by default they are pinned, see MALLOC_ENV)",
    )
    args = parser.parse_args(argv)

    if not args.default_malloc and sys.platform.startswith("linux") and argv is None:
        pin_malloc()  # re-executes this process once, with the settings in the environment

    if args.profile:
        profile(args.profile, args.profile_runs, args.profile_top)
        return 0

    quick = args.quick
    settings = {
        "quick": quick,
        "rounds": args.rounds or (8 if quick else 40),
        "runs": args.runs or 2,
        "long_rounds": args.long_rounds or (2 if quick else 10),
        "long_runs": args.long_runs or (1 if quick else 2),
        "memory_runs": 0 if args.no_memory else (args.memory_runs or (200 if quick else 1000)),
        "memory_warmup_runs": 20 if quick else 50,
        "floor_spans": 400,
    }
    results = Results(settings=settings)
    otel_env = {k: v for k, v in os.environ.items() if k.startswith(("OTEL_", "SMOLAGENTS_OTEL_"))}
    errors = InternalErrorCounter()
    logging.getLogger("smolagents_otel").addHandler(errors)
    if Instrumentor().is_instrumented_by_opentelemetry:
        Instrumentor().uninstrument()  # a clean start, whatever imported us
    started = time.perf_counter()

    def progress(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    progress(f"settings {settings}")
    capture_pass(results)
    progress("capture pass done")
    provider, exporter = sdk_provider()
    for r in range(settings["rounds"]):
        cpu_ns, wall_ns, current_ns = measure_floor(provider, settings["floor_spans"])
        results.floor_cpu_ns.append(cpu_ns)
        results.floor_wall_ns.append(wall_ns)
        results.floor_current_cpu_ns.append(current_ns)
        timed_round(results, r, provider, exporter, settings["runs"])
        progress(f"round {r + 1}/{settings['rounds']}")
    for key in TIMED_CONFIGS:
        spans = sum(results.capture.get(w, {}).get(key, {}).get("spans", 0) for w in WORKLOADS)
        results.expected_spans[key] = spans * (settings["runs"] + 1) * settings["rounds"]
    for r in range(settings["long_rounds"]):
        long_round(results, r, provider, settings["long_runs"])
        progress(f"long50 round {r + 1}/{settings['long_rounds']}")
    if settings["memory_runs"]:
        memory_pass(results, provider, settings["memory_runs"], settings["memory_warmup_runs"])
        progress("memory check done")
    provider.shutdown()
    results.seconds = time.perf_counter() - started
    results.internal_errors = errors.messages
    summary = analyse(results)

    render = render_markdown if args.markdown else render_plain
    print(
        f"\nTimes are process CPU time of all threads (less disturbed than wall time on a shared machine): "
        f"per round the fastest of {settings['runs']} runs, then the median over {settings['rounds']} rounds "
        f"of "
        f"(configuration - uninstrumented in the same round); IQR = spread of those per-round differences; "
        f"'wall' columns use wall-clock time. Bare-SDK floor: "
        f"{summary['floor_us_per_span']:.1f} us CPU per span incl. export "
        f"({summary['floor_wall_us_per_span']:.1f} us wall by timeit; "
        f"{summary['floor_current_span_us']:.1f} us CPU when also made current).\n"
    )
    for title, headers, rows in tables(results, summary):
        print(render(title, headers, rows))
        print()
    notes = []
    for key, problems in results.restore.items():
        notes.append(
            f"uninstrument() of ({key}) did not restore smolagents ({len(problems)} change(s), undone by "
            "the benchmark): " + "; ".join(problems[:4]) + (" ..." if len(problems) > 4 else "")
        )
    for key, expected in results.expected_spans.items():
        got = results.exported_spans.get(key, 0)
        if CONFIGS[key].uses_sdk and got != expected:
            notes.append(f"({key}): {got} spans exported in the timed rounds, {expected} expected")
    if results.console_chars:
        notes.append(
            f"{results.console_chars} characters went to stdout/stderr during runs (discarded): "
            f"{results.console_by}"
        )
    if results.internal_errors:
        notes.append(
            f"smolagents-otel logged {len(results.internal_errors)} warnings: {results.internal_errors[:3]}"
        )
    if otel_env:
        notes.append(f"environment settings in effect: {sorted(otel_env)}")
    pinned = all(os.environ.get(k) == v for k, v in MALLOC_ENV.items())
    notes.append(
        "glibc malloc thresholds pinned (" + ", ".join(f"{k}={v}" for k, v in MALLOC_ENV.items()) + ")"
        if pinned
        else "glibc malloc thresholds adaptive (--default-malloc): late long50 steps may show page faults"
    )
    for note in notes:
        print(("- " if args.markdown else "note: ") + note)
    misses = [t for t in summary["targets"] if t["status"] == "MISS"]
    print(
        f"\n{len(summary['targets']) - len(misses)} PASS, {len(misses)} MISS; {results.seconds:.0f} s; "
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )

    payload = {
        "meta": {
            "source": source_state(),
            "malloc": {k: os.environ.get(k) for k in MALLOC_ENV},
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "versions": versions(),
            "settings": settings,
            "seconds": results.seconds,
            "environment": otel_env,
            "argv": sys.argv,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "summary": summary,
        "capture": results.capture,
        "memory": results.memory,
        "raw": {
            "floor_cpu_ns": results.floor_cpu_ns,
            "floor_wall_ns": results.floor_wall_ns,
            "floor_current_cpu_ns": results.floor_current_cpu_ns,
            "run_ns_round_medians": results.rounds,
            "overhead_ns_per_round": results.overhead,
            "gc": results.gc,
            "long50_step_cpu_ns": {
                k: {str(s): v for s, v in d.items()} for k, d in results.long_steps.items()
            },
            "long50_step_wall_ns": {
                k: {str(s): v for s, v in d.items()} for k, d in results.long_steps_wall.items()
            },
            "long50_overhead_cpu_ns": {
                k: {str(s): v for s, v in d.items()} for k, d in results.long_overhead.items()
            },
            "long50_overhead_wall_ns": {
                k: {str(s): v for s, v in d.items()} for k, d in results.long_overhead_wall.items()
            },
        },
        "checks": {
            "restore": results.restore,
            "exported_spans": results.exported_spans,
            "expected_spans": results.expected_spans,
            "console_chars": results.console_by,
            "internal_errors": results.internal_errors,
        },
        "notes": notes,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2, default=str))
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
