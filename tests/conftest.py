"""Test session set-up.

gevent is patched before anything else is imported, exactly as `itrader run`
does, so the code under test runs on the same cooperative runtime as in
production. Real servers (PostgreSQL, Redis, Dovecot, the sandbox) are started
on loopback by the fixtures in tests/servers/.
"""
from gevent import monkey

monkey.patch_all()

pytest_plugins = [
    "tests.servers.postgres",
    "tests.servers.redis",
    "tests.servers.dovecot",
    "tests.servers.sandbox",
]
