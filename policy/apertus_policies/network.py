"""HTTPS only, and SSH only from narrow ranges (rule by rule and across the stack)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy

from .common import (
    normalised,
    ACME_RULE_WORD,
    CONTAINER_APP,
    INTERNAL_LB_ANNOTATION,
    asks_internal_lb,
    K8S_SERVICE,
    LOAD_BALANCER,
    MANDATORY,
    NSG,
    SECURITY_RULE,
    SSH_BROADEST_PREFIX,
    SSH_PORT,
    STORAGE_ACCOUNT,
    _address_sources,
    _label,
    _listed,
    _nsg_rules,
    _opens_tcp_port,
    _rule_name,
    get,
    has_unknown,
    is_false,
    is_true,
    is_unknown,
    items,
    plain,
    plain_resources,
    rules,
    whole_number,
)


# ---------------------------------------------------------------- unknown values (preview)

# How an NSG rule field not known yet (a preview) is read: the worse case, so an unknown never
# raises (which would turn the policy into an advisory "can't run during preview") and never passes
_WORSE_RULE_FIELDS = {"direction": "Inbound", "access": "Allow", "protocol": "*",
                      "sourceAddressPrefix": "*", "destinationPortRange": "*"}
_WORSE_RULE_LISTS = {"sourceAddressPrefixes": "*", "destinationPortRanges": "*"}


def worse_rule(rule: Any) -> Any:
    """One NSG rule (plain values, ``common.plain``) with every field not known yet read as the worse
    case: a source as anyone ('*'), a port or port range as every port, a direction, access or
    protocol as Inbound, Allow, any; a rule wholly unknown is all of these."""
    if is_unknown(rule):
        return dict(_WORSE_RULE_FIELDS)
    if not isinstance(rule, dict):
        return rule
    worse = dict(rule)
    for key, value in _WORSE_RULE_FIELDS.items():
        if is_unknown(rule.get(key)):
            worse[key] = value
    for key, value in _WORSE_RULE_LISTS.items():
        entries = rule.get(key)
        if is_unknown(entries):
            worse[key] = [value]
        elif isinstance(entries, list):
            worse[key] = [value if is_unknown(entry) else entry for entry in entries]
    for key in ("name", "securityRuleName"):
        if is_unknown(rule.get(key)):
            worse[key] = "(a name not known yet)"
    return worse


def worse_nsg_rules(resource_type: str, props: Any) -> list[Any]:
    """The rules of an NSG or SecurityRule read from plain props (``common.plain``), each field not known
    yet taken for the worse case (``worse_rule``); an NSG whose rule list is unknown holds one rule that
    is every one of them."""
    if resource_type == NSG:
        listed = props.get("securityRules") if isinstance(props, dict) else None
        if is_unknown(listed):
            return [worse_rule(listed)]
        return [worse_rule(r) for r in items(listed) if isinstance(r, dict) or is_unknown(r)]
    return [worse_rule(r) for r in _nsg_rules(resource_type, props)]


# ---------------------------------------------------------------- HTTPS only

def validate_https_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Read from plain props (``common.plain``): a value not known yet (a preview) is the worse case, so
    the policy never raises UnknownValueError and is enforced in a preview too."""
    props, label = plain(args.props), _label(args)
    if args.resource_type == CONTAINER_APP:
        ingress = get(props, "configuration", "ingress")
        if ingress is None:
            return
        if is_unknown(ingress):
            report(f"{label}: ingress is not known yet, so it may allow insecure HTTP or TCP transport; "
                   "state it in the program")
            return
        allow_insecure = get(ingress, "allowInsecure")
        if is_true(allow_insecure) or is_unknown(allow_insecure):
            why = "not known yet (taken for true)" if is_unknown(allow_insecure) else "true"
            report(f"{label}: ingress allowInsecure is {why}, so plain HTTP reaches the app; set it false")
        transport = get(ingress, "transport")
        if is_unknown(transport) or str(transport or "auto").lower() == "tcp":
            shown = "not known yet (taken for 'tcp')" if is_unknown(transport) else "'tcp'"
            report(f"{label}: ingress transport {shown} skips the HTTPS front end; use 'auto', 'http' or 'http2'")
        mappings = get(ingress, "additionalPortMappings")
        for mapping in [{"external": True}] if is_unknown(mappings) else items(mappings):
            external = get(mapping, "external") if isinstance(mapping, dict) else mapping
            if is_true(external) or is_unknown(external):
                port = get(mapping, "exposedPort") if isinstance(mapping, dict) else None
                shown = "not known yet" if port is None or is_unknown(port) else port
                report(f"{label}: additional port mapping {shown} is external (or not known yet), plain TCP "
                       "beside the HTTPS ingress; keep additional ports internal")
    elif args.resource_type == STORAGE_ACCOUNT:
        https = get(props, "enableHttpsTrafficOnly")
        if (is_false(https) or is_unknown(https)) and not _nfs_only_account(props):
            shown = "not known yet (taken for false)" if is_unknown(https) else "false"
            report(f"{label}: enableHttpsTrafficOnly is {shown} on an account reachable outside a VNet; "
                   "only a premium NFS FileStorage account closed to public networks (publicNetworkAccess "
                   "Disabled, or default action Deny with no ipRules) may turn it off")
    elif args.resource_type in (NSG, SECURITY_RULE):
        for index, rule in enumerate(worse_nsg_rules(args.resource_type, props)):
            name = _rule_name(rule, args.name if args.resource_type == SECURITY_RULE else f"#{index}")
            if _opens_tcp_port(rule, 80) and ACME_RULE_WORD not in name.lower() and not _inside_only(rule):
                report(f"{label}: rule '{name}' allows inbound port 80 from outside the VNet; plain HTTP is open "
                       f"only in a rule named for ACME HTTP-01 (containing '{ACME_RULE_WORD}') that Caddy redirects "
                       "to HTTPS, or from inside the VNet (VirtualNetwork, private ranges)")
    elif args.resource_type == LOAD_BALANCER:
        for kind in ("loadBalancingRules", "inboundNatRules"):
            listed = get(props, kind)
            for index, rule in enumerate([{}] if is_unknown(listed) else items(listed)):
                name = _rule_name(rule, f"{kind}#{index}") if isinstance(rule, dict) else f"{kind}#{index}"
                if is_unknown(name):
                    name = f"{kind}#{index}"
                ports = (get(rule, "frontendPort"), get(rule, "frontendPortRangeStart"))
                unknown = is_unknown(rule) or is_unknown(listed) or any(is_unknown(p) for p in ports)
                if (unknown or 80 in {whole_number(p) for p in ports}) and ACME_RULE_WORD not in name.lower():
                    shown = "a port not known yet (taken for 80)" if unknown else "port 80"
                    report(f"{label}: {kind} '{name}' listens on {shown}; plain HTTP is open only in a rule "
                           f"named for ACME HTTP-01 (containing '{ACME_RULE_WORD}')")
    elif args.resource_type == K8S_SERVICE and (get(props, "spec", "type") == "LoadBalancer"
                                               or is_unknown(get(props, "spec", "type"))
                                               or is_unknown(get(props, "spec"))):
        annotation = get(props, "metadata", "annotations", INTERNAL_LB_ANNOTATION)
        annotations = get(props, "metadata", "annotations")
        # an internal annotation not known yet: judged by both readings (internal allows 443 only)
        unsure = is_unknown(annotation) or is_unknown(annotations) or is_unknown(get(props, "metadata"))
        internal = asks_internal_lb(annotation) or unsure
        listed = get(props, "spec", "ports")
        ports = [get(p, "port") for p in ([] if is_unknown(listed) else items(listed))]
        numbers = {whole_number(p) for p in ports} - {None}
        allowed = {443} if internal else {443, 80}  # public: port 80 for ACME HTTP-01 and the redirect
        selector = get(props, "spec", "selector")
        # an internal load balancer for the pods its selector names: whether they are vLLM's or the gateway's
        # is judged across the stack (vllm-only-behind-gateway-across-stack), which sees the pods; plain HTTP
        # (80) stays refused here
        judged_across = internal and not unsure and isinstance(selector, Mapping) and bool(selector) and \
            not has_unknown(selector)
        for port in sorted(numbers - allowed):
            if judged_across and port != 80:
                continue
            why = ("an internal load balancer uses Caddy's own CA, with no ACME and no port 80"
                   if internal and port == 80 else "the gateway serves HTTPS on 443 only")
            if unsure and port == 80:
                why += " (whether it is internal is not known yet)"
            report(f"{label}: load balancer port {port} is open; {why}")
        if is_unknown(listed) or is_unknown(get(props, "spec")) or any(is_unknown(p) for p in ports):
            report(f"{label}: a load balancer port is not known yet (taken for any port); the gateway serves "
                   "HTTPS on 443 only (and 80 for ACME HTTP-01 on a public one)")
        if not internal and 80 in numbers and 443 not in numbers:
            report(f"{label}: port 80 without 443; port 80 is only for ACME HTTP-01 beside the HTTPS port")


