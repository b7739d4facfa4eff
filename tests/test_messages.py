"""Messages a user acts on (issue 14, part 3): each names what is wrong and adds what to do.

A misspelt required key is named with its misspelling; a GPU suggestion says what the GPU gives;
no ConfigError's fix repeats its why; smoke hides the key as a word, not inside other words;
preflight --json keeps what to do apart from what it found; the error type is importable from the
package itself.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import re
import textwrap
from pathlib import Path

import pytest

from components.serving import DEFAULT_IMAGE, ConfigError, plan_serving, resolve_model
from stacks import plan as plan_command
from stacks import smoke

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILE = (ROOT / "Pulumi.yaml").read_text()


def plan_error(tmp_path: Path, capsys, config: str) -> str:
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_FILE)
    (tmp_path / "Pulumi.t.yaml").write_text("config:\n" + textwrap.indent(textwrap.dedent(config), "  "))
    args = argparse.Namespace(stack="t", json=False, detail=False, diagram=None)
    assert plan_command.command(args, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


# ---- a misspelt required key is named ----

def test_a_misspelt_host_is_named_with_the_key_it_stands_for(tmp_path, capsys):
    err = plan_error(tmp_path, capsys, """\
        azure-native:location: swedencentral
        apertus-azure:hots: containerapp
        """)
    assert "unknown key 'hots' (did you mean 'host'?)" in err, err
    assert "pulumi config rm hots --stack t && pulumi config set host containerapp --stack t" in err


def test_a_misspelt_location_is_named_with_its_namespace(tmp_path, capsys):
    err = plan_error(tmp_path, capsys, """\
        azure-native:locaton: swedencentral
        apertus-azure:host: vm
        """)
    assert "unknown key 'azure-native:locaton' (did you mean 'azure-native:location'?)" in err, err


def test_a_missing_key_with_nothing_close_still_says_how_to_set_it(tmp_path, capsys):
    err = plan_error(tmp_path, capsys, "azure-native:location: swedencentral\n")
    # the Pulumi CLI refuses a stack without a declared key that has no default: the plan says so
    assert err.startswith("error: Pulumi.t.yaml: apertus-azure:host is not set"), err
    assert err.rstrip().endswith("run: pulumi config set host <containerapp|vm|aks> --stack t"), err


def test_a_misspelt_secret_looking_key_does_not_show_its_value(tmp_path, capsys):
    # 'hostToken' is close to nothing required; 'hots' with a token-looking value is not shown
    err = plan_error(tmp_path, capsys, """\
        azure-native:location: swedencentral
        apertus-azure:hots: hf_abcdefghijklmnopqrstuvwxyz
        """)
    assert "did you mean 'host'?" in err and "hf_abcdefghij" not in err, err


# ---- a GPU suggestion says what it gives ----

def test_a_suggested_gpu_says_the_context_it_gives_and_with_fp8():
    with pytest.raises(ConfigError) as error:
        plan_serving(host="vm", model=resolve_model("apertus-70b-instruct"), gpu="Standard_NC24ads_A100_v4",
                     image=DEFAULT_IMAGE)
    assert ("with gpu 'Standard_NC48ads_A100_v4' (7,168-token context in bf16; 65,536 with quantization fp8)"
            in str(error.value)), error.value
    # the figures are the plan's own: that GPU planned in bf16 and with fp8
    model = resolve_model("apertus-70b-instruct")
    assert plan_serving(host="vm", model=model, gpu="Standard_NC48ads_A100_v4",
                        image=DEFAULT_IMAGE).max_model_len == 7168
    assert plan_serving(host="vm", model=model, gpu="Standard_NC48ads_A100_v4", quantization="fp8",
                        image=DEFAULT_IMAGE).max_model_len == 65536


def test_a_suggestion_that_gives_the_full_context_says_so():
    with pytest.raises(ConfigError) as error:
        plan_serving(host="containerapp", model=resolve_model("apertus-70b-instruct"), image=DEFAULT_IMAGE)
    assert "with gpu 'Standard_NC96ads_A100_v4' (65,536-token context in bf16)" in str(error.value)


# ---- no message repeats itself ----

STOP = set("a an the of to is are not it its or and in on with be must value values one for by as at "
           "from this that".split())
ACTIONS = set("use give set pass remove raise lower run change choose put add make write spell store "
              "leave".split())


def _text(node: ast.AST) -> str:
    """A message argument as text: literal parts as written, each interpolation as {its source}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(part) if isinstance(part, ast.Constant) else _text(part.value)
                       if isinstance(part.value, (ast.IfExp, ast.Constant)) else
                       " {" + ast.unparse(part.value).replace(" ", "") + "} " for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    if isinstance(node, ast.IfExp):
        return _text(node.body) + " | " + _text(node.orelse)
    return " {" + ast.unparse(node).replace(" ", "") + "} "


