/* IDX reader (MNIST format): raw or gzipped files through zlib, every size and count checked. */
#include "bc_internal.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

#define BC_IDX_MAGIC_IMAGES 0x00000803u /* ubyte, 3 dims: n, rows, cols */
#define BC_IDX_MAGIC_LABELS 0x00000801u /* ubyte, 1 dim: n */
#define BC_IDX_MAX_BYTES ((size_t)1 << 31)
#define BC_IDX_MAX_CLASSES 100
#define BC_IDX_CHUNK ((size_t)1 << 30) /* gzread takes an unsigned length */

/* Reads up to n bytes; *got = bytes read. Fails only on a read error (not on a short read). */
static bc_status idx_gzread(gzFile f, void *buf, size_t n, size_t *got, const char *path) {
    *got = 0;
    while (*got < n) {
        size_t want = n - *got;
        if (want > BC_IDX_CHUNK) want = BC_IDX_CHUNK;
        int r = gzread(f, (uint8_t *)buf + *got, (unsigned)want);
        if (r < 0) {
            int zerr = 0;
            const char *msg = gzerror(f, &zerr);
            if (zerr == Z_ERRNO)
                return bc__fail(BC_ERR_IO, "%s: read error: %s", path, strerror(errno));
            return bc__fail(BC_ERR_FORMAT, "%s: corrupt gzip data: %s", path, msg);
        }
        if (r == 0) break;
        *got += (size_t)r;
    }
    return BC_OK;
}

/* " (gzip stream cut short)" when zlib saw the compressed stream end early, else "". */
static const char *idx_gz_note(gzFile f) {
    int zerr = 0;
    gzerror(f, &zerr);
    return zerr == Z_BUF_ERROR ? " (gzip stream cut short)" : "";
}

/* Reads one IDX file of unsigned bytes with `ndim` dimensions and magic `magic`.
 * dims: (ndim) sizes from the header; *data: malloc'd (product of dims) bytes. */
static bc_status idx_read(const char *path, uint32_t magic, int32_t ndim, const char *kind,
                          const char *what, uint32_t *dims, uint8_t **data, size_t *bytes) {
    bc_status st = BC_OK;
    gzFile f = NULL;
    uint8_t *buf = NULL;
    uint8_t hdr[4 + 4 * 4]; /* magic + up to 4 big-endian u32 dims */
    size_t hdr_len = 4 + 4 * (size_t)ndim, got = 0, n = 1;
    *data = NULL;
    *bytes = 0;
    BC_ASSERT(ndim >= 1 && ndim <= 4);

    errno = 0;
    if (!(f = gzopen(path, "rb"))) {
        int e = errno;
        if (e == ENOENT) st = bc__fail(BC_ERR_NOT_FOUND, "%s: no such file", path);
        else st = bc__fail(BC_ERR_IO, "%s: cannot open: %s", path, e ? strerror(e) : "out of memory");
        goto out;
    }
    gzbuffer(f, 1u << 18);

    if ((st = idx_gzread(f, hdr, 4, &got, path)) != BC_OK) goto out;
    if (got < 4) {
        st = bc__fail(BC_ERR_FORMAT, "%s: truncated header: expected %zu bytes, got %zu%s", path,
                      hdr_len, got, idx_gz_note(f));
        goto out;
    }
    uint32_t m = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
    if (m != magic) {
        st = bc__fail(BC_ERR_FORMAT, "%s: bad magic 0x%08x (expected 0x%08x, %s)", path, m, magic, kind);
        goto out;
    }
    if ((st = idx_gzread(f, hdr + 4, hdr_len - 4, &got, path)) != BC_OK) goto out;
    if (got < hdr_len - 4) {
        st = bc__fail(BC_ERR_FORMAT, "%s: truncated header: expected %zu bytes, got %zu%s", path,
                      hdr_len, 4 + got, idx_gz_note(f));
        goto out;
    }
    for (int32_t d = 0; d < ndim; d++) {
        const uint8_t *p = hdr + 4 + 4 * d;
        dims[d] = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        if (dims[d] == 0) {
            st = bc__fail(BC_ERR_FORMAT, "%s: dimension %d of %s is 0", path, (int)d, kind);
            goto out;
        }
        if (!bc__mul_size(n, dims[d], &n) || n > BC_IDX_MAX_BYTES) {
            st = bc__fail(BC_ERR_FORMAT, "%s: dimensions too large (more than %zu bytes of %s data)",
                          path, BC_IDX_MAX_BYTES, what);
            goto out;
        }
    }

    if (!(buf = malloc(n))) {
        st = bc__fail(BC_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
        goto out;
    }
    if ((st = idx_gzread(f, buf, n, &got, path)) != BC_OK) goto out;
    if (got < n) {
        st = bc__fail(BC_ERR_FORMAT, "%s: truncated: expected %zu bytes of %s data, got %zu%s", path,
                      n, what, got, idx_gz_note(f));
        goto out;
    }
    uint8_t extra[256];
    if ((st = idx_gzread(f, extra, sizeof extra, &got, path)) != BC_OK) goto out;
    if (got > 0) {
        st = bc__fail(BC_ERR_FORMAT, "%s: trailing bytes after %zu bytes of %s data", path, n, what);
        goto out;
    }
    *data = buf;
    *bytes = n;
    buf = NULL;
out:
    free(buf);
    if (f) gzclose(f);
    return st;
}

bc_status bc_dataset_load_idx(const char *images_path, const char *labels_path, bc_dataset **out) {
    bc_status st = BC_OK;
    uint8_t *pixels = NULL, *labels = NULL;
    uint32_t idims[3], ldims[1];
    size_t ibytes = 0, lbytes = 0;
    if (!out) return bc__fail(BC_ERR_PARAM, "bc_dataset_load_idx: out is NULL");
    *out = NULL;
    if (!images_path || !labels_path)
        return bc__fail(BC_ERR_PARAM, "bc_dataset_load_idx: NULL path");

    st = idx_read(images_path, BC_IDX_MAGIC_IMAGES, 3, "IDX images", "pixel", idims, &pixels, &ibytes);
    if (st != BC_OK) goto out;
    st = idx_read(labels_path, BC_IDX_MAGIC_LABELS, 1, "IDX labels", "label", ldims, &labels, &lbytes);
    if (st != BC_OK) goto out;
    if (idims[0] != ldims[0]) {
        st = bc__fail(BC_ERR_FORMAT, "%s: %u images but %s: %u labels", images_path, idims[0],
                      labels_path, ldims[0]);
        goto out;
    }
    uint8_t max_label = 0;
    for (size_t i = 0; i < lbytes; i++) {
        if (labels[i] >= BC_IDX_MAX_CLASSES) {
            st = bc__fail(BC_ERR_FORMAT, "%s: label %u at index %zu is out of range (at most %d classes)",
                          labels_path, labels[i], i, BC_IDX_MAX_CLASSES);
            goto out;
        }
        if (labels[i] > max_label) max_label = labels[i];
    }
    /* The 2^31-byte cap keeps every dimension within int32. */
    bc_shape shape = {1, (int32_t)idims[1], (int32_t)idims[2]};
    st = bc_dataset_from_memory(pixels, labels, (int64_t)idims[0], shape, (int32_t)max_label + 1, out);
out:
    free(pixels);
    free(labels);
    return st;
}
