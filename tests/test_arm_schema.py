"""Every azure-native resource the program registers, judged against Azure's API specification of
its API version (tests/fixtures/arm/schemas.json; docs/azure-schemas.md says where it comes from)."""

from __future__ import annotations

import copy
import functools
import importlib.util
import itertools
import os
import sys
from pathlib import Path

import pytest

import components
from conftest import API_KEY, run_stack, stack_config, unwrap
from stacks.offline import run_program

import arm_validator
from arm_validator import Finding, validate

ROOT = Path(__file__).resolve().parents[1]
CUSTOM_VNET = "10.42.0.0/16"
OFFICE = ["203.0.113.0/24"]
ONCALL = ["oncall@example.com"]

# The matrix: 3 hosts x public/internal x spot/on-demand x 8B/70B x default/custom VNet, where
# the config allows it (containerapp: no spot, 8B only; vm: no vnetAddressSpace): 28 stacks.
# A program run costs ~1.5 s of CPU, so by default each host runs twice, every dimension taking
# each of its values once; APERTUS_ARM_FULL_MATRIX=1 runs all 28 (about a minute).
# (host, internal, spot, model, custom vnet)
ALLOWED_BY_CONFIG = [
    row for row in itertools.product(("containerapp", "vm", "aks"), (False, True), (False, True), ("8b", "70b"),
                                     (False, True))
    if not (row[0] == "containerapp" and (row[2] or row[3] == "70b")) and not (row[0] == "vm" and row[4])]
MATRIX = [
    ("containerapp", False, False, "8b", False),
    ("containerapp", True, False, "8b", True),
    ("vm", False, False, "8b", False),
    ("vm", True, True, "70b", False),
    ("aks", False, False, "8b", False),
    ("aks", True, True, "70b", True),
]
STACKS = ALLOWED_BY_CONFIG if os.environ.get("APERTUS_ARM_FULL_MATRIX") == "1" else MATRIX

def stack_id(row) -> str:
    host, internal, spot, model, vnet = row
    return "-".join([host, "internal" if internal else "public", "spot" if spot else "ondemand", model,
                     "customvnet" if vnet else "defaultvnet"])


# Every matrix stack runs under a long stack name: the names it derives are judged in test_naming.py
LONG_STACK = "production-west-europe-apertus-serving-with-a-really-long-stack-name-0123456789"


@functools.lru_cache(maxsize=None)
def stack_run(row):
    """One stack of the matrix, run once per test process (test_naming.py reuses it)."""
    host, internal, spot, model, vnet = row
    config = stack_config(host, model=f"apertus-{model}-instruct", apiKey=API_KEY,
                          internal=internal or None, spot=spot or None,
                          vnetAddressSpace=CUSTOM_VNET if vnet else None,
                          # aks: the API server's access is required (issue 15): an internal stack
                          # runs as a private cluster (its access profile judged too), a public one
                          # with authorized ranges
                          apiAllowedCidrs=OFFICE if host == "aks" and not internal else None,
                          apiPrivate=True if host == "aks" and internal else None,
                          # public stacks alert someone: their action group is judged too
                          alertEmails=ONCALL if not internal else None)
    return run_stack(config, stack=f"{LONG_STACK}-{stack_id(row)}")


def registered(row) -> tuple[tuple[str, str, dict], ...]:
    """The azure-native resources one stack of the matrix registers."""
    return tuple((r.type, r.name, unwrap(r.inputs)) for r in stack_run(row).resources
                 if r.type.startswith("azure-native:"))


@functools.lru_cache(maxsize=None)
def library_example() -> tuple[tuple[str, str, dict], ...]:
    """examples/library/__main__.py as a user runs it, apertus_azure being this repo's components."""
    spec = importlib.util.spec_from_file_location("library_example", ROOT / "examples" / "library" / "__main__.py")
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("apertus_azure")
    sys.modules["apertus_azure"] = components
    try:
        spec.loader.exec_module(module)
        run = run_program(module.program, "team-llm", "dev", {"hfToken": "hf_offline_token"}, {"hfToken"})
    finally:
        if saved is None:
            sys.modules.pop("apertus_azure", None)
        else:
            sys.modules["apertus_azure"] = saved
    return tuple((r.type, r.name, unwrap(r.inputs)) for r in run.resources if r.type.startswith("azure-native:"))


def judge(resources) -> tuple[list[str], list[str]]:
    errors, warnings = [], []
    for typ, name, inputs in resources:
        for finding in validate(typ, name, inputs):
            (errors if finding.severity == "error" else warnings).append(str(finding))
    return errors, warnings


@pytest.mark.parametrize("row", STACKS, ids=[stack_id(row) for row in STACKS])
def test_every_azure_resource_of_the_stack_fits_its_api_specification(row):
    errors, warnings = judge(registered(row))
    assert errors == []
    assert warnings == [], "a value outside a modelAsString enum: allow it (arm_validator.ALLOWED) with its issue"


def test_the_library_example_fits_its_api_specifications():
    resources = library_example()
    assert {"azure-native:app:ContainerApp", "azure-native:compute:VirtualMachine"} <= {t for t, _, _ in resources}
    assert judge(resources) == ([], [])


