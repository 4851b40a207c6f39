"""Where spans go: one call that builds an OpenTelemetry SDK ``TracerProvider`` with an exporter.

smolagents-otel only creates spans; something has to send them somewhere. Applications that
already configure OpenTelemetry themselves (``opentelemetry-instrument``, their own
``TracerProvider``, Langfuse's or Phoenix's helpers) need nothing from this module: the
instrumentor uses whatever SDK provider is set globally (see :func:`sdk_provider_is_set`).
Everyone else calls :func:`configure` once at start-up, or relies on the environment through
:func:`provider_from_environment`.

Backends accepted by :func:`configure`:

``"langfuse"``
    OTLP/HTTP protobuf to ``{host}/api/public/otel/v1/traces``; ``host`` is the ``endpoint``
    argument, else ``LANGFUSE_HOST``, else ``LANGFUSE_BASE_URL``, else
    ``https://cloud.langfuse.com``. Authenticates with ``Authorization: Basic
    base64(LANGFUSE_PUBLIC_KEY:LANGFUSE_SECRET_KEY)`` and sends ``x-langfuse-ingestion-version: 4``
    (Langfuse's real-time ingestion path). Langfuse has no gRPC receiver.
``"otlp"``
    Any OTLP receiver (an OpenTelemetry Collector, Jaeger, Tempo, ...). Protocol from the
    ``protocol`` argument, else ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, else
    ``OTEL_EXPORTER_OTLP_PROTOCOL``, else ``http/protobuf``; ``"grpc"`` is the other choice.
    Without an ``endpoint`` argument the exporter reads ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the matching ``*_HEADERS``, ``*_TIMEOUT``,
    ``*_COMPRESSION``, certificate variables) itself. An HTTP ``endpoint`` argument with no path
    gets ``/v1/traces`` appended. ``headers`` are merged over the ``*_HEADERS`` variables.
``"phoenix"``
    Arize Phoenix: OTLP to ``endpoint``, else ``PHOENIX_COLLECTOR_ENDPOINT`` (``/v1/traces``
    appended for HTTP; port 4317 for gRPC), else ``http://127.0.0.1:6006/v1/traces`` (HTTP) or
    ``http://127.0.0.1:4317`` (gRPC, plaintext). The resource carries
    ``openinference.project.name`` = the service name, which Phoenix uses as the project.
    ``PHOENIX_API_KEY``, when set, is sent as ``authorization: Bearer ...``.
``"console"``
    Pretty-printed spans on stdout (``ConsoleSpanExporter``), exported synchronously.
``"file"``
    One OTLP/JSON document per exported batch appended to ``file_path`` (default
    ``./smolagents-otel-traces.jsonl``); read it back with
    :func:`smolagents_otel.otlp_json.read_otlp_json_file`.

Common settings: the resource's ``service.name`` is the ``service_name`` argument, else
``OTEL_SERVICE_NAME``, else ``"smolagents-agent"`` (``OTEL_RESOURCE_ATTRIBUTES`` is merged as
usual). Sampling is ``ParentBased(TraceIdRatioBased(sampling_ratio))`` when ``sampling_ratio``
is given; otherwise the standard ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``
variables apply (a ratio there is validated here), and with neither every trace is kept.
Network and file exporters sit behind a ``BatchSpanProcessor``; the console behind a
``SimpleSpanProcessor``.

At interpreter exit one handler per provider flushes and shuts the provider down, waiting at
most ``SMOLAGENTS_OTEL_EXIT_FLUSH_TIMEOUT_MS`` milliseconds (default 5000) so that a dead
collector can never hang the process. (The SDK's own exit hook is disabled for providers made
here: its ``force_flush`` does not honour a timeout.)

Every invalid argument or environment value raises ``ValueError`` / ``TypeError`` from
:func:`configure` itself, naming the parameter or variable and the allowed values. Secrets (the
Langfuse secret key, authorization headers, API keys) never appear in exception messages or
log records; URLs are logged without user-info or query string.
"""

