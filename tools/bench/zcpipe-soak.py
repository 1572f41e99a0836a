#!/usr/bin/env python3
"""zcpipe-soak: does the compositor stay flat whatever its clients do?

A compositor lives as long as the session: anything it keeps per frame or per
client, and never gives back, grows without bound. This runs one
zcpipe-compositor (headless, unpaced, the frame ledger ON as by default)
through

  * 10,000 frames per transport (dmabuf, shm, socket): ten clients in a row,
    1,000 frames each, after one warm-up client of 1,000 frames per transport
    that is not counted (pools, the scanout buffer and malloc's arenas reach
    their working size there);
  * 1,000 connections: clients that connect, present one frame and leave, the
    three transports in turn, after 30 warm-up connections;

and samples the compositor from outside after every 1,000 frames and every
100 connections: its open descriptors (entries of /proc/PID/fd) and its
resident memory (VmRSS in /proc/PID/status). A sample is taken once the
compositor has seen the client go (its descriptor count is back at the
previous sample's, or 1 s has passed: a leaked descriptor never comes back).

Growth per 1,000 frames and per 1,000 connections is the least-squares slope
through the samples (robust against one noisy sample). The run fails (exit 1)
if any slope is above the bounds:

  descriptors  0.5 per 1,000 frames or connections (i.e. none leaked)
  RSS          64 KiB per 1,000 frames, 64 KiB per 1,000 connections

64 KiB per 1,000 frames is 65 bytes a frame: less than one per-frame record
of any useful ledger, so a ledger that keeps a record per frame forever fails,
and a fixed ring does not. Frames are 256x256 XRGB8888 (the compositor's
per-frame work does not depend on the size for dmabuf; the copying transports
stay fast enough to keep the whole soak within a few minutes).

  zcpipe-soak --compositor PATH --client PATH [--json FILE] [--frames N]
              [--connections N]

Results are printed and, with --json, written as JSON (the numbers the
assertion is made on).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FD_BOUND = 0.5          # descriptors per 1,000 frames / connections
RSS_BOUND_KIB = 64.0    # KiB per 1,000 frames / connections
SIZE = "256x256"
TRANSPORTS = ["dmabuf", "shm", "socket"]
FRAMES_PER_CLIENT = 1000
CONN_SAMPLE_EVERY = 100
CONN_WARMUP = 30


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def slope(xs, ys):
    """Least-squares slope of ys over xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


class Soak:
    def __init__(self, args, rundir):
        self.args = args
        self.env = dict(os.environ, XDG_RUNTIME_DIR=rundir)
        self.env.pop("WAYLAND_DISPLAY", None)
        self.socket = f"zcpipe-soak-{os.getpid()}"
        self.stats = os.path.join(rundir, "compositor.json")
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            [args.compositor, "--socket", self.socket, "--output", "headless", "--refresh", "0",
             "--size", SIZE, "--quiet", "--stats", self.stats, "--ready-fd", str(w)],
            env=self.env, pass_fds=[w])
        os.close(w)
        with os.fdopen(r) as ready:
            if ready.read() != "ready\n":
                raise RuntimeError("compositor did not start (no 'ready' on --ready-fd)")
        self.pid = self.proc.pid
        self.idle_fds = fds(self.pid)
        self.clients = 0

    def client(self, transport, frames):
        cmd = [self.args.client, "--socket", self.socket, "--quiet", "--transport", transport,
               "--size", SIZE, "--frames", str(frames), "--render", "none", "--no-checksum",
               "--warmup", "0"]
        r = subprocess.run(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"client {' '.join(cmd[3:])} failed ({r.returncode}): {r.stderr.strip()}")
        self.clients += 1

    def sample(self):
        # Wait until the compositor has dropped the last client's descriptors
        # (back to the previous sample's count; a leaked one never comes back).
        deadline = time.monotonic() + 1.0
        while fds(self.pid) > self.idle_fds and time.monotonic() < deadline:
            time.sleep(0.005)
        s = {"fds": fds(self.pid), "rss_kib": rss_kib(self.pid)}
        self.idle_fds = s["fds"]
        return s

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=120)
        if code != 0:
            raise RuntimeError(f"compositor exited with status {code} after SIGTERM")
        with open(self.stats) as f:
            return json.load(f)


