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
    # two numbers name one release for a few projects, but the shape is caddy's moving '2.10': a digest pins them
    "registry.k8s.io/pause:3.10": False, "ubuntu:14.04": False,
    "registry.k8s.io/pause:3.10@sha256:" + "7c" * 32: True, "nvcr.io/nvidia/pytorch:24.11-py3@sha256:" + "e1" * 32: True,
    # a full version after other letters is something else's (Python's, CUDA's), not the image's
    "x/y:py3.12.4-slim": False, "x/y:cuda12.8.0": False, "x/y:vllm-0.33.0": False,
    # one release: a full version first, a date, a build or commit, a digest
    "caddy:2.10.2": True, "x/y:v0.33.0-cu129": True, "nvidia/cuda:12.8.0-base-ubuntu24.04": True,
    "x/y:20261128": True, "x/y:2026-11-28": True, "x/y:sha-4f2a9c1": True, "x/y:build-57": True,
    "ubuntu:noble-20250415": True, "x/y:2.10.2rc1": True,
    "x/y@sha256:" + "ab" * 32: True, "caddy:2@sha256:" + "0" * 64: True, "x/y@sha512:" + "c" * 128: True,
    # a digest no registry resolves (OCI: sha256 is 64 lowercase hex digits) pins nothing
    "x/y@sha256:" + "AB" * 32: False, "x/y@sha256:" + "ab" * 16: False, "x/y:1.2.3@sha256:" + "a" * 63: False,
    "x/y@sha256:abc": False, "x/y@md5:" + "a" * 32: False, "x/y@sha256:" + "g" * 64: False,
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
    if not IMAGES[image] and re.search(r":v?[0-9]+(-|$)", image):
        assert "a major tag" in program and "a major tag" in found[0]
    if not IMAGES[image] and re.search(r":v?[0-9]+\.[0-9]+(-|$)", image):
        assert "two-number tag" in program and "@sha256:<64 hex digits>" in found[0]


# image -> what the message must say: what is wrong, and what would work
IMAGE_MESSAGES = {
    "x/y@sha256:abc": ["3 hex digits", "exactly 64", "copy the digest whole"],
    "x/y@sha256:" + "ab" * 16: ["32 hex digits", "exactly 64"],
    "x/y:1.2.3@sha256:" + "a" * 63: ["63 hex digits", "exactly 64"],
    "x/y@sha512:" + "c" * 64: ["sha512 digest of 64 hex digits", "exactly 128"],
    "x/y@sha256:" + "AB" * 32: ["upper case", "lower case"],
    "x/y@sha256:" + "g" * 64: ["'g'", "not a hex digit"],
    "x/y@md5:" + "a" * 32: ["algorithm 'md5'", "sha256 digest"],
    "x/y@": ["not one", "'@sha256:' and 64 lower-case hex digits"],
    "registry.k8s.io/pause:3.10": ["two-number tag '3.10'", "'<image>:3.10@sha256:<64 hex digits>'"],
    "x/y:py3.12.4-slim": ["'3.12.4' comes after 'py'", "starts with the image's own version"],
    "caddy:2": ["a major tag", "2.10.2"],
}


