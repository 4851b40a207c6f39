"""Wrappers for Model.generate / generate_stream of every Model subclass: one ``chat`` span per call."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from . import attributes as A
from ._generators import Observer, traced_generator
from ._guard import guarded, report_internal_error
from ._state import MODEL_KEY, RunState, StepState, agent_name, context_with, current_run, current_step
from .events import LifecycleEvent as E
from .runtime import Runtime
from .serialize import _content_text, message_output_json
from .wrap_agents import arg


def model_id_of(model: Any) -> str:
    model_id = getattr(model, "model_id", None)
    return model_id if isinstance(model_id, str) and model_id else type(model).__name__


class _ModelCall(Observer):
    """One model call; also the observer of a streamed call."""

    def __init__(self, rt: Runtime, model: Any, streamed: bool) -> None:
        self.rt = rt
        self.model = model
        self.model_id = model_id_of(model)
        self.run: RunState | None = current_run()
        self.step: StepState | None = current_step()
        if self.step is not None:
            self.purpose = self.step.kind
        elif self.run is not None:
            self.purpose = A.FINISH_FINAL_ANSWER
        else:
            self.purpose = "direct"
        self.start = time.perf_counter()
        self.first_chunk: float | None = None
        self.deltas: list[Any] = []
        self.streamed = streamed
        self.span: Any = None

    # -- telemetry of the call
    def open(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> otel_context.Context:
        rt = self.rt
        if rt.spans:
            attrs: dict[str, Any] = {
                A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
                A.GEN_AI_REQUEST_MODEL: self.model_id,
                A.OPENINFERENCE_SPAN_KIND: A.KIND_LLM,
                A.SPAN_TYPE: A.TYPE_MODEL,
                A.MODEL_PURPOSE: self.purpose,
                A.MODEL_CLASS: type(self.model).__name__,
            }
            if self.streamed:
                attrs[A.STREAM] = True
            self.span = rt.start_span(f"{A.OP_CHAT} {self.model_id}", attrs)
            if rt.capture and self.span.is_recording():
                messages = arg(args, kwargs, 0, "messages")
                encoded = rt.messages.encode(messages, rt.limit, rt.redactor)
                self.span.set_attributes({A.INPUT_VALUE: encoded, A.INPUT_MIME_TYPE: A.MIME_JSON})
        else:
            self.span = trace.get_current_span()
        return context_with(self.span if rt.spans else None, {MODEL_KEY: self.model})

    def close(self, message: Any, exc: BaseException | None) -> None:
        """Record the outcome, emit MODEL_OUTPUT (inside the span), end the span."""
        rt, span = self.rt, self.span
        input_tokens = output_tokens = None
        try:
            usage = getattr(message, "token_usage", None) if message is not None else None
            if usage is not None:
                input_tokens = int(getattr(usage, "input_tokens", 0) or 0)
                output_tokens = int(getattr(usage, "output_tokens", 0) or 0)
            if self.run is not None and exc is None:
                self.run.add_usage(input_tokens or 0, output_tokens or 0)
            if rt.spans and span.is_recording():
                if exc is not None:
                    rt.set_error(span, exc)
                attrs: dict[str, Any] = {}
                if input_tokens is not None:
                    attrs[A.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
                    attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
                if self.first_chunk is not None:
                    attrs[A.TIME_TO_FIRST_CHUNK] = self.first_chunk - self.start
                    attrs[A.STREAM_CHUNKS] = len(self.deltas)
                if rt.capture and message is not None:
                    attrs[A.OUTPUT_VALUE] = message_output_json(message, rt.limit, rt.redactor)
                    attrs[A.OUTPUT_MIME_TYPE] = A.MIME_JSON
                span.set_attributes(attrs)
            if rt.metrics is not None:
                ttfc = self.first_chunk - self.start if self.first_chunk is not None else None
                rt.metrics.model_call(
                    self.model_id,
                    time.perf_counter() - self.start,
                    input_tokens,
                    output_tokens,
                    type(exc).__qualname__ if exc is not None else None,
                    ttfc,
                )
        except Exception as internal:  # noqa: BLE001
            report_internal_error("finishing a model span", internal)
        model_output = None
        wanted = rt.wants(E.MODEL_OUTPUT)
        if wanted and exc is None and message is not None:
            model_output = guarded(
                "reading model output", _content_text, getattr(message, "content", None), rt.limit
            )
        try:
            if wanted and exc is None and message is not None:
                owner = self._owner()
                rt.emit(
                    E.MODEL_OUTPUT,
                    span,
                    owner,
                    agent_name(owner) if owner is not None else self.model_id,
                    self.step.step_number if self.step is not None else None,
                    model_output=model_output,
                    message=message,
                    token_usage=getattr(message, "token_usage", None),
                    model_id=self.model_id,
                    purpose=self.purpose,
                )
        finally:
            if rt.spans:
                span.end()

    def _owner(self) -> Any:
        if self.step is not None:
            return self.step.agent
        return self.run.agent if self.run is not None else None

    # -- Observer (streamed calls)
    def on_item(self, item: Any) -> None:
        if self.first_chunk is None:
            self.first_chunk = time.perf_counter()
        self.deltas.append(item)
        if self.rt.registry.has_callbacks(E.MODEL_STREAM_DELTA):
            owner = self._owner()
            self.rt.emit(
                E.MODEL_STREAM_DELTA,
                self.span,
                owner,
                agent_name(owner) if owner is not None else self.model_id,
                self.step.step_number if self.step is not None else None,
                delta=item,
                model_id=self.model_id,
            )

    def finish(self, exc: BaseException | None, closed: bool = False) -> BaseException | None:
        message = None
        if exc is None:
            try:
                from smolagents.models import agglomerate_stream_deltas

                message = agglomerate_stream_deltas(self.deltas)
            except Exception as internal:  # noqa: BLE001
                report_internal_error("aggregating a model stream", internal)
        self.close(message, exc)
        return None


def make_model_wrapper(rt: Runtime, streamed: bool) -> Any:
    def model_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not is_instrumentation_enabled() or rt.idle() or otel_context.get_value(MODEL_KEY) is instance:
            return wrapped(*args, **kwargs)  # not traced, or super().generate() inside a traced call
        try:
            call = _ModelCall(rt, instance, streamed)
            ctx = call.open(args, kwargs)
        except Exception as exc:  # noqa: BLE001
            report_internal_error("starting a model span", exc)
            return wrapped(*args, **kwargs)
        token = otel_context.attach(ctx)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.finished = True
            call.close(None, exc)
            raise
        else:
            if streamed:
                return traced_generator(result, ctx, call, watch_abandon=True)
            call.finished = True
            call.close(result, None)
            return result
        finally:
            otel_context.detach(token)

    return model_wrapper