def test_the_fixture_has_every_registered_type_at_the_api_version_the_sdk_uses():
    refresh = importlib.util.spec_from_file_location("refresh_arm_specs", ROOT / "tests/fixtures/refresh_arm_specs.py")
    script = importlib.util.module_from_spec(refresh)
    refresh.loader.exec_module(script)
    types = {typ for row in MATRIX for typ, _, _ in registered(row)} | {t for t, _, _ in library_example()}
    assert types <= arm_validator.covered_types(), sorted(types - arm_validator.covered_types())
    assert set(script.RESOURCES) == arm_validator.covered_types()
    for typ in types:
        assert arm_validator.api_version(typ) == script.sdk_api_version(typ)[0], typ
    source = arm_validator.fixture()["source"]
    assert source["commit"] and "azure-rest-api-specs/tree/" in source["builtFrom"]


def test_every_allow_list_entry_is_still_needed_and_cites_a_spec_issue():
    used = set()
    for row in MATRIX:
        for typ, name, inputs in registered(row):
            used |= {arm_validator.allowing_entry(f) for f in arm_validator.all_findings(typ, name, inputs)}
    for entry, issue in arm_validator.ALLOWED.items():
        assert issue.startswith("https://github.com/Azure/azure-rest-api-specs/issues/")
        assert entry in used, f"{entry} ({issue}) allows nothing any more: remove it"


def test_the_default_matrix_gives_every_dimension_each_value_the_config_allows():
    assert set(MATRIX) <= set(ALLOWED_BY_CONFIG) and len(ALLOWED_BY_CONFIG) == 28
    for host in ("containerapp", "vm", "aks"):
        for dimension in range(1, 5):
            allowed = {row[dimension] for row in ALLOWED_BY_CONFIG if row[0] == host}
            assert {row[dimension] for row in MATRIX if row[0] == host} == allowed, (host, dimension)


# ---- the judge can fail: known-bad values planted into what the program really registers ----

def one(typ: str, row=MATRIX[0]) -> tuple[str, str, dict]:
    found = [r for r in registered(row) if r[0] == typ]
    assert found, typ
    return copy.deepcopy(found[0])


def kinds(findings: list[Finding]) -> set[tuple[str, str, str]]:
    return {(f.severity, f.kind, f.path) for f in findings}


def test_a_planted_closed_enum_value_is_an_error():
    typ, name, inputs = one("azure-native:keyvault:Vault")
    inputs["properties"]["sku"]["name"] = "Standard"  # the spec's closed enum: standard | premium
    assert ("error", "enum", "properties.sku.name") in kinds(validate(typ, name, inputs))


def test_a_value_outside_a_model_as_string_enum_is_a_warning():
    typ, name, inputs = one("azure-native:storage:StorageAccount")
    inputs["kind"] = "FileStorageV3"
    assert kinds(validate(typ, name, inputs)) == {("warning", "enum", "kind")}


def test_a_name_one_character_too_long_is_an_error():
    typ, name, inputs = one("azure-native:storage:StorageAccount")
    maximum = arm_validator.name_constraints(typ)["maxLength"]
    assert maximum == 24
    inputs["accountName"] = "s" * maximum
    assert validate(typ, name, inputs) == []
    inputs["accountName"] = "s" * (maximum + 1)
    assert kinds(validate(typ, name, inputs)) == {("error", "length", "accountName")}


def test_a_name_outside_the_pattern_is_an_error():
    typ, name, inputs = one("azure-native:storage:StorageAccount")
    inputs["accountName"] = "st_cache"
    assert kinds(validate(typ, name, inputs)) == {("error", "pattern", "accountName")}


def test_an_unknown_property_is_an_error_at_any_depth():
    typ, name, inputs = one("azure-native:app:ContainerApp")
    inputs["template"]["scale"]["maxReplica"] = 3  # misspelt maxReplicas
    inputs["colour"] = "blue"
    assert kinds(validate(typ, name, inputs)) == {("error", "unknown", "template.scale.maxReplica"),
                                                  ("error", "unknown", "colour")}


def test_a_read_only_property_is_an_error():
    typ, name, inputs = one("azure-native:app:ContainerApp")
    inputs["latestRevisionFqdn"] = "x.azurecontainerapps.io"  # Azure computes it
    inputs["provisioningState"] = "Succeeded"
    assert kinds(validate(typ, name, inputs)) == {("error", "read-only", "latestRevisionFqdn"),
                                                  ("error", "read-only", "provisioningState")}


def test_a_missing_required_property_is_an_error():
    typ, name, inputs = one("azure-native:authorization:RoleAssignment")
    del inputs["principalId"]
    assert kinds(validate(typ, name, inputs)) == {("error", "required", "principalId")}


def test_a_number_out_of_range_is_an_error():
    typ, name, inputs = one("azure-native:containerservice:MaintenanceConfiguration", MATRIX[4])
    inputs["maintenanceWindow"]["durationHours"] = 3  # the spec: 4 to 24
    assert kinds(validate(typ, name, inputs)) == {("error", "range", "maintenanceWindow.durationHours")}


def test_a_wrong_type_is_an_error():
    typ, name, inputs = one("azure-native:app:ContainerApp")
    inputs["template"]["scale"]["maxReplicas"] = "two"
    assert kinds(validate(typ, name, inputs)) == {("error", "type", "template.scale.maxReplicas")}
