"""``trace_context``: user, session, tags and metadata for every agent run started inside it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context

from . import attributes as A
from ._state import TRACE_ATTRIBUTES_KEY


@contextmanager
def trace_context(
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    tags: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Runs inside carry Langfuse's trace keys and the OpenTelemetry/OpenInference ``user.id``/``session.id``.

    Nested blocks add to (and override) the outer one; threads started with a copied context
    (smolagents' own pools, ``asyncio.to_thread``, ``contextvars.copy_context().run``) inherit it.
    """
    attrs: dict[str, Any] = dict(otel_context.get_value(TRACE_ATTRIBUTES_KEY) or {})
    if user_id is not None:
        if not isinstance(user_id, str):
            raise TypeError(f"user_id must be a str, got {type(user_id).__name__}")
        attrs[A.LANGFUSE_USER_ID] = attrs[A.USER_ID] = user_id
    if session_id is not None:
        if not isinstance(session_id, str):
            raise TypeError(f"session_id must be a str, got {type(session_id).__name__}")
        attrs[A.LANGFUSE_SESSION_ID] = attrs[A.SESSION_ID] = session_id
    if tags is not None:
        if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
            raise TypeError("tags must be a sequence of str")
        previous = list(attrs.get(A.LANGFUSE_TRACE_TAGS, ()))
        attrs[A.LANGFUSE_TRACE_TAGS] = tuple(dict.fromkeys([*previous, *tags]))
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise TypeError("metadata must be a mapping")
        for key, value in metadata.items():
            if not isinstance(value, (str, bool, int, float)):
                value = json.dumps(value, default=str)
            attrs[A.LANGFUSE_TRACE_METADATA_PREFIX + str(key)] = value
    token = otel_context.attach(otel_context.set_value(TRACE_ATTRIBUTES_KEY, attrs))
    try:
        yield attrs
    finally:
        otel_context.detach(token)
