# Unit tests of tools/vm-run's package (tools/vm/zcvm). Run from the source
# tree with:  python3 -m unittest discover -s tools/vm/tests -t tools/vm
# (meson: `meson test -C build vm-run-py`). No QEMU, no network, no root.
