"""`chorus`: submit and follow jobs, run the services, the simulator and the demo.

The commands live by kind in `shared.cli.jobs` and `shared.cli.services`; importing them
registers them on the one Typer app.
"""

from shared.cli import jobs, services
from shared.cli.app import app

__all__ = ["app", "jobs", "services"]
