"""What a deployment is watched for, who hears of it, and what watching costs: plain data and checks.

The alert catalogue (``ALERTS``) is the one list the three hosts build their rules from, the runbook
(docs/runbooks.md) has a section per entry, the plan prints it, and the tests check all three agree.
Thresholds users tune have defaults derived from the serving plan (``AlertSettings``); the monthly
monitoring cost is an estimate with a source per figure. No Pulumi resource module is imported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from . import checks
from .errors import ConfigError, redact
from .pricing import PRICES

RUNBOOK = "docs/runbooks.md"

# Default time-to-first-token SLO: the MLPerf Inference datacenter "server" scenario bounds TTFT at
# 2 s for its Llama 2 70B and Llama 3.1 8B benchmarks (mlcommons/inference_policies,
# inference_rules.adoc, "latency constraints"), the same model sizes as Apertus 70B and 8B.
DEFAULT_TTFT_SLO_SECONDS = 2.0
# vLLM's own default max_num_seqs (vllm/config/scheduler.py, DEFAULT_MAX_NUM_SEQS = 256 since v0.9):
# the most requests one replica runs at once; beyond it, and beyond the KV cache, requests wait.
VLLM_MAX_NUM_SEQS = 256
KV_CACHE_ALERT_FRACTION = 0.95  # issue 17: "KV-cache usage above 95% for 10 minutes"
SERVER_ERROR_ALERT_PERCENT = 5.0  # 5xx share of requests over 5 minutes that pages (SRE book "golden signals")
TTFT_PERCENTILE = 0.95
# Availability test: every 5 minutes from 3 locations, alert when 2 fail (issue 17; Microsoft's
# guidance for availability alerts: "failed locations >= 2" with five locations or fewer,
# learn.microsoft.com/azure/azure-monitor/app/availability-alerts)
AVAILABILITY_FREQUENCY_SECONDS = 300
AVAILABILITY_TIMEOUT_SECONDS = 30
AVAILABILITY_FAILED_LOCATIONS = 2
# Standard-test location ids in Europe and the US (learn.microsoft.com/azure/azure-monitor/app/
# availability "Location population tags": West Europe emea-nl-ams-azr, North Europe emea-gb-db3-azr,
# France Central emea-fr-pra-edge, UK South emea-ru-msa-edge, East US us-va-ash-azr)
AVAILABILITY_LOCATIONS = ("emea-nl-ams-azr", "emea-gb-db3-azr", "emea-fr-pra-edge")
# Container Apps scale an idle app in after 300 s ("cooldownPeriod" default, learn.microsoft.com/
# azure/container-apps/scale-app): a request every 5 min from 3 places (one every ~100 s) would keep
# a GPU replica running forever, so a scale-to-zero app gets no availability test (see the plan).
CONTAINERAPP_COOLDOWN_SECONDS = 300

ACTION_GROUP_ID = re.compile(
    r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w.()]{1,90}/providers/"
    r"microsoft\.insights/actionGroups/[-\w.]{1,260}", re.IGNORECASE)
WORKSPACE_ID = re.compile(
    r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/(?P<group>[-\w.()]{1,90})/providers/"
    r"Microsoft\.OperationalInsights/workspaces/(?P<name>[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9])",
    re.IGNORECASE)
# an address as Azure's action group email receiver takes it: one @, a dotted domain, no spaces
EMAIL = re.compile(r"[^@\s,;<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
# a user-given queueAlertThreshold above this is a typo: the largest queue a deployment here can hold
# is vLLM's max_num_seqs (256) waiting per replica at Container Apps' 1,000 replicas = 256,000
QUEUE_ALERT_THRESHOLD_MAX = 1_000_000
MAX_EMAILS = 1000  # action groups take up to 1,000 email receivers (Azure Monitor service limits)


@dataclass(frozen=True)
class AlertSpec:
    """One alert of the catalogue: what it watches, how loud, and its runbook section."""

    key: str
    title: str
    severity: int  # Azure Monitor: 0 critical .. 4 verbose
    window_minutes: int
    anchor: str  # docs/runbooks.md#<anchor>
    hosts: tuple[str, ...]
    signal: dict[str, str]  # host -> where the signal comes from

    def description(self, threshold: str) -> str:
        """The one-line description every rule carries: what, the threshold, the runbook."""
        return f"{self.title} ({threshold}); runbook: {RUNBOOK}#{self.anchor}"


ALL_HOSTS = ("containerapp", "vm", "aks")
ALERTS: dict[str, AlertSpec] = {spec.key: spec for spec in (
    AlertSpec("endpoint-down", "Endpoint down: the /health availability test fails", 1, 5,
              "endpoint-down", ALL_HOSTS,
              {host: "Application Insights standard availability test" for host in ALL_HOSTS}),
    AlertSpec("server-errors", "Server errors: share of 5xx answers", 2, 5, "server-errors", ALL_HOSTS,
              {"containerapp": "platform metric Requests by statusCodeCategory",
               "vm": "vLLM http_requests_total via the metrics log (Syslog)",
               "aks": "managed Prometheus http_requests_total"}),
    AlertSpec("engine-dead", "vLLM engine dead or restarting", 1, 5, "engine-dead", ALL_HOSTS,
              {"containerapp": "console logs (ContainerAppConsoleLogs_CL) and RestartCount",
               "vm": "the apertus-vllm unit's journal (Syslog)",
               "aks": "ContainerLogV2 and kube-state-metrics restarts"}),
    AlertSpec("queue-backlog", "Requests waiting in vLLM's queue", 2, 5, "queue-backlog", ("vm", "aks"),
              {"vm": "vllm:num_requests_waiting via the metrics log", "aks": "managed Prometheus"}),
    AlertSpec("kv-cache-full", "KV cache nearly full", 2, 10, "kv-cache-full", ("vm", "aks"),
              {"vm": "vllm:kv_cache_usage_perc via the metrics log", "aks": "managed Prometheus"}),
    AlertSpec("ttft-slo", "p95 time to first token above the SLO", 2, 10, "ttft-slo", ("vm", "aks"),
              {"vm": "vllm:time_to_first_token_seconds via the metrics log",
               "aks": "managed Prometheus"}),
    AlertSpec("gpu-memory", "GPU memory near full", 2, 10, "gpu-memory", ("vm", "aks"),
              {"vm": "nvidia-smi via the metrics log", "aks": "DCGM exporter (DCGM_FI_DEV_FB_*)"}),
    AlertSpec("gpu-xid", "GPU XID error", 1, 5, "gpu-xid", ("vm", "aks"),
              {"vm": "kernel log NVRM: Xid (Syslog)", "aks": "DCGM exporter (DCGM_FI_DEV_XID_ERRORS)"}),
    AlertSpec("no-ready-replica", "No ready replica while minReplicas > 0", 1, 5, "no-ready-replica",
              ALL_HOSTS,
              {"containerapp": "platform metric Replicas", "vm": "VM Availability Metric (platform)",
               "aks": "kube-state-metrics kube_deployment_status_replicas_available"}),
    AlertSpec("spot-eviction", "Spot capacity evicted", 2, 5, "spot-eviction", ("vm", "aks"),
              {"vm": "activity log, Resource Health events of the VM",
               "aks": "Kubernetes events: PreemptScheduled on spot nodes"}),
    AlertSpec("spot-fallback", "Fell back to on-demand GPU nodes", 3, 15, "spot-fallback", ("aks",),
              {"aks": "Kubernetes events: cluster autoscaler TriggeredScaleUp of the on-demand pool"}),
)}

# The Azure rule kinds each catalogue entry becomes per host (what bills: log rules cost more;
# activity log alerts are free): "metric" (metric alert or a Prometheus rule), "log", "activity"
_LOG_ON_VM = {key: ("log",) for key in ("server-errors", "engine-dead", "queue-backlog", "kv-cache-full",
                                        "ttft-slo", "gpu-memory", "gpu-xid")}
RULE_KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "containerapp": {"endpoint-down": ("metric",), "server-errors": ("metric",),
                     "engine-dead": ("metric", "log"), "no-ready-replica": ("metric",)},
    "vm": {"endpoint-down": ("metric",), **_LOG_ON_VM, "no-ready-replica": ("metric",),
           "spot-eviction": ("activity",)},
    "aks": {"endpoint-down": ("metric",), "server-errors": ("metric",), "engine-dead": ("metric", "log"),
            "queue-backlog": ("metric",), "kv-cache-full": ("metric",), "ttft-slo": ("metric",),
            "gpu-memory": ("metric",), "gpu-xid": ("metric",), "no-ready-replica": ("metric",),
            "spot-eviction": ("log",), "spot-fallback": ("log",)},
}

# The alert each threshold belongs to: the plan lists a threshold only when its alert exists here
THRESHOLD_ALERTS = {"ttftSloSeconds": "ttft-slo", "queueAlertThreshold": "queue-backlog",
                    "kvCacheAlertPercent": "kv-cache-full", "gpuMemoryAlertPercent": "gpu-memory",
                    "serverErrorAlertPercent": "server-errors"}

# vLLM signals Container Apps cannot export: the platform has no Prometheus scraping of an app, and
# its GPU profiles publish no GPU metric (Supported metrics for Microsoft.App/containerapps lists none)
CONTAINERAPP_MISSING = ("vllm:num_requests_waiting / running", "vllm:kv_cache_usage_perc",
                        "time to first token and inter-token latency", "generation tokens",
                        "GPU utilization and memory")


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go and when they fire, checked; the webhook's value is never held here."""

    enabled: bool = True
    emails: tuple[str, ...] = ()
    webhook: bool = False
    action_group_id: str | None = None
    ttft_slo_seconds: float = DEFAULT_TTFT_SLO_SECONDS
    queue_alert_threshold: int = 1
    gpu_memory_alert_fraction: float = 0.95
    notes: tuple[str, ...] = field(default=())  # where each default came from

    @property
    def destination(self) -> str:
        """Where the alerts go, in words; never the webhook's URL, nor a token-shaped value (redact)."""
        if not self.enabled:
            return "nowhere: alerts are off (alerts: false)"
        if self.action_group_id:
            return redact(f"the existing action group {self.action_group_id}")
        parts = [f"email to {', '.join(self.emails)}"] if self.emails else []
        if self.webhook:
            parts.append("the webhook in alertWebhook (secret)")
        return redact(" and ".join(parts)) if parts else "no one"

    @property
    def has_destination(self) -> bool:
        """An action group, an address or a webhook is given (used only while alerts are on)."""
        return bool(self.action_group_id or self.emails or self.webhook)

    @property
    def reaches_someone(self) -> bool:
        return self.enabled and self.has_destination


