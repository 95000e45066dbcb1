"""The package as operators install it (pipx, uv tool, pip): a wheel, installed outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.wheel


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    # Built from a copy without build/ or *.egg-info: a stale build/lib would hide a package the
    # package list forgets.
    src = tmp_path / "src"
    junk = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "results", "__pycache__", ".pytest_cache")
    shutil.copytree(ROOT, src, ignore=junk)
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("llmbench_tui-*.whl")
    # A fresh environment that sees this one's dependencies (no download) but not its copy of
    # engine/tui, which comes from the checkout: only the wheel's own files are imported.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LLMBENCH_PROFILES")}
    env["LLMBENCH_CACHE"] = str(tmp_path / "cache")
    cli = env_dir / "bin" / "llmbench-tui"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(a) for a in args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
        )

    listed = run(cli, "--list-profiles")
    assert listed.returncode == 0 and "cpu-tiny" in listed.stdout.split(), listed.stderr
    dry = run(cli, "--no-ui", "--profile", "cpu-tiny", "--dry-run")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "plan: 8 cells" in dry.stdout and "vllm.entrypoints.openai.api_server" in dry.stdout
    # Every package of the checkout is in the wheel (a sub-package missing from pyproject's list
    # would install and then fail at its first import).
    expected = sorted(
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("engine", "tui")
        for p in (ROOT / top).rglob("__init__.py")
    )
    walk = (
        "import pkgutil, engine, tui; "
        "print(*sorted(['engine', 'tui'] + [m.name for p in (engine, tui) "
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.') if m.ispkg]))"
    )
    packages = run(py, "-c", walk)
    assert packages.stdout.split() == expected, packages.stderr[-2000:]
    compared = run(cli, "compare", "--help")
    assert compared.returncode == 0 and "relative to the last one named" in compared.stdout, compared.stderr
    # The TUI's modules and stylesheet come from the wheel, not from the checkout.
    check = (
        "import engine, tui, tui.app; from pathlib import Path; "
        "assert 'site-packages' in engine.__file__, engine.__file__; "
        "assert 'site-packages' in tui.__file__, tui.__file__; "
        "css = Path(tui.app.__file__).with_name('app.tcss'); assert css.is_file(), css; "
        "from textual.css.stylesheet import Stylesheet; from textual.app import App; "
        "s = Stylesheet(variables=App().get_css_variables()); s.read(css); s.parse(); print('ok')"
    )
    imported = run(py, "-c", check)
    assert imported.returncode == 0 and imported.stdout.strip() == "ok", imported.stderr[-2000:]
