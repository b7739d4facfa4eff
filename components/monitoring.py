"""Monitoring every host shares: the Log Analytics workspace, and one ``watch_*`` per host that
registers its signals' alert rules and its dashboard through the shared builders
(components/alerts.py, components/workbook.py; the catalogue: components/serving/monitoring.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
from pulumi_azure_native import alertsmanagement, compute, monitor, operationalinsights

from . import alerts, workbook
from .serving import monitoring as catalogue

LOG_RETENTION_DAYS = 30  # the PerGB2018 tier includes 31 days of retention at no extra charge


@dataclass(frozen=True)
class LogsWorkspace:
    """The Log Analytics workspace a deployment writes to: its own, or the caller's."""

    id: pulumi.Output[str]
    name: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]
    customer_id: pulumi.Output[str]
    created: Optional[operationalinsights.Workspace] = None


def log_analytics_workspace(name: str, resource_group_name: pulumi.Input[str], location: str,
                            tags: dict[str, str], opts: pulumi.ResourceOptions,
                            existing_id: Optional[str] = None) -> LogsWorkspace:
    """A new PerGB2018 workspace, or the one ``existing_id`` names (a platform team's)."""
    if existing_id is not None:
        group, workspace_name = catalogue.workspace_parts(existing_id)
        found = operationalinsights.get_workspace_output(
            resource_group_name=group, workspace_name=workspace_name,
            opts=pulumi.InvokeOutputOptions(parent=opts.parent))
        return LogsWorkspace(id=pulumi.Output.from_input(existing_id), name=pulumi.Output.from_input(workspace_name),
                             resource_group_name=pulumi.Output.from_input(group), customer_id=found.customer_id)
    workspace = operationalinsights.Workspace(
        f"{name}-logs",
        resource_group_name=resource_group_name,
        location=location,
        sku=operationalinsights.WorkspaceSkuArgs(
            name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018),
        retention_in_days=LOG_RETENTION_DAYS,
        tags=tags,
        opts=opts)
    return LogsWorkspace(id=workspace.id, name=workspace.name,
                         resource_group_name=pulumi.Output.from_input(resource_group_name),
                         customer_id=workspace.customer_id, created=workspace)


def _outputs(watch: alerts.Watch, workspace: LogsWorkspace, dashboard: Optional[pulumi.Output[str]]
             ) -> dict[str, Any]:
    outputs: dict[str, Any] = {"logAnalyticsWorkspaceResourceId": workspace.id}
    if dashboard is not None:
        outputs["dashboardUrl"] = dashboard
    if watch.watched.action_group_id is not None:
        outputs["actionGroupId"] = watch.watched.action_group_id
    return outputs


def _watch(name: str, args: Any, group: pulumi.Input[str], workspace: LogsWorkspace,
           parent: pulumi.Resource) -> alerts.Watch:
    return alerts.Watch(name, settings=args.alert_settings, webhook=args.alert_webhook,
                        resource_group=group, location=args.location, workspace_id=workspace.id,
                        tags=args.all_tags, parent=parent)


def _availability(watch: alerts.Watch, args: Any, endpoint_host: pulumi.Input[str]) -> None:
    wanted, _ = catalogue.availability_test(args.plan.host, args.internal, getattr(args, "min_replicas", 1))
    if wanted:
        watch.availability(pulumi.Output.concat("https://", endpoint_host, "/health"))


def watch_containerapp(name: str, args: Any, group: pulumi.Input[str], workspace: LogsWorkspace,
                       app: pulumi.CustomResource, endpoint_host: pulumi.Input[str],
                       parent: pulumi.Resource) -> dict[str, Any]:
    """Platform metrics of the app (Requests, RestartCount, Replicas) and its console logs."""
    watch = _watch(name, args, group, workspace, parent)
    if not watch.enabled:
        return _outputs(watch, workspace, None)
    _availability(watch, args, endpoint_host)
    ns = alerts.CONTAINER_APP_NAMESPACE
    # no total to divide by in one metric alert: a count of 5xx answers stands for the share
    watch.metric_rule(alerts.MetricRule("server-errors", "Requests", ns, "Total", "GreaterThan", 10,
                                        {"statusCodeCategory": ["5xx"]}, "more than 10 5xx answers in 5 min"),
                      app.id)
    watch.metric_rule(alerts.MetricRule("engine-dead", "RestartCount", ns, "Total", "GreaterThan", 0,
                                        words="a replica restarted", name="engine-restarts"), app.id)
    watch.log_rule(alerts.LogRule("engine-dead", app.name.apply(alerts.containerapp_engine_errors),
                                  "any EngineDeadError, CUDA out of memory or traceback"))
    if args.min_replicas > 0:
        watch.metric_rule(alerts.MetricRule("no-ready-replica", "Replicas", ns, "Maximum", "LessThan", 1,
                                            words=f"0 replicas for 5 min with minReplicas {args.min_replicas}"),
                          app.id)
    dashboard = workbook.dashboard(name, "containerapp", {
        "containerApp": app.id, "containerAppName": app.name, "workspace": workspace.id},
        resource_group=group, location=args.location, tags=args.all_tags, parent=parent)
    return _outputs(watch, workspace, dashboard)


