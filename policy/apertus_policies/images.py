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
    POD_SPEC_PATHS,
    VIRTUAL_MACHINE,
    VM_SCALE_SET,
    _label,
    aca_containers,
    get,
    is_unknown,
    items,
    k8s_containers,
    merges_containers,
    plain,
    rules,
)
from .containers import unread_pods
from .secrets import _decoded_custom_data


# ---------------------------------------------------------------- pinned images

# the program refuses the same images (components/serving/references.py check_pinned_image)
image_problem = rules.image_pin_problem
shown = rules.redact_hf_tokens  # an image reference in a message never shows a token pasted into it
# anchored at the start of a run of reference characters (the lookbehind), so each run is tried once:
# the unanchored pattern retried every position of a long run and took quadratic time
LATEST_IN_TEXT = re.compile(r"(?<![A-Za-z0-9._/-])[A-Za-z0-9._/-]+:latest\b")

# Custom data past this much text is not read further (a few KB of gzip inflate to megabytes); the
# rest may pull any image, so custom data this long is a violation (the worse case), far above a real
# cloud-config (Azure caps customData at 64 KB of base64 before compression)
MAX_SCANNED_TEXT = 512 * 1024
# a shell line's `docker run`/`pull` arguments and a `for` loop's words are read this far
MAX_COMMAND_TEXT = 4096


# `docker run`/`pull` options that take no value (docker run --help, docker pull --help, Docker 28);
# every other option takes one, as the next word unless written --option=value
DOCKER_FLAGS = frozenset({"--all-tags", "--rm", "--detach", "--interactive", "--tty", "--init",
                          "--privileged",
                          "--read-only", "--publish-all", "--oom-kill-disable", "--no-healthcheck",
                          "--disable-content-trust", "--quiet", "--sig-proxy", "--help"})
DOCKER_SHORT_FLAGS = frozenset("ditPq")  # -d -i -t -P -q, also clustered as -it, -dit
DOCKER_IMAGE_COMMAND = re.compile(r"\bdocker\s+(?:container\s+|image\s+)?(run|create|pull)\s+(.*)")
# `for <var> in <words>` up to the `;` that a `do` follows (found by splitting at `;`, so no pattern
# scans a line from every `for`: the lazy `(.*?);\s*do` did, in quadratic time)
FOR_IMAGE_LOOP = re.compile(r"\bfor\s+(\w+)\s+in\s")
LOOP_DO = re.compile(r"\s*do\b")
DOCKER_PULLS = re.compile(r"docker\s+(?:pull|run|create)\b")


def latest_in_text(text: str) -> list[str]:
    """Every 'name:latest' in text (a reference starts at a letter or digit), in linear time."""
    found = (match.lstrip("._/-") for match in LATEST_IN_TEXT.findall(text))
    return [reference for reference in found if not reference.startswith(":")]


def _loops(line: str) -> list[tuple[str, str]]:
    """(variable, words) of each `for <variable> in <words>; do` on one shell line."""
    pieces = line.split(";")
    loops = []
    for piece, after in zip(pieces, pieces[1:]):
        if LOOP_DO.match(after):
            head = FOR_IMAGE_LOOP.search(piece)
            if head:
                loops.append((head.group(1), piece[head.end():][:MAX_COMMAND_TEXT]))
    return loops


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
    pulled: dict[int, set[str]] = {}  # line index: the variables a docker pull/run/create on it names

    def pulls(index: int) -> set[str]:
        if index not in pulled:
            pull = DOCKER_PULLS.search(lines[index]) if "docker" in lines[index] else None
            pulled[index] = set(re.findall(r"\$\{?(\w+)", lines[index][pull.end():])) if pull else set()
        return pulled[index]

    for index, line in enumerate(lines):
        for variable, loop_words in _loops(line) if "for" in line else ():
            # the loop body follows on the next lines
            if any(variable in pulls(body) for body in range(index, min(index + 5, len(lines)))):
                found += [w for w in _words(loop_words) if not w.startswith("$")]
        command = DOCKER_IMAGE_COMMAND.search(line) if "docker" in line else None
        if command:
            arguments = command.group(2)[:MAX_COMMAND_TEXT]
            words = _words(re.split(r"\s(?:\|\||&&|;|\|)\s", arguments)[0])
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


class TooLarge(Exception):
    """A cloud-config with more YAML nodes than the pack reads."""


