"""Internal means internal, judged completely.

Which resources are internal is read from an explicit marker, not guessed from entry points:
every Azure resource a host component creates carries the tag ``apertus-exposure`` with
``internal`` or ``public`` (components/base.py ``all_tags``), so a platform team's program gets
it by using the components. The policy config ``internal: true|false`` overrides it for the
whole stack. Adding a public resource therefore cannot switch the rule off: a public IP added to
an internal stack is one more violation, not a reason to stop checking.

In scope: with ``internal: true`` in the policy config, every resource; with ``internal: false``,
none; else, when any resource is marked ``internal``, every resource. A resource's own ``public``
marker does not take it out of an internal stack (a raw resource in a team's program can tag
itself): only the policy config's ``public`` list (resource names or URNs) exempts a resource, so a
program that holds an internal and a public component names the public one's resources there.

The stack is read as plain values and an unknown (a preview) judged for the worse case, so it never
turns the policy into an advisory; a public IP whose id is not known yet is a NAT gateway's only as
``unknown_addresses`` says (docs/policy-pack.md, "Unknown values in a preview").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, StackValidationArgs, StackValidationPolicy

from .common import (
    normalised,
    CONTAINER_APP,
    INTERNAL_LB_ANNOTATION,
    asks_internal_lb,
    K8S_SERVICE,
    KEY_VAULT,
    LOAD_BALANCER,
    MANAGED_CLUSTER,
    MANAGED_ENVIRONMENT,
    MANDATORY,
    NETWORK_INTERFACE,
    STORAGE_ACCOUNT,
    VIRTUAL_MACHINE,
    exposure_marker,
    get,
    is_true,
    is_unknown,
    items,
    normalise_type,
    plain_resources,
    rules,
    _rule_name,
)

PUBLIC_IP = "azure-native:network:PublicIPAddress"
PUBLIC_IP_PREFIX = "azure-native:network:PublicIPPrefix"
NAT_GATEWAY = "azure-native:network:NatGateway"
VM_SCALE_SET = "azure-native:compute:VirtualMachineScaleSet"
AGENT_POOL = "azure-native:containerservice:AgentPool"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
WORKSPACE = "azure-native:operationalinsights:Workspace"
CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"
APPLICATION_GATEWAY = "azure-native:network:ApplicationGateway"
ARM_DEPLOYMENT = "azure-native:resources:Deployment"
# Every ARM deployment: azure-native's Deployment, DeploymentAtScope, DeploymentAtSubscriptionScope,
# DeploymentAtManagementGroupScope, DeploymentAtTenantScope, DeploymentStackAtResourceGroup, ...AtSubscription,
# ...AtManagementGroup (any later Deployment* type too), and the classic provider's template deployments
# (azure:core/resourceGroupTemplateDeployment, subscriptionTemplateDeployment, tenantTemplateDeployment,
# templateDeployment; azure:management/groupTemplateDeployment): Azure Resource Manager creates the template's
# resources, never registered with the engine
ARM_DEPLOYMENT_PREFIX = ARM_DEPLOYMENT
CLASSIC_TEMPLATE_DEPLOYMENT = "TemplateDeployment"
GENERIC_RESOURCE = "azure-native:resources:Resource"  # any Azure type, by provider namespace and type name
# the types a generic Resource may name that make an address public (read for a message of their own)
GENERIC_PUBLIC_TYPES = ("microsoft.network/publicipaddresses", "microsoft.network/publicipprefixes")
FIREWALL_POLICY_RULES = "azure-native:network:FirewallPolicyRuleCollectionGroup"
FIREWALL_RULE_GROUP = "azure-native:network:FirewallPolicyRuleGroup"
AZURE_FIREWALL = "azure-native:network:AzureFirewall"
# AKS application routing's NginxIngressController (approuting.kubernetes.azure.com, any version): its NGINX
# load balancer is public unless spec.loadBalancerAnnotations holds the internal load balancer annotation
# (learn.microsoft.com/azure/aks/app-routing-nginx-configuration)
APP_ROUTING_GROUP = "approuting.kubernetes.azure.com"
# the classic provider (pulumi-azure): its public IP and prefix, read as azure-native's (only these are read)
CLASSIC_PUBLIC_IPS = ("azure:network/publicIp:PublicIp", "azure:network/publicIpPrefix:PublicIpPrefix")
# The classic provider's (pulumi-azure, type tokens azure:<module>/<resource>:<Type>) resources that can open a
# port or make something public, which the pack does not read (only its NSGs, NSG rules and public IPs):
# (module, resource name prefixes or None for the whole module, what it is, the azure-native type to use,
# whether only an internal stack refuses it). A module entirely about exposure is refused whole.
CLASSIC_UNJUDGED = (
    ("lb", None, "a load balancer (or its rule, NAT rule or pool, backend pool or probe)",
     "azure-native:network:LoadBalancer (and InboundNatRule)", False),
    ("network", ("applicationGateway",), "an Application Gateway", "azure-native:network:ApplicationGateway", False),
    ("network", ("firewall",), "an Azure Firewall (or its policy or rule collection)",
     "azure-native:network:AzureFirewall, FirewallPolicy and FirewallPolicyRuleCollectionGroup", False),
    ("network", ("networkInterface",), "a network interface (or its tie to a pool, NAT rule or security group)",
     "azure-native:network:NetworkInterface", False),
    ("frontdoor", None, "a Front Door", "azure-native:cdn:Profile, AFDEndpoint and Route", False),
    ("cdn", None, "a CDN or Front Door profile, endpoint, origin or route", "azure-native:cdn:Profile, AFDEndpoint and Route", False),
    ("containerservice", ("group",), "a Container Instances group", "azure-native:containerinstance:ContainerGroup", False),
    ("containerservice", ("kubernetesCluster",), "an AKS cluster or node pool",
     "azure-native:containerservice:ManagedCluster and AgentPool", False),
    ("containerapp", None, "a Container App, job or environment",
     "azure-native:app:ContainerApp, Job and ManagedEnvironment", False),
    ("compute", ("linuxVirtualMachine", "windowsVirtualMachine", "virtualMachine:", "linuxVirtualMachineScaleSet",
                 "windowsVirtualMachineScaleSet", "orchestratedVirtualMachineScaleSet", "scaleSet:"),
     "a virtual machine or scale set", "azure-native:compute:VirtualMachine and VirtualMachineScaleSet", False),
    ("apimanagement", None, "an API Management service (or its API, backend or gateway)",
     "azure-native:apimanagement:ApiManagementService", False),
    ("appservice", None, "an App Service, Function app or their plan", "azure-native:web:WebApp", False),
    ("storage", ("account:", "accountNetworkRules"), "a storage account (or its network rules)",
     "azure-native:storage:StorageAccount", True),
    ("keyvault", ("keyVault:",), "a Key Vault", "azure-native:keyvault:Vault", True),
)


def arm_deployment(resource_type: Any) -> bool:
    """Whether a (normalised) type token is an ARM template deployment or deployment stack of either
    provider (ARM_DEPLOYMENT_PREFIX, CLASSIC_TEMPLATE_DEPLOYMENT)."""
    text = str(resource_type)
    if text.startswith(ARM_DEPLOYMENT_PREFIX):
        return True
    return text.startswith("azure:") and text.rsplit(":", 1)[-1].endswith(CLASSIC_TEMPLATE_DEPLOYMENT)


# Deployment scripts run the Azure CLI or PowerShell inside Azure (Microsoft.Resources/deploymentScripts), as
# the identity they are given: whatever they create is never registered with the engine
DEPLOYMENT_SCRIPTS = frozenset({
    "azure-native:resources:AzureCliScript", "azure-native:resources:AzurePowerShellScript",
    "azure:core/resourceDeploymentScriptAzureCli:ResourceDeploymentScriptAzureCli",
    "azure:core/resourceDeploymentScriptPowerShell:ResourceDeploymentScriptPowerShell"})


def deployment_script(resource_type: Any) -> bool:
    """Whether a type token is an Azure deployment script (DEPLOYMENT_SCRIPTS), in any version."""
    text = str(resource_type)
    return text in DEPLOYMENT_SCRIPTS or any(
        text.startswith(known.rsplit(":", 1)[0] + ":") and text.endswith(":" + known.rsplit(":", 1)[1])
        for known in DEPLOYMENT_SCRIPTS)


def generic_resource_type(props: Any) -> str:
    """The Azure type a generic azure-native:resources:Resource names ('microsoft.network/publicipaddresses'),
    lower case: its resourceProviderNamespace and resourceType ('?' for a part not known yet)."""
    namespace, kind = get(props, "resourceProviderNamespace"), get(props, "resourceType")
    parts = ["?" if is_unknown(part) or not isinstance(part, str) else part.strip().strip("/").lower()
             for part in (namespace, kind)]
    if "/" in parts[1] and parts[1].startswith("microsoft."):
        return parts[1]  # a full type in resourceType
    return "/".join(part for part in parts if part)


def _kubernetes_group_kind(resource_type: Any) -> tuple[str, str]:
    parts = str(resource_type).split(":")
    if len(parts) == 3 and parts[0] == "kubernetes":
        return parts[1].split("/", 1)[0], parts[2]
    return "", ""


def classic_unjudged(resource_type: Any, internal: bool) -> tuple[str, str] | None:
    """(what it is, the azure-native type to use) for a classic-provider resource the pack does not judge
    and refuses (``internal``: in an internal stack; else: beside vLLM, the ports only), or None."""
    text = str(resource_type)
    if not text.startswith("azure:") or "/" not in text:
        return None
    module, rest = text[len("azure:"):].split("/", 1)
    for known, names, what, instead, internal_only in CLASSIC_UNJUDGED:
        if module.lower() != known or (internal_only and not internal):
            continue
        if names is None or any(rest.lower().startswith(name.lower()) for name in names):
            return what, instead
    return None


# AKS application routing add-on: its default NGINX controller's load balancer is public unless
# ingressProfile.webAppRouting.nginx.defaultIngressControllerType is Internal or None (ManagedClusterIngressProfileNginx)
CLOSED_APP_ROUTING = ("internal", "none")
# Azure Files / Blob CSI drivers provision storage accounts themselves: their StorageClass
# parameters decide whether the account is public (kubernetes-sigs/azurefile-csi-driver
# docs/driver-parameters.md: networkEndpointType, publicNetworkAccess)
CSI_STORAGE_PROVISIONERS = ("file.csi.azure.com", "blob.csi.azure.com")
# The documented exception (docs/security.md, Log Analytics): Log Analytics stays reachable over its public
# endpoints, ingestion authenticated; closing it needs an Azure Monitor Private Link Scope whose
# DNS changes reach every Azure Monitor resource the VNet uses. The policy accepts exactly that:
# a workspace in an internal stack may keep public ingestion and query.
DOCUMENTED_PUBLIC = {WORKSPACE: "Log Analytics ingestion and query stay public (authenticated), as documented"}


def stack_is_internal(args: StackValidationArgs) -> bool:
    """Whether any part of the stack is internal: the policy config, else the components' marker."""
    configured = (args.get_config() or {}).get("internal")
    if configured is not None:
        return bool(configured)
    return any(exposure_marker(r.props) == "internal" for r in plain_resources(args.resources))