from __future__ import annotations

import atexit
import base64
import logging
import math
import os
import sys
import threading
import weakref
from collections.abc import Mapping
from numbers import Real
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = [
    "BACKENDS",
    "DEFAULT_EXIT_FLUSH_TIMEOUT_MS",
    "DEFAULT_FILE_PATH",
    "DEFAULT_LANGFUSE_HOST",
    "DEFAULT_SERVICE_NAME",
    "PROTOCOLS",
    "configure",
    "provider_from_environment",
    "sdk_provider_is_set",
]

from .delivery import CountingSpanExporter

logger = logging.getLogger(__name__)

BACKENDS = ("langfuse", "otlp", "console", "file", "phoenix")
PROTOCOLS = ("http/protobuf", "grpc")
DEFAULT_SERVICE_NAME = "smolagents-agent"
DEFAULT_LANGFUSE_HOST = "https://cloud.langfuse.com"
LANGFUSE_TRACES_PATH = "/api/public/otel/v1/traces"
LANGFUSE_INGESTION_VERSION = "4"
DEFAULT_PHOENIX_HTTP_ENDPOINT = "http://127.0.0.1:6006/v1/traces"
DEFAULT_PHOENIX_GRPC_ENDPOINT = "http://127.0.0.1:4317"  # http:// = plaintext gRPC to 127.0.0.1:4317
PHOENIX_GRPC_PORT = 4317
DEFAULT_FILE_PATH = "smolagents-otel-traces.jsonl"
DEFAULT_EXIT_FLUSH_TIMEOUT_MS = 5000
EXIT_FLUSH_TIMEOUT_ENV = "SMOLAGENTS_OTEL_EXIT_FLUSH_TIMEOUT_MS"
PROJECT_NAME_ATTRIBUTE = "openinference.project.name"

_HTTP_EXTRA_HINT = 'pip install "smolagents-otel[otlp]"'

# Environment variable names (spelled out so that this module does not depend on SDK internals).
_LANGFUSE_PUBLIC_KEY = "LANGFUSE_PUBLIC_KEY"
_LANGFUSE_SECRET_KEY = "LANGFUSE_SECRET_KEY"
_LANGFUSE_HOST = "LANGFUSE_HOST"
_LANGFUSE_BASE_URL = "LANGFUSE_BASE_URL"
_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
_OTLP_TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
_OTLP_TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
_SERVICE_NAME_ENV = "OTEL_SERVICE_NAME"
_SAMPLER_ENV = "OTEL_TRACES_SAMPLER"
_SAMPLER_ARG_ENV = "OTEL_TRACES_SAMPLER_ARG"
_SDK_DISABLED_ENV = "OTEL_SDK_DISABLED"
_PHOENIX_ENDPOINT_ENV = "PHOENIX_COLLECTOR_ENDPOINT"
_PHOENIX_API_KEY_ENV = "PHOENIX_API_KEY"

_NO_BACKEND_HINT = (
    "set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (plus LANGFUSE_HOST for a self-hosted or "
    "non-EU Langfuse), or set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318) for any "
    "OTLP collector."
)
_NO_BACKEND_HELP = (
    "smolagents-otel: no trace exporter is configured, so agent spans are not sent anywhere. "
    "To fix it, either set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (plus LANGFUSE_HOST for a "
    "self-hosted or non-EU Langfuse), or set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. "
    "http://localhost:4318) for any OTLP collector, or call "
    'smolagents_otel.configure(backend="langfuse"|"otlp"|"phoenix"|"console"|"file", ...) '
    "before running the agent, or install your own OpenTelemetry SDK TracerProvider globally."
)

_warned_no_backend = False
_warn_lock = threading.Lock()


# --------------------------------------------------------------------------------------------- helpers


