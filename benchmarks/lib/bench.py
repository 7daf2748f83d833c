#!/usr/bin/python3
"""Measurement helper for benchmarks/run.sh and benchmarks/big_message.sh.

The shell scripts own every process they start (and clean them up); this helper only
measures. Every wait here has a deadline. Subcommands:

  free-port                       print a free loopback TCP port (bind port 0, close)
  wait-port PORT TIMEOUT          exit 0 once 127.0.0.1:PORT accepts a connection
  wait-log FILE REGEX TIMEOUT     print group 1 of the first line of FILE matching REGEX
  sink-count FILE                 print the smtp-sink -c "mesg=" counter in FILE (0 if none)
  wait-sink FILE COUNT TIMEOUT    print seconds until the sink counter reaches COUNT
  inject ...                      run smtp-source (or smtp-load), time it and the sink; print
                                  one JSON line
  skipped ...                     print the JSON line of a row that could not run (why)
  vmhwm PID                       print VmHWM of PID in KiB
  table RESULTS.jsonl             print the Markdown table (medians per scenario)
  matrix-table RESULTS.jsonl      the same per load cell (size x sessions), with latency
"""

import argparse
import json
import os
import re
import socket
import resource
import statistics
import subprocess
import sys
import threading
import time

from matrix_table import matrix_table

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The Postfix processes that handle each message (DESIGN.md comparison): receive, queue,
# manage, deliver.
POSTFIX_CORE = ("smtpd", "cleanup", "qmgr", "smtp")
# One sample of ~70 Postfix processes (smaps_rollup for PSS) costs ~25 ms of CPU; every 0.5 s
# that is ~5 % of one of this machine's two cores, taken from the relay being measured.
SAMPLE_INTERVAL_S = 0.5


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_log(path: str, pattern: str, timeout: float):
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, "r", errors="replace") as f:
                for line in f:
                    m = regex.search(line)
                    if m:
                        return m.group(1) if m.groups() else m.group(0)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return None


_MESG = re.compile(rb"mesg=(\d+)")


def sink_count(path: str) -> int:
    """smtp-sink -c rewrites one status line ("sess=N quit=N mesg=N", CR-separated) on every
    "." and QUIT; the last complete occurrence in the file is the current count."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256))
            tail = f.read()
    except FileNotFoundError:
        return 0
    found = _MESG.findall(tail)
    return int(found[-1]) if found else 0


def source_count(path: str) -> int:
    """smtp-source -c prints a running count of completed DATA commands, CR-separated;
    smtp-load prints acknowledged=N at the end."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64))
            tail = f.read()
    except FileNotFoundError:
        return 0
    loaded = re.search(rb"acknowledged=(\d+)", tail)
    if loaded:
        return int(loaded.group(1))
    found = re.findall(rb"(\d+)", tail)
    return int(found[-1]) if found else 0


