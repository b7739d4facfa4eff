"""Apertus on Azure Container Apps serverless GPU: scales to zero, weights kept on Azure Files NFS.

What it creates, in one resource group: a Log Analytics workspace; a VNet whose subnet is
delegated to Microsoft.App/environments; a workload-profiles environment injected into it
(``Consumption`` plus the plan's GPU profile); the identity + Key Vault of ``ModelSecrets``; a
Premium FileStorage account with an NFS share reachable only from that subnet, linked to the
environment as the model cache; the container app running ``plan.launch`` on the GPU profile
plus a small Caddy proxy beside it, the only target of the HTTPS ingress, passing on ``/v1/*`` and
``/health`` alone (vLLM's ``--api-key`` does not cover ``/invocations``, ``/metrics``, ``/tokenize``);
for an internal environment, the private DNS zone that resolves its apps.
"""

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlparse

import pulumi
import pulumi_random as random
from pulumi_azure_native import app, network, operationalinsights, privatedns, storage

from . import base, monitoring
from .base import DEFAULT_VNET_ADDRESS_SPACE, VNET_KEY, ServingArgs, dns_safe
from .gateway import CADDY_IMAGE, GatewaySite, GatewayTls, render_caddyfile
from .secrets import ModelSecrets, ModelSecretsArgs, VaultPrivateAccess
from .serving import ConfigError, GpuSku, Probe, ServingPlan, checks
from .serving.coldstart import PREMIUM_FILES_MIN_GIB
from .serving.errors import args_class, speaking_of
from .serving.launch import SECRET_API_KEY, SECRET_HF_TOKEN, LaunchSpec

HOST = "containerapp"

# Scale limits: "Maximum replicas configurable are 1,000" (learn.microsoft.com/azure/container-apps/scale-app)
MAX_REPLICAS = 1000
# Container Apps' own default is 10 in-flight requests (scale-app); one vLLM replica batches far more
DEFAULT_CONCURRENT_REQUESTS = 32

# Probe limits of the Microsoft.App API (2025-02-02-preview, the version azure-native 3.x uses;
# quoted in the SDK's ContainerAppProbe docs): failureThreshold 1-10, periodSeconds 1-240,
# timeoutSeconds 1-240, initialDelaySeconds 1-60.
PROBE_MAX_FAILURE_THRESHOLD = 10
PROBE_MAX_PERIOD_SECONDS = 240
PROBE_MAX_TIMEOUT_SECONDS = 240
PROBE_MIN_INITIAL_DELAY_SECONDS = 1
PROBE_MAX_INITIAL_DELAY_SECONDS = 60

# Network: a workload-profiles environment needs a subnet of /27 or larger, delegated to
# Microsoft.App/environments; Container Apps takes 12 addresses and Azure 5 of every subnet; a
# GPU replica uses one address, and a revision change briefly doubles the need
# (learn.microsoft.com/azure/container-apps/custom-virtual-networks, gpu-serverless-overview).
SUBNET_PREFIX = 23  # 495 usable addresses: room for 247 GPU replicas; subnets cannot be resized later
# internal: the Key Vault's private endpoint takes the /28 after the environment's /23 (a delegated
# subnet holds nothing but the environment; /29 is Azure's smallest subnet, /28 leaves room)
ENDPOINT_SUBNET_PREFIX = 28
MIN_SUBNET_PREFIX = 27
ACA_INFRASTRUCTURE_IPS = 12
AZURE_SUBNET_RESERVED_IPS = 5
MAX_REPLICAS_IN_SUBNET = (2 ** (32 - SUBNET_PREFIX) - ACA_INFRASTRUCTURE_IPS - AZURE_SUBNET_RESERVED_IPS) // 2
# Ranges a workload-profiles subnet must not overlap (custom-virtual-networks, "Subnet address
# range restrictions"): reserved by AKS, and by the environment itself.
RESERVED_RANGES = tuple(ipaddress.ip_network(cidr) for cidr in (
    "169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24",
    "100.100.0.0/17", "100.100.128.0/19", "100.100.160.0/19", "100.100.192.0/19"))

CONSUMPTION_PROFILE = "Consumption"
# Profile names are length-limited: "Consumption-GPU-NC8as-T4" as a name is rejected with
# WorkloadProfileInvalidNameTooLong (Azure/azure-cli#31239); the type carries the SKU.
GPU_PROFILE_NAME = "gpu"
GPU_PROFILE_TYPE_PATH = "workloadProfiles[*].workloadProfileType"  # what only a new environment changes
# Dedicated nodes keep part of their capacity for the Container Apps runtime ("slightly less than
# the profile's allocation", workload-profiles-overview); the amount is not documented
# (MicrosoftDocs/azure-docs#114350): this reserve is an estimate, unverified.
DEDICATED_RESERVED_VCPUS = 2
DEDICATED_RESERVED_GIB = 16

