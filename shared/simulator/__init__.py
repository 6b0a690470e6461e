"""The offline model: an Anthropic-compatible Messages API server reached through `base_url`."""

from shared.simulator.app import create_simulator_app
from shared.simulator.config import SimulatorConfig
from shared.simulator.server import serve

__all__ = ["SimulatorConfig", "create_simulator_app", "serve"]
