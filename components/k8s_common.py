"""What every part of the AKS workload shares: the args, names and labels, scheduling on the GPU
pools, restricted security contexts, Azure Files volumes and NVIDIA's device plugin.

The parts: ``k8s_vllm`` (vLLM, its secrets and model cache), ``k8s_gateway`` (Caddy, the only way
in), ``k8s_scaling`` (Prometheus + KEDA); ``k8s_workload.deploy_workload`` registers them all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apps import v1 as apps
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.networking import v1 as networking
from pulumi_kubernetes.storage import v1 as storage

from .serving import ServingPlan

DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.18.0"  # AKS GPU docs: v0.18.x static manifest

# ---- scheduling: the GPU pools' taints and labels ----
GPU_TAINT_KEY, GPU_TAINT_VALUE = "sku", "gpu"  # AKS GPU docs: taint GPU pools sku=gpu:NoSchedule
# AKS puts this taint (and label) on every spot node
SPOT_TAINT_KEY, SPOT_TAINT_VALUE = "kubernetes.azure.com/scalesetpriority", "spot"
AGENT_POOL_LABEL = "kubernetes.azure.com/agentpool"  # every AKS node carries its pool name

# ---- names inside the cluster ----
VLLM, GATEWAY, PROMETHEUS = "vllm", "gateway", "prometheus"
PART_OF = {"app.kubernetes.io/part-of": "apertus"}
CONFIG_HASH = "apertus/config-hash"  # pod template annotation: a changed config file rolls the pods

# ---- storage: premium Azure Files ----
PREMIUM_FILES_MIN_GIB = 100  # AKS Azure Files CSI docs: premium shares are at least 100 GiB
# Azure Files CSI driver StorageClass parameters (kubernetes-sigs/azurefile-csi-driver,
# docs/driver-parameters.md). Public: premium SMB; SMB mounts authenticate with the account key.
SMB_CACHE_PARAMETERS = {"skuName": "Premium_LRS"}
SMB_MOUNT_OPTIONS = ("dir_mode=0755", "file_mode=0644", "uid=0", "gid=0",
                     # the Hugging Face cache links snapshots to blobs, which SMB cannot store otherwise
                     "mfsymlinks", "cache=strict", "actimeo=30", "nosharesock")
# internal: premium NFS shares Pulumi creates (components/aks.py: a storage account closed to public
# networks, without shared keys, behind a private endpoint), mounted as static volumes: the driver
# provisions nothing, so the cluster's identity needs no role on the resource group or its DNS zones.
# NFS mounts use no key: for a volume with protocol nfs and a share name the driver asks Azure nothing
# (azurefile-csi-driver, GetAccountInfo: "nfs protocol does not need account key, return directly"),
# and it chmods the mount root to 0777 (mountPermissions) so non-root pods can write too.
CSI_DRIVER = "file.csi.azure.com"
# AKS's recommended NFS options for Azure Files ("Azure Files CSI driver" / NFS performance docs)
NFS_MOUNT_OPTIONS = ("nconnect=4", "noresvport", "actimeo=30")


@dataclass(frozen=True)
class PrivateFiles:
    """internal: where the NFS shares are that the volumes mount (all made by components/aks.py)."""

    resource_group: pulumi.Input[str]
    account: pulumi.Input[str]
    shares: dict[str, pulumi.Input[str]]
    """The share of each claim, by claim name (``model-cache``, ``gateway-data``)."""


@dataclass(frozen=True)
class WorkloadArgs:
    """What the Kubernetes side needs; Azure-computed values arrive as Inputs."""

    plan: ServingPlan
    namespace: str
    gpu_pools: tuple[str, ...]
    spot: bool
    min_replicas: int
    max_replicas: int
    queue_depth_target: int
    internal: bool
    allowed_cidrs: tuple[str, ...]
    identity_client_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    vault_name: pulumi.Input[str]
    dns_label: pulumi.Input[str] | None = None  # public entry point only
    public_fqdn: pulumi.Input[str] | None = None
    internal_ip: str | None = None  # internal entry point only: the load balancer's fixed private IP
    internal_subnet: str | None = None  # ... and the name of the subnet that IP belongs to
    private_files: PrivateFiles | None = None  # internal only: the NFS shares behind a private endpoint

    def __post_init__(self) -> None:
        if self.internal and not (self.internal_ip and self.internal_subnet):
            raise ValueError("an internal gateway needs internal_ip (its certificate names that address) "
                             "and internal_subnet (the subnet holding it)")
        if self.internal != (self.private_files is not None):
            raise ValueError("private_files (the NFS shares behind a private endpoint) go with internal, "
                             "and only with it")
        if not self.internal and (self.dns_label is None or self.public_fqdn is None):
            raise ValueError("a public gateway needs dns_label and public_fqdn")

    @property
    def autoscaled(self) -> bool:
        return self.max_replicas > self.min_replicas


def labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, **PART_OF}


def object_meta(name: str, namespace: str | None, app: str | None = None,
                annotations: dict[str, pulumi.Input[str]] | None = None) -> meta.ObjectMetaArgs:
    return meta.ObjectMetaArgs(name=name, namespace=namespace,
                               labels=labels(app) if app else dict(PART_OF), annotations=annotations)


def selector(app: str) -> meta.LabelSelectorArgs:
    return meta.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": app})


def cluster_service(resource_name: str, metadata: meta.ObjectMetaArgs, app: str, port: int,
                    opts: pulumi.ResourceOptions) -> core.Service:
    """A ClusterIP Service for ``app``'s container port named ``http``."""
    return core.Service(
        resource_name, metadata=metadata,
        spec=core.ServiceSpecArgs(type="ClusterIP", selector={"app.kubernetes.io/name": app},
                                  ports=[core.ServicePortArgs(name="http", port=port, target_port="http",
                                                              protocol="TCP")]),
        opts=opts)


