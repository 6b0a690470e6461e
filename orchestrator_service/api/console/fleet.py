"""The console's Fleet page: processes online, queue depths, and the signed-in tenant's last hour.

Processes and queues name no tenant's data and are shown fleet-wide; jobs finished and spend
come from the minute buckets (`chorus.core.fleet_buckets`) and only ever the caller's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from chorus.contract import names
from chorus.core import fleet_buckets
from chorus.orchestrator_service.api.console.html import dollars, esc, page
from chorus.runtime.redelivery import KOMBU_UNACKED

CHART_W, CHART_H = 600, 120
AXIS_PX = 18
QUEUES = (names.ORCHESTRATOR_QUEUE, names.SUBTASKS_QUEUE)
ROLES = ("orchestrator", "worker")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    minutes_ago: int


@dataclass(frozen=True)
class Fleet:
    processes: list[tuple[str, str]]  # (instance, role), sorted
    queues: dict[str, int]  # messages waiting, by queue
    in_flight: int  # delivered to a process, not yet acknowledged
    jobs_per_minute: list[int]  # the tenant's, oldest minute first, the current one last
    spend: dict[str, float]  # the tenant's dollars by model over the window


def role(instance: str) -> str:
    """A process's role from its Celery node name (`worker3@host/1a2b3c4d`): the name before
    '@' says which queue it was started for, by the stack's and the images' convention."""
    name = instance.split("@", 1)[0].lower()
    return next((r for r in ROLES if name.startswith(r)), "other")


def bars(counts: Sequence[int], width: float, height: float) -> list[Bar]:
    """One bar per minute, oldest at the left, scaled so the busiest minute fills `height`;
    an idle minute is a bar of height 0 (still there, so a tooltip can say so)."""
    if not counts:
        return []
    slot = width / len(counts)
    gap = min(1.0, slot / 4)
    top = max(counts)
    chart = []
    for i, count in enumerate(counts):
        tall = height * count / top if top else 0.0
        chart.append(Bar(i * slot, height - tall, slot - gap, tall, count, len(counts) - 1 - i))
    return chart


def read_fleet(client: redis.Redis, tenant: str, now_s: float) -> Fleet:
    """Two round trips: the ledger set, then every heartbeat, depth and minute bucket."""
    instances = sorted(str(i) for i in client.smembers(names.LEDGERS_KEY))
    newest = fleet_buckets.epoch_minute(now_s)
    minutes = range(newest - fleet_buckets.WINDOW_MINUTES + 1, newest + 1)
    with client.pipeline(transaction=False) as pipe:
        for instance in instances:
            pipe.exists(names.heartbeat_key(instance))
        for queue in QUEUES:
            pipe.llen(queue)
        pipe.hlen(KOMBU_UNACKED)
        for minute in minutes:
            pipe.hgetall(names.fleet_minute_key(minute))
        replies = pipe.execute()
    beats, rest = replies[: len(instances)], replies[len(instances) :]
    depths, in_flight, buckets = rest[: len(QUEUES)], rest[len(QUEUES)], rest[len(QUEUES) + 1 :]
    spend: dict[str, float] = {}
    for bucket in buckets:
        for model, amount in fleet_buckets.cost_by_model(bucket, tenant).items():
            spend[model] = spend.get(model, 0.0) + amount
    finished = fleet_buckets.jobs_finished_field(tenant)
    return Fleet(
        processes=[(i, role(i)) for i, alive in zip(instances, beats, strict=True) if alive],
        queues={q: int(n) for q, n in zip(QUEUES, depths, strict=True)},
        in_flight=int(in_flight),
        jobs_per_minute=[int(float(b.get(finished, 0))) for b in buckets],
        spend=spend,
    )


def chart_svg(counts: Sequence[int]) -> str:
    """Jobs per minute as an SVG fragment (classes only: the CSP allows no inline style)."""
    total_h = CHART_H + AXIS_PX
    parts = [
        f'<svg class="fleet-chart" xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" '
        f'height="{total_h}" viewBox="0 0 {CHART_W} {total_h}" role="img" '
        f'aria-label="jobs finished per minute, last {len(counts)} minutes: {sum(counts)}">'
        f'<line class="axis" x1="0" y1="{CHART_H}" x2="{CHART_W}" y2="{CHART_H}"/>'
    ]
    for bar in bars(counts, CHART_W, CHART_H):
        ago = "this minute" if bar.minutes_ago == 0 else f"{bar.minutes_ago} min ago"
        parts.append(
            f'<rect class="minute" x="{bar.x:.1f}" y="{bar.y:.1f}" width="{bar.width:.1f}" '
            f'height="{bar.height:.1f}"><title>{ago}: {bar.count} jobs</title></rect>'
        )
    parts.append(
        f'<text class="tick-label" x="0" y="{total_h - 4}">-{len(counts)} min</text>'
        f'<text class="tick-label" x="{CHART_W - 30}" y="{total_h - 4}">now</text></svg>'
    )
    return "".join(parts)


def fleet_page(fleet: Fleet, tenant: str) -> str:
    counts = {r: sum(1 for _, got in fleet.processes if got == r) for r in (*ROLES, "other")}
    online = ", ".join(f"{n} {r}" for r, n in counts.items() if n)
    processes = "".join(
        f'<tr class="process"><td><code>{esc(i)}</code></td><td>{esc(r)}</td></tr>'
        for i, r in fleet.processes
    )
    queues = "".join(
        f'<tr class="queue"><td>{esc(q)}</td><td>{n:,}</td></tr>' for q, n in fleet.queues.items()
    )
    spend = "".join(
        f'<tr class="spend-model"><td>{esc(tenant)}</td><td>{esc(model)}</td>'
        f"<td>{dollars(cost)}</td></tr>"
        for model, cost in sorted(fleet.spend.items())
    )
    total = sum(fleet.spend.values())
    return page(
        "Fleet",
        f'<h1>Fleet</h1><h2>Processes online</h2><p class="online">'
        f"<b>{len(fleet.processes)}</b> online{f': {online}' if online else ''}</p>"
        "<table><thead><tr><th>Process</th><th>Role</th></tr></thead>"
        f"<tbody>{processes}</tbody></table>"
        "<h2>Queues</h2><table><thead><tr><th>Queue</th><th>Waiting</th></tr></thead>"
        f'<tbody>{queues}<tr class="in-flight"><td>in flight (delivered, not acknowledged)</td>'
        f"<td>{fleet.in_flight:,}</td></tr></tbody></table>"
        f"<h2>Your jobs finished per minute, last hour</h2>"
        f'<p class="jobs-hour">{sum(fleet.jobs_per_minute)} jobs finished in the last hour</p>'
        f"{chart_svg(fleet.jobs_per_minute)}"
        "<h2>Your spend in the last hour</h2><table><thead><tr><th>Tenant</th><th>Model</th>"
        f"<th>Cost</th></tr></thead><tbody>{spend}"
        f'<tr class="spend-tenant"><td>{esc(tenant)}</td><td>all models</td>'
        f"<td>{dollars(total)}</td></tr></tbody></table>",
    )


def add_fleet_route(
    api: FastAPI, signed_in: Callable[[Request], str | None], client: redis.Redis
) -> None:
    @api.get("/ui/fleet", include_in_schema=False)
    def fleet(request: Request) -> Response:
        who = signed_in(request)
        if who is None:
            return RedirectResponse("/ui/login", status_code=303)
        return HTMLResponse(fleet_page(read_fleet(client, who, time.time()), who))
