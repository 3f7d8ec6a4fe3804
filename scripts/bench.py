#!/usr/bin/env python3
"""The reporting half of scripts/bench.sh (issue 11), standard library only.

  bench.py line FILE                  one wrk --latency output as one line
  bench.py hold --port P --pid PID    hold 1,000 keep-alive connections open, print PID's RSS
  bench.py report --dir DIR [--write docs/benchmarks.md --command CMD]
                                      the figures, the ratios against issue 11's targets, the
                                      CPU per request and, with --write, the marked section of
                                      docs/benchmarks.md
  bench.py profile --scenario S --wrk FILE --seconds N --process NAME=PID...  < perf script
                                      one profiled run's samples (`perf script -F
                                      pid,comm,ip,sym,dso`) by process, then each process's top
                                      functions

The run directory holds one wrk output per run, `wrk/<scenario>.<server>.r<round>.txt`, the CPU
snapshots around it, `cpu/<scenario>.<server>.r<round>.before` and `.after` ("group pid ticks"
lines: group server, sandbox, postgres for the server's database's connections, postgres_bg for
the other postgres processes, postgres_gone for the postmaster's count of its ended children),
and `facts` (key=value lines: memory, row count, machine).
"""

import argparse
import glob
import io
import os
import re
import socket
import statistics
import sys
import time

BEGIN, END = "<!-- bench.sh:begin -->", "<!-- bench.sh:end -->"
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(path):
    text = open(path).read()

    def latency(pct):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        return float(m.group(1)) * UNIT[m.group(2)] if m else None

    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    requests = re.search(r"^\s*(\d+) requests in", text, re.M)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if not rps:
        sys.exit(f"bench.py: no Requests/sec in {path}:\n{text}")
    return {
        "rps": float(rps.group(1)),
        "requests": int(requests.group(1)) if requests else 0,
        "p50": latency(50),
        "p99": latency(99),
        "errors": (sum(map(int, sock.groups())) if sock else 0)
        + (int(non2xx.group(1)) if non2xx else 0),
    }


def ms(value):
    if value is None:
        return "?"
    if value < 10:
        return f"{value:.2f} ms"
    return f"{value:,.0f} ms"


def describe(run, rate=True):
    parts = [f"p50 {ms(run['p50'])}", f"p99 {ms(run['p99'])}"]
    if run["errors"]:
        parts.append(f"**{run['errors']:,} errors**")
    head = f"{run['rps']:,.0f}/s " if rate else ""
    return head + "(" + ", ".join(parts) + ")" if rate else ", ".join(parts)


def cpu_ticks(path):
    """{group: {pid: ticks}} from one CPU snapshot, or None if there is none."""
    if not os.path.exists(path):
        return None
    groups = {}
    for line in open(path):
        parts = line.split()
        if len(parts) == 3:
            groups.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return groups


def cpu_per_request(directory, name, requests, tick):
    """{group: µs of CPU per request} over one run: each process's ticks after less before,
    charged to its group after the run (a process started meanwhile counts from zero; one that
    ended meanwhile is in the postmaster's count of its ended children, "postgres_gone")."""
    before = cpu_ticks(os.path.join(directory, "cpu", name + ".before"))
    after = cpu_ticks(os.path.join(directory, "cpu", name + ".after"))
    if before is None or after is None or not requests:
        return None
    was = {}
    for group, pids in before.items():
        for pid, ticks in pids.items():
            was[(group == "postgres_gone", pid)] = ticks
    # A process that ended meanwhile is in the postmaster's count with its whole life: take off
    # what it had used before the run (it has been reaped, since it left /proc).
    alive = {pid for group, pids in after.items() if group != "postgres_gone" for pid in pids}
    ended = sum(ticks for group, pids in before.items() if group in ("postgres", "postgres_bg")
                for pid, ticks in pids.items() if pid not in alive)
    used = {}
    for group, pids in after.items():
        ticks = sum(t - was.get((group == "postgres_gone", pid), 0) for pid, t in pids.items())
        if group == "postgres_gone":
            ticks -= ended
        used[group] = ticks * tick * 1e6 / requests
    return used


