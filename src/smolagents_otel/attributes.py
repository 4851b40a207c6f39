"""Every attribute, span-type and event name this package writes, in one place.

GenAI keys mirror the OpenTelemetry GenAI semantic conventions (still "Development");
``input.value``/``output.value`` and ``openinference.span.kind`` are what Phoenix and
Langfuse read; ``smolagents.*`` keys are ours.
"""

from typing import Final

# --- OpenTelemetry GenAI semantic conventions -------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
ERROR_TYPE: Final = "error.type"

OP_INVOKE_AGENT: Final = "invoke_agent"
OP_CHAT: Final = "chat"
OP_EXECUTE_TOOL: Final = "execute_tool"
PROVIDER_SMOLAGENTS: Final = "smolagents"

# --- OpenInference (Phoenix; also read by Langfuse) ------------------------------------------
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
INPUT_VALUE: Final = "input.value"
INPUT_MIME_TYPE: Final = "input.mime_type"
OUTPUT_VALUE: Final = "output.value"
OUTPUT_MIME_TYPE: Final = "output.mime_type"
MIME_JSON: Final = "application/json"
KIND_AGENT: Final = "AGENT"
KIND_CHAIN: Final = "CHAIN"
KIND_LLM: Final = "LLM"
KIND_TOOL: Final = "TOOL"

# --- Trace-level context (Langfuse + OpenTelemetry/OpenInference) ----------------------------
LANGFUSE_USER_ID: Final = "langfuse.user.id"
LANGFUSE_SESSION_ID: Final = "langfuse.session.id"
LANGFUSE_TRACE_TAGS: Final = "langfuse.trace.tags"
LANGFUSE_TRACE_METADATA_PREFIX: Final = "langfuse.trace.metadata."
LANGFUSE_OBSERVATION_TYPE: Final = "langfuse.observation.type"
LANGFUSE_OBSERVATION_LEVEL: Final = "langfuse.observation.level"
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"

# --- smolagents.* ------------------------------------------------------------------------------
SPAN_TYPE: Final = "smolagents.span.type"
AGENT_CLASS: Final = "smolagents.agent.class"
STEP_NUMBER: Final = "smolagents.step.number"
MAX_STEPS: Final = "smolagents.max_steps"
RUN_STEPS: Final = "smolagents.run.steps"
FINISH_REASON: Final = "smolagents.finish_reason"
RUN_INPUT_TOKENS: Final = "smolagents.run.input_tokens"
RUN_OUTPUT_TOKENS: Final = "smolagents.run.output_tokens"
RUN_TOTAL_TOKENS: Final = "smolagents.run.total_tokens"
RUN_MODEL_CALLS: Final = "smolagents.run.model_calls"
STREAM: Final = "smolagents.stream"
MODEL_CLASS: Final = "smolagents.model.class"
MODEL_PURPOSE: Final = "smolagents.model.purpose"
TIME_TO_FIRST_CHUNK: Final = "smolagents.model.time_to_first_chunk_s"
STREAM_CHUNKS: Final = "smolagents.model.stream_chunks"
TOOL_IS_MANAGED_AGENT: Final = "smolagents.tool.managed_agent"
CODE_IS_FINAL_ANSWER: Final = "smolagents.code.is_final_answer"
CODE_LOGS: Final = "smolagents.code.logs"
VETO_REASON: Final = "smolagents.veto.reason"
VETO_CALLBACK: Final = "smolagents.veto.callback"
VETO_ABORT: Final = "smolagents.veto.abort"
CALLBACK_NAME: Final = "smolagents.callback.name"
CALLBACK_EXCEPTION_TYPE: Final = "smolagents.callback.exception.type"
CALLBACK_EXCEPTION_MESSAGE: Final = "smolagents.callback.exception.message"
LIFECYCLE_EVENT: Final = "smolagents.lifecycle.event"
TRUNCATED_MARKER: Final = "…[truncated {n} chars]"

# Event-attribute keys (small identifiers and, under the content config, content).
EV_TOOL_NAME: Final = GEN_AI_TOOL_NAME
EV_TOOL_CALL_ID: Final = GEN_AI_TOOL_CALL_ID
EV_TOOL_CALLS: Final = "smolagents.tool_calls"
EV_CODE: Final = "smolagents.code"
EV_MODEL_OUTPUT: Final = "smolagents.model.output"
EV_FINAL_ANSWER: Final = "smolagents.final_answer"
EV_OUTPUT: Final = "smolagents.output"
EV_OBSERVATION: Final = "smolagents.observation"
EV_ERROR_TYPE: Final = ERROR_TYPE
EV_ERROR_MESSAGE: Final = "smolagents.error.message"

# --- values of smolagents.span.type --------------------------------------------------------------
TYPE_RUN: Final = "run"
TYPE_STEP: Final = "step"
TYPE_PLANNING: Final = "planning"
TYPE_MODEL: Final = "model"
TYPE_TOOL: Final = "tool"
TYPE_CODE: Final = "code"

# --- finish reasons --------------------------------------------------------------------------
FINISH_FINAL_ANSWER: Final = "final_answer"
FINISH_MAX_STEPS: Final = "max_steps"
FINISH_ERROR: Final = "error"
FINISH_INTERRUPTED: Final = "interrupted"

# --- extra span-event names ----------------------------------------------------------------------
EVENT_VETO: Final = "smolagents.veto"
EVENT_CALLBACK_ERROR: Final = "smolagents.callback_error"

# --- metric names (OpenTelemetry GenAI + ours) ------------------------------------------------
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_RUN_DURATION: Final = "smolagents.agent.run.duration"
METRIC_RUN_STEPS: Final = "smolagents.agent.steps"
METRIC_TOOL_CALLS: Final = "smolagents.tool.calls"
METRIC_TOOL_ERRORS: Final = "smolagents.tool.errors"
METRIC_VETOES: Final = "smolagents.vetoes"
METRIC_CALLBACK_ERRORS: Final = "smolagents.callback.errors"

PYTHON_INTERPRETER: Final = "python_interpreter"
