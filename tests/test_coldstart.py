"""The cold-start estimate: parts that add up, warm below first, a faster cache loads faster, the
compile cache counts, the cache is sized for the warm load, and the probe windows come from it."""

from __future__ import annotations

import math

import pytest

from components.serving import DEFAULT_IMAGE, MODELS, plan_serving
from components.serving import coldstart
from components.serving.coldstart import (
    PREMIUM_SSD_TIERS,
    SAFETY_FACTOR,
    estimate_cold_start,
    premium_files_mib_per_second,
    size_cache,
)

W8B, W70B = MODELS["apertus-8b-instruct"].weight_bytes, MODELS["apertus-70b-instruct"].weight_bytes
A100_MONTH = 3.673 * 730  # one Standard_NC24ads_A100_v4, list price


def plan(host="vm", model="apertus-8b-instruct", **kwargs):
    return plan_serving(host=host, model=MODELS[model], image=DEFAULT_IMAGE,
                        network_cache=host != "vm", **kwargs)


@pytest.mark.parametrize("host", ["containerapp", "vm", "aks"])
def test_first_and_warm_are_the_sums_of_their_named_parts(host):
    cold = plan(host).cold_start
    assert cold.first_seconds == math.ceil(sum(p.first_seconds for p in cold.parts))
    assert cold.warm_seconds == math.ceil(sum(p.warm_seconds for p in cold.parts))
    assert all(p.name and p.assumption for p in cold.parts)
    names = {p.name for p in cold.parts}
    assert {"vLLM image pull", "weights downloaded from Hugging Face", "weights read from the model cache",
            "weights copied to the GPUs", "torch.compile", "CUDA-graph capture"} <= names
    assert 0 < cold.warm_seconds < cold.first_seconds


def test_a_warm_start_downloads_nothing_and_compiles_from_the_cache():
    parts = {p.name: p for p in plan("aks").cold_start.parts}
    assert parts["weights downloaded from Hugging Face"].warm_seconds == 0
    assert parts["weights downloaded from Hugging Face"].first_seconds == pytest.approx(W8B / 100e6)
    assert parts["torch.compile"].warm_seconds < parts["torch.compile"].first_seconds


def test_without_a_persistent_compile_cache_the_warm_start_compiles_again():
    common = dict(host="aks", weight_bytes=W8B, gpu_model="A100", tensor_parallel_size=1,
                  gpu_monthly_usd=A100_MONTH)
    cached, uncached = estimate_cold_start(**common), estimate_cold_start(**common, compile_cache=False)
    assert uncached.warm_seconds - cached.warm_seconds == (coldstart.COMPILE_SECONDS
                                                           - coldstart.COMPILE_CACHED_SECONDS)
    assert uncached.first_seconds == cached.first_seconds


def test_only_the_vm_pays_driver_setup_and_a_reboot_and_only_once():
    vm = {p.name: p for p in plan("vm").cold_start.parts}
    assert vm["reboot so the NVIDIA driver loads"].first_seconds > 0
    assert vm["reboot so the NVIDIA driver loads"].warm_seconds == 0
    assert vm["first-boot setup: apt, NVIDIA driver, Docker, container toolkit"].warm_seconds == 0
    for host in ("containerapp", "aks"):
        assert not any("reboot" in p.name for p in plan(host).cold_start.parts)


def test_container_apps_pulls_the_image_again_on_a_scale_from_zero():
    aca = {p.name: p for p in plan("containerapp").cold_start.parts}
    aks = {p.name: p for p in plan("aks").cold_start.parts}
    assert aca["vLLM image pull"].warm_seconds == aca["vLLM image pull"].first_seconds > 0
    assert aks["vLLM image pull"].warm_seconds == 0


def test_a_faster_cache_shortens_the_warm_start():
    common = dict(host="aks", weight_bytes=W70B, gpu_model="H100 NVL", tensor_parallel_size=2,
                  gpu_monthly_usd=None)
    small = coldstart._files_volume("premium-files-smb", 200, "test")
    large = coldstart._files_volume("premium-files-smb", 4000, "test")
    assert premium_files_mib_per_second(4000) > premium_files_mib_per_second(200)
    assert (estimate_cold_start(**common, cache=large).warm_seconds
            < estimate_cold_start(**common, cache=small).warm_seconds)


