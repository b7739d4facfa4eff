"""Issue 15: the AKS API server is not open by default, and the last bad-input leftovers are
one-line errors (exit 2) before any resource, with no secret in any message."""

from __future__ import annotations

import pytest

from conftest import API_KEY, HF_TOKEN, assert_config_error, run_stack, stack_config, unwrap

CLUSTER = "azure-native:containerservice:ManagedCluster"


# ---------------------------------------------------------------- 2. the AKS API server

def test_an_aks_stack_must_say_who_reaches_its_api_server():
    error = assert_config_error(stack_config("aks", apiAllowedCidrs=None), "apiAllowedCidrs",
                                ["required for host 'aks'", "curl -s https://api.ipify.org", "apiPrivate",
                                 "apiPublic"])
    assert "open to the whole internet" in str(error)


@pytest.mark.parametrize("overrides, key, words", [
    ({"apiPublic": True, "apiAllowedCidrs": ["203.0.113.0/24"]}, "apiPublic", ["contradicts apiAllowedCidrs"]),
    ({"apiPrivate": True, "apiAllowedCidrs": ["203.0.113.0/24"]}, "apiPrivate", ["private cluster"]),
    ({"apiPublic": True, "internal": True}, "apiPublic", ["contradicts internal"]),
    ({"apiPublic": "yes"}, "apiPublic", []),
    ({"apiAllowedCidrs": ["4.0.0.0/6"]}, "apiAllowedCidrs", ["broader than /8"]),
    ({"apiAllowedCidrs": ["1.0.0.0/8", "2.0.0.0/8"]}, "apiAllowedCidrs", ["together"]),
])
def test_api_access_mistakes_are_one_line(overrides, key, words):
    assert_config_error(stack_config("aks", **overrides), key, words)


def test_api_public_is_open_on_purpose_and_the_plan_says_so():
    from stacks.common import exposure

    run = run_stack(stack_config("aks", apiPublic=True))
    assert "apiServerAccessProfile" not in unwrap(run.mocks.one(CLUSTER).inputs)
    from components.aks import AksGpuClusterArgs
    args = AksGpuClusterArgs(location="swedencentral", hf_token="t", api_public=True)
    assert exposure(args)["kubernetesApiFrom"] == ["any source (apiPublic: true)"]


def test_api_private_makes_a_private_cluster_without_public_fqdn():
    from stacks.common import exposure

    run = run_stack(stack_config("aks", apiPrivate=True, internal=True, alertEmails=["oncall@example.com"]))
    profile = unwrap(run.mocks.one(CLUSTER).inputs)["apiServerAccessProfile"]
    # the public FQDN resolves to the private IP: a peered or VPN runner finds the API without a
    # link to the system private DNS zone
    assert profile == {"enablePrivateCluster": True, "privateDNSZone": "system",
                       "enablePrivateClusterPublicFQDN": True}
    from components.aks import AksGpuClusterArgs
    args = AksGpuClusterArgs(location="swedencentral", hf_token="t", api_private=True)
    assert exposure(args)["kubernetesApiFrom"] == ["the virtual network (private cluster)"]
    # and the pack agrees the internal stack is closed
    from components.testing import run_policy_pack
    assert run_policy_pack(run) == []


def test_the_shipped_aks_stack_file_names_its_api_sources():
    import yaml
    from conftest import ROOT

    config = yaml.safe_load((ROOT / "Pulumi.aks.yaml").read_text())["config"]
    assert config["apertus-azure:apiAllowedCidrs"]


# ---------------------------------------------------------------- 4. hostile stack files

def _stack_dir(tmp_path, body: bytes | str):
    import shutil

    from conftest import ROOT
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    data = body.encode() if isinstance(body, str) else body
    (tmp_path / "Pulumi.hostile.yaml").write_bytes(data)
    return tmp_path


def _laughs(levels: int, fanout: int) -> str:
    lines = ["  apertus-azure:tags:", "    a0: &a0 lol"]
    lines = ["config:", "  apertus-azure:host: vm", "  apertus-azure:bomb:", "    l0: &l0 [lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"    l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * fanout) + "]")
    return "\n".join(lines) + "\n"


