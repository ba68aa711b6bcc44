/* The training loop and the evaluator: shuffling, batching, schedules, statistics. */
#include "nn/model.h"
#include "cim/cim.h"
#include "io/augment.h"

#include <math.h>
#include <string.h>

bc_train_opts bc_train_opts_default(const bc_netspec *spec) {
    bc_train_opts o;
    memset(&o, 0, sizeof o);
    o.spec = spec ? spec->train : bc_train_spec_default();
    o.seed = 42;
    o.cim_redraw = 1;
    o.cim_seed = 1;
    return o;
}

#define BC__EVAL_BATCH 500

bc_status bc_evaluate(bc_model *m, const bc_dataset *ds, const bc_norm *norm, int64_t batch, bc_eval_result *res) {
    return bc_evaluate_predict(m, ds, norm, batch, NULL, res);
}

bc_status bc_evaluate_predict(bc_model *m, const bc_dataset *ds, const bc_norm *norm, int64_t batch,
                              int32_t *pred, bc_eval_result *res) {
    memset(res, 0, sizeof *res);
    if (batch < 1) batch = BC__EVAL_BATCH;
    bc_shape s = bc_dataset_shape(ds);
    bc_shape ms = bc_model_input(m);
    if (s.c != ms.c || s.h != ms.h || s.w != ms.w)
        return bc__fail(BC_ERR_SHAPE, "data is %dx%dx%d but the model expects %dx%dx%d", s.c, s.h, s.w, ms.c, ms.h, ms.w);
    if (bc_dataset_classes(ds) > m->n_classes)
        return bc__fail(BC_ERR_SHAPE, "data has %d classes but the model outputs %d", bc_dataset_classes(ds), m->n_classes);
    const int64_t n = bc_dataset_count(ds), feat = m->n_in;
    float *x = bc__alloc((size_t)(batch * feat) * sizeof(float));
    int32_t *y = bc__alloc((size_t)batch * sizeof(int32_t));
    int64_t *idx = bc__alloc((size_t)batch * sizeof(int64_t));
    bc_status st = (x && y && idx) ? BC_OK : BC_ERR_NOMEM;
    double loss = 0, t0 = bc__now();
    int64_t correct = 0;
    for (int64_t b0 = 0; !st && b0 < n; b0 += batch) {
        int64_t nb = n - b0 < batch ? n - b0 : batch;
        for (int64_t i = 0; i < nb; i++) idx[i] = b0 + i;
        bc_dataset_batch(ds, idx, nb, norm, x, y);
        st = bc__model_eval_batch(m, x, y, nb, &loss, &correct, pred ? pred + b0 : NULL);
    }
    double dt = bc__now() - t0;
    if (!st) {
        res->n = n;
        res->accuracy = n ? (double)correct / (double)n : 0;
        res->loss = n ? loss / (double)n : 0;
        res->samples_per_s = dt > 0 ? (double)n / dt : 0;
    }
    free(x);
    free(y);
    free(idx);
    return st;
}

