/* safetensors reader and F32 writer: u64 LE header length, JSON header, raw data section. */
#include "bc_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

/* Tensor data are handed out and written as raw host bytes, and the format is little-endian. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "bitcell's safetensors I/O assumes a little-endian host");
#endif

#define BC__ST_MAX_HEADER ((size_t)100000000) /* the reference implementation's limit */
#define BC__ST_MAX_DIMS   8
#define BC__ST_MAX_INT    9007199254740992.0 /* 2^53: larger JSON numbers are not exact */

static const struct {
    const char *name;
    size_t size;
} bc__st_dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
    {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
    {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

typedef struct {
    const char *name;  /* points into root */
    const char *dtype; /* points into root */
    int32_t ndim;
    int64_t shape[BC__ST_MAX_DIMS];
    size_t begin, end; /* byte range in the data section */
} bc__st_entry;

struct bc_st_file {
    unsigned char *mem;        /* the whole file, placed so the data section is 64-byte aligned */
    const unsigned char *data; /* data section: data_bytes bytes after the header */
    size_t data_bytes;
    cJSON *root;     /* parsed header; names and values point into it */
    bc__st_entry *t; /* (nt) sorted by data offset, i.e. file order */
    int32_t nt;
    const char **mkey, **mval; /* (nm) metadata in header order */
    int32_t nm;
};

static bool bc__little_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static size_t bc__st_dtype_size(const char *dtype) {
    for (size_t i = 0; i < sizeof bc__st_dtypes / sizeof bc__st_dtypes[0]; i++)
        if (strcmp(dtype, bc__st_dtypes[i].name) == 0) return bc__st_dtypes[i].size;
    return 0;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF) and no NUL bytes, which
 * would silently cut names short in C strings. Returns the offset of the first bad byte or n. */
static size_t bc__utf8_check(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c == 0) return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else
            return i;
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return n;
}

/* A non-negative integer that a double holds exactly. */
static bool bc__json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > BC__ST_MAX_INT || floor(d) != d) return false;
    *out = (uint64_t)d;
    return true;
}

static int bc__st_cmp_offset(const void *a, const void *b) {
    const bc__st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int bc__cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* First duplicate among n strings, or NULL. Sorts a scratch copy: O(n log n) even for a hostile
 * header with millions of entries. *nomem is set when the scratch cannot be allocated. */
static const char *bc__find_duplicate(const char **names, size_t n, bool *nomem) {
    *nomem = false;
    if (n < 2) return NULL;
    size_t bytes;
    if (!bc__mul_size(n, sizeof *names, &bytes)) {
        *nomem = true;
        return NULL;
    }
    const char **s = malloc(bytes);
    if (!s) {
        *nomem = true;
        return NULL;
    }
    memcpy(s, names, bytes);
    qsort(s, n, sizeof *s, bc__cmp_str);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(s[i - 1], s[i]) == 0) dup = s[i];
    free(s);
    return dup;
}

/* ---------------------------------------------------------------- header parsing */

static bc_status bc__st_parse_meta(bc_st_file *f, const cJSON *md, const char *path) {
    if (cJSON_IsNull(md)) return BC_OK; /* the reference reader takes null as "none" */
    if (!cJSON_IsObject(md))
        return bc__fail(BC_ERR_FORMAT, "%s: __metadata__ is not an object", path);
    int n = cJSON_GetArraySize(md);
    if (n <= 0) return BC_OK;
    f->mkey = calloc((size_t)n, sizeof *f->mkey);
    f->mval = calloc((size_t)n, sizeof *f->mval);
    if (!f->mkey || !f->mval) return bc__fail(BC_ERR_NOMEM, "%s: %d metadata entries", path, n);
    const cJSON *it;
    cJSON_ArrayForEach(it, md) {
        if (!cJSON_IsString(it) || !it->valuestring)
            return bc__fail(BC_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", path,
                            it->string ? it->string : "");
        f->mkey[f->nm] = it->string ? it->string : "";
        f->mval[f->nm] = it->valuestring;
        f->nm++;
    }
    bool nomem;
    const char *dup = bc__find_duplicate(f->mkey, (size_t)f->nm, &nomem);
    if (nomem) return bc__fail(BC_ERR_NOMEM, "%s: %d metadata entries", path, f->nm);
    if (dup) return bc__fail(BC_ERR_FORMAT, "%s: duplicate __metadata__ key '%s'", path, dup);
    return BC_OK;
}

