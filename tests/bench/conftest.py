"""The live-server fixtures of tests/e2e, for the benchmark harness's smoke test."""

from tests.e2e.conftest import daphne_factory, redis_url  # noqa: F401 (fixtures)
