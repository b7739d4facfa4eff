"""What every host takes and creates first: args, resource group, API key, secrets.

No ``from __future__ import annotations`` here or in the host modules: the component package's
schema inference (pulumi.provider.experimental.analyzer) reads the args' and components' class
annotations at run time and needs real types, not strings.
"""

import dataclasses
import functools
import inspect
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Optional, Sequence

import pulumi
import pulumi_random as random
from pulumi_azure_native import resources

from .serving import DEFAULT_IMAGE, DEFAULT_MODEL, ConfigError, ModelSpec, ServingPlan, plan_serving, resolve_model
from .serving import checks, monitoring, settings
from .serving.errors import CONFIG, args_class, python_names, register_secret, speaking_of
from .serving.gpus import check_gpu_name
from .serving.checks import TAG_VALUE_MAX
from .serving.references import check_hf_repo_id, check_pinned_image
from .serving.rules import range_syntax_problem
from .serving.regions import normalize_region

PROJECT_TAG = {"managed-by": "apertus-azure"}
# The explicit exposure marker on every Azure resource a host creates: "internal" or "public". The
# policy pack's closed-when-internal rule reads it (policy/apertus_policies/exposure.py) instead of
# guessing from entry points, so a platform team's program gets it by using the components.
EXPOSURE_TAG = "apertus-exposure"
DEFAULT_VNET_ADDRESS_SPACE = "10.240.0.0/16"  # the VNet of hosts containerapp and aks
VNET_KEY = "vnetAddressSpace"
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9  # vLLM's own default (vllm/config/cache.py)
# the secret args fields and their config keys: a plain str is held as a secret Output (docs/library.md)
SECRET_FIELDS = (("hf_token", "hfToken"), ("api_key", "apiKey"), ("alert_webhook", "alertWebhook"))
# how a program passes the token: a secret from its own config (docs/library.md)
HF_TOKEN_ARGS_FIX = ("accept the model's terms on huggingface.co, then pass a token as a secret, e.g. "
                     "hfToken=pulumi.Config().require_secret('hfToken')")

# The key is the only gate in front of vLLM's /v1 (a bearer token compared with --api-key). At
# least 32 characters (random letters and digits: 32 x log2(62) ~ 190 bits), in the characters of
# RFC 6750's b64token (bearer token syntax: A-Z a-z 0-9 - . _ ~ + / and "="), so it travels as is.
API_KEY_MIN_LENGTH = 32
# "a" * 32 passes the length rule: a random key of 32 from 62 characters has ~25 distinct ones
API_KEY_MIN_DISTINCT = 10
API_KEY_ALPHABET = re.compile(r"[A-Za-z0-9._~+/=-]+")


# The IPv4 ranges no client on the internet comes from (NON_PUBLIC_RANGES of the shared rules, named)
UNROUTED_SOURCES = {"10.0.0.0/8": "private, RFC 1918", "172.16.0.0/12": "private, RFC 1918",
                    "192.168.0.0/16": "private, RFC 1918", "100.64.0.0/10": "carrier-grade NAT, RFC 6598",
                    "127.0.0.0/8": "loopback", "169.254.0.0/16": "link-local"}


def unrouted(sources: Sequence[str]) -> list[str]:
    """The entries of an allow-list that lie in a range no internet client comes from, with why."""
    return [f"{source} ({why})" for source in sources for cidr, why in UNROUTED_SOURCES.items()
            if ipaddress.ip_network(source).subnet_of(ipaddress.ip_network(cidr))]


def allow_list_warnings(sources: Sequence[str], internal: bool) -> list[str]:
    """A public host takes HTTPS at its public address, where every client comes from a public one:
    an allowedCidrs entry in a private range lets no one in. Accepted (a client may reach it through a
    peered network later, on an internal host the same list is right), but said."""
    found = [] if internal else unrouted(sources)
    if not found:
        return []
    return [f"allowedCidrs {', '.join(found)}: no client can come from there: the endpoint is public (internal: "
            "false) and takes HTTPS at its public address, from public addresses; give the public address your "
            "clients connect from (curl -s https://api.ipify.org), or set internal: true to serve the VNet"]


def check_key_is_not_token(key: Any, token: Any) -> None:
    """The API key is not the Hugging Face token (a plain value at construction, an Output's at deploy)."""
    if key is not None and key == token:
        raise ConfigError("apiKey", None, "equals hfToken: clients would hold the Hugging Face token",
                          "set a random key of its own, or leave apiKey out to have one generated",
                          args_fix="pass a random key of its own, or leave api_key out to have one generated")


