"""Instrumentation settings: one frozen object, read from arguments first, then the environment.

Every setting has an environment variable; an explicit argument beats it. A value that cannot be
understood raises ``ValueError`` at the moment it is given (``Config(...)``, ``Config.from_env()``,
``Instrumentor().instrument(...)``), naming the setting and the values it accepts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

SINK_SPAN_EVENTS = "span_events"
SINK_LOGS = "logs"
SINK_LANGFUSE_SPANS = "langfuse_spans"
EVENT_SINKS = (SINK_SPAN_EVENTS, SINK_LOGS, SINK_LANGFUSE_SPANS)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# Values of OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT used across OpenTelemetry GenAI packages.
_GENAI_CAPTURE_ON = _TRUE | {"span_only", "span_and_event", "event_only"}
_GENAI_CAPTURE_OFF = _FALSE | {"no_content"}

GENAI_CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean; use one of true/false/1/0/yes/no/on/off")


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None


def _parse_sinks(name: str, raw: str) -> tuple[str, ...]:
    value = raw.strip().lower()
    if value in ("", "none"):
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class _Setting:
    env: str
    parse: Any


@dataclass(frozen=True)
class Config:
    """How smolagents-otel records what agents do.

    Attributes:
        capture_content: record prompts, model outputs, code, tool arguments and results
            (env ``SMOLAGENTS_OTEL_CAPTURE_CONTENT``, also
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``).
        max_attribute_length: longest string attribute, in characters; longer ones are cut and end
            with a visible ``…[truncated N chars]`` marker (env ``SMOLAGENTS_OTEL_MAX_ATTRIBUTE_LENGTH``).
        max_event_content_length: longest content string on a lifecycle-event record
            (env ``SMOLAGENTS_OTEL_MAX_EVENT_CONTENT_LENGTH``).
        redact_secrets: mask API keys, tokens and the values of ``*KEY*``/``*TOKEN*``/``*SECRET*``/
            ``*PASSWORD*`` environment variables in every content string
            (env ``SMOLAGENTS_OTEL_REDACT_SECRETS``).
        event_sinks: where lifecycle events are recorded: ``span_events``, ``logs`` (OpenTelemetry log
            records tied to the span), ``langfuse_spans`` (short child spans Langfuse shows as events)
            (env ``SMOLAGENTS_OTEL_EVENT_SINKS``, comma-separated, ``none`` for none).
        spans: create spans (``False`` = events-only mode on whatever span is current)
            (env ``SMOLAGENTS_OTEL_SPANS``).
        strict_callbacks: re-raise exceptions of user callbacks instead of logging them, for tests
            (env ``SMOLAGENTS_OTEL_STRICT_CALLBACKS``).
    """

    capture_content: bool = field(
        default=True, metadata={"s": _Setting("SMOLAGENTS_OTEL_CAPTURE_CONTENT", _parse_bool)}
    )
    max_attribute_length: int = field(
        default=16384, metadata={"s": _Setting("SMOLAGENTS_OTEL_MAX_ATTRIBUTE_LENGTH", _parse_int)}
    )
    max_event_content_length: int = field(
        default=1024, metadata={"s": _Setting("SMOLAGENTS_OTEL_MAX_EVENT_CONTENT_LENGTH", _parse_int)}
    )
    redact_secrets: bool = field(
        default=True, metadata={"s": _Setting("SMOLAGENTS_OTEL_REDACT_SECRETS", _parse_bool)}
    )
    event_sinks: tuple[str, ...] = field(
        default=(SINK_SPAN_EVENTS,), metadata={"s": _Setting("SMOLAGENTS_OTEL_EVENT_SINKS", _parse_sinks)}
    )
    spans: bool = field(default=True, metadata={"s": _Setting("SMOLAGENTS_OTEL_SPANS", _parse_bool)})
    strict_callbacks: bool = field(
        default=False, metadata={"s": _Setting("SMOLAGENTS_OTEL_STRICT_CALLBACKS", _parse_bool)}
    )

    def __post_init__(self) -> None:
        for name in ("capture_content", "redact_secrets", "spans", "strict_callbacks"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"Config.{name} must be a bool, got {type(getattr(self, name)).__name__}")
        for name, low in (("max_attribute_length", 64), ("max_event_content_length", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Config.{name} must be an int, got {type(value).__name__}")
            if value < low:
                raise ValueError(f"Config.{name} must be >= {low}, got {value}")
        sinks = self.event_sinks
        if isinstance(sinks, str) or not isinstance(sinks, Iterable):
            raise TypeError(
                f"Config.event_sinks must be a sequence of names from {EVENT_SINKS}, got {sinks!r}"
            )
        sinks = tuple(sinks)
        unknown = [s for s in sinks if s not in EVENT_SINKS]
        if unknown:
            raise ValueError(f"Config.event_sinks: unknown sink(s) {unknown}; choose from {EVENT_SINKS}")
        object.__setattr__(self, "event_sinks", tuple(dict.fromkeys(sinks)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build a Config from the environment; keyword arguments (not None) beat the environment."""
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown Config setting(s): {sorted(unknown)}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        genai = env.get(GENAI_CAPTURE_ENV)
        if genai is not None and genai.strip():
            raw = genai.strip().lower()
            if raw in _GENAI_CAPTURE_ON:
                values["capture_content"] = True
            elif raw in _GENAI_CAPTURE_OFF:
                values["capture_content"] = False
            else:
                raise ValueError(
                    f"{GENAI_CAPTURE_ENV}={genai!r} is not understood; use true/false, "
                    "NO_CONTENT, SPAN_ONLY, EVENT_ONLY or SPAN_AND_EVENT"
                )
        for f in fields(cls):
            setting: _Setting = f.metadata["s"]
            raw = env.get(setting.env)
            if raw is not None and raw.strip():
                values[f.name] = setting.parse(setting.env, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with the given (non-None) settings changed."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


ENV_VARS = {f.name: f.metadata["s"].env for f in fields(Config)}
