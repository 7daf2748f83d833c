"""The Markdown table of benchmarks/matrix.sh: one line per load cell (message size x
concurrent sessions) and row (sink direct, relays), medians over the runs of that line.
Imported by bench.py (`bench.py matrix-table RESULTS.jsonl`)."""

import json
import statistics


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def _size_text(size: int) -> str:
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def _memory(rs) -> str:
    first = rs[0]
    if "postfix_core_pss_kib" in first:
        pss = _median([r["postfix_core_pss_kib"] for r in rs]) / 1024
        rss = _median([r["postfix_core_rss_kib"] for r in rs]) / 1024
        allp = _median([r["postfix_all_pss_kib"] for r in rs]) / 1024
        return f"{pss:.1f} MiB ΣPSS ({rss:.0f} MiB ΣRSS) core; {allp:.1f} MiB ΣPSS all"
    if "relay_vmhwm_kib" not in first:
        return "—"
    hwm = _median([r["relay_vmhwm_kib"] for r in rs]) / 1024
    processes = _median([r.get("relay_processes", 1) for r in rs])
    text = f"{hwm:.1f} MiB VmHWM"
    if processes and processes > 1:
        text = f"{hwm:.1f} MiB ΣVmHWM of {processes:.0f} processes"
    aux = _median([r.get("aux_vmhwm_kib") for r in rs])
    if aux is not None:
        text += f" + {first.get('aux_name', 'aux')} {aux / 1024:.1f} MiB"
    return text


def _cpu(rs) -> str:
    if not any("relay_cpu_s" in r for r in rs):
        return "—"  # the sink-direct line: no relay
    cpu = _fmt(_median([r.get("relay_cpu_s") for r in rs]), ".2f")
    aux = _median([r.get("aux_cpu_s") for r in rs])
    if aux is not None:
        cpu += f" + {aux:.2f}"
    return cpu


def matrix_table(path: str) -> str:
    runs = {}
    order = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            key = (r["size"], r["sessions"], r["scenario"])
            if key not in runs:
                order.append(key)
            runs.setdefault(key, []).append(r)
    order.sort(key=lambda k: (k[0], k[1]))  # stable: rows keep their order within a cell
    lines = [
        "| load | row | runs | msg/s | % of direct | p50 ms | p99 ms | s until sink holds all "
        "| delivered (per run) | relay peak memory | relay CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    direct_rate = {}
    for key in order:
        if key[2].startswith("smtp-sink directly"):
            direct_rate[key[:2]] = _median([r.get("msgs_per_s") for r in runs[key]])
    problems = []
    for key in order:
        rs = runs[key]
        load = f"{_size_text(key[0])} × {key[1]}"
        skipped = [r["skipped"] for r in rs if "skipped" in r]
        if skipped:
            lines.append(f"| {load} | {key[2]} | 0 | {skipped[0]} | | | | | | | |")
            continue
        rate = _median([r["msgs_per_s"] for r in rs])
        limit = direct_rate.get(key[:2])
        share = f"{100 * rate / limit:.0f} %" if rate and limit else "—"
        p50 = _fmt(_median([r.get("p50_ms") for r in rs]), ".1f")
        p99 = _fmt(_median([r.get("p99_ms") for r in rs]), ".1f")
        missed = sum(1 for r in rs if r["sink_s"] is None)
        sink = _fmt(_median([r["sink_s"] for r in rs]), ".2f")
        if missed:
            sink += f" ({missed} run(s) never)"
        delivered = ", ".join(f'{r["delivered"]}/{r["count"]}' for r in rs)
        lines.append(f"| {load} | {key[2]} | {len(rs)} | {_fmt(rate, '.0f')} | {share} | {p50} "
                     f"| {p99} | {sink} | {delivered} | {_memory(rs)} | {_cpu(rs)} |")
        for r in rs:
            if r["source_rc"] != 0 or r["delivered"] != r["count"] or r.get("relay_died"):
                problems.append((load, r))
    if problems:
        lines.append("")
        lines.append("Runs with problems:")
        for load, r in problems:
            died = "the relay process died; " if r.get("relay_died") else ""
            lines.append(f'- {load}, {r["scenario"]}: {died}{r["loader"]} rc={r["source_rc"]}, '
                         f'acknowledged {r["injected"]}, delivered {r["delivered"]}/{r["count"]}; '
                         f'{r["source_error"] or "no error text"}')
    return "\n".join(lines)
