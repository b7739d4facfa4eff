"""Pinned images: the rule is components/serving/rules.py image_pin_problem, shared with the program."""

from __future__ import annotations

import re
import shlex
from typing import Any

import yaml
from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .common import (
    normalised,
    ACA_KINDS,
    MANDATORY,
    VIRTUAL_MACHINE,
    _label,
    aca_containers,
    get,
    items,
    k8s_containers,
    rules,
)
from .secrets import _decoded_custom_data


# ---------------------------------------------------------------- pinned images

# the program refuses the same images (components/serving/references.py check_pinned_image)
image_problem = rules.image_pin_problem
shown = rules.redact_hf_tokens  # an image reference in a message never shows a token pasted into it
LATEST_IN_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*:latest\b")


# `docker run`/`pull` options that take no value (docker run --help, docker pull --help, Docker 28);
# every other option takes one, as the next word unless written --option=value
DOCKER_FLAGS = frozenset({"--all-tags", "--rm", "--detach", "--interactive", "--tty", "--init",
                          "--privileged",
                          "--read-only", "--publish-all", "--oom-kill-disable", "--no-healthcheck",
                          "--disable-content-trust", "--quiet", "--sig-proxy", "--help"})
DOCKER_SHORT_FLAGS = frozenset("ditPq")  # -d -i -t -P -q, also clustered as -it, -dit
DOCKER_IMAGE_COMMAND = re.compile(r"\bdocker\s+(?:container\s+|image\s+)?(run|create|pull)\s+(.*)")
FOR_IMAGE_LOOP = re.compile(r"\bfor\s+(\w+)\s+in\s+(.*?);\s*do\b")


def _shell_lines(script: str) -> list[str]:
    """Lines with backslash continuations joined, as the shell reads them."""
    return re.sub(r"\\\n\s*", " ", script).splitlines()


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:  # unbalanced quotes: fall back to plain words
        return text.split()


def _image_after_options(words: list[str]) -> str | None:
    """The first argument of `docker run`/`create`/`pull` that is not an option or an option's value."""
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("--"):
            skip = "=" not in word and word not in DOCKER_FLAGS
        elif word.startswith("-") and len(word) > 1:
            skip = not set(word[1:]) <= DOCKER_SHORT_FLAGS and len(word) == 2
        elif word.startswith("$"):  # "${docker_args[@]}": options from an array
            continue
        else:
            return word
    return None


def shell_image_references(script: str) -> list[str]:
    """Image references a shell script pulls or runs with docker: literal arguments of
    `docker pull`/`run`/`create`, and the words of a `for <var> in ...; do` loop whose body pulls
    or runs "$<var>" (the shapes components/cloudinit.py writes)."""
    lines = _shell_lines(script)
    found: list[str] = []
    for index, line in enumerate(lines):
        loop = FOR_IMAGE_LOOP.search(line)
        if loop:
            body = "\n".join(lines[index:index + 5])  # the loop body follows on the next lines
            if re.search(r"docker\s+(?:pull|run|create)\b[^\n]*\$\{?" + loop.group(1) + r"\b", body):
                found += [w for w in _words(loop.group(2)) if not w.startswith("$")]
        command = DOCKER_IMAGE_COMMAND.search(line)
        if command:
            words = _words(re.split(r"\s(?:\|\||&&|;|\|)\s", command.group(2))[0])
            image = _image_after_options(words)
            if image and not image.startswith("$"):
                found.append(image)
    return list(dict.fromkeys(found))


# A cloud-config whose aliases expand past this many nodes is not walked (a YAML "billion laughs":
# ~460 bytes of nested aliases expand to minutes and gigabytes); its text is still scanned as shell.
# Far above any real cloud-config (the VM host's has no alias); Go's yaml.v3 bounds the same way.
MAX_EXPANDED_NODES = 10_000


def expanded_nodes(node: yaml.Node, limit: int = MAX_EXPANDED_NODES) -> int:
    """How many nodes ``node`` stands for once every alias is expanded, counting no further than limit + 1."""
    sizes: dict[int, int] = {}

    def size(current: yaml.Node) -> int:
        if id(current) not in sizes:
            children = (current.value if isinstance(current, yaml.SequenceNode) else
                        [part for pair in current.value for part in pair] if isinstance(current, yaml.MappingNode)
                        else [])
            total = 1
            for child in children:
                total = min(total + size(child), limit + 1)
            sizes[id(current)] = total
        return sizes[id(current)]

    return size(node)


def custom_data_scripts(text: str) -> list[str]:
    """The shell in VM custom data: a cloud-config's write_files contents, runcmd and bootcmd
    entries (YAML may quote them, which would hide their lines), plus the text itself."""
    scripts = [text]
    if text.startswith("#cloud-config"):
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)  # composing shares aliased nodes: cheap
            if node is None or expanded_nodes(node) > MAX_EXPANDED_NODES:
                return scripts
            document = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError):
            return scripts
        if isinstance(document, dict):
            scripts += [str(get(f, "content")) for f in items(document.get("write_files"))
                        if get(f, "content")]
            for key in ("runcmd", "bootcmd"):
                for entry in items(document.get(key)):
                    scripts.append(shlex.join(map(str, entry)) if isinstance(entry, list) else str(entry))
    return scripts


def custom_data_images(props: Any) -> list[str]:
    text = _decoded_custom_data(get(props, "osProfile", "customData"))
    return list(dict.fromkeys(reference for script in custom_data_scripts(text)
                              for reference in shell_image_references(script)))


def validate_pinned_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in ACA_KINDS:
        containers = list(aca_containers(args.props))
    else:
        containers = list(k8s_containers(args.resource_type, args.props))
    for container in containers:
        image = get(container, "image")
        problem = "is missing" if not image else image_problem(str(image))
        if problem:
            report(f"{_label(args)}: container '{get(container, 'name')}' image '{shown(str(image))}' "
                   f"{problem}; pin a full version tag (major.minor.patch) or a digest")
    if args.resource_type == VIRTUAL_MACHINE:
        references = custom_data_images(args.props)
        for reference in references:
            problem = image_problem(reference)
            if problem:
                report(f"{_label(args)}: custom data pulls or runs image '{shown(reference)}': it {problem}; "
                       "pin a full version tag (major.minor.patch) or a digest")
        # any other ':latest' image the parser does not see (another container tool, another shape)
        text = _decoded_custom_data(get(args.props, "osProfile", "customData"))
        for reference in sorted(set(LATEST_IN_TEXT.findall(text)) - set(references)):
            report(f"{_label(args)}: custom data names image '{shown(reference)}'; pin a version tag or a "
                   "digest")


images_pinned = ResourceValidationPolicy(
    name="images-pinned",
    description="Container images (Container Apps, Kubernetes workloads, and the images VM custom data "
                "pulls or runs with docker) carry a full version tag (major.minor.patch, a date or a "
                "build) or a digest, never 'latest', 'nightly', a bare major or major.minor ('2', "
                "'2.10') or a similar moving tag, and never no tag.",
    validate=normalised(validate_pinned_images),
    enforcement_level=MANDATORY,
)
