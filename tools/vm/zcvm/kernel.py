"""The guest's kernel: Debian's own linux-image package, fetched once.

`apt-cache depends linux-image-amd64` names the current ABI (6.1.0-N-amd64);
`apt-get download` + `dpkg-deb -x` unpack it into the cache, `depmod`
indexes its modules, and the compressed vmlinuz is unpacked once more into
the ELF vmlinux that QEMU can boot without a BIOS (see boot_image)."""

import fcntl
import lzma
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .common import VmError, debug, need, note, which


def cache_dir(arg):
    """--cache DIR, else ${XDG_CACHE_HOME:-~/.cache}/zcpipe-vm."""
    if arg:
        return Path(arg).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "zcpipe-vm"


class CacheLock:
    """flock on the cache: parallel vm-run calls (meson runs tests in
    parallel) must not download or build the same thing twice at once.
    Every writer takes it, then checks again whether another one finished
    the work while it waited."""

    def __init__(self, cache):
        cache.mkdir(parents=True, exist_ok=True)
        self.path = cache / ".lock"
        self.fd = -1

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def version_key(v):
    """Sort key that orders 6.1.0-10-amd64 after 6.1.0-9-amd64."""
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", v)]


def cached_kernels(cache):
    """Kernel versions completely unpacked in the cache, oldest first."""
    kdir = cache / "kernels"
    if not kdir.is_dir():
        return []
    found = [p.name for p in kdir.iterdir() if (p / ".complete").exists()]
    return sorted(found, key=version_key)


def parse_apt_depends(text):
    """The ABI name in `apt-cache depends linux-image-amd64` output, or None."""
    m = re.search(r"Depends:\s*linux-image-(\d\S*-amd64)\b", text)
    return m.group(1) if m else None


def apt_kernel_version():
    """The kernel ABI name (6.1.0-56-amd64) Debian's metapackage points at."""
    if which("apt-cache") is None:
        return None
    try:
        out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_apt_depends(out)


def resolve_kernel_version(cache, requested):
    """--kernel-version, else what apt points at, else the newest cached."""
    if requested:
        return requested
    apt = apt_kernel_version()
    if apt:
        return apt
    cached = cached_kernels(cache)
    if cached:
        return cached[-1]
    raise VmError("no kernel: apt-cache does not know linux-image-amd64 and none is cached"
                  " — run tools/setup --vm (it runs apt-get update)")


def ensure_kernel(cache, kver):
    """Fetch linux-image-KVER once: vmlinuz + its module tree, indexed by depmod.
    Built in a temporary directory and renamed into place, so a run killed
    half-way leaves nothing that looks complete."""
    kdir = cache / "kernels" / kver
    if (kdir / ".complete").exists():
        return kdir
    with CacheLock(cache):
        if (kdir / ".complete").exists():
            return kdir
        need("apt-get", "apt")
        need("dpkg-deb", "dpkg")
        depmod = need("depmod", "kmod")
        kdir.parent.mkdir(parents=True, exist_ok=True)
        note(f"fetching kernel linux-image-{kver} (once; cached in {kdir})…")
        tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=kdir.parent))
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would become the cache's mode
        try:
            # apt-get download only needs the package lists, not root; its
            # "unsandboxed download" warning when run as root is harmless.
            r = subprocess.run(["apt-get", "download", f"linux-image-{kver}"], cwd=tmp,
                               capture_output=True, text=True)
            debs = list(tmp.glob("*.deb"))
            if r.returncode != 0 or not debs:
                raise VmError(f"apt-get download linux-image-{kver} failed — run tools/setup --vm",
                              detail=r.stderr.strip())
            x = tmp / "x"
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(x)], check=True)
            debs[0].unlink()
            # Keep only what the VM needs: the kernel image and its modules.
            (x / "boot" / f"vmlinuz-{kver}").rename(tmp / "vmlinuz")
            (tmp / "lib" / "modules").mkdir(parents=True)
            (x / "lib" / "modules" / kver).rename(tmp / "lib" / "modules" / kver)
            shutil.rmtree(x)
            # The package's postinst would run depmod; we unpacked by hand.
            subprocess.run([depmod, "-b", str(tmp), kver], check=True)
            (tmp / ".complete").touch()
            tmp.rename(kdir)
        except subprocess.CalledProcessError as e:
            raise VmError(f"unpacking linux-image-{kver} failed: {e}") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return kdir


XZ_MAGIC = b"\xfd7zXZ\x00"


def extract_vmlinux(vmlinuz):
    """The ELF kernel inside a bzImage whose payload is xz-compressed (as
    scripts/extract-vmlinux finds it), or None when there is none that QEMU
    could boot directly: it must be x86-64 ELF with a PVH entry note (an ELF
    note of type "Xen")."""
    start = vmlinuz.find(XZ_MAGIC)
    if start <= 0:  # the payload never starts the file: the setup code does
        return None
    try:
        # The decompressor stops at the end of the xz stream; what follows
        # in the bzImage (its trailer) is ignored.
        elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(vmlinuz[start:])
    except lzma.LZMAError:
        return None
    if elf[:5] != b"\x7fELF\x02" or b"Xen\x00" not in elf:
        return None
    return elf


def boot_image(cache, kdir):
    """The kernel to hand QEMU: the uncompressed ELF vmlinux when we can get it.

    Debian's vmlinuz is a bzImage whose payload is xz-compressed; under TCG
    the BIOS boot path plus decompression take about 4 s before the kernel
    prints a line. The same kernel is built with CONFIG_PVH, so QEMU can load
    the plain ELF and jump straight to its PVH entry point: banner at 0.2 s.
    We unpack the xz payload once."""
    vmlinux = kdir / "vmlinux"
    if vmlinux.exists():
        return vmlinux
    with CacheLock(cache):
        if vmlinux.exists():
            return vmlinux
        elf = extract_vmlinux((kdir / "vmlinuz").read_bytes())
        if elf is None:
            debug("no ELF vmlinux with a PVH entry in vmlinuz; booting the bzImage (slower)")
            return kdir / "vmlinuz"
        tmp = vmlinux.with_suffix(".tmp")
        tmp.write_bytes(elf)
        tmp.rename(vmlinux)
    return vmlinux
