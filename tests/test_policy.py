"""The policy pack (policy/): every policy passes on every host stack and flags a bad fixture.

Each host stack runs once (module-scoped); its recorded resources are handed to the policies the
way the engine does (pulumi-policy 1.21 ``Analyze``/``AnalyzeStack``): secrets unwrapped to plain
values, props behind the unknown-checking proxy, inputs for resource policies and outputs for
stack policies.
"""

from __future__ import annotations

import base64
import copy
import random
import runpy
import string
import sys
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto, rpc
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from components.gateway import CADDY_IMAGE
from components.serving.launch import DEFAULT_IMAGE
from conftest import API_KEY as SUITE_API_KEY
from components.testing import secret_marked_options
from conftest import HF_TOKEN, ROOT, run_stack, stack_config, unwrap
from policy import apertus_policies as pack
from stacks.offline import Registered

SECRET_SIG_KEY, SECRET_SIG = rpc._special_sig_key, rpc._special_secret_sig  # how secrets travel to the analyzer

POLICY_DIR = Path(__file__).resolve().parents[1] / "policy"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "policy"
# a 48-character letters-and-digits key like the ones the program generates (RandomPassword,
# special=False), fixed so a failure names the same value every run
API_KEY = "Q7vT2mX9kLp4Rz8WcN3bY6hJ1sD5fG0aVe2uKq9oPi7tHx4M"
SSH_KEY_BLOB = base64.b64encode(b"".join(len(part).to_bytes(4, "big") + part
                                         for part in (b"ssh-ed25519", bytes(range(32))))).decode()
SSH = {"sshPublicKey": f"ssh-ed25519 {SSH_KEY_BLOB} policy@test", "sshAllowedCidrs": ["203.0.113.0/24"]}
MODEL_70B = {"model": "apertus-70b-instruct", "gpu": "Standard_NC96ads_A100_v4"}

# every host, 8B and 70B (Container Apps offers one 80 GB GPU per replica: 8B only), public and internal
STACKS = {
    "containerapp-8b": stack_config("containerapp", apiKey=API_KEY),
    "containerapp-8b-internal": stack_config("containerapp", apiKey=API_KEY, internal=True),
    "vm-8b": stack_config("vm", apiKey=API_KEY, **SSH),
    "vm-70b": stack_config("vm", apiKey=API_KEY, **MODEL_70B),
    "vm-8b-internal": stack_config("vm", apiKey=API_KEY, internal=True, **SSH),
    "aks-8b": stack_config("aks", apiKey=API_KEY, allowedCidrs=["203.0.113.0/24"]),
    "aks-70b": stack_config("aks", apiKey=API_KEY, **MODEL_70B),
    # issue 8.7: the API server's allowed (public) sources are required when internal
    "aks-8b-internal": stack_config("aks", apiKey=API_KEY, internal=True,
                                    apiAllowedCidrs=["203.0.113.0/24"]),
}
INTERNAL_STACKS = {name for name in STACKS if name.endswith("-internal")}


@pytest.fixture(scope="module")
def stacks() -> dict[str, list[Registered]]:
    return {name: run_stack(config).resources for name, config in STACKS.items()}


# ---------------------------------------------------------------- the engine's view

def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])


def resource_args(resource_type: str, props: dict[str, Any], name: str = "fixture",
                  config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    """What Analyze passes a resource policy: plain values (secrets unwrapped), behind the proxy."""
    return ResourceValidationArgs(resource_type, unknown_checking_proxy(unwrap(props)),
                                  f"urn:pulumi:test::apertus-azure::{resource_type}::{name}", name,
                                  secret_marked_options(_options(), props), None, config)


def stack_resource(resource_type: str, props: dict[str, Any], name: str = "fixture") -> PolicyResource:
    return PolicyResource(resource_type, unknown_checking_proxy(unwrap(props)),
                          f"urn:pulumi:test::apertus-azure::{resource_type}::{name}", name, _options(),
                          None, None, [], {})


def violations(policy: Any, resources: list[tuple[Any, ...]], config: dict[str, Any] | None = None) -> list[str]:
    """Run one policy over (type, props[, name]) tuples the way the engine would; what it reports."""
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    named = [(resource[0], resource[1], resource[2] if len(resource) > 2 else f"r{index}")
             for index, resource in enumerate(resources)]
    if isinstance(policy, StackValidationPolicy):
        policy.validate(StackValidationArgs([stack_resource(*r) for r in named], config), report)
    else:
        for resource_type, props, name in named:
            policy.validate(resource_args(resource_type, props, name, config), report)
    return found


def recorded(policy: Any, resources: list[Registered]) -> list[tuple[str, dict[str, Any], str]]:
    """Inputs for a resource policy (Analyze), outputs for a stack policy (AnalyzeStack)."""
    stack = isinstance(policy, StackValidationPolicy)
    return [(r.type, r.outputs if stack else r.inputs, r.name) for r in resources]


# ---------------------------------------------------------------- every policy on every stack

@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("policy", pack.POLICIES, ids=lambda p: p.name)
def test_policy_passes_on_host_stack(stacks, policy, stack):
    assert violations(policy, recorded(policy, stacks[stack])) == []


def test_the_stacks_have_what_the_policies_inspect(stacks):
    """Each policy has something to look at: a pass on an empty stack would prove nothing."""
    types = {r.type for resources in stacks.values() for r in resources}
    for typ in (pack.CONTAINER_APP, pack.STORAGE_ACCOUNT, pack.KEY_VAULT, pack.MANAGED_CLUSTER, pack.NSG,
                pack.VIRTUAL_MACHINE, pack.K8S_SERVICE, pack.K8S_CONFIG_MAP, "kubernetes:apps/v1:Deployment"):
        assert typ in types, typ
    ssh_rules = [rule for r in stacks["vm-8b"] if r.type == pack.NSG
                 for rule in r.inputs["securityRules"] if pack._opens_tcp_port(rule, pack.SSH_PORT)]
    assert ssh_rules, "the vm stack with sshAllowedCidrs opens SSH: the SSH policy sees a real rule"


@pytest.mark.parametrize("stack", STACKS)
def test_internal_is_inferred_from_the_stack(stacks, stack):
    resources = [stack_resource(r.type, r.outputs, r.name) for r in stacks[stack]]
    assert pack.stack_is_internal(StackValidationArgs(resources)) == (stack in INTERNAL_STACKS)


@pytest.mark.parametrize("stack", ["vm-8b", "aks-8b", "containerapp-8b"])
def test_secrets_policy_would_see_a_key_in_the_stack(stacks, stack):
    """The secrets policy is not blind on these stacks: the key they hold is one it recognises."""
    assert pack.secret_looking(API_KEY) == "a random key"
    assert pack.secret_looking(HF_TOKEN) == "a Hugging Face token"
    where = [(r.type, r.inputs) for r in stacks[stack]]
    assert any(API_KEY in str(unwrap(props)) for _, props in where), "the key is in the stack (as a secret)"


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    """Properties as the engine marshals them: secrets keep their marker (KeepSecrets: true)."""
    return json_format.ParseDict(props, struct_pb2.Struct())


@pytest.mark.parametrize("stack", ["vm-8b", "aks-8b-internal"])
def test_engine_path_reports_what_direct_calls_report(stacks, stack):
    """The pack's own gRPC handlers (Analyze, AnalyzeStack) on the recorded resources, secret
    markers included, report exactly what the direct calls above report: the tests see what
    `pulumi up --policy-pack policy` would."""
    servicer = pulumi_policy.policy._PolicyAnalyzerServicer(
        pack.NAME, pack.VERSION, pack.POLICIES, EnforcementLevel.MANDATORY)
    # plus one leak: a secret-marked key in an env value, which the engine hands over unmarked
    leak = Registered("urn:pulumi:test::apertus-azure::kubernetes:apps/v1:Deployment::leak", DEPLOYMENT, "leak",
                      _deployment({"env": [{"name": "VLLM_API_KEY", "value": {SECRET_SIG_KEY: SECRET_SIG, "value": API_KEY}}]}),
                      "", True)
    resources = [*stacks[stack], leak]
    engine: list[tuple[str, str]] = []
    for r in resources:
        response = servicer.Analyze(proto.AnalyzeRequest(urn=r.urn, type=r.type, name=r.name,
                                                         properties=_struct(r.inputs)), None)
        engine += [(d.policyName, d.message.split("\n", 1)[1]) for d in response.diagnostics]
    response = servicer.AnalyzeStack(proto.AnalyzeStackRequest(resources=[
        proto.AnalyzerResource(urn=r.urn, type=r.type, name=r.name, properties=_struct(r.outputs))
        for r in resources]), None)
    engine += [(d.policyName, d.message.split("\n", 1)[1]) for d in response.diagnostics]
    direct = [(policy.name, message) for policy in pack.POLICIES
              for message in violations(policy, recorded(policy, resources))]
    assert sorted(engine) == sorted(direct)
    assert ("no-secrets-in-plain-properties",
            f"{DEPLOYMENT} 'leak': container 'vllm' env VLLM_API_KEY holds a random key; pass secrets as "
            "Pulumi secrets through Key Vault references, secretRef or secretKeyRef, never in plain properties"
            ) in engine
    assert all(d.enforcementLevel == proto.MANDATORY for d in response.diagnostics)


# ---------------------------------------------------------------- a bad fixture per policy

def _nsg(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"securityRules": [{"direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                               "sourcePortRange": "*", "destinationAddressPrefix": "*",
                               "priority": 100.0 + i, **rule} for i, rule in enumerate(rules)]}


# the vLLM container's context as components/k8s_workload.py sets it (root, nothing else)
LOCKED_DOWN = {"allowPrivilegeEscalation": False, "privileged": False, "capabilities": {"drop": ["ALL"]}}


def _deployment(container: dict[str, Any], labels: dict[str, str] | None = None,
                pod: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "vllm", "labels": labels or {"app": "vllm"}},
            "spec": {"template": {"metadata": {"labels": {"app": "vllm"}},
                                  "spec": {**(pod or {}),
                                           "containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.33.0",
                                                           "securityContext": LOCKED_DOWN, **container}]}}}}


def _container_app(ingress: dict[str, Any] | None = None, env: list[dict[str, Any]] | None = None,
                   image: str = "vllm/vllm-openai:v0.33.0") -> dict[str, Any]:
    return {"configuration": {"ingress": {"external": True, "targetPort": 8080.0, "allowInsecure": False,
                                          **(ingress or {})}},
            "template": {"containers": [{"name": "vllm", "image": image, "env": env or []},
                                        {"name": "gateway", "image": "caddy:2.10.2"}]}}


GOOD_STORAGE = {"kind": "StorageV2", "allowSharedKeyAccess": False, "minimumTlsVersion": "TLS1_2",
                "allowBlobPublicAccess": False, "enableHttpsTrafficOnly": True}
