"""``collector/rotel.sh``, run as its README says, really forwards the demo's trace to a backend.

The script itself is started (``bash collector/rotel.sh``; it ``exec``s rotel-agent, so its pid is
rotel's and the test stops it by that pid) with explicit loopback listen ports, and the package's demo is
sent to it with the standard OTLP exporters, as an application in agent mode would:

* ``TRACES_TARGET=langfuse`` -- the Langfuse command line (OTLP/HTTP, ``Authorization: Basic ...`` from
  ``LANGFUSE_PUBLIC_KEY``/``LANGFUSE_SECRET_KEY``, handed to rotel in its environment), pointed at a local
  Arize Phoenix instead of Langfuse (``LANGFUSE_OTLP_ENDPOINT``; Phoenix runs without auth and ignores the
  header). The base64 credentials end in ``=``, the case the script's single-exporter flags exist for.
* ``TRACES_TARGET=jaeger`` -- the Jaeger command line (OTLP/gRPC to ``JAEGER_ENDPOINT``), pointed at
  Phoenix's OTLP gRPC port.
* ``TRACES_TARGET=debug`` -- nothing forwarded; every span is printed with its attributes and events.

Phoenix is read back over its REST API and compared with what was sent (every span, parent link, kind,
status, attribute and span event), using the helpers and the session-scoped ``phoenix`` fixture of
``tests/test_backends.py`` (one Phoenix for this module's tests).

Skipped when rotel or bash is not installed; the Phoenix tests also when Arize Phoenix is not.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import test_backends
from stub_servers import stop_process
from test_backends import ROTEL_AGENT, assert_demo_shape, compare, send_demo

from smolagents_otel import configure
from smolagents_otel.cli import phoenix_command, wait_for_phoenix_spans

ROOT = Path(__file__).resolve().parents[1]
ROTEL_SH = ROOT / "collector" / "rotel.sh"
BASH = shutil.which("bash")

pytestmark = [
    pytest.mark.backend,
    pytest.mark.skipif(ROTEL_AGENT is None, reason="rotel is not installed (pip install rotel)"),
    pytest.mark.skipif(BASH is None, reason="bash is not installed"),
]
needs_phoenix = pytest.mark.skipif(
    phoenix_command() is None,
    reason='Arize Phoenix is not installed (pip install "smolagents-otel[phoenix]" or arize-phoenix)',
)

# The session fixture of tests/test_backends.py: the same `phoenix serve` set-up (free loopback ports,
# fresh working directory, stopped by pid). Assigned, not imported, so ruff does not see a redefinition.
phoenix = test_backends.phoenix

# Variables of rotel.sh (collector/README.md) that must not leak in from the caller's environment.
_SCRIPT_VARS = (
    "TRACES_TARGET",
    "LANGFUSE_AUTH",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "LANGFUSE_OTLP_ENDPOINT",
    "JAEGER_ENDPOINT",
    "METRICS_OTLP_ENDPOINT",
    "OTLP_GRPC_LISTEN",
    "OTLP_HTTP_LISTEN",
    "ROTEL_BIN",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RotelScript:
    """``bash collector/rotel.sh`` in the foreground as a child process; stopped by its pid."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.grpc_port, self.http_port = _free_port(), _free_port()
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("ROTEL_") and k not in _SCRIPT_VARS
        }
        self.env.update(
            PYTHON=sys.executable,  # the interpreter whose site-packages hold rotel
            OTLP_GRPC_LISTEN=f"127.0.0.1:{self.grpc_port}",
            OTLP_HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
            **env,
        )
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def grpc(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [BASH, str(ROTEL_SH)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 15
        while True:
            assert self.process.poll() is None, f"rotel.sh exited:\n{self.output()}"
            try:
                socket.create_connection(("127.0.0.1", self.http_port), timeout=0.5).close()
                socket.create_connection(("127.0.0.1", self.grpc_port), timeout=0.5).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"rotel did not listen within 15 s:\n{self.output()}"
                time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process(process)


@pytest.fixture
def rotel_script(tmp_path):
    started: list[RotelScript] = []

    def start(**env: str) -> RotelScript:
        script = RotelScript(env, tmp_path / f"rotel-{len(started)}.log")
        started.append(script)
        script.start()
        return script

    yield start
    for script in started:
        script.stop()


def _demo_provider(endpoint: str, protocol: str, project: str, monkeypatch) -> Any:
    # A plain OTLP application: the Phoenix project comes from the resource, set the standard way.
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"openinference.project.name={project}")
    return configure(
        backend="otlp", endpoint=endpoint, protocol=protocol, service_name=project, set_global=False
    )


def _round_trip(phoenix, project: str, provider, instrumentor) -> tuple[list[Any], list[dict[str, Any]]]:
    trace_id, sent = send_demo(provider, instrumentor)
    read = wait_for_phoenix_spans(phoenix.base_url, project, trace_id, expected=len(sent), timeout=30)
    assert len(read) == len(sent), f"Phoenix shows {len(read)} of {len(sent)} spans after 30 s"
    counts = compare(sent, read, trace_id)
    assert_demo_shape(read)
    events_sent = sum(len(s.events) for s in sent)
    assert counts["events_kept"] == counts["events_sent"] == events_sent > 0
    print(f"\n{project}: {len(read)}/{len(sent)} spans, {counts['events_kept']}/{events_sent} events")
    return sent, read


def _proc_file(pid: int, name: str) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return None


@needs_phoenix
def test_langfuse_command_line_forwards_to_phoenix(phoenix, rotel_script, instrumentor, monkeypatch):
    public, secret = "pk-lf-rotel-test", "sk-lf-rotel-test1"
    auth = base64.b64encode(f"{public}:{secret}".encode()).decode()
    assert auth.endswith("=")  # the padding rotel's multi-exporter form would reject
    rotel = rotel_script(
        TRACES_TARGET="langfuse",
        LANGFUSE_PUBLIC_KEY=public,
        LANGFUSE_SECRET_KEY=secret,
        LANGFUSE_OTLP_ENDPOINT=phoenix.base_url,  # rotel appends /v1/traces, as for Langfuse
    )
    assert "rotel.sh: traces -> langfuse; metrics -> off" in rotel.output()
    # The credentials reach rotel in its environment, never on its command line (visible to `ps`).
    cmdline = _proc_file(rotel.process.pid, "cmdline")
    environ = _proc_file(rotel.process.pid, "environ")
    if cmdline is not None and environ is not None:
        assert b"rotel-agent" in cmdline and auth.encode() not in cmdline
        assert f"ROTEL_OTLP_EXPORTER_TRACES_CUSTOM_HEADERS=Authorization=Basic {auth}".encode() in environ

    provider = _demo_provider(rotel.http, "http/protobuf", "rotel-sh-langfuse", monkeypatch)
    _round_trip(phoenix, "rotel-sh-langfuse", provider, instrumentor)

    # Without METRICS_OTLP_ENDPOINT the script switches the metrics receiver off: an (empty, valid)
    # OTLP metrics request is refused with 404 instead of being accepted (200) and forwarded nowhere.
    request = urllib.request.Request(
        f"{rotel.http}/v1/metrics", data=b"", headers={"Content-Type": "application/x-protobuf"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 404


@needs_phoenix
def test_jaeger_command_line_forwards_to_phoenix_grpc(phoenix, rotel_script, instrumentor, monkeypatch):
    # JAEGER_ENDPOINT is host:port, as for collector/agent.yaml; the script makes it a URL for rotel.
    rotel = rotel_script(TRACES_TARGET="jaeger", JAEGER_ENDPOINT=f"127.0.0.1:{phoenix.grpc_port}")
    assert "rotel.sh: traces -> jaeger; metrics -> off" in rotel.output()
    provider = _demo_provider(rotel.grpc, "grpc", "rotel-sh-jaeger", monkeypatch)
    _round_trip(phoenix, "rotel-sh-jaeger", provider, instrumentor)


def test_debug_command_line_prints_spans_and_events(rotel_script, instrumentor, monkeypatch):
    rotel = rotel_script()  # no credentials, no JAEGER_ENDPOINT: the script's default is debug
    assert "rotel.sh: traces -> debug; metrics -> off" in rotel.output()
    provider = _demo_provider(rotel.http, "http/protobuf", "rotel-sh-debug", monkeypatch)
    trace_id, sent = send_demo(provider, instrumentor)
    wanted_events = sum(len(s.events) for s in sent)
    wanted_ids = {format(s.context.span_id, "016x") for s in sent}
    span_header = re.compile(
        rf"Trace ID\s*: {trace_id}\n\s*Parent ID\s*: [0-9a-f]*\n\s*ID\s*: ([0-9a-f]{{16}})"
    )
    deadline = time.monotonic() + 15
    while True:  # rotel prints each batch when it is exported (batch timeout)
        text = rotel.output()
        ids = set(span_header.findall(text))
        events = len(re.findall(r"^SpanEvent #\d+$", text, flags=re.M))
        if ids == wanted_ids and events >= wanted_events:
            break
        assert time.monotonic() < deadline, f"rotel printed {len(ids)}/{len(sent)} spans, {events} events"
        time.sleep(0.2)
    text = rotel.output()
    for span in sent:
        assert f"Name           : {span.name}" in text
    assert "-> Name: smolagents.veto" in text
    assert "smolagents.veto.reason: Str(code touching 'subprocess' is not allowed" in text
    print(json.dumps({"debug": {"spans": len(ids), "events": events}}))
