"""Checks for every setting, shared by the stack config (stacks/) and the components' args.

Plain functions: each takes the key as users spell it (camelCase, as in Pulumi config and in the
component package schema) and a value, and returns the value normalised or raises a one-line
``ConfigError``. stacks/config.py decodes config text and hands the values here; the components'
``*Args`` call the same functions on what a program passes, so both refuse the same things.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, args_class
from .rules import (HF_TOKEN_PATTERN, case_clashing_tag_names, hf_token_in, hf_token_in_pieces, not_a_source_problem,
                    range_syntax_problem)

# Replica bounds when not set: Container Apps scales to zero; AKS keeps one pod warm; a VM is one server.
DEFAULT_REPLICAS = {"containerapp": (0, 1), "vm": (1, 1), "aks": (1, 1)}


def is_output(value: Any) -> bool:
    return hasattr(value, "apply") and hasattr(value, "is_known")  # a pulumi.Output


def plain(key: str, value: Any) -> Any:
    """Settings that decide which resources exist must be known before deployment."""
    if is_output(value):
        raise ConfigError(key, None, "is an Output, but it decides which resources exist, so it must "
                          "be a plain value known before deployment",
                          "compute it before the program runs (e.g. from pulumi.Config), not from another "
                          "resource's output")
    return value


def plain_items(key: str, values: Any) -> None:
    """No Output inside a list or map whose values are checked and read before deployment."""
    items = values.items() if isinstance(values, Mapping) else enumerate(values)
    for index, value in items:
        if is_output(value):
            raise ConfigError(key, None, f"holds an Output (at {index!r}), but its values are checked "
                              "and used before deployment, so they must be plain",
                              "pass plain strings (an Output's value is known only while deploying)")


def text(key: str, value: Any) -> str:
    plain(key, value)
    if not isinstance(value, str):
        raise ConfigError(key, value, "is not a string", "put it in quotes so YAML reads it as text",
                          args_fix="pass a str")
    if not value.strip():
        raise ConfigError(key, value, "is empty", "give a value or remove the key",
                          args_fix="give a value or leave the argument out")
    return value


def optional_text(key: str, value: Any) -> str | None:
    return None if value is None else text(key, value)


def string_input(key: str, value: Any, secret: bool = False) -> Any:
    """A string or an Output of one (None: not given); a secret's value is never shown."""
    if value is None or hasattr(value, "apply") or hasattr(value, "__await__"):
        return value
    if not isinstance(value, str) or not value.strip():
        shown = None if secret else value
        raise ConfigError(key, shown, "is empty" if isinstance(value, str) else f"is {type(value).__name__}, "
                          "not a string", "pass a string or an Output of one")
    return value


# Component inputs whose stack config key has another name (docs/library.md): their
# errors use the config key and name the input; the component provider reports the input's name.
CONFIG_KEYS = {"concurrentRequests": "scaleConcurrentRequests"}
INPUT_NAMES = {config_key: name for name, config_key in CONFIG_KEYS.items()}


def naming_input(error: ConfigError) -> ConfigError:
    """``error`` about a config key, also naming the component input when its name differs."""
    name = INPUT_NAMES.get(error.key)
    if name is None or args_class() is not None:  # a Python program: the message names the argument
        return error
    return ConfigError(error.key, error.value, f"{error.why} (component input {name})", error.fix,
                       args_fix=error.args_fix, args_why=error.args_why)


