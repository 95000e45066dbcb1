"""A resumed run's secrets: its profile.toml holds them masked, and a resume takes each again from
the resuming command (--api-key, its environment) or refuses before launching anything (exit 2)."""

from __future__ import annotations

import argparse

import pytest

from engine.exits import EXIT_BAD_INPUT
from engine.headless.cli import resume_profile, run_headless
from engine.profiles import ProfileError, ResolvedProfile, load_profile
from engine.redact import MASK
from engine.report.model import RunSummary
from engine.run.session import RunSession
from engine.run.unmask import unmask

KEY, HF = "sk-resume-secret-4242", "hf_resume_secret_9797"


def interrupted_run(tmp_path, monkeypatch) -> argparse.Namespace:
    """A run folder as a run that was interrupted leaves it: profile.toml saved by the run's own
    redactor (with the key and token it was started with), summary.json interrupted."""
    base = load_profile("cpu-tiny")
    recipe = base.recipe.model_copy(
        update={
            "args": [*base.recipe.args, "--api-key", KEY, "--token-delay", "0.01"],
            "env": {**base.recipe.env, "HF_TOKEN": HF},
        }
    )
    profile = base.model_copy(update={"recipe": recipe, "mode": "server"})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    saved = RunSession(profile, lambda e: None, tmp_path, run_dir=run_dir).redact(profile.to_toml())
    (run_dir / "profile.toml").write_text(saved)
    summary = RunSummary(profile=profile.name, hardware="cpu", status="interrupted")
    (run_dir / "summary.json").write_text(summary.model_dump_json())
    return argparse.Namespace(resume=run_dir)


def test_the_saved_profile_masks_secrets_and_keeps_token_delay(tmp_path, monkeypatch):
    args = interrupted_run(tmp_path, monkeypatch)
    text = (args.resume / "profile.toml").read_text()
    assert KEY not in text and HF not in text
    saved = load_profile(str(args.resume / "profile.toml"))
    assert saved.recipe.args[-4:] == ["--api-key", MASK, "--token-delay", "0.01"]
    assert saved.recipe.env["HF_TOKEN"] == MASK


def test_a_masked_secret_refuses_the_resume_naming_each_field(tmp_path, monkeypatch, capsys):
    args = interrupted_run(tmp_path, monkeypatch)
    assert run_headless(args) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "recipe.args --api-key: pass --api-key KEY again" in err
    assert "recipe.env HF_TOKEN: set HF_TOKEN" in err
    assert not (args.resume / "events.jsonl").exists()  # nothing launched
    # One of the two given again: the other is still named.
    monkeypatch.setenv("HF_TOKEN", HF)
    with pytest.raises(ProfileError, match=r"recipe.args --api-key") as refused:
        resume_profile(args)
    assert "HF_TOKEN" not in str(refused.value)


def test_given_again_the_resume_has_the_real_secrets(tmp_path, monkeypatch):
    args = interrupted_run(tmp_path, monkeypatch)
    monkeypatch.setenv("HF_TOKEN", HF)
    args.api_key = KEY
    profile = resume_profile(args)
    assert profile.recipe.args[-4:] == ["--api-key", KEY, "--token-delay", "0.01"]
    assert profile.recipe.env["HF_TOKEN"] == HF
    assert MASK not in profile.model_dump_json()
    # OPENAI_API_KEY in the environment gives --api-key as well (as it does the client's key).
    del args.api_key
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert resume_profile(args).recipe.args[-3] == KEY


def _with(profile: ResolvedProfile, **recipe) -> ResolvedProfile:
    return profile.model_copy(update={"recipe": profile.recipe.model_copy(update=recipe)})


def test_flag_forms_docker_env_and_masks_left_elsewhere():
    base = load_profile("cpu-tiny")
    masked = _with(base, args=["--hf-token=" + MASK, "--port", "8000"])
    with pytest.raises(ProfileError, match=r"recipe.args --hf-token: set HF_TOKEN in the environment"):
        unmask(masked, {}, "p.toml")
    assert unmask(masked, {"HF_TOKEN": HF}, "p.toml").recipe.args == [f"--hf-token={HF}", "--port", "8000"]
    hardware = base.hardware.model_copy(update={"docker_args": ["-e", f"HF_TOKEN={MASK}"]})
    docker = base.model_copy(update={"hardware": hardware})
    with pytest.raises(ProfileError, match=r"hardware.docker_args HF_TOKEN: set HF_TOKEN"):
        unmask(docker, {}, "p.toml")
    assert unmask(docker, {"HF_TOKEN": HF}, "p.toml").hardware.docker_args == ["-e", f"HF_TOKEN={HF}"]
    # A secret that also appeared in another field was masked there too: nothing can give it back.
    elsewhere = _with(base, name=f"recipe-{MASK}")
    with pytest.raises(ProfileError, match=r"in recipe.name, which cannot be given again"):
        unmask(elsewhere, {}, "p.toml")
    assert unmask(base, {}, "p.toml") == base  # nothing masked: the profile as saved
    # A short key's text masked inside an ordinary flag's value: refused, never filled from $TP.
    inside = _with(base, args=["-tp", MASK])
    with pytest.raises(ProfileError, match=r"in recipe.args, which cannot be given again"):
        unmask(inside, {"TP": "2"}, "p.toml")
