"""What every policy of the pack shares: resource types, readers that never raise on odd
property shapes, and the rules the program applies too (loaded from components/serving/rules.py).

How the engine presents properties: the engine sends secrets with their marker
(pulumi/pulumi pkg/resource/plugin/analyzer_plugin.go, ``MarshalOptions{KeepSecrets: true}``), and
pulumi-policy 1.21 (``policy.py`` ``Analyze``) passes them through ``deserialize_properties``
without ``proxy_secrets``, so a secret arrives as its plain value and a policy cannot tell it was
marked secret. Props are ``Mapping``/``Sequence`` proxies (never test ``isinstance(x, dict)``);
reading an unknown value during preview raises ``UnknownValueError``, which the engine reports as
an advisory "can't run during preview".
"""

from __future__ import annotations

import functools
import importlib.util
import posixpath
import re
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel


def _shared_rules() -> Any:
    """components/serving/rules.py: imported when the components are installed, else loaded by
    path (the pack's own virtualenv need not hold azure-native); the same file either way."""
    try:
        from components.serving import rules
        return rules
    except ImportError:
        pass
    try:
        from apertus_azure.serving import rules  # type: ignore[no-redef]
        return rules
    except ImportError:
        pass
    path = Path(__file__).resolve().parents[2] / "components" / "serving" / "rules.py"
    spec = importlib.util.spec_from_file_location("apertus_shared_rules", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rules = _shared_rules()

MANDATORY = EnforcementLevel.MANDATORY

CONTAINER_APP = "azure-native:app:ContainerApp"
CONTAINER_APP_JOB = "azure-native:app:Job"
ACA_KINDS = (CONTAINER_APP, CONTAINER_APP_JOB)  # both run template.containers / initContainers
MANAGED_ENVIRONMENT = "azure-native:app:ManagedEnvironment"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
KEY_VAULT = "azure-native:keyvault:Vault"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
NSG = "azure-native:network:NetworkSecurityGroup"
SECURITY_RULE = "azure-native:network:SecurityRule"
NETWORK_INTERFACE = "azure-native:network:NetworkInterface"
LOAD_BALANCER = "azure-native:network:LoadBalancer"
VIRTUAL_MACHINE = "azure-native:compute:VirtualMachine"
VM_SCALE_SET = "azure-native:compute:VirtualMachineScaleSet"
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
    "kubernetes:batch/v1beta1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
POD_SPEC_PATHS = _POD_SPEC_PATHS
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

GPU_RESOURCE = "nvidia.com/gpu"  # the NVIDIA device plugin's extended resource name for a whole GPU
INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"
ACME_RULE_WORD = "acme"  # the hosts name their port-80 rule for ACME HTTP-01 "allow-acme-http"

SSH_PORT = 22
# broadest SSH source allowed: an IPv4 /8 (issue 8.6); for IPv6 a /48, the end-site assignment
# of RFC 6177 section 2
SSH_BROADEST_PREFIX = {4: 8, 6: 48}

# ---------------------------------------------------------------- resource types

# An explicit API version in the type token (`pulumi package add azure-native network v20240301`,
# or the SDK's pulumi_azure_native.network.v20240301 modules) makes the same ARM resource as the
# default token: azure-native:network/v20240301:SecurityRule is azure-native:network:SecurityRule.
_VERSIONED_MODULE = re.compile(r"^(azure-native:[^:/]+)/v\d{8}(?:preview)?(:[^:]+)$", re.IGNORECASE)
# Kubernetes server-side apply patches (pulumi-kubernetes 3.20+: ServicePatch, DeploymentPatch, ...)
# change the live object as the kind without the suffix does
PATCH_SUFFIX = "Patch"


def normalise_type(resource_type: Any) -> str:
    """The type every policy matches on: the API version dropped from an azure-native module.
    (Kubernetes ``*Patch`` kinds keep their name; policies that judge them ask ``base_kind``.)"""
    text = str(resource_type or "")
    match = _VERSIONED_MODULE.match(text)
    return match.group(1) + match.group(2) if match else text


def base_kind(resource_type: str) -> str:
    """A Kubernetes ``*Patch`` type as the kind it patches: kubernetes:core/v1:ServicePatch is a Service."""
    if resource_type.startswith("kubernetes:") and resource_type.endswith(PATCH_SUFFIX) and \
            len(resource_type.rsplit(":", 1)[-1]) > len(PATCH_SUFFIX):
        return resource_type[:-len(PATCH_SUFFIX)]
    return resource_type


class TypeName(str):
    """A normalised type that still says whether the resource was a Kubernetes ``*Patch``."""
    is_patch: bool = False


def typed_name(resource_type: Any) -> TypeName:
    original = normalise_type(resource_type)
    name = TypeName(base_kind(original))
    name.is_patch = name != original
    return name


class _Typed:
    """An engine argument or resource with its type normalised; everything else passes through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.resource_type = typed_name(getattr(inner, "resource_type", ""))
        self.original_type = getattr(inner, "resource_type", "")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Stack:
    """Stack arguments whose resources carry normalised types."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.resources = [_Typed(r) for r in (getattr(inner, "resources", None) or [])]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def normalised(validate: Any) -> Any:
    """Every policy's validate goes through this: the resource types it sees are normalised
    (normalise_type, base_kind), so a versioned token or a Patch kind is judged like the plain one."""
    @functools.wraps(validate)
    def run(args: Any, report: Any) -> None:
        wrapped = _Stack(args) if hasattr(args, "resources") else _Typed(args)
        return validate(wrapped, report)
    run.normalises_types = True
    return run


# ---------------------------------------------------------------- small readers

_SCALARS = (str, int, float, bool, type(None))  # checked by exact type first: isinstance of an ABC is slow


def get(props: Any, *path: str) -> Any:
    """``props[path[0]][path[1]]...``, or None where a step is missing or not a mapping."""
    value = props
    for step in path:
        if type(value) is not dict and (type(value) in _SCALARS or not isinstance(value, Mapping)):
            return None
        if step not in value:
            return None
        value = value[step]
    return value


def items(value: Any) -> list[Any]:
    """A list input as a list (None and non-lists give no items)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return []


# Kinds that never hold a pod spec: reading them as pods would only meet values they do not need
# (an unknown Azure client id in a ServiceAccount's annotations during a first preview)
NO_POD_KINDS = frozenset({
    "ServiceAccount", "ConfigMap", "Secret", "Service", "Endpoints", "EndpointSlice", "Namespace",
    "PersistentVolume", "PersistentVolumeClaim", "StorageClass", "Ingress", "IngressClass", "NetworkPolicy",
    "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "PodDisruptionBudget", "PriorityClass",
    "RuntimeClass", "LimitRange", "ResourceQuota", "SecretProviderClass", "CustomResourceDefinition",
    "HorizontalPodAutoscaler", "PodMonitor", "ServiceMonitor", "HTTPRoute", "GRPCRoute", "TLSRoute",
    "TCPRoute", "UDPRoute", "Gateway", "GatewayClass", "ReferenceGrant", "InferencePool",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "CSIDriver", "VolumeSnapshotClass",
    "VirtualService", "DestinationRule", "ServiceEntry",
    # a Helm chart's values are settings, not pod specs (a Release's objects are judged apart: gateway.py)
    "Release", "Chart",
})
POD_KIND = "kubernetes:core/v1:Pod"


def kind_name(resource_type: Any) -> str:
    """The kind of a Kubernetes type token: kubernetes:core/v1:ServiceAccount is 'ServiceAccount'."""
    return str(resource_type).rsplit(":", 1)[-1]


# The API groups whose kinds NO_POD_KINDS names: a kind of one of those names in another group is a
# custom resource that may well hold a pod template (Knative's serving.knative.dev Service does), so it
# is read by shape like any other custom resource. ('core' is the group of core/v1 and v1.)
POD_LESS_GROUPS = {
    **dict.fromkeys(("ServiceAccount", "ConfigMap", "Secret", "Service", "Endpoints", "Namespace",
                     "PersistentVolume", "PersistentVolumeClaim", "LimitRange", "ResourceQuota"), {"core"}),
    "EndpointSlice": {"discovery.k8s.io"},
    "StorageClass": {"storage.k8s.io"}, "CSIDriver": {"storage.k8s.io"},
    **dict.fromkeys(("Ingress", "IngressClass", "NetworkPolicy"), {"networking.k8s.io", "extensions"}),
    **dict.fromkeys(("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"), {"rbac.authorization.k8s.io"}),
    "PodDisruptionBudget": {"policy"},
    "PriorityClass": {"scheduling.k8s.io"},
    "RuntimeClass": {"node.k8s.io"},
    "SecretProviderClass": {"secrets-store.csi.x-k8s.io"},
    "CustomResourceDefinition": {"apiextensions.k8s.io"},
    "HorizontalPodAutoscaler": {"autoscaling"},
    **dict.fromkeys(("PodMonitor", "ServiceMonitor"), {"monitoring.coreos.com", "azmonitoring.coreos.com"}),
    **dict.fromkeys(("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute", "GatewayClass", "ReferenceGrant"),
                    {"gateway.networking.k8s.io"}),
    "Gateway": {"gateway.networking.k8s.io", "networking.istio.io"},
    "InferencePool": {"inference.networking.x-k8s.io", "inference.networking.k8s.io"},
    "ValidatingWebhookConfiguration": {"admissionregistration.k8s.io"},
    "MutatingWebhookConfiguration": {"admissionregistration.k8s.io"},
    "VolumeSnapshotClass": {"snapshot.storage.k8s.io"},
    **dict.fromkeys(("VirtualService", "DestinationRule", "ServiceEntry"), {"networking.istio.io"}),
    **dict.fromkeys(("Release", "Chart"), {"helm.sh"}),
}


def api_group(resource_type: Any) -> str:
    """The API group of a Kubernetes type token: kubernetes:serving.knative.dev/v1:Service gives
    'serving.knative.dev', kubernetes:core/v1:Service 'core'."""
    module = str(resource_type).split(":")[1] if str(resource_type).count(":") >= 2 else ""
    return module.split("/")[0] if "/" in module else "core"


def may_hold_pods(resource_type: Any) -> bool:
    """Whether a Kubernetes resource may hold a pod: every kind but those NO_POD_KINDS names in their own
    API group (POD_LESS_GROUPS); a kind of the same name in another group (a Knative Service) may."""
    text = base_kind(str(resource_type))
    if not text.startswith("kubernetes:"):
        return False
    kind = kind_name(text)
    return kind not in NO_POD_KINDS or api_group(text) not in POD_LESS_GROUPS.get(kind, set())


# Argo's containerSet holds containers that share the template's pod: read with it (unread_pods), not as a pod
MADE_UP_POD_KEYS = ("containerSet",)

# Admission policy engines: their objects are rules about pods (Kyverno's validate patterns such as image '*:*',
# containers without an image, anchors like '(name)'; Gatekeeper's templates and constraints; Kubernetes'
# ValidatingAdmissionPolicy), not pods. Only what such a rule creates or writes into pods is read: a Kyverno
# generate rule's data (the object it creates, read as its kind) and a mutate rule's patchStrategicMerge (read
# as made-up pods, so a mutation that makes containers privileged or adds capabilities is judged)
ADMISSION_POLICY_GROUPS = ("kyverno.io", "gatekeeper.sh", "admissionregistration.k8s.io", "kubewarden.io",
                           "jspolicy.com", "openpolicyagent.org")


def admission_policy(resource_type: Any) -> bool:
    """A Kubernetes kind of a policy engine (ADMISSION_POLICY_GROUPS, and their subgroups)."""
    text = str(resource_type)
    if not text.startswith("kubernetes:"):
        return False
    group = api_group(text).lower()
    return any(group == g or group.endswith("." + g) for g in ADMISSION_POLICY_GROUPS)


def _walk(value: Any, depth: int = 12) -> Iterator[tuple[str, Any]]:
    """(key, value) of every mapping entry in a nested value, a few levels deep."""
    level = [value]
    for _ in range(depth):
        below = []
        for node in level:
            if isinstance(node, Mapping):
                for key, inner in node.items():
                    yield str(key), inner
                    below.append(inner)
            elif isinstance(node, Sequence) and not isinstance(node, (str, bytes)):
                below += list(node)
        level = [n for n in below if isinstance(n, Mapping) or (isinstance(n, Sequence) and not isinstance(n, (str, bytes)))]
        if not level:
            return


def generated_resources(props: Any) -> list[tuple[str, Any]]:
    """(type token, props) of each object a Kyverno generate rule creates from its ``data`` (its own or a
    foreach's); an admission-policy kind generated in turn is not read."""
    found = []
    for key, generate in _walk(props):
        if key != "generate" or not isinstance(generate, Mapping):
            continue
        for rule in [generate] + [f for f in items(generate.get("foreach")) if isinstance(f, Mapping)]:
            data = rule.get("data")
            api, kind = rule.get("apiVersion") or generate.get("apiVersion"), rule.get("kind") or generate.get("kind")
            if not isinstance(data, Mapping):
                continue
            api = str(api or "v1")
            token = f"kubernetes:{api if '/' in api else 'core/' + api}:{kind}"
            if not admission_policy(token):
                found.append((typed_name(token), data))
    return found


def _unanchored(value: Any) -> Any:
    """A Kyverno patch with its anchors taken off the keys: '+(privileged)' and '(name)' as the field they set or test."""
    if isinstance(value, Mapping):
        return {re.sub(r"^[+=<^X]?\((.*)\)$", r"\1", str(key)): _unanchored(inner) for key, inner in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_unanchored(inner) for inner in value]
    return value


def mutation_patches(props: Any) -> list[Any]:
    """Every Kyverno mutate rule's patchStrategicMerge (its own or a foreach's), anchors taken off."""
    return [_unanchored(inner) for key, inner in _walk(props) if key == "patchStrategicMerge" and isinstance(inner, Mapping)]


def _pod_specs_by_shape(props: Any, depth: int = 10) -> list[tuple[Any, Any]]:
    """Every (mapping holding a ``containers`` list, the mapping it is the ``spec`` of) in a kind the
    table does not name (ReplicationController, PodTemplate, a CustomResource such as KEDA's
    ScaledJob, or one with several pod templates: LeaderWorkerSet's leaderTemplate and
    workerTemplate, RayCluster's headGroupSpec and workerGroupSpecs), breadth first, a few levels deep."""
    def is_list(value: Any) -> bool:
        return isinstance(value, Sequence) and not isinstance(value, (str, bytes))

    found: list[tuple[Any, Any]] = []
    level: list[tuple[Any, Any]] = [(props, None)]  # (node, the mapping whose "spec" it is)
    for _ in range(depth):
        below: list[tuple[Any, Any]] = []
        for node, holder in level:
            if isinstance(node, Mapping):
                if is_list(node.get("containers")):
                    found.append((node, holder))
                    continue  # a pod spec's own fields hold no further pod
                below += [(value, node if key == "spec" else None) for key, value in node.items()
                          if key not in MADE_UP_POD_KEYS]
            elif is_list(node):
                below += [(item, None) for item in node]
        level = [(node, holder) for node, holder in below if isinstance(node, Mapping) or is_list(node)]
    return found


def _pod_spec_by_shape(props: Any, depth: int = 10) -> tuple[Any, Any]:
    found = _pod_specs_by_shape(props, depth)
    return found[0] if found else (None, None)


def pod_specs(resource_type: str, props: Any) -> list[tuple[Any, Any]]:
    """Every (pod spec, its template's metadata) of a Kubernetes resource: one for the workload kinds
    by their known path, all found by shape for any other kind that may hold pods."""
    path = _POD_SPEC_PATHS.get(resource_type)
    if path:
        metadata = get(props, *path[:-1], "metadata") if len(path) > 1 else get(props, "metadata")
        return [(get(props, *path), metadata)]
    if admission_policy(resource_type):
        return [found for kind, body in generated_resources(props) for found in pod_specs(kind, body)]
    if may_hold_pods(resource_type):
        return [(spec, get(holder, "metadata") if holder is not None else None)
                for spec, holder in _pod_specs_by_shape(props)]
    return []


def pod_spec(resource_type: str, props: Any) -> Any:
    """The first pod spec of a resource (``pod_specs`` has them all), or None."""
    found = pod_specs(resource_type, props)
    return found[0][0] if found else None


def pod_template_metadata(resource_type: str, props: Any) -> Any:
    path = _POD_SPEC_PATHS.get(resource_type)
    if path:
        return get(props, *path[:-1], "metadata") if len(path) > 1 else None
    found = pod_specs(resource_type, props)
    return found[0][1] if found else None


def k8s_containers(resource_type: str, props: Any) -> Iterator[Any]:
    """Every container of every pod spec of a resource; a ``*Patch`` kind's containers without an
    image (a server-side apply patch merges containers by name and keeps the live image) are left out."""
    patch = getattr(resource_type, "is_patch", False)
    for spec, _ in pod_specs(resource_type, props):
        for key in _CONTAINER_LISTS:
            yield from (c for c in items(get(spec, key)) if not (patch and get(c, "image") is None))


CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"  # Azure Container Instances


def container_group_containers(props: Any) -> list[Any]:
    """An Azure Container Instances group's containers and init containers, each as its properties
    (the SDK flattens them; an ARM-shaped one holds them under 'properties')."""
    found = []
    for container in items(get(props, "containers")) + items(get(props, "initContainers")):
        inner = get(container, "properties")
        found.append({"name": get(container, "name"), **inner} if isinstance(inner, Mapping) else container)
    return found


def aca_containers(props: Any) -> Iterator[Any]:
    for key in ("initContainers", "containers"):
        yield from items(get(props, "template", key))


def workload_containers(resource_type: str, props: Any) -> list[Any]:
    """The containers of a Kubernetes workload or a Container Apps app or job; none for other types."""
    if resource_type in ACA_KINDS:
        return list(aca_containers(props))
    if resource_type.startswith("kubernetes:"):
        return list(k8s_containers(resource_type, props))
    return []


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def asks_internal_lb(value: Any) -> bool:
    """The internal load-balancer annotation as Azure's cloud provider reads it: exactly the string "true"
    (cloud-provider-azure, requiresInternalLoadBalancer: `l == "true"`); "True" or "TRUE" gets a public one."""
    return value == "true"


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def _label(args: Any) -> str:
    return f"{getattr(args, 'original_type', None) or args.resource_type} '{args.name}'"


def _listed(names: Sequence[str], shown: int = 5) -> str:
    """'a, b, c' or, for a long list, its first few and how many more."""
    names = list(names)
    rest = len(names) - shown
    return ", ".join(names) if rest <= 0 else f"{', '.join(names[:shown])} and {rest} more"




# ---------------------------------------------------------------- NSG rules

ALL_PORTS = (0, 65535)


def _port_range(text: Any) -> tuple[int, int]:
    """One destination port entry as (low, high): '443', 443, 443.0, '8000-8100', '*'. Anything
    Azure would refuse (words, reversed ranges) counts as every port: never a reason to pass."""
    if isinstance(text, bool):
        return ALL_PORTS
    if isinstance(text, (int, float)):
        return (int(text), int(text)) if float(text).is_integer() else ALL_PORTS
    text = str(text).strip()
    if text in ("*", "Any", "any"):
        return ALL_PORTS
    low, _, high = text.partition("-")
    try:
        first, last = int(float(low)), int(float(high or low))
    except (ValueError, OverflowError):
        return ALL_PORTS
    return (first, last) if 0 <= first <= last <= 65535 else ALL_PORTS


def _port_ranges(rule: Any) -> list[tuple[int, int]]:
    """The destination ports of an NSG rule as (low, high) ranges; '*' is all ports, and a rule
    that names none (a missing field) is taken as all ports too."""
    texts = [get(rule, "destinationPortRange")] + items(get(rule, "destinationPortRanges"))
    texts = [t for t in texts if t is not None and t != ""]
    return [_port_range(t) for t in texts] or [ALL_PORTS]


def _allows_inbound_tcp(rule: Any) -> bool:
    """An inbound Allow rule for TCP (or any protocol). Azure's defaults: a rule without a
    direction or access is not created, so a missing one is read as the permissive value."""
    # judged closed: only an exact (trimmed, any case) Outbound, Deny or non-TCP protocol lets a rule
    # off, so a value with stray spaces or an unknown spelling counts as the permissive one
    return (str(get(rule, "direction") or "").strip().lower() != "outbound"
            and str(get(rule, "access") or "").strip().lower() != "deny"
            and str(get(rule, "protocol") or "").strip().lower() not in NOT_TCP_PROTOCOLS)


# NSG rule protocols that cannot carry a TCP connection (SecurityRuleProtocol: Tcp, Udp, Icmp, Esp, *, Ah)
NOT_TCP_PROTOCOLS = frozenset({"udp", "icmp", "esp", "ah"})


def _opens_tcp_port(rule: Any, port: int) -> bool:
    """An inbound Allow rule for TCP (or any protocol) that covers ``port``."""
    return _allows_inbound_tcp(rule) and any(low <= port <= high for low, high in _port_ranges(rule))


def _nsg_rules(resource_type: str, props: Any) -> list[Any]:
    """The rules of an NSG (inline ``securityRules``) or a standalone SecurityRule resource."""
    if resource_type == NSG:
        return [r for r in items(get(props, "securityRules")) if isinstance(r, Mapping)]
    if resource_type == SECURITY_RULE:
        return [props]
    return []


def _rule_name(rule: Any, fallback: str) -> str:
    return str(get(rule, "name") or get(rule, "securityRuleName") or fallback)


def _address_sources(rule: Any) -> list[str]:
    """The rule's sources; none given reads as '*' (Azure requires one, so it is no reason to pass)."""
    sources = [str(s) for s in [get(rule, "sourceAddressPrefix")] + items(get(rule, "sourceAddressPrefixes"))
               if s is not None and s != ""]
    return sources or ["*"]


def whole_number(value: Any) -> int | None:
    """A port or count as the engine sends it (numbers arrive as floats), or None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(number) if number.is_integer() else None


# ---------------------------------------------------------------- tags

# The explicit exposure marker: every Azure resource a host component creates carries the tag
# EXPOSURE_TAG = "internal" or "public" (components/base.py all_tags), so a platform team's program
# gets it by using the components; the pack reads it instead of guessing from entry points.
EXPOSURE_TAG = "apertus-exposure"


def exposure_marker(props: Any) -> str | None:
    """'internal', 'public' or None (no marker, or a marker with another value)."""
    tags = get(props, "tags")
    if not isinstance(tags, Mapping):
        return None
    for name, value in tags.items():
        if str(name).lower() == EXPOSURE_TAG and str(value).lower() in ("internal", "public"):
            return str(value).lower()
    return None


# ---------------------------------------------------------------- GPU, vLLM and gateway pods

# Extended resources that hand a container GPUs. NVIDIA's device plugin advertises every resource
# under nvidia.com/: whole GPUs (nvidia.com/gpu), MIG slices (nvidia.com/mig-1g.10gb), time-sliced
# or renamed ones (nvidia.com/gpu.shared, or any `rename`: NVIDIA/k8s-device-plugin
# api/config/v1/resources.go NewResourceName prefixes each name with nvidia.com/); AMD's plugin
# advertises amd.com/gpu (ROCm/k8s-device-plugin). NVIDIA's network operator's nvidia.com/ RDMA and
# SR-IOV devices are host devices too, and are judged alike.
GPU_RESOURCE_PREFIXES = ("nvidia.com/", "amd.com/gpu")
# The NVIDIA container runtime gives GPUs to a container whose env sets NVIDIA_VISIBLE_DEVICES
# (indices, UUIDs or 'all'), whatever it requests; 'none', 'void' or empty give none (NVIDIA
# Container Toolkit user guide, docs.nvidia.com/datacenter/cloud-native/container-toolkit, "GPU Enumeration")
GPU_ENV = "NVIDIA_VISIBLE_DEVICES"
NO_GPU_ENV_VALUES = ("", "void", "none")
# ...or mounts anything under this directory when the runtime accepts device lists as volume mounts
# (accept-nvidia-visible-devices-as-volume-mounts; the device plugin's deviceListStrategy volume-mounts)
GPU_DEVICE_MOUNT_ROOT = "/var/run/nvidia-container-devices"
# NVIDIA's runtime classes (the GPU Operator creates nvidia, nvidia-cdi and nvidia-legacy) run every
# container of the pod under that runtime, which hands GPUs to any whose environment, the image's
# included, sets NVIDIA_VISIBLE_DEVICES
GPU_RUNTIME_WORD = "nvidia"
# Container Device Interface: a pod annotation cdi.k8s.io/<name>: <vendor>/<class>=<device> (nvidia.com/gpu=all)
# has the container runtime (containerd 1.7+, CRI-O) inject those devices itself, whatever the container
# requests or its NVIDIA_VISIBLE_DEVICES says (github.com/cncf-tags/container-device-interface, "Kubernetes");
# the pack cannot tell which containers it reaches, so it counts for every container of the pod
CDI_ANNOTATION_PREFIX = "cdi.k8s.io/"


def _repository(image: Any) -> str:
    """The last path component of an image reference, without tag or digest: 'vllm-openai', 'caddy'."""
    name = str(image or "").split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0].lower()


def command_words(container: Any) -> list[str]:
    """The words of a container's command and args as a shell reads them: a word that holds a
    script (``sh -c "vllm serve m --port 8001"``, or one args string ``"--model m --port 9000"``)
    is split again with shlex, down to three levels of quoting."""
    words = [str(w) for w in items(get(container, "command")) + items(get(container, "args"))]
    for _ in range(3):
        split: list[str] = []
        for word in words:
            if any(space in word for space in " \t\n;&|"):
                try:
                    split.extend(shlex.split(word.replace(";", " ; ").replace("&&", " && ")))
                except ValueError:  # unbalanced quotes: plain words
                    split.extend(word.split())
            else:
                split.append(word)
        if split == words:
            break
        words = split
    return words


def is_vllm_container(container: Any) -> bool:
    """A container that runs vLLM: its image is a vLLM image, or its command runs `vllm serve`
    or vLLM's OpenAI server module."""
    words = command_words(container)
    text = " ".join(words)
    return ("vllm" in _repository(get(container, "image"))
            or "vllm serve" in text or "vllm.entrypoints" in text)


def is_gateway_container(container: Any) -> bool:
    """The gateway: Caddy (components/gateway.py CADDY_IMAGE), by its image."""
    return _repository(get(container, "image")) == "caddy"


def _is_port_option(word: str) -> bool:
    """``--port`` or the abbreviation argparse takes for it, ``--por`` (vLLM's parser keeps argparse's
    allow_abbrev; ``--po`` is ambiguous with ``--pooler-config`` in vllm serve --help=all, so refused)."""
    return len(word) >= 5 and "--port".startswith(word)


def vllm_ports(container: Any) -> set[int]:
    """Every port vLLM may listen on: each --port N / --port=N in its (shell-split) command and
    args, and vLLM's default the hosts use (a --port this pack cannot read leaves the default)."""
    words = command_words(container)
    found = {rules.VLLM_PORT}
    for index, word in enumerate(words):
        option, equals, inline = word.partition("=")
        value = None if not _is_port_option(option) else inline if equals else (
            words[index + 1] if index + 1 < len(words) else None)
        if value is not None and whole_number(value) is not None:
            found.add(whole_number(value))
    return found


def vllm_port_unread(container: Any) -> bool:
    """vLLM may listen on a port its command does not show: a --port that is not a number (``$PORT``)
    or a --config file, which can set the port too (vllm serve --help: --config)."""
    words = command_words(container)
    ports = [words[i + 1] for i, word in enumerate(words[:-1]) if _is_port_option(word)]
    ports += [word.split("=", 1)[1] for word in words if "=" in word and _is_port_option(word.split("=", 1)[0])]
    return any(whole_number(port) is None for port in ports) or \
        any(word == "--config" or word.startswith("--config=") for word in words)


def gpu_access(container: Any, spec: Any = None) -> str | None:
    """How a Kubernetes container gets GPUs, as words for a message, or None. ``spec`` is its pod's
    spec (the runtime class). What the pod does not show counts as a GPU: an env ``valueFrom`` (its
    value is elsewhere), a DRA claim (its device class is in a ResourceClaim or template elsewhere)."""
    resources = get(container, "resources")
    for kind in ("limits", "requests"):
        asked = get(resources, kind)
        for name, quantity in (asked.items() if isinstance(asked, Mapping) else ()):
            if str(name).lower().startswith(GPU_RESOURCE_PREFIXES) and whole_number(quantity) != 0:
                return f"requests {name}"
    claims = [str(get(claim, "name")) for claim in items(get(resources, "claims"))]
    if claims:  # Dynamic Resource Allocation: a container gets the devices of the claims it lists
        return f"uses the DRA claim '{claims[0]}'"
    runtime = get(spec, "runtimeClassName")
    if isinstance(runtime, str) and GPU_RUNTIME_WORD in runtime.lower():
        return f"runs under runtimeClassName '{runtime}'"
    for env in items(get(container, "env")):
        if get(env, "name") == GPU_ENV and (get(env, "valueFrom") is not None
                                            or str(get(env, "value") or "").strip().lower() not in NO_GPU_ENV_VALUES):
            return f"sets {GPU_ENV}"
    for source in items(get(container, "envFrom")):
        prefix = get(source, "prefix")  # envFrom's prefix + a key of the ConfigMap or Secret names each variable
        if isinstance(prefix, str) and prefix and GPU_ENV.startswith(prefix):
            return f"loads envFrom with prefix '{prefix}', which can make {GPU_ENV}"
    for mount in items(get(container, "volumeMounts")):
        path = get(mount, "mountPath")
        if isinstance(path, str) and posixpath.normpath("/" + path.lstrip("/")).startswith(GPU_DEVICE_MOUNT_ROOT):
            return f"mounts {path}"
    return None


def _turns_gpus_off(container: Any) -> bool:
    """The container's own env sets NVIDIA_VISIBLE_DEVICES to none, void or empty, which overrides
    the image's (and any envFrom's) value."""
    return any(get(env, "name") == GPU_ENV and get(env, "valueFrom") is None
               and str(get(env, "value") or "").strip().lower() in NO_GPU_ENV_VALUES
               for env in items(get(container, "env")))


@dataclass(frozen=True)
class ServingPod:
    """One reading of a pod spec, shared by every policy: which containers hold GPUs (and how),
    which run vLLM, which are the gateway."""
    spec: Mapping
    labels: Mapping
    containers: tuple[Any, ...]
    gpu: tuple[tuple[Any, str], ...]  # (container, how it gets GPUs)
    vllm: tuple[Any, ...]
    gateway: tuple[Any, ...]
    annotations: Mapping = field(default_factory=dict)  # the pod template's (AppArmor's annotation)


# vLLM's image is built FROM nvidia/cuda (vllm docker/Dockerfile), whose images set
# NVIDIA_VISIBLE_DEVICES=all: on a node whose container runtime is NVIDIA's (AKS GPU nodes) vLLM gets
# every GPU whatever it requests, so a vLLM container is a GPU container
VLLM_GPU_ACCESS = "runs vLLM, whose image sets NVIDIA_VISIBLE_DEVICES=all"

# How a pod reaches a GPU node without requesting a GPU. The hosts' GPU pools are tainted
# sku=gpu:NoSchedule (components/k8s_common.py GPU_TAINT_KEY/VALUE, from the AKS GPU docs) and NVIDIA's
# device plugin tolerates nvidia.com/gpu; AKS labels every node with its pool
# (kubernetes.azure.com/agentpool: the hosts' pools are 'gpu' and 'gpuspot', components/aks.py) and GPU
# nodes with kubernetes.azure.com/accelerator; NVIDIA's GPU feature discovery adds nvidia.com/ labels.
# On such a node a CUDA image (nvidia/cuda sets NVIDIA_VISIBLE_DEVICES=all) sees every GPU.
GPU_TAINTS = {"sku": "gpu", "nvidia.com/gpu": None}  # key: value (None: any value)
GPU_NODE_LABEL_PREFIXES = ("nvidia.com/", "kubernetes.azure.com/accelerator")
AGENT_POOL_LABEL = "kubernetes.azure.com/agentpool"
GPU_POOL_WORD = "gpu"
# the kubelet directories NVIDIA's node agents (device plugin, DCGM exporter) mount to do their work:
# the device plugin registers its socket, the exporter maps GPUs to pods (components/k8s_common.py,
# components/k8s_monitoring.py); neither is the node's filesystem at large
NODE_AGENT_HOST_PATHS = ("/var/lib/kubelet/device-plugins", "/var/lib/kubelet/pod-resources")


def _gpu_node_label(key: Any, values: list[Any]) -> bool:
    key = str(key)
    if key.lower().startswith(GPU_NODE_LABEL_PREFIXES):
        return True
    if key == "sku":  # the hosts' taint key doubles as a label some pools carry
        return any(str(v).lower() == "gpu" for v in values)
    return key == AGENT_POOL_LABEL and any(GPU_POOL_WORD in str(v).lower() for v in values)



def gpu_node_reach(spec: Any) -> str | None:
    """How a pod can be scheduled onto a GPU node without requesting a GPU, as words, or None: it
    tolerates the GPU taint (or every taint), selects a GPU node label or pool, or names its node."""
    for toleration in items(get(spec, "tolerations")):
        key, operator = get(toleration, "key"), str(get(toleration, "operator") or "Equal")
        if key in (None, "") and operator == "Exists":
            return "tolerates every taint (operator Exists without a key)"
        if str(key) in GPU_TAINTS:
            wanted = GPU_TAINTS[str(key)]
            if operator == "Exists" or wanted is None or str(get(toleration, "value")).lower() == wanted:
                return f"tolerates the GPU taint '{key}'"
    selector = get(spec, "nodeSelector")
    for key, value in (selector.items() if isinstance(selector, Mapping) else ()):
        if _gpu_node_label(key, [value]):
            return f"selects GPU nodes by nodeSelector '{key}'"
    terms = items(get(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                      "nodeSelectorTerms"))
    terms += [get(t, "preference") for t in items(get(spec, "affinity", "nodeAffinity",
                                                      "preferredDuringSchedulingIgnoredDuringExecution"))]
    for term in terms:
        for expression in items(get(term, "matchExpressions")):
            if _gpu_node_label(get(expression, "key"), items(get(expression, "values"))):
                return f"selects GPU nodes by node affinity on '{get(expression, 'key')}'"
    if get(spec, "nodeName") not in (None, ""):
        return f"names its node ('{get(spec, 'nodeName')}'), which bypasses the scheduler and its taints"
    return None


def _gpu_node_access(reach: str) -> str:
    return f"{reach}, where a CUDA image sees every GPU without requesting one"


def env_from_sources(container: Any) -> list[tuple[str, Any, str]]:
    """(kind, name as given, prefix) of every ConfigMap or Secret a container loads whole with envFrom."""
    found = []
    for source in items(get(container, "envFrom")):
        for field_name, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = get(source, field_name)
            if isinstance(ref, Mapping):
                prefix = get(source, "prefix")
                found.append((kind, get(ref, "name"), prefix if isinstance(prefix, str) else ""))
    return found


def _unseen_gpu_env(container: Any) -> str | None:
    """How a container in a pod that holds GPUs (so on a GPU node) may get them too: it loads a ConfigMap
    or Secret whole with envFrom, whose keys a pod does not show (this resource policy cannot tell whether
    the stack creates it); its own env still wins (``_turns_gpus_off``)."""
    for kind, name, prefix in env_from_sources(container):
        if not prefix:  # a prefix that could spell NVIDIA_VISIBLE_DEVICES counts already (gpu_access)
            return (f"loads every key of {kind} '{name}' with envFrom on its pod's GPU node, where a key "
                    f"{GPU_ENV} hands it every GPU unless its own env sets {GPU_ENV}: void")
    return None


def cdi_devices(annotations: Any) -> str | None:
    """How a pod's CDI annotation (CDI_ANNOTATION_PREFIX) hands every container of it devices, or None."""
    for key, value in (annotations.items() if isinstance(annotations, Mapping) else ()):
        if str(key).lower().startswith(CDI_ANNOTATION_PREFIX):
            return (f"gets devices '{value}' from the pod's CDI annotation '{key}', which the container runtime "
                    f"injects whatever the container requests or its {GPU_ENV} says")
    return None


def read_pod(spec: Any, labels: Any, annotations: Any = None) -> ServingPod | None:
    """One pod spec read: GPU, vLLM and gateway containers."""
    if not isinstance(spec, Mapping):
        return None
    containers = tuple(c for key in _CONTAINER_LISTS for c in items(get(spec, key)))
    reach = gpu_node_reach(spec)
    devices = cdi_devices(annotations)
    gpu, vllm = [], []
    for container in containers:
        how = gpu_access(container, spec) or devices
        if is_vllm_container(container):
            vllm.append(container)
            how = how or (None if _turns_gpus_off(container) else VLLM_GPU_ACCESS)
        if not how and is_true(get(container, "securityContext", "privileged")):
            how = "is privileged, which hands it every device of its node, GPUs included"
        if not how and reach and not _turns_gpus_off(container):
            how = _gpu_node_access(reach)
        if how:
            gpu.append((container, how))
    if gpu:  # the pod runs on a GPU node: the other containers' unseen environment is read for the worse case
        holding = {id(c) for c, _ in gpu}
        gpu += [(c, how) for c in containers if id(c) not in holding and not _turns_gpus_off(c)
                and (how := _unseen_gpu_env(c))]
    return ServingPod(spec, labels if isinstance(labels, Mapping) else {}, containers, tuple(gpu), tuple(vllm),
                      tuple(c for c in containers if is_gateway_container(c)),
                      annotations if isinstance(annotations, Mapping) else {})


# Containers in custom resources that hold one container, or a list of steps, rather than a pod's
# ``containers`` list: an Argo Workflow template's ``container`` and ``script`` (and its
# ``initContainers``/``sidecars``, its ``containerSet``'s containers), a Tekton Task's ``steps`` and
# ``sidecars``, a KServe predictor's model or framework (``predictor.model``, ``predictor.huggingface``,
# ...), which has no image of its own
SINGLE_CONTAINER_KEYS = ("container", "script")
CONTAINER_LIST_KEYS = ("steps", "sidecars", "initContainers")
KSERVE_MODEL_KEYS = ("model", "huggingface", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx",
                     "pmml", "lightgbm", "paddle")
_CONTAINER_FIELDS = ("image", "command", "args", "securityContext", "resources", "env", "script", "computeResources")
# The fields of a Kubernetes PodSpec (core/v1, 1.34): what a custom resource's spec-wide or defaulting fields
# may hand its pods (Argo's WorkflowSpec and templateDefaults, Tekton's podTemplate use these names)
POD_SPEC_FIELDS = frozenset({
    "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "dnsConfig", "dnsPolicy",
    "enableServiceLinks", "hostAliases", "hostIPC", "hostNetwork", "hostPID", "hostUsers", "hostname",
    "hostnameOverride", "imagePullSecrets", "nodeName", "nodeSelector", "os", "overhead", "preemptionPolicy",
    "priority", "priorityClassName", "readinessGates", "resourceClaims", "resources", "restartPolicy",
    "runtimeClassName", "schedulerName", "schedulingGates", "securityContext", "serviceAccount",
    "serviceAccountName", "setHostnameAsFQDN", "shareProcessNamespace", "subdomain",
    "terminationGracePeriodSeconds", "tolerations", "topologySpreadConstraints", "volumes"})
# Argo runs a container or script template's container as 'main' (podSpecPatch names it so)
ARGO_MAIN = "main"
# container fields whose lists a defaulting template (Tekton's stepTemplate, Argo's templateDefaults) and the
# container's own are joined on (env and mounts merge by name; a later entry of one name wins)
_JOINED_LISTS = ("env", "envFrom", "volumeMounts", "volumeDevices", "ports")


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _container_like(value: Any) -> bool:
    return isinstance(value, Mapping) and any(key in value for key in _CONTAINER_FIELDS)


def _named(container: Mapping, name: Any) -> Any:
    """A single container (an Argo template's, a KServe model) named, where it has no name, for where it sits."""
    return container if container.get("name") else {**container, "name": str(name)}


def overlay(base: Any, over: Any, keep_flags: bool = False) -> Any:
    """``over`` laid on ``base`` as a strategic merge does: mappings field by field, the joined lists
    (_JOINED_LISTS) end to end, anything else ``over``'s. ``keep_flags``: a true flag of ``base`` stays true
    and lists are joined (several overlays of which the pack cannot tell the one that applies: the worse case)."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        merged = dict(base)
        for key, value in over.items():
            if key not in base:
                merged[key] = value
            elif key in _JOINED_LISTS and _is_list(base[key]) and _is_list(value):
                merged[key] = [*base[key], *value]
            else:
                merged[key] = overlay(base[key], value, keep_flags)
        return merged
    if keep_flags and _is_list(base) and _is_list(over):
        return [*base, *over]
    if keep_flags and is_true(base) and not is_true(over):
        return base
    return over


def _as_container(raw: Mapping) -> dict:
    """A custom resource's container as a Kubernetes container: Tekton v1's ``computeResources`` read as
    ``resources`` (both when both are given), a Tekton step's ``script`` and an Argo script template's
    ``source`` as the last of its args (the script it runs)."""
    container = dict(raw)
    if isinstance(container.get("computeResources"), Mapping):
        container["resources"] = overlay(container.get("resources") or {}, container["computeResources"], True)
    for key in ("script", "source"):
        if isinstance(container.get(key), str) or is_unknown(container.get(key)):
            container["args"] = [*items(container.get("args")), container[key]]
    return container


def read_pod_spec_patch(text: Any) -> tuple[Mapping | None, str | None]:
    """An Argo podSpecPatch (a JSON or YAML strategic merge patch of the pod spec, as a string) as a mapping,
    or why it cannot be read (an expression Argo fills in when the workflow runs, YAML aliases, not a map):
    the pack cannot tell what such a patch changes, the worse case."""
    if is_unknown(text):
        return None, "is not known yet (a preview)"
    if not isinstance(text, str):
        return None, "is not a string"
    if "{{" in text:
        return None, "holds an Argo expression ('{{...}}') filled in only when the workflow runs"
    import json
    try:
        value = json.loads(text)
    except ValueError:
        import yaml
        try:
            if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
                return None, "uses YAML aliases"
            value = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError, ValueError):
            return None, "is neither JSON nor YAML"
    if not isinstance(value, Mapping):
        return None, "is not a map of pod fields"
    return value, None


def _patched(pod_fields: dict, containers: list[Any], patches: list[Any]) -> tuple[dict, list[Any]]:
    """A made-up pod with Argo's podSpecPatches applied: pod fields laid on, containers merged by name (Argo's
    'main' is the template's own container; a name no container has is a container of its own: Argo's 'wait'
    and 'init')."""
    containers = list(containers)
    for text in patches:
        patch, _ = read_pod_spec_patch(text)
        if patch is None:
            continue
        pod_fields = overlay(pod_fields, {k: v for k, v in patch.items() if k not in _CONTAINER_LISTS}, True)
        for entry in (e for key in _CONTAINER_LISTS for e in items(patch.get(key)) if isinstance(e, Mapping)):
            name = entry.get("name")
            hits = [i for i, c in enumerate(containers) if get(c, "name") == name or (
                name == ARGO_MAIN and get(c, "argo-main") is True)]
            for index in hits:
                containers[index] = overlay(containers[index], entry)
            if not hits:
                containers.append(_as_container(entry))
    return pod_fields, containers


def _pod_fields(mapping: Any) -> dict:
    """The PodSpec fields (POD_SPEC_FIELDS) of a mapping."""
    if not isinstance(mapping, Mapping):
        return {}
    return {key: value for key, value in mapping.items() if key in POD_SPEC_FIELDS}


# Labels the controllers of custom resources add to the pods they create (beside the template's own), by
# API group: Argo Workflows (workflow/controller/operator.go), Tekton Pipelines (pkg/pod/pod.go makeLabels),
# Knative Serving (pkg/reconciler/revision/resources/meta.go: the revision's labels, and 'app' set to the
# revision's name when the template sets none), KServe (its Deployment or Knative Service; serverless pods
# carry Knative's too). A value the stack cannot show (a generated name, a uid, a state) is not known: taken
# to match any selector (the worse case); a name that is the resource's own is its metadata.name.
CRD_POD_LABELS: dict[str, tuple[str, ...]] = {
    "argoproj.io": ("workflows.argoproj.io/workflow", "workflows.argoproj.io/completed",
                    "workflows.argoproj.io/cron-workflow", "workflows.argoproj.io/workflow-template",
                    "workflows.argoproj.io/cluster-workflow-template"),
    "tekton.dev": ("tekton.dev/task", "tekton.dev/taskRun", "tekton.dev/taskRunUID", "tekton.dev/clusterTask",
                   "tekton.dev/pipeline", "tekton.dev/pipelineRun", "tekton.dev/pipelineRunUID",
                   "tekton.dev/pipelineTask", "tekton.dev/memberOf", "app.kubernetes.io/managed-by"),
    "serving.knative.dev": ("serving.knative.dev/service", "serving.knative.dev/serviceUID",
                            "serving.knative.dev/configuration", "serving.knative.dev/configurationUID",
                            "serving.knative.dev/configurationGeneration", "serving.knative.dev/revision",
                            "serving.knative.dev/revisionUID", "serving.knative.dev/route", "app"),
    "serving.kserve.io": ("serving.kserve.io/inferenceservice", "component", "app",
                          "serving.kserve.io/deploymentmode", "serving.knative.dev/service",
                          "serving.knative.dev/serviceUID", "serving.knative.dev/configuration",
                          "serving.knative.dev/configurationUID", "serving.knative.dev/configurationGeneration",
                          "serving.knative.dev/revision", "serving.knative.dev/revisionUID"),
}
# the labels whose value is the resource's own name, by (group, kind)
_OWN_NAME_LABELS = {
    ("argoproj.io", "Workflow"): ("workflows.argoproj.io/workflow",),
    ("argoproj.io", "CronWorkflow"): ("workflows.argoproj.io/cron-workflow",),
    ("tekton.dev", "Task"): ("tekton.dev/task",),
    ("tekton.dev", "TaskRun"): ("tekton.dev/taskRun",),
    ("tekton.dev", "Pipeline"): ("tekton.dev/pipeline",),
    ("tekton.dev", "PipelineRun"): ("tekton.dev/pipelineRun",),
    ("serving.knative.dev", "Service"): ("serving.knative.dev/service", "serving.knative.dev/configuration"),
    ("serving.knative.dev", "Configuration"): ("serving.knative.dev/configuration",),
    ("serving.kserve.io", "InferenceService"): ("serving.kserve.io/inferenceservice",),
}
_KNOWN_LABEL_VALUES = {"app.kubernetes.io/managed-by": "tekton-pipelines"}


def crd_pod_labels(resource_type: str, props: Any, *template_labels: Any) -> dict:
    """The labels a custom resource's pod may carry: the resource's own (some controllers copy them), the
    template's (each of ``template_labels``, later ones winning), and the labels its controller adds
    (CRD_POD_LABELS), each the resource's name where the label is (_OWN_NAME_LABELS) and the template sets
    none, else a value not known (matches every selector). A workload kind (POD_SPEC_PATHS) gets its
    template's labels only."""
    from pulumi_policy import proxy
    labels: dict = {}
    text = str(resource_type)
    custom = text not in _POD_SPEC_PATHS
    for source in ((get(props, "metadata", "labels"),) if custom else ()) + template_labels:
        if isinstance(source, Mapping):
            labels.update(source)
    if not custom:
        return labels
    group, kind = api_group(text), kind_name(text)
    name = get(props, "metadata", "name")
    own = _OWN_NAME_LABELS.get((group, kind), ())
    for key in CRD_POD_LABELS.get(group, ()):
        if key in labels:
            continue
        if key in own and isinstance(name, str) and name and not is_unknown(name):
            labels[key] = name
        else:
            labels[key] = _KNOWN_LABEL_VALUES.get(key, proxy.UNKNOWN_STRING_VALUE)
    return labels


class _Defaults:
    """What a custom resource hands every pod it makes, read once: PodSpec fields of its spec, its
    podTemplates (Tekton: several are merged, the worse case; their env goes to every container), its
    task-wide computeResources and per-step specs (Tekton's stepSpecs, sidecarSpecs and the v1beta1
    overrides, by step name), its podSpecPatch and podMetadata labels and its templateDefaults (Argo)."""

    def __init__(self, props: Any) -> None:
        spec = get(props, "spec")
        self.pod: dict = _pod_fields(spec)
        self.env: list[Any] = []
        self.resources: dict = {}
        self.by_name: dict[str, dict] = {}
        self.patches: list[Any] = [get(spec, "podSpecPatch")] if get(spec, "podSpecPatch") is not None else []
        self.labels = get(spec, "podMetadata", "labels")
        defaults = get(spec, "templateDefaults")
        self.template_container: dict = {}
        if isinstance(defaults, Mapping):
            self.pod = overlay(self.pod, _pod_fields(defaults))
            if defaults.get("podSpecPatch") is not None:
                self.patches.append(defaults["podSpecPatch"])
            for key in SINGLE_CONTAINER_KEYS:
                if isinstance(defaults.get(key), Mapping):
                    self.template_container = overlay(self.template_container, dict(defaults[key]))
            self.labels = overlay(self.labels if isinstance(self.labels, Mapping) else {},
                                  get(defaults, "metadata", "labels") or {})
        for key, value in _walk(props):
            if key == "podTemplate" and isinstance(value, Mapping):
                self.pod = overlay(self.pod, _pod_fields(value), keep_flags=True)
                self.env += items(value.get("env"))
            elif key in ("stepSpecs", "sidecarSpecs", "stepOverrides", "sidecarOverrides"):
                for entry in (e for e in items(value) if isinstance(e, Mapping)):
                    name = str(entry.get("name"))
                    self.by_name[name] = overlay(self.by_name.get(name, {}), _as_container(entry), keep_flags=True)
            elif key == "taskRunSpecs":
                for entry in (e for e in items(value) if isinstance(e, Mapping)):
                    if isinstance(entry.get("computeResources"), Mapping):
                        self.resources = overlay(self.resources, entry["computeResources"], keep_flags=True)
        if isinstance(get(spec, "computeResources"), Mapping):  # a TaskRun's: the whole task's
            self.resources = overlay(self.resources, get(spec, "computeResources"), keep_flags=True)

    def container(self, raw: Mapping, template: Mapping | None, argo_main: bool) -> dict:
        container = _as_container(raw)
        if template:
            container = overlay(_as_container(template), container)
        if argo_main and self.template_container:
            container = overlay(_as_container(self.template_container), container)
        if argo_main:
            container["argo-main"] = True
        name = str(container.get("name"))
        if name in self.by_name:
            container = overlay(container, self.by_name[name])
        if self.resources:
            container["resources"] = overlay(container.get("resources") or {}, self.resources, keep_flags=True)
        if self.env:
            container["env"] = [*self.env, *items(container.get("env"))]
        return container


_HOLDING_KEYS = frozenset({*SINGLE_CONTAINER_KEYS, *CONTAINER_LIST_KEYS, "containerSet", "containers"})


def _held_containers(node: Mapping, key_of_node: str | None, defaults: _Defaults) -> list[Any]:
    if key_of_node != "predictor" and _HOLDING_KEYS.isdisjoint(node):  # most nodes hold nothing: a quick no
        return []
    kserve = [_named(node[key], f"predictor.{key}") for key in KSERVE_MODEL_KEYS
              if key_of_node == "predictor" and _container_like(node.get(key))]
    if isinstance(node.get("containers"), Sequence):  # a pod spec, read by shape already
        return kserve
    template = node.get("stepTemplate") if isinstance(node.get("stepTemplate"), Mapping) else None
    found = [defaults.container(_named(node[key], f"{node.get('name') or 'template'}.{key}"), None, True)
             for key in SINGLE_CONTAINER_KEYS if _container_like(node.get(key))]
    found += [defaults.container(c, None, False) for c in items(get(node, "containerSet", "containers"))
              if isinstance(c, Mapping)]
    for key in CONTAINER_LIST_KEYS:
        value = node.get(key)
        if _is_list(value):
            found += [defaults.container(step, template if key == "steps" else None, False) for step in value
                      if isinstance(step, Mapping) and ("image" in step or "script" in step
                                                        or (template and _container_like(step)))]
    return found + kserve


def _strip(mapping: Any, holding: set[int]) -> dict:
    """A mapping's pod-level fields: its container lists, and what holds other containers (``holding``: ids),
    left out."""
    if not isinstance(mapping, Mapping):
        return {}
    return {key: value for key, value in mapping.items()
            if key not in ("containers", "initContainers", "ephemeralContainers", "containerSet", "stepTemplate",
                           "metadata", *SINGLE_CONTAINER_KEYS, *CONTAINER_LIST_KEYS, *KSERVE_MODEL_KEYS)
            and id(value) not in holding}


def _mutation_pods(props: Any) -> list[tuple[ServingPod, bool]]:
    """A Kyverno policy's mutate patches (mutation_patches) as made-up pods: what they write into pods is judged."""
    found = []
    for patch in mutation_patches(props):
        for spec, _ in _pod_specs_by_shape(patch):
            pod = read_pod({**spec, "containers": [c for c in items(spec.get("containers")) if isinstance(c, Mapping)]},
                           None, None)
            if pod is not None:
                found.append((pod, False))
    return found


def unread_pods(resource_type: str, props: Any, depth: int = 8) -> list[tuple[ServingPod, bool]]:
    """The pods ``pod_specs`` does not read, made here around the containers of a custom resource's
    single-container shapes (SINGLE_CONTAINER_KEYS, CONTAINER_LIST_KEYS, an Argo containerSet, a KServe
    predictor's model), each group judged as a pod whose pod-level fields are the PodSpec fields of the
    resource's ``spec`` and what every pod of it gets (_Defaults: Tekton's podTemplate and stepTemplate, Argo's
    templateDefaults and podSpecPatch), and those of the mapping that holds them (an Argo template's own
    volumes or securityContext, say); labelled as its controller labels it (crd_pod_labels); each with False
    (not a whole pod spec: its container may have no image, a KServe model's runtime has it). Linear in the
    size of the resource: a made-up pod holds no other template. A Kyverno mutate rule's patch gives made-up
    pods too (admission_policy)."""
    text = str(resource_type)
    if admission_policy(text):
        return [made for kind, body in generated_resources(props) for made in unread_pods(kind, body, depth)] + \
            _mutation_pods(props)
    if not may_hold_pods(text) or text in _POD_SPEC_PATHS:
        return []
    defaults = _Defaults(props)
    # breadth first: (node, its key, index of its parent entry)
    entries: list[tuple[Any, str | None, int]] = [(props, None, -1)]
    holders: list[tuple[int, list[Any]]] = []
    start = 0
    for _ in range(depth):
        end = len(entries)
        for index in range(start, end):
            node, key_of_node, _ = entries[index]
            if isinstance(node, Mapping):
                held = _held_containers(node, key_of_node, defaults)
                if held:
                    holders.append((index, held))
                entries += [(value, key, index) for key, value in node.items()
                            if key not in ("containers", "initContainers", "ephemeralContainers")
                            and (isinstance(value, Mapping) or _is_list(value))]
            elif _is_list(node):
                entries += [(item, None, index) for item in node if isinstance(item, Mapping) or _is_list(item)]
        start = end
    holding: set[int] = set()  # every node on the way to a holder
    for index, _ in holders:
        while index >= 0 and id(entries[index][0]) not in holding:
            holding.add(id(entries[index][0]))
            index = entries[index][2]
    found: list[tuple[ServingPod, bool]] = []
    for index, held in holders:
        node = entries[index][0]
        fields = overlay(defaults.pod, _strip(node, holding))
        patches = [*defaults.patches, *([node["podSpecPatch"]] if node.get("podSpecPatch") is not None else [])]
        fields, containers = _patched(fields, held, patches)
        containers = [{k: v for k, v in c.items() if k != "argo-main"} if isinstance(c, Mapping) else c
                      for c in containers]
        if patches:
            fields["podSpecPatch"] = patches
        labels = crd_pod_labels(text, props, defaults.labels, get(node, "metadata", "labels"))
        pod = read_pod({**fields, "containers": containers}, labels, get(node, "metadata", "annotations"))
        if pod is not None:
            found.append((pod, False))
    return found


# Operators that merge a custom resource's ``containers`` by name into the pods they generate (the Prometheus
# Operator's Prometheus, Alertmanager, ThanosRuler, PrometheusAgent: "containers" overrides keep the operator's
# image): a container there without an image is not missing one
OVERRIDE_CONTAINER_GROUPS = ("monitoring.coreos.com", "azmonitoring.coreos.com")


def merges_containers(resource_type: Any) -> bool:
    return str(resource_type).startswith("kubernetes:") and api_group(resource_type) in OVERRIDE_CONTAINER_GROUPS


# Where a CI custom resource keeps values its steps read: Tekton's params (a Task's default, a Run's value),
# Argo's arguments and inputs parameters (value, default, enum)
PARAMETER_LIST_KEYS = ("params", "parameters")
PARAMETER_VALUE_KEYS = ("default", "value", "enum")


def parameter_values(resource_type: str, props: Any) -> list[tuple[str, Any]]:
    """(where, value) of every parameter value a custom resource's steps may read (PARAMETER_LIST_KEYS)."""
    if not may_hold_pods(resource_type) or str(resource_type) in _POD_SPEC_PATHS or admission_policy(resource_type):
        return []
    found = []
    for key, value in _walk(props):
        if key in PARAMETER_LIST_KEYS:
            for entry in (e for e in items(value) if isinstance(e, Mapping)):
                found += [(f"{key} '{entry.get('name')}' {field_name}", entry[field_name])
                          for field_name in PARAMETER_VALUE_KEYS if field_name in entry]
    return found


# keys of a custom resource under which a value not known yet (a preview) may hold a container or what every
# pod of it gets
HOLDER_KEYS = frozenset({*SINGLE_CONTAINER_KEYS, *CONTAINER_LIST_KEYS, "containers", "templates", "tasks", "finally",
                         "taskSpec", "pipelineSpec", "stepTemplate", "podTemplate", "containerSet",
                         "templateDefaults", "podSpecPatch", "computeResources", "stepSpecs", "sidecarSpecs",
                         "taskRunSpecs", "predictor", "spec", "template"})


def unknown_holders(resource_type: str, props: Any, depth: int = 10) -> list[str]:
    """The dotted paths of a custom resource (not a known workload kind) where a value not known yet sits under
    a key that may hold a container (HOLDER_KEYS), or is an item of one: a pod the pack cannot make."""
    if not may_hold_pods(resource_type) or str(resource_type) in _POD_SPEC_PATHS:
        return []
    found = []
    level: list[tuple[Any, tuple]] = [(props, ())]
    for _ in range(depth):
        below = []
        for node, path in level:
            pairs = node.items() if isinstance(node, Mapping) else enumerate(node) if _is_list(node) else ()
            for key, value in pairs:
                step = (*path, key)
                holder = key in HOLDER_KEYS or (isinstance(key, int) and path and path[-1] in HOLDER_KEYS)
                if is_unknown(value) and holder:
                    found.append(".".join(map(str, step)))
                elif isinstance(value, Mapping) or _is_list(value):
                    below.append((value, step))
        level = below
    return found


def pods_read(resource_type: str, props: Any) -> list[tuple[ServingPod, bool]]:
    """Every pod of a Kubernetes resource, each with whether it is a whole pod spec (True: by its kind's
    known path or by shape, a Knative Service's template included) or one made around single
    containers (False: ``unread_pods``). A custom resource's pods carry the labels its controller adds
    (crd_pod_labels); a Kyverno generate rule's object is read as its kind."""
    if admission_policy(resource_type):
        return [made for kind, body in generated_resources(props) for made in pods_read(kind, body)] + \
            _mutation_pods(props)
    pods = [read_pod(spec, crd_pod_labels(resource_type, props, get(metadata, "labels")), get(metadata, "annotations"))
            for spec, metadata in pod_specs(resource_type, props)]
    return [(pod, True) for pod in pods if pod is not None] + unread_pods(resource_type, props)


def serving_pods(resource_type: str, props: Any) -> list[ServingPod]:
    """Every pod of a Kubernetes resource (any kind, by its known path or its shape; a custom resource
    with several pod templates gives several; an Argo, Tekton or KServe group of single containers gives
    one made-up pod each), each read once; none for a kind that holds no pods."""
    return [pod for pod, _ in pods_read(resource_type, props)]


def pod_containers(resource_type: str, props: Any) -> list[Any]:
    """``workload_containers`` and the containers of the made-up pods (``unread_pods``): every container
    a Kubernetes resource runs."""
    return workload_containers(resource_type, props) + [
        container for pod, _ in unread_pods(resource_type, props) for container in pod.containers]


def serving_pod(resource_type: str, props: Any) -> ServingPod | None:
    """The first pod of a Kubernetes resource (``serving_pods`` reads them all), or None."""
    pods = serving_pods(resource_type, props)
    return pods[0] if pods else None


# ---------------------------------------------------------------- unknown values (preview)

def plain(value: Any) -> Any:
    """Props behind pulumi-policy's unknown-checking proxy as plain dicts and lists, unknown values
    left as the engine's sentinel strings (``is_unknown``), so a reader can take the worse case for
    them instead of failing the whole policy."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {key: plain(item) for key, item in value.items()}
    if kind is list:
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        inner = value["__target"] if kind.__name__ == "_DictProxy" else value
        return {key: plain(inner[key]) for key in inner}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        inner = value["__target"] if kind.__name__ == "_ListProxy" else value
        return [plain(item) for item in inner]
    return value


@functools.lru_cache(maxsize=1)
def _unknown_sentinels() -> frozenset[str]:
    from pulumi_policy import proxy
    return frozenset((proxy.UNKNOWN_BOOLEAN_VALUE, proxy.UNKNOWN_NUMBER_VALUE, proxy.UNKNOWN_STRING_VALUE,
                      proxy.UNKNOWN_ARRAY_VALUE, proxy.UNKNOWN_OBJECT_VALUE, proxy.UNKNOWN_ASSET_VALUE,
                      proxy.UNKNOWN_ARCHIVE_VALUE))


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in _unknown_sentinels()


def has_unknown(value: Any) -> bool:
    """Whether plain props (``plain``) hold an unknown value anywhere."""
    kind = type(value)
    if kind is str:
        return is_unknown(value)
    if kind in _SCALARS:
        return False
    if kind is dict:
        return any(has_unknown(v) for v in value.values())
    if kind is list:
        return any(has_unknown(v) for v in value)
    if isinstance(value, Mapping):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_unknown(v) for v in value)
    return is_unknown(value)


class PlainResource:
    """A stack policy's resource with its props (and its provider's) read as plain values once
    (``plain``): reading them never raises UnknownValueError, which would turn the whole stack
    policy into an advisory "can't run during preview"; ``unknown`` says whether a value is not
    known yet, for the reader to take the worse case. Everything else passes through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.resource_type = getattr(inner, "resource_type", "")
        self.props = plain(getattr(inner, "props", None))
        self.unknown = has_unknown(self.props)
        provider = getattr(inner, "provider", None)
        self.provider = PlainResource(provider) if provider is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def plain_resources(resources: Any) -> list[Any]:
    """A stack policy's resources as ``PlainResource``s (see there)."""
    return [PlainResource(r) for r in resources or []]


