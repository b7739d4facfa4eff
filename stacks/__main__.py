"""``python -m stacks plan [--stack NAME] [--json]``: the offline plan of a stack.

No Azure account, Pulumi CLI or network: it reads ``Pulumi.<stack>.yaml`` (``secure:`` values
count as set), runs the real program under recording mocks, and prints the serving plan and the
resource tree ``pulumi up`` would create. A bad config exits 2 with its one-line error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from components.serving import ConfigError, quota_request
from components.serving.pricing import whole_cost

from . import program
from .offline import OfflineRun, Registered, close_thread_loops, run_program

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


def exposure(args: Any) -> dict[str, Any]:
    """Who can reach what: public or internal, HTTPS sources, SSH sources (VM only)."""
    https_from = list(args.allowed_cidrs) or ["the virtual network" if args.internal else "any source"]
    ssh_from = list(getattr(args, "ssh_allowed_cidrs", ())) if getattr(args, "ssh_enabled", False) else []
    network = "internal" if args.internal else "public"
    summary = (f"{network}, HTTPS from {', '.join(https_from)}, "
               f"SSH {'from ' + ', '.join(ssh_from) if ssh_from else 'off'}")
    exposed = {"network": network, "httpsFrom": https_from, "sshFrom": ssh_from}
    if args.plan.host == "aks":
        # the API server can read the key's Secret: who reaches it (an Entra sign-in is still needed)
        api_from = list(getattr(args, "api_allowed_cidrs", ())) or ["any source"]
        summary += f", Kubernetes API from {', '.join(api_from)} (Entra ID sign-in)"
        exposed["kubernetesApiFrom"] = api_from
    return {**exposed, "summary": summary}


def describe(args: Any) -> dict[str, Any]:
    """The plan of the host's args (``ServingArgs`` subclass), as data."""
    plan = args.plan
    low, high = getattr(args, "min_replicas", 1), getattr(args, "max_replicas", 1)  # a VM: one
    spot = getattr(args, "spot", False)
    # GPU machines at most: AKS sizes its node pools itself (room for a rolling update included)
    bounds = getattr(args, "gpu_node_bounds", None)
    machines = bounds[1] if bounds else high
    quota = quota_request(plan, machines, spot=spot)
    model = plan.model
    return {**_cold_start_and_costs(args), **{
        "host": plan.host,
        "region": args.location,
        "exposure": exposure(args),
        "model": model.hf_id,
        "weightsGb": round(plan.weights_gb, 1),
        "kvBytesPerToken": model.kv_bytes_per_token,
        "gpu": plan.gpu.name,
        "gpuHardware": f"{plan.gpu.gpu_count} x {plan.gpu.gpu_model} {plan.gpu.gpu_memory_gb:g} GB",
        "gpuReason": plan.gpu_reason,
        "tensorParallelSize": plan.tensor_parallel_size,
        "maxModelLen": plan.max_model_len,
        "gpuMemoryUtilization": plan.gpu_memory_utilization,
        "kvCacheTokens": plan.kv_cache_tokens,
        "maxConcurrentSequences": plan.max_concurrent_sequences,
        "replicas": {"min": low, "max": high},
        "spot": spot,
        "hourlyCostUsd": plan.cost.hourly_usd,
        "monthlyCostUsd": plan.cost.monthly_usd,
        "hourlyCostUsdPerSequence": plan.cost.hourly_usd_per_sequence,
        "priceSource": plan.cost.source,
        "quota": {"family": quota.family, "amount": quota.amount, "unit": quota.unit,
                  **({"lowPriorityCores": quota.low_priority_cores} if quota.low_priority_cores else {})},
        "vllmImage": plan.launch.image,
        "vllmCommand": list(plan.launch.argv),
        "startupWindowSeconds": plan.launch.startup_window_seconds,
        "warnings": list(plan.warnings),
        "quantization": plan.quantization,
        "kvCacheDtype": plan.kv_cache_dtype,
        "alternatives": [{"gpu": alt.gpu, "hosts": list(alt.hosts),
                          "tensorParallelSize": alt.tensor_parallel_size,
                          "maxModelLen": alt.max_model_len, "kvCacheTokens": alt.kv_cache_tokens,
                          "hourlyCostUsd": alt.hourly_usd, "quantization": alt.quantization,
                          "tight": alt.tight}
                         for alt in plan.alternatives],
        "alternativesNote": plan.alternatives_note,
    }}


