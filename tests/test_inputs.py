"""Bad input that used to get through (issue 8 items 2, 5, 6, 10): each is a one-line error before
any resource, in the stack and in the library args alike."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pulumi
import pytest
from huggingface_hub.utils import HFValidationError, validate_repo_id

from components.aks import ZONAL_REGIONS
from components.base import check_api_key
from components.serving import DEFAULT_IMAGE, GPUS, ConfigError, plan_serving, resolve_model
from components.serving.references import check_hf_repo_id, check_image_reference
from components.serving.regions import REGIONS, normalize_region
from components.containerapp import ContainerAppGpu, ContainerAppGpuArgs
from components.vm import GpuVirtualMachine, GpuVirtualMachineArgs, check_ssh_sources
from conftest import API_KEY, HF_TOKEN, PROJECT, assert_config_error, run_stack, stack_config, unwrap
from stacks import plan as plan_command
from stacks.common import plan_stack
from stacks.stackfile import load_stack_file
from stacks.config import is_secret_key
from stacks.offline import run_program
from stacks.program import run

ROOT = Path(__file__).resolve().parents[1]
ED25519_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO2sBXL5pNBrfm8aXZhx0wZQ0HUgZ2hZHeS9kQ2eMcO/ "
               "you@laptop")
MODEL = resolve_model("apertus-8b-instruct")


# ---- item 2: the API key ----

WEAK_KEYS = {
    "": "empty",
    "x" * 31: "shorter than 32",
    "a" * 20 + " " + "b" * 20: "whitespace",
    "a" * 40 + "\t": "whitespace",
    "a" * 40 + "\"": "characters outside",
    "ключ" * 10: "characters outside",
    "A1" * 16: "fewer than 10 different characters",
    "=" * 40: "letters and digits",
    "0123456789" * 4: "letters and digits",
    "".join(chr(ord("a") + i % 26) for i in range(40)): "letters and digits",  # letters only
}


@pytest.mark.parametrize("weak,rule", WEAK_KEYS.items())
def test_a_weak_api_key_is_refused_without_showing_it(weak, rule):
    error = assert_config_error(stack_config("aks", apiKey=weak), "apiKey",
                                [rule, f"({len(weak)} characters)", "pulumi config set --secret apiKey"])
    assert weak not in str(error).replace("apiKey", "") or weak == ""


@pytest.mark.parametrize("good", [API_KEY, "a1b2c3d4e5" * 4, "abc.DEF_ghi~jkl+mno/pqr-stu012345==",
                                  "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"])
def test_a_strong_api_key_is_taken(good):
    assert check_api_key(good) == good


def test_library_args_refuse_a_weak_plain_key_at_construction():
    plan = plan_serving(host="vm", model=MODEL, image=DEFAULT_IMAGE)
    with pytest.raises(ConfigError, match=r"GpuVirtualMachineArgs: api_key is refused \(5 characters\)"):
        GpuVirtualMachineArgs(plan=plan, location="westus3", hf_token=HF_TOKEN, api_key="short")


def test_library_args_refuse_a_weak_output_key_when_its_value_is_known():
    plan = plan_serving(host="vm", model=MODEL, image=DEFAULT_IMAGE)

    def program():
        GpuVirtualMachine("lib", GpuVirtualMachineArgs(
            plan=plan, location="westus3", hf_token=pulumi.Output.secret(HF_TOKEN),
            api_key=pulumi.Output.secret("short")))

    with pytest.raises(Exception) as caught:
        run_program(program, "someone-else", "prod", {})
    # checked at deploy, and still about the argument the program passed
    assert "GpuVirtualMachineArgs: api_key is refused (5 characters)" in str(caught.value)
    assert "short" not in str(caught.value).replace("shorter", "")



def _unknown() -> pulumi.Output:
    """An Output whose value is not known yet, as a preview gives a generated key."""
    import asyncio
    loop = asyncio.get_event_loop()
    value, known = loop.create_future(), loop.create_future()
    value.set_result(None)
    known.set_result(False)
    return pulumi.Output(set(), value, known)


def _host_program(host: str, **given):
    from components.aks import AksGpuCluster, AksGpuClusterArgs
    component, args, extra = {
        "containerapp": (ContainerAppGpu, ContainerAppGpuArgs, {}),
        "vm": (GpuVirtualMachine, GpuVirtualMachineArgs, {}),
        "aks": (AksGpuCluster, AksGpuClusterArgs, {"api_allowed_cidrs": ["198.51.100.0/24"]})}[host]

    def program() -> None:
        values = {"location": "swedencentral", "hf_token": pulumi.Output.secret(HF_TOKEN), **extra}
        values.update({name: make() for name, make in given.items()})
        component("team", args(**values))
    return program


# each value as a program passes it, an Output known only at deploy; what the message must say
REFUSED_OUTPUTS = {
    "short key": ({"api_key": lambda: pulumi.Output.secret("short")}, "api_key is refused (5 characters)"),
    "key equals the HF token": ({"api_key": lambda: pulumi.Output.secret(HF_TOKEN)}, "api_key equals hf_token"),
    "ftp webhook": ({"alert_webhook": lambda: pulumi.Output.secret("ftp://hooks.example.com/x"),
                     "alert_emails": lambda: ["ops@example.com"]}, "alert_webhook is not an https:// URL"),
    "HF token an int": ({"hf_token": lambda: pulumi.Output.secret(123)}, "hf_token is int, not a string"),
    "HF token empty": ({"hf_token": lambda: pulumi.Output.secret("")}, "hf_token is empty"),
    "group name empty": ({"resource_group_name": lambda: pulumi.Output.from_input("")},
                         "resource_group_name = '': is empty"),
    "group name Azure refuses": ({"resource_group_name": lambda: pulumi.Output.from_input("rg/with?chars")},
                                 "is not a resource group name"),
}


@pytest.mark.parametrize("host", ["containerapp", "vm", "aks"])
@pytest.mark.parametrize("case", sorted(REFUSED_OUTPUTS))
def test_a_value_given_as_an_output_and_refused_at_deploy_stops_it_before_any_resource(host, case):
    given, says = REFUSED_OUTPUTS[case]
    with pytest.raises(ConfigError) as caught:
        run_program(_host_program(host, **given), PROJECT, "lib", {})
    assert says in str(caught.value)
    assert caught.value.registered == []  # the component waits for its checked inputs; children for it
    assert HF_TOKEN not in str(caught.value) and "short" not in str(caught.value).replace("shorter", "")


@pytest.mark.parametrize("host", ["aks"])  # the gate is one function for all three hosts (base.gated)
def test_values_not_known_yet_hold_nothing_back(host):
    # a preview of a program whose key, token and group come from other resources: nothing to check
    # yet, so the component and its children register as before (pulumi up checks the values)
    plain = run_program(_host_program(host), PROJECT, "lib", {})
    pending = run_program(_host_program(host, api_key=_unknown, hf_token=_unknown,
                                        resource_group_name=_unknown), PROJECT, "lib", {})
    created = {r.type for r in plain.resources} - {"azure-native:resources:ResourceGroup",
                                                   "random:index/randomPassword:RandomPassword"}
    assert created <= {r.type for r in pending.resources}


# ---- item 5: regions as Azure names them ----

@pytest.mark.parametrize("given", ["West Europe", "westeurope", "WestEurope", " west europe ", "WEST EUROPE"])
def test_region_spellings_normalise_to_azures_name(given):
    assert normalize_region(given) == "westeurope"


@pytest.mark.parametrize("given,suggestion", [("sweden-central", "swedencentral"),
                                              ("swedencentrall", "swedencentral"),
                                              ("westeuropa", "westeurope"),
                                              ("westeu", "westeurope"),  # cut short (new user: got westus)
                                              ("swedenc", "swedencentral")])
def test_a_near_miss_gets_a_did_you_mean(given, suggestion):
    assert_config_error(stack_config("vm", **{"azure-native:location": given}), "azure-native:location",
                        ["not an Azure public-cloud region", f"did you mean '{suggestion}'"])


def test_a_region_far_from_any_is_refused_with_where_to_look():
    assert_config_error(stack_config("vm", **{"azure-native:location": "mars-north"}),
                        "azure-native:location", ["az account list-locations"])


def test_every_region_the_catalogs_name_is_in_the_table():
    assert ZONAL_REGIONS <= set(REGIONS)
    for sku in GPUS.values():
        assert sku.documented_regions is None or sku.documented_regions <= set(REGIONS), sku.name
    assert all(name == name.lower().replace(" ", "") and normalize_region(display) == name
               for name, display in REGIONS.items())


@pytest.mark.parametrize("host", ["vm", "aks"])
def test_a_display_name_region_is_deployed_under_azures_name(host):
    run = run_stack(stack_config(host, **{"azure-native:location": "West Europe"}))
    locations = {unwrap(r.inputs).get("location") for r in run.resources if r.type.startswith("azure-native:")}
    assert locations - {None, "Global", "global"} == {"westeurope"}, locations
    endpoint = run.outputs["endpoint"]
    assert ".westeurope." in endpoint and " " not in endpoint and "West" not in endpoint, endpoint
    if host == "aks":
        [rule] = [r for r in run.mocks.of_type("azure-native:monitor:DataCollectionRule")
                  if r.name.endswith("-container-insights")]  # the other one is managed Prometheus's
        assert unwrap(rule.inputs)["dataCollectionRuleName"].startswith("MSCI-westeurope-")
        [cluster] = run.mocks.of_type("azure-native:containerservice:ManagedCluster")
        system = [p for p in unwrap(cluster.inputs)["agentPoolProfiles"] if p["mode"] == "System"]
        assert system[0]["availabilityZones"] == ["1", "2", "3"]  # westeurope has zones


# ---- item 6: SSH cannot be opened to the world in pieces ----

@pytest.mark.parametrize("cidrs,words", [
    (["0.0.0.0/1", "128.0.0.0/1"], ["broader than a /8"]),
    (["10.0.0.0/7"], ["broader than a /8", "33,554,432 addresses"]),
    (["10.0.0.0/8", "11.0.0.0/8"], ["together open SSH to 33,554,432 addresses", "10.0.0.0/7"]),
    (["10.0.0.0/8", "12.0.0.0/8", "14.0.0.0/8"], ["more than a /8 (16,777,216)"]),
    (["10.0.0.0/8", "203.0.113.7/32"], ["more than a /8"]),
])
def test_ssh_sources_broader_than_a_slash_8_are_refused(cidrs, words):
    assert_config_error(stack_config("vm", sshPublicKey=ED25519_KEY, sshAllowedCidrs=cidrs),
                        "sshAllowedCidrs", words)


def test_ssh_from_one_slash_8_or_overlapping_pieces_of_it_is_allowed():
    check_ssh_sources("sshAllowedCidrs", ["10.0.0.0/8", "10.1.0.0/16", "10.2.3.4/32"])  # union: one /8
    plan = plan_serving(host="vm", model=MODEL, image=DEFAULT_IMAGE)
    args = GpuVirtualMachineArgs(plan=plan, location="westus3", hf_token=HF_TOKEN,
                                 ssh_public_key=ED25519_KEY, ssh_allowed_cidrs=("10.0.0.0/8",))
    assert args.ssh_enabled


# ---- item 10: secrets stored in plain text, and never echoed ----

@pytest.mark.parametrize("key,value", [("hfToken", HF_TOKEN), ("apiKey", API_KEY)])
def test_a_secret_stored_in_plain_text_is_refused_under_pulumi_up(key, value):
    # what the engine hands over for `pulumi config set key value` without --secret
    config = stack_config("aks", **{key: value})
    with pytest.raises(ConfigError) as caught:
        run_program(run, PROJECT, "test", config, {k for k in ("hfToken", "apiKey") if k != key and k in config})
    message = str(caught.value)
    assert caught.value.key == key and "plain text" in message
    assert f"pulumi config set --secret {key}" in message and value not in message


def test_the_engines_secret_keys_variable_counts_as_secret(monkeypatch):
    # `pulumi up` passes the secret keys as PULUMI_CONFIG_SECRET_KEYS; the exec script hands them on
    pulumi.runtime.set_all_config({}, [])  # forget the secret keys an earlier run set
    assert not is_secret_key(f"{PROJECT}:hfToken")
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", f'["{PROJECT}:hfToken"]')
    assert is_secret_key(f"{PROJECT}:hfToken") and not is_secret_key(f"{PROJECT}:host")


@pytest.mark.parametrize("key,value", [("hfTokn", HF_TOKEN), ("hf_token", "hf_" + "x" * 30),
                                       ("apiKye", API_KEY), ("myPassword", "hunter2-hunter2"),
                                       ("notes", "hf_AbCdEf0123456789AbCdEf")])
def test_a_misspelt_secret_looking_key_is_named_but_its_value_never_shown(key, value):
    error = assert_config_error(stack_config("vm", **{key: value}), key, ["not a known setting"])
    assert value not in str(error)


def test_an_ordinary_misspelt_key_still_shows_its_value():
    error = assert_config_error(stack_config("vm", maxModelLenght=4096), "maxModelLenght", ["4096"])
    assert "did you mean 'maxModelLen'" in str(error)


# ---- item 10: names other systems parse ----

@pytest.mark.parametrize("image", ["vllm/vllm-openai:latest latest", "vllm/Vllm-openai:v1", "vllm/vllm-openai:",
                                   "vllm//openai", "-vllm/openai", "vllm/openai:" + "t" * 129])
def test_an_invalid_image_reference_is_refused(image):
    assert_config_error(stack_config("vm", vllmImage=image), "vllmImage", ["image reference"])


@pytest.mark.parametrize("image", ["vllm/vllm-openai:v0.33.0", "myregistry.azurecr.io/ml/vllm:v1",
                                   "localhost:5000/vllm", "ghcr.io/a/b_c/d-e:1.0-cu129",
                                   "vllm/vllm-openai@sha256:" + "a" * 64,
                                   "vllm/vllm-openai:v1@sha256:" + "0" * 64])
def test_valid_image_references_pass(image):
    assert check_image_reference("vllmImage", image) == image


HF_IDS = ["swiss-ai/Apertus-8B-Instruct-2509", "gpt2", "a/b", "Foo-BAR_foo.bar123", "foo--bar", "a..b",
          "foo.git", ".repo", "repo-", "a/b/c", "name with space", "café/x", "x" * 96, "x" * 97,
          "ns/" + "y" * 96, "-a/b", "a_/_b", ""]


@pytest.mark.parametrize("repo_id", HF_IDS)
def test_hf_repo_ids_are_judged_as_huggingface_hub_judges_them(repo_id):
    try:
        validate_repo_id(repo_id)
        hub_accepts = bool(repo_id)
    except HFValidationError:
        hub_accepts = False
    try:
        check_hf_repo_id("model.id", repo_id)
        we_accept = True
    except ConfigError:
        we_accept = False
    assert we_accept == hub_accepts


def test_a_custom_model_with_an_invalid_repo_id_is_refused():
    model = {"id": "my org/model", "paramsBillion": 1, "layers": 2, "attentionHeads": 2, "kvHeads": 2,
             "headDim": 64, "maxContext": 4096}
    assert_config_error(stack_config("vm", model=model), "model.id", ["Hugging Face repo id"])


def test_a_custom_models_own_image_is_checked_too():
    model = {"id": "org/model", "paramsBillion": 1, "layers": 2, "attentionHeads": 2, "kvHeads": 2,
             "headDim": 64, "maxContext": 4096, "image": "Org/Image:v1 "}
    assert_config_error(stack_config("vm", model=model), "model.image", ["image reference"])


def test_library_args_check_the_image_and_repo_id_of_the_plan():
    plan = plan_serving(host="vm", model=MODEL, image="vllm/vllm-openai:bad tag")
    with pytest.raises(ConfigError, match="GpuVirtualMachineArgs: vllm_image"):
        GpuVirtualMachineArgs(plan=plan, location="westus3", hf_token=HF_TOKEN)


def test_a_custom_data_overflow_is_a_config_error_before_any_resource():
    # the reference grammar allows any digest length, registries only 64 hex digits (sha256): such an
    # image is refused as unpinned first; the cloud-init size guard stays behind it for what else grows
    import types

    from components.vm import check_custom_data_fits

    huge = "vllm/vllm-openai@sha256:" + "a" * 40_000
    assert check_image_reference("vllmImage", huge) == huge
    assert_config_error(stack_config("vm", vllmImage=huge), "vllmImage", ["no registry resolves"])
    args = types.SimpleNamespace(plan=plan_serving(host="vm", model=MODEL, image=huge), internal=False,
                                 location="westus3", ssh_enabled=False)
    with pytest.raises(ConfigError) as caught:
        check_custom_data_fits(args)
    assert caught.value.key == "host" and "cloud-init would be" in str(caught.value) and "65,536" in str(caught.value)


def test_a_tag_value_over_256_characters_is_refused_by_the_library_args():
    plan = plan_serving(host="vm", model=MODEL, image=DEFAULT_IMAGE)
    with pytest.raises(ConfigError, match=r"GpuVirtualMachineArgs: tags\['team'\]"):
        GpuVirtualMachineArgs(plan=plan, location="westus3", hf_token=HF_TOKEN, tags={"team": "x" * 257})


# ---- item 10: stack files read like Pulumi reads them ----

PROJECT_FILE = (ROOT / "Pulumi.yaml").read_text()


def write_stack(tmp_path: Path, monkeypatch, text: str) -> None:
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_FILE)
    (tmp_path / "Pulumi.t.yaml").write_text(textwrap.dedent(text))


def plan_exit_code(root: Path) -> int:
    """`python -m stacks plan --stack t` in the directory ``root``."""
    return plan_command.command(argparse.Namespace(stack="t", json=False, detail=False, diagram=None), root)


@pytest.mark.parametrize("text,line", [
    ("config:\n  azure-native:location: swedencentral\n  apertus-azure:host: [vm\n", "3, column 23"),
    ("config:\n  azure-native:location: swedencentral\n\tapertus-azure:host: vm\n", "3, column 1"),
    ("config:\n  - azure-native:location: swedencentral\n", 2),
    ("config: vm\n", 1),
    ("- config\n", 1),
    # Pulumi (yaml.v3) refuses a key given twice; PyYAML would keep the last, hiding a plain-text key
    ("config:\n  apertus-azure:host: vm\n  apertus-azure:apiKey: plain-text-key-0123456789abcdefghij\n"
     "  apertus-azure:apiKey:\n    secure: AAABAx\n", 4),
    # a list item indented one space more than the one above: YAML folds it into that item (new user:
    # it was reported as the range '203.0.113.0/24 - 198.51.100.7' having a bad prefix)
    ("config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n  apertus-azure:allowedCidrs:\n"
     "    - 203.0.113.0/24\n     - 198.51.100.7\n", "6, column 6"),
])
def test_a_broken_stack_file_is_one_line_naming_file_and_line(tmp_path, monkeypatch, capsys, text, line):
    write_stack(tmp_path, monkeypatch, text)
    assert plan_exit_code(tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"error: Pulumi.t.yaml, line {line}: "), err


# A YAML syntax error in plain words: what is wrong and what to write, not the parser's tokens
# (issue: a bare *, a tab or a bad indent gave "expected <block end>, but found ...")
@pytest.mark.parametrize("text, expected", [
    ("config:\n  apertus-azure:host: vm\n  apertus-azure:sshAllowedCidrs: *\n",
     "Pulumi.t.yaml, line 3, column 34: a value starts with '*', which YAML reads as an alias (a reference "
     "to an &anchor), not as text; quote a value that starts with *: \"*\""),
    ("config:\n  apertus-azure:gpu: *A100\n",
     "Pulumi.t.yaml, line 2, column 22: '*A100' is read as a reference to an anchor '&A100', and the file "
     "defines none; quote a value that starts with *: \"*A100\""),
    ("config:\n  apertus-azure:host: vm\n\tapertus-azure:gpu: x\n",
     "Pulumi.t.yaml, line 3, column 1: a tab indents this line, and YAML indents with spaces only; indent "
     "with spaces, not tabs"),
    ("config:\n  apertus-azure:host: vm\n   apertus-azure:gpu: x\n",
     "Pulumi.t.yaml, line 3, column 4: this line is indented more than line 2 above it, so YAML reads it as "
     "the rest of line 2's value; indent the keys of one map by the same number of spaces"),
    ("config:\n    apertus-azure:host: vm\n  apertus-azure:gpu: x\n",
     "Pulumi.t.yaml, line 3, column 3: this line is indented by 2 spaces and line 2 above it by 4, so YAML "
     "cannot tell which map or list it belongs to; indent the keys of one map, and the items of one list, "
     "by the same number of spaces"),
    ("config:\n  apertus-azure:host vm\n  apertus-azure:gpu: x\n",
     "Pulumi.t.yaml, line 2, column 3: this line has no ': ' (a colon and a space) between its key and its "
     "value; write each setting as key: value"),
    ("config:\n  apertus-azure:tags:\n    team: a: b\n", "line 3, column 12: the value holds ': '"),
    ("config:\n  apertus-azure:gpu: \"A100\n", "line 2, column 22: the value quoted with \" here is never closed"),
    ("config:\n  apertus-azure:host: @vm\n", "a value starts with '@', which YAML reserves; quote the value"),
])
def test_a_yaml_syntax_error_says_what_is_wrong_and_what_to_write(tmp_path, text, expected):
    from stacks.stackfile import StackFileError, read_yaml

    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(text)
    with pytest.raises(StackFileError) as caught:
        read_yaml(path)
    message = str(caught.value)
    assert expected in message and "\n" not in message and "<block" not in message, message


def test_scalars_are_read_as_pulumi_reads_them(tmp_path, monkeypatch):
    write_stack(tmp_path, monkeypatch, """\
        config:
          azure-native:location: swedencentral
          apertus-azure:host: vm
          apertus-azure:autoShutdown: 19:00
          apertus-azure:tags:
            window: 19:00
            enabled: on
            mode: 0o17
            hex: 0x1F
            date: 2026-11-28
            truth: true
            ratio: 1.5e3
            nothing: ~
          apertus-azure:hfToken:
            secure: v1:abc
        """)
    _, values, secret_keys = load_stack_file("t", tmp_path)
    assert values["apertus-azure:autoShutdown"] == "19:00"  # PyYAML (YAML 1.1) made it 1140
    # (a `yes` where Pulumi.yaml declares a boolean is refused: see the declared-type test below)
    assert values["apertus-azure:tags"] == {"window": "19:00", "enabled": "on", "mode": 15, "hex": 31,
                                            "date": "2026-11-28", "truth": True, "ratio": 1500.0,
                                            "nothing": None}
    assert secret_keys == {"apertus-azure:hfToken"}


def test_a_plain_text_secret_in_the_stack_file_is_refused_offline(tmp_path, monkeypatch, capsys):
    write_stack(tmp_path, monkeypatch, f"""\
        config:
          azure-native:location: swedencentral
          apertus-azure:host: vm
          apertus-azure:hfToken: {HF_TOKEN}
        """)
    assert plan_exit_code(tmp_path) == 2
    err = capsys.readouterr().err
    assert "hfToken is stored in plain text" in err and "pulumi config set --secret hfToken" in err
    assert HF_TOKEN not in err


# ---- the plan's exposure line ----

def test_the_plan_states_who_can_reach_what(tmp_path, monkeypatch):
    write_stack(tmp_path, monkeypatch, f"""\
        config:
          azure-native:location: West Europe
          apertus-azure:host: vm
          apertus-azure:allowedCidrs: [198.51.100.0/24]
          apertus-azure:sshPublicKey: {ED25519_KEY}
          apertus-azure:sshAllowedCidrs: [203.0.113.7/32]
        """)
    data = plan_stack("t", tmp_path)
    assert data["plan"]["region"] == "westeurope"
    assert data["plan"]["exposure"]["summary"] == "public, HTTPS from 198.51.100.0/24, SSH from 203.0.113.7/32"
    assert "  exposure      public, HTTPS from 198.51.100.0/24, SSH from 203.0.113.7/32" in \
        plan_command.render_detail("t", data).splitlines()
    write_stack(tmp_path, monkeypatch, """\
        config:
          azure-native:location: swedencentral
          apertus-azure:host: containerapp
          apertus-azure:internal: true
        """)
    assert plan_stack("t", tmp_path)["plan"]["exposure"]["summary"] == \
        "internal, HTTPS from the virtual network, SSH off"


# ---- secrets never in tags, images pinned, exposure names every way in (review findings) ----

@pytest.mark.parametrize("host", ["containerapp", "vm", "aks"])
def test_a_tag_holding_a_secret_is_refused_without_showing_it(host):
    for tags, secret_key in (({"note": f"key {API_KEY}"}, "apiKey"), ({"owner": HF_TOKEN}, "hfToken")):
        error = assert_config_error(stack_config(host, apiKey=API_KEY, tags=tags), f"tags.{next(iter(tags))}",
                                    [secret_key if secret_key == "apiKey" else "Hugging Face token"])
        assert API_KEY not in str(error) and HF_TOKEN not in str(error)
    # the library args know plain secrets too
    with pytest.raises(ConfigError, match="contains the value of api_key"):
        GpuVirtualMachineArgs(location="swedencentral", hf_token=HF_TOKEN, api_key=API_KEY,
                              tags={"note": API_KEY})


@pytest.mark.parametrize("image", ["vllm/vllm-openai", "vllm/vllm-openai:latest", "vllm/vllm-openai:nightly",
                                   "myregistry.azurecr.io/vllm:LATEST"])
def test_an_image_that_is_not_pinned_is_refused(image):
    assert_config_error(stack_config("vm", vllmImage=image), "vllmImage", ["not pinned"])


@pytest.mark.parametrize("value, words", [
    ("203.0.113.0/33", ["/33", "32 bits", "from /0 to /32"]),
    ("2001:db8::/129", ["/129", "128 bits"]),
    ("300.1.1.1/24", ["Octet 300", "203.0.113.0/24"]),
    ("203.0.113.0/x", ["'/x'", "not a number of bits"]),
    ("AzureCloud", ["service tags", "mean anyone"]),
])
def test_a_source_that_is_no_range_says_what_is_wrong_with_it(value, words):
    assert_config_error(stack_config("containerapp", allowedCidrs=[value]), "allowedCidrs", words)


@pytest.mark.parametrize("value", ["*", "Internet", "any"])
def test_anyone_written_in_allowed_cidrs_is_told_that_leaving_it_out_admits_anyone(value):
    # the user wants every source: the message says how to get that (the default), not only a CIDR
    assert_config_error(stack_config("vm", allowedCidrs=[value]), "allowedCidrs",
                        ["mean anyone", "leave allowedCidrs out: by default any address may connect"])


@pytest.mark.parametrize("digest, words", [
    ("sha256:abc", ["3 hex digits", "exactly 64"]),
    ("sha256:" + "AB" * 32, ["upper case", "lower case"]),
    ("md5:" + "ab" * 16, ["'md5'", "sha256"]),
])
def test_a_digest_no_registry_resolves_is_named_as_such(digest, words):
    """The reference grammar refuses short digests before the pinning rule: the message is still the
    pinning rule's specific one, not the grammar's generic one."""
    error = assert_config_error(stack_config("vm", vllmImage=f"vllm/vllm-openai:v0.33.0@{digest}"), "vllmImage",
                                [*words, "drop the digest"])
    assert "not a valid container image reference" not in str(error)


def test_a_digest_or_a_version_tag_pins_the_image():
    digest = "vllm/vllm-openai@sha256:" + "ab" * 32
    for image in (digest, "vllm/vllm-openai:v0.33.0-cu129", "myregistry.azurecr.io/team/vllm:2026-11-28"):
        assert run_stack(stack_config("vm", vllmImage=image)).outputs["endpoint"]


def test_a_repeated_source_is_listed_once():
    run = run_stack(stack_config("vm", sshPublicKey=ED25519_KEY,
                                 sshAllowedCidrs=["203.0.113.0/24", "203.0.113.0/24"]))
    [nsg] = run.mocks.of_type("azure-native:network:NetworkSecurityGroup")
    [ssh] = [rule for rule in nsg.inputs["securityRules"] if rule["name"] == "allow-ssh"]
    assert ssh.get("sourceAddressPrefix") == "203.0.113.0/24" and not ssh.get("sourceAddressPrefixes")


def test_the_aks_exposure_names_who_reaches_the_kubernetes_api():
    data = plan_stack("aks")["plan"]["exposure"]  # the shipped stack names its ranges (issue 15.2)
    assert data["kubernetesApiFrom"] == ["203.0.113.0/24"]
    assert data["summary"].endswith("Kubernetes API from 203.0.113.0/24 (Entra ID sign-in)")


def test_a_tag_name_holding_a_secret_is_refused_without_showing_it():
    for tags in ({API_KEY: "x"}, {HF_TOKEN: "x"}):
        error = assert_config_error(stack_config("vm", apiKey=API_KEY, tags=tags), "tags", ["tag name"])
        assert API_KEY not in str(error) and HF_TOKEN not in str(error)


def test_a_secret_given_as_an_output_is_checked_against_the_tags_when_known():
    # the args cannot read an Output's value: the same check runs when the value is known (deploy)
    def program() -> None:
        GpuVirtualMachine("team", GpuVirtualMachineArgs(
            location="swedencentral", hf_token=pulumi.Output.secret(HF_TOKEN),
            api_key=pulumi.Output.secret(API_KEY), tags={"note": API_KEY[:40]}))

    with pytest.raises(ConfigError, match="contains the value of api_key") as caught:
        run_program(program, PROJECT, "lib", {})
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize("name", ["Team_A", "team.llm", "x" * 21, "9lives", "llm-"])
def test_a_container_app_component_name_azure_would_refuse_is_a_config_error(name):
    def program() -> None:
        ContainerAppGpu(name, ContainerAppGpuArgs(location="swedencentral", hf_token=HF_TOKEN))

    with pytest.raises(ConfigError, match="cannot name a container app") as caught:
        run_program(program, PROJECT, "lib", {})
    assert caught.value.registered == []
    assert str(caught.value).startswith(f"ContainerAppGpu: name = {name!r}: ")  # the component's argument


# (the whole table of what the real Pulumi CLI accepts per declared type: tests/fixtures/pulumi/
# declared_types.yaml, run through the CLI in tests/test_pulumi_cli.py)
@pytest.mark.parametrize("setting,line_value", [
    ("apertus-azure:spot: yes", "spot is 'yes'"),
    ("apertus-azure:internal: 1", "internal is '1'"),
    ("apertus-azure:quantization: [fp8]", "quantization is a list"),
    ("apertus-azure:kvCacheDtype: {dtype: fp8}", "kvCacheDtype is a map"),
])
def test_a_value_of_another_type_than_pulumi_yaml_declares_is_refused_like_pulumi_does(
        tmp_path, monkeypatch, capsys, setting, line_value):
    write_stack(tmp_path, monkeypatch, f"config:\n  azure-native:location: swedencentral\n"
                                       f"  apertus-azure:host: vm\n  {setting}\n")
    assert plan_exit_code(tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Pulumi.t.yaml, line 4: ") and line_value in err and "declares" in err, err


@pytest.mark.parametrize("host", ["containerapp", "vm", "aks"])
def test_a_private_allowed_cidr_on_a_public_host_is_a_warning(host):
    """A public endpoint takes HTTPS from public addresses: a private allow-list entry lets no one in.
    Warned in the plan (and under pulumi up), not on an internal host, where it is what reaches it."""
    import pulumi

    from components import AksGpuClusterArgs, ContainerAppGpuArgs, GpuVirtualMachineArgs
    args_class = {"containerapp": ContainerAppGpuArgs, "vm": GpuVirtualMachineArgs, "aks": AksGpuClusterArgs}[host]
    extra = {"api_allowed_cidrs": ["198.51.100.0/24"]} if host == "aks" else {}
    token = pulumi.Output.secret(HF_TOKEN)
    public = args_class(location="swedencentral", hf_token=token, allowed_cidrs=["10.1.0.0/16", "203.0.113.0/24"],
                        **extra)
    [warning] = [w for w in public.plan.warnings if "10.1.0.0/16" in w]
    assert warning.startswith("allowed_cidrs 10.1.0.0/16 (private, RFC 1918): no client can come from there")
    internal = args_class(location="swedencentral", hf_token=token, allowed_cidrs=["10.1.0.0/16"], internal=True,
                          **extra)
    assert not [w for w in internal.plan.warnings if "10.1.0.0/16" in w]


def test_an_encrypted_api_key_is_said_to_be_checked_at_pulumi_up(tmp_path, monkeypatch, capsys):
    # the plan cannot decrypt it, so a weak key would pass the plan silently (new user): it says so
    write_stack(tmp_path, monkeypatch, "config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n"
                "  apertus-azure:apiKey:\n    secure: AAABAxyz\n")
    assert plan_exit_code(tmp_path) == 0
    out = capsys.readouterr().out
    assert "apiKey is stored encrypted, which the offline plan cannot read: its checks" in out
    write_stack(tmp_path, monkeypatch, "config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n")
    assert plan_exit_code(tmp_path) == 0
    assert "apiKey is stored encrypted" not in capsys.readouterr().out  # generated: nothing to check


@pytest.mark.parametrize("host, words", [
    ("containerapp", ["must be between 1 and 1000 on host 'containerapp'", "use 1000"]),
    ("vm", ["is more than host 'vm' runs: one replica", "remove maxReplicas"]),
])
def test_a_huge_replica_count_gets_the_hosts_own_limit_as_its_fix(host, words):
    # the generic bound's "use 8000" was refused by the host's own check in the next run (new user)
    assert_config_error(stack_config(host, maxReplicas=int("9" * 20)), "maxReplicas", words)


def test_a_program_is_told_which_component_class_to_use_not_a_host_setting():
    # a library user has no `host` setting: the other hosts are named by their component classes
    with pytest.raises(ConfigError) as caught:
        ContainerAppGpuArgs(location="swedencentral", hf_token=HF_TOKEN, model="apertus-70b-instruct")
    message = str(caught.value)
    assert "use AksGpuCluster or GpuVirtualMachine with gpu='Standard_NC96ads_A100_v4'" in message
    assert "host '" not in message


@pytest.mark.parametrize("text, words", [
    # new user: each said something beside the point ("give a single value", "is not a number", ...)
    ("  apertus-azure:gpuMemoryUtilization: .NaN\n", ["YAML's .nan and .inf are no value Pulumi can store"]),
    ("  apertus-azure:gpuMemoryUtilization: ~\n", ["gpuMemoryUtilization = '': is empty; remove the key to use its "
                                                  "default"]),
    ("  apertus-azure:allowedCidrs: [' 203.0.113.0/24']\n", ["has a space before or after it; write it without "
                                                            "spaces, like '203.0.113.0/24'"]),
])
def test_odd_values_get_advice_about_what_is_odd(tmp_path, monkeypatch, capsys, text, words):
    write_stack(tmp_path, monkeypatch, "config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n"
                + text)
    assert plan_exit_code(tmp_path) == 2
    err = capsys.readouterr().err
    assert all(word in err for word in words) and err.count("\n") == 1, err


def test_a_missing_host_lists_the_hosts(tmp_path, monkeypatch, capsys):
    write_stack(tmp_path, monkeypatch, "config:\n  azure-native:location: swedencentral\n")
    assert plan_exit_code(tmp_path) == 2
    assert "pulumi config set host <containerapp|vm|aks> --stack t" in capsys.readouterr().err
