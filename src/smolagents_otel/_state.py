"""Per-run and per-step state, carried in the OpenTelemetry context next to the span.

A wrapper attaches one Context holding both its span and its state, only while smolagents' own
code runs (around each ``next()`` of a generator, never across a ``yield``), so nothing of ours is
current in the caller's code.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

RUN_KEY = otel_context.create_key("smolagents_otel.run")
STEP_KEY = otel_context.create_key("smolagents_otel.step")
MODEL_KEY = otel_context.create_key("smolagents_otel.model_call")
TOOL_KEY = otel_context.create_key("smolagents_otel.tool_call")
EXECUTOR_KEY = otel_context.create_key("smolagents_otel.executor_call")
TRACE_ATTRIBUTES_KEY = otel_context.create_key("smolagents_otel.trace_attributes")


def agent_name(agent: Any) -> str:
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else type(agent).__name__


@dataclass(eq=False)
class RunState:
    agent: Any
    agent_name: str
    span: Any  # our run span, or (events-only mode) the span current at run start
    parent: RunState | None
    start_ns: int
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    steps: int = 0
    finish_reason: str | None = None
    output: Any = None
    abort: BaseException | None = None
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_usage(self, input_tokens: int, output_tokens: int) -> None:
        with self.lock:
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.model_calls += 1


@dataclass(eq=False)
class StepState:
    run: RunState | None
    agent: Any
    span: Any
    step_number: int | None
    memory_step: Any = None
    kind: str = "step"  # or "planning"
    calls_seen: list[Any] = field(default_factory=list)
    pending_calls: list[Any] = field(default_factory=list)  # ToolCalls not yet matched to a tool span
    pre_execution_due: bool = False
    code_call_id: str | None = None
    finished: bool = False


@dataclass(eq=False)
class ToolState:
    tool: Any  # the Tool / managed agent whose __call__ this span already covers
    span: Any
    entered: bool = False


def current_run() -> RunState | None:
    return otel_context.get_value(RUN_KEY)  # type: ignore[return-value]


def current_step() -> StepState | None:
    return otel_context.get_value(STEP_KEY)  # type: ignore[return-value]


def context_with(
    span: Any | None, values: dict[str, Any], base: otel_context.Context | None = None
) -> otel_context.Context:
    """``base`` (default: the current context) plus ``span`` (if any) and state values by key."""
    ctx = otel_context.get_current() if base is None else base
    if span is not None:
        ctx = trace.set_span_in_context(span, ctx)
    return otel_context.Context({**ctx, **values})  # one copy for all our values
