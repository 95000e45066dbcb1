"""The exit codes of every command (the headless run, its subcommands, the TUI's entry point).

0: it did what was asked. 1: the run failed (the server died, too many requests failed, a full
disk). 2: bad input, refused before anything was launched. 130: interrupted (Ctrl-C, SIGTERM).
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
