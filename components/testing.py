"""Run a Pulumi program offline, under recording mocks that answer like Azure would.

Installed as ``apertus_azure.testing`` for programs that use the components: run your program
with ``run_program(program, project, stack, config)`` and assert on ``run.resources`` and
``run.outputs`` without Azure or the Pulumi CLI. In this repository ``python -m stacks plan`` and
the tests use it too (through ``stacks.offline``), so all of them see the graph ``pulumi up``
would create. It imports nothing from ``stacks/``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pulumi
from pulumi import resource as pulumi_resource
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import rpc
from pulumi.runtime import settings
from pulumi.runtime import stack as runtime_stack
from pulumi.runtime.sync_await import _sync_await

FAKE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
FAKE_TENANT = "11111111-1111-1111-1111-111111111111"
OFFLINE_WORKSPACE_KEY = "offline-log-analytics-shared-key-0123456789=="  # a secret: tests look for leaks

_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: aks, cluster: {server: 'https://aks.example.invalid:443'}}]
contexts: [{name: aks, context: {cluster: aks, user: aks}}]
current-context: aks
users: [{name: aks, user: {token: offline}}]
"""


@dataclass
class Registered:
    """One resource as the program registered it: inputs as the engine received them."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    parent: str
    custom: bool
    outputs: dict[str, Any] = field(default_factory=dict)
    additional_secret_outputs: list[str] | None = None
    """The request's ``additionalSecretOutputs`` option as the engine received it (property names);
    None when not recorded (a resource built by hand), so ``run_policy_pack`` infers it."""


def _fake_id(typ: str, name: str) -> str:
    provider, module, kind = (typ.split(":") + ["", ""])[:3]
    return (f"/subscriptions/{FAKE_SUBSCRIPTION}/resourceGroups/rg-offline/providers/"
            f"{provider}.{module}/{kind}/{name}")


def _uuid(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


# The client id getClientConfig reports: by default an application's (a CI service principal);
# set it to the Azure CLI's app id (components.aks.USER_SIGN_IN_CLIENTS) to deploy as a person
DEPLOYER_CLIENT_ID = _uuid("deployer")


# Outputs Azure computes that the program reads back, by type token. Anything not listed
# echoes its inputs, which is what most programs read back anyway.
def _azure_outputs(name: str, inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    fqdn_label = inputs.get("dnsSettings", {}).get("domainNameLabel", name)
    location = inputs.get("location", "swedencentral")
    return {
        "azure-native:managedidentity:UserAssignedIdentity": {
            "principalId": _uuid("principal" + name), "clientId": _uuid("client" + name),
            "tenantId": FAKE_TENANT},
        "azure-native:keyvault:Vault": {
            "properties": {**inputs.get("properties", {}),
                           "vaultUri": f"https://{inputs.get('vaultName', name)}.vault.azure.net/"}},
        "azure-native:keyvault:Secret": {
            "properties": {"secretUri": f"https://vault.vault.azure.net/secrets/{inputs.get('secretName', name)}",
                           "secretUriWithVersion": f"https://vault.vault.azure.net/secrets/{inputs.get('secretName', name)}/0"}},
        "azure-native:app:ContainerApp": {
            "latestRevisionFqdn": f"{name}--rev1.offline.{location}.azurecontainerapps.io",
            "configuration": {**inputs.get("configuration", {}),
                              "ingress": {**inputs.get("configuration", {}).get("ingress", {}),
                                          "fqdn": f"{name}.offline.{location}.azurecontainerapps.io"}},
            # the input lists identity ids; Azure answers with a map id -> {principalId, clientId}
            **({"identity": {**inputs["identity"], "userAssignedIdentities": {
                identity_id: {"principalId": _uuid("principal" + identity_id),
                              "clientId": _uuid("client" + identity_id)}
                for identity_id in inputs["identity"].get("userAssignedIdentities", [])}}}
               if "identity" in inputs else {})},
        "azure-native:app:ManagedEnvironment": {
            "defaultDomain": f"offline.{location}.azurecontainerapps.io", "staticIp": "10.0.0.10"},
        "azure-native:network:PublicIPAddress": {
            "ipAddress": "203.0.113.10",
            "dnsSettings": {"domainNameLabel": fqdn_label,
                            "fqdn": f"{fqdn_label}.{location}.cloudapp.azure.com"}},
        "azure-native:network:NetworkInterface": {
            "ipConfigurations": [{**c, "privateIPAddress": "10.0.1.4"}
                                 for c in inputs.get("ipConfigurations", [])]},
        "azure-native:operationalinsights:Workspace": {"customerId": _uuid("workspace" + name)},
        "azure-native:containerservice:ManagedCluster": {
            "fqdn": f"{name}.hcp.{location}.azmk8s.io",
            "oidcIssuerProfile": {"enabled": True,
                                  "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{FAKE_TENANT}/{name}/"},
            "identityProfile": {"kubeletidentity": {"objectId": _uuid("kubelet" + name),
                                                    "clientId": _uuid("kubeletclient" + name)}},
            "nodeResourceGroup": f"MC_{name}",
            # a user-assigned cluster identity: inputs list ids, Azure answers with a map
            **({"identity": {**inputs["identity"], "userAssignedIdentities": {
                identity_id: {"principalId": _uuid("principal" + identity_id),
                              "clientId": _uuid("client" + identity_id)}
                for identity_id in inputs["identity"]["userAssignedIdentities"]}}}
               if "userAssignedIdentities" in inputs.get("identity", {}) else {})},
        "azure-native:storage:StorageAccount": {
            "primaryEndpoints": {"file": f"https://{inputs.get('accountName', name)}.file.core.windows.net/"}},
        # Azure answers with a map of identity id -> {principalId, clientId}; inputs send a list
        "azure-native:compute:VirtualMachine": {
            "identity": {**inputs.get("identity", {}), "userAssignedIdentities": {
                identity: {"principalId": _uuid("principal" + identity),
                           "clientId": _uuid("client" + identity)}
                for identity in inputs.get("identity", {}).get("userAssignedIdentities", [])}}},
    }


def _invoke_results() -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    return {
        "azure-native:authorization:getClientConfig": lambda args: {
            "clientId": DEPLOYER_CLIENT_ID, "objectId": _uuid("deployer-object"),
            "subscriptionId": FAKE_SUBSCRIPTION, "tenantId": FAKE_TENANT},
        "azure-native:containerservice:listManagedClusterUserCredentials": lambda args: {
            "kubeconfigs": [{"name": "clusterUser",
                             "value": base64.b64encode(_KUBECONFIG.encode()).decode()}]},
        "azure-native:containerservice:listManagedClusterAdminCredentials": lambda args: {
            "kubeconfigs": [{"name": "clusterAdmin",
                             "value": base64.b64encode(_KUBECONFIG.encode()).decode()}]},
        "azure-native:operationalinsights:getSharedKeys": lambda args: {
            "primarySharedKey": OFFLINE_WORKSPACE_KEY, "secondarySharedKey": OFFLINE_WORKSPACE_KEY[::-1]},
    }


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs back as outputs, add what Azure would compute, and remember everything."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._parents: dict[tuple[str, str], tuple[str, str, list[str]]] = {}
        self.stack_outputs: dict[str, Any] = {}
        self.component_outputs: dict[str, dict[str, Any]] = {}  # by URN

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        outputs = {**args.inputs, **_azure_outputs(args.name, args.inputs).get(args.typ, {})}
        if args.typ.startswith("azure-native:"):
            outputs.setdefault("name", args.name)
            outputs.setdefault("id", _fake_id(args.typ, args.name))
        if args.typ in ("random:index/randomPassword:RandomPassword",
                        "random:index/randomString:RandomString"):
            digest = hashlib.sha256(args.name.encode()).hexdigest()
            outputs.setdefault("result", (digest * 4)[:int(args.inputs.get("length", 16))])
        if args.typ == "random:index/randomUuid:RandomUuid":  # a stable UUID per logical name
            outputs.setdefault("result", str(uuid.uuid5(uuid.NAMESPACE_URL, args.name)))
        if args.typ == "kubernetes:core/v1:Service":
            outputs.setdefault("status", {"loadBalancer": {"ingress": [{"ip": "203.0.113.20"}]}})
        urn, parent, secret_outputs = self._parents.pop((args.typ, args.name), ("", "", None))
        self.resources.append(Registered(urn, args.typ, args.name, dict(args.inputs), parent,
                                         bool(args.custom), outputs, secret_outputs))
        resource_id = args.resource_id or (f"{args.name}-id" if args.custom else None)
        if args.typ.startswith("azure-native:"):
            resource_id = outputs["id"]
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        self.calls.append((args.token, dict(args.args)))
        result = _invoke_results().get(args.token)
        return (result(args.args) if result else {}), []  # the SDK iterates failures: None breaks invokes

    def note_parent(self, typ: str, name: str, urn: str, parent: str,
                    additional_secret_outputs: list[str] | None = None) -> None:
        """What the RegisterResource request says besides its inputs: URN, parent, and the resource
        option additionalSecretOutputs (which the mocks' new_resource does not see)."""
        self._parents[(typ, name)] = (urn, parent, additional_secret_outputs)

    # ---- queries used by the plan command and the tests ----
    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Registered:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return found[0]


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def unwrap_secret(value: Any) -> Any:
    """The plain value of a recorded input; secrets arrive wrapped in a marker dict."""
    if is_secret(value):
        return unwrap_secret(value["value"])
    if isinstance(value, dict):
        return {k: unwrap_secret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secret(v) for v in value]
    return value


# The SDK calls the mock monitor on executor threads, and the mock monitor gives each of those threads
# an event loop of its own (pulumi.runtime.mocks: _ensure_event_loop) that nothing closes; collected
# at interpreter exit after their self-pipe sockets, they print "Exception ignored ... Invalid file
# descriptor: -1". They are remembered here so a process that is done can close them.
_THREAD_LOOPS: set[asyncio.AbstractEventLoop] = set()


def _remember_thread_loop() -> None:
    try:
        _THREAD_LOOPS.add(asyncio.get_event_loop_policy().get_event_loop())
    except RuntimeError:  # no loop on this thread: nothing to close later
        pass


def close_thread_loops() -> None:
    """Close the loops the mock monitor made on executor threads; only once no program runs."""
    while _THREAD_LOOPS:
        loop = _THREAD_LOOPS.pop()
        if not loop.is_running() and not loop.is_closed():
            loop.close()


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor, telling the mocks each resource's URN, parent URN and
    additionalSecretOutputs."""

    def Invoke(self, request):
        try:
            return super().Invoke(request)
        finally:
            _remember_thread_loop()

    def ReadResource(self, request):
        try:
            return super().ReadResource(request)
        finally:
            _remember_thread_loop()

    def RegisterResourceOutputs(self, request):
        outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
            self.mocks.stack_outputs = outputs
        else:
            self.mocks.component_outputs[request.urn] = outputs  # what register_outputs gave
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type != "pulumi:pulumi:Stack":
            self.mocks.note_parent(request.type, request.name, urn, request.parent,
                                   list(request.additionalSecretOutputs))
        try:
            return super().RegisterResource(request)
        finally:
            _remember_thread_loop()


def install_mocks(project: str, stack: str) -> RecordingMocks:
    """Route the Pulumi SDK to recording mocks (``preview=False`` so every ``apply`` runs)."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False,
                             monitor=RecordingMonitor(mocks))
    return mocks


