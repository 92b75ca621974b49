/* json_unique_scan.c — follows JSON output byte by byte (containers with the
 * instance path of each, string and literal states, where each value began)
 * and keeps the canonical forms of the elements of open annotated arrays, so
 * that a token can be tried: would its bytes complete an element equal to an
 * earlier one of the same array? A string element completes at its closing
 * quote, a container at its closing bracket, a number at the byte after it,
 * and true/false/null at their first letter (the rest is forced), so a repeat
 * is refused as early as the bytes decide it. */
#include <stdlib.h>
#include <string.h>

#include "structured/json_unique_impl.h"
#include "structured/json_rules.h"
#include "base/status.h"

typedef enum lv_kind { LV_ROOT, LV_ARRAY, LV_OBJECT } lv_kind;

typedef enum lv_phase {
    PH_VALUE,       /* a value must start: after ',' or ':', or at the root */
    PH_FIRST,       /* just after '[' or '{': a value, a name, or the end */
    PH_NAME,        /* objects, after ',': a member name must start */
    PH_IN_NAME,     /* inside a member name */
    PH_COLON,       /* after a member name */
    PH_IN_SCALAR,   /* inside a string, number or literal value */
    PH_IN_CHILD,    /* the value is a container, open above this level */
    PH_AFTER,       /* after a value: ',' or the end of the container */
} lv_phase;

typedef enum lv_scalar { SC_STRING, SC_NUMBER, SC_LITERAL } lv_scalar;

typedef struct ju_level {
    uint8_t kind, phase, scalar;
    bool escaped;            /* strings: the byte before was a backslash */
    bool annotated;          /* an array whose elements must be distinct */
    const char *literal;     /* literals: the bytes still expected */
    uint32_t path_len;       /* containers: the length of their instance path */
    uint64_t index;          /* arrays: the index of the current element */
    size_t value_start;      /* where the current value began in the text */
    size_t name_start, name_end;   /* objects: the current member name, raw */
    uint32_t live_start, live_n;   /* patterns that may match this level or below */
    uint32_t last_elem;      /* annotated arrays: 1 + the entry of the last element, 0 none */
    uint32_t elems_mark, live_mark;
    size_t arena_mark;       /* the stacks' sizes when the level opened */
} ju_level;

typedef struct ju_elem {
    uint64_t hash;           /* of the whole canonical form */
    size_t off, len;         /* its canonical form in the arena (len: whole) */
    uint32_t prev;           /* 1 + the entry of the element before it in the same array, 0 none */
    bool after_pend;         /* the arena holds only what follows the committed pending
                              * string's prefix (trials only: commits keep elements whole) */
} ju_elem;

struct ju_scan {
    const ju_set *set;
    ju_level *levels;        /* levels[0] holds the document itself */
    uint32_t depth, cap_levels;
    uint32_t *live;          /* pattern indices; each level's range */
    uint32_t n_live, cap_live;
    ju_buf text;             /* the output so far */
    ju_buf arena;            /* canonical forms of the elements of open annotated arrays */
    ju_elem *elems;
    uint32_t n_elems, cap_elems;
    uint32_t n_annotated;    /* open annotated arrays */
    bool lost;               /* the bytes are not JSON: nothing more is checked */
    bool repeated, oom;
    ju_canon_scratch scratch;
    ju_buf name;             /* a member name's canonical form, for matching */
    ju_buf prefix;           /* a pending string's canonical form so far */
    /* the committed pending string's canonical form so far (no terminator),
     * so that trials compare only what their own bytes add */
    ju_buf pend;
    size_t pend_start;       /* its value_start; SIZE_MAX when none */
    size_t pend_upto;        /* the raw text it covers ends here, at no escape */
    uint64_t pend_hash;      /* the hash state after it */
    bool pend_free;          /* no earlier element of its array begins with it */
    /* nested trials (ju_scan_push): while any is open, closing a level keeps
     * its data, so that undoing a trial only restores sizes and top levels */
    struct ju_snapshot *snaps;
    uint32_t n_snaps, cap_snaps;
    ju_level *saved;         /* the top levels of each open trial, in order */
    uint32_t n_saved, cap_saved;
};

