"""The guest ↔ host wire: output streams with their end marker, status
lines and the deadlines they set, control requests."""

import os
import unittest

from zcvm.protocol import Lines, Progress, Stream, parse_control

MARK = b"@@end-0123456789abcdef@@"


class Pipe:
    def __init__(self):
        self.r, self.w = os.pipe()

    def read(self):
        os.close(self.w)
        out = b""
        while chunk := os.read(self.r, 65536):
            out += chunk
        os.close(self.r)
        return out


class StreamTest(unittest.TestCase):
    def run_chunks(self, chunks, flush=False):
        p = Pipe()
        s = Stream(p.w, MARK)
        for c in chunks:
            s.feed(c)
        if flush:
            s.flush()
        return p.read(), s.done

    def test_marker_in_one_chunk_is_stripped(self):
        self.assertEqual(self.run_chunks([b"hello\n" + MARK]), (b"hello\n", True))

    def test_marker_split_at_every_byte(self):
        data = b"line one\nline two" + MARK
        for cut in range(1, len(data)):
            with self.subTest(cut=cut):
                self.assertEqual(self.run_chunks([data[:cut], data[cut:]]),
                                 (b"line one\nline two", True))

    def test_one_byte_at_a_time(self):
        data = b"x" * 100 + MARK
        self.assertEqual(self.run_chunks([data[i:i + 1] for i in range(len(data))]),
                         (b"x" * 100, True))

    def test_bytes_after_the_marker_are_dropped(self):
        self.assertEqual(self.run_chunks([b"a" + MARK + b"late", b"later"]), (b"a", True))

    def test_a_marker_prefix_that_is_not_the_marker_is_output(self):
        almost = MARK[:-1] + b"!"
        self.assertEqual(self.run_chunks([b"a", almost, b"b" + MARK]), (b"a" + almost + b"b", True))

    def test_without_marker_the_held_back_tail_comes_with_flush(self):
        out, done = self.run_chunks([b"short"])
        self.assertEqual((out, done), (b"", False))  # could still be the marker's start
        self.assertEqual(self.run_chunks([b"short"], flush=True), (b"short", False))

    def test_long_output_streams_before_the_marker(self):
        p = Pipe()
        s = Stream(p.w, MARK)
        s.feed(b"y" * 1000)
        os.set_blocking(p.r, False)
        self.assertEqual(len(os.read(p.r, 4096)), 1000 - (len(MARK) - 1))
        os.close(p.r)
        os.close(p.w)

    def test_a_reader_that_left_is_not_an_error(self):
        r, w = os.pipe()
        os.close(r)
        s = Stream(w, MARK)
        s.feed(b"z" * 100 + MARK)  # EPIPE: BrokenPipeError is swallowed
        self.assertTrue(s.done)
        os.close(w)


class LinesTest(unittest.TestCase):
    def test_partial_lines_wait(self):
        lines = Lines()
        self.assertEqual(lines.feed(b"star"), [])
        self.assertEqual(lines.feed(b"ted\nexit 3\r\nti"), ["started", "exit 3"])
        self.assertEqual(lines.feed(b"meout 1\n"), ["timeout 1"])

    def test_bad_utf8_is_replaced(self):
        self.assertEqual(Lines().feed(b"boot-failed \xff\n"), ["boot-failed \ufffd"])


class ProgressTest(unittest.TestCase):
    def test_boot_then_exit(self):
        p = Progress(now=100, boot_timeout=120, timeout=300)
        self.assertEqual(p.deadline, 220)
        self.assertEqual(p.on_line("started", 110), "started")
        self.assertEqual(p.started_at, 110)
        # the guest's own timeout, then the grace to report it
        self.assertEqual(p.deadline, 110 + 300 + Progress.HUNG_GRACE)
        self.assertFalse(p.finishing)
        self.assertEqual(p.on_line("exit 3", 150), "exit")
        self.assertEqual(p.status, ("exit", 3))
        self.assertTrue(p.finishing)
        self.assertEqual(p.deadline, 150 + Progress.FINISH_GRACE)

    def test_timeout(self):
        p = Progress(0, 10, 5)
        p.on_line("started", 1)
        self.assertEqual(p.on_line("timeout 143", 7), "timeout")
        self.assertEqual(p.status, ("timeout", 143))

    def test_boot_failed_keeps_the_reason_and_waits_briefly(self):
        p = Progress(0, 120, 300)
        self.assertEqual(p.on_line("boot-failed insmod 9p.ko failed", 3), "boot-failed")
        self.assertEqual(p.status, ("boot-failed", "insmod 9p.ko failed"))
        self.assertEqual(p.deadline, 3 + Progress.BOOT_FAILED_GRACE)
        self.assertIsNone(p.started_at)
        self.assertFalse(p.finishing)

    def test_garbled_lines_change_nothing(self):
        for line in ["", "exit", "exit x", "exit 256", "exit -1", "hello", "bye", "started!"]:
            with self.subTest(line=line):
                p = Progress(0, 120, 300)
                self.assertIsNone(p.on_line(line, 1))
                self.assertEqual((p.status, p.started_at, p.deadline), (None, None, 120))

    def test_first_status_wins(self):
        p = Progress(0, 120, 300)
        p.on_line("started", 1)
        p.on_line("exit 0", 2)
        self.assertIsNone(p.on_line("exit 1", 3))
        self.assertIsNone(p.on_line("started", 4))
        self.assertEqual((p.status, p.started_at), (("exit", 0), 1))


class ControlTest(unittest.TestCase):
    def test_requests(self):
        self.assertEqual(parse_control("ping"), ("ping", None))
        self.assertEqual(parse_control("screendump"), ("screendump", "screendump.ppm"))
        self.assertEqual(parse_control("screendump  kms-1.ppm "), ("screendump", "kms-1.ppm"))

    def test_names_that_could_leave_the_share_are_refused(self):
        for name in ["../x", "a/b", ".hidden", "-rf", "a b", "x\x00"]:
            with self.subTest(name=name):
                what, reply = parse_control(f"screendump {name}")
                self.assertEqual(what, "error")
                self.assertTrue(reply.startswith("error bad name"), reply)

    def test_unknown_request_is_named(self):
        what, reply = parse_control("reboot now")
        self.assertEqual(what, "error")
        self.assertIn("'reboot'", reply)


if __name__ == "__main__":
    unittest.main()
