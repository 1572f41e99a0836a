"""One boot of the guest: the share it reads COMMAND from, the sockets QEMU
connects to, and the event loop that carries COMMAND's output to ours until
the guest says how COMMAND ended."""

import contextlib
import os
import re
import secrets
import selectors
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import VmError, debug, set_pdeathsig, verbose
from .protocol import Lines, Progress, Stream, parse_control
from .qemu import Xvfb, kernel_cmdline, qemu_command
from .qmp import Qmp
from .verdict import Outcome, verdict

# Variables a command expects to find; the rest of the host's environment
# (DISPLAY, WAYLAND_DISPLAY, the host's XDG_RUNTIME_DIR, ...) means nothing in
# the guest and is not passed.
# Debugging knobs of the libraries under test (Mesa, GBM, EGL, Wayland,
# GoogleTest, sanitizers) are passed too.
PASS_ENV = re.compile(r"^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_[A-Z_]+|TERM|TZ|ZCPIPE_[A-Z0-9_]+"
                      r"|MESA_[A-Z0-9_]+|LIBGL_[A-Z_]+|EGL_[A-Z_]+|GBM_[A-Z_]+|WAYLAND_DEBUG"
                      r"|GTEST_[A-Z_]+|[A-Z]*SAN_OPTIONS)$")

# Where the guest's /init mounts the share (tools/vm/init) and the ports it names.
GUEST_SHARE = "/run/zcpipe-vm"
GUEST_CTL = "/dev/virtio-ports/zcpipe.ctl"


def guest_env(host_env, extra, gpu="plain"):
    """COMMAND's environment: the passed part of the host's, then -e items
    (NAME=VALUE sets, NAME copies the host's value if it has one), then what
    the guest itself defines."""
    env = {k: v for k, v in host_env.items() if PASS_ENV.match(k)}
    for item in extra:
        k, eq, v = item.partition("=")
        if eq:
            env[k] = v
        elif k in host_env:
            env[k] = host_env[k]
    env.update({
        "XDG_RUNTIME_DIR": "/run/user/0",
        "ZCPIPE_VM": "1",
        "ZCPIPE_VM_GPU": gpu,
        "ZCPIPE_VM_SHARE": GUEST_SHARE,
        "ZCPIPE_VM_CTL": GUEST_CTL,
    })
    return env


