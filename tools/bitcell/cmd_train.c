/* bitcell train: train a network description on a dataset and write a run directory. */
#include "bitcell_cim.h"
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f) {
    fprintf(f,
            "usage: bitcell train NET.cfg [options]\n\n"
            "Trains the network described by NET.cfg (see models/ and docs/FORMATS.md) and writes a\n"
            "run directory: model.safetensors, metrics.json, log.csv, accuracy.svg, loss.svg,\n"
            "config.cfg (the network as trained, with the options applied).\n\n"
            "options (defaults from the [net] section of NET.cfg, else as shown):\n"
            "  --data NAME        dataset: fashion-mnist, mnist10k, cifar10, synthetic [fashion-mnist]\n"
            "  --data-dir DIR     where the dataset's files are [the dataset's default]\n"
            "  --epochs N         training epochs [10]\n"
            "  --batch N          mini-batch size [100]\n"
            "  --lr F             base learning rate [3e-3]\n"
            "  --optimizer NAME   adam or sgd [adam]\n"
            "  --schedule NAME    cosine, step or const [cosine]\n"
            "  --weight-decay F   L2 weight decay on dense weights [0]\n"
            "  --seed N           seed of initialisation, shuffling and dropout [42]\n"
            "  --train-limit N    use only the first N training samples [all]\n"
            "  --threads N        threads [BC_THREADS or all cores]\n"
            "  --gemm MODE        binary layers' backward GEMMs: fp32, bf16 (dY rounded to bf16,\n"
            "                     fp32 sums and weights; AMX or AVX512-BF16 kernels, else a slow\n"
            "                     scalar one) or auto (bf16 where the CPU has AMX, else fp32) [auto]\n"
            "  --out DIR          run directory [runs/<net>-<data>]\n"
            "  --quiet            no progress output\n\n"
            "variation-aware training (PR-CIM, docs/REPRODUCTION.md): the binary layers run on simulated\n"
            "CIM chips in every training forward pass, exactly as bitcell mc runs them, with a\n"
            "straight-through backward; the per-epoch test accuracy stays digital:\n"
            "  --hw FILE          CIM macro description (hw/*.ini)\n"
            "  --set KEY=VALUE    override a hardware key (repeatable), as in bitcell mc\n"
            "  --variation-aware  hardware in the loop: row groups, bitline, SA / ADC and variation\n"
            "  --noise-only       ablation: only the cells' variation (ideal readout of all rows at\n"
            "                     once, no SA / ADC offsets): plain weight-noise injection\n"
            "  --redraw-every K   batches per training chip [1: a new chip every batch]\n"
            "  --chip-seed N      seed of the training chips [1]; they are indices 2^31 + k, apart\n"
            "                     from the chips bitcell mc evaluates\n\n"
            "examples:\n"
            "  bitcell train models/mlp-bnn.cfg --data fashion-mnist --epochs 10 --out runs/mlp-bnn\n"
            "  bitcell train models/mlp-bnn.cfg --hw hw/sram65-128.ini --variation-aware --out runs/mlp-hil\n");
}

typedef struct {
    char *csv;        /* the log so far */
    size_t csv_len, csv_cap;
    const char *dir;
    double *ep, *train_acc, *test_acc, *train_loss, *test_loss;
    int32_t n;
    cli_progress prog;
    int32_t epochs;
    int64_t batch, n_train;
    bc_status io_st;
} run_state;

static bool on_batch(void *user, int32_t epoch, int64_t b, int64_t nb, float loss) {
    run_state *r = user;
    double done = (double)(epoch - 1) * (double)nb + (double)b, total = (double)r->epochs * (double)nb;
    double el = cli_progress_elapsed(&r->prog);
    double rate = el > 0 ? done * (double)r->batch / el : 0;
    char extra[64];
    snprintf(extra, sizeof extra, "epoch %d/%d loss %.4f", (int)epoch, (int)r->epochs, (double)loss);
    cli_progress_update(&r->prog, done * (double)r->batch, total * (double)r->batch, "samples", rate, extra);
    return true;
}

static void csv_append(run_state *r, const char *line) {
    size_t n = strlen(line);
    if (r->csv_len + n + 1 > r->csv_cap) {
        size_t cap = (r->csv_cap + n + 1) * 2;
        char *p = realloc(r->csv, cap);
        if (!p) return;
        r->csv = p;
        r->csv_cap = cap;
    }
    memcpy(r->csv + r->csv_len, line, n + 1);
    r->csv_len += n;
}

