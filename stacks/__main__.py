"""``python -m stacks plan [--stack NAME] [--json]``: the offline plan of a stack.

No Azure account, Pulumi CLI or network: it reads ``Pulumi.<stack>.yaml`` (``secure:`` values
count as set), runs the real program under recording mocks, and prints the serving plan and the
resource tree ``pulumi up`` would create. A bad config exits 2 with its one-line error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from components.serving import ConfigError, quota_request

from . import program
from .offline import OfflineRun, Registered, run_program

ROOT = Path(__file__).resolve().parents[1]
SECRET_PLACEHOLDER = "offline-placeholder-secret"


class StackFileError(Exception):
    pass


def load_stack_file(stack: str, root: Path = ROOT) -> tuple[str, dict[str, Any], set[str]]:
    """Project name, config values (project defaults applied) and secret keys of a stack."""
    project_file, stack_file = root / "Pulumi.yaml", root / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise StackFileError(f"no stack file {stack_file.name}; stacks here: {', '.join(known)}")
    project = yaml.safe_load(project_file.read_text())
    name = project["name"]
    values: dict[str, Any] = {}
    for key, declared in (project.get("config") or {}).items():
        if isinstance(declared, dict) and "default" in declared:
            values[key if ":" in key else f"{name}:{key}"] = declared["default"]
    secret_keys: set[str] = set()
    for key, value in ((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}).items():
        key = key if ":" in key else f"{name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = SECRET_PLACEHOLDER
            secret_keys.add(key)
        values[key] = value
    return name, values, secret_keys


def describe(args: Any) -> dict[str, Any]:
    """The plan of the host's args (``ServingArgs`` subclass), as data."""
    plan = args.plan
    low, high = getattr(args, "min_replicas", 1), getattr(args, "max_replicas", 1)  # a VM: one
    # GPU machines at most: AKS sizes its node pools itself (room for a rolling update included)
    bounds = getattr(args, "gpu_node_bounds", None)
    machines = bounds[1] if bounds else high
    quota = quota_request(plan, machines)
    model = plan.model
    return {
        "host": plan.host,
        "region": args.location,
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
        "spot": getattr(args, "spot", False),
        "hourlyCostUsd": plan.cost.hourly_usd,
        "monthlyCostUsd": plan.cost.monthly_usd,
        "hourlyCostUsdPerSequence": plan.cost.hourly_usd_per_sequence,
        "priceSource": plan.cost.source,
        "quota": {"family": quota.family, "amount": quota.amount, "unit": quota.unit},
        "vllmImage": plan.launch.image,
        "vllmCommand": list(plan.launch.argv),
        "startupWindowSeconds": plan.launch.startup_window_seconds,
        "warnings": list(plan.warnings),
    }


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
        f"  quota         {quota['amount']} {quota['unit']} in '{quota['family']}' at max replicas",
        f"  startup       readiness budget {p['startupWindowSeconds'] // 60} min",
    ]
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
    args = parser.parse_args(argv)
    try:
        data = plan_stack(args.stack, ROOT)
    except (ConfigError, StackFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(data, indent=2) if args.json else render_text(args.stack, data))
    close_event_loop()
    return 0


def close_event_loop() -> None:
    """Close the loop the offline run used, so nothing complains about it at interpreter exit."""
    loop = asyncio.get_event_loop_policy().get_event_loop()
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


if __name__ == "__main__":
    sys.exit(main())