def default_queue_alert_threshold(plan: Any, max_replicas: int, queue_depth_target: int | None) -> tuple[int, str]:
    """Requests waiting that mean the deployment cannot keep up, and why that number."""
    if queue_depth_target is not None:
        # AKS: KEDA adds a replica per queue_depth_target waiting; more than that at max replicas is
        # a backlog scaling can no longer absorb
        value = queue_depth_target * max_replicas
        return value, (f"queueAlertThreshold {value} = queueDepthTarget {queue_depth_target} x "
                       f"maxReplicas {max_replicas} (KEDA cannot add more)")
    # one replica runs at most max_num_seqs requests, fewer when the KV cache holds fewer full-context
    # sequences; a backlog as large as a whole batch again means users wait a batch's time or more
    batch = max(1, min(VLLM_MAX_NUM_SEQS, plan.max_concurrent_sequences))
    value = batch * max_replicas
    return value, (f"queueAlertThreshold {value} = {batch} requests one replica runs at once "
                   f"(min of vLLM's max_num_seqs {VLLM_MAX_NUM_SEQS} and the KV cache's "
                   f"{plan.max_concurrent_sequences} full-context sequences) x maxReplicas {max_replicas}")


def default_gpu_memory_fraction(gpu_memory_utilization: float) -> float:
    """vLLM holds its share from the start; halfway into the rest is beyond anything it should use."""
    return round(gpu_memory_utilization + (1 - gpu_memory_utilization) / 2, 3)


