"""The vLLM launch spec: the one description of how vLLM runs, shared by all three hosts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .rules import VLLM_PORT as PORT  # one number, shared with the policy pack

DEFAULT_IMAGE = "vllm/vllm-openai:v0.33.0"  # first vLLM with Apertus: v0.10.2; tool parser 'apertus' built in
CACHE_MOUNT = "/models"  # the persistent model-cache volume, on every host
HF_HOME = f"{CACHE_MOUNT}/huggingface"
VLLM_CACHE_ROOT = f"{CACHE_MOUNT}/vllm"  # torch.compile cache: a warm one skips ~20-70 s per start
HEALTH_PATH = "/health"  # 200 once the engine is up, 503 when it is dead; not behind --api-key

# Key Vault secret names, and the environment variables vLLM reads them from
SECRET_HF_TOKEN = "hf-token"
SECRET_API_KEY = "api-key"
ENV_HF_TOKEN = "HF_TOKEN"
ENV_API_KEY = "VLLM_API_KEY"

# The startup window (startup probe, smoke-test timeout) is the cold-start estimate's first start
# times its safety factor (components/serving/coldstart.py); for comparison, KAITO uses 15 min + 18 s/GiB.


@dataclass(frozen=True)
class Probe:
    path: str
    port: int
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int
    initial_delay_seconds: int = 0

    @property
    def window_seconds(self) -> int:
        return self.initial_delay_seconds + self.period_seconds * self.failure_threshold


@dataclass(frozen=True)
class LaunchSpec:
    """Image, command line and environment of the vLLM container, and its probes."""

    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: dict[str, str]
    # environment variable -> Key Vault secret name; hosts wire the values, never copy them
    secret_env: dict[str, str]
    port: int
    cache_mount: str
    startup_window_seconds: int
    readiness: Probe
    liveness: Probe
    shm_needed: bool = field(default=False)  # TP > 1: NCCL needs a large /dev/shm

    @property
    def argv(self) -> tuple[str, ...]:
        return self.command + self.args

    def startup_probe(self, max_failure_threshold: int | None = None,
                      max_period_seconds: int | None = None) -> Probe:
        """A startup probe covering the window, within a platform's limits where it has them."""
        period, threshold = 10, math.ceil(self.startup_window_seconds / 10)
        if max_failure_threshold and threshold > max_failure_threshold:
            threshold = max_failure_threshold
            period = math.ceil(self.startup_window_seconds / threshold)
        if max_period_seconds:
            period = min(period, max_period_seconds)
        return replace(self.readiness, period_seconds=period, failure_threshold=threshold)

    def command_line(self) -> str:
        return " ".join(self.argv)


def build_launch_spec(*, hf_id: str, image: str, tensor_parallel_size: int, max_model_len: int,
                      gpu_memory_utilization: float, tool_call_parser: str | None,
                      startup_window_seconds: int, network_cache: bool, hf_token: bool,
                      quantization: str = "none", kv_cache_dtype: str = "auto") -> LaunchSpec:
    args = [
        "--model", hf_id,
        "--served-model-name", hf_id,
        "--host", "0.0.0.0",
        "--port", str(PORT),
        "--tensor-parallel-size", str(tensor_parallel_size),
        "--max-model-len", str(max_model_len),
        "--gpu-memory-utilization", f"{gpu_memory_utilization:g}",
        "--enable-prefix-caching",
        # no /docs, /redoc, /openapi.json: the gateway forwards only /v1/* and /health, and a map of
        # every open route helps nobody but a prober (vllm serve --help=all, "--disable-fastapi-docs")
        "--disable-fastapi-docs",
    ]
    if quantization != "none":
        args += ["--quantization", quantization]  # fp8: Linear weights quantized at load time
    if kv_cache_dtype != "auto":
        args += ["--kv-cache-dtype", kv_cache_dtype]
    if tool_call_parser:
        args += ["--enable-auto-tool-choice", "--tool-call-parser", tool_call_parser]
    if network_cache:
        # mmap ('lazy') over NFS/SMB pages in slowly. 'eager' reads whole files into each worker's
        # memory, so with TP > 1 every rank would hold all the weights: 'prefetch' warms the shared
        # page cache once instead (vllm/config/load.py)
        args += ["--safetensors-load-strategy", "eager" if tensor_parallel_size == 1 else "prefetch"]
    secret_env = {ENV_API_KEY: SECRET_API_KEY}
    if hf_token:
        secret_env[ENV_HF_TOKEN] = SECRET_HF_TOKEN
    env = {
        "HF_HOME": HF_HOME,
        "VLLM_CACHE_ROOT": VLLM_CACHE_ROOT,
        "HF_XET_HIGH_PERFORMANCE": "1",  # huggingface_hub 1.x ignores HF_HUB_ENABLE_HF_TRANSFER
        "VLLM_NO_USAGE_STATS": "1",
    }
    return LaunchSpec(
        image=image,
        command=("vllm", "serve"),
        args=tuple(args),
        env=env,
        secret_env=secret_env,
        port=PORT,
        cache_mount=CACHE_MOUNT,
        startup_window_seconds=startup_window_seconds,
        readiness=Probe(HEALTH_PATH, PORT, period_seconds=10, timeout_seconds=5, failure_threshold=3),
        # generous: a busy engine answers /health late, and a restart costs a full model load
        liveness=Probe(HEALTH_PATH, PORT, period_seconds=30, timeout_seconds=10, failure_threshold=5),
        shm_needed=tensor_parallel_size > 1,
    )
