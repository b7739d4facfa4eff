"""Azure's naming rules for every resource type the program registers, over long and unusual stack,
project and component names (tests/fixtures/arm/naming_rules.json cites the rules page)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pulumi
import pytest

from components import (AksGpuCluster, AksGpuClusterArgs, ContainerAppGpu, ContainerAppGpuArgs, GpuVirtualMachine,
                        GpuVirtualMachineArgs)
from components.base import DERIVED_NAME_MAX
from components.containerapp import AUTONAME_SUFFIX as CONTAINERAPP_SUFFIX
from components.containerapp import CONTAINER_APP_NAME_MAX
from components.serving import ConfigError
from conftest import HF_TOKEN, unwrap
from stacks.offline import run_program

import arm_validator
from test_arm_schema import LONG_STACK, MATRIX
from test_arm_schema import stack_run as matrix_run
from components.k8s_gateway import DNS_LABEL_ANNOTATION

RULES = json.loads((Path(__file__).parent / "fixtures" / "arm" / "naming_rules.json").read_text())
# azure-native names a resource whose name input is absent after its logical name plus random hex
# (its auto-naming); 8 characters is what the name has to leave room for
AUTONAME_SUFFIX = "0a1b2c3d"

HOSTS = {
    "containerapp": (ContainerAppGpu, ContainerAppGpuArgs, {}),
    "vm": (GpuVirtualMachine, GpuVirtualMachineArgs, {}),
    # the API server's access is required (issue 15): given, so the name is what the test judges
    "aks": (AksGpuCluster, AksGpuClusterArgs, {"api_allowed_cidrs": ("203.0.113.0/24",)}),
}
# A component name a library user may pick: a digit first, non-ASCII letters, upper case, a dot
# and an underscore, 67 characters (one name for all of it: each program run costs ~1 s of CPU).
# Every host refuses it with a one-line ConfigError before any resource (containerapp's
# check_component_name; vm's and aks's base.check_component_name, issue 15).
UNUSUAL_NAMES = [
    "9-Zürich_Team.LLM-Serving-Production-West-Europe-2026-Apertus-Long",
]
# The longest names the checks take, with what else they allow (a leading digit and upper case for
# vm and aks): every name derived from them must fit Azure's rules. One character more is refused.
LONGEST_NAMES = {
    "containerapp": "team-llm-serving-2026"[:CONTAINER_APP_NAME_MAX - CONTAINERAPP_SUFFIX],
    "vm": "9-Team-LLM-Serving-Production-West-Europe-2026-ABCDEF"[:DERIVED_NAME_MAX],
    "aks": "9-Team-LLM-Serving-Production-West-Europe-2026-ABCDEF"[:DERIVED_NAME_MAX],
}
LONG_PROJECT = "Apertus_Azure.Team-Inference-Platform-Project-With-A-Long-Name"


def azure_name(typ: str, logical: str, inputs: dict) -> str | None:
    """The name Azure sees: the name input, or azure-native's auto-name (None: a generated GUID)."""
    spec = arm_validator.fixture()["resources"][typ]
    if spec["nameInput"] in inputs:
        return inputs[spec["nameInput"]]
    if spec["armType"] == "Microsoft.Authorization/roleAssignments":
        return None  # azure-native names role assignments with a new GUID
    return logical + AUTONAME_SUFFIX


def violations(resources) -> list[str]:
    found = []
    for typ, logical, inputs in resources:
        arm_type = arm_validator.fixture()["resources"][typ]["armType"]
        rule = RULES["rules"][arm_type]
        name = azure_name(typ, logical, inputs)
        if name is None or rule.get("documented") is False:
            continue
        if not rule["min"] <= len(name) <= rule["max"]:
            found.append(f"{arm_type} {name!r}: {len(name)} characters, {rule['min']}-{rule['max']} allowed")
        if not re.fullmatch(rule["pattern"], name):
            found.append(f"{arm_type} {name!r}: {rule['text']}")
        for label_path, dns in RULES["dnsLabels"].items():
            owner, *path = label_path.split(".")
            if not arm_type.endswith("/" + owner):
                continue
            value = inputs
            for key in path:
                value = value.get(key, {}) if isinstance(value, dict) else {}
            if isinstance(value, str) and not (dns["min"] <= len(value) <= dns["max"]
                                               and re.fullmatch(dns["pattern"], value)):
                found.append(f"{label_path} {value!r}: {dns['text']}, {dns['min']}-{dns['max']}")
    return found


def azure_resources(run) -> list[tuple[str, str, dict]]:
    return [(r.type, r.name, unwrap(r.inputs)) for r in run.resources if r.type.startswith("azure-native:")]


def stack_run(host: str):
    """The host's public, on-demand, 8B stack of the schema test's matrix (a long stack name)."""
    return matrix_run(next(row for row in MATRIX if row[0] == host and not row[1]))


@functools.lru_cache(maxsize=None)
def component_run(host: str, name: str):
    """One host component named ``name`` in a program of its own, or the ConfigError it raises."""
    component, args_type, extra = HOSTS[host]

    def program():
        component(name, args_type(location="swedencentral", hf_token=pulumi.Output.secret(HF_TOKEN), **extra))

    try:
        return run_program(program, LONG_PROJECT, LONG_STACK, {})
    except ConfigError as error:
        return error