def whole_number(key: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    return int(_number(key, value, int, minimum, maximum))


def number(key: str, value: Any, minimum: float | None = None, maximum: float | None = None) -> float:
    return float(_number(key, value, float, minimum, maximum))


def _number(key, value, kind, minimum, maximum):
    plain(key, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind is int and isinstance(value, float) and not value.is_integer()):
        wanted = "a whole number" if kind is int else "a number"
        text = isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+(\.[0-9]+)?\s*", value)
        example = value.strip() if text and (kind is float or float(value).is_integer()) else \
            ("4" if kind is int else "0.9")
        if value is None or (isinstance(value, str) and not value.strip()):  # `key:`, `~`, `''`
            raise ConfigError(key, value, "is empty", f"remove the key to use its default, or write digits, e.g. "
                              f"{example}", args_fix=f"leave it out to use its default, or pass "
                              f"{'an int' if kind is int else 'a float'}, e.g. {example}")
        raise ConfigError(key, value, f"is a string, not {wanted}" if text else f"is not {wanted}",
                          f"write digits only, without quotes, e.g. {example}",
                          args_fix=f"pass {'an int' if kind is int else 'a float'}, e.g. {example}")
    try:
        value = kind(value)
    except OverflowError:  # an integer of hundreds of digits, as a float
        value = math.inf if value > 0 else -math.inf
    if isinstance(value, float) and math.isnan(value):
        raise ConfigError(key, value, f"is not {'a whole number' if kind is int else 'a number'}",
                          "write digits only, e.g. 0.9")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        bounds = (f"between {minimum} and {maximum}" if minimum is not None and maximum is not None
                  else f"at least {minimum}" if minimum is not None else f"at most {maximum}")
        nearest = kind(minimum if minimum is not None and value < minimum else maximum)
        raise ConfigError(key, value, f"must be {bounds}",
                          f"use {nearest if kind is int else f'{nearest:g}'}, the nearest allowed value")
    return value


def boolean(key: str, value: Any) -> bool:
    plain(key, value)
    if not isinstance(value, bool):
        raise ConfigError(key, value, "is not a boolean", "use true or false")
    return value


def string_list(key: str, value: Any) -> list[str]:
    plain(key, value)
    if value is None:
        return []
    if isinstance(value, str):
        raise ConfigError(key, value, "is one string, not a list of strings",
                          f"give a list, e.g. [{value!r}]")
    if isinstance(value, (list, tuple)):
        plain_items(key, value)
    if isinstance(value, Mapping) or not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) for v in value):
        raise ConfigError(key, value, "is not a list of strings",
                          "write one '- item' line per entry under the key, each item a string",
                          args_fix="pass one str per entry, like ['203.0.113.0/24']")
    return list(value)


def string_map(key: str, value: Any) -> dict[str, str]:
    plain(key, value)
    if value is None:
        return {}
    if isinstance(value, Mapping):
        plain_items(key, value)
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "is not a map of strings", "give a YAML map like {team: ml}",
                          args_fix="pass a dict of str, like {'team': 'ml'}")
    def as_written(scalar: Any) -> str:  # YAML's spelling of what it read as a number, boolean or nothing
        return {True: "true", False: "false", None: ""}.get(scalar, scalar) if isinstance(
            scalar, (bool, type(None))) else str(scalar)

    for name, item in value.items():
        if not isinstance(name, str):
            raise ConfigError(key, as_written(name), "is a tag name YAML reads as a number or boolean, not text",
                              f'quote it: "{as_written(name)}": ...',
                              args_fix=f"use the str {as_written(name)!r}",
                              args_why="is a tag name that is a number or boolean, not text")
        if isinstance(item, (bool, int, float, type(None))):  # `cost: 12`, `owner:`
            raise ConfigError(key, f"{name}: {as_written(item)}", "is not text: a tag's value is a string",
                              f'quote it: {name}: "{as_written(item)}"',
                              args_fix=f"pass a str: {{{name!r}: {as_written(item)!r}}}")
        if not isinstance(item, str):
            raise ConfigError(key, name, f"has a {type(item).__name__} as its value, not text",
                              "give each tag one string value")
    return dict(value)


ANYONE = frozenset({"*", "any", "internet", "0.0.0.0", "all"})  # written to mean "every source"


