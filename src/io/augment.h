/* Training-time data augmentation for image batches: random crop with constant padding and
 * random horizontal flip (the CIFAR-10 recipe), in place on normalised NHWC float batches.
 *
 * A pure function of (key, sample id): sample r of a batch draws from the Philox block
 * `sample_id[r]` of `key` (counters sample_id*4 + j, j = 0 dy, 1 dx, 2 flip, 3 unused), so
 * the result does not depend on batch composition, batch position or thread count. Put the
 * epoch into the key (bc__augment_key) or every epoch sees the same crop of each sample. */
#ifndef BC_IO_AUGMENT_H
#define BC_IO_AUGMENT_H
#include "bitcell.h"

/* Sub-stream of BC_RNG_DATA used for augmentation (chips 0 and 1 are synthetic data). */
#define BC__AUGMENT_CHIP 2u

typedef struct {
    int32_t pad;   /* crop offsets dy, dx uniform in [-pad, pad]; 0 = no crop */
    bool flip;     /* horizontal flip with probability 1/2 */
    float fill[4]; /* per channel: the value of pixels shifted in from outside (normalised) */
} bc__augment;

/* The no-op: pad 0, no flip, fill 0 (an all-zero struct is the same). */
bc__augment bc__augment_default(void);

/* fill[ch] = the normalised value of a black pixel, (0 - mean) / std, bit-identical to what
 * bc_dataset_batch makes of pixel level 0 (norm NULL: 0). This matches torchvision, which
 * pads the uint8/[0,1] image with 0 before Normalize; fill 0 instead would pad with the
 * dataset mean. Channels beyond norm->c get 0. */
void bc__augment_fill_black(bc__augment *a, const bc_norm *norm);

/* BC_ERR_PARAM (message names the field) unless 0 <= pad < min(s.h, s.w), 1 <= s.c <= 4 and
 * fill[0..s.c) is finite. Call once when the options are set, not per batch. */
bc_status bc__augment_check(const bc__augment *a, bc_shape s);

/* The key for one epoch: {seed, BC_RNG_DATA, BC__AUGMENT_CHIP, epoch}. */
bc_rng_key bc__augment_key(uint64_t seed, int32_t epoch);

/* In place on x: (n, s.h, s.w, s.c) float, channels fastest. For sample r with draws dy, dx,
 * flip (see above):
 *   crop(y, x) = in(y + dy, x + dx) when inside the image, else fill[ch]
 *   out(y, x)  = flip ? crop(y, s.w - 1 - x) : crop(y, x)
 * sample_id: (n) ids >= 0, normally the dataset indices of the batch. No scratch and no
 * allocation: rows are moved in an order that never overwrites an unread source row.
 * OpenMP over samples. `a` must pass bc__augment_check (asserted cheaply). */
void bc__augment_batch(float *x, int64_t n, bc_shape s, const bc__augment *a, bc_rng_key key,
                       const int64_t *sample_id);

#endif
