"""Stack files as the Pulumi CLI reads them: ``Pulumi.yaml`` declarations and ``Pulumi.<stack>.yaml``
values, parsed like Go's yaml.v3 (YAML 1.2), every mistake one ``StackFileError`` line naming file
and line. Used by every command that reads a stack offline (plan, preflight, smoke).
"""

from __future__ import annotations

import math
import difflib
import re
from pathlib import Path
from typing import Any

import yaml

from components.serving.errors import redact
from components.serving.rules import _class_switches

ROOT = Path(__file__).resolve().parents[1]
SECRET_PLACEHOLDER = "offline-placeholder-secret-0123456789abcdef"  # passes the apiKey rules
# offline, an encrypted value is planned as a stand-in of its kind: distinct per key (the program
# refuses an apiKey equal to the hfToken) and of the shape its checks want (an https webhook URL)
_PLACEHOLDER_SHAPES = {"alertWebhook": "https://offline-placeholder.invalid/webhook"}


def secret_placeholder(key: str) -> str:
    """The offline stand-in for the encrypted value of ``key`` (``project:name`` or ``name``)."""
    name = key.rpartition(":")[2]
    return _PLACEHOLDER_SHAPES.get(name, f"{SECRET_PLACEHOLDER}-{name}")


class StackFileError(Exception):
    """A stack file the Pulumi CLI would refuse or misread, as one line; no secret or token-shaped text
    in it is shown (``errors.redact``: a tag, a key or a value quoted from the file)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


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
# !!binary inside a list or map stays its text, as a top-level value does (the stack value is read
# as text, stack_value): bytes would reach the config, which holds JSON, as no value at all
PulumiYamlLoader.add_constructor("tag:yaml.org,2002:binary",
                                 lambda loader, node: str(loader.construct_scalar(node)))


def _where(path: Path, mark: Any) -> str:
    return f"{path.name}, line {mark.line + 1}" if mark is not None else path.name


# ---- YAML syntax errors in plain words ----
# PyYAML says what its scanner expected ("expected <block end>, but found '<block mapping start>'");
# a person needs what is wrong in their file and what to write instead. The cases are the mistakes
# people make in stack files: a bare * or & (an alias or anchor), a tab, a bad indent, ': ' inside a
# value, an unclosed quote or bracket; anything else still gets file, line and column.
YAML_SYNTAX_HINT = ("check the quoting and indentation there: indent with spaces, and quote a value that "
                    "starts with * & ! | > ? @ ` % [ { or holds ': '")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def spaces(count: int) -> str:
    return f"{count} space{'' if count == 1 else 's'}"


def _line_above(lines: list[str], index: int) -> int | None:
    """The nearest line above ``index`` that holds something besides a comment."""
    for above in range(min(index, len(lines)) - 1, -1, -1):
        if lines[above].strip() and not lines[above].lstrip().startswith("#"):
            return above
    return None


def _token_at(lines: list[str], mark: Any) -> str:
    """The word at ``mark`` as written, for an example fix; a stand-in when it may be a secret."""
    line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    token = re.match(r"[^\s,\[\]{}]*", line[mark.column:] if mark is not None else "").group()
    plain = re.fullmatch(r"[*&!|>?@`%A-Za-z0-9._/:-]{1,40}", token) and not secret_shaped(token)
    return token if plain else "..."


def yaml_syntax_message(path: Path, error: yaml.MarkedYAMLError, text: str) -> str:
    """One line for a YAML syntax error: file, line and column, what is wrong in plain words, and
    what to write instead."""
    lines = text.splitlines()
    problem, context = str(error.problem or ""), str(error.context or "")
    mark = error.problem_mark or error.context_mark
    why, fix = None, YAML_SYNTAX_HINT
    line_index: int | None = None  # where to point, when not at the parser's mark (0-based)
    column: int | None = None

    def line_of(m: Any) -> str:
        return lines[m.line] if m is not None and m.line < len(lines) else ""

    if "\\t" in problem or "tab character" in problem:
        line = line_of(mark)
        if not line[:mark.column].strip():
            why = "a tab indents this line, and YAML indents with spaces only"
            fix = "indent with spaces, not tabs"
        else:
            why = "a tab stands where YAML takes spaces only"
            fix = "use spaces, not tabs"
    elif context in ("while scanning an alias", "while scanning an anchor"):
        mark = error.context_mark
        sign, meaning = (("*", "an alias (a reference to an &anchor)") if "alias" in context
                         else ("&", "an anchor (a name for reuse)"))
        why = f"a value starts with '{sign}', which YAML reads as {meaning}, not as text"
        fix = f'quote a value that starts with {sign}: "{_token_at(lines, mark)}"'
    elif problem.startswith("found undefined alias"):
        token = _token_at(lines, mark)
        why = (f"'{token}' is read as a reference to an anchor '&{token[1:]}', and the file defines none"
               if token != "..." else "a value that starts with '*' is read as a reference to an anchor "
               "the file does not define")
        fix = f'quote a value that starts with *: "{token}"'
    elif "that cannot start any token" in problem:
        sign = line_of(mark)[mark.column:mark.column + 1]
        why = (f"a value starts with '{sign}', which YAML reserves" if sign in "@`"
               else f"a value starts with '{sign}', which YAML reads as a directive" if sign == "%"
               else f"YAML cannot start a value with '{sign}'")
        fix = f'quote the value: "{_token_at(lines, mark)}"'
    elif problem == "mapping values are not allowed here":
        line, above = line_of(mark), _line_above(lines, mark.line)
        if re.search(r":\s", line[:mark.column]):
            why = "the value holds ': ', which YAML reads as the start of another key"
            fix = "quote a value that contains ': ', e.g. key: \"a: b\""
        elif above is not None and _indent(line) > _indent(lines[above]):
            why = (f"this line is indented more than line {above + 1} above it, so YAML reads it as "
                   f"the rest of line {above + 1}'s value")
            fix = "indent the keys of one map by the same number of spaces"
            column = _indent(line)
        elif above is not None and not re.search(r":(\s|$)", lines[above]):
            why = "this line has no ': ' (a colon and a space) between its key and its value"
            fix = "write each setting as key: value"
            line_index, column = above, _indent(lines[above])
    elif problem == "mapping keys are not allowed here":
        why = "a value starts with '?', which YAML reads as a complex key"
        fix = "quote a value that starts with ?"
    elif problem.startswith("expected <block end>"):
        line, above = line_of(mark), _line_above(lines, mark.line)
        if above is not None and _indent(line) != _indent(lines[above]):
            why = (f"this line is indented by {spaces(_indent(line))} and line {above + 1} above it by "
                   f"{_indent(lines[above])}, so YAML cannot tell which map or list it belongs to")
            fix = "indent the keys of one map, and the items of one list, by the same number of spaces"
        elif line.lstrip().startswith("-"):
            why = "a list item ('- ') stands among the keys of a map"
            fix = "put the list under its own key, indented by two more spaces"
    elif context == "while scanning a quoted scalar":
        mark = error.context_mark
        quote = line_of(mark)[mark.column:mark.column + 1] or '"'
        why = f"the value quoted with {quote} here is never closed"
        fix = f"end it with {quote} on the same line"
    elif context in ("while parsing a flow sequence", "while parsing a flow mapping"):
        mark = error.context_mark
        opened, closing = ("[", "]") if "sequence" in context else ("{", "}")
        why = f"the {'list' if opened == '[' else 'map'} opened with '{opened}' here is not closed"
        fix = f"close it with '{closing}', or quote a value that starts with '{opened}'"
    elif context == "while scanning a block scalar":
        mark = error.context_mark
        why = "a value starts with '|' or '>', which YAML reads as the start of a block of text"
        fix = f'quote the value: "{_token_at(lines, mark)}"'
    elif context == "while scanning a simple key":
        mark = error.context_mark
        why = "this line has a key without ': ' after it"
        fix = "write each setting as key: value, and quote a value that spans lines"
    if why is None:
        said = " ".join((problem or context or "invalid YAML").split())[:120]
        why = f"YAML cannot read the file here ({said})"
    if line_index is None and mark is not None:
        line_index, column = mark.line, mark.column if column is None else column
    where = f"{path.name}, line {line_index + 1}, column {column + 1}" if line_index is not None else path.name
    return f"{where}: {why}; {fix}"


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


# A stack file (or Pulumi.yaml) larger than this is refused before it is parsed: the shipped ones are
# under 12 KB, a few hundred settings with long lists stay far below it, and PyYAML's pure-Python
# parser needs seconds per megabyte, so a file this large is a mistake (a pasted log, a generated
# list), not a configuration.
STACK_FILE_MAX_BYTES = 256 * 1024


def _text(path: Path) -> str:
    """The file as UTF-8 text (Pulumi reads stack files as UTF-8); a bad byte is one line."""
    size = path.stat().st_size
    if size > STACK_FILE_MAX_BYTES:
        raise StackFileError(f"{path.name}: {size:,} bytes, more than the {STACK_FILE_MAX_BYTES // 1024} KiB a "
                             "stack file may have (the shipped ones are under 12 KB); a file this large is a "
                             "mistake: keep settings only, and long lists short")
    with path.open("rb") as stream:
        data = stream.read(STACK_FILE_MAX_BYTES + 1)
    if len(data) > STACK_FILE_MAX_BYTES:  # grew since stat
        raise StackFileError(f"{path.name}: more than the {STACK_FILE_MAX_BYTES // 1024} KiB a stack file may "
                             "have; a file this large is a mistake")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise StackFileError(f"{path.name}, line {line}: byte {error.start} is not valid UTF-8; save the "
                             "file as UTF-8") from None


class _DepthLimitedLoader(PulumiYamlLoader):
    """PulumiYamlLoader that counts collection nesting while it composes (one parse, no separate
    pass): deeper than YAML_MAX_DEPTH is refused at the first collection past the limit, after the
    scanner has read only that far, so a bracket inside a quoted string never counts."""

    def __init__(self, text: str, path: Path):
        super().__init__(text)
        self._path, self._depth = path, 0

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > YAML_MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise StackFileError(f"{_where(self._path, mark)}: nesting deeper than {YAML_MAX_DEPTH} levels; "
                                 "no config value nests that deep (Pulumi itself stops at 10,000)")

    def compose_sequence_node(self, anchor: Any) -> yaml.Node:
        self._enter()
        try:
            return super().compose_sequence_node(anchor)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> yaml.Node:
        self._enter()
        try:
            return super().compose_mapping_node(anchor)
        finally:
            self._depth -= 1


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
        loader = _DepthLimitedLoader(text, path)
        node = loader.get_single_node()
        _refuse_excessive_aliasing_and_odd_nodes(path, node)
        _refuse_duplicate_keys(path, node)
        return loader, node
    except yaml.MarkedYAMLError as error:
        raise StackFileError(yaml_syntax_message(path, error, text)) from None
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
        _refuse_joined_list_items(path, value)
        entries.append((key.value, value, loader))
    return entries


def _refuse_joined_list_items(path: Path, node: yaml.Node) -> None:
    """A list item indented more than the one above it is no item: YAML folds that line into the item
    above ('- 203.0.113.0/24' then '   - 198.51.100.7' is one value, '203.0.113.0/24 - 198.51.100.7'),
    which a later check would call a bad range. Named here, at its line, as the indentation it is."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if (isinstance(item, yaml.ScalarNode) and item.style is None
                    and item.start_mark.line != item.end_mark.line):
                lines = item.start_mark.buffer.splitlines() if item.start_mark.buffer else []
                for index in range(item.start_mark.line + 1, min(item.end_mark.line + 1, len(lines))):
                    if lines[index].lstrip().startswith("- "):
                        raise StackFileError(
                            f"{path.name}, line {index + 1}, column {_indent(lines[index]) + 1}: this list item is "
                            f"indented by {spaces(_indent(lines[index]))} and the one above it (line "
                            f"{item.start_mark.line + 1}) by {_indent(lines[item.start_mark.line])}, so YAML reads "
                            "it as the rest of that item; indent the items of one list by the same number of spaces")
            _refuse_joined_list_items(path, item)
    elif isinstance(node, yaml.MappingNode):
        for _, value in node.value:
            _refuse_joined_list_items(path, value)