def set_config(project: str, values: dict[str, Any], secret_keys: set[str]) -> None:
    """Load stack config the way the engine passes it: strings, objects as JSON."""
    config = {}
    for key, value in values.items():
        full = key if ":" in key else f"{project}:{key}"
        config[full] = value if isinstance(value, str) else json.dumps(value)
    full_secret = [k if ":" in k else f"{project}:{k}" for k in secret_keys]
    pulumi.runtime.set_all_config(config, full_secret)


@dataclass
class OfflineRun:
    """What one offline run of the program registered and exported."""

    mocks: RecordingMocks
    outputs: dict[str, Any]
    secret_outputs: set[str]

    @property
    def resources(self) -> list[Registered]:
        return self.mocks.resources


@contextmanager
def _alias_specs_only(monitor: pulumi_mocks.MockMonitor) -> Iterator[None]:
    """Skip the URNs the SDK works out for every alias in ``Resource.__init__`` while a program runs.

    Each azure-native resource carries its type's aliases (tens of earlier API versions). The SDK
    turns every one into a URN up front (``self._aliases``), a chain of Outputs and tasks that makes
    up about 70 % of an offline run. Those URNs are read only by ``all_aliases``, which the SDK calls
    when the monitor lacks the ``aliasSpecs`` feature; the mock monitor has it (as the engine has),
    so the SDK sends alias specs and never reads them. tests/test_library.py checks that a run
    records the same resources with and without this."""
    if not _monitor_takes_alias_specs(monitor):  # then the SDK reads the URNs: work them out
        yield
        return
    original = pulumi_resource.collapse_alias_to_urn
    pulumi_resource.collapse_alias_to_urn = _unread_alias_urn
    try:
        yield
    finally:
        pulumi_resource.collapse_alias_to_urn = original


