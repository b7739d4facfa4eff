"""AKS signals for Azure Monitor managed Prometheus: what the ama-metrics add-on scrapes, and the rules.

- ``PodMonitor`` objects of the add-on's own CRD group (azmonitoring.coreos.com/v1; "Customize
  scraping of Prometheus metrics ... using CRDs", learn.microsoft.com/azure/azure-monitor/containers/
  prometheus-metrics-scrape-crd) for the vLLM pods and for NVIDIA's DCGM exporter;
- the DCGM exporter DaemonSet on the GPU pools (GPU utilization, memory, XID errors);
- a NetworkPolicy letting the add-on's scraper (kube-system, ``rsName: ama-metrics``) reach vLLM's
  port: the namespace denies all other ingress (components/k8s_workload.py);
- the two agent ConfigMaps in kube-system, each with only the settings we need (the agents use their
  defaults for everything left out): Container Insights' ``container-azm-ms-agentconfig`` collecting
  Normal Kubernetes events too (the ``spot-fallback`` alert reads the autoscaler's TriggeredScaleUp,
  a Normal event), and managed Prometheus' ``ama-metrics-settings-configmap`` keeping
  ``kube_node_labels`` (the workbook's GPU nodes per pool), which the minimal ingestion profile drops;
- ``prometheus_rules``: the alert rules as plain data, registered by the AKS component as an
  Azure Monitor Prometheus rule group and checked in the tests by the real ``promtool``.

KEDA keeps reading the in-cluster Prometheus (components/k8s_scaling.py): it answers within one
15 s scrape, needs no identity or role on the Azure Monitor workspace, and scaling keeps working
when Azure Monitor ingestion lags or fails (docs/operations.md, "KEDA").
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.apps import v1 as apps
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.networking import v1 as networking

from .k8s_common import (PART_OF, VLLM, gpu_affinity, gpu_tolerations, object_meta,
                         restricted_container_context, selector)
from .serving.monitoring import ALERTS, KV_CACHE_ALERT_FRACTION, SERVER_ERROR_ALERT_PERCENT, AlertSettings

POD_MONITOR_API = "azmonitoring.coreos.com/v1"  # the managed add-on's CRDs, not monitoring.coreos.com
SCRAPE_INTERVAL = "30s"
# NVIDIA DCGM exporter, the image the GPU Operator v24.9 deploys (NVIDIA/gpu-operator
# deployments/gpu-operator/values.yaml, dcgmExporter.version); serves /metrics on 9400
DCGM_EXPORTER = "dcgm-exporter"
DCGM_EXPORTER_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04"
DCGM_PORT = 9400
DCGM_NAMESPACE = "kube-system"
AMA_METRICS_LABEL = {"rsName": "ama-metrics"}  # the add-on's scraper ReplicaSet in kube-system

# Container Insights reads this ConfigMap (name, namespace, keys and TOML tables as in its template,
# microsoft/Docker-Provider kubernetes/container-azm-ms-agentconfig.yaml; settings table in
# learn.microsoft.com/azure/azure-monitor/containers/container-insights-data-collection-configmap).
# Without it only non-Normal (Warning) events reach KubeEvents; TriggeredScaleUp is a Normal event.
# PreemptScheduled (spot-eviction) is a Warning event of AKS's node problem detector (seen as
# "Warning PreemptScheduled" in maksim-paskal/aks-node-termination-handler#98): collected either way.
CONTAINER_INSIGHTS_CONFIGMAP = "container-azm-ms-agentconfig"
CONTAINER_INSIGHTS_SETTINGS = ("[log_collection_settings]\n"
                               "  [log_collection_settings.collect_all_kube_events]\n"
                               "    enabled = true\n")
# Managed Prometheus reads this one (Azure/prometheus-collector otelcollector/configmaps/
# ama-metrics-settings-configmap.yaml; learn.microsoft.com/azure/azure-monitor/containers/
# prometheus-metrics-scrape-configuration-minimal: with minimalingestionprofile = true a target's
# keep-list regex adds metrics to the minimal set). kube_node_labels is not in that set.
AMA_METRICS_CONFIGMAP = "ama-metrics-settings-configmap"
KUBE_STATE_KEEP = "kube_node_labels"
AMA_METRICS_KEEP_LIST = f'kubestate = "{KUBE_STATE_KEEP}"\nminimalingestionprofile = true\n'
AGENT_SCHEMA_VERSION = "v1"  # the only schema version both agents accept (their templates say so)


def pod_monitor(resource_name: str, name: str, namespace: str, app: str, port: str,
                opts: pulumi.ResourceOptions) -> CustomResource:
    return CustomResource(
        resource_name, api_version=POD_MONITOR_API, kind="PodMonitor",
        metadata=object_meta(name, namespace, app),
        spec={"selector": {"matchLabels": {"app.kubernetes.io/name": app}},
              "podMetricsEndpoints": [{"port": port, "path": "/metrics", "interval": SCRAPE_INTERVAL}]},
        opts=opts)


def dcgm_exporter(name: str, gpu_pools: tuple[str, ...], opts: pulumi.ResourceOptions) -> apps.DaemonSet:
    """NVIDIA's DCGM exporter on every GPU node; it reads the GPUs, requests none of them."""
    container = core.ContainerArgs(
        name=DCGM_EXPORTER, image=DCGM_EXPORTER_IMAGE, image_pull_policy="IfNotPresent",
        # AKS GPU nodes run containerd with NVIDIA's runtime, and the image's own environment sets
        # NVIDIA_VISIBLE_DEVICES=all (NVIDIA/dcgm-exporter Dockerfiles): the exporter sees every GPU
        # without taking one from the scheduler (no nvidia.com/gpu request)
        # NODE_NAME from the pod's node, as NVIDIA's chart does (NVIDIA/dcgm-exporter
        # deployment/templates/daemonset.yaml): the exporter's Hostname label is then the node's name
        env=[core.EnvVarArgs(name="DCGM_EXPORTER_LISTEN", value=f":{DCGM_PORT}"),
             core.EnvVarArgs(name="DCGM_EXPORTER_KUBERNETES", value="true"),
             core.EnvVarArgs(name="NODE_NAME", value_from=core.EnvVarSourceArgs(
                 field_ref=core.ObjectFieldSelectorArgs(field_path="spec.nodeName")))],
        ports=[core.ContainerPortArgs(name="metrics", container_port=DCGM_PORT, protocol="TCP")],
        resources=core.ResourceRequirementsArgs(requests={"cpu": "50m", "memory": "128Mi"},
                                                limits={"cpu": "500m", "memory": "512Mi"}),
        readiness_probe=core.ProbeArgs(http_get=core.HTTPGetActionArgs(path="/health", port=DCGM_PORT),
                                       period_seconds=30, timeout_seconds=5),
        liveness_probe=core.ProbeArgs(http_get=core.HTTPGetActionArgs(path="/health", port=DCGM_PORT),
                                      period_seconds=60, timeout_seconds=5, failure_threshold=5),
        # DCGM talks to the driver as root; basic device fields need no added capability
        security_context=restricted_container_context(run_as_non_root=False),
        volume_mounts=[core.VolumeMountArgs(name="pod-resources", mount_path="/var/lib/kubelet/pod-resources",
                                            read_only=True)])
    labels = {"app.kubernetes.io/name": DCGM_EXPORTER, **PART_OF}
    return apps.DaemonSet(
        f"{name}-dcgm-exporter",
        metadata=meta.ObjectMetaArgs(name=DCGM_EXPORTER, namespace=DCGM_NAMESPACE, labels=labels),
        spec=apps.DaemonSetSpecArgs(
            selector=selector(DCGM_EXPORTER),
            update_strategy=apps.DaemonSetUpdateStrategyArgs(type="RollingUpdate"),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=labels),
                spec=core.PodSpecArgs(
                    automount_service_account_token=False,
                    security_context=core.PodSecurityContextArgs(
                        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault")),
                    tolerations=gpu_tolerations(spot=True),
                    affinity=gpu_affinity(gpu_pools, spot=False),
                    containers=[container],
                    # the kubelet's pod-resources socket maps each GPU to the pod using it
                    volumes=[core.VolumeArgs(name="pod-resources", host_path=core.HostPathVolumeSourceArgs(
                        path="/var/lib/kubelet/pod-resources", type="Directory"))]))),
        opts=opts)


