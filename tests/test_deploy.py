"""The deployment artefacts (deploy/, Dockerfile, .dockerignore), checked without Docker.

They parse; the alert rules and the dashboard query only metrics and labels that
gateway/observability.py registers; the compose stack is wired consistently (services, commands,
settings, scrape targets, mounted files); and, where promtool is installed, Prometheus accepts the
config and the rules and the rules pass their unit tests (deploy/prometheus/alerts_test.yml).
promtool comes with Debian's `prometheus` package; under CI=true a missing promtool fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from gateway import observability
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "creditgw.json"

# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
# Label values the rules and panels may select on, as the gateway sets them:
# creditgw_deliveries_total{outcome} in gateway/sync/dispatcher.py, creditgw_outbox_depth{state} in
# gateway/runtime.py (refresh_gauges).
KNOWN_LABEL_VALUES = {
    "outcome": frozenset({"delivered", "retry", "dead", "ignored"}),
    "state": frozenset({"pending", "in_flight", "dead"}),
}
SEVERITIES = frozenset({"warning", "critical"})


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# --- the metric catalogue -------------------------------------------------------------------------


LabelSet = frozenset[str] | None


def _catalogue() -> dict[str, LabelSet]:
    """Every series name Prometheus stores for REGISTRY, with its label names (None: unknown)."""
    label_names: dict[str, tuple[str, ...]] = {
        wrapper._name: tuple(wrapper._labelnames)
        for wrapper in vars(observability).values()
        if isinstance(wrapper, MetricWrapperBase)
    }
    series: dict[str, LabelSet] = {}
    for family in observability.REGISTRY.collect():
        known = label_names.get(family.name)
        labels = None if known is None else frozenset(known) | TARGET_LABELS

        def add(name: str, extra: frozenset[str] = frozenset(), labels: frozenset[str] | None = labels) -> None:
            series[name] = None if labels is None else labels | extra

        if family.type == "counter":
            add(f"{family.name}_total")
            add(f"{family.name}_created")
        elif family.type == "histogram":
            add(f"{family.name}_bucket", frozenset({"le"}))
            add(f"{family.name}_sum")
            add(f"{family.name}_count")
            add(f"{family.name}_created")
        elif family.type == "summary":
            add(family.name, frozenset({"quantile"}))
            add(f"{family.name}_sum")
            add(f"{family.name}_count")
            add(f"{family.name}_created")
        elif family.type == "info":
            add(f"{family.name}_info")
        elif family.type == "stateset":
            add(family.name, frozenset({family.name}))
        else:  # gauge, unknown
            add(family.name)
    return series


CATALOGUE = _catalogue()
# `up` is Prometheus' own per-target series.
CATALOGUE["up"] = TARGET_LABELS


def test_catalogue_sees_the_registry() -> None:
    assert "creditgw_deliveries_total" in CATALOGUE
    assert "creditgw_delivery_latency_seconds_bucket" in CATALOGUE
    assert "creditgw_delivery_latency_seconds" not in CATALOGUE  # a histogram has no bare series
    assert CATALOGUE["creditgw_outbox_depth"] == frozenset({"target", "state", "job", "instance"})


# --- a small PromQL reader --------------------------------------------------------------------

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_SELECTOR = re.compile(r'([a-zA-Z_:][\w:]*)?\s*\{((?:[^{}"]|"(?:\\.|[^"\\])*")*)\}')
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:\\.|[^"\\])*)"')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_NUMBER = re.compile(r"(?<![\w:.])(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w:])")
_IDENT = re.compile(r"[a-zA-Z_:][\w:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"inf", "nan", "Inf", "NaN"}
)


class Query:
    """What a PromQL expression uses: series names, label matchers, grouping labels."""

    def __init__(self, expr: str) -> None:
        self.expr = expr
        # (series name or None, label, operator, value) for each matcher in a selector.
        self.matchers: list[tuple[str | None, str, str, str]] = []
        for selector in _SELECTOR.finditer(expr):
            for matcher in _MATCHER.finditer(selector.group(2)):
                self.matchers.append((selector.group(1), *matcher.groups()))
        text = _STRING.sub('""', expr)
        text = re.sub(r"\{[^{}]*\}", " ", text)  # matchers (strings are blanked already)
        text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
        self.grouping: set[str] = set()
        for clause in _GROUPING.finditer(text):
            self.grouping.update(label.strip() for label in clause.group(2).split(",") if label.strip())
        text = _GROUPING.sub(" ", text)
        text = re.sub(r"\boffset\s+-?\w+", " ", text)
        text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
        text = _NUMBER.sub(" ", text)
        self.metrics: set[str] = set()
        for match in _IDENT.finditer(text):
            word = match.group(0)
            following = text[match.end() :].lstrip()
            if word in _KEYWORDS or following.startswith("("):  # keyword, function or aggregation
                continue
            self.metrics.add(word)


def test_query_reader() -> None:
    query = Query(
        "histogram_quantile(0.99, sum by (route, le) (rate(creditgw_http_request_duration_seconds_bucket"
        '{route=~"$route", status!="5xx"}[$__rate_interval]))) > 0.5'
        ' and on (route) up{job="creditgw"} offset 5m'
    )
    assert query.metrics == {"creditgw_http_request_duration_seconds_bucket", "up"}
    assert query.grouping == {"route", "le"}
    assert ("up", "job", "=", "creditgw") in query.matchers
    assert ("creditgw_http_request_duration_seconds_bucket", "status", "!=", "5xx") in query.matchers
    assert Query("time() - max(creditgw_delivery_last_success_timestamp_seconds) > 1e3").metrics == {
        "creditgw_delivery_last_success_timestamp_seconds"
    }


def _check_query(expr: str, where: str) -> set[str]:
    """Fail unless expr uses only registered series, their labels and known label values."""
    query = Query(expr)
    assert query.metrics, f"{where}: no metric found in {expr!r}"
    for name in query.metrics:
        assert name == "up" or name.startswith("creditgw_"), f"{where}: {name} is not a creditgw metric"
        assert name in CATALOGUE, f"{where}: {name} is not registered in gateway/observability.py REGISTRY"
    available: set[str] = set()
    for name in query.metrics:
        labels = CATALOGUE[name]
        if labels is None:
            return query.metrics
        available |= labels
    for series, label, operator, value in query.matchers:
        labels = CATALOGUE.get(series) if series else frozenset(available)
        assert labels is not None, f"{where}: unknown series {series}"
        assert label in labels, f"{where}: {series or 'selector'} has no label {label!r}"
        if label in KNOWN_LABEL_VALUES and "$" not in value and operator in ("=", "=~"):
            values = set(value.split("|")) if operator == "=~" else {value}
            unknown = values - KNOWN_LABEL_VALUES[label]
            assert not unknown, f"{where}: {label} values {sorted(unknown)} are never set by the gateway"
    missing = query.grouping - available
    assert not missing, f"{where}: grouping by {sorted(missing)}, which no series in the expression has"
    return query.metrics


# --- Prometheus: config, rules, rule tests ------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    doc = _load_yaml(PROMETHEUS_DIR / "alerts.yml")
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _alert_names() -> list[str]:
    return [rule["alert"] for rule in _rules() if "alert" in rule]


def test_prometheus_config() -> None:
    config = _load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS_DIR / rule_file).is_file(), rule_file
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # The rules and the dashboard select up{job="creditgw"}.
    assert "creditgw" in jobs
    targets = [t for static in jobs["creditgw"]["static_configs"] for t in static["targets"]]
    assert targets == [f"{name}:8600" for name in _gateway_services()]
    assert jobs["creditgw"].get("metrics_path", "/metrics") == "/metrics"


def test_alert_rules_are_complete() -> None:
    rules = _rules()
    names = _alert_names()
    assert len(names) == len(set(names)), "duplicate alert names"
    assert len(names) == len(rules), "alerts.yml should hold alerting rules only"
    for rule in rules:
        where = f"alert {rule['alert']}"
        assert rule["labels"]["severity"] in SEVERITIES, where
        for key in ("summary", "description", "runbook"):
            assert rule["annotations"].get(key, "").strip(), f"{where}: no {key} annotation"
        _check_query(rule["expr"], where)


def test_alert_rules_cover_sync_health() -> None:
    used = set()
    for rule in _rules():
        used |= Query(rule["expr"]).metrics
    assert used >= {
        "up",
        "creditgw_deliveries_total",
        "creditgw_outbox_depth",
        "creditgw_outbox_oldest_pending_age_seconds",
        "creditgw_delivery_last_success_timestamp_seconds",
        "creditgw_poll_errors_total",
    }


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    doc = _load_yaml(PROMETHEUS_DIR / "alerts_test.yml")
    assert doc["rule_files"] == ["alerts.yml"]
    assert doc["evaluation_interval"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in doc["tests"]:
        assert case["input_series"], case.get("name")
        for series in case["input_series"]:
            _check_query(series["series"], f"alerts_test.yml {case.get('name')}")
        for check in case["alert_rule_test"]:
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = set(_alert_names())
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested not firing"
    assert (firing | quiet) - names == set(), "tests for alerts that do not exist"


def test_readme_explains_every_alert() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for name in _alert_names():
        assert name in readme, f"deploy/README.md does not explain {name}"
    assert "promtool test rules deploy/prometheus/alerts_test.yml" in readme


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is not on PATH: CI must install it (Debian package `prometheus`)")
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return path


def _promtool(promtool: str, *args: str) -> None:
    result = subprocess.run(
        [promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


def test_promtool_check_config(promtool: str) -> None:
    _promtool(promtool, "check", "config", "prometheus.yml")


def test_promtool_check_rules(promtool: str) -> None:
    _promtool(promtool, "check", "rules", "alerts.yml")


def test_promtool_rule_unit_tests(promtool: str) -> None:
    _promtool(promtool, "test", "rules", "alerts_test.yml")


# --- Grafana ------------------------------------------------------------------------------------


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def test_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "creditgw-sync"
    assert dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    panels = list(_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), "panel ids must be unique"

    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for var in variables.values():
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query.strip())
        assert match, f"variable {var['name']}: {query}"
        series, label = match.groups()
        _check_query(series, f"variable {var['name']}")
        assert label in (CATALOGUE[series] or {label}), f"variable {var['name']}: {series} has no {label}"

    used: set[str] = set()
    boxes: list[tuple[str, int, int, int, int]] = []
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        boxes.append((panel["title"], grid["x"], grid["y"], grid["w"], grid["h"]))
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        targets = panel["targets"]
        assert targets, f"panel {panel['title']} has no query"
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in targets:
            used |= _check_query(target["expr"], f"panel {panel['title']!r}")
    for i, (title, x, y, w, h) in enumerate(boxes):
        for other, ox, oy, ow, oh in boxes[i + 1 :]:
            overlap = x < ox + ow and ox < x + w and y < oy + oh and oy < y + h
            assert not overlap, f"panels {title!r} and {other!r} overlap"

    assert used >= {
        "creditgw_deliveries_total",
        "creditgw_outbox_depth",
        "creditgw_outbox_oldest_pending_age_seconds",
        "creditgw_delivery_latency_seconds_bucket",
        "creditgw_delivery_last_success_timestamp_seconds",
        "creditgw_inbound_changes_total",
        "creditgw_poll_errors_total",
        "creditgw_http_request_duration_seconds_bucket",
        "creditgw_http_request_duration_seconds_count",
        "creditgw_idempotency_total",
    }


def test_grafana_provisioning_matches_compose() -> None:
    datasources = _load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    (prometheus,) = [ds for ds in datasources if ds["type"] == "prometheus"]
    assert prometheus["uid"] == "prometheus"  # the dashboard's $datasource default
    assert prometheus["url"] == "http://prometheus:9090"
    providers = _load_yaml(DEPLOY / "grafana/provisioning/dashboards/creditgw.yml")["providers"]
    paths = {provider["options"]["path"] for provider in providers}
    grafana = _compose()["services"]["grafana"]
    mounts = dict(_bind_mounts(grafana))
    assert mounts.get("./grafana/dashboards") in paths
    assert mounts.get("./grafana/provisioning") == "/etc/grafana/provisioning"


# --- compose ------------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return _load_yaml(DEPLOY / "compose.yaml")


def _interpolate(value: str) -> str:
    """Compose's ${NAME:-default} / ${NAME-default} / ${NAME} as they read with NAME unset."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


