"""`python -m stacks plan`: the offline plan a user runs before `pulumi up`."""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks import plan as plan_command
from stacks.program import COMMON_KEYS, host_module

ROOT = Path(__file__).resolve().parents[1]
HOSTS = ("containerapp", "vm", "aks")


_plans: dict[str, dict] = {}


@pytest.fixture(autouse=True)
def planned_once(monkeypatch):
    """The shipped stacks are planned once per module (about a second each); the tests that change
    a stack file plan in their own directory, uncached."""
    real = plan_command.plan_stack

    def plan_stack(stack: str, root: Path = ROOT) -> dict:
        if root != ROOT:
            return real(stack, root)
        if stack not in _plans:
            _plans[stack] = real(stack, root)
        return copy.deepcopy(_plans[stack])

    monkeypatch.setattr(plan_command, "plan_stack", plan_stack)


def plan_exit_code(stack: str, root: Path = ROOT, **flags) -> int:
    """`python -m stacks plan --stack <stack>` in the directory ``root``, in this process."""
    args = argparse.Namespace(**{"stack": stack, "json": False, "detail": False, "diagram": None, **flags})
    return plan_command.command(args, root)


# azure-native has ~260 modules that take minutes to import together; the plan stays fast (a few
# seconds, docs/quickstart.md) as long as it imports only the ones the components use. Counted instead of
# timed, so a slow machine cannot fail it. The probe is README's `python -m stacks plan` (runpy runs
# the package's __main__ as -m does), with what it loaded reported on stderr after the plan.
PLAN_PROBE = """
import asyncio, gc, json, runpy, sys, types
sys.argv = ["stacks", "plan"]
try:
    runpy.run_module("stacks", run_name="__main__")
except SystemExit as exit:
    code = exit.code
loaded = sorted(name.split(".")[1] for name, module in sys.modules.items()
                if name.startswith("pulumi_azure_native.") and name.count(".") == 1
                and type(module) is types.ModuleType)
open_loops = sum(1 for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and not o.is_closed())
print(json.dumps({"exitCode": code, "loaded": loaded, "openLoops": open_loops}), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def plan_process(tmp_path_factory) -> tuple[str, list[str], dict]:
    """README's plan command in a process of its own: its stdout, its other stderr lines, the probe.
    As on a fresh machine: an empty PULUMI_HOME, should a CLI be on PATH (the plan asks it nothing)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env["PULUMI_HOME"] = str(tmp_path_factory.mktemp("pulumi-home"))
    result = subprocess.run([sys.executable, "-c", PLAN_PROBE], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)  # a hang guard only
    *noise, last = result.stderr.strip().splitlines()
    return result.stdout, noise, json.loads(last)


def test_dev_plan_prints_what_a_user_decides_on_in_a_screenful(plan_process):
    out, noise, probe = plan_process
    assert probe["exitCode"] == 0 and noise == [], noise
    # no --stack: which stack, and why, on the first line
    assert out.splitlines()[0] == ("apertus-azure plan: stack 'dev' (default without --stack; "
                                   "offline: nothing was created)")
    for expected in ["  model         swiss-ai/Apertus-8B-Instruct-2509",
                     "  host          containerapp in swedencentral, 0..1 replicas",
                     "  GPU           Consumption-GPU-NC24-A100 (1 x A100 80 GB)", "why: cheapest",
                     "  TP            tensor-parallel size 1", "  context       65,536 tokens",
                     "441,280 tokens = 6 concurrent", "running: $4.775/h per replica",
                     "idle: $48.45/month: scaled to zero", "per month: $888.85 at 8 h/day on 22 workdays",
                     "$3,534.20 24/7", "  exposure      public, HTTPS from any source, SSH off",
                     "  cold start    first ~11 min, warm ~7 min", "WARNING       hfToken is not set"]:
        assert expected in out, f"{expected!r} missing from the plan:\n{out}"
    # the breakdown is behind --detail
    assert "vllm serve" not in out and "azure-native:app:ContainerApp" not in out
    assert "--detail" in out.splitlines()[-1]


def test_detail_prints_the_whole_breakdown(capsys):
    assert plan_exit_code("dev", detail=True) == 0
    out = capsys.readouterr().out
    for expected in ["host          containerapp", "region        swedencentral",
                     "swiss-ai/Apertus-8B-Instruct-2509", "Consumption-GPU-NC24-A100", "why: cheapest",
                     "tensor-parallel size 1", "65,536 tokens", "441,280 tokens", "$4.775/h",
                     "/month (730 h)", "quota", "vllm serve --model swiss-ai/Apertus-8B-Instruct-2509",
                     "--tool-call-parser apertus", "apertus:index:ContainerAppGpu",
                     "azure-native:app:ContainerApp", "hfToken is not set", "always billed:",
                     "idle: $48.45/month"]:
        assert expected in out, f"{expected!r} missing from the plan:\n{out}"
    assert "  exposure      public, HTTPS from any source, SSH off" in out.splitlines()


