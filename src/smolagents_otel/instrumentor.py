"""``Instrumentor``: patches smolagents with wrapt and restores every original on ``uninstrument()``."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Collection, Mapping
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from .callbacks import CallbackHandle, CallbackRegistry
from .config import ENV_VARS, SINK_LANGFUSE_SPANS, Config
from .events import LifecycleEvent
from .metrics import Metrics
from .package import _instruments
from .runtime import Runtime
from .version import __version__
from .wrap_agents import make_max_steps_wrapper, make_planning_wrapper, make_run_wrapper, make_step_wrapper
from .wrap_models import make_model_wrapper
from .wrap_tools import (
    ContextPropagatingThreadPoolExecutor,
    make_execute_tool_call_wrapper,
    make_executor_wrapper,
    make_managed_agent_wrapper,
    make_tool_wrapper,
)

logger = logging.getLogger(__name__)

_MODEL_METHODS = (("generate", False), ("generate_stream", True))


def _subclasses(cls: type) -> list[type]:
    seen: list[type] = []
    stack = [cls]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.append(current)
            stack.extend(current.__subclasses__())
    return seen


def _sdk_tracer_provider_is_set() -> bool:
    from opentelemetry.sdk.trace import TracerProvider

    return isinstance(trace.get_tracer_provider(), TracerProvider)


class Instrumentor(BaseInstrumentor):  # type: ignore[misc]
    """OpenTelemetry instrumentor for smolagents (a process-wide singleton, as all instrumentors).

    ``Instrumentor().instrument()`` traces every agent run; ``Instrumentor().on(event, fn)`` registers
    lifecycle callbacks (before or after ``instrument()``); ``uninstrument()`` restores smolagents.
    """

    def __init__(self) -> None:
        if getattr(self, "_initialised", False):
            return
        self._initialised = True
        self._registry = CallbackRegistry()
        self._patched: list[tuple[Any, str]] = []
        self._globals: list[tuple[Any, str, Any]] = []
        self._instrument_handles: list[CallbackHandle] = []
        self._model_hook_installed = False
        self._runtime: Runtime | None = None

    # ------------------------------------------------------------------ public API
    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def instrument(  # type: ignore[override]
        self,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        config: Config | None = None,
        *,
        spans: bool | None = None,
        capture_content: bool | None = None,
        event_sinks: Collection[str] | None = None,
        strict_callbacks: bool | None = None,
        lifecycle_callbacks: Mapping[Any, Callable[..., Any]] | None = None,
        logger_provider: Any = None,
        **kwargs: Any,
    ) -> None:
        """Start tracing smolagents.

        Args:
            tracer_provider: where spans go; default: the global one, or one built from the environment
                (Langfuse / OTLP variables) when no SDK provider is set.
            meter_provider: where metrics go; default: the global one if it is an SDK provider, else none.
            config: a ``Config``; the keyword settings below override it.
            spans: ``False`` for events-only mode (no spans of ours; events on the current span).
            capture_content, event_sinks, strict_callbacks: see ``Config``.
            lifecycle_callbacks: ``{LifecycleEvent: fn}`` as in smolagents PR #1959; an exception from
                such a PRE_EXECUTION/TOOL_START callback blocks the action (like a ``Veto``).
            logger_provider: for the ``logs`` event sink; default: the global one.
        """
        base = config if config is not None else Config.from_env()
        if not isinstance(base, Config):
            raise TypeError(f"config must be a smolagents_otel.Config, got {type(base).__name__}")
        resolved = base.with_overrides(
            spans=spans,
            capture_content=capture_content,
            event_sinks=tuple(event_sinks) if event_sinks is not None else None,
            strict_callbacks=strict_callbacks,
        )
        sinks_chosen = (
            event_sinks is not None or config is not None or bool(os.environ.get(ENV_VARS["event_sinks"]))
        )
        if lifecycle_callbacks is not None and not isinstance(lifecycle_callbacks, Mapping):
            raise TypeError("lifecycle_callbacks must be a mapping {LifecycleEvent: callable}")
        # Validate the callbacks now, before anything is patched.
        pending = [(LifecycleEvent.coerce(k), v) for k, v in (lifecycle_callbacks or {}).items()]
        for event, fn in pending:
            if not callable(fn):
                raise TypeError(
                    f"lifecycle_callbacks[{event.name}] must be callable, got {type(fn).__name__}"
                )
        super().instrument(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            config=resolved,
            logger_provider=logger_provider,
            lifecycle_callbacks=pending,
            sinks_chosen=sinks_chosen,
            **kwargs,
        )

    def on(
        self, event: LifecycleEvent | str, fn: Callable[..., Any] | None = None, *, agent: Any = None
    ) -> Any:
        """Register ``fn(event)`` or ``fn(event, agent)`` for ``event``; returns a handle with ``remove()``.

        Without ``fn`` it returns a decorator. With ``agent=`` the callback runs only for that agent.
        Bad input (unknown event, not callable, wrong parameters, ``async def``) raises at once.
        """
        resolved = LifecycleEvent.coerce(event)
        if fn is None:

            def decorator(func: Callable[..., Any]) -> CallbackHandle:
                return self._registry.add(resolved, func, agent=agent)

            return decorator
        return self._registry.add(resolved, fn, agent=agent)

    @property
    def callbacks(self) -> CallbackRegistry:
        return self._registry

    # ------------------------------------------------------------------ BaseInstrumentor hooks
    def _instrument(self, **kwargs: Any) -> None:
        config: Config = kwargs["config"]
        tracer_provider = kwargs.get("tracer_provider")
        if tracer_provider is None and config.spans and not _sdk_tracer_provider_is_set():
            tracer_provider = self._provider_from_environment()
        effective_provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        if (
            getattr(effective_provider, "smolagents_otel_backend", None) == "langfuse"
            and not kwargs.get("sinks_chosen")
            and SINK_LANGFUSE_SPANS not in config.event_sinks
        ):
            # Langfuse drops span events: in Langfuse mode lifecycle events also become event spans.
            config = config.with_overrides(event_sinks=(*config.event_sinks, SINK_LANGFUSE_SPANS))
        tracer = trace.get_tracer("smolagents_otel", __version__, tracer_provider=tracer_provider)
        metrics = Metrics.create(kwargs.get("meter_provider"))
        otel_logger = None
        if "logs" in config.event_sinks:
            from opentelemetry import _logs

            otel_logger = _logs.get_logger(
                "smolagents_otel", __version__, logger_provider=kwargs.get("logger_provider")
            )
        runtime = Runtime(tracer, config, self._registry, metrics, otel_logger, tracer_provider)
        handles = []
        for event, fn in kwargs.get("lifecycle_callbacks") or []:
            handles.append(self._registry.add(event, fn, blocks_on_error=True))
        try:
            self._patch_all(runtime)
        except Exception:
            self._undo_patches()
            for handle in handles:
                handle.remove()
            raise
        self._instrument_handles = handles
        self._runtime = runtime

    def _uninstrument(self, **kwargs: Any) -> None:
        self._undo_patches()
        for handle in self._instrument_handles:
            handle.remove()
        self._instrument_handles = []
        self._runtime = None

    # ------------------------------------------------------------------ patching
    @staticmethod
    def _provider_from_environment() -> Any:
        try:
            from .export_setup import provider_from_environment
        except ImportError:  # pragma: no cover - optional module
            return None
        return provider_from_environment()

    def _wrap(self, owner: Any, name: str, wrapper: Any) -> None:
        wrapt.wrap_function_wrapper(owner, name, wrapper)
        self._patched.append((owner, name))

    def _set_global(self, module: Any, name: str, value: Any) -> None:
        if not hasattr(module, name):
            return
        self._globals.append((module, name, getattr(module, name)))
        setattr(module, name, value)

    def _patch_all(self, rt: Runtime) -> None:
        agents = importlib.import_module("smolagents.agents")
        models = importlib.import_module("smolagents.models")
        tools = importlib.import_module("smolagents.tools")
        executor_module = importlib.import_module("smolagents.local_python_executor")
        try:
            importlib.import_module("smolagents.remote_executors")
        except Exception:  # noqa: BLE001 - optional sandboxes may fail to import
            logger.debug("smolagents.remote_executors not importable; remote executors not traced")

        base_agent = agents.MultiStepAgent
        self._wrap(base_agent, "__init__", _agent_init_wrapper(self))
        self._wrap(base_agent, "run", make_run_wrapper(rt))
        self._wrap(base_agent, "__call__", make_managed_agent_wrapper(rt))
        self._wrap(base_agent, "_generate_planning_step", make_planning_wrapper(rt))
        if "_handle_max_steps_reached" in vars(base_agent):
            self._wrap(base_agent, "_handle_max_steps_reached", make_max_steps_wrapper(rt))
        step_wrapper = make_step_wrapper(rt)
        for cls in _subclasses(base_agent):
            if cls is not base_agent and "_step_stream" in vars(cls):
                self._wrap(cls, "_step_stream", step_wrapper)
        if "execute_tool_call" in vars(agents.ToolCallingAgent):
            self._wrap(agents.ToolCallingAgent, "execute_tool_call", make_execute_tool_call_wrapper(rt))

        tool_wrapper = make_tool_wrapper(rt)
        for cls in _subclasses(tools.Tool):
            if "__call__" in vars(cls):
                self._wrap(cls, "__call__", tool_wrapper)

        executor_wrapper = make_executor_wrapper(rt)
        for cls in _subclasses(executor_module.PythonExecutor):
            if cls is not executor_module.PythonExecutor and "__call__" in vars(cls):
                self._wrap(cls, "__call__", executor_wrapper)
        self._set_global(executor_module, "ThreadPoolExecutor", ContextPropagatingThreadPoolExecutor)
        self._set_global(agents, "ThreadPoolExecutor", ContextPropagatingThreadPoolExecutor)

        model_wrappers = {name: make_model_wrapper(rt, streamed) for name, streamed in _MODEL_METHODS}
        for cls in _subclasses(models.Model):
            self._wrap_model_class(cls, model_wrappers)
        self._install_model_hook(models.Model, model_wrappers)

    def _wrap_model_class(self, cls: type, model_wrappers: dict[str, Any]) -> None:
        for name, wrapper in model_wrappers.items():
            if name in vars(cls) and not isinstance(vars(cls)[name], wrapt.ObjectProxy):
                self._wrap(cls, name, wrapper)

    def _install_model_hook(self, model_base: type, model_wrappers: dict[str, Any]) -> None:
        """Wrap Model subclasses defined after instrument() as soon as their class statement runs."""
        instrumentor = self
        had_own = "__init_subclass__" in vars(model_base)
        previous = vars(model_base).get("__init_subclass__")

        def __init_subclass__(cls: type, **kw: Any) -> None:  # noqa: N807
            if previous is not None:
                previous.__get__(None, cls)(**kw)
            else:
                super(model_base, cls).__init_subclass__(**kw)
            try:
                instrumentor._wrap_model_class(cls, model_wrappers)
            except Exception as exc:  # noqa: BLE001
                from ._guard import report_internal_error

                report_internal_error(f"wrapping model class {cls.__name__}", exc)

        model_base.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]
        self._model_hook = (model_base, had_own, previous)
        self._model_hook_installed = True

    def _undo_patches(self) -> None:
        if self._model_hook_installed:
            model_base, had_own, previous = self._model_hook
            if had_own:
                model_base.__init_subclass__ = previous  # type: ignore[assignment]
            else:
                del model_base.__init_subclass__
            self._model_hook_installed = False
        while self._patched:
            owner, name = self._patched.pop()
            unwrap(owner, name)
        while self._globals:
            module, name, original = self._globals.pop()
            setattr(module, name, original)


def _agent_init_wrapper(instrumentor: Instrumentor) -> Any:
    """Accept ``lifecycle_callbacks={...}`` in agent constructors, as smolagents PR #1959 proposed."""

    def init_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        callbacks = kwargs.pop("lifecycle_callbacks", None)
        if callbacks is None:
            return wrapped(*args, **kwargs)
        if not isinstance(callbacks, Mapping):
            raise TypeError("lifecycle_callbacks must be a mapping {LifecycleEvent: callable}")
        checked = [(LifecycleEvent.coerce(k), v) for k, v in callbacks.items()]
        result = wrapped(*args, **kwargs)
        for event, fn in checked:
            instrumentor.callbacks.add(event, fn, agent=instance, blocks_on_error=True)
        return result

    return init_wrapper
