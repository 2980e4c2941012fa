"""Scenario tests for what live Bybit and Gate do beyond the happy wire (issue 12): each drives a daemon
over real HTTP against the sandbox, with the live behaviour switched on through the sandbox's control."""
from tests.pipeline.conftest import make_daemon, world  # noqa: F401  (the pipeline's World and daemons)
