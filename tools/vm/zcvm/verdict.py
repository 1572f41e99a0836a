"""How the outcome of one run becomes vm-run's exit status.

The contract (usage text in cli.py, relied on by tests/vm/vm-suite.py):
  0-255  COMMAND's own status (128+N when it was killed by signal N)
  122    the guest did not boot
  123    the guest hung or crashed after COMMAND started
  124    COMMAND ran longer than --timeout and was killed in the guest
  125    vm-run itself failed (here: QEMU refused to start)

Everything here is a pure function of what the run observed, so each
branch has a unit test (tools/vm/tests/test_verdict.py)."""

import re
from dataclasses import dataclass
from typing import Optional

from .common import EXIT_BOOT, EXIT_HUNG, EXIT_SETUP, EXIT_TIMEOUT, VmError, note

CRASH = re.compile(r"Kernel panic|BUG:|Oops|zcpipe-vm: boot failed")


@dataclass
class Outcome:
    status: Optional[tuple] = None   # Progress.status
    started: bool = False            # the guest said "started"
    hit_deadline: bool = False       # the host gave up waiting and killed QEMU
    output_complete: bool = True     # both end markers arrived
    console: bytes = b""             # the serial console (kernel log, /init notes)
    qemu_err: bytes = b""            # QEMU's stderr
    qemu_exit: Optional[int] = None  # QEMU's exit status
    timeout: float = 300             # --timeout, for the messages
    boot_timeout: float = 120        # --boot-timeout


def console_tail(console, qemu_err=b""):
    """The part of the console worth printing: from the first sign of a
    crash (40 lines) if there is one, else the last 25 lines; then QEMU's
    own complaints."""
    lines = console.decode(errors="replace").rstrip().splitlines()
    crash = [i for i, line in enumerate(lines) if CRASH.search(line)]
    text = lines[crash[0]:crash[0] + 40] if crash else lines[-25:]
    err = qemu_err.decode(errors="replace").strip()
    out = ("guest console:\n  " + "\n  ".join(text) if text
           else "guest console: empty (tools/vm-run -v shows the whole boot)")
    return out + (f"\nqemu: {err}" if err else "")


def verdict(o):
    """COMMAND's status or 124, or raises VmError with 122, 123 or 125 and
    the console tail as detail."""
    if o.status and o.status[0] == "exit":
        if not o.output_complete:
            note("warning: the guest's output may be incomplete (no end marker)")
        return o.status[1]
    if o.status and o.status[0] == "timeout":
        note(f"command timed out after {o.timeout:g} s in the guest and was killed (--timeout)")
        return EXIT_TIMEOUT
    tail = console_tail(o.console, o.qemu_err)
    if o.status and o.status[0] == "boot-failed":
        raise VmError(f"guest boot failed: {o.status[1]}", EXIT_BOOT, tail)
    if not o.started:
        if o.hit_deadline:
            raise VmError(f"guest did not boot within {o.boot_timeout:g} s "
                          "(--boot-timeout); QEMU was killed", EXIT_BOOT, tail)
        if not o.console:
            raise VmError(f"qemu failed to start (exit {o.qemu_exit})", EXIT_SETUP,
                          o.qemu_err.decode(errors="replace").strip())
        raise VmError("guest did not boot (QEMU exited)", EXIT_BOOT, tail)
    if o.hit_deadline:
        raise VmError("the guest stopped answering after the command started; QEMU was killed",
                      EXIT_HUNG, tail)
    raise VmError("QEMU exited before the command finished (kernel panic?)", EXIT_HUNG, tail)
