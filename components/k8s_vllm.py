"""vLLM on the GPU pools: its Deployment, the Key Vault secrets it reads through the Secrets Store
CSI driver (workload identity), and the model cache on premium Azure Files shared by every replica.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.apps import v1 as apps
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.policy import v1 as policy

from .k8s_common import (PREMIUM_FILES_MIN_GIB, VLLM, WorkloadArgs, cluster_service, files_storage_class,
                         gpu_affinity, gpu_tolerations, labels, object_meta, private_files_claim,
                         restricted_container_context, selector)
from .serving import GpuSku, Probe, ServingPlan

SERVICE_ACCOUNT = "vllm"
SECRET_PROVIDER_CLASS = "model-secrets"
SYNCED_SECRET = "model-secrets"  # created by the CSI driver while a vLLM pod mounts the volume
SECRETS_MOUNT = "/mnt/secrets-store"
MODEL_CACHE_CLASS = "apertus-model-cache"  # public stacks: the class the driver provisions the share by
MODEL_CACHE_CLAIM = "model-cache"

# ---- pod sizing ----
# NCCL shared memory for TP > 1 (vLLM's Kubernetes guide uses 2Gi); counts toward the memory limit
SHM_SIZE = "8Gi"
# Left on each GPU node for kubelet, OS and DaemonSets: AKS reserves ~20 MB per pod slot + 50 MB
# and a 100 Mi eviction threshold ("Node resource reservations"), plus Cilium, CSI, logging agents.
NODE_RESERVED_VCPUS = 2
NODE_RESERVED_FRACTION = 0.10
VLLM_TERMINATION_SECONDS = 60  # let in-flight completions finish; spot evictions give 30 s regardless


@dataclass(frozen=True)
class ReplicaBudget:
    """CPU and memory one vLLM replica requests (= limits: Guaranteed QoS, never evicted first)."""

    cpu: int
    memory_gib: int


def replicas_per_node(sku: GpuSku, tensor_parallel_size: int) -> int:
    return sku.gpu_count // tensor_parallel_size


def replica_budget(sku: GpuSku, tensor_parallel_size: int) -> ReplicaBudget:
    """A replica's share of the node, after what the node keeps for itself."""
    per_node = replicas_per_node(sku, tensor_parallel_size)
    cpu = max(1, (sku.vcpus - NODE_RESERVED_VCPUS) // per_node)
    memory = max(1, math.floor(sku.ram_gib * (1 - NODE_RESERVED_FRACTION) / per_node))
    return ReplicaBudget(cpu, memory)


def model_cache_gib(plan: ServingPlan) -> int:
    """The share size the cold-start estimate chose (a larger premium share reads faster)."""
    return max(plan.cold_start.cache.size_gib, PREMIUM_FILES_MIN_GIB)


def http_probe(probe: Probe) -> core.ProbeArgs:
    return core.ProbeArgs(
        http_get=core.HTTPGetActionArgs(path=probe.path, port=probe.port),
        period_seconds=probe.period_seconds,
        timeout_seconds=probe.timeout_seconds,
        failure_threshold=probe.failure_threshold,
        initial_delay_seconds=probe.initial_delay_seconds or None)


def vllm_container(plan: ServingPlan) -> core.ContainerArgs:
    """The container as plan.launch says: image, command, args, env; secrets from the synced Secret."""
    launch = plan.launch
    budget = replica_budget(plan.gpu, plan.tensor_parallel_size)
    amounts = {"cpu": str(budget.cpu), "memory": f"{budget.memory_gib}Gi",
               "nvidia.com/gpu": str(plan.tensor_parallel_size)}
    env = [core.EnvVarArgs(name=key, value=value) for key, value in launch.env.items()]
    env += [core.EnvVarArgs(name=var, value_from=core.EnvVarSourceArgs(
        secret_key_ref=core.SecretKeySelectorArgs(name=SYNCED_SECRET, key=secret_name)))
        for var, secret_name in launch.secret_env.items()]
    mounts = [core.VolumeMountArgs(name="model-cache", mount_path=launch.cache_mount),
              core.VolumeMountArgs(name="secrets-store", mount_path=SECRETS_MOUNT, read_only=True)]
    if launch.shm_needed:
        mounts.append(core.VolumeMountArgs(name="shm", mount_path="/dev/shm"))
    return core.ContainerArgs(
        name=VLLM,
        image=launch.image,
        image_pull_policy="IfNotPresent",
        command=list(launch.command),
        args=list(launch.args),
        env=env,
        ports=[core.ContainerPortArgs(name="http", container_port=launch.port, protocol="TCP")],
        resources=core.ResourceRequirementsArgs(requests=amounts, limits=amounts),
        startup_probe=http_probe(launch.startup_probe()),
        readiness_probe=http_probe(launch.readiness),
        liveness_probe=http_probe(launch.liveness),
        volume_mounts=mounts,
        # the vllm/vllm-openai image runs as root and breaks under an arbitrary UID (torch looks
        # the user up in /etc/passwd); so root, but with no capabilities and no escalation
        security_context=restricted_container_context(run_as_non_root=False))


def vllm_pod_spec(args: WorkloadArgs) -> core.PodSpecArgs:
    launch = args.plan.launch
    volumes = [
        core.VolumeArgs(name="model-cache", persistent_volume_claim=core.PersistentVolumeClaimVolumeSourceArgs(
            claim_name=MODEL_CACHE_CLAIM)),
        core.VolumeArgs(name="secrets-store", csi=core.CSIVolumeSourceArgs(
            driver="secrets-store.csi.k8s.io", read_only=True,
            volume_attributes={"secretProviderClass": SECRET_PROVIDER_CLASS})),
    ]
    if launch.shm_needed:
        volumes.append(core.VolumeArgs(name="shm", empty_dir=core.EmptyDirVolumeSourceArgs(
            medium="Memory", size_limit=SHM_SIZE)))
    return core.PodSpecArgs(
        service_account_name=SERVICE_ACCOUNT,
        automount_service_account_token=False,  # the CSI driver requests its own token
        termination_grace_period_seconds=VLLM_TERMINATION_SECONDS,
        security_context=core.PodSecurityContextArgs(
            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault")),
        tolerations=gpu_tolerations(args.spot),
        affinity=gpu_affinity(args.gpu_pools, args.spot),
        containers=[vllm_container(args.plan)],
        volumes=volumes)


def secret_provider_objects(secret_names: list[str]) -> str:
    """The provider's ``objects`` parameter: a YAML document listing Key Vault secrets."""
    entries = [f"  - |\n    objectName: {name}\n    objectType: secret\n" for name in secret_names]
    return "array:\n" + "".join(entries)


def model_secrets(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> None:
    """Key Vault -> CSI driver (workload identity) -> a Secret that exists only in the cluster."""
    core.ServiceAccount(
        f"{name}-service-account",
        metadata=object_meta(SERVICE_ACCOUNT, args.namespace, VLLM, annotations={
            "azure.workload.identity/client-id": args.identity_client_id}),
        automount_service_account_token=False,
        opts=opts)
    secret_names = list(dict.fromkeys(args.plan.launch.secret_env.values()))
    CustomResource(
        f"{name}-secret-provider-class",
        api_version="secrets-store.csi.x-k8s.io/v1",
        kind="SecretProviderClass",
        metadata=object_meta(SECRET_PROVIDER_CLASS, args.namespace, VLLM),
        spec={
            "provider": "azure",
            "parameters": {
                "usePodIdentity": "false",
                "clientID": args.identity_client_id,
                "keyvaultName": args.vault_name,
                "tenantId": args.tenant_id,
                "objects": secret_provider_objects(secret_names),
            },
            "secretObjects": [{
                "secretName": SYNCED_SECRET,
                "type": "Opaque",
                "data": [{"objectName": secret, "key": secret} for secret in secret_names],
            }],
        },
        opts=opts)


def model_cache(name: str, args: WorkloadArgs, cluster_opts: pulumi.ResourceOptions,
                opts: pulumi.ResourceOptions) -> core.PersistentVolumeClaim:
    """Premium Azure Files shared by every replica (RWX). Public: SMB the driver provisions through a
    class (cluster-wide: ``cluster_opts``); internal: Pulumi's NFS share, a static volume."""
    metadata = object_meta(MODEL_CACHE_CLAIM, args.namespace, VLLM,
                           annotations={"pulumi.com/skipAwait": "true"})
    if args.private_files is not None:
        return private_files_claim(f"{name}-model-cache", metadata, model_cache_gib(args.plan),
                                   args.private_files, cluster_opts, opts)
    model_class = files_storage_class(f"{name}-model-cache-class", MODEL_CACHE_CLASS, cluster_opts)
    return core.PersistentVolumeClaim(
        f"{name}-model-cache",
        metadata=metadata,
        spec=core.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteMany"],
            storage_class_name=MODEL_CACHE_CLASS,
            resources=core.VolumeResourceRequirementsArgs(
                requests={"storage": f"{model_cache_gib(args.plan)}Gi"})),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[model_class])))