def allow_ingress(resource_name: str, metadata: meta.ObjectMetaArgs, app: str,
                  peers: list[networking.NetworkPolicyPeerArgs], port: int,
                  opts: pulumi.ResourceOptions) -> networking.NetworkPolicy:
    """Let only ``peers`` reach ``app`` pods, on ``port`` only (the namespace denies the rest)."""
    return networking.NetworkPolicy(
        resource_name, metadata=metadata,
        spec=networking.NetworkPolicySpecArgs(
            pod_selector=selector(app),
            policy_types=["Ingress"],
            ingress=[networking.NetworkPolicyIngressRuleArgs(
                from_=peers, ports=[networking.NetworkPolicyPortArgs(port=port, protocol="TCP")])]),
        opts=opts)


def restricted_container_context(run_as_non_root: bool = True,
                                 add: list[str] | None = None) -> core.SecurityContextArgs:
    return core.SecurityContextArgs(
        allow_privilege_escalation=False,
        capabilities=core.CapabilitiesArgs(drop=["ALL"], add=add),
        privileged=False,
        read_only_root_filesystem=run_as_non_root,
        run_as_non_root=run_as_non_root or None,
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"))


def gpu_tolerations(spot: bool) -> list[core.TolerationArgs]:
    tolerations = [core.TolerationArgs(key=GPU_TAINT_KEY, operator="Equal", value=GPU_TAINT_VALUE,
                                       effect="NoSchedule")]
    if spot:
        tolerations.append(core.TolerationArgs(key=SPOT_TAINT_KEY, operator="Equal",
                                               value=SPOT_TAINT_VALUE, effect="NoSchedule"))
    return tolerations


def gpu_affinity(gpu_pools: tuple[str, ...], spot: bool) -> core.AffinityArgs:
    """Only the GPU pools; with spot, prefer spot nodes (the on-demand pool is the fallback)."""
    required = core.NodeSelectorArgs(node_selector_terms=[core.NodeSelectorTermArgs(
        match_expressions=[core.NodeSelectorRequirementArgs(
            key=AGENT_POOL_LABEL, operator="In", values=list(gpu_pools))])])
    preferred = [core.PreferredSchedulingTermArgs(
        weight=100,
        preference=core.NodeSelectorTermArgs(match_expressions=[core.NodeSelectorRequirementArgs(
            key=SPOT_TAINT_KEY, operator="In", values=[SPOT_TAINT_VALUE])]))] if spot else None
    return core.AffinityArgs(node_affinity=core.NodeAffinityArgs(
        required_during_scheduling_ignored_during_execution=required,
        preferred_during_scheduling_ignored_during_execution=preferred))


def content_hash(text: pulumi.Input[str]) -> pulumi.Output[str]:
    """Short digest of a config file: put on the pod template, a changed file rolls the pods."""
    return pulumi.Output.from_input(text).apply(lambda value: hashlib.sha256(value.encode()).hexdigest()[:16])


def files_storage_class(resource_name: str, class_name: str,
                        opts: pulumi.ResourceOptions) -> storage.StorageClass:
    """Premium Azure Files over SMB, which the CSI driver provisions (public stacks)."""
    return storage.StorageClass(
        resource_name,
        metadata=meta.ObjectMetaArgs(name=class_name, labels=dict(PART_OF)),
        provisioner=CSI_DRIVER,
        parameters=dict(SMB_CACHE_PARAMETERS),
        mount_options=list(SMB_MOUNT_OPTIONS),
        reclaim_policy="Delete",
        allow_volume_expansion=True,
        volume_binding_mode="Immediate",
        opts=opts)


def private_files_claim(resource_name: str, metadata: meta.ObjectMetaArgs, gib: int, files: PrivateFiles,
                        cluster_opts: pulumi.ResourceOptions,
                        opts: pulumi.ResourceOptions) -> core.PersistentVolumeClaim:
    """internal: a claim bound to a static volume on one of Pulumi's NFS shares (the volume is
    cluster-wide: ``cluster_opts``), as azurefile-csi-driver's deploy/example/pv-azurefile-nfs.yaml.
    Retain: the share is Pulumi's to delete, not the driver's."""
    claim_name, namespace = metadata.name, metadata.namespace
    volume_name = f"{namespace}-{claim_name}"  # volumes are cluster-wide; also the driver's volume id
    volume = core.PersistentVolume(
        f"{resource_name}-volume",
        metadata=meta.ObjectMetaArgs(name=volume_name, labels=metadata.labels),
        spec=core.PersistentVolumeSpecArgs(
            capacity={"storage": f"{gib}Gi"},
            access_modes=["ReadWriteMany"],
            persistent_volume_reclaim_policy="Retain",
            storage_class_name="",
            mount_options=list(NFS_MOUNT_OPTIONS),
            # only this claim may bind it ("Reserving a PersistentVolume", Kubernetes docs)
            claim_ref=core.ObjectReferenceArgs(namespace=namespace, name=claim_name),
            csi=core.CSIPersistentVolumeSourceArgs(
                driver=CSI_DRIVER,
                volume_handle=volume_name,  # unique in the cluster, no '#'
                volume_attributes={"resourceGroup": files.resource_group, "storageAccount": files.account,
                                   "shareName": files.shares[claim_name], "protocol": "nfs"})),
        opts=cluster_opts)
    return core.PersistentVolumeClaim(
        resource_name,
        metadata=metadata,
        spec=core.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteMany"],
            storage_class_name="",  # no class: not the cluster's default, nothing to provision
            volume_name=volume_name,
            resources=core.VolumeResourceRequirementsArgs(requests={"storage": f"{gib}Gi"})),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[volume])))


