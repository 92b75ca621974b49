/* regex_probe.c — the regex module driven by JSON lines on stdin, for the
 * oracle test against JavaScript (tests/regex/compare.mjs). Commands:
 *   {"pattern": P} | {"format": F}, optional "flags": "i" or "iu" (internal
 *       case-insensitive syntax), optional "limit": [min, max or -1]
 *       -> {"ok": true, "known": bool} or {"ok": false, "error": "..."};
 *       the language's GBNF (raw and JSON spelling) is built and parsed too.
 *   {"test": [[code points], ...]} -> {"r": "0110..."} from re_contains; every
 *       string is also run through both grammars (the JSON one with a seeded
 *       mix of escapes), and any disagreement is listed in "mismatch".
 *   {"equiv": {"format": F, "pattern": P, "flags": "i"}} -> {"equal": bool,
 *       "ours_only": [cps], "theirs_only": [cps]} (shortest witnesses).
 * One output line per command. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "structured/regex_impl.h"
#include "regex_spell.h"
#include "base/utf8.h"

typedef struct probe {
    re_lang *lang;
    vka_grammar *raw, *json;
    uint64_t rng;
} probe;

static void probe_clear(probe *p) {
    re_free(p->lang);
    vka_grammar_free(p->raw);
    vka_grammar_free(p->json);
    p->lang = NULL;
    p->raw = p->json = NULL;
}

static void print_json(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    puts(s ? s : "{\"ok\":false,\"error\":\"out of memory\"}");
    fflush(stdout);
    free(s);
    cJSON_Delete(o);
}

static vka_status grammar_of(const re_lang *l, re_spelling sp, vka_grammar **out) {
    js_rules rules = {0};
    js_buf expr = {0};
    vka_status s = re_to_gbnf(l, sp, &rules, &expr);
    if (s == VKA_OK) {
        js_buf text = {0};
        js_printf(&text, "root ::= %s\n%s", expr.data, rules.text.data ? rules.text.data : "");
        s = vka_grammar_parse(text.data, "root", out);
        js_buf_free(&text);
    }
    js_buf_free(&expr);
    js_rules_free(&rules);
    return s;
}

static vka_status lang_of(const cJSON *cmd, re_lang **out, bool *known) {
    const cJSON *pat = cJSON_GetObjectItem(cmd, "pattern"), *fmt = cJSON_GetObjectItem(cmd, "format");
    const cJSON *flags = cJSON_GetObjectItem(cmd, "flags");
    *known = true;
    if (cJSON_IsString(pat)) {
        re_case ci = RE_CASE_EXACT;
        if (cJSON_IsString(flags) && strchr(flags->valuestring, 'i'))
            ci = strchr(flags->valuestring, 'u') ? RE_CASE_UNICODE : RE_CASE_ASCII;
        return re_pattern_lang(pat->valuestring, ci, out);
    }
    if (cJSON_IsString(fmt)) return re_from_format(fmt->valuestring, known, out);
    return vka_fail(VKA_ERR_INVALID_ARGUMENT, "probe: no pattern or format");
}

static void cmd_lang(probe *p, const cJSON *cmd) {
    probe_clear(p);
    cJSON *o = cJSON_CreateObject();
    bool known = true;
    vka_status s = lang_of(cmd, &p->lang, &known);
    const cJSON *limit = cJSON_GetObjectItem(cmd, "limit");
    if (s == VKA_OK && p->lang && cJSON_GetArraySize(limit) == 2) {
        double lo = cJSON_GetArrayItem(limit, 0)->valuedouble, hi = cJSON_GetArrayItem(limit, 1)->valuedouble;
        re_lang *l = NULL;
        s = re_limit_length(p->lang, (uint64_t)lo, hi < 0 ? RE_UNBOUNDED : (uint64_t)hi, &l);
        re_free(p->lang);
        p->lang = l;
    }
    if (s == VKA_OK && p->lang && !re_is_empty(p->lang)) {
        vka_status g = grammar_of(p->lang, RE_RAW, &p->raw);
        if (g == VKA_OK) g = grammar_of(p->lang, RE_JSON_STRING, &p->json);
        if (g != VKA_OK) cJSON_AddStringToObject(o, "gbnf_error", vka_last_error());
    }
    cJSON_AddBoolToObject(o, "ok", s == VKA_OK);
    cJSON_AddBoolToObject(o, "known", known);
    if (s != VKA_OK) cJSON_AddStringToObject(o, "error", vka_last_error());
    if (p->lang) cJSON_AddBoolToObject(o, "empty", re_is_empty(p->lang));
    print_json(o);
}

static uint64_t next_rand(probe *p) {
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return p->rng;
}

static bool grammar_accepts(const vka_grammar *g, const char *text, size_t len) {
    vka_grammar_state *st = NULL;
    if (vka_grammar_state_create(g, &st) != VKA_OK) return false;
    bool ok = false;
    bool done = vka_grammar_accept_bytes(st, text, len, &ok) == VKA_OK && ok && vka_grammar_can_end(st);
    vka_grammar_state_free(st);
    return done;
}

static void cmd_test(probe *p, const cJSON *list) {
    cJSON *o = cJSON_CreateObject(), *mism = cJSON_CreateArray();
    size_t n = (size_t)cJSON_GetArraySize(list);
    char *r = calloc(n + 1, 1);
    for (size_t i = 0; i < n; i++) {
        const cJSON *item = cJSON_GetArrayItem(list, (int)i);
        js_buf raw = {0}, json = {0};
        bool valid = true;
        for (const cJSON *c = item->child; c; c = c->next) {
            uint32_t cp = (uint32_t)c->valuedouble;
            char u[4];
            size_t k = vka_utf8_encode(cp, u);
            if (!k) valid = false;
            js_put(&raw, u, k);
            if (k) regex_spell(cp, (unsigned)next_rand(p), &json);
        }
        bool yes = valid && p->lang && re_contains(p->lang, raw.data ? raw.data : "", raw.len);
        r[i] = yes ? '1' : '0';
        if (valid && p->raw && grammar_accepts(p->raw, raw.data ? raw.data : "", raw.len) != yes)
            cJSON_AddItemToArray(mism, cJSON_CreateString("raw grammar disagrees"));
        if (valid && p->json && grammar_accepts(p->json, json.data ? json.data : "", json.len) != yes) {
            js_buf m = {0};
            js_printf(&m, "json grammar disagrees on %s", json.data ? json.data : "");
            cJSON_AddItemToArray(mism, cJSON_CreateString(m.data));
            js_buf_free(&m);
        }
        js_buf_free(&raw), js_buf_free(&json);
    }
    cJSON_AddStringToObject(o, "r", r);
    if (cJSON_GetArraySize(mism)) cJSON_AddItemToObject(o, "mismatch", mism);
    else cJSON_Delete(mism);
    free(r);
    print_json(o);
}

static cJSON *witness(const re_lang *a, const re_lang *b) {
    /* a shortest string of a ∖ b (both DFA-only here) */
    const re_dfa *da = re_lang_dfa_only(a), *db = re_lang_dfa_only(b);
    re_dfa *diff = NULL;
    uint32_t *cps = NULL;
    size_t n = SIZE_MAX;
    if (!da || !db || re_dfa_product(da, db, RE_MINUS, &diff) != VKA_OK) return cJSON_CreateString("(not comparable)");
    re_dfa_shortest(diff, &cps, &n);
    re_dfa_unref(diff);
    if (n == SIZE_MAX) return cJSON_CreateNull();
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(cps[i]));
    free(cps);
    return arr;
}

