"""GpuVirtualMachine: one Azure GPU VM that serves the plan's model over HTTPS by itself.

vLLM runs in Docker under systemd (``Restart=always``), behind Caddy, which gets a publicly trusted
certificate for the public IP's DNS name (or, with ``internal``, signs one for the private IP with
its own CA). The model cache is a Premium SSD data disk that outlives reboots, deallocation and VM
replacement. Secrets reach the VM only through Key Vault and the VM's user-assigned identity.
What the VM runs at boot is rendered by ``components/cloudinit.py``.
"""

import base64
import binascii
import difflib
import hashlib
import ipaddress
import re
import struct
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_random as random
from pulumi_azure_native import compute, devtestlab, network

from . import cloudinit, monitoring
from .base import (UNROUTED_SOURCES, ServingArgs, ServingComponent, api_key, check_component_name, dns_safe, gated,
                   resource_group)
from .base import unrouted as unrouted_sources
from .secrets import ModelSecrets, ModelSecretsArgs, VaultPrivateAccess
from .serving import ConfigError, checks
from .serving.errors import speaking_of
from .serving.rules import NON_PUBLIC_RANGES
# Premium SSD tiers and the disk sizing live with the cold-start estimate, which reads their speed
from .serving.coldstart import PREMIUM_SSD_TIERS, data_disk_tier  # noqa: F401 (PREMIUM_SSD_TIERS re-exported)

VNET_CIDR = "10.42.0.0/16"
SUBNET_CIDR = "10.42.1.0/24"
ENDPOINT_SUBNET_CIDR = "10.42.2.0/28"  # internal: the Key Vault's private endpoint
PRIVATE_IP = "10.42.1.4"  # first usable address: Azure reserves .0-.3 of every subnet (VNet FAQ)
ADMIN_USERNAME = "azureuser"
# OSProfile.adminUsername (Microsoft.Compute REST API, learn.microsoft.com/rest/api/compute/
# virtual-machines/create-or-update#osprofile): Linux names are 1-64 characters and these are refused
DISALLOWED_ADMIN_USERNAMES = frozenset((
    "administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1", "123",
    "a", "actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner",
    "root", "server", "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5"))
ADMIN_USERNAME_MAX = 64
# a portable Linux user name: Debian/Ubuntu's adduser default NAME_REGEX ^[a-z][-a-z0-9_]*$
# (adduser.conf(5), without the trailing $ of machine accounts)
LINUX_USERNAME = re.compile(r"[a-z][a-z0-9_-]*")


def check_admin_username(name: str) -> str:
    """``name`` if Azure and Linux accept it as the VM's admin user; a one-line ConfigError if not."""
    fix = f"use a name like {ADMIN_USERNAME} (lowercase letters, digits, _ and -, starting with a letter)"
    if name.lower() in DISALLOWED_ADMIN_USERNAMES:
        raise ConfigError("adminUsername", name, "is one of the names Azure refuses for a VM's admin "
                          "user (root, admin, user, test, ...)", fix)
    if len(name) > ADMIN_USERNAME_MAX:
        raise ConfigError("adminUsername", name, f"is longer than the {ADMIN_USERNAME_MAX} characters "
                          "Azure allows for a Linux admin user", fix)
    if LINUX_USERNAME.fullmatch(name) is None:
        raise ConfigError("adminUsername", name, "is not a Linux user name", fix)
    return name
DATA_DISK_LUN = 0
# Ubuntu image 30 GiB + driver/toolkit ~3 GB + the vLLM image (~10 GB compressed, roughly twice that
# unpacked; estimate) + Caddy, with room for one image update; 128 GiB is billed as a P10
OS_DISK_GIB = 128
UBUNTU_2404 = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
               "version": "latest"}  # Gen2 image: compute.ImageReferenceArgs


# Accelerated networking per the "Feature support" tables of the sizes' Microsoft Learn pages
# (NCasT4_v3 and NDasrA100_v4 read 2026-11; the others from the same series pages). A size missing
# here gets a plain NIC rather than a deployment error.
ACCELERATED_NETWORKING = frozenset({
    "Standard_NC4as_T4_v3", "Standard_NC8as_T4_v3", "Standard_NC16as_T4_v3", "Standard_NC64as_T4_v3",
    "Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4",
    "Standard_NC96ads_A100_v4", "Standard_NC40ads_H100_v5", "Standard_NC80adis_H100_v5",
    "Standard_ND96asr_v4", "Standard_ND96amsr_A100_v4", "Standard_ND96isr_H100_v5",
    "Standard_ND96isr_H200_v5"})

