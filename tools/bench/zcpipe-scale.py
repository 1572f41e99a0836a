#!/usr/bin/env python3
"""zcpipe-scale: does the compositor's CPU per presented frame stay flat?

A compositor that shows client buffers directly (zero-copy, dmabuf path) does
the same work per frame whatever the frame's size (it never touches a pixel)
and should pay little for clients that are connected but not seen. This
measures zcpipe-compositor's CPU per presented frame:

  (a) with 1, 4 and 16 clients connected and committing, at 1920x1080: one
      full-screen client on top (the one whose frames are presented), the
      others 256x256 windows OCCLUDED by it. They commit a new dmabuf every
      refresh (their frame callbacks still come at every vblank), so the
      compositor handles N commits per presented frame; it shows only the
      top one, as a compositor without composition does.
  (b) with one full-screen client, for frames of 1920x1080, 3840x2160 and
      7680x4320 (the output is made that size).

Each point is a fresh compositor (headless, paced at --refresh Hz, the frame
ledger ON as by default), run --rounds times interleaved with the other
points (so the load of whatever else runs on the machine is spread over
every point, and the 1-client point's spread between rounds is printed as
the run's noise), and fresh clients (dmabuf transport, memfd-backed
buffers, --render none: nothing is drawn, so the clients stay off the CPU
the compositor is measured on). The compositor's CPU is the whole process,
every thread, user + system, read from /proc/PID/task/*/schedstat (the
scheduler's nanosecond runtime; /proc's utime and stime tick at 10 ms,
too coarse for a frame) every --interval seconds while the full-screen
client runs. Each interval's CPU is divided by the frames presented in it
(the full-screen client's own presentation timestamps, CLOCK_MONOTONIC like
the samples); the first --warmup seconds are left out. Per point:

  mean    total CPU / total frames over the measured intervals
  median  the median interval's CPU per frame

Every point is printed as a ratio to the 1-client 1080p point measured in the
same run, and the target (flat within 10 %: every mean ratio within
0.90..1.10) is printed as met or NOT met. A missed target is printed, not a
failure: the exit status is non-zero only when a run broke (a client failed,
the full-screen client's frames were not presented).

  zcpipe-scale --compositor PATH --client PATH [--json FILE] [--seconds S]
               [--rounds N] [--refresh HZ] [--interval S] [--warmup S]
               [--no-ledger]

With --json, the points (every interval's CPU per frame, the compositor's
counters and ledger totals), the ratios and the verdicts are written to FILE.
"""
import argparse
import glob
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TARGET = 0.10           # flat within 10 %
SMALL = "256x256"       # the occluded clients' windows
BASE = ("1080p", 1, "1920x1080")
POINTS = [              # (label, clients, size)
    BASE,
    ("1080p", 4, "1920x1080"),
    ("1080p", 16, "1920x1080"),
    ("4K", 1, "3840x2160"),
    ("8K", 1, "7680x4320"),
]

# The soak's helpers (same directory): descriptors of a process.
_spec = importlib.util.spec_from_file_location("zcpipe_soak", os.path.join(os.path.dirname(__file__), "zcpipe-soak.py"))
_soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_soak)