static bc_status bc__st_parse_entry(bc__st_entry *e, const cJSON *it, size_t data_bytes,
                                    const char *path) {
    const char *name = e->name;
    if (!cJSON_IsObject(it))
        return bc__fail(BC_ERR_FORMAT, "%s: tensor '%s': entry is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!dt) return bc__fail(BC_ERR_FORMAT, "%s: tensor '%s': missing dtype", path, name);
    if (!sh) return bc__fail(BC_ERR_FORMAT, "%s: tensor '%s': missing shape", path, name);
    if (!off) return bc__fail(BC_ERR_FORMAT, "%s: tensor '%s': missing data_offsets", path, name);
    if (!cJSON_IsString(dt) || !dt->valuestring)
        return bc__fail(BC_ERR_FORMAT, "%s: tensor '%s': dtype is not a string", path, name);
    size_t esize = bc__st_dtype_size(dt->valuestring);
    if (!esize)
        return bc__fail(BC_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.32s'", path, name,
                        dt->valuestring);
    e->dtype = dt->valuestring;

    if (!cJSON_IsArray(sh))
        return bc__fail(BC_ERR_FORMAT, "%s: tensor '%s': shape is not an array", path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > BC__ST_MAX_DIMS)
        return bc__fail(BC_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d)", path, name,
                        nd, BC__ST_MAX_DIMS);
    size_t numel = 1;
    bool overflow = false;
    const cJSON *d;
    e->ndim = 0;
    cJSON_ArrayForEach(d, sh) {
        uint64_t v;
        if (!bc__json_uint(d, &v))
            return bc__fail(BC_ERR_FORMAT,
                            "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name,
                            e->ndim);
        e->shape[e->ndim++] = (int64_t)v;
        if (v > SIZE_MAX || !bc__mul_size(numel, (size_t)v, &numel)) overflow = true;
    }
    size_t bytes;
    /* A zero dimension makes any product of the others irrelevant. */
    for (int32_t k = 0; k < e->ndim; k++) {
        if (e->shape[k] == 0) {
            overflow = false;
            numel = 0;
        }
    }
    if (overflow || !bc__mul_size(numel, esize, &bytes))
        return bc__fail(BC_ERR_FORMAT, "%s: tensor '%s': shape too large", path, name);

    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !bc__json_uint(cJSON_GetArrayItem(off, 0), &b) ||
        !bc__json_uint(cJSON_GetArrayItem(off, 1), &en))
        return bc__fail(BC_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets is not a pair of non-negative integers",
                        path, name);
    if (b > en)
        return bc__fail(BC_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path,
                        name, (unsigned long long)b, (unsigned long long)en);
    if (en > data_bytes)
        return bc__fail(
            BC_ERR_FORMAT,
            "%s: tensor '%s': data_offsets [%llu, %llu] out of range (data section is %zu bytes)",
            path, name, (unsigned long long)b, (unsigned long long)en, data_bytes);
    e->begin = (size_t)b;
    e->end = (size_t)en;
    if (e->end - e->begin != bytes)
        return bc__fail(BC_ERR_FORMAT,
                        "%s: tensor '%s': shape needs %zu bytes of %s but data_offsets span %zu",
                        path, name, bytes, e->dtype, e->end - e->begin);
    return BC_OK;
}

