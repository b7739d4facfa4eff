"""The one error type for configuration mistakes.

Pulumi prints a ``RunError`` as its message alone, without a stack trace, which is what a
user who mistyped a config value should see.
"""

from __future__ import annotations

import pulumi


class ConfigError(pulumi.RunError):
    """A stack setting is wrong: the message names the key, the value, why, and what works."""

    def __init__(self, key: str, value: object, why: str, fix: str):
        self.key, self.value, self.why, self.fix = key, value, why, fix
        full_key = key if ":" in key else f"apertus-azure:{key}"
        shown = f"{full_key} {why}" if value is None else f"{full_key} = {value!r}: {why}"
        super().__init__(f"{shown}; {fix}")