def _words(text: str) -> list[str]:
    return re.findall(r"\{[^}]*\}|[a-z0-9.]+[a-z0-9]|[a-z0-9]", text.lower())


def repeats(why: str, fix: str) -> str | None:
    """Why the fix says nothing the why did not: a three-word run of the why again ("at least 1"),
    or only words of the why besides the verb ("must be a plain value; pass a plain value")."""
    why_words, fix_words = _words(why), _words(fix)
    runs = {tuple(why_words[i:i + 3]) for i in range(len(why_words) - 2)}
    again = [run for run in (tuple(fix_words[i:i + 3]) for i in range(len(fix_words) - 2)) if run in runs]
    if again:
        return f"repeats {' '.join(again[0])!r}"
    content = {w for w in fix_words if w not in STOP | ACTIONS}
    if content and content <= set(why_words):
        return f"adds nothing to the why: {sorted(content)}"
    return None


@functools.cache  # parsed once for the two scans below
def config_error_calls() -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted([*ROOT.joinpath("components").rglob("*.py"), *ROOT.joinpath("stacks").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
                    == "ConfigError" and len(node.args) == 4):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


def config_errors() -> list[tuple[str, str, str]]:
    """(where, why, fix) of every ConfigError, and (where, why or args_why, args_fix) where a program's
    words are given too."""
    found = []
    for where, node in config_error_calls():
        found.append((where, _text(node.args[2]), _text(node.args[3])))
        given = {keyword.arg: keyword.value for keyword in node.keywords}
        if "args_fix" in given:
            found.append((where, _text(given.get("args_why", node.args[2])), _text(given["args_fix"])))
    return found


def test_the_repeat_finder_finds_the_repeats_it_is_for():
    assert repeats("must be at least 1", "give a value at least 1")
    assert repeats("must be {bounds}", "give a value {bounds}")
    assert repeats("is an Output, so it must be a plain value", "pass a plain value")
    assert repeats("is not a VM size", "use a VM size such as X")
    assert not repeats("must be at least 1", "use 1, the nearest allowed value")
    assert not repeats("is above maxReplicas ({high})", "set minReplicas <= {high} or raise maxReplicas")


def test_no_config_error_repeats_its_why_in_its_fix():
    errors = config_errors()
    assert len(errors) > 100  # the scan sees the messages (components/ and stacks/)
    repeated = [f"{where}: {why!r} / {fix!r}: {problem}" for where, why, fix in errors
                if (problem := repeats(why, fix))]
    assert not repeated, "\n".join(repeated)


def test_a_number_out_of_bounds_names_the_nearest_allowed_value():
    from components.serving import checks

    for call, expected in [(lambda: checks.whole_number("queueDepthTarget", 0, minimum=1),
                            "apertus-azure:queueDepthTarget = 0: must be at least 1; use 1, the nearest "
                            "allowed value"),
                           (lambda: checks.number("gpuMemoryUtilization", 0.99, 0.5, 0.98),
                            "apertus-azure:gpuMemoryUtilization = 0.99: must be between 0.5 and 0.98; use "
                            "0.98, the nearest allowed value")]:
        with pytest.raises(ConfigError) as error:
            call()
        assert str(error.value) == expected


# ---- smoke hides the key, as a word ----

def test_smoke_redacts_whole_occurrences_of_the_key_only():
    assert smoke.redact("testing the test key", "test") == "testing the *** key"
    assert smoke.redact("key=test; 'test'. attest test_x", "test") == "key=***; '***'. attest test_x"
    # a base64 key with = and / at its edges: hidden wherever it stands
    key = "+/Yz09=="
    assert smoke.redact(f"x{key}x {key}", key) == "x***x ***"
    assert smoke.redact("Authorization: Bearer anything", None) == "Authorization: Bearer ***"
    # a key long enough to be random is hidden even glued to other text (an upstream echoing it)
    long_key = "k" * 8 + "0123456789"
    assert smoke.redact(f"yyy{long_key}yyy", long_key) == "yyy***yyy"


# ---- the error type from the package itself ----

def test_config_error_is_importable_from_the_package():
    import components

    assert components.ConfigError is ConfigError and "ConfigError" in components.__all__
    assert components.__all__ == sorted(components._EXPORTS)
    for name in components.__all__:  # every exported name resolves
        assert getattr(components, name) is not None
    assert issubclass(ConfigError, __import__("pulumi").RunError)


def test_a_location_without_its_namespace_is_named(tmp_path, capsys):
    err = plan_error(tmp_path, capsys, """\
        location: westeurope
        apertus-azure:host: vm
        """)
    assert "'location' without a namespace" in err and "pulumi config set azure-native:location" in err, err


def test_a_plain_setting_stored_encrypted_is_named_not_planned_as_a_placeholder(tmp_path, capsys):
    err = plan_error(tmp_path, capsys, """\
        azure-native:location: swedencentral
        apertus-azure:host:
          secure: v1:abcdef
        """)
    assert "apertus-azure:host is stored encrypted, but it is not a secret setting" in err, err
    assert "placeholder" not in err


# ---- a provider credential in plain text in the stack file: one warning each, never the value ----

PROVIDER_SECRET = "s3cr3t~ProviderValue-0123456789"


def test_a_plain_provider_credential_is_one_warning_with_its_fix(tmp_path, capsys):
    keys = ["azure-native:clientSecret", "azure-native:clientCertificatePassword", "azure:clientSecret"]
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_FILE)
    (tmp_path / "Pulumi.t.yaml").write_text(
        "config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n"
        "  azure-native:clientId: 00000000-0000-0000-0000-00000000c1d0\n"
        + "".join(f"  {key}: {PROVIDER_SECRET}-{n}\n" for n, key in enumerate(keys))
        + "  azure-native:oidcToken:\n    secure: v1:abcdef\n")  # stored as a secret: nothing to say
    args = argparse.Namespace(stack="t", json=True, detail=False, diagram=None)
    assert plan_command.command(args, tmp_path) == 0
    raw, err = capsys.readouterr()
    assert PROVIDER_SECRET not in raw + err
    data = json.loads(raw)  # planned once; the short and the detailed text print the same warnings
    for out in (plan_command.render_short("t", data), plan_command.render_detail("t", data)):
        said = [line for line in out.splitlines() if "plain text" in line]
        assert said == [f"  WARNING       {key} is stored in plain text in Pulumi.t.yaml (anyone with the file "
                        f"or its git history has it): pulumi config set --secret {key} <value> --stack t, "
                        "then rotate it" for key in keys], out
        assert PROVIDER_SECRET not in out and "oidcToken" not in out