def _env(name: str) -> str | None:
    """Value of an environment variable, ``None`` when unset or blank."""
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _redact_url(url: str) -> str:
    """URL without user-info, query or fragment, safe to log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable endpoint>"
    if not parts.scheme or not parts.netloc:
        return url.split("?", 1)[0].split("@")[-1]
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _check_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _check_http_url(name: str, value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError as exc:
        raise ValueError(f"{name} is not a valid URL: {_redact_url(value)!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"{name} must be an http:// or https:// URL (e.g. http://localhost:4318), "
            f"got {_redact_url(value)!r}"
        )
    return value


def _with_traces_path(url: str) -> str:
    """Append ``/v1/traces`` to an HTTP URL that has no path (a collector base URL)."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, "/v1/traces", parts.query, parts.fragment))
    return url


def _check_headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a mapping of str to str, got {type(headers).__name__}")
    checked: dict[str, str] = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"headers keys must be non-empty str, got {key!r}")
        if not isinstance(value, str):
            # The value may be a credential: name only its type.
            raise TypeError(f"headers[{key!r}] must be a str, got {type(value).__name__}")
        checked[key.strip()] = value
    return checked


def _check_protocol(value: str, source: str) -> str:
    protocol = value.strip().lower()
    if protocol not in PROTOCOLS:
        raise ValueError(f"{source} must be one of {', '.join(map(repr, PROTOCOLS))}, got {value!r}")
    return protocol


def _check_ratio(value: Any, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{source} must be a number between 0.0 and 1.0, got {type(value).__name__}")
    ratio = float(value)
    if math.isnan(ratio) or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"{source} must be between 0.0 and 1.0 inclusive, got {value!r}")
    return ratio


def _resolve_sampler(sampling_ratio: Any) -> Sampler | None:
    """Sampler for the provider; ``None`` lets the SDK apply ``OTEL_TRACES_SAMPLER`` (default: all)."""
    if sampling_ratio is not None:
        return ParentBased(TraceIdRatioBased(_check_ratio(sampling_ratio, "sampling_ratio")))
    sampler_name = (_env(_SAMPLER_ENV) or "").lower()
    if sampler_name not in ("traceidratio", "parentbased_traceidratio"):
        return None
    raw = _env(_SAMPLER_ARG_ENV)
    if raw is None:
        ratio = 1.0  # the specification's default for the ratio samplers
    else:
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(
                f"{_SAMPLER_ARG_ENV} must be a number between 0.0 and 1.0 when "
                f"{_SAMPLER_ENV}={sampler_name}, got {raw!r}"
            ) from None
        ratio = _check_ratio(number, _SAMPLER_ARG_ENV)
    if sampler_name == "traceidratio":
        return TraceIdRatioBased(ratio)
    return ParentBased(TraceIdRatioBased(ratio))


