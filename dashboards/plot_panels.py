"""Plot the Grafana dashboards' panels from real Prometheus query results of a demo run.

.. code-block:: text

    python dashboards/plot_panels.py [--duration 180] [--out-dir dashboards/pictures] [--seed 7]

Grafana is not available where these pictures are made, so this script does what Grafana would do with
the panels' queries, without Grafana:

1. the app side: an OpenTelemetry ``MeterProvider`` with OpenTelemetry's Prometheus exporter
   (``opentelemetry-exporter-prometheus``), served on ``127.0.0.1:<free port>``; smolagents is
   instrumented with it;
2. a real Prometheus (``prometheus`` binary, e.g. Debian's 2.42) in a temporary directory, scraping that
   endpoint every second;
3. the package's demo agents (:func:`smolagents_otel.demo.run_demo`, offline scripted models) run for
   ``--duration`` seconds in a random but seeded mix: plain demo runs (one veto each), a tool that
   raises, a model endpoint that times out (mostly during a simulated incident in the middle of the
   run), runs that hit ``max_steps``, streamed calls and a lifecycle callback that raises. The scripted
   models wait a random, model-dependent time before answering and count prompt tokens from the
   prompt's length (~4 characters a token), so latency and token panels show something;
4. every target of every panel in ``dashboards/*.json`` is sent to Prometheus' HTTP API
   (``/api/v1/query_range``; ``/api/v1/query`` for instant targets) with the Grafana variables replaced
   as Grafana would (``$agent``/``$model`` = All = ``.*``, ``$__rate_interval`` = ``--rate-interval``,
   ``$__range`` = the run's length);
5. each dashboard is drawn as a grid of small charts laid out like its ``gridPos`` into
   ``<out-dir>/<dashboard file stem>.png``.

The pictures are plotted from real Prometheus query results; they are not Grafana screenshots.

``tests/test_prometheus.py`` uses the building blocks below (:class:`MetricsEndpoint`,
:class:`PrometheusServer`, :class:`DemoTraffic`, :func:`panel_queries`, :func:`grafana_to_promql`...);
only :func:`plot_dashboard` needs matplotlib.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import logging
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "dashboards"
PICTURES = DASHBOARDS / "pictures"

CAPTION = "plotted from real Prometheus query results of a demo run \u2014 not a Grafana screenshot"

logger = logging.getLogger("plot_panels")


# --------------------------------------------------------------------------------------------- dashboards


@dataclass(frozen=True)
class PanelQuery:
    """One target (PromQL expression) of one panel."""

    dashboard: str  # file stem, e.g. "agent-overview"
    panel_id: int
    title: str
    panel_type: str
    ref_id: str
    expr: str
    legend: str
    instant: bool


@dataclass(frozen=True)
class VariableQuery:
    """A Grafana template variable ``label_values(metric{...}, label)``."""

    dashboard: str
    name: str
    query: str
    metric: str  # the series selector, matchers included
    label: str


def dashboard_paths(directory: Path = DASHBOARDS) -> list[Path]:
    return sorted(directory.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def panels_of(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's panels, with the panels of (collapsed) rows flattened in."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard.get("panels") or []:
        if panel.get("type") == "row":
            panels.extend(panel.get("panels") or [])
        else:
            panels.append(panel)
    return panels


def panel_queries(path: Path) -> list[PanelQuery]:
    dashboard = load_dashboard(path)
    queries = []
    for panel in panels_of(dashboard):
        for target in panel.get("targets") or []:
            if not target.get("expr"):
                continue
            instant = bool(target.get("instant")) and not target.get("range", False)
            queries.append(
                PanelQuery(
                    dashboard=path.stem,
                    panel_id=int(panel.get("id", 0)),
                    title=str(panel.get("title", "")),
                    panel_type=str(panel.get("type", "")),
                    ref_id=str(target.get("refId", "")),
                    expr=target["expr"],
                    legend=str(target.get("legendFormat") or ""),
                    instant=instant,
                )
            )
    return queries


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<metric>[^,]+?)\s*,\s*(?P<label>\w+)\s*\)\s*$")


def variable_queries(path: Path) -> list[VariableQuery]:
    """The dashboard's query variables; only ``label_values(metric, label)`` is supported."""
    dashboard = load_dashboard(path)
    found = []
    for var in (dashboard.get("templating") or {}).get("list") or []:
        if var.get("type") != "query":
            continue
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(query or "")
        if not match:
            raise ValueError(f"{path.name}: variable {var.get('name')}: unsupported query {query!r}")
        found.append(VariableQuery(path.stem, str(var.get("name")), query, match["metric"], match["label"]))
    return found


