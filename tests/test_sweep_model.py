"""sweep.json round trip, and the errors for a folder that is not a sweep."""

import json

import pytest

from engine.sweep.model import SweepFile, Variant, is_sweep, read_sweep, write_sweep


def test_round_trip_keeps_every_field(tmp_path):
    sweep = SweepFile(
        profile="tiny",
        variants=[
            Variant(name="max-num-seqs=2", flags={"max-num-seqs": "2", "enforce-eager": ""}, run="v1", gpus=2),
            Variant(name="b", env={"VLLM_X": "1"}, recipe="r", run="v2"),
        ],
    )
    write_sweep(tmp_path, sweep)
    raw = json.loads((tmp_path / "sweep.json").read_text())
    assert raw["schema"] == 1 and raw["kind"] == "sweep" and raw["frontier"] is None
    assert raw["variants"][0]["flags"] == {"max-num-seqs": "2", "enforce-eager": ""}
    back = read_sweep(tmp_path)
    assert back == sweep
    done = back.with_variant("b", status="failed", error="server died")
    assert [v.status for v in done.variants] == ["pending", "failed"]
    assert done.failed()[0].error == "server died" and done.variant("b").finished
    assert is_sweep(tmp_path)


def test_not_a_sweep_folder_is_named(tmp_path):
    assert not is_sweep(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a sweep folder"):
        read_sweep(tmp_path)
    (tmp_path / "sweep.json").write_text('{"kind": "run"}')
    with pytest.raises(ValueError, match=r"sweep\.json"):
        read_sweep(tmp_path)


def test_a_failed_variants_reason_is_one_line_with_the_logs_last():
    error = "the server exited with code 1; last lines of server.log:\n  File x\nValueError: too long"
    assert Variant(name="a", run="r", error=error).reason == (
        "the server exited with code 1; last lines of server.log: ... ValueError: too long"
    )
    assert Variant(name="a", run="r", error="refused").reason == "refused"