def exempt_public(args: StackValidationArgs) -> set[str]:
    """The names and URNs the policy config's ``public`` list declares public on purpose."""
    listed = (args.get_config() or {}).get("public")
    return {str(item) for item in listed} if isinstance(listed, (list, tuple)) else set()


def internal_resources(args: StackValidationArgs, resources: list[Any] | None = None) -> list[Any]:
    """The resources the rule judges (see the module docstring); ``resources``: the stack's, read
    as plain values (``plain_resources``), else read here."""
    resources = plain_resources(args.resources) if resources is None else resources
    configured = (args.get_config() or {}).get("internal")
    if configured is not None and not configured:
        return []
    if configured is None and not any(exposure_marker(r.props) == "internal" for r in resources):
        return []
    exempt = exempt_public(args)
    return [r for r in resources if r.name not in exempt and r.urn not in exempt]


AKS_OUTBOUND_ONLY = "0.0.0.0/32"


def api_server_problem(props: Any) -> str | None:
    """Why an AKS API server is reachable from the internet beyond the allowed limit, or None."""
    profile = get(props, "apiServerAccessProfile")
    if is_true(get(profile, "enablePrivateCluster")):
        return None
    ranges = [str(r) for r in items(get(profile, "authorizedIPRanges"))]
    if not ranges:
        return "the API server is open to the whole internet (no authorizedIPRanges, not private)"
    # AKS gives 0.0.0.0/32 a meaning of its own here: "allow only the outbound public IP of the
    # Standard SKU load balancer" ("Secure access to the API server using authorized IP address
    # ranges in AKS"), so it closes rather than opens; everywhere else the shared rule refuses it
    ranges = [r for r in ranges if r.strip() != AKS_OUTBOUND_ONLY]
    if not ranges:
        return None
    problems = rules.source_range_problems(ranges)
    return f"authorizedIPRanges: {problems[0]}" if problems else None