typedef struct ju_snapshot {
    uint32_t depth, n_live, n_elems, n_annotated;
    size_t text_len, arena_len;
    bool lost;
    uint32_t lo, keep;       /* levels[lo, lo + keep) were saved at saved[n_saved - keep] */
} ju_snapshot;

#define FNV_BASIS UINT64_C(0xcbf29ce484222325)

/* FNV-1a from state h: hashing a form in two parts gives its whole hash. */
static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

static ju_level *top(ju_scan *s) { return &s->levels[s->depth - 1]; }

/* ---------------------------------------------------------------- elements */

/* Element x's canonical form begins with c[0, n). */
static bool elem_has_prefix(const ju_scan *s, const ju_elem *x, const unsigned char *c, size_t n) {
    if (x->len < n) return false;
    size_t k = x->after_pend ? (n < s->pend.len ? n : s->pend.len) : 0;
    if (k && memcmp(s->pend.data, c, k) != 0) return false;
    return n == k || memcmp(s->arena.data + x->off, c + k, n - k) == 0;
}

static bool same_elem(const ju_scan *s, const ju_elem *x, const ju_elem *y) {
    if (x->hash != y->hash || x->len != y->len) return false;
    if (x->after_pend && y->after_pend) return memcmp(s->arena.data + x->off, s->arena.data + y->off, x->len - s->pend.len) == 0;
    if (y->after_pend) return elem_has_prefix(s, y, s->arena.data + x->off, x->len);
    return elem_has_prefix(s, x, s->arena.data + y->off, y->len);
}

static bool is_repeat(const ju_scan *s, const ju_level *lv, const ju_elem *cand) {
    for (uint32_t e = lv->last_elem; e; e = s->elems[e - 1].prev)
        if (same_elem(s, &s->elems[e - 1], cand)) return true;
    return false;
}

/* Files the canonical form just written at arena[off..] (after the committed
 * pending string's prefix when after_pend) as the next element of lv, or
 * notes a repeat (and drops it). */
static void file_element(ju_scan *s, ju_level *lv, size_t off, bool after_pend) {
    size_t n = s->arena.len - off;
    ju_elem cand = {fnv1a(after_pend ? s->pend_hash : FNV_BASIS, s->arena.data + off, n), off,
                    n + (after_pend ? s->pend.len : 0), lv->last_elem, after_pend};
    if (is_repeat(s, lv, &cand)) {
        s->repeated = true;
        s->arena.len = off;
        return;
    }
    if (!js_grow((void **)&s->elems, &s->cap_elems, s->n_elems + 1, sizeof *s->elems)) {
        s->oom = true;
        return;
    }
    s->elems[s->n_elems++] = cand;
    lv->last_elem = s->n_elems;
}

/* Appends to out the canonical form, without its terminator, of the string
 * starting at text[start] whose raw content so far ends at end; with
 * after_pend, only what it adds to the committed pending string's prefix. */
static bool string_so_far(ju_scan *s, size_t start, size_t end, bool after_pend, ju_buf *out, bool *oom) {
    size_t from = start + 1;
    *oom = false;
    if (start == s->pend_start && end >= s->pend_upto) {
        if (!after_pend && !ju_buf_reserve(out, s->pend.len)) return !(*oom = true);
        if (!after_pend) memcpy(out->data + out->len, s->pend.data, s->pend.len), out->len += s->pend.len;
        from = s->pend_upto;
    } else if (!ju_buf_reserve(out, 1)) {
        return !(*oom = true);
    } else {
        out->data[out->len++] = JU_STRING;
    }
    return ju_canonical_string_body((const char *)s->text.data + from, end - from, out, oom);
}