def stack_value(node: yaml.Node, loader: PulumiYamlLoader) -> Any:
    """A config value as the engine hands it over: a top-level scalar is the text the CLI stores
    (yaml.v3's value, a number or boolean re-written as JSON: `1.30` -> "1.3", `0x8000` -> "32768",
    `3.0` -> "3", `True` -> "true", as `pulumi config get` shows; see cli_config_content), a map or
    list is decoded with the YAML 1.2 core schema."""
    if isinstance(node, yaml.ScalarNode):
        try:
            return cli_config_content(node)
        except ValueError:  # .nan / .inf: the CLI cannot store it; the type checks refuse it
            return node.value
    try:
        return loader.construct_object(node, deep=True)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(str(error.problem or error.context or "invalid value").split())[:200]
        raise StackFileError(f"line {mark.line + 1 if mark else '?'}: {problem}") from None
    except (TypeError, ValueError, RecursionError) as error:
        raise StackFileError(f"line {node.start_mark.line + 1}: the value cannot be read "
                             f"({type(error).__name__})") from None


# ---- declared types, checked exactly as the Pulumi CLI checks them ----
# `pulumi preview` / `up` check every stack value against the `type:` Pulumi.yaml declares for its key
# before the program runs ("validating stack config: Stack 'dev' with configuration key '...' must be of
# type 'integer'"): pulumi/pulumi pkg/v3 workspace/config.go validateStackConfigValue and sdk/v3
# go/common/workspace/project.go ValidateConfigValue (v3.276.0, tests/fixtures/pulumi/SOURCES.json).
# What they check is the value as the CLI stores it: yaml.v3 decodes the scalar, and the CLI keeps its
# text, a number or boolean re-written as JSON (`3.0` -> "3", `True` -> "true", `0x10` -> "16"); a list
# or map is kept as JSON and decoded again (its numbers become floats). Secrets are checked after
# decryption, which needs the passphrase: offline they pass. tests/fixtures/pulumi/declared_types.yaml
# is one table of cases run through this function (tests/test_project_files.py) and through the real
# CLI (tests/test_pulumi_cli.py).

