#!/usr/bin/env python3
"""Validate zcpipe's JSON outputs against docs/zcpipe.schema.json.

  validate.py SCHEMA FILE_OR_DIR...            validate these files (every *.json in a DIR)
  validate.py SCHEMA --run BIN_DIR [DIR...]    first produce fresh outputs of every kind
                                               (zcpipe-demo --json with --explain, and the
                                               compositor's and client's --stats), then
                                               validate them and every *.json in DIR...,
                                               and empty DIR... (so a later run checks
                                               only what later tests produced)

The meson test `json-schema` runs the second form with the directory where the
integration and baseline tests leave a copy of every JSON file they read
(ZCPIPE_JSON_KEEP, see tests/integration/harness.h), so every JSON the tests
produce is checked, and the test can fail on its own even when run alone.
Exit status: 0 all valid, 1 a file is invalid (each error is printed with its
JSON path), 2 usage or setup errors.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    print("validate.py: python3-jsonschema is missing (tools/setup --test installs it)", file=sys.stderr)
    sys.exit(2)


def produce(bin_dir: pathlib.Path, out: pathlib.Path) -> list:
    """Fresh outputs of all three kinds, small and unpaced."""
    files = []
    demo = out / "demo.json"
    subprocess.run([str(bin_dir / "zcpipe-demo"), "--transport", "all", "--output", "headless", "--refresh", "0",
                    "--size", "320x240", "--frames", "8", "--warmup", "2", "--explain", "--quiet", "--json", str(demo)],
                   check=True, stdout=subprocess.DEVNULL, timeout=120)
    files.append(demo)
    runtime = out / "runtime"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    env.pop("WAYLAND_DISPLAY", None)
    comp_stats, client_stats = out / "compositor.json", out / "client.json"
    r, w = os.pipe()
    comp = subprocess.Popen([str(bin_dir / "zcpipe-compositor"), "--socket", "schema-0", "--output", "headless",
                             "--refresh", "0", "--size", "320x240", "--stats", str(comp_stats), "--ready-fd", str(w),
                             "--exit-after-clients", "1", "--quiet"], env=env, pass_fds=(w,))
    os.close(w)
    os.read(r, 16)  # "ready": the socket listens
    os.close(r)
    subprocess.run([str(bin_dir / "zcpipe-client"), "--socket", "schema-0", "--size", "320x240", "--frames", "6",
                    "--transport", "shm", "--trace-frame", "3", "--stats", str(client_stats), "--quiet"],
                   env=env, check=True, timeout=60)
    if comp.wait(timeout=30) != 0:
        raise RuntimeError("zcpipe-compositor failed")
    files += [comp_stats, client_stats]
    return files


def main(argv: list) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    schema = json.loads(pathlib.Path(argv[1]).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    paths, rest = [], argv[2:]
    tmp = None
    if rest[:1] == ["--run"]:
        if len(rest) < 2:
            print("validate.py: --run needs BIN_DIR", file=sys.stderr)
            return 2
        tmp = tempfile.TemporaryDirectory(prefix="zcpipe-schema-")
        paths += produce(pathlib.Path(rest[1]), pathlib.Path(tmp.name))
        rest = rest[2:]
    consumed = []
    for arg in rest:
        p = pathlib.Path(arg)
        if p.is_dir():
            found = sorted(p.glob("*.json"))
            paths += found
            if tmp is not None:
                consumed += found
        elif p.exists() or tmp is None:
            paths.append(p)
    bad = 0
    kinds = {}
    for p in paths:
        doc = json.loads(p.read_text())
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        kind = doc.get("process", "demo") if isinstance(doc, dict) else "?"
        kinds[kind] = kinds.get(kind, 0) + 1
        if errors:
            bad += 1
            # oneOf errors say little: re-validate against the kind's own definition.
            sub = {"demo": "demo", "client": "client_stats", "compositor": "compositor_stats"}.get(kind)
            if sub:
                errors = sorted(jsonschema.Draft202012Validator({"$ref": f"#/$defs/{sub}", "$defs": schema["$defs"]})
                                .iter_errors(doc), key=lambda e: list(e.absolute_path)) or errors
            print(f"INVALID {p}:")
            for e in errors[:20]:
                print(f"  at /{'/'.join(str(x) for x in e.absolute_path)}: {e.message[:300]}")
    print(f"validated {len(paths)} JSON files ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}): "
          f"{len(paths) - bad} valid, {bad} invalid")
    for p in consumed:
        p.unlink()
    if not paths:
        print("validate.py: nothing to validate", file=sys.stderr)
        return 2
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
