"""Identity and Key Vault: the only way the HF token and API key reach a host.

With ``private_access`` (``internal: true``) the vault takes no traffic from public networks and is
reached through a private endpoint in the host's VNet, named through the
``privatelink.vaultcore.azure.net`` zone linked to that VNet. Pulumi still writes the secrets: a
``keyvault.Secret`` is a PUT on Microsoft.KeyVault/vaults/secrets through Azure Resource Manager
(the management plane), and "Key Vault firewall rules only apply to data plane operations; control
plane operations aren't subject to [them]" (Microsoft Learn, "Configure Azure Key Vault networking
settings"; Key Vault REST "Secrets - Create Or Update", Microsoft.KeyVault resource provider).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random
from pulumi_azure_native import authorization, keyvault, managedidentity, network, privatedns

from .base import dns_safe
from .serving.launch import SECRET_API_KEY, SECRET_HF_TOKEN

# Built-in role "Key Vault Secrets User": read secret contents (Azure built-in roles reference)
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
SOFT_DELETE_DAYS = 7  # the shortest retention Key Vault allows (7-90 days)
# Key Vault's private link: sub-resource "vault", zone privatelink.vaultcore.azure.net (Microsoft
# Learn, "Azure Private Endpoint private DNS zone values", Security: Key Vault)
VAULT_PRIVATE_LINK_GROUP = "vault"
VAULT_PRIVATE_DNS_ZONE = "privatelink.vaultcore.azure.net"


@dataclass(frozen=True)
class VaultPrivateAccess:
    """Where the vault's private endpoint goes: a subnet of ``vnet_id``, which resolves the vault."""

    subnet_id: pulumi.Input[str]
    vnet_id: pulumi.Input[str]


@dataclass(frozen=True)
class ModelSecretsArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    api_key: pulumi.Input[str]
    hf_token: pulumi.Input[str] | None = None
    tags: dict[str, str] | None = None
    private_access: VaultPrivateAccess | None = None
    """Set: public network access disabled, a private endpoint in that subnet instead."""


class ModelSecrets(pulumi.ComponentResource):
    """A user-assigned identity, an RBAC Key Vault holding the secrets, and read access between them."""

    identity: managedidentity.UserAssignedIdentity
    vault: keyvault.Vault
    vault_uri: pulumi.Output[str]
    secret_uris: dict[str, pulumi.Output[str]]
    """Key Vault secret name (``hf-token``, ``api-key``) -> versionless secret URI."""
    readers_wait_for: list[pulumi.Resource]
    """What a workload reading the vault must depend on: the identity's role and, for a private
    vault, the endpoint's DNS (zone group and VNet link)."""

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
                soft_delete_retention_in_days=SOFT_DELETE_DAYS,
                # a deleted vault and its secrets cannot be purged before the retention ends (and this
                # cannot be turned off again): nobody can destroy the secrets for good at once
                enable_purge_protection=True,
                **self._network_rules(args)),
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

        self.readers_wait_for = [self.role_assignment]
        if args.private_access is not None:
            self.readers_wait_for += self._private_endpoint(name, args, args.private_access)

        self.register_outputs({"vaultUri": self.vault_uri, "identityId": self.identity.id})

    @staticmethod
    def _network_rules(args: ModelSecretsArgs) -> dict:
        if args.private_access is None:
            return {}
        # "disabled": only private endpoint traffic (and trusted services, which bypass=None shuts out);
        # the SDK's own default is "enabled" (Microsoft.KeyVault VaultProperties.publicNetworkAccess)
        return {"public_network_access": "disabled",
                "network_acls": keyvault.NetworkRuleSetArgs(
                    default_action=keyvault.NetworkRuleAction.DENY,
                    bypass=keyvault.NetworkRuleBypassOptions.NONE)}

    def _private_endpoint(self, name: str, args: ModelSecretsArgs,
                          access: VaultPrivateAccess) -> list[pulumi.Resource]:
        """The vault's private endpoint, and the zone that makes its name resolve to it in the VNet."""
        child = pulumi.ResourceOptions(parent=self)
        endpoint = network.PrivateEndpoint(
            f"{name}-kv-endpoint", resource_group_name=args.resource_group_name, location=args.location,
            subnet=network.SubnetArgs(id=access.subnet_id),
            private_link_service_connections=[network.PrivateLinkServiceConnectionArgs(
                name="vault", private_link_service_id=self.vault.id,
                group_ids=[VAULT_PRIVATE_LINK_GROUP])],
            tags=args.tags, opts=child)
        zone = privatedns.PrivateZone(
            f"{name}-kv-dns", resource_group_name=args.resource_group_name, location="Global",
            private_zone_name=VAULT_PRIVATE_DNS_ZONE, tags=args.tags, opts=child)
        link = privatedns.VirtualNetworkLink(
            f"{name}-kv-dns-link", resource_group_name=args.resource_group_name,
            private_zone_name=zone.name, location="Global", registration_enabled=False,
            virtual_network=privatedns.SubResourceArgs(id=access.vnet_id), tags=args.tags, opts=child)
        # the zone group keeps the endpoint's A record in the zone as its address changes
        zone_group = network.PrivateDnsZoneGroup(
            f"{name}-kv-dns-group", resource_group_name=args.resource_group_name,
            private_endpoint_name=endpoint.name, private_dns_zone_group_name="vault",
            private_dns_zone_configs=[network.PrivateDnsZoneConfigArgs(
                name="vaultcore", private_dns_zone_id=zone.id)],
            opts=child)
        return [endpoint, link, zone_group]