DECLARED_TYPES = ("string", "integer", "boolean", "array", "object")  # project.json simpleConfigType
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
_GO_PARSE_INT = re.compile(r"^[+-]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_YAML_V3_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_YAML_V3_WORDS: dict[str, Any] = {
    **dict.fromkeys(("true", "True", "TRUE"), True), **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), float("nan")),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), float("inf")),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), float("-inf")),
}


def _go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), then ParseUint: sign, 0x / 0o / 0b and leading-0 octal."""
    if not _GO_PARSE_INT.match(text):
        return None
    sign, digits = (-1, text[1:]) if text[0] == "-" else (1, text.removeprefix("+"))
    prefix = digits[:2].lower()
    base, digits = ({"0x": 16, "0o": 8, "0b": 2}[prefix], digits[2:]) if prefix in ("0x", "0o", "0b") \
        else (8 if len(digits) > 1 and digits[0] == "0" else 10, digits)
    value = sign * int(digits, base)
    if _INT64[0] <= value <= _INT64[1] or (text[0] not in "+-" and value < 2 ** 64):
        return value
    return None


_TIMESTAMP = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt]| )(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?"
                        r"(Z|[+-]\d{2}:\d{2})?)?$")


class GoTime(str):
    """A YAML timestamp as the CLI stores it: Go's time.Time.String() (config/object.go
    unmarshalObject), e.g. `2026-11-28` -> "2026-11-28 00:00:00 +0000 UTC" (the offset printed
    twice when it is not UTC, as for a zone without a name; a zone of the machine's own would
    print its name instead: this assumes a UTC machine)."""


def _go_time(text: str) -> GoTime | None:
    """yaml.v3 parseTimestamp's formats (2006-1-2, with T/t/space and a time, Z or an offset)."""
    match = _TIMESTAMP.match(text)
    if match is None or (match.group(8) and text[10:11] == " "):  # the space form has no zone
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31 and int(hour or 0) < 24 and int(minute or 0) < 60
            and int(second or 0) < 60):
        return None
    frac = f".{fraction.rstrip('0')}" if fraction and fraction.rstrip("0") else ""
    offset = "+0000 UTC" if zone in (None, "Z", "+00:00", "-00:00") else f"{zone.replace(':', '')} " * 2
    return GoTime(f"{int(year):04d}-{int(month):02d}-{int(day):02d} {int(hour or 0):02d}:{int(minute or 0):02d}:"
                  f"{int(second or 0):02d}{frac} {offset.strip()}")


