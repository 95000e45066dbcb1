"""The run's seed: what its prompts, dataset draws and arrivals are drawn from.

Unset in the profile (`load.seed`, --seed), each run draws its own, so two runs never send the
same prompts (a server with prefix caching would serve the second from its cache and look faster);
set, exactly that value, and the prompts repeat. A resume goes on with the value its run recorded.
"""

from __future__ import annotations

import secrets

from engine.profiles import ResolvedProfile
from engine.report.run_notes import PromptSeed


def run_seed(profile: ResolvedProfile, recorded: PromptSeed | None, resume: bool) -> PromptSeed:
    """The seed of this run: the one it recorded (a resume), the profile's, or a fresh one."""
    if recorded is not None:
        return recorded
    if profile.load.seed is not None:
        return PromptSeed(value=profile.load.seed, explicit=True)
    if resume:  # a run from before seeds were recorded drew from 0
        return PromptSeed(value=0, explicit=False)
    return PromptSeed(value=secrets.randbelow(2**31), explicit=False)


def seeded(profile: ResolvedProfile, seed: PromptSeed) -> ResolvedProfile:
    """The profile whose load.seed is the run's: everything downstream draws from it."""
    return profile.model_copy(update={"load": profile.load.model_copy(update={"seed": seed.value})})
