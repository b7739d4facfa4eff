"""The apertus-azure security promises as Pulumi CrossGuard policies (all mandatory).

Importable without side effects: ``__main__.py`` builds the ``PolicyPack`` (which starts the
analyzer server), the tests call each policy's ``validate`` directly.

How the engine presents properties: the engine sends secrets with their marker
(pulumi/pulumi pkg/resource/plugin/analyzer_plugin.go, ``MarshalOptions{KeepSecrets: true}``), and
pulumi-policy 1.21 (``policy.py`` ``Analyze``) passes them through ``deserialize_properties``
without ``proxy_secrets``, so a secret arrives as its plain value and a policy cannot tell it was
marked secret. The secrets policy therefore
checks *places* where a secret must never be, marked or not (tags, labels, annotations, env
values, command lines, ConfigMaps, VM custom data). Props are ``Mapping``/``Sequence`` proxies
(never test ``isinstance(x, dict)``); reading an unknown value during preview raises
``UnknownValueError``, which the engine reports as an advisory "can't run during preview".

"Internal" (policy ``closed-when-internal``): the policy's config ``internal: true|false`` when
given; otherwise the stack is internal when it has an entry point and every entry point is
private: Container Apps environments with ``vnetConfiguration.internal``, Kubernetes
``LoadBalancer`` Services with the ``azure-load-balancer-internal: "true"`` annotation, VM network
interfaces without a public IP. These are the properties the hosts set for ``internal: true``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

MANDATORY = EnforcementLevel.MANDATORY

CONTAINER_APP = "azure-native:app:ContainerApp"
MANAGED_ENVIRONMENT = "azure-native:app:ManagedEnvironment"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
KEY_VAULT = "azure-native:keyvault:Vault"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
NSG = "azure-native:network:NetworkSecurityGroup"
SECURITY_RULE = "azure-native:network:SecurityRule"
NETWORK_INTERFACE = "azure-native:network:NetworkInterface"
LOAD_BALANCER = "azure-native:network:LoadBalancer"
VIRTUAL_MACHINE = "azure-native:compute:VirtualMachine"
K8S_SERVICE = "kubernetes:core/v1:Service"
K8S_CONFIG_MAP = "kubernetes:core/v1:ConfigMap"

# where a pod spec sits in each Kubernetes workload kind
_POD_SPEC_PATHS = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

GPU_RESOURCE = "nvidia.com/gpu"  # the NVIDIA device plugin's extended resource name
INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"
ACME_RULE_WORD = "acme"  # the hosts name their port-80 rule for ACME HTTP-01 "allow-acme-http"

SSH_PORT = 22
# broadest SSH source allowed: an IPv4 /8 (issue 8.6); for IPv6 a /48, the end-site assignment
# of RFC 6177 section 2
SSH_BROADEST_PREFIX = {4: 8, 6: 48}

# Hugging Face user access tokens: "hf_" + 34 letters/digits (huggingface.co/docs/hub/security-tokens)
HF_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{30,}")
# A candidate key: a run of at least 32 characters (the shortest apiKey the project accepts,
# issue 8.2) from the alphabet apiKey allows, '/' and '.' included so a base64 key is one run
# (`openssl rand -base64 36` puts a '/' in most keys). UUIDs (identifiers such as client ids) and
# digests after 'sha256:' are taken out of the text first (so a UUID chosen as apiKey is not seen:
# in the hosts' plain properties UUIDs are client and tenant ids).
KEY_RUN = re.compile(r"[A-Za-z0-9._~+/=-]{32,}")
KEY_PIECE = re.compile(r"[A-Za-z0-9_~+=-]{32,}")  # the same cut at '/' and '.': a key at the end of a URL
UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
DIGEST_IN_TEXT = re.compile(r"\bsha(?:256|384|512):[0-9a-fA-F]+")
# A hex key: 16 or more hex digits (64 bits) standing alone, with a digit and a letter; outside
# hash-named places (below) the longest hex runs the hosts write are 12 (a UUID's last group). `openssl rand -hex 32` and keys
# like 'offline-test-api-key-5f1c9e2a7b0d4c8e' end in one; a repeated '9f9f...' has no entropy to
# measure, so hex is matched by shape, not by entropy.
HEX_RUN = re.compile(r"(?<![A-Za-z0-9])(?:[0-9a-f]{16,}|[0-9A-F]{16,})(?![A-Za-z0-9])")
# a place named for a hash (the AKS gateway's 'apertus/config-hash' annotation, 16 hex digits of a
# SHA-256, rolls the pods when their config changes) holds a digest, not a key
# (a whole word of the key name: 'checksum/config', 'GIT_SHA', 'config-hash'; not 'SHARED_KEY')
DIGEST_PLACE = re.compile(r"(?<![a-z0-9])(hash|checksum|digest|sha(1|256|512)?|commit)(?![a-z0-9])",
                          re.IGNORECASE)
# A run counts as random when its neighbouring characters change class (upper case, lower case,
# digit) at least once per CLASS_SWITCH_SHARE characters and its Shannon entropy is at least
# ENTROPY_FLOOR bits per character. Measured here on 5,000 random keys each (tests/test_policy.py
# keeps the figures honest): class switches per character, 0.1% quantile: a-z0-9 32 chars 0.12,
# A-Za-z0-9 32 chars 0.34, base64 of 36 bytes 0.33; entropy 0.1% quantile of a-z0-9 32 chars 3.82.
# The word-made runs in the three hosts' plain properties switch at most 0.12 per character
# (after UUIDs are taken out), so 0.15 separates them; it misses ~1 in 200 32-character
# lower-case-and-digit keys.
CLASS_SWITCH_SHARE = 0.15
ENTROPY_FLOOR = 3.5


# ---------------------------------------------------------------- small readers

def get(props: Any, *path: str) -> Any:
    """``props[path[0]][path[1]]...``, or None where a step is missing or not a mapping."""
    value = props
    for step in path:
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def items(value: Any) -> list[Any]:
    """A list input as a list (None and non-lists give no items)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return []