@pytest.mark.parametrize("stack", ["dev", "vm-70b", "aks"])
def test_the_short_plan_of_every_shipped_stack_fits_a_screen(stack, capsys):
    assert plan_exit_code(stack) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) <= 30, "\n".join(lines)
    assert all(len(line) <= 250 for line in lines), max(lines, key=len)


def test_the_aks_plan_says_why_it_bills_a_gpu_when_idle(capsys):
    """AKS cannot scale to zero: the idle cost is a whole GPU node's month, and the plan says why."""
    assert plan_exit_code("aks") == 0
    out = capsys.readouterr().out
    idle = next(line for line in out.splitlines() if "idle:" in line)
    assert "minReplicas 1 keeps 1 GPU node running" in idle and "cannot start from zero" in idle
    data = plan_command.plan_stack("aks")["plan"]
    costs = data["costs"]
    # idle = everything that always bills + one GPU node's 730 h = the 24/7 figure here
    assert f"${costs['fixedUsdPerMonth'] + costs['gpuUsdPerHour'] * 730:,.2f}/month" in idle
    assert f"${costs['monthly24x7Usd']:,.2f}/month" in idle


def test_a_vm_plan_says_what_bills_while_deallocated(capsys):
    assert plan_exit_code("vm-70b") == 0
    out = capsys.readouterr().out
    assert "idle: $61.37/month: VM deallocated" in out
    assert "cheaper fits  Standard_NC48ads_A100_v4: $9.550/h, context 65,536, quantization fp8" in out


def test_detail_and_json_exclude_each_other(capsys):
    parser = argparse.ArgumentParser(prog="python -m stacks")
    plan_command.add_parser(parser.add_subparsers(dest="command"))  # as stacks/__main__.py does
    assert parser.parse_args(["plan", "--diagram", "d.md"]).diagram == "d.md"
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["plan", "--detail", "--json"])
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [{"diagram": "d.md"}, {"detail": True}])
def test_compare_refuses_the_plans_own_forms_in_one_line(flags, tmp_path, capsys):
    """--compare prints one table: --diagram or --detail with it would be silently dropped."""
    flags = {key: str(tmp_path / value) if key == "diagram" else value for key, value in flags.items()}
    assert plan_exit_code("dev", compare=True, **flags) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--compare" in err and next(iter(flags)) in err
    assert not (tmp_path / "d.md").exists()


def test_the_plan_process_imports_only_what_it_uses_and_exits_clean(plan_process):
    _, noise, probe = plan_process
    used = {"_utilities", "provider"}  # the package's own plumbing
    for source in (ROOT / "components").glob("*.py"):
        for line in source.read_text().splitlines():
            if line.startswith("from pulumi_azure_native import "):
                used |= {name.strip() for name in line.split(" import ", 1)[1].split(",")}
    assert set(probe["loaded"]) <= used, sorted(set(probe["loaded"]) - used)
    # the event loops of the mock monitor's threads are closed: left open, they print "Exception
    # ignored ... Invalid file descriptor" at interpreter exit
    assert probe["openLoops"] == 0 and noise == [], noise


