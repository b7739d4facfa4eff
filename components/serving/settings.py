"""Every setting, once: config key, declared type, default, meaning and hosts.

Plain data (no Pulumi import). From this one table come:
- the ``config:`` block of ``Pulumi.yaml`` (``python -m stacks.docs --write`` writes it),
- ``docs/configuration.md`` (the same command),
- the field list in ``help()`` of ``ContainerAppGpuArgs``, ``GpuVirtualMachineArgs`` and
  ``AksGpuClusterArgs`` (``args_doc``),
- the input descriptions of the component package schema (``provider/__main__.py``).
``tests/test_docs.py`` checks that the stack readers (``stacks/program.py`` COMMON_KEYS,
``stacks/<host>.py`` KEYS and FIELDS) and the args' fields agree with it.

``type`` is the Pulumi.yaml declaration: only ``string``, ``integer``, ``boolean`` or ``array`` (the
Pulumi CLI's project schema refuses anything else), or None for a map, a number with a fraction or a
value that may be a string or a map.
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass
from typing import Any

HOSTS = ("containerapp", "vm", "aks")
HOST_TITLES = {"containerapp": "Container Apps", "vm": "VM", "aks": "AKS"}
DECLARABLE_TYPES = ("string", "integer", "boolean", "array")


@dataclass(frozen=True)
class Setting:
    key: str
    """Config key, ``apertus-azure:<key>`` in a stack file; the schema's camelCase input name too."""
    type: str | None
    """Pulumi.yaml declaration (string | integer | boolean | array), or None (map, fraction, either)."""
    default: str
    """The default as a person reads it ("none", "planner's choice", ...)."""
    meaning: str
    """What it does and which values work; one paragraph."""
    hosts: tuple[str, ...] = HOSTS
    """The hosts whose args take it (a common key another host refuses is listed for the others)."""
    common: bool = False
    """Read by every host's stack reader (stacks/program.py COMMON_KEYS)."""
    field: str | None = None
    """The args field (snake_case); None when it is not an args field (``host``)."""
    secret: bool = False
    project_default: Any = None
    """The ``default:`` Pulumi.yaml declares (common keys only: a host key's default would land
    in every stack's config)."""


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _s(key: str, type_: str | None, default: str, meaning: str, *, hosts: tuple[str, ...] = HOSTS,
       common: bool = False, field: str | None = "", secret: bool = False,
       project_default: Any = None) -> Setting:
    return Setting(key, type_, default, " ".join(meaning.split()), hosts, common,
                   _snake(key) if field == "" else field, secret, project_default)


