"""Benchmarks of the workbench against plain-library baselines (scripts, not tests): see docs/benchmarks.md."""