def check_email(address: Any) -> str:
    if not isinstance(address, str) or EMAIL.fullmatch(address.strip()) is None:
        raise ConfigError("alertEmails", address, "is not an email address",
                          "give addresses like [oncall@example.com]")
    return address.strip()


def check_webhook_url(url: str) -> str:
    """An https URL; the error never shows it (a Teams or Slack webhook URL is a credential)."""
    parsed = urlparse(url.strip())
    if parsed.scheme != "https" or not parsed.hostname or any(c.isspace() for c in url.strip()):
        raise ConfigError("alertWebhook", None, "is not an https:// URL (value not shown: webhook "
                          "URLs carry their own credential)",
                          "pulumi config set --secret alertWebhook https://<your incoming webhook>",
                          args_fix="pass the incoming webhook's https:// URL as a secret, e.g. "
                          "pulumi.Config().require_secret('alertWebhook')")
    return url.strip()


def check_action_group_id(value: Any) -> str:
    text = checks.text("actionGroupId", value).strip()
    if ACTION_GROUP_ID.fullmatch(text) is None:
        raise ConfigError("actionGroupId", text, "is not an action group's resource id",
                          "give /subscriptions/<id>/resourceGroups/<group>/providers/"
                          "microsoft.insights/actionGroups/<name> (az monitor action-group show --query id)")
    return text


