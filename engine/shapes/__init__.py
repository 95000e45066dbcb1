"""Load shapes: how a cell's requests are paced, one module per shape (closed.py, rate.py, ...),
each owning all of itself; registry.py lists them, base.py is what each answers."""