class _CountingLoader(yaml.SafeLoader):
    """PyYAML's safe loader that stops composing past MAX_EXPANDED_NODES nodes, so a flat list of
    millions of items is refused while it is read, not held in memory whole first (an alias counts
    once here; expanded_nodes bounds what aliases stand for)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.composed = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.composed += 1
        if self.composed > MAX_EXPANDED_NODES:
            raise TooLarge
        return super().compose_node(parent, index)


def read_custom_data(text: str) -> tuple[list[str], str | None]:
    """The shell in VM custom data (``custom_data_scripts``) and why some of it was not read, or None:
    text past MAX_SCANNED_TEXT, or a cloud-config past MAX_EXPANDED_NODES nodes (aliases expanded)."""
    problem = None
    if len(text) > MAX_SCANNED_TEXT:
        problem = (f"is longer than {MAX_SCANNED_TEXT // 1024} KiB once decoded, which this pack does not read "
                   "past, so the images its rest pulls cannot be judged")
        text = text[:MAX_SCANNED_TEXT]
    scripts = [text]
    if text.startswith("#cloud-config"):
        loader = _CountingLoader(text)
        try:
            node = loader.get_single_node()  # composing shares aliased nodes: cheap
            if node is None:
                return scripts, problem
            if expanded_nodes(node) > MAX_EXPANDED_NODES:
                raise TooLarge
            document = loader.construct_document(node)
        except TooLarge:
            return scripts, problem or (
                f"is a cloud-config of more than {MAX_EXPANDED_NODES:,} YAML nodes (aliases expanded), which "
                "this pack does not walk, so the images its runcmd, bootcmd and write_files pull cannot be judged")
        except (yaml.YAMLError, RecursionError):
            return scripts, problem
        finally:
            loader.dispose()
        if isinstance(document, dict):
            scripts += [str(get(f, "content")) for f in items(document.get("write_files"))
                        if get(f, "content")]
            for key in ("runcmd", "bootcmd"):
                for entry in items(document.get(key)):
                    scripts.append(shlex.join(map(str, entry)) if isinstance(entry, list) else str(entry))
    return scripts, problem


def custom_data_scripts(text: str) -> list[str]:
    """The shell in VM custom data: a cloud-config's write_files contents, runcmd and bootcmd
    entries (YAML may quote them, which would hide their lines), plus the text itself (at most
    MAX_SCANNED_TEXT of it; a cloud-config past MAX_EXPANDED_NODES nodes gives the text only)."""
    return read_custom_data(text)[0]


BASH_ARRAY = re.compile(r"\b(\w+)\+?=\(([^)]*)\)", re.DOTALL)  # name=( ... ) or name+=( ... ), one per line too


def machine_custom_data(resource_type: str, props: Any) -> str | None:
    """A VM's or scale set's custom data as text (base64, gzip too), or None when it has none or it is not
    known yet."""
    profile = get(props, "virtualMachineProfile") if resource_type == VM_SCALE_SET else props
    encoded = get(profile, "osProfile", "customData")
    if encoded is None or is_unknown(encoded):
        return None
    return _decoded_custom_data(encoded)


def docker_runs(script: str) -> list[tuple[list[str], str, list[str]]]:
    """Each `docker run`/`create` of a script as (options, image, arguments), with "${name[@]}" replaced by
    the words of the bash array `name` the script defines (components/cloudinit.py writes its options so)."""
    arrays: dict[str, list[str]] = {}
    for match in BASH_ARRAY.finditer(script):
        arrays.setdefault(match.group(1), []).extend(_words(match.group(2)))
    runs = []
    for line in _shell_lines(script):
        command = DOCKER_IMAGE_COMMAND.search(line) if "docker" in line else None
        if command is None or command.group(1) == "pull":
            continue
        words: list[str] = []
        for word in _words(re.split(r"\s(?:\|\||&&|;|\|)\s", command.group(2))[0]):
            array = re.fullmatch(r"\$\{(\w+)\[[@*]\]\}", word)
            words += arrays.get(array.group(1), [word]) if array else [word]
        image = _image_after_options(words)
        if image is not None:
            index = words.index(image)
            runs.append((words[:index], image, words[index + 1:]))
    return runs


def docker_options(options: list[str]) -> list[tuple[str, str]]:
    """`docker run` options as (name, value): `--name=value`, `--name value`, `-p9000:8000` (a short option
    and its value joined); a flag's value is the next word or '' (the reader knows which names take one)."""
    read = []
    for index, word in enumerate(options):
        name, equals, value = word.partition("=")
        if not equals and len(name) > 2 and name.startswith("-") and not name.startswith("--"):
            name, value = name[:2], name[2:]
        elif not equals:
            value = options[index + 1] if index + 1 < len(options) else ""
        read.append((name, value))
    return read


