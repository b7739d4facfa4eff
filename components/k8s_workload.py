"""The Kubernetes objects that serve Apertus on an AKS cluster, from the serving plan.

What runs (namespace ``apertus`` unless the component is named otherwise):
- ``vllm`` Deployment: the container exactly as ``plan.launch`` describes it, on the GPU pool(s);
  HF token and API key come from Key Vault through the Secrets Store CSI driver (workload
  identity), synced into a Kubernetes Secret that only exists in the cluster, never in Pulumi state.
- ``gateway`` (Caddy, 2 replicas): the only entry point, HTTPS only; forwards only ``/v1/*`` and
  ``/health``; ``allowedCidrs`` enforced on 443. Public: a Let's Encrypt certificate for the Azure
  DNS label of its public IP. ``internal``: an internal load balancer on a fixed private IP in a
  subnet of its own, with a certificate for that IP signed by Caddy's own CA (``tls internal``),
  whose root clients must trust.
- ``prometheus`` + KEDA ``ScaledObject`` (when maxReplicas > minReplicas): scale on
  ``vllm:num_requests_waiting``; the cluster autoscaler then adds GPU nodes for pending pods.
- NVIDIA device plugin DaemonSet (kube-system), model-cache PVC on premium Azure Files,
  PodDisruptionBudgets, NetworkPolicies (default deny; only the entry point and the metrics
  scraper reach vLLM).

Every object is a pulumi_kubernetes typed ``*Args``; tests dump the recorded inputs as manifests
and run kubernetes-validate (strict) and checkov on them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.apps import v1 as apps
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.networking import v1 as networking
from pulumi_kubernetes.policy import v1 as policy
from pulumi_kubernetes.storage import v1 as storage

from .gateway import CADDY_IMAGE, GatewaySite, GatewayTls, render_caddyfile
from .serving import GpuSku, Probe, ServingPlan

# ---- images (one pin each) ----
DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.18.0"  # AKS GPU docs: v0.18.x static manifest
PROMETHEUS_IMAGE = "prom/prometheus:v3.5.0"  # 3.5 is the 2025 long-term-support release

# ---- scheduling: the GPU pools' taints and labels ----
GPU_TAINT_KEY, GPU_TAINT_VALUE = "sku", "gpu"  # AKS GPU docs: taint GPU pools sku=gpu:NoSchedule
# AKS puts this taint (and label) on every spot node
SPOT_TAINT_KEY, SPOT_TAINT_VALUE = "kubernetes.azure.com/scalesetpriority", "spot"
AGENT_POOL_LABEL = "kubernetes.azure.com/agentpool"  # every AKS node carries its pool name

# ---- names inside the cluster ----
VLLM, GATEWAY, PROMETHEUS = "vllm", "gateway", "prometheus"
SERVICE_ACCOUNT = "vllm"
SECRET_PROVIDER_CLASS = "model-secrets"
SYNCED_SECRET = "model-secrets"  # created by the CSI driver while a vLLM pod mounts the volume
SECRETS_MOUNT = "/mnt/secrets-store"
METRICS_SERVICE = "vllm-metrics"  # headless: Prometheus finds every ready vLLM pod through DNS
PROMETHEUS_PORT = 9090
KEDA_NAMESPACE = "kube-system"  # where the AKS KEDA add-on runs its operator
PART_OF = {"app.kubernetes.io/part-of": "apertus"}
CONFIG_HASH = "apertus/config-hash"  # pod template annotation: a changed config file rolls the pods

# ---- storage ----
MODEL_CACHE_CLASS = "apertus-model-cache"
PREMIUM_FILES_MIN_GIB = 100  # AKS Azure Files CSI docs: premium shares are at least 100 GiB
GATEWAY_STORAGE_CLASS = "azurefile-csi"  # AKS built-in class (standard Azure Files, RWX)
GATEWAY_CERT_GIB = 1

# ---- pod sizing ----
# NCCL shared memory for TP > 1 (vLLM's Kubernetes guide uses 2Gi); counts toward the memory limit
SHM_SIZE = "8Gi"
# Left on each GPU node for kubelet, OS and DaemonSets: AKS reserves ~20 MB per pod slot + 50 MB
# and a 100 Mi eviction threshold ("Node resource reservations"), plus Cilium, CSI, logging agents.
NODE_RESERVED_VCPUS = 2
NODE_RESERVED_FRACTION = 0.10
VLLM_TERMINATION_SECONDS = 60  # let in-flight completions finish; spot evictions give 30 s regardless

# ---- scaling ----
SCALE_DOWN_STABILIZATION_SECONDS = 900  # a replica takes 15+ min to load: do not drop it on a lull
KEDA_POLLING_SECONDS = 15
QUEUE_DEPTH_QUERY = "sum(vllm:num_requests_waiting)"  # requests vLLM has accepted but not started

PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")  # RFC 1918: who reaches an internal LB
ANYWHERE = "0.0.0.0/0"

# ---- gateway ----
CADDY_DATA = "/data"  # XDG_DATA_HOME: Caddy keeps certificates, the ACME account and its CA under /data/caddy
# where `tls internal` keeps the root certificate of Caddy's own CA ("local"), on the shared volume
CADDY_ROOT_CERT = f"{CADDY_DATA}/caddy/pki/authorities/local/root.crt"
INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"
# AKS "Use an internal load balancer": a fixed private address for the frontend (Specify an IP
# address), taken from a subnet other than the nodes' (Specify a different subnet)
INTERNAL_IP_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
INTERNAL_SUBNET_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal-subnet"
DNS_LABEL_ANNOTATION = "service.beta.kubernetes.io/azure-dns-label-name"


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
    return max(plan.cache_size_gib, PREMIUM_FILES_MIN_GIB)


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

    def __post_init__(self) -> None:
        if self.internal and not (self.internal_ip and self.internal_subnet):
            raise ValueError("an internal gateway needs internal_ip (its certificate names that address) "
                             "and internal_subnet (the subnet holding it)")
        if not self.internal and (self.dns_label is None or self.public_fqdn is None):
            raise ValueError("a public gateway needs dns_label and public_fqdn")

    @property
    def autoscaled(self) -> bool:
        return self.max_replicas > self.min_replicas


@dataclass
class Workload:
    entry_service: core.Service
    """The gateway's LoadBalancer Service (public IP, or the internal LB on ``internal_ip``)."""
    deployment: apps.Deployment


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
            claim_name="model-cache")),
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


