"""Soak: many traced agent runs in a row; prints memory (tracemalloc, RSS) and thread count over time.

    python benchmarks/soak.py --runs 10000

Flat numbers mean nothing accumulates per run: no span, context, callback or thread is kept.
"""

from __future__ import annotations

import argparse
import gc
import logging
import resource
import sys
import threading
import time
import tracemalloc

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from smolagents import CodeAgent, tool

from smolagents_otel import Instrumentor, LifecycleEvent
from smolagents_otel.testing import ScriptedModel


class DropExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


@tool
def add(a: int, b: int) -> int:
    """Adds.

    Args:
        a: first
        b: second
    """
    return a + b


REPLIES = [
    "Thought: a\n<code>\nx = add(1, 2)\nprint(x)\n</code>",
    "Thought: b\n<code>\nfinal_answer(x * 2)\n</code>",
]


def one_run() -> object:
    agent = CodeAgent(tools=[add], model=ScriptedModel(REPLIES), verbosity_level=-1)
    return agent.run("soak")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--every", type=int, default=1000, help="print a line every N runs")
    parser.add_argument("--uninstrumented", action="store_true", help="baseline: smolagents alone")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    instrumentor = Instrumentor()
    if not args.uninstrumented:
        instrumentor.instrument(tracer_provider=provider)
        for event in LifecycleEvent:
            instrumentor.on(event, lambda e: None)

    for _ in range(200):  # warm-up: imports, caches, pools
        one_run()
    provider.force_flush()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    rows = []
    header = ("runs", "heap growth KB", "B/run", "max RSS MB", "threads", "runs/s")
    sys.stdout.write("{:>7} {:>15} {:>8} {:>11} {:>8} {:>8}\n".format(*header))
    for i in range(1, args.runs + 1):
        assert one_run() == 6
        if i % args.every == 0:
            provider.force_flush()  # the export queue is not a leak: empty it before measuring
            gc.collect()
            current = tracemalloc.get_traced_memory()[0]
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rate = i / (time.perf_counter() - start)
            rows.append((i, current - base, threading.active_count()))
            sys.stdout.write(
                f"{i:>7} {(current - base) / 1024:>15.1f} {(current - base) / i:>8.1f} {rss:>11.1f} "
                f"{threading.active_count():>8} {rate:>8.0f}\n"
            )
    tracemalloc.stop()
    if not args.uninstrumented:
        instrumentor.uninstrument()
    provider.shutdown()
    first_growth, last_growth = rows[0][1], rows[-1][1]
    per_run_after_first = (last_growth - first_growth) / max(1, rows[-1][0] - rows[0][0])
    sys.stdout.write(
        f"growth per run after the first {rows[0][0]} runs: {per_run_after_first:.1f} B; "
        f"threads first/last: {rows[0][2]}/{rows[-1][2]}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