def has_unknown_in(props: Any, *paths: tuple[str, ...]) -> bool:
    """Whether any of these fields of plain props, or what they hold, is not known yet."""
    from .common import has_unknown
    for path in paths:
        value = props
        for step in path:
            if is_unknown(value) or not isinstance(value, dict):
                break
            value = value.get(step)
        if has_unknown(value):
            return True
    return False


def _nfs_only_account(props: Any) -> bool:
    """Azure Files NFS shares are mounted without TLS, so their account cannot require secure transfer;
    Microsoft recommends secure transfer for every account "except where NFS Azure file shares are
    used with network-level security" (learn.microsoft.com/azure/storage/common/
    storage-require-secure-transfer). The exception therefore holds only for a premium FileStorage
    account (the only kind that holds NFS shares) closed to public networks: publicNetworkAccess
    Disabled, or network rules that deny by default and allow no IP range (a VNet rule or private
    endpoint is the network-level security)."""
    if has_unknown_in(props, ("kind",), ("sku", "name"), ("publicNetworkAccess",),
                      ("networkRuleSet", "defaultAction"), ("networkRuleSet", "ipRules")):
        return False  # not known yet: not shown to be closed (a VNet rule's subnet id may be: it opens nothing)
    if get(props, "kind") != "FileStorage" or not str(get(props, "sku", "name") or "").lower().startswith("premium"):
        return False
    if str(get(props, "publicNetworkAccess") or "").lower() == "disabled":
        return True
    return (str(get(props, "networkRuleSet", "defaultAction") or "").lower() == "deny"
            and not items(get(props, "networkRuleSet", "ipRules")))


