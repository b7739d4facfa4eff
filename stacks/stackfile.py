"""Stack files as the Pulumi CLI reads them: ``Pulumi.yaml`` declarations and ``Pulumi.<stack>.yaml``
values, parsed like Go's yaml.v3 (YAML 1.2), every mistake one ``StackFileError`` line naming file
and line. Used by every command that reads a stack offline (plan, preflight, smoke).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRET_PLACEHOLDER = "offline-placeholder-secret-0123456789abcdef"  # passes the apiKey rules


class StackFileError(Exception):
    pass


class PulumiYamlLoader(yaml.SafeLoader):
    """YAML as Pulumi reads it (Go yaml.v3): the YAML 1.2 core schema, not PyYAML's YAML 1.1.

    So ``19:00`` stays the string "19:00" (YAML 1.1 reads base-60 1140), ``yes``/``no``/``on``/
    ``off`` stay strings, ``0o17`` is 15 and dates stay strings (yaml.v3 hands a timestamp to an
    untyped value as its text). Resolvers from the YAML 1.2.2 spec, section 10.3.2 (core schema).
    A top-level setting is handed over as its text anyway (``stack_value``); the schema matters
    inside map and list values. yaml.v3 also reads ``0777`` as octal and ``0b11``/``1_000`` as
    numbers there, which the core schema leaves decimal and strings.
    """

    yaml_implicit_resolvers: dict = {}


for _tag, _pattern, _first in [
    ("null", r"^(?:~|null|Null|NULL|)$", list("~nN") + [""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
]:
    PulumiYamlLoader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), _first)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    return int(text[2:], 8) if text.startswith("0o") else int(text, 0 if text.startswith("0x") else 10)


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    return float(text.replace(".inf", "inf").replace(".nan", "nan"))


PulumiYamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
PulumiYamlLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _where(path: Path, mark: Any) -> str:
    return f"{path.name}, line {mark.line + 1}" if mark is not None else path.name


# Limits of Pulumi's own parser, gopkg.in/yaml.v3 (github.com/go-yaml/yaml, branch v3): decode.go
# refuses a document whose decoding is mostly alias expansion ("yaml: document contains excessive
# aliasing": more than 100 aliased nodes among more than 1,000 decoded, in a share above
# allowedAliasRatio), and nesting deeper than 10,000 ("yaml: exceeded max depth of 10000"). Here
# the depth limit is 100: PyYAML's scanner slows quadratically with flow nesting (20,000 '[' take
# ~50 s) and its composer recurses per level, and no config value nests more than a few levels.
YAML_MAX_DEPTH = 100
ALIAS_RATIO_LOW, ALIAS_RATIO_HIGH = 400_000, 4_000_000
# tags a stack file may carry: the YAML 1.2 core schema's (yaml.v3 knows no others; PyYAML's
# !!python/* tags would build Python objects and are never config)
CORE_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in
                      ("str", "int", "float", "bool", "null", "map", "seq", "binary", "timestamp", "merge"))


def allowed_alias_ratio(decode_count: int) -> float:
    """yaml.v3 decode.go allowedAliasRatio: 99% for small documents, down to 10% at 4,000,000 decodes."""
    if decode_count <= ALIAS_RATIO_LOW:
        return 0.99
    if decode_count >= ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decode_count - ALIAS_RATIO_LOW) / (ALIAS_RATIO_HIGH - ALIAS_RATIO_LOW)


def _text(path: Path) -> str:
    """The file as UTF-8 text (Pulumi reads stack files as UTF-8); a bad byte is one line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise StackFileError(f"{path.name}, line {line}: byte {error.start} is not valid UTF-8; save the "
                             "file as UTF-8") from None