def proc_status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def proc_stat(pid: int):
    """(comm, ppid, cpu ticks of self, cpu ticks of waited-for children), or None if the
    process is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    if data[data.rindex(")") + 2 :].startswith("Z"):
        return None
    comm = data[data.index("(") + 1 : data.rindex(")")]
    fields = data[data.rindex(")") + 2 :].split()
    # fields[0] is state (stat field 3); utime..cstime are stat fields 14..17.
    ppid = int(fields[1])
    own = int(fields[11]) + int(fields[12])
    children = int(fields[13]) + int(fields[14])
    return comm, ppid, own, children


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of(parent: int):
    """Live children of a single-threaded parent, from /proc/PID/task/PID/children (cheap),
    else by scanning /proc."""
    try:
        with open(f"/proc/{parent}/task/{parent}/children") as f:
            pids = [int(p) for p in f.read().split()]
        result = []
        for pid in pids:
            st = proc_stat(pid)
            if st:
                result.append((pid, st))
        return result
    except OSError:
        pass
    result = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st and st[1] == parent:
            result.append((int(name), st))
    return result


def cpu_ticks_tree(pid: int) -> int:
    """CPU of pid, its waited-for children, and its live children (one level: Postfix's
    master forks every daemon directly)."""
    st = proc_stat(pid)
    if not st:
        return 0
    total = st[2] + st[3]
    for _, cst in children_of(pid):
        total += cst[2] + cst[3]
    return total


class PostfixSampler:
    """Peak memory of a Postfix instance, sampled: Postfix runs one process per job and
    short-lived ones exit (taking their VmHWM with them), so the figure is the peak over
    samples of the SUM over live processes. RSS counts shared pages (libc, libpostfix-*) once
    per process and overstates; PSS divides each shared page among its users and is the
    honest total."""

    def __init__(self, master_pid: int):
        self.master_pid = master_pid
        self.peak_core_rss = 0
        self.peak_core_pss = 0
        self.peak_all_pss = 0
        self.peak_processes = 0
        self.max_hwm_by_comm = {}
        self.samples = 0
        self.sample_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()

    def _run(self):
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.sample()

    def sample(self):
        started = time.monotonic()
        core_rss = core_pss = all_pss = 0
        procs = children_of(self.master_pid)
        master = proc_stat(self.master_pid)
        if master:
            procs.append((self.master_pid, master))
        for pid, st in procs:
            comm = st[0]
            pss = pss_kib(pid)
            all_pss += pss
            hwm = proc_status_kib(pid, "VmHWM")
            self.max_hwm_by_comm[comm] = max(self.max_hwm_by_comm.get(comm, 0), hwm)
            if comm in POSTFIX_CORE:
                core_rss += proc_status_kib(pid, "VmRSS")
                core_pss += pss
        self.peak_core_rss = max(self.peak_core_rss, core_rss)
        self.peak_core_pss = max(self.peak_core_pss, core_pss)
        self.peak_all_pss = max(self.peak_all_pss, all_pss)
        self.peak_processes = max(self.peak_processes, len(procs))
        self.samples += 1
        self.sample_seconds += time.monotonic() - started


def tree_pids(pid: int):
    """pid and its live children (one level: Haraka's cluster master forks its workers)."""
    return [pid] + [child for child, _ in children_of(pid)]


def user_system_ticks(pid: int):
    """(user, system) CPU ticks of one process (all its threads), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    return int(fields[11]), int(fields[12])


def relay_cpu_ticks(pid: int, tree: bool) -> int:
    if tree:
        return cpu_ticks_tree(pid)
    st = proc_stat(pid)
    return st[2] + st[3] if st else 0


def inject(args) -> dict:
    """Starts smtp-source, then polls (5 ms) for its exit and for the sink's counter to reach
    the message count; both are timed from the moment smtp-source starts."""
    source_out = args.source_out
    if args.load:
        # smtp-load: smtp-source's pattern plus per-message latency; one sender (-f) or a
        # distinct one per message (bench<N>@domain, -d).
        senders = (["-f", args.sender] if args.load_sender == "one"
                   else ["-d", args.sender.split("@", 1)[1]])
        cmd = [
            args.load,
            "-s", str(args.sessions), "-m", str(args.count), "-l", str(args.size),
            *senders, "-t", args.recipient,
            f"127.0.0.1:{args.port}",
        ]
    else:
        cmd = [
            "smtp-source", "-c",
            "-s", str(args.sessions), "-m", str(args.count), "-l", str(args.size),
            "-f", args.sender, "-t", args.recipient,
            f"127.0.0.1:{args.port}",
        ]
    sampler = PostfixSampler(args.postfix_master) if args.postfix_master else None
    cpu_before = 0
    split_before = None
    if args.relay_pid:
        cpu_before = relay_cpu_ticks(args.relay_pid, args.relay_tree)
        split_before = None if args.relay_tree else user_system_ticks(args.relay_pid)
    elif args.postfix_master:
        cpu_before = cpu_ticks_tree(args.postfix_master)
    sink_before = proc_stat(args.sink_pid) if args.sink_pid else None
    aux_before = proc_stat(args.aux_pid) if args.aux_pid else None
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if sampler:
        sampler.start()  # a thread: a slow sample must not blur the 5 ms timing below
    with open(source_out, "wb") as out, open(source_out + ".err", "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = started + args.timeout
        inject_s = sink_s = None
        relay_died = False
        watched = args.relay_pid or args.postfix_master
        while time.monotonic() < deadline:
            now = time.monotonic()
            if inject_s is None and proc.poll() is not None:
                inject_s = now - started
            if sink_s is None and sink_count(args.sink_out) >= args.count:
                sink_s = now - started
            if inject_s is not None and sink_s is not None:
                break
            if watched and proc_stat(watched) is None:
                relay_died = True  # nothing more will reach the sink
                break
            time.sleep(0.005)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    source_cpu_s = (children_after.ru_utime + children_after.ru_stime
                    - children_before.ru_utime - children_before.ru_stime)
    sink_after = proc_stat(args.sink_pid) if args.sink_pid else None
    if args.settle > 0 and sink_s is not None:
        time.sleep(args.settle)  # let duplicates, if any, show in the count
    aux_after = proc_stat(args.aux_pid) if args.aux_pid else None
    result = {
        "scenario": args.scenario,
        "size": args.size,
        "sessions": args.sessions,
        "loader": "smtp-load" if args.load else "smtp-source",
        "command": " ".join(cmd),
        "source_rc": proc.returncode,
        "source_error": open(source_out + ".err", errors="replace").read().strip()[-300:],
        "injected": source_count(source_out),
        "inject_s": inject_s,
        "msgs_per_s": (args.count / inject_s) if inject_s else None,
        "sink_s": sink_s,
        "delivered": sink_count(args.sink_out),
        "count": args.count,
        "relay_died": relay_died,
        # Where the machine's CPU went: the load generator and the sink share the 2 cores.
        "source_cpu_s": round(source_cpu_s, 3),
    }
    if args.load:
        # smtp-load's summary: submission latency, connect to the final 250, per message.
        with open(source_out, errors="replace") as f:
            summary = re.search(r"p50_ms=([\d.]+) p99_ms=([\d.]+) max_ms=([\d.]+)", f.read())
        if summary:
            result["p50_ms"], result["p99_ms"], result["max_ms"] = map(float, summary.groups())
    if sink_before and sink_after:
        result["sink_cpu_s"] = (sink_after[2] - sink_before[2]) / CLOCK_TICKS
    if args.relay_pid:
        # A tree (Haraka's master and workers, all alive for the whole run): the sum of their
        # peaks, an upper bound of the peak of their sum.
        pids = tree_pids(args.relay_pid) if args.relay_tree else [args.relay_pid]
        result["relay_vmhwm_kib"] = sum(proc_status_kib(pid, "VmHWM") for pid in pids)
        result["relay_processes"] = len(pids)
        alive = proc_stat(args.relay_pid) is not None
        result["relay_cpu_s"] = ((relay_cpu_ticks(args.relay_pid, args.relay_tree) - cpu_before)
                                 / CLOCK_TICKS if alive else None)
        split_after = user_system_ticks(args.relay_pid) if split_before and alive else None
        if split_after:
            # Where the relay's CPU went: its own code (user) or the kernel's work for it.
            result["relay_user_s"] = (split_after[0] - split_before[0]) / CLOCK_TICKS
            result["relay_system_s"] = (split_after[1] - split_before[1]) / CLOCK_TICKS
    if aux_before and aux_after:
        # A helper the relay needs (redis-server for the Redis backend).
        result["aux_name"] = args.aux_name
        result["aux_vmhwm_kib"] = proc_status_kib(args.aux_pid, "VmHWM")
        result["aux_cpu_s"] = ((aux_after[2] + aux_after[3]) - (aux_before[2] + aux_before[3])) \
            / CLOCK_TICKS
    if args.relay_log:
        result["relay_log"] = relay_log_counts(args.relay_log)
    if sampler:
        sampler.stop()
        result["postfix_samples"] = sampler.samples
        result["postfix_sample_ms"] = 1000 * sampler.sample_seconds / max(1, sampler.samples)
        result["postfix_core_rss_kib"] = sampler.peak_core_rss
        result["postfix_core_pss_kib"] = sampler.peak_core_pss
        result["postfix_all_pss_kib"] = sampler.peak_all_pss
        result["postfix_peak_processes"] = sampler.peak_processes
        result["postfix_max_vmhwm_kib"] = sampler.max_hwm_by_comm
        result["relay_cpu_s"] = (cpu_ticks_tree(args.postfix_master) - cpu_before) / CLOCK_TICKS
    return result


def relay_log_counts(path: str) -> dict:
    """How many accept/deliver/retry/warn/error lines the relay logged (DESIGN.md "Logs")."""
    counts = {"accept": 0, "deliver": 0, "retry": 0, "defer": 0, "reject": 0, "warn": 0,
              "error": 0}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.search(r" level=(\w+) event=(\w+)", line)
                if not m:
                    continue
                if m.group(2) in counts:
                    counts[m.group(2)] += 1
                if m.group(1) in ("warn", "warning", "error", "critical"):
                    counts["warn" if m.group(1).startswith("warn") else "error"] += 1
    except FileNotFoundError:
        pass
    return counts


def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def table(path: str) -> str:
    runs = {}
    order = []
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r["scenario"] not in runs:
                    order.append(r["scenario"])
                runs.setdefault(r["scenario"], []).append(r)
    lines = [
        "| scenario | runs | injection msg/s | s until sink holds all | delivered (per run) "
        "| relay peak memory | relay CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in order:
        rs = runs[name]
        rate = median_or_none([r["msgs_per_s"] for r in rs])
        sink = median_or_none([r["sink_s"] for r in rs])
        delivered = ", ".join(f'{r["delivered"]}/{r["count"]}' for r in rs)
        cpu = median_or_none([r.get("relay_cpu_s") for r in rs])
        if "relay_vmhwm_kib" in rs[0]:
            mem = f'{median_or_none([r["relay_vmhwm_kib"] for r in rs]) / 1024:.1f} MiB VmHWM'
        elif "postfix_core_rss_kib" in rs[0]:
            rss = median_or_none([r["postfix_core_rss_kib"] for r in rs]) / 1024
            pss = median_or_none([r["postfix_core_pss_kib"] for r in rs]) / 1024
            allp = median_or_none([r["postfix_all_pss_kib"] for r in rs]) / 1024
            procs = median_or_none([r["postfix_peak_processes"] for r in rs])
            mem = (f"{rss:.1f} MiB ΣRSS / {pss:.1f} MiB ΣPSS (smtpd+cleanup+qmgr+smtp); "
                   f"{allp:.1f} MiB ΣPSS all {procs:.0f} procs")
        else:
            mem = "—"
        missed = sum(1 for r in rs if r["sink_s"] is None)
        sink_text = fmt(sink, ".2f") + (f" ({missed} run(s) never)" if missed else "")
        lines.append(f"| {name} | {len(rs)} | {fmt(rate, '.0f')} | {sink_text} "
                     f"| {delivered} | {mem} | {fmt(cpu, '.2f')} |")
    failures = [r for name in order for r in runs[name]
                if r["source_rc"] != 0 or r["delivered"] != r["count"] or r.get("relay_died")]
    if failures:
        lines.append("")
        lines.append("Runs with problems:")
        for r in failures:
            died = "the relay process died; " if r.get("relay_died") else ""
            lines.append(f'- {r["scenario"]}: {died}smtp-source rc={r["source_rc"]}, injected '
                         f'{r["injected"]}, delivered {r["delivered"]}/{r["count"]}; '
                         f'{r["source_error"] or "no error text"}')
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-port")
    p = sub.add_parser("wait-port")
    p.add_argument("port", type=int)
    p.add_argument("timeout", type=float)
    p = sub.add_parser("wait-log")
    p.add_argument("file")
    p.add_argument("regex")
    p.add_argument("timeout", type=float)
    p = sub.add_parser("sink-count")
    p.add_argument("file")
    p = sub.add_parser("wait-sink")
    p.add_argument("file")
    p.add_argument("count", type=int)
    p.add_argument("timeout", type=float)
    p = sub.add_parser("vmhwm")
    p.add_argument("pid", type=int)
    p = sub.add_parser("table")
    p.add_argument("results")
    p = sub.add_parser("matrix-table")
    p.add_argument("results")
    p = sub.add_parser("skipped")
    p.add_argument("--scenario", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--sessions", type=int, required=True)
    p.add_argument("--reason", required=True)
    p = sub.add_parser("inject")
    p.add_argument("--scenario", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sink-out", required=True)
    p.add_argument("--source-out", required=True)
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--size", type=int, default=5120)
    p.add_argument("--sender", default="bench@edomex.gob.mx")
    p.add_argument("--recipient", default="rcpt@example.org")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--settle", type=float, default=0.5)
    p.add_argument("--relay-pid", type=int)
    p.add_argument("--sink-pid", type=int)
    p.add_argument("--load", help="smtp-load binary instead of smtp-source")
    p.add_argument("--load-sender", choices=("one", "distinct"), default="distinct",
                   help="smtp-load: every message from --sender, or bench<N>@its domain")
    p.add_argument("--relay-tree", action="store_true",
                   help="the relay is --relay-pid and its child processes (Haraka)")
    p.add_argument("--aux-pid", type=int, help="a helper process to measure (redis-server)")
    p.add_argument("--aux-name", default="aux")
    p.add_argument("--relay-log")
    p.add_argument("--postfix-master", type=int)
    args = parser.parse_args()

    if args.cmd == "free-port":
        print(free_port())
    elif args.cmd == "wait-port":
        return 0 if wait_port(args.port, args.timeout) else 1
    elif args.cmd == "wait-log":
        found = wait_log(args.file, args.regex, args.timeout)
        if found is None:
            return 1
        print(found)
    elif args.cmd == "sink-count":
        print(sink_count(args.file))
    elif args.cmd == "wait-sink":
        started = time.monotonic()
        deadline = started + args.timeout
        while sink_count(args.file) < args.count:
            if time.monotonic() >= deadline:
                return 1
            time.sleep(0.005)
        print(f"{time.monotonic() - started:.3f}")
    elif args.cmd == "vmhwm":
        print(proc_status_kib(args.pid, "VmHWM"))
    elif args.cmd == "table":
        print(table(args.results))
    elif args.cmd == "matrix-table":
        print(matrix_table(args.results))
    elif args.cmd == "skipped":
        print(json.dumps({"scenario": args.scenario, "size": args.size,
                          "sessions": args.sessions, "skipped": args.reason}))
    elif args.cmd == "inject":
        print(json.dumps(inject(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
