/* session_file.c — saving a session (its tokens, next-token logits and the
 * used rows of its KV cache) to a versioned, checksummed file, and loading
 * one into a new session of the same model, on either backend. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/scheduler.h"
#include "base/status.h"

/* Layout (little-endian, version 1):
 *   header            (session_header below, fixed size)
 *   tokens            int32[n_past]
 *   logits            float[n_vocab] when has_logits
 *   KV cache          per layer: K rows [0, n_evaluated), then V rows, in the
 *                     file's kv_type (row_bytes of that type); a sliding-window
 *                     layer's rows before swa_from are zeros (given back)
 *   checksum          uint64 FNV-1a of every byte before it
 * The header's fields are checked before any tensor is allocated; the
 * checksum before the new session is handed out, so nothing is half-loaded. */
#define SESSION_MAGIC "VKASESS\x1a"
#define SESSION_VERSION 1u
#define KV_CODE_F32 1u
#define KV_CODE_F16 2u

typedef struct session_header {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;         /* sizeof(session_header): a sanity check for the layout */
    uint64_t fingerprint;          /* model_fingerprint() */
    char arch[32];                 /* for messages: which model wrote it */
    uint32_t n_layer, n_embd, n_head, n_head_kv, head_dim, head_dim_v, n_vocab, n_rot;
    uint32_t kv_type;              /* KV_CODE_* */
    uint32_t n_ctx, n_past, n_evaluated, has_logits;
    uint32_t swa_from;             /* sliding layers' rows held from this position (0: all; files before it: 0) */
    uint32_t reserved[4];          /* zero */
} session_header;

/* ------------------------------------------------------------ checksum and fingerprint */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv_add(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

/* Hyperparameters, and every tensor's name, type, shape and first bytes:
 * another model, a re-quantized copy or a fine-tune of the same shape all
 * differ, while hashing a few hundred bytes per tensor keeps saving cheap. */
static uint64_t model_fingerprint(const vka_model *m) {
    uint64_t h = fnv_add(FNV_OFFSET, m->arch_name, strlen(m->arch_name));
    h = fnv_add(h, &m->hp, sizeof m->hp);
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const vka_gguf_tensor *t = &m->gguf->tensors[i];
        h = fnv_add(h, t->name.data, (size_t)t->name.len);
        h = fnv_add(h, &t->type, sizeof t->type);
        h = fnv_add(h, t->ne, sizeof t->ne);
        if (t->data) h = fnv_add(h, t->data, t->nbytes < 256 ? (size_t)t->nbytes : 256);
    }
    return h;
}

