/* Datasets: the bc_dataset object, named loaders, CIFAR-10 batches, synthetic data, batches. */
#include "bc_internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#define BC_FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define BC_FASHION_HINT "install the Debian package dataset-fashion-mnist (scripts/install-deps.sh)"
#define BC_MNIST10K_HINT "run: bitcell data prepare mnist10k"
#define BC_CIFAR_RECORD 3073 /* 1 label byte + 3 x 32 x 32 pixel bytes */
#define BC_PATH_MAX 4096

/* Synthetic problem: fixed prototypes, per-seed noise and labels. */
#define BC_SYN_CLASSES 10
#define BC_SYN_SIDE 8
#define BC_SYN_PROTO_SEED 1234
#define BC_SYN_NOISE_STD 50.0f
#define BC_SYN_TRAIN_N 2000
#define BC_SYN_TEST_N 500
#define BC_SYN_TRAIN_SEED 1
#define BC_SYN_TEST_SEED 2

struct bc_dataset {
    int64_t n;
    bc_shape shape;
    int32_t n_classes;
    uint8_t *pixels; /* (n, c, h, w) */
    uint8_t *labels; /* (n) */
    char name[BC_NAME_MAX];
};

static const char *const bc__dataset_names[] = {"fashion-mnist", "mnist10k", "cifar10", "synthetic", NULL};

const char *const *bc_dataset_names(void) { return bc__dataset_names; }

/* Allocates an empty (zeroed) dataset; the shape and count must already be validated. */
static bc_status ds_new(int64_t n, bc_shape shape, int32_t n_classes, bc_dataset **out) {
    bc_status st = BC_OK;
    bc_dataset *ds = NULL;
    size_t per = 0, total = 0;
    *out = NULL;
    if (!bc__mul_size((size_t)shape.c, (size_t)shape.h, &per) ||
        !bc__mul_size(per, (size_t)shape.w, &per) || !bc__mul_size(per, (size_t)n, &total)) {
        return bc__fail(BC_ERR_NOMEM, "dataset of %lld samples of %dx%dx%d overflows size_t",
                        (long long)n, (int)shape.c, (int)shape.h, (int)shape.w);
    }
    if (!(ds = calloc(1, sizeof *ds))) {
        st = bc__fail(BC_ERR_NOMEM, "cannot allocate a dataset");
        goto out;
    }
    ds->n = n;
    ds->shape = shape;
    ds->n_classes = n_classes;
    if (!(ds->pixels = bc__alloc(total)) || !(ds->labels = bc__alloc((size_t)n))) {
        st = BC_ERR_NOMEM; /* bc__alloc set the message */
        goto out;
    }
    *out = ds;
    ds = NULL;
out:
    bc_dataset_free(ds);
    return st;
}

void bc_dataset_free(bc_dataset *ds) {
    if (!ds) return;
    free(ds->pixels);
    free(ds->labels);
    free(ds);
}

int64_t bc_dataset_count(const bc_dataset *ds) { return ds->n; }
bc_shape bc_dataset_shape(const bc_dataset *ds) { return ds->shape; }
int32_t bc_dataset_classes(const bc_dataset *ds) { return ds->n_classes; }
const uint8_t *bc_dataset_pixels(const bc_dataset *ds) { return ds->pixels; }
const uint8_t *bc_dataset_labels(const bc_dataset *ds) { return ds->labels; }

bc_status bc_dataset_from_memory(const uint8_t *pixels, const uint8_t *labels, int64_t n,
                                 bc_shape shape, int32_t n_classes, bc_dataset **out) {
    bc_status st = BC_OK;
    bc_dataset *ds = NULL;
    if (!out) return bc__fail(BC_ERR_PARAM, "bc_dataset_from_memory: out is NULL");
    *out = NULL;
    if (!pixels || !labels) return bc__fail(BC_ERR_PARAM, "bc_dataset_from_memory: NULL data");
    if (n < 1) return bc__fail(BC_ERR_PARAM, "bc_dataset_from_memory: n = %lld (need >= 1)", (long long)n);
    /* bc_norm holds at most 4 channels. */
    if (shape.c < 1 || shape.c > 4 || shape.h < 1 || shape.w < 1)
        return bc__fail(BC_ERR_SHAPE, "bc_dataset_from_memory: bad shape %dx%dx%d (c in 1..4, h, w >= 1)",
                        (int)shape.c, (int)shape.h, (int)shape.w);
    if (n_classes < 1 || n_classes > 256)
        return bc__fail(BC_ERR_PARAM, "bc_dataset_from_memory: n_classes = %d (need 1..256)", (int)n_classes);
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] >= n_classes)
            return bc__fail(BC_ERR_PARAM, "bc_dataset_from_memory: label %u at index %lld >= n_classes %d",
                            labels[i], (long long)i, (int)n_classes);
    }
    if ((st = ds_new(n, shape, n_classes, &ds)) != BC_OK) goto out;
    memcpy(ds->pixels, pixels, (size_t)n * (size_t)shape.c * (size_t)shape.h * (size_t)shape.w);
    memcpy(ds->labels, labels, (size_t)n);
    *out = ds;
    ds = NULL;
