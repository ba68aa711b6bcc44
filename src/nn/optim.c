/* Optimizers (SGD with momentum, Adam) over parameter groups, and learning-rate schedules.
 * Update rules follow PyTorch's so results can be compared with the peers. */
#include "nn/model.h"

#include <math.h>

float bc_train_lr(const bc_train_spec *s, int32_t epoch) {
    switch (s->schedule) {
    case BC_SCHED_CONST: return s->lr;
    case BC_SCHED_STEP: return s->lr * powf(s->step_gamma, (float)(epoch / s->step_epochs));
    case BC_SCHED_COSINE: /* per epoch, like torch's CosineAnnealingLR(T_max = epochs) */
        return s->lr * 0.5f * (1.0f + cosf(3.14159265358979f * (float)epoch / (float)s->epochs));
    case BC_SCHED_COUNT: break;
    }
    return s->lr;
}

void bc__optim_step(bc_model *m, float lr) {
    const bc_train_spec *s = &m->spec->train;
    m->adam_t++;
    m->param_version++;
    const double bc1 = 1.0 - pow(s->beta1, (double)m->adam_t), bc2 = 1.0 - pow(s->beta2, (double)m->adam_t);
    for (int32_t ti = 0; ti < m->n_tensors; ti++) {
        const bc__tensor *t = &m->tensors[ti];
        if (!t->trainable) continue;
        float glr = lr, wd = s->weight_decay;
        if (t->group > 0) {
            const bc_group_spec *g = &m->spec->groups[t->group - 1];
            glr *= g->lr_scale;
            if (g->weight_decay >= 0.0f) wd = g->weight_decay;
        }
        if (!t->decay) wd = 0.0f;
        float *w = m->params + t->offset, *g = m->grads + t->offset;
        float *mo = m->opt_m + t->offset, *v = m->opt_v + t->offset;
        const int64_t n = t->count;
        if (s->optimizer == BC_OPT_ADAM) {
            const float b1 = s->beta1, b2 = s->beta2, eps = s->adam_eps;
            const float step = (float)(glr / bc1), isq = (float)(1.0 / sqrt(bc2));
            #pragma omp parallel for schedule(static) if (n > 16384)
            for (int64_t i = 0; i < n; i++) {
                float gi = g[i] + wd * w[i];
                mo[i] = b1 * mo[i] + (1.0f - b1) * gi;
                v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
                w[i] -= step * mo[i] / (sqrtf(v[i]) * isq + eps);
            }
        } else {
            const float mu = s->momentum;
            #pragma omp parallel for schedule(static) if (n > 16384)
            for (int64_t i = 0; i < n; i++) {
                float gi = g[i] + wd * w[i];
                mo[i] = mu * mo[i] + gi;
                w[i] -= glr * mo[i];
            }
        }
        if (t->clip_unit) {
            #pragma omp parallel for schedule(static) if (n > 16384)
            for (int64_t i = 0; i < n; i++) w[i] = w[i] > 1.0f ? 1.0f : (w[i] < -1.0f ? -1.0f : w[i]);
        }
    }
}
