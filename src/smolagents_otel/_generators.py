"""Generator proxies that keep our context current only while the wrapped generator runs."""

from __future__ import annotations

import weakref
from collections.abc import Generator, Iterator
from typing import Any

from opentelemetry import context as otel_context


class Observer:
    """Hooks of a traced generator. Implementations guard their own telemetry errors; an exception
    that escapes ``before_next`` is deliberate (a veto) and stops the generator."""

    finished = False

    def before_next(self) -> None:  # pragma: no cover - default no-op
        return None

    def on_item(self, item: Any) -> None:  # pragma: no cover - default no-op
        return None

    def finish(self, exc: BaseException | None, closed: bool = False) -> BaseException | None:
        """Called exactly once; may return an exception to raise instead of ``exc``."""
        return None

    def abandoned(self) -> None:
        """The proxy was garbage-collected without being finished (never iterated)."""
        if not self.finished:
            self.finish(None, closed=True)


def _finish_once(observer: Observer, exc: BaseException | None, closed: bool = False) -> BaseException | None:
    if observer.finished:
        return None
    replacement = observer.finish(exc, closed)
    observer.finished = True
    return replacement


def _run(inner: Iterator[Any], ctx: otel_context.Context, observer: Observer) -> Generator[Any, Any, Any]:
    to_throw: BaseException | None = None
    while True:
        token = otel_context.attach(ctx)
        try:
            if to_throw is None:
                try:
                    observer.before_next()
                except BaseException as exc:
                    close = getattr(inner, "close", None)
                    if close is not None:
                        close()  # nothing more of the vetoed action may run
                    replacement = _finish_once(observer, exc)
                    raise (replacement or exc) from None
            try:
                if to_throw is None:
                    item = next(inner)
                else:
                    thrown, to_throw = to_throw, None
                    item = inner.throw(thrown)  # type: ignore[attr-defined]
            except StopIteration as stop:
                _finish_once(observer, None)
                return stop.value
            except BaseException as exc:
                replacement = _finish_once(observer, exc)
                if replacement is not None and replacement is not exc:
                    raise replacement from exc
                raise
            observer.on_item(item)
        finally:
            otel_context.detach(token)
        try:
            yield item
        except GeneratorExit:
            token = otel_context.attach(ctx)
            try:
                _finish_once(observer, None, closed=True)
            finally:
                otel_context.detach(token)
            close = getattr(inner, "close", None)
            if close is not None:
                close()
            raise
        except BaseException as exc:  # thrown in by the consumer: forward it to the wrapped generator
            to_throw = exc


def traced_generator(
    inner: Iterator[Any], ctx: otel_context.Context, observer: Observer, watch_abandon: bool = False
) -> Generator[Any, Any, Any]:
    """Iterate ``inner`` with ``ctx`` attached around each step; ``observer`` sees items and the end.

    With ``watch_abandon`` a generator that is dropped without ever being iterated still finishes
    its observer (ends its span) when it is garbage-collected.
    """
    gen = _run(inner, ctx, observer)
    if watch_abandon:
        weakref.finalize(gen, observer.abandoned)
    return gen


def start_traced_generator(
    wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any], ctx: otel_context.Context, observer: Observer
) -> Generator[Any, Any, Any]:
    """Call a generator function with ``ctx`` attached and trace the generator it returns."""
    token = otel_context.attach(ctx)
    try:
        inner = wrapped(*args, **kwargs)
    except BaseException as exc:
        _finish_once(observer, exc)
        raise
    finally:
        otel_context.detach(token)
    return traced_generator(inner, ctx, observer)
