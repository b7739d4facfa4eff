"""No secret in a plain property (tags, labels, env values, command lines, custom data)."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .common import (
    normalised,
    CONTAINER_APP,
    K8S_CONFIG_MAP,
    MANDATORY,
    VIRTUAL_MACHINE,
    _label,
    aca_containers,
    get,
    items,
    k8s_containers,
    pod_template_metadata,
    rules,
)

HF_TOKEN_PATTERN = rules.HF_TOKEN_PATTERN  # the program refuses the same shape in tags (shared rule)
# A candidate key: a run of at least 32 characters (the shortest apiKey the project accepts,
# issue 8.2) from the alphabet apiKey allows, '/' and '.' included so a base64 key is one run
# (`openssl rand -base64 36` puts a '/' in most keys). UUIDs (identifiers such as client ids) and
# digests after 'sha256:' are taken out of the text first (so a UUID chosen as apiKey is not seen:
# in the hosts' plain properties UUIDs are client and tenant ids).
KEY_RUN = re.compile(r"[A-Za-z0-9._~+/=-]{32,}")
KEY_PIECE = re.compile(r"[A-Za-z0-9_~+=-]{32,}")  # the same cut at '/' and '.': a key at the end of a URL
UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
DIGEST_IN_TEXT = re.compile(r"\bsha(?:256|384|512):[0-9a-fA-F]+")
# A hex key: 16 or more hex digits (64 bits) standing alone, with a digit and a letter; outside
# hash-named places (below) the longest hex runs the hosts write are 12 (a UUID's last group). `openssl rand -hex 32` and keys
# like 'offline-test-api-key-5f1c9e2a7b0d4c8e' end in one; a repeated '9f9f...' has no entropy to
# measure, so hex is matched by shape, not by entropy.
HEX_RUN = re.compile(r"(?<![A-Za-z0-9])(?:[0-9a-f]{16,}|[0-9A-F]{16,})(?![A-Za-z0-9])")
# a place named for a hash (the AKS gateway's 'apertus/config-hash' annotation, 16 hex digits of a
# SHA-256, rolls the pods when their config changes) holds a digest, not a key
# (a whole word of the key name: 'checksum/config', 'GIT_SHA', 'config-hash'; not 'SHARED_KEY')
DIGEST_PLACE = re.compile(r"(?<![a-z0-9])(hash|checksum|digest|sha(1|256|512)?|commit)(?![a-z0-9])",
                          re.IGNORECASE)
# A run counts as random when its neighbouring characters change class (upper case, lower case,
# digit) at least once per CLASS_SWITCH_SHARE characters and its Shannon entropy is at least
# ENTROPY_FLOOR bits per character. Measured here on 5,000 random keys each (tests/test_policy.py
# keeps the figures honest): class switches per character, 0.1% quantile: a-z0-9 32 chars 0.12,
# A-Za-z0-9 32 chars 0.34, base64 of 36 bytes 0.33; entropy 0.1% quantile of a-z0-9 32 chars 3.82.
# The word-made runs in the three hosts' plain properties switch at most 0.12 per character
# (after UUIDs are taken out), so 0.15 separates them; it misses ~1 in 200 32-character
# lower-case-and-digit keys.
CLASS_SWITCH_SHARE = 0.15
ENTROPY_FLOOR = 3.5



# ---------------------------------------------------------------- secrets in plain places

def shannon_entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _char_class(char: str) -> str | None:
    if char.isdigit():
        return "digit"
    if char.isalpha():
        return "upper" if char.isupper() else "lower"
    return None


def class_switches(text: str) -> int:
    """Neighbouring characters of different classes (upper, lower, digit; punctuation ignored)."""
    classes = [_char_class(c) for c in text]
    return sum(1 for a, b in zip(classes, classes[1:]) if a and b and a != b)


def is_random(piece: str) -> bool:
    return (len(piece) >= 32 and any(c.isalpha() for c in piece) and any(c.isdigit() for c in piece)
            and class_switches(piece) >= CLASS_SWITCH_SHARE * len(piece)
            and shannon_entropy(piece) >= ENTROPY_FLOOR)


def secret_looking(text: str, digest_expected: bool = False) -> str | None:
    """What in ``text`` looks like a credential ('a Hugging Face token', 'a hex key', 'a random
    key'), or None. A guess from the text alone: the policy never learns the stack's real key.
    ``digest_expected``: the place is named for a hash, so hex runs in it are digests."""
    if HF_TOKEN_PATTERN.search(text):
        return "a Hugging Face token"
    text = DIGEST_IN_TEXT.sub(" ", UUID.sub(" ", text))
    if digest_expected:
        text = HEX_RUN.sub(" ", text)
    if any(re.search(r"[0-9]", run) and re.search(r"[A-Fa-f]", run) for run in HEX_RUN.findall(text)):
        return "a hex key"
    if any(is_random(run) for run in KEY_RUN.findall(text) + KEY_PIECE.findall(text)):
        return "a random key"
    return None


def _decoded_custom_data(value: Any) -> str:
    """VM custom data is base64 (compute API osProfile.customData); scan the decoded text."""
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return value


def plain_places(resource_type: str, props: Any) -> Iterator[tuple[str, Any]]:
    """(where, value) for every property that is never a secret store."""
    tags = get(props, "tags")
    if isinstance(tags, Mapping):
        for key, value in tags.items():
            yield f"tags.{key}", f"{key}={value}"
    if resource_type.startswith("kubernetes:"):
        for where, metadata in (("metadata", get(props, "metadata")),
                                ("pod template metadata", pod_template_metadata(resource_type, props))):
            for field in ("labels", "annotations"):
                values = get(metadata, field)
                if isinstance(values, Mapping):
                    for key, value in values.items():
                        yield f"{where}.{field}.{key}", value
        if resource_type == K8S_CONFIG_MAP and isinstance(get(props, "data"), Mapping):
            for key, value in get(props, "data").items():
                yield f"data.{key}", value
        containers = list(k8s_containers(resource_type, props))
    elif resource_type == CONTAINER_APP:
        containers = list(aca_containers(props))
    else:
        containers = []
    for container in containers:
        name = get(container, "name")
        for env in items(get(container, "env")):
            if get(env, "value") is not None:
                yield f"container '{name}' env {get(env, 'name')}", get(env, "value")
        for field in ("command", "args"):
            for index, value in enumerate(items(get(container, field))):
                yield f"container '{name}' {field}[{index}]", value
    if resource_type == VIRTUAL_MACHINE:
        yield "osProfile.customData", _decoded_custom_data(get(props, "osProfile", "customData"))
        yield "userData", _decoded_custom_data(get(props, "userData"))


def validate_no_plain_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where, value in plain_places(args.resource_type, args.props):
        if not isinstance(value, str):
            continue
        key = re.split(r"[.\s]", where)[-1]  # the tag, label, annotation, env or data key
        found = secret_looking(value, digest_expected=bool(DIGEST_PLACE.search(key)))
        if found:
            report(f"{_label(args)}: {where} holds {found}; pass secrets as Pulumi secrets through "
                   "Key Vault references, secretRef or secretKeyRef, never in plain properties")


no_plain_secrets = ResourceValidationPolicy(
    name="no-secrets-in-plain-properties",
    description="No Hugging Face token or random key appears in tags, Kubernetes labels, "
                "annotations or ConfigMaps, container env values or command lines, or VM custom "
                "data: secrets travel as Key Vault / secretRef / secretKeyRef references.",
    validate=normalised(validate_no_plain_secrets),
    enforcement_level=MANDATORY,
)