def check_api_key(key: str) -> str:
    """The API key if it is strong enough to be the only gate; a ConfigError that never shows it."""
    def refuse(why: str) -> ConfigError:
        return ConfigError("apiKey", None, f"is refused ({len(key)} characters): {why}",
                           "set a random key of at least 32 characters, e.g. pulumi config set "
                           "--secret apiKey \"$(openssl rand -base64 36)\", or remove apiKey to "
                           "have one generated",
                           args_fix="pass a random key of at least 32 characters, e.g. "
                           "pulumi.Output.secret(secrets.token_urlsafe(36)), or leave apiKey out to have one "
                           "generated")
    if not key:
        raise refuse("it is empty, which would leave the API open")
    if any(character.isspace() for character in key):
        raise refuse("it contains whitespace")
    if API_KEY_ALPHABET.fullmatch(key) is None:
        raise refuse("it has characters outside A-Z a-z 0-9 . _ ~ + / = -")
    if len(key) < API_KEY_MIN_LENGTH:
        raise refuse(f"it is shorter than {API_KEY_MIN_LENGTH} characters")
    if not (any(c.isdigit() for c in key) and any(c.isalpha() for c in key)):
        # random keys have both (the generated one, openssl rand); so does what the policy pack
        # recognises as a key in a plain property (policy/: no-secrets-in-plain-properties)
        raise refuse("it needs letters and digits, as a random key has")
    if len(set(key)) < API_KEY_MIN_DISTINCT:
        raise refuse(f"it has fewer than {API_KEY_MIN_DISTINCT} different characters, so it is guessable")
    return key


def _about_the_arguments(post_init: Any) -> Any:
    """``__post_init__`` whose errors name the args' arguments (``GpuVirtualMachineArgs: max_model_len``),
    unless a stack's config builds the args (serving/errors.py, ``speaking_of``)."""
    @functools.wraps(post_init)
    def checked(self: Any) -> None:
        with speaking_of(type(self).__name__):
            post_init(self)
    return checked