def parse_cidrs(key: str, values: Any) -> tuple[str, ...]:
    """IPv4 addresses or networks, normalised; host bits set is a mistake worth naming."""
    cidrs = []
    for value in string_list(key, values):
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as error:
            try:
                hint = f"; did you mean {ipaddress.ip_network(value, strict=False)}?"
            except ValueError:  # not a range at all: the shared rule says why ('/33', octets, a tag)
                why, _, fix = range_syntax_problem(value).partition("; ")
                if key == "allowedCidrs" and str(value).strip().lower() in ANYONE:
                    fix += ("; or leave allowedCidrs out: by default any address may connect (internal "
                            "stacks: private ranges), the API key still required")
                raise ConfigError(key, value, why, fix or "give networks like 203.0.113.0/24 or single "
                                  "addresses like 198.51.100.7") from None
            raise ConfigError(key, value, f"is not a valid CIDR ({error}{hint})",
                              "give networks like 203.0.113.0/24 or single addresses like 198.51.100.7")
        if network.version == 6:
            raise ConfigError(key, value, "is IPv6, but no host here takes IPv6 traffic (and Azure "
                              "rejects IPv4 and IPv6 prefixes in one network security rule)",
                              "give IPv4 networks or addresses")
        problem = not_a_source_problem(network)  # the shared rule: the policy pack refuses it too
        if problem:
            raise ConfigError(key, value, problem, "give the public range your clients connect from, like "
                              "203.0.113.0/24 (your own address: curl -s https://api.ipify.org)")
        cidrs.append(str(network))
    return tuple(dict.fromkeys(cidrs))  # a repeated source once (an NSG rule lists each prefix once)


# Azure resource tags: name at most 512 characters (storage accounts 128) without < > % & \ ? /,
# value at most 256 (learn.microsoft.com/azure/azure-resource-manager/management/tag-resources)
TAG_NAME_MAX, TAG_VALUE_MAX, TAG_NAME_FORBIDDEN = 128, 256, set('<>%&\\?/')
# at most 50 tags per resource (same page); the components add these (components/base.py all_tags)
OWN_TAGS = ("managed-by", "model", "apertus-exposure")
TAG_COUNT_MAX = 50 - len(OWN_TAGS)
# An internal stack (or an AKS private cluster) also tags Private DNS zones and their virtual network
# links, which take less. "Azure DNS zones and Traffic Manager doesn't support the use of spaces in
# the tag or a tag that starts with a number. Azure DNS tag names do not support special and unicode
# characters", and "Azure Private DNS (Zone, A records, and virtual network link)" "only support 15
# tags" (same page, Limitations; MicrosoftDocs/azure-docs PR 124115 adds parentheses; a private zone
# drops a tag named with ':' without an error, Azure/azure-rest-api-specs issue 11748). The name
# pattern is OpenShift's for every Azure resource it tags, for the same reason (openshift/enhancements
# azure_user_defined_tags.md): a letter first, then letters, digits, '_', '.', '-', and not ending in
# '.' or '-'.
DNS_TAG_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?", re.ASCII)
DNS_TAG_COUNT_MAX = 15 - len(OWN_TAGS)
# "Tag names cannot have the following prefixes which are reserved for Azure use: 'microsoft',
# 'azure', 'windows'" (ARM Tags_CreateOrUpdate, learn.microsoft.com/dotnet/api/azure.resourcemanager.
# resources.subscriptionresource.createorupdatepredefinedtag)
RESERVED_TAG_PREFIXES = ("microsoft", "azure", "windows")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
PRIVATE_DNS_WHY = "an internal stack (or an AKS private cluster) tags Private DNS zones and their links"


