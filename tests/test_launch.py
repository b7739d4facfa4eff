"""The vLLM launch spec, checked against the pinned vLLM's own `vllm serve --help=all`."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from components.serving import DEFAULT_IMAGE, GPUS, MODELS, ConfigError, plan_serving
from components.serving.coldstart import SAFETY_FACTOR
from components.serving.launch import CACHE_MOUNT, HEALTH_PATH, PORT

FIXTURES = Path(__file__).parent / "fixtures"
PINNED_VERSION = DEFAULT_IMAGE.rsplit(":v", 1)[1]
HELP_FILE = FIXTURES / f"vllm-serve-help-{PINNED_VERSION}.txt"


def parse_help(text: str) -> dict[str, set[str] | None]:
    """Flag -> allowed choices (None: free-form) from argparse's option lines."""
    flags: dict[str, set[str] | None] = {}
    for line in text.splitlines():
        if not line.startswith("  -"):
            continue
        names = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        braces = re.search(r"\{([^}]*)\}", names)
        listed = re.search(r"\[('[^\]]*')\]", names)
        choices = (set(braces.group(1).split(",")) if braces else
                   set(re.findall(r"'([^']*)'", listed.group(1))) if listed else None)
        for flag in re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", names):
            flags[flag] = choices
    return flags


@pytest.fixture(scope="module")
def vllm_flags() -> dict[str, set[str] | None]:
    assert HELP_FILE.exists(), (f"{HELP_FILE.name} missing: run tests/fixtures/refresh_vllm_help.sh "
                                f"{PINNED_VERSION} after moving the image pin")
    return parse_help(HELP_FILE.read_text())


def all_specs():
    """Launch specs for every catalog model on every host, with and without network storage."""
    for model in MODELS.values():
        for host in ("containerapp", "vm", "aks"):
            for network_cache in (False, True):
                try:
                    plan = plan_serving(host=host, model=model, image=DEFAULT_IMAGE,
                                        network_cache=network_cache, gpu_memory_utilization=0.95)
                except ConfigError:  # 70B on containerapp: rejected, nothing to launch
                    continue
                yield plan.launch
    # the FP8 options, on a GPU that runs both
    for model in MODELS.values():
        yield plan_serving(host="vm", model=model, image=DEFAULT_IMAGE, gpu="Standard_NC80adis_H100_v5",
                           max_model_len=16384, quantization="fp8", kv_cache_dtype="fp8").launch


def test_fixture_is_the_pinned_vllm(vllm_flags):
    assert HELP_FILE.read_text().startswith("usage: vllm serve")
    assert len(vllm_flags) > 300  # the whole --help=all, not one group


def test_every_emitted_flag_and_choice_exists_in_the_pinned_vllm(vllm_flags):
    seen = set()
    for spec in all_specs():
        assert spec.command == ("vllm", "serve")
        args = list(spec.args)
        for index, token in enumerate(args):
            if not token.startswith("--"):
                continue
            seen.add(token)
            assert token in vllm_flags, f"vllm {PINNED_VERSION} has no flag {token}"
            choices = vllm_flags[token]
            value = args[index + 1] if index + 1 < len(args) else None
            if choices is not None and value is not None and not value.startswith("--"):
                assert value in choices, f"{token} {value}: vllm accepts {sorted(choices)}"
    # the flags the issue asks for were all exercised
    assert {"--model", "--served-model-name", "--tensor-parallel-size", "--max-model-len",
            "--gpu-memory-utilization", "--enable-prefix-caching", "--enable-auto-tool-choice",
            "--tool-call-parser", "--safetensors-load-strategy", "--quantization",
            "--kv-cache-dtype"} <= seen
    assert "--enforce-eager" not in seen


def test_parser_reads_choices(vllm_flags):
    assert "apertus" in vllm_flags["--tool-call-parser"]
    assert {"eager", "lazy"} <= vllm_flags["--safetensors-load-strategy"]
    assert vllm_flags["--max-model-len"] is None


def test_spec_for_apertus_8b():
    spec = plan_serving(host="containerapp", model=MODELS["apertus-8b-instruct"], image=DEFAULT_IMAGE,
                        network_cache=True).launch
    args = spec.args
    assert args[args.index("--model") + 1] == "swiss-ai/Apertus-8B-Instruct-2509"
    assert args[args.index("--served-model-name") + 1] == "swiss-ai/Apertus-8B-Instruct-2509"
    assert args[args.index("--tool-call-parser") + 1] == "apertus"
    assert args[args.index("--safetensors-load-strategy") + 1] == "eager"
    assert args[args.index("--port") + 1] == str(PORT) == "8000"
    assert spec.env["HF_HOME"].startswith(CACHE_MOUNT + "/")
    assert spec.env["VLLM_CACHE_ROOT"].startswith(CACHE_MOUNT + "/")
    assert spec.secret_env == {"VLLM_API_KEY": "api-key", "HF_TOKEN": "hf-token"}
    assert not set(spec.secret_env) & set(spec.env)  # secrets never as plain env values
    assert spec.readiness.path == spec.liveness.path == HEALTH_PATH


def test_network_storage_with_tensor_parallel_prefetches_instead_of_copying_per_rank():
    spec = plan_serving(host="aks", model=MODELS["apertus-70b"], image=DEFAULT_IMAGE,
                        network_cache=True).launch
    assert spec.args[spec.args.index("--safetensors-load-strategy") + 1] == "prefetch"


def test_local_disk_keeps_the_default_load_strategy():
    spec = plan_serving(host="vm", model=MODELS["apertus-8b-instruct"], image=DEFAULT_IMAGE).launch
    assert "--safetensors-load-strategy" not in spec.args


def test_startup_window_is_the_first_start_estimate_and_grows_with_the_weights():
    # was 10 min + 20 s per GB; now one source of truth: the cold-start estimate x its safety factor
    small_plan = plan_serving(host="vm", model=MODELS["apertus-8b"], image=DEFAULT_IMAGE)
    large_plan = plan_serving(host="vm", model=MODELS["apertus-70b"], image=DEFAULT_IMAGE)
    small, large = small_plan.launch, large_plan.launch
    assert small.startup_window_seconds == math.ceil(small_plan.cold_start.first_seconds * SAFETY_FACTOR)
    assert large.startup_window_seconds == math.ceil(large_plan.cold_start.first_seconds * SAFETY_FACTOR)
    assert small.startup_window_seconds < large.startup_window_seconds
    probe = small.startup_probe()
    assert probe.window_seconds >= small.startup_window_seconds and probe.period_seconds == 10


def test_startup_probe_within_platform_limits():
    spec = plan_serving(host="containerapp", model=MODELS["apertus-8b"], image=DEFAULT_IMAGE).launch
    probe = spec.startup_probe(max_failure_threshold=10, max_period_seconds=240)
    assert probe.failure_threshold == 10 and probe.period_seconds <= 240
    assert probe.window_seconds >= spec.startup_window_seconds


def test_tensor_parallel_needs_shared_memory():
    big = plan_serving(host="vm", model=MODELS["apertus-70b"], image=DEFAULT_IMAGE)
    assert big.tensor_parallel_size > 1 and big.launch.shm_needed
    assert f"--tensor-parallel-size {big.tensor_parallel_size}" in big.launch.command_line()
    assert not plan_serving(host="vm", model=MODELS["apertus-8b"], image=DEFAULT_IMAGE).launch.shm_needed


def test_gpu_catalog_hosts():
    assert all(GPUS[n].gpus_per_replica == 1 for n in GPUS if "containerapp" in GPUS[n].hosts)
