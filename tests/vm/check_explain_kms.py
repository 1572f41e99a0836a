#!/usr/bin/env python3
"""A vm check: the display half of a frame's journey on the real KMS device.

usage: check_explain_kms.py DEMO

Runs `zcpipe-demo --output kms --transport dmabuf --explain --explain-frame 0
--report DIR` on the guest's display and asserts that
  * the narration (--explain) shows the display's ioctls by name and meaning,
    in the order a frame meets them: the dma-buf imported
    (PRIME_FD_TO_HANDLE), made a framebuffer (ADDFB2), the state tested
    (MODE_ATOMIC with TEST_ONLY), committed (MODE_ATOMIC with NONBLOCK and
    PAGE_FLIP_EVENT, naming FB_ID and CRTC_ID), and the flip event read back;
  * the run's JSON has the measured display timings (commit -> flip event);
  * the HTML report's journey draws the KMS steps (framebuffer, atomic
    commit, page-flip event).
"""
import json
import os
import subprocess
import sys
import tempfile

STEPS = [
    ("DRM_IOCTL_PRIME_FD_TO_HANDLE", "the dma-buf imported"),
    ("DRM_IOCTL_MODE_ADDFB2", "the framebuffer made"),
    ("TEST_ONLY", "the state tested"),
    ("PAGE_FLIP_EVENT", "the state committed"),
    ("a page flip completed", "the flip event read"),
]


def main():
    demo = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.json")
        rep = os.path.join(tmp, "report")
        r = subprocess.run([demo, "--output", "kms", "--transport", "dmabuf", "--allocator", "gbm", "--frames", "6",
                            "--explain", "--explain-frame", "0", "--report", rep, "--no-copybench", "--json", out,
                            "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        text = r.stdout
        print(text)
        if r.returncode != 0:
            failures.append(f"zcpipe-demo exited {r.returncode}")
        at = -1
        for needle, what in STEPS:
            i = text.find(needle, at + 1)
            if i < 0:
                failures.append(f"the narration does not show {what} ({needle}) after the step before it")
            else:
                at = i
        commit = text.find("AtomicRequest::commit")
        if commit < 0 or "FB_ID=" not in text[commit:commit + 600] or "CRTC_ID=" not in text[commit:commit + 600]:
            failures.append("the commit's narration names no FB_ID/CRTC_ID")
        if os.path.exists(out):
            run = json.load(open(out))["runs"][0]
            dt = run.get("display_timings") or {}
            print(f"display timings: {dt}")
            if not isinstance(dt.get("commit_to_flip_us"), (int, float)):
                failures.append(f"no measured commit -> flip time in the JSON: {dt}")
        else:
            failures.append("no JSON written")
        html_path = os.path.join(rep, "report.html")
        html = open(html_path).read() if os.path.exists(html_path) else ""
        for step in ["framebuffer: PRIME import + ADDFB2", "atomic commit: plane FB_ID", "page-flip event"]:
            if step not in html:
                failures.append(f"the report's journey lacks the KMS step {step!r}")
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