def agent_settings(name: str, opts: pulumi.ResourceOptions, *, all_kube_events: bool) -> None:
    """The monitoring agents' ConfigMaps: only the settings we change, the agents' defaults otherwise.
    Normal events are collected only where an alert reads one (``all_kube_events``: the spot pools'
    spot-fallback alert); they are billed Log Analytics ingestion."""
    version = {"schema-version": AGENT_SCHEMA_VERSION, "config-version": "ver1"}
    if all_kube_events:
        core.ConfigMap(f"{name}-container-insights-settings",
                       metadata=meta.ObjectMetaArgs(name=CONTAINER_INSIGHTS_CONFIGMAP, namespace="kube-system",
                                                    labels=dict(PART_OF)),
                       data={**version, "log-data-collection-settings": CONTAINER_INSIGHTS_SETTINGS}, opts=opts)
    core.ConfigMap(f"{name}-ama-metrics-settings",
                   metadata=meta.ObjectMetaArgs(name=AMA_METRICS_CONFIGMAP, namespace="kube-system",
                                                labels=dict(PART_OF)),
                   data={**version, "default-targets-metrics-keep-list": AMA_METRICS_KEEP_LIST}, opts=opts)


def managed_prometheus_scraping(name: str, namespace: str, port: int, gpu_pools: tuple[str, ...],
                                cluster_opts: pulumi.ResourceOptions,
                                in_namespace: pulumi.ResourceOptions, *, all_kube_events: bool = False) -> None:
    """PodMonitors for vLLM and DCGM, the exporter, and the scraper's way through the namespace policy."""
    pod_monitor(f"{name}-vllm-podmonitor", VLLM, namespace, VLLM, "http", in_namespace)
    agent_settings(name, cluster_opts, all_kube_events=all_kube_events)
    dcgm_exporter(name, gpu_pools, cluster_opts)
    pod_monitor(f"{name}-dcgm-podmonitor", DCGM_EXPORTER, DCGM_NAMESPACE, DCGM_EXPORTER, "metrics", cluster_opts)
    scraper = networking.NetworkPolicyPeerArgs(
        namespace_selector=meta.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
        pod_selector=meta.LabelSelectorArgs(match_labels=dict(AMA_METRICS_LABEL)))
    # only the scraper reaches the exporter (kube-system has no default-deny: this one selects it alone)
    networking.NetworkPolicy(
        f"{name}-dcgm-exporter-ingress",
        metadata=object_meta(f"{DCGM_EXPORTER}-ingress", DCGM_NAMESPACE, DCGM_EXPORTER),
        spec=networking.NetworkPolicySpecArgs(
            pod_selector=selector(DCGM_EXPORTER), policy_types=["Ingress"],
            ingress=[networking.NetworkPolicyIngressRuleArgs(
                from_=[scraper], ports=[networking.NetworkPolicyPortArgs(port=DCGM_PORT, protocol="TCP")])]),
        opts=cluster_opts)
    networking.NetworkPolicy(
        f"{name}-vllm-metrics-scrape",
        metadata=object_meta(f"{VLLM}-metrics-scrape", namespace, VLLM),
        spec=networking.NetworkPolicySpecArgs(
            pod_selector=selector(VLLM), policy_types=["Ingress"],
            ingress=[networking.NetworkPolicyIngressRuleArgs(
                from_=[scraper],
                ports=[networking.NetworkPolicyPortArgs(port=port, protocol="TCP")])]),
        opts=in_namespace)


