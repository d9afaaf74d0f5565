"""The lab's results for people (a table, a plot) and for scripts (JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from .experiment import ROLES, LabResult, StepResult
from .timeline import VIP_ADD, VIP_DEL


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _overhead(step: StepResult) -> str:
    if step.takeover_ms is None:
        return "-"
    return f"{step.takeover_ms - step.bound_ms:+.0f}"


def table(result: LabResult) -> str:
    """Each step: who owns the VIP, its takeover against the protocol's bound, GARPs, lost pings."""
    header = (
        "step",
        "action",
        "VIP owners",
        "takeover",
        "from",
        "ms",
        "bound ms",
        "vs bound",
        "1st GARP ms",
        "pings lost",
    )
    rows = [header]
    for s in result.steps:
        owners = ", ".join(s.owners) or "nobody"
        if s.stale:
            owners += f" (stale on {', '.join(s.stale)})"
        if s.split_brain:
            owners += "  SPLIT BRAIN"
        rows.append((
            s.number, s.name, owners, s.watched, s.since, _ms(s.takeover_ms), _ms(s.bound_ms), _overhead(s),
            _ms(s.first_garp_ms), f"{s.pings_lost}/{s.pings_sent}",
        ))  # fmt: skip
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"{s.number}: {note}" for s in result.steps for note in s.notes if s.number != "5"]
    lines += ["", *notes] if notes else []
    bounds = sorted({f"{s.number}: {s.bound_text}" for s in result.steps}, key=lambda t: t.split(":")[0])
    lines += ["", "bounds: " + "; ".join(bounds)]
    startups = [f"{s.number}: {s.startup_ms:.0f} ms" for s in result.steps if s.startup_ms is not None]
    lines.append(
        "takeover: to the VIP event in the router's netlink stream, from the lab's action or, for a "
        "starting daemon, from its first state line (start-up " + ", ".join(startups) + "); "
        "1st GARP: from the action"
    )
    return "\n".join(lines)


def summary(result: LabResult) -> str:
    c = result.config
    if result.split_brain:
        brain = "split brain at step " + ", ".join(s.number for s in result.steps if s.split_brain)
    else:
        brain = "no split brain"
    final = result.steps[-1].owners if result.steps else []
    return (
        f"{c.impls[0]} (r1) vs {c.impls[1]} (r2), VRRPv{c.version} {c.interval:g} s: {brain}; "
        f"VIP on {', '.join(final) or 'nobody'} at the end; {len(result.ping_lost)} of "
        f"{len(result.ping_sent)} pings lost; {result.wall_s:.1f} s"
    )


def to_json(result: LabResult) -> dict:
    """The shape scripts rely on: split_brain, and per step name, owners, takeover_ms, bound_ms."""
    c = result.config
    return {
        "config": {
            "impls": dict(zip(ROLES, c.impls)),
            "version": c.version,
            "interval_s": c.interval,
            "priorities": dict(zip(ROLES, c.priorities)),
            "family": "ipv6" if c.ipv6 else "ipv4",
            "vip": c.vip,
            "firewall": result.firewall,
        },
        "split_brain": result.split_brain,
        "steps": [
            {
                "step": s.number,
                "name": s.name,
                "owners": s.owners,
                "stale": s.stale,
                "states": s.states,
                "split_brain": s.split_brain,
                "takeover": s.watched,
                "takeover_from": s.since,
                "startup_ms": None if s.startup_ms is None else round(s.startup_ms, 3),
                "takeover_ms": None if s.takeover_ms is None else round(s.takeover_ms, 3),
                "bound_ms": round(s.bound_ms, 3),
                "bound": s.bound_text,
                "first_garp_ms": None if s.first_garp_ms is None else round(s.first_garp_ms, 3),
                "pings_sent": s.pings_sent,
                "pings_lost": s.pings_lost,
                "notes": s.notes,
            }
            for s in result.steps
        ],
        "pings": {"sent": len(result.ping_sent), "lost": len(result.ping_lost)},
        "events": [
            {"t_ms": round((e.t - result.t0) * 1e3, 3), "source": e.source, "kind": e.kind, "text": e.text}
            for e in result.events
        ],
        "wall_s": round(result.wall_s, 3),
    }


