"""Wrappers for tool calls (Tool.__call__, managed agents, ToolCallingAgent.execute_tool_call) and code
execution (PythonExecutor.__call__), plus the context-copying thread pool for the local executor."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from . import attributes as A
from ._guard import guarded, report_internal_error
from ._state import EXECUTOR_KEY, TOOL_KEY, ToolState, agent_name, context_with, current_run, current_step
from .events import LifecycleEvent as E
from .events import Veto
from .runtime import Runtime
from .wrap_agents import arg


class ContextPropagatingThreadPoolExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run in a copy of the submitter's context, so spans made in
    the worker (tools called from agent code, managed agents) keep their parent."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


def _tool_arguments(tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The call's arguments by the tool's input names (positional ones included)."""
    kw = {k: v for k, v in kwargs.items() if k != "sanitize_inputs_outputs"}
    if not args:
        return kw
    if len(args) == 1 and not kw and isinstance(args[0], dict):
        return args[0]
    names = list(getattr(tool, "inputs", None) or ())
    if len(names) >= len(args):
        return {**dict(zip(names, args, strict=False)), **kw}
    return {"args": list(args), **kw}


def _traced_tool_call(
    rt: Runtime,
    wrapped: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    tool: Any,
    tool_name: str,
    arguments: Any,
    call_id: str | None,
    is_managed_agent: bool,
    blocked: Any,
) -> Any:
    """One tool call: span, TOOL_START (may veto), the call, TOOL_END. ``blocked(veto)`` gives the
    exception a non-aborting veto raises in place of the tool's result."""
    try:
        step = current_step()
        run = current_run()
        owner = step.agent if step is not None else (run.agent if run is not None else None)
        owner_name = agent_name(owner) if owner is not None else tool_name
        step_number = step.step_number if step is not None else None
        if rt.spans:
            attrs: dict[str, Any] = {
                A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL,
                A.GEN_AI_TOOL_NAME: tool_name,
                A.OPENINFERENCE_SPAN_KIND: A.KIND_TOOL,
                A.SPAN_TYPE: A.TYPE_TOOL,
            }
            if is_managed_agent:
                attrs[A.TOOL_IS_MANAGED_AGENT] = True
            if call_id:
                attrs[A.GEN_AI_TOOL_CALL_ID] = call_id
            span = rt.start_span(f"{A.OP_EXECUTE_TOOL} {tool_name}", attrs)
            if rt.capture and span.is_recording():
                text = rt.text(arguments)
                span.set_attribute(A.INPUT_VALUE, text)
        else:
            span = trace.get_current_span()
        ctx = context_with(span if rt.spans else None, {TOOL_KEY: ToolState(tool, span)})
    except Exception as exc:  # noqa: BLE001
        report_internal_error("starting a tool span", exc)
        return wrapped(*args, **kwargs)

    token = otel_context.attach(ctx)
    try:
        try:
            rt.emit(
                E.TOOL_START,
                span,
                owner,
                owner_name,
                step_number,
                tool_name=tool_name,
                arguments=arguments,
                tool_call_id=call_id,
            )
        except Veto as veto:
            rt.record_veto(span, veto, owner_name, step_number)
            if veto.abort and run is not None:
                run.abort = veto
            guarded("finishing a tool span", _end_tool, rt, span, tool_name, veto, None)
            raise blocked(veto) from None

        def finish(**outcome: Any) -> None:
            guarded(
                "finishing a tool span",
                _end_tool,
                rt,
                span,
                tool_name,
                outcome.get("error"),
                outcome.get("result"),
            )
            rt.emit(
                E.TOOL_END,
                span,
                owner,
                owner_name,
                step_number,
                tool_name=tool_name,
                arguments=arguments,
                tool_call_id=call_id,
                **outcome,
            )

        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            finish(error=exc)
            raise
        finish(result=result)
        return result
    finally:
        otel_context.detach(token)
        if rt.spans:
            span.end()


def _end_tool(rt: Runtime, span: Any, tool_name: str, exc: BaseException | None, result: Any) -> None:
    try:
        if rt.spans and span.is_recording():
            if exc is not None:
                rt.set_error(span, exc)
            elif rt.capture:
                text = rt.text(result)
                span.set_attribute(A.OUTPUT_VALUE, text)
        if rt.metrics is not None:
            rt.metrics.tool(tool_name, type(exc).__qualname__ if exc is not None else None)
    except Exception as internal:  # noqa: BLE001
        report_internal_error("finishing a tool span", internal)


def _raise_veto(veto: Veto) -> BaseException:
    return veto


def _already_covered(instance: Any) -> bool:
    """True when execute_tool_call already opened the span for this very call."""
    state = otel_context.get_value(TOOL_KEY)
    if state is not None and state.tool is instance and not state.entered:
        state.entered = True
        return True
    return False


