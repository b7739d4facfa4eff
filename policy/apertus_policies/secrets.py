"""No secret in a plain property (tags, labels, env values, command lines, custom data, extension
settings, run commands, app settings, alert and workbook text; no Hugging Face token in container
images, alert email addresses or split across tags, labels or env; no credential read from a ConfigMap); webhook URLs
marked secret. Across the stack: a GPU or vLLM pod loads no ConfigMap whole that the stack does not
create, whose data the pack cannot read."""

from __future__ import annotations

import base64
import binascii
import math
import re
import urllib.parse
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, \
    StackValidationArgs, StackValidationPolicy
from pulumi_policy.proxy import UnknownValueError

from .common import (
    normalised,
    ACA_KINDS,
    K8S_CONFIG_MAP,
    MANDATORY,
    VIRTUAL_MACHINE,
    VM_SCALE_SET,
    _label,
    container_group_containers,
    env_from_sources,
    get,
    is_unknown,
    items,
    may_hold_pods,
    namespace_match,
    object_name,
    parameter_values,
    object_namespace,
    plain,
    pod_specs,
    pod_template_metadata,
    rules,
    serving_pods,
    unread_pods,
    pod_containers,
)

HF_TOKEN_PATTERN = rules.HF_TOKEN_PATTERN
# the finder the program applies to tags, images and alert emails too (shared rule): whole tokens,
# and tokens cut by any run of separators or hidden by invisible characters (rules.hf_token_spans)
hf_token_in = rules.hf_token_in
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
DIGEST_LENGTHS = frozenset({16, 40, 64})
DIGEST_PLACE = re.compile(r"(?<![a-z0-9])(hash|checksum|digest|sha(1|256|512)?|commit|revision|rev)(?![a-z0-9])",
                          re.IGNORECASE)
# a place named for a version (the label `version`, `app.kubernetes.io/version`) may hold the commit a build
# came from: a git SHA's 40 hex digits (SHA-1 object names), and only that length
VERSION_PLACE = re.compile(r"(?<![a-z0-9])version(?![a-z0-9])", re.IGNORECASE)
GIT_SHA_LENGTHS = frozenset({40})
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


# Public material that looks random and is no secret: a PEM certificate (a CA bundle in a ConfigMap) and
# an OpenSSH public key (cloud-init's ssh_authorized_keys). Each is taken out of the text only when its
# base64 decodes to what it says it is (a DER SEQUENCE whose length is the whole block; an SSH key blob
# that starts with its own key type), so a key dressed up in a BEGIN CERTIFICATE line stays.
PEM_CERTIFICATE = re.compile(r"-----BEGIN (?:TRUSTED )?CERTIFICATE-----([A-Za-z0-9+/=\s]{1,65536}?)"
                             r"-----END (?:TRUSTED )?CERTIFICATE-----")
SSH_PUBLIC_KEY = re.compile(r"(?<![A-Za-z0-9@.-])"
                            r"((?:sk-)?(?:ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(?:256|384|521))"
                            r"(?:@openssh\.com)?)[ \t]+(AAAA[A-Za-z0-9+/]{16,16384}={0,2})(?![A-Za-z0-9+/=])")


def _hides_text(raw: bytes) -> bool:
    """Whether decoded public material carries text a key could be (``secret_looking``: a token, a
    random or a hex key). A real certificate's or public key's bytes are binary, with only short
    names and URLs in them (a random run of 20 printable bytes: about 1 in 10^11), so this is what a
    key wrapped in a certificate-shaped or key-shaped blob gives away."""
    return secret_looking(raw.decode("latin-1")) is not None


# an ed25519 public key blob: its type string and 32 bytes, nothing else (RFC 8709 section 4)
ED25519_BLOB = 4 + len(b"ssh-ed25519") + 4 + 32


