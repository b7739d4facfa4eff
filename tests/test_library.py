"""`components` as a library (installed as `apertus_azure`): used by someone else's program, from
plain values, without stacks/ or config; and the same package installed and run outside the repo."""

from __future__ import annotations

import ast
import importlib.abc
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter

import pulumi
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import components
from components import ContainerAppGpu, ContainerAppGpuArgs, GpuVirtualMachine, GpuVirtualMachineArgs
from components.serving import DEFAULT_IMAGE, ConfigError, plan_serving, resolve_model
from components.aks import AksGpuClusterArgs
from components.testing import is_secret, run_program
from conftest import API_KEY, HF_TOKEN, ROOT, plain_occurrences, run_stack, stack_config

MODEL = resolve_model("apertus-8b-instruct")


def aca_args(**overrides) -> ContainerAppGpuArgs:
    return ContainerAppGpuArgs(**{"location": "westus3", "hf_token": pulumi.Output.secret(HF_TOKEN),
                                  **overrides})


def test_package_exports_the_three_hosts():
    for name in ("ContainerAppGpu", "GpuVirtualMachine", "AksGpuCluster"):
        cls = getattr(components, name)
        assert issubclass(cls, pulumi.ComponentResource)
        assert hasattr(components, f"{name}Args")


def test_the_package_has_the_version_of_pyproject():
    """One version string: pyproject.toml's; the checkout reads it there, the component package too."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert components.__version__ == version and "__version__" in dir(components)
    assert "0.1.0" not in (ROOT / "components" / "__init__.py").read_text()  # not written twice
    assert "__version__" in (ROOT / "provider" / "__main__.py").read_text()


def test_importing_the_components_loads_no_provider_sdk_module():
    """azure-native's and pulumi-kubernetes' modules load when a resource is built, not when the
    components are imported: the component provider answers GetSchema without them, and a program
    using one host loads only that host's (annotations that name their types are strings)."""
    probe = ("import sys, types; import components.aks, components.vm, components.containerapp; "
             "print(sorted(n for n, m in sys.modules.items() if n.startswith(('pulumi_azure_native.', "
             "'pulumi_kubernetes.')) and n.count('.') >= 2 and type(m) is types.ModuleType "
             "and not n.startswith('pulumi_kubernetes.apiextensions.')))")  # CustomResource: no generated types
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_two_instances_in_one_program_do_not_collide_and_use_the_callers_resource_group():
    def program():
        ContainerAppGpu("team-a", aca_args(resource_group_name="rg-shared"))
        GpuVirtualMachine("team-b", GpuVirtualMachineArgs(
            location="westus3", model="apertus-8b-instruct", hf_token=pulumi.Output.secret(HF_TOKEN),
            resource_group_name="rg-shared"))

    run = run_program(program, "someone-else", "prod", {})
    types = Counter(r.type for r in run.resources)
    assert types["apertus:index:ContainerAppGpu"] == 1 and types["apertus:index:GpuVirtualMachine"] == 1
    urns = [r.urn for r in run.resources]
    assert len(urns) == len(set(urns))
    # every child derives its name from its component's name
    for resource in run.resources:
        if resource.parent:
            assert resource.name.startswith(("team-a", "team-b")), resource.name
    # the caller's resource group is used: no group of our own
    assert types["azure-native:resources:ResourceGroup"] == 0
    assert {r.inputs.get("resourceGroupName") for r in run.resources
            if r.type == "azure-native:keyvault:Vault"} == {"rg-shared"}
    assert plain_occurrences(run.resources, HF_TOKEN) == []


