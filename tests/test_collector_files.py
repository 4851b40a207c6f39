"""Static checks of the deployment files in ``collector/`` and the dashboards in ``dashboards/``.

* every YAML file under ``collector/`` parses;
* in every collector config, each component named in ``service.pipelines`` / ``service.extensions``
  is defined in the same file (ids such as ``otlphttp/langfuse`` included), and the key settings of
  the agent and gateway configs are present;
* every ``${VAR}`` / ``${env:VAR}`` used in a collector file is documented in ``collector/README.md``;
* every dashboard parses, every panel has a title and PromQL targets, and every metric and label a
  query uses exists in the metric contract below, translated to Prometheus names by
  :func:`prometheus_series` -- the one place that knows the translation.

The ``test_checker_*`` tests feed deliberately broken input to the same checking functions, so a
checker that silently accepts everything fails too. Nothing here needs Docker or a network; the
promtool test runs only where Prometheus' ``promtool`` is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse the collector configs")

ROOT = Path(__file__).resolve().parents[1]
COLLECTOR = ROOT / "collector"
DASHBOARDS = ROOT / "dashboards"
COLLECTOR_README = COLLECTOR / "README.md"

# --------------------------------------------------------------------------- the metric contract

# OpenTelemetry metric name -> (instrument kind, unit, attributes). The package's fixed contract.
METRIC_CONTRACT: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "gen_ai.client.operation.duration": (
        "histogram",
        "s",
        ("gen_ai.operation.name", "gen_ai.request.model", "gen_ai.provider.name", "error.type"),
    ),
    "gen_ai.client.token.usage": (
        "histogram",
        "{token}",
        ("gen_ai.operation.name", "gen_ai.request.model", "gen_ai.provider.name", "gen_ai.token.type"),
    ),
    "gen_ai.client.operation.time_to_first_chunk": (
        "histogram",
        "s",
        ("gen_ai.operation.name", "gen_ai.request.model", "gen_ai.provider.name"),
    ),
    "smolagents.agent.run.duration": ("histogram", "s", ("gen_ai.agent.name", "smolagents.finish_reason")),
    "smolagents.agent.steps": ("histogram", "{step}", ("gen_ai.agent.name",)),
    "smolagents.tool.calls": ("counter", "{call}", ("gen_ai.tool.name",)),
    "smolagents.tool.errors": ("counter", "{error}", ("gen_ai.tool.name", "error.type")),
    "smolagents.vetoes": ("counter", "{veto}", ("gen_ai.agent.name", "smolagents.lifecycle.event")),
    "smolagents.callback.errors": (
        "counter",
        "{error}",
        ("smolagents.lifecycle.event", "smolagents.callback.name"),
    ),
}

# Attributes whose values are a closed set: a dashboard matching another value is a typo.
ATTRIBUTE_VALUES: dict[str, frozenset[str]] = {
    "smolagents.finish_reason": frozenset({"final_answer", "max_steps", "error", "interrupted"}),
    "gen_ai.token.type": frozenset({"input", "output"}),
}

# Labels Prometheus adds to every scraped series.
SCRAPE_LABELS = frozenset({"job", "instance"})

# UCUM units that become a name suffix; `{...}` annotations are dropped. An unknown unit is an error
# so that a contract change cannot silently produce a wrong name.
_UNIT_SUFFIXES = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}


def prometheus_label(attribute: str) -> str:
    """``gen_ai.request.model`` -> ``gen_ai_request_model``."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", attribute)


def prometheus_series(name: str, kind: str, unit: str) -> tuple[str, ...]:
    """The series names the collector's / OTel SDK's Prometheus exporter produce for one metric.

    Dots (and any other invalid character) -> ``_``; the unit as suffix (``s`` -> ``_seconds``,
    annotations such as ``{token}`` dropped); counters get ``_total``; histograms expose
    ``_bucket``, ``_sum`` and ``_count``.
    """
    base = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    unit = re.sub(r"\{[^}]*\}", "", unit)
    if unit:
        if unit not in _UNIT_SUFFIXES:
            raise ValueError(f"no Prometheus suffix known for unit {unit!r} of {name}")
        suffix = _UNIT_SUFFIXES[unit]
        if not base.endswith("_" + suffix):
            base = f"{base}_{suffix}"
    if kind == "counter":
        return (base if base.endswith("_total") else base + "_total",)
    if kind == "histogram":
        return (base + "_bucket", base + "_sum", base + "_count")
    if kind == "gauge":
        return (base,)
    raise ValueError(f"unknown instrument kind {kind!r} of {name}")