def test_json_plan_has_the_same_figures(capsys):
    assert plan_exit_code("dev", json=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["plan"]["gpu"] == "Consumption-GPU-NC24-A100"
    assert data["plan"]["kvCacheTokens"] == 441_280
    assert data["outputs"]["apiKey"] == "[secret]"
    assert data["outputs"]["endpoint"].startswith("https://") and data["outputs"]["endpoint"].endswith("/v1")
    [stack] = data["resources"]
    assert stack["type"] == "pulumi:pulumi:Stack"
    assert any(child["type"] == "apertus:index:ContainerAppGpu" for child in stack["children"])


def test_detail_lists_only_the_thresholds_the_host_alerts_on(capsys):
    """Container Apps exports no vLLM or GPU metric: only its 5xx threshold is listed, and what it
    cannot watch is named once; an aks stack lists every threshold, each once."""
    assert plan_exit_code("dev", detail=True) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "                thresholds: 5xx 5%" in lines
    assert not [line for line in lines if "TTFT p95" in line or "queueAlertThreshold" in line
                or "ttftSloSeconds" in line or "GPU memory 9" in line]
    missing = [line for line in lines if "kv_cache_usage_perc" in line]
    assert missing == ["                not alerted on (Container Apps does not export them): vllm:num_requests_waiting"
                       " / running, vllm:kv_cache_usage_perc, time to first token and inter-token latency, "
                       "generation tokens, GPU utilization and memory"]
    assert "  alerts        2 alerts (3 Azure rules), to no one" in lines  # as the short plan counts them
    monitoring = plan_command.plan_stack("dev")["plan"]["monitoring"]
    assert monitoring["thresholds"] == {"serverErrorAlertPercent": 5.0} and monitoring["thresholdNotes"] == []
    assert plan_exit_code("aks", detail=True) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "                thresholds: TTFT p95 2 s, queue 20, KV cache 95%, GPU memory 95%, 5xx 5%" in lines
    assert not [line for line in lines if "not alerted on" in line]


def test_a_base_model_is_named_as_one_under_the_model_line(tmp_path, capsys):
    """model: apertus-8b serves the base model: the plan says it is not for chat, and what is."""
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.base.yaml").write_text(yaml.safe_dump({"config": {
        "azure-native:location": "swedencentral", "apertus-azure:host": "vm", "apertus-azure:model": "apertus-8b"}}))
    note = ("                base model, not instruction-tuned: chat answers will be poor; for chat use model "
            "apertus-8b-instruct")
    data = plan_command.plan_stack("base", tmp_path)  # planned once, printed in both forms
    assert data["plan"]["modelNote"] == note.strip()
    for render in (plan_command.render_short, plan_command.render_detail):
        lines = render("base", data).splitlines()
        model = next(n for n, line in enumerate(lines) if line.startswith("  model         swiss-ai/Apertus-8B-2509 "))
        assert lines[model + 1] == note and lines.count(note) == 1
    assert plan_command.plan_stack("dev")["plan"]["modelNote"] is None


# the example stacks the repository ships (a user's own stack files beside them are theirs to check)
SHIPPED_STACKS = ("Pulumi.aks.yaml", "Pulumi.dev.yaml", "Pulumi.vm-70b.yaml")


@pytest.mark.parametrize("stack_file", SHIPPED_STACKS)
def test_every_stack_file_in_the_repo_plans(stack_file):
    stack = stack_file[len("Pulumi."):-len(".yaml")]
    data = plan_command.plan_stack(stack)
    assert data["plan"]["host"] in HOSTS and data["resources"]


