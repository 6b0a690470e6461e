"""The offline model: an Anthropic-compatible Messages API server reached through `base_url`."""

from chorus.devstack.simulator.app import create_simulator_app
from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.server import serve

__all__ = ["SimulatorConfig", "create_simulator_app", "serve"]
