"""The project judged by the real Pulumi CLI (the release .ci/pulumi-cli.sh pins and builds).

Every command runs on a temporary `file://` backend with its own PULUMI_HOME (never the user's
~/.pulumi), no update check and no automatic plugin download. The stack `dev`, whose secrets the tests
set and read, has the passphrase secrets provider a `pulumi login --local` user gets; every other stack
has a stand-in for Vault's transit engine (`hashivault://`, _VaultTransit): the passphrase costs each
command that opens a stack a 1,000,000-round PBKDF2 (~0.18 s of CPU, half of a `pulumi preview`). The
Python language host cannot be built here (the Go module proxy does not serve its module), so
`pulumi preview` of the Python program stops at "no language plugin 'pulumi-language-python'":
after the CLI has loaded the project, the stack and validated the stack's config, which is what
these tests check. The YAML language host is built, so a YAML program using the component runs
through the real engine and the component provider until the first missing provider plugin. The
declared-type table goes through pulumi-check-stack-config (preview's own calls, from the pinned
modules, all rows in one process) and a sample of it through `pulumi preview`, which must agree.
docs/pulumi-cli.md says what runs, what cannot and why.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from stacks import __main__ as plan_cli
from stacks.common import plan_stack
from stacks import preflight
from stacks.stackfile import (PulumiYamlLoader, StackFileError, check_declared_type, load_stack_file,
                              stack_value)

ROOT = Path(__file__).resolve().parents[1]
from conftest import SHIPPED_STACKS  # noqa: E402
SCRIPT = ROOT / ".ci" / "pulumi-cli.sh"
PINNED = re.search(r"PULUMI_VERSION:-(v[0-9.]+)", SCRIPT.read_text()).group(1)
TOOLS = Path(os.environ.get("APERTUS_TOOLS_DIR") or
             Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "apertus-azure")
BIN = TOOLS / "pulumi-cli" / PINNED / "bin"
CHECK_STACK_CONFIG = BIN / "pulumi-check-stack-config"  # .ci/pulumi-check-stack-config/main.go
STACKS = sorted(SHIPPED_STACKS)
TABLE = yaml.safe_load((ROOT / "tests" / "fixtures" / "pulumi" / "declared_types.yaml").read_text())["cases"]
HF_TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"  # a made-up token of the real shape
API_KEY = "k" * 12 + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
NO_PYTHON_HOST = "no language plugin 'pulumi-language-python' found"

pytestmark = [
    pytest.mark.pulumi_cli,
    pytest.mark.skipif(not (BIN / "pulumi").is_file(), reason=(
        f"the Pulumi CLI {PINNED} is not built in {BIN}: run .ci/pulumi-cli.sh (needs Go and the Go module "
        "proxy; ~6 min cold, docs/pulumi-cli.md)")),
]


VAULT_KEY = "apertus-azure-tests"
VAULT = f"hashivault://{VAULT_KEY}"  # the secrets provider of every stack but dev


class _VaultTransit(BaseHTTPRequestHandler):
    """A stand-in for Vault's transit engine, as the CLI's `hashivault://` secrets provider calls it
    (gocloud.dev/secrets/hashivault: PUT /v1/transit/encrypt|decrypt/<key>) to wrap and unwrap the
    stack's data key: it wraps by tagging. The stacks using it hold no secrets; dev, which does, keeps
    the passphrase."""

    def do_PUT(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == f"/v1/transit/encrypt/{VAULT_KEY}":
            data = {"ciphertext": "vault:v1:" + body["plaintext"]}
        elif self.path == f"/v1/transit/decrypt/{VAULT_KEY}" and body["ciphertext"].startswith("vault:v1:"):
            data = {"plaintext": body["ciphertext"].removeprefix("vault:v1:")}
        else:
            self.send_error(400, f"not a transit call of key {VAULT_KEY}")
            return
        reply = json.dumps({"data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


class Cli:
    """The real `pulumi` with an environment of its own: temp PULUMI_HOME, file:// backend, a passphrase
    and the stand-in Vault."""

    def __init__(self, home: Path, vault_address: str):
        (home / "pulumi-home").mkdir(parents=True)
        (home / "state").mkdir()
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("PULUMI_", "AZURE_", "ARM_", "VAULT_"))}
        self.env = {**keep, "PATH": f"{BIN}{os.pathsep}{keep.get('PATH', '')}",
                    "PULUMI_HOME": str(home / "pulumi-home"),
                    "PULUMI_BACKEND_URL": f"file://{home / 'state'}",
                    "PULUMI_CONFIG_PASSPHRASE": "apertus-azure test passphrase",
                    "VAULT_ADDR": vault_address, "VAULT_TOKEN": "apertus-azure test token",
                    "PULUMI_SKIP_UPDATE_CHECK": "1",
                    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                    "PULUMI_DISABLE_REGISTRY_RESOLVE": "true",
                    "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "1", "NO_COLOR": "1",
                    # each command is a short process: its garbage collections are wasted work
                    # (measured: -13 % CPU per preview, -30 % for `pulumi version`; ~17 MB more memory)
                    "GOGC": "off"}

    def __call__(self, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "pulumi"), *args, "--non-interactive"], cwd=cwd, env=self.env,
                              check=False, capture_output=True, text=True, timeout=timeout)

    def ok(self, *args: str, cwd: Path) -> str:
        result = self(*args, cwd=cwd)
        assert result.returncode == 0, result.stderr + result.stdout
        return result.stdout

    def init(self, stack: str, cwd: Path, passphrase: bool = False) -> None:
        """`pulumi stack init`, with the stand-in Vault as secrets provider unless `passphrase`."""
        self.ok("stack", "init", stack, *([] if passphrase else ["--secrets-provider", VAULT]), cwd=cwd)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    vault = ThreadingHTTPServer(("127.0.0.1", 0), _VaultTransit)
    threading.Thread(target=vault.serve_forever, daemon=True).start()
    yield Cli(tmp_path_factory.mktemp("pulumi"), f"http://127.0.0.1:{vault.server_port}")
    vault.shutdown()
    vault.server_close()


@pytest.fixture(scope="module")
def project(cli, tmp_path_factory) -> Path:
    """A copy of the program's project files with every shipped stack initialised by the CLI (dev with
    the passphrase: the tests set and read its secrets)."""
    copy = tmp_path_factory.mktemp("program")
    for path in [ROOT / "Pulumi.yaml", ROOT / "__main__.py", *(ROOT / f"Pulumi.{s}.yaml" for s in STACKS)]:
        shutil.copy(path, copy / path.name)
    for stack in STACKS:
        cli.init(stack, cwd=copy, passphrase=stack == "dev")
    return copy


def test_the_cli_is_the_pinned_release(cli, tmp_path):
    assert cli.ok("version", cwd=tmp_path).strip() == PINNED


@pytest.mark.parametrize("program", ["Pulumi.yaml", "examples/library/Pulumi.yaml"])
def test_every_pulumi_yaml_loads_in_the_cli(cli, tmp_path, program):
    """The schema check, for real: a new stack of each project previews up to the language host."""
    shutil.copy(ROOT / program, tmp_path / "Pulumi.yaml")
    host = "  apertus-azure:host: vm\n" if program == "Pulumi.yaml" else ""
    (tmp_path / "Pulumi.ci.yaml").write_text(f"config:\n  azure-native:location: swedencentral\n{host}")
    cli.init("ci", cwd=tmp_path)
    result = cli("preview", cwd=tmp_path)
    assert NO_PYTHON_HOST in result.stderr and "could not validate" not in result.stderr, result.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_loads_and_pulumi_config_shows_its_values(cli, project, stack):
    shown = json.loads(cli.ok("config", "--json", "--stack", stack, cwd=project))
    _, values, _ = load_stack_file(stack, project)  # the offline reading: the same keys and values
    assert set(shown) == set(values)
    for key, value in values.items():
        expected = value if isinstance(value, str) else json.dumps(value)
        assert shown[key]["value"] == expected, key


@pytest.mark.parametrize("stack", STACKS)
def test_preview_validates_every_shipped_stack_and_stops_only_at_the_python_host(cli, project, stack):
    """The CLI checks required keys and declared types before it starts the language host."""
    result = cli("preview", "--stack", stack, cwd=project)
    assert result.returncode != 0 and NO_PYTHON_HOST in result.stderr + result.stdout, result.stderr
    assert "validating stack config" not in result.stderr + result.stdout


def test_a_stack_missing_a_required_key_is_refused_by_the_cli_and_offline(cli, project):
    (project / "Pulumi.nohost.yaml").write_text("config:\n  azure-native:location: swedencentral\n")
    cli.init("nohost", cwd=project)
    result = cli("preview", "--stack", "nohost", cwd=project)
    missing = "Stack 'nohost' is missing configuration value 'apertus-azure:host'"
    assert missing in result.stderr, result.stderr
    with pytest.raises(StackFileError, match="apertus-azure:host is not set"):
        load_stack_file("nohost", project)


SCALARS = ["1.30", "0x8000", "3.0", "1e3", "True", "19:00", '"1.30"', "0o17", "017", "1_000", "2026-11-28",
           "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2026-13-01",
           "yes", "~", "+3", ".5"]


def test_the_cli_hands_a_scalar_over_as_the_offline_reader_does(cli, tmp_path):
    """`pulumi config` shows what the program receives: yaml.v3's value re-written as JSON text
    (`kubernetesVersion: 1.30` arrives as "1.3"); stacks/stackfile.py stack_value gives the same."""
    (tmp_path / "Pulumi.yaml").write_text("name: apertus-azure\nruntime: python\n")
    text = "config:\n" + "".join(f"  apertus-azure:s{i}: {value}\n" for i, value in enumerate(SCALARS))
    (tmp_path / "Pulumi.s.yaml").write_text(text)
    cli.init("s", cwd=tmp_path)
    shown = json.loads(cli.ok("config", "--json", "--stack", "s", cwd=tmp_path))
    loader = PulumiYamlLoader(text)
    nodes = {key.value: value for key, value in loader.get_single_node().value[0][1].value}
    for i, value in enumerate(SCALARS):
        key = f"apertus-azure:s{i}"
        assert shown[key]["value"] == stack_value(nodes[key], loader), value


# ---- one table of declared types and values, through the CLI and through the offline check ----

DEFAULTS = {"string": "x", "integer": 1, "boolean": False, "array": [], "object": {}}


def _declaration(case: dict) -> dict:
    spec = {"type": case["type"], "default": DEFAULTS[case["type"]]}
    if case["type"] == "array":
        spec["items"] = {"type": case["items"]}
    return spec


def _offline_accepts(case: dict) -> bool:
    loader = PulumiYamlLoader(f"apertus-azure:k: {case['value']}\n")
    node = loader.get_single_node().value[0][1]
    try:
        check_declared_type(Path("Pulumi.t.yaml"), "apertus-azure:k", node, loader, case["type"],
                            {"type": case["items"]} if "items" in case else None)
    except StackFileError:
        return False
    return True


TYPES_STACK = "types"
ACCEPTED = "Pulumi.accepted.yaml"  # every row the table says the CLI accepts, in one configuration


def _row_file(row: int) -> str:
    return f"Pulumi.row{row}.yaml"


def _config_text(rows: list[int]) -> str:
    values = "".join(f"  apertus-azure:k{i}: {TABLE[i]['value']}\n" for i in rows)
    return f"config:\n{values}secretsprovider: {VAULT}\n"  # a --config-file brings its secrets provider


def _first_refused_row_of_each_type() -> list[int]:
    first: dict[str, int] = {}
    for i, case in enumerate(TABLE):
        if not case["cli"]:
            first.setdefault(case["type"], i)
    return sorted(first.values())


# what `pulumi preview` itself judges: the accepted rows together, and the first refused row of each type
PREVIEWED = [ACCEPTED] + [_row_file(i) for i in _first_refused_row_of_each_type()]


@pytest.fixture(scope="module")
def types_project(tmp_path_factory) -> Path:
    """A project declaring one key per row, `k<row>` with a default, and a config file per row giving
    that row's value, plus ACCEPTED."""
    workdir = tmp_path_factory.mktemp("types")
    (workdir / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": "apertus-azure", "runtime": "python",
        "config": {f"apertus-azure:k{i}": _declaration(case) for i, case in enumerate(TABLE)}}))
    for i in range(len(TABLE)):
        (workdir / _row_file(i)).write_text(_config_text([i]))
    (workdir / ACCEPTED).write_text(_config_text([i for i, case in enumerate(TABLE) if case["cli"]]))
    return workdir