PUBLIC_IP_PROBLEM = "is a public IP address (not a NAT gateway's outbound one)"
NAT_ADDRESS_FIELDS = ("publicIpAddresses", "publicIpPrefixes")


def outbound_only_addresses(resources: list[Any]) -> set[str]:
    """Ids of public IPs and prefixes a NAT gateway uses: a NAT gateway takes no inbound connection
    ("What is Azure NAT Gateway?": outbound only), and an address in use there cannot sit on a NIC
    or load balancer too. An id not known yet (a first preview) names no address."""
    return {str(get(ref, "id")).lower() for r in resources if r.resource_type == NAT_GATEWAY
            for field in NAT_ADDRESS_FIELDS for ref in items(get(r.props, field))
            if isinstance(get(ref, "id"), str) and not is_unknown(get(ref, "id"))}


def _nat_references(resources: list[Any]) -> tuple[int, set[str]]:
    """(how many NAT gateway address references have an id not known yet and no address the engine names
    for them, the URNs of the addresses it names: a NAT gateway's propertyDependencies of an address field
    name the resources whose ids the program passed there, known or not; where the engine names any, a
    value not known yet came from them, and no other address fills it). A whole list not known yet
    counts as one reference."""
    count, depended = 0, set()
    for r in resources:
        if r.resource_type != NAT_GATEWAY:
            continue
        dependencies = getattr(r, "property_dependencies", None) or {}
        for field in NAT_ADDRESS_FIELDS:
            value = get(r.props, field)
            refs = [value] if is_unknown(value) else items(value)
            named = {str(getattr(d, "urn", "")) for d in dependencies.get(field, None) or []
                     if normalise_type(getattr(d, "resource_type", None)) in (PUBLIC_IP, PUBLIC_IP_PREFIX)}
            if not dependencies.get(field):
                count += len([ref for ref in refs if is_unknown(ref) or is_unknown(get(ref, "id"))])
            depended |= named
    return count, depended