https_only = ResourceValidationPolicy(
    name="https-only-ingress",
    description="Clients reach the API over HTTPS only: Container Apps ingress refuses insecure HTTP, "
                "TCP transport and external extra ports; storage accounts require secure transfer (except NFS-only "
                "FileStorage behind VNet rules, which Azure requires); port 80 is open only for ACME "
                "HTTP-01 (NSG and Azure load balancer rules named 'acme', public gateway Services beside 443).",
    validate=normalised(validate_https_only),
    enforcement_level=MANDATORY,
)



# ---------------------------------------------------------------- SSH

def ssh_source_problems(sources: list[str]) -> list[str]:
    """Why these SSH sources are too broad (empty: fine): the shared rule, components/serving/rules.py.
    The service tags that stay inside Azure's network (rules.INSIDE_SERVICE_TAGS: VirtualNetwork and
    AzureLoadBalancer), which the gateway policy counts as inside the VNet too, are no reason: what
    VirtualNetwork adds from route tables is judged across the stack (``vnet_tag_ranges``)."""
    return rules.source_range_problems([s for s in sources if not is_inside_tag(s)], SSH_BROADEST_PREFIX)


def is_inside_tag(source: Any) -> bool:
    return str(source).strip().lower() in rules.INSIDE_SERVICE_TAGS


def _inside_only(rule: Any) -> bool:
    """Every source of an NSG rule stays inside the VNet (rules.is_inside_source: VirtualNetwork,
    AzureLoadBalancer, private ranges), as the gateway policy reads it."""
    return all(rules.is_inside_source(source) for source in _address_sources(rule))


def validate_no_public_ssh(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # plain props, a field not known yet read as the worse case (worse_rule): never an advisory in a preview
    rules = [r for r in worse_nsg_rules(args.resource_type, plain(args.props)) if _opens_tcp_port(r, SSH_PORT)]
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
                "from address ranges no broader than an IPv4 /8 (IPv6 /48), one by one and together, or "
                "from inside the VNet (the VirtualNetwork and AzureLoadBalancer tags): never '*', "
                "'Internet', other service tags or 0.0.0.0/0.",
    validate=normalised(validate_no_public_ssh),
    enforcement_level=MANDATORY,
)


# Remote administration ports judged as SSH is, taken together across the stack: RDP and WinRM (HTTP,
# HTTPS). SSH alone is judged rule by rule too (no-public-ssh); these only here, where one resource counts.
ADMIN_PORTS = {SSH_PORT: "SSH", 3389: "RDP", 5985: "WinRM", 5986: "WinRM over HTTPS"}
ROUTE_TABLE = "azure-native:network:RouteTable"
ROUTE = "azure-native:network:Route"


