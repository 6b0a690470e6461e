"""`python -m chorus.simulator`: the simulator without the rest of the CLI."""

import argparse

from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.server import serve

parser = argparse.ArgumentParser(description="Anthropic-compatible offline model simulator")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8765)
parser.add_argument("--latency-ms", type=float, default=0)
parser.add_argument("--fail-every", type=int, default=0)
parser.add_argument("--fail-status", type=int, default=529)
parser.add_argument("--plan-size", type=int, default=None)
parser.add_argument("--api-key", default=None)
args = parser.parse_args()
serve(
    args.host,
    args.port,
    SimulatorConfig(
        latency_ms=args.latency_ms,
        fail_every=args.fail_every,
        fail_status=args.fail_status,
        plan_size=args.plan_size,
        api_key=args.api_key,
    ),
)
