"""Fail-open support: our own errors are logged once per place and never reach the agent."""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)
_seen: set[str] = set()
_lock = threading.Lock()


def report_internal_error(where: str, exc: BaseException) -> None:
    """Log a failure of smolagents-otel's own code: a warning the first time per place, then debug."""
    with _lock:
        first = where not in _seen
        _seen.add(where)
    if first:
        logger.warning(
            "smolagents-otel: internal error in %s; the agent continues untraced at this point (%s: %s)",
            where,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
    else:
        logger.debug("smolagents-otel: internal error in %s again: %r", where, exc)


def reset_reported() -> None:
    """Forget which places already logged (for tests)."""
    with _lock:
        _seen.clear()


def guarded(where: str, fn: Any, *args: Any) -> Any:
    """Call one of our telemetry functions; on failure log (once per place) and return None."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001
        report_internal_error(where, exc)
        return None


def bounded_put(cache: dict[Any, Any], key: Any, value: Any, size: int) -> None:
    """Insert into a small FIFO cache shared by threads; losing an insert to a race is harmless."""
    try:
        if len(cache) >= size:
            del cache[next(iter(cache))]
        cache[key] = value
    except (KeyError, RuntimeError, StopIteration):  # another thread changed the cache meanwhile
        pass