ANY_SOURCE = frozenset({"*", "0.0.0.0/0", "::/0", "internet", "any"})
# Azure VMs take RSA (>= 2048 bits) and Ed25519 keys (compute API SshEncryptionTypes: RSA, Ed25519;
# SshPublicKey.keyData: "at least 2048-bit")
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa")
MIN_RSA_BITS = 2048
SHUTDOWN_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
DEFAULT_TIME_ZONE = "UTC"
# DevTest Labs schedules take Windows time zone ids (Microsoft Learn, DevTestLabSchedule TimeZoneId:
# "the possible values ... TimeZoneConverter.TZConvert.KnownWindowsTimeZoneIds", which is built from
# CLDR). These are the ids of CLDR common/supplemental/windowsZones.xml (unicode-org/cldr commit
# 062dc06d, otherVersion 7e11800), one per Windows zone; an id Windows adds later is missing here.
WINDOWS_TIME_ZONES = frozenset({
    "Dateline Standard Time", "UTC-11", "Aleutian Standard Time", "Hawaiian Standard Time",
    "Marquesas Standard Time", "Alaskan Standard Time", "UTC-09", "Pacific Standard Time (Mexico)",
    "UTC-08", "Pacific Standard Time", "US Mountain Standard Time", "Mountain Standard Time (Mexico)",
    "Mountain Standard Time", "Yukon Standard Time", "Central America Standard Time",
    "Central Standard Time", "Easter Island Standard Time", "Central Standard Time (Mexico)",
    "Canada Central Standard Time", "SA Pacific Standard Time", "Eastern Standard Time (Mexico)",
    "Eastern Standard Time", "Haiti Standard Time", "Cuba Standard Time", "US Eastern Standard Time",
    "Turks And Caicos Standard Time", "Paraguay Standard Time", "Atlantic Standard Time",
    "Venezuela Standard Time", "Central Brazilian Standard Time", "SA Western Standard Time",
    "Pacific SA Standard Time", "Newfoundland Standard Time", "Tocantins Standard Time",
    "E. South America Standard Time", "SA Eastern Standard Time", "Argentina Standard Time",
    "Greenland Standard Time", "Montevideo Standard Time", "Magallanes Standard Time",
    "Saint Pierre Standard Time", "Bahia Standard Time", "UTC-02", "Azores Standard Time",
    "Cape Verde Standard Time", "UTC", "GMT Standard Time", "Greenwich Standard Time",
    "Sao Tome Standard Time", "Morocco Standard Time", "W. Europe Standard Time",
    "Central Europe Standard Time", "Romance Standard Time", "Central European Standard Time",
    "W. Central Africa Standard Time", "Jordan Standard Time", "GTB Standard Time",
    "Middle East Standard Time", "Egypt Standard Time", "E. Europe Standard Time",
    "Syria Standard Time", "West Bank Standard Time", "South Africa Standard Time",
    "FLE Standard Time", "Israel Standard Time", "South Sudan Standard Time",
    "Kaliningrad Standard Time", "Sudan Standard Time", "Libya Standard Time",
    "Namibia Standard Time", "Arabic Standard Time", "Turkey Standard Time", "Arab Standard Time",
    "Belarus Standard Time", "Russian Standard Time", "E. Africa Standard Time", "Iran Standard Time",
    "Arabian Standard Time", "Astrakhan Standard Time", "Azerbaijan Standard Time",
    "Russia Time Zone 3", "Mauritius Standard Time", "Saratov Standard Time",
    "Georgian Standard Time", "Volgograd Standard Time", "Caucasus Standard Time",
    "Afghanistan Standard Time", "West Asia Standard Time", "Ekaterinburg Standard Time",
    "Pakistan Standard Time", "Qyzylorda Standard Time", "India Standard Time",
    "Sri Lanka Standard Time", "Nepal Standard Time", "Central Asia Standard Time",
    "Bangladesh Standard Time", "Omsk Standard Time", "Myanmar Standard Time",
    "SE Asia Standard Time", "Altai Standard Time", "W. Mongolia Standard Time",
    "North Asia Standard Time", "N. Central Asia Standard Time", "Tomsk Standard Time",
    "China Standard Time", "North Asia East Standard Time", "Singapore Standard Time",
    "W. Australia Standard Time", "Taipei Standard Time", "Ulaanbaatar Standard Time",
    "Aus Central W. Standard Time", "Transbaikal Standard Time", "Tokyo Standard Time",
    "North Korea Standard Time", "Korea Standard Time", "Yakutsk Standard Time",
    "Cen. Australia Standard Time", "AUS Central Standard Time", "E. Australia Standard Time",
    "AUS Eastern Standard Time", "West Pacific Standard Time", "Tasmania Standard Time",
    "Vladivostok Standard Time", "Lord Howe Standard Time", "Bougainville Standard Time",
    "Russia Time Zone 10", "Magadan Standard Time", "Norfolk Standard Time",
    "Sakhalin Standard Time", "Central Pacific Standard Time", "Russia Time Zone 11",
    "New Zealand Standard Time", "UTC+12", "Fiji Standard Time", "Chatham Islands Standard Time",
    "UTC+13", "Tonga Standard Time", "Samoa Standard Time", "Line Islands Standard Time"})