@cache
def prometheus_contract() -> dict[str, dict]:
    """Series name -> {"metric": OTel name, "labels": label names, "values": label -> allowed values}."""
    series: dict[str, dict] = {}
    for name, (kind, unit, attributes) in METRIC_CONTRACT.items():
        labels = {prometheus_label(a) for a in attributes} | SCRAPE_LABELS
        values = {prometheus_label(a): v for a, v in ATTRIBUTE_VALUES.items() if a in attributes}
        for s in prometheus_series(name, kind, unit):
            series[s] = {
                "metric": name,
                "labels": frozenset(labels | ({"le"} if s.endswith("_bucket") else set())),
                "values": values,
            }
    return series


# --------------------------------------------------------------------------- PromQL checking

_AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}
_FUNCTIONS = _AGGREGATIONS | {
    "abs",
    "absent",
    "absent_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_sum",
    "histogram_stddev",
    "histogram_stdvar",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "ln",
    "log10",
    "log2",
    "minute",
    "month",
    "predict_linear",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sort",
    "sort_desc",
    "sqrt",
    "time",
    "timestamp",
    "vector",
    "year",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
}
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_OTHER_KEYWORDS = {"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"}

_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<range>\[[^\]]*\])
    | (?P<duration>\d+(?:ms|[smhdwy])\b)
    | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=,(){}])
    """,
    re.VERBOSE,
)


def _tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot tokenize PromQL at {expr[pos : pos + 20]!r}")
        pos = m.end()
        if m.lastgroup != "ws":
            tokens.append((m.lastgroup, m.group()))
    return tokens


def _matching_paren(tokens: list[tuple[str, str]], open_index: int) -> int:
    depth = 0
    for i in range(open_index, len(tokens)):
        if tokens[i][1] == "(":
            depth += 1
        elif tokens[i][1] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses")


def _opening_paren(tokens: list[tuple[str, str]], close_index: int) -> int:
    depth = 0
    for i in range(close_index, -1, -1):
        if tokens[i][1] == ")":
            depth += 1
        elif tokens[i][1] == "(":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses")


def _label_list(tokens: list[tuple[str, str]], open_index: int) -> tuple[list[str], int]:
    close = _matching_paren(tokens, open_index)
    labels = [v for kind, v in tokens[open_index + 1 : close] if kind == "ident"]
    return labels, close


def analyse_promql(expr: str) -> tuple[list[tuple[int, str]], list[str]]:
    """Return ([(token index, metric name)...], problems) for one PromQL expression."""
    contract = prometheus_contract()
    problems: list[str] = []
    try:
        tokens = _tokenize(expr)
    except ValueError as exc:
        return [], [str(exc)]
    selectors: list[tuple[int, str]] = []
    groupings: list[tuple[int, str, list[str], int]] = []  # (index, keyword, labels, close index)
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else None
        if kind == "op" and value == "{":
            problems.append("selector without a metric name ({...} alone)")
        if kind != "ident":
            i += 1
            continue
        if value in _GROUPING:
            if nxt != "(":
                problems.append(f"{value!r} without a label list")
                i += 1
                continue
            try:
                labels, close = _label_list(tokens, i + 1)
            except ValueError as exc:
                return selectors, problems + [str(exc)]
            groupings.append((i, value, labels, close))
            i = close + 1
            continue
        if value.lower() in _OTHER_KEYWORDS:
            i += 1
            continue
        if nxt == "(" or (value in _AGGREGATIONS and nxt in ("by", "without")):
            if value not in _FUNCTIONS:
                problems.append(f"unknown PromQL function {value!r}")
            i += 1
            continue
        # A metric name, optionally followed by label matchers.
        selectors.append((i, value))
        if value not in contract:
            problems.append(f"metric {value!r} is not in the translated contract")
            i += 1
            continue
        info = contract[value]
        i += 1
        if i < len(tokens) and tokens[i][1] == "{":
            j = i + 1
            while j < len(tokens) and tokens[j][1] != "}":
                is_matcher = j + 2 < len(tokens) and tokens[j + 1][1] in ("=", "!=", "=~", "!~")
                if tokens[j][0] == "ident" and is_matcher:
                    label, op, raw = tokens[j][1], tokens[j + 1][1], tokens[j + 2][1]
                    if label not in info["labels"]:
                        problems.append(f"label {label!r} does not exist on {value}")
                    literal = raw[1:-1]
                    allowed = info["values"].get(label)
                    if (
                        allowed
                        and op in ("=", "!=")
                        and literal
                        and "$" not in literal
                        and literal not in allowed
                    ):
                        problems.append(f"{label}={literal!r} is not one of {sorted(allowed)} on {value}")
                    j += 3
                else:
                    j += 1
            i = j + 1
    if not selectors:
        problems.append("expression uses no metric")

    # Grouping labels must exist on every metric they aggregate over.
    for index, keyword, labels, close in groupings:
        if keyword in ("by", "without"):
            if index > 0 and tokens[index - 1][1] in _AGGREGATIONS:
                start = close + 1  # sum by (x) ( ... )
                if start >= len(tokens) or tokens[start][1] != "(":
                    problems.append(f"{keyword} ({', '.join(labels)}) is not followed by an argument")
                    continue
                lo, hi = start, _matching_paren(tokens, start)
            elif index > 0 and tokens[index - 1][1] == ")":
                hi = index - 1  # sum ( ... ) by (x)
                lo = _opening_paren(tokens, hi)
            else:
                problems.append(f"{keyword} ({', '.join(labels)}) does not belong to an aggregation")
                continue
        else:  # on / ignoring / group_left / group_right: the whole expression
            lo, hi = 0, len(tokens) - 1
        scope = [name for pos, name in selectors if lo <= pos <= hi and name in contract]
        for label in labels:
            for name in scope:
                if label not in contract[name]["labels"]:
                    problems.append(f"{keyword} label {label!r} does not exist on {name}")
    return selectors, problems


def promql_problems(expr: str) -> list[str]:
    return analyse_promql(expr)[1]


def legend_problems(expr: str, legend: str) -> list[str]:
    """Every {{label}} of a legend must be a (non-le) label of a metric of the query."""
    contract = prometheus_contract()
    names = [n for _, n in analyse_promql(expr)[0] if n in contract]
    known = set().union(*(contract[n]["labels"] for n in names)) - {"le"} if names else set()
    return [
        f"legend uses {label!r}, which the query's metrics do not have"
        for label in re.findall(r"\{\{\s*([^}\s]+)\s*\}\}", legend or "")
        if label not in known
    ]


_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*,\s*(\w+)\s*\)\s*$"
)


def variable_query_problems(query: str) -> list[str]:
    """Grafana template variable query: label_values(metric{...}, label)."""
    m = _LABEL_VALUES.match(query)
    if not m:
        return [f"unsupported variable query {query!r} (expected label_values(metric, label))"]
    metric, matchers, label = m.groups()
    problems = promql_problems(metric + (matchers or ""))
    info = prometheus_contract().get(metric)
    if info and label not in info["labels"]:
        problems.append(f"label {label!r} does not exist on {metric}")
    return problems


# --------------------------------------------------------------------------- collector checks

PIPELINE_COMPONENT_KINDS = ("receivers", "processors", "exporters")
_COMPONENT_ID = re.compile(r"^[a-zA-Z][0-9a-zA-Z_]*(/[^/\s]+)?$")


def component_problems(config: dict) -> list[str]:
    """Components used by service.pipelines / service.extensions but not defined in the file."""
    problems: list[str] = []
    service = config.get("service") or {}
    extensions = config.get("extensions") or {}
    connectors = config.get("connectors") or {}
    enabled_extensions = service.get("extensions") or []
    for ext in enabled_extensions:
        if ext not in extensions:
            problems.append(f"service.extensions: {ext!r} is not defined under extensions")
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        problems.append("service.pipelines is empty")
    used_as = {"receivers": set(), "exporters": set()}
    for pipeline_id, pipeline in pipelines.items():
        if pipeline_id.split("/")[0] not in ("traces", "metrics", "logs", "profiles"):
            problems.append(f"pipeline {pipeline_id!r} has an unknown signal type")
        pipeline = pipeline or {}
        for kind in ("receivers", "exporters"):
            if not pipeline.get(kind):
                problems.append(f"pipeline {pipeline_id!r} has no {kind}")
        for kind in PIPELINE_COMPONENT_KINDS:
            defined = set(config.get(kind) or {})
            if kind != "processors":
                defined |= set(connectors)
            for component in pipeline.get(kind) or []:
                if not _COMPONENT_ID.match(str(component)):
                    problems.append(f"{pipeline_id}.{kind}: malformed component id {component!r}")
                if component not in defined:
                    problems.append(
                        f"{pipeline_id}.{kind}: {component!r} is not defined under {kind}"
                        + ("" if kind == "processors" else " or connectors")
                    )
                if kind in used_as:
                    used_as[kind].add(component)
    for connector in connectors:
        if connector in used_as["exporters"] or connector in used_as["receivers"]:
            if not (connector in used_as["exporters"] and connector in used_as["receivers"]):
                problems.append(
                    f"connector {connector!r} must be an exporter in one pipeline and a receiver in another"
                )
    # sending_queue.storage must name an extension that is defined and enabled.
    for exporter_id, exporter in (config.get("exporters") or {}).items():
        storage = ((exporter or {}).get("sending_queue") or {}).get("storage")
        if storage and storage not in enabled_extensions:
            problems.append(
                f"exporters.{exporter_id}.sending_queue.storage {storage!r} is not an enabled extension"
            )
    return problems


_ENV_BRACED = re.compile(r"\$\{(?:env:)?([A-Z_][A-Z0-9_]*)")
_ENV_BARE = re.compile(r"(?<![\\$])\$([A-Z_][A-Z0-9_]*)")


def env_vars_used(text: str, shell: bool = False) -> set[str]:
    """Upper-case ${VAR} / ${env:VAR} / ${VAR:-default} references (plus bare $VAR in shell)."""
    names = set(_ENV_BRACED.findall(text))
    if shell:
        names |= set(_ENV_BARE.findall(text))
    return names


def documented_env_vars(readme: str) -> set[str]:
    """First-column names of the table in the README's "Environment variables" section."""
    m = re.search(r"^## Environment variables\s*$(.*?)(?=^## |\Z)", readme, re.M | re.S)
    if not m:
        return set()
    return set(re.findall(r"^\|\s*`([A-Za-z_][A-Za-z0-9_]*)`\s*\|", m.group(1), re.M))