# Model cache: Premium (SSD) file shares are provisioned from 100 GiB (Azure Files scale targets,
# provisioned v1; the same minimum in kubernetes/kubernetes#99122); NFS needs a Premium FileStorage account.
# The share's size comes from the cold-start estimate (a larger share reads faster).
PREMIUM_SHARE_MIN_GIB = PREMIUM_FILES_MIN_GIB
CACHE_VOLUME = "model-cache"
CACHE_SHARE = "model-cache"
# vLLM stays the first container: only the first container of a replica gets the GPU
# (Container Apps GPU docs, as summarised in the project's reference/azure-gpu.md)
CONTAINER_NAME = "vllm"

# The proxy in front of vLLM: the ingress terminates TLS and talks plain HTTP to it.
PROXY_CONTAINER_NAME = "proxy"
PROXY_PORT = 8080
# Its share of the replica, taken from vLLM's so the total stays the profile's allocation:
# 0.25 vCPU / 0.5 GiB is the smallest container size Container Apps lists (containers docs,
# "Consumption" allocations); Caddy proxying a few requests at a time needs far less.
PROXY_CPU = 0.25
PROXY_MEMORY_GIB = 0.5
PROXY_CADDYFILE_ENV = "CADDYFILE"
# the Caddyfile arrives as an env var (no secret in it) and is written out before Caddy starts
PROXY_COMMAND = ("sh", "-c", f'printf "%s" "${PROXY_CADDYFILE_ENV}" > /tmp/Caddyfile '
                 "&& exec caddy run --config /tmp/Caddyfile --adapter caddyfile")


@dataclass(frozen=True)
class ContainerAppGpuArgs(ServingArgs):
    """Host settings besides ``ServingArgs``; the defaults scale 0..1 behind public HTTPS ingress.

    ``min_replicas``/``max_replicas`` bound the app (and size a dedicated GPU profile);
    ``concurrent_requests`` is the in-flight request count per replica above which another
    replica starts; ``vnet_address_space`` is the VNet's IPv4 range (the environment gets its
    first /23).
    """

    # each field's meaning, default and config key: components/serving/settings.py, shown by
    # help() of the host args, in the component package schema and in docs/configuration.md
    min_replicas: Optional[int] = None
    max_replicas: Optional[int] = None
    concurrent_requests: Optional[int] = DEFAULT_CONCURRENT_REQUESTS
    vnet_address_space: Optional[str] = DEFAULT_VNET_ADDRESS_SPACE

    _host = HOST
    _network_cache = True  # weights live on an Azure Files NFS share

    def __post_init__(self) -> None:
        super().__post_init__()
        low, high = checks.replica_bounds(HOST, self.min_replicas, self.max_replicas)
        object.__setattr__(self, "min_replicas", low)
        object.__setattr__(self, "max_replicas", high)
        try:
            object.__setattr__(self, "concurrent_requests", checks.whole_number(
                checks.CONFIG_KEYS["concurrentRequests"], DEFAULT_CONCURRENT_REQUESTS
                if self.concurrent_requests is None else self.concurrent_requests, minimum=1))
        except ConfigError as error:
            raise checks.naming_input(error) from None
        if self.vnet_address_space is None:
            object.__setattr__(self, "vnet_address_space", DEFAULT_VNET_ADDRESS_SPACE)
        checks.text(VNET_KEY, self.vnet_address_space)  # "" is a mistake, not the default
        gpu = self.plan.gpu
        if HOST not in gpu.hosts:
            raise ConfigError("gpu", gpu.name, "is not a Container Apps workload profile",
                              "use Consumption-GPU-NC24-A100, Consumption-GPU-NC8as-T4 or NC24/48/96-A100")
        if set(self.plan.launch.secret_env.values()) - self._vault_secret_names():
            raise ConfigError("hfToken", None, "is not set but the vLLM launch spec reads HF_TOKEN",
                              "run: pulumi config set --secret hfToken <token>",
                              args_fix=base.HF_TOKEN_ARGS_FIX)
        if self.min_replicas < 0 or self.min_replicas > self.max_replicas:
            raise ConfigError("minReplicas", self.min_replicas,
                              f"must be between 0 and maxReplicas ({self.max_replicas})",
                              "set 0 to scale to zero when idle, or 1 to keep one replica warm")
        if not 1 <= self.max_replicas <= MAX_REPLICAS:
            raise ConfigError("maxReplicas", self.max_replicas,
                              f"Container Apps allows 1 to {MAX_REPLICAS} replicas per app",
                              f"set maxReplicas between 1 and {MAX_REPLICAS}")
        if self.max_replicas > MAX_REPLICAS_IN_SUBNET:
            raise ConfigError("maxReplicas", self.max_replicas,
                              f"the environment's /{SUBNET_PREFIX} subnet has addresses for "
                              f"{MAX_REPLICAS_IN_SUBNET} GPU replicas (one address each, doubled "
                              "during a revision change)",
                              f"set maxReplicas to {MAX_REPLICAS_IN_SUBNET} or less")
        infrastructure_subnet(self.vnet_address_space)
        if self.internal:
            endpoint_subnet(self.vnet_address_space)
        startup_probe(self.plan.launch, self.plan.model.hf_id)
        if warning := unused_threshold_warning(self.ttft_slo_seconds, self.queue_alert_threshold):
            self._warn(warning)

    def _vault_secret_names(self) -> set[str]:
        return {SECRET_API_KEY} | ({SECRET_HF_TOKEN} if self.hf_token is not None else set())


