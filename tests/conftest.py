"""Shared fixtures: an SDK tracer provider into an in-memory exporter, and instrument/uninstrument."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from smolagents_otel import Instrumentor
from smolagents_otel._guard import reset_reported


class Trace:
    """Finished spans with lookups by name and parent."""

    def __init__(self, spans: tuple[ReadableSpan, ...]) -> None:
        self.spans = sorted(spans, key=lambda s: s.start_time or 0)
        self.by_id = {s.context.span_id: s for s in self.spans}

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"expected one span {name!r}, got {[s.name for s in self.spans]}"
        return found[0]

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        return self.by_id.get(span.parent.span_id) if span.parent is not None else None

    def parent_name(self, span: ReadableSpan) -> str | None:
        p = self.parent(span)
        return p.name if p is not None else None

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.spans if s.parent is not None and s.parent.span_id == span.context.span_id]

    def tree(self) -> list[tuple[int, str]]:
        """(depth, name) in start order, depth-first."""
        out: list[tuple[int, str]] = []

        def walk(span: ReadableSpan, depth: int) -> None:
            out.append((depth, span.name))
            for child in self.children(span):
                walk(child, depth + 1)

        for root in [s for s in self.spans if self.parent(s) is None]:
            walk(root, 0)
        return out

    def event_names(self, span: ReadableSpan) -> list[str]:
        return [e.name for e in span.events]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


@pytest.fixture
def instrumentor() -> Iterator[Instrumentor]:
    inst = Instrumentor()
    inst.uninstrument()
    inst.callbacks.clear()
    reset_reported()
    yield inst
    inst.uninstrument()
    inst.callbacks.clear()


@pytest.fixture
def instrument(instrumentor: Instrumentor, provider: TracerProvider) -> Any:
    def _instrument(**kwargs: Any) -> Instrumentor:
        kwargs.setdefault("tracer_provider", provider)
        instrumentor.instrument(**kwargs)
        return instrumentor

    return _instrument


@pytest.fixture
def get_trace(exporter: InMemorySpanExporter) -> Any:
    def _get() -> Trace:
        return Trace(exporter.get_finished_spans())

    return _get
