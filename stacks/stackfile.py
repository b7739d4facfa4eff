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


def read_yaml(path: Path) -> tuple[PulumiYamlLoader, yaml.Node | None]:
    """The composed document of a YAML file; a syntax error is one line naming file and line."""
    loader = PulumiYamlLoader(path.read_text())
    try:
        node = loader.get_single_node()
        _refuse_duplicate_keys(path, node)
        return loader, node
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(str(error.problem or error.context or "invalid YAML").split())
        raise StackFileError(f"{_where(path, mark)}: {problem}") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path.name}: {' '.join(str(error).split())}") from None


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
    return loader.construct_object(node, deep=True)


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
