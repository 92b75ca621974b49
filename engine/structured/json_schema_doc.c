/* json_schema_doc.c — the schema document's index: the JSON pointer of every
 * object (for messages), the base URI in effect at each schema ($id), the
 * targets of $id and $anchor, and $ref resolution against them (RFC 3986
 * reference resolution, JSON pointers, plain-name fragments). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/json_schema_impl.h"
#include "base/status.h"

vka_status js_oom(void) { return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory while converting a JSON schema"); }

vka_status js_fail_at(const char *path, const char *keyword, const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (keyword) return vka_fail(VKA_ERR_GRAMMAR, "JSON schema at %s/%s: %s", path, keyword, what);
    return vka_fail(VKA_ERR_GRAMMAR, "JSON schema at %s: %s", path, what);
}

void js_warn(js_conv *c, const char *path, const char *keyword, const char *why) {
    js_buf line = {0};
    js_printf(&line, "JSON schema at %s/%s: %s\n", path, keyword, why);
    /* a schema reached in several contexts warns once */
    if (!line.failed && !(c->warnings.data && strstr(c->warnings.data, line.data))) js_puts(&c->warnings, line.data);
    js_buf_free(&line);
}

/* ---------------------------------------------------------------- URIs */

/* The parts of a URI reference (RFC 3986, section 3), as spans of `s`. */
typedef struct uri_parts {
    const char *scheme, *authority, *path, *query, *fragment;
    size_t scheme_n, authority_n, path_n, query_n, fragment_n;
    bool has_scheme, has_authority, has_query, has_fragment;
} uri_parts;

static void uri_split(const char *s, uri_parts *u) {
    memset(u, 0, sizeof *u);
    const char *p = s;
    const char *colon = strpbrk(p, ":/?#");
    if (colon && *colon == ':' && colon > p) {
        u->has_scheme = true;
        u->scheme = p;
        u->scheme_n = (size_t)(colon - p);
        p = colon + 1;
    }
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        u->has_authority = true;
        u->authority = p;
        u->authority_n = strcspn(p, "/?#");
        p += u->authority_n;
    }
    u->path = p;
    u->path_n = strcspn(p, "?#");
    p += u->path_n;
    if (*p == '?') {
        u->has_query = true;
        u->query = ++p;
        u->query_n = strcspn(p, "#");
        p += u->query_n;
    }
    if (*p == '#') {
        u->has_fragment = true;
        u->fragment = ++p;
        u->fragment_n = strlen(p);
    }
}

/* RFC 3986 5.2.4: removes "." and ".." segments from `path` in place. */
static void remove_dot_segments(char *path) {
    char *out = path, *in = path;
    while (*in) {
        if (strncmp(in, "../", 3) == 0) in += 3;
        else if (strncmp(in, "./", 2) == 0) in += 2;
        else if (strncmp(in, "/./", 3) == 0) in += 2;
        else if (strcmp(in, "/.") == 0) in[1] = 0;
        else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
            in += 3;
            if (!*in) *--in = '/';
            else in--, *in = '/';
            while (out > path && *--out != '/') {}
            *out = 0;
        } else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
            in += strlen(in);
        } else {
            do *out++ = *in++;
            while (*in && *in != '/');
            *out = 0;
            continue;
        }
        *out = 0;
    }
    *out = 0;
}

static void put_part(js_buf *b, const char *prefix, const char *s, size_t n) {
    js_puts(b, prefix);
    js_put(b, s, n);
}

/* RFC 3986 5.2.2: the target URI of reference `ref` against `base`. */
static char *uri_resolve(const char *base, const char *ref) {
    uri_parts b, r;
    uri_split(base, &b);
    uri_split(ref, &r);
    js_buf out = {0}, path = {0};
    const uri_parts *auth = &r;
    if (r.has_scheme) {
        js_put(&path, r.path, r.path_n);
    } else if (r.has_authority) {
        js_put(&path, r.path, r.path_n);
    } else {
        auth = &b;
        if (r.path_n == 0) {
            js_put(&path, b.path, b.path_n);
            if (!r.has_query && b.has_query) r.has_query = true, r.query = b.query, r.query_n = b.query_n;
        } else if (r.path[0] == '/') {
            js_put(&path, r.path, r.path_n);
        } else {
            /* merge: the base path up to its last '/', then the reference */
            const char *slash = NULL;
            for (size_t i = 0; i < b.path_n; i++)
                if (b.path[i] == '/') slash = b.path + i;
            if (b.has_authority && b.path_n == 0) js_puts(&path, "/");
            else if (slash) js_put(&path, b.path, (size_t)(slash - b.path) + 1);
            js_put(&path, r.path, r.path_n);
        }
    }
    if (path.data) remove_dot_segments(path.data);
    const uri_parts *sch = r.has_scheme ? &r : &b;
    if (sch->has_scheme) put_part(&out, "", sch->scheme, sch->scheme_n), js_puts(&out, ":");
    if (auth->has_authority) put_part(&out, "//", auth->authority, auth->authority_n);
    if (path.data) js_puts(&out, path.data);
    if (r.has_query) put_part(&out, "?", r.query, r.query_n);
    if (r.has_fragment) put_part(&out, "#", r.fragment, r.fragment_n);
    if (!out.data) js_puts(&out, "");
    js_buf_free(&path);
    if (out.failed) {
        js_buf_free(&out);
        return NULL;
    }
    return out.data;
}