GOOD_VAULT = {"properties": {"enableRbacAuthorization": True, "enableSoftDelete": True,
                             "enablePurgeProtection": True, "publicNetworkAccess": "Enabled"}}
GOOD_CLUSTER = {"disableLocalAccounts": True, "aadProfile": {"managed": True, "enableAzureRBAC": True},
                "securityProfile": {"workloadIdentity": {"enabled": True}}, "oidcIssuerProfile": {"enabled": True}}
GPU = {"resources": {"limits": {"nvidia.com/gpu": "1"}}}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INTERNAL_MARK = {"tags": {pack.EXPOSURE_TAG: "internal"}}  # what the host components set when internal
INTERNAL_ENV = (pack.MANAGED_ENVIRONMENT, {"vnetConfiguration": {"internal": True}, **INTERNAL_MARK})
PUBLIC_NIC = (pack.NETWORK_INTERFACE, {"ipConfigurations": [{"publicIPAddress": {"id": "/pip"}}]})


def _custom_data(text: str) -> dict[str, Any]:
    return {"osProfile": {"customData": base64.b64encode(text.encode()).decode()}}


def _ssh_rule(source: str) -> dict[str, Any]:
    return {"direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourcePortRange": "*",
            "sourceAddressPrefix": source, "destinationAddressPrefix": "*", "destinationPortRange": "22"}


# `openssl rand -base64 36` output (seeded draw) with a '/' that leaves no 32-character piece
BASE64_KEY_WITH_SLASH = "srclVBJS8Q5O6LP78GVWBRM/kfUQgSbNZE8X69WKzeh6QTfK"
# a cloud-config in the shape components/cloudinit.py writes: a pull loop and an exec docker run
CLOUD_INIT_PULL_LOOP = """#cloud-config
write_files:
- path: /usr/local/sbin/setup
  content: |
    #!/bin/bash
    for image in vllm/vllm-openai caddy:2.10.2; do
      docker pull "$image" || echo "pulling $image failed" >&2
    done
"""
VLLM_RUN_SCRIPT = """#!/bin/bash
docker_args=(--rm --name apertus-vllm --gpus all --ipc=host)
exec docker run "${docker_args[@]}" --log-opt max-size=100m \\
  vllm/vllm-openai:nightly-cu129 "${vllm_args[@]}"
"""


