"""Host 'vm': one Azure GPU VM serving vLLM over HTTPS (components/vm.py)."""

from __future__ import annotations

from components.serving import checks
from components.vm import GpuVirtualMachine, GpuVirtualMachineArgs

from .config import ConfigReader, StackSettings, read_args

KEYS = ("sshPublicKey", "sshAllowedCidrs", "autoShutdown", "autoShutdownTimeZone")
FIELDS = {"spot": "spot", "sshPublicKey": "ssh_public_key", "sshAllowedCidrs": "ssh_allowed_cidrs",
          "autoShutdown": "auto_shutdown", "autoShutdownTimeZone": "auto_shutdown_time_zone"}
NETWORK_CACHE = GpuVirtualMachineArgs._network_cache  # the model cache is a Premium SSD on the VM


def read(reader: ConfigReader, settings: StackSettings) -> GpuVirtualMachineArgs:
    # minReplicas/maxReplicas are common keys; a VM is exactly one server
    checks.replica_bounds("vm", reader.raw("minReplicas"), reader.raw("maxReplicas"))
    return read_args(reader, settings, GpuVirtualMachineArgs, FIELDS)


def build(name: str, args: GpuVirtualMachineArgs) -> GpuVirtualMachine:
    return GpuVirtualMachine(name, args)
