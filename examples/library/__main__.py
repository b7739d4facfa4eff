"""Two Apertus endpoints from plain values: the components plan GPU, context and cost themselves."""

import pulumi

from apertus_azure import ContainerAppGpu, ContainerAppGpuArgs, GpuVirtualMachine, GpuVirtualMachineArgs


def program() -> None:
    config = pulumi.Config()
    hf_token = config.require_secret("hfToken")  # pulumi config set --secret hfToken hf_...
    chat = ContainerAppGpu("chat", ContainerAppGpuArgs(
        location="swedencentral",
        model="apertus-8b-instruct",
        hf_token=hf_token,
        allowed_cidrs=["203.0.113.0/24"],  # the office; a list, always
        max_replicas=2,
        alert_emails=["ml-oncall@example.com"],  # who hears when it breaks (docs/operations.md)
        tags={"team": "ml-platform"},
    ))
    batch = GpuVirtualMachine("batch", GpuVirtualMachineArgs(
        location="swedencentral",
        model="apertus-70b-instruct",
        hf_token=hf_token,
        auto_shutdown="19:00",
        alert_emails=["ml-oncall@example.com"],
        tags={"team": "ml-platform"},
    ))
    for prefix, component in (("chat", chat), ("batch", batch)):
        pulumi.export(f"{prefix}Endpoint", component.endpoint)
        pulumi.export(f"{prefix}ApiKey", component.api_key)  # a secret
        pulumi.export(f"{prefix}Gpu", component.plan.gpu.name)
        pulumi.export(f"{prefix}HourlyCostUsd", component.hourly_cost_usd)


if __name__ == "__main__":  # pulumi up runs this file as __main__
    program()