@pytest.mark.parametrize("image", IMAGE_MESSAGES)
def test_an_unpinned_image_is_told_what_is_wrong_and_what_would_work(image):
    problem = rules.image_pin_problem(image)
    assert problem and "\n" not in problem and all(part in problem for part in IMAGE_MESSAGES[image]), problem
    [found] = pack_refuses("images-pinned", "kubernetes:apps/v1:Deployment", deployment(image))
    assert problem in found


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
    # every character RFC 5322 allows unquoted in a local part (atext, section 3.2.3); Azure's
    # EmailReceiver.emailAddress is a plain string (no pattern in the action group API)
    "email: every atext character": ("email", "!#$%&'*+-/=?^_`{|}~@example.com", False),
    "email: '~' and '!'": ("email", "first.last~ops!pager@example.co.uk", False),
    "email: hf_ and '~'": ("email", "hf_oncall~ml-team@example.com", False),
    "commit-hash image tag": ("image", "myacr.azurecr.io/vllm:sha-4f2a9c1e0b3d5a7f", False),
    # more separators than three, invisible characters, more than two tags (review findings)
    "four spaces inside": ("tags", {"note": f"{TOKEN[:20]}    {TOKEN[20:]}"}, True),
    "a dash after every character": ("tags", {"note": "-".join(TOKEN)}, True),
    "a line of dots inside": ("tags", {"note": f"{TOKEN[:9]}{'.' * 40}{TOKEN[9:]}"}, True),
    "soft hyphens throughout": ("tags", {"note": "\u00ad".join(TOKEN)}, True),
    "fullwidth letters": ("tags", {"note": "".join(chr(ord(c) + 0xFEE0) for c in TOKEN)}, True),
    "email local part, '~' and '!'": ("email", f"{TOKEN[:12]}~{TOKEN[12:24]}!{TOKEN[24:]}@example.com", True),
    "image tag, zero-width joiners": ("image", "vllm/vllm-openai:" + "\u200d".join(TOKEN), True),
    "three tags, out of order": ("tags", {"c": TOKEN[24:], "a": TOKEN[:12], "b": TOKEN[12:24]}, True),
    "five tags among ordinary ones": ("tags", {"team": "ml-platform", "p3": TOKEN[20:28], "owner": "alice",
                                               "p1": TOKEN[:10], "p4": TOKEN[28:], "p2": TOKEN[10:20]}, True),
    "'h' in one tag, 'f_...' in another": ("tags", {"x": TOKEN[20:], "y": "h", "z": TOKEN[1:20]}, True),
    # ordinary text: digests, UUIDs, base64, prose with hf_ words
    "sha256 digest beside hf_team": ("tags", {"digest": "sha256:" + "4f2a9c1e0b3d5a7f" * 4, "owner": "hf_team"},
                                     False),
    "UUIDs beside hf_team": ("tags", {"subscription": "0d3f6a4e-8b1c-4f2e-9a7d-5c6b8e9f0a1b", "owner": "hf_team",
                                      "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47"}, False),
    "ordinary tags beside hf_team": ("tags", {"team": "ml-platform", "owner": "hf_team", "CostCenter": "4711",
                                              "Environment": "Production", "Project": "Apertus"}, False),
    "prose: hf_transfer": ("tags", {"note": "uses hf_transfer and hf_xet for faster downloads of the weights"}, False),
    "prose: hf_token in Key Vault": ("tags", {"note": "Keep hf_token in Key Vault, never in a tag or the stack file"},
                                     False),
    "prose: HF_TOKEN and hf_token": ("tags", {"note": "HF_TOKEN or hf_token: see the Hugging Face Hub docs"}, False),
    # letters of other scripts drawn like the token's, combining marks, the prefix in capitals (attacker)
    "Cyrillic and Greek lookalikes": ("tags", {"note": TOKEN.translate(str.maketrans(
        "hoOpTEa", "\u04bb\u043e\u039f\u0440\u0422\u0395\u0430"))}, True),
    "a combining mark on every character": ("tags", {"note": "\u0301".join(TOKEN)}, True),
    "the prefix in capitals": ("tags", {"note": "HF_" + TOKEN[3:]}, True),
    "env names in capitals": ("tags", {"vars": "HF_HOME HF_HUB_OFFLINE HF_HUB_ENABLE_HF_TRANSFER VLLM_API_KEY"},
                              False),
    "Russian prose after hf_": ("tags", {"note": "hf_token \u0445\u0440\u0430\u043d\u0438\u0442\u0441\u044f "
                                         "\u0432 Key Vault, \u043d\u0435 \u0432 \u0442\u0435\u0433\u0430\u0445"}, False),
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


INVISIBLE = {"soft hyphen": "\u00ad", "zero-width space": "\u200b", "zero-width non-joiner": "\u200c",
             "zero-width joiner": "\u200d", "left-to-right mark": "\u200e", "right-to-left mark": "\u200f",
             "word joiner": "\u2060", "byte order mark": "\ufeff", "left-to-right isolate": "\u2066",
             "Mongolian vowel separator": "\u180e", "variation selector-16": "\ufe0f", "tag letter A": "\U000e0041",
             "combining grapheme joiner": "\u034f", "Hangul filler": "\u3164"}


@pytest.mark.parametrize("name", INVISIBLE)
def test_a_token_with_invisible_characters_inside_is_found_and_redacted_whole(name):
    char = INVISIBLE[name]
    for text in (f"{TOKEN[:20]}{char}{TOKEN[20:]}", char.join(TOKEN), f"h{char * 5}f_{TOKEN[3:]}"):
        assert rules.hf_token_in(text), repr(text)
        assert rules.redact_hf_tokens(f"note {text} and more") == "note <a Hugging Face token, redacted> and more"


@pytest.mark.parametrize("gap", [" " * 4, " " * 40, "-" * 4, ". . . ", "\n\n", "~!#$%&'*+/=?^`{|}~", "\t|\t", "\u3000" * 4])
def test_a_token_with_any_run_of_separators_inside_is_found(gap):
    for cut in (3, 10, 20, 33):
        text = f"id: {TOKEN[:cut]}{gap}{TOKEN[cut:]} (old)"
        assert rules.hf_token_in(text), repr(text)
        assert rules.redact_hf_tokens(text) == "id: <a Hugging Face token, redacted> (old)"