/* ---------------------------------------------------------------- index */

static int cmp_path_entry(const void *a, const void *b) {
    const cJSON *x = ((const js_path_entry *)a)->node, *y = ((const js_path_entry *)b)->node;
    return x < y ? -1 : x > y;
}

static vka_status add_uri(js_conv *c, const char *uri, const cJSON *node) {
    for (uint32_t i = 0; i < c->n_uris; i++)
        if (strcmp(c->uris[i].uri, uri) == 0) return VKA_OK;   /* the first wins, as in document order */
    if (!js_grow((void **)&c->uris, &c->cap_uris, c->n_uris + 1, sizeof *c->uris)) return js_oom();
    char *dup = strdup(uri);
    if (!dup) return js_oom();
    c->uris[c->n_uris++] = (js_uri_entry){dup, node};
    return VKA_OK;
}

/* "~" and "/" escaped as a JSON pointer token. */
static void put_pointer_token(js_buf *b, const char *key) {
    for (const char *p = key; *p; p++) {
        if (*p == '~') js_puts(b, "~0");
        else if (*p == '/') js_puts(b, "~1");
        else js_put(b, p, 1);
    }
}

/* How a keyword's value holds schemas: only there do $id and $anchor mean
 * something (elsewhere they are data, e.g. inside an enum). */
typedef enum holds { HOLDS_DATA, HOLDS_SCHEMA, HOLDS_LIST, HOLDS_MAP } holds;

static holds keyword_holds(const char *k, const cJSON *v) {
    static const char *const single[] = {"additionalProperties", "items", "contains", "propertyNames", "not", "if",
                                         "then", "else", "additionalItems", "unevaluatedItems",
                                         "unevaluatedProperties", "contentSchema"};
    static const char *const lists[] = {"allOf", "anyOf", "oneOf", "prefixItems", "items"};
    static const char *const maps[] = {"properties", "patternProperties", "$defs", "definitions",
                                       "dependentSchemas", "dependencies"};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
        if (strcmp(lists[i], k) == 0 && cJSON_IsArray(v)) return HOLDS_LIST;
    for (size_t i = 0; i < sizeof single / sizeof *single; i++)
        if (strcmp(single[i], k) == 0) return HOLDS_SCHEMA;
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++)
        if (strcmp(maps[i], k) == 0 && cJSON_IsObject(v)) return HOLDS_MAP;
    return HOLDS_DATA;
}

static vka_status add_path(js_conv *c, const cJSON *node, const char *path, const char *base) {
    if (!js_grow((void **)&c->paths, &c->cap_paths, c->n_paths + 1, sizeof *c->paths)) return js_oom();
    js_path_entry *e = &c->paths[c->n_paths++];
    *e = (js_path_entry){node, strdup(path), strdup(base), c->n_paths - 1};
    return e->path && e->base ? VKA_OK : js_oom();
}

static vka_status index_node(js_conv *c, const cJSON *node, js_buf *path, const char *base, bool schema, int depth);

/* Indexes each member of `node` (an object or array) under path/key. */
static vka_status index_members(js_conv *c, const cJSON *node, js_buf *path, const char *base, bool schema_parent,
                                int depth) {
    size_t mark = path->len;
    uint32_t i = 0;
    for (const cJSON *k = node->child; k; k = k->next, i++) {
        js_puts(path, "/");
        if (cJSON_IsArray(node)) js_printf(path, "%u", i);
        else put_pointer_token(path, k->string);
        if (path->failed) return js_oom();
        holds h = schema_parent && cJSON_IsObject(node) ? keyword_holds(k->string, k) : HOLDS_DATA;
        /* the members of schema lists and maps are indexed as schemas by index_schema_members */
        if (h == HOLDS_LIST || h == HOLDS_MAP) VKA_TRY(add_path(c, k, path->data, base));
        else VKA_TRY(index_node(c, k, path, base, h == HOLDS_SCHEMA, depth + 1));
        path->len = mark;
        path->data[mark] = 0;
    }
    return VKA_OK;
}

