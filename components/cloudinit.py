"""cloud-init user data for the GPU VM: driver, container runtime, model-cache disk, secrets, vLLM, TLS.

Pure rendering: plain values in, YAML text out. No Pulumi resource and no secret value passes
through here; the VM reads its secrets from Key Vault at boot (``apertus-secrets``).

Boot sequence. First boot (cloud-init ``runcmd``): enable every unit and start
``apertus-setup.service``, which installs the Canonical-signed NVIDIA driver, Docker and the NVIDIA
container toolkit and pulls the images. It is retried until it succeeds (``Restart=on-failure``, also
after a reboot that interrupts it); only then does it write ``SETUP_DONE`` and reboot once so the
driver loads. The serving units are ordered after setup and skipped while ``SETUP_DONE`` is missing.
Every boot after that, setup is skipped and systemd runs ``apertus-cache-disk`` (mount the data disk
by LUN) and ``apertus-secrets`` (Key Vault -> /run), then ``apertus-vllm`` (the container from the
serving plan, ``Restart=always``) and ``apertus-caddy`` (TLS on 443, forwarding ``/v1/*`` and
``/health`` to vLLM on loopback).
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass

import yaml

from .gateway import CADDY_IMAGE, GatewaySite, GatewayTls, render_caddyfile
from .serving import LaunchSpec

# vllm/vllm-openai tags from v0.20.0 on are CUDA 13 builds (CUDA 12 ones carry -cu129), and CUDA 13
# needs driver >= 580 (NVIDIA CUDA release notes); Ubuntu's signed server branch of that series:
NVIDIA_DRIVER_BRANCH = "580-server"

# Sizes whose eight GPUs meet through NVSwitch: CUDA initialises there only once NVIDIA Fabric
# Manager has configured the switches ("NVIDIA Fabric Manager User Guide": NVSwitch-based HGX A100 /
# H100 baseboards; Azure's ND A100 v4 / ND H100 v5 docs require it with a plain driver install).
NVSWITCH_SIZES = frozenset({
    "Standard_ND96asr_v4", "Standard_ND96amsr_A100_v4",  # HGX A100
    "Standard_ND96isr_H100_v5", "Standard_ND96isr_H200_v5",  # HGX H100 / H200 (Hopper)
})
HOPPER_NVSWITCH_SIZES = frozenset({"Standard_ND96isr_H100_v5", "Standard_ND96isr_H200_v5"})
# Ubuntu 24.04 (multiverse) builds them per driver series with no "-server" variant:
# nvidia-fabricmanager-580 and libnvidia-nscq-580 each depend on
# nvidia-kernel-common-580-server-<exact version> (packages.ubuntu.com, fabric-manager-580 and
# libnvidia-nscq-580), so apt installs the version of the loaded server driver, as Fabric Manager requires
FABRIC_MANAGER_SERIES = NVIDIA_DRIVER_BRANCH.removesuffix("-server")
FABRIC_MANAGER_PACKAGES = (f"nvidia-fabricmanager-{FABRIC_MANAGER_SERIES}",
                           f"libnvidia-nscq-{FABRIC_MANAGER_SERIES}")
FABRIC_MANAGER_SERVICE = "nvidia-fabricmanager.service"  # the unit the package ships
# NVLink Subnet Manager, for switch generations Fabric Manager drives through it; no Ubuntu archive
# package was found for it, so it is installed only where the configured sources offer it
NVLINK_SUBNET_MANAGER_PACKAGE = "nvlsm"

SCRIPT_DIR = "/usr/local/sbin"
UNIT_DIR = "/etc/systemd/system"
CONFIG_DIR = "/etc/apertus"
SECRETS_DIR = "/run/apertus"  # tmpfs: the secrets never touch a disk
SECRETS_ENV_FILE = f"{SECRETS_DIR}/secrets.env"
PLAIN_ENV_FILE = f"{CONFIG_DIR}/vllm.env"
SETUP_DONE = "/var/lib/apertus/setup-done"  # on the OS disk: written once setup has succeeded
CADDYFILE = f"{CONFIG_DIR}/Caddyfile"
VLLM_CONTAINER = "apertus-vllm"
CADDY_CONTAINER = "apertus-caddy"

SETUP = "apertus-setup"
DISK = "apertus-cache-disk"
SECRETS = "apertus-secrets"
VLLM = "apertus-vllm"
CADDY = "apertus-caddy"
SERVICES = (DISK, SECRETS, VLLM, CADDY)
# every minute, vLLM's serving metrics and the GPUs' state go to syslog under this tag, which the Azure
# Monitor Agent ships to Log Analytics (components/monitoring.py: Azure collects no Prometheus
# endpoint of a plain VM without a self-run Prometheus, docs/operations.md)
METRICS = "apertus-metrics"
METRICS_INTERVAL = "1min"
METRIC_LINES = ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc",
                "vllm:generation_tokens_total", "vllm:time_to_first_token_seconds_(bucket|sum|count)",
                "vllm:inter_token_latency_seconds_(sum|count)", "http_requests_total")

IMDS_TOKEN_API = "2018-02-01"  # IMDS managed-identity token endpoint (Azure "managed identities" docs)
KEY_VAULT_API = "7.4"  # Key Vault REST "Get Secret" API version
SETUP_RETRY_SECONDS = 60  # a mirror or nvidia.github.io blip: try the whole (idempotent) setup again
SECRETS_ATTEMPTS, SECRETS_RETRY_SECONDS = 60, 20  # RBAC role assignments can take minutes to apply
DISK_WAIT_ATTEMPTS, DISK_WAIT_SECONDS = 60, 5
MAX_CUSTOM_DATA_BYTES = 64 * 1024  # Azure: custom data must be under 64 KB, base64-encoded


@dataclass(frozen=True)
class BootConfig:
    """Everything the VM needs to know at boot; secrets are fetched, never included."""

    launch: LaunchSpec
    vault_uri: str
    identity_client_id: str
    site_address: str
    """The public FQDN, or the private IP address when the VM has no public IP."""
    public_certificate: bool
    """True: a publicly trusted certificate through ACME HTTP-01; False: Caddy's internal CA."""
    data_disk_lun: int
    ssh_enabled: bool
    vm_size: str = ""
    """The VM size: NVSwitch sizes (``NVSWITCH_SIZES``) get NVIDIA Fabric Manager."""

    @property
    def nvswitch(self) -> bool:
        return self.vm_size in NVSWITCH_SIZES


