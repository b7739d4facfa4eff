"""Monitoring on every host (issue 17): where alerts go, what they watch, the dashboard, the policy.

Each stack runs once (module-scoped). Metric names and Log Analytics columns are checked against
fixtures transcribed from Microsoft's reference pages (tests/fixtures/monitoring/, URLs inside),
never against what the mocks echo; the PromQL rules go through the real ``promtool``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, StackValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

from components import alerts, k8s_monitoring, workbook
from components.containerapp import ContainerAppGpuArgs
from components.serving import ConfigError
from components.serving import monitoring as catalogue
from conftest import (API_KEY, HF_TOKEN, PROJECT, ROOT, assert_config_error, plain_occurrences,
                      stack_config, unwrap)
from policy.apertus_policies.monitoring import serving_host_monitored
from stacks.offline import is_secret, run_program
from stacks.program import run

FIXTURES = Path(__file__).parent / "fixtures" / "monitoring"
METRICS = json.loads((FIXTURES / "metrics.json").read_text())
TABLES = json.loads((FIXTURES / "tables.json").read_text())
RUNBOOK = (ROOT / "docs" / "runbooks.md")
WEBHOOK = "https://example.webhook.office.com/webhookb2/0f1e2d3c-secret-part/IncomingWebhook/abc123"
GROUP_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/platform/providers/"
            "microsoft.insights/actionGroups/oncall")
EMAILS = ["oncall@example.com"]

ACTION_GROUP = "azure-native:monitor:ActionGroup"
METRIC_ALERT = "azure-native:monitor:MetricAlert"
LOG_ALERT = "azure-native:monitor:ScheduledQueryRule"
ACTIVITY_ALERT = "azure-native:monitor:ActivityLogAlert"
PROM_RULES = "azure-native:alertsmanagement:PrometheusRuleGroup"
WEB_TEST = "azure-native:applicationinsights:WebTest"
COMPONENT = "azure-native:applicationinsights:Component"
WORKBOOK = "azure-native:applicationinsights:Workbook"
WORKSPACE = "azure-native:operationalinsights:Workspace"
DCR = "azure-native:monitor:DataCollectionRule"
DCRA = "azure-native:monitor:DataCollectionRuleAssociation"
RULE_TYPES = (METRIC_ALERT, LOG_ALERT, ACTIVITY_ALERT, PROM_RULES)

# every host x {public, internal}; destinations vary: webhook, emails, an existing group
STACKS = {
    "containerapp": stack_config("containerapp", apiKey=API_KEY, minReplicas=1, alertWebhook=WEBHOOK,
                                 alertEmails=EMAILS),
    "containerapp-internal": stack_config("containerapp", apiKey=API_KEY, internal=True, alertEmails=EMAILS),
    "vm": stack_config("vm", apiKey=API_KEY, spot=True, alertWebhook=WEBHOOK),
    "vm-internal": stack_config("vm", apiKey=API_KEY, internal=True, actionGroupId=GROUP_ID),
    "aks": stack_config("aks", apiKey=API_KEY, spot=True, maxReplicas=2, alertEmails=EMAILS),
    "aks-internal": stack_config("aks", apiKey=API_KEY, internal=True, apiAllowedCidrs=["198.51.100.0/24"],
                                 actionGroupId=GROUP_ID),
}
SECRETS = {"hfToken", "apiKey", "alertWebhook"}


def run_config(config: dict[str, Any]):
    return run_program(run, PROJECT, "test", config, SECRETS & set(config))


@pytest.fixture(scope="module")
def runs():
    return {name: run_config(config) for name, config in STACKS.items()}


def inputs(resource) -> dict[str, Any]:
    return unwrap(resource.inputs)


def rules(run) -> list:
    return [r for r in run.resources if r.type in RULE_TYPES]


def alert_count(run) -> int:
    """Alerts, counting each rule of a Prometheus rule group."""
    return sum(len(inputs(r)["rules"]) if r.type == PROM_RULES else 1 for r in rules(run))


def action_ids(resource) -> list[str]:
    props = inputs(resource)
    if resource.type == METRIC_ALERT:
        return [a["actionGroupId"] for a in props.get("actions", [])]
    if resource.type == LOG_ALERT:
        return props.get("actions", {}).get("actionGroups", [])
    if resource.type == ACTIVITY_ALERT:
        return [g["actionGroupId"] for g in props["actions"]["actionGroups"]]
    return [a["actionGroupId"] for rule in props["rules"] for a in rule.get("actions", [])]


def descriptions(resource) -> list[str]:
    props = inputs(resource)
    if resource.type == PROM_RULES:
        return [rule["annotations"]["description"] for rule in props["rules"]]
    return [props["description"]]


# ---- where alerts go ----

@pytest.mark.parametrize("name", STACKS)
def test_every_rule_sends_to_the_stacks_action_group(runs, name):
    run = runs[name]
    if "actionGroupId" in STACKS[name]:
        assert run.mocks.of_type(ACTION_GROUP) == []  # the platform team's group, not a new one
        expected = GROUP_ID
    else:
        expected = run.mocks.one(ACTION_GROUP).outputs["id"]
    found = rules(run)
    assert alert_count(run) >= 3, [r.name for r in found]
    for rule in found:
        assert action_ids(rule) and set(action_ids(rule)) == {expected}, rule.name
    assert run.outputs["actionGroupId"] == expected


def test_the_action_group_mails_and_posts_with_the_common_schema(runs):
    group = inputs(runs["containerapp"].mocks.one(ACTION_GROUP))
    assert [r["emailAddress"] for r in group["emailReceivers"]] == EMAILS
    [hook] = group["webhookReceivers"]
    assert hook["serviceUri"] == WEBHOOK and hook["useCommonAlertSchema"] is True
    assert group["location"] == "Global" and len(group["groupShortName"]) <= 12


@pytest.mark.parametrize("name", ["containerapp", "vm"])
def test_the_webhook_url_is_secret_everywhere(runs, name):
    run = runs[name]
    assert plain_occurrences(run.resources, WEBHOOK) == []  # never a plain input
    group = run.mocks.one(ACTION_GROUP)
    receivers = group.inputs["webhookReceivers"]  # the engine marks the property holding a secret secret
    assert is_secret(receivers) or is_secret(receivers[0]["serviceUri"])
    assert all(WEBHOOK not in json.dumps(value) for value in run.outputs.values())
    assert all(WEBHOOK not in json.dumps(unwrap(r.outputs)) for r in run.resources
               if r.type != ACTION_GROUP)  # only the action group holds it, as a secret


@pytest.fixture(scope="module")
def no_destination():
    return run_config(stack_config("vm", apiKey=API_KEY, autoShutdown="19:00"))


def test_without_a_destination_rules_exist_reach_no_one_and_the_plan_says_so(no_destination):
    run = no_destination
    assert run.mocks.of_type(ACTION_GROUP) == [] and rules(run)
    assert all(action_ids(rule) == [] for rule in rules(run))
    # autoShutdown deallocates the VM daily: no availability alert, in the plan nor in Azure
    assert not [r for r in run.mocks.of_type(METRIC_ALERT) if r.name.endswith("no-ready-replica")]
    from components.vm import GpuVirtualMachineArgs
    vm_plan = catalogue.monitoring_plan(GpuVirtualMachineArgs(location="swedencentral", hf_token=HF_TOKEN,
                                                              auto_shutdown="19:00"))
    assert "no-ready-replica" not in {a["key"] for a in vm_plan["alerts"]}
    plan = catalogue.monitoring_plan(ContainerAppGpuArgs(location="swedencentral", hf_token=HF_TOKEN))
    assert plan["destination"] == "no one"
    [warning] = plan["warnings"]
    assert "reach no one" in warning and "\n" not in warning


def test_alerts_false_registers_no_rule_and_the_plan_says_so():
    run = run_config(stack_config("containerapp", apiKey=API_KEY, alerts=False, alertEmails=EMAILS))
    assert not rules(run) and not run.mocks.of_type(WORKBOOK) and not run.mocks.of_type(ACTION_GROUP)
    plan = catalogue.monitoring_plan(ContainerAppGpuArgs(location="swedencentral", hf_token=HF_TOKEN,
                                                         alerts=False))
    assert catalogue.render_monitoring(plan) == [
        "  alerts        off (alerts: false): nothing watches this deployment"]
    # destinations given with alerts off are named as unused, in one line
    with_emails = catalogue.monitoring_plan(ContainerAppGpuArgs(location="swedencentral", hf_token=HF_TOKEN,
                                                                alerts=False, alert_emails=EMAILS))
    [warning] = with_emails["warnings"]
    assert "alerts: false" in warning and "alertEmails" in warning and "\n" not in warning


# ---- what each rule watches ----

def test_each_rule_names_its_runbook_section_and_it_exists(runs):
    # a heading that is the key itself: GitHub's anchor for "## endpoint-down" is #endpoint-down
    anchors = set(re.findall(r"^## ([a-z-]+)$", RUNBOOK.read_text(), re.MULTILINE))
    assert anchors >= {spec.anchor for spec in catalogue.ALERTS.values()}
    for run in runs.values():
        for rule in rules(run):
            for text in descriptions(rule):
                [anchor] = re.findall(r"docs/runbooks\.md#([a-z-]+)", text)
                assert anchor in anchors and "\n" not in text, text


def test_containerapp_rules_scope_the_app_with_documented_metrics(runs):
    run = runs["containerapp"]
    app = run.mocks.one("azure-native:app:ContainerApp").outputs["id"]
    table = METRICS["Microsoft.App/containerApps"]["metrics"]
    metric_alerts = {r.name: inputs(r) for r in run.mocks.of_type(METRIC_ALERT) if not r.name.endswith("endpoint-down")}
    assert set(metric_alerts) == {"apertus-server-errors", "apertus-engine-restarts", "apertus-no-ready-replica"}
    for alert in metric_alerts.values():
        assert alert["scopes"] == [app] and alert["severity"] in (1, 2)
        [criterion] = alert["criteria"]["allOf"]
        assert criterion["metricNamespace"] == alerts.CONTAINER_APP_NAMESPACE
        assert criterion["metricName"] in table, criterion["metricName"]
        for dimension in criterion.get("dimensions", []):
            assert dimension["name"] in table[criterion["metricName"]]["dimensions"]
        assert criterion["timeAggregation"] in table[criterion["metricName"]]["aggregations"]
    errors = metric_alerts["apertus-server-errors"]["criteria"]["allOf"][0]
    assert errors["dimensions"] == [{"name": "statusCodeCategory", "operator": "Include", "values": ["5xx"]}]


def test_vm_rules_scope_the_vm_and_its_workspace(runs):
    run = runs["vm"]
    vm = run.mocks.one("azure-native:compute:VirtualMachine").outputs["id"]
    workspace = run.mocks.one(WORKSPACE).outputs["id"]
    logs = {r.name: inputs(r) for r in run.mocks.of_type(LOG_ALERT)}
    assert {f"apertus-{key}" for key in ("engine-dead", "server-errors", "queue-backlog", "kv-cache-full",
                                         "ttft-slo", "gpu-memory", "gpu-xid")} == set(logs)
    for rule in logs.values():
        assert rule["scopes"] == [workspace] and rule["kind"] == "LogAlert"
        assert vm in rule["criteria"]["allOf"][0]["query"]  # the VM's own lines, also in a shared workspace
    [availability] = [inputs(r) for r in run.mocks.of_type(METRIC_ALERT) if r.name == "apertus-no-ready-replica"]
    assert availability["scopes"] == [vm]
    criterion = availability["criteria"]["allOf"][0]
    assert criterion["metricName"] in METRICS["Microsoft.Compute/virtualMachines"]["metrics"]
    [spot] = [inputs(r) for r in run.mocks.of_type(ACTIVITY_ALERT)]
    assert spot["scopes"] == [vm]
    assert {"field": "category", "equals": "ResourceHealth"} in spot["condition"]["allOf"]


def test_vm_ships_its_journal_through_the_monitor_agent(runs):
    for name in ("vm", "vm-internal"):
        run = runs[name]
        vm = run.mocks.one("azure-native:compute:VirtualMachine")
        agent = inputs(run.mocks.one("azure-native:compute:VirtualMachineExtension"))
        assert (agent["publisher"], agent["type"]) == ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent")
        identity = run.mocks.one("azure-native:managedidentity:UserAssignedIdentity").outputs["id"]
        assert agent["settings"]["authentication"]["managedIdentity"]["identifier-value"] == identity
        rule = inputs(run.mocks.one(DCR))
        [syslog] = rule["dataSources"]["syslog"]
        assert {"daemon", "user", "kern"} <= set(syslog["facilityNames"])
        assert rule["dataFlows"] == [{"streams": ["Microsoft-Syslog"], "destinations": ["workspace"]}]
        link = inputs(run.mocks.one(DCRA))
        assert link["resourceUri"] == vm.outputs["id"] and link["dataCollectionRuleId"] == run.mocks.one(DCR).outputs["id"]


def test_aks_sends_prometheus_metrics_to_an_azure_monitor_workspace(runs):
    for name in ("aks", "aks-internal"):
        run = runs[name]
        cluster = run.mocks.one("azure-native:containerservice:ManagedCluster")
        amw = run.mocks.one("azure-native:monitor:AzureMonitorWorkspace").outputs["id"]
        assert inputs(cluster)["azureMonitorProfile"]["metrics"]["enabled"] is True
        [rule] = [inputs(r) for r in run.mocks.of_type(DCR) if r.name.endswith("prometheus-dcr")]
        assert rule["destinations"]["monitoringAccounts"][0]["accountResourceId"] == amw
        assert rule["dataCollectionEndpointId"] == run.mocks.one("azure-native:monitor:DataCollectionEndpoint").outputs["id"]
        [link] = [inputs(r) for r in run.mocks.of_type(DCRA) if r.name.endswith("prometheus-link")]
        assert link["resourceUri"] == cluster.outputs["id"]
        group = inputs(run.mocks.one(PROM_RULES))
        assert group["scopes"] == [amw, cluster.outputs["id"]] and group["clusterName"] == cluster.outputs["name"]
        assert run.outputs["azureMonitorWorkspaceId"] == amw
        monitors = [inputs(r) for r in run.resources if r.type.endswith(":PodMonitor")]
        assert {m["metadata"]["name"] for m in monitors} == {"vllm", "dcgm-exporter"}
        assert all(m["apiVersion"] == "azmonitoring.coreos.com/v1" for m in monitors)


def test_aks_spot_rules_read_kubernetes_events(runs):
    logs = {r.name: inputs(r) for r in runs["aks"].mocks.of_type(LOG_ALERT)}
    assert {"apertus-engine-errors", "apertus-spot-eviction", "apertus-spot-fallback"} == set(logs)
    assert "aks-gpu-" in logs["apertus-spot-fallback"]["criteria"]["allOf"][0]["query"]
    assert "apertus-spot-eviction" not in {r.name for r in runs["aks-internal"].mocks.of_type(LOG_ALERT)}


# ---- the availability test ----

def test_public_endpoints_get_a_standard_test_from_three_locations(runs):
    for name in ("containerapp", "vm", "aks"):
        run = runs[name]
        workspace = run.mocks.one(WORKSPACE).outputs["id"]
        component = run.mocks.one(COMPONENT)
        assert inputs(component)["workspaceResourceId"] == workspace
        test = inputs(run.mocks.one(WEB_TEST))
        assert test["kind"] == "standard" and test["frequency"] == 300 and len(test["locations"]) >= 3
        host = run.outputs["endpoint"].removeprefix("https://").removesuffix("/v1")
        assert test["request"]["requestUrl"] == f"https://{host}/health"
        assert f"hidden-link:{component.outputs['id']}" in test["tags"]
        [down] = [inputs(r) for r in run.mocks.of_type(METRIC_ALERT) if r.name.endswith("endpoint-down")]
        assert down["criteria"]["failedLocationCount"] == 2
        assert down["criteria"]["webTestId"] == run.mocks.one(WEB_TEST).outputs["id"]


@pytest.mark.parametrize("name", ["containerapp-internal", "vm-internal", "aks-internal"])
def test_internal_endpoints_get_no_public_test(runs, name):
    run = runs[name]
    assert run.mocks.of_type(WEB_TEST) == [] and run.mocks.of_type(COMPONENT) == []
    assert alert_count(run) >= 3  # the host's own signals carry the alerting


def test_scale_to_zero_gets_no_test_and_the_plan_says_why():
    created, why = catalogue.availability_test("containerapp", False, 0)
    assert not created and "24/7" in why and "minReplicas 1" in why
    assert catalogue.availability_test("containerapp", False, 1)[0]
    assert not catalogue.availability_test("vm", True, 1)[0]


# ---- KQL: only documented tables and columns ----

KQL_WORDS = set("""where project extend summarize by bin and or not has has_any contains startswith in
todouble tostring extract count min max sum sumif iff let toscalar order asc desc prev evaluate pivot
isnotempty avg true false""".split())


def kql_names(query: str) -> tuple[str, set[str]]:
    """The table a query starts from and the column-like names it uses (strings and names it defines removed)."""
    text = re.sub(r'@?"(?:[^"\\]|\\.)*"|@?\'(?:[^\'\\]|\\.)*\'', " ", query)
    text = re.sub(r"\b\d[\w.+-]*", " ", text)  # numbers and durations (5m, 1e30)
    defined = set(re.findall(r"\b(\w+)\s*=(?!=)", text)) | set(re.findall(r"\blet\s+(\w+)", text))
    names = set(re.findall(r"\b[A-Za-z_]\w*\b", text))
    tables = [name for name in names if name in TABLES]
    first = next(iter(tables)) if len(tables) == 1 else None
    return first, names - KQL_WORDS - defined - set(TABLES)


def all_kql(runs) -> list[str]:
    queries = [inputs(r)["criteria"]["allOf"][0]["query"] for run in runs.values()
               for r in run.mocks.of_type(LOG_ALERT)]
    for run in runs.values():
        for r in run.mocks.of_type(WORKBOOK):
            document = json.loads(inputs(r)["serializedData"])
            queries += [item["content"]["query"] for item in document["items"]
                        if item["type"] == 3 and item["content"]["queryType"] == workbook.LOGS]
    return queries


def test_every_kql_query_names_documented_columns_only(runs):
    queries = all_kql(runs)
    assert len(queries) > 20
    for query in queries:
        table, names = kql_names(query)
        assert table is not None, query
        columns = set(TABLES[table]["columns"])
        assert names <= columns | {"sum", "count"}, (table, sorted(names - columns), query)


def test_the_column_check_catches_a_wrong_column():
    table, names = kql_names('Syslog\n| where ProcessNme == "apertus-vllm"')
    assert table == "Syslog" and not names <= set(TABLES["Syslog"]["columns"])


# ---- the dashboard ----

@pytest.mark.parametrize("name", STACKS)
def test_the_workbook_loads_and_reads_only_this_stacks_resources(runs, name):
    run = runs[name]
    book = inputs(run.mocks.one(WORKBOOK))
    assert book["kind"] == "shared" and book["category"] == "workbook"
    document = json.loads(book["serializedData"])
    assert document["version"] == "Notebook/1.0" and len(document["items"]) >= 5
    own = {r.outputs["id"] for r in run.resources if "id" in r.outputs}
    referenced = set()
    for item in document["items"]:
        referenced |= set(item["content"].get("crossComponentResources", []))
        referenced |= set(item["content"].get("resourceIds", []))
    assert referenced and referenced <= own, referenced - own
    assert run.outputs["dashboardUrl"].startswith("https://portal.azure.com/#resource/subscriptions/")
    assert run.mocks.one(WORKBOOK).outputs["id"] in run.outputs["dashboardUrl"]


def test_workbook_metrics_are_documented():
    for item in workbook.containerapp_items({"containerApp": "a", "containerAppName": "n", "workspace": "w"}):
        for metric in item["content"].get("metrics", []):
            name = metric["metric"].split("--", 1)[1]
            assert name in METRICS["Microsoft.App/containerApps"]["metrics"]
            if "splitBy" in metric:
                assert metric["splitBy"] in METRICS["Microsoft.App/containerApps"]["metrics"][name]["dimensions"]


# ---- PromQL: the real promtool ----

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not os.environ.get("CI"),
    reason="promtool not found: apt-get install -y --no-install-recommends prometheus (Debian's package "
           "ships it; .ci/run installs it)")
NS = "apertus"
SETTINGS = catalogue.AlertSettings(queue_alert_threshold=20, ttft_slo_seconds=2.0, gpu_memory_alert_fraction=0.95)


def rule_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    group = {"name": "apertus", "rules": k8s_monitoring.prometheus_rules(NS, SETTINGS, min_replicas=1)}
    path.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
    return path


def expected(alert: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule = next(r for r in k8s_monitoring.prometheus_rules(NS, SETTINGS, min_replicas=1) if r["alert"] == alert)
    return {"exp_labels": {**rule["labels"], **(labels or {})}, "exp_annotations": rule["annotations"]}


def buckets(counts_per_minute: dict[str, int]) -> list[dict[str, str]]:
    """Cumulative TTFT buckets growing by ``counts_per_minute`` (le -> new requests at or below it)."""
    return [{"series": f'vllm:time_to_first_token_seconds_bucket{{namespace="{NS}",le="{le}"}}',
             "values": f"0+{count}x20"} for le, count in counts_per_minute.items()]


GPU = {"Hostname": "node-1", "gpu": "0"}
CASES = {
    # alert: (series that fire it, series that keep it silent, eval time, labels of the firing alert)
    "server-errors": (
        [{"series": f'http_requests_total{{namespace="{NS}",status="5xx"}}', "values": "0+10x20"},
         {"series": f'http_requests_total{{namespace="{NS}",status="2xx"}}', "values": "0+10x20"}],
        [{"series": f'http_requests_total{{namespace="{NS}",status="5xx"}}', "values": "0+0x20"},
         {"series": f'http_requests_total{{namespace="{NS}",status="2xx"}}', "values": "0+100x20"}],
        "15m", {}),
    "engine-dead": (
        [{"series": f'kube_pod_container_status_restarts_total{{namespace="{NS}",container="vllm",pod="p"}}',
          "values": "0 0 0 1 1 1 1"}],
        [{"series": f'kube_pod_container_status_restarts_total{{namespace="{NS}",container="vllm",pod="p"}}',
          "values": "0x6"}],
        "5m", {"namespace": NS, "container": "vllm", "pod": "p"}),
    "queue-backlog": ([{"series": f'vllm:num_requests_waiting{{namespace="{NS}",pod="p"}}', "values": "30x10"}],
                      [{"series": f'vllm:num_requests_waiting{{namespace="{NS}",pod="p"}}', "values": "19x10"}],
                      "7m", {}),
    "kv-cache-full": ([{"series": f'vllm:kv_cache_usage_perc{{namespace="{NS}",pod="p"}}', "values": "0.97x15"}],
                      [{"series": f'vllm:kv_cache_usage_perc{{namespace="{NS}",pod="p"}}', "values": "0.9x15"}],
                      "12m", {}),
    "ttft-slo": (buckets({"0.5": 0, "1": 0, "2.5": 0, "5": 10, "+Inf": 10}),
                 buckets({"0.5": 10, "1": 10, "2.5": 10, "5": 10, "+Inf": 10}), "17m", {}),
    "gpu-memory": (
        [{"series": "DCGM_FI_DEV_FB_USED{Hostname=\"node-1\",gpu=\"0\"}", "values": "79000x15"},
         {"series": "DCGM_FI_DEV_FB_FREE{Hostname=\"node-1\",gpu=\"0\"}", "values": "1000x15"}],
        [{"series": "DCGM_FI_DEV_FB_USED{Hostname=\"node-1\",gpu=\"0\"}", "values": "72000x15"},
         {"series": "DCGM_FI_DEV_FB_FREE{Hostname=\"node-1\",gpu=\"0\"}", "values": "8000x15"}],
        "12m", GPU),
    "gpu-xid": ([{"series": "DCGM_FI_DEV_XID_ERRORS{Hostname=\"node-1\",gpu=\"0\"}", "values": "0 0 79 79"}],
                [{"series": "DCGM_FI_DEV_XID_ERRORS{Hostname=\"node-1\",gpu=\"0\"}", "values": "0x3"}],
                "3m", GPU),
    "no-ready-replica": (
        [{"series": f'kube_deployment_status_replicas_available{{namespace="{NS}",deployment="vllm"}}',
          "values": "0x10"}],
        [{"series": f'kube_deployment_status_replicas_available{{namespace="{NS}",deployment="vllm"}}',
          "values": "1x10"}],
        "7m", {"namespace": NS, "deployment": "vllm"}),
}


@needs_promtool
def test_every_prometheus_rule_passes_promtool_check(tmp_path):
    result = subprocess.run([PROMTOOL, "check", "rules", str(rule_file(tmp_path))],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(CASES) == {r["alert"] for r in k8s_monitoring.prometheus_rules(NS, SETTINGS, min_replicas=1)}


@needs_promtool
def test_every_prometheus_rule_fires_when_it_should_and_stays_silent_otherwise(tmp_path):
    rules_path = rule_file(tmp_path)
    tests = []
    for alert, (firing, silent, at, labels) in CASES.items():
        tests.append({"interval": "1m", "input_series": firing,
                      "alert_rule_test": [{"eval_time": at, "alertname": alert,
                                           "exp_alerts": [expected(alert, labels)]}]})
        tests.append({"interval": "1m", "input_series": silent,
                      "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": []}]})
    test_path = tmp_path / "tests.yaml"
    test_path.write_text(yaml.safe_dump({"rule_files": [rules_path.name], "evaluation_interval": "1m",
                                         "tests": tests}, sort_keys=False))
    result = subprocess.run([PROMTOOL, "test", "rules", test_path.name], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def promtool_test(tmp_path: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess:
    rules_path = rule_file(tmp_path)
    test_path = tmp_path / "more-tests.yaml"
    test_path.write_text(yaml.safe_dump({"rule_files": [rules_path.name], "evaluation_interval": "1m",
                                         "tests": tests}, sort_keys=False))
    return subprocess.run([PROMTOOL, "test", "rules", test_path.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


@needs_promtool
def test_gpu_xid_fires_on_a_new_xid_and_clears_although_the_gauge_keeps_the_code(tmp_path):
    xid = 'DCGM_FI_DEV_XID_ERRORS{Hostname="node-1",gpu="0"}'
    # the exporter's gauge holds 79 from minute 2 on; a second fault (43) comes at minute 20
    series = [{"series": xid, "values": "0 0 79x17 43x10"}]
    at = {"3m": [expected("gpu-xid", GPU)], "11m": [expected("gpu-xid", GPU)], "13m": [],
          "18m": [], "21m": [expected("gpu-xid", GPU)], "29m": [expected("gpu-xid", GPU)], "31m": []}
    result = promtool_test(tmp_path, [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": t, "alertname": "gpu-xid", "exp_alerts": alerts} for t, alerts in at.items()]}])
    assert result.returncode == 0, result.stdout + result.stderr


def workbook_query(title: str) -> str:
    items = workbook.aks_items({"monitorWorkspace": "amw", "cluster": "c", "workspace": "w"}, NS)
    return next(item["content"]["query"] for item in items if item["name"] == title)


@needs_promtool
def test_workbook_shows_both_waiting_and_running_requests(tmp_path):
    series = [{"series": f'vllm:num_requests_waiting{{namespace="{NS}",pod="p"}}', "values": "3x5"},
              {"series": f'vllm:num_requests_running{{namespace="{NS}",pod="p"}}', "values": "7x5"}]
    query = workbook_query("Requests waiting and running")
    result = promtool_test(tmp_path, [{"interval": "1m", "input_series": series, "promql_expr_test": [
        {"expr": query, "eval_time": "2m",
         "exp_samples": [{"labels": '{state="waiting"}', "value": 3}, {"labels": '{state="running"}', "value": 7}]}]}])
    assert result.returncode == 0, result.stdout + result.stderr


def agent_configmap(run, name: str) -> dict[str, Any]:
    [configmap] = [inputs(r) for r in run.resources
                   if r.type == "kubernetes:core/v1:ConfigMap" and inputs(r)["metadata"]["name"] == name]
    assert configmap["metadata"]["namespace"] == "kube-system"
    assert configmap["data"]["schema-version"] == "v1"  # the only version the agents accept
    return configmap["data"]


def test_container_insights_collects_normal_events_for_the_spot_fallback_alert(runs):
    import tomllib
    data = agent_configmap(runs["aks"], "container-azm-ms-agentconfig")  # spot: true
    settings = tomllib.loads(data["log-data-collection-settings"])["log_collection_settings"]
    # only this setting: stdout/stderr/env_var keep the agent's defaults
    assert settings == {"collect_all_kube_events": {"enabled": True}}
    # no spot pools, no spot-fallback alert: Normal events are not paid for
    assert not [r for r in runs["aks-internal"].resources
                if r.type == "kubernetes:core/v1:ConfigMap" and inputs(r)["metadata"]["name"] == "container-azm-ms-agentconfig"]
    query = alerts.aks_on_demand_fallback("/subscriptions/x/c", "gpu", NS)
    assert 'Reason == "TriggeredScaleUp"' in query  # a Normal event: needs the setting above


def test_managed_prometheus_keeps_kube_node_labels_for_the_workbook(runs):
    import tomllib
    for name in ("aks", "aks-internal"):
        data = agent_configmap(runs[name], "ama-metrics-settings-configmap")
        keep = tomllib.loads(data["default-targets-metrics-keep-list"])
        assert keep == {"kubestate": "kube_node_labels", "minimalingestionprofile": True}
        assert re.fullmatch(keep["kubestate"], "kube_node_labels")
    assert "kube_node_labels{" in workbook_query("vLLM replicas available, GPU nodes")


def test_aks_spot_monitoring_adds_the_normal_events_ingestion_to_its_cost():
    from components.aks import AksGpuClusterArgs

    def events_lines(spot: bool) -> list[dict[str, Any]]:
        plan = catalogue.monitoring_plan(AksGpuClusterArgs(location="swedencentral", hf_token=HF_TOKEN, spot=spot,
                                                           alert_emails=EMAILS, api_allowed_cidrs=["198.51.100.0/24"]))
        return [line for line in plan["costLines"] if "KubeEvents" in line["item"]]
    [line] = events_lines(True)
    assert line["usdPerMonth"] > 0 and "container-insights-data-collection-configmap" in line["source"]
    assert events_lines(False) == []


def test_azure_rule_group_carries_the_same_rules(runs):
    group = inputs(runs["aks"].mocks.one(PROM_RULES))
    settings_rules = {r["alert"]: r for r in group["rules"]}
    assert set(settings_rules) == set(CASES)
    assert settings_rules["kv-cache-full"]["for"] == "PT10M" and "for" not in settings_rules["gpu-xid"]
    assert 'namespace="apertus"' in settings_rules["queue-backlog"]["expression"]


# ---- configuration: one line, before any resource ----

@pytest.mark.parametrize("overrides, key, words", [
    ({"alertEmails": ["not-an-address"]}, "alertEmails", ["not an email address"]),
    ({"alertEmails": ["oncall@example.com", "two@@example.com"]}, "alertEmails", ["not an email address"]),
    ({"actionGroupId": "oncall"}, "actionGroupId", ["not an action group"]),
    ({"actionGroupId": GROUP_ID, "alertEmails": EMAILS}, "actionGroupId", ["ignored"]),
    ({"ttftSloSeconds": -1}, "ttftSloSeconds", ["between"]),
    ({"queueAlertThreshold": 0}, "queueAlertThreshold", ["between 1 and 1000000"]),
    ({"alerts": "yes"}, "alerts", ["not a boolean"]),
    ({"alertEmails": ["OnCall@Example.com", "oncall@example.com"]}, "alertEmails", ["given twice"]),
    ({"alertEmails": ["a@example.com", "a@example.com"]}, "alertEmails", ["given twice"]),
    ({"logAnalyticsWorkspaceId": "my-workspace"}, "logAnalyticsWorkspaceId", ["not a workspace's resource id"]),
])
def test_bad_monitoring_settings_fail_in_one_line(overrides, key, words):
    assert_config_error(stack_config("vm", apiKey=API_KEY, **overrides), key, words)


def test_a_plain_text_webhook_is_refused_without_showing_it():
    error = assert_config_error(stack_config("vm", apiKey=API_KEY, alertWebhook=WEBHOOK), "alertWebhook",
                                ["plain text"])
    assert WEBHOOK not in str(error) and "secret-part" not in str(error)


def test_a_webhook_that_is_not_https_is_refused_without_showing_it():
    with pytest.raises(ConfigError) as caught:
        run_config(stack_config("vm", apiKey=API_KEY, alertWebhook="http://hooks.example.com/secret-part"))
    assert caught.value.key == "alertWebhook" and "secret-part" not in str(caught.value)
    assert caught.value.registered == []


def test_thresholds_default_from_the_plan():
    args = ContainerAppGpuArgs(location="swedencentral", hf_token=HF_TOKEN, max_replicas=3)
    settings = args.alert_settings
    batch = min(catalogue.VLLM_MAX_NUM_SEQS, args.plan.max_concurrent_sequences)
    assert settings.queue_alert_threshold == 3 * batch
    assert settings.ttft_slo_seconds == catalogue.DEFAULT_TTFT_SLO_SECONDS
    assert 0.9 < settings.gpu_memory_alert_fraction < 1
    given = ContainerAppGpuArgs(location="swedencentral", hf_token=HF_TOKEN, queue_alert_threshold=7,
                                ttft_slo_seconds=0.5).alert_settings
    assert (given.queue_alert_threshold, given.ttft_slo_seconds) == (7, 0.5)


def test_monitoring_cost_lines_have_sources(runs):
    from components.aks import AksGpuClusterArgs
    plan = catalogue.monitoring_plan(AksGpuClusterArgs(location="swedencentral", hf_token=HF_TOKEN,
                                                       alert_emails=EMAILS, api_allowed_cidrs=["198.51.100.0/24"]))
    items = [line["item"] for line in plan["costLines"]]
    assert any("availability test" in i for i in items) and any("managed Prometheus" in i for i in items)
    assert all(line["source"] for line in plan["costLines"]) and plan["usdPerMonth"] > 0
    assert plan["warnings"] == [] and "oncall@example.com" in plan["destination"]


# ---- the policy ----

def _policy_resource(r) -> PolicyResource:
    options = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                    custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])
    return PolicyResource(r.type, unknown_checking_proxy(unwrap(r.outputs)),
                          f"urn:pulumi:test::apertus-azure::{r.type}::{r.name}", r.name, options, None, None, [], {})


def policy_violations(resources) -> list[str]:
    found: list[str] = []
    serving_host_monitored.validate(StackValidationArgs([_policy_resource(r) for r in resources], None),
                                    lambda message, urn=None: found.append(message))
    return found


@pytest.mark.parametrize("name", STACKS)
def test_policy_passes_every_monitored_host(runs, name):
    assert policy_violations(runs[name].resources) == []


def test_policy_flags_an_unwatched_host_and_alerts_that_reach_no_one(runs, no_destination):
    resources = runs["vm"].resources
    without_rules = [r for r in resources if r.type not in RULE_TYPES]
    [message] = policy_violations(without_rules)
    assert "virtual machine 'apertus-vm' has no alert rule" in message
    [message] = policy_violations(no_destination.resources)
    assert "reach no action group" in message


def test_a_token_shaped_alert_address_is_refused_without_showing_it(tmp_path):
    """An address holding something shaped like a Hugging Face token is refused (the shared token
    finder, components/serving/rules.py), and the one-line error never echoes it."""
    from stacks.common import plan_stack

    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    token_like = "hf_abcdefghijklmnopqrstuvwxyz0123"
    (tmp_path / "Pulumi.mail.yaml").write_text(
        "config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n"
        f"  apertus-azure:alertEmails: [oncall@example.com, {token_like}@x.ch]\n")
    with pytest.raises(ConfigError) as caught:
        plan_stack("mail", tmp_path)
    assert caught.value.key == "alertEmails" and token_like not in str(caught.value), caught.value
    assert "\n" not in str(caught.value)
