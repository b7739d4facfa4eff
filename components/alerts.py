"""Alerting shared by the three hosts: the action group, the availability test, and rule builders.

Every host calls ``Watch`` once with what it built (workspace, app / VM / cluster ids, endpoint) and
its host-specific rules; the action group, the /health availability test and the rule shapes live
here only. The catalogue of alerts, thresholds and costs is plain data in
``components/serving/monitoring.py``; the runbook sections are docs/runbooks.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
from pulumi_azure_native import applicationinsights, monitor

from .serving import monitoring as catalogue
from .serving.monitoring import ALERTS, AlertSettings

# Azure Monitor's metric namespace of each resource type this project alerts on (Supported metrics
# pages; the test fixture tests/fixtures/monitoring/metrics.json holds their tables)
CONTAINER_APP_NAMESPACE = "Microsoft.App/containerApps"
VM_NAMESPACE = "Microsoft.Compute/virtualMachines"
ACTION_GROUP_SHORT_NAME_MAX = 12  # ActionGroup.groupShortName: at most 12 characters (REST API)
WEBHOOK_RECEIVER = "webhook"


@dataclass(frozen=True)
class LogRule:
    """A scheduled query (log search) alert: fires when ``query`` returns any row in the window."""

    key: str  # the catalogue entry (serving.monitoring.ALERTS)
    query: pulumi.Input[str]
    threshold: str  # in words, for the description
    frequency_minutes: int = 5
    name: str = ""  # resource name suffix when one entry has several rules; default the key


@dataclass(frozen=True)
class MetricRule:
    """A platform metric alert on one resource, static threshold."""

    key: str
    metric: str
    namespace: str
    aggregation: str  # Average | Minimum | Maximum | Total | Count
    operator: str  # GreaterThan | LessThan | ...
    threshold: float
    dimensions: dict[str, list[str]] = field(default_factory=dict)
    words: str = ""
    name: str = ""  # resource name suffix when one entry has several rules; default the key


@dataclass
class Watched:
    """What ``Watch`` hands back: the action group id every rule uses, and the rules by key."""

    action_group_id: Optional[pulumi.Output[str]]
    rules: dict[str, pulumi.CustomResource] = field(default_factory=dict)
    web_test: Optional[applicationinsights.WebTest] = None
    component: Optional[applicationinsights.Component] = None


def short_name(name: str) -> str:
    return name.replace("-", "")[:ACTION_GROUP_SHORT_NAME_MAX] or "apertus"


def action_group(name: str, settings: AlertSettings, webhook: Optional[pulumi.Input[str]],
                 resource_group: pulumi.Input[str], tags: dict[str, str],
                 parent: pulumi.Resource) -> Optional[pulumi.Output[str]]:
    """The given action group, or a new one with the emails and the webhook (kept secret)."""
    if not settings.reaches_someone:
        return None  # no receivers: the rules still fire in Azure Monitor's alert list; plan warns
    if settings.action_group_id:
        return pulumi.Output.from_input(settings.action_group_id)
    webhooks = None
    if webhook is not None:
        webhooks = [monitor.WebhookReceiverArgs(name=WEBHOOK_RECEIVER, service_uri=pulumi.Output.secret(webhook),
                                                use_common_alert_schema=True)]
    group = monitor.ActionGroup(
        f"{name}-alerts",
        resource_group_name=resource_group,
        location="Global",  # action groups are global resources
        group_short_name=short_name(name),
        enabled=True,
        email_receivers=[monitor.MicrosoftCommonEmailReceiverArgs(
            name=f"email-{index}", email_address=address, use_common_alert_schema=True)
            for index, address in enumerate(settings.emails)] or None,
        webhook_receivers=webhooks,
        tags=tags,
        # the webhook URL carries its own credential: secret in state, inputs and outputs alike
        opts=pulumi.ResourceOptions(parent=parent, additional_secret_outputs=["webhookReceivers"]))
    return group.id


class Watch:
    """Registers one deployment's alerting: action group, availability test, then each host rule."""

    def __init__(self, name: str, *, settings: AlertSettings, webhook: Optional[pulumi.Input[str]],
                 resource_group: pulumi.Input[str], location: str, workspace_id: pulumi.Input[str],
                 tags: dict[str, str], parent: pulumi.Resource):
        self.name = name
        self.settings = settings
        self.resource_group = resource_group
        self.location = location
        self.workspace_id = workspace_id
        self.tags = tags
        self.opts = pulumi.ResourceOptions(parent=parent)
        self.watched = Watched(action_group_id=action_group(name, settings, webhook, resource_group, tags, parent))

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def _actions(self) -> list[pulumi.Output[str]]:
        return [self.watched.action_group_id] if self.watched.action_group_id is not None else []

    def availability(self, health_url: pulumi.Input[str]) -> None:
        """A workspace-based Application Insights component and a standard test of ``health_url``."""
        if not self.enabled:
            return
        spec = ALERTS["endpoint-down"]
        component = applicationinsights.Component(
            f"{self.name}-appinsights", resource_group_name=self.resource_group, location=self.location,
            kind="web", application_type=applicationinsights.ApplicationType.WEB,
            workspace_resource_id=self.workspace_id,  # workspace-based: results land in the stack's workspace
            ingestion_mode=applicationinsights.IngestionMode.LOG_ANALYTICS,
            tags=self.tags, opts=self.opts)
        test_name = f"{self.name}-health"
        # Azure links a test to its component through a tag named after the component's id
        tags = component.id.apply(lambda component_id: {**self.tags, f"hidden-link:{component_id}": "Resource"})
        test = applicationinsights.WebTest(
            f"{self.name}-health-test", resource_group_name=self.resource_group, location=self.location,
            web_test_name=test_name, synthetic_monitor_id=test_name, kind="standard",
            web_test_kind=applicationinsights.WebTestKind.STANDARD, enabled=True,
            frequency=catalogue.AVAILABILITY_FREQUENCY_SECONDS, timeout=catalogue.AVAILABILITY_TIMEOUT_SECONDS,
            retry_enabled=True,
            locations=[applicationinsights.WebTestGeolocationArgs(location=location)
                       for location in catalogue.AVAILABILITY_LOCATIONS],
            request=applicationinsights.WebTestPropertiesRequestArgs(
                request_url=health_url, http_verb="GET", parse_dependent_requests=False),
            validation_rules=applicationinsights.WebTestPropertiesValidationRulesArgs(
                expected_http_status_code=200, s_sl_check=True, s_sl_cert_remaining_lifetime_check=7),
            tags=tags, opts=self.opts)
        threshold = f">= {catalogue.AVAILABILITY_FAILED_LOCATIONS} of {len(catalogue.AVAILABILITY_LOCATIONS)} locations fail"
        self.watched.rules[spec.key] = monitor.MetricAlert(
            f"{self.name}-endpoint-down", resource_group_name=self.resource_group, location="global",
            description=spec.description(threshold), severity=spec.severity, enabled=True,
            scopes=[test.id, component.id], evaluation_frequency="PT1M",
            window_size=f"PT{spec.window_minutes}M",
            criteria=monitor.WebtestLocationAvailabilityCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria",
                web_test_id=test.id, component_id=component.id,
                failed_location_count=catalogue.AVAILABILITY_FAILED_LOCATIONS),
            actions=[monitor.MetricAlertActionArgs(action_group_id=group) for group in self._actions()],
            auto_mitigate=True, tags=self.tags, opts=self.opts)
        self.watched.web_test, self.watched.component = test, component

    def log_rule(self, rule: LogRule) -> None:
        """A log search alert on the workspace: any row in the window fires it."""
        if not self.enabled:
            return
        spec = ALERTS[rule.key]
        self.watched.rules[rule.name or rule.key] = monitor.ScheduledQueryRule(
            f"{self.name}-{rule.name or rule.key}", resource_group_name=self.resource_group, location=self.location,
            kind=monitor.Kind.LOG_ALERT, display_name=f"{self.name}: {spec.title}",
            description=spec.description(rule.threshold), severity=spec.severity, enabled=True,
            scopes=[self.workspace_id], evaluation_frequency=f"PT{rule.frequency_minutes}M",
            window_size=f"PT{spec.window_minutes}M",
            criteria=monitor.ScheduledQueryRuleCriteriaArgs(all_of=[monitor.ConditionArgs(
                query=rule.query, time_aggregation=monitor.TimeAggregation.COUNT,
                # the scheduledQueryRules API's operator (the SDK's ConditionOperator enum is another API's)
                operator="GreaterThan", threshold=0,
                failing_periods=monitor.ConditionFailingPeriodsArgs(
                    number_of_evaluation_periods=1, min_failing_periods_to_alert=1))]),
            actions=monitor.ActionsArgs(action_groups=self._actions()),
            auto_mitigate=True, tags=self.tags, opts=self.opts)

    def metric_rule(self, rule: MetricRule, scope: pulumi.Input[str]) -> None:
        """A platform metric alert on ``scope`` (one resource)."""
        if not self.enabled:
            return
        spec = ALERTS[rule.key]
        self.watched.rules[rule.name or rule.key] = monitor.MetricAlert(
            f"{self.name}-{rule.name or rule.key}", resource_group_name=self.resource_group, location="global",
            description=spec.description(rule.words), severity=spec.severity, enabled=True,
            scopes=[scope], evaluation_frequency="PT1M", window_size=f"PT{spec.window_minutes}M",
            criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                all_of=[monitor.MetricCriteriaArgs(
                    criterion_type="StaticThresholdCriterion", name=rule.key, metric_name=rule.metric,
                    metric_namespace=rule.namespace, operator=rule.operator, threshold=rule.threshold,
                    time_aggregation=rule.aggregation,
                    dimensions=[monitor.MetricDimensionArgs(name=dimension, operator="Include", values=values)
                                for dimension, values in rule.dimensions.items()] or None)]),
            actions=[monitor.MetricAlertActionArgs(action_group_id=group) for group in self._actions()],
            auto_mitigate=True, tags=self.tags, opts=self.opts)

    def activity_rule(self, key: str, scope: pulumi.Input[str], conditions: Sequence[tuple[str, str]],
                      words: str) -> None:
        """An activity log alert on one resource (Resource Health, administrative events)."""
        if not self.enabled:
            return
        spec = ALERTS[key]
        self.watched.rules[key] = monitor.ActivityLogAlert(
            f"{self.name}-{key}", resource_group_name=self.resource_group, location="Global",
            description=spec.description(words), enabled=True, scopes=[scope],
            condition=monitor.AlertRuleAllOfConditionArgs(all_of=[
                monitor.AlertRuleAnyOfOrLeafConditionArgs(field=field_name, equals=value)
                for field_name, value in conditions]),
            actions=monitor.ActionListArgs(action_groups=[
                monitor.ActionGroupArgs(action_group_id=group) for group in self._actions()]),
            tags=self.tags, opts=self.opts)