def phase_result(name, unit, xs, samples):
    fd_slope = slope(xs, [s["fds"] for s in samples]) * 1000
    rss_slope = slope(xs, [s["rss_kib"] for s in samples]) * 1000
    ok = fd_slope <= FD_BOUND and rss_slope <= RSS_BOUND_KIB
    print(f"  {name:<12} fds {samples[0]['fds']:>4} -> {samples[-1]['fds']:<4} "
          f"RSS {samples[0]['rss_kib']:>7} -> {samples[-1]['rss_kib']:<7} KiB   "
          f"growth per 1,000 {unit}: {fd_slope:+7.2f} fds, {rss_slope:+9.1f} KiB   "
          f"{'ok' if ok else 'ABOVE BOUND'}", flush=True)
    return {"phase": name, "per": unit, "x": xs, "samples": samples,
            "fds_per_1000": fd_slope, "rss_kib_per_1000": rss_slope, "ok": ok}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compositor", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--json", help="write the samples and slopes as JSON to FILE")
    ap.add_argument("--frames", type=int, default=10000, help="frames per transport (multiple of 1,000)")
    ap.add_argument("--connections", type=int, default=1000, help="connections (multiple of 100)")
    args = ap.parse_args()
    if args.frames < 2 * FRAMES_PER_CLIENT or args.frames % FRAMES_PER_CLIENT:
        ap.error(f"--frames must be a multiple of {FRAMES_PER_CLIENT}, at least {2 * FRAMES_PER_CLIENT}")
    if args.connections < 2 * CONN_SAMPLE_EVERY or args.connections % CONN_SAMPLE_EVERY:
        ap.error(f"--connections must be a multiple of {CONN_SAMPLE_EVERY}, at least {2 * CONN_SAMPLE_EVERY}")

    rundir = tempfile.mkdtemp(prefix="zcpipe-soak-")
    t0 = time.monotonic()
    results = []
    try:
        soak = Soak(args, rundir)
        print(f"zcpipe-soak: compositor pid {soak.pid}, headless unpaced {SIZE}, ledger on; "
              f"bounds per 1,000: {FD_BOUND} fds, {RSS_BOUND_KIB:.0f} KiB RSS", flush=True)
        for t in TRANSPORTS:
            soak.client(t, FRAMES_PER_CLIENT)  # warm-up, not counted
            xs, samples = [0], [soak.sample()]
            for i in range(args.frames // FRAMES_PER_CLIENT):
                soak.client(t, FRAMES_PER_CLIENT)
                xs.append((i + 1) * FRAMES_PER_CLIENT)
                samples.append(soak.sample())
            results.append(phase_result(t, "frames", xs, samples))
        for i in range(CONN_WARMUP):
            soak.client(TRANSPORTS[i % 3], 1)
        xs, samples = [0], [soak.sample()]
        for i in range(args.connections):
            soak.client(TRANSPORTS[i % 3], 1)
            if (i + 1) % CONN_SAMPLE_EVERY == 0:
                xs.append(i + 1)
                samples.append(soak.sample())
        results.append(phase_result("connections", "connections", xs, samples))
        stats = soak.stop()
    finally:
        if "soak" in locals() and soak.proc.poll() is None:
            soak.proc.kill()
            soak.proc.wait()
        shutil.rmtree(rundir, ignore_errors=True)

    counters = stats.get("counters", {})
    expected = len(TRANSPORTS) * (args.frames + FRAMES_PER_CLIENT) + CONN_WARMUP + args.connections
    presented = counters.get("presented", 0)
    elapsed = time.monotonic() - t0
    ok = all(r["ok"] for r in results) and presented >= expected and stats.get("fds_at_end") == stats.get(
        "fds_at_start")
    print(f"  compositor: {presented} frames presented of {expected} committed by {soak.clients} clients; "
          f"fds at start {stats.get('fds_at_start')}, at end {stats.get('fds_at_end')}; {elapsed:.0f} s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bounds": {"fds_per_1000": FD_BOUND, "rss_kib_per_1000": RSS_BOUND_KIB},
                       "size": SIZE, "phases": results, "presented": presented, "expected": expected,
                       "compositor_counters": counters, "seconds": elapsed, "ok": ok}, f, indent=1)
    if not ok:
        print("zcpipe-soak: FAIL: the compositor grows (see the lines marked ABOVE BOUND)"
              if not all(r["ok"] for r in results) else
              "zcpipe-soak: FAIL: frames missing or descriptors not returned at exit", file=sys.stderr)
        return 1
    print("zcpipe-soak: flat")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print(f"zcpipe-soak: {e}", file=sys.stderr)
        sys.exit(2)
