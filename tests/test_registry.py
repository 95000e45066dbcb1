"""The metric registry (engine/report/registry.py): every entry reads a real figure of a cell,
vLLM bench keys are fields a vLLM file can fill, and the tables and compare take their columns
from it."""

from __future__ import annotations

from engine.report.model import CellResult, OpenLoop, ServerCellStats
from engine.report.registry import COMPARED, LATENCIES, METRICS, Table, columns
from engine.report.table import compact_columns
from engine.shapes.ramp import RampFigures
from tests.test_compare import cell


def test_every_metric_reads_and_prints_a_cell():
    c = cell(4)
    for m in METRICS.values():
        assert isinstance(m.text(c), str) and m.text(c), m.key
    assert METRICS["median_ttft_ms"].text(c) != "n/a"
    assert METRICS["request_rate"].text(c) == "n/a"  # a closed-loop cell has no rate


def test_vllm_keys_are_our_names_and_every_latency_statistic_is_there():
    for m in METRICS.values():
        assert m.vllm_key in (None, m.key), m.key  # summary.json keeps vLLM bench's names
    # What compare reads from a vLLM bench file are fields the file fills.
    assert all(m.vllm_key in CellResult.model_fields for m in COMPARED if m.vllm_key)
    latencies = {
        f"{s}_{f}_ms" for f in ("ttft", "tpot", "itl", "e2el") for s in ("mean", "median", "std", "p90", "p99")
    }
    assert latencies <= METRICS.keys() and latencies <= CellResult.model_fields.keys()
    assert LATENCIES["ttft"].at(50).key == "median_ttft_ms" and LATENCIES["e2el"].at(99).label == "E2E p99"
    assert all(not m.higher_is_better for m in METRICS.values() if m.unit == "ms")


def test_table_columns_and_compared_figures_come_from_the_registry():
    closed = [cell(1), cell(4)]
    assert [m.label for m in columns(Table.COMPACT)] == [
        *("conc", "ISL/OSL", "fail", "req/s", "out tok/s", "TTFT p50", "TTFT p99", "TPOT", "E2E"),
    ]
    assert "rate" not in [m.label for m in columns(Table.CONSOLE, closed)]
    rate = cell(0)
    rate.open_loop = OpenLoop(request_rate=2.0, arrival="poisson", burstiness=1.0, seed=0)
    labels = [m.label for m in columns(Table.CONSOLE, [*closed, rate])]
    assert labels[:5] == ["conc", "ISL/OSL", "rate", "sent/s", "peak"] and "goodput" not in labels
    assert METRICS["max_concurrency"].text(rate) == "-"  # an open loop without a cap
    assert [m.compared.label for m in COMPARED] == [
        *("total tok/s", "output tok/s", "total tok/s/GPU", "mean E2E", "p99 E2E", "TTFT p50", "TPOT"),
    ]
    assert all(m.higher_is_better is not None for m in COMPARED)


def test_the_tuis_table_adds_a_ramps_and_a_caches_column_where_a_cell_has_them():
    closed, ramp, cached = cell(1), cell(2), cell(4)
    ramp.ramp = RampFigures(strategy="linear", start_rps=1.0, end_rps=9.0, first_miss=3, slo_failed_at_rps=4.5)
    cached.server = ServerCellStats(prefix_cache_hit_rate=0.25)
    assert compact_columns([closed]) == columns(Table.COMPACT)
    labels = [m.label for m in compact_columns([closed, ramp, cached])]
    fixed = [m.label for m in columns(Table.COMPACT)]
    assert [x for x in labels if x not in fixed] == ["SLO fail at", "cache hit"]  # the console's labels and order
    assert [m.text(ramp) for m in compact_columns([ramp]) if m.label == "SLO fail at"] == ["4.50"]
