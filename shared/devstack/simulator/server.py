"""Run the simulator under uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from chorus.core.network import is_loopback
from chorus.devstack.simulator.app import create_simulator_app
from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.streaming import StreamCut


class _QuietCuts(logging.Filter):
    """A stream cut on purpose (a fault rule) ends the response by raising, which uvicorn
    logs as a crash; it is the simulated network failure, not one of the simulator's."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        return not isinstance(error, StreamCut)


def serve(host: str, port: int, config: SimulatorConfig) -> None:
    if not is_loopback(host) and not config.api_key:
        raise ValueError(
            f"refusing to listen on {host} without an API key: set --api-key "
            "(or CHORUS_SIMULATOR_API_KEY) to serve beyond loopback"
        )
    logging.getLogger("uvicorn.error").addFilter(_QuietCuts())
    server = uvicorn.Server(
        uvicorn.Config(
            create_simulator_app(config),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            backlog=2048,
            # uvicorn closes an idle keep-alive connection after 5 s, exactly when httpx's
            # pool (keepalive_expiry 5 s) may pick it for the next call: under load that race
            # failed one call in ten. The real API keeps idle connections far longer.
            timeout_keep_alive=75,
        )
    )
    original_startup = server.startup

    async def startup(*args: object, **kwargs: object) -> None:
        await original_startup(*args, **kwargs)  # type: ignore[arg-type]
        # The parent process waits for this line before it sends any request.
        print(f"simulator listening on http://{host}:{port}", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run()
