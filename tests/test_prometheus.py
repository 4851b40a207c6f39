"""The dashboards against real metrics: every panel query answers with data from the package's demo.

Two halves:

* **In memory** (no Prometheus): the demo agents run in every variant the dashboards show (a veto, a
  tool that raises, a model endpoint that times out, ``max_steps``, a streamed call, a lifecycle
  callback that raises) with an ``InMemoryMetricReader``; the metrics are translated to Prometheus
  names by the translation ``tests/test_collector_files.py`` checks the dashboards with (the
  OpenTelemetry Collector's ``prometheus`` exporter naming), and every metric, label and label value a
  dashboard query or legend uses must be among what was emitted.
* **Real Prometheus** (``backend`` mark; skipped only when the ``prometheus`` binary is missing --
  Debian's ``prometheus`` package, which CI installs): the app serves its metrics with OpenTelemetry's
  Prometheus exporter (``PrometheusMetricReader``, ``prometheus_client.start_http_server`` on
  ``127.0.0.1``); a Prometheus started here (free loopback port, temporary TSDB, 1 s scrape interval,
  stopped by pid) scrapes it while the demo traffic runs twice. Then the names the exporter exposes must
  be exactly the translated contract, and every PromQL expression of every panel and every template
  variable of ``dashboards/*.json`` -- Grafana variables replaced as Grafana would with "All"
  selected (``$agent``/``$model`` -> ``.*``, ``$__rate_interval`` -> ``1m``, ``$__range`` -> ``5m``)
  -- must answer ``/api/v1/query`` with a non-empty result holding a finite value.

The Prometheus process, the metrics endpoint, the demo traffic and the dashboard parsing are the ones
``dashboards/plot_panels.py`` uses to draw the panel pictures.
"""

from __future__ import annotations

import importlib.util
import math
import re
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader, Sum
from opentelemetry.sdk.trace import TracerProvider
from test_collector_files import METRIC_CONTRACT, prometheus_contract, prometheus_label, prometheus_series

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = shutil.which("prometheus")


def _load_plot_panels() -> ModuleType:
    if "plot_panels" in sys.modules:
        return sys.modules["plot_panels"]
    spec = importlib.util.spec_from_file_location("plot_panels", ROOT / "dashboards" / "plot_panels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["plot_panels"] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


pp = _load_plot_panels()

DASHBOARD_PATHS = pp.dashboard_paths()
PANEL_QUERIES = [q for path in DASHBOARD_PATHS for q in pp.panel_queries(path)]
VARIABLE_QUERIES = [v for path in DASHBOARD_PATHS for v in pp.variable_queries(path)]
DEMO_AGENTS = {"alfred", "theme_scout", "party_manager", "catering_agent"}
# What OpenTelemetry's Prometheus exporter adds to every series besides the metric's attributes (the
# collector's exporter adds otel_scope_name/otel_scope_version too); empty values are no labels.
SCOPE_LABELS = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
# Attributes the package sets beyond the contract of tests/test_collector_files.py (= the table in
# collector/README.md): none now; kept as the one place to list any.
BEYOND_CONTRACT: dict[str, set[str]] = {}

needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="the prometheus binary is not installed (Debian: apt-get install prometheus; CI installs it)",
)


def _query_id(query: Any) -> str:
    return f"{query.dashboard}/{query.panel_id}{query.ref_id} {query.title}"


# --------------------------------------------------------------------------------------------- PromQL parts