/* The value text[start, end) completes an element of annotated array lv. */
static void add_element(ju_scan *s, ju_level *lv, size_t start, size_t end) {
    size_t off = s->arena.len;
    bool valid = false, oom = false;
    /* a trial ending the committed pending string (often long) writes only
     * what its own bytes add; a commit keeps elements whole */
    bool after_pend = s->n_snaps && start == s->pend_start && end - 1 >= s->pend_upto;
    if (s->text.data[start] == '"') {
        valid = string_so_far(s, start, end - 1, after_pend, &s->arena, &oom);
        if (valid && !ju_buf_reserve(&s->arena, 1)) valid = false, oom = true;
        if (valid) s->arena.data[s->arena.len++] = 0;
        else s->arena.len = off;
    } else if (ju_canonical((const char *)s->text.data + start, end - start, &s->scratch, &s->arena, &valid) != VKA_OK) {
        oom = true;
    }
    if (oom) s->oom = true;
    else if (!valid) s->lost = true;
    else file_element(s, lv, off, after_pend && s->text.data[start] == '"');
}

/* A literal element, decided by its first letter (its canonical code). */
static void add_literal(ju_scan *s, ju_level *lv, unsigned char code) {
    size_t off = s->arena.len;
    if (!ju_buf_reserve(&s->arena, 1)) {
        s->oom = true;
        return;
    }
    s->arena.data[s->arena.len++] = code;
    file_element(s, lv, off, false);
}

/* ---------------------------------------------------------------- paths */

/* Whether the member name of object lv is the name of step. */
static bool name_matches(ju_scan *s, const ju_level *lv, const ju_step *step) {
    s->name.len = 0;
    bool oom = false;
    if (!ju_canonical_string((const char *)s->text.data + lv->name_start, lv->name_end - lv->name_start, &s->name, &oom)) {
        if (oom) s->oom = true;
        else s->lost = true;
        return false;
    }
    return s->name.len == step->name_len && memcmp(s->name.data, s->set->names.data + step->name_off, step->name_len) == 0;
}

static bool step_matches(ju_scan *s, const ju_level *parent, const ju_step *step) {
    if (step->kind == JU_STEP_ANY) return true;
    if (step->kind == JU_STEP_INDEX) return parent->kind == LV_ARRAY && parent->index == step->index;
    return parent->kind == LV_OBJECT && name_matches(s, parent, step);
}

/* The patterns still matching the new container's path, and whether one
 * ends there (for an array: annotated). */
static void set_live(ju_scan *s, uint32_t parent_i, ju_level *child) {
    const ju_set *set = s->set;
    child->live_start = s->n_live;
    child->live_n = 0;
    if (!set) return;
    const ju_level *parent = &s->levels[parent_i];
    uint32_t n = parent->kind == LV_ROOT ? set->n_patterns : parent->live_n;
    if (!js_grow((void **)&s->live, &s->cap_live, s->n_live + n, sizeof *s->live)) {
        s->oom = true;
        return;
    }
    for (uint32_t k = 0; k < n && !s->lost; k++) {
        uint32_t p = parent->kind == LV_ROOT ? k : s->live[parent->live_start + k];
        const ju_pattern *pat = &set->patterns[p];
        if (parent->kind != LV_ROOT && (pat->n <= parent->path_len ||   /* it ended at the parent */
                                        !step_matches(s, parent, &set->steps[pat->first + parent->path_len])))
            continue;
        s->live[s->n_live++] = p;
        child->live_n++;
        if (pat->n == child->path_len && child->kind == LV_ARRAY) child->annotated = true;
    }
}

/* ---------------------------------------------------------------- levels */

static void push(ju_scan *s, lv_kind kind, size_t pos) {
    if (!js_grow((void **)&s->levels, &s->cap_levels, s->depth + 1, sizeof *s->levels)) {
        s->oom = true;
        return;
    }
    uint32_t parent_i = s->depth - 1;
    ju_level *parent = &s->levels[parent_i];
    ju_level *child = &s->levels[s->depth];
    *child = (ju_level){.kind = (uint8_t)kind, .phase = PH_FIRST, .value_start = pos,
                        .path_len = parent->kind == LV_ROOT ? 0 : parent->path_len + 1,
                        .elems_mark = s->n_elems, .live_mark = s->n_live, .arena_mark = s->arena.len};
    /* patterns only matter where an ancestor kept some: the others skip the work */
    if (parent->kind == LV_ROOT || parent->live_n) set_live(s, parent_i, child);
    s->depth++;
    if (child->annotated) s->n_annotated++;
}