def pod_spec(resource_type: str, props: Any) -> Any:
    path = _POD_SPEC_PATHS.get(resource_type)
    return get(props, *path) if path else None


def pod_template_metadata(resource_type: str, props: Any) -> Any:
    path = _POD_SPEC_PATHS.get(resource_type)
    return get(props, *path[:-1], "metadata") if path and len(path) > 1 else None


def k8s_containers(resource_type: str, props: Any) -> Iterator[Any]:
    spec = pod_spec(resource_type, props)
    for key in _CONTAINER_LISTS:
        yield from items(get(spec, key))


def aca_containers(props: Any) -> Iterator[Any]:
    for key in ("initContainers", "containers"):
        yield from items(get(props, "template", key))


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def _label(args: Any) -> str:
    return f"{args.resource_type} '{args.name}'"


def _listed(names: Sequence[str], shown: int = 5) -> str:
    """'a, b, c' or, for a long list, its first few and how many more."""
    names = list(names)
    rest = len(names) - shown
    return ", ".join(names) if rest <= 0 else f"{', '.join(names[:shown])} and {rest} more"


# ---------------------------------------------------------------- HTTPS only

def _port_ranges(rule: Any) -> list[tuple[int, int]]:
    """The destination ports of an NSG rule as (low, high) ranges; '*' is all ports."""
    texts = [get(rule, "destinationPortRange")] + items(get(rule, "destinationPortRanges"))
    ranges = []
    for text in texts:
        if text is None:
            continue
        text = str(text).strip()
        if text == "*":
            ranges.append((0, 65535))
        elif "-" in text:
            low, high = text.split("-", 1)
            ranges.append((int(low), int(high)))
        else:
            ranges.append((int(float(text)), int(float(text))))
    return ranges


def _opens_tcp_port(rule: Any, port: int) -> bool:
    """An inbound Allow rule for TCP (or any protocol) that covers ``port``."""
    return (str(get(rule, "direction") or "").lower() == "inbound"
            and str(get(rule, "access") or "").lower() == "allow"
            and str(get(rule, "protocol") or "*").lower() in ("tcp", "*")
            and any(low <= port <= high for low, high in _port_ranges(rule)))


def _nsg_rules(resource_type: str, props: Any) -> list[Any]:
    """The rules of an NSG (inline ``securityRules``) or a standalone SecurityRule resource."""
    if resource_type == NSG:
        return items(get(props, "securityRules"))
    if resource_type == SECURITY_RULE:
        return [props]
    return []


def _rule_name(rule: Any, fallback: str) -> str:
    return str(get(rule, "name") or get(rule, "securityRuleName") or fallback)