def test_type_tokens_follow_apertus_index_and_a_plain_token_is_held_as_a_secret(monkeypatch):
    """One run for two things: the type tokens, and an hf_token a program passes as a plain str: held
    as a secret Output (nothing plain in any resource or output), and the program is warned once."""
    said: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: said.append(message))
    run = run_program(lambda: ContainerAppGpu("x", aca_args(hf_token=HF_TOKEN)), "p", "s", {})
    tokens = {r.type for r in run.resources if not r.custom}
    assert tokens == {"apertus:index:ContainerAppGpu", "apertus:index:ModelSecrets"}
    assert any(HF_TOKEN in repr(r.inputs) for r in run.resources)  # it reaches the vault, as a secret
    assert plain_occurrences(run.resources, HF_TOKEN) == []
    assert HF_TOKEN not in repr(run.mocks.component_outputs) + repr(run.outputs)
    assert [m for m in said if "plain str" in m] == [
        "ContainerAppGpuArgs: hf_token is a plain str: held as a secret from here on (pulumi.Output.secret), so "
        "the state and outputs keep it encrypted, but your program has it in plain text; pass a secret instead: "
        "pulumi.Config().require_secret('hfToken'), or pulumi.Output.secret(value)"]
    # a secret Output (the stack's way, and aca_args'): nothing to say
    said.clear()
    args = aca_args()
    assert not [m for m in said if "plain str" in m] and isinstance(args.hf_token, pulumi.Output)


def test_gated_model_without_token_is_refused_by_the_args():
    with pytest.raises(ConfigError, match="hfToken"):
        ContainerAppGpuArgs(location="westus3")


def test_args_plan_for_their_own_host_with_the_stacks_defaults():
    aca = aca_args()
    assert aca.plan == plan_serving(host="containerapp", model=MODEL, image=DEFAULT_IMAGE,
                                    region="westus3", network_cache=True)
    assert (aca.min_replicas, aca.max_replicas, aca.gpu_memory_utilization) == (0, 1, 0.9)
    assert "--safetensors-load-strategy" in aca.plan.launch.args  # Container Apps: weights over NFS
    aks = AksGpuClusterArgs(location="westus3", hf_token="t", min_replicas=3, api_public=True)
    assert (aks.min_replicas, aks.max_replicas) == (3, 3) and aks.plan.host == "aks"
    vm = GpuVirtualMachineArgs(location="westus3", hf_token="t", model="swiss-ai/Apertus-70B-Instruct-2509")
    assert vm.plan.tensor_parallel_size >= 2 and "--safetensors-load-strategy" not in vm.plan.launch.args


def test_plan_argument_stays_for_advanced_use():
    plan = plan_serving(host="containerapp", model=MODEL, image="registry.example/vllm:1.0.0",
                        max_model_len=8192, network_cache=True)
    args = aca_args(plan=plan)
    assert args.plan is plan and args.model is MODEL
    with pytest.raises(ConfigError, match="another host"):
        aca_args(plan=plan_serving(host="vm", model=MODEL, image=DEFAULT_IMAGE))


@pytest.mark.parametrize("overrides, key, words", [
    ({"allowed_cidrs": "10.0.0.0/8"}, "allowedCidrs", ["one string", "['10.0.0.0/8']"]),
    ({"allowed_cidrs": ["10.0.0.1/8"]}, "allowedCidrs", ["10.0.0.0/8"]),
    ({"tags": {"cost/center": "ml"}}, "tags", ["not a valid Azure tag name"]),
    ({"tags": ["team"]}, "tags", ["map of strings"]),
    ({"max_replicas": 0}, "maxReplicas", ["between 1 and", "use 1"]),
    ({"min_replicas": 2, "max_replicas": 1}, "minReplicas", ["above max_replicas"]),
    ({"max_replicas": "2"}, "maxReplicas", ["whole number"]),
    ({"internal": "yes"}, "internal", ["true or false"]),
    ({"gpu_memory_utilization": 1.5}, "gpuMemoryUtilization", ["0.5 and 0.99"]),
    ({"max_model_len": 4096.5}, "maxModelLen", ["whole number"]),
    ({"model": 8}, "model", ["catalog name"]),
    ({"model": "apertus-9b"}, "model", ["apertus-8b-instruct"]),
    ({"gpu": "Standard_NC24ads_A100_v4"}, "gpu", ["not valid for ContainerAppGpu"]),
    ({"location": ""}, "location", ["empty"]),
    ({"vllm_image": 3}, "vllmImage", ["not a string"]),
    ({"concurrent_requests": 0}, "scaleConcurrentRequests",
     ["ContainerAppGpuArgs: concurrent_requests = 0: must be at least 1"]),
    ({"allowed_cidrs": [pulumi.Output.from_input("10.0.0.0/8")]}, "allowedCidrs",
     ["holds an Output", "plain"]),
    ({"tags": {"team": pulumi.Output.from_input("ml")}}, "tags", ["holds an Output (at 'team')", "plain"]),
    ({"vnet_address_space": ""}, "vnetAddressSpace", ["empty"]),
    ({"max_replicas": pulumi.Output.from_input(2)}, "maxReplicas", ["plain value"]),
    ({"api_key": 12345}, "apiKey", ["not a string"]),
    ({"resource_group_name": ["rg"]}, "resourceGroupName", ["not a string"]),
])
def test_every_argument_is_checked_like_the_stack_config(overrides, key, words):
    with pytest.raises(ConfigError) as caught:
        aca_args(**overrides)
    message = str(caught.value)
    assert caught.value.key == key and "\n" not in message, message
    # the message names the argument as the program wrote it, not the stack's config key
    assert message.startswith(f"ContainerAppGpuArgs: {next(iter(overrides))}"), message
    assert "apertus-azure:" not in message and "component input" not in message, message
    for word in words:
        assert word in message, message
    assert "12345" not in message  # a secret's value is never shown
    assert "Output<" not in message and " at 0x" not in message  # no Output repr


