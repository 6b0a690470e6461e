"""Verdicts and tables of the caching and batch-mode sections (bench/caching.py,
bench/batching.py), each figure beside the baseline measured in the same run."""

from __future__ import annotations

from typing import Any

from bench.tables import table

RATIO_TARGETS = {"one_model": 0.35, "two_models": 0.5}
BATCH_COST_TARGET = 0.5


def _setup(c: dict[str, Any]) -> str:
    if c["planner"] == c["workers"]:
        return f"planner and workers on {c['planner']}"
    return f"planner on {c['planner']}, workers on {c['workers']}"


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return _caching(r) + _batch(r)


def _caching(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    if "caching" not in r:
        return []
    x = r["caching"]
    rows = []
    for name, limit in RATIO_TARGETS.items():
        c = x["cost"][name]
        rows.append(
            (
                f"input cost of a {x['subtasks']}-subtask job, {x['shared_tokens']:,}-token "
                f"shared block, {_setup(c)}: cache auto ≤ {limit:.0%} of off",
                f"{c['ratio']:.1%} (${c['input_usd']['auto']:.4f} auto, "
                f"${c['input_usd']['off']:.4f} off; {c['cache_writes']} cache write, "
                f"{c['cache_reads']} reads)",
                c["ratio"] <= limit,
            )
        )
    lat = x["latency"]
    rows.append(
        (
            "two-model job with cache auto ≤ cache off + one time to first token",
            f"{lat['added_ms']:+.0f} ms ({lat['job_s']['auto'] * 1000:.0f} ms auto, "
            f"{lat['job_s']['off'] * 1000:.0f} ms off, medians in turns); time to first "
            f"token {lat['ttft_ms']:.0f} ms (worker calls, median)",
            lat["added_ms"] <= lat["ttft_ms"],
        )
    )
    return rows


def _batch(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    if "batch" not in r:
        return []
    b = r["batch"]
    goal = (
        f"batch mode: {b['jobs']}×{b['subtasks']} jobs cost ≤ {BATCH_COST_TARGET:.0%} of the "
        "same jobs in normal mode"
    )
    if "skipped" in b:
        return [(goal, f"not measured: {b['skipped']}", False)]
    normal, batch = b["normal"], b["batch"]
    return [
        (
            goal,
            f"{b['cost_ratio']:.1%} (${batch['cost_usd']:.4f} batched, "
            f"${normal['cost_usd']:.4f} normal; all final in {batch['wall_s']:.1f} s batched, "
            f"{normal['wall_s']:.1f} s normal)",
            b["cost_ratio"] <= BATCH_COST_TARGET,
        )
    ]


def markdown(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if "caching" in r:
        x = r["caching"]
        sim, lat = x["simulator"], x["latency"]
        prefill = (
            f", {sim['ms_per_input_token']:g} ms per uncached input token"
            if sim["ms_per_input_token"]
            else ", no prefill time"
        )
        out += [
            f"## Prompt caching: {x['subtasks']} subtasks, a {x['shared_tokens']:,}-token "
            "shared block",
            "",
            f"Simulator: {sim['base_ms']:.0f} ms to the first token, "
            f"{sim['ms_per_output_token']:g} ms per output token{prefill}; its cache emptied "
            "before every job. Input cost: planning and worker calls' input, cache writes and "
            "reads at list price (output zeroed); job cost: the record's `usage.cost_usd`.",
            "",
        ]
        rows = [
            [_setup(c), f"${c['input_usd']['auto']:.4f}", f"${c['input_usd']['off']:.4f}",
             f"{c['ratio']:.1%}", f"${c['job_cost_usd']['auto']:.4f}",
             f"${c['job_cost_usd']['off']:.4f}", f"${c['record_saving_usd']:.4f}",
             f"{c['cache_writes']} / {c['cache_reads']}"]
            for c in x["cost"].values()
        ]  # fmt: skip
        out += table(
            ["models", "input auto", "input off", "auto ÷ off", "job auto", "job off",
             "record's cache saving", "calls writing / reading"],
            rows,
        )  # fmt: skip
        samples = "; ".join(
            f"{mode} " + ", ".join(f"{s * 1000:.0f}" for s in values) + " ms"
            for mode, values in lat["samples_s"].items()
        )
        out += [
            f"Two-model job, median of {lat['runs']} in turns (the record's clock): auto "
            f"{lat['job_s']['auto'] * 1000:.0f} ms, off {lat['job_s']['off'] * 1000:.0f} ms "
            f"({lat['added_ms']:+.0f} ms). Worker calls: first token after "
            f"{lat['ttft_ms']:.0f} ms uncached, {lat['ttft_auto_ms']:.0f} ms with caching; "
            f"a whole call {lat['worker_call_ms']:.0f} ms. Samples: {samples}.",
            "",
        ]
    if "batch" in r:
        b = r["batch"]
        out += [f"## Batch mode: {b['jobs']} jobs × {b['subtasks']} subtasks", ""]
        if "skipped" in b:
            return [*out, f"Not measured: {b['skipped']}.", ""]
        settings = ", ".join(f"{k}={v}" for k, v in b["settings"].items())
        out += [
            f"One stack ({settings}) on the 0 ms simulator answering a batch's requests "
            f"{b['delay_s']:g} s after the batch is created; all jobs submitted at once.",
            "",
        ]
        out += table(
            ["mode", "total cost", "all final", "results batched"],
            [
                [mode, f"${b[mode]['cost_usd']:.4f}", f"{b[mode]['wall_s']:.1f} s",
                 str(b[mode]["batched_results"])]
                for mode in ("normal", "batch")
            ],
        )  # fmt: skip
    return out


def _default_pair(cost: dict[str, Any]) -> str:
    """The default Sonnet planner reads the block at 3x the workers' price, uncached: no
    cache can cut that part, so the ratio is the planner's share, not a miss."""
    pair = cost.get("default_models")
    if pair is None:
        return ""
    return (
        f"; {pair['ratio']:.0%} with the default pairing ({pair['planner']} planning at three "
        "times the workers' price, whose one uncached read of the block no cache can cut)"
    )


def readme_lines(r: dict[str, Any]) -> list[str]:
    out = []
    if "caching" in r:
        x = r["caching"]
        cost, lat = x["cost"], x["latency"]
        out.append(
            f"- Caching a {x['shared_tokens']:,}-token shared block over {x['subtasks']} "
            f"subtasks: the input costs {cost['one_model']['ratio']:.0%} of uncached with the "
            f"planner on the workers' model, {cost['two_models']['ratio']:.0%} on two models "
            f"at one price, where warming adds {lat['added_ms']:.0f} ms to the job (one time "
            f"to first token: {lat['ttft_ms']:.0f} ms)" + _default_pair(cost) + "."
        )
    if "batch" in r and "skipped" not in r["batch"]:
        b = r["batch"]
        out.append(
            f"- Batch mode: {b['jobs']}×{b['subtasks']} jobs cost {b['cost_ratio']:.0%} of "
            f"normal mode, all final in {b['batch']['wall_s']:.0f} s against "
            f"{b['normal']['wall_s']:.0f} s (simulated batches answer in {b['delay_s']:g} s)."
        )
    return out
