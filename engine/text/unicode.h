/* unicode.h — the Unicode properties the tokenizers need (letter, number and
 * White_Space classes) and NFC normalization, over the tables that
 * scripts/gen_unicode_tables.py generates into unicode_data.c. */
#ifndef VKA_UNICODE_H
#define VKA_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkagent.h"

/* Class flags of a code point (vka_unicode_flags). */
enum {
    VKA_UC_LETTER = 1,      /* General_Category L* (\p{L}) */
    VKA_UC_NUMBER = 2,      /* General_Category N* (\p{N}) */
    VKA_UC_SPACE = 4,       /* White_Space (\s) */
    VKA_UC_QC_NO = 8,       /* NFC_Quick_Check = No */
    VKA_UC_QC_MAYBE = 16,   /* NFC_Quick_Check = Maybe */
    VKA_UC_CCC = 32,        /* canonical combining class other than 0 */
};

/* ---- the generated tables (unicode_data.c) ---- */

typedef struct vka_uc_ccc_range {
    uint32_t first, last;
    uint8_t ccc;
} vka_uc_ccc_range;

typedef struct vka_uc_decomp {
    uint32_t cp;
    uint16_t offset;        /* into vka_uc_decomp_data */
    uint8_t len;
} vka_uc_decomp;

typedef struct vka_uc_comp {
    uint32_t first, second, composite;
} vka_uc_comp;

extern const char vka_unicode_version[];
extern const uint32_t vka_unicode_nfc_first;   /* below it: NFC quick check Yes, combining class 0 */
extern const unsigned vka_uc_shift;
extern const uint8_t vka_uc_stage1[];
extern const uint8_t vka_uc_blocks[];
extern const vka_uc_ccc_range vka_uc_ccc[];
extern const size_t vka_uc_n_ccc;
extern const vka_uc_decomp vka_uc_decomps[];
extern const size_t vka_uc_n_decomps;
extern const uint32_t vka_uc_decomp_data[];
extern const vka_uc_comp vka_uc_comps[];
extern const size_t vka_uc_n_comps;

/* ---- queries ---- */

/* VKA_UC_* flags of cp; 0 for values above U+10FFFF. */
static inline unsigned vka_unicode_flags(uint32_t cp) {
    if (cp >= 0x110000) return 0;
    return vka_uc_blocks[((uint32_t)vka_uc_stage1[cp >> vka_uc_shift] << vka_uc_shift) |
                         (cp & ((1u << vka_uc_shift) - 1))];
}

/* Canonical combining class (0 for starters). */
uint8_t vka_unicode_ccc(uint32_t cp);

/* The primary composite of the pair (Hangul included), or 0 when none. */
uint32_t vka_unicode_compose(uint32_t first, uint32_t second);

/* Writes cp's full canonical decomposition (Hangul included) to out (room
 * for 4) and returns its length; 1 (cp itself) when it has none. */
size_t vka_unicode_decompose(uint32_t cp, uint32_t out[4]);

/* True when the UTF-8 text is certainly NFC already (quick check "Yes"):
 * then NFC would return it unchanged. Invalid bytes count as starters. */
bool vka_nfc_quick_check(const char *text, size_t len);

/* NFC of `len` bytes of UTF-8 text (canonical decomposition, canonical
 * ordering, canonical composition). Bytes that are not valid UTF-8 are
 * copied through unchanged and block composition across them. *out is
 * malloc'ed and NUL-terminated (caller frees). */
vka_status vka_nfc(const char *text, size_t len, char **out, size_t *out_len);

#endif
