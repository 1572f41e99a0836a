#!/usr/bin/env python3
"""A vm check: run zcpipe-demo on the guest's real DRM device and assert on its JSON.

usage: check_demo.py DEMO [--allocator NAME] [--buffer-kind KIND] [--output NAME] [--scanout-copy REASON_NAME]
                     [--overwrite-proof yes] [--hops N] [--fences yes] [--renderer LIST]
                     [--verify-read HOW] -- DEMO-ARGS...

Asserts, for every run in the demo's --json:
  * the demo exited 0 and checks.passed (every frame presented, checksums verified, ...)
  * CPU copies per frame exactly 0 / 1 / 3 for dmabuf / shm / socket (every frame)
  * dmabuf frames were ZERO_COPY, and came from --allocator with buffer kind --buffer-kind
  * the compositor's output is --output (e.g. headless, kms)
  * the compositor's open descriptors at exit equal those at start
  * --overwrite-proof yes: the overwrite experiment had a witness and came out
    as predicted: the client's marker seen in every looked-at dmabuf frame
    (the display read the client's own memory), in none of shm's or socket's
  * --hops N: the run crossed N compositors, with the copies per hop as designed
  * --fences yes (kms): every dmabuf frame scanned out directly carried the
    buffer's fence into the commit (IN_FENCE_FD) or was waited for in the loop,
    and every such frame's record has its fence figures (fence_attached,
    fence_signal_us, fence_wait_us, flip_us)
  * --renderer LIST (e.g. gl, or cpu,gl): the runs were drawn by these
    renderers, in this order; a gl run's client CPU touched no pixel
    (cpu_touched_bytes 0 in every frame), a cpu run's touched at least the
    frame's visible bytes in every frame; every frame has the client's
    whole-process CPU (process_cpu_us)
  * --verify-read HOW (mmap, gbm_map): every dmabuf frame was verified (its
    checksum and the frame number decoded from its pixels match what the
    client rendered) and the compositor read it that way (verify_read)
"""
import json
import os
import subprocess
import sys
import tempfile

COPIES = {"dmabuf": 0, "shm": 1, "socket": 3}