def test_a_setting_nothing_reads_is_named_in_the_plan(tmp_path):
    """A misspelt namespace (apertus-azur:), the classic provider's (azure:) and a misspelt top-level
    `confg:` are kept by the Pulumi CLI and read by no one: the plan names each, never a token."""
    from stacks.common import plan_stack

    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.t.yaml").write_text(
        "config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n"
        "  apertus-azur:maxReplicas: 3\n  azure:location: westeurope\n"
        "  hf_abcdefghijklmnopqrstuvwxyz0123:x: 1\nconfg:\n  x: 1\n")
    warnings = plan_stack("t", tmp_path)["plan"]["warnings"]
    assert ("Pulumi.t.yaml: 'apertus-azur:maxReplicas' is not read by this program (namespace "
            "'apertus-azur'); did you mean apertus-azure:maxReplicas?") in warnings
    assert any("'azure:location'" in w and "did you mean azure-native:location?" in w for w in warnings)
    assert any("top-level key 'confg'" in w and "did you mean 'config:'?" in w for w in warnings)
    assert not any("hf_abcdefgh" in w for w in warnings)
    for stack in ("dev", "aks", "vm-70b"):  # the shipped stacks read everything they set
        assert not any("not read" in w or "top-level" in w for w in plan_stack(stack)["plan"]["warnings"])