def write_json(result: LabResult, path: Path) -> None:
    path.write_text(json.dumps(to_json(result), indent=2) + "\n")


def ownership(result: LabResult, role: str) -> list[tuple[float, float]]:
    """Intervals (seconds since start) during which `role`'s interface carried the VIP."""
    spans, since = [], None
    end = result.events[-1].t if result.events else result.t0
    for e in result.events:
        if e.source != role:
            continue
        if e.kind == VIP_ADD and since is None:
            since = e.t
        elif e.kind == VIP_DEL and since is not None:
            spans.append((since - result.t0, e.t - result.t0))
            since = None
    if since is not None:
        spans.append((since - result.t0, end - result.t0))
    return spans


def overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Intersections of two lists of (start, end) spans."""
    return [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b if max(s1, s2) < min(e1, e2)]


def daemon_down(result: LabResult, role: str) -> list[tuple[float, float]]:
    """Spans (seconds since start) of steps that ended with `role` holding a stale VIP."""
    spans = []
    for n, step in enumerate(result.steps):
        if role in step.stale:
            end = result.steps[n + 1].started if n + 1 < len(result.steps) else step.settled
            spans.append((step.started - result.t0, end - result.t0))
    return spans


def split_brain_spans(result: LabResult) -> list[tuple[float, float]]:
    """When both routers held the VIP with their daemons running, for longer than an advert
    interval: a preemption overlaps for a millisecond (the new master adds the VIP as the old
    one hears its advert), which is a handover, not a split brain."""
    both = overlap(ownership(result, "r1"), ownership(result, "r2"))
    dead = [span for role in ROLES for span in daemon_down(result, role)]
    return [(a, b) for a, b in both if b - a > result.config.interval and not overlap([(a, b)], dead)]


def plot(result: LabResult, path: Path) -> None:
    """VIP ownership per router and lost pings per 100 ms over time, steps marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (own, loss) = plt.subplots(2, 1, figsize=(12, 5), sharex=True, height_ratios=(2, 1))
    colours = {"r1": "tab:blue", "r2": "tab:orange"}
    for row, role in enumerate(ROLES):
        spans = [(a, b - a) for a, b in ownership(result, role)]
        own.broken_barh(spans, (row + 0.6, 0.8), color=colours[role])
        stale = [(a, b - a) for a, b in overlap(ownership(result, role), daemon_down(result, role))]
        if stale:
            own.broken_barh(stale, (row + 0.6, 0.8), facecolor="white", edgecolor=colours[role], hatch="//",
                            label=f"{role}: VIP left behind, no daemon")  # fmt: skip
    for n, (a, b) in enumerate(split_brain_spans(result)):
        own.axvspan(a, b, color="tab:red", alpha=0.15, label="split brain" if n == 0 else None)
    if own.get_legend_handles_labels()[0]:
        own.legend(loc="lower right", fontsize=8)
    own.set_yticks([1, 2], [f"{r} ({result.config.impls[i]})" for i, r in enumerate(ROLES)])
    own.set_ylim(0.4, 2.6)
    own.set_title(f"VIP {result.config.vip}: who holds it (VRRPv{result.config.version}, {result.config.interval:g} s)")
    bin_s = 0.1
    horizon = max((e.t - result.t0 for e in result.events), default=1.0)
    bins = int(horizon / bin_s) + 1
    counts = [0] * bins
    for t in result.ping_lost:
        counts[min(bins - 1, max(0, int((t - result.t0) / bin_s)))] += 1
    loss.bar([i * bin_s for i in range(bins)], counts, width=bin_s, align="edge", color="tab:red")
    loss.set_ylabel("pings lost / 100 ms")
    loss.set_xlabel("seconds since start")
    for s in result.steps:
        for ax in (own, loss):
            ax.axvline(s.started - result.t0, color="grey", linewidth=0.8, linestyle="--")
        own.annotate(s.number, (s.started - result.t0, 2.5), fontsize=8, ha="left", va="top")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