@dataclass(frozen=True)
class ServingArgs:
    """Inputs shared by the three hosts, as plain values; host args add their own fields.

    The args check every value (the same checks as the stack config, one-line ``ConfigError``)
    and run the planner for their host, so ``args.plan`` is ready before any resource exists.
    Values that decide which resources exist are plain; ``hf_token``, ``api_key`` and
    ``resource_group_name`` may be Outputs. ``plan=`` (Python only) replaces the planner's choice
    of model, GPU, context and image for advanced use.
    """

    # each field's meaning, default and config key: components/serving/settings.py, shown by
    # help() of the host args, in the component package schema and in docs/configuration.md
    location: str
    model: Optional[Any] = DEFAULT_MODEL
    hf_token: Optional[pulumi.Input[str]] = None
    api_key: Optional[pulumi.Input[str]] = None
    gpu: Optional[str] = None
    max_model_len: Optional[int] = None
    gpu_memory_utilization: Optional[float] = DEFAULT_GPU_MEMORY_UTILIZATION
    allowed_cidrs: Optional[Sequence[str]] = ()
    internal: Optional[bool] = False
    tags: Optional[Mapping[str, str]] = None
    resource_group_name: Optional[pulumi.Input[str]] = None
    vllm_image: Optional[str] = None
    quantization: Optional[str] = "none"
    kv_cache_dtype: Optional[str] = "auto"
    alerts: Optional[bool] = True
    alert_emails: Optional[Sequence[str]] = ()
    alert_webhook: Optional[pulumi.Input[str]] = None
    action_group_id: Optional[str] = None
    log_analytics_workspace_id: Optional[str] = None
    ttft_slo_seconds: Optional[float] = None
    queue_alert_threshold: Optional[int] = None
    plan: Optional[ServingPlan] = field(default=None, repr=False)

    _host: ClassVar[str] = ""  # each host's args set these two
    _network_cache: ClassVar[bool] = False  # weights on network storage: picks vLLM's load strategy

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """help() of a host's args lists every field with its meaning, from the settings table."""
        super().__init_subclass__(**kwargs)
        if cls._host:
            cls.__doc__ = settings.args_doc(cls.__doc__ or "", cls._host)
        if "__post_init__" in cls.__dict__:  # a host's own checks speak of its arguments too
            cls.__post_init__ = _about_the_arguments(cls.__dict__["__post_init__"])

    @_about_the_arguments
    def __post_init__(self) -> None:
        """Every value checked and normalised once, then the plan. The region is stored normalised
        (``West Europe`` -> ``westeurope``), so every name derived from it is Azure's. A plain ``str``
        API key is checked here; an ``Output`` one is checked when its value is known, so a weak key
        given as an Output fails at deploy, not at construction (before any resource: ``gated``). A secret given as a plain ``str`` is
        checked as text, then held as a secret Output (``_seal_plain_secrets``)."""
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)  # frozen: normalise once, here

        if self.plan is not None and not isinstance(self.plan, ServingPlan):
            raise ConfigError("plan", type(self.plan).__name__, "is not a ServingPlan",
                              "pass what plan_serving(...) returns, or leave plan out to have the args plan")
        plain_secrets = [name for name, _ in SECRET_FIELDS if isinstance(getattr(self, name), str)]
        put("location", normalize_region(checks.text("location", self.location)))
        put("hf_token", checks.string_input("hfToken", self.hf_token, secret=True))
        key = checks.string_input("apiKey", self.api_key, secret=True)
        register_secret("hfToken", self.hf_token)  # plain values: no message may show them
        register_secret("apiKey", key)
        if isinstance(key, str):
            check_key_is_not_token(key, self.hf_token)
        if isinstance(key, str):
            check_api_key(key)
        elif key is not None:
            key = pulumi.Output.from_input(key).apply(check_api_key)
        put("api_key", key)
        group = checks.string_input("resourceGroupName", self.resource_group_name)
        put("resource_group_name", group if group is None or not isinstance(group, str)
            else check_resource_group_name(group))
        put("gpu", checks.optional_text("gpu", self.gpu))
        if self.gpu is not None and self._host and self.plan is None:
            check_gpu_name(self.gpu, self._host)  # a misspelt size gets the nearest one
        if self.max_model_len is not None:
            put("max_model_len", checks.whole_number("maxModelLen", self.max_model_len, minimum=1))
        put("gpu_memory_utilization", DEFAULT_GPU_MEMORY_UTILIZATION if self.gpu_memory_utilization is None
            else checks.number("gpuMemoryUtilization", self.gpu_memory_utilization))
        put("allowed_cidrs", checks.parse_cidrs("allowedCidrs", self.allowed_cidrs))
        put("internal", False if self.internal is None else checks.boolean("internal", self.internal))
        # an internal stack (or an AKS private cluster) tags Private DNS zones too, which take less
        private_dns = self.internal or getattr(self, "api_private", None) is True
        put("tags", checks.check_tags(self.tags, private_dns=private_dns))
        checks.check_no_secret_in_tags(self.tags, {key: value for key, value in (
            ("apiKey", self.api_key), ("hfToken", self.hf_token)) if isinstance(value, str)})
        for field_name, key in (("api_key", "apiKey"), ("hf_token", "hfToken")):
            value = getattr(self, field_name)
            if self.tags and value is not None and not isinstance(value, str):
                # an Output secret is known only at deploy: the same check runs on its value then
                put(field_name, pulumi.Output.from_input(value).apply(
                    lambda secret, key=key, tags=dict(self.tags):
                    checks.check_no_secret_in_tags(tags, {key: secret}) or secret))
        put("vllm_image", checks.optional_text("vllmImage", self.vllm_image))
        put("quantization", "none" if self.quantization is None else checks.text("quantization", self.quantization))
        put("kv_cache_dtype", "auto" if self.kv_cache_dtype is None
            else checks.text("kvCacheDtype", self.kv_cache_dtype))
        if self.plan is None:
            model = self.model if isinstance(self.model, ModelSpec) else resolve_model(
                checks.plain("model", DEFAULT_MODEL if self.model is None else self.model))
        else:
            model = self.plan.model
        put("model", model)
        check_hf_repo_id("model.id", model.hf_id)
        if model.gated and self.hf_token is None:
            raise ConfigError("hfToken", None, f"is required: {model.hf_id} is gated on Hugging Face",
                              "accept the model's terms on huggingface.co, then pass a token "
                              "(stack config: pulumi config set --secret hfToken <token>)",
                              args_fix=HF_TOKEN_ARGS_FIX)
        if self.plan is None:
            put("plan", plan_serving(
                host=self._host, model=model, gpu=self.gpu, max_model_len=self.max_model_len,
                gpu_memory_utilization=self.gpu_memory_utilization,
                image=self.vllm_image or model.image or DEFAULT_IMAGE, region=self.location,
                hf_token=self.hf_token is not None, network_cache=self._network_cache,
                quantization=self.quantization, kv_cache_dtype=self.kv_cache_dtype))
        elif self._host and self.plan.host != self._host:
            raise ConfigError("plan", self.plan.host, f"was made for another host than '{self._host}'",
                              f"plan with host='{self._host}', or leave plan out")
        image_key = "model.image" if self.vllm_image is None and self.plan.launch.image == model.image else "vllmImage"
        check_pinned_image(image_key, self.plan.launch.image)
        self._check_monitoring()
        for name, value in self.all_tags.items():
            if len(value) > TAG_VALUE_MAX:
                raise ConfigError(f"tags.{name}", value[:40] + "...",
                                  f"is longer than {TAG_VALUE_MAX} characters, which Azure refuses",
                                  "shorten the value")
        for warning in allow_list_warnings(self.allowed_cidrs, self.internal):
            self._warn(warning)
        self._seal_plain_secrets(plain_secrets)
        self._check_outputs_when_known()

    def _check_outputs_when_known(self) -> None:
        """Every check of a value given as an ``Output`` runs when its value is known, inside that
        Output: the API key, the webhook, the HF token (a string, not empty, not the API key) and the
        resource group's name. ``deploy_gate`` joins them; a component waits for it before it
        registers itself, and its children wait for their parent, so a value refused at deploy time
        stops the deployment before any of its resources is created (a preview in which the value is
        not known yet checks it in ``pulumi up``)."""
        token = self.hf_token
        if token is not None and not isinstance(token, str):
            object.__setattr__(self, "hf_token", pulumi.Output.secret(pulumi.Output.from_input(token).apply(
                lambda value: checks.string_input("hfToken", value, secret=True))))
        group = self.resource_group_name
        if group is not None and not isinstance(group, str):
            object.__setattr__(self, "resource_group_name", pulumi.Output.from_input(group).apply(
                lambda value: check_resource_group_name(checks.string_input("resourceGroupName", value))))
        checked = [value for value in (self.api_key, self.hf_token, self.alert_webhook, self.resource_group_name)
                   if value is not None and not isinstance(value, str)]

        def distinct(values: list[Any]) -> list:
            check_key_is_not_token(*values[:2])
            return []
        # made here, where a message speaks of the program's arguments (the apply keeps that context)
        object.__setattr__(self, "_gate", pulumi.Output.all(self.api_key, self.hf_token, *checked).apply(distinct)
                           if checked else None)

    def deploy_gate(self) -> Optional[pulumi.Output[list]]:
        """An Output that is known, as an empty list, once every value given as an ``Output`` has
        passed its checks (None when there is none): a component's ``depends_on``."""
        return getattr(self, "_gate", None)

    def _seal_plain_secrets(self, plain: list[str]) -> None:
        """Secrets a program passed as plain ``str`` (every check above has read their text) become
        secret Outputs, so whatever they flow into is encrypted in the state and never a plain output,
        and the program is told once: its own copy is still plain text. A stack passes its config
        secrets as secret Outputs; the component package's inputs are marked secret by its schema."""
        for name in plain:
            if name != "alert_webhook":  # _check_monitoring made it a secret Output already
                object.__setattr__(self, name, pulumi.Output.secret(getattr(self, name)))
        args_name = args_class()
        if plain and args_name:
            keys = dict(SECRET_FIELDS)
            names = " and ".join(plain)
            reads = " / ".join(f"pulumi.Config().require_secret('{keys[name]}')" for name in plain)
            one = len(plain) == 1
            it = "it" if one else "them"
            pulumi.log.warn(f"{args_name}: {names} {'is a plain str' if one else 'are plain str'}: held as "
                            f"{'a secret' if one else 'secrets'} from here on (pulumi.Output.secret), so the "
                            f"state and outputs keep {it} encrypted, but your program has {it} in plain "
                            f"text; pass a secret instead: {reads}, or pulumi.Output.secret(value)")

    def _warn(self, warning: str) -> None:
        """A value that is accepted but surprising: one more of the plan's warnings, which the plan
        prints and ``pulumi up`` logs once (``_register``); from a program it names the argument."""
        text = python_names(warning) if args_class() else warning
        object.__setattr__(self, "plan", dataclasses.replace(self.plan, warnings=(*self.plan.warnings, text)))

    def _check_monitoring(self) -> None:
        """The alert settings, checked once here (the host's replica bounds refine the defaults later)."""
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if isinstance(self.alert_emails, (list, tuple)):  # an action group shows its addresses as plain text
            for address in self.alert_emails:
                checks.check_no_hf_token("alertEmails", address, "an alert email address")
        webhook = checks.string_input("alertWebhook", self.alert_webhook, secret=True)
        if isinstance(webhook, str):
            webhook = pulumi.Output.secret(monitoring.check_webhook_url(webhook))
        elif webhook is not None:  # an Output: checked once its value is known, never shown
            webhook = pulumi.Output.secret(pulumi.Output.from_input(webhook).apply(monitoring.check_webhook_url))
        put("alert_webhook", webhook)
        if self.log_analytics_workspace_id is not None:
            put("log_analytics_workspace_id", monitoring.check_workspace_id(self.log_analytics_workspace_id))
        # every alert setting checked now, before any resource; host bounds are checked after this
        self._alert_settings(max_replicas=1, queue_depth_target=None)

    @property
    def alert_settings(self) -> monitoring.AlertSettings:
        """Where alerts go and their thresholds, defaults derived from the plan and the replica bounds."""
        return self._alert_settings(max_replicas=max(1, getattr(self, "max_replicas", None) or 1),
                                    queue_depth_target=getattr(self, "queue_depth_target", None))

    def _alert_settings(self, max_replicas: int, queue_depth_target: Optional[int]) -> monitoring.AlertSettings:
        return monitoring.alert_settings(
            plan=self.plan, alerts=self.alerts, emails=self.alert_emails,
            webhook_given=self.alert_webhook is not None, action_group_id=self.action_group_id,
            ttft_slo_seconds=self.ttft_slo_seconds, queue_alert_threshold=self.queue_alert_threshold,
            max_replicas=max_replicas, queue_depth_target=queue_depth_target)

    @classmethod
    def of(cls, args: Any) -> "ServingArgs":
        """The args as given, or built from the dict of Python names the component provider passes."""
        if isinstance(args, cls):
            return args
        if isinstance(args, Mapping):
            with speaking_of(CONFIG):  # the component package's inputs: named like the config keys
                return cls(**args)
        raise TypeError(f"expected {cls.__name__} or a dict of its fields, got {type(args).__name__}")

    @property
    def all_tags(self) -> dict[str, str]:
        return {**self.tags, **PROJECT_TAG, "model": short_model_name(self.plan.model.hf_id),
                EXPOSURE_TAG: "internal" if self.internal else "public"}


