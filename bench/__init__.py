"""Benchmarks for `make bench`; printed as tables, never asserted as timed tests."""
