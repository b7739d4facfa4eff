"""Entry point of the source-based component package ``apertus`` (provider/PulumiPlugin.yaml).

``pulumi package add <repo>/provider`` starts this file; the SDK's ``ComponentProvider`` infers the
schema of the three components from their type annotations and serves them, so their type
tokens are ``apertus:index:<Class>``. The components are the repository's ``components/``
package, one directory up.

``ApertusProvider`` adds two things the SDK's inference cannot express:
- the schema marks ``hfToken`` and ``apiKey`` (inputs) and ``apiKey`` (output) ``secret: true``,
  describes every input from the settings table (``components/serving/settings.py``, the source of
  Pulumi.yaml's declarations and docs/configuration.md too), and describes the outputs the hosts
  inherit from ``ServingComponent`` (the analyzer reads attribute docstrings from the leaf class's
  source only);
- a ``ConfigError`` from a component's args reaches the program as a one-line property error,
  not as the SDK's ``ComponentInitError`` with a Python traceback.
"""

import json
import sys
import typing
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402
from pulumi.errors import InputPropertyError  # noqa: E402
from pulumi.provider import main  # noqa: E402
from pulumi.provider.experimental.component import ComponentProvider  # noqa: E402
from pulumi.provider.provider import ConstructResult  # noqa: E402
from pulumi.provider.server import ComponentInitError  # noqa: E402

from components import AksGpuCluster, ContainerAppGpu, GpuVirtualMachine, __version__  # noqa: E402
from components.serving import ConfigError, checks, settings  # noqa: E402

PACKAGE = "apertus"
COMPONENTS = [ContainerAppGpu, GpuVirtualMachine, AksGpuCluster]
VERSION = __version__  # pyproject.toml [project] version, the package's one version
SECRET_INPUTS = ("hfToken", "apiKey", "alertWebhook")
SECRET_OUTPUTS = ("apiKey",)


class ApertusProvider(ComponentProvider):
    """The SDK's component provider with secrets and inherited docs in its schema, and one-line errors."""

    def __init__(self, components: list[type[pulumi.ComponentResource]], name: str,
                 version: str) -> None:
        super().__init__(components, name, version=version)
        schema = json.loads(self.schema)
        for component in components:
            resource = schema["resources"][f"{name}:index:{component.__name__}"]
            definition = self._component_defs[component.__name__]
            args_type = typing.get_type_hints(component.__init__)["args"]
            self._complete(resource["inputProperties"], definition.inputs_mapping, args_type, SECRET_INPUTS,
                           settings.input_descriptions(args_type._host))
            self._complete(resource["properties"], definition.outputs_mapping, component, SECRET_OUTPUTS)
        self.schema = json.dumps(schema)  # what GetSchema answers

    def _complete(self, properties: dict[str, dict], mapping: dict[str, str], owner: type,
                  secrets: tuple[str, ...], descriptions: Optional[dict[str, str]] = None) -> None:
        for schema_name, prop in properties.items():
            if schema_name in secrets:
                prop["secret"] = True
            if descriptions and schema_name in descriptions:  # inputs: the settings table
                prop["description"] = descriptions[schema_name]
            elif "description" not in prop:
                docs = (self.analyzer.get_docstring(cls, mapping[schema_name]) for cls in owner.__mro__)
                description = next((doc for doc in docs if doc), None)
                if description:
                    prop["description"] = description

    def construct(self, name: str, resource_type: str, inputs: pulumi.Inputs,
                  options: Optional[pulumi.ResourceOptions] = None) -> ConstructResult:
        try:
            return super().construct(name, resource_type, inputs, options)
        except ComponentInitError as error:
            if isinstance(error.inner, ConfigError):
                # the server answers an InputPropertyError with INVALID_ARGUMENT and the property,
                # without a stack trace (pulumi/provider/server.py: Construct)
                config_error = error.inner
                raise InputPropertyError(checks.INPUT_NAMES.get(config_error.key, config_error.key),
                                         str(config_error).removeprefix("apertus-azure:")) from None
            raise


def serve(args: list[Any]) -> None:
    main(ApertusProvider(COMPONENTS, PACKAGE, VERSION), args)


if __name__ == "__main__":
    serve(sys.argv[1:])
