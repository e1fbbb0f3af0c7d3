"""Benchmarks: runnable scripts, `python -m bench.<name> --help`. Results are kept in docs/benchmarks.md."""
