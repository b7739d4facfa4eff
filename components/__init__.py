"""apertus-azure components: serve Apertus with vLLM on Azure, one ComponentResource per host.

    from components import ContainerAppGpu, ContainerAppGpuArgs
    from components.serving import DEFAULT_IMAGE, plan_serving, resolve_model

    plan = plan_serving(host="containerapp", model=resolve_model("apertus-8b-instruct"),
                        image=DEFAULT_IMAGE, network_cache=True)
    app = ContainerAppGpu("apertus", ContainerAppGpuArgs(plan=plan, location="swedencentral",
                                                         hf_token=config.require_secret("hfToken")))
    pulumi.export("endpoint", app.endpoint)
"""

from .aks import AksGpuCluster, AksGpuClusterArgs
from .base import ServingArgs
from .containerapp import ContainerAppGpu, ContainerAppGpuArgs
from .secrets import ModelSecrets, ModelSecretsArgs
from .vm import GpuVirtualMachine, GpuVirtualMachineArgs

__all__ = ["AksGpuCluster", "AksGpuClusterArgs", "ContainerAppGpu", "ContainerAppGpuArgs",
           "GpuVirtualMachine", "GpuVirtualMachineArgs", "ModelSecrets", "ModelSecretsArgs",
           "ServingArgs"]