def check_time_zone(zone: str) -> str:
    """A Windows time zone id, spelt exactly as DevTest Labs expects it."""
    if zone in WINDOWS_TIME_ZONES:
        return zone
    close = difflib.get_close_matches(zone, WINDOWS_TIME_ZONES, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise ConfigError("autoShutdownTimeZone", zone, "is not a Windows time zone id",
                      f"{hint}use one such as 'UTC', 'W. Europe Standard Time' or "
                      "'Pacific Standard Time' (tzutil /l lists them)")


def _short(key: str) -> str:
    return key if len(key) <= 40 else f"{key[:32]}...{key[-6:]}"


# SSH is opened to a named network, never a large part of the internet: no entry broader than a
# /8, and all entries together at most a /8's worth of addresses (2**24), so the rule cannot be
# split into pieces (0.0.0.0/1 + 128.0.0.0/1) that add up to every address.
SSH_BROADEST_PREFIX = 8
SSH_MAX_ADDRESSES = 2 ** (32 - SSH_BROADEST_PREFIX)


def check_ssh_sources(key: str, values: list[str] | tuple[str, ...]) -> None:
    """SSH is opened to named networks only, never to every source, whole or in pieces."""
    fix = "give your own address or network, e.g. 203.0.113.7/32"
    networks = []
    for value in values:
        if value.strip().lower() in ANY_SOURCE:
            raise ConfigError(key, value, "would open SSH to every address on the internet", fix)
        try:
            network_ = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(key, value, "is not an IP address or CIDR",
                              "give networks like 203.0.113.0/24 or addresses like 198.51.100.7"
                              ) from None
        if network_.prefixlen == 0:
            raise ConfigError(key, value, "would open SSH to every address on the internet", fix)
        if network_.prefixlen < SSH_BROADEST_PREFIX:
            raise ConfigError(key, value, f"is broader than a /{SSH_BROADEST_PREFIX} "
                              f"({network_.num_addresses:,} addresses) for SSH", fix)
        networks.append(network_)
    union = list(ipaddress.collapse_addresses(n for n in networks if n.version == 4))
    total = sum(n.num_addresses for n in union)
    if total > SSH_MAX_ADDRESSES:
        raise ConfigError(key, ", ".join(str(n) for n in union), f"together open SSH to {total:,} "
                          f"addresses, more than a /{SSH_BROADEST_PREFIX} ({SSH_MAX_ADDRESSES:,})", fix)


# the named ranges (components/base.py) are the shared rule's (components/serving/rules.py, also the pack's)
assert set(UNROUTED_SOURCES) == {str(n) for n in NON_PUBLIC_RANGES if n.version == 4}


def ssh_source_warnings(sources: Sequence[str], internal: bool) -> list[str]:
    """A public VM takes SSH at its public IP, where every source is a public address, and its VNet is
    the component's own, peered with nothing: an entry in a private range lets no one in. Accepted
    (a network peered or routed to the VNet later does come from such a range), but said."""
    if internal:
        return []
    unrouted = unrouted_sources(sources)
    if not unrouted:
        return []
    return [f"sshAllowedCidrs {', '.join(unrouted)}: no SSH client can come from there: the VM is public "
            f"(internal: false), SSH reaches it at its public IP from public addresses, and its VNet "
            f"({VNET_CIDR}) is peered with nothing; give the public address your SSH client connects from "
            "(curl -s https://api.ipify.org), or keep it if you peer or route that network to the VNet"]


def _ssh_fields(blob: bytes) -> list[bytes]:
    """The length-prefixed fields of an OpenSSH public-key blob (RFC 4253 section 6.6)."""
    fields, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("truncated")
        (length,) = struct.unpack(">I", blob[offset:offset + 4])
        offset += 4
        if offset + length > len(blob):
            raise ValueError("truncated")
        fields.append(blob[offset:offset + length])
        offset += length
    return fields


def check_ssh_public_key(key: str) -> str:
    """The key as one line, if it is an OpenSSH RSA (>= 2048 bits) or Ed25519 public key."""
    text = key.strip()
    fix = "give the one line from your .pub file, e.g. ~/.ssh/id_ed25519.pub (ssh-keygen -t ed25519)"
    if "PRIVATE KEY" in text:
        raise ConfigError("sshPublicKey", "<a private key>", "is a private key, which must never leave "
                          "your machine", fix)
    parts = text.split()
    if "\n" in text or len(parts) < 2:
        raise ConfigError("sshPublicKey", _short(text), "is not an OpenSSH public key", fix)
    kind = parts[0]
    if kind not in SSH_KEY_TYPES:
        raise ConfigError("sshPublicKey", _short(text), f"has key type '{kind}'; Azure VMs accept "
                          "ssh-ed25519 and ssh-rsa keys only", fix)
    try:
        fields = _ssh_fields(base64.b64decode(parts[1], validate=True))
    except (binascii.Error, ValueError):
        raise ConfigError("sshPublicKey", _short(text), "has a key body that is not valid base64 "
                          "OpenSSH key data", fix) from None
    if not fields or fields[0] != kind.encode():
        raise ConfigError("sshPublicKey", _short(text), f"says '{kind}' but its key data is not an "
                          f"{kind} key", fix)
    if kind == "ssh-ed25519" and (len(fields) != 2 or len(fields[1]) != 32):
        raise ConfigError("sshPublicKey", _short(text), "is not a valid Ed25519 public key", fix)
    if kind == "ssh-rsa":
        bits = int.from_bytes(fields[2], "big").bit_length() if len(fields) == 3 else 0
        if bits < MIN_RSA_BITS:
            raise ConfigError("sshPublicKey", _short(text), f"is a {bits}-bit RSA key; Azure requires "
                              f"at least {MIN_RSA_BITS} bits", fix)
    return text


def shutdown_time(value: str) -> str:
    """'19:30' -> '1930', the format of the DevTest Labs schedule."""
    match = SHUTDOWN_TIME.match(value)
    if not match:
        raise ConfigError("autoShutdown", value, "is not a time of day as HH:MM (24-hour)",
                          "give e.g. \"19:30\"")
    return match.group(1) + match.group(2)


def sealed_ssh_key() -> str:
    """An Ed25519 public key that no private key is known for, for VMs without SSH.

    Azure refuses a Linux VM that has neither a password nor an SSH key. Instead of a key
    someone generated (and might keep), this is a "nothing up my sleeve" curve point: the first
    valid point whose y coordinate is a SHA-256 of a fixed text. Finding its private key is the
    Ed25519 discrete-log problem. Port 22 is denied anyway and sshd is disabled on these VMs.
    """
    p = 2**255 - 19
    d = -121665 * pow(121666, -1, p) % p  # curve constants, RFC 8032 section 5.1
    counter = 0
    while True:
        seed = f"apertus-azure: SSH disabled, no private key exists ({counter})".encode()
        y = int.from_bytes(hashlib.sha256(seed).digest(), "little") % p
        x_squared = (y * y - 1) * pow(d * y * y + 1, -1, p) % p
        if pow(x_squared, (p - 1) // 2, p) == 1:  # a square: (x, y) is on the curve
            break
        counter += 1
    point = y.to_bytes(32, "little")  # encoding with the sign bit of x clear (RFC 8032 5.1.2)
    blob = b"".join(struct.pack(">I", len(part)) + part for part in (b"ssh-ed25519", point))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} apertus-no-ssh"


@dataclass(frozen=True)
class GpuVirtualMachineArgs(ServingArgs):
    """Host settings for one GPU VM; the common ones come from ``ServingArgs``.

    ``spot``: Spot priority, evicted by deallocation. ``ssh_public_key`` and ``ssh_allowed_cidrs``:
    SSH only when both are given. ``auto_shutdown``: a daily "HH:MM" deallocation in
    ``auto_shutdown_time_zone`` (a Windows time zone id, default UTC).
    """

    # each field's meaning, default and config key: components/serving/settings.py, shown by
    # help() of the host args, in the component package schema and in docs/configuration.md
    spot: Optional[bool] = False
    ssh_public_key: Optional[str] = None
    ssh_allowed_cidrs: Optional[Sequence[str]] = ()
    auto_shutdown: Optional[str] = None
    auto_shutdown_time_zone: Optional[str] = None
    admin_username: Optional[str] = ADMIN_USERNAME

    _host = "vm"
    _network_cache = False  # the model cache is a Premium SSD attached to the VM

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "spot", False if self.spot is None else checks.boolean("spot", self.spot))
        ssh_sources = checks.string_list("sshAllowedCidrs", self.ssh_allowed_cidrs)
        check_ssh_sources("sshAllowedCidrs", ssh_sources)  # first: '*' deserves more than "not a CIDR"
        object.__setattr__(self, "ssh_allowed_cidrs", checks.parse_cidrs("sshAllowedCidrs", ssh_sources))
        for name, key in (("ssh_public_key", "sshPublicKey"), ("auto_shutdown", "autoShutdown"),
                          ("auto_shutdown_time_zone", "autoShutdownTimeZone")):
            object.__setattr__(self, name, checks.optional_text(key, getattr(self, name)))
        object.__setattr__(self, "admin_username", ADMIN_USERNAME if self.admin_username is None
                           else check_admin_username(checks.text("adminUsername", self.admin_username)))
        if "vm" not in self.plan.gpu.hosts:
            raise ConfigError("gpu", self.plan.gpu.name, "is not a VM size",
                              "use e.g. Standard_NC24ads_A100_v4, or leave gpu unset for the cheapest that fits")
        check_ssh_sources("sshAllowedCidrs", self.ssh_allowed_cidrs)
        for warning in ssh_source_warnings(self.ssh_allowed_cidrs, self.internal):
            self._warn(warning)
        if self.ssh_public_key is not None:
            check_ssh_public_key(self.ssh_public_key)
            if not self.ssh_allowed_cidrs:
                raise ConfigError("sshAllowedCidrs", [], "is empty but sshPublicKey is set: SSH is "
                                  "never opened to every source", "set sshAllowedCidrs to your "
                                  "address, e.g. [203.0.113.7/32], or remove sshPublicKey")
        elif self.ssh_allowed_cidrs:
            raise ConfigError("sshAllowedCidrs", list(self.ssh_allowed_cidrs), "has no effect "
                              "without sshPublicKey", "set sshPublicKey too, or remove sshAllowedCidrs")
        if self.auto_shutdown is not None:
            shutdown_time(self.auto_shutdown)
        elif self.auto_shutdown_time_zone is not None:
            raise ConfigError("autoShutdownTimeZone", self.auto_shutdown_time_zone, "has no effect "
                              "without autoShutdown", "set autoShutdown (\"HH:MM\") too, or remove it")
        if self.auto_shutdown_time_zone is not None:
            check_time_zone(self.auto_shutdown_time_zone)
        check_custom_data_fits(self)

    @property
    def ssh_enabled(self) -> bool:
        return self.ssh_public_key is not None