def unknown_addresses(resources: list[Any], judged: list[Any]) -> dict[str, str | None]:
    """Public IPs and prefixes (among ``judged``) whose own id is not known (a first preview: Azure gives
    an id only once the resource exists; or the engine hands none), by URN, each with why it is not taken
    for a NAT gateway's outbound address (None: taken for one). The worse case, kept narrow enough for the
    hosts' own first preview: an address a NAT gateway's address field depends on (the engine's
    propertyDependencies) is that NAT gateway's; the others may fill the NAT gateways' references whose
    id is not known yet only while there are at least as many such references as addresses. One address
    more than references (a public IP added to an internal stack) leaves every such address unproven,
    and each is reported; a reference by a known id (an address outside the stack) fills none."""
    slots, depended = _nat_references(resources)
    candidates = [r for r in judged if r.resource_type in (PUBLIC_IP, PUBLIC_IP_PREFIX)
                  and (is_unknown(get(r.props, "id")) or get(r.props, "id") is None)]
    open_candidates = [r for r in candidates if str(r.urn) not in depended]
    if len(open_candidates) <= slots:
        return {str(r.urn): None for r in candidates}
    why = PUBLIC_IP_PROBLEM if not slots else (
        f"is a public IP address whose id is not known, one of {len(open_candidates)} such addresses against "
        f"{slots} NAT gateway address reference(s) not known yet, so it is not shown to be a NAT gateway's "
        "outbound one")
    return {str(r.urn): None for r in candidates if str(r.urn) in depended} | \
        {str(r.urn): why for r in open_candidates}


def inline_public_ip_configurations(props: Any) -> list[str]:
    """Names of the ipConfigurations a VM or scale set declares inline (networkProfile
    .networkInterfaceConfigurations, with networkApiVersion) that ask Azure for a public IP:
    publicIPAddressConfiguration gives each VM or instance its own public address."""
    profiles = [get(props, "networkProfile"), get(props, "virtualMachineProfile", "networkProfile")]
    return [str(get(ip, "name") or get(nic, "name") or "?")
            for profile in profiles for nic in items(get(profile, "networkInterfaceConfigurations"))
            for ip in items(get(nic, "ipConfigurations")) if get(ip, "publicIPAddressConfiguration")]


def public_node_pools(resource_type: str, props: Any) -> list[str]:
    """AKS node pools whose nodes each get a public IP (enableNodePublicIP)."""
    if resource_type == AGENT_POOL:
        return ["(this pool)"] if is_true(get(props, "enableNodePublicIP")) else []
    return [str(get(p, "name") or "?") for p in items(get(props, "agentPoolProfiles"))
            if is_true(get(p, "enableNodePublicIP"))]


def _app_environment_problem(props: Any, environments: list[Any]) -> str | None:
    """Why a Container App's external ingress may face the internet: its managed environment is not one the
    stack creates (another stack's may be external), or its id is not known yet and no environment of the
    stack that it may be is internal. An environment of the stack is judged itself."""
    ingress = get(props, "configuration", "ingress")
    external = get(ingress, "external")
    if ingress is None or not (is_true(external) or is_unknown(external) or is_unknown(ingress)):
        return None
    reference = get(props, "managedEnvironmentId")
    reference = get(props, "environmentId") if reference is None else reference
    ids = {str(get(e.props, "id")).lower(): e for e in environments
           if isinstance(get(e.props, "id"), str) and not is_unknown(get(e.props, "id"))}
    if isinstance(reference, str) and not is_unknown(reference) and reference.lower() in ids:
        return None
    unsure = [e for e in environments if is_unknown(reference) or reference is None
              or not isinstance(get(e.props, "id"), str) or is_unknown(get(e.props, "id"))]
    if any(is_true(get(e.props, "vnetConfiguration", "internal")) for e in unsure):
        return None
    shown = "not known yet" if is_unknown(reference) or reference is None else f"'{reference}'"
    return (f"has external ingress in managed environment {shown}, which this stack does not create as an "
            "internal environment, so whether its ingress faces the internet is not judged; create the internal "
            "environment (vnetConfiguration.internal: true) in this stack, or set ingress external: false")


