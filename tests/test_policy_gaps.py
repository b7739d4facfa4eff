"""Gaps a fourth review of the policy pack found (pack 0.7.0): NetworkPolicies open to vLLM, CDI device
requests, unknown ConfigMap data and RuntimeClass handlers, what an internal stack cannot judge, the classic
azure provider, KServe, and three over-blocks. Each case runs the whole pack over hand-built resources
(components.testing.run_policy_pack, as a platform team would) and asserts a violation that names the
resource and why, or that a legitimate configuration passes."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as UNKNOWN

from components.testing import Registered, run_policy_pack
from conftest import ROOT

POLICY_DIR = ROOT / "policy"
ACROSS = "vllm-only-behind-gateway-across-stack"
CLOSED = "closed-when-internal"
GPU = "gpu-containers-drop-capabilities"
HTTPS = "https-only-ingress"
SECRETS = "no-secrets-in-plain-properties"

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
CONTAINER_APP = "azure-native:app:ContainerApp"
ENVIRONMENT = "azure-native:app:ManagedEnvironment"
KEY_VAULT = "azure-native:keyvault:Vault"
INTERNAL = {"apertus-exposure": "internal"}
LOCKED = {"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": False}
CADDY = "caddy:2.10.2@sha256:" + "a" * 64
VLLM_IMAGE = "vllm/vllm-openai:v0.11.0"
INTERNAL_LB = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}


def resource(kind: str, name: str, props: dict[str, Any]) -> Registered:
    return Registered(urn=f"urn:pulumi:dev::team::{kind}::{name}", type=kind, name=name, inputs=props, parent="",
                      custom=True, outputs=props)


def judge(*resources: tuple[str, str, dict[str, Any]], config: dict[str, Any] | None = None) -> list[tuple[str, str, str]]:
    """(policy, resource name, message) of every violation the whole pack reports for these resources;
    serving-host-monitored (no alert rules in a hand-built stack) left out."""
    found = run_policy_pack([resource(*r) for r in resources], config=config, pack_dir=POLICY_DIR)
    return [(v.policy, str(v.resource).rsplit("::", 1)[-1], v.message) for v in found
            if v.policy != "serving-host-monitored"]


def of(found: list[tuple[str, str, str]], policy: str, name: str) -> list[str]:
    return [message for p, n, message in found if p == policy and n == name]


def workload(name: str, containers: list[dict[str, Any]], kind: str = DEPLOYMENT, labels: dict[str, str] | None = None,
             namespace: str = "llm", annotations: dict[str, str] | None = None,
             spec: dict[str, Any] | None = None) -> tuple[str, str, dict[str, Any]]:
    labels = labels or {"app": name}
    template = {"metadata": {"labels": labels, **({"annotations": annotations} if annotations else {})},
                "spec": {"containers": containers, **(spec or {})}}
    body: dict[str, Any] = {"selector": {"matchLabels": labels}, "template": template}
    if kind == "kubernetes:batch/v1:CronJob":
        body = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "kubernetes:batch/v1:Job":
        body = {"template": template}
    elif kind == "kubernetes:core/v1:Pod":
        return kind, name, {"metadata": {"name": name, "namespace": namespace, "labels": labels},
                            "spec": template["spec"]}
    return kind, name, {"metadata": {"name": name, "namespace": namespace}, "spec": body}


def vllm_container(**extra: Any) -> dict[str, Any]:
    return {"name": "vllm", "image": VLLM_IMAGE, "args": ["--model", "m"], "securityContext": LOCKED,
            "resources": {"limits": {"nvidia.com/gpu": 1}}, "ports": [{"name": "http", "containerPort": 8000}],
            **extra}


VLLM = workload("vllm", [vllm_container()])


def network_policy(name: str, ingress: Any, pod_selector: Any = None, namespace: str = "llm",
                   kind: str = NETWORK_POLICY) -> tuple[str, str, dict[str, Any]]:
    selector = {"matchLabels": {"app": "vllm"}} if pod_selector is None else pod_selector
    return kind, name, {"metadata": {"name": name, "namespace": namespace},
                        "spec": {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress}}


# ---------------------------------------------------------------- 1. NetworkPolicies to vLLM

OPEN_RULES = {
    "ipblock-8000": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 8000, "protocol": "TCP"}]}],
    "ipblock-private": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 8000}]}],
    "no-from": [{"ports": [{"port": 8000}]}],
    "empty-peer": [{"from": [{}], "ports": [{"port": "http"}]}],
    "every-namespace": [{"from": [{"namespaceSelector": {}}], "ports": [{"port": 7000, "endPort": 9000}]}],
    "no-ports": [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}],
    "rule-is-empty": [{}],
    "from-unknown": [{"from": UNKNOWN, "ports": [{"port": 8000}]}],
    "port-unknown": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": UNKNOWN}]}],
}


@pytest.mark.parametrize("case", OPEN_RULES)
def test_a_network_policy_open_to_vllms_port_is_refused(case):
    """Inside the cluster too, nothing reaches vLLM but through the gateway: a NetworkPolicy that admits
    an ipBlock, everyone or every namespace to vLLM's port (or every port) is refused, naming it and why."""
    found = judge(VLLM, network_policy("np", OPEN_RULES[case]))
    messages = of(found, ACROSS, "np")
    assert len(messages) == 1 and "vLLM pods of 'vllm'" in messages[0] and "around the gateway" in messages[0], found
    assert [f for f in found if f[1] != "np"] == [], found


