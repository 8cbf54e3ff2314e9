"""Benchmarks: each prints a table and the ratio it is judged by (see docs/benchmarks.md)."""
