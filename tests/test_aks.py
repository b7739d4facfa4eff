"""host: aks — the whole program under mocks: Azure resources, and every Kubernetes object it
registers dumped as a manifest and checked by kubernetes-validate (strict) and checkov."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import http.client
import inspect
import ipaddress
import json
import math
import re
import subprocess
import typing
import urllib.error
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from conftest import (
    API_KEY,
    HF_TOKEN,
    LOCATION,
    assert_config_error,
    plain_occurrences,
    run_stack,
    stack_config,
    unwrap,
)

from components import aks, base, containerapp, k8s_common, k8s_gateway, k8s_vllm, k8s_workload, testing, vm
from components.aks import AksGpuClusterArgs
from components.serving import DEFAULT_IMAGE, ConfigError, plan_serving, resolve_model
import tools
from stacks import offline
from vault_access import (assert_vault_is_private_in, assert_vault_is_public_with_purge_protection,
                          dns_ready_urns, run_recording_dependencies)

CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
ROLE = "azure-native:authorization:RoleAssignment"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SKIPS_FILE = Path(__file__).parent / "checkov-skips.yaml"
CUSTOM_KINDS = {"SecretProviderClass", "ScaledObject", "PodMonitor"}  # add-on CRDs: kubernetes-validate has no schema
AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # Microsoft Azure CLI, a first-party public client
CIDR = "203.0.113.0/24"

CONFIGS = {
    # 8B on the cheapest A100 size, autoscaled 1..3, public with an allow-list
    "8b": stack_config("aks", minReplicas=1, maxReplicas=3, allowedCidrs=[CIDR], apiKey=API_KEY),
    # 70B tensor-parallel on a 4 x A100 node, on spot with an on-demand fallback
    "70b": stack_config("aks", model="apertus-70b-instruct", gpu="Standard_NC96ads_A100_v4", spot=True),
    # internal: the API server only from this public range
    "internal": stack_config("aks", internal=True, apiAllowedCidrs=["198.51.100.0/24"]),
}


def expected_plan(name: str):
    config = CONFIGS[name]
    return plan_serving(host="aks", model=resolve_model(config.get("model")), gpu=config.get("gpu"),
                        image=DEFAULT_IMAGE, region=LOCATION, hf_token=True, network_cache=True)


@pytest.fixture(scope="module")
def runs():
    return {name: run_stack(config) for name, config in CONFIGS.items()}


# ---- manifests: recorded inputs of kubernetes:* resources ----

def plain_numbers(value: Any) -> Any:
    """The mocks turn numbers into floats; whole ones go back to ints, None fields are dropped."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: plain_numbers(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [plain_numbers(item) for item in value]
    return value


def manifests(run) -> list[dict]:
    found = []
    for resource in run.resources:
        if not resource.type.startswith("kubernetes:"):
            continue
        _, group_version, kind = resource.type.split(":")
        api_version = group_version.removeprefix("core/")
        body = plain_numbers(unwrap(resource.inputs))
        assert body.get("apiVersion", api_version) == api_version and body.get("kind", kind) == kind
        found.append({"apiVersion": api_version, "kind": kind, **body})
    return found


def objects(run, kind: str, namespace: str | None = None) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in manifests(run) if m["kind"] == kind
            and (namespace is None or m["metadata"].get("namespace") == namespace)}


def pod(run, name: str, kind: str = "Deployment") -> dict:
    return objects(run, kind)[name]["spec"]["template"]["spec"]


def vllm_container(run) -> dict:
    [container] = pod(run, k8s_workload.VLLM)["containers"]
    return container


@pytest.fixture(scope="module")
def manifest_dir(runs, tmp_path_factory) -> Path:
    """Every object of every run, each distinct one once (checkov names objects by kind, namespace
    and name, so a copy would only be scanned again)."""
    root = tmp_path_factory.mktemp("aks-manifests")
    written: set[str] = set()
    for name, run in runs.items():
        folder = root / name
        folder.mkdir()
        for index, manifest in enumerate(manifests(run)):
            text = yaml.safe_dump(manifest, sort_keys=False)
            if text not in written:
                written.add(text)
                (folder / f"{index:02d}-{manifest['kind']}-{manifest['metadata']['name']}.yaml").write_text(text)
    return root


# ---- Azure: cluster, pools, identities ----

def test_cluster_uses_entra_rbac_workload_identity_overlay_cilium_and_managed_add_ons(runs):
    cluster = unwrap(runs["8b"].mocks.one(CLUSTER).inputs)
    assert cluster["disableLocalAccounts"] is True
    assert cluster["aadProfile"]["managed"] is True and cluster["aadProfile"]["enableAzureRBAC"] is True
    assert cluster["oidcIssuerProfile"]["enabled"] is True
    assert cluster["securityProfile"]["workloadIdentity"]["enabled"] is True
    network = cluster["networkProfile"]
    assert (network["networkPlugin"], network["networkPluginMode"]) == ("azure", "overlay")
    assert network["networkPolicy"] == "cilium"  # something must enforce the NetworkPolicies
    # AKS's defaults, set explicitly so the VNet range can be checked against them
    assert (network["podCidr"], network["serviceCidr"], network["dnsServiceIP"]) == (
        "10.244.0.0/16", "10.0.0.0/16", "10.0.0.10")
    workspace = runs["8b"].mocks.one("azure-native:operationalinsights:Workspace")
    assert cluster["addonProfiles"]["omsagent"] == {"enabled": True, "config": {
        "logAnalyticsWorkspaceResourceID": workspace.outputs["id"], "useAADAuth": "true"}}
    assert cluster["addonProfiles"]["azureKeyvaultSecretsProvider"]["enabled"] is True
    assert cluster["workloadAutoScalerProfile"]["keda"]["enabled"] is True
    assert cluster["kubernetesVersion"] == aks.DEFAULT_KUBERNETES_VERSION


def test_system_pool_is_small_zonal_and_autoscaled(runs):
    [system] = unwrap(runs["8b"].mocks.one(CLUSTER).inputs)["agentPoolProfiles"]
    assert system["mode"] == "System" and system["vmSize"] == "Standard_D4ds_v5"
    assert LOCATION == "swedencentral" and system["availabilityZones"] == ["1", "2", "3"]
    assert (system["enableAutoScaling"], system["minCount"], system["maxCount"]) == (True, 2, 3)
    assert "nodeTaints" not in system  # gateway, Prometheus and add-ons run here


def test_system_pool_has_no_zones_in_a_region_without_them():
    # West US has no availability zones ("Azure regions list"); AKS rejects a zonal pool there
    run = run_stack(stack_config("aks", **{"azure-native:location": "westus"}))
    [system] = unwrap(run.mocks.one(CLUSTER).inputs)["agentPoolProfiles"]
    assert "availabilityZones" not in system
    assert aks.system_zones("West US 2") == ["1", "2", "3"] and aks.system_zones("westus") is None


def test_container_insights_sends_to_the_workspace_through_a_data_collection_rule(runs):
    run = runs["8b"]
    workspace = run.mocks.one("azure-native:operationalinsights:Workspace")
    cluster = run.mocks.one(CLUSTER)
    [rule] = [r for r in run.mocks.of_type("azure-native:monitor:DataCollectionRule")
              if r.name.endswith("-container-insights")]  # the other one is managed Prometheus's
    inputs = unwrap(rule.inputs)
    assert inputs["dataCollectionRuleName"] == f"MSCI-{LOCATION}-{cluster.outputs['name']}"
    assert inputs["location"] == LOCATION
    [extension] = inputs["dataSources"]["extensions"]
    assert extension["extensionName"] == "ContainerInsights"
    assert extension["streams"] == ["Microsoft-ContainerInsights-Group-Default"]
    [destination] = inputs["destinations"]["logAnalytics"]
    assert destination["workspaceResourceId"] == workspace.outputs["id"]
    assert inputs["dataFlows"] == [{"streams": ["Microsoft-ContainerInsights-Group-Default"],
                                    "destinations": [destination["name"]]}]
    [link] = [r for r in run.mocks.of_type("azure-native:monitor:DataCollectionRuleAssociation")
              if r.name.endswith("-container-insights-link")]  # the other one is managed Prometheus's
    assert link.inputs["associationName"] == "ContainerInsightsExtension"
    assert link.inputs["resourceUri"] == cluster.outputs["id"]
    assert link.inputs["dataCollectionRuleId"] == rule.outputs["id"]


def test_node_os_upgrades_wait_for_a_weekly_sunday_night_window(runs):
    run = runs["8b"]
    config = unwrap(run.mocks.one("azure-native:containerservice:MaintenanceConfiguration").inputs)
    assert config["configName"] == "aksManagedNodeOSUpgradeSchedule"
    assert config["resourceName"] == run.mocks.one(CLUSTER).outputs["name"]
    window = config["maintenanceWindow"]
    assert window["schedule"] == {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}}
    assert (window["startTime"], window["utcOffset"], window["durationHours"]) == ("02:00", "+00:00", 4)


