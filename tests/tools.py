"""Command-line tools the tests run, found or set up so they never constrain runtime packages.

checkov pins packaging<24 while pulumi needs packaging>=24: installed next to pulumi, pip
backtracks for minutes and drags other packages back. So checkov lives in its own virtualenv,
created once per pinned version under ~/.cache/apertus-azure/ (or $APERTUS_TOOLS_DIR) and reused;
a file lock keeps concurrent pytest runs from building it twice or reading it half-built. The tests
call checkov's Kubernetes runner in that virtualenv's python rather than its CLI (``checkov_kubernetes``),
unless $CHECKOV names a checkov of your own.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import NamedTuple

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


class CheckovReport(NamedTuple):
    failed: set[tuple[str, str]]  # (check id, resource), e.g. ("CKV_K8S_15", "Deployment.apertus.vllm")
    passed: set[tuple[str, str]]
    log: str  # checkov's stderr, for a failure message


# What `checkov --framework kubernetes -d DIR` runs, called in checkov's own python: the CLI spends
# ~3 s of CPU starting up (every framework's imports, its integrations) before it checks anything.
# On the AKS manifests both report the same failed and passed checks (compared by hand, checkov 3.3.30).
KUBERNETES_RUNNER = """
import json, sys
from checkov.kubernetes.runner import Runner
from checkov.runner_filter import RunnerFilter
report = Runner().run(root_folder=sys.argv[1], runner_filter=RunnerFilter(framework=["kubernetes"]))
print(json.dumps({"failed": [[c.check_id, c.resource] for c in report.failed_checks],
                  "passed": [[c.check_id, c.resource] for c in report.passed_checks]}))
"""


def checkov_kubernetes(folder: Path) -> CheckovReport:
    """checkov's Kubernetes checks on every manifest under ``folder``: through $CHECKOV's CLI when set
    (a checkov you manage: only its command line is known), else through the pinned checkov's
    Kubernetes runner in its own virtualenv's python."""
    if os.environ.get("CHECKOV"):
        result = subprocess.run([checkov(), "--framework", "kubernetes", "--skip-download", "-o", "json",
                                 "-d", str(folder)], capture_output=True, text=True, timeout=300, check=False)
        try:
            reports = json.loads(result.stdout)
        except ValueError:
            raise AssertionError(f"checkov printed no JSON (exit {result.returncode}):\n"
                                 f"{result.stderr[-2000:]}") from None
        reports = reports if isinstance(reports, list) else [reports]
        checks = {kind: {(check["check_id"], check["resource"]) for report in reports
                         for check in report.get("results", {}).get(f"{kind}_checks", [])}
                  for kind in ("failed", "passed")}
        return CheckovReport(checks["failed"], checks["passed"], result.stderr)
    python = isolated_tool("checkov", CHECKOV_VERSION, "python")
    result = subprocess.run([python, "-c", KUBERNETES_RUNNER, str(folder)], capture_output=True, text=True,
                            timeout=300, check=False)
    if result.returncode != 0:
        raise AssertionError(f"checkov's Kubernetes runner failed (exit {result.returncode}):\n"
                             f"{result.stderr[-2000:]}")
    found = json.loads(result.stdout.strip().splitlines()[-1])
    return CheckovReport({tuple(check) for check in found["failed"]},
                         {tuple(check) for check in found["passed"]}, result.stderr)


def system_tool(name: str, install: str, why: str) -> str:
    """A tool from the system (or next to this Python); missing: a skip locally, a failure in CI."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return found
    message = f"{name} not found: {why}. Install it with: {install}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI installs it, so its absence is an error here)")
    pytest.skip(message)
