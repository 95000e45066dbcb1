"""The client-capacity self-test against the scheduled endpoint (no GPU, no vLLM server)."""

import io
import os

import pytest

from engine.bench.selftest import ScheduleServer, itl_errors, measure_ours, run_selftest


def test_itl_error_is_measured_minus_produced_gap():
    sent = [10.0, 10.010, 10.030]
    assert itl_errors([0.0105, 0.0190], sent) == pytest.approx([0.0005, -0.001])


def test_measure_ours_matches_every_token_to_its_send_time():
    server = ScheduleServer(ttft_ms=5, itl_ms=5)
    try:
        result = measure_ours(server, conc=4, n=8, osl=10, target=800)
    finally:
        server.stop()
    assert result.failed == 0 and result.tokens == 80
    assert 0 < result.ingested_tps <= 800 * 1.05
    assert result.p99_itl_error_ms < 50  # matched to real send times, not garbage
    assert result.cpu_ms_per_1k > 0


def test_selftest_report_without_vllm_comparison():
    out = io.StringIO()
    assert (
        run_selftest([1, 4], itl_ms=5, ttft_ms=5, osl=8, threshold_ms=0.1, compare=False, tokenizer=None, out=out) == 0
    )
    text = out.getvalue()
    assert (
        "llmbench-tui" in text and "highest token rate ingested" in text and "<  5.0 ms" in text and "all below" in text
    )


def test_selftest_beside_cpu_burners_reports_both_isolations_and_leaves_none_running():
    out = io.StringIO()
    before = set(os.listdir("/proc"))
    run_selftest([1], itl_ms=5, ttft_ms=5, osl=8, threshold_ms=0.1, compare=False, tokenizer=None, out=out, contend=1)
    text = out.getvalue()
    assert "llmbench-tui +1 busy " in text and "llmbench-tui +1 busy idle" in text
    burners = [pid for pid in set(os.listdir("/proc")) - before if pid.isdigit() and "while True" in _cmdline(pid)]
    assert burners == []


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def test_selftest_measures_each_worker_count():
    out = io.StringIO()
    run_selftest(
        [4], itl_ms=5, ttft_ms=5, osl=8, threshold_ms=0.1, compare=False, tokenizer=None, out=out, workers=[1, 2]
    )
    rows = [line.split() for line in out.getvalue().splitlines()]
    measured = {(r[0], r[1]) for r in rows if len(r) > 2 and r[0] == "llmbench-tui" and r[1] in ("4", "x2")}
    assert ("llmbench-tui", "4") in measured and ("llmbench-tui", "x2") in measured
    assert "llmbench-tui x2:" in out.getvalue()  # in the capacity summary too


def test_two_workers_match_every_token_to_its_send_time():
    server = ScheduleServer(ttft_ms=5, itl_ms=5)
    try:
        result = measure_ours(server, conc=4, n=8, osl=10, target=800, workers=2)
    finally:
        server.stop()
    assert result.client == "llmbench-tui x2"
    assert result.failed == 0 and result.tokens == 80 and result.p99_itl_error_ms < 50


@pytest.mark.parametrize("bad", ["0", "1,-2", "513"])
def test_selftest_refuses_a_worker_count_out_of_range(bad, capsys):
    from engine.headless.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["selftest", "--workers", bad])
    assert exit_.value.code == 2
    assert "each number of load workers must be from 1 to 512" in capsys.readouterr().err


def test_selftest_on_a_ray_address_nothing_answers_at_exits_2(capsys):
    from engine.headless.cli import main

    assert main(["selftest", "--ray", "127.0.0.1:1", "--no-compare", "--levels", "1"]) == 2
    assert "--ray 127.0.0.1:1: nothing answers at 127.0.0.1:1" in capsys.readouterr().err