# The longest values Azure can compute for what the VM's cloud-init embeds: a vault name is at most
# 24 characters, a client id a 36-character GUID (Key Vault and managed identity naming rules), a
# DNS label at most 63 (RFC 1035), a private IPv4 address at most 15 characters.
_LONGEST_VAULT_URI = "https://" + "v" * 24 + ".vault.azure.net/"
_LONGEST_CLIENT_ID = "0" * 8 + "-" + "-".join(["0" * 4] * 3) + "-" + "0" * 12
_LONGEST_PRIVATE_IP = "255.255.255.255"


def check_custom_data_fits(args: GpuVirtualMachineArgs) -> None:
    """Render the cloud-init with the longest values Azure could fill in and compare with the
    custom-data limit, so a too-large document fails before any resource is registered."""
    site = _LONGEST_PRIVATE_IP if args.internal else f"{'a' * 63}.{args.location}.cloudapp.azure.com"
    config = cloudinit.BootConfig(
        launch=args.plan.launch, vault_uri=_LONGEST_VAULT_URI, identity_client_id=_LONGEST_CLIENT_ID,
        site_address=site, public_certificate=not args.internal, data_disk_lun=DATA_DISK_LUN,
        ssh_enabled=args.ssh_enabled)
    size = len(base64.b64encode(cloudinit.user_data(config).encode()))
    if size >= cloudinit.MAX_CUSTOM_DATA_BYTES:
        raise ConfigError("host", "vm", f"the VM's cloud-init would be {size:,} bytes base64, and "
                          f"Azure takes less than {cloudinit.MAX_CUSTOM_DATA_BYTES:,} as custom data",
                          "shorten vllmImage or model.id, or use host 'aks'",
                          args_fix="shorten vllmImage or model.id, or use AksGpuCluster")


