"""The QEMU Machine Protocol: JSON objects, one per line, on a socket.

QEMU speaks first (a greeting naming its version), the client answers
"qmp_capabilities" to leave negotiation mode, then sends commands; each
gets one {"return": …} or {"error": {"class", "desc"}}, with asynchronous
{"event": …} objects in between at any time. vm-run only needs
"screendump", which saves the guest display as QEMU holds it (a PPM)."""

import json
import socket
import time

from .common import EXIT_HUNG, VmError


class Qmp:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.ready = False

    def _line(self, deadline):
        while b"\n" not in self.buf:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise VmError("QMP: no answer from QEMU", code=EXIT_HUNG) from None
            if not chunk:
                raise VmError("QMP connection closed", code=EXIT_HUNG)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def _message(self, deadline):
        line = self._line(deadline)
        try:
            msg = json.loads(line)
        except ValueError:
            raise VmError(f"QMP: not JSON: {line[:80]!r}", code=EXIT_HUNG) from None
        if not isinstance(msg, dict):
            raise VmError(f"QMP: not a JSON object: {line[:80]!r}", code=EXIT_HUNG)
        return msg

    def execute(self, command, arguments=None, timeout=60):
        """Runs one command and returns its "return" value; a QMP error
        becomes a VmError with QEMU's description."""
        deadline = time.monotonic() + timeout
        if not self.ready:  # greeting, then capabilities negotiation
            self._message(deadline)
            self.ready = True
            self.execute("qmp_capabilities", timeout=timeout)
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._message(deadline)
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                err = reply["error"]
                desc = err.get("desc") if isinstance(err, dict) else err
                raise VmError(f"QMP {command}: {desc}")
            # anything else is an asynchronous event: skip it