def caddyfile(site: pulumi.Input[str] | None, allowed_cidrs: tuple[str, ...], upstream: str,
              internal_ip: str | None = None) -> pulumi.Output[str]:
    """The shared gateway rules, HTTPS only, h1/h2; ``allowed_cidrs`` checked in Caddy (403 to others).

    Public (``site`` = the Azure DNS name): a Let's Encrypt certificate; port 80 stays open to
    everyone for the ACME check and the redirect to HTTPS. Internal (``internal_ip``): Caddy's
    own CA signs a certificate for the load balancer's private IP; nothing listens on port 80.
    """
    # HTTP/3 would advertise UDP 443, which the load balancer does not forward
    protocols = ("h1", "h2")
    if internal_ip:
        return pulumi.Output.from_input(render_caddyfile(GatewaySite(
            address=internal_ip, upstream=upstream, tls=GatewayTls.INTERNAL,
            allowed_cidrs=allowed_cidrs, protocols=protocols)))
    return pulumi.Output.from_input(site).apply(lambda fqdn: render_caddyfile(GatewaySite(
        address=fqdn, upstream=upstream, tls=GatewayTls.ACME, allowed_cidrs=allowed_cidrs,
        protocols=protocols)))


def content_hash(text: pulumi.Input[str]) -> pulumi.Output[str]:
    """Short digest of a config file: put on the pod template, a changed file rolls the pods."""
    return pulumi.Output.from_input(text).apply(lambda value: hashlib.sha256(value.encode()).hexdigest()[:16])


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


