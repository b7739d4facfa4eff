"""``python -m stacks preflight [--stack NAME] [--json]``: will ``pulumi up`` get what it asks for?

Plans the stack exactly like ``plan`` (stacks/common.py plan_stack), then asks the user's own
subscription with Microsoft's management SDKs (credentials from azure-identity's
DefaultAzureCredential) and Hugging Face with huggingface_hub. Read-only: nothing is created and
no capacity is reserved, so a size that is offered and within quota now can still be out of stock
when ``up`` runs. The SDKs are imported inside the functions that use them, so ``plan`` and
``pulumi up`` never need them (tests/requirements.txt lists them).
"""

from __future__ import annotations

import base64
import difflib
import fnmatch
import json
import logging
import re
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from . import common
from .common import (StackFileError, UsageError, selected_stack,  # noqa: F401 (selected_stack: re-exported)
                     stack_and_source, stack_label, with_stack_source)

ARM_SCOPE = "https://management.azure.com/.default"
NO_LOGIN = "no Azure credentials found"
LOGIN_FIX = ("run 'az login' (then 'az account set --subscription <id>'), "
             "or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a service principal")

# azure-native module of a resource type -> the resource provider Azure must have registered
# (learn.microsoft.com/azure/azure-resource-manager/management/azure-services-resource-providers)
PROVIDERS = {
    "app": "Microsoft.App",
    "compute": "Microsoft.Compute",
    "containerservice": "Microsoft.ContainerService",
    "devtestlab": "Microsoft.DevTestLab",
    "keyvault": "Microsoft.KeyVault",
    "managedidentity": "Microsoft.ManagedIdentity",
    "monitor": "Microsoft.Insights",
    "network": "Microsoft.Network",
    "operationalinsights": "Microsoft.OperationalInsights",
    "privatedns": "Microsoft.Network",
    "storage": "Microsoft.Storage",
}
# AKS nodes are VM scale sets: Microsoft.Compute is needed though the program declares none itself
IMPLIED_PROVIDERS = {"Microsoft.ContainerService": ("Microsoft.Compute",)}

# What `up` does at subscription scope: a new resource group, and role assignments in it (Key Vault
# secrets for the identity; AKS network and admin roles). Role assignments need .../write on them
# (learn.microsoft.com/azure/role-based-access-control/role-assignments-portal, prerequisites).
REQUIRED_ACTIONS = ("Microsoft.Resources/subscriptions/resourceGroups/write",
                    "Microsoft.Authorization/roleAssignments/write")


@dataclass(frozen=True)
class Check:
    status: str  # ok | warn | FAIL
    name: str
    found: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:4s}  {self.name}: {self.found}" + (f"; {self.fix}" if self.fix else "")


@dataclass
class Environment:
    """Everything preflight reaches outside the process; tests replace the parts they fake."""

    credential: Any = None  # an azure-core TokenCredential; None: DefaultAzureCredential
    client_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. transport= for tests
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    which: Callable[[str], str | None] = shutil.which
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run


def default_subscription(env: dict[str, str]) -> str | None:
    """AZURE_SUBSCRIPTION_ID, else the Azure CLI's default subscription (az account set)."""
    if env.get("AZURE_SUBSCRIPTION_ID"):
        return env["AZURE_SUBSCRIPTION_ID"]
    config_dir = Path(env.get("AZURE_CONFIG_DIR") or Path(env.get("HOME", "~")).expanduser() / ".azure")
    profile = config_dir / "azureProfile.json"
    if not profile.exists():
        return None
    try:
        subscriptions = json.loads(profile.read_text(encoding="utf-8-sig")).get("subscriptions", [])
    except ValueError:
        return None
    return next((s.get("id") for s in subscriptions if s.get("isDefault")), None)