static bool host_is_little_endian(void) {
    uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static void header_for(const vka_session *s, session_header *h) {
    const vka_hparams *hp = &s->model->hp;
    memset(h, 0, sizeof *h);
    memcpy(h->magic, SESSION_MAGIC, sizeof h->magic);
    h->version = SESSION_VERSION;
    h->header_bytes = (uint32_t)sizeof *h;
    h->fingerprint = model_fingerprint(s->model);
    snprintf(h->arch, sizeof h->arch, "%s", s->model->arch_name);
    h->n_layer = hp->n_layer;
    h->n_embd = hp->n_embd;
    h->n_head = hp->n_head;
    h->n_head_kv = hp->n_head_kv;
    h->head_dim = hp->head_dim;
    h->head_dim_v = hp->head_dim_v;
    h->n_vocab = hp->n_vocab;
    h->n_rot = hp->n_rot;
    h->kv_type = s->kv_f16 ? KV_CODE_F16 : KV_CODE_F32;
    h->n_ctx = s->n_ctx;
    h->n_past = s->n_past;
    h->n_evaluated = s->n_evaluated;
    h->has_logits = s->logits_fresh;
    h->swa_from = s->swa_first * VKA_KV_BLOCK;
}

/* ------------------------------------------------------------ saving */

typedef struct out_file {
    FILE *f;
    uint64_t hash;
    bool failed;
} out_file;

static void put(out_file *o, const void *data, size_t n) {
    if (o->failed || n == 0) return;
    o->hash = fnv_add(o->hash, data, n);
    if (fwrite(data, 1, n, o->f) != n) o->failed = true;
}

/* Rows [0, n_evaluated) of every layer's K and V caches, read back from the
 * backend one tensor at a time. */
static vka_status put_kv(out_file *o, vka_session *s) {
    const vka_kv_pool *pool = &s->sched->pool;
    size_t most = pool->k[0].row_bytes > pool->v[0].row_bytes ? pool->k[0].row_bytes : pool->v[0].row_bytes;
    size_t cap = most * s->n_evaluated;
    void *rows = malloc(cap ? cap : 1);
    if (!rows) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory saving the KV cache");
    vka_status st = VKA_OK;
    for (uint32_t il = 0; st == VKA_OK && il < s->model->hp.n_layer; il++) {
        for (int c = 0; st == VKA_OK && c < 2; c++) {
            size_t n = (c ? pool->v : pool->k)[il].row_bytes * s->n_evaluated;
            st = vka_seq_rows_get(s, il, c == 1, 0, s->n_evaluated, rows);
            if (st == VKA_OK) put(o, rows, n);
        }
    }
    free(rows);
    return st;
}

static vka_status write_all(vka_session *s, FILE *f) {
    out_file o = {.f = f, .hash = FNV_OFFSET};
    session_header h;
    header_for(s, &h);
    put(&o, &h, sizeof h);
    put(&o, s->tokens, (size_t)s->n_past * sizeof *s->tokens);
    if (h.has_logits) put(&o, s->logits, (size_t)s->model->hp.n_vocab * sizeof *s->logits);
    VKA_TRY(put_kv(&o, s));
    uint64_t sum = o.hash;
    put(&o, &sum, sizeof sum);
    return o.failed ? vka_fail(VKA_ERR_IO, "writing failed") : VKA_OK;
}

vka_status vka_session_save(vka_session *s, const char *path) {
    if (!s || !path) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_save: session and path are required");
    VKA_TRY(vka_session_check_idle(s, "vka_session_save"));
    if (!host_is_little_endian())
        return vka_fail(VKA_ERR_UNSUPPORTED, "session files are little-endian; this host is not");
    /* Pending tokens are evaluated and the logits fetched, so that the file
     * holds everything a continuation needs (the same tokens follow a load). */
    if (s->n_past > 0) {
        const float *logits;
        VKA_TRY(vka_session_get_logits(s, &logits));
    }
    /* Written beside the target and renamed over it: a failed save never
     * leaves a broken file where a good one was. */
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        vka_status st = vka_fail(VKA_ERR_IO, "saving the session: cannot create '%s'", tmp);
        free(tmp);
        return st;
    }
    vka_status st = write_all(s, f);
    if (fclose(f) != 0 && st == VKA_OK) st = vka_fail(VKA_ERR_IO, "writing failed");
    if (st == VKA_OK && rename(tmp, path) != 0) st = vka_fail(VKA_ERR_IO, "cannot rename '%s' to '%s'", tmp, path);
    if (st != VKA_OK) {
        remove(tmp);
        vka_fail_context(st, "saving the session to '%s'", path);
    }
    free(tmp);
    return st;
}

/* ------------------------------------------------------------ loading */

typedef struct in_file {
    FILE *f;
    const char *path;
    uint64_t hash;
} in_file;

static vka_status get(in_file *in, void *data, size_t n, const char *what) {
    if (n == 0) return VKA_OK;
    if (fread(data, 1, n, in->f) != n)
        return vka_fail(VKA_ERR_FORMAT, "'%s' is truncated: it ends inside the %s", in->path, what);
    in->hash = fnv_add(in->hash, data, n);
    return VKA_OK;
}

/* Says which shape differs, so that "another model" is explained. */
static vka_status model_mismatch(const session_header *h, const vka_model *m, const char *path) {
    const vka_hparams *hp = &m->hp;
    char arch[sizeof h->arch + 1];
    memcpy(arch, h->arch, sizeof h->arch);
    arch[sizeof h->arch] = '\0';
    return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                    "'%s' was saved from another model (%s: %u layers, n_embd %u, %u heads (%u KV), vocabulary %u; "
                    "this model is %s: %u layers, n_embd %u, %u heads (%u KV), vocabulary %u%s)",
                    path, arch, h->n_layer, h->n_embd, h->n_head, h->n_head_kv, h->n_vocab, m->arch_name,
                    hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_vocab,
                    h->n_layer == hp->n_layer && h->n_embd == hp->n_embd && h->n_vocab == hp->n_vocab
                        ? "; same shape but different weights"
                        : "");
}

/* Bytes a file with this header has, so that a truncated file is named as
 * such before anything is allocated. */
