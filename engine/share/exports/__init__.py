"""Every export format, found here: each module named to_<format>.py holds one EXPORT (the
engine.share.exports.base.Export interface), so a new format is one new file in this folder."""

from __future__ import annotations

import importlib
import pkgutil

from engine.share.exports.base import Export


def exports() -> list[Export]:
    """The formats, in the order of their module names."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("to_"))
    return [importlib.import_module(f"{__name__}.{name}").EXPORT for name in names]
