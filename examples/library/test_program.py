"""The program offline, under the mocks apertus-azure ships: python -m pytest (no Azure, no CLI)."""

import importlib.util
from pathlib import Path

import pytest

from apertus_azure.serving import ConfigError
from apertus_azure.testing import run_program

spec = importlib.util.spec_from_file_location("team_program", Path(__file__).with_name("__main__.py"))
team_program = importlib.util.module_from_spec(spec)
spec.loader.exec_module(team_program)

CONFIG = {"hfToken": "hf_offline_token"}


def test_both_endpoints_are_planned_and_keys_stay_secret():
    run = run_program(team_program.program, "team-llm", "dev", CONFIG, secret_keys={"hfToken"})
    assert run.outputs["chatEndpoint"].startswith("https://")
    assert run.outputs["batchEndpoint"].startswith("https://")
    assert run.outputs["chatGpu"].startswith("Consumption-GPU")  # the planner's cheapest fit
    assert {"chatApiKey", "batchApiKey"} <= run.secret_outputs
    types = {r.type for r in run.resources}
    assert {"apertus:index:ContainerAppGpu", "apertus:index:GpuVirtualMachine"} <= types


def test_a_mistake_is_one_line_before_any_resource():
    with pytest.raises(ConfigError, match="ContainerAppGpuArgs: allowed_cidrs"):
        run_program(lambda: team_program.ContainerAppGpu("x", team_program.ContainerAppGpuArgs(
            location="swedencentral", hf_token="t", allowed_cidrs="203.0.113.0/24")), "team-llm", "dev", {})
