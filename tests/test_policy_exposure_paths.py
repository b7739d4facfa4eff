"""Ways out a fifth review of the policy pack found (pack 0.7.0): Knative Routes, DomainMappings and
Configurations, KServe's LLMInferenceService router, in-cluster installers (Argo Workflows resource templates,
Kyverno generate rules), the public paths of an internal AKS or firewall stack, every ARM deployment type, GPU
VM scale sets, Azure forwarding to a port vLLM listens on besides 8000, and the gateway sidecar in a Knative
pod. Each case runs the whole pack over hand-built resources and asserts a violation that names the resource
and why, and that the legitimate configuration beside it passes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from test_policy_gaps import judge_with_each_field_unknown
from test_policy_gaps import ACROSS, CADDY, CLOSED, INTERNAL, LOCKED, VLLM, judge, of, vllm_container, \
    workload

GATEWAY = "vllm-only-behind-gateway"


# ---------------------------------------------------------------- closed-when-internal: public paths (f07)

RG = ("azure-native:resources:ResourceGroup", "rg", {"tags": INTERNAL})
HARD_CLUSTER = {"tags": INTERNAL, "apiServerAccessProfile": {"enablePrivateCluster": True}}
CLUSTER = "azure-native:containerservice:ManagedCluster"
AGW_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/agw"


def cluster(**extra: Any) -> tuple[str, str, dict[str, Any]]:
    return CLUSTER, "aks", {**HARD_CLUSTER, **extra}


def istio(*gateways: dict[str, Any]) -> dict[str, Any]:
    return {"serviceMeshProfile": {"mode": "Istio", "istio": {"revisions": ["asm-1-25"],
                                                              "components": {"ingressGateways": list(gateways)}}}}


def agic(config: dict[str, Any]) -> dict[str, Any]:
    return {"addonProfiles": {"ingressApplicationGateway": {"enabled": True, "config": config}}}


def app_gateway(public: bool) -> tuple[str, str, dict[str, Any]]:
    frontend = {"name": "fe", **({"publicIPAddress": {"id": "pip"}} if public else
                                 {"privateIPAddress": "10.0.2.10", "privateIPAllocationMethod": "Static"})}
    return "azure-native:network:ApplicationGateway", "agw", {"id": AGW_ID, "tags": INTERNAL,
                                                              "frontendIPConfigurations": [frontend]}


def nginx_controller(annotations: Any) -> tuple[str, str, dict[str, Any]]:
    return ("kubernetes:approuting.kubernetes.azure.com/v1alpha1:NginxIngressController", "nginx",
            {"metadata": {"name": "nginx"}, "spec": {"ingressClassName": "nginx", "controllerNamePrefix": "nginx",
                                                     **({"loadBalancerAnnotations": annotations} if annotations else {})}})


def rule_collection_group(kind: str, action: str) -> tuple[str, str, dict[str, Any]]:
    rule = {"ruleType": "NatRule" if action == "DNAT" else "NetworkRule", "name": "llm", "ipProtocols": ["TCP"],
            "sourceAddresses": ["*"], "destinationAddresses": ["20.1.2.3"], "destinationPorts": ["443"],
            **({"translatedAddress": "10.240.1.10", "translatedPort": "443"} if action == "DNAT" else {})}
    return ("azure-native:network:FirewallPolicyRuleCollectionGroup", "rules", {
        "firewallPolicyName": "hub-policy", "priority": 100, "ruleCollections": [
            {"ruleCollectionType": kind, "name": "c", "priority": 100, "action": {"type": action}, "rules": [rule]}]})


def generic(namespace: str, kind: str) -> tuple[str, str, dict[str, Any]]:
    return "azure-native:resources:Resource", "generic", {
        "resourceGroupName": "rg", "resourceProviderNamespace": namespace, "resourceType": kind,
        "apiVersion": "2024-05-01", "parentResourcePath": "", "resourceName": "x", "properties": {}}


INTERNAL_VIOLATIONS = {
    "istio-external-gateway": ([cluster(**istio({"mode": "External", "enabled": True}))], "aks", "External ingress"),
    "agic-greenfield": ([cluster(**agic({"applicationGatewayName": "agw", "subnetCIDR": "10.225.0.0/16"}))], "aks",
                        "AGIC"),
    "agic-gateway-of-another-stack": ([cluster(**agic({"applicationGatewayId": AGW_ID}))], "aks", "does not hold"),
    "app-routing-controller-public": ([nginx_controller(None)], "nginx", "NginxIngressController"),
    "app-routing-controller-internal-false": ([nginx_controller({
        "service.beta.kubernetes.io/azure-load-balancer-internal": "false"})], "nginx", "public"),
    "firewall-policy-dnat": ([rule_collection_group("FirewallPolicyNatRuleCollection", "DNAT")], "rules", "DNAT"),
    "classic-firewall-dnat": ([("azure-native:network:AzureFirewall", "fw", {"natRuleCollections": [
        {"name": "n", "action": {"type": "Dnat"}, "rules": [{"name": "r", "translatedPort": "443"}]}]})], "fw", "DNAT"),
    "generic-public-ip": ([generic("Microsoft.Network", "publicIPAddresses")], "generic", "public IP"),
    "generic-public-ip-full-type-any-case": ([generic("", "MICROSOFT.NETWORK/PublicIpAddresses")], "generic",
                                             "public IP"),
    "generic-other-type": ([generic("Microsoft.Cdn", "profiles")], "generic", "not judged"),
}


@pytest.mark.parametrize("case", sorted(INTERNAL_VIOLATIONS))
def test_a_public_path_in_an_internal_stack_is_refused(case):
    resources, name, why = INTERNAL_VIOLATIONS[case]
    messages = of(judge(RG, *resources), CLOSED, name)
    assert messages and all(why in m for m in messages[:1]), messages


INTERNAL_PASSING = {
    "istio-internal-gateway": [cluster(**istio({"mode": "Internal", "enabled": True},
                                               {"mode": "External", "enabled": False}))],
    "agic-on-the-stacks-private-gateway": [cluster(**agic({"applicationGatewayId": AGW_ID})), app_gateway(public=False)],
    "app-routing-controller-internal": [nginx_controller({
        "service.beta.kubernetes.io/azure-load-balancer-internal": "true"})],
    "firewall-policy-network-rules": [rule_collection_group("FirewallPolicyFilterRuleCollection", "Allow")],
}


@pytest.mark.parametrize("case", sorted(INTERNAL_PASSING))
def test_the_internal_form_of_each_path_passes(case):
    found = [f for f in judge(RG, *INTERNAL_PASSING[case]) if f[0] == CLOSED]
    assert found == []


def test_agic_on_a_public_gateway_of_the_stack_is_judged_as_that_gateway():
    found = judge(RG, cluster(**agic({"applicationGatewayId": AGW_ID})), app_gateway(public=True))
    assert of(found, CLOSED, "aks") == [] and of(found, CLOSED, "agw")


def test_a_generic_resource_is_refused_in_internal_stacks_only():
    assert of(judge(generic("Microsoft.Network", "publicIPAddresses")), CLOSED, "generic") == []


# ---------------------------------------------------------------- ARM deployments of every type (f08)

TEMPLATE = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0", "resources": []}
ARM_TYPES = {
    "azure-native:resources:Deployment": {"resourceGroupName": "rg", "properties": {"mode": "Incremental",
                                                                                    "template": TEMPLATE}},
    "azure-native:resources:DeploymentAtScope": {"scope": "/subscriptions/s", "properties": {"template": TEMPLATE}},
    "azure-native:resources:DeploymentAtSubscriptionScope": {"properties": {"template": TEMPLATE}},
    "azure-native:resources:DeploymentAtManagementGroupScope": {"groupId": "g", "properties": {"template": TEMPLATE}},
    "azure-native:resources:DeploymentAtTenantScope": {"properties": {"template": TEMPLATE}},
    "azure-native:resources:DeploymentStackAtResourceGroup": {"resourceGroupName": "rg", "template": TEMPLATE},
    "azure-native:resources:DeploymentStackAtSubscription": {"template": TEMPLATE},
    "azure-native:resources/v20240301:DeploymentStackAtManagementGroup": {"template": TEMPLATE},
    "azure:core/resourceGroupTemplateDeployment:ResourceGroupTemplateDeployment": {
        "resourceGroupName": "rg", "deploymentMode": "Incremental", "templateContent": json.dumps(TEMPLATE)},
    "azure:core/subscriptionTemplateDeployment:SubscriptionTemplateDeployment": {"templateContent": "{}"},
    "azure:core/tenantTemplateDeployment:TenantTemplateDeployment": {"templateContent": "{}"},
    "azure:management/groupTemplateDeployment:GroupTemplateDeployment": {"templateContent": "{}"},
}
GPU_SCALE_SET = ("azure-native:compute:VirtualMachineScaleSet", "gpu", {
    "sku": {"name": "Standard_NC24ads_A100_v4", "capacity": 1},
    "virtualMachineProfile": {"osProfile": {"computerNamePrefix": "llm", "adminUsername": "azureuser"}}})


@pytest.mark.parametrize("kind", sorted(ARM_TYPES))
def test_every_arm_deployment_type_is_refused_beside_vllm_and_in_an_internal_stack(kind):
    arm = (kind, "tmpl", ARM_TYPES[kind])
    assert of(judge(VLLM, arm), ACROSS, "tmpl")
    assert of(judge(RG, (kind, "tmpl", {**ARM_TYPES[kind], "tags": INTERNAL})), CLOSED, "tmpl")
    assert of(judge(arm), ACROSS, "tmpl") == [] and of(judge(arm), CLOSED, "tmpl") == []


SCRIPTS = {"azure-native:resources:AzureCliScript": {"azCliVersion": "2.67.0", "kind": "AzureCLI",
                                                       "retentionInterval": "PT1H",
                                                       "scriptContent": "az network public-ip create -g rg -n pip"},
           "azure-native:resources:AzurePowerShellScript": {"azPowerShellVersion": "12.0", "kind": "AzurePowerShell",
                                                            "retentionInterval": "PT1H", "scriptContent": "New-AzPublicIpAddress"}}


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_a_deployment_script_is_refused_beside_vllm_and_in_an_internal_stack(kind):
    # it runs the Azure CLI or PowerShell in Azure: what it creates is never registered, so never judged
    script = (kind, "script", SCRIPTS[kind])
    assert of(judge(VLLM, script), ACROSS, "script")
    assert of(judge(RG, (kind, "script", {**SCRIPTS[kind], "tags": INTERNAL})), CLOSED, "script")
    assert of(judge(script), ACROSS, "script") == [] and of(judge(script), CLOSED, "script") == []


def test_a_gpu_scale_set_or_a_machine_whose_custom_data_runs_vllm_serves_vllm():
    arm = ("azure-native:resources:Deployment", "tmpl", {"resourceGroupName": "rg", "properties": {
        "mode": "Incremental", "templateLink": {"uri": "https://example.blob.core.windows.net/t/main.json"}}})
    assert of(judge(GPU_SCALE_SET, arm), ACROSS, "tmpl")
    script = base64.b64encode(b"#cloud-config\nruncmd:\n  - docker run vllm/vllm-openai:v0.11.0 --model m\n").decode()
    cpu = ("azure-native:compute:VirtualMachineScaleSet", "cpu", {"sku": {"name": "Standard_D4s_v5"},
                                                                  "virtualMachineProfile": {"osProfile": {"customData": script}}})
    assert of(judge(cpu, arm), ACROSS, "tmpl")
    plain_cpu = ("azure-native:compute:VirtualMachineScaleSet", "cpu", {"sku": {"name": "Standard_D4s_v5"}})
    assert of(judge(plain_cpu, arm), ACROSS, "tmpl") == []


# ---------------------------------------------------------------- GPU scale sets with public IPs (f09)

def scale_set(public: bool, size: str = "Standard_NC24ads_A100_v4") -> tuple[str, str, dict[str, Any]]:
    ip = {"name": "ip", **({"publicIPAddressConfiguration": {"name": "pub"}} if public else {})}
    return ("azure-native:compute:VirtualMachineScaleSet", "gpu", {
        "sku": {"name": size, "capacity": 2}, "orchestrationMode": "Flexible", "virtualMachineProfile": {
            "networkProfile": {"networkApiVersion": "2020-11-01", "networkInterfaceConfigurations": [
                {"name": "nic", "primary": True, "ipConfigurations": [ip]}]}}})


def test_a_gpu_scale_set_with_inline_public_ips_is_refused_like_a_gpu_vm():
    assert any("GPU VM scale set declares a public IP inline" in m for m in of(judge(scale_set(True)), ACROSS, "gpu"))
    assert of(judge(scale_set(False)), ACROSS, "gpu") == []
    assert of(judge(scale_set(True, "Standard_D4s_v5")), ACROSS, "gpu") == []


# ---------------------------------------------------------------- in-cluster installers (f06)

MANIFEST = ("apiVersion: v1\nkind: Service\nmetadata: {name: llm-pub, namespace: llm}\n"
            "spec: {type: LoadBalancer, selector: {app: vllm}, ports: [{port: 443, targetPort: 8000}]}\n")


def argo(kind: str, templates: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    spec: dict[str, Any] = {"entrypoint": "main", "templates": templates}
    if kind == "CronWorkflow":
        spec = {"schedule": "0 * * * *", "workflowSpec": spec}
    return f"kubernetes:argoproj.io/v1alpha1:{kind}", "installer", {
        "metadata": {"name": "installer", "namespace": "llm"}, "spec": spec}


def kyverno(rule: dict[str, Any], kind: str = "ClusterPolicy") -> tuple[str, str, dict[str, Any]]:
    return f"kubernetes:kyverno.io/v1:{kind}", "installer", {"metadata": {"name": "installer"}, "spec": {"rules": [
        {"name": "r", "match": {"any": [{"resources": {"kinds": ["Namespace"]}}]}, **rule}]}}


RESOURCE_TEMPLATE = {"name": "main", "resource": {"action": "apply", "manifest": MANIFEST}}
GENERATE = {"generate": {"apiVersion": "v1", "kind": "Service", "name": "llm-pub", "namespace": "llm",
                         "data": {"spec": {"type": "LoadBalancer", "selector": {"app": "vllm"}}}}}
INSTALLERS = {
    **{f"argo-{kind}": argo(kind, [RESOURCE_TEMPLATE])
       for kind in ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")},
    "kyverno-cluster-policy-generate": kyverno(GENERATE),
    "kyverno-policy-generate": kyverno(GENERATE, "Policy"),
}


@pytest.mark.parametrize("case", sorted(INSTALLERS))
def test_an_in_cluster_installer_is_refused_beside_vllm(case):
    assert of(judge(VLLM, INSTALLERS[case]), ACROSS, "installer")
    kind, name, props = INSTALLERS[case]
    other = (kind, name, json.loads(json.dumps(props).replace("vllm", "web")))
    assert of(judge(INSTALLERS[case]), ACROSS, "installer")  # its manifest names vLLM
    assert of(judge(other), ACROSS, "installer") == []  # nothing serves or names vLLM


def test_argo_steps_and_kyverno_validation_beside_vllm_pass():
    step = {"name": "main", "container": {"image": "busybox:1.36.1", "command": ["true"], "securityContext": LOCKED}}
    validate = {"validate": {"message": "m", "pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}}}
    found = judge(VLLM, argo("Workflow", [step]), kyverno(validate))
    assert of(found, ACROSS, "installer") == []


# ---------------------------------------------------------------- Knative Routes, DomainMappings, the gateway (f01, o3)

KNATIVE = "kubernetes:serving.knative.dev/v1"
CLUSTER_LOCAL = {"networking.knative.dev/visibility": "cluster-local"}
GATEWAY_SIDECAR = [{"name": "gateway", "image": CADDY, "ports": [{"containerPort": 8443}], "securityContext": LOCKED},
                   {**vllm_container(args=["--model", "m", "--port", "8001"]), "ports": []}]


def knative(kind: str, name: str, containers: list[dict[str, Any]], labels: dict[str, str] | None = None,
            version: str = "v1") -> tuple[str, str, dict[str, Any]]:
    return f"kubernetes:serving.knative.dev/{version}:{kind}", name, {
        "metadata": {"name": name, "namespace": "llm", **({"labels": labels} if labels else {})},
        "spec": {"template": {"spec": {"containers": containers}}}}


def route(traffic: list[dict[str, Any]], labels: dict[str, str] | None = None) -> tuple[str, str, dict[str, Any]]:
    return f"{KNATIVE}:Route", "route", {"metadata": {"name": "route", "namespace": "llm",
                                                      **({"labels": labels} if labels else {})},
                                         "spec": {"traffic": traffic}}


def domain_mapping(ref: dict[str, Any], version: str = "v1beta1") -> tuple[str, str, dict[str, Any]]:
    return f"kubernetes:serving.knative.dev/{version}:DomainMapping", "llm.example.com", {
        "metadata": {"name": "llm.example.com", "namespace": "llm"}, "spec": {"ref": ref}}


KSVC_REF = {"name": "vllm", "kind": "Service", "apiVersion": "serving.knative.dev/v1"}
KNATIVE_VIOLATIONS = {
    "configuration-and-public-route": ([knative("Configuration", "cfg", [vllm_container()]),
                                        route([{"configurationName": "cfg", "percent": 100}])], "route"),
    "route-to-a-revision": ([knative("Configuration", "cfg", [vllm_container()]),
                             route([{"revisionName": "cfg-00001", "percent": 100}])], "route"),
    "public-route-to-a-cluster-local-service": ([knative("Service", "vllm", [vllm_container()], CLUSTER_LOCAL),
                                                 route([{"configurationName": "vllm", "percent": 100}])], "route"),
    "domain-mapping-to-a-cluster-local-service": ([knative("Service", "vllm", [vllm_container()], CLUSTER_LOCAL),
                                                   domain_mapping(KSVC_REF)], "llm.example.com"),
    "domain-mapping-v1alpha1-to-a-route": ([knative("Configuration", "cfg", [vllm_container()]),
                                            route([{"configurationName": "cfg"}], CLUSTER_LOCAL),
                                            domain_mapping({"name": "route", "kind": "Route",
                                                            "apiVersion": "serving.knative.dev/v1"}, "v1alpha1")],
                                           "llm.example.com"),
    "domain-mapping-to-a-core-service-of-vllm": ([VLLM, ("kubernetes:core/v1:Service", "vllm-svc", {
        "metadata": {"name": "vllm-svc", "namespace": "llm"},
        "spec": {"selector": {"app": "vllm"}, "ports": [{"port": 80, "targetPort": 8000}]}}),
        domain_mapping({"name": "vllm-svc", "kind": "Service", "apiVersion": "v1"})], "llm.example.com"),
    "public-service-where-vllm-declares-the-port": ([knative("Service", "vllm", [
        {**GATEWAY_SIDECAR[0], "ports": []}, vllm_container()])], "vllm"),
    "public-service-gateway-on-vllms-port": ([knative("Service", "vllm", [
        {**GATEWAY_SIDECAR[0], "ports": [{"containerPort": 8001}]}, GATEWAY_SIDECAR[1]])], "vllm"),
    "public-service-two-containers-declare-ports": ([knative("Service", "vllm", [
        GATEWAY_SIDECAR[0], vllm_container()])], "vllm"),
    "knative-ingress-external-split-to-vllm": ([VLLM, ("kubernetes:core/v1:Service", "vllm-svc", {
        "metadata": {"name": "vllm-svc", "namespace": "llm"},
        "spec": {"selector": {"app": "vllm"}, "ports": [{"port": 80, "targetPort": 8000}]}}),
        ("kubernetes:networking.internal.knative.dev/v1alpha1:Ingress", "king", {
            "metadata": {"name": "king", "namespace": "llm"}, "spec": {"rules": [{
                "hosts": ["llm.example.com"], "visibility": "ExternalIP", "http": {"paths": [{"splits": [
                    {"serviceName": "vllm-svc", "serviceNamespace": "llm", "servicePort": 80, "percent": 100}]}]}}]}})],
        "king"),
}


@pytest.mark.parametrize("case", sorted(KNATIVE_VIOLATIONS))
def test_vllm_published_by_knative_is_refused(case):
    resources, name = KNATIVE_VIOLATIONS[case]
    assert of(judge(*resources), ACROSS, name)


KNATIVE_PASSING = {
    "cluster-local-route": [knative("Configuration", "cfg", [vllm_container()]),
                            route([{"configurationName": "cfg"}], CLUSTER_LOCAL)],
    "public-route-to-another-configuration": [knative("Configuration", "cfg", [vllm_container()]),
                                              knative("Configuration", "web", [{"name": "web", "image": CADDY,
                                                                                "securityContext": LOCKED}]),
                                              route([{"configurationName": "web"}])],
    "cluster-local-service-without-mapping": [knative("Service", "vllm", [vllm_container()], CLUSTER_LOCAL)],
    "gateway-sidecar-service": [knative("Service", "vllm", GATEWAY_SIDECAR)],
    "domain-mapping-to-a-gateway-sidecar-service": [knative("Service", "vllm", GATEWAY_SIDECAR, CLUSTER_LOCAL),
                                                    domain_mapping(KSVC_REF)],
    "domain-mapping-to-another-stacks-service": [domain_mapping({**KSVC_REF, "name": "elsewhere"})],
}


@pytest.mark.parametrize("case", sorted(KNATIVE_PASSING))
def test_knative_in_front_of_the_gateway_or_cluster_local_passes(case):
    assert [f for f in judge(*KNATIVE_PASSING[case]) if f[0] in (ACROSS, GATEWAY)] == []


# ---------------------------------------------------------------- KServe LLMInferenceService (f02 C)

def llm_inference_service(router: Any) -> tuple[str, str, dict[str, Any]]:
    spec: dict[str, Any] = {"model": {"uri": "hf://swiss-ai/Apertus-8B-Instruct-2509"},
                            "template": {"containers": [vllm_container(name="main")]}}
    if router is not None:
        spec["router"] = router
    return "kubernetes:serving.kserve.io/v1alpha1:LLMInferenceService", "llm", {
        "metadata": {"name": "llm", "namespace": "llm"}, "spec": spec}


@pytest.mark.parametrize("router", [{"gateway": {}, "route": {}}, {"route": {}},
                                    {"gateway": {"refs": [{"name": "edge", "namespace": "gw"}]}}])
def test_an_llm_inference_service_with_a_router_gateway_or_route_is_refused(router):
    assert any("LLMInferenceService" in m for m in of(judge(llm_inference_service(router)), ACROSS, "llm"))


@pytest.mark.parametrize("router", [None, {"scheduler": {}}])
def test_an_llm_inference_service_without_a_gateway_or_route_passes(router):
    assert of(judge(llm_inference_service(router)), ACROSS, "llm") == []


# ---------------------------------------------------------------- Azure forwarding to any port vLLM listens on (f10)

def container_group(port: int) -> tuple[str, str, dict[str, Any]]:
    return "azure-native:containerinstance:ContainerGroup", "llm", {
        "osType": "Linux", "ipAddress": {"type": "Private", "ports": [{"port": port}]},
        "containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.11.0", "ports": [{"port": port}],
                        "command": ["vllm", "serve", "swiss-ai/Apertus-8B-Instruct-2509", "--port", str(port)]}]}


def layer4_gateway(port: int) -> tuple[str, str, dict[str, Any]]:
    return "azure-native:network:ApplicationGateway", "agw", {
        "backendSettingsCollection": [{"name": "tcp", "port": port, "protocol": "Tcp", "timeout": 60}]}


def dnat(port: int) -> tuple[str, str, dict[str, Any]]:
    return "azure-native:network:FirewallPolicyRuleCollectionGroup", "dnat", {"priority": 100, "ruleCollections": [{
        "ruleCollectionType": "FirewallPolicyNatRuleCollection", "name": "n", "action": {"type": "DNAT"},
        "rules": [{"ruleType": "NatRule", "name": "llm", "translatedAddress": "10.0.3.4", "translatedPort": str(port)}]}]}


def balancer(port: int) -> tuple[str, str, dict[str, Any]]:
    return "azure-native:network:LoadBalancer", "lb", {"loadBalancingRules": [
        {"name": "r", "protocol": "Tcp", "frontendPort": 443, "backendPort": port}]}


@pytest.mark.parametrize("forwarder", [layer4_gateway, dnat, balancer])
def test_azure_forwarding_to_a_port_vllm_listens_on_in_the_stack_is_refused(forwarder):
    name = forwarder(0)[1]
    assert of(judge(container_group(9000), forwarder(9000)), ACROSS, name)
    assert of(judge(VLLM, workload("other", [vllm_container(args=["--model", "m", "--port", "9100"])]),
                    forwarder(9100)), ACROSS, name)
    assert of(judge(container_group(9000), forwarder(443)), ACROSS, name) == []
    assert of(judge(forwarder(9000)), ACROSS, name) == []  # nothing listens on 9000 here


def gpu_vm(docker_line: str) -> tuple[str, str, dict[str, Any]]:
    data = f"#cloud-config\nruncmd:\n  - {docker_line}\n"
    return ("azure-native:compute:VirtualMachine", "gpuvm", {
        "hardwareProfile": {"vmSize": "Standard_NC24ads_A100_v4"},
        "osProfile": {"customData": base64.b64encode(data.encode()).decode()}})


def nsg_opening(port: int, source: str = "198.51.100.0/24") -> tuple[str, str, dict[str, Any]]:
    return ("azure-native:network:NetworkSecurityGroup", "nsg", {"securityRules": [{
        "name": "api", "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourceAddressPrefix": source, "sourcePortRange": "*", "destinationAddressPrefix": "*",
        "destinationPortRange": str(port)}]})


RUN = "docker run -d --gpus all"
IMAGE = "vllm/vllm-openai:v0.11.0 --model m"


@pytest.mark.parametrize("docker_line, port", [
    (f"{RUN} -p 9000:8000 {IMAGE}", 9000),                       # attacker a7: published on 9000
    (f"{RUN} --publish=0.0.0.0:9443:8000/tcp {IMAGE}", 9443),
    (f"{RUN} -p9001-9002:8000-8001 {IMAGE}", 9002),
    (f"{RUN} --network host {IMAGE} --port 9100", 9100),          # the host's network: vLLM's own port
])
def test_an_nsg_rule_opening_a_port_a_vms_vllm_is_published_on_is_refused(docker_line, port):
    # even to one narrow outside range: nothing reaches vLLM except through the gateway
    assert of(judge(gpu_vm(docker_line), nsg_opening(port)), ACROSS, "nsg")


@pytest.mark.parametrize("docker_line, port, source", [
    (f"{RUN} -p 127.0.0.1:9000:8000 {IMAGE}", 9000, "198.51.100.0/24"),  # loopback: through Caddy only
    (f"{RUN} -p 9000:8000 {IMAGE}", 9000, "VirtualNetwork"),             # from inside the VNet
    (f"{RUN} -p 9000:8000 {IMAGE}", 9001, "198.51.100.0/24"),            # another port
    (f"{RUN} -p 9000:8000 caddy:2.10.2 run", 9000, "198.51.100.0/24"),   # not vLLM
])
def test_an_nsg_rule_to_a_port_vllm_is_not_published_on_from_outside_passes_this_rule(docker_line, port, source):
    assert of(judge(gpu_vm(docker_line), nsg_opening(port, source)), ACROSS, "nsg") == []


# ---------------------------------------------------------------- unknown values never raise

UNKNOWN_STACKS = {
    "internal paths": [RG, cluster(**istio({"mode": "External", "enabled": True}),
                                   **agic({"applicationGatewayId": AGW_ID})), app_gateway(public=False),
                       nginx_controller({"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}),
                       rule_collection_group("FirewallPolicyNatRuleCollection", "DNAT"),
                       generic("Microsoft.Network", "publicIPAddresses")],
    "knative": [knative("Service", "vllm", GATEWAY_SIDECAR, CLUSTER_LOCAL),
                route([{"configurationName": "vllm", "revisionName": "vllm-1"}]), domain_mapping(KSVC_REF)],
    "installers and machines": [VLLM, INSTALLERS["argo-CronWorkflow"], INSTALLERS["kyverno-policy-generate"],
                                scale_set(True), llm_inference_service({"gateway": {}})],
    "forwarding": [container_group(9000), layer4_gateway(9000), dnat(9000), balancer(9000),
                   gpu_vm(f"{RUN} -p 9000:8000 {IMAGE}"), nsg_opening(9000)],
}


@pytest.mark.parametrize("case", sorted(UNKNOWN_STACKS))
def test_no_policy_raises_on_an_unknown_in_a_field_these_rules_read(case):
    judge_with_each_field_unknown(UNKNOWN_STACKS[case])


# ---------------------------------------------------------------- tunnels (sixth review, f3)

def tunnel(image: str, annotations: dict[str, str] | None = None) -> tuple[str, str, dict[str, Any]]:
    kind, name, props = workload("tunnel", [{"name": "t", "image": image, "securityContext": LOCKED,
                                             "args": ["tunnel", "--url", "http://vllm.llm.svc:8000"]}])
    if annotations:
        props = {**props, "metadata": {**props["metadata"], "annotations": annotations}}
    return kind, name, props


@pytest.mark.parametrize("image", ["cloudflare/cloudflared:2025.4.0", "ngrok/ngrok:3.19.1",
                                   "docker.io/ngrok/kubernetes-ingress-controller:0.15.0",
                                   "tailscale/tailscale:v1.80.2"])
def test_a_tunnel_client_beside_vllm_is_refused(image):
    # a tunnel publishes what it points at through an outbound connection: no Service or route to follow
    assert of(judge(VLLM, tunnel(image)), ACROSS, "tunnel")
    assert of(judge(tunnel(image)), ACROSS, "tunnel") == []  # a stack without vLLM


def test_a_tailscale_expose_annotation_beside_vllm_is_refused_and_other_images_pass():
    exposed = ("kubernetes:core/v1:Service", "ts", {"metadata": {"name": "ts", "namespace": "llm", "annotations": {
        "tailscale.com/expose": "true"}}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}})
    assert of(judge(VLLM, exposed), ACROSS, "ts")
    assert of(judge(VLLM, tunnel("ghcr.io/org/ingress-controller:1.2.3")), ACROSS, "tunnel") == []