@contextmanager
def _no_source_positions() -> Iterator[None]:
    """Skip the Python stack the SDK captures for every resource it registers.

    For each registration the SDK walks the whole call stack (``traceback.extract_stack``, with each
    frame's source line and file URI) to send the engine a stack trace and the resource's source
    position, which the engine shows in diagnostics. The mock monitor drops both: it records neither.
    Under pytest the stack is tens of frames deep, and this was ~10 % of an offline run.
    tests/test_library.py checks that a run records the same resources with and without this."""
    original = getattr(runtime_resource, "_get_stack_trace", None)
    stack_trace = getattr(getattr(runtime_resource, "source_pb2", None), "StackTrace", None)
    if original is None or stack_trace is None:  # an SDK that sends no stack trace: nothing to skip
        yield
        return
    runtime_resource._get_stack_trace = stack_trace  # an empty trace: no frames, no source position
    try:
        yield
    finally:
        runtime_resource._get_stack_trace = original


def _monitor_takes_alias_specs(monitor: Any) -> bool:
    """Asked the way the SDK asks: the deployment info's features where the monitor has them (current
    SDKs decide from those), else SupportsFeature("aliasSpecs") (3.231)."""
    from pulumi.runtime.proto import resource_pb2
    if hasattr(monitor, "GetDeploymentInfo"):
        features = monitor.GetDeploymentInfo(None).supportedFeatures
        return resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS in features
    asked = type("SupportsFeatureRequest", (), {"id": "aliasSpecs"})()
    return bool(monitor.SupportsFeature(asked).hasSupport)