# Sources of the figures: components/serving/*.py and each host's component, where every limit is
# cited; this table restates them for people.
SETTINGS: tuple[Setting, ...] = (
    # ---- common to every host ----
    _s("host", "string", "required", """Hosting mode: `containerapp` (Container Apps serverless GPU,
       8B only), `vm` (one GPU VM) or `aks` (AKS with GPU node pools).""", common=True, field=None),
    _s("model", None, "`apertus-8b-instruct`", """Catalog name (`apertus-8b-instruct`,
       `apertus-70b-instruct`; `apertus-8b` and `apertus-70b` are the base models, not
       instruction-tuned: the plan says so), the Hugging Face id of a catalog model, or an object
       `{id, paramsBillion, layers, attentionHeads, kvHeads, headDim, maxContext}` (optional `image`,
       `dtype`, `gated`, `toolCallParser`, and from the model's `config.json` `hiddenSize`,
       `intermediateSize`, `vocabSize`, `tieWordEmbeddings`, `gatedMlp`: true for a gated (SwiGLU) MLP,
       the default) for another model.""", common=True),
    _s("gpu", "string", "the cheapest that fits (planner's choice)", """VM size for `vm` and `aks`
       (`Standard_NC24ads_A100_v4`, ...); workload profile type for `containerapp`
       (`Consumption-GPU-NC24-A100`, `Consumption-GPU-NC8as-T4`, `NC24-A100`, ...).""", common=True),
    _s("maxModelLen", "integer", "the model's maximum (65536) if one sequence fits, else the largest "
       "multiple of 1024 that does", """Context window in tokens; a value that does not fit the GPU is
       an error.""", common=True),
    _s("gpuMemoryUtilization", "string", "0.9", """vLLM's share of each GPU's memory, a number from 0.5
       to 0.99 (`0.9` in a stack file; declared as a string because Pulumi.yaml cannot declare a
       fraction, and the program reads it as a number).""", common=True,
       project_default="0.9"),
    _s("quantization", "string", "`none`", """`none` or `fp8`: vLLM's on-the-fly FP8 weights
       (`--quantization fp8`), about half the weight memory; native on H100/H200 (compute capability
       8.9+), weight-only (FP8 Marlin) on A100 and T4. The plan lists FP8 alternatives; it never
       switches on its own.""", common=True, project_default="none"),
    _s("kvCacheDtype", "string", "`auto`", """`auto` or `fp8`: FP8 KV cache (`--kv-cache-dtype fp8`),
       twice the tokens per GB. Needs H100/H200 (compute capability 8.9+); refused on A100 and T4.""",
       common=True, project_default="auto"),
    _s("spot", "boolean", "false", """Spot capacity: on `vm` Spot priority (evicted by deallocation,
       started again by hand); on `aks` a spot GPU pool with an on-demand pool to fall back on. An
       error for `containerapp` (no spot serverless GPUs).""", hosts=("vm", "aks"), common=True,
       project_default=False),
    _s("minReplicas", "integer", "`containerapp` 0, `aks` 1", """Fewest serving replicas.
       `containerapp`: 0 scales to zero when idle. `aks`: at least 1 (KEDA scales on what running
       replicas report). `vm` always runs exactly one (any other value is an error).""",
       hosts=("containerapp", "aks"), common=True),
    _s("maxReplicas", "integer", "1 (or `minReplicas` when higher)", """Most serving replicas
       (`containerapp`: at most 247, one subnet address each; `aks`: autoscaling when above
       `minReplicas`). `vm` always runs exactly one.""", hosts=("containerapp", "aks"), common=True),
    _s("allowedCidrs", "array", "`[]`: any source (AKS internal: the private ranges)", """IPv4
       networks or single addresses (`203.0.113.0/24`, `198.51.100.7`) that may reach the endpoint;
       the API key still applies. A private range on a public host is warned of: its clients come
       from public addresses.""", common=True),
    _s("internal", "boolean", "false", """Endpoint reachable only inside the virtual network (no
       public ingress; Key Vault behind a private endpoint).""", common=True, project_default=False),
    _s("hfToken", "string", "none (required for gated models, as Apertus is)", """Hugging Face token
       with access to the gated Apertus repos; a secret only (`pulumi config set --secret hfToken
       ...`).""", common=True, secret=True),
    _s("apiKey", "string", "generated: 48 random letters and digits", """Key clients send as
       `Authorization: Bearer <key>`; a secret only. At least 32 characters of `A-Z a-z 0-9 . _ ~ + /
       = -` (RFC 6750's bearer token alphabet), letters and digits, at least 10 of them
       different.""", common=True, secret=True),
    _s("vllmImage", "string", "`vllm/vllm-openai:v0.33.0` (a custom model's `image` when it names "
       "one)", """Serving image, pinned to one release: a digest, or a tag that starts with
       the image's full version (major.minor.patch, like `v0.33.0`) or holds a date or a build; not
       `latest`, `nightly`, `main`, `stable`, `dev`, nor a major or major.minor tag, which moves (a
       two-number release like `pause:3.10` takes its digest after the tag).""", common=True),
    _s("tags", None, "`{}`", """Map of tags merged into every taggable resource (with the components'
       own `managed-by`, `model` and `apertus-exposure`): at most 47, never holding a secret; with a
       private DNS zone (`internal`, or `apiPrivate` on aks) at most 12, names of letters, digits,
       `_`, `.` and `-`, starting with a letter and ending with a letter, digit or `_`, as Azure DNS accepts.""", common=True),
    _s("expectedRequestsPerMinute", "integer", "none", """Requests per minute you expect; the plan
       then prices output tokens at this load as well as at saturation ([cost per
       token](cost-per-token.md)); read by the plan only, not an args field.""", common=True, field=None),
    # ---- monitoring, every host ([operations](operations.md)) ----
    _s("alerts", "boolean", "true", """Alert rules, availability test and dashboard (Azure Monitor);
       `false` creates none of them, and the plan says so.""", common=True, project_default=True),
    _s("alertEmails", "array", "`[]` (the plan warns when alerts reach no one)", """Addresses the
       alerts are mailed to (a new action group); one holding something shaped like a Hugging Face
       token is refused.""", common=True),
    _s("alertWebhook", "string", "none", """https URL of a Teams, Slack or other incoming webhook the
       alerts are posted to; a secret (`pulumi config set --secret alertWebhook ...`).""", common=True,
       secret=True),
    _s("actionGroupId", "string", "none", """Resource id of an existing action group that receives
       every alert, instead of `alertEmails` / `alertWebhook`.""", common=True),
    _s("logAnalyticsWorkspaceId", "string", "the deployment creates one", """Resource id of an
       existing Log Analytics workspace to use.""", common=True),
    _s("ttftSloSeconds", None, "2 (MLPerf server-scenario bound)", """p95 time to first token, in
       seconds, above which an alert fires (`vm`, `aks`; Container Apps does not export it, so on
       `containerapp` it is not used and the plan warns).""",
       common=True),
    _s("queueAlertThreshold", "integer", "`aks`: queueDepthTarget x maxReplicas; `vm`: the requests "
       "one replica runs at once (min of 256 and the KV cache's full-context sequences)",
       """Requests waiting in vLLM's queue for 5 minutes that fire an alert (`vm`, `aks`; not used on
       `containerapp`, and the plan warns).""",
       common=True),
    # ---- host containerapp ----
    _s("scaleConcurrentRequests", "integer", "32", """In-flight HTTP requests per replica above which
       another replica starts (Container Apps' own default is 10; one vLLM replica batches many more).
       The component input is `concurrentRequests` (`concurrent_requests` in Python).""",
       hosts=("containerapp",), field="concurrent_requests"),
    # ---- host containerapp and aks ----
    _s("vnetAddressSpace", "string", "`10.240.0.0/16`", """IPv4 range of the VNet the component
       creates. `containerapp`: /23 or larger (internal: /22), the environment gets its first /23,
       which must not overlap the ranges Container Apps reserves (169.254.0.0/16, 172.30.0.0/16,
       172.31.0.0/16, 192.0.2.0/24, 100.100.0.0/17, 100.100.128.0/19-100.100.192.0/19). `aks`: /22 or
       larger, nodes in its first /23, the internal load balancer in the /28 after it, private
       endpoints in the next /28; must not overlap 10.244.0.0/16 (pods), 10.0.0.0/16 (services) or
       what AKS reserves (169.254.0.0/16, 172.30.0.0/16, 172.31.0.0/16, 192.0.2.0/24).""",
       hosts=("containerapp", "aks")),
    # ---- host vm ----
    _s("sshPublicKey", "string", "none: no SSH at all", """OpenSSH `ssh-ed25519` or `ssh-rsa` (>= 2048
       bits) public key for the admin user `azureuser`; SSH only when `sshAllowedCidrs` is set
       too (otherwise port 22 is closed and sshd disabled).""", hosts=("vm",)),
    _s("sshAllowedCidrs", "array", "none", """Networks allowed to SSH (required with `sshPublicKey`):
       no entry broader than a /8 and all together at most a /8's worth; `0.0.0.0/0`, `::/0` and `*`
       are refused. On a public VM SSH arrives at the public IP from public addresses, so a private
       range (`10.0.0.0/8`, ...) is a warning: it admits only a network you peer or route to the
       VM's VNet.""", hosts=("vm",)),
    _s("autoShutdown", "string", "none", """Daily deallocation time, `"HH:MM"` (24-hour), through
       Azure's VM auto-shutdown; there is no matching auto-start.""", hosts=("vm",)),
    _s("autoShutdownTimeZone", "string", "`UTC`", """Windows time zone id for `autoShutdown`, spelt
       exactly (e.g. `W. Europe Standard Time`; checked against CLDR's Windows zone list; IANA names
       are refused).""", hosts=("vm",)),
    # ---- host aks ----
    _s("gpuNodesMin", "integer", "the nodes `minReplicas` needs", """Fewest GPU nodes (the spot pool's
       minimum with `spot`).""", hosts=("aks",)),
    _s("gpuNodesMax", "integer", "the nodes for `maxReplicas` + 1 replica", """Most GPU nodes per GPU
       pool (the extra replica's room lets a rolling update start the new pod first); the cluster's
       256-node limit caps it.""", hosts=("aks",)),
    _s("queueDepthTarget", "integer", "5", """Requests waiting in vLLM's queue per replica before KEDA
       adds a replica.""", hosts=("aks",)),
    _s("kubernetesVersion", "string", "`1.35`", """Kubernetes minor version (major.minor); AKS keeps the
       patch current.""", hosts=("aks",)),
    _s("deployerPrincipalType", "string", "detected: `User` when signed in through the Azure CLI or "
       "PowerShell, else `ServicePrincipal`", """`User`, `ServicePrincipal` or `Group`: the principal
       type of the cluster-admin role assignment to the identity running Pulumi.""", hosts=("aks",)),
    _s("kubeloginMode", "string", "`azurecli`", """How the Kubernetes provider gets Entra tokens through
       kubelogin: `azurecli`, `spn`, `workloadidentity` or `msi` (docs/aks.md: what each needs in the
       environment of `pulumi up`).""", hosts=("aks",)),
    _s("apiAllowedCidrs", "array", "none: one of `apiAllowedCidrs`, `apiPrivate` or `apiPublic` is required",
       """Public IPv4 networks that may reach the Kubernetes API server (AKS authorized IP ranges, at
       most 200, none broader than a /8; private, CGNAT, loopback and link-local ranges are refused,
       since the API server sees public source addresses only). Pulumi and kubectl must run from one
       of them: find your address with `curl -s https://api.ipify.org`. Required unless `apiPrivate`
       or `apiPublic` is true. The plan's exposure line names them.""", hosts=("aks",)),
    _s("apiPublic", "boolean", "false", """Leave the Kubernetes API server open to every address
       (Entra ID sign-in still needed); the plan lists it under exposure. Not with `internal` or
       `apiAllowedCidrs`.""", hosts=("aks",)),
    _s("apiPrivate", "boolean", "false", """Private cluster: the Kubernetes API server only on a
       private IP in the cluster's VNet (its public DNS name resolves to that IP); Pulumi and kubectl
       must then run from a network routed to the VNet, so the first `pulumi up` goes in two steps
       ([guardrails](guardrails.md#deploying-a-private-cluster)). Not with `apiAllowedCidrs` or
       `apiPublic`.""", hosts=("aks",)),
)

