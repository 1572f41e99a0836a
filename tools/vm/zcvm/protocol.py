"""What travels between the guest's /init (tools/vm/init) and the host, as
pure parsing: no sockets and no clock here, so every rule can be tested.

Four virtio-serial ports, each a byte stream:
  zcpipe.stdout, zcpipe.stderr  COMMAND's output, each ended by a per-run
                                random marker once COMMAND has exited
  zcpipe.status                 guest → host: "started", then "exit N" or
                                "timeout N", or "boot-failed WHY";
                                host → guest: "bye" (power off now)
  zcpipe.ctl                    COMMAND's requests, one line each way:
                                "screendump NAME" → "ok PATH" | "error WHY";
                                "ping" → "pong"
"""

import os
import re


class Stream:
    """Copies a guest output port to a host fd, up to the end marker.

    The guest's /init writes a per-run random marker on each output port after
    COMMAND exits. Seeing it proves every byte before it has arrived; it is
    stripped, and a tail shorter than the marker is held back until we know it
    is not the marker's beginning. Anything after the marker is dropped."""

    def __init__(self, out_fd, marker):
        self.out_fd = out_fd
        self.marker = marker
        self.pending = b""
        self.done = False

    def feed(self, data):
        if self.done:
            return
        self.pending += data
        i = self.pending.find(self.marker)
        if i >= 0:
            self._write(self.pending[:i])
            self.pending = b""
            self.done = True
            return
        keep = len(self.marker) - 1
        if len(self.pending) > keep:
            self._write(self.pending[:-keep])
            self.pending = self.pending[-keep:]

    def flush(self):
        """At the end of a run without a marker: what was held back is output."""
        self._write(self.pending)
        self.pending = b""

    def _write(self, data):
        while data:
            try:
                n = os.write(self.out_fd, data)
            except BrokenPipeError:
                return  # the reader went away (e.g. `vm-run … | head`)
            data = data[n:]


class Lines:
    """Splits a byte stream into text lines; a partial line waits for the rest."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        return [line.decode(errors="replace").strip() for line in lines]


class Progress:
    """What the status port has said, and until when the host waits for the
    next word. Times are time.monotonic() values passed in by the caller.

    Before "started" the guest has --boot-timeout to reach COMMAND. After it,
    the guest enforces --timeout itself (TERM, KILL 5 s later, then
    "timeout N"), so the host allows HUNG_GRACE more before calling the guest
    hung. After "exit"/"timeout" the output ports still have to deliver
    their end markers (FINISH_GRACE); after "boot-failed" the console gets
    BOOT_FAILED_GRACE to deliver its last lines."""

    HUNG_GRACE = 30
    FINISH_GRACE = 15
    BOOT_FAILED_GRACE = 5

    def __init__(self, now, boot_timeout, timeout):
        self.timeout = timeout
        self.deadline = now + boot_timeout
        self.started_at = None
        self.status = None     # ("exit"|"timeout", N) or ("boot-failed", text)
        self.finishing = False  # COMMAND has ended; waiting for the markers

    def on_line(self, line, now):
        """Takes one status line; returns its word, or None when the line
        means nothing (ignored: a garbled line must not crash the host)."""
        word, _, rest = line.partition(" ")
        if word == "started" and self.started_at is None:
            self.started_at = now
            self.deadline = now + self.timeout + self.HUNG_GRACE
            return word
        if word in ("exit", "timeout") and self.status is None:
            m = re.fullmatch(r"(\d{1,3})\b.*", rest.strip())
            if not m or int(m.group(1)) > 255:
                return None
            self.status = (word, int(m.group(1)))
            self.finishing = True
            self.deadline = now + self.FINISH_GRACE
            return word
        if word == "boot-failed" and self.status is None:
            self.status = (word, rest.strip())
            self.deadline = now + self.BOOT_FAILED_GRACE
            return word
        return None


SCREENDUMP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
DEFAULT_SCREENDUMP = "screendump.ppm"


def parse_control(line):
    """A request on zcpipe.ctl → ("ping", None) | ("screendump", NAME) |
    ("error", reply line). NAME becomes a file name in the share, so it may
    not name a path."""
    word, _, arg = line.strip().partition(" ")
    if word == "ping":
        return "ping", None
    if word != "screendump":
        return "error", f"error unknown request {word!r} (expected: screendump NAME)"
    name = arg.strip() or DEFAULT_SCREENDUMP
    if not SCREENDUMP_NAME.fullmatch(name):
        return "error", f"error bad name {name!r}: use letters, digits, '.', '_' and '-'"
    return "screendump", name
