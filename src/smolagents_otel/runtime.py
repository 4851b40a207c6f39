"""What every wrapper shares: tracer, config, callbacks, redaction, metrics, and ``emit``.

``Runtime.emit`` is the one function that emits lifecycle events: it records the event to the
configured sinks and runs the user's callbacks with the event's span current.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from . import attributes as A
from ._guard import report_internal_error
from .callbacks import CallbackRegistry, Registration
from .config import SINK_LANGFUSE_SPANS, SINK_LOGS, SINK_SPAN_EVENTS, Config
from .events import VETO_EVENTS, AgentEvent, LifecycleEvent, Veto
from .metrics import Metrics
from .redaction import Redactor
from .serialize import MessageEncoder, to_text

logger = logging.getLogger(__name__)

# Event fields recorded as attributes: field -> (attribute key, is content).
_EVENT_FIELDS: dict[str, tuple[str, bool]] = {
    "tool_name": (A.EV_TOOL_NAME, False),
    "tool_call_id": (A.EV_TOOL_CALL_ID, False),
    "model_id": (A.GEN_AI_REQUEST_MODEL, False),
    "purpose": (A.MODEL_PURPOSE, False),
    "finish_reason": (A.FINISH_REASON, False),
    "code": (A.EV_CODE, True),
    "model_output": (A.EV_MODEL_OUTPUT, True),
    "final_answer": (A.EV_FINAL_ANSWER, True),
    "observation": (A.EV_OBSERVATION, True),
    "output": (A.EV_OUTPUT, True),
    "plan": ("smolagents.plan", True),
    "task": ("smolagents.task", True),
    "arguments": (A.GEN_AI_TOOL_CALL_ARGUMENTS, True),
    "result": (A.GEN_AI_TOOL_CALL_RESULT, True),
}


_CONTENT_KEYS = frozenset(key for key, is_content in _EVENT_FIELDS.values() if is_content) | {
    A.EV_ERROR_MESSAGE
}
# Langfuse names an observation after gen_ai.tool.name when present: keep the event's own name.
_LANGFUSE_RENAMES = {
    A.GEN_AI_TOOL_NAME: "smolagents.tool.name",
    A.GEN_AI_TOOL_CALL_ID: "smolagents.tool.call_id",
}


def _langfuse_event_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes of a Langfuse event span: typed ``event``, named as the event, content as its input."""
    out: dict[str, Any] = {_LANGFUSE_RENAMES.get(k, k): v for k, v in attrs.items()}
    out[A.LANGFUSE_OBSERVATION_TYPE] = "event"
    content = {k: v for k, v in attrs.items() if k in _CONTENT_KEYS}
    if content:
        out["langfuse.observation.input"] = json.dumps(content, ensure_ascii=False, default=str)
    return out


