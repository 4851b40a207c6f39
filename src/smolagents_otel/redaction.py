"""Masking of secrets in every content string before it reaches a span, an event or a log record.

Two sources of secrets: well-known credential formats (OpenAI, Anthropic, Hugging Face, AWS, Langfuse,
GitHub, Google, Slack keys, JWTs, bearer/basic authorization values, ``key=value`` assignments with a
secret-looking name) and the literal values of environment variables whose names contain KEY, TOKEN,
SECRET or PASSWORD (re-read when the environment changes).
"""

from __future__ import annotations

import os
import re

REDACTED = "[REDACTED]"
_SECRET_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_MIN_ENV_SECRET_LEN = 6

_PATTERNS = [
    r"sk-[A-Za-z0-9_\-]{16,}",  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), Langfuse secret (sk-lf-)
    r"pk-lf-[A-Za-z0-9_\-]{8,}",  # Langfuse public key
    r"hf_[A-Za-z0-9]{20,}",  # Hugging Face
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}",  # AWS access key id
    r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"AIza[0-9A-Za-z_\-]{30,}",  # Google API key
    r"xox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack
    r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWT
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}",
    r"(?i:basic)\s+[A-Za-z0-9+/]{12,}={0,2}",
]
# name = value, where the name looks secret: keep the name, mask the value.
_ASSIGNMENT = re.compile(
    r"(?i)((?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|token|password|passwd)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;}]{6,})"
)
_KNOWN = re.compile("|".join(_PATTERNS))


class Redactor:
    """Masks secrets in strings. Cheap when nothing matches: two compiled regex scans."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._env_key: tuple[tuple[str, str], ...] | None = None
        self._env_re: re.Pattern[str] | None = None

    def refresh_environment(self) -> None:
        """Re-read secret-looking environment variables (called once per agent run)."""
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
        values = sorted({v for _, v in items}, key=len, reverse=True)
        self._env_re = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __call__(self, text: str) -> str:
        if not self.enabled or not text:
            return text
        if self._env_key is None:
            self.refresh_environment()
        if self._env_re is not None:
            text = self._env_re.sub(REDACTED, text)
        text = _KNOWN.sub(REDACTED, text)
        return _ASSIGNMENT.sub(lambda m: m.group(1) + REDACTED, text)