# ---- cold start and whole cost (components/serving/coldstart.py, pricing.py) ----
def _cold_start_and_costs(args: Any) -> dict:
    plan = args.plan
    bounds = getattr(args, "gpu_node_bounds", None)
    always = bounds[0] if bounds else getattr(args, "min_replicas", 1)  # a VM: one
    costs = whole_cost(plan, region=args.location, spot=getattr(args, "spot", False), min_machines=always,
                       internal=args.internal,
                       auto_shutdown=getattr(args, "auto_shutdown", None) is not None)
    return {"coldStart": plan.cold_start.to_json() if plan.cold_start else None, "costs": costs.to_json()}


def _render_cold_start_and_costs(p: dict[str, Any]) -> list[str]:
    lines = []
    if cold := p.get("coldStart"):
        lines += [f"  cold start    first ~{cold['firstSeconds'] / 60:.0f} min, "
                  f"warm ~{cold['warmSeconds'] / 60:.0f} min "
                  f"(warm: {cold['warmMeans']}); startup window {-(-cold['startupWindowSeconds'] // 60)} min "
                  f"= first x {cold['safetyFactor']:g}"]
        lines += [f"                {part['firstSeconds']:>5} s / {part['warmSeconds']:>5} s  "
                  f"{part['name']}: "
                  f"{part['assumption']}" for part in cold["parts"]]
        lines.append(f"                cache: {cold['cache']['sizing']}")
        lines += [f"                note: {note}" for note in cold["notes"]]
    costs = p["costs"]
    lines.append("  costs         item: $/h while running | $/month always | source (date, kind)")
    for line in costs["lines"]:
        hourly = "" if line["usdPerHour"] is None else f"${line['usdPerHour']:,.3f}/h"
        monthly = f"${line['usdPerMonth']:,.2f}/month" if line["always"] else "-"
        lines.append(f"                {line['item']}: {hourly or '-'} | {monthly} | {line['source']} "
                     f"({line['asOf'] or 'no date'}, {line['kind']})")
    lines.append(f"                always billed: {money(costs['fixedUsdPerMonth'])}/month; "
                 f"at {costs['dutyCycle']}: {money(costs['monthlyAtDutyCycleUsd'])}/month; "
                 f"24/7: {money(costs['monthly24x7Usd'])}/month")
    lines += [f"                note: {note}" for note in costs["notes"]]
    return lines


def resource_tree(resources: list[Registered]) -> list[dict[str, Any]]:
    """Resources nested by parent, in registration order."""
    nodes = {r.urn: {"type": r.type, "name": r.name, "children": []} for r in resources}
    roots: list[dict[str, Any]] = []
    for r in resources:
        if r.parent and r.parent not in nodes:  # the stack itself: the mocks never see it
            nodes[r.parent] = {"type": r.parent.split("::")[2], "name": r.parent.split("::")[3],
                               "children": []}
            roots.append(nodes[r.parent])
        parent = nodes.get(r.parent)
        (parent["children"] if parent else roots).append(nodes[r.urn])
    return roots


def count(tree: list[dict[str, Any]]) -> int:
    return sum(1 + count(node["children"]) for node in tree)


def render_tree(tree: list[dict[str, Any]], prefix: str = "") -> list[str]:
    lines = []
    for index, node in enumerate(tree):
        last = index == len(tree) - 1
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{node['type']}  {node['name']}")
        lines += render_tree(node["children"], prefix + ("   " if last else "│  "))
    return lines