static uint64_t expected_size(const session_header *h) {
    uint64_t kv_elem = h->kv_type == KV_CODE_F16 ? 2 : 4;
    uint64_t row = (uint64_t)h->n_head_kv * (h->head_dim + h->head_dim_v) * kv_elem;
    return sizeof *h + (uint64_t)h->n_past * 4 + (h->has_logits ? (uint64_t)h->n_vocab * 4 : 0) +
           (uint64_t)h->n_layer * row * h->n_evaluated + 8;
}

static vka_status check_header(const session_header *h, const vka_model *m, const char *path, uint64_t size) {
    if (memcmp(h->magic, SESSION_MAGIC, sizeof h->magic) != 0)
        return vka_fail(VKA_ERR_FORMAT, "'%s' is not a vkagent session file", path);
    if (h->version > SESSION_VERSION)
        return vka_fail(VKA_ERR_UNSUPPORTED, "'%s' has session format version %u; this vkagent reads up to %u "
                        "(it was written by a newer vkagent)", path, h->version, SESSION_VERSION);
    if (h->version == 0 || h->header_bytes != sizeof *h)
        return vka_fail(VKA_ERR_FORMAT, "'%s' has a corrupt header (version %u, %u header bytes)", path, h->version,
                        h->header_bytes);
    if (h->fingerprint != model_fingerprint(m)) return model_mismatch(h, m, path);
    if (h->kv_type != KV_CODE_F32 && h->kv_type != KV_CODE_F16)
        return vka_fail(VKA_ERR_FORMAT, "'%s' has an unknown KV type code %u", path, h->kv_type);
    if (h->n_ctx == 0 || h->n_ctx > (1u << 24) || h->n_past > h->n_ctx || h->n_evaluated > h->n_past ||
        h->has_logits > 1 || (h->has_logits && h->n_evaluated != h->n_past))
        return vka_fail(VKA_ERR_FORMAT, "'%s' has inconsistent counts (n_ctx %u, n_past %u, evaluated %u)", path,
                        h->n_ctx, h->n_past, h->n_evaluated);
    uint64_t want = expected_size(h);
    if (size < want)
        return vka_fail(VKA_ERR_FORMAT, "'%s' is truncated: %" PRIu64 " bytes of the %" PRIu64 " its header announces",
                        path, size, want);
    if (size > want)
        return vka_fail(VKA_ERR_FORMAT, "'%s' has %" PRIu64 " bytes after its end", path, size - want);
    return VKA_OK;
}

/* The session's parameters: the file's context and KV type unless the
 * caller asks otherwise; a context too small for the saved tokens is refused. */
static vka_status params_for(const session_header *h, const vka_session_params *asked, const char *path,
                             vka_session_params *p) {
    vka_session_params_default(p);
    if (asked) *p = *asked;
    if (p->n_ctx == 0) p->n_ctx = h->n_ctx;
    if (p->kv_type == VKA_KV_AUTO) p->kv_type = h->kv_type == KV_CODE_F16 ? VKA_KV_F16 : VKA_KV_F32;
    if (p->n_ctx < h->n_past)
        return vka_fail(VKA_ERR_CONTEXT_FULL, "'%s' holds %u tokens: they do not fit in a context of %u", path,
                        h->n_past, p->n_ctx);
    return VKA_OK;
}

/* Reads one cache's rows (in the file's type) and stores them in the
 * session's type: f32 <-> f16 is converted through f32. */
static vka_status get_cache(in_file *in, vka_session *s, uint32_t layer, bool v, bool file_f16, uint32_t n_rows,
                            void *buf, float *f32) {
    const vka_tensor *cache = v ? &s->sched->pool.v[layer] : &s->sched->pool.k[layer];
    const vka_type_traits *from = vka_type_get_traits(file_f16 ? VKA_TYPE_F16 : VKA_TYPE_F32);
    const vka_type_traits *to = vka_type_get_traits(cache->type);
    int64_t row_elems = cache->ne[0];
    size_t file_row = (size_t)row_elems * (file_f16 ? 2 : 4);
    VKA_TRY(get(in, buf, file_row * n_rows, "KV cache"));
    if (file_f16 != (cache->type == VKA_TYPE_F16)) {
        from->to_f32(buf, f32, row_elems * n_rows);
        to->from_f32(f32, buf, row_elems * n_rows);
    }
    return vka_seq_rows_set(s, layer, v, 0, n_rows, buf);
}