def _unread_alias_urn(alias: Any, name: str, typ: str, parent: Any) -> None:
    """Stands for an alias URN the SDK does not read when the monitor takes alias specs; keeps the
    SDK's own refusal of an Alias whose name or type is None (raised where the SDK would compute it)."""
    if isinstance(alias, pulumi.Alias):
        for field, value in (("name", alias.name), ("type_", alias.type_)):
            if value is None:
                raise Exception(f"No valid '{field}' passed in for alias.")
    return None


async def _settle() -> None:
    """``wait_for_rpcs()``, waiting for the program's outstanding outputs a round at a time.

    The SDK waits for them one completion at a time (``asyncio.wait(FIRST_COMPLETED)`` over all
    that are pending, again after each): quadratic in the thousands of Outputs of a stack. Here each
    round waits until all of them are done or one has failed, and re-raises that failure as the SDK
    does; new RPCs and outputs are picked up in the next round, as there."""
    state = settings.SETTINGS
    if not (hasattr(state, "outputs") and hasattr(state, "lock")):  # an SDK without them: its own loop
        await runtime_stack.wait_for_rpcs()
        return
    rpc_manager = settings._get_rpc_manager()
    while True:
        await runtime_stack.wait_for_rpcs(await_all_outstanding_tasks=False)
        while True:
            with state.lock:
                pending = list(state.outputs)
                state.outputs.clear()  # a set in current SDKs, a list in 3.231: both have clear()
            if not pending:
                break
            done, not_done = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                await task  # a failed output raises here, as in the SDK's loop
            with state.lock:
                for task in not_done:
                    (state.outputs.add if isinstance(state.outputs, set) else state.outputs.append)(task)
        if not rpc_manager.rpcs:
            break


# run_program sets the Pulumi SDK's mocks, config and settings for the whole process: two runs at once
# (two threads, or a program that calls run_program) would register into each other's mocks. The lock
# lives with the SDK's settings, so every copy of this module (components.testing and
# apertus_azure.testing in one checkout with an editable install) takes the same one
_RUN_LOCK = vars(settings).setdefault("_apertus_azure_run_lock", threading.Lock())


class ConcurrentRunError(RuntimeError):
    """run_program was called while another run_program was running in this process."""


def run_program(program: Callable[[], None], project: str, stack: str, config: dict[str, Any],
                secret_keys: set[str] = frozenset()) -> OfflineRun:
    """Run ``program`` as ``pulumi up`` would, against mocks; raise what the program raises.

    One run at a time per process: the SDK's mocks and settings are process-wide, so a second
    run_program while one is running (from another thread, or from inside the program) raises
    ``ConcurrentRunError`` instead of mixing the two runs' resources. Run programs one after
    another, or in separate processes (pytest-xdist workers are processes)."""
    if not _RUN_LOCK.acquire(blocking=False):
        raise ConcurrentRunError(
            "run_program is already running a program in this process (another thread, or a program "
            "that calls run_program): the Pulumi SDK's mocks are process-wide, so two runs would mix "
            "their resources; run them one after another, or in separate processes")
    try:
        return _run_program(program, project, stack, config, secret_keys)
    finally:
        _RUN_LOCK.release()