# Azure's disallowed OSProfile.adminUsername values and Linux name rules (components/vm.py)
@pytest.mark.parametrize("name, words", [
    ("root", ["Azure refuses"]), ("Admin", ["Azure refuses"]), ("test1", ["Azure refuses"]),
    ("a" * 65, ["64 characters"]), ("9lives", ["not a Linux user name"]),
    ("ops team", ["not a Linux user name"]),
    ("", ["empty"]),
])
def test_admin_username_is_one_azure_and_linux_accept(name, words):
    with pytest.raises(ConfigError) as caught:
        GpuVirtualMachineArgs(location="westus3", hf_token="t", admin_username=name)
    assert caught.value.key == "adminUsername" and "\n" not in str(caught.value)
    for word in words:
        assert word in str(caught.value), str(caught.value)
    accepted = GpuVirtualMachineArgs(location="westus3", hf_token="t", admin_username="ops-team")
    assert accepted.admin_username == "ops-team"


@pytest.mark.parametrize("args_type, extras", [
    (ContainerAppGpuArgs, {}), (AksGpuClusterArgs, {})])
def test_an_empty_vnet_address_space_is_refused_not_replaced(args_type, extras):
    with pytest.raises(ConfigError, match=f"{args_type.__name__}: vnet_address_space = '': is empty"):
        args_type(location="westus3", hf_token="t", vnet_address_space="", **extras)


def test_each_host_sets_its_own_outputs_as_attributes():
    made = []
    run = run_program(lambda: made.append(GpuVirtualMachine("box", GpuVirtualMachineArgs(
        location="westus3", hf_token="t", api_key=API_KEY))), "p", "s", {})
    root = run.mocks.one("apertus:index:GpuVirtualMachine")
    registered = run.mocks.component_outputs[root.urn]
    assert {"vmName", "startCommand", "bootLogCommand", "resourceGroupName"} <= set(registered)
    assert made[0].ssh_command is None and made[0].ca_certificate_command is None  # no SSH, public
    assert isinstance(made[0].start_command, pulumi.Output)


@pytest.mark.parametrize("args_type, overrides, key", [
    (GpuVirtualMachineArgs, {"ssh_allowed_cidrs": "203.0.113.7/32"}, "sshAllowedCidrs"),
    (GpuVirtualMachineArgs, {"spot": 1}, "spot"),
    (AksGpuClusterArgs, {"gpu_nodes_max": -1}, "gpuNodesMax"),
    (AksGpuClusterArgs, {"kubernetes_version": 1.35}, "kubernetesVersion"),
    (AksGpuClusterArgs, {"min_replicas": 0}, "minReplicas"),
])
def test_host_arguments_are_checked_too(args_type, overrides, key):
    with pytest.raises(ConfigError) as caught:
        args_type(location="westus3", hf_token="t", **overrides)
    assert caught.value.key == key, str(caught.value)


