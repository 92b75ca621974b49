/* grammar_sample.c — `vkagent grammar --sample N`: random walks through a
 * grammar. Random logits go through the real sampler (grammar mask, token
 * trie, end-of-generation handling) over a real vocabulary, so what comes out
 * is what a model could be made to produce; each document is also checked
 * byte by byte (vka_structured_check), which must agree with the token path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "grammar_sample.h"
#include "tools/tools.h"   /* engine internals for the tools */

#define DEFAULT_MAX_TOKENS 1000
/* Tokens after which a walk starts to favour closing what it opened. */
#define SOFT_LENGTH 24
/* Logit bonus per token past SOFT_LENGTH, and its ceiling. Uniform noise is
 * 6 wide: a bonus of ~12 makes closing tokens (a few thousand of 150k) win. */
#define BIAS_SLOPE 0.25
#define BIAS_MAX 30.0
/* End-of-generation wherever the grammar may end: most walks stop at the first chance. */
#define EOG_BONUS 4.0

/* How a token moves a walk towards its end. */
typedef enum token_kind { TOKEN_PLAIN = 0, TOKEN_CLOSING, TOKEN_OPENING, TOKEN_EOG } token_kind;

/* More closers than openers (a quote counts as closing: it ends strings and
 * keys, and a string it opens is closed again soon under the same bias). */
static token_kind classify(const vka_vocab *v, int32_t id) {
    if (vka_vocab_is_eog(v, id)) return TOKEN_EOG;
    const char *p;
    size_t len = vka_vocab_piece(v, id, false, &p);
    int net = 0;
    bool quote = false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '}' || p[i] == ']') net++;
        else if (p[i] == '{' || p[i] == '[') net--;
        quote |= p[i] == '"';
    }
    if (net > 0 || (net == 0 && quote)) return TOKEN_CLOSING;
    return net < 0 ? TOKEN_OPENING : TOKEN_PLAIN;
}

static void fill_logits(grammar_walker *w, vka_rng *rng, long step) {
    double past = (double)(step - SOFT_LENGTH);
    double bias = past > 0 ? past * BIAS_SLOPE : 0;
    if (bias > BIAS_MAX) bias = BIAS_MAX;
    static const double sign[] = {[TOKEN_PLAIN] = 0, [TOKEN_CLOSING] = 1, [TOKEN_OPENING] = -1, [TOKEN_EOG] = 2};
    for (uint32_t k = 0; k < w->n_vocab; k++) {
        double extra = sign[w->kinds[k]] * bias + (w->kinds[k] == TOKEN_EOG ? EOG_BONUS : 0);
        w->logits[k] = (float)(6.0 * vka_rng_uniform(rng) + extra);
    }
}

/* A document as one JSON string: quotes, backslashes and control characters escaped. */
static void print_json_string(const char *s, size_t len) {
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    puts("\"");
}

static bool valid_utf8(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        size_t n = vka_utf8_seq_len((const unsigned char *)s + i, len - i);
        if (!n) return false;
        i += n;
    }
    return true;
}