HOSTILE_FILES = {
    "alias-bomb": (_laughs(9, 9), ["excessive aliasing"]),
    "deep-flow-nesting": ("config:\n  apertus-azure:tags: " + "[" * 20_000 + "\n", ["deeper than 100"]),
    "deep-block-nesting": ("config:\n  apertus-azure:tags:\n" + "".join("  " * (i + 2) + f"k{i}:\n"
                                                                        for i in range(400)) + "\n",
                           ["deeper than 100"]),
    "python-object": ("config:\n  apertus-azure:tags: !!python/object/apply:os.system ['true']\n", ["!!python/"]),
    "python-name-in-list": ("config:\n  apertus-azure:allowedCidrs:\n    - !!python/name:os.system ''\n",
                            ["!!python/"]),
    "list-key": ("config:\n  apertus-azure:tags:\n    ? [a, b]\n    : x\n", ["map key"]),
    "invalid-utf8": (b"config:\n  apertus-azure:host: vm\n  apertus-azure:tags: {a: \"\xff\xfe\"}\n", ["UTF-8", "line 3"]),
    "nul-byte": ("config:\n  apertus-azure:host: \x00vm\n", []),
    "local-tag": ("config:\n  apertus-azure:tags: !mine {a: b}\n", ["'!mine'"]),
}


@pytest.mark.parametrize("case", HOSTILE_FILES)
def test_a_hostile_stack_file_is_one_line_fast(tmp_path, case):
    import time

    from stacks.stackfile import StackFileError, load_stack_file

    body, words = HOSTILE_FILES[case]
    root = _stack_dir(tmp_path, body)
    started = time.monotonic()
    with pytest.raises(StackFileError) as caught:
        load_stack_file("hostile", root)
    assert time.monotonic() - started < 3, "bounded, not a hang"
    message = str(caught.value)
    assert "\n" not in message and message.startswith("Pulumi.hostile.yaml") or message.startswith("line"), message
    assert len(message) < 400
    for word in words:
        assert word in message, message


def test_binary_values_inside_lists_and_maps_read_as_their_text(tmp_path):
    """!!binary nested in a value is text, as a top-level one is, not bytes the config cannot hold."""
    from stacks.stackfile import load_stack_file

    body = ("config:\n  apertus-azure:host: vm\n  apertus-azure:tags: {owner: !!binary aGVsbG8=}\n"
            "  apertus-azure:alertEmails: [!!binary aGVsbG8=]\n")
    _, values, _ = load_stack_file("hostile", _stack_dir(tmp_path, body))
    assert values["apertus-azure:tags"] == {"owner": "aGVsbG8="}
    assert values["apertus-azure:alertEmails"] == ["aGVsbG8="]


def test_aliases_pulumi_accepts_still_read(tmp_path):
    """A few aliases (a shared list of ranges) are fine, as they are for yaml.v3."""
    from stacks.stackfile import load_stack_file

    body = ("config:\n  apertus-azure:host: vm\n  apertus-azure:allowedCidrs: &office [203.0.113.0/24]\n"
            "  apertus-azure:sshAllowedCidrs: *office\n")
    _, values, _ = load_stack_file("hostile", _stack_dir(tmp_path, body))
    assert values["apertus-azure:sshAllowedCidrs"] == ["203.0.113.0/24"]


# ---------------------------------------------------------------- 4. names, parsers, versions, tags

@pytest.mark.parametrize("name", ["", "-apertus", "apertus-", "team_llm", "team.llm", "x" * 51, "näme", "a b"])
@pytest.mark.parametrize("component", ["vm", "aks"])
def test_vm_and_aks_refuse_names_azure_would_reject(component, name):
    import pulumi

    from components import AksGpuCluster, AksGpuClusterArgs, GpuVirtualMachine, GpuVirtualMachineArgs
    from components.serving import ConfigError
    from components.testing import run_program

    def program() -> None:
        if component == "vm":
            GpuVirtualMachine(name, GpuVirtualMachineArgs(location="swedencentral", hf_token="t"))
        else:
            AksGpuCluster(name, AksGpuClusterArgs(location="swedencentral", hf_token="t", api_public=True))
        pulumi.export("x", 1)

    with pytest.raises(ConfigError, match="cannot name the") as caught:
        run_program(program, "p", "s", {})
    assert caught.value.registered == [] and "\n" not in str(caught.value)


