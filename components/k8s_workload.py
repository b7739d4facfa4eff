"""The Kubernetes objects that serve Apertus on an AKS cluster, from the serving plan.

What runs (namespace ``apertus`` unless the component is named otherwise), and where it is built:
- ``vllm`` Deployment (``k8s_vllm``): the container exactly as ``plan.launch`` describes it, on
  the GPU pool(s); HF token and API key come from Key Vault through the Secrets Store CSI driver
  (workload identity), synced into a Kubernetes Secret that only exists in the cluster, never in
  Pulumi state; the model cache is a PVC on premium Azure Files.
- ``gateway`` (``k8s_gateway``; Caddy, 2 replicas): the only entry point, HTTPS only; forwards only
  GET/POST/HEAD on ``/v1/*`` and ``/health`` (components/gateway.py); ``allowedCidrs`` enforced on 443. Public: a Let's Encrypt certificate
  for the Azure DNS label of its public IP. ``internal``: an internal load balancer on a fixed
  private IP in a subnet of its own, with a certificate for that IP signed by Caddy's own CA
  (``tls internal``), whose root clients must trust.
- ``prometheus`` + KEDA ``ScaledObject`` (``k8s_scaling``; when maxReplicas > minReplicas): scale
  on ``vllm:num_requests_waiting``; the cluster autoscaler then adds GPU nodes for pending pods.
- NVIDIA device plugin DaemonSet in kube-system (``k8s_common``, with the args, labels, scheduling
  and security contexts every part shares), PodDisruptionBudgets, and NetworkPolicies (here:
  default deny; only the entry point and the metrics scraper reach vLLM).

``deploy_workload`` (this module, the entry) registers them all, step by step. Every object is
a pulumi_kubernetes typed ``*Args``; tests dump the recorded inputs as manifests and run
kubernetes-validate (strict) and checkov on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apps import v1 as apps
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.networking import v1 as networking

from .k8s_common import (GATEWAY, PART_OF, PROMETHEUS, VLLM, WorkloadArgs, allow_ingress, device_plugin,
                         object_meta, selector)
from .k8s_gateway import gateway
from .k8s_scaling import autoscaling
from .k8s_vllm import model_cache, model_secrets, vllm_deployment


@dataclass
class Workload:
    entry_service: core.Service
    """The gateway's LoadBalancer Service (public IP, or the internal LB on ``internal_ip``)."""
    deployment: apps.Deployment


def deploy_workload(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> Workload:
    """Register every Kubernetes object; ``opts`` carries the parent and the cluster's provider."""
    namespace = core.Namespace(
        f"{name}-namespace",
        metadata=meta.ObjectMetaArgs(name=args.namespace, labels={
            **PART_OF,
            # vLLM needs root (see k8s_vllm.vllm_container), so 'baseline'; 'restricted' is reported
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted"}),
        opts=opts)
    in_ns = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))
    device_plugin(name, args, opts)
    model_secrets(name, args, in_ns)
    model_cache(name, args, opts, in_ns)
    deployment = vllm_deployment(name, args, in_ns)
    port = args.plan.launch.port
    entry = gateway(name, args, f"{VLLM}.{args.namespace}.svc.cluster.local:{port}", in_ns)
    if args.autoscaled:
        autoscaling(name, args, in_ns)
    network_policies(name, args, in_ns)
    return Workload(entry_service=entry, deployment=deployment)


# Egress. Kubernetes NetworkPolicies match addresses, not host names (FQDN rules need Cilium's own
# CiliumNetworkPolicy toFQDNs, part of AKS's paid Advanced Container Networking Services), so the
# internet is allowed on 443 only, for the pods that need it, minus every private and link-local
# range: the instance metadata service (169.254.169.254, which would hand out the node's identity
# tokens) and Azure's platform address (168.63.129.16) among them. The pods that need it:
# - vllm: the Hugging Face Hub (huggingface.co, and the CDN and Xet storage hosts it redirects
#   downloads to: cdn-lfs*.hf.co, cas-bridge.xethub.hf.co, transfer.xethub.hf.co); Key Vault and
#   Azure Files are reached by the CSI drivers on the node, never from the pod;
# - gateway, public only: Let's Encrypt's ACME API (acme-v02.api.letsencrypt.org); internal uses
#   Caddy's own CA and gets no internet at all.
# Everything else: cluster DNS, and the one pod each talks to.
IMDS = "169.254.169.254/32"  # Azure Instance Metadata Service (learn.microsoft.com/azure/virtual-machines/instance-metadata-service)
AZURE_PLATFORM = "168.63.129.16/32"  # Azure's virtual public IP (learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16)
NOT_INTERNET = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                AZURE_PLATFORM)
CLUSTER_DNS = {"namespace": {"kubernetes.io/metadata.name": "kube-system"},
               "pods": {"k8s-app": "kube-dns"}}  # CoreDNS on AKS


