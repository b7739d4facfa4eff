"""Checks on how a stack's Key Vault is reached, shared by the three hosts' tests."""

from __future__ import annotations

from typing import Any

from conftest import unwrap

from stacks.offline import OfflineRun, Registered


def vault_network(run: OfflineRun) -> dict[str, Any]:
    """The stack's vault, its properties, and the private endpoints that connect to it."""
    [vault] = run.mocks.of_type("azure-native:keyvault:Vault")
    endpoints = [r for r in run.mocks.of_type("azure-native:network:PrivateEndpoint")
                 if any(c["privateLinkServiceId"] == vault.outputs["id"]
                        for c in r.inputs.get("privateLinkServiceConnections", []))]
    return {"vault": vault, "properties": unwrap(vault.inputs["properties"]), "endpoints": endpoints}


def assert_vault_is_public_with_purge_protection(run: OfflineRun) -> None:
    found = vault_network(run)
    properties = found["properties"]
    assert properties["enablePurgeProtection"] is True and properties["enableSoftDelete"] is True
    assert str(properties.get("publicNetworkAccess", "enabled")).lower() == "enabled"  # the SDK default
    assert found["endpoints"] == []


def assert_vault_is_private_in(run: OfflineRun, vnet: Registered) -> Registered:
    """Public access off; one private endpoint in a subnet of ``vnet``, resolved through
    privatelink.vaultcore.azure.net linked to ``vnet`` with a zone group. Returns the endpoint."""
    found = vault_network(run)
    properties = found["properties"]
    assert properties["enablePurgeProtection"] is True
    assert properties["publicNetworkAccess"].lower() == "disabled"
    assert properties["networkAcls"]["defaultAction"] == "Deny"
    [endpoint] = found["endpoints"]
    [connection] = endpoint.inputs["privateLinkServiceConnections"]
    assert connection["groupIds"] == ["vault"]  # Key Vault's private-link sub-resource
    subnet_id = endpoint.inputs["subnet"]["id"]
    [subnet] = [r for r in run.mocks.of_type("azure-native:network:Subnet") if r.outputs["id"] == subnet_id]
    assert subnet.inputs["virtualNetworkName"] == vnet.outputs["name"]
    [zone] = [r for r in run.mocks.of_type("azure-native:privatedns:PrivateZone")
              if r.inputs["privateZoneName"] == "privatelink.vaultcore.azure.net"]
    assert [r for r in run.mocks.of_type("azure-native:privatedns:VirtualNetworkLink")
            if r.inputs["privateZoneName"] == zone.outputs["name"]
            and r.inputs["virtualNetwork"]["id"] == vnet.outputs["id"]]
    [group] = [r for r in run.mocks.of_type("azure-native:network:PrivateDnsZoneGroup")
               if r.inputs["privateEndpointName"] == endpoint.outputs["name"]]
    assert [c["privateDnsZoneId"] for c in group.inputs["privateDnsZoneConfigs"]] == [zone.outputs["id"]]
    return endpoint


def dns_ready_urns(run: OfflineRun) -> set[str]:
    """URNs a vault reader must wait for when the vault is private: the zone group and the VNet link."""
    return {r.urn for r in run.mocks.of_type("azure-native:network:PrivateDnsZoneGroup")
            + run.mocks.of_type("azure-native:privatedns:VirtualNetworkLink")
            if r.name.endswith(("-kv-dns-group", "-kv-dns-link"))}


def run_recording_dependencies(monkeypatch, config: dict) -> tuple[OfflineRun, dict[str, set[str]]]:
    """Run the stack; also return, by resource name, the URNs each resource was told to wait for."""
    from conftest import run_stack
    from stacks import offline

    dependencies: dict[str, set[str]] = {}
    original = offline.RecordingMonitor.RegisterResource

    def recording(self, request):
        dependencies[request.name] = set(request.dependencies)
        return original(self, request)

    monkeypatch.setattr(offline.RecordingMonitor, "RegisterResource", recording)
    return run_stack(config), dependencies