def token_object_id(token: str) -> str | None:
    """The caller's object id (the 'oid' claim); only read, never verified: ARM verifies it."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return claims.get("oid")


def refused_credential(error: Exception) -> str | None:
    """The credential Azure refused and why, from DefaultAzureCredential's 'Attempted credentials'
    lines: the first one that was configured but failed; None when none was configured."""
    # a credential that was not set up says so in many ways ("unavailable", "not found on path",
    # "requires the ... package"): only one that reached Entra ID and was turned away counts
    tried = ("aadsts", "invalid_client", "invalid_grant", "expired", "authentication failed",
             "unauthorized", "forbidden", "(401)", "(400)")
    for line in str(error).splitlines():
        match = re.match(r"\s*(\w+Credential): (.+)", line)
        if match and any(word in match[2].lower() for word in tried):
            return f"{match[1]}: {match[2].strip()}"
    return None


def access_token(credential: Any, env: dict[str, str] | None = None) -> str:
    """A token for ARM, or UsageError with one line: how to log in when no credential is configured,
    else the refused credential and Azure's first line (wrong secret, expired az login, no network)."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import CredentialUnavailableError

    env = env or {}
    if env.get("AZURE_CLIENT_ID") and env.get("AZURE_TENANT_ID") and not any(env.get(name) for name in (
            "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_USERNAME")):
        # EnvironmentCredential (azure-identity) needs one of these beside the client and tenant ids
        raise UsageError("a service principal is half set up: AZURE_CLIENT_ID and AZURE_TENANT_ID are set "
                         "but not AZURE_CLIENT_SECRET",
                         "set AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, or "
                         "AZURE_FEDERATED_TOKEN_FILE for workload identity)")
    try:
        return credential.get_token(ARM_SCOPE).token
    except CredentialUnavailableError as error:
        raise UsageError(NO_LOGIN, LOGIN_FIX) from error
    except ClientAuthenticationError as error:
        if re.search(r"failed to resolve|name or service not known|temporary failure in name resolution|"
                     r"connection (refused|reset|aborted)|max retries exceeded", str(error), re.I):
            raise UsageError("cannot reach Microsoft Entra ID (login.microsoftonline.com) to sign in",
                             "check the network or proxy (HTTPS_PROXY), then run preflight again") from error
        tried = refused_credential(error)
        if tried is None and "Attempted credentials" in str(error):
            raise UsageError(NO_LOGIN, LOGIN_FIX) from error
        if tried is None:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            who = ("EnvironmentCredential (AZURE_CLIENT_ID)" if env.get("AZURE_CLIENT_ID")
                   else type(credential).__name__)
            tried = f"{who}: {first}"
        raise UsageError(f"Azure refused the credentials: {tried[:300]}", "fix them (az login again, or a valid "
                         "AZURE_CLIENT_SECRET / AZURE_TENANT_ID) and run preflight again") from error
    except ValueError as error:  # e.g. a malformed AZURE_TENANT_ID
        raise UsageError(f"Azure credentials: {str(error).splitlines()[0]}",
                         "check AZURE_TENANT_ID and AZURE_CLIENT_ID (ids are GUIDs)") from error


# ---------------------------------------------------------------- Azure checks

def _text(value: Any) -> str:
    """An SDK enum's wire value ('NotAvailableForSubscription'), or the string itself."""
    return str(getattr(value, "value", value))


def _normal(name: str) -> str:
    return name.replace(" ", "").lower()


def check_region(locations: Iterable[Any], region: str) -> tuple[Check, str | None]:
    """The region as Azure spells it (swedencentral), or None when the subscription lacks it."""
    physical = [loc for loc in locations
                if getattr(getattr(loc, "metadata", None), "region_type", "Physical") == "Physical"]
    if any(loc.name == region for loc in physical):
        return Check("ok", "region", f"'{region}' is available to this subscription"), region
    same = next((loc for loc in physical if _normal(loc.name) == _normal(region)
                 or _normal(loc.display_name or "") == _normal(region)), None)
    if same:
        return Check("warn", "region", f"'{region}' is '{same.name}' ({same.display_name}) as Azure spells it",
                     f"pulumi config set azure-native:location {same.name}"), same.name
    close = difflib.get_close_matches(_normal(region), [loc.name for loc in physical], n=2)
    return Check("FAIL", "region", f"'{region}' is not a region this subscription can deploy to",
                 "pulumi config set azure-native:location <region>"
                 + (f", e.g. {' or '.join(close)}" if close else "; list them: az account list-locations -o table")
                 ), None


def _vcpus(sku: Any) -> int | None:
    value = next((c.value for c in sku.capabilities or [] if c.name == "vCPUs"), None)
    return int(value) if value else None


def check_vm_size(skus: list[Any], size: str, region: str, role: str,
                  zones: list[str] | None = None) -> tuple[Check, Any]:
    """Offered in the region and not restricted for this subscription (Resource SKUs API). Every
    Location restriction is looked at before any Zone one (Azure lists them in no set order); a
    zonal pool also needs its zones among the size's locationInfo zones."""
    name = f"size {size} ({role})"
    sku = next((s for s in skus if s.resource_type == "virtualMachines" and s.name.lower() == size.lower()), None)
    if sku is None:
        return Check("FAIL", name, f"not offered in {region}",
                     f"pick a region that has it: az vm list-skus --size {size} --all -o table"), None
    restrictions = sku.restrictions or []
    for restriction in restrictions:
        if _text(restriction.type) == "Location":
            reason = _text(restriction.reason_code)
            return Check("FAIL", name, f"restricted in {region} for this subscription ({reason})",
                         "request access: Azure portal > Quotas > Compute, or a support request for "
                         f"'{size}' in {region}" if reason == "NotAvailableForSubscription"
                         else "use another region or size"), sku
    if zones:
        infos = [i for i in sku.location_info or [] if _normal(i.location or "") == _normal(region)]
        offered = {z for i in infos for z in i.zones or []}
        if infos and set(zones) - offered:
            return Check("FAIL", name, f"offered in zone(s) {', '.join(sorted(offered)) or 'none'} of {region}; "
                         f"the pool uses zones {', '.join(zones)}",
                         "use a system pool size offered in every zone (az vm list-skus --zone --size <size>), "
                         "or another region"), sku
    for restriction in restrictions:
        if _text(restriction.type) == "Zone":
            info = restriction.restriction_info
            restricted = sorted((info.zones if info else None) or [])
            if zones and set(zones) & set(restricted):  # AKS refuses a pool that lists such a zone
                return Check("FAIL", name, f"restricted in zone(s) {', '.join(restricted)} of {region} for this "
                             f"subscription ({_text(restriction.reason_code)}); the pool uses zones {', '.join(zones)}",
                             f"request access to '{size}' in those zones (support request), or use another "
                             "region"), sku
            return Check("warn", name, f"offered in {region}, but restricted in zone(s) {', '.join(restricted)} "
                         f"({_text(restriction.reason_code)})", "the stack places it without a zone: nothing to do "
                         "unless you pin zones"), sku
    return Check("ok", name, f"offered in {region}"), sku