def _resource_key(resource: Any) -> str:
    """A resource's identity in the stack: its URN (type, parent and name), never its name alone,
    which an NSG and a SecurityRule, or two versions of one type, may share."""
    return str(getattr(resource, "urn", None) or
               f"{getattr(resource, 'original_type', None) or resource.resource_type}::{resource.name}")


def vnet_tag_ranges(resources: list[Any]) -> list[str]:
    """What the VirtualNetwork service tag stands for beyond the VNets, as far as the stack shows:
    Microsoft lists 'address prefixes used on user-defined routes' in it
    (learn.microsoft.com/azure/virtual-network/service-tags-overview), so a route table that sends
    0.0.0.0/0 to an appliance makes the tag cover every address. Route tables outside the stack are
    not seen."""
    ranges: list[str] = []
    for resource in resources:
        routes = (items(get(resource.props, "routes")) if resource.resource_type == ROUTE_TABLE
                  else [resource.props] if resource.resource_type == ROUTE else [])
        if is_unknown(get(resource.props, "routes")) or any(is_unknown(r) for r in routes):
            ranges.append("0.0.0.0/0")  # a route not known yet may send anything: the worse case
            continue
        for route in routes:
            prefix = get(route, "addressPrefix")
            if is_unknown(prefix):
                ranges.append("0.0.0.0/0")  # a prefix not known yet: every address
            elif prefix and rules.as_network(prefix) is not None:
                ranges.append(str(prefix))
    return ranges


def _refused_for_ssh(rule: Any) -> bool:
    """A rule that opens SSH to sources no-public-ssh refuses: it reports the rule (a '*' port rule
    from the internet is one problem, not one per administration port)."""
    return _opens_tcp_port(rule, SSH_PORT) and bool(ssh_source_problems(_address_sources(rule)))


def validate_no_public_ssh_in_pieces(args: StackValidationArgs, report: ReportViolation) -> None:
    """The union across resources: 199 SecurityRules with one /8 each pass one by one. For SSH a
    resource that fails on its own is left to ``no-public-ssh``, so each problem is reported once;
    RDP and WinRM (ADMIN_PORTS) are judged here only, one resource alone included (a rule no-public-ssh
    refuses for SSH is left to it, so each rule's problem is reported once). Resources are told
    apart by URN. The VirtualNetwork tag stands for the route prefixes of the stack's route tables."""
    # plain values, a field not known yet read as the worse case (worse_rule, vnet_tag_ranges): an unknown
    # never turns this policy into an advisory "can't run during preview"
    resources = plain_resources(args.resources)
    vnet_ranges = vnet_tag_ranges(resources)
    for port, what in ADMIN_PORTS.items():
        pieces: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        via_vnet = False
        for resource in resources:
            opened = [r for r in worse_nsg_rules(resource.resource_type, resource.props) if _opens_tcp_port(r, port)
                      and not (port != SSH_PORT and _refused_for_ssh(r))]
            sources = [s for rule in opened for s in _address_sources(rule)]
            if not sources:
                continue
            if port == SSH_PORT and ssh_source_problems(sources):
                continue  # no-public-ssh reports it
            if vnet_ranges and any(s.strip().lower() == "virtualnetwork" for s in sources):
                via_vnet = True
                sources = [t for s in sources for t in (vnet_ranges if s.strip().lower() == "virtualnetwork" else [s])]
            pieces[_resource_key(resource)] = sources
            names[_resource_key(resource)] = str(resource.name)
        if port == SSH_PORT and len(pieces) < 2 and not via_vnet:
            continue
        shown = _listed(sorted(names.values()))
        why = (" (the VirtualNetwork tag includes the address prefixes of the stack's route tables: "
               f"{_listed(sorted(set(vnet_ranges)))})" if via_vnet else "")
        for problem in ssh_source_problems([s for sources in pieces.values() for s in sources]):
            report(f"inbound {what} (port {port}) across {len(pieces)} resource{'s' if len(pieces) > 1 else ''} "
                   f"({shown}): {problem}{why}; allow at most a /8 in the whole stack (your own addresses), "
                   "or use Azure Bastion")


no_public_ssh_in_pieces = StackValidationPolicy(
    name="no-public-ssh-across-stack",
    description="The inbound SSH (and RDP, WinRM) sources of every NSG and SecurityRule in the stack, "
                "taken together, cover no more than an IPv4 /8 (IPv6 /48): remote administration cannot be "
                "opened to the world in pieces spread over several rules or security groups.",
    validate=normalised(validate_no_public_ssh_in_pieces),
    enforcement_level=MANDATORY,
)


