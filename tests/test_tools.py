"""The harness's own tool set-up (tests/tools.py): one build per version, even with parallel runs, and
both ways of running checkov."""

from __future__ import annotations

import json
import threading
import time

import pytest

import tools


def test_parallel_first_uses_build_the_tool_once_and_wait_for_it(tmp_path, monkeypatch):
    monkeypatch.setenv("APERTUS_TOOLS_DIR", str(tmp_path))
    builds = []

    def slow_create(home, with_pip):
        builds.append(home)
        time.sleep(0.3)  # the other caller arrives while this one builds
        (home / "bin").mkdir(parents=True)

    monkeypatch.setattr(tools.venv, "create", slow_create)
    monkeypatch.setattr(tools.subprocess, "run", lambda *args, **kwargs: None)
    found = []
    threads = [threading.Thread(target=lambda: found.append(tools.isolated_tool("demo", "1.0", "demo")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(builds) == 1
    assert found == [str(tmp_path / "demo-1.0" / "bin" / "demo")] * 2
    assert (tmp_path / "demo-1.0" / tools.READY).exists()


def test_a_half_built_tool_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("APERTUS_TOOLS_DIR", str(tmp_path))
    (tmp_path / "demo-1.0" / "leftover").mkdir(parents=True)  # a run that died while installing
    monkeypatch.setattr(tools.venv, "create", lambda home, with_pip: home.mkdir(parents=True))
    monkeypatch.setattr(tools.subprocess, "run", lambda *args, **kwargs: None)
    tools.isolated_tool("demo", "1.0", "demo")
    assert not (tmp_path / "demo-1.0" / "leftover").exists()


def test_a_missing_system_tool_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.setattr(tools.shutil, "which", lambda *args, **kwargs: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install"):
        tools.system_tool("cloud-init", "sudo apt-get install cloud-init", "its schema validator")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI installs it"):
        tools.system_tool("cloud-init", "sudo apt-get install cloud-init", "its schema validator")


CLI_JSON = {"check_type": "kubernetes", "results": {
    "failed_checks": [{"check_id": "CKV_K8S_15", "resource": "Deployment.apertus.vllm"}],
    "passed_checks": [{"check_id": "CKV_K8S_8", "resource": "Deployment.apertus.vllm"}]}}


def fake_command(path, stdout: str):
    path.write_text(f"#!/bin/sh\ncat <<'END'\n{stdout}\nEND\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("answer", [CLI_JSON, [CLI_JSON]])  # one framework: an object; several: a list
def test_checkov_from_the_checkov_variable_runs_its_cli(tmp_path, monkeypatch, answer):
    monkeypatch.setenv("CHECKOV", str(fake_command(tmp_path / "checkov", json.dumps(answer))))
    monkeypatch.setattr(tools, "isolated_tool", lambda *args: pytest.fail("$CHECKOV is set: build nothing"))
    report = tools.checkov_kubernetes(tmp_path)
    assert report.failed == {("CKV_K8S_15", "Deployment.apertus.vllm")}
    assert report.passed == {("CKV_K8S_8", "Deployment.apertus.vllm")}


def test_checkov_of_its_own_runs_the_kubernetes_runner_in_its_virtualenv(tmp_path, monkeypatch):
    monkeypatch.delenv("CHECKOV", raising=False)
    found = {"failed": [["CKV_K8S_15", "Deployment.apertus.vllm"]],
             "passed": [["CKV_K8S_8", "Deployment.apertus.vllm"]]}
    python = fake_command(tmp_path / "python", json.dumps(found))
    asked = []
    monkeypatch.setattr(tools, "isolated_tool", lambda *args: asked.append(args) or str(python))
    report = tools.checkov_kubernetes(tmp_path)
    assert asked == [("checkov", tools.CHECKOV_VERSION, "python")]
    assert report.failed == {("CKV_K8S_15", "Deployment.apertus.vllm")}
    assert report.passed == {("CKV_K8S_8", "Deployment.apertus.vllm")}