def check_profile(profiles: list[Any], profile: str, region: str) -> Check:
    names = sorted(p.name for p in profiles)
    if profile in names:
        return Check("ok", f"workload profile {profile}", f"available in {region}")
    gpu = [n for n in names if "GPU" in n.upper() or "A100" in n or "T4" in n]
    return Check("FAIL", f"workload profile {profile}", f"not among {region}'s available workload profiles"
                 f" (GPU profiles there: {', '.join(gpu) or 'none'})",
                 "pick a region listed for Container Apps GPUs (serverless GPU docs), or set gpu to one of "
                 "those profiles")


# Container Apps GPU quotas per subscription and region, as Microsoft.App/locations/{region}/usages
# names them. Microsoft Learn "Request quota changes for Azure Container Apps" (container-apps/
# quota-requests.md, 2025-04-29) lists the region-scope GPU quotas "Subscription consumption NCA 100
# GPUs", "Subscription consumption T 4 GPUs" and "Subscription NCA 100 GPUs"; their usage names are
# SubscriptionConsumptionNCA100Gpus, SubscriptionConsumptionT4Gpus and SubscriptionNCA100Gpus
# (Microsoft's quota-request samples), and subscriptions have been seen to report the dedicated one as
# SubscriptionDedicatedNCA100Gpus with currentValue -1 (not applicable). "ManagedEnvironment
# Consumption*Gpus" counts one environment (az containerapp env list-usages): none before up. The
# catalog's quota_family for these profiles (components/serving/gpus.py) is not such a name.
# A dedicated A100 profile's region quota, by the name some subscriptions report instead (not
# applicable there: currentValue -1)
DEDICATED_A100_FALLBACK = "SubscriptionDedicatedNCA100Gpus"


def aca_gpu_quota_names(profile: str) -> tuple[str, ...]:
    """The usage names the profile's region GPU quota goes by (the catalog's quota_family first)."""
    from components.serving import GPUS

    sku = GPUS.get(profile)
    if sku is None or "containerapp" not in sku.hosts:
        return ()
    return (sku.quota_family,) + (() if sku.serverless else (DEDICATED_A100_FALLBACK,))


def check_aca_gpu_quota(usages: list[Any], profile: str, region: str, need: int) -> Check:
    """The Container Apps GPU quota of the profile: usage + need <= limit, or say it cannot be read."""
    names = aca_gpu_quota_names(profile)
    label = f"quota Container Apps GPUs ({profile})"
    usage = next((u for n in names for u in [find_usage(usages, n)] if u is not None), None)
    portal = ("check Azure portal > Quotas > Azure Container Apps for the region before pulumi up "
              "(the environment's own GPU quota: az containerapp env list-usages after up)")
    if usage is None:
        return Check("warn", label, f"cannot read the GPU quota: {region} reports none of "
                     f"{', '.join(names) or 'the known GPU quotas'}", portal)
    current, limit = int(usage.current_value), int(usage.limit)
    if current < 0 or limit < 0 or usage.get("isQuotaApplicable") is False:
        return Check("warn", label, f"cannot read the GPU quota: {region} reports '{usage.name.value}' as not "
                     f"applicable (currentValue {current}, limit {limit})", portal)
    quota = check_quota([usage], usage.name.value, region, need, "GPUs")
    return Check(quota.status, label, f"{usage.name.value}: {quota.found}", quota.fix)


# AKS support plans a Kubernetes version can be run under (capabilities.supportPlan of
# Microsoft.ContainerService/locations/{region}/kubernetesVersions). Long-term support needs the
# Premium tier and supportPlan AKSLongTermSupport on the cluster ("Enabling LTS requires moving your
# cluster to the Premium tier and explicitly selecting the LTS support plan": AKS "Long-term support"),
# and the managed KEDA add-on is not supported there; components/aks.py makes a Free-tier cluster on
# the default plan, KubernetesOfficial (community support), with KEDA.
COMMUNITY_SUPPORT = "KubernetesOfficial"
LONG_TERM_SUPPORT = "AKSLongTermSupport"


def stack_kubernetes_version(stack: str, root: Path) -> tuple[str, bool]:
    """The stack's kubernetesVersion as the program reads it, else the component's default; and
    whether it is that default (plan_stack has refused a malformed one already)."""
    from components.aks import DEFAULT_KUBERNETES_VERSION

    project, values, _ = common.load_stack_file(stack, root)
    value = values.get(f"{project}:kubernetesVersion")
    return (value, False) if value else (DEFAULT_KUBERNETES_VERSION, True)


def kubernetes_version_label(version: str, default: bool) -> str:
    return f"kubernetesVersion {version}" + (" (the default)" if default else "")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def _support_plans(offered: Any) -> set[str]:
    """An entry with no capabilities (older API versions) is in community support."""
    plans = {_text(plan) for plan in (offered.capabilities.support_plan or [])} if offered.capabilities else set()
    return plans or {COMMUNITY_SUPPORT}