def cpu_ns(pid):
    """The process's CPU time so far, all threads: the scheduler's runtime in ns."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended between the glob and the read
    return total


class Point:
    """One compositor and its clients for one point of the curve."""

    def __init__(self, args, rundir, clients, size):
        self.args, self.rundir, self.size = args, rundir, size
        self.env = dict(os.environ, XDG_RUNTIME_DIR=rundir)
        self.env.pop("WAYLAND_DISPLAY", None)
        self.socket = f"zcpipe-scale-{os.getpid()}"
        self.comp_stats = os.path.join(rundir, "compositor.json")
        self.client_stats = os.path.join(rundir, "client.json")
        r, w = os.pipe()
        cmd = [args.compositor, "--socket", self.socket, "--output", "headless", "--refresh", str(args.refresh),
               "--size", size, "--quiet", "--stats", self.comp_stats, "--ready-fd", str(w)]
        if args.no_ledger:
            cmd.append("--no-ledger")
        self.comp = subprocess.Popen(cmd, env=self.env, pass_fds=[w])
        os.close(w)
        self.others = []
        with os.fdopen(r) as ready:
            if ready.read() != "ready\n":
                self.kill()
                raise RuntimeError("compositor did not start (no 'ready' on --ready-fd)")
        idle = _soak.fds(self.comp.pid)
        for _ in range(clients - 1):
            self.others.append(self.client(SMALL, 10_000_000, None))
        # The full-screen client must map last (the newest window is on top):
        # wait until every other client holds its connection and buffers.
        deadline = time.monotonic() + 5.0
        while _soak.fds(self.comp.pid) < idle + 2 * (clients - 1) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2 if clients > 1 else 0)

    def client(self, size, frames, stats):
        cmd = [self.args.client, "--socket", self.socket, "--quiet", "--transport", "dmabuf", "--allocator", "memfd",
               "--size", size, "--frames", str(frames), "--render", "none", "--no-checksum", "--warmup", "0"]
        if stats:
            cmd += ["--stats", stats]
        # Only the full-screen client's errors are read (communicate()): the
        # others' would fill a pipe nobody drains.
        return subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE if stats else subprocess.DEVNULL, text=True)

    def measure(self):
        frames = int(self.args.seconds * self.args.refresh)
        top = self.client(self.size, frames, self.client_stats)
        samples = []  # (CLOCK_MONOTONIC ns, compositor CPU ns)
        while top.poll() is None:
            samples.append((time.monotonic_ns(), cpu_ns(self.comp.pid)))
            time.sleep(self.args.interval)
        _, err = top.communicate()
        if top.returncode != 0:
            raise RuntimeError(f"full-screen client failed ({top.returncode}): {err.strip()}")
        with open(self.client_stats) as f:
            doc = json.load(f)
        if doc.get("frames_presented") != frames:
            raise RuntimeError(f"full-screen client: {doc.get('frames_presented')} of {frames} frames presented "
                               "(was it on top?)")
        shown = sorted(r["presented_ns"] for r in doc["ledger"]["frames"] if r.get("presented"))
        # Intervals between consecutive samples, after the warm-up and within
        # the client's presented frames.
        start = shown[0] + int(self.args.warmup * 1e9)
        per_frame, cpu_total, frames_total, ns_total = [], 0, 0, 0
        for (t0, c0), (t1, c1) in zip(samples, samples[1:]):
            if t0 < start or t1 > shown[-1]:
                continue
            n = sum(1 for t in shown if t0 < t <= t1)
            if n == 0:
                continue
            per_frame.append((c1 - c0) / 1000.0 / n)
            cpu_total += c1 - c0
            frames_total += n
            ns_total += t1 - t0
        if len(per_frame) < 3:
            raise RuntimeError(f"only {len(per_frame)} measured intervals: raise --seconds")
        return {"per_frame_us": per_frame, "cpu_ns": cpu_total, "frames": frames_total, "ns": ns_total}

    def stop(self):
        for p in self.others:
            p.send_signal(signal.SIGTERM)
        for p in self.others:
            p.wait(timeout=30)
        self.comp.send_signal(signal.SIGTERM)
        if self.comp.wait(timeout=60) != 0:
            raise RuntimeError(f"compositor exited with status {self.comp.returncode}")
        with open(self.comp_stats) as f:
            return json.load(f)

    def kill(self):
        for p in self.others + [self.comp]:
            if p.poll() is None:
                p.kill()
                p.wait()


def run_point(args, label, clients, size):
    """One round of one point: its measured intervals and the compositor's counters."""
    rundir = tempfile.mkdtemp(prefix="zcpipe-scale-")
    point = None
    try:
        point = Point(args, rundir, clients, size)
        m = point.measure()
        stats = point.stop()
        c = stats.get("counters", {})
        # The compositor's own ledger over the whole run (ledger on): what its
        # commits cost in syscalls and scheduler switches, for the profile line.
        t = stats.get("ledger", {}).get("totals", {})
        m["syscalls"] = t.get("syscalls", {}).get("total", 0)
        m["by_call"] = t.get("syscalls", {}).get("by_call", {})
        m["context_switches"] = t.get("context_switches", 0)
        if c.get("clients_connected", 0) < clients:
            raise RuntimeError(f"{label} x{clients}: only {c.get('clients_connected', 0)} clients connected")
        m.update({"commits": c.get("commits", 0), "presented": c.get("presented", 0)})
        return m
    finally:
        if point is not None:
            point.kill()
        shutil.rmtree(rundir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compositor", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--json", help="write the points and ratios as JSON to FILE")
    ap.add_argument("--seconds", type=float, default=2.0, help="full-screen client's run per point and round (default 2)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds over all points (default 3): interleaving them spreads the load of other "
                         "processes over every point instead of one")
    ap.add_argument("--refresh", type=int, default=120, help="headless refresh rate, Hz (default 120)")
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between CPU samples (default 0.25)")
    ap.add_argument("--warmup", type=float, default=0.5, help="seconds left out at the start (default 0.5)")
    ap.add_argument("--no-ledger", action="store_true", help="compositor without its per-frame ledger")
    args = ap.parse_args()
    if args.seconds < args.warmup + 4 * args.interval:
        ap.error("--seconds must leave at least 4 intervals after --warmup")

    t0 = time.monotonic()
    print(f"zcpipe-scale: compositor CPU per presented frame (whole process, /proc schedstat), headless at "
          f"{args.refresh} Hz, dmabuf (memfd), nothing drawn, ledger {'off' if args.no_ledger else 'on'}; "
          f"{args.rounds} rounds of {args.seconds:g} s per point; extra clients are {SMALL} windows occluded by the "
          f"full-screen one",
          flush=True)
    points = [{"label": label, "clients": clients, "size": size, "per_frame_us": [], "cpu_ns": 0, "frames": 0, "ns": 0,
               "commits": 0, "presented": 0, "syscalls": 0, "context_switches": 0, "by_call": {}, "round_mean_us": []} for label, clients, size in POINTS]
    for _ in range(args.rounds):
        for p in points:
            m = run_point(args, p["label"], p["clients"], p["size"])
            for k in ("per_frame_us",):
                p[k] += m[k]
            for k in ("cpu_ns", "frames", "ns", "commits", "presented", "syscalls", "context_switches"):
                p[k] += m[k]
            for k, v in m["by_call"].items():
                p["by_call"][k] = p["by_call"].get(k, 0) + v
            p["round_mean_us"].append(m["cpu_ns"] / 1000.0 / m["frames"])
    for p in points:
        p["mean_us"] = p["cpu_ns"] / 1000.0 / p["frames"]
        p["median_us"] = statistics.median(p["per_frame_us"])
        p["intervals"] = len(p["per_frame_us"])
        p["fps"] = p["frames"] * 1e9 / p["ns"]
    base = points[0]
    print(f"  {'frame':<6} {'size':>10} {'clients':>7} {'commits/frame':>13} {'mean us':>9} {'median us':>9} "
          f"{'mean ratio':>10} {'median ratio':>12}")
    met = True
    for p in points:
        p["mean_ratio"] = p["mean_us"] / base["mean_us"]
        p["median_ratio"] = p["median_us"] / base["median_us"]
        p["flat"] = abs(p["mean_ratio"] - 1.0) <= TARGET
        met = met and p["flat"]
        commits = p["commits"] / p["presented"] if p["presented"] else 0.0
        print(f"  {p['label']:<6} {p['size']:>10} {p['clients']:>7} {commits:>13.2f} {p['mean_us']:>9.1f} "
              f"{p['median_us']:>9.1f} {p['mean_ratio']:>9.2f}x {p['median_ratio']:>11.2f}x"
              f"{'' if p['flat'] else '   outside 10 %'}", flush=True)
    # How much the same point moved between rounds: the machine's noise, the
    # resolution below which a ratio says nothing.
    spread = max(base["round_mean_us"]) / min(base["round_mean_us"]) - 1.0
    print(f"  noise: 1 client / 1080p measured {', '.join(f'{v:.1f}' for v in base['round_mean_us'])} us "
          f"in its {args.rounds} rounds (spread {spread:.0%}: ratios closer to 1 than that are within the noise)"
          if args.rounds > 1 else "  noise: one round, not measured (use --rounds)")
    # Where the client-count rows' extra time goes: every occluded client's
    # commit is a Wayland request batch the compositor reads, applies and
    # answers (frame callback, buffer release) although nothing is shown.
    for p in points:
        extra = p["commits"] / p["presented"] - 1.0 if p["presented"] else 0.0
        if p["clients"] > 1 and extra > 0:
            p["us_per_occluded_commit"] = (p["mean_us"] - base["mean_us"]) / extra
            calls = ", ".join(f"{k} {v / p['presented']:.1f}" for k, v in
                              sorted(p["by_call"].items(), key=lambda kv: -kv[1])[:4])
            print(f"  {p['clients']} clients: {extra:.2f} occluded commits per presented frame, "
                  f"{p['us_per_occluded_commit']:.1f} us of compositor CPU each; per presented frame "
                  f"{p['syscalls'] / p['presented']:.1f} syscalls ({calls}), "
                  f"{p['context_switches'] / p['presented']:.1f} scheduler switches (ledger)")
    elapsed = time.monotonic() - t0
    verdicts = {}
    for name, group in (("clients", [p for p in points if p["size"] == BASE[2]]),
                        ("sizes", [p for p in points if p["clients"] == 1])):
        verdicts[name] = all(p["flat"] for p in group)
        what = ", ".join(str(p["clients"]) if name == "clients" else p["label"] for p in group)
        print(f"  target: compositor CPU per presented frame flat within {TARGET:.0%} (mean ratios 0.90..1.10) "
              f"over {name} {what}: {'met' if verdicts[name] else 'NOT met'}")
    print(f"  ({elapsed:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"target": {"flat_within": TARGET, "met": met, "clients_met": verdicts["clients"],
                                  "sizes_met": verdicts["sizes"]}, "refresh_hz": args.refresh,
                       "seconds_per_point": args.seconds, "rounds": args.rounds, "ledger": not args.no_ledger,
                       "occluded_client_size": SMALL, "points": points, "seconds": elapsed}, f, indent=1)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print(f"zcpipe-scale: {e}", file=sys.stderr)
        sys.exit(2)