def test_bad_stack_config_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": {
        "azure-native:location": "swedencentral", "apertus-azure:host": "containerapp",
        "apertus-azure:model": "apertus-70b-instruct"}}))
    assert plan_exit_code("bad", tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: apertus-azure:model")
    assert "Standard_NC96ads_A100_v4" in err


def test_unknown_stack_exits_2(capsys):
    assert plan_exit_code("no-such-stack") == 2
    err = capsys.readouterr().err
    assert "stacks here:" in err and "dev" in err


def test_pulumi_yaml_declares_exactly_the_keys_the_program_reads():
    """Declared under config:, or (optional keys without a project default, which the Pulumi CLI
    would make required: docs/pulumi-cli.md) listed in Pulumi.yaml's comment block."""
    text = (ROOT / "Pulumi.yaml").read_text()
    declared = {key.split(":", 1)[1] for key in yaml.safe_load(text)["config"]}
    listed = set(re.findall(r"^#   apertus-azure:(\w+) \(", text, re.MULTILINE))
    read = set(COMMON_KEYS)
    for host in HOSTS:
        read |= set(host_module(host).KEYS)
    assert declared | listed == read and not declared & listed


def test_docs_document_every_key_and_readme_both_commands():
    readme = (ROOT / "README.md").read_text()
    reference = (ROOT / "docs" / "configuration.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for host in HOSTS:
        for key in host_module(host).KEYS:
            assert f"`{key}`" in reference, f"docs/configuration.md does not document {key}"
    for key in COMMON_KEYS:
        assert f"`{key}`" in reference, key
    assert "python -m stacks plan" in readme and "python -m pytest" in readme
    assert "python -m pytest" in ci


# ---- which stack: --stack, else the selected Pulumi stack, else dev; the same for every command ----

def plan_without_stack(**flags) -> int:
    args = argparse.Namespace(**{"stack": None, "json": False, "detail": False, "diagram": None, **flags})
    return plan_command.command(args, ROOT)


def test_without_stack_the_plan_is_of_dev_and_asks_no_one(tmp_path, monkeypatch, capsys):
    """The plan stays offline: a `pulumi` on PATH with another stack selected is never asked."""
    asked = tmp_path / "asked"
    fake = tmp_path / "pulumi"
    fake.write_text(f'#!/bin/sh\ntouch {asked}\necho aks\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert plan_without_stack() == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "apertus-azure plan: stack 'dev' (default without --stack; offline: nothing was created)")
    assert plan_without_stack(json=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["stack"], data["stackSource"]) == ("dev", "default without --stack")
    assert plan_without_stack(compare=True) == 0
    assert capsys.readouterr().out.startswith("apertus-azure plan --compare: stack 'dev' (default without --stack), ")
    assert plan_exit_code("dev", json=True) == 0
    assert json.loads(capsys.readouterr().out)["stackSource"] == "--stack"
    assert not asked.exists()


def test_the_online_commands_use_the_selected_stack_without_stack(tmp_path, monkeypatch, capsys):
    """preflight, smoke and bench use the selected stack (the plan, offline, dev): a `pulumi` on PATH that
    has 'aks' selected and fails everything else; smoke and bench then stop at `pulumi stack output --stack aks`."""
    from stacks import __main__ as cli

    fake = tmp_path / "pulumi"
    fake.write_text('#!/bin/sh\n[ "$1 $2" = "stack --show-name" ] && echo aks && exit 0\n'
                    'echo "error: stack output of $*" >&2; exit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert cli.main(["plan"]) == 0  # offline: dev, above
    assert capsys.readouterr().out.startswith("apertus-azure plan: stack 'dev' (default without --stack;")
    for command in ("smoke", "bench"):
        assert cli.main([command]) == 2
        assert "pulumi stack output --stack aks failed" in capsys.readouterr().err, command
    # preflight: tests/test_preflight.py test_stack_defaults_to_the_selected_pulumi_stack
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    for module in cli.COMMANDS.values():
        module.add_parser(commands)
    for name in cli.COMMANDS:
        stack = next(a for a in commands.choices[name]._actions if a.dest == "stack")
        expected = "default: dev; the plan stays offline" if name == "plan" else "the selected Pulumi stack, else dev"
        assert stack.default is None and expected in " ".join(stack.help.split()), name


def test_a_json_plan_error_is_a_json_document(capsys):
    assert plan_exit_code("no-such-stack", json=True) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["error"].startswith("no stack file Pulumi.no-such-stack.yaml")
    assert err.startswith("error: no stack file") and err.count("\n") == 1


def test_a_spot_plan_prices_running_at_the_spot_price(tmp_path, capsys):
    """The running figure is what the monthly figures count: the spot price with spot."""
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.s.yaml").write_text(yaml.safe_dump({"config": {
        "azure-native:location": "swedencentral", "apertus-azure:host": "vm",
        "apertus-azure:model": "apertus-70b-instruct", "apertus-azure:gpu": "Standard_NC48ads_A100_v4",
        "apertus-azure:spot": True}}))
    assert plan_exit_code("s", tmp_path) == 0
    out = capsys.readouterr().out
    costs = plan_command.plan_stack("s", tmp_path)["plan"]["costs"]
    assert f"running: ${costs['gpuUsdPerHour']:,.3f}/h per VM (spot)" in out
    assert costs["gpuUsdPerHour"] < 9.55  # below the on-demand $9.550/h
    assert "8,064 tokens = 1 concurrent full-context sequence\n" in out


def test_an_allow_list_of_documentation_ranges_is_a_warning_in_the_plan():
    """The shipped aks stack's apiAllowedCidrs is 203.0.113.0/24 (RFC 5737): nobody sends from it, so
    the plan says so before pulumi up builds a cluster its deployer cannot reach."""
    warnings = plan_command.plan_stack("aks")["plan"]["warnings"]
    [warning] = [w for w in warnings if "documentation range" in w]
    assert warning.startswith("apiAllowedCidrs 203.0.113.0/24: a documentation range") and "\n" not in warning
    assert not any("documentation range" in w for w in plan_command.plan_stack("dev")["plan"]["warnings"])


# ---- --diagram FILE.md: a folder it creates is named; a path that cannot be a file is refused ----

def test_diagram_names_the_folders_it_creates_and_refuses_a_folder_or_a_file_as_parent(tmp_path, capsys):
    target = tmp_path / "docs" / "diagramz" / "dev.md"
    assert plan_exit_code("dev", diagram=str(target), json=True) == 0  # the cached plan: no new run
    out, err = capsys.readouterr()
    assert json.loads(out)["stack"] == "dev"  # stdout stays one JSON document
    assert err == (f"note: --diagram created the folders {tmp_path / 'docs'}, {tmp_path / 'docs' / 'diagramz'}, "
                   f"which did not exist\nnote: wrote the diagram of stack 'dev' to {target}\n")
    assert target.read_text().startswith("# ")
    assert plan_exit_code("dev", diagram=str(target)) == 0  # the folder is there now: only where it went
    assert capsys.readouterr().err == f"note: wrote the diagram of stack 'dev' to {target}\n"
    # refused before the plan runs, one line, exit 2
    for path, words in ((tmp_path / "docs", "is a folder; give a file in it"),
                        (target / "x.md", f"{target} is a file, not a folder")):
        assert plan_exit_code("dev", diagram=str(path)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"error: --diagram {path}") and words in err, err