# Args fields with no config key of their own (the library and the component package only).
ARGS_ONLY: tuple[Setting, ...] = (
    _s("location", "string", "required", """Azure region, by name or display name
       (`swedencentral`, `West Europe`); the stack reads it from `azure-native:location`."""),
    _s("resourceGroupName", "string", "a new resource group", """An existing resource group to
       create everything in (may be an Output)."""),
    _s("adminUsername", "string", "`azureuser`", """The VM's admin user.""", hosts=("vm",)),
)

# How a value without a declared type looks (Pulumi.yaml cannot say it).
UNDECLARED_SHAPE = {"model": "string or map", "tags": "map",
                    "ttftSloSeconds": "number"}

BY_KEY = {setting.key: setting for setting in SETTINGS}


def for_host(host: str) -> tuple[Setting, ...]:
    """The args fields of one host, in table order: the config keys, then the args-only ones."""
    return tuple(s for s in (*ARGS_ONLY, *SETTINGS) if s.field and host in s.hosts)


def input_name(setting: Setting) -> str:
    """The component package's input name: the args field in camelCase."""
    head, *rest = (setting.field or setting.key).split("_")
    return head + "".join(word.title() for word in rest)


def description(setting: Setting, with_hosts: bool = True) -> str:
    """One line for Pulumi.yaml (with the hosts a host key applies to), the schema and help():
    the meaning and the default."""
    hosts = "" if not with_hosts or setting.common or set(setting.hosts) == set(HOSTS) else \
        ", ".join(setting.hosts) + " - "
    default = "" if setting.default == "required" else f" Default: {setting.default.replace('`', '')}."
    required = " Required." if setting.default == "required" else ""
    return f"{hosts}{setting.meaning.replace('`', '')}{default}{required}"


