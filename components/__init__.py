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
does not load the Azure and Kubernetes SDK modules of the others. ``__version__`` is the package's
version from its one source, ``[project] version`` in pyproject.toml (``package_version``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path
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


DISTRIBUTION = "apertus-azure"  # pyproject.toml [project] name


def package_version() -> str:
    """pyproject.toml's ``[project] version``: in the repository checkout (imported as ``components``)
    read from the file itself, so it cannot lag behind an edit; installed (``apertus_azure``), from the
    distribution's metadata, which pip wrote from the same field."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if __name__ == "components" and pyproject.is_file():
        import tomllib

        return tomllib.loads(pyproject.read_text())["project"]["version"]
    return importlib.metadata.version(DISTRIBUTION)


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()["__version__"] = version = package_version()
        return version
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | {"__version__"})
