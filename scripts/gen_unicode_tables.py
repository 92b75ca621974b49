#!/usr/bin/env python3
"""gen_unicode_tables.py — writes engine/text/unicode_data.c, the Unicode tables of
the tokenizers (letter/number/White_Space classes for the BPE pre-tokenizers,
and what NFC needs: canonical combining classes, NFC quick-check values,
canonical decompositions, primary composites), from Debian's unicode-data.

    python3 scripts/gen_unicode_tables.py [UNICODE_DIR] > engine/text/unicode_data.c

UNICODE_DIR defaults to /usr/share/unicode (package unicode-data). The output
is committed, so the build does not need the package; rerun after a Unicode
update. Uses only the Python standard library.
"""
import os
import sys

MAX_CP = 0x110000
S_BASE, L_BASE, V_BASE, T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
L_COUNT, V_COUNT, T_COUNT = 19, 21, 28
S_COUNT = L_COUNT * V_COUNT * T_COUNT

# Class flags (engine/text/unicode.h must agree).
F_LETTER, F_NUMBER, F_SPACE, F_QC_NO, F_QC_MAYBE, F_CCC = 1, 2, 4, 8, 16, 32


def data_lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                yield [field.strip() for field in line.split(";")]


def cp_range(field):
    if ".." in field:
        a, b = field.split("..")
        return range(int(a, 16), int(b, 16) + 1)
    return range(int(field, 16), int(field, 16) + 1)


def read_unicode_data(path):
    """General category, combining class and canonical decomposition per code point."""
    gc, ccc, decomp = {}, {}, {}
    first = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            cp, name, cat, cls, dm = int(fields[0], 16), fields[1], fields[2], int(fields[3]), fields[5]
            if name.endswith(", First>"):
                first = cp
                continue
            cps = range(first, cp + 1) if name.endswith(", Last>") else range(cp, cp + 1)
            first = None
            for c in cps:
                gc[c] = cat
                if cls:
                    ccc[c] = cls
            if dm and not dm.startswith("<"):
                decomp[cp] = [int(x, 16) for x in dm.split()]
    return gc, ccc, decomp


def read_property(path, prop):
    out = {}
    for fields in data_lines(path):
        if fields[1] == prop:
            value = fields[2] if len(fields) > 2 else True
            for c in cp_range(fields[0]):
                out[c] = value
    return out


def full_decomposition(cp, decomp):
    if cp not in decomp:
        return [cp]
    out = []
    for c in decomp[cp]:
        out.extend(full_decomposition(c, decomp))
    return out


def two_level(values, block):
    """Stage-1 block numbers per `block` code points and the deduplicated blocks."""
    blocks, index, stage1 = [], {}, []
    for start in range(0, MAX_CP, block):
        b = tuple(values[start:start + block])
        if b not in index:
            index[b] = len(blocks)
            blocks.append(b)
        stage1.append(index[b])
    return stage1, blocks


def emit_array(out, ctype, name, values, per_line=16, fmt="{}"):
    out.append(f"const {ctype} {name}[{len(values)}] = {{")
    for i in range(0, len(values), per_line):
        out.append("    " + ", ".join(fmt.format(v) for v in values[i:i + per_line]) + ",")
    out.append("};")


