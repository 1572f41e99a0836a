#!/usr/bin/env python3
"""Runs the vm suite's checks one after another inside the tools/vm-run guest
and reports each as a TAP subtest (meson's `protocol: 'tap'`).

usage: run-checks.py [--list] [--only NAME]... ::check NAME[@TIMEOUT] CMD [ARG...] [::check ...]

Each check is a command that exits 0 (pass), 77 (skip: its last output line
says why) or anything else (fail). Its output becomes TAP diagnostics ("# ")
as it happens. The checks run sequentially because they share one display.

ZCPIPE_VM_CHECKS=name1,name2 (or --only) runs a subset; tools/vm-run passes
ZCPIPE_* variables into the guest, so it works from `meson test` too.
"""

import os
import signal
import subprocess
import sys
import threading
import time

DEFAULT_TIMEOUT = 180
SKIP = 77


def parse(argv):
    only, listing, checks = [], False, []
    i = 0
    while i < len(argv) and argv[i] != "::check":
        if argv[i] == "--list":
            listing = True
        elif argv[i] == "--only" and i + 1 < len(argv):
            i += 1
            only.append(argv[i])
        else:
            sys.exit(f"run-checks: unknown argument {argv[i]!r}\n{__doc__}")
        i += 1
    for arg in argv[i:]:
        if arg == "::check":
            checks.append([])
        else:
            checks[-1].append(arg)
    parsed = []
    for c in checks:
        if len(c) < 2:
            sys.exit(f"run-checks: a check needs a name and a command: {c}")
        name, _, timeout = c[0].partition("@")
        parsed.append((name, float(timeout or DEFAULT_TIMEOUT), c[1:]))
    env_only = [n for n in os.environ.get("ZCPIPE_VM_CHECKS", "").split(",") if n]
    return only + env_only, listing, parsed


def run_check(number, name, timeout, cmd):
    print(f"# --- {name}: {' '.join(cmd)}", flush=True)
    start = time.monotonic()
    try:
        # Its own session: on timeout we kill the check and all its children.
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        print(f"not ok {number} - {name}: cannot start: {e}", flush=True)
        return False
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        os.killpg(p.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    last = ""
    try:
        # Streamed as TAP comments; the loop ends at EOF, when the check
        # exits or the timer has killed it.
        for raw in p.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.strip():
                last = line.strip()
            print(f"# {line}", flush=True)
        status = p.wait()
    finally:
        timer.cancel()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    took = time.monotonic() - start
    if timed_out.is_set():
        print(f"not ok {number} - {name}: timed out after {timeout:g} s", flush=True)
        return False
    if status == 0:
        print(f"ok {number} - {name} ({took:.1f} s)", flush=True)
        return True
    if status == SKIP:
        reason = last.removeprefix("SKIP:").strip() or "exit 77"
        print(f"ok {number} - {name} # SKIP {reason}", flush=True)
        return True
    print(f"not ok {number} - {name}: exit {status} ({took:.1f} s)", flush=True)
    return False


def main(argv):
    only, listing, checks = parse(argv)
    if listing:
        for name, timeout, cmd in checks:
            print(f"{name}\t{timeout:g} s\t{' '.join(cmd)}")
        return 0
    if only:
        unknown = set(only) - {c[0] for c in checks}
        if unknown:
            sys.exit(f"run-checks: no such check: {', '.join(sorted(unknown))}")
        checks = [c for c in checks if c[0] in only]
    print("TAP version 13")
    print(f"1..{len(checks)}", flush=True)
    ok = True
    for n, (name, timeout, cmd) in enumerate(checks, 1):
        ok &= run_check(n, name, timeout, cmd)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
