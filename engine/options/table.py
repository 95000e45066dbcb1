"""Every option of a run, declared once (engine.options.option.Option): its flag, the profile field
it sets, how its text is parsed, its help, and its field on the TUI's workload form. The headless
parser (argparse), the profile overrides a flag makes, the form's fields and the errors that name a
flag are all made from OPTIONS; each load shape's own options come with its module (engine/shapes).
docs/options.md says how to add one.

The parsers (engine/options/parse.py) raise ValueError saying what is wrong and what to write; the
command line and the form use the same ones, so a value means the same wherever it is typed.
"""

from __future__ import annotations

from pathlib import Path

from engine.options.option import Option
from engine.options.parse import (
    checked,
    format_number,
    format_slo,
    joined,
    number,
    optional,
    parse_int_list,
    parse_seq_list,
    parse_workers,
    required,
    split_list,
    whole,
)
from engine.report.goodput import parse_slo
from engine.shapes.registry import DEFAULT, SELECTORS
from engine.shapes.registry import OPTIONS as SHAPE_OPTIONS
from engine.sweepspec import parse_axis, parse_recipes
from engine.values import parse_range

DEFAULT_PROFILE = "cpu-tiny"


# -- the table ---------------------------------------------------------------------------------------
RUN_OPTIONS: tuple[Option, ...] = (
    Option("--no-ui", action="store_true", help="run headless: progress on stderr, summary on stdout"),
    Option("--profile", help=f"bundled run profile name or path to a .toml (default {DEFAULT_PROFILE})"),
    Option("--list-profiles", action="store_true", help="list the bundled run profiles and exit"),
    Option("--dry-run", action="store_true", help="print the plan, environment and launch command; launch nothing"),
)

# The workload: its load shape (each shape's own options: engine/shapes), its prompts and service levels.
WORKLOAD_OPTIONS: tuple[Option, ...] = (
    Option(SELECTORS, "grid", field="shape", label="Load shape", form_default=DEFAULT.name, cli=False),
    Option(
        "--concurrency",
        "grid.concurrency",
        "concurrency levels, e.g. 4,8,16",
        parse=parse_int_list,
        field="concurrency",
        label="Concurrency",
        example="1, 4, 16, 64",
        form_parse=parse_int_list,
        form_text=joined(),
    ),
    Option(
        "--seq",
        "grid.seq",
        "ISL/OSL pairs, e.g. 1024/1024,8192/1024",
        parse=split_list,
        field="seq",
        label="ISL/OSL",
        example="1024/1024, 8192/1024",
        form_parse=parse_seq_list,
        form_text=joined(),
    ),
    Option(
        "--arrival",
        "grid.arrival",
        "how rate cells' requests arrive",
        choices=("poisson", "constant", "gamma"),
        field="arrival",
        label="Arrival",
        form_parse=str,
        form_default="poisson",
    ),
    Option(
        "--burstiness",
        "grid.burstiness",
        "gamma arrivals' shape: below 1 burstier, above 1 more even",
        parse=float,
        field="burstiness",
        label="burstiness",
        example="0.5",
        form_parse=required(number, "gamma's shape, e.g. 0.5 (burstier) or 2 (more even)"),
        form_text=format_number,
    ),
    Option(
        "--num-prompts",
        "grid.num_prompts",
        "requests per rate cell (default: about 20 s of arrivals)",
        parse=int,
        field="num_prompts",
        label="Requests",
        example="200",
        form_parse=optional(whole),
    ),
    Option(
        "--max-concurrency",
        "grid.max_concurrency",
        "cap on requests in flight in rate cells",
        parse=int,
        field="max_concurrency",
        label="max in flight",
        example="64",
        form_parse=optional(whole),
    ),
    Option(
        "--dataset",
        "grid.dataset",
        "prompts: random (with --input-len-range/--output-len-range), sharegpt:PATH, jsonl:PATH, prefix:P[:G] "
        "(groups of G requests sharing a P-token prefix), or multiturn:T (conversations of T turns, each user turn "
        "ISL tokens, each answer OSL, each turn's prompt the earlier turns and answers; with --rate, conversations "
        "start at that rate) or multiturn:T:PATH (a ShareGPT file's first T exchanges); lengths stay exact per request",
        field="dataset",
        label="Dataset",
        form_default="fixed",
    ),
    Option(
        "--dataset",
        "grid.dataset",
        field="dataset_arg",
        label="Dataset",
        example="PATH, P[:G] for prefix, T[:PATH] for multi-turn",
        cli=False,
    ),
    Option(
        "--input-len-range",
        "grid.input_len_range",
        "--dataset random: input lengths, e.g. 100:400",
        metavar="MIN:MAX",
        field="input_len_range",
        label="input",
        example="100:400",
        form_parse=optional(checked(parse_range)),
    ),
    Option(
        "--output-len-range",
        "grid.output_len_range",
        "--dataset random: output lengths, e.g. 50:200",
        metavar="MIN:MAX",
        field="output_len_range",
        label="output",
        example="50:200",
        form_parse=optional(checked(parse_range)),
    ),
    Option(
        "--repeat",
        "load.repeats",
        "measure every cell N times, in interleaved rounds whose cell order rotates: each figure is the "
        "mean over the rounds with its 95 percent confidence interval (default 1)",
        parse=int,
        metavar="N",
        field="repeats",
        label="rounds",
        example="3",
        form_parse=lambda text: whole(text) if text else 1,
    ),
    Option(
        "--slo",
        "load.slo",
        "service levels in ms, e.g. ttft:500,tpot:50,e2el:10000: goodput per cell",
        parse=parse_slo,
        field="slo",
        label="SLO (ms)",
        example="ttft:500,tpot:50,e2el:10000",
        form_parse=lambda text: parse_slo(text) if text else {},
        form_text=format_slo,
    ),
)