static bool append(text_buf *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = 2 * (b->len + n + 1);
        char *d = realloc(b->data, cap);
        if (!d) return false;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

int grammar_walk(grammar_walker *w, uint64_t seed, text_buf *doc, long *n_tokens) {
    vka_sampling_params p = *w->base;
    /* even seeds draw at temperature 1 (full mask every step), odd seeds are
     * greedy (the one-token check first, the mask only when it fails) */
    p.temperature = seed % 2 ? 0.0f : 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    vka_sampler *s = NULL;
    vka_status made = w->make_sampler ? w->make_sampler(w->user, &p, &s) : vka_sampler_new(w->vocab, w->n_vocab, &p, &s);
    *n_tokens = 0;
    if (made != VKA_OK) {
        snprintf(w->error, sizeof w->error, "creating the sampler: %s", vka_last_error());
        return -1;
    }
    vka_rng rng;
    vka_rng_seed(&rng, seed);
    doc->len = 0;
    int result = 0;
    for (long step = 0; step < w->max_tokens && result == 0; step++) {
        fill_logits(w, &rng, step);
        int32_t tok = -1;
        vka_status st = vka_sampler_sample(s, w->logits, &tok);
        if (st == VKA_OK) st = vka_sampler_accept(s, tok);
        if (st != VKA_OK) {
            snprintf(w->error, sizeof w->error, "walk with seed %llu, token %ld: %s", (unsigned long long)seed, step,
                     vka_last_error());
            result = -1;
            break;
        }
        ++*n_tokens;
        if (w->kinds[tok] == TOKEN_EOG) result = 1;
        const char *piece;
        size_t n = vka_vocab_piece(w->vocab, tok, false, &piece);
        if (result == 0 && !append(doc, piece, n)) result = -1;
        if (result == 0 && vka_sampler_is_done(s)) result = 1;
    }
    vka_sampler_free(s);
    return result;
}

/* A finished walk's document must be valid UTF-8 and accepted byte by byte. */
static bool document_consistent(grammar_walker *w, uint64_t seed, const text_buf *doc) {
    bool accepted = false;
    const char *why = !valid_utf8(doc->data, doc->len) ? "is not valid UTF-8"
                      : vka_structured_check(w->checker, doc->data, doc->len, &accepted) != VKA_OK ? vka_last_error()
                      : !accepted ? "is rejected by the checker (token path and byte path disagree)"
                                  : NULL;
    if (!why) return true;
    fprintf(stderr, "vkagent grammar: the document of the walk with seed %llu %s: ", (unsigned long long)seed, why);
    fwrite(doc->data, 1, doc->len, stderr);
    fputc('\n', stderr);
    return false;
}

static int run_walks(grammar_walker *w, const grammar_sample_opts *o) {
    text_buf doc = {0};
    int code = EXIT_OK;
    long done = 0, capped = 0;
    for (long i = 0; i < o->n_walks && code == EXIT_OK; i++) {
        uint64_t seed = o->seed + (uint64_t)i;
        long n_tokens;
        int r = grammar_walk(w, seed, &doc, &n_tokens);
        if (r < 0) fprintf(stderr, "vkagent grammar: %s\n", w->error);
        if (r < 0 || (r > 0 && !document_consistent(w, seed, &doc))) {
            code = EXIT_RUNTIME;
        } else if (r == 0) {
            capped++;
            fprintf(stderr, "vkagent grammar: the walk with seed %llu reached %ld tokens without completing a document\n",
                    (unsigned long long)seed, w->max_tokens);
        } else {
            done++;
            print_json_string(doc.data ? doc.data : "", doc.len);
            fflush(stdout);
        }
    }
    if (code == EXIT_OK && capped)
        fprintf(stderr, "vkagent grammar: %ld documents, %ld walks cut off at %ld tokens\n", done, capped, w->max_tokens);
    free(doc.data);
    return code;
}

int grammar_sample(const vka_sampling_params *sp, const grammar_sample_opts *o) {
    char *path = o->vocab ? strdup(o->vocab) : cli_default_vocab();
    vka_model *m = path ? cli_load_model(path, NULL, true, "grammar") : NULL;
    free(path);
    if (!m) return EXIT_RUNTIME;
    grammar_walker w;
    int code = EXIT_OK;
    if (!grammar_walker_init(&w, m->vocab, sp, o->max_tokens))
        code = (fputs("vkagent grammar: out of memory\n", stderr), EXIT_RUNTIME);
    else if (vka_structured_checker_create(sp, &w.checker) != VKA_OK) code = cli_runtime_error("grammar", "checker");
    if (code == EXIT_OK) code = run_walks(&w, o);
    vka_structured_checker_free(w.checker);
    grammar_walker_free(&w);
    vka_model_free(m);
    return code;
}

bool grammar_walker_init(grammar_walker *w, const vka_vocab *vocab, const vka_sampling_params *base, long max_tokens) {
    *w = (grammar_walker){.vocab = vocab, .n_vocab = vka_vocab_size(vocab), .base = base};
    w->max_tokens = max_tokens ? max_tokens : DEFAULT_MAX_TOKENS;
    w->kinds = malloc(w->n_vocab);
    w->logits = malloc(w->n_vocab * sizeof *w->logits);
    if (!w->kinds || !w->logits) {
        grammar_walker_free(w);
        return false;
    }
    for (uint32_t k = 0; k < w->n_vocab; k++) w->kinds[k] = (unsigned char)classify(vocab, (int32_t)k);
    return true;
}

void grammar_walker_free(grammar_walker *w) {
    free(w->kinds);
    free(w->logits);
    w->kinds = NULL;
    w->logits = NULL;
}