def load(directory):
    """{(scenario, server): the median run by requests/s}, every run, and the facts."""
    runs, every = {}, []
    facts = {}
    for line in open(os.path.join(directory, "facts")):
        key, _, value = line.strip().partition("=")
        if key:
            facts[key] = value
    tick = 1 / int(facts.get("clk_tck", "100"))
    for path in sorted(glob.glob(os.path.join(directory, "wrk", "*.r*.txt"))):
        scenario, server, _ = os.path.basename(path).split(".", 2)
        run = parse_wrk(path)
        name = os.path.basename(path)[: -len(".txt")]
        run["cpu"] = cpu_per_request(directory, name, run["requests"], tick)
        every.append((scenario, server, run))
        runs.setdefault((scenario, server), []).append(run)
    median = {
        key: sorted(rs, key=lambda r: r["rps"])[(len(rs) - 1) // 2] for key, rs in runs.items()
    }
    return median, every, facts


def report(directory):
    runs, every, facts = load(directory)
    get = lambda scenario, server: runs.get((scenario, server))  # noqa: E731
    mib = lambda key: int(facts[key]) / 1024 if facts.get(key) else None  # noqa: E731
    rows_n = int(facts.get("rows", "0"))
    table_n = int(facts.get("table_rows", facts.get("rows", "0")))

    def cell(scenario, server, rate=True):
        run = get(scenario, server)
        return describe(run, rate) if run else "—"

    figures = [
        "| | roomgate | roomgate, URLs withheld | two-write reference | Node stand-in |",
        "|---|---|---|---|---|",
        f"| creates/s, 64 clients | {cell('create64', 'roomgate')} | {cell('create64', 'withheld')} | "
        f"{cell('create64', 'reference')} | {cell('create64', 'node')} |",
        f"| reads by id/s, 64 clients | {cell('read64', 'roomgate')} | {cell('read64', 'withheld')} | "
        f"{cell('read64', 'reference')} | — |",
        f"| list of 50 of a caller's {rows_n:,} meetings ({table_n:,} rows in all)/s, 64 clients | {cell('list64', 'roomgate')} | "
        f"{cell('list64', 'withheld')} | — | — |",
        f"| 1 client: create | {cell('create1', 'roomgate', False)} | {cell('create1', 'withheld', False)} | "
        f"{cell('create1', 'reference', False)} | — |",
        f"| 1 client: read by id | {cell('read1', 'roomgate', False)} | {cell('read1', 'withheld', False)} | "
        f"{cell('read1', 'reference', False)} | — |",
        f"| 1 client: list of 50 of a caller's {rows_n:,} meetings | {cell('list1', 'roomgate', False)} | "
        f"{cell('list1', 'withheld', False)} | — | — |",
        f"| resident memory: idle / after the runs (peak) / holding "
        f"{int(facts.get('held_open', 0)):,} keep-alive connections | "
        f"{mib('rss_idle_kb') or 0:.1f} / {mib('rss_after_kb') or 0:.1f} "
        f"({mib('hwm_after_kb') or 0:.1f}) / {mib('rss_held_kb') or 0:.1f} MiB | — | — | — |",
    ]

    def ratio(a, b):
        return a["rps"] / b["rps"] if a and b and b["rps"] else None

    checks = []

    def check(what, results):
        """results: (measured, ok) for roomgate and for roomgate with URLs withheld (or None)."""
        checks.append((what, *results))

    def both(measure):
        return measure("roomgate"), measure("withheld")

    def vs(scenario, other, bound, label=lambda r: f"{r:.2f}×"):
        def measure(server):
            r = ratio(get(scenario, server), get(scenario, other))
            return (label(r) if r else "?", r is not None and r >= bound)
        return both(measure)

    check("creates/s ≥ 1.5× the reference", vs("create64", "reference", 1.5))
    check("creates/s ≥ 1.0× the Node stand-in", vs("create64", "node", 1.0))

    def p99(server):
        run = get("create64", server)
        value = run["p99"] if run else None
        return ms(value), value is not None and value < 40
    check("create p99 < 40 ms (64 clients)", both(p99))

    def errors(server):
        n = sum(run["errors"] for _, s, run in every if s == server)
        return f"{n:,}", n == 0
    check("no errors (every run)", both(errors))
    check("reads by id/s ≥ 0.9× the reference", vs("read64", "reference", 0.9))

    def list1(server):
        run = get("list1", server)
        return ms(run and run["p50"]), bool(run and run["p50"] is not None and run["p50"] < 5)
    check(f"list of 50 from {rows_n:,}: p50 < 5 ms, 1 client", both(list1))

    def list64(server):
        run = get("list64", server)
        return (f"{run['rps']:,.0f}/s" if run else "?"), bool(run and run["rps"] >= 5000)
    check(f"list of 50 from {rows_n:,}: ≥ 5,000/s, 64 clients", both(list64))
    for scenario, what, bound in (("create1", "create", 0.3), ("read1", "read", 0.1)):
        def extra(server, scenario=scenario, bound=bound):
            a, b = get(scenario, server), get(scenario, "reference")
            e = a["p50"] - b["p50"] if a and b and a["p50"] is not None and b["p50"] is not None else None
            return (f"{e:+.2f} ms" if e is not None else "?"), e is not None and e <= bound
        check(f"1 client: a {what} adds ≤ {bound} ms p50 to the reference", both(extra))
    idle, held = mib("rss_idle_kb"), mib("rss_held_kb")
    check("resident memory idle < 30 MB",
          ((f"{idle:.1f} MiB" if idle else "?", idle is not None and idle < 30), None))
    held_open = int(facts.get("held_open", 0))
    check("resident memory holding 1,000 keep-alive connections < 150 MB",
          ((f"{held:.1f} MiB ({held_open:,} held)" if held else "?",
            held is not None and held < 150 and held_open >= 1000), None))

    def cpu(scenario, server):
        run = get(scenario, server)
        used = run and run.get("cpu")
        if not used:
            return "—"
        # No connection of the server's seen (a server with a database always has its pool's):
        # its PostgreSQL is elsewhere, and its CPU is not counted.
        if server != "node" and "postgres" not in used:
            return f"{used.get('server', 0):,.0f} + ? + {used.get('sandbox', 0):,.0f}"
        own, pg, sandbox = used.get("server", 0), used.get("postgres", 0), used.get("sandbox", 0)
        background = used.get("postgres_bg", 0) + used.get("postgres_gone", 0)
        return (f"{own:,.0f} + {pg:,.0f} + {sandbox:,.0f} = **{own + pg + sandbox:,.0f}** "
                f"(+{background:,.0f})")
    counted = False
    cpu_rows = [
        "| CPU per request, µs (median run): server + PostgreSQL + sandbox = total "
        "(+ PostgreSQL's other work) | roomgate | "
        "roomgate, URLs withheld | two-write reference | Node stand-in |",
        "|---|---|---|---|---|",
    ]
    for scenario, what, servers in (
        ("create64", "creates, 64 clients", ("roomgate", "withheld", "reference", "node")),
        ("read64", "reads by id, 64 clients", ("roomgate", "withheld", "reference")),
        ("list64", "list pages of 50, 64 clients", ("roomgate", "withheld")),
        ("list1", "list pages of 50, 1 client", ("roomgate", "withheld")),
        ("create1", "creates, 1 client", ("roomgate", "withheld", "reference")),
        ("read1", "reads by id, 1 client", ("roomgate", "withheld", "reference")),
    ):
        cells = [cpu(scenario, s) if s in servers else "—"
                 for s in ("roomgate", "withheld", "reference", "node")]
        counted |= any(c != "—" for c in cells)
        cpu_rows.append(f"| {what} | " + " | ".join(cells) + " |")
    if counted:  # runs from before the CPU was counted have no snapshots
        figures += ["", *cpu_rows]

    def shown(result):
        if result is None:
            return "—"
        measured, ok = result
        return f"{measured} ({'met' if ok else '**not met**'})"
    targets = ["| issue 11 target | roomgate (defaults) | roomgate, URLs withheld |", "|---|---|---|"]
    targets += [f"| {what} | {shown(a)} | {shown(b)} |" for what, a, b in checks]
    about = (
        f"{facts.get('date', '?')}, {facts.get('cores', '?')} cores ({facts.get('cpu', '?')}, load average "
        f"{facts.get('load', '?')} before the run), "
        f"PostgreSQL {facts.get('postgres', '?')}, roomgate at {facts.get('commit', '?')}; "
        f"`wrk -t1 --latency`, {facts.get('seconds', '?')} s per run, "
        + ("one run per server and scenario."
           if facts.get("rounds", "1") == "1"
           else f"{facts['rounds']} runs per server and scenario, the order rotated each round; the "
                "median run by requests/s shown.")
    )
    return about, figures, targets, sum(a[1] for _, a, _ in checks), len(checks)


def write_section(path, command, about, figures, targets):
    section = "\n".join([
        BEGIN,
        f"Measured {about}",
        "",
        "```sh",
        command,
        "```",
        "",
        *figures,
        "",
        *targets,
        END,
    ])
    text = open(path).read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    open(path, "w").write(text)


def hold(port, pid, count):
    """Opens `count` connections, sends one keep-alive GET /healthz on each, keeps them open
    and samples the server's resident memory for a second (roomgate closes idle keep-alive
    connections after HEADER_READ_TIMEOUT_SECS, 10 s by default)."""
    deadline = time.monotonic() + 15  # for everything but the sampling: a stuck server fails fast
    left = lambda: max(0.01, deadline - time.monotonic())  # noqa: E731
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=left())
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
        socks.append(s)
    answered = 0
    for s in socks:
        try:
            s.settimeout(left())
            answered += s.recv(4096).startswith(b"HTTP/1.1 200")
        except OSError:
            pass
    peak = 0
    for _ in range(10):
        time.sleep(0.1)
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    peak = max(peak, int(line.split()[1]))
    still_open = 0
    for s in socks:
        s.setblocking(False)
        try:
            still_open += s.recv(1) != b""  # data on an idle keep-alive line: not expected
        except BlockingIOError:
            still_open += 1  # nothing to read and not closed: still open
        except OSError:
            pass
        s.close()
    print(f"rss_held_kb={peak}\nheld_open={min(answered, still_open)}")


