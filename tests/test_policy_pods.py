"""Pods of custom resources (fifth review, pack 0.7.0): the labels their controllers add, the pod-level and
defaulting fields of Tekton and Argo, secrets in CI scripts and parameters, ACI security contexts, GPU pools
outside vmSize, admission policies and operator overrides that are not pods, and a linear reading of many
Argo templates. Each finding has a violating and a passing fixture, hand-built."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from pulumi_policy import proxy
from test_shared_rules import TOKEN

from policy.apertus_policies import containers, gateway, images, secrets
from test_policy_hardening import judge, judge_stack

VLLM = "vllm/vllm-openai:v0.11.0"
TOOL = "ghcr.io/org/tool:1.2.3"
SAFE = {"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": False}
HEX_KEY = hashlib.sha256(b"apertus").hexdigest()[:32]  # built at run time: no key-shaped literal here
NS = "llm"


def vllm(**extra: Any) -> dict[str, Any]:
    return {"name": "vllm", "image": VLLM, "args": ["--model", "m", "--port", "9000"], "securityContext": SAFE,
            "resources": {"limits": {"nvidia.com/gpu": 1}}, "ports": [{"name": "api", "containerPort": 9000}], **extra}


def cr(kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None) -> tuple[str, str, Any]:
    return (kind, name, {"metadata": {"name": name, "namespace": NS, **({"labels": labels} if labels else {})},
                         "spec": spec})


def lb(name: str, selector: dict[str, str], target: Any) -> tuple[str, str, Any]:
    return ("kubernetes:core/v1:Service", name, {"metadata": {"name": name, "namespace": NS}, "spec": {
        "type": "LoadBalancer", "selector": selector, "ports": [{"port": 443, "targetPort": target}]}})


ARGO = "kubernetes:argoproj.io/v1alpha1:Workflow"
TASK = "kubernetes:tekton.dev/v1:Task"
TASK_RUN = "kubernetes:tekton.dev/v1:TaskRun"
KNATIVE = "kubernetes:serving.knative.dev/v1:Service"


def exposed(resources: list[tuple[str, str, Any]]) -> list[str]:
    return [m for m in judge_stack(gateway.vllm_behind_gateway_across_stack, resources) if "LoadBalancer" in m]


# ---------------------------------------------------------------- f03: labels of custom resources' pods

SERVE = cr(ARGO, "serve", {"entrypoint": "main", "templates": [
    {"name": "main", "daemon": True, "metadata": {"labels": {"app": "apertus"}}, "container": vllm()}]})
KSVC = cr(KNATIVE, "kv", {"template": {"spec": {"containers": [vllm(ports=[{"containerPort": 9000}])]}}},
          labels={"networking.knative.dev/visibility": "cluster-local"})


def test_a_load_balancer_selecting_an_argo_pod_by_its_templates_or_argos_label_is_refused():
    assert exposed([SERVE, lb("pub", {"app": "apertus"}, "api")])
    assert exposed([SERVE, lb("pub", {"workflows.argoproj.io/workflow": "serve"}, "api")])
    assert exposed([SERVE, lb("pub", {"workflows.argoproj.io/completed": "false"}, 9000)])


def test_a_load_balancer_selecting_a_knative_pod_by_knatives_label_or_port_names_is_refused():
    for target in ("user-port", 8012):
        assert exposed([KSVC, lb("pub", {"serving.knative.dev/service": "kv"}, target)])


def test_a_load_balancer_selecting_other_pods_is_not_taken_for_the_custom_resources():
    assert not exposed([SERVE, lb("pub", {"app": "other"}, "api")])
    assert not exposed([SERVE, lb("pub", {"workflows.argoproj.io/workflow": "another-workflow"}, "api")])
    assert not exposed([KSVC, lb("pub", {"serving.knative.dev/service": "another"}, "user-port")])


# ---------------------------------------------------------------- f04: pod-level fields of CI resources

def gpu_rules(kind: str, spec: dict[str, Any]) -> list[str]:
    return judge(containers.gpu_containers_locked_down, kind, {"metadata": {"name": "r"}, "spec": spec})


def test_tekton_step_template_compute_resources_and_pod_template_are_read():
    assert any("privileged" in m for m in gpu_rules(TASK, {
        "stepTemplate": {"securityContext": {"privileged": True}}, "steps": [{"name": "s", "image": TOOL}]}))
    assert any("requests nvidia.com/gpu" in m for m in gpu_rules(TASK, {"steps": [
        {"name": "train", "image": TOOL, "computeResources": {"limits": {"nvidia.com/gpu": 1}}}]}))
    assert any("hostNetwork" in m for m in gpu_rules(TASK_RUN, {
        "podTemplate": {"hostNetwork": True}, "taskSpec": {"steps": [{"name": "serve", "image": VLLM,
                                                                      "securityContext": SAFE}]}}))
    assert any("requests nvidia.com/gpu" in m for m in gpu_rules(TASK_RUN, {
        "stepSpecs": [{"name": "s", "computeResources": {"limits": {"nvidia.com/gpu": 1}}}],
        "taskSpec": {"steps": [{"name": "s", "image": TOOL}]}}))
    # the step's own value wins over its template's
    assert not gpu_rules(TASK, {"stepTemplate": {"securityContext": {"privileged": True}},
                                "steps": [{"name": "s", "image": TOOL, "securityContext": {"privileged": False}}]})
    assert not gpu_rules(TASK, {"stepTemplate": {"env": [{"name": "A", "value": "b"}]},
                                "steps": [{"name": "s", "image": TOOL, "computeResources": {"limits": {"cpu": 1}}}]})
    assert not gpu_rules(TASK_RUN, {"podTemplate": {"nodeSelector": {"pool": "cpu"}},
                                    "taskSpec": {"steps": [{"name": "s", "image": TOOL}]}})


def test_argo_pod_spec_patch_host_network_and_template_defaults_are_read():
    patch = '{"containers":[{"name":"main","securityContext":{"privileged":true}}]}'
    main = {"name": "main", "container": {"image": TOOL, "command": ["sh", "-c", "id"]}}
    assert any("privileged" in m for m in gpu_rules(ARGO, {"podSpecPatch": patch, "templates": [main]}))
    assert any("privileged" in m for m in gpu_rules(ARGO, {"templates": [{**main, "podSpecPatch": (
        "containers:\n- name: main\n  securityContext:\n    privileged: true\n")}]}))
    assert any("hostNetwork" in m for m in gpu_rules(ARGO, {"hostNetwork": True, "templates": [
        {"name": "main", "containerSet": {"containers": [{"name": "main", "image": VLLM, "securityContext": SAFE}]}}]}))
    assert any("privileged" in m for m in gpu_rules(ARGO, {
        "templateDefaults": {"container": {"securityContext": {"privileged": True}}}, "templates": [main]}))
    for unreadable in ('{"hostNetwork": {{inputs.parameters.h}}}', "[1, 2]", "a: &x [1]\nb: *x\n"):
        assert any("podSpecPatch" in m for m in gpu_rules(ARGO, {"podSpecPatch": unreadable, "templates": [main]}))
    unknown = proxy.UNKNOWN_STRING_VALUE  # a preview: the worse case, reported
    assert any("not known yet" in m for m in gpu_rules(ARGO, {"podSpecPatch": unknown, "templates": [main]}))
    assert any("not known yet" in m for m in gpu_rules(ARGO, {"templates": [main, unknown]}))
    assert not gpu_rules(ARGO, {"podSpecPatch": '{"containers":[{"name":"main","resources":{"limits":{"cpu":"1"}}}]}',
                                "templates": [main]})
    assert not gpu_rules(ARGO, {"templates": [{"name": "main", "containerSet": {"containers": [
        {"name": "a", "image": TOOL}, {"name": "b", "image": TOOL}]}}]})


# ---------------------------------------------------------------- f05: secrets in CI scripts and parameters

def secret_rules(kind: str, spec: dict[str, Any]) -> list[str]:
    return judge(secrets.no_plain_secrets, kind, {"metadata": {"name": "r"}, "spec": spec})


def test_a_token_or_key_in_a_ci_script_or_parameter_is_refused():
    assert secret_rules(TASK, {"steps": [{"name": "s", "image": TOOL,
                                          "script": f"#!/bin/sh\ncurl -H 'Authorization: Bearer {HEX_KEY}' x"}]})
    assert secret_rules(ARGO, {"templates": [{"name": "m", "script": {
        "image": TOOL, "command": ["python"], "source": f"login('{TOKEN}')\n"}}]})
    assert secret_rules(TASK, {"params": [{"name": "hf-token", "default": TOKEN}],
                               "steps": [{"name": "s", "image": TOOL}]})
    assert secret_rules(ARGO, {"arguments": {"parameters": [{"name": "hf", "value": TOKEN}]},
                               "templates": [{"name": "m", "container": {"image": TOOL}}]})


def test_ci_scripts_and_parameters_without_secrets_pass():
    assert not secret_rules(TASK, {"params": [{"name": "model", "default": "swiss-ai/Apertus-8B-Instruct-2509"}],
                                   "steps": [{"name": "s", "image": TOOL, "script": "#!/bin/sh\necho $(params.model)\n"}]})
    assert not secret_rules(ARGO, {"arguments": {"parameters": [{"name": "n", "value": "3"}]},
                                   "templates": [{"name": "m", "script": {"image": TOOL, "source": "print(1)\n"}}]})


# ---------------------------------------------------------------- f11: ACI security contexts

ACI = "azure-native:containerinstance:ContainerGroup"


def aci(context: dict[str, Any], image: str = VLLM) -> dict[str, Any]:
    return {"osType": "Linux", "sku": "Confidential", "containers": [
        {"name": "c", "image": image, "resources": {"requests": {"cpu": 4, "memoryInGB": 16}},
         "securityContext": context}]}


def test_a_privileged_or_capability_adding_aci_container_is_refused():
    assert judge(containers.gpu_containers_locked_down, ACI, aci({"privileged": True}))
    assert judge(containers.gpu_containers_locked_down, ACI, aci({"capabilities": {"add": ["SYS_ADMIN"]}}))
    assert judge(containers.gpu_containers_locked_down, ACI, aci({"capabilities": {"add": ["CHOWN"]}}))
    assert judge(containers.gpu_containers_locked_down, ACI, aci({"capabilities": {"add": ["SYS_ADMIN"]}}, TOOL))


def test_an_aci_container_within_baseline_passes():
    assert not judge(containers.gpu_containers_locked_down, ACI, aci({"capabilities": {"drop": ["ALL"]}}))
    assert not judge(containers.gpu_containers_locked_down, ACI, aci({"capabilities": {"add": ["CHOWN"]}}, TOOL))
    assert not judge(containers.gpu_containers_locked_down, ACI, {"containers": [{"name": "c", "image": VLLM}]})


# ---------------------------------------------------------------- f12: GPU pools beyond vmSize

POOL = "azure-native:containerservice:AgentPool"
CLUSTER = "azure-native:containerservice:ManagedCluster"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"


def vm_pool(size: str, taints: list[str] | None = None) -> dict[str, Any]:
    return {"type": "VirtualMachines", "virtualMachinesProfile": {"scale": {"manual": [{"size": size, "count": 1}]}},
            **({"nodeTaints": taints} if taints else {})}


def node_pool(requirements: list[dict[str, Any]], taints: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "np"}, "spec": {"template": {"spec": {
        "nodeClassRef": {"group": "karpenter.azure.com", "kind": "AKSNodeClass", "name": "default"},
        "requirements": requirements, **({"taints": taints} if taints else {})}}}}


def pools(kind: str, props: dict[str, Any]) -> list[str]:
    return [m for m in judge(containers.gpu_containers_locked_down, kind, props) if "GPU" in m and "taint" in m]


def test_untainted_gpu_sizes_of_virtual_machines_pools_and_karpenter_node_pools_are_refused():
    assert pools(POOL, vm_pool("Standard_NC24ads_A100_v4"))
    assert pools(CLUSTER, {"agentPoolProfiles": [{"name": "gpu", **vm_pool("Standard_NC40ads_H100_v5")}]})
    assert pools(NODE_POOL, node_pool([{"key": "karpenter.azure.com/sku-family", "operator": "In", "values": ["N"]}]))
    assert pools(NODE_POOL, node_pool([{"key": "karpenter.azure.com/sku-gpu-count", "operator": "Gt", "values": ["0"]}]))
    assert pools(NODE_POOL, node_pool([]))  # no requirement keeps GPU sizes out


def test_tainted_or_cpu_only_pools_pass():
    assert not pools(POOL, vm_pool("Standard_NC24ads_A100_v4", ["sku=gpu:NoSchedule"]))
    assert not pools(POOL, vm_pool("Standard_D4s_v5"))
    assert not pools(NODE_POOL, node_pool([{"key": "karpenter.azure.com/sku-family", "operator": "In", "values": ["D"]}]))
    assert not pools(NODE_POOL, node_pool([{"key": "karpenter.azure.com/sku-family", "operator": "In", "values": ["N"]}],
                                          [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]))


# ---------------------------------------------------------------- o1, o2: what is not a pod

KYVERNO = "kubernetes:kyverno.io/v1:ClusterPolicy"
POD_MATCH = {"any": [{"resources": {"kinds": ["Pod"]}}]}


def kyverno(rules_: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"validationFailureAction": "Enforce", "rules": rules_}}


def every_pod_rule(kind: str, props: dict[str, Any]) -> list[str]:
    return judge(images.images_pinned, kind, props) + judge(containers.gpu_containers_locked_down, kind, props)


def test_kyverno_validate_patterns_and_hardening_mutations_are_not_pods():
    assert not every_pod_rule(KYVERNO, kyverno([{"name": "tag", "match": POD_MATCH, "validate": {
        "pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}}}]))
    assert not every_pod_rule(KYVERNO, kyverno([{"name": "gpu", "match": POD_MATCH, "validate": {
        "pattern": {"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "<=1"}}}]}}}}]))
    assert not every_pod_rule(KYVERNO, kyverno([{"name": "drop", "match": POD_MATCH, "mutate": {"patchStrategicMerge": {
        "spec": {"containers": [{"(name)": "*", "securityContext": SAFE}]}}}}]))
    assert not every_pod_rule("kubernetes:templates.gatekeeper.sh/v1:ConstraintTemplate", {"spec": {"targets": [
        {"rego": "package x", "containers": [{"image": "*"}]}]}})


def test_a_kyverno_mutation_that_weakens_pods_or_a_generated_workload_is_still_judged():
    assert every_pod_rule(KYVERNO, kyverno([{"name": "priv", "match": POD_MATCH, "mutate": {"patchStrategicMerge": {
        "spec": {"containers": [{"(name)": "*", "securityContext": {"+(privileged)": True}}]}}}}]))
    generated = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "namespace": NS, "data": {"spec": {
        "template": {"spec": {"containers": [{"name": "v", "image": VLLM, "securityContext": {"privileged": True}}]}}}}}
    assert any("privileged" in m for m in every_pod_rule(KYVERNO, kyverno([
        {"name": "gen", "match": {"any": [{"resources": {"kinds": ["Namespace"]}}]}, "generate": generated}])))


PROMETHEUS = "kubernetes:monitoring.coreos.com/v1:Prometheus"


def test_prometheus_operator_container_overrides_need_no_image_but_are_judged():
    props = {"metadata": {"name": "prom"}, "spec": {"image": "quay.io/prometheus/prometheus:v3.5.0", "containers": [
        {"name": "prometheus", "startupProbe": {"failureThreshold": 120}}]}}
    assert not every_pod_rule(PROMETHEUS, props)
    props["spec"]["containers"].append({"name": "config-reloader", "securityContext": {"privileged": True}})
    assert every_pod_rule(PROMETHEUS, props)
    props["spec"]["containers"][-1] = {"name": "config-reloader", "image": "reloader:latest"}
    assert any("latest" in m for m in judge(images.images_pinned, PROMETHEUS, props))


# ---------------------------------------------------------------- d1: many Argo templates, linear

def test_five_hundred_argo_templates_are_read_in_linear_time():
    spec = {"entrypoint": "t0", "templates": [
        {"name": f"t{i}", "container": {"image": TOOL, "args": ["--step", str(i)], "securityContext": SAFE},
         "sidecars": [{"name": "log", "image": TOOL, "securityContext": SAFE}]}
        for i in range(500)]}
    props = {"metadata": {"name": "pipeline", "namespace": NS}, "spec": spec}
    started = time.process_time()
    found = every_pod_rule("kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", props)
    found += judge(secrets.no_plain_secrets, "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", props)
    assert time.process_time() - started < 1.0
    assert not found
