#!/usr/bin/env bash
# rotel.sh -- agent mode without Docker, using rotel (PyPI `rotel`, a small
# OpenTelemetry collector written in Rust; the wheel ships the binary).
#
#   pip install rotel
#   export LANGFUSE_PUBLIC_KEY=pk-lf-... LANGFUSE_SECRET_KEY=sk-lf-...
#   collector/rotel.sh                      # foreground; stop it with Ctrl-C / kill <pid>
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python your_agent.py
#
# What it does (checked against `rotel-agent start --help` of rotel 0.0.1a15,
# binary "rotel 0.0.1-alpha10"):
#   * listens for OTLP on ${OTLP_GRPC_LISTEN} (gRPC) and ${OTLP_HTTP_LISTEN} (HTTP);
#   * traces  -> ONE of: Langfuse (OTLP/HTTP + Basic auth), Jaeger (OTLP/gRPC),
#                or "debug" (printed to stdout, nothing forwarded);
#   * metrics -> ${METRICS_OTLP_ENDPOINT} (OTLP/HTTP, full URL) if set,
#                otherwise the metrics receiver is switched off;
#   * logs    -> switched off.
#
# Limits of this rotel version, found by running it:
#   * one exporter per signal: `--exporters-traces jaeger,langfuse` fails with
#     "Only one exporter supported for ROTEL_EXPORTERS_TRACES". Sending the
#     same traces to Jaeger AND Langfuse needs the real collector
#     (collector/agent.yaml) -- or run the app with two span exporters.
#   * the multi-exporter form (--exporters name:type + ROTEL_EXPORTER_<NAME>_*
#     variables) rejects header values containing "=", i.e. most base64 Basic
#     auth strings. This script therefore uses the single `--exporter otlp`
#     with per-signal overrides, where "=" padding works.
#   * no Prometheus exporter and no on-disk queue: batches are retried in
#     memory (ROTEL_OTLP_EXPORTER_RETRY_MAX_ELAPSED_TIME, default 300s) and
#     then dropped. For metrics, let Prometheus scrape the app directly
#     (opentelemetry-exporter-prometheus) or point METRICS_OTLP_ENDPOINT at an
#     OTLP metrics receiver.
#
# Every variable is documented in collector/README.md. Any rotel setting can
# also be given as a ROTEL_* variable (rotel reads them itself) or as extra
# arguments, which are passed through: collector/rotel.sh --batch-timeout 1s
set -euo pipefail

# --- locate the binary ------------------------------------------------------
rotel_bin="${ROTEL_BIN:-}"
if [[ -z "${rotel_bin}" ]]; then
  rotel_bin="$("${PYTHON:-python3}" -c \
    'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')" || {
    echo "rotel.sh: cannot import the rotel package; pip install rotel or set ROTEL_BIN" >&2
    exit 2
  }
fi
if [[ ! -x "${rotel_bin}" ]]; then
  echo "rotel.sh: ${rotel_bin} is not executable" >&2
  exit 2
fi

# --- receivers ----------------------------------------------------------------
# Loopback by default: only processes on this machine can send.
args=(
  start
  --otlp-grpc-endpoint "${OTLP_GRPC_LISTEN:-127.0.0.1:4317}"
  --otlp-http-endpoint "${OTLP_HTTP_LISTEN:-127.0.0.1:4318}"
  --otlp-receiver-logs-disabled
)

# --- Langfuse credentials -----------------------------------------------------
# LANGFUSE_AUTH = base64("<public key>:<secret key>"). Either export it, or
# export LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY and it is computed here.
langfuse_auth="${LANGFUSE_AUTH:-}"
if [[ -z "${langfuse_auth}" && -n "${LANGFUSE_PUBLIC_KEY:-}" && -n "${LANGFUSE_SECRET_KEY:-}" ]]; then
  langfuse_auth="$(printf '%s:%s' "${LANGFUSE_PUBLIC_KEY}" "${LANGFUSE_SECRET_KEY}" | base64 | tr -d '\n')"
fi

# --- traces target ------------------------------------------------------------
target="${TRACES_TARGET:-}"
if [[ -z "${target}" ]]; then
  if [[ -n "${langfuse_auth}" ]]; then
    target=langfuse
  elif [[ -n "${JAEGER_ENDPOINT:-}" ]]; then
    target=jaeger
  else
    target=debug
  fi
fi

case "${target}" in
  langfuse)
    if [[ -z "${langfuse_auth}" ]]; then
      echo "rotel.sh: TRACES_TARGET=langfuse needs LANGFUSE_AUTH or LANGFUSE_PUBLIC_KEY + LANGFUSE_SECRET_KEY" >&2
      exit 2
    fi
    # rotel appends /v1/traces to the base endpoint, like the collector.
    args+=(
      --exporter otlp
      --otlp-exporter-protocol http
      --otlp-exporter-endpoint "${LANGFUSE_OTLP_ENDPOINT:-https://cloud.langfuse.com/api/public/otel}"
    )
    # Handed over in the environment, not on the command line (where `ps`
    # would show it), and for traces only, so the metrics endpoint never
    # receives the Langfuse credentials.
    export ROTEL_OTLP_EXPORTER_TRACES_CUSTOM_HEADERS="Authorization=Basic ${langfuse_auth}"
    ;;
  jaeger)
    # No default: 127.0.0.1:4317 is usually this relay itself (a loop).
    jaeger="${JAEGER_ENDPOINT:-}"
    if [[ -z "${jaeger}" ]]; then
      echo "rotel.sh: TRACES_TARGET=jaeger needs JAEGER_ENDPOINT (host:port of Jaeger's OTLP gRPC)" >&2
      exit 2
    fi
    # Same value as for agent.yaml (host:port); rotel wants a URL.
    [[ "${jaeger}" == *"://"* ]] || jaeger="http://${jaeger}"
    args+=(
      --exporter otlp
      --otlp-exporter-protocol grpc
      --otlp-exporter-endpoint "${jaeger}"
    )
    ;;
  debug)
    # Print every received span (attributes, events) instead of forwarding.
    args+=(
      --exporter blackhole
      --debug-log traces
      --debug-log-verbosity detailed
    )
    ;;
  *)
    echo "rotel.sh: TRACES_TARGET must be langfuse, jaeger or debug (got '${target}')" >&2
    exit 2
    ;;
esac

# --- metrics ------------------------------------------------------------------
if [[ -n "${METRICS_OTLP_ENDPOINT:-}" && "${target}" != debug ]]; then
  # A per-signal endpoint is used as given: pass the full URL, e.g.
  # http://127.0.0.1:9090/api/v1/otlp/v1/metrics (Prometheus >= 2.47 with its
  # OTLP receiver enabled) or http://gateway:4318/v1/metrics (a collector).
  args+=(
    --otlp-exporter-metrics-protocol http
    --otlp-exporter-metrics-endpoint "${METRICS_OTLP_ENDPOINT}"
  )
elif [[ "${target}" != debug ]]; then
  # Langfuse and Jaeger take no metrics: refuse them instead of forwarding
  # into a 404. (The app's OTLP metric exporter will log the refusal; use the
  # Prometheus exporter in the app instead.)
  args+=(--otlp-receiver-metrics-disabled)
fi

echo "rotel.sh: traces -> ${target}; metrics -> ${METRICS_OTLP_ENDPOINT:-off}" >&2
exec "${rotel_bin}" "${args[@]}" "$@"