/* Members of schema lists and maps are schemas themselves. */
static vka_status index_schema_members(js_conv *c, const cJSON *node, js_buf *path, const char *base, int depth) {
    size_t mark = path->len;
    for (const cJSON *k = node->child; k; k = k->next) {
        holds h = keyword_holds(k->string, k);
        if (h != HOLDS_LIST && h != HOLDS_MAP) continue;
        uint32_t i = 0;
        for (const cJSON *m = k->child; m; m = m->next, i++) {
            js_puts(path, "/");
            put_pointer_token(path, k->string);
            js_puts(path, "/");
            if (h == HOLDS_LIST) js_printf(path, "%u", i);
            else put_pointer_token(path, m->string);
            if (path->failed) return js_oom();
            VKA_TRY(index_node(c, m, path, base, true, depth + 2));
            path->len = mark;
            path->data[mark] = 0;
        }
    }
    return VKA_OK;
}

/* $id (a new base URI) and $anchor of a schema object. */
static vka_status index_ids(js_conv *c, const cJSON *node, const char *base, char **own_base) {
    *own_base = NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(node, "$id");
    if (cJSON_IsString(id)) {
        if (!(*own_base = uri_resolve(base, id->valuestring))) return js_oom();
        char *hash = strchr(*own_base, '#');
        if (hash) *hash = 0;    /* an empty fragment is allowed in $id; others are invalid anyway */
        VKA_TRY(add_uri(c, *own_base, node));
        base = *own_base;
    }
    const cJSON *anchor = cJSON_GetObjectItemCaseSensitive(node, "$anchor");
    if (cJSON_IsString(anchor)) {
        js_buf a = {0};
        js_printf(&a, "%s#%s", base, anchor->valuestring);
        vka_status s = a.failed ? js_oom() : add_uri(c, a.data, node);
        js_buf_free(&a);
        VKA_TRY(s);
    }
    return VKA_OK;
}

static vka_status index_node(js_conv *c, const cJSON *node, js_buf *path, const char *base, bool schema, int depth) {
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node)) return VKA_OK;
    if (depth > 4 * JS_MAX_DEPTH)
        return js_fail_at(path->data, NULL, "the document is nested deeper than %d levels", 4 * JS_MAX_DEPTH);
    char *own_base = NULL;
    vka_status s = schema && cJSON_IsObject(node) ? index_ids(c, node, base, &own_base) : VKA_OK;
    if (own_base) base = own_base;
    if (s == VKA_OK) s = add_path(c, node, path->data, base);
    if (s == VKA_OK) s = index_members(c, node, path, base, schema, depth);
    if (s == VKA_OK && schema && cJSON_IsObject(node)) s = index_schema_members(c, node, path, base, depth);
    free(own_base);
    return s;
}

vka_status js_index_document(js_conv *c) {
    js_buf path = {0};
    js_puts(&path, "#");
    if (path.failed) return js_oom();
    const char *root_base = "";
    VKA_TRY(add_uri(c, "", c->doc));
    vka_status s = index_node(c, c->doc, &path, root_base, true, 0);
    js_buf_free(&path);
    VKA_TRY(s);
    /* the root is also known by its own $id (added during the walk) */
    if (c->n_paths) qsort(c->paths, c->n_paths, sizeof *c->paths, cmp_path_entry);
    return VKA_OK;
}

static const js_path_entry *find_entry(const js_conv *c, const cJSON *node) {
    js_path_entry key = {.node = node};
    if (!c->n_paths) return NULL;   /* a boolean schema indexes nothing */
    return bsearch(&key, c->paths, c->n_paths, sizeof *c->paths, cmp_path_entry);
}

uint32_t js_doc_order(const js_conv *c, const cJSON *schema) {
    const js_path_entry *e = find_entry(c, schema);
    return e ? e->order : UINT32_MAX;
}

const char *js_path_of(const js_conv *c, const cJSON *schema) {
    const js_path_entry *e = find_entry(c, schema);
    return e ? e->path : "#";
}

