#!/usr/bin/env python3
"""vm check: per-surface dmabuf feedback turns a copied client into a zero-copy one.

usage: check_feedback.py COMPOSITOR CLIENT [--frames N] [--format ARGB8888] [--max-copied N]
                         [--renderer cpu|gl]

Starts `COMPOSITOR --output kms`, runs `CLIENT --transport dmabuf --allocator gbm
--format ARGB8888 --follow-feedback`. The VM's primary plane takes XRGB8888
only, so the client's first frames are copied (reason format_not_on_plane);
the compositor then sends the surface's feedback again, its scanout tranche
naming XRGB8888, and the client reallocates its ring in that format once.
Checks, from the two JSON files:

  - the compositor re-sent the feedback exactly once
    (counters.surface_feedback_resent == 1), never once per copied frame;
  - the client reallocated once (feedback_reallocations == 1), from
    format_requested ARGB8888 to format XRGB8888, at feedback_switch_frame S;
  - every frame before S was copied and says format_not_on_plane (in the
    compositor's ledger), and presented without ZERO_COPY (the client's);
  - every frame from S on was presented ZERO_COPY and scanned out directly;
  - S is at most --max-copied: the loop closes within a few frames;
  - the client drew with --renderer (gl: a GL client that follows feedback,
    its ring of EGLImages remade in the new format).

Exit: 0 pass, 1 fail, 77 skip (no DRM device).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import vmcheck

SKIP = 77


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("compositor")
    ap.add_argument("client")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--format", default="ARGB8888")
    ap.add_argument("--renderer", default="cpu", choices=("cpu", "gl"))
    ap.add_argument("--max-copied", type=int, default=4,
                    help="most frames the client may send before its first frame in the new ring")
    a = ap.parse_args()
    if not os.path.exists("/dev/dri/card0"):
        print("SKIP: no /dev/dri/card0")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="vm-feedback.")
    comp_stats, client_stats = os.path.join(tmp, "compositor.json"), os.path.join(tmp, "client.json")
    socket = f"zcpipe-vm-fb-{os.getpid()}"
    comp = vmcheck.start_compositor(a.compositor, socket, comp_stats, "--exit-after-clients", "1")
    if comp is None:
        print("FAIL: zcpipe-compositor did not start")
        return 1
    cl = subprocess.run([a.client, "--socket", socket, "--transport", "dmabuf", "--allocator", "gbm",
                         "--format", a.format, "--follow-feedback", "--frames", str(a.frames), "--renderer", a.renderer,
                         "--stats", client_stats, "-q"], timeout=240)
    failures = []
    if cl.returncode != 0:
        failures.append(f"zcpipe-client exited with status {cl.returncode}")
    try:
        if comp.wait(timeout=60) != 0:
            failures.append(f"zcpipe-compositor exited with status {comp.returncode}")
    except subprocess.TimeoutExpired:
        comp.kill()
        failures.append("zcpipe-compositor did not exit after its client left")
    try:
        with open(comp_stats) as f:
            comp_run = json.load(f)
        with open(client_stats) as f:
            client_run = json.load(f)
    except (OSError, ValueError) as e:
        print(f"FAIL: stats missing: {e}")
        return 1

    if client_run.get("renderer") != a.renderer:
        failures.append(f"client drew with {client_run.get('renderer')!r}, expected {a.renderer!r}")
    resent = comp_run["counters"].get("surface_feedback_resent")
    if resent != 1:
        failures.append(f"compositor re-sent the surface feedback {resent} times, expected exactly 1")
    realloc = client_run.get("feedback_reallocations")
    switch = client_run.get("feedback_switch_frame")
    if realloc != 1 or switch is None:
        failures.append(f"client reallocated {realloc} times (switch frame {switch}), expected once")
    if client_run.get("format_requested") != a.format or client_run.get("format") != "XRGB8888":
        failures.append(f"client format {client_run.get('format_requested')} -> {client_run.get('format')}, "
                        f"expected {a.format} -> XRGB8888")

    # The client's view: presented frames, ZERO_COPY or not, by frame number.
    cframes = {f["frame"]: f for f in client_run.get("ledger", {}).get("frames", []) if f.get("presented")}
    if len(cframes) != a.frames:
        failures.append(f"client: {len(cframes)} of {a.frames} frames presented")
    # The compositor's view: each shown frame's scanout and reasons, in order.
    shown = [f for f in comp_run["ledger"]["frames"] if f.get("msc") is not None]
    copied_reasons = sorted({",".join(f.get("scanout_reasons", [])) for f in shown if f.get("scanout") == "copy"})
    n_copy = sum(1 for f in shown if f.get("scanout") == "copy")
    n_direct = sum(1 for f in shown if f.get("scanout") == "direct")
    order = "".join("c" if f.get("scanout") == "copy" else "d" for f in shown)
    if switch is not None:
        before = [n for n in cframes if n < switch]
        after = [n for n in cframes if n >= switch]
        if any(cframes[n].get("zero_copy") for n in before):
            failures.append(f"client frames before the switch presented ZERO_COPY: "
                            f"{[n for n in before if cframes[n].get('zero_copy')]}")
        if not after or not all(cframes[n].get("zero_copy") for n in after):
            failures.append(f"client frames from {switch} on not all ZERO_COPY: "
                            f"{[n for n in after if not cframes[n].get('zero_copy')]}")
        if switch > a.max_copied:
            failures.append(f"the switch came at frame {switch}, later than --max-copied {a.max_copied}")
        if n_copy != len(before) or n_direct != len(after):
            failures.append(f"compositor: {n_copy} copied + {n_direct} direct frames, expected "
                            f"{len(before)} + {len(after)}")
    if order != "".join(sorted(order)):  # all copies first, then only direct frames
        failures.append(f"compositor scanout order {order!r}: a copy after a direct frame")
    if n_copy == 0:
        failures.append("no frame was copied first: the check proves nothing (did the plane take ARGB8888?)")
    if copied_reasons != ["format_not_on_plane"]:
        failures.append(f"copied frames' reasons {copied_reasons}, expected ['format_not_on_plane']")

    print(f"feedback loop on {comp_run.get('output_description', 'kms')}: {a.format} client, {n_copy} frames copied "
          f"({'; '.join(copied_reasons) or '-'}), surface feedback re-sent {resent}x, ring reallocated {realloc}x "
          f"-> {client_run.get('format')} {client_run.get('modifier')}, first frame in the new ring: {switch}, "
          f"then {n_direct} frames ZERO_COPY (scanout order {order})")
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