/* Closes the top container (its closing byte at pos): the value of the level
 * below is complete. */
static void pop(ju_scan *s, size_t pos) {
    ju_level *child = top(s);
    if (child->annotated) s->n_annotated--;
    if (!s->n_snaps) {
        s->n_live = child->live_mark;
        s->n_elems = child->elems_mark;
        s->arena.len = child->arena_mark;
    }
    s->depth--;
    ju_level *parent = top(s);
    parent->phase = PH_AFTER;
    if (parent->annotated) add_element(s, parent, parent->value_start, pos + 1);
}

/* ---------------------------------------------------------------- bytes */

static bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static bool number_byte(unsigned char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static void start_value(ju_scan *s, ju_level *lv, unsigned char c, size_t pos) {
    static const char *const rest[] = {"ull", "rue", "alse"};
    lv->value_start = pos;
    lv->phase = PH_IN_SCALAR;
    lv->escaped = false;
    if (c == '"') {
        lv->scalar = SC_STRING;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        lv->scalar = SC_NUMBER;
    } else if (c == 'n' || c == 't' || c == 'f') {
        lv->scalar = SC_LITERAL;
        lv->literal = rest[c == 'n' ? 0 : c == 't' ? 1 : 2];
        if (lv->annotated) add_literal(s, lv, c);
    } else if (c == '[' || c == '{') {
        lv->phase = PH_IN_CHILD;
        push(s, c == '[' ? LV_ARRAY : LV_OBJECT, pos);
    } else {
        s->lost = true;
    }
}

/* A byte inside a string (value or name); true at its closing quote. */
static bool string_ends(ju_level *lv, unsigned char c) {
    if (lv->escaped) return lv->escaped = false;
    if (c == '\\') return !(lv->escaped = true);
    return c == '"';
}

static void start_name(ju_scan *s, ju_level *lv, unsigned char c, size_t pos) {
    if (c != '"') {
        s->lost = true;
        return;
    }
    lv->name_start = pos + 1;
    lv->phase = PH_IN_NAME;
    lv->escaped = false;
}

/* The scalar at the top level ends before end. */
static void scalar_done(ju_scan *s, ju_level *lv, size_t end) {
    lv->phase = PH_AFTER;
    if (lv->annotated) add_element(s, lv, lv->value_start, end);
}

static void in_scalar(ju_scan *s, ju_level *lv, unsigned char c, size_t pos, bool *again) {
    if (lv->scalar == SC_STRING) {
        if (string_ends(lv, c)) scalar_done(s, lv, pos + 1);
    } else if (lv->scalar == SC_LITERAL) {
        if (c != (unsigned char)*lv->literal) s->lost = true;
        else if (!*++lv->literal) lv->phase = PH_AFTER; /* its element was filed at its first letter */
    } else if (!number_byte(c)) {
        scalar_done(s, lv, pos);
        *again = true; /* the byte after the number is read as such */
    }
}

/* ',' or the end of a container, after a value or just after its opening bracket. */
static void after_value(ju_scan *s, ju_level *lv, unsigned char c, size_t pos) {
    if (c == ',' && lv->phase == PH_AFTER && lv->kind != LV_ROOT) {
        lv->index++;
        lv->phase = lv->kind == LV_ARRAY ? PH_VALUE : PH_NAME;
    } else if ((c == ']' && lv->kind == LV_ARRAY) || (c == '}' && lv->kind == LV_OBJECT)) {
        pop(s, pos);
    } else {
        s->lost = true;
    }
}

static void feed(ju_scan *s, size_t pos) {
    unsigned char c = s->text.data[pos];
    bool again;
    do {
        again = false;
        ju_level *lv = top(s);
        switch ((lv_phase)lv->phase) {
        case PH_IN_SCALAR: in_scalar(s, lv, c, pos, &again); break;
        case PH_IN_NAME:
            if (string_ends(lv, c)) lv->name_end = pos, lv->phase = PH_COLON;
            break;
        case PH_COLON:
            if (c == ':') lv->phase = PH_VALUE;
            else if (!is_ws(c)) s->lost = true;
            break;
        case PH_FIRST:
            if (is_ws(c)) break;
            if (c == ']' || c == '}') after_value(s, lv, c, pos);
            else if (lv->kind == LV_ARRAY) start_value(s, lv, c, pos);
            else start_name(s, lv, c, pos);
            break;
        case PH_NAME:
            if (!is_ws(c)) start_name(s, lv, c, pos);
            break;
        case PH_VALUE:
            if (!is_ws(c)) start_value(s, lv, c, pos);
            break;
        case PH_AFTER:
            if (!is_ws(c)) after_value(s, lv, c, pos);
            break;
        case PH_IN_CHILD: s->lost = true; break;
        }
    } while (again && !s->lost && !s->repeated && !s->oom);
}

/* ---------------------------------------------------------------- running */

static void update_pending(ju_scan *s);

static void start_document(ju_scan *s) {
    s->depth = 1;
    s->levels[0] = (ju_level){.kind = LV_ROOT, .phase = PH_VALUE};
    s->n_live = s->n_elems = s->n_annotated = 0;
    s->text.len = s->arena.len = 0;
    s->lost = s->repeated = s->oom = false;
    s->n_snaps = s->n_saved = 0;
    s->pend_start = SIZE_MAX;
}

vka_status ju_scan_create(const ju_set *set, ju_scan **out) {
    *out = NULL;
    ju_scan *s = calloc(1, sizeof *s);
    if (!s || !js_grow((void **)&s->levels, &s->cap_levels, 8, sizeof *s->levels)) {
        free(s);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    s->set = set;
    start_document(s);
    *out = s;
    return VKA_OK;
}

void ju_scan_free(ju_scan *s) {
    if (!s) return;
    free(s->levels);
    free(s->live);
    free(s->elems);
    free(s->saved);
    free(s->snaps);
    ju_buf_free(&s->prefix);
    ju_buf_free(&s->pend);
    ju_buf_free(&s->text);
    ju_buf_free(&s->arena);
    ju_buf_free(&s->name);
    ju_canon_scratch_free(&s->scratch);
    free(s);
}

void ju_scan_reset(ju_scan *s) { start_document(s); }

/* Feeds bytes (appended to the text) until the end, a repeat or a problem. */
static vka_status run(ju_scan *s, const char *bytes, size_t len, bool *repeats) {
    *repeats = false;
    if (s->lost || !len) return VKA_OK;
    if (!ju_buf_reserve(&s->text, len)) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory following JSON output");
    size_t start = s->text.len;
    memcpy(s->text.data + start, bytes, len);
    s->text.len += len;
    s->repeated = false;
    for (size_t i = 0; i < len && !s->lost && !s->repeated && !s->oom; i++) feed(s, start + i);
    *repeats = s->repeated;
    return s->oom ? vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory comparing array elements") : VKA_OK;
}

/* A trial changes at most the top level and one more per closing bracket in
 * its bytes (levels opened above are new); everything else it only appends to. */
vka_status ju_scan_push(ju_scan *s, const char *bytes, size_t len, bool *repeats) {
    *repeats = false;
    uint32_t closers = 0;
    for (size_t i = 0; i < len; i++) closers += bytes[i] == ']' || bytes[i] == '}';
    uint32_t keep = closers + 1 < s->depth ? closers + 1 : s->depth, lo = s->depth - keep;
    if (!js_grow((void **)&s->saved, &s->cap_saved, s->n_saved + keep, sizeof *s->saved) ||
        !js_grow((void **)&s->snaps, &s->cap_snaps, s->n_snaps + 1, sizeof *s->snaps))
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory following JSON output");
    memcpy(s->saved + s->n_saved, s->levels + lo, keep * sizeof *s->saved);
    s->n_saved += keep;
    s->snaps[s->n_snaps++] = (ju_snapshot){s->depth, s->n_live, s->n_elems, s->n_annotated, s->text.len,
                                           s->arena.len, s->lost, lo, keep};
    vka_status st = run(s, bytes, len, repeats);
    s->repeated = s->oom = false;
    if (st != VKA_OK) ju_scan_pop(s); /* an error pushes nothing */
    return st;
}

void ju_scan_pop(ju_scan *s) {
    if (!s->n_snaps) return;
    const ju_snapshot *t = &s->snaps[--s->n_snaps];
    s->n_saved -= t->keep;
    memcpy(s->levels + t->lo, s->saved + s->n_saved, t->keep * sizeof *s->saved);
    s->depth = t->depth, s->n_live = t->n_live, s->n_elems = t->n_elems, s->n_annotated = t->n_annotated;
    s->text.len = t->text_len, s->arena.len = t->arena_len;
    s->lost = t->lost;
}

vka_status ju_scan_try(ju_scan *s, const char *bytes, size_t len, bool *repeats) {
    vka_status st = ju_scan_push(s, bytes, len, repeats);
    ju_scan_pop(s);
    return st;
}

vka_status ju_scan_commit(ju_scan *s, const char *bytes, size_t len, bool *repeats) {
    vka_status st = run(s, bytes, len, repeats);
    /* stopped inside the bytes (the document is rejected, or memory ran out):
     * the state no longer follows the text, so nothing more is checked */
    if (st != VKA_OK || *repeats) s->lost = true;
    s->repeated = s->oom = false;
    update_pending(s);
    return st;
}

unsigned ju_token_flags(const char *bytes, size_t len) {
    unsigned f = 0;
    for (size_t i = 0; i < len; i++) {
        if (bytes[i] == '"') f |= JU_TOKEN_QUOTE;
        else if (bytes[i] == '[') f |= JU_TOKEN_BRACKET;
        else if (bytes[i] == '\\') f |= JU_TOKEN_BACKSLASH;
    }
    return f;
}

bool ju_scan_in_annotated(const ju_scan *s) { return !s->lost && s->n_annotated > 0; }

bool ju_scan_in_string(const ju_scan *s) {
    const ju_level *lv = &s->levels[s->depth - 1];
    return lv->phase == PH_IN_NAME || (lv->phase == PH_IN_SCALAR && lv->scalar == SC_STRING);
}

/* Only elements of open annotated arrays can repeat, or of one the token
 * opens itself (with a '['); inside a string, nothing happens before a quote. */
bool ju_scan_must_try(const ju_scan *s, unsigned flags) {
    if (!s || s->lost) return false;
    bool may = s->n_annotated > 0 || (flags & JU_TOKEN_BRACKET);
    return may && (!ju_scan_in_string(s) || (flags & JU_TOKEN_QUOTE));
}

/* The text so far is one whole JSON value. */
static bool complete_value(const ju_scan *s) {
    const ju_level *root = &s->levels[0];
    if (s->lost || s->depth != 1) return false;
    return root->phase == PH_AFTER || (root->phase == PH_IN_SCALAR && root->scalar == SC_NUMBER);
}

vka_status ju_check_document(const ju_set *set, const char *doc, size_t len, bool *ok) {
    *ok = false;
    ju_scan *s = NULL;
    VKA_TRY(ju_scan_create(set, &s));
    bool repeats = false;
    vka_status st = ju_scan_commit(s, doc, len, &repeats);
    *ok = st == VKA_OK && !repeats && complete_value(s);
    ju_scan_free(s);
    return st;
}

/* ---------------------------------------------------------------- the element in progress */

ju_pending ju_scan_pending(const ju_scan *s) {
    const ju_level *lv = &s->levels[s->depth - 1];
    if (s->lost || !lv->annotated || lv->phase != PH_IN_SCALAR) return JU_PENDING_NONE;
    return lv->scalar == SC_STRING ? JU_PENDING_STRING : lv->scalar == SC_NUMBER ? JU_PENDING_NUMBER : JU_PENDING_NONE;
}

/* Where raw string content ends: inside an escape, just after a high
 * surrogate escape (which a low one may still join), inside a UTF-8
 * character, or plainly. */
static ju_tail string_tail(const char *raw, size_t n) {
    size_t i = 0;
    bool high = false;
    while (i < n) {
        high = false;
        if (raw[i] != '\\') {
            i++;
        } else if (i + 1 >= n) {
            return JU_TAIL_ESCAPE;
        } else if (raw[i + 1] != 'u') {
            i += 2;
        } else if (n - i < 6) {
            return JU_TAIL_HEX;
        } else {
            high = (raw[i + 2] == 'd' || raw[i + 2] == 'D') && raw[i + 3] && strchr("89abAB", raw[i + 3]);
            i += 6;
        }
    }
    if (high) return JU_TAIL_HIGH;
    /* a lead byte with fewer continuation bytes after it than it needs */
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)raw[n - k];
        if ((c & 0xC0) == 0x80) continue;
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > k ? JU_TAIL_MIDCHAR : JU_TAIL_PLAIN;
    }
    return JU_TAIL_PLAIN;
}