def test_component_outputs_what_every_host_has():
    made = []
    run = run_program(lambda: made.append(ContainerAppGpu("x", aca_args(api_key=API_KEY))), "p", "s", {})
    component = made[0]
    assert component.plan.model.hf_id == MODEL.hf_id
    root = run.mocks.one("apertus:index:ContainerAppGpu")
    outputs = run.mocks.component_outputs[root.urn]
    assert {key: outputs[key] for key in ("model", "tensorParallelSize", "maxModelLen", "kvCacheTokens",
                                          "hourlyCostUsd")} == {
        "model": MODEL.hf_id, "tensorParallelSize": component.plan.tensor_parallel_size,
        "maxModelLen": component.plan.max_model_len, "kvCacheTokens": component.plan.kv_cache_tokens,
        "hourlyCostUsd": component.plan.cost.hourly_usd}
    assert outputs["endpoint"].startswith("https://") and outputs["endpoint"].endswith("/v1")
    assert is_secret(outputs["apiKey"])


@pytest.mark.parametrize("host,component", [("containerapp", "ContainerAppGpu"),
                                            ("vm", "GpuVirtualMachine"), ("aks", "AksGpuCluster")])
def test_every_resource_of_a_stack_belongs_to_the_host_component(host, component):
    run = run_stack(stack_config(host))
    by_urn = {r.urn: r for r in run.resources}
    root = run.mocks.one(f"apertus:index:{component}")
    for resource in run.resources:
        node = resource
        while node.parent in by_urn and node is not root:
            node = by_urn[node.parent]
        assert node is root, f"{resource.type} {resource.name} is outside {component}"


def test_the_offline_runs_shortcuts_change_nothing_the_mocks_record(monkeypatch):
    """run_program skips the alias URNs the SDK works out but never reads under a monitor with alias
    specs, skips the stack traces the mock monitor drops, and waits for outstanding outputs a round
    at a time (components/testing.py: _alias_specs_only, _no_source_positions, _settle): the same
    program records the same resources, inputs, parents and outputs as with the SDK's own work and
    its own wait_for_rpcs."""
    import contextlib

    import components.testing as offline
    from pulumi.runtime import stack as runtime_stack

    config = stack_config("containerapp", apiKey=API_KEY)
    shortcut = run_stack(config)
    monkeypatch.setattr(offline, "_alias_specs_only", lambda monitor: contextlib.nullcontext())
    monkeypatch.setattr(offline, "_settle", runtime_stack.wait_for_rpcs)
    monkeypatch.setattr(offline, "_no_source_positions", contextlib.nullcontext)
    full = run_stack(config)

    def recorded(run):
        # sorted: the order of registrations that wait on nothing in common is the event loop's
        return sorted(((r.urn, r.type, r.parent, r.custom, r.inputs, r.outputs) for r in run.resources),
                      key=lambda record: record[0])

    assert len(shortcut.resources) > 20 and recorded(shortcut) == recorded(full)
    assert shortcut.outputs == full.outputs and shortcut.secret_outputs == full.secret_outputs


@pytest.mark.parametrize("field", ["name", "type_"])
def test_an_alias_the_sdk_refuses_is_refused_offline_too(field):
    """The alias shortcut keeps the SDK's refusal of an Alias whose name or type is None."""
    import pulumi_random as random

    def program() -> None:
        random.RandomString("a", length=4, opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(**{field: None})]))

    with pytest.raises(Exception, match=f"No valid '{field}' passed in for alias"):
        run_program(program, "p", "s", {})


