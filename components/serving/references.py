"""Names other systems parse: container image references and Hugging Face repo ids.

Pure checks, each a one-line ConfigError, so a value Docker or the Hub would refuse fails at
config time instead of as a container that never starts.
"""

from __future__ import annotations

import re

from .checks import check_no_hf_token
from .errors import ConfigError
from .rules import digest_problem, image_pin_problem

# Docker distribution reference grammar, as compiled in github.com/distribution/reference v0.6.0
# regexp.go (the grammar comment in reference.go; Docker CLI and containerd both vendor it):
#   reference := name [":" tag] ["@" digest];  name := [domain "/"] remote-name
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(rf"({_NAME})(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII)
IMAGE_NAME_MAX = 255  # distribution/reference NameTotalLengthMax

# Hugging Face repo ids, as huggingface_hub.utils.validate_repo_id checks them: "name" or
# "namespace/name", each 1-96 of [A-Za-z0-9._-], not starting or ending with "-" or ".", no "--"
# or "..", not ending in ".git"
_HF_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
HF_REPO_ID = re.compile(rf"(?:{_HF_PART}/)?{_HF_PART}", re.ASCII)
HF_REPO_ID_MAX = 96


def check_image_reference(key: str, value: str) -> str:
    """An image reference Docker can pull, e.g. ``vllm/vllm-openai:v0.33.0``."""
    check_no_hf_token(key, value, "an image reference (in every container spec and VM custom data)")
    match = IMAGE_REFERENCE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(key, value, "is not a valid container image reference (Docker's "
                          "grammar: lowercase repository path, optional registry host, ':tag' of "
                          "at most 128 word characters, optional '@sha256:<hex>')",
                          "give a reference like vllm/vllm-openai:v0.33.0")
    if len(match.group(1)) > IMAGE_NAME_MAX:
        raise ConfigError(key, value[:40] + "...", f"has a name longer than {IMAGE_NAME_MAX} "
                          "characters, which Docker refuses", "shorten the repository path")
    return value


def check_pinned_image(key: str, value: str) -> str:
    """A valid image reference that names one release: a tag with a full version (major.minor.patch),
    a date or a build, or a digest (the rule is ``rules.image_pin_problem``, which the policy pack
    applies too)."""
    if isinstance(value, str) and "@" in value:  # a digest the grammar refuses: say what is wrong with it
        check_no_hf_token(key, value, "an image reference (in every container spec and VM custom data)")
        problem = digest_problem(value.split("@", 1)[1])
        if problem:
            raise ConfigError(key, value, problem, "or drop the digest and pin with the full version tag, "
                              "like vllm/vllm-openai:v0.33.0")
    check_image_reference(key, value)
    problem = image_pin_problem(value)
    if problem:
        raise ConfigError(key, value, f"is not pinned to a version: it {problem}",
                          "give the full version tag, like vllm/vllm-openai:v0.33.0, or a digest "
                          "(...@sha256:<64 hex digits>), so every restart and new node runs the vLLM the plan read")
    return value


def check_hf_repo_id(key: str, value: str) -> str:
    """A Hugging Face repo id, e.g. ``swiss-ai/Apertus-8B-Instruct-2509``."""
    check_no_hf_token(key, value, "the model id (on vLLM's command line)")
    valid = (isinstance(value, str) and HF_REPO_ID.fullmatch(value) is not None
             and all(len(part) <= HF_REPO_ID_MAX for part in value.split("/"))
             and "--" not in value and ".." not in value and not value.endswith(".git"))
    if not valid:
        raise ConfigError(key, value, "is not a valid Hugging Face repo id ('name' or "
                          "'namespace/name', each 1-96 of letters, digits, '-', '_', '.', not "
                          "starting or ending with '-' or '.', no '--' or '..', no '.git' ending)",
                          "give the id as shown on the model's Hugging Face page, like "
                          "swiss-ai/Apertus-8B-Instruct-2509")
    return value
