"""Offline helpers: a scripted smolagents Model and an in-memory tracing set-up, for demos and tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from smolagents.models import (
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    ChatMessageToolCallStreamDelta,
    MessageRole,
    Model,
)
from smolagents.monitoring import TokenUsage


def tool_call(name: str, arguments: dict[str, Any] | str, call_id: str) -> dict[str, Any]:
    """One native tool call for a ToolCallingAgent reply of ``ScriptedModel``."""
    return {"id": call_id, "name": name, "arguments": arguments}


class ScriptedModel(Model):
    """Answers with the next scripted reply each call; no network, deterministic token usage.

    A reply is a str (text, e.g. a CodeAgent code blob) or a list of ``tool_call(...)`` dicts
    (native tool calls for a ToolCallingAgent). ``generate_stream`` streams the same reply in chunks.
    Every call records the messages it got in ``self.calls``.
    """

    def __init__(
        self,
        replies: Sequence[str | list[dict[str, Any]]],
        model_id: str = "scripted-model",
        input_tokens: int = 100,
        output_tokens: int = 20,
        chunk_size: int = 16,
    ) -> None:
        super().__init__(model_id=model_id)
        self.replies = list(replies)
        self.input_tokens_per_call = input_tokens
        self.output_tokens_per_call = output_tokens
        self.chunk_size = chunk_size
        self.calls: list[list[Any]] = []
        self._lock = threading.Lock()
        self._index = 0

    def _next_reply(self, messages: Any) -> str | list[dict[str, Any]]:
        with self._lock:
            self.calls.append(list(messages))
            if not self.replies:
                raise RuntimeError("ScriptedModel has no reply configured")
            reply = self.replies[min(self._index, len(self.replies) - 1)]
            self._index += 1
            return reply

    def generate(
        self,
        messages: Any,
        stop_sequences: Any = None,
        response_format: Any = None,
        tools_to_call_from: Any = None,
        **kwargs: Any,
    ) -> ChatMessage:
        reply = self._next_reply(messages)
        usage = TokenUsage(input_tokens=self.input_tokens_per_call, output_tokens=self.output_tokens_per_call)
        if isinstance(reply, str):
            return ChatMessage(role=MessageRole.ASSISTANT, content=reply, token_usage=usage)
        calls = [
            ChatMessageToolCall(
                id=c["id"],
                type="function",
                function=ChatMessageToolCallFunction(name=c["name"], arguments=c["arguments"]),
            )
            for c in reply
        ]
        return ChatMessage(role=MessageRole.ASSISTANT, content="", tool_calls=calls, token_usage=usage)

    def generate_stream(
        self,
        messages: Any,
        stop_sequences: Any = None,
        response_format: Any = None,
        tools_to_call_from: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatMessageStreamDelta]:
        reply = self._next_reply(messages)
        if isinstance(reply, str):
            for start in range(0, len(reply), self.chunk_size):
                yield ChatMessageStreamDelta(content=reply[start : start + self.chunk_size])
        else:
            for index, c in enumerate(reply):
                arguments = c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"])
                yield ChatMessageStreamDelta(
                    tool_calls=[
                        ChatMessageToolCallStreamDelta(
                            index=index,
                            id=c["id"],
                            type="function",
                            function=ChatMessageToolCallFunction(name=c["name"], arguments=arguments),
                        )
                    ]
                )
        yield ChatMessageStreamDelta(
            content="",
            token_usage=TokenUsage(
                input_tokens=self.input_tokens_per_call, output_tokens=self.output_tokens_per_call
            ),
        )