def _refuse_deep_nesting(path: Path, text: str) -> None:
    """Deeper than YAML_MAX_DEPTH: flow brackets counted on the raw text first (cheap, before the
    scanner), then block and flow collections on the event stream."""
    depth = deepest = 0
    for character in text:
        if character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "]}":
            depth -= 1
    if deepest > YAML_MAX_DEPTH:
        raise StackFileError(f"{path.name}: brackets nest deeper than {YAML_MAX_DEPTH} levels; no "
                             "config value nests that deep (Pulumi itself stops at 10,000)")
    depth = 0
    for event in yaml.parse(text, Loader=PulumiYamlLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > YAML_MAX_DEPTH:
                raise StackFileError(f"{_where(path, event.start_mark)}: nesting deeper than "
                                     f"{YAML_MAX_DEPTH} levels; no config value nests that deep (Pulumi "
                                     "itself stops at 10,000)")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _refuse_excessive_aliasing_and_odd_nodes(path: Path, root: yaml.Node | None) -> None:
    """Walk the document the way yaml.v3 decodes it (an alias expands its anchor's whole subtree)
    and stop where yaml.v3 would: excessive aliasing. Also refuse tags outside the core schema and
    map keys that are lists or maps, which no config value has."""
    if root is None:
        return
    seen: set[int] = set()
    decode_count = alias_count = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 0)]
    while stack:
        node, alias_depth = stack.pop()
        if id(node) in seen:
            alias_depth += 1  # a second reference to an anchored node is an alias
        seen.add(id(node))
        decode_count += 1
        if alias_depth:
            alias_count += 1
        if alias_count > 100 and decode_count > 1000 and \
                alias_count / decode_count > allowed_alias_ratio(decode_count):
            raise StackFileError(f"{_where(path, node.start_mark)}: aliases expand to too much (Pulumi "
                                 "refuses it: \"document contains excessive aliasing\"); write the values out")
        if node.tag not in CORE_TAGS and not (isinstance(node, yaml.ScalarNode) and node.tag == "!"):
            shown = node.tag.replace("tag:yaml.org,2002:", "!!")[:80]
            raise StackFileError(f"{_where(path, node.start_mark)}: the tag '{shown}' is not a YAML 1.2 core "
                                 "tag; stack files hold plain strings, numbers, booleans, lists and maps")
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                if not isinstance(key, yaml.ScalarNode):
                    raise StackFileError(f"{_where(path, key.start_mark)}: a map key is a list or a map; "
                                         "keys are names")
                stack.append((value, alias_depth))
                stack.append((key, alias_depth))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, alias_depth) for item in reversed(node.value))


def read_yaml(path: Path) -> tuple[PulumiYamlLoader, yaml.Node | None]:
    """The composed document of a YAML file; a syntax error, a bad byte, deep nesting, an alias
    bomb or a Python tag is one line naming file and line."""
    text = _text(path)
    try:
        _refuse_deep_nesting(path, text)
        loader = PulumiYamlLoader(text)
        node = loader.get_single_node()
        _refuse_excessive_aliasing_and_odd_nodes(path, node)
        _refuse_duplicate_keys(path, node)
        return loader, node
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(str(error.problem or error.context or "invalid YAML").split())
        raise StackFileError(f"{_where(path, mark)}: {problem[:200]}") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path.name}: {' '.join(str(error).split())[:200]}") from None
    except RecursionError:
        raise StackFileError(f"{path.name}: nesting too deep to read") from None


