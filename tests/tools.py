"""Command-line tools the tests run, found or set up so they never constrain runtime packages.

checkov pins packaging<24 while pulumi needs packaging>=24: installed next to pulumi, pip
backtracks for minutes and drags other packages back. So checkov lives in its own virtualenv,
created once per pinned version under ~/.cache/apertus-azure/ (or $APERTUS_TOOLS_DIR) and reused;
a file lock keeps concurrent pytest runs from building it twice or reading it half-built.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

CHECKOV_VERSION = "3.3.30"  # pinned: its check ids are what tests/checkov-skips.yaml explains
READY = ".apertus-ready"  # written last: a directory without it is half-built


def tools_dir() -> Path:
    base = os.environ.get("APERTUS_TOOLS_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or
                                                        Path.home() / ".cache") / "apertus-azure"
    return Path(base)


def isolated_tool(package: str, version: str, command: str) -> str:
    """``command`` from a virtualenv holding only ``package==version``, created on first use."""
    home = tools_dir() / f"{package}-{version}"
    executable = home / "bin" / command
    if (home / READY).exists():
        return str(executable)
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f"{package}-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it: wait for it
        if not (home / READY).exists():
            print(f"\n[apertus-azure tests] installing {package}=={version} once into its own "
                  f"virtualenv {home} (about a minute; reused afterwards)", file=sys.__stderr__, flush=True)
            shutil.rmtree(home, ignore_errors=True)  # a build that died half-way
            venv.create(home, with_pip=True)
            subprocess.run([str(home / "bin" / "python"), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", f"{package}=={version}"], check=True)
            (home / READY).write_text(f"{package}=={version}\n")
    return str(executable)


def checkov() -> str:
    """$CHECKOV when set (a checkov you manage), else the harness's own pinned one."""
    return os.environ.get("CHECKOV") or isolated_tool("checkov", CHECKOV_VERSION, "checkov")


def system_tool(name: str, install: str, why: str) -> str:
    """A tool from the system (or next to this Python); missing: a skip locally, a failure in CI."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return found
    message = f"{name} not found: {why}. Install it with: {install}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI installs it, so its absence is an error here)")
    pytest.skip(message)
