"""What every host takes and creates first: args, resource group, API key, secrets."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Mapping

import pulumi
import pulumi_random as random
from pulumi_azure_native import resources

from .serving import ConfigError, ServingPlan
from .serving.references import check_hf_repo_id, check_image_reference
from .serving.regions import normalize_region

PROJECT_TAG = {"managed-by": "apertus-azure"}
DEFAULT_VNET_ADDRESS_SPACE = "10.240.0.0/16"  # the VNet of hosts containerapp and aks
VNET_KEY = "vnetAddressSpace"

# The key is the only gate in front of vLLM's /v1 (a bearer token compared with --api-key). At
# least 32 characters (random letters and digits: 32 x log2(62) ~ 190 bits), in the characters of
# RFC 6750's b64token (bearer token syntax: A-Z a-z 0-9 - . _ ~ + / and "="), so it travels as is.
API_KEY_MIN_LENGTH = 32
API_KEY_ALPHABET = re.compile(r"[A-Za-z0-9._~+/=-]+")
TAG_VALUE_MAX = 256  # Azure tag values: at most 256 characters (tag-resources, Microsoft Learn)


def check_api_key(key: str) -> str:
    """The API key if it is strong enough to be the only gate; a ConfigError that never shows it."""
    def refuse(why: str) -> ConfigError:
        return ConfigError("apiKey", None, f"is refused ({len(key)} characters): {why}",
                           "set a random key of at least 32 characters, e.g. pulumi config set "
                           "--secret apiKey \"$(openssl rand -base64 36)\", or remove apiKey to "
                           "have one generated")
    if not key:
        raise refuse("it is empty, which would leave the API open")
    if any(character.isspace() for character in key):
        raise refuse("it contains whitespace")
    if API_KEY_ALPHABET.fullmatch(key) is None:
        raise refuse("it has characters outside A-Z a-z 0-9 . _ ~ + / = -")
    if len(key) < API_KEY_MIN_LENGTH:
        raise refuse(f"it is shorter than {API_KEY_MIN_LENGTH} characters")
    return key


@dataclass(frozen=True)
class ServingArgs:
    """Inputs shared by the three hosts. Host args add their own fields to these.

    ``plan`` decides what runs; ``hf_token`` and ``api_key`` are secrets (``api_key`` is
    generated when omitted); without ``resource_group_name`` the component creates one.
    """

    plan: ServingPlan
    location: str
    hf_token: pulumi.Input[str] | None = None
    api_key: pulumi.Input[str] | None = None
    resource_group_name: pulumi.Input[str] | None = None
    allowed_cidrs: tuple[str, ...] = ()
    internal: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Checks every host needs. The region is stored normalised (``West Europe`` ->
        ``westeurope``), so every name derived from it is Azure's. A plain ``str`` API key is
        checked here; an ``Output`` one is checked when its value is known, so a weak key given as
        an Output fails at deploy, not at construction."""
        if self.plan.model.gated and self.hf_token is None:
            raise ConfigError("hfToken", None, f"is required: {self.plan.model.hf_id} is gated",
                              "pass a Hugging Face token with access to the model")
        object.__setattr__(self, "location", normalize_region(self.location))
        check_hf_repo_id("model.id", self.plan.model.hf_id)
        check_image_reference("vllmImage", self.plan.launch.image)
        if isinstance(self.api_key, str):
            check_api_key(self.api_key)
        elif self.api_key is not None:
            object.__setattr__(self, "api_key", pulumi.Output.from_input(self.api_key).apply(check_api_key))
        for name, value in self.all_tags.items():
            if len(value) > TAG_VALUE_MAX:
                raise ConfigError(f"tags.{name}", value[:40] + "...",
                                  f"is longer than {TAG_VALUE_MAX} characters, which Azure refuses",
                                  "shorten the value")

    @property
    def all_tags(self) -> dict[str, str]:
        return {**PROJECT_TAG, "model": short_model_name(self.plan.model.hf_id), **self.tags}


def short_model_name(hf_id: str) -> str:
    return hf_id.rsplit("/", 1)[-1]


def dns_safe(text: str, limit: int) -> str:
    """Lowercase letters, digits and single hyphens, starting with a letter, at most ``limit``."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "a" + cleaned
    return cleaned[:limit].rstrip("-")


def resource_group(name: str, args: ServingArgs, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The caller's resource group, or a new one named after the component."""
    if args.resource_group_name is not None:
        return pulumi.Output.from_input(args.resource_group_name)
    group = resources.ResourceGroup(f"{name}-rg", location=args.location, tags=args.all_tags,
                                    opts=pulumi.ResourceOptions(parent=parent))
    return group.name


def api_key(name: str, args: ServingArgs, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The caller's key, or 48 random letters and digits (~285 bits); always a secret."""
    if args.api_key is not None:
        return pulumi.Output.secret(args.api_key)
    generated = random.RandomPassword(f"{name}-api-key", length=48, special=False,
                                      opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.result)


def vnet_range(address_space: str, largest_prefix: int, layout: str) -> ipaddress.IPv4Network:
    """The ``vnetAddressSpace`` setting as an IPv4 network of at least ``/largest_prefix``."""
    try:
        vnet = ipaddress.ip_network(address_space, strict=True)
    except ValueError as error:
        raise ConfigError(VNET_KEY, address_space, f"is not a valid network ({error})",
                          f"give an IPv4 range like {DEFAULT_VNET_ADDRESS_SPACE}") from None
    if vnet.version != 4 or vnet.prefixlen > largest_prefix:
        raise ConfigError(VNET_KEY, address_space,
                          f"must be an IPv4 range of /{largest_prefix} or larger: {layout}",
                          f"give a range like {DEFAULT_VNET_ADDRESS_SPACE}")
    return vnet


def reject_overlaps(address_space: str, network: ipaddress.IPv4Network,
                    reserved: list[tuple[ipaddress.IPv4Network, str]]) -> None:
    """A ConfigError naming the first reserved range ``network`` overlaps, and why it is reserved."""
    for other, why in reserved:
        if network.overlaps(other):
            raise ConfigError(VNET_KEY, address_space, f"overlaps {other}, {why}",
                              f"give a range clear of {', '.join(str(r) for r, _ in reserved)}, "
                              f"like {DEFAULT_VNET_ADDRESS_SPACE}")