def test_azure_files_throughput_follows_the_documented_provisioned_v1_formula():
    # Microsoft Learn "Understand Azure Files billing", provisioned v1: 100 GiB -> 110 MiB/s,
    # 500 -> 150, 1,024 -> 203, 5,120 -> 613 (the examples table of the scale-targets article)
    assert [premium_files_mib_per_second(g) for g in (100, 500, 1024, 5120)] == [110, 150, 203, 613]


def test_premium_ssd_bursts_only_on_small_tiers_and_only_for_30_minutes():
    p6 = next(t for t in PREMIUM_SSD_TIERS if t.name == "P6")
    p30 = next(t for t in PREMIUM_SSD_TIERS if t.name == "P30")
    assert coldstart.disk_seconds(p6, 17e9) == pytest.approx(100)  # 170 MB/s burst
    assert coldstart.disk_seconds(p30, 20e9) == pytest.approx(100)  # 200 MB/s, no credit burst
    assert coldstart.disk_seconds(p6, 400e9) == pytest.approx(8000)  # past 30 min of burst: 50 MB/s


def test_the_share_grows_to_meet_the_warm_load_target_when_that_costs_little():
    cache = size_cache("containerapp", W8B, A100_MONTH)
    assert cache.size_gib > 100 and "grown" in cache.sizing
    assert cache.seconds_for(W8B) <= coldstart.WARM_LOAD_TARGET_SECONDS
    assert cache.seconds_for(W8B) > coldstart.WARM_LOAD_TARGET_SECONDS * 0.9  # no bigger than needed
    extra = (cache.size_gib - 100) * 0.16
    assert extra <= A100_MONTH * coldstart.CACHE_BUDGET_FRACTION and f"+${extra:,.2f}/month" in cache.sizing


def test_the_share_stays_small_when_meeting_the_target_would_cost_too_much():
    cache = size_cache("aks", W70B, 13.96 * 730)
    assert cache.size_gib == coldstart.cache_needed_gib(W70B) and "not grown" in cache.sizing
    assert cache.seconds_for(W70B) > coldstart.WARM_LOAD_TARGET_SECONDS


def test_the_vm_disk_keeps_its_smallest_tier_and_says_why():
    assert size_cache("vm", W8B, A100_MONTH).tier == "P6"  # 16.1 GB at 170 MB/s burst: ~95 s
    big = size_cache("vm", W70B, 13.96 * 730)
    assert big.tier == "P15" and "out of reach" in big.sizing


def test_the_plan_uses_the_sized_cache_for_the_host():
    assert plan("containerapp").cold_start.cache.kind == "premium-files-nfs"
    assert plan("aks").cold_start.cache.kind == "premium-files-smb"
    assert plan("vm").cold_start.cache.kind == "premium-ssd"


@pytest.mark.parametrize("host,model", [
    ("vm", "apertus-8b-instruct"), ("vm", "apertus-70b-instruct"), ("aks", "apertus-70b-instruct"),
    ("containerapp", "apertus-8b-instruct")])
def test_probe_windows_derive_from_the_first_start_estimate(host, model):
    p = plan(host, model)
    assert p.launch.startup_window_seconds == math.ceil(p.cold_start.first_seconds * SAFETY_FACTOR)
    assert p.launch.startup_probe().window_seconds >= p.launch.startup_window_seconds


def test_a_slower_download_lengthens_the_window(monkeypatch):
    before = plan("containerapp").launch.startup_window_seconds
    monkeypatch.setattr(coldstart, "HF_BYTES_PER_SECOND", 50e6)
    assert plan("containerapp").launch.startup_window_seconds > before


def test_container_apps_window_fits_its_probe_cap_and_warns_about_the_request_timeout():
    cold = plan("containerapp").cold_start
    # Container Apps startup probes: failureThreshold <= 10 x periodSeconds <= 240
    assert cold.startup_window_seconds <= 10 * 240
    if cold.warm_seconds > coldstart.ACA_REQUEST_TIMEOUT_SECONDS:
        assert any("240 s request timeout" in note for note in cold.notes)
