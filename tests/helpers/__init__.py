"""Helpers shared by the tests (import them from here, not from a conftest): waiting on a condition, the
simulator in-process, a running engine."""

from tests.helpers.engine import engine_config, engine_rounds, running_engine
from tests.helpers.sim import SIM_BASE, TEST_KEY, SimHarness, fast_sim_config
from tests.helpers.wait import poll_until, wait_for

__all__ = [
    "SIM_BASE",
    "TEST_KEY",
    "SimHarness",
    "engine_config",
    "engine_rounds",
    "fast_sim_config",
    "poll_until",
    "running_engine",
    "wait_for",
]
