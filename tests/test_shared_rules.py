"""Issue 15, the last shared-rule gaps: each case judged by the program (the args' checks, a one-line
ConfigError before any resource) and by the policy pack (its policy through ``run_policy_pack``),
from one table per rule (components/serving/rules.py), so the two cannot drift apart."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.aks import AksGpuClusterArgs
from components.serving import ConfigError, rules
from components.testing import Registered, load_policy_pack, run_policy_pack
from components.vm import GpuVirtualMachineArgs
from conftest import HF_TOKEN, ROOT

# No false positive on the project's own values: tests/test_policy.py runs the whole pack over every
# host's stack (internal ones too) and the library example (tags, alert emails);
# tests/test_plan_command.py runs the program over every shipped Pulumi.<stack>.yaml.
pack = load_policy_pack()
POLICIES = {policy.name: policy for policy in pack.PACK_POLICIES}
ED25519_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO2sBXL5pNBrfm8aXZhx0wZQ0HUgZ2hZHeS9kQ2eMcO/ "
               "you@laptop")
# a made-up token of the real shape ("hf_" and 34 letters and digits, mixed case), put together here
# so that no token-shaped literal sits in the source: the keyboard's rows, alternating case, and digits
TOKEN = "hf_" + "".join(c.upper() if i % 2 == 0 else c for i, c in enumerate("qwertyuiopasdfghjklzxcvbnm")) \
    + "01234567"


def program_refuses(make_args) -> str | None:
    """The program's verdict: the ConfigError message, or None when the args are taken."""
    try:
        make_args()
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message and TOKEN not in message and TOKEN[3:20] not in message, message
        return message
    return None


def pack_refuses(policy: str, resource_type: str, props: dict[str, Any],
                 config: dict[str, Any] | None = None) -> list[str]:
    """What one policy of the pack reports on one resource, through run_policy_pack."""
    resource = Registered(f"urn:pulumi:t::p::{resource_type}::r", resource_type, "r", props, "", True,
                          props, [])
    found = [v.message for v in run_policy_pack([resource], config=config, policies=[POLICIES[policy]])]
    assert all(TOKEN not in message and TOKEN[3:20] not in message for message in found), found
    return found


def vm_args(**fields: Any) -> GpuVirtualMachineArgs:
    return GpuVirtualMachineArgs(location="swedencentral", hf_token=HF_TOKEN, **fields)


def deployment(image: str) -> dict[str, Any]:
    return {"metadata": {"name": "vllm"}, "spec": {"template": {"spec": {"containers": [
        {"name": "vllm", "image": image}]}}}}


# ---------------------------------------------------------------- 1. images pinned to one release

SHIPPED_IMAGES = sorted({image for path in (ROOT / "components").rglob("*.py")
                         for image in re.findall(r'^[A-Z_]*IMAGE = "([^"]+)"', path.read_text(), re.MULTILINE)})
IMAGES = {
    # moving: a major or major.minor tag moves with every release under it
    "x/y:0": False, "x/y:1": False, "x/y:v0": False, "caddy:2": False, "caddy:2.10": False,
    "x/y:2026.11": False, "x/y:1.0-cu129": False, "nvcr.io/nvidia/pytorch:24.11-py3": False,
    "x/y:latest": False, "x/y:nightly-2026-11-28": False, "x/y": False, "x/y:cuda": False, "x/y:cu129": False,
    # one release: a full version, a date, a build or commit, a digest
    "caddy:2.10.2": True, "x/y:v0.33.0-cu129": True, "nvidia/cuda:12.8.0-base-ubuntu24.04": True,
    "x/y:20261128": True, "x/y:2026-11-28": True, "x/y:sha-4f2a9c1": True, "x/y:build-57": True,
    "x/y@sha256:" + "ab" * 32: True, "caddy:2@sha256:" + "0" * 64: True, "x/y@sha512:" + "c" * 128: True,
    # a digest no registry resolves (OCI: sha256 is 64 lowercase hex digits) pins nothing
    "x/y@sha256:" + "AB" * 32: False, "x/y@sha256:" + "ab" * 16: False, "x/y:1.2.3@sha256:" + "a" * 63: False,
    **{image: True for image in SHIPPED_IMAGES},
}


