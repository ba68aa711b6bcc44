/* Bump allocator for workspaces planned up front: one block, 64-byte aligned slices. */
#include "bc_internal.h"

struct bc_arena {
    unsigned char *base;
    size_t cap, used;
};

bc_status bc_arena_new(size_t capacity_bytes, bc_arena **out) {
    *out = NULL;
    bc_arena *a = calloc(1, sizeof *a);
    if (!a) return bc__fail(BC_ERR_NOMEM, "arena");
    a->base = bc__alloc(capacity_bytes);
    if (!a->base) { free(a); return BC_ERR_NOMEM; }
    a->cap = capacity_bytes;
    *out = a;
    return BC_OK;
}

void *bc_arena_alloc(bc_arena *a, size_t bytes) {
    size_t start = (a->used + 63) & ~(size_t)63, end;
    if (start < a->used || !bc__add_size(start, bytes, &end) || end > a->cap) {
        bc__fail(BC_ERR_NOMEM, "arena full: %zu of %zu bytes used, %zu requested", a->used, a->cap, bytes);
        return NULL;
    }
    a->used = end;
    return a->base + start;
}

size_t bc_arena_used(const bc_arena *a) { return a->used; }
void bc_arena_reset(bc_arena *a) { a->used = 0; }
void bc_arena_free(bc_arena *a) {
    if (!a) return;
    free(a->base);
    free(a);
}