def test_longest_accepted_name_derives_valid_names():
    from components.base import DERIVED_NAME_MAX, check_component_name
    assert check_component_name("a" * DERIVED_NAME_MAX, "GPU VM")
    # the tightest derived name: the Log Analytics workspace, auto-named "<name>-logs-" + 7 characters
    assert len("a" * DERIVED_NAME_MAX + "-logs-" + "x" * 7) == 63


def test_the_tool_call_parser_table_is_the_pinned_vllms():
    import re

    from components.serving.vllm_choices import TOOL_CALL_PARSERS
    from conftest import ROOT
    text = (ROOT / "tests" / "fixtures" / "vllm-serve-help-0.33.0.txt").read_text()
    choices = re.search(r"--tool-call-parser \{([^}]*)\}", text).group(1).split(",")
    assert tuple(choices) == TOOL_CALL_PARSERS


CUSTOM_MODEL = {"id": "acme/llm-7b", "paramsBillion": 7, "layers": 32, "attentionHeads": 32, "kvHeads": 8,
                "headDim": 128, "maxContext": 8192}


@pytest.mark.parametrize("parser, words", [("apertus_json", ["did you mean"]), ("hermes2", ["'hermes'"]),
                                           ("zzz", ["use one of"])])
def test_a_custom_models_tool_call_parser_must_be_the_pinned_vllms(parser, words):
    assert_config_error(stack_config("vm", model={**CUSTOM_MODEL, "toolCallParser": parser}),
                        "model.toolCallParser", ["pinned vLLM", *words])


@pytest.mark.parametrize("version", ["1.035", "1.35.2", "2.0", "1.", "v1.35", "1.100", "1.35 "])
def test_kubernetes_version_format_is_checked_offline(version):
    assert_config_error(stack_config("aks", kubernetesVersion=version), "kubernetesVersion", ["minor version"])


def test_an_unquoted_1_30_read_as_1_3_says_to_quote_it(tmp_path, capsys):
    """The Pulumi CLI hands `kubernetesVersion: 1.30` to the program as "1.3" (docs/pulumi-cli.md)."""
    import argparse

    from conftest import ROOT
    from stacks import plan as plan_command
    for name in ("Pulumi.yaml",):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "Pulumi.t.yaml").write_text("config:\n  azure-native:location: swedencentral\n"
                                            "  apertus-azure:host: aks\n  apertus-azure:apiPublic: true\n"
                                            "  apertus-azure:kubernetesVersion: 1.30\n")
    args = argparse.Namespace(stack="t", json=False, detail=False, diagram=None, compare=False)
    assert plan_command.command(args, tmp_path) == 2
    err = capsys.readouterr().err
    assert "'1.3'" in err and 'quote it: kubernetesVersion: "1.30"' in err and err.count("\n") == 1, err


@pytest.mark.parametrize("tags, words", [
    ({"managed-by": "me"}, ["own tag"]), ({"apertus-exposure": "public"}, ["own tag"]),
    ({"MODEL": "x"}, ["own tag"]), ({"microsoftTeam": "x"}, ["reserves", "microsoft"]),
    ({"Azure-cost": "x"}, ["reserves"]), ({"windowsHost": "x"}, ["reserves"]),
    ({"team": "a\nb"}, ["control character"]), ({"te\tam": "x"}, ["control character"]),
    ({"Team": "ml", "team": "ops"}, ["'Team, team'", "ignores case", "keep one"]),
])
def test_tags_the_components_own_or_azure_refuses_are_refused(tags, words):
    key = f"tags.{next(iter(tags))}" if "control" in words[0] and "\n" in next(iter(tags.values())) else "tags"
    assert_config_error(stack_config("vm", tags=tags), key, words)


def test_the_api_key_may_not_be_the_hugging_face_token():
    from conftest import HF_TOKEN
    hf_like_key = HF_TOKEN + "Extra0123"  # long enough for apiKey's rules
    error = assert_config_error(stack_config("vm", hfToken=hf_like_key, apiKey=hf_like_key), "apiKey", ["equals hfToken"])
    assert hf_like_key not in str(error)


# ---------------------------------------------------------------- 4. no secret in any message

