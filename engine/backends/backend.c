/* backend.c — tensor shapes, views and graphs shared by every backend
 * (backend_open.c chooses and creates one). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "base/status.h"

void vka_tensor_init(vka_tensor *t, const char *name, vka_type type, int64_t ne0, int64_t ne1,
                     vka_tensor_usage usage) {
    memset(t, 0, sizeof *t);
    t->name = name;
    t->type = type;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->row_bytes = vka_type_row_size(type, ne0);
    t->nbytes = t->row_bytes * (size_t)ne1;
    t->usage = usage;
}

void vka_tensor_view(vka_tensor *view, vka_tensor *parent, int64_t row, int64_t n_rows, int64_t ne0) {
    size_t offset = parent->offset + (size_t)row * parent->row_bytes;
    vka_tensor *root = parent->parent ? parent->parent : parent;
    int64_t elems = parent->ne[0] * n_rows;
    vka_tensor_init(view, parent->name, parent->type, ne0, elems / ne0, parent->usage);
    view->parent = root;
    view->offset = offset;
    view->data = root->data ? (char *)root->data + offset : NULL;
}

const vka_tensor *vka_tensor_root(const vka_tensor *t) { return t->parent ? t->parent : t; }

void vka_graph_init(vka_graph *g, uint32_t n_tokens) {
    memset(g, 0, sizeof *g);
    g->n_tokens = n_tokens;
}

vka_status vka_graph_add(vka_graph *g, const vka_node *node) {
    if (g->n_nodes == g->cap) {
        uint32_t cap = g->cap ? g->cap * 2 : 64;
        vka_node *nodes = realloc(g->nodes, cap * sizeof *nodes);
        if (!nodes) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "out of memory building a graph");
        g->nodes = nodes;
        g->cap = cap;
    }
    g->nodes[g->n_nodes++] = *node;
    return VKA_OK;
}

void vka_graph_free(vka_graph *g) {
    if (g->state_owner && g->state_owner->ops->graph_release)
        g->state_owner->ops->graph_release(g->state_owner, g);
    free(g->nodes);
    memset(g, 0, sizeof *g);
}

void vka_backend_close(vka_backend *b) {
    if (b) b->ops->destroy(b);
}

void vka_backend_get_stats(vka_backend *b, vka_backend_stats *out) {
    memset(out, 0, sizeof *out);
    if (b && b->ops->get_stats) b->ops->get_stats(b, out);
}

bool vka_host_memory_available(uint64_t *bytes) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[128];
        uint64_t kib;
        bool found = false;
        while (!found && fgets(line, sizeof line, f))
            found = sscanf(line, "MemAvailable: %" SCNu64 " kB", &kib) == 1;
        fclose(f);
        if (found) {
            *bytes = kib * 1024;
            return true;
        }
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return false;
    *bytes = (uint64_t)pages * (uint64_t)page;
    return true;
}
