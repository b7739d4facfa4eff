"""The apertus-azure security promises as Pulumi CrossGuard policies (all mandatory), one module
per concern:

- gateway.py: nothing reaches vLLM without the gateway (NSG, Container Apps ingress, Kubernetes
  Services, Azure load balancers, public GPU VMs)
- exposure.py: internal means internal, judged from the components' explicit marker
- network.py: HTTPS only; SSH only from narrow ranges, rule by rule and across the stack
- hardening.py: Key Vault, storage account and AKS identity settings
- containers.py: every pod meets Pod Security Standards Baseline; containers that hold GPUs are locked down
- secrets.py: no secret in a plain property; no GPU or vLLM pod loads a ConfigMap the pack cannot see
- images.py: pinned images (the rule the program applies too: components/serving/rules.py)
- monitoring.py: every serving host is watched by an alert that reaches an action group

Importable without side effects: ``__main__.py`` builds the ``PolicyPack`` (which starts the
analyzer server); the tests and ``apertus_azure.testing.run_policy_pack`` call each policy's
``validate`` directly. To add a policy, append it to RESOURCE_POLICIES or STACK_POLICIES below: one
line.
"""

from __future__ import annotations

from .common import *  # noqa: F401,F403  the readers and types, for tests and other packs
from .common import (_POD_SPEC_PATHS, _address_sources, _label, _listed,  # noqa: F401
                     _nsg_rules, _opens_tcp_port, _port_ranges, _rule_name, rules)
from .containers import _gets_gpu, gpu_containers_locked_down  # noqa: F401
from .exposure import api_server_problem, closed_when_internal, exposure_problem, internal_resources, \
    stack_is_internal  # noqa: F401
from .gateway import is_gateway_container, is_vllm_container, nsg_rule_problems, vllm_behind_gateway, \
    vllm_behind_gateway_across_stack  # noqa: F401
from .hardening import aks_identity_hardened, key_vault_hardened, storage_account_hardened
from .monitoring import serving_host_monitored
from .images import custom_data_images, image_problem, images_pinned, shell_image_references  # noqa: F401
from .network import https_only, no_public_ssh, no_public_ssh_in_pieces, ssh_source_problems  # noqa: F401
from .secrets import class_switches, credential_name, is_random, no_plain_secrets, no_unseen_env_across_stack, \
    plain_places, secret_looking, shannon_entropy  # noqa: F401

# The pack's version: PulumiPolicy.yaml says the same (tests/test_policy.py checks)
VERSION = "0.7.0"
NAME = "apertus-azure-security"

RESOURCE_POLICIES = [https_only, no_public_ssh, key_vault_hardened, storage_account_hardened,
                     aks_identity_hardened, gpu_containers_locked_down, no_plain_secrets,
                     images_pinned, vllm_behind_gateway]
STACK_POLICIES = [no_public_ssh_in_pieces, closed_when_internal, vllm_behind_gateway_across_stack,
                  no_unseen_env_across_stack]
POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]  # the security promises
# operations (issue 17): a serving host whose alerts reach no action group fails the pack too
OPERATIONS_POLICIES = [serving_host_monitored]
# what ``pulumi up --policy-pack policy`` runs (__main__.py) and run_policy_pack runs by default
PACK_POLICIES = [*POLICIES, *OPERATIONS_POLICIES]
