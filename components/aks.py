"""AKS host: Apertus on GPU node pools, scaled on vLLM's queue depth, optionally on spot.

Azure side (this file): a VNet of the component's own (``vnet_address_space``, laid out by
``cluster_network``) with the node subnet, an AKS cluster (a user-assigned control-plane identity
holding Network Contributor on the subnets it uses, OIDC issuer + workload identity, Azure CNI overlay with
Cilium network policy and explicit pod/service ranges, Azure RBAC for Kubernetes, local accounts
disabled, Container Insights with its data collection rule, KEDA and Key Vault CSI add-ons), a
small system pool (zonal where the region has zones), the GPU pool(s), a weekly node OS upgrade
window, the identity federated with the vLLM service account, and AKS cluster admin for the
identity running Pulumi on that cluster only; the Kubernetes provider waits until the API server
honours it (``await_cluster_admin``). Kubernetes side: components/k8s_workload.py.

Entry point: the Caddy gateway, HTTPS only. Public: a Let's Encrypt certificate for the public
IP's Azure DNS name. ``internal=True``: an internal load balancer on a fixed private IP in a
subnet of its own (the first usable address of the /28 after the node subnet), with a certificate
for that IP from Caddy's own CA; the ``caCertificateCommand`` output prints the root clients must
trust.

Spot (``spot=True``): a Spot GPU pool (Delete on eviction, max price -1) plus an on-demand GPU
pool with minimum 0. The vLLM pods tolerate spot and prefer it; the cluster autoscaler's priority
expander tries the spot pool first and falls back to on-demand when spot capacity cannot be had.
"""

import asyncio
import base64
import ipaddress
import json
import math
import os
import re
import ssl
import subprocess
import time
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime import mocks as pulumi_mocks, settings as pulumi_settings
import pulumi_random as random
import yaml
from pulumi_azure_native import (authorization, containerservice, managedidentity, monitor, network,
                                  privatedns, storage)

from . import base, k8s_common, k8s_gateway, k8s_monitoring, k8s_vllm, k8s_workload, monitoring
from .secrets import ModelSecrets, ModelSecretsArgs, VaultPrivateAccess
from .serving import ConfigError, checks
from .serving.regions import normalize_region
from .serving import rules

# AKS supports three GA minor versions for 12 months each ("Supported Kubernetes versions in
# AKS"); 1.35 (upstream Dec 2025) is inside that window through 2026. `az aks get-versions -l <region>`
DEFAULT_KUBERNETES_VERSION = "1.35"
SYSTEM_VM_SIZE = "Standard_D4ds_v5"  # 4 vCPU / 16 GiB general purpose: KEDA, Caddy, Prometheus, add-ons
SYSTEM_NODES = (2, 3)  # AKS system pool guidance: at least two nodes so one can be upgraded at a time
# zones 1-3: the system pool survives a zone outage where the region has zones; GPU pools stay
# regional because GPU sizes are often offered in only some zones. AKS rejects zones in a region
# without them, so the pool is zonal only in these (public-cloud regions listed with three zones in
# Microsoft's "Azure regions with availability zone support" / "Azure regions list"; written from
# that list, not checked against a live subscription: `az account list-locations --query
# "[?availabilityZoneMappings]"` shows yours). A region missing here just gets a regional pool.
SYSTEM_ZONES = ["1", "2", "3"]
ZONAL_REGIONS = frozenset({
    # Americas
    "brazilsouth", "canadacentral", "centralus", "chilecentral", "eastus", "eastus2", "mexicocentral",
    "southcentralus", "westus2", "westus3",
    # Europe
    "austriaeast", "belgiumcentral", "francecentral", "germanywestcentral", "italynorth", "northeurope",
    "norwayeast", "polandcentral", "spaincentral", "swedencentral", "switzerlandnorth", "uksouth",
    "westeurope",
    # Middle East and Africa
    "israelcentral", "qatarcentral", "southafricanorth", "uaenorth",
    # Asia Pacific
    "australiaeast", "centralindia", "eastasia", "indonesiacentral", "japaneast", "japanwest",
    "koreacentral", "malaysiawest", "newzealandnorth", "southeastasia",
})
GPU_POOL, SPOT_POOL = "gpu", "gpuspot"  # Linux pool names: lowercase alphanumeric, at most 12
MAX_NODES_PER_POOL = 1000  # AKS quotas and limits: 1,000 nodes per node pool
DEFAULT_QUEUE_DEPTH_TARGET = 5  # waiting requests per replica before KEDA adds one

# Built-in role "Azure Kubernetes Service RBAC Cluster Admin" (Azure built-in roles reference), on the
# cluster only. Cluster-wide, not the namespaced "Azure Kubernetes Service RBAC Admin": Pulumi creates
# cluster-scoped objects (the Namespace, StorageClasses) and objects in kube-system (NVIDIA's device
# plugin, the agents' ConfigMaps, the autoscaler's priorities).
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
# A cluster-scoped assignment can only be made once the cluster exists, and Azure RBAC reaches AKS
# minutes later ("Use Azure role-based access control for Kubernetes Authorization": new role
# assignments "can take up to five minutes to propagate and be updated by the authorization server").
# pulumi-kubernetes retries a create only on NotFound and NoMatch (provider/pkg/await/await.go,
# Creation: retrier.Do(apierrors.IsNotFound, meta.IsNoMatchError)), so a 403 Forbidden fails the run;
# its maintainers: "We currently do not attempt any retries if a create/update/delete request fails"
# (pulumi/pulumi-kubernetes#3429). So the provider's kubeconfig resolves only once the API server says
# the deployer may create a Namespace (a SelfSubjectAccessReview, what `kubectl auth can-i` asks):
# polled every ADMIN_POLL_SECONDS for at most ADMIN_WAIT_SECONDS, three times the documented delay.
ADMIN_WAIT_SECONDS = 15 * 60
ADMIN_POLL_SECONDS = 15
ADMIN_PROBE = {"verb": "create", "resource": "namespaces"}  # the first object Pulumi creates
# Microsoft Entra application of the AKS API server: the audience kubelogin requests tokens for
# (Azure/kubelogin docs, "--server-id")
AKS_AAD_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"

# The principal type of a role assignment must match the principal, or Azure refuses it
# (UnmatchedPrincipalType); azure-native sends none unless told. A person signs in to ARM through a
# first-party public client, whose app id is then the client id Pulumi reports: Microsoft Azure CLI
# and Microsoft Azure PowerShell (Microsoft Learn, "Verify first-party Microsoft applications in
# sign-in reports"; the same ids in Azure Stack Hub's "Azure Stack Hub REST API" token examples).
# Any other client id is an application: a service principal or managed identity, as CI runs.
USER_SIGN_IN_CLIENTS = frozenset({
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46",  # Microsoft Azure CLI
    "1950a258-227b-4e31-a9cf-717495945fc2",  # Microsoft Azure PowerShell
})
# authorization.PrincipalType values a deployer can be (Microsoft.Authorization roleAssignments API)
DEPLOYER_PRINCIPAL_TYPES = ("User", "ServicePrincipal", "Group")

# How the Kubernetes provider signs in: kubelogin's login modes for a non-interactive run
# (Azure/kubelogin docs, "Login Modes" and "get-token"); each call of the exec plugin gets a fresh
# token, so nothing expires in state. azurecli: the `az login` session; spn: a service principal
# with AZURE_CLIENT_SECRET (or AAD_SERVICE_PRINCIPAL_CLIENT_SECRET) in the environment;
# workloadidentity: a federated token in AZURE_FEDERATED_TOKEN_FILE; msi: the machine's managed identity.
KUBELOGIN_MODES = ("azurecli", "spn", "workloadidentity", "msi")
DEFAULT_KUBELOGIN_MODE = "azurecli"
# modes that sign in as an application: they name its client id and tenant (not secrets)
KUBELOGIN_APP_MODES = frozenset({"spn", "workloadidentity", "msi"})
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
WORKLOAD_IDENTITY_AUDIENCE = "api://AzureADTokenExchange"