def validate_https_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props, label = args.props, _label(args)
    if args.resource_type == CONTAINER_APP:
        ingress = get(props, "configuration", "ingress")
        if ingress is None:
            return
        if is_true(get(ingress, "allowInsecure")):
            report(f"{label}: ingress allowInsecure is true, so plain HTTP reaches the app; set it false")
        transport = str(get(ingress, "transport") or "auto").lower()
        if transport == "tcp":
            report(f"{label}: ingress transport 'tcp' skips the HTTPS front end; use 'auto', 'http' or 'http2'")
        for mapping in items(get(ingress, "additionalPortMappings")):
            if is_true(get(mapping, "external")):
                report(f"{label}: additional port mapping {get(mapping, 'exposedPort')} is external, plain TCP "
                       "beside the HTTPS ingress; keep additional ports internal")
    elif args.resource_type == STORAGE_ACCOUNT:
        if is_false(get(props, "enableHttpsTrafficOnly")) and not _nfs_only_account(props):
            report(f"{label}: enableHttpsTrafficOnly is false on an account reachable outside a VNet; "
                   "only an NFS FileStorage account whose network rules deny by default may turn it off")
    elif args.resource_type in (NSG, SECURITY_RULE):
        for index, rule in enumerate(_nsg_rules(args.resource_type, props)):
            name = _rule_name(rule, args.name if args.resource_type == SECURITY_RULE else f"#{index}")
            if _opens_tcp_port(rule, 80) and ACME_RULE_WORD not in name.lower():
                report(f"{label}: rule '{name}' allows inbound port 80; plain HTTP is open only in a rule "
                       f"named for ACME HTTP-01 (containing '{ACME_RULE_WORD}') that Caddy redirects to HTTPS")
    elif args.resource_type == LOAD_BALANCER:
        for kind in ("loadBalancingRules", "inboundNatRules"):
            for index, rule in enumerate(items(get(props, kind))):
                name = _rule_name(rule, f"{kind}#{index}")
                ports = (get(rule, "frontendPort"), get(rule, "frontendPortRangeStart"))
                if 80 in {int(float(p)) for p in ports if p is not None} and ACME_RULE_WORD not in name.lower():
                    report(f"{label}: {kind} '{name}' listens on port 80; plain HTTP is open only in a rule "
                           f"named for ACME HTTP-01 (containing '{ACME_RULE_WORD}')")
    elif args.resource_type == K8S_SERVICE and get(props, "spec", "type") == "LoadBalancer":
        internal = is_true(get(props, "metadata", "annotations", INTERNAL_LB_ANNOTATION))
        ports = {int(float(get(p, "port"))) for p in items(get(props, "spec", "ports")) if get(p, "port") is not None}
        allowed = {443} if internal else {443, 80}  # public: port 80 for ACME HTTP-01 and the redirect
        for port in sorted(ports - allowed):
            why = ("an internal load balancer uses Caddy's own CA, with no ACME and no port 80"
                   if internal and port == 80 else "the gateway serves HTTPS on 443 only")
            report(f"{label}: load balancer port {port} is open; {why}")
        if not internal and 80 in ports and 443 not in ports:
            report(f"{label}: port 80 without 443; port 80 is only for ACME HTTP-01 beside the HTTPS port")


def _nfs_only_account(props: Any) -> bool:
    """Azure Files NFS shares are mounted without TLS, so their account cannot require secure transfer;
    Microsoft recommends secure transfer for every account "except where NFS Azure file shares are
    used with network-level security" (learn.microsoft.com/azure/storage/common/
    storage-require-secure-transfer). The exception therefore holds only for a FileStorage account
    whose network rules deny by default."""
    return (get(props, "kind") == "FileStorage"
            and str(get(props, "networkRuleSet", "defaultAction") or "").lower() == "deny")


https_only = ResourceValidationPolicy(
    name="https-only-ingress",
    description="Clients reach the API over HTTPS only: Container Apps ingress refuses insecure HTTP, "
                "TCP transport and external extra ports; storage accounts require secure transfer (except NFS-only "
                "FileStorage behind VNet rules, which Azure requires); port 80 is open only for ACME "
                "HTTP-01 (NSG and Azure load balancer rules named 'acme', public gateway Services beside 443).",
    validate=validate_https_only,
    enforcement_level=MANDATORY,
)


# ---------------------------------------------------------------- SSH

def _address_sources(rule: Any) -> list[str]:
    return [str(s) for s in [get(rule, "sourceAddressPrefix")] + items(get(rule, "sourceAddressPrefixes"))
            if s is not None]


