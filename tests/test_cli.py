"""The headless command line: dry runs of the seed recipes, bad input, the engine's imports."""

import subprocess
import sys

import pytest

from engine.headless.cli import main
from tests.test_profiles import SEED_RECIPES


@pytest.mark.integration  # the dry run checks the recipe with vLLM's parser
@pytest.mark.parametrize("name", SEED_RECIPES)
def test_dry_run_of_seed_recipe_in_its_image_warns(name, capsys):
    assert main(["--no-ui", "--profile", name, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "docker run" in out and "--entrypoint vllm" in out and " serve " in out
    assert "plan: 18 cells" in out
    if "--swap-space" in out or "--max-seq-len-to-capture" in out:
        assert "warning: recipe" in out and "fine in the recipe's own image" in out


# Qwen recipes use no removed flag.
@pytest.mark.integration  # the dry run checks the recipe with vLLM's parser
@pytest.mark.parametrize("name", [n for n in SEED_RECIPES if not n.startswith("qwen3")])
def test_dry_run_on_installed_vllm_rejects_old_flags(name, capsys):
    assert main(["--no-ui", "--profile", name, "--no-docker", "--dry-run"]) == 2
    out = capsys.readouterr().out
    assert "error: recipe" in out and f"{name}-vllm0.32" in out


@pytest.mark.integration  # the dry run checks the recipe with vLLM's parser
@pytest.mark.parametrize("name", [f"{n}-vllm0.32" for n in SEED_RECIPES])
def test_dry_run_of_current_variant_is_accepted(name, capsys):
    assert main(["--no-ui", "--profile", name, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "vllm.entrypoints.openai.api_server" in out and "recipe flags accepted" in out


def test_dry_run_prints_env_and_command(capsys):
    assert (
        main(["--no-ui", "--profile", "deepseek-r1-mi355x", "--dry-run", "--concurrency", "4,8", "--seq", "1024/1024"])
        == 0
    )
    out = capsys.readouterr().out
    # The value reaches the container from docker's environment, never from its command line.
    assert "  VLLM_ROCM_USE_AITER=1 " in out and "-e VLLM_ROCM_USE_AITER " in out
    assert "-e VLLM_ROCM_USE_AITER=1" not in out
    assert "plan: 2 cells" in out and "--device=/dev/kfd" in out


def test_cpu_tiny_dry_run_launches_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMBENCH_CACHE", str(tmp_path))  # the tiny model must not be built
    assert main(["--no-ui", "--dry-run"]) == 0
    assert "HF_HUB_OFFLINE=1" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--profile", "no-such-profile"], "no bundled run profile named 'no-such-profile'"),
        (["--seq", "64x64"], "grid.seq"),
        (["--concurrency", "0"], "grid.concurrency"),
        (["--mode", "external"], "needs an endpoint"),
        (["--mode", "inprocess", "--docker"], "in-process mode runs vLLM inside this tool's run process"),
        (["--mode", "inprocess", "--api", "chat"], "in-process mode sends token-id prompts"),
    ],
)
def test_bad_input_exits_2_and_says_what(argv, message, capsys, tmp_path):
    assert main(["--no-ui", *argv, "--results", str(tmp_path / "runs")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before anything was made or launched


def test_bad_flag_value_exits_2():
    with pytest.raises(SystemExit) as exc:
        main(["--no-ui", "--concurrency", "a,b"])
    assert exc.value.code == 2


def test_engine_never_imports_textual():
    code = (
        "import sys, engine.headless.cli, engine.run.session, engine.headless.console, tui.main\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_plotext')]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
