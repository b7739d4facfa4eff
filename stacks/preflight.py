"""``python -m stacks preflight [--stack NAME] [--json]``: will ``pulumi up`` get what it asks for?

Plans the stack exactly like ``plan`` (stacks/__main__.plan_stack), then asks the user's own
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
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

ARM_SCOPE = "https://management.azure.com/.default"
LOGIN_HINT = ("no Azure credentials found: run 'az login' (then 'az account set --subscription <id>'), "
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


class UsageError(Exception):
    """Exit 2: the user has to do something before any check can run."""


# ---------------------------------------------------------------- subscription and identity

def selected_stack(root: Path, which: Callable[[str], str | None] = shutil.which,
                   run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> tuple[str, str]:
    """The stack `pulumi stack select` chose (what `pulumi up` would use), else dev; and which it was."""
    if which("pulumi"):
        try:
            result = run(["pulumi", "stack", "--show-name"], cwd=root, capture_output=True, text=True, timeout=30)
        except (subprocess.TimeoutExpired, OSError):
            result = None
        name = result.stdout.strip() if result is not None and result.returncode == 0 else ""
        if name and "\n" not in name:
            return name, "the selected Pulumi stack"
    return "dev", "default: no Pulumi stack selected"


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


def access_token(credential: Any) -> str:
    from azure.core.exceptions import ClientAuthenticationError

    try:
        return credential.get_token(ARM_SCOPE).token
    except ClientAuthenticationError as error:  # CredentialUnavailableError is one too
        raise UsageError(LOGIN_HINT) from error


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
                 f"pulumi config set azure-native:location <region>"
                 + (f", e.g. {' or '.join(close)}" if close else "; list them: az account list-locations -o table")
                 ), None


def _vcpus(sku: Any) -> int | None:
    value = next((c.value for c in sku.capabilities or [] if c.name == "vCPUs"), None)
    return int(value) if value else None


def check_vm_size(skus: list[Any], size: str, region: str, role: str,
                  zones: list[str] | None = None) -> tuple[Check, Any]:
    """Offered in the region and not restricted for this subscription (Resource SKUs API)."""
    name = f"size {size} ({role})"
    sku = next((s for s in skus if s.resource_type == "virtualMachines" and s.name.lower() == size.lower()), None)
    if sku is None:
        return Check("FAIL", name, f"not offered in {region}",
                     f"pick a region that has it: az vm list-skus --size {size} --all -o table"), None
    for restriction in sku.restrictions or []:
        info = restriction.restriction_info
        if _text(restriction.type) == "Location":
            return Check("FAIL", name, f"restricted in {region} for this subscription "
                         f"({_text(restriction.reason_code)})",
                         "request access: Azure portal > Quotas > Compute, or a support request for "
                         f"'{size}' in {region}" if _text(restriction.reason_code) == "NotAvailableForSubscription"
                         else "use another region or size"), sku
        if _text(restriction.type) == "Zone":
            restricted = sorted(info.zones or [])
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


def check_permissions(permissions: list[Any], subscription: str) -> list[Check]:
    checks = []
    for action in REQUIRED_ACTIONS:
        if action_allowed(action, permissions):
            checks.append(Check("ok", f"permission {action}", "granted at the subscription"))
        else:
            checks.append(Check("FAIL", f"permission {action}", "none of your roles at the subscription "
                                "grants it (pulumi up creates a resource group and role assignments)",
                                "ask an Owner for 'Owner', or 'Contributor' plus 'Role Based Access Control "
                                f"Administrator', on /subscriptions/{subscription}"))
    return checks


def permission_checks(auth: Any, principal: str | None, subscription: str) -> list[Check]:
    """Your roles at or above the subscription, groups included (the filter az role assignment
    list --include-inherited --include-groups uses), and whether they grant REQUIRED_ACTIONS."""
    from azure.core.exceptions import HttpResponseError

    scope = f"/subscriptions/{subscription}"
    try:
        assignments = list(auth.role_assignments.list_for_scope(
            scope, filter=f"atScope() and assignedTo('{principal}')" if principal else "atScope()"))
        # atScope(): at the subscription or above it (management groups, root); never below
        roles = sorted({a.role_definition_id for a in assignments
                        if not (a.scope or "").lower().startswith(scope.lower() + "/")})
        permissions = [p for role in roles for p in auth.role_definitions.get_by_id(role).permissions or []]
    except HttpResponseError as error:
        return [Check("warn", "permissions", f"could not read your role assignments ({error.status_code})",
                      "pulumi up needs " + " and ".join(REQUIRED_ACTIONS) + f" on {scope}")]
    return check_permissions(permissions, subscription)


def check_provider(namespace: str, state: str | None) -> Check:
    if state == "Registered":
        return Check("ok", f"provider {namespace}", "registered")
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

def hf_token(stack: str, env: Environment, root: Path) -> tuple[str | None, str]:
    """The stack's hfToken (`pulumi config get` prints a secret decrypted), else HF_TOKEN; and where
    it came from."""
    if env.which("pulumi"):
        result = env.run(["pulumi", "config", "get", "hfToken", "--stack", stack], cwd=root,
                         capture_output=True, text=True, timeout=60)
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip(), f"stack '{stack}' config hfToken"
    if env.env.get("HF_TOKEN"):
        return env.env["HF_TOKEN"], "HF_TOKEN"
    return None, ""


def check_hugging_face(model: str, gated: bool, token: str | None, source: str, endpoint: str | None) -> list[Check]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if token is None:
        status = "FAIL" if gated else "warn"
        return [Check(status, "hugging face token", f"none in the stack config or HF_TOKEN; {model} is "
                      f"{'gated' if gated else 'public'}", "pulumi config set --secret hfToken <token>")]
    api = HfApi(endpoint=endpoint)
    try:
        user = api.whoami(token=token)
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "no answer"
        return [Check("FAIL", "hugging face token", f"{source} was refused ({status})",
                      "create a read token at https://huggingface.co/settings/tokens and run: "
                      "pulumi config set --secret hfToken <token>")]
    except Exception as error:  # noqa: BLE001 - a network failure of any HTTP library is one line
        return [Check("FAIL", "hugging face token", f"could not reach {endpoint or 'huggingface.co'} "
                      f"({type(error).__name__})", "check the network or proxy, then run preflight again")]
    checks = [Check("ok", "hugging face token", f"{source} is valid (user {user.get('name', '?')})")]
    page = f"{(endpoint or 'https://huggingface.co').rstrip('/')}/{model}"
    try:
        api.auth_check(model, token=token)
    except GatedRepoError:
        checks.append(Check("FAIL", f"model access {model}", f"{user.get('name', 'this user')} has not been "
                            "granted access to the gated model", f"accept the terms on {page}"))
    except RepositoryNotFoundError:
        checks.append(Check("FAIL", f"model access {model}", "not found, or private to others",
                            f"check the model id on {page}"))
    else:
        checks.append(Check("ok", f"model access {model}", "granted"))
    return checks


def check_tools(host: str, env: Environment) -> list[Check]:
    checks = []
    if env.which("pulumi"):
        result = env.run(["pulumi", "version"], capture_output=True, text=True, timeout=60)
        checks.append(Check("ok", "pulumi CLI", result.stdout.strip() or "installed"))
    else:
        checks.append(Check("FAIL", "pulumi CLI", "not on PATH",
                            "install it: https://www.pulumi.com/docs/iac/download-install/"))
    if host == "aks":
        # up itself uses a bearer-token kubeconfig (components/aks.py); kubectl on the cluster does not
        checks.append(Check("ok", "kubelogin", "installed") if env.which("kubelogin") else Check(
            "warn", "kubelogin", "not on PATH: pulumi up works without it, the kubeconfigCommand output does not",
            "install it: az aks install-cli"))
    return checks


# ---------------------------------------------------------------- the run

def azure_checks(plan: dict[str, Any], resources: list[dict[str, Any]], subscription: str,
                 credential: Any, kwargs: dict[str, Any]) -> list[Check]:
    from azure.mgmt.appcontainers import ContainerAppsAPIClient
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    from components.aks import SYSTEM_NODES, SYSTEM_VM_SIZE, system_zones

    checks: list[Check] = []
    region_check, region = check_region(
        SubscriptionClient(credential, **kwargs).subscriptions.list_locations(subscription), plan["region"])
    checks.append(region_check)
    quota = plan["quota"]
    if region is not None and plan["host"] == "containerapp":
        apps = ContainerAppsAPIClient(credential, subscription, **kwargs)
        checks.append(check_profile(list(apps.available_workload_profiles.get(region)), plan["gpu"], region))
        # serverless GPUs are counted per environment too, which only exists after up
        checks.append(check_quota(list(apps.usages.list(region)), quota["family"], region, quota["amount"],
                                  quota["unit"], missing="warn"))
    elif region is not None:
        compute = ComputeManagementClient(credential, subscription, **kwargs)
        skus = list(compute.resource_skus.list(filter=f"location eq '{region}'"))
        gpu_check, gpu_sku = check_vm_size(skus, plan["gpu"], region, "GPU")
        checks.append(gpu_check)
        gpu_need = quota["amount"]
        usages = list(compute.usage.list(region))
        spot, aks = plan["spot"], plan["host"] == "aks"
        on_demand = gpu_need if (not spot or aks) else 0  # AKS spot keeps an on-demand fallback pool
        regional = on_demand
        if spot:  # spot VMs draw on one regional low-priority quota, not the family's
            checks.append(check_quota(usages, "lowPriorityCores", region, gpu_need, "vCPUs"))
        if on_demand:
            checks.append(check_quota(usages, quota["family"], region, on_demand, "vCPUs"))
        if aks:
            system_check, system_sku = check_vm_size(skus, SYSTEM_VM_SIZE, region, "AKS system pool",
                                                     system_zones(region))
            checks.append(system_check)
            if system_sku is not None:
                system_need = SYSTEM_NODES[1] * (_vcpus(system_sku) or 0)
                checks.append(check_quota(usages, system_sku.family, region, system_need, "vCPUs"))
                regional += system_need
        if gpu_sku is not None and gpu_sku.family and _normal(gpu_sku.family) != _normal(quota["family"]):
            # the catalog's quota family is what the plan (and this check) count against
            checks.append(Check("warn", f"quota family of {plan['gpu']}", f"Azure says '{gpu_sku.family}', "
                                f"the catalog '{quota['family']}'", "fix components/serving/gpus.py"))
        checks.append(check_quota(usages, "cores", region, regional, "vCPUs"))

    checks += permission_checks(AuthorizationManagementClient(credential, subscription, **kwargs),
                                token_object_id(access_token(credential)), subscription)

    providers = ResourceManagementClient(credential, subscription, **kwargs).providers
    for namespace in providers_needed(resources):
        checks.append(check_provider(namespace, providers.get(namespace).registration_state))
    return checks


def run_preflight(stack: str, root: Path, env: Environment) -> dict[str, Any]:
    """Every check as data; raises UsageError, ConfigError or StackFileError before any check."""
    from .__main__ import plan_stack

    data = plan_stack(stack, root)
    plan = data["plan"]
    subscription = default_subscription(env.env)
    if not subscription:
        raise UsageError("no Azure subscription chosen: run 'az account set --subscription <id>' or set "
                         "AZURE_SUBSCRIPTION_ID")
    credential = env.credential
    if credential is None:
        from azure.identity import DefaultAzureCredential

        # it logs every credential it tried as a multi-line warning; the one-line hint says it all
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
        credential = DefaultAzureCredential()
    access_token(credential)  # no credentials at all: one line, exit 2

    from azure.core.exceptions import AzureError, HttpResponseError

    try:
        checks = azure_checks(plan, data["resources"], subscription, credential, env.client_kwargs)
    except HttpResponseError as error:
        reason = (error.message or str(error)).splitlines()[0]
        checks = [Check("FAIL", "azure", f"subscription {subscription} answered {error.status_code}: {reason}",
                        "check the subscription id and your access to it (az account show)")]
    except AzureError as error:  # no answer at all: network, proxy, DNS
        checks = [Check("FAIL", "azure", f"could not reach Azure Resource Manager ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else 'no detail'})",
                        "check the network or proxy, then run preflight again")]
    from components.serving import resolve_model

    model = resolve_model(plan["model"])
    token, source = hf_token(stack, env, root)
    checks += check_hugging_face(plan["model"], model.gated, token, source, env.env.get("HF_ENDPOINT"))
    checks += check_tools(plan["host"], env)
    failed = sum(c.status == "FAIL" for c in checks)
    return {"stack": stack, "subscription": subscription, "host": plan["host"], "region": plan["region"],
            "checks": [asdict(c) for c in checks], "failed": failed,
            "warnings": sum(c.status == "warn" for c in checks)}


def render(data: dict[str, Any]) -> str:
    lines = [f"apertus-azure preflight: stack '{data['stack']}', subscription {data['subscription']} "
             f"(read-only: nothing was created or reserved)", ""]
    lines += [Check(**c).line() for c in data["checks"]]
    lines += ["", f"{data['failed']} failed, {data['warnings']} warning(s): " + (
        "fix the FAIL lines before pulumi up" if data["failed"] else "ready for pulumi up")]
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("preflight", help="check the subscription, Hugging Face and tools before pulumi up")
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--json", action="store_true", help="print the checks as one JSON document")


def command(args: Any, root: Path, env: Environment | None = None) -> int:
    from components.serving import ConfigError

    from .__main__ import StackFileError

    try:
        data = run_preflight(args.stack, root, env or Environment())
    except (ConfigError, StackFileError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(data, indent=2) if args.json else render(data))
    return 1 if data["failed"] else 0