# Built-in role "Network Contributor" (Azure built-in roles reference), given to the cluster identity
# on the subnets the cluster uses, not on the VNet. What it needs there is to read and join them:
# "Microsoft.Network/virtualNetworks/subnets/read, .../subnets/join/action: Required if using a
# subnet in another resource group such as a custom VNET", and subnets/read for an internal load
# balancer's subnet ("AKS service permissions reference", Additional AKS cluster identity
# permissions). "To use customer-managed subnets, the cluster identity needs Network Contributor
# permissions, or equivalent custom permissions, on the subnets" ("Configure Azure CNI Powered by
# Cilium in AKS", prerequisites; "the subnet within your virtual network": "CNI networking in AKS",
# prerequisites). So: the node subnet, and with internal=True the internal load balancer's subnet
# ("Use an internal load balancer with AKS" asks for the VNet, but the custom role it lists holds
# only those two subnet actions). No API server subnet: this cluster has no API server VNet
# integration (api_server_access_profile names none), and a private cluster's "system" DNS zone is
# AKS's own, in the node resource group. Assigned before the cluster exists (the Azure CLI makes the
# same assignment on the subnet when it creates a cluster in one), hence a user-assigned identity.
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
# internal: Azure Files over NFS behind a private endpoint, all made here, mounted as static volumes
# (components/k8s_common.py private_files_claim). Left to the CSI driver (networkEndpointType:
# privateEndpoint) the cluster identity would need the private DNS zone privatelink.file.core.windows.net,
# which the driver creates in the VNet's group when missing, its VNet link, and the private endpoint
# and its zone group in that group (cloud-provider-azure pkg/provider/azure_storageaccount.go,
# EnsureStorageAccount; the driver's README asks for Contributor on the VNet's resource group). Made
# by Pulumi, the cluster identity needs no role for them, and Pulumi owns (and deletes) every one.
FILES_PRIVATE_LINK_GROUP = "file"  # the storage account's sub-resource for Azure Files
FILES_PRIVATE_DNS_ZONE = "privatelink.file.core.windows.net"  # "Azure Private Endpoint DNS configuration"

