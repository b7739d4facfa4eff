"""`components` as a library: imported into someone else's program, without stacks/ or config."""

from __future__ import annotations

from collections import Counter

import pulumi
import pytest

import components
from components import ContainerAppGpu, ContainerAppGpuArgs, GpuVirtualMachine, GpuVirtualMachineArgs
from components.serving import DEFAULT_IMAGE, ConfigError, plan_serving, resolve_model
from conftest import HF_TOKEN, plain_occurrences, run_stack, stack_config
from stacks.offline import run_program

MODEL = resolve_model("apertus-8b-instruct")


def aca_args(**overrides) -> ContainerAppGpuArgs:
    plan = plan_serving(host="containerapp", model=MODEL, image=DEFAULT_IMAGE, network_cache=True)
    return ContainerAppGpuArgs(plan=plan, location="westus3", hf_token=pulumi.Output.secret(HF_TOKEN),
                               **overrides)


def test_package_exports_the_three_hosts():
    for name in ("ContainerAppGpu", "GpuVirtualMachine", "AksGpuCluster"):
        cls = getattr(components, name)
        assert issubclass(cls, pulumi.ComponentResource)
        assert hasattr(components, f"{name}Args")


def test_two_instances_in_one_program_do_not_collide_and_use_the_callers_resource_group():
    def program():
        vm_plan = plan_serving(host="vm", model=MODEL, image=DEFAULT_IMAGE)
        ContainerAppGpu("team-a", aca_args(resource_group_name="rg-shared"))
        GpuVirtualMachine("team-b", GpuVirtualMachineArgs(
            plan=vm_plan, location="westus3", hf_token=pulumi.Output.secret(HF_TOKEN),
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


def test_type_tokens_follow_apertus_index():
    run = run_program(lambda: ContainerAppGpu("x", aca_args()), "p", "s", {})
    tokens = {r.type for r in run.resources if not r.custom}
    assert tokens == {"apertus:index:ContainerAppGpu", "apertus:index:ModelSecrets"}


def test_gated_model_without_token_is_refused_by_the_args():
    plan = plan_serving(host="containerapp", model=MODEL, image=DEFAULT_IMAGE)
    with pytest.raises(ConfigError, match="hfToken"):
        ContainerAppGpuArgs(plan=plan, location="westus3")


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
