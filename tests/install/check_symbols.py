#!/usr/bin/env python3
"""check_symbols.py LIB... — the libraries export the public API alone: the
dynamic symbols a shared object defines (nm -D) and the global symbols an
archive defines (nm -g) must start with vka_ or luaopen_. Names the
toolchain itself adds are listed in TOOLCHAIN. Fails listing every other
name, so an internal helper that escapes hidden visibility (or the
archive's localisation) cannot clash with an application's own."""
import subprocess
import sys

PREFIXES = ('vka_', 'luaopen_')
# Linker-defined markers some binutils versions report as defined.
TOOLCHAIN = {'_init', '_fini', '_edata', '_end', '__bss_start'}


def defined_globals(path):
    dynamic = ['-D'] if not path.endswith('.a') else ['-g']
    out = subprocess.run(['nm', '--defined-only', '--format=posix'] + dynamic + [path],
                         check=True, capture_output=True, text=True).stdout
    names = []
    for line in out.splitlines():
        fields = line.split()
        # archive member headers ("lib.a[obj.o]:") and blank lines carry no symbol
        if len(fields) < 2 or line.endswith(':'):
            continue
        name, kind = fields[0], fields[1]
        if kind in 'UwvN':
            continue
        names.append(name.split('@')[0])
    return names


def main():
    bad = 0
    for path in sys.argv[1:]:
        names = defined_globals(path)
        public = [n for n in names if n.startswith(PREFIXES)]
        stray = sorted(set(n for n in names if not n.startswith(PREFIXES) and n not in TOOLCHAIN))
        for n in stray:
            print('%s: exports %s' % (path, n))
        print('%s: %d public symbols, %d others' % (path, len(set(public)), len(stray)))
        if not public:
            print('%s: exports no vka_/luaopen_ symbol at all (wrong file?)' % path)
            bad += 1
        bad += len(stray)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
