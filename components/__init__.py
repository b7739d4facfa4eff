"""apertus-azure components: serve Apertus with vLLM on Azure, one ComponentResource per host.

Installed, this package is ``apertus_azure`` (pyproject.toml maps it onto this directory)::

    from apertus_azure import ConfigError, ContainerAppGpu, ContainerAppGpuArgs

    try:
        args = ContainerAppGpuArgs(location="swedencentral", model="apertus-8b-instruct",
                                   hf_token=pulumi.Config().require_secret("hfToken"))
    except ConfigError as error:  # one line: the key, the value, why, and what works
        ...
    app = ContainerAppGpu("apertus", args)
    pulumi.export("endpoint", app.endpoint)

The args check every value and plan the serving themselves (``app.plan``); ``testing`` runs a
program offline under recording mocks. ``ConfigError`` (a ``pulumi.RunError``: Pulumi prints its
message without a stack trace) is the one error type the args and components raise.

Each name is imported on first use, so a program (or ``python -m stacks plan``) that uses one host
does not load the Azure and Kubernetes SDK modules of the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module (relative to this package) that defines it
_EXPORTS = {
    "AksGpuCluster": ".aks", "AksGpuClusterArgs": ".aks",
    "ConfigError": ".serving.errors",
    "ContainerAppGpu": ".containerapp", "ContainerAppGpuArgs": ".containerapp",
    "GpuVirtualMachine": ".vm", "GpuVirtualMachineArgs": ".vm",
    "ModelSecrets": ".secrets", "ModelSecretsArgs": ".secrets",
    "ServingArgs": ".base", "ServingComponent": ".base",
}

__all__ = ["AksGpuCluster", "AksGpuClusterArgs", "ConfigError", "ContainerAppGpu", "ContainerAppGpuArgs",
           "GpuVirtualMachine", "GpuVirtualMachineArgs", "ModelSecrets", "ModelSecretsArgs", "ServingArgs",
           "ServingComponent"]  # = sorted(_EXPORTS), spelt out for linters and type checkers

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports on demand
    from .aks import AksGpuCluster, AksGpuClusterArgs
    from .base import ServingArgs, ServingComponent
    from .containerapp import ContainerAppGpu, ContainerAppGpuArgs
    from .secrets import ModelSecrets, ModelSecretsArgs
    from .serving.errors import ConfigError
    from .vm import GpuVirtualMachine, GpuVirtualMachineArgs


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
