"""Benchmarks run by `make bench`. Each module `bench/bench_*.py` defines `main(argv) -> None`."""