@pytest.mark.parametrize("tags,value,fix", [
    ({"cost": 12}, "cost: 12", 'quote it: cost: "12"'),
    ({"owner": None}, "owner: ", 'quote it: owner: ""'),
    ({"team": [1]}, "team", "give each tag one string value"),
])
def test_a_tag_yaml_reads_as_no_string_is_named_with_its_fix(tags, value, fix):
    from components.serving.checks import string_map

    with pytest.raises(ConfigError) as caught:
        string_map("tags", tags)
    assert caught.value.key == "tags" and f"= '{value}'" in str(caught.value) and fix in str(caught.value)
    assert "{" not in str(caught.value)  # no Python notation


def test_a_range_broader_than_a_slash_8_is_called_too_broad_even_over_private_space():
    from components.aks import AksGpuClusterArgs

    with pytest.raises(ConfigError) as caught:
        AksGpuClusterArgs(location="swedencentral", hf_token="t", api_allowed_cidrs=["0.0.0.0/1", "128.0.0.0/1"])
    assert "too broad" in str(caught.value) and "not a public range" not in str(caught.value)


# ---- a misspelt model or GPU gets the nearest valid choice, and the list ----

@pytest.mark.parametrize("value, nearest", [
    ("swiss-ai/Apertus-8B-Instruct", "swiss-ai/Apertus-8B-Instruct-2509"),
    ("apertus-70b-instuct", "apertus-70b-instruct"),
])
def test_a_misspelt_model_gets_the_nearest_catalog_name_and_the_list(value, nearest):
    with pytest.raises(ConfigError) as caught:
        resolve_model(value)
    message = str(caught.value)
    assert message.startswith(f"apertus-azure:model = '{value}': is not a catalog model; did you mean "
                              f"'{nearest}'? use one of apertus-8b-instruct, apertus-8b, "), message
    assert "swiss-ai/Apertus-70B-2509" in message  # the list names the Hugging Face ids too
    with pytest.raises(ConfigError) as caught:  # another model's id: nothing near, the list and the object
        resolve_model("Qwen/Qwen2.5-7B-Instruct")
    assert "did you mean" not in str(caught.value) and "{id, paramsBillion" in str(caught.value)


@pytest.mark.parametrize("host, gpu, nearest", [
    ("vm", "A10O", "'Standard_NC24ads_A100_v4' (1 x A100 80 GB)"),
    ("vm", "Standard_NC24ads_A100_v5", "'Standard_NC24ads_A100_v4' (1 x A100 80 GB)"),
    ("aks", "h100", "'Standard_NC40ads_H100_v5' (1 x H100 NVL 94 GB)"),
    ("containerapp", "A10O", "'Consumption-GPU-NC24-A100' (1 x A100 80 GB)"),
])
def test_a_misspelt_gpu_gets_the_nearest_size_of_the_host_and_the_list(host, gpu, nearest):
    from components.serving.gpus import check_gpu_name, gpus_for_host

    with pytest.raises(ConfigError) as caught:
        check_gpu_name(gpu, host)
    kind = "workload profile" if host == "containerapp" else "VM size"
    every = ", ".join(sku.name for sku in gpus_for_host(host))
    assert str(caught.value) == (f"apertus-azure:gpu = '{gpu}': is not a GPU {kind} in the catalog; did you "
                                 f"mean {nearest}? for host '{host}' use one of {every}")


