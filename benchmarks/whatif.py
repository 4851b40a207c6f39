#!/usr/bin/env python
"""What-if runs: each proposal or ablation is emulated by monkeypatching smolagents-otel in this process
only (src/ is not touched), then measured with bench.py's interleaved rounds (process CPU time, per
round the fastest of 2 runs, median over rounds of the difference to the uninstrumented run).

    python benchmarks/whatif.py                  # about 2 minutes
    python benchmarks/whatif.py --quick
    python benchmarks/whatif.py --profile b-lean:code10

Ablations of (b) (spans only), each removing one kind of work; b minus a variant = what that work costs:

    b-nocontent   capture_content=False: no input/output text on spans
    b-noredact    redact_secrets=False
    b-noemit      Runtime.emit does nothing (the lifecycle plumbing when no sink or callback wants it)
    b-4attrs      Runtime.start_span passes only the first 4 attributes (the floor span's count)
    b-norefresh   P4: Redactor.refresh_environment re-reads os.environ at most once a second
    b-lean        all four above at once: what is left is wrappers, context, state and one bare span
    b-passthru    every wrapper calls straight through (the price of the wrapt interception alone)
    b-noproc      a provider without span processor (spans record; no batching, no export)
    min           the in-situ floor: each traced call makes one bare span (4 attributes, 1 event), current
                  while the call runs, and nothing else: as many spans as (b), at the least possible cost

No-SDK variants: d as it is; d+P3, every wrapper calls straight through when the tracer is a
NoOpTracer and there are no callbacks, no log sink and no metrics (skipped when src/ has its own
``Runtime.idle`` fast path); d+P4.
"""

from __future__ import annotations

import argparse
import contextvars
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402
from opentelemetry import context as otel_context  # noqa: E402
from opentelemetry import trace  # noqa: E402

from smolagents_otel import Config, Instrumentor  # noqa: E402
from smolagents_otel import instrumentor as inst_module  # noqa: E402
from smolagents_otel import redaction as R  # noqa: E402
from smolagents_otel import runtime as runtime_module  # noqa: E402

# ----------------------------------------------------------------------------------------- P4
_original_refresh = R.Redactor.refresh_environment


def p4_refresh(self: R.Redactor) -> None:
    """Re-read the environment at most once a second (today: on every agent run)."""
    now = time.monotonic()
    if self._env_key is not None and now - self.__dict__.get("_env_checked", 0.0) < 1.0:
        return
    self._env_checked = now  # type: ignore[attr-defined]
    _original_refresh(self)


# ----------------------------------------------------------------------------------------- P3
_FACTORIES = (
    "make_run_wrapper",
    "make_step_wrapper",
    "make_planning_wrapper",
    "make_max_steps_wrapper",
    "make_model_wrapper",
    "make_tool_wrapper",
    "make_execute_tool_call_wrapper",
    "make_managed_agent_wrapper",
    "make_executor_wrapper",
)
SRC_HAS_IDLE = hasattr(runtime_module.Runtime, "idle")


def _with_fast_path(factory: Any, always: bool = False) -> Any:
    """The wrapper factory, with a check in front that calls straight through when nothing would be
    recorded (or, with ``always``, every time: the cost of the interception alone)."""

    def make(rt: Any, *args: Any) -> Any:
        inner = factory(rt, *args)
        noop = isinstance(rt.tracer, trace.NoOpTracer)

        def wrapper(wrapped: Any, instance: Any, a: tuple[Any, ...], kw: dict[str, Any]) -> Any:
            if always or (noop and not rt.registry._by_event and not rt.sink_logs and rt.metrics is None):
                return wrapped(*a, **kw)
            return inner(wrapped, instance, a, kw)

        return wrapper

    return make


# ----------------------------------------------------------------------------------------- ablations
def _no_emit(self: Any, *args: Any, **kwargs: Any) -> None:
    return None


_original_start_span = runtime_module.Runtime.start_span


def _four_attributes(self: Any, name: str, attributes: dict[str, Any], parent: Any = None) -> Any:
    if len(attributes) > 4:
        attributes = dict(list(attributes.items())[:4])
    return _original_start_span(self, name, attributes, parent)


# ----------------------------------------------------------------------------------------- in-situ floor
_IN_TOOL_CALL = contextvars.ContextVar("whatif_in_tool_call", default=False)
_SPAN_FACTORIES = {  # factory -> what its bare span stands for (None: call straight through)
    "make_run_wrapper": "run",
    "make_step_wrapper": "step",
    "make_model_wrapper": "model",
    "make_executor_wrapper": "code",
    "make_execute_tool_call_wrapper": "tool_call",
    "make_tool_wrapper": "tool",
    "make_planning_wrapper": None,
    "make_max_steps_wrapper": None,
    "make_managed_agent_wrapper": None,
}


