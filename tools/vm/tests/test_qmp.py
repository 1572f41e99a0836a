"""The QMP client against a scripted QEMU on the other end of a socketpair."""

import json
import socket
import unittest

from zcvm.common import EXIT_HUNG, VmError
from zcvm.qmp import Qmp

GREETING = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": []}}


class QmpTest(unittest.TestCase):
    def setUp(self):
        self.ours, self.qemu = socket.socketpair()
        self.addCleanup(self.ours.close)
        self.addCleanup(self.qemu.close)

    def say(self, *messages):
        self.qemu.sendall(b"".join(json.dumps(m).encode() + b"\r\n" for m in messages))

    def sent(self):
        self.qemu.settimeout(1)
        data = b""
        while not data.endswith(b"\n"):
            data += self.qemu.recv(65536)
        return [json.loads(line) for line in data.splitlines()]

    def test_negotiates_once_then_runs_commands_skipping_events(self):
        self.say(GREETING, {"return": {}},
                 {"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}},
                 {"return": {}})
        qmp = Qmp(self.ours)
        self.assertEqual(qmp.execute("screendump", {"filename": "/tmp/a.ppm"}, timeout=5), {})
        self.assertEqual(self.sent(), [{"execute": "qmp_capabilities"},
                                       {"execute": "screendump",
                                        "arguments": {"filename": "/tmp/a.ppm"}}])
        self.say({"return": {"status": "running"}})
        self.assertEqual(qmp.execute("query-status", timeout=5), {"status": "running"})
        self.assertEqual(self.sent(), [{"execute": "query-status"}])

    def test_a_qmp_error_names_the_command_and_qemus_reason(self):
        self.say(GREETING, {"return": {}},
                 {"error": {"class": "GenericError", "desc": "no surface"}})
        with self.assertRaises(VmError) as cm:
            Qmp(self.ours).execute("screendump", {"filename": "x"}, timeout=5)
        self.assertEqual(str(cm.exception), "QMP screendump: no surface")

    def test_closed_connection(self):
        self.say(GREETING)
        self.qemu.shutdown(socket.SHUT_WR)
        with self.assertRaises(VmError) as cm:
            Qmp(self.ours).execute("screendump", timeout=5)
        self.assertEqual(cm.exception.code, EXIT_HUNG)
        self.assertIn("closed", str(cm.exception))

    def test_no_answer_times_out(self):
        self.say(GREETING, {"return": {}})
        with self.assertRaises(VmError) as cm:
            Qmp(self.ours).execute("screendump", timeout=0.2)
        self.assertIn("no answer", str(cm.exception))

    def test_garbage_is_an_error_not_a_crash(self):
        for junk in [b"not json\n", b"[1, 2]\n"]:
            with self.subTest(junk=junk):
                ours, qemu = socket.socketpair()
                qemu.sendall(junk)
                with self.assertRaises(VmError):
                    Qmp(ours).execute("screendump", timeout=1)
                ours.close()
                qemu.close()


if __name__ == "__main__":
    unittest.main()