# --------------------------------------------------------------------------- file discovery


def _collector_files() -> list[Path]:
    return sorted(p for p in COLLECTOR.rglob("*") if p.is_file())


def _yaml_files() -> list[Path]:
    return [p for p in _collector_files() if p.suffix in (".yaml", ".yml")]


def _load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _collector_configs() -> list[Path]:
    configs = []
    for path in _yaml_files():
        try:
            data = _load_yaml(path)
        except yaml.YAMLError:
            continue  # reported by test_yaml_parses
        service = data.get("service") if isinstance(data, dict) else None
        if isinstance(service, dict) and "pipelines" in service:
            configs.append(path)
    return configs


def _dashboards() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard.get("panels") or []:
        if panel.get("type") == "row":
            panels.extend(panel.get("panels") or [])
        else:
            panels.append(panel)
    return panels


def _targets(path: Path):
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    for panel in _panels(dashboard):
        for target in panel.get("targets") or []:
            if "expr" in target:
                yield panel.get("title"), target


EXPECTED_COLLECTOR_CONFIGS = {"agent.yaml", "gateway-loadbalancer.yaml", "gateway-sampler.yaml"}
EXPECTED_FILES = [
    "collector/agent.yaml",
    "collector/gateway-loadbalancer.yaml",
    "collector/gateway-sampler.yaml",
    "collector/docker-compose.yaml",
    "collector/prometheus.yml",
    "collector/rotel.sh",
    "collector/README.md",
    "collector/grafana/provisioning/datasources/prometheus.yaml",
    "collector/grafana/provisioning/dashboards/smolagents.yaml",
    "dashboards/agent-overview.json",
    "dashboards/model-view.json",
    "dashboards/README.md",
]

