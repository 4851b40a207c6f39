"""smolagents-otel: OpenTelemetry traces, lifecycle events and veto callbacks for smolagents.

Usage
-----
.. code-block:: python

    from smolagents_otel import Instrumentor, LifecycleEvent, Veto

    instrumentor = Instrumentor()

    @instrumentor.on(LifecycleEvent.PRE_EXECUTION)
    def guard(event):
        if event.code and "os.system" in event.code:
            raise Veto("shell access is not allowed")

    instrumentor.instrument()          # spans go to the global SDK provider, or the one from the env
    agent.run("...")                   # one trace: run > step > chat / code > tool

Span tree
---------
``invoke_agent {agent}`` (run; gen_ai.operation.name=invoke_agent, AGENT) >
``planning`` (CHAIN) > ``chat {model}``; ``step {n}`` (CHAIN, smolagents.step.number) >
``chat {model}`` (LLM, gen_ai.usage.*) and ``execute_tool python_interpreter`` (CodeAgent code, TOOL) >
``execute_tool {tool}`` (TOOL, gen_ai.tool.name, gen_ai.tool.call.id) > a managed agent's
``invoke_agent {name}``. Every span carries ``smolagents.span.type`` (run, step, planning, model, tool,
code), a ``gen_ai.*`` attribute and an ``openinference.span.kind``. Run totals: ``smolagents.run.*``.

Configuration
-------------
``Config`` fields (argument > environment variable > default): capture_content
(``SMOLAGENTS_OTEL_CAPTURE_CONTENT``, ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``; True),
max_attribute_length (``SMOLAGENTS_OTEL_MAX_ATTRIBUTE_LENGTH``; 16384), max_event_content_length
(``SMOLAGENTS_OTEL_MAX_EVENT_CONTENT_LENGTH``; 1024), redact_secrets (``SMOLAGENTS_OTEL_REDACT_SECRETS``;
True), event_sinks (``SMOLAGENTS_OTEL_EVENT_SINKS``; span_events, logs, langfuse_spans), spans
(``SMOLAGENTS_OTEL_SPANS``; True), strict_callbacks (``SMOLAGENTS_OTEL_STRICT_CALLBACKS``; False).

API
---
``Instrumentor`` (``instrument``, ``uninstrument``, ``on``), ``LifecycleEvent``, ``AgentEvent``,
``Veto``, ``Config``, ``configure`` (build and set a TracerProvider for a backend), ``trace_context``
(user/session/tags/metadata for the runs inside it), ``CallbackHandle``.

Lifecycle events
----------------
RUN_START, PLANNING_START, PLANNING_END, STEP_START, MODEL_STREAM_DELTA, MODEL_OUTPUT, PRE_EXECUTION
(veto), TOOL_START (veto), TOOL_END, POST_EXECUTION, FINAL_ANSWER, STEP_ERROR, STEP_END,
MAX_STEPS_REACHED, RUN_END. Each is recorded as ``smolagents.<name>`` on its span and passed to
callbacks as a frozen ``AgentEvent`` while that span is current.
"""

from .callbacks import CallbackHandle
from .config import Config
from .context import trace_context
from .events import AgentEvent, LifecycleEvent, ModelOutputEvent, PreExecutionEvent, Veto
from .instrumentor import Instrumentor
from .version import __version__


def configure(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Build (and by default set globally) a TracerProvider for a backend; see ``export_setup.configure``."""
    from .export_setup import configure as _configure

    return _configure(*args, **kwargs)


__all__ = [
    "AgentEvent",
    "CallbackHandle",
    "Config",
    "Instrumentor",
    "LifecycleEvent",
    "ModelOutputEvent",
    "PreExecutionEvent",
    "Veto",
    "__version__",
    "configure",
    "trace_context",
]
