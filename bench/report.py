"""Markdown tables from a run's results, and the DESIGN targets checked against them."""

from __future__ import annotations

from typing import Any

from bench.scenarios import BASELINES

TARGET_RATE = 200  # DESIGN: p99 < 50 ms at 200 msgs/s over 500 pairs


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ratio(ours: float | None, base: float | None) -> str:
    if not ours or not base:
        return "–"
    return f"{ours / base:.2f}×"


def _lost(phase: dict[str, Any]) -> str:
    """Lost (acked, not delivered within the drain) plus unacked; how many came later."""
    lost = phase.get("lost", 0) + phase.get("unacked", 0)
    late = phase.get("late_after_drain", 0)
    return f"{lost} ({late} late)" if late else str(lost)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _baseline(results: dict[str, Any], name: str, pairs: int, mode: str) -> dict | None:
    entry = results.get("throughput", {}).get(f"{name}-{pairs}")
    return entry["phases"].get(mode) if entry and "phases" in entry else None


def throughput_tables(scenarios: dict[str, Any]) -> str:
    rows_closed, rows_open = [], []
    entries = [
        (label, entry)
        for part in ("throughput", "multiprocess", "balanced", "sharded")
        for label, entry in scenarios.get(part, {}).items()
    ]
    for label, entry in entries:
        pairs = entry["pairs"]
        closed = entry["phases"].get("closed", {})
        bases = [_baseline(scenarios, name, pairs, "closed") or {} for name in BASELINES]
        rows_closed.append(
            [
                label,
                pairs,
                closed.get("delivered_per_s"),
                closed.get("p50_ms"),
                closed.get("p99_ms"),
                _lost(closed),
                closed.get("out_of_order"),
                closed.get("stalls"),
                closed.get("server_cpu_s_per_1k"),
                closed.get("server_cpu_pct"),
                entry.get("peak_rss_mb"),
                closed.get("loadgen_cpu_pct"),
                closed.get("machine_busy_pct"),
                *[_ratio(closed.get("delivered_per_s"), b.get("delivered_per_s")) for b in bases],
            ]
        )
        for phase_label, opened in entry["phases"].items():
            if not phase_label.startswith("open"):
                continue
            core = _baseline(scenarios, "tutorial-core", pairs, phase_label) or {}
            rows_open.append(
                [
                    label,
                    pairs,
                    opened.get("offered_per_s"),
                    opened.get("delivered_per_s"),
                    opened.get("p50_ms"),
                    opened.get("p95_ms"),
                    opened.get("p99_ms"),
                    _lost(opened),
                    opened.get("out_of_order"),
                    opened.get("server_cpu_s_per_1k"),
                    opened.get("queue_mb"),
                    opened.get("loadgen_cpu_pct"),
                    _ratio(opened.get("p99_ms"), core.get("p99_ms")),
                    _ratio(opened.get("server_cpu_s_per_1k"), core.get("server_cpu_s_per_1k")),
                ]
            )
    closed_header = [
        "target",
        "pairs",
        "delivered/s",
        "p50 ms",
        "p99 ms",
        "lost",
        "out of order",
        "stalls",
        "server CPU s / 1k msgs",
        "server CPU %",
        "peak RSS MB",
        "loadgen CPU %",
        "machine busy %",
        # In the order the ratios are computed in, above.
        *(f"× {name}" for name in BASELINES),
    ]
    open_header = [
        "target",
        "pairs",
        "offered/s",
        "delivered/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "lost",
        "out of order",
        "server CPU s / 1k msgs",
        "queue frames MB",
        "loadgen CPU %",
        "p99 ÷ tutorial-core",
        "CPU/1k ÷ tutorial-core",
    ]
    return (
        "### Closed loop (maximum throughput; ratios: delivered/s, higher is better)\n\n"
        + _table(closed_header, rows_closed)
        + "\n\n### Open loop (set aggregate rates; ratios to tutorial-core at the same rate and"
        " pairs: lower is better)\n\n" + _table(open_header, rows_open)
    )


