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

# Pages other helpers write for this release, linked from docs/README.md ("Coming with this
# release") before they are merged. The integrator empties this set once they are in.
NOT_YET_MERGED = {"docs/pulumi-cli.md", "docs/guardrails.md", "docs/azure-schemas.md", "docs/operations.md",
                  "docs/runbooks.md", "docs/bench.md", "docs/cost-per-token.md", "docs/plan.md",
                  "docs/diagrams"}

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
            if relative not in NOT_YET_MERGED:
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


def test_links_to_pages_not_yet_merged_are_exactly_the_coming_list():
    """The allowance is for the pages docs/README.md announces, nothing else."""
    index = (DOCS / "README.md").read_text()
    coming = index.split("## Coming with this release", 1)[1]
    listed = {(DOCS / target).resolve().relative_to(ROOT).as_posix() for target in LINK.findall(coming)}
    assert listed == NOT_YET_MERGED


def test_every_docs_page_is_reachable_from_the_index():
    linked = {(DOCS / target.partition("#")[0]).resolve() for _, target in links(DOCS / "README.md")}
    for page in DOCS.glob("*.md"):
        if page.name != "README.md":
            assert page.resolve() in linked, f"docs/README.md does not link {page.name}"


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
