"""Scaling on vLLM's queue: a small Prometheus scraping every vLLM pod, and a KEDA ScaledObject
on ``vllm:num_requests_waiting``; the cluster autoscaler then adds GPU nodes for pending pods.
"""

from __future__ import annotations

import json

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.apps import v1 as apps
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.networking import v1 as networking

from .k8s_common import (CONFIG_HASH, PROMETHEUS, VLLM, WorkloadArgs, allow_ingress, cluster_service,
                         content_hash, labels, object_meta, restricted_container_context, selector)

PROMETHEUS_IMAGE = "prom/prometheus:v3.5.0"  # 3.5 is the 2025 long-term-support release
METRICS_SERVICE = "vllm-metrics"  # headless: Prometheus finds every ready vLLM pod through DNS
PROMETHEUS_PORT = 9090
KEDA_NAMESPACE = "kube-system"  # where the AKS KEDA add-on runs its operator
SCALE_DOWN_STABILIZATION_SECONDS = 900  # a replica takes 15+ min to load: do not drop it on a lull
KEDA_POLLING_SECONDS = 15
QUEUE_DEPTH_QUERY = "sum(vllm:num_requests_waiting)"  # requests vLLM has accepted but not started


def prometheus_config(namespace: str, port: int) -> str:
    """Scrape every ready vLLM pod (headless Service DNS), nothing else."""
    return json.dumps({
        "global": {"scrape_interval": "15s"},
        "scrape_configs": [{
            "job_name": VLLM,
            "metrics_path": "/metrics",
            "dns_sd_configs": [{"names": [f"{METRICS_SERVICE}.{namespace}.svc.cluster.local"],
                                "type": "A", "port": port, "refresh_interval": "15s"}],
        }],
    }, indent=2)


def autoscaling(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> None:
    """A small Prometheus scraping vLLM, and a KEDA ScaledObject on the queue depth it reports."""
    prometheus(name, args, opts)
    queue_depth_scaler(name, args, opts)


def prometheus(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> apps.Deployment:
    """vLLM's headless metrics Service, and Prometheus scraping it, reachable by KEDA only."""
    ns, port = args.namespace, args.plan.launch.port

    def md(object_name: str, app: str = PROMETHEUS) -> meta.ObjectMetaArgs:
        return object_meta(object_name, ns, app)
    core.Service(
        f"{name}-vllm-metrics",
        metadata=md(METRICS_SERVICE, VLLM),
        spec=core.ServiceSpecArgs(cluster_ip="None", selector={"app.kubernetes.io/name": VLLM},
                                  ports=[core.ServicePortArgs(name="http", port=port, target_port="http",
                                                              protocol="TCP")]),
        opts=opts)
    scrape_config = prometheus_config(ns, port)
    core.ConfigMap(
        f"{name}-prometheus-config",
        metadata=md(f"{PROMETHEUS}-config", PROMETHEUS),
        data={"prometheus.yml": scrape_config},
        opts=opts)
    deployment = apps.Deployment(
        f"{name}-prometheus",
        metadata=md(PROMETHEUS),
        spec=apps.DeploymentSpecArgs(
            replicas=1,
            selector=selector(PROMETHEUS),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=labels(PROMETHEUS),
                                             annotations={CONFIG_HASH: content_hash(scrape_config)}),
                spec=prometheus_pod_spec())),
        opts=opts)
    cluster_service(f"{name}-prometheus-service", md(PROMETHEUS, PROMETHEUS), PROMETHEUS,
                    PROMETHEUS_PORT, opts)
    keda_operator = networking.NetworkPolicyPeerArgs(namespace_selector=meta.LabelSelectorArgs(
        match_labels={"kubernetes.io/metadata.name": KEDA_NAMESPACE}))  # the KEDA operator queries it
    allow_ingress(f"{name}-prometheus-ingress", md(f"{PROMETHEUS}-ingress", PROMETHEUS), PROMETHEUS,
                  [keda_operator], PROMETHEUS_PORT, opts)
    return deployment


def queue_depth_scaler(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> CustomResource:
    """KEDA's ScaledObject: one replica per ``queue_depth_target`` waiting requests, slow to scale down."""
    prometheus_url = f"http://{PROMETHEUS}.{args.namespace}.svc.cluster.local:{PROMETHEUS_PORT}"
    return CustomResource(
        f"{name}-vllm-scaler",
        api_version="keda.sh/v1alpha1",
        kind="ScaledObject",
        metadata=object_meta(VLLM, args.namespace, VLLM),
        spec={
            "scaleTargetRef": {"name": VLLM},
            "minReplicaCount": args.min_replicas,
            "maxReplicaCount": args.max_replicas,
            "pollingInterval": KEDA_POLLING_SECONDS,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
                "stabilizationWindowSeconds": SCALE_DOWN_STABILIZATION_SECONDS,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}]}}}},
            "triggers": [{
                "type": "prometheus",
                "metadata": {
                    "serverAddress": prometheus_url,
                    "query": QUEUE_DEPTH_QUERY,
                    # HPA AverageValue: one replica per this many waiting requests
                    "threshold": str(args.queue_depth_target),
                },
            }],
        },
        opts=opts)


def prometheus_pod_spec() -> core.PodSpecArgs:
    """Prometheus as nobody with a read-only root; a day of data in an emptyDir is all KEDA needs."""
    probe = core.ProbeArgs(http_get=core.HTTPGetActionArgs(path="/-/ready", port="http"),
                           period_seconds=10, timeout_seconds=3, failure_threshold=3)
    prometheus = core.ContainerArgs(
        name=PROMETHEUS,
        image=PROMETHEUS_IMAGE,
        image_pull_policy="IfNotPresent",
        args=["--config.file=/etc/prometheus/prometheus.yml",
              "--storage.tsdb.path=/prometheus",
              "--storage.tsdb.retention.time=1d"],
        ports=[core.ContainerPortArgs(name="http", container_port=PROMETHEUS_PORT, protocol="TCP")],
        resources=core.ResourceRequirementsArgs(requests={"cpu": "100m", "memory": "256Mi"},
                                                limits={"cpu": "1", "memory": "1Gi"}),
        readiness_probe=probe,
        liveness_probe=probe,
        security_context=restricted_container_context(),
        volume_mounts=[core.VolumeMountArgs(name="config", mount_path="/etc/prometheus", read_only=True),
                       core.VolumeMountArgs(name="data", mount_path="/prometheus")])
    return core.PodSpecArgs(
        automount_service_account_token=False,  # DNS discovery needs no Kubernetes API access
        security_context=core.PodSecurityContextArgs(
            run_as_non_root=True, run_as_user=65534, run_as_group=65534, fs_group=65534,
            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault")),
        containers=[prometheus],
        volumes=[core.VolumeArgs(name="config",
                                 config_map=core.ConfigMapVolumeSourceArgs(name=f"{PROMETHEUS}-config")),
                 core.VolumeArgs(name="data", empty_dir=core.EmptyDirVolumeSourceArgs())])