def whole(value: Any) -> Any:
    """The engine hands numbers over as floats; show 65536, not 65536.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def money(value: float | None, digits: int = 2) -> str:
    return "no list price in the catalog" if value is None else f"${value:,.{digits}f}"


def render_text(stack: str, data: dict[str, Any]) -> str:
    p = data["plan"]
    quota = p["quota"]
    lines = [
        f"apertus-azure plan: stack '{stack}' (offline: nothing was created)",
        "",
        f"  host          {p['host']}{' (spot)' if p['spot'] else ''}",
        f"  region        {p['region']}",
        f"  exposure      {p['exposure']['summary']}",
        f"  model         {p['model']} ({p['weightsGb']} GB of weights, "
        f"{p['kvBytesPerToken'] // 1024} KiB of KV cache per token)",
        f"  gpu           {p['gpu']} ({p['gpuHardware']})",
        f"                why: {p['gpuReason']}",
        f"  parallelism   tensor-parallel size {p['tensorParallelSize']}",
        f"  context       {p['maxModelLen']:,} tokens (gpu-memory-utilization "
        f"{p['gpuMemoryUtilization']:g})",
        f"  KV cache      {p['kvCacheTokens']:,} tokens = {p['maxConcurrentSequences']} concurrent "
        "full-context sequences",
        f"  replicas      {p['replicas']['min']}..{p['replicas']['max']}",
        f"  cost          {money(p['hourlyCostUsd'], 3)}/h, {money(p['monthlyCostUsd'])}/month (730 h), "
        f"{money(p['hourlyCostUsdPerSequence'], 4)}/h per concurrent sequence, per running replica",
        f"                source: {p['priceSource']}",
        f"  quota         {quota['amount']} {quota['unit']} in '{quota['family']}' at max replicas"
        + (f"; spot: {quota['lowPriorityCores']} vCPUs in 'lowPriorityCores' (regional, all families)"
           if "lowPriorityCores" in quota else ""),
        f"  startup       readiness budget {-(-p['startupWindowSeconds'] // 60)} min",
        *_render_cold_start_and_costs(p),
    ]
    for index, alt in enumerate(p.get("alternatives", [])):
        lines.append(f"  {'alternatives' if index == 0 else '':13s} {alt['gpu']} ({'/'.join(alt['hosts'])}) "
                     f"TP {alt['tensorParallelSize']}, context {alt['maxModelLen']:,}, "
                     f"{alt['kvCacheTokens']:,} KV tokens, "
                     f"${alt['hourlyCostUsd']:.3f}/h, quantization {alt['quantization']}"
                     + (" (tight: within the estimate's error band)" if alt["tight"] else ""))
    if p.get("alternativesNote"):
        lines.append(f"  {'alternatives' if not p.get('alternatives') else '':13s} {p['alternativesNote']}")
    for warning in p["warnings"]:
        lines.append(f"  WARNING       {warning}")
    lines += ["", "vLLM command line:", f"  {' '.join(p['vllmCommand'])}", f"  image {p['vllmImage']}",
              "", f"Resources pulumi up would create ({count(data['resources'])}):"]
    lines += ["  " + line for line in render_tree(data["resources"])]
    lines += ["", "Stack outputs (names and addresses are offline stand-ins for Azure's):"]
    for key, value in data["outputs"].items():
        lines.append(f"  {key:24s} {value}")
    return "\n".join(lines)


def plan_stack(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """Everything ``plan`` prints, as data; raises ConfigError or StackFileError."""
    project, values, secret_keys = load_stack_file(stack, root)
    captured: dict[str, Any] = {}

    def program_with_plan() -> None:
        captured["plan"] = describe(program.run())

    notes = []
    token_key = f"{project}:hfToken"
    if token_key not in values:
        # the plan is for before secrets are set; pulumi up itself still refuses without the token
        values[token_key], notes = SECRET_PLACEHOLDER, [
            "hfToken is not set in this stack: planned as if it were; pulumi up stops until you run "
            "pulumi config set --secret hfToken <token> (the Apertus repos are gated)"]
        secret_keys.add(token_key)
    # the program's warnings (pulumi.log.warn: stderr without an engine) are in the plan's WARNING lines
    with contextlib.redirect_stderr(io.StringIO()):
        run: OfflineRun = run_program(program_with_plan, project, stack, values, secret_keys)
    captured["plan"]["warnings"] += notes
    first = ["endpoint", "apiKey", "model", "host", "gpu"]
    order = sorted(run.outputs, key=lambda key: (first.index(key) if key in first else len(first), key))
    outputs = {key: ("[secret]" if key in run.secret_outputs else whole(run.outputs[key]))
               for key in order}
    return {"stack": stack, "plan": captured["plan"], "outputs": outputs,
            "resources": resource_tree(run.resources)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="print the offline plan of a stack")
    plan.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default dev)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    # preflight and smoke talk to Azure, Hugging Face and the endpoint; their modules load their SDKs lazily
    from . import preflight, smoke
    preflight.add_parser(commands)
    smoke.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command in ("preflight", "smoke"):
        code = (preflight if args.command == "preflight" else smoke).command(args, ROOT)
        close_event_loop()
        return code
    try:
        data = plan_stack(args.stack, ROOT)
    except (ConfigError, StackFileError) as error:
        # with --json, one JSON document on stdout like preflight and smoke; the line on stderr too
        if args.json:
            print(json.dumps({"error": str(error)}))
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(data, indent=2) if args.json else render_text(args.stack, data))
    return 0


def close_event_loop() -> None:
    """Close every loop the offline run used (its own, and those of the mock monitor's executor
    threads), so nothing complains about them at interpreter exit. Only when the process ends:
    a later run in the same process would need them."""
    loop = asyncio.get_event_loop_policy().get_event_loop()
    if loop.is_closed():
        return
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_default_executor())
    close_thread_loops()
    loop.close()


if __name__ == "__main__":
    try:
        exit_code = main()
    finally:
        close_event_loop()
    sys.exit(exit_code)