# The plan is a Python object, not a wire type: hide it from the component package schema, which
# is inferred from class annotations (the dataclass keeps it as a field, so plan= still works).
del ServingArgs.__annotations__["plan"]


class ServingComponent(pulumi.ComponentResource):
    """Outputs every host component has; each host declares its own extras (the keys of
    ``stack_outputs`` in snake_case, ``Optional``: None where the host's options leave one out)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """help() of a component shows its own docstring, not ComponentResource's constructor's."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not init.__doc__:
            args_type = inspect.get_annotations(init).get("args")
            init.__doc__ = settings.component_doc(cls.__doc__ or "", getattr(args_type, "__name__", "args"))

    endpoint: pulumi.Output[str]
    """HTTPS base URL of the OpenAI-compatible API, ending in /v1."""
    api_key: pulumi.Output[str]
    """The key clients send as 'Authorization: Bearer <key>' (a secret)."""
    model: pulumi.Output[str]
    """Hugging Face id of the served model."""
    tensor_parallel_size: pulumi.Output[int]
    """GPUs one replica spreads the model over."""
    max_model_len: pulumi.Output[int]
    """Context window in tokens."""
    kv_cache_tokens: pulumi.Output[int]
    """Tokens the KV cache of one replica holds."""
    hourly_cost_usd: pulumi.Output[Optional[float]]
    """List price of one replica's GPU machine per hour (none when the catalog has no price)."""

    def _register(self, plan: ServingPlan, endpoint: pulumi.Output[str],
                  stack_outputs: dict[str, Any]) -> None:
        """Set the outputs and register them; call last in the constructor."""
        self.plan = plan
        self.endpoint = endpoint
        self.api_key = pulumi.Output.secret(self.api_key)
        self.model = pulumi.Output.from_input(plan.model.hf_id)
        self.tensor_parallel_size = pulumi.Output.from_input(plan.tensor_parallel_size)
        self.max_model_len = pulumi.Output.from_input(plan.max_model_len)
        self.kv_cache_tokens = pulumi.Output.from_input(plan.kv_cache_tokens)
        self.hourly_cost_usd = pulumi.Output.from_input(plan.cost.hourly_usd)
        self.stack_outputs = stack_outputs
        declared = {name for cls in type(self).__mro__ for name in inspect.get_annotations(cls)}
        for key, value in stack_outputs.items():
            attribute = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()  # the schema's camelCase, in Python
            if attribute not in declared:  # an extra output the schema would not list
                raise TypeError(f"{type(self).__name__} does not declare the output {attribute}")
            setattr(self, attribute, pulumi.Output.from_input(value))
        for warning in plan.warnings:
            pulumi.log.warn(warning, resource=self)
        self.register_outputs({"endpoint": endpoint, "apiKey": self.api_key, "model": self.model,
                               "tensorParallelSize": self.tensor_parallel_size,
                               "maxModelLen": self.max_model_len, "kvCacheTokens": self.kv_cache_tokens,
                               "hourlyCostUsd": self.hourly_cost_usd, **stack_outputs})


