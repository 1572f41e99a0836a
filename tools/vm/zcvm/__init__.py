"""zcvm — the host side of tools/vm-run, one module per concern.

Read it in the order a run travels (tools/vm-run is only the entry point):

  cli.py        options, the usage text and the exit-code contract
  kernel.py     Debian's kernel package: fetch once, unpack, vmlinuz → vmlinux
  initramfs.py  busybox + tools/vm/init + the modules the guest needs ...
  cpio.py       ... written as the "newc" cpio archive the kernel unpacks
  qemu.py       the QEMU command line, the KVM probe, the optional virgl display
  guest.py      one boot: sockets, the event loop, COMMAND's environment
  protocol.py   what travels on the guest's virtio-serial ports (pure parsing)
  qmp.py        the QEMU Machine Protocol client (screendumps)
  verdict.py    how a run's outcome becomes vm-run's exit status
  common.py     exit codes, VmError, progress lines, finding programs

Only the standard library: the tool must run on a bare Debian with python3.
The unit tests are in tools/vm/tests (meson test --suite unit vm-run-py).
"""