def check_renderer_figures(run, failures):
    """The renderer's own figures, per frame: the bytes of pixel memory the
    client's CPU touched (the gl renderer: none) and the client's whole-process
    CPU (a GL driver works in threads of its own)."""
    r = run.get("renderer")
    touched = [f["client"].get("cpu_touched_bytes") for f in run["frames"]]
    if None in touched:
        failures.append(f"{r}: frames without the client's cpu_touched_bytes")
        return
    visible = run["width"] * run["height"] * (run["frame_bytes"] // max(1, run["width"] * run["height"]))
    if r == "gl" and any(touched):
        bad = [f["frame"] for f in run["frames"] if f["client"]["cpu_touched_bytes"]]
        failures.append(f"gl: the client's CPU touched pixels in frames {bad[:5]}: {touched[:5]}")
    if r == "cpu" and min(touched) < visible:
        failures.append(f"cpu: the client's CPU touched {min(touched)} bytes in a frame, less than the frame's {visible}")
    if any("process_cpu_us" not in f["client"] for f in run["frames"]):
        failures.append(f"{r}: frames without the client's process_cpu_us")
    pf = run["per_frame"]
    med = lambda k: pf.get(k, {}).get("median")
    print(f"{r}: client CPU bytes touched/frame {med('client_cpu_touched_bytes')}, client CPU/frame "
          f"{med('client_cpu_us')} us main thread, {med('client_process_cpu_us')} us all threads "
          f"(GL_RENDERER {run.get('gl_renderer')})")


def main():
    args = sys.argv[1:]
    demo = args.pop(0)
    want = {}
    while args and args[0] != "--":
        key = args.pop(0).lstrip("-")
        want[key] = args.pop(0)
    demo_args = args[1:]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.json")
        r = subprocess.run([demo] + demo_args + ["--json", out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(r.stdout)
        if not os.path.exists(out):
            print(f"zcpipe-demo exited {r.returncode} without writing JSON")
            return 1
        doc = json.load(open(out))
    if r.returncode != 0:
        failures.append(f"zcpipe-demo exited {r.returncode}")
    if "renderer" in want:
        got = [run.get("renderer") for run in doc["runs"]]
        if got != want["renderer"].split(","):
            failures.append(f"runs drawn by {got}, expected {want['renderer']}")
    for run in doc["runs"]:
        t = run["transport"]
        if "renderer" in want:
            check_renderer_figures(run, failures)
        if not run["checks"].get("passed"):
            failures.append(f"{t}: checks failed: {run['checks']}")
        if "scanout-copy" in want:
            # The forced fallback: every frame copied by the output, naming the
            # reason given (a stable name from output/scanout_reason.h).
            bad = [f["frame"] for f in run["frames"]
                   if f.get("scanout") != "copy" or want["scanout-copy"] not in f.get("scanout_reasons", [])
                   or f["cpu_copies"] != COPIES[t] + 1]
            if bad:
                failures.append(f"{t}: frames {bad[:5]} are not scanout copies with reason ~{want['scanout-copy']!r} and {COPIES[t] + 1} copies")
            print(f"{t}: fallback reasons: {run['frames'][0].get('scanout_reasons')} "
                  f"({run['frames'][0].get('scanout_reason')})")
            continue
        if "overwrite-proof" in want:
            p = run.get("overwrite_proof") or {}
            print(f"{t}: overwrite experiment: marker seen in {p.get('marker_seen_frames')} of {p.get('frames')} "
                  f"frames looked at, expected {p.get('expected')!r}, witness {p.get('witness')!r}")
            if p.get("witness") is None or not p.get("frames"):
                failures.append(f"{t}: the overwrite experiment had no witness or no frame: {p}")
            elif p.get("as_expected") is not True:
                failures.append(f"{t}: the overwrite experiment did not come out as predicted: {p}")
            elif t == "dmabuf" and p["marker_seen_frames"] != p["frames"]:
                failures.append(f"dmabuf: marker seen in only {p['marker_seen_frames']} of {p['frames']} frames")
            elif t != "dmabuf" and p["marker_seen_frames"] != 0:
                failures.append(f"{t}: the marker was seen in a copy: {p}")
        if "fences" in want and t == "dmabuf":
            oc = run.get("output_counters", {})
            fenced = oc.get("kms_fences_attached", 0) + oc.get("kms_fences_waited", 0)
            print(f"dmabuf: fences: {oc.get('kms_fences_attached')} attached as IN_FENCE_FD, "
                  f"{oc.get('kms_fences_waited')} waited for in the loop, {oc.get('kms_out_fences')} OUT_FENCE_PTR")
            if fenced < run["frames_zero_copy"] or run["frames_zero_copy"] == 0:
                failures.append(f"dmabuf: {fenced} fenced commits for {run['frames_zero_copy']} zero-copy frames")
            keys = ("fence_attached", "fence_signal_us", "fence_wait_us", "flip_us")
            missing = [f["frame"] for f in run["frames"]
                       if f.get("scanout", "direct") == "direct" and not all(k in f for k in keys)]
            if missing:
                failures.append(f"dmabuf: frames {missing[:5]} have no fence figures ({', '.join(keys)})")
            flips = sorted(f["flip_us"] for f in run["frames"] if "flip_us" in f)
            if flips:
                print(f"dmabuf: fence figures in {len(flips)} frames; commit -> flip median {flips[len(flips) // 2]:.0f} us, "
                      f"render fence signalled after the commit in "
                      f"{sum(1 for f in run['frames'] if f.get('fence_signal_us', 0) > 0)} frames")
        if "verify-read" in want and t == "dmabuf":
            how = [f.get("verify_read") for f in run["frames"]]
            bad = [f for f in run["frames"] if f.get("verified") is not True]
            unverified = [f["frame"] for f in bad]
            print(f"dmabuf: {len(run['frames']) - len(unverified)}/{len(run['frames'])} frames verified, "
                  f"read by {sorted(set(map(str, how)))}; shown_frame of the first and last: "
                  f"{run['frames'][0].get('shown_frame')}, {run['frames'][-1].get('shown_frame')}; compositor verify_us "
                  f"median {run['per_frame'].get('compositor_verify_us', {}).get('median')}")
            if unverified:
                failures.append(f"dmabuf: frames {unverified[:5]} not verified: shown_frame "
                                f"{[f.get('shown_frame') for f in bad[:5]]}")
            wrong_way = [f for f in run["frames"] if f.get("verify_read") != want["verify-read"]]
            if wrong_way:
                failures.append(f"dmabuf: frames {[f['frame'] for f in wrong_way[:5]]} read by "
                                f"{wrong_way[0].get('verify_read')!r}, expected {want['verify-read']!r}")
        if "hops" in want:
            if run.get("hops") != int(want["hops"]):
                failures.append(f"{t}: {run.get('hops')} hops, expected {want['hops']}")
            if not run["checks"].get("copies_per_hop_as_designed"):
                failures.append(f"{t}: copies per hop not as designed: {run.get('per_hop')}")
        wrong = [f["frame"] for f in run["frames"] if f["cpu_copies"] != COPIES[t]]
        if wrong:
            failures.append(f"{t}: frames {wrong[:5]} do not have {COPIES[t]} CPU copies")
        direct = [f["frame"] for f in run["frames"] if f.get("scanout", "direct") != "direct"]
        if t == "dmabuf" and direct:
            failures.append(f"dmabuf: frames {direct[:5]} were not scanned out directly: {run['frames'][direct[0]].get('scanout_reason')}")
        if t == "dmabuf":
            if run["frames_zero_copy"] != run["frames_requested"]:
                failures.append(f"dmabuf: {run['frames_zero_copy']} of {run['frames_requested']} frames ZERO_COPY")
            if "allocator" in want and run["allocator"] != want["allocator"]:
                failures.append(f"dmabuf: allocator {run['allocator']}, expected {want['allocator']}")
            if "buffer-kind" in want and run["buffer_kind"] != want["buffer-kind"]:
                failures.append(f"dmabuf: buffers are {run['buffer_kind']!r}, expected {want['buffer-kind']!r}")
        if "output" in want and run["output"] != want["output"]:
            failures.append(f"{t}: output {run['output']}, expected {want['output']}")
        # Headless: exactly flat. KMS: the output keeps its own dumb buffers
        # (up to 3, made on first need: the copy fallback and the black frame
        # shown when a client leaves), so at most 3 more descriptors.
        slack = 3 if run["output"] == "kms" else 0
        grown = run["compositor_fds_at_end"] - run["compositor_fds_at_start"]
        if grown < 0 or grown > slack:
            failures.append(f"{t}: compositor fds {run['compositor_fds_at_start']} -> {run['compositor_fds_at_end']}")
        print(f"{t}: {run['frames_presented']}/{run['frames_requested']} presented, "
              f"{run['frames_zero_copy']} zero-copy, copies/frame {COPIES[t]}, allocator {run['allocator']}")
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