def check_tags(value: Any, private_dns: bool = False) -> dict[str, str]:
    """User tags every resource the components tag takes; ``private_dns``: those include Private DNS
    zones (an internal stack), whose tag names and count are narrower."""
    tags = string_map("tags", value)
    if len(tags) > TAG_COUNT_MAX:
        raise ConfigError("tags", f"{len(tags)} tags", f"is more than {TAG_COUNT_MAX} (Azure allows 50 "
                          f"per resource and the components add {', '.join(OWN_TAGS)})", "drop some tags")
    if private_dns and len(tags) > DNS_TAG_COUNT_MAX:
        raise ConfigError("tags", f"{len(tags)} tags", f"is more than {DNS_TAG_COUNT_MAX}: "
                          f"{PRIVATE_DNS_WHY}, which take at most 15 tags, and the components add "
                          f"{', '.join(OWN_TAGS)}",
                          "drop some tags (a JSON string in one tag's value can hold several)")
    for name, tag_value in tags.items():
        if hf_token_in(name):  # the name is not shown: it is the token
            raise ConfigError("tags", None, "has a tag name that looks like a Hugging Face token, and tags "
                              "are plain text on every resource",
                              "remove it; the token goes in hfToken (a secret)")
        if name.lower() in OWN_TAGS:
            raise ConfigError("tags", name, f"is the components' own tag '{name.lower()}' (Azure tag names "
                              "ignore case): the policy pack and cost reports rely on its value",
                              f"use another name; the components set {', '.join(OWN_TAGS)} themselves")
        if name.lower().startswith(RESERVED_TAG_PREFIXES):
            raise ConfigError("tags", name, "starts with a prefix Azure reserves for itself (microsoft, "
                              "azure, windows), so Azure refuses the tag", "rename the tag")
        for where, text in (("tags", name), (f"tags.{name}", tag_value)):
            if CONTROL_CHARACTERS.search(text):
                raise ConfigError(where, text, "holds a control character (newline, tab, ...), which "
                                  "tag names and values cannot carry", "remove it")
        if not name or len(name) > TAG_NAME_MAX or TAG_NAME_FORBIDDEN & set(name):
            raise ConfigError("tags", name, f"is not a valid Azure tag name (1-{TAG_NAME_MAX} characters, "
                              "none of < > % & \\ ? /)", "rename the tag")
        if private_dns and not DNS_TAG_NAME.fullmatch(name):
            raise ConfigError("tags", name, f"is not a valid Azure tag name here: {PRIVATE_DNS_WHY}, "
                              "and Azure DNS takes only names that start with a letter and hold letters, "
                              "digits, '_', '.' and '-' (no spaces, ':', parentheses or non-ASCII letters), "
                              "ending in a letter, digit or '_'", f"rename it, e.g. '{dns_tag_name(name)}'")
        if len(tag_value) > TAG_VALUE_MAX:
            raise ConfigError(f"tags.{name}", tag_value[:40] + "...",
                              f"is longer than {TAG_VALUE_MAX} characters", "shorten the value")
        if hf_token_in(tag_value):
            raise ConfigError(f"tags.{name}", None, "looks like a Hugging Face token, and tags are "
                              "plain text on every resource", "remove it; the token goes in hfToken (a secret)")
    clash = case_clashing_tag_names(tags)
    if clash:
        raise ConfigError("tags", f"{clash[0]}, {clash[1]}", "are one tag name to Azure, which ignores case in "
                          "tag names (ARM Tags API), so one of the two values would be lost",
                          "keep one of them")
    if hf_token_in_pieces([*tags, *tags.values()]):  # the names and values are not shown
        raise ConfigError("tags", None, "hold a Hugging Face token split across several tags (names or "
                          "values put together), and tags are plain text on every resource",
                          "remove those tags; the token goes in hfToken (a secret)")
    return tags


