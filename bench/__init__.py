"""Benchmark harness: a WebSocket load generator, the baselines it is compared with, and
the scenarios of docs/benchmarks.md. Run it with ``python -m bench.run``."""
