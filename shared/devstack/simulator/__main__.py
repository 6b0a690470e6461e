"""`python -m chorus.devstack.simulator`: the simulator without the rest of the CLI."""

import argparse
import json

from chorus.devstack.simulator.config import PROFILES, ModelLimits, SimulatorConfig
from chorus.devstack.simulator.server import serve

parser = argparse.ArgumentParser(description="Anthropic-compatible offline model simulator")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8765)
# Unset options keep the profile's value: "default" is fast and exact, "realistic" is slow.
parser.add_argument("--profile", choices=PROFILES, default="default")
parser.add_argument("--latency-ms", type=float, default=None, help="median latency")
parser.add_argument("--latency-p99-ms", type=float, default=None)
parser.add_argument("--ms-per-output-token", type=float, default=None)
# Prefill: ms per input token not read from the prompt cache, added to the first token.
parser.add_argument("--ms-per-input-token", type=float, default=None)
parser.add_argument("--seed", type=int, default=None)
parser.add_argument(
    "--stream-tokens-per-s", type=float, default=None, help="text pieces per second when streamed"
)
parser.add_argument("--reply-tokens-max", type=int, default=None)
parser.add_argument("--fail-every", type=int, default=None)
parser.add_argument("--fail-status", type=int, default=None)
parser.add_argument("--plan-size", type=int, default=None)
parser.add_argument("--api-key", default=None)
parser.add_argument(
    "--rate-limits",
    default=None,
    help='per model, e.g. \'{"claude-haiku-5-5": {"requests_per_minute": 50}}\'',
)
args = parser.parse_args()
limits = None
if args.rate_limits:
    limits = {m: ModelLimits.model_validate(v) for m, v in json.loads(args.rate_limits).items()}
serve(
    args.host,
    args.port,
    SimulatorConfig.for_profile(
        args.profile,
        latency_ms=args.latency_ms,
        latency_p99_ms=args.latency_p99_ms,
        ms_per_output_token=args.ms_per_output_token,
        ms_per_input_token=args.ms_per_input_token,
        seed=args.seed,
        stream_tokens_per_s=args.stream_tokens_per_s,
        reply_tokens_max=args.reply_tokens_max,
        fail_every=args.fail_every,
        fail_status=args.fail_status,
        plan_size=args.plan_size,
        api_key=args.api_key,
        rate_limits=limits,
    ),
)