def dns_tag_name(name: str) -> str:
    """A name like ``name`` that Azure DNS takes: other characters become '-', a letter first."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.encode("ascii", "ignore").decode()).strip("-.")
    cleaned = cleaned if cleaned[:1].isalpha() else f"tag-{cleaned}".rstrip("-.")
    return cleaned[:TAG_NAME_MAX].rstrip("-.") or "tag"


def check_no_hf_token(key: str, value: Any, where: str) -> None:
    """A plain-text setting (an image reference, a model id, an email address) holds no Hugging Face
    token, in any shape the shared finder knows (``rules.hf_token_in``, which the policy pack uses)."""
    if hf_token_in(value):  # the value is not shown: it holds the token
        raise ConfigError(key, None, f"holds something shaped like a Hugging Face token, and {where} "
                          "is plain text", "remove it; the token goes in hfToken (a secret), and rotate it")


# Hugging Face user access tokens (the shape the policy pack looks for too; rules.hf_token_in also
# finds them with separators inside)
HF_TOKEN_LOOKING = HF_TOKEN_PATTERN


def check_no_secret_in_tags(tags: Mapping[str, str], secrets: dict[str, str | None]) -> None:
    """Tags are plain text on every resource: none may contain a secret's value (key -> value)."""
    for secret_key, secret in secrets.items():
        if not secret:
            continue
        for name, tag_value in tags.items():
            if secret in name:  # the name is not shown: it holds the secret
                raise ConfigError("tags", None, f"has a tag name that contains the value of {secret_key}, "
                                  "and tags are plain text on every resource", "remove that tag (and "
                                  f"rotate {secret_key})")
            if secret in tag_value:
                raise ConfigError(f"tags.{name}", None, f"contains the value of {secret_key}, and tags "
                                  "are plain text on every resource", "remove it from the tag (and "
                                  f"rotate {secret_key}: it is in the stack file's history)",
                                  args_fix=f"remove it from the tag (and rotate {secret_key})")
        pieces = [*tags, *tags.values()]
        if any(secret in first + second for i, first in enumerate(pieces)
               for j, second in enumerate(pieces) if i != j) or secret in "".join(pieces):
            raise ConfigError("tags", None, f"hold the value of {secret_key} split across two tags, and "
                              "tags are plain text on every resource",
                              f"remove those tags (and rotate {secret_key})")


# No host runs more replicas: Container Apps takes at most 1,000 (learn.microsoft.com/azure/
# container-apps/scale-app), AKS at most 1,000 nodes per node pool (AKS quotas and limits) of at most
# 8 GPUs, one replica each. Each host checks its own limit after this; the bound keeps a number of
# hundreds of digits out of the arithmetic that follows.
REPLICAS_MAX = 8000
# the nearest value a number past REPLICAS_MAX gets: the host's own limit (containerapp.MAX_REPLICAS; one VM)
HOST_REPLICAS_MAX = {"containerapp": 1000, "vm": 1}


def replica_bounds(host: str, min_replicas: Any, max_replicas: Any) -> tuple[int, int]:
    """Fewest and most serving replicas, with the host's defaults for what is None."""
    default_min, default_max = DEFAULT_REPLICAS[host]
    def count(key: str, value: Any, minimum: int) -> int:
        try:
            return whole_number(key, value, minimum=minimum, maximum=REPLICAS_MAX)
        except ConfigError as error:
            most = HOST_REPLICAS_MAX.get(host)
            if most is None or not error.why.startswith("must be between") or not (
                    isinstance(error.value, (int, float)) and error.value > REPLICAS_MAX):
                raise
            # past every host's limit: the nearest value this host takes, not one its own check refuses next
            if most == 1:
                raise ConfigError(key, error.value, f"is more than host '{host}' runs: one replica",
                                  f"remove {key}") from None
            raise ConfigError(key, error.value, f"must be between {minimum} and {most} on host '{host}'",
                              f"use {most}, the most it takes") from None

    low = default_min if min_replicas is None else count("minReplicas", min_replicas, 0)
    high = max(default_max, low) if max_replicas is None else count("maxReplicas", max_replicas, 1)
    if low > high:
        raise ConfigError("minReplicas", low, f"is above maxReplicas ({high})",
                          f"set minReplicas <= {high} or raise maxReplicas")
    if host == "vm" and (low, high) != (1, 1):
        # name the key the user set (an unset maxReplicas follows minReplicas up)
        key, value = (("minReplicas", low) if low != 1 or max_replicas is None else ("maxReplicas", high))
        raise ConfigError(key, value, "host 'vm' runs exactly one server", "remove the key, or use host "
                          "'aks' or 'containerapp' for several replicas",
                          args_fix="leave it out, or use AksGpuCluster or ContainerAppGpu for several "
                          "replicas")
    return low, high
