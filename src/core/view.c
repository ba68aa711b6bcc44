/* Tensor views: shapes and strides over memory owned elsewhere. */
#include "bc_internal.h"

size_t bc_type_size(bc_type t) {
    switch (t) {
    case BC_F32: return 4;
    case BC_I32: return 4;
    case BC_U8: return 1;
    case BC_TYPE_COUNT: break;
    }
    return 0;
}

bc_view bc_view_contig(bc_type t, void *data, int32_t ndim, const int64_t *ne) {
    BC_ASSERT(ndim >= 1 && ndim <= 4);
    bc_view v = {.type = t, .ndim = ndim, .data = data};
    size_t stride = bc_type_size(t);
    for (int32_t i = ndim - 1; i >= 0; i--) {
        v.ne[i] = ne[i];
        v.nb[i] = stride;
        stride *= (size_t)ne[i];
    }
    return v;
}

int64_t bc_view_numel(const bc_view *v) {
    int64_t n = 1;
    for (int32_t i = 0; i < v->ndim; i++) n *= v->ne[i];
    return n;
}
