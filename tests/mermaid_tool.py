"""Mermaid's own parser for the generated diagrams, installed once outside the repository.

``mermaid`` (the npm package GitHub's renderer is built on) parses under Node with jsdom standing in
for the browser. tests/mermaid/package.json pins both; they are installed with npm into
~/.cache/apertus-azure/mermaid-<version> (or $APERTUS_TOOLS_DIR), once, under a file lock like
tests/tools.py's checkov, and tests/mermaid/parse.mjs runs from there.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tools import READY, system_tool, tools_dir

HERE = Path(__file__).resolve().parent / "mermaid"
MANIFEST = json.loads((HERE / "package.json").read_text())
VERSION = MANIFEST["dependencies"]["mermaid"]


def parser_dir() -> Path:
    """The directory holding node_modules with the pinned mermaid and jsdom (installed on first use)."""
    system_tool("node", "apt-get install nodejs npm", "Mermaid's parser runs under Node")
    npm = system_tool("npm", "apt-get install npm", "npm installs Mermaid's parser")
    home = tools_dir() / f"mermaid-{VERSION}"
    if (home / READY).exists():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f"mermaid-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be installing it: wait for it
        if not (home / READY).exists():
            print(f"\n[apertus-azure tests] installing mermaid {VERSION} and jsdom once into {home} "
                  "(about half a minute; reused afterwards)", file=sys.__stderr__, flush=True)
            shutil.rmtree(home, ignore_errors=True)  # an install that died half-way
            home.mkdir()
            shutil.copy(HERE / "package.json", home / "package.json")
            subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=home,
                           check=True, capture_output=True, timeout=600)
            (home / READY).write_text(f"mermaid {VERSION}\n")
    return home


def parse(diagrams: list[str]) -> list[dict]:
    """Mermaid's verdict on each diagram text: {"ok": True, "type": ...} or {"ok": False, "error": ...}."""
    home = parser_dir()
    shutil.copy(HERE / "parse.mjs", home / "parse.mjs")  # the script as this checkout has it
    result = subprocess.run(["node", str(home / "parse.mjs")], input="\0".join(diagrams), cwd=home,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