# ---- the host rules: KQL over the tables each host fills (tests/fixtures/monitoring/tables.json) ----
ENGINE_ERRORS = ("EngineDeadError", "CUDA out of memory", "Traceback (most recent call last)")
METRICS_TAG = "apertus-metrics"  # the VM's metrics timer logs through syslog under this tag (cloudinit)
NUMBER = r"\s([-+0-9.eE]+|NaN)$"  # the sample value at the end of a Prometheus text line


def _kql_list(words: Sequence[str]) -> str:
    return ", ".join(f'"{word}"' for word in words)


def containerapp_engine_errors(app_name: str) -> str:
    """vLLM's fatal lines in the app's console log (log-analytics destination: ContainerAppConsoleLogs_CL)."""
    return (f'ContainerAppConsoleLogs_CL\n| where ContainerAppName_s == "{app_name}" and ContainerName_s == "vllm"\n'
            f"| where Log_s has_any ({_kql_list(ENGINE_ERRORS)})\n"
            "| project TimeGenerated, RevisionName_s, ContainerGroupName_s, Log_s")


def aks_engine_errors(cluster_id: str, namespace: str) -> str:
    return (f'ContainerLogV2\n| where _ResourceId =~ "{cluster_id}" and PodNamespace == "{namespace}" '
            f'and ContainerName == "vllm"\n'
            f"| where tostring(LogMessage) has_any ({_kql_list(ENGINE_ERRORS)})\n"
            "| project TimeGenerated, PodName, Computer, LogMessage")


