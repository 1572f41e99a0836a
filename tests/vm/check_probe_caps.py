#!/usr/bin/env python3
"""vm check: zcpipe-probe --json on the guest's virtio-gpu reports the
device's known capabilities (shared/FACTS.md, "A real DRM device in a QEMU
guest"). If QEMU or the kernel change what the device offers, this check
says which fact moved.

usage: check_probe_caps.py ZCPIPE_PROBE [DEVICE]
Exit: 0 pass, 1 fail, 77 skip (no such device).
"""

import json
import os
import subprocess
import sys


def main(argv):
    probe = argv[1]
    device = argv[2] if len(argv) > 2 else "/dev/dri/card0"
    if not os.path.exists(device):
        print(f"SKIP: no {device} (run inside tools/vm-run)")
        return 77

    r = subprocess.run([probe, "--json", "--device", device], capture_output=True, text=True)
    if r.stderr.strip():
        print(r.stderr.strip())
    if r.returncode != 0:
        print(f"FAIL: zcpipe-probe exited {r.returncode}")
        return 1
    dev = json.loads(r.stdout)["devices"][0]
    caps = dev["caps"]
    gbm = dev["gbm"]
    connected = [c for c in dev["connectors"] if c["status"] == "connected"]
    preferred = [m for c in connected for m in c["modes"] if m["preferred"]]
    planes = {p["type"]: p for p in dev["planes"]}

    # (what, found, expected) — the facts this project builds on.
    facts = [
        ("driver", dev["driver"]["name"], "virtio_gpu"),
        ("node type", dev["node_type"], "primary"),
        ("DRM master", dev["master"], True),
        ("atomic", caps["atomic"], True),
        ("PRIME import", caps["prime_import"], True),
        ("PRIME export", caps["prime_export"], True),
        ("ADDFB2_MODIFIERS", caps["addfb2_modifiers"], False),
        ("dumb buffers", caps["dumb_buffer"], True),
        ("async page flip", caps["async_page_flip"], False),
        ("syncobj", caps["syncobj"], False),
        ("vblank", dev["vblank"], False),
        ("connectors", len(dev["connectors"]), 1),
        ("connected connectors", len(connected), 1),
        ("offers 3840x2160", any(m["width"] == 3840 and m["height"] == 2160
                                 for c in connected for m in c["modes"]), True),
        ("preferred mode", [(m["width"], m["height"]) for m in preferred][:1], [(3840, 2160)]),
        ("CRTCs", len(dev["crtcs"]), 1),
        ("plane types", sorted(planes), ["cursor", "primary"]),
        ("primary plane formats", planes.get("primary", {}).get("formats"), ["XRGB8888"]),
        ("cursor plane formats", planes.get("cursor", {}).get("formats"), ["ARGB8888"]),
        ("cursor size", (caps["cursor_width"], caps["cursor_height"]), (64, 64)),
        ("GBM 4K allocated", gbm["allocated"], True),
        ("GBM 4K stride", gbm["stride"], 15360),
        ("GBM 4K exported O_RDWR", gbm["exported"] and gbm["export_rdwr"], True),
        ("GBM 4K mmap(PROT_WRITE)", gbm["mmap_write"], True),
        ("GBM 4K drmModeAddFB2", gbm["addfb2"], True),
        ("GBM error", gbm["error"], None),
        # The Mesa pitfall is reported exactly when it is there.
        ("gbm_bo_get_fd read-only warned",
         any("gbm_bo_get_fd" in w for w in dev["warnings"]), bool(gbm["get_fd_readonly"])),
    ]
    bad = 0
    for what, found, expected in facts:
        ok = found == expected
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {found!r}" + ("" if ok else f" (expected {expected!r})"))
    print(f"gbm_bo_get_fd() read-only: {gbm['get_fd_readonly']} (Mesa 22.3 pitfall)")

    # The text report must work too (its wording is not asserted).
    text = subprocess.run([probe, "--device", device], capture_output=True, text=True)
    if text.returncode != 0 or not text.stdout.startswith(device):
        print(f"FAIL: text report: exit {text.returncode}")
        bad += 1
    if bad:
        print(f"FAIL: {bad} of {len(facts)} facts differ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
