"""The one error type for configuration mistakes, and what it may never show.

Pulumi prints a ``RunError`` as its message alone, without a stack trace, which is what a
user who mistyped a config value should see. Every message passes ``redact``: the values of the
configured secrets (registered with ``register_secret`` when the stack or the args read them),
and anything shaped like a Hugging Face token (also with a space or a dot inside:
``rules.hf_token_spans``), are replaced wherever they appear, whichever key
they were put under; an echoed value is cut to ``SHOWN_MAX`` characters.
"""

from __future__ import annotations

import pulumi

from .rules import redact_hf_tokens

SHOWN_MAX = 80  # an echoed value is cut here: enough to recognise, too short to flood a terminal
SECRET_MIN_LENGTH = 8  # shorter "secrets" are refused elsewhere; redacting them would mangle words
_SECRETS: dict[str, str] = {}  # secret value -> the key it was configured as


def register_secret(key: str, value: object) -> None:
    """Remember a configured secret's plain value so no message ever shows it."""
    if isinstance(value, str) and len(value) >= SECRET_MIN_LENGTH:
        _SECRETS[value] = key


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
    text = redact(repr(redact(value) if isinstance(value, str) else value))  # before repr escapes a gap
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX - 3] + "..."


class ConfigError(pulumi.RunError):
    """A stack setting is wrong: the message names the key, the value, why, and what works."""

    def __init__(self, key: str, value: object, why: str, fix: str):
        self.key, self.value, self.why, self.fix = key, value, why, fix
        full_key = key if ":" in key else f"apertus-azure:{key}"
        head = f"{full_key} {why}" if value is None else f"{full_key} = {shown(value)}: {why}"
        super().__init__(" ".join(redact(f"{head}; {fix}").split("\n")))
