"""Read and validate the stack configuration, once, before any resource is registered.

This is the only module that calls ``pulumi.Config``. Every mistake becomes a ``ConfigError``
(a ``pulumi.RunError``, printed without a stack trace) naming the key, the value, why, and a fix.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import pulumi
from pulumi.runtime import config as runtime_config

from components.serving import (DEFAULT_IMAGE, HOSTS, KV_CACHE_DTYPES, QUANTIZATIONS, ConfigError, ModelSpec,
                                ServingPlan, resolve_model)
from components.base import check_api_key
from components.serving.references import check_hf_repo_id, check_image_reference
from components.serving.regions import LOCATION_KEY, normalize_region

NAMESPACE = "apertus-azure"

# Default replica bounds per host: Container Apps scales to zero; AKS keeps one pod warm.
DEFAULT_REPLICAS = {"containerapp": (0, 1), "vm": (1, 1), "aks": (1, 1)}


class ConfigReader:
    """Typed access to ``apertus-azure:*`` keys; a value of the wrong type is a ConfigError."""

    def __init__(self, namespace: str = NAMESPACE):
        self._config = pulumi.Config(namespace)

    def is_set(self, key: str) -> bool:
        return self._config.get(key) is not None

    def raw(self, key: str) -> Any:
        """The value as YAML gave it: objects and lists decoded from JSON, else the string."""
        text = self._config.get(key)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text

    def string(self, key: str, default: str | None = None) -> str | None:
        text = self._config.get(key)
        if text is None:
            return default
        if not text.strip():
            raise ConfigError(key, text, "is empty", "give a value or remove the key")
        return text

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.string(key, default)
        if value is None:
            raise ConfigError(key, None, "is required",
                              f"run: pulumi config set {key} <{'|'.join(choices)}>")
        if value not in choices:
            raise ConfigError(key, value, "is not a valid choice", f"use one of {', '.join(choices)}")
        return value

    def integer(self, key: str, default: int | None = None, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        return self._number(key, default, int, minimum, maximum)

    def number(self, key: str, default: float | None = None, minimum: float | None = None,
               maximum: float | None = None) -> float | None:
        return self._number(key, default, float, minimum, maximum)

    def _number(self, key, default, kind: Callable, minimum, maximum):
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                kind is int and not float(value).is_integer()):
            raise ConfigError(key, value, f"is not {'a whole number' if kind is int else 'a number'}",
                              f"give a {'whole ' if kind is int else ''}number")
        value = kind(value)
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            bounds = (f"between {minimum} and {maximum}" if minimum is not None and maximum is not None
                      else f"at least {minimum}" if minimum is not None else f"at most {maximum}")
            raise ConfigError(key, value, f"must be {bounds}", f"give a value {bounds}")
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(key, value, "is not a boolean", "use true or false")
        return value

    def string_list(self, key: str) -> list[str]:
        value = self.raw(key)
        if value is None:
            return []
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, value, "is not a list of strings", "give a YAML list of strings")
        return value

    def string_map(self, key: str) -> dict[str, str]:
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(key, value, "is not a map of strings", "give a YAML map like {team: ml}")
        return value

    def secret(self, key: str) -> pulumi.Output[str] | None:
        """A key that must be a secret: stored in plain text in the stack file it is refused."""
        if self._config.get(key) is None:
            return None
        if not is_secret_key(self._config.full_key(key)):
            raise ConfigError(key, None, "is stored in plain text in the stack file",
                              f"store it encrypted: pulumi config set --secret {key} <value> "
                              "(and rotate it: the plain text is in the file's history)")
        return self._config.get_secret(key)

    def secret_text(self, key: str) -> str | None:
        """The plain text of a secret key, for validation only; never store or print it."""
        return self._config.get(key)


def is_secret_key(full_key: str) -> bool:
    """Whether the engine marked a config key secret (``pulumi config set --secret``).

    Under ``pulumi up`` the language host passes the secret keys in PULUMI_CONFIG_SECRET_KEYS and
    pulumi-language-python-exec hands them to ``set_all_config``; both are consulted."""
    return (runtime_config.is_config_secret(full_key)
            or full_key in runtime_config.get_config_secret_keys_env())


def parse_cidrs(key: str, values: list[str]) -> tuple[str, ...]:
    """IPv4/IPv6 addresses or networks, normalised; host bits set is a mistake worth naming."""
    cidrs = []
    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as error:
            hint = ""
            try:
                hint = f"; did you mean {ipaddress.ip_network(value, strict=False)}?"
            except ValueError:
                pass
            raise ConfigError(key, value, f"is not a valid CIDR ({error}{hint})",
                              "give networks like 203.0.113.0/24 or single addresses like 198.51.100.7")
        if network.version == 6:
            raise ConfigError(key, value, "is IPv6, but no host here takes IPv6 traffic (and Azure "
                              "rejects IPv4 and IPv6 prefixes in one network security rule)",
                              "give IPv4 networks or addresses")
        cidrs.append(str(network))
    return tuple(cidrs)


# Azure resource tags: name at most 512 characters (storage accounts 128) without < > % & \ ? /,
# value at most 256 (learn.microsoft.com/azure/azure-resource-manager/management/tag-resources)
TAG_NAME_MAX, TAG_VALUE_MAX, TAG_NAME_FORBIDDEN = 128, 256, set('<>%&\\?/')


# at most 50 tags per resource (same page); the components add "managed-by" and "model"
OWN_TAGS = ("managed-by", "model")
TAG_COUNT_MAX = 50 - len(OWN_TAGS)


def check_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > TAG_COUNT_MAX:
        raise ConfigError("tags", f"{len(tags)} tags", f"is more than {TAG_COUNT_MAX} (Azure allows 50 "
                          f"per resource and the components add {', '.join(OWN_TAGS)})", "drop some tags")
    for name, value in tags.items():
        if name.lower() in OWN_TAGS and name not in OWN_TAGS:
            raise ConfigError("tags", name, f"differs from the components' own tag '{name.lower()}' only "
                              "by case, and Azure tag names ignore case", f"spell it '{name.lower()}'")
        if not name or len(name) > TAG_NAME_MAX or TAG_NAME_FORBIDDEN & set(name):
            raise ConfigError("tags", name, f"is not a valid Azure tag name (1-{TAG_NAME_MAX} characters, "
                              "none of < > % & \\ ? /)", "rename the tag")
        if len(value) > TAG_VALUE_MAX:
            raise ConfigError(f"tags.{name}", value[:40] + "...", f"is longer than {TAG_VALUE_MAX} characters",
                              "shorten the value")
    return tags


@dataclass(frozen=True)
class StackSettings:
    """The validated common settings every host uses."""

    host: str
    location: str
    model: ModelSpec
    gpu: str | None
    max_model_len: int | None
    gpu_memory_utilization: float
    quantization: str
    kv_cache_dtype: str
    spot: bool
    min_replicas: int
    max_replicas: int
    allowed_cidrs: tuple[str, ...]
    internal: bool
    vllm_image: str
    hf_token: pulumi.Output[str] | None = field(repr=False)
    api_key: pulumi.Output[str] | None = field(repr=False)
    tags: dict[str, str] = field(default_factory=dict)


def read_settings(reader: ConfigReader | None = None) -> StackSettings:
    reader = reader or ConfigReader()
    host = reader.choice("host", HOSTS)
    location = pulumi.Config("azure-native").get("location")
    if not location:
        raise ConfigError(LOCATION_KEY, None, "is required (the Azure region)",
                          "run: pulumi config set azure-native:location swedencentral")
    location = normalize_region(location)
    model = resolve_model(reader.raw("model"))
    check_hf_repo_id("model.id", model.hf_id)
    spot = reader.boolean("spot")
    if spot and host == "containerapp":
        raise ConfigError("spot", True, "Container Apps serverless GPUs have no spot capacity",
                          "remove spot, or use host 'vm' or 'aks' for spot GPUs")
    default_min, default_max = DEFAULT_REPLICAS[host]
    min_replicas = reader.integer("minReplicas", default_min, minimum=0)
    max_replicas = reader.integer("maxReplicas", max(default_max, min_replicas), minimum=1)
    if min_replicas > max_replicas:
        raise ConfigError("minReplicas", min_replicas, f"is above maxReplicas ({max_replicas})",
                          f"set minReplicas <= {max_replicas} or raise maxReplicas")
    if host == "vm" and (min_replicas, max_replicas) != (1, 1):
        raise ConfigError("maxReplicas" if max_replicas != 1 else "minReplicas",
                          max_replicas if max_replicas != 1 else min_replicas,
                          "host 'vm' runs exactly one server", "remove the key, or use host 'aks' "
                          "or 'containerapp' for several replicas")
    hf_token = reader.secret("hfToken")
    if model.gated and hf_token is None:
        raise ConfigError("hfToken", None, f"is required: {model.hf_id} is gated on Hugging Face",
                          "accept the model's terms on huggingface.co, then run: "
                          "pulumi config set --secret hfToken <token>")
    api_key = reader.secret("apiKey")
    if api_key is not None:
        check_api_key(reader.secret_text("apiKey") or "")
    vllm_image = reader.string("vllmImage")
    if vllm_image is not None:
        check_image_reference("vllmImage", vllm_image)
    elif model.image is not None:
        check_image_reference("model.image", model.image)
    tags = check_tags(reader.string_map("tags"))
    return StackSettings(
        host=host,
        location=location,
        model=model,
        gpu=reader.string("gpu"),
        max_model_len=reader.integer("maxModelLen", minimum=1),
        gpu_memory_utilization=reader.number("gpuMemoryUtilization", 0.9),
        quantization=reader.choice("quantization", QUANTIZATIONS, "none"),
        kv_cache_dtype=reader.choice("kvCacheDtype", KV_CACHE_DTYPES, "auto"),
        spot=spot,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        allowed_cidrs=parse_cidrs("allowedCidrs", reader.string_list("allowedCidrs")),
        internal=reader.boolean("internal"),
        vllm_image=vllm_image or model.image or DEFAULT_IMAGE,
        hf_token=hf_token,
        api_key=api_key,
        tags=tags,
    )


def serving_args(settings: StackSettings, plan: ServingPlan) -> dict[str, Any]:
    """The ``ServingArgs`` fields every host's args take, from the common settings."""
    return dict(plan=plan, location=settings.location, hf_token=settings.hf_token,
                api_key=settings.api_key, allowed_cidrs=settings.allowed_cidrs,
                internal=settings.internal, tags=settings.tags)