_TOKEN = re.compile(
    r"""\s+|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<range>\[[^\]]*\])|(?P<braces>\{[^}]*\})"""
    r"|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)|(?P<paren>[()])|(?P<op>.)"
)
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"bool", "and", "or", "unless", "offset", "inf", "nan"}
_MATCHER = re.compile(r"""(\w+)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def promql_usage(expr: str) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Series name -> {"matchers": [(label, op + value)...], "grouping": [(label, keyword)...]}.

    ``by``/``without`` labels go to the series inside the aggregation they belong to (``sum by (x)
    (...)`` or ``sum (...) by (x)``); ``on``/``ignoring``/``group_*`` labels to every series.
    """
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr) if m.lastgroup]
    partner: dict[int, int] = {}
    stack: list[int] = []
    for i, (kind, text) in enumerate(tokens):
        if kind == "paren" and text == "(":
            stack.append(i)
        elif kind == "paren":
            partner[i] = stack.pop()
            partner[partner[i]] = i
    if stack:
        raise ValueError(f"unbalanced parentheses in {expr!r}")
    used: dict[str, dict[str, list[tuple[str, str]]]] = {}
    selectors: list[tuple[int, str]] = []
    groupings: list[tuple[int, int, str, list[str]]] = []  # (lo, hi) token range, keyword, labels
    skip: set[int] = set()  # the label lists of by (...), on (...)
    for i, (kind, text) in enumerate(tokens):
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if i in skip or kind != "ident" or text.lower() in _KEYWORDS:
            continue
        if text in _GROUPING and following == "(":
            close = partner[i + 1]
            skip.update(range(i + 1, close + 1))
            labels = [t for k, t in tokens[i + 2 : close] if k == "ident"]
            if text in ("by", "without") and close + 1 < len(tokens) and tokens[close + 1][1] == "(":
                lo, hi = close + 1, partner[close + 1]  # sum by (x) ( ... )
            elif text in ("by", "without") and i > 0 and tokens[i - 1][1] == ")":
                lo, hi = partner[i - 1], i - 1  # sum ( ... ) by (x)
            else:
                lo, hi = 0, len(tokens) - 1
            groupings.append((lo, hi, text, labels))
            continue
        if following == "(" or following in ("by", "without"):
            continue  # a function or an aggregation
        entry = used.setdefault(text, {"matchers": [], "grouping": []})
        if following.startswith("{"):
            for label, op, double, single in _MATCHER.findall(following):
                entry["matchers"].append((label, op + (double or single)))
        selectors.append((i, text))
    for lo, hi, keyword, labels in groupings:
        for index, name in selectors:
            if lo <= index <= hi:
                used[name]["grouping"] += [(label, keyword) for label in labels]
    return used


def test_promql_usage_parser():
    usage = promql_usage(
        'histogram_quantile(0.5, sum by (le, m) (rate(a_seconds_bucket{x="chat", y=~".*"}[1m])))'
        " + max without (q) (d) / sum(rate(b_total[1m])) by (t) + on (z) c"
    )
    assert set(usage) == {"a_seconds_bucket", "b_total", "c", "d"}
    assert usage["a_seconds_bucket"] == {
        "matchers": [("x", "=chat"), ("y", "=~.*")],
        "grouping": [("le", "by"), ("m", "by"), ("z", "on")],
    }
    assert usage["d"] == {"matchers": [], "grouping": [("q", "without"), ("z", "on")]}
    assert usage["b_total"] == {"matchers": [], "grouping": [("t", "by"), ("z", "on")]}
    assert usage["c"] == {"matchers": [], "grouping": [("z", "on")]}


# --------------------------------------------------------------------------------------------- in memory


def emitted_series(reader: InMemoryMetricReader) -> dict[str, dict[str, Any]]:
    """Prometheus series name -> {"metric", "labels", "values"} of what the package emitted."""
    series: dict[str, dict[str, Any]] = {}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope.name != "smolagents_otel":
                continue
            for metric in scope_metrics.metrics:
                if isinstance(metric.data, Histogram):
                    kind = "histogram"
                elif isinstance(metric.data, Sum) and metric.data.is_monotonic:
                    kind = "counter"
                else:
                    kind = "gauge"
                values: dict[str, set[str]] = {}
                for point in metric.data.data_points:
                    for key, value in point.attributes.items():
                        values.setdefault(prometheus_label(key), set()).add(str(value))
                for name in prometheus_series(metric.name, kind, metric.unit or ""):
                    labels = set(values) | ({"le"} if name.endswith("_bucket") else set())
                    series[name] = {
                        "metric": metric.name,
                        "kind": kind,
                        "unit": metric.unit,
                        "labels": labels,
                        "values": values,
                    }
    return series


@pytest.fixture(scope="module")
def demo_metrics():
    """Every traffic variant once, recorded by an InMemoryMetricReader; the emitted series."""
    reader = InMemoryMetricReader()
    tracer_provider = TracerProvider()
    with pp.instrumented(tracer_provider, MeterProvider(metric_readers=[reader])):
        outcomes = pp.DemoTraffic(tracer_provider).round()
    assert outcomes == {**dict.fromkeys(pp.DemoTraffic.KINDS, "ok"), "model_outage": "AgentGenerationError"}
    return emitted_series(reader)


def test_emitted_metrics_match_the_contract(demo_metrics):
    got = {info["metric"]: (info["kind"], info["unit"]) for info in demo_metrics.values()}
    assert got == {name: (kind, unit) for name, (kind, unit, _) in METRIC_CONTRACT.items()}
    assert set(demo_metrics) == set(prometheus_contract())
    for name, info in demo_metrics.items():
        allowed = prometheus_contract()[name]["labels"] | BEYOND_CONTRACT.get(info["metric"], set())
        assert info["labels"] <= allowed, f"{name}: labels outside the contract {info['labels'] - allowed}"


