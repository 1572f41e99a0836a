"""Options and operator errors, COMMAND's environment and script (run by a
real sh), and the QEMU command line for each --gpu."""

import contextlib
import io
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from zcvm import cli
from zcvm.common import EXIT_SETUP
from zcvm.guest import command_script, guest_env
from zcvm.qemu import Xvfb, kernel_cmdline, qemu_command


def run_cli(argv):
    """(exit status, stderr) of the whole program, without touching QEMU."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.run(argv)
    return code, err.getvalue()


class OptionsTest(unittest.TestCase):
    def test_operator_errors_are_one_line_and_125(self):
        cases = [([], "no command given"),
                 (["--bogus", "true"], "unrecognized arguments: --bogus"),
                 (["--timeout", "0", "true"], "must be positive"),
                 (["--smp", "x", "true"], "invalid int value"),
                 (["--gpu", "nvidia", "true"], "invalid choice: 'nvidia'")]
        for argv, words in cases:
            with self.subTest(argv=argv):
                code, err = run_cli(argv)
                self.assertEqual(code, EXIT_SETUP)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn(words, err)
                self.assertTrue(err.startswith("tools/vm-run: "), err)

    def test_bad_defaults_from_the_environment(self):
        for env, words in [({"ZCPIPE_VM_GPU": "3d"}, "ZCPIPE_VM_GPU='3d'"),
                           ({"ZCPIPE_VM_ACCEL": "hvf"}, "ZCPIPE_VM_ACCEL='hvf'")]:
            with self.subTest(env=env), self.assertRaises(cli.VmError) as cm:
                cli.parse_args(["true"], environ=env)
            self.assertIn(words, str(cm.exception))

    def test_command_after_double_dash_and_defaults(self):
        a = cli.parse_args(["--timeout", "60", "--", "sh", "-c", "exit 3"], environ={})
        self.assertEqual(a.command, ["sh", "-c", "exit 3"])
        self.assertEqual((a.timeout, a.gpu, a.accel), (60, "plain", "auto"))
        a = cli.parse_args(["ls", "--timeout", "5"], environ={"ZCPIPE_VM_GPU": "virgl"})
        self.assertEqual(a.command, ["ls", "--timeout", "5"])  # COMMAND's own options
        self.assertEqual(a.gpu, "virgl")

    def test_help(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(cli.run(["--help"]), 0)
        self.assertIn("exit status:", out.getvalue())


class GuestCommandTest(unittest.TestCase):
    def test_environment(self):
        host = {"PATH": "/usr/bin", "HOME": "/root", "DISPLAY": ":0", "WAYLAND_DISPLAY": "w",
                "XDG_RUNTIME_DIR": "/run/user/1000", "MESA_DEBUG": "1", "ASAN_OPTIONS": "x=1",
                "ZCPIPE_FOO": "bar", "SECRET": "s", "KEEP": "k"}
        env = guest_env(host, ["KEEP", "NEW=1", "ABSENT"], gpu="virgl")
        for k in ["PATH", "HOME", "MESA_DEBUG", "ASAN_OPTIONS", "ZCPIPE_FOO", "KEEP"]:
            self.assertEqual(env[k], host[k], k)
        for k in ["DISPLAY", "WAYLAND_DISPLAY", "SECRET", "ABSENT"]:
            self.assertNotIn(k, env)
        self.assertEqual(env["NEW"], "1")
        self.assertEqual(env["XDG_RUNTIME_DIR"], "/run/user/0")
        self.assertEqual((env["ZCPIPE_VM"], env["ZCPIPE_VM_GPU"]), ("1", "virgl"))

    def run_script(self, env, cwd, command):
        with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
            f.write(command_script(env, cwd, command))
            f.flush()
            return subprocess.run(["/bin/sh", f.name], capture_output=True, text=True)

    def test_script_quotes_everything_for_a_real_shell(self):
        with tempfile.TemporaryDirectory(prefix="dir with 'quote' ") as d:
            env = {"PATH": os.environ["PATH"], "ODD": "a b'c\"$HOME`x`"}
            r = self.run_script(env, d, ["sh", "-c", 'printf "%s|" "$ODD" "$PWD" "$@"; exit 7',
                                         "sh", "two words", "$HOME", "*"])
            self.assertEqual(r.returncode, 7, r.stderr)
            self.assertEqual(r.stdout, f"a b'c\"$HOME`x`|{os.path.realpath(d)}|two words|$HOME|*|")

    def test_missing_working_directory_is_125_with_the_reason(self):
        r = self.run_script({"PATH": os.environ["PATH"]}, "/nonexistent/dir", ["true"])
        self.assertEqual(r.returncode, EXIT_SETUP)
        self.assertIn("/nonexistent/dir", r.stderr)
        self.assertIn("not visible in the guest", r.stderr)


class QemuCommandTest(unittest.TestCase):
    def command(self, gpu="plain", accel="tcg"):
        return qemu_command("qemu", kernel=Path("/k/vmlinux"), initramfs=Path("/k/i.cpio"),
                            accel=accel, smp=2, mem="3G", cmdline="console=ttyS0", gpu=gpu,
                            tmp=Path("/t"), share=Path("/t/share"),
                            ports=["stdout", "stderr", "status", "ctl"])

    def option(self, cmd, flag):
        return [cmd[i + 1] for i, c in enumerate(cmd) if c == flag]

    def test_plain_device(self):
        cmd = self.command()
        self.assertEqual(self.option(cmd, "-display"), ["none"])
        devices = self.option(cmd, "-device")
        self.assertIn("virtio-gpu-pci,xres=3840,yres=2160,max_outputs=1,max_hostmem=1G", devices)
        self.assertEqual(self.option(cmd, "-accel"), ["tcg,thread=multi"])

    def test_virgl_device_and_gl_display(self):
        cmd = self.command(gpu="virgl", accel="kvm")
        self.assertEqual(self.option(cmd, "-display"), ["sdl,gl=on"])
        gpus = [d for d in self.option(cmd, "-device") if d.startswith("virtio-gpu")]
        self.assertEqual(gpus, ["virtio-gpu-gl-pci,xres=3840,yres=2160,max_outputs=1"])
        self.assertEqual(self.option(cmd, "-accel"), ["kvm"])

    def test_every_port_has_a_socket_and_a_named_virtserialport(self):
        cmd = self.command()
        chardevs = self.option(cmd, "-chardev")
        for port in ["stdout", "stderr", "status", "ctl"]:
            self.assertIn(f"socket,id={port},path=/t/{port}.sock", chardevs)
            self.assertIn(f"virtserialport,bus=vser.0,chardev={port},name=zcpipe.{port}",
                          self.option(cmd, "-device"))

    def test_kernel_command_line(self):
        self.assertIn(" quiet", kernel_cmdline(False))
        self.assertNotIn("quiet", kernel_cmdline(True))
        self.assertTrue(kernel_cmdline(False, "drm.debug=0x1e").endswith(" drm.debug=0x1e"))
        self.assertIn("drm_kms_helper.fbdev_emulation=0", kernel_cmdline(False))


@unittest.skipUnless(shutil.which("Xvfb"), "Xvfb not installed (package xvfb)")
class XvfbTest(unittest.TestCase):
    def test_picks_a_free_display_and_stops(self):
        with Xvfb() as a, Xvfb() as b:
            self.assertRegex(a.display, r"^:\d+$")
            self.assertNotEqual(a.display, b.display)
            sock = Path("/tmp/.X11-unix") / f"X{a.display[1:]}"
            self.assertTrue(sock.exists(), sock)
            proc = a.proc
        self.assertIsNotNone(proc.poll())  # stopped when the block ended


if __name__ == "__main__":
    unittest.main()