ju_tail ju_scan_string_tail(const ju_scan *s) {
    const ju_level *lv = &s->levels[s->depth - 1];
    if (ju_scan_pending(s) != JU_PENDING_STRING) return JU_TAIL_PLAIN;
    return string_tail((const char *)s->text.data + lv->value_start + 1, s->text.len - lv->value_start - 1);
}

static bool unsettled_escape(const char *raw, size_t n) {
    ju_tail t = string_tail(raw, n);
    return t == JU_TAIL_ESCAPE || t == JU_TAIL_HEX || t == JU_TAIL_HIGH;
}

/* The pending string's canonical form so far (without its final 0) in
 * s->prefix; false when its end is not settled. */
static bool string_prefix(ju_scan *s, bool *oom) {
    const ju_level *lv = top(s);
    size_t from = lv->value_start == s->pend_start ? s->pend_upto : lv->value_start + 1; /* a settled point */
    *oom = false;
    if (unsettled_escape((const char *)s->text.data + from, s->text.len - from)) return false;
    s->prefix.len = 0;
    return string_so_far(s, lv->value_start, s->text.len, false, &s->prefix, oom);
}

/* The last point of raw[i, n) (i a settled point) where no escape is open
 * and no high surrogate waits for its low half. */
static size_t settled_end(const char *raw, size_t i, size_t n) {
    size_t settled = i;
    while (i < n) {
        if (raw[i] != '\\') {
            settled = ++i;
        } else if (i + 1 >= n) {
            break;
        } else if (raw[i + 1] != 'u') {
            settled = i += 2;
        } else if (n - i < 6) {
            break;
        } else {
            bool high = (raw[i + 2] == 'd' || raw[i + 2] == 'D') && raw[i + 3] && strchr("89abAB", raw[i + 3]);
            i += 6;
            if (!high) settled = i;
        }
    }
    return settled;
}