def _script(description: str, body: str) -> str:
    return f"#!/bin/bash\n# {description}\nset -euo pipefail\n\n{body.strip()}\n"


def _array(name: str, items: tuple[str, ...] | list[str]) -> str:
    """A bash array, one option per line with its value beside it."""
    lines: list[list[str]] = []
    for item in items:
        pairs_with_flag = (lines and len(lines[-1]) == 1 and lines[-1][0].startswith("--")
                           and "=" not in lines[-1][0] and not item.startswith("-"))
        if pairs_with_flag:
            lines[-1].append(item)
        else:
            lines.append([item])
    body = "\n".join("  " + " ".join(shlex.quote(part) for part in line) for line in lines)
    return f"{name}=(\n{body}\n)"


def _unit(description: str, unit: dict[str, str], service: dict[str, str]) -> str:
    def section(title: str, values: dict[str, str]) -> str:
        return f"[{title}]\n" + "".join(f"{key}={value}\n" for key, value in values.items())

    return (section("Unit", {"Description": description, **unit}) + "\n"
            + section("Service", service) + "\n" + section("Install", {"WantedBy": "multi-user.target"}))


def fabric_manager_setup(config: BootConfig) -> str:
    """NVSwitch sizes: Fabric Manager (and NSCQ) of the driver's series, enabled now so systemd
    starts it after the reboot, once the driver is loaded; before that it has nothing to manage."""
    if not config.nvswitch:
        return ""
    nvlsm = NVLINK_SUBNET_MANAGER_PACKAGE
    hopper = (f"""
# Hopper's NVSwitch generation can also need the NVLink Subnet Manager where the sources offer it
if apt-cache show {nvlsm} >/dev/null 2>&1; then
  apt_get install --no-install-recommends {nvlsm}
else
  echo "apertus: no {nvlsm} package in the configured sources; Fabric Manager runs without it" >&2
fi
""" if config.vm_size in HOPPER_NVSWITCH_SIZES else "")
    return f"""
# {config.vm_size} connects its GPUs through NVSwitch: CUDA starts only once Fabric Manager has set
# the switches up. Its version must match the driver's: Ubuntu's packages of the same series
apt_get install --no-install-recommends {' '.join(FABRIC_MANAGER_PACKAGES)}
{hopper}systemctl enable {FABRIC_MANAGER_SERVICE}
"""