def _der_certificate(block: str) -> bool:
    try:
        der = base64.b64decode("".join(block.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    if _hides_text(der):
        return False
    if len(der) < 4 or der[0] != 0x30:
        return False
    if der[1] < 0x80:
        return 2 + der[1] == len(der)
    count = der[1] & 0x7F
    if not 1 <= count <= 4 or len(der) < 2 + count:
        return False
    return 2 + count + int.from_bytes(der[2:2 + count], "big") == len(der)


def _ssh_public_key(key_type: str, blob: str) -> bool:
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return False
    size = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else -1
    if key_type == "ssh-ed25519" and len(raw) != ED25519_BLOB:
        return False
    return raw[4:4 + size].decode("ascii", errors="replace") == key_type and len(raw) > 4 + size + 16 \
        and not _hides_text(raw[4 + size:])


def without_public_material(text: str) -> str:
    """``text`` without the PEM certificates and OpenSSH public keys in it (public, and random-looking)."""
    if "CERTIFICATE-----" in text:
        text = PEM_CERTIFICATE.sub(lambda m: " " if _der_certificate(m.group(1)) else m.group(0), text)
    if "AAAA" in text:
        text = SSH_PUBLIC_KEY.sub(lambda m: " " if _ssh_public_key(m.group(1), m.group(2)) else m.group(0), text)
    return text


def digest_lengths_at(key: str) -> frozenset[int]:
    """The hex lengths a place of this name may hold as a digest: a hash-named place (DIGEST_PLACE) a
    digest's, a version-named one (VERSION_PLACE) a git SHA's; none under a credential's name."""
    if credential_name(key):
        return frozenset()
    if DIGEST_PLACE.search(key):
        return DIGEST_LENGTHS
    return GIT_SHA_LENGTHS if VERSION_PLACE.search(key) else frozenset()


def secret_looking(text: str, digest_expected: bool = False, digest_lengths: frozenset[int] = frozenset()) -> str | None:
    """What in ``text`` looks like a credential ('a Hugging Face token', 'a hex key', 'a random
    key'), or None. A guess from the text alone: the policy never learns the stack's real key.
    ``digest_expected``: the place is named for a hash, so hex runs in it of a digest's length are
    digests; ``digest_lengths``: the lengths a place allows instead (``digest_lengths_at``)."""
    digest_lengths = DIGEST_LENGTHS if digest_expected else digest_lengths
    digest_expected = bool(digest_lengths)
    if hf_token_in(text) or ("%" in text and hf_token_in(urllib.parse.unquote(text))):
        return "a Hugging Face token"  # also percent-encoded (a URL's query)
    if digest_expected and any(hf_token_in(bytes.fromhex(run[:len(run) // 2 * 2]).decode("latin-1"))
                               for run in HEX_RUN.findall(text)):
        return "a Hugging Face token"  # hex under a hash's name is a digest unless it spells a token
    text = DIGEST_IN_TEXT.sub(" ", UUID.sub(" ", without_public_material(text)))
    if digest_expected:  # a digest's length: 16 (a short one, the AKS gateway's config-hash), SHA-1's 40, SHA-256's 64
        text = HEX_RUN.sub(lambda m: " " if len(m.group()) in digest_lengths else m.group(), text)
    if any(re.search(r"[0-9]", run) and re.search(r"[A-Fa-f]", run) for run in HEX_RUN.findall(text)):
        return "a hex key"
    if any(is_random(run) for run in KEY_RUN.findall(text) + KEY_PIECE.findall(text)):
        return "a random key"
    return None


GZIP_MAGIC = b"\x1f\x8b"  # RFC 1952 section 2.3.1; cloud-init accepts gzip-compressed user data
MAX_INFLATED = 4 * 1024 * 1024  # read at most this much of compressed custom data (no gzip bomb)


def _decoded_custom_data(value: Any) -> str:
    """VM custom data is base64 (compute API osProfile.customData), possibly gzip-compressed
    (cloud-init reads gzip user data); scan the decoded text."""
    if not isinstance(value, str):
        return ""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    if raw.startswith(GZIP_MAGIC):
        try:
            raw = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(raw, MAX_INFLATED)
        except zlib.error:
            return raw.decode("utf-8", errors="replace")
    return raw.decode("utf-8", errors="replace")


def _strings(value: Any, where: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """Every string inside a nested value, with its path (at most 20 levels deep)."""
    if isinstance(value, str):
        yield where, value
    elif depth < 20 and isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}", depth + 1)
    elif depth < 20 and isinstance(value, (list, tuple)) or (
            depth < 20 and hasattr(value, "__getitem__") and hasattr(value, "__len__")
            and not isinstance(value, (str, bytes, Mapping))):
        for index, item in enumerate(items(value)):
            yield from _strings(item, f"{where}[{index}]", depth + 1)


VM_EXTENSION = "azure-native:compute:VirtualMachineExtension"
VMSS_EXTENSION = "azure-native:compute:VirtualMachineScaleSetExtension"
RUN_COMMANDS = ("azure-native:compute:VirtualMachineRunCommand",
                "azure-native:compute:VirtualMachineRunCommandByVirtualMachine",
                "azure-native:compute:VirtualMachineScaleSetVMRunCommand")
WEB_APPS = ("azure-native:web:WebApp", "azure-native:web:WebAppSlot")
WEB_APP_SETTINGS = ("azure-native:web:WebAppApplicationSettings", "azure-native:web:WebAppApplicationSettingsSlot")
LOG_ALERTS = ("azure-native:monitor:ScheduledQueryRule", "azure-native:insights:ScheduledQueryRule")
WORKBOOKS = ("azure-native:insights:Workbook", "azure-native:applicationinsights:Workbook")
ACTION_GROUPS = ("azure-native:monitor:ActionGroup", "azure-native:insights:ActionGroup")
METRIC_ALERTS = ("azure-native:monitor:MetricAlert", "azure-native:insights:MetricAlert",
                 "azure-native:monitor:ActivityLogAlert", "azure-native:insights:ActivityLogAlert")
APPLICATION_GATEWAY = "azure-native:network:ApplicationGateway"
APIM_NAMED_VALUE = "azure-native:apimanagement:NamedValue"
APP_CONFIG_KEY_VALUE = "azure-native:appconfiguration:KeyValue"
WEB_APP_CONNECTION_STRINGS = ("azure-native:web:WebAppConnectionStrings", "azure-native:web:WebAppConnectionStringsSlot")
# pulumi-command: a command line and its environment are plain inputs (and shown in the engine's logs)
COMMANDS = ("command:local:Command", "command:remote:Command")
COMMAND_FIELDS = ("create", "update", "delete")
# Kubernetes custom resources that set request or response headers (a gateway's key injected toward the
# backend: Authorization: Bearer <key>) or hold scaler settings (KEDA): (API group, kinds; None: any kind)
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
ISTIO_GROUP = "networking.istio.io"
TRAEFIK_GROUPS = ("traefik.io", "traefik.containo.us")
KEDA_GROUP = "keda.sh"
# action group receivers whose URL carries its own credential (a webhook's, a Logic App's SAS `sig=`, a
# Function's `code=`): (property, URL field) that additionalSecretOutputs must name
SECRET_URL_RECEIVERS = (("webhookReceivers", "serviceUri"), ("logicAppReceivers", "callbackUrl"),
                        ("azureFunctionReceivers", "httpTriggerUrl"))
RECEIVER_WORDS = {"webhookReceivers": "webhook", "logicAppReceivers": "Logic App",
                  "azureFunctionReceivers": "Azure Function"}


CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"  # Azure Container Instances
PROBE_KEYS = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")


def _decoded_binary(value: Any) -> Any:
    """A ConfigMap binaryData value, base64: the text it decodes to (undecodable bytes replaced)."""
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True)[:MAX_INFLATED].decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return value


def _aci_containers(props: Any) -> list[Any]:
    return container_group_containers(props)


def _handler_places(name: Any, what: str, handler: Any) -> Iterator[tuple[str, Any]]:
    """A probe's or lifecycle hook's plain text: its exec command, httpGet headers and path."""
    for index, value in enumerate(items(get(handler, "exec", "command")) + items(get(handler, "command"))):
        yield f"container '{name}' {what} command[{index}]", value
    for header in items(get(handler, "httpGet", "httpHeaders")):
        yield f"container '{name}' {what} header {get(header, 'name')}", get(header, "value")
    yield f"container '{name}' {what} path", get(handler, "httpGet", "path")


def _container_places(container: Any) -> Iterator[tuple[str, Any]]:
    """A container's plain text: env names and values (Kubernetes env, Container Apps env without
    secretRef, ACI environmentVariables without secureValue), command lines, probes, lifecycle hooks."""
    name = get(container, "name")
    for probe in items(get(container, "probes")) + [get(container, key) for key in PROBE_KEYS]:
        yield from _handler_places(name, "probe", probe)
    for hook in LIFECYCLE_HOOKS:
        yield from _handler_places(name, f"lifecycle {hook}", get(container, "lifecycle", hook))
    for env in items(get(container, "env")) + items(get(container, "environmentVariables")):
        yield f"container '{name}' env name", get(env, "name")
        if get(env, "value") is not None:
            yield f"container '{name}' env {get(env, 'name')}", get(env, "value")
    for field in ("command", "args"):
        for index, value in enumerate(items(get(container, field))):
            yield f"container '{name}' {field}[{index}]", value


def _scale_rule_metadata(props: Any) -> Iterator[tuple[str, Any]]:
    """A Container Apps app's or job's scale rules' metadata (KEDA scaler settings, plain text: a
    scaler's credential belongs in the rule's auth, a secretRef)."""
    rules_ = items(get(props, "template", "scale", "rules")) + \
        items(get(props, "configuration", "eventTriggerConfig", "scale", "rules"))
    for rule in rules_:  # an app's rule holds custom/http/tcp/azureQueue: {metadata}, a job's metadata itself
        for kind, body in [("", rule)] + list(rule.items() if isinstance(rule, Mapping) else ()):
            metadata = get(body, "metadata") if isinstance(body, Mapping) else None
            if isinstance(metadata, Mapping):
                for key, value in metadata.items():
                    yield f"scale rule '{get(rule, 'name')}' {kind} metadata key".replace("  ", " "), key
                    yield f"scale rule '{get(rule, 'name')}' {kind} metadata {key}".replace("  ", " "), value


def _group_kind(resource_type: str) -> tuple[str, str]:
    """(API group, kind) of a Kubernetes type token, or ('', '')."""
    parts = resource_type.split(":")
    if len(parts) == 3 and parts[0] == "kubernetes":
        return parts[1].split("/", 1)[0] if "/" in parts[1] else "", parts[2]
    return "", ""


def _header_modifier_places(where: str, filters: Any) -> Iterator[tuple[str, Any]]:
    """A Gateway API route's RequestHeaderModifier / ResponseHeaderModifier filters: set and add values."""
    for index, item in enumerate(items(filters)):
        for field in ("requestHeaderModifier", "responseHeaderModifier"):
            for action in ("set", "add"):
                for header in items(get(item, field, action)):
                    yield f"{where}.filters[{index}] {field} {action} {get(header, 'name')}", get(header, "value")


def _custom_resource_places(resource_type: str, props: Any) -> Iterator[tuple[str, Any]]:
    """Header values of Gateway API routes, Istio VirtualServices and Traefik Middlewares, KEDA trigger metadata."""
    group, kind = _group_kind(resource_type)
    spec = get(props, "spec")
    if group == GATEWAY_API_GROUP:
        for r, rule in enumerate(items(get(spec, "rules"))):
            yield from _header_modifier_places(f"spec.rules[{r}]", get(rule, "filters"))
            for b, ref in enumerate(items(get(rule, "backendRefs"))):
                yield from _header_modifier_places(f"spec.rules[{r}].backendRefs[{b}]", get(ref, "filters"))
    elif group == ISTIO_GROUP and kind == "VirtualService":
        for h, route in enumerate(items(get(spec, "http"))):
            for where, headers in [(f"spec.http[{h}].headers", get(route, "headers"))] + [
                    (f"spec.http[{h}].route[{d}].headers", get(dest, "headers"))
                    for d, dest in enumerate(items(get(route, "route")))]:
                for direction in ("request", "response"):
                    for action in ("set", "add"):
                        values = get(headers, direction, action)
                        if isinstance(values, Mapping):
                            for name, value in values.items():
                                yield f"{where}.{direction}.{action} {name}", value
    elif group in TRAEFIK_GROUPS and kind == "Middleware":
        yield from _strings(get(spec, "headers"), "spec.headers")
    elif group == KEDA_GROUP and kind in ("ScaledObject", "ScaledJob"):
        for t, trigger in enumerate(items(get(spec, "triggers"))):
            metadata = get(trigger, "metadata")
            if isinstance(metadata, Mapping):
                for key, value in metadata.items():
                    yield f"spec.triggers[{t}] ({get(trigger, 'type')}) metadata key", key
                    yield f"spec.triggers[{t}] ({get(trigger, 'type')}) metadata {key}", value


def _azure_places(resource_type: str, props: Any) -> Iterator[tuple[str, Any]]:
    """Application Gateway rewrite header values, an API Management named value not marked secret, an App
    Configuration key-value, web app connection strings, metric and activity log alert descriptions, and a
    pulumi-command Command's command lines and environment."""
    if resource_type == APPLICATION_GATEWAY:
        for rule_set in items(get(props, "rewriteRuleSets")):
            for rule in items(get(rule_set, "rewriteRules")):
                for field in ("requestHeaderConfigurations", "responseHeaderConfigurations"):
                    for header in items(get(rule, "actionSet", field)):
                        yield (f"rewriteRuleSets '{get(rule_set, 'name')}' rule '{get(rule, 'name')}' {field} "
                               f"{get(header, 'headerName')}", get(header, "headerValue"))
    elif resource_type == APIM_NAMED_VALUE and get(props, "secret") is not True:
        yield "value (secret not true)", get(props, "value")
    elif resource_type == APP_CONFIG_KEY_VALUE:
        yield f"value of key {get(props, 'keyValueName')}", get(props, "value")
    elif resource_type in WEB_APP_CONNECTION_STRINGS and isinstance(get(props, "properties"), Mapping):
        for key, value in get(props, "properties").items():
            yield f"properties.{key}", get(value, "value") if isinstance(value, Mapping) else value
    elif resource_type in METRIC_ALERTS:
        yield "description", get(props, "description")
    elif resource_type in COMMANDS:
        for field in COMMAND_FIELDS:
            yield field, get(props, field)
        environment = get(props, "environment")
        if isinstance(environment, Mapping):
            for key, value in environment.items():
                yield "environment key", key
                yield f"environment.{key}", value


def plain_places(resource_type: str, props: Any, containers: list[Any] | None = None) -> Iterator[tuple[str, Any]]:
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
                        yield f"{where}.{field} key", key  # a key is plain text too
                        yield f"{where}.{field}.{key}", value
        if resource_type == K8S_CONFIG_MAP and isinstance(get(props, "data"), Mapping):
            for key, value in get(props, "data").items():
                yield "data key", key
                yield f"data.{key}", value
        if resource_type == K8S_CONFIG_MAP and isinstance(get(props, "binaryData"), Mapping):
            for key, value in get(props, "binaryData").items():  # base64: judged decoded
                yield "binaryData key", key
                yield f"binaryData.{key}", _decoded_binary(value)
    for container in pod_containers(resource_type, props) if containers is None else containers:
        yield from _container_places(container)
    for where, value in parameter_values(resource_type, props):  # Tekton params, Argo parameters
        yield from _strings(value, where)
    if resource_type == CONTAINER_GROUP:
        for container in _aci_containers(props):
            yield from _container_places(container)
    if resource_type in ACA_KINDS:
        yield from _scale_rule_metadata(props)
    if resource_type in (VIRTUAL_MACHINE, VM_SCALE_SET):
        for base in ("", "virtualMachineProfile."):
            root = get(props, "virtualMachineProfile") if base else props
            yield f"{base}osProfile.customData", _decoded_custom_data(get(root, "osProfile", "customData"))
            yield f"{base}userData", _decoded_custom_data(get(root, "userData"))
    if resource_type in (VM_EXTENSION, VMSS_EXTENSION):  # protectedSettings is the encrypted place
        yield from _strings(get(props, "settings"), "settings")
    if resource_type in RUN_COMMANDS:  # protectedParameters is the place for secrets
        yield "source.script", get(props, "source", "script")
        for index, parameter in enumerate(items(get(props, "parameters"))):
            yield f"parameters[{index}] {get(parameter, 'name')}", get(parameter, "value")
    if resource_type in WEB_APPS:
        for setting in items(get(props, "siteConfig", "appSettings")):
            yield f"siteConfig.appSettings {get(setting, 'name')}", get(setting, "value")
        for setting in items(get(props, "siteConfig", "connectionStrings")):
            yield f"siteConfig.connectionStrings {get(setting, 'name')}", get(setting, "connectionString")
    if resource_type in WEB_APP_SETTINGS and isinstance(get(props, "properties"), Mapping):
        for key, value in get(props, "properties").items():
            yield f"properties.{key}", value
    if resource_type in LOG_ALERTS:
        yield "description", get(props, "description")
    if resource_type in WORKBOOKS:
        yield "serializedData", get(props, "serializedData")
    yield from _custom_resource_places(resource_type, props)
    yield from _azure_places(resource_type, props)


def token_only_places(resource_type: str, props: Any, containers: list[Any] | None = None) -> Iterator[tuple[str, Any]]:
    """(where, value) for plain text that names something (an image, an email address) and may hold
    a Hugging Face token but, being a name, is not judged for random keys (a commit-hash image tag
    is not a key)."""
    for container in (pod_containers(resource_type, props) if containers is None else containers) + (
            _aci_containers(props) if resource_type == CONTAINER_GROUP else []):
        yield f"container '{get(container, 'name')}' image", get(container, "image")
    if resource_type in ACTION_GROUPS:
        for index, receiver in enumerate(items(get(props, "emailReceivers"))):
            yield f"emailReceivers[{index}] {get(receiver, 'name')}", get(receiver, "emailAddress")


def tag_pieces(props: Any) -> list[str]:
    """A resource's tag names and values, the pieces a token could be split across."""
    tags = get(props, "tags")
    if not isinstance(tags, Mapping):
        return []
    return [str(piece) for key, value in tags.items() for piece in (key, value) if isinstance(piece, str)]


def _pieces_of(mapping: Any) -> list[str]:
    if not isinstance(mapping, Mapping):
        return []
    return [piece for key, value in mapping.items() for piece in (key, value) if isinstance(piece, str)]


def piece_groups(resource_type: str, props: Any, containers: list[Any] | None = None) -> Iterator[tuple[str, list[str]]]:
    """(what, pieces) a reader puts together: tags, an object's labels and annotations, a ConfigMap's
    data, a container's env names and values (rules.hf_token_in_pieces finds a token split across them)."""
    yield "its tags", tag_pieces(props)
    if resource_type.startswith("kubernetes:"):
        for where, metadata in (("its metadata", get(props, "metadata")),
                                ("its pod template metadata", pod_template_metadata(resource_type, props))):
            yield f"{where} labels and annotations", \
                _pieces_of(get(metadata, "labels")) + _pieces_of(get(metadata, "annotations"))
        if resource_type == K8S_CONFIG_MAP:
            yield "its data", _pieces_of(get(props, "data"))
    containers = (pod_containers(resource_type, props) if containers is None else containers) + (
        _aci_containers(props) if resource_type == CONTAINER_GROUP else [])
    for container in containers:
        pieces = [piece for env in items(get(container, "env")) + items(get(container, "environmentVariables"))
                  for piece in (get(env, "name"), get(env, "value")) if isinstance(piece, str)]
        yield f"container '{get(container, 'name')}' env", pieces


def marked_secret(args: Any) -> set[str]:
    """The property names the resource option additionalSecretOutputs marks secret."""
    return {str(o) for o in (getattr(getattr(args, "opts", None), "additional_secret_outputs", None) or [])}


def plain_webhooks(args: Any) -> list[tuple[str, str, str]]:
    """(property, receiver name, URL field) for an action group's receivers whose URL (which carries its own
    credential: a webhook's, a Logic App's SAS `sig=`, a Function's `code=`) is not marked secret
    (SECRET_URL_RECEIVERS). The engine hands the policy secrets as plain values, so the mark the pack can
    read is the resource option additionalSecretOutputs naming the property (["webhookReceivers"] is what
    components/alerts.py sets)."""
    if args.resource_type not in ACTION_GROUPS:
        return []
    secret = marked_secret(args)
    return [(field, str(get(r, "name") or f"#{i}"), url) for field, url in SECRET_URL_RECEIVERS if field not in secret
            for i, r in enumerate(items(get(args.props, field))) if get(r, url)]


# An environment variable named for a credential, by the words of its name: HF_TOKEN, VLLM_API_KEY,
# AZURE_CLIENT_SECRET, DB_PASSWORD (not TOKENIZER_MODE, KEY_VAULT_NAME or PUBLIC_KEY)
CREDENTIAL_WORDS = frozenset({"TOKEN", "SECRET", "PASSWORD", "PASSWD", "APIKEY", "CREDENTIAL", "CREDENTIALS"})
KEY_QUALIFIERS = frozenset({"API", "ACCESS", "PRIVATE", "SECRET", "SIGNING", "ACCOUNT", "MASTER"})


def credential_name(name: Any) -> bool:
    words = re.split(r"[^A-Z0-9]+", str(name).upper())
    return any(w in CREDENTIAL_WORDS for w in words) or \
        any(a in KEY_QUALIFIERS and b == "KEY" for a, b in zip(words, words[1:]))


def credentials_from_config_maps(resource_type: str, props: Any) -> list[str]:
    """Where a Kubernetes container reads a credential-named variable from a ConfigMap (configMapKeyRef):
    the credential sits in plain text wherever the ConfigMap is, in this stack or not."""
    found = []
    containers = [c for spec, _ in pod_specs(resource_type, props) if resource_type.startswith("kubernetes:")
                  for key in ("initContainers", "containers", "ephemeralContainers") for c in items(get(spec, key))]
    containers += [c for pod, _ in unread_pods(resource_type, props) for c in pod.containers]  # Argo, Tekton, KServe
    for container in containers:  # a patch's containers too: it merges env into the live one by name
        for env in items(get(container, "env")):
            ref = get(env, "valueFrom", "configMapKeyRef")
            if isinstance(ref, Mapping) and credential_name(get(env, "name")):
                found.append(f"container '{get(container, 'name')}' env {get(env, 'name')} reads key "
                             f"'{get(ref, 'key')}' of ConfigMap '{get(ref, 'name')}'")
    return found


def _without_unknowns(value: Any) -> Any:
    """Plain props (``common.plain``) with every value not known yet (a preview) read as empty text: an
    unknown value cannot hold a token this pack could see, so only that leaf is skipped, the rest is read."""
    if is_unknown(value):
        return ""
    if isinstance(value, Mapping):
        return {key: _without_unknowns(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_without_unknowns(inner) for inner in value]
    return value


class _KnownArgs:
    """Resource arguments read from plain props without their unknown values (``_without_unknowns``):
    reading never raises UnknownValueError, so the policy is enforced in a preview too."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.plain_props = plain(inner.props)
        self.props = _without_unknowns(self.plain_props)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _PlainArgs:
    """Arguments whose props are the plain props, unknown values kept (``is_unknown``)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.props = inner.plain_props

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def validate_no_plain_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    args = _KnownArgs(args)
    for field, url in SECRET_URL_RECEIVERS if args.resource_type in ACTION_GROUPS else ():
        if is_unknown(get(args.plain_props, field)) and field not in marked_secret(args):
            # a receiver list not known yet may hold a URL with its own credential: the worse case
            report(f"{_label(args)}: {field} is not known yet (a preview) and not marked secret; a {url} "
                   f"carries its own credential: mark {field} secret (additional_secret_outputs)")
    for where in credentials_from_config_maps(args.resource_type, args.props):
        report(f"{_label(args)}: {where}, plain text to anyone who may read the namespace's ConfigMaps; keep "
               "the credential in a Secret (secretKeyRef) or in Key Vault through the Secrets Store CSI driver")
    for field, name, url in plain_webhooks(_PlainArgs(args)):  # an unknown URL is a URL still: reported
        report(f"{_label(args)}: {RECEIVER_WORDS[field]} receiver '{name}' has a {url} not marked secret; the URL "
               "carries its own credential: pass it with pulumi.Output.secret and "
               f"additional_secret_outputs=[\"{field}\"] (as components/alerts.py does for webhookReceivers)")
    tokens_found = False
    containers = pod_containers(args.resource_type, args.props)  # read once: a custom resource's take a walk
    for where, value in plain_places(args.resource_type, args.props, containers):
        if not isinstance(value, str):
            continue
        key = re.split(r"[.\s]", where)[-1]  # the tag, label, annotation, env or data key
        found = secret_looking(value, digest_lengths=digest_lengths_at(key))
        tokens_found |= found == "a Hugging Face token"
        if found:
            report(f"{_label(args)}: {where} holds {found}; pass secrets as Pulumi secrets through "
                   "Key Vault references, secretRef or secretKeyRef, never in plain properties")
    for where, value in token_only_places(args.resource_type, args.props, containers):
        if hf_token_in(value):
            report(f"{_label(args)}: {where} holds a Hugging Face token; names are plain text: pass the "
                   "token as a Pulumi secret through a Key Vault reference, secretRef or secretKeyRef")
    if tokens_found:
        return
    for what, pieces in piece_groups(args.resource_type, args.props, containers):
        if len(pieces) > 1 and rules.hf_token_in_pieces(pieces):
            report(f"{_label(args)}: {what} hold a Hugging Face token split across several entries (names or "
                   "values put together); they are plain text: keep the token in a secret store")


no_plain_secrets = ResourceValidationPolicy(
    name="no-secrets-in-plain-properties",
    description="No Hugging Face token or random key appears in tags, Kubernetes labels, "
                "annotations or ConfigMaps (keys and binaryData too), container env names and values (ACI "
                "included), command lines, probes and lifecycle hooks, Container Apps scale rule metadata, VM "
                "custom data (also gzip), VM extension settings, run commands, web app settings, alert "
                "descriptions (log, metric and activity log alerts) or workbooks, route header modifiers (Gateway API, "
                "Istio, Traefik, Application Gateway rewrites), KEDA trigger metadata, API Management named values "
                "not marked secret, App Configuration key-values, web app connection strings, pulumi-command "
                "commands and environment, no Hugging Face token in container images, alert email "
                "addresses or split across tags, labels, annotations or env, no credential-named variable is "
                "read from a ConfigMap, and "
                "action group webhook, Logic App and Azure Function receiver URLs are marked secret: secrets travel as Key Vault / secretRef / "
                "secretKeyRef references.",
    validate=normalised(validate_no_plain_secrets),
    enforcement_level=MANDATORY,
)




# ---------------------------------------------------------------- across the stack

def _unseen_in(resource: Any, props: Any, created: list[tuple[str | None, str]]) -> list[tuple[Any, str, Any]]:
    namespace, found = object_namespace(resource), []
    for pod in serving_pods(resource.resource_type, props):
        if not (pod.gpu or pod.vllm):
            continue
        for container in pod.containers:
            for kind, name, _ in env_from_sources(container):
                if kind == "ConfigMap" and isinstance(name, str) and name and not is_unknown(name) and not any(
                        known == name and namespace_match(space, namespace) != "no" for space, known in created):
                    found.append((resource, str(get(container, "name")), name))
    return found


def unseen_config_maps(resources: list[Any]) -> list[tuple[Any, str, Any]]:
    """(workload, container name, ConfigMap name) for each ConfigMap a pod that holds GPUs or runs vLLM loads
    whole with envFrom and the stack does not create (by namespace and name). Whether it holds a credential
    in plain text (or NVIDIA_VISIBLE_DEVICES) is unseen: the worse case. A name not known yet (a first
    preview of a ConfigMap the stack names itself) is left alone."""
    created = [(object_namespace(r), object_name(r)) for r in resources if r.resource_type == K8S_CONFIG_MAP]
    found = []
    for resource in (r for r in resources if may_hold_pods(r.resource_type)):
        try:
            found += _unseen_in(resource, resource.props, created)
        except UnknownValueError:  # read for the worse case from the plain props, never failing the policy
            found += _unseen_in(resource, plain(resource.props), created)
    return found


def validate_no_unseen_env_across_stack(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource, container, name in unseen_config_maps(list(args.resources)):
        report(f"{_label(resource)}: container '{container}' of a pod that holds GPUs or runs vLLM loads every key "
               f"of ConfigMap '{name}' (envFrom), which this stack does not create, so no policy sees whether it "
               "holds a credential in plain text or NVIDIA_VISIBLE_DEVICES; create the ConfigMap in this stack "
               "(its data is then judged), or name each variable (value, secretKeyRef)", resource.urn)


no_unseen_env_across_stack = StackValidationPolicy(
    name="no-secrets-in-plain-properties-across-stack",
    description="Across the stack: a Kubernetes pod that holds GPUs or runs vLLM loads no ConfigMap with "
                "envFrom that the stack does not create (matched by namespace and name): the pack cannot see "
                "whether it holds a credential in plain text or NVIDIA_VISIBLE_DEVICES.",
    validate=normalised(validate_no_unseen_env_across_stack),
    enforcement_level=MANDATORY,
)