def check_workspace_id(value: Any) -> str:
    text = checks.text("logAnalyticsWorkspaceId", value).strip()
    if WORKSPACE_ID.fullmatch(text) is None:
        raise ConfigError("logAnalyticsWorkspaceId", text, "is not a workspace's resource id",
                          "give /subscriptions/<id>/resourceGroups/<group>/providers/"
                          "Microsoft.OperationalInsights/workspaces/<name> (az monitor log-analytics "
                          "workspace show --query id)")
    return text


def workspace_parts(workspace_id: str) -> tuple[str, str]:
    """(resource group, name) of a checked workspace id."""
    match = WORKSPACE_ID.fullmatch(workspace_id)
    return match.group("group"), match.group("name")


def alert_settings(*, plan: Any, alerts: Any, emails: Any, webhook_given: bool, action_group_id: Any,
                   ttft_slo_seconds: Any, queue_alert_threshold: Any, max_replicas: int,
                   queue_depth_target: int | None = None) -> AlertSettings:
    """Every alert setting checked, the defaults filled in from the plan; one-line ConfigErrors."""
    enabled = True if alerts is None else checks.boolean("alerts", alerts)
    addresses = tuple(check_email(a) for a in checks.string_list("alertEmails", emails or []))
    folded = [address.casefold() for address in addresses]
    if len(set(folded)) < len(folded):  # mail domains and (in practice) mailboxes ignore case
        twice = next(address for n, address in enumerate(addresses) if folded[n] in folded[:n])
        raise ConfigError("alertEmails", twice, "is given twice (addresses differing only in case are the "
                          "same mailbox, which would get every alert twice)", "list each address once")
    if len(addresses) > MAX_EMAILS:
        raise ConfigError("alertEmails", f"{len(addresses)} addresses",
                          f"an action group takes at most {MAX_EMAILS} email receivers", "use a mailing list")
    group = None if action_group_id is None else check_action_group_id(action_group_id)
    if group and (addresses or webhook_given):
        raise ConfigError("actionGroupId", group, "is given together with alertEmails/alertWebhook, "
                          "which would be ignored (the existing group decides where alerts go)",
                          "remove alertEmails and alertWebhook, or actionGroupId")
    notes = []
    if ttft_slo_seconds is None:
        ttft = DEFAULT_TTFT_SLO_SECONDS
        notes.append(f"ttftSloSeconds {ttft:g} = the MLPerf Inference server-scenario TTFT bound")
    else:
        ttft = checks.number("ttftSloSeconds", ttft_slo_seconds, minimum=0.05, maximum=600)
    if queue_alert_threshold is None:
        queue, why = default_queue_alert_threshold(plan, max_replicas, queue_depth_target)
        notes.append(why)
    else:
        queue = checks.whole_number("queueAlertThreshold", queue_alert_threshold, minimum=1,
                                     maximum=QUEUE_ALERT_THRESHOLD_MAX)
    return AlertSettings(enabled=enabled, emails=addresses, webhook=webhook_given, action_group_id=group,
                         ttft_slo_seconds=ttft, queue_alert_threshold=queue,
                         gpu_memory_alert_fraction=default_gpu_memory_fraction(plan.gpu_memory_utilization),
                         notes=tuple(notes))