def test_a_network_policy_is_matched_by_selector_namespace_and_any_version():
    every_pod = network_policy("all-pods", [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}], pod_selector={})
    expression = network_policy("expr", [{}], pod_selector={"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["vllm", "other"]}]})
    old = network_policy("old", [{}], kind="kubernetes:networking.k8s.io/v1beta1:NetworkPolicy")
    unknown = network_policy("unknown-selector", [{}], pod_selector=UNKNOWN)
    whole = (NETWORK_POLICY, "whole", {"metadata": {"name": "whole", "namespace": "llm"}, "spec": UNKNOWN})
    found = judge(VLLM, every_pod, expression, old, unknown, whole)
    for name in ("all-pods", "expr", "old", "unknown-selector", "whole"):
        assert of(found, ACROSS, name), (name, found)
    assert "ipBlock 0.0.0.0/0" in of(found, ACROSS, "all-pods")[0]


def test_network_policies_that_admit_only_the_gateway_and_agents_pass():
    """What components/k8s_*.py create (the gateway and Prometheus by podSelector, the monitoring add-on's
    scraper by namespace and pod, a default deny) and what a team may add around vLLM pass."""
    gateway = network_policy("from-gateway", [{"from": [{"podSelector": {"matchLabels": {"app": "gateway"}}}],
                                               "ports": [{"port": 8000, "protocol": "TCP"}]}])
    scraper = network_policy("metrics-scrape", [{"from": [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"rsName": "ama-metrics"}}}], "ports": [{"port": 8000, "protocol": "TCP"}]}])
    deny = network_policy("default-deny", None, pod_selector={})
    other_pods = network_policy("web", [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
                                pod_selector={"matchLabels": {"app": "web"}})
    other_namespace = network_policy("elsewhere", [{}], namespace="web")
    not_vllm = network_policy("not-in", [{}], pod_selector={"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["vllm"]}]})
    udp = network_policy("udp", [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 8000, "protocol": "UDP"}]}])
    other_port = network_policy("metrics-port", [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 9400}]}])
    assert judge(VLLM, gateway, scraper, deny, other_pods, other_namespace, not_vllm, udp, other_port) == []


