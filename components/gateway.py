"""The HTTPS/API gateway every host puts in front of vLLM: one image, one Caddyfile renderer.

vLLM's ``--api-key`` covers ``/v1``; other routes (``/invocations``, which serves inference,
``/metrics``, ``/tokenize``, ...) stay open (vllm serve --help=all, "--api-key"). So no host exposes
vLLM directly: a Caddy proxy forwards only ``/v1/*`` and ``/health`` and answers 404 to the rest.

Caddy matches paths on the decoded, cleaned path but forwards the raw request target, while vLLM
(uvicorn/Starlette) routes on the decoded, *uncleaned* path and mounts ``/metrics`` as a prefix. So
``/metrics%2F..%2Fv1%2Fx`` looks like ``/v1/x`` to Caddy and is ``/metrics/../v1/x`` to vLLM. The
gateway therefore first answers 400 to any raw request target whose path holds an encoded slash,
backslash, dot or percent, a backslash, a dot segment or ``//``: what remains means the same to
both, and only then is the path compared, case-sensitively, with the forwarded paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

CADDY_IMAGE = "caddy:2.10.2"  # official Docker Hub image (tag not checked against the registry here)
PROXIED_PATHS = ("/v1/*", "/health")
# what the OpenAI-compatible API and the health check use; CONNECT, TRACE, OPTIONS, ... end at the
# gateway (vLLM's key check skips OPTIONS)
FORWARDED_METHODS = ("GET", "POST", "HEAD")

# Raw path (before any '?') with %2f %5c %2e %25 (any case), a backslash, '//' or a dot segment
# ('/./', '/../', or '/.', '/..' ending the path). Checked on {http.request.orig_uri}: the request
# target exactly as the client sent it ({http.request.uri} and the path matchers see it decoded).
UNSAFE_TARGET = r"(?i)^[^?]*(%2f|%5c|%2e|%25|\\|//|/\.\.?(/|\?|$))"


class GatewayTls(Enum):
    """How the gateway's site gets its certificate."""

    NONE = "none"
    """Plain HTTP (Container Apps: its ingress terminates TLS)."""
    ACME = "acme"
    """A publicly trusted certificate, any ACME challenge Caddy chooses."""
    ACME_HTTP01 = "acme_http01"
    """A publicly trusted certificate through HTTP-01 only: works when 443 is narrowed by a firewall."""
    INTERNAL = "internal"
    """Caddy's own CA signs a certificate for a private IP (no public name to certify)."""


@dataclass(frozen=True)
class GatewaySite:
    """One host's gateway: where it listens, how it gets its certificate, whom it admits."""

    address: str
    """Caddy site address: ``:8080``, a public FQDN, or the private IP (``INTERNAL``)."""
    upstream: str
    """vLLM as ``host:port``."""
    tls: GatewayTls
    allowed_cidrs: tuple[str, ...] = ()
    """Sources admitted (others get 403); empty: everyone the network lets through."""
    protocols: tuple[str, ...] = ()
    """HTTP versions served (e.g. ``("h1", "h2")`` where UDP 443 is not forwarded); empty: Caddy's default."""

    def __post_init__(self) -> None:
        if not self.address or any(c.isspace() or c in "{}" for c in self.address):
            raise ValueError(f"gateway site address {self.address!r} is not one Caddyfile token")
        if self.tls is GatewayTls.NONE and not self.address.startswith(":"):
            raise ValueError(f"a plain HTTP gateway listens on a port (':8080'), not {self.address!r}")


def _forwarded_path_pattern() -> str:
    """PROXIED_PATHS as one anchored, case-sensitive regexp (Caddy's ``path`` matcher ignores case)."""
    parts = [re.escape(p[:-1]) + ".*" if p.endswith("*") else re.escape(p) for p in PROXIED_PATHS]
    return "^(" + "|".join(parts) + ")$"


def render_caddyfile(site: GatewaySite) -> str:
    """The whole Caddyfile: global options, then one site that guards, filters and forwards."""
    options = ["\tadmin off"]  # nothing reconfigures Caddy at run time; no API on localhost:2019
    address = site.address
    tls: list[str] = []
    if site.tls is GatewayTls.NONE:
        options.append("\tauto_https off")
    elif site.tls is GatewayTls.ACME_HTTP01:
        # HTTP-01 on port 80 (open to any source) still works when allowedCidrs narrows 443,
        # which TLS-ALPN-01 would not; port 80 serves challenges and a redirect to HTTPS only
        tls = ["\ttls {", "\t\tissuer acme {", "\t\t\tdisable_tlsalpn_challenge", "\t\t}", "\t}"]
    elif site.tls is GatewayTls.INTERNAL:
        # clients connecting to an IP send no SNI: default_sni picks the certificate for it (behind
        # a load balancer Caddy sees its own address, not the one clients use); nothing on port 80
        options += ["\tskip_install_trust", f"\tdefault_sni {site.address}",
                    "\tauto_https disable_redirects"]
        address = f"https://{site.address}"
        tls = ["\ttls internal"]
    if site.protocols:
        options += ["\tservers {", f"\t\tprotocols {' '.join(site.protocols)}", "\t}"]
    matchers, guards = [], []
    if site.allowed_cidrs:
        matchers.append(f"\t@outside not remote_ip {' '.join(site.allowed_cidrs)}")
        guards.append("\t\trespond @outside 403")
    # CEL raw string inside a Caddyfile backtick token: the regexp reaches RE2 unchanged
    matchers += [f'\t@unsafe expression `{{http.request.orig_uri}}.matches(r"{UNSAFE_TARGET}")`',
                 "\t@api {", f"\t\tpath_regexp {_forwarded_path_pattern()}",
                 f"\t\tmethod {' '.join(FORWARDED_METHODS)}", "\t}"]
    guards.append('\t\trespond @unsafe "bad request" 400')
    # `route` keeps the order written: Caddy would otherwise sort `respond` after `reverse_proxy`,
    # and the allow-list and the guard would answer only after the request had been forwarded
    lines = ["{", *options, "}", "", f"{address} {{", *tls, *matchers,
             "\troute {", *guards,
             f"\t\treverse_proxy @api {site.upstream}",
             '\t\trespond "not found" 404',
             "\t}", "}"]
    return "\n".join(lines) + "\n"