# ---- VM: the Azure Monitor Agent and a data collection rule for Syslog ----
AMA_PUBLISHER, AMA_TYPE = "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent"
AMA_VERSION = "1.0"  # major.minor as ARM takes it; automatic upgrade moves it to the current release
# systemd services log with facility daemon, logger (the metrics timer) with user, the kernel with kern
SYSLOG_FACILITIES = ["daemon", "user", "kern"]
SYSLOG_LEVELS = ["Info", "Notice", "Warning", "Error", "Critical", "Alert", "Emergency"]


def vm_data_collection(name: str, args: Any, group: pulumi.Input[str], workspace: LogsWorkspace,
                       vm: pulumi.CustomResource, identity_id: pulumi.Input[str],
                       parent: pulumi.Resource) -> None:
    """The Azure Monitor Agent (as the VM's user-assigned identity), a Syslog DCR and its association."""
    opts = pulumi.ResourceOptions(parent=parent)
    compute.VirtualMachineExtension(
        f"{name}-monitor-agent", resource_group_name=group, location=args.location, vm_name=vm.name,
        publisher=AMA_PUBLISHER, type=AMA_TYPE, type_handler_version=AMA_VERSION,
        auto_upgrade_minor_version=True, enable_automatic_upgrade=True,
        # the agent authenticates as the VM's user-assigned identity ("Install and manage the Azure
        # Monitor Agent": settings.authentication.managedIdentity with identifier-name mi_res_id)
        settings={"authentication": {"managedIdentity": {"identifier-name": "mi_res_id",
                                                          "identifier-value": identity_id}}},
        tags=args.all_tags, opts=opts)
    rule = monitor.DataCollectionRule(
        f"{name}-syslog", resource_group_name=group, location=args.location,
        kind=monitor.KnownDataCollectionRuleResourceKind.LINUX,
        description="vLLM, Caddy and the metrics timer (syslog) of the Apertus VM",
        data_sources=monitor.DataCollectionRuleDataSourcesArgs(syslog=[monitor.SyslogDataSourceArgs(
            name="apertus-syslog", streams=["Microsoft-Syslog"], facility_names=SYSLOG_FACILITIES,
            log_levels=SYSLOG_LEVELS)]),
        destinations=monitor.DataCollectionRuleDestinationsArgs(log_analytics=[
            monitor.LogAnalyticsDestinationArgs(name="workspace", workspace_resource_id=workspace.id)]),
        data_flows=[monitor.DataFlowArgs(streams=["Microsoft-Syslog"], destinations=["workspace"])],
        tags=args.all_tags, opts=opts)
    monitor.DataCollectionRuleAssociation(
        f"{name}-syslog-link", association_name="apertus-syslog", resource_uri=vm.id,
        data_collection_rule_id=rule.id, description="Syslog of the Apertus VM to its workspace", opts=opts)