def setup_script(config: BootConfig) -> str:
    ssh = ("" if config.ssh_enabled else
           "\n# SSH is not enabled for this VM: no daemon listens (the NSG denies port 22 as well)\n"
           "systemctl disable --now ssh.socket ssh.service || echo \"apertus: could not stop sshd\" >&2\n")
    done = shlex.quote(SETUP_DONE)
    return _script(f"Run by {SETUP}.service until it succeeds once: NVIDIA driver, Docker, NVIDIA "
                   "container toolkit, images; then the done-marker and one reboot. Every step is "
                   "safe to repeat", f"""
export DEBIAN_FRONTEND=noninteractive

apt_get() {{
  apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold -y "$@"
}}

apt_get update
apt_get install --no-install-recommends ca-certificates curl gpg docker.io ubuntu-drivers-common

# Canonical-built and Canonical-signed kernel modules: they load with secure boot on. The branch
# is pinned: the vLLM image is a CUDA 13 build, which needs driver 580 or newer
ubuntu-drivers install --gpgpu nvidia:{NVIDIA_DRIVER_BRANCH}
apt_get install --no-install-recommends nvidia-utils-{NVIDIA_DRIVER_BRANCH}  # nvidia-smi, for diagnosis
{fabric_manager_setup(config)}
# NVIDIA container toolkit from NVIDIA's apt repository, registered as a Docker runtime
keyring=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
curl -fsSL --retry 5 https://nvidia.github.io/libnvidia-container/gpgkey \\
  | gpg --dearmor --yes -o "$keyring"
list=/etc/apt/sources.list.d/nvidia-container-toolkit.list
# through a temporary file: a failed download must not leave a broken list for the next attempt
curl -fsSL --retry 5 https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list \\
  | sed "s#deb https://#deb [signed-by=${{keyring}}] https://#g" > "$list.tmp"
mv "$list.tmp" "$list"
apt_get update
apt_get install --no-install-recommends nvidia-container-toolkit
nvidia-ctk runtime configure --runtime=docker
systemctl restart docker.service

# Pull now, so the first start after the reboot only downloads and loads the model
for image in {shlex.quote(config.launch.image)} {shlex.quote(CADDY_IMAGE)}; do
  docker pull "$image" || echo "apertus: pulling $image failed; the service pulls it after the reboot" >&2
done

systemctl enable docker.service
{ssh}
# last: the marker says every step above succeeded; then one reboot, so the NVIDIA driver loads
# and the serving units (enabled by cloud-init, skipped until the marker exists) start
install -d -m 0755 "$(dirname {done})"
touch {done}
sync
echo "apertus: setup done; rebooting so the NVIDIA driver loads"
# the marker is written: if this reboot request failed, no retry would reboot later
systemctl --no-block reboot || systemctl --force reboot
""")


