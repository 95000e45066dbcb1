"""A cell's ITLs held on disk: the same figures as the list-based definition, in bounded memory."""

from __future__ import annotations

import json
import random
from array import array

import pytest

from engine.load.record import RequestRecord
from engine.report.itl import Itls
from engine.report.metrics import latency_stats, percentile
from engine.report.registry import ITL


def record(gaps: list[float], tokens: list[int], ok: bool = True) -> RequestRecord:
    r = RequestRecord(0, 0, 1, 8, sum(tokens) + 1, ok=ok, ttft=0.01, output_tokens=sum(tokens) + 1)
    r.e2el = 0.01 + sum(gaps)
    r.chunk_gaps, r.chunk_tokens = array("d", gaps), array("I", tokens)
    return r


def records(n: int, seed: int) -> list[RequestRecord]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        chunks = rng.randint(1, 40)
        gaps = [rng.choice((rng.uniform(0.001, 0.05), rng.expovariate(30), 0.02)) for _ in range(chunks)]
        out.append(record(gaps, [rng.choice((1, 1, 1, 2, 5)) for _ in range(chunks)]))
    return out


@pytest.mark.parametrize("run", [7, 64, 1 << 17])
def test_same_figures_as_the_list_definition(run):
    """Many runs, one run, values repeated (a chunk of k tokens), ties: order statistics exact."""
    rs = records(300, seed=run)
    expected = latency_stats(ITL, (g for r in rs for g in r.itl()))
    with Itls(run=run) as itls:
        for r in rs:
            itls.add(r)
        got = itls.stats()
    assert got.keys() == expected.keys()
    for name in ("median_itl_ms", "p90_itl_ms", "p99_itl_ms"):
        assert got[name] == expected[name], name  # the same order statistics, the same interpolation
    for name in ("mean_itl_ms", "std_itl_ms"):
        assert got[name] == pytest.approx(expected[name], rel=1e-12), name  # summed in another order


def test_percentiles_at_every_rank_of_a_small_cell():
    values = [0.5, 0.1, 0.1, 0.3, 0.9, 0.2, 0.7]
    with Itls(run=2) as itls:
        itls.extend(values)
        ranks = [itls.stats()[f"{p}_itl_ms"] for p in ("median", "p90", "p99")]
    ordered = sorted(values)
    assert ranks == [percentile(ordered, 50), percentile(ordered, 90), percentile(ordered, 99)]


def test_take_leaves_the_record_without_gaps_and_skips_what_does_not_count():
    timed, failed = record([0.01, 0.02], [1, 2]), record([0.01], [1], ok=False)
    one_read = record([0.0], [1])
    one_read.e2el = one_read.ttft
    with Itls() as itls:
        for r in (timed, failed, one_read):
            itls.take(r)
        assert itls.n == 3  # 1 + 2 of the timed request's tokens only
        assert len(timed.chunk_gaps) == 0 and len(timed.chunk_tokens) == 0
        assert itls.stats()["mean_itl_ms"] == pytest.approx((10 + 10 + 10) / 3)


def test_an_empty_cell_has_no_itl_figures():
    with Itls() as itls:
        assert set(itls.stats().values()) == {None}


def test_a_spool_that_cannot_be_written_keeps_the_values_in_memory():
    class Full:
        def write(self, data):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    with Itls(run=4) as itls:
        itls._file.close()
        itls._file = Full()
        itls.extend([3.0, 1.0, 2.0, 5.0, 4.0, 6.0])
        assert itls._file is None and itls.stats()["median_itl_ms"] == 3.5


async def test_a_run_keeps_its_itls_on_disk_and_reports_what_its_requests_say(tiny_model, tmp_path, monkeypatch):
    """Through the cell executor: the summary's ITL figures are those of requests.jsonl's gaps (to their
    0.1 us rounding), and each record measured gave its gaps up once written (held only by Itls)."""
    from engine.report import itl as itl_module
    from engine.run import cell as cell_module
    from tests.fake_openai import FakeConfig, FakeServer
    from tests.test_external_modes import profile_for, run

    taken: list[RequestRecord] = []

    class Watched(itl_module.Itls):
        def take(self, record: RequestRecord) -> None:
            super().take(record)
            taken.append(record)

    monkeypatch.setattr(cell_module, "Itls", Watched)
    config = FakeConfig(tokens_per_chunk=2, token_delay_s=0.002)
    async with FakeServer(config) as server:
        profile = profile_for(server.url, tiny_model, **{"grid.seq": ["16/24"], "grid.concurrency": [3]})
        outcome, summary, _ = await run(profile, tmp_path)
    assert outcome.exit_code == 0, outcome.error
    lines = [
        RequestRecord(**{k: v for k, v in json.loads(x).items() if k != "superseded"})
        for x in (outcome.results_dir / "requests.jsonl").read_text().splitlines()
    ]
    measured = [r for r in lines if not r.warmup]
    assert len(taken) == len(measured) == 6 and all(len(r.chunk_gaps) == 0 for r in taken)
    expected = latency_stats(ITL, (g for r in measured if r.ok and not r.one_read for g in r.itl()))
    cell = summary["cells"][0]
    for key, value in expected.items():
        assert cell[key] == pytest.approx(value, abs=1e-3), key


def test_without_a_writable_temporary_folder_the_figures_are_the_same(monkeypatch):
    import engine.report.itl as itl_module

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    rs = records(40, seed=5)
    expected = latency_stats(ITL, (g for r in rs for g in r.itl()))
    monkeypatch.setattr(itl_module.tempfile, "TemporaryFile", refuse)
    with Itls(run=16) as itls:
        for r in rs:
            itls.add(r)
        got = itls.stats()
    assert got == pytest.approx(expected, rel=1e-12)
