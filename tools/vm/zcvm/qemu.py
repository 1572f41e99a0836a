"""How QEMU is started: its command line and whether KVM really works here."""

import os
import selectors
import subprocess
import time
from pathlib import Path

from .common import debug, set_pdeathsig

# The display every guest gets: one 4K output.
XRES, YRES = 3840, 2160


def kernel_cmdline(verbose, extra=""):
    # mitigations=off: Spectre/Meltdown defences (retpolines, IBRS...)
    # protect nothing in a throwaway test guest and cost TCG about 1.5 s
    # of boot; the kernel log is kept quiet unless -v.
    # No fbdev emulation: nothing (no fbcon) takes the display before a
    # program sets its own mode, so the CRTC starts off and is ours.
    line = ("console=ttyS0 rdinit=/init panic=-1 mitigations=off"
            " drm_kms_helper.fbdev_emulation=0" + ("" if verbose else " quiet"))
    return line + (" " + extra if extra else "")


def qemu_command(qemu, *, kernel, initramfs, accel, smp, mem, cmdline, tmp, share, ports):
    """The whole QEMU command line. Every channel to the host is a chardev
    that connects to a unix socket vm-run listens on in `tmp`."""
    if accel == "kvm":
        accel_args = ["-accel", "kvm", "-cpu", "host"]
    else:
        # TCG translates guest code; thread=multi gives each vCPU a host thread.
        accel_args = ["-accel", "tcg,thread=multi", "-cpu", "max"]
    cmd = [qemu, *accel_args, "-machine", "pc", "-smp", str(smp), "-m", mem,
           "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none", "-no-reboot",
           "-kernel", str(kernel), "-initrd", str(initramfs),
           "-append", cmdline,
           # The host's / read-only; cache=loose in the guest is safe because
           # the guest lives shorter than any change we expect to see.
           "-virtfs", "local,path=/,mount_tag=hostroot,security_model=passthrough,"
                      "readonly=on,multidevs=remap",
           # A small writable share without guest caching: the host writes
           # screendumps into it while the guest runs.
           "-virtfs", f"local,path={share},mount_tag=zcpipe,security_model=none",
           "-device", f"virtio-gpu-pci,xres={XRES},yres={YRES},max_outputs=1,max_hostmem=1G",
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