def command_script(env, cwd, command):
    """share/cmd: what the guest's /init runs with /bin/sh from the host's root."""
    lines = ["# written by tools/vm-run; run by the guest's /init in the host's root"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    q = shlex.quote(cwd)
    lines.append(f"cd {q} 2>/dev/null || {{ echo 'tools/vm-run: the working directory '{q}"
                 "' is not visible in the guest (its /run, /proc, /sys and /dev are its own)' >&2;"
                 " exit 125; }")
    lines.append("exec " + " ".join(shlex.quote(a) for a in command))
    return "\n".join(lines) + "\n"


def remove_stale_tempdirs():
    """A vm-run killed by SIGKILL cannot clean up (QEMU dies with it, through
    PR_SET_PDEATHSIG); the next run removes temp dirs whose owner is gone."""
    for base in {Path(tempfile.gettempdir()), Path("/tmp")}:
        for d in base.glob("zcpipe-vm.*.*"):
            m = re.fullmatch(r"zcpipe-vm\.(\d+)\..*", d.name)
            if not m or not d.is_dir():
                continue
            try:
                os.kill(int(m.group(1)), 0)
            except ProcessLookupError:
                shutil.rmtree(d, ignore_errors=True)
            except PermissionError:
                pass  # alive, someone else's


class Guest:
    PORTS = ["stdout", "stderr", "status", "ctl"]

    def __init__(self, args, qemu, kernel, initramfs, accel):
        self.args = args
        self.qemu = qemu
        self.kernel = kernel
        self.initramfs = initramfs
        self.accel = accel
        self.console = bytearray()
        self.qemu_err = bytearray()
        self.proc = None

    def run(self):
        remove_stale_tempdirs()
        prefix = f"zcpipe-vm.{os.getpid()}."
        tmp = Path(tempfile.mkdtemp(prefix=prefix))
        if len(str(tmp)) > 80:  # unix socket paths are limited to 108 bytes
            shutil.rmtree(tmp)
            tmp = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        try:
            # --gpu virgl: QEMU renders the guest's GL through an X display.
            with Xvfb() if self.args.gpu == "virgl" else contextlib.nullcontext() as x:
                return self._run(tmp, dict(os.environ, DISPLAY=x.display) if x else None)
        finally:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)

    def _prepare_share(self, share, marker):
        a = self.args
        share.mkdir()
        env = guest_env(os.environ, a.env, a.gpu)
        (share / "cmd").write_text(command_script(env, os.getcwd(), a.command))
        (share / "config").write_text(
            f"ZCPIPE_TIMEOUT={a.timeout:g}\nZCPIPE_MARK={marker}\nZCPIPE_GPU={a.gpu}\n")
        (share / "screendumps").mkdir()

    def _run(self, tmp, qemu_env):
        a = self.args
        share = tmp / "share"
        # Random per run, so no output of COMMAND can contain it by accident.
        marker = f"@@zcpipe-vm-end-{secrets.token_hex(8)}@@"
        self._prepare_share(share, marker)

        listeners = {}
        for name in ["con", "qmp", *self.PORTS]:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            s.bind(str(tmp / f"{name}.sock"))
            s.listen(1)
            listeners[name] = s

        cmd = qemu_command(self.qemu, kernel=self.kernel, initramfs=self.initramfs,
                           accel=self.accel, smp=a.smp, mem=a.mem,
                           cmdline=kernel_cmdline(verbose(), a.append), gpu=a.gpu,
                           tmp=tmp, share=share, ports=self.PORTS)
        debug("booting: " + " ".join(shlex.quote(c) for c in cmd))
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=set_pdeathsig,
                                     env=qemu_env)

        sel = selectors.DefaultSelector()
        for name, s in listeners.items():
            sel.register(s, selectors.EVENT_READ, ("listen", name))
        sel.register(self.proc.stderr, selectors.EVENT_READ, ("qemu-stderr", None))
        conns = {}
        streams = {"stdout": Stream(sys.stdout.fileno(), marker.encode()),
                   "stderr": Stream(sys.stderr.fileno(), marker.encode())}
        status_lines, ctl_lines = Lines(), Lines()
        progress = Progress(t0, a.boot_timeout, a.timeout)
        qmp = None
        qemu_gone = False
        hit_deadline = False

        while True:
            now = time.monotonic()
            if now >= progress.deadline:
                hit_deadline = True
                break
            if progress.finishing and all(s.done for s in streams.values()):
                break
            # Once QEMU has exited, read what its sockets still hold, then stop.
            events = sel.select(timeout=0 if qemu_gone else min(1.0, progress.deadline - now))
            if qemu_gone and not events:
                break
            for key, _ in events:
                kind, name = key.data
                if kind == "listen":
                    c, _ = key.fileobj.accept()
                    sel.unregister(key.fileobj)
                    conns[name] = c
                    if name == "qmp":
                        qmp = Qmp(c)  # used synchronously; not polled
                    else:
                        sel.register(c, selectors.EVENT_READ, ("conn", name))
                    continue
                if kind == "qemu-stderr":
                    data = os.read(key.fileobj.fileno(), 65536)
                    if not data:
                        sel.unregister(key.fileobj)
                        qemu_gone = True  # stderr closes when QEMU exits
                    self.qemu_err += data
                    if verbose():
                        os.write(2, data)
                    continue
                data = key.fileobj.recv(65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                if name == "con":
                    self.console += data
                    del self.console[:-(1 << 20)]  # keep the last MiB
                    if verbose():
                        os.write(2, data)
                elif name in streams:
                    streams[name].feed(data)
                elif name == "ctl":
                    for line in ctl_lines.feed(data):
                        reply = self.control(line, qmp, share)
                        conns["ctl"].sendall(reply.encode() + b"\n")
                elif name == "status":
                    for line in status_lines.feed(data):
                        word = progress.on_line(line, time.monotonic())
                        if word == "started":
                            debug(f"booted in {progress.started_at - t0:.1f} s ({self.accel})")
                        elif word is None:
                            debug(f"ignored status line {line!r}")

        for s in streams.values():
            s.flush()
        finished_at = time.monotonic()
        # Let the guest power itself off; it waits for this word so that no
        # output still queued in QEMU is lost.
        if "status" in conns and progress.status:
            try:
                conns["status"].sendall(b"bye\n")
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for c in conns.values():
            c.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for s in listeners.values():
            s.close()
        if a.console_log:
            self._save_console_log(Path(a.console_log), share / "dmesg")
        if progress.started_at:
            debug(f"command ran {finished_at - progress.started_at:.1f} s; "
                  f"total {time.monotonic() - t0:.1f} s")
        return verdict(Outcome(
            status=progress.status, started=progress.started_at is not None,
            hit_deadline=hit_deadline, output_complete=all(s.done for s in streams.values()),
            console=bytes(self.console), qemu_err=bytes(self.qemu_err),
            qemu_exit=self.proc.returncode, timeout=a.timeout, boot_timeout=a.boot_timeout))

    def _save_console_log(self, log, dmesg):
        log.parent.mkdir(parents=True, exist_ok=True)
        extra = (b"\n--- guest kernel log (dmesg) when the command had finished ---\n"
                 + dmesg.read_bytes()) if dmesg.exists() else b""
        log.write_bytes(bytes(self.console) + extra)

    def control(self, line, qmp, share):
        """A request from the guest on the zcpipe.ctl port; returns the reply line."""
        what, arg = parse_control(line)
        if what == "ping":
            return "pong"
        if what == "error":
            return arg
        if qmp is None:
            return "error QMP not connected"
        path = share / "screendumps" / arg
        try:
            t = time.monotonic()
            qmp.execute("screendump", {"filename": str(path)})
            debug(f"screendump {arg}: {time.monotonic() - t:.2f} s")
            if self.args.screendump_dir:
                dest = Path(self.args.screendump_dir)
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest / arg)
        except (VmError, OSError) as e:
            return f"error {e}"
        return f"ok {GUEST_SHARE}/screendumps/{arg}"