@pytest.mark.parametrize("query", PANEL_QUERIES, ids=_query_id)
def test_dashboard_query_uses_emitted_metrics_and_labels(query, demo_metrics):
    expr = pp.grafana_to_promql(query.expr)
    usage = promql_usage(expr)
    assert usage, f"no metric found in {expr}"
    problems = []
    for name, used in usage.items():
        if name not in demo_metrics:
            problems.append(f"{name} was not emitted (emitted: {sorted(demo_metrics)})")
            continue
        info = demo_metrics[name]
        for label, _how in used["grouping"]:
            if label not in info["labels"]:
                problems.append(f"grouping label {label!r} never emitted on {name}")
        for label, matcher in used["matchers"]:
            op = re.match(r"=~|!~|!=|=", matcher).group()
            value = matcher[len(op) :]
            if op == "=" and value == "":
                continue  # label="" selects series without the label, e.g. successful calls
            if label not in info["labels"]:
                problems.append(f"matcher label {label!r} never emitted on {name}")
            elif op == "=" and value not in info["values"][label]:
                problems.append(
                    f"{label}={value!r} never emitted on {name} ({sorted(info['values'][label])})"
                )
            elif op == "=~" and not any(re.fullmatch(value, v) for v in info["values"][label]):
                problems.append(f"{label}=~{value!r} matches no emitted value on {name}")
    known = set().union(*(demo_metrics[n]["labels"] for n in usage if n in demo_metrics))
    for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", query.legend):
        if label not in known:
            problems.append(f"legend label {label!r} is not emitted on {sorted(usage)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("variable", VARIABLE_QUERIES, ids=lambda v: f"{v.dashboard}/{v.name}")
def test_dashboard_variable_uses_emitted_metric_and_label(variable, demo_metrics):
    assert variable.metric in demo_metrics
    assert variable.label in demo_metrics[variable.metric]["labels"]


def test_grafana_variable_substitution():
    expr = 'sum(rate(a{x=~"$agent", y=~"${model}", z=~"[[model]]"}[$__rate_interval])) / $__range_s'
    assert pp.grafana_to_promql(expr, rate_interval="30s", range_="5m") == (
        'sum(rate(a{x=~".*", y=~".*", z=~".*"}[30s])) / 300'
    )
    assert pp.grafana_to_promql("increase(a[$__range])", range_="1h") == "increase(a[1h])"
    with pytest.raises(ValueError, match="unknown Grafana built-in"):
        pp.grafana_to_promql("rate(a[$__nonsense])")


# --------------------------------------------------------------------------------------------- Prometheus


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """A real Prometheus that scraped the app's metrics endpoint while the demo traffic ran twice.

    Each variant runs in both rounds, and a successful scrape starts after each round: every series
    has two samples with an increase between them, which ``rate()``/``increase()`` need. (Prometheus
    answers at once, but its first scrape comes ~5 s later, after target discovery's first update;
    round 1 runs meanwhile.)
    """
    endpoint = pp.MetricsEndpoint()
    prometheus = pp.PrometheusServer([endpoint.target], tmp_path_factory.mktemp("prometheus"))
    started = time.monotonic()
    try:
        prometheus.start()
        ready = time.monotonic() - started
        tracer_provider = TracerProvider()
        traffic = pp.DemoTraffic(tracer_provider)
        with pp.instrumented(tracer_provider, endpoint.meter_provider):
            for _ in range(2):
                traffic.round()
                prometheus.wait_for_scrape_after(time.time())
        at = time.time()  # every query is evaluated here: the end of the traffic, whenever a test runs
        took = time.monotonic() - started
        print(f"\nPrometheus ready in {ready:.1f} s; both rounds scraped after {took:.1f} s")
        yield prometheus, endpoint, at
    finally:
        process = prometheus.process
        prometheus.stop()
        endpoint.close()
        assert process is None or process.poll() is not None


def _poll(query: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """``query()`` until it returns a series with a finite value (bounded); the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = query()
        if any(math.isfinite(float(r["value"][1])) for r in result) or time.monotonic() >= deadline:
            return result
        time.sleep(0.25)


@needs_prometheus
@pytest.mark.backend
def test_exposed_names_are_the_collector_names(scraped):
    prometheus, endpoint, _at = scraped
    contract = prometheus_contract()
    # what the app serves ...
    from prometheus_client.parser import text_string_to_metric_families

    served = {
        sample.name
        for family in text_string_to_metric_families(endpoint.scrape())
        for sample in family.samples
        if sample.labels.get("otel_scope_name") == "smolagents_otel"
    }
    assert served == set(contract)
    # ... and what Prometheus stored from it
    names = set(prometheus.label_values("__name__", match='{otel_scope_name="smolagents_otel"}'))
    assert names == set(contract), (
        f"extra {sorted(names - set(contract))}, missing {sorted(set(contract) - names)}"
    )
    extra_labels: set[str] = set()
    for series in prometheus.series('{otel_scope_name="smolagents_otel"}'):
        info = contract[series["__name__"]]
        labels = set(series) - {"__name__"}
        extra_labels |= labels - info["labels"] - BEYOND_CONTRACT.get(info["metric"], set())
    assert extra_labels <= SCOPE_LABELS, extra_labels
    print(f"\nexposed: {sorted(names)}\nlabels besides the contract: {sorted(extra_labels)}")


@needs_prometheus
@pytest.mark.backend
@pytest.mark.parametrize("query", PANEL_QUERIES, ids=_query_id)
def test_panel_query_answers_with_data(query, scraped):
    prometheus, _, at = scraped
    promql = pp.grafana_to_promql(query.expr, rate_interval="1m", range_="5m", interval="15s")
    result = _poll(lambda: prometheus.query(promql, at=at))
    finite = [r for r in result if math.isfinite(float(r["value"][1]))]
    assert finite, f"{query.title} {query.ref_id}: no data from {promql}\n{result}"
    for series in result:  # what Grafana would print as legend: every {{label}} has a value
        for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", query.legend):
            assert series["metric"].get(label), f"{label} missing in {series['metric']} for {query.legend!r}"


@needs_prometheus
@pytest.mark.backend
@pytest.mark.parametrize("variable", VARIABLE_QUERIES, ids=lambda v: f"{v.dashboard}/{v.name}")
def test_variable_query_answers_with_values(variable, scraped):
    prometheus, _, at = scraped
    # What Grafana asks for label_values(metric, label) ...
    values = set(prometheus.label_values(variable.label, match=variable.metric))
    # ... and the same as a PromQL query.
    grouped = _poll(lambda: prometheus.query(f"group by ({variable.label}) ({variable.metric})", at=at))
    assert values and values == {r["metric"][variable.label] for r in grouped}
    if variable.label == "gen_ai_agent_name":
        assert values == DEMO_AGENTS
    if variable.label == "gen_ai_request_model":
        assert {pp.DemoTraffic.CODE_MODEL_ID, pp.DemoTraffic.TOOL_MODEL_ID} <= values


@needs_prometheus
@pytest.mark.backend
def test_panels_show_each_demo_variant(scraped):
    """The data behind the panels is the traffic's: outcomes, errors, vetoes, streamed calls."""
    prometheus, _, at = scraped

    def labels(expr: str, label: str) -> set[str]:
        return {r["metric"].get(label, "") for r in _poll(lambda: prometheus.query(expr, at=at))}

    runs = "sum by (smolagents_finish_reason) (increase(smolagents_agent_run_duration_seconds_count[5m]))"
    assert labels(runs, "smolagents_finish_reason") == {"final_answer", "error", "max_steps"}
    tool_errors = "sum by (gen_ai_tool_name, error_type) (smolagents_tool_errors_total)"
    assert labels(tool_errors, "error_type") == {"AttributeError"}
    assert labels(tool_errors, "gen_ai_tool_name") == {"superhero_party_theme_generator"}
    failed = (
        "sum by (gen_ai_request_model, error_type) "
        '(gen_ai_client_operation_duration_seconds_count{error_type!=""})'
    )
    assert labels(failed, "gen_ai_request_model") == {pp.DemoTraffic.OUTAGE_MODEL_ID}
    assert labels(failed, "error_type") == {"TimeoutError"}
    vetoes = "sum by (gen_ai_agent_name, smolagents_lifecycle_event) (smolagents_vetoes_total)"
    assert labels(vetoes, "gen_ai_agent_name") == {"alfred"}
    assert labels(vetoes, "smolagents_lifecycle_event") == {"pre_execution"}
    callbacks = "sum by (smolagents_callback_name) (smolagents_callback_errors_total)"
    assert {name.rsplit(".", 1)[-1] for name in labels(callbacks, "smolagents_callback_name")} == {
        "party_audit_log"
    }
    streamed = "sum by (gen_ai_request_model) (gen_ai_client_operation_time_to_first_chunk_seconds_count)"
    assert labels(streamed, "gen_ai_request_model") == {pp.DemoTraffic.TOOL_MODEL_ID}