def idle_table(results: dict[str, Any]) -> str:
    rows = [
        [
            label,
            r["sockets"],
            r["still_open"],
            r["idle_s"],
            r["cpu_pct_of_core"],
            r["rss_before_mb"],
            r["rss_after_mb"],
            r["kb_per_socket"],
            r["connect_s"],
        ]
        for label, r in results.items()
    ]
    header = [
        "target",
        "sockets",
        "still open",
        "idle s",
        "CPU % of a core",
        "RSS before MB",
        "RSS after MB",
        "KB per socket",
        "connect s",
    ]
    return _table(header, rows)


def history_table(results: dict[str, Any]) -> str:
    rows = []
    for depth, entry in results.items():
        for position, socket_times in entry["socket"].items():
            selector = entry["selector"][position]
            rows.append(
                [
                    int(depth),
                    position,
                    socket_times["p50_ms"],
                    socket_times["p99_ms"],
                    selector["p50_ms"],
                    selector["p99_ms"],
                ]
            )
    header = [
        "messages in thread",
        "page",
        "socket p50 ms",
        "socket p99 ms",
        "selector p50 ms",
        "selector p99 ms",
    ]
    return _table(header, [[_fmt(c, 2) if isinstance(c, float) else c for c in r] for r in rows])


def assignment_table(result: dict[str, Any]) -> str:
    header = ["queued", "coaches", "decisions", "p50 ms", "p99 ms", "max ms", "first fifth p99 ms"]
    row = [
        result["threads"],
        result["coaches"],
        result["decisions"],
        result["all"]["p50_ms"],
        result["all"]["p99_ms"],
        result["all"]["max_ms"],
        result["first_fifth"]["p99_ms"],
    ]
    return _table(header, [[_fmt(c, 2) if isinstance(c, float) else c for c in row]]) + (
        f"\n\nInvariants after the run: {result['invariants']}"
    )


def path_table(result: dict[str, Any]) -> str:
    timing = result["per_message"]
    header = ["messages", "p50 ms", "p99 ms", "queries / message", "by statement", "events"]
    row = [
        result["messages"],
        timing["p50_ms"],
        timing["p99_ms"],
        result["queries_per_message"],
        ", ".join(f"{k} {v}" for k, v in result["statements_per_message"].items()),
        result["events_per_message"],
    ]
    return _table(header, [row])


def logs_table(logs: dict[str, Any]) -> str:
    rows = [
        [name, f["TimeoutError"], f["Traceback"], f["ERROR"], f["WARNING"]]
        for name, f in sorted(logs.items())
    ]
    totals = [sum(r[i] for r in rows) for i in range(1, 5)]
    rows.append(["**all servers**", *totals])
    table = _table(["server log", "TimeoutError", "Traceback", "ERROR", "WARNING"], rows)
    samples = [
        f"- `{name}`: {line}" for name, f in sorted(logs.items()) for line in f["samples"][:2]
    ]
    if samples:
        table += "\n\nSample lines:\n" + "\n".join(samples[:20])
    return table


def profile_section(scenarios: dict[str, Any]) -> str:
    parts = []
    for label, entry in scenarios.get("throughput", {}).items():
        profile = entry.get("profile")
        if not profile:
            continue
        if "error" in profile:
            parts.append(f"**{label}**: py-spy failed: {profile['error']}")
            continue
        parts.append(
            f"**{label}** ({profile['samples']} samples; files: {profile['files']})\n\n"
            + "Self time by package:\n\n"
            + _table(["package", "% of samples"], profile["self_by_package"][:12])
            + "\n\nSelf time by function:\n\n"
            + _table(["function", "%"], profile["self"][:15])
            + "\n\nInclusive time by function:\n\n"
            + _table(["function", "%"], profile["inclusive"][:25])
            + _database_thread(profile.get("database_thread") or {})
        )
    return "\n\n".join(parts)