def _newest_patch(offered: Any) -> str:
    return max(offered.patch_versions or {offered.version: None}, key=_version_key)


def kubernetes_versions_offered(versions: list[Any], region: str) -> str:
    """What the region offers, in one clause: the minors this cluster can run (community support, GA)
    with the setting to pick one, the others by kind."""
    ordered = sorted(versions, key=lambda v: _version_key(v.version or ""))
    usable = [v for v in ordered if not v.is_preview and COMMUNITY_SUPPORT in _support_plans(v)]
    suggest = next((v for v in usable if v.is_default), usable[-1] if usable else None)
    groups = [("GA minors (newest patch)", [f"{v.version} ({_newest_patch(v)})" for v in usable]),
              ("preview", [v.version for v in ordered if v.is_preview]),
              ("long-term support only", [v.version for v in ordered if COMMUNITY_SUPPORT not in _support_plans(v)])]
    listed = "; ".join(f"{kind} {', '.join(names)}" for kind, names in groups if names)
    if suggest is None:
        return (f"{region} offers no GA version in community support ({listed or 'none at all'}): use another "
                "region (az aks get-versions --location <region> -o table)")
    return (f"pulumi config set kubernetesVersion {suggest.version}"
            + (f" (AKS's default in {region})" if suggest.is_default else "") + f"; {region} offers {listed}")


MINOR_VERSION = re.compile(r"\d{1,3}\.\d{1,3}", re.ASCII)
PATCH_VERSION = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,4}", re.ASCII)


def readable_kubernetes_versions(versions: Any) -> list[Any]:
    """The entries of Azure's reply whose version is a plain major.minor (their patches plain
    major.minor.patch): what the check compares and suggests, so no reply text that is not a version
    reaches a fix line (a suggested `pulumi config set ...`) or breaks the check."""
    if not isinstance(versions, (list, tuple)):
        return []
    readable = []
    for entry in versions:
        minor = getattr(entry, "version", None)
        if not (isinstance(minor, str) and MINOR_VERSION.fullmatch(minor)):
            continue
        patches = getattr(entry, "patch_versions", None)
        entry.patch_versions = ({k: v for k, v in patches.items() if isinstance(k, str) and PATCH_VERSION.fullmatch(k)}
                                if isinstance(patches, dict) else None)
        readable.append(entry)
    return readable


def check_kubernetes_version(versions: list[Any], version: str, region: str, default: bool = False) -> Check:
    """The stack's version among the region's: a major.minor matches its minor, a major.minor.patch that
    patch ("When you create a cluster without designating a patch, the cluster runs the minor version's
    latest GA patch": AKS "Supported Kubernetes versions", alias minor version). Long-term support only
    fails (the cluster is on community support); a preview minor warns (AKS preview terms: no SLA)."""
    name = kubernetes_version_label(version, default)
    minor = ".".join(version.split(".")[:2])
    offered = next((v for v in versions if v.version == minor), None)
    fix = kubernetes_versions_offered(versions, region)
    if offered is None or (version != minor and version not in (offered.patch_versions or {})):
        return Check("FAIL", name, f"not offered in {region}", fix)
    if COMMUNITY_SUPPORT not in _support_plans(offered):
        return Check("FAIL", name, f"offered in {region} only with long-term support ({LONG_TERM_SUPPORT}), which "
                     "needs a Premium-tier cluster on that plan; this stack's is Free tier on community support "
                     "with the KEDA add-on, which LTS does not support", fix)
    if offered.is_preview:
        return Check("warn", name, f"a preview version in {region} (no support or SLA until it is GA)",
                     f"for a GA version: {fix}")
    picked = f"; AKS picks its newest GA patch, {_newest_patch(offered)} today" if version == minor else ""
    return Check("ok", name, f"offered in {region}{picked}")


def find_usage(usages: list[Any], name: str) -> Any:
    return next((u for u in usages if _normal(u.name.value) == _normal(name)
                 or _normal(u.name.localized_value or "") == _normal(name)), None)


def check_quota(usages: list[Any], quota: str, region: str, need: int, unit: str,
                missing: str = "FAIL") -> Check:
    """usage + need <= limit, or the exact request to file."""
    usage = find_usage(usages, quota)
    label = f"quota {quota}"
    if usage is None:
        return Check(missing, label, f"{region} reports no quota named '{quota}'",
                     "check the portal's Quotas page for the region before pulumi up")
    current, limit = int(usage.current_value), int(usage.limit)
    free = limit - current
    found = f"{current} of {limit} {unit} used in {region}, the stack needs up to {need}"
    if current + need <= limit:
        return Check("ok", label, found)
    return Check("FAIL", label, found,
                 f"request a limit of {current + need} {unit} for '{quota}' in {region} "
                 f"(+{need - max(free, 0)}): Azure portal > Quotas, or lower the stack's maximum")


def action_allowed(action: str, permissions: Iterable[Any]) -> bool:
    """Azure RBAC: an action is granted by some role's actions minus that role's notActions
    (wildcards allowed, case-insensitive)."""
    action = action.lower()
    for permission in permissions:
        allowed = any(fnmatch.fnmatchcase(action, a.lower()) for a in permission.actions or [])
        denied = any(fnmatch.fnmatchcase(action, a.lower()) for a in permission.not_actions or [])
        if allowed and not denied:
            return True
    return False