def availability_test(host: str, internal: bool, min_replicas: int) -> tuple[bool, str]:
    """Whether the host gets the public /health test, and the reason when it does not."""
    if internal:
        return False, ("internal: true - no public availability test can reach the endpoint; the host's "
                       "own signals (logs, restarts, replicas) carry the alerting")
    if host == "containerapp" and min_replicas == 0:
        return False, ("minReplicas 0 - a /health test every 5 min from 3 locations (a request every "
                       f"~{AVAILABILITY_FREQUENCY_SECONDS // len(AVAILABILITY_LOCATIONS)} s, under the "
                       f"{CONTAINERAPP_COOLDOWN_SECONDS} s scale-in cooldown) would keep a GPU replica "
                       "running 24/7, so none is created; set minReplicas 1 to get one")
    return True, (f"/health every {AVAILABILITY_FREQUENCY_SECONDS // 60} min from "
                  f"{len(AVAILABILITY_LOCATIONS)} locations, alert when {AVAILABILITY_FAILED_LOCATIONS} fail")


def alerts_for(host: str, *, spot: bool, min_replicas: int, web_test: bool,
               planned_downtime: bool = False) -> list[AlertSpec]:
    """The catalogue entries this deployment gets."""
    chosen = []
    for spec in ALERTS.values():
        if host not in spec.hosts:
            continue
        if spec.key == "endpoint-down" and not web_test:
            continue
        if spec.key in ("spot-eviction", "spot-fallback") and not spot:
            continue
        if spec.key == "no-ready-replica" and (min_replicas < 1 or planned_downtime):
            continue  # scale to zero, or a VM that autoShutdown deallocates daily: not an outage
        chosen.append(spec)
    return chosen


# ---- monthly cost (estimates; the prices are labelled list prices, check the pricing page) ----
MONITOR_PRICING = "azure.microsoft.com/pricing/details/monitor/ (East US list price, not re-read here: estimate)"
PROMETHEUS_USD_PER_10M_SAMPLES = 0.16  # managed Prometheus metrics ingestion
STANDARD_TEST_USD_PER_RUN = 0.0012  # Application Insights standard availability test execution
LOG_ALERT_USD_PER_MONTH = 1.50  # one log search alert rule evaluated every 5 minutes
METRIC_ALERT_USD_PER_MONTH = 0.10  # one metric alert rule, per time series monitored
SECONDS_PER_MONTH = 730 * 3600
# What each host sends, estimated: vLLM /metrics exposes ~400 series per replica (its histograms are
# most of it; counted on a vLLM 0.x /metrics page), DCGM ~30 per GPU, and the AKS add-on's default
# targets (kubelet, cAdvisor, kube-state-metrics, node-exporter) ~1,500 per node in the minimal
# ingestion profile (an estimate; learn.microsoft.com/azure/azure-monitor/containers/
# prometheus-metrics-scrape-default lists the targets, not the counts). Scraped every 30 s.
VLLM_SERIES_PER_REPLICA = 400
DCGM_SERIES_PER_GPU = 30
DEFAULT_SERIES_PER_NODE = 1500
SCRAPE_SECONDS = 30
# VM: the metrics timer logs ~60 lines of ~200 bytes a minute to Syslog, plus vLLM's and Caddy's own
# logs (~0.1 GB/month at a few requests a second): ~0.6 GB/month
VM_SYSLOG_GB_PER_MONTH = 0.6
# AKS: the spot-fallback alert needs Normal Kubernetes events in KubeEvents (Container Insights keeps only
# Warning ones unless collect_all_kube_events is on; learn.microsoft.com/azure/azure-monitor/containers/
# container-insights-data-collection-configmap). Estimate: ~1,000 Normal events a node a day (pod
# scheduling, image pulls, probes, autoscaler and KEDA scaling) x ~1.5 KB a KubeEvents row
# (~45 MB/node/month); not measured on a cluster: check `KubeEvents | summarize sum(_BilledSize)`.
KUBE_EVENTS_GB_PER_NODE_MONTH = 0.045


@dataclass(frozen=True)
class MonitoringCostLine:
    item: str
    usd_per_month: float
    source: str