def _bare_span_factory(kind: str | None) -> Any:
    """A wrapper that only makes one bare span (the floor's 4 attributes and 1 event), current while
    the wrapped call runs: the cheapest instrumentation that makes as many spans as smolagents-otel."""

    def make(rt: Any, *args: Any) -> Any:
        tracer = rt.tracer

        def wrapper(wrapped: Any, instance: Any, a: tuple[Any, ...], kw: dict[str, Any]) -> Any:
            if kind is None or (kind == "tool" and _IN_TOOL_CALL.get()):
                return wrapped(*a, **kw)
            span = tracer.start_span(kind, attributes=bench.FLOOR_ATTRIBUTES)
            token = otel_context.attach(trace.set_span_in_context(span))
            inner = _IN_TOOL_CALL.set(True) if kind == "tool_call" else None
            try:
                return wrapped(*a, **kw)
            finally:
                if inner is not None:
                    _IN_TOOL_CALL.reset(inner)
                otel_context.detach(token)
                span.add_event("floor.event", bench.FLOOR_EVENT_ATTRIBUTES)
                span.end()

        return wrapper

    return make


# ----------------------------------------------------------------------------------------- variants
class Patches:
    def __init__(self) -> None:
        self.undo: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self.undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def restore(self) -> None:
        while self.undo:
            owner, name, value = self.undo.pop()
            setattr(owner, name, value)


def variant(
    *,
    p3: bool = False,
    p4: bool = False,
    no_emit: bool = False,
    four_attrs: bool = False,
    passthru: bool = False,
    noop: bool = False,
    callbacks: bool = False,
    no_idle: bool = False,
    bare_provider: bool = False,
    bare_spans: bool = False,
    **instrument_kwargs: Any,
) -> tuple[Any, Any]:
    def setup(provider: Any) -> Any:
        patches = Patches()
        if p4:
            patches.set(R.Redactor, "refresh_environment", p4_refresh)
        if no_emit:
            patches.set(runtime_module.Runtime, "emit", _no_emit)
        if four_attrs:
            patches.set(runtime_module.Runtime, "start_span", _four_attributes)
        if no_idle and SRC_HAS_IDLE:
            patches.set(runtime_module.Runtime, "idle", lambda self: False)
        if bare_provider:  # spans record, but no span processor: no batching, no export
            from opentelemetry.sdk.trace import TracerProvider

            provider = TracerProvider()
        if bare_spans:
            for name, kind in _SPAN_FACTORIES.items():
                patches.set(inst_module, name, _bare_span_factory(kind))
        if p3 or passthru:
            for name in _FACTORIES:
                patches.set(inst_module, name, _with_fast_path(getattr(inst_module, name), always=passthru))
        Instrumentor().instrument(
            tracer_provider=trace.NoOpTracerProvider() if noop else provider, **instrument_kwargs
        )
        handles = [Instrumentor().on(ev, lambda e: None) for ev in bench.LifecycleEvent] if callbacks else []
        return patches, handles

    def teardown(state: Any) -> None:
        patches, handles = state
        for handle in handles:
            handle.remove()
        Instrumentor().uninstrument()
        patches.restore()

    return setup, teardown


_B = {"event_sinks": ()}
# key: (label, (setup, teardown), uses the SDK provider)
VARIANTS: dict[str, tuple[str, tuple[Any, Any], bool]] = {
    "b-nocontent": ("b, capture_content=False", variant(capture_content=False, **_B), True),
    "b-noredact": ("b, redact_secrets=False", variant(config=Config(redact_secrets=False), **_B), True),
    "b-noemit": ("b, Runtime.emit stubbed", variant(no_emit=True, **_B), True),
    "b-4attrs": ("b, 4 attributes at span start", variant(four_attrs=True, **_B), True),
    "b-norefresh": ("b + P4 env re-read at most 1/s", variant(p4=True, **_B), True),
    "b-lean": (
        "b, all four ablations",
        variant(capture_content=False, no_emit=True, four_attrs=True, p4=True, **_B),
        True,
    ),
    "b-passthru": ("b, wrappers call straight through", variant(passthru=True, **_B), True),
    "min": ("in-situ floor: 1 bare span per traced call", variant(bare_spans=True, **_B), True),
    "b-noproc": ("b, provider without span processor", variant(bare_provider=True, **_B), True),
    "c+P4": ("c + P4", variant(p4=True, callbacks=True), True),
    "d-noidle": ("d without the idle() fast path", variant(noop=True, no_idle=True), False),
    "d+P3": ("d + P3 no-op fast path", variant(p3=True, noop=True), False),
    "d+P4": ("d + P4", variant(p4=True, noop=True), False),
}