static void on_epoch(void *user, const bc_epoch_stats *s) {
    run_state *r = user;
    cli_progress_end(&r->prog);
    if (!r->prog.quiet)
        fprintf(stderr, "epoch %3d/%d  lr %.5f  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.0f samples/s\n",
                (int)s->epoch, (int)r->epochs, (double)s->lr, s->train_loss, 100 * s->train_accuracy,
                s->test_loss, 100 * s->test_accuracy, s->train_samples_per_s);
    char line[512];
    snprintf(line, sizeof line, "%d,%.6g,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f,%.1f\n", (int)s->epoch, (double)s->lr,
             s->train_loss, s->train_accuracy, s->test_loss, s->test_accuracy, s->train_seconds,
             s->train_samples_per_s, s->eval_samples_per_s);
    csv_append(r, line);
    int32_t i = r->n++;
    r->ep[i] = s->epoch;
    r->train_acc[i] = 100 * s->train_accuracy;
    r->test_acc[i] = 100 * s->test_accuracy;
    r->train_loss[i] = s->train_loss;
    r->test_loss[i] = s->test_loss;
    /* The log is rewritten after every epoch, so an interrupted run still leaves a valid file. */
    char path[4200];
    snprintf(path, sizeof path, "%s/log.csv", r->dir);
    bc_status st = bc_write_file_atomic(path, r->csv, r->csv_len);
    if (st && !r->io_st) r->io_st = st;
}

static bc_status write_metrics(const char *dir, const char *net, const char *data, const bc_train_result *res,
                               const bc_train_opts *o, const bc_ctx *ctx, int64_t n_train, const bc_model *m,
                               const char *variation_aware) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "bitcell_version", BC_VERSION);
    cJSON_AddStringToObject(j, "network", net);
    cJSON_AddStringToObject(j, "dataset", data);
    cJSON_AddNumberToObject(j, "test_accuracy", res->facts.test_accuracy);
    cJSON_AddNumberToObject(j, "train_samples_per_s", res->train_samples_per_s);
    cJSON_AddNumberToObject(j, "eval_samples_per_s", res->eval_samples_per_s);
    cJSON_AddNumberToObject(j, "final_train_loss", res->final_train_loss);
    cJSON_AddNumberToObject(j, "epochs", res->facts.epochs);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "batch", o->spec.batch);
    cJSON_AddNumberToObject(j, "lr", o->spec.lr);
    cJSON_AddStringToObject(j, "optimizer", o->spec.optimizer == BC_OPT_ADAM ? "adam" : "sgd");
    cJSON_AddNumberToObject(j, "train_samples", (double)n_train);
    cJSON_AddNumberToObject(j, "parameters", (double)bc_model_param_count(m));
    cJSON_AddNumberToObject(j, "threads", bc_ctx_threads(ctx));
    cJSON_AddStringToObject(j, "cpu", bc_cpu_name(bc_ctx_cpu(ctx)));
    const char *gemm_kernel = NULL;
    cJSON_AddStringToObject(j, "gemm", bc_gemm_name(bc_model_gemm(m, &gemm_kernel)));
    cJSON_AddStringToObject(j, "gemm_kernel", gemm_kernel);
    cJSON_AddNumberToObject(j, "peak_rss_mib", cli_peak_rss_mib());
    int64_t fm = 0, bm = 0;
    bc_model_macs(m, &fm, &bm);
    cJSON_AddNumberToObject(j, "macs_float_per_sample", (double)fm);
    cJSON_AddNumberToObject(j, "macs_binary_per_sample", (double)bm);
    if (o->cim_hw) {
        char *hw = bc_cim_hw_format(o->cim_hw);
        if (hw) cJSON_AddStringToObject(j, "hw", hw);
        free(hw);
        cJSON_AddNumberToObject(j, "redraw_every", o->cim_redraw);
        cJSON_AddNumberToObject(j, "chip_seed", (double)o->cim_seed);
    }
    cJSON_AddStringToObject(j, "variation_aware", variation_aware);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return BC_ERR_NOMEM;
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    bc_status st = bc_write_file_atomic(path, text, strlen(text));
    free(text);
    return st;
}

