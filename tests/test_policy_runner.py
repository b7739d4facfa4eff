"""apertus_azure.testing.run_policy_pack takes the policy config as a platform team writes it for
`pulumi preview --policy-pack policy --policy-pack-config cfg.json` (docs/guardrails.md)."""

from __future__ import annotations

import pytest

from components.testing import run_policy_pack
from conftest import run_stack, stack_config


@pytest.fixture(scope="module")
def public_app():
    return run_stack(stack_config("containerapp", alertEmails=["oncall@example.com"]))


@pytest.mark.parametrize("config", [
    {"closed-when-internal": {"internal": True}},  # the --policy-pack-config file's shape
    {"all": {"internal": True}},
    {"internal": True},  # one dict for every policy
])
def test_the_policy_config_is_read_in_every_documented_shape(public_app, config):
    assert run_policy_pack(public_app) == []
    assert {v.policy for v in run_policy_pack(public_app, config=config)} == {"closed-when-internal"}


def test_a_misspelt_policy_name_in_the_config_is_an_error_not_ignored(public_app):
    with pytest.raises(ValueError, match=r"\['closed-when-internl'\] are neither policy names"):
        run_policy_pack(public_app, config={"closed-when-internl": {"internal": True}})


def test_without_a_pack_directory_it_says_where_the_pack_is(public_app, tmp_path):
    with pytest.raises(FileNotFoundError, match="pass pack_dir=<a checkout of apertus-azure>/policy"):
        run_policy_pack(public_app, pack_dir=tmp_path)