def prometheus_rules(namespace: str, settings: AlertSettings, *, min_replicas: int) -> list[dict[str, Any]]:
    """The PromQL alert rules for one deployment, as a Prometheus rule file's ``rules`` entries
    (``for`` in Prometheus duration syntax; the component converts to ISO 8601 for Azure)."""
    ns = f'namespace="{namespace}"'
    gpu = settings.gpu_memory_alert_fraction

    def rule(key: str, expr: str, for_minutes: int, words: str) -> dict[str, Any]:
        spec = ALERTS[key]
        return {"alert": key, "expr": expr, "for": f"{for_minutes}m",
                "labels": {"severity": f"sev{spec.severity}"},
                "annotations": {"description": spec.description(words)}}

    rules = [
        rule("server-errors",
             f'sum(rate(http_requests_total{{{ns},status="5xx"}}[5m])) / '
             f'sum(rate(http_requests_total{{{ns}}}[5m])) * 100 > {SERVER_ERROR_ALERT_PERCENT:g}',
             5, f"> {SERVER_ERROR_ALERT_PERCENT:g}% of answers for 5 min"),
        rule("engine-dead",
             f'increase(kube_pod_container_status_restarts_total{{{ns},container="{VLLM}"}}[10m]) > 0',
             0, "a vLLM container restarted in the last 10 min"),
        rule("queue-backlog", f"sum(vllm:num_requests_waiting{{{ns}}}) > {settings.queue_alert_threshold}",
             5, f"> {settings.queue_alert_threshold} waiting for 5 min"),
        rule("kv-cache-full", f"max(vllm:kv_cache_usage_perc{{{ns}}}) > {KV_CACHE_ALERT_FRACTION:g}",
             10, f"> {KV_CACHE_ALERT_FRACTION:.0%} for 10 min"),
        rule("ttft-slo",
             f"histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{{{ns}}}[5m]))) "
             f"> {settings.ttft_slo_seconds:g}",
             10, f"p95 > {settings.ttft_slo_seconds:g} s for 10 min"),
        rule("gpu-memory",
             f"max by (Hostname, gpu) (DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)) > {gpu:g}",
             10, f"> {gpu:.1%} of a GPU's memory for 10 min"),
        # the DCGM gauge keeps the last XID code until the exporter restarts: alert on a change of it
        # (a new XID), so the alert clears 10 min after the last one
        rule("gpu-xid", "max by (Hostname, gpu) (changes(DCGM_FI_DEV_XID_ERRORS[10m])) > 0", 0,
             "a new XID error code in 10 min"),
    ]
    if min_replicas > 0:
        rules.append(rule("no-ready-replica",
                          f'kube_deployment_status_replicas_available{{{ns},deployment="{VLLM}"}} < 1',
                          5, "0 available vLLM replicas for 5 min"))
    return rules
