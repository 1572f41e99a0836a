"""What every part of vm-run shares: the exit codes, the error type that
carries one, one-line progress notes, and finding the programs it runs."""

import os
import shutil
import signal
import sys

PROG = "tools/vm-run"

# vm-run's own exit statuses, above what a shell gives a normal command
# (0-121) and below 126/127 ("not executable"/"not found") and 128+N
# ("killed by signal N"), which COMMAND's status can also be. Callers
# (tests/vm/vm-suite.py) tell these apart from COMMAND's; the numbers are a
# contract, see the usage text in cli.py.
EXIT_BOOT = 122     # the guest did not boot
EXIT_HUNG = 123     # the guest hung or crashed after COMMAND started
EXIT_TIMEOUT = 124  # COMMAND outlived --timeout and was killed in the guest
EXIT_SETUP = 125    # vm-run itself failed (bad option, missing tool, QEMU refusing)


class VmError(Exception):
    """A failure of vm-run itself or of the guest, with the exit code to use
    and optional detail lines (a console tail, QEMU's stderr)."""

    def __init__(self, message, code=EXIT_SETUP, detail=""):
        super().__init__(message)
        self.code = code
        self.detail = detail


_verbose = False


def set_verbose(on):
    global _verbose
    _verbose = bool(on)


def verbose():
    return _verbose


def note(msg):
    """Progress for slow one-off steps (always shown): one line on stderr."""
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def debug(msg):
    """Boot progress and timings, only with -v."""
    if _verbose:
        note(msg)


def which(name):
    """shutil.which that also looks in the sbin directories a normal user lacks."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def need(name, package):
    exe = which(name)
    if exe is None:
        raise VmError(f"{name} not found (package {package}) — run tools/setup --vm")
    return exe


def set_pdeathsig():
    """Runs in a child (QEMU, Xvfb) before exec: if vm-run dies, even by
    SIGKILL, the kernel sends the child SIGKILL, so no guest outlives its
    runner."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
