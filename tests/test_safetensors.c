/* safetensors round trip and corrupt-file rejection, atomic writes, mkdir -p, SVG plots. */
#include "bc_internal.h"
#include "bc_test.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

static const char *tpath(const char *name) { return bc_t_path(g_dir, name); }

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static unsigned char *read_raw(const char *p, size_t *n) {
    char *buf = NULL;
    *n = 0;
    if (bc__read_file(p, (size_t)1 << 30, &buf, n) != BC_OK) return NULL;
    return (unsigned char *)buf;
}

/* A safetensors file from a header text (padded to a multiple of 8 when pad) and data bytes. */
static void write_st(const char *p, const char *header, bool pad, const void *data, size_t dn) {
    size_t hn = strlen(header), padded = pad ? (hn + 7) / 8 * 8 : hn;
    size_t total = 8 + padded + dn;
    unsigned char *buf = calloc(total, 1);
    BC_CHECK(buf != NULL);
    if (!buf) return;
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)padded >> (8 * k));
    memcpy(buf + 8, header, hn);
    memset(buf + 8 + hn, ' ', padded - hn);
    if (dn) memcpy(buf + 8 + padded, data, dn);
    bc_t_write_raw(p, buf, total);
    free(buf);
}

/* Count of directory entries whose name contains ".tmp.". */
static int count_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void rm_rf(const char *p) {
    struct stat sb;
    if (lstat(p, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(p);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", p, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(p);
    } else {
        unlink(p);
    }
}

/* Opening must fail with BC_ERR_FORMAT, no handle, and a message that starts with the path. */
#define EXPECT_FORMAT(p)                                                                           \
    do {                                                                                           \
        bc_st_file *f_ = (bc_st_file *)1;                                                          \
        bc_status st_ = bc_st_open((p), &f_);                                                      \
        BC_CHECK_MSG(st_ == BC_ERR_FORMAT, "%s: status %d (%s)", (p), (int)st_, bc_last_error());  \
        BC_CHECK(f_ == NULL);                                                                      \
        BC_CHECK_MSG(starts_with(bc_last_error(), (p)), "message '%s'", bc_last_error());          \
        if (st_ == BC_OK) bc_st_close(f_);                                                         \
    } while (0)

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t xorshift(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* ---------------------------------------------------------------- round trip */

/* Data with bit patterns that a float round trip through text would lose. */
static void fill(float *x, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)(i * 2654435761u) ^ seed;
        memcpy(&x[i], &u, 4);
    }
    if (n > 0) x[0] = -0.0f;
    if (n > 1) x[1] = NAN;
    if (n > 2) x[2] = 1e-42f; /* denormal */
}