def custom_data_images(props: Any) -> list[str]:
    return _custom_data_reading(props)[0]


def _custom_data_reading(props: Any) -> tuple[list[str], list[str], str | None]:
    """(images the VM's custom data pulls or runs, other ':latest' names in it, why part was not read)."""
    text = _decoded_custom_data(get(props, "osProfile", "customData"))
    scripts, problem = read_custom_data(text)
    references = list(dict.fromkeys(reference for script in scripts
                                    for reference in shell_image_references(script)))
    return references, latest_in_text(scripts[0]), problem


def validate_pinned_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # read from plain props (common.plain): a value not known yet (a preview) never raises; an image, a
    # container list or VM custom data not known yet is reported as not judgeable yet (it may be unpinned)
    props = plain(args.props)
    if args.resource_type in ACA_KINDS:
        containers = list(aca_containers(props))
        if is_unknown(get(props, "template")) or is_unknown(get(props, "template", "containers")) or \
                is_unknown(get(props, "template", "initContainers")):
            report(f"{_label(args)}: its containers are not known yet (a preview), so whether their images "
                   "are pinned cannot be judged; pass a known image reference, or judge again in `pulumi up`")
    else:
        containers = list(k8s_containers(args.resource_type, props))
        spec, path = props, POD_SPEC_PATHS.get(str(args.resource_type), ())
        for step in path:
            spec = spec if is_unknown(spec) else get(spec, step)
        if path and (is_unknown(spec) or any(is_unknown(get(spec, key)) for key in
                                             ("initContainers", "containers", "ephemeralContainers"))):
            report(f"{_label(args)}: its pod's containers are not known yet (a preview), so whether their images "
                   "are pinned cannot be judged; pass a known image reference, or judge again in `pulumi up`")
        # pods the common readers miss (containers.unread_pods): a made-up pod's container without an
        # image (a KServe model, served by its runtime's image) is not judged
        containers += [container for pod, whole in unread_pods(args.resource_type, props)
                       for container in pod.containers if whole or get(container, "image") is not None]
    if merges_containers(args.resource_type):  # merged by name into the operator's containers, its image kept
        containers = [c for c in containers if is_unknown(c) or get(c, "image") is not None]
    for container in containers:
        if is_unknown(container):
            report(f"{_label(args)}: a container is not known yet (a preview), so whether its image is pinned "
                   "cannot be judged; pass a known image reference, or judge again in `pulumi up`")
            continue
        image = get(container, "image")
        if is_unknown(image):
            report(f"{_label(args)}: container '{get(container, 'name')}' image is not known yet (a preview), so "
                   "whether it is pinned cannot be judged; pass a known image reference, or judge again in "
                   "`pulumi up`")
            continue
        problem = "is missing" if not image else image_problem(str(image))
        if problem:
            report(f"{_label(args)}: container '{get(container, 'name')}' image '{shown(str(image))}' "
                   f"{problem}; pin a full version tag (major.minor.patch) or a digest")
    if args.resource_type == VIRTUAL_MACHINE:
        if is_unknown(get(props, "osProfile")) or is_unknown(get(props, "osProfile", "customData")):
            report(f"{_label(args)}: custom data is not known yet (a preview), so the images it pulls cannot be "
                   "judged; pass custom data known before deployment, or judge again in `pulumi up`")
        references, latest, unread = _custom_data_reading(props)
        if unread:
            report(f"{_label(args)}: custom data {unread}; keep it shorter, or pull images from a script "
                   "the pack can read whole")
        for reference in references:
            problem = image_problem(reference)
            if problem:
                report(f"{_label(args)}: custom data pulls or runs image '{shown(reference)}': it {problem}; "
                       "pin a full version tag (major.minor.patch) or a digest")
        # any other ':latest' image the parser does not see (another container tool, another shape)
        for reference in sorted(set(latest) - set(references)):
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
