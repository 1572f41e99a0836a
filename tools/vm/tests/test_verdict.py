"""vm-run's exit-status contract: every way a run can end, and the console
excerpt printed with a failure."""

import contextlib
import importlib.util
import io
import re
import unittest
from pathlib import Path

from zcvm.cli import USAGE
from zcvm.common import EXIT_BOOT, EXIT_HUNG, EXIT_SETUP, EXIT_TIMEOUT, VmError
from zcvm.verdict import Outcome, console_tail, verdict

BOOT_LOG = b"".join(b"[    0.%06d] boot line %d\n" % (i, i) for i in range(100))


class VerdictTest(unittest.TestCase):
    def code(self, **kw):
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                return verdict(Outcome(**kw))
        except VmError as e:
            return e.code

    def test_the_commands_own_status_passes_through(self):
        for n in [0, 1, 3, 77, 125, 137, 255]:
            with self.subTest(status=n):
                self.assertEqual(self.code(status=("exit", n), started=True), n)

    def test_exit_without_end_markers_still_returns_the_status_with_a_warning(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(verdict(Outcome(status=("exit", 4), started=True,
                                             output_complete=False)), 4)
        self.assertIn("incomplete", err.getvalue())

    def test_guest_timeout_is_124(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(verdict(Outcome(status=("timeout", 143), started=True,
                                             timeout=60)), EXIT_TIMEOUT)
        self.assertIn("after 60 s", err.getvalue())

    def test_boot_failures_are_122(self):
        self.assertEqual(self.code(status=("boot-failed", "no 9p"), console=BOOT_LOG), EXIT_BOOT)
        self.assertEqual(self.code(hit_deadline=True, console=BOOT_LOG), EXIT_BOOT)
        self.assertEqual(self.code(hit_deadline=True), EXIT_BOOT)  # silent until the deadline
        self.assertEqual(self.code(console=BOOT_LOG, qemu_exit=0), EXIT_BOOT)  # QEMU exited

    def test_qemu_that_never_started_is_vm_runs_failure(self):
        with self.assertRaises(VmError) as cm:
            verdict(Outcome(qemu_exit=1, qemu_err=b"qemu: -device virtio-gpu-gl-pci: missing\n"))
        self.assertEqual(cm.exception.code, EXIT_SETUP)
        self.assertIn("exit 1", str(cm.exception))
        self.assertIn("virtio-gpu-gl-pci", cm.exception.detail)

    def test_after_start_a_silent_or_dead_guest_is_123(self):
        self.assertEqual(self.code(started=True, hit_deadline=True, console=BOOT_LOG), EXIT_HUNG)
        self.assertEqual(self.code(started=True, console=BOOT_LOG, qemu_exit=0), EXIT_HUNG)

    def test_every_code_is_in_the_usage_text_and_known_to_the_vm_suite(self):
        # The numbers are a contract with callers: the usage text documents
        # them and tests/vm/vm-suite.py names each one in its "Bail out!".
        usage = {int(m) for m in re.findall(r"^  (\d{3})  ", USAGE, re.M)}
        codes = {EXIT_BOOT, EXIT_HUNG, EXIT_TIMEOUT, EXIT_SETUP}
        self.assertEqual(usage, codes)
        suite = Path(__file__).resolve().parents[3] / "tests" / "vm" / "vm-suite.py"
        if not suite.exists():
            self.skipTest(f"{suite} not in this tree")
        spec = importlib.util.spec_from_file_location("vm_suite", suite)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.assertEqual(set(module.VM_RUN_ERRORS), codes)


class ConsoleTailTest(unittest.TestCase):
    def test_without_a_crash_the_last_25_lines(self):
        lines = console_tail(BOOT_LOG).splitlines()
        self.assertEqual(lines[0], "guest console:")
        self.assertEqual(len(lines), 26)
        self.assertIn("boot line 99", lines[-1])
        self.assertIn("boot line 75", lines[1])

    def test_from_the_first_sign_of_a_crash(self):
        log = BOOT_LOG + b"[    1.0] BUG: kernel NULL pointer dereference\n" + BOOT_LOG
        lines = console_tail(log).splitlines()
        self.assertIn("BUG: kernel NULL pointer", lines[1])
        self.assertEqual(len(lines), 41)  # the crash and what follows it

    def test_empty_console_and_qemu_stderr(self):
        text = console_tail(b"", b"qemu-system-x86_64: warning: something\n")
        self.assertIn("guest console: empty", text)
        self.assertTrue(text.endswith("qemu: qemu-system-x86_64: warning: something"))


if __name__ == "__main__":
    unittest.main()