out:
    bc_dataset_free(ds);
    return st;
}

/* ---------------------------------------------------------------- CIFAR-10 */

bc_status bc_dataset_load_cifar10(const char *const *paths, int32_t n_paths, bc_dataset **out) {
    bc_status st = BC_OK;
    bc_dataset *ds = NULL;
    FILE *f = NULL;
    uint8_t rec[BC_CIFAR_RECORD];
    int64_t n = 0;
    if (!out) return bc__fail(BC_ERR_PARAM, "bc_dataset_load_cifar10: out is NULL");
    *out = NULL;
    if (!paths || n_paths < 1 || n_paths > 64)
        return bc__fail(BC_ERR_PARAM, "bc_dataset_load_cifar10: need 1..64 paths, got %d", (int)n_paths);

    /* Pass 1: sizes, so the dataset is allocated once. */
    for (int32_t i = 0; i < n_paths; i++) {
        struct stat sb;
        if (!paths[i]) return bc__fail(BC_ERR_PARAM, "bc_dataset_load_cifar10: path %d is NULL", (int)i);
        if (stat(paths[i], &sb) != 0) {
            if (errno == ENOENT) return bc__fail(BC_ERR_NOT_FOUND, "%s: no such file", paths[i]);
            return bc__fail(BC_ERR_IO, "%s: cannot stat: %s", paths[i], strerror(errno));
        }
        if (!S_ISREG(sb.st_mode)) return bc__fail(BC_ERR_IO, "%s: not a regular file", paths[i]);
        if (sb.st_size == 0 || sb.st_size % BC_CIFAR_RECORD != 0)
            return bc__fail(BC_ERR_FORMAT, "%s: size %lld bytes is not a whole, non-zero number of %d-byte records",
                            paths[i], (long long)sb.st_size, BC_CIFAR_RECORD);
        n += (int64_t)(sb.st_size / BC_CIFAR_RECORD);
        if (n > ((int64_t)1 << 31) / (BC_CIFAR_RECORD - 1))
            return bc__fail(BC_ERR_FORMAT, "%s: too many records (more than 2^31 bytes of pixels)", paths[i]);
    }
    if ((st = ds_new(n, (bc_shape){3, 32, 32}, 10, &ds)) != BC_OK) goto out;

    /* Pass 2: records; each file is read to its end so a file that changed size is caught. */
    int64_t k = 0;
    for (int32_t i = 0; i < n_paths; i++) {
        if (!(f = fopen(paths[i], "rb"))) {
            st = bc__fail(BC_ERR_IO, "%s: cannot open: %s", paths[i], strerror(errno));
            goto out;
        }
        int64_t r = 0;
        for (;;) {
            size_t got = fread(rec, 1, sizeof rec, f);
            if (got == 0) break;
            if (got != sizeof rec || k >= n) {
                st = bc__fail(BC_ERR_FORMAT, "%s: file changed while reading (record %lld)", paths[i], (long long)r);
                goto out;
            }
            if (rec[0] >= 10) {
                st = bc__fail(BC_ERR_FORMAT, "%s: record %lld has label %u (expected 0..9)", paths[i],
                              (long long)r, rec[0]);
                goto out;
            }
            ds->labels[k] = rec[0];
            /* The record is already (c, h, w): 1024 R, then G, then B, rows top to bottom. */
            memcpy(ds->pixels + (size_t)k * (BC_CIFAR_RECORD - 1), rec + 1, BC_CIFAR_RECORD - 1);
            k++;
            r++;
        }
        if (ferror(f)) {
            st = bc__fail(BC_ERR_IO, "%s: read error", paths[i]);
            goto out;
        }
        fclose(f);
        f = NULL;
    }
    if (k != n) {
        st = bc__fail(BC_ERR_FORMAT, "%s: files changed while reading (%lld of %lld records)",
                      paths[n_paths - 1], (long long)k, (long long)n);
        goto out;
    }
    snprintf(ds->name, sizeof ds->name, "cifar10");
    *out = ds;
    ds = NULL;
out:
    if (f) fclose(f);
    bc_dataset_free(ds);
    return st;
}

