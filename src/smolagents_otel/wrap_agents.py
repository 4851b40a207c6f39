"""Wrappers for agent methods: run (and run(stream=True)), action steps, planning, max steps."""

from __future__ import annotations

import functools
import importlib
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from . import attributes as A
from ._generators import Observer, start_traced_generator, traced_generator
from ._guard import report_internal_error
from ._state import (
    EXECUTOR_KEY,
    MODEL_KEY,
    RUN_KEY,
    STEP_KEY,
    TOOL_KEY,
    TRACE_ATTRIBUTES_KEY,
    RunState,
    StepState,
    agent_name,
    context_with,
    current_run,
)
from .events import LifecycleEvent as E
from .events import Veto
from .runtime import Runtime

_MISSING = object()


def arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


# --------------------------------------------------------------------------------------------- run
def _begin_run(
    rt: Runtime, agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[RunState, Any]:
    name = agent_name(agent)
    task = arg(args, kwargs, 0, "task")
    if rt.spans:
        attrs: dict[str, Any] = {
            A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT,
            A.GEN_AI_AGENT_NAME: name,
            A.GEN_AI_PROVIDER_NAME: A.PROVIDER_SMOLAGENTS,
            A.OPENINFERENCE_SPAN_KIND: A.KIND_AGENT,
            A.SPAN_TYPE: A.TYPE_RUN,
            A.AGENT_CLASS: type(agent).__name__,
            A.STREAM: bool(arg(args, kwargs, 1, "stream", False)),
        }
        max_steps = arg(args, kwargs, 5, "max_steps") or getattr(agent, "max_steps", None)
        if isinstance(max_steps, int):
            attrs[A.MAX_STEPS] = max_steps
        description = getattr(agent, "description", None)
        if isinstance(description, str) and description:
            attrs[A.GEN_AI_AGENT_DESCRIPTION] = description[:1024]
        model = getattr(agent, "model", None)
        model_id = getattr(model, "model_id", None)
        if isinstance(model_id, str):
            attrs[A.GEN_AI_REQUEST_MODEL] = model_id
        trace_attrs = otel_context.get_value(TRACE_ATTRIBUTES_KEY)
        if trace_attrs:
            attrs.update(trace_attrs)
        span = rt.start_span(f"{A.OP_INVOKE_AGENT} {name}", attrs)
        if rt.capture and span.is_recording():
            span.set_attribute(A.INPUT_VALUE, rt.text(task))
    else:
        span = trace.get_current_span()
    rt.redactor.refresh_environment()
    state = RunState(agent=agent, agent_name=name, span=span, parent=current_run(), start_ns=time.time_ns())
    state.output = _MISSING
    values = {RUN_KEY: state, STEP_KEY: None, TOOL_KEY: None, MODEL_KEY: None, EXECUTOR_KEY: None}
    ctx = context_with(span if rt.spans else None, values)
    return state, ctx


def _finish_reason(state: RunState, exc: BaseException | None, closed: bool) -> str:
    if isinstance(exc, Veto) or (exc is not None and exc is state.abort):
        return "vetoed"
    if exc is not None:
        if getattr(state.agent, "interrupt_switch", False) and "interrupted" in str(exc):
            return A.FINISH_INTERRUPTED
        return A.FINISH_ERROR
    if closed and state.output is _MISSING:
        return A.FINISH_INTERRUPTED
    return state.finish_reason or A.FINISH_FINAL_ANSWER


def _finish_run(
    rt: Runtime,
    state: RunState,
    output: Any = _MISSING,
    exc: BaseException | None = None,
    closed: bool = False,
) -> None:
    if state.finished:
        return
    state.finished = True
    span = state.span
    reason = A.FINISH_ERROR
    try:
        if output is not _MISSING:
            state.output = getattr(output, "output", None) if type(output).__name__ == "RunResult" else output
        reason = _finish_reason(state, exc, closed)
        if state.output is _MISSING:
            state.output = None
        if rt.spans and span.is_recording():
            attrs: dict[str, Any] = {
                A.FINISH_REASON: reason,
                A.RUN_STEPS: state.steps,
                A.RUN_INPUT_TOKENS: state.input_tokens,
                A.RUN_OUTPUT_TOKENS: state.output_tokens,
                A.RUN_TOTAL_TOKENS: state.input_tokens + state.output_tokens,
                A.RUN_MODEL_CALLS: state.model_calls,
            }
            if rt.capture and state.output is not None:
                attrs[A.OUTPUT_VALUE] = rt.text(state.output)
            span.set_attributes(attrs)
            if exc is not None:
                rt.set_error(span, exc)
        parent = state.parent
        if parent is not None:
            with parent.lock:
                parent.input_tokens += state.input_tokens
                parent.output_tokens += state.output_tokens
                parent.model_calls += state.model_calls
        if rt.metrics is not None:
            rt.metrics.run(state.agent_name, (time.time_ns() - state.start_ns) / 1e9, reason, state.steps)
    except Exception as internal:  # noqa: BLE001
        report_internal_error("finishing a run span", internal)
    try:
        rt.emit(
            E.RUN_END,
            span,
            state.agent,
            state.agent_name,
            None,
            output=state.output,
            finish_reason=reason,
            error=exc,
        )
    finally:
        if rt.spans:
            span.end()


class _RunObserver(Observer):
    def __init__(self, rt: Runtime, state: RunState) -> None:
        self.rt = rt
        self.state = state
        self.final_answer_step = _smolagents_class("smolagents.memory", "FinalAnswerStep")

    def on_item(self, item: Any) -> None:
        if self.final_answer_step is not None and isinstance(item, self.final_answer_step):
            self.state.output = getattr(item, "output", None)

    def finish(self, exc: BaseException | None, closed: bool = False) -> BaseException | None:
        _finish_run(self.rt, self.state, exc=exc, closed=closed)
        return None


@functools.cache
def _smolagents_class(module: str, name: str) -> Any:
    """A smolagents class by name, looked up once; ``()`` (matches nothing) where a version lacks it."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):  # pragma: no cover - depends on the smolagents version
        return ()


def make_run_wrapper(rt: Runtime) -> Any:
    def run_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not is_instrumentation_enabled() or rt.idle():
            return wrapped(*args, **kwargs)
        try:
            state, ctx = _begin_run(rt, instance, args, kwargs)
            stream = bool(arg(args, kwargs, 1, "stream", False))
            observer = _RunObserver(rt, state) if stream else None
        except Exception as exc:  # noqa: BLE001
            report_internal_error("starting a run span", exc)
            return wrapped(*args, **kwargs)
        token = otel_context.attach(ctx)
        try:
            rt.emit(
                E.RUN_START, state.span, instance, state.agent_name, None, task=arg(args, kwargs, 0, "task")
            )
            result = wrapped(*args, **kwargs)
            if stream:
                return traced_generator(result, ctx, observer, watch_abandon=True)
            _finish_run(rt, state, output=result)
            return result
        except BaseException as exc:
            _finish_run(rt, state, exc=exc)
            raise
        finally:
            otel_context.detach(token)

    return run_wrapper


# -------------------------------------------------------------------------------------------- steps
class _StepObserver(Observer):
    def __init__(self, rt: Runtime, state: StepState, name: str, is_code_agent: bool) -> None:
        self.rt = rt
        self.state = state
        self.name = name
        self.is_code_agent = is_code_agent
        self.started = False
        self.tool_call_cls = _smolagents_class("smolagents.memory", "ToolCall")
        self.action_output_cls = _smolagents_class("smolagents.agents", "ActionOutput")

    def before_next(self) -> None:
        state = self.state
        if not self.started:
            self.started = True
            self.rt.emit(E.STEP_START, state.span, state.agent, self.name, state.step_number)
        if state.pre_execution_due:
            state.pre_execution_due = False
            self._pre_execution()

    def _pre_execution(self) -> None:
        state = self.state
        if not self.rt.wants(E.PRE_EXECUTION):
            return
        calls = tuple(state.calls_seen)
        code = calls[0].arguments if self.is_code_agent and calls else None
        try:
            self.rt.emit(
                E.PRE_EXECUTION,
                state.span,
                state.agent,
                self.name,
                state.step_number,
                code=code,
                tool_calls=calls,
            )
        except Veto as veto:
            self.rt.record_veto(state.span, veto, self.name, state.step_number)
            if veto.abort:
                if state.run is not None:
                    state.run.abort = veto
                raise
            raise _blocked_error(state.agent, veto) from None

    def on_item(self, item: Any) -> None:
        try:
            state = self.state
            if isinstance(item, self.tool_call_cls):
                state.calls_seen.append(item)
                if self.is_code_agent:
                    state.code_call_id = item.id
                    expected = 1
                else:
                    state.pending_calls.append(item)
                    message = getattr(state.memory_step, "model_output_message", None)
                    tool_calls = getattr(message, "tool_calls", None)
                    expected = len(tool_calls) if tool_calls else 1
                if len(state.calls_seen) >= expected:
                    state.pre_execution_due = True
                return
            if isinstance(item, self.action_output_cls):
                if self.rt.wants(E.POST_EXECUTION):
                    observation = getattr(state.memory_step, "observations", None)
                    self.rt.emit(
                        E.POST_EXECUTION,
                        state.span,
                        state.agent,
                        self.name,
                        state.step_number,
                        observation=observation,
                        result=item.output,
                    )
                if item.is_final_answer:
                    self.rt.emit(
                        E.FINAL_ANSWER,
                        state.span,
                        state.agent,
                        self.name,
                        state.step_number,
                        final_answer=item.output,
                    )
        except Veto:
            raise
        except Exception as exc:  # noqa: BLE001
            if self.rt.config.strict_callbacks:
                raise
            report_internal_error("observing a step", exc)

    def finish(self, exc: BaseException | None, closed: bool = False) -> BaseException | None:
        rt, state = self.rt, self.state
        state.finished = True
        replacement = None
        try:
            run = state.run
            if exc is not None and run is not None and run.abort is not None and exc is not run.abort:
                replacement = run.abort
            if rt.spans and state.span.is_recording():
                if exc is not None:
                    rt.set_error(state.span, exc)
                observations = getattr(state.memory_step, "observations", None)
                if rt.capture and observations:
                    state.span.set_attributes({A.OUTPUT_VALUE: rt.text(observations)})
        except Exception as internal:  # noqa: BLE001
            report_internal_error("finishing a step span", internal)
        try:
            if exc is not None and replacement is None:
                rt.emit(E.STEP_ERROR, state.span, state.agent, self.name, state.step_number, error=exc)
            rt.emit(E.STEP_END, state.span, state.agent, self.name, state.step_number, error=exc)
        finally:
            if rt.spans:
                state.span.end()
        return replacement


def _blocked_error(agent: Any, veto: Veto) -> BaseException:
    """The recoverable smolagents error a non-aborting veto becomes: the model sees it next step."""
    from smolagents.utils import AgentExecutionError

    return AgentExecutionError(str(veto), agent.logger)


def _step_attributes(name: str, step_number: Any, span_type: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        A.GEN_AI_AGENT_NAME: name,
        A.OPENINFERENCE_SPAN_KIND: A.KIND_CHAIN,
        A.SPAN_TYPE: span_type,
    }
    if isinstance(step_number, int):
        attrs[A.STEP_NUMBER] = step_number
    return attrs


def make_step_wrapper(rt: Runtime) -> Any:
    try:
        from smolagents.agents import CodeAgent
    except ImportError:  # pragma: no cover
        CodeAgent = ()  # type: ignore[assignment,misc]  # noqa: N806

    def step_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not is_instrumentation_enabled() or rt.idle():
            return wrapped(*args, **kwargs)
        try:
            memory_step = arg(args, kwargs, 0, "memory_step")
            step_number = getattr(memory_step, "step_number", None)
            name = agent_name(instance)
            run = current_run()
            if rt.spans:
                span = rt.start_span(f"step {step_number}", _step_attributes(name, step_number, A.TYPE_STEP))
            else:
                span = trace.get_current_span()
            state = StepState(
                run=run, agent=instance, span=span, step_number=step_number, memory_step=memory_step
            )
            if run is not None:
                run.steps += 1
            ctx = context_with(span if rt.spans else None, {STEP_KEY: state, TOOL_KEY: None})
            observer = _StepObserver(rt, state, name, isinstance(instance, CodeAgent))
        except Exception as exc:  # noqa: BLE001
            report_internal_error("starting a step span", exc)
            return wrapped(*args, **kwargs)
        return start_traced_generator(wrapped, args, kwargs, ctx, observer)

    return step_wrapper


# ----------------------------------------------------------------------------------------- planning
class _PlanningObserver(Observer):
    def __init__(self, rt: Runtime, state: StepState, name: str) -> None:
        self.rt = rt
        self.state = state
        self.name = name
        self.started = False
        self.planning_step_cls = _smolagents_class("smolagents.memory", "PlanningStep")

    def before_next(self) -> None:
        if not self.started:
            self.started = True
            state = self.state
            self.rt.emit(E.PLANNING_START, state.span, state.agent, self.name, state.step_number)

    def on_item(self, item: Any) -> None:
        if not isinstance(item, self.planning_step_cls):
            return
        state, rt = self.state, self.rt
        plan = getattr(item, "plan", None)
        try:
            if rt.spans and rt.capture and state.span.is_recording() and plan:
                state.span.set_attribute(A.OUTPUT_VALUE, rt.text(plan))
        except Exception as exc:  # noqa: BLE001
            report_internal_error("recording a plan", exc)
        rt.emit(E.PLANNING_END, state.span, state.agent, self.name, state.step_number, plan=plan)

    def finish(self, exc: BaseException | None, closed: bool = False) -> BaseException | None:
        if self.rt.spans:
            if exc is not None:
                try:
                    self.rt.set_error(self.state.span, exc)
                except Exception as internal:  # noqa: BLE001
                    report_internal_error("finishing a planning span", internal)
            self.state.span.end()
        return None


def make_planning_wrapper(rt: Runtime) -> Any:
    def planning_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not is_instrumentation_enabled() or rt.idle():
            return wrapped(*args, **kwargs)
        try:
            step_number = arg(args, kwargs, 2, "step")
            name = agent_name(instance)
            if rt.spans:
                span = rt.start_span("planning", _step_attributes(name, step_number, A.TYPE_PLANNING))
            else:
                span = trace.get_current_span()
            state = StepState(
                run=current_run(), agent=instance, span=span, step_number=step_number, kind="planning"
            )
            ctx = context_with(span if rt.spans else None, {STEP_KEY: state, TOOL_KEY: None})
            observer = _PlanningObserver(rt, state, name)
        except Exception as exc:  # noqa: BLE001
            report_internal_error("starting a planning span", exc)
            return wrapped(*args, **kwargs)
        return start_traced_generator(wrapped, args, kwargs, ctx, observer)

    return planning_wrapper


# ---------------------------------------------------------------------------------------- max steps
def make_max_steps_wrapper(rt: Runtime) -> Any:
    def max_steps_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        run = current_run() if is_instrumentation_enabled() else None
        if run is None:
            return wrapped(*args, **kwargs)
        run.finish_reason = A.FINISH_MAX_STEPS
        task = arg(args, kwargs, 0, "task")
        rt.emit(
            E.MAX_STEPS_REACHED,
            run.span,
            instance,
            run.agent_name,
            getattr(instance, "step_number", None),
            task=task,
        )
        result = wrapped(*args, **kwargs)
        rt.emit(
            E.FINAL_ANSWER,
            run.span,
            instance,
            run.agent_name,
            getattr(instance, "step_number", None),
            final_answer=result,
        )
        return result

    return max_steps_wrapper
