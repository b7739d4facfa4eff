"""Pure serving logic: model and GPU catalogs, memory plan, vLLM launch spec, cost.

Plain Python: imports no Pulumi resource module, so every figure can be tested directly.
"""

from . import checks
from .errors import ConfigError
from .gpus import GPUS, HOSTS, GpuSku, gpus_for_host
from .launch import DEFAULT_IMAGE, LaunchSpec, Probe
from .models import DEFAULT_MODEL, KV_CACHE_DTYPES, MODELS, QUANTIZATIONS, ModelSpec, resolve_model
from .plan import (Alternative, Cost, MemoryPlan, QuotaRequest, ServingPlan, memory_plan, plan_serving,
                   quota_request)

__all__ = ["Alternative", "checks", "ConfigError", "Cost", "DEFAULT_IMAGE", "DEFAULT_MODEL", "GPUS",
           "GpuSku", "HOSTS", "KV_CACHE_DTYPES", "LaunchSpec", "MODELS", "MemoryPlan", "ModelSpec",
           "Probe", "QUANTIZATIONS", "ServingPlan", "gpus_for_host", "memory_plan", "plan_serving",
           "QuotaRequest", "quota_request", "resolve_model"]