def ssh_source_problems(sources: list[str]) -> list[str]:
    """Why these SSH sources are too broad, one reason per problem (empty: fine)."""
    problems, networks = [], []
    for source in sources:
        try:
            network = ipaddress.ip_network(source.strip(), strict=False)
        except ValueError:
            problems.append(f"source '{source}' is not an address range (service tags and '*' mean "
                            "anyone); give CIDRs")
            continue
        broadest = SSH_BROADEST_PREFIX[network.version]
        if network.prefixlen < broadest:
            problems.append(f"source '{source}' is broader than /{broadest}")
        networks.append(network)
    for version, broadest in SSH_BROADEST_PREFIX.items():
        family = [n for n in networks if n.version == version]
        limit = 2 ** (family[0].max_prefixlen - broadest) if family else 0
        total = sum(n.num_addresses for n in ipaddress.collapse_addresses(family)) if family else 0
        if total > limit:
            problems.append(f"together the sources {_listed([str(n) for n in family])} cover more "
                            f"addresses than a /{broadest}")
    return problems


def validate_no_public_ssh(args: ResourceValidationArgs, report: ReportViolation) -> None:
    rules = [r for r in _nsg_rules(args.resource_type, args.props) if _opens_tcp_port(r, SSH_PORT)]
    if not rules:
        return
    sources = [s for rule in rules for s in _address_sources(rule)]
    names = ", ".join(_rule_name(r, args.name) for r in rules)
    for problem in ssh_source_problems(sources):
        report(f"{_label(args)}: inbound SSH (rules {names}): {problem}; allow at most a /8 "
               "(your own addresses), or use Azure Bastion")


no_public_ssh = ResourceValidationPolicy(
    name="no-public-ssh",
    description="Inbound SSH (port 22, inline NSG rules and SecurityRule resources) is allowed only "
                "from address ranges no broader than an IPv4 /8 (IPv6 /48), one by one and together: "
                "never '*', 'Internet', service tags or 0.0.0.0/0.",
    validate=validate_no_public_ssh,
    enforcement_level=MANDATORY,
)


def validate_no_public_ssh_in_pieces(args: StackValidationArgs, report: ReportViolation) -> None:
    """The union across resources: 199 SecurityRules with one /8 each pass one by one. A resource
    that fails on its own is left to ``no-public-ssh``, so each problem is reported once."""
    pieces: dict[str, list[str]] = {}
    for resource in args.resources:
        rules = [r for r in _nsg_rules(resource.resource_type, resource.props) if _opens_tcp_port(r, SSH_PORT)]
        sources = [s for rule in rules for s in _address_sources(rule)]
        if sources and not ssh_source_problems(sources):
            pieces[resource.name] = sources
    if len(pieces) < 2:
        return
    for problem in ssh_source_problems([s for sources in pieces.values() for s in sources]):
        report(f"inbound SSH across {len(pieces)} resources ({_listed(sorted(pieces))}): {problem}; "
               "allow at most a /8 in the whole stack (your own addresses), or use Azure Bastion")


no_public_ssh_in_pieces = StackValidationPolicy(
    name="no-public-ssh-across-stack",
    description="The inbound SSH sources of every NSG and SecurityRule in the stack, taken together, "
                "cover no more than an IPv4 /8 (IPv6 /48): SSH cannot be opened to the world in "
                "pieces spread over several rules or security groups.",
    validate=validate_no_public_ssh_in_pieces,
    enforcement_level=MANDATORY,
)


# ---------------------------------------------------------------- Key Vault

