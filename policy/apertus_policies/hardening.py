"""Key Vault, storage account and AKS identity settings every stack keeps."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .common import (
    normalised,
    KEY_VAULT,
    MANAGED_CLUSTER,
    MANDATORY,
    STORAGE_ACCOUNT,
    _label,
    get,
    is_false,
    is_true,
    is_unknown,
    plain,
)


def _why(value, known: str) -> str:
    """A hardening flag not known yet (a preview) is not hardened: say so rather than show the sentinel."""
    return "is not known yet (a preview), so it is taken for not set" if is_unknown(value) else known


# ---------------------------------------------------------------- Key Vault

def validate_key_vault(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != KEY_VAULT:
        return
    # plain props (common.plain): an unknown value (a preview) never raises; an unknown flag is not hardened
    props, label = plain(args.props), _label(args)
    properties = get(props, "properties")
    if is_unknown(properties):
        properties = {key: properties for key in ("enableRbacAuthorization", "enableSoftDelete",
                                                  "enablePurgeProtection")}
    value = get(properties, "enableRbacAuthorization")
    if not is_true(value):
        report(f"{label}: enableRbacAuthorization {_why(value, 'is not true')}; access policies bypass Azure RBAC")
    value = get(properties, "enableSoftDelete")
    if is_false(value) or is_unknown(value):
        report(f"{label}: enableSoftDelete {_why(value, 'is false')}; a deleted secret could not be recovered")
    value = get(properties, "enablePurgeProtection")
    if not is_true(value):
        report(f"{label}: enablePurgeProtection {_why(value, 'is not true')}; anyone with delete rights can purge "
               "the secrets before the retention period ends")


key_vault_hardened = ResourceValidationPolicy(
    name="key-vault-hardened",
    description="Key Vaults holding the HF token and API key use Azure RBAC authorization, soft "
                "delete and purge protection.",
    validate=normalised(validate_key_vault),
    enforcement_level=MANDATORY,
)



# ---------------------------------------------------------------- storage accounts

def validate_storage_account(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != STORAGE_ACCOUNT:
        return
    props, label = plain(args.props), _label(args)  # an unknown flag (a preview) is not hardened
    value = get(props, "allowSharedKeyAccess")
    if not is_false(value):
        report(f"{label}: allowSharedKeyAccess {_why(value, 'is not false')} (Azure's default allows shared keys); "
               "use Entra ID / managed identity")
    tls = get(props, "minimumTlsVersion")
    if tls not in ("TLS1_2", "TLS1_3"):
        report(f"{label}: minimumTlsVersion {_why(tls, f'is {tls!r}')} (Azure's default interpretation is TLS 1.0); "
               "set 'TLS1_2'")
    value = get(props, "allowBlobPublicAccess")
    if not is_false(value):
        report(f"{label}: allowBlobPublicAccess {_why(value, 'is not false')}; set it false")


storage_account_hardened = ResourceValidationPolicy(
    name="storage-account-hardened",
    description="Storage accounts (model cache) refuse shared-key access, require TLS 1.2 or newer "
                "and allow no anonymous blob access, each set explicitly.",
    validate=normalised(validate_storage_account),
    enforcement_level=MANDATORY,
)


# ---------------------------------------------------------------- AKS identity

def validate_aks_identity(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != MANAGED_CLUSTER:
        return
    props, label = plain(args.props), _label(args)  # an unknown flag (a preview) is not set: reported
    unknown = [".".join(path) for path in (("disableLocalAccounts",), ("aadProfile", "enableAzureRBAC"),
                                           ("securityProfile", "workloadIdentity", "enabled"),
                                           ("oidcIssuerProfile", "enabled"))
               if any(is_unknown(get(props, *path[:i])) for i in range(1, len(path) + 1))]
    if unknown:
        report(f"{label}: {', '.join(unknown)} not known yet (a preview), so taken for not set; this pack "
               "judges them again in `pulumi up`")
    if not is_true(get(props, "disableLocalAccounts")):
        report(f"{label}: disableLocalAccounts is not true; the static admin kubeconfig bypasses Entra ID")
    if not is_true(get(props, "aadProfile", "enableAzureRBAC")):
        report(f"{label}: aadProfile.enableAzureRBAC is not true; Kubernetes access is not governed by Azure RBAC")
    if not is_true(get(props, "securityProfile", "workloadIdentity", "enabled")):
        report(f"{label}: securityProfile.workloadIdentity.enabled is not true; pods would need stored credentials")
    if not is_true(get(props, "oidcIssuerProfile", "enabled")):
        report(f"{label}: oidcIssuerProfile.enabled is not true; workload identity needs the OIDC issuer")


aks_identity_hardened = ResourceValidationPolicy(
    name="aks-identity-hardened",
    description="AKS clusters disable local accounts, authorize with Azure RBAC (Entra ID) and run "
                "workload identity with the OIDC issuer, so no static credential exists.",
    validate=normalised(validate_aks_identity),
    enforcement_level=MANDATORY,
)


