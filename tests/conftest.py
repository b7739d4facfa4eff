"""Shared test harness: the real program, run offline under one set of recording mocks."""

from __future__ import annotations

import copy
import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ["PULUMI_ERROR_OUTPUT_STRING"] = "1"  # an Output in an f-string fails loudly

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from components.serving import ConfigError  # noqa: E402
from stacks.offline import (OfflineRun, Registered, _invoke_results, is_secret, run_program,  # noqa: E402
                            unwrap_secret)
from stacks.program import run  # noqa: E402

PROJECT = "apertus-azure"
HF_TOKEN = "hf_offlineTestToken0123456789abcdef"
API_KEY = "offline-test-api-key-5f1c9e2a7b0d4c8e"  # 37 characters: apiKey needs >= 32
LOCATION = "swedencentral"
# The stack files the repository ships. A user's own Pulumi.<name>.yaml beside them (docs/deploy.md
# puts them there) is not the suite's to judge: a mistake in it must not fail tests named after these.
SHIPPED_STACKS = ("aks", "dev", "vm-70b")


@pytest.fixture(autouse=True)
def no_keys_from_other_tests():
    """smoke remembers every key it sent (to hide them in all later output: bench and the gateway
    tests use it too): a test's output must not depend on which tests ran before it in the worker."""
    smoke = sys.modules.get("stacks.smoke")
    if smoke is not None:
        smoke._SENT_KEYS.clear()
    yield
    if smoke is not None or (smoke := sys.modules.get("stacks.smoke")) is not None:
        smoke._SENT_KEYS.clear()


def stack_config(host: str, **overrides: Any) -> dict[str, Any]:
    """A minimal valid stack config for ``host``; ``None`` removes a key."""
    config: dict[str, Any] = {"host": host, "azure-native:location": LOCATION, "hfToken": HF_TOKEN}
    if host == "aks" and not {"apiPublic", "apiPrivate"} & set(overrides):
        config["apiAllowedCidrs"] = ["198.51.100.0/24"]  # required for aks (issue 15.2): Pulumi's own range
    config.update(overrides)
    return {key: value for key, value in config.items() if value is not None}


# Runs that succeeded, by stack and config, for tests that change nothing around the program: a
# test using monkeypatch or capturing output may see what a run does, so it always runs afresh.
_RUNS: dict[str, OfflineRun] = {}
_FRESH_RUNS_FOR = {"monkeypatch", "capsys", "capfd", "caplog", "recwarn"}
_reuse_runs = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    global _reuse_runs
    _reuse_runs = not _FRESH_RUNS_FOR & set(getattr(item, "fixturenames", ()))


def run_stack(config: dict[str, Any], stack: str = "test", fresh: bool = False) -> OfflineRun:
    """Run the whole program with this config, as ``pulumi up`` would; secrets marked secret.
    A test that changes nothing around the program gets a copy of an earlier identical run;
    ``fresh``: run it anyway (a fixture that patches something with MonkeyPatch.context)."""
    secret_keys = {key for key in ("hfToken", "apiKey") if key in config}
    if fresh or not _reuse_runs:
        return run_program(run, PROJECT, stack, config, secret_keys)
    key = json.dumps([stack, config], sort_keys=True, default=repr)
    if key not in _RUNS:
        _RUNS[key] = run_program(run, PROJECT, stack, config, secret_keys)
    return copy.deepcopy(_RUNS[key])


# The plan of a stack file (stacks/common.py plan_stack, which plan, smoke, bench and the docs
# generator call), reused the same way: same stack, same directory, same bytes in both files
_PLANS: dict[str, dict[str, Any]] = {}


def _reusing_plans(plan_stack):
    def reused(stack: str, root: Path = ROOT) -> dict[str, Any]:
        if not _reuse_runs:
            return plan_stack(stack, root)
        files = [Path(root) / "Pulumi.yaml", Path(root) / f"Pulumi.{stack}.yaml"]
        key = json.dumps([stack, str(Path(root).resolve())] +
                         [f.read_bytes().hex() if f.is_file() else None for f in files])
        if key not in _PLANS:
            _PLANS[key] = plan_stack(stack, root)  # an error is raised, never kept
        return copy.deepcopy(_PLANS[key])
    reused.__wrapped__ = plan_stack
    return reused


