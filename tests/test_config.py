"""Stack configuration: every mistake is a one-line error before any resource is registered."""

from __future__ import annotations

import pulumi
import pytest

from conftest import PROJECT, assert_config_error, config_error, run_stack, stack_config
from stacks.config import ConfigReader, read_settings
from stacks.offline import run_program
from stacks.program import COMMON_KEYS, host_module, run

HOSTS = ("containerapp", "vm", "aks")


@pytest.mark.parametrize("overrides,key,words", [
    ({"host": "kubernetes"}, "host", ["containerapp, vm, aks"]),
    ({"host": None}, "host", ["is required", "pulumi config set host"]),
    ({"azure-native:location": None}, "azure-native:location", ["pulumi config set azure-native:location"]),
    ({"model": "apertus-9b"}, "model", ["apertus-8b-instruct", "apertus-70b-instruct"]),
    ({"hfToken": None}, "hfToken", ["gated", "pulumi config set --secret hfToken"]),
    ({"spot": True}, "spot", ["no spot capacity", "'vm' or 'aks'"]),
    ({"spot": "yes"}, "spot", ["true or false"]),
    ({"minReplicas": 3, "maxReplicas": 2}, "minReplicas", ["above maxReplicas (2)"]),
    ({"minReplicas": -1}, "minReplicas", ["between 0 and", "use 0"]),
    ({"maxReplicas": 0}, "maxReplicas", ["between 1 and", "use 1"]),
    ({"maxReplicas": 1.5}, "maxReplicas", ["whole number"]),
    ({"maxModelLen": -5}, "maxModelLen", ["at least 1"]),
    ({"allowedCidrs": ["10.0.0.1/24"]}, "allowedCidrs", ["10.0.0.0/24"]),
    ({"allowedCidrs": ["not-an-ip"]}, "allowedCidrs", ["is not an IP address", "give CIDRs like"]),
    ({"allowedCidrs": "{\"a\": 1}"}, "allowedCidrs", ["list of strings"]),
    ({"tags": ["a"]}, "tags", ["map of strings"]),
    ({"tags": {"cost/center": "ml"}}, "tags", ["not a valid Azure tag name"]),
    ({"tags": {"team": "x" * 300}}, "tags.team", ["longer than 256"]),
    ({"tags": {"Managed-By": "me"}}, "tags", ["own tag", "'managed-by'"]),
    ({"tags": {f"t{i}": "v" for i in range(49)}}, "tags", ["more than 47"]),
    ({"allowedCidrs": ["2001:db8::/32"]}, "allowedCidrs", ["IPv6", "IPv4"]),
    ({"maxModelLenght": 4096}, "maxModelLenght", ["did you mean 'maxModelLen'"]),
])
def test_common_config_errors(overrides, key, words):
    overrides = dict(overrides)
    config = {**stack_config("containerapp"), **overrides}
    assert_config_error({k: v for k, v in config.items() if v is not None}, key, words)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("overrides,key", [
    ({"model": "apertus-9b"}, "model"),
    ({"maxModelLen": 100000}, "maxModelLen"),
    ({"gpuMemoryUtilization": 0.3}, "gpuMemoryUtilization"),
    ({"gpu": "Standard_D4s_v5"}, "gpu"),
    ({"allowedCidrs": ["300.1.1.1/32"]}, "allowedCidrs"),
])
def test_errors_on_every_host(host, overrides, key):
    error, registered = config_error(stack_config(host, **overrides))
    assert error.key == key and registered == []


def test_a_key_of_another_host_is_named_as_such():
    error, registered = config_error(stack_config("vm", scaleConcurrentRequests=8))
    assert "applies only to host 'containerapp'" in str(error) and registered == []
    error, _ = config_error(stack_config("vm", vnetAddressSpace="10.1.0.0/16"))
    assert "applies only to host 'containerapp' or 'aks', not 'vm'" in str(error)


def test_vm_runs_exactly_one_server():
    error, registered = config_error(stack_config("vm", maxReplicas=2))
    assert error.key == "maxReplicas" and "'aks'" in str(error) and registered == []
    # the key the user set is the one named (an unset maxReplicas follows minReplicas up)
    error, _ = config_error(stack_config("vm", minReplicas=2))
    assert error.key == "minReplicas" and "minReplicas = 2" in str(error)


class RecordingConfig:
    """A pulumi.Config that notes every key the program asks for."""

    def __init__(self, real, asked: list[str]):
        self._real, self._asked = real, asked

    def get(self, key):
        self._asked.append(key)
        return self._real.get(key)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.mark.parametrize("host", HOSTS)
def test_the_program_reads_exactly_the_keys_it_declares(host):
    """COMMON_KEYS and each host's KEYS are what check_unknown_keys accepts: a key declared but never
    read would be accepted and ignored, a key read but not declared refused as unknown."""
    asked: list[str] = []

    def program():
        reader = ConfigReader()
        reader._config = RecordingConfig(reader._config, asked)
        host_module(host).read(reader, read_settings(reader))

    run_program(program, PROJECT, "test", stack_config(host), {"hfToken"})
    assert set(asked) == set(COMMON_KEYS) | set(host_module(host).KEYS)


def test_a_plain_provider_credential_is_a_warning_under_pulumi_up(monkeypatch):
    """The provider reads azure-native:clientSecret, so a plain one is not refused; `pulumi up` warns
    once, with the command that fixes it, and never shows the value."""
    said: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: said.append(message))
    value = "plain-client-secret-value-0123456789"
    run_stack(stack_config("vm", **{"azure-native:clientSecret": value, "azure:clientSecret": ""}))
    assert [m for m in said if "plain text" in m] == [
        "azure-native:clientSecret is stored in plain text in Pulumi.test.yaml (anyone with the file or its git "
        "history has it): pulumi config set --secret azure-native:clientSecret <value> --stack test, then rotate it"]
    assert not any(value in m for m in said)
    said.clear()
    run_program(run, PROJECT, "test",
                stack_config("vm", **{"azure-native:clientSecret": value}), {"hfToken", "azure-native:clientSecret"})
    assert not [m for m in said if "plain text" in m]


def test_a_base_model_is_a_warning_under_pulumi_up(monkeypatch):
    said: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: said.append(message))
    run_stack(stack_config("vm", model="apertus-70b"))
    assert [m for m in said if "instruction-tuned" in m] == [
        "model swiss-ai/Apertus-70B-2509: base model, not instruction-tuned: chat answers will be poor; "
        "for chat use model apertus-70b-instruct"]
    said.clear()
    run_stack(stack_config("vm", model="apertus-70b-instruct"))
    assert not [m for m in said if "instruction-tuned" in m]
