/* Private layout of a model: layer records, flat parameter blocks and the batch workspace. */
#ifndef BC_NN_MODEL_H
#define BC_NN_MODEL_H
#include "bc_internal.h"
#include "nn/netspec.h"
#include "kernels/xnor.h"
#include "kernels/im2col.h"
#include "kernels/bgemm.h"

/* A named tensor: a slice of either the trainable block (params/grads/optimizer state share
 * offsets) or the buffer block (running statistics, not trained). */
typedef struct {
    char name[48];
    bool trainable;
    int64_t offset, count;
    int32_t ndim;
    int64_t shape[4];
    int32_t group;   /* parameter group (trainable only); 0 = default */
    bool clip_unit;  /* latent binary weight: clipped to [-1, 1] after every update */
    bool decay;      /* weight decay applies */
} bc__tensor;

/* How binary layers compute their ±1 x ±1 multiply-accumulates. Both give the same integers. */
typedef enum {
    BC__MAC_FLOAT = 0, /* float GEMM on ±1 values */
    BC__MAC_XNOR = 1,  /* bit-packed XNOR-popcount, when the layer's input is known to be ±1 */
} bc__mac_kind;

typedef struct bc__layer {
    bc_layer_spec spec;
    int32_t index;
    bc_shape ishape, oshape; /* per-sample (c, h, w); activations are stored (h, w, c) */
    int64_t in, out;   /* features per sample */
    int64_t w, b;      /* dense, conv, shortcut projection: weight and bias; bn: gamma, beta
                        * (offsets into the parameter block, -1 = none) */
    int64_t g, beta;   /* shortcut projection's batch norm: gamma, beta (-1 = no projection) */
    int64_t run_mean, run_var; /* bn, projection bn: offsets in the buffer block */
    int64_t wrows, wk; /* dense, conv, projection: weight rows (units, filters, channels) and
                        * row length (in, size*size*c_in, c_src) */
    int32_t src;       /* shortcut: index of the layer whose output is added */
    bool pm1_in;       /* the input is known to be ±1 (after sign, through pools/flatten) */
    bool has_reader;   /* a shortcut further on reads this layer's output */
    float *act;        /* (batch, out) output of this layer */
    float *aux;        /* (batch, out) bn: x_hat; dropout: mask scale; softmax: probabilities;
                        * shortcut projection: x_hat of its batch norm */
    float *sub, *dz;   /* shortcut projection: (batch, pixels, c_src) strided input taps;
                        * (batch, out) gradient before its batch norm */
    float *gpend;      /* (batch, out) gradient waiting for this layer's output from a
                        * shortcut further on (NULL when no shortcut reads this layer) */
    float *wbin;       /* binary weights: (out, wk) sign of the latent weights */
    uint64_t *wpack;   /* binary weights packed for XNOR: (out, wpack_words) */
    int64_t wpack_words;
    int32_t *tapsum;   /* binary conv: (out, size*size) sum of the signs of each tap's weights */
    uint64_t wbin_version; /* param_version wbin/wpack were made from (0: never) */
    uint16_t *wbf16;   /* binary dense/conv on ±1 input: sign(W) as the packed bf16 B of
                        * dX = dY * sign(W) (k = out, n = wk; see kernels/bgemm.h) */
    uint64_t wbf16_version; /* param_version wbf16 was made from (0: never) */
    float *stat;       /* bn: (2, c) batch mean and inverse std; in eval, scale and shift */
} bc__layer;

typedef enum { BC__MODE_EVAL = 0, BC__MODE_TRAIN = 1 } bc__mode;