@pytest.fixture(scope="module")
def stack_config_verdicts(types_project) -> dict[str, str | None]:
    """Config file -> the error `pulumi preview --stack types --config-file <file>` stops at (None when
    it accepts the config), for every file in one process: pulumi-check-stack-config makes preview's
    own calls with the pinned pulumi/pkg (.ci/pulumi-check-stack-config/main.go cites them)."""
    if not CHECK_STACK_CONFIG.is_file():
        pytest.fail(f"pulumi-check-stack-config is not built in {BIN}: run .ci/pulumi-cli.sh (it builds only "
                    "what is missing: ~20 s with the Go module and build caches warm)")
    files = [ACCEPTED, *(_row_file(i) for i in range(len(TABLE)))]
    result = subprocess.run([str(CHECK_STACK_CONFIG), TYPES_STACK, *files], cwd=types_project, check=False,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("row", range(len(TABLE)), ids=[f"{c['type']}-{c['value']}" for c in TABLE])
def test_the_cli_and_the_offline_check_agree_on_every_declared_type_case(stack_config_verdicts, row):
    """The CLI's verdict on each row from pulumi-check-stack-config (preview's own code, all rows in one
    process); the test below shows `pulumi preview` gives the same verdicts."""
    case = TABLE[row]
    error = stack_config_verdicts[_row_file(row)]
    refused = (f"validating stack config: Stack '{TYPES_STACK}' with configuration key 'apertus-azure:k{row}' "
               "must be of type")
    assert error is None or error.startswith(refused), error  # refused for this key's type, nothing else
    cli_accepted = error is None
    assert cli_accepted == case["cli"], f"the CLI {'accepts' if cli_accepted else 'refuses'} it"
    assert _offline_accepts(case) == case["cli"]


def test_the_cli_accepts_the_accepted_rows_together(stack_config_verdicts):
    assert stack_config_verdicts[ACCEPTED] is None, stack_config_verdicts[ACCEPTED]


@pytest.fixture(scope="module")
def types_stack(cli, types_project) -> str:
    cli.init(TYPES_STACK, cwd=types_project)
    return TYPES_STACK


@pytest.mark.parametrize("config_file", PREVIEWED)
def test_pulumi_preview_judges_a_config_as_pulumi_check_stack_config_does(cli, types_project, types_stack,
                                                                           stack_config_verdicts, config_file):
    """pulumi-check-stack-config is only as good as its likeness to the CLI: the accepted rows and a
    refused row of each type through the real `pulumi preview`, which must stop where the helper says,
    in the same words."""
    result = cli("preview", "--stack", types_stack, "--config-file", config_file, cwd=types_project)
    output = result.stderr + result.stdout
    expected = stack_config_verdicts[config_file]
    if expected is None:
        assert NO_PYTHON_HOST in output and "validating stack config" not in output, output
    else:
        assert f"error: {expected}\n" in output, output


# ---- the secrets a user sets with the CLI, read by plan and preflight ----

@pytest.fixture(scope="module")
def dev_with_secrets(cli, project) -> Path:
    cli.ok("config", "set", "--secret", "apertus-azure:hfToken", HF_TOKEN, "--stack", "dev", cwd=project)
    cli.ok("config", "set", "--secret", "apertus-azure:apiKey", API_KEY, "--stack", "dev", cwd=project)
    return project


def test_the_cli_writes_secrets_in_its_secure_form(dev_with_secrets):
    text = (dev_with_secrets / "Pulumi.dev.yaml").read_text()
    config = yaml.safe_load(text)["config"]
    for key in ("apertus-azure:hfToken", "apertus-azure:apiKey"):
        assert set(config[key]) == {"secure"} and config[key]["secure"].startswith("v1:"), config[key]
    assert HF_TOKEN not in text and API_KEY not in text


def test_plan_reads_the_stack_the_cli_wrote(dev_with_secrets, monkeypatch, capsys):
    _, _, secret_keys = load_stack_file("dev", dev_with_secrets)
    assert secret_keys == {"apertus-azure:hfToken", "apertus-azure:apiKey"}
    monkeypatch.setattr(plan_cli, "ROOT", dev_with_secrets)
    assert plan_cli.main(["plan", "--stack", "dev", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert not any("hfToken is not set" in w for w in data["plan"]["warnings"])
    assert data["outputs"]["apiKey"] == "[secret]"
    assert HF_TOKEN not in out + err and API_KEY not in out + err


def test_preflight_reads_the_stack_and_its_token_through_the_cli(cli, dev_with_secrets):
    """preflight's stack reading (before any Azure call): the plan, the selected stack and the
    decrypted hfToken from `pulumi config get`, with the real CLI on PATH."""
    cli.ok("stack", "select", "dev", cwd=dev_with_secrets)
    env = preflight.Environment(env={k: v for k, v in cli.env.items() if k != "HF_TOKEN"},
                                which=lambda name: shutil.which(name, path=cli.env["PATH"]),
                                run=functools.partial(subprocess.run, env=cli.env))
    assert preflight.selected_stack(dev_with_secrets, env.which, env.run)[0] == "dev"
    assert plan_stack("dev", dev_with_secrets)["plan"]["host"] == "containerapp"
    assert preflight.hf_token("dev", env, dev_with_secrets) == (HF_TOKEN, "stack 'dev' config hfToken", "")


# ---- the policy pack and the component package ----

@pytest.fixture(scope="module")
def yaml_program(cli, tmp_path_factory) -> Path:
    """An empty YAML program: the runtime this machine has a language host for."""
    if not (BIN / "pulumi-language-yaml").is_file():
        pytest.skip(f"pulumi-language-yaml is not built in {BIN}: run .ci/pulumi-cli.sh")
    program = tmp_path_factory.mktemp("yaml-program")
    (program / "Pulumi.yaml").write_text("name: policy-check\nruntime: yaml\n")
    cli.init("dev", cwd=program)
    return program


def test_the_policy_pack_manifest_loads_and_stops_only_at_the_python_host(cli, yaml_program, tmp_path):
    result = cli("preview", "--policy-pack", str(ROOT / "policy"), cwd=yaml_program)
    assert "could not start policy pack" in result.stderr and NO_PYTHON_HOST in result.stderr, result.stderr
    broken = tmp_path / "policy"  # the check can fail: the CLI reads PulumiPolicy.yaml first
    broken.mkdir()
    (broken / "PulumiPolicy.yaml").write_text("description: no runtime\n")
    result = cli("preview", "--policy-pack", str(broken), cwd=yaml_program)
    assert "project is missing a 'runtime' attribute" in result.stderr, result.stderr


YAML_USER = """\
name: yaml-user
runtime: yaml
config:
  hfToken:
    type: string
    secret: true
resources:
  llm:
    type: apertus:index:ContainerAppGpu
    properties:
      location: swedencentral
      model: apertus-8b-instruct
      hfToken: ${hfToken}
      maxReplicas: 2
outputs:
  endpoint: ${llm.endpoint}
  apiKey: ${llm.apiKey}
"""


@pytest.mark.cli_slow
@pytest.mark.skipif(not os.environ.get("APERTUS_CLI_SLOW"), reason=(
    "the CLI's slow tier (~5-8 s: the real engine starts the component provider twice), kept out of "
    "the suite's minute; .ci/run runs it: "
    "APERTUS_CLI_SLOW=1 python -m pytest -m cli_slow tests/test_pulumi_cli.py"))
def test_a_yaml_program_using_the_component_runs_until_the_first_missing_provider_plugin(cli, tmp_path):
    """The real YAML language host reads the program, loads the component's schema from the provider
    and the engine runs Construct in it; the component then registers its Azure resources, and the
    engine stops at the azure-native provider plugin (not installed: no automatic download).

    The component provider is started the way `pulumi package add ./provider` makes the Python
    language host start it (python provider/__main__.py <engine address>), by a
    `pulumi-resource-apertus` launcher on PATH, since the Python language host is not built here."""
    if not (BIN / "pulumi-language-yaml").is_file():
        pytest.skip(f"pulumi-language-yaml is not built in {BIN}: run .ci/pulumi-cli.sh")
    launcher = tmp_path / "bin" / "pulumi-resource-apertus"
    launcher.parent.mkdir()
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "provider" / "__main__.py"}" "$@"\n')
    launcher.chmod(0o755)
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(YAML_USER)
    cli.ok("stack", "init", "dev", cwd=program)
    cli.ok("config", "set", "--secret", "hfToken", HF_TOKEN, cwd=program)
    env = {**{k: v for k, v in cli.env.items() if k != "GOGC"},  # a long run: GOGC=off doubled its memory
           "PATH": f"{launcher.parent}{os.pathsep}{cli.env['PATH']}"}
    result = subprocess.run([str(BIN / "pulumi"), "preview", "--non-interactive"], cwd=program, env=env,
                            check=False, capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no resource plugin 'pulumi-resource-azure-native' found" in output, output
    errors = [line for line in output.splitlines() if "error:" in line.lower()]
    assert all("pulumi-resource-azure-native" in line for line in errors), errors
    assert HF_TOKEN not in output


# ---- the component package: SDKs for other languages ----

COMPONENTS = ("ContainerAppGpu", "GpuVirtualMachine", "AksGpuCluster")
SECRET_MARKS = {"nodejs": ('pulumi.secret(args.hfToken)', 'pulumi.secret(args.apiKey)',
                           'additionalSecretOutputs: ["apiKey"]'),
                "go": ("pulumi.ToSecret(args.HfToken)", "pulumi.ToSecret(args.ApiKey)",
                       "pulumi.AdditionalSecretOutputs(")}
NODE = BIN.parent / "node" / "node_modules"
SLOW = pytest.mark.skipif(not os.environ.get("APERTUS_CLI_SLOW"), reason=(
    "the CLI's slow tier (go build / tsc of a generated SDK, ~3 s each warm, minutes cold), kept out of "
    "the suite's minute; .ci/run runs it: "
    "APERTUS_CLI_SLOW=1 python -m pytest -m cli_slow tests/test_pulumi_cli.py"))


@pytest.fixture(scope="module")
def sdks(tmp_path_factory) -> dict[str, Path]:
    """The Node.js and Go SDKs generated from the component schema (what `pulumi package add`
    infers: the analyzer of tests/test_schema.py) by pkg/v3's generators (.ci/pulumi-gen-sdk)."""
    if not (BIN / "pulumi-gen-sdk").is_file():
        pytest.skip(f"pulumi-gen-sdk is not built in {BIN}: run .ci/pulumi-cli.sh")
    from test_schema import load_entry_point

    entry = load_entry_point()
    out = tmp_path_factory.mktemp("sdks")
    provider = entry.ApertusProvider(entry.COMPONENTS, entry.PACKAGE, entry.VERSION)
    (out / "schema.json").write_text(provider.schema)
    made = {}
    for language in ("nodejs", "go"):
        result = subprocess.run([str(BIN / "pulumi-gen-sdk"), str(out / "schema.json"), language,
                                 str(out / language)], check=False, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        made[language] = out / language
    return made


@pytest.mark.parametrize("language", ["nodejs", "go"])
def test_the_generated_sdk_has_the_three_components_with_their_secrets(sdks, language):
    folder = sdks[language] / ("apertus" if language == "go" else "")
    for component in COMPONENTS:
        extension = "go" if language == "go" else "ts"
        source = (folder / f"{component[0].lower()}{component[1:]}.{extension}").read_text()
        assert all(mark in source for mark in SECRET_MARKS[language]), (component, language)


@pytest.mark.cli_slow
@SLOW
def test_the_generated_go_sdk_compiles(sdks):
    sdk = sdks["go"]
    internal = re.search(r'"(\S+)/apertus/internal"', (sdk / "apertus" / "init.go").read_text()).group(1)
    (sdk / "go.mod").write_text(
        f"module {internal}\n\ngo 1.24\n\nrequire github.com/pulumi/pulumi/sdk/v3 {PINNED}\n")
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    for command in (["go", "mod", "tidy"], ["go", "build", "./..."], ["go", "vet", "./..."]):
        result = subprocess.run(command, cwd=sdk, env=env, check=False, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"


@pytest.mark.cli_slow
@SLOW
def test_the_generated_nodejs_sdk_compiles_with_tsc(sdks):
    if not (NODE / ".bin" / "tsc").is_file():
        pytest.skip(f"TypeScript is not installed in {NODE}: run .ci/pulumi-cli.sh (needs npm)")
    sdk = sdks["nodejs"]
    (sdk / "node_modules").symlink_to(NODE)
    result = subprocess.run([str(NODE / ".bin" / "tsc"), "--outDir", "bin"], cwd=sdk, check=False,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all((sdk / "bin" / f"{c[0].lower()}{c[1:]}.js").is_file() for c in COMPONENTS)
