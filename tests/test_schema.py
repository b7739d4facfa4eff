"""The component package `apertus` (provider/): the schema Pulumi infers for other languages.

`pulumi package add` runs provider/__main__.py, whose component provider infers the schema from
the components' type annotations. The same analyzer runs here, offline, without the engine.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter

import pytest
import yaml
from pulumi.provider.experimental.component import ComponentProvider

from components import testing
from conftest import HF_TOKEN, ROOT

COMMON_INPUTS = {"location", "model", "hfToken", "apiKey", "gpu", "maxModelLen", "gpuMemoryUtilization",
                 "allowedCidrs", "internal", "tags", "resourceGroupName", "vllmImage", "quantization",
                 "kvCacheDtype"}
HOST_INPUTS = {
    "ContainerAppGpu": {"minReplicas", "maxReplicas", "concurrentRequests", "vnetAddressSpace"},
    "GpuVirtualMachine": {"spot", "sshPublicKey", "sshAllowedCidrs", "autoShutdown",
                          "autoShutdownTimeZone", "adminUsername"},
    "AksGpuCluster": {"minReplicas", "maxReplicas", "spot", "gpuNodesMin", "gpuNodesMax",
                      "kubernetesVersion", "queueDepthTarget", "vnetAddressSpace", "deployerPrincipalType",
                      "kubeloginMode", "apiAllowedCidrs"},
}
OUTPUTS = {"endpoint": "string", "apiKey": "string", "model": "string", "tensorParallelSize": "integer",
           "maxModelLen": "integer", "kvCacheTokens": "integer", "hourlyCostUsd": "number"}
# may be Outputs of other resources; everything else decides which resources exist, so it is plain
NOT_PLAIN = {"hfToken", "apiKey", "resourceGroupName"}


def load_entry_point():
    spec = importlib.util.spec_from_file_location("apertus_provider", ROOT / "provider" / "__main__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: the provider host does not start
    return module


@pytest.fixture(scope="module")
def provider() -> ComponentProvider:
    entry = load_entry_point()
    return ComponentProvider(entry.COMPONENTS, entry.PACKAGE, version=entry.VERSION)


@pytest.fixture(scope="module")
def schema(provider) -> dict:
    return json.loads(provider.schema)  # what GetSchema answers


def test_plugin_manifest_is_a_python_plugin_beside_its_entry_point():
    manifest = yaml.safe_load((ROOT / "provider" / "PulumiPlugin.yaml").read_text())
    assert manifest["runtime"] == "python"
    assert "-r ../requirements.txt" in (ROOT / "provider" / "requirements.txt").read_text()


def test_schema_has_the_three_components_with_their_inputs_and_outputs(schema):
    assert schema["name"] == "apertus"
    assert set(schema["resources"]) == {f"apertus:index:{c}" for c in HOST_INPUTS}
    for component, own in HOST_INPUTS.items():
        resource = schema["resources"][f"apertus:index:{component}"]
        assert resource["isComponent"] is True
        inputs = resource["inputProperties"]
        assert set(inputs) == COMMON_INPUTS | own, component
        assert resource["requiredInputs"] == ["location"], component
        assert {name for name, prop in inputs.items() if not prop.get("plain")} == NOT_PLAIN
        assert inputs["model"]["$ref"] == "pulumi.json#/Any"  # a catalog name or a model object
        assert inputs["allowedCidrs"]["type"] == "array" and inputs["allowedCidrs"]["items"]["type"] == "string"
        assert inputs["tags"]["additionalProperties"]["type"] == "string"
        assert {n: p["type"] for n, p in resource["properties"].items()} == OUTPUTS, component
        assert "hourlyCostUsd" not in resource["required"]  # unpriced GPUs have no hourly cost


def test_inputs_the_way_the_provider_maps_them_build_the_component(provider):
    """What construct does: camelCase inputs -> a dict of Python names -> the component."""
    inputs = {"location": "swedencentral", "model": "apertus-8b-instruct", "hfToken": HF_TOKEN,
              "allowedCidrs": ["203.0.113.0/24"], "maxReplicas": 2.0, "tags": {"team": "ml"}}
    mapped = provider.map_inputs(inputs, provider._component_defs["ContainerAppGpu"])
    assert mapped["max_replicas"] == 2 and mapped["hf_token"] == HF_TOKEN
    component_class = provider._components["ContainerAppGpu"]
    made = []
    run = testing.run_program(lambda: made.append(component_class("yaml-user", mapped)), "p", "s", {})
    assert Counter(r.type for r in run.resources)["apertus:index:ContainerAppGpu"] == 1
    assert made[0].plan.model.hf_id == "swiss-ai/Apertus-8B-Instruct-2509"
    app = run.mocks.one("azure-native:app:ContainerApp")
    assert app.inputs["template"]["scale"]["maxReplicas"] == 2
