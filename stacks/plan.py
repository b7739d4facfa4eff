"""``python -m stacks plan [--stack NAME] [--detail | --json] [--diagram FILE.md]``: the offline plan.

No Azure account, Pulumi CLI or network: it reads ``Pulumi.<stack>.yaml`` (``secure:`` values
count as set; without ``--stack``, of dev: the plan asks no one which stack is selected, unlike
preflight, smoke and bench, which go online anyway), runs the real program under recording mocks
(stacks/common.py ``plan_stack``), and prints what a person decides on (about 20 lines);
``--detail`` adds every cost line, the cold-start parts, the vLLM command line and the resource
tree ``pulumi up`` would create; ``--json`` prints all of it as one document; ``--diagram`` writes
the request path and the resources as Mermaid. A bad config exits 2 with its one-line error.
docs/plan.md says how to read each form.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from components.serving import ConfigError

from components.serving.monitoring import render_monitoring

from .common import (DEFAULT_STACK, GIVEN, PLAN_DEFAULT, StackFileError, count, plan_stack, print_error,
                     with_stack_source)
from .compare import throughput_lines

HOURS_PER_MONTH = 730  # components/serving/pricing.py HOURS_PER_MONTH (Azure's calculator convention)


def money(value: float | None, digits: int = 2) -> str:
    return "no list price in the catalog" if value is None else f"${value:,.{digits}f}"


def minutes(seconds: float) -> str:
    return f"~{seconds / 60:.0f} min"


# ---- the short plan: what a person decides on ----

def idle(p: dict[str, Any]) -> tuple[float | None, str]:
    """What the stack bills per month with no request at all, and why that much."""
    costs, host, low = p["costs"], p["host"], p["replicas"]["min"]
    fixed, gpu = costs["fixedUsdPerMonth"], costs["gpuUsdPerHour"]
    if host == "vm":
        return fixed, "VM deallocated (autoShutdown or az vm deallocate): only disks and IPs bill"
    if host == "containerapp" and low == 0:
        return fixed, "scaled to zero: no GPU bills"
    # the GPU machines that never stop: what the 24/7 figure counts beyond the fixed lines
    full = costs["monthly24x7Usd"]
    machines = round((full - fixed) / (gpu * HOURS_PER_MONTH)) if gpu and full is not None else low
    total = None if gpu is None else fixed + gpu * machines * HOURS_PER_MONTH
    noun = "GPU node" if host == "aks" else "replica"
    why = f"minReplicas {low} keeps {machines} {noun}{'s' if machines != 1 else ''} running"
    if host == "aks":
        why += (" (AKS scales on the queue depth its running replicas report, so it cannot start "
                "from zero; host 'containerapp' can)")
    return total, why


def short_lines(p: dict[str, Any]) -> list[str]:
    """Token cost and alerts, one line each (--detail has every rule and cost line)."""
    lines = []
    if t := p.get("throughput"):
        mtok = t["usdPerMillionOutputTokensSaturated"]
        lines.append(f"  tokens        est. {t['outputTokensPerSecondSaturated']:,.0f} output tokens/s per replica "
                     f"when saturated: {money(mtok)}/M output tokens"
                     + (f"; {money(t['usdPerMillionOutputTokensExpected'])}/M at "
                        f"{t['expectedRequestsPerMinute']} requests/min"
                        if t.get("expectedRequestsPerMinute") is not None else ""))
    m = p["monitoring"]
    lines.append(f"  alerts        {len(m['alerts'])} alerts ({m['azureRules']} Azure rules) to {m['destination']}, "
                 f"~{money(m['usdPerMonth'])}/month"
                 if m["enabled"] else "  alerts        off (alerts: false): nothing watches this deployment")
    lines += [f"  WARNING       {w}" for w in m.get("warnings", [])]
    return lines


def title(stack: str, data: dict[str, Any]) -> str:
    """The plan's first line: the stack, why that one when --stack did not name it, and that
    nothing was made."""
    source = data.get("stackSource", GIVEN)
    why = "" if source == GIVEN else f"{source}; "
    return f"apertus-azure plan: stack '{stack}' ({why}offline: nothing was created)"


def model_note(p: dict[str, Any]) -> list[str]:
    """The line under the model's when it is a base model, not one for chat."""
    return [f"                {p['modelNote']}"] if p.get("modelNote") else []


