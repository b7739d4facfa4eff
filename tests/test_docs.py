"""The README and docs/ as a newcomer uses them: every link lands, the README stays short, and the
generated parts (host table, configuration reference, Pulumi.yaml's config block) match their source."""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 250

FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading (github-slugger): the rendered text, lower case, without
    punctuation other than '-' and '_', each space a '-'."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose_lines(page.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def links(page: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in prose_lines(page.read_text()):
        # a code span is text, not a link; keep a link whose text is code ([`vm`](vm.md))
        line = CODE_SPAN.sub(lambda m: "code" if "](" not in m.group(2) else "", line)
        found.extend((number, target) for target in LINK.findall(line))
    return found


def broken_links(page: Path) -> list[str]:
    problems = []
    for number, target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        where = f"{page.relative_to(ROOT)}:{number}: {target}"
        relative = destination.relative_to(ROOT).as_posix() if destination.is_relative_to(ROOT) else None
        if not destination.exists():
            problems.append(f"{where}: no such file")
            continue
        if anchor and (destination.suffix != ".md" or anchor not in anchors(destination)):
            problems.append(f"{where}: no heading with anchor #{anchor} in {relative}")
    return problems


def test_github_slugs_follow_githubs_rules():
    assert github_slug("Security: only `/v1/*` and `/health` are reachable") == \
        "security-only-v1-and-health-are-reachable"
    assert github_slug("How Pulumi signs in to the cluster (kubelogin is a prerequisite)") == \
        "how-pulumi-signs-in-to-the-cluster-kubelogin-is-a-prerequisite"
    assert github_slug("Settings for `host: aks`") == "settings-for-host-aks"
    assert github_slug("First deploy: preflight -> pulumi up -> smoke") == "first-deploy-preflight---pulumi-up---smoke"
    assert github_slug("Grüezi_wohl 2") == "grüezi_wohl-2"


