"""One Azure Monitor workbook per deployment: the dashboard, as an ARM resource built from its own ids.

``workbook_document`` is pure (ids in, the workbook's serializedData out) so the tests can load it
and check it references nothing but the stack's resources; ``dashboard`` registers it.
Item shapes: Azure Workbooks' JSON ("Notebook/1.0": text items type 1, query items type 3 with
``queryType`` 0 = Logs (KQL) and 16 = Azure Monitor workspace (PromQL), metric items type 10), as
the portal's "Advanced editor" shows them (learn.microsoft.com/azure/azure-monitor/visualize/
workbooks-create-workbook); the PromQL item type was not checked against a live portal.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pulumi
import pulumi_random as random
from pulumi_azure_native import applicationinsights

from . import alerts
from .k8s_common import VLLM
from .serving.monitoring import CONTAINERAPP_MISSING, RUNBOOK

DAY_MS = 24 * 3600 * 1000
LOGS, PROMQL = 0, 16
PORTAL = "https://portal.azure.com/#resource"


def _text(markdown: str, name: str) -> dict[str, Any]:
    return {"type": 1, "name": name, "content": {"json": markdown}}


def _kql(title: str, query: str, workspace_id: str, chart: str = "timechart") -> dict[str, Any]:
    return {"type": 3, "name": title, "content": {
        "version": "KqlItem/1.0", "title": title, "query": query, "size": 0, "queryType": LOGS,
        "resourceType": "microsoft.operationalinsights/workspaces", "crossComponentResources": [workspace_id],
        "timeContext": {"durationMs": DAY_MS}, "visualization": chart}}


def _promql(title: str, query: str, monitor_workspace_id: str) -> dict[str, Any]:
    return {"type": 3, "name": title, "content": {
        "version": "KqlItem/1.0", "title": title, "query": query, "size": 0, "queryType": PROMQL,
        "resourceType": "microsoft.monitor/accounts", "crossComponentResources": [monitor_workspace_id],
        "timeContext": {"durationMs": DAY_MS}, "visualization": "timechart"}}


def _metrics(title: str, resource_id: str, namespace: str, metrics: list[tuple[str, str, Optional[str]]]
             ) -> dict[str, Any]:
    """Platform metrics of one resource: (metric, aggregation, split-by dimension)."""
    aggregation = {"Total": 1, "Average": 4, "Minimum": 2, "Maximum": 3, "Count": 7}  # workbook codes
    lower = namespace.lower()
    return {"type": 10, "name": title, "content": {
        "chartId": f"{title}-chart", "version": "MetricsItem/2.0", "title": title, "size": 0, "chartType": 2,
        "resourceType": lower, "metricScope": 0, "resourceIds": [resource_id],
        "timeContext": {"durationMs": DAY_MS},
        "metrics": [{"namespace": lower, "metric": f"{lower}--{metric}", "aggregation": aggregation[agg],
                     **({"splitBy": split} if split else {})} for metric, agg, split in metrics]}}


def containerapp_items(ids: dict[str, str]) -> list[dict[str, Any]]:
    app, workspace = ids["containerApp"], ids["workspace"]
    return [
        _metrics("Requests by status class", app, alerts.CONTAINER_APP_NAMESPACE,
                 [("Requests", "Total", "statusCodeCategory")]),
        _metrics("Replicas and restarts", app, alerts.CONTAINER_APP_NAMESPACE,
                 [("Replicas", "Maximum", None), ("RestartCount", "Total", None)]),
        _kql("vLLM engine errors", alerts.containerapp_engine_errors(ids["containerAppName"]), workspace, "table"),
        _text("Container Apps does not export vLLM's own metrics or GPU metrics: "
              + ", ".join(CONTAINERAPP_MISSING) + ". See docs/operations.md.", "not-exported"),
    ]


def vm_items(ids: dict[str, str]) -> list[dict[str, Any]]:
    vm, workspace = ids["vm"], ids["workspace"]

    def per_minute(metric: str, how: str = "sum(value)") -> str:
        return alerts.vm_metric_lines(vm, metric) + f"\n| summarize {how} by bin(TimeGenerated, 1m)"

    def rate(metric: str) -> str:
        return (alerts.vm_metric_lines(vm, metric) +
                "\n| summarize total = sum(value) by bin(TimeGenerated, 5m)"
                "\n| order by TimeGenerated asc\n| extend per_second = (total - prev(total)) / 300.0"
                "\n| where per_second >= 0\n| project TimeGenerated, per_second")
    ttft_mean = (alerts.vm_metric_lines(vm, "vllm:time_to_first_token_seconds_")
                 + '\n| extend part = extract(@"^vllm:time_to_first_token_seconds_(sum|count)", 1, SyslogMessage)'
                 + '\n| where isnotempty(part)\n| summarize value = sum(value) by part, bin(TimeGenerated, 5m)'
                 + "\n| evaluate pivot(part, sum(value))\n| order by TimeGenerated asc"
                 + "\n| extend mean_ttft_seconds = (sum - prev(sum)) / (count - prev(count))"
                 + "\n| project TimeGenerated, mean_ttft_seconds")
    gpu = (f'Syslog\n| where _ResourceId =~ "{vm}" and ProcessName == "{alerts.METRICS_TAG}" '
           'and SyslogMessage startswith "gpu "\n'
           '| extend gpu = extract(@"index=(\\d+)", 1, SyslogMessage), '
           'utilization = todouble(extract(@"utilization_percent=(\\d+)", 1, SyslogMessage)), '
           'memory_used_mib = todouble(extract(@"memory_used_mib=(\\d+)", 1, SyslogMessage))\n'
           "| summarize avg(utilization), max(memory_used_mib) by gpu, bin(TimeGenerated, 1m)")
    return [
        _kql("Requests per second (vLLM)", rate("http_requests_total"), workspace),
        _kql("Mean time to first token (5 min)", ttft_mean, workspace),
        _kql("p95 time to first token above the SLO (alert query)",
             alerts.vm_ttft_p95_above(vm, 0.0), workspace, "table"),
        _kql("Generation tokens per second", rate("vllm:generation_tokens_total"), workspace),
        _kql("Requests waiting", per_minute("vllm:num_requests_waiting"), workspace),
        _kql("Requests running", per_minute("vllm:num_requests_running"), workspace),
        _kql("KV-cache usage (0-1)", per_minute("vllm:kv_cache_usage_perc", "max(value)"), workspace),
        _kql("GPU utilization and memory", gpu, workspace),
        _kql("vLLM engine errors and restarts", alerts.vm_engine_errors(vm), workspace, "table"),
        _metrics("VM availability", vm, alerts.VM_NAMESPACE, [("VmAvailabilityMetric", "Average", None)]),
    ]


def aks_items(ids: dict[str, str], namespace: str) -> list[dict[str, Any]]:
    amw, workspace = ids["monitorWorkspace"], ids["workspace"]
    ns = f'namespace="{namespace}"'

    def quantiles(metric: str) -> str:
        return (f"histogram_quantile(0.5, sum by (le) (rate({metric}{{{ns}}}[5m]))) or "
                f"histogram_quantile(0.95, sum by (le) (rate({metric}{{{ns}}}[5m])))")
    return [
        _promql("Requests per second by status", f"sum by (status) (rate(http_requests_total{{{ns}}}[5m]))", amw),
        _promql("Time to first token p50 / p95",
                f"label_replace(histogram_quantile(0.5, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{{{ns}}}[5m]))), \"q\", \"p50\", \"\", \"\") "
                f"or label_replace(histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{{{ns}}}[5m]))), \"q\", \"p95\", \"\", \"\")",
                amw),
        _promql("Inter-token latency p50 / p95",
                f"label_replace(histogram_quantile(0.5, sum by (le) (rate(vllm:inter_token_latency_seconds_bucket{{{ns}}}[5m]))), \"q\", \"p50\", \"\", \"\") "
                f"or label_replace(histogram_quantile(0.95, sum by (le) (rate(vllm:inter_token_latency_seconds_bucket{{{ns}}}[5m]))), \"q\", \"p95\", \"\", \"\")",
                amw),
        _promql("Generation tokens per second", f"sum(rate(vllm:generation_tokens_total{{{ns}}}[5m]))", amw),
        _promql("Requests waiting and running",
                # both sums have an empty label set, so a bare `or` would drop the right side: label each
                f"label_replace(sum(vllm:num_requests_waiting{{{ns}}}), \"state\", \"waiting\", \"\", \"\") "
                f"or label_replace(sum(vllm:num_requests_running{{{ns}}}), \"state\", \"running\", \"\", \"\")",
                amw),
        _promql("KV-cache usage (0-1)", f"max by (pod) (vllm:kv_cache_usage_perc{{{ns}}})", amw),
        _promql("GPU utilization (%)", "avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL)", amw),
        _promql("GPU memory used (MiB)", "max by (Hostname, gpu) (DCGM_FI_DEV_FB_USED)", amw),
        _promql("vLLM replicas available, GPU nodes",
                f'kube_deployment_status_replicas_available{{{ns},deployment="{VLLM}"}} '
                'or count(kube_node_labels{label_kubernetes_azure_com_agentpool=~"gpu.*"})', amw),
        _kql("vLLM engine errors", alerts.aks_engine_errors(ids["cluster"], namespace), workspace, "table"),
    ]


def workbook_document(host: str, ids: dict[str, str], namespace: str = "") -> dict[str, Any]:
    """The workbook's content for one deployment (``ids``: the resource ids it reads)."""
    items = {"containerapp": lambda: containerapp_items(ids), "vm": lambda: vm_items(ids),
             "aks": lambda: aks_items(ids, namespace)}[host]()
    header = _text(f"## Apertus on {host}\nRequests, latency, tokens, queue, KV cache, GPU and replicas of "
                   f"this deployment. Each alert's description names its runbook section in {RUNBOOK}.",
                   "header")
    return {"version": "Notebook/1.0", "items": [header, *items], "isLocked": False,
            "$schema": "https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json"}


def dashboard(name: str, host: str, ids: dict[str, pulumi.Input[str]], *, resource_group: pulumi.Input[str],
              location: str, tags: dict[str, str], parent: pulumi.Resource,
              namespace: str = "") -> pulumi.Output[str]:
    """The workbook resource and its portal URL."""
    opts = pulumi.ResourceOptions(parent=parent)
    workbook_id = random.RandomUuid(f"{name}-workbook-id", opts=opts)  # workbook names must be UUIDs
    keys = sorted(ids)
    serialized = pulumi.Output.all(*(ids[key] for key in keys)).apply(
        lambda values: json.dumps(workbook_document(host, dict(zip(keys, values)), namespace)))
    workbook = applicationinsights.Workbook(
        f"{name}-dashboard", resource_group_name=resource_group, location=location,
        resource_name_=workbook_id.result, kind=applicationinsights.WorkbookSharedTypeKind.SHARED,
        category="workbook", display_name=f"Apertus ({name}, {host})", serialized_data=serialized,
        source_id=ids["workspace"], tags=tags, opts=opts)
    return pulumi.Output.concat(PORTAL, workbook.id, "/workbook")
