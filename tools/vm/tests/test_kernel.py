"""Kernel bookkeeping that needs no download: vmlinux extraction from a
bzImage-like blob, the apt answer, version order, the initramfs inputs."""

import lzma
import os
import struct
import tempfile
import time
import unittest
from pathlib import Path

from zcvm import initramfs
from zcvm.kernel import cached_kernels, extract_vmlinux, parse_apt_depends, version_key

PVH_ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 57 + b"...notes...Xen\x00" + b"\x90" * 4096


def bzimage(payload, trailer=b"\xaa" * 64):
    """Setup code, then the xz payload, then more bytes: the shape of
    Debian's vmlinuz as far as extraction cares."""
    return b"MZ" + b"\0" * 1000 + lzma.compress(payload, format=lzma.FORMAT_XZ) + trailer


class ExtractVmlinuxTest(unittest.TestCase):
    def test_pvh_elf_is_found_and_the_trailer_ignored(self):
        self.assertEqual(extract_vmlinux(bzimage(PVH_ELF)), PVH_ELF)

    def test_elf_without_pvh_note_is_not_bootable_directly(self):
        self.assertIsNone(extract_vmlinux(bzimage(PVH_ELF.replace(b"Xen\x00", b"Nope"))))

    def test_32_bit_elf_or_no_elf(self):
        self.assertIsNone(extract_vmlinux(bzimage(b"\x7fELF\x01" + PVH_ELF[5:])))
        self.assertIsNone(extract_vmlinux(bzimage(b"just data Xen\x00")))

    def test_no_xz_payload_or_a_broken_one(self):
        self.assertIsNone(extract_vmlinux(b"MZ" + b"\0" * 1000))
        broken = bytearray(bzimage(PVH_ELF))
        broken[1100:1200] = b"\xff" * 100
        self.assertIsNone(extract_vmlinux(bytes(broken)))


class AptAndCacheTest(unittest.TestCase):
    def test_apt_depends(self):
        out = ("linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n"
               "  Recommends: firmware-linux-free\n")
        self.assertEqual(parse_apt_depends(out), "6.1.0-57-amd64")
        self.assertIsNone(parse_apt_depends("N: Unable to locate package linux-image-amd64\n"))

    def test_versions_sort_by_number(self):
        vs = ["6.1.0-10-amd64", "6.1.0-9-amd64", "5.10.0-28-amd64", "6.1.0-57-amd64"]
        self.assertEqual(sorted(vs, key=version_key),
                         ["5.10.0-28-amd64", "6.1.0-9-amd64", "6.1.0-10-amd64", "6.1.0-57-amd64"])

    def test_only_complete_kernels_count(self):
        with tempfile.TemporaryDirectory() as d:
            cache = Path(d)
            self.assertEqual(cached_kernels(cache), [])
            for v, complete in [("6.1.0-9-amd64", True), ("6.1.0-10-amd64", True),
                                ("6.1.0-11-amd64", False)]:
                (cache / "kernels" / v).mkdir(parents=True)
                if complete:
                    (cache / "kernels" / v / ".complete").touch()
            self.assertEqual(cached_kernels(cache), ["6.1.0-9-amd64", "6.1.0-10-amd64"])


def elf64(phdr_types, elfclass=2):
    """An ELF header and program headers of the given p_type values."""
    phoff, phentsize = 64, 56
    ident = b"\x7fELF" + bytes([elfclass, 1, 1]) + b"\0" * 9
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x401000, phoff, 0, 0, 64,
                                 phentsize, len(phdr_types), 64, 0, 0)
    phdrs = b"".join(struct.pack("<IIQQQQQQ", t, 5, 0, 0, 0, 0, 0, 0x1000) for t in phdr_types)
    return header + phdrs


class InitramfsInputsTest(unittest.TestCase):
    def is_static(self, data):
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            return initramfs.elf_is_static(f.name)

    def test_static_means_no_pt_interp(self):
        self.assertTrue(self.is_static(elf64([1, 1, 4])))      # LOAD, LOAD, NOTE
        self.assertFalse(self.is_static(elf64([6, 3, 1, 1])))  # PHDR, INTERP, LOAD...

    def test_not_a_64_bit_elf(self):
        self.assertFalse(self.is_static(elf64([1], elfclass=1)))
        self.assertFalse(self.is_static(b"#!/bin/sh\n"))
        self.assertFalse(self.is_static(b""))

    def test_a_real_dynamic_program(self):
        sh = os.path.realpath("/bin/sh")
        with open(sh, "rb") as f:
            if f.read(4) != b"\x7fELF":
                self.skipTest("/bin/sh is not an ELF")
        self.assertFalse(initramfs.elf_is_static(sh))

    def test_show_depends_order_without_duplicates(self):
        order = []
        initramfs.parse_show_depends(
            "builtin crc32c_generic\n"
            "insmod /lib/modules/k/kernel/net/9p/9pnet.ko \n"
            "insmod /lib/modules/k/kernel/net/9p/9pnet_virtio.ko \n", order)
        initramfs.parse_show_depends(
            "insmod /lib/modules/k/kernel/net/9p/9pnet.ko \n"
            "insmod /lib/modules/k/kernel/fs/9p/9p.ko \n", order)
        self.assertEqual([os.path.basename(m) for m in order],
                         ["9pnet.ko", "9pnet_virtio.ko", "9p.ko"])

    def test_any_input_change_renames_the_initramfs(self):
        base = initramfs.input_hash("6.1.0-57-amd64", b"init", b"bb", ["/m/a.ko"])
        self.assertEqual(base, initramfs.input_hash("6.1.0-57-amd64", b"init", b"bb", ["/m/a.ko"]))
        for changed in [("6.1.0-58-amd64", b"init", b"bb", ["/m/a.ko"]),
                        ("6.1.0-57-amd64", b"init2", b"bb", ["/m/a.ko"]),
                        ("6.1.0-57-amd64", b"init", b"bb2", ["/m/a.ko"]),
                        ("6.1.0-57-amd64", b"init", b"bb", ["/m/a.ko", "/m/vgem.ko"])]:
            with self.subTest(changed=changed):
                self.assertNotEqual(initramfs.input_hash(*changed), base)

    def test_unused_builds_go_recent_ones_stay(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            now = time.time()
            ages = {"k-current.cpio": 30 * 86400, "k-other-checkout.cpio": 3600,
                    "j-stale.cpio": 3 * 86400, "notes.txt": 30 * 86400}
            for name, age in ages.items():
                (d / name).touch()
                os.utime(d / name, (now - age, now - age))
            initramfs.remove_unused(d / "k-current.cpio")
            self.assertEqual(sorted(p.name for p in d.iterdir()),
                             ["k-current.cpio", "k-other-checkout.cpio", "notes.txt"])


if __name__ == "__main__":
    unittest.main()