def check_permissions(permissions: list[Any], subscription: str, conditioned: list[Any] | None = None,
                      roles_assigned: Iterable[str] = ()) -> list[Check]:
    """REQUIRED_ACTIONS against your unconditioned roles; an action granted only by a role assignment
    with a condition (delegated RBAC administration, limited to some roles) is a warning naming the
    roles up assigns, which the condition must allow."""
    checks = []
    for action in REQUIRED_ACTIONS:
        if action_allowed(action, permissions):
            checks.append(Check("ok", f"permission {action}", "granted at the subscription"))
        elif conditioned and action_allowed(action, conditioned):
            checks.append(Check("warn", f"permission {action}", "granted only by a role assignment with a "
                                "condition (it may limit which roles you can assign)",
                                "make sure the condition allows the roles pulumi up assigns: "
                                + ", ".join(roles_assigned)))
        else:
            checks.append(Check("FAIL", f"permission {action}", "none of your roles at the subscription "
                                "grants it (pulumi up creates a resource group and role assignments)",
                                "ask an Owner for 'Owner', or 'Contributor' plus 'Role Based Access Control "
                                f"Administrator', on /subscriptions/{subscription}"))
    return checks


def roles_up_assigns(host: str) -> list[str]:
    """The built-in roles the program assigns (components/secrets.py, components/aks.py)."""
    roles = ["Key Vault Secrets User"]
    if host == "aks":
        roles += ["Network Contributor", "Azure Kubernetes Service RBAC Cluster Admin"]
    return roles


def permission_checks(auth: Any, principal: str | None, subscription: str, host: str = "") -> list[Check]:
    """Your roles at or above the subscription, groups included (the filter az role assignment
    list --include-inherited --include-groups uses), and whether they grant REQUIRED_ACTIONS."""
    from azure.core.exceptions import HttpResponseError

    scope = f"/subscriptions/{subscription}"
    if not principal:  # without the caller's object id, atScope() would list everybody's assignments
        return [Check("warn", "permissions", "cannot tell who you are: the Azure token carries no object id "
                      "('oid')", "pulumi up needs " + " and ".join(REQUIRED_ACTIONS) + f" on {scope}")]
    try:
        assignments = [a for a in auth.role_assignments.list_for_scope(
            scope, filter=f"atScope() and assignedTo('{principal}')")
            # atScope(): at the subscription or above it (management groups, root); never below
            if not (a.scope or "").lower().startswith(scope.lower() + "/")]
        plain = sorted({a.role_definition_id for a in assignments if not a.condition})
        conditional = sorted({a.role_definition_id for a in assignments if a.condition} - set(plain))
        permissions = [p for role in plain for p in auth.role_definitions.get_by_id(role).permissions or []]
        conditioned = [p for role in conditional for p in auth.role_definitions.get_by_id(role).permissions or []]
    except HttpResponseError as error:
        return [Check("warn", "permissions", f"could not read your role assignments ({error.status_code})",
                      "pulumi up needs " + " and ".join(REQUIRED_ACTIONS) + f" on {scope}")]
    return check_permissions(permissions, subscription, conditioned, roles_up_assigns(host))


def check_provider(namespace: str, state: str | None) -> Check:
    if state == "Registered":
        return Check("ok", f"provider {namespace}", "registered")
    if state == "Registering":
        return Check("warn", f"provider {namespace}", "registration in progress",
                     f"wait for it: az provider show --namespace {namespace} --query registrationState")
    return Check("FAIL", f"provider {namespace}", f"{state or 'unknown'} in this subscription",
                 f"az provider register --namespace {namespace} --wait")


def providers_needed(resources: list[dict[str, Any]]) -> list[str]:
    """The resource providers of every Azure resource the offline run registered."""
    needed: set[str] = set()

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            parts = node["type"].split(":")
            if parts[0] == "azure-native" and parts[1] in PROVIDERS:
                needed.add(PROVIDERS[parts[1]])
                needed.update(IMPLIED_PROVIDERS.get(PROVIDERS[parts[1]], ()))
            walk(node["children"])

    walk(resources)
    return sorted(needed)


# ---------------------------------------------------------------- Hugging Face and tools

PASSPHRASE_HINT = "waiting for a passphrase? set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE"
# the fine-grained token permission huggingface.co's token settings name for gated models
GATED_PERMISSION = "Read access to contents of all public gated repos you can access"


