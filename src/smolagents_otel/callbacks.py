"""The callback registry: checked at registration, thread-safe, dispatch over a snapshot."""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .events import LifecycleEvent

Callback = Callable[..., Any]


def callback_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else str(name)


def _arity(fn: Callback) -> int:
    """How many positional arguments the callback takes: 1 ``(event)`` or 2 ``(event, agent)``."""
    target = fn
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(type(target).__call__):
        raise TypeError(
            f"callback {callback_name(fn)} is an async function; lifecycle callbacks must be sync"
        )
    if inspect.isasyncgenfunction(target):
        raise TypeError(
            f"callback {callback_name(fn)} is an async generator; lifecycle callbacks must be sync"
        )
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return 1  # builtins without a signature: called with the event only
    required = 0
    maximum = 0
    var_positional = False
    for p in signature.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            maximum += 1
            if p.default is p.empty:
                required += 1
        elif p.kind is p.VAR_POSITIONAL:
            var_positional = True
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            raise TypeError(
                f"callback {callback_name(fn)} has a required keyword-only parameter {p.name!r}; "
                "callbacks are called as fn(event) or fn(event, agent)"
            )
    if required > 2:
        raise TypeError(
            f"callback {callback_name(fn)} requires {required} arguments; "
            "callbacks are called as fn(event) or fn(event, agent)"
        )
    if maximum == 0 and not var_positional:
        raise TypeError(
            f"callback {callback_name(fn)} takes no arguments; "
            "callbacks are called as fn(event) or fn(event, agent)"
        )
    return 2 if maximum >= 2 or var_positional else 1


@dataclass(frozen=True, slots=True)
class Registration:
    event: LifecycleEvent
    fn: Callback
    arity: int
    name: str
    agent_ref: Any  # weakref to the agent, or None for all agents
    blocks_on_error: bool  # PR #1959 semantics: any exception from a veto-able event blocks the action


class CallbackHandle:
    """Returned by ``Instrumentor.on``; ``remove()`` unregisters the callback (safe to call twice)."""

    def __init__(self, registry: CallbackRegistry, registration: Registration) -> None:
        self._registry = registry
        self.registration = registration

    def remove(self) -> None:
        self._registry.remove(self.registration)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # a decorated function stays callable
        return self.registration.fn(*args, **kwargs)


class CallbackRegistry:
    """Callbacks by event. Registration copies-on-write under a lock; dispatch reads a tuple."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_event: dict[LifecycleEvent, tuple[Registration, ...]] = {}

    def add(self, event: Any, fn: Any, *, agent: Any = None, blocks_on_error: bool = False) -> CallbackHandle:
        name = LifecycleEvent.coerce(event)
        if not callable(fn):
            raise TypeError(f"callback for {name.name} must be callable, got {type(fn).__name__}")
        arity = _arity(fn)
        agent_ref = None
        holder: list[Registration] = []
        if agent is not None:
            try:
                # When the agent is garbage-collected its callbacks go too.
                agent_ref = weakref.ref(agent, lambda _ref: holder and self.remove(holder[0]))
            except TypeError:
                raise TypeError(
                    f"agent={agent!r} cannot be weakly referenced; pass a smolagents agent"
                ) from None
        registration = Registration(name, fn, arity, callback_name(fn), agent_ref, blocks_on_error)
        holder.append(registration)
        with self._lock:
            self._by_event[name] = self._by_event.get(name, ()) + (registration,)
        return CallbackHandle(self, registration)

    def remove(self, registration: Registration) -> None:
        with self._lock:
            current = self._by_event.get(registration.event, ())
            remaining = tuple(r for r in current if r is not registration)
            if remaining:
                self._by_event[registration.event] = remaining
            else:
                self._by_event.pop(registration.event, None)

    def clear(self) -> None:
        with self._lock:
            self._by_event = {}

    def snapshot(self, event: LifecycleEvent) -> tuple[Registration, ...]:
        return self._by_event.get(event, ())

    def has_any(self) -> bool:
        return bool(self._by_event)

    def has_callbacks(self, event: LifecycleEvent) -> bool:
        return event in self._by_event