static void cmd_equiv(const cJSON *e) {
    cJSON *o = cJSON_CreateObject();
    re_lang *ours = NULL, *theirs = NULL;
    bool known;
    vka_status s = re_from_format(cJSON_GetObjectItem(e, "format")->valuestring, &known, &ours);
    if (s == VKA_OK) s = lang_of(e, &theirs, &known);
    cJSON_AddBoolToObject(o, "ok", s == VKA_OK && ours);
    if (s != VKA_OK || !ours) {
        cJSON_AddStringToObject(o, "error", s != VKA_OK ? vka_last_error() : "format unknown");
    } else {
        cJSON *w1 = witness(ours, theirs), *w2 = witness(theirs, ours);
        cJSON_AddBoolToObject(o, "equal", cJSON_IsNull(w1) && cJSON_IsNull(w2));
        cJSON_AddItemToObject(o, "ours_only", w1);
        cJSON_AddItemToObject(o, "theirs_only", w2);
    }
    re_free(ours), re_free(theirs);
    print_json(o);
}

int main(void) {
    probe p = {.rng = 0x9E3779B97F4A7C15u};
    size_t cap = 1 << 16, len = 0;
    char *line = malloc(cap);
    int c;
    while (line) {
        len = 0;
        while ((c = getchar()) != EOF && c != '\n') {
            if (len + 1 >= cap) {
                char *bigger = realloc(line, cap *= 2);
                if (!bigger) return 1;
                line = bigger;
            }
            line[len++] = (char)c;
        }
        if (len == 0 && c == EOF) break;
        line[len] = 0;
        cJSON *cmd = cJSON_Parse(line);
        if (!cmd) {
            puts("{\"ok\":false,\"error\":\"bad JSON command\"}");
        } else if (cJSON_GetObjectItem(cmd, "test")) {
            cmd_test(&p, cJSON_GetObjectItem(cmd, "test"));
        } else if (cJSON_GetObjectItem(cmd, "equiv")) {
            cmd_equiv(cJSON_GetObjectItem(cmd, "equiv"));
        } else {
            cmd_lang(&p, cmd);
        }
        cJSON_Delete(cmd);
        if (c == EOF) break;
    }
    probe_clear(&p);
    free(line);
    return 0;
}
