"""``python -m stacks plan --diagram FILE.md``: the request path and the resources, as Mermaid.

Two flowcharts in one Markdown file (GitHub, GitLab and most editors render ```` ```mermaid ````
blocks): the way a request takes (client -> ingress or load balancer -> gateway -> vLLM -> GPU,
with where the allowed sources and the API key are checked), and the resources ``pulumi up``
would create, nested by parent. Everything comes from the offline plan (stacks/common.py
``plan_stack``); what each host puts on the path is stated in ``PATHS`` with the component file
that builds it. docs/diagrams/<stack>.md are generated for the shipped stacks and
tests/test_diagram.py keeps them current.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class HostPath:
    """What one host puts between the client and vLLM."""

    entry: str  # what the client connects to
    sources_checked_by: str  # "entry" or "gateway": who refuses a source outside allowedCidrs
    gateway: str  # the proxy in front of vLLM
    workload: str  # where vLLM runs
    built_in: str  # the component that builds it


# components/gateway.py: Caddy forwards only /v1/* and /health and answers 404 to the rest;
# vLLM checks the API key (VLLM_API_KEY, components/serving/launch.py) on /v1.
PATHS = {
    "containerapp": HostPath(
        entry="Container Apps HTTPS ingress (TLS)",  # ip_security_restrictions: components/containerapp.py
        sources_checked_by="entry", gateway="Caddy gateway container :8080",  # PROXY_PORT
        workload="container app replica", built_in="components/containerapp.py"),
    "vm": HostPath(
        entry="public IP + network security group, 443",  # inbound_rules: components/vm.py
        sources_checked_by="entry", gateway="Caddy on the VM :443 (TLS)",
        workload="Docker container under systemd", built_in="components/vm.py, components/cloudinit.py"),
    "aks": HostPath(
        entry="Azure load balancer, 443 (gateway Service)",  # components/k8s_gateway.py
        sources_checked_by="gateway", gateway="Caddy gateway pods :443 (TLS)",
        workload="vLLM pods on the GPU node pool", built_in="components/aks.py, components/k8s_*.py"),
}


def _label(*lines: str) -> str:
    """A quoted Mermaid label; quotes become #quot; (Mermaid's entity), lines join with <br/>."""
    return '"' + "<br/>".join(line.replace('"', "#quot;") for line in lines) + '"'


def request_path(data: dict[str, Any]) -> list[str]:
    p = data["plan"]
    path = PATHS[p["host"]]
    exposure = p["exposure"]
    sources = ", ".join(exposure["httpsFrom"])
    internal = exposure["network"] == "internal"
    checked = f"allowed sources: {sources}"
    replicas = ("one VM" if p["host"] == "vm"
                else f"{p['replicas']['min']}..{p['replicas']['max']} replicas")
    entry = [path.entry + (" (internal)" if internal else "")]
    gateway = [path.gateway, "forwards /v1/* and /health only, 404 to the rest"]
    (entry if path.sources_checked_by == "entry" else gateway).append(checked)
    vllm = [f"vLLM :8000, {path.workload}", "checks the API key on /v1", p["model"],
            f"TP {p['tensorParallelSize']}, context {p['maxModelLen']:,} tokens", replicas]
    lines = [
        "flowchart LR",
        f"  client([{_label('client', 'OpenAI-compatible, Bearer API key')}])",
        f"  entry[{_label(*entry)}]",
        f"  gateway[{_label(*gateway)}]",
        f"  vllm[{_label(*vllm)}]",
        f"  gpu[({_label(p['gpu'], p['gpuHardware'])})]",
        f"  vault[({_label('Key Vault', 'hfToken, apiKey')})]",
        '  client -->|"HTTPS"| entry',
        "  entry --> gateway",
        '  gateway -->|"/v1/*, /health"| vllm',
        "  vllm --> gpu",
        '  vault -.->|"secrets, by managed identity"| vllm',
    ]
    if exposure["sshFrom"]:  # the VM only, with both SSH keys set
        lines += [f"  ssh([{_label('SSH client')}])",
                  f"  sshd[{_label('sshd :22', 'allowed sources: ' + ', '.join(exposure['sshFrom']))}]",
                  '  ssh -->|"SSH, network security group"| sshd']
    if "kubernetesApiFrom" in exposure:
        api_from = ", ".join(exposure["kubernetesApiFrom"])
        lines += [f"  admin([{_label('operator: kubectl, pulumi')}])",
                  f"  api[{_label('Kubernetes API server', f'from: {api_from}', 'Entra ID sign-in')}]",
                  '  admin -->|"HTTPS"| api', '  api -.->|"manages"| vllm']
    return lines


def _sorted(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Children by type and name: registration order varies between runs, the diagram must not."""
    return sorted(({**node, "children": _sorted(node["children"])} for node in tree),
                  key=lambda node: (node["type"], node["name"]))


def resources(data: dict[str, Any]) -> list[str]:
    lines = ["flowchart LR"]
    counter = iter(range(1, 10_000))

    def add(nodes: list[dict[str, Any]], parent: str | None) -> None:
        for node in nodes:
            ident = f"r{next(counter)}"
            lines.append(f"  {ident}[{_label(node['type'], node['name'])}]")
            if parent:
                lines.append(f"  {parent} --> {ident}")
            add(node["children"], ident)

    add(_sorted(data["resources"]), None)
    return lines


def count(tree: list[dict[str, Any]]) -> int:
    return sum(1 + count(node["children"]) for node in tree)


def render(stack: str, data: dict[str, Any]) -> str:
    p = data["plan"]
    return "\n".join([
        f"# Stack `{stack}`: {p['host']}, {p['model']} on {p['gpu']}",
        "",
        f"Generated by `python -m stacks plan --stack {stack} --diagram <file>` from `Pulumi.{stack}.yaml`;",
        "do not edit by hand (tests/test_diagram.py checks it is current). docs/plan.md says how to read it.",
        "",
        "## Request path",
        "",
        f"Exposure: {p['exposure']['summary']}. Built by {PATHS[p['host']].built_in}.",
        "",
        "```mermaid",
        *request_path(data),
        "```",
        "",
        f"## Resources ({count(data['resources'])})",
        "",
        "What `pulumi up` would create, nested by parent (children sorted by type and name).",
        "",
        "```mermaid",
        *resources(data),
        "```",
        "",
    ])


def target_problem(path: Path) -> str | None:
    """Why ``path`` cannot take the diagram (a folder, or under a file), or None; checked before the
    plan runs, so a typo costs nothing."""
    if path.is_dir():
        return f"--diagram {path} is a folder; give a file in it, e.g. {path / 'diagram.md'}"
    existing = next((parent for parent in path.parents if parent.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"--diagram {path}: {existing} is a file, not a folder; give a path in a folder"
    return None


def write_diagram(path: Path, stack: str, data: dict[str, Any]) -> list[Path]:
    """Write the diagram; the folders it had to create (outermost first), which the plan names: a
    misspelt folder would otherwise appear without a word."""
    created = [parent for parent in reversed(path.parents) if not parent.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(stack, data))
    return created


def mermaid_blocks(markdown: str) -> list[str]:
    """The text of each ```mermaid block of a Markdown document."""
    blocks, current = [], None
    for line in markdown.splitlines():
        if current is None and line.strip() == "```mermaid":
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks
