"""Nothing reaches vLLM without the gateway.

vLLM checks only a bearer key; the gateway (Caddy) adds TLS, the path allow-list and limits.
Every way in from outside must therefore end at the gateway's ports (443, and 80 for ACME
HTTP-01), never at vLLM's port or at a container that is not the gateway:
- NSG rules (inline or SecurityRule resources): no inbound rule opens vLLM's port to any source
  outside the VNet, and none opens a port other than 443/80 (SSH has its own rule) to the
  internet, a service tag or a range broader than the shared limit (rules.BROADEST_PREFIX);
- Container Apps ingress targets the gateway container's port, never vLLM's, and an app that
  runs vLLM with ingress also runs the gateway;
- Kubernetes LoadBalancer and NodePort Services never target vLLM's port or select vLLM's pods;
- Azure load balancer rules never forward to vLLM's port;
- a GPU VM whose NIC has a public IP: its network security group allows none of the above.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .common import (
    normalised,
    CONTAINER_APP,
    K8S_SERVICE,
    LOAD_BALANCER,
    MANDATORY,
    NETWORK_INTERFACE,
    NSG,
    POD_SPEC_PATHS,
    SECURITY_RULE,
    VIRTUAL_MACHINE,
    _address_sources,
    _allows_inbound_tcp,
    _label,
    _listed,
    _nsg_rules,
    _port_ranges,
    _rule_name,
    aca_containers,
    get,
    items,
    k8s_containers,
    pod_template_metadata,
    rules,
    whole_number,
)

from .exposure import inline_public_ip_configurations

EXPOSED_SERVICE_TYPES = ("LoadBalancer", "NodePort")
# GPU VM sizes: the N family (NC, ND, NV, NG), "Sizes for virtual machines in Azure" (learn.microsoft.com)
GPU_VM_PREFIX = "standard_n"


# ---------------------------------------------------------------- who is vLLM, who is the gateway

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


def vllm_ports(container: Any) -> set[int]:
    """Every port vLLM may listen on: each --port N / --port=N in its (shell-split) command and
    args, and vLLM's default the hosts use (a --port this pack cannot read leaves the default)."""
    words = command_words(container)
    found = {rules.VLLM_PORT}
    for index, word in enumerate(words):
        value = words[index + 1] if word == "--port" and index + 1 < len(words) else (
            word.split("=", 1)[1] if word.startswith("--port=") else None)
        if value is not None and whole_number(value) is not None:
            found.add(whole_number(value))
    return found


def _container_ports(containers: list[Any]) -> set[int]:
    return set().union(*(vllm_ports(c) for c in containers)) | {rules.VLLM_PORT}


# ---------------------------------------------------------------- NSG rules

def _other_ports(low: int, high: int) -> bool:
    """The range holds a port besides the gateway's and SSH's (SSH is judged by no-public-ssh)."""
    known = [p for p in (*rules.GATEWAY_PORTS, rules.SSH_PORT) if low <= p <= high]
    return high - low + 1 > len(known)


def nsg_rule_problems(rule: Any) -> list[str]:
    """Why one inbound NSG rule lets traffic past the gateway (empty: it does not)."""
    if not _allows_inbound_tcp(rule):
        return []
    ranges = _port_ranges(rule)
    outside = [s for s in _address_sources(rule) if not rules.is_inside_source(s)]
    if not outside:
        return []
    problems = []
    if any(low <= rules.VLLM_PORT <= high for low, high in ranges):
        problems.append(f"opens vLLM's port {rules.VLLM_PORT} to {_listed(outside)}, around the gateway")
    others = [(low, high) for low, high in ranges if _other_ports(low, high)]
    broad = rules.source_range_problems(outside)
    if others and broad:
        shown = ", ".join(f"{low}" if low == high else f"{low}-{high}" for low, high in others)
        problems.append(f"opens port(s) {shown} (not the gateway's {'/'.join(map(str, rules.GATEWAY_PORTS))}) "
                        f"to the internet: {broad[0]}")
    return problems