# The alert thresholds whose alerts need vLLM's own metrics, which Container Apps does not scrape
# (components/serving/monitoring.py CONTAINERAPP_MISSING): accepted, checked, and said to be unused
UNUSED_THRESHOLDS = ("ttftSloSeconds", "queueAlertThreshold")


def unused_threshold_warning(ttft_slo_seconds: object, queue_alert_threshold: object) -> str | None:
    """The thresholds a Container Apps deployment was given but has no alert for, in one warning."""
    values = (ttft_slo_seconds, queue_alert_threshold)
    given = [f"{key} {value}" for key, value in zip(UNUSED_THRESHOLDS, values) if value is not None]
    if not given:
        return None
    other_hosts = "GpuVirtualMachine or AksGpuCluster" if args_class() else "host 'vm' or 'aks'"
    return (f"{' and '.join(given)}: not used on Container Apps, which does not export vLLM's metrics (no "
            "Prometheus scrape of the app), so there is no time-to-first-token or queue alert here to take "
            f"{'it' if len(given) == 1 else 'them'}; remove {'it' if len(given) == 1 else 'them'}, or use "
            f"{other_hosts} for those alerts")


def infrastructure_subnet(address_space: str) -> ipaddress.IPv4Network:
    """The environment's subnet: the first /23 of the VNet's range, clear of reserved ranges."""
    space = base.vnet_range(address_space, SUBNET_PREFIX,
                            f"the environment's subnet is a /{SUBNET_PREFIX} (Container Apps' minimum "
                            f"is /{MIN_SUBNET_PREFIX})")
    subnet = next(space.subnets(new_prefix=SUBNET_PREFIX))
    base.reject_overlaps(address_space, subnet,
                         [(reserved, "which a Container Apps environment reserves")
                          for reserved in RESERVED_RANGES])
    return subnet


def endpoint_subnet(address_space: str) -> ipaddress.IPv4Network:
    """internal: the private endpoints' subnet, the /28 right after the environment's /23."""
    environment = infrastructure_subnet(address_space)
    space = ipaddress.ip_network(address_space)
    endpoints = ipaddress.ip_network(f"{environment.broadcast_address + 1}/{ENDPOINT_SUBNET_PREFIX}")
    if not endpoints.subnet_of(space):
        raise ConfigError(base.VNET_KEY, address_space,
                          f"has no room for the private endpoints' /{ENDPOINT_SUBNET_PREFIX} after the "
                          f"environment's /{SUBNET_PREFIX}, which internal: true needs",
                          f"give a /22 or larger range, like {DEFAULT_VNET_ADDRESS_SPACE}")
    base.reject_overlaps(address_space, endpoints, [(reserved, "which a Container Apps environment reserves")
                                                    for reserved in RESERVED_RANGES])
    return endpoints


