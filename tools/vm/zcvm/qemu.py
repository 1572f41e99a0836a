"""How QEMU is started: its command line, whether KVM really works here, and
the X display QEMU needs to render a virgl guest's 3D commands."""

import os
import selectors
import subprocess
import tempfile
import time
from pathlib import Path

from .common import EXIT_SETUP, VmError, debug, need, set_pdeathsig

# The display every guest gets: one 4K output.
XRES, YRES = 3840, 2160

# --gpu: which virtio-gpu the guest sees.
#   plain  2D only: the guest's Mesa renders GL on its own CPU (llvmpipe via
#          kms_swrast); QEMU holds a copy of the scanout, so QMP screendump
#          shows exactly what the guest put on the CRTC.
#   virgl  virtio-gpu with virgl 3D: the guest's Mesa (virgl driver) sends
#          Gallium commands to QEMU, which renders them on the host with
#          its own Mesa. This device needs QEMU's GL display (here SDL on an
#          Xvfb X server; "-display egl-headless" would need a DRM render
#          node on the host). The scanout then lives in a host GL texture and
#          QMP screendump answers "no surface".
GPUS = ("plain", "virgl")


def gpu_args(gpu):
    """(display options, device options) for --gpu."""
    common = f"xres={XRES},yres={YRES},max_outputs=1"
    if gpu == "virgl":
        return ["-display", "sdl,gl=on"], ["-device", f"virtio-gpu-gl-pci,{common}"]
    return ["-display", "none"], ["-device", f"virtio-gpu-pci,{common},max_hostmem=1G"]


def check_gl_device(qemu):
    """--gpu virgl needs QEMU's virtio-gpu-gl-pci, a loadable module that
    Debian ships apart (qemu-system-gui: hw-display-virtio-gpu-gl.so); without
    it QEMU refuses to start. Asking QEMU's device list costs a fraction of a
    second and needs no guest."""
    try:
        out = subprocess.run([qemu, "-device", "help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise VmError(f"{qemu} -device help failed: {e}", EXIT_SETUP)
    if '"virtio-gpu-gl-pci"' not in out:
        raise VmError("QEMU has no virtio-gpu-gl-pci device (package qemu-system-gui) — run tools/setup --vm",
                      EXIT_SETUP)


def kernel_cmdline(verbose, extra=""):
    # mitigations=off: Spectre/Meltdown defences (retpolines, IBRS...)
    # protect nothing in a throwaway test guest and cost TCG about 1.5 s
    # of boot; the kernel log is kept quiet unless -v.
    # No fbdev emulation: nothing (no fbcon) takes the display before a
    # program sets its own mode, so the CRTC starts off and is ours.
    line = ("console=ttyS0 rdinit=/init panic=-1 mitigations=off"
            " drm_kms_helper.fbdev_emulation=0" + ("" if verbose else " quiet"))
    return line + (" " + extra if extra else "")


def qemu_command(qemu, *, kernel, initramfs, accel, smp, mem, cmdline, gpu, tmp, share, ports):
    """The whole QEMU command line. Every channel to the host is a chardev
    that connects to a unix socket vm-run listens on in `tmp`."""
    if accel == "kvm":
        accel_args = ["-accel", "kvm", "-cpu", "host"]
    else:
        # TCG translates guest code; thread=multi gives each vCPU a host thread.
        accel_args = ["-accel", "tcg,thread=multi", "-cpu", "max"]
    display, device = gpu_args(gpu)
    cmd = [qemu, *accel_args, "-machine", "pc", "-smp", str(smp), "-m", mem,
           "-nodefaults", "-no-user-config", *display, "-vga", "none", "-no-reboot",
           "-kernel", str(kernel), "-initrd", str(initramfs),
           "-append", cmdline,
           # The host's / read-only; cache=loose in the guest is safe because
           # the guest lives shorter than any change we expect to see.
           "-virtfs", "local,path=/,mount_tag=hostroot,security_model=passthrough,"
                      "readonly=on,multidevs=remap",
           # A small writable share without guest caching: the host writes
           # screendumps into it while the guest runs.
           "-virtfs", f"local,path={share},mount_tag=zcpipe,security_model=none",
           *device,
           "-chardev", f"socket,id=con,path={tmp}/con.sock", "-serial", "chardev:con",
           "-chardev", f"socket,id=qmp,path={tmp}/qmp.sock", "-mon", "chardev=qmp,mode=control",
           "-device", "virtio-serial-pci,id=vser"]
    for port in ports:
        cmd += ["-chardev", f"socket,id={port},path={tmp}/{port}.sock",
                "-device", f"virtserialport,bus=vser.0,chardev={port},name=zcpipe.{port}"]
    return cmd


def kvm_works(qemu, cache, vmlinuz):
    """Does KVM run a real kernel here? Some hosts have a /dev/kvm that runs a
    real-mode BIOS but hangs when the kernel enters protected mode, so we boot
    the kernel with earlyprintk and wait up to 4 s for its banner. The answer
    is cached per host boot (kernel boot_id), so this costs once."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = "unknown"
    stamp = cache / f"kvm-{boot_id}"
    if stamp.exists():
        return stamp.read_text().strip() == "yes"
    debug("checking whether KVM can run the guest…")
    cmd = [qemu, "-accel", "kvm", "-cpu", "host", "-machine", "pc", "-m", "256M", "-smp", "1",
           "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
           "-serial", "stdio", "-kernel", str(vmlinuz),
           "-append", "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1"]
    ok = False
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, preexec_fn=set_pdeathsig)
    try:
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        buf = b""
        deadline = time.monotonic() + 4
        while not ok and time.monotonic() < deadline:
            if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                ok = b"Linux version" in buf
    finally:
        p.kill()
        p.wait()
    stamp.write_text("yes\n" if ok else "no\n")
    debug(f"KVM {'works' if ok else 'does not run the kernel; using TCG'}")
    return ok


class Xvfb:
    """An X server without a screen, for QEMU's SDL window in --gpu virgl.

    -displayfd lets Xvfb pick a free display number itself and write it to
    a pipe once it accepts connections: no guessing, no race with another
    X server starting at the same time."""

    def __init__(self):
        self.proc = None
        self.display = None
        # A file, not a pipe: nobody reads Xvfb's complaints while it runs,
        # and a full pipe would stop it.
        self.err = tempfile.TemporaryFile()

    def __enter__(self):
        xvfb = need("Xvfb", "xvfb")
        rfd, wfd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [xvfb, "-displayfd", str(wfd), "-screen", "0", f"{XRES}x{YRES}x24",
                 "-nolisten", "tcp"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err,
                pass_fds=[wfd], preexec_fn=set_pdeathsig)
        finally:
            os.close(wfd)
        try:
            number = self._read_display(rfd, timeout=20)
        finally:
            os.close(rfd)
        if number is None:
            err = self._stop()
            raise VmError("Xvfb did not start (needed by --gpu virgl)", EXIT_SETUP, err)
        self.display = f":{number}"
        debug(f"Xvfb on display {self.display} for QEMU's GL display")
        return self

    def _read_display(self, fd, timeout):
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(timeout=left):
                return None
            chunk = os.read(fd, 64)
            if not chunk:
                return None  # Xvfb exited
            buf += chunk
        text = buf.split(b"\n", 1)[0].strip()
        return int(text) if text.isdigit() else None

    def _stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.err.seek(0)
        text = self.err.read().decode(errors="replace").strip()
        self.err.close()
        return text

    def __exit__(self, *exc):
        self._stop()