# API server authorized IP ranges: "You can specify up to 200 authorized IP ranges"; not with private
# clusters (Microsoft Learn, "Secure access to the API server using authorized IP address ranges").
# They are matched against the public address a request comes from: a private range never matches.
API_ALLOWED_CIDRS_KEY = "apiAllowedCidrs"
API_PUBLIC_KEY = "apiPublic"
API_PRIVATE_KEY = "apiPrivate"
MAX_API_ALLOWED_CIDRS = 200
# never a public source address: private (RFC 1918), shared carrier-grade NAT (RFC 6598), loopback
# and link-local (RFC 1122, RFC 3927)
NON_PUBLIC_RANGES = tuple(ipaddress.ip_network(cidr) for cidr in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"))

# Container Insights with managed-identity auth (omsagent `useAADAuth`) sends data only where a data
# collection rule says; the portal and CLI create it, IaC must (microsoft/Docker-Provider,
# scripts/onboarding/aks/onboarding-msi-terraform: DCR "MSCI-<region>-<cluster>", extension
# ContainerInsights, association "ContainerInsightsExtension" on the cluster)
CONTAINER_INSIGHTS_STREAMS = ["Microsoft-ContainerInsights-Group-Default"]
CONTAINER_INSIGHTS_ASSOCIATION = "ContainerInsightsExtension"
CONTAINER_INSIGHTS_DESTINATION = "ciworkspace"
DCR_NAME_MAX = 64  # data collection rule names: 64 characters at most (Docker-Provider trims to it)

# Node OS image upgrades (node_os_upgrade_channel NodeImage) run only in this window: weekly, Sunday
# from 02:00 UTC for 4 hours ("Use planned maintenance to schedule and control upgrades": the
# aksManagedNodeOSUpgradeSchedule configuration; windows are at least 4 hours)
NODE_OS_MAINTENANCE = "aksManagedNodeOSUpgradeSchedule"
MAINTENANCE_DAY, MAINTENANCE_START, MAINTENANCE_HOURS = "Sunday", "02:00", 4  # containerservice.WeekDay

# ---- network: the component's own VNet, so every range is known before anything exists ----
# Azure CNI overlay: pods get addresses from POD_CIDR, a fixed /24 per node; Services from
# SERVICE_CIDR. Both are AKS's defaults ("Configure Azure CNI Overlay networking", az aks create),
# set explicitly so the checks below hold. Neither may overlap the VNet, nor networks that reach it.
POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
SERVICE_CIDR = ipaddress.ip_network("10.0.0.0/16")
DNS_SERVICE_IP = "10.0.0.10"  # inside SERVICE_CIDR, not its first address (kubernetes.default)
NODE_POD_PREFIX = 24  # overlay gives every node a /24 of POD_CIDR; the size is fixed
MAX_CLUSTER_NODES = 2 ** (NODE_POD_PREFIX - POD_CIDR.prefixlen)  # 256 nodes, surge nodes included
# A pool upgrade adds up to 10% more nodes (rounded up) while it runs: AKS's default max surge
# (maxSurge in the AKS agent pool API and Az.Aks -MaxSurge: "If not specified, the default is 10%")
UPGRADE_SURGE_PERCENT = 10
# AKS may not use these for the VNet, pod or service ranges (Azure CNI networking, prerequisites)
AKS_RESERVED_RANGES = tuple(ipaddress.ip_network(cidr) for cidr in (
    "169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24"))
# Nodes take the VNet's first /23: 507 usable addresses (Azure keeps 5 per subnet), more than the
# 256 nodes POD_CIDR allows. The internal load balancer takes the /28 after it ("Use an internal
# load balancer with AKS": a fixed IP must not be one the node subnet hands out; a subnet of its
# own is the documented way). /29 is Azure's smallest subnet.
NODE_SUBNET_PREFIX = 23
GATEWAY_SUBNET_PREFIX = 28
ENDPOINT_SUBNET_PREFIX = 28  # internal: the vault's and the shares' private endpoints, after the gateway's
MIN_VNET_PREFIX = 22  # the node /23, then the gateway /28 and the endpoints /28
NODE_SUBNET_NAME = "nodes"
GATEWAY_SUBNET_NAME = "internal-lb"  # the Service names it in azure-load-balancer-internal-subnet
ENDPOINT_SUBNET_NAME = "private-endpoints"
AZURE_RESERVED_LOW = 4  # Azure keeps the first four addresses and the last one of every subnet


@dataclass(frozen=True)
class ClusterNetwork:
    """Where the cluster's addresses come from, all inside ``vnet`` and fixed before deployment."""

    vnet: ipaddress.IPv4Network
    nodes: ipaddress.IPv4Network
    gateway_subnet: ipaddress.IPv4Network
    gateway_ip: ipaddress.IPv4Address
    """The internal load balancer's address: the first usable one of ``gateway_subnet``."""
    endpoint_subnet: ipaddress.IPv4Network
    """internal: the Key Vault's and the file shares' private endpoints, the /28 after ``gateway_subnet``."""


def cluster_network(address_space: str) -> ClusterNetwork:
    """The VNet's layout: nodes in its first /23, the internal load balancer in the /28 after it."""
    vnet = base.vnet_range(address_space, MIN_VNET_PREFIX,
                           f"nodes take its first /{NODE_SUBNET_PREFIX}, the internal load balancer "
                           f"the /{GATEWAY_SUBNET_PREFIX} after it")
    base.reject_overlaps(address_space, vnet, [
        (POD_CIDR, "the cluster's pod range (Azure CNI overlay)"),
        (SERVICE_CIDR, "the cluster's Kubernetes service range"),
        *((cidr, "a range AKS reserves") for cidr in AKS_RESERVED_RANGES)])
    nodes = next(vnet.subnets(new_prefix=NODE_SUBNET_PREFIX))
    gateway_subnet = ipaddress.ip_network(f"{nodes.broadcast_address + 1}/{GATEWAY_SUBNET_PREFIX}")
    endpoint_subnet = ipaddress.ip_network(f"{gateway_subnet.broadcast_address + 1}/{ENDPOINT_SUBNET_PREFIX}")
    return ClusterNetwork(vnet=vnet, nodes=nodes, gateway_subnet=gateway_subnet,
                          gateway_ip=gateway_subnet.network_address + AZURE_RESERVED_LOW,
                          endpoint_subnet=endpoint_subnet)


# An AKS version as the cluster takes it here: Kubernetes major 1, a minor without leading zeros
# (AKS lists minors like 1.33, 1.34, 1.35: `az aks get-versions`); the patch is AKS's to keep
# current (upgrade channel 'patch'). Whether the region runs that minor is preflight's question.
KUBERNETES_MINOR = re.compile(r"1\.[1-9][0-9]?")
# AKS runs only recent minors (1.3x in 2026: learn.microsoft.com/azure/aks/supported-kubernetes-versions);
# a one-digit minor is what YAML makes of an unquoted 1.30 (the number 1.3), so it gets its own message
KUBERNETES_OLDEST_PLAUSIBLE_MINOR = 10


def with_upgrade_surge(nodes: int) -> int:
    """A pool's node count while an upgrade adds its surge nodes (10%, rounded up)."""
    return nodes + (nodes * UPGRADE_SURGE_PERCENT + 99) // 100


@dataclass(frozen=True)
class AksGpuClusterArgs(base.ServingArgs):
    """Host fields for AKS. GPU node bounds default to what the replica bounds need.

    ``gpu_nodes_min``/``gpu_nodes_max`` of None: minReplicas' nodes, and maxReplicas' nodes plus
    room for one more replica, so a rolling update can start the new pod before the old one stops.
    ``vnet_address_space``: the IPv4 range of the component's VNet (see ``cluster_network``).
    """

    # each field's meaning, default and config key: components/serving/settings.py, shown by
    # help() of the host args, in the component package schema and in docs/configuration.md
    min_replicas: Optional[int] = None
    max_replicas: Optional[int] = None
    spot: Optional[bool] = False
    gpu_nodes_min: Optional[int] = None
    gpu_nodes_max: Optional[int] = None
    kubernetes_version: Optional[str] = DEFAULT_KUBERNETES_VERSION
    queue_depth_target: Optional[int] = DEFAULT_QUEUE_DEPTH_TARGET
    vnet_address_space: Optional[str] = base.DEFAULT_VNET_ADDRESS_SPACE

    deployer_principal_type: Optional[str] = None
    kubelogin_mode: Optional[str] = DEFAULT_KUBELOGIN_MODE
    api_allowed_cidrs: Optional[Sequence[str]] = ()
    api_public: Optional[bool] = False
    api_private: Optional[bool] = False

    _host = "aks"
    _network_cache = True  # weights on a premium Azure Files share all replicas share (SMB; internal: NFS)

    def __post_init__(self) -> None:
        super().__post_init__()

        def put(name: str, value) -> None:
            object.__setattr__(self, name, value)

        low, high = checks.replica_bounds("aks", self.min_replicas, self.max_replicas)
        put("min_replicas", low)
        put("max_replicas", high)
        put("spot", False if self.spot is None else checks.boolean("spot", self.spot))
        for name, key in (("gpu_nodes_min", "gpuNodesMin"), ("gpu_nodes_max", "gpuNodesMax")):
            if getattr(self, name) is not None:
                put(name, checks.whole_number(key, getattr(self, name), minimum=0))
        put("kubernetes_version", checks.text("kubernetesVersion",
                                              self.kubernetes_version or DEFAULT_KUBERNETES_VERSION))
        put("queue_depth_target", checks.whole_number(
            "queueDepthTarget", DEFAULT_QUEUE_DEPTH_TARGET if self.queue_depth_target is None
            else self.queue_depth_target, minimum=1))
        put("vnet_address_space", base.DEFAULT_VNET_ADDRESS_SPACE if self.vnet_address_space is None
            else checks.text(base.VNET_KEY, self.vnet_address_space))
        put("api_allowed_cidrs", checks.parse_cidrs(API_ALLOWED_CIDRS_KEY, self.api_allowed_cidrs))
        put("api_public", False if self.api_public is None else checks.boolean(API_PUBLIC_KEY, self.api_public))
        put("api_private", False if self.api_private is None else checks.boolean(API_PRIVATE_KEY, self.api_private))
        put("deployer_principal_type", checks.optional_text("deployerPrincipalType", self.deployer_principal_type))
        put("kubelogin_mode", checks.text("kubeloginMode", self.kubelogin_mode or DEFAULT_KUBELOGIN_MODE))
        plan = self.plan
        if self.deployer_principal_type is not None and \
                self.deployer_principal_type not in DEPLOYER_PRINCIPAL_TYPES:
            raise ConfigError("deployerPrincipalType", self.deployer_principal_type,
                              "is not a principal type Azure role assignments take",
                              f"use one of {', '.join(DEPLOYER_PRINCIPAL_TYPES)}, or remove it to detect it")
        if self.kubelogin_mode not in KUBELOGIN_MODES:
            raise ConfigError("kubeloginMode", self.kubelogin_mode, "is not a kubelogin login mode "
                              "this program supports", f"use one of {', '.join(KUBELOGIN_MODES)}")
        if plan.tensor_parallel_size > plan.gpu.gpu_count:
            raise ConfigError("gpu", plan.gpu.name,
                              f"has {plan.gpu.gpu_count} GPU(s) per node but the plan needs tensor "
                              f"parallel size {plan.tensor_parallel_size} on one node",
                              "use a size with at least that many GPUs, e.g. Standard_NC96ads_A100_v4")
        if not KUBERNETES_MINOR.fullmatch(self.kubernetes_version):
            raise ConfigError("kubernetesVersion", self.kubernetes_version,
                              "must be a Kubernetes minor version like '1.35'",
                              "give major.minor; AKS picks the latest patch and keeps it patched")
        if int(self.kubernetes_version.split(".")[1]) < KUBERNETES_OLDEST_PLAUSIBLE_MINOR:
            raise ConfigError("kubernetesVersion", self.kubernetes_version,
                              "is not a version AKS runs; an unquoted 1.30 in a stack file reaches the "
                              "program as the number 1.3",
                              f"quote it: kubernetesVersion: \"1.{self.kubernetes_version.split('.')[1]}0\" "
                              f"(or the default {DEFAULT_KUBERNETES_VERSION})",
                              args_why="is not a version AKS runs",
                              args_fix=f"pass major.minor as a string, like '{DEFAULT_KUBERNETES_VERSION}' "
                              "(the default)")
        if self.min_replicas < 1:
            raise ConfigError("minReplicas", self.min_replicas,
                              "host 'aks' scales on the queue depth its running replicas report, so with "
                              "0 replicas nothing would ever scale it up",
                              "set minReplicas to 1 or more, or use host 'containerapp' to scale to zero")
        if self.queue_depth_target < 1:
            raise ConfigError("queueDepthTarget", self.queue_depth_target, "must be at least 1",
                              f"use {DEFAULT_QUEUE_DEPTH_TARGET} (waiting requests per replica)")
        low, high = self.gpu_node_bounds
        per_node = self.replicas_per_node
        for key, value in (("gpuNodesMin", low), ("gpuNodesMax", high)):
            if not 0 <= value <= MAX_NODES_PER_POOL:
                raise ConfigError(key, value, f"must be between 0 and {MAX_NODES_PER_POOL}",
                                  "AKS allows at most 1,000 nodes per node pool")
        if low > high:
            raise ConfigError("gpuNodesMin", low, f"is above gpuNodesMax ({high})",
                              f"set gpuNodesMin <= {high} or raise gpuNodesMax")
        if self.max_replicas > high * per_node:
            raise ConfigError("maxReplicas", self.max_replicas,
                              f"needs {math.ceil(self.max_replicas / per_node)} GPU nodes of {plan.gpu.name} "
                              f"({per_node} replica(s) per node at TP {plan.tensor_parallel_size}) but "
                              f"gpuNodesMax is {high}",
                              f"raise gpuNodesMax to at least {math.ceil(self.max_replicas / per_node)} "
                              f"or lower maxReplicas to {high * per_node}")
        peak = self.peak_nodes(high)
        if peak > MAX_CLUSTER_NODES:
            pools = len(gpu_pools_named(self.spot))
            fits = max(n for n in range(high + 1) if self.peak_nodes(n) <= MAX_CLUSTER_NODES)
            key, value, fix = (
                ("gpuNodesMax", high, f"set gpuNodesMax to {fits} or less") if self.gpu_nodes_max is not None
                else ("maxReplicas", self.max_replicas,
                      f"lower maxReplicas to {fits * per_node - 1}, or set gpuNodesMax to {fits} or less"))
            raise ConfigError(key, value,
                              f"lets the cluster reach {peak} nodes ({pools} GPU pool(s) of up to {high} and "
                              f"{SYSTEM_NODES[1]} system nodes, plus {UPGRADE_SURGE_PERCENT}% upgrade surge) "
                              f"but the pod range {POD_CIDR} has a /{NODE_POD_PREFIX} for only "
                              f"{MAX_CLUSTER_NODES} nodes", fix)
        cluster_network(self.vnet_address_space)
        # last: a mistake in another key is named first; an unset apiAllowedCidrs is often the only one
        check_api_access(self.api_allowed_cidrs, self.internal, self.api_public, self.api_private)

    @property
    def network(self) -> ClusterNetwork:
        return cluster_network(self.vnet_address_space)

    def peak_nodes(self, gpu_nodes_max: int) -> int:
        """Nodes the cluster can hold at once: every pool at its maximum, upgrading with surge."""
        gpu = with_upgrade_surge(gpu_nodes_max) * len(gpu_pools_named(self.spot))
        return with_upgrade_surge(SYSTEM_NODES[1]) + gpu

    @property
    def replicas_per_node(self) -> int:
        return k8s_vllm.replicas_per_node(self.plan.gpu, self.plan.tensor_parallel_size)

    @property
    def gpu_node_bounds(self) -> tuple[int, int]:
        per_node = self.replicas_per_node
        low = (self.gpu_nodes_min if self.gpu_nodes_min is not None
               else math.ceil(self.min_replicas / per_node))
        high = (self.gpu_nodes_max if self.gpu_nodes_max is not None
                else max(low, math.ceil((self.max_replicas + 1) / per_node)))
        return low, high


@dataclass(frozen=True)
class AsWritten:
    """A value an error echoes the way the stack file spells it: YAML ``true``, not Python's ``True``
    (ConfigError shows a value's repr)."""

    text: str

    def __repr__(self) -> str:
        return self.text


YAML_TRUE = AsWritten("true")


def check_api_access(cidrs: tuple[str, ...], internal: bool, public: bool, private: bool) -> None:
    """Who reaches the Kubernetes API server, chosen explicitly: apiAllowedCidrs (public ranges,
    at most 200), apiPrivate (a private cluster), or apiPublic (open, and the plan says so)."""
    chosen = [key for key, on in ((API_ALLOWED_CIDRS_KEY, bool(cidrs)), (API_PUBLIC_KEY, public),
                                  (API_PRIVATE_KEY, private)) if on]
    if not chosen:
        raise ConfigError(API_ALLOWED_CIDRS_KEY, None,
                          "is required for host 'aks' (otherwise the cluster's Kubernetes API server is "
                          "open to the whole internet)",
                          "list the public networks Pulumi and kubectl run from, e.g. your own address "
                          "as a /32 (`curl -s https://api.ipify.org` prints it; behind a company NAT ask "
                          "for its range); or set apiPrivate: true (Pulumi then runs inside the VNet), "
                          "or apiPublic: true to leave it open on purpose")
    if len(chosen) > 1:
        raise ConfigError(chosen[1], YAML_TRUE if chosen[1] != API_ALLOWED_CIDRS_KEY else list(cidrs),
                          f"contradicts {chosen[0]}: choose one way to reach the Kubernetes API server "
                          "(AKS takes no authorized IP ranges on a private cluster)",
                          f"keep one of {API_ALLOWED_CIDRS_KEY}, {API_PRIVATE_KEY}, {API_PUBLIC_KEY}")
    if internal and public:
        raise ConfigError(API_PUBLIC_KEY, YAML_TRUE, "contradicts internal: true (the API server can read the "
                          "API key's Secret, so an internal stack does not leave it open)",
                          f"set {API_ALLOWED_CIDRS_KEY} or {API_PRIVATE_KEY}: true")
    if len(cidrs) > MAX_API_ALLOWED_CIDRS:
        raise ConfigError(API_ALLOWED_CIDRS_KEY, f"{len(cidrs)} ranges",
                          f"AKS takes at most {MAX_API_ALLOWED_CIDRS} authorized IP ranges",
                          "merge neighbouring ranges")
    for cidr in cidrs:
        network_ = ipaddress.ip_network(cidr)
        if network_.prefixlen == 0:
            raise ConfigError(API_ALLOWED_CIDRS_KEY, cidr, "allows every address, which is no limit",
                              "give the networks Pulumi and kubectl run from, or set "
                              + ("apiPrivate: true" if internal else "apiPublic: true"))
        if any(network_.overlaps(other) for other in NON_PUBLIC_RANGES) and not rules.source_range_problems([cidr]):
            raise ConfigError(API_ALLOWED_CIDRS_KEY, cidr,
                              "is not a public range; the API server sees only public source addresses",
                              "give the public address your traffic leaves from (e.g. your NAT's)")
    problems = rules.source_range_problems(cidrs)
    if problems:
        # the same limit as the policy pack's (components/serving/rules.py): every entry, and all of
        # them together, at most a /8
        raise ConfigError(API_ALLOWED_CIDRS_KEY, list(cidrs), f"is too broad: {problems[0]} (each range "
                          "and all of them together may cover at most a /8)",
                          "give narrower ranges, or set apiPrivate: true" if internal
                          else "give narrower ranges, or set apiPublic: true to leave it open on purpose")


check_api_allowed_cidrs = check_api_access  # the name callers used before apiPublic/apiPrivate


def deployer_principal_type(client_id: str) -> str:
    """``User`` when Pulumi signs in through the Azure CLI or PowerShell, else ``ServicePrincipal``."""
    return "User" if client_id.lower() in USER_SIGN_IN_CLIENTS else "ServicePrincipal"


def kubelogin_kubeconfig(user_kubeconfig_b64: str, mode: str, tenant_id: str, client_id: str) -> str:
    """A kubeconfig for the cluster's API server whose user runs ``kubelogin get-token``.

    Keeps the server and CA of the user kubeconfig AKS hands out; the exec plugin gets a fresh
    Microsoft Entra token on every use, so no token is stored. App modes name the signed-in
    application's client id and tenant; secrets stay in the environment of the process.
    """
    source = yaml.safe_load(base64.b64decode(user_kubeconfig_b64))
    cluster = source["clusters"][0]["cluster"]
    args = ["get-token", "--login", mode, "--server-id", AKS_AAD_SERVER_APP_ID]
    if mode in KUBELOGIN_APP_MODES and client_id:  # a system-assigned identity may report none
        args += ["--client-id", client_id]
    if mode in ("spn", "workloadidentity"):
        args += ["--tenant-id", tenant_id]
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "aks", "cluster": {
            key: cluster[key] for key in ("server", "certificate-authority-data") if key in cluster}}],
        "users": [{"name": "pulumi", "user": {"exec": {
            "apiVersion": EXEC_API_VERSION,
            "command": "kubelogin",
            "args": args,
            "env": None,
            "interactiveMode": "Never",  # Pulumi has no terminal to prompt on
            "provideClusterInfo": False,
            "installHint": "kubelogin is required for host 'aks': run `az aks install-cli` "
                           "(github.com/Azure/kubelogin)",
        }}}],
        "contexts": [{"name": "aks", "context": {"cluster": "aks", "user": "pulumi"}}],
        "current-context": "aks",
    })