static bc_status bc__st_parse_header(bc_st_file *f, const char *hdr, size_t n, const char *path) {
    if (n == 0 || hdr[0] != '{')
        return bc__fail(BC_ERR_FORMAT, "%s: header is not valid JSON (does not start with '{')",
                        path);
    size_t bad = bc__utf8_check((const unsigned char *)hdr, n);
    if (bad != n)
        return bc__fail(BC_ERR_FORMAT, "%s: header is not valid UTF-8 (byte %zu)", path, bad);
    const char *end = NULL;
    f->root = cJSON_ParseWithLengthOpts(hdr, n, &end, 0);
    if (!f->root) return bc__fail(BC_ERR_FORMAT, "%s: header is not valid JSON", path);
    /* The format pads the header with spaces; anything else after the JSON is corruption. */
    for (const char *p = end; p < hdr + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return bc__fail(BC_ERR_FORMAT, "%s: header is not valid JSON (garbage after byte %td)",
                            path, end - hdr);
    if (!cJSON_IsObject(f->root))
        return bc__fail(BC_ERR_FORMAT, "%s: header is not a JSON object", path);

    int n_items = cJSON_GetArraySize(f->root);
    if (n_items < 0 || n_items > INT32_MAX - 1)
        return bc__fail(BC_ERR_FORMAT, "%s: too many header entries", path);
    if (n_items > 0 && !(f->t = calloc((size_t)n_items, sizeof *f->t)))
        return bc__fail(BC_ERR_NOMEM, "%s: %d tensors", path, n_items);
    bool seen_meta = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, f->root) {
        const char *name = it->string ? it->string : "";
        bc_status st;
        if (strcmp(name, "__metadata__") == 0) {
            if (seen_meta) return bc__fail(BC_ERR_FORMAT, "%s: duplicate __metadata__", path);
            seen_meta = true;
            st = bc__st_parse_meta(f, it, path);
        } else {
            bc__st_entry *e = &f->t[f->nt++];
            e->name = name;
            st = bc__st_parse_entry(e, it, f->data_bytes, path);
        }
        if (st != BC_OK) return st;
    }

    /* Names must be unique; cJSON keeps duplicate keys that a map-based reader would merge. */
    if (f->nt > 1) {
        const char **names = malloc((size_t)f->nt * sizeof *names);
        if (!names) return bc__fail(BC_ERR_NOMEM, "%s: %d tensors", path, f->nt);
        for (int32_t i = 0; i < f->nt; i++) names[i] = f->t[i].name;
        bool nomem;
        const char *dup = bc__find_duplicate(names, (size_t)f->nt, &nomem);
        free(names);
        if (nomem) return bc__fail(BC_ERR_NOMEM, "%s: %d tensors", path, f->nt);
        if (dup) return bc__fail(BC_ERR_FORMAT, "%s: duplicate tensor '%s'", path, dup);
    }

    /* Sorted by offset the tensors must tile the data section exactly: no overlap, no hole,
     * nothing left over (the reference reader's rule). */
    if (f->nt > 1) qsort(f->t, (size_t)f->nt, sizeof *f->t, bc__st_cmp_offset);
    size_t at = 0;
    for (int32_t i = 0; i < f->nt; i++) {
        const bc__st_entry *e = &f->t[i];
        if (e->begin < at)
            return bc__fail(BC_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap (bytes %zu..%zu)",
                            path, f->t[i - 1].name, e->name, e->begin, at);
        if (e->begin > at)
            return bc__fail(BC_ERR_FORMAT,
                            "%s: hole in the data section at bytes %zu..%zu before '%s'", path, at,
                            e->begin, e->name);
        at = e->end;
    }
    if (at != f->data_bytes)
        return bc__fail(BC_ERR_FORMAT, "%s: tensors cover %zu of the %zu bytes of the data section",
                        path, at, f->data_bytes);
    return BC_OK;
}

/* ---------------------------------------------------------------- reading */