def yaml_v3_scalar(node: yaml.ScalarNode) -> Any:
    """A scalar as go-yaml v3 decodes it into an untyped Go value (resolve.go): quoted -> string;
    true/false, null and .inf words; timestamps (a GoTime string); ints with underscores, 0x/0o/0b
    and 0777 octal; YAML floats; anything else a string."""
    text = node.value
    if node.style is not None:
        return text
    if text in _YAML_V3_WORDS:
        return _YAML_V3_WORDS[text]
    if text[:1] == ".":
        return float(text) if re.match(r"^\.[0-9]+(?:[eE][-+]?[0-9]+)?$", text) else text
    if text[:1] not in tuple("+-0123456789"):
        return text
    if (stamp := _go_time(text)) is not None:
        return stamp
    plain = text.replace("_", "")
    if (number := _go_int(plain)) is not None:
        return number
    if _YAML_V3_FLOAT.match(plain) and abs(float(plain)) != float("inf"):  # ParseFloat: range error
        return float(plain)
    return text


def _go_json(value: Any) -> Any:
    """A decoded YAML value after the CLI's JSON round trip: numbers become floats (json.Unmarshal
    into `any`); NaN and infinities cannot be written as JSON (the CLI fails on the file)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("not representable in JSON")
        return float(value)
    if isinstance(value, list):
        return [_go_json(item) for item in value]
    return {str(k): _go_json(v) for k, v in value.items()}


def _go_yaml(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return yaml_v3_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return [_go_yaml(item) for item in node.value]
    return {str(_go_yaml(k)): _go_yaml(v) for k, v in node.value}


def cli_config_content(node: yaml.Node) -> Any:
    """What validateStackConfigValue checks for a stack value: a scalar's text as the CLI stores it
    (object.MarshalString: booleans and numbers as JSON), a list or map decoded from its JSON.
    ValueError when the CLI could not store the value at all (NaN, infinity)."""
    if isinstance(node, yaml.ScalarNode):
        value = yaml_v3_scalar(node)
        if value is None:
            return ""  # a top-level null is the empty string (workspace/loaders.go checkForEmptyConfig)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            _go_json(value)
            # Go's JSON writes a float below 1e21 in plain digits ("3" for 3.0), larger ones as 1e+21
            return str(int(value)) if value == int(value) and abs(value) < 1e21 else repr(value)
        return str(value)
    return _go_json(_go_yaml(node))


def cli_accepts(declared: str, items: dict | None, content: Any) -> bool:
    """sdk/v3 go/common/workspace/project.go ValidateConfigValue, line for line."""
    if declared == "string":
        return isinstance(content, str)
    if declared == "integer":
        if isinstance(content, bool):
            return False
        if isinstance(content, int):
            return True
        if isinstance(content, float):
            return content == int(content) if abs(content) != float("inf") else False
        if isinstance(content, str):  # strconv.Atoi: sign and decimal digits, 64 bits
            return bool(re.match(r"^[+-]?[0-9]+$", content)) and _INT64[0] <= int(content) <= _INT64[1]
        return False
    if declared == "boolean":
        return content in ("true", "false") if isinstance(content, str) else isinstance(content, bool)
    if declared == "object":
        return isinstance(content, dict)
    if not isinstance(content, list) or not items:
        return False
    return all(cli_accepts(items.get("type"), items.get("items"), item) for item in content)


def check_declared_type(path: Path, key: str, node: yaml.Node, loader: PulumiYamlLoader,
                        declared: str | None, items: dict | None = None) -> None:
    """Refuse, as one StackFileError line, a stack value the Pulumi CLI refuses for the declared type."""
    if declared is None or (isinstance(node, yaml.MappingNode) and
                            [k.value for k, _ in node.value] == ["secure"]):
        return
    try:
        ok = cli_accepts(declared, items, cli_config_content(node))
    except ValueError:
        ok = False
    if ok:
        return
    shown = ("a quoted string" if isinstance(node, yaml.ScalarNode) and node.style
             else "a list" if isinstance(node, yaml.SequenceNode)
             else "a map" if isinstance(node, yaml.MappingNode)
             else "empty" if node.value == "" else f"'{node.value}'")
    item_type = (items or {}).get("type", "string")
    example = {"array": f"a YAML list of {item_type} values "
                        f"(pulumi config set --path '{key.partition(':')[2]}[0]' VALUE)",
               "integer": "a whole number (e.g. 3)", "boolean": "true or false",
               "object": "a YAML map", "string": "a single value"}.get(declared, "a single value")
    if isinstance(node, yaml.ScalarNode) and not node.style and re.fullmatch(r"[-+]?\.(?:nan|inf)", node.value,
                                                                            re.IGNORECASE):
        example = "a number written in digits, e.g. 0.9 (YAML's .nan and .inf are no value Pulumi can store)"
    raise StackFileError(f"{_where(path, node.start_mark)}: {key} is {shown}, but Pulumi.yaml declares "
                         f"it {declared if declared != 'array' else f'a list of {item_type}'} and Pulumi "
                         f"refuses the stack; give {example}")


# a key whose name looks like a credential never has its value shown (stacks/program.py has the same rule)
SECRET_LOOKING_NAME = re.compile(r"tok|key|secret|pass|pwd|cred|auth", re.IGNORECASE)
# ... nor a value that looks like a Hugging Face token (hf_ and letters or digits); only a short plain
# word (a host name, a region) is repeated in a suggested command
HF_TOKEN_LOOKING = re.compile(r"hf_[A-Za-z0-9]{8,}")
_RUN = re.compile(r"[A-Za-z0-9+/=_.~-]{20,}")


def secret_shaped(text: str) -> bool:
    """A Hugging Face token's start, or a run of 20+ characters whose letters and digits switch class
    as often as a random key's do (at least 0.4 per character: `openssl rand -base64 36`, token_urlsafe,
    hex keys; names such as Standard_NC24ads_A100_v4 or swiss-ai/Apertus-8B-Instruct-2509 stay under
    0.35): a value a message quotes from the file is replaced when it has that shape."""
    return bool(HF_TOKEN_LOOKING.search(text)) or any(
        _class_switches(run) / len(run) >= 0.4 for run in _RUN.findall(text))
_PLAIN_WORD = re.compile(r"[A-Za-z0-9._/-]{1,40}")

# The Azure providers' own settings that are credentials (pulumi-azure-native's config: "The Client Secret
# which should be used", "The password associated with the Client Certificate", the OIDC tokens; the
# classic pulumi-azure provider has the same keys). The provider reads them, not this program, so a plain
# one is not refused: it works, but it sits in the file and its git history for anyone who reads them.
PROVIDER_SECRET_KEYS = tuple(f"{namespace}:{name}" for namespace in ("azure-native", "azure")
                             for name in ("clientSecret", "clientCertificatePassword", "oidcToken",
                                          "oidcRequestToken"))


# What this program reads of a stack file: its project's namespace and the azure-native provider's
# (the engine hands `pulumi:` keys to nobody but itself); a Pulumi stack file's top-level keys
# (sdk/go/common/workspace/project.go, ProjectStack)
READ_NAMESPACES = ("azure-native", "pulumi")
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")


def unread_settings(stack: str, project: str, values: dict[str, Any], root: Path = ROOT) -> list[str]:
    """One line per stack-file setting nothing reads: a key (of ``values``, as load_stack_file read
    them) in a namespace that is neither the project's nor a provider's this program uses
    (`apertus-azur:maxReplicas`, classic `azure:location`), and a top-level key a stack file does not
    have (`confg:`); a misspelling is named. Never a value."""
    stack_file = root / f"Pulumi.{stack}.yaml"

    def shown(text: str) -> str:  # a name as written, or a stand-in: never a token or a control character
        return text if _PLAIN_WORD.fullmatch(text) and not secret_shaped(text) else "<a name>"

    read = (project, *READ_NAMESPACES)
    lines = []
    _, document = read_yaml(stack_file)
    if isinstance(document, yaml.MappingNode):
        for key, _ in document.value:
            if isinstance(key, yaml.ScalarNode) and key.value not in STACK_FILE_KEYS:
                guess = difflib.get_close_matches(key.value, STACK_FILE_KEYS, n=1)
                lines.append(f"{stack_file.name}: top-level key '{shown(key.value)}' is not part of a stack file, so "
                             f"nothing under it is read" + (f" (did you mean '{guess[0]}:'?)" if guess else ""))
    for key in values:
        namespace, _, short = key.partition(":")
        if namespace not in read:
            guess = difflib.get_close_matches(namespace, read, n=1) or (["azure-native"] if namespace == "azure"
                                                                        else [])
            lines.append(f"{stack_file.name}: '{shown(namespace)}:{shown(short)}' is not read by this program "
                         f"(namespace '{shown(namespace)}')"
                         + (f"; did you mean {guess[0]}:{shown(short)}?" if guess else ""))
    return lines


def plain_provider_secrets(values: dict[str, Any], secret_keys: set[str]) -> list[str]:
    """The provider credentials a stack sets in plain text (an empty value holds nothing)."""
    return [key for key in PROVIDER_SECRET_KEYS
            if values.get(key) not in (None, "") and key not in secret_keys]


def plain_secret_finding(key: str, stack: str) -> tuple[str, str]:
    """What is wrong with a plain provider credential, and the command that fixes it; never its value."""
    return (f"{key} is stored in plain text in Pulumi.{stack}.yaml (anyone with the file or its git history "
            "has it)", f"pulumi config set --secret {key} <value> --stack {stack}, then rotate it")


def _stray_top_level_key(stack_file: Path) -> str | None:
    """The first top-level key of a stack file that a stack file does not have (`confg:`, or a setting
    written without `config:` above it), shown only when it is a plain name; None when there is none."""
    _, document = read_yaml(stack_file)
    if not isinstance(document, yaml.MappingNode):
        return None
    for key, _ in document.value:
        if isinstance(key, yaml.ScalarNode) and key.value not in STACK_FILE_KEYS:
            text = key.value
            plain = _PLAIN_WORD.fullmatch(text.replace(":", "", 1))  # 'apertus-azure:host' too
            return text if plain and not secret_shaped(text) else "<a name>"
    return None


def missing_required_keys(name: str, declared: dict[str, Any], present: set[str]) -> list[str]:
    """Keys the CLI requires on the stack (pkg/v3 workspace/config.go mergeConfig): declared in the
    project's namespace with neither `default` nor `value`."""
    return sorted(full for key, spec in declared.items()
                  if (full := key if ":" in key else f"{name}:{key}").startswith(f"{name}:")
                  and not (isinstance(spec, dict) and (spec.get("default") is not None
                                                      or spec.get("value") is not None))
                  and full not in present)


