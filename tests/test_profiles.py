from pathlib import Path

import pytest

from engine.plan import build_plan
from engine.profiles import (
    ProfileError,
    apply_overrides,
    bundled_names,
    load_profile,
)
from engine.values import parse_seq

SEED_RECIPES = [
    f"{m}-{hw}" for m in ("deepseek-r1", "gpt-oss-120b", "qwen3-235b", "llama-3.3-70b") for hw in ("mi355x", "b200")
]


def test_every_bundled_run_profile_resolves():
    names = bundled_names("run")
    assert "cpu-tiny" in names
    for name in names:
        profile = load_profile(name)
        assert profile.name == name
        assert build_plan(profile.grid)


def test_bundled_hardware():
    assert {"mi355x", "b200", "h100", "h200", "cpu"} <= set(bundled_names("hardware"))


@pytest.mark.parametrize("name", SEED_RECIPES)
def test_seed_profiles_have_the_seed_grid_and_a_current_variant(name):
    profile = load_profile(name)
    assert profile.grid.concurrency == [4, 8, 16, 32, 64, 128]
    assert profile.grid.pairs() == [(1024, 1024), (1024, 8192), (8192, 1024)]
    assert profile.docker and profile.recipe.docker_image
    assert profile.recipe.vllm_version.startswith(("0.10", "0.11", "0.12"))
    current = load_profile(f"{name}-vllm0.32")
    assert current.recipe.vllm_version == "0.32.0" and not current.docker
    assert current.model == profile.model and current.hardware == profile.hardware


def test_seed_typos_are_corrected_and_said():
    recipe = load_profile("deepseek-r1-mi355x").recipe
    assert not any(":" in a for a in recipe.args if a.startswith("--"))
    assert "--max-model-len" in recipe.args and recipe.args[recipe.args.index("--max-model-len") + 1] == "32768"
    assert any("--max-model-len: 32768" in c for c in recipe.corrections)
    b200 = load_profile("deepseek-r1-b200").recipe
    assert any("no value" in c for c in b200.corrections)
    # No flag is followed by another flag where a value is expected.
    for flag in ("--max-num-batched-tokens", "--max-model-len"):
        assert b200.args[b200.args.index(flag) + 1].isdigit()
    assert "--disable-log-requests" in load_profile("gpt-oss-120b-mi355x").recipe.args


def test_llama_mi355x_serves_the_model_the_seed_ran():
    profile = load_profile("llama-3.3-70b-mi355x")
    assert profile.model.id == "amd/Llama-3.1-70B-Instruct-FP8-KV"
    assert any("Llama-3.3-70B" in n for n in profile.model.notes)
    assert "public" in load_profile("llama-3.3-70b-b200").recipe.source
    assert "public" in load_profile("gpt-oss-120b-b200").recipe.source


def test_devices_from_parallel_sizes():
    assert load_profile("deepseek-r1-b200").recipe.tensor_devices() == 8
    assert load_profile("llama-3.3-70b-b200").recipe.tensor_devices() == 1
    assert load_profile("cpu-tiny").recipe.tensor_devices() == 1


def test_saved_profile_replays_identically(tmp_path: Path):
    profile = apply_overrides(load_profile("cpu-tiny"), **{"grid.concurrency": [2, 3], "grid.seq": ["32/16"]})
    path = tmp_path / "profile.toml"
    path.write_text(profile.to_toml())
    assert load_profile(str(path)) == profile


def test_unknown_field_names_file_and_field(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "x"\nmodel = "tiny-llama"\nhardware = "cpu"\nrecipe = "cpu-tiny"\ngrid = "cpu-tiny"\nconcurency = 3\n'
    )
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    assert str(path) in str(err.value) and "concurency" in str(err.value) and "unknown field" in str(err.value)


def test_missing_part_names_what_exists(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nmodel = "nope"\nhardware = "cpu"\nrecipe = "cpu-tiny"\ngrid = "cpu-tiny"\n')
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    assert "field model" in str(err.value) and "tiny-llama" in str(err.value)


def test_bad_toml_is_reported(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text("name = \n")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(str(path))


@pytest.mark.parametrize("bad", ["1024", "a/b", "0/10", "1/2/3"])
def test_bad_seq(bad):
    with pytest.raises(ValueError):
        parse_seq(bad)


def test_override_errors_name_the_field():
    with pytest.raises(ProfileError, match=r"grid\.concurrency"):
        apply_overrides(load_profile("cpu-tiny"), **{"grid.concurrency": [0]})
    with pytest.raises(ProfileError, match=r"grid\.seq"):
        apply_overrides(load_profile("cpu-tiny"), **{"grid.seq": ["64x64"]})


def test_plan_order_and_counts():
    profile = apply_overrides(load_profile("cpu-tiny"), **{"grid.concurrency": [16, 4], "grid.seq": ["64/64", "128/8"]})
    plan = build_plan(profile.grid)
    assert [(c.concurrency, c.input_len) for c in plan] == [(4, 64), (16, 64), (4, 128), (16, 128)]
    assert all(c.num_prompts >= c.concurrency for c in plan)
    assert [c.index for c in plan] == [0, 1, 2, 3]
