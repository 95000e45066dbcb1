"""Every option of a run, declared once (table.py), and the parsers of their text (parse.py)."""