vka_status js_index_synthetic(js_conv *c, const cJSON *made, const cJSON *origin) {
    const js_path_entry *o = find_entry(c, origin);
    const char *path = o ? o->path : "#", *base = o && o->base ? o->base : "";
    VKA_TRY(add_path(c, made, path, base));
    /* keep the index sorted: move the new entry into place */
    js_path_entry e = c->paths[c->n_paths - 1];
    uint32_t i = c->n_paths - 1;
    while (i > 0 && c->paths[i - 1].node > made) {
        c->paths[i] = c->paths[i - 1];
        i--;
    }
    c->paths[i] = e;
    return VKA_OK;
}

void js_index_free(js_conv *c) {
    for (uint32_t i = 0; i < c->n_paths; i++) {
        free(c->paths[i].path);
        free(c->paths[i].base);
    }
    free(c->paths);
    for (uint32_t i = 0; i < c->n_uris; i++) free(c->uris[i].uri);
    free(c->uris);
}

/* ---------------------------------------------------------------- $ref */

/* Decodes %XX escapes of a URI fragment (JSON pointers in URIs are encoded). */
static bool percent_decode(const char *s, size_t n, js_buf *out) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end) return false;
            char ch = (char)v;
            js_put(out, &ch, 1);
            i += 2;
        } else if (s[i] == '%') {
            return false;
        } else {
            js_put(out, s + i, 1);
        }
    }
    if (!out->data) js_puts(out, "");
    return !out->failed;
}

/* Follows a JSON pointer ("/a/b~1c") from `node`; NULL when it leads nowhere. */
static const cJSON *follow_pointer(const cJSON *node, const char *p) {
    js_buf token = {0};
    while (node && *p == '/') {
        p++;
        token.len = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~' && *p == '0') ch = '~', p++;
            else if (ch == '~' && *p == '1') ch = '/', p++;
            js_put(&token, &ch, 1);
        }
        js_put(&token, "", 0);
        if (token.failed) break;
        if (!token.data) js_puts(&token, "");
        if (cJSON_IsArray(node)) {
            char *end;
            long idx = strtol(token.data, &end, 10);
            bool canonical = token.len > 0 && (token.data[0] != '0' || token.len == 1);
            node = (*end || !canonical || idx < 0 || idx > 0x7fffffff) ? NULL : cJSON_GetArrayItem(node, (int)idx);
        } else if (cJSON_IsObject(node)) {
            node = cJSON_GetObjectItemCaseSensitive(node, token.data);
        } else {
            node = NULL;
        }
    }
    bool failed = token.failed;
    js_buf_free(&token);
    return failed || *p ? NULL : node;
}

static const cJSON *find_uri(const js_conv *c, const char *uri) {
    for (uint32_t i = 0; i < c->n_uris; i++)
        if (strcmp(c->uris[i].uri, uri) == 0) return c->uris[i].node;
    return NULL;
}

vka_status js_resolve_ref(js_conv *c, const cJSON *from, const char *ref, const cJSON **out) {
    const js_path_entry *e = find_entry(c, from);
    const char *path = e ? e->path : "#";
    char *target = uri_resolve(e && e->base ? e->base : "", ref);
    if (!target) return js_oom();
    char *hash = strchr(target, '#');
    const char *fragment = hash ? hash + 1 : "";
    if (hash) *hash = 0;
    const cJSON *resource = find_uri(c, target);
    vka_status s = VKA_OK;
    *out = NULL;
    js_buf frag = {0};
    if (!resource) {
        s = js_fail_at(path, "$ref", "'%s' is not in this document (remote references are not fetched; HINT: put "
                                     "the schema under $defs and refer to it with \"#/$defs/...\")", ref);
    } else if (!percent_decode(fragment, strlen(fragment), &frag)) {
        s = js_fail_at(path, "$ref", "'%s' has an invalid %%-escape", ref);
    } else if (frag.data[0] == 0) {
        *out = resource;
    } else if (frag.data[0] == '/') {
        *out = follow_pointer(resource, frag.data);
    } else {
        js_buf anchor = {0};
        js_printf(&anchor, "%s#%s", target, frag.data);
        *out = anchor.failed ? NULL : find_uri(c, anchor.data);
        js_buf_free(&anchor);
    }
    if (s == VKA_OK && !*out) s = js_fail_at(path, "$ref", "'%s' does not point to anything in this schema", ref);
    if (s == VKA_OK && !cJSON_IsObject(*out) && !cJSON_IsBool(*out))
        s = js_fail_at(path, "$ref", "'%s' points to something that is not a schema", ref);
    js_buf_free(&frag);
    free(target);
    return s;
}
