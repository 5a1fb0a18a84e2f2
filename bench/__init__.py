"""Benchmarks: run with `make bench`, figures in docs/performance.md."""