def test_the_link_checker_finds_a_broken_file_and_anchor(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Two words\n\n[ok](#two-words) [gone](missing.md) [bad](#nope)\n"
                    "```\n[in code](ignored.md)\n```\n`[span](ignored.md)` [site](https://example.org)\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert broken_links(page) == ["page.md:5: missing.md: no such file",
                                  "page.md:5: #nope: no heading with anchor #nope in page.md"]


@pytest.mark.parametrize("page", pages(), ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_every_page_has_one_title():
    for page in pages():
        titles = [line for _, line in prose_lines(page.read_text()) if line.startswith("# ")]
        assert len(titles) == 1, (page.name, titles)


def test_every_docs_page_is_reachable_from_the_index():
    linked = {(DOCS / target.partition("#")[0]).resolve() for _, target in links(DOCS / "README.md")}
    for page in DOCS.rglob("*.md"):  # docs/diagrams/ too
        if page != DOCS / "README.md":
            assert page.resolve() in linked, f"docs/README.md does not link {page.relative_to(DOCS)}"


def test_readme_is_read_in_five_minutes():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"


def test_readme_quickstart_is_the_two_commands_ci_runs():
    """The set-up line and the two commands are the ones .ci/run runs, so they work on a fresh machine."""
    readme = README.read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quickstart, re.DOTALL)
    setup, commands = blocks
    assert "pip install -r requirements.txt -r tests/requirements.txt" in setup
    assert "pip install -r requirements.txt -r tests/requirements.txt" in ci
    assert [line.split("#")[0].strip() for line in commands.strip().splitlines()] == \
        ["python -m stacks plan", "python -m pytest"]
    assert "python -m stacks plan" in ci and "\npython -m pytest" in ci


# ---- the generated parts match their one source ----

def _generated(path: Path, name: str) -> str:
    text = path.read_text()
    start = text.index(f": {name} -->\n") + len(f": {name} -->\n")
    return text[start:text.index(f"<!-- END generated: {name} -->")]


def test_configuration_md_lists_every_key_from_the_settings_table():
    from stacks import docs
    assert _generated(DOCS / "configuration.md", "keys") == docs.configuration_reference(), \
        "docs/configuration.md is out of date: python -m stacks.docs --write"


def test_pulumi_yaml_config_block_is_generated_from_the_settings_table():
    from stacks import docs
    current = (ROOT / "Pulumi.yaml").read_text()
    assert current == docs.pulumi_yaml(current), "Pulumi.yaml is out of date: python -m stacks.docs --write"


def test_pulumi_yaml_declares_only_types_the_cli_accepts_with_the_tables_descriptions():
    import yaml

    from components.serving.settings import DECLARABLE_TYPES, SETTINGS, UNDECLARED_SHAPE, description
    from stacks.docs import _declared
    text = (ROOT / "Pulumi.yaml").read_text()
    declared = yaml.safe_load(text)["config"]
    # the CLI makes a declared key without a default required: only keys with a project default
    # (and the required `host`) are declared; the other keys are listed in the comment block
    assert list(declared) == [f"apertus-azure:{s.key}" for s in SETTINGS if _declared(s)]
    commented = re.findall(r"^#   apertus-azure:(\w+) \(", text, re.MULTILINE)
    assert commented == [s.key for s in SETTINGS if not _declared(s)]
    for setting in SETTINGS:
        if not _declared(setting):
            continue
        entry = declared[f"apertus-azure:{setting.key}"]
        assert entry.get("type") in (*DECLARABLE_TYPES, None)
        assert entry.get("type") == setting.type
        assert (setting.type is None) == (setting.key in UNDECLARED_SHAPE), setting.key
        assert entry["description"] == description(setting)
        assert entry.get("secret", False) == setting.secret


def test_the_settings_table_the_stack_readers_and_the_args_fields_agree():
    import dataclasses

    from components.serving import HOSTS, checks
    from components.serving.settings import ARGS_ONLY, SETTINGS, for_host
    from stacks import docs
    from stacks.config import COMMON_FIELDS
    from stacks.program import COMMON_KEYS, host_module
    assert [s.key for s in SETTINGS if s.common] == list(COMMON_KEYS)
    by_key = {s.key: s for s in SETTINGS}
    for key, field_name in COMMON_FIELDS.items():
        assert by_key[key].field == field_name and by_key[key].common
    for host in HOSTS:
        module = host_module(host)
        assert {s.key for s in SETTINGS if not s.common and host in s.hosts} == set(module.KEYS), host
        for key, field_name in module.FIELDS.items():
            assert by_key[key].field == field_name and host in by_key[key].hosts, (host, key)
        args_type = docs.host_args.__globals__["ARGS_TYPES"][host]
        args_class = getattr(__import__(args_type[0], fromlist=[args_type[1]]), args_type[1])
        fields = {f.name: f for f in dataclasses.fields(args_class) if f.name != "plan"}
        assert set(fields) == {s.field for s in for_host(host)}, host
        for setting in for_host(host):  # a plain default the args have is the one documented
            default = fields[setting.field].default
            if isinstance(default, (int, float, str)) and not isinstance(default, bool) and default != "":
                assert str(default) in setting.default, (host, setting.key, default, setting.default)
    assert {s.key for s in ARGS_ONLY}.isdisjoint(by_key)
    for config_key, input_name in checks.INPUT_NAMES.items():  # a renamed input says so
        assert by_key[config_key].field == re.sub(r"(?<!^)(?=[A-Z])", "_", input_name).lower()


# ---- the README's host table is the plan's ----

@pytest.fixture(scope="module")
def host_rows():
    from stacks import docs
    return docs.host_rows()


def test_readme_host_table_is_the_plans(host_rows):
    from stacks import docs
    assert _generated(README, "host table") == docs.host_table(host_rows), \
        "README.md's host table is out of date: python -m stacks.docs --write"


def test_container_apps_serves_8b_only_and_the_others_both_models(host_rows):
    served = {}
    for row in host_rows:
        served.setdefault(row["host"], []).append(row["model"])
    assert served == {"containerapp": ["swiss-ai/Apertus-8B-Instruct-2509"],
                      "vm": ["swiss-ai/Apertus-8B-Instruct-2509", "swiss-ai/Apertus-70B-Instruct-2509"],
                      "aks": ["swiss-ai/Apertus-8B-Instruct-2509", "swiss-ai/Apertus-70B-Instruct-2509"]}
    assert host_rows[0]["serves"] == "8B only"


def test_the_dev_stacks_plan_prints_the_container_apps_row(host_rows):
    """The dev stack is the table's Container Apps row: the plan command gives the same figures."""
    from stacks.common import plan_stack
    from stacks.plan import idle
    plan = plan_stack("dev")["plan"]
    row = host_rows[0]
    assert (plan["gpu"], plan["costs"]["gpuUsdPerHour"], plan["coldStart"]["firstSeconds"],
            plan["coldStart"]["warmSeconds"]) == (row["gpu"], row["hourly"], row["first"], row["warm"])
    assert idle(plan)[0] == row["idle"] == plan["costs"]["fixedUsdPerMonth"]


def test_idle_month_counts_the_gpu_machines_that_never_stop():
    """The README's idle column is the short plan's idle line (stacks/plan.py idle)."""
    from stacks.plan import idle
    # AKS with one minimum replica: its GPU node runs all month
    aks = {"host": "aks", "replicas": {"min": 1, "max": 1},
           "costs": {"fixedUsdPerMonth": 478.31, "gpuUsdPerHour": 4.775, "monthly24x7Usd": 478.31 + 4.775 * 730}}
    assert idle(aks)[0] == pytest.approx(3964.06, abs=0.01)
    # a deallocated VM: only what always bills
    vm = {"host": "vm", "replicas": {"min": 1, "max": 1},
          "costs": {"fixedUsdPerMonth": 61.37, "gpuUsdPerHour": 19.1, "monthly24x7Usd": 61.37 + 19.1 * 730}}
    assert idle(vm)[0] == 61.37


def test_readme_library_example_runs_as_written():
    """The lines under "Use as a library" plan and build offline, as `pulumi up` would run them (the
    installed package `apertus_azure` is this repository's `components/`), and the policy pack passes
    them: what a user copies is what the guardrails accept."""
    from components.testing import run_policy_pack, run_program
    section = README.read_text().split("## Use as a library", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(code.strip().splitlines()) <= 13
    source = code.replace("from apertus_azure import", "from components import")

    def program() -> None:
        exec(compile(source, "README.md", "exec"), {})

    run = run_program(program, "team-llm", "dev", {"hfToken": "hf_offline_token"}, secret_keys={"hfToken"})
    assert run.outputs["endpoint"].startswith("https://") and run.outputs["endpoint"].endswith("/v1")
    assert run.outputs["gpu"] == "Consumption-GPU-NC24-A100"
    assert "apiKey" in run.secret_outputs
    assert run_policy_pack(run) == []


# ---- help() shows the same meanings ----

def test_help_of_each_host_args_lists_every_field_with_its_meaning():
    import pydoc

    from components import AksGpuClusterArgs, ContainerAppGpuArgs, GpuVirtualMachineArgs
    from components.serving.settings import description, for_host
    for args_class, host in ((ContainerAppGpuArgs, "containerapp"), (GpuVirtualMachineArgs, "vm"),
                             (AksGpuClusterArgs, "aks")):
        text = " ".join(pydoc.render_doc(args_class, renderer=pydoc.plaintext).replace("|", " ").split())
        for setting in for_host(host):
            assert f" {setting.field}" in text, (host, setting.field)
            assert " ".join(description(setting, with_hosts=False).split()) in text, (host, setting.key)
    assert "concurrent_requests [scaleConcurrentRequests]" in ContainerAppGpuArgs.__doc__


def test_help_of_a_component_shows_its_own_docstring_not_pulumis():
    import pydoc

    from components import AksGpuCluster, ContainerAppGpu, GpuVirtualMachine
    for component in (ContainerAppGpu, GpuVirtualMachine, AksGpuCluster):
        init = component.__init__.__doc__
        assert init.startswith(component.__doc__.strip().splitlines()[0]), component
        assert f"help({component.__name__}Args)" in init
        text = pydoc.render_doc(component, renderer=pydoc.plaintext)
        assert ":param str t: The type of this resource." not in text, component


def test_the_generator_says_what_is_stale_and_writes_it(tmp_path, monkeypatch, capsys):
    import shutil

    from stacks import docs
    (tmp_path / "docs").mkdir()
    for name in ("Pulumi.yaml", "README.md", "docs/configuration.md", "docs/containerapp.md", "docs/vm.md",
                 "docs/aks.md", *(f"Pulumi.{stack}.yaml" for stack in docs.HOST_STACKS.values())):
        shutil.copy(ROOT / name, tmp_path / name)
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    import stacks.common
    planned: dict = {}  # each stack file is planned once across the three runs (none of them changes)
    real_plan = stacks.common.plan_stack

    def plan_once(stack, root):
        if (stack, root) not in planned:
            planned[(stack, root)] = real_plan(stack, root)
        return planned[(stack, root)]

    monkeypatch.setattr(stacks.common, "plan_stack", plan_once)
    assert docs.main([]) == 0 and capsys.readouterr().out.strip() == "up to date"
    project = tmp_path / "Pulumi.yaml"
    project.write_text(project.read_text().replace("type: boolean", "type: number", 1))
    assert docs.main([]) == 1
    assert "out of date: Pulumi.yaml; run python -m stacks.docs --write" in capsys.readouterr().err
    assert docs.main(["--write"]) == 0 and project.read_text() == (ROOT / "Pulumi.yaml").read_text()


@pytest.mark.parametrize("host", ["containerapp", "vm", "aks"])
def test_each_host_page_lists_its_own_keys_from_the_settings_table(host):
    from stacks import docs
    assert _generated(DOCS / f"{host}.md", f"keys of {host}") == docs.host_keys_table(host), \
        f"docs/{host}.md is out of date: python -m stacks.docs --write"


@pytest.mark.parametrize("host", ["containerapp", "vm", "aks"])
def test_each_host_page_shows_the_request_path_of_its_example_stack(host):
    """The diagram is drawn from the example stack's offline plan, so it cannot drift from the code."""
    from stacks import docs
    from stacks.diagram import mermaid_blocks
    stack = docs.HOST_STACKS[host]
    embedded = _generated(DOCS / f"{host}.md", f"request path of {stack}")
    assert embedded == docs.host_diagram(host), f"docs/{host}.md is out of date: python -m stacks.docs --write"
    # the same flowchart as the stack's full diagram page (written by plan --diagram)
    assert mermaid_blocks(embedded) == mermaid_blocks((DOCS / "diagrams" / f"{stack}.md").read_text())[:1]
    assert f"diagrams/{stack}.md" in (DOCS / f"{host}.md").read_text()