# The target: what to launch or attach to, and how to talk to it.
TARGET_OPTIONS: tuple[Option, ...] = (
    Option("--mode", "mode", "launch vLLM, run it in-process, or attach", choices=("server", "inprocess", "external")),
    Option("--endpoint", "endpoint", "base URL of a running OpenAI-compatible server (implies --mode external)"),
    Option("--model", "model.name", "name of the model to request (external mode, when the server serves several)"),
    Option("--tokenizer", "model.tokenizer", "tokenizer folder or id, for servers that take text prompts"),
    Option(
        "--gpu-hour-cost",
        "hardware.gpu_hour_cost",
        "price of one GPU-hour, any currency: each cell's cost per million output tokens (default: none)",
        parse=float,
        metavar="PRICE",
    ),
    Option("--results", help="folder under which each run's results folder is made (default ./results)", parse=Path),
    Option(
        "--prompts-per-concurrency",
        "grid.prompts_per_concurrency",
        "requests per cell = concurrency x this",
        parse=int,
        field="prompts",
        label="Prompts x conc",
        example="10",
        form_parse=required(whole, "requests per concurrency level, e.g. 10"),
    ),
    Option("--warmup", "grid.warmup_requests", "unmeasured warm-up requests before each cell", parse=int),
    Option(
        "--seed",
        "load.seed",
        "draw the prompts from this seed: runs with one seed send the same prompts (default: drawn per run)",
        parse=int,
    ),
    Option(
        "--reset-prefix-cache",
        "load.reset_prefix_cache",
        "empty the server's prefix cache before each cell where it allows it (default on)",
        action="switch",
    ),
    Option("--port", "port", "port for the launched server (default: a free one)", parse=int),
    Option("--docker", "docker", "run the recipe's docker image", action="switch"),
    Option("--api", "load.api", "which OpenAI API to load", choices=("auto", "completions", "chat")),
    Option(
        "--prompt-format", "load.prompt", "how prompts of exact length are made", choices=("auto", "token_ids", "text")
    ),
    Option(
        "--request-timeout",
        "load.request_timeout_s",
        "give up a request after S seconds (default: 300 + 1 per output token)",
        parse=float,
        metavar="S",
    ),
    Option(
        "--stall-timeout",
        "load.stall_timeout_s",
        "with requests in flight, S seconds without a token or any change in the server's /metrics "
        "mean it stalled: the run ends (default 60)",
        parse=float,
        metavar="S",
    ),
    Option(
        "--max-failed-share",
        "load.max_failed_share",
        "a cell with a larger share of failed requests fails the run (default 0.05)",
        parse=float,
        metavar="F",
    ),
)

