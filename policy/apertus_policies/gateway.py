"""Nothing reaches vLLM without the gateway.

vLLM checks only a bearer key; the gateway (Caddy) adds TLS, the path allow-list and limits.
Every way in from outside must therefore end at the gateway's ports (443, and 80 for ACME
HTTP-01), never at vLLM's port or at a container that is not the gateway:
- NSG rules (inline or SecurityRule resources): no inbound rule opens vLLM's port to any source
  outside the VNet, and none opens a port other than 443/80 (SSH has its own rule) to the
  internet, a service tag or a range broader than the shared limit (rules.BROADEST_PREFIX);
- Container Apps ingress targets the gateway container's port, never vLLM's, and an app that
  runs vLLM with ingress also runs the gateway;
- Kubernetes LoadBalancer, NodePort and externalIPs Services (and Service patches) never target
  vLLM's port or select vLLM's pods, nor do their hand-written endpoints (an EndpointSlice labelled
  with a Service's name, an Endpoints object of a Service without a selector), or those of a Service
  the stack does not hold, reach vLLM's pods or ports (read from vLLM's pods in the stack), nor does an Ingress backend, a Gateway API route's
  backendRef or request mirror (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute) or an Istio
  VirtualService's destination or mirror, through a Service, its endpoints or an ExternalName for
  vLLM's Service; Services are matched by namespace and name; a selector key a controller adds to
  the pods it creates (CONTROLLER_LABELS) matches; an exposed Service is judged by every port vLLM
  listens on in the stack; where the gateway runs in vLLM's pod, only its own port may be reached (a
  port name the gateway declares on a port vLLM listens on is vLLM's); a vLLM container has no
  hostPort and its pod no hostNetwork;
- a Helm release, Flux HelmRelease or Kustomization, Argo CD Application or ApplicationSet, Argo Workflows
  resource template, Kyverno generate rule, or ARM deployment of any type, whose objects no policy sees, is
  refused in a stack that serves vLLM (a GPU VM scale set included); so is a
  classic-provider (azure:) resource that can open a port (exposure.classic_unjudged);
- inside the cluster too: no NetworkPolicy admits an ipBlock, every source or every namespace to vLLM's
  pods on vLLM's port; a Knative Service or KServe InferenceService serving vLLM is cluster-local (unless
  Knative's ingress reaches only the gateway in its pod), as is a Knative Route to one; no DomainMapping or
  Knative Ingress publishes one; no LLMInferenceService has a router gateway or route;
- Traefik and Contour routes and ingress-nginx TCP/UDP services ConfigMaps are judged as Ingress backends,
  an Envoy Gateway Backend by its endpoints, an ExternalName outside the cluster's names by its port;
- Azure load balancer rules, inbound NAT rules and pools, Application Gateway backends (layer 7 and 4),
  firewall DNAT rules (policy and classic) and public container groups never reach a port vLLM listens on
  in the stack; the
  classic provider's NSG rules are read like azure-native's;
- a GPU VM declares no public IP inline, and one whose NIC has a public IP: its network security
  group allows none of the above.
The across-stack policy reads the stack as plain values and takes the worse case for a value not
known yet (a preview), so an unknown never turns it into an advisory (docs/policy-pack.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from .common import (
    normalised,
    pods_read,
    _repository,
    CONTAINER_APP,
    INTERNAL_LB_ANNOTATION,
    asks_internal_lb,
    K8S_CONFIG_MAP,
    K8S_SERVICE,
    LOAD_BALANCER,
    MANDATORY,
    NETWORK_INTERFACE,
    NSG,
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
    is_gateway_container,
    is_true,
    is_vllm_container,
    items,
    rules,
    POD_SPEC_PATHS,
    ServingPod,
    is_unknown,
    kind_name,
    plain_resources,
    may_hold_pods,
    namespace_match,
    object_name,
    object_namespace,
    plain,
    serving_pods,
    vllm_port_unread,
    vllm_ports,
    whole_number,
)

from .exposure import arm_deployment, classic_unjudged, deployment_script, inline_public_ip_configurations
from .network import worse_nsg_rules

EXPOSED_SERVICE_TYPES = ("LoadBalancer", "NodePort")
INBOUND_NAT_RULE = "azure-native:network:InboundNatRule"
APPLICATION_GATEWAY = "azure-native:network:ApplicationGateway"
FIREWALL_POLICY_RULES = "azure-native:network:FirewallPolicyRuleCollectionGroup"
FIREWALL_RULES = "azure-native:network:FirewallPolicyRuleGroup"
AZURE_FIREWALL = "azure-native:network:AzureFirewall"  # classic rules: natRuleCollections
CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"
# the classic provider (pulumi-azure): its network security rules, read like azure-native's
CLASSIC_SECURITY_RULE = "azure:network/networkSecurityRule:NetworkSecurityRule"
CLASSIC_NSG = "azure:network/networkSecurityGroup:NetworkSecurityGroup"
K8S_INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
ENDPOINT_SLICE = "kubernetes:discovery.k8s.io/v1:EndpointSlice"
ENDPOINTS = "kubernetes:core/v1:Endpoints"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # an EndpointSlice's Service (discovery.k8s.io/v1)
# GPU VM sizes: the N family (NC, ND, NV, NG), "Sizes for virtual machines in Azure" (learn.microsoft.com)
GPU_VM_PREFIX = "standard_n"
GPU_VM_SIZE_IN_TEXT = re.compile(r"\bstandard_n[a-z]*\d")  # a GPU size named anywhere in a resource's props
SUBNET = "azure-native:network:Subnet"
VM_SCALE_SET = "azure-native:compute:VirtualMachineScaleSet"


def gpu_machine(resource: Any) -> str | None:
    """'GPU VM' or 'GPU VM scale set' for a VM (hardwareProfile.vmSize) or scale set (sku.name) of an N-series
    size (a size not known yet taken for one), else None."""
    if resource.resource_type == VIRTUAL_MACHINE:
        size, what = get(resource.props, "hardwareProfile", "vmSize"), "GPU VM"
    elif resource.resource_type == VM_SCALE_SET:
        size, what = get(resource.props, "sku", "name"), "GPU VM scale set"
    else:
        return None
    return what if is_unknown(size) or str(size or "").lower().startswith(GPU_VM_PREFIX) else None


def machine_runs_vllm(resource: Any) -> bool:
    """A VM or scale set whose custom data (base64, gzip too) names vLLM: what runs on it, whatever its size."""
    from .images import machine_custom_data

    return "vllm" in (machine_custom_data(resource.resource_type, resource.props) or "").lower()


LOOPBACK = ("127.", "localhost", "[::1]", "::1")
PUBLISHED_PORTS_MAX = 1024  # a published range past this many ports is read as its first ones


def _published_host_ports(spec: str) -> set[int]:
    """The host ports of one `docker run -p` value ([ip:]host:container[/proto]; a range 'a-b'); none when
    it binds a loopback address (reachable from the machine only) or names no host port (docker picks one)."""
    spec = spec.split("/", 1)[0]
    if spec.startswith("["):  # [::1]:9000:8000
        address, _, spec = spec[1:].partition("]")
        address, spec = f"[{address}]", spec.lstrip(":")
        parts = [address, *spec.split(":")]
    else:
        parts = spec.split(":")
    if len(parts) < 2 or (len(parts) == 3 and parts[0].startswith(LOOPBACK)):
        return set()
    low, _, high = parts[-2].partition("-")
    first, last = whole_number(low), whole_number(high or low)
    if first is None or last is None or last < first:
        return set()
    return set(range(first, min(last, first + PUBLISHED_PORTS_MAX - 1) + 1))


def machine_vllm_ports(resource: Any) -> set[int]:
    """The ports a VM or scale set serves vLLM on to its network, read from the `docker run` lines of its
    custom data (the shapes components/cloudinit.py writes, and a program's own): each host port a
    vLLM container publishes (`-p`/`--publish`, not to a loopback address), and with `--network host` each
    port vLLM listens on (``vllm_ports``). The shipped VM publishes on 127.0.0.1 only: none."""
    from .images import custom_data_scripts, docker_options, docker_runs, machine_custom_data

    text = machine_custom_data(resource.resource_type, resource.props)
    if text is None or "vllm" not in text.lower():
        return set()
    ports: set[int] = set()
    for script in custom_data_scripts(text):
        for options, image, after in docker_runs(script):
            if not is_vllm_container({"image": image, "args": after}):
                continue
            for option, value in docker_options(options):
                if option in ("--network", "--net") and value == "host":
                    ports |= vllm_ports({"image": image, "args": after})
                elif option in ("-p", "--publish"):
                    ports |= _published_host_ports(value)
    return ports


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
    # a range of vLLM's port alone is said once, above
    others = [(low, high) for low, high in ranges if _other_ports(low, high) and (low, high) != (
        rules.VLLM_PORT, rules.VLLM_PORT)]
    broad = rules.source_range_problems(outside)
    if others and broad:
        shown = ", ".join(f"{low}" if low == high else f"{low}-{high}" for low, high in others)
        problems.append(f"opens port(s) {shown} (not the gateway's {'/'.join(map(str, rules.GATEWAY_PORTS))}) "
                        f"to the internet: {broad[0]}")
    return problems


# ---------------------------------------------------------------- one resource at a time

def _unknown_port(value: Any) -> bool:
    """A port field not known yet (a preview): it may be vLLM's."""
    return is_unknown(value)


def _unread_container(container: Any) -> bool:
    """A container whose image, command or args is not known yet: it may run vLLM."""
    return any(is_unknown(get(container, key)) or any(is_unknown(w) for w in items(get(container, key)))
               for key in ("image", "command", "args"))


def validate_behind_gateway(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Read from plain props (``common.plain``): a value not known yet (a preview) is the worse case (a
    port may be vLLM's, a container whose image is unknown may run vLLM, an NSG rule field as
    ``network.worse_rule`` reads it), so the policy never raises UnknownValueError."""
    props, label = plain(args.props), _label(args)
    if args.resource_type in (NSG, SECURITY_RULE, CLASSIC_NSG, CLASSIC_SECURITY_RULE):
        single = args.resource_type in (SECURITY_RULE, CLASSIC_SECURITY_RULE)
        for index, rule in enumerate(worse_nsg_rules(SECURITY_RULE if single else NSG, props)):
            name = _rule_name(rule, args.name if single else f"#{index}")
            for problem in nsg_rule_problems(rule):
                report(f"{label}: rule '{name}' {problem}; only the gateway's ports 443 and 80 face the "
                       "internet, vLLM is reached through the gateway")
    elif args.resource_type == CONTAINER_APP:
        ingress = get(props, "configuration", "ingress")
        if is_unknown(ingress) or is_unknown(get(props, "configuration")):
            ingress = {"targetPort": ingress}  # not known yet: its target may be vLLM's port
        if not isinstance(ingress, Mapping):
            return
        listed = get(props, "template")
        containers = [{"image": listed}] if is_unknown(listed) else [
            {"image": c} if is_unknown(c) else c for c in aca_containers(props)]
        for key in ("initContainers", "containers"):
            if is_unknown(get(props, "template", key)):
                containers.append({"image": get(props, "template", key)})
        vllm = [c for c in containers if is_vllm_container(c) or _unread_container(c)]
        vllm_ports = _container_ports(vllm) if vllm else {rules.VLLM_PORT}
        raw_target = get(ingress, "targetPort")
        target = whole_number(raw_target)
        if target in vllm_ports or (vllm and target is None) or _unknown_port(raw_target):
            shown = "not known yet" if _unknown_port(raw_target) else target
            report(f"{label}: ingress targetPort {shown} is vLLM's port (vLLM listens on "
                   f"{', '.join(map(str, sorted(vllm_ports)))}); target the gateway container's port, which "
                   "must differ from every vLLM container's port, so every request passes the gateway")
        mappings = get(ingress, "additionalPortMappings")
        for mapping in [{"targetPort": mappings}] if is_unknown(mappings) else items(mappings):
            raw = get(mapping, "targetPort") if isinstance(mapping, Mapping) else mapping
            port = whole_number(raw)
            if port in vllm_ports or _unknown_port(raw):
                report(f"{label}: additional port mapping targets vLLM's port "
                       f"{'(a port not known yet)' if _unknown_port(raw) else port}; reach vLLM only "
                       "through the gateway")
        if vllm and not any(is_gateway_container(c) for c in containers):
            report(f"{label}: ingress reaches container(s) {_listed([str(get(c, 'name')) for c in containers])} "
                   "but none is the gateway (Caddy); the ingress must target the gateway in front of vLLM")
    elif args.resource_type == K8S_SERVICE and (service_exposure(props) or is_unknown(get(props, "spec"))):
        kind = service_exposure(props) or "a spec not known yet (taken for LoadBalancer)"
        if str(getattr(args, "original_type", "")).endswith("Patch") and \
                not isinstance(get(props, "spec", "selector"), Mapping):
            report(f"{label}: a Service patch makes a Service {kind} without stating its selector, so this "
                   "pack cannot see which pods it exposes; declare the Service whole, or give the patch "
                   "the selector (of the gateway's pods)")
        listed = get(props, "spec", "ports")
        unknown_list = is_unknown(listed) or is_unknown(get(props, "spec"))
        for port in [{"port": listed}] if unknown_list else items(listed):
            raw = [get(port, "targetPort"), get(port, "port")] if isinstance(port, Mapping) else [port]
            numbers = {whole_number(n) for n in raw}
            if rules.VLLM_PORT in numbers or any(_unknown_port(n) for n in raw):
                shown = "(not known yet)" if _unknown_port(raw[-1]) else raw[-1]
                reach = "reaches" if rules.VLLM_PORT in numbers else "may reach (a port not known yet)"
                report(f"{label}: {kind} Service port {shown} {reach} vLLM's port "
                       f"{rules.VLLM_PORT}; expose only the gateway")
    else:
        for pod in serving_pods(args.resource_type, props):
            unread = tuple(c for c in pod.containers if c not in pod.vllm and _unread_container(c))
            _judge_vllm_pod(label, replace(pod, vllm=pod.vllm + unread) if unread else pod, report)
    _judge_azure_forwarding(args, props, label, report)


def _judge_vllm_pod(label: str, pod: ServingPod, report: ReportViolation) -> None:
    for container in pod.vllm:
        name = get(container, "name")
        if is_true(get(pod.spec, "hostNetwork")) or is_unknown(get(pod.spec, "hostNetwork")):
            report(f"{label}: vLLM container '{name}' runs in the node's network (hostNetwork: true), so "
                   "its port is the node's; reach vLLM only through the gateway")
        # the pod's containers share one network: a hostPort on any of them reaches vLLM's port too
        for other in pod.containers:
            listed = get(other, "ports")
            for port in [listed] if is_unknown(listed) else items(listed):
                raw = get(port, "hostPort") if isinstance(port, Mapping) else port
                if host_port := whole_number(raw) or ("(not known yet)" if is_unknown(raw) else None):
                    who = (f"vLLM container '{name}'" if other is container
                           else f"container '{get(other, 'name')}' in vLLM's pod (beside '{name}')")
                    report(f"{label}: {who} publishes hostPort {host_port} on the node; "
                           "reach vLLM only through the gateway")


def _judge_azure_forwarding(args: Any, props: Any, label: str, report: ReportViolation,
                            ports: frozenset[int] = frozenset({rules.VLLM_PORT}), worse: bool = True) -> None:
    """Azure load balancer rules, NAT rules and pools, Application Gateway backends and firewall DNAT rules that
    send to one of ``ports`` (vLLM's); ``worse``: a port not known yet (or HA ports) counts too (the one-resource
    policy; the across-stack one passes the stack's other vLLM ports and leaves those cases to it)."""
    shown = lambda hit: hit if isinstance(hit, int) else _listed([str(p) for p in sorted(ports)])  # noqa: E731
    if args.resource_type == LOAD_BALANCER:
        for kind in ("loadBalancingRules", "inboundNatRules", "inboundNatPools"):
            for index, rule in enumerate(items(get(props, kind))):
                if hit := _forwards_to_vllm(rule, ports, worse):
                    report(f"{label}: {kind} '{_rule_name(rule, f'#{index}')}' forwards to vLLM's port "
                           f"{shown(hit)}; balance only the gateway's ports")
    elif args.resource_type == INBOUND_NAT_RULE:
        if hit := _forwards_to_vllm(props, ports, worse):
            report(f"{label}: the inbound NAT rule forwards to vLLM's port {shown(hit)}; reach vLLM only "
                   "through the gateway")
    elif args.resource_type == APPLICATION_GATEWAY:
        # v2: backendHttpSettingsCollection (layer 7) and backendSettingsCollection (layer 4, TCP/TLS proxy)
        for kind in ("backendHttpSettingsCollection", "backendSettingsCollection"):
            for index, setting in enumerate(items(get(props, kind))):
                port = get(setting, "port")
                if whole_number(port) in ports or (worse and is_unknown(port)):
                    report(f"{label}: backend setting '{_rule_name(setting, f'#{index}')}' ({kind}) sends to "
                           f"vLLM's port {shown(whole_number(port))}; send to the gateway's port")
    elif args.resource_type == CONTAINER_GROUP:
        if worse:
            _judge_container_group(props, label, report)
    elif args.resource_type in (FIREWALL_RULES, FIREWALL_POLICY_RULES, AZURE_FIREWALL):
        for collection in items(get(props, "ruleCollections")) + items(get(props, "natRuleCollections")):
            for index, rule in enumerate(items(get(collection, "rules"))):
                port = get(rule, "translatedPort")
                if whole_number(port) in ports or (worse and is_unknown(port)):
                    report(f"{label}: DNAT rule '{_rule_name(rule, f'#{index}')}' translates to vLLM's port "
                           f"{shown(whole_number(port))}; translate to the gateway's port")


def container_group_is_public(props: Any) -> bool:
    """An Azure Container Instances group with a public IP address (ipAddress.type Public; one not known
    yet taken for public)."""
    kind = get(props, "ipAddress", "type")
    return is_unknown(kind) or str(kind or "").strip().lower() == "public"


def _judge_container_group(props: Any, label: str, report: ReportViolation) -> None:
    """A public container group's ports are the internet's: none may be vLLM's (8000, any --port of a vLLM
    container, any port a vLLM container declares; the group's containers share one network)."""
    if not container_group_is_public(props):
        return
    containers = items(get(props, "containers"))
    vllm = [c for c in containers if is_vllm_container(c)]
    ports = _container_ports(vllm) | {n for c in vllm for p in items(get(c, "ports"))
                                      if (n := whole_number(get(p, "port"))) is not None}
    public = [get(p, "port") for p in items(get(props, "ipAddress", "ports"))]
    hits = sorted({n for p in public if (n := whole_number(p)) is not None} & ports)
    if hits or (vllm and any(is_unknown(p) for p in public)):
        shown = hits[0] if hits else "not known yet"
        report(f"{label}: the container group has a public IP address (ipAddress.type Public) on port {shown}, "
               f"where vLLM listens ({', '.join(map(str, sorted(ports)))}); give vLLM's container group no "
               "public IP (ipAddress.type Private in a VNet) and put the gateway in front")


def _forwards_to_vllm(rule: Any, ports: frozenset[int] = frozenset({rules.VLLM_PORT}),
                      worse: bool = True) -> int | bool:
    """The port of ``ports`` (vLLM's) a load balancer rule, NAT rule or NAT pool reaches (its backend or frontend
    port, or a frontend range without a backend port), or, with ``worse``, True for an HA-ports rule (port 0,
    protocol All) or a port not known yet; else False."""
    if worse and (is_unknown(rule) or any(is_unknown(get(rule, key)) for key in (
            "backendPort", "frontendPort", "frontendPortRangeStart", "frontendPortRangeEnd", "protocol"))):
        return True  # a port (or protocol) not known yet may be vLLM's
    backend = whole_number(get(rule, "backendPort"))
    for port in (backend, whole_number(get(rule, "frontendPort"))):
        if port in ports:
            return port
    if worse and backend == 0 and str(get(rule, "protocol") or "").lower() == "all":
        return True  # HA ports: every port (learn.microsoft.com/azure/load-balancer/load-balancer-ha-ports-overview)
    start, end = whole_number(get(rule, "frontendPortRangeStart")), whole_number(get(rule, "frontendPortRangeEnd"))
    if backend is None and start is not None and end is not None:
        return next((port for port in sorted(ports) if start <= port <= end), False)
    return False


def stack_vllm_ports(resources: list[Any], view: Any) -> frozenset[int]:
    """Every port vLLM listens on in the stack: its Kubernetes pods' (``view.ports``), and each --port and declared
    port of a vLLM container in a Container Instances group or a Container App."""
    ports = set(view.ports)
    for resource in resources:
        if resource.resource_type in (VIRTUAL_MACHINE, VM_SCALE_SET):
            ports |= machine_vllm_ports(resource)
            continue
        if resource.resource_type == CONTAINER_GROUP:
            containers = items(get(resource.props, "containers"))
        elif resource.resource_type == CONTAINER_APP:
            containers = list(aca_containers(resource.props))
        else:
            continue
        for container in (c for c in containers if is_vllm_container(c)):
            ports |= vllm_ports(container)
            ports |= {n for p in items(get(container, "ports")) if (n := whole_number(get(p, "port"))) is not None}
    return frozenset(ports)


def _judge_forwarding_to_stack_ports(resources: list[Any], view: Any, report: ReportViolation) -> None:
    """The Azure forwarding rules judged by every other port vLLM listens on in the stack (8000, not-known ports
    and HA ports are the one-resource policy's)."""
    others = stack_vllm_ports(resources, view) - {rules.VLLM_PORT}
    if not others:
        return
    for resource in resources:
        if resource.resource_type in (LOAD_BALANCER, INBOUND_NAT_RULE, APPLICATION_GATEWAY, FIREWALL_RULES,
                                      FIREWALL_POLICY_RULES, AZURE_FIREWALL):
            _judge_azure_forwarding(resource, resource.props, f"{resource.resource_type} '{resource.name}'",
                                    lambda message, urn=None, r=resource: report(
                                        f"{message} (vLLM listens on it in this stack)", r.urn), others, worse=False)
        elif resource.resource_type in (NSG, SECURITY_RULE, CLASSIC_NSG, CLASSIC_SECURITY_RULE):
            single = resource.resource_type in (SECURITY_RULE, CLASSIC_SECURITY_RULE)
            for index, rule in enumerate(worse_nsg_rules(SECURITY_RULE if single else NSG, plain(resource.props))):
                opened = _opened_ports(rule, others)
                if opened:
                    report(f"{resource.resource_type} '{resource.name}': rule "
                           f"'{_rule_name(rule, resource.name if single else f'#{index}')}' opens port(s) "
                           f"{', '.join(map(str, sorted(opened)))}, on which vLLM listens in this stack, to "
                           f"{_listed([s for s in _address_sources(rule) if not rules.is_inside_source(s)])}, "
                           "around the gateway; open only the gateway's 443 (and 80 for ACME)", resource.urn)


def _opened_ports(rule: Any, ports: frozenset[int]) -> set[int]:
    """Which of ``ports`` one inbound NSG rule opens to a source outside the VNet (empty: none)."""
    if not _allows_inbound_tcp(rule) or not any(not rules.is_inside_source(s) for s in _address_sources(rule)):
        return set()
    return {port for port in ports for low, high in _port_ranges(rule) if low <= port <= high}


def service_exposure(props: Any) -> str | None:
    """How a Kubernetes Service faces outside the cluster: 'LoadBalancer', 'NodePort', 'externalIPs', or None."""
    kind = get(props, "spec", "type")
    if kind in EXPOSED_SERVICE_TYPES:
        return str(kind)
    if items(get(props, "spec", "externalIPs")) or is_unknown(get(props, "spec", "externalIPs")):
        return "externalIPs"
    if is_unknown(kind):
        return "a type not known yet (taken for LoadBalancer)"
    return None


vllm_behind_gateway = ResourceValidationPolicy(
    name="vllm-only-behind-gateway",
    description="Nothing reaches vLLM around the gateway: no NSG rule opens vLLM's port to a source "
                "outside the VNet or another port than 443/80 to the internet, a service tag or a wide "
                "range; Container Apps ingress targets the gateway, never a vLLM container's port; no "
                "Kubernetes LoadBalancer/NodePort/externalIPs Service or patch, hostPort or hostNetwork, and "
                "no Azure load balancer rule, NAT rule or pool, Application Gateway backend (layer 7 or 4), "
                "firewall DNAT (policy or classic) or public Container Instances group reaches vLLM's port.",
    validate=normalised(validate_behind_gateway),
    enforcement_level=MANDATORY,
)


# ---------------------------------------------------------------- across the stack

def _pods_worse_case(resource: Any) -> list[ServingPod]:
    """The pods of a resource whose props hold an unknown value (a first preview): read from the plain
    props, a container whose image, command or args is unknown taken to run vLLM."""
    pods = []
    for pod in serving_pods(resource.resource_type, plain(resource.props)):
        unread = tuple(c for c in pod.containers if c not in pod.vllm and any(
            is_unknown(get(c, key)) or any(is_unknown(w) for w in items(get(c, key)))
            for key in ("image", "command", "args")))
        pods.append(replace(pod, vllm=pod.vllm + unread) if unread else pod)
    return pods


class VllmPod(NamedTuple):
    """A pod that runs vLLM: its workload (resource name, object name, namespace), the pod as read, and
    where its vLLM containers listen (read once: every --port and vLLM's default; unread: any port);
    ``kind``: the workload's type, which decides the labels its controller adds (CONTROLLER_LABELS)."""
    workload: str
    object_name: str
    namespace: str | None
    pod: ServingPod
    listens: frozenset[int]
    unread: bool
    kind: str = ""


def _vllm_pod(resource: Any, pod: ServingPod) -> VllmPod:
    try:
        listens = frozenset(port for c in pod.vllm for port in vllm_ports(c))
        unread = any(vllm_port_unread(c) for c in pod.vllm)
    except UnknownValueError:
        listens, unread = frozenset(), True
    return VllmPod(resource.name, object_name(resource), object_namespace(resource), pod, listens, unread,
                   str(resource.resource_type))


def vllm_pods(resources: list[Any], keep: Any = None) -> list[VllmPod]:
    """Every pod of a Kubernetes resource that runs vLLM (``keep``: those a test of the pod keeps instead);
    kinds that hold no pods are not read, and a resource with an unknown value is read for the worse case,
    never failing the policy."""
    keep = keep or (lambda pod: bool(pod.vllm))
    found = []
    for resource in resources:
        if not may_hold_pods(resource.resource_type):
            continue
        try:
            pods = _pods_worse_case(resource) if getattr(resource, "unknown", False) else \
                serving_pods(resource.resource_type, resource.props)
        except UnknownValueError:
            pods = _pods_worse_case(resource)
        found += [_vllm_pod(resource, pod) for pod in pods if keep(pod)]
    return found


@dataclass
class _View:
    """The stack as the across-stack rules read it, each reading done once."""
    pods: list[VllmPod]
    resources: list[Any]
    services: dict[str, list[Any]] = field(default_factory=dict)  # Services by object name
    slices: list[Any] = field(default_factory=list)  # EndpointSlices
    endpoints: list[Any] = field(default_factory=list)  # core/v1 Endpoints
    ports: frozenset[int] = frozenset()  # every port vLLM may listen on in this stack
    port_unread: bool = False  # a vLLM container's --port (or --config) cannot be read
    namespaces: dict[int, str | None] = field(default_factory=dict)
    manual: dict[int, tuple[Any, str] | None] = field(default_factory=dict)  # _manual_endpoints_reach, by Service
    reach: dict[tuple[int, Any, int], str | None] = field(default_factory=dict)  # _service_reach, by (Service, port, hops)

    def namespace(self, resource: Any) -> str | None:
        if id(resource) not in self.namespaces:
            self.namespaces[id(resource)] = object_namespace(resource)
        return self.namespaces[id(resource)]


def _read_view(resources: list[Any], pods: list[VllmPod]) -> _View:
    """vLLM's ports are read from its pods in the stack (each --port, each containerPort a vLLM container
    declares, and vLLM's default), not assumed."""
    view = _View(pods, resources)
    for resource in resources:
        if resource.resource_type == K8S_SERVICE:
            view.services.setdefault(object_name(resource), []).append(resource)
        elif resource.resource_type == ENDPOINT_SLICE:
            view.slices.append(resource)
        elif resource.resource_type == ENDPOINTS:
            view.endpoints.append(resource)
    ports = {rules.VLLM_PORT}
    for vllm_pod in pods:
        ports |= vllm_pod.listens
        view.port_unread |= vllm_pod.unread
        for container in vllm_pod.pod.vllm:
            try:
                declared = [get(port, "containerPort") for port in items(get(container, "ports"))]
                ports |= {n for port in declared if (n := whole_number(port)) is not None}
                view.port_unread |= is_unknown(get(container, "ports")) or any(is_unknown(p) for p in declared)
            except UnknownValueError:
                view.port_unread = True
    view.ports = frozenset(ports)
    return view


@dataclass(frozen=True)
class Backend:
    """Where an Ingress or a Gateway API route sends traffic: a Service (or another kind) by name,
    on a port given by number or by the Service port's name (None: not given)."""
    field: str
    kind: str
    name: str
    port: int | str | None
    namespace: str | None = None  # a backendRef's own namespace; None: the route's


def _port_ref(value: Any) -> int | str | None:
    number = whole_number(value)
    return number if number is not None else value if isinstance(value, str) and value else None


def _ingress_backends(props: Any) -> list[Backend]:
    """Every backend of an Ingress: the default backend and each rule path's."""
    found = [("default backend", get(props, "spec", "defaultBackend"))]
    found += [("backend", get(path, "backend")) for rule in items(get(props, "spec", "rules"))
              for path in items(get(rule, "http", "paths"))]
    backends = []
    for field, backend in found:
        service, resource = get(backend, "service"), get(backend, "resource")
        if isinstance(service, Mapping):
            port = get(service, "port", "number")
            backends.append(Backend(field, "Service", str(get(service, "name") or ""),
                                    _port_ref(port if port is not None else get(service, "port", "name"))))
        if isinstance(resource, Mapping):
            backends.append(Backend(field, str(get(resource, "kind") or ""), str(get(resource, "name") or ""), None))
    return backends


# Gateway API routes, every version of the group (v1, v1beta1, v1alpha2, ...): a CustomResource and
# crd2pulumi's classes both register the type kubernetes:<group>/<version>:<kind>
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")


def _group_kind(resource_type: str) -> tuple[str, str]:
    """The API group and kind of a Kubernetes type token (kubernetes:<group>/<version>:<kind>), else ('', '')."""
    parts = str(resource_type).split(":")
    if len(parts) == 3 and parts[0] == "kubernetes":
        return parts[1].split("/", 1)[0], parts[2]
    return "", ""


def route_kind(resource_type: str) -> str | None:
    """'HTTPRoute', 'GRPCRoute', ... for a Gateway API route type, else None."""
    group, kind = _group_kind(resource_type)
    return kind if group == GATEWAY_API_GROUP and kind in ROUTE_KINDS else None


def _route_backends(props: Any) -> list[Backend]:
    """Every backendRef of a route's rules, and the backendRef of each RequestMirror filter (of a
    rule or of a backendRef): a mirror sends a copy of every request to its backend."""
    def backend(field: str, ref: Any) -> list[Backend]:
        if not isinstance(ref, Mapping):
            return []
        group, kind = str(get(ref, "group") or ""), str(get(ref, "kind") or "Service")
        kind = kind if kind != "Service" or group in ("", "core") else f"{kind}.{group}"
        namespace = get(ref, "namespace")
        return [Backend(field, kind, str(get(ref, "name") or ""), _port_ref(get(ref, "port")),
                        namespace if isinstance(namespace, str) and namespace else None)]

    def mirrors(filters: Any) -> list[Backend]:
        return [b for f in items(filters) for b in backend("requestMirror backendRef",
                                                           get(f, "requestMirror", "backendRef"))]

    found = []
    for rule in items(get(props, "spec", "rules")):
        for ref in items(get(rule, "backendRefs")):
            found += backend("backendRef", ref) + mirrors(get(ref, "filters"))
        found += mirrors(get(rule, "filters"))
    return found


def _ends_at_gateway(vllm_pod: VllmPod, target: Any) -> bool:
    """Whether a Service's targetPort on this pod is the gateway's: a port (by name or number) that only
    gateway containers declare and no vLLM container listens on. A port nobody declares is not, nor is
    any port of a pod whose vLLM port cannot be read, nor a name whose number vLLM listens on (the pod's
    containers share one network: a gateway container that names vLLM's port 'https' still sends the
    Service to vLLM), nor a target not known yet."""
    pod = vllm_pod.pod
    if not pod.gateway or is_unknown(target):
        return False
    number = whole_number(target)
    if number is None and not isinstance(target, str):
        return False
    if vllm_pod.unread or number in vllm_pod.listens:
        return False
    declared = [(c, port) for c in pod.containers for port in items(get(c, "ports"))
                if (get(port, "name") == target if number is None
                    else whole_number(get(port, "containerPort")) == number)]
    if number is None:
        numbers = {whole_number(get(port, "containerPort")) for _, port in declared}
        if None in numbers or numbers & _declared_vllm_ports(vllm_pod):
            return False
    return bool(declared) and all(is_gateway_container(c) for c, _ in declared)


def _declared_vllm_ports(vllm_pod: VllmPod) -> set[int]:
    """Where vLLM listens in this pod: every --port and vLLM's default, and each containerPort a vLLM
    container declares."""
    return set(vllm_pod.listens) | {n for c in vllm_pod.pod.vllm for port in items(get(c, "ports"))
                                    if (n := whole_number(get(port, "containerPort"))) is not None}


def _selected_vllm_pods(selector: Any, targets: list[Any], pods: list[VllmPod], namespace: str | None) -> str | None:
    """Why a selector (in this namespace) and its target ports reach vLLM's pods around the gateway: it picks
    a vLLM pod of its namespace and a target port there is not the gateway container's (any port, when the
    pod has no gateway)."""
    for vllm_pod in pods:
        pod = vllm_pod.pod
        if namespace_match(namespace, vllm_pod.namespace) != "no" and _selects(selector, pod.labels, vllm_pod.kind):
            missed = [t for t in targets or [None] if not _ends_at_gateway(vllm_pod, t)]
            if missed:
                port = whole_number(missed[0]) if whole_number(missed[0]) is not None else missed[0]
                named = sorted({n for c in pod.containers for p in items(get(c, "ports"))
                                if isinstance(port, str) and get(p, "name") == port
                                and (n := whole_number(get(p, "containerPort"))) is not None}
                               & _declared_vllm_ports(vllm_pod))
                port = f"{port} ({named[0]}, where vLLM listens)" if named else port
                return (f"selects the vLLM pods of '{vllm_pod.workload}'" if not pod.gateway else
                        f"selects the vLLM pods of '{vllm_pod.workload}' on port {port}, which is not their gateway's")
    return None


def _selects_vllm(selector: Any, pods: list[VllmPod], namespace: str | None) -> bool:
    return any(namespace_match(namespace, p.namespace) != "no" and _selects(selector, p.pod.labels, p.kind)
               for p in pods)


def _service_ports(service: Any, port: int | str | None) -> list[Any]:
    """The Service ports a backend uses: the one it names by number or by name; all of them when it
    names none or none matches."""
    ports = items(get(service.props, "spec", "ports"))
    return [p for p in ports if port is not None and port in (whole_number(get(p, "port")), get(p, "name"))] or ports


def _targets(ports: list[Any]) -> list[Any]:
    """Where Service ports send traffic on the pod: targetPort, else the port itself."""
    return [get(p, "targetPort") if get(p, "targetPort") is not None else get(p, "port") for p in ports]


def _port_reach(port: Any, view: _View) -> str | None:
    if is_unknown(port):
        return "targets a port not known yet, which may be vLLM's"
    number = whole_number(port)
    return f"targets port {number}, vLLM's" if number is not None and number in view.ports else None


def _endpoint_reach(ports: list[Any], refs: list[Any], namespace: str | None, view: _View) -> str | None:
    """Why hand-written endpoints (their ports; None: every port) reach vLLM: a target that names a vLLM
    pod (on a port that is not its gateway's), or a port vLLM listens on in this stack. Their addresses are
    IPs this pack cannot tie to pods, so the port decides; any port, when vLLM's cannot be read."""
    for ref in refs:
        pod_name = get(ref, "name")
        if str(get(ref, "kind") or "Pod") != "Pod" or not isinstance(pod_name, str):
            continue
        where = get(ref, "namespace") if isinstance(get(ref, "namespace"), str) else namespace
        for vllm_pod in view.pods:
            if (pod_name == vllm_pod.object_name or pod_name.startswith(vllm_pod.object_name + "-")) \
                    and namespace_match(where, vllm_pod.namespace) != "no" \
                    and any(not _ends_at_gateway(vllm_pod, port) for port in ports):
                return f"vLLM's pod '{pod_name}' (of '{vllm_pod.workload}')"
    numbers = [whole_number(port) for port in ports]
    if None in numbers:
        return "every port (an endpoint port without a number), vLLM's included"
    if hits := sorted(set(numbers) & view.ports):
        return f"port {hits[0]}, vLLM's"
    if numbers and view.port_unread:
        return f"port {numbers[0]}, which may be vLLM's (a vLLM container's --port cannot be read)"
    return None


def _manual_endpoints_reach(service: Any, view: _View) -> tuple[Any, str] | None:
    """(the EndpointSlice or Endpoints, why) when endpoints written by hand send a Service to vLLM.
    kube-proxy routes a Service to every EndpointSlice labelled kubernetes.io/service-name with its name,
    whether it has a selector or not; an Endpoints object counts for a Service without one (empty or
    missing): the endpoints controller owns a selecting Service's (kubernetes.io/docs/concepts/services-
    networking/service, "Services without selectors"). A slice port without a number means every port."""
    if id(service) not in view.manual:
        view.manual[id(service)] = _read_manual_endpoints(service, view)
    return view.manual[id(service)]


def _read_manual_endpoints(service: Any, view: _View) -> tuple[Any, str] | None:
    name, namespace = object_name(service), view.namespace(service)
    found = [r for r in view.slices if get(r.props, "metadata", "labels", SERVICE_NAME_LABEL) == name
             or is_unknown(get(r.props, "metadata", "labels", SERVICE_NAME_LABEL))]
    selector = get(service.props, "spec", "selector")
    if not (isinstance(selector, Mapping) and selector):
        found += [r for r in view.endpoints if object_name(r) == name]
    for resource in found:
        if namespace_match(view.namespace(resource), namespace) != "no" and (why := _endpoints_reach(resource, view)):
            return resource, why
    return None


def _endpoints_reach(resource: Any, view: _View) -> str | None:
    """Why an EndpointSlice's or Endpoints object's (ports, targets) reach vLLM, or None."""
    if resource.resource_type == ENDPOINT_SLICE:
        parts = [([get(p, "port") for p in items(get(resource.props, "ports"))],
                  [get(e, "targetRef") for e in items(get(resource.props, "endpoints"))])]
    else:
        parts = [([get(p, "port") for p in items(get(subset, "ports"))],
                  [get(a, "targetRef") for key in ("addresses", "notReadyAddresses") for a in items(get(subset, key))])
                 for subset in items(get(resource.props, "subsets"))]
    return next((why for ports, refs in parts
                 if ports and (why := _endpoint_reach(ports, refs, view.namespace(resource), view))), None)


# where a cluster DNS name points: <service>.<namespace>.svc.<cluster domain> (also a headless Service's
# <pod>.<service>.<namespace>.svc...), <ip-with-dashes>.<namespace>.pod.<cluster domain>, and the short forms
# a pod's DNS search path completes (<service>.<namespace>, <service>) (kubernetes.io/docs/concepts/
# services-networking/dns-pod-service)
CLUSTER_DNS_KINDS = ("svc", "pod")


def cluster_address(host: Any, namespace: str | None) -> tuple[str, str | None, str] | None:
    """(kind 'svc' or 'pod', namespace, name) a cluster DNS name points at, or None for a name outside the
    cluster. A one-label name is completed with ``namespace`` (None: the resolver's, unknown)."""
    labels = str(host).strip().rstrip(".").lower().split(".") if isinstance(host, str) and host.strip() else []
    for kind in CLUSTER_DNS_KINDS:
        if kind in labels[2:]:
            at = labels.index(kind, 2)
            return kind, labels[at - 1], labels[at - 2]
    if len(labels) == 2:
        return "svc", labels[1], labels[0]
    return ("svc", namespace, labels[0]) if len(labels) == 1 else None


def _services_at(namespace: str | None, name: str, view: _View) -> tuple[list[Any], bool]:
    """The stack's Services that may be (namespace, name), and whether one of them certainly is."""
    if is_unknown(name):  # a name not known yet may be any Service of the namespace
        return [s for group in view.services.values() for s in group
                if namespace_match(view.namespace(s), namespace) != "no"], False
    found = [(s, namespace_match(view.namespace(s), namespace)) for s in view.services.get(name, [])]
    return [s for s, match in found if match != "no"], any(match == "same" for _, match in found)


MAX_HOPS = 3  # ExternalName Services followed one to another


def _external_name_reach(service: Any, port: int | str | None, view: _View, hops: int) -> str | None:
    """An ExternalName Service's DNS name is a CNAME the client follows: to vLLM's Service, when it names it
    in one of the cluster's forms (a short one resolves in the client's namespace: any)."""
    host = get(service.props, "spec", "externalName")
    address = cluster_address(host, None)
    if hops >= MAX_HOPS:
        return None
    numbers = [whole_number(port)] if whole_number(port) is not None else \
        [n for p in _service_ports(service, port) if (n := whole_number(get(p, "port"))) is not None] or [None]
    if address is None:  # a name outside the cluster's DNS (vLLM elsewhere): judged by its port, as Istio's
        for number in numbers:
            if number is not None and (why := _port_reach(number, view)):
                return f"is an ExternalName for '{host}', outside the cluster's names, and {why}"
        return None
    kind, namespace, name = address
    for number in numbers:
        why = (_backend_reach(Backend("", "Service", name, number), namespace, view, hops + 1) if kind == "svc"
               else _port_reach(number, view))
        if why:
            return f"is an ExternalName for '{host}', whose {'Service' if kind == 'svc' else 'pod'} {why}"
    return None


def _service_reach(service: Any, port: int | str | None, view: _View, hops: int = 0) -> str | None:
    """Why a backend on this Service reaches vLLM around the gateway, or None: it selects vLLM's pods (on a
    port that is not their gateway's), its hand-written endpoints reach them, it is an ExternalName for
    vLLM's Service, or, selecting no vLLM pod, one of its ports is vLLM's."""
    key = (id(service), port, hops)
    if key not in view.reach:
        view.reach[key] = _read_service_reach(service, port, view, hops)
    return view.reach[key]


def _read_service_reach(service: Any, port: int | str | None, view: _View, hops: int) -> str | None:
    if str(get(service.props, "spec", "type")) == "ExternalName":
        return _external_name_reach(service, port, view, hops)
    namespace, selector, ports = view.namespace(service), get(service.props, "spec", "selector"), \
        _service_ports(service, port)
    if why := _selected_vllm_pods(selector, _targets(ports), view.pods, namespace):
        return why
    if manual := _manual_endpoints_reach(service, view):
        return f"has endpoints written by hand ({manual[0].resource_type.rsplit(':', 1)[-1]} '{manual[0].name}') " \
               f"on {manual[1]}"
    if _selects_vllm(selector, view.pods, namespace):
        return None
    numbers = {whole_number(get(p, key)) for p in ports for key in ("port", "targetPort")} & view.ports
    return f"reaches vLLM's port {min(numbers)}" if numbers else None


def _backend_reach(backend: Backend, namespace: str | None, view: _View, hops: int = 0) -> str | None:
    """Why traffic to this backend (in this namespace) reaches vLLM around the gateway, or None. A Service
    or another kind with a pod selector (an Inference Extension InferencePool) is read from the stack,
    matched by namespace and name; one the stack does not certainly hold is judged by its port too."""
    if backend.kind == "Service":
        candidates, certain = _services_at(namespace, backend.name, view)
        for service in candidates:
            if why := _service_reach(service, backend.port, view, hops):
                return why
        if certain:
            return None
    else:
        for other in view.resources:
            if str(other.resource_type).rsplit(":", 1)[-1] != backend.kind or backend.name != object_name(other) \
                    or namespace_match(view.namespace(other), namespace) == "no":
                continue
            spec = get(other.props, "spec")
            if _envoy_backend(other.resource_type):
                if why := _envoy_backend_reach(other, view, hops):
                    return why
                continue
            selector = get(spec, "selector")  # a label map (v1alpha2), or a LabelSelector's matchLabels (v1)
            selector = get(selector, "matchLabels") if isinstance(get(selector, "matchLabels"), Mapping) else selector
            targets = [get(t, "number") for t in items(get(spec, "targetPorts"))]  # v1; v1alpha2: targetPortNumber
            targets += [get(spec, "targetPortNumber")] if get(spec, "targetPortNumber") is not None else []
            if why := _selected_vllm_pods(selector, targets or [backend.port], view.pods, view.namespace(other)):
                return why
    why = _port_reach(backend.port, view)
    if why and backend.kind == "Service" and view.services.get(backend.name):
        spaces = sorted({_shown(view.namespace(s)) for s in view.services[backend.name]})
        why += f", of a Service not certainly the stack's Service '{backend.name}' (namespace {_listed(spaces)})"
    return why


# Envoy Gateway's Backend (gateway.envoyproxy.io, any version): a backendRef to it sends traffic to its
# endpoints (fqdn or ip, each with a port; gateway.envoyproxy.io/docs/api/extension_types, BackendEndpoint)
ENVOY_GATEWAY_GROUP = "gateway.envoyproxy.io"


def _envoy_backend(resource_type: str) -> bool:
    return _group_kind(resource_type) == (ENVOY_GATEWAY_GROUP, "Backend")


def _envoy_backend_reach(backend: Any, view: _View, hops: int) -> str | None:
    """Why an Envoy Gateway Backend's endpoints reach vLLM: an fqdn that names vLLM's Service, or any
    endpoint (fqdn outside the cluster, ip) on a port vLLM listens on in this stack."""
    for endpoint in items(get(backend.props, "spec", "endpoints")):
        for kind in ("fqdn", "ip"):
            target = get(endpoint, kind)
            if not isinstance(target, Mapping):
                continue
            port = get(target, "port")
            host = get(target, "hostname") if kind == "fqdn" else None
            address = cluster_address(host, view.namespace(backend)) if host is not None else None
            why = (_backend_reach(Backend("", "Service", address[2], _port_ref(port)), address[1], view, hops + 1)
                   if address is not None and address[0] == "svc" and hops < MAX_HOPS else _port_reach(port, view))
            if why:
                return f"is an Envoy Gateway Backend whose {kind} endpoint '{host or get(target, 'address')}' {why}"
    return None


def _shown(namespace: str | None) -> str:
    """A namespace as a message names it."""
    if namespace is None:
        return "unknown"
    return "unstated" if namespace_match(namespace, "") == "maybe" else namespace


# Labels Kubernetes controllers add to the pods they create, not in the pod template, by the workload kinds
# whose controllers add them (kubernetes.io/docs/reference/labels-annotations-taints): the Deployment
# controller's pod-template-hash, the StatefulSet controller's statefulset.kubernetes.io/pod-name and
# apps.kubernetes.io/pod-index, the StatefulSet and DaemonSet controllers' controller-revision-hash, the Job
# controller's batch.kubernetes.io/job-name, controller-uid and job-completion-index (and the legacy job-name
# and controller-uid), on a CronJob's Jobs' pods too. Their values (a hash, an ordinal, a uid) cannot be known
# from the stack: on a pod of such a kind the key is taken to match, the worse case; on a Pod, ReplicaSet or
# other known kind whose controller does not add it, it is absent; on any other kind (a custom resource, whose
# operator may create pods through any of these controllers) it matches.
_JOB_KINDS = frozenset({"Job", "CronJob"})
CONTROLLER_LABELS: dict[str, frozenset[str]] = {
    "pod-template-hash": frozenset({"Deployment"}),
    "statefulset.kubernetes.io/pod-name": frozenset({"StatefulSet"}),
    "apps.kubernetes.io/pod-index": frozenset({"StatefulSet"}),
    "controller-revision-hash": frozenset({"StatefulSet", "DaemonSet"}),
    **dict.fromkeys(("batch.kubernetes.io/job-name", "batch.kubernetes.io/controller-uid",
                     "batch.kubernetes.io/job-completion-index", "job-name", "controller-uid"), _JOB_KINDS),
}
_ADDED = object()  # a label a controller adds, its value not known from the stack


def _controller_adds(key: Any, kind: str) -> bool:
    """Whether the controller of a workload of this type (a type token; '' when not known) may add this label
    to its pods: the kinds CONTROLLER_LABELS names; every kind but the known workload kinds (POD_SPEC_PATHS)."""
    kinds = CONTROLLER_LABELS.get(str(key))
    if kinds is None:
        return False
    if kind not in POD_SPEC_PATHS:
        return True
    return kind_name(kind) in kinds


def _label_at(key: Any, labels: Mapping, kind: str) -> Any:
    """A pod's label: its value from the template, _ADDED for one its controller adds, None when absent."""
    if key in labels:
        return labels[key]
    return _ADDED if _controller_adds(key, kind) else None


def _selects(selector: Any, labels: Mapping, kind: str = "") -> bool:
    """A Service selector picks pods with these labels (an empty selector picks no pods); a label whose
    value is unknown (preview), a key the workload's controller adds to the pods it creates (CONTROLLER_LABELS)
    that the template does not set, and a selector not known yet are taken to match."""
    if is_unknown(selector):
        return True
    if not isinstance(selector, Mapping) or not selector:
        return False
    for key, value in selector.items():
        found = _label_at(key, labels, kind)
        if found is None:
            return False
        if not (found is _ADDED or is_unknown(value) or is_unknown(found) or str(found) == str(value)):
            return False
    return True


def _label_selector_picks(selector: Any, labels: Mapping, kind: str = "") -> bool:
    """A LabelSelector (matchLabels and matchExpressions: In, NotIn, Exists, DoesNotExist) picks pods with
    these labels: an empty one, or one not given, picks every pod; anything not known yet, a label a
    controller adds, or an operator Kubernetes does not know, matches (the worse case)."""
    if selector is None or is_unknown(selector) or not isinstance(selector, Mapping):
        return True
    match_labels, expressions = selector.get("matchLabels"), selector.get("matchExpressions")
    if is_unknown(match_labels) or is_unknown(expressions):
        return True
    if isinstance(match_labels, Mapping) and match_labels and not _selects(match_labels, labels, kind):
        return False
    for expression in items(expressions):
        key, operator, values = get(expression, "key"), get(expression, "operator"), get(expression, "values")
        if not isinstance(expression, Mapping) or any(is_unknown(v) for v in (key, operator, values)):
            continue
        found = _label_at(key, labels, kind)
        if found is _ADDED or is_unknown(found) or any(is_unknown(v) for v in items(values)):
            continue
        wanted = {str(v) for v in items(values)}
        if (operator == "In" and (found is None or str(found) not in wanted)) or \
                (operator == "NotIn" and found is not None and str(found) in wanted) or \
                (operator == "Exists" and found is None) or (operator == "DoesNotExist" and found is not None):
            return False
    return True


def _picks_every_pod(selector: Any) -> bool:
    """A LabelSelector that picks everything: empty, or not known yet."""
    if is_unknown(selector):
        return True
    if not isinstance(selector, Mapping):
        return False
    match_labels, expressions = selector.get("matchLabels"), selector.get("matchExpressions")
    if is_unknown(match_labels) or is_unknown(expressions):
        return True
    return not (isinstance(match_labels, Mapping) and match_labels) and not items(expressions)


# Istio routes (networking.istio.io, every version): a VirtualService's http, tcp and tls routes and its
# mirrors send traffic to a destination host; served by Istio's proxies, never by the gateway (Caddy)
ISTIO_GROUP = "networking.istio.io"
MESH_GATEWAY = "mesh"  # gateways: the sidecars (the default when none is named), no way in from outside


def istio_route(resource_type: str) -> bool:
    return _group_kind(resource_type) == (ISTIO_GROUP, "VirtualService")


def _virtual_service_destinations(spec: Any) -> list[tuple[str, Any, Any]]:
    """(where, host, port number) of every destination and mirror of a VirtualService."""
    found = []
    for protocol in ("http", "tcp", "tls"):
        for rule in items(get(spec, protocol)):
            found += [(f"{protocol} route destination", get(r, "destination", "host"),
                       get(r, "destination", "port", "number")) for r in items(get(rule, "route"))]
            mirrors = [get(rule, "mirror")] + [get(m, "destination") for m in items(get(rule, "mirrors"))]
            found += [(f"{protocol} mirror", get(m, "host"), get(m, "port", "number"))
                      for m in mirrors if isinstance(m, Mapping)]
    return found


def _virtual_service_problems(route: Any, view: _View) -> list[str]:
    """A VirtualService whose destination reaches vLLM, unless it only tunes the sidecars' calls to that
    very Service (bound to the mesh alone, every host it serves is the destination's Service): that opens
    no way in. One with no hosts is a delegate another VirtualService may bind to any gateway."""
    spec, namespace = get(route.props, "spec"), view.namespace(route)
    gateways = [str(g) for g in items(get(spec, "gateways"))]
    hosts = [cluster_address(h, namespace) for h in items(get(spec, "hosts"))]
    problems = []
    for where, host, port in _virtual_service_destinations(spec):
        address = cluster_address(host, namespace)
        if address is None:
            why = _port_reach(port, view)  # outside the cluster's names (a ServiceEntry's): by its port
        elif address[0] == "svc":
            why = _backend_reach(Backend(where, "Service", address[2], _port_ref(port)), address[1], view)
        else:
            why = _port_reach(port, view)
        mesh_only = all(g == MESH_GATEWAY for g in gateways)
        if why and not (mesh_only and hosts and all(h == address for h in hosts)):
            bound = f"bound to gateway(s) {_listed(gateways)}" if not mesh_only else \
                "routing the mesh's calls" if hosts else "a delegate any VirtualService may bind to a gateway"
            problems.append(f"its {where} '{host}' {why}; a VirtualService ({bound}) is served by Istio's "
                            "proxies, not by the gateway (Caddy), so it skips the gateway's TLS, path allow-list "
                            "and limits; route it to the gateway's Service")
    return problems


# Helm releases (kubernetes:helm.sh/v3:Release, and any later version's Release) install their chart's
# objects inside the provider: no policy sees them. helm.sh/v3 and v4 Chart render the chart and register
# each object as a resource the pack judges (pulumi.com/registry/packages/kubernetes/api-docs/helm/v4/chart:
# "This allows you to apply ... Pulumi Policies to the Kubernetes resources")
HELM_GROUP = "helm.sh"


def helm_release(resource_type: str) -> bool:
    return _group_kind(resource_type) == (HELM_GROUP, "Release")


def _mentions_vllm(release: Any) -> bool:
    """A release whose chart, name or repository names vLLM (vllm-project's production-stack chart) may
    run vLLM itself; an unknown value is taken to."""
    try:
        words = [get(release.props, "chart"), get(release.props, "name"), get(release.props, "repositoryOpts", "repo")]
    except UnknownValueError:
        return True
    return any(is_unknown(w) or "vllm" in str(w or "").lower() for w in words)


def _by_id(resources: list[Any]) -> dict[str, Any]:
    """The stack's resources by their Azure id (an id not known yet names none)."""
    return {str(get(r.props, "id")).lower(): r for r in resources
            if isinstance(get(r.props, "id"), str) and not is_unknown(get(r.props, "id"))}


def _referenced(reference_id: Any, ids: dict[str, Any], resources: list[Any], kind: str) -> list[Any]:
    """The resources of this kind an id reference may name: the one with that id, or, while the id is
    not known yet (a first preview), every one of that kind in the stack (the worse case)."""
    if is_unknown(reference_id):
        return [r for r in resources if r.resource_type == kind]
    found = ids.get(str(reference_id).lower()) if isinstance(reference_id, str) else None
    return [found] if found is not None and found.resource_type == kind else []


def _nsgs_of(ref: Any, ids: dict[str, Any], resources: list[Any]) -> list[Any]:
    return _referenced(get(ref, "networkSecurityGroup", "id"), ids, resources, NSG)


# ---------------------------------------------------------------- Kubernetes *Patch resources

@dataclass
class Patched:
    """A stack's object with a server-side apply ``*Patch`` laid over it, judged as the live object."""
    resource_type: str
    props: Any
    name: str
    urn: str
    original_type: str
    provider: Any = None  # the live object's (its namespace's default)


_LIST_KEYS = ("name", "port", "containerPort", "mountPath")  # how SSA merges the lists a patch touches


def _merge(live: Any, patch: Any) -> Any:
    """``patch`` laid over ``live`` as server-side apply does: maps key by key, lists of named (or
    numbered) entries entry by entry, anything else replaced."""
    if isinstance(live, dict) and isinstance(patch, dict):
        merged = dict(live)
        for key, value in patch.items():
            merged[key] = _merge(live[key], value) if key in live else value
        return merged
    if isinstance(live, list) and isinstance(patch, list) and all(isinstance(e, dict) for e in live + patch):
        for key in _LIST_KEYS:
            if all(key in e for e in live + patch):
                merged_list = list(live)
                for entry in patch:
                    at = next((i for i, e in enumerate(merged_list) if e[key] == entry[key]), None)
                    if at is None:
                        merged_list.append(entry)
                    else:
                        merged_list[at] = _merge(merged_list[at], entry)
                return merged_list
    return patch


def _same_object(patch: Any, live: Any) -> bool:
    """A patch names the live object: same kind, metadata.name and namespace (a namespace left out on
    either side is taken to match: the provider's default may be either)."""
    if live.resource_type != patch.resource_type or getattr(live.resource_type, "is_patch", False):
        return False
    name = get(patch.props, "metadata", "name")
    if not isinstance(name, str) or name != get(live.props, "metadata", "name"):
        return False
    spaces = [get(patch.props, "metadata", "namespace"), get(live.props, "metadata", "namespace")]
    return None in spaces or spaces[0] == spaces[1]


def with_patches_applied(resources: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """(the stack with each ``*Patch`` laid over the object it names, the patched objects, the patches
    whose object the stack does not hold)."""
    patches = [r for r in resources if getattr(r.resource_type, "is_patch", False)]
    result = [r for r in resources if r not in patches]
    patched, alone = [], []
    for patch in patches:
        at = next((i for i, live in enumerate(result) if _same_object(patch, live)), None)
        if at is None:
            alone.append(patch)
            continue
        live = result[at]
        result[at] = Patched(live.resource_type, _merge(plain(live.props), plain(patch.props)), patch.name,
                             patch.urn, str(getattr(patch, "original_type", patch.resource_type)),
                             getattr(live, "provider", None))
        patched.append(result[at])
    return result + alone, patched, alone


def _judge_patches(patched: list[Any], alone: list[Any], view: _View, report: ReportViolation) -> None:
    """A patched object is judged whole by the one-resource rules; a Service patch whose Service the
    stack does not hold must not select vLLM's pods or name vLLM's port (the live Service may be exposed)."""
    for resource in patched:
        validate_behind_gateway(resource, lambda message, urn=None, r=resource: report(
            f"{message} (with the patch laid over the object it changes)", r.urn))
    for patch in alone:
        if patch.resource_type != K8S_SERVICE:
            continue
        ports = items(get(patch.props, "spec", "ports"))
        why = _selected_vllm_pods(get(patch.props, "spec", "selector"), _targets(ports), view.pods,
                                  view.namespace(patch))
        numbers = {whole_number(get(p, key)) for p in ports for key in ("port", "targetPort")} & view.ports
        why = why or (f"sends a port to vLLM's port {min(numbers)}" if numbers else None)
        if why:
            report(f"{patch.original_type} '{patch.name}': patches a Service this stack does not hold, which may "
                   f"face outside the cluster, and {why}; patch only the gateway's Service, or declare the "
                   "Service whole", patch.urn)


def _judge_internal_gateway_services(resources: list[Any], view: _View, report: ReportViolation) -> None:
    """An internal load balancer Service with a selector (https-only-ingress leaves its ports to this policy,
    which sees the pods): on the gateway's pods it serves 443 only; on vLLM's pods it is an exposed Service,
    judged above; on other pods (a team's database) any port passes."""
    gateways = None
    for service in (r for r in resources if r.resource_type == K8S_SERVICE):
        selector, exposure = get(service.props, "spec", "selector"), service_exposure(service.props)
        if exposure != "LoadBalancer" or not asks_internal_lb(get(service.props, "metadata", "annotations",
                                                                      INTERNAL_LB_ANNOTATION)):
            continue
        ports = sorted({n for p in _service_ports(service, None) if (n := whole_number(get(p, "port"))) not in (None, 443, 80)})
        if not ports:
            continue
        gateways = gateways if gateways is not None else vllm_pods(resources, lambda pod: bool(pod.gateway))
        picked = [p for p in gateways if namespace_match(view.namespace(service), p.namespace) != "no"
                  and _selects(selector, p.pod.labels, p.kind)]
        if picked:
            report(f"{K8S_SERVICE} '{service.name}': an internal load balancer on port {ports[0]} selects the "
                   f"gateway's pods of '{picked[0].workload}'; an internal load balancer serves the gateway on 443 "
                   "only (HTTPS with Caddy's own CA)", service.urn)


def _judge_endpoints_of_unheld_services(view: _View, report: ReportViolation) -> None:
    """Hand-written endpoints for a Service the stack does not certainly hold (another stack's gateway
    load balancer, say): kube-proxy adds them to that Service, which may face outside the cluster, so
    they may not reach vLLM (an EndpointSlice without the kubernetes.io/service-name label serves none)."""
    owned = [(r, get(r.props, "metadata", "labels", SERVICE_NAME_LABEL)) for r in view.slices]
    owned += [(r, object_name(r)) for r in view.endpoints]
    for resource, owner in owned:
        if not isinstance(owner, str) or not owner or _services_at(view.namespace(resource), owner, view)[1]:
            continue
        if why := _endpoints_reach(resource, view):
            report(f"{resource.resource_type} '{resource.name}': adds endpoints on {why} to Service '{owner}', which "
                   "this stack does not hold and which may face outside the cluster; reach vLLM only through the "
                   "gateway, and give a Service its endpoints in the stack that holds it", resource.urn)


# Other ingress controllers' routes (any version of the group): Traefik's IngressRoute, IngressRouteTCP and
# IngressRouteUDP (traefik.io, and the older traefik.containo.us) routes[].services (a TraefikService's
# weighted services and mirrors followed), Contour's HTTPProxy (projectcontour.io) routes[].services and
# tcpproxy.services; each served by its own proxy, never by the gateway (Caddy)
TRAEFIK_GROUPS = ("traefik.io", "traefik.containo.us")
TRAEFIK_ROUTES = ("IngressRoute", "IngressRouteTCP", "IngressRouteUDP")
CONTOUR_GROUP = "projectcontour.io"
# ingress-nginx exposes TCP/UDP ports from a ConfigMap (--tcp-services-configmap, --udp-services-configmap):
# data "<external port>": "<namespace>/<service>:<port>[:PROXY][:PROXY]" (kubernetes.github.io/ingress-nginx/
# user-guide/exposing-tcp-udp-services); any ConfigMap shaped so is read, the flag may name any
NGINX_STREAM_ENTRY = re.compile(r"^\s*([A-Za-z0-9.-]+)/([A-Za-z0-9.-]+):([A-Za-z0-9-]+)(:PROXY){0,2}\s*$")


def _other_controller_backends(route: Any, view: _View) -> tuple[str, list[Backend]] | None:
    """(the controller, the Services a Traefik, Contour or ingress-nginx stream route sends to) or None."""
    group, kind = _group_kind(route.resource_type)
    props = route.props

    def services(field: str, entries: Any, depth: int = 0) -> list[Backend]:
        found = []
        for entry in items(entries):
            if not isinstance(entry, Mapping):
                continue
            namespace = get(entry, "namespace")
            namespace = namespace if isinstance(namespace, str) and namespace else None
            name, port = str(get(entry, "name") or ""), _port_ref(get(entry, "port"))
            if str(get(entry, "kind") or "Service") == "TraefikService":
                for other in view.resources:
                    if _group_kind(other.resource_type)[1] == "TraefikService" and object_name(other) == name \
                            and depth < MAX_HOPS:
                        spec = get(other.props, "spec")
                        nested = items(get(spec, "weighted", "services")) + items(get(spec, "mirroring", "mirrors"))
                        nested += [get(spec, "mirroring")] if isinstance(get(spec, "mirroring"), Mapping) else []
                        found += services(f"{field} (TraefikService '{name}')", nested, depth + 1)
                continue
            found.append(Backend(field, "Service", name, port, namespace))
        return found

    if group in TRAEFIK_GROUPS and kind in TRAEFIK_ROUTES:
        return "Traefik", [b for r in items(get(props, "spec", "routes"))
                           for b in services("route service", get(r, "services"))]
    if group == CONTOUR_GROUP and kind == "HTTPProxy":
        found = [b for r in items(get(props, "spec", "routes")) for b in services("route service", get(r, "services"))]
        return "Contour", found + services("tcpproxy service", get(props, "spec", "tcpproxy", "services"))
    if route.resource_type == K8S_CONFIG_MAP and isinstance(get(props, "data"), Mapping):
        found = []
        for key, value in get(props, "data").items():
            match = NGINX_STREAM_ENTRY.match(value) if isinstance(value, str) and whole_number(key) is not None else None
            if match:
                found.append(Backend(f"stream port {key}", "Service", match.group(2), _port_ref(match.group(3)),
                                     match.group(1)))
        return ("ingress-nginx (tcp-services/udp-services)", found) if found else None
    return None


def _judge_routes(view: _View, report: ReportViolation) -> None:
    """Ingress backends, Gateway API routes' backendRefs and mirrors, Istio VirtualServices' destinations,
    Traefik and Contour routes, ingress-nginx TCP/UDP services."""
    for route in view.resources:
        if istio_route(route.resource_type):
            for problem in _virtual_service_problems(route, view):
                report(f"{route.resource_type} '{route.name}': {problem}", route.urn)
            continue
        if other := _other_controller_backends(route, view):
            controller, backends = other
            for backend in backends:
                if why := _backend_reach(backend, backend.namespace or view.namespace(route), view):
                    report(f"{route.resource_type} '{route.name}': its {backend.field} '{backend.name}' {why}; "
                           f"{controller} serves it with its own proxy, not the gateway (Caddy), so it skips the "
                           "gateway's TLS, path allow-list and limits; send it to the gateway's Service", route.urn)
            continue
        kind = "Ingress" if route.resource_type == K8S_INGRESS else route_kind(route.resource_type)
        if kind is None:
            continue
        for backend in _ingress_backends(route.props) if kind == "Ingress" else _route_backends(route.props):
            if why := _backend_reach(backend, backend.namespace or view.namespace(route), view):
                fix = ("route the Ingress to the gateway's Service" if kind == "Ingress" else
                       f"a Gateway API {kind} is served by its own proxy, not by the gateway (Caddy), so it "
                       "skips the gateway's TLS, path allow-list and limits; send it to the gateway's Service")
                report(f"{route.resource_type} '{route.name}': its {backend.field} {backend.kind} "
                       f"'{backend.name}' {why}; {fix}", route.urn)


def validate_behind_gateway_across_stack(args: StackValidationArgs, report: ReportViolation) -> None:
    # read as plain values: one unknown value (a first preview) raised here would turn the whole policy
    # into an advisory; every reader takes the worse case for an unknown instead
    resources, patched, alone = with_patches_applied(plain_resources(args.resources))
    view = _read_view(resources, vllm_pods(resources))
    _judge_patches(patched, alone, view, report)
    for service in (r for r in resources if r.resource_type == K8S_SERVICE):
        exposure = service_exposure(service.props)
        if not exposure:
            continue
        selector, ports = get(service.props, "spec", "selector"), _service_ports(service, None)
        why = _selected_vllm_pods(selector, _targets(ports), view.pods, view.namespace(service))
        if not why and not _selects_vllm(selector, view.pods, view.namespace(service)):
            # pods this stack does not show as vLLM's (or endpoints by hand): judged by the ports vLLM listens
            # on in this stack (its default, 8000, the one-resource policy refuses already)
            numbers = {whole_number(get(p, key)) for p in ports for key in ("port", "targetPort")} & \
                (view.ports - {rules.VLLM_PORT})
            why = f"sends port {min(numbers)} on, a port vLLM listens on in this stack" if numbers else None
        if why:
            report(f"{K8S_SERVICE} '{service.name}': a Service exposed by {exposure} {why}; only the gateway's "
                   "Service may face outside the cluster", service.urn)
        if manual := _manual_endpoints_reach(service, view):
            endpoints, why = manual
            report(f"{endpoints.resource_type} '{endpoints.name}': sends the {exposure} Service "
                   f"'{object_name(service)}' to {why}; only the gateway may face outside the cluster; point "
                   "the Service at the gateway's pods with a selector", endpoints.urn)
    _judge_internal_gateway_services(resources, view, report)
    _judge_endpoints_of_unheld_services(view, report)
    _judge_routes(view, report)
    for release in (r for r in resources if helm_release(r.resource_type)):
        if view.pods or _mentions_vllm(release):
            serving = f"serves vLLM ('{view.pods[0].workload}')" if view.pods else "may serve vLLM"
            report(f"{release.resource_type} '{release.name}': a Helm release installs its chart's objects inside "
                   f"the provider, where no policy of this pack sees them, in a stack that {serving}, so whether "
                   "they reach vLLM around the gateway or weaken its pods is not judged; install the chart with "
                   "kubernetes:helm.sh/v4:Chart (its objects are resources the pack judges) or render it with "
                   "`helm template` and apply it with kubernetes:yaml/v2:ConfigGroup", release.urn)
    for policy in (r for r in resources if network_policy(r.resource_type)):
        for problem in _network_policy_problems(policy, view):
            report(f"{policy.resource_type} '{policy.name}': {problem}", policy.urn)
    _judge_unseen_installers(resources, view, report)
    _judge_tunnels(resources, view, report)
    _judge_classic_resources(resources, view, report)
    _judge_knative(resources, view, report)
    _judge_kserve_services(resources, report)
    _judge_llm_inference_services(resources, report)
    _judge_gpu_vms(resources, report)
    _judge_forwarding_to_stack_ports(resources, view, report)


# NetworkPolicies (networking.k8s.io, any version; extensions/v1beta1 before it): an ingress rule admits its
# peers to the selected pods on its ports. A rule without ``from`` (or an empty peer {}) admits every source, an
# ipBlock admits addresses (outside the cluster too, through any load balancer or node), a namespaceSelector
# that picks every namespace without a podSelector every pod of the cluster; a rule without ``ports`` every
# port (kubernetes.io/docs/concepts/services-networking/network-policies)
NETWORK_POLICY_GROUPS = ("networking.k8s.io", "extensions")
NOT_TCP = ("UDP", "SCTP")


def network_policy(resource_type: str) -> bool:
    group, kind = _group_kind(resource_type)
    return kind == "NetworkPolicy" and group in NETWORK_POLICY_GROUPS


def _open_peer(peer: Any) -> str | None:
    """Why a NetworkPolicy peer admits more than chosen pods, or None: everyone, an ipBlock, every pod of every
    namespace (a peer not known yet: everyone)."""
    if is_unknown(peer) or not isinstance(peer, Mapping):
        return "every source (a peer not known yet)"
    if all(value is None for value in peer.values()):
        return "every source (an empty peer {})"
    block = peer.get("ipBlock")
    if block is not None:
        cidr = get(block, "cidr")
        return f"the addresses of ipBlock {'(not known yet)' if is_unknown(cidr) or cidr is None else cidr}"
    namespaces, pods = peer.get("namespaceSelector"), peer.get("podSelector")
    if namespaces is not None and _picks_every_pod(namespaces) and (pods is None or _picks_every_pod(pods)):
        return "every pod of every namespace (a namespaceSelector that picks all, without a podSelector)"
    return None


def _admitted_ports(entries: Any, vllm_pod: VllmPod) -> str | None:
    """Which of vLLM's ports (on this pod) a rule's ``ports`` admit, as words, or None."""
    listens = _declared_vllm_ports(vllm_pod)
    if is_unknown(entries) or not items(entries):
        return "every port" if not is_unknown(entries) else "ports not known yet"
    for entry in items(entries):
        if is_unknown(entry) or not isinstance(entry, Mapping):
            return "a port not known yet"
        protocol = entry.get("protocol")
        if isinstance(protocol, str) and protocol.strip().upper() in NOT_TCP:
            continue
        port, end = entry.get("port"), entry.get("endPort")
        if port is None:
            return "every port (a ports entry without a port)"
        if is_unknown(port) or is_unknown(end):
            return "a port not known yet"
        number = whole_number(port)
        if number is None:  # a named port: the container ports of that name in the pod
            numbers = {whole_number(get(p, "containerPort")) for c in vllm_pod.pod.containers
                       for p in items(get(c, "ports")) if get(p, "name") == port}
            if numbers & listens or (numbers and vllm_pod.unread) or None in numbers:
                return f"port '{port}', where vLLM listens"
            continue
        last = whole_number(end) if whole_number(end) is not None else number
        if vllm_pod.unread:
            return f"port {number}, which may be vLLM's (its --port cannot be read)"
        if hits := sorted(p for p in listens if number <= p <= last):
            return f"port {hits[0]}, vLLM's"
    return None


def _network_policy_problems(policy: Any, view: _View) -> list[str]:
    """Why a NetworkPolicy lets sources other than the gateway reach vLLM's pods on vLLM's port."""
    spec = get(policy.props, "spec")
    unknown_spec = is_unknown(spec) or is_unknown(policy.props)
    selector = None if unknown_spec else get(spec, "podSelector")
    rules_ = [None] if unknown_spec or is_unknown(get(spec, "ingress")) else items(get(spec, "ingress"))
    namespace, problems = view.namespace(policy), []
    for vllm_pod in view.pods:
        if namespace_match(namespace, vllm_pod.namespace) == "no" or \
                not (unknown_spec or _label_selector_picks(selector, vllm_pod.pod.labels, vllm_pod.kind)):
            continue
        for index, rule in enumerate(rules_):
            if rule is None or is_unknown(rule) or not isinstance(rule, Mapping):
                peers, ports = ["every source (an ingress rule not known yet)"], "every port"
            else:
                sources = rule.get("from")
                first = None if is_unknown(sources) or not items(sources) else next(
                    (why for peer in items(sources) if (why := _open_peer(peer))), None)  # the first says it
                peers = (["every source (a rule not known yet)"] if is_unknown(sources) else
                         ["every source (a rule without from)"] if not items(sources) else
                         [first] if first else [])
                ports = _admitted_ports(rule.get("ports"), vllm_pod) if peers else None
            if peers and ports:
                problems.append(f"ingress rule #{index} admits {peers[0]} to the vLLM pods of '{vllm_pod.workload}' on "
                                f"{ports}, around the gateway; admit only the gateway's pods (a podSelector) and "
                                "in-cluster agents chosen by namespace and pod")
        if problems:
            break
    return problems


# KServe's InferenceService is served by KServe's ingress (Knative's, or the Gateway API's in raw deployment
# mode) outside the cluster unless labelled networking.kserve.io/visibility: cluster-local (KServe,
# "Configure InferenceService visibility"); its Hugging Face runtime runs vLLM
KSERVE_GROUP = "serving.kserve.io"
KSERVE_VISIBILITY = "networking.kserve.io/visibility"


def _judge_kserve_services(resources: list[Any], report: ReportViolation) -> None:
    """An InferenceService that runs vLLM, holds GPUs or names vLLM is published by KServe's ingress, around
    the gateway, unless it is cluster-local (an unknown label: the worse case, public)."""
    for service in resources:
        if _group_kind(service.resource_type) != (KSERVE_GROUP, "InferenceService"):
            continue
        pods = serving_pods(service.resource_type, service.props)
        if not (vllm_pods([service]) or any(pod.gpu for pod in pods) or "vllm" in str(service.props).lower()):
            continue
        if get(service.props, "metadata", "labels", KSERVE_VISIBILITY) == "cluster-local":
            continue
        report(f"{service.resource_type} '{service.name}': an InferenceService that serves a model with vLLM or "
               "GPUs is published by KServe's ingress outside the cluster, around the gateway; label it "
               f"{KSERVE_VISIBILITY}: cluster-local and route to it through the gateway", service.urn)


# A Knative Service gets a URL that Knative's own ingress serves outside the cluster unless its label
# networking.knative.dev/visibility is cluster-local (Knative Serving, "Configuring private services"); so does a
# Route (the traffic of a Configuration's or a Service's revisions), and a DomainMapping publishes the Service or
# Route it maps to on its domain even when that is cluster-local (knative.dev/docs/serving/services/custom-domains).
# Knative's ingress reaches only the container that declares a port (one alone in a multi-container pod).
# Every version of serving.knative.dev (Service, Configuration, Route, DomainMapping) and of
# networking.internal.knative.dev (its Ingress: rules with visibility ExternalIP, split to Services)
KNATIVE_VISIBILITY = "networking.knative.dev/visibility"
KNATIVE_GROUPS = ("serving.knative.dev", "networking.internal.knative.dev")
KNATIVE_CLUSTER_LOCAL = "cluster-local"


def _knative_kind(resource: Any) -> str | None:
    group, kind = _group_kind(resource.resource_type)
    return kind if group in KNATIVE_GROUPS else None


def _knative_public(resource: Any) -> bool:
    """Published by Knative's ingress: no cluster-local visibility label (a label not known yet: the worse case)."""
    return get(resource.props, "metadata", "labels", KNATIVE_VISIBILITY) != KNATIVE_CLUSTER_LOCAL


def _knative_serves_gateway(vllm_pod: VllmPod) -> bool:
    """Knative's ingress reaches only the gateway in this pod: the one container that declares a port is the
    gateway (not vLLM), and none of its ports (each known) is one vLLM listens on (the pod shares one network)."""
    pod = vllm_pod.pod
    if vllm_pod.unread:
        return False
    declaring = [c for c in pod.containers if is_unknown(get(c, "ports")) or items(get(c, "ports"))]
    if len(declaring) != 1 or not is_gateway_container(declaring[0]) or declaring[0] in pod.vllm:
        return False
    listed = get(declaring[0], "ports")
    numbers = [] if is_unknown(listed) else [whole_number(get(p, "containerPort")) for p in items(listed)]
    return bool(numbers) and None not in numbers and not set(numbers) & _declared_vllm_ports(vllm_pod)


def _knative_runs_vllm(resource: Any) -> str | None:
    """Why Knative's ingress in front of this Service's or Configuration's pods reaches vLLM, or None."""
    for vllm_pod in vllm_pods([resource]):
        if not _knative_serves_gateway(vllm_pod):
            return (f"runs vLLM in '{vllm_pod.workload}', whose container Knative's ingress reaches (the one that "
                    "declares a port) is not the gateway alone on a port vLLM does not listen on")
    return None


def _knative_route_targets(route: Any, workloads: list[Any], view: _View) -> list[Any]:
    """The Knative Services and Configurations of the stack a Route's traffic names: by configurationName, or by
    revisionName (a revision is named <configuration>-<number>, or by its template's metadata.name); a Route of a
    Knative Service's own name is that Service's; anything not known yet names every one of its namespace."""
    namespace = view.namespace(route)
    here = [w for w in workloads if namespace_match(view.namespace(w), namespace) != "no"]
    traffic = get(route.props, "spec", "traffic")
    if is_unknown(get(route.props, "spec")) or is_unknown(traffic):
        return here
    found = [w for w in here if _knative_kind(w) == "Service" and object_name(w) == object_name(route)]
    for entry in items(traffic):
        configuration, revision = get(entry, "configurationName"), get(entry, "revisionName")
        if is_unknown(entry) or is_unknown(configuration) or is_unknown(revision):
            return here
        for workload in here:
            name = object_name(workload)
            template = get(workload.props, "spec", "template", "metadata", "name")
            if configuration == name or (isinstance(revision, str) and (
                    revision.startswith(name + "-") or (isinstance(template, str) and revision == template))):
                found.append(workload)
    return list(dict.fromkeys(found))


def _knative_route_reach(route: Any, workloads: list[Any], view: _View) -> str | None:
    for target in _knative_route_targets(route, workloads, view):
        if why := _knative_runs_vllm(target):
            return f"sends traffic to {_knative_kind(target)} '{object_name(target)}', which {why}"
    return None


def _domain_mapping_reach(mapping: Any, workloads: list[Any], routes: list[Any], view: _View) -> str | None:
    """Why a DomainMapping's target reaches vLLM: a Knative Service that runs vLLM, a Route whose traffic does
    (whatever their visibility), a core Service that reaches vLLM's pods or port; a reference not known yet, in
    a stack that serves vLLM, may be any of them. A target the stack does not hold is not judged here."""
    ref = get(mapping.props, "spec", "ref")
    name, kind, version = get(ref, "name"), get(ref, "kind"), get(ref, "apiVersion")
    namespace = get(ref, "namespace") if isinstance(get(ref, "namespace"), str) else view.namespace(mapping)
    if any(is_unknown(v) for v in (ref, name, kind, version, get(ref, "namespace"))):
        return "maps to a target not known yet, in a stack that serves vLLM" if view.pods else None
    if kind == "Service" and isinstance(version, str) and version.startswith("serving.knative.dev"):
        for workload in workloads:
            if _knative_kind(workload) == "Service" and object_name(workload) == name and \
                    namespace_match(view.namespace(workload), namespace) != "no" and (why := _knative_runs_vllm(workload)):
                return f"maps to Knative Service '{name}', which {why}"
    elif kind == "Route":
        held = [r for r in routes if object_name(r) == name and namespace_match(view.namespace(r), namespace) != "no"]
        held += [w for w in workloads if _knative_kind(w) == "Service" and object_name(w) == name
                 and namespace_match(view.namespace(w), namespace) != "no"]
        for target in held:
            why = _knative_runs_vllm(target) if _knative_kind(target) == "Service" else \
                _knative_route_reach(target, workloads, view)
            if why:
                return f"maps to Route '{name}', which {why}"
    elif kind == "Service":
        return _backend_reach(Backend("ref", "Service", str(name), None), namespace, view)
    return None


def _knative_ingress_backends(ingress: Any) -> list[Backend]:
    """The Services a networking.internal.knative.dev Ingress's ExternalIP rules split traffic to (a rule whose
    visibility is not ClusterLocal, or not known yet)."""
    found = []
    for rule in items(get(ingress.props, "spec", "rules")):
        if str(get(rule, "visibility") or "ExternalIP") == "ClusterLocal":
            continue
        for path in items(get(rule, "http", "paths")):
            for split in items(get(path, "splits")):
                namespace = get(split, "serviceNamespace")
                found.append(Backend("split", "Service", str(get(split, "serviceName") or ""),
                                     _port_ref(get(split, "servicePort")),
                                     namespace if isinstance(namespace, str) and namespace else None))
    return found


def _judge_knative(resources: list[Any], view: _View, report: ReportViolation) -> None:
    """A public Knative Service whose pods run vLLM (unless Knative's ingress reaches only the gateway in them),
    a public Route whose traffic goes to such a Service or Configuration, a DomainMapping to either (public
    whatever its target's visibility), and a Knative Ingress whose public rules split to vLLM: vLLM published
    by Knative's ingress, around the gateway."""
    knative = [r for r in resources if _knative_kind(r)]
    workloads = [r for r in knative if _knative_kind(r) in ("Service", "Configuration")
                 and _group_kind(r.resource_type)[0] == "serving.knative.dev"]
    routes = [r for r in knative if _knative_kind(r) == "Route"]
    for resource in knative:
        kind, why = _knative_kind(resource), None
        fix = (f"label it {KNATIVE_VISIBILITY}: {KNATIVE_CLUSTER_LOCAL}, or let only the gateway container declare "
               "a port, and route to vLLM through the gateway")
        if kind == "Service" and resource in workloads and _knative_public(resource):
            why = _knative_runs_vllm(resource)
            what = "a Knative Service that"
        elif kind == "Route" and _knative_public(resource):
            why, what = _knative_route_reach(resource, workloads, view), "a public Knative Route that"
        elif kind == "DomainMapping":
            why = _domain_mapping_reach(resource, workloads, routes, view)
            what = "a DomainMapping (which publishes its target on its domain, cluster-local or not) that"
            fix = "map the domain to the gateway's Service instead"
        elif kind == "Ingress" and _group_kind(resource.resource_type)[0] == "networking.internal.knative.dev":
            why = next((f"splits to Service '{b.name}', which {w}" for b in _knative_ingress_backends(resource)
                        if (w := _backend_reach(b, b.namespace or view.namespace(resource), view))), None)
            what, fix = "a Knative Ingress (rules with visibility ExternalIP) that", "split only to the gateway's Service"
        else:
            continue
        if why:
            report(f"{resource.resource_type} '{resource.name}': {what} {why} is published by Knative's ingress "
                   f"outside the cluster, around the gateway; {fix}", resource.urn)


# KServe's LLMInferenceService (serving.kserve.io, any version) runs vLLM (llm-d); its spec.router.gateway and
# spec.router.route have KServe attach an HTTPRoute to a Gateway API gateway (its own default, or the refs given),
# which KServe documents no cluster-local form for: not judged, so refused; without them it stays in the cluster
LLM_ROUTER_KEYS = ("gateway", "route", "ingress")


def _judge_llm_inference_services(resources: list[Any], report: ReportViolation) -> None:
    for service in resources:
        if _group_kind(service.resource_type) != (KSERVE_GROUP, "LLMInferenceService"):
            continue
        router = get(service.props, "spec", "router")
        if is_unknown(get(service.props, "spec")) or is_unknown(router) or \
                any(get(router, key) is not None or is_unknown(get(router, key)) for key in LLM_ROUTER_KEYS):
            report(f"{service.resource_type} '{service.name}': an LLMInferenceService with a router gateway or route "
                   "(spec.router.gateway/route) has KServe publish vLLM through a Gateway API gateway, which this "
                   "pack does not judge (KServe documents no cluster-local form for it), around the gateway; drop "
                   "spec.router.gateway and spec.router.route and route to its Service through the gateway",
                   service.urn)


# Resources that install further resources no policy sees (like a Helm release): Flux's HelmRelease and
# Kustomization (helm.toolkit.fluxcd.io, kustomize.toolkit.fluxcd.io), Argo CD's Application and
# ApplicationSet (argoproj.io), and an ARM template deployment (azure-native:resources:Deployment: the
# template's resources are created by Azure Resource Manager, never registered with the engine)
UNSEEN_INSTALLERS = {
    ("helm.toolkit.fluxcd.io", "HelmRelease"): (
        "a Flux HelmRelease has Flux install its chart in the cluster", "kubernetes:helm.sh/v4:Chart"),
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): (
        "a Flux Kustomization has Flux apply its source's objects in the cluster", "kubernetes:kustomize/v2:Directory"),
    ("argoproj.io", "Application"): (
        "an Argo CD Application has Argo CD apply its source's objects in the cluster",
        "kubernetes:yaml/v2:ConfigGroup or kubernetes:helm.sh/v4:Chart"),
    ("argoproj.io", "ApplicationSet"): (
        "an Argo CD ApplicationSet has Argo CD generate Applications and apply their objects",
        "kubernetes:yaml/v2:ConfigGroup or kubernetes:helm.sh/v4:Chart"),
}


# Argo Workflows (argoproj.io, any version): a template's ``resource`` step applies any manifest it holds (its
# ``manifest`` a string, or ``manifestFrom`` an artifact: argo-workflows.readthedocs.io, "Resource Template");
# Kyverno (kyverno.io, any version): a rule's ``generate`` creates the object its ``data`` or ``clone`` gives
# (kyverno.io/docs/writing-policies/generate), as a policies.kyverno.io GeneratingPolicy does
ARGO_WORKFLOW_KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
KYVERNO_GROUPS = ("kyverno.io", "policies.kyverno.io")


def _in_cluster_installer(resource: Any) -> tuple[str, str] | None:
    """(what, what to use instead) for an Argo workflow with a resource template or a Kyverno policy with a
    generate rule (a template or rule list not known yet: the worse case), else None."""
    group, kind = _group_kind(resource.resource_type)
    spec = get(resource.props, "spec")
    if group == "argoproj.io" and kind in ARGO_WORKFLOW_KINDS:
        templates = get(spec, "workflowSpec", "templates") if kind == "CronWorkflow" else get(spec, "templates")
        if is_unknown(spec) or is_unknown(templates) or any(
                is_unknown(t) or get(t, "resource") is not None for t in items(templates)):
            return (f"an Argo {kind} with a resource template has Argo Workflows apply its manifest in the cluster",
                    "the Kubernetes resources themselves")
    elif group in KYVERNO_GROUPS and kind == "GeneratingPolicy":
        return "a Kyverno GeneratingPolicy has Kyverno create objects in the cluster", "the Kubernetes resources themselves"
    elif group in KYVERNO_GROUPS and kind in ("ClusterPolicy", "Policy"):
        listed = get(spec, "rules")
        if is_unknown(spec) or is_unknown(listed) or any(
                is_unknown(r) or get(r, "generate") is not None for r in items(listed)):
            return (f"a Kyverno {kind} with a generate rule has Kyverno create objects in the cluster",
                    "the Kubernetes resources themselves")
    return None


def _serves_vllm(resources: list[Any], view: _View) -> str | None:
    """What in the stack serves vLLM (a pod, a Container App, a container group, a GPU VM), or None."""
    if view.pods:
        return f"'{view.pods[0].workload}'"
    for r in resources:
        if r.resource_type == CONTAINER_APP and any(is_vllm_container(c) for c in aca_containers(r.props)):
            return f"Container App '{r.name}'"
        if r.resource_type == CONTAINER_GROUP and any(is_vllm_container(c) for c in items(get(r.props, "containers"))):
            return f"container group '{r.name}'"
        if what := gpu_machine(r):
            return f"{what} '{r.name}'"
        if r.resource_type in (VIRTUAL_MACHINE, VM_SCALE_SET) and machine_runs_vllm(r):
            return f"{'VM scale set' if r.resource_type == VM_SCALE_SET else 'VM'} '{r.name}' (its custom data names vLLM)"
    return None


# Tunnel clients publish what they point at from inside the cluster, through an outbound connection: no
# Service, Ingress or route of the stack shows it (Cloudflare Tunnel's cloudflared, ngrok's agent and
# Kubernetes operator, Tailscale Funnel, inlets, frp, bore, localtunnel). Beside vLLM the pack cannot tell
# whether one points at vLLM's port or the gateway's, so it is refused, as a Helm release is.
TUNNEL_IMAGES = frozenset({"cloudflared", "ngrok", "ngrok-operator", "kubernetes-ingress-controller", "tailscale",
                           "inlets", "inlets-pro", "frpc", "bore", "localtunnel"})
TUNNEL_ANNOTATIONS = ("tailscale.com/expose", "tailscale.com/funnel")


def _judge_tunnels(resources: list[Any], view: _View, report: ReportViolation) -> None:
    """A tunnel client's container (TUNNEL_IMAGES, by the image's last path part; ngrok's ingress controller
    only from an image path naming ngrok) or a Tailscale expose/funnel annotation, in a stack that serves vLLM."""
    serving = None
    for resource in resources:
        found = []
        for pod, _ in pods_read(resource.resource_type, resource.props):
            for container in pod.containers:
                image = str(get(container, "image") or "")
                name = _repository(image)
                if name in TUNNEL_IMAGES and (name != "kubernetes-ingress-controller" or "ngrok" in image.lower()):
                    found.append(f"runs the tunnel client '{image[:80]}'")
        annotations = get(resource.props, "metadata", "annotations")
        found += [f"is annotated {key}" for key in TUNNEL_ANNOTATIONS if is_true(get(annotations, key))]
        if not found:
            continue
        serving = serving or _serves_vllm(resources, view) or ""
        if not serving:
            continue
        report(f"{resource.resource_type} '{resource.name}' {found[0]}, in a stack that serves vLLM ({serving}): a "
               "tunnel publishes what it points at from inside the cluster, through no Service, Ingress or route "
               "this pack can follow, so whether it reaches vLLM around the gateway is not judged; publish the "
               "gateway's Service instead, or run the tunnel in a stack without vLLM", resource.urn)


def _judge_unseen_installers(resources: list[Any], view: _View, report: ReportViolation) -> None:
    """Flux, Argo CD and ARM template deployments in a stack that serves vLLM: refused like a Helm release."""
    serving = None
    for resource in resources:
        known = UNSEEN_INSTALLERS.get(_group_kind(resource.resource_type)) or _in_cluster_installer(resource)
        if arm_deployment(resource.resource_type):
            known = (("an ARM template deployment has Azure Resource Manager create the template's resources, never "
                      "registered with Pulumi"), "the azure-native resources themselves")
        elif deployment_script(resource.resource_type):
            known = (("a deployment script runs the Azure CLI or PowerShell in Azure, and what it creates is never "
                      "registered with Pulumi"), "the azure-native resources themselves")
        if known is None:
            continue
        serving = serving or _serves_vllm(resources, view) or ""
        mentions = "vllm" in str(plain(resource.props)).lower()  # its template or source names vLLM
        if not (serving or mentions):
            continue
        what, instead = known
        report(f"{resource.resource_type} '{resource.name}': {what}, where no policy of this pack sees them, in a "
               f"stack that {f'serves vLLM ({serving})' if serving else 'may serve vLLM (it names vLLM)'}, so whether they reach vLLM around the gateway or weaken it is "
               f"not judged; declare those objects in the program ({instead}), whose resources the pack judges",
               resource.urn)


def _judge_classic_resources(resources: list[Any], view: _View, report: ReportViolation) -> None:
    """The classic provider's resources that can open a port (exposure.classic_unjudged), which the pack
    does not read, in a stack that serves vLLM (or that names vLLM, or a GPU size, itself): not judged."""
    serving = None
    for resource in resources:
        unjudged = classic_unjudged(resource.resource_type, internal=False)
        if unjudged is None:
            continue
        serving = serving or _serves_vllm(resources, view) or ""
        text = str(resource.props).lower()
        if not (serving or "vllm" in text or GPU_VM_SIZE_IN_TEXT.search(text)):
            continue
        what, instead = unjudged
        where = f"serves vLLM ({serving})" if serving else "may serve vLLM (it names vLLM or a GPU size)"
        report(f"{resource.resource_type} '{resource.name}': {what} of the classic azure provider, which this pack "
               f"does not read, in a stack that {where}, so whether it reaches vLLM around the gateway is not "
               f"judged; use {instead}, which the pack judges", resource.urn)


def _judge_gpu_vms(resources: list[Any], report: ReportViolation) -> None:
    """A GPU VM (a size not known yet taken for one) with a public IP: inline, or on a NIC whose security
    groups (the NIC's, its subnets') allow a way past the gateway. A NIC, subnet or security group whose
    id is not known yet (a first preview) may be any of its kind in the stack."""
    ids = _by_id(resources)
    for vm in resources:
        what = gpu_machine(vm)
        if what is None:
            continue
        if inline_public_ip_configurations(vm.props):
            where = "virtualMachineProfile.networkProfile" if vm.resource_type == VM_SCALE_SET else "networkProfile"
            report(f"{vm.resource_type} '{vm.name}': {what} declares a public IP inline ({where}."
                   "networkInterfaceConfigurations[].ipConfigurations[].publicIPAddressConfiguration), with no "
                   "security group this pack can judge; give vLLM's machines no public IP, put the gateway in front",
                   vm.urn)
        if vm.resource_type != VIRTUAL_MACHINE:
            continue
        said = set()
        nics = [nic for reference in items(get(vm.props, "networkProfile", "networkInterfaces"))
                for nic in _referenced(get(reference, "id"), ids, resources, NETWORK_INTERFACE)]
        for nic in nics:
            configurations = items(get(nic.props, "ipConfigurations"))
            if not (is_unknown(get(nic.props, "ipConfigurations")) or any(get(c, "publicIPAddress") for c in configurations)):
                continue
            subnets = [subnet for c in configurations for subnet in (
                [r for r in resources if r.resource_type == SUBNET] if is_unknown(get(c, "subnet", "id"))
                else [ids.get(str(get(c, "subnet", "id")).lower())]) if subnet is not None]
            groups = _nsgs_of(nic.props, ids, resources) + [g for s in subnets for g in _nsgs_of(s.props, ids, resources)]
            for group in groups:
                name = get(group.props, "name")
                attached = [r for r in resources if r.resource_type == SECURITY_RULE and (
                    get(r.props, "networkSecurityGroupName") == name or is_unknown(name)
                    or is_unknown(get(r.props, "networkSecurityGroupName")))]
                for rule in _nsg_rules(NSG, group.props) + [r.props for r in attached]:
                    for problem in nsg_rule_problems(rule):
                        message = (f"{VIRTUAL_MACHINE} '{vm.name}': GPU VM with a public IP on NIC '{nic.name}', "
                                   f"whose security group '{group.name}' rule '{_rule_name(rule, '?')}' {problem}")
                        if message not in said:
                            said.add(message)
                            report(message, vm.urn)


vllm_behind_gateway_across_stack = StackValidationPolicy(
    name="vllm-only-behind-gateway-across-stack",
    description="Across the stack: no exposed Kubernetes Service, hand-written EndpointSlice or Endpoints, "
                "Ingress backend, Gateway API route (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute: "
                "backendRefs and request mirrors) or Istio VirtualService reaches the pods or port of vLLM, "
                "directly or through an ExternalName Service (a pod that runs the gateway beside vLLM only on "
                "the gateway's port; Services matched by namespace and name; vLLM's port read from its pods); "
                "Traefik, Contour, ingress-nginx stream and Envoy Gateway Backend routes judged alike; no Helm "
                "release, Flux, Argo CD, Argo Workflows resource template, Kyverno generate rule or ARM deployment (any "
                "type), whose objects the pack cannot see, and no "
                "classic-provider resource that can open a port, in a stack that serves vLLM; no NetworkPolicy "
                "admits an ipBlock, every source or every namespace to vLLM's pods on its port; a Knative Service "
                "or KServe InferenceService serving vLLM is cluster-local (unless Knative reaches only the gateway in "
                "its pod), as is a Knative Route to one, no DomainMapping or Knative Ingress publishes one, no "
                "LLMInferenceService has a router gateway or route; an internal load balancer serves the "
                "gateway on 443 only; Azure forwarding reaches no port vLLM listens on in the stack; no GPU VM or "
                "scale set declares a public IP inline, and a GPU VM with a public IP has no security group rule that "
                "reaches past the gateway.",
    validate=normalised(validate_behind_gateway_across_stack),
    enforcement_level=MANDATORY,
)