class Runtime:
    def __init__(
        self,
        tracer: trace.Tracer,
        config: Config,
        registry: CallbackRegistry,
        metrics: Metrics | None,
        otel_logger: Any = None,
        tracer_provider: Any = None,
    ) -> None:
        self.tracer = tracer
        self.config = config
        self.registry = registry
        self.metrics = metrics
        self.spans = config.spans
        self.capture = config.capture_content
        self.limit = config.max_attribute_length
        self.redactor = Redactor(config.redact_secrets)
        self.messages = MessageEncoder()
        sinks = config.event_sinks
        self.sink_span_events = SINK_SPAN_EVENTS in sinks
        self.sink_logs = SINK_LOGS in sinks and otel_logger is not None
        self.sink_langfuse = SINK_LANGFUSE_SPANS in sinks
        self.records_events = self.sink_span_events or self.sink_logs or self.sink_langfuse
        self.otel_logger = otel_logger
        # Whether spans can ever record: a NoOp provider never does; the global proxy does once an SDK
        # provider is set (checked per call, cheaply).
        self._provider = tracer_provider
        self._fixed_noop = isinstance(tracer_provider, trace.NoOpTracerProvider)

    def wants(self, event: LifecycleEvent) -> bool:
        """Whether emitting ``event`` would do anything (a callback, or a sink that records it)."""
        return self.registry.has_callbacks(event) or (
            self.records_events and event is not LifecycleEvent.MODEL_STREAM_DELTA
        )

    def idle(self) -> bool:
        """True when a traced call would produce nothing at all: no span can record, no callback is
        registered, no metric is kept. Wrappers then call straight through (the no-SDK fast path)."""
        if self.metrics is not None or self.registry.has_any():
            return False
        if self._fixed_noop:
            return True
        if self._provider is not None:
            return False
        return isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))

    # ----------------------------------------------------------------- text
    def text(self, value: Any, limit: int | None = None) -> str:
        return to_text(value, self.limit if limit is None else limit, self.redactor)

    # ----------------------------------------------------------------- spans
    def start_span(
        self, name: str, attributes: dict[str, Any], parent: otel_context.Context | None = None
    ) -> Any:
        return self.tracer.start_span(name, context=parent, attributes=attributes)

    @staticmethod
    def set_error(span: Any, exc: BaseException, description: str | None = None) -> None:
        if not span.is_recording():
            return
        span.set_attribute(A.ERROR_TYPE, type(exc).__qualname__)
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, description or f"{type(exc).__name__}: {exc}"[:1024]))

    # ----------------------------------------------------------------- events
    def emit(
        self,
        event: LifecycleEvent,
        span: Any,
        agent: Any,
        agent_name: str,
        step_number: int | None,
        **fields: Any,
    ) -> None:
        """Record ``event`` on ``span`` and run its callbacks with ``span`` current.

        Raises only what the user asked for: a ``Veto`` from a PRE_EXECUTION/TOOL_START callback, or
        any callback error in strict mode.
        """
        registrations = self.registry.snapshot(event)
        record = self.records_events and event is not LifecycleEvent.MODEL_STREAM_DELTA
        if not registrations and not record:
            return
        if record:
            try:
                self._record(event, span, agent_name, step_number, fields)
            except Exception as exc:  # noqa: BLE001
                report_internal_error(f"recording {event.name}", exc)
        if registrations:
            self._dispatch(event, registrations, span, agent, agent_name, step_number, fields)

    def _event_attributes(
        self, agent_name: str, step_number: int | None, fields: dict[str, Any]
    ) -> dict[str, Any]:
        attrs: dict[str, Any] = {A.GEN_AI_AGENT_NAME: agent_name}
        if step_number is not None:
            attrs[A.STEP_NUMBER] = step_number
        limit = self.config.max_event_content_length
        for name, value in fields.items():
            if value is None:
                continue
            if name == "error":
                attrs[A.EV_ERROR_TYPE] = type(value).__qualname__
                if self.capture:
                    attrs[A.EV_ERROR_MESSAGE] = self.text(value, limit)
                continue
            if name == "tool_calls":
                attrs[A.EV_TOOL_CALLS] = [str(getattr(c, "name", c)) for c in value]
                continue
            spec = _EVENT_FIELDS.get(name)
            if spec is None:
                continue
            key, is_content = spec
            if is_content:
                if self.capture and limit:
                    attrs[key] = self.text(value, limit)
            else:
                attrs[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        return attrs

    def _record(
        self,
        event: LifecycleEvent,
        span: Any,
        agent_name: str,
        step_number: int | None,
        fields: dict[str, Any],
    ) -> None:
        if not span.is_recording() and not self.sink_logs:
            return
        attrs = self._event_attributes(agent_name, step_number, fields)
        self.write_event(event.record_name, span, attrs)

    def write_event(self, name: str, span: Any, attrs: dict[str, Any]) -> None:
        """Write one event record to every configured sink."""
        if self.sink_span_events and span.is_recording():
            span.add_event(name, attrs)
        if self.sink_logs:
            self.otel_logger.emit(
                event_name=name,
                body=name,
                attributes=attrs,
                context=trace.set_span_in_context(span),
                timestamp=time.time_ns(),
            )
        if self.sink_langfuse and span.is_recording():
            child = self.tracer.start_span(
                name, context=trace.set_span_in_context(span), attributes=_langfuse_event_attributes(attrs)
            )
            child.end()

    def _dispatch(
        self,
        event: LifecycleEvent,
        registrations: tuple[Registration, ...],
        span: Any,
        agent: Any,
        agent_name: str,
        step_number: int | None,
        fields: dict[str, Any],
    ) -> None:
        try:
            payload = AgentEvent(
                name=event,
                agent=agent,
                agent_name=agent_name,
                step_number=step_number,
                span=span,
                timestamp=time.time_ns(),
                **fields,
            )
            token = None
            if trace.get_current_span() is not span:
                token = otel_context.attach(trace.set_span_in_context(span))
        except Exception as exc:  # noqa: BLE001
            report_internal_error(f"building the {event.name} event", exc)
            return
        try:
            for registration in registrations:
                if registration.agent_ref is not None and registration.agent_ref() is not agent:
                    continue
                try:
                    if registration.arity == 2:
                        registration.fn(payload, agent)
                    else:
                        registration.fn(payload)
                except Veto as veto:
                    if event in VETO_EVENTS:
                        veto.callback_name = registration.name
                        veto.event = event
                        raise
                    self.callback_failed(registration, event, span, veto)
                except Exception as exc:  # noqa: BLE001 - a user's callback may raise anything
                    if registration.blocks_on_error and event in VETO_EVENTS:
                        veto = Veto(str(exc) or type(exc).__name__)
                        veto.callback_name = registration.name
                        veto.event = event
                        raise veto from exc
                    self.callback_failed(registration, event, span, exc)
        finally:
            if token is not None:
                otel_context.detach(token)

    def callback_failed(
        self, registration: Registration, event: LifecycleEvent, span: Any, exc: BaseException
    ) -> None:
        logger.warning(
            "smolagents-otel: lifecycle callback %s for %s raised %s: %s",
            registration.name,
            event.name,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        try:
            attrs = {
                A.CALLBACK_NAME: registration.name,
                A.LIFECYCLE_EVENT: event.value,
                A.CALLBACK_EXCEPTION_TYPE: type(exc).__qualname__,
                A.CALLBACK_EXCEPTION_MESSAGE: self.text(exc, 1024),
            }
            if span.is_recording():
                span.add_event(A.EVENT_CALLBACK_ERROR, attrs)
            if self.metrics is not None:
                self.metrics.callback_error(event.value, registration.name)
        except Exception as internal:  # noqa: BLE001
            report_internal_error("recording a callback error", internal)
        if self.config.strict_callbacks:
            raise exc

    def record_veto(self, span: Any, veto: Veto, agent_name: str, step_number: int | None) -> None:
        """Put a veto on the span: attributes, a ``smolagents.veto`` event, ERROR status, a metric."""
        try:
            event_name = veto.event.value if veto.event is not None else "unknown"
            if span.is_recording():
                attrs = {
                    A.VETO_REASON: self.text(veto.reason, 1024),
                    A.VETO_CALLBACK: veto.callback_name or "unknown",
                    A.VETO_ABORT: veto.abort,
                    A.LIFECYCLE_EVENT: event_name,
                }
                span.set_attributes(attrs)
                span.add_event(A.EVENT_VETO, {**attrs, A.GEN_AI_AGENT_NAME: agent_name})
                if self.sink_langfuse:
                    child_attrs = {
                        **attrs,
                        A.GEN_AI_AGENT_NAME: agent_name,
                        A.LANGFUSE_OBSERVATION_TYPE: "event",
                        A.LANGFUSE_OBSERVATION_LEVEL: "WARNING",
                    }
                    self.tracer.start_span(
                        A.EVENT_VETO, context=trace.set_span_in_context(span), attributes=child_attrs
                    ).end()
                span.set_status(Status(StatusCode.ERROR, str(veto)[:1024]))
            if self.metrics is not None:
                self.metrics.veto(agent_name, event_name)
        except Exception as exc:  # noqa: BLE001
            report_internal_error("recording a veto", exc)