def device_plugin(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> apps.DaemonSet:
    """NVIDIA's device plugin on the GPU pools only (AKS installs the driver, not the plugin)."""
    plugin_labels = {"name": "nvidia-device-plugin-ds", **PART_OF}
    return apps.DaemonSet(
        f"{name}-nvidia-device-plugin",
        metadata=meta.ObjectMetaArgs(name="nvidia-device-plugin-daemonset", namespace="kube-system",
                                     labels=plugin_labels),
        spec=apps.DaemonSetSpecArgs(
            selector=meta.LabelSelectorArgs(match_labels={"name": "nvidia-device-plugin-ds"}),
            update_strategy=apps.DaemonSetUpdateStrategyArgs(type="RollingUpdate"),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=plugin_labels),
                spec=core.PodSpecArgs(
                    priority_class_name="system-node-critical",
                    automount_service_account_token=False,
                    security_context=core.PodSecurityContextArgs(
                        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault")),
                    tolerations=[*gpu_tolerations(spot=True),
                                 core.TolerationArgs(key="nvidia.com/gpu", operator="Exists",
                                                     effect="NoSchedule")],
                    affinity=gpu_affinity(args.gpu_pools, spot=False),
                    containers=[core.ContainerArgs(
                        name="nvidia-device-plugin-ctr",
                        image=DEVICE_PLUGIN_IMAGE,
                        image_pull_policy="IfNotPresent",
                        env=[core.EnvVarArgs(name="FAIL_ON_INIT_ERROR", value="false")],
                        resources=core.ResourceRequirementsArgs(
                            requests={"cpu": "50m", "memory": "64Mi"},
                            limits={"cpu": "200m", "memory": "256Mi"}),
                        # writes its socket into the kubelet's host directory: root, nothing else
                        security_context=restricted_container_context(run_as_non_root=False),
                        volume_mounts=[core.VolumeMountArgs(name="device-plugin",
                                                            mount_path="/var/lib/kubelet/device-plugins")])],
                    volumes=[core.VolumeArgs(name="device-plugin", host_path=core.HostPathVolumeSourceArgs(
                        path="/var/lib/kubelet/device-plugins", type="Directory"))]))),
        opts=opts)