def vllm_deployment(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> apps.Deployment:
    """The vLLM Deployment, its disruption budget and its in-cluster Service."""
    deployment = apps.Deployment(
        f"{name}-vllm",
        # a first start downloads and loads the weights (up to an hour for 70B): do not block `pulumi up`
        metadata=object_meta(VLLM, args.namespace, VLLM, annotations={"pulumi.com/skipAwait": "true"}),
        spec=apps.DeploymentSpecArgs(
            replicas=None if args.autoscaled else args.min_replicas,  # KEDA owns the count when it scales
            selector=selector(VLLM),
            strategy=apps.DeploymentStrategyArgs(
                type="RollingUpdate",
                # keep serving while the new pod loads the model
                rolling_update=apps.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1)),
            template=core.PodTemplateSpecArgs(metadata=meta.ObjectMetaArgs(labels=labels(VLLM)),
                                              spec=vllm_pod_spec(args))),
        opts=opts)
    policy.PodDisruptionBudget(
        f"{name}-vllm-pdb",
        metadata=object_meta(VLLM, args.namespace, VLLM),
        # one replica at a time: node upgrades and scale-down drain never take several replicas at once
        spec=policy.PodDisruptionBudgetSpecArgs(max_unavailable=1, selector=selector(VLLM)),
        opts=opts)
    # vLLM stays inside the cluster; the gateway is the only way in, public or internal
    cluster_service(f"{name}-vllm-service", object_meta(VLLM, args.namespace, VLLM), VLLM,
                    args.plan.launch.port, opts)
    return deployment
