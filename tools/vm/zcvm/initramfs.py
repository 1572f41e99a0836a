"""The guest's initramfs: a static busybox, tools/vm/init as /init, and the
kernel modules the guest needs, in the order /init loads them."""

import hashlib
import os
import subprocess
import time
from pathlib import Path

from .common import VmError, debug, need, which
from .cpio import Cpio
from .kernel import CacheLock

INIT_SCRIPT = Path(__file__).resolve().parent.parent / "init"

# Modules the guest needs, in the order /init loads them (their dependencies
# are added by `modprobe --show-depends`). Debian builds all of them as modules:
#   virtio_pci       the PCI transport every virtio device below sits on
#   virtio_console   virtio-serial ports: COMMAND's stdout/stderr, status, control
#   9pnet_virtio, 9p the host's root file system (QEMU -virtfs)
#   overlay          a writable layer over that read-only root
#   virtio_gpu       the DRM driver: /dev/dri/card0 + renderD128
BASE_MODULES = ["virtio_pci", "virtio_console", "9pnet_virtio", "9p", "overlay", "virtio_gpu"]

PT_INTERP = 3  # the program header that names the dynamic loader


def elf_is_static(path):
    """True for a 64-bit ELF executable without a PT_INTERP program header."""
    with open(path, "rb") as f:
        h = f.read(64)
        if len(h) < 64 or h[:4] != b"\x7fELF" or h[4] != 2:  # ELFCLASS64
            return False
        phoff = int.from_bytes(h[32:40], "little")
        phentsize = int.from_bytes(h[54:56], "little")
        phnum = int.from_bytes(h[56:58], "little")
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    for i in range(phnum):
        if int.from_bytes(ph[i * phentsize:i * phentsize + 4], "little") == PT_INTERP:
            return False
    return True


def find_busybox():
    """The initramfs has no C library, so its busybox must be the static one."""
    candidates = [which("busybox"), "/bin/busybox", "/usr/bin/busybox"]
    dynamic = None
    for c in candidates:
        if c and os.path.isfile(c):
            if elf_is_static(c):
                return c
            dynamic = c
    if dynamic:
        raise VmError(f"{dynamic} is dynamically linked — install busybox-static (tools/setup --vm)")
    raise VmError("busybox not found (package busybox-static) — run tools/setup --vm")


def parse_show_depends(text, order):
    """Appends to `order` the module files of `modprobe --show-depends`
    output ("insmod /lib/modules/…/x.ko" lines, dependencies first) that are
    not in it yet. Built-in modules ("builtin x") need no file."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "insmod" and parts[1] not in order:
            order.append(parts[1])
    return order


def module_paths(kdir, kver, names):
    """Module files in load order, dependencies first (as modprobe would load them)."""
    modprobe = need("modprobe", "kmod")
    order = []
    for name in names:
        r = subprocess.run([modprobe, "-d", str(kdir), "-S", kver, "--show-depends", name],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise VmError(f"kernel {kver} has no module {name}: {r.stderr.strip()}")
        parse_show_depends(r.stdout, order)
    return order


def build(init, busybox, modules):
    """The initramfs bytes. modules: [(file name, bytes)] in load order; /init
    reads /modules/order and insmods each line."""
    c = Cpio()
    for d in ["bin", "dev", "proc", "sys", "mnt", "modules"]:
        c.dir(d)
    # The kernel opens /dev/console for PID 1 before /init can mount devtmpfs.
    c.chardev("dev/console", 5, 1)
    c.file("init", init, 0o755)
    c.file("bin/busybox", busybox, 0o755)
    for name, data in modules:
        c.file(f"modules/{name}", data)
    c.file("modules/order", "".join(f"{name}\n" for name, _ in modules).encode())
    return c.finish()


def input_hash(kver, init, busybox, module_files):
    """A name for one set of inputs: any change gives a new initramfs."""
    h = hashlib.sha256()
    for part in [kver.encode(), init, hashlib.sha256(busybox).digest(),
                 "\n".join(module_files).encode()]:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def ensure_initramfs(cache, kdir, kver, extra_modules):
    busybox = find_busybox()
    mods = module_paths(kdir, kver, BASE_MODULES + extra_modules)
    init = INIT_SCRIPT.read_bytes()
    bb = Path(busybox).read_bytes()
    path = cache / "initramfs" / f"{kver}-{input_hash(kver, init, bb, mods)}.cpio"
    try:
        # Mark it used before anything else: cleaners spare recent builds.
        os.utime(path)
    except FileNotFoundError:
        with CacheLock(cache):
            if not path.exists():
                debug("building initramfs…")
                data = build(init, bb, [(os.path.basename(m), Path(m).read_bytes()) for m in mods])
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(data)
                tmp.rename(path)
    remove_unused(path)
    return path


UNUSED_FOR = 2 * 24 * 3600


def remove_unused(path):
    """Removes the initramfs builds beside `path` that nobody has used for two
    days. Not "every other build": checkouts with a different tools/vm/init
    (git worktrees, branches) share the cache, and a build deleted between
    one vm-run choosing it and its QEMU opening it would fail that run."""
    now = time.time()
    for old in path.parent.glob("*.cpio"):
        try:
            if old != path and now - old.stat().st_mtime > UNUSED_FOR:
                old.unlink()
        except FileNotFoundError:
            pass  # another vm-run removed it first