# --------------------------------------------------------------------------- tests: files


@pytest.mark.parametrize("relpath", EXPECTED_FILES)
def test_expected_file_exists(relpath):
    assert (ROOT / relpath).is_file(), f"{relpath} is missing"


def test_yaml_files_found():
    names = {p.name for p in _yaml_files()}
    assert {"agent.yaml", "docker-compose.yaml", "prometheus.yml"} <= names


@pytest.mark.parametrize("path", _yaml_files(), ids=_rel)
def test_yaml_parses(path):
    data = _load_yaml(path)
    assert isinstance(data, dict) and data, f"{_rel(path)} is empty or not a mapping"


def test_collector_configs_found():
    assert EXPECTED_COLLECTOR_CONFIGS <= {p.name for p in _collector_configs()}


@pytest.mark.parametrize("path", _collector_configs(), ids=_rel)
def test_collector_components_defined(path):
    problems = component_problems(_load_yaml(path))
    assert not problems, f"{_rel(path)}:\n" + "\n".join(problems)


def test_agent_config_fan_out():
    cfg = _load_yaml(COLLECTOR / "agent.yaml")
    grpc = cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    http = cfg["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert grpc.endswith(":4317") and http.endswith(":4318")
    pipes = cfg["service"]["pipelines"]
    for pipe in pipes.values():
        assert pipe["processors"][0] == "memory_limiter" and pipe["processors"][-1] == "batch"
    assert set(pipes["traces"]["exporters"]) == {"otlp/jaeger", "otlphttp/langfuse"}
    assert pipes["metrics"]["exporters"] == ["prometheus"]
    assert cfg["exporters"]["prometheus"]["endpoint"].endswith(":8889")
    assert "${env:JAEGER_ENDPOINT" in cfg["exporters"]["otlp/jaeger"]["endpoint"]
    langfuse = cfg["exporters"]["otlphttp/langfuse"]
    assert "${env:LANGFUSE_OTLP_ENDPOINT" in langfuse["endpoint"]
    assert langfuse["headers"]["Authorization"] == "Basic ${env:LANGFUSE_AUTH}"
    for exporter_id in ("otlp/jaeger", "otlphttp/langfuse"):
        exporter = cfg["exporters"][exporter_id]
        assert exporter["sending_queue"]["enabled"] is True
        storage = exporter["sending_queue"]["storage"]
        assert storage.startswith("file_storage")
        assert "${env:OTEL_QUEUE_DIR" in cfg["extensions"][storage]["directory"]
        assert exporter["retry_on_failure"]["enabled"] is True


def test_gateway_configs_route_and_sample():
    lb = _load_yaml(COLLECTOR / "gateway-loadbalancer.yaml")
    exporter = lb["exporters"]["loadbalancing"]
    assert exporter["routing_key"] == "traceID"
    assert {"dns", "static", "k8s"} & set(exporter["resolver"])
    assert "loadbalancing" in lb["service"]["pipelines"]["traces"]["exporters"]

    sampler = _load_yaml(COLLECTOR / "gateway-sampler.yaml")
    policies = sampler["processors"]["tail_sampling"]["policies"]
    by_type = {p["type"]: p for p in policies}
    assert by_type["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert "${env:TAIL_LATENCY_THRESHOLD_MS:-30000}" in str(by_type["latency"]["latency"]["threshold_ms"])
    assert str(by_type["probabilistic"]["probabilistic"]["sampling_percentage"]).endswith(":-10}")
    ottl = json.dumps(by_type["ottl_condition"]["ottl_condition"])
    assert "smolagents.veto.reason" in ottl and "smolagents.veto" in ottl
    pipelines = sampler["service"]["pipelines"]
    sampled = [p for p in pipelines.values() if "tail_sampling" in (p.get("processors") or [])]
    assert sampled and set(sampled[0]["exporters"]) == {"otlp/jaeger", "otlphttp/langfuse"}
    span_metrics = [p for p in pipelines.values() if "spanmetrics" in (p.get("receivers") or [])]
    assert span_metrics and "prometheus" in span_metrics[0]["exporters"]


def test_compose_and_prometheus_wiring():
    compose = _load_yaml(COLLECTOR / "docker-compose.yaml")["services"]
    images = {name: svc["image"].split(":")[0] for name, svc in compose.items()}
    assert {
        "otel/opentelemetry-collector-contrib",
        "jaegertracing/jaeger",
        "prom/prometheus",
        "grafana/grafana",
    } <= set(images.values())
    collector = compose["otel-collector"]
    assert any(v.startswith("./agent.yaml:") for v in collector["volumes"])
    assert {"4317:4317", "4318:4318", "8889:8889"} <= set(collector["ports"])
    grafana_volumes = compose["grafana"]["volumes"]
    assert any(v.startswith("./grafana/provisioning:/etc/grafana/provisioning") for v in grafana_volumes)
    dashboard_mounts = [v.split(":")[1] for v in grafana_volumes if v.startswith("../dashboards:")]
    assert len(dashboard_mounts) == 1
    providers = _load_yaml(COLLECTOR / "grafana/provisioning/dashboards/smolagents.yaml")["providers"]
    assert [p["options"]["path"] for p in providers] == dashboard_mounts
    home = compose["grafana"]["environment"].get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert home.startswith(dashboard_mounts[0] + "/")
        assert (DASHBOARDS / home[len(dashboard_mounts[0]) + 1 :]).is_file()

    prom = _load_yaml(COLLECTOR / "prometheus.yml")
    targets = [
        t for job in prom["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]
    ]
    assert "otel-collector:8889" in targets

    datasources = _load_yaml(COLLECTOR / "grafana/provisioning/datasources/prometheus.yaml")["datasources"]
    assert [d["uid"] for d in datasources if d["type"] == "prometheus"] == ["prometheus"]


def test_rotel_script_is_valid_bash():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not installed")
    result = subprocess.run([bash, "-n", str(COLLECTOR / "rotel.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = (COLLECTOR / "rotel.sh").read_text(encoding="utf-8")
    assert "--otlp-exporter-endpoint" in text and "Authorization=Basic" in text


@pytest.mark.parametrize("path", [p for p in _collector_files() if p != COLLECTOR_README], ids=_rel)
def test_env_vars_documented(path):
    used = env_vars_used(path.read_text(encoding="utf-8"), shell=path.suffix == ".sh")
    documented = documented_env_vars(COLLECTOR_README.read_text(encoding="utf-8"))
    missing = sorted(used - documented)
    assert not missing, f"{_rel(path)} uses {missing}, not in the env var table of collector/README.md"


def test_env_vars_are_used_somewhere():
    used: set[str] = set()
    for path in _collector_files():
        if path != COLLECTOR_README:
            used |= env_vars_used(path.read_text(encoding="utf-8"), shell=path.suffix == ".sh")
    assert {"JAEGER_ENDPOINT", "LANGFUSE_OTLP_ENDPOINT", "LANGFUSE_AUTH", "OTEL_QUEUE_DIR"} <= used


# --------------------------------------------------------------------------- tests: dashboards


def test_dashboards_found():
    assert {"agent-overview.json", "model-view.json"} <= {p.name for p in _dashboards()}


@pytest.mark.parametrize("path", _dashboards(), ids=_rel)
def test_dashboard_structure(path):
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert dashboard.get("schemaVersion") == 39
    assert dashboard.get("uid") and dashboard.get("title")
    panels = _panels(dashboard)
    assert panels, "no panels"
    ids = [p.get("id") for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids {ids}"
    for panel in panels:
        title = panel.get("title")
        assert isinstance(title, str) and title.strip(), f"panel {panel.get('id')} has no title"
        exprs = [t.get("expr") for t in panel.get("targets") or []]
        assert exprs and all(isinstance(e, str) and e.strip() for e in exprs), (
            f"panel {title!r} needs at least one target, each with an expr"
        )
        for ds in [panel.get("datasource")] + [t.get("datasource") for t in panel["targets"]]:
            assert ds and ds.get("uid") in ("prometheus", "${DS_PROMETHEUS}"), f"panel {title!r}: {ds}"


@pytest.mark.parametrize("path", _dashboards(), ids=_rel)
def test_dashboard_queries_use_contract(path):
    problems = []
    count = 0
    for title, target in _targets(path):
        count += 1
        for problem in promql_problems(target["expr"]) + legend_problems(
            target["expr"], target.get("legendFormat", "")
        ):
            problems.append(f"{title!r} {target.get('refId')}: {problem}\n    {target['expr']}")
    assert count, "no queries found"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", _dashboards(), ids=_rel)
def test_dashboard_variables_use_contract(path):
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for var in (dashboard.get("templating") or {}).get("list") or []:
        if var.get("type") != "query":
            continue
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        queries = {query or ""}
        if var.get("definition"):  # what Grafana's editor shows; must agree with the query
            queries.add(var["definition"])
        for q in sorted(queries):
            problems += [f"variable {var.get('name')}: {p}" for p in variable_query_problems(q)]
    assert not problems, "\n".join(problems)


def test_dashboards_cover_every_contract_metric():
    used = {
        name
        for path in _dashboards()
        for _, target in _targets(path)
        for _, name in analyse_promql(target["expr"])[0]
    }
    contract = prometheus_contract()
    missing = sorted(
        {info["metric"] for info in contract.values()}
        - {contract[n]["metric"] for n in used if n in contract}
    )
    assert not missing, f"no panel shows {missing}"


def _promtool_ready_expr(expr: str) -> str:
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
    return re.sub(r"\$\{?[A-Za-z_]\w*\}?", ".*", expr)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="Prometheus' promtool is not installed")
def test_promtool_accepts_queries_and_scrape_config(tmp_path):
    rules = [
        {"record": f"check:{path.stem.replace('-', '_')}:{i}", "expr": _promtool_ready_expr(t["expr"])}
        for path in _dashboards()
        for i, (_, t) in enumerate(_targets(path))
    ]
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(["promtool", "check", "rules", str(rule_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    command = ["promtool", "check", "config", "--syntax-only", str(COLLECTOR / "prometheus.yml")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- tests: the checkers


def test_translation_of_contract():
    contract = prometheus_contract()
    assert {
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_operation_duration_seconds_sum",
        "gen_ai_client_operation_duration_seconds_count",
        "gen_ai_client_token_usage_bucket",
        "gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
        "smolagents_agent_run_duration_seconds_bucket",
        "smolagents_agent_steps_bucket",
        "smolagents_tool_calls_total",
        "smolagents_tool_errors_total",
        "smolagents_vetoes_total",
        "smolagents_callback_errors_total",
    } <= set(contract)
    assert len(contract) == 5 * 3 + 4
    assert contract["gen_ai_client_operation_duration_seconds_bucket"]["labels"] == {
        "gen_ai_operation_name",
        "gen_ai_request_model",
        "gen_ai_provider_name",
        "error_type",
        "le",
        "job",
        "instance",
    }
    assert "le" not in contract["gen_ai_client_token_usage_sum"]["labels"]
    with pytest.raises(ValueError):
        prometheus_series("x.y", "histogram", "furlong")


def test_checker_accepts_a_good_query():
    expr = (
        "histogram_quantile(0.95, sum by (le, gen_ai_request_model) "
        '(rate(gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name="chat"}[5m])))'
    )
    assert promql_problems(expr) == []
    expr = "sum(rate(smolagents_tool_errors_total[5m])) by (gen_ai_tool_name, error_type)"
    assert promql_problems(expr) == []


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("sum(rate(smolagents_tool_calls[5m]))", "not in the translated contract"),
        ("rate(gen_ai_client_operation_duration_bucket[5m])", "not in the translated contract"),
        ('sum(rate(smolagents_tool_calls_total{gen_ai_agent_name="a"}[5m]))', "does not exist"),
        ("sum by (error_type) (rate(smolagents_tool_calls_total[5m]))", "does not exist"),
        ("sum(rate(smolagents_tool_calls_total[5m])) by (model)", "does not exist"),
        ("histogram_quantile(0.5, sum by (le) (rate(smolagents_agent_steps_sum[5m])))", "'le'"),
        (
            'sum(rate(smolagents_agent_run_duration_seconds_count{smolagents_finish_reason="done"}[5m]))',
            "is not one of",
        ),
        ("sum(rat(smolagents_tool_calls_total[5m]))", "unknown PromQL function"),
        ('{__name__="smolagents_tool_calls_total"}', "without a metric name"),
        ("vector(1)", "uses no metric"),
        (
            "sum by (gen_ai_tool_name) (rate(smolagents_tool_errors_total[5m])) / "
            "sum by (error_type) (rate(smolagents_tool_calls_total[5m]))",
            "does not exist on smolagents_tool_calls",
        ),
    ],
)
def test_checker_rejects_bad_query(expr, fragment):
    problems = promql_problems(expr)
    assert any(fragment in p for p in problems), problems


def test_checker_rejects_bad_legend_and_variable():
    assert legend_problems("sum by (gen_ai_tool_name) (rate(smolagents_tool_calls_total[5m]))", "{{model}}")
    assert not legend_problems(
        "sum by (gen_ai_tool_name) (rate(smolagents_tool_calls_total[5m]))", "{{gen_ai_tool_name}}"
    )
    assert variable_query_problems("label_values(smolagents_tool_calls_total, gen_ai_agent_name)")
    assert variable_query_problems("query_result(up)")
    assert not variable_query_problems("label_values(smolagents_tool_calls_total, gen_ai_tool_name)")


def test_checker_rejects_undefined_components():
    config = {
        "receivers": {"otlp": {}},
        "processors": {"batch": {}},
        "exporters": {"otlphttp/langfuse": {"sending_queue": {"storage": "file_storage/q"}}},
        "extensions": {"health_check": {}},
        "connectors": {"spanmetrics": {}},
        "service": {
            "extensions": ["health_check", "pprof"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch", "memory_limiter"],
                    "exporters": ["otlphttp/langfuse", "otlp/jaeger", "spanmetrics"],
                },
            },
        },
    }
    problems = "\n".join(component_problems(config))
    for fragment in (
        "'pprof'",
        "'memory_limiter'",
        "'otlp/jaeger'",
        "connector 'spanmetrics'",
        "'file_storage/q'",
    ):
        assert fragment in problems, problems
    assert "otlphttp/langfuse" not in problems.replace("exporters.otlphttp/langfuse.sending_queue", "")
    config["service"]["extensions"] = ["health_check"]
    config["service"]["pipelines"]["traces"] = {
        "receivers": ["otlp"],
        "processors": ["batch"],
        "exporters": ["otlphttp/langfuse"],
    }
    del config["exporters"]["otlphttp/langfuse"]["sending_queue"]
    assert component_problems(config) == []


def test_checker_finds_env_vars():
    text = 'a: ${env:JAEGER_ENDPOINT}\nb: "${env:OTEL_QUEUE_DIR:-/var/x}"\nc: ${GRAFANA_VERSION:-1}\n'
    assert env_vars_used(text) == {"JAEGER_ENDPOINT", "OTEL_QUEUE_DIR", "GRAFANA_VERSION"}
    assert env_vars_used('x="${args[@]}" y="${local_var}" z=$HOME_DIR', shell=True) == {"HOME_DIR"}
    readme = (
        "# t\n## Environment variables\n| Variable | x |\n|---|---|\n| `FOO` | y |\n## Next\n| `BAR` | z |\n"
    )
    assert documented_env_vars(readme) == {"FOO"}
