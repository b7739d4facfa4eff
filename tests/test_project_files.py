"""The repository's Pulumi project files against the Pulumi CLI's own definitions, offline.

The CLI validates every Pulumi.yaml against its project schema (pulumi/pulumi sdk/v3
go/common/workspace/project.json) before any command, and requires every config key declared
without a default. Both schemas are vendored (tests/fixtures/pulumi/, SOURCES.json says from
where): the pinned CLI of .ci/pulumi-cli.sh and the oldest CLI docs/pulumi-cli.md supports.
tests/test_pulumi_cli.py runs the same files through the real CLI when it is built.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from stacks.stackfile import (
    DECLARED_TYPES,
    PulumiYamlLoader,
    StackFileError,
    check_declared_type,
    load_stack_file,
    missing_required_keys,
)

ROOT = Path(__file__).resolve().parents[1]
from conftest import SHIPPED_STACKS  # noqa: E402
FIXTURES = ROOT / "tests" / "fixtures" / "pulumi"
SOURCES = json.loads((FIXTURES / "SOURCES.json").read_text())
SCHEMAS = sorted(SOURCES["schemas"])  # project-v3.231.0.json (oldest supported), project-v3.276.0.json
PROGRAMS = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("**/Pulumi.yaml")
                  if ".venv" not in p.parts and "venv" not in p.parts and "node_modules" not in p.parts)
STACKS = sorted(SHIPPED_STACKS)
TABLE = yaml.safe_load((FIXTURES / "declared_types.yaml").read_text())["cases"]
PINNED = re.search(r'PULUMI_VERSION:-(v[0-9.]+)', (ROOT / ".ci" / "pulumi-cli.sh").read_text()).group(1)


def test_the_vendored_schemas_are_the_files_sources_json_names():
    import hashlib

    for name, source in SOURCES["schemas"].items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == source["sha256"], name
    assert f"project-{PINNED}.json" in SOURCES["schemas"], "vendor the schema of the pinned CLI"
    minimum = re.search(r"oldest supported Pulumi CLI: \*\*(v[0-9.]+)\*\*",
                        (ROOT / "docs" / "pulumi-cli.md").read_text()).group(1)
    assert f"project-{minimum}.json" in SOURCES["schemas"], "vendor the schema of the oldest supported CLI"


def test_the_repository_has_the_program_and_the_library_example():
    assert {"Pulumi.yaml", "examples/library/Pulumi.yaml"} <= set(PROGRAMS)


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("program", PROGRAMS)
def test_every_pulumi_yaml_passes_the_cli_project_schema(program, schema):
    validator = jsonschema.Draft202012Validator(json.loads((FIXTURES / schema).read_text()))
    project = yaml.load((ROOT / program).read_text(), Loader=PulumiYamlLoader)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(project)]
    assert errors == [], f"{program} is refused by the Pulumi CLI's {schema}"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_schema_refuses_what_the_cli_refuses(schema):
    """The check can fail: `type: number` (what this repository once declared) is refused by both."""
    validator = jsonschema.Draft202012Validator(json.loads((FIXTURES / schema).read_text()))
    project = {"name": "p", "runtime": "python", "config": {"p:ratio": {"type": "number", "default": 0.9}}}
    assert not validator.is_valid(project)
    project["config"]["p:ratio"] = {"default": 0.9}  # how gpuMemoryUtilization is declared
    assert validator.is_valid(project)


@pytest.mark.parametrize("program", PROGRAMS)
def test_declared_types_are_the_ones_the_cli_knows_and_defaults_fit_them(program):
    """Project.Validate (sdk/v3 go/common/workspace/project.go): an array names its items, a default
    has the declared type (the CLI refuses the whole project otherwise)."""
    from stacks.stackfile import cli_accepts

    project = yaml.load((ROOT / program).read_text(), Loader=PulumiYamlLoader)
    for key, spec in (project.get("config") or {}).items():
        if "type" not in spec:
            continue
        assert spec["type"] in DECLARED_TYPES, key
        if spec["type"] == "array":
            assert "items" in spec, f"{key} declares an array without items"
        if "default" in spec:
            assert cli_accepts(spec["type"], spec.get("items"), spec["default"]), key


def test_only_host_is_required_and_every_shipped_stack_sets_it():
    """A key declared without a default is required by the CLI on every stack; only host is."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert missing_required_keys(project["name"], project["config"], set()) == ["apertus-azure:host"]
    for stack in STACKS:
        load_stack_file(stack)  # raises StackFileError for a missing required key or a refused type