def sample(line):
    """(command, pid, function, object) from one line of `perf script -F pid,comm,ip,sym,dso`,
    or None: the command name is the first 16 columns (perf pads it to 16), then the pid, the
    address, and the function up to the object in the last parentheses."""
    comm, rest = line[:16].strip(), line[16:].split(None, 2)
    if len(rest) < 3 or not re.fullmatch(r"-?\d+", rest[0]):
        return None
    where = rest[2].rstrip()
    if where.endswith(" (deleted))"):
        where = where[: -len(" (deleted))")] + ")"
    function, paren, dso = where.rpartition(" (")
    if not paren or not dso.endswith(")"):
        return None
    return comm, rest[0], function, dso[:-1]


def profile(lines, scenario, wrk, seconds, processes, top=12):
    """One profiled run: the machine's samples by process (the named ones by pid, PostgreSQL's
    by its command name, pid 0 as "idle": the idle loop and what interrupts it), then the top
    functions of each process that took at least 5% of the samples."""
    names = {pid: name for name, pid in processes}
    by_process, functions, total = {}, {}, 0
    for line in lines:
        parsed = sample(line)
        if not parsed:
            continue
        comm, pid, sym, dso = parsed
        if pid in names:
            who = names[pid]
        elif comm == "postgres":
            who = "PostgreSQL"
        elif pid == "0":
            who = "idle"
        else:
            who = comm
        total += 1
        by_process[who] = by_process.get(who, 0) + 1
        where = "kernel" if dso.startswith("[kernel") else os.path.basename(dso)
        key = (who, f"{sym if sym != '[unknown]' else '?'} ({where})")
        functions[key] = functions.get(key, 0) + 1
    run = parse_wrk(wrk)
    out = [
        f"roomgate (defaults) under `perf record -a -e cpu-clock -F 997`, {scenario}: "
        f"{run['rps']:,.0f} requests/s in this run ({describe(run, False)}), {seconds} s, "
        f"{total:,} samples on every CPU: each share is a share of the machine's CPU time.",
        "",
        "Samples by process:",
    ]
    for who, n in sorted(by_process.items(), key=lambda kv: -kv[1]):
        if n / max(total, 1) >= 0.005:
            out.append(f"  {100 * n / total:5.1f}%  {who}")
    for who, n in sorted(by_process.items(), key=lambda kv: -kv[1]):
        if who == "idle" or n / max(total, 1) < 0.05:
            continue
        out += ["", f"{who}: top functions (share of {who}'s samples)"]
        mine = sorted(((c, f) for (w, f), c in functions.items() if w == who), reverse=True)
        for c, f in mine[:top]:
            out.append(f"  {100 * c / n:5.1f}%  {f}")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    line = sub.add_parser("line")
    line.add_argument("file")
    held = sub.add_parser("hold")
    held.add_argument("--port", type=int, required=True)
    held.add_argument("--pid", type=int, required=True)
    held.add_argument("--count", type=int, default=1000)
    rep = sub.add_parser("report")
    rep.add_argument("--dir", required=True)
    rep.add_argument("--write", metavar="MARKDOWN")
    rep.add_argument("--command", default="./scripts/bench.sh")
    prof = sub.add_parser("profile")
    prof.add_argument("--scenario", required=True)
    prof.add_argument("--wrk", required=True)
    prof.add_argument("--seconds", required=True)
    prof.add_argument("--process", action="append", default=[], metavar="NAME=PID")
    args = parser.parse_args()
    if args.command == "line":
        print(describe(parse_wrk(args.file)))
    elif args.command == "hold":
        hold(args.port, args.pid, args.count)
    elif args.command == "profile":
        processes = [tuple(p.split("=", 1)) for p in args.process]
        lines = io.TextIOWrapper(sys.stdin.buffer, encoding="latin-1")  # perf pads in bytes
        print(profile(lines, args.scenario, args.wrk, args.seconds, processes))
    else:
        about, figures, targets, met, total = report(args.dir)
        print(f"Measured {about}\n")
        print("\n".join(figures) + "\n")
        print("\n".join(targets))
        print(f"\n{met} of {total} targets met with roomgate's defaults.")
        if args.write:
            write_section(args.write, args.command, about, figures, targets)
            print(f"(written to {args.write})")


if __name__ == "__main__":
    main()