def deploy_workload(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> Workload:
    """Register every Kubernetes object; ``opts`` carries the parent and the cluster's provider."""
    ns = args.namespace
    plan = args.plan
    port = plan.launch.port

    def md(object_name: str, app: str | None = None, annotations: dict | None = None) -> meta.ObjectMetaArgs:
        return object_meta(object_name, ns, app, annotations)

    namespace = core.Namespace(
        f"{name}-namespace",
        metadata=meta.ObjectMetaArgs(name=ns, labels={
            **PART_OF,
            # vLLM needs root (see vllm_container), so 'baseline'; 'restricted' is reported
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted"}),
        opts=opts)
    in_ns = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))

    device_plugin(name, args, opts)

    # ---- secrets: Key Vault -> CSI driver (workload identity) -> Secret in the cluster ----
    core.ServiceAccount(
        f"{name}-service-account",
        metadata=md(SERVICE_ACCOUNT, VLLM, annotations={
            "azure.workload.identity/client-id": args.identity_client_id}),
        automount_service_account_token=False,
        opts=in_ns)
    secret_names = list(dict.fromkeys(plan.launch.secret_env.values()))
    CustomResource(
        f"{name}-secret-provider-class",
        api_version="secrets-store.csi.x-k8s.io/v1",
        kind="SecretProviderClass",
        metadata=md(SECRET_PROVIDER_CLASS, VLLM),
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
        opts=in_ns)

    # ---- model cache: premium Azure Files, shared by every replica (RWX) ----
    model_class = storage.StorageClass(
        f"{name}-model-cache-class",
        metadata=meta.ObjectMetaArgs(name=MODEL_CACHE_CLASS, labels=dict(PART_OF)),
        provisioner="file.csi.azure.com",
        parameters={"skuName": "Premium_LRS"},
        # mfsymlinks: the Hugging Face cache links snapshots to blobs, which SMB cannot store otherwise
        mount_options=["dir_mode=0755", "file_mode=0644", "uid=0", "gid=0", "mfsymlinks",
                       "cache=strict", "actimeo=30", "nosharesock"],
        reclaim_policy="Delete",
        allow_volume_expansion=True,
        volume_binding_mode="Immediate",
        opts=opts)
    core.PersistentVolumeClaim(
        f"{name}-model-cache",
        metadata=md("model-cache", VLLM, annotations={"pulumi.com/skipAwait": "true"}),
        spec=core.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteMany"],
            storage_class_name=MODEL_CACHE_CLASS,
            resources=core.VolumeResourceRequirementsArgs(
                requests={"storage": f"{model_cache_gib(plan)}Gi"})),
        opts=pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(depends_on=[model_class])))

    # ---- vLLM ----
    deployment = apps.Deployment(
        f"{name}-vllm",
        # a first start downloads and loads the weights (up to an hour for 70B): do not block `pulumi up`
        metadata=md(VLLM, VLLM, annotations={"pulumi.com/skipAwait": "true"}),
        spec=apps.DeploymentSpecArgs(
            replicas=None if args.autoscaled else args.min_replicas,  # KEDA owns the count when it scales
            selector=selector(VLLM),
            strategy=apps.DeploymentStrategyArgs(
                type="RollingUpdate",
                # keep serving while the new pod loads the model
                rolling_update=apps.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1)),
            template=core.PodTemplateSpecArgs(metadata=meta.ObjectMetaArgs(labels=labels(VLLM)),
                                              spec=vllm_pod_spec(args))),
        opts=in_ns)
    policy.PodDisruptionBudget(
        f"{name}-vllm-pdb",
        metadata=md(VLLM, VLLM),
        # one replica at a time: node upgrades and scale-down drain never take several replicas at once
        spec=policy.PodDisruptionBudgetSpecArgs(max_unavailable=1, selector=selector(VLLM)),
        opts=in_ns)

    # vLLM stays inside the cluster; the gateway is the only way in, public or internal
    cluster_service(f"{name}-vllm-service", md(VLLM, VLLM), VLLM, port, in_ns)
    entry = gateway(name, args, f"{VLLM}.{ns}.svc.cluster.local:{port}", in_ns)

    vllm_sources = [networking.NetworkPolicyPeerArgs(pod_selector=selector(GATEWAY))]
    if args.autoscaled:
        vllm_sources.append(networking.NetworkPolicyPeerArgs(pod_selector=selector(PROMETHEUS)))
        autoscaling(name, args, in_ns)

    # ---- network policies: deny by default, then open exactly what is needed ----
    networking.NetworkPolicy(
        f"{name}-default-deny",
        metadata=md("default-deny-ingress"),
        spec=networking.NetworkPolicySpecArgs(pod_selector=meta.LabelSelectorArgs(),
                                              policy_types=["Ingress"]),
        opts=in_ns)
    allow_ingress(f"{name}-vllm-ingress", md(f"{VLLM}-ingress", VLLM), VLLM, vllm_sources, port, in_ns)
    return Workload(entry_service=entry, deployment=deployment)


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


