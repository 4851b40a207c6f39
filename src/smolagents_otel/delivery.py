"""Delivery accounting for span exporters: count what was sent and dropped, log once, not per batch."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

logger = logging.getLogger(__name__)


class CountingSpanExporter(SpanExporter):
    """Wraps an exporter: ``delivered``/``dropped`` span counts; one warning when delivery starts
    failing, one info line when it recovers, a summary at shutdown. Never raises into the SDK."""

    def __init__(self, inner: SpanExporter, destination: str) -> None:
        self.inner = inner
        self.destination = destination
        self.delivered = 0
        self.dropped = 0
        self.failures = 0
        self._failing = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # noqa: BLE001 - an exporter bug must not kill the export thread
            logger.debug("smolagents-otel: exporter raised %r", exc)
            result = SpanExportResult.FAILURE
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.delivered += len(spans)
                recovered, self._failing = self._failing, False
                failing_now = False
            else:
                self.dropped += len(spans)
                self.failures += 1
                failing_now, self._failing = not self._failing, True
                recovered = False
        if failing_now:
            logger.warning(
                "smolagents-otel: cannot deliver spans to %s; dropping them and retrying with later spans "
                "(the agent is not affected; a summary follows at shutdown)",
                self.destination,
            )
        elif recovered:
            logger.info(
                "smolagents-otel: delivery to %s works again (%d spans dropped so far)",
                self.destination,
                self.dropped,
            )
        return result

    def shutdown(self) -> None:
        if self.dropped:
            logger.warning(
                "smolagents-otel: %d spans could not be delivered to %s (%d delivered)",
                self.dropped,
                self.destination,
                self.delivered,
            )
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush: Any = getattr(self.inner, "force_flush", None)
        return bool(flush(timeout_millis)) if flush is not None else True
