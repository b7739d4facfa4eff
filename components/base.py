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

PROJECT_TAG = {"managed-by": "apertus-azure"}
DEFAULT_VNET_ADDRESS_SPACE = "10.240.0.0/16"  # the VNet of hosts containerapp and aks
VNET_KEY = "vnetAddressSpace"


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
        if self.plan.model.gated and self.hf_token is None:
            raise ConfigError("hfToken", None, f"is required: {self.plan.model.hf_id} is gated",
                              "pass a Hugging Face token with access to the model")

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