static void test_roundtrip(void) {
    const char *p = tpath("model.safetensors");
    float w[3 * 5], b[7], conv[2 * 3 * 2 * 2], scalar[1];
    fill(w, 15, 1);
    fill(b, 7, 2);
    fill(conv, 24, 3);
    scalar[0] = 3.25f;
    const bc_st_tensor_in t[] = {
        {"layer0.weight", 2, {3, 5}, w}, {"bias", 1, {7}, b},
        {"conv", 4, {2, 3, 2, 2}, conv}, {"empty", 2, {0, 4}, NULL},
        {"scalar", 0, {0}, scalar},
    };
    const bc_st_meta_in meta[] = {
        {"format", "bitcell-1"},
        {"network", "[dense]\nunits = 10 ; \"quoted\" \\ back\tslash"},
        {"note", "µS — ünïcode"},
        {"empty", ""},
    };
    bc_status st = bc_st_write(p, t, 5, meta, 4);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    BC_CHECK(count_tmp_files(g_dir) == 0);

    /* Raw layout: length multiple of 8, metadata first, space padding. */
    size_t n;
    unsigned char *raw = read_raw(p, &n);
    BC_CHECK(raw != NULL && n > 8);
    if (raw && n > 8) {
        uint64_t hn = 0;
        for (int k = 7; k >= 0; k--) hn = (hn << 8) | raw[k];
        BC_CHECK(hn % 8 == 0);
        BC_CHECK(8 + hn + (15 + 7 + 24 + 1) * 4 == n);
        BC_CHECK(starts_with((const char *)raw + 8, "{\"__metadata__\":{"));
        BC_CHECK(memchr(raw + 8, '\n', hn) == NULL); /* unformatted; newlines are escaped */
    }
    free(raw);

    bc_st_file *f = NULL;
    st = bc_st_open(p, &f);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (st != BC_OK) return;
    BC_CHECK(bc_st_count(f) == 5);
    for (int32_t i = 0; i < bc_st_count(f) && i < 5; i++) {
        const char *name = NULL, *dtype = NULL;
        int32_t ndim = -1;
        int64_t shape[8] = {0};
        const void *data = NULL;
        size_t bytes = 1;
        BC_CHECK(bc_st_tensor(f, i, &name, &dtype, &ndim, shape, &data, &bytes) == BC_OK);
        BC_CHECK_MSG(name && strcmp(name, t[i].name) == 0, "tensor %d: %s", i, name);
        BC_CHECK(dtype && strcmp(dtype, "F32") == 0);
        BC_CHECK(ndim == t[i].ndim);
        size_t numel = 1;
        for (int32_t k = 0; k < t[i].ndim; k++) {
            BC_CHECK(shape[k] == t[i].shape[k]);
            numel *= (size_t)t[i].shape[k];
        }
        BC_CHECK(bytes == numel * 4);
        BC_CHECK(data != NULL);
        BC_CHECK(((uintptr_t)data & 3) == 0);
        if (bytes && data) BC_CHECK(memcmp(data, t[i].data, bytes) == 0);
    }
    BC_CHECK(bc_st_meta_count(f) == 4);
    for (int32_t i = 0; i < 4; i++) {
        const char *k = bc_st_meta_key(f, i);
        BC_CHECK(k && strcmp(k, meta[i].key) == 0);
        const char *v = bc_st_meta(f, meta[i].key);
        BC_CHECK_MSG(v && strcmp(v, meta[i].value) == 0, "meta %s = '%s'", meta[i].key, v);
    }
    BC_CHECK(bc_st_meta(f, "missing") == NULL);
    BC_CHECK(bc_st_meta_key(f, 4) == NULL);
    BC_CHECK(bc_st_meta_key(f, -1) == NULL);
    BC_CHECK(bc_st_tensor(f, 5, NULL, NULL, NULL, NULL, NULL, NULL) == BC_ERR_PARAM);
    BC_CHECK(bc_st_tensor(f, -1, NULL, NULL, NULL, NULL, NULL, NULL) == BC_ERR_PARAM);
    bc_st_close(f);
    bc_st_close(NULL);

    /* No tensors, no metadata: "{}" padded to 8 bytes. */
    p = tpath("nothing.safetensors");
    BC_CHECK(bc_st_write(p, NULL, 0, NULL, 0) == BC_OK);
    st = bc_st_open(p, &f);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (st == BC_OK) {
        BC_CHECK(bc_st_count(f) == 0 && bc_st_meta_count(f) == 0);
        bc_st_close(f);
    }
    struct stat sb;
    BC_CHECK(stat(p, &sb) == 0 && sb.st_size == 16);
}

/* Byte-exact against the serializer tests of the reference implementation
 * (huggingface/safetensors, safetensors/src/tensor.rs: test_serialization, test_empty). */