def _cluster_problems(props: Any, application_gateways: list[Any]) -> list[str]:
    """Why an AKS cluster faces the internet: its API server, public node IPs, the application routing add-on's
    default NGINX, the Istio add-on's External ingress gateway, the AGIC add-on's Application Gateway."""
    problems = []
    if problem := api_server_problem(props):
        problems.append(f"{problem}; make the cluster private or list narrow authorizedIPRanges")
    if pools := public_node_pools(MANAGED_CLUSTER, props):
        problems.append(f"gives the nodes of agentPoolProfiles {', '.join(pools)} public IPs (enableNodePublicIP: true)")
    routing = get(props, "ingressProfile", "webAppRouting")
    if is_true(get(routing, "enabled")) or is_unknown(get(routing, "enabled")):
        default = get(routing, "nginx", "defaultIngressControllerType")
        if is_unknown(default) or str(default or "AnnotationControlled").strip().lower() not in CLOSED_APP_ROUTING:
            problems.append(f"enables the application routing add-on (ingressProfile.webAppRouting) with its default "
                            f"NGINX controller '{default or 'AnnotationControlled'}', a public load balancer; set "
                            "webAppRouting.nginx.defaultIngressControllerType Internal (or None)")
    if gateways := _external_istio_gateways(props):
        problems.append(f"enables the Istio add-on's External ingress gateway ({gateways}: serviceMeshProfile.istio."
                        "components.ingressGateways[].mode External), a public load balancer; use mode Internal")
    if problem := _agic_problem(props, application_gateways):
        problems.append(problem)
    return problems


def _external_istio_gateways(props: Any) -> str | None:
    """The AKS Istio add-on's ingress gateways that are External and enabled (a mode or switch not known
    yet: the worse case), as words, or None."""
    listed = get(props, "serviceMeshProfile", "istio", "components", "ingressGateways")
    if is_unknown(listed):
        return "ingress gateways not known yet"
    found = []
    for index, gateway in enumerate(items(listed)):
        mode, enabled = get(gateway, "mode"), get(gateway, "enabled")
        if (is_unknown(mode) or str(mode or "").strip().lower() == "external") and \
                (is_true(enabled) or is_unknown(enabled) or is_unknown(gateway)):
            found.append(f"#{index}")
    return ", ".join(found) or None


def _agic_problem(props: Any, application_gateways: list[Any]) -> str | None:
    """The AGIC add-on (addonProfiles.ingressApplicationGateway) makes an Application Gateway with a public
    frontend unless it is given an existing one (config.applicationGatewayId; learn.microsoft.com/azure/
    application-gateway/tutorial-ingress-controller-add-on-new, -existing): one the stack holds is judged
    itself; another, or an id not known yet while no gateway of the stack it may be is private, may be public."""
    addon = get(props, "addonProfiles", "ingressApplicationGateway")
    enabled = get(addon, "enabled")
    if addon is None or not (is_true(enabled) or is_unknown(enabled) or is_unknown(addon)):
        return None
    config = get(addon, "config")
    config = {str(k).lower(): v for k, v in config.items()} if isinstance(config, Mapping) else {}
    gateway_id = config.get("applicationgatewayid")
    if gateway_id is None and not is_unknown(get(addon, "config")):
        return ("enables the AGIC add-on (addonProfiles.ingressApplicationGateway) without applicationGatewayId, so "
                "AKS creates an Application Gateway with a public frontend; give it an existing Application Gateway "
                "with a private frontend only (config.applicationGatewayId), declared in this stack")
    known = {str(get(g.props, "id")).lower() for g in application_gateways
             if isinstance(get(g.props, "id"), str) and not is_unknown(get(g.props, "id"))}
    if isinstance(gateway_id, str) and not is_unknown(gateway_id) and gateway_id.lower() in known:
        return None
    unsure = [g for g in application_gateways if not isinstance(get(g.props, "id"), str) or is_unknown(get(g.props, "id"))]
    if (is_unknown(gateway_id) or gateway_id is None) and any(
            not any(get(c, "publicIPAddress") for c in items(get(g.props, "frontendIPConfigurations"))) for g in unsure):
        return None
    shown = "not known yet" if is_unknown(gateway_id) or gateway_id is None else f"'{gateway_id}'"
    return (f"enables the AGIC add-on (addonProfiles.ingressApplicationGateway) on Application Gateway {shown}, which "
            "this stack does not hold, so whether its frontend is public is not judged; declare that Application "
            "Gateway, with a private frontend only, in this stack")


def _generic_resource_problem(props: Any) -> str:
    """A generic azure-native:resources:Resource: a public IP or prefix by its type; any other type is not read."""
    kind = generic_resource_type(props)
    if kind in GENERIC_PUBLIC_TYPES:
        return f"{PUBLIC_IP_PROBLEM}, made through the generic resource (type {kind}); give the stack none"
    return (f"is a generic Azure resource (type {kind}), whose properties this pack does not read, so whether it is "
            "public is not judged; declare it with its own azure-native resource type")


