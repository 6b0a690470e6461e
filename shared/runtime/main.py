"""The composition root of an orchestrator or worker process: the one module that wires the
services' tasks and the process hooks into a Celery app.

`celery -A chorus.runtime.main worker -Q orchestrator` (or `-Q subtasks`, or `flower`) finds
`app` here. The app is built when Celery first asks for it, not when the module is imported.
"""

from __future__ import annotations

import functools

from chorus.runtime.app import ChorusCelery, create_celery_app


@functools.cache
def worker_app() -> ChorusCelery:
    """The app of this process: every Chorus task registered and the process hooks installed."""
    from chorus.orchestrator_service import tasks as orchestrator_tasks
    from chorus.orchestrator_service.reconciler import ReconcilerThread
    from chorus.orchestrator_service.webhooks import WebhookThread
    from chorus.runtime import lifecycle
    from chorus.runtime.profiles import load_profiles
    from chorus.store.connection import redis_client
    from chorus.worker_service import tasks as worker_tasks

    app = create_celery_app()
    load_profiles(app.settings)  # a broken profile stops the process before it consumes
    orchestrator_tasks.register(app)
    worker_tasks.register(app)
    lifecycle.install(
        app,
        orchestrator_background=lambda: lifecycle.Backgrounds(
            ReconcilerThread(app, app.settings, redis_client(app.settings)),
            WebhookThread(app.settings, redis_client(app.settings)),
        ),
    )
    return app


def __getattr__(name: str) -> ChorusCelery:
    # `celery -A chorus.runtime.main` reads `app` off this module (PEP 562).
    if name == "app":
        return worker_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
