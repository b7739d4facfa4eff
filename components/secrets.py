"""Identity and Key Vault: the only way the HF token and API key reach a host."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random
from pulumi_azure_native import authorization, keyvault, managedidentity

from .base import dns_safe
from .serving.launch import SECRET_API_KEY, SECRET_HF_TOKEN

# Built-in role "Key Vault Secrets User": read secret contents (Azure built-in roles reference)
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


@dataclass(frozen=True)
class ModelSecretsArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    api_key: pulumi.Input[str]
    hf_token: pulumi.Input[str] | None = None
    tags: dict[str, str] | None = None


class ModelSecrets(pulumi.ComponentResource):
    """A user-assigned identity, an RBAC Key Vault holding the secrets, and read access between them."""

    identity: managedidentity.UserAssignedIdentity
    vault: keyvault.Vault
    vault_uri: pulumi.Output[str]
    secret_uris: dict[str, pulumi.Output[str]]
    """Key Vault secret name (``hf-token``, ``api-key``) -> versionless secret URI."""

    def __init__(self, name: str, args: ModelSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("apertus:index:ModelSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output()

        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity", resource_group_name=args.resource_group_name,
            location=args.location, tags=args.tags, opts=child)

        # vault names are global, 3-24 characters: a short prefix and a random suffix
        suffix = random.RandomString(f"{name}-kv-suffix", length=6, special=False, upper=False,
                                     opts=child)
        self.vault = keyvault.Vault(
            f"{name}-kv",
            vault_name=pulumi.Output.concat("kv-", dns_safe(name, 14), "-", suffix.result),
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=client.tenant_id,
                sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=7,
            ),
            tags=args.tags,
            opts=child)
        self.vault_uri = self.vault.properties.vault_uri

        values = {SECRET_API_KEY: args.api_key}
        if args.hf_token is not None:
            values[SECRET_HF_TOKEN] = args.hf_token
        self.secret_uris = {}
        for secret_name, value in values.items():
            secret = keyvault.Secret(
                f"{name}-{secret_name}",
                secret_name=secret_name,
                vault_name=self.vault.name,
                resource_group_name=args.resource_group_name,
                properties=keyvault.SecretPropertiesArgs(value=pulumi.Output.secret(value)),
                opts=child)
            self.secret_uris[secret_name] = secret.properties.secret_uri

        self.role_assignment = authorization.RoleAssignment(
            f"{name}-secrets-user",
            scope=self.vault.id,
            principal_id=self.identity.principal_id,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=pulumi.Output.concat(
                "/subscriptions/", client.subscription_id,
                "/providers/Microsoft.Authorization/roleDefinitions/", KEY_VAULT_SECRETS_USER),
            opts=child)

        self.register_outputs({"vaultUri": self.vault_uri, "identityId": self.identity.id})