def gateway(name: str, args: WorkloadArgs, upstream: str, opts: pulumi.ResourceOptions) -> core.Service:
    """Caddy terminating TLS in front of vLLM, behind a public or an internal load balancer.

    Public: a Let's Encrypt certificate for the public IP's Azure DNS name. Internal: the internal
    load balancer gets the fixed private IP ``internal_ip`` in the subnet ``internal_subnet`` (the
    certificate must name the address clients connect to before the load balancer exists), and
    Caddy's own CA signs for it.
    """
    def md(object_name: str, annotations: dict | None = None) -> meta.ObjectMetaArgs:
        return object_meta(object_name, args.namespace, GATEWAY, annotations)

    caddy_config = caddyfile(args.public_fqdn, args.allowed_cidrs, upstream,
                             internal_ip=args.internal_ip if args.internal else None)
    core.ConfigMap(
        f"{name}-gateway-config",
        metadata=md(f"{GATEWAY}-config"),
        data={"Caddyfile": caddy_config},
        opts=opts)
    core.PersistentVolumeClaim(
        f"{name}-gateway-data",
        # shared by both replicas, kept across restarts: the certificates, the ACME account (Let's
        # Encrypt rate-limits reissues) or the internal CA (clients trust its root)
        metadata=md(f"{GATEWAY}-data", annotations={"pulumi.com/skipAwait": "true"}),
        spec=core.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteMany"],
            storage_class_name=GATEWAY_STORAGE_CLASS,
            resources=core.VolumeResourceRequirementsArgs(requests={"storage": f"{GATEWAY_CERT_GIB}Gi"})),
        opts=opts)
    apps.StatefulSet(
        f"{name}-gateway",
        metadata=md(GATEWAY),
        spec=apps.StatefulSetSpecArgs(
            replicas=2,
            service_name=GATEWAY,
            # the second replica starts only once the first is ready: Caddy creates its CA (or ACME
            # account) on the empty shared volume without a lock, so two first starts at once could
            # leave each replica signing with a different root
            pod_management_policy="OrderedReady",
            selector=selector(GATEWAY),
            update_strategy=apps.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=labels(GATEWAY),
                                             annotations={CONFIG_HASH: content_hash(caddy_config)}),
                spec=gateway_pod_spec())),
        opts=opts)
    policy.PodDisruptionBudget(
        f"{name}-gateway-pdb",
        metadata=md(GATEWAY),
        spec=policy.PodDisruptionBudgetSpecArgs(max_unavailable=1, selector=selector(GATEWAY)),
        opts=opts)
    https_port = core.ServicePortArgs(name="https", port=443, target_port="https", protocol="TCP")
    if args.internal:
        service_annotations = {INTERNAL_LB_ANNOTATION: "true", INTERNAL_IP_ANNOTATION: args.internal_ip,
                               INTERNAL_SUBNET_ANNOTATION: args.internal_subnet}
        # nothing listens on 80: no ACME challenge, no redirect
        ports = [https_port]
        https_sources = args.allowed_cidrs or PRIVATE_RANGES
        # the load balancer's security rules filter too (a public one keeps 80 open for ACME)
        source_ranges = list(args.allowed_cidrs) or None
    else:
        # the public IP gets <label>.<region>.cloudapp.azure.com, the name the certificate is for
        service_annotations = {DNS_LABEL_ANNOTATION: args.dns_label}
        ports = [core.ServicePortArgs(name="http", port=80, target_port="http", protocol="TCP"), https_port]
        https_sources = args.allowed_cidrs or (ANYWHERE,)
        source_ranges = None
    service = core.Service(
        f"{name}-gateway-service",
        metadata=md(GATEWAY, annotations=service_annotations),
        spec=core.ServiceSpecArgs(
            type="LoadBalancer",
            external_traffic_policy="Local",  # client IPs reach Caddy, so remote_ip can filter them
            load_balancer_source_ranges=source_ranges,
            selector={"app.kubernetes.io/name": GATEWAY},
            ports=ports),
        opts=opts)
    rules = [networking.NetworkPolicyIngressRuleArgs(
        from_=[networking.NetworkPolicyPeerArgs(ip_block=networking.IPBlockArgs(cidr=cidr))
               for cidr in https_sources],
        ports=[networking.NetworkPolicyPortArgs(port=443, protocol="TCP")])]
    if not args.internal:
        # port 80 answers Let's Encrypt's HTTP-01 check and redirects: open to all
        rules.insert(0, networking.NetworkPolicyIngressRuleArgs(
            from_=[networking.NetworkPolicyPeerArgs(ip_block=networking.IPBlockArgs(cidr=ANYWHERE))],
            ports=[networking.NetworkPolicyPortArgs(port=80, protocol="TCP")]))
    networking.NetworkPolicy(
        f"{name}-gateway-ingress",
        metadata=md(f"{GATEWAY}-ingress"),
        spec=networking.NetworkPolicySpecArgs(pod_selector=selector(GATEWAY), policy_types=["Ingress"],
                                              ingress=rules),
        opts=opts)
    return service