def _refuse_duplicate_keys(path: Path, node: yaml.Node | None) -> None:
    """yaml.v3 (Pulumi) refuses a key given twice in one map ("already defined"); PyYAML keeps the
    last, which could hide a plain-text secret behind a later `secure:` one."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise StackFileError(f"{_where(path, key.start_mark)}: '{key.value}' is given twice "
                                         "in the same map (Pulumi refuses the file)")
                seen.add(key.value)
            _refuse_duplicate_keys(path, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(path, item)


def config_entries(path: Path) -> list[tuple[str, yaml.Node, PulumiYamlLoader]]:
    """The (key, value node) pairs under ``config:``, which must be a map with string keys."""
    loader, root = read_yaml(path)
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise StackFileError(f"{_where(path, root.start_mark)}: the file must be a map with a "
                             "'config:' key")
    config = next((value for key, value in root.value if key.value == "config"), None)
    if config is None or (isinstance(config, yaml.ScalarNode) and config.tag.endswith(":null")):
        return []
    if not isinstance(config, yaml.MappingNode):
        raise StackFileError(f"{_where(path, config.start_mark)}: 'config:' must be a map of "
                             "settings (key: value), not a list or a single value")
    entries = []
    for key, value in config.value:
        if not isinstance(key, yaml.ScalarNode):
            raise StackFileError(f"{_where(path, key.start_mark)}: a config key must be a name")
        entries.append((key.value, value, loader))
    return entries


def stack_value(node: yaml.Node, loader: PulumiYamlLoader) -> Any:
    """A config value as the engine hands it over: a top-level scalar is its text as written
    (Pulumi decodes it into a string), a map or list is decoded with the YAML 1.2 core schema."""
    if isinstance(node, yaml.ScalarNode):
        return "" if node.tag.endswith(":null") and node.style is None else node.value
    try:
        return loader.construct_object(node, deep=True)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(str(error.problem or error.context or "invalid value").split())[:200]
        raise StackFileError(f"line {mark.line + 1 if mark else '?'}: {problem}") from None
    except (TypeError, ValueError, RecursionError) as error:
        raise StackFileError(f"line {node.start_mark.line + 1}: the value cannot be read "
                             f"({type(error).__name__})") from None


# Pulumi.yaml `type:` -> the YAML shapes a stack value of that type may have. The Pulumi CLI checks
# stack config against the project's declared types before running the program ("validating stack
# config: ... must be of type 'integer'"), so the offline plan refuses what `pulumi up` would.
_DECLARED_TAGS = {"integer": ("int",), "number": ("int", "float"), "boolean": ("bool",)}


def check_declared_type(path: Path, key: str, node: yaml.Node, loader: PulumiYamlLoader,
                        declared: str | None) -> None:
    if declared is None or (isinstance(node, yaml.MappingNode) and
                            [k.value for k, _ in node.value] == ["secure"]):
        return
    if declared == "array":
        ok = isinstance(node, yaml.SequenceNode)
    elif declared in _DECLARED_TAGS:
        tag = (loader.resolve(yaml.ScalarNode, node.value, (True, False)).rsplit(":", 1)[-1]
               if isinstance(node, yaml.ScalarNode) and node.style is None else "str")
        ok = isinstance(node, yaml.ScalarNode) and tag in _DECLARED_TAGS[declared]
    else:
        ok = isinstance(node, yaml.ScalarNode)
    if not ok:
        shown = ("a quoted string" if isinstance(node, yaml.ScalarNode) and node.style
                 else "a list" if isinstance(node, yaml.SequenceNode)
                 else "a map" if isinstance(node, yaml.MappingNode) else f"'{node.value}'")
        example = {"array": f"a YAML list (pulumi config set --path '{key.partition(':')[2]}[0]' VALUE)",
                   "integer": "a whole number, unquoted", "number": "a number, unquoted",
                   "boolean": "true or false, unquoted"}.get(declared, "a single value")
        raise StackFileError(f"{_where(path, node.start_mark)}: {key} is {shown}, but Pulumi.yaml declares "
                             f"it {declared} and Pulumi refuses the stack; give {example}")


def load_stack_file(stack: str, root: Path = ROOT) -> tuple[str, dict[str, Any], set[str]]:
    """Project name, config values (project defaults applied) and secret keys of a stack."""
    project_file, stack_file = root / "Pulumi.yaml", root / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise StackFileError(f"no stack file {stack_file.name}; stacks here: {', '.join(known)}")
    loader, project_node = read_yaml(project_file)
    project = loader.construct_document(project_node) if project_node is not None else {}
    name = project["name"]
    values: dict[str, Any] = {}
    for key, declared in (project.get("config") or {}).items():
        if isinstance(declared, dict) and "default" in declared:
            values[key if ":" in key else f"{name}:{key}"] = declared["default"]
    declared_types = {(key if ":" in key else f"{name}:{key}"): declared["type"]
                      for key, declared in (project.get("config") or {}).items()
                      if isinstance(declared, dict) and "type" in declared}
    secret_keys: set[str] = set()
    for key, node, stack_loader in config_entries(stack_file):
        key = key if ":" in key else f"{name}:{key}"
        check_declared_type(stack_file, key, node, stack_loader, declared_types.get(key))
        value = stack_value(node, stack_loader)
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = SECRET_PLACEHOLDER
            secret_keys.add(key)
        values[key] = value
    return name, values, secret_keys
