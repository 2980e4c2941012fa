"""The ops tests drive the daemon through the operator's own tools (supervisord, Prometheus) against a
sandbox World on loopback, the same World the pipeline tests use."""
from tests.pipeline.conftest import world  # noqa: F401 — a fixture, used by name