def inbound_rules(args: GpuVirtualMachineArgs) -> "list[network.SecurityRuleArgs]":
    """HTTPS from allowedCidrs, ACME on 80 (public only), SSH when enabled, then deny all."""
    https_from = list(args.allowed_cidrs) or ["VirtualNetwork" if args.internal else "*"]
    rules = [_allow("allow-https", 100, "443", https_from, "the API (Caddy, TLS)")]
    if not args.internal:
        # Let's Encrypt validates from addresses it does not publish: HTTP-01 needs port 80 from any
        rules.append(_allow("allow-acme-http", 110, "80", ["*"],
                            "ACME HTTP-01 challenges and the redirect to HTTPS, nothing else"))
    if args.ssh_enabled:
        rules.append(_allow("allow-ssh", 120, "22", list(args.ssh_allowed_cidrs), "SSH, named sources only"))
    rules.append(network.SecurityRuleArgs(
        name="deny-all-inbound", priority=4096,  # 4096: the lowest priority a rule can have
        direction=network.SecurityRuleDirection.INBOUND, access=network.SecurityRuleAccess.DENY,
        protocol=network.SecurityRuleProtocol.ASTERISK, source_address_prefix="*",
        source_port_range="*", destination_address_prefix="*", destination_port_range="*",
        description="everything not allowed above"))
    return rules


def _allow(name: str, priority: int, port: str, sources: list[str],
           description: str) -> "network.SecurityRuleArgs":
    source = ({"source_address_prefix": sources[0]} if len(sources) == 1
              else {"source_address_prefixes": sources})
    return network.SecurityRuleArgs(
        name=name, priority=priority, direction=network.SecurityRuleDirection.INBOUND,
        access=network.SecurityRuleAccess.ALLOW, protocol=network.SecurityRuleProtocol.TCP,
        source_port_range="*", destination_address_prefix="*", destination_port_range=port,
        description=description, **source)


@dataclass(frozen=True)
class VmNetwork:
    """What the network step hands on: the VM's subnet and, internal, the vault's private access."""

    subnet: "network.Subnet"
    private_access: Optional[VaultPrivateAccess]


@dataclass(frozen=True)
class VmAddress:
    """What the address step hands on: the public IP (none when internal) and the name clients use."""

    public_ip: "Optional[network.PublicIPAddress]"
    host: pulumi.Output[str]
    """The public IP's DNS name, or the fixed private IP when internal: the certificate names it."""


def boot_custom_data(args: GpuVirtualMachineArgs, secrets: ModelSecrets,
                     host: pulumi.Output[str]) -> pulumi.Output[str]:
    """The cloud-init the VM boots with, once the vault, the identity and the host name are known."""
    plan = args.plan
    return pulumi.Output.all(secrets.vault_uri, secrets.identity.client_id, host).apply(
        lambda values: cloudinit.custom_data(cloudinit.BootConfig(
            launch=plan.launch, vault_uri=values[0], identity_client_id=values[1],
            site_address=values[2], public_certificate=not args.internal,
            data_disk_lun=DATA_DISK_LUN, ssh_enabled=args.ssh_enabled, vm_size=plan.gpu.name)))