# ---- Azure: the VNet and the cluster identity that manages it ----

def subnet_named(run, subnet_name: str):
    [subnet] = [r for r in run.mocks.of_type(SUBNET) if r.inputs["subnetName"] == subnet_name]
    return subnet


def test_every_pool_joins_the_node_subnet_of_the_components_vnet(runs):
    for run in runs.values():
        [vnet] = run.mocks.of_type(VNET)
        assert vnet.inputs["addressSpace"]["addressPrefixes"] == [base.DEFAULT_VNET_ADDRESS_SPACE]
        nodes = subnet_named(run, aks.NODE_SUBNET_NAME)
        assert nodes.inputs["virtualNetworkName"] == vnet.outputs["name"]
        assert nodes.inputs["addressPrefix"] == "10.240.0.0/23"  # the range the README documents
        [system] = unwrap(run.mocks.one(CLUSTER).inputs)["agentPoolProfiles"]
        gpu_pools = [unwrap(r.inputs) for r in run.mocks.of_type(POOL)]
        assert gpu_pools and all(pool["vnetSubnetID"] == nodes.outputs["id"] for pool in [system, *gpu_pools])


def test_node_subnet_holds_every_node_the_pod_range_allows_and_overlaps_no_cluster_range(runs):
    run = runs["8b"]
    network = unwrap(run.mocks.one(CLUSTER).inputs)["networkProfile"]
    vnet = ipaddress.ip_network(run.mocks.one(VNET).inputs["addressSpace"]["addressPrefixes"][0])
    nodes = ipaddress.ip_network(subnet_named(run, aks.NODE_SUBNET_NAME).inputs["addressPrefix"])
    pods, services = ipaddress.ip_network(network["podCidr"]), ipaddress.ip_network(network["serviceCidr"])
    assert nodes.subnet_of(vnet)
    assert not vnet.overlaps(pods) and not vnet.overlaps(services) and not pods.overlaps(services)
    assert ipaddress.ip_address(network["dnsServiceIP"]) in services
    # overlay gives every node a /24 of the pod range: that bounds the nodes; Azure keeps 5 per subnet
    assert nodes.num_addresses - 5 >= 2 ** (24 - pods.prefixlen) == aks.MAX_CLUSTER_NODES


@pytest.fixture(scope="module")
def with_dependencies():
    """The 8b stack run again as `pulumi up` would (the cluster-admin wait asks a stand-in, which
    records the kubeconfig it was given), with the URNs each resource waits for, by resource name."""
    dependencies: dict[str, set[str]] = {}
    register = offline.RecordingMonitor.RegisterResource
    asked: list[dict] = []

    def recording(monitor, request):
        dependencies[request.name] = set(request.dependencies)
        if request.provider:  # a provider reference, "<urn>::<id>": the resource waits for it too
            dependencies[request.name].add(request.provider.rsplit("::", 1)[0])
        return register(monitor, request)

    def granted(kubeconfig: dict) -> bool:
        asked.append(kubeconfig)
        return True

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(offline.RecordingMonitor, "RegisterResource", recording)
        patch.setattr(aks, "deploying_for_real", lambda: True)
        patch.setattr(aks, "cluster_admin_granted", granted)
        run = run_stack(CONFIGS["8b"], fresh=True)
    return run, dependencies, asked


def test_cluster_identity_is_user_assigned_and_network_contributor_on_the_node_subnet_first(with_dependencies):
    run, dependencies, _ = with_dependencies
    [identity] = [r for r in run.mocks.of_type(IDENTITY) if r.name == "apertus-cluster-identity"]
    cluster = run.mocks.one(CLUSTER)
    assert unwrap(cluster.inputs)["identity"] == {"type": "UserAssigned",
                                                  "userAssignedIdentities": [identity.outputs["id"]]}
    [nodes] = [r for r in run.mocks.of_type(SUBNET) if r.inputs["subnetName"] == aks.NODE_SUBNET_NAME]
    [role] = [r for r in run.mocks.of_type(ROLE) if r.inputs["scope"] == nodes.outputs["id"]]
    assert role.inputs["roleDefinitionId"].endswith(
        "/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7")  # Network Contributor
    assert aks.NETWORK_CONTRIBUTOR == "4d97b98b-1d4f-4787-a291-c67834d212e7"
    assert role.inputs["principalId"] == identity.outputs["principalId"]
    assert role.inputs["principalType"] == "ServicePrincipal"
    # the role is in place before AKS first uses the identity on the subnet
    assert role.urn in dependencies[cluster.name]


def test_deploying_identity_is_cluster_admin_on_the_cluster_only_and_every_object_waits_for_it(
        with_dependencies):
    run, dependencies, asked = with_dependencies
    cluster = run.mocks.one(CLUSTER)
    [admin] = [r for r in run.mocks.of_type(ROLE) if r.inputs["scope"] == cluster.outputs["id"]]
    # Azure's built-in "Azure Kubernetes Service RBAC Cluster Admin" role id (built-in roles reference)
    assert admin.inputs["roleDefinitionId"].endswith("/roleDefinitions/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")
    deployer = offline._invoke_results()["azure-native:authorization:getClientConfig"]({})
    assert admin.inputs["principalId"] == deployer["objectId"]
    # the mocks sign in as an application (a CI service principal): Azure refuses "User" for it
    assert admin.inputs["principalType"] == "ServicePrincipal"
    # nothing at the resource group, whatever else it holds (a shared group)
    group = run.mocks.one("azure-native:resources:ResourceGroup")
    group_id = f"/subscriptions/{offline.FAKE_SUBSCRIPTION}/resourceGroups/{group.outputs['name']}"
    assert [r.name for r in run.mocks.of_type(ROLE) if r.inputs["scope"] == group_id] == []
    # made once the cluster exists: the cluster does not wait for it
    assert cluster.urn in dependencies[admin.name] and admin.urn not in dependencies[cluster.name]
    # the Kubernetes provider waits for the admin role and for the GPU pools its objects target ...
    [provider] = run.mocks.of_type("pulumi:providers:kubernetes")
    assert {admin.urn, *(pool.urn for pool in run.mocks.of_type(POOL))} <= dependencies[provider.name]
    # ... and its kubeconfig resolves only after the API server was asked whether the role is in effect
    assert asked == [provider_kubeconfig(run)]
    # every Kubernetes object goes through that provider
    assert all(provider.urn in dependencies[r.name]
               for r in run.resources if r.type.startswith("kubernetes:"))


class AdminWaitClock:
    """Stand-ins for the cluster-admin wait: the API server's answers in turn, and a clock the
    sleeps advance."""

    def __init__(self, answers):
        self.answers, self.now, self.sleeps, self.logged = list(answers), 0.0, [], []

    def granted(self, kubeconfig):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    async def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def wait(self, for_real=True) -> str:
        return asyncio.run(aks.await_cluster_admin(
            '{"users": []}', log=self.logged.append,
            warn=lambda message: self.logged.append("WARN " + message), granted=self.granted,
            sleep=self.sleep, clock=lambda: self.now, for_real=lambda: for_real))


def test_kubernetes_objects_wait_until_the_api_server_honours_the_admin_role():
    clock = AdminWaitClock([False, False, True])
    assert clock.wait() == '{"users": []}'
    assert clock.sleeps == [aks.ADMIN_POLL_SECONDS] * 2
    assert len(clock.logged) == 2 and "in effect" in clock.logged[-1]
    # in effect already (every later `pulumi up`): one question, no wait, nothing said
    clock = AdminWaitClock([True])
    clock.wait()
    assert clock.sleeps == [] and clock.logged == []


def test_the_admin_wait_gives_up_with_a_warning_and_never_waits_on_a_cluster_it_cannot_ask():
    clock = AdminWaitClock([False])
    clock.wait()
    assert sum(clock.sleeps) == aks.ADMIN_WAIT_SECONDS == 15 * 60  # three times the documented ~5 min
    assert clock.logged[-1].startswith("WARN ") and "run `pulumi up` again" in clock.logged[-1]
    # no kubelogin, unreachable, no token: the Kubernetes provider reports it, at once
    clock = AdminWaitClock([None])
    clock.wait()
    assert clock.sleeps == [] and clock.logged == []
    # a preview and the offline runs ask nothing
    clock = AdminWaitClock([False])
    clock.wait(for_real=False)
    assert clock.sleeps == [] and clock.answers == [False]


def test_the_offline_runs_are_not_a_real_deployment(runs):
    assert not aks.deploying_for_real()


class ReviewResponse:
    def __init__(self, body: Any):
        self.body = json.dumps(body).encode()

    def read(self, *_):
        return self.body

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return False