# Isolation of the client from the server, the run's lifecycle, and the load's workers.
HOST_OPTIONS: tuple[Option, ...] = (
    Option(
        "--server-nice",
        "isolation.server_nice",
        "priority (nice 0-19) of a launched server, so the client gets a CPU when it needs one "
        "(default: 15 when launched on this host; 0 turns it off)",
        parse=int,
    ),
    Option(
        "--server-idle",
        "isolation.server_idle",
        "run a launched server under SCHED_IDLE (only CPU time no ordinary process wants)",
        action="switch",
    ),
    Option("--server-cpus", "isolation.server_cpus", "CPUs of a launched server, e.g. 2-63 (default: any)"),
    Option("--detach", action="store_true", help="headless: run in the background, print its folder, return at once"),
    Option(
        "--resume",
        help="continue an interrupted or failed run or sweep, skipping finished cells (and variants)",
        parse=Path,
        metavar="RUN_DIR",
    ),
    Option("--api-key", help="the server's API key, sent as a bearer token (default: $OPENAI_API_KEY; never saved)"),
    Option("--client-cpus", "isolation.client_cpus", "CPUs of the load's thread, e.g. 0-1 (default: any)"),
    Option(
        "--workers",
        "load.workers",
        "load worker processes, each with its own event loop and connections (default auto: from the "
        "load and the client's CPUs; HTTP targets only)",
        parse=parse_workers,
        metavar="N|auto",
        field="workers",
        label="workers",
        example="4",
        form_parse=lambda text: parse_workers(text or "auto"),
        form_default="auto",
    ),
    Option(
        "--ray",
        "load.ray_address",
        "run the load workers as Ray actors spread over this cluster's nodes: the head's HOST:PORT, "
        "or auto for the cluster running on this host (needs pip install 'llmbench-tui[ray]')",
        metavar="ADDRESS",
    ),
)

# A sweep (engine/sweepspec.py): the server variants to run the grid on, each axis repeatable.
_AXIS = {"parse": parse_axis, "action": "append", "metavar": "NAME=V1,V2"}
SWEEP_OPTIONS: tuple[Option, ...] = (
    Option("--sweep-flag", help="sweep a vLLM flag (dashes optional), e.g. max-num-seqs=128,256", **_AXIS),
    Option("--sweep-env", help="sweep an environment variable, e.g. VLLM_ROCM_USE_AITER=0,1", **_AXIS),
    Option("--sweep-recipes", help="sweep recipes (names or paths), e.g. r1,r2", parse=parse_recipes, action="append"),
)

OPTIONS: tuple[Option, ...] = (
    RUN_OPTIONS + WORKLOAD_OPTIONS + SHAPE_OPTIONS + TARGET_OPTIONS + HOST_OPTIONS + SWEEP_OPTIONS
)

# Flag (argparse dest) -> the profile field it sets, for the flags the user typed.
OVERRIDES: dict[str, str] = {o.dest: o.path for o in OPTIONS if o.cli and o.path}
# The form's fields by name (engine/workload.py, tui/workload.py).
FORM: dict[str, Option] = {o.field: o for o in OPTIONS if o.field}
