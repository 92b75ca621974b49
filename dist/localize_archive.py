#!/usr/bin/env python3
"""localize_archive.py OUT.a IN.a OBJCOPY AR CC... — the installed form of a
static library: every object of IN.a linked into one relocatable object
(`cc -r`), whose hidden symbols objcopy then makes local, in an archive of
its own. Internal names (hidden, since the library is built with hidden
visibility) can then no longer clash with an application's: only the
exported API stays global."""
import os
import subprocess
import sys


def main():
    out, archive, objcopy, ar = sys.argv[1:5]
    cc = sys.argv[5:]
    obj = os.path.splitext(out)[0] + '.o'
    subprocess.run(cc + ['-r', '-nostdlib', '-o', obj, '-Wl,--whole-archive', archive,
                         '-Wl,--no-whole-archive'], check=True)
    subprocess.run([objcopy, '--localize-hidden', obj], check=True)
    if os.path.exists(out):
        os.remove(out)
    subprocess.run([ar, 'rcsD', out, obj], check=True)
    os.remove(obj)


if __name__ == '__main__':
    main()
