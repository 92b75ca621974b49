#!/usr/bin/env python3
"""check_layers.py SOURCE_DIR — the engine's folders form layers (engine/meson.build
lists them bottom-up): a file includes headers of its own folder and of folders
below it, never above. Fails listing every include that points the wrong way."""
import os, re, sys

LAYERS = ['base', 'format', 'text', 'structured', 'sampling', 'backends', 'model']


def layer_of(rel):
    top = rel.split('/')[0]
    return LAYERS.index(top) if top in LAYERS else None


def main():
    root = sys.argv[1]
    engine = os.path.join(root, 'engine')
    bad = []
    for dirpath, _, files in os.walk(engine):
        for f in files:
            if not f.endswith(('.c', '.h')):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, engine)
            mine = layer_of(rel)
            if mine is None:
                bad.append('%s: not inside one of the layer folders %s' % (rel, LAYERS))
                continue
            for n, line in enumerate(open(path, encoding='utf-8'), 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m or '/' not in m.group(1):
                    continue  # same folder, or the public header
                theirs = layer_of(m.group(1))
                if theirs is not None and theirs > mine:
                    bad.append('engine/%s:%d includes %s (%s/ is above %s/)' %
                               (rel, n, m.group(1), LAYERS[theirs], LAYERS[mine]))
    for line in bad:
        print(line)
    print('%d include(s) against the layering' % len(bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
