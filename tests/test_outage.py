"""Backend outages: the agent is unaffected, drops are counted and logged once, delivery resumes,
flushing at exit is bounded. Each case prints its figure (runs completed, spans delivered/dropped)."""

from __future__ import annotations

import json
import logging
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from agents_fixtures import THREE_STEP_CODE, code_agent
from stub_servers import stop_process

from smolagents_otel.delivery import CountingSpanExporter
from smolagents_otel.export_setup import _flush_and_shutdown, configure

SERVER = Path(__file__).parent / "servers" / "otlp_faulty.py"
FIGURES: dict[str, dict] = {}


def start(mode: str, port: int = 0):
    proc = subprocess.Popen([sys.executable, str(SERVER), mode, str(port)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    return proc, int(line.split()[1])


def stop(proc) -> None:
    stop_process(proc, signal.SIGKILL)  # abruptly: the backend "goes away"


def stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return json.loads(response.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def counting_exporter(provider) -> CountingSpanExporter:
    processor = provider._active_span_processor._span_processors[0]  # test-only look at what configure built
    exporter = processor._batch_processor._exporter
    assert isinstance(exporter, CountingSpanExporter)
    return exporter


def timed_runs(n: int = 3) -> tuple[list[float], list]:
    times, answers = [], []
    for _ in range(n):
        start_time = time.perf_counter()
        answers.append(code_agent(THREE_STEP_CODE).run("compute"))
        times.append(time.perf_counter() - start_time)
    return times, answers


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    monkeypatch.setenv("OTEL_BSP_EXPORT_TIMEOUT", "1000")


@pytest.mark.parametrize("fault", ["refused", "hang", "500", "429"])
def test_backend_fault_does_not_touch_the_agent(fault, instrumentor, short_timeouts, caplog):
    healthy_proc, healthy_port = start("ok")
    try:
        healthy = configure("otlp", endpoint=f"http://127.0.0.1:{healthy_port}/v1/traces", set_global=False)
        instrumentor.instrument(tracer_provider=healthy)
        healthy_times, _ = timed_runs()
        healthy.force_flush()
        instrumentor.uninstrument()
        assert stats(healthy_port)["spans"] == 3 * 13
    finally:
        stop(healthy_proc)

    proc = None
    if fault == "refused":
        port = free_port()
    else:
        proc, port = start(fault)
    try:
        provider = configure("otlp", endpoint=f"http://127.0.0.1:{port}/v1/traces", set_global=False)
        instrumentor.instrument(tracer_provider=provider)
        with caplog.at_level(logging.INFO):
            times, answers = [], []
            for _ in range(3):
                t, a = timed_runs(1)
                times += t
                answers += a
                provider.force_flush(3000)  # one failing batch per run
            flush_start = time.perf_counter()
            _flush_and_shutdown(provider, 2000)
            flush_seconds = time.perf_counter() - flush_start
        exporter = counting_exporter(provider)
    finally:
        if proc is not None:
            stop(proc)
    assert answers == [26, 26, 26]
    # the agent's run time is the healthy one: export happens off the agent's thread
    assert statistics.median(times) <= statistics.median(healthy_times) * 1.5 + 0.05
    assert flush_seconds < 3.0
    assert exporter.delivered == 0 and exporter.dropped == 3 * 13
    ours = [
        r
        for r in caplog.records
        if r.name == "smolagents_otel.delivery" and "cannot deliver" in r.getMessage()
    ]
    assert len(ours) == 1  # logged once, not per batch or span
    summary = [r for r in caplog.records if "could not be delivered" in r.getMessage()]
    assert len(summary) == 1 and "39 spans" in summary[0].getMessage()
    FIGURES[fault] = {
        "runs": len(answers),
        "delivered": exporter.delivered,
        "dropped": exporter.dropped,
        "median_run_ms": round(statistics.median(times) * 1000, 1),
        "healthy_median_run_ms": round(statistics.median(healthy_times) * 1000, 1),
        "exit_flush_s": round(flush_seconds, 2),
    }
    print(f"\noutage figure {fault}: {FIGURES[fault]}")


def test_backend_goes_away_mid_run_and_comes_back(instrumentor, short_timeouts, caplog):
    proc, port = start("ok")
    provider = configure("otlp", endpoint=f"http://127.0.0.1:{port}/v1/traces", set_global=False)
    instrumentor.instrument(tracer_provider=provider)
    exporter = counting_exporter(provider)
    with caplog.at_level(logging.INFO):
        assert code_agent(THREE_STEP_CODE).run("one") == 26
        provider.force_flush(3000)
        assert stats(port)["spans"] == 13
        stop(proc)  # the backend goes away
        assert code_agent(THREE_STEP_CODE).run("two") == 26
        provider.force_flush(3000)
        proc, _ = start("ok", port)  # and comes back on the same port
        try:
            assert code_agent(THREE_STEP_CODE).run("three") == 26
            provider.force_flush(3000)
            after = stats(port)
        finally:
            stop(proc)
            _flush_and_shutdown(provider, 2000)
    assert after["spans"] == 13 and after["names"].count("invoke_agent CodeAgent") == 1
    assert exporter.delivered == 26 and exporter.dropped == 13
    assert any("works again" in r.getMessage() for r in caplog.records)
    FIGURES["goes away and back"] = {"runs": 3, "delivered": exporter.delivered, "dropped": exporter.dropped}
    print(f"\noutage figure goes-away-and-back: {FIGURES['goes away and back']}")