def load_stack_file(stack: str, root: Path = ROOT) -> tuple[str, dict[str, Any], set[str]]:
    """Project name, config values (project defaults applied) and secret keys of a stack."""
    project_file, stack_file = root / "Pulumi.yaml", root / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        named = re.fullmatch(r"(?:.*/)?Pulumi\.(.+)\.ya?ml", stack)  # a file name given for the stack's
        if named:
            raise StackFileError(f"'{stack[:80]}' is a stack file's name; give the stack's own name, e.g. "
                                 f"--stack {named.group(1)[:80]} (stacks here: {', '.join(known)})")
        if "/" in stack or "\\" in stack:
            raise StackFileError(f"'{stack[:80]}' is not a stack name (a name has no '/'): give the NAME of a "
                                 f"Pulumi.NAME.yaml in {root} (stacks here: {', '.join(known)})")
        raise StackFileError(f"no stack file {stack_file.name}; stacks here: {', '.join(known)}")
    loader, project_node = read_yaml(project_file)
    project = loader.construct_document(project_node) if project_node is not None else {}
    name = project["name"]
    values: dict[str, Any] = {}
    for key, declared in (project.get("config") or {}).items():
        if isinstance(declared, dict) and "default" in declared:
            values[key if ":" in key else f"{name}:{key}"] = declared["default"]
    declared_types = {(key if ":" in key else f"{name}:{key}"): (declared["type"], declared.get("items"))
                      for key, declared in (project.get("config") or {}).items()
                      if isinstance(declared, dict) and "type" in declared}
    secret_keys: set[str] = set()
    entries = config_entries(stack_file)
    present = {key if ":" in key else f"{name}:{key}" for key, _, _ in entries}
    for missing in missing_required_keys(name, project.get("config") or {}, present):
        short = missing.partition(":")[2]
        # a misspelling of the missing key is named: "unknown key 'hots' (did you mean 'host'?)"
        typo = difflib.get_close_matches(short, [k.partition(":")[2] for k in present
                                                 if k.startswith(f"{name}:")], n=1)
        if typo:
            node = next(n for k, n, _ in entries if k.rpartition(":")[2] == typo[0])
            shown = (node.value if isinstance(node, yaml.ScalarNode) and _PLAIN_WORD.fullmatch(node.value)
                     and not SECRET_LOOKING_NAME.search(typo[0]) and not secret_shaped(node.value)
                     else "<value>")
            raise StackFileError(f"{stack_file.name}: {missing} is required: the stack sets unknown key "
                                 f"'{typo[0]}' (did you mean '{short}'?); rename it: pulumi config rm "
                                 f"{typo[0]} --stack {stack} && pulumi config set {short} {shown} --stack {stack}")
        stray = _stray_top_level_key(stack_file)
        if stray:  # `confg:` or no `config:` at all: the settings are there, where nothing reads them
            raise StackFileError(f"{stack_file.name}: {missing} is not set: the file's top-level key '{stray}' is not "
                                 f"part of a stack file, so nothing under it is read; put the settings under "
                                 f"'config:' (as in Pulumi.dev.yaml)")
        choices = "containerapp|vm|aks" if short == "host" else "value"
        raise StackFileError(f"{stack_file.name}: {missing} is not set, and Pulumi.yaml declares it without "
                             f"a default, so the Pulumi CLI refuses the stack; run: pulumi config set "
                             f"{short} <{choices}> --stack {stack}")
    for key, node, stack_loader in entries:
        namespace, colon, short = key.partition(":")
        if colon and (not namespace or not short):
            # the Pulumi CLI keeps ':host' as a key of no namespace, which no program reads: a typo
            raise StackFileError(f"{_where(stack_file, node.start_mark)}: the key '{key[:80]}' has an empty "
                                 f"{'namespace' if not namespace else 'name'}, so no program reads it; write "
                                 f"{name}:<name> (e.g. {name}:{short or 'host'})")
        key = key if ":" in key else f"{name}:{key}"
        secure = node.value[0][1] if isinstance(node, yaml.MappingNode) and \
            [k.value for k, _ in node.value] == ["secure"] else None
        if secure is not None and not (isinstance(secure, yaml.ScalarNode) and secure.value and
                                       isinstance(yaml_v3_scalar(secure), str)):
            # `pulumi config set --secret` writes `secure:` and its ciphertext, a string; anything else
            # the CLI hands the program as a plain map, so a secret would not be one
            raise StackFileError(f"{_where(stack_file, node.start_mark)}: {key} has 'secure:' with a value "
                                 "that is not the ciphertext text Pulumi writes; set it again: pulumi config "
                                 f"set --secret {short or key} <value> --stack {stack}")
        check_declared_type(stack_file, key, node, stack_loader, *declared_types.get(key, (None, None)))
        value = stack_value(node, stack_loader)
        if isinstance(value, dict) and set(value) == {"secure"}:
            if key in _plain_settings(name):
                # offline the value cannot be decrypted, and a stand-in would be judged instead
                short = key.partition(":")[2]
                raise StackFileError(f"{stack_file.name}: {key} is stored encrypted, but it is not a "
                                     "secret setting (the offline plan cannot read it); store it plain: "
                                     f"pulumi config set {short} <value> --stack {stack}")
            value = secret_placeholder(key)
            secret_keys.add(key)
        values[key] = value
    return name, values, secret_keys


def _plain_settings(project: str) -> set[str]:
    """The project's settings that are not secrets (components/serving/settings.py)."""
    from components.serving.settings import SETTINGS
    return {f"{project}:{s.key}" for s in SETTINGS if not s.secret}