def test_every_image_the_components_ship_is_in_the_table():
    assert {"vllm/vllm-openai:v0.33.0", "caddy:2.10.2", "prom/prometheus:v3.5.0",
            "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04",
            "nvcr.io/nvidia/k8s-device-plugin:v0.18.0"} <= set(SHIPPED_IMAGES)


@pytest.mark.parametrize("image", IMAGES)
def test_image_pinning_is_judged_alike_by_program_and_pack(image):
    program = program_refuses(lambda: vm_args(vllm_image=image))
    found = pack_refuses("images-pinned", "kubernetes:apps/v1:Deployment", deployment(image))
    assert (program is None) == IMAGES[image], program
    assert (found == []) == IMAGES[image], found
    if not IMAGES[image] and re.search(r":v?[0-9]+(\.[0-9]+)?(-|$)", image):
        assert "major or major.minor" in program and "major or major.minor" in found[0]


# ---------------------------------------------------------------- 2. a Hugging Face token in any shape

def program_fields(place: str, value: Any) -> dict[str, Any]:
    """The args field where the program takes ``value``."""
    field = {"image": "vllm_image", "email": "alert_emails", "tags": "tags"}[place]
    return {field: [value] if place == "email" else value}


def pack_resource(place: str, value: Any) -> tuple[str, dict[str, Any]]:
    """A resource carrying ``value`` where the components put it: a container image, an action
    group's email receiver, a resource's tags."""
    if place == "image":
        return "kubernetes:apps/v1:Deployment", deployment(value)
    if place == "email":
        receiver = {"name": "email-0", "emailAddress": value}
        return "azure-native:monitor:ActionGroup", {"emailReceivers": [receiver]}
    return "azure-native:network:PublicIPAddress", {"tags": value}


# case -> (where, the value, a token there?)
TOKEN_CASES = {
    "image tag": ("image", f"vllm/vllm-openai:{TOKEN}", True),
    "image tag after a version": ("image", f"vllm/vllm-openai:v0.33.0-{TOKEN}", True),
    "email local part": ("email", f"{TOKEN}@example.com", True),
    "email local part, dotted": ("email", f"{TOKEN[:19]}.{TOKEN[19:]}@example.com", True),
    "split across two tags": ("tags", {"owner": TOKEN[:15], "team": TOKEN[15:]}, True),
    "tag name and value": ("tags", {TOKEN[:18]: TOKEN[18:]}, True),
    "a space inside": ("tags", {"note": f"{TOKEN[:20]} {TOKEN[20:]}"}, True),
    "an invisible space inside": ("tags", {"note": f"{TOKEN[:20]}\u200b{TOKEN[20:]}"}, True),
    # the project's own kind of values: nothing found
    "ordinary tags": ("tags", {"team": "ml-platform", "owner": "hf_team", "cost-center": "4711"}, False),
    "words after hf_": ("tags", {"note": "hf_token is in the key vault before the first run"}, False),
    "ordinary email": ("email", "hf-oncall.ml_team+alerts@example.com", False),
    "commit-hash image tag": ("image", "myacr.azurecr.io/vllm:sha-4f2a9c1e0b3d5a7f", False),
}


@pytest.mark.parametrize("case", TOKEN_CASES)
def test_a_hugging_face_token_is_found_alike_by_program_and_pack(case):
    place, value, token = TOKEN_CASES[case]
    program = program_refuses(lambda: vm_args(**program_fields(place, value)))
    found = pack_refuses("no-secrets-in-plain-properties", *pack_resource(place, value))
    if token:
        assert program and "Hugging Face token" in program, program
        assert found and "Hugging Face token" in found[0], found
    else:
        assert program is None and found == [], (program, found)


def test_a_token_with_a_space_inside_is_redacted_in_messages():
    from components.serving.errors import shown

    spaced = f"{TOKEN[:20]} {TOKEN[20:]}"
    message = shown(f"note {spaced} and more")
    assert TOKEN[3:20] not in message and "and more" in message, message
    assert rules.redact_hf_tokens(f"x {TOKEN[:17]}.{TOKEN[17:]}@example.com") == \
        "x <a Hugging Face token, redacted>@example.com"


