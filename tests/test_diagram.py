"""`python -m stacks plan --diagram FILE.md`: the request path and the resources as Mermaid.

docs/diagrams/<stack>.md are generated from the shipped stacks and must stay current; Mermaid's own
parser (the `mermaid` npm package, tests/mermaid_tool.py) judges every diagram block.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from stacks import diagram
from stacks import plan as plan_command
from stacks.common import plan_stack

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("dev", "vm-70b", "aks")


@pytest.fixture(scope="module")
def plans() -> dict[str, dict]:
    return {stack: plan_stack(stack) for stack in SHIPPED}


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_shipped_diagrams_are_current(stack, plans):
    """Regenerate with: python -m stacks plan --stack <stack> --diagram docs/diagrams/<stack>.md"""
    written = (ROOT / "docs" / "diagrams" / f"{stack}.md").read_text()
    assert written == diagram.render(stack, plans[stack]), (
        f"docs/diagrams/{stack}.md is stale: run python -m stacks plan --stack {stack} "
        f"--diagram docs/diagrams/{stack}.md")


def test_the_request_path_names_each_hop_and_where_sources_and_the_key_are_checked(plans):
    for stack, data in plans.items():
        text = "\n".join(diagram.request_path(data))
        for hop in ("client", "entry", "gateway", "vllm", "gpu"):
            assert f"  {hop}" in text, (stack, hop)
        assert "checks the API key on /v1" in text and "allowed sources: any source" in text
        assert data["plan"]["gpu"] in text and data["plan"]["model"] in text
    # where the allowed sources are enforced: the ingress / NSG, or (AKS) the Caddy gateway
    aks = "\n".join(diagram.request_path(plans["aks"]))
    assert 'gateway["Caddy gateway pods :443 (TLS)<br/>forwards /v1/* and /health only, 404 to the rest<br/>' \
           'allowed sources: any source"]' in aks
    assert "Kubernetes API server<br/>from: 203.0.113.0/24" in aks
    vm = "\n".join(diagram.request_path(plans["vm-70b"]))
    assert 'entry["public IP + network security group, 443<br/>allowed sources: any source"]' in vm


def test_the_resource_diagram_has_every_resource_once(plans):
    data = plans["aks"]
    lines = diagram.resources(data)
    nodes = [line for line in lines if line.startswith("  r") and "[" in line]
    edges = [line for line in lines if "-->" in line]
    assert len(nodes) == diagram.count(data["resources"])
    assert len(edges) == len(nodes) - 1  # one root, a tree


def test_a_label_cannot_break_out_of_its_quotes():
    assert diagram._label('say "hi"', "x") == '"say #quot;hi#quot;<br/>x"'


def test_plan_writes_the_diagram_and_still_prints_the_plan(tmp_path, capsys):
    target = tmp_path / "sub" / "dev.md"
    args = argparse.Namespace(stack="dev", json=False, detail=False, diagram=str(target))
    assert plan_command.command(args, ROOT) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("apertus-azure plan: stack 'dev'")
    assert f"wrote the diagram of stack 'dev' to {target}" in printed.err  # the user is told where it went
    assert diagram.mermaid_blocks(target.read_text())[0].startswith("flowchart LR")


def test_mermaid_parses_every_generated_diagram(plans):
    """The real parser, not a look-alike: GitHub renders with mermaid, and refuses what it refuses."""
    from mermaid_tool import parse

    blocks = [block for stack in SHIPPED
              for block in diagram.mermaid_blocks((ROOT / "docs" / "diagrams" / f"{stack}.md").read_text())]
    assert len(blocks) == 2 * len(SHIPPED)
    # a broken diagram is refused: the parser really judges
    results = parse([*blocks, "flowchart LR\n  a -->"])
    assert results[-1]["ok"] is False and "Parse error" in results[-1]["error"]
    assert all(r == {"ok": True, "type": "flowchart-v2"} for r in results[:-1]), results