def storage_profile(cache_disk: "compute.Disk") -> "compute.StorageProfileArgs":
    """Ubuntu 24.04 on a Premium OS disk, and the model-cache disk attached read-cached."""
    return compute.StorageProfileArgs(
        image_reference=compute.ImageReferenceArgs(**UBUNTU_2404),
        os_disk=compute.OSDiskArgs(
            create_option=compute.DiskCreateOptionTypes.FROM_IMAGE, disk_size_gb=OS_DISK_GIB,
            caching=compute.CachingTypes.READ_WRITE,
            managed_disk=compute.ManagedDiskParametersArgs(
                storage_account_type=compute.StorageAccountTypes.PREMIUM_LRS),
            delete_option=compute.DiskDeleteOptionTypes.DELETE),
        data_disks=[compute.DataDiskArgs(
            lun=DATA_DISK_LUN, create_option=compute.DiskCreateOptionTypes.ATTACH,
            managed_disk=compute.ManagedDiskParametersArgs(id=cache_disk.id),
            # model files are written once and read at every start
            caching=compute.CachingTypes.READ_ONLY,
            delete_option=compute.DiskDeleteOptionTypes.DETACH)])


def os_profile(name: str, args: GpuVirtualMachineArgs,
               custom_data: pulumi.Output[str]) -> "compute.OSProfileArgs":
    """Key-only sign-in (the given key, or the sealed one) and the cloud-init custom data."""
    ssh_key = args.ssh_public_key.strip() if args.ssh_public_key else sealed_ssh_key()
    return compute.OSProfileArgs(
        computer_name=dns_safe(name, 63), admin_username=args.admin_username,
        custom_data=custom_data,
        linux_configuration=compute.LinuxConfigurationArgs(
            disable_password_authentication=True, provision_vm_agent=True,
            ssh=compute.SshConfigurationArgs(public_keys=[compute.SshPublicKeyArgs(
                path=f"/home/{args.admin_username}/.ssh/authorized_keys", key_data=ssh_key)])))


def priority_and_security(args: GpuVirtualMachineArgs) -> dict:
    """Spot priority when asked for; Trusted Launch where the size supports it."""
    spot = ({"priority": compute.VirtualMachinePriorityTypes.SPOT,
             "eviction_policy": compute.VirtualMachineEvictionPolicyTypes.DEALLOCATE,
             "billing_profile": compute.BillingProfileArgs(max_price=-1)}  # -1: never evicted for price
            if args.spot else {})
    trusted_launch = ({"security_profile": compute.SecurityProfileArgs(
        security_type=compute.SecurityTypes.TRUSTED_LAUNCH,
        uefi_settings=compute.UefiSettingsArgs(secure_boot_enabled=True, v_tpm_enabled=True))}
        if args.plan.gpu.trusted_launch else {})
    return {**spot, **trusted_launch}