bc_status bc_train(bc_model *m, const bc_dataset *train, const bc_dataset *test, const bc_train_opts *o,
                   bc_train_result *res) {
    memset(res, 0, sizeof *res);
    const bc_train_spec *ts = &o->spec;
    if (ts->batch < 1 || ts->epochs < 1) return bc__fail(BC_ERR_PARAM, "batch and epochs must be >= 1");
    bc_shape s = bc_dataset_shape(train), ms = bc_model_input(m);
    if (s.c != ms.c || s.h != ms.h || s.w != ms.w)
        return bc__fail(BC_ERR_SHAPE, "data is %dx%dx%d but the model expects %dx%dx%d", s.c, s.h, s.w, ms.c, ms.h, ms.w);
    if (bc_dataset_classes(train) > m->n_classes)
        return bc__fail(BC_ERR_SHAPE, "data has %d classes but the model outputs %d", bc_dataset_classes(train), m->n_classes);
    /* The optimizer reads its settings from the model's spec: use the run's. */
    m->spec->train = *ts;
    const int64_t n = bc_dataset_count(train), bs = ts->batch, feat = m->n_in;
    float *x = bc__alloc((size_t)(bs * feat) * sizeof(float));
    int32_t *y = bc__alloc((size_t)bs * sizeof(int32_t));
    int64_t *perm = bc__alloc((size_t)n * sizeof(int64_t));
    bc_status st = (x && y && perm) ? BC_OK : BC_ERR_NOMEM;
    /* Augmentation ([net] crop_pad, flip): padded pixels are black, as when torchvision pads
     * before normalising. */
    bc__augment aug = bc__augment_default();
    aug.pad = ts->crop_pad;
    aug.flip = ts->flip;
    bc__augment_fill_black(&aug, &o->norm);
    if (!st && (aug.pad || aug.flip)) st = bc__augment_check(&aug, s);
    bc_cim_chip *chip = NULL;
    if (!st && o->cim_hw) {
        if (o->cim_redraw < 1) st = bc__fail(BC_ERR_PARAM, "cim_redraw must be >= 1 (got %d)", o->cim_redraw);
        else st = bc_cim_chip_new(o->cim_hw, m, o->cim_seed, BC_CIM_TRAIN_CHIP0, &chip);
        if (!st && bc_cim_chip_layers(chip) == 0)
            st = bc__fail(BC_ERR_PARAM, "variation-aware training: the network has no binary layer with ±1 input "
                                        "for the CIM arrays (first and last layers stay digital unless [mapping] says cim)");
    }
    uint32_t draws = 0;
    double train_time = 0;
    int64_t trained = 0;
    /* Batches of one sample cannot be batch-normalised; a last batch that small is dropped. */
    const int64_t n_batches = n / bs + (n % bs >= 2 ? 1 : 0);
    for (int32_t ep = 0; !st && ep < ts->epochs; ep++) {
        bc_epoch_stats es = {.epoch = ep + 1, .lr = bc_train_lr(ts, ep)};
        bc_rng_key k = {.seed = o->seed, .purpose = BC_RNG_SHUFFLE, .layer = (uint32_t)ep};
        bc_rng_permutation(k, perm, n);
        double t0 = bc__now(), loss_sum = 0;
        int64_t correct = 0, seen = 0;
        bool stop = false;
        for (int64_t b = 0; !st && b < n_batches && !stop; b++) {
            int64_t b0 = b * bs, nb = n - b0 < bs ? n - b0 : bs;
            bc_dataset_batch(train, perm + b0, nb, &o->norm, x, y);
            if (aug.pad || aug.flip) bc__augment_batch(x, nb, s, &aug, bc__augment_key(o->seed, ep), perm + b0);
            if (chip && b % o->cim_redraw == 0 && (ep || b)) bc_cim_chip_redraw(chip, BC_CIM_TRAIN_CHIP0 + ++draws);
            bc_cim_chip *before = m->chip;
            if (chip) m->chip = chip; /* only for the step: the epoch's test pass stays digital */
            float loss;
            int64_t ok;
            st = bc_model_train_step(m, x, y, nb, es.lr, &loss, &ok);
            m->chip = before;
            if (st) break;
            if (!isfinite(loss)) {
                st = bc__fail(BC_ERR_PARAM, "training diverged at epoch %d, batch %lld (loss %g): lower the learning rate", ep + 1, (long long)b, (double)loss);
                break;
            }
            loss_sum += (double)loss * (double)nb;
            correct += ok;
            seen += nb;
            if (o->on_batch && !o->on_batch(o->user, ep + 1, b + 1, n_batches, loss)) stop = true;
        }
        if (st) break;
        es.train_seconds = bc__now() - t0;
        train_time += es.train_seconds;
        trained += seen;
        es.train_loss = seen ? loss_sum / (double)seen : 0;
        es.train_accuracy = seen ? (double)correct / (double)seen : 0;
        es.train_samples_per_s = es.train_seconds > 0 ? (double)seen / es.train_seconds : 0;
        if (test) {
            bc_eval_result er;
            if ((st = bc_evaluate(m, test, &o->norm, 0, &er))) break;
            es.test_loss = er.loss;
            es.test_accuracy = er.accuracy;
            es.eval_seconds = er.samples_per_s > 0 ? (double)er.n / er.samples_per_s : 0;
            es.eval_samples_per_s = er.samples_per_s;
            res->eval_samples_per_s = er.samples_per_s;
            res->facts.test_accuracy = er.accuracy;
        }
        res->facts.epochs = ep + 1;
        res->final_train_loss = es.train_loss;
        if (o->on_epoch) o->on_epoch(o->user, &es);
        if (stop) break;
    }
    bc_cim_chip_free(chip);
    res->train_samples_per_s = train_time > 0 ? (double)trained / train_time : 0;
    res->facts.seed = o->seed;
    res->facts.norm = o->norm;
    free(x);
    free(y);
    free(perm);
    return st;
}