def _gateway_services() -> list[str]:
    services = _compose()["services"]
    return [name for name, svc in services.items() if (svc.get("command") or [None])[0] == "serve"]


def _bind_mounts(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            yield source, target


def _settings_env_names() -> set[str]:
    """CREDITGW_* variables Settings reads: top-level fields and one level of nested models."""
    names = set()
    for field_name, field in Settings.model_fields.items():
        names.add(f"CREDITGW_{field_name.upper()}")
        annotation = field.annotation
        nested = getattr(annotation, "model_fields", None)
        if nested:
            names.update(f"CREDITGW_{field_name.upper()}__{sub.upper()}" for sub in nested)
    return names


def test_compose_stack() -> None:
    from gateway.cli import _parser

    services = _compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:15")
    assert "healthcheck" in services["postgres"]
    assert services["migrate"]["command"] == ["migrate"]

    gateways = _gateway_services()
    assert len(gateways) >= 2, "the stack runs several replicas"
    settings_env = _settings_env_names()
    for name in ["migrate", *gateways]:
        service = services[name]
        _parser().parse_args(service["command"])  # a creditgw subcommand with valid options
        env = service["environment"]
        url = _interpolate(env["CREDITGW_DATABASE_URL"])
        assert url == "postgresql://creditgw:creditgw@postgres:5432/creditgw", name
        unknown = {key for key in env if key.startswith("CREDITGW_")} - settings_env
        assert not unknown, f"{name}: {sorted(unknown)} are not settings"
    for name in gateways:
        service = services[name]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "/livez" in " ".join(service["healthcheck"]["test"])
        assert any(port.endswith(":8600") for port in service["ports"])
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"

    for name in ("simulators", "prometheus", "grafana"):
        assert "healthcheck" in services[name], name
    for service in services.values():
        for source, _ in _bind_mounts(service):
            assert (DEPLOY / source).exists(), source
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


def test_compose_simulator_ports() -> None:
    """--base-port 8601 gives consecutive ports in simulators.runner.SYSTEMS order."""
    from simulators.runner import SYSTEMS

    services = _compose()["services"]
    command = services["simulators"]["command"]
    base = int(command[command.index("--base-port") + 1])
    env = services[_gateway_services()[0]]["environment"]
    for index, system in enumerate(SYSTEMS):
        url = env.get(f"CREDITGW_{system.upper()}__URL")
        if url is not None:
            assert _interpolate(url) == f"http://simulators:{base + index}", system


# --- Dockerfile ---------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile() -> None:
    instructions = _dockerfile_instructions()
    by_keyword: dict[str, list[str]] = {}
    for keyword, rest in instructions:
        by_keyword.setdefault(keyword, []).append(rest)
    assert any("python:3.11-slim" in arg for arg in by_keyword["ARG"] + by_keyword["FROM"])
    users = by_keyword["USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert by_keyword["EXPOSE"] == ["8600"]
    assert json.loads(by_keyword["ENTRYPOINT"][-1]) == ["creditgw"]
    assert json.loads(by_keyword["CMD"][-1]) == ["serve", "--host", "0.0.0.0", "--port", "8600"]
    (healthcheck,) = by_keyword["HEALTHCHECK"]
    assert "/livez" in healthcheck and "python" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck
    install = " ".join(by_keyword["RUN"])
    assert "pip install ." in install and "[dev]" not in install

    copied = {rest.split()[0] for rest in by_keyword["COPY"] if not rest.startswith("--from")}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"packages not copied into the image: {sorted(packages - copied)}"
    for source in copied:
        assert (ROOT / source).exists(), source

    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line.strip()
    }
    assert {".git", ".venv", "var", "**/__pycache__"} <= ignored
    assert not copied & ignored, "the Dockerfile copies something .dockerignore leaves out"