bc_status bc_st_open(const char *path, bc_st_file **out) {
    bc_status st = BC_OK;
    FILE *fp = NULL;
    bc_st_file *f = NULL;
    if (out) *out = NULL;
    if (!path || !out) return bc__fail(BC_ERR_PARAM, "bc_st_open: NULL argument");
    if (!bc__little_endian())
        return bc__fail(BC_ERR_UNSUPPORTED, "%s: safetensors needs a little-endian host", path);
    if (!(f = calloc(1, sizeof *f))) {
        st = bc__fail(BC_ERR_NOMEM, "%s: cannot allocate", path);
        goto out;
    }
    if (!(fp = fopen(path, "rb"))) {
        st = bc__fail(BC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0) {
        st = bc__fail(BC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = bc__fail(BC_ERR_IO, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > (uint64_t)(SIZE_MAX / 2)) {
        st = bc__fail(BC_ERR_NOMEM, "%s: file too large (%lld bytes)", path, (long long)sb.st_size);
        goto out;
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        st = bc__fail(BC_ERR_FORMAT, "%s: file too short (%zu bytes) for a safetensors header",
                      path, size);
        goto out;
    }
    unsigned char len8[8];
    if ((st = bc__read_exact(fp, len8, 8, path)) != BC_OK) goto out;
    uint64_t hn = 0;
    for (int k = 7; k >= 0; k--) hn = (hn << 8) | len8[k];
    if (hn == 0) {
        st = bc__fail(BC_ERR_FORMAT, "%s: header length is 0", path);
        goto out;
    }
    if (hn > BC__ST_MAX_HEADER) {
        st = bc__fail(BC_ERR_FORMAT, "%s: header length %llu exceeds the limit of %zu bytes", path,
                      (unsigned long long)hn, BC__ST_MAX_HEADER);
        goto out;
    }
    if (hn > size - 8) {
        st = bc__fail(BC_ERR_FORMAT, "%s: header length %llu exceeds file size %zu", path,
                      (unsigned long long)hn, size);
        goto out;
    }
    size_t hlen = (size_t)hn;
    f->data_bytes = size - 8 - hlen;

    /* mem: pad bytes, then the file, so that the data section starts 64-byte aligned. */
    size_t pad = (64 - (8 + hlen) % 64) % 64, total;
    if (!bc__add_size(size, pad + 64, &total)) {
        st = bc__fail(BC_ERR_NOMEM, "%s: file too large", path);
        goto out;
    }
    total &= ~(size_t)63;
    if (!(f->mem = aligned_alloc(64, total))) {
        st = bc__fail(BC_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, total);
        goto out;
    }
    memcpy(f->mem + pad, len8, 8);
    if ((st = bc__read_exact(fp, f->mem + pad + 8, size - 8, path)) != BC_OK) goto out;
    f->data = f->mem + pad + 8 + hlen;
    st = bc__st_parse_header(f, (const char *)f->mem + pad + 8, hlen, path);
out:
    if (fp) fclose(fp);
    if (st != BC_OK) {
        bc_st_close(f);
        f = NULL;
    }
    if (out) *out = f;
    return st;
}

void bc_st_close(bc_st_file *f) {
    if (!f) return;
    cJSON_Delete(f->root);
    free(f->t);
    free(f->mkey);
    free(f->mval);
    free(f->mem);
    free(f);
}

int32_t bc_st_count(const bc_st_file *f) { return f ? f->nt : 0; }

bc_status bc_st_tensor(const bc_st_file *f, int32_t i, const char **name, const char **dtype,
                       int32_t *ndim, int64_t *shape, const void **data, size_t *bytes) {
    if (!f) return bc__fail(BC_ERR_PARAM, "bc_st_tensor: NULL file");
    if (i < 0 || i >= f->nt)
        return bc__fail(BC_ERR_PARAM, "bc_st_tensor: index %d out of range (%d tensors)", i, f->nt);
    const bc__st_entry *e = &f->t[i];
    if (name) *name = e->name;
    if (dtype) *dtype = e->dtype;
    if (ndim) *ndim = e->ndim;
    if (shape)
        for (int32_t k = 0; k < e->ndim; k++) shape[k] = e->shape[k];
    if (data) *data = f->data + e->begin;
    if (bytes) *bytes = e->end - e->begin;
    return BC_OK;
}

const char *bc_st_meta(const bc_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (int32_t i = 0; i < f->nm; i++)
        if (strcmp(f->mkey[i], key) == 0) return f->mval[i];
    return NULL;
}

int32_t bc_st_meta_count(const bc_st_file *f) { return f ? f->nm : 0; }

const char *bc_st_meta_key(const bc_st_file *f, int32_t i) {
    if (!f || i < 0 || i >= f->nm) return NULL;
    return f->mkey[i];
}

/* ---------------------------------------------------------------- writing */

/* A JSON integer printed exactly (cJSON would print large doubles with %g). */
static bool bc__json_add_uint(cJSON *arr, uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    cJSON *n = cJSON_CreateRaw(buf);
    return n && cJSON_AddItemToArray(arr, n);
}

/* Checks the arguments; *bytes_out gets each tensor's byte size (nt entries). */
static bc_status bc__st_write_check(const char *path, const bc_st_tensor_in *t, int32_t nt,
                                    const bc_st_meta_in *meta, int32_t nm, size_t *bytes_out) {
    if (nt < 0 || nm < 0 || (nt > 0 && !t) || (nm > 0 && !meta))
        return bc__fail(BC_ERR_PARAM, "%s: bad tensor or metadata list (nt %d, nm %d)", path, nt,
                        nm);
    for (int32_t i = 0; i < nt; i++) {
        const bc_st_tensor_in *e = &t[i];
        if (!e->name || !*e->name)
            return bc__fail(BC_ERR_PARAM, "%s: tensor %d has no name", path, i);
        if (strcmp(e->name, "__metadata__") == 0)
            return bc__fail(BC_ERR_PARAM, "%s: tensor %d is named __metadata__", path, i);
        if (e->ndim < 0 || e->ndim > 4)
            return bc__fail(BC_ERR_PARAM, "%s: tensor '%s': ndim %d not in 0..4", path, e->name,
                            e->ndim);
        size_t numel = 1;
        for (int32_t k = 0; k < e->ndim; k++) {
            if (e->shape[k] < 0)
                return bc__fail(BC_ERR_PARAM, "%s: tensor '%s': negative shape[%d]", path, e->name,
                                k);
            if ((uint64_t)e->shape[k] > SIZE_MAX ||
                !bc__mul_size(numel, (size_t)e->shape[k], &numel))
                return bc__fail(BC_ERR_NOMEM, "%s: tensor '%s': size overflows", path, e->name);
        }
        if (!bc__mul_size(numel, sizeof(float), &bytes_out[i]))
            return bc__fail(BC_ERR_NOMEM, "%s: tensor '%s': size overflows", path, e->name);
        if (bytes_out[i] && !e->data)
            return bc__fail(BC_ERR_PARAM, "%s: tensor '%s': NULL data", path, e->name);
    }
    for (int32_t i = 0; i < nm; i++)
        if (!meta[i].key || !meta[i].value)
            return bc__fail(BC_ERR_PARAM, "%s: metadata entry %d has a NULL key or value", path, i);
    return BC_OK;
}

/* Rejects repeated names among scratch[0..n). */
static bc_status bc__st_write_unique(const char *path, const char **scratch, int32_t n,
                                     const char *what) {
    bool nomem;
    const char *dup = bc__find_duplicate(scratch, (size_t)n, &nomem);
    if (nomem) return bc__fail(BC_ERR_NOMEM, "%s: %d %ss", path, n, what);
    if (dup) return bc__fail(BC_ERR_PARAM, "%s: duplicate %s '%s'", path, what, dup);
    return BC_OK;
}

bc_status bc_st_write(const char *path, const bc_st_tensor_in *t, int32_t nt,
                      const bc_st_meta_in *meta, int32_t nm) {
    bc_status st = BC_OK;
    size_t *bytes = NULL;
    const char **names = NULL;
    cJSON *root = NULL;
    char *json = NULL;
    FILE *fp = NULL;
    char *tmp = NULL;
    if (!path || !*path) return bc__fail(BC_ERR_PARAM, "bc_st_write: empty path");
    if (!bc__little_endian())
        return bc__fail(BC_ERR_UNSUPPORTED, "%s: safetensors needs a little-endian host", path);
    int32_t nmax = nt > nm ? nt : nm;
    if (nt < 0 || nm < 0)
        return bc__fail(BC_ERR_PARAM, "%s: bad tensor or metadata count (nt %d, nm %d)", path, nt,
                        nm);
    if (!(bytes = calloc((size_t)nt + 1, sizeof *bytes)) ||
        !(names = calloc((size_t)nmax + 1, sizeof *names))) {
        st = bc__fail(BC_ERR_NOMEM, "%s: %d tensors", path, nt);
        goto out;
    }
    if ((st = bc__st_write_check(path, t, nt, meta, nm, bytes)) != BC_OK) goto out;
    for (int32_t i = 0; i < nt; i++) names[i] = t[i].name;
    if ((st = bc__st_write_unique(path, names, nt, "tensor")) != BC_OK) goto out;
    for (int32_t i = 0; i < nm; i++) names[i] = meta[i].key;
    if ((st = bc__st_write_unique(path, names, nm, "metadata key")) != BC_OK) goto out;

    /* Header: {"__metadata__": {...}, "<name>": {"dtype", "shape", "data_offsets"}, ...} with
     * the tensors back to back in the given order. */
    bool ok = (root = cJSON_CreateObject()) != NULL;
    if (ok && nm > 0) {
        cJSON *md = cJSON_AddObjectToObject(root, "__metadata__");
        ok = md != NULL;
        for (int32_t i = 0; ok && i < nm; i++)
            ok = cJSON_AddStringToObject(md, meta[i].key, meta[i].value) != NULL;
    }
    size_t at = 0;
    for (int32_t i = 0; ok && i < nt; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        ok = e && cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *sh = ok ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *off = sh ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        ok = off != NULL;
        for (int32_t k = 0; ok && k < t[i].ndim; k++)
            ok = bc__json_add_uint(sh, (uint64_t)t[i].shape[k]);
        size_t end = at;
        if (ok && !bc__add_size(at, bytes[i], &end)) {
            st = bc__fail(BC_ERR_NOMEM, "%s: total size overflows", path);
            goto out;
        }
        ok = ok && bc__json_add_uint(off, at) && bc__json_add_uint(off, end);
        at = end;
    }
    if (!ok || !(json = cJSON_PrintUnformatted(root))) {
        st = bc__fail(BC_ERR_NOMEM, "%s: cannot build the header", path);
        goto out;
    }
    size_t jlen = strlen(json);
    size_t hlen = jlen + (8 - jlen % 8) % 8; /* spaces pad the header to a multiple of 8 */
    if (hlen > BC__ST_MAX_HEADER) {
        st = bc__fail(BC_ERR_PARAM, "%s: header of %zu bytes exceeds the %zu byte limit", path,
                      hlen, BC__ST_MAX_HEADER);
        goto out;
    }
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)hlen >> (8 * k));

    if ((st = bc__atomic_open(path, &fp, &tmp)) != BC_OK) goto out;
    static const char spaces[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    errno = 0;
    ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(json, 1, jlen, fp) == jlen &&
         fwrite(spaces, 1, hlen - jlen, fp) == hlen - jlen;
    for (int32_t i = 0; ok && i < nt; i++)
        ok = bytes[i] == 0 || fwrite(t[i].data, 1, bytes[i], fp) == bytes[i];
    if (!ok) st = bc__fail(BC_ERR_IO, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
    bc_status st2 = bc__atomic_commit(fp, tmp, path, st == BC_OK);
    if (st == BC_OK) st = st2;
out:
    cJSON_free(json);
    cJSON_Delete(root);
    free(names);
    free(bytes);
    return st;
}