def make_tool_wrapper(rt: Runtime) -> Any:
    def tool_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not is_instrumentation_enabled() or rt.idle() or _already_covered(instance):
            return wrapped(*args, **kwargs)
        try:
            name = getattr(instance, "name", None) or type(instance).__name__
            arguments = _tool_arguments(instance, args, kwargs)
        except Exception as exc:  # noqa: BLE001
            report_internal_error("reading tool arguments", exc)
            return wrapped(*args, **kwargs)
        return _traced_tool_call(
            rt,
            wrapped,
            args,
            kwargs,
            instance,
            str(name),
            arguments,
            None,
            False,
            _raise_veto,
        )

    return tool_wrapper


def make_managed_agent_wrapper(rt: Runtime) -> Any:
    """MultiStepAgent.__call__: a managed agent called by its manager (from code or a tool call)."""

    def managed_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if (
            not is_instrumentation_enabled()
            or rt.idle()
            or current_run() is None
            or _already_covered(instance)
        ):
            return wrapped(*args, **kwargs)
        arguments = {"task": arg(args, kwargs, 0, "task"), **{k: v for k, v in kwargs.items() if k != "task"}}
        return _traced_tool_call(
            rt, wrapped, args, kwargs, instance, agent_name(instance), arguments, None, True, _raise_veto
        )

    return managed_wrapper


def _match_call_id(tool_name: str, arguments: Any) -> str | None:
    step = current_step()
    if step is None:
        return None
    for candidate in list(step.pending_calls):
        if candidate.name == tool_name and (
            candidate.arguments is arguments or candidate.arguments == arguments
        ):
            try:
                step.pending_calls.remove(candidate)
            except ValueError:
                continue  # another thread took it
            return candidate.id
    return None


def make_execute_tool_call_wrapper(rt: Runtime) -> Any:
    """ToolCallingAgent.execute_tool_call: the span gets the model's tool-call id."""

    def execute_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not is_instrumentation_enabled() or rt.idle():
            return wrapped(*args, **kwargs)
        try:
            tool_name = arg(args, kwargs, 0, "tool_name")
            arguments = arg(args, kwargs, 1, "arguments")
            call_id = _match_call_id(tool_name, arguments)
            managed = getattr(instance, "managed_agents", None) or {}
            tool = (getattr(instance, "tools", None) or {}).get(tool_name)
            is_managed = tool is None and tool_name in managed
            if is_managed:
                tool = managed[tool_name]
        except Exception as exc:  # noqa: BLE001
            report_internal_error("matching a tool call", exc)
            return wrapped(*args, **kwargs)

        def blocked(veto: Veto) -> BaseException:
            from smolagents.utils import AgentToolExecutionError

            return AgentToolExecutionError(str(veto), instance.logger)

        return _traced_tool_call(
            rt, wrapped, args, kwargs, tool, str(tool_name), arguments, call_id, is_managed, blocked
        )

    return execute_wrapper


def make_executor_wrapper(rt: Runtime) -> Any:
    """PythonExecutor.__call__: one span per CodeAgent code execution, parent of the tools it calls."""

    def executor_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if (
            not is_instrumentation_enabled()
            or not rt.spans
            or otel_context.get_value(EXECUTOR_KEY) is instance
        ):
            return wrapped(*args, **kwargs)
        try:
            code = arg(args, kwargs, 0, "code_action")
            step = current_step()
            attrs: dict[str, Any] = {
                A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL,
                A.GEN_AI_TOOL_NAME: A.PYTHON_INTERPRETER,
                A.OPENINFERENCE_SPAN_KIND: A.KIND_TOOL,
                A.SPAN_TYPE: A.TYPE_CODE,
            }
            if step is not None:
                if step.code_call_id:
                    attrs[A.GEN_AI_TOOL_CALL_ID] = step.code_call_id
            span = rt.start_span(f"{A.OP_EXECUTE_TOOL} {A.PYTHON_INTERPRETER}", attrs)
            if rt.capture and span.is_recording():
                text = rt.text(code)
                span.set_attribute(A.INPUT_VALUE, text)
            ctx = context_with(span, {EXECUTOR_KEY: instance})
        except Exception as exc:  # noqa: BLE001
            report_internal_error("starting a code span", exc)
            return wrapped(*args, **kwargs)
        token = otel_context.attach(ctx)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            try:
                rt.set_error(span, exc)
            except Exception as internal:  # noqa: BLE001
                report_internal_error("finishing a code span", internal)
            raise
        else:
            try:
                if span.is_recording():
                    attrs: dict[str, Any] = {
                        A.CODE_IS_FINAL_ANSWER: bool(getattr(result, "is_final_answer", False))
                    }
                    if rt.capture:
                        logs = getattr(result, "logs", None)
                        if logs:
                            attrs[A.CODE_LOGS] = rt.text(logs)
                        text = rt.text(getattr(result, "output", result))
                        attrs[A.OUTPUT_VALUE] = text
                    span.set_attributes(attrs)
            except Exception as internal:  # noqa: BLE001
                report_internal_error("finishing a code span", internal)
            return result
        finally:
            otel_context.detach(token)
            span.end()

    return executor_wrapper