/* After a commit: the committed pending string's canonical form so far, kept. */
static void update_pending(ju_scan *s) {
    const ju_level *lv = top(s);
    if (ju_scan_pending(s) != JU_PENDING_STRING) {
        s->pend_start = SIZE_MAX;
        return;
    }
    bool oom = false;
    if (s->pend_start != lv->value_start) {
        s->pend.len = 0;
        s->pend_start = lv->value_start;
        s->pend_upto = lv->value_start + 1;
        if (!ju_buf_reserve(&s->pend, 1)) oom = true;
        else s->pend.data[s->pend.len++] = JU_STRING;
        s->pend_hash = fnv1a(FNV_BASIS, s->pend.data, s->pend.len);
    }
    const char *raw = (const char *)s->text.data;
    size_t end = settled_end(raw, s->pend_upto, s->text.len), had = s->pend.len;
    if (oom || !ju_canonical_string_body(raw + s->pend_upto, end - s->pend_upto, &s->pend, &oom)) {
        s->pend_start = SIZE_MAX; /* invalid or out of memory: trials then start from the string's beginning */
        return;
    }
    s->pend_upto = end;
    s->pend_hash = fnv1a(s->pend_hash, s->pend.data + had, s->pend.len - had);
    s->pend_free = true;
    for (uint32_t e = lv->last_elem; e && s->pend_free; e = s->elems[e - 1].prev)
        s->pend_free = !elem_has_prefix(s, &s->elems[e - 1], s->pend.data, s->pend.len);
}

