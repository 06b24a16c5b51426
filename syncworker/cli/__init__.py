"""The ``syncworker`` command line."""

# Exit codes, documented in the README.
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 3
