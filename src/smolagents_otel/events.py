"""Lifecycle events: their names, the frozen object a callback receives, and ``Veto``."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class LifecycleEvent(str, enum.Enum):
    """Points in an agent's life at which smolagents-otel records an event and runs callbacks."""

    RUN_START = "run_start"
    RUN_END = "run_end"
    STEP_START = "step_start"
    STEP_END = "step_end"
    PLANNING_START = "planning_start"
    PLANNING_END = "planning_end"
    MODEL_OUTPUT = "model_output"
    MODEL_STREAM_DELTA = "model_stream_delta"
    PRE_EXECUTION = "pre_execution"
    TOOL_START = "tool_start"
    TOOL_END = "tool_end"
    POST_EXECUTION = "post_execution"
    STEP_ERROR = "step_error"
    FINAL_ANSWER = "final_answer"
    MAX_STEPS_REACHED = "max_steps_reached"

    @property
    def record_name(self) -> str:
        """The name under which the event is recorded in the trace, e.g. ``smolagents.pre_execution``."""
        return "smolagents." + self.value

    @classmethod
    def coerce(cls, value: Any) -> LifecycleEvent:
        """A LifecycleEvent from itself or its name/value (``"PRE_EXECUTION"``, ``"pre_execution"``)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip()
            for member in cls:
                if key.upper() == member.name or key.lower() == member.value:
                    return member
        names = ", ".join(m.name for m in cls)
        raise ValueError(f"unknown lifecycle event {value!r}; known events: {names}")


#: Events whose callbacks may raise ``Veto`` to stop the action from running.
VETO_EVENTS = frozenset({LifecycleEvent.PRE_EXECUTION, LifecycleEvent.TOOL_START})


class Veto(Exception):
    """Raise from a PRE_EXECUTION or TOOL_START callback to stop the action before it runs.

    With ``abort=False`` (default) the step records the error ``execution blocked: <reason>``, which the
    model sees on its next step, and the run goes on. With ``abort=True`` the run ends by raising this
    exception out of ``agent.run()``.
    """

    def __init__(self, reason: str = "vetoed by policy", *, abort: bool = False) -> None:
        self.reason = str(reason)
        self.abort = bool(abort)
        self.callback_name: str | None = None
        self.event: LifecycleEvent | None = None
        super().__init__(f"execution blocked: {self.reason}")


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """What a callback receives. Fields that do not apply to an event are ``None``.

    Common: ``name``, ``agent``, ``agent_name``, ``step_number``, ``span``, ``timestamp`` (epoch ns).
    MODEL_OUTPUT: ``model_output`` (text), ``message`` (the ChatMessage), ``token_usage``, ``model_id``,
    ``purpose`` (step / planning / final_answer / direct). MODEL_STREAM_DELTA: ``delta``, ``model_id``.
    PRE_EXECUTION: ``code`` (None for tool calls) and ``tool_calls`` (smolagents ``ToolCall`` list).
    TOOL_START/TOOL_END: ``tool_name``, ``arguments``, ``tool_call_id``; on END ``result`` or ``error``.
    POST_EXECUTION: ``observation``, ``result``. STEP_ERROR: ``error``. FINAL_ANSWER: ``final_answer``.
    PLANNING_END: ``plan``. RUN_START: ``task``. RUN_END: ``output``, ``finish_reason``, ``error``.
    STEP_END: ``error`` when the step failed. MAX_STEPS_REACHED: ``task``.
    """

    name: LifecycleEvent
    agent: Any
    agent_name: str
    step_number: int | None
    span: Any
    timestamp: int
    task: str | None = None
    model_output: str | None = None
    message: Any = None
    delta: Any = None
    token_usage: Any = None
    model_id: str | None = None
    purpose: str | None = None
    code: str | None = None
    tool_calls: tuple[Any, ...] | None = None
    tool_name: str | None = None
    arguments: Any = None
    tool_call_id: str | None = None
    result: Any = None
    error: BaseException | None = None
    observation: str | None = None
    final_answer: Any = None
    plan: str | None = None
    output: Any = None
    finish_reason: str | None = None

    @property
    def code_action(self) -> str | None:
        """Alias of ``code``, the field name used by smolagents PR #1959."""
        return self.code


# Names used by smolagents PR #1959, so its examples run with only the import changed.
ModelOutputEvent = AgentEvent
PreExecutionEvent = AgentEvent
