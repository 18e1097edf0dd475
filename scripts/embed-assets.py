#!/usr/bin/python3
"""Writes the C table of the console's files (src/console/assets.h) so that they are part of the
binary: no file is read and nothing is built when the server runs.

    scripts/embed-assets.py OUT.c FILE...

Each file becomes its bytes, their gzip compression (made here once, with no timestamp, so the
same files always give the same output), its content type (from the extension; an unknown one is
an error) and strong ETags from its SHA-256.
"""

import gzip
import hashlib
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def c_bytes(name, data):
    out = ["static const unsigned char %s[] = {" % name]
    for i in range(0, len(data), 20):
        out.append("    " + ",".join("0x%02x" % b for b in data[i:i + 20]) + ",")
    out.append("};")
    return "\n".join(out)


def main(argv):
    if len(argv) < 3:
        print("usage: embed-assets.py OUT.c FILE...", file=sys.stderr)
        return 2
    out_path, files = argv[1], sorted(argv[2:], key=os.path.basename)
    parts = ["/* Written by scripts/embed-assets.py from console/ when recd is built; do not edit. */",
             '#include "console/assets.h"', ""]
    rows = []
    for i, path in enumerate(files):
        name = os.path.basename(path)
        ext = os.path.splitext(name)[1]
        if ext not in TYPES:
            print("embed-assets.py: %s: no content type for %r" % (path, ext), file=sys.stderr)
            return 2
        with open(path, "rb") as f:
            data = f.read()
        gz = gzip.compress(data, compresslevel=9, mtime=0)
        tag = hashlib.sha256(data).hexdigest()[:32]
        parts.append(c_bytes("a%d" % i, data))
        if len(gz) < len(data):
            parts.append(c_bytes("a%d_gz" % i, gz))
            gz_ref = "a%d_gz, sizeof a%d_gz" % (i, i)
        else:  # not worth it: served as it is
            gz_ref = "NULL, 0"
        rows.append('    {"%s", "%s", a%d, sizeof a%d, %s, "\\"%s\\"", "\\"%s-gz\\""},'
                    % (name, TYPES[ext], i, i, gz_ref, tag, tag))
    parts.append("const struct recd_console_asset recd_console_assets[] = {")
    parts.extend(rows)
    parts.append("};")
    parts.append("const size_t recd_console_asset_count = %d;" % len(files))
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(parts) + "\n")
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