def disk_script(config: BootConfig) -> str:
    lun, mount = config.data_disk_lun, config.launch.cache_mount
    links = (f"/dev/disk/azure/data/by-lun/{lun}",  # azure-vm-utils udev rules (SCSI and NVMe)
             f"/dev/disk/azure/scsi1/lun{lun}")  # WALinuxAgent udev rules
    cache_dirs = sorted({value for key, value in config.launch.env.items()
                         if key in ("HF_HOME", "VLLM_CACHE_ROOT") and value.startswith(mount)})
    return _script(f"Every boot: find the model-cache data disk at LUN {lun}, format it the first "
                   f"time only, mount it at {mount}", f"""
readonly MOUNT={shlex.quote(mount)}
{_array("links", list(links))}

device=""
for _ in $(seq 1 {DISK_WAIT_ATTEMPTS}); do
  for link in "${{links[@]}}"; do
    if [[ -e "$link" ]]; then
      device=$(readlink -f "$link")
      break 2
    fi
  done
  sleep {DISK_WAIT_SECONDS}
done
if [[ -z "$device" ]]; then
  echo "apertus: no data disk at LUN {lun} (looked for ${{links[*]}})" >&2
  exit 1
fi

if ! mountpoint -q "$MOUNT"; then
  # blkid exits 2 when the device holds no filesystem or partition table: only then format it
  status=0
  blkid -p "$device" >/dev/null || status=$?
  if [[ $status -eq 2 ]]; then
    mkfs.ext4 -q -L apertus-cache -m 0 "$device"
  elif [[ $status -ne 0 ]]; then
    echo "apertus: blkid failed on $device (exit $status); not formatting it" >&2
    exit 1
  fi
  uuid=$(blkid -s UUID -o value "$device")
  sed -i "\\#[[:space:]]${{MOUNT}}[[:space:]]#d" /etc/fstab
  echo "UUID=${{uuid}} ${{MOUNT}} ext4 defaults,nofail,noatime 0 2" >> /etc/fstab
  mkdir -p "$MOUNT"
  mount "$MOUNT"
fi
# a larger model grows the disk (pulumi up); ext4 grows online to match, and is a no-op otherwise
resize2fs "$device"
mkdir -p {" ".join(shlex.quote(d) for d in cache_dirs) or '"$MOUNT"'}
echo "apertus: $device mounted at $MOUNT"
""")


def secrets_script(config: BootConfig) -> str:
    vault = config.vault_uri.rstrip("/")
    pairs = [f"{env}={secret}" for env, secret in sorted(config.launch.secret_env.items())]
    token_url = (f"http://169.254.169.254/metadata/identity/oauth2/token?api-version={IMDS_TOKEN_API}"
                 f"&resource=https%3A%2F%2Fvault.azure.net&client_id={config.identity_client_id}")
    return _script("Every boot: read the serving secrets from Key Vault with the VM's user-assigned "
                   f"identity into {SECRETS_ENV_FILE} (root only, tmpfs)", f"""
readonly VAULT_URI={shlex.quote(vault)}
readonly TOKEN_URL={shlex.quote(token_url)}
readonly ENV_FILE={shlex.quote(SECRETS_ENV_FILE)}
# environment variable=Key Vault secret name
{_array("secrets", pairs)}

json_field() {{
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}}

fetch_all() {{
  local token entry name value
  token=$(curl -fsS --max-time 10 -H Metadata:true "$TOKEN_URL" | json_field access_token) || return 1
  : > "$tmp"
  for entry in "${{secrets[@]}}"; do
    name=${{entry#*=}}
    # the bearer token goes in on stdin, so it never shows in the process list
    value=$(printf 'Authorization: Bearer %s\\n' "$token" \\
      | curl -fsS --max-time 10 -H @- "${{VAULT_URI}}/secrets/${{name}}?api-version={KEY_VAULT_API}" \\
      | json_field value) || return 1
    if [[ -z "$value" || "$value" == *$'\\n'* ]]; then
      echo "apertus: Key Vault secret ${{name}} is empty or spans several lines" >&2
      return 1
    fi
    printf '%s=%s\\n' "${{entry%%=*}}" "$value" >> "$tmp"
  done
}}

umask 077
install -d -m 0700 {shlex.quote(SECRETS_DIR)}
tmp=$(mktemp {shlex.quote(SECRETS_DIR)}/secrets.XXXXXX)
trap 'rm -f "$tmp"' EXIT
for attempt in $(seq 1 {SECRETS_ATTEMPTS}); do
  if fetch_all; then
    mv "$tmp" "$ENV_FILE"
    echo "apertus: secrets read from ${{VAULT_URI}}"
    exit 0
  fi
  # right after the first deployment the identity's role assignment may not be effective yet
  echo "apertus: Key Vault not readable yet (attempt ${{attempt}}/{SECRETS_ATTEMPTS}); retrying" >&2
  sleep {SECRETS_RETRY_SECONDS}
done
exit 1
""")


