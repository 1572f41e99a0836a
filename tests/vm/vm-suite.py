#!/usr/bin/env python3
"""Host side of `meson test --suite vm`: boot the guest once and run every
check in it (tests/vm/run-checks.py), passing its TAP output through.

usage: vm-suite.py VM_RUN RUNNER [VM-RUN OPTION...] -- CHECKS...

With no usable VM here (no qemu, busybox-static or kernel package; for
--gpu virgl also no xvfb or qemu-system-gui), the whole test is skipped with
the reason, as TAP "1..0 # SKIP". So is a boot that would run none of its
checks (ZCPIPE_VM_CHECKS names only other tests' checks).
"""

import os
import subprocess
import sys

# tools/vm-run's own exit codes (see its --help).
VM_RUN_ERRORS = {
    122: "the guest did not boot",
    123: "the guest hung or crashed",
    124: "the checks ran longer than the guest timeout",
    125: "tools/vm-run failed",
}


def main(argv):
    vm_run, runner = argv[0], argv[1]
    split = argv.index("--")
    options, checks = argv[2:split], argv[split + 1:]

    # A subset (ZCPIPE_VM_CHECKS) that names none of these checks: no boot.
    names = [checks[i + 1].partition("@")[0] for i, a in enumerate(checks) if a == "::check" and i + 1 < len(checks)]
    only = [n for n in os.environ.get("ZCPIPE_VM_CHECKS", "").split(",") if n]
    if only and not set(only) & set(names):
        print(f"1..0 # SKIP ZCPIPE_VM_CHECKS={','.join(only)} selects none of {', '.join(names)}", flush=True)
        return 0

    # The options go to the probe too: --gpu virgl needs more (Xvfb, QEMU's GL device).
    check = subprocess.run([vm_run, "--check", *options], capture_output=True, text=True)
    if check.returncode != 0:
        reason = (check.stderr.strip().splitlines() or ["tools/vm-run --check failed"])[-1]
        print(f"1..0 # SKIP {reason}", flush=True)
        return 0

    # The runner runs in the guest with this same interpreter (the guest sees
    # the host's files at the same paths), and so do the checks' "#!/usr/bin/env
    # python3" lines: its directory goes first on PATH. That also skips
    # wrapper scripts such as pyenv's shims, which cost seconds under TCG.
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    r = subprocess.run([vm_run, *options, "--", sys.executable, runner, *checks], env=env)
    if r.returncode in (0, 1):
        return 0  # the TAP lines carry each check's result
    what = VM_RUN_ERRORS.get(r.returncode, f"the runner exited {r.returncode}")
    print(f"Bail out! {what} (tools/vm-run exit {r.returncode}; its messages are on stderr)", flush=True)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