def aks_spot_evictions(cluster_id: str, spot_pool: str) -> str:
    """AKS's node problem detector reports a scheduled spot eviction as PreemptScheduled on the node."""
    return (f'KubeEvents\n| where _ResourceId =~ "{cluster_id}" and ObjectKind == "Node"\n'
            f'| where Name contains "-{spot_pool}-" and Reason has "Preempt"\n'
            "| project TimeGenerated, Name, Reason, Message")


def aks_on_demand_fallback(cluster_id: str, on_demand_pool: str, namespace: str) -> str:
    """The cluster autoscaler's TriggeredScaleUp event on a vLLM pod naming the on-demand pool's scale set."""
    return (f'KubeEvents\n| where _ResourceId =~ "{cluster_id}" and Namespace == "{namespace}"\n'
            f'| where Reason == "TriggeredScaleUp" and Message contains "aks-{on_demand_pool}-"\n'
            "| project TimeGenerated, Name, Message")


def vm_engine_errors(vm_id: str) -> str:
    """vLLM's fatal lines, and systemd restarting its unit, from the VM's journal via Syslog."""
    return (f'Syslog\n| where _ResourceId =~ "{vm_id}"\n'
            f'| where (ProcessName == "apertus-vllm" and SyslogMessage has_any ({_kql_list(ENGINE_ERRORS)}))\n'
            '    or (ProcessName == "systemd" and SyslogMessage has "apertus-vllm.service: Scheduled restart job")\n'
            "| project TimeGenerated, ProcessName, SyslogMessage")


