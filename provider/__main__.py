"""Entry point of the source-based component package ``apertus`` (provider/PulumiPlugin.yaml).

``pulumi package add <repo>/provider`` starts this file; ``component_provider_host`` infers the
schema of the three components from their type annotations and serves them, so their type
tokens are ``apertus:index:<Class>``. The components are the repository's ``components/``
package, one directory up.
"""

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pulumi.provider.experimental import component_provider_host  # noqa: E402

from components import AksGpuCluster, ContainerAppGpu, GpuVirtualMachine  # noqa: E402

PACKAGE = "apertus"
COMPONENTS = [ContainerAppGpu, GpuVirtualMachine, AksGpuCluster]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

if __name__ == "__main__":
    component_provider_host(COMPONENTS, name=PACKAGE, version=VERSION)