def _quiet_about_raised_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A run that failed on a ``RunError`` (a ConfigError) leaves the futures of every resource that
    waited for the failed value holding that error; run_program raised it already, so asyncio's
    "Future exception was never retrieved" report of each, when a later run frees them, is dropped.
    Every other report goes to asyncio's default handler."""
    if (context.get("message") == "Future exception was never retrieved"
            and isinstance(context.get("exception"), pulumi.RunError)):
        return
    loop.default_exception_handler(context)


def _run_program(program: Callable[[], None], project: str, stack: str, config: dict[str, Any],
                 secret_keys: set[str]) -> OfflineRun:
    mocks = install_mocks(project, stack)
    set_config(project, config, set(secret_keys))
    # what an earlier run left behind (set_mocks keeps the SDK's output set and RPC manager): a failed
    # output stays pending there, and its error would be raised again in this run
    with settings.SETTINGS.lock:
        for left in list(settings.SETTINGS.outputs):
            if left.done() and not left.cancelled():
                left.exception()  # retrieved: asyncio would log it as never retrieved otherwise
        settings.SETTINGS.outputs.clear()
    settings._get_rpc_manager().clear()

    async def in_stack() -> None:
        loop = asyncio.get_running_loop()  # the one _sync_await runs (it makes one when there is none)
        if loop.get_exception_handler() is None:
            loop.set_exception_handler(_quiet_about_raised_errors)
        # what run_in_stack does, minus waiting for an engine's shutdown signal
        settings.set_root_resource(None)  # set_mocks made and finished one already
        # Stack(func) runs the program, then registers the stack's outputs: the one form every
        # SDK release takes (3.231 requires func; later releases keep it for direct callers)
        runtime_stack.Stack(program)
        await _settle()

    try:
        with _alias_specs_only(settings.get_monitor()), _no_source_positions():
            _sync_await(in_stack())
    except Exception as error:
        error.registered = list(mocks.resources)  # what was registered before it failed
        raise
    finally:
        # the run's config leaves with it: code outside a run (the docs generator, a test) reading
        # pulumi.Config would otherwise see the last run's values, a failed run's bad one included
        pulumi.runtime.set_all_config({}, [])
    outputs = {key: unwrap_secret(value) for key, value in mocks.stack_outputs.items()}
    secret = {key for key, value in mocks.stack_outputs.items() if is_secret(value)}
    return OfflineRun(mocks, outputs, secret)


# ---------------------------------------------------------------- the policy pack, offline

@dataclass(frozen=True)
class PolicyViolation:
    """One violation the policy pack reports: which policy, on which resource (None: the stack)."""

    policy: str
    resource: str | None
    message: str


DEFAULT_POLICY_PACK = Path(__file__).resolve().parents[1] / "policy"


def load_policy_pack(pack_dir: str | os.PathLike[str] | None = None) -> Any:
    """The ``apertus_policies`` package of a policy pack directory (this repository's policy/ by
    default), imported without building the PolicyPack (that would start the analyzer server)."""
    import importlib
    import sys

    directory = str(pack_dir or DEFAULT_POLICY_PACK)
    if not (Path(directory) / "apertus_policies" / "__init__.py").is_file():
        # pip install ships the components, not the pack: the pack lives in a checkout's policy/
        raise FileNotFoundError(f"no policy pack in {directory}: pass pack_dir=<a checkout of "
                                "apertus-azure>/policy (the pack is not installed with the package)")
    if directory not in sys.path:
        sys.path.insert(0, directory)
    return importlib.import_module("apertus_policies")


def _config_per_policy(config: dict[str, Any] | None, names: list[str]) -> Callable[[str], Any]:
    """Each policy's config from a ``--policy-pack-config``-shaped dict (keys: policy names and
    "all"), or the same dict for all; a mix, or an unknown policy name, is an error."""
    config = config or {}
    named = [key for key in config if key in names or key == "all"]
    # a dict under a name that is no policy is a misspelt policy, not a shorthand setting
    unknown = sorted(key for key in config if key not in named
                     and (named or isinstance(config[key], dict)))
    if unknown:
        import difflib
        near = {key: difflib.get_close_matches(key, names, n=1, cutoff=0.6) for key in unknown}
        hints = "".join(f"; did you mean '{match[0]}' for '{key}'?" for key, match in near.items() if match)
        raise ValueError(f"policy config keys {unknown} are neither policy names nor 'all'{hints}; the pack's "
                         f"policies: {', '.join(names)}")
    if not named:
        return lambda name: config or None
    return lambda name: {**(config.get("all") or {}), **(config.get(name) or {})} or None