def egress_rules(internet_https: bool, to_pods: list[tuple[str, int]]) -> list[networking.NetworkPolicyEgressRuleArgs]:
    """DNS, 443 to the internet when ``internet_https``, and (app, port) pods in the namespace."""
    cluster_dns = networking.NetworkPolicyPeerArgs(
        namespace_selector=meta.LabelSelectorArgs(match_labels=CLUSTER_DNS["namespace"]),
        pod_selector=meta.LabelSelectorArgs(match_labels=CLUSTER_DNS["pods"]))
    rules = [networking.NetworkPolicyEgressRuleArgs(
        to=[cluster_dns], ports=[networking.NetworkPolicyPortArgs(port=53, protocol="UDP"),
                                 networking.NetworkPolicyPortArgs(port=53, protocol="TCP")])]
    if internet_https:
        rules.append(networking.NetworkPolicyEgressRuleArgs(
            to=[networking.NetworkPolicyPeerArgs(ip_block=networking.IPBlockArgs(
                cidr="0.0.0.0/0", except_=list(NOT_INTERNET)))],
            ports=[networking.NetworkPolicyPortArgs(port=443, protocol="TCP")]))
    for app, port in to_pods:
        rules.append(networking.NetworkPolicyEgressRuleArgs(
            to=[networking.NetworkPolicyPeerArgs(pod_selector=selector(app))],
            ports=[networking.NetworkPolicyPortArgs(port=port, protocol="TCP")]))
    return rules


def network_policies(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> None:
    """Deny all ingress and egress in the namespace, then let only the gateway (and Prometheus)
    reach vLLM, and each pod reach only what it needs (see the table above)."""
    port = args.plan.launch.port
    vllm_sources = [networking.NetworkPolicyPeerArgs(pod_selector=selector(GATEWAY))]
    if args.autoscaled:
        vllm_sources.append(networking.NetworkPolicyPeerArgs(pod_selector=selector(PROMETHEUS)))
    networking.NetworkPolicy(
        f"{name}-default-deny",
        metadata=object_meta("default-deny-ingress", args.namespace),
        spec=networking.NetworkPolicySpecArgs(pod_selector=meta.LabelSelectorArgs(),
                                              policy_types=["Ingress", "Egress"]),
        opts=opts)
    allow_ingress(f"{name}-vllm-ingress", object_meta(f"{VLLM}-ingress", args.namespace, VLLM), VLLM,
                  vllm_sources, port, opts)
    egress = {VLLM: egress_rules(True, []), GATEWAY: egress_rules(not args.internal, [(VLLM, port)])}
    if args.autoscaled:
        egress[PROMETHEUS] = egress_rules(False, [(VLLM, port)])
    for app, rules in egress.items():
        networking.NetworkPolicy(
            f"{name}-{app}-egress", metadata=object_meta(f"{app}-egress", args.namespace, app),
            spec=networking.NetworkPolicySpecArgs(pod_selector=selector(app), policy_types=["Egress"],
                                                  egress=rules),
            opts=opts)