def test_another_scripts_letter_ends_a_token():
    """A letter no token holds is not a separator: what comes after it is not read as the token's."""
    assert not rules.hf_token_in(f"{TOKEN[:20]}\u00e9{TOKEN[20:]}")  # 'é'
    assert rules.hf_token_in(f"{TOKEN}\u00e9")


def test_the_finder_misses_few_random_tokens_spread_by_many_separators():
    """HF_TOKEN_LOWER_PAIR_SHARE's figure: 2,000 seeded random tokens (letters only, like every real
    token in gitleaks' tests), each cut in three places by runs of 1-12 separators: all but 2 found."""
    import random
    import string

    rng = random.Random(16)
    missed = 0
    for _ in range(2000):
        token = "hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34))
        cuts = sorted(rng.sample(range(1, len(token)), 3))
        parts = [token[a:b] for a, b in zip([0, *cuts], [*cuts, len(token)])]
        missed += not rules.hf_token_in("".join(part + "".join(rng.choice(" .-_~!+=/\n") for _ in range(
            rng.randint(1, 12))) for part in parts))
    assert missed <= 2, missed


def test_hf_before_the_projects_own_prose_seldom_reads_as_a_token():
    """The other side of HF_TOKEN_LOWER_PAIR_SHARE: 'hf_' put before 2,000 seeded words of docs/*.md
    (prose, tables, SKU names, figures: denser than what goes in a tag) reads as a token for 38 of
    them (1.9%; the finder before, with at most three separators, 41; without the lower-case pairs
    test, 8%). The bound leaves room for the docs to grow."""
    import random

    text = "\n".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))
    starts = [m.start() for m in re.finditer(r"(?<![A-Za-z0-9])[A-Za-z]", text)]
    sample = random.Random(17).sample(starts, 2000)
    flagged = sum(rules.hf_token_in("hf_" + text[start:start + 300]) for start in sample)
    assert flagged <= 60, flagged


# Not tokens, though long and random (the pack's key finder has its own view of hex and base64 in tags)
NOT_TOKENS = ["hf_revision: 4f2a9c1e0b3d5a7f9e8d7c6b5a4f3e2d1c0b9a8f", "sha256:" + "4f2a9c1e0b3d5a7f" * 4,
              "0d3f6a4e-8b1c-4f2e-9a7d-5c6b8e9f0a1b 72f988bf-86f1-41af-91ab-2d7cd011db47",
              "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2MoYgw8wt",
              "hf_hub_download(repo_id='swiss-ai/Apertus-8B-Instruct-2509', token=os.environ['HF_TOKEN'])",
              "the hf_token secret is read by the vLLM pod through the Secrets Store CSI driver on every start"]


@pytest.mark.parametrize("text", NOT_TOKENS)
def test_digests_uuids_base64_and_prose_are_not_tokens(text):
    assert not rules.hf_token_in(text) and rules.redact_hf_tokens(text) == text
    assert not rules.hf_token_in_pieces(text.split())


def test_a_token_split_across_tags_is_found_in_any_order():
    import itertools

    parts = [TOKEN[:11], TOKEN[11:19], TOKEN[19:27], TOKEN[27:]]
    for order in itertools.permutations(parts):
        assert rules.hf_token_in_pieces(["team", "ml-platform", *order, "owner", "alice"]), order
    assert rules.hf_token_in_pieces(["x", "h", "y", TOKEN[1:]])  # 'h' in one, 'f_...' in another
    ordinary = ["Team", "ML-Platform", "Owner", "hf_team", "CostCenter", "4711", "Environment", "Production",
                "Project", "Apertus", "hf_cache", "/mnt/models"]
    assert not rules.hf_token_in_pieces(ordinary)
    assert not rules.hf_token_in_pieces(["owner", "hf_team", "commit", "4f2a9c1e0b3d5a7f9e8d7c6b5a4f3e2d1c0b9a8f"])


ORDINARY_TAGS = ["team", "ml-platform", "owner", "alice", "cost-center", "4711", "environment", "production", "Team",
                 "ML-Platform", "Owner", "CostCenter", "Environment", "Production", "Project", "Apertus",
                 "/mnt/models", "eu-west", "v2", "Finance", "Ops", "qa", "DataScience"]