def _dnat_problem(kind: str, props: Any) -> str | None:
    """A firewall DNAT rule publishes an address behind the firewall on the firewall's public IP (Azure Firewall
    DNAT translates inbound traffic to its public addresses): a NAT rule collection of a policy's rule
    collection group (ruleCollectionType FirewallPolicyNatRuleCollection, or action DNAT), of an older rule
    group, or a classic firewall's natRuleCollections. Anything not known yet: the worse case."""
    if kind == AZURE_FIREWALL:
        collections = get(props, "natRuleCollections")
        if is_unknown(collections) or items(collections):
            return ("has DNAT rules (natRuleCollections), which publish addresses on the firewall's public IP; an "
                    "internal stack publishes nothing")
        return None
    collections = get(props, "ruleCollections") if kind == FIREWALL_POLICY_RULES else get(props, "rules")
    if is_unknown(collections):
        return ("has rule collections not known yet, which may hold DNAT rules that publish addresses on the "
                "firewall's public IP")
    for index, collection in enumerate(items(collections)):
        words = [get(collection, "ruleCollectionType"), get(collection, "ruleType"), get(collection, "action", "type")]
        if is_unknown(collection) or any(is_unknown(w) for w in words) or \
                any("nat" in str(w or "").lower() for w in words):
            name = _rule_name(collection, f"#{index}")
            return (f"has a DNAT rule collection ('{name}'), which publishes addresses on the firewall's public IP; "
                    "an internal stack publishes nothing")
    return None


# Azure services that publish what sits behind them, which the pack reads only for this: Front Door and CDN
# (an AFD origin with a sharedPrivateLinkResource reaches an internal load balancer or internal Container Apps
# environment through Private Link, Microsoft's documented way to publish one), API Management outside
# virtualNetworkType Internal, and a Private Link Service any subscription may see or connect to
FRONT_DOOR_TYPES = {
    "azure-native:cdn:Profile": "a Front Door or CDN profile",
    "azure-native:cdn:AFDEndpoint": "a Front Door endpoint (a public host name)",
    "azure-native:cdn:Endpoint": "a CDN endpoint (a public host name)",
    "azure-native:cdn:AFDOrigin": "a Front Door origin",
    "azure-native:cdn:Origin": "a CDN origin",
    "azure-native:cdn:AFDOriginGroup": "a Front Door origin group",
    "azure-native:cdn:OriginGroup": "a CDN origin group",
    "azure-native:cdn:Route": "a Front Door route",
    "azure-native:network:FrontDoor": "a classic Front Door",
}
API_MANAGEMENT = "azure-native:apimanagement:ApiManagementService"
PRIVATE_LINK_SERVICE = "azure-native:network:PrivateLinkService"
# cloud-provider-azure makes a Private Link Service for a LoadBalancer Service with these annotations
# (cloud-provider-azure.sigs.k8s.io/topics/pls-integration): visibility and auto-approval are space-separated
# subscription lists, '*' for every subscription
PLS_CREATE_ANNOTATION = "service.beta.kubernetes.io/azure-pls-create"
PLS_VISIBILITY_ANNOTATIONS = ("service.beta.kubernetes.io/azure-pls-visibility",
                              "service.beta.kubernetes.io/azure-pls-auto-approval")


def _every_subscription(value: Any) -> bool:
    """Whether a subscription list (a list, or a space- or comma-separated string) holds '*' or is not known yet."""
    if is_unknown(value):
        return True
    listed = value.replace(",", " ").split() if isinstance(value, str) else items(value)
    return any(is_unknown(entry) or str(entry).strip() == "*" for entry in listed)


def _published_problem(kind: str, props: Any) -> str | None:
    """Why a Front Door / CDN part, an API Management service, a Private Link Service or a Kubernetes Service
    that makes one publishes the stack outside its VNet, or None."""
    if kind in FRONT_DOOR_TYPES:
        via = ""
        if get(props, "sharedPrivateLinkResource") is not None:
            via = (" reaching a private address through Private Link (sharedPrivateLinkResource), which publishes "
                   "an internal load balancer or environment on Front Door's public endpoint")
        return (f"is {FRONT_DOOR_TYPES[kind]}{via}: Front Door and CDN serve from public edge host names, so "
                "an internal stack holds none; publish through a public stack instead")
    if kind == API_MANAGEMENT:
        mode = get(props, "virtualNetworkType")
        if is_unknown(mode) or str(mode or "").strip().lower() != "internal":
            shown = "not known yet" if is_unknown(mode) else f"'{mode or 'None'}'"
            return (f"is an API Management service with virtualNetworkType {shown}, whose gateway is reachable "
                    "from the internet; set virtualNetworkType 'Internal'")
    if kind == PRIVATE_LINK_SERVICE:
        for field in ("visibility", "autoApproval"):
            listed = get(props, field, "subscriptions")
            if is_unknown(get(props, field)) or (listed is not None and _every_subscription(listed)):
                return (f"is a Private Link Service whose {field}.subscriptions holds '*' (or is not known yet): "
                        "any Azure subscription may connect to it (Front Door, a stranger's private endpoint); "
                        "name the subscriptions that may")
    if kind == K8S_SERVICE:
        annotations = get(props, "metadata", "annotations")
        create = annotations if is_unknown(annotations) else get(annotations, PLS_CREATE_ANNOTATION)
        if is_unknown(create) or str(create or "").strip().lower() == "true":
            for name in PLS_VISIBILITY_ANNOTATIONS:
                value = annotations if is_unknown(annotations) else get(annotations, name)
                if value is not None and _every_subscription(value):
                    return (f"makes a Private Link Service ({PLS_CREATE_ANNOTATION}) with {name} '*' (or not "
                            "known yet): any Azure subscription may connect to it (Front Door, a stranger's "
                            "private endpoint); name the subscriptions that may")
    return None


