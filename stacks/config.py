"""Read the stack configuration, once, before any resource is registered.

This is the only module that calls ``pulumi.Config``. It decodes config text into plain values
and hands them to the host component's args, whose checks (components/serving/checks.py) are
the same for a stack and for a program using the components: every mistake is one
``ConfigError`` (a ``pulumi.RunError``, printed without a stack trace) naming the key, the value,
why, and a fix.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.base import ServingArgs, check_api_key
from components.serving import HOSTS, ConfigError, checks
from components.serving.errors import CONFIG, forget_secrets, register_secret, speaking_of
from components.serving.monitoring import check_webhook_url
from components.serving.regions import LOCATION_KEY, normalize_region

from .stackfile import PROVIDER_SECRET_KEYS, plain_secret_finding

NAMESPACE = "apertus-azure"

# config key -> field of ServingArgs, for the settings every host takes
COMMON_FIELDS = {"model": "model", "gpu": "gpu", "maxModelLen": "max_model_len",
                 "gpuMemoryUtilization": "gpu_memory_utilization", "allowedCidrs": "allowed_cidrs",
                 "internal": "internal", "vllmImage": "vllm_image", "tags": "tags",
                 "quantization": "quantization", "kvCacheDtype": "kv_cache_dtype",
                 "alerts": "alerts", "alertEmails": "alert_emails", "actionGroupId": "action_group_id",
                 "logAnalyticsWorkspaceId": "log_analytics_workspace_id", "ttftSloSeconds": "ttft_slo_seconds",
                 "queueAlertThreshold": "queue_alert_threshold"}


class ConfigReader:
    """``apertus-azure:*`` keys as plain values: text as given, JSON objects and lists decoded."""

    def __init__(self, namespace: str = NAMESPACE):
        self._config = pulumi.Config(namespace)

    def is_set(self, key: str) -> bool:
        return self._config.get(key) is not None

    def raw(self, key: str) -> Any:
        """The value as YAML gave it: numbers, booleans, objects and lists decoded from JSON, else the string."""
        text = self._config.get(key)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text

    def text(self, key: str) -> str | None:
        """The value verbatim, for string settings ("1.35" stays a string)."""
        return self._config.get(key)

    def text_list(self, key: str) -> Any:
        """A YAML list, or one string of comma-separated items (handy on the command line)."""
        value = self.raw(key)
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.text(key)
        if value is None:
            raise ConfigError(key, None, "is required",
                              f"run: pulumi config set {key} <{'|'.join(choices)}>")
        if value not in choices:
            near = [c for c in choices if c == value.strip().lower()] or difflib.get_close_matches(value, choices, n=1)
            raise ConfigError(key, value, "is not a valid choice", (f"did you mean '{near[0]}'? " if near else "")
                              + f"use one of {', '.join(choices)}")
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

    def value_for(self, key: str, hint: Any) -> Any:
        """The value in the shape the args field with type ``hint`` takes."""
        kinds = [k for k in typing.get_args(hint) if k is not type(None)] or [hint]
        if str in kinds and len(kinds) == 1:
            return self.text(key)
        if any(typing.get_origin(k) in (collections.abc.Sequence, list) for k in kinds):
            return self.text_list(key)
        return self.raw(key)

    def secret_text(self, key: str) -> str | None:
        """The plain text of a secret key, for validation only; never store or print it."""
        return self._config.get(key)


def is_secret_key(full_key: str) -> bool:
    """Whether the engine marked a config key secret (``pulumi config set --secret``).

    Under ``pulumi up`` the language host passes the secret keys in PULUMI_CONFIG_SECRET_KEYS and
    pulumi-language-python-exec hands them to ``set_all_config``; both are consulted."""
    return (runtime_config.is_config_secret(full_key)
            or full_key in runtime_config.get_config_secret_keys_env())


@dataclass(frozen=True)
class StackSettings:
    """What the stack config gives besides the args' own fields."""

    host: str
    location: str
    hf_token: pulumi.Output[str] | None = field(repr=False)
    api_key: pulumi.Output[str] | None = field(repr=False)
    alert_webhook: pulumi.Output[str] | None = field(default=None, repr=False)


