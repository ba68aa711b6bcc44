/* bitcell mc / sweep: a checkpoint on Monte-Carlo populations of simulated CIM chips. */
#include "cli.h"
#include "bitcell_cim.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETS 32
#define MAX_POINTS 200
#define HIST_BINS 20

static const char *hw_keys_help =
    "hardware keys (--set key=value, --vary key=start:stop:step; see hw/*.ini):\n"
    "  [macro]     rows, cols, rows_on (rows read at once), cell (xnor_match|xnor_mismatch)\n"
    "  [bitline]   vdd_V, v_floor_V (clamp), i_cell_uA, t_eval_ns, c_bl_fF\n"
    "  [readout]   kind (ideal|sa|adc), adc_bits, adc_full_scale_rows (0 = rows_on),\n"
    "              sa_vref_V (mid = half the group's rows discharging)\n"
    "  [variation] model (none|alpha_power|alpha_linear|subthreshold), sigma_vth_mV, alpha,\n"
    "              overdrive_V, n_slope, vt_mV, sigma_offset_mV (SA/ADC), sigma_read_mV (per read)\n"
    "  [mapping]   first_layer, last_layer (digital|cim)\n";

typedef struct {
    const char *ckpt, *hw_path, *data, *data_dir, *out, *vary;
    const char *sets[MAX_SETS];
    int n_sets;
    long chips, first_chip, batch, threads, limit;
    long calib_images;      /* --calibrate N: calibrate every chip on N training images */
    unsigned calib_steps;   /* --calib-steps: BC_CIM_CALIB_* flags */
    const char *calib_file; /* --calibration FILE: apply saved per-chip calibrations */
    uint64_t seed;
    bool quiet;
} mc_opts;

/* Everything a run needs, loaded and checked. */
typedef struct {
    bc_ctx *ctx;
    bc_model *m;
    bc_dataset *te;
    bc_dataset *calib;             /* calibration images (training split) */
    bc_cim_calibration *saved;     /* --calibration FILE */
    bc_train_facts facts;
    bc_cim_hw hw;
    const char *data;
    char out[4096];
    double digital_acc, float_rate;
} mc_run;

static void mc_free(mc_run *r) {
    bc_dataset_free(r->te);
    bc_dataset_free(r->calib);
    bc_cim_calibration_free(r->saved);
    bc_model_free(r->m);
    bc_ctx_free(r->ctx);
}

