"""Host 'vm': one Azure GPU VM serving vLLM over HTTPS (components/vm.py)."""

from __future__ import annotations

from components.serving import ServingPlan
from components.vm import GpuVirtualMachine, GpuVirtualMachineArgs, check_ssh_sources

from .config import ConfigReader, StackSettings, parse_cidrs, serving_args

KEYS = ("sshPublicKey", "sshAllowedCidrs", "autoShutdown", "autoShutdownTimeZone")
NETWORK_CACHE = False  # the model cache is a Premium SSD attached to the VM


def read(reader: ConfigReader, settings: StackSettings, plan: ServingPlan) -> GpuVirtualMachineArgs:
    ssh_cidrs = reader.string_list("sshAllowedCidrs")
    check_ssh_sources("sshAllowedCidrs", ssh_cidrs)  # first: '*' deserves more than "not a CIDR"
    return GpuVirtualMachineArgs(
        **serving_args(settings, plan),
        spot=settings.spot,
        ssh_public_key=reader.string("sshPublicKey"),
        ssh_allowed_cidrs=parse_cidrs("sshAllowedCidrs", ssh_cidrs),
        auto_shutdown=reader.string("autoShutdown"),
        auto_shutdown_time_zone=reader.string("autoShutdownTimeZone"),
    )


def build(name: str, args: GpuVirtualMachineArgs) -> GpuVirtualMachine:
    return GpuVirtualMachine(name, args)
