"""Judge azure-native resource inputs against Azure's own request-body constraints.

The constraints come from tests/fixtures/arm/schemas.json (see tests/fixtures/refresh_arm_specs.py
and docs/azure-schemas.md): per resource type and API version, the body schema as Microsoft's
bicep-types-az compiled it from azure-rest-api-specs, with $ref, allOf and discriminators resolved.

The inputs are what the program registered under the mocks: the azure-native SDK's camelCase
names, with these differences from the ARM request body, which this module undoes:
- flattening: azure-native lifts the members of a body's ``properties`` object (x-ms-client-flatten)
  into the object that holds it: ``ContainerApp(configuration=...)`` is ``properties.configuration``
  on the wire. A key that is no property of an object is looked up in its ``properties`` object.
- ``identity.userAssignedIdentities``: azure-native takes a list of identity ids, ARM a map
  id -> {} (the SDK turns one into the other).
- renames: azure-native names a property by the spec's ``x-ms-client-name`` where it has one
  (RENAMES, each checked in the spec); the fixture has the wire names.
Numbers: bicep-types has one integer type for OpenAPI ``integer`` and ``number`` (autorest.bicep
type-generator.ts, convertNumberSchema), so a fraction where the spec wants an integer is not
caught here; ranges are.
The resource's own name and its parents' names are URL path segments, not body properties: the
fixture records which inputs they are (``nameInput``, ``pathInputs``); the name is judged against
the body's ``name`` constraints.

Findings: unknown property, closed enum value (error) vs. a value outside a modelAsString enum
(warning: the service may know values newer than the spec), pattern / length / range, missing
required property, read-only property set.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "arm" / "schemas.json"
REQUIRED, READ_ONLY = 1, 2
# resource-level members ARM sets itself, and the name that travels in the URL
SERVER_SET = ("id", "name", "type", "apiVersion")
# location: azure-native takes it from the provider's `azure-native:location` config when absent
PROVIDER_DEFAULTS = ("location",)

# azure-native input name -> wire name, per type: the spec's x-ms-client-name
# (specification/storage/resource-manager/Microsoft.Storage/stable/2024-01-01/storage.json,
#  StorageAccountPropertiesCreateParameters: "networkAcls" x-ms-client-name NetworkRuleSet,
#  "supportsHttpsTrafficOnly" x-ms-client-name EnableHttpsTrafficOnly, both read in the spec;
#  VirtualNetworkRule "id" is VirtualNetworkResourceId in every SDK (azure-native, Az PowerShell),
#  not re-read in the spec file here)
RENAMES: dict[tuple[str, str], str] = {
    ("azure-native:storage:StorageAccount", "networkRuleSet"): "networkAcls",
    ("azure-native:storage:StorageAccount", "enableHttpsTrafficOnly"): "supportsHttpsTrafficOnly",
    ("azure-native:storage:StorageAccount", "virtualNetworkResourceId"): "id",
    # specification/applicationinsights/resource-manager/Microsoft.Insights/stable/2022-06-15/
    # webTests_API.json, WebTestProperties: "Name" x-ms-client-name WebTestName, "Kind" WebTestKind;
    # WebTestGeolocation "Id" x-ms-client-name location (read in the spec)
    ("azure-native:applicationinsights:WebTest", "webTestName"): "Name",
    ("azure-native:applicationinsights:WebTest", "webTestKind"): "Kind",
    ("azure-native:applicationinsights:WebTest", "location"): "Id",
    # .../Microsoft.Insights/stable/2020-02-02/components_API.json: "Application_Type", "Flow_Type",
    # "Request_Source" carry x-ms-client-name ApplicationType, FlowType, RequestSource (the SDK's
    # applicationType, flowType, requestSource; not re-read in the spec file here)
    ("azure-native:applicationinsights:Component", "applicationType"): "Application_Type",
    ("azure-native:applicationinsights:Component", "flowType"): "Flow_Type",
    ("azure-native:applicationinsights:Component", "requestSource"): "Request_Source",
    # the criteria's discriminator "odata.type": azure-native's odataType (the dot dropped)
    ("azure-native:monitor:MetricAlert", "odataType"): "odata.type",
}
# A name input that is also a body property: azure-native sends the web test's webTestName both as
# the URL segment and as properties.Name (one SDK input for the path parameter webTestName and the
# body's "Name", whose client name is WebTestName)
NAME_IN_BODY = {"azure-native:applicationinsights:WebTest"}

# Where the specification refuses what the service accepts, known from an azure-rest-api-specs
# issue: (type, path suffix, value or "*") -> the issue. A finding that matches is dropped.
ALLOWED: dict[tuple[str, str, str], str] = {
    # "this enum list is no longer updated" (the compute team, in the issue); the spec's own
    # description says to list sizes with the Resource SKUs API, which `python -m stacks preflight` does
    ("azure-native:compute:VirtualMachine", "hardwareProfile.vmSize", "*"):
        "https://github.com/Azure/azure-rest-api-specs/issues/10033",
    # KnownDataFlowStreams / KnownExtensionDataSourceStreams name 5 of the ~240 streams the service
    # takes; Container insights' stream group is one of the others
    ("azure-native:monitor:DataCollectionRule", "streams[0]", "Microsoft-ContainerInsights-Group-Default"):
        "https://github.com/Azure/azure-rest-api-specs/issues/21200",
    # the same enum: Managed Prometheus' stream (a DCR's prometheusForwarder data source feeding an
    # Azure Monitor workspace, "Data collection rules in Azure Monitor", learn.microsoft.com/azure/
    # azure-monitor/containers/kubernetes-monitoring-enable) is one of those it does not list
    ("azure-native:monitor:DataCollectionRule", "streams[0]", "Microsoft-PrometheusMetrics"):
        "https://github.com/Azure/azure-rest-api-specs/issues/21200",
}


@dataclass(frozen=True)
class Finding:
    type: str
    resource: str
    path: str
    kind: str  # unknown | enum | pattern | length | range | type | required | read-only
    message: str
    severity: str = "error"  # or "warning" (modelAsString enums)
    value: Any = None  # the value judged, where one was

    def __str__(self) -> str:
        return f"{self.severity}: {self.type} {self.resource!r} {self.path}: {self.kind}: {self.message}"


@functools.lru_cache(maxsize=1)
def fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@functools.lru_cache(maxsize=None)
def _pattern(pattern: str) -> re.Pattern:
    return re.compile(pattern)


class _Judge:
    def __init__(self, typ: str, resource: str) -> None:
        self.typ, self.resource = typ, resource
        self.nodes = fixture()["nodes"]
        self.findings: list[Finding] = []

    def add(self, path: str, kind: str, message: str, severity: str = "error", value: Any = None) -> None:
        self.findings.append(Finding(self.typ, self.resource, path or "<body>", kind, message, severity, value))

    # ---- values ----
    def value(self, value: Any, ref: str, path: str) -> None:
        node = self.nodes[ref]
        if "const" in node:
            if value != node["const"]:
                self.add(path, "enum", f"{value!r} is not {node['const']!r}")
            return
        if "anyOf" in node:
            self.union(value, node["anyOf"], path)
            return
        kind = node["type"]
        if kind == "string":
            self.string(value, node, path)
        elif kind == "integer":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.add(path, "type", f"{value!r} is not a number")
                return
            if "minValue" in node and value < node["minValue"]:
                self.add(path, "range", f"{value!r} < minimum {node['minValue']}")
            if "maxValue" in node and value > node["maxValue"]:
                self.add(path, "range", f"{value!r} > maximum {node['maxValue']}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.add(path, "type", f"{value!r} is not a boolean")
        elif kind == "array":
            if not isinstance(value, list):
                self.add(path, "type", f"{value!r} is not an array")
                return
            if "minLength" in node and len(value) < node["minLength"]:
                self.add(path, "length", f"{len(value)} items < minimum {node['minLength']}")
            if "maxLength" in node and len(value) > node["maxLength"]:
                self.add(path, "length", f"{len(value)} items > maximum {node['maxLength']}")
            for index, item in enumerate(value):
                self.value(item, node["items"], f"{path}[{index}]")
        elif kind in ("object", "discriminated"):
            self.obj(value, ref, path)
        # any / null: nothing to check

    def string(self, value: Any, node: dict, path: str) -> None:
        if not isinstance(value, str):
            self.add(path, "type", f"{value!r} is not a string")
            return
        if "minLength" in node and len(value) < node["minLength"]:
            self.add(path, "length", f"{value!r} is {len(value)} characters, minimum {node['minLength']}")
        if "maxLength" in node and len(value) > node["maxLength"]:
            self.add(path, "length", f"{value!r} is {len(value)} characters, maximum {node['maxLength']}")
        if "pattern" in node and not _pattern(node["pattern"]).search(value):
            self.add(path, "pattern", f"{value!r} does not match {node['pattern']}")

    def union(self, value: Any, refs: list[str], path: str) -> None:
        literals = [self.nodes[r]["const"] for r in refs if "const" in self.nodes[r]]
        others = [r for r in refs if "const" not in self.nodes[r]]
        if value in literals:
            return
        if literals and all(self.nodes[r].get("type") == "string" for r in others):
            if others:  # a modelAsString enum: the service may take values the spec does not list yet
                self.add(path, "enum", f"{value!r} is not one of {literals} (modelAsString)", "warning", value)
            else:
                self.add(path, "enum", f"{value!r} is not one of {literals}", "error", value)
            return
        for ref in others:  # a union of shapes: the value must fit one
            trial = _Judge(self.typ, self.resource)
            trial.value(value, ref, path)
            if not [f for f in trial.findings if f.severity == "error"]:
                self.findings.extend(trial.findings)
                return
        self.add(path, "type", f"{value!r} fits none of {literals or [self.nodes[r].get('type') for r in others]}")

    # ---- objects, with azure-native's flattening of `properties` ----
    def properties_of(self, ref: str, value: dict, path: str) -> dict[str, dict]:
        node = self.nodes[ref]
        props = dict(node.get("properties", {}))
        if node["type"] == "discriminated":
            key = node["discriminator"]
            chosen = next((item for name, item in value.items()
                           if key in (name, RENAMES.get((self.typ, name)))), None)
            if chosen not in node["elements"]:
                self.add(f"{path}.{key}".lstrip("."), "required" if chosen is None else "enum",
                         f"discriminator {key}={chosen!r} is not one of {sorted(node['elements'])}")
                return props
            props.update(self.nodes[node["elements"][chosen]]["properties"])
        return props

    def member(self, key: str, props: dict[str, dict], flat_props: dict[str, dict]) -> tuple[str, dict | None]:
        """The wire name and property of azure-native input ``key`` in an object: the key itself, its
        RENAMES entry, or the key with its first letter upper-cased (azure-native lower-cases the first
        letter of a PascalCase wire name: Application Insights' ``SSLCheck`` is ``sSLCheck``); in the
        object's own properties, then in its flattened ``properties``; a writable one before a read-only
        one (a VM extension's ``type`` is ``properties.type``, not the resource's read-only ``type``)."""
        found = []
        for members in (props, flat_props):
            for name in (key, RENAMES.get((self.typ, key)), key[:1].upper() + key[1:]):
                if name in members:
                    found.append((name, members[name]))
                    break
        writable = [(name, prop) for name, prop in found
                    if not prop["flags"] & READ_ONLY or prop["flags"] & REQUIRED]
        return (writable or found or [(RENAMES.get((self.typ, key), key), None)])[0]

    def obj(self, value: Any, ref: str, path: str, top: bool = False) -> None:
        if not isinstance(value, dict):
            self.add(path, "type", f"{value!r} is not an object")
            return
        node = self.nodes[ref]
        props = self.properties_of(ref, value, path)
        flat = props.get("properties")
        flat_props: dict[str, dict] = {}
        if flat and "properties" not in value and self.nodes[flat["ref"]].get("type") in ("object", "discriminated"):
            flat_props = self.properties_of(flat["ref"], value, path)
        join = (lambda key: f"{path}.{key}") if path else (lambda key: key)
        given = set()
        for key, item in value.items():
            key, prop = self.member(key, props, flat_props)
            given.add(key)
            if top and key in SERVER_SET and prop is props.get(key):
                continue
            if prop is None:
                if "additionalProperties" in node:
                    self.value(item, node["additionalProperties"], join(key))
                else:
                    self.add(join(key), "unknown", f"no property {key!r} in {node.get('name')}")
                continue
            if prop["flags"] & READ_ONLY and not prop["flags"] & REQUIRED:
                self.add(join(key), "read-only", f"{key!r} is read-only in {node.get('name')}: Azure sets it")
                continue
            if key == "userAssignedIdentities" and isinstance(item, list):
                item = {identity: {} for identity in item}  # azure-native's list of ids
            self.value(item, prop["ref"], join(key))
        for members in (props, flat_props):
            for key, prop in members.items():
                if not prop["flags"] & REQUIRED or prop["flags"] & READ_ONLY or key in given:
                    continue
                if top and (key in SERVER_SET or key in PROVIDER_DEFAULTS):
                    continue
                if key == "properties" and flat_props:
                    continue  # flattened: its members are checked one by one
                self.add(join(key), "required", f"required {key!r} missing")


def validate(typ: str, name: str, inputs: dict[str, Any]) -> list[Finding]:
    """Every finding for one registered resource (inputs as recorded, secrets unwrapped)."""
    spec = fixture()["resources"][typ]
    judge = _Judge(typ, name)
    body_ref = spec["body"]
    body = {k: v for k, v in inputs.items()
            if (k != spec["nameInput"] or typ in NAME_IN_BODY) and k not in spec["pathInputs"]}
    if spec["nameInput"] in inputs:
        name_prop = judge.nodes[body_ref]["properties"]["name"]
        judge.value(inputs[spec["nameInput"]], name_prop["ref"], spec["nameInput"])
    judge.obj(body, body_ref, "", top=True)
    return [f for f in judge.findings if allowed_by(f) is None]


def allowing_entry(finding: Finding) -> tuple[str, str, str] | None:
    """The ALLOWED entry that allows this finding, if one does."""
    for typ, path, value in ALLOWED:
        if finding.type == typ and finding.path.endswith(path) and value in ("*", finding.value):
            return typ, path, value
    return None


def allowed_by(finding: Finding) -> str | None:
    """The azure-rest-api-specs issue that allows this finding, if one does."""
    entry = allowing_entry(finding)
    return ALLOWED[entry] if entry else None


def all_findings(typ: str, name: str, inputs: dict[str, Any]) -> list[Finding]:
    """Every finding, the allowed ones too (to show each allow-list entry is still needed)."""
    saved = dict(ALLOWED)
    ALLOWED.clear()
    try:
        return validate(typ, name, inputs)
    finally:
        ALLOWED.update(saved)


def name_constraints(typ: str) -> dict[str, Any]:
    """The body's ``name`` constraints for ``typ`` (string node, or a const / union)."""
    spec = fixture()["resources"][typ]
    nodes = fixture()["nodes"]
    return nodes[nodes[spec["body"]]["properties"]["name"]["ref"]]


def api_version(typ: str) -> str:
    return fixture()["resources"][typ]["apiVersion"]


def covered_types() -> set[str]:
    return set(fixture()["resources"])