def gateway_pod_spec() -> core.PodSpecArgs:
    """Caddy as a non-root user with a read-only root; certificates on the shared volume."""
    probe = core.ProbeArgs(tcp_socket=core.TCPSocketActionArgs(port="https"), period_seconds=10,
                           timeout_seconds=3, failure_threshold=3)
    caddy = core.ContainerArgs(
        name="caddy",
        image=CADDY_IMAGE,
        image_pull_policy="IfNotPresent",
        command=["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"],
        env=[core.EnvVarArgs(name="XDG_DATA_HOME", value=CADDY_DATA),
             core.EnvVarArgs(name="XDG_CONFIG_HOME", value="/config")],
        ports=[core.ContainerPortArgs(name="http", container_port=80, protocol="TCP"),
               core.ContainerPortArgs(name="https", container_port=443, protocol="TCP")],
        resources=core.ResourceRequirementsArgs(requests={"cpu": "100m", "memory": "128Mi"},
                                                limits={"cpu": "1", "memory": "512Mi"}),
        readiness_probe=probe,
        liveness_probe=probe,
        # the caddy binary carries the file capability cap_net_bind_service: the kernel refuses to
        # exec it when that capability is outside the bounding set
        security_context=restricted_container_context(add=["NET_BIND_SERVICE"]),
        volume_mounts=[core.VolumeMountArgs(name="caddyfile", mount_path="/etc/caddy", read_only=True),
                       core.VolumeMountArgs(name="data", mount_path=CADDY_DATA),
                       core.VolumeMountArgs(name="config", mount_path="/config")])
    return core.PodSpecArgs(
        automount_service_account_token=False,
        # the two replicas on different zones where the system pool has them
        topology_spread_constraints=[core.TopologySpreadConstraintArgs(
            max_skew=1, topology_key="topology.kubernetes.io/zone",
            when_unsatisfiable="ScheduleAnyway", label_selector=selector(GATEWAY))],
        security_context=core.PodSecurityContextArgs(
            run_as_non_root=True, run_as_user=10001, run_as_group=10001, fs_group=10001,
            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
            # a non-root process may bind 80/443 without any capability
            sysctls=[core.SysctlArgs(name="net.ipv4.ip_unprivileged_port_start", value="0")]),
        containers=[caddy],
        volumes=[
            core.VolumeArgs(name="caddyfile",
                            config_map=core.ConfigMapVolumeSourceArgs(name=f"{GATEWAY}-config")),
            core.VolumeArgs(name="data", persistent_volume_claim=core.PersistentVolumeClaimVolumeSourceArgs(
                claim_name=f"{GATEWAY}-data")),
            core.VolumeArgs(name="config", empty_dir=core.EmptyDirVolumeSourceArgs())])


def autoscaling(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> None:
    """A small Prometheus scraping vLLM, and a KEDA ScaledObject on the queue depth it reports."""
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
    apps.Deployment(
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
    CustomResource(
        f"{name}-vllm-scaler",
        api_version="keda.sh/v1alpha1",
        kind="ScaledObject",
        metadata=md(VLLM, VLLM),
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
                    "serverAddress": f"http://{PROMETHEUS}.{ns}.svc.cluster.local:{PROMETHEUS_PORT}",
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