def exposure_problem(resource: Any, outbound_only: frozenset[str] | set[str] = frozenset(),
                     environments: list[Any] | None = None,
                     application_gateways: list[Any] | None = None) -> str | None:
    """Why one resource is reachable from outside the VNet, or None; ``environments``: the stack's
    Container Apps environments (a Container App's is judged against them); ``application_gateways``: the
    stack's (an AKS AGIC add-on's is judged against them)."""
    props, kind = resource.props, resource.resource_type
    if kind in CLASSIC_PUBLIC_IPS:
        return PUBLIC_IP_PROBLEM
    if unjudged := classic_unjudged(kind, internal=True):
        what, instead = unjudged
        return (f"is {what} of the classic azure provider, which this pack does not read, so whether it is "
                f"public is not judged; use {instead}, which the pack judges")
    if arm_deployment(kind):
        return ("is an ARM template deployment: Azure Resource Manager creates the template's resources, never "
                "registered with Pulumi, so whether they are public is not judged; declare them as azure-native "
                "resources in the program")
    if deployment_script(kind):
        return ("is a deployment script: it runs the Azure CLI or PowerShell in Azure, and what it creates is never "
                "registered with Pulumi, so whether that is public is not judged; declare those resources as "
                "azure-native resources in the program")
    if kind == GENERIC_RESOURCE:
        return _generic_resource_problem(props)
    if published := _published_problem(kind, props):
        return published
    if kind in (FIREWALL_POLICY_RULES, FIREWALL_RULE_GROUP, AZURE_FIREWALL):
        return _dnat_problem(kind, props)
    if _kubernetes_group_kind(kind) == (APP_ROUTING_GROUP, "NginxIngressController"):
        annotations = get(props, "spec", "loadBalancerAnnotations")
        if is_unknown(annotations) or not asks_internal_lb(get(annotations, INTERNAL_LB_ANNOTATION)):
            return ("is an application routing NginxIngressController whose NGINX load balancer is public (its "
                    f"spec.loadBalancerAnnotations lack {INTERNAL_LB_ANNOTATION}: \"true\"); add that annotation")
    if kind == CONTAINER_APP:
        return _app_environment_problem(props, environments or [])
    if kind == CONTAINER_GROUP:
        ip_type = get(props, "ipAddress", "type")
        if is_unknown(ip_type) or str(ip_type or "").strip().lower() == "public":
            return "is a container group with a public IP address (ipAddress.type Public); set it Private, in a subnet"
    elif kind == APPLICATION_GATEWAY:
        public = [str(get(c, "name") or "?") for c in items(get(props, "frontendIPConfigurations"))
                  if get(c, "publicIPAddress")]
        if public:
            return (f"is an Application Gateway with a public frontend ({', '.join(public)}: a publicIPAddress, "
                    "wherever the address was made); give it a private frontend only")
    if kind in (PUBLIC_IP, PUBLIC_IP_PREFIX):
        if isinstance(get(props, "id"), str) and str(get(props, "id")).lower() in outbound_only:
            return None
        return PUBLIC_IP_PROBLEM
    if kind == NETWORK_INTERFACE:
        if is_unknown(get(props, "ipConfigurations")):
            return "may have a public IP address (its ipConfigurations are not known yet)"
        if any(get(c, "publicIPAddress") for c in items(get(props, "ipConfigurations"))):
            return "has a public IP address"
    elif kind in (VIRTUAL_MACHINE, VM_SCALE_SET):
        inline = inline_public_ip_configurations(props)
        if inline:
            return (f"declares a public IP inline (ipConfigurations {', '.join(inline)} have a "
                    "publicIPAddressConfiguration)")
    elif kind == AGENT_POOL and public_node_pools(kind, props):
        return "gives every node a public IP (enableNodePublicIP: true)"
    elif kind == LOAD_BALANCER:
        if any(get(c, "publicIPAddress") or get(c, "publicIPPrefix")
               for c in items(get(props, "frontendIPConfigurations"))):
            return "is a public load balancer (a frontend with a public IP)"
    elif kind == K8S_SERVICE and (get(props, "spec", "type") == "LoadBalancer"
                                  or is_unknown(get(props, "spec", "type"))):
        if not asks_internal_lb(get(props, "metadata", "annotations", INTERNAL_LB_ANNOTATION)):
            return (f"is a public load balancer; annotate it {INTERNAL_LB_ANNOTATION}: \"true\"")
    elif kind == MANAGED_ENVIRONMENT:
        if not is_true(get(props, "vnetConfiguration", "internal")):
            return "is an external Container Apps environment; set vnetConfiguration.internal: true"
    elif kind == MANAGED_CLUSTER:
        problems = _cluster_problems(props, application_gateways or [])
        return "; it also ".join(problems) if problems else None
    elif kind == KEY_VAULT:
        access = str(get(props, "properties", "publicNetworkAccess") or "enabled").lower()
        if access != "disabled":
            return (f"has publicNetworkAccess '{access}'; set it 'Disabled' and reach the vault through a "
                    "private endpoint")
    elif kind == STORAGE_ACCOUNT:
        closed = (str(get(props, "publicNetworkAccess") or "").lower() == "disabled"
                  or (str(get(props, "networkRuleSet", "defaultAction") or "allow").lower() == "deny"
                      and not rules.source_range_problems(
                          [get(r, "iPAddressOrRange") or get(r, "ipAddressOrRange") or "*"
                           for r in items(get(props, "networkRuleSet", "ipRules"))])))
        if not closed:
            return ("is open to public networks; set publicNetworkAccess 'Disabled' or networkRuleSet "
                    "defaultAction 'Deny' (with VNet rules or a private endpoint)")
    elif kind == STORAGE_CLASS and str(get(props, "provisioner")) in CSI_STORAGE_PROVISIONERS:
        parameters = get(props, "parameters")
        parameters = parameters if isinstance(parameters, Mapping) else {}
        if str(parameters.get("publicNetworkAccess", "")).lower() != "disabled" or \
                str(parameters.get("networkEndpointType", "")).lower() != "privateendpoint":
            return ("provisions storage accounts open to public networks; set parameters "
                    "networkEndpointType: privateEndpoint and publicNetworkAccess: Disabled")
    return None


