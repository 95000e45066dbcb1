"""Sweeps: one profile, many server variants (flags, environment, recipes), each run as an
ordinary run folder inside one sweep folder whose sweep.json (engine/sweep/model.py) lists them."""