def test_every_registered_type_has_a_naming_rule_row():
    assert set(RULES["rules"]) == {r["armType"] for r in arm_validator.fixture()["resources"].values()}
    for arm_type, rule in RULES["rules"].items():
        if rule.get("documented") is not False:
            assert rule["min"] <= rule["max"] and rule["text"] and rule["scope"], arm_type
            re.compile(rule["pattern"])


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_stack_names_fit_azure_rules_with_a_long_stack_name(host):
    # the stack program's project is Pulumi.yaml's (its config keys carry it); library programs
    # with a long project name run below
    assert violations(azure_resources(stack_run(host))) == []


@pytest.mark.parametrize("name", UNUSUAL_NAMES)
@pytest.mark.parametrize("host", sorted(HOSTS))
def test_a_component_name_azure_refuses_is_a_one_line_error_before_any_resource(host, name):
    outcome = component_run(host, name)
    assert isinstance(outcome, ConfigError), violations(azure_resources(outcome))
    assert outcome.key == "name" and name in str(outcome) and "\n" not in str(outcome), str(outcome)
    assert outcome.registered == []


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_the_longest_component_name_taken_gives_valid_azure_names(host):
    name = LONGEST_NAMES[host]
    assert not name.endswith("-") and len(name) == (CONTAINER_APP_NAME_MAX - CONTAINERAPP_SUFFIX
                                                    if host == "containerapp" else DERIVED_NAME_MAX)
    outcome = component_run(host, name)
    assert not isinstance(outcome, ConfigError), str(outcome)
    assert violations(azure_resources(outcome)) == []
    longer = component_run(host, name + "x")
    assert isinstance(longer, ConfigError) and longer.key == "name" and longer.registered == [], longer


# ---- globally unique names: how each stays unique is part of the contract ----

def random_suffix(run, logical: str) -> str:
    found = [r for r in run.resources if r.type == "random:index/randomString:RandomString" and r.name == logical]
    assert len(found) == 1, logical
    return found[0].outputs["result"], found[0].inputs


def test_storage_account_name_is_st_plus_component_letters_plus_8_random_characters():
    run = stack_run("containerapp")
    account = run.mocks.one("azure-native:storage:StorageAccount").inputs["accountName"]
    suffix, inputs = random_suffix(run, "apertus-st-suffix")
    # 36^8 (2.8e12) suffixes: a clash with any other storage account in Azure is left to chance
    assert inputs["length"] == 8 and inputs["upper"] is False and inputs["special"] is False
    assert account == "st" + "apertus" + suffix and len(account) <= 24


def test_key_vault_name_is_kv_plus_14_component_characters_plus_6_random_characters():
    run = stack_run("vm")
    vault = run.mocks.one("azure-native:keyvault:Vault").inputs["vaultName"]
    suffix, inputs = random_suffix(run, "apertus-secrets-kv-suffix")
    # 36^6 (2.2e9) suffixes; 3 + 14 + 1 + 6 = 24 characters at most whatever the component's name
    assert inputs["length"] == 6 and inputs["upper"] is False and inputs["special"] is False
    assert vault == f"kv-apertus-secret-{suffix}" and len(vault) == 24


def test_dns_label_is_component_plus_6_random_characters():
    run = stack_run("vm")
    label = run.mocks.one("azure-native:network:PublicIPAddress").inputs["dnsSettings"]["domainNameLabel"]
    suffix, inputs = random_suffix(run, "apertus-dns-suffix")
    assert inputs["length"] == 6 and inputs["upper"] is False
    assert label == f"apertus-{suffix}"


def test_the_naming_check_can_fail():
    too_long = [("azure-native:storage:StorageAccount", "x", {"accountName": "s" * 25})]
    assert violations(too_long) == ["Microsoft.Storage/storageAccounts 'sssssssssssssssssssssssss': 25 characters, "
                                    "3-24 allowed"]
    autonamed = [("azure-native:network:VirtualNetwork", "v" * 57, {})]  # 57 + 8 > 64
    assert violations(autonamed) and "65 characters" in violations(autonamed)[0]
    bad_label = [("azure-native:network:PublicIPAddress", "ip", {"dnsSettings": {"domainNameLabel": "9lives"}})]
    assert violations(bad_label) and "domainNameLabel" in violations(bad_label)[0]


def test_aks_gateway_dns_label_is_component_plus_6_random_characters_and_a_valid_label():
    run = stack_run("aks")
    services = [r for r in run.resources if r.type == "kubernetes:core/v1:Service"
                and DNS_LABEL_ANNOTATION in r.inputs.get("metadata", {}).get("annotations", {})]
    assert len(services) == 1
    label = services[0].inputs["metadata"]["annotations"][DNS_LABEL_ANNOTATION]
    suffix, inputs = random_suffix(run, "apertus-dns-suffix")
    assert inputs["length"] == 6 and inputs["upper"] is False
    assert label == f"apertus-{suffix}"
    rule = RULES["dnsLabels"]["publicIPAddresses.dnsSettings.domainNameLabel"]
    assert re.fullmatch(rule["pattern"], label) and len(label) <= rule["max"]


def test_workbook_name_is_a_random_uuid_kept_in_the_state():
    # the service takes only a UUID as a workbook's name ("Invalid Workbook resource name" otherwise,
    # https://github.com/MicrosoftDocs/azure-docs/issues/52844; the SDK: "The value must be an UUID")
    run = stack_run("vm")
    name = run.mocks.one("azure-native:applicationinsights:Workbook").inputs["resourceName"]
    found = [r for r in run.resources if r.type == "random:index/randomUuid:RandomUuid"
             and r.name == "apertus-workbook-id"]
    assert len(found) == 1 and name == found[0].outputs["result"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", name)