def deploying_for_real() -> bool:
    """``pulumi up`` talking to a real engine: not a preview, not the SDK's mocks (tests, ``plan``)."""
    monitor = pulumi_settings.get_monitor()
    return (not pulumi_settings.is_dry_run() and monitor is not None
            and not isinstance(monitor, pulumi_mocks.MockMonitor))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (an HTTPError), never followed: urllib would re-send the bearer token,
    valid for every AKS cluster of the tenant, to wherever the reply points (http:// included)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def open_without_redirects(request: urllib.request.Request, context: ssl.SSLContext, timeout: float) -> Any:
    """``urlopen`` for the admin probe: TLS checked against ``context`` and no redirect followed."""
    return urllib.request.build_opener(_NoRedirects(), urllib.request.HTTPSHandler(context=context)).open(
        request, timeout=timeout)


def cluster_admin_granted(kubeconfig: dict, run: Callable = subprocess.run,
                          urlopen: Callable = open_without_redirects) -> Optional[bool]:
    """Whether the API server lets the kubeconfig's user create Namespaces (a SelfSubjectAccessReview,
    which every signed-in user may send): True, False (403 or not allowed: Azure RBAC has not reached
    AKS yet), or None when it cannot be asked (no kubelogin, no token, unreachable): the Kubernetes
    provider then reports that itself."""
    plugin = kubeconfig["users"][0]["user"]["exec"]
    try:
        token_run = run([plugin["command"], *plugin["args"]], capture_output=True, text=True, timeout=120,
                        env={**os.environ, **{e["name"]: e["value"] for e in plugin.get("env") or []}})
        token = json.loads(token_run.stdout)["status"]["token"] if token_run.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        token = None
    if not token:
        return None
    cluster = kubeconfig["clusters"][0]["cluster"]
    authority = cluster.get("certificate-authority-data")
    context = ssl.create_default_context(
        cadata=base64.b64decode(authority).decode() if authority else None)
    review = urllib.request.Request(
        cluster["server"].rstrip("/") + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        data=json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                         "spec": {"resourceAttributes": ADMIN_PROBE}}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Accept": "application/json"},
        method="POST")
    try:
        with urlopen(review, context=context, timeout=30) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:  # a redirect too: not followed, not trusted
        return False if error.code == 403 else None
    except (OSError, ValueError, http.client.HTTPException):  # unreachable, TLS, a timeout, not JSON, bad HTTP
        return None
    status = answer.get("status") if isinstance(answer, dict) else None
    return isinstance(status, dict) and status.get("allowed") is True