def _exit_flush_timeout_ms() -> int:
    raw = _env(EXIT_FLUSH_TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_EXIT_FLUSH_TIMEOUT_MS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{EXIT_FLUSH_TIMEOUT_ENV} must be a whole number of milliseconds >= 0, got {raw!r}")
    return value


def _missing_exporter(package: str) -> ImportError:
    return ImportError(
        f"The {package} package is needed for this backend but is not installed: {_HTTP_EXTRA_HINT}"
    )


def _http_exporter(endpoint: str | None, headers: Mapping[str, str] | None) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise _missing_exporter("opentelemetry-exporter-otlp-proto-http") from exc
    return OTLPSpanExporter(endpoint=endpoint, headers=dict(headers) if headers else None)


def _env_headers() -> dict[str, str]:
    raw = os.environ.get(_OTLP_TRACES_HEADERS) or os.environ.get(_OTLP_HEADERS) or ""
    if not raw:
        return {}
    from opentelemetry.util.re import parse_env_headers

    return parse_env_headers(raw, liberal=True)


def _grpc_exporter(endpoint: str | None, headers: Mapping[str, str] | None) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise _missing_exporter("opentelemetry-exporter-otlp-proto-grpc") from exc
    merged: dict[str, str] | None = None
    if headers:
        # The gRPC exporter uses either its argument or the *_HEADERS variables, never both: merge here.
        # gRPC metadata keys must be lowercase.
        merged = {k.lower(): v for k, v in _env_headers().items()}
        merged.update({k.lower(): v for k, v in headers.items()})
    return OTLPSpanExporter(endpoint=endpoint, headers=merged)


def _otlp_protocol(protocol: str | None) -> str:
    if protocol is not None:
        return _check_protocol(_check_str("protocol", protocol), "protocol")
    for name in (_OTLP_TRACES_PROTOCOL, _OTLP_PROTOCOL):
        value = _env(name)
        if value is not None:
            return _check_protocol(value, name)
    return "http/protobuf"


def _described_otlp_endpoint(protocol: str, endpoint: str | None) -> str:
    """The endpoint the OTLP exporter will use, for the log line (mirrors the exporters' rules)."""
    if endpoint:
        return endpoint
    traces = _env(_OTLP_TRACES_ENDPOINT)
    if traces:
        return traces
    base = _env(_OTLP_ENDPOINT)
    if protocol == "grpc":
        return base or "http://localhost:4317"
    return f"{(base or 'http://localhost:4318').rstrip('/')}/v1/traces"


# --------------------------------------------------------------------------------------------- backends


def _langfuse_credentials() -> tuple[str, str]:
    public_key = _env(_LANGFUSE_PUBLIC_KEY)
    secret_key = _env(_LANGFUSE_SECRET_KEY)
    missing = [
        name
        for name, value in ((_LANGFUSE_PUBLIC_KEY, public_key), (_LANGFUSE_SECRET_KEY, secret_key))
        if not value
    ]
    if missing:
        raise ValueError(
            f"backend='langfuse' needs the environment variable(s) {' and '.join(missing)} "
            "(the project's API keys from Langfuse > Project settings > API keys)"
        )
    assert public_key is not None and secret_key is not None
    return public_key, secret_key


def _langfuse_url(endpoint: str | None) -> str:
    if endpoint is not None:
        host, source = endpoint, "endpoint"
    elif _env(_LANGFUSE_HOST):
        host, source = _env(_LANGFUSE_HOST), _LANGFUSE_HOST
    elif _env(_LANGFUSE_BASE_URL):
        host, source = _env(_LANGFUSE_BASE_URL), _LANGFUSE_BASE_URL
    else:
        host, source = DEFAULT_LANGFUSE_HOST, "default"
    assert host is not None
    _check_http_url(source, host)
    host = host.rstrip("/")
    # Forgive a host given with (part of) the OTLP path already on it.
    if host.endswith(LANGFUSE_TRACES_PATH):
        return host
    if host.endswith("/api/public/otel"):
        return host + "/v1/traces"
    return host + LANGFUSE_TRACES_PATH


def _build_langfuse(
    endpoint: str | None, headers: dict[str, str], protocol: str | None
) -> tuple[SpanExporter, str]:
    if protocol is not None and _check_str("protocol", protocol).lower() != "http/protobuf":
        raise ValueError(
            "protocol must be 'http/protobuf' for backend='langfuse' (Langfuse has no gRPC receiver), "
            f"got {protocol!r}"
        )
    url = _langfuse_url(endpoint)
    public_key, secret_key = _langfuse_credentials()
    token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode("ascii")
    merged = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    if not any(k.lower() == "x-langfuse-ingestion-version" for k in merged):
        merged["x-langfuse-ingestion-version"] = LANGFUSE_INGESTION_VERSION
    merged["Authorization"] = f"Basic {token}"
    exporter = _http_exporter(url, merged)
    return exporter, f"Langfuse at {_redact_url(url)} (http/protobuf)"


def _build_otlp(
    endpoint: str | None, headers: dict[str, str], protocol: str | None
) -> tuple[SpanExporter, str]:
    resolved = _otlp_protocol(protocol)
    if resolved == "grpc":
        exporter = _grpc_exporter(endpoint, headers)
    else:
        if endpoint is not None:
            endpoint = _with_traces_path(_check_http_url("endpoint", endpoint))
        exporter = _http_exporter(endpoint, headers)
    where = _redact_url(_described_otlp_endpoint(resolved, endpoint))
    return exporter, f"OTLP collector at {where} ({resolved})"


def _phoenix_endpoint(endpoint: str | None, protocol: str) -> str:
    if endpoint is not None:
        if protocol == "grpc":
            return endpoint
        return _with_traces_path(_check_http_url("endpoint", endpoint))
    base = _env(_PHOENIX_ENDPOINT_ENV)
    if base is None:
        return DEFAULT_PHOENIX_GRPC_ENDPOINT if protocol == "grpc" else DEFAULT_PHOENIX_HTTP_ENDPOINT
    _check_http_url(_PHOENIX_ENDPOINT_ENV, base)
    if protocol == "grpc":
        parts = urlsplit(base)
        host = parts.hostname or "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{parts.scheme}://{host}:{PHOENIX_GRPC_PORT}"
    return _with_traces_path(base)


def _build_phoenix(
    endpoint: str | None, headers: dict[str, str], protocol: str | None
) -> tuple[SpanExporter, str]:
    resolved = _otlp_protocol(protocol)
    url = _phoenix_endpoint(endpoint, resolved)
    api_key = _env(_PHOENIX_API_KEY_ENV)
    if api_key and not any(k.lower() == "authorization" for k in headers):
        headers = {**headers, "authorization": f"Bearer {api_key}"}
    exporter = _grpc_exporter(url, headers) if resolved == "grpc" else _http_exporter(url, headers)
    return exporter, f"Phoenix at {_redact_url(url)} ({resolved})"


def _build_console() -> tuple[SpanExporter, str]:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    # Bind the stream now (the class default is the sys.stdout of import time).
    return ConsoleSpanExporter(out=sys.stdout), "the console (stdout)"


def _build_file(file_path: Any) -> tuple[SpanExporter, str]:
    from .otlp_json import OTLPJsonFileSpanExporter

    if file_path is None:
        file_path = DEFAULT_FILE_PATH
    if not isinstance(file_path, (str, os.PathLike)):
        raise TypeError(f"file_path must be a str or os.PathLike, got {type(file_path).__name__}")
    if not str(os.fspath(file_path)).strip():
        raise ValueError("file_path must not be empty")
    path = os.path.abspath(os.fspath(file_path))
    if os.path.isdir(path):
        raise ValueError(f"file_path must be a file, but {path!r} is a directory")
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass  # fail now, not at the first export, when the file cannot be written
    except OSError as exc:
        raise ValueError(f"file_path {path!r} cannot be opened for appending: {exc.strerror}") from None
    return OTLPJsonFileSpanExporter(path), f"the file {path} (OTLP/JSON lines)"


# --------------------------------------------------------------------------------------------- exit handling

_exit_registered: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
_exit_lock = threading.Lock()


def _flush_and_shutdown(provider: TracerProvider, timeout_millis: int) -> bool:
    """Flush then shut down ``provider``, returning within about ``timeout_millis``.

    The SDK's ``BatchSpanProcessor.force_flush`` ignores its timeout and an exporter can be stuck
    on a dead collector, so the work runs in a daemon thread that is abandoned at the deadline.
    Returns True when both steps finished in time.
    """
    outcome: dict[str, bool] = {"flushed": False}

    def work() -> None:
        try:
            outcome["flushed"] = bool(provider.force_flush(timeout_millis))
        except Exception as exc:  # never let an exporter error escape at exit
            logger.warning("smolagents-otel: flushing spans at exit failed: %s", type(exc).__name__)
        try:
            provider.shutdown()
        except Exception as exc:
            logger.warning(
                "smolagents-otel: shutting the tracer provider down failed: %s", type(exc).__name__
            )

    try:
        worker = threading.Thread(target=work, name="smolagents-otel-exit-flush", daemon=True)
        worker.start()
    except RuntimeError:  # threads refused this late in interpreter shutdown: do it inline
        work()
        return outcome["flushed"]
    worker.join(timeout_millis / 1000.0)
    if worker.is_alive():
        logger.warning(
            "smolagents-otel: spans were not all exported within %d ms at exit; the rest are dropped "
            "(raise %s to wait longer)",
            timeout_millis,
            EXIT_FLUSH_TIMEOUT_ENV,
        )
        return False
    return outcome["flushed"]


def _register_exit_flush(provider: TracerProvider, timeout_millis: int) -> bool:
    """Register the exit handler for ``provider`` once; returns False if it already was."""
    with _exit_lock:
        if provider in _exit_registered:
            return False
        _exit_registered.add(provider)
    atexit.register(_flush_and_shutdown, provider, timeout_millis)
    return True


# --------------------------------------------------------------------------------------------- public API


def sdk_provider_is_set() -> bool:
    """True when the global tracer provider is an OpenTelemetry SDK ``TracerProvider``.

    False for the API's default proxy / no-op provider, i.e. when nobody configured tracing.
    """
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def _backend_from_environment() -> str | None:
    public_key = _env(_LANGFUSE_PUBLIC_KEY)
    secret_key = _env(_LANGFUSE_SECRET_KEY)
    if public_key and secret_key:
        return "langfuse"
    if public_key or secret_key:
        missing = _LANGFUSE_SECRET_KEY if public_key else _LANGFUSE_PUBLIC_KEY
        present = _LANGFUSE_PUBLIC_KEY if public_key else _LANGFUSE_SECRET_KEY
        raise ValueError(
            f"{present} is set but {missing} is not: set both to send traces to Langfuse, or neither"
        )
    if _env(_OTLP_ENDPOINT) or _env(_OTLP_TRACES_ENDPOINT):
        return "otlp"
    return None


def configure(
    backend: str | None = None,
    *,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    protocol: str | None = None,
    service_name: str | None = None,
    sampling_ratio: float | None = None,
    file_path: str | os.PathLike[str] | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Build (and by default install globally) a ``TracerProvider`` exporting to ``backend``.

    ``backend`` is one of ``"langfuse"``, ``"otlp"``, ``"phoenix"``, ``"console"``, ``"file"``;
    ``None`` picks one from the environment like :func:`provider_from_environment` (Langfuse keys,
    then ``OTEL_EXPORTER_OTLP_*ENDPOINT``) and raises ``ValueError`` when there is nothing to pick.
    See the module docstring for what each backend and argument means. All validation happens
    here: a bad argument or environment value raises ``ValueError`` or ``TypeError`` before any
    provider is created. ``ImportError`` (with the ``pip install`` line) means the OTLP exporter
    package for the chosen protocol is missing.

    With ``set_global=True`` the provider becomes the global tracer provider; OpenTelemetry allows
    that only once per process, so when another provider is already global a warning is logged
    and the returned provider must be passed to the instrumentor explicitly.
    """
    # --- validate arguments --------------------------------------------------------------------
    if backend is not None:
        backend = _check_str("backend", backend).lower()
        if backend not in BACKENDS:
            raise ValueError(
                f"backend must be one of {', '.join(map(repr, BACKENDS))} or None, got {backend!r}"
            )
    if endpoint is not None:
        endpoint = _check_str("endpoint", endpoint)
    checked_headers = _check_headers(headers)
    if protocol is not None:
        _check_protocol(_check_str("protocol", protocol), "protocol")
    if service_name is not None:
        service_name = _check_str("service_name", service_name)
    if not isinstance(set_global, bool):
        raise TypeError(f"set_global must be a bool, got {type(set_global).__name__}")
    sampler = _resolve_sampler(sampling_ratio)
    exit_timeout_ms = _exit_flush_timeout_ms()

    if backend is None:
        backend = _backend_from_environment()
        if backend is None:
            raise ValueError(
                f"backend=None and the environment names no backend: {_NO_BACKEND_HINT} "
                f"Or pass backend= one of {', '.join(map(repr, BACKENDS))}."
            )

    if backend in ("console", "file"):
        for name, value in (("endpoint", endpoint), ("headers", headers), ("protocol", protocol)):
            if value is not None:
                raise ValueError(
                    f"{name} is not used by backend={backend!r}; it applies to langfuse, otlp and phoenix"
                )
    if file_path is not None and backend != "file":
        raise ValueError(f"file_path is only used by backend='file', not backend={backend!r}")

    # --- exporter ------------------------------------------------------------------------------
    if backend == "langfuse":
        exporter, destination = _build_langfuse(endpoint, checked_headers, protocol)
    elif backend == "otlp":
        exporter, destination = _build_otlp(endpoint, checked_headers, protocol)
    elif backend == "phoenix":
        exporter, destination = _build_phoenix(endpoint, checked_headers, protocol)
    elif backend == "console":
        exporter, destination = _build_console()
    else:
        exporter, destination = _build_file(file_path)

    # --- provider ------------------------------------------------------------------------------
    service = service_name or _env(_SERVICE_NAME_ENV) or DEFAULT_SERVICE_NAME
    attributes: dict[str, str] = {"service.name": service}
    if backend == "phoenix":
        attributes[PROJECT_NAME_ATTRIBUTE] = service
    provider = TracerProvider(
        sampler=sampler,
        resource=Resource.create(attributes),
        shutdown_on_exit=False,  # replaced by the time-bounded handler below
    )
    if backend in ("langfuse", "otlp", "phoenix"):
        exporter = CountingSpanExporter(exporter, destination)
    processor = SimpleSpanProcessor(exporter) if backend == "console" else BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    _register_exit_flush(provider, exit_timeout_ms)
    # Read by the Instrumentor: in Langfuse mode it also records lifecycle events as Langfuse event spans.
    provider.smolagents_otel_backend = backend  # type: ignore[attr-defined]

    if set_global:
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:
            logger.warning(
                "smolagents-otel: a global tracer provider was already set and OpenTelemetry does not allow "
                "replacing it; pass the provider returned by configure() to the instrumentor explicitly"
            )

    logger.info(
        "smolagents-otel: sending traces to %s as service.name=%r%s",
        destination,
        service,
        "" if set_global else " (provider not installed globally)",
    )
    return provider


def provider_from_environment() -> TracerProvider | None:
    """Configure tracing from environment variables alone; ``None`` when they name no backend.

    Meant for the case where no SDK provider is installed globally (see :func:`sdk_provider_is_set`):

    * ``LANGFUSE_PUBLIC_KEY`` and ``LANGFUSE_SECRET_KEY`` both set: Langfuse (``LANGFUSE_HOST`` or
      ``LANGFUSE_BASE_URL`` for the host);
    * else ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` set: OTLP, with
      the protocol, headers etc. from the usual ``OTEL_EXPORTER_OTLP_*`` variables;
    * else one warning (per process) saying how to fix it, and ``None``.
    * ``OTEL_SDK_DISABLED=true``: ``None``, silently.

    Only one of the two Langfuse keys set raises ``ValueError`` naming the missing one. The
    provider is built by :func:`configure` and installed as the global tracer provider.
    """
    global _warned_no_backend
    if (_env(_SDK_DISABLED_ENV) or "").lower() == "true":
        logger.debug("smolagents-otel: %s=true, not configuring an exporter", _SDK_DISABLED_ENV)
        return None
    backend = _backend_from_environment()
    if backend is None:
        with _warn_lock:
            first = not _warned_no_backend
            _warned_no_backend = True
        if first:
            logger.warning(_NO_BACKEND_HELP)
        return None
    return configure(backend)