def _duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total, pos = 0.0, 0
    for match in re.finditer(r"(\d+(?:\.\d+)?)(ms|[smhdwy])", text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * units[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return total


def grafana_to_promql(
    expr: str, *, rate_interval: str = "1m", range_: str = "5m", interval: str = "15s", all_value: str = ".*"
) -> str:
    """Replace Grafana's variables as Grafana would before sending ``expr`` to Prometheus.

    Built-ins: ``$__rate_interval``, ``$__interval`` (+ ``_ms``), ``$__range`` (+ ``_s``, ``_ms``);
    every dashboard variable (``$agent``, ``${agent}``, ``${agent:regex}``, ``[[agent]]``) is "All",
    i.e. ``all_value`` (the dashboards' ``allValue`` is ``.*``). Unknown built-ins raise ``ValueError``.
    """
    range_s = _duration_seconds(range_)
    interval_s = _duration_seconds(interval)
    builtins = {
        "__rate_interval": rate_interval,
        "__interval": interval,
        "__interval_ms": str(int(interval_s * 1000)),
        "__range": range_,
        "__range_s": str(int(range_s)),
        "__range_ms": str(int(range_s * 1000)),
    }

    def builtin(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in builtins:
            raise ValueError(f"unknown Grafana built-in variable ${name} in {expr!r}")
        return builtins[name]

    out = re.sub(r"\$\{(__\w+)\}|\$(__\w+)", builtin, expr)
    return re.sub(r"\$\{\w+(?::\w+)?\}|\$\w+|\[\[\w+\]\]", lambda _m: all_value, out)


def legend_text(legend: str, labels: dict[str, str]) -> str:
    """Grafana's legend: ``{{label}}`` replaced by the series' label value; default: the label set."""
    if legend.strip():
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), legend).strip()
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}" if shown else "value"


# --------------------------------------------------------------------------------------------- processes


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _http_get_json(url: str, timeout: float = 10.0) -> tuple[int, Any]:
    status, body = _http_get(url, timeout)
    try:
        return status, json.loads(body or b"null")
    except ValueError:
        return status, body.decode(errors="replace")


