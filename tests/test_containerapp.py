"""host: containerapp — the whole program under mocks, asserting what `pulumi up` would send Azure."""

from __future__ import annotations

import ipaddress

import pytest
from conftest import (
    API_KEY,
    HF_TOKEN,
    LOCATION,
    assert_config_error,
    assert_roles_go_to_managed_identities_only,
    config_error,
    plain_occurrences,
    run_stack,
    stack_config,
    unwrap,
)

from components import containerapp
from components.containerapp import (
    MAX_REPLICAS,
    MAX_REPLICAS_IN_SUBNET,
    PREMIUM_SHARE_MIN_GIB,
    PROXY_PORT,
    cache_share_gib,
    replica_allocation,
)
from components.serving import DEFAULT_IMAGE, GPUS, plan_serving, resolve_model
from components.serving import coldstart
from stacks import offline
from stacks.offline import OFFLINE_WORKSPACE_KEY, is_secret
from vault_access import assert_vault_is_private_in, assert_vault_is_public_with_purge_protection, dns_ready_urns

APP = "azure-native:app:ContainerApp"
ENV = "azure-native:app:ManagedEnvironment"
ENV_STORAGE = "azure-native:app:ManagedEnvironmentsStorage"


def default_plan():
    """The plan the program makes for the default containerapp stack (8B, NFS cache, HF token)."""
    return plan_serving(host="containerapp", model=resolve_model(None), image=DEFAULT_IMAGE,
                        region=LOCATION, hf_token=True, network_cache=True)


@pytest.fixture(scope="module")
def default_run():
    return run_stack(stack_config("containerapp"))


def containers(run):
    """vLLM (first: only the first container of a replica gets the GPU) and the proxy."""
    vllm, proxy = unwrap(run.mocks.one(APP).inputs)["template"]["containers"]
    return vllm, proxy


def container(run):
    return containers(run)[0]


def gib(memory: str) -> float:
    return float(memory.removesuffix("Gi"))


def replica_total(run):
    """vCPUs and GiB of all containers of one replica together."""
    parts = [c["resources"] for c in containers(run)]
    return sum(r["cpu"] for r in parts), sum(gib(r["memory"]) for r in parts)


def gpu_profile(run):
    profiles = unwrap(run.mocks.one(ENV).inputs)["workloadProfiles"]
    [gpu] = [p for p in profiles if p["workloadProfileType"] != "Consumption"]
    return profiles, gpu


def test_log_analytics_workspace_receives_the_environment_logs(default_run):
    workspace = default_run.mocks.one("azure-native:operationalinsights:Workspace")
    recorded = default_run.mocks.one(ENV).inputs["appLogsConfiguration"]
    assert is_secret(recorded)  # it carries the workspace's shared key
    logs = unwrap(recorded)
    assert logs["destination"] == "log-analytics"
    assert logs["logAnalyticsConfiguration"] == {"customerId": workspace.outputs["customerId"],
                                                 "sharedKey": OFFLINE_WORKSPACE_KEY}
    assert default_run.outputs["logAnalyticsWorkspaceId"] == workspace.outputs["customerId"]


def test_environment_is_injected_into_a_delegated_subnet_sized_for_workload_profiles(default_run):
    vnet = default_run.mocks.one("azure-native:network:VirtualNetwork")
    subnet = default_run.mocks.one("azure-native:network:Subnet")
    space = ipaddress.IPv4Network(vnet.inputs["addressSpace"]["addressPrefixes"][0])
    prefix = ipaddress.IPv4Network(subnet.inputs["addressPrefix"])
    assert prefix.subnet_of(space)
    assert prefix.prefixlen <= 27  # workload-profiles minimum (custom-virtual-networks docs)
    assert prefix.num_addresses - 12 - 5 >= 2 * MAX_REPLICAS_IN_SUBNET  # ACA 12 + Azure 5 reserved
    assert subnet.inputs["virtualNetworkName"] == vnet.outputs["name"]
    assert [d["serviceName"] for d in subnet.inputs["delegations"]] == ["Microsoft.App/environments"]
    assert [e["service"] for e in subnet.inputs["serviceEndpoints"]] == ["Microsoft.Storage"]
    vnet_config = default_run.mocks.one(ENV).inputs["vnetConfiguration"]
    assert vnet_config == {"infrastructureSubnetId": subnet.outputs["id"], "internal": False}


