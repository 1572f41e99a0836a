#!/usr/bin/env python3
"""zcpipe-copybench's counts against its model, for a few chunk sizes.

Usage: check_copybench.py PATH/TO/zcpipe-copybench

Runs the benchmark on 1 MiB transfers and asserts, from its --json, per
technique (N bytes in chunks of C, k = ceil(N / C)), for the SENDER (the
benchmark's sending thread; its process runs nothing else, so /proc/self/io
is its own):

  read-write  exactly k read() and k write() calls and nothing else. The
              benchmark's loop knows N and never makes the 0-byte EOF read a
              "read until EOF" loop would (so no extra read is allowed);
              /proc/self/io rchar == wchar == N, syscr == syscw == k.
  mmap-write  exactly k write() calls, no read (the mmap is made once, before
              the measured transfers); wchar == N, rchar == 0.
  sendfile    exactly k sendfile() calls (counted by copybench itself: the
              interposer does not wrap sendfile); rchar == wchar == N
              (the kernel's do_sendfile accounts both).
  splice      exactly 2k splice() calls (file -> pipe, pipe -> socket);
              /proc/self/io unchanged (splice does no I/O accounting).
  vmsplice    exactly k vmsplice() and k splice() calls.
  all         mode switches == 2 x syscalls; the receiver made at least k
              read() calls and read N bytes; the benchmark's own count checks
              pass (its probe-vs-model check is kernel-dependent and only
              reported).

Also: the aliasing probe finds read-write and mmap-write copying (true on
every kernel), the CLI rejects bad flags with one line, --technique runs one
technique, --report prints the Markdown report. Timings are never asserted.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

EXE = sys.argv[1]
N = 1 << 20
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args, expect_rc=0):
    p = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)
    if expect_rc is not None and p.returncode != expect_rc:
        print(p.stdout)
        print(p.stderr, file=sys.stderr)
        raise SystemExit(f"{EXE} {' '.join(args)}: exit {p.returncode}, expected {expect_rc}")
    return p


def bench(chunk, *extra):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "out.json")
        p = run("--bytes", str(N), "--chunk", str(chunk), "--repeats", "3", "--json", path, *extra)
        with open(path) as f:
            return json.load(f), p.stdout


EXPECTED_CALLS = {
    "read-write": lambda k: {"read": k, "write": k},
    "mmap-write": lambda k: {"write": k},
    "sendfile": lambda k: {"sendfile": k},
    "splice": lambda k: {"splice": 2 * k},
    "vmsplice": lambda k: {"vmsplice": k, "splice": k},
}
EXPECTED_IO = {  # rchar, wchar, syscr, syscw
    "read-write": lambda k: (N, N, k, k),
    "mmap-write": lambda k: (0, N, 0, k),
    "sendfile": lambda k: (N, N, k, k),
    "splice": lambda k: (0, 0, 0, 0),
    "vmsplice": lambda k: (0, 0, 0, 0),
}

for chunk in (4096, 65536, 100000):  # 100000: chunks straddle pages, the last one is short
    k = math.ceil(N / chunk)
    doc, table = bench(chunk)
    tag = f"chunk {chunk} (k={k})"
    check(doc["bytes"] == N and doc["chunk"] == chunk and doc["chunks"] == k, f"{tag}: header")
    check(doc["interposer"]["linked"], f"{tag}: interposer linked")
    names = [t["name"] for t in doc["techniques"]]
    check(names == list(EXPECTED_CALLS), f"{tag}: techniques {names}")
    for t in doc["techniques"]:
        name = t["name"]
        s = t["measured"]["sender"]
        r = t["measured"]["receiver"]
        calls = s["syscalls"]["by_call"]
        check(calls == EXPECTED_CALLS[name](k), f"{tag} {name}: sender calls {calls}, expected {EXPECTED_CALLS[name](k)}")
        check(t["model"]["syscalls"]["by_call"] == EXPECTED_CALLS[name](k), f"{tag} {name}: model calls")
        check(s["syscalls"]["total"] == sum(calls.values()), f"{tag} {name}: total == sum of calls")
        check(s["mode_switches"] == 2 * s["syscalls"]["total"], f"{tag} {name}: mode switches == 2 x syscalls")
        io = (s["rchar"], s["wchar"], s["syscr"], s["syscw"])
        check(io == EXPECTED_IO[name](k), f"{tag} {name}: /proc/self/io {io}, expected {EXPECTED_IO[name](k)}")
        check(r["syscalls"]["by_call"].get("read", 0) >= k, f"{tag} {name}: receiver reads {r['syscalls']['by_call']}")
        check(r["rchar"] == N, f"{tag} {name}: receiver rchar {r['rchar']}")
        check(len(t["measured"]["runs"]) == 3, f"{tag} {name}: 3 runs")
        for run_ in t["measured"]["runs"]:
            check(run_["sender"]["syscalls"]["by_call"] == EXPECTED_CALLS[name](k), f"{tag} {name}: every run's calls")
        # The probe's verdict for sendfile/splice/vmsplice depends on the
        # kernel (the model assumes page references, Linux >= 4.2 for
        # AF_UNIX); a disagreement is reported by the tool, not a test failure.
        counted = {c: v for c, v in t["checks"].items() if c != "probe_matches_model_copies"}
        check(all(v is True for v in counted.values()), f"{tag} {name}: checks {t['checks']}")
        check(t["notes"] and name in table, f"{tag} {name}: notes and table row")
        print(f"{tag} {name}: calls {calls}, io {io}, probe {t['probe']['verdict']}, "
              f"cs {s['context_switches']}, receiver reads {r['syscalls']['by_call'].get('read')}")
    probe = {t["name"]: t["probe"]["shared"] for t in doc["techniques"]}
    check(probe["read-write"] is False and probe["mmap-write"] is False, f"{tag}: read/mmap+write copy: {probe}")

# One technique; chunk larger than the transfer (one call).
doc, _ = bench(2 * N, "--technique", "sendfile", "--no-probe")
check([t["name"] for t in doc["techniques"]] == ["sendfile"], "--technique sendfile runs one")
check(doc["techniques"][0]["measured"]["sender"]["syscalls"]["by_call"] == {"sendfile": 1}, "one sendfile for chunk > bytes")

# The report.
p = run("--bytes", "256K", "--chunk", "64K", "--repeats", "1", "--report")
check(p.stdout.startswith("# zcpipe-copybench") and "## splice" in p.stdout and "Mode switch vs context switch" in p.stdout,
      "--report prints the Markdown report")
check("262144 bytes" in p.stdout and "65536-byte chunks = 4 per transfer" in p.stdout, "size suffixes")

# Bad flags: one line on stderr, non-zero exit.
for args in (["--chunk", "0"], ["--technique", "bogus"], ["--frobnicate"], ["--bytes", "lots"], ["--repeats", "0"]):
    p = run(*args, expect_rc=None)
    lines = p.stderr.strip().splitlines()
    check(p.returncode != 0 and len(lines) == 1 and lines[0].startswith("zcpipe-copybench: error:"),
          f"{args}: rc {p.returncode}, stderr {p.stderr!r}")
p = run("--help")
check("--technique" in p.stdout and "--json" in p.stdout, "--help")

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("all copybench checks passed")
