"""Every pod meets Pod Security Standards Baseline; pods that hold GPUs, run vLLM or run the gateway
are locked down further.

Which pods hold GPUs is read once, by ``common.serving_pods`` (the gateway policy reads the same):
a container holds GPUs when it requests an nvidia.com/ (or amd.com/gpu) resource, lists a DRA
claim, runs under an NVIDIA runtime class, sets NVIDIA_VISIBLE_DEVICES (also through an envFrom
prefix) or mounts NVIDIA's device-list directory, or runs vLLM; in a pod that holds GPUs, a container
that loads a ConfigMap or Secret whole with envFrom too. Each rule cites the Kubernetes Pod Security
Standards (https://kubernetes.io/docs/concepts/security/pod-security-standards/) control it applies,
Baseline or Restricted; where the pack is stricter than the standard, it says so.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .common import (
    normalised,
    api_group,
    kind_name,
    CONTAINER_GROUP,
    container_group_containers,
    is_vllm_container,
    GPU_ENV,
    GPU_RUNTIME_WORD,
    GPU_TAINTS,
    K8S_CONFIG_MAP,
    MANAGED_CLUSTER,
    VIRTUAL_MACHINE,
    VM_SCALE_SET,
    MANDATORY,
    NO_GPU_ENV_VALUES,
    NODE_AGENT_HOST_PATHS,
    ServingPod,
    _label,
    cdi_devices,
    get,
    gpu_access,
    is_false,
    is_true,
    POD_SPEC_PATHS,
    is_unknown,
    items,
    plain,
    pod_specs,
    pods_read,
    read_pod_spec_patch,
    unknown_holders,
    unread_pods,  # noqa: F401 (images.py reads it from here)
    whole_number,
)

HOST_NAMESPACES = ("hostPID", "hostIPC", "hostNetwork")
K8S_SECRET = "kubernetes:core/v1:Secret"
RUNTIME_CLASSES = ("kubernetes:node.k8s.io/v1:RuntimeClass", "kubernetes:node.k8s.io/v1beta1:RuntimeClass")


def _gets_gpu(container: Any, spec: Any = None) -> bool:
    """Whether a container gets GPUs (common.gpu_access; a vLLM container counts too, see read_pod)."""
    return gpu_access(container, spec) is not None


# ---------------------------------------------------------------- GPU access this pack could not see

def _env_source_value(resource_type: str, props: Any) -> str | None:
    """The NVIDIA_VISIBLE_DEVICES a ConfigMap or Secret hands to a pod that loads it with envFrom (a
    Secret's ``data`` is base64; one that does not decode counts as devices), or None."""
    if resource_type == K8S_CONFIG_MAP:
        value = get(props, "data", GPU_ENV)
        return None if value is None else str(value)
    value = get(props, "stringData", GPU_ENV)
    if value is not None:
        return str(value)
    encoded = get(props, "data", GPU_ENV)
    if encoded is None:
        return None
    try:
        return base64.b64decode(str(encoded), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return "(not base64)"


def hidden_gpu_access(args: Any) -> str | None:
    """Why a non-pod resource hands GPUs to pods out of this policy's sight (a resource policy sees one
    resource: it cannot follow an envFrom to its ConfigMap, or a runtimeClassName to its handler), or None."""
    props, kind = args.props, args.resource_type
    if kind == K8S_CONFIG_MAP and (is_unknown(get(props, "data")) or is_unknown(props)):
        return (f"has data not known yet (a preview), which may set {GPU_ENV} for every container that loads it "
                "with envFrom, where this pack cannot see it; pass the data as a map whose keys are known (its values "
                "may be outputs), or judge the stack again in `pulumi up`")
    if kind in (K8S_CONFIG_MAP, K8S_SECRET):
        value = _env_source_value(kind, props)
        if value is not None and value.strip().lower() not in NO_GPU_ENV_VALUES:
            return (f"sets {GPU_ENV}, which gives GPUs to every container that loads it with envFrom, where this "
                    f"pack cannot see them; set {GPU_ENV} in the GPU container's own env, where the GPU rules apply")
    elif kind in RUNTIME_CLASSES:
        handler = str(get(props, "handler") or "")
        name = str(get(props, "metadata", "name") or args.name)
        if is_unknown(get(props, "handler")) and GPU_RUNTIME_WORD not in name.lower():
            return (f"has a handler not known yet (a preview), which may be NVIDIA's runtime under a name without "
                    f"'{GPU_RUNTIME_WORD}', and this pack knows GPU pods by a runtimeClassName that names it; state "
                    f"the handler, or call the class {GPU_RUNTIME_WORD}-{name} if it runs NVIDIA's runtime")
        if GPU_RUNTIME_WORD in handler.lower() and GPU_RUNTIME_WORD not in name.lower():
            return (f"runs pods under NVIDIA's runtime (handler '{handler}') by a name without "
                    f"'{GPU_RUNTIME_WORD}', and this pack knows GPU pods by a runtimeClassName that names it; "
                    f"call the class {GPU_RUNTIME_WORD}-{name}")
    return None


# ---------------------------------------------------------------- GPU node pools

AGENT_POOL = "azure-native:containerservice:AgentPool"
GPU_VM_SIZE = re.compile(r"standard_n", re.IGNORECASE)  # Azure's N-series: NC, ND, NV, NG (GPU sizes)
HOLDING_TAINT_EFFECTS = ("NoSchedule", "NoExecute")  # PreferNoSchedule still lets any pod land


def _holds_gpu_taint(taint: Any) -> bool:
    """An AKS node taint ('key=value:Effect' or 'key:Effect') that keeps pods off the node unless they
    tolerate a taint the GPU rules read as the GPU taint (common.GPU_TAINTS: sku=gpu, nvidia.com/gpu)."""
    if not isinstance(taint, str) or ":" not in taint:
        return False
    head, effect = taint.rsplit(":", 1)
    key, _, value = head.partition("=")
    if effect.strip() not in HOLDING_TAINT_EFFECTS or key.strip() not in GPU_TAINTS:
        return False
    wanted = GPU_TAINTS[key.strip()]
    return wanted is None or value.strip().lower() == wanted


def pool_sizes(pool: Any) -> list[Any]:
    """Every VM size an AKS node pool may run: its vmSize, and a VirtualMachines-type pool's sizes
    (virtualMachinesProfile.scale.manual[].size, 2025-09-01; the previews' ``sizes`` lists and autoscale
    profiles too)."""
    sizes = [get(pool, "vmSize")]
    for kind in ("manual", "autoscale"):
        for profile in items(get(pool, "virtualMachinesProfile", "scale", kind)):
            sizes += [get(profile, "size"), *items(get(profile, "sizes"))]
    return [size for size in sizes if size is not None]


def _gpu_size(size: Any) -> bool:
    """An N-series size, or one not known yet (a preview: the worse case)."""
    return is_unknown(size) or (isinstance(size, str) and bool(GPU_VM_SIZE.match(size.strip())))


KARPENTER_GROUP = "karpenter.sh"
# Karpenter on AKS (node auto-provisioning) labels the sizes it may launch (Azure/karpenter-provider-azure
# pkg/apis/v1beta1/labels.go): the family ('N' for the GPU sizes), the size's name, its GPUs
SKU_FAMILY = "karpenter.azure.com/sku-family"
SIZE_NAME_KEYS = ("node.kubernetes.io/instance-type", "karpenter.azure.com/sku-name")
GPU_ONLY_KEYS = ("karpenter.azure.com/sku-gpu-name", "karpenter.azure.com/sku-gpu-manufacturer")
GPU_COUNT = "karpenter.azure.com/sku-gpu-count"


def _requirement_excludes_gpus(requirement: Any) -> bool:
    """A Karpenter NodePool requirement that keeps every GPU size out (a value not known yet keeps none out)."""
    key, operator, values = get(requirement, "key"), str(get(requirement, "operator") or ""), get(requirement, "values")
    if any(is_unknown(v) for v in (key, operator, values)) or any(is_unknown(v) for v in items(values)):
        return False
    words = [str(v).strip() for v in items(values)]
    if key == SKU_FAMILY:
        return (operator == "In" and not any(w.upper().startswith("N") for w in words)) or \
            (operator == "NotIn" and "N" in (w.upper() for w in words)) or operator == "DoesNotExist"
    if key in SIZE_NAME_KEYS:
        return (operator == "In" and not any(_gpu_size(w) for w in words)) or operator == "DoesNotExist"
    if key in GPU_ONLY_KEYS:
        return operator == "DoesNotExist"
    if key == GPU_COUNT:
        numbers = [whole_number(w) for w in words]
        return (operator == "In" and numbers == [0] * len(numbers) and bool(numbers)) or operator == "DoesNotExist" \
            or (operator == "Lt" and numbers[:1] and numbers[0] is not None and numbers[0] <= 1)
    return False


def _karpenter_gpu_taint(taint: Any) -> bool:
    """A NodePool taint ({key, value, effect}) that keeps pods off unless they tolerate the GPU taint."""
    key, effect = str(get(taint, "key") or ""), str(get(taint, "effect") or "")
    if key not in GPU_TAINTS or effect not in HOLDING_TAINT_EFFECTS:
        return False
    wanted = GPU_TAINTS[key]
    return wanted is None or str(get(taint, "value") or "").lower() == wanted


def untainted_gpu_pools(resource_type: str, props: Any) -> list[str]:
    """AKS GPU node pools (an N-series size: vmSize or a VirtualMachines pool's sizes; a size not known yet
    counts) and Karpenter NodePools (AKS node auto-provisioning) whose requirements let GPU sizes in, without
    a NoSchedule or NoExecute GPU taint: on such a node any pod lands, and a CUDA image (NVIDIA_VISIBLE_DEVICES=all)
    sees every GPU without requesting one, outside the GPU rules, which find the pods that reach GPU nodes by
    the GPU taint they tolerate."""
    if str(resource_type).startswith("kubernetes:") and api_group(resource_type) == KARPENTER_GROUP \
            and kind_name(resource_type) == "NodePool":
        node = get(props, "spec", "template", "spec")
        if any(_requirement_excludes_gpus(r) for r in items(get(node, "requirements"))) or \
                any(_karpenter_gpu_taint(t) for t in items(get(node, "taints"))):
            return []
        return [("the Karpenter NodePool's requirements let GPU sizes in (no requirement keeps the N family, GPU "
                f"sizes or {GPU_COUNT} out) and its template has no NoSchedule GPU taint (taints: key 'sku', value "
                "'gpu', or key 'nvidia.com/gpu', effect NoSchedule); any pod may land on such a node and a CUDA image "
                "sees every GPU without requesting one, outside the GPU rules; add the taint, or keep GPU sizes out")]
    if resource_type == AGENT_POOL:
        pools = [("the node pool", props)]
    elif resource_type == MANAGED_CLUSTER:
        pools = [(f"agentPoolProfiles '{get(pool, 'name')}'", pool) for pool in items(get(props, "agentPoolProfiles"))]
    else:
        return []
    found = []
    for where, pool in pools:
        sizes = [size for size in pool_sizes(pool) if _gpu_size(size)]
        if not sizes:
            continue
        if not any(_holds_gpu_taint(t) for t in items(get(pool, "nodeTaints"))):
            shown = "a size not known yet" if is_unknown(sizes[0]) else sizes[0]
            found.append(f"{where} is a GPU pool ({shown}) without a NoSchedule GPU taint (nodeTaints "
                         "'sku=gpu:NoSchedule' or 'nvidia.com/gpu:NoSchedule'); any pod may land on it and a "
                         "CUDA image sees every GPU without requesting one, outside the GPU rules")
    return found


# ---------------------------------------------------------------- the rules

# ---------------------------------------------------------------- unknown values (preview)

# Where a pod field not known yet (a preview) can change what the rules find: the security contexts,
# host namespaces and ports, hostPath volumes, probe hosts, and everything that decides whether a container
# gets GPUs or runs vLLM. An unknown anywhere under one of these keys is reported, not judged good; an
# unknown elsewhere (an env value of another variable, a CSI volume's attributes, a container's name, a
# service account: the ids and names the components pass in a first preview) changes nothing judged here.
UNKNOWN_MATTERS = frozenset({
    "securityContext", "hostNetwork", "hostPID", "hostIPC", "hostUsers", "hostPath", "hostPort", "host",
    "resources", "resourceClaims", "claims", "runtimeClassName", "tolerations", "nodeSelector", "affinity",
    "nodeName", "envFrom", "image", "command", "args", "mountPath", "privileged"})
# a whole list or item of these not known yet may hold anything above
UNKNOWN_WHOLE = frozenset({"containers", "initContainers", "ephemeralContainers", "volumes", "ports", "env",
                           "volumeMounts", "lifecycle", "livenessProbe", "readinessProbe", "startupProbe"})


def _unknown_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if is_unknown(value):
        return [path]
    if isinstance(value, Mapping):
        return [p for key, inner in value.items() for p in _unknown_paths(inner, (*path, key))]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [p for index, inner in enumerate(value) for p in _unknown_paths(inner, (*path, index))]
    return []


def _unknown_matters(spec: Any, path: tuple[Any, ...]) -> bool:
    if not path or any(step in UNKNOWN_MATTERS for step in path):
        return True
    if path[-1] in UNKNOWN_WHOLE or isinstance(path[-1], int):
        return True  # a whole list, item or probe not known yet
    if "env" in path:  # an env entry: only NVIDIA_VISIBLE_DEVICES (or a name not known yet) is read
        at = path.index("env")
        entry = spec
        for step in path[:at + 2]:
            entry = entry[step] if isinstance(entry, (Mapping, list)) else None
        name = get(entry, "name")
        return is_unknown(name) or str(name) == GPU_ENV
    return False


def unknown_pod_fields(resource_type: str, props: Any, pods: list[tuple[ServingPod, bool]] | None = None) -> list[str]:
    """The fields of a resource's pods (plain props, ``common.plain``) this policy reads and a preview does
    not know yet, each as a dotted path; a pod-spec path whose step is not known yet gives the whole pod.
    Reported as the worse case: the pod may be privileged, share the node's namespaces or hold GPUs."""
    found = []
    path = POD_SPEC_PATHS.get(str(resource_type))
    if path:
        value = props
        for index, step in enumerate(path):
            value = get(value, step)
            if is_unknown(value):
                return [f"{'.'.join(path[:index + 1])} (the whole pod spec)"]
    for _, metadata in pod_specs(resource_type, props):
        if is_unknown(metadata) or is_unknown(get(metadata, "annotations")):
            found.append("metadata.annotations (the whole map: a CDI device request or AppArmor profile)")
    found += unknown_holders(resource_type, props)
    for pod, _ in pods_read(resource_type, props) if pods is None else pods:
        found += [".".join(map(str, p)) for p in _unknown_paths(pod.spec) if _unknown_matters(pod.spec, p)]
        found += [f"annotation {key}" for key, value in pod.annotations.items()
                  if str(key).startswith(APPARMOR_ANNOTATION) and is_unknown(value)]
    return list(dict.fromkeys(found))


class _PlainArgs:
    """Resource arguments whose props are plain values (``common.plain``): reading never raises."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.props = plain(inner.props)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def validate_gpu_capabilities(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # Container Apps containers have no securityContext (ContainerApp API: Container has args,
    # command, env, image, name, probes, resources, volumeMounts), so the rule is not expressible there.
    # Read from plain props: a value not known yet (a preview) never raises UnknownValueError; the known
    # parts are judged and each unknown field the rules read is reported (unknown_pod_fields)
    args = _PlainArgs(args)
    label = _label(args)
    pods = pods_read(args.resource_type, args.props)
    for field_path in unknown_pod_fields(args.resource_type, args.props, pods):
        report(f"{label}: pod field {field_path} is not known yet (a preview), so this pack cannot judge it and "
               "takes it for the worse case (a privileged container, a host namespace, GPUs without the GPU "
               "rules); pass a value known before deployment, or judge the stack again in `pulumi up`")
    for problem in untainted_gpu_pools(args.resource_type, args.props):
        report(f"{label}: {problem}")
    if args.resource_type == CONTAINER_GROUP:
        for problem in container_group_problems(args.props):
            report(f"{label}: {problem}")
        return
    if args.resource_type in (VIRTUAL_MACHINE, VM_SCALE_SET):
        for problem in machine_docker_problems(args.resource_type, args.props):
            report(f"{label}: {problem}")
        return
    if problem := hidden_gpu_access(args):
        report(f"{label}: {problem}")
        return
    patch = getattr(args.resource_type, "is_patch", False)
    if patch:
        for problem in patch_weakening(args.resource_type, args.props):
            report(f"{label}: the patch {problem}; a patch is judged alone, so this pack cannot see whether the "
                   "pod it changes holds GPUs or runs vLLM: declare the workload whole")
    reported: set[str] = set()

    def once(message: str, *rest: Any) -> None:  # a made-up pod repeats its resource's pod-level fields
        if message not in reported:
            reported.add(message)
            report(message, *rest)
    for pod, whole in pods:
        for text in items(get(pod.spec, "podSpecPatch")):  # Argo's (common.unread_pods applied the readable ones)
            read, problem = read_pod_spec_patch(text)
            if read is None and not is_unknown(text):
                once(f"{label}: podSpecPatch {problem}, so this pack cannot tell what it changes in the pod (it may "
                     "make a container privileged or share the node's namespaces); set those fields in the "
                     "template, or write the patch as plain JSON or YAML")
        if whole:
            _judge_pod(label, pod, report, patch)
        elif not patch:
            _judge_pod(label, pod, once)


def _node_agent_mount(pod: ServingPod, volume: Any) -> bool:
    """A hostPath of one of the kubelet directories NVIDIA's node agents need, in a pod that runs neither
    vLLM nor the gateway and whose containers get GPUs only by running on a GPU node (the device plugin,
    the DCGM exporter): the agents' documented exception."""
    path = get(volume, "hostPath", "path")
    if not isinstance(path, str) or posixpath.normpath("/" + path.lstrip("/")) not in NODE_AGENT_HOST_PATHS:
        return False
    return not pod.vllm and not pod.gateway and cdi_devices(pod.annotations) is None and \
        all(gpu_access(c, pod.spec) is None and
                                                    not is_true(get(c, "securityContext", "privileged"))
                                                    for c, _ in pod.gpu)


# ---------------------------------------------------------------- Pod Security Standards Baseline

# The Baseline controls' allowed values, from https://kubernetes.io/docs/concepts/security/pod-security-standards/
# ("Baseline"), as Pod Security Admission applies them (kubernetes/pod-security-admission policy/check_*.go).
# "Capabilities": the container runtime's default set
BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
# "Sysctls": the safe set every Kubernetes from 1.29 admits (1.32 adds net.ipv4.tcp_rmem and tcp_wmem, 1.37
# more: the pack keeps the set an older cluster admits too)
BASELINE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes"})
# "SELinux": seLinuxOptions.type one of these (1.31 adds container_engine_t: kept out, as for sysctls), no user or role
BASELINE_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
# "Seccomp" and "AppArmor": the profile types a pod or container may set (undefined is allowed too)
BASELINE_PROFILE_TYPES = ("RuntimeDefault", "Localhost")
# "AppArmor": the annotation per container, 'runtime/default', 'localhost/<profile>' or empty
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
# "Host Probes / Lifecycle Hooks" (Kubernetes 1.34): a probe or hook handler may not name a host
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
HOOKS = ("postStart", "preStop")


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _whose(pod: ServingPod) -> str:
    if pod.gpu:
        return f"the pod of GPU container '{get(pod.gpu[0][0], 'name')}' ({pod.gpu[0][1]})"
    if pod.vllm:
        return f"the pod of vLLM container '{get(pod.vllm[0], 'name')}'"
    if pod.gateway:
        return f"the pod of gateway container '{get(pod.gateway[0], 'name')}'"
    return f"the pod of container '{get(pod.containers[0], 'name')}'" if pod.containers else "the pod"


def _contexts(pod: ServingPod) -> list[tuple[str, Any]]:
    """('the pod' or "container 'name'", its securityContext) for the pod and each of its containers."""
    return [("the pod", get(pod.spec, "securityContext"))] + [
        (f"container '{get(c, 'name')}'", get(c, "securityContext")) for c in pod.containers]


def baseline_problems(pod: ServingPod, node_agent_exception: bool = True) -> list[str]:
    """What in a pod breaks Pod Security Standards Baseline (or the pack's stricter reading), each as
    'who does what; what would work'. Privileged containers are GPU containers (common.read_pod) and
    reported by the GPU rules; so are a GPU container's added capabilities, all of them."""
    whose, found = _whose(pod), []
    # "Host Namespaces": spec.hostNetwork, hostPID, hostIPC unset or false
    found += [f"{whose} sets {name}: true, sharing the node's namespace; leave it unset"
              for name in HOST_NAMESPACES if is_true(get(pod.spec, name))]
    # "HostPath Volumes": spec.volumes[*].hostPath undefined (NVIDIA's node agents excepted, _node_agent_mount)
    for volume in items(get(pod.spec, "volumes")):
        if get(volume, "hostPath") is not None and not (node_agent_exception and _node_agent_mount(pod, volume)):
            found.append(f"{whose} mounts the node's filesystem (hostPath volume '{get(volume, 'name')}', path "
                         f"{get(volume, 'hostPath', 'path')}); use a PersistentVolumeClaim, CSI or emptyDir volume")
    # "Sysctls": spec.securityContext.sysctls[*].name in the safe set
    unsafe = [_text(get(s, "name")) for s in items(get(pod.spec, "securityContext", "sysctls"))
              if _text(get(s, "name")) not in BASELINE_SYSCTLS]
    if unsafe:
        found.append(f"in {whose}, the pod sets sysctl(s) {', '.join(unsafe)}, outside the namespaced safe set "
                     "(Pod Security Standards Baseline); tune the node instead, or drop them")
    # "AppArmor": the per-container annotation 'runtime/default', 'localhost/*' or empty
    for key, value in pod.annotations.items():
        if str(key).startswith(APPARMOR_ANNOTATION) and _text(value) not in ("", "runtime/default") \
                and not _text(value).startswith("localhost/"):
            found.append(f"in {whose}, annotation {key} is '{value}', which lifts the runtime's AppArmor "
                         "profile; use runtime/default or localhost/<profile>, or leave it out")
    for where, context in _contexts(pod):
        # "Seccomp" and "AppArmor": seccompProfile.type and appArmorProfile.type RuntimeDefault, Localhost or unset
        for field_name, what in (("seccompProfile", "every system call reaches the node's kernel"),
                                 ("appArmorProfile", "the runtime's AppArmor profile is lifted")):
            kind = _text(get(context, field_name, "type"))
            if kind and kind not in BASELINE_PROFILE_TYPES:
                found.append(f"in {whose}, {where} sets {field_name}.type: {kind}, so {what}; use RuntimeDefault")
        # "SELinux": seLinuxOptions.type a container type, user and role unset
        options = get(context, "seLinuxOptions")
        if _text(get(options, "type")) not in BASELINE_SELINUX_TYPES:
            found.append(f"in {whose}, {where} sets seLinuxOptions.type: {_text(get(options, 'type'))}, not a "
                         f"container type; use {', '.join(sorted(BASELINE_SELINUX_TYPES - {''}))} or leave it unset")
        found += [f"in {whose}, {where} sets seLinuxOptions.{key}: {_text(get(options, key))}; leave it unset"
                  for key in ("user", "role") if _text(get(options, key))]
        # "HostProcess": windowsOptions.hostProcess unset or false
        if is_true(get(context, "windowsOptions", "hostProcess")):
            found.append(f"in {whose}, {where} sets windowsOptions.hostProcess: true, which runs it as a process "
                         "on the Windows node; leave it unset")
    gpu_held = {id(c) for c, _ in pod.gpu}
    for container in pod.containers:
        name, context = get(container, "name"), get(container, "securityContext")
        # "Capabilities": add only from the default set (a GPU container adds none: the GPU rules)
        added = [str(c) for c in items(get(context, "capabilities", "add"))
                 if str(c).upper().removeprefix("CAP_") not in BASELINE_CAPABILITIES]
        if added and id(container) not in gpu_held:
            found.append(f"in {whose}, container '{name}' adds capabilities {', '.join(added)}, beyond the "
                         "runtime's default set; add none of them")
        # "Host Ports": hostPort unset or 0 (the pack allows no list of known ports)
        found += [f"in {whose}, container '{name}' publishes hostPort {whole_number(get(port, 'hostPort'))} on "
                  "the node, around every Service and network policy; expose the pod through a Service"
                  for port in items(get(container, "ports")) if whole_number(get(port, "hostPort"))]
        # "/proc Mount Type": procMount unset or Default (stricter than Kubernetes 1.35, which allows any
        # type with hostUsers: false)
        if _text(get(context, "procMount")) not in ("", "Default"):
            found.append(f"in {whose}, container '{name}' sets procMount: {_text(get(context, 'procMount'))}, "
                         "exposing the node's /proc paths the runtime masks; leave it Default")
        # "Host Probes / Lifecycle Hooks": no handler names a host (the kubelet would call it from the node)
        handlers = [(probe, get(container, probe)) for probe in PROBES]
        handlers += [(f"lifecycle {hook}", get(container, "lifecycle", hook)) for hook in HOOKS]
        for where, handler in handlers:
            for kind in ("httpGet", "tcpSocket"):
                if _text(get(handler, kind, "host")):
                    found.append(f"in {whose}, container '{name}' {where} {kind} names host "
                                 f"'{_text(get(handler, kind, 'host'))}', which the kubelet calls from the node; "
                                 "leave host unset so it checks the pod itself")
    return found


def patch_weakening(resource_type: str, props: Any) -> list[str]:
    """What a workload ``*Patch`` sets that Baseline allows but a pod holding GPUs or running vLLM must
    not (a patch is judged alone, so whose pod it is stays unseen): added capabilities, privilege escalation."""
    found = []
    for spec, _ in pod_specs(resource_type, props):
        for container in (c for key in ("initContainers", "containers", "ephemeralContainers")
                          for c in items(get(spec, key))):
            context = get(container, "securityContext")
            if items(get(context, "capabilities", "add")):
                found.append(f"adds capabilities to container '{get(container, 'name')}'")
            if is_true(get(context, "allowPrivilegeEscalation")):
                found.append(f"allows privilege escalation in container '{get(container, 'name')}'")
    return list(dict.fromkeys(found))


def _judge_pod(label: str, pod: ServingPod, report: ReportViolation, patch: bool = False) -> None:
    for container, how in pod.gpu:
        context = get(container, "securityContext")
        name = f"'{get(container, 'name')}' ({how})"
        # PSS Restricted "Capabilities": drop ALL
        dropped = [str(c).upper() for c in items(get(context, "capabilities", "drop"))]
        if "ALL" not in dropped:
            report(f"{label}: GPU container {name} does not drop ALL capabilities; "
                   "set securityContext.capabilities.drop: [ALL]")
        # PSS Baseline "Capabilities" allows a short list, Restricted NET_BIND_SERVICE only: vLLM needs none
        added = [str(c) for c in items(get(context, "capabilities", "add"))]
        if added:
            report(f"{label}: GPU container {name} adds capabilities {', '.join(added)}; vLLM needs none, "
                   "add nothing to a container that holds GPUs")
        # PSS Baseline "Privileged Containers"
        if is_true(get(context, "privileged")):
            report(f"{label}: GPU container {name} is privileged, which grants every capability back")
        # PSS Restricted "Privilege Escalation": allowPrivilegeEscalation false
        if not is_false(get(context, "allowPrivilegeEscalation")):
            report(f"{label}: GPU container {name} does not set allowPrivilegeEscalation: false; a setuid "
                   "binary could regain capabilities")
    # every pod, the gateway's and vLLM's (GPUs on or off) included: Baseline; a patch gets no node-agent
    # exception (it cannot show that the pod it changes is not vLLM's)
    for problem in baseline_problems(pod, node_agent_exception=not patch):
        report(f"{label}: {problem}")


UNCONFINED = re.compile(r"(?:seccomp|apparmor|systempaths)[=:]unconfined|label[=:]disable", re.IGNORECASE)
HOST_NAMESPACE_OPTIONS = ("--pid", "--userns", "--uts", "--cgroupns", "--network", "--net")


def machine_docker_problems(resource_type: str, props: Any) -> list[str]:
    """What a VM's or scale set's custom data lets a GPU or vLLM container do (`docker run --gpus`, a vLLM
    image or command): what Pod Security Baseline and the GPU rules refuse a pod, in docker's words:
    --privileged, --cap-add beyond the runtime's default set, an unconfined seccomp/AppArmor profile or
    disabled SELinux labels, the host's PID, user, UTS or cgroup namespace, or its network. The shared IPC
    namespace (--ipc=host) is taken: vLLM's tensor-parallel workers exchange tensors through /dev/shm, and
    the VM host uses it for TP > 1 (components/cloudinit.py)."""
    from .images import custom_data_scripts, docker_options, docker_runs, machine_custom_data

    text = machine_custom_data(resource_type, props)
    if text is None or "docker" not in text:
        return []
    problems: list[str] = []
    for script in custom_data_scripts(text):
        for options, image, arguments in docker_runs(script):
            gpus = any(o == "--gpus" or o.startswith("--gpus=") or "nvidia" in o for o in options)
            if not (gpus or is_vllm_container({"image": image, "args": arguments})):
                continue
            found = []
            for name, value in docker_options(options):
                if name == "--privileged" and value.lower() not in ("false",):
                    found.append("--privileged")
                elif name == "--cap-add" and value.upper().removeprefix("CAP_") not in BASELINE_CAPABILITIES:
                    found.append(f"--cap-add {value}")
                elif name == "--security-opt" and UNCONFINED.search(value):
                    found.append(f"--security-opt {value}")
                elif name in HOST_NAMESPACE_OPTIONS and value == "host":
                    found.append(f"{name}=host")
            if found:
                problems.append(f"its custom data runs GPU container '{image}' with {', '.join(dict.fromkeys(found))}, "
                                "which Pod Security Baseline and this pack's GPU rules refuse a pod (a GPU container "
                                "reaches the driver and the node); drop those options")
    return list(dict.fromkeys(problems))


def container_group_problems(props: Any) -> list[str]:
    """What an Azure Container Instances group's containers set in their securityContext (SecurityContextDefinition:
    privileged, capabilities, allowPrivilegeEscalation) that a Kubernetes pod may not: a privileged container
    (every device of the host, Baseline "Privileged Containers"), capabilities beyond the runtime's default
    set (Baseline), and, in a container that runs vLLM or holds GPUs (resources' gpu), any added capability or
    allowed privilege escalation (the GPU rules; drop ALL is not asked: most groups' SKU takes no securityContext)."""
    found = []
    for container in container_group_containers(props):
        context, name = get(container, "securityContext"), get(container, "name")
        if not isinstance(context, Mapping):
            continue
        gpus = any(get(container, "resources", kind, "gpu") is not None for kind in ("requests", "limits"))
        serving = "runs vLLM" if is_vllm_container(container) else "holds GPUs" if gpus else None
        if is_true(get(context, "privileged")):
            found.append(f"container '{name}' is privileged, which hands it every device and capability of its host; "
                         "leave securityContext.privileged unset")
        added = [str(c) for c in items(get(context, "capabilities", "add"))]
        beyond = [c for c in added if c.upper().removeprefix("CAP_") not in BASELINE_CAPABILITIES]
        if serving and added:
            found.append(f"container '{name}' {serving} and adds capabilities {', '.join(added)}; vLLM needs none, add "
                         "nothing to a container that serves or holds GPUs")
        elif beyond:
            found.append(f"container '{name}' adds capabilities {', '.join(beyond)}, beyond the runtime's default "
                         "set; add none of them")
        if serving and is_true(get(context, "allowPrivilegeEscalation")):
            found.append(f"container '{name}' {serving} and sets allowPrivilegeEscalation: true; a setuid binary could "
                         "regain capabilities: set it false or leave it unset")
    return found


gpu_containers_locked_down = ResourceValidationPolicy(
    name="gpu-containers-drop-capabilities",
    description="Every Kubernetes pod meets Pod Security Standards Baseline (no host namespace, privileged "
                "container, added capability beyond the runtime's default set, hostPath volume (NVIDIA's node "
                "agents' kubelet directories excepted), hostPort, unsafe sysctl, seccomp or AppArmor profile other "
                "than RuntimeDefault/Localhost, custom SELinux type, user or role, Windows hostProcess, procMount "
                "other than Default or probe host). Containers that get GPUs (an nvidia.com/ or amd.com/gpu resource, "
                "a DRA claim, an NVIDIA runtime class, NVIDIA_VISIBLE_DEVICES, also through envFrom, NVIDIA's "
                "device-list directory, vLLM, a GPU node reached without a request) drop ALL capabilities, add "
                "none, are not privileged and set allowPrivilegeEscalation: false; no ConfigMap or Secret sets "
                "NVIDIA_VISIBLE_DEVICES and no RuntimeClass hides NVIDIA's runtime under another name. "
                "Container Apps has no securityContext to set.",
    validate=normalised(validate_gpu_capabilities),
    enforcement_level=MANDATORY,
)