def watch_vm(name: str, args: Any, group: pulumi.Input[str], workspace: LogsWorkspace,
             vm: pulumi.CustomResource, endpoint_host: pulumi.Input[str],
             parent: pulumi.Resource) -> dict[str, Any]:
    """Syslog-based rules (vLLM, its metrics via the timer, the kernel), VM availability, spot."""
    watch = _watch(name, args, group, workspace, parent)
    if not watch.enabled:
        return _outputs(watch, workspace, None)
    settings = watch.settings
    _availability(watch, args, endpoint_host)

    def log(key: str, build, words: str, **extra) -> None:
        watch.log_rule(alerts.LogRule(key, vm.id.apply(build), words, **extra))
    log("engine-dead", alerts.vm_engine_errors, "any EngineDeadError, CUDA out of memory, traceback or restart")
    log("server-errors", lambda vm_id: alerts.vm_server_errors(vm_id, catalogue.SERVER_ERROR_ALERT_PERCENT),
        f"> {catalogue.SERVER_ERROR_ALERT_PERCENT:g}% of vLLM's answers")
    log("queue-backlog", lambda vm_id: alerts.vm_gauge_above(vm_id, "vllm:num_requests_waiting",
                                                             settings.queue_alert_threshold),
        f"> {settings.queue_alert_threshold} waiting for 5 min")
    log("kv-cache-full", lambda vm_id: alerts.vm_gauge_above(vm_id, "vllm:kv_cache_usage_perc",
                                                             catalogue.KV_CACHE_ALERT_FRACTION),
        f"> {catalogue.KV_CACHE_ALERT_FRACTION:.0%} for 10 min")
    log("ttft-slo", lambda vm_id: alerts.vm_ttft_p95_above(vm_id, settings.ttft_slo_seconds),
        f"p95 > {settings.ttft_slo_seconds:g} s over 10 min", frequency_minutes=10)
    log("gpu-memory", lambda vm_id: alerts.vm_gpu_memory_above(vm_id, settings.gpu_memory_alert_fraction),
        f"> {settings.gpu_memory_alert_fraction:.1%} for 10 min", frequency_minutes=10)
    log("gpu-xid", alerts.vm_xid_errors, "any NVRM: Xid line in the kernel log")
    if args.auto_shutdown is None:  # autoShutdown deallocates it daily: not an outage
        watch.metric_rule(alerts.MetricRule("no-ready-replica", "VmAvailabilityMetric", alerts.VM_NAMESPACE,
                                            "Average", "LessThan", 1, words="VM unavailable for 5 min"), vm.id)
    if args.spot:
        # a spot eviction is a Resource Health event of the VM (activity log category ResourceHealth)
        watch.activity_rule("spot-eviction", vm.id, [("category", "ResourceHealth"),
                                                     ("resourceType", "Microsoft.Compute/virtualMachines")],
                            "any Resource Health event of the spot VM; evicted VMs stay deallocated")
    dashboard = workbook.dashboard(name, "vm", {"vm": vm.id, "workspace": workspace.id},
                                   resource_group=group, location=args.location, tags=args.all_tags, parent=parent)
    return _outputs(watch, workspace, dashboard)


# ---- AKS: Azure Monitor managed Prometheus ----
# The data collection endpoint/rule/association that send the add-on's metrics to the Azure Monitor
# workspace (AKS docs "Enable monitoring for Kubernetes clusters", ARM/Bicep templates: DCE and DCR
# "MSProm-<region>-<cluster>", stream Microsoft-PrometheusMetrics, association
# "ContainerInsightsMetricsExtension" on the cluster)
PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"
PROMETHEUS_ASSOCIATION = "ContainerInsightsMetricsExtension"
PROMETHEUS_DESTINATION = "MonitoringAccount1"
KUBE_STATE_LABELS = "nodes=[kubernetes.azure.com/agentpool]"  # GPU nodes per pool in the dashboard


def managed_prometheus(name: str, args: Any, group: pulumi.Input[str], parent: pulumi.Resource
                       ) -> monitor.AzureMonitorWorkspace:
    """The Azure Monitor workspace the cluster's Prometheus metrics go to."""
    return monitor.AzureMonitorWorkspace(
        f"{name}-prometheus", resource_group_name=group, location=args.location, tags=args.all_tags,
        opts=pulumi.ResourceOptions(parent=parent))


def aks_monitor_profile() -> Any:
    from pulumi_azure_native import containerservice
    return containerservice.ManagedClusterAzureMonitorProfileArgs(
        metrics=containerservice.ManagedClusterAzureMonitorProfileMetricsArgs(
            enabled=True,
            kube_state_metrics=containerservice.ManagedClusterAzureMonitorProfileKubeStateMetricsArgs(
                metric_labels_allowlist=KUBE_STATE_LABELS)))