class MetricsEndpoint:
    """The app's metrics endpoint: an SDK ``MeterProvider`` read by OpenTelemetry's Prometheus exporter.

    Served by ``prometheus_client.start_http_server`` on ``127.0.0.1`` (port 0: the OS picks a free one,
    so there is no race). The reader gets its own ``CollectorRegistry`` when the exporter supports it,
    so several endpoints in one process do not collide. ``close()`` stops the server and the provider.
    """

    def __init__(self, service_name: str = "smolagents-otel-demo") -> None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource
        from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

        try:
            self.registry = CollectorRegistry()
            self.reader = PrometheusMetricReader(registry=self.registry)
        except TypeError:  # older exporters always register in the global registry
            self.registry = REGISTRY
            self.reader = PrometheusMetricReader()
        self.meter_provider = MeterProvider(
            metric_readers=[self.reader],
            resource=Resource.create({"service.name": service_name}),
            shutdown_on_exit=False,
        )
        self._server, self._thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.port = int(self._server.server_port)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}/metrics"

    def scrape(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as response:  # noqa: S310 - loopback only
            return response.read().decode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.meter_provider.shutdown()


class PrometheusError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """In the child, before exec (Linux): SIGTERM when the process that started it dies, so a
    killed script or test run leaves no Prometheus behind."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class PrometheusServer:
    """A real Prometheus on a free ``127.0.0.1`` port, scraping ``targets`` every ``scrape_interval``.

    Its config and TSDB live in ``work_dir``. ``start()`` waits until ``/-/ready`` answers 200;
    ``stop()`` sends SIGTERM to its pid (SIGKILL after 10 s). Usable as a context manager.
    """

    def __init__(
        self,
        targets: list[str],
        work_dir: str | os.PathLike[str],
        *,
        scrape_interval: str = "1s",
        job: str = "smolagents-otel-demo",
        binary: str | None = None,
    ) -> None:
        self.targets = list(targets)
        self.work_dir = Path(work_dir)
        self.scrape_interval = scrape_interval
        self.job = job
        self.binary = binary or shutil.which("prometheus")
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "prometheus.log"

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def config(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "scrape_configs": [
                {
                    "job_name": self.job,
                    "scrape_interval": self.scrape_interval,
                    "scrape_timeout": self.scrape_interval,
                    "static_configs": [{"targets": self.targets}],
                }
            ],
        }

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        if not self.binary:
            raise PrometheusError("the prometheus binary is not installed (apt-get install prometheus)")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config_file = self.work_dir / "prometheus.yml"
        config_file.write_text(json.dumps(self.config(), indent=2))  # JSON is YAML
        last_error = ""
        for _attempt in range(3):  # the free port can be taken between the check and Prometheus' bind
            self.port = free_port()
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={self.work_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            try:
                self._wait_ready(timeout)
                return
            except PrometheusError as exc:
                last_error = str(exc)
                self.stop()
                if "address already in use" not in last_error:
                    break
        raise PrometheusError(last_error)

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise PrometheusError(f"prometheus exited with code {code}:\n{self.log_tail()}")
            try:
                status, _ = _http_get(f"{self.base_url}/-/ready", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise PrometheusError(f"prometheus was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- HTTP API
    def api(self, path: str, params: dict[str, Any] | list[tuple[str, Any]]) -> Any:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        status, body = _http_get_json(url)
        if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise PrometheusError(f"GET {url} answered {status}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """``/api/v1/query``: the instant vector (or [scalar]) of ``expr`` at ``at`` (default now)."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("/api/v1/query", params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return list(self.api("/api/v1/query_range", params)["result"])

    def label_values(self, label: str, match: str | None = None) -> list[str]:
        params = [("match[]", match)] if match else []
        return list(self.api(f"/api/v1/label/{label}/values", params))

    def series(self, match: str) -> list[dict[str, str]]:
        return list(self.api("/api/v1/series", [("match[]", match)]))

    def wait_for_target(self, timeout: float = 20.0) -> None:
        """Until every target was scraped successfully at least once."""
        expr = f'up{{job="{self.job}"}} == 1'
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.query(expr)) == len(self.targets):
                return
            time.sleep(0.2)
        raise PrometheusError(f"{self.targets} not scraped within {timeout:.0f} s:\n{self.log_tail()}")

    def wait_for_scrape_after(self, moment: float, timeout: float = 20.0) -> None:
        """Until every target was scraped successfully by a scrape that started after ``moment``
        (a ``time.time()``): then all that was recorded before ``moment`` is in Prometheus."""
        # timestamp() of a plain selector is the sample's (= the scrape's start) time; of anything
        # else, e.g. `up == 1`, it would be the evaluation time.
        selector = f'up{{job="{self.job}"}}'
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stamps = [float(r["value"][1]) for r in self.query(f"timestamp({selector})")]
            healthy = [r for r in self.query(selector) if r["value"][1] == "1"]
            if len(stamps) == len(healthy) == len(self.targets) and min(stamps) > moment:
                return
            time.sleep(0.2)
        raise PrometheusError(f"no scrape after {moment:.3f} within {timeout:.0f} s:\n{self.log_tail()}")


# --------------------------------------------------------------------------------------------- traffic