@pytest.mark.parametrize("overrides, key", [
    ({"allowedCidrs": [API_KEY]}, "allowedCidrs"),       # the key pasted into the wrong setting
    ({"tagz": API_KEY}, "tagz"),                          # under an unknown key
    ({"gpu": API_KEY}, "gpu"),
    ({"model": API_KEY}, "model"),
    ({"vllmImage": f"x/{API_KEY}:latest"}, "vllmImage"),
    ({"maxModelLen": "hf_abcdefghijklmnopqrstuvwxyz0123456789"}, "maxModelLen"),  # a token under any key
])
def test_a_secret_put_under_another_key_is_never_echoed(overrides, key):
    from conftest import HF_TOKEN
    error = assert_config_error(stack_config("vm", apiKey=API_KEY, **overrides), key)
    message = str(error)
    assert API_KEY not in message and HF_TOKEN not in message and "hf_abcdefghij" not in message, message
    assert "redacted" in message or key == "tagz"


def test_long_values_are_cut():
    error = assert_config_error(stack_config("vm", gpu="Standard_" + "X" * 500), "gpu")
    assert len(str(error)) < 600 and "X" * 100 not in str(error)


# ---------------------------------------------------------------- 5. a seeded fuzz of hostile configs

HOSTILE = ["", " ", "\n", "x" * 300, "-1", "0", "1e309", "nan", "true", "null", "[]", "{}", "*", "0.0.0.0/0",
           "::/0", "10.0.0.0/8", "203.0.113.0/33", "Standard_NC24ads_A100_v4", "apertus-70b-instruct", "1.35",
           "vllm/vllm-openai:latest", "caddy", "\x00", "ü" * 40, "${HOME}", "$(id)", "'; rm -rf /",
           -1, 0, 2**63, 1.5, float("inf"), True, False, None, [], {}, [1, 2], ["203.0.113.0/24"] * 3,
           {"id": "a/b"}, {"a": {"b": {"c": []}}}, [{"x": 1}], ["hf_" + "Z" * 34]]
KEYS = ["host", "model", "gpu", "maxModelLen", "gpuMemoryUtilization", "allowedCidrs", "internal", "tags",
        "vllmImage", "quantization", "kvCacheDtype", "minReplicas", "maxReplicas", "spot", "sshPublicKey",
        "sshAllowedCidrs", "autoShutdown", "apiAllowedCidrs", "apiPublic", "apiPrivate", "kubernetesVersion",
        "gpuNodesMin", "gpuNodesMax", "queueDepthTarget", "vnetAddressSpace", "kubeloginMode", "unknownKey",
        "apiKey"]


def _hostile_config(rng) -> dict:
    from conftest import HF_TOKEN
    config = stack_config(rng.choice(["containerapp", "vm", "aks"]), apiKey=API_KEY)
    for _ in range(rng.randint(1, 4)):
        key = rng.choice(KEYS)
        roll = rng.random()
        if roll < 0.15:
            value = rng.choice([API_KEY, HF_TOKEN, f"note {API_KEY}", [API_KEY], {"k": HF_TOKEN}])
        elif roll < 0.3 and key == "model":
            value = {**CUSTOM_MODEL, rng.choice(list(CUSTOM_MODEL) + ["toolCallParser", "x"]): rng.choice(HOSTILE)}
        else:
            value = rng.choice(HOSTILE)
        if key == "apiKey" and not isinstance(value, str):
            continue
        config[key] = value
    return config


