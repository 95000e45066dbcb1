"""The server backends this build knows, by the name a recipe gives (`recipe.backend`)."""

from __future__ import annotations

from engine.profiles import ResolvedProfile
from engine.server.backend import Backend
from engine.server.launcher_base import NotSupportedError
from engine.server.vllm_backend import VLLM

BACKENDS: dict[str, Backend] = {VLLM.name: VLLM}
DEFAULT_BACKEND: Backend = VLLM  # a recipe that names none (recipe.backend's default)


def register(backend: Backend) -> None:
    """Make `backend` available to recipes by its name (a plugin, or a test's own backend)."""
    BACKENDS[backend.name] = backend


def backend_named(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        message = f"recipe.backend = {name!r}: no such server backend; this build knows {known}"
        raise NotSupportedError(message) from None


def backend_for(profile: ResolvedProfile) -> Backend:
    return backend_named(profile.recipe.backend)
