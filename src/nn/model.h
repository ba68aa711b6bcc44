/* Private layout of a model: layer records, flat parameter blocks and the batch workspace. */
#ifndef BC_NN_MODEL_H
#define BC_NN_MODEL_H
#include "bc_internal.h"
#include "nn/netspec.h"

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

typedef struct bc__layer {
    bc_layer_spec spec;
    int32_t index;
    int64_t in, out;   /* features per sample */
    int64_t w, b;      /* dense: weight (out, in) and bias (out); bn: gamma, beta (offsets, -1 = none) */
    int64_t run_mean, run_var; /* bn: offsets in the buffer block */
    float *act;        /* (batch, out) output of this layer */
    float *aux;        /* (batch, out) bn: x_hat; dropout: mask scale; softmax: probabilities */
    float *wbin;       /* binary dense: (out, in) sign of the latent weights */
    uint64_t wbin_version; /* param_version wbin was made from (0: never) */
    float *stat;       /* bn: (2, out) batch mean and inverse std; in eval, scale and shift */
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
} bc__exec;

typedef struct {
    const char *name;
    /* Forward: x (n, in) -> l->act (n, out). */
    void (*forward)(bc__layer *l, const float *x, const bc__exec *e);
    /* Backward: dy (n, out) -> dx (n, in) (dx NULL: not needed); parameter gradients are
     * written (not accumulated) to e->grads. For softmax, dy is unused and y holds labels. */
    void (*backward)(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e);
} bc__op_desc;

extern const bc__op_desc bc__ops[BC_LAYER_COUNT];

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
    int64_t ws_rows;                       /* rows the workspace holds */
    float *ws;                             /* one block: activations, aux, gradients */
    float *dbuf[2];                        /* (ws_rows, max width) ping-pong gradients */
    int64_t max_width;
};

/* Grows the workspace to hold n rows (no-op when it does). */
bc_status bc__model_reserve(bc_model *m, int64_t n);
/* Runs the forward pass; returns the logits (n, classes) inside the workspace. */
const float *bc__model_forward(bc_model *m, const float *x, int64_t n, bc__mode mode);
/* Backward after a forward in train mode; labels y; input_grad may be NULL. Returns the loss. */
double bc__model_backward(bc_model *m, const float *x, const int32_t *y, int64_t n, float *input_grad);
/* Eval-mode forward of a labelled batch: adds the summed loss and the correct count. */
bc_status bc__model_eval_batch(bc_model *m, const float *x, const int32_t *y, int64_t n,
                               double *loss_sum, int64_t *correct);
/* Optimizer update with the gradients in m->grads. */
void bc__optim_step(bc_model *m, float lr);
#endif