static void test_reference_bytes(void) {
    static const unsigned char ref_one[] = {
        64, 0,  0,   0,   0,   0,   0,   0,   123, 34,  97,  116, 116, 110, 46,  48,
        34, 58, 123, 34,  100, 116, 121, 112, 101, 34,  58,  34,  70,  51,  50,  34,
        44, 34, 115, 104, 97,  112, 101, 34,  58,  91,  49,  44,  50,  44,  51,  93,
        44, 34, 100, 97,  116, 97,  95,  111, 102, 102, 115, 101, 116, 115, 34,  58,
        91, 48, 44,  50,  52,  93,  125, 125, 0,   0,   0,   0,   0,   0,   128, 63,
        0,  0,  0,   64,  0,   0,   64,  64,  0,   0,   128, 64,  0,   0,   160, 64};
    static const unsigned char ref_empty[] = {8,   0,   0,  0,  0,  0,  0,  0,
                                              123, 125, 32, 32, 32, 32, 32, 32};
    static const unsigned char ref_meta[] = {
        40,  0,   0,   0,  0,  0,  0,   0,   123, 34,  95,  95,  109, 101, 116, 97,
        100, 97,  116, 97, 95, 95, 34,  58,  123, 34,  102, 114, 97,  109, 101, 119,
        111, 114, 107, 34, 58, 34, 112, 116, 34,  125, 125, 32,  32,  32,  32,  32};
    const float d[6] = {0, 1, 2, 3, 4, 5};
    const bc_st_tensor_in t[] = {{"attn.0", 3, {1, 2, 3}, d}};
    const bc_st_meta_in m[] = {{"framework", "pt"}};
    const char *p = tpath("ref.safetensors");
    size_t n;
    unsigned char *raw;

    BC_CHECK(bc_st_write(p, t, 1, NULL, 0) == BC_OK);
    raw = read_raw(p, &n);
    BC_CHECK(raw && n == sizeof ref_one && memcmp(raw, ref_one, n) == 0);
    free(raw);
    BC_CHECK(bc_st_write(p, NULL, 0, NULL, 0) == BC_OK);
    raw = read_raw(p, &n);
    BC_CHECK(raw && n == sizeof ref_empty && memcmp(raw, ref_empty, n) == 0);
    free(raw);
    BC_CHECK(bc_st_write(p, NULL, 0, m, 1) == BC_OK);
    raw = read_raw(p, &n);
    BC_CHECK(raw && n == sizeof ref_meta && memcmp(raw, ref_meta, n) == 0);
    free(raw);

    /* "__metadata__": null means no metadata to the reference reader. */
    write_st(p, "{\"__metadata__\":null}", true, NULL, 0);
    bc_st_file *f = NULL;
    BC_CHECK(bc_st_open(p, &f) == BC_OK && bc_st_meta_count(f) == 0);
    bc_st_close(f);
}

/* Files written by others: tensor order comes from the offsets, not the header order; other
 * dtypes are reported as they are. */
static void test_foreign(void) {
    const char *p = tpath("foreign.safetensors");
    unsigned char data[4 + 6 + 8];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)i;
    write_st(p,
             "{\"b\":{\"dtype\":\"I16\",\"shape\":[3],\"data_offsets\":[4,10],\"extra\":1},"
             "\"a\":{\"dtype\":\"U8\",\"shape\":[2,2],\"data_offsets\":[0,4]},"
             "\"z\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[10,12]},"
             "\"e\":{\"dtype\":\"F64\",\"shape\":[0],\"data_offsets\":[12,12]},"
             "\"c\":{\"dtype\":\"F16\",\"shape\":[1,3],\"data_offsets\":[12,18]}}",
             true, data, sizeof data);
    bc_st_file *f = NULL;
    bc_status st = bc_st_open(p, &f);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (st != BC_OK) return;
    static const char *order[] = {"a", "b", "z", "e", "c"};
    BC_CHECK(bc_st_count(f) == 5);
    for (int32_t i = 0; i < 5 && i < bc_st_count(f); i++) {
        const char *name, *dtype;
        int32_t ndim;
        int64_t shape[8];
        const void *d;
        size_t bytes;
        BC_CHECK(bc_st_tensor(f, i, &name, &dtype, &ndim, shape, &d, &bytes) == BC_OK);
        BC_CHECK_MSG(strcmp(name, order[i]) == 0, "%d: %s", i, name);
        if (i == 1)
            BC_CHECK(strcmp(dtype, "I16") == 0 && ndim == 1 && shape[0] == 3 && bytes == 6 &&
                     ((const unsigned char *)d)[0] == 4);
        if (i == 2) BC_CHECK(ndim == 0 && bytes == 2);
        if (i == 3) BC_CHECK(bytes == 0);
    }
    bc_st_close(f);

    /* Unpadded header, other whitespace after the JSON: still valid. */
    p = tpath("unpadded.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[0,3]}}\n\t ", false,
             "xyz", 3);
    st = bc_st_open(p, &f);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (st == BC_OK) bc_st_close(f);
}

/* ---------------------------------------------------------------- corrupt files */

