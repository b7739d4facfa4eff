"""The component package `apertus` (provider/): the schema Pulumi infers for other languages.

`pulumi package add` runs provider/__main__.py, whose component provider infers the schema from
the components' type annotations. The same analyzer runs here, offline, without the engine.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from collections import Counter

import grpc
import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.errors import InputPropertyError
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components import testing
from conftest import HF_TOKEN, ROOT

COMMON_INPUTS = {"location", "model", "hfToken", "apiKey", "gpu", "maxModelLen", "gpuMemoryUtilization",
                 "allowedCidrs", "internal", "tags", "resourceGroupName", "vllmImage", "quantization",
                 "kvCacheDtype", "alerts", "alertEmails", "alertWebhook", "actionGroupId", "logAnalyticsWorkspaceId",
                 "ttftSloSeconds", "queueAlertThreshold"}
HOST_INPUTS = {
    "ContainerAppGpu": {"minReplicas", "maxReplicas", "concurrentRequests", "vnetAddressSpace"},
    "GpuVirtualMachine": {"spot", "sshPublicKey", "sshAllowedCidrs", "autoShutdown",
                          "autoShutdownTimeZone", "adminUsername"},
    "AksGpuCluster": {"minReplicas", "maxReplicas", "spot", "gpuNodesMin", "gpuNodesMax",
                      "kubernetesVersion", "queueDepthTarget", "vnetAddressSpace", "deployerPrincipalType",
                      "kubeloginMode", "apiAllowedCidrs", "apiPublic", "apiPrivate"},
}
OUTPUTS = {"endpoint": "string", "apiKey": "string", "model": "string", "tensorParallelSize": "integer",
           "maxModelLen": "integer", "kvCacheTokens": "integer", "hourlyCostUsd": "number"}
MONITORING_OUTPUTS = ("logAnalyticsWorkspaceResourceId", "dashboardUrl", "actionGroupId")  # ops, issue 17
# each host's own outputs (its _stack_outputs, the stack's exports), all strings, none always present
HOST_OUTPUTS = {
    "ContainerAppGpu": {"resourceGroupName", "containerAppName", "logAnalyticsWorkspaceId", *MONITORING_OUTPUTS},
    "GpuVirtualMachine": {"resourceGroupName", "vmName", "startCommand", "bootLogCommand", "sshCommand",
                          "caCertificateCommand", *MONITORING_OUTPUTS},
    "AksGpuCluster": {"resourceGroupName", "aksCluster", "aksVnet", "kubeconfigCommand", "logsCommand",
                      "gpuNodes", "gpuQuotaVcpus", "caCertificateCommand", "azureMonitorWorkspaceId",
                      *MONITORING_OUTPUTS},
}
SECRET_INPUTS, SECRET_OUTPUTS = {"hfToken", "apiKey", "alertWebhook"}, {"apiKey"}
# may be Outputs of other resources; everything else decides which resources exist, so it is plain
NOT_PLAIN = {"hfToken", "apiKey", "resourceGroupName", "alertWebhook"}


def load_entry_point():
    spec = importlib.util.spec_from_file_location("apertus_provider", ROOT / "provider" / "__main__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: the provider host does not start
    return module


@pytest.fixture(scope="module")
def provider():
    entry = load_entry_point()
    return entry.ApertusProvider(entry.COMPONENTS, entry.PACKAGE, entry.VERSION)  # what serve() runs


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
        outputs = resource["properties"]
        assert {n: p["type"] for n, p in outputs.items()} == {
            **OUTPUTS, **dict.fromkeys(HOST_OUTPUTS[component], "string")}, component
        assert "hourlyCostUsd" not in resource["required"]  # unpriced GPUs have no hourly cost
        assert not HOST_OUTPUTS[component] & set(resource["required"]), component


def test_schema_marks_secrets_and_describes_every_input_and_output(schema):
    for component in HOST_INPUTS:
        resource = schema["resources"][f"apertus:index:{component}"]
        for kind, secret in (("inputProperties", SECRET_INPUTS), ("properties", SECRET_OUTPUTS)):
            properties = resource[kind]
            assert {name for name, prop in properties.items() if prop.get("secret")} == secret, component
            undescribed = [name for name, prop in properties.items() if not prop.get("description")]
            assert undescribed == [], (component, kind)
        assert "Hugging Face token" in resource["inputProperties"]["hfToken"]["description"]
        assert "/v1" in resource["properties"]["endpoint"]["description"]


def test_schema_input_descriptions_are_the_settings_tables(schema):
    """One source for the schema, help() of the args and docs/configuration.md."""
    from components.serving import settings
    for component, host in (("ContainerAppGpu", "containerapp"), ("GpuVirtualMachine", "vm"),
                            ("AksGpuCluster", "aks")):
        inputs = schema["resources"][f"apertus:index:{component}"]["inputProperties"]
        assert {name: prop["description"] for name, prop in inputs.items()} == settings.input_descriptions(host)
    aks = schema["resources"]["apertus:index:AksGpuCluster"]["inputProperties"]
    assert aks["kubeloginMode"]["description"].startswith("How the Kubernetes provider gets Entra tokens")


def decoded(inputs: dict) -> dict:
    """Inputs as construct receives them from another language: through a protobuf Struct, where
    every number is a float (pulumi/provider/server.py: _construct_inputs)."""
    struct = struct_pb2.Struct()
    struct.update(inputs)
    return rpc.deserialize_properties(struct, keep_unknowns=True)


# Qwen2.5-7B-Instruct's config.json (huggingface.co/Qwen/Qwen2.5-7B-Instruct): 28 layers,
# 28 attention heads, 4 KV heads, hidden size 3584 (head dim 128), 32768 positions; 7.6 B parameters
CUSTOM_MODEL = {"id": "Qwen/Qwen2.5-7B-Instruct", "paramsBillion": 7.6, "layers": 28, "attentionHeads": 28,
                "kvHeads": 4, "headDim": 128, "maxContext": 32768}


def test_a_model_object_from_another_language_plans_the_component(provider):
    inputs = decoded({"location": "swedencentral", "model": CUSTOM_MODEL, "hfToken": HF_TOKEN})
    assert inputs["model"]["layers"] == 28.0 and isinstance(inputs["model"]["layers"], float)
    results = []
    run = testing.run_program(lambda: results.append(provider.construct(
        "yaml-user", "apertus:index:GpuVirtualMachine", inputs)), "p", "s", {})
    vm = run.mocks.one("apertus:index:GpuVirtualMachine")
    assert run.mocks.component_outputs[vm.urn]["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert isinstance(run.mocks.component_outputs[vm.urn]["maxModelLen"], (int, float))
    assert "vmName" in results[0].state and "sshCommand" not in results[0].state


@pytest.mark.parametrize("inputs, path, words", [
    ({"model": {**CUSTOM_MODEL, "layers": 28.5}}, "model.layers", ["28.5", "whole number"]),
    ({"allowedCidrs": ["10.0.0.1/8"]}, "allowedCidrs", ["did you mean 10.0.0.0/8"]),
    ({"concurrentRequests": 0}, "concurrentRequests", ["at least 1"]),
])
def test_a_config_error_reaches_other_languages_as_one_line_property_error(provider, inputs, path, words):
    """Not the SDK's ComponentInitError, which the server reports with a Python stack trace."""
    given = decoded({"location": "swedencentral", "hfToken": HF_TOKEN, **inputs})
    with pytest.raises(InputPropertyError) as caught:
        testing.run_program(lambda: provider.construct("yaml-user", "apertus:index:ContainerAppGpu", given),
                            "p", "s", {})
    assert caught.value.property_path == path
    reason = caught.value.reason
    assert "\n" not in reason and "Traceback" not in reason and "apertus-azure:" not in reason, reason
    for word in words:
        assert word in reason, reason


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


def test_the_plugin_process_serves_the_completed_schema():
    """What `pulumi package add` talks to: provider/__main__.py as a gRPC server (127.0.0.1, a free
    port it prints), answering GetSchema with the secrets marked."""
    process = subprocess.Popen([sys.executable, str(ROOT / "provider" / "__main__.py"), "127.0.0.1:1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(300, process.kill)  # a plugin that never prints its port ends the test
    watchdog.start()
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.poll() is not None else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = provider_pb2_grpc.ResourceProviderStub(channel).GetSchema(
                provider_pb2.GetSchemaRequest(version=0), timeout=120)
        served = json.loads(answer.schema)
        inputs = served["resources"]["apertus:index:GpuVirtualMachine"]["inputProperties"]
        assert inputs["hfToken"]["secret"] is True and inputs["apiKey"]["secret"] is True
    finally:
        watchdog.cancel()
        process.kill()
        process.wait(timeout=10)
