#!/usr/bin/env python3
"""Host check: with no DRM device, zcpipe-probe prints one line that says so
(and where to find a virtual one) on stderr, and exits 1.
usage: check_probe_no_device.py ZCPIPE_PROBE     (exit 77 where /dev/dri exists)
"""

import json
import os
import subprocess
import sys


def main(probe):
    if os.path.exists("/dev/dri"):
        print("SKIP: this machine has /dev/dri")
        return 77
    ok = True
    for args in ([], ["--json"]):
        r = subprocess.run([probe, *args], capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        good = (r.returncode == 1 and len(lines) == 1 and "no DRM device found" in lines[0]
                and "docs/vm.md" in lines[0])
        if args:  # --json still gives programs a document to parse
            good = good and json.loads(r.stdout) == {
                "devices": [], "error": "no DRM device found (/dev/dri does not exist)"}
        print(f"{'ok  ' if good else 'FAIL'} zcpipe-probe {' '.join(args)}: exit {r.returncode}, "
              f"stderr {r.stderr.strip()!r}")
        ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
