"""What the commands share: planning a stack offline, the selected stack, usage errors.

``python -m stacks`` (stacks/__main__.py) only parses arguments and dispatches to one module per
command (stacks/plan.py, stacks/preflight.py, stacks/smoke.py); each of them imports this module,
none of them imports another command's module or ``__main__``. Stack-file reading and its errors
are in stacks/stackfile.py.
"""

from __future__ import annotations

import asyncio
import json
import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from components.serving import quota_request, rules
from components.serving.monitoring import monitoring_plan
from components.serving.pricing import whole_cost

from . import program
from .compare import throughput_json
from .offline import OfflineRun, Registered, close_thread_loops, run_program
from .stackfile import (ROOT, StackFileError, load_stack_file, plain_provider_secrets, unread_settings,  # noqa: F401 (shared)
                        plain_secret_finding, secret_placeholder)


class UsageError(Exception):
    """Exit 2: the user has to do something before the command can run. ``problem`` says what is
    wrong, ``fix`` what to do (preflight --json reports them apart); the message is both."""

    def __init__(self, problem: str, fix: str = ""):
        self.problem, self.fix = problem, fix
        super().__init__(f"{problem}; {fix}" if fix else problem)


def print_error(error: Exception | str, as_json: bool) -> int:
    """A bad config or stack file: one line on stderr (and, with --json, one JSON document on stdout,
    like preflight and smoke); the commands' exit code 2."""
    if as_json:
        print(json.dumps({"error": str(error)}))
    print(f"error: {error}", file=sys.stderr)
    return 2


# Without --stack, preflight, smoke and bench use the stack `pulumi stack select` chose, the one
# `pulumi up` would use, else dev; plan, offline, uses dev (docs/plan.md, "Which stack"); each says
# which and why
DEFAULT_STACK = "dev"
PLAN_DEFAULT = "default without --stack"
GIVEN = "--stack"  # the source of a stack named on the command line: nothing to explain
SELECTED = "the selected Pulumi stack"
NONE_SELECTED = "default: no Pulumi stack selected"
STACK_QUERY_SECONDS = 10  # `pulumi stack --show-name` reads local files (and, on Pulumi Cloud, one request)