def input_descriptions(host: str) -> dict[str, str]:
    """Schema input name -> description, for one host's component (provider/__main__.py)."""
    return {input_name(setting): description(setting, with_hosts=False) for setting in for_host(host)}


def args_doc(summary: str, host: str) -> str:
    """A host args class's docstring: its summary, then every field with its meaning and default."""
    lines = [inspect.cleandoc(summary), "",
             "Fields (stack config key in brackets where it is not the field in camelCase):", ""]
    for setting in for_host(host):
        key = "" if setting in ARGS_ONLY or _snake(setting.key) == setting.field else f" [{setting.key}]"
        lines.append(f"{setting.field}{key}")
        lines.extend(textwrap.wrap(description(setting, with_hosts=False), 92, initial_indent="    ",
                                   subsequent_indent="    ", break_on_hyphens=False,
                                   break_long_words=False))  # an image or a URL stays whole, to copy
    lines += ["", "Every value is checked when the args are made (a one-line ConfigError naming the "
              "argument), and the planner runs then: ``args.plan`` is ready before any resource exists. "
              "docs/configuration.md has the same table."]
    return "\n".join(lines) + "\n"


def component_doc(summary: str, args_name: str) -> str:
    """The docstring of a host component's constructor (instead of Pulumi's inherited one)."""
    return (f"{inspect.cleandoc(summary)}\n\n"
            f":param name: the component's name; its resources' names derive from it.\n"
            f":param args: {args_name}: plain values, checked and planned when made (help({args_name}) "
            f"lists every field).\n"
            f":param opts: Pulumi resource options (provider, parent, protect, ...).\n")