def test_the_args_check_the_gpu_name_before_planning():
    from components.vm import GpuVirtualMachineArgs

    with pytest.raises(ConfigError, match="did you mean 'Standard_NC24ads_A100_v4'"):
        GpuVirtualMachineArgs(location="swedencentral", hf_token="t", gpu="A10O")
    # a catalog name of another host is left to the planner, which names the host
    with pytest.raises(ConfigError, match="is a Container Apps workload profile, not valid for GpuVirtualMachine"):
        GpuVirtualMachineArgs(location="swedencentral", hf_token="t", gpu="NC24-A100")


def test_the_planner_called_directly_names_the_nearest_gpu_too():
    from components.serving import DEFAULT_IMAGE, plan_serving
    from components.serving.models import resolve_model

    with pytest.raises(ConfigError, match="did you mean 'Standard_NC24ads_A100_v4'"):
        plan_serving(host="vm", model=resolve_model("apertus-8b-instruct"), gpu="A10O", image=DEFAULT_IMAGE)


# ---- an error from a program's args speaks of the argument, a stack's of the config key ----

def test_an_args_error_names_the_argument_and_a_stack_error_the_config_key():
    from components.vm import GpuVirtualMachineArgs
    from conftest import config_error, stack_config

    with pytest.raises(ConfigError) as caught:
        GpuVirtualMachineArgs(location="swedencentral", hf_token="t", max_model_len="4k")
    assert str(caught.value) == ("GpuVirtualMachineArgs: max_model_len = '4k': is not a whole number; pass an "
                                 "int, e.g. 4")
    with pytest.raises(ConfigError) as caught:  # a custom model's field, and another setting named by field
        GpuVirtualMachineArgs(location="swedencentral", model={"id": "org/m", "paramsBillion": "7", "layers": 2,
                              "attentionHeads": 2, "kvHeads": 2, "headDim": 64, "maxContext": 4096})
    assert str(caught.value) == ("GpuVirtualMachineArgs: model['paramsBillion'] = '7': must be a number; pass a "
                                 "float, like 8.05")
    # the same mistake in a stack file: the config key and YAML's words, as before
    error, registered = config_error(stack_config("vm", maxModelLen="4k"))
    assert str(error) == ("apertus-azure:maxModelLen = '4k': is not a whole number; write digits only, without "
                          "quotes, e.g. 4") and registered == []


# Files whose errors speak of the stack file without a program's words yet (owned by others; docs/library.md)
ARGS_FIX_PENDING: set[str] = set()
STACK_WORDS = re.compile(r"YAML|quotes|quote it|pulumi config|stack file|'- item'|the key\b")


def test_every_error_a_program_can_meet_has_its_fix_in_a_programs_words():
    """A fix that speaks of the stack file (YAML quoting, pulumi config set) has an args_fix: the args
    show that one to a Python program. stacks/ only ever reads a stack."""
    missing = []
    for where, node in config_error_calls():
        path = where.rsplit(":", 1)[0]
        if path.startswith("stacks/") or path in ARGS_FIX_PENDING:
            continue
        given = {keyword.arg for keyword in node.keywords}
        if STACK_WORDS.search(_text(node.args[3])) and "args_fix" not in given:
            missing.append(f"{where}: {_text(node.args[3])!r}")
        if STACK_WORDS.search(_text(node.args[2])) and "args_why" not in given:
            missing.append(f"{where}: {_text(node.args[2])!r}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("text, stray", [
    ("confg:\n  apertus-azure:host: vm\n", "confg"),
    ("apertus-azure:host: vm\nazure-native:location: swedencentral\n", "apertus-azure:host"),
])
def test_settings_outside_config_are_named_when_a_required_key_is_missing(tmp_path, text, stray):
    """A misspelt `config:` (or none) leaves host unset: the message names the key nothing reads, not
    only `pulumi config set host`, which would add a second, empty config section."""
    message = stack_file_error(tmp_path, text)
    assert f"top-level key '{stray}'" in message and "under 'config:'" in message and "\n" not in message