def secret_marked_options(options: Any, inputs: Any) -> Any:
    """``options`` with additional_secret_outputs naming the inputs that hold a secret: the engine
    hands the pack the resource's additionalSecretOutputs; where that was not recorded (a resource
    built by hand), an input given as a secret stands for it (components/alerts.py does both for
    webhookReceivers)."""
    def holds_secret(value: Any) -> bool:
        return is_secret(value) or (isinstance(value, dict) and any(holds_secret(v) for v in value.values())) \
            or (isinstance(value, list) and any(holds_secret(v) for v in value))
    marked = [key for key, value in inputs.items() if holds_secret(value)] if isinstance(inputs, dict) else []
    if not marked:
        return options
    return _with_secret_outputs(options, [*options.additional_secret_outputs, *marked])


def _with_secret_outputs(options: Any, names: list[str]) -> Any:
    from pulumi_policy import PolicyResourceOptions
    return PolicyResourceOptions(protect=options.protect, ignore_changes=options.ignore_changes,
                                 delete_before_replace=options.delete_before_replace, aliases=options.aliases,
                                 custom_timeouts=options.custom_timeouts, additional_secret_outputs=names)


def resource_options(options: Any, resource: Registered) -> Any:
    """The options the engine hands the pack for ``resource``: the additionalSecretOutputs its
    RegisterResource request carried, as recorded; inferred from its secret inputs only when nothing
    was recorded (``secret_marked_options``)."""
    if resource.additional_secret_outputs is None:
        return secret_marked_options(options, resource.inputs)
    return _with_secret_outputs(options, list(resource.additional_secret_outputs))


def run_policy_pack(run: OfflineRun | list[Registered], config: dict[str, Any] | None = None,
                    pack_dir: str | os.PathLike[str] | None = None,
                    policies: list[Any] | None = None) -> list[PolicyViolation]:
    """Run the policy pack over an offline run of *your* program, the way ``pulumi preview
    --policy-pack policy`` would: resource policies see each resource's inputs, stack policies
    every resource's outputs, secrets as plain values (pulumi-policy 1.21 ``Analyze``), behind the
    pack's unknown-checking proxy, each with the additionalSecretOutputs its request carried.
    ``config`` is the policy config in the shape of a ``--policy-pack-config`` file, per policy
    name (``{"closed-when-internal": {"internal": True}}``, ``"all"`` for every policy), or one dict
    for every policy (``{"internal": True}``).
    Needs ``pulumi-policy`` (policy/requirements.txt). An empty list means the pack passes."""
    from pulumi_policy import (PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions,
                               ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs)
    from pulumi_policy.proxy import unknown_checking_proxy

    resources = run.resources if isinstance(run, OfflineRun) else list(run)
    policies = policies if policies is not None else load_policy_pack(pack_dir).PACK_POLICIES
    options = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                    custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])
    found: list[PolicyViolation] = []
    per_policy = _config_per_policy(config, [policy.name for policy in policies])
    # each resource's plain inputs, outputs and options, read once for every policy (pure functions of the
    # recorded resource; each policy still gets proxies of its own, as the engine hands each a fresh request)
    inputs = [unwrap_secret(resource.inputs) for resource in resources]
    outputs: list[Any] = []
    marked = [resource_options(options, resource) for resource in resources]
    for policy in policies:
        config = per_policy(policy.name)

        def report(message: str, urn: str | None = None, policy=policy) -> None:
            found.append(PolicyViolation(policy.name, urn or current.get("urn"), message))

        current: dict[str, Any] = {}
        if isinstance(policy, ResourceValidationPolicy):
            for index, resource in enumerate(resources):
                current["urn"] = resource.urn or resource.name
                policy.validate(ResourceValidationArgs(
                    resource.type, unknown_checking_proxy(inputs[index]), resource.urn,
                    resource.name, marked[index], None, config), report)
        else:
            current.clear()
            outputs = outputs or [unwrap_secret(resource.outputs) for resource in resources]
            stack = [PolicyResource(r.type, unknown_checking_proxy(outputs[index]), r.urn, r.name,
                                    marked[index], None, None, [], {}) for index, r in enumerate(resources)]
            policy.validate(StackValidationArgs(stack, config), report)
    return found