def aks_prometheus_collection(name: str, args: Any, group: pulumi.Input[str],
                              amw: monitor.AzureMonitorWorkspace, cluster: pulumi.CustomResource,
                              parent: pulumi.Resource) -> None:
    """DCE, DCR (Prometheus forwarder -> the Azure Monitor workspace) and its association with the cluster."""
    opts = pulumi.ResourceOptions(parent=parent)
    endpoint = monitor.DataCollectionEndpoint(
        f"{name}-prometheus-dce", resource_group_name=group, location=args.location,
        kind=monitor.KnownDataCollectionEndpointResourceKind.LINUX,
        description="Managed Prometheus ingestion for the Apertus cluster", opts=opts)
    rule = monitor.DataCollectionRule(
        f"{name}-prometheus-dcr", resource_group_name=group, location=args.location,
        data_collection_endpoint_id=endpoint.id, kind=monitor.KnownDataCollectionRuleResourceKind.LINUX,
        description="Managed Prometheus metrics of the Apertus cluster",
        data_sources=monitor.DataCollectionRuleDataSourcesArgs(prometheus_forwarder=[
            monitor.PrometheusForwarderDataSourceArgs(name="PrometheusDataSource", streams=[PROMETHEUS_STREAM],
                                                      label_include_filter={})]),
        destinations=monitor.DataCollectionRuleDestinationsArgs(monitoring_accounts=[
            monitor.MonitoringAccountDestinationArgs(name=PROMETHEUS_DESTINATION, account_resource_id=amw.id)]),
        data_flows=[monitor.DataFlowArgs(streams=[PROMETHEUS_STREAM], destinations=[PROMETHEUS_DESTINATION])],
        tags=args.all_tags, opts=opts)
    monitor.DataCollectionRuleAssociation(
        f"{name}-prometheus-link", association_name=PROMETHEUS_ASSOCIATION, resource_uri=cluster.id,
        data_collection_rule_id=rule.id,
        description="Managed Prometheus metrics of this cluster; deleting it stops them", opts=opts)


def iso_minutes(duration: str) -> str | None:
    """Prometheus '5m' -> ISO 8601 'PT5M' (Azure's rule groups take ISO durations); '0m' -> none (fire at once)."""
    minutes = int(duration.removesuffix("m"))
    return f"PT{minutes}M" if minutes else None


def watch_aks(name: str, args: Any, group: pulumi.Input[str], workspace: LogsWorkspace,
              amw: monitor.AzureMonitorWorkspace, cluster: pulumi.CustomResource, namespace: str,
              endpoint_host: pulumi.Input[str], spot_pools: tuple[str, str] | None,
              parent: pulumi.Resource) -> dict[str, Any]:
    """A Prometheus rule group on the Azure Monitor workspace, log rules on the workspace."""
    from .k8s_monitoring import prometheus_rules
    watch = _watch(name, args, group, workspace, parent)
    outputs = {"azureMonitorWorkspaceId": amw.id}
    if not watch.enabled:
        return {**_outputs(watch, workspace, None), **outputs}
    _availability(watch, args, endpoint_host)
    rules = prometheus_rules(namespace, watch.settings, min_replicas=args.min_replicas)
    alertsmanagement.PrometheusRuleGroup(
        f"{name}-prometheus-rules", resource_group_name=group, location=args.location,
        rule_group_name=f"{name}-apertus", description="Apertus serving alerts (docs/runbooks.md)",
        cluster_name=cluster.name, scopes=[amw.id, cluster.id], enabled=True, interval="PT1M",
        rules=[alertsmanagement.PrometheusRuleArgs(
            alert=rule["alert"], expression=rule["expr"], for_=iso_minutes(rule["for"]), enabled=True,
            severity=catalogue.ALERTS[rule["alert"]].severity, labels=rule["labels"],
            annotations=rule["annotations"],
            resolve_configuration=alertsmanagement.PrometheusRuleResolveConfigurationArgs(
                auto_resolved=True, time_to_resolve="PT10M"),
            actions=[alertsmanagement.PrometheusRuleGroupActionArgs(action_group_id=group_id)
                     for group_id in watch._actions()]) for rule in rules],
        tags=args.all_tags, opts=pulumi.ResourceOptions(parent=parent))
    watch.log_rule(alerts.LogRule("engine-dead", cluster.id.apply(
        lambda cluster_id: alerts.aks_engine_errors(cluster_id, namespace)),
        "any EngineDeadError, CUDA out of memory or traceback", name="engine-errors"))
    if spot_pools is not None:
        spot_pool, on_demand_pool = spot_pools
        watch.log_rule(alerts.LogRule("spot-eviction", cluster.id.apply(
            lambda cluster_id: alerts.aks_spot_evictions(cluster_id, spot_pool)), "any PreemptScheduled node event"))
        watch.log_rule(alerts.LogRule("spot-fallback", cluster.id.apply(
            lambda cluster_id: alerts.aks_on_demand_fallback(cluster_id, on_demand_pool, namespace)),
            "the autoscaler scaled up the on-demand pool", frequency_minutes=15))
    dashboard = workbook.dashboard(name, "aks", {"monitorWorkspace": amw.id, "cluster": cluster.id,
                                                 "workspace": workspace.id},
                                   resource_group=group, location=args.location, tags=args.all_tags,
                                   parent=parent, namespace=namespace)
    return {**_outputs(watch, workspace, dashboard), **outputs}
