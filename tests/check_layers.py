#!/usr/bin/env python3
"""check_layers.py SOURCE_DIR — the engine's folders form layers (engine/meson.build
lists them bottom-up): a file includes headers of its own folder and of folders
below it, never above. Above the engine, the Lua binding (lua/) includes only
the public headers and its own; the CLI (cli/) likewise, except the tools that
need internals (TOOLS), which include engine/tools/tools.h and nothing else of
the engine. Fails listing every include that points the wrong way."""
import os, re, sys

# tools/ is the top: tools.h gathers what the CLI's tools use of the layers below.
LAYERS = ['base', 'format', 'text', 'structured', 'sampling', 'backends', 'model', 'tools']
PUBLIC = {'vkagent.h', 'vkagent_lua.h'}
# The CLI's files that may include "tools/tools.h": bench (and bench --grammar,
# bench --parallel), quantize, synth, info, grammar (GBNF checks and sampling walks).
TOOLS = {'bench_grammar.c', 'bench_parallel.c', 'cmd_bench.c', 'cmd_quantize.c', 'cmd_synth.c', 'cmd_info.c',
         'cmd_grammar.c', 'grammar_sample.c', 'grammar_sample.h'}
# Files still including engine internals until the public API covers them,
# each with the reason; printed on every run so that they are not forgotten.
PENDING = {}


def layer_of(rel):
    top = rel.split('/')[0]
    return LAYERS.index(top) if top in LAYERS else None


def quoted_includes(path):
    for n, line in enumerate(open(path, encoding='utf-8'), 1):
        m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
        if m:
            yield n, m.group(1)


def check_above_engine(root):
    """cli/ and lua/: their own headers and the public ones; tools.h for TOOLS."""
    bad = []
    for folder in ('cli', 'lua'):
        here = os.path.join(root, folder)
        own = set(os.listdir(here))
        for f in sorted(own):
            if not f.endswith(('.c', '.h')):
                continue
            if folder == 'cli' and f in PENDING:
                internal = [inc for _, inc in quoted_includes(os.path.join(here, f)) if '/' in inc]
                print('note: cli/%s is exempt for now: %s%s' % (f, PENDING[f], '' if internal else
                      ' (it includes no engine header any more: drop it from PENDING)'))
                continue
            for n, inc in quoted_includes(os.path.join(here, f)):
                if inc in own or inc in PUBLIC:
                    continue
                if folder == 'cli' and f in TOOLS and inc == 'tools/tools.h':
                    continue
                why = ('only the tools (bench, quantize, synth, info, grammar) include tools/tools.h'
                       if inc == 'tools/tools.h' else 'not a public header (include/) nor one of %s/' % folder)
                bad.append('%s/%s:%d includes %s (%s)' % (folder, f, n, inc, why))
    return bad


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
    bad += check_above_engine(root)
    for line in bad:
        print(line)
    print('%d include(s) against the layering' % len(bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
