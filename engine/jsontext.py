"""Strict JSON for every file we write: never `NaN` or `Infinity`, which Python's json writes by
default but RFC 8259, jq and strict parsers reject. A figure that is not finite is written as null;
where the writer knows why a figure is undefined, it records the reason beside the null (e.g.
engine.stats.intervals.LogSpread.record)."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """`value` with every float that is not finite (nan, +-inf) replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """json.dumps that always gives valid JSON. The common case (all finite) costs one dump; only
    data holding nan or inf is walked and cleaned."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:
        return json.dumps(finite(value), allow_nan=False, **kwargs)


def strict_loads(text: str) -> Any:
    """json.loads as a strict parser reads: NaN, Infinity and -Infinity are errors."""

    def reject(name: str) -> Any:
        raise ValueError(f"not valid JSON: {name}")

    return json.loads(text, parse_constant=reject)