def hf_token(stack: str, env: Environment, root: Path) -> tuple[str | None, str, str]:
    """The stack's hfToken (`pulumi config get` prints a secret decrypted), else HF_TOKEN; where it
    came from; and why the stack's could not be read ('' when nothing went wrong)."""
    problem = ""
    if env.which("pulumi"):
        try:
            result = env.run(["pulumi", "config", "get", "hfToken", "--stack", stack], cwd=root,
                             capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired as error:
            result, problem = None, f"pulumi config get hfToken did not finish in {error.timeout:.0f} s"
        if result is not None and result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip(), f"stack '{stack}' config hfToken", ""
    if env.env.get("HF_TOKEN"):
        return env.env["HF_TOKEN"], "HF_TOKEN", ""
    return None, "", problem


def _hub_status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def check_hugging_face(model: str, gated: bool, token: str | None, source: str, endpoint: str | None,
                       problem: str = "") -> list[Check]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    hub = endpoint or "huggingface.co"
    if token is None:
        status = "FAIL" if gated or problem else "warn"
        return [Check(status, "hugging face token", problem or f"none in the stack config or HF_TOKEN; {model} is "
                      f"{'gated' if gated else 'public'}",
                      f"{PASSPHRASE_HINT}, then run preflight again" if problem
                      else "pulumi config set --secret hfToken <token>")]
    api = HfApi(endpoint=endpoint)
    try:
        user = api.whoami(token=token)
    except HfHubHTTPError as error:
        status = _hub_status(error)
        if status in (401, 403):
            return [Check("FAIL", "hugging face token", f"{source} was refused ({status})",
                          "create a read token at https://huggingface.co/settings/tokens and run: "
                          "pulumi config set --secret hfToken <token>")]
        return [Check("FAIL", "hugging face token", f"{hub} answered {status or 'no status'} to whoami",
                      "Hugging Face is busy or down (429/5xx): run preflight again later")]
    except Exception as error:  # noqa: BLE001 - a network failure of any HTTP library is one line
        return [Check("FAIL", "hugging face token", f"could not reach {hub} ({type(error).__name__})",
                      "check the network or proxy, then run preflight again")]
    role = ((user.get("auth") or {}).get("accessToken") or {}).get("role")
    name = user.get("name", "?")
    checks = [Check("ok", "hugging face token", f"{source} is valid (user {name})"
                    + ("; a fine-grained token" if role == "fineGrained" else ""))]
    page = f"{(endpoint or 'https://huggingface.co').rstrip('/')}/{model}"
    label = f"model access {model}"
    try:
        api.auth_check(model, token=token)
    except GatedRepoError:
        checks.append(Check("FAIL", label, f"{name} has not been granted access to the gated model",
                            f"accept the terms on {page}"))
    except RepositoryNotFoundError:
        checks.append(Check("FAIL", label, "not found, or private to others", f"check the model id on {page}"))
    except HfHubHTTPError as error:
        status = _hub_status(error)
        if status == 403:  # no X-Error-Code: the token may not read gated repos at all
            checks.append(Check("FAIL", label, f"{source} may not read gated models (403)",
                                f"edit the fine-grained token at https://huggingface.co/settings/tokens and tick "
                                f"'{GATED_PERMISSION}', or use a read token; then accept the terms on {page}"))
        else:
            checks.append(Check("FAIL", label, f"{hub} answered {status or 'no status'} to the access check",
                                "Hugging Face is busy or down (429/5xx): run preflight again later"))
    except Exception as error:  # noqa: BLE001 - network
        checks.append(Check("FAIL", label, f"could not reach {hub} ({type(error).__name__})",
                            "check the network or proxy, then run preflight again"))
    else:
        checks.append(Check("ok", label, "granted"))
    return checks


# The oldest Pulumi CLI the project supports (docs/pulumi-cli.md): the floor of the Python SDK in
# requirements.txt (pulumi>=3.231); its project schema is the oldest one Pulumi.yaml is checked against.
OLDEST_CLI = (3, 231, 0)


def check_cli_version(printed: str) -> Check:
    """`pulumi version`'s answer against the oldest supported release; a dev build passes with its text."""
    found = re.match(r"v?(\d+)\.(\d+)\.(\d+)", printed)
    if found and tuple(int(part) for part in found.groups()) < OLDEST_CLI:
        oldest = "v" + ".".join(map(str, OLDEST_CLI))
        return Check("FAIL", "pulumi CLI", f"{printed[:40]} is older than {oldest}, the oldest this "
                     "project supports", f"upgrade it to {oldest} or newer: "
                     "https://www.pulumi.com/docs/iac/download-install/")
    return Check("ok", "pulumi CLI", printed[:80] or "installed")


def check_tools(host: str, env: Environment) -> list[Check]:
    checks = []
    if env.which("pulumi"):
        try:
            result = env.run(["pulumi", "version"], capture_output=True, text=True, timeout=60)
            checks.append(check_cli_version(result.stdout.strip()))
        except subprocess.TimeoutExpired as error:
            checks.append(Check("warn", "pulumi CLI", f"pulumi version did not finish in {error.timeout:.0f} s",
                                "run it yourself to see what it waits for"))
    else:
        checks.append(Check("FAIL", "pulumi CLI", "not on PATH",
                            "install it: https://www.pulumi.com/docs/iac/download-install/"))
    if host == "aks":
        # the Kubernetes provider's kubeconfig runs `kubelogin get-token` on every call (components/aks.py:
        # KUBELOGIN_MODES, docs/aks.md "How Pulumi signs in to the cluster"), as does kubeconfigCommand's
        checks.append(Check("ok", "kubelogin", "installed") if env.which("kubelogin") else Check(
            "FAIL", "kubelogin", "not on PATH: pulumi up signs in to the cluster through it",
            "install it where pulumi up runs: az aks install-cli"))
    return checks


# ---------------------------------------------------------------- the run

def _guard(checks: list[Check], name: str, call: str, fn: Callable[[], Any]) -> Any:
    """One ARM call: its result, or None with a FAIL line naming the call (Azure's first line), so
    one refused call never discards the other checks. No answer at all (network) goes up."""
    from azure.core.exceptions import HttpResponseError

    try:
        return fn()
    except HttpResponseError as error:
        reason = ((error.message or str(error)).strip().splitlines() or ["no detail"])[0]
        checks.append(Check("FAIL", name, f"{call} answered {error.status_code}: {reason[:200]}",
                            "preflight needs read access to the subscription (e.g. Reader); check it with "
                            "az account show"))
        return None


def azure_checks(plan: dict[str, Any], resources: list[dict[str, Any]], subscription: str,
                 credential: Any, kwargs: dict[str, Any], checks: list[Check], token: str,
                 kubernetes_version: tuple[str, bool] | None = None) -> None:
    """Appends every Azure check to ``checks`` (kept when a later call fails). ``kubernetes_version``:
    an aks stack's version and whether it is the default (stack_kubernetes_version)."""
    from azure.mgmt.appcontainers import ContainerAppsAPIClient
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.containerservice import ContainerServiceClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    from components.aks import SYSTEM_NODES, SYSTEM_VM_SIZE, system_zones
    from components.serving.gpus import GPUS

    locations = _guard(checks, "region", "list locations", lambda: list(
        SubscriptionClient(credential, **kwargs).subscriptions.list_locations(subscription)))
    region = None
    if locations is not None:
        region_check, region = check_region(locations, plan["region"])
        checks.append(region_check)
    quota = plan["quota"]
    if region is not None and plan["host"] == "containerapp":
        apps = ContainerAppsAPIClient(credential, subscription, **kwargs)
        profile = plan["gpu"]
        profiles = _guard(checks, f"workload profile {profile}", "Microsoft.App available workload profiles",
                          lambda: list(apps.available_workload_profiles.get(region)))
        if profiles is not None:
            checks.append(check_profile(profiles, profile, region))
        sku = GPUS.get(profile)
        need = quota["amount"] if quota["unit"] == "GPUs" or sku is None else (
            quota["amount"] // sku.vcpus * sku.gpu_count)  # dedicated: nodes x GPUs per node
        usages = _guard(checks, f"quota Container Apps GPUs ({profile})", "Microsoft.App usages",
                        lambda: list(apps.usages.list(region)))
        if usages is not None:
            checks.append(check_aca_gpu_quota(usages, profile, region, need))
    elif region is not None:
        compute = ComputeManagementClient(credential, subscription, **kwargs)
        skus = _guard(checks, f"size {plan['gpu']} (GPU)", "Microsoft.Compute resource SKUs",
                      lambda: list(compute.resource_skus.list(filter=f"location eq '{region}'")))
        gpu_sku = system_sku = None
        aks = plan["host"] == "aks"
        if skus is not None:
            gpu_check, gpu_sku = check_vm_size(skus, plan["gpu"], region, "GPU")
            checks.append(gpu_check)
            if aks:
                system_check, system_sku = check_vm_size(skus, SYSTEM_VM_SIZE, region, "AKS system pool",
                                                         system_zones(region))
                checks.append(system_check)
        gpu_need = quota["amount"]
        usages = _guard(checks, "quota", "Microsoft.Compute usages", lambda: list(compute.usage.list(region)))
        spot = plan["spot"]
        on_demand = gpu_need if (not spot or aks) else 0  # AKS spot keeps an on-demand fallback pool
        regional = on_demand
        if usages is not None:
            if spot:  # spot VMs draw on one regional low-priority quota, not the family's
                checks.append(check_quota(usages, "lowPriorityCores", region, gpu_need, "vCPUs"))
            if on_demand:
                checks.append(check_quota(usages, quota["family"], region, on_demand, "vCPUs"))
            if system_sku is not None:
                system_need = SYSTEM_NODES[1] * (_vcpus(system_sku) or 0)
                checks.append(check_quota(usages, system_sku.family, region, system_need, "vCPUs"))
                regional += system_need
            checks.append(check_quota(usages, "cores", region, regional, "vCPUs"))
        if gpu_sku is not None and gpu_sku.family and _normal(gpu_sku.family) != _normal(quota["family"]):
            # the catalog's quota family is what the plan (and this check) count against
            checks.append(Check("warn", f"quota family of {plan['gpu']}", f"Azure says '{gpu_sku.family}', "
                                f"the catalog '{quota['family']}'", "fix components/serving/gpus.py"))
    if region is not None and plan["host"] == "aks" and kubernetes_version is not None:
        version, default = kubernetes_version
        clusters = ContainerServiceClient(credential, subscription, **kwargs).managed_clusters
        versions = _guard(checks, kubernetes_version_label(version, default), "list Kubernetes versions",
                          lambda: clusters.list_kubernetes_versions(region).values_property or [])
        if versions is not None:
            readable = readable_kubernetes_versions(versions)
            checks.append(check_kubernetes_version(readable, version, region, default) if readable else Check(
                "warn", kubernetes_version_label(version, default), f"Azure's list for {region} holds no "
                "version this check can read", f"az aks get-versions --location {region} -o table"))

    checks += permission_checks(AuthorizationManagementClient(credential, subscription, **kwargs),
                                token_object_id(token), subscription, plan["host"])

    providers = ResourceManagementClient(credential, subscription, **kwargs).providers
    for namespace in providers_needed(resources):
        provider = _guard(checks, f"provider {namespace}", f"GET provider {namespace}",
                          lambda: providers.get(namespace))
        if provider is not None:
            checks.append(check_provider(namespace, provider.registration_state))


def make_credential(env: Environment) -> Any:
    if env.credential is not None:
        return env.credential
    from azure.identity import DefaultAzureCredential

    # it logs every credential it tried as a multi-line warning; the one-line message says it all
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    try:
        return DefaultAzureCredential()
    except ValueError as error:  # a malformed AZURE_TENANT_ID is refused here
        raise UsageError(f"Azure credentials: {str(error).splitlines()[0]} (AZURE_TENANT_ID "
                         f"{os.environ.get('AZURE_TENANT_ID', '')!r})",  # what DefaultAzureCredential read
                         "set AZURE_TENANT_ID to your tenant's id (a GUID), or unset it to use az login") from error


def plain_secret_checks(stack: str, root: Path) -> list[Check]:
    """A provider credential (azure-native:clientSecret, ...) in plain text in the stack file: one
    warning each, with the command that fixes it; never its value."""
    _, values, secret_keys = common.load_stack_file(stack, root)
    findings = [common.plain_secret_finding(key, stack)
                for key in common.plain_provider_secrets(values, secret_keys)]
    return [Check("warn", "stack file", found, fix) for found, fix in findings]


def run_preflight(stack: str, root: Path, env: Environment) -> dict[str, Any]:
    """Every check as data; raises ConfigError or StackFileError before any check. Without Azure
    (no credentials, no subscription) the other checks still run and ``error`` says why (exit 2)."""
    from components.serving import resolve_model

    data = common.plan_stack(stack, root)
    plan = data["plan"]
    checks: list[Check] = []
    error = None
    subscription = None
    try:
        credential = make_credential(env)
        token = access_token(credential, env.env)  # credentials first: a login problem before anything else
        subscription = default_subscription(env.env)
        if not subscription:
            raise UsageError("no Azure subscription chosen",
                             "run 'az account set --subscription <id>' or set AZURE_SUBSCRIPTION_ID")
    except UsageError as problem:
        error = str(problem)
        checks.append(Check("FAIL", "azure", problem.problem, problem.fix))
    if error is None:
        from azure.core.exceptions import AzureError

        try:
            azure_checks(plan, data["resources"], subscription, credential, env.client_kwargs, checks, token,
                         stack_kubernetes_version(stack, root) if plan["host"] == "aks" else None)
        except AzureError as failure:  # no answer at all: network, proxy, DNS
            detail = str(failure).splitlines()[0] if str(failure) else "no detail"
            checks.append(Check("FAIL", "azure", f"could not reach Azure Resource Manager ({type(failure).__name__}: "
                                f"{detail})", "check the network or proxy, then run preflight again"))
    model = resolve_model(plan["model"])
    token_value, source, problem = hf_token(stack, env, root)
    checks += check_hugging_face(plan["model"], model.gated, token_value, source, env.env.get("HF_ENDPOINT"), problem)
    checks += check_tools(plan["host"], env)
    checks += plain_secret_checks(stack, root)
    failed = sum(c.status == "FAIL" for c in checks)
    result = {"stack": stack, "subscription": subscription, "host": plan["host"], "region": plan["region"],
              "checks": [asdict(c) for c in checks], "failed": failed,
              "warnings": sum(c.status == "warn" for c in checks)}
    return {**result, "error": error} if error else result


def render(data: dict[str, Any]) -> str:
    stack = stack_label(data["stack"], data.get("stackSource", "--stack"))
    lines = [f"apertus-azure preflight: {stack}, subscription "
             f"{data['subscription'] or '(none)'} (read-only: nothing was created or reserved)", ""]
    lines += [Check(**c).line() for c in data["checks"]]
    lines += ["", f"{data['failed']} failed, {data['warnings']} warning(s): " + (
        "fix the FAIL lines before pulumi up" if data["failed"] else "ready for pulumi up")
        + ("; Azure was not asked: fix the azure line, then run preflight again" if data.get("error")
           else "")]
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("preflight", help="check the subscription, Hugging Face and tools before pulumi up")
    parser.add_argument("--stack", help="stack name: reads Pulumi.<stack>.yaml (default: the selected Pulumi "
                        "stack, else dev)")
    parser.add_argument("--json", action="store_true", help="print the checks as one JSON document")


def command(args: Any, root: Path, env: Environment | None = None) -> int:
    """Exit 0: nothing failed; 1: a check failed; 2: a usage error (bad stack, no Azure login or
    subscription; the checks that could run are still printed)."""
    from components.serving import ConfigError

    env = env or Environment()
    stack, source = stack_and_source(args.stack, root, env.which, env.run)
    try:
        data = run_preflight(stack, root, env)
    except (ConfigError, StackFileError, UsageError) as error:
        message = with_stack_source(error, stack, source)
        if args.json:
            print(json.dumps({"error": message}))
        else:
            print(f"error: {message}", file=sys.stderr)
        return 2
    data = {**data, "stackSource": source}
    print(json.dumps(data, indent=2) if args.json else render(data))
    if data.get("error"):
        if args.json:  # the text form has it as its azure FAIL line already: once is enough
            print(f"error: {data['error']}", file=sys.stderr)
        return 2
    return 1 if data["failed"] else 0