def vllm_docker_args(config: BootConfig) -> list[str]:
    """``docker run`` options for the vLLM container (before the image name)."""
    launch = config.launch
    args = ["--rm", "--name", VLLM_CONTAINER, "--gpus", "all"]
    # TP > 1: NCCL and vLLM's workers exchange tensors through /dev/shm (vLLM docker docs use --ipc=host)
    args += ["--ipc=host"] if launch.shm_needed else ["--shm-size=2g"]
    args += ["--publish", f"127.0.0.1:{launch.port}:{launch.port}",  # reachable through Caddy only
             "--volume", f"{launch.cache_mount}:{launch.cache_mount}",
             "--env-file", PLAIN_ENV_FILE, "--env-file", SECRETS_ENV_FILE,
             "--log-opt", "max-size=100m", "--log-opt", "max-file=3",
             "--entrypoint", launch.command[0]]
    return args


def vllm_script(config: BootConfig) -> str:
    launch = config.launch
    return _script("Started by apertus-vllm.service: the vLLM container exactly as the serving plan "
                   "describes it", f"""
if [[ ! -s {shlex.quote(SECRETS_ENV_FILE)} ]]; then
  echo "apertus: secrets not read from Key Vault yet (see journalctl -u {SECRETS})" >&2
  exit 1
fi
if ! mountpoint -q {shlex.quote(launch.cache_mount)}; then
  echo "apertus: model cache {launch.cache_mount} is not mounted (see journalctl -u {DISK})" >&2
  exit 1
fi
docker rm -f {VLLM_CONTAINER} >/dev/null 2>&1 || true

{_array("docker_args", vllm_docker_args(config))}
{_array("vllm_args", list(launch.command[1:] + launch.args))}
exec docker run "${{docker_args[@]}}" {shlex.quote(launch.image)} "${{vllm_args[@]}}"
""")


def caddy_data_dir(launch: LaunchSpec) -> str:
    """Caddy's certificates and CA: on the data disk, which outlives a replaced VM, so a new VM
    does not ask Let's Encrypt again (5 certificates per name per week, letsencrypt.org rate limits)."""
    return f"{launch.cache_mount}/caddy"


def caddy_script(config: BootConfig) -> str:
    data = shlex.quote(caddy_data_dir(config.launch))
    return _script("Started by apertus-caddy.service: Caddy terminates TLS on 443 and forwards to "
                   "vLLM on loopback", f"""
if ! mountpoint -q {shlex.quote(config.launch.cache_mount)}; then
  echo "apertus: {config.launch.cache_mount} is not mounted (see journalctl -u {DISK})" >&2
  exit 1
fi
install -d -m 0700 {data}
docker rm -f {CADDY_CONTAINER} >/dev/null 2>&1 || true
exec docker run --rm --name {CADDY_CONTAINER} --network host \\
  --volume {CADDYFILE}:/etc/caddy/Caddyfile:ro \\
  --volume {data}:/data \\
  --log-opt max-size=20m --log-opt max-file=3 \\
  {shlex.quote(CADDY_IMAGE)}
""")