def test_a_stack_file_name_given_for_the_stack_names_the_stack():
    from conftest import ROOT
    from stacks.stackfile import StackFileError, load_stack_file
    with pytest.raises(StackFileError, match=r"is a stack file's name; give the stack's own name, e\.g\. --stack vm-70b"):
        load_stack_file("Pulumi.vm-70b.yaml", ROOT)
    # a path is no stack name (new user: '../etc/passwd' was answered "no stack file passwd.yaml")
    with pytest.raises(StackFileError, match=r"'\.\./etc/passwd' is not a stack name \(a name has no '/'\)"):
        load_stack_file("../etc/passwd", ROOT)


@pytest.mark.parametrize("overrides, key, words", [
    ({"host": "VM"}, "host", ["did you mean 'vm'?"]),
    ({"host": "containerap"}, "host", ["did you mean 'containerapp'?"]),
    ({"host": "containerapp", "vnetAddressSpace": "10.0.0.0/33"}, "vnetAddressSpace", ["/33", "32 bits"]),
    ({"host": "containerapp", "vnetAddressSpace": "10.0.0.1/16"}, "vnetAddressSpace", ["did you mean 10.0.0.0/16?"]),
])
def test_a_near_miss_names_what_was_meant(overrides, key, words):
    from conftest import assert_config_error, stack_config
    assert_config_error(stack_config(overrides.pop("host"), **overrides), key, words)


def test_a_boolean_is_echoed_in_the_words_it_was_given_in():
    from components.serving.errors import ConfigError, speaking_of
    assert "apertus-azure:spot = true:" in str(ConfigError("spot", True, "is refused here", "remove it"))
    with speaking_of("GpuVirtualMachineArgs"):
        assert "GpuVirtualMachineArgs: spot = True:" in str(ConfigError("spot", True, "is refused here", "remove it"))


def test_digits_in_quotes_from_a_program_are_named_a_string_with_their_own_example():
    from components.vm import GpuVirtualMachineArgs
    with pytest.raises(ConfigError, match=r"max_model_len = '4096': is a string, not a whole number; pass an int, "
                                          r"e\.g\. 4096"):
        GpuVirtualMachineArgs(location="swedencentral", hf_token="t", max_model_len="4096")


@pytest.mark.parametrize("key_shaped", ["Zk9Qw2Lm8Rt5Yx3Vb7Nc1Hd4Jf6Gs0PaUe", "zQALe+10/Yf2Ie5zt45K+UiKlWm1Ik188x6l"])
def test_a_key_shaped_value_under_a_misspelt_key_is_not_echoed(tmp_path, key_shaped):
    """A random key pasted under the wrong key: the rename hint stands in <value> for it."""
    message = stack_file_error(tmp_path, f"config:\n  azure-native:location: swedencentral\n"
                                         f"  apertus-azure:hots: '{key_shaped}'\n")
    assert key_shaped not in message and "pulumi config set host <value>" in message


def test_a_token_in_a_yaml_tag_is_not_echoed(tmp_path):
    from conftest import HF_TOKEN
    message = stack_file_error(tmp_path, f"config:\n  apertus-azure:host: vm\n  apertus-azure:hfToken: "
                                         f"!!python/name:{HF_TOKEN}\n")
    assert HF_TOKEN not in message and "redacted" in message


def stack_file_error(tmp_path, text: str) -> str:
    """The one-line error of stack 's' whose file holds ``text``, beside this project's Pulumi.yaml."""
    from conftest import ROOT
    from stacks.stackfile import StackFileError, load_stack_file
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.s.yaml").write_text(text)
    with pytest.raises(StackFileError) as caught:
        load_stack_file("s", tmp_path)
    return str(caught.value)