def validate_closed_when_internal(args: StackValidationArgs, report: ReportViolation) -> None:
    # read as plain values: one unknown value (a first preview) raised here would turn the whole
    # policy into an advisory; unknowns are judged for the worse case instead
    resources = plain_resources(args.resources)
    outbound_only = outbound_only_addresses(resources)
    judged = internal_resources(args, resources)
    unknown = unknown_addresses(resources, judged)
    environments = [r for r in resources if r.resource_type == MANAGED_ENVIRONMENT]
    gateways = [r for r in resources if r.resource_type == APPLICATION_GATEWAY]
    for resource in judged:
        problem = unknown[str(resource.urn)] if str(resource.urn) in unknown else \
            exposure_problem(resource, outbound_only, environments, gateways)
        if problem:
            report(f"{resource.resource_type} '{resource.name}': the stack is internal but it {problem}",
                   resource.urn)


closed_when_internal = StackValidationPolicy(
    name="closed-when-internal",
    description="Internal stacks (the components' apertus-exposure tag, or policy config 'internal') "
                "have no public IP (inline VM/scale-set or AKS node public IPs, classic-provider ones included; a "
                "resource's own public tag exempts nothing, the config's public list does), public load balancer, "
                "Application Gateway frontend, Container Instances group, AKS app routing NGINX (add-on default or "
                "NginxIngressController), Istio add-on External gateway or AGIC-made gateway, firewall DNAT, or external "
                "Container Apps environment (nor an external Container App in an environment the stack does not "
                "create as internal), no Front Door or CDN, API Management outside Internal VNet mode or Private Link "
                "Service (resource or Service annotation) open to every subscription, no ARM deployment of any type, generic resources:Resource or classic-provider resource that can make "
                "something public (the pack cannot judge them), an "
                "AKS API server that is private or limited to narrow authorizedIPRanges, and Key Vaults, "
                "storage accounts and CSI storage classes closed to public networks (Log Analytics "
                "stays public, as documented).",
    validate=normalised(validate_closed_when_internal),
    enforcement_level=MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "internal": {
            "type": "boolean",
            "description": "Declare the whole stack internal (true) or public (false) instead of reading "
                           "the components' apertus-exposure tag"},
        "public": {
            "type": "array", "items": {"type": "string"},
            "description": "Resource names or URNs that stay public in an internal stack (a resource's own "
                           "apertus-exposure: public tag does not exempt it)"}}),
)
