/* bitcell eval: accuracy of a checkpoint on a dataset's test split. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f) {
    fprintf(f,
            "usage: bitcell eval CKPT.safetensors [options]\n\n"
            "Evaluates a checkpoint on the test split and prints one line of key=value results.\n\n"
            "options:\n"
            "  --data NAME      dataset [the one the checkpoint was trained on]\n"
            "  --data-dir DIR   where the dataset's files are [the dataset's default]\n"
            "  --batch N        evaluation batch size [500]\n"
            "  --engine NAME    float: float activations; packed: bit-packed activations, batch\n"
            "                   norm + sign folded into integer thresholds, XNOR-popcount layers;\n"
            "                   both: run both and count predictions that differ (always 0) [float]\n"
            "  --threads N      threads [BC_THREADS or all cores]\n\n"
            "example:\n"
            "  bitcell eval runs/mlp-bnn/model.safetensors --data fashion-mnist\n"
            "  bitcell eval runs/vgg-small-bnn/model.safetensors --engine both\n");
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'}, {"data-dir", required_argument, 0, 'D'},
        {"batch", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
        {"engine", required_argument, 0, 'e'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *data = NULL, *data_dir = NULL, *engine = "float";
    long threads = 0, batch = 500;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'e':
            if (strcmp(optarg, "float") && strcmp(optarg, "packed") && strcmp(optarg, "both"))
                return cli_usage("eval", "--engine '%s': expected float, packed or both", optarg);
            engine = optarg;
            break;
        case 'D': data_dir = optarg; break;
        case 'b': if (!cli_int("--batch", optarg, 1, 65536, &batch)) return BC_EXIT_USAGE; break;
        case 't': if (!cli_int("--threads", optarg, 1, 1024, &threads)) return BC_EXIT_USAGE; break;
        case 'h': help(stdout); return BC_EXIT_OK;
        default: return cli_usage("eval", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage("eval", "expected one checkpoint, got %d arguments", argc - optind);
    const char *path = argv[optind];
    bc_ctx *ctx = NULL;
    bc_model *m = NULL;
    bc_dataset *te = NULL;
    bc_train_facts facts;
    int32_t *pred[2] = {NULL, NULL};
    int rc = cli_ctx(threads, &ctx);
    if (rc) return rc;
    bc_status st = bc_model_load(ctx, path, &m, &facts);
    if (st) { rc = cli_fail(st, NULL); goto out; }
    if (!data) data = facts.dataset[0] ? facts.dataset : "fashion-mnist";
    if ((st = bc_dataset_load(data, data_dir, BC_SPLIT_TEST, &te))) { rc = cli_fail(st, NULL); goto out; }
    bool both = !strcmp(engine, "both");
    int64_t n = bc_dataset_count(te), mismatches = 0;
    pred[0] = calloc((size_t)n + 1, sizeof(int32_t));
    pred[1] = calloc((size_t)n + 1, sizeof(int32_t));
    if (!pred[0] || !pred[1]) { rc = cli_fail(BC_ERR_NOMEM, "predictions"); goto out; }
    for (int k = 0; k < (both ? 2 : 1); k++) {
        bc_engine e = (both ? k == 1 : !strcmp(engine, "packed")) ? BC_ENGINE_PACKED : BC_ENGINE_FLOAT;
        bc_eval_result r;
        bc_model_set_engine(m, e);
        if ((st = bc_evaluate_predict(m, te, &facts.norm, batch, pred[k], &r))) { rc = cli_fail(st, path); goto out; }
        printf("checkpoint=%s dataset=%s engine=%s samples=%lld test_accuracy=%.4f test_loss=%.4f eval_samples_per_s=%.1f threads=%d\n",
               path, data, bc_engine_name(e), (long long)r.n, r.accuracy, r.loss, r.samples_per_s, (int)bc_ctx_threads(ctx));
    }
    if (both) {
        for (int64_t i = 0; i < n; i++) mismatches += pred[0][i] != pred[1][i];
        printf("prediction_mismatches=%lld\n", (long long)mismatches);
        if (mismatches) {
            fprintf(stderr, "bitcell: %s: the float and packed engines disagree on %lld predictions\n", path, (long long)mismatches);
            rc = BC_EXIT_FAIL;
        }
    }
out:
    free(pred[0]);
    free(pred[1]);
    bc_dataset_free(te);
    bc_model_free(m);
    bc_ctx_free(ctx);
    return rc;
}