/* What a layer's forward and backward see of the model. */
typedef struct {
    bc__mode mode;
    int64_t n;          /* batch rows */
    float *params, *grads, *buffers;
    uint64_t seed, step;
    const int32_t *labels; /* (n) class labels, for the loss layer */
    uint64_t param_version; /* changes whenever the parameters may have changed */
    bc__mac_kind mac;       /* binary layers' MAC path */
    const bc__bin_kernels *bin; /* packed kernels for this CPU */
    const bc__bf16_kernels *bf16; /* binary layers' backward GEMMs in bf16 with these (NULL: fp32) */
    void *bwork;            /* bf16 GEMM workspace: BC__BGEMM_WORK_BYTES per thread */
    uint64_t *pk;           /* packed input of a binary layer: (n * pixels, words) */
    double *red;            /* batch-norm partial sums */
    float *scratch;         /* per-thread scratch: threads * scratch_per_thread floats */
    int64_t scratch_per_thread;
    float *wslots;          /* weight-gradient partial sums: BC__WSLOTS * max weight count */
    const struct bc_model *model;
    struct bc_cim_chip *chip; /* mapped binary layers run on this CIM chip (NULL: digital) */
    float calib_momentum;     /* > 0: a calibration pass (src/cim/calibrate.c): every batch norm
                               * updates its running statistics with this momentum; no dropout */
} bc__exec;

/* Fixed number of partial weight-gradient sums a batch is split into: the reduction order is
 * a function of the data, not of the thread count. */
#define BC__WSLOTS 8

/* Thread index inside a parallel region and the thread count (1 without OpenMP). */
int bc__thread_id(void);
int bc__thread_count(void);

typedef struct {
    const char *name;
    /* Forward: x (n, in) -> l->act (n, out). */
    void (*forward)(bc__layer *l, const float *x, const bc__exec *e);
    /* Backward: dy (n, out) -> dx (n, in) (dx NULL: not needed); parameter gradients are
     * written (not accumulated) to e->grads. For softmax, dy is unused and y holds labels. */
    void (*backward)(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e);
} bc__op_desc;

extern const bc__op_desc bc__ops[BC_LAYER_COUNT];

/* Op functions defined outside layers.c. */
void bc__conv_forward(bc__layer *l, const float *x, const bc__exec *e);
void bc__conv_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e);
/* Batch norm on rows of f features (a conv output is n*h*w rows of c channels). Training:
 * batch statistics into stat (mean, inverse std), x_hat kept, running stats updated. Sums are
 * taken over fixed blocks of rows and reduced in order (any thread count, same bits). */
void bc__bn_train_rows(const float *x, int64_t n, int64_t f, const float *gamma, const float *beta,
                       float *rmean, float *rvar, float momentum, float eps, float *xhat,
                       float *y, float *stat, double *red);
/* Evaluation coefficients: y = x * scale + shift (bc__bn_apply) from the running statistics. */
void bc__bn_eval_coeffs(const float *gamma, const float *beta, const float *rmean, const float *rvar,
                        float eps, int64_t f, float *scale, float *shift);
/* Evaluation: stat gets (scale, shift); y = x * scale + shift (bc__bn_apply). */
void bc__bn_eval_rows(const float *x, int64_t n, int64_t f, const float *gamma, const float *beta,
                      const float *rmean, const float *rvar, float eps, float *y, float *stat);
/* Backward: dgamma, dbeta written; dx (may be NULL) written. */
void bc__bn_backward_rows(const float *dy, const float *xhat, int64_t n, int64_t f,
                          const float *gamma, const float *istd, float *dgamma, float *dbeta,
                          float *dx, double *red);
/* Doubles of partial sums bc__bn_*_rows need for n rows of f features. */
int64_t bc__bn_red_size(int64_t n, int64_t f);
/* The one expression evaluation-mode batch norm computes, shared with the packed engine's
 * threshold search so both agree to the last bit. */
static inline float bc__bn_apply(float x, float scale, float shift) {
    return x * scale + shift; /* never fused: the build uses -ffp-contract=off */
}
void bc__bn_forward(bc__layer *l, const float *x, const bc__exec *e);
/* Training only: layers i ([bn], no shortcut reads it) and i + 1 ([sign]) run as one op. The
 * forward writes x_hat and the sign's output (not the batch norm's); the backward takes the
 * sign's dy and gives the batch norm's dx. Same bits as the two layers one by one. */