def read_settings(reader: ConfigReader | None = None) -> StackSettings:
    reader = reader or ConfigReader()
    secrets = {key: reader.secret_text(key) for key in ("apiKey", "hfToken")}
    forget_secrets()  # this stack's secrets, not an earlier stack's (plan reads several in one process)
    for key, value in secrets.items():  # first: no later message may show them, under any key
        register_secret(key, value)
    if secrets["apiKey"] and secrets["apiKey"] == secrets["hfToken"]:
        raise ConfigError("apiKey", None, "equals hfToken: clients would hold the Hugging Face token",
                          "set a random key of its own, or remove apiKey to have one generated")
    for key in PROVIDER_SECRET_KEYS:  # the provider's to read, so only a warning (stacks/stackfile.py)
        if runtime_config.get_config(key) not in (None, "") and not is_secret_key(key):
            pulumi.log.warn(": ".join(plain_secret_finding(key, pulumi.get_stack())))
    host = reader.choice("host", HOSTS)
    location = pulumi.Config("azure-native").get("location")
    if not location:
        if reader.is_set("location"):  # `location:` without its namespace lands in apertus-azure:
            raise ConfigError(LOCATION_KEY, None, "is required, and the stack sets 'location' without a "
                              "namespace (did you mean this key?)",
                              "rename it: pulumi config rm location && pulumi config set "
                              "azure-native:location <region>")
        raise ConfigError(LOCATION_KEY, None, "is required (the Azure region)",
                          "run: pulumi config set azure-native:location swedencentral")
    location = normalize_region(location)
    api_key = reader.secret("apiKey")
    if api_key is not None:
        check_api_key(reader.secret_text("apiKey") or "")  # the plain text, checked and dropped
    alert_webhook = reader.secret("alertWebhook")  # refused in plain text, like apiKey
    if alert_webhook is not None:
        check_webhook_url(reader.secret_text("alertWebhook") or "")  # the plain text, checked and dropped
    return StackSettings(host=host, location=location, hf_token=reader.secret("hfToken"),
                         api_key=api_key, alert_webhook=alert_webhook)


def read_args(reader: ConfigReader, settings: StackSettings, args_type: type[ServingArgs],
              fields: dict[str, str]) -> ServingArgs:
    """The host's args from the keys that are set (``fields``: config key -> args field); the
    args' defaults are the stack's defaults, and their checks run here, before any resource."""
    with speaking_of(CONFIG):  # the args' errors name the config keys, as the stack file does
        return _read_args(reader, settings, args_type, fields)


def _read_args(reader: ConfigReader, settings: StackSettings, args_type: type[ServingArgs],
               fields: dict[str, str]) -> ServingArgs:
    from .compare import read_expected_load

    read_expected_load(reader)  # not the args': the plan prices tokens at it (stacks/compare.py)
    hints = {f.name: f.type for f in dataclasses.fields(args_type)}  # real types: no future import there
    values = {name: reader.value_for(key, hints[name]) for key, name in {**COMMON_FIELDS, **fields}.items()
              if reader.is_set(key)}
    # the args see the secrets as Outputs: the stack checks the tags against their text
    checks.check_no_secret_in_tags(checks.check_tags(values.get("tags")),
                                   {key: reader.secret_text(key) for key in ("apiKey", "hfToken")})
    args = args_type(location=settings.location, hf_token=settings.hf_token, api_key=settings.api_key,
                     alert_webhook=settings.alert_webhook, **values)
    if note := args.plan.model.base_model_note:  # the plan shows it under the model (stacks/plan.py)
        pulumi.log.warn(f"model {args.plan.model.hf_id}: {note}")
    return args


def refuse_spot(reader: ConfigReader) -> None:
    """``spot`` is a common key, but not every host has spot capacity."""
    if reader.is_set("spot") and checks.boolean("spot", reader.raw("spot")):
        raise ConfigError("spot", True, "Container Apps serverless GPUs have no spot capacity",
                          "remove spot, or use host 'vm' or 'aks' for spot GPUs")