# (policy name, resources of the bad stack, words the violation must contain)
BAD = {
    "aca-allow-insecure": ("https-only-ingress", [(pack.CONTAINER_APP, _container_app({"allowInsecure": True}))],
                           ["allowInsecure"]),
    "aca-tcp-transport": ("https-only-ingress", [(pack.CONTAINER_APP, _container_app({"transport": "tcp"}))],
                          ["tcp"]),
    "aca-external-tcp-port": ("https-only-ingress", [(pack.CONTAINER_APP, _container_app(
        {"additionalPortMappings": [{"external": True, "targetPort": 8000.0, "exposedPort": 8000.0}]}))], ["8000"]),
    "azure-lb-port-80": ("https-only-ingress", [(pack.LOAD_BALANCER, {"loadBalancingRules": [
        {"name": "https", "frontendPort": 443.0, "backendPort": 443.0, "protocol": "Tcp"},
        {"name": "http", "frontendPort": 80.0, "backendPort": 80.0, "protocol": "Tcp"}]})], ["'http'", "port 80"]),
    "storage-http": ("https-only-ingress",
                     [(pack.STORAGE_ACCOUNT, {**GOOD_STORAGE, "enableHttpsTrafficOnly": False})],
                     ["enableHttpsTrafficOnly"]),
    "nfs-storage-open-network": ("https-only-ingress",
                                 [(pack.STORAGE_ACCOUNT, {**GOOD_STORAGE, "kind": "FileStorage",
                                                          "enableHttpsTrafficOnly": False,
                                                          "networkRuleSet": {"defaultAction": "Allow"}})],
                                 ["enableHttpsTrafficOnly"]),
    "nsg-port-80": ("https-only-ingress", [(pack.NSG, _nsg({"name": "allow-http", "sourceAddressPrefix": "*",
                                                             "destinationPortRange": "80"}))], ["allow-http", "80"]),
    # stray spaces, a tab or an unknown spelling count as the permissive value (review 5)
    "nsg-port-80-spaced-fields": ("https-only-ingress", [(pack.NSG, _nsg({
        "name": "allow-http", "sourceAddressPrefix": "*", "destinationPortRange": "80",
        "direction": "Inbound ", "access": "Allow ", "protocol": "TCP\t"}))], ["allow-http", "80"]),
    "nsg-all-ports": ("https-only-ingress", [(pack.NSG, _nsg({"name": "allow-web", "sourceAddressPrefix": "*",
                                                               "destinationPortRanges": ["443", "50-100"]}))],
                      ["allow-web"]),
    "internal-lb-port-80": ("https-only-ingress",
                            [(pack.K8S_SERVICE, {"metadata": {"annotations": {pack.INTERNAL_LB_ANNOTATION: "true"}},
                                                 "spec": {"type": "LoadBalancer",
                                                          "ports": [{"port": 80.0}, {"port": 443.0}]}})],
                            ["port 80", "internal"]),
    "public-lb-8000": ("https-only-ingress",
                       [(pack.K8S_SERVICE, {"spec": {"type": "LoadBalancer", "ports": [{"port": 8000.0}]}})],
                       ["8000"]),
    "ssh-from-anywhere": ("no-public-ssh", [(pack.NSG, _nsg({"name": "ssh", "sourceAddressPrefix": "*",
                                                              "destinationPortRange": "22"}))], ["'*'"]),
    "ssh-from-internet-tag": ("no-public-ssh", [(pack.SECURITY_RULE, {
        "direction": "Inbound", "access": "Allow", "protocol": "*", "sourceAddressPrefix": "Internet",
        "destinationPortRange": "20-23"})], ["Internet"]),
    "ssh-from-a-slash-7": ("no-public-ssh", [(pack.NSG, _nsg({"name": "ssh", "sourceAddressPrefixes": ["10.0.0.0/7"],
                                                               "destinationPortRange": "22"}))], ["/8"]),
    "ssh-in-pieces": ("no-public-ssh", [(pack.NSG, _nsg(  # issue 8.6: two halves of the internet
        {"name": "ssh-a", "sourceAddressPrefix": "0.0.0.0/1", "destinationPortRange": "22"},
        {"name": "ssh-b", "sourceAddressPrefix": "128.0.0.0/1", "destinationPortRange": "22"}))], ["together"]),
    "ssh-union-of-slash-8s": ("no-public-ssh", [(pack.NSG, _nsg(
        {"name": "ssh", "sourceAddressPrefixes": ["10.0.0.0/8", "11.0.0.0/8"], "destinationPortRange": "22"}))],
        ["together"]),
    # each SecurityRule alone is a /8: only the stack-wide union shows 199 of them
    "ssh-in-199-security-rules": ("no-public-ssh-across-stack",
                                  [(pack.SECURITY_RULE, _ssh_rule(f"{n}.0.0.0/8"), f"ssh-{n}") for n in range(1, 200)],
                                  ["199 resources", "/8"]),
    "ssh-in-two-nsgs": ("no-public-ssh-across-stack",
                        [(pack.NSG, _nsg({"name": "ssh", "sourceAddressPrefix": "10.0.0.0/8",
                                          "destinationPortRange": "22"}), "nsg-a"),
                         (pack.NSG, _nsg({"name": "ssh", "sourceAddressPrefix": "11.0.0.0/8",
                                          "destinationPortRange": "22"}), "nsg-b")],
                        ["nsg-a, nsg-b", "together"]),
    "vault-no-purge-protection": ("key-vault-hardened",
                                  [(pack.KEY_VAULT, {"properties": {**GOOD_VAULT["properties"],
                                                                    "enablePurgeProtection": None}})],
                                  ["enablePurgeProtection"]),
    "vault-access-policies": ("key-vault-hardened",
                              [(pack.KEY_VAULT, {"properties": {**GOOD_VAULT["properties"],
                                                                "enableRbacAuthorization": False}})],
                              ["enableRbacAuthorization"]),
    "vault-no-soft-delete": ("key-vault-hardened",
                             [(pack.KEY_VAULT, {"properties": {**GOOD_VAULT["properties"], "enableSoftDelete": False}})],
                             ["enableSoftDelete"]),
    "internal-open-vault": ("closed-when-internal", [INTERNAL_ENV, (pack.KEY_VAULT, GOOD_VAULT)],
                            ["publicNetworkAccess", "enabled"]),
    "internal-open-api-server": ("closed-when-internal",
                                 [(pack.K8S_SERVICE, {"metadata": {"annotations": {pack.INTERNAL_LB_ANNOTATION: "true"}},
                                                      "spec": {"type": "LoadBalancer", "ports": [{"port": 443.0}]}}),
                                  (pack.MANAGED_CLUSTER, {**GOOD_CLUSTER, "apiServerAccessProfile": {}, **INTERNAL_MARK})],
                                 ["API server"]),
    "storage-shared-key": ("storage-account-hardened",
                           [(pack.STORAGE_ACCOUNT, {**GOOD_STORAGE, "allowSharedKeyAccess": None})],
                           ["allowSharedKeyAccess"]),
    "storage-tls-1-0": ("storage-account-hardened",
                        [(pack.STORAGE_ACCOUNT, {**GOOD_STORAGE, "minimumTlsVersion": "TLS1_0"})], ["TLS1_0"]),
    "storage-public-blobs": ("storage-account-hardened",
                             [(pack.STORAGE_ACCOUNT, {**GOOD_STORAGE, "allowBlobPublicAccess": True})],
                             ["allowBlobPublicAccess"]),
    "aks-local-accounts": ("aks-identity-hardened",
                           [(pack.MANAGED_CLUSTER, {**GOOD_CLUSTER, "disableLocalAccounts": False})],
                           ["disableLocalAccounts"]),
    "aks-no-azure-rbac": ("aks-identity-hardened",
                          [(pack.MANAGED_CLUSTER, {**GOOD_CLUSTER, "aadProfile": {"managed": True}})],
                          ["enableAzureRBAC"]),
    "aks-no-workload-identity": ("aks-identity-hardened",
                                 [(pack.MANAGED_CLUSTER, {**GOOD_CLUSTER, "securityProfile": {}})],
                                 ["workloadIdentity"]),
    "gpu-keeps-capabilities": ("gpu-containers-drop-capabilities",
                               [(DEPLOYMENT, _deployment({**GPU, "securityContext": {"capabilities": {"drop": ["NET_RAW"]}}}))],
                               ["'vllm'", "ALL"]),
    "gpu-privileged": ("gpu-containers-drop-capabilities",
                       [("kubernetes:core/v1:Pod", {"spec": {"containers": [{
                           "name": "cuda", "image": "nvidia/cuda:12.8.0-base-ubuntu24.04", "resources": {"requests": {"nvidia.com/gpu": 1.0}},
                           "securityContext": {"privileged": True, "capabilities": {"drop": ["ALL"]}}}]}})],
                       ["privileged"]),
    # review 5: kinds the pack's table does not name are judged by their pod spec's shape
    "gpu-privileged-replication-controller": ("gpu-containers-drop-capabilities",
        [("kubernetes:core/v1:ReplicationController", {"spec": {"template": {"spec": {"containers": [{
            "name": "cuda", "image": "nvidia/cuda:12.8.0-base-ubuntu24.04",
            "resources": {"limits": {"nvidia.com/gpu": 1.0}}, "securityContext": {"privileged": True}}]}}}})],
        ["privileged"]),
    "keda-scaled-job-latest-vllm": ("images-pinned",
        [("kubernetes:keda.sh/v1alpha1:ScaledJob", {"spec": {"jobTargetRef": {"template": {"spec": {
            "containers": [{"name": "vllm", "image": "vllm/vllm-openai:latest", "securityContext": LOCKED_DOWN}]}}}}})],
        ["vllm/vllm-openai:latest"]),
    "keda-scaled-job-token-in-env": ("no-secrets-in-plain-properties",
        [("kubernetes:keda.sh/v1alpha1:ScaledJob", {"spec": {"jobTargetRef": {"template": {"spec": {
            "containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.10.1", "securityContext": LOCKED_DOWN,
                            "env": [{"name": "HF_TOKEN", "value": HF_TOKEN}]}]}}}}})],
        ["HF_TOKEN"]),
    "gpu-adds-capabilities": ("gpu-containers-drop-capabilities",
                              [(DEPLOYMENT, _deployment({**GPU, "securityContext": {
                                  **LOCKED_DOWN, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN", "NET_ADMIN"]}}}))],
                              ["SYS_ADMIN, NET_ADMIN"]),
    "gpu-escalates-as-root": ("gpu-containers-drop-capabilities",
                              [(DEPLOYMENT, _deployment({**GPU, "securityContext": {
                                  **LOCKED_DOWN, "allowPrivilegeEscalation": True, "runAsUser": 0.0}}))],
                              ["allowPrivilegeEscalation"]),
    "gpu-host-namespaces": ("gpu-containers-drop-capabilities",
                            [(DEPLOYMENT, _deployment(GPU, pod={"hostPID": True, "hostNetwork": True, "hostIPC": True}))],
                            ["hostPID", "hostNetwork", "hostIPC"]),
    "gpu-through-env": ("gpu-containers-drop-capabilities",  # no nvidia.com/gpu request, GPUs all the same
                        [(DEPLOYMENT, _deployment({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}},
                                                   "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]}))],
                        ["'vllm'", "ALL", "SYS_ADMIN", "allowPrivilegeEscalation"]),
    "hf-token-in-tag": ("no-secrets-in-plain-properties",
                        [(pack.KEY_VAULT, {**GOOD_VAULT, "tags": {"note": HF_TOKEN}})], ["tags.note", "Hugging Face"]),
    "key-in-aca-env": ("no-secrets-in-plain-properties",
                       [(pack.CONTAINER_APP, _container_app(env=[{"name": "VLLM_API_KEY", "value": API_KEY}]))],
                       ["VLLM_API_KEY", "random key"]),
    "key-in-vllm-args": ("no-secrets-in-plain-properties",
                         [(DEPLOYMENT, _deployment({"args": ["--api-key", API_KEY]}))], ["args[1]"]),
    "key-in-annotation": ("no-secrets-in-plain-properties",
                          [(pack.K8S_SERVICE, {"metadata": {"annotations": {"apertus/key": API_KEY}},
                                               "spec": {"type": "ClusterIP"}})], ["annotations"]),
    "key-in-configmap": ("no-secrets-in-plain-properties",
                         [(pack.K8S_CONFIG_MAP, {"data": {"Caddyfile": f"header Authorization \"Bearer {API_KEY}\""}})],
                         ["data.Caddyfile"]),
    "suite-key-in-env": ("no-secrets-in-plain-properties",  # lower case, digits, dashes: tests/conftest.py's key
                         [(DEPLOYMENT, _deployment({"env": [{"name": "VLLM_API_KEY", "value": SUITE_API_KEY}]}))],
                         ["VLLM_API_KEY"]),
    "hex-key-in-tag": ("no-secrets-in-plain-properties",  # `openssl rand -hex 32` shape, no entropy to measure
                       [(pack.KEY_VAULT, {**GOOD_VAULT, "tags": {"apikey": "9f" * 32}})], ["tags.apikey", "hex key"]),
    "hex-key-in-env-named-shared": ("no-secrets-in-plain-properties",  # 'SHARED' is no 'sha': not a digest's place
                                    [(DEPLOYMENT, _deployment({"env": [{"name": "SHARED_KEY",
                                                                        "value": "5f1c9e2a7b0d4c8e" * 2}]}))],
                                    ["SHARED_KEY", "hex key"]),
    "base64-key-with-slash": ("no-secrets-in-plain-properties",
                              [(pack.K8S_CONFIG_MAP, {"data": {"Caddyfile": f"header Authorization \"Bearer {BASE64_KEY_WITH_SLASH}\""}})],
                              ["data.Caddyfile", "random key"]),
    "token-in-custom-data": ("no-secrets-in-plain-properties",
                             [(pack.VIRTUAL_MACHINE, _custom_data(f"#!/bin/sh\nexport HF_TOKEN={HF_TOKEN}\n"))],
                             ["customData"]),
    "latest-image": ("images-pinned", [(DEPLOYMENT, _deployment({"image": "vllm/vllm-openai:latest"}))], ["latest"]),
    "untagged-image": ("images-pinned", [(pack.CONTAINER_APP, _container_app(image="myregistry.azurecr.io:5000/caddy"))],
                       ["no tag"]),
    "floating-tag": ("images-pinned", [(DEPLOYMENT, _deployment({"image": "vllm/vllm-openai:nightly"}))], ["nightly"]),
    "latest-in-custom-data": ("images-pinned",
                              [(pack.VIRTUAL_MACHINE, _custom_data("docker run --rm vllm/vllm-openai:latest serve\n"))],
                              ["vllm/vllm-openai:latest"]),
    "untagged-image-in-pull-loop": ("images-pinned", [(pack.VIRTUAL_MACHINE, _custom_data(CLOUD_INIT_PULL_LOOP))],
                                    ["'vllm/vllm-openai'", "no tag"]),
    "nightly-in-docker-run": ("images-pinned", [(pack.VIRTUAL_MACHINE, _custom_data(VLLM_RUN_SCRIPT))],
                              ["vllm/vllm-openai:nightly-cu129", "moves"]),
}


# fixtures that rightly break a second rule as well (a port that is neither the gateway's nor SSH's)
ALSO = {"nsg-all-ports": {"vllm-only-behind-gateway"}, "public-lb-8000": {"vllm-only-behind-gateway"},
        "ssh-from-internet-tag": {"vllm-only-behind-gateway"},
        "aca-external-tcp-port": {"vllm-only-behind-gateway"},
        "gpu-host-namespaces": {"vllm-only-behind-gateway"}}  # vLLM on the node's network


def _load_fixtures(name: str) -> list[dict[str, Any]]:
    # libyaml's parser when PyYAML has it (its wheels do): the same data, read ~8x faster in every worker
    return yaml.load((FIXTURES / name).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


RECORDED_BAD = {case["name"]: case for case in _load_fixtures("violations.yaml")}
RECORDED_GOOD = {case["name"]: case for case in _load_fixtures("passing.yaml")}


HARDENED = {pack.KEY_VAULT: GOOD_VAULT, pack.STORAGE_ACCOUNT: GOOD_STORAGE, pack.MANAGED_CLUSTER: GOOD_CLUSTER}


def _over(base: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """``props`` laid over ``base``, maps merged key by key."""
    merged = dict(base)
    for key, value in props.items():
        merged[key] = _over(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _recorded_resources(case: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    return [(r["type"], _marked(_over(HARDENED.get(pack.normalise_type(r["type"]), {}), r.get("props") or {}),
                                r.get("secret", [])), r.get("name", f"r{index}"))
            for index, r in enumerate(case["resources"])]


def _marked(props: dict[str, Any], secret: list[str]) -> dict[str, Any]:
    """``props`` with the inputs a fixture lists under ``secret`` wrapped as the SDK sends a secret."""
    return {key: {rpc._special_sig_key: rpc._special_secret_sig, "value": value} if key in secret else value
            for key, value in props.items()}


def _assert_flagged_only_by(case: str, target: str, resources: list[Any], words: list[str],
                            also: set[str], config: dict[str, Any] | None = None) -> None:
    for policy in pack.POLICIES:
        found = violations(policy, resources, config)
        if policy.name == target:
            assert found, f"{target} missed {case}"
            assert all(word in " ".join(found) for word in words), found
        elif policy.name in also:
            assert found, f"{policy.name} should flag {case} too"
        else:
            assert found == [], (policy.name, found)


@pytest.mark.parametrize("case", BAD)
def test_bad_fixture_is_flagged_by_its_policy_only(case):
    """Each fixture breaks one rule (and those in ALSO): its policy names it, every other policy passes it."""
    target, resources, words = BAD[case]
    _assert_flagged_only_by(case, target, resources, words, ALSO.get(case, set()))


@pytest.mark.parametrize("case", RECORDED_BAD)
def test_recorded_violation_is_caught(case):
    """tests/fixtures/policy/violations.yaml: each stack is caught by its policy (and only the listed others)."""
    fixture = RECORDED_BAD[case]
    _assert_flagged_only_by(case, fixture["policy"], _recorded_resources(fixture), fixture.get("words", []),
                            set(fixture.get("also", [])), fixture.get("config"))


@pytest.mark.parametrize("case", RECORDED_GOOD)
def test_recorded_passing_stack_passes(case):
    resources = _recorded_resources(RECORDED_GOOD[case])
    config = RECORDED_GOOD[case].get("config")
    assert {p.name: violations(p, resources, config) for p in pack.POLICIES} == {p.name: [] for p in pack.POLICIES}


def test_at_least_40_violations_are_recorded_and_every_policy_has_some():
    targets = [target for target, _, _ in BAD.values()] + [c["policy"] for c in RECORDED_BAD.values()]
    assert len(targets) >= 40
    assert set(targets) == {p.name for p in pack.POLICIES}


@pytest.mark.parametrize("good", [
    ("https-only-ingress", (pack.STORAGE_ACCOUNT, {**GOOD_STORAGE, "kind": "FileStorage", "enableHttpsTrafficOnly": False,
                                                   "sku": {"name": "Premium_LRS"},
                                                   "networkRuleSet": {"defaultAction": "Deny"}})),  # the NFS case
    ("https-only-ingress", (pack.STORAGE_ACCOUNT, {**GOOD_STORAGE, "kind": "FileStorage", "enableHttpsTrafficOnly": False,
                                                   "sku": {"name": "Premium_ZRS"}, "publicNetworkAccess": "Disabled",
                                                   "networkRuleSet": {"defaultAction": "Allow"}})),
    ("https-only-ingress", (pack.NSG, _nsg({"name": "allow-acme-http", "sourceAddressPrefix": "*",
                                            "destinationPortRange": "80"}))),
    ("https-only-ingress", (pack.NSG, _nsg({"name": "deny-http", "access": "Deny", "sourceAddressPrefix": "*",
                                            "destinationPortRange": "80"}))),
    ("no-public-ssh", (pack.NSG, _nsg({"name": "ssh", "sourceAddressPrefixes": ["10.0.0.0/8"],
                                       "destinationPortRange": "22"}))),
    ("no-public-ssh", (pack.NSG, _nsg({"name": "ssh", "sourceAddressPrefix": "*", "destinationPortRange": "22",
                                       "access": "Deny"}))),
    ("images-pinned", (DEPLOYMENT, _deployment({"image": "vllm/vllm-openai@sha256:" + "ab" * 32}))),
    ("images-pinned", (DEPLOYMENT, _deployment({"image": "myregistry.azurecr.io:5000/caddy:2.10.2"}))),
    ("gpu-containers-drop-capabilities", (DEPLOYMENT, _deployment({"securityContext": {},  # no GPU for 'void'
        "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}]}))),
    ("no-public-ssh-across-stack", (pack.NSG, _nsg({"name": "ssh", "sourceAddressPrefix": "10.0.0.0/8",
                                                    "destinationPortRange": "22"}))),
    ("no-secrets-in-plain-properties", (DEPLOYMENT, {"spec": {"template": {  # a 16-hex config digest
        "metadata": {"annotations": {"apertus/config-hash": "5f1c9e2a7b0d4c8e",
                                     "checksum/config": "0123456789abcdef" * 4}}, "spec": {"containers": []}}}})),
    ("no-secrets-in-plain-properties", (DEPLOYMENT, _deployment({"env": [
        {"name": "DIGEST", "value": "sha256:" + "0123456789abcdef" * 4},
        {"name": "ID", "value": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
                                "Microsoft.KeyVault/vaults/kv-apertus-secret-5f1f4d"}]}))),
], ids=lambda g: g[0])
def test_what_the_hosts_rely_on_passes(good):
    """The documented exceptions and harmless look-alikes are not violations."""
    name, resource = good
    policy = next(p for p in pack.POLICIES if p.name == name)
    assert violations(policy, [resource]) == []


KEY_DRAWS = {  # how keys are made, each drawn 2,000 times (seeded: the same run every time)
    "letters and digits (the program's RandomPassword)": lambda rng, n: "".join(
        rng.choice(string.ascii_letters + string.digits) for _ in range(n)),
    "lower case and digits": lambda rng, n: "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(n)),
    "openssl rand -hex": lambda rng, n: rng.randbytes(n // 2).hex(),
    "openssl rand -base64 (the README's)": lambda rng, n: base64.b64encode(rng.randbytes(n * 3 // 4)).decode(),
}


@pytest.mark.parametrize("length", [32, 48, 64])
@pytest.mark.parametrize("draw", KEY_DRAWS)
def test_random_keys_are_recognised(draw, length):
    """At most 1 in 100 keys missed (measured: lower case and digits at 32 characters ~0.5%, the
    rest at most ~0.3%: the misses are runs with too few changes between upper, lower and digit)."""
    rng = random.Random(f"{draw}{length}")
    keys = [KEY_DRAWS[draw](rng, length) for _ in range(2000)]
    missed = [key for key in keys if pack.secret_looking(key) is None]
    assert len(missed) <= 20, missed


def test_no_key_is_missed_for_a_slash():
    """Half of `openssl rand -base64 36` keys hold a '/': none of them is missed for it."""
    rng = random.Random(36)
    keys = [k for k in (base64.b64encode(rng.randbytes(36)).decode() for _ in range(2000)) if "/" in k]
    assert len(keys) > 500 and [k for k in keys if pack.secret_looking(k) is None] == []


def test_keys_are_found_among_words():
    """The pack cannot read the stack's secret config, so it judges by shape alone: a key it has
    never seen is found next to words, paths or URLs."""
    for text in (f"Bearer {SUITE_API_KEY}", f"https://gw.example/v1?key={BASE64_KEY_WITH_SLASH}",
                 f"VLLM_API_KEY={'9f' * 32}", f"--api-key {API_KEY}"):
        assert pack.secret_looking(text), text


def test_vm_custom_data_images_are_parsed(stacks):
    """The VM's rendered cloud-init is read for the images it pulls and runs: both, as
    components/cloudinit.py writes them (if its shape changes, this fails before the policy goes blind)."""
    for name in ("vm-8b", "vm-70b", "vm-8b-internal"):
        vm = next(r for r in stacks[name] if r.type == pack.VIRTUAL_MACHINE)
        assert pack.custom_data_images(unwrap(vm.inputs)) == [DEFAULT_IMAGE, CADDY_IMAGE], name


@pytest.mark.parametrize("image", ["vllm/vllm-openai", "vllm/vllm-openai:latest", "vllm/vllm-openai:nightly"])
def test_unpinned_image_in_the_vm_cloud_init_is_flagged(stacks, image):
    """The real VM custom data with its vLLM image unpinned (what `vllmImage` could set before the
    program refused it) is flagged, once for the reference its pull loop and `exec docker run` share."""
    vm = next(r for r in stacks["vm-8b"] if r.type == pack.VIRTUAL_MACHINE)
    props = unwrap(vm.inputs)
    text = base64.b64decode(props["osProfile"]["customData"]).decode().replace(DEFAULT_IMAGE, image)
    found = violations(pack.images_pinned, [(pack.VIRTUAL_MACHINE, {**props, **_custom_data(text)})])
    assert len(found) == 1 and f"'{image}'" in found[0], found


def test_the_aks_vllm_container_is_a_gpu_container(stacks):
    """The GPU policy inspects the real vLLM container (a pass on no GPU container would prove nothing),
    and the one reading of a pod (serving_pod) finds the real stack's roles: vLLM holds the GPU, Caddy
    is the gateway; NVIDIA's device plugin and DCGM exporter request no GPU but run on the GPU pools
    (they tolerate the GPU taint), so they count as GPU containers, and pass (host_stack test above):
    locked down, their kubelet hostPath directories the node agents' documented exception."""
    deployments = [r for r in stacks["aks-8b"] if r.type in pack._POD_SPEC_PATHS]
    gpu = [c["name"] for r in deployments for c in pack.k8s_containers(r.type, unwrap(r.inputs)) if pack._gets_gpu(c)]
    assert gpu == ["vllm"]
    pods = {r.name: pack.serving_pod(r.type, unwrap(r.inputs)) for r in deployments}
    roles = {name: ([c["name"] for c, _ in pod.gpu], [c["name"] for c in pod.vllm], [c["name"] for c in pod.gateway])
             for name, pod in pods.items() if pod.gpu or pod.vllm or pod.gateway}
    assert roles == {"apertus-vllm": (["vllm"], ["vllm"], []), "apertus-gateway": ([], [], ["caddy"]),
                     "apertus-dcgm-exporter": (["dcgm-exporter"], [], []),
                     "apertus-nvidia-device-plugin": (["nvidia-device-plugin-ctr"], [], [])}
    assert pods["apertus-vllm"].gpu[0][1] == "requests nvidia.com/gpu"
    assert "tolerates the GPU taint 'sku'" in pods["apertus-dcgm-exporter"].gpu[0][1]


def test_internal_can_be_declared_in_policy_config():
    """A platform team can demand 'internal' even for a stack whose entry points look public."""
    public_stack = [PUBLIC_NIC, (pack.KEY_VAULT, GOOD_VAULT)]
    assert violations(pack.closed_when_internal, public_stack) == []
    assert violations(pack.closed_when_internal, public_stack, {"internal": True})
    assert violations(pack.closed_when_internal, [INTERNAL_ENV, (pack.KEY_VAULT, GOOD_VAULT)], {"internal": False}) == []


# ---------------------------------------------------------------- the pack itself

def test_every_policy_is_mandatory_named_and_described():
    names = [p.name for p in pack.POLICIES]
    assert len(names) == len(set(names))
    for policy in pack.POLICIES:
        assert isinstance(policy, (ResourceValidationPolicy, StackValidationPolicy))
        assert policy.enforcement_level == EnforcementLevel.MANDATORY, policy.name
        assert len(policy.description) > 40, policy.name


def test_main_builds_the_pack_from_every_policy(monkeypatch):
    """__main__.py (what `pulumi up --policy-pack policy` runs) hands PolicyPack every policy, mandatory."""
    built: dict[str, Any] = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.update(kwargs))  # the real one serves forever
    monkeypatch.syspath_prepend(str(POLICY_DIR))
    monkeypatch.delitem(sys.modules, "apertus_policies", raising=False)
    runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="__main__")
    # the security policies and the monitoring one: the offline runner runs the same list
    assert [p.name for p in built["policies"]] == [p.name for p in pack.PACK_POLICIES]
    assert [p.name for p in pack.PACK_POLICIES] == [p.name for p in pack.POLICIES] + ["serving-host-monitored"]
    assert built["enforcement_level"] == EnforcementLevel.MANDATORY


def test_pack_project_files():
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python" and project["version"]
    requirements = (POLICY_DIR / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements and "pulumi>=" in requirements


# ---------------------------------------------------------------- a platform team's own program

def _team_program(debug_port: str | None = None, alerts_to: tuple[str, ...] = ("oncall@example.com",)) -> Any:
    """A platform team's program: an internal VM from the components, plus (optionally) a
    security group of its own that opens a port straight to vLLM."""
    import pulumi
    from pulumi_azure_native import network

    from components import GpuVirtualMachine, GpuVirtualMachineArgs

    def program() -> None:
        vm = GpuVirtualMachine("team", GpuVirtualMachineArgs(
            location="swedencentral", hf_token=pulumi.Config().require_secret("hfToken"), internal=True,
            alert_emails=list(alerts_to)))  # monitored: the pack's operations policy passes
        if debug_port:
            network.NetworkSecurityGroup("debug", resource_group_name="rg-team", security_rules=[
                network.SecurityRuleArgs(name="debug", priority=100, direction="Inbound", access="Allow",
                                         protocol="Tcp", source_address_prefix="*", source_port_range="*",
                                         destination_address_prefix="*", destination_port_range=debug_port)])
            network.PublicIPAddress("debug-ip", resource_group_name="rg-team")
        pulumi.export("endpoint", vm.endpoint)
    return program


def test_run_policy_pack_judges_a_platform_teams_program():
    """apertus_azure.testing.run_policy_pack (docs/guardrails.md): the team's clean program passes;
    its NSG to vLLM's port and its public IP are caught, and adding the IP does not switch off
    the internal checks (the components' marker decides)."""
    from components.testing import run_policy_pack, run_program

    clean = run_program(_team_program(), "team-llm", "dev", {"hfToken": HF_TOKEN}, {"hfToken"})
    assert run_policy_pack(clean) == []
    # without an alert destination the operations policy speaks (the CLI runs the same list)
    quiet = run_program(_team_program(alerts_to=()), "team-llm", "dev", {"hfToken": HF_TOKEN}, {"hfToken"})
    assert [v.policy for v in run_policy_pack(quiet)] == ["serving-host-monitored"]
    bad = run_program(_team_program("8000"), "team-llm", "dev", {"hfToken": HF_TOKEN}, {"hfToken"})
    found = run_policy_pack(bad)
    assert {v.policy for v in found} == {"vllm-only-behind-gateway", "closed-when-internal"}, found
    assert any("debug-ip" in v.message and "public IP" in v.message for v in found), found
    assert all(v.resource for v in found)



def test_the_pack_passes_on_the_library_example_the_docs_run_it_over(monkeypatch):
    """docs/guardrails.md runs the pack over the program of docs/library.md (examples/library)."""
    import importlib.util

    import components
    from components.testing import run_policy_pack, run_program
    monkeypatch.setitem(sys.modules, "apertus_azure", components)  # the installed name (pyproject)
    spec = importlib.util.spec_from_file_location("team_example", ROOT / "examples" / "library" / "__main__.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    run = run_program(example.program, "team-llm", "dev", {"hfToken": HF_TOKEN}, {"hfToken"})
    assert run_policy_pack(run) == []


def _review3_program() -> None:
    """A real Pulumi program (review 3): six ways around the pack that it used to pass."""
    import pulumi
    from pulumi_azure_native import app, compute, containerservice, network

    internal = {pack.EXPOSURE_TAG: "internal"}
    subnet = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    app.ContainerApp("llm", resource_group_name="rg", managed_environment_id="/subscriptions/x/env",
        configuration=app.ConfigurationArgs(ingress=app.IngressArgs(external=True, target_port=8001, transport="http")),
        template=app.TemplateArgs(containers=[
            app.ContainerArgs(name="gateway", image=CADDY_IMAGE),
            app.ContainerArgs(name="vllm", image=DEFAULT_IMAGE, command=["sh", "-c"],
                              args=["vllm serve swiss-ai/Apertus-8B-Instruct-2509 --port 8001"])]))
    compute.VirtualMachine("gpu-vm", resource_group_name="rg", tags=internal,
        hardware_profile=compute.HardwareProfileArgs(vm_size="Standard_NC24ads_A100_v4"),
        network_profile=compute.NetworkProfileArgs(network_api_version="2020-11-01",
            network_interface_configurations=[compute.VirtualMachineNetworkInterfaceConfigurationArgs(
                name="nic", primary=True, ip_configurations=[compute.VirtualMachineNetworkInterfaceIPConfigurationArgs(
                    name="ip", subnet=compute.SubResourceArgs(id=subnet),
                    public_ip_address_configuration=compute.VirtualMachinePublicIPAddressConfigurationArgs(name="pip"))])]))
    containerservice.AgentPool("gpu", resource_group_name="rg", resource_name_="aks", vm_size="Standard_NC24ads_A100_v4",
                               count=1, enable_node_public_ip=True, tags=internal)
    compute.VirtualMachineScaleSet("vmss", resource_group_name="rg", tags=internal,
        virtual_machine_profile=compute.VirtualMachineScaleSetVMProfileArgs(
            network_profile=compute.VirtualMachineScaleSetNetworkProfileArgs(network_interface_configurations=[
                compute.VirtualMachineScaleSetNetworkConfigurationArgs(name="n", ip_configurations=[
                    compute.VirtualMachineScaleSetIPConfigurationArgs(
                        name="i", public_ip_address_configuration=compute.VirtualMachineScaleSetPublicIPAddressConfigurationArgs(
                            name="p"))])])))
    network.InboundNatRule("to-vllm", resource_group_name="rg", load_balancer_name="lb", frontend_port=8000,
                           backend_port=8000, protocol="Tcp", frontend_ip_configuration=network.SubResourceArgs(id="x"))
    pulumi.CustomResource("azure-native:network/v20240301:SecurityRule", "open-vllm", {
        "resourceGroupName": "rg", "networkSecurityGroupName": "nsg", "direction": "Inbound", "access": "Allow",
        "protocol": "Tcp", "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*",
        "destinationPortRange": "8000", "priority": 100})


def test_run_policy_pack_catches_review3_program():
    """Each of the review's six resources is named by the policy it breaks (run under the mocks)."""
    from components.testing import run_policy_pack, run_program

    run = run_program(_review3_program, "team", "dev", {"azure-native:location": "swedencentral"})
    found = {(v.policy, v.resource.rsplit("::", 1)[-1]) for v in run_policy_pack(run)}
    assert {("vllm-only-behind-gateway", "llm"), ("vllm-only-behind-gateway", "to-vllm"),
            ("vllm-only-behind-gateway", "open-vllm"), ("closed-when-internal", "gpu-vm"),
            ("closed-when-internal", "gpu"), ("closed-when-internal", "vmss"),
            ("vllm-only-behind-gateway-across-stack", "gpu-vm")} <= found, found

# ---------------------------------------------------------------- fuzz: no policy crashes

HOSTILE_VALUES = ["*", "Internet", "AzureCloud", "VirtualNetwork", "::/0", "2001:db8::/32", "0.0.0.0/0",
                  "8000", "80-443", "7000-9000", "9000-8000", "x-y", "-", "", "65536", 8000, 8000.0, 8000.5,
                  True, None, [], {}, ["443", "8000"], [None, 1.0], {"id": None}, [{"id": "/x"}], "Tcp", "Allow",
                  "Inbound", "LoadBalancer", "NodePort", "caddy:2.10.2", "vllm/vllm-openai:nightly-2026", "1e309",
                  "a" * 500, "\x00", "hf_" + "A" * 34, {"apertus-exposure": "internal"}, ["--port", "notanumber"],
                  # the pod and route readers' fields (issue 15): named ports, resource names, enum words
                  "http", "https", "metrics", -1, "0", "1Gi", "nvidia", "nvidia.com/mig-1g.10gb", "NVIDIA_",
                  "NVIDIA_VISIBLE_DEVICES", "/var/run/nvidia-container-devices/all", "Unconfined", "Unmasked",
                  "Service", "InferencePool", {"type": "Unconfined"}, {"path": "/"}, [{"name": "gpu"}],
                  {"matchLabels": {"app": "vllm"}}, {"app": "vllm"}, [{"number": 8000}], {"number": "http"},
                  # review 6: namespaces, DNS names, endpoints, Istio, Baseline's fields
                  "ExternalName", "vllm.apertus.svc.cluster.local", "vllm.", "mesh", "apertus", "spc_t",
                  "localhost/x", {"hostProcess": True}, [{"name": "net.core.somaxconn"}], [{"port": None}],
                  [{"configMapRef": {"name": "x"}}], {"configMapKeyRef": {"name": "x", "key": "k"}}]


def _mutate(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """A copy of ``value`` with one field replaced by a hostile value, or removed."""
    if isinstance(value, dict) and value and depth < 8:
        key = rng.choice(list(value))
        copy = dict(value)
        roll = rng.random()
        if roll < 0.15:
            del copy[key]
        elif roll < 0.5:
            copy[key] = rng.choice(HOSTILE_VALUES)
        else:
            copy[key] = _mutate(value[key], rng, depth + 1)
        return copy
    if isinstance(value, list) and value and depth < 8:
        copy = list(value)
        index = rng.randrange(len(copy))
        copy[index] = _mutate(copy[index], rng, depth + 1) if rng.random() < 0.6 else rng.choice(HOSTILE_VALUES)
        return copy
    return rng.choice(HOSTILE_VALUES)


def test_no_policy_crashes_on_fuzzed_inputs(stacks):
    """Seeded: 600 mutated stacks (host stacks' own resources and the recorded fixtures), each through
    every policy: nothing raises (a crash would block every deploy). Two rounds in three take three
    resources at random; one in three takes a recorded fixture whole, so the readers that join
    resources (a route to its Service to its pods and their ports, an InferencePool) meet the
    mutations together."""
    rng = random.Random(15)
    seeds = [(r.type, unwrap(r.inputs), r.name) for name in ("vm-8b", "aks-8b-internal", "containerapp-8b")
             for r in stacks[name] if r.custom]
    cases = [[(t, unwrap(p), n) for t, p, n in _recorded_resources(case)]
             for case in [*RECORDED_BAD.values(), *RECORDED_GOOD.values()]]
    seeds += [resource for case in cases for resource in case]
    cases = [case for case in cases if 1 < len(case) <= 8]
    for round_ in range(600):
        picked = rng.choice(cases) if round_ % 3 == 2 else [rng.choice(seeds) for _ in range(3)]
        mutated = [(t, _mutate(p, rng), n) for t, p, n in picked]
        for _ in range(rng.randrange(3)):
            mutated = [(t, _mutate(p, rng), n) for t, p, n in mutated]
        for policy in pack.POLICIES:
            try:
                violations(policy, mutated, rng.choice([None, {"internal": True}, {}]))
            except Exception as error:  # noqa: BLE001  the failure names the input
                raise AssertionError(f"{policy.name} crashed in round {round_} on {mutated!r:.2000}") from error


# one stack that holds every field the pod and route readers follow (issue 15): a pod with GPUs by
# each route, vLLM and the gateway beside a metrics sidecar, its Service, a route with a mirror, an
# InferencePool, an Ingress, the ConfigMap, Secret and RuntimeClass a pod may load
READER_STACK = [
    (DEPLOYMENT, {"metadata": {"name": "llm", "namespace": "apertus"}, "spec": {"template": {"metadata": {"labels": {"app": "llm"}}, "spec": {
        "runtimeClassName": "nvidia", "hostNetwork": True,
        "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "one-gpu"}],
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "cache", "hostPath": {"path": "/mnt"}}],
        "containers": [
            {"name": "vllm", "image": "vllm/vllm-openai:v0.33.0", "args": ["--port", "8000"],
             "resources": {"limits": {"nvidia.com/mig-1g.10gb": "1"}, "claims": [{"name": "gpu"}]},
             "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}],
             "envFrom": [{"prefix": "NVIDIA_", "configMapRef": {"name": "gpu-env"}}],
             "volumeMounts": [{"name": "cache", "mountPath": "/var/run/nvidia-container-devices/all"}],
             "securityContext": {**LOCKED_DOWN, "procMount": "Default", "seccompProfile": {"type": "RuntimeDefault"}}},
            {"name": "gateway", "image": "caddy:2.10.2", "ports": [{"name": "https", "containerPort": 8443.0}]},
            {"name": "exporter", "image": "ghcr.io/acme/exporter:1.0",
             "ports": [{"name": "metrics", "containerPort": 9400.0}]}]}}}}),
    (pack.K8S_SERVICE, {"metadata": {"name": "llm"}, "spec": {
        "type": "LoadBalancer", "selector": {"app": "llm"},
        "ports": [{"name": "https", "port": 443.0, "targetPort": "https"}]}}),
    ("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", {"spec": {"rules": [{
        "backendRefs": [{"group": "", "kind": "Service", "name": "llm", "port": 443.0}],
        "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "llm", "port": 9400.0}}}]}]}}),
    ("kubernetes:inference.networking.k8s.io/v1:InferencePool", {"metadata": {"name": "pool"}, "spec": {
        "selector": {"matchLabels": {"app": "llm"}}, "targetPorts": [{"number": 8000.0}], "targetPortNumber": 8000.0}}),
    ("kubernetes:gateway.networking.k8s.io/v1alpha2:TCPRoute", {"spec": {"rules": [{"backendRefs": [
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "pool"}]}]}}),
    ("kubernetes:networking.k8s.io/v1:Ingress", {"spec": {"defaultBackend": {"service": {
        "name": "llm", "port": {"number": 443.0, "name": "https"}}}}}),
    (pack.K8S_CONFIG_MAP, {"data": {"NVIDIA_VISIBLE_DEVICES": "all"}}),
    ("kubernetes:core/v1:Secret", {"data": {"NVIDIA_VISIBLE_DEVICES": "YWxs"},
                                   "stringData": {"NVIDIA_VISIBLE_DEVICES": "0"}}),
    ("kubernetes:node.k8s.io/v1:RuntimeClass", {"metadata": {"name": "fast"}, "handler": "nvidia"}),
    ("kubernetes:core/v1:Endpoints", {"metadata": {"name": "llm", "namespace": "apertus"}, "subsets": [{
        "addresses": [{"ip": "10.244.0.5", "targetRef": {"kind": "Pod", "name": "llm-5d-x", "namespace": "apertus"}}],
        "ports": [{"port": 8000.0}]}]}),
    ("kubernetes:discovery.k8s.io/v1:EndpointSlice", {"metadata": {"labels": {"kubernetes.io/service-name": "llm"}},
                                                      "endpoints": [{"targetRef": {"kind": "Pod", "name": "llm-5d-x"}}],
                                                      "ports": [{"port": 8000.0}]}),
    (pack.K8S_SERVICE, {"metadata": {"name": "alias", "namespace": "web"}, "spec": {
        "type": "ExternalName", "externalName": "llm.apertus.svc.cluster.local", "ports": [{"port": 8000.0}]}}),
    ("kubernetes:networking.istio.io/v1:VirtualService", {"metadata": {"namespace": "web"}, "spec": {
        "hosts": ["llm.example.com"], "gateways": ["public"],
        "http": [{"route": [{"destination": {"host": "alias", "port": {"number": 8000.0}}}],
                  "mirror": {"host": "llm.apertus", "port": {"number": 8000.0}}}]}}),
    ("kubernetes:helm.sh/v3:Release", {"chart": "vllm-stack", "name": "stack", "repositoryOpts": {"repo": "https://x"}}),
    # review 6: a GPU pod with every field Pod Security Standards Baseline restricts, and a sidecar's env from elsewhere
    ("kubernetes:core/v1:Pod", {"metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/tool": "unconfined"}},
                                "spec": {"securityContext": {
        "sysctls": [{"name": "kernel.msgmax", "value": "1"}], "seLinuxOptions": {"type": "spc_t", "user": "u"},
        "windowsOptions": {"hostProcess": True}, "appArmorProfile": {"type": "Unconfined"}},
        "containers": [{"name": "cuda", "image": "nvidia/cuda:12.8.0-base-ubuntu24.04", "securityContext": LOCKED_DOWN,
                        "resources": {"limits": {"nvidia.com/gpu": "1"}}},
                       {"name": "tool", "image": "ghcr.io/acme/tool:1.0.0", "envFrom": [{"configMapRef": {"name": "shared"}}],
                        "env": [{"name": "HF_TOKEN", "valueFrom": {"configMapKeyRef": {"name": "model-env", "key": "hf"}}}],
                        "ports": [{"containerPort": 9400.0, "hostPort": 9400.0}],
                        "lifecycle": {"preStop": {"tcpSocket": {"host": "10.0.0.1", "port": 22.0}}},
                        "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}]}}),
]
POD = ("spec", "template", "spec")
VLLM = (*POD, "containers", 0)
READER_FIELDS = [  # (resource index, path) of each field the new readers follow
    (0, (*POD, "runtimeClassName")), (0, (*POD, "hostNetwork")), (0, (*POD, "resourceClaims")),
    (0, (*POD, "volumes")),
    (0, (*POD, "volumes", 0, "hostPath")), (0, (*POD, "securityContext", "seccompProfile", "type")),
    (0, (*POD, "securityContext")), (0, ("spec", "template", "metadata", "labels")),
    (0, (*VLLM, "resources", "limits")), (0, (*VLLM, "resources", "limits", "nvidia.com/mig-1g.10gb")),
    (0, (*VLLM, "resources", "claims")), (0, (*VLLM, "resources", "claims", 0, "name")),
    (0, (*VLLM, "env", 0, "value")), (0, (*VLLM, "envFrom")), (0, (*VLLM, "envFrom", 0, "prefix")),
    (0, (*VLLM, "volumeMounts", 0, "mountPath")), (0, (*VLLM, "securityContext", "procMount")),
    (0, (*VLLM, "securityContext", "seccompProfile")),
    (0, (*POD, "containers", 1, "ports", 0, "containerPort")),
    (0, (*POD, "containers", 1, "ports", 0, "name")), (0, (*POD, "containers", 2, "ports")),
    (1, ("spec", "selector")), (1, ("spec", "ports", 0, "port")), (1, ("spec", "ports", 0, "targetPort")),
    (1, ("spec", "ports", 0, "name")), (1, ("metadata", "name")),
    (2, ("spec", "rules")), (2, ("spec", "rules", 0, "backendRefs")),
    (2, ("spec", "rules", 0, "backendRefs", 0, "port")),
    (2, ("spec", "rules", 0, "backendRefs", 0, "name")), (2, ("spec", "rules", 0, "backendRefs", 0, "kind")),
    (2, ("spec", "rules", 0, "backendRefs", 0, "group")), (2, ("spec", "rules", 0, "filters")),
    (2, ("spec", "rules", 0, "filters", 0, "requestMirror", "backendRef")),
    (3, ("spec", "selector")), (3, ("spec", "selector", "matchLabels")), (3, ("spec", "targetPorts")),
    (3, ("spec", "targetPorts", 0, "number")), (3, ("spec", "targetPortNumber")), (3, ("metadata", "name")),
    (4, ("spec", "rules", 0, "backendRefs", 0, "kind")), (5, ("spec", "defaultBackend", "service", "port")),
    (5, ("spec", "defaultBackend", "service", "port", "number")), (6, ("data",)),
    (6, ("data", "NVIDIA_VISIBLE_DEVICES")),
    (7, ("data", "NVIDIA_VISIBLE_DEVICES")), (7, ("stringData",)), (8, ("handler",)), (8, ("metadata",)),
    # review 6: Baseline's pod and container fields, envFrom and keyRefs, namespaces, endpoints, ExternalName,
    # Istio, Helm
    (0, ("metadata", "namespace")), (14, ("spec", "containers", 1, "env", 0, "valueFrom")),
    (14, ("spec", "containers", 1, "envFrom", 0, "configMapRef")), (14, ("spec", "containers", 1, "ports", 0, "hostPort")),
    (9, ("subsets", 0, "ports")), (9, ("subsets", 0, "addresses", 0, "targetRef")), (10, ("metadata", "labels")),
    (10, ("ports", 0, "port")), (11, ("spec", "externalName")), (11, ("spec", "ports")), (12, ("spec", "hosts")),
    (12, ("spec", "gateways")), (12, ("spec", "http", 0, "route", 0, "destination")),
    (12, ("spec", "http", 0, "mirror")), (13, ("chart",)),
]
# Pod Security Standards Baseline's fields, read by the container policy alone
BASELINE_FIELDS = [
    (14, ("metadata", "annotations")), (14, ("spec", "securityContext", "sysctls")),
    (14, ("spec", "securityContext", "seLinuxOptions")), (14, ("spec", "securityContext", "windowsOptions")),
    (14, ("spec", "securityContext", "appArmorProfile", "type")), (14, ("spec", "containers", 1, "lifecycle")),
    (14, ("spec", "containers", 1, "securityContext", "capabilities", "add")),
]
# every shape those fields take or could be given: numbers as strings, ints and floats, named ports,
# words, maps where lists belong and lists where maps belong, nothing at all
READER_VALUES = [None, "8000", 8000.5, "0", "http", "", True, [], {}, [{"number": "http"}], {"number": 8000}]


def _set(props: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    *parents, last = path
    for step in parents:
        props = props[step]
    if delete:
        del props[last]
    else:
        props[last] = value


def test_no_pod_or_route_reader_crashes_on_any_shape_of_its_fields():
    """Each field the GPU, pod and route readers follow, in turn set to every shape in READER_VALUES
    or removed: the policies that read them (the container, gateway and secrets policies) judge the
    changed resource, the across-stack ones the whole stack, and nothing raises; so does every shape
    of a provider's namespace. The stack as it stands is caught by all of them, so the readers are
    not blind to it."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    gpu, gateway, secrets = pack.gpu_containers_locked_down, pack.vllm_behind_gateway, pack.no_plain_secrets
    across = [pack.vllm_behind_gateway_across_stack, pack.no_unseen_env_across_stack]
    assert all(violations(policy, READER_STACK) for policy in [gpu, gateway, secrets, *across])
    unchanged = [stack_resource(t, p, f"r{i}") for i, (t, p) in enumerate(READER_STACK)]

    def judge(stack: list[PolicyResource], policies: list[Any] = across) -> None:
        for policy in policies:
            policy.validate(StackValidationArgs(stack, None), lambda *_: None)

    def reading(resource_type: str) -> tuple[list[Any], list[Any]]:
        """The policies that read a kind: pods all; a ConfigMap, Secret or RuntimeClass the container and
        secrets policies; Services, endpoints and routes the gateway's (the fuzz test above runs every policy)."""
        if pack.may_hold_pods(resource_type):
            return [gpu, gateway, secrets], across
        if pack.kind_name(resource_type) in ("ConfigMap", "Secret", "RuntimeClass"):
            return [gpu, secrets], across[1:]
        return [gateway], across[:1]

    for index, path in [*READER_FIELDS, *BASELINE_FIELDS]:
        resource_type = READER_STACK[index][0]
        resource_policies, stack_policies = ([gpu], []) if (index, path) in BASELINE_FIELDS else reading(resource_type)
        for value in [*READER_VALUES, "delete"]:
            props = copy.deepcopy(READER_STACK[index][1])
            _set(props, path, value, delete=value == "delete")
            # READER_STACK holds no secret: its props go behind the engine's proxy as they are
            changed = PolicyResource(resource_type, unknown_checking_proxy(props), f"urn:r{index}", f"r{index}",
                                     unchanged[index].opts, None, None, [], {})
            stack = [*unchanged[:index], changed, *unchanged[index + 1:]]
            try:
                args = ResourceValidationArgs(resource_type, changed.props, changed.urn, changed.name, changed.opts,
                                              None, None)
                for policy in resource_policies:
                    policy.validate(args, lambda *_: None)
                judge(stack, stack_policies)
            except Exception as error:  # noqa: BLE001  the failure names the input
                raise AssertionError(f"resource {index} {path} = {value!r} crashed a policy") from error
    for value in [*READER_VALUES, UNKNOWN_STRING_VALUE, "delete"]:  # the provider's default namespace, every shape
        provider = _provider({} if value == "delete" else {"namespace": value})
        try:
            judge([PolicyResource(r.resource_type, r.props, r.urn, r.name, r.opts, provider, None, [], {})
                   for r in unchanged])
        except Exception as error:  # noqa: BLE001
            raise AssertionError(f"provider namespace {value!r} crashed a policy") from error


def _provider(props: dict[str, Any], name: str = "k8s") -> PolicyProviderResource:
    return PolicyProviderResource("pulumi:providers:kubernetes", unknown_checking_proxy(props),
                                  f"urn:pulumi:test::apertus-azure::pulumi:providers:kubernetes::{name}", name)


def test_services_are_matched_by_namespace_from_the_object_or_its_provider():
    """A Kubernetes object's namespace is its own, else its provider's `namespace`, else the provider's
    default (its kubeconfig context's, 'default' without one): the same for two objects of one provider,
    possibly any stated one, and any at all while unknown. A route to port 8000 of Service 'vllm' is judged
    by the stack's Service 'vllm' only when that Service is certainly the one it names."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    def placed(props: dict[str, Any], provider: PolicyProviderResource | None) -> PolicyResource:
        return PolicyResource(pack.K8S_SERVICE, unknown_checking_proxy(props), "urn:x", "x", _options(), provider,
                              None, [], {})

    team, apertus, bare = _provider({"namespace": "team"}, "team"), _provider({}, "a"), _provider({}, "b")
    spaces = {"stated": pack.object_namespace(placed({"metadata": {"namespace": "apertus"}}, team)),
              "provider's": pack.object_namespace(placed({}, team)),
              "unstated a": pack.object_namespace(placed({}, apertus)),
              "unstated a again": pack.object_namespace(placed({"metadata": {"namespace": ""}}, apertus)),
              "unstated b": pack.object_namespace(placed({}, bare)),
              "unknown": pack.object_namespace(placed({"metadata": {"namespace": UNKNOWN_STRING_VALUE}}, team))}
    assert spaces["stated"] == "apertus" and spaces["provider's"] == "team" and spaces["unknown"] is None
    match = pack.namespace_match
    assert match(spaces["stated"], spaces["provider's"]) == "no"
    assert match(spaces["unstated a"], spaces["unstated a again"]) == "same"
    assert {match(spaces["unstated a"], other) for other in ("apertus", spaces["unstated b"], None)} == {"maybe"}

    decoy = (pack.K8S_SERVICE, {"metadata": {"name": "vllm"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80.0}]}})
    route = ("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
             {"spec": {"rules": [{"backendRefs": [{"name": "vllm", "port": 8000.0}]}]}})

    def found(decoy_provider: PolicyProviderResource, route_provider: PolicyProviderResource) -> list[str]:
        stack = [PolicyResource(t, unknown_checking_proxy(p), f"urn:{i}", f"r{i}", _options(), provider, None, [], {})
                 for i, ((t, p), provider) in enumerate([(decoy, decoy_provider), (route, route_provider)])]
        reported: list[str] = []
        pack.vllm_behind_gateway_across_stack.validate(StackValidationArgs(stack, None), lambda m, u=None: reported.append(m))
        return reported
    assert found(apertus, apertus) == []  # the decoy is certainly the route's Service: harmless
    flagged = found(team, apertus)  # team/vllm is another Service: apertus/vllm, outside the stack, is judged by port
    assert len(flagged) == 1 and "targets port 8000, vLLM's" in flagged[0], flagged


def test_pack_version_is_one():
    """PulumiPolicy.yaml and the code name the same version (the engine reports the yaml's)."""
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert str(project["version"]) == pack.VERSION


def test_image_pinning_is_one_rule_for_program_and_pack():
    """The program (check_pinned_image) and the pack (images-pinned) judge every tag alike."""
    from components.serving import ConfigError
    from components.serving.references import check_pinned_image

    for image in ("vllm/vllm-openai:nightly-2026", "vllm/vllm-openai:latest", "vllm/vllm-openai:v0.33.0",
                  "vllm/vllm-openai:cuda", "vllm/vllm-openai", "r.example/x:2026.11-stable",
                  "vllm/vllm-openai@sha256:" + "ab" * 32, "vllm/vllm-openai:main-4f2a"):
        try:
            check_pinned_image("vllmImage", image)
            program_ok = True
        except ConfigError:
            program_ok = False
        assert program_ok == (pack.image_problem(image) is None), image
    assert pack.image_problem is pack.rules.image_pin_problem


def test_the_pack_loads_the_shared_rules_without_the_components():
    """`pulumi up --policy-pack policy` runs the pack from policy/ in its own virtualenv, where the
    components (and azure-native) need not be importable: the shared rules load from their file."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import sys; sys.modules['components'] = None\n"  # as if the components were not installed
            "import apertus_policies as p\n"
            "assert p.rules.__name__ == 'apertus_shared_rules', p.rules\n"
            "assert p.image_problem('vllm/vllm-openai:nightly-2026')\n"
            "print(len(p.POLICIES))")
    done = subprocess.run([sys.executable, "-c", code], cwd=POLICY_DIR, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(pack.POLICIES))


def test_every_policy_sees_normalised_types():
    """An API-versioned azure-native token or a Kubernetes *Patch kind is judged like the plain type:
    every policy's validate goes through common.normalised (one place)."""
    inner = [vars(p).get("_ResourceValidationPolicy__validate") or vars(p).get("_StackValidationPolicy__validate")
             for p in pack.PACK_POLICIES]
    assert all(getattr(v, "normalises_types", False) for v in inner)
    assert pack.normalise_type("azure-native:network/v20240301:SecurityRule") == pack.SECURITY_RULE
    assert pack.normalise_type("azure-native:keyvault/v20230701preview:Vault") == pack.KEY_VAULT
    assert pack.base_kind("kubernetes:core/v1:ServicePatch") == pack.K8S_SERVICE


def test_an_unknown_value_does_not_turn_the_across_stack_gateway_policy_into_an_advisory(stacks):
    """A first preview: Azure-computed values (the workload identity's client id) are unknown in the aks
    stack's ServiceAccount and SecretProviderClass, kinds that hold no pods, so the policy does not read
    them; a workload with an unknown image is read for the worse case (it may run vLLM). A route to
    vLLM is still caught, and nothing raises UnknownValueError."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    def blank(value: Any, kinds: tuple[str, ...], resource_type: str) -> Any:
        if isinstance(value, dict):
            return {k: blank(v, kinds, resource_type) for k, v in value.items()}
        if isinstance(value, list):
            return [blank(v, kinds, resource_type) for v in value]
        return UNKNOWN_STRING_VALUE if isinstance(value, str) and resource_type in kinds else value

    no_pods = ("kubernetes:core/v1:ServiceAccount", "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass")
    resources = [(r.type, blank(unwrap(r.outputs), no_pods, r.type), r.name) for r in stacks["aks-8b"]]
    assert any(t in no_pods for t, _, _ in resources)
    policy = pack.vllm_behind_gateway_across_stack
    assert violations(policy, resources) == []
    route = ("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
             {"spec": {"rules": [{"backendRefs": [{"name": "vllm", "port": 8000.0}]}]}}, "team-route")
    assert len(violations(policy, [*resources, route])) == 1
    # a team's workload whose image is unknown, behind a LoadBalancer Service: taken to run vLLM
    unknown = (DEPLOYMENT, {"spec": {"template": {"metadata": {"labels": {"app": "team"}}, "spec": {
        "containers": [{"name": "app", "image": UNKNOWN_STRING_VALUE}]}}}}, "team")
    exposed = (pack.K8S_SERVICE, {"metadata": {"name": "team"}, "spec": {
        "type": "LoadBalancer", "selector": {"app": "team"}, "ports": [{"port": 443.0}]}}, "team-lb")
    found = violations(policy, [*resources, unknown, exposed])
    assert len(found) == 1 and "'team-lb'" in found[0], found
    # vLLM loading a ConfigMap the stack names itself, whose name is not known yet: no advisory, no violation
    autonamed = (DEPLOYMENT, _deployment({"envFrom": [{"configMapRef": {"name": UNKNOWN_STRING_VALUE}}]}), "auto")
    assert violations(pack.no_unseen_env_across_stack, [*resources, autonamed]) == []


@pytest.mark.parametrize("stack", ["vm-70b", "aks-8b", "containerapp-8b"])
def test_installers_no_policy_sees_are_refused_beside_each_host(stacks, stack):
    """Attacks a3i/a4d: an ARM template deployment, a Flux HelmRelease or an Argo CD Application in a host
    stack (every host serves vLLM: a GPU VM, a vLLM pod, a vLLM Container App) is refused; unknown values
    in the new readings are the worse case: a container group whose ipAddress type, or an app routing
    add-on whose default NGINX type, is not known yet is public in an internal stack."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE
    resources = [(r.type, unwrap(r.outputs), r.name) for r in stacks[stack]]
    policy = pack.vllm_behind_gateway_across_stack
    assert violations(policy, resources) == []
    installers = [("azure-native:resources:Deployment", {"properties": {"template": {"resources": []}}}, "arm"),
                  ("kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease", {"spec": {"chart": {}}}, "flux"),
                  ("kubernetes:argoproj.io/v1alpha1:Application", {"spec": {"source": {}}}, "argo")]
    found = violations(policy, [*resources, *installers])
    assert len(found) == 3 and all("no policy of this pack sees them" in f for f in found), found
    internal = {"apertus-exposure": "internal"}
    unknown = [("azure-native:containerinstance:ContainerGroup",
                {"tags": internal, "ipAddress": {"type": UNKNOWN_STRING_VALUE}}, "aci"),
               (pack.MANAGED_CLUSTER, {"tags": internal, "apiServerAccessProfile": {"enablePrivateCluster": True},
                                       "ingressProfile": {"webAppRouting": {"enabled": True, "nginx": {
                                           "defaultIngressControllerType": UNKNOWN_STRING_VALUE}}}}, "aks")]
    found = violations(pack.closed_when_internal, unknown)
    assert len(found) == 2 and "'aci'" in found[0] and "'aks'" in found[1], found


def _first_preview(value: Any) -> Any:
    """Props as a first preview hands them: every Azure id (an ARM path) is not known yet."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {k: _first_preview(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_first_preview(v) for v in value]
    return UNKNOWN_STRING_VALUE if isinstance(value, str) and value.startswith("/subscriptions/") else value


def test_every_shipped_stack_passes_every_policy_in_its_first_preview(stacks):
    """A first preview hands the pack every Azure id as not known yet: no policy may go advisory on that
    (an unknown raised), and none may fail the project's own stacks for it (an unknown subnet id in a
    storage account's VNet rule, a scope of an alert rule). The stacks here send alerts to no one, so the
    monitoring policy may report that, and only that."""
    for name, resources in stacks.items():
        for policy in pack.PACK_POLICIES:
            stack = isinstance(policy, StackValidationPolicy)
            shipped = [(r.type, _first_preview(unwrap(r.outputs if stack else r.inputs)), r.name) for r in resources]
            found = violations(policy, shipped)
            if policy.name == "serving-host-monitored":
                assert all("reach no action group" in message for message in found), (name, found)
            else:
                assert found == [], (name, policy.name, found)


def test_an_unknown_value_does_not_turn_a_stack_policy_into_an_advisory(stacks):
    """Attack u1-u3: pulumi-policy turns a stack policy that raises UnknownValueError into an advisory
    "can't run during preview". closed-when-internal and the across-stack gateway policy read plain values
    and judge an unknown for the worse case: the internal VM stack's first preview (its NAT gateway's
    address id unknown) passes, a public IP added to it is caught; an Ingress backend name, a route's
    backendRef port, a Service type or a resource id not known yet raises nothing and is judged."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as UNKNOWN

    closed = pack.closed_when_internal
    for name in sorted(INTERNAL_STACKS):  # every shipped internal stack's first preview passes
        assert violations(closed, [(r.type, _first_preview(unwrap(r.outputs)), r.name) for r in stacks[name]]) == []
    internal = [(r.type, _first_preview(unwrap(r.outputs)), r.name) for r in stacks["vm-8b-internal"]]
    assert any(t == "azure-native:network:NatGateway" and UNKNOWN in str(p) for t, p, _ in internal)
    team_ip = ("azure-native:network:PublicIPAddress", {"id": UNKNOWN, "tags": {"apertus-exposure": "internal"}},
               "team-ip")
    found = violations(closed, [*internal, team_ip])
    assert any("'team-ip'" in f and "not shown to be a NAT gateway's" in f for f in found), found
    # the engine's propertyDependencies tie the NAT gateway to its own address: only the team's is reported
    stack = [stack_resource(*r) for r in [*internal, team_ip]]
    nat = next(i for i, r in enumerate(stack) if r.resource_type == "azure-native:network:NatGateway")
    nat_ip = next(r for r in stack if r.resource_type == "azure-native:network:PublicIPAddress" and r.name != "team-ip")
    stack[nat] = PolicyResource(stack[nat].resource_type, stack[nat].props, stack[nat].urn, stack[nat].name,
                                _options(), None, None, [nat_ip], {"publicIpAddresses": [nat_ip]})
    found = []
    closed.validate(StackValidationArgs(stack, None), lambda message, urn=None: found.append(message))
    assert len(found) == 1 and "'team-ip'" in found[0], found
    # where the engine names what a NAT gateway's unknown address came from, no other address fills it
    nat_alone = PolicyResource(stack[nat].resource_type, stack[nat].props, stack[nat].urn, stack[nat].name,
                               _options(), None, None, [], {"publicIpAddresses": [stack[0]]})
    found = []
    closed.validate(StackValidationArgs([nat_alone, stack_resource(*team_ip)], None),
                    lambda message, urn=None: found.append(message))
    assert len(found) == 1 and "'team-ip'" in found[0], found
    unknown_type = (pack.K8S_SERVICE, {"metadata": {"name": "s"}, "spec": {"type": UNKNOWN}}, "s")
    assert any("'s'" in f for f in violations(closed, [*internal, unknown_type]))

    across = pack.vllm_behind_gateway_across_stack
    vllm = (DEPLOYMENT, {"metadata": {"name": "vllm", "namespace": "llm"}, "spec": {"template": {
        "metadata": {"labels": {"app": "vllm"}}, "spec": {"containers": [
            {"name": "vllm", "image": "vllm/vllm-openai:v0.11.0", "args": ["--port", "8001"]}]}}}}, "vllm")
    inner = (pack.K8S_SERVICE, {"metadata": {"name": "inner", "namespace": "llm"},
                                "spec": {"selector": {"app": "vllm"}, "ports": [{"port": 80.0, "targetPort": 8001.0}]}},
             "inner")
    ingress = ("kubernetes:networking.k8s.io/v1:Ingress", {"metadata": {"name": "ing", "namespace": "llm"},
               "spec": {"defaultBackend": {"service": {"name": UNKNOWN, "port": {"number": 80.0}}}}}, "ing")
    route = ("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", {"metadata": {"name": "r", "namespace": "llm"},
             "spec": {"rules": [{"backendRefs": [{"name": "elsewhere", "port": UNKNOWN}]}]}}, "r")
    typed = (pack.K8S_SERVICE, {"metadata": {"name": "t", "namespace": "llm"},
                                "spec": {"type": UNKNOWN, "selector": {"app": "vllm"}, "ports": [{"port": 443.0}]}}, "t")
    nic = ("azure-native:network:NetworkInterface", {"id": UNKNOWN, "ipConfigurations": []}, "nic")
    found = violations(across, [vllm, inner, ingress, route, typed, nic])
    assert any("'ing'" in f and "selects the vLLM pods" in f for f in found), found
    assert any("'r'" in f and "a port not known yet" in f for f in found), found
    assert any("'t'" in f and "a type not known yet" in f for f in found), found
    # a GPU VM whose NIC, and the NIC's security group, are referenced by ids not known yet: any of the stack's
    vm = ("azure-native:compute:VirtualMachine", {"hardwareProfile": {"vmSize": "Standard_NC24ads_A100_v4"},
          "networkProfile": {"networkInterfaces": [{"id": UNKNOWN}]}}, "gpu")
    gpu_nic = ("azure-native:network:NetworkInterface", {"id": UNKNOWN, "networkSecurityGroup": {"id": UNKNOWN},
               "ipConfigurations": [{"publicIPAddress": {"id": UNKNOWN}}]}, "gpu-nic")
    nsg = ("azure-native:network:NetworkSecurityGroup", {"id": UNKNOWN, "name": "nsg", "securityRules": [
        {"name": "vllm", "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "*",
         "destinationPortRange": "8000", "priority": 100.0}]}, "nsg")
    found = violations(across, [vm, gpu_nic, nsg])
    assert found and all("GPU VM with a public IP on NIC 'gpu-nic'" in f for f in found), found
    assert any("vLLM's port 8000" in f for f in found), found
    # the shipped AKS and VM stacks in a first preview still pass
    for name in ("aks-8b", "vm-8b"):
        shipped = [(r.type, _first_preview(unwrap(r.outputs)), r.name) for r in stacks[name]]
        assert violations(across, shipped) == [], name


# policies outside network.py and the single-resource gateway policy that still go advisory on an unknown
# in some field they read (their own files read proxied props); each entry: the policy's name
STILL_ADVISORY_ON_AN_UNKNOWN: set[str] = set()


def _unknown_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every top-level property and nested field of plain props (a list's first item stands for all)."""
    found = [path] if path else []
    if isinstance(value, dict):
        found += [p for key, inner in value.items() for p in _unknown_paths(inner, (*path, key))]
    elif isinstance(value, list) and value:
        found += _unknown_paths(value[0], (*path, 0))
    return found


def test_no_policy_goes_advisory_on_an_unknown_in_any_field_it_reads():
    """Attack u1-u3 for every policy: one resource of each type the pack reads (the recorded bad fixtures
    and READER_STACK), with each top-level property and each nested field in turn not known yet (a
    preview), judged alone by every resource policy and with its stack by every stack policy: no policy
    raises UnknownValueError (pulumi-policy's "can't run during preview") or anything else, except those
    listed in STILL_ADVISORY_ON_AN_UNKNOWN; the network policies and vllm-only-behind-gateway are not."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

    cases = [[(r[0], unwrap(r[1])) for r in case[1]] for case in BAD.values()] + [list(READER_STACK)]
    cases += [[(t, unwrap(p)) for t, p, _ in _recorded_resources(case)]
              for case in [*RECORDED_BAD.values(), *RECORDED_GOOD.values()]]
    seen: set[tuple[str, tuple[Any, ...]]] = set()
    advisory: dict[str, str] = {}
    for case in cases:
        for index, (resource_type, props) in enumerate(case):
            for path in _unknown_paths(props):
                if (resource_type, path) in seen:  # each field of each type once
                    continue
                seen.add((resource_type, path))
                changed = copy.deepcopy(props)
                _set(changed, path, UNKNOWN_STRING_VALUE)
                stack = [stack_resource(t, p, f"r{i}") for i, (t, p) in enumerate(case)]
                stack[index] = stack_resource(resource_type, changed, f"r{index}")
                args = resource_args(resource_type, changed, f"r{index}")
                for policy in pack.PACK_POLICIES:
                    if policy.name in advisory:
                        continue
                    try:
                        if isinstance(policy, StackValidationPolicy):
                            policy.validate(StackValidationArgs(stack, None), lambda *_: None)
                        else:
                            policy.validate(args, lambda *_: None)
                    except UnknownValueError:
                        advisory[policy.name] = f"{resource_type} {'.'.join(map(str, path))}"
    assert len({t for t, _ in seen}) > 40, sorted({t for t, _ in seen})
    mine = {"https-only-ingress", "no-public-ssh", "no-public-ssh-across-stack", "vllm-only-behind-gateway"}
    assert not {name: where for name, where in advisory.items() if name in mine}, advisory
    assert set(advisory) <= STILL_ADVISORY_ON_AN_UNKNOWN, advisory


def test_an_alias_bomb_in_vm_custom_data_is_not_expanded():
    """Nested YAML aliases (a "billion laughs") in a cloud-config: the pack scans the text and does not
    expand them (it took minutes and gigabytes); an ordinary cloud-config is still walked."""
    import time

    from policy.apertus_policies import images

    levels = ["a0: &a0 [docker pull nginx:latest]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = "#cloud-config\n" + "\n".join(levels) + "\nruncmd: [*a9]\n"
    started = time.process_time()
    scripts = images.custom_data_scripts(bomb)
    assert time.process_time() - started < 1 and scripts == [bomb]
    plain = "#cloud-config\nruncmd:\n  - [docker, pull, 'nginx:latest']\n"
    assert "docker pull nginx:latest" in images.custom_data_scripts(plain)