def pytest_collection_finish(session):
    """Every stacks module holding plan_stack (imported by name) gets the reusing one."""
    import stacks.common
    original = getattr(stacks.common.plan_stack, "__wrapped__", stacks.common.plan_stack)
    reused = _reusing_plans(original)
    for name, module in list(sys.modules.items()):
        if (name == "stacks" or name.startswith("stacks.") or name.startswith("test_")) and \
                getattr(module, "plan_stack", None) is original:
            module.plan_stack = reused


def config_error(config: dict[str, Any]) -> tuple[ConfigError, list[Registered]]:
    """Run a config that must fail; return the error and what was registered before it."""
    with pytest.raises(ConfigError) as caught:
        run_stack(config)
    return caught.value, caught.value.registered


def assert_config_error(config: dict[str, Any], key: str, words: tuple[str, ...] | list[str] = ()
                        ) -> ConfigError:
    """The config fails with one line naming ``key`` (and ``words``), before any resource exists."""
    error, registered = config_error(config)
    message = str(error)
    assert error.key == key and key in message and "\n" not in message, message
    for word in words:
        assert word in message, message
    assert registered == [], [r.name for r in registered]
    return error


def unwrap(value: Any) -> Any:
    return unwrap_secret(value)


def plain_occurrences(resources: list[Registered], needle: str) -> list[str]:
    """Where ``needle`` appears in a resource input that is not marked secret."""
    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if is_secret(value):
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")
        elif isinstance(value, str) and needle in value:
            found.append(path)

    for resource in resources:
        walk(resource.inputs, f"{resource.type}::{resource.name}")
    return found


def assert_roles_go_to_managed_identities_only(run: OfflineRun) -> None:
    """Azure refuses an assignment whose type does not match its principal (UnmatchedPrincipalType):
    a host without a deployer assignment gives roles only to its managed identities, typed
    ServicePrincipal, and none to the identity running Pulumi."""
    deployer = _invoke_results()["azure-native:authorization:getClientConfig"]({})
    roles = run.mocks.of_type("azure-native:authorization:RoleAssignment")
    identities = {r.outputs["principalId"] for r in run.mocks.of_type(
        "azure-native:managedidentity:UserAssignedIdentity")}
    assert roles and all(r.inputs["principalType"] == "ServicePrincipal" for r in roles)
    assert deployer["objectId"] not in identities
    assert all(r.inputs["principalId"] in identities for r in roles)


__all__ = ["SHIPPED_STACKS", "API_KEY", "assert_config_error", "assert_roles_go_to_managed_identities_only", "config_error",
           "HF_TOKEN", "LOCATION", "plain_occurrences", "run_stack", "stack_config", "unwrap"]


# ---- scheduling: pytest-xdist hands whole files (--dist loadfile) to its workers in collection order

# The files that take longest, first (a file's tests share its module fixtures): the longest start
# at once and the short ones fill in behind them, instead of one long file starting last. bench and
# smoke mostly wait on their local servers' timing, so the worker beside them keeps the CPU busy.
LONGEST_FIRST = ("test_smoke.py", "test_bench.py", "test_aks.py", "test_policy.py", "test_pulumi_cli.py",
                 "test_inputs.py", "test_plan_command.py", "test_library.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)  # stable: a file keeps its own order


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: a worker per core and one more, for the files that mostly wait (bench, smoke)."""
    return min((os.cpu_count() or 1) + 1, 8)


# ---- garbage collection in a worker: the heap is mostly modules that stay until the worker exits

# Once a worker has imported the provider SDKs it holds ~400,000 objects, most of them their
# generated types and functions, and every full collection walks all of them: ~3 s of a worker's CPU
# (measured with gc.callbacks over test_aks, test_policy and test_vm), at the end of the run too
# (pytest collects once more at exit). After a test that imported many modules, what exists is
# frozen (gc.freeze: left out of later collections; a worker keeps its modules anyway), and the
# youngest generation is collected after 10,000 new objects instead of CPython's 700.
gc.set_threshold(10_000, *gc.get_threshold()[1:])
_modules_when_frozen = 0


def pytest_runtest_logfinish(nodeid, location):
    global _modules_when_frozen
    if len(sys.modules) > _modules_when_frozen + 100:
        _modules_when_frozen = len(sys.modules)
        gc.freeze()