static vka_status read_body(in_file *in, const session_header *h, vka_session *s) {
    const vka_hparams *hp = &s->model->hp;
    VKA_TRY(get(in, s->tokens, (size_t)h->n_past * sizeof *s->tokens, "tokens"));
    for (uint32_t i = 0; i < h->n_past; i++)
        if (s->tokens[i] < 0 || (uint32_t)s->tokens[i] >= hp->n_vocab)
            return vka_fail(VKA_ERR_FORMAT, "'%s' holds token id %d, outside the vocabulary", in->path, s->tokens[i]);
    if (h->has_logits) VKA_TRY(get(in, s->logits, (size_t)hp->n_vocab * sizeof *s->logits, "logits"));
    uint32_t widest = hp->head_dim > hp->head_dim_v ? hp->head_dim : hp->head_dim_v;
    size_t elems = (size_t)hp->n_head_kv * widest * h->n_evaluated;
    void *buf = malloc(elems * 4 + 1);
    float *f32 = malloc(elems * sizeof *f32 + 1);
    vka_status st = buf && f32 ? VKA_OK : vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory loading the KV cache");
    bool file_f16 = h->kv_type == KV_CODE_F16;
    /* s is new (n_evaluated 0); the sliding layers' rows outside the window
     * are not made (they are zeros in the file when they were given back) */
    if (st == VKA_OK) {
        vka_seq_restore_start(s, h->n_evaluated, h->swa_from);
        st = vka_seq_prepare_range(s, 0, h->n_evaluated, false);
    }
    for (uint32_t il = 0; st == VKA_OK && il < hp->n_layer; il++) {
        st = get_cache(in, s, il, false, file_f16, h->n_evaluated, buf, f32);
        if (st == VKA_OK) st = get_cache(in, s, il, true, file_f16, h->n_evaluated, buf, f32);
    }
    free(buf);
    free(f32);
    VKA_TRY(st);
    uint64_t computed = in->hash, stored;
    VKA_TRY(get(in, &stored, sizeof stored, "checksum"));
    if (stored != computed)
        return vka_fail(VKA_ERR_FORMAT, "'%s' is corrupt: its checksum does not match its contents", in->path);
    s->n_past = h->n_past;
    s->n_evaluated = h->n_evaluated;
    s->logits_fresh = h->has_logits;
    /* a session keeping every row cannot stand in for the rows given back
     * (a rewind would read them): its tokens are computed again when used */
    if (h->swa_from && !s->sched->pool.n_swa_blocks) vka_seq_release_all(s);
    return VKA_OK;
}

static vka_status load_open(vka_model *model, FILE *f, const char *path, const vka_session_params *params,
                            vka_session **out) {
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) return vka_fail(VKA_ERR_IO, "cannot stat '%s'", path);
    in_file in = {.f = f, .path = path, .hash = FNV_OFFSET};
    session_header h;
    if ((uint64_t)sb.st_size < sizeof h)
        return vka_fail(VKA_ERR_FORMAT, "'%s' is not a vkagent session file (too short: %lld bytes)", path,
                        (long long)sb.st_size);
    VKA_TRY(get(&in, &h, sizeof h, "header"));
    VKA_TRY(check_header(&h, model, path, (uint64_t)sb.st_size));
    vka_session_params p;
    VKA_TRY(params_for(&h, params, path, &p));
    vka_session *s;
    VKA_TRY(vka_session_create(model, &p, &s));
    vka_status st = read_body(&in, &h, s);
    if (st != VKA_OK) {
        vka_session_free(s);
        return st;
    }
    *out = s;
    return VKA_OK;
}

vka_status vka_session_load(vka_model *model, const char *path, const vka_session_params *params, vka_session **out) {
    if (out) *out = NULL;
    if (!model || !path || !out)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_session_load: model, path and out are required");
    if (model->vocab_only)
        return vka_fail(VKA_ERR_INVALID_ARGUMENT, "'%s' was loaded vocab-only: it cannot run", model->path);
    if (!host_is_little_endian())
        return vka_fail(VKA_ERR_UNSUPPORTED, "session files are little-endian; this host is not");
    FILE *f = fopen(path, "rb");
    if (!f)
        return vka_fail(errno == ENOENT ? VKA_ERR_NOT_FOUND : VKA_ERR_IO, "cannot open session file '%s': %s", path,
                        strerror(errno));
    vka_status st = load_open(model, f, path, params, out);
    fclose(f);
    return st;
}
