"""Host 'vm': one Azure GPU VM serving vLLM over HTTPS (components/vm.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.serving import checks

if TYPE_CHECKING:  # imported when this host is used: a plan of another host skips its SDK modules
    from components.vm import GpuVirtualMachine, GpuVirtualMachineArgs

from .config import ConfigReader, StackSettings, read_args

KEYS = ("sshPublicKey", "sshAllowedCidrs", "autoShutdown", "autoShutdownTimeZone")
FIELDS = {"spot": "spot", "sshPublicKey": "ssh_public_key", "sshAllowedCidrs": "ssh_allowed_cidrs",
          "autoShutdown": "auto_shutdown", "autoShutdownTimeZone": "auto_shutdown_time_zone"}
NETWORK_CACHE = False  # GpuVirtualMachineArgs._network_cache: the model cache is a Premium SSD on the VM


def read(reader: ConfigReader, settings: StackSettings) -> GpuVirtualMachineArgs:
    # minReplicas/maxReplicas are common keys; a VM is exactly one server
    checks.replica_bounds("vm", reader.raw("minReplicas"), reader.raw("maxReplicas"))
    from components.vm import GpuVirtualMachineArgs

    return read_args(reader, settings, GpuVirtualMachineArgs, FIELDS)


def build(name: str, args: GpuVirtualMachineArgs) -> GpuVirtualMachine:
    from components.vm import GpuVirtualMachine

    return GpuVirtualMachine(name, args)
