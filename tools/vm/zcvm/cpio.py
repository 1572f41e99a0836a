"""A minimal "newc" cpio writer: the archive format the kernel unpacks as
its initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).

Writing it here keeps ownership (root) and modes exact without fakeroot or
the cpio program. Each entry is

    "070701"  then 13 fields of 8 hex digits:
              ino mode uid gid nlink mtime filesize devmajor devminor
              rdevmajor rdevminor namesize check
    the name, NUL-terminated, padded with NULs to a multiple of 4 bytes
    the file's data, padded to a multiple of 4 bytes

and the archive ends with an entry named "TRAILER!!!". uid, gid and mtime
are 0 (root, the epoch) so the same inputs always give the same bytes."""

import stat

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


class Cpio:
    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def _pad(self):
        self.out += b"\0" * (-len(self.out) % 4)

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        if not name or name.startswith("/") or "\0" in name:
            raise ValueError(f"cpio: bad entry name {name!r} (relative, no NUL)")
        encoded = name.encode()
        # nlink 1 for every entry: the kernel only looks at it to join hard
        # links (regular files with nlink >= 2 and the same ino), which we
        # never write.
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(encoded) + 1, 0]
        self.ino += 1
        self.out += MAGIC + "".join(f"{v:08x}" for v in fields).encode()
        self.out += encoded + b"\0"
        self._pad()  # the 110-byte header + name end on a 4-byte boundary
        self.out += data
        self._pad()

    def dir(self, name, mode=0o755):
        self._entry(name, stat.S_IFDIR | mode)

    def file(self, name, data, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, bytes(data))

    def chardev(self, name, major, minor, mode=0o600):
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def finish(self):
        """The archive: entries, the trailer, and padding to a 512-byte block
        (what cpio(1) writes; the kernel does not need it)."""
        self._entry(TRAILER, 0)
        self.out += b"\0" * (-len(self.out) % 512)
        return bytes(self.out)
