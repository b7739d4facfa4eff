"""Gaps a sixth review of the policy pack found (pack 0.7.0): an internal stack published through Front Door /
CDN, API Management or a Private Link Service open to every subscription (closed-when-internal), and
credentials in plain places the secrets policy did not read (route header modifiers, KEDA triggers, API
Management named values, App Configuration, pulumi-command, metric alerts, Application Gateway rewrites) or in
action group receiver URLs not marked secret. Each case runs the whole pack over hand-built resources."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as UNKNOWN

from components.testing import Registered, run_policy_pack
from test_policy_gaps import CADDY, CLOSED, INTERNAL, INTERNAL_LB, LOCKED, POLICY_DIR, SECRETS, SERVICE, judge, of, \
    workload
from test_shared_rules import TOKEN

VNET = ("azure-native:network:VirtualNetwork", "vnet", {"tags": INTERNAL})
PUBLIC_VNET = ("azure-native:network:VirtualNetwork", "vnet", {"tags": {"apertus-exposure": "public"}})
PLS = "azure-native:network:PrivateLinkService"
APIM = "azure-native:apimanagement:ApiManagementService"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
# a random-looking key made without a key-shaped literal: the letters and digits of the token, reversed
KEY = TOKEN[3:][::-1] + "Xy7Qp2"

FRONT_DOOR = [
    ("azure-native:cdn:Profile", "afd", {"sku": {"name": "Premium_AzureFrontDoor"}, "location": "global"}),
    ("azure-native:cdn:AFDEndpoint", "ep", {"profileName": "afd", "enabledState": "Enabled"}),
    ("azure-native:cdn:AFDOrigin", "origin", {"profileName": "afd", "originGroupName": "og", "hostName": "10.0.0.4",
                                              "sharedPrivateLinkResource": {"privateLink": {"id": "pls"},
                                                                            "privateLinkLocation": "westeurope"}}),
]


# ---------------------------------------------------------------- 1. published by an Azure service


def test_internal_stack_refuses_front_door_and_its_private_link_origin():
    found = judge(VNET, *FRONT_DOOR)
    for name in ("afd", "ep", "origin"):
        assert any("Front Door" in m for m in of(found, CLOSED, name)), (name, found)
    assert any("sharedPrivateLinkResource" in m for m in of(found, CLOSED, "origin"))


def test_public_stack_keeps_front_door():
    found = judge(PUBLIC_VNET, *FRONT_DOOR)
    assert [f for f in found if f[0] == CLOSED] == []


@pytest.mark.parametrize("mode", ["External", "None", None, UNKNOWN])
def test_internal_stack_refuses_api_management_outside_internal_mode(mode):
    props = {"sku": {"name": "Developer", "capacity": 1}, **({"virtualNetworkType": mode} if mode else {})}
    found = judge(VNET, (APIM, "apim", props))
    assert any("virtualNetworkType" in m and "Internal" in m for m in of(found, CLOSED, "apim")), found


def test_internal_stack_keeps_api_management_in_internal_mode():
    found = judge(VNET, (APIM, "apim", {"virtualNetworkType": "Internal", "sku": {"name": "Developer", "capacity": 1}}))
    assert of(found, CLOSED, "apim") == []


@pytest.mark.parametrize("field", ["visibility", "autoApproval"])
@pytest.mark.parametrize("subscriptions", [["*"], [SUBSCRIPTION, "*"], UNKNOWN, [UNKNOWN]])
def test_internal_stack_refuses_a_private_link_service_open_to_every_subscription(field, subscriptions):
    found = judge(VNET, (PLS, "pls", {"tags": INTERNAL, field: {"subscriptions": subscriptions}}))
    assert any(f"{field}.subscriptions" in m for m in of(found, CLOSED, "pls")), found


def test_internal_stack_keeps_a_private_link_service_for_one_named_subscription():
    found = judge(VNET, (PLS, "pls", {"tags": INTERNAL, "visibility": {"subscriptions": [SUBSCRIPTION]},
                                      "autoApproval": {"subscriptions": [SUBSCRIPTION]}}))
    assert of(found, CLOSED, "pls") == []


def _edge(annotations: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    return SERVICE, "edge", {"metadata": {"name": "edge", "namespace": "llm", "annotations": {**INTERNAL_LB, **annotations}},
                             "spec": {"type": "LoadBalancer", "selector": {"app": "gateway"},
                                      "ports": [{"port": 443, "targetPort": 443}]}}


GATEWAY = workload("gateway", [{"name": "caddy", "image": CADDY, "ports": [{"containerPort": 443}],
                                "securityContext": LOCKED}])
PLS_CREATE = "service.beta.kubernetes.io/azure-pls-create"


@pytest.mark.parametrize("annotation", ["service.beta.kubernetes.io/azure-pls-visibility",
                                        "service.beta.kubernetes.io/azure-pls-auto-approval"])
def test_internal_stack_refuses_a_service_that_makes_a_private_link_service_for_everyone(annotation):
    found = judge(VNET, GATEWAY, _edge({PLS_CREATE: "true", annotation: "*"}))
    assert any(PLS_CREATE in m and annotation in m for m in of(found, CLOSED, "edge")), found


def test_internal_stack_keeps_a_service_private_link_for_one_subscription():
    found = judge(VNET, GATEWAY, _edge({PLS_CREATE: "true",
                                        "service.beta.kubernetes.io/azure-pls-visibility": SUBSCRIPTION}))
    assert of(found, CLOSED, "edge") == []


# ---------------------------------------------------------------- 2. secrets in places now read

HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"


def _route(value: str, on_backend: bool = False) -> dict[str, Any]:
    modifier = [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "Authorization",
                                                                                     "value": value}]}}]
    backend = {"name": "gateway", "port": 443, **({"filters": modifier} if on_backend else {})}
    return {"metadata": {"name": "r", "namespace": "llm"},
            "spec": {"rules": [{**({} if on_backend else {"filters": modifier}), "backendRefs": [backend]}]}}


def _cases(value: str) -> dict[str, tuple[str, dict[str, Any], str]]:
    """label: (type, props, a word of where the message says it sits)."""
    return {
        "gateway-api-rule": (HTTP_ROUTE, _route(f"Bearer {value}"), "requestHeaderModifier"),
        "gateway-api-backend": (HTTP_ROUTE, _route(f"Bearer {value}", on_backend=True), "backendRefs[0]"),
        "istio": ("kubernetes:networking.istio.io/v1:VirtualService",
                  {"metadata": {"name": "r"}, "spec": {"http": [{"headers": {"request": {"set": {
                      "Authorization": f"Bearer {value}"}}}, "route": [{"destination": {"host": "gateway"}}]}]}},
                  "headers.request.set"),
        "traefik": ("kubernetes:traefik.io/v1alpha1:Middleware",
                    {"metadata": {"name": "m"}, "spec": {"headers": {"customRequestHeaders": {
                        "Authorization": f"Bearer {value}"}}}}, "customRequestHeaders"),
        "app-gateway-rewrite": ("azure-native:network:ApplicationGateway",
                                {"rewriteRuleSets": [{"name": "rs", "rewriteRules": [{"name": "auth", "actionSet": {
                                    "requestHeaderConfigurations": [{"headerName": "Authorization",
                                                                     "headerValue": f"Bearer {value}"}]}}]}]},
                                "requestHeaderConfigurations"),
        "keda": ("kubernetes:keda.sh/v1alpha1:ScaledObject",
                 {"metadata": {"name": "s"}, "spec": {"scaleTargetRef": {"name": "vllm"}, "triggers": [
                     {"type": "metrics-api", "metadata": {"url": "http://vllm:8000/metrics", "token": value}}]}},
                 "metadata token"),
        "keda-job": ("kubernetes:keda.sh/v1alpha1:ScaledJob",
                     {"metadata": {"name": "s"}, "spec": {"triggers": [
                         {"type": "prometheus", "metadata": {"bearerToken": value}}]}}, "metadata bearerToken"),
        "apim-named-value": ("azure-native:apimanagement:NamedValue",
                             {"displayName": "vllm-key", "value": value, "secret": False}, "secret not true"),
        "apim-named-value-unset": ("azure-native:apimanagement:NamedValue",
                                   {"displayName": "vllm-key", "value": value}, "secret not true"),
        "metric-alert": ("azure-native:monitor:MetricAlert",
                         {"description": f"token {value}", "scopes": [], "enabled": True}, "description"),
        "app-configuration": ("azure-native:appconfiguration:KeyValue",
                              {"configStoreName": "c", "keyValueName": "hf", "value": value}, "value of key hf"),
        "command-create": ("command:local:Command", {"create": f"huggingface-cli login --token {value}"}, "create"),
        "command-delete": ("command:remote:Command", {"create": "echo", "delete": f"curl -H 'x: {value}'"},
                           "delete"),
        "command-environment": ("command:remote:Command", {"create": "echo", "environment": {"HF_TOKEN": value}},
                                "environment.HF_TOKEN"),
    }


@pytest.mark.parametrize("label", sorted(_cases("x")))
@pytest.mark.parametrize("value", ["token", "key"])
def test_a_credential_in_a_newly_read_place_is_refused(label, value):
    kind, props, where = _cases(TOKEN if value == "token" else KEY)[label]
    messages = of(judge((kind, "x", props)), SECRETS, "x")
    assert any(where in m for m in messages), messages
    assert not any(TOKEN[3:20] in m or KEY[:20] in m for m in messages)


@pytest.mark.parametrize("label", sorted(_cases("x")))
def test_plain_words_in_a_newly_read_place_pass(label):
    kind, props, _ = _cases("see the gateway's key in Key Vault")[label]
    assert of(judge((kind, "x", props)), SECRETS, "x") == []


def test_an_apim_named_value_marked_secret_passes():
    assert of(judge(("azure-native:apimanagement:NamedValue", "x",
                     {"displayName": "vllm-key", "value": KEY, "secret": True})), SECRETS, "x") == []


ACTION_GROUP = "azure-native:monitor:ActionGroup"
RECEIVERS = {
    "logicAppReceivers": {"name": "la", "resourceId": "/x", "callbackUrl": "https://logic.example/invoke"},
    "azureFunctionReceivers": {"name": "fn", "functionAppResourceId": "/x", "functionName": "f",
                               "httpTriggerUrl": "https://f.example/api/f"},
}


def _group(field: str, marked: list[str] | None, value: Any = None) -> list[tuple[str, str, str]]:
    props = {"groupShortName": "x", "enabled": True, field: [RECEIVERS[field]] if value is None else value}
    group = Registered(urn=f"urn:pulumi:dev::team::{ACTION_GROUP}::ag", type=ACTION_GROUP, name="ag", inputs=props,
                       parent="", custom=True, outputs=props, additional_secret_outputs=marked)
    return [(v.policy, str(v.resource).rsplit("::", 1)[-1], v.message)
            for v in run_policy_pack([group], pack_dir=POLICY_DIR)]


@pytest.mark.parametrize("field", sorted(RECEIVERS))
def test_an_action_group_receiver_url_not_marked_secret_is_refused(field):
    messages = of(_group(field, []), SECRETS, "ag")
    assert any("not marked secret" in m and field in m for m in messages), messages
    messages = of(_group(field, [], value=UNKNOWN), SECRETS, "ag")
    assert any("not known yet" in m and field in m for m in messages), messages


@pytest.mark.parametrize("field", sorted(RECEIVERS))
def test_an_action_group_receiver_url_marked_secret_passes(field):
    assert of(_group(field, [field]), SECRETS, "ag") == []
    assert of(_group(field, ["webhookReceivers"]), SECRETS, "ag") != []


@pytest.mark.parametrize("value, public", [("true", False), ("True", True), ("TRUE", True), (" true", True)])
def test_the_internal_load_balancer_annotation_counts_only_as_azure_reads_it(value, public):
    # cloud-provider-azure's requiresInternalLoadBalancer: `l == "true"`; any other spelling gets a public one
    service = ("kubernetes:core/v1:Service", "edge", {
        "metadata": {"name": "edge", "namespace": "llm", "annotations": {
            "service.beta.kubernetes.io/azure-load-balancer-internal": value}},
        "spec": {"type": "LoadBalancer", "selector": {"app": "db"}, "ports": [{"port": 443}]}})
    found = of(judge(("azure-native:resources:ResourceGroup", "rg", {"tags": INTERNAL}), service), CLOSED, "edge")
    assert bool(found) is public, found