def selected_stack(root: Path, which: Callable[[str], str | None] = shutil.which,
                   run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> tuple[str, str]:
    """The stack `pulumi stack select` chose (what `pulumi up` would use), else dev; and which it was.

    Asks the Pulumi CLI (`pulumi stack --show-name`), the one authority on it, when it is installed;
    without it no stack can have been selected. Never prompts: stdin is closed, --non-interactive."""
    if not which("pulumi"):
        return DEFAULT_STACK, NONE_SELECTED
    try:
        result = run(["pulumi", "stack", "--show-name", "--non-interactive"], cwd=root, capture_output=True,
                     text=True, timeout=STACK_QUERY_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return DEFAULT_STACK, f"default: pulumi stack --show-name did not answer in {STACK_QUERY_SECONDS} s"
    except OSError:
        return DEFAULT_STACK, NONE_SELECTED
    name = result.stdout.strip() if result.returncode == 0 else ""
    if name and "\n" not in name:
        return name.rpartition("/")[2], SELECTED  # org/project/stack when fully qualified
    return DEFAULT_STACK, NONE_SELECTED


def stack_and_source(given: str | None, root: Path, which: Callable[[str], str | None] = shutil.which,
                     run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> tuple[str, str]:
    """The stack a command uses and why: ``--stack`` when given, else ``selected_stack``."""
    return (given, GIVEN) if given else selected_stack(root, which, run)


def stack_label(stack: str, source: str) -> str:
    """How a command's first line names its stack: with the reason when --stack did not name it."""
    return f"stack '{stack}'" + ("" if source == GIVEN else f" ({source})")


def with_stack_source(error: Exception, stack: str, source: str) -> str:
    """A stack's error, saying where the stack came from when --stack did not name it."""
    return str(error) if source == GIVEN else f"{error} (no --stack given, so {stack_label(stack, source)})"


# ---- the plan of a stack, as data (``plan --json`` prints it as it is) ----

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


def documentation_range_warnings(args: Any) -> list[str]:
    """An allow-list holding a documentation range (the examples' 203.0.113.0/24): nobody sends from
    it, so whoever runs pulumi up would be locked out of what the key guards."""
    warnings = []
    for key, field in (("allowedCidrs", "allowed_cidrs"), ("apiAllowedCidrs", "api_allowed_cidrs"),
                       ("sshAllowedCidrs", "ssh_allowed_cidrs")):
        found = rules.documentation_ranges(getattr(args, field, None) or ())
        if found:
            warnings.append(f"{key} {', '.join(found)}: a documentation range (RFC 5737/3849) that no "
                            "one sends from; put your own address range there before pulumi up (your "
                            "public address: curl -s https://api.ipify.org)")
    return warnings


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
        "modelNote": model.base_model_note,  # a base model: not for chat (components/serving/models.py)
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
        "warnings": list(plan.warnings) + documentation_range_warnings(args),
        "quantization": plan.quantization,
        "kvCacheDtype": plan.kv_cache_dtype,
        "alternatives": [{"gpu": alt.gpu, "hosts": list(alt.hosts),
                          "tensorParallelSize": alt.tensor_parallel_size,
                          "maxModelLen": alt.max_model_len, "kvCacheTokens": alt.kv_cache_tokens,
                          "hourlyCostUsd": alt.hourly_usd, "quantization": alt.quantization,
                          "tight": alt.tight}
                         for alt in plan.alternatives],
        "alternativesNote": plan.alternatives_note,
        "monitoring": monitoring_plan(args),  # alerts, destination, monitoring cost (docs/operations.md)
        "throughput": throughput_json(args),  # tokens/s and $/Mtok (docs/cost-per-token.md)
    }}


# cold start and whole cost (components/serving/coldstart.py, pricing.py)
def _cold_start_and_costs(args: Any) -> dict:
    plan = args.plan
    bounds = getattr(args, "gpu_node_bounds", None)
    always = bounds[0] if bounds else getattr(args, "min_replicas", 1)  # a VM: one
    costs = whole_cost(plan, region=args.location, spot=getattr(args, "spot", False), min_machines=always,
                       internal=args.internal,
                       auto_shutdown=getattr(args, "auto_shutdown", None) is not None)
    return {"coldStart": plan.cold_start.to_json() if plan.cold_start else None, "costs": costs.to_json()}


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


def whole(value: Any) -> Any:
    """The engine hands numbers over as floats; show 65536, not 65536.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def plan_stack(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """Everything ``plan`` prints, as data; raises ConfigError or StackFileError.

    No Azure account, Pulumi CLI or network: it reads ``Pulumi.<stack>.yaml`` (``secure:`` values
    count as set) and runs the real program under recording mocks."""
    project, values, secret_keys = load_stack_file(stack, root)
    captured: dict[str, Any] = {}

    def program_with_plan() -> None:
        captured["plan"] = describe(program.run())

    notes = [": ".join(plain_secret_finding(key, stack))
             for key in plain_provider_secrets(values, secret_keys)] + unread_settings(stack, project, values, root)
    if f"{project}:apiKey" in secret_keys:  # a key the user chose, which the plan cannot decrypt
        notes.append("apiKey is stored encrypted, which the offline plan cannot read: its checks (at least 32 "
                     "characters, letters and digits, not equal to hfToken) run under pulumi up, before any "
                     "resource; leave apiKey out to have a random key generated")
    token_key = f"{project}:hfToken"
    if token_key not in values:
        # the plan is for before secrets are set; pulumi up itself still refuses without the token
        values[token_key] = secret_placeholder(token_key)
        notes.append("hfToken is not set in this stack: planned as if it were; pulumi up stops until you run "
                     "pulumi config set --secret hfToken <token> (the Apertus repos are gated)")
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
