#!/usr/bin/env python3
"""vm check: a client nobody here wrote presents on zcpipe-compositor's KMS output.

usage: check_weston_client.py COMPOSITOR --window WxH --copies N --scanout direct|copy
                              [--reason TEXT] [--seconds S] [--min-frames N] -- CLIENT [ARGS...]

Starts `COMPOSITOR --output kms --stats FILE`, runs CLIENT (e.g.
weston-simple-shm) against it for S seconds, takes a screendump while the
client's window is up, stops the client with SIGINT (Weston's demo clients
exit cleanly on it) and the compositor with SIGTERM, and checks what the
compositor's per-frame ledger says:

  - at least --min-frames frames presented through page flips, no protocol
    errors, no failed imports, nothing dropped;
  - every frame cost exactly --copies CPU copies, and reached the plane the
    way --scanout says ("direct": the buffer the compositor hands the output
    is on the plane; "copy": the output copied it first, with --reason);
  - framebuffers and GEM handles balanced, compositor fds flat (but for the
    few dumb buffers the output keeps);
  - the screendump shows the window in the top-left corner and black
    everywhere else.

Exit: 0 pass, 1 fail, 77 skip (not in tools/vm-run, no DRM device, client
not installed).
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

import vmcheck

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
SCREENDUMP = os.path.join(HERE, "..", "..", "tools", "vm", "screendump")


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, size, maxval, pixels = data.split(b"\n", 3)
    w, h = map(int, size.split())
    if magic != b"P6" or maxval != b"255" or len(pixels) != w * h * 3:
        raise ValueError(f"{path}: not a {w}x{h} 8-bit P6 PPM")
    return w, h, pixels


def window_on_screen(path, win_w, win_h):
    """Lit pixels inside the window, rows lit outside it, and the corners
    (TL, BL, TR, BR) of what is lit inside, as (R, G, B)."""
    w, h, px = read_ppm(path)
    stride = w * 3
    lit_inside = lit_outside = 0
    x0 = y0 = 1 << 30
    x1 = y1 = -1
    for y in range(h):
        row = px[y * stride:(y + 1) * stride]
        if y < win_h:
            inside = row[:win_w * 3]
            for x in range(win_w):
                if inside[3 * x:3 * x + 3] != b"\0\0\0":
                    lit_inside += 1
                    x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
            lit_outside += row[win_w * 3:].count(0) != stride - win_w * 3
        else:
            lit_outside += row.count(0) != stride
    corners = None
    if x1 - x0 > 8 and y1 - y0 > 8:
        def at(x, y):
            return tuple(px[y * stride + 3 * x:y * stride + 3 * x + 3])
        corners = [at(x0 + 3, y0 + 3), at(x0 + 3, y1 - 3), at(x1 - 3, y0 + 3), at(x1 - 3, y1 - 3)]
    return lit_inside, win_w * win_h, lit_outside, corners


def stop(proc, sig, timeout, name, failures):
    """Sends `sig`; the process must exit 0 within `timeout` seconds."""
    proc.send_signal(sig)
    try:
        if proc.wait(timeout=timeout) != 0:
            failures.append(f"{name} exited with status {proc.returncode} on {sig.name}")
    except subprocess.TimeoutExpired:
        proc.kill()
        failures.append(f"{name} ignored {sig.name} for {timeout} s")


def hue(rgb):
    """'r', 'g', 'b' or 'y' (red + green) for a clearly coloured pixel, else '?'."""
    r, g, b = rgb
    if r > 2 * g and r > 2 * b:
        return "r"
    if g > 2 * r and g > 2 * b:
        return "g"
    if b > 2 * r and b > 2 * g:
        return "b"
    if r > 2 * b and g > 2 * b:
        return "y"
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("compositor")
    ap.add_argument("--window", required=True, help="the client's window size, WxH")
    ap.add_argument("--copies", type=int, required=True, help="CPU copies per frame in the compositor")
    ap.add_argument("--scanout", choices=["direct", "copy"], required=True)
    ap.add_argument("--reason", default="",
                    help="with --scanout copy: stable reason names (comma-separated) every frame must give")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--min-frames", type=int, default=10)
    ap.add_argument("--min-lit", type=float, default=0.1, help="least fraction of the window that must be lit")
    ap.add_argument("--corners", help="colours of the lit area's corners, top-left, bottom-left, top-right, "
                                      "bottom-right, as r/g/b/y: proves the image is right way up")
    argv = sys.argv[1:]
    if "--" not in argv:
        ap.error("the client's command line goes after --")
    split = argv.index("--")
    a = ap.parse_args(argv[:split])
    client = argv[split + 1:]
    if not os.environ.get("ZCPIPE_VM_CTL"):
        print("SKIP: not inside tools/vm-run (no screendump)")
        return SKIP
    if not os.path.exists("/dev/dri/card0"):
        print("SKIP: no /dev/dri/card0")
        return SKIP
    if not client or shutil.which(client[0]) is None:
        print(f"SKIP: {client[0] if client else 'no client'} is not installed (tools/setup --test installs weston)")
        return SKIP
    win_w, win_h = map(int, a.window.split("x"))
    name = os.path.basename(client[0])
    tmp = tempfile.mkdtemp(prefix="vm-weston-client.")
    stats = os.path.join(tmp, "compositor.json")
    socket = f"zcpipe-vm-{os.getpid()}"

    comp = vmcheck.start_compositor(a.compositor, socket, stats)
    if comp is None:
        print("FAIL: zcpipe-compositor did not start")
        return 1

    failures = []
    log_path = os.path.join(tmp, "client.log")
    with open(log_path, "w") as log:
        cl = subprocess.Popen(client, env=dict(os.environ, WAYLAND_DISPLAY=socket), stdout=log, stderr=log)
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.seconds and cl.poll() is None:
            time.sleep(0.2)
        lit = None
        if cl.poll() is not None:
            failures.append(f"{name} exited by itself after {time.monotonic() - t0:.1f} s (status {cl.returncode})")
        else:
            dump = subprocess.run([SCREENDUMP, f"{name}.ppm"], capture_output=True, text=True)
            if dump.returncode != 0:
                failures.append("screendump: " + dump.stderr.strip())
            else:
                lit = window_on_screen(dump.stdout.strip(), win_w, win_h)
            stop(cl, signal.SIGINT, 30, name, failures)
        ran_s = time.monotonic() - t0
    stop(comp, signal.SIGTERM, 60, "zcpipe-compositor", failures)

    try:
        with open(stats) as f:
            run = json.load(f)
    except (OSError, ValueError) as e:
        print(f"FAIL: no compositor stats: {e}")
        return 1
    c, oc = run["counters"], run["output_counters"]
    frames = run["ledger"]["frames"]
    if c["presented"] < a.min_frames:
        failures.append(f"{c['presented']} frames presented in {ran_s:.1f} s, expected at least {a.min_frames}")
    for key in ("protocol_errors", "import_failures"):
        if c[key] != 0:
            failures.append(f"{key}: {c[key]}")
    if c["presented"] + c["discarded"] != c["commits"]:
        failures.append(f"{c['commits']} commits but {c['presented']} presented + {c['discarded']} discarded")
    if oc["kms_page_flips"] < c["presented"]:
        failures.append(f"{oc['kms_page_flips']} page flips for {c['presented']} presented frames")
    copies = sorted({f.get("cpu_copies", 0) for f in frames if f.get("msc") is not None})
    scanouts = sorted({f.get("scanout") for f in frames if f.get("msc") is not None})
    reasons = sorted({f.get("scanout_reason", "") for f in frames if f.get("msc") is not None})
    # The stable names (output/scanout_reason.h) each shown frame gives.
    names = [set(f.get("scanout_reasons", [])) for f in frames if f.get("msc") is not None]
    want_names = {n for n in a.reason.split(",") if n}
    copy_where = sorted({cp["where"] for f in frames for cp in f.get("copies", [])})
    copy_bytes = sorted({f.get("cpu_copy_bytes", 0) for f in frames if f.get("msc") is not None})
    if copies != [a.copies]:
        failures.append(f"CPU copies per frame {copies}, expected [{a.copies}]")
    if scanouts != [a.scanout]:
        failures.append(f"scanout {scanouts}, expected [{a.scanout!r}]")
    if a.scanout == "copy" and (not names or any(not want_names <= n for n in names)):
        seen_names = sorted({",".join(sorted(n)) for n in names})
        failures.append(f"scanout reasons {seen_names}, expected every frame to name {sorted(want_names)}")
    if oc["kms_fbs_created"] != oc["kms_gem_handles_opened"] or \
            oc["kms_gem_handles_opened"] != oc["kms_gem_handles_closed"]:
        failures.append(f"framebuffers/GEM handles: {oc['kms_fbs_created']} FBs, {oc['kms_gem_handles_opened']} "
                        f"handles opened, {oc['kms_gem_handles_closed']} closed")
    # The output keeps its dumb buffers (copy fallback, the black frame) and
    # the last compositor-owned buffer stays on the plane until exit.
    grown = run["fds_at_end"] - run["fds_at_start"]
    if grown < 0 or grown > 4:
        failures.append(f"compositor fds {run['fds_at_start']} -> {run['fds_at_end']}")
    if lit is not None:
        lit_in, pixels_in, lit_out, corners = lit
        seen = ",".join(hue(c) for c in corners) if corners else "-"
        print(f"screendump: {lit_in} of {pixels_in} pixels of the {a.window} window in the top-left corner "
              f"are lit; {lit_out} rows have lit pixels outside it; corners of the lit area (TL,BL,TR,BR): {seen}")
        if lit_in < pixels_in * a.min_lit:
            failures.append(f"the window is not on screen: {lit_in} of {pixels_in} pixels lit")
        if lit_out != 0:
            failures.append(f"{lit_out} rows lit outside the window (the rest of the screen must be black)")
        if a.corners and seen != a.corners:
            failures.append(f"corners {seen}, expected {a.corners} (upside down or mirrored?)")
    print(f"{name} on zcpipe-compositor ({run['output_description']}): {c['presented']} frames presented in "
          f"{ran_s:.1f} s, {oc['kms_page_flips']} page flips, {a.copies} CPU cop{'y' if a.copies == 1 else 'ies'} "
          f"per frame ({', '.join(copy_where) or 'none'}; {'/'.join(map(str, copy_bytes))} bytes), "
          f"scanout {'/'.join(scanouts)}{' (' + '; '.join(r for r in reasons if r) + ')' if any(reasons) else ''}")
    for f in failures:
        print("FAIL: " + f)
    if failures:
        with open(log_path) as log:
            for line in log.read().splitlines()[-20:]:
                print(f"  {name}: {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