/* Parses the options shared by mc and sweep; returns -1 to go on, else an exit code. */
static int parse(const char *cmd, void (*help)(FILE *), int argc, char **argv, mc_opts *o) {
    static const struct option opts[] = {
        {"hw", required_argument, 0, 'w'}, {"chips", required_argument, 0, 'n'},
        {"set", required_argument, 0, 's'}, {"vary", required_argument, 0, 'v'},
        {"seed", required_argument, 0, 'S'}, {"first-chip", required_argument, 0, 'f'},
        {"data", required_argument, 0, 'd'}, {"data-dir", required_argument, 0, 'D'},
        {"limit", required_argument, 0, 'l'}, {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"out", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {"calibrate", required_argument, 0, 'C'}, {"calibration", required_argument, 0, 'F'},
        {"calib-steps", required_argument, 0, 'T'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case 'w': o->hw_path = optarg; break;
        case 'n': if (!cli_int("--chips", optarg, 1, 1000000, &o->chips)) return BC_EXIT_USAGE; break;
        case 's':
            if (o->n_sets == MAX_SETS) return cli_usage(cmd, "more than %d --set options", MAX_SETS);
            o->sets[o->n_sets++] = optarg;
            break;
        case 'v':
            if (strcmp(cmd, "sweep")) return cli_usage(cmd, "--vary belongs to bitcell sweep");
            o->vary = optarg;
            break;
        case 'S': if (!cli_u64("--seed", optarg, &o->seed)) return BC_EXIT_USAGE; break;
        case 'f': if (!cli_int("--first-chip", optarg, 0, 4000000000L, &o->first_chip)) return BC_EXIT_USAGE; break;
        case 'd': o->data = optarg; break;
        case 'D': o->data_dir = optarg; break;
        case 'l': if (!cli_int("--limit", optarg, 1, 100000000L, &o->limit)) return BC_EXIT_USAGE; break;
        case 'b': if (!cli_int("--batch", optarg, 1, 65536, &o->batch)) return BC_EXIT_USAGE; break;
        case 't': if (!cli_int("--threads", optarg, 1, 1024, &o->threads)) return BC_EXIT_USAGE; break;
        case 'o': o->out = optarg; break;
        case 'q': o->quiet = true; break;
        case 'h': help(stdout); return BC_EXIT_OK;
        case 'C': if (!cli_int("--calibrate", optarg, 2, 1000000, &o->calib_images)) return BC_EXIT_USAGE; break;
        case 'T':
            if (!strcmp(optarg, "bn")) o->calib_steps = BC_CIM_CALIB_BN;
            else if (!strcmp(optarg, "trim")) o->calib_steps = BC_CIM_CALIB_TRIM;
            else if (!strcmp(optarg, "bn,trim") || !strcmp(optarg, "trim,bn")) o->calib_steps = BC_CIM_CALIB_ALL;
            else return cli_usage(cmd, "--calib-steps takes bn, trim or bn,trim (got '%s')", optarg);
            break;
        case 'F':
            if (!strcmp(cmd, "calibrate")) return cli_usage(cmd, "--calibration belongs to mc and sweep (calibrate writes one with --out)");
            o->calib_file = optarg;
            break;
        default: return cli_usage(cmd, "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage(cmd, "expected one checkpoint, got %d arguments", argc - optind);
    if (!o->hw_path) return cli_usage(cmd, "--hw FILE is required (presets: hw/sram65-128.ini, hw/fdsoi28-128.ini, hw/ideal-128.ini)");
    if (o->first_chip + o->chips > 4294967296L) return cli_usage(cmd, "--first-chip + --chips must stay below 2^32");
    if (o->calib_images && o->calib_file) return cli_usage(cmd, "--calibrate and --calibration exclude each other");
    if (o->calib_steps && !o->calib_images) return cli_usage(cmd, "--calib-steps needs --calibrate N");
    if (!o->calib_steps) o->calib_steps = BC_CIM_CALIB_BN;
    if (!strcmp(cmd, "calibrate") && !o->calib_images) return cli_usage(cmd, "--calibrate N (calibration images) is required");
    if (!strcmp(cmd, "sweep") && o->calib_file) return cli_usage(cmd, "--calibration FILE fits one hardware setting: use --calibrate N with sweep");
    o->ckpt = argv[optind];
    return -1;
}

/* Prints how the checkpoint maps onto the arrays; fails when nothing does. */
static int load_chips(const char *cmd, const mc_opts *o, mc_run *r) {
    bc_cim_chip *probe = NULL;
    bc_status st = bc_cim_chip_new(&r->hw, r->m, o->seed, 0, &probe);
    if (st) return cli_fail(st, NULL);
    int32_t nl = bc_cim_chip_layers(probe);
    for (int32_t i = 0; i < nl; i++) {
        bc_cim_layer_info li = bc_cim_chip_layer(probe, i);
        printf("cim_layer=%d rows=%" PRId64 " cols=%" PRId64 " groups=%d arrays=%dx%d reads_per_sample=%" PRId64 "\n", li.layer,
               li.rows, li.cols, li.groups, li.array_rows, li.array_cols, li.reads_per_sample);
    }
    bc_cim_chip_free(probe);
    if (nl == 0) {
        fprintf(stderr, "bitcell %s: %s has no binary layer with ±1 input to put on the arrays\n", cmd, o->ckpt);
        return BC_EXIT_FAIL;
    }
    return 0;
}

/* Loads checkpoint, hardware (with --set), calibration images or file, test data (not for
 * calibrate); measures the digital network. */
static int load(const char *cmd, const mc_opts *o, mc_run *r) {
    int rc = cli_ctx(o->threads, &r->ctx);
    if (rc) return rc;
    bc_status st = bc_model_load(r->ctx, o->ckpt, &r->m, &r->facts);
    if (st) return cli_fail(st, NULL);
    if ((st = bc_cim_hw_load(o->hw_path, &r->hw))) return cli_fail(st, NULL);
    for (int i = 0; i < o->n_sets; i++)
        if ((st = bc_cim_hw_set(&r->hw, o->sets[i]))) return cli_fail(st, NULL);
    r->data = o->data ? o->data : (r->facts.dataset[0] ? r->facts.dataset : "fashion-mnist");
    bc_dataset *all = NULL;
    if (o->calib_images) {
        /* Calibration images: the first N of the training split, never the test set. */
        if ((st = bc_dataset_load(r->data, o->data_dir, BC_SPLIT_TRAIN, &all))) return cli_fail(st, NULL);
        long k = o->calib_images < bc_dataset_count(all) ? o->calib_images : (long)bc_dataset_count(all);
        st = bc_dataset_from_memory(bc_dataset_pixels(all), bc_dataset_labels(all), k, bc_dataset_shape(all),
                                    bc_dataset_classes(all), &r->calib);
        bc_dataset_free(all);
        all = NULL;
        if (st) return cli_fail(st, NULL);
    }
    if (o->calib_file && (st = bc_cim_calibration_load(o->calib_file, &r->saved))) return cli_fail(st, NULL);
    if (!strcmp(cmd, "calibrate")) return load_chips(cmd, o, r);
    if ((st = bc_dataset_load(r->data, o->data_dir, BC_SPLIT_TEST, &all))) return cli_fail(st, NULL);
    if (o->limit && o->limit < bc_dataset_count(all)) {
        st = bc_dataset_from_memory(bc_dataset_pixels(all), bc_dataset_labels(all), o->limit, bc_dataset_shape(all),
                                    bc_dataset_classes(all), &r->te);
        bc_dataset_free(all);
        if (st) return cli_fail(st, NULL);
    } else {
        r->te = all;
    }
    if ((rc = load_chips(cmd, o, r))) return rc;
    bc_eval_result dr;
    if ((st = bc_evaluate(r->m, r->te, &r->facts.norm, o->batch, &dr))) return cli_fail(st, o->ckpt);
    r->digital_acc = dr.accuracy;
    r->float_rate = dr.samples_per_s;
    printf("hw=%s digital_accuracy=%.4f samples=%" PRId64 " float_eval_samples_per_s=%.1f\n", r->hw.name, dr.accuracy,
           dr.n, dr.samples_per_s);
    if (o->out) {
        snprintf(r->out, sizeof r->out, "%s", o->out);
    } else {
        const char *slash = strrchr(o->ckpt, '/');
        int dl = slash ? (int)(slash - o->ckpt) : 1;
        snprintf(r->out, sizeof r->out, "%.*s/%s-%s", dl, slash ? o->ckpt : ".", cmd, r->hw.name);
    }
    if ((st = bc_mkdirs(r->out))) return cli_fail(st, r->out);
    return 0;
}

typedef struct {
    cli_progress bar;
    int32_t done, total;
    double sum;
} mc_progress;

static void on_chip(void *user, int32_t done, int32_t total, double acc) {
    mc_progress *p = user;
    (void)done;
    (void)total;
    p->done++;
    p->sum += acc;
    char extra[64] = ""; /* calibrate runs no test: acc is NaN */
    if (!isnan(acc)) snprintf(extra, sizeof extra, "mean acc %.4f", p->sum / p->done);
    double el = cli_progress_elapsed(&p->bar);
    cli_progress_update(&p->bar, p->done, p->total, "chips", el > 0 ? p->done / el : 0, extra);
}

static bc_status write_text(const char *dir, const char *name, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return bc_write_file_atomic(path, text, strlen(text));
}

static bc_status write_json(const char *dir, cJSON *j) {
    char *text = cJSON_Print(j);
    if (!text) return BC_ERR_NOMEM;
    bc_status st = write_text(dir, "metrics.json", text);
    free(text);
    return st;
}

static void add_summary(cJSON *j, const bc_cim_summary *s) {
    cJSON_AddNumberToObject(j, "mean", s->mean);
    cJSON_AddNumberToObject(j, "std", s->std);
    cJSON_AddNumberToObject(j, "min", s->min);
    cJSON_AddNumberToObject(j, "p5", s->p5);
    cJSON_AddNumberToObject(j, "median", s->median);
    cJSON_AddNumberToObject(j, "p95", s->p95);
    cJSON_AddNumberToObject(j, "max", s->max);
}

/* Facts every metrics.json carries. */
static cJSON *base_json(const mc_opts *o, const mc_run *r) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "bitcell_version", BC_VERSION);
    cJSON_AddStringToObject(j, "checkpoint", o->ckpt);
    cJSON_AddStringToObject(j, "dataset", r->data);
    cJSON_AddNumberToObject(j, "samples", (double)bc_dataset_count(r->te));
    cJSON_AddStringToObject(j, "hw", r->hw.name);
    cJSON_AddStringToObject(j, "hw_file", o->hw_path);
    cJSON *sets = cJSON_AddArrayToObject(j, "set");
    for (int i = 0; i < o->n_sets; i++) cJSON_AddItemToArray(sets, cJSON_CreateString(o->sets[i]));
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "first_chip", (double)o->first_chip);
    cJSON_AddNumberToObject(j, "chips", (double)o->chips);
    cJSON_AddNumberToObject(j, "sigma_current", bc_cim_hw_sigma_current(&r->hw));
    cJSON_AddNumberToObject(j, "calibration_images", (double)o->calib_images);
    if (o->calib_images) {
        const unsigned w = o->calib_steps;
        cJSON_AddStringToObject(j, "calibration",
                                w == BC_CIM_CALIB_BN     ? "batch-norm statistics per chip, first N training images"
                                : w == BC_CIM_CALIB_TRIM ? "SA/ADC reference trim per array column, first N training images"
                                                         : "SA/ADC reference trim, then batch-norm statistics, per chip, first N training images");
    }
    if (o->calib_file) cJSON_AddStringToObject(j, "calibration_file", o->calib_file);
    cJSON_AddNumberToObject(j, "digital_accuracy", r->digital_acc);
    cJSON_AddNumberToObject(j, "float_eval_samples_per_s", r->float_rate);
    cJSON_AddNumberToObject(j, "threads", bc_ctx_threads(r->ctx));
    cJSON_AddStringToObject(j, "cpu", bc_cpu_name(bc_ctx_cpu(r->ctx)));
    return j;
}

/* Histogram of accuracies as a stepped outline. */
static bc_status plot_hist(const char *dir, const double *acc, int32_t n, const char *title) {
    bc_cim_summary s = bc_cim_summarize(acc, n);
    double lo = s.min, hi = s.max;
    if (hi - lo < 1e-3) { lo -= 0.005; hi += 0.005; }
    double x[2 * HIST_BINS + 2], y[2 * HIST_BINS + 2];
    int32_t count[HIST_BINS] = {0};
    for (int32_t i = 0; i < n; i++) {
        int b = (int)((acc[i] - lo) / (hi - lo) * HIST_BINS);
        count[b < 0 ? 0 : (b >= HIST_BINS ? HIST_BINS - 1 : b)]++;
    }
    for (int b = 0; b < HIST_BINS; b++) {
        double e0 = 100.0 * (lo + (hi - lo) * b / HIST_BINS), e1 = 100.0 * (lo + (hi - lo) * (b + 1) / HIST_BINS);
        x[2 * b + 1] = e0; y[2 * b + 1] = count[b];
        x[2 * b + 2] = e1; y[2 * b + 2] = count[b];
    }
    x[0] = x[1]; y[0] = 0;
    x[2 * HIST_BINS + 1] = x[2 * HIST_BINS]; y[2 * HIST_BINS + 1] = 0;
    bc_series ser = {"chips", x, y, 2 * HIST_BINS + 2};
    char path[4200];
    snprintf(path, sizeof path, "%s/histogram.svg", dir);
    return bc_plot_lines(path, title, "test accuracy (%)", "chips", &ser, 1);
}

static void mc_help(FILE *f) {
    fprintf(f,
            "usage: bitcell mc CKPT.safetensors --hw FILE [options]\n\n"
            "Runs a trained binary network on a Monte-Carlo population of simulated SRAM CIM chips:\n"
            "every binary layer with ±1 input is tiled onto the macro's arrays, rows_on rows are read\n"
            "at once through the bitline and a sense amplifier or ADC, and each chip is one draw of\n"
            "all transistor variation (chip i of --seed is the same chip in every run). Prints the\n"
            "accuracy distribution over chips beside the digital network's accuracy.\n\n"
            "options:\n"
            "  --hw FILE          macro description (hw/sram65-128.ini, hw/fdsoi28-128.ini, hw/ideal-128.ini)\n"
            "  --chips N          chips to simulate [100]\n"
            "  --set KEY=VALUE    override a hardware key (repeatable), e.g. --set sigma_vth_mV=30\n"
            "  --seed S           variation seed [1]\n"
            "  --first-chip I     index of the first chip [0]\n"
            "  --data NAME        dataset [the checkpoint's]; --data-dir DIR where its files are\n"
            "  --limit N          only the first N test images (quick looks)\n"
            "  --batch N          evaluation batch [500]\n"
            "  --threads N        threads [BC_THREADS or all cores]\n"
            "  --out DIR          output directory [CKPT's directory/mc-<hw name>]\n"
            "  --quiet            no progress bar\n\n"
            "per-chip calibration (PR-CIM, docs/REPRODUCTION.md):\n"
            "  --calibrate N      before its test, calibrate each chip on the first N training images\n"
            "                     (never the test set); also writes calibration.safetensors\n"
            "  --calib-steps S    what calibration does [bn]:\n"
            "                       bn       re-estimate the batch-norm statistics on the chip\n"
            "                       trim     shift each array column's SA reference / ADC ladder so\n"
            "                                that it reads its partial sums as the digital network\n"
            "                       bn,trim  both, trim first\n"
            "                     (trim alone rescues an ADC chip's bias; on SA chips it removes the\n"
            "                     offsets' dither and loses accuracy: docs/REPRODUCTION.md)\n"
            "  --calibration FILE apply saved calibrations (bitcell calibrate, or an earlier mc run)\n\n"
            "writes: chips.csv (chip, accuracy, loss), metrics.json (summary, throughput), hw.ini\n"
            "        (the resolved description), histogram.svg\n\n"
            "%s\n"
            "example:\n"
            "  bitcell mc runs/mlp-bnn/model.safetensors --hw hw/sram65-128.ini --chips 100\n"
            "  bitcell mc runs/mlp-bnn/model.safetensors --hw hw/sram65-128.ini --set rows_on=32 --set kind=adc\n"
            "  bitcell mc runs/mlp-bnn/model.safetensors --hw hw/sram65-128.ini --calibrate 500\n",
            hw_keys_help);
}

int cmd_mc(int argc, char **argv) {
    mc_opts o = {.chips = 100, .batch = 500, .seed = 1};
    int rc = parse("mc", mc_help, argc, argv, &o);
    if (rc >= 0) return rc;
    mc_run r = {0};
    double *acc = NULL, *loss = NULL;
    if ((rc = load("mc", &o, &r))) goto out;
    acc = calloc((size_t)o.chips, sizeof *acc);
    loss = calloc((size_t)o.chips, sizeof *loss);
    if (!acc || !loss) { rc = cli_fail(BC_ERR_NOMEM, "accuracies"); goto out; }
    mc_progress p = {.total = (int32_t)o.chips};
    cli_progress_init(&p.bar, "mc", o.quiet);
    bc_cim_calibration *record = NULL;
    bc_status st = BC_OK;
    if (r.calib && (st = bc_cim_calibration_new(r.m, &r.hw, o.seed, &record))) { rc = cli_fail(st, NULL); goto out; }
    const bc_cim_mc_calib cal = {.images = r.calib, .batch = 100, .what = o.calib_steps, .saved = r.saved, .record = record};
    st = bc_cim_monte_carlo(r.m, &r.hw, r.te, &r.facts.norm, o.batch, o.seed, (uint32_t)o.first_chip,
                            (int32_t)o.chips, &cal, acc, loss, on_chip, &p);
    double secs = cli_progress_elapsed(&p.bar);
    cli_progress_end(&p.bar);
    if (!st && record) {
        char path[4200];
        snprintf(path, sizeof path, "%s/calibration.safetensors", r.out);
        st = bc_cim_calibration_save(record, path);
    }
    bc_cim_calibration_free(record);
    if (st) { rc = cli_fail(st, NULL); goto out; }
    bc_cim_summary s = bc_cim_summarize(acc, (int32_t)o.chips);
    double evals = (double)o.chips * (double)bc_dataset_count(r.te) / secs;
    printf("chips=%ld mean=%.4f std=%.4f min=%.4f p5=%.4f median=%.4f max=%.4f\n", o.chips, s.mean, s.std, s.min, s.p5,
           s.median, s.max);
    printf("chip_evals_per_s=%.1f cim_cost_vs_float=%.2f out=%s\n", evals, r.float_rate / evals, r.out);

    size_t cap = 64 + (size_t)o.chips * 64, used = 0;
    char *csv = malloc(cap);
    if (!csv) { rc = cli_fail(BC_ERR_NOMEM, "chips.csv"); goto out; }
    used += (size_t)snprintf(csv, cap, "chip,accuracy,loss\n");
    for (long i = 0; i < o.chips; i++)
        used += (size_t)snprintf(csv + used, cap - used, "%ld,%.6f,%.6f\n", o.first_chip + i, acc[i], loss[i]);
    st = write_text(r.out, "chips.csv", csv);
    free(csv);
    char *hwtext = bc_cim_hw_format(&r.hw);
    if (!st) st = hwtext ? write_text(r.out, "hw.ini", hwtext) : BC_ERR_NOMEM;
    free(hwtext);
    if (!st) {
        cJSON *j = base_json(&o, &r);
        add_summary(j, &s);
        cJSON_AddNumberToObject(j, "chip_evals_per_s", evals);
        cJSON_AddNumberToObject(j, "cim_cost_vs_float", r.float_rate / evals);
        cJSON *a = cJSON_AddArrayToObject(j, "accuracy");
        for (long i = 0; i < o.chips; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(acc[i]));
        st = write_json(r.out, j);
        cJSON_Delete(j);
    }
    char title[160];
    snprintf(title, sizeof title, "%ld chips of %s (digital %.2f %%)", o.chips, r.hw.name, 100.0 * r.digital_acc);
    if (!st) st = plot_hist(r.out, acc, (int32_t)o.chips, title);
    if (st) rc = cli_fail(st, r.out);
out:
    free(acc);
    free(loss);
    mc_free(&r);
    return rc;
}

static void sweep_help(FILE *f) {
    fprintf(f,
            "usage: bitcell sweep CKPT.safetensors --hw FILE --vary KEY=START:STOP:STEP [options]\n\n"
            "Accuracy of a trained binary network against one hardware parameter: at every value a\n"
            "Monte-Carlo population of chips (the same chip indices at every value, so the curve\n"
            "compares like with like). Options as for bitcell mc, plus:\n"
            "  --vary KEY=START:STOP:STEP   the parameter and its values (inclusive), e.g.\n"
            "                               sigma_vth_mV=0:60:10 or rows_on=16:128:16\n\n"
            "writes: sweep.csv (value, mean, std, min, p5, median, p95, max), chips.csv (value, chip,\n"
            "        accuracy), sweep.svg (mean with the 5-95 %% band), metrics.json, hw.ini\n\n"
            "%s\n"
            "example:\n"
            "  bitcell sweep runs/mlp-bnn/model.safetensors --hw hw/sram65-128.ini \\\n"
            "      --vary sigma_vth_mV=0:60:10 --chips 100\n",
            hw_keys_help);
}

/* "key=start:stop:step" -> key and the values; false with a usage message when malformed. */
static bool parse_vary(const char *v, const bc_cim_hw *hw, char *key, size_t nkey, double *vals, int *n) {
    const char *eq = strchr(v, '=');
    double a, b, step, probe;
    int used = 0;
    if (!eq || eq == v || (size_t)(eq - v) >= nkey || sscanf(eq + 1, "%lf:%lf:%lf%n", &a, &b, &step, &used) != 3 || eq[1 + used] ||
        !isfinite(a) || !isfinite(b) || !isfinite(step) || step <= 0 || b < a) {
        cli_usage("sweep", "--vary '%s': expected KEY=START:STOP:STEP with STEP > 0 and STOP >= START", v);
        return false;
    }
    memcpy(key, v, (size_t)(eq - v));
    key[eq - v] = '\0';
    if (bc_cim_hw_get(hw, key, &probe)) {
        cli_usage("sweep", "--vary: %s", bc_last_error());
        return false;
    }
    double count = floor((b - a) / step + 1e-9) + 1;
    if (count > MAX_POINTS) {
        cli_usage("sweep", "--vary '%s': %.0f points, at most %d", v, count, MAX_POINTS);
        return false;
    }
    *n = (int)count;
    for (int i = 0; i < *n; i++) vals[i] = a + step * i;
    return true;
}

int cmd_sweep(int argc, char **argv) {
    mc_opts o = {.chips = 100, .batch = 500, .seed = 1};
    int rc = parse("sweep", sweep_help, argc, argv, &o);
    if (rc >= 0) return rc;
    if (!o.vary) return cli_usage("sweep", "--vary KEY=START:STOP:STEP is required");
    mc_run r = {0};
    char key[64];
    double vals[MAX_POINTS], *acc = NULL;
    int nv = 0;
    bc_cim_summary sum[MAX_POINTS];
    bc_cim_hw hw0 = bc_cim_hw_default();
    if (!parse_vary(o.vary, &hw0, key, sizeof key, vals, &nv)) return BC_EXIT_USAGE;
    if ((rc = load("sweep", &o, &r))) goto out;
    /* Every value must be valid before hours of simulation start. */
    for (int i = 0; i < nv; i++) {
        bc_cim_hw t = r.hw;
        char a[96];
        snprintf(a, sizeof a, "%s=%.10g", key, vals[i]);
        bc_status st = bc_cim_hw_set(&t, a);
        if (st) { rc = cli_fail(st, NULL); goto out; }
    }
    acc = calloc((size_t)nv * (size_t)o.chips, sizeof *acc);
    if (!acc) { rc = cli_fail(BC_ERR_NOMEM, "accuracies"); goto out; }
    mc_progress p = {.total = (int32_t)(nv * o.chips)};
    cli_progress_init(&p.bar, "sweep", o.quiet);
    for (int i = 0; i < nv; i++) {
        bc_cim_hw t = r.hw;
        char a[96];
        snprintf(a, sizeof a, "%s=%.10g", key, vals[i]);
        bc_cim_hw_set(&t, a);
        const bc_cim_mc_calib cal = {.images = r.calib, .batch = 100, .what = o.calib_steps};
        bc_status st = bc_cim_monte_carlo(r.m, &t, r.te, &r.facts.norm, o.batch, o.seed, (uint32_t)o.first_chip,
                                          (int32_t)o.chips, &cal, acc + (size_t)i * (size_t)o.chips, NULL, on_chip, &p);
        if (st) { cli_progress_end(&p.bar); rc = cli_fail(st, o.ckpt); goto out; }
        sum[i] = bc_cim_summarize(acc + (size_t)i * (size_t)o.chips, (int32_t)o.chips);
    }
    cli_progress_end(&p.bar);
    size_t cap = 256 + (size_t)nv * 160 + (size_t)nv * (size_t)o.chips * 48, used = 0, cused = 0;
    char *csv = malloc(cap), *chips = malloc(cap);
    if (!csv || !chips) { free(csv); free(chips); rc = cli_fail(BC_ERR_NOMEM, "sweep.csv"); goto out; }
    used += (size_t)snprintf(csv, cap, "%s,mean,std,min,p5,median,p95,max\n", key);
    cused += (size_t)snprintf(chips, cap, "%s,chip,accuracy\n", key);
    double x[MAX_POINTS], ym[MAX_POINTS], y5[MAX_POINTS], y95[MAX_POINTS], yd[MAX_POINTS];
    for (int i = 0; i < nv; i++) {
        const bc_cim_summary *s = &sum[i];
        printf("%s=%.10g mean=%.4f std=%.4f min=%.4f p5=%.4f median=%.4f p95=%.4f max=%.4f\n", key, vals[i], s->mean, s->std,
               s->min, s->p5, s->median, s->p95, s->max);
        used += (size_t)snprintf(csv + used, cap - used, "%.10g,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", vals[i], s->mean, s->std,
                                 s->min, s->p5, s->median, s->p95, s->max);
        for (long c = 0; c < o.chips; c++)
            cused += (size_t)snprintf(chips + cused, cap - cused, "%.10g,%ld,%.6f\n", vals[i], o.first_chip + c,
                                      acc[(size_t)i * (size_t)o.chips + (size_t)c]);
        x[i] = vals[i];
        ym[i] = 100.0 * s->mean;
        y5[i] = 100.0 * s->p5;
        y95[i] = 100.0 * s->p95;
        yd[i] = 100.0 * r.digital_acc;
    }
    bc_status st = write_text(r.out, "sweep.csv", csv);
    if (!st) st = write_text(r.out, "chips.csv", chips);
    free(csv);
    free(chips);
    char *hwtext = bc_cim_hw_format(&r.hw);
    if (!st) st = hwtext ? write_text(r.out, "hw.ini", hwtext) : BC_ERR_NOMEM;
    free(hwtext);
    if (!st) {
        cJSON *j = base_json(&o, &r);
        cJSON_AddStringToObject(j, "vary", key);
        cJSON *pts = cJSON_AddArrayToObject(j, "points");
        for (int i = 0; i < nv; i++) {
            cJSON *pt = cJSON_CreateObject();
            cJSON_AddNumberToObject(pt, "value", vals[i]);
            add_summary(pt, &sum[i]);
            cJSON_AddItemToArray(pts, pt);
        }
        st = write_json(r.out, j);
        cJSON_Delete(j);
    }
    if (!st) {
        bc_series ser[4] = {{"mean", x, ym, nv}, {"5th percentile", x, y5, nv}, {"95th percentile", x, y95, nv},
                            {"digital", x, yd, nv}};
        char path[4200], title[160];
        snprintf(path, sizeof path, "%s/sweep.svg", r.out);
        snprintf(title, sizeof title, "%s: accuracy over %ld chips", r.hw.name, o.chips);
        st = bc_plot_lines(path, title, key, "test accuracy (%)", ser, 4);
    }
    if (st) rc = cli_fail(st, r.out);
    else printf("out=%s\n", r.out);
out:
    free(acc);
    mc_free(&r);
    return rc;
}

static void calibrate_help(FILE *f) {
    fprintf(f,
            "usage: bitcell calibrate CKPT.safetensors --hw FILE --calibrate N [options]\n\n"
            "Calibrates each chip of a Monte-Carlo population and saves the calibrations: the batch\n"
            "norms' statistics re-estimated with the binary layers running on that chip and/or (with\n"
            "--calib-steps) each array column's SA reference / ADC ladder trimmed, from the first N\n"
            "images of the training split (the test set is never read). Apply the file with\n"
            "bitcell mc ... --calibration FILE (same checkpoint, hardware settings and --seed).\n\n"
            "options:\n"
            "  --hw FILE, --set KEY=VALUE, --seed S, --first-chip I, --chips N [100], --data NAME,\n"
            "  --data-dir DIR, --threads N, --quiet     as in bitcell mc\n"
            "  --calibrate N      calibration images per chip (required)\n"
            "  --calib-steps S    bn, trim or bn,trim [bn], as in bitcell mc\n"
            "  --out FILE         [CKPT's directory/calibration-<hw name>.safetensors]\n\n"
            "example:\n"
            "  bitcell calibrate runs/mlp-bnn/model.safetensors --hw hw/sram65-128.ini --chips 100 --calibrate 500\n"
            "  bitcell mc runs/mlp-bnn/model.safetensors --hw hw/sram65-128.ini --chips 100 \\\n"
            "      --calibration runs/mlp-bnn/calibration-sram65-128.safetensors\n");
}

int cmd_calibrate(int argc, char **argv) {
    mc_opts o = {.chips = 100, .batch = 500, .seed = 1};
    int rc = parse("calibrate", calibrate_help, argc, argv, &o);
    if (rc >= 0) return rc;
    mc_run r = {0};
    bc_cim_calibration *record = NULL;
    if ((rc = load("calibrate", &o, &r))) goto out;
    char path[4200];
    if (o.out) {
        snprintf(path, sizeof path, "%s", o.out);
    } else {
        const char *slash = strrchr(o.ckpt, '/');
        int dl = slash ? (int)(slash - o.ckpt) : 1;
        snprintf(path, sizeof path, "%.*s/calibration-%s.safetensors", dl, slash ? o.ckpt : ".", r.hw.name);
    }
    bc_status st = bc_cim_calibration_new(r.m, &r.hw, o.seed, &record);
    if (st) { rc = cli_fail(st, NULL); goto out; }
    mc_progress p = {.total = (int32_t)o.chips};
    cli_progress_init(&p.bar, "calibrate", o.quiet);
    const bc_cim_mc_calib cal = {.images = r.calib, .batch = 100, .what = o.calib_steps, .record = record};
    st = bc_cim_monte_carlo(r.m, &r.hw, NULL, &r.facts.norm, o.batch, o.seed, (uint32_t)o.first_chip,
                            (int32_t)o.chips, &cal, NULL, NULL, on_chip, &p);
    cli_progress_end(&p.bar);
    if (!st) st = bc_cim_calibration_save(record, path);
    if (st) { rc = cli_fail(st, o.ckpt); goto out; }
    printf("calibrated chips=%ld (first %ld, seed %" PRIu64 ") on %ld training images of %s: %s\n", o.chips, o.first_chip,
           o.seed, (long)bc_dataset_count(r.calib), r.data, path);
out:
    bc_cim_calibration_free(record);
    mc_free(&r);
    return rc;
}