/* The network text with the run's settings, so the run can be repeated from config.cfg. */
static bc_status write_config(const char *dir, const char *net_text, const bc_train_opts *o, const char *data) {
    char head[1024];
    const bc_train_spec *s = &o->spec;
    static const char *const sched[] = {"const", "step", "cosine"};
    snprintf(head, sizeof head,
             "; resolved run configuration (bitcell %s)\n; data = %s, seed = %" PRIu64 "\n"
             "; effective: optimizer = %s, lr = %g, batch = %d, epochs = %d, schedule = %s, weight_decay = %g\n",
             BC_VERSION, data, o->seed, s->optimizer == BC_OPT_ADAM ? "adam" : "sgd", (double)s->lr, (int)s->batch,
             (int)s->epochs, sched[s->schedule], (double)s->weight_decay);
    size_t a = strlen(head), b = strlen(net_text);
    char *buf = malloc(a + b + 1);
    if (!buf) return BC_ERR_NOMEM;
    memcpy(buf, head, a);
    memcpy(buf + a, net_text, b + 1);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.cfg", dir);
    bc_status st = bc_write_file_atomic(path, buf, a + b);
    free(buf);
    return st;
}

int cmd_train(int argc, char **argv) {
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'}, {"data-dir", required_argument, 0, 'D'},
        {"epochs", required_argument, 0, 'e'}, {"batch", required_argument, 0, 'b'},
        {"lr", required_argument, 0, 'l'}, {"optimizer", required_argument, 0, 'O'},
        {"schedule", required_argument, 0, 'S'}, {"weight-decay", required_argument, 0, 'w'},
        {"seed", required_argument, 0, 's'}, {"train-limit", required_argument, 0, 'L'},
        {"threads", required_argument, 0, 't'}, {"out", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {"hw", required_argument, 0, 'H'}, {"set", required_argument, 0, 'V'},
        {"variation-aware", no_argument, 0, 'A'}, {"noise-only", no_argument, 0, 'N'},
        {"redraw-every", required_argument, 0, 'R'}, {"chip-seed", required_argument, 0, 'C'},
        {"gemm", required_argument, 0, 'g'}, {0, 0, 0, 0}};
    const char *data = "fashion-mnist", *data_dir = NULL, *out = NULL, *opt_name = NULL, *sched = NULL;
    const char *hw_path = NULL, *sets[32];
    int n_sets = 0;
    bool hil = false, noise_only = false;
    long redraw = 1;
    uint64_t chip_seed = 1;
    long epochs = 0, batch = 0, threads = 0, limit = 0;
    double lr = 0, wd = -1;
    uint64_t seed = 42;
    bool quiet = false;
    bc_gemm gemm = BC_GEMM_AUTO;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'D': data_dir = optarg; break;
        case 'e': if (!cli_int("--epochs", optarg, 1, 100000, &epochs)) return BC_EXIT_USAGE; break;
        case 'b': if (!cli_int("--batch", optarg, 2, 65536, &batch)) return BC_EXIT_USAGE; break;
        case 'l': if (!cli_float("--lr", optarg, 1e-9, 10, &lr)) return BC_EXIT_USAGE; break;
        case 'O': opt_name = optarg; break;
        case 'S': sched = optarg; break;
        case 'w': if (!cli_float("--weight-decay", optarg, 0, 1, &wd)) return BC_EXIT_USAGE; break;
        case 's': if (!cli_u64("--seed", optarg, &seed)) return BC_EXIT_USAGE; break;
        case 'L': if (!cli_int("--train-limit", optarg, 2, 1L << 40, &limit)) return BC_EXIT_USAGE; break;
        case 't': if (!cli_int("--threads", optarg, 1, 1024, &threads)) return BC_EXIT_USAGE; break;
        case 'o': out = optarg; break;
        case 'g':
            if (!strcmp(optarg, "auto")) gemm = BC_GEMM_AUTO;
            else if (!strcmp(optarg, "fp32")) gemm = BC_GEMM_FP32;
            else if (!strcmp(optarg, "bf16")) gemm = BC_GEMM_BF16;
            else return cli_usage("train", "--gemm '%s': expected auto, fp32 or bf16", optarg);
            break;
        case 'q': quiet = true; break;
        case 'h': help(stdout); return BC_EXIT_OK;
        case 'H': hw_path = optarg; break;
        case 'V':
            if (n_sets == 32) return cli_usage("train", "more than 32 --set options");
            sets[n_sets++] = optarg;
            break;
        case 'A': hil = true; break;
        case 'N': noise_only = true; break;
        case 'R': if (!cli_int("--redraw-every", optarg, 1, 1000000000L, &redraw)) return BC_EXIT_USAGE; break;
        case 'C': if (!cli_u64("--chip-seed", optarg, &chip_seed)) return BC_EXIT_USAGE; break;
        default: return cli_usage("train", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage("train", "expected one network file, got %d arguments", argc - optind);
    if (hil && noise_only) return cli_usage("train", "--variation-aware and --noise-only exclude each other");
    if ((hil || noise_only) != (hw_path != NULL))
        return cli_usage("train", hw_path ? "--hw needs --variation-aware or --noise-only" : "--variation-aware and --noise-only need --hw FILE");
    if (n_sets && !hw_path) return cli_usage("train", "--set needs --hw FILE");
    bc_cim_hw hw;
    if (hw_path) {
        bc_status hs = bc_cim_hw_load(hw_path, &hw);
        for (int i = 0; !hs && i < n_sets; i++) hs = bc_cim_hw_set(&hw, sets[i]);
        if (hs) return cli_fail(hs, NULL);
        if (noise_only) hw = bc_cim_hw_noise_only(&hw);
    }
    const char *net_path = argv[optind];

    bc_ctx *ctx = NULL;
    bc_netspec *spec = NULL;
    bc_dataset *tr = NULL, *te = NULL, *sub = NULL;
    bc_model *m = NULL;
    run_state r = {0};
    int rc = cli_ctx(threads, &ctx);
    if (rc) return rc;
    bc_status st = bc_netspec_parse_file(net_path, &spec);
    if (st) { rc = cli_fail(st, NULL); goto out; }
    bc_train_opts o = bc_train_opts_default(spec);
    if (epochs) o.spec.epochs = (int32_t)epochs;
    if (batch) o.spec.batch = (int32_t)batch;
    if (lr > 0) o.spec.lr = (float)lr;
    if (wd >= 0) o.spec.weight_decay = (float)wd;
    if (opt_name) {
        if (!strcmp(opt_name, "adam")) o.spec.optimizer = BC_OPT_ADAM;
        else if (!strcmp(opt_name, "sgd")) o.spec.optimizer = BC_OPT_SGD;
        else { rc = cli_usage("train", "--optimizer '%s': expected adam or sgd", opt_name); goto out; }
    }
    if (sched) {
        if (!strcmp(sched, "cosine")) o.spec.schedule = BC_SCHED_COSINE;
        else if (!strcmp(sched, "step")) o.spec.schedule = BC_SCHED_STEP;
        else if (!strcmp(sched, "const")) o.spec.schedule = BC_SCHED_CONST;
        else { rc = cli_usage("train", "--schedule '%s': expected cosine, step or const", sched); goto out; }
    }
    o.seed = seed;
    if (hw_path) {
        o.cim_hw = &hw;
        o.cim_redraw = (int32_t)redraw;
        o.cim_seed = chip_seed;
    }
    if ((st = bc_dataset_load(data, data_dir, BC_SPLIT_TRAIN, &tr))) { rc = cli_fail(st, NULL); goto out; }
    if ((st = bc_dataset_load(data, data_dir, BC_SPLIT_TEST, &te))) { rc = cli_fail(st, NULL); goto out; }
    if (limit && limit < bc_dataset_count(tr)) {
        bc_shape sh = bc_dataset_shape(tr);
        if ((st = bc_dataset_from_memory(bc_dataset_pixels(tr), bc_dataset_labels(tr), limit, sh, bc_dataset_classes(tr), &sub))) { rc = cli_fail(st, NULL); goto out; }
    }
    const bc_dataset *train = sub ? sub : tr;
    o.norm = bc_dataset_norm_stats(train);
    if ((st = bc_model_new(ctx, spec, bc_dataset_shape(train), seed, &m))) { rc = cli_fail(st, net_path); goto out; }
    if ((st = bc_model_set_gemm(m, gemm))) { rc = cli_fail(st, NULL); goto out; }
    const char *gemm_kernel = NULL;
    const bc_gemm gemm_used = bc_model_gemm(m, &gemm_kernel);

    char dir[4096];
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else snprintf(dir, sizeof dir, "runs/%s-%s", bc_netspec_name(spec), data);
    if ((st = bc_mkdirs(dir))) { rc = cli_fail(st, NULL); goto out; }
    r.dir = dir;
    r.epochs = o.spec.epochs;
    r.batch = o.spec.batch;
    r.n_train = bc_dataset_count(train);
    double *series = calloc((size_t)o.spec.epochs * 5, sizeof(double));
    if (!series) { rc = cli_fail(BC_ERR_NOMEM, "series"); goto out; }
    r.ep = series;
    r.train_acc = series + o.spec.epochs;
    r.test_acc = series + 2 * o.spec.epochs;
    r.train_loss = series + 3 * o.spec.epochs;
    r.test_loss = series + 4 * o.spec.epochs;
    csv_append(&r, "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,train_samples_per_s,eval_samples_per_s\n");
    cli_progress_init(&r.prog, "train", quiet);
    o.on_batch = on_batch;
    o.on_epoch = on_epoch;
    o.user = &r;
    if (!quiet)
        fprintf(stderr, "bitcell train: %s (%" PRId64 " parameters) on %s (%" PRId64 " train / %" PRId64 " test), %d epochs, batch %d, %s lr %g, seed %" PRIu64 ", %d threads, %s kernels, gemm %s (%s)\n",
                bc_netspec_name(spec), bc_model_param_count(m), data, r.n_train, bc_dataset_count(te), (int)o.spec.epochs,
                (int)o.spec.batch, o.spec.optimizer == BC_OPT_ADAM ? "adam" : "sgd", (double)o.spec.lr, seed,
                (int)bc_ctx_threads(ctx), bc_cpu_name(bc_ctx_cpu(ctx)), bc_gemm_name(gemm_used), gemm_kernel);
    if ((st = write_config(dir, bc_netspec_text(spec), &o, data))) { rc = cli_fail(st, NULL); goto out_series; }
    bc_train_result res;
    st = bc_train(m, train, te, &o, &res);
    cli_progress_end(&r.prog);
    if (st) { rc = cli_fail(st, "training failed"); goto out_series; }
    if (r.io_st) { rc = cli_fail(r.io_st, NULL); goto out_series; }
    snprintf(res.facts.dataset, sizeof res.facts.dataset, "%s", data);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((st = bc_model_save(m, path, &res.facts))) { rc = cli_fail(st, NULL); goto out_series; }
    if ((st = write_metrics(dir, bc_netspec_name(spec), data, &res, &o, ctx, r.n_train, m,
                                hil ? "hardware-in-the-loop" : noise_only ? "noise-only" : "no"))) { rc = cli_fail(st, NULL); goto out_series; }
    bc_series acc[2] = {{"train", r.ep, r.train_acc, r.n}, {"test", r.ep, r.test_acc, r.n}};
    bc_series loss[2] = {{"train", r.ep, r.train_loss, r.n}, {"test", r.ep, r.test_loss, r.n}};
    char title[128];
    snprintf(title, sizeof title, "%s on %s", bc_netspec_name(spec), data);
    snprintf(path, sizeof path, "%s/accuracy.svg", dir);
    if ((st = bc_plot_lines(path, title, "epoch", "accuracy (%)", acc, 2))) { rc = cli_fail(st, NULL); goto out_series; }
    snprintf(path, sizeof path, "%s/loss.svg", dir);
    if ((st = bc_plot_lines(path, title, "epoch", "cross-entropy loss", loss, 2))) { rc = cli_fail(st, NULL); goto out_series; }
    printf("network=%s dataset=%s epochs=%d test_accuracy=%.4f train_samples_per_s=%.1f eval_samples_per_s=%.1f peak_rss_mib=%.0f run=%s\n",
           bc_netspec_name(spec), data, (int)res.facts.epochs, res.facts.test_accuracy, res.train_samples_per_s,
           res.eval_samples_per_s, cli_peak_rss_mib(), dir);
out_series:
    free(series);
out:
    free(r.csv);
    bc_model_free(m);
    bc_dataset_free(sub);
    bc_dataset_free(tr);
    bc_dataset_free(te);
    bc_netspec_free(spec);
    bc_ctx_free(ctx);
    return rc;
}
