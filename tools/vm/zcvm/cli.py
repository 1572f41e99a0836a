"""tools/vm-run's command line: options, the usage text, and main()."""

import argparse
import os
import signal
import sys

from . import common
from .common import PROG, VmError, need, note
from .guest import Guest
from .initramfs import INIT_SCRIPT, ensure_initramfs, find_busybox
from .kernel import (apt_kernel_version, boot_image, cache_dir, cached_kernels, ensure_kernel,
                     resolve_kernel_version)
from .qemu import GPUS, check_gl_device, kvm_works

USAGE = """\
tools/vm-run — run a command as root inside a QEMU guest that has a real DRM device.

usage: tools/vm-run [options] [--] COMMAND [ARG...]
       tools/vm-run --check | --prepare

The guest is a virtio-gpu display at 3840x2160 driven by Debian's own kernel.
It sees the host's whole file system at the same paths (read-only, with a
writable tmpfs overlay on top), starts COMMAND in the caller's working
directory, streams its stdout and stderr to ours, and exits with its status.

options:
  --timeout SECONDS       guest-side limit for COMMAND (default 300); the host
                          also kills QEMU if the guest stops answering
  --boot-timeout SECONDS  limit for the guest to reach COMMAND (default 120)
  --screendump-dir DIR    keep a copy of every screendump the guest asks for
  --console-log FILE      save the guest's serial console and its final
                          kernel log (dmesg) to FILE
  --cache DIR             kernel + initramfs cache
                          (default ${XDG_CACHE_HOME:-~/.cache}/zcpipe-vm)
  --mem SIZE              guest memory (default 3G)
  --smp N                 guest CPUs (default 2, at most the host's)
  --kernel-version VER    e.g. 6.1.0-56-amd64 (default: what Debian's
                          linux-image-amd64 depends on)
  --accel auto|kvm|tcg    auto uses KVM only when a probe boot shows it works
                          (default auto; env ZCPIPE_VM_ACCEL)
  --gpu plain|virgl       plain: 2D virtio-gpu, QMP screendumps work (default);
                          virgl: virtio-gpu with 3D (virgl) rendered by the
                          host's Mesa through an Xvfb display (needs xvfb and
                          qemu-system-gui); screendumps answer "no surface"
                          (default env ZCPIPE_VM_GPU, else plain)
  --module NAME           also load kernel module NAME in the guest (e.g. vgem)
  --append ARGS           more kernel command line (e.g. drm.debug=0x1e)
  -e, --env NAME[=VALUE]  pass an environment variable to COMMAND
  --check                 only say whether the VM can run here (exit 0 or 1)
  --prepare               only fetch the kernel and build the initramfs
  -v, --verbose           boot progress, kernel log and timings on stderr
  -h, --help              this text

inside the guest:
  PATH, HOME, USER, LANG/LC_*, TERM, TZ, ZCPIPE_* and the debug variables of
  Mesa, GBM, EGL, Wayland, GoogleTest and the sanitizers come from the caller;
  XDG_RUNTIME_DIR=/run/user/0 (a fresh tmpfs directory, mode 0700);
  ZCPIPE_VM=1; ZCPIPE_VM_GPU=plain|virgl; stdin is /dev/null.
  tools/vm/screendump NAME asks the host for a QMP screendump of the display
  and prints the guest path of the PPM (see docs/vm.md for the protocol).

exit status:
  0-255  COMMAND's own status (128+N when it was killed by signal N)
  122    the guest did not boot (the console log tail is printed)
  123    the guest hung or crashed after COMMAND started; QEMU was killed
  124    COMMAND ran longer than --timeout and was killed in the guest
  125    vm-run itself failed: bad option, qemu/busybox/kernel missing or
         QEMU refusing to start, the working directory missing in the guest
"""


