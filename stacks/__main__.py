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
import sys
from pathlib import Path
from typing import Any


from components.serving import ConfigError, quota_request
from components.serving.monitoring import monitoring_plan, render_monitoring
from components.serving.pricing import whole_cost

from . import compare, program
from .offline import OfflineRun, Registered, close_thread_loops, run_program
from .stackfile import (  # noqa: F401 (re-exported for preflight, smoke and the tests)
    ROOT,
    SECRET_PLACEHOLDER,
    PulumiYamlLoader,
    StackFileError,
    check_declared_type,
    config_entries,
    load_stack_file,
    read_yaml,
    stack_value,
)

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
        api_from = (["the virtual network (private cluster)"] if getattr(args, "api_private", False)
                    else list(getattr(args, "api_allowed_cidrs", ())) or ["any source (apiPublic: true)"])
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
        "monitoring": monitoring_plan(args),  # ops (issue 17): components/serving/monitoring.py
        "throughput": compare.throughput_json(args),  # stacks/compare.py (issue 18)
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
        *render_monitoring(p["monitoring"]),
        *compare.throughput_lines(p),
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
    plan.add_argument("--compare", action="store_true", help="every host, GPU and quantization that fits, "
                      "by estimated $ per million tokens (stacks/compare.py)")
    # preflight and smoke talk to Azure, Hugging Face and the endpoint; their modules load their SDKs lazily
    from . import bench, preflight, smoke
    preflight.add_parser(commands)
    smoke.add_parser(commands)
    bench.add_parser(commands)  # stacks/bench.py (issue 18)
    args = parser.parse_args(argv)
    if args.command in ("preflight", "smoke", "bench"):
        code = {"preflight": preflight, "smoke": smoke, "bench": bench}[args.command].command(args, ROOT)
        close_event_loop()
        return code
    if args.compare:
        return compare.command(args, ROOT)
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
