"""``python -m stacks.docs [--write]``: the generated parts of the docs, from their one source.

- ``Pulumi.yaml``'s ``config:`` block and the key reference in ``docs/configuration.md``, from the
  settings table (``components/serving/settings.py``);
- the README's host table, from the plan's own figures (``describe``, what ``python -m stacks plan
  --json`` prints under ``plan``) for each host and catalog model in one region;
- the request-path diagram on each host page (docs/containerapp.md, vm.md, aks.md), of that host's
  example stack (``HOST_STACKS``), drawn by stacks/diagram.py from the stack's offline plan: the
  same flowchart ``python -m stacks plan --diagram`` writes into docs/diagrams/<stack>.md.

Without ``--write`` it says which files differ and exits 1 (``tests/test_docs.py`` checks the same).
Not imported by the ``plan`` command: the host table plans five configurations.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from components.serving.settings import (ARGS_ONLY, HOSTS, SETTINGS, UNDECLARED_SHAPE, Setting,
                                         description)

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "apertus-azure"
GENERATOR = "python -m stacks.docs --write"

# ---- Pulumi.yaml ----


def _yaml_description(text: str) -> list[str]:
    lines = textwrap.wrap(text, 96, break_long_words=False, break_on_hyphens=False)
    return ["    description: >-", *(f"      {line}" for line in lines)]


def _group(setting: Setting) -> str:
    return "common to every host" if setting.common else "host " + ", ".join(setting.hosts)


def _declared(setting: Setting) -> bool:
    """Declared under ``config:``: a key with a project default, or ``host`` (required). The Pulumi CLI
    makes every declared key without a ``default`` required on every stack (`pulumi preview` stops with
    "Stack '<name>' is missing configuration values", pkg/v3 workspace/config.go mergeConfig), so an
    optional key without one project-wide default is listed in a comment instead."""
    return setting.project_default is not None or setting.key == "host"


def _shape(setting: Setting) -> str:
    if setting.type is None:
        shape = UNDECLARED_SHAPE[setting.key]
    else:
        shape = "list of string" if setting.type == "array" else setting.type
    return shape + (", secret" if setting.secret else "")


def pulumi_yaml_config() -> str:
    """The ``config:`` block of Pulumi.yaml: declarations, then the optional keys as comments."""
    out = ["config:",
           "  # Generated from components/serving/settings.py by",
           f"  # `{GENERATOR}`: edit the table, not this block. Every declaration has a type of",
           "  # string | integer | boolean | array (older and newer CLI project schemas accept these; a",
           "  # fraction is declared a string). Reference: docs/configuration.md."]
    for setting in SETTINGS:
        if not _declared(setting):
            continue
        out.append(f"  {NAMESPACE}:{setting.key}:")
        if setting.type:
            out.append(f"    type: {setting.type}")
        if setting.type == "array":
            out += ["    items:", "      type: string"]
        if setting.secret:
            out.append("    secret: true")
        if setting.project_default is not None:
            out.append(f"    default: {json.dumps(setting.project_default)}")
        out += _yaml_description(description(setting))
    out += ["# Optional settings without one project-wide default are NOT declared under `config:`: the Pulumi",
            "# CLI makes every declared key without a `default` required on every stack (`pulumi preview`/`up`",
            "# stop with \"Stack '<name>' is missing configuration values ...\", pulumi/pulumi",
            "# pkg/workspace/config.go, mergeConfig). Set them per stack: `pulumi config set KEY VALUE`",
            "# (`--secret` for secrets; `--path 'KEY[0]'` for list items). The offline plan reads them the",
            "# same way (python -m stacks plan). Type given in brackets."]
    group = None
    for setting in SETTINGS:
        if _declared(setting):
            continue
        if _group(setting) != group:
            group = _group(setting)
            out += ["#", f"# {group}:"]
        text = f"{NAMESPACE}:{setting.key} ({_shape(setting)}): {description(setting)}"
        lines = textwrap.wrap(text, 96, break_long_words=False, break_on_hyphens=False)
        out += [f"#   {lines[0]}", *(f"#     {line}" for line in lines[1:])]
    return "\n".join(out) + "\n"


def pulumi_yaml(current: str) -> str:
    """Pulumi.yaml with its ``config:`` block (the file's last top-level key) regenerated."""
    head = re.split(r"^config:\s*$", current, maxsplit=1, flags=re.MULTILINE)[0]
    return head + pulumi_yaml_config()


# ---- docs/configuration.md ----

def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _type(setting: Setting) -> str:
    if setting.type:
        return f"{setting.type}" + (" (secret)" if setting.secret else "")
    return f"no type ({UNDECLARED_SHAPE[setting.key]})"


def _hosts(setting: Setting) -> str:
    return "all" if set(setting.hosts) == set(HOSTS) else ", ".join(f"`{h}`" for h in setting.hosts)


def configuration_reference() -> str:
    """The generated part of docs/configuration.md: every key, then the args-only fields."""
    out = ["| key | type | default | hosts | meaning |", "|---|---|---|---|---|"]
    for s in SETTINGS:
        out.append(f"| `{s.key}` | {_type(s)} | {_cell(s.default)} | {_hosts(s)} | {_cell(s.meaning)} |")
    out += ["", "Args fields without a config key of their own (the [library](library.md) and the "
            "[component package](other-languages.md); the stack takes the region from "
            "`azure-native:location`):", "",
            "| field (Python / schema) | default | hosts | meaning |", "|---|---|---|---|"]
    for s in ARGS_ONLY:
        out.append(f"| `{s.field}` / `{s.key}` | {_cell(s.default)} | {_hosts(s)} | {_cell(s.meaning)} |")
    return "\n".join(out) + "\n"


def host_keys_table(host: str) -> str:
    """The keys only one host page documents (its own, not the common ones)."""
    out = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        if not s.common and host in s.hosts:
            out.append(f"| `{s.key}` | {_type(s)} | {_cell(s.default)} | {_cell(s.meaning)} |")
    return "\n".join(out) + "\n"


# ---- the README's host table ----

REGION = "swedencentral"
TABLE_MODELS = ("apertus-8b-instruct", "apertus-70b-instruct")
ARGS_TYPES = {"containerapp": ("components.containerapp", "ContainerAppGpuArgs"),
              "vm": ("components.vm", "GpuVirtualMachineArgs"), "aks": ("components.aks", "AksGpuClusterArgs")}


def _describe():
    from stacks.common import describe  # the plan command's own data
    return describe


def host_args(host: str, model: str) -> Any:
    """The args a stack with only host, model and region set reads (the args' defaults are the
    stack's); a ConfigError when the host cannot serve the model."""
    import importlib

    from components.serving.errors import CONFIG, speaking_of
    module, name = ARGS_TYPES[host]
    args_type = getattr(importlib.import_module(module), name)
    # AKS needs a stated API exposure: the documentation range the shipped aks stack uses
    extra = {"api_allowed_cidrs": ["203.0.113.0/24"]} if host == "aks" else {}
    with speaking_of(CONFIG):  # as a stack reads them: no library warning for the placeholder token
        return args_type(location=REGION, model=model, hf_token="hf_placeholder_for_the_plan", **extra)


def host_rows() -> list[dict[str, Any]]:
    """One row per host and catalog model it serves, from the plan's figures."""
    from components.serving import ConfigError
    from stacks.plan import idle  # the short plan's idle line: one rule for both
    describe = _describe()
    rows = []
    for host in HOSTS:
        planned = []
        for model in TABLE_MODELS:
            try:
                planned.append((model, describe(host_args(host, model))))
            except ConfigError:
                continue
        if not planned:  # every model refused: the table would silently lose the host
            describe(host_args(host, TABLE_MODELS[0]))  # raises that host's ConfigError
        serves = ", ".join(m.split("-")[1].upper() for m, _ in planned)
        if len(planned) < len(TABLE_MODELS):
            serves += " only"
        for index, (model, plan) in enumerate(planned):
            cold = plan["coldStart"]
            rows.append({
                "host": host, "serves": serves if index == 0 else "", "model": plan["model"],
                "gpu": plan["gpu"], "hardware": plan["gpuHardware"], "tp": plan["tensorParallelSize"],
                "hourly": plan["costs"]["gpuUsdPerHour"], "idle": idle(plan)[0],
                "first": cold["firstSeconds"], "warm": cold["warmSeconds"]})
    return rows


def _minutes(seconds: float) -> str:
    return f"~{round(seconds / 60)}"


def host_table(rows: list[dict[str, Any]] | None = None) -> str:
    rows = host_rows() if rows is None else rows
    out = ["| host | serves | model | GPU the planner picks | GPU $/h running | $/month idle | "
           "cold start, first / warm |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        short = row["model"].split("/")[-1].removesuffix("-2509")
        tp = f", TP {row['tp']}" if row["tp"] > 1 else ""
        out.append(f"| {'`' + row['host'] + '`' if row['serves'] else ''} "
                   f"| {row['serves']} | {short} "
                   f"| `{row['gpu']}` ({row['hardware']}{tp}) | ${row['hourly']:,.2f} | ${row['idle']:,.0f} "
                   f"| {_minutes(row['first'])} / {_minutes(row['warm'])} min |")
    return "\n".join(out) + "\n"


# ---- the request path on each host page ----

# The example stack each host page shows (its stack file is in the repository root).
HOST_STACKS = {"containerapp": "dev", "vm": "vm-70b", "aks": "aks"}


def host_diagram(host: str) -> str:
    """The generated part of docs/<host>.md: the request path of the host's example stack."""
    from stacks.common import plan_stack
    from stacks.diagram import PATHS, request_path
    stack = HOST_STACKS[host]
    data = plan_stack(stack, ROOT)
    plan = data["plan"]
    intro = (f"Stack `{stack}` (`Pulumi.{stack}.yaml`): {plan['model']} on `{plan['gpu']}`. Exposure: "
             f"{plan['exposure']['summary']}. Built by {PATHS[host].built_in}.")
    return "\n".join([*textwrap.wrap(intro, 100, break_long_words=False, break_on_hyphens=False),
                      "", "```mermaid", *request_path(data), "```", ""])


# ---- files ----

def replace_between(text: str, name: str, generated: str) -> str:
    """``text`` with the block between the BEGIN/END markers named ``name`` replaced."""
    pattern = re.compile(rf"(<!-- BEGIN generated by {re.escape(GENERATOR)}: {name} -->\n).*?"
                         rf"(<!-- END generated: {name} -->)", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no generated block '{name}'")
    return pattern.sub(lambda m: m.group(1) + generated + m.group(2), text)


def expected_files(*, host_table_rows: list[dict[str, Any]] | None = None,
                   with_host_table: bool = True) -> dict[Path, str]:
    files = {ROOT / "Pulumi.yaml": pulumi_yaml((ROOT / "Pulumi.yaml").read_text())}
    configuration = ROOT / "docs" / "configuration.md"
    files[configuration] = replace_between(configuration.read_text(), "keys", configuration_reference())
    for host in HOSTS:
        page = ROOT / "docs" / f"{host}.md"
        text = replace_between(page.read_text(), f"keys of {host}", host_keys_table(host))
        files[page] = replace_between(text, f"request path of {HOST_STACKS[host]}", host_diagram(host))
    if with_host_table:
        readme = ROOT / "README.md"
        files[readme] = replace_between(readme.read_text(), "host table", host_table(host_table_rows))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.docs", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated parts in place")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_files().items():
        if path.read_text() != text:
            stale.append(path.relative_to(ROOT).as_posix())
            if args.write:
                path.write_text(text)
    if args.write:
        print(f"rewrote {', '.join(stale)}" if stale else "up to date")
        return 0
    if stale:
        print(f"out of date: {', '.join(stale)}; run {GENERATOR}", file=sys.stderr)
        return 1
    print("up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
