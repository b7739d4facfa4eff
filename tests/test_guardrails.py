"""Issue 15: the AKS API server is not open by default, and the last bad-input leftovers are
one-line errors (exit 2) before any resource, with no secret in any message."""

from __future__ import annotations

import pytest

from conftest import API_KEY, assert_config_error, run_stack, stack_config, unwrap

CLUSTER = "azure-native:containerservice:ManagedCluster"


# ---------------------------------------------------------------- 2. the AKS API server

def test_an_aks_stack_must_say_who_reaches_its_api_server():
    error = assert_config_error(stack_config("aks", apiAllowedCidrs=None), "apiAllowedCidrs",
                                ["required for host 'aks'", "curl -s https://api.ipify.org", "apiPrivate",
                                 "apiPublic"])
    assert "open to the whole internet" in str(error)


@pytest.mark.parametrize("overrides, key, words", [
    ({"apiPublic": True, "apiAllowedCidrs": ["203.0.113.0/24"]}, "apiPublic", ["contradicts apiAllowedCidrs"]),
    ({"apiPrivate": True, "apiAllowedCidrs": ["203.0.113.0/24"]}, "apiPrivate", ["private cluster"]),
    ({"apiPublic": True, "internal": True}, "apiPublic", ["contradicts internal"]),
    ({"apiPublic": "yes"}, "apiPublic", []),
    ({"apiAllowedCidrs": ["4.0.0.0/6"]}, "apiAllowedCidrs", ["broader than /8"]),
    ({"apiAllowedCidrs": ["1.0.0.0/8", "2.0.0.0/8"]}, "apiAllowedCidrs", ["together"]),
])
def test_api_access_mistakes_are_one_line(overrides, key, words):
    assert_config_error(stack_config("aks", **overrides), key, words)


def test_api_public_is_open_on_purpose_and_the_plan_says_so():
    from stacks.__main__ import exposure

    run = run_stack(stack_config("aks", apiPublic=True))
    assert "apiServerAccessProfile" not in unwrap(run.mocks.one(CLUSTER).inputs)
    from components.aks import AksGpuClusterArgs
    args = AksGpuClusterArgs(location="swedencentral", hf_token="t", api_public=True)
    assert exposure(args)["kubernetesApiFrom"] == ["any source (apiPublic: true)"]


def test_api_private_makes_a_private_cluster_without_public_fqdn():
    from stacks.__main__ import exposure

    run = run_stack(stack_config("aks", apiPrivate=True, internal=True))
    profile = unwrap(run.mocks.one(CLUSTER).inputs)["apiServerAccessProfile"]
    assert profile == {"enablePrivateCluster": True, "privateDNSZone": "system",
                       "enablePrivateClusterPublicFQDN": False}
    from components.aks import AksGpuClusterArgs
    args = AksGpuClusterArgs(location="swedencentral", hf_token="t", api_private=True)
    assert exposure(args)["kubernetesApiFrom"] == ["the virtual network (private cluster)"]
    # and the pack agrees the internal stack is closed
    from components.testing import run_policy_pack
    assert run_policy_pack(run) == []


def test_the_shipped_aks_stack_file_names_its_api_sources():
    import yaml
    from conftest import ROOT

    config = yaml.safe_load((ROOT / "Pulumi.aks.yaml").read_text())["config"]
    assert config["apertus-azure:apiAllowedCidrs"]