def render_short(stack: str, data: dict[str, Any]) -> str:
    p = data["plan"]
    costs = p["costs"]
    idle_usd, idle_why = idle(p)
    replicas = p["replicas"]
    # the price paid (the spot price with spot), as the monthly figures count it
    running = costs["gpuUsdPerHour"] if costs["gpuUsdPerHour"] is not None else p["hourlyCostUsd"]
    lines = [
        title(stack, data),
        "",
        f"  model         {p['model']} ({p['weightsGb']} GB of weights)",
        *model_note(p),
        f"  host          {p['host']}{' (spot)' if p['spot'] else ''} in {p['region']}, "
        + (f"{replicas['min']}..{replicas['max']} replicas" if p["host"] != "vm" else "one VM"),
        f"  GPU           {p['gpu']} ({p['gpuHardware']})",
        f"                why: {p['gpuReason']}",
        f"  TP            tensor-parallel size {p['tensorParallelSize']}"
        + (f", quantization {p['quantization']}" if p["quantization"] != "none" else ""),
        f"  context       {p['maxModelLen']:,} tokens",
        f"  KV cache      {p['kvCacheTokens']:,} tokens = {p['maxConcurrentSequences']} concurrent "
        f"full-context sequence{'s' if p['maxConcurrentSequences'] != 1 else ''}",
        f"  cost          running: {money(running, 3)}/h per "
        f"{'VM' if p['host'] == 'vm' else 'GPU node' if p['host'] == 'aks' else 'replica'}"
        + (" (spot)" if p["spot"] else ""),
        f"                idle: {money(idle_usd)}/month: {idle_why}",
        f"                per month: {money(costs['monthlyAtDutyCycleUsd'])} at {costs['dutyCycle']}; "
        f"{money(costs['monthly24x7Usd'])} 24/7",
        f"  exposure      {p['exposure']['summary']}",
        *short_lines(p),
    ]
    if cold := p.get("coldStart"):
        lines.append(f"  cold start    first {minutes(cold['firstSeconds'])}, "
                     f"warm {minutes(cold['warmSeconds'])}; "
                     f"readiness budget {-(-p['startupWindowSeconds'] // 60)} min")
    else:
        lines.append(f"  startup       readiness budget {-(-p['startupWindowSeconds'] // 60)} min")
    alternatives = p.get("alternatives", [])
    for index, alt in enumerate(alternatives[:2]):
        lines.append(f"  {'cheaper fits' if index == 0 else '':13s} {alt['gpu']}: "
                     f"{money(alt['hourlyCostUsd'], 3)}/h, context {alt['maxModelLen']:,}, "
                     f"quantization {alt['quantization']}" + (" (tight)" if alt["tight"] else ""))
    if len(alternatives) > 2:
        lines.append(f"                and {len(alternatives) - 2} more: --detail")
    for warning in p["warnings"]:
        lines.append(f"  WARNING       {warning}")
    lines += ["", f"--detail: every cost line and its source, the cold-start parts, quota, the vLLM command "
                  f"line and the {count(data['resources'])} resources pulumi up would create"]
    return "\n".join(lines)


# ---- the detailed plan: everything, with sources ----

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
    idle_usd, idle_why = idle(p)
    lines.append(f"                idle: {money(idle_usd)}/month: {idle_why}")
    lines += [f"                note: {note}" for note in costs["notes"]]
    return lines


def render_tree(tree: list[dict[str, Any]], prefix: str = "") -> list[str]:
    lines = []
    for index, node in enumerate(tree):
        last = index == len(tree) - 1
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{node['type']}  {node['name']}")
        lines += render_tree(node["children"], prefix + ("   " if last else "│  "))
    return lines


def render_detail(stack: str, data: dict[str, Any]) -> str:
    p = data["plan"]
    quota = p["quota"]
    lines = [
        title(stack, data),
        "",
        f"  host          {p['host']}{' (spot)' if p['spot'] else ''}",
        f"  region        {p['region']}",
        f"  exposure      {p['exposure']['summary']}",
        f"  model         {p['model']} ({p['weightsGb']} GB of weights, "
        f"{p['kvBytesPerToken'] // 1024} KiB of KV cache per token)",
        *model_note(p),
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
        *throughput_lines(p),
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


# ---- the command ----

def add_parser(commands: Any) -> None:
    parser = commands.add_parser("plan", help="print the offline plan of a stack",
                                 description="The offline plan of a stack: no Azure account, Pulumi CLI "
                                             "or network; docs/plan.md says how to read it.")
    parser.add_argument("--stack", help="stack name: reads Pulumi.<stack>.yaml (default: dev; the plan stays "
                        "offline and does not ask Pulumi which stack is selected)")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--detail", action="store_true",
                      help="every cost line, the cold-start parts, the vLLM command and the resource tree")
    form.add_argument("--json", action="store_true", help="print the whole plan as one JSON document")
    parser.add_argument("--compare", action="store_true",
                      help="every host, GPU, quantization and KV dtype that fits, by estimated $ per million "
                           "output tokens (docs/cost-per-token.md)")
    parser.add_argument("--diagram", metavar="FILE.md",
                        help="also write the request path and the resources as a Mermaid diagram to FILE.md")


def command(args: Any, root: Path) -> int:
    """Exit 0 with the plan; 2 with a one-line error (a bad config or stack file)."""
    if getattr(args, "compare", False):
        extra = [flag for flag, given in (("--detail", args.detail), ("--diagram", args.diagram)) if given]
        if extra:  # one table (or --json); the plan's own forms do not combine with it
            print(f"error: --compare prints its own table and does not take {' or '.join(extra)}; "
                  "run them as two commands", file=sys.stderr)
            return 2
    # offline: never the Pulumi CLI (which may ask Pulumi Cloud); dev unless --stack names another
    stack, source = (args.stack, GIVEN) if args.stack else (DEFAULT_STACK, PLAN_DEFAULT)
    if getattr(args, "compare", False):
        from . import compare

        return compare.command(args, root, stack, source)
    if getattr(args, "diagram", None):
        from .diagram import target_problem

        if problem := target_problem(Path(args.diagram)):
            return print_error(problem, args.json)
    try:
        planned = plan_stack(stack, root)
        data = {"stack": stack, "stackSource": source, **planned}
    except (ConfigError, StackFileError) as error:
        return print_error(with_stack_source(error, stack, source), args.json)
    if getattr(args, "diagram", None):
        from .diagram import write_diagram

        try:
            created = write_diagram(Path(args.diagram), stack, data)
        except OSError as error:
            return print_error(f"--diagram {args.diagram}: cannot write it ({error.strerror or error})",
                               args.json)
        # on stderr: --json keeps stdout one JSON document
        if created:
            print(f"note: --diagram created the folder{'s' if len(created) > 1 else ''} "
                  f"{', '.join(str(folder) for folder in created)}, which did not exist", file=sys.stderr)
        print(f"note: wrote the diagram of stack '{stack}' to {args.diagram}", file=sys.stderr)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print((render_detail if getattr(args, "detail", False) else render_short)(stack, data))
    return 0