def test_a_stack_without_a_required_key_is_refused_offline_like_the_cli_does(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.t.yaml").write_text("config:\n  azure-native:location: swedencentral\n")
    with pytest.raises(StackFileError, match=r"^Pulumi.t.yaml: apertus-azure:host is not set, .* "
                                             r"run: pulumi config set host <containerapp\|vm\|aks> --stack t$"):
        load_stack_file("t", tmp_path)


def _node(value: str) -> tuple[yaml.Node, PulumiYamlLoader]:
    loader = PulumiYamlLoader(f"apertus-azure:k: {value}\n")
    root = loader.get_single_node()
    return root.value[0][1], loader


@pytest.mark.parametrize("case", TABLE, ids=lambda c: f"{c['type']}-{c['value']}")
def test_the_offline_type_check_agrees_with_the_cli_table(case):
    node, loader = _node(case["value"])
    items = {"type": case["items"]} if "items" in case else None
    try:
        check_declared_type(Path("Pulumi.t.yaml"), "apertus-azure:k", node, loader, case["type"], items)
        accepted = True
    except StackFileError as error:
        accepted = False
        message = str(error)
        assert "\n" not in message and message.startswith("Pulumi.t.yaml, line 1: apertus-azure:k is ")
        assert "Pulumi.yaml declares it" in message and "; give " in message
    assert accepted == case["cli"]


def test_the_table_covers_every_declared_type_both_ways():
    assert {(c["type"], c["cli"]) for c in TABLE} == {(t, ok) for t in DECLARED_TYPES for ok in (True, False)}


def test_gpu_memory_utilization_is_a_fraction_the_stack_can_give(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.t.yaml").write_text(textwrap.dedent("""\
        config:
          azure-native:location: swedencentral
          apertus-azure:host: vm
          apertus-azure:gpuMemoryUtilization: 0.85
        """))
    _, values, _ = load_stack_file("t", tmp_path)
    assert float(values["apertus-azure:gpuMemoryUtilization"]) == 0.85
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    # declared a string with a string default: valid whether or not a CLI's schema requires `type`
    # (the CLI refuses a default of another type than the declared one), read as a number
    declared = project["config"]["apertus-azure:gpuMemoryUtilization"]
    assert (declared["type"], declared["default"]) == ("string", "0.9")


# ---- PulumiPlugin.yaml and PulumiPolicy.yaml: no schema, the CLI's structs ----

MANIFESTS = {"provider/PulumiPlugin.yaml": "PulumiPlugin.yaml",
             "policy/PulumiPolicy.yaml": "PulumiPolicy.yaml"}


def _runtime_ok(runtime) -> bool:
    """ProjectRuntimeInfo.UnmarshalYAML: a name, or {name, options} with a non-empty name (Validate)."""
    if isinstance(runtime, str):
        return bool(runtime)
    return isinstance(runtime, dict) and set(runtime) <= {"name", "options"} and bool(runtime.get("name")) \
        and isinstance(runtime.get("options", {}), dict)


@pytest.mark.parametrize("path", sorted(MANIFESTS))
@pytest.mark.parametrize("version", ["v3.231.0", PINNED])
def test_plugin_and_policy_manifests_use_only_fields_the_cli_reads(path, version):
    """LoadPluginProject / LoadPolicyPack (sdk/v3 go/common/workspace/loaders.go) decode these files
    with yaml.v3 into PluginProject / PolicyPackProject and drop any other field without a word, so
    a misspelt field would silently do nothing."""
    fields = SOURCES["manifests"][MANIFESTS[path]][version]
    manifest = yaml.load((ROOT / path).read_text(), Loader=PulumiYamlLoader)
    assert set(manifest) <= set(fields), f"{path}: the CLI ignores {sorted(set(manifest) - set(fields))}"
    runtime = manifest["runtime"]
    assert _runtime_ok(runtime) and (runtime if isinstance(runtime, str) else runtime["name"]) == "python"
    for key, value in manifest.items():
        if fields[key] in ("string", "*string"):
            assert isinstance(value, str), f"{path}: {key} must be a string for the CLI"


def test_the_shipped_stacks_are_the_stack_files_the_repository_tracks():
    """The suite judges the stack files the repository ships (SHIPPED_STACKS), not a user's own beside
    them; a stack file added to the repository is added to that list too."""
    import shutil
    import subprocess
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an unpacked archive): git cannot say which files it tracks")
    tracked = subprocess.run(["git", "ls-files", "Pulumi.*.yaml"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert sorted(name[len("Pulumi."):-len(".yaml")] for name in tracked if name != "Pulumi.yaml") == \
        sorted(SHIPPED_STACKS)
