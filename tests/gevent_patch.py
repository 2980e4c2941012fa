"""Loaded with `-p tests.gevent_patch` (setup.cfg) before any other pytest plugin.

pytest-redis and pytest-postgresql import ssl and sockets at plugin load;
patching here, first, gives the whole test session the cooperative runtime
that `itrader run` has.
"""
from gevent import monkey

monkey.patch_all()