def validate_key_vault(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != KEY_VAULT:
        return
    properties, label = get(args.props, "properties"), _label(args)
    if not is_true(get(properties, "enableRbacAuthorization")):
        report(f"{label}: enableRbacAuthorization is not true; access policies bypass Azure RBAC")
    if is_false(get(properties, "enableSoftDelete")):
        report(f"{label}: enableSoftDelete is false; a deleted secret could not be recovered")
    if not is_true(get(properties, "enablePurgeProtection")):
        report(f"{label}: enablePurgeProtection is not true; anyone with delete rights can purge "
               "the secrets before the retention period ends")


key_vault_hardened = ResourceValidationPolicy(
    name="key-vault-hardened",
    description="Key Vaults holding the HF token and API key use Azure RBAC authorization, soft "
                "delete and purge protection.",
    validate=validate_key_vault,
    enforcement_level=MANDATORY,
)


# ---------------------------------------------------------------- closed when internal

def entry_points(resources: Sequence[Any]) -> list[tuple[str, bool]]:
    """Each way in from outside the VNet as (resource name, private?)."""
    found = []
    for resource in resources:
        props = resource.props
        if resource.resource_type == MANAGED_ENVIRONMENT:
            found.append((resource.name, is_true(get(props, "vnetConfiguration", "internal"))))
        elif resource.resource_type == K8S_SERVICE and get(props, "spec", "type") == "LoadBalancer":
            found.append((resource.name, is_true(get(props, "metadata", "annotations", INTERNAL_LB_ANNOTATION))))
        elif resource.resource_type == NETWORK_INTERFACE:
            public = any(get(c, "publicIPAddress") for c in items(get(props, "ipConfigurations")))
            found.append((resource.name, not public))
    return found


def stack_is_internal(args: StackValidationArgs) -> bool:
    configured = args.get_config().get("internal")
    if configured is not None:
        return bool(configured)
    points = entry_points(args.resources)
    return bool(points) and all(private for _, private in points)


def validate_closed_when_internal(args: StackValidationArgs, report: ReportViolation) -> None:
    if not stack_is_internal(args):
        return
    for resource in args.resources:
        props = resource.props
        if resource.resource_type == KEY_VAULT:
            access = str(get(props, "properties", "publicNetworkAccess") or "enabled").lower()
            if access != "disabled":
                report(f"Key Vault '{resource.name}': the stack is internal but publicNetworkAccess is "
                       f"'{access}'; set it 'Disabled' and reach the vault through a private endpoint",
                       resource.urn)
        elif resource.resource_type == MANAGED_CLUSTER:
            profile = get(props, "apiServerAccessProfile")
            if not (is_true(get(profile, "enablePrivateCluster")) or items(get(profile, "authorizedIPRanges"))):
                report(f"AKS cluster '{resource.name}': the stack is internal but the API server is open "
                       "to the internet; make it private or set authorizedIPRanges", resource.urn)


closed_when_internal = StackValidationPolicy(
    name="closed-when-internal",
    description="When the stack is internal (policy config 'internal', else every entry point is "
                "private), the Key Vault has public network access disabled and the AKS API server "
                "is private or limited to authorized IP ranges.",
    validate=validate_closed_when_internal,
    enforcement_level=MANDATORY,
    config_schema=PolicyConfigSchema(properties={"internal": {
        "type": "boolean",
        "description": "Declare the stack internal (true) or public (false) instead of inferring it"}}),
)


# ---------------------------------------------------------------- storage accounts

def validate_storage_account(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != STORAGE_ACCOUNT:
        return
    props, label = args.props, _label(args)
    if not is_false(get(props, "allowSharedKeyAccess")):
        report(f"{label}: allowSharedKeyAccess is not false (Azure's default allows shared keys); "
               "use Entra ID / managed identity")
    tls = get(props, "minimumTlsVersion")
    if tls not in ("TLS1_2", "TLS1_3"):
        report(f"{label}: minimumTlsVersion is {tls!r} (Azure's default interpretation is TLS 1.0); "
               "set 'TLS1_2'")
    if not is_false(get(props, "allowBlobPublicAccess")):
        report(f"{label}: allowBlobPublicAccess is not false; set it false")


storage_account_hardened = ResourceValidationPolicy(
    name="storage-account-hardened",
    description="Storage accounts (model cache) refuse shared-key access, require TLS 1.2 or newer "
                "and allow no anonymous blob access, each set explicitly.",
    validate=validate_storage_account,
    enforcement_level=MANDATORY,
)


# ---------------------------------------------------------------- AKS identity

def validate_aks_identity(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != MANAGED_CLUSTER:
        return
    props, label = args.props, _label(args)
    if not is_true(get(props, "disableLocalAccounts")):
        report(f"{label}: disableLocalAccounts is not true; the static admin kubeconfig bypasses Entra ID")
    if not is_true(get(props, "aadProfile", "enableAzureRBAC")):
        report(f"{label}: aadProfile.enableAzureRBAC is not true; Kubernetes access is not governed by Azure RBAC")
    if not is_true(get(props, "securityProfile", "workloadIdentity", "enabled")):
        report(f"{label}: securityProfile.workloadIdentity.enabled is not true; pods would need stored credentials")
    if not is_true(get(props, "oidcIssuerProfile", "enabled")):
        report(f"{label}: oidcIssuerProfile.enabled is not true; workload identity needs the OIDC issuer")


aks_identity_hardened = ResourceValidationPolicy(
    name="aks-identity-hardened",
    description="AKS clusters disable local accounts, authorize with Azure RBAC (Entra ID) and run "
                "workload identity with the OIDC issuer, so no static credential exists.",
    validate=validate_aks_identity,
    enforcement_level=MANDATORY,
)


# ---------------------------------------------------------------- GPU containers

# The NVIDIA container runtime gives GPUs to a container whose env sets NVIDIA_VISIBLE_DEVICES
# (indices, UUIDs or 'all'), whatever it requests; 'none', 'void' or empty give none (NVIDIA
# Container Toolkit user guide, docs.nvidia.com/datacenter/cloud-native/container-toolkit, "GPU Enumeration")
GPU_ENV = "NVIDIA_VISIBLE_DEVICES"
NO_GPU_ENV_VALUES = ("", "void", "none")
HOST_NAMESPACES = ("hostPID", "hostIPC", "hostNetwork")


def _gets_gpu(container: Any) -> bool:
    """Requests nvidia.com/gpu, or sets NVIDIA_VISIBLE_DEVICES to devices (a valueFrom counts:
    its value is not visible here)."""
    resources = get(container, "resources")
    if any(get(resources, kind, GPU_RESOURCE) not in (None, 0, "0") for kind in ("limits", "requests")):
        return True
    for env in items(get(container, "env")):
        if get(env, "name") == GPU_ENV:
            if get(env, "valueFrom") is not None:
                return True
            if str(get(env, "value") or "").strip().lower() not in NO_GPU_ENV_VALUES:
                return True
    return False


def validate_gpu_capabilities(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # Container Apps containers have no securityContext (ContainerApp API: Container has args,
    # command, env, image, name, probes, resources, volumeMounts), so the rule is not expressible there
    label = _label(args)
    gpu_containers = [c for c in k8s_containers(args.resource_type, args.props) if _gets_gpu(c)]
    for container in gpu_containers:
        context = get(container, "securityContext")
        name = get(container, "name")
        dropped = [str(c).upper() for c in items(get(context, "capabilities", "drop"))]
        if "ALL" not in dropped:
            report(f"{label}: GPU container '{name}' does not drop ALL capabilities; "
                   "set securityContext.capabilities.drop: [ALL]")
        added = [str(c) for c in items(get(context, "capabilities", "add"))]
        if added:
            report(f"{label}: GPU container '{name}' adds capabilities {', '.join(added)}; vLLM needs none, "
                   "add nothing to a container that holds GPUs")
        if is_true(get(context, "privileged")):
            report(f"{label}: GPU container '{name}' is privileged, which grants every capability back")
        if not is_false(get(context, "allowPrivilegeEscalation")):
            report(f"{label}: GPU container '{name}' does not set allowPrivilegeEscalation: false; a setuid "
                   "binary could regain capabilities")
    if gpu_containers:
        spec = pod_spec(args.resource_type, args.props)
        for field in HOST_NAMESPACES:
            if is_true(get(spec, field)):
                report(f"{label}: the pod of GPU container '{get(gpu_containers[0], 'name')}' sets {field}: "
                       "true, sharing the node's namespace; leave it unset")


gpu_containers_locked_down = ResourceValidationPolicy(
    name="gpu-containers-drop-capabilities",
    description="Kubernetes containers that get GPUs (request nvidia.com/gpu or set "
                "NVIDIA_VISIBLE_DEVICES) drop ALL Linux capabilities, add none, are not privileged, "
                "set allowPrivilegeEscalation: false, and their pods share no host namespace "
                "(hostPID, hostIPC, hostNetwork); Container Apps has no securityContext to set.",
    validate=validate_gpu_capabilities,
    enforcement_level=MANDATORY,
)


# ---------------------------------------------------------------- secrets in plain places

def shannon_entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _char_class(char: str) -> str | None:
    if char.isdigit():
        return "digit"
    if char.isalpha():
        return "upper" if char.isupper() else "lower"
    return None


def class_switches(text: str) -> int:
    """Neighbouring characters of different classes (upper, lower, digit; punctuation ignored)."""
    classes = [_char_class(c) for c in text]
    return sum(1 for a, b in zip(classes, classes[1:]) if a and b and a != b)


def is_random(piece: str) -> bool:
    return (len(piece) >= 32 and any(c.isalpha() for c in piece) and any(c.isdigit() for c in piece)
            and class_switches(piece) >= CLASS_SWITCH_SHARE * len(piece)
            and shannon_entropy(piece) >= ENTROPY_FLOOR)


def secret_looking(text: str, digest_expected: bool = False) -> str | None:
    """What in ``text`` looks like a credential ('a Hugging Face token', 'a hex key', 'a random
    key'), or None. A guess from the text alone: the policy never learns the stack's real key.
    ``digest_expected``: the place is named for a hash, so hex runs in it are digests."""
    if HF_TOKEN_PATTERN.search(text):
        return "a Hugging Face token"
    text = DIGEST_IN_TEXT.sub(" ", UUID.sub(" ", text))
    if digest_expected:
        text = HEX_RUN.sub(" ", text)
    if any(re.search(r"[0-9]", run) and re.search(r"[A-Fa-f]", run) for run in HEX_RUN.findall(text)):
        return "a hex key"
    if any(is_random(run) for run in KEY_RUN.findall(text) + KEY_PIECE.findall(text)):
        return "a random key"
    return None


def _decoded_custom_data(value: Any) -> str:
    """VM custom data is base64 (compute API osProfile.customData); scan the decoded text."""
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return value


def plain_places(resource_type: str, props: Any) -> Iterator[tuple[str, Any]]:
    """(where, value) for every property that is never a secret store."""
    tags = get(props, "tags")
    if isinstance(tags, Mapping):
        for key, value in tags.items():
            yield f"tags.{key}", f"{key}={value}"
    if resource_type.startswith("kubernetes:"):
        for where, metadata in (("metadata", get(props, "metadata")),
                                ("pod template metadata", pod_template_metadata(resource_type, props))):
            for field in ("labels", "annotations"):
                values = get(metadata, field)
                if isinstance(values, Mapping):
                    for key, value in values.items():
                        yield f"{where}.{field}.{key}", value
        if resource_type == K8S_CONFIG_MAP and isinstance(get(props, "data"), Mapping):
            for key, value in get(props, "data").items():
                yield f"data.{key}", value
        containers = list(k8s_containers(resource_type, props))
    elif resource_type == CONTAINER_APP:
        containers = list(aca_containers(props))
    else:
        containers = []
    for container in containers:
        name = get(container, "name")
        for env in items(get(container, "env")):
            if get(env, "value") is not None:
                yield f"container '{name}' env {get(env, 'name')}", get(env, "value")
        for field in ("command", "args"):
            for index, value in enumerate(items(get(container, field))):
                yield f"container '{name}' {field}[{index}]", value
    if resource_type == VIRTUAL_MACHINE:
        yield "osProfile.customData", _decoded_custom_data(get(props, "osProfile", "customData"))
        yield "userData", _decoded_custom_data(get(props, "userData"))


def validate_no_plain_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where, value in plain_places(args.resource_type, args.props):
        if not isinstance(value, str):
            continue
        key = re.split(r"[.\s]", where)[-1]  # the tag, label, annotation, env or data key
        found = secret_looking(value, digest_expected=bool(DIGEST_PLACE.search(key)))
        if found:
            report(f"{_label(args)}: {where} holds {found}; pass secrets as Pulumi secrets through "
                   "Key Vault references, secretRef or secretKeyRef, never in plain properties")


no_plain_secrets = ResourceValidationPolicy(
    name="no-secrets-in-plain-properties",
    description="No Hugging Face token or random key appears in tags, Kubernetes labels, "
                "annotations or ConfigMaps, container env values or command lines, or VM custom "
                "data: secrets travel as Key Vault / secretRef / secretKeyRef references.",
    validate=validate_no_plain_secrets,
    enforcement_level=MANDATORY,
)


# ---------------------------------------------------------------- pinned images

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
LATEST_IN_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*:latest\b")
# tag words that name a moving target, not a version ('nightly-cu128' moves like 'nightly')
FLOATING_TAG_WORDS = frozenset({"latest", "nightly", "stable", "edge", "main", "master", "dev", "rolling"})


def image_problem(image: str) -> str | None:
    """Why ``image`` is not pinned to a version, or None."""
    if DIGEST.search(image):
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (Docker pulls 'latest')"
    tag = last.rsplit(":", 1)[1]
    floating = FLOATING_TAG_WORDS.intersection(re.split(r"[-._]", tag.lower()))
    if floating:
        return f"uses the tag '{tag}', which moves ('{sorted(floating)[0]}')"
    if not re.search(r"[0-9]", tag):
        return f"uses the tag '{tag}', which names no version"
    return None


# `docker run`/`pull` options that take no value (docker run --help, docker pull --help, Docker 28);
# every other option takes one, as the next word unless written --option=value
DOCKER_FLAGS = frozenset({"--all-tags", "--rm", "--detach", "--interactive", "--tty", "--init",
                          "--privileged",
                          "--read-only", "--publish-all", "--oom-kill-disable", "--no-healthcheck",
                          "--disable-content-trust", "--quiet", "--sig-proxy", "--help"})
DOCKER_SHORT_FLAGS = frozenset("ditPq")  # -d -i -t -P -q, also clustered as -it, -dit
DOCKER_IMAGE_COMMAND = re.compile(r"\bdocker\s+(?:container\s+|image\s+)?(run|create|pull)\s+(.*)")
FOR_IMAGE_LOOP = re.compile(r"\bfor\s+(\w+)\s+in\s+(.*?);\s*do\b")


def _shell_lines(script: str) -> list[str]:
    """Lines with backslash continuations joined, as the shell reads them."""
    return re.sub(r"\\\n\s*", " ", script).splitlines()


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:  # unbalanced quotes: fall back to plain words
        return text.split()


def _image_after_options(words: list[str]) -> str | None:
    """The first argument of `docker run`/`create`/`pull` that is not an option or an option's value."""
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("--"):
            skip = "=" not in word and word not in DOCKER_FLAGS
        elif word.startswith("-") and len(word) > 1:
            skip = not set(word[1:]) <= DOCKER_SHORT_FLAGS and len(word) == 2
        elif word.startswith("$"):  # "${docker_args[@]}": options from an array
            continue
        else:
            return word
    return None


def shell_image_references(script: str) -> list[str]:
    """Image references a shell script pulls or runs with docker: literal arguments of
    `docker pull`/`run`/`create`, and the words of a `for <var> in ...; do` loop whose body pulls
    or runs "$<var>" (the shapes components/cloudinit.py writes)."""
    lines = _shell_lines(script)
    found: list[str] = []
    for index, line in enumerate(lines):
        loop = FOR_IMAGE_LOOP.search(line)
        if loop:
            body = "\n".join(lines[index:index + 5])  # the loop body follows on the next lines
            if re.search(r"docker\s+(?:pull|run|create)\b[^\n]*\$\{?" + loop.group(1) + r"\b", body):
                found += [w for w in _words(loop.group(2)) if not w.startswith("$")]
        command = DOCKER_IMAGE_COMMAND.search(line)
        if command:
            words = _words(re.split(r"\s(?:\|\||&&|;|\|)\s", command.group(2))[0])
            image = _image_after_options(words)
            if image and not image.startswith("$"):
                found.append(image)
    return list(dict.fromkeys(found))


def custom_data_scripts(text: str) -> list[str]:
    """The shell in VM custom data: a cloud-config's write_files contents, runcmd and bootcmd
    entries (YAML may quote them, which would hide their lines), plus the text itself."""
    scripts = [text]
    if text.startswith("#cloud-config"):
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            return scripts
        if isinstance(document, dict):
            scripts += [str(get(f, "content")) for f in items(document.get("write_files"))
                        if get(f, "content")]
            for key in ("runcmd", "bootcmd"):
                for entry in items(document.get(key)):
                    scripts.append(shlex.join(map(str, entry)) if isinstance(entry, list) else str(entry))
    return scripts


def custom_data_images(props: Any) -> list[str]:
    text = _decoded_custom_data(get(props, "osProfile", "customData"))
    return list(dict.fromkeys(reference for script in custom_data_scripts(text)
                              for reference in shell_image_references(script)))


def validate_pinned_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == CONTAINER_APP:
        containers = list(aca_containers(args.props))
    else:
        containers = list(k8s_containers(args.resource_type, args.props))
    for container in containers:
        image = get(container, "image")
        problem = "is missing" if not image else image_problem(str(image))
        if problem:
            report(f"{_label(args)}: container '{get(container, 'name')}' image '{image}' {problem}; "
                   "pin a version tag or a digest")
    if args.resource_type == VIRTUAL_MACHINE:
        references = custom_data_images(args.props)
        for reference in references:
            problem = image_problem(reference)
            if problem:
                report(f"{_label(args)}: custom data pulls or runs image '{reference}': it {problem}; "
                       "pin a version tag or a digest")
        # any other ':latest' image the parser does not see (another container tool, another shape)
        text = _decoded_custom_data(get(args.props, "osProfile", "customData"))
        for reference in sorted(set(LATEST_IN_TEXT.findall(text)) - set(references)):
            report(f"{_label(args)}: custom data names image '{reference}'; pin a version tag or a digest")


images_pinned = ResourceValidationPolicy(
    name="images-pinned",
    description="Container images (Container Apps, Kubernetes workloads, and the images VM custom data "
                "pulls or runs with docker) carry a version tag or a digest, never 'latest', "
                "'nightly' or a similar moving tag, and never no tag.",
    validate=validate_pinned_images,
    enforcement_level=MANDATORY,
)


RESOURCE_POLICIES = [https_only, no_public_ssh, key_vault_hardened, storage_account_hardened,
                     aks_identity_hardened, gpu_containers_locked_down, no_plain_secrets,
                     images_pinned]
STACK_POLICIES = [no_public_ssh_in_pieces, closed_when_internal]
POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