async def await_cluster_admin(kubeconfig: str, log: Callable[[str], None], warn: Callable[[str], None],
                              granted: Optional[Callable[[dict], Optional[bool]]] = None,
                              sleep: Callable = asyncio.sleep, clock: Callable[[], float] = time.monotonic,
                              for_real: Optional[Callable[[], bool]] = None) -> str:
    """``kubeconfig``, once its user may create Namespaces (at most ADMIN_WAIT_SECONDS later, then
    with a warning: the provider's first object reports the 403). Only on ``pulumi up``: a preview
    and the offline runs ask nothing. ``granted``, ``sleep``, ``clock`` and ``for_real`` stand in
    for the API server, the event loop's sleep, the clock and ``deploying_for_real`` in tests."""
    if not (for_real or deploying_for_real)():
        return kubeconfig
    ask = granted or cluster_admin_granted
    config = json.loads(kubeconfig)
    deadline = clock() + ADMIN_WAIT_SECONDS
    waited = False
    while (answer := await asyncio.to_thread(ask, config)) is False:
        if clock() >= deadline:
            warn(f"the cluster-admin role assignment still does not allow creating Namespaces after "
                f"{ADMIN_WAIT_SECONDS // 60} minutes; Azure documents rare delays of up to an hour: "
                "run `pulumi up` again later")
            return kubeconfig
        if not waited:
            log("waiting for the cluster-admin role assignment to reach AKS (Azure RBAC for Kubernetes "
                "takes up to ~5 minutes) before creating Kubernetes objects")
            waited = True
        await sleep(ADMIN_POLL_SECONDS)
    if waited and answer:
        log("the cluster-admin role assignment is in effect")
    return kubeconfig


# who runs Pulumi: subscription, tenant, client and object id (authorization.get_client_config_output).
# The result type is a forward reference: typing.get_type_hints resolves it, while importing this
# module still loads no azure-native module (they load when a resource is built)
ClientConfig = pulumi.Output["authorization.GetClientConfigResult"]


@dataclass(frozen=True)
class AksNetwork:
    """What the network step hands on: the VNet and its subnets, and the vault's private access."""

    vnet: "network.VirtualNetwork"
    nodes: "network.Subnet"
    gateway_subnet: "Optional[network.Subnet]"
    """internal: the internal load balancer's subnet."""
    private_access: Optional[VaultPrivateAccess]


@dataclass(frozen=True)
class ClusterAccess:
    """What the access step hands on: the control plane's identity and its role assignments."""

    identity: "managedidentity.UserAssignedIdentity"
    cluster_roles: "list[authorization.RoleAssignment]"
    """What the control plane's identity holds before the cluster exists."""


@dataclass(frozen=True)
class PrivateFilesMade:
    """internal: the NFS shares as the volumes name them, and what a mount waits for (the shares, and
    the endpoint's name resolving in the VNet)."""

    claims: k8s_common.PrivateFiles
    mounts_wait_for: list[pulumi.Resource]


@dataclass(frozen=True)
class PublicName:
    """Public entry point: the gateway IP's Azure DNS label and the name it gives."""

    dns_label: pulumi.Output[str]
    fqdn: pulumi.Output[str]


def cluster_network_profile() -> "containerservice.ContainerServiceNetworkProfileArgs":
    """Azure CNI overlay with Cilium, the explicit pod and service ranges, a standard load balancer."""
    return containerservice.ContainerServiceNetworkProfileArgs(
        network_plugin=containerservice.NetworkPlugin.AZURE,
        network_plugin_mode=containerservice.NetworkPluginMode.OVERLAY,
        network_dataplane=containerservice.NetworkDataplane.CILIUM,
        network_policy=containerservice.NetworkPolicy.CILIUM,  # enforces the NetworkPolicies
        pod_cidr=str(POD_CIDR),
        service_cidr=str(SERVICE_CIDR),
        dns_service_ip=DNS_SERVICE_IP,
        load_balancer_sku=containerservice.LoadBalancerSku.STANDARD,
        outbound_type=containerservice.OutboundType.LOAD_BALANCER)


def cluster_addons(workspace: pulumi.CustomResource
                   ) -> "dict[str, containerservice.ManagedClusterAddonProfileArgs]":
    """Container Insights (managed-identity auth) and the Key Vault Secrets Store CSI driver."""
    return {
        "omsagent": containerservice.ManagedClusterAddonProfileArgs(enabled=True, config={
            "logAnalyticsWorkspaceResourceID": workspace.id, "useAADAuth": "true"}),
        "azureKeyvaultSecretsProvider": containerservice.ManagedClusterAddonProfileArgs(
            enabled=True, config={"enableSecretRotation": "true", "rotationPollInterval": "2m"}),
    }


def system_pool(location: str, nodes: "network.Subnet"
                ) -> "containerservice.ManagedClusterAgentPoolProfileArgs":
    """The small autoscaled system pool, zonal where the region has zones."""
    return containerservice.ManagedClusterAgentPoolProfileArgs(
        name="system",
        mode=containerservice.AgentPoolMode.SYSTEM,
        vm_size=SYSTEM_VM_SIZE,
        os_type=containerservice.OSType.LINUX,
        os_sku=containerservice.OSSKU.UBUNTU,
        type=containerservice.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
        vnet_subnet_id=nodes.id,
        availability_zones=system_zones(location),
        enable_auto_scaling=True,
        min_count=SYSTEM_NODES[0],
        max_count=SYSTEM_NODES[1],
        count=SYSTEM_NODES[0])


