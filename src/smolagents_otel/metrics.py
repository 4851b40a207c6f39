"""The metrics we record (GenAI client metrics plus agent/tool/veto/callback counts).

Instruments exist only when a meter provider was given to ``instrument()`` or an SDK meter provider
is set globally: with none, recording is a single ``None`` check.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics as otel_metrics

from . import attributes as A
from .version import __version__

_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304]
_STEP_BUCKETS = [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50]


def _sdk_meter_provider_is_set() -> bool:
    try:
        from opentelemetry.sdk.metrics import MeterProvider
    except ImportError:  # pragma: no cover - the SDK is a dependency
        return False
    return isinstance(otel_metrics.get_meter_provider(), MeterProvider)


class Metrics:
    """Holds the instruments; each ``record_*`` is cheap and never raises into the agent."""

    def __init__(self, meter_provider: Any) -> None:
        meter = otel_metrics.get_meter("smolagents_otel", __version__, meter_provider=meter_provider)
        self.operation_duration = meter.create_histogram(
            A.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.token_usage = meter.create_histogram(
            A.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.time_to_first_chunk = meter.create_histogram(
            A.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time to receive the first chunk of a streamed response",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.run_duration = meter.create_histogram(
            A.METRIC_RUN_DURATION,
            unit="s",
            description="Duration of an agent run",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.run_steps = meter.create_histogram(
            A.METRIC_RUN_STEPS,
            unit="{step}",
            description="Action steps per agent run",
            explicit_bucket_boundaries_advisory=_STEP_BUCKETS,
        )
        self.tool_calls = meter.create_counter(A.METRIC_TOOL_CALLS, unit="{call}", description="Tool calls")
        self.tool_errors = meter.create_counter(
            A.METRIC_TOOL_ERRORS, unit="{error}", description="Tool calls that raised"
        )
        self.vetoes = meter.create_counter(
            A.METRIC_VETOES, unit="{veto}", description="Actions vetoed by a callback"
        )
        self.callback_errors = meter.create_counter(
            A.METRIC_CALLBACK_ERRORS, unit="{error}", description="Lifecycle callbacks that raised"
        )

    @classmethod
    def create(cls, meter_provider: Any) -> Metrics | None:
        if meter_provider is None and not _sdk_meter_provider_is_set():
            return None
        return cls(meter_provider)

    def model_call(
        self,
        model: str,
        duration_s: float,
        input_tokens: int | None,
        output_tokens: int | None,
        error_type: str | None,
        ttfc_s: float | None,
    ) -> None:
        attrs = {
            A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
            A.GEN_AI_REQUEST_MODEL: model,
            A.GEN_AI_PROVIDER_NAME: A.PROVIDER_SMOLAGENTS,
        }
        if error_type:
            attrs[A.ERROR_TYPE] = error_type
        self.operation_duration.record(duration_s, attrs)
        base = {
            A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
            A.GEN_AI_REQUEST_MODEL: model,
            A.GEN_AI_PROVIDER_NAME: A.PROVIDER_SMOLAGENTS,
        }
        if input_tokens is not None:
            self.token_usage.record(input_tokens, {**base, A.GEN_AI_TOKEN_TYPE: "input"})
        if output_tokens is not None:
            self.token_usage.record(output_tokens, {**base, A.GEN_AI_TOKEN_TYPE: "output"})
        if ttfc_s is not None:
            self.time_to_first_chunk.record(ttfc_s, base)

    def run(self, agent_name: str, duration_s: float, finish_reason: str, steps: int) -> None:
        self.run_duration.record(
            duration_s, {A.GEN_AI_AGENT_NAME: agent_name, A.FINISH_REASON: finish_reason}
        )
        self.run_steps.record(steps, {A.GEN_AI_AGENT_NAME: agent_name})

    def tool(self, tool_name: str, error_type: str | None) -> None:
        self.tool_calls.add(1, {A.GEN_AI_TOOL_NAME: tool_name})
        if error_type:
            self.tool_errors.add(1, {A.GEN_AI_TOOL_NAME: tool_name, A.ERROR_TYPE: error_type})

    def veto(self, agent_name: str, event: str) -> None:
        self.vetoes.add(1, {A.GEN_AI_AGENT_NAME: agent_name, A.LIFECYCLE_EVENT: event})

    def callback_error(self, event: str, callback: str) -> None:
        self.callback_errors.add(1, {A.LIFECYCLE_EVENT: event, A.CALLBACK_NAME: callback})