def test_environment_has_consumption_and_the_planned_serverless_gpu_profile_without_counts(default_run):
    profiles, gpu = gpu_profile(default_run)
    assert [(p["name"], p["workloadProfileType"]) for p in profiles] == [
        ("Consumption", "Consumption"), (gpu["name"], gpu["workloadProfileType"])]
    assert gpu["workloadProfileType"] == default_plan().gpu.name == "Consumption-GPU-NC24-A100"
    # Azure rejects counts on Consumption GPU profiles (WorkloadProfilePropertyNotSupported)
    assert "minimumCount" not in gpu and "maximumCount" not in gpu
    assert len(gpu["name"]) <= 15
    assert default_run.mocks.one(APP).inputs["workloadProfileName"] == gpu["name"]


def test_dedicated_profile_gets_node_counts_and_fits_its_node():
    run = run_stack(stack_config("containerapp", gpu="NC24-A100", minReplicas=1))
    _, gpu = gpu_profile(run)
    assert gpu["workloadProfileType"] == "NC24-A100"
    assert (gpu["minimumCount"], gpu["maximumCount"]) == (1, 1)
    app = unwrap(run.mocks.one(APP).inputs)
    assert app["workloadProfileName"] == gpu["name"]
    assert (app["template"]["scale"]["minReplicas"], app["template"]["scale"]["maxReplicas"]) == (1, 1)
    cpu, memory = replica_total(run)
    sku = GPUS["NC24-A100"]
    assert 0 < cpu < sku.vcpus and 0 < memory < sku.ram_gib
    assert (cpu, memory) == replica_allocation(sku)


def test_dedicated_multi_gpu_nodes_count_nodes_not_replicas():
    # one GPU per replica: an NC48-A100 node holds two replicas, so 3 replicas need 2 nodes
    run = run_stack(stack_config("containerapp", gpu="NC48-A100", minReplicas=1, maxReplicas=3))
    _, gpu = gpu_profile(run)
    assert (gpu["minimumCount"], gpu["maximumCount"]) == (1, 2)
    cpu, memory = replica_total(run)
    assert 2 * cpu <= GPUS["NC48-A100"].vcpus and 2 * memory <= GPUS["NC48-A100"].ram_gib


def test_container_resources_take_the_whole_serverless_profile():
    for name, cpu, memory in [("Consumption-GPU-NC24-A100", 24, 220),
                              ("Consumption-GPU-NC8as-T4", 8, 56)]:
        assert replica_allocation(GPUS[name]) == (cpu, memory)


def test_app_runs_the_launch_spec_on_the_gpu_profile(default_run):
    launch = default_plan().launch
    main = container(default_run)
    assert main["image"] == launch.image == DEFAULT_IMAGE
    assert main["command"] + main["args"] == list(launch.argv)
    assert "--safetensors-load-strategy" in main["args"]  # NETWORK_CACHE: weights come over NFS
    plain = {e["name"]: e["value"] for e in main["env"] if "value" in e}
    assert plain == launch.env
    refs = {e["name"]: e["secretRef"] for e in main["env"] if "secretRef" in e}
    assert refs == launch.secret_env == {"VLLM_API_KEY": "api-key", "HF_TOKEN": "hf-token"}
    # the profile's 24 vCPU / 220 GiB, less the proxy's 0.25 / 0.5
    assert main["resources"] == {"cpu": 23.75, "memory": "219.5Gi"}
    assert replica_total(default_run) == (24, 220)
    assert container(default_run)["name"] == "vllm"