/* ---------------------------------------------------------------- synthetic */

/* Prototype pixel p of class c: 0.65 * a shared base image + 0.35 * a class image, both uniform
 * in 0..255 from the fixed seed. The shared part keeps classes close enough that noise of std 50
 * matters (nearest-prototype accuracy is about 97%, not 100%). */
static float syn_proto(int32_t c, int32_t p) {
    bc_rng_key base = {BC_SYN_PROTO_SEED, BC_RNG_DATA, 0, 0};
    bc_rng_key cls = {BC_SYN_PROTO_SEED, BC_RNG_DATA, 0, 1};
    float b = bc_rng_uniform(base, (uint64_t)p);
    float u = bc_rng_uniform(cls, (uint64_t)c * 64 + (uint64_t)p);
    return 255.0f * (0.65f * b + 0.35f * u);
}

bc_status bc_dataset_synthetic(int64_t n, uint64_t seed, bc_dataset **out) {
    bc_status st = BC_OK;
    bc_dataset *ds = NULL;
    const int32_t d = BC_SYN_SIDE * BC_SYN_SIDE;
    float proto[BC_SYN_CLASSES][BC_SYN_SIDE * BC_SYN_SIDE];
    if (!out) return bc__fail(BC_ERR_PARAM, "bc_dataset_synthetic: out is NULL");
    *out = NULL;
    if (n < 1 || n > ((int64_t)1 << 26))
        return bc__fail(BC_ERR_PARAM, "bc_dataset_synthetic: n = %lld (need 1..2^26)", (long long)n);
    if ((st = ds_new(n, (bc_shape){1, BC_SYN_SIDE, BC_SYN_SIDE}, BC_SYN_CLASSES, &ds)) != BC_OK) goto out;
    for (int32_t c = 0; c < BC_SYN_CLASSES; c++)
        for (int32_t p = 0; p < d; p++) proto[c][p] = syn_proto(c, p);

    bc_rng_key klab = {seed, BC_RNG_DATA, 1, 0};
    bc_rng_key knoise = {seed, BC_RNG_DATA, 1, 1};
    for (int64_t i = 0; i < n; i++) {
        uint8_t y = (uint8_t)(bc_rng_u32(klab, (uint64_t)i) % BC_SYN_CLASSES);
        ds->labels[i] = y;
        for (int32_t p = 0; p < d; p++) {
            float v = proto[y][p] + BC_SYN_NOISE_STD * bc_rng_normal(knoise, (uint64_t)i * (uint64_t)d + (uint64_t)p);
            v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            ds->pixels[(size_t)i * (size_t)d + (size_t)p] = (uint8_t)lrintf(v);
        }
    }
    snprintf(ds->name, sizeof ds->name, "synthetic");
    *out = ds;
    ds = NULL;
out:
    bc_dataset_free(ds);
    return st;
}

/* ---------------------------------------------------------------- named datasets */

