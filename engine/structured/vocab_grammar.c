/* vocab_grammar.c — the per-vocabulary state of constrained sampling: the
 * piece trie and a small cache of grammars with their mask caches. */
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "structured/vocab_grammar.h"
#include "text/vocab_internal.h"

#define GRAMMAR_CACHE_MAX 8

typedef struct vka_grammar_cache_entry {
    char *gbnf, *root;
    vka_grammar *grammar;
    vka_grammar_state *initial;          /* start state; clones share its mask cache */
    bool in_use;
    struct vka_grammar_cache_entry *next;
} grammar_cache_entry;

/* Every token's bytes (control tokens empty, so never allowed) and the
 * end-of-generation ids, which a grammar allows only where it may end. */
static vka_status build_trie(vka_vocab *v) {
    uint32_t n = v->n_vocab;
    const char **pieces = malloc(n * sizeof *pieces);
    uint32_t *lens = malloc(n * sizeof *lens);
    int32_t *eog = malloc(n * sizeof *eog);
    size_t n_eog = 0;
    vka_status st = pieces && lens && eog ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    for (uint32_t i = 0; st == VKA_OK && i < n; i++) {
        lens[i] = (uint32_t)vka_vocab_piece(v, (int32_t)i, false, &pieces[i]);
        if (vka_vocab_is_eog(v, (int32_t)i)) eog[n_eog++] = (int32_t)i;
    }
    if (st == VKA_OK) st = vka_grammar_vocab_build(pieces, lens, n, eog, n_eog, &v->grammar_vocab);
    v->grammar_release = vka_vocab_grammar_release;
    free(pieces);
    free(lens);
    free(eog);
    return st;
}

vka_status vka_vocab_grammar_vocab(const vka_vocab *cv, const vka_grammar_vocab **out) {
    vka_vocab *v = (vka_vocab *)cv; /* the caches are the only mutable part, guarded by their lock */
    pthread_mutex_lock(&v->grammar_lock);
    vka_status st = v->grammar_vocab ? VKA_OK : build_trie(v);
    pthread_mutex_unlock(&v->grammar_lock);
    *out = v->grammar_vocab;
    return st;
}

static void entry_free(grammar_cache_entry *e) {
    vka_grammar_state_free(e->initial);
    vka_grammar_free(e->grammar);
    free(e->gbnf);
    free(e->root);
    free(e);
}

/* A cached, unused entry for the grammar, marked in use; NULL if none. */
static grammar_cache_entry *take_cached(vka_vocab *v, const char *gbnf, const char *root) {
    for (grammar_cache_entry *e = v->grammar_cache; e; e = e->next)
        if (!e->in_use && strcmp(e->gbnf, gbnf) == 0 && strcmp(e->root, root) == 0) {
            e->in_use = true;
            return e;
        }
    return NULL;
}

/* Adds a new entry at the front and drops the least recently added unused
 * entries beyond the limit. */
static void insert_entry(vka_vocab *v, grammar_cache_entry *e) {
    e->next = v->grammar_cache;
    v->grammar_cache = e;
    v->grammar_release = vka_vocab_grammar_release;
    int n = 0;
    for (grammar_cache_entry **p = &v->grammar_cache; *p;) {
        if (++n > GRAMMAR_CACHE_MAX && !(*p)->in_use) {
            grammar_cache_entry *dead = *p;
            *p = dead->next;
            entry_free(dead);
        } else {
            p = &(*p)->next;
        }
    }
}

static vka_status new_entry(const char *gbnf, const char *root, grammar_cache_entry **out) {
    grammar_cache_entry *e = calloc(1, sizeof *e);
    vka_status st = e ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == VKA_OK && (!(e->gbnf = strdup(gbnf)) || !(e->root = strdup(root))))
        st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == VKA_OK) st = vka_grammar_parse(gbnf, root, &e->grammar);
    if (st == VKA_OK) st = vka_grammar_state_create(e->grammar, &e->initial);
    if (st != VKA_OK) {
        if (e) entry_free(e);
        return st;
    }
    e->in_use = true;
    *out = e;
    return VKA_OK;
}

vka_status vka_vocab_grammar_get(const vka_vocab *cv, const char *gbnf, const char *root, vka_grammar_lease *out) {
    vka_vocab *v = (vka_vocab *)cv;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&v->grammar_lock);
    grammar_cache_entry *e = take_cached(v, gbnf, root);
    pthread_mutex_unlock(&v->grammar_lock);
    if (!e) {
        VKA_TRY(new_entry(gbnf, root, &e)); /* parsed outside the lock: it can take a while */
        pthread_mutex_lock(&v->grammar_lock);
        insert_entry(v, e);
        pthread_mutex_unlock(&v->grammar_lock);
    }
    vka_status st = vka_grammar_state_clone(e->initial, &out->state);
    if (st != VKA_OK) {
        pthread_mutex_lock(&v->grammar_lock);
        e->in_use = false;
        pthread_mutex_unlock(&v->grammar_lock);
        return st;
    }
    out->grammar = e->grammar;
    out->entry = e;
    return VKA_OK;
}

vka_status vka_vocab_grammar_restart(const vka_grammar_lease *lease, vka_grammar_state **out) {
    return vka_grammar_state_clone(lease->entry->initial, out);
}

void vka_vocab_grammar_put(const vka_vocab *cv, vka_grammar_lease *lease) {
    vka_vocab *v = (vka_vocab *)cv;
    vka_grammar_state_free(lease->state);
    if (!lease->entry) return;
    pthread_mutex_lock(&v->grammar_lock);
    lease->entry->in_use = false;
    pthread_mutex_unlock(&v->grammar_lock);
    memset(lease, 0, sizeof *lease);
}

void vka_vocab_grammar_release(vka_vocab *v) {
    while (v->grammar_cache) {
        grammar_cache_entry *e = v->grammar_cache;
        v->grammar_cache = e->next;
        entry_free(e);
    }
    vka_grammar_vocab_free(v->grammar_vocab);
    v->grammar_vocab = NULL;
}