def monitoring_cost(host: str, *, web_test: bool, rules: int, log_rules: int, nodes: int = 0,
                    gpus: int = 0, replicas: int = 1, spot: bool = False) -> list[MonitoringCostLine]:
    """What watching this deployment adds per month (log ingestion of the host itself is in the
    plan's cost section already; the VM's Syslog is new and counted here)."""
    lines = []
    if web_test:
        runs = len(AVAILABILITY_LOCATIONS) * SECONDS_PER_MONTH / AVAILABILITY_FREQUENCY_SECONDS
        lines.append(MonitoringCostLine(
            f"availability test, {runs:,.0f} runs ({len(AVAILABILITY_LOCATIONS)} locations every "
            f"{AVAILABILITY_FREQUENCY_SECONDS // 60} min) x ${STANDARD_TEST_USD_PER_RUN}",
            runs * STANDARD_TEST_USD_PER_RUN, MONITOR_PRICING))
    if host == "aks":
        series = (VLLM_SERIES_PER_REPLICA * replicas + DCGM_SERIES_PER_GPU * gpus
                  + DEFAULT_SERIES_PER_NODE * nodes)
        samples = series * SECONDS_PER_MONTH / SCRAPE_SECONDS
        lines.append(MonitoringCostLine(
            f"managed Prometheus, ~{series:,} series every {SCRAPE_SECONDS} s = {samples / 1e6:,.0f}M "
            f"samples x ${PROMETHEUS_USD_PER_10M_SAMPLES}/10M", samples / 1e7 * PROMETHEUS_USD_PER_10M_SAMPLES,
            MONITOR_PRICING))
    if host == "aks" and spot:  # the spot-fallback alert reads Normal events: the cluster collects them all
        price = PRICES["log_analytics_gb"]
        events_gb = KUBE_EVENTS_GB_PER_NODE_MONTH * nodes
        lines.append(MonitoringCostLine(
            f"Normal Kubernetes events in KubeEvents (collect_all_kube_events, for spot-fallback), "
            f"~{events_gb:.2f} GB ({nodes} nodes x ~{KUBE_EVENTS_GB_PER_NODE_MONTH * 1000:.0f} MB) "
            f"x ${price.usd:.2f}/GB", events_gb * price.usd,
            f"{price.source}; volume: estimate, ~1,000 Normal events/node/day x ~1.5 KB (setting: "
            "learn.microsoft.com/azure/azure-monitor/containers/container-insights-data-collection-configmap)"))
    if host == "vm":
        price = PRICES["log_analytics_gb"]
        lines.append(MonitoringCostLine(
            f"Syslog ingestion (vLLM, Caddy, metrics timer), ~{VM_SYSLOG_GB_PER_MONTH:g} GB x "
            f"${price.usd:.2f}/GB (inside the free 5 GB when nothing else uses it)",
            VM_SYSLOG_GB_PER_MONTH * price.usd, price.source))
    metric_rules = rules - log_rules
    lines.append(MonitoringCostLine(
        f"alert rules: {log_rules} log x ${LOG_ALERT_USD_PER_MONTH:.2f} + {metric_rules} metric/Prometheus "
        f"x ${METRIC_ALERT_USD_PER_MONTH:.2f}",
        log_rules * LOG_ALERT_USD_PER_MONTH + metric_rules * METRIC_ALERT_USD_PER_MONTH, MONITOR_PRICING))
    return lines