class AksGpuCluster(base.ServingComponent):
    """Apertus served by vLLM on AKS GPU node pools behind an HTTPS gateway."""

    resource_group_name: Optional[pulumi.Output[str]] = None
    """The resource group the component's resources are in."""
    aks_cluster: Optional[pulumi.Output[str]] = None
    """The AKS cluster's name."""
    aks_vnet: Optional[pulumi.Output[str]] = None
    """The cluster's virtual network; peer with it to reach an internal endpoint."""
    kubeconfig_command: Optional[pulumi.Output[str]] = None
    """The az and kubelogin commands that write a kubeconfig for the cluster."""
    logs_command: Optional[pulumi.Output[str]] = None
    """The kubectl command that follows vLLM's logs."""
    gpu_nodes: Optional[pulumi.Output[str]] = None
    """GPU node bounds and VM size, e.g. 1-2 x Standard_NC24ads_A100_v4."""
    gpu_quota_vcpus: Optional[pulumi.Output[str]] = None
    """The regional vCPU quota family and count the GPU node pools may use at most."""
    ca_certificate_command: Optional[pulumi.Output[str]] = None
    """The kubectl command that prints the root certificate clients must trust (only when internal)."""
    log_analytics_workspace_resource_id: Optional[pulumi.Output[str]] = None
    """The resource id of the Log Analytics workspace (Container Insights, alerts' log queries)."""
    azure_monitor_workspace_id: Optional[pulumi.Output[str]] = None
    """The resource id of the Azure Monitor workspace holding the cluster's Prometheus metrics."""
    dashboard_url: Optional[pulumi.Output[str]] = None
    """Portal URL of the deployment's Azure Monitor workbook (none with alerts: false)."""
    action_group_id: Optional[pulumi.Output[str]] = None
    """The action group every alert goes to (none with alerts: false)."""

    def __init__(self, name: str, args: AksGpuClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = AksGpuClusterArgs.of(args)  # the component provider passes a dict
        base.check_component_name(name, "AKS cluster")
        super().__init__("apertus:index:AksGpuCluster", name, None, base.gated(opts, args))
        child = pulumi.ResourceOptions(parent=self)
        rg = base.resource_group(name, args, self)
        self.api_key = base.api_key(name, args, self)
        client = authorization.get_client_config_output()
        workspace = monitoring.log_analytics_workspace(name, rg, args.location, args.all_tags, child,
                                                       existing_id=args.log_analytics_workspace_id)
        prometheus = monitoring.managed_prometheus(name, args, rg, self)
        net = self._network(name, args, rg, child)
        # identity and secrets: the workload's identity, the Key Vault with the API key and HF token
        secrets = ModelSecrets(f"{name}-secrets", ModelSecretsArgs(
            resource_group_name=rg, location=args.location, api_key=self.api_key,
            hf_token=args.hf_token, tags=args.all_tags, private_access=net.private_access), opts=child)
        access = self._cluster_access(name, args, rg, net, client, child)
        cluster = self._cluster(name, args, rg, net.nodes, workspace, client, access)
        admin = self._cluster_admin(name, args, cluster, client, child)
        gpu_pools = self._gpu_pools(name, args, rg, cluster, net.nodes, args.all_tags)
        self._container_insights(name, args, rg, cluster, workspace, args.all_tags)
        monitoring.aks_prometheus_collection(name, args, rg, prometheus, cluster, self)
        self._maintenance_window(name, rg, cluster, child)
        namespace = base.dns_safe(name, 63)
        federation = self._workload_identity(name, rg, secrets, cluster, namespace, child)
        files = self._private_files(name, args, rg, net, child) if args.internal else None
        provider = self._kubernetes_provider(name, args, rg, cluster, client, admin, depends_on=[
            admin, *gpu_pools, federation, *secrets.readers_wait_for,
            *([net.gateway_subnet] if net.gateway_subnet is not None else []),
            *(files.mounts_wait_for if files is not None else [])])
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=provider)
        if args.spot:
            self._autoscaler_priorities(name, k8s_opts)
        public = None if args.internal else self._public_name(name, args, child)
        workload = self._workload(name, args, namespace, secrets, client, public,
                                  files.claims if files is not None else None, k8s_opts)
        k8s_monitoring.managed_prometheus_scraping(
            name, namespace, args.plan.launch.port, tuple(pool for pool, _ in gpu_pools_named(args.spot)),
            k8s_opts, pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[workload.deployment])),
            all_kube_events=args.spot)  # spot-fallback reads a Normal event
        # the certificate names this host; resolved once its load balancer is there
        gateway_ip = str(args.network.gateway_ip)
        host = (pulumi.Output.all(workload.entry_service.id).apply(lambda _: gateway_ip)
                if args.internal else public.fqdn)
        watched = monitoring.watch_aks(name, args, rg, workspace, prometheus, cluster, namespace, host,
                                       (SPOT_POOL, GPU_POOL) if args.spot else None, self)
        self._register(args.plan, pulumi.Output.concat("https://", host, "/v1"),
                       {**self._stack_outputs(args, rg, cluster, net.vnet, namespace), **watched})

    def _network(self, name: str, args: AksGpuClusterArgs, rg: pulumi.Output[str],
                 child: pulumi.ResourceOptions) -> AksNetwork:
        """The VNet laid out by ``cluster_network``: nodes; internal, the load balancer and endpoints."""
        addresses = args.network
        vnet = network.VirtualNetwork(
            f"{name}-vnet", resource_group_name=rg, location=args.location,
            address_space=network.AddressSpaceArgs(address_prefixes=[str(addresses.vnet)]),
            tags=args.all_tags, opts=child)
        nodes = network.Subnet(
            f"{name}-nodes", subnet_name=NODE_SUBNET_NAME, resource_group_name=rg,
            virtual_network_name=vnet.name, address_prefix=str(addresses.nodes), opts=child)
        if not args.internal:
            return AksNetwork(vnet=vnet, nodes=nodes, gateway_subnet=None, private_access=None)
        gateway_subnet = network.Subnet(
            f"{name}-internal-lb", subnet_name=GATEWAY_SUBNET_NAME, resource_group_name=rg,
            virtual_network_name=vnet.name, address_prefix=str(addresses.gateway_subnet),
            # one subnet operation at a time on a VNet: Azure rejects concurrent ones
            opts=pulumi.ResourceOptions(parent=self, depends_on=[nodes]))
        endpoints = network.Subnet(
            f"{name}-endpoints", subnet_name=ENDPOINT_SUBNET_NAME, resource_group_name=rg,
            virtual_network_name=vnet.name, address_prefix=str(addresses.endpoint_subnet),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway_subnet]))
        return AksNetwork(vnet=vnet, nodes=nodes, gateway_subnet=gateway_subnet,
                          private_access=VaultPrivateAccess(subnet_id=endpoints.id, vnet_id=vnet.id))

    @staticmethod
    def _private_files(name: str, args: AksGpuClusterArgs, rg: pulumi.Output[str], net: AksNetwork,
                       child: pulumi.ResourceOptions) -> "PrivateFilesMade":
        """internal: premium NFS shares for the model cache and the gateway, in an account closed to
        public networks and reached through a private endpoint whose name resolves in the VNet."""
        # account names are global, 3-24 lowercase letters and digits
        suffix = random.RandomString(f"{name}-files-suffix", length=8, special=False, upper=False, opts=child)
        prefix = "".join(ch for ch in base.dns_safe(name, 12) if ch.isalnum())
        account = storage.StorageAccount(
            f"{name}-files", resource_group_name=rg, location=args.location,
            account_name=pulumi.Output.concat("st", prefix, suffix.result),
            kind=storage.Kind.FILE_STORAGE,  # NFS shares exist on premium file accounts only
            sku=storage.SkuArgs(name=storage.SkuName.PREMIUM_LRS),
            # NFS 4.1 has no in-transit encryption on this path: with secure transfer required the mount
            # fails (the CSI driver makes its own NFS accounts so too); the private endpoint keeps it private
            enable_https_traffic_only=False,
            allow_shared_key_access=False,  # NFS mounts use no key; nothing here needs one
            allow_blob_public_access=False,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            public_network_access=storage.PublicNetworkAccess.DISABLED,
            network_rule_set=storage.NetworkRuleSetArgs(default_action=storage.DefaultAction.DENY),
            tags=args.all_tags, opts=child)
        sizes = {k8s_vllm.MODEL_CACHE_CLAIM: k8s_vllm.model_cache_gib(args.plan),
                 k8s_gateway.GATEWAY_DATA_CLAIM: k8s_common.PREMIUM_FILES_MIN_GIB}
        shares = {claim: storage.FileShare(
            f"{name}-{claim}-share", resource_group_name=rg, account_name=account.name, share_name=claim,
            enabled_protocols=storage.EnabledProtocols.NFS,
            # vLLM runs as root and writes the cache; the driver chmods the mount root as root
            root_squash=storage.RootSquashType.NO_ROOT_SQUASH,
            share_quota=gib, opts=child) for claim, gib in sizes.items()}
        access = net.private_access
        endpoint = network.PrivateEndpoint(
            f"{name}-files-endpoint", resource_group_name=rg, location=args.location,
            subnet=network.SubnetArgs(id=access.subnet_id),
            private_link_service_connections=[network.PrivateLinkServiceConnectionArgs(
                name="files", private_link_service_id=account.id, group_ids=[FILES_PRIVATE_LINK_GROUP])],
            tags=args.all_tags, opts=child)
        zone = privatedns.PrivateZone(
            f"{name}-files-dns", resource_group_name=rg, location="Global",
            private_zone_name=FILES_PRIVATE_DNS_ZONE, tags=args.all_tags, opts=child)
        link = privatedns.VirtualNetworkLink(
            f"{name}-files-dns-link", resource_group_name=rg, private_zone_name=zone.name, location="Global",
            registration_enabled=False, virtual_network=privatedns.SubResourceArgs(id=access.vnet_id),
            tags=args.all_tags, opts=child)
        # the zone group keeps the endpoint's A record in the zone as its address changes
        zone_group = network.PrivateDnsZoneGroup(
            f"{name}-files-dns-group", resource_group_name=rg, private_endpoint_name=endpoint.name,
            private_dns_zone_group_name="files",
            private_dns_zone_configs=[network.PrivateDnsZoneConfigArgs(name="files",
                                                                       private_dns_zone_id=zone.id)],
            opts=child)
        return PrivateFilesMade(
            # each share is named after its claim; the provider waits for the shares (mounts_wait_for)
            claims=k8s_common.PrivateFiles(resource_group=rg, account=account.name,
                                           shares={claim: claim for claim in shares}),
            mounts_wait_for=[*shares.values(), endpoint, link, zone_group])

    @staticmethod
    def _cluster_access(name: str, args: AksGpuClusterArgs, rg: pulumi.Output[str], net: AksNetwork,
                        client: "ClientConfig", child: pulumi.ResourceOptions) -> ClusterAccess:
        """The control plane's identity with the roles it needs before the cluster exists: Network
        Contributor on each subnet the cluster uses (NETWORK_CONTRIBUTOR), nothing on the VNet."""
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-cluster-identity", resource_group_name=rg, location=args.location, tags=args.all_tags,
            opts=child)
        subnets = {NODE_SUBNET_NAME: net.nodes}
        if net.gateway_subnet is not None:
            subnets[GATEWAY_SUBNET_NAME] = net.gateway_subnet
        cluster_roles = [authorization.RoleAssignment(
            f"{name}-cluster-network-{subnet_name}",
            scope=subnet.id,
            principal_id=identity.principal_id,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=role_definition(client.subscription_id, NETWORK_CONTRIBUTOR),
            opts=child) for subnet_name, subnet in subnets.items()]
        return ClusterAccess(identity=identity, cluster_roles=cluster_roles)

    @staticmethod
    def _cluster_admin(name: str, args: AksGpuClusterArgs, cluster: "containerservice.ManagedCluster",
                       client: "ClientConfig",
                       child: pulumi.ResourceOptions) -> "authorization.RoleAssignment":
        """The identity running Pulumi administers this cluster, and no other, through Azure RBAC (local
        accounts are off); the Kubernetes provider waits until AKS honours it (ADMIN_WAIT_SECONDS)."""
        return authorization.RoleAssignment(
            f"{name}-cluster-admin",
            scope=cluster.id,
            principal_id=client.object_id,
            principal_type=(args.deployer_principal_type if args.deployer_principal_type is not None
                            else client.client_id.apply(deployer_principal_type)),
            role_definition_id=role_definition(client.subscription_id, AKS_RBAC_CLUSTER_ADMIN),
            opts=child)

    def _cluster(self, name: str, args: AksGpuClusterArgs, rg: pulumi.Output[str], nodes: "network.Subnet",
                 workspace: pulumi.CustomResource, client: "ClientConfig",
                 access: ClusterAccess) -> "containerservice.ManagedCluster":
        """The AKS cluster with its system pool: Entra ID + Azure RBAC, workload identity, KEDA."""
        return containerservice.ManagedCluster(
            f"{name}-aks",
            resource_group_name=rg,
            location=args.location,
            dns_prefix=base.dns_safe(name, 54),
            kubernetes_version=args.kubernetes_version,
            identity=containerservice.ManagedClusterIdentityArgs(
                type=containerservice.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[access.identity.id]),
            sku=containerservice.ManagedClusterSKUArgs(
                name=containerservice.ManagedClusterSKUName.BASE,
                # Free: no uptime SLA; Standard adds one for an hourly cluster fee (AKS pricing tiers)
                tier=containerservice.ManagedClusterSKUTier.FREE),
            enable_rbac=True,
            api_server_access_profile=api_server_access_profile(args),
            aad_profile=containerservice.ManagedClusterAADProfileArgs(
                managed=True, enable_azure_rbac=True, tenant_id=client.tenant_id),
            disable_local_accounts=True,
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(
                    enabled=True)),
            network_profile=cluster_network_profile(),
            addon_profiles=cluster_addons(workspace),
            # Azure Monitor managed Prometheus (the ama-metrics add-on; components/monitoring.py)
            azure_monitor_profile=monitoring.aks_monitor_profile(),
            workload_auto_scaler_profile=containerservice.ManagedClusterWorkloadAutoScalerProfileArgs(
                keda=containerservice.ManagedClusterWorkloadAutoScalerProfileKedaArgs(enabled=True)),
            # priority expander: scale the spot pool first (kube-system/cluster-autoscaler-priority-expander)
            auto_scaler_profile=containerservice.ManagedClusterPropertiesAutoScalerProfileArgs(
                expander=containerservice.Expander.PRIORITY) if args.spot else None,
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=containerservice.UpgradeChannel.PATCH,
                node_os_upgrade_channel=containerservice.NodeOSUpgradeChannel.NODE_IMAGE),
            agent_pool_profiles=[system_pool(args.location, nodes)],
            tags=args.all_tags,
            # the autoscaler moves the count; do not reset it on the next `pulumi up`
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["agentPoolProfiles[0].count"],
                                        depends_on=access.cluster_roles))

    @staticmethod
    def _maintenance_window(name: str, rg: pulumi.Output[str], cluster: "containerservice.ManagedCluster",
                            child: pulumi.ResourceOptions) -> "containerservice.MaintenanceConfiguration":
        """Node OS image upgrades only in the weekly window."""
        return containerservice.MaintenanceConfiguration(
            f"{name}-node-os-window",
            config_name=NODE_OS_MAINTENANCE,
            resource_group_name=rg,
            resource_name_=cluster.name,
            maintenance_window=containerservice.MaintenanceWindowArgs(
                schedule=containerservice.ScheduleArgs(weekly=containerservice.WeeklyScheduleArgs(
                    interval_weeks=1, day_of_week=containerservice.WeekDay(MAINTENANCE_DAY))),
                start_time=MAINTENANCE_START, utc_offset="+00:00", duration_hours=MAINTENANCE_HOURS),
            opts=child)

    @staticmethod
    def _workload_identity(name: str, rg: pulumi.Output[str], secrets: ModelSecrets,
                           cluster: "containerservice.ManagedCluster", namespace: str,
                           child: pulumi.ResourceOptions) -> "managedidentity.FederatedIdentityCredential":
        """vLLM's identity federated with its service account, through the cluster's OIDC issuer."""
        return managedidentity.FederatedIdentityCredential(
            f"{name}-vllm-federation",
            resource_group_name=rg,
            resource_name_=secrets.identity.name,
            federated_identity_credential_resource_name=f"{namespace}-{k8s_vllm.SERVICE_ACCOUNT}",
            issuer=cluster.oidc_issuer_profile.issuer_url,
            subject=f"system:serviceaccount:{namespace}:{k8s_vllm.SERVICE_ACCOUNT}",
            audiences=[WORKLOAD_IDENTITY_AUDIENCE],
            opts=child)

    def _kubernetes_provider(self, name: str, args: AksGpuClusterArgs, rg: pulumi.Output[str],
                             cluster: "containerservice.ManagedCluster",
                             client: "ClientConfig", admin: "authorization.RoleAssignment",
                             depends_on: list[pulumi.Resource]) -> "k8s.Provider":
        """The provider the Kubernetes objects go through, signing in with kubelogin; its kubeconfig
        resolves once the API server honours the deployer's cluster-admin assignment."""
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=rg, resource_name=cluster.name)
        # no token and no delete_unreachable: an unreachable cluster fails the run, it never empties state
        kubeconfig = pulumi.Output.all(
            credentials.kubeconfigs[0].value, client.tenant_id, client.client_id, admin.id).apply(
                lambda values: await_cluster_admin(
                    kubelogin_kubeconfig(values[0], args.kubelogin_mode, values[1], values[2]),
                    log=lambda message: pulumi.log.info(message, resource=admin),
                    warn=lambda message: pulumi.log.warn(message, resource=admin)))
        return k8s.Provider(
            f"{name}-k8s",
            kubeconfig=kubeconfig,
            # only a different cluster replaces the objects, not a changed kubeconfig
            cluster_identifier=cluster.id,
            # objects go in once Pulumi may use the API (and, on destroy, go before the admin role),
            # the GPU pools exist (the device plugin and vLLM target them), the vLLM pods may read the
            # vault and the internal LB's subnet exists
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on))

    @staticmethod
    def _autoscaler_priorities(name: str, k8s_opts: pulumi.ResourceOptions) -> "k8s.core.v1.ConfigMap":
        """Spot: the cluster autoscaler's priority expander tries the spot pool first."""
        return k8s.core.v1.ConfigMap(
            f"{name}-autoscaler-priorities",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="cluster-autoscaler-priority-expander",
                                                namespace="kube-system",
                                                labels=dict(k8s_common.PART_OF)),
            # node groups are the pools' scale sets (aks-<pool>-<id>-vmss); the highest number wins
            data={"priorities": f"50:\n  - .*{SPOT_POOL}.*\n10:\n  - .*\n"},
            opts=k8s_opts)

    @staticmethod
    def _public_name(name: str, args: AksGpuClusterArgs, child: pulumi.ResourceOptions) -> PublicName:
        """A DNS label for the gateway's public IP, unique per region thanks to a random suffix."""
        suffix = random.RandomString(f"{name}-dns-suffix", length=6, special=False, upper=False, opts=child)
        dns_label = pulumi.Output.concat(base.dns_safe(name, 50), "-", suffix.result)
        return PublicName(dns_label=dns_label,
                          fqdn=pulumi.Output.concat(dns_label, ".", args.location, ".cloudapp.azure.com"))

    @staticmethod
    def _workload(name: str, args: AksGpuClusterArgs, namespace: str, secrets: ModelSecrets,
                  client: "ClientConfig", public: Optional[PublicName],
                  private_files: Optional[k8s_common.PrivateFiles],
                  k8s_opts: pulumi.ResourceOptions) -> k8s_workload.Workload:
        """vLLM, its gateway and its scaling, as Kubernetes objects (components/k8s_workload.py)."""
        return k8s_workload.deploy_workload(name, k8s_workload.WorkloadArgs(
            plan=args.plan,
            namespace=namespace,
            gpu_pools=tuple(pool for pool, _ in gpu_pools_named(args.spot)),
            spot=args.spot,
            min_replicas=args.min_replicas,
            max_replicas=args.max_replicas,
            queue_depth_target=args.queue_depth_target,
            internal=args.internal,
            allowed_cidrs=args.allowed_cidrs,
            identity_client_id=secrets.identity.client_id,
            tenant_id=client.tenant_id,
            vault_name=secrets.vault.name,
            dns_label=public.dns_label if public else None,
            public_fqdn=public.fqdn if public else None,
            internal_ip=str(args.network.gateway_ip) if args.internal else None,
            internal_subnet=GATEWAY_SUBNET_NAME if args.internal else None,
            private_files=private_files,
        ), k8s_opts)

    @staticmethod
    def _stack_outputs(args: AksGpuClusterArgs, rg: pulumi.Output[str],
                       cluster: "containerservice.ManagedCluster", vnet: "network.VirtualNetwork",
                       namespace: str) -> "dict[str, str | pulumi.Output[str]]":
        """Names, the commands to reach the cluster and its logs, the GPU nodes and quota to ask for."""
        low, high = args.gpu_node_bounds
        quota = high * args.plan.gpu.vcpus
        stack_outputs = {
            "resourceGroupName": rg,
            "aksCluster": cluster.name,
            "aksVnet": vnet.name,  # peer with it to reach an internal endpoint
            "kubeconfigCommand": pulumi.Output.concat(
                "az aks get-credentials --resource-group ", rg, " --name ", cluster.name,
                " && kubelogin convert-kubeconfig -l azurecli"),
            "logsCommand": f"kubectl logs -n {namespace} deployment/{k8s_common.VLLM} -f",
            "gpuNodes": f"{low}-{high} x {args.plan.gpu.name}",
            # regional vCPU quota the GPU pools may use at most (spot draws on the low-priority quota)
            "gpuQuotaVcpus": (f"{args.plan.gpu.quota_family}: {quota}; low-priority (spot): {quota}"
                              if args.spot else f"{args.plan.gpu.quota_family}: {quota}"),
        }
        if args.internal:
            # the root of Caddy's own CA, on the gateway's shared volume: clients must trust it
            stack_outputs["caCertificateCommand"] = (
                f"kubectl exec -n {namespace} statefulset/{k8s_common.GATEWAY} -c caddy -- "
                f"cat {k8s_gateway.CADDY_ROOT_CERT}")
        return stack_outputs

    def _container_insights(self, name: str, args: AksGpuClusterArgs, rg: pulumi.Output[str],
                            cluster: "containerservice.ManagedCluster", workspace: pulumi.CustomResource,
                            tags: dict[str, str]) -> "monitor.DataCollectionRuleAssociation":
        """The data collection rule Container Insights (managed-identity auth) sends through."""
        # args.location is Azure's region name already (ServingArgs normalises "West Europe")
        rule_name = pulumi.Output.concat("MSCI-", args.location, "-", cluster.name).apply(
            lambda full: full[:DCR_NAME_MAX])
        rule = monitor.DataCollectionRule(
            f"{name}-container-insights",
            data_collection_rule_name=rule_name,
            resource_group_name=rg,
            location=args.location,  # the workspace's region
            kind=monitor.KnownDataCollectionRuleResourceKind.LINUX,
            description="Container Insights for the Apertus AKS cluster",
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(extensions=[
                monitor.ExtensionDataSourceArgs(
                    name=CONTAINER_INSIGHTS_ASSOCIATION, extension_name="ContainerInsights",
                    streams=CONTAINER_INSIGHTS_STREAMS,
                    extension_settings={"dataCollectionSettings": {
                        "interval": "1m", "namespaceFilteringMode": "Off", "enableContainerLogV2": True}})]),
            destinations=monitor.DataCollectionRuleDestinationsArgs(log_analytics=[
                monitor.LogAnalyticsDestinationArgs(name=CONTAINER_INSIGHTS_DESTINATION,
                                                    workspace_resource_id=workspace.id)]),
            data_flows=[monitor.DataFlowArgs(streams=CONTAINER_INSIGHTS_STREAMS,
                                             destinations=[CONTAINER_INSIGHTS_DESTINATION])],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self))
        return monitor.DataCollectionRuleAssociation(
            f"{name}-container-insights-link",
            association_name=CONTAINER_INSIGHTS_ASSOCIATION,
            resource_uri=cluster.id,
            data_collection_rule_id=rule.id,
            description="Container Insights data for this cluster; deleting it stops the logs",
            opts=pulumi.ResourceOptions(parent=self))

    def _gpu_pools(self, name: str, args: AksGpuClusterArgs, rg: pulumi.Output[str],
                   cluster: "containerservice.ManagedCluster", nodes: "network.Subnet",
                   tags: dict[str, str]) -> "list[containerservice.AgentPool]":
        low, high = args.gpu_node_bounds
        pools = []
        for pool, spot in gpu_pools_named(args.spot):
            # the on-demand pool behind a spot pool waits at 0 nodes until spot fails
            pool_min = 0 if args.spot and not spot else low
            pools.append(containerservice.AgentPool(
                f"{name}-{pool}",
                agent_pool_name=pool,
                resource_group_name=rg,
                resource_name_=cluster.name,
                mode=containerservice.AgentPoolMode.USER,
                vm_size=args.plan.gpu.name,
                os_type=containerservice.OSType.LINUX,
                os_sku=containerservice.OSSKU.UBUNTU,
                type=containerservice.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
                vnet_subnet_id=nodes.id,
                gpu_profile=containerservice.GPUProfileArgs(driver=containerservice.GPUDriver.INSTALL),
                node_taints=[f"{k8s_common.GPU_TAINT_KEY}={k8s_common.GPU_TAINT_VALUE}:NoSchedule"],
                enable_auto_scaling=True,
                min_count=pool_min,
                max_count=high,
                count=pool_min,
                scale_set_priority=(containerservice.ScaleSetPriority.SPOT if spot
                                    else containerservice.ScaleSetPriority.REGULAR),
                scale_set_eviction_policy=containerservice.ScaleSetEvictionPolicy.DELETE if spot else None,
                # -1: pay up to the on-demand price; evictions then come from capacity, never price
                spot_max_price=-1 if spot else None,
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"])))
        return pools


def api_server_access_profile(args: AksGpuClusterArgs
                              ) -> "Optional[containerservice.ManagedClusterAPIServerAccessProfileArgs]":
    """Who reaches the Kubernetes API server: the authorized ranges; or a private cluster, whose API
    server has a private IP only ("Create a private AKS cluster", learn.microsoft.com/azure/aks/
    private-clusters; authorized IP ranges do not apply to private clusters, "Secure access to the API
    server using authorized IP address ranges"); or, with apiPublic, open (None).

    The private cluster keeps the public FQDN AKS adds by default: a public DNS name that resolves to
    the private IP, so a runner in a peered network or on a VPN finds the API server without a link
    to the system private DNS zone (which AKS links to the cluster's own VNet only); the address
    itself is reachable only from networks routed to the VNet."""
    if args.api_private:
        return containerservice.ManagedClusterAPIServerAccessProfileArgs(
            enable_private_cluster=True, private_dns_zone="system", enable_private_cluster_public_fqdn=True)
    if args.api_allowed_cidrs:
        return containerservice.ManagedClusterAPIServerAccessProfileArgs(
            authorized_ip_ranges=list(args.api_allowed_cidrs))
    return None


def role_definition(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    """The full id of a built-in role definition in the subscription."""
    return pulumi.Output.concat("/subscriptions/", subscription_id,
                                "/providers/Microsoft.Authorization/roleDefinitions/", role)


def system_zones(location: str) -> list[str] | None:
    """Zones 1-3 where the region has availability zones, else None (a regional pool)."""
    return SYSTEM_ZONES if normalize_region(location) in ZONAL_REGIONS else None


def gpu_pools_named(spot: bool) -> list[tuple[str, bool]]:
    """(pool name, is spot): spot first, since the priority expander and the pods prefer it."""
    return [(SPOT_POOL, True), (GPU_POOL, False)] if spot else [(GPU_POOL, False)]