@functools.cache
def _smolagents_pieces() -> Any:
    """The scripted model classes; smolagents is imported lazily (this module imports without it)."""
    from smolagents import Model
    from smolagents.models import ChatMessage

    from smolagents_otel.testing import ScriptedModel

    class PacedScriptedModel(ScriptedModel):
        """A ScriptedModel that takes ``delay(model_id)`` seconds before it answers (or streams its first
        chunk) and, with ``estimate_tokens``, counts prompt tokens from the prompt's length (about 4
        characters a token) instead of a constant 100."""

        def __init__(
            self,
            replies: Any,
            model_id: str,
            delay: Callable[[str], float] | None,
            estimate_tokens: bool = False,
        ) -> None:
            super().__init__(replies, model_id=model_id)
            self.delay = delay
            self.estimate_tokens = estimate_tokens

        def _pace(self, messages: Any) -> None:
            if self.estimate_tokens:
                text = json.dumps([getattr(m, "content", None) or str(m) for m in messages], default=str)
                self.input_tokens_per_call = max(1, len(text) // 4)
            if self.delay is not None:
                time.sleep(max(0.0, self.delay(self.model_id)))

        def generate(self, messages: Any, *args: Any, **kwargs: Any) -> ChatMessage:
            self._pace(messages)
            return super().generate(messages, *args, **kwargs)

        def generate_stream(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            self._pace(messages)
            yield from super().generate_stream(messages, *args, **kwargs)

    class OutageModel(Model):
        """A model whose endpoint always times out (after ``delay(model_id)`` seconds)."""

        def __init__(self, model_id: str, delay: Callable[[str], float] | None) -> None:
            super().__init__(model_id=model_id)
            self.delay = delay

        def generate(self, messages: Any, *args: Any, **kwargs: Any) -> ChatMessage:
            if self.delay is not None:
                time.sleep(max(0.0, self.delay(self.model_id)))
            raise TimeoutError(f"{self.model_id}: the model endpoint timed out (scripted outage)")

    return PacedScriptedModel, OutageModel


def party_audit_log(event: Any) -> None:
    """A lifecycle callback with a bug: it fails on every agent's first step (shows as a callback error)."""
    if event.step_number == 1:
        raise OSError("audit log volume is full (scripted callback failure)")


@dataclass
class DemoTraffic:
    """Runs the package's demo agents in the variants the dashboards need to show something everywhere.

    Smolagents must already be instrumented (``Instrumentor().instrument(tracer_provider=...,
    meter_provider=...)``). Kinds:

    * ``demo``: :func:`run_demo` as is; alfred's first action is vetoed by the party policy;
    * ``tool_error``: alfred first calls ``superhero_party_theme_generator(category=None)``, which raises;
    * ``model_outage``: party_manager's model endpoint times out: a failed model call, a failed run;
    * ``max_steps``: :func:`run_demo` with ``max_steps=2``: alfred stops at max_steps;
    * ``streamed``: theme_scout with ``stream_outputs=True`` (time to first chunk);
    * ``callback_error``: :func:`run_demo` with :func:`party_audit_log` registered on STEP_END.

    Code agents (alfred, party_manager) use :data:`CODE_MODEL_ID`, tool-calling agents
    :data:`TOOL_MODEL_ID`, the failing endpoint :data:`OUTAGE_MODEL_ID`.
    """

    tracer_provider: Any = None
    delay: Callable[[str], float] | None = None  # model_id -> seconds before the answer
    estimate_tokens: bool = False  # prompt tokens from the prompt's length instead of 100 a call
    counts: dict[str, int] = field(default_factory=dict)

    KINDS = ("demo", "tool_error", "model_outage", "max_steps", "streamed", "callback_error")
    CODE_MODEL_ID = "scripted/Qwen2.5-Coder-32B-Instruct"
    TOOL_MODEL_ID = "scripted/Llama-3.3-70B-Instruct"
    OUTAGE_MODEL_ID = "scripted/flaky-endpoint"
    CODE_AGENTS = ("alfred", "party_manager")

    def _factory(self, kind: str) -> Callable[[str], Any]:
        from smolagents_otel.demo import SCRIPTED_REPLIES

        paced, outage = _smolagents_pieces()

        def factory(agent_name: str) -> Any:
            replies = list(SCRIPTED_REPLIES[agent_name])
            if kind == "model_outage" and agent_name == "party_manager":
                return outage(self.OUTAGE_MODEL_ID, self.delay)
            if kind == "tool_error" and agent_name == "alfred":
                replies.insert(
                    2,
                    "Thought: Let me ask the theme generator for any theme first.\n<code>\n"
                    "theme = superhero_party_theme_generator(category=None)\n</code>",
                )
            model_id = self.CODE_MODEL_ID if agent_name in self.CODE_AGENTS else self.TOOL_MODEL_ID
            return paced(replies, model_id, self.delay, self.estimate_tokens)

        return factory

    def run(self, kind: str) -> str:
        """Run one variant; returns ``"ok"`` or the name of the exception the demo raised."""
        from smolagents import ToolCallingAgent

        from smolagents_otel import Instrumentor, LifecycleEvent
        from smolagents_otel.demo import THEME_SCOUT_TASK, SuperheroPartyThemeTool, run_demo, suggest_menu

        if kind not in self.KINDS:
            raise ValueError(f"unknown traffic kind {kind!r}; one of {self.KINDS}")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        factory = self._factory(kind)
        outcome = "ok"
        handle = None
        if kind == "callback_error":
            handle = Instrumentor().on(LifecycleEvent.STEP_END, party_audit_log)
        try:
            if kind == "streamed":
                agent = ToolCallingAgent(
                    tools=[SuperheroPartyThemeTool(), suggest_menu],
                    model=factory("theme_scout"),
                    name="theme_scout",
                    description="Suggests party themes and menus.",
                    stream_outputs=True,
                    verbosity_level=-1,
                )
                with contextlib.redirect_stdout(io.StringIO()):  # rich's live view of the stream
                    agent.run(THEME_SCOUT_TASK)
            else:
                max_steps = 2 if kind == "max_steps" else 6
                run_demo(factory, tracer_provider=self.tracer_provider, max_steps=max_steps)
        except Exception as exc:  # noqa: BLE001 - the outage makes the demo raise, on purpose
            if kind != "model_outage":
                raise
            outcome = type(exc).__name__
        finally:
            if handle is not None:
                handle.remove()
        return outcome

    def round(self) -> dict[str, str]:
        """Every kind once."""
        return {kind: self.run(kind) for kind in self.KINDS}


@contextlib.contextmanager
def instrumented(tracer_provider: Any, meter_provider: Any) -> Iterator[Any]:
    """smolagents instrumented with these providers for the duration of the block."""
    from smolagents_otel import Instrumentor

    instrumentor = Instrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield instrumentor
    finally:
        instrumentor.uninstrument()


class _DropScriptedCallbackErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "party_audit_log" not in record.getMessage()


# --------------------------------------------------------------------------------------------- plotting


@dataclass
class PanelData:
    query: PanelQuery
    promql: str
    series: list[dict[str, Any]]  # matrix (range) or vector (instant) results


def _unit(panel: dict[str, Any]) -> str:
    return str(((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit") or "short")


def _custom(panel: dict[str, Any]) -> dict[str, Any]:
    return ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("custom") or {}


# Colours for values with a meaning (finish reasons), like a Grafana override would give them.
_MEANINGFUL_COLOURS = {
    "final_answer": "#56a64b",
    "error": "#e02f44",
    "max_steps": "#ff9830",
    "interrupted": "#a352cc",
}


def _color(name: str) -> str | None:
    return _MEANINGFUL_COLOURS.get(name.strip())


def _format_value(value: float, unit: str) -> str:
    """Roughly Grafana's units: ``percentunit``, ``s`` (ms below 1 s), ``short`` (K, Mil)."""
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    if unit == "s":
        return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.3g} Mil"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.3g} K"
    return f"{value:.3g}"


def _plot_timeseries(
    ax: Any, panel: dict[str, Any], data: list[PanelData], start: float, end: float, step: float
) -> int:
    from matplotlib.ticker import FuncFormatter, MultipleLocator, PercentFormatter

    unit = _unit(panel)
    custom = _custom(panel)
    bars = custom.get("drawStyle") == "bars"
    stacked = (custom.get("stacking") or {}).get("mode") == "normal"
    drawn = 0
    bottom: dict[float, float] = {}
    for item in data:
        for series in item.series:
            points = [(float(t) - start, float(v)) for t, v in series.get("values", [])]
            points = [(t, v) for t, v in points if math.isfinite(v)]
            if not points:
                continue
            times = [t for t, _ in points]
            values = [v for _, v in points]
            name = legend_text(item.query.legend, series["metric"])
            name = "\u200b" + name if name.startswith("_") else name  # matplotlib hides "_..." labels
            label = (
                f"{name}  (mean {_format_value(sum(values) / len(values), unit)}, "
                f"max {_format_value(max(values), unit)})"
            )
            if bars:
                base = [bottom.get(t, 0.0) if stacked else 0.0 for t in times]
                ax.bar(
                    times, values, width=step * 0.8, bottom=base, label=label, alpha=0.85, color=_color(name)
                )
                if stacked:
                    for t, v, b in zip(times, values, base, strict=True):
                        bottom[t] = b + v
            else:
                (line,) = ax.plot(times, values, label=label, linewidth=1.4, color=_color(name))
                ax.fill_between(times, values, alpha=0.08, color=line.get_color())
            drawn += 1
    ax.set_xlim(0, end - start)
    ax.xaxis.set_major_locator(MultipleLocator(60 if end - start > 150 else 15))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{int(v) // 60}:{int(v) % 60:02d}"))
    if unit == "percentunit":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: _format_value(v, unit) if v else "0"))
    if ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("min") == 0:
        ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.25)
    ax.tick_params(labelsize=7)
    if drawn:
        ax.legend(fontsize=6.5, loc="upper left", framealpha=0.75, ncol=1 if drawn <= 4 else 2)
    return drawn


def _plot_pie(ax: Any, panel: dict[str, Any], data: list[PanelData]) -> int:
    labels, values = [], []
    for item in data:
        for series in item.series:
            raw = series.get("value") or (series.get("values") or [[0, "nan"]])[-1]
            value = float(raw[1])
            if math.isfinite(value) and value > 0:
                labels.append(legend_text(item.query.legend, series["metric"]))
                values.append(value)
    if not values:
        return 0
    total = sum(values)
    wedges, _texts = ax.pie(
        values,
        labels=[
            f"{name}\n{v / total:.0%}" if v / total >= 0.08 else ""
            for name, v in zip(labels, values, strict=True)
        ],
        colors=[_color(name) for name in labels],
        startangle=90,
        counterclock=False,
        radius=0.9,
        wedgeprops={"width": 0.38, "edgecolor": "white"},
        textprops={"fontsize": 7},
    )
    ax.legend(
        wedges,
        [f"{name}: {v:.0f} ({v / total:.0%})" for name, v in zip(labels, values, strict=True)],
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.04),
        ncol=len(values) if len(values) <= 3 else 2,
        frameon=False,
    )
    ax.set_aspect("equal")
    return len(values)


def plot_dashboard(
    path: Path, data: list[PanelData], out: Path, *, start: float, end: float, step: float, note: str
) -> Path:
    """Draw every panel of the dashboard at ``path`` like its gridPos, from ``data``; write ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec

    dashboard = load_dashboard(path)
    panels = panels_of(dashboard)
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(20, rows * 0.62 + 1.6), dpi=110)
    top = 1 - 0.9 / (rows * 0.62 + 1.6)
    bottom = 0.75 / (rows * 0.62 + 1.6)
    grid = GridSpec(rows, 24, figure=fig, left=0.04, right=0.985, top=top, bottom=bottom, hspace=6, wspace=6)
    for panel in panels:
        pos = panel["gridPos"]
        # leave one grid row at the bottom of each panel for the x tick labels / spacing
        ax = fig.add_subplot(grid[pos["y"] : pos["y"] + pos["h"] - 1, pos["x"] : pos["x"] + pos["w"]])
        mine = [d for d in data if d.query.panel_id == panel.get("id")]
        if panel.get("type") == "piechart":
            drawn = _plot_pie(ax, panel, mine)
        else:
            drawn = _plot_timeseries(ax, panel, mine, start, end, step)
        unit = _unit(panel)
        suffix = {"s": " (s)", "percentunit": " (%)"}.get(unit, "")
        ax.set_title(f"{panel.get('title')}{suffix}", fontsize=10, fontweight="bold", loc="left")
        if not drawn:
            ax.text(
                0.5,
                0.5,
                "No data",
                ha="center",
                va="center",
                fontsize=12,
                color="grey",
                transform=ax.transAxes,
            )
    fig.suptitle(
        f"{dashboard.get('title')}  ({path.name})  \u2014  {CAPTION}",
        fontsize=13,
        fontweight="bold",
        x=0.04,
        ha="left",
    )
    fig.text(0.04, 0.012, note.replace("$", r"\$"), fontsize=8.5, color="#333333", ha="left", va="bottom")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------------------------- main


def _delay_model(rng: random.Random, incident: Callable[[], bool]) -> Callable[[str], float]:
    medians = {
        DemoTraffic.CODE_MODEL_ID: 0.35,
        DemoTraffic.TOOL_MODEL_ID: 0.12,
        DemoTraffic.OUTAGE_MODEL_ID: 1.0,  # a timeout takes a while
    }

    def delay(model_id: str) -> float:
        median = medians.get(model_id, 0.2) * (1.8 if incident() else 1.0)
        return min(3.0, rng.lognormvariate(math.log(median), 0.5))

    return delay


def generate_traffic(
    traffic: DemoTraffic, duration: float, rng: random.Random, phase: dict[str, bool]
) -> None:
    """Random, seeded traffic for ``duration`` s: every kind once first, then a weighted mix, with an
    incident (mostly model outages, slower models) in the middle 20 % of the time."""
    weights = {
        "demo": 40,
        "streamed": 14,
        "tool_error": 12,
        "model_outage": 4,
        "max_steps": 10,
        "callback_error": 6,
    }
    first = rng.sample(list(DemoTraffic.KINDS), len(DemoTraffic.KINDS))
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < duration:
        phase["incident"] = 0.4 <= elapsed / duration < 0.6
        mix = dict(weights)
        if phase["incident"]:
            mix["model_outage"] = 45
        kind = first.pop() if first else rng.choices(list(mix), weights=list(mix.values()))[0]
        outcome = traffic.run(kind)
        logger.info("%6.1f s  %-15s %s", elapsed, kind, outcome)
        time.sleep(rng.uniform(0.2, 2.0 if elapsed / duration < 0.75 else 4.0))


def collect(args: argparse.Namespace) -> dict[str, Any]:
    """Run Prometheus + the demo traffic, then every panel query; the results as plain JSON data."""
    from opentelemetry.sdk.trace import TracerProvider

    rng = random.Random(args.seed)
    phase = {"incident": False}
    tracer_provider = TracerProvider(shutdown_on_exit=False)  # spans are not needed here
    with tempfile.TemporaryDirectory(prefix="plot-panels-") as tmp, contextlib.ExitStack() as stack:
        endpoint = MetricsEndpoint()
        stack.callback(endpoint.close)
        prometheus = stack.enter_context(PrometheusServer([endpoint.target], tmp))
        prometheus.wait_for_target()
        logger.info("Prometheus %s scrapes %s every 1 s", prometheus.base_url, endpoint.url)
        traffic = DemoTraffic(
            tracer_provider, delay=_delay_model(rng, lambda: phase["incident"]), estimate_tokens=True
        )
        start = time.time()
        with instrumented(tracer_provider, endpoint.meter_provider):
            generate_traffic(traffic, args.duration, rng, phase)
        done = time.time()
        prometheus.wait_for_scrape_after(done)
        end = time.time() + args.step
        range_ = f"{int(math.ceil(end - start))}s"
        note = (
            f"Prometheus {_prometheus_version(prometheus)} scraped the demo's OpenTelemetry Prometheus "
            f"exporter every 1 s during {(done - start) / 60:.1f} min of demo traffic "
            f"({', '.join(f'{k} x{v}' for k, v in sorted(traffic.counts.items()))}; seed {args.seed}).\n"
            f"Each panel's PromQL as in the dashboard JSON, with $agent/$model = All (.*), "
            f"$__rate_interval = {args.rate_interval}, $__range = {range_}; range queries with a "
            f"{args.step:g} s step. Scripted models with random latency; "
            f"{DemoTraffic.OUTAGE_MODEL_ID} times out mostly during an incident in the middle of the run. "
            f"x axis: minutes since the traffic started."
        )
        queries: dict[str, list[dict[str, Any]]] = {}
        for path in dashboard_paths():
            for query in panel_queries(path):
                promql = grafana_to_promql(query.expr, rate_interval=args.rate_interval, range_=range_)
                if query.instant:
                    result = prometheus.query(promql, at=end)
                else:
                    result = prometheus.query_range(promql, start, end, args.step)
                logger.info("%s / %s %s: %d series", path.stem, query.title, query.ref_id, len(result))
                queries.setdefault(path.stem, []).append(
                    {"panel_id": query.panel_id, "ref_id": query.ref_id, "promql": promql, "result": result}
                )
    return {"start": start, "end": end, "step": args.step, "note": note, "queries": queries}


def plot_all(collected: dict[str, Any], out_dir: Path) -> list[Path]:
    written = []
    for path in dashboard_paths():
        by_ref = {(q["panel_id"], q["ref_id"]): q for q in collected["queries"].get(path.stem, [])}
        data = []
        for query in panel_queries(path):
            found = by_ref.get((query.panel_id, query.ref_id))
            if found is not None:
                data.append(PanelData(query, found["promql"], found["result"]))
        out = out_dir / f"{path.stem}.png"
        plot_dashboard(
            path,
            data,
            out,
            start=collected["start"],
            end=collected["end"],
            step=collected["step"],
            note=collected["note"],
        )
        logger.info("wrote %s", out)
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of demo traffic (default 180)")
    parser.add_argument("--out-dir", type=Path, default=PICTURES, help=f"default {PICTURES}")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate-interval", default="30s", help="value of $__rate_interval (default 30s)")
    parser.add_argument("--step", type=float, default=5.0, help="query_range step in seconds (default 5)")
    parser.add_argument("--save-data", type=Path, metavar="FILE", help="also write the query results as JSON")
    parser.add_argument(
        "--replot", type=Path, metavar="FILE", help="plot query results saved with --save-data; run nothing"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="plot_panels: %(message)s")
    logging.getLogger("smolagents_otel").addFilter(_DropScriptedCallbackErrors())

    if args.replot is not None:
        plot_all(json.loads(args.replot.read_text()), args.out_dir)
        return 0
    if shutil.which("prometheus") is None:
        logger.error("the prometheus binary is not installed (Debian: apt-get install prometheus)")
        return 1

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)  # so Prometheus is stopped on the way out

    signal.signal(signal.SIGTERM, interrupt)
    try:
        collected = collect(args)
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130
    if args.save_data is not None:
        args.save_data.write_text(json.dumps(collected))
    plot_all(collected, args.out_dir)
    return 0


def _prometheus_version(prometheus: PrometheusServer) -> str:
    try:
        return str(prometheus.api("/api/v1/status/buildinfo", {})["version"])
    except (PrometheusError, OSError, KeyError):
        return ""


if __name__ == "__main__":
    # Run the module as `plot_panels`, not `__main__`, so that names derived from it (the scripted
    # callback shows as `plot_panels.party_audit_log` in the callback-errors panel) read the same
    # whether the file is run or imported.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import plot_panels

    sys.exit(plot_panels.main())