def short_model_name(hf_id: str) -> str:
    return hf_id.rsplit("/", 1)[-1]


# Names derived from a component name: "<name>-<part>" auto-named by Pulumi with "-" and 7 random
# characters. The tightest of them: the AKS cluster (Microsoft.ContainerService/managedClusters,
# 1-63 letters, digits, '-' and '_', starting and ending with a letter or digit) and the Log
# Analytics workspace (4-63 letters, digits and '-', starting and ending with one of those)
# (Microsoft Learn, "Naming rules and restrictions for Azure resources"): "<name>-logs-xxxxxxx"
# leaves 63 - 13 = 50 characters for the name.
DERIVED_NAME_MAX = 50
DERIVED_NAME = re.compile(rf"[A-Za-z0-9](?:[A-Za-z0-9-]{{0,{DERIVED_NAME_MAX - 2}}}[A-Za-z0-9])?")


# Azure's resource group names (the REST API specifications' common ResourceGroupNameParameter:
# pattern ^[-\w\._\(\)]+$, 1-90 characters; "period (except at end)")
RESOURCE_GROUP_NAME = re.compile(r"[-\w.()]{1,90}")


def check_resource_group_name(name: str) -> str:
    """An existing resource group's name as Azure takes one; checked before anything refers to it."""
    if RESOURCE_GROUP_NAME.fullmatch(name) is None or name.endswith("."):
        raise ConfigError("resourceGroupName", name, "is not a resource group name: Azure takes 1-90 letters, "
                          "digits and - _ . ( ), not ending with '.'",
                          "pass the name of an existing resource group (az group list -o table), "
                          "or leave resourceGroupName out to have one created")
    return name


