"""The one error type for configuration mistakes, and what it may never show.

Pulumi prints a ``RunError`` as its message alone, without a stack trace, which is what a
user who mistyped a config value should see. Every message passes ``redact``: the values of the
configured secrets (registered with ``register_secret`` when the stack or the args read them),
and anything shaped like a Hugging Face token (also cut by separators or hidden by invisible
characters: ``rules.hf_token_spans``), are replaced wherever they appear, whichever key
they were put under; an echoed value is cut to ``SHOWN_MAX`` characters.

A message names the setting the way the user gave it. From a stack (and from the component
package's inputs) that is the config key, ``apertus-azure:maxModelLen``, and YAML's words for the fix
("without quotes"). From a program that builds a host's args in Python it is the argument,
``GpuVirtualMachineArgs: max_model_len``, with the other settings named by their fields and the fix in
Python's words (``args_fix``). The args say which they are while they check (``speaking_of``); a
stack reading its config says so first (``speaking_of(CONFIG)``), and the first to say wins.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextvars import ContextVar

import pulumi

from .rules import redact_hf_tokens
from .settings import ARGS_ONLY, SETTINGS

SHOWN_MAX = 80  # an echoed value is cut here: enough to recognise, too short to flood a terminal
SECRET_MIN_LENGTH = 8  # shorter "secrets" are refused elsewhere; redacting them would mangle words
_SECRETS: dict[str, str] = {}  # secret value -> the key it was configured as


def register_secret(key: str, value: object) -> None:
    """Remember a configured secret's plain value so no message ever shows it."""
    if isinstance(value, str) and len(value) >= SECRET_MIN_LENGTH:
        _SECRETS[value] = python_names(key) if args_class() else key  # named as the user gave it


def forget_secrets() -> None:
    """Start over: a stack read registers its own secrets (one process may read several stacks)."""
    _SECRETS.clear()


def redact(text: str) -> str:
    """``text`` with every registered secret and every Hugging Face token shape replaced."""
    for value, key in sorted(_SECRETS.items(), key=lambda item: -len(item[0])):
        if value in text:
            text = text.replace(value, f"<the value of {key}, redacted>")
    return redact_hf_tokens(text, "<a Hugging Face token, redacted>")


def shown(value: object) -> str:
    """A value as an error message echoes it: repr, redacted, at most SHOWN_MAX characters."""
    if isinstance(value, bool) and args_class() is None:  # a stack file's words: true, not True
        return str(value).lower()
    text = redact(repr(redact(value) if isinstance(value, str) else value))  # before repr escapes a gap
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX - 3] + "..."


CONFIG = "config"  # the setting came from a stack's config (or a component input): name its config key
_SPEAKING_OF: ContextVar[str | None] = ContextVar("apertus_azure_speaking_of", default=None)
# config key -> args field, where they differ (allowedCidrs -> allowed_cidrs, the region's key -> location)
ARGS_FIELDS = {s.key: s.field for s in (*SETTINGS, *ARGS_ONLY) if s.field and s.field != s.key} | {
    "azure-native:location": "location"}
_CONFIG_KEY_WORD = re.compile(r"(?<![\w:.'\"-])(" + "|".join(sorted(
    (re.escape(key) for key in ARGS_FIELDS if ":" not in key), key=len, reverse=True)) + r")(?![\w'\"])")
NOT_ARGS_FIELDS = {s.key for s in SETTINGS if not s.field}  # host, expectedRequestsPerMinute: stack only


@contextlib.contextmanager
def speaking_of(source: str) -> Iterator[None]:
    """Errors raised inside name their setting for ``source``: CONFIG (the config key) or the name of
    an args class (its argument). An outer source stays: a stack's config builds args too."""
    if _SPEAKING_OF.get() is not None:
        yield
        return
    token = _SPEAKING_OF.set(source)
    try:
        yield
    finally:
        _SPEAKING_OF.reset(token)


def args_class() -> str | None:
    """The args class whose arguments the errors raised now are about, or None (config keys)."""
    source = _SPEAKING_OF.get()
    return None if source in (None, CONFIG) else source


# a stack's `host` setting, in a program: the component class that is that host
HOST_COMPONENTS = {"containerapp": "ContainerAppGpu", "vm": "GpuVirtualMachine", "aks": "AksGpuCluster"}
_HOSTS_WITH_GPU = re.compile(r"\bhost ((?:'(?:containerapp|vm|aks)'(?: or )?)+)(?: with gpu '([^']+)')?")


def _components_for_hosts(match: re.Match) -> str:
    classes = " or ".join(HOST_COMPONENTS[host] for host in re.findall(r"'(\w+)'", match.group(1)))
    return f"{classes} with gpu='{match.group(2)}'" if match.group(2) else classes


def python_names(text: str) -> str:
    """Config keys in ``text`` as the args fields they are (maxReplicas -> max_replicas), and a host
    ("host 'aks' with gpu 'X'") as its component class (AksGpuCluster with gpu='X'); a key in quotes
    (pulumi.Config().require_secret('hfToken')) stays."""
    text = _HOSTS_WITH_GPU.sub(_components_for_hosts, text)
    return _CONFIG_KEY_WORD.sub(lambda match: ARGS_FIELDS[match.group(1)], text)


def argument(args_name: str, key: str) -> str:
    """How an args error names its setting: ``GpuVirtualMachineArgs: max_model_len``, ``model['layers']``."""
    head, *path = key.split(".")
    if head in NOT_ARGS_FIELDS:
        return f"{args_name}: {head}"
    field = ARGS_FIELDS.get(head) or (head if ":" in head else re.sub(r"(?<!^)(?=[A-Z])", "_", head).lower())
    return f"{args_name}: {field}" + "".join(f"[{part!r}]" for part in path)


class ConfigError(pulumi.RunError):
    """A setting is wrong: the message names the key, the value, why, and what works.

    ``args_fix`` (``args_why``): the fix (the why) in a Python program's words, where ``fix`` speaks of
    the stack file (YAML quoting, ``pulumi config set``); without it, ``fix`` is used with the settings
    named by their fields."""

    def __init__(self, key: str, value: object, why: str, fix: str, *, args_fix: str | None = None,
                 args_why: str | None = None):
        self.key, self.value, self.why, self.fix = key, value, why, fix
        self.args_fix, self.args_why = args_fix, args_why
        args_name = args_class()
        if args_name is None:
            subject = key if ":" in key else f"apertus-azure:{key}"
        else:
            subject = argument(args_name, key)
            why, fix = python_names(args_why or why), python_names(args_fix or fix)
        if args_name is not None and key in NOT_ARGS_FIELDS:  # about the args as a whole
            head = f"{args_name}: {why}"
        else:
            head = f"{subject} {why}" if value is None else f"{subject} = {shown(value)}: {why}"
        super().__init__(" ".join(redact(f"{head}; {fix}").split("\n")))