# ---------------------------------------------------------------- namespaces

# A namespaced object lands in its metadata.namespace; without one, in its provider's `namespace`
# setting, else in the namespace of the provider's kubeconfig context, else 'default' (pulumi-kubernetes
# provider docs, "namespace"; pulumi/pulumi-kubernetes#1896). The pack cannot read a kubeconfig, so an
# unstated namespace is the same for every object of one provider and may be any stated one.
UNSTATED_NAMESPACE = "(the default namespace of provider {})"


def object_namespace(resource: Any) -> str | None:
    """Where a resource's Kubernetes object lives: a stated namespace, the provider's, the provider's
    unstated default (``UNSTATED_NAMESPACE``), or None when a value is unknown (matches every namespace)."""
    from pulumi_policy.proxy import UnknownValueError
    provider = getattr(resource, "provider", None)
    try:
        for value in (get(resource.props, "metadata", "namespace"), get(getattr(provider, "props", None), "namespace")):
            if is_unknown(value) or (value is not None and not isinstance(value, str)):
                return None
            if value:
                return value
    except UnknownValueError:
        return None
    return UNSTATED_NAMESPACE.format(getattr(provider, "urn", None) or "")


def namespace_match(first: str | None, second: str | None) -> str:
    """'same' (certainly one namespace), 'maybe' (an unknown or unstated one), or 'no'."""
    if first is None or second is None:
        return "maybe"
    if first == second:
        return "same"
    unstated = UNSTATED_NAMESPACE.split("{", 1)[0]
    return "maybe" if first.startswith(unstated) or second.startswith(unstated) else "no"


def object_name(resource: Any) -> str:
    """A Kubernetes object's name: metadata.name, else the resource's name."""
    from pulumi_policy.proxy import UnknownValueError
    try:
        name = get(resource.props, "metadata", "name")
    except UnknownValueError:
        name = None
    return name if isinstance(name, str) and name and not is_unknown(name) else str(resource.name)