def container_app_probe(kind: "app.Type", probe: Probe) -> "app.ContainerAppProbeArgs":
    """A launch-spec probe as a Container Apps HTTP probe; the API's minimum initial delay is 1 s."""
    if (probe.failure_threshold > PROBE_MAX_FAILURE_THRESHOLD
            or probe.period_seconds > PROBE_MAX_PERIOD_SECONDS
            or probe.timeout_seconds > PROBE_MAX_TIMEOUT_SECONDS
            or probe.initial_delay_seconds > PROBE_MAX_INITIAL_DELAY_SECONDS):
        raise ValueError(f"the launch spec's {kind.value.lower()} probe {probe} exceeds "
                         "Container Apps limits")
    return app.ContainerAppProbeArgs(
        type=kind,
        http_get=app.ContainerAppProbeHttpGetArgs(path=probe.path, port=probe.port, scheme=app.Scheme.HTTP),
        initial_delay_seconds=max(probe.initial_delay_seconds, PROBE_MIN_INITIAL_DELAY_SECONDS),
        period_seconds=probe.period_seconds,
        timeout_seconds=probe.timeout_seconds,
        failure_threshold=probe.failure_threshold)


def startup_probe(launch: LaunchSpec, model_id: str) -> Probe:
    """A startup probe whose window covers loading the weights, or a ConfigError if none can."""
    probe = launch.startup_probe(max_failure_threshold=PROBE_MAX_FAILURE_THRESHOLD,
                                 max_period_seconds=PROBE_MAX_PERIOD_SECONDS)
    longest = PROBE_MAX_FAILURE_THRESHOLD * PROBE_MAX_PERIOD_SECONDS
    if probe.period_seconds * probe.failure_threshold < launch.startup_window_seconds:
        raise ConfigError("model", model_id,
                          f"needs a {launch.startup_window_seconds} s startup window but Container Apps "
                          f"startup probes cover at most {longest} s (failureThreshold <= "
                          f"{PROBE_MAX_FAILURE_THRESHOLD}, periodSeconds <= {PROBE_MAX_PERIOD_SECONDS})",
                          "use host 'vm' or 'aks', whose probes have no such limit")
    return probe