static void test_corrupt(void) {
    const char *p = tpath("bad.safetensors");
    float d[4] = {1, 2, 3, 4};

    bc_t_write_raw(p, "", 0);
    EXPECT_FORMAT(p);

    /* Cut a valid file at several points. */
    const char *good = tpath("good.safetensors");
    const bc_st_tensor_in t[] = {{"w", 2, {2, 2}, d}};
    const bc_st_meta_in m[] = {{"k", "v"}};
    BC_CHECK(bc_st_write(good, t, 1, m, 1) == BC_OK);
    size_t n;
    unsigned char *raw = read_raw(good, &n);
    BC_CHECK(raw != NULL && n > 24);
    if (!raw) return;
    uint64_t hn = 0;
    for (int k = 7; k >= 0; k--) hn = (hn << 8) | raw[k];
    size_t ds = 8 + (size_t)hn; /* start of the data section */
    size_t cuts[] = {1, 3, 7, 8, 9, 8 + (ds - 8) / 2, ds - 1, ds, ds + 3, n - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        bc_t_write_raw(p, raw, cuts[c]);
        EXPECT_FORMAT(p);
    }

    /* Header length: zero, beyond the file, beyond the 100 MB limit. */
    unsigned char *mod = malloc(n);
    BC_CHECK(mod != NULL);
    if (!mod) {
        free(raw);
        return;
    }
    memcpy(mod, raw, n);
    memset(mod, 0, 8);
    bc_t_write_raw(p, mod, n);
    EXPECT_FORMAT(p);
    uint64_t lens[] = {n - 7, n, 100000001, (uint64_t)200 << 20, UINT64_MAX};
    for (size_t c = 0; c < sizeof lens / sizeof lens[0]; c++) {
        for (int k = 0; k < 8; k++) mod[k] = (unsigned char)(lens[c] >> (8 * k));
        bc_t_write_raw(p, mod, n);
        EXPECT_FORMAT(p);
    }
    for (int k = 0; k < 8; k++) mod[k] = (unsigned char)((uint64_t)(n - 7) >> (8 * k));
    bc_t_write_raw(p, mod, n);
    bc_st_file *f = NULL;
    bc_st_open(p, &f);
    BC_CHECK_MSG(strstr(bc_last_error(), "exceeds file size") != NULL, "%s", bc_last_error());
    free(mod);

    /* Header contents. */
    static const struct {
        const char *why, *header;
        size_t data_bytes;
    } cases[] = {
        {"not json", "{\"w\": {\"dtype\": \"F32\", ", 16},
        {"not an object", "[1, 2, 3]", 0},
        {"json scalar", "{}}", 0},
        {"garbage after json", "{} x", 0},
        {"missing dtype", "{\"w\":{\"shape\":[4],\"data_offsets\":[0,16]}}", 16},
        {"missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", 16},
        {"missing offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16},
        {"entry not object", "{\"w\":[1,2]}", 0},
        {"dtype not string", "{\"w\":{\"dtype\":4,\"shape\":[4],\"data_offsets\":[0,16]}}", 16},
        {"unknown dtype", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16},
        {"lowercase dtype", "{\"w\":{\"dtype\":\"f32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
         16},
        {"shape mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}",
         12},
        {"shape negative", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}",
         16},
        {"shape fraction", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1},
        {"shape string", "{\"w\":{\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]}}", 1},
        {"shape not array", "{\"w\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", 1},
        {"shape overflow",
         "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}",
         0},
        {"shape huge", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1e300],\"data_offsets\":[0,1]}}", 1},
        {"nine dims",
         "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1},
        {"offsets three", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1},
        {"offsets negative", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1},
        {"offsets reversed", "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[1,0]}}", 1},
        {"offsets out of range", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         4},
        {"offsets far out",
         "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[18446744073709551615,0]}}", 1},
        {"overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12},
        {"same range",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8},
        {"empty inside other",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
         8},
        {"hole",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12},
        {"leading hole", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8},
        {"trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8},
        {"duplicate name",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8},
        {"metadata number", "{\"__metadata__\":{\"k\":1}}", 0},
        {"metadata null", "{\"__metadata__\":{\"k\":null}}", 0},
        {"metadata nested", "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0},
        {"metadata not object", "{\"__metadata__\":\"x\"}", 0},
        {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0},
        {"metadata duplicate key", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0},
        {"bad utf-8", "{\"\xff\xfe\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1},
        {"overlong utf-8", "{\"\xc0\xaf\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
         1},
        {"deep nesting",
         "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
         0},
    };
    unsigned char zeros[64] = {0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        write_st(p, cases[c].header, true, zeros, cases[c].data_bytes);
        bc_st_file *g = (bc_st_file *)1;
        bc_status st = bc_st_open(p, &g);
        BC_CHECK_MSG(st == BC_ERR_FORMAT, "case '%s': status %d (%s)", cases[c].why, (int)st,
                     bc_last_error());
        BC_CHECK(g == NULL);
        BC_CHECK_MSG(starts_with(bc_last_error(), p), "case '%s': message '%s'", cases[c].why,
                     bc_last_error());
        if (st == BC_OK) bc_st_close(g);
    }
    /* A NUL byte inside the header would cut names short. */
    {
        const char h[] = "{\"a\\u0000b\":{}}    ";
        write_st(p, h, true, NULL, 0);
        EXPECT_FORMAT(p);
        unsigned char nul[8 + 8] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', 0, ' ', ' ', ' ', ' ', ' '};
        bc_t_write_raw(p, nul, sizeof nul);
        EXPECT_FORMAT(p);
    }

    /* Random garbage, and a valid length in front of garbage. */
    for (int r = 0; r < 300; r++) {
        size_t len = (size_t)(xorshift() % 300);
        unsigned char buf[300];
        for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)xorshift();
        if (r % 2 && len > 8) {
            uint64_t h = 1 + xorshift() % (len - 8);
            for (int k = 0; k < 8; k++) buf[k] = (unsigned char)(h >> (8 * k));
            buf[8] = '{';
            if (len > 9) buf[9] = 'x'; /* "{}" would be a valid empty file */
        }
        bc_t_write_raw(p, buf, len);
        EXPECT_FORMAT(p);
    }
    /* Random byte flips in a valid file: may stay valid (data bytes, padding), never crash. */
    for (int r = 0; r < 300; r++) {
        unsigned char *cp = malloc(n);
        BC_CHECK(cp != NULL);
        if (!cp) break;
        memcpy(cp, raw, n);
        int flips = 1 + (int)(xorshift() % 3);
        for (int k = 0; k < flips; k++)
            cp[xorshift() % n] ^= (unsigned char)(1u << (xorshift() % 8));
        bc_t_write_raw(p, cp, n);
        bc_st_file *g = NULL;
        bc_status st = bc_st_open(p, &g);
        BC_CHECK_MSG(st == BC_OK || st == BC_ERR_FORMAT, "flip %d: %d %s", r, (int)st,
                     bc_last_error());
        if (st == BC_OK) {
            const void *dp;
            size_t bytes;
            for (int32_t i = 0; i < bc_st_count(g); i++)
                BC_CHECK(bc_st_tensor(g, i, NULL, NULL, NULL, NULL, &dp, &bytes) == BC_OK);
            bc_st_close(g);
        }
        free(cp);
    }
    free(raw);

    /* Not a file: BC_ERR_IO, still naming the path. */
    f = (bc_st_file *)1;
    BC_CHECK(bc_st_open(tpath("does-not-exist"), &f) == BC_ERR_IO && f == NULL);
    BC_CHECK(starts_with(bc_last_error(), tpath("does-not-exist")));
    BC_CHECK(bc_st_open(g_dir, &f) == BC_ERR_IO && f == NULL);
    BC_CHECK(starts_with(bc_last_error(), g_dir));
    BC_CHECK(bc_st_open(NULL, &f) == BC_ERR_PARAM);
}

/* ---------------------------------------------------------------- writing */

static void test_write_errors(void) {
    float d[4] = {1, 2, 3, 4};
    const bc_st_tensor_in one[] = {{"w", 1, {4}, d}};

    /* Into a missing directory: BC_ERR_IO naming the path, nothing left behind. */
    const char *p = tpath("missing/dir/x.safetensors");
    BC_CHECK(bc_st_write(p, one, 1, NULL, 0) == BC_ERR_IO);
    BC_CHECK_MSG(starts_with(bc_last_error(), p), "%s", bc_last_error());
    BC_CHECK(!file_exists(p) && !file_exists(tpath("missing")));

    /* Bad arguments: BC_ERR_PARAM, and an existing file stays as it was. */
    p = tpath("keep.safetensors");
    BC_CHECK(bc_st_write(p, one, 1, NULL, 0) == BC_OK);
    const bc_st_tensor_in dup[] = {{"w", 1, {4}, d}, {"w", 1, {4}, d}};
    const bc_st_tensor_in meta_name[] = {{"__metadata__", 1, {4}, d}};
    const bc_st_tensor_in no_name[] = {{NULL, 1, {4}, d}};
    const bc_st_tensor_in empty_name[] = {{"", 1, {4}, d}};
    const bc_st_tensor_in null_data[] = {{"w", 1, {4}, NULL}};
    const bc_st_tensor_in bad_ndim[] = {{"w", 5, {4}, d}};
    const bc_st_tensor_in neg_dim[] = {{"w", 2, {4, -1}, d}};
    const bc_st_meta_in dup_meta[] = {{"k", "a"}, {"k", "b"}};
    const bc_st_meta_in null_meta[] = {{"k", NULL}};
    BC_CHECK(bc_st_write(p, dup, 2, NULL, 0) == BC_ERR_PARAM);
    BC_CHECK(strstr(bc_last_error(), "duplicate") != NULL);
    BC_CHECK(bc_st_write(p, meta_name, 1, NULL, 0) == BC_ERR_PARAM);
    BC_CHECK(bc_st_write(p, no_name, 1, NULL, 0) == BC_ERR_PARAM);
    BC_CHECK(bc_st_write(p, empty_name, 1, NULL, 0) == BC_ERR_PARAM);
    BC_CHECK(bc_st_write(p, null_data, 1, NULL, 0) == BC_ERR_PARAM);
    BC_CHECK(bc_st_write(p, bad_ndim, 1, NULL, 0) == BC_ERR_PARAM);
    BC_CHECK(bc_st_write(p, neg_dim, 1, NULL, 0) == BC_ERR_PARAM);
    BC_CHECK(bc_st_write(p, one, 1, dup_meta, 2) == BC_ERR_PARAM);
    BC_CHECK(bc_st_write(p, one, 1, null_meta, 1) == BC_ERR_PARAM);
    BC_CHECK(bc_st_write(p, NULL, 1, NULL, 0) == BC_ERR_PARAM);
    BC_CHECK(bc_st_write(p, one, -1, NULL, 0) == BC_ERR_PARAM);
    BC_CHECK(bc_st_write(NULL, one, 1, NULL, 0) == BC_ERR_PARAM);
    bc_st_file *f = NULL;
    BC_CHECK(bc_st_open(p, &f) == BC_OK);
    BC_CHECK(bc_st_count(f) == 1);
    bc_st_close(f);

    /* Overwrite: the new content replaces the old, no temp files remain. */
    float e[6] = {9, 8, 7, 6, 5, 4};
    const bc_st_tensor_in two[] = {{"a", 2, {2, 3}, e}, {"b", 1, {4}, d}};
    const bc_st_meta_in m[] = {{"run", "2"}};
    BC_CHECK(bc_st_write(p, two, 2, m, 1) == BC_OK);
    f = NULL;
    BC_CHECK(bc_st_open(p, &f) == BC_OK);
    if (f) {
        const void *data;
        size_t bytes;
        BC_CHECK(bc_st_count(f) == 2);
        BC_CHECK(bc_st_tensor(f, 0, NULL, NULL, NULL, NULL, &data, &bytes) == BC_OK);
        BC_CHECK(bytes == sizeof e && memcmp(data, e, bytes) == 0);
        BC_CHECK(bc_st_meta(f, "run") && strcmp(bc_st_meta(f, "run"), "2") == 0);
        bc_st_close(f);
    }
    BC_CHECK(count_tmp_files(g_dir) == 0);
}

static void test_fileutil(void) {
    const char *p = tpath("hello.txt");
    BC_CHECK(bc_write_file_atomic(p, "hello\n", 6) == BC_OK);
    size_t n;
    unsigned char *raw = read_raw(p, &n);
    BC_CHECK(raw && n == 6 && memcmp(raw, "hello\n", 6) == 0);
    free(raw);
    struct stat sb;
    BC_CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0644); /* umask 022 set in main */
    chmod(p, 0600);
    BC_CHECK(bc_write_file_atomic(p, "", 0) == BC_OK); /* replace with an empty file */
    BC_CHECK(stat(p, &sb) == 0 && sb.st_size == 0);
    BC_CHECK((sb.st_mode & 0777) == 0600); /* the replaced file's mode is kept */
    BC_CHECK(count_tmp_files(g_dir) == 0);

    const char *q = tpath("nodir/hello.txt");
    BC_CHECK(bc_write_file_atomic(q, "x", 1) == BC_ERR_IO);
    BC_CHECK_MSG(starts_with(bc_last_error(), q) && strstr(bc_last_error(), "cannot write"), "%s",
                 bc_last_error());
    BC_CHECK(!file_exists(q));
    BC_CHECK(bc_write_file_atomic(NULL, "x", 1) == BC_ERR_PARAM);
    BC_CHECK(bc_write_file_atomic(p, NULL, 1) == BC_ERR_PARAM);
    /* A directory in the way: rename fails, the temp file goes. */
    const char *d = tpath("adir");
    BC_CHECK(mkdir(d, 0777) == 0);
    BC_CHECK(bc_write_file_atomic(d, "x", 1) == BC_ERR_IO);
    BC_CHECK(starts_with(bc_last_error(), d));
    BC_CHECK(count_tmp_files(g_dir) == 0);

    /* Streaming variant: a failed stream is discarded without touching the target. */
    FILE *f = NULL;
    char *tmp = NULL;
    BC_CHECK(bc__atomic_open(p, &f, &tmp) == BC_OK && f && tmp);
    if (f) fputs("discarded", f);
    BC_CHECK(bc__atomic_commit(f, tmp, p, false) == BC_OK);
    BC_CHECK(stat(p, &sb) == 0 && sb.st_size == 0);
    BC_CHECK(bc__atomic_open(p, &f, &tmp) == BC_OK);
    if (f) fputs("streamed", f);
    BC_CHECK(bc__atomic_commit(f, tmp, p, true) == BC_OK);
    BC_CHECK(stat(p, &sb) == 0 && sb.st_size == 8);
    BC_CHECK(count_tmp_files(g_dir) == 0);

    /* mkdir -p */
    const char *deep = tpath("a/b/c/d");
    BC_CHECK_MSG(bc_mkdirs(deep) == BC_OK, "%s", bc_last_error());
    BC_CHECK(stat(deep, &sb) == 0 && S_ISDIR(sb.st_mode));
    BC_CHECK(bc_mkdirs(deep) == BC_OK); /* idempotent */
    BC_CHECK(bc_mkdirs(tpath("a//b/e/")) == BC_OK);
    BC_CHECK(stat(tpath("a/b/e"), &sb) == 0 && S_ISDIR(sb.st_mode));
    BC_CHECK(bc_mkdirs(g_dir) == BC_OK);
    BC_CHECK(bc_mkdirs(p) == BC_ERR_IO); /* a file */
    BC_CHECK(starts_with(bc_last_error(), p));
    const char *under_file = tpath("hello.txt/sub/dir");
    BC_CHECK(bc_mkdirs(under_file) == BC_ERR_IO);
    BC_CHECK_MSG(starts_with(bc_last_error(), under_file), "%s", bc_last_error());
    BC_CHECK(bc_mkdirs("") == BC_ERR_PARAM);
    BC_CHECK(bc_mkdirs(NULL) == BC_ERR_PARAM);
}

/* ---------------------------------------------------------------- plots */

static bool is_svg(const char *p) {
    size_t n;
    unsigned char *raw = read_raw(p, &n);
    bool ok = raw &&
              (starts_with((const char *)raw, "<?xml") || strstr((const char *)raw, "<svg")) &&
              strstr((const char *)raw, "</svg>");
    free(raw);
    return ok;
}

static void test_plot(void) {
    double x[50], y1[50], y2[50], y3[50];
    for (int i = 0; i < 50; i++) {
        x[i] = i + 1;
        y1[i] = 0.5 + 0.4 * sin(i * 0.2);
        y2[i] = exp(-i * 0.05);
        y3[i] = i % 10 == 5 ? NAN : 0.3 + 0.001 * i; /* gaps */
    }
    const bc_series s[] = {
        {"train # acc", x, y1, 50},
        {"loss <&>", x, y2, 50},
        {NULL, x, y3, 50},
    };
    const char *p = tpath("curves.svg");
    bc_status st = bc_plot_lines(p, "Accuracy & loss #1", "epoch", "value", s, 3);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    BC_CHECK(is_svg(p));

    /* One point; a constant series; negative and tiny values. */
    double one_x = 3, one_y = 0.9, cx[3] = {0, 1, 2}, cy[3] = {2, 2, 2}, ty[3] = {-1e-12, 0, 1e-12};
    const bc_series single[] = {{"one", &one_x, &one_y, 1}};
    BC_CHECK(bc_plot_lines(tpath("one.svg"), "one", "x", "y", single, 1) == BC_OK);
    BC_CHECK(is_svg(tpath("one.svg")));
    const bc_series flat[] = {{"flat", cx, cy, 3}, {"tiny", cx, ty, 3}};
    BC_CHECK_MSG(bc_plot_lines(tpath("flat.svg"), NULL, NULL, NULL, flat, 2) == BC_OK, "%s",
                 bc_last_error());
    BC_CHECK(is_svg(tpath("flat.svg")));
    /* Eight series (the maximum), overwriting an existing plot. */
    bc_series eight[8];
    for (int i = 0; i < 8; i++) eight[i] = (bc_series){"s", x, i % 2 ? y1 : y2, 50 - i};
    BC_CHECK(bc_plot_lines(p, "eight", "x", "y", eight, 8) == BC_OK);
    BC_CHECK(is_svg(p));
    BC_CHECK(count_tmp_files(g_dir) == 0);

    /* Bad input: BC_ERR_PARAM naming the path, no file. */
    const char *q = tpath("bad.svg");
    BC_CHECK(bc_plot_lines(q, "t", "x", "y", s, 0) == BC_ERR_PARAM);
    BC_CHECK(starts_with(bc_last_error(), q));
    BC_CHECK(bc_plot_lines(q, "t", "x", "y", eight, 9) == BC_ERR_PARAM);
    BC_CHECK(bc_plot_lines(q, "t", "x", "y", NULL, 1) == BC_ERR_PARAM);
    const bc_series null_y[] = {{"a", x, NULL, 50}};
    BC_CHECK(bc_plot_lines(q, "t", "x", "y", null_y, 1) == BC_ERR_PARAM);
    BC_CHECK(starts_with(bc_last_error(), q));
    const bc_series null_x[] = {{"a", NULL, y1, 50}};
    BC_CHECK(bc_plot_lines(q, "t", "x", "y", null_x, 1) == BC_ERR_PARAM);
    const bc_series no_points[] = {{"a", x, y1, 0}};
    BC_CHECK(bc_plot_lines(q, "t", "x", "y", no_points, 1) == BC_ERR_PARAM);
    double nan_y[2] = {NAN, INFINITY};
    const bc_series all_nan[] = {{"a", x, nan_y, 2}};
    BC_CHECK(bc_plot_lines(q, "t", "x", "y", all_nan, 1) == BC_ERR_PARAM);
    double big[2] = {-1e308, 1e308};
    const bc_series too_big[] = {{"a", x, big, 2}};
    BC_CHECK(bc_plot_lines(q, "t", "x", "y", too_big, 1) == BC_ERR_PARAM);
    BC_CHECK(bc_plot_lines(NULL, "t", "x", "y", s, 1) == BC_ERR_PARAM);
    BC_CHECK(!file_exists(q));
    const char *r = tpath("nodir/plot.svg");
    BC_CHECK(bc_plot_lines(r, "t", "x", "y", s, 1) == BC_ERR_IO);
    BC_CHECK(starts_with(bc_last_error(), r));
    BC_CHECK(!file_exists(r));
    BC_CHECK(count_tmp_files(g_dir) == 0);
}

int main(void) {
    umask(022);
    snprintf(g_dir, sizeof g_dir, "/tmp/bc_test_st_XXXXXX");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_roundtrip();
    test_reference_bytes();
    test_foreign();
    test_corrupt();
    test_write_errors();
    test_fileutil();
    test_plot();
    if (getenv("BC_KEEP_TMP"))
        fprintf(stderr, "kept %s\n", g_dir);
    else
        rm_rf(g_dir);
    return bc_t_report();
}