def _database_thread(thread: dict[str, Any]) -> str:
    if not thread:
        return ""
    return (
        f"\n\nThe database thread ({thread['thread']}) ran actions {thread['busy_pct']} % of "
        "the wall time; inclusive shares of that busy time:\n\n"
        + _table(["function", "% of busy"], thread["inclusive_pct_of_busy"][:20])
    )


# --- the DESIGN targets ----------------------------------------------------------------------


def evaluate_targets(scenarios: dict[str, Any], logs: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, verdict with the measured numbers) for each DESIGN performance target."""
    verdicts: list[tuple[str, str]] = []
    throughput = scenarios.get("throughput", {})
    ours = {k: v for k, v in throughput.items() if v["target"].startswith("ours")}

    lines = []
    for label, entry in ours.items():
        mine = entry["phases"]["closed"]["delivered_per_s"]
        base = _baseline(scenarios, "tutorial-core", entry["pairs"], "closed")
        if base and base["delivered_per_s"]:
            ratio = mine / base["delivered_per_s"]
            verdict = "met" if ratio >= 2 else "not met"
            lines.append(
                f"{label}: {mine:,.0f}/s vs tutorial-core {base['delivered_per_s']:,.0f}/s"
                f" = {ratio:.2f}× ({verdict})"
            )
    if lines:
        verdicts.append(
            ("throughput ≥ 2× tutorial (core layer), PostgreSQL + Redis", "; ".join(lines))
        )

    everything = [
        (label, phase)
        for part in ("throughput", "multiprocess", "balanced", "sharded")
        for label, entry in scenarios.get(part, {}).items()
        if entry["target"].startswith("ours")
        for phase in entry["phases"].values()
    ]
    if everything:
        lost = sum(p["lost"] + p["unacked"] for _, p in everything)
        late = sum(p.get("late_after_drain", 0) for _, p in everything)
        disorder = sum(p["out_of_order"] + p["duplicates"] for _, p in everything)
        sent = sum(p["sent"] for _, p in everything)
        verdict = "met" if lost == 0 and disorder == 0 else "not met"
        verdicts.append(
            (
                "zero loss, ordered by seq (ours, every phase)",
                f"{sent:,} messages: {lost} lost or unacked ({late} of them arrived after the "
                f"drain timeout), {disorder} out of order or "
                f"duplicated ({verdict})",
            )
        )

    open_lines = []
    for label, entry in ours.items():
        opened = entry["phases"].get(f"open-{TARGET_RATE:g}")
        if opened:
            verdict = "met" if (opened["p99_ms"] or 1e9) < 50 else "not met"
            open_lines.append(
                f"{label} at {opened['offered_per_s']:,.0f} msgs/s: p99 {opened['p99_ms']} ms"
                f" ({verdict})"
            )
    if open_lines:
        largest = max(e["pairs"] for e in ours.values())
        note = "" if largest >= 500 else f" — measured up to {largest} pairs only (quick size)"
        verdicts.append(("p99 < 50 ms at 200 msgs/s over 500 pairs" + note, "; ".join(open_lines)))

    idle_lines = []
    for label, r in scenarios.get("idle", {}).items():
        ok = (
            r["cpu_pct_of_core"] < 5
            and r["kb_per_socket"] < 100
            and r["still_open"] == r["sockets"]
        )
        idle_lines.append(
            f"{label}: {r['cpu_pct_of_core']} % of a core, {r['kb_per_socket']} KB/socket, "
            f"{r['still_open']}/{r['sockets']} open ({'met' if ok else 'not met'})"
        )
    if idle_lines:
        verdicts.append(
            ("5,000 idle sockets: < 5 % of a core, < 100 KB per socket", "; ".join(idle_lines))
        )

    history = scenarios.get("history")
    if history:
        depths = sorted(history, key=int)
        shallow, deep = history[depths[0]], history[depths[-1]]
        newest = deep["socket"]["newest"]["p50_ms"]
        flat = newest / max(shallow["socket"]["newest"]["p50_ms"], 1e-9)
        deepest_oldest = deep["socket"]["oldest"]["p50_ms"]
        verdict = "met" if newest < 5 and flat < 1.5 else "not met"
        verdicts.append(
            (
                "history: newest page < 5 ms at 100,000 messages, flat against depth",
                f"at {int(depths[-1]):,} messages: newest page p50 {newest} ms over the socket "
                f"(p99 {deep['socket']['newest']['p99_ms']} ms; selector alone p50 "
                f"{deep['selector']['newest']['p50_ms']} ms), {flat:.2f}× the {int(depths[0]):,}-"
                f"message thread's; oldest page p50 {deepest_oldest} ms ({verdict})",
            )
        )

    assignment = scenarios.get("assignment")
    if assignment:
        p99 = assignment["all"]["p99_ms"]
        verdicts.append(
            (
                "assignment: < 10 ms p99 per decision, 1,000 queued threads, 200 coaches",
                f"p99 {p99} ms, p50 {assignment['all']['p50_ms']} ms over "
                f"{assignment['decisions']} decisions ({'met' if p99 < 10 else 'not met'})",
            )
        )

    multi = scenarios.get("multiprocess", {})
    if multi:
        parts = []
        for label, entry in multi.items():
            lost = sum(
                p["lost"] + p["unacked"] + p["out_of_order"] for p in entry["phases"].values()
            )
            broken = sum(entry["invariants"].values())
            ok = lost == 0 and broken == 0
            parts.append(
                f"{label}: {lost} lost/out of order, invariants {entry['invariants']} "
                f"({'met' if ok else 'not met'})"
            )
        verdicts.append(
            ("two daphne processes: no loss, assignment invariants hold", "; ".join(parts))
        )

    ours_logs = {k: v for k, v in logs.items() if k.startswith("ours")}
    timeouts = sum(v["TimeoutError"] for v in ours_logs.values())
    verdicts.append(
        (
            "no TimeoutError in our servers' logs (the redis-py ≥ 8 trap)",
            f"{timeouts} in {len(ours_logs)} logs ({'met' if timeouts == 0 else 'not met'})",
        )
    )
    return verdicts


def render(results: dict[str, Any]) -> str:
    scenarios = results["scenarios"]
    machine = results["machine"]
    out = [
        f"## Benchmark run {results['run_id']} ({results['size']})",
        "",
        f"`{results['command']}` — {results['started']} to {results['finished']}",
        "",
        f"Machine: {machine['cpu']} × {machine['nproc']} cores, {machine['memory']}; "
        f"load average at start {machine['loadavg_start']}; {machine['versions']}",
    ]
    if any(scenarios.get(k) for k in ("throughput", "multiprocess", "balanced", "sharded")):
        out += ["", throughput_tables(scenarios)]
    if scenarios.get("idle"):
        out += ["", "### Idle sockets", "", idle_table(scenarios["idle"])]
    if scenarios.get("history"):
        out += ["", "### History pages (50 messages)", "", history_table(scenarios["history"])]
    if scenarios.get("assignment"):
        out += ["", "### Assignment decisions", "", assignment_table(scenarios["assignment"])]
    if scenarios.get("message_path"):
        out += [
            "",
            "### The message.send database hop alone",
            "",
            path_table(scenarios["message_path"]),
        ]
    out += ["", "### Server logs", "", logs_table(results["logs"])]
    out += ["", "### DESIGN targets", ""]
    out += [f"- **{target}**: {verdict}" for target, verdict in results["targets"]]
    profile = profile_section(scenarios)
    if profile:
        out += ["", "### Profile (py-spy, closed loop, not part of the numbers above)", "", profile]
    if results.get("errors"):
        out += ["", "### Scenarios that failed", ""]
        out += [f"- {name}: {error}" for name, error in results["errors"].items()]
    return "\n".join(out) + "\n"