def caddyfile(config: BootConfig) -> str:
    """The shared gateway rules: only the API and the health check go through; everything else 404.

    Public: a Let's Encrypt certificate through HTTP-01 only (the NSG may narrow 443, port 80 stays
    open for the challenge). Internal: no public name to certify, Caddy's own CA signs for the private IP.
    """
    tls = GatewayTls.ACME_HTTP01 if config.public_certificate else GatewayTls.INTERNAL
    # h1 and h2 only: the NSG opens TCP 443, so HTTP/3 (UDP) would only be advertised, never reached
    return render_caddyfile(GatewaySite(address=config.site_address,
                                        upstream=f"127.0.0.1:{config.launch.port}", tls=tls,
                                        protocols=("h1", "h2")))


def units(config: BootConfig) -> dict[str, str]:
    network = {"Wants": "network-online.target", "After": "network-online.target"}
    container = {"Restart": "always", "RestartSec": "15", "TimeoutStopSec": "90"}
    # the serving units wait for a running setup and are skipped until it has succeeded once
    gated = {"ConditionPathExists": SETUP_DONE}
    setup = f"{SETUP}.service"
    # on NVSwitch sizes CUDA needs Fabric Manager running before vLLM starts
    fabric = f" {FABRIC_MANAGER_SERVICE}" if config.nvswitch else ""
    return {
        SETUP: _unit("Apertus: first-boot setup (NVIDIA driver, Docker, container toolkit), "
                     "retried until it succeeds",
                     {**network, "ConditionPathExists": f"!{SETUP_DONE}", "StartLimitIntervalSec": "0"},
                     {"Type": "oneshot", "ExecStart": f"{SCRIPT_DIR}/{SETUP}",
                      "Restart": "on-failure", "RestartSec": str(SETUP_RETRY_SECONDS),
                      "TimeoutStartSec": "infinity"}),
        DISK: _unit("Apertus: mount the model-cache data disk", {"After": setup, **gated},
                    {"Type": "oneshot", "RemainAfterExit": "yes",
                     "ExecStart": f"{SCRIPT_DIR}/{DISK}"}),
        SECRETS: _unit("Apertus: read the API key and HF token from Key Vault",
                       {"Wants": "network-online.target",
                        "After": f"network-online.target {setup}", **gated},
                       {"Type": "oneshot", "RemainAfterExit": "yes",
                        "ExecStart": f"{SCRIPT_DIR}/{SECRETS}", "Restart": "on-failure",
                        "RestartSec": "60"}),
        VLLM: _unit("Apertus: vLLM OpenAI-compatible server (container)",
                    {"Wants": f"network-online.target {SECRETS}.service {DISK}.service{fabric}",
                     "Requires": "docker.service",
                     "After": f"network-online.target docker.service {setup} {SECRETS}.service "
                              f"{DISK}.service{fabric}",
                     "StartLimitIntervalSec": "0", **gated},
                    {"ExecStart": f"{SCRIPT_DIR}/{VLLM}", "SyslogIdentifier": VLLM,
                     "ExecStop": f"/usr/bin/docker stop --time 60 {VLLM_CONTAINER}", **container}),
        CADDY: _unit("Apertus: Caddy TLS reverse proxy in front of vLLM",
                     {"Wants": f"network-online.target {DISK}.service", "Requires": "docker.service",
                      "After": f"network-online.target docker.service {setup} {DISK}.service",
                      "StartLimitIntervalSec": "0", **gated},
                     {"ExecStart": f"{SCRIPT_DIR}/{CADDY}", "SyslogIdentifier": CADDY,
                      "ExecStop": f"/usr/bin/docker stop --time 10 {CADDY_CONTAINER}", **container}),
        METRICS: _unit("Apertus: vLLM and GPU metrics to syslog (run by apertus-metrics.timer)",
                       {"After": f"{VLLM}.service", **gated},
                       {"Type": "oneshot", "ExecStart": f"{SCRIPT_DIR}/{METRICS}"}),
    }


