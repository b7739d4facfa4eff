"""Pure serving logic: model and GPU catalogs, memory plan, vLLM launch spec, cost.

Plain Python: imports no Pulumi resource module, so every figure can be tested directly.
"""

from . import checks
from .errors import ConfigError
from .gpus import GPUS, HOSTS, GpuSku, gpus_for_host
from .launch import DEFAULT_IMAGE, LaunchSpec, Probe
from .models import DEFAULT_MODEL, MODELS, ModelSpec, resolve_model
from .plan import Cost, QuotaRequest, ServingPlan, plan_serving, quota_request

__all__ = ["checks", "ConfigError", "Cost", "DEFAULT_IMAGE", "DEFAULT_MODEL", "GPUS", "GpuSku", "HOSTS",
           "LaunchSpec", "MODELS", "ModelSpec", "Probe", "ServingPlan", "gpus_for_host",
           "plan_serving", "QuotaRequest", "quota_request", "resolve_model"]