def main() -> int:
    parser = argparse.ArgumentParser(description="what-if runs for the overhead proposals")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--runs", type=int)
    parser.add_argument(
        "--profile", metavar="VARIANT:WORKLOAD", help="cProfile one variant, e.g. b-nocontent:tool10"
    )
    parser.add_argument("--profile-runs", type=int, default=20)
    parser.add_argument("--only", help="comma-separated configurations to time (a, e, e-noSDK always)")
    args = parser.parse_args()
    rounds = args.rounds or (6 if args.quick else 30)
    runs = args.runs or 2

    if SRC_HAS_IDLE:  # src/ has its own no-op fast path (Runtime.idle): P3 is already in
        VARIANTS.pop("d+P3", None)
    for key, (label, (setup, teardown), uses_sdk) in VARIANTS.items():
        bench.CONFIGS[key] = bench.Config(key, label, setup, teardown, uses_sdk)
    if args.profile:
        bench.profile(args.profile, args.profile_runs, 45)
        return 0
    keys = ["a", "b", *[k for k in VARIANTS if VARIANTS[k][2]], "c", "e", "d", "d+P3", "d+P4", "d-noidle"]
    keys.append("e-noSDK")
    if args.only:
        wanted = {"a", "e", "e-noSDK", *args.only.split(",")}
        keys = [k for k in keys if k in wanted]
    bench.TIMED_CONFIGS = [k for k in keys if k in bench.CONFIGS and bench.CONFIGS[k].available]
    results = bench.Results(settings={"rounds": rounds, "runs": runs})
    bench.capture_pass(results)  # spans per run, for every variant
    provider, exporter = bench.sdk_provider()
    started = time.perf_counter()
    for r in range(rounds):
        cpu_ns, wall_ns, _ = bench.measure_floor(provider, 400)
        results.floor_cpu_ns.append(cpu_ns)
        bench.timed_round(results, r, provider, exporter, runs)
        print(f"[{time.perf_counter() - started:6.1f}s] round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    provider.shutdown()
    floor_us = bench.median(results.floor_cpu_ns) / 1e3
    print(
        f"\nprocess CPU time; per round the fastest of {runs} runs, median over {rounds} rounds of the "
        f"difference to (a); bare-SDK floor {floor_us:.1f} us/span; src {bench.source_state()}"
    )
    table: dict[str, Any] = {}
    for wname, workload in bench.WORKLOADS.items():
        ref = {
            k: bench.median(results.overhead[wname][k]["cpu"]) / 1e3 / workload.steps
            for k in ("e", "e-noSDK")
        }
        rows = []
        for key in bench.TIMED_CONFIGS:
            if key == "a":
                continue
            per_round = results.overhead[wname][key]["cpu"]
            step_us = bench.median(per_round) / 1e3 / workload.steps
            spans = results.capture[wname].get(key, {}).get("spans", 0)
            vs = "e-noSDK" if key.startswith(("d", "e-noSDK")) else "e"
            rows.append(
                [
                    f"{key}: {bench.CONFIGS[key].label}",
                    f"{step_us:.0f}",
                    "{:.0f}..{:.0f}".format(*[v / 1e3 / workload.steps for v in bench._iqr(per_round)]),
                    f"{100 * step_us / ref[vs]:.0f}% of ({vs})" if key not in ("e", "e-noSDK") else "-",
                    f"{step_us * workload.steps / spans:.1f}" if spans else "-",
                    f"{step_us * workload.steps / spans / floor_us:.1f}x" if spans else "-",
                ]
            )
        table[wname] = rows
        print()
        print(
            bench.render_plain(
                f"{wname}: {workload.description}",
                ["config", "over/step us", "IQR", "vs OpenInference", "over/span us", "x floor"],
                rows,
            )
        )
    out = bench.RESULTS_DIR / "whatif.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "source": bench.source_state(),
                "floor_us": floor_us,
                "tables": table,
                "overhead_ns_per_round": results.overhead,
            },
            indent=2,
        )
    )
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
