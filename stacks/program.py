"""The Pulumi program: config -> the host component's args -> the component -> stack outputs.

Each host has a module here (``stacks/containerapp.py``, ``stacks/vm.py``, ``stacks/aks.py``) with:
- ``KEYS``: its own config keys, besides ``COMMON_KEYS``;
- ``NETWORK_CACHE``: whether its model cache is network storage (its args' planner input);
- ``read(reader, settings)``: the component's args from the config (a frozen dataclass that
  checks every value and plans the serving; no resource is created);
- ``build(name, args)``: create the component; it has the outputs every host has (``endpoint``,
  ``api_key``, ``model``, ...), its ``plan`` and ``stack_outputs`` (its own extra outputs).
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.base import ServingArgs
from components.serving import HOSTS, ConfigError
from components.serving.errors import CONFIG, speaking_of

from .stackfile import SECRET_LOOKING_NAME, secret_shaped
from .config import NAMESPACE, ConfigReader, is_secret_key, read_settings

COMMON_KEYS = ("host", "model", "gpu", "maxModelLen", "gpuMemoryUtilization", "quantization",
               "kvCacheDtype", "spot",
               "minReplicas", "maxReplicas", "allowedCidrs", "internal", "hfToken", "apiKey",
               "vllmImage", "tags", "expectedRequestsPerMinute",
               # monitoring (components/serving/monitoring.py, docs/operations.md)
               "alerts", "alertEmails", "alertWebhook", "actionGroupId", "logAnalyticsWorkspaceId",
               "ttftSloSeconds", "queueAlertThreshold")
COMPONENT_NAME = "apertus"
SECRET_KEYS = ("hfToken", "apiKey", "alertWebhook")
# a key whose name looks like a credential, or a value that looks like a Hugging Face token
# (hf_ followed by letters and digits), is never shown in an error, even when misspelt


def host_module(host: str) -> ModuleType:
    return importlib.import_module(f"stacks.{host}")


def check_unknown_keys(host: str) -> None:
    """A misspelt key, or one for another host, would otherwise be ignored silently."""
    own = COMMON_KEYS + tuple(host_module(host).KEYS)
    other_hosts: dict[str, list[str]] = {}
    for other in HOSTS:
        for key in host_module(other).KEYS if other != host else ():
            other_hosts.setdefault(key, []).append(other)
    for full in sorted(given_keys()):
        namespace, _, key = full.partition(":")
        if namespace != NAMESPACE or key in own:
            continue
        value = shown_value(full, runtime_config.get_config(full))
        if key in other_hosts:
            hosts = " or ".join(f"'{other}'" for other in other_hosts[key])
            raise ConfigError(key, value, f"applies only to host {hosts}, not '{host}'",
                              f"remove it (pulumi config rm {key}) or change host")
        close = difflib.get_close_matches(key, own, n=1)
        raise ConfigError(key, value, "is not a known setting",
                          f"did you mean '{close[0]}'?" if close else f"known settings: {', '.join(own)}")


def shown_value(full_key: str, value: Any) -> Any:
    """The value to put in an error message: None (not shown) when it may be a secret."""
    key = full_key.partition(":")[2]
    if (is_secret_key(full_key) or SECRET_LOOKING_NAME.search(key)
            or difflib.get_close_matches(key, SECRET_KEYS, n=1, cutoff=0.6)
            or secret_shaped(str(value))):
        return None
    return value


def given_keys() -> set[str]:
    """Every full config key the stack sets (``namespace:key``)."""
    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def misspelt(error: ConfigError) -> ConfigError:
    """A required key that is missing while a key close to it is set: name the misspelling
    ("unknown key 'hots' (did you mean 'host'?)"), not just the missing key."""
    if error.value is not None or not error.why.startswith("is required"):
        return error
    namespace, _, wanted = (error.key if ":" in error.key else f"{NAMESPACE}:{error.key}").partition(":")
    known = set(COMMON_KEYS).union(*(host_module(host).KEYS for host in HOSTS))
    given = {key.partition(":")[2]: key for key in given_keys()
             if key.startswith(f"{namespace}:") and key.partition(":")[2] not in known | {wanted}}
    close = difflib.get_close_matches(wanted, given, n=1, cutoff=0.7)
    if not close:
        return error
    name = close[0] if namespace == NAMESPACE else given[close[0]]  # apertus-azure keys go without it
    right = wanted if namespace == NAMESPACE else f"{namespace}:{wanted}"
    value = shown_value(given[close[0]], runtime_config.get_config(given[close[0]]))
    fix = (f"rename it: pulumi config rm {name} && pulumi config set {right} "
           + (f"{value}" if value is not None and not isinstance(value, (dict, list)) else "<value>"))
    return ConfigError(error.key, None, f"{error.why}: the stack sets unknown key '{name}' "
                       f"(did you mean '{right}'?)", fix)


def read_args() -> tuple[ModuleType, ServingArgs]:
    """The selected host's module and its args, every setting checked; no resource yet."""
    with speaking_of(CONFIG):  # every error names the config key
        reader = ConfigReader()
        try:
            settings = read_settings(reader)
        except ConfigError as error:
            raise misspelt(error) from None
        host = host_module(settings.host)
        check_unknown_keys(settings.host)
        return host, host.read(reader, settings)


def run() -> ServingArgs:
    host, args = read_args()
    # everything is validated and planned: from here on resources are registered
    component = host.build(COMPONENT_NAME, args)
    pulumi.export("endpoint", component.endpoint)
    pulumi.export("apiKey", component.api_key)
    pulumi.export("model", component.model)
    pulumi.export("host", args.plan.host)
    pulumi.export("gpu", args.plan.gpu.name)
    pulumi.export("tensorParallelSize", component.tensor_parallel_size)
    pulumi.export("maxModelLen", component.max_model_len)
    pulumi.export("kvCacheTokens", component.kv_cache_tokens)
    pulumi.export("hourlyCostUsd", component.hourly_cost_usd)
    for key, value in component.stack_outputs.items():
        pulumi.export(key, value)
    return args