def check_component_name(name: Any, resource: str) -> str:
    """A component name from which Azure-valid resource names derive (VM and AKS components)."""
    if not isinstance(name, str) or DERIVED_NAME.fullmatch(name) is None:
        raise ConfigError("name", name, f"cannot name the {resource}: its resource names derive from it and "
                          f"Azure takes 1-{DERIVED_NAME_MAX} letters, digits and '-' here, starting and "
                          "ending with a letter or digit", "name the component like 'apertus' or 'team-llm'")
    return name


def dns_safe(text: str, limit: int) -> str:
    """Lowercase letters, digits and single hyphens, starting with a letter, at most ``limit``."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "a" + cleaned
    return cleaned[:limit].rstrip("-")


def gated(opts: Optional[pulumi.ResourceOptions], args: ServingArgs) -> Optional[pulumi.ResourceOptions]:
    """A component's own options, waiting for ``args.deploy_gate()``: its registration, and so every
    child's (a child waits for its parent's URN), waits until each value given as an ``Output`` is
    known and has passed its checks; one that fails stops the program before any resource."""
    gate = args.deploy_gate()
    if gate is None:
        return opts
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=gate))


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
        try:  # host bits set: Python names the network meant
            reason = f"is not a valid network ({error}; did you mean {ipaddress.ip_network(address_space, strict=False)}?)"
        except ValueError:  # not a range at all: the shared rule says why ('/33', octets)
            reason = range_syntax_problem(address_space).partition("; ")[0]
        raise ConfigError(VNET_KEY, address_space, reason,
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
