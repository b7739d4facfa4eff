"""Log Analytics workspace shared by the hosts that ship logs to one (Container Apps, AKS)."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import operationalinsights

LOG_RETENTION_DAYS = 30  # the PerGB2018 tier includes 31 days of retention at no extra charge


def log_analytics_workspace(name: str, resource_group_name: pulumi.Input[str], location: str,
                            tags: dict[str, str], opts: pulumi.ResourceOptions
                            ) -> operationalinsights.Workspace:
    return operationalinsights.Workspace(
        f"{name}-logs",
        resource_group_name=resource_group_name,
        location=location,
        sku=operationalinsights.WorkspaceSkuArgs(
            name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018),
        retention_in_days=LOG_RETENTION_DAYS,
        tags=tags,
        opts=opts)