bool bc__bn_sign_fusable(const struct bc_model *m, int32_t i);
void bc__bn_sign_forward(bc__layer *bn, bc__layer *sign, const float *x, const bc__exec *e);
void bc__bn_sign_backward(bc__layer *bn, const float *dy, float *dx, const bc__exec *e);
void bc__bn_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e);
void bc__maxpool_forward(bc__layer *l, const float *x, const bc__exec *e);
void bc__maxpool_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e);
void bc__avgpool_forward(bc__layer *l, const float *x, const bc__exec *e);
void bc__avgpool_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e);
void bc__flatten_forward(bc__layer *l, const float *x, const bc__exec *e);
void bc__flatten_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e);
void bc__shortcut_forward(bc__layer *l, const float *x, const bc__exec *e);
void bc__shortcut_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e);
/* Refreshes wbin (and, for layers that may use XNOR, wpack/tapsum) when the parameters changed. */
void bc__binarize_weights(bc__layer *l, const bc__exec *e);
/* Packs rows of k floats into rows of ceil(k/64) words (signs, bit 1 = +1), in parallel. */
void bc__pack_rows(const bc__exec *e, uint64_t *bits, const float *x, int64_t rows, int64_t k);
/* A binary dense/conv layer on packed ±1 input xbits (n samples; per pixel ceil(c/64) words):
 * the exact integer outputs, to yi (int32) or yf (float), (n, out features). */
void bc__conv_xnor(const bc__layer *l, const bc__exec *e, const uint64_t *xbits, int64_t n, int32_t *yi, float *yf);
/* Geometry of a dense (1x1 on a 1x1 image) or conv layer. */
bc__conv_geom bc__conv_geom_of(const bc__layer *l);
/* True for layers that multiply their input directly, without im2col (dense, 1x1 stride 1). */
bool bc__conv_direct(const bc__conv_geom *g);
/* Chunks a batch of n samples is cut into for im2col: a multiple of BC__WSLOTS, enough to keep
 * each chunk's im2col near its cap, at most n; chunk i holds samples [*s0, *s0 + *ns). */
int64_t bc__conv_chunks(const bc__layer *l, int64_t n);
void bc__conv_chunk(int64_t n, int64_t nc, int64_t i, int64_t *s0, int64_t *ns);
/* Scratch floats per thread a dense or conv layer needs for a batch of n (im2col chunks,
 * and the evaluation-only direct and fused paths below). */
int64_t bc__conv_scratch(const bc__layer *l, int64_t n);
/* Corrected XNOR dots of samples [s0, s0+ns) of a binary layer on packed input xbits:
 * (ns * out pixels, out channels) int32 into dots; col: scratch for the packed im2col
 * (ns * pixels * taps * words per pixel), unused by dense and 1x1 layers. */
void bc__conv_xnor_samples(const bc__layer *l, const bc__exec *e, const uint64_t *xbits, int64_t s0, int64_t ns,
                           uint64_t *col, int32_t *dots);
/* Samples per block of the packed engine's fused binary layers, for a batch of n: about
 * BC__FUSE_ROWS output pixels, so a block's integers stay in L2, and at least 8 blocks. */
int64_t bc__conv_block_samples(const bc__layer *l, int64_t n);
/* A float conv on few channels (wk <= 32), which evaluation runs as a direct convolution. */
bool bc__conv_direct_ok(const bc__layer *l);
/* Output rows per call of the packed engine's first-layer block. */
#define BC__DIRECT_ROWS 4
/* Direct conv, per thread: scr holds the zero-padded image, then the transposed weights,
 * which this returns (*xp = the padded image); call once per block of samples. */