def test_a_seeded_fuzz_of_hostile_configs_gives_one_line_errors_and_no_secret():
    """250 hostile configurations through the real config reading (everything before the first
    resource): each passes or fails with one ConfigError line; none raises anything else, none
    takes long, no message holds the API key or the Hugging Face token."""
    import random
    import time

    from conftest import HF_TOKEN, PROJECT
    from components.serving import ConfigError
    from components.testing import run_program
    from stacks.program import read_args

    rng = random.Random(1515)
    started, outcomes = time.monotonic(), {"passed": 0, "refused": 0}
    for index in range(250):
        config = _hostile_config(rng)
        secret_keys = {k for k in ("hfToken", "apiKey") if k in config}
        one = time.monotonic()
        try:
            run_program(read_args, PROJECT, "fuzz", config, secret_keys)
            outcomes["passed"] += 1
        except ConfigError as error:
            message = str(error)
            assert "\n" not in message and len(message) < 1200, (index, config, message)
            assert API_KEY not in message and HF_TOKEN not in message and "hf_ZZZZ" not in message, (index, message)
            outcomes["refused"] += 1
        except Exception as error:  # noqa: BLE001  a traceback: the failure names the input
            raise AssertionError(f"config #{index} {config!r} raised {type(error).__name__}: {error}") from error
        assert time.monotonic() - one < 5, (index, config)
    from components.serving.errors import forget_secrets
    forget_secrets()  # the hostile "secrets" registered here would redact words in later tests
    assert outcomes["refused"] > 150, outcomes  # hostile inputs are mostly refused
    assert time.monotonic() - started < 60


# ---------------------------------------------------------------- 3. egress