def test_the_admin_probe_is_a_self_subject_access_review_with_a_kubelogin_token():
    config = json.loads(aks.kubelogin_kubeconfig(
        base64.b64encode(offline._KUBECONFIG.encode()).decode(), "azurecli", offline.FAKE_TENANT, ""))
    commands, requests = [], []

    def kubelogin(command, **kwargs):
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, json.dumps(
            {"kind": "ExecCredential", "status": {"token": "entra-token"}}), "")

    def urlopen(request, **kwargs):
        requests.append(request)
        return ReviewResponse({"status": {"allowed": True}})

    assert aks.cluster_admin_granted(config, run=kubelogin, urlopen=urlopen) is True
    assert commands == [["kubelogin", *config["users"][0]["user"]["exec"]["args"]]]
    [request] = requests
    assert request.full_url == ("https://aks.example.invalid:443"
                                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert request.get_method() == "POST" and request.get_header("Authorization") == "Bearer entra-token"
    assert json.loads(request.data)["spec"] == {
        "resourceAttributes": {"verb": "create", "resource": "namespaces"}}

    def answering(error):
        def urlopen(request, **kwargs):
            if isinstance(error, BaseException):
                raise error
            return ReviewResponse(error)
        return urlopen

    forbidden = urllib.error.HTTPError("u", 403, "Forbidden", {}, None)
    unauthorized = urllib.error.HTTPError("u", 401, "Unauthorized", {}, None)
    for answer, expected in (({"status": {"allowed": False}}, False), (forbidden, False),
                             (unauthorized, None), (urllib.error.URLError("no route"), None),
                             (TimeoutError(), None)):
        assert aks.cluster_admin_granted(config, run=kubelogin, urlopen=answering(answer)) is expected, answer

    def no_kubelogin(command, **kwargs):
        raise FileNotFoundError(command[0])

    assert aks.cluster_admin_granted(config, run=no_kubelogin, urlopen=urlopen) is None
    assert len(requests) == 1  # nothing sent without a token
    for odd in ([], "yes", {"status": "allowed"}, {"status": {"allowed": "true"}}):
        assert aks.cluster_admin_granted(config, run=kubelogin, urlopen=answering(odd)) is False, odd
    assert aks.cluster_admin_granted(config, run=kubelogin,
                                     urlopen=answering(http.client.BadStatusLine("x"))) is None


def test_the_admin_probe_follows_no_redirect_and_sends_its_token_once(tmp_path):
    """An API server answering 302 to an http:// address: the token is not sent there (urllib's default
    opener would re-send the Authorization header), and the redirect is not an answer."""
    import http.server
    import threading

    seen: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            seen.append((self.path, self.headers.get("Authorization")))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/apis/"):
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{server.server_port}/stolen")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                body = json.dumps({"status": {"allowed": True}}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = {"users": [{"user": {"exec": {"command": "kubelogin", "args": []}}}],
                  "clusters": [{"cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}]}

        def kubelogin(command, **kwargs):
            return subprocess.CompletedProcess(command, 0, json.dumps({"status": {"token": "entra-token"}}), "")

        assert aks.cluster_admin_granted(config, run=kubelogin) is None
    finally:
        server.shutdown()
        server.server_close()
    assert [path for path, _ in seen] == ["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"], seen


def test_one_on_demand_gpu_pool_without_spot(runs):
    [pool] = [unwrap(r.inputs) for r in runs["8b"].mocks.of_type(POOL)]
    assert pool["agentPoolName"] == aks.GPU_POOL and pool["vmSize"] == "Standard_NC24ads_A100_v4"
    assert pool["mode"] == "User" and pool["scaleSetPriority"] == "Regular"
    assert pool["nodeTaints"] == ["sku=gpu:NoSchedule"]
    # 1 GPU per node, TP 1: 1 replica per node; max 3 replicas + 1 for the rolling update's new pod
    assert (pool["enableAutoScaling"], pool["minCount"], pool["maxCount"]) == (True, 1, 4)
    assert "expander" not in (unwrap(runs["8b"].mocks.one(CLUSTER).inputs).get("autoScalerProfile") or {})


def test_spot_pool_first_and_on_demand_fallback_from_zero(runs):
    run = runs["70b"]
    pools = {p["agentPoolName"]: p for p in (unwrap(r.inputs) for r in run.mocks.of_type(POOL))}
    spot, fallback = pools[aks.SPOT_POOL], pools[aks.GPU_POOL]
    assert (spot["scaleSetPriority"], spot["scaleSetEvictionPolicy"], spot["spotMaxPrice"]) == (
        "Spot", "Delete", -1)
    assert (spot["minCount"], spot["maxCount"]) == (1, 2)
    assert fallback["scaleSetPriority"] == "Regular"
    assert (fallback["minCount"], fallback["maxCount"]) == (0, 2)
    for pool in (spot, fallback):
        assert pool["vmSize"] == "Standard_NC96ads_A100_v4" and pool["nodeTaints"] == ["sku=gpu:NoSchedule"]
    # the cluster autoscaler expands the spot pool first, the rest only when spot fails
    assert unwrap(run.mocks.one(CLUSTER).inputs)["autoScalerProfile"]["expander"] == "priority"
    priorities = objects(run, "ConfigMap", "kube-system")["cluster-autoscaler-priority-expander"]["data"]
    ranked = yaml.safe_load(priorities["priorities"])
    assert ranked[max(ranked)] == [f".*{aks.SPOT_POOL}.*"] and ranked[min(ranked)] == [".*"]
    # the pods prefer spot nodes but may land on either pool
    affinity = pod(run, k8s_workload.VLLM)["affinity"]["nodeAffinity"]
    [required] = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert required["matchExpressions"] == [{"key": "kubernetes.azure.com/agentpool", "operator": "In",
                                             "values": [aks.SPOT_POOL, aks.GPU_POOL]}]
    [preferred] = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["preference"]["matchExpressions"] == [
        {"key": "kubernetes.azure.com/scalesetpriority", "operator": "In", "values": ["spot"]}]
    assert run.outputs["gpuQuotaVcpus"] == "StandardNCADSA100v4Family: 192; low-priority (spot): 192"


def parse_taint(text: str) -> dict:
    key_value, effect = text.split(":")
    key, value = key_value.split("=")
    return {"key": key, "value": value, "effect": effect}


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    return any(t.get("key") == taint["key"] and t.get("effect") == taint["effect"] and
               (t.get("operator") == "Exists" or t.get("value") == taint["value"]) for t in tolerations)


@pytest.mark.parametrize("name", ["8b", "70b"])
def test_gpu_pods_tolerate_every_taint_of_the_gpu_pools(runs, name):
    run = runs[name]
    taints = []
    for pool in (unwrap(r.inputs) for r in run.mocks.of_type(POOL)):
        taints += [parse_taint(t) for t in pool["nodeTaints"]]
        if pool["scaleSetPriority"] == "Spot":  # AKS adds this taint to every spot node
            taints.append({"key": "kubernetes.azure.com/scalesetpriority", "value": "spot",
                           "effect": "NoSchedule"})
    plugin = pod(run, "nvidia-device-plugin-daemonset", "DaemonSet")
    for taint in taints:
        assert tolerates(pod(run, k8s_workload.VLLM)["tolerations"], taint), taint
        assert tolerates(plugin["tolerations"], taint), taint
    pools = {p["agentPoolName"] for p in (unwrap(r.inputs) for r in run.mocks.of_type(POOL))}
    [term] = plugin["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    assert set(term["matchExpressions"][0]["values"]) == pools
    assert plugin["containers"][0]["image"].startswith("nvcr.io/nvidia/k8s-device-plugin:v0.18.")


def vllm_identity(run):
    """The Key Vault reader of components/secrets.py, not the cluster's own identity."""
    [identity] = [r for r in run.mocks.of_type(IDENTITY) if r.name == "apertus-secrets-identity"]
    return identity


def test_vllm_identity_is_federated_with_the_service_account(runs):
    run = runs["8b"]
    federation = unwrap(run.mocks.one("azure-native:managedidentity:FederatedIdentityCredential").inputs)
    identity = vllm_identity(run)
    cluster = run.mocks.one(CLUSTER)
    assert federation["resourceName"] == identity.outputs["name"]
    assert federation["issuer"] == cluster.outputs["oidcIssuerProfile"]["issuerURL"]
    assert federation["subject"] == "system:serviceaccount:apertus:vllm"
    assert federation["audiences"] == ["api://AzureADTokenExchange"]
    account = objects(run, "ServiceAccount")["vllm"]
    client_id = account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    assert client_id == identity.outputs["clientId"]
    assert pod(run, k8s_workload.VLLM)["serviceAccountName"] == "vllm"


# ---- Kubernetes: the vLLM workload ----

@pytest.mark.parametrize("name", ["8b", "70b"])
def test_vllm_container_is_the_launch_spec_with_tp_gpus(runs, name):
    plan = expected_plan(name)
    container = vllm_container(runs[name])
    assert container["image"] == plan.launch.image
    assert container["command"] == list(plan.launch.command) and container["args"] == list(plan.launch.args)
    plain_env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert plain_env == plan.launch.env
    assert runs[name].outputs["tensorParallelSize"] == plan.tensor_parallel_size
    resources = container["resources"]
    assert resources["requests"] == resources["limits"]  # Guaranteed QoS
    assert resources["limits"]["nvidia.com/gpu"] == str(plan.tensor_parallel_size)
    assert plan.tensor_parallel_size == {"8b": 1, "70b": 4}[name]
    budget = k8s_vllm.replica_budget(plan.gpu, plan.tensor_parallel_size)
    assert resources["limits"]["cpu"] == str(budget.cpu) and budget.cpu <= plan.gpu.vcpus - 2
    assert resources["limits"]["memory"] == f"{budget.memory_gib}Gi" and budget.memory_gib < plan.gpu.ram_gib


@pytest.mark.parametrize("name", ["8b", "70b"])
def test_probes_come_from_the_launch_spec(runs, name):
    launch = expected_plan(name).launch
    container = vllm_container(runs[name])
    startup = launch.startup_probe()
    for field, probe in (("startupProbe", startup), ("readinessProbe", launch.readiness),
                         ("livenessProbe", launch.liveness)):
        got = container[field]
        assert got["httpGet"] == {"path": "/health", "port": launch.port}
        assert (got["periodSeconds"], got["failureThreshold"], got["timeoutSeconds"]) == (
            probe.period_seconds, probe.failure_threshold, probe.timeout_seconds)
    assert startup.period_seconds * startup.failure_threshold >= launch.startup_window_seconds


def test_shared_memory_only_for_tensor_parallel(runs):
    big = pod(runs["70b"], k8s_workload.VLLM)
    [shm] = [v for v in big["volumes"] if v["name"] == "shm"]
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "shm", "mountPath": "/dev/shm"} in big["containers"][0]["volumeMounts"]
    assert "shm" not in {v["name"] for v in pod(runs["8b"], k8s_workload.VLLM)["volumes"]}


@pytest.mark.parametrize("name", ["8b", "70b"])
def test_vllm_runs_restricted_and_rolls_without_downtime(runs, name):
    deployment = objects(runs[name], "Deployment")[k8s_workload.VLLM]
    spec = deployment["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    context = vllm_container(runs[name])["securityContext"]
    assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"} and context["privileged"] is False
    assert spec["template"]["spec"]["automountServiceAccountToken"] is False
    pdb = objects(runs[name], "PodDisruptionBudget")[k8s_workload.VLLM]["spec"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("name", ["8b", "70b"])
def test_model_cache_is_a_shared_premium_files_volume_at_the_cache_mount(runs, name):
    plan = expected_plan(name)
    claim = objects(runs[name], "PersistentVolumeClaim")["model-cache"]["spec"]
    assert claim["accessModes"] == ["ReadWriteMany"]
    size = int(claim["resources"]["requests"]["storage"].removesuffix("Gi"))
    # the cold-start estimate sizes the share (a larger premium share reads faster), never below
    # what the model needs nor the premium minimum
    smallest = max(plan.cache_size_gib, k8s_common.PREMIUM_FILES_MIN_GIB)
    assert size == plan.cold_start.cache.size_gib >= smallest
    storage_class = objects(runs[name], "StorageClass")[claim["storageClassName"]]
    assert storage_class["provisioner"] == "file.csi.azure.com"
    assert storage_class["parameters"]["skuName"] == "Premium_LRS"
    if storage_class["parameters"].get("protocol") != "nfs":  # public stacks: SMB
        assert "mfsymlinks" in storage_class["mountOptions"]  # the Hugging Face cache is made of symlinks
    mounts = {m["name"]: m["mountPath"] for m in vllm_container(runs[name])["volumeMounts"]}
    assert mounts["model-cache"] == plan.launch.cache_mount
    assert plan.launch.env["HF_HOME"].startswith(plan.launch.cache_mount + "/")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_internal_file_storage_is_key_less_nfs_on_shares_pulumi_makes_behind_a_private_endpoint(runs, name):
    """internal: every Azure Files volume is a static volume on a premium NFS share Pulumi makes, in
    an account closed to public networks and without shared keys, reached through a private endpoint
    whose name resolves in the VNet; the CSI driver provisions nothing, so no AKS identity needs a role
    for it. Public stacks keep premium SMB that the driver provisions, and the built-in class."""
    run = runs[name]
    classes = objects(run, "StorageClass")
    claims = objects(run, "PersistentVolumeClaim")
    if name != "internal":
        used = {claim["spec"]["storageClassName"] for claim in claims.values()}
        assert k8s_gateway.GATEWAY_STORAGE_CLASS in used
        assert all(c["parameters"] == {"skuName": "Premium_LRS"} for c in classes.values())
        assert not run.mocks.of_type(STORAGE_ACCOUNT) and not objects(run, "PersistentVolume")
        return
    assert classes == {}  # nothing for the driver to provision (the built-in classes are SMB with a key)
    [account] = run.mocks.of_type(STORAGE_ACCOUNT)
    settings = unwrap(account.inputs)
    assert settings["kind"] == "FileStorage" and settings["sku"] == {"name": "Premium_LRS"}
    assert settings["publicNetworkAccess"] == "Disabled"
    assert settings["networkRuleSet"]["defaultAction"] == "Deny"
    assert settings["allowSharedKeyAccess"] is False and settings["allowBlobPublicAccess"] is False
    group = run.mocks.one("azure-native:resources:ResourceGroup").outputs["name"]
    shares = {r.inputs["shareName"]: unwrap(r.inputs)
              for r in run.mocks.of_type("azure-native:storage:FileShare")}
    volumes = objects(run, "PersistentVolume")
    assert set(shares) == set(claims) == {k8s_vllm.MODEL_CACHE_CLAIM, k8s_gateway.GATEWAY_DATA_CLAIM}
    for claim_name, claim in claims.items():
        spec = claim["spec"]
        volume = volumes[spec["volumeName"]]["spec"]
        share = shares[claim_name]
        assert share["accountName"] == account.outputs["name"] and share["enabledProtocols"] == "NFS"
        assert spec["storageClassName"] == "" == volume["storageClassName"]  # never the cluster's default
        assert volume["claimRef"] == {"namespace": claim["metadata"]["namespace"], "name": claim_name}
        assert volume["persistentVolumeReclaimPolicy"] == "Retain"  # the share is Pulumi's to delete
        assert volume["csi"]["driver"] == "file.csi.azure.com"
        assert volume["csi"]["volumeAttributes"] == {
            "resourceGroup": group, "storageAccount": account.outputs["name"], "shareName": claim_name,
            "protocol": "nfs"}
        assert spec["accessModes"] == volume["accessModes"] == ["ReadWriteMany"]
        assert spec["resources"]["requests"]["storage"] == volume["capacity"]["storage"] \
            == f"{int(share['shareQuota'])}Gi"
        assert not {"mfsymlinks", "uid=0", "dir_mode=0755"} & set(volume["mountOptions"])
    # premium shares start at 100 GiB: the gateway's small volume asks for that much
    assert shares[k8s_gateway.GATEWAY_DATA_CLAIM]["shareQuota"] == k8s_common.PREMIUM_FILES_MIN_GIB
    assert shares[k8s_vllm.MODEL_CACHE_CLAIM]["shareQuota"] == k8s_vllm.model_cache_gib(expected_plan("8b"))
    # the account's endpoint sits in the endpoints subnet; its name resolves through the file zone
    [endpoint] = [r for r in run.mocks.of_type("azure-native:network:PrivateEndpoint")
                  if r.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"]
                  == account.outputs["id"]]
    assert endpoint.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["file"]
    [subnet] = [r for r in run.mocks.of_type(SUBNET) if r.outputs["id"] == endpoint.inputs["subnet"]["id"]]
    assert subnet.inputs["subnetName"] == aks.ENDPOINT_SUBNET_NAME
    [zone] = [r for r in run.mocks.of_type("azure-native:privatedns:PrivateZone")
              if r.inputs["privateZoneName"] == "privatelink.file.core.windows.net"]
    assert [r for r in run.mocks.of_type("azure-native:privatedns:VirtualNetworkLink")
            if r.inputs["privateZoneName"] == zone.outputs["name"]
            and r.inputs["virtualNetwork"]["id"] == run.mocks.one(VNET).outputs["id"]]
    [zone_group] = [r for r in run.mocks.of_type("azure-native:network:PrivateDnsZoneGroup")
                    if r.inputs["privateEndpointName"] == endpoint.outputs["name"]]
    assert [c["privateDnsZoneId"] for c in zone_group.inputs["privateDnsZoneConfigs"]] == [zone.outputs["id"]]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_cluster_identity_holds_network_contributor_on_the_subnets_it_uses_and_nothing_else(runs, name):
    """The node subnet, and the internal load balancer's with internal: true ("AKS service permissions
    reference": subnets/read and subnets/join/action on the subnets); nothing on the VNet (so not on
    the private endpoints' subnet), the resource group or a DNS zone: Pulumi makes the endpoints and zones."""
    run = runs[name]
    [identity] = [r for r in run.mocks.of_type(IDENTITY) if r.name == "apertus-cluster-identity"]
    held = [r for r in run.mocks.of_type(ROLE) if r.inputs["principalId"] == identity.outputs["principalId"]]
    subnets = {r.outputs["id"]: r.inputs["subnetName"] for r in run.mocks.of_type(SUBNET)}
    used = [aks.NODE_SUBNET_NAME, aks.GATEWAY_SUBNET_NAME] if name == "internal" else [aks.NODE_SUBNET_NAME]
    assert sorted((subnets.get(r.inputs["scope"]), r.inputs["roleDefinitionId"].rsplit("/", 1)[1]) for r in held) \
        == sorted((subnet, aks.NETWORK_CONTRIBUTOR) for subnet in used)
    assert run.mocks.one(VNET).outputs["id"] not in {r.inputs["scope"] for r in run.mocks.of_type(ROLE)}


def test_internal_api_server_takes_only_the_allowed_ranges(runs):
    profile = unwrap(runs["internal"].mocks.one(CLUSTER).inputs).get("apiServerAccessProfile")
    assert profile == {"authorizedIPRanges": ["198.51.100.0/24"]}
    # every aks stack limits it now (issue 15.2: apiAllowedCidrs, apiPrivate or apiPublic is required)
    assert unwrap(runs["8b"].mocks.one(CLUSTER).inputs)["apiServerAccessProfile"] == profile


def test_a_public_stack_may_limit_its_api_server_too():
    run = run_stack(stack_config("aks", apiAllowedCidrs=["203.0.113.7", "198.51.100.0/24"]))
    profile = unwrap(run.mocks.one(CLUSTER).inputs)["apiServerAccessProfile"]
    assert profile["authorizedIPRanges"] == ["203.0.113.7/32", "198.51.100.0/24"]


def test_vault_has_purge_protection_and_stays_public_when_not_internal(runs):
    assert_vault_is_public_with_purge_protection(runs["8b"])


def test_internal_vault_is_private_and_kubernetes_objects_wait_for_its_dns_and_the_shares(monkeypatch):
    run, dependencies = run_recording_dependencies(monkeypatch, CONFIGS["internal"])
    # the cluster identity's roles on both subnets exist before the cluster (the run is reused for this)
    [identity] = [r for r in run.mocks.of_type(IDENTITY) if r.name == "apertus-cluster-identity"]
    roles = {r.urn for r in run.mocks.of_type(ROLE) if r.inputs["principalId"] == identity.outputs["principalId"]}
    assert len(roles) == 2 and roles <= dependencies[run.mocks.one(CLUSTER).name]
    endpoint = assert_vault_is_private_in(run, run.mocks.one(VNET))
    [subnet] = [r for r in run.mocks.of_type(SUBNET) if r.outputs["id"] == endpoint.inputs["subnet"]["id"]]
    assert subnet.inputs["subnetName"] == aks.ENDPOINT_SUBNET_NAME
    # the vLLM pods read the vault through the CSI driver: every Kubernetes object waits for the DNS
    [provider] = run.mocks.of_type("pulumi:providers:kubernetes")
    assert dns_ready_urns(run) and dns_ready_urns(run) <= dependencies[provider.name]
    # ... and for the NFS shares, their endpoint and its name in the VNet
    files = {r.urn for r in run.resources if r.name.startswith("apertus-") and r.name.endswith(
        ("-share", "-files-endpoint", "-files-dns-link", "-files-dns-group"))}
    assert len(files) == 5 and files <= dependencies[provider.name]


def test_70b_cache_is_larger_than_the_premium_minimum():
    assert expected_plan("70b").cache_size_gib > k8s_common.PREMIUM_FILES_MIN_GIB


def test_secrets_reach_vllm_from_key_vault_through_the_csi_driver(runs):
    run = runs["8b"]
    launch = expected_plan("8b").launch
    identity = vllm_identity(run)
    vault = run.mocks.one("azure-native:keyvault:Vault")
    provider_class = objects(run, "SecretProviderClass")["model-secrets"]["spec"]
    parameters = provider_class["parameters"]
    assert parameters["usePodIdentity"] == "false" and parameters["clientID"] == identity.outputs["clientId"]
    assert parameters["keyvaultName"] == vault.outputs["name"]
    assert parameters["tenantId"] == offline.FAKE_TENANT
    listed = [yaml.safe_load(item)["objectName"] for item in yaml.safe_load(parameters["objects"])["array"]]
    assert sorted(listed) == sorted(launch.secret_env.values())
    [synced] = provider_class["secretObjects"]
    assert {d["key"] for d in synced["data"]} == set(launch.secret_env.values())
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in vllm_container(run)["env"] if "valueFrom" in e}
    assert refs == {var: {"name": synced["secretName"], "key": secret}
                    for var, secret in launch.secret_env.items()}
    [csi] = [v["csi"] for v in pod(run, k8s_workload.VLLM)["volumes"] if "csi" in v]
    assert csi["driver"] == "secrets-store.csi.k8s.io"
    assert csi["volumeAttributes"] == {"secretProviderClass": "model-secrets"}
    assert "Secret" not in {m["kind"] for m in manifests(run)}  # no Secret object ever passes through Pulumi


@pytest.mark.parametrize("name", list(CONFIGS))
def test_no_secret_value_in_a_plain_property(runs, name):
    run = runs[name]
    api_key = run.outputs["apiKey"]
    for value in (HF_TOKEN, api_key):
        assert plain_occurrences(run.resources, value) == [], value
    assert "apiKey" in run.secret_outputs


def test_configured_api_key_is_what_vllm_gets_and_stays_secret(runs):
    run = runs["8b"]
    assert run.outputs["apiKey"] == API_KEY
    [secret] = [r for r in run.mocks.of_type("azure-native:keyvault:Secret")
                if r.inputs["secretName"] == "api-key"]
    assert unwrap(secret.inputs["properties"])["value"] == API_KEY


def deployer_assignments(run) -> list:
    deployer = offline._invoke_results()["azure-native:authorization:getClientConfig"]({})
    return [r for r in run.mocks.of_type(ROLE) if r.inputs["principalId"] == deployer["objectId"]]


CI_APP_ID = "0f3e5d7c-1111-4222-8333-944455556666"  # a CI app registration / managed identity


@pytest.mark.parametrize("client_id,override,expected", [
    (AZURE_CLI_APP_ID, None, "User"),  # `az login` as a person
    (CI_APP_ID, None, "ServicePrincipal"),  # Azure refuses "User" for it (UnmatchedPrincipalType)
    (AZURE_CLI_APP_ID, "Group", "Group"),  # the key wins over detection
])
def test_every_role_assignment_to_the_deployer_names_its_principal_type(monkeypatch, client_id, override,
                                                                      expected):
    monkeypatch.setattr(testing, "DEPLOYER_CLIENT_ID", client_id)  # where _invoke_results reads it
    run = run_stack(stack_config("aks", deployerPrincipalType=override))
    found = deployer_assignments(run)
    assert found and all(r.inputs.get("principalType") == expected for r in found), \
        [(r.name, r.inputs.get("principalType")) for r in found]
    # and every other assignment in the stack is to a managed identity, typed as such
    others = [r for r in run.mocks.of_type(ROLE) if r not in found]
    assert others and all(r.inputs["principalType"] == "ServicePrincipal" for r in others)


def test_principal_type_follows_the_client_a_person_signs_in_with():
    assert aks.deployer_principal_type(AZURE_CLI_APP_ID.upper()) == "User"
    assert aks.deployer_principal_type("1950a258-227b-4e31-a9cf-717495945fc2") == "User"  # Azure PowerShell
    assert aks.deployer_principal_type(CI_APP_ID) == "ServicePrincipal"
    # what Azure's PrincipalType takes (Microsoft.Authorization role assignments API)
    assert set(aks.DEPLOYER_PRINCIPAL_TYPES) <= {t.value for t in aks.authorization.PrincipalType}


def provider_kubeconfig(run) -> dict:
    [provider] = run.mocks.of_type("pulumi:providers:kubernetes")
    return json.loads(unwrap(provider.inputs["kubeconfig"]))


KUBELOGIN_EXTRA_ARGS = {
    "azurecli": [],
    "spn": ["--client-id", "CLIENT", "--tenant-id", offline.FAKE_TENANT],
    "workloadidentity": ["--client-id", "CLIENT", "--tenant-id", offline.FAKE_TENANT],
    "msi": ["--client-id", "CLIENT"],
}


@pytest.mark.parametrize("mode", ["azurecli", "spn"])
def test_kubernetes_provider_signs_in_through_kubelogin_on_every_use(mode):
    extra = KUBELOGIN_EXTRA_ARGS[mode]
    run = run_stack(stack_config("aks", kubeloginMode=mode))
    [provider] = run.mocks.of_type("pulumi:providers:kubernetes")
    # an unreachable cluster must fail the run, never silently drop every object from state
    assert not provider.inputs.get("deleteUnreachable")
    config = provider_kubeconfig(run)
    # server and CA come from the user kubeconfig AKS hands out
    offline_cluster = yaml.safe_load(offline._KUBECONFIG)["clusters"][0]["cluster"]
    assert config["clusters"][0]["cluster"]["server"] == offline_cluster["server"]
    [user] = config["users"]
    assert set(user["user"]) == {"exec"}  # no token, no client key or certificate
    plugin = user["user"]["exec"]
    assert plugin["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert plugin["command"] == "kubelogin"
    client_id = offline.DEPLOYER_CLIENT_ID
    assert plugin["args"] == ["get-token", "--login", mode, "--server-id",
                              "6dae42f8-4368-4678-94ff-3960e28e3630",
                              *[client_id if arg == "CLIENT" else arg for arg in extra]]
    assert plugin["interactiveMode"] == "Never"
    # no Entra token is fetched at deploy time, so none can land in state
    assert not [token for token, _ in run.mocks.calls if token.endswith(":getClientToken")]


@pytest.mark.parametrize("mode", ["workloadidentity", "msi"])
def test_every_kubelogin_mode_names_what_it_signs_in_as(mode):
    source = base64.b64encode(offline._KUBECONFIG.encode()).decode()
    config = json.loads(aks.kubelogin_kubeconfig(source, mode, offline.FAKE_TENANT, "app-id"))
    args = config["users"][0]["user"]["exec"]["args"]
    assert args[:5] == ["get-token", "--login", mode, "--server-id", aks.AKS_AAD_SERVER_APP_ID]
    assert args[5:] == [("app-id" if arg == "CLIENT" else arg) for arg in KUBELOGIN_EXTRA_ARGS[mode]]
    # a system-assigned identity may report no client id: kubelogin then finds it itself
    assert "--client-id" not in json.loads(aks.kubelogin_kubeconfig(source, mode, offline.FAKE_TENANT, ""))[
        "users"][0]["user"]["exec"]["args"]


def test_offline_kubeconfig_token_is_not_passed_on(runs):
    assert "offline" not in json.dumps(provider_kubeconfig(runs["8b"])["users"])


# ---- scaling ----

def test_queue_depth_autoscaling_through_keda_and_an_in_cluster_prometheus(runs):
    run = runs["8b"]
    deployment = objects(run, "Deployment")
    assert "replicas" not in deployment[k8s_workload.VLLM]["spec"]  # KEDA's HPA owns the count
    scaler = objects(run, "ScaledObject")[k8s_workload.VLLM]["spec"]
    assert scaler["scaleTargetRef"] == {"name": k8s_workload.VLLM}
    assert (scaler["minReplicaCount"], scaler["maxReplicaCount"]) == (1, 3)
    [trigger] = scaler["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["query"] == "sum(vllm:num_requests_waiting)"
    assert trigger["metadata"]["threshold"] == str(aks.DEFAULT_QUEUE_DEPTH_TARGET)
    assert trigger["metadata"]["serverAddress"] == "http://prometheus.apertus.svc.cluster.local:9090"
    assert "prometheus" in objects(run, "Service") and "prometheus" in deployment
    # Prometheus discovers every ready vLLM pod through the headless Service
    scrape = yaml.safe_load(objects(run, "ConfigMap")["prometheus-config"]["data"]["prometheus.yml"])
    [job] = scrape["scrape_configs"]
    assert job["dns_sd_configs"][0]["names"] == ["vllm-metrics.apertus.svc.cluster.local"]
    assert job["dns_sd_configs"][0]["port"] == 8000 and job["metrics_path"] == "/metrics"
    headless = objects(run, "Service")["vllm-metrics"]["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["selector"].items() <= deployment[k8s_workload.VLLM]["spec"]["template"]["metadata"][
        "labels"].items()
    behavior = scaler["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert behavior["stabilizationWindowSeconds"] >= 600  # longer than a replica takes to load


def test_fixed_replicas_have_no_autoscaler(runs):
    run = runs["70b"]
    assert objects(run, "Deployment")[k8s_workload.VLLM]["spec"]["replicas"] == 1
    assert not objects(run, "ScaledObject") and "prometheus" not in objects(run, "Deployment")


def test_queue_depth_target_is_configurable():
    run = run_stack(stack_config("aks", maxReplicas=2, queueDepthTarget=12))
    [trigger] = objects(run, "ScaledObject")[k8s_workload.VLLM]["spec"]["triggers"]
    assert trigger["metadata"]["threshold"] == "12"


def test_explicit_gpu_node_bounds_are_used():
    run = run_stack(stack_config("aks", maxReplicas=2, gpuNodesMin=0, gpuNodesMax=2))
    [pool] = [unwrap(r.inputs) for r in run.mocks.of_type(POOL)]
    assert (pool["minCount"], pool["maxCount"], pool["count"]) == (0, 2, 0)


# ---- entry point and network policy ----

def assert_forwards_only_the_api(caddyfile: str, allowed: str | None) -> None:
    """The site ends in one `route` (Caddy keeps its order): allow-list first, then 400 for an
    unsafe raw target, then /v1/* and /health to vLLM, 404 for the rest (/metrics, /tokenize ...).
    tests/test_gateway.py runs these files in Caddy against traversal attempts."""
    deny = f"\t@outside not remote_ip {allowed}\n" if allowed else ""
    tail = caddyfile[caddyfile.index("\t@"):]
    assert re.fullmatch(
        re.escape(deny) + r"\t@unsafe expression `\{http\.request\.orig_uri\}\.matches\(r\"[^\n]*\"\)`\n"
        + re.escape("\t@api {\n\t\tpath_regexp ^(/v1/.*|/health)$\n\t\tmethod GET POST HEAD\n\t}\n\troute {\n"
                    + ("\t\trespond @outside 403\n" if allowed else "")
                    + '\t\trespond @unsafe "bad request" 400\n'
                    + "\t\treverse_proxy @api vllm.apertus.svc.cluster.local:8000\n"
                    + '\t\trespond "not found" 404\n\t}\n}\n'), tail), tail
    if not allowed:
        assert "remote_ip" not in caddyfile


def test_https_gateway_on_the_azure_dns_name_forwards_only_the_api(runs):
    run = runs["8b"]
    service = objects(run, "Service")["gateway"]
    label = service["metadata"]["annotations"]["service.beta.kubernetes.io/azure-dns-label-name"]
    fqdn = f"{label}.{LOCATION}.cloudapp.azure.com"
    assert run.outputs["endpoint"] == f"https://{fqdn}/v1"
    assert service["spec"]["type"] == "LoadBalancer" and service["spec"]["externalTrafficPolicy"] == "Local"
    assert {p["port"] for p in service["spec"]["ports"]} == {80, 443}
    caddyfile = objects(run, "ConfigMap")["gateway-config"]["data"]["Caddyfile"]
    assert f"\n{fqdn} {{\n" in caddyfile
    assert_forwards_only_the_api(caddyfile, CIDR)
    open_to_all = objects(runs["70b"], "ConfigMap")["gateway-config"]["data"]["Caddyfile"]
    assert_forwards_only_the_api(open_to_all, None)
    assert objects(run, "Service")["vllm"]["spec"]["type"] == "ClusterIP"
    assert "tls internal" not in caddyfile  # a publicly trusted certificate
    gateway = pod(run, "gateway", "StatefulSet")
    assert gateway["securityContext"]["runAsNonRoot"] is True
    assert gateway["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("name", ["8b", "internal"])
def test_gateway_replicas_share_their_certificates_and_start_one_after_the_other(runs, name):
    run = runs[name]
    spec = objects(run, "StatefulSet")["gateway"]["spec"]
    assert spec["replicas"] == 2
    # the second replica waits until the first has created the CA / ACME account on the empty volume
    assert spec["podManagementPolicy"] == "OrderedReady"
    data = objects(run, "PersistentVolumeClaim")["gateway-data"]["spec"]
    assert data["accessModes"] == ["ReadWriteMany"]
    [volume] = [v for v in spec["template"]["spec"]["volumes"] if v["name"] == "data"]
    assert volume["persistentVolumeClaim"]["claimName"] == "gateway-data"
    [container] = spec["template"]["spec"]["containers"]
    assert {"name": "XDG_DATA_HOME", "value": "/data"} in container["env"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    assert k8s_gateway.CADDY_ROOT_CERT.startswith("/data/caddy/")  # $XDG_DATA_HOME/caddy


def test_only_the_gateway_and_the_scraper_reach_vllm(runs):
    run = runs["8b"]
    policies = objects(run, "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}  # egress: issue 15.3
    [rule] = policies["vllm-ingress"]["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert [peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["from"]] == [
        "gateway", "prometheus"]
    http, https = policies["gateway-ingress"]["spec"]["ingress"]
    assert http["from"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]  # ACME HTTP-01 and the redirect
    assert https["from"] == [{"ipBlock": {"cidr": CIDR}}]
    assert https["ports"] == [{"port": 443, "protocol": "TCP"}]
    [scrape] = policies["prometheus-ingress"]["spec"]["ingress"]
    assert scrape["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}]
    no_cidrs = objects(runs["70b"], "NetworkPolicy")
    assert no_cidrs["gateway-ingress"]["spec"]["ingress"][1]["from"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    [only] = no_cidrs["vllm-ingress"]["spec"]["ingress"][0]["from"]
    assert only["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "gateway"}


INTERNAL_IP = "10.240.2.4"  # what the README documents for the default vnetAddressSpace


def test_internal_endpoint_is_https_on_a_fixed_private_ip_of_the_internal_load_balancer(runs):
    run = runs["internal"]
    ip = INTERNAL_IP
    assert run.outputs["endpoint"] == f"https://{ip}/v1"
    service = objects(run, "Service")["gateway"]
    assert service["metadata"]["annotations"] == {
        "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
        "service.beta.kubernetes.io/azure-load-balancer-ipv4": ip,
        "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": aks.GATEWAY_SUBNET_NAME}
    assert service["spec"]["type"] == "LoadBalancer" and service["spec"]["externalTrafficPolicy"] == "Local"
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https",
                                         "protocol": "TCP"}]  # no plain-HTTP port at all
    assert "loadBalancerSourceRanges" not in service["spec"]
    # vLLM itself is not exposed; only the gateway reaches it
    assert objects(run, "Service")["vllm"]["spec"]["type"] == "ClusterIP"
    [rule] = objects(run, "NetworkPolicy")["vllm-ingress"]["spec"]["ingress"]
    assert [peer["podSelector"]["matchLabels"] for peer in rule["from"]] == [
        {"app.kubernetes.io/name": "gateway"}]
    # the gateway takes HTTPS from private ranges only
    [https] = objects(run, "NetworkPolicy")["gateway-ingress"]["spec"]["ingress"]
    assert [peer["ipBlock"]["cidr"] for peer in https["from"]] == list(k8s_gateway.PRIVATE_RANGES)
    assert https["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_internal_gateway_serves_tls_from_caddys_own_ca_for_that_ip(runs):
    run = runs["internal"]
    ip = INTERNAL_IP
    caddyfile = objects(run, "ConfigMap")["gateway-config"]["data"]["Caddyfile"]
    options = caddyfile.split("\n}\n", 1)[0]
    # clients connecting to an IP send no SNI; the pod sees its own address, not the LB's
    assert f"\tdefault_sni {ip}\n" in options
    assert "\tauto_https disable_redirects\n" in options and "\tskip_install_trust\n" in options
    assert f"\nhttps://{ip} {{\n\ttls internal\n" in caddyfile
    # no allow-list given: the NetworkPolicy keeps the gateway to private ranges
    assert_forwards_only_the_api(caddyfile, None)
    assert run.outputs["caCertificateCommand"] == (
        "kubectl exec -n apertus statefulset/gateway -c caddy -- "
        "cat /data/caddy/pki/authorities/local/root.crt")
    assert "caCertificateCommand" not in runs["8b"].outputs


def test_internal_gateway_enforces_allowed_cidrs():
    run = run_stack(stack_config("aks", internal=True, apiAllowedCidrs=["198.51.100.0/24"],
                                 allowedCidrs=["10.1.0.0/16", "192.168.7.0/24"]))
    caddyfile = objects(run, "ConfigMap")["gateway-config"]["data"]["Caddyfile"]
    assert_forwards_only_the_api(caddyfile, "10.1.0.0/16 192.168.7.0/24")
    [https] = objects(run, "NetworkPolicy")["gateway-ingress"]["spec"]["ingress"]
    assert [peer["ipBlock"]["cidr"] for peer in https["from"]] == ["10.1.0.0/16", "192.168.7.0/24"]
    service = objects(run, "Service")["gateway"]["spec"]
    assert service["loadBalancerSourceRanges"] == ["10.1.0.0/16", "192.168.7.0/24"]
    assert run.outputs["endpoint"] == f"https://{INTERNAL_IP}/v1"


def assert_usable_address_outside_the_nodes(ip, subnet, nodes) -> None:
    assert ip in subnet and not subnet.overlaps(nodes)
    # Azure keeps the first four addresses and the last one of every subnet
    assert subnet.network_address + 3 < ip < subnet.broadcast_address


def test_internal_gateway_ip_is_a_usable_address_of_a_subnet_of_its_own(runs):
    run = runs["internal"]
    vnet = ipaddress.ip_network(run.mocks.one(VNET).inputs["addressSpace"]["addressPrefixes"][0])
    gateway_subnet = subnet_named(run, aks.GATEWAY_SUBNET_NAME)
    subnet = ipaddress.ip_network(gateway_subnet.inputs["addressPrefix"])
    nodes = ipaddress.ip_network(subnet_named(run, aks.NODE_SUBNET_NAME).inputs["addressPrefix"])
    annotations = objects(run, "Service")["gateway"]["metadata"]["annotations"]
    ip = ipaddress.ip_address(annotations["service.beta.kubernetes.io/azure-load-balancer-ipv4"])
    assert annotations["service.beta.kubernetes.io/azure-load-balancer-internal-subnet"] == (
        gateway_subnet.inputs["subnetName"])
    assert subnet.subnet_of(vnet)
    assert_usable_address_outside_the_nodes(ip, subnet, nodes)
    assert run.outputs["endpoint"] == f"https://{ip}/v1"
    # a public gateway needs no such subnet (nor one for private endpoints)
    assert [r.inputs["subnetName"] for r in runs["8b"].mocks.of_type(SUBNET)] == [aks.NODE_SUBNET_NAME]


@pytest.mark.parametrize("space", ["10.240.0.0/16", "172.16.0.0/22", "192.168.0.0/20", "10.64.0.0/12"])
def test_the_address_plan_fits_any_accepted_vnet_range(space):
    plan = aks.cluster_network(space)
    vnet = ipaddress.ip_network(space)
    assert plan.nodes.subnet_of(vnet) and plan.gateway_subnet.subnet_of(vnet)
    assert plan.endpoint_subnet.subnet_of(vnet)
    subnets = [plan.nodes, plan.gateway_subnet, plan.endpoint_subnet]
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:])
    assert plan.nodes.num_addresses - 5 >= aks.MAX_CLUSTER_NODES
    assert_usable_address_outside_the_nodes(plan.gateway_ip, plan.gateway_subnet, plan.nodes)


def test_vnet_address_space_sets_the_vnet_the_subnets_and_the_internal_endpoint():
    run = run_stack(stack_config("aks", internal=True, apiAllowedCidrs=["198.51.100.0/24"], vnetAddressSpace="172.16.0.0/20"))
    assert run.mocks.one(VNET).inputs["addressSpace"]["addressPrefixes"] == ["172.16.0.0/20"]
    assert subnet_named(run, aks.NODE_SUBNET_NAME).inputs["addressPrefix"] == "172.16.0.0/23"
    assert subnet_named(run, aks.GATEWAY_SUBNET_NAME).inputs["addressPrefix"] == "172.16.2.0/28"
    assert run.outputs["endpoint"] == "https://172.16.2.4/v1"


def test_stack_outputs_explain_kubectl_access(runs):
    outputs = runs["8b"].outputs
    assert outputs["kubeconfigCommand"] == ("az aks get-credentials --resource-group apertus-rg --name "
                                            "apertus-aks && kubelogin convert-kubeconfig -l azurecli")
    assert outputs["gpuNodes"] == "1-4 x Standard_NC24ads_A100_v4"
    assert outputs["aksVnet"] == runs["8b"].mocks.one(VNET).outputs["name"]  # what to peer with
    assert outputs["resourceGroupName"] == "apertus-rg"  # for `az aks stop -g ...`


def test_dcgm_exporter_names_each_gpu_by_the_node_it_runs_on(runs):
    # as NVIDIA's chart: NODE_NAME from spec.nodeName, so the Hostname label is the node's name
    [container] = pod(runs["8b"], "dcgm-exporter", "DaemonSet")["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}


# ---- the components' annotations ----

def host_methods():
    """Every method the three host classes define or inherit from this project (pulumi's own are not
    ours to annotate): (id, function)."""
    for cls in (aks.AksGpuCluster, vm.GpuVirtualMachine, containerapp.ContainerAppGpu):
        for method_name, function in inspect.getmembers(cls, predicate=inspect.isfunction):
            if function.__module__.startswith("components."):
                yield f"{cls.__name__}.{method_name}", function


@pytest.mark.parametrize("function", [pytest.param(function, id=method_id)
                                      for method_id, function in host_methods()])
def test_every_host_method_annotation_resolves(function):
    """typing.get_type_hints (the component provider's schema inference, help(), IDEs) resolves every
    annotation; names of SDK types are forward references, so importing the components still loads no
    provider SDK module (tests/test_library.py, test_importing_the_components_loads_no_provider_sdk_module).
    A local namespace of its own makes every forward reference evaluate afresh, in the method's module:
    the typing module caches what another module resolved first."""
    typing.get_type_hints(function, localns={})


# ---- what real tools say about the objects ----

def test_every_kubernetes_object_validates_strictly_for_the_cluster_version(runs):
    version = unwrap(runs["8b"].mocks.one(CLUSTER).inputs)["kubernetesVersion"]
    every = [manifest for run in runs.values() for manifest in manifests(run)]
    distinct = {json.dumps(manifest, sort_keys=True): manifest for manifest in every}  # the runs share most
    checked = set()
    # kubernetes-validate reads its schema files (a 1.5 MB definitions file) anew for every object: read
    # each once; the validation itself is the library's, unchanged
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubernetes_validate.utils, "schema_contents",
                      functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents))
        for manifest in distinct.values():
            if manifest["kind"] in CUSTOM_KINDS:
                continue  # add-on CRDs: their fields are asserted in the tests above
            kubernetes_validate.validate(manifest, version, strict=True)
            checked.add(manifest["kind"])
    assert {"Deployment", "DaemonSet", "Service", "NetworkPolicy", "PodDisruptionBudget", "StorageClass",
            "PersistentVolumeClaim", "ConfigMap", "ServiceAccount", "Namespace"} <= checked
    assert {m["kind"] for m in every} - checked == CUSTOM_KINDS


def test_checkov_leaves_no_failed_check_unexplained(manifest_dir):
    failed, passed, log = tools.checkov_kubernetes(manifest_dir)
    assert len(passed) > 50, log[-2000:]
    skips = yaml.safe_load(SKIPS_FILE.read_text())
    explained = {(skip["check"], resource) for skip in skips for resource in skip["resources"]}
    assert all(skip["reason"].strip() for skip in skips)
    assert sorted(failed - explained) == [], "failed checks with no reason in tests/checkov-skips.yaml"
    assert sorted(explained - failed) == [], "skips that no longer fail: remove them"


# ---- bad input: one line, before any resource ----

@pytest.mark.parametrize("overrides,key,words", [
    ({"gpu": "Standard_D4ds_v5"}, "gpu", ["not a GPU"]),
    ({"gpuNodesMin": 3, "gpuNodesMax": 2}, "gpuNodesMin", ["above gpuNodesMax (2)"]),
    ({"maxReplicas": 5, "gpuNodesMax": 2}, "maxReplicas", ["needs 5 GPU nodes", "gpuNodesMax is 2"]),
    ({"model": "apertus-70b-instruct", "gpu": "Standard_NC96ads_A100_v4", "maxReplicas": 3, "gpuNodesMax": 2},
     "maxReplicas", ["needs 3 GPU nodes", "1 replica(s) per node at TP 4"]),
    ({"minReplicas": 0, "maxReplicas": 2}, "minReplicas", ["nothing would ever scale it up"]),
    ({"kubernetesVersion": "1.35.2"}, "kubernetesVersion", ["minor version"]),
    ({"gpuNodesMax": 1001}, "gpuNodesMax", ["between 0 and 1000"]),
    ({"queueDepthTarget": 0}, "queueDepthTarget", ["at least 1"]),
    ({"gpuNodesMinn": 1}, "gpuNodesMinn", ["gpuNodesMin"]),
    # overlay gives each node a /24 of 10.244.0.0/16: 256 nodes, counting 3 system nodes and 10% surge
    ({"gpuNodesMax": 230}, "gpuNodesMax", ["reach 257 nodes", "only 256 nodes", "229 or less"]),
    ({"spot": True, "gpuNodesMax": 115}, "gpuNodesMax", ["2 GPU pool(s)", "114 or less"]),
    ({"maxReplicas": 250}, "maxReplicas", ["reach 281 nodes", "lower maxReplicas to 228"]),
    ({"vnetAddressSpace": "10.240.0.0/23"}, "vnetAddressSpace", ["/22 or larger"]),
    ({"vnetAddressSpace": "fd00::/48"}, "vnetAddressSpace", ["IPv4"]),
    ({"vnetAddressSpace": "10.240.0.1/16"}, "vnetAddressSpace", ["not a valid network"]),
    ({"vnetAddressSpace": "10.0.0.0/8"}, "vnetAddressSpace", ["overlaps 10.244.0.0/16", "pod range"]),
    ({"vnetAddressSpace": "10.0.0.0/16"}, "vnetAddressSpace", ["overlaps 10.0.0.0/16", "service range"]),
    ({"vnetAddressSpace": "172.30.0.0/16"}, "vnetAddressSpace", ["AKS reserves"]),
    ({"deployerPrincipalType": "user"}, "deployerPrincipalType", ["User, ServicePrincipal, Group"]),
    ({"kubeloginMode": "devicecode"}, "kubeloginMode", ["azurecli, spn, workloadidentity, msi"]),
    ({"internal": True, "apiAllowedCidrs": None}, "apiAllowedCidrs", ["required for host 'aks'", "api.ipify.org"]),
    ({"apiAllowedCidrs": ["10.0.0.0/8"]}, "apiAllowedCidrs", ["not a public range"]),
    ({"apiAllowedCidrs": ["0.0.0.0/0"]}, "apiAllowedCidrs", ["every address"]),
    ({"apiAllowedCidrs": [f"203.0.{i // 256}.{i % 256}" for i in range(201)]}, "apiAllowedCidrs",
     ["at most 200"]),
    ({"apiAllowedCidrs": ["203.0.113.1/24"]}, "apiAllowedCidrs", ["did you mean 203.0.113.0/24"]),
])
def test_bad_input_is_one_line_before_any_resource(overrides, key, words):
    assert_config_error(stack_config("aks", **overrides), key, words)


@pytest.mark.parametrize("overrides,key", [
    ({"apiPublic": True, "apiPrivate": True, "apiAllowedCidrs": None}, "apiPrivate"),
    ({"apiPrivate": True, "apiAllowedCidrs": [CIDR]}, "apiPrivate"),
    ({"apiPublic": True, "internal": True, "apiAllowedCidrs": None}, "apiPublic"),
])
def test_a_conflicting_api_switch_is_echoed_as_the_stack_file_writes_it(overrides, key):
    """`apiPublic: true` in YAML comes back as `true`, not Python's `True`."""
    message = str(assert_config_error(stack_config("aks", **overrides), key, [f"{key} = true: contradicts"]))
    assert "True" not in message, message


def test_tensor_parallel_wider_than_a_node_is_refused():
    plan = expected_plan("70b")
    too_wide = dataclasses.replace(plan, tensor_parallel_size=plan.gpu.gpu_count * 2)
    with pytest.raises(ConfigError) as caught:
        AksGpuClusterArgs(plan=too_wide, location=LOCATION, hf_token="token", api_public=True)
    assert caught.value.key == "gpu" and "tensor parallel size 8" in str(caught.value)


def test_default_node_bounds_follow_replicas_and_gpus_per_replica():
    plan = plan_serving(host="aks", model=resolve_model(None), gpu="Standard_ND96asr_v4",
                        image=DEFAULT_IMAGE, region=LOCATION, network_cache=True)
    per_node = plan.gpu.gpu_count // plan.tensor_parallel_size
    args = AksGpuClusterArgs(plan=plan, location=LOCATION, hf_token="token", min_replicas=3, max_replicas=17,
                             api_public=True)
    assert args.replicas_per_node == per_node
    assert args.gpu_node_bounds == (math.ceil(3 / per_node), math.ceil(18 / per_node))


def test_host_module_declares_its_keys_and_network_cache():
    from stacks import aks as host
    assert host.NETWORK_CACHE is True
    assert "--safetensors-load-strategy" in expected_plan("8b").launch.args