def test_app_secrets_are_key_vault_references_read_through_the_assigned_identity(default_run):
    identity = default_run.mocks.one("azure-native:managedidentity:UserAssignedIdentity")
    vault = default_run.mocks.one("azure-native:keyvault:Vault")
    uris = {s.inputs["secretName"]: s.outputs["properties"]["secretUri"]
            for s in default_run.mocks.of_type("azure-native:keyvault:Secret")}
    app = unwrap(default_run.mocks.one(APP).inputs)
    assert app["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity.outputs["id"]]}
    assert app["configuration"]["secrets"] == [
        {"name": name, "keyVaultUrl": uris[name], "identity": identity.outputs["id"]}
        for name in ("api-key", "hf-token")]  # references only: no "value"
    role = default_run.mocks.one("azure-native:authorization:RoleAssignment")
    assert role.inputs["principalId"] == identity.outputs["principalId"]
    assert role.inputs["scope"] == vault.outputs["id"]
    # Azure's built-in "Key Vault Secrets User" role id (Azure built-in roles reference)
    assert role.inputs["roleDefinitionId"].endswith(
        "/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6")
    assert vault.inputs["properties"]["enableRbacAuthorization"] is True
    assert vault.inputs["properties"]["enableSoftDelete"] is True


def test_app_is_created_after_its_identity_may_read_the_vault(monkeypatch):
    dependencies = {}
    original = offline.RecordingMonitor.RegisterResource

    def recording(self, request):
        dependencies[request.name] = list(request.dependencies)
        return original(self, request)

    monkeypatch.setattr(offline.RecordingMonitor, "RegisterResource", recording)
    run = run_stack(stack_config("containerapp"))
    role = run.mocks.one("azure-native:authorization:RoleAssignment")
    assert role.urn in dependencies[run.mocks.one(APP).name]


@pytest.fixture(scope="module")
def internal_recorded():
    """The internal stack, with what each resource waits for and its replacement options, by type."""
    dependencies, options = {}, {}
    original = offline.RecordingMonitor.RegisterResource

    def recording(self, request):
        dependencies[request.name] = set(request.dependencies)
        options[request.type] = (set(request.replaceOnChanges), request.deleteBeforeReplace)
        return original(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(offline.RecordingMonitor, "RegisterResource", recording)
        run = run_stack(stack_config("containerapp", internal=True), fresh=True)
    return run, dependencies, options


def test_a_new_gpu_profile_replaces_the_environment_and_its_app_old_ones_first(internal_recorded):
    """Azure applies a GPU workload profile only at environment creation, and a delegated subnet
    holds one environment: a profile change must delete the app and environment, then recreate."""
    run, _, options = internal_recorded
    assert options[ENV] == ({"workloadProfiles[*].workloadProfileType"}, True)
    assert options[APP] == ({"managedEnvironmentId"}, True)
    # the path names a field the environment really sends, on every profile (Pulumi property path)
    profiles = unwrap(run.mocks.one(ENV).inputs)["workloadProfiles"]
    assert profiles and all("workloadProfileType" in profile for profile in profiles)


def test_no_secret_appears_in_plain_text():
    run = run_stack(stack_config("containerapp", apiKey=API_KEY))
    for secret in (HF_TOKEN, API_KEY, OFFLINE_WORKSPACE_KEY):
        assert plain_occurrences(run.resources, secret) == []
        assert all(secret not in str(value) for key, value in run.outputs.items() if key != "apiKey")
    assert "apiKey" in run.secret_outputs and run.outputs["apiKey"] == API_KEY


def test_model_cache_is_a_premium_nfs_share_open_to_the_environment_subnet_only(default_run):
    subnet = default_run.mocks.one("azure-native:network:Subnet")
    account = default_run.mocks.one("azure-native:storage:StorageAccount")
    inputs = account.inputs
    assert (inputs["kind"], inputs["sku"]["name"]) == ("FileStorage", "Premium_LRS")
    assert inputs["enableHttpsTrafficOnly"] is False  # NFS mounts fail with secure transfer required
    assert inputs["allowSharedKeyAccess"] is False and inputs["allowBlobPublicAccess"] is False
    rules = inputs["networkRuleSet"]
    assert rules["defaultAction"] == "Deny"
    assert rules["virtualNetworkRules"] == [{"virtualNetworkResourceId": subnet.outputs["id"],
                                             "action": "Allow"}]
    assert 3 <= len(inputs["accountName"]) <= 24 and inputs["accountName"].isalnum()

    share = default_run.mocks.one("azure-native:storage:FileShare")
    assert share.inputs["accountName"] == account.outputs["name"]
    assert share.inputs["enabledProtocols"] == "NFS" and share.inputs["rootSquash"] == "NoRootSquash"
    # sized by the cold-start estimate: 8B's 35 GiB would fit the 100 GiB minimum, but 280 GiB reads
    # 16.1 GB in the 120 s warm-load target for +$28.80/month (components/serving/coldstart.py)
    assert default_plan().cache_size_gib < PREMIUM_SHARE_MIN_GIB < share.inputs["shareQuota"] == 280

    link = default_run.mocks.one(ENV_STORAGE)
    env = default_run.mocks.one(ENV)
    assert link.inputs["environmentName"] == env.outputs["name"]
    assert link.inputs["properties"] == {"nfsAzureFile": {
        "server": f"{inputs['accountName']}.file.core.windows.net",
        "shareName": f"/{account.outputs['name']}/{share.outputs['name']}",
        "accessMode": "ReadWrite"}}
    assert "azureFile" not in link.inputs["properties"]  # the SMB variant needs an account key

    template = unwrap(default_run.mocks.one(APP).inputs)["template"]
    [volume] = template["volumes"]
    assert volume["storageType"] == "NfsAzureFile" and volume["storageName"] == link.outputs["name"]
    [mount] = container(default_run)["volumeMounts"]
    launch = default_plan().launch
    assert mount == {"volumeName": volume["name"], "mountPath": launch.cache_mount}
    hf_home = {e["name"]: e.get("value") for e in container(default_run)["env"]}["HF_HOME"]
    assert hf_home.startswith(mount["mountPath"] + "/")


def test_cache_share_is_at_least_the_premium_minimum_and_grows_with_the_model():
    assert cache_share_gib(35) == PREMIUM_SHARE_MIN_GIB
    assert cache_share_gib(180) == 180


def test_probes_check_health_within_container_apps_limits(default_run):
    launch = default_plan().launch
    probes = {p["type"]: p for p in container(default_run)["probes"]}
    assert set(probes) == {"Startup", "Readiness", "Liveness"}
    for probe in probes.values():
        assert probe["httpGet"] == {"path": "/health", "port": 8000, "scheme": "HTTP"}
        assert 1 <= probe["failureThreshold"] <= 10 and 1 <= probe["periodSeconds"] <= 240
        assert 1 <= probe["timeoutSeconds"] <= 240 and 1 <= probe["initialDelaySeconds"] <= 60
    startup = probes["Startup"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= launch.startup_window_seconds
    for kind, spec in (("Readiness", launch.readiness), ("Liveness", launch.liveness)):
        assert (probes[kind]["periodSeconds"], probes[kind]["timeoutSeconds"],
                probes[kind]["failureThreshold"]) == (spec.period_seconds, spec.timeout_seconds,
                                                      spec.failure_threshold)


def test_ingress_is_https_only_to_the_proxy_with_allow_rules_from_allowed_cidrs(default_run):
    ingress = unwrap(default_run.mocks.one(APP).inputs)["configuration"]["ingress"]
    assert ingress["external"] is True and ingress["targetPort"] == PROXY_PORT == 8080
    assert ingress["allowInsecure"] is False
    assert "ipSecurityRestrictions" not in ingress  # none asked for

    cidrs = ["203.0.113.0/24", "198.51.100.7/32"]
    run = run_stack(stack_config("containerapp", allowedCidrs=cidrs))
    rules = unwrap(run.mocks.one(APP).inputs)["configuration"]["ingress"]["ipSecurityRestrictions"]
    assert [(r["action"], r["ipAddressRange"]) for r in rules] == [("Allow", c) for c in cidrs]
    assert len({r["name"] for r in rules}) == len(rules)


def test_scale_defaults_to_zero_and_one_with_an_http_concurrency_rule(default_run):
    scale = unwrap(default_run.mocks.one(APP).inputs)["template"]["scale"]
    assert (scale["minReplicas"], scale["maxReplicas"]) == (0, 1)
    assert scale["rules"] == [{"name": "http-concurrency",
                               "http": {"metadata": {"concurrentRequests": "32"}}}]

    run = run_stack(stack_config("containerapp", minReplicas=1, maxReplicas=4, scaleConcurrentRequests=64))
    scale = unwrap(run.mocks.one(APP).inputs)["template"]["scale"]
    assert (scale["minReplicas"], scale["maxReplicas"]) == (1, 4)
    assert scale["rules"][0]["http"]["metadata"] == {"concurrentRequests": "64"}


def test_endpoint_is_https_on_the_app_fqdn_ending_in_v1(default_run):
    fqdn = default_run.mocks.one(APP).outputs["configuration"]["ingress"]["fqdn"]
    assert default_run.outputs["endpoint"] == f"https://{fqdn}/v1"
    assert default_run.outputs["containerAppName"] == default_run.mocks.one(APP).outputs["name"]


def test_internal_environment_has_no_public_ingress_and_resolves_in_the_vnet():
    run = run_stack(stack_config("containerapp", internal=True))
    env = run.mocks.one(ENV)
    assert env.inputs["vnetConfiguration"]["internal"] is True
    [zone] = [z for z in run.mocks.of_type("azure-native:privatedns:PrivateZone")
              if z.inputs["privateZoneName"] == env.outputs["defaultDomain"]]
    record = run.mocks.one("azure-native:privatedns:PrivateRecordSet")
    assert (record.inputs["recordType"], record.inputs["relativeRecordSetName"]) == ("A", "*")
    assert record.inputs["aRecords"] == [{"ipv4Address": env.outputs["staticIp"]}]
    assert record.inputs["privateZoneName"] == zone.outputs["name"]
    [link] = [r for r in run.mocks.of_type("azure-native:privatedns:VirtualNetworkLink")
              if r.inputs["privateZoneName"] == zone.outputs["name"]]
    vnet = run.mocks.one("azure-native:network:VirtualNetwork")
    assert link.inputs["virtualNetwork"] == {"id": vnet.outputs["id"]}
    assert link.inputs["privateZoneName"] == zone.outputs["name"]
    endpoint = run.outputs["endpoint"]
    assert endpoint.startswith("https://") and endpoint.endswith(f".{env.outputs['defaultDomain']}/v1")


def test_vault_has_purge_protection_and_stays_public_when_not_internal(default_run):
    assert_vault_is_public_with_purge_protection(default_run)


def test_internal_vault_is_private_and_the_app_resolves_it_before_it_is_created(internal_recorded):
    run, dependencies, _ = internal_recorded
    vnet = run.mocks.one("azure-native:network:VirtualNetwork")
    endpoint = assert_vault_is_private_in(run, vnet)
    subnets = {r.outputs["id"]: r for r in run.mocks.of_type("azure-native:network:Subnet")}
    endpoint_subnet = ipaddress.ip_network(subnets[endpoint.inputs["subnet"]["id"]].inputs["addressPrefix"])
    environment_subnet = ipaddress.ip_network(
        subnets[run.mocks.one(ENV).inputs["vnetConfiguration"]["infrastructureSubnetId"]].inputs["addressPrefix"])
    # not in the delegated subnet, which holds only the environment
    assert endpoint_subnet != environment_subnet and not endpoint_subnet.overlaps(environment_subnet)
    # the app resolves its Key Vault references at creation: through the endpoint, by name
    assert dns_ready_urns(run) and dns_ready_urns(run) <= dependencies[run.mocks.one(APP).name]


def test_external_environment_has_no_private_dns(default_run):
    assert default_run.mocks.of_type("azure-native:privatedns:PrivateZone") == []


def test_region_without_documented_gpu_profile_warns_and_still_deploys(caplog):
    run = run_stack(stack_config("containerapp", **{"azure-native:location": "switzerlandnorth"}))
    assert run.mocks.one(APP).inputs["location"] == "switzerlandnorth"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("Consumption-GPU-NC24-A100 is not documented in region 'switzerlandnorth'" in w
               for w in warnings), warnings


@pytest.mark.parametrize("overrides,key,words", [
    ({"model": "apertus-70b-instruct"}, "model", ["141.2 GB", "1 x 80 GB per replica", "host 'aks' or 'vm'"]),
    ({"gpu": "Consumption-GPU-NC8as-T4"}, "gpu", ["no bf16", "16 GB", "Consumption-GPU-NC24-A100"]),
    ({"spot": True}, "spot", ["no spot capacity"]),
    ({"maxReplicas": MAX_REPLICAS + 1}, "maxReplicas", [f"1 to {MAX_REPLICAS} replicas per app"]),
    ({"maxReplicas": MAX_REPLICAS_IN_SUBNET + 1}, "maxReplicas",
     ["/23 subnet", f"{MAX_REPLICAS_IN_SUBNET} or less"]),
    ({"scaleConcurrentRequests": 0}, "scaleConcurrentRequests", ["at least 1"]),
    ({"vnetAddressSpace": "10.0.0.0/25"}, "vnetAddressSpace", ["/23 or larger"]),
    # internal: the vault's private endpoint needs a /28 after the environment's /23
    ({"vnetAddressSpace": "10.0.0.0/23", "internal": True}, "vnetAddressSpace", ["/22 or larger", "private endpoints"]),
    ({"vnetAddressSpace": "100.100.0.0/16"}, "vnetAddressSpace", ["overlaps 100.100.0.0/17"]),
    ({"vnetAddressSpace": "fd00::/48"}, "vnetAddressSpace", ["IPv4"]),
    ({"vnetAddressSpace": "10.0.0.1/16"}, "vnetAddressSpace", ["not a valid network"]),
])
def test_bad_input_is_one_line_before_any_resource(overrides, key, words):
    assert_config_error(stack_config("containerapp", **overrides), key, words)


def test_a_startup_window_longer_than_probes_allow_is_a_config_error(monkeypatch):
    # the longest Container Apps startup probe: failureThreshold 10 x periodSeconds 240 = 2400 s;
    # a slow Hugging Face download (10 MB/s: 16.1 GB in 27 min) makes the estimated first start too long
    monkeypatch.setattr(coldstart, "HF_BYTES_PER_SECOND", 10e6)
    error, registered = config_error(stack_config("containerapp"))
    assert error.key == "model" and "2400 s" in str(error) and "host 'vm' or 'aks'" in str(error)
    assert "\n" not in str(error) and registered == []


def test_the_longest_window_that_fits_is_accepted(monkeypatch):
    # stretch one part of the estimate until the first start is 1600 s: x 1.5 safety = 2400 s
    first = default_plan().cold_start.first_seconds
    monkeypatch.setattr(coldstart, "ENGINE_INIT_SECONDS", coldstart.ENGINE_INIT_SECONDS + 1600 - first)
    assert default_plan().launch.startup_window_seconds == 2400
    probes = {p["type"]: p for p in container(run_stack(stack_config("containerapp")))["probes"]}
    assert (probes["Startup"]["periodSeconds"], probes["Startup"]["failureThreshold"]) == (240, 10)


def test_host_module_declares_its_keys_and_network_cache():
    from stacks import containerapp as host
    assert host.NETWORK_CACHE is True
    assert containerapp.HOST == "containerapp"


def caddyfile_of(proxy) -> str:
    """The Caddyfile the proxy's command writes out, checking that it is the one it writes."""
    [caddyfile] = [e["value"] for e in proxy["env"] if e["name"] == "CADDYFILE"]
    command = " ".join(proxy["command"])
    assert '"$CADDYFILE" > /tmp/Caddyfile' in command and "caddy run --config /tmp/Caddyfile" in command
    return caddyfile


def test_proxy_forwards_only_the_api_and_health_to_vllm_on_loopback(default_run):
    vllm, proxy = containers(default_run)
    assert proxy["image"].startswith("caddy:")
    lines = [line.strip() for line in caddyfile_of(proxy).splitlines()]
    assert f":{PROXY_PORT} {{" in lines  # plain HTTP: the ingress terminates TLS
    assert "auto_https off" in lines and "admin off" in lines
    # the shared guard on the raw target, exactly these paths, one upstream: vLLM's port on loopback
    # (tests/test_gateway.py runs this file in Caddy against traversal attempts)
    assert [line.split(" ", 2)[:2] for line in lines if line.startswith("@")] == [
        ["@unsafe", "expression"], ["@api", "{"]]
    api = lines.index("@api {")
    assert lines[api + 1:api + 4] == ["path_regexp ^(/v1/.*|/health)$", "method GET POST HEAD", "}"]
    assert [line for line in lines if "reverse_proxy" in line] == ["reverse_proxy @api 127.0.0.1:8000"]
    assert 'respond "not found" 404' in lines  # /invocations, /metrics, /tokenize, ...
    assert vllm["args"][vllm["args"].index("--port") + 1] == "8000"


def test_proxy_is_small_has_no_gpu_volume_or_secret_and_a_readiness_probe(default_run):
    _, proxy = containers(default_run)
    assert proxy["resources"] == {"cpu": 0.25, "memory": "0.5Gi"}
    assert "volumeMounts" not in proxy
    assert all("secretRef" not in e for e in proxy["env"])
    assert [p["type"] for p in proxy["probes"]] == ["Readiness"]
    assert proxy["probes"][0]["tcpSocket"] == {"port": PROXY_PORT}


def test_every_role_assignment_names_its_principal_type_and_none_is_to_the_deployer(default_run):
    assert_roles_go_to_managed_identities_only(default_run)


# ---- the alert thresholds Container Apps has no alert for: accepted, checked, and said ----

def test_ttft_and_queue_thresholds_are_a_warning_on_container_apps():
    from conftest import PROJECT, stack_config
    from stacks.config import ConfigReader, read_settings
    from stacks.program import host_module

    assert containerapp.unused_threshold_warning(None, None) is None
    assert containerapp.unused_threshold_warning(3, None) == (
        "ttftSloSeconds 3: not used on Container Apps, which does not export vLLM's metrics (no Prometheus "
        "scrape of the app), so there is no time-to-first-token or queue alert here to take it; remove it, "
        "or use host 'vm' or 'aks' for those alerts")
    # a stack's settings, read as pulumi up reads them (no resource): under the plan's warnings, which
    # the plan prints and pulumi up logs
    read = []

    def program() -> None:
        reader = ConfigReader()
        read.append(host_module("containerapp").read(reader, read_settings(reader)))

    offline.run_program(program, PROJECT, "test", stack_config(
        "containerapp", ttftSloSeconds=3, queueAlertThreshold=50), {"hfToken"})
    assert [w for w in read[0].plan.warnings if "not used on Container Apps" in w] == [
        "ttftSloSeconds 3 and queueAlertThreshold 50: not used on Container Apps, which does not export vLLM's "
        "metrics (no Prometheus scrape of the app), so there is no time-to-first-token or queue alert here to "
        "take them; remove them, or use host 'vm' or 'aks' for those alerts"]
    # still checked: a value out of range is an error, not a warning
    with pytest.raises(containerapp.ConfigError, match="ttft_slo_seconds"):
        containerapp.ContainerAppGpuArgs(location="swedencentral", hf_token=HF_TOKEN, ttft_slo_seconds=0)