def main():
    udir = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    gc, ccc, decomp = read_unicode_data(os.path.join(udir, "UnicodeData.txt"))
    white = read_property(os.path.join(udir, "PropList.txt"), "White_Space")
    dnp = os.path.join(udir, "DerivedNormalizationProps.txt")
    nfc_qc = read_property(dnp, "NFC_QC")
    full_excl = read_property(dnp, "Full_Composition_Exclusion")
    excl = {int(f[0], 16) for f in data_lines(os.path.join(udir, "CompositionExclusions.txt"))}
    with open(os.path.join(udir, "ReadMe.txt"), encoding="utf-8") as f:
        version = next((w for line in f for w in line.split() if w[:1].isdigit() and w.count(".") == 2), "?")

    # Full_Composition_Exclusion = the exclusion list + singletons + non-starter decompositions;
    # check the derived file against that definition so a wrong parse cannot slip through.
    derived = set(excl)
    for cp, d in decomp.items():
        if len(d) == 1 or ccc.get(cp, 0) or ccc.get(d[0], 0):
            derived.add(cp)
    if derived != set(full_excl):
        sys.exit("Full_Composition_Exclusion disagrees with CompositionExclusions.txt + singletons + non-starters")

    flags = [0] * MAX_CP
    for cp, cat in gc.items():
        if cat[0] == "L":
            flags[cp] |= F_LETTER
        elif cat[0] == "N":
            flags[cp] |= F_NUMBER
    for cp in white:
        flags[cp] |= F_SPACE
    for cp, v in nfc_qc.items():
        flags[cp] |= F_QC_NO if v == "N" else F_QC_MAYBE
    for cp in ccc:
        flags[cp] |= F_CCC
    nfc_first = min(cp for cp in range(MAX_CP) if flags[cp] & (F_QC_NO | F_QC_MAYBE | F_CCC))

    best = None
    for shift in (5, 6, 7, 8):
        stage1, blocks = two_level(flags, 1 << shift)
        size = len(stage1) * (1 if len(blocks) <= 256 else 2) + len(blocks) * (1 << shift)
        if best is None or size < best[0]:
            best = (size, shift, stage1, blocks)
    _, shift, stage1, blocks = best
    stage1_type = "uint8_t" if len(blocks) <= 256 else "uint16_t"

    ccc_ranges = []
    for cp in sorted(ccc):
        if ccc_ranges and ccc_ranges[-1][1] == cp - 1 and ccc_ranges[-1][2] == ccc[cp]:
            ccc_ranges[-1][1] = cp
        else:
            ccc_ranges.append([cp, cp, ccc[cp]])

    decomp_entries, decomp_data = [], []
    for cp in sorted(decomp):
        full = full_decomposition(cp, decomp)
        decomp_entries.append((cp, len(decomp_data), len(full)))
        decomp_data.extend(full)
    if max(n for _, _, n in decomp_entries) > 4 or len(decomp_data) >= 1 << 16:
        sys.exit("decompositions no longer fit vka_uc_decomp (length <= 4, 16-bit offsets)")
    comps = sorted((d[0], d[1], cp) for cp, d in decomp.items() if len(d) == 2 and cp not in full_excl)

    out = [
        "/* unicode_data.c — GENERATED by scripts/gen_unicode_tables.py from Unicode " + version + " (Debian",
        " * unicode-data: UnicodeData.txt, PropList.txt, DerivedNormalizationProps.txt,",
        " * CompositionExclusions.txt). Do not edit; rerun the script. */",
        "#include \"unicode.h\"",
        "",
        f"const char vka_unicode_version[] = \"{version}\";",
        f"const uint32_t vka_unicode_nfc_first = 0x{nfc_first:04X};",
        "",
        f"/* Class flags of each code point: block vka_uc_stage1[cp >> {shift}], entry cp & {(1 << shift) - 1}. */",
        f"const unsigned vka_uc_shift = {shift};",
    ]
    emit_array(out, stage1_type, "vka_uc_stage1", stage1, 32)
    emit_array(out, "uint8_t", "vka_uc_blocks", [v for b in blocks for v in b], 32)
    out.append("")
    out.append("/* Canonical combining classes other than 0: {first, last, class}, sorted. */")
    out.append(f"const vka_uc_ccc_range vka_uc_ccc[{len(ccc_ranges)}] = {{")
    for a, b, c in ccc_ranges:
        out.append(f"    {{0x{a:04X}, 0x{b:04X}, {c}}},")
    out.append("};")
    out.append(f"const size_t vka_uc_n_ccc = {len(ccc_ranges)};")
    out.append("")
    out.append("/* Full canonical decompositions (Hangul syllables are algorithmic): {code point,")
    out.append(" * offset into vka_uc_decomp_data, length}, sorted by code point. */")
    out.append(f"const vka_uc_decomp vka_uc_decomps[{len(decomp_entries)}] = {{")
    for cp, off, n in decomp_entries:
        out.append(f"    {{0x{cp:04X}, {off}, {n}}},")
    out.append("};")
    out.append(f"const size_t vka_uc_n_decomps = {len(decomp_entries)};")
    emit_array(out, "uint32_t", "vka_uc_decomp_data", decomp_data, 8, "0x{:04X}")
    out.append("")
    out.append("/* Primary composites (two-code-point canonical decompositions that are not")
    out.append(" * composition exclusions): {first, second, composite}, sorted by (first, second). */")
    out.append(f"const vka_uc_comp vka_uc_comps[{len(comps)}] = {{")
    for a, b, c in comps:
        out.append(f"    {{0x{a:04X}, 0x{b:04X}, 0x{c:04X}}},")
    out.append("};")
    out.append(f"const size_t vka_uc_n_comps = {len(comps)};")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