# ---------------------------------------------------------------- one resource at a time

def validate_behind_gateway(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props, label = args.props, _label(args)
    if args.resource_type in (NSG, SECURITY_RULE):
        for index, rule in enumerate(_nsg_rules(args.resource_type, props)):
            name = _rule_name(rule, args.name if args.resource_type == SECURITY_RULE else f"#{index}")
            for problem in nsg_rule_problems(rule):
                report(f"{label}: rule '{name}' {problem}; only the gateway's ports 443 and 80 face the "
                       "internet, vLLM is reached through the gateway")
    elif args.resource_type == CONTAINER_APP:
        ingress = get(props, "configuration", "ingress")
        if not isinstance(ingress, Mapping):
            return
        containers = list(aca_containers(props))
        vllm = [c for c in containers if is_vllm_container(c)]
        vllm_ports = _container_ports(vllm) if vllm else {rules.VLLM_PORT}
        target = whole_number(get(ingress, "targetPort"))
        if target in vllm_ports or (vllm and target is None):
            report(f"{label}: ingress targetPort {target} is vLLM's port (vLLM listens on "
                   f"{', '.join(map(str, sorted(vllm_ports)))}); target the gateway container's port, which "
                   "must differ from every vLLM container's port, so every request passes the gateway")
        for mapping in items(get(ingress, "additionalPortMappings")):
            port = whole_number(get(mapping, "targetPort"))
            if port in vllm_ports:
                report(f"{label}: additional port mapping targets vLLM's port {port}; reach vLLM only "
                       "through the gateway")
        if vllm and not any(is_gateway_container(c) for c in containers):
            report(f"{label}: ingress reaches container(s) {_listed([str(get(c, 'name')) for c in containers])} "
                   "but none is the gateway (Caddy); the ingress must target the gateway in front of vLLM")
    elif args.resource_type == K8S_SERVICE and get(props, "spec", "type") in EXPOSED_SERVICE_TYPES:
        kind = get(props, "spec", "type")
        for port in items(get(props, "spec", "ports")):
            numbers = {whole_number(get(port, "targetPort")), whole_number(get(port, "port"))}
            if rules.VLLM_PORT in numbers:
                report(f"{label}: {kind} Service port {get(port, 'port')} reaches vLLM's port "
                       f"{rules.VLLM_PORT}; expose only the gateway")
    elif args.resource_type == LOAD_BALANCER:
        for kind in ("loadBalancingRules", "inboundNatRules"):
            for index, rule in enumerate(items(get(props, kind))):
                ports = {whole_number(get(rule, "backendPort")), whole_number(get(rule, "frontendPort"))}
                if rules.VLLM_PORT in ports:
                    report(f"{label}: {kind} '{_rule_name(rule, f'#{index}')}' forwards to vLLM's port "
                           f"{rules.VLLM_PORT}; balance only the gateway's ports")


vllm_behind_gateway = ResourceValidationPolicy(
    name="vllm-only-behind-gateway",
    description="Nothing reaches vLLM around the gateway: no NSG rule opens vLLM's port to a source "
                "outside the VNet or another port than 443/80 to the internet, a service tag or a wide "
                "range; Container Apps ingress targets the gateway; no Kubernetes LoadBalancer/NodePort "
                "Service and no Azure load balancer rule reaches vLLM's port.",
    validate=normalised(validate_behind_gateway),
    enforcement_level=MANDATORY,
)


# ---------------------------------------------------------------- across the stack

def vllm_pod_labels(resources: list[Any]) -> list[tuple[str, Mapping]]:
    """(workload name, pod labels) of every Kubernetes workload that runs vLLM."""
    found = []
    for resource in resources:
        if resource.resource_type not in POD_SPEC_PATHS:
            continue
        if any(is_vllm_container(c) for c in k8s_containers(resource.resource_type, resource.props)):
            labels = get(pod_template_metadata(resource.resource_type, resource.props), "labels")
            if resource.resource_type == "kubernetes:core/v1:Pod":
                labels = get(resource.props, "metadata", "labels")
            found.append((resource.name, labels if isinstance(labels, Mapping) else {}))
    return found


def _selects(selector: Any, labels: Mapping) -> bool:
    """A Service selector picks pods with these labels (an empty selector picks no pods)."""
    if not isinstance(selector, Mapping) or not selector:
        return False
    return all(str(labels.get(key)) == str(value) for key, value in selector.items() if key in labels) and \
        all(key in labels for key in selector)


def _by_id(resources: list[Any]) -> dict[str, Any]:
    return {str(get(r.props, "id")).lower(): r for r in resources if isinstance(get(r.props, "id"), str)}


def _nsg_of(ref: Any, ids: dict[str, Any]) -> Any:
    nsg_id = get(ref, "networkSecurityGroup", "id")
    return ids.get(str(nsg_id).lower()) if isinstance(nsg_id, str) else None


def validate_behind_gateway_across_stack(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    for workload, labels in vllm_pod_labels(resources):
        for service in resources:
            if service.resource_type == K8S_SERVICE and get(service.props, "spec", "type") in EXPOSED_SERVICE_TYPES \
                    and _selects(get(service.props, "spec", "selector"), labels):
                report(f"{K8S_SERVICE} '{service.name}': a {get(service.props, 'spec', 'type')} Service selects "
                       f"the vLLM pods of '{workload}'; only the gateway's Service may face outside the cluster",
                       service.urn)
    ids = _by_id(resources)
    for vm in resources:
        if vm.resource_type != VIRTUAL_MACHINE or \
                not str(get(vm.props, "hardwareProfile", "vmSize") or "").lower().startswith(GPU_VM_PREFIX):
            continue
        if inline_public_ip_configurations(vm.props):
            report(f"{VIRTUAL_MACHINE} '{vm.name}': GPU VM declares a public IP inline (networkProfile."
                   "networkInterfaceConfigurations[].ipConfigurations[].publicIPAddressConfiguration), with no "
                   "security group this pack can judge; give vLLM's VM no public IP, put the gateway in front",
                   vm.urn)
        for reference in items(get(vm.props, "networkProfile", "networkInterfaces")):
            nic = ids.get(str(get(reference, "id")).lower())
            if nic is None or nic.resource_type != NETWORK_INTERFACE:
                continue
            configurations = items(get(nic.props, "ipConfigurations"))
            if not any(get(c, "publicIPAddress") for c in configurations):
                continue
            subnets = [ids.get(str(get(c, "subnet", "id")).lower()) for c in configurations]
            groups = [_nsg_of(nic.props, ids)] + [_nsg_of(s.props, ids) for s in subnets if s is not None]
            for group in [g for g in groups if g is not None]:
                attached = [r for r in resources if r.resource_type == SECURITY_RULE
                            and get(r.props, "networkSecurityGroupName") == get(group.props, "name")]
                for rule in _nsg_rules(NSG, group.props) + [r.props for r in attached]:
                    for problem in nsg_rule_problems(rule):
                        report(f"{VIRTUAL_MACHINE} '{vm.name}': GPU VM with a public IP on NIC '{nic.name}', "
                               f"whose security group '{group.name}' rule '{_rule_name(rule, '?')}' {problem}",
                               vm.urn)


vllm_behind_gateway_across_stack = StackValidationPolicy(
    name="vllm-only-behind-gateway-across-stack",
    description="Across the stack: no Kubernetes LoadBalancer/NodePort Service selects the pods that run "
                "vLLM, and a GPU VM with a public IP has no security group rule that reaches past the gateway.",
    validate=normalised(validate_behind_gateway_across_stack),
    enforcement_level=MANDATORY,
)
