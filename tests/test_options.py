"""The option table (engine/options/): one entry per option drives argparse, the profile overrides
and the TUI's form; a bad value names what the user typed (the flag, or the file and field)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from engine.headless.cli import build_parser, main
from engine.options.table import FORM, OPTIONS, OVERRIDES
from engine.profiles import load_profile
from engine.workload import WorkloadForm


def _field_exists(dotted: str) -> bool:
    node = load_profile("cpu-tiny").model_dump()
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_option_sets_a_real_profile_field_and_every_form_field_has_an_entry():
    assert all(_field_exists(path) for path in OVERRIDES.values()), OVERRIDES
    assert set(FORM) == {f.name for f in fields(WorkloadForm)}
    flags = [o.flag for o in OPTIONS if o.cli]
    assert len(flags) == len(set(flags))  # each flag declared once
    parsed = build_parser().parse_args(["--request-timeout", "7", "--no-docker", "--concurrency", "1,2"])
    assert (parsed.request_timeout, parsed.docker, parsed.concurrency) == (7.0, False, [1, 2])


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--request-timeout", "-5"], "--request-timeout -5: Input should be greater than 0"),
        (["--concurrency", "0,4"], "--concurrency 0,4: every concurrency must be at least 1"),
        (["--max-failed-share", "2"], "--max-failed-share 2: "),
    ],
)
def test_a_bad_flag_value_names_the_flag(argv, named, capsys):
    assert main(["--no-ui", *argv, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert named in err and "command-line overrides" not in err, err


def test_a_bad_profile_value_names_the_file_and_the_field(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\nhardware = "cpu"\nmodel = "qwen3-tiny-random"\nrecipe = "vllm-cpu-tiny"\nmode = "server"\n'
        '[grid]\nconcurrency = [1]\nseq = ["64/16"]\n[load]\nrequest_timeout_s = -5\n'
    )
    assert main(["--no-ui", "--profile", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: field load.request_timeout_s: Input should be greater than 0" in err, err
