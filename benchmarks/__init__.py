"""Benchmarks (`make bench`, `make bench-quick`): ratios and percentiles measured in one run."""