def monitoring_plan(args: Any) -> dict[str, Any]:
    """The plan's monitoring part, as data: alerts, where they go, the test, the cost."""
    host = args.plan.host
    settings: AlertSettings = args.alert_settings
    low = getattr(args, "min_replicas", 1)
    high = getattr(args, "max_replicas", 1)
    spot = bool(getattr(args, "spot", False))
    web_test, web_test_note = availability_test(host, args.internal, low)
    planned_downtime = getattr(args, "auto_shutdown", None) is not None
    specs = (alerts_for(host, spot=spot, min_replicas=low, web_test=web_test, planned_downtime=planned_downtime)
             if settings.enabled else [])
    kinds = [kind for spec in specs for kind in RULE_KINDS[host][spec.key]]
    bounds = getattr(args, "gpu_node_bounds", None)
    nodes = (bounds[1] if bounds else 1) + 2  # GPU nodes at most + the system pool's two
    gpus = (bounds[1] if bounds else 1) * args.plan.gpu.gpu_count
    cost = monitoring_cost(host, web_test=web_test and settings.enabled, rules=kinds.count("metric") + kinds.count("log"),
                           log_rules=kinds.count("log"), nodes=nodes, gpus=gpus, replicas=high,
                           spot=spot) if settings.enabled else []
    alerted = {spec.key for spec in specs}
    thresholds = {key: value for key, value in {
        "ttftSloSeconds": settings.ttft_slo_seconds, "queueAlertThreshold": settings.queue_alert_threshold,
        "kvCacheAlertPercent": KV_CACHE_ALERT_FRACTION * 100,
        "gpuMemoryAlertPercent": round(settings.gpu_memory_alert_fraction * 100, 1),
        "serverErrorAlertPercent": SERVER_ERROR_ALERT_PERCENT}.items() if THRESHOLD_ALERTS[key] in alerted}
    warnings = []
    if settings.enabled and not settings.reaches_someone:
        warnings.append("alerts reach no one: set alertEmails, alertWebhook (secret) or actionGroupId")
    if not settings.enabled and settings.has_destination:
        warnings.append("alerts: false creates no alert, so alertEmails, alertWebhook and actionGroupId "
                        "are not used: remove them, or remove alerts: false")
    return {
        "enabled": settings.enabled,
        "destination": settings.destination,
        "availabilityTest": {"created": web_test and settings.enabled, "note": web_test_note},
        "azureRules": len(kinds),  # the Azure alert rules the alerts become (one may need two)
        "alerts": [{"key": s.key, "title": s.title, "severity": s.severity, "windowMinutes": s.window_minutes,
                    "signal": s.signal[host], "runbook": f"{RUNBOOK}#{s.anchor}"} for s in specs],
        "thresholds": thresholds,  # only those of the alerts this deployment gets
        # each note starts with the setting it explains (alert_settings)
        "thresholdNotes": [note for note in settings.notes if note.split(" ", 1)[0] in thresholds],
        "notExported": list(CONTAINERAPP_MISSING) if host == "containerapp" else [],
        "costLines": [{"item": c.item, "usdPerMonth": round(c.usd_per_month, 2), "source": c.source}
                      for c in cost],
        "usdPerMonth": round(sum(c.usd_per_month for c in cost), 2),
        "warnings": warnings,
    }


def render_monitoring(m: dict[str, Any]) -> list[str]:
    """The plan's text lines for the monitoring part (label column as the rest of the plan)."""
    if not m["enabled"]:
        return ["  alerts        off (alerts: false): nothing watches this deployment"]
    lines = [f"  alerts        {len(m['alerts'])} alerts ({m['azureRules']} Azure rules), "
             f"to {m['destination']}"]
    lines += [f"                sev{a['severity']} {a['key']}: {a['signal']} ({a['runbook']})" for a in m["alerts"]]
    shown = {"ttftSloSeconds": "TTFT p95 {:g} s", "queueAlertThreshold": "queue {}",
             "kvCacheAlertPercent": "KV cache {:g}%", "gpuMemoryAlertPercent": "GPU memory {:g}%",
             "serverErrorAlertPercent": "5xx {:g}%"}
    if m["thresholds"]:
        lines.append("                thresholds: "
                     + ", ".join(shown[key].format(value) for key, value in m["thresholds"].items()))
    lines += [f"                default: {note}" for note in m["thresholdNotes"]]
    lines.append(f"                availability test: "
                 f"{'yes, ' if m['availabilityTest']['created'] else 'none: '}{m['availabilityTest']['note']}")
    if m["notExported"]:  # named once, here: no threshold above stands for them
        lines.append(f"                not alerted on (Container Apps does not export them): "
                     f"{', '.join(m['notExported'])}")
    lines.append(f"  monitoring    ~${m['usdPerMonth']:,.2f}/month (estimate)")
    lines += [f"                {c['item']}: ${c['usdPerMonth']:,.2f} | {c['source']}" for c in m["costLines"]]
    lines += [f"  WARNING       {w}" for w in m["warnings"]]
    return lines