def vm_metric_lines(vm_id: str, metric: str) -> str:
    """The metrics timer's lines of one Prometheus metric, with the sample value parsed."""
    return (f'Syslog\n| where _ResourceId =~ "{vm_id}" and ProcessName == "{METRICS_TAG}"\n'
            f'| where SyslogMessage startswith "{metric}"\n'
            f'| extend value = todouble(extract(@"{NUMBER}", 1, SyslogMessage))')


def vm_gauge_above(vm_id: str, metric: str, threshold: float) -> str:
    """Fires when every minute of the window has the (summed) gauge above ``threshold``."""
    return (vm_metric_lines(vm_id, metric) +
            "\n| summarize value = sum(value) by bin(TimeGenerated, 1m)"
            f"\n| summarize lowest = min(value), minutes = count()\n| where lowest > {threshold:g}")


def vm_ttft_p95_above(vm_id: str, slo_seconds: float) -> str:
    """p95 of time to first token over the window from the histogram's cumulative buckets (the upper
    bound of the bucket holding the 95th percentile: conservative); a restart resets the counters."""
    return ("let buckets = " + vm_metric_lines(vm_id, "vllm:time_to_first_token_seconds_bucket") +
            '\n| extend le = extract(@\'le="([^"]+)"\', 1, SyslogMessage)'
            "\n| summarize increase = max(value) - min(value) by le"
            '\n| extend bound = iff(le == "+Inf", 1e30, todouble(le));'
            '\nlet total = toscalar(buckets | where le == "+Inf" | summarize sum(increase));'
            "\nbuckets\n| where total > 0 and increase >= 0.95 * total"
            f"\n| summarize p95 = min(bound)\n| where p95 > {slo_seconds:g}")


def vm_server_errors(vm_id: str, percent: float) -> str:
    """5xx share of vLLM's answers (its http_requests_total counter, status grouped as 5xx)."""
    return (vm_metric_lines(vm_id, "http_requests_total") +
            '\n| extend series = extract(@"^(\\S+)\\s", 1, SyslogMessage), '
            'status = extract(@\'status="([^"]+)"\', 1, SyslogMessage)'
            "\n| summarize increase = max(value) - min(value) by series, status"
            '\n| summarize errors = sumif(increase, status == "5xx"), answers = sum(increase)'
            f"\n| where answers > 0 and errors * 100.0 / answers > {percent:g}")


def vm_gpu_memory_above(vm_id: str, fraction: float) -> str:
    """nvidia-smi's memory.used / memory.total per GPU, every minute of the window above ``fraction``."""
    return (f'Syslog\n| where _ResourceId =~ "{vm_id}" and ProcessName == "{METRICS_TAG}"\n'
            '| where SyslogMessage startswith "gpu "\n'
            '| extend gpu = extract(@"index=(\\d+)", 1, SyslogMessage), '
            'used = todouble(extract(@"memory_used_mib=(\\d+)", 1, SyslogMessage)), '
            'total = todouble(extract(@"memory_total_mib=(\\d+)", 1, SyslogMessage))\n'
            "| where total > 0\n| summarize lowest = min(used / total) by gpu\n"
            f"| where lowest > {fraction:g}")


def vm_xid_errors(vm_id: str) -> str:
    """NVIDIA's driver logs GPU faults as 'NVRM: Xid' in the kernel log (NVIDIA XID errors docs)."""
    return (f'Syslog\n| where _ResourceId =~ "{vm_id}" and Facility == "kern" and SyslogMessage has "NVRM: Xid"\n'
            "| project TimeGenerated, SyslogMessage")
