#!/usr/bin/env python
"""What-if runs for the overhead proposals: each proposal is emulated by monkeypatching smolagents-otel
in this process only (src/ is not touched), then measured with bench.py's interleaved rounds.

    python benchmarks/whatif.py            # about 2-3 minutes
    python benchmarks/whatif.py --quick

Variants (all with the same SDK provider set-up as bench.py):

    b          smolagents-otel spans only, as it is
    b+P1       P1: redaction only runs its slow regexes when a cheap necessary condition holds
               (same output by construction; see fast_redact)
    b+P1+P2    P2: P1 + redaction results cached per string + model input messages redacted
               per message before JSON encoding, not the whole JSON blob every call
    b+P1+P2+P4 P4: P1+P2 + environment secrets re-read at most once a second, not on every run
    b-noredact redact_secrets=False (upper bound of what faster redaction can save)
    b-nocontent capture_content=False (what is left without content: the structural cost)
    d          NoOpTracerProvider, as it is
    d+P3       P3: every wrapper returns ``wrapped(*args, **kwargs)`` at once when the tracer is a
               NoOpTracer and there are no callbacks, no log sink and no metrics

This file pins its emulations to the smolagents-otel source of the day it was written; once the
proposals land in src/ it has served its purpose.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402
from opentelemetry import trace  # noqa: E402

from smolagents_otel import (  # noqa: E402
    Config,
    Instrumentor,
    wrap_models,  # noqa: E402
)
from smolagents_otel import instrumentor as inst_module  # noqa: E402
from smolagents_otel import redaction as R  # noqa: E402
from smolagents_otel import serialize as S  # noqa: E402

# ----------------------------------------------------------------------------------------- P1
# P1 applies to the redaction.py that has one combined ``_KNOWN`` regex; a newer src/ may already
# have its own fast path, and then P1 is skipped and P2 caches around src's own __call__.
_ORIGINAL_CALL = R.Redactor.__call__
HAVE_OLD_REDACTION = hasattr(R, "_KNOWN") and hasattr(R, "_PATTERNS")
if HAVE_OLD_REDACTION:
    _CASE_SENSITIVE = [re.compile(p) for p in R._PATTERNS if not p.startswith("(?i")]
# Necessary conditions, checked on text.casefold(), for the two case-insensitive patterns and for
# the assignment pattern: when none holds, the slow regex cannot match and is skipped.
_CASELESS_HINT = re.compile(r"bearer\s+[a-z0-9._~+/=\-]{8}|basic\s+[a-z0-9+/]{12}")
_ASSIGN_WORDS = ("key", "secret", "token", "passw")
_ASSIGN_HINT = re.compile(r"(?:key|secret|token|passw(?:or)?d)[\"']?\s*[:=]")


def _assignment_repl(match: re.Match[str]) -> str:
    return match.group(1) + R.REDACTED


def fast_redact(text: str) -> str:
    """Same result as ``_ASSIGNMENT.sub(_KNOWN.sub(text))``; the slow regexes run only when needed."""
    folded = text.casefold()
    if any(p.search(text) for p in _CASE_SENSITIVE) or _CASELESS_HINT.search(folded):
        text = R._KNOWN.sub(R.REDACTED, text)
        folded = text.casefold()
    if any(w in folded for w in _ASSIGN_WORDS) and _ASSIGN_HINT.search(folded):
        text = R._ASSIGNMENT.sub(_assignment_repl, text)
    return text


def p1_call(self: R.Redactor, text: str) -> str:
    if not self.enabled or not text:
        return text
    if self._env_key is None:
        self.refresh_environment()
    if self._env_re is not None:
        text = self._env_re.sub(R.REDACTED, text)
    return fast_redact(text)


_BASE_CALL = p1_call if HAVE_OLD_REDACTION else _ORIGINAL_CALL


# ----------------------------------------------------------------------------------------- P2
_CACHE_MIN_CHARS = 256
_CACHE_MAX_CHARS = 4_000_000  # budget: total characters of cached inputs


def p2_call(self: R.Redactor, text: str) -> str:
    if not self.enabled or not text:
        return text
    if len(text) < _CACHE_MIN_CHARS:
        return _BASE_CALL(self, text)
    cache = self.__dict__.setdefault("_cache", {})
    hit = cache.get(text)
    if hit is not None:
        return hit
    result = _BASE_CALL(self, text)
    size = self.__dict__.get("_cache_chars", 0)
    if size + len(text) > _CACHE_MAX_CHARS:
        cache.clear()
        size = 0
    cache[text] = result
    self._cache_chars = size + len(text)  # type: ignore[attr-defined]
    return result


def _no_redaction(text: str) -> str:
    return text


def p2_messages_to_json(messages: Any, limit: int, redact: Any) -> str:
    """messages_to_json with each message's content (and tool-call arguments) redacted on its own,
    through the cache, and the JSON only cut to size afterwards (no second scan)."""
    try:
        items = list(messages) if not isinstance(messages, list) else messages
    except Exception:  # noqa: BLE001
        return S.to_text(messages, limit, redact)
    kept: list[dict[str, Any]] = []
    used = 0
    for message in reversed(items):
        try:
            entry = S._message_dict(message, limit)
        except Exception:  # noqa: BLE001
            entry = {"role": "unknown", "content": S.safe_str(message, limit)}
        size = len(entry["content"]) + 32
        if kept and used + size > limit:
            break
        kept.append(entry)
        used += size
    omitted = len(items) - len(kept)
    kept.reverse()
    for entry in kept:
        entry["content"] = redact(entry["content"])
        for call in entry.get("tool_calls") or ():
            call["arguments"] = redact(call["arguments"])
    if omitted:
        kept.insert(0, {"role": "system", "content": f"[{omitted} earlier messages omitted]"})
    return S.clean_text(json.dumps(kept, ensure_ascii=False, default=str), limit, _no_redaction)


# ----------------------------------------------------------------------------------------- P4
_original_refresh = R.Redactor.refresh_environment


def p4_refresh(self: R.Redactor) -> None:
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


def _with_fast_path(factory: Any) -> Any:
    def make(rt: Any, *args: Any) -> Any:
        inner = factory(rt, *args)
        noop = isinstance(rt.tracer, trace.NoOpTracer)

        def wrapper(wrapped: Any, instance: Any, a: tuple[Any, ...], kw: dict[str, Any]) -> Any:
            if noop and not rt.registry._by_event and not rt.sink_logs and rt.metrics is None:
                return wrapped(*a, **kw)
            return inner(wrapped, instance, a, kw)

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
    p1: bool = False,
    p2: bool = False,
    p3: bool = False,
    p4: bool = False,
    noop: bool = False,
    **instrument_kwargs: Any,
) -> tuple[Any, Any]:
    def setup(provider: Any) -> Any:
        patches = Patches()
        if p1:
            patches.set(R.Redactor, "__call__", p1_call)
        if p2:
            patches.set(R.Redactor, "__call__", p2_call)
            patches.set(S, "messages_to_json", p2_messages_to_json)
            patches.set(wrap_models, "messages_to_json", p2_messages_to_json)
        if p4:
            patches.set(R.Redactor, "refresh_environment", p4_refresh)
        if p3:
            for name in _FACTORIES:
                patches.set(inst_module, name, _with_fast_path(getattr(inst_module, name)))
        Instrumentor().instrument(
            tracer_provider=trace.NoOpTracerProvider() if noop else provider, **instrument_kwargs
        )
        return patches

    def teardown(patches: Any) -> None:
        Instrumentor().uninstrument()
        patches.restore()

    return setup, teardown


VARIANTS = {
    "b+P1": ("b + P1 fast redaction", variant(p1=True, event_sinks=()), True),
    "b+P1+P2": ("b + P1 + P2 cached per-message redaction", variant(p2=True, event_sinks=()), True),
    "b+P1+P2+P4": ("b + P1 + P2 + P4 env TTL", variant(p2=True, p4=True, event_sinks=()), True),
    "b-noredact": (
        "b, redact_secrets=False",
        variant(config=Config(redact_secrets=False), event_sinks=()),
        True,
    ),
    "b-nocontent": ("b, capture_content=False", variant(capture_content=False, event_sinks=()), True),
    "c+P1+P2+P4": ("c + P1 + P2 + P4", None, True),
    "d+P3": ("d + P3 no-op fast path", variant(p3=True, noop=True), False),
}


def _c_variant() -> tuple[Any, Any]:
    setup_b, teardown_b = variant(p2=True, p4=True)

    def setup(provider: Any) -> Any:
        patches = setup_b(provider)
        return patches, [Instrumentor().on(ev, lambda e: None) for ev in bench.LifecycleEvent]

    def teardown(state: Any) -> None:
        patches, handles = state
        for handle in handles:
            handle.remove()
        teardown_b(patches)

    return setup, teardown


def main() -> int:
    parser = argparse.ArgumentParser(description="what-if runs for the overhead proposals")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--runs", type=int)
    parser.add_argument(
        "--profile", metavar="VARIANT:WORKLOAD", help="cProfile one variant, e.g. b-nocontent:tool10"
    )
    parser.add_argument("--profile-runs", type=int, default=20)
    args = parser.parse_args()
    rounds = args.rounds or (6 if args.quick else 30)
    runs = args.runs or 2

    if not HAVE_OLD_REDACTION:  # src/ has its own fast redaction already: P1 does not apply
        VARIANTS.pop("b+P1", None)
    for key, (label, pair, uses_sdk) in VARIANTS.items():
        setup, teardown = _c_variant() if key == "c+P1+P2+P4" else pair
        bench.CONFIGS[key] = bench.Config(key, label, setup, teardown, uses_sdk)
    if args.profile:
        bench.profile(args.profile, args.profile_runs, 45)
        return 0
    keys = ["a", "b", *[k for k in VARIANTS if VARIANTS[k][2]], "c", "e", "d", "d+P3", "e-noSDK"]
    bench.TIMED_CONFIGS = [k for k in keys if bench.CONFIGS[k].available]
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
        f"\nprocess CPU time; medians of {rounds} rounds x {runs} runs; bare-SDK floor {floor_us:.1f} us/span"
    )
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
        print()
        print(
            bench.render_plain(
                f"{wname}: {workload.description}",
                ["config", "over/step us", "IQR", "vs OpenInference", "over/span us", "x floor"],
                rows,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
