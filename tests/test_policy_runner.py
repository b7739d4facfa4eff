"""apertus_azure.testing.run_policy_pack takes the policy config as a platform team writes it for
`pulumi preview --policy-pack policy --policy-pack-config cfg.json` (docs/guardrails.md)."""

from __future__ import annotations

import pytest

from components.testing import run_policy_pack
from conftest import run_stack, stack_config


@pytest.fixture(scope="module")
def public_app():
    return run_stack(stack_config("containerapp", alertEmails=["oncall@example.com"]))


@pytest.mark.parametrize("config", [
    {"closed-when-internal": {"internal": True}},  # the --policy-pack-config file's shape
    {"all": {"internal": True}},
    {"internal": True},  # one dict for every policy
])
def test_the_policy_config_is_read_in_every_documented_shape(public_app, config):
    assert run_policy_pack(public_app) == []
    assert {v.policy for v in run_policy_pack(public_app, config=config)} == {"closed-when-internal"}


def test_a_misspelt_policy_name_in_the_config_is_an_error_not_ignored(public_app):
    with pytest.raises(ValueError, match=r"\['closed-when-internl'\] are neither policy names nor 'all'; "
                       r"did you mean 'closed-when-internal' for 'closed-when-internl'\?"):
        run_policy_pack(public_app, config={"closed-when-internl": {"internal": True}})


def test_without_a_pack_directory_it_says_where_the_pack_is(public_app, tmp_path):
    with pytest.raises(FileNotFoundError, match="pass pack_dir=<a checkout of apertus-azure>/policy"):
        run_policy_pack(public_app, pack_dir=tmp_path)


def _gpu_and_route_program() -> None:
    """A platform team's program (issue 15) with the Kubernetes SDK's own classes: a pod on a MIG
    slice, the ConfigMap another pod loads its GPUs from, a gateway pod with a hostPath, and a
    Gateway API HTTPRoute (a CustomResource) to the vLLM Service."""
    from pulumi_kubernetes import apiextensions, apps, core, meta

    def deployment(name: str, labels: dict[str, str], container: core.ContainerArgs,
                   volumes: list[core.VolumeArgs] | None = None) -> None:
        apps.v1.Deployment(name, spec=apps.v1.DeploymentSpecArgs(
            selector=meta.v1.LabelSelectorArgs(match_labels=labels),
            template=core.v1.PodTemplateSpecArgs(metadata=meta.v1.ObjectMetaArgs(labels=labels),
                                                 spec=core.v1.PodSpecArgs(containers=[container], volumes=volumes))))

    locked = core.v1.SecurityContextArgs(allow_privilege_escalation=False,
                                         capabilities=core.v1.CapabilitiesArgs(drop=["ALL"]))
    deployment("vllm", {"app": "vllm"}, core.v1.ContainerArgs(
        name="vllm", image="vllm/vllm-openai:v0.10.1", security_context=locked,
        resources=core.v1.ResourceRequirementsArgs(limits={"nvidia.com/mig-3g.40gb": "1"})))
    deployment("notebook", {"app": "notebook"}, core.v1.ContainerArgs(
        name="cuda", image="nvidia/cuda:12.8.0-base-ubuntu24.04",
        resources=core.v1.ResourceRequirementsArgs(limits={"nvidia.com/mig-1g.10gb": "1"}),
        security_context=core.v1.SecurityContextArgs(privileged=True)))
    core.v1.ConfigMap("gpu-env", data={"NVIDIA_VISIBLE_DEVICES": "all"})
    deployment("gateway", {"app": "gateway"}, core.v1.ContainerArgs(name="caddy", image="caddy:2.10.2"),
               volumes=[core.v1.VolumeArgs(name="certs", host_path=core.v1.HostPathVolumeSourceArgs(path="/etc/ssl"))])
    core.v1.Service("vllm-svc", metadata=meta.v1.ObjectMetaArgs(name="vllm"), spec=core.v1.ServiceSpecArgs(
        selector={"app": "vllm"}, ports=[core.v1.ServicePortArgs(port=8000, target_port=8000)]))
    apiextensions.CustomResource("chat", api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute",
                                 spec={"parentRefs": [{"name": "shared"}],
                                       "rules": [{"backendRefs": [{"name": "vllm", "port": 8000}]}]})


def test_the_pack_judges_gpu_pods_and_routes_as_the_kubernetes_sdk_registers_them():
    """The types and shapes the pack reads are those pulumi-kubernetes registers: a CustomResource
    HTTPRoute is kubernetes:gateway.networking.k8s.io/v1:HTTPRoute, a MIG limit arrives under its
    resource name. Each resource is named by the policy it breaks; the locked-down vLLM pod is not."""
    from components.testing import run_program

    run = run_program(_gpu_and_route_program, "team", "dev", {})
    assert "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute" in {r.type for r in run.resources}
    found = {(v.policy, v.resource.rsplit("::", 1)[-1]) for v in run_policy_pack(run)}
    assert found == {("gpu-containers-drop-capabilities", "notebook"), ("gpu-containers-drop-capabilities", "gpu-env"),
                     ("gpu-containers-drop-capabilities", "gateway"),
                     ("vllm-only-behind-gateway-across-stack", "chat")}, found