def replica_allocation(sku: GpuSku) -> tuple[float, float]:
    """vCPUs and GiB of one replica (all its containers together), its share of the profile."""
    if sku.serverless:
        # a serverless GPU replica gets the whole profile: 24 vCPU / 220 GiB (A100), 8 / 56 GiB (T4)
        # (workload-profiles-overview: "8-24 vCPU, 56-220 GiB ... per replica"); the profile is
        # the ceiling for the sum of the replica's containers (Microsoft Q&A 5736611, answered by
        # Microsoft staff); whether Azure also accepts less for a GPU profile is not documented
        return float(sku.vcpus), float(sku.ram_gib)
    replicas_per_node = sku.gpu_count // sku.gpus_per_replica
    return (float((sku.vcpus - DEDICATED_RESERVED_VCPUS) // replicas_per_node),
            float((sku.ram_gib - DEDICATED_RESERVED_GIB) // replicas_per_node))


def gib(amount: float) -> str:
    return f"{amount:g}Gi"


def vllm_resources(sku: GpuSku) -> "app.ContainerResourcesArgs":
    """The replica's allocation minus the proxy's share."""
    cpu, memory = replica_allocation(sku)
    return app.ContainerResourcesArgs(cpu=cpu - PROXY_CPU, memory=gib(memory - PROXY_MEMORY_GIB))


def proxy_caddyfile(upstream_port: int) -> str:
    """Plain HTTP on PROXY_PORT (the ingress terminates TLS); the shared gateway rules, vLLM on loopback."""
    return render_caddyfile(GatewaySite(address=f":{PROXY_PORT}", upstream=f"127.0.0.1:{upstream_port}",
                                        tls=GatewayTls.NONE))


def proxy_container(upstream_port: int) -> "app.ContainerArgs":
    """Caddy beside vLLM in the same replica (shared network namespace), ingress's only target."""
    if upstream_port == PROXY_PORT:
        raise ValueError(f"vLLM's port {upstream_port} is the proxy's port")
    return app.ContainerArgs(
        name=PROXY_CONTAINER_NAME,
        image=CADDY_IMAGE,
        command=list(PROXY_COMMAND),
        env=[app.EnvironmentVarArgs(name=PROXY_CADDYFILE_ENV, value=proxy_caddyfile(upstream_port))],
        resources=app.ContainerResourcesArgs(cpu=PROXY_CPU, memory=gib(PROXY_MEMORY_GIB)),
        # Caddy listening is all this checks; vLLM's own probes decide when the replica is ready
        probes=[app.ContainerAppProbeArgs(
            type=app.Type.READINESS, tcp_socket=app.ContainerAppProbeTcpSocketArgs(port=PROXY_PORT),
            initial_delay_seconds=PROBE_MIN_INITIAL_DELAY_SECONDS, period_seconds=10,
            timeout_seconds=5, failure_threshold=3)])


def workload_profiles(sku: GpuSku, min_replicas: int, max_replicas: int) -> "list[app.WorkloadProfileArgs]":
    """Consumption plus the GPU profile; only a dedicated profile takes node counts."""
    consumption = app.WorkloadProfileArgs(name=CONSUMPTION_PROFILE, workload_profile_type=CONSUMPTION_PROFILE)
    if sku.serverless:
        # minimumCount/maximumCount on a Consumption GPU profile: WorkloadProfilePropertyNotSupported
        return [consumption, app.WorkloadProfileArgs(name=GPU_PROFILE_NAME, workload_profile_type=sku.name)]
    replicas_per_node = sku.gpu_count // sku.gpus_per_replica
    return [consumption, app.WorkloadProfileArgs(
        name=GPU_PROFILE_NAME, workload_profile_type=sku.name,
        minimum_count=math.ceil(min_replicas / replicas_per_node),
        maximum_count=max(1, math.ceil(max_replicas / replicas_per_node)))]


def ingress_fqdn(configuration: "app.outputs.ConfigurationResponse | None") -> str:
    """The app's ingress FQDN as Azure reports it (on the environment's domain, internal or not)."""
    fqdn = configuration.ingress.fqdn if configuration and configuration.ingress else None
    if not fqdn:
        raise ValueError("Azure reported no ingress FQDN for the container app")
    return fqdn


def cache_share_gib(cache_size_gib: int) -> int:
    return max(PREMIUM_SHARE_MIN_GIB, cache_size_gib)


@dataclass(frozen=True)
class AppLogs:
    """What the logging step hands on: the workspace and the key the environment sends logs with."""

    workspace: monitoring.LogsWorkspace
    shared_key: pulumi.Output[str]


@dataclass(frozen=True)
class AppNetwork:
    """What the network step hands on: the VNet, the environment's subnet, the vault's private access."""

    vnet: "network.VirtualNetwork"
    subnet: "network.Subnet"
    private_access: Optional[VaultPrivateAccess]


def vllm_container(plan: ServingPlan) -> "app.ContainerArgs":
    """vLLM as ``plan.launch`` says, secrets by Key Vault reference, weights on the cache volume."""
    launch = plan.launch
    return app.ContainerArgs(
        name=CONTAINER_NAME,  # first: the GPU goes to the first container
        image=launch.image,
        command=list(launch.command),
        args=list(launch.args),
        env=[app.EnvironmentVarArgs(name=key, value=value) for key, value in launch.env.items()]
        + [app.EnvironmentVarArgs(name=key, secret_ref=vault_name)
           for key, vault_name in launch.secret_env.items()],
        resources=vllm_resources(plan.gpu),
        # GPU apps get no default probes; the startup window covers loading the weights
        probes=[container_app_probe(app.Type.STARTUP, startup_probe(launch, plan.model.hf_id)),
                container_app_probe(app.Type.READINESS, launch.readiness),
                container_app_probe(app.Type.LIVENESS, launch.liveness)],
        volume_mounts=[app.VolumeMountArgs(volume_name=CACHE_VOLUME, mount_path=launch.cache_mount)])


def app_configuration(args: ContainerAppGpuArgs, secrets: ModelSecrets) -> "app.ConfigurationArgs":
    """Key Vault secret references and the HTTPS ingress, which reaches the proxy only."""
    return app.ConfigurationArgs(
        active_revisions_mode=app.ActiveRevisionsMode.SINGLE,
        # Key Vault references, resolved by the app through its identity: no secret values here
        secrets=[app.SecretArgs(name=vault_name, key_vault_url=secrets.secret_uris[vault_name],
                                identity=secrets.identity.id)
                 for vault_name in sorted(set(args.plan.launch.secret_env.values()))],
        ingress=app.IngressArgs(
            # in an internal environment "external" means reachable from the VNet only
            external=True,
            target_port=PROXY_PORT,  # the proxy, never vLLM's port directly
            transport=app.IngressTransportMethod.HTTP,
            allow_insecure=False,
            ip_security_restrictions=[
                app.IpSecurityRestrictionRuleArgs(name=f"allow-{index}", action=app.Action.ALLOW,
                                                  ip_address_range=cidr)
                for index, cidr in enumerate(args.allowed_cidrs)] or None))


def app_template(args: ContainerAppGpuArgs, cache: "app.ManagedEnvironmentsStorage") -> "app.TemplateArgs":
    """vLLM then the proxy in one replica, the NFS cache volume, HTTP-concurrency scaling."""
    return app.TemplateArgs(
        containers=[vllm_container(args.plan), proxy_container(args.plan.launch.port)],
        volumes=[app.VolumeArgs(name=CACHE_VOLUME, storage_type=app.StorageType.NFS_AZURE_FILE,
                                storage_name=cache.name)],
        scale=app.ScaleArgs(
            min_replicas=args.min_replicas, max_replicas=args.max_replicas,
            rules=[app.ScaleRuleArgs(name="http-concurrency", http=app.HttpScaleRuleArgs(
                metadata={"concurrentRequests": str(args.concurrent_requests)}))]))


# Container app names: 2-32 lowercase letters, digits and '-', starting with a letter, ending with a
# letter or digit (Microsoft Learn, "Naming rules and restrictions for Azure resources",
# Microsoft.App/containerApps). The app is auto-named "<name>-app-<7 random characters>".
CONTAINER_APP_NAME_MAX = 32
AUTONAME_SUFFIX = len("-app") + 8
COMPONENT_NAME = re.compile(rf"[a-z](?:[a-z0-9-]{{0,{CONTAINER_APP_NAME_MAX - AUTONAME_SUFFIX - 2}}}[a-z0-9])?")


def check_component_name(name: str) -> str:
    """A component name from which Azure-valid container app and environment names derive."""
    if not isinstance(name, str) or COMPONENT_NAME.fullmatch(name) is None or "--" in name:
        raise ConfigError("name", name, "cannot name a container app: its names derive from it and Azure "
                          f"takes 2-{CONTAINER_APP_NAME_MAX} lowercase letters, digits and single '-' "
                          f"(with '-app' and a random suffix added, the name may have "
                          f"{CONTAINER_APP_NAME_MAX - AUTONAME_SUFFIX})",
                          "name the component like 'apertus' or 'team-llm'")
    return name


class ContainerAppGpu(base.ServingComponent):
    """vLLM serving Apertus on a Container Apps GPU workload profile, secure by default."""

    resource_group_name: Optional[pulumi.Output[str]] = None
    """The resource group the component's resources are in."""
    container_app_name: Optional[pulumi.Output[str]] = None
    """The Container App's name (az containerapp logs show --name ...)."""
    log_analytics_workspace_id: Optional[pulumi.Output[str]] = None
    """The customer id of the Log Analytics workspace that holds the app's logs."""
    log_analytics_workspace_resource_id: Optional[pulumi.Output[str]] = None
    """The resource id of the Log Analytics workspace (the component's own, or the one given)."""
    dashboard_url: Optional[pulumi.Output[str]] = None
    """Portal URL of the deployment's Azure Monitor workbook (none with alerts: false)."""
    action_group_id: Optional[pulumi.Output[str]] = None
    """The action group every alert goes to (none with alerts: false)."""

    def __init__(self, name: str, args: ContainerAppGpuArgs, opts: Optional[pulumi.ResourceOptions] = None):
        with speaking_of(type(self).__name__):  # "ContainerAppGpu: name = ...", the first argument
            check_component_name(name)
        args = ContainerAppGpuArgs.of(args)  # the component provider passes a dict
        super().__init__("apertus:index:ContainerAppGpu", name, None, base.gated(opts, args))
        child = pulumi.ResourceOptions(parent=self)
        group = base.resource_group(name, args, self)
        self.api_key = base.api_key(name, args, self)
        logs = self._logs(name, args, group, child)
        net = self._network(name, args, group, child)
        # identity and secrets: the workload's identity, the Key Vault with the API key and HF token
        secrets = ModelSecrets(f"{name}-secrets", ModelSecretsArgs(
            resource_group_name=group, location=args.location, api_key=self.api_key,
            hf_token=args.hf_token, tags=args.all_tags, private_access=net.private_access), opts=child)
        environment = self._environment(name, args, group, net.subnet, logs)
        cache = self._model_cache(name, args, group, net.subnet, environment, child)
        if args.internal:
            self._private_dns(name, group, net.vnet, environment, args.all_tags, child)
        container_app = self._workload(name, args, group, environment, secrets, cache)
        fqdn = container_app.configuration.apply(ingress_fqdn)
        watched = monitoring.watch_containerapp(name, args, group, logs.workspace, container_app, fqdn, self)
        self._register(args.plan, pulumi.Output.concat("https://", fqdn, "/v1"), {
            "resourceGroupName": group,
            "containerAppName": container_app.name,
            "logAnalyticsWorkspaceId": logs.workspace.customer_id,
            **watched,
        })

    def _logs(self, name: str, args: ContainerAppGpuArgs, group: pulumi.Output[str],
              child: pulumi.ResourceOptions) -> AppLogs:
        """The Log Analytics workspace the environment sends its logs to, and its shared key."""
        workspace = monitoring.log_analytics_workspace(name, group, args.location, args.all_tags, child,
                                                       existing_id=args.log_analytics_workspace_id)
        keys = operationalinsights.get_shared_keys_output(
            resource_group_name=workspace.resource_group_name, workspace_name=workspace.name,
            opts=pulumi.InvokeOutputOptions(parent=self))
        return AppLogs(workspace=workspace, shared_key=keys.primary_shared_key)

    def _network(self, name: str, args: ContainerAppGpuArgs, group: pulumi.Output[str],
                 child: pulumi.ResourceOptions) -> AppNetwork:
        """The VNet, the environment's delegated subnet and, internal, the private endpoints' subnet."""
        vnet = network.VirtualNetwork(
            f"{name}-vnet", resource_group_name=group, location=args.location,
            address_space=network.AddressSpaceArgs(address_prefixes=[args.vnet_address_space]),
            tags=args.all_tags, opts=child)
        subnet = network.Subnet(
            f"{name}-aca-subnet", resource_group_name=group, virtual_network_name=vnet.name,
            address_prefix=str(infrastructure_subnet(args.vnet_address_space)),
            delegations=[network.DelegationArgs(name="container-apps",
                                                service_name="Microsoft.App/environments")],
            # the NFS share admits this subnet only, through a service endpoint
            service_endpoints=[network.ServiceEndpointPropertiesFormatArgs(service="Microsoft.Storage")],
            opts=child)
        private_access = None
        if args.internal:
            endpoints = network.Subnet(
                f"{name}-endpoints", resource_group_name=group, virtual_network_name=vnet.name,
                address_prefix=str(endpoint_subnet(args.vnet_address_space)),
                # one subnet operation at a time on a VNet: Azure rejects concurrent ones
                opts=pulumi.ResourceOptions(parent=self, depends_on=[subnet]))
            private_access = VaultPrivateAccess(subnet_id=endpoints.id, vnet_id=vnet.id)
        return AppNetwork(vnet=vnet, subnet=subnet, private_access=private_access)

    def _environment(self, name: str, args: ContainerAppGpuArgs, group: pulumi.Output[str],
                     subnet: "network.Subnet", logs: AppLogs) -> "app.ManagedEnvironment":
        """The workload-profiles environment in the subnet: Consumption plus the plan's GPU profile."""
        return app.ManagedEnvironment(
            f"{name}-env", resource_group_name=group, location=args.location,
            app_logs_configuration=app.AppLogsConfigurationArgs(
                destination="log-analytics",
                log_analytics_configuration=app.LogAnalyticsConfigurationArgs(
                    customer_id=logs.workspace.customer_id,
                    shared_key=pulumi.Output.secret(logs.shared_key))),
            vnet_configuration=app.VnetConfigurationArgs(infrastructure_subnet_id=subnet.id,
                                                         internal=args.internal),
            workload_profiles=workload_profiles(args.plan.gpu, args.min_replicas, args.max_replicas),
            tags=args.all_tags, opts=pulumi.ResourceOptions(
                parent=self,
                # Azure applies a GPU profile only when the environment is created: a new gpu (profile
                # type) means a new environment; node counts of a dedicated profile change in place
                # (property path with [*]: Pulumi "Property Paths", used by replaceOnChanges). Its
                # delegated subnet takes one environment at a time, so the old one goes first (delete
                # before replace), and the app in it with it (_workload).
                replace_on_changes=[GPU_PROFILE_TYPE_PATH], delete_before_replace=True))

    def _workload(self, name: str, args: ContainerAppGpuArgs, group: pulumi.Output[str],
                  environment: "app.ManagedEnvironment", secrets: ModelSecrets,
                  cache: "app.ManagedEnvironmentsStorage") -> "app.ContainerApp":
        """The container app on the GPU profile: vLLM and its proxy, behind the HTTPS ingress."""
        return app.ContainerApp(
            f"{name}-app", resource_group_name=group, location=args.location,
            managed_environment_id=environment.id, workload_profile_name=GPU_PROFILE_NAME,
            identity=app.ManagedServiceIdentityArgs(
                type=app.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[secrets.identity.id]),
            configuration=app_configuration(args, secrets),
            template=app_template(args, cache),
            tags=args.all_tags,
            # the secrets resolve at creation: the identity must be able to read them by then (and,
            # internal, reach the vault through its private endpoint and resolve its name).
            # An app cannot move to another environment: a new environment means a new app, and the
            # old one must go before its environment can be deleted
            opts=pulumi.ResourceOptions(parent=self, depends_on=secrets.readers_wait_for,
                                        replace_on_changes=["managedEnvironmentId"],
                                        delete_before_replace=True))

    def _model_cache(self, name: str, args: ContainerAppGpuArgs, group: pulumi.Output[str],
                     subnet: "network.Subnet", environment: "app.ManagedEnvironment",
                     child: pulumi.ResourceOptions) -> "app.ManagedEnvironmentsStorage":
        """A Premium NFS share, open to the environment's subnet only, linked to the environment."""
        # account names are global, 3-24 lowercase letters and digits
        suffix = random.RandomString(f"{name}-st-suffix", length=8, special=False, upper=False, opts=child)
        prefix = "".join(ch for ch in dns_safe(name, 12) if ch.isalnum())
        account = storage.StorageAccount(
            f"{name}-cache-st", resource_group_name=group, location=args.location,
            account_name=pulumi.Output.concat("st", prefix, suffix.result),
            kind=storage.Kind.FILE_STORAGE,
            sku=storage.SkuArgs(name=storage.SkuName.PREMIUM_LRS),
            # NFS has no in-transit encryption on this path: with secure transfer required the
            # mount fails with "access denied" (azureossd.github.io, 2025-10-17); the network
            # rules below are what keep it private
            enable_https_traffic_only=False,
            allow_shared_key_access=False,  # NFS mounts use no key; nothing here needs one
            allow_blob_public_access=False,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            network_rule_set=storage.NetworkRuleSetArgs(
                default_action=storage.DefaultAction.DENY,
                virtual_network_rules=[storage.VirtualNetworkRuleArgs(
                    virtual_network_resource_id=subnet.id, action=storage.Action.ALLOW)]),
            tags=args.all_tags, opts=child)
        share = storage.FileShare(
            f"{name}-cache-share", resource_group_name=group, account_name=account.name,
            share_name=CACHE_SHARE, enabled_protocols=storage.EnabledProtocols.NFS,
            root_squash=storage.RootSquashType.NO_ROOT_SQUASH,  # vLLM runs as root and writes the cache
            share_quota=cache_share_gib(args.plan.cold_start.cache.size_gib), opts=child)
        server = account.primary_endpoints.apply(lambda endpoints: urlparse(endpoints.file).hostname)
        return app.ManagedEnvironmentsStorage(
            f"{name}-cache", resource_group_name=group, environment_name=environment.name,
            storage_name=CACHE_VOLUME,
            properties=app.ManagedEnvironmentStoragePropertiesArgs(
                nfs_azure_file=app.NfsAzureFilePropertiesArgs(
                    server=server, share_name=pulumi.Output.concat("/", account.name, "/", share.name),
                    access_mode=app.AccessMode.READ_WRITE)),
            opts=child)

    def _private_dns(self, name: str, group: pulumi.Output[str], vnet: "network.VirtualNetwork",
                     environment: "app.ManagedEnvironment", tags: dict[str, str],
                     child: pulumi.ResourceOptions) -> None:
        """An internal environment's apps resolve in the VNet through a zone named after its domain
        (learn.microsoft.com/azure/container-apps/vnet-custom-internal: zone, VNet link, ``*`` A record)."""
        zone = privatedns.PrivateZone(f"{name}-env-dns", resource_group_name=group, location="Global",
                                      private_zone_name=environment.default_domain, tags=tags, opts=child)
        privatedns.VirtualNetworkLink(
            f"{name}-env-dns-link", resource_group_name=group, private_zone_name=zone.name,
            location="Global", registration_enabled=False,
            virtual_network=privatedns.SubResourceArgs(id=vnet.id), tags=tags, opts=child)
        privatedns.PrivateRecordSet(
            f"{name}-env-dns-apps", resource_group_name=group, private_zone_name=zone.name,
            record_type="A", relative_record_set_name="*", ttl=300,
            a_records=[privatedns.ARecordArgs(ipv4_address=environment.static_ip)], opts=child)