def test_tokens_in_shuffled_tags_are_found_and_ordinary_tags_beside_an_hf_word_are_not():
    """HF_TOKEN_UNWORDED's figures: 600 seeded letter tokens cut into 3 to 6 pieces, shuffled among up to
    six ordinary tag names and values: 1 missed; 600 sets of 3-10 ordinary ones with an 'hf_' word among
    them: 2 refused (the finder before: 262 missed, 139 refused)."""
    import random
    import string

    rng = random.Random(18)
    missed = refused = 0
    for trial in range(600):
        token = "hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34))
        cuts = sorted(rng.sample(range(4, len(token)), 2 + trial % 4))
        pieces = [token[a:b] for a, b in zip([0, *cuts], [*cuts, len(token)])] + rng.sample(ORDINARY_TAGS, trial % 7)
        rng.shuffle(pieces)
        missed += not rules.hf_token_in_pieces(pieces)
        ordinary = rng.sample(ORDINARY_TAGS, 3 + trial % 8) + [rng.choice(["hf_team", "hf_cache", "hf_models"])]
        rng.shuffle(ordinary)
        refused += rules.hf_token_in_pieces(ordinary)
    assert missed <= 2 and refused <= 6, (missed, refused)


# ---------------------------------------------------------------- tag names ignore case

def test_tag_names_that_differ_only_in_case_are_found():
    assert rules.case_clashing_tag_names(["team", "owner", "Team"]) == ("team", "Team")
    assert rules.case_clashing_tag_names(["CostCenter", "COSTCENTER"]) == ("CostCenter", "COSTCENTER")
    assert rules.case_clashing_tag_names(["\u00c9quipe", "\u00e9quipe"]) == ("\u00c9quipe", "\u00e9quipe")
    assert rules.case_clashing_tag_names(["team", "owner", "cost-center"]) is None
    assert rules.case_clashing_tag_names([]) is None


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


# a source that is no range -> what its message must say: what is wrong, and what would work
RANGE_MESSAGES = {
    "10.0.0.0/33": ["prefix length /33", "IPv4 address has 32 bits", "/0 to /32"],
    "2001:db8::/129": ["prefix length /129", "128 bits", "2001:db8::/48"],
    "10.0.0.0/x": ["'/x'", "not a number", "/0 to /32"],
    "300.1.2.3/24": ["Octet 300 (> 255)", "203.0.113.0/24"],
    "10.0.0/24": ["Expected 4 octets", "203.0.113.0/24"],
    "*": ["mean anyone", "give CIDRs"],
    "AzureCloud": ["service tags", "give CIDRs"],
}


@pytest.mark.parametrize("source", RANGE_MESSAGES)
def test_a_source_that_is_no_range_is_told_what_is_wrong_and_what_would_work(source):
    [problem] = rules.source_range_problems([source])
    assert "\n" not in problem and all(part in problem for part in RANGE_MESSAGES[source]), problem
    nsg = {"securityRules": [{"name": "ssh", "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                              "sourcePortRange": "*", "destinationAddressPrefix": "*", "priority": 100.0,
                              "destinationPortRange": "22", "sourceAddressPrefix": source}]}
    found = pack_refuses("no-public-ssh", "azure-native:network:NetworkSecurityGroup", nsg)
    assert any(problem in message for message in found), found


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


def test_thousands_of_pieces_mentioning_hf_are_read_in_linear_time():
    """Attacker finding d2: a ConfigMap of 3,000 keys whose values mention 'hf_hub_download' took ~250 s
    (every beginning tried against every other piece, and a word pattern that backtracked exponentially
    on a long run). Each distinct run is read once now; a long piece that is not words costs nothing."""
    import time

    pieces = [piece for index in range(3000)
              for piece in (f"SHARD_{index}", f"hf_hub_download org/model shard_{index}")]
    pieces.append("a" * 5000 + "B")  # the pattern that backtracked
    started = time.process_time()
    assert not rules.hf_token_in_pieces(pieces)
    assert time.process_time() - started < 2.0  # ~0.2 s here; generous for a loaded machine
    # still found among them: a token cut in two pieces
    assert rules.hf_token_in_pieces([*pieces[:200], TOKEN[:17], TOKEN[17:]])


def test_pieces_past_the_budget_are_taken_to_hold_a_token():
    # thousands of beginnings, each tried against thousands of distinct pieces: the worse case, at once
    pieces = [f"hf_ab{index}" for index in range(400)] + [f"word{chr(97 + index % 26)}{index}x"
                                                          for index in range(400)]
    assert rules.hf_token_in_pieces(pieces)
    assert not rules.hf_token_in_pieces(pieces[:20] + pieces[400:420])  # a few are read, not refused
