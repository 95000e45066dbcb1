"""The exit codes of every command: 0 ok, 1 the run failed, 2 bad input before anything was
launched, 130 interrupted. A module of its own, so that a front end's start imports no run."""

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
