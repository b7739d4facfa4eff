"""Policy ``serving-host-monitored``: every serving host is watched by an alert that reaches someone.

One module of the pack (policy/apertus_policies/), registered in STACK_POLICIES like the others,
so ``pulumi up --policy-pack policy`` and ``apertus_azure.testing.run_policy_pack`` run it alike. A
stack policy: it sees every resource's outputs (ids are known), so it can
match an alert rule to the host it watches.

A serving host is an Azure Container App, a virtual machine or an AKS cluster. It is monitored when
at least one alert rule (metric alert, log search alert, Prometheus rule group or activity log alert)
names it - in its scopes, or in its query - and sends to at least one action group. Stacks deployed
with ``alerts: false`` fail it on purpose: that is what the policy is for.
"""

from __future__ import annotations

import re

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from .common import has_unknown, is_unknown, normalised, plain_resources

SERVING_HOSTS = {
    "azure-native:app:ContainerApp": "container app",
    "azure-native:compute:VirtualMachine": "virtual machine",
    "azure-native:containerservice:ManagedCluster": "AKS cluster",
}
METRIC_ALERT = "azure-native:monitor:MetricAlert"
LOG_ALERT = "azure-native:monitor:ScheduledQueryRule"
PROMETHEUS_RULES = "azure-native:alertsmanagement:PrometheusRuleGroup"
ACTIVITY_ALERT = "azure-native:monitor:ActivityLogAlert"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
ALERT_RULES = (METRIC_ALERT, LOG_ALERT, PROMETHEUS_RULES, ACTIVITY_ALERT)


def _get(props: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(props, Mapping):
            return None
        props = props.get(key)
    return props


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else []


def action_groups(resource_type: str, props: Any) -> list[str]:
    """The action group ids an alert rule sends to, whatever its type's shape."""
    if resource_type == METRIC_ALERT:
        found = [_get(action, "actionGroupId") for action in _list(_get(props, "actions"))]
    elif resource_type == LOG_ALERT:
        found = _list(_get(props, "actions", "actionGroups"))
    elif resource_type == ACTIVITY_ALERT:
        found = [_get(group, "actionGroupId") for group in _list(_get(props, "actions", "actionGroups"))]
    else:  # Prometheus rule group: per rule
        found = [_get(action, "actionGroupId") for rule in _list(_get(props, "rules"))
                 for action in _list(_get(rule, "actions"))]
        if has_unknown(_get(props, "rules")):  # not known yet (a first preview): may send to one
            found.append("(an action group not known yet)")
    return [str(group) for group in found if group]


def watched_text(resource_type: str, props: Any) -> str:
    """Everything an alert rule points at: its scopes and, for log alerts, its queries (lowercase)."""
    parts = [str(scope) for scope in _list(_get(props, "scopes"))]
    if resource_type == LOG_ALERT:
        parts += [str(_get(condition, "query")) for condition in _list(_get(props, "criteria", "allOf"))]
    return " ".join(parts).lower()


def _points_at_unknown(resource_type: str, props: Any) -> bool:
    """Whether what an alert rule points at is not known yet (a first preview: the scopes are ids of
    resources not created yet)."""
    return has_unknown(_get(props, "scopes")) or (resource_type == LOG_ALERT and has_unknown(
        [_get(condition, "query") for condition in _list(_get(props, "criteria", "allOf"))]))


def _switched_off(props: Any) -> bool:
    enabled = _get(props, "enabled")
    return enabled is False or is_unknown(enabled) or (isinstance(enabled, str) and enabled.lower() == "false")


def validate_serving_host_monitored(args: StackValidationArgs, report: ReportViolation) -> None:
    # read as plain values: an unknown raised here would turn the policy into an advisory in every first
    # preview. A rule whose scopes are not known yet may watch any host (an unknown action group counts
    # as one): the preview cannot tell, and the same policy judges the known ids at the end of `pulumi up`
    resources = plain_resources(args.resources)
    # a rule or action group switched off (`enabled: false`; not known yet: the worse case) alerts no one
    silent = {str(_get(r.props, "id")).lower() for r in resources
              if r.resource_type == ACTION_GROUP and _switched_off(r.props) and not is_unknown(_get(r.props, "id"))}
    rules = [(watched_text(r.resource_type, r.props),
              [group for group in action_groups(r.resource_type, r.props) if group.lower() not in silent],
              _points_at_unknown(r.resource_type, r.props))
             for r in resources if r.resource_type in ALERT_RULES and not _switched_off(r.props)]
    for resource in resources:
        kind = SERVING_HOSTS.get(resource.resource_type)
        if kind is None:
            continue
        resource_id = _get(resource.props, "id")
        resource_id = "" if is_unknown(resource_id) else str(resource_id or "").lower()
        name = _get(resource.props, "name")
        name = str(resource.name if name is None or is_unknown(name) else name).lower()
        # the host's whole id (not one it begins: '.../virtualMachines/gpu' does not watch 'gpu-old')
        whole_id = re.compile(re.escape(resource_id) + r"(?![\w.-])") if resource_id else None
        watching = [groups for text, groups, unknown in rules
                    if unknown or (whole_id and whole_id.search(text)) or f'"{name}"' in text]
        if not watching:
            report(f"{kind} '{resource.name}' has no alert rule watching it; deploy with alerts: true "
                   "(the default) or add your own", resource.urn)
        elif not any(watching):
            report(f"{kind} '{resource.name}' is watched by alert rules that reach no action group; "
                   "set alertEmails, alertWebhook or actionGroupId", resource.urn)


serving_host_monitored = StackValidationPolicy(
    name="serving-host-monitored",
    description="Every serving host (container app, VM, AKS cluster) is watched by an alert rule that "
                "sends to an action group.",
    validate=normalised(validate_serving_host_monitored),
    enforcement_level=EnforcementLevel.MANDATORY,
)