const char *bc_dataset_default_dir(const char *name) {
    static char buf[BC_PATH_MAX];
    if (!name) return NULL;
    if (strcmp(name, "fashion-mnist") == 0) return BC_FASHION_DIR;
    if (strcmp(name, "mnist10k") == 0) {
        const char *d = getenv("BC_DATA_DIR"), *home = getenv("HOME");
        int r;
        if (d && d[0]) r = snprintf(buf, sizeof buf, "%s/mnist10k", d);
        else if (home && home[0]) r = snprintf(buf, sizeof buf, "%s/.cache/bitcell/mnist10k", home);
        else return NULL;
        return (r > 0 && (size_t)r < sizeof buf) ? buf : NULL;
    }
    return NULL;
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Finds dir/base + ext0, else dir/base + ext1, into buf. BC_ERR_NOT_FOUND (with hint) if neither. */
static bc_status find_file(const char *dir, const char *base, const char *ext0, const char *ext1,
                           const char *hint, char *buf, size_t cap) {
    int r = snprintf(buf, cap, "%s/%s%s", dir, base, ext0);
    if (r < 0 || (size_t)r >= cap) return bc__fail(BC_ERR_PARAM, "%s: path too long", dir);
    if (is_file(buf)) return BC_OK;
    r = snprintf(buf, cap, "%s/%s%s", dir, base, ext1);
    if (r < 0 || (size_t)r >= cap) return bc__fail(BC_ERR_PARAM, "%s: path too long", dir);
    if (is_file(buf)) return BC_OK;
    return bc__fail(BC_ERR_NOT_FOUND, "%s/%s%s: no such file (nor %s%s); %s", dir, base, ext0, base,
                    ext1, hint);
}

/* MNIST-style datasets: two IDX files per split, 10 classes. */
static bc_status load_idx_pair(const char *name, const char *dir, bc_split split, const char *ext0,
                               const char *ext1, const char *hint, bc_dataset **out) {
    bc_status st = BC_OK;
    bc_dataset *ds = NULL;
    char img[BC_PATH_MAX], lbl[BC_PATH_MAX];
    const char *pre = split == BC_SPLIT_TRAIN ? "train" : "t10k";
    char base_img[64], base_lbl[64];
    snprintf(base_img, sizeof base_img, "%s-images-idx3-ubyte", pre);
    snprintf(base_lbl, sizeof base_lbl, "%s-labels-idx1-ubyte", pre);
    if (!is_dir(dir)) return bc__fail(BC_ERR_NOT_FOUND, "%s: no such directory (dataset %s); %s", dir, name, hint);
    if ((st = find_file(dir, base_img, ext0, ext1, hint, img, sizeof img)) != BC_OK) return st;
    if ((st = find_file(dir, base_lbl, ext0, ext1, hint, lbl, sizeof lbl)) != BC_OK) return st;
    if ((st = bc_dataset_load_idx(img, lbl, &ds)) != BC_OK) goto out;
    const uint8_t *y = ds->labels;
    for (int64_t i = 0; i < ds->n; i++) {
        if (y[i] >= 10) {
            st = bc__fail(BC_ERR_FORMAT, "%s: label %u at index %lld (dataset %s has 10 classes)", lbl,
                          y[i], (long long)i, name);
            goto out;
        }
    }
    ds->n_classes = 10; /* fixed for the family, even if a split lacks the last class */
    snprintf(ds->name, sizeof ds->name, "%s", name);
    *out = ds;
    ds = NULL;
out:
    bc_dataset_free(ds);
    return st;
}

static bc_status load_cifar_dir(const char *dir, bc_split split, bc_dataset **out) {
    char paths[5][BC_PATH_MAX];
    const char *pp[5];
    int32_t np = split == BC_SPLIT_TRAIN ? 5 : 1;
    if (!is_dir(dir)) return bc__fail(BC_ERR_NOT_FOUND, "%s: no such directory (dataset cifar10)", dir);
    for (int32_t i = 0; i < np; i++) {
        int r = split == BC_SPLIT_TRAIN ? snprintf(paths[i], BC_PATH_MAX, "%s/data_batch_%d.bin", dir, (int)i + 1)
                                        : snprintf(paths[i], BC_PATH_MAX, "%s/test_batch.bin", dir);
        if (r < 0 || r >= BC_PATH_MAX) return bc__fail(BC_ERR_PARAM, "%s: path too long", dir);
        if (!is_file(paths[i]))
            return bc__fail(BC_ERR_NOT_FOUND, "%s: no such file (CIFAR-10 binary version expected)", paths[i]);
        pp[i] = paths[i];
    }
    return bc_dataset_load_cifar10(pp, np, out);
}

bc_status bc_dataset_load(const char *name, const char *dir, bc_split split, bc_dataset **out) {
    if (!out) return bc__fail(BC_ERR_PARAM, "bc_dataset_load: out is NULL");
    *out = NULL;
    if (!name) return bc__fail(BC_ERR_PARAM, "bc_dataset_load: name is NULL");
    if (split != BC_SPLIT_TRAIN && split != BC_SPLIT_TEST)
        return bc__fail(BC_ERR_PARAM, "bc_dataset_load: bad split %d", (int)split);
    if (dir && !dir[0]) dir = NULL;

    if (strcmp(name, "fashion-mnist") == 0)
        return load_idx_pair(name, dir ? dir : BC_FASHION_DIR, split, ".gz", "", BC_FASHION_HINT, out);
    if (strcmp(name, "mnist10k") == 0) {
        if (!dir) dir = bc_dataset_default_dir(name);
        if (!dir)
            return bc__fail(BC_ERR_NOT_FOUND, "mnist10k: no directory given and neither BC_DATA_DIR nor HOME is set");
        return load_idx_pair(name, dir, split, "", ".gz", BC_MNIST10K_HINT, out);
    }
    if (strcmp(name, "cifar10") == 0) {
        if (!dir) return bc__fail(BC_ERR_PARAM, "cifar10 needs --data-dir (the directory of data_batch_1.bin ...)");
        return load_cifar_dir(dir, split, out);
    }
    if (strcmp(name, "synthetic") == 0) {
        return split == BC_SPLIT_TRAIN ? bc_dataset_synthetic(BC_SYN_TRAIN_N, BC_SYN_TRAIN_SEED, out)
                                       : bc_dataset_synthetic(BC_SYN_TEST_N, BC_SYN_TEST_SEED, out);
    }
    return bc__fail(BC_ERR_NOT_FOUND, "unknown dataset '%s' (known: fashion-mnist, mnist10k, cifar10, synthetic)", name);
}

/* ---------------------------------------------------------------- normalisation and batches */

bc_norm bc_dataset_norm_stats(const bc_dataset *ds) {
    bc_norm nm;
    memset(&nm, 0, sizeof nm);
    BC_ASSERT(ds && ds->shape.c >= 1 && ds->shape.c <= 4);
    nm.c = ds->shape.c;
    size_t hw = (size_t)ds->shape.h * (size_t)ds->shape.w;
    size_t per = (size_t)ds->shape.c * hw;
    /* Exact integer histograms, then mean and variance in double over 256 bins: the result is
     * independent of summation order and has no cancellation. */
    for (int32_t ch = 0; ch < nm.c; ch++) {
        uint64_t hist[256] = {0};
        for (int64_t i = 0; i < ds->n; i++) {
            const uint8_t *p = ds->pixels + (size_t)i * per + (size_t)ch * hw;
            for (size_t j = 0; j < hw; j++) hist[p[j]]++;
        }
        double cnt = (double)ds->n * (double)hw, mean = 0.0, var = 0.0;
        for (int v = 0; v < 256; v++) mean += (double)hist[v] * (v / 255.0);
        mean /= cnt;
        for (int v = 0; v < 256; v++) {
            double dv = v / 255.0 - mean;
            var += (double)hist[v] * dv * dv;
        }
        var /= cnt; /* population variance, like torchvision's usual per-channel stats */
        double sd = sqrt(var);
        nm.mean[ch] = (float)mean;
        nm.std[ch] = sd > 1e-6 ? (float)sd : 1.0f; /* a constant channel is only centred */
    }
    return nm;
}

void bc_dataset_batch(const bc_dataset *ds, const int64_t *idx, int64_t n, const bc_norm *norm,
                      float *x, int32_t *y) {
    BC_ASSERT(ds && (n == 0 || (idx && x)));
    BC_ASSERT(!norm || norm->c == ds->shape.c);
    const int32_t c = ds->shape.c;
    size_t hw = (size_t)ds->shape.h * (size_t)ds->shape.w, per = (size_t)c * hw;
    float lut[4][256]; /* (c, 256): normalised value of each pixel level */
    for (int32_t ch = 0; ch < c; ch++) {
        double m = norm ? norm->mean[ch] : 0.0, s = norm ? norm->std[ch] : 1.0;
        BC_ASSERT(s > 0.0);
        for (int v = 0; v < 256; v++) lut[ch][v] = (float)((v / 255.0 - m) / s);
    }
    for (int64_t i = 0; i < n; i++) {
        BC_ASSERT(idx[i] >= 0 && idx[i] < ds->n);
        const uint8_t *src = ds->pixels + (size_t)idx[i] * per;
        float *dst = x + (size_t)i * per;
        for (int32_t ch = 0; ch < c; ch++) {
            const float *t = lut[ch];
            for (size_t j = 0; j < hw; j++) dst[j * (size_t)c + (size_t)ch] = t[src[(size_t)ch * hw + j]];
        }
        if (y) y[i] = ds->labels[idx[i]];
    }
}
