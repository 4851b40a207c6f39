"""Masking of secrets in every content string before it reaches a span, an event or a log record.

Two sources of secrets: well-known credential formats (OpenAI, Anthropic, Hugging Face, AWS, Langfuse,
GitHub, Google, Slack keys, JWTs, bearer/basic authorization values, ``key=value`` assignments with a
secret-looking name) and the literal values of environment variables whose names contain KEY, TOKEN,
SECRET or PASSWORD (re-read once per agent run).

Speed matters: this runs on every content attribute. Each format is its own regex, run only when its
literal prefix occurs (a plain substring search); case-insensitive forms and ``name=value`` assignments
are only matched near a keyword found by a substring search; environment values are found with ``str``
search, not a regex; long strings are cached (see ``Redactor``).
"""

from __future__ import annotations

import os
import re
import time

from ._guard import bounded_put

REDACTED = "[REDACTED]"
_SECRET_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_MIN_ENV_SECRET_LEN = 6

# (literal prefix, pattern): the pattern only runs when its prefix occurs (a plain substring search).
_PREFIXED = [
    (prefix, re.compile(pattern))
    for prefix, pattern in (
        ("sk-", r"sk-[A-Za-z0-9_\-]{16,}"),  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), Langfuse (sk-lf-)
        ("pk-lf-", r"pk-lf-[A-Za-z0-9_\-]{8,}"),  # Langfuse public key
        ("hf_", r"hf_[A-Za-z0-9]{20,}"),  # Hugging Face
        ("AKIA", r"AKIA[0-9A-Z]{16}"),  # AWS access key ids
        ("ASIA", r"ASIA[0-9A-Z]{16}"),
        ("AGPA", r"AGPA[0-9A-Z]{16}"),
        ("AIDA", r"AIDA[0-9A-Z]{16}"),
        ("AROA", r"AROA[0-9A-Z]{16}"),
        ("gh", r"gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
        ("github_pat_", r"github_pat_[A-Za-z0-9_]{20,}"),
        ("AIza", r"AIza[0-9A-Za-z_\-]{30,}"),  # Google API key
        ("xox", r"xox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack
        ("eyJ", r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWT
    )
]
# Case-insensitive ones, only tried when their keyword occurs.
_KEYWORDED = [
    ("bearer", re.compile(r"(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}")),
    ("basic", re.compile(r"(?i:basic)\s+[A-Za-z0-9+/]{12,}={0,2}")),
]
# name = value, where the name looks secret: keep the name, mask the value.
_ASSIGNMENT_KEYWORDS = ("key", "secret", "token", "passw")
_ASSIGNMENT = re.compile(
    r"(?i)((?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|token|password|passwd)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;}]{6,})"
)
_WINDOW_BEFORE = 24  # longest name part of an assignment before its keyword
_WINDOW_AFTER = 512  # how far after a keyword a value may end


def _assignment_windows(low: str) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for keyword in _ASSIGNMENT_KEYWORDS:
        start = low.find(keyword)
        while start != -1:
            windows.append((max(0, start - _WINDOW_BEFORE), start + _WINDOW_AFTER))
            start = low.find(keyword, start + 1)
    if not windows:
        return windows
    windows.sort()
    merged = [windows[0]]
    for begin, end in windows[1:]:
        if begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _redact_assignments(text: str) -> str:
    low = text.lower()
    windows = _assignment_windows(low)
    if not windows:
        return text
    parts: list[str] = []
    last = 0
    for begin, end in windows:
        parts.append(text[last:begin])
        parts.append(_ASSIGNMENT.sub(lambda m: m.group(1) + REDACTED, text[begin:end]))
        last = end
    parts.append(text[last:])
    return "".join(parts)


_CACHE_MIN_LENGTH = 256
_ENV_REFRESH_SECONDS = 1.0
_CACHE_SIZE = 64


class Redactor:
    """Masks secrets in strings; a few fast scans when nothing matches.

    Long strings recur from model call to model call (the system prompt, earlier steps: a model's input
    is the agent's memory), so results for strings of 256+ characters are kept in a small cache: the
    cost per call follows what is new, not the length of the memory.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._env_key: tuple[tuple[str, str], ...] | None = None
        self._env_values: tuple[str, ...] = ()
        self._cache: dict[str, str] = {}
        self._env_read_at = 0.0
        self._env_size = -1

    def refresh_environment(self) -> None:
        """Re-read secret-looking environment variables (called once per agent run, acts once a second)."""
        now = time.monotonic()
        size = len(os.environ)
        if (
            self._env_key is not None
            and size == self._env_size
            and now - self._env_read_at < _ENV_REFRESH_SECONDS
        ):
            return  # a variable added or removed re-reads at once; a changed value within a second
        self._env_read_at, self._env_size = now, size
        items = tuple(
            sorted(
                (k, v)
                for k, v in os.environ.items()
                if len(v) >= _MIN_ENV_SECRET_LEN and _SECRET_ENV_NAME.search(k)
            )
        )
        if items == self._env_key:
            return
        self._env_key = items
        self._env_values = tuple(sorted({v for _, v in items}, key=len, reverse=True))
        self._cache = {}

    def __call__(self, text: str) -> str:
        if not self.enabled or not text:
            return text
        if self._env_key is None:
            self.refresh_environment()
        if len(text) < _CACHE_MIN_LENGTH:
            return self._redact(text)
        cache = self._cache
        cached = cache.get(text)
        if cached is not None:
            return cached
        result = self._redact(text)
        bounded_put(cache, text, result, _CACHE_SIZE)
        return result

    def _redact(self, text: str) -> str:
        for value in self._env_values:
            if value in text:
                text = text.replace(value, REDACTED)
        for prefix, pattern in _PREFIXED:
            if prefix in text:
                text = pattern.sub(REDACTED, text)
        low = text.lower()
        for keyword, pattern in _KEYWORDED:
            if keyword in low:
                text = pattern.sub(REDACTED, text)
        if any(keyword in low for keyword in _ASSIGNMENT_KEYWORDS):
            text = _redact_assignments(text)
        return text