bool ju_scan_pending_free(const ju_scan *s) {
    return !s->n_snaps && ju_scan_pending(s) == JU_PENDING_STRING && s->pend_start == s->levels[s->depth - 1].value_start &&
           s->pend_free;
}

/* Whether the pending number so far is a whole JSON number equal to an element before it. */
static vka_status number_repeats(ju_scan *s, bool *may) {
    ju_level *lv = top(s);
    size_t off = s->arena.len;
    bool valid = false;
    if (ju_canonical((const char *)s->text.data + lv->value_start, s->text.len - lv->value_start, &s->scratch,
                     &s->arena, &valid) != VKA_OK)
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory comparing array elements");
    size_t n = s->arena.len - off;
    ju_elem cand = {fnv1a(FNV_BASIS, s->arena.data + off, n), off, n, 0, false};
    *may = !valid || is_repeat(s, lv, &cand); /* "1." is no number yet */
    s->arena.len = off;
    return VKA_OK;
}

vka_status ju_scan_may_repeat(ju_scan *s, bool *may) {
    *may = false;
    ju_pending kind = ju_scan_pending(s);
    if (kind == JU_PENDING_NUMBER) return number_repeats(s, may);
    if (kind != JU_PENDING_STRING) return VKA_OK;
    /* just opened: on its way to no value yet (whether one is left at all is
     * not looked ahead; it is what the next bytes decide) */
    if (s->text.len == top(s)->value_start + 1) return VKA_OK;
    bool oom;
    if (!string_prefix(s, &oom)) {
        *may = !oom;
        return oom ? vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory comparing array elements") : VKA_OK;
    }
    const ju_level *lv = top(s);
    for (uint32_t e = lv->last_elem; e && !*may; e = s->elems[e - 1].prev) {
        const ju_elem *x = &s->elems[e - 1];
        *may = x->len > s->prefix.len && elem_has_prefix(s, x, s->prefix.data, s->prefix.len);
    }
    return VKA_OK;
}