float *bc__direct_prepare(const bc__layer *l, const bc__exec *e, float *scr, const float **xp);
/* Output rows [oy0, oy0 + nr) of sample xs (h, w, c) into out (nr * ow, channels), with the
 * bias; pad_now copies xs into the padded image first (once per sample). */
void bc__direct_rows(const bc__layer *l, const bc__exec *e, const float *xs, const float *wt, float *scr,
                     int32_t oy0, int32_t nr, float *out, bool pad_now);

struct bc_model {
    bc_ctx *ctx;
    bc_netspec *spec;
    bc_shape in_shape;
    int64_t n_in;
    int32_t n_classes;
    bc__layer *layers;
    int32_t n_layers;
    bc__tensor *tensors;
    int32_t n_tensors;
    float *params, *grads, *opt_m, *opt_v; /* n_params each */
    int64_t n_params;
    float *buffers;                        /* n_buffers */
    int64_t n_buffers;
    int64_t adam_t;                        /* optimizer steps taken */
    uint64_t seed, step;
    uint64_t param_version;                /* bumped by every write access to params */
    int64_t ws_rows;                       /* rows the training workspace holds */
    float *ews;                            /* evaluation workspace (see bc__model_reserve) */
    int64_t ews_rows, scratch_rows;
    float *ws;                             /* one block: activations, aux, gradients */
    float *dbuf[2];                        /* (ws_rows, max width) ping-pong gradients */
    int64_t max_width;
    bc__mac_kind mac;                      /* binary layers' MAC path (XNOR by default) */
    bc_gemm gemm;                          /* requested precision of the binary layers' GEMMs */
    const bc__bf16_kernels *bf16;          /* what it resolved to on this CPU (NULL: fp32) */
    void *bwork;                           /* see bc__exec */
    float *scratch;                        /* see bc__exec */
    int64_t scratch_per_thread;
    int32_t scratch_threads;
    float *wslots;
    int64_t max_wcount;
    uint64_t *pk;
    double *red;
    bc_engine engine;                      /* how predict / evaluate run (float by default) */
    struct bc_cim_chip *chip;              /* CIM chip binary layers run on (NULL: digital) */
    float calib_momentum;                  /* see bc__exec; 0 outside calibration */
    uint64_t *pbits[2];                    /* packed engine: ping-pong packed activations */
    int32_t *pint[2];                      /* packed engine: ping-pong integer activations */
    float *pthr;                           /* packed engine: per-channel thresholds */
    uint64_t *pmask;                       /* packed engine: channels pooled by OR (1) or AND (0) */
    int64_t prows;                         /* rows the packed buffers hold */
};

/* Makes the workspace of `mode` hold n rows and points every layer's buffers into it. Call it
 * before every forward: training and evaluation use different layouts. */
bc_status bc__model_reserve(bc_model *m, int64_t n, bc__mode mode);
/* Runs the forward pass; returns the logits (n, classes) inside the workspace. */
const float *bc__model_forward(bc_model *m, const float *x, int64_t n, bc__mode mode);
/* Backward after a forward in train mode; labels y; input_grad may be NULL. Returns the loss. */
double bc__model_backward(bc_model *m, const float *x, const int32_t *y, int64_t n, float *input_grad);
/* Eval-mode forward of a labelled batch: adds the summed loss and the correct count. */
bc_status bc__model_eval_batch(bc_model *m, const float *x, const int32_t *y, int64_t n,
                               double *loss_sum, int64_t *correct, int32_t *pred);
/* The execution context of one forward or backward call. */
bc__exec bc__exec_of(bc_model *m, int64_t n, bc__mode mode, const int32_t *y);
/* Forward of the packed engine (src/nn/packed.c) in evaluation mode; returns the logits. */
const float *bc__packed_forward(bc_model *m, const float *x, int64_t n);
/* Optimizer update with the gradients in m->grads. */
void bc__optim_step(bc_model *m, float lr);
#endif
