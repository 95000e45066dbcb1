"""What output tokens cost, from the price of a GPU-hour (the hardware profile's `gpu_hour_cost`,
in whatever currency the operator priced it; the figure is in that currency)."""

from __future__ import annotations


def cost_per_million(gpu_hour_cost: float | None, gpus: int, output_tok_s: float) -> float | None:
    """Cost of a million output tokens on `gpus` GPUs delivering `output_tok_s` output tokens per
    second in all: (price x GPUs per hour) / (tokens per hour) x 1e6. None without a price or
    without output (never 0: an unpriced run has no cost figure, not a free one)."""
    if gpu_hour_cost is None or output_tok_s <= 0 or gpus < 1:
        return None
    return gpu_hour_cost * gpus / (output_tok_s * 3600.0) * 1e6