def metrics_timer() -> str:
    return ("[Unit]\nDescription=Apertus: vLLM and GPU metrics to syslog every minute\n\n"
            f"[Timer]\nOnBootSec=2min\nOnUnitActiveSec={METRICS_INTERVAL}\nAccuracySec=5s\n\n"
            "[Install]\nWantedBy=timers.target\n")


def metrics_script(config: BootConfig) -> str:
    pattern = "|".join(METRIC_LINES)
    return _script("Run by apertus-metrics.timer: vLLM's serving metrics and the GPUs' state to syslog "
                   "(Azure Monitor Agent -> Log Analytics Syslog)", f"""
set +e  # one source failing must not hide the other
curl -fsS --max-time 5 http://127.0.0.1:{config.launch.port}/metrics \\
  | grep -E '^({pattern})' | logger -t {METRICS} -p user.info
nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits \\
  | awk -F', *' '{{printf "gpu index=%s utilization_percent=%s memory_used_mib=%s memory_total_mib=%s\\n", $1, $2, $3, $4}}' \\
  | logger -t {METRICS} -p user.info
exit 0""")


def _env_file(env: dict[str, str]) -> str:
    for key, value in env.items():
        if "\n" in value or "=" in key:
            raise ValueError(f"environment variable {key!r} cannot go into a Docker env file")
    return "".join(f"{key}={value}\n" for key, value in sorted(env.items()))


def user_data(config: BootConfig) -> str:
    """The ``#cloud-config`` document."""
    executable = {SETUP: setup_script(config), DISK: disk_script(config),
                  SECRETS: secrets_script(config), VLLM: vllm_script(config), CADDY: caddy_script(config),
                  METRICS: metrics_script(config)}
    files = [{"path": f"{SCRIPT_DIR}/{name}", "permissions": "0755", "content": text}
             for name, text in executable.items()]
    files += [{"path": f"{UNIT_DIR}/{name}.service", "permissions": "0644", "content": text}
              for name, text in units(config).items()]
    files.append({"path": f"{UNIT_DIR}/{METRICS}.timer", "permissions": "0644", "content": metrics_timer()})
    files += [{"path": PLAIN_ENV_FILE, "permissions": "0644", "content": _env_file(config.launch.env)},
              {"path": CADDYFILE, "permissions": "0644", "content": caddyfile(config)}]
    document = {
        "ssh_pwauth": False,
        "write_files": files,
        # runcmd runs once per instance, so it only hands over to systemd: the units are enabled
        # here, and setup (retried, rebooting once when it has succeeded) starts in the background
        "runcmd": [["systemctl", "daemon-reload"],
                   ["systemctl", "enable", *(f"{name}.service" for name in (SETUP, *SERVICES))],
                   ["systemctl", "enable", f"{METRICS}.timer"],
                   ["systemctl", "start", "--no-block", f"{SETUP}.service"]],
    }
    return "#cloud-config\n" + yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=200)


def custom_data(config: BootConfig) -> str:
    """Base64 user data for ``osProfile.customData``; raises if Azure would refuse its size."""
    encoded = base64.b64encode(user_data(config).encode()).decode()
    if len(encoded) >= MAX_CUSTOM_DATA_BYTES:
        raise ValueError(f"cloud-init user data is {len(encoded)} bytes base64; Azure allows "
                         f"less than {MAX_CUSTOM_DATA_BYTES}")
    return encoded


def embedded_scripts(document: str) -> dict[str, str]:
    """Every shell script in a rendered document, by path (``runcmd`` included), for shellcheck."""
    parsed = yaml.safe_load(document)
    scripts = {entry["path"]: entry["content"] for entry in parsed.get("write_files", [])
               if entry["content"].startswith("#!/bin/bash")}
    commands = [" ".join(shlex.quote(part) for part in cmd) if isinstance(cmd, list) else cmd
                for cmd in parsed.get("runcmd", [])]
    scripts["runcmd"] = "#!/bin/bash\nset -euo pipefail\n" + "\n".join(commands) + "\n"
    return scripts


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, so the decoded custom data reads like the files it writes."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _represent_str)