/* How many bytes of a canonical string's rest a raw JSON string spells as
 * they are: up to a byte that needs an escape (a quote, a backslash, a
 * control character, the escaped 0 and 1) or a surrogate's lead byte. */
static size_t raw_run(const unsigned char *c, size_t n) {
    size_t k = 0;
    while (k < n && c[k] >= 0x20 && c[k] != '"' && c[k] != '\\' && !(c[k] == 0xED && k + 1 < n && c[k + 1] >= 0xA0))
        k++;
    return k;
}

vka_status ju_scan_continuations(ju_scan *s, void (*each)(void *ctx, const unsigned char *rest, size_t len), void *ctx,
                                 bool *listed) {
    *listed = false;
    if (ju_scan_pending(s) != JU_PENDING_STRING) return VKA_OK;
    bool oom;
    if (!string_prefix(s, &oom))
        return oom ? vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory comparing array elements") : VKA_OK;
    *listed = true;
    const ju_level *lv = top(s);
    for (uint32_t e = lv->last_elem; e; e = s->elems[e - 1].prev) {
        const ju_elem *x = &s->elems[e - 1];
        const unsigned char *c = s->arena.data + x->off;
        if (x->after_pend || x->len <= s->prefix.len || memcmp(c, s->prefix.data, s->prefix.len) != 0)
            continue; /* (elements are whole outside trials, where this is asked) */
        size_t rest = x->len - 1 - s->prefix.len; /* without the terminator */
        size_t n = raw_run(c + s->prefix.len, rest);
        if (n) each(ctx, c + s->prefix.len, n);
    }
    return VKA_OK;
}