def parse_args(argv, environ=os.environ):
    p = argparse.ArgumentParser(prog=PROG, add_help=False, usage=argparse.SUPPRESS)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--boot-timeout", type=float, default=120)
    p.add_argument("--screendump-dir")
    p.add_argument("--console-log")
    p.add_argument("--cache")
    p.add_argument("--mem", default="3G")
    p.add_argument("--smp", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--kernel-version")
    p.add_argument("--accel", choices=["auto", "kvm", "tcg"],
                   default=environ.get("ZCPIPE_VM_ACCEL", "auto"))
    p.add_argument("--gpu", choices=GPUS, default=environ.get("ZCPIPE_VM_GPU", "plain"))
    p.add_argument("--module", action="append", default=[])
    p.add_argument("--append", default="")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--check", action="store_true")
    p.add_argument("--prepare", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("command", nargs=argparse.REMAINDER)

    def error(message):
        raise VmError(f"{message} (try --help)")
    p.error = error
    args = p.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    # Defaults from the environment are not checked by argparse's choices.
    if args.accel not in ("auto", "kvm", "tcg"):
        raise VmError(f"ZCPIPE_VM_ACCEL={args.accel!r}: use auto, kvm or tcg")
    if args.gpu not in GPUS:
        raise VmError(f"ZCPIPE_VM_GPU={args.gpu!r}: use {' or '.join(GPUS)}")
    if not args.help:
        if not args.command and not (args.check or args.prepare):
            raise VmError("no command given (usage: tools/vm-run [options] -- COMMAND...;"
                          " try --help)")
        if args.timeout <= 0 or args.boot_timeout <= 0 or args.smp < 1:
            raise VmError("--timeout, --boot-timeout and --smp must be positive")
    return args


def check_tools(args, cache):
    """What the VM needs here, without downloading anything. Returns the
    QEMU binary; raises VmError naming the missing piece and its package."""
    qemu = need("qemu-system-x86_64", "qemu-system-x86")
    find_busybox()
    need("modprobe", "kmod")
    if args.gpu == "virgl":
        need("Xvfb", "xvfb")
        check_gl_device(qemu)
    # A kernel is usable if cached or known to apt.
    if not cached_kernels(cache) and not (args.kernel_version or apt_kernel_version()):
        raise VmError("no kernel cached and apt-cache does not know linux-image-amd64"
                      " — run tools/setup --vm")
    return qemu


def main(argv):
    args = parse_args(argv)
    if args.help:
        print(USAGE.strip())
        return 0
    common.set_verbose(args.verbose)
    if not INIT_SCRIPT.exists():
        raise VmError(f"{INIT_SCRIPT} is missing (incomplete checkout?)")

    cache = cache_dir(args.cache)
    try:
        qemu = check_tools(args, cache)
    except VmError as e:
        if args.check:
            e.code = 1
        raise
    if args.check:
        return 0

    kver = resolve_kernel_version(cache, args.kernel_version)
    try:
        kdir = ensure_kernel(cache, kver)
    except VmError:
        cached = cached_kernels(cache)
        if args.kernel_version or not cached:
            raise
        note(f"could not fetch linux-image-{kver}; using the cached {cached[-1]}")
        kver = cached[-1]
        kdir = cache / "kernels" / kver
    kernel = boot_image(cache, kdir)
    initramfs = ensure_initramfs(cache, kdir, kver, args.module)
    if args.prepare:
        print(f"kernel    {kernel}\ninitramfs {initramfs}")
        return 0

    accel = args.accel
    if accel == "auto":
        accel = "kvm" if kvm_works(qemu, cache, kernel) else "tcg"
    return Guest(args, qemu, kernel, initramfs, accel).run()


def on_signal(signum, _frame):
    # Turn SIGTERM/SIGHUP (e.g. meson's test timeout) into an exception so the
    # finally blocks kill QEMU and remove the temporary directory.
    raise KeyboardInterrupt


def run(argv):
    """The whole program: an exit status for every outcome (see USAGE)."""
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        return main(argv)
    except VmError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        if e.detail:
            print(e.detail, file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; guest stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Our reader left (`tools/vm-run --help | head`): say nothing more,
        # and keep Python's exit-time flush from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