class GpuVirtualMachine(ServingComponent):
    """A GPU VM serving the plan's model with vLLM over HTTPS, restarting by itself after any boot."""

    resource_group_name: Optional[pulumi.Output[str]] = None
    """The resource group the component's resources are in."""
    vm_name: Optional[pulumi.Output[str]] = None
    """The virtual machine's name."""
    start_command: Optional[pulumi.Output[str]] = None
    """The az command that starts the VM after autoShutdown or a Spot eviction deallocated it."""
    boot_log_command: Optional[pulumi.Output[str]] = None
    """The az command that prints the VM's boot log (cloud-init, vLLM start)."""
    ssh_command: Optional[pulumi.Output[str]] = None
    """The ssh command for the admin user (only with sshPublicKey and sshAllowedCidrs)."""
    ca_certificate_command: Optional[pulumi.Output[str]] = None
    """The az command that prints the root certificate clients must trust (only when internal)."""
    log_analytics_workspace_resource_id: Optional[pulumi.Output[str]] = None
    """The resource id of the Log Analytics workspace the VM's Syslog goes to."""
    dashboard_url: Optional[pulumi.Output[str]] = None
    """Portal URL of the deployment's Azure Monitor workbook (none with alerts: false)."""
    action_group_id: Optional[pulumi.Output[str]] = None
    """The action group every alert goes to (none with alerts: false)."""

    # the VirtualMachine resource as ``self.vm`` (not a schema output: no annotation)

    def __init__(self, name: str, args: GpuVirtualMachineArgs,
                 opts: Optional[pulumi.ResourceOptions] = None):
        args = GpuVirtualMachineArgs.of(args)  # the component provider passes a dict
        with speaking_of(type(self).__name__):  # "GpuVirtualMachine: name = ...", the first argument
            check_component_name(name, "GPU VM")
        super().__init__("apertus:index:GpuVirtualMachine", name, None, gated(opts, args))
        child = pulumi.ResourceOptions(parent=self)
        group = resource_group(name, args, self)
        where = {"resource_group_name": group, "location": args.location, "tags": args.all_tags}
        self.api_key = api_key(name, args, self)
        net = self._network(name, args, where, child)
        # identity and secrets: the workload's identity, the Key Vault with the API key and HF token
        secrets = ModelSecrets(f"{name}-secrets", ModelSecretsArgs(
            resource_group_name=group, location=args.location, api_key=self.api_key,
            hf_token=args.hf_token, tags=args.all_tags, private_access=net.private_access), opts=child)
        address = self._address(name, args, where, child)
        nic = self._nic(name, args, net.subnet, address, where, child)
        cache_disk = self._model_cache(name, args, where, child)
        custom_data = boot_custom_data(args, secrets, address.host)
        self.vm = self._virtual_machine(name, args, nic, cache_disk, custom_data, secrets, where)
        if args.auto_shutdown is not None:
            self._auto_shutdown(name, args, where, child)
        # the VM's journal (vLLM, Caddy, the metrics timer, the kernel) to Log Analytics, then the alerts
        workspace = monitoring.log_analytics_workspace(name, group, args.location, args.all_tags, child,
                                                       existing_id=args.log_analytics_workspace_id)
        monitoring.vm_data_collection(name, args, group, workspace, self.vm, secrets.identity.id, self)
        watched = monitoring.watch_vm(name, args, group, workspace, self.vm, address.host, self)
        self._register(args.plan, pulumi.Output.concat("https://", address.host, "/v1"),
                       {**self._stack_outputs(args, group, address.host), **watched})

    def _network(self, name: str, args: GpuVirtualMachineArgs, where: dict,
                 child: pulumi.ResourceOptions) -> VmNetwork:
        """The NSG, the VNet and the VM's subnet; internal: a NAT gateway and the endpoints' subnet."""
        group = where["resource_group_name"]
        nsg = network.NetworkSecurityGroup(f"{name}-nsg", security_rules=inbound_rules(args),
                                           **where, opts=child)
        nat_gateway = self._nat_gateway(name, where, child) if args.internal else None
        vnet = network.VirtualNetwork(
            f"{name}-vnet", address_space=network.AddressSpaceArgs(address_prefixes=[VNET_CIDR]),
            **where, opts=child)
        subnet = network.Subnet(
            f"{name}-subnet", resource_group_name=group, virtual_network_name=vnet.name,
            address_prefix=SUBNET_CIDR,
            network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
            nat_gateway=network.SubResourceArgs(id=nat_gateway.id) if nat_gateway else None,
            # outbound goes through the VM's public IP, or the NAT gateway when internal
            default_outbound_access=False,
            opts=child)
        private_access = None
        if args.internal:
            endpoints = network.Subnet(
                f"{name}-endpoints", resource_group_name=group, virtual_network_name=vnet.name,
                address_prefix=ENDPOINT_SUBNET_CIDR, default_outbound_access=False,
                # one subnet operation at a time on a VNet: Azure rejects concurrent ones
                opts=pulumi.ResourceOptions(parent=self, depends_on=[subnet]))
            private_access = VaultPrivateAccess(subnet_id=endpoints.id, vnet_id=vnet.id)
        return VmNetwork(subnet=subnet, private_access=private_access)

    @staticmethod
    def _address(name: str, args: GpuVirtualMachineArgs, where: dict,
                 child: pulumi.ResourceOptions) -> VmAddress:
        """Public: a static IP with an Azure DNS name; internal: the fixed private IP only."""
        if args.internal:
            return VmAddress(public_ip=None, host=pulumi.Output.from_input(PRIVATE_IP))
        # DNS labels are unique per region across all of Azure: a random suffix avoids clashes
        suffix = random.RandomString(f"{name}-dns-suffix", length=6, special=False, upper=False, opts=child)
        public_ip = network.PublicIPAddress(
            f"{name}-ip",
            sku=network.PublicIPAddressSkuArgs(name=network.PublicIPAddressSkuName.STANDARD,
                                               tier=network.PublicIPAddressSkuTier.REGIONAL),
            public_ip_allocation_method=network.IPAllocationMethod.STATIC,
            public_ip_address_version=network.IPVersion.I_PV4,
            dns_settings=network.PublicIPAddressDnsSettingsArgs(
                domain_name_label=pulumi.Output.concat(dns_safe(name, 50), "-", suffix.result)),
            **where, opts=child)
        return VmAddress(public_ip=public_ip, host=public_ip.dns_settings.apply(lambda dns: dns.fqdn))

    @staticmethod
    def _nic(name: str, args: GpuVirtualMachineArgs, subnet: "network.Subnet", address: VmAddress,
             where: dict, child: pulumi.ResourceOptions) -> "network.NetworkInterface":
        """The VM's NIC on the fixed private IP, with the public IP when there is one."""
        return network.NetworkInterface(
            f"{name}-nic",
            ip_configurations=[network.NetworkInterfaceIPConfigurationArgs(
                name="primary", primary=True, subnet=network.SubnetArgs(id=subnet.id),
                private_ip_allocation_method=network.IPAllocationMethod.STATIC,
                private_ip_address=PRIVATE_IP,
                public_ip_address=(network.PublicIPAddressArgs(id=address.public_ip.id)
                                   if address.public_ip else None))],
            enable_accelerated_networking=args.plan.gpu.name in ACCELERATED_NETWORKING,
            **where, opts=child)

    @staticmethod
    def _model_cache(name: str, args: GpuVirtualMachineArgs, where: dict,
                     child: pulumi.ResourceOptions) -> "compute.Disk":
        """A Premium SSD data disk for the weights, sized by the cold-start estimate."""
        tier = data_disk_tier(args.plan.cold_start.cache.size_gib)
        return compute.Disk(
            f"{name}-model-cache", disk_size_gb=tier.size_gib,
            sku=compute.DiskSkuArgs(name=compute.DiskStorageAccountTypes.PREMIUM_LRS),
            creation_data=compute.CreationDataArgs(create_option=compute.DiskCreateOption.EMPTY),
            **where, opts=child)

    def _virtual_machine(self, name: str, args: GpuVirtualMachineArgs, nic: "network.NetworkInterface",
                         cache_disk: "compute.Disk", custom_data: pulumi.Output[str], secrets: ModelSecrets,
                         where: dict) -> "compute.VirtualMachine":
        """The GPU VM itself: the workload, started by cloud-init, reading secrets as its identity."""
        return compute.VirtualMachine(
            f"{name}-vm",
            hardware_profile=compute.HardwareProfileArgs(vm_size=args.plan.gpu.name),
            storage_profile=storage_profile(cache_disk),
            os_profile=os_profile(name, args, custom_data),
            network_profile=compute.NetworkProfileArgs(network_interfaces=[
                compute.NetworkInterfaceReferenceArgs(id=nic.id, primary=True)]),
            diagnostics_profile=compute.DiagnosticsProfileArgs(
                boot_diagnostics=compute.BootDiagnosticsArgs(enabled=True)),  # managed storage
            identity=compute.VirtualMachineIdentityArgs(
                type=compute.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[secrets.identity.id]),
            **priority_and_security(args), **where,
            opts=pulumi.ResourceOptions(
                # the first boot reads the vault: the role, and for a private vault its endpoint and DNS
                parent=self, depends_on=secrets.readers_wait_for,
                # Azure cannot change custom data or SSH keys in place; the separate data disk
                # must detach from the old VM before the new one attaches it
                replace_on_changes=["osProfile"], delete_before_replace=True))

    def _auto_shutdown(self, name: str, args: GpuVirtualMachineArgs, where: dict,
                       child: pulumi.ResourceOptions) -> "devtestlab.GlobalSchedule":
        """A daily deallocation at ``auto_shutdown`` in its time zone."""
        return devtestlab.GlobalSchedule(
            f"{name}-auto-shutdown",
            # the name Azure's own auto-shutdown feature uses, so the portal shows it on the VM
            name=pulumi.Output.concat("shutdown-computevm-", self.vm.name),
            status=devtestlab.EnableStatus.ENABLED, task_type="ComputeVmShutdownTask",
            daily_recurrence=devtestlab.DayDetailsArgs(time=shutdown_time(args.auto_shutdown)),
            time_zone_id=args.auto_shutdown_time_zone or DEFAULT_TIME_ZONE,
            target_resource_id=self.vm.id,
            notification_settings=devtestlab.NotificationSettingsArgs(
                status=devtestlab.EnableStatus.DISABLED),
            **where, opts=child)

    def _stack_outputs(self, args: GpuVirtualMachineArgs, group: pulumi.Output[str],
                       host: pulumi.Output[str]) -> dict[str, pulumi.Output[str] | str]:
        """The VM's name and the commands to start it, read its boot log, SSH in, fetch the CA."""
        az = {"--resource-group": group, "--name": self.vm.name}
        stack_outputs = {
            "vmName": self.vm.name,
            "resourceGroupName": group,
            "startCommand": _az("az vm start", az),
            "bootLogCommand": _az("az vm boot-diagnostics get-boot-log", az),
        }
        if args.ssh_enabled:
            stack_outputs["sshCommand"] = pulumi.Output.concat(
                "ssh ", args.admin_username, "@", host)
        if args.internal:
            # clients must trust Caddy's own root CA; run-command works without SSH
            stack_outputs["caCertificateCommand"] = _az(
                "az vm run-command invoke --command-id RunShellScript --query 'value[0].message' "
                "--output tsv --scripts 'cat "
                f"{cloudinit.caddy_data_dir(args.plan.launch)}/caddy/pki/authorities/local/root.crt'",
                az)
        return stack_outputs

    @staticmethod
    def _nat_gateway(name: str, where: dict, child: pulumi.ResourceOptions) -> "network.NatGateway":
        """Outbound only (apt, container images, Hugging Face) for a VM without a public IP."""
        address = network.PublicIPAddress(
            f"{name}-nat-ip",
            sku=network.PublicIPAddressSkuArgs(name=network.PublicIPAddressSkuName.STANDARD),
            public_ip_allocation_method=network.IPAllocationMethod.STATIC, **where, opts=child)
        return network.NatGateway(
            f"{name}-nat", sku=network.NatGatewaySkuArgs(name=network.NatGatewaySkuName.STANDARD),
            public_ip_addresses=[network.SubResourceArgs(id=address.id)], **where, opts=child)


def _az(command: str, options: dict[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    parts: list[pulumi.Input[str]] = [command]
    for flag, value in options.items():
        parts += [f" {flag} ", value]
    return pulumi.Output.concat(*parts)