def test_a_failed_run_leaves_nothing_behind_for_the_next():
    """An output that failed in one run_program stays in the SDK's pending set: the next, clean
    program must not get that run's error."""
    import pulumi_random as random

    def failing() -> None:
        random.RandomString("a", length=pulumi.Output.from_input(1).apply(lambda one: one // 0))

    def clean() -> None:
        random.RandomString("b", length=8)
        pulumi.export("x", 1)

    with pytest.raises(ZeroDivisionError):
        run_program(failing, "p", "s", {})
    assert run_program(clean, "p", "s", {}).outputs == {"x": 1}
    # the failed run's own futures: collected here, quietly, not logged at interpreter exit
    import gc
    import logging
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.disabled = True
    try:
        gc.collect()
    finally:
        asyncio_log.disabled = False


class _RepoPackagesHidden(importlib.abc.MetaPathFinder):
    """Refuses the repo's own packages, as an interpreter outside the checkout would."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REPO_PACKAGES:
            raise ModuleNotFoundError(f"No module named {name!r} (the repo's package, not installed)", name=name)
        return None


REPO_PACKAGES = ("components", "stacks")


def test_the_example_program_runs_from_outside_the_repo_with_only_apertus_azure(tmp_path):
    """The installed layout (pyproject: package-dir apertus_azure = components), laid out the way pip
    installs it, and the README's example test run where `components`/`stacks` cannot be imported:
    in this interpreter with the repo's packages unloaded and refused (the SDKs stay loaded, they are
    dependencies); the same with pip itself in a fresh interpreter: examples/library/check-installed.sh
    (run by .ci/run)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = pyproject["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"apertus_azure": "components"}
    site = tmp_path / "site"
    for package in setuptools["packages"]:
        source = ROOT / package.replace("apertus_azure", "components", 1).replace(".", "/")
        (site / package.replace(".", "/")).mkdir(parents=True)
        for module in source.glob("*.py"):
            shutil.copy(module, site / package.replace(".", "/") / module.name)
        for pattern in setuptools.get("package-data", {}).get(package, []):  # data files pip installs
            for data in source.glob(pattern):
                (site / package.replace(".", "/") / data.relative_to(source)).parent.mkdir(exist_ok=True)
                shutil.copy(data, site / package.replace(".", "/") / data.relative_to(source))
    # the metadata pip writes (name and version from pyproject.toml): what the installed __version__ reads
    version = pyproject["project"]["version"]
    metadata = site / f"apertus_azure-{version}.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {pyproject['project']['name']}\n"
                                       f"Version: {version}\n")
    team = tmp_path / "team-llm"
    shutil.copytree(ROOT / "examples" / "library", team)

    def ours(name: str) -> bool:
        return name.partition(".")[0] in (*REPO_PACKAGES, "apertus_azure") or name == "team_test_program"

    saved = {name: module for name, module in sys.modules.items() if ours(name)}
    finder = _RepoPackagesHidden()
    for name in saved:
        del sys.modules[name]
    sys.meta_path.insert(0, finder)
    sys.path.insert(0, str(site))
    try:
        assert not importlib.util.find_spec("apertus_azure").origin.startswith(str(ROOT))
        assert importlib.import_module("apertus_azure").__version__ == version
        spec = importlib.util.spec_from_file_location("team_test_program", team / "test_program.py")
        team_tests = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = team_tests
        spec.loader.exec_module(team_tests)
        tests = [value for name, value in vars(team_tests).items() if name.startswith("test_") and callable(value)]
        assert len(tests) == 2
        for test in tests:
            test()
        loaded = sorted(name for name in sys.modules if ours(name) and not name.startswith("apertus_azure"))
        assert loaded == ["team_test_program"], loaded
    finally:
        sys.path.remove(str(site))
        sys.meta_path.remove(finder)
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


def declared_requirements() -> dict[str, Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    requirements = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(requirement.name): requirement for requirement in requirements}


def test_declared_dependencies_cover_what_the_package_imports_and_what_they_require():
    """pip install of the package brings everything its modules import, and the pulumi floor is one
    that the declared provider SDKs accept (a floor below theirs would promise an SDK they refuse)."""
    declared = declared_requirements()
    distributions = importlib.metadata.packages_distributions()
    imported = set()
    for module in (ROOT / "components").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"}
    needed = {canonicalize_name(dist) for name in third_party for dist in distributions.get(name, [name])}
    assert needed <= set(declared), f"imported but not in requirements.txt: {sorted(needed - set(declared))}"
    floor = next(spec.version for spec in declared["pulumi"].specifier if spec.operator == ">=")
    for name in declared:
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.name == "pulumi" and requirement.marker is None:
                assert requirement.specifier.contains(floor), (
                    f"requirements.txt allows pulumi {floor}, but {name} requires {requirement.specifier}")


def test_a_run_leaves_no_config_behind():
    """Code that reads pulumi.Config outside a run (the docs generator's host table) must not see the
    last run's values: a failed run's bad value made the next such read fail, depending on test order."""
    with pytest.raises(ConfigError):
        run_program(lambda: components.ContainerAppGpu("x", aca_args(allowed_cidrs="203.0.113.0/24")),
                    "apertus-azure", "dev", {"expectedRequestsPerMinute": 0, "host": "vm"})
    assert pulumi.Config("apertus-azure").get("expectedRequestsPerMinute") is None
    assert pulumi.Config("apertus-azure").get("host") is None
