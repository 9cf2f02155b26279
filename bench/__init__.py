"""Benchmarks: `python -m bench.<name>`; each prints figures measured in one run."""
