"""What the vm checks written in Python share (tests/vm/check_*.py import it:
a script's own directory is first on sys.path)."""

import os
import subprocess


def start_compositor(compositor, socket, stats, *extra):
    """Starts zcpipe-compositor on the KMS output and waits until it listens.

    --ready-fd: the compositor writes "ready" to the pipe once its socket
    accepts clients, so a check never races its start-up (no sleeps).
    Returns the process, or None (after killing it) if it never got ready;
    the caller then fails its check.
    """
    rfd, wfd = os.pipe()
    comp = subprocess.Popen([compositor, "--output", "kms", "--socket", socket, "--stats", stats,
                             "--ready-fd", str(wfd), *extra, "-q"], pass_fds=(wfd,))
    os.close(wfd)
    with os.fdopen(rfd) as ready:
        if ready.readline().strip() != "ready":
            comp.kill()
            comp.wait()
            return None
    return comp
