"""The HTTPS/API gateway every host puts in front of vLLM: one image, one set of forwarded paths.

vLLM's ``--api-key`` covers ``/v1``; other routes (``/invocations``, which serves inference,
``/metrics``, ``/tokenize``, ...) stay open (vllm serve --help=all, "--api-key"). So no host exposes
vLLM directly: a Caddy proxy forwards only these paths and answers 404 to the rest.
"""

CADDY_IMAGE = "caddy:2.10.2"  # official Docker Hub image (tag not checked against the registry here)
PROXIED_PATHS = ("/v1/*", "/health")
