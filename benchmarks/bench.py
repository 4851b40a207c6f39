#!/usr/bin/env python
"""Overhead benchmark: smolagents-otel against no instrumentation, OpenInference and the OpenTelemetry
contrib smolagents instrumentation, on scripted (offline, deterministic) agent runs.

    python benchmarks/bench.py              # full run, about 6-9 minutes on 2 cores
    python benchmarks/bench.py --quick      # smoke run, under 90 s
    python benchmarks/bench.py --markdown   # the same tables as markdown
    python benchmarks/bench.py --profile b:code10   # cProfile one configuration on one workload

Configurations (all interleaved in one process; each is instrumented, measured for one round and
uninstrumented, and the benchmark checks that uninstrumenting really restored smolagents):

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
50 tool steps whose tool returns ~50 KB of text, then a final-answer step; per-step times from
``ActionStep.timing``) and ``memory`` (1,000 short runs, tracemalloc growth per run).

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

    def make_agent(self, step_callbacks: list[Any] | None = None) -> Any:
        return self.agent_class(
            tools=list(self.tools),
            model=ScriptedModel(self.replies),
            verbosity_level=-1,  # LogLevel.OFF: no rich console output at all
            max_steps=self.max_steps,
            step_callbacks=step_callbacks or [],
        )

    def run(self, agent: Any) -> int:
        """One run from a fresh scripted model; returns its wall time in ns."""
        agent.model = ScriptedModel(self.replies)
        start = time.perf_counter_ns()
        output = agent.run("Compute the thing.")
        elapsed = time.perf_counter_ns() - start
        if output is None:
            raise RuntimeError(f"workload {self.name}: run returned no final answer")
        return elapsed


WORKLOADS = {
    "code10": Workload(
        "code10", "CodeAgent, 10 steps: 9x print(add(1, 2)) + final_answer", CodeAgent, [add],
        code_replies(10), 10,
    ),
    "tool10": Workload(
        "tool10", "ToolCallingAgent, 10 steps: 9x two parallel add calls + final_answer",
        ToolCallingAgent, [add], parallel_tool_replies(10), 10,
    ),
}
LONG_TOOL_STEPS = 50
LONG = Workload(
    "long50", f"ToolCallingAgent, {LONG_TOOL_STEPS} steps returning ~50 KB each + final-answer step",
    ToolCallingAgent, [fetch_page], long_replies(LONG_TOOL_STEPS), LONG_TOOL_STEPS + 1,
    max_steps=LONG_TOOL_STEPS + 5,
)
LONG_PROBE_STEPS = (1, 10, 25, 50)
MEMORY_WORKLOADS = (
    Workload("code3", "CodeAgent, 3 steps", CodeAgent, [add], code_replies(3), 3),
    Workload("tool3", "ToolCallingAgent, 3 steps, parallel calls", ToolCallingAgent, [add],
             parallel_tool_replies(3), 3),
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
        Config("e-noSDK", "OpenInference, NoOpTracerProvider", _oi_noop_setup, _oi_teardown, False,
               OpenInferenceInstrumentor is not None),
        Config("f", "otel-contrib genai-smolagents", _contrib_setup, _contrib_teardown, True,
               ContribInstrumentor is not None),
    )
}
TIMED_CONFIGS = [k for k, c in CONFIGS.items() if c.available]
LONG_CONFIGS = [k for k in ("a", "b", "c", "e") if CONFIGS[k].available]
MEMORY_CONFIGS = ["a", "b", "c"]

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


@dataclass
class Results:
    args: dict[str, Any]
    floor_ns: list[float] = field(default_factory=list)
    floor_current_ns: list[float] = field(default_factory=list)
    # workload -> config -> per-round median run time (ns)
    rounds: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # workload -> config -> per-round overhead vs. "a" in the same round (ns per run)
    overhead: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # long50: config -> step -> list of step durations (s) over all runs
    long_steps: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    long_overhead: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    capture: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    restore: dict[str, list[str]] = field(default_factory=dict)
    exported_spans: dict[str, int] = field(default_factory=dict)
    expected_spans: dict[str, int] = field(default_factory=dict)
    # workload -> config -> [gc ns, collections, runs] over the timed runs
    gc: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    console_chars: int = 0
    console_by: dict[str, int] = field(default_factory=dict)
    internal_errors: list[str] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def add_console(self, key: str, where: str, chars: int) -> None:
        if chars:
            self.console_chars += chars
            name = f"{key}/{where}"
            self.console_by[name] = self.console_by.get(name, 0) + chars


def measure_floor(provider: TracerProvider, number: int) -> tuple[float, float]:
    """ns per bare SDK span (4 attributes, 1 event) under a current parent; and the same made current."""
    tracer = provider.get_tracer("bench.floor")
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "smolagents.step.number": 3,
             "smolagents.span.type": "model"}
    event_attrs = {"gen_ai.agent.name": "agent"}
    parent = tracer.start_span("parent")
    token = otel_context.attach(trace.set_span_in_context(parent))

    def bare() -> None:
        span = tracer.start_span("floor", attributes=attrs)
        span.add_event("floor.event", event_attrs)
        span.end()

    def current() -> None:
        with tracer.start_as_current_span("floor", attributes=attrs) as span:
            span.add_event("floor.event", event_attrs)

    try:
        bare_ns = min(timeit.repeat(bare, number=number, repeat=5)) / number * 1e9
        current_ns = min(timeit.repeat(current, number=number, repeat=5)) / number * 1e9
    finally:
        otel_context.detach(token)
        parent.end()
    return bare_ns, current_ns


def timed_round(
    results: Results, round_index: int, provider: TracerProvider, exporter: DroppingExporter, runs: int
) -> None:
    order = TIMED_CONFIGS[round_index % len(TIMED_CONFIGS):] + TIMED_CONFIGS[: round_index % len(TIMED_CONFIGS)]
    medians: dict[str, dict[str, float]] = {w: {} for w in WORKLOADS}
    for key in order:
        exported_before = exporter.count
        with configured(key, provider, results.restore):
            for wname, workload in WORKLOADS.items():
                agent = workload.make_agent()
                with quiet() as sink:
                    workload.run(agent)  # warm-up (first-call caches, thread pools)
                    gc.collect()
                    gc_ns, gc_count = GC_CLOCK.read()
                    times = [workload.run(agent) for _ in range(runs)]
                    gc_ns, gc_count = (a - b for a, b in zip(GC_CLOCK.read(), (gc_ns, gc_count), strict=True))
                results.add_console(key, wname, sink.chars)
                per_run = results.gc.setdefault(wname, {}).setdefault(key, [0, 0, 0])
                per_run[0] += gc_ns
                per_run[1] += gc_count
                per_run[2] += runs
                medians[wname][key] = median(times)
                results.rounds.setdefault(wname, {}).setdefault(key, []).append(median(times))
        provider.force_flush()
        results.exported_spans[key] = results.exported_spans.get(key, 0) + exporter.count - exported_before
    for wname, per_config in medians.items():
        base = per_config["a"]
        for key, value in per_config.items():
            if key != "a":
                results.overhead.setdefault(wname, {}).setdefault(key, []).append(value - base)


def long_round(results: Results, round_index: int, provider: TracerProvider, runs: int) -> None:
    order = LONG_CONFIGS[round_index % len(LONG_CONFIGS):] + LONG_CONFIGS[: round_index % len(LONG_CONFIGS)]
    per_round: dict[str, dict[int, float]] = {}
    for key in order:
        with configured(key, provider, results.restore):
            agent = LONG.make_agent()
            samples: dict[int, list[float]] = {s: [] for s in LONG_PROBE_STEPS}
            with quiet() as sink:
                gc.collect()
                for _ in range(runs):
                    LONG.run(agent)
                    steps = {m.step_number: m for m in agent.memory.steps if type(m).__name__ == "ActionStep"}
                    for s in LONG_PROBE_STEPS:
                        samples[s].append(steps[s].timing.end_time - steps[s].timing.start_time)
                    del steps
            results.add_console(key, LONG.name, sink.chars)
            del agent
            gc.collect()
        provider.force_flush()
        per_round[key] = {s: median(v) for s, v in samples.items()}
        for s, values in samples.items():
            results.long_steps.setdefault(key, {}).setdefault(s, []).extend(values)
    for key, steps in per_round.items():
        if key == "a":
            continue
        for s, value in steps.items():
            results.long_overhead.setdefault(key, {}).setdefault(s, []).append(value - per_round["a"][s])


def capture_pass(results: Results) -> None:
    """Not timed: spans, events and attributes per run, and what the SDK limits dropped."""
    for key in [k for k in TIMED_CONFIGS if CONFIGS[k].uses_sdk]:
        processor = CapturingProcessor()
        provider = TracerProvider()
        provider.add_span_processor(processor)
        calls = {"n": 0}
        for wname, workload in [*WORKLOADS.items(), (LONG.name, LONG)]:
            processor.spans.clear()
            calls["n"] = 0
            with configured(key, provider, results.restore):
                counters = []
                if key == "c":  # count callback calls too
                    def counting(e: Any) -> None:
                        calls["n"] += 1
                    counters = [Instrumentor().on(ev, counting) for ev in LifecycleEvent]
                agent = workload.make_agent()
                with quiet() as sink:
                    workload.run(agent)
                results.add_console(f"{key} (capture)", wname, sink.chars)
                for handle in counters:
                    handle.remove()
            spans = list(processor.spans)
            stats = {
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
                "span_names": sorted({s.name for s in spans}),
            }
            if key == "c":
                stats["callback_calls"] = calls["n"]
            results.capture.setdefault(wname, {})[key] = stats
        provider.shutdown()


def _value_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (tuple, list)):
        return sum(len(v) if isinstance(v, str) else 8 for v in value)
    return 8


def memory_pass(results: Results, provider: TracerProvider, runs: int, warmup: int) -> None:
    """tracemalloc growth per run over ``runs`` short runs (half CodeAgent, half ToolCallingAgent)."""
    checkpoints = 10
    per_checkpoint = max(1, runs // checkpoints)
    for key in MEMORY_CONFIGS:
        with configured(key, provider, results.restore):
            agents = [(w, w.make_agent()) for w in MEMORY_WORKLOADS]
            with quiet() as sink:
                tracemalloc.start()
                try:
                    for i in range(warmup):
                        w, agent = agents[i % 2]
                        w.run(agent)
                    points: list[tuple[int, int]] = []

                    def checkpoint(done: int) -> None:
                        provider.force_flush()
                        gc.collect()
                        points.append((done, tracemalloc.get_traced_memory()[0]))

                    checkpoint(0)
                    start_snapshot = tracemalloc.take_snapshot()
                    done = 0
                    for _ in range(checkpoints):
                        for _ in range(per_checkpoint):
                            w, agent = agents[done % 2]
                            w.run(agent)
                            done += 1
                        checkpoint(done)
                    end_snapshot = tracemalloc.take_snapshot()
                finally:
                    tracemalloc.stop()
            results.add_console(key, "memory", sink.chars)
        top = [
            f"{stat.traceback[0].filename.split('site-packages/')[-1]}:{stat.traceback[0].lineno} "
            f"{stat.size_diff:+d} B ({stat.count_diff:+d} blocks)"
            for stat in end_snapshot.compare_to(start_snapshot, "lineno")[:8]
            if stat.size_diff > 0
        ]
        total = (points[-1][1] - points[0][1]) / done
        results.memory[key] = {
            "runs": done,
            "warmup_runs": warmup,
            "bytes_per_run_total": total,
            "bytes_per_run_slope": _slope(points),
            "checkpoints": points,
            "top_growth": top,
        }
        del agents, start_snapshot, end_snapshot
        gc.collect()


def _slope(points: list[tuple[int, int]]) -> float:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else float("nan")


# ============================================================================================ analysis


def analyse(results: Results) -> dict[str, Any]:
    floor_us = median(results.floor_ns) / 1e3
    summary: dict[str, Any] = {"floor_us_per_span": floor_us,
                               "floor_current_us_per_span": median(results.floor_current_ns) / 1e3,
                               "workloads": {}}
    for wname, workload in WORKLOADS.items():
        rows = {}
        base_ms = median(results.rounds[wname]["a"]) / 1e6
        for key in TIMED_CONFIGS:
            run_ms = median(results.rounds[wname][key]) / 1e6
            row: dict[str, Any] = {"run_ms": run_ms, "label": CONFIGS[key].label}
            gc_ns, gc_count, gc_runs = results.gc[wname][key]
            row["gc_ms_per_run"] = gc_ns / gc_runs / 1e6
            row["gc_collections_per_run"] = gc_count / gc_runs
            if key != "a":
                over_ns = median(results.overhead[wname][key])
                rounds = results.overhead[wname][key]
                row["overhead_run_ms"] = over_ns / 1e6
                row["overhead_pct"] = 100 * over_ns / 1e6 / base_ms
                row["overhead_step_us"] = over_ns / 1e3 / workload.steps
                row["overhead_step_us_iqr"] = _iqr([v / 1e3 / workload.steps for v in rounds])
                spans = results.capture.get(wname, {}).get(key, {}).get("spans")
                row["spans_per_run"] = spans if spans is not None else 0
                if spans:
                    row["overhead_span_us"] = over_ns / 1e3 / spans
                    row["span_vs_floor"] = row["overhead_span_us"] / floor_us
            rows[key] = row
        for key, ref in (("b", "e"), ("c", "e"), ("d", "e-noSDK"), ("f", "e")):
            if key in rows and ref in rows and "overhead_step_us" in rows[ref]:
                rows[key][f"vs_{ref}"] = rows[key]["overhead_step_us"] / rows[ref]["overhead_step_us"]
        summary["workloads"][wname] = rows
    long_rows: dict[str, Any] = {}
    for s in LONG_PROBE_STEPS:
        entry: dict[str, Any] = {"base_ms": median(results.long_steps["a"][s]) * 1e3}
        for key in LONG_CONFIGS[1:]:
            entry[f"{key}_overhead_us"] = median(results.long_overhead[key][s]) * 1e6
        long_rows[str(s)] = entry
    summary["long50"] = long_rows
    summary["targets"] = targets(results, summary)
    return summary


def _iqr(values: Sequence[float]) -> list[float]:
    if len(values) < 4:
        return [min(values), max(values)] if values else []
    q = statistics.quantiles(values, n=4)
    return [q[0], q[2]]


def targets(results: Results, summary: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, value: float, limit: float, unit: str, detail: str, higher_ok: bool = False) -> None:
        ok = value <= limit if not higher_ok else value >= limit
        out.append({"target": name, "value": value, "limit": limit, "unit": unit, "detail": detail,
                    "status": "PASS" if ok else "MISS"})

    for wname in WORKLOADS:
        rows = summary["workloads"][wname]
        if "vs_e" in rows.get("b", {}):
            add(f"{wname}: (b) overhead/step <= 15% of (e)", 100 * rows["b"]["vs_e"], 15, "%",
                f"{rows['b']['overhead_step_us']:.0f} us vs {rows['e']['overhead_step_us']:.0f} us")
        if "vs_e" in rows.get("c", {}):
            add(f"{wname}: (c) overhead/step <= 25% of (e)", 100 * rows["c"]["vs_e"], 25, "%",
                f"{rows['c']['overhead_step_us']:.0f} us vs {rows['e']['overhead_step_us']:.0f} us")
        if "vs_e-noSDK" in rows.get("d", {}):
            add(f"{wname}: (d) overhead/step <= 5% of (e-noSDK)", 100 * rows["d"]["vs_e-noSDK"], 5, "%",
                f"{rows['d']['overhead_step_us']:.0f} us vs {rows['e-noSDK']['overhead_step_us']:.0f} us")
        if "span_vs_floor" in rows.get("b", {}):
            add(f"{wname}: (b) overhead/span <= 1.5x bare-SDK span", rows["b"]["span_vs_floor"], 1.5, "x",
                f"{rows['b']['overhead_span_us']:.1f} us/span vs floor {summary['floor_us_per_span']:.1f} us")
    long = summary["long50"]
    for key in ("b", "c"):
        if f"{key}_overhead_us" in long["1"]:
            first, last = long["1"][f"{key}_overhead_us"], long["50"][f"{key}_overhead_us"]
            ratio = last / first if first > 0 else float("inf")
            add(f"long50: ({key}) overhead at step 50 <= 1.5x step 1", ratio, 1.5, "x",
                f"step 1: {first:.0f} us, step 50: {last:.0f} us")
    dropped = 0
    detail = []
    for wname, per_config in results.capture.items():
        for key in ("b", "c"):
            stats = per_config.get(key)
            if stats:
                n = (stats["dropped_attributes"] + stats["dropped_event_attributes"] + stats["dropped_events"]
                     + stats["dropped_links"])
                dropped += n
                detail.append(f"{wname}/{key}={n}")
    add("(b),(c): attributes/events dropped by SDK limits == 0", dropped, 0, "", ", ".join(detail))
    base = results.memory.get("a", {}).get("bytes_per_run_slope", 0.0)
    for key in ("b", "c"):
        mem = results.memory.get(key)
        if mem:
            net = mem["bytes_per_run_slope"] - base
            add(f"memory: ({key}) growth per run < 100 B (net of (a))", net, 100, "B",
                f"{mem['bytes_per_run_slope']:.1f} B/run raw, (a) {base:.1f} B/run, {mem['runs']} runs")
    return out


# ============================================================================================ output


def _fmt(value: Any, spec: str = ".0f") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return format(value, spec)


def tables(results: Results, summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    out = []
    headers = ["config", "run ms", "over/run ms", "over %", "over/step us", "IQR us", "spans/run",
               "over/span us", "x floor", "vs OI", "GC ms/run"]
    for wname, workload in WORKLOADS.items():
        rows = []
        for key, row in summary["workloads"][wname].items():
            ref = row.get("vs_e-noSDK") if key in ("d", "e-noSDK") else row.get("vs_e")
            iqr = row.get("overhead_step_us_iqr") or []
            rows.append([
                f"{key} {row['label']}", _fmt(row["run_ms"], ".2f"), _fmt(row.get("overhead_run_ms"), ".2f"),
                _fmt(row.get("overhead_pct"), ".0f"), _fmt(row.get("overhead_step_us")),
                f"{iqr[0]:.0f}..{iqr[1]:.0f}" if iqr else "-",
                _fmt(row.get("spans_per_run"), "d") if key != "a" else "-",
                _fmt(row.get("overhead_span_us"), ".1f"), _fmt(row.get("span_vs_floor"), ".1f"),
                _fmt(ref, ".2f"), _fmt(row["gc_ms_per_run"], ".2f"),
            ])
        out.append((f"{wname}: {workload.description} (floor: bare SDK span "
                    f"{summary['floor_us_per_span']:.1f} us; as current span "
                    f"{summary['floor_current_us_per_span']:.1f} us)", headers, rows))
    long_headers = ["step", "(a) step ms"] + [f"({k}) over us" for k in LONG_CONFIGS[1:]]
    long_rows = [[s, _fmt(v["base_ms"], ".2f")] + [_fmt(v.get(f"{k}_overhead_us")) for k in LONG_CONFIGS[1:]]
                 for s, v in summary["long50"].items()]
    out.append((f"long50: {LONG.description} (per-step overhead vs. uninstrumented)", long_headers, long_rows))
    cap_headers = ["workload", "config", "spans", "events", "attrs", "event attrs", "attr KB", "max attrs/span",
                   "dropped attrs", "dropped ev-attrs", "dropped events"]
    cap_rows = []
    for wname, per_config in results.capture.items():
        for key, s in per_config.items():
            cap_rows.append([wname, key, str(s["spans"]), str(s["events"]), str(s["attributes"]),
                             str(s["event_attributes"]), f"{s['attribute_chars'] / 1024:.0f}",
                             str(s["max_attributes_on_a_span"]), str(s["dropped_attributes"]),
                             str(s["dropped_event_attributes"]), str(s["dropped_events"])])
    out.append(("per run (non-timed capture pass)", cap_headers, cap_rows))
    if results.memory:
        mem_headers = ["config", "runs", "B/run (slope)", "B/run (end-start)", "top growth"]
        mem_rows = [[k, str(m["runs"]), f"{m['bytes_per_run_slope']:.1f}", f"{m['bytes_per_run_total']:.1f}",
                     (m["top_growth"][0] if m["top_growth"] else "-")] for k, m in results.memory.items()]
        out.append(("memory (tracemalloc, after warm-up, gc.collect + force_flush at each checkpoint)",
                    mem_headers, mem_rows))
    target_rows = [[t["status"], t["target"], f"{t['value']:.2f}{t['unit']}", f"{t['limit']}{t['unit']}",
                    t["detail"]] for t in summary["targets"]]
    out.append(("targets", ["", "target", "value", "limit", "detail"], target_rows))
    return out


def render_plain(title: str, headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) for row in rows]
    return "\n".join(lines)


def render_markdown(title: str, headers: list[str], rows: list[list[str]]) -> str:
    lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def versions() -> dict[str, str]:
    out = {}
    for dist in ("smolagents", "smolagents-otel", "opentelemetry-sdk", "opentelemetry-api",
                 "openinference-instrumentation-smolagents", "opentelemetry-instrumentation-genai-smolagents",
                 "wrapt"):
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
        raise SystemExit(f"--profile CONFIG:WORKLOAD, CONFIG in {list(CONFIGS)}, "
                         f"WORKLOAD in {[*WORKLOADS, LONG.name]}")
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
    for (filename, line, func), (cc, nc, tt, ct, _callers) in table.items():
        if "smolagents_otel" in filename or "/opentelemetry/" in filename or func in (
            "<method 'sub' of 're.Pattern' objects>", "<method 'search' of 're.Pattern' objects>"
        ):
            short = filename.split("src/")[-1].split("site-packages/")[-1]
            rows.append((tt, ct, nc, f"{short}:{line}({func})"))
    rows.sort(reverse=True)
    print(f"profile {key}:{wname}, {runs} runs, {len(thread_profiles)} worker threads profiled too")
    print("own time (tottime) per run, us | cumulative per run, us | calls per run | function")
    for tt, ct, nc, name in rows[:top]:
        print(f"{tt / runs * 1e6:10.0f} {ct / runs * 1e6:10.0f} {nc / runs:8.1f}  {name}")
    print("\nnamed costs (cumulative per run, us; groups overlap):")
    for label, suffix, func in _PROFILE_GROUPS:
        total = sum(ct for (f, _l, fn), (_cc, _nc, _tt, ct, _c) in table.items() if f.endswith(suffix) and fn == func)
        calls = sum(nc for (f, _l, fn), (_cc, nc, _tt, _ct, _c) in table.items() if f.endswith(suffix) and fn == func)
        print(f"{total / runs * 1e6:10.0f} {calls / runs:8.1f}  {label}")
    own = sum(tt for (f, _l, _fn), (_cc, _nc, tt, _ct, _c) in table.items() if "smolagents_otel" in f)
    print(f"{own / runs * 1e6:10.0f}           own time of all smolagents_otel functions")
    provider.shutdown()


# ============================================================================================ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs (< 90 s)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    parser.add_argument("--rounds", type=int, help="rounds of the 10-step workloads (default 9, quick 3)")
    parser.add_argument("--runs", type=int, help="timed runs per configuration per round (default 8, quick 3)")
    parser.add_argument("--long-rounds", type=int, help="rounds of long50 (default 5, quick 2)")
    parser.add_argument("--long-runs", type=int, help="long50 runs per configuration per round (default 3, quick 1)")
    parser.add_argument("--memory-runs", type=int, help="runs of the memory check (default 1000, quick 200)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory check")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "latest.json", help="where to write JSON")
    parser.add_argument("--profile", metavar="CONFIG:WORKLOAD", help="only profile, e.g. b:code10")
    parser.add_argument("--profile-runs", type=int, default=20)
    parser.add_argument("--profile-top", type=int, default=40)
    args = parser.parse_args(argv)

    if args.profile:
        profile(args.profile, args.profile_runs, args.profile_top)
        return 0

    quick = args.quick
    rounds = args.rounds or (3 if quick else 9)
    runs = args.runs or (3 if quick else 8)
    long_rounds = args.long_rounds or (2 if quick else 5)
    long_runs = args.long_runs or (1 if quick else 3)
    memory_runs = 0 if args.no_memory else (args.memory_runs or (200 if quick else 1000))
    settings = {"quick": quick, "rounds": rounds, "runs": runs, "long_rounds": long_rounds,
                "long_runs": long_runs, "memory_runs": memory_runs}
    results = Results(args=settings)
    otel_env = {k: v for k, v in os.environ.items() if k.startswith(("OTEL_", "SMOLAGENTS_OTEL_"))}

    errors = InternalErrorCounter()
    logging.getLogger("smolagents_otel").addHandler(errors)
    Instrumentor().uninstrument()  # a clean start, whatever imported us
    started = time.perf_counter()

    def progress(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    progress(f"settings {settings}")
    capture_pass(results)
    progress("capture pass done")
    provider, exporter = sdk_provider()
    for r in range(rounds):
        results.floor_ns.append(0.0)
        results.floor_ns[-1], current = measure_floor(provider, 2000 if not quick else 500)
        results.floor_current_ns.append(current)
        provider.force_flush()
        timed_round(results, r, provider, exporter, runs)
        progress(f"round {r + 1}/{rounds} done")
    for key in TIMED_CONFIGS:
        spans = sum(results.capture.get(w, {}).get(key, {}).get("spans", 0) for w in WORKLOADS)
        results.expected_spans[key] = spans * (runs + 1) * rounds
    for r in range(long_rounds):
        long_round(results, r, provider, long_runs)
        progress(f"long50 round {r + 1}/{long_rounds} done")
    if memory_runs:
        memory_pass(results, provider, memory_runs, warmup=50 if not quick else 20)
        progress("memory done")
    provider.shutdown()
    results.seconds = time.perf_counter() - started
    results.internal_errors = errors.messages
    summary = analyse(results)

    render = render_markdown if args.markdown else render_plain
    print()
    for title, headers, rows in tables(results, summary):
        print(render(title, headers, rows))
        print()
    notes = []
    for key, problems in results.restore.items():
        notes.append(f"uninstrument() of ({key}) left {len(problems)} change(s), undone by the benchmark: "
                     + "; ".join(problems[:6]) + (" ..." if len(problems) > 6 else ""))
    for key, expected in results.expected_spans.items():
        got = results.exported_spans.get(key, 0)
        if expected and got != expected:
            notes.append(f"({key}): {got} spans exported, {expected} expected (BatchSpanProcessor dropped some?)")
    if results.console_chars:
        notes.append(f"{results.console_chars} characters were written to stdout/stderr during runs (discarded), "
                     f"by config/workload: {results.console_by}")
    if results.internal_errors:
        notes.append(f"smolagents-otel logged {len(results.internal_errors)} internal warnings: "
                     f"{results.internal_errors[:3]}")
    if otel_env:
        notes.append(f"environment settings in effect: {sorted(otel_env)}")
    for note in notes:
        print(("- " if args.markdown else "note: ") + note)
    misses = [t for t in summary["targets"] if t["status"] == "MISS"]
    print(f"\n{len(summary['targets']) - len(misses)} PASS, {len(misses)} MISS; "
          f"{results.seconds:.0f} s; python {platform.python_version()}, {os.cpu_count()} CPUs")

    payload = {
        "meta": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                 "versions": versions(), "settings": settings, "seconds": results.seconds,
                 "environment": otel_env, "argv": sys.argv},
        "summary": summary,
        "capture": results.capture,
        "memory": results.memory,
        "raw": {"floor_ns": results.floor_ns, "floor_current_ns": results.floor_current_ns,
                "run_ns_round_medians": results.rounds, "overhead_ns_per_round": results.overhead,
                "long50_step_s": {k: {str(s): v for s, v in d.items()} for k, d in results.long_steps.items()},
                "long50_overhead_s_per_round": {k: {str(s): v for s, v in d.items()}
                                                for k, d in results.long_overhead.items()}},
        "checks": {"restore": results.restore, "exported_spans": results.exported_spans,
                   "expected_spans": results.expected_spans, "console_chars": results.console_by,
                   "internal_errors": results.internal_errors},
        "notes": notes,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2, default=str))
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