def test_a_network_policy_to_the_gateway_port_of_a_pod_that_runs_vllm_beside_it_passes():
    """The gateway's pods take 443 from the internet (components/k8s_gateway.py); where the gateway runs in
    vLLM's pod, its own port may be admitted, vLLM's may not."""
    pod = workload("vllm", [vllm_container(), {"name": "gateway", "image": CADDY, "securityContext": LOCKED,
                                               "ports": [{"name": "https", "containerPort": 443}]}])
    https = network_policy("https", [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": "https"}]}])
    assert judge(pod, https) == []
    assert of(judge(pod, network_policy("all", [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])), ACROSS, "all")


# ---------------------------------------------------------------- 2. CDI annotations

def test_a_cdi_annotation_makes_every_container_of_the_pod_a_gpu_container():
    """c5_gpu_without_request C5c: NVIDIA_VISIBLE_DEVICES=void does not undo devices the runtime injects."""
    sneaky = workload("sneaky", [{"name": "c", "image": "nvcr.io/nvidia/cuda:12.8.0-base-ubuntu24.04",
                                  "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}]}],
                      annotations={"cdi.k8s.io/gpus": "nvidia.com/gpu=all"})
    messages = of(judge(sneaky), GPU, "sneaky")
    assert any("cdi.k8s.io/gpus" in m and "does not drop ALL" in m for m in messages), messages
    assert any("allowPrivilegeEscalation" in m for m in messages), messages
    locked = copy.deepcopy(sneaky)
    locked[2]["spec"]["template"]["spec"]["containers"][0]["securityContext"] = LOCKED
    assert judge(locked) == []
    plain = copy.deepcopy(sneaky)
    plain[2]["spec"]["template"]["metadata"]["annotations"] = {"team": "ml"}
    assert judge(plain) == []


# ---------------------------------------------------------------- 3. unknown ConfigMap data, RuntimeClass handler

def test_unknown_config_map_data_and_runtime_class_handler_are_the_worse_case():
    runtime = "kubernetes:node.k8s.io/v1:RuntimeClass"
    found = judge(("kubernetes:core/v1:ConfigMap", "env", {"metadata": {"name": "env"}, "data": UNKNOWN}),
                  (runtime, "fast", {"metadata": {"name": "fast"}, "handler": UNKNOWN}))
    assert any("data not known yet" in m and "NVIDIA_VISIBLE_DEVICES" in m for m in of(found, GPU, "env")), found
    assert any("handler not known yet" in m for m in of(found, GPU, "fast")), found
    # known keys whose values are not known yet, a class named for NVIDIA, a known handler: judged, and pass
    assert judge(("kubernetes:core/v1:ConfigMap", "cfg", {"metadata": {"name": "cfg"}, "data": {"Caddyfile": UNKNOWN}}),
                 (runtime, "nvidia-cdi", {"metadata": {"name": "nvidia-cdi"}, "handler": UNKNOWN}),
                 (runtime, "gvisor", {"metadata": {"name": "gvisor"}, "handler": "runsc"})) == []


# ---------------------------------------------------------------- 4. internal stacks

VAULT = (KEY_VAULT, "kv", {"tags": INTERNAL, "properties": {
    "enableRbacAuthorization": True, "enableSoftDelete": True, "enablePurgeProtection": True,
    "publicNetworkAccess": "Disabled"}})
ENV_ID = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/env"


def container_app(environment: Any, external: Any = True) -> tuple[str, str, dict[str, Any]]:
    return CONTAINER_APP, "app", {"managedEnvironmentId": environment, "tags": INTERNAL,
                                  "configuration": {"ingress": {"external": external, "targetPort": 443}},
                                  "template": {"containers": [{"name": "gw", "image": CADDY}]}}


def environment(internal: bool, env_id: Any = ENV_ID) -> tuple[str, str, dict[str, Any]]:
    return ENVIRONMENT, "env", {"id": env_id, "tags": INTERNAL, "vnetConfiguration": {"internal": internal}}


def test_an_arm_template_is_refused_in_an_internal_stack():
    arm = ("azure-native:resources:Deployment", "arm", {"properties": {"mode": "Incremental", "template": {}}})
    assert any("ARM template" in m for m in of(judge(VAULT, arm), CLOSED, "arm"))
    assert judge(arm) == []  # neither internal nor serving vLLM


def test_an_external_container_app_in_an_environment_the_stack_does_not_hold_is_refused():
    """a4_azure_paths A4f: the pack cannot tell whether another stack's environment is internal."""
    elsewhere = "/subscriptions/x/resourceGroups/other/providers/Microsoft.App/managedEnvironments/shared"
    assert any("does not create as an internal environment" in m
               for m in of(judge(VAULT, container_app(elsewhere)), CLOSED, "app"))
    assert of(judge(VAULT, container_app(UNKNOWN)), CLOSED, "app")  # not known yet, no environment it may be
    assert of(judge(VAULT, container_app(UNKNOWN, external=UNKNOWN)), CLOSED, "app")
    # its environment is the stack's (judged itself), or may be an internal one of the stack; or not external
    assert judge(VAULT, environment(True), container_app(ENV_ID)) == []
    assert judge(VAULT, environment(True, UNKNOWN), container_app(UNKNOWN)) == []
    assert judge(VAULT, container_app(elsewhere, external=False)) == []
    external_env = judge(VAULT, environment(False), container_app(ENV_ID))
    assert of(external_env, CLOSED, "env") and not of(external_env, CLOSED, "app"), external_env


# ---------------------------------------------------------------- 5. the classic provider

CLASSIC_EXPOSING = {
    "azure:lb/rule:Rule": "azure-native:network:LoadBalancer",
    "azure:lb/natRule:NatRule": "azure-native:network:LoadBalancer",
    "azure:lb/backendAddressPool:BackendAddressPool": "azure-native:network:LoadBalancer",
    "azure:network/applicationGateway:ApplicationGateway": "azure-native:network:ApplicationGateway",
    "azure:network/firewallNatRuleCollection:FirewallNatRuleCollection": "azure-native:network:AzureFirewall",
    "azure:network/firewallPolicy:FirewallPolicy": "FirewallPolicy",
    "azure:network/networkInterface:NetworkInterface": "azure-native:network:NetworkInterface",
    "azure:containerservice/group:Group": "azure-native:containerinstance:ContainerGroup",
    "azure:containerservice/kubernetesClusterNodePool:KubernetesClusterNodePool": "AgentPool",
    "azure:containerapp/environment:Environment": "azure-native:app:",
    "azure:compute/linuxVirtualMachine:LinuxVirtualMachine": "azure-native:compute:VirtualMachine",
    "azure:compute/windowsVirtualMachineScaleSet:WindowsVirtualMachineScaleSet": "VirtualMachineScaleSet",
    "azure:cdn/frontdoorRoute:FrontdoorRoute": "azure-native:cdn:",
    "azure:frontdoor/frontdoor:Frontdoor": "azure-native:cdn:",
    "azure:apimanagement/service:Service": "azure-native:apimanagement:ApiManagementService",
    "azure:appservice/linuxWebApp:LinuxWebApp": "azure-native:web:WebApp",
}


@pytest.mark.parametrize("token", CLASSIC_EXPOSING)
def test_a_classic_resource_that_can_expose_a_port_is_refused_beside_vllm_and_when_internal(token):
    classic = (token, "classic", {"resourceGroupName": "rg"})
    beside_vllm = of(judge(VLLM, classic), ACROSS, "classic")
    assert len(beside_vllm) == 1 and "classic azure provider" in beside_vllm[0], beside_vllm
    assert CLASSIC_EXPOSING[token] in beside_vllm[0]
    assert of(judge(VAULT, classic), CLOSED, "classic")
    assert judge(classic) == []  # a stack that neither serves vLLM nor is internal


def test_a_classic_resource_that_names_vllm_or_a_gpu_size_is_refused_on_its_own():
    """Without a vLLM pod in the stack, a classic VM of a GPU size, or a rule that names vLLM, may serve it."""
    vm = ("azure:compute/linuxVirtualMachine:LinuxVirtualMachine", "gpu-vm", {"size": "Standard_NC24ads_A100_v4"})
    rule = ("azure:lb/rule:Rule", "to-vllm", {"name": "vllm-api", "backendPort": 8000})
    found = judge(vm, rule)
    assert any("names vLLM or a GPU size" in m for m in of(found, ACROSS, "gpu-vm")), found
    assert of(found, ACROSS, "to-vllm"), found
    assert judge(("azure:compute/linuxVirtualMachine:LinuxVirtualMachine", "web", {"size": "Standard_D4s_v5"})) == []


def test_classic_storage_and_key_vaults_are_refused_in_internal_stacks_only():
    for token in ("azure:storage/account:Account", "azure:keyvault/keyVault:KeyVault",
                  "azure:storage/accountNetworkRules:AccountNetworkRules"):
        classic = (token, "classic", {"resourceGroupName": "rg"})
        assert of(judge(VAULT, classic), CLOSED, "classic"), token
        assert judge(VLLM, classic) == [], token
    # classic resources that open nothing pass beside vLLM and in an internal stack
    for token in ("azure:containerservice/registry:Registry", "azure:storage/container:Container",
                  "azure:compute/virtualMachineExtension:VirtualMachineExtension",
                  "azure:network/virtualNetwork:VirtualNetwork"):
        classic = (token, "classic", {"resourceGroupName": "rg"})
        assert judge(VLLM, VAULT, classic) == [], token


# ---------------------------------------------------------------- 6. KServe

def inference_service(predictor: dict[str, Any], labels: Any = None) -> tuple[str, str, dict[str, Any]]:
    metadata = {"name": "isvc", "namespace": "llm", **({"labels": labels} if labels is not None else {})}
    return ISVC, "isvc", {"metadata": metadata, "spec": {"predictor": predictor}}


GPU_MODEL = {"model": {"modelFormat": {"name": "huggingface"}, "securityContext": LOCKED,
                       "args": ["--model_id=swiss-ai/Apertus-8B-Instruct-2509"],
                       "resources": {"limits": {"nvidia.com/gpu": 1}}}}


def test_a_kserve_inference_service_with_vllm_or_gpus_is_refused_unless_cluster_local():
    found = judge(inference_service(GPU_MODEL))
    assert any("KServe's ingress" in m and "cluster-local" in m for m in of(found, ACROSS, "isvc")), found
    in_containers = {"containers": [vllm_container(name="kserve-container")]}
    assert of(judge(inference_service(in_containers)), ACROSS, "isvc")
    assert of(judge(inference_service(GPU_MODEL, labels={"networking.kserve.io/visibility": UNKNOWN})), ACROSS, "isvc")
    private = {"networking.kserve.io/visibility": "cluster-local"}
    assert judge(inference_service(GPU_MODEL, labels=private)) == []
    assert judge(inference_service(in_containers, labels=private)) == []
    cpu = {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}
    assert judge(inference_service(cpu)) == []


# ---------------------------------------------------------------- 7. over-blocking

def test_a_git_sha_under_a_version_label_is_not_a_key():
    sha = hashlib.sha1(b"release 1.2.3").hexdigest()
    for key in ("version", "app.kubernetes.io/version"):
        assert judge(workload("web", [{"name": "web", "image": CADDY}], labels={"app": "web", key: sha})) == [], key
    # only a SHA's length, and never under a credential's name
    key64 = hashlib.sha256(b"not a sha").hexdigest()
    assert of(judge(workload("web", [{"name": "web", "image": CADDY}], labels={"app": "web", "version": key64})),
              SECRETS, "web")
    assert of(judge(workload("web", [{"name": "web", "image": CADDY}], labels={"app": "web", "api-key-version": sha})),
              SECRETS, "web")


def internal_lb(name: str, selector: Any, port: int = 5432, namespace: str = "llm") -> tuple[str, str, dict[str, Any]]:
    return SERVICE, name, {"metadata": {"name": name, "namespace": namespace, "annotations": INTERNAL_LB},
                           "spec": {"type": "LoadBalancer", "selector": selector, "ports": [{"port": port}]}}


def test_an_internal_load_balancer_for_other_pods_passes_one_for_vllm_or_the_gateway_does_not():
    """o1_overblocking O1d: a team's Postgres behind an internal load balancer is none of the gateway's business."""
    postgres = workload("pg", [{"name": "pg", "image": "postgres:16.4@sha256:" + "b" * 64, "securityContext": LOCKED}], labels={"app": "pg"})
    assert judge(postgres, internal_lb("pg", {"app": "pg"})) == []
    assert judge(VLLM, postgres, internal_lb("pg", {"app": "pg"})) == []
    assert of(judge(VLLM, internal_lb("to-vllm", {"app": "vllm"})), ACROSS, "to-vllm")
    gateway = workload("gateway", [{"name": "gateway", "image": CADDY, "securityContext": LOCKED}])
    assert any("443 only" in m for m in of(judge(gateway, internal_lb("gw", {"app": "gateway"}, 8443)), ACROSS, "gw"))
    assert judge(gateway, internal_lb("gw", {"app": "gateway"}, 443)) == []
    # plain HTTP, or a selector not known yet, stays refused by https-only-ingress on the Service alone
    assert of(judge(postgres, internal_lb("http", {"app": "pg"}, 80)), HTTPS, "http")
    assert of(judge(postgres, internal_lb("unsure", {"app": UNKNOWN})), HTTPS, "unsure")


CONTROLLER_CASES = [
    (DEPLOYMENT, "pod-template-hash", True),
    ("kubernetes:apps/v1:StatefulSet", "pod-template-hash", False),
    ("kubernetes:apps/v1:StatefulSet", "statefulset.kubernetes.io/pod-name", True),
    ("kubernetes:apps/v1:StatefulSet", "apps.kubernetes.io/pod-index", True),
    ("kubernetes:apps/v1:DaemonSet", "controller-revision-hash", True),
    (DEPLOYMENT, "controller-revision-hash", False),
    ("kubernetes:batch/v1:Job", "batch.kubernetes.io/job-name", True),
    ("kubernetes:batch/v1:CronJob", "job-name", True),
    (DEPLOYMENT, "batch.kubernetes.io/controller-uid", False),
    ("kubernetes:core/v1:Pod", "pod-template-hash", False),
    ("kubernetes:apps/v1:ReplicaSet", "pod-template-hash", False),
    ("kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet", "statefulset.kubernetes.io/pod-name", True),
]


@pytest.mark.parametrize("kind,key,matches", CONTROLLER_CASES, ids=[f"{k.rsplit(':', 1)[-1]}-{l}" for k, l, _ in CONTROLLER_CASES])
def test_a_controller_label_matches_only_pods_of_the_kinds_whose_controller_adds_it(kind, key, matches):
    """A NodePort Service on the gateway's port, selecting vLLM's labels plus a label a controller adds:
    it reaches vLLM (which has no gateway in its pod) only where that controller runs the pods."""
    if kind.endswith("LeaderWorkerSet"):  # a custom resource: its operator may create pods any way
        pods = (kind, "vllm", {"metadata": {"name": "vllm", "namespace": "llm"}, "spec": {"leaderWorkerTemplate": {
            "workerTemplate": {"metadata": {"labels": {"app": "vllm"}}, "spec": {"containers": [vllm_container()]}}}}})
    else:
        pods = workload("vllm", [vllm_container()], kind=kind)
    service = (SERVICE, "np", {"metadata": {"name": "np", "namespace": "llm"}, "spec": {
        "type": "NodePort", "selector": {"app": "vllm", key: "x"}, "ports": [{"port": 443, "targetPort": 443}]}})
    found = of(judge(pods, service), ACROSS, "np")
    assert bool(found) == matches, found
    if matches:
        assert "selects the vLLM pods of 'vllm'" in found[0]


# ---------------------------------------------------------------- unknown values in the new readings

def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(value, dict):
        found += [p for key, inner in value.items() for p in _paths(inner, (*path, key))]
    elif isinstance(value, list) and value:
        found += _paths(value[0], (*path, 0))
    return found


def _set(value: Any, path: tuple[Any, ...], new: Any) -> None:
    for step in path[:-1]:
        value = value[step]
    value[path[-1]] = new


UNKNOWN_STACKS = {
    "network policy": [VLLM, network_policy("np", [{"from": [{"podSelector": {"matchLabels": {"app": "gateway"}},
                                                               "namespaceSelector": {"matchLabels": {"a": "b"}}}],
                                                     "ports": [{"port": 8000, "endPort": 8001, "protocol": "TCP"}]}],
                                              pod_selector={"matchLabels": {"app": "vllm"}, "matchExpressions": [
                                                  {"key": "app", "operator": "In", "values": ["vllm"]}]})],
    "cdi pod": [workload("cdi", [{"name": "c", "image": "nvcr.io/nvidia/cuda:12.8.0-base-ubuntu24.04",
                                  "securityContext": LOCKED}], annotations={"cdi.k8s.io/gpus": "nvidia.com/gpu=all"})],
    "inference service": [inference_service(GPU_MODEL, labels={"networking.kserve.io/visibility": "cluster-local"})],
    "internal container app": [VAULT, environment(True), container_app(ENV_ID),
                               ("azure-native:resources:Deployment", "arm", {"properties": {"template": {}}})],
    "classic beside vllm": [VLLM, ("azure:lb/rule:Rule", "rule", {"frontendPort": 443, "backendPort": 8000}),
                            ("azure:compute/linuxVirtualMachine:LinuxVirtualMachine", "vm", {"size": "Standard_NC24ads_A100_v4"})],
    "internal load balancers": [VLLM, workload("gateway", [{"name": "gateway", "image": CADDY, "securityContext": LOCKED}]),
                                internal_lb("pg", {"app": "pg"}), internal_lb("gw", {"app": "gateway"}, 443)],
    "gpu config": [("kubernetes:core/v1:ConfigMap", "env", {"metadata": {"name": "env"}, "data": {"A": "b"}}),
                   ("kubernetes:node.k8s.io/v1:RuntimeClass", "rc", {"metadata": {"name": "rc"}, "handler": "runc"})],
}


@pytest.mark.parametrize("case", UNKNOWN_STACKS)
def test_no_policy_raises_on_an_unknown_in_a_field_the_new_rules_read(case):
    """As tests/test_policy.py does for the older readings: each field of these stacks in turn not known yet
    (a preview); every policy runs (an UnknownValueError would be pulumi-policy's advisory "can't run during
    preview") and raises nothing."""
    judge_with_each_field_unknown(UNKNOWN_STACKS[case])


def judge_with_each_field_unknown(stack: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Every policy over ``stack`` with each field of each resource in turn not known yet: none may raise.
    The resource policies judge the changed resource (the others are as before), the stack policies all."""
    from pulumi_policy import ResourceValidationPolicy

    from components.testing import load_policy_pack
    policies = load_policy_pack(POLICY_DIR).PACK_POLICIES
    per_resource = [policy for policy in policies if isinstance(policy, ResourceValidationPolicy)]
    per_stack = [policy for policy in policies if not isinstance(policy, ResourceValidationPolicy)]
    for index, (kind, name, props) in enumerate(stack):
        for path in _paths(props):
            changed = copy.deepcopy(props)
            _set(changed, path, UNKNOWN)
            run_policy_pack([resource(kind, name, changed)], pack_dir=POLICY_DIR, policies=per_resource)
            run_policy_pack([resource(*r) for r in (*stack[:index], (kind, name, changed), *stack[index + 1:])],
                            pack_dir=POLICY_DIR, policies=per_stack)