def test_the_finder_misses_few_random_tokens_with_a_space_inside():
    """HF_TOKEN_SWITCH_SHARE's figure: 2,000 seeded random tokens (letters only, the hardest case),
    each split by a space at a random place: (almost) all found."""
    import random
    import string

    rng = random.Random(15)
    missed = 0
    for _ in range(2000):
        token = "hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34))
        cut = rng.randrange(5, 33)
        missed += not rules.hf_token_in(f"{token[:cut]} {token[cut:]}")
    assert missed <= 2, missed


# ---------------------------------------------------------------- 3. source ranges: what they stand for

# sources -> (the program takes them as apiAllowedCidrs / sshAllowedCidrs, the pack takes them)
RANGES = {
    ("203.0.113.0/24",): (True, True),
    ("0.0.0.0",): (False, False),  # no client sends from it; AKS reads 0.0.0.0/32 specially
    ("0.0.0.0/32",): (False, False),  # ... as authorizedIPRanges only: below
    ("0.0.0.0/0",): (False, False),
    ("::ffff:0:0/96",): (False, False),  # IPv4-mapped: every IPv4 address
    ("64:ff9b::/96",): (False, False),  # NAT64: every IPv4 address
    ("64:ff9b:1::/48",): (False, False),
    ("::",): (False, False),
    ("::ffff:203.0.113.0/120",): (False, True),  # 203.0.113.0/24; the program takes IPv4 only
    ("2001:db8::/48",): (False, True),
    ("::ffff:1.0.0.0/104", "2.0.0.0/8"): (False, False),  # together two /8s
}


@pytest.mark.parametrize("sources", RANGES)
def test_source_ranges_are_judged_alike_by_program_and_pack(sources):
    program_takes, pack_takes = RANGES[sources]
    api = program_refuses(lambda: AksGpuClusterArgs(location="swedencentral", hf_token=HF_TOKEN,
                                                    api_allowed_cidrs=list(sources)))
    ssh = program_refuses(lambda: vm_args(ssh_public_key=ED25519_KEY, ssh_allowed_cidrs=list(sources)))
    assert (api is None, ssh is None) == (program_takes, program_takes), (api, ssh)
    cluster = {"apiServerAccessProfile": {"authorizedIPRanges": list(sources)}}
    aks = pack_refuses("closed-when-internal", "azure-native:containerservice:ManagedCluster", cluster,
                       {"closed-when-internal": {"internal": True}})
    nsg = {"securityRules": [{"name": "ssh", "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                              "sourcePortRange": "*", "destinationAddressPrefix": "*", "priority": 100.0,
                              "destinationPortRange": "22", "sourceAddressPrefixes": list(sources)}]}
    ssh_found = pack_refuses("no-public-ssh", "azure-native:network:NetworkSecurityGroup", nsg)
    aks_takes = pack_takes or sources == ("0.0.0.0/32",)  # AKS: only the cluster's own outbound IP
    assert (aks == [], ssh_found == []) == (aks_takes, pack_takes), (aks, ssh_found)


def test_aks_outbound_only_value_closes_the_api_server_and_widens_nothing():
    """authorizedIPRanges [0.0.0.0/32] is AKS's "only the outbound public IP of the Standard SKU load
    balancer" ("Secure access to the API server using authorized IP address ranges in AKS"): closed;
    beside it, the other ranges are judged as ever."""
    internal = {"closed-when-internal": {"internal": True}}
    for ranges, closed in ((["0.0.0.0/32"], True), (["0.0.0.0/32", "203.0.113.0/24"], True),
                           (["0.0.0.0/32", "0.0.0.0/0"], False), ([" 0.0.0.0/32"], True)):
        cluster = {"apiServerAccessProfile": {"authorizedIPRanges": ranges}}
        found = pack_refuses("closed-when-internal", "azure-native:containerservice:ManagedCluster", cluster,
                             internal)
        assert (found == []) == closed, (ranges, found)


def test_an_ipv4_mapped_range_is_judged_as_the_ipv4_range_it_stands_for():
    mapped = rules.ipv4_meaning(rules.as_network("::ffff:203.0.113.0/120"))
    assert mapped[0] == rules.as_network("203.0.113.0/24")
    assert rules.ipv4_meaning(rules.as_network("::1")) is None  # loopback, not IPv4 in disguise
    assert rules.is_inside_source("::ffff:10.1.0.0/112")  # 10.1.0.0/16, private
    [problem, *_] = rules.source_range_problems(["::ffff:0:0/96"])
    assert "0.0.0.0/0" in problem and "RFC 4291" in problem
