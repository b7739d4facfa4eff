"""apertus-azure components: serve Apertus with vLLM on Azure, one ComponentResource per host.

Installed, this package is ``apertus_azure`` (pyproject.toml maps it onto this directory)::

    from apertus_azure import ContainerAppGpu, ContainerAppGpuArgs

    app = ContainerAppGpu("apertus", ContainerAppGpuArgs(
        location="swedencentral", model="apertus-8b-instruct",
        hf_token=pulumi.Config().require_secret("hfToken")))
    pulumi.export("endpoint", app.endpoint)

The args check every value and plan the serving themselves (``app.plan``); ``testing`` runs a
program offline under recording mocks.
"""

from .aks import AksGpuCluster, AksGpuClusterArgs
from .base import ServingArgs, ServingComponent
from .containerapp import ContainerAppGpu, ContainerAppGpuArgs
from .secrets import ModelSecrets, ModelSecretsArgs
from .vm import GpuVirtualMachine, GpuVirtualMachineArgs

__all__ = ["AksGpuCluster", "AksGpuClusterArgs", "ContainerAppGpu", "ContainerAppGpuArgs",
           "GpuVirtualMachine", "GpuVirtualMachineArgs", "ModelSecrets", "ModelSecretsArgs",
           "ServingArgs", "ServingComponent"]