def _egress(run) -> dict[str, list]:
    policies = {r.inputs["metadata"]["name"]: unwrap(r.inputs) for r in
                run.mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    return {name.removesuffix("-egress"): p["spec"]["egress"] for name, p in policies.items()
            if name.endswith("-egress")}


def _reaches_internet(rules: list) -> list[dict]:
    return [peer["ipBlock"] for rule in rules for peer in rule.get("to", []) if "ipBlock" in peer]


@pytest.mark.parametrize("internal", [False, True])
def test_every_workload_pod_has_egress_limits_and_no_metadata_service(internal):
    import ipaddress

    extra = {"internal": True} if internal else {}
    run = run_stack(stack_config("aks", minReplicas=1, maxReplicas=2, **extra))
    egress = _egress(run)
    assert set(egress) == {"vllm", "gateway", "prometheus"}  # every workload pod of the namespace
    for app, rules in egress.items():
        dns = rules[0]
        assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
        assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
        for block in _reaches_internet(rules):
            # 443 only, and never the instance metadata service or Azure's platform address
            excluded = [ipaddress.ip_network(c) for c in block["except"]]
            for address in ("169.254.169.254", "168.63.129.16", "10.240.0.4"):
                assert any(ipaddress.ip_address(address) in net for net in excluded), (app, address)
        internet_ports = {p["port"] for rule in rules if _reaches_internet([rule]) for p in rule["ports"]}
        assert internet_ports <= {443}, (app, internet_ports)
    assert _reaches_internet(egress["vllm"])  # the model download from Hugging Face
    assert bool(_reaches_internet(egress["gateway"])) == (not internal)  # ACME only when public
    assert not _reaches_internet(egress["prometheus"])
    to_vllm = [r for r in egress["gateway"] if any("podSelector" in p and "namespaceSelector" not in p
                                                    for p in r["to"])]
    assert to_vllm[0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    deny = [unwrap(r.inputs)["spec"] for r in run.mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
            if r.inputs["metadata"]["name"] == "default-deny-ingress"]
    assert deny == [{"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}]


def test_a_stack_file_over_the_size_limit_is_refused_before_parsing_fast(tmp_path):
    """A 1 MB file (a seeded mix of hostile YAML: flow maps, brackets, aliases) is one line in well
    under a second: refused by its size, never handed to the pure-Python parser (which needs > 40 s)."""
    import random
    import time

    from stacks.stackfile import STACK_FILE_MAX_BYTES, StackFileError, load_stack_file

    rng = random.Random(7)
    pieces = ["kN: v, ", "[[[", "\"[{\", ", "&aN x, ", "*a0, ", "? [x]\n", "\u202e", "203.0.0.N/32, "]
    body = ["config:\n  apertus-azure:host: vm\n  apertus-azure:tags: {"]
    body += [rng.choice(pieces).replace("N", str(rng.randrange(10_000))) for _ in range(150_000)]
    root = _stack_dir(tmp_path, "".join(body) + "}\n")
    assert (root / "Pulumi.hostile.yaml").stat().st_size > 1_000_000
    started = time.monotonic()
    with pytest.raises(StackFileError) as caught:
        load_stack_file("hostile", root)
    assert time.monotonic() - started < 0.5
    message = str(caught.value)
    assert "\n" not in message and message.startswith("Pulumi.hostile.yaml: ") and "256 KiB" in message, message
    assert STACK_FILE_MAX_BYTES == 256 * 1024


def test_a_stack_file_just_under_the_size_limit_still_reads(tmp_path):
    from stacks.stackfile import STACK_FILE_MAX_BYTES, load_stack_file

    body = "config:\n  apertus-azure:host: vm\n# " + "x" * (STACK_FILE_MAX_BYTES - 200) + "\n"
    _, values, _ = load_stack_file("hostile", _stack_dir(tmp_path, body))
    assert values["apertus-azure:host"] == "vm"


def test_brackets_inside_a_quoted_string_are_not_nesting(tmp_path):
    """Depth is measured on the YAML structure: 150 '[' inside a quoted value are text, not levels
    (the value's own check then judges it), while 150 real levels are still refused."""
    from stacks.stackfile import StackFileError, load_stack_file

    for quoted in ('"' + "[" * 150 + '"', "'" + "{[" * 150 + "'"):
        body = f"config:\n  apertus-azure:host: vm\n  apertus-azure:gpu: {quoted}\n"
        _, values, _ = load_stack_file("hostile", _stack_dir(tmp_path, body))
        assert values["apertus-azure:gpu"] == quoted[1:-1]
    body = "config:\n  apertus-azure:host: vm\n  apertus-azure:tags: " + "[" * 150 + "]" * 150 + "\n"
    with pytest.raises(StackFileError, match=r"^Pulumi.hostile.yaml, line 3: nesting deeper than 100"):
        load_stack_file("hostile", _stack_dir(tmp_path, body))


def _plan_file(tmp_path, settings: str):
    from stacks.common import plan_stack

    body = "config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n" + settings
    return plan_stack("hostile", _stack_dir(tmp_path, body))


@pytest.mark.parametrize("setting, key, limit", [
    ("queueAlertThreshold: 99999999999999999999", "queueAlertThreshold", "1000000"),
    ("queueAlertThreshold: 1000001", "queueAlertThreshold", "1000000"),
    ("expectedRequestsPerMinute: 9223372036854775807", "expectedRequestsPerMinute", "1,000,000"),
    ("expectedRequestsPerMinute: 1000001", "expectedRequestsPerMinute", "1,000,000"),
])
def test_absurdly_large_thresholds_and_loads_are_one_line(tmp_path, setting, key, limit):
    from components.serving import ConfigError

    with pytest.raises(ConfigError) as caught:
        _plan_file(tmp_path, f"  apertus-azure:{setting}\n")
    message = str(caught.value)
    assert message.startswith(f"apertus-azure:{key} = ") and limit in message and "\n" not in message, message


def test_the_largest_allowed_threshold_and_load_still_plan(tmp_path):
    plan = _plan_file(tmp_path, "  apertus-azure:queueAlertThreshold: 1000000\n"
                                "  apertus-azure:expectedRequestsPerMinute: 1000000\n")["plan"]
    assert plan["throughput"]["expectedRequestsPerMinute"] == 1_000_000
    assert plan["monitoring"]["thresholds"]["queueAlertThreshold"] == 1_000_000


@pytest.mark.parametrize("setting, words", [
    ("apertus-azure:hfToken: {secure: [1, 2]}", ["apertus-azure:hfToken", "secure:", "--secret hfToken"]),
    ("apertus-azure:hfToken: {secure: {a: b}}", ["apertus-azure:hfToken", "secure:"]),
    ("apertus-azure:hfToken: {secure: 12}", ["apertus-azure:hfToken", "secure:"]),
    ("apertus-azure:hfToken: {secure: }", ["apertus-azure:hfToken", "secure:"]),
    (":host: aks", ["':host'", "empty namespace", "apertus-azure:host"]),
    ("'apertus-azure:': x", ["'apertus-azure:'", "empty name"]),
])
def test_a_malformed_secret_or_key_is_one_line(tmp_path, setting, words):
    """The Pulumi CLI (v3.276.0, `pulumi config`) reads `{secure: [1, 2]}` as a plain map, not a secret,
    and keeps `:host` as a key of no namespace that no program reads: both are mistakes, named here."""
    from stacks.stackfile import StackFileError, load_stack_file

    body = f"config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n  {setting}\n"
    with pytest.raises(StackFileError) as caught:
        load_stack_file("hostile", _stack_dir(tmp_path, body))
    message = str(caught.value)
    assert message.startswith("Pulumi.hostile.yaml, line 4: ") and "\n" not in message, message
    for word in words:
        assert word in message, message


def test_a_quoted_secure_ciphertext_is_still_a_secret(tmp_path):
    from stacks.stackfile import load_stack_file

    body = ("config:\n  apertus-azure:host: vm\n  apertus-azure:hfToken:\n    secure: \"v1:abc\"\n"
            "  apertus-azure:apiKey:\n    secure: v1:AAAABBBB\n")
    _, _, secrets = load_stack_file("hostile", _stack_dir(tmp_path, body))
    assert secrets == {"apertus-azure:hfToken", "apertus-azure:apiKey"}


# ---------------------------------------------------------------- 4. tags every tagged resource takes

DNS_REFUSED_NAMES = ["cost center", "9lives", "team:ml", "kostenstelle-ä", "owner(s)", "env.", "-team"]


@pytest.mark.parametrize("name", DNS_REFUSED_NAMES)
def test_an_internal_stack_refuses_tag_names_azure_dns_refuses(name):
    """Internal stacks tag Private DNS zones and links (the vault's, Container Apps'): Azure DNS takes
    no spaces, leading digits, ':', parentheses or non-ASCII in tag names (tag-resources, Limitations).
    One line, before any resource, with a name that works; a public stack takes the name."""
    from components.serving import ConfigError
    from components.vm import GpuVirtualMachineArgs
    from conftest import HF_TOKEN

    with pytest.raises(ConfigError) as caught:
        GpuVirtualMachineArgs(location="swedencentral", hf_token=HF_TOKEN, internal=True, tags={name: "x"})
    message = str(caught.value)
    assert caught.value.key == "tags" and "\n" not in message and "Private DNS" in message, message
    suggested = message.rsplit("e.g. '", 1)[1].split("'")[0]
    def vm(**fields):
        return GpuVirtualMachineArgs(location="swedencentral", hf_token=HF_TOKEN, **fields)

    assert vm(internal=True, tags={suggested: "x"}).tags == {suggested: "x"}
    assert vm(tags={name: "x"}).tags == {name: "x"}


def test_an_internal_stack_takes_at_most_twelve_tags_and_an_aks_private_cluster_too():
    """Private DNS zones and their links take 15 tags (tag-resources, Limitations); the components
    add three. AKS puts the cluster's tags on its private cluster's DNS zone too ("Use Azure tags in
    AKS": cluster tags apply to all resources related to the cluster)."""
    from components.aks import AksGpuClusterArgs
    from components.serving import ConfigError
    from components.vm import GpuVirtualMachineArgs
    from conftest import HF_TOKEN

    twelve, thirteen = {f"t{i}": "x" for i in range(12)}, {f"t{i}": "x" for i in range(13)}
    place = {"location": "swedencentral", "hf_token": HF_TOKEN}
    assert GpuVirtualMachineArgs(**place, internal=True, tags=twelve).tags
    with pytest.raises(ConfigError, match=r"tags = '13 tags': is more than 12: an internal stack"):
        GpuVirtualMachineArgs(**place, internal=True, tags=thirteen)
    with pytest.raises(ConfigError, match="more than 12"):
        AksGpuClusterArgs(**place, api_private=True, internal=True, tags=thirteen)
    with pytest.raises(ConfigError, match="Private DNS"):
        AksGpuClusterArgs(**place, api_private=True, tags={"cost center": "x"})
    assert GpuVirtualMachineArgs(**place, tags=thirteen).tags  # a public VM tags no DNS zone


# ---------------------------------------------------------------- 5. the offline harness

def _action_group_program(marked: bool):
    import pulumi
    from pulumi_azure_native import monitor

    def program() -> None:
        options = pulumi.ResourceOptions(additional_secret_outputs=["webhookReceivers"] if marked else None)
        url = pulumi.Output.secret("https://hooks.example/s")
        hook = monitor.WebhookReceiverArgs(name="hook", service_uri=url)
        monitor.ActionGroup("alerts", resource_group_name="rg", location="Global", group_short_name="a",
                            enabled=True, webhook_receivers=[hook], opts=options)
    return program


@pytest.mark.parametrize("marked", [True, False])
def test_run_policy_pack_sees_the_requests_own_additional_secret_outputs(marked):
    """The mock monitor records each request's additionalSecretOutputs and the pack sees that option,
    as the engine hands it over: a webhook given as a secret but not marked is caught (the inputs
    alone would have hidden it); a resource list built by hand still falls back on the inputs."""
    from components.testing import Registered, run_policy_pack, run_program

    run = run_program(_action_group_program(marked), "p", "s", {})
    [group] = run.resources
    assert group.additional_secret_outputs == (["webhookReceivers"] if marked else [])
    found = [v.policy for v in run_policy_pack(run) if v.policy == "no-secrets-in-plain-properties"]
    assert found == ([] if marked else ["no-secrets-in-plain-properties"])
    by_hand = Registered(group.urn, group.type, group.name, group.inputs, "", True, group.outputs)
    assert [v for v in run_policy_pack([by_hand]) if v.policy == "no-secrets-in-plain-properties"] == []


def test_run_program_refuses_a_second_run_while_one_is_running():
    """The SDK's mocks are process-wide: a run started while another runs (another thread, or the
    program itself) is refused in one line instead of mixing both runs' resources."""
    import threading

    import pulumi

    from components.testing import ConcurrentRunError, run_program

    seen: list[BaseException] = []

    def other_thread() -> None:
        try:
            run_program(lambda: None, "p", "other", {})
        except ConcurrentRunError as error:
            seen.append(error)

    def program() -> None:
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        pulumi.export("done", True)

    assert run_program(program, "p", "s", {}).outputs == {"done": True}
    assert len(seen) == 1 and "\n" not in str(seen[0]) and "already running" in str(seen[0])
    assert run_program(lambda: pulumi.export("again", 1), "p", "s", {}).outputs == {"again": 1}  # released


def test_every_copy_of_the_offline_harness_takes_the_one_lock():
    """components.testing and apertus_azure.testing (an editable install in a checkout) are two modules
    over one process-wide SDK: a second copy refuses a run while the first one runs, as one copy does."""
    import importlib.util
    import sys
    import threading

    import pulumi

    from components import testing

    spec = importlib.util.spec_from_file_location("apertus_azure_testing_copy", testing.__file__)
    copy = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = copy  # its dataclasses look their module up
    try:
        spec.loader.exec_module(copy)
    finally:
        del sys.modules[spec.name]
    assert copy is not testing and copy._RUN_LOCK is testing._RUN_LOCK
    seen: list[str] = []

    def other_thread() -> None:
        try:
            copy.run_program(lambda: None, "p", "other", {})
        except copy.ConcurrentRunError as error:
            seen.append(str(error))

    def program() -> None:
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join(30)
        pulumi.export("done", True)

    assert testing.run_program(program, "p", "s", {}).outputs == {"done": True}
    assert len(seen) == 1 and "already running" in seen[0]


def test_no_args_field_of_any_host_crashes_on_an_absurd_number():
    """A number of hundreds of digits, or NaN, in any field of a host's args: a one-line ConfigError
    (or another RunError), never an OverflowError or AttributeError from the arithmetic behind it."""
    import dataclasses

    import pulumi

    from components import AksGpuClusterArgs, ContainerAppGpuArgs, GpuVirtualMachineArgs
    token = pulumi.Output.secret(HF_TOKEN)
    crashed = []
    for args_class in (GpuVirtualMachineArgs, AksGpuClusterArgs, ContainerAppGpuArgs):
        base = {"location": "swedencentral", "hf_token": token}
        if args_class is AksGpuClusterArgs:
            base["api_allowed_cidrs"] = ["198.51.100.0/24"]
        for field in dataclasses.fields(args_class):
            for value in (int("9" * 400), -int("9" * 400), float("nan")):
                try:
                    args_class(**{**base, field.name: value})
                except pulumi.RunError:
                    pass
                except Exception as error:  # noqa: BLE001 - what the test looks for
                    crashed.append(f"{args_class.__name__}.{field.name}: {type(error).__name__}: {error}"[:160])
    assert not crashed, crashed
