"""The newc writer, checked by an independent reader written from the
format's specification (and by cpio(1) where it is installed)."""

import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from zcvm import initramfs
from zcvm.cpio import Cpio


def align4(n):
    return (n + 3) & ~3


def parse_newc(data):
    """[(name, mode, data, (rdevmajor, rdevminor), ino)] up to the trailer;
    checks magic, padding and the final 512-byte block as it goes."""
    entries = []
    off = 0
    while True:
        if data[off:off + 6] != b"070701":
            raise AssertionError(f"bad magic at {off}: {data[off:off + 6]!r}")
        hexfields = data[off + 6:off + 110]
        fields = [int(hexfields[8 * i:8 * i + 8], 16) for i in range(13)]
        ino, mode, uid, gid, nlink, mtime, filesize = fields[:7]
        rdev = (fields[9], fields[10])
        namesize = fields[11]
        name_end = off + 110 + namesize
        if data[name_end - 1] != 0:
            raise AssertionError(f"name at {off} not NUL-terminated")
        name = data[off + 110:name_end - 1].decode()
        pad = data[name_end:align4(name_end)]
        if pad.strip(b"\0"):
            raise AssertionError(f"non-zero name padding after {name}")
        body_start = align4(name_end)
        body = data[body_start:body_start + filesize]
        if len(body) != filesize:
            raise AssertionError(f"{name}: truncated data")
        off = align4(body_start + filesize)
        if (uid, gid, mtime) != (0, 0, 0):
            raise AssertionError(f"{name}: uid/gid/mtime {uid}/{gid}/{mtime}, want 0/0/0")
        if name == "TRAILER!!!":
            break
        entries.append((name, mode, body, rdev, ino))
    if len(data) % 512 or data[off:].strip(b"\0"):
        raise AssertionError("archive is not zero-padded to a 512-byte block after the trailer")
    return entries


class CpioTest(unittest.TestCase):
    def sample(self):
        c = Cpio()
        c.dir("bin")
        c.file("bin/tool", b"#!/bin/sh\necho hi\n", 0o755)
        c.file("empty", b"")
        for n in range(1, 9):  # every name length mod 4, every data length mod 4
            c.file("n" * n, b"x" * n)
        c.chardev("dev-console", 5, 1)
        return c.finish()

    def test_round_trip(self):
        entries = parse_newc(self.sample())
        by_name = {e[0]: e for e in entries}
        self.assertEqual([e[0] for e in entries][:3], ["bin", "bin/tool", "empty"])
        self.assertEqual(len(entries), 12)
        name, mode, body, rdev, _ = by_name["bin"]
        self.assertTrue(stat.S_ISDIR(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o755)
        _, mode, body, _, _ = by_name["bin/tool"]
        self.assertTrue(stat.S_ISREG(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o755)
        self.assertEqual(body, b"#!/bin/sh\necho hi\n")
        self.assertEqual(by_name["empty"][2], b"")
        self.assertEqual(stat.S_IMODE(by_name["empty"][1]), 0o644)
        for n in range(1, 9):
            self.assertEqual(by_name["n" * n][2], b"x" * n)
        _, mode, body, rdev, _ = by_name["dev-console"]
        self.assertTrue(stat.S_ISCHR(mode))
        self.assertEqual(rdev, (5, 1))
        self.assertEqual(body, b"")

    def test_inodes_are_unique(self):
        inos = [e[4] for e in parse_newc(self.sample())]
        self.assertEqual(len(inos), len(set(inos)))

    def test_same_input_same_bytes(self):
        self.assertEqual(self.sample(), self.sample())

    def test_bad_names_are_refused(self):
        for bad in ["", "/abs", "a\0b"]:
            with self.subTest(name=bad), self.assertRaises(ValueError):
                Cpio().file(bad, b"")

    @unittest.skipUnless(shutil.which("cpio"), "cpio(1) not installed")
    def test_cpio_tool_lists_and_extracts(self):
        data = self.sample()
        listing = subprocess.run(["cpio", "-t", "--quiet"], input=data, capture_output=True,
                                 check=True).stdout.decode().split()
        self.assertEqual(listing, [e[0] for e in parse_newc(data)])
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames"], input=data,
                           cwd=d, check=True, capture_output=True)
            with open(os.path.join(d, "bin", "tool"), "rb") as f:
                self.assertEqual(f.read(), b"#!/bin/sh\necho hi\n")


class InitramfsLayoutTest(unittest.TestCase):
    def test_layout(self):
        mods = [("virtio.ko", b"\x7fELF-virtio"), ("virtio_gpu.ko", b"\x7fELF-gpu")]
        entries = {e[0]: e for e in parse_newc(initramfs.build(b"#!/bin/busybox sh\n",
                                                               b"BUSYBOX", mods))}
        for d in ["bin", "dev", "proc", "sys", "mnt", "modules"]:
            self.assertTrue(stat.S_ISDIR(entries[d][1]), d)
        # The kernel opens /dev/console for PID 1 before /init runs.
        self.assertTrue(stat.S_ISCHR(entries["dev/console"][1]))
        self.assertEqual(entries["dev/console"][3], (5, 1))
        self.assertEqual(stat.S_IMODE(entries["init"][1]), 0o755)
        self.assertEqual(entries["init"][2], b"#!/bin/busybox sh\n")
        self.assertEqual(entries["bin/busybox"][2], b"BUSYBOX")
        self.assertEqual(entries["modules/virtio_gpu.ko"][2], b"\x7fELF-gpu")
        # /init loads them in this order: dependencies first.
        self.assertEqual(entries["modules/order"][2], b"virtio.ko\nvirtio_gpu.ko\n")


if __name__ == "__main__":
    unittest.main()
