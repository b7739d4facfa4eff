"""The harness's own tool set-up (tests/tools.py): one build per version, even with parallel runs."""

from __future__ import annotations

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
