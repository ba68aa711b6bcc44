/* Network description files: every parse error is BC_ERR_FORMAT with "origin:LINE:" at the
 * offending line (or "origin:" for whole-file problems); the shipped models parse to the
 * expected layers; comments, indentation, groups and the bias default; file == text. */
#include "nn/netspec.h"
#include "bc_internal.h"
#include "bc_test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[64];

static const char *tpath(const char *name) { return bc_t_path(g_dir, name); }

/* "t.cfg: " or "t.cfg:N: " with N > 0 */
static bool file_prefix(const char *msg) {
    if (strncmp(msg, "t.cfg:", 6)) return false;
    msg += 6;
    if (*msg == ' ') return true;
    char *end;
    long n = strtol(msg, &end, 10);
    return end != msg && n > 0 && end[0] == ':' && end[1] == ' ';
}

/* Parses text that must fail with BC_ERR_FORMAT, a message starting "t.cfg:LINE: " (line > 0),
 * "t.cfg: " (line == 0: whole-file checks with no line), or either of those (line < 0: checks
 * that name no line today but could), and containing `needle`. */
static void bad_at(int line, const char *needle, const char *text, int src_line) {
    bc_netspec *s = (bc_netspec *)&s; /* must be reset to NULL */
    bc_status st = bc_netspec_parse_text(text, "t.cfg", &s);
    char want[64];
    if (line > 0) snprintf(want, sizeof want, "t.cfg:%d: ", line);
    else snprintf(want, sizeof want, line == 0 ? "t.cfg: " : "t.cfg:");
    const char *msg = bc_last_error();
    bool prefix_ok = line < 0 ? file_prefix(msg) : !strncmp(msg, want, strlen(want));
    bc_t_n++;
    if (st != BC_ERR_FORMAT || s != NULL || !prefix_ok || (needle && !strstr(msg, needle))) {
        bc_t_fail++;
        fprintf(stderr, "%s:%d: expected BC_ERR_FORMAT '%s...%s', got %d '%s'\n", __FILE__, src_line, want,
                needle ? needle : "", (int)st, msg);
    }
    if (st == BC_OK) bc_netspec_free(s);
}
#define BAD_AT(line, needle, text) bad_at(line, needle, text, __LINE__)

static bc_netspec *good(const char *text, int src_line) {
    bc_netspec *s = NULL;
    bc_status st = bc_netspec_parse_text(text, "good.cfg", &s);
    bc_t_n++;
    if (st != BC_OK || !s) {
        bc_t_fail++;
        fprintf(stderr, "%s:%d: parse failed: %s\n", __FILE__, src_line, bc_last_error());
    }
    return s;
}
#define GOOD(text) good(text, __LINE__)

#define L3 "[dense]\nunits = 3\n[softmax]\n" /* a minimal valid tail */

static void test_errors(void) {
    BAD_AT(4, "unknown section [convolution]", "[net]\n[dense]\nunits = 3\n[convolution]\n[softmax]\n");
    BAD_AT(1, "unknown section", "[Dense]\nunits = 3\n[softmax]\n");
    BAD_AT(1, "[conv] needs filters", "[conv]\nsize = 3\n[softmax]\n");
    BAD_AT(3, "size '0'", "[conv]\nfilters = 4\nsize = 0\n[softmax]\n");
    BAD_AT(2, "from '0': expected a negative layer offset", "[shortcut]\nfrom = 0\n[softmax]\n");
    BAD_AT(2, "unknown key 'filters' in [maxpool]", "[maxpool]\nfilters = 2\n[softmax]\n");
    BAD_AT(2, "reaches before the first layer", "[relu]\n[shortcut]\nfrom = -5\n[softmax]\n");
    BAD_AT(3, "unknown key 'unitz' in [dense]", "; a comment\n[dense]\nunitz = 3\n[softmax]\n");
    BAD_AT(2, "unknown key 'rate' in [bn]", "[bn]\nrate = 0.5\n" L3);
    BAD_AT(3, "unknown key 'units' in [net]", "[net]\nname = x\nunits = 4\n" L3);
    BAD_AT(2, "unknown key 'units' in [relu]", "[relu]\nunits = 4\n" L3);
    BAD_AT(3, "unknown key 'depth' in [group]", "[group]\nname = g\ndepth = 1\n" L3);
    BAD_AT(2, "units '12x'", "[dense]\nunits = 12x\n[softmax]\n");
    BAD_AT(2, "units ''", "[dense]\nunits =\n[softmax]\n");
    BAD_AT(2, "units '1.5'", "[dense]\nunits = 1.5\n[softmax]\n");
    BAD_AT(2, "units '0'", "[dense]\nunits = 0\n[softmax]\n");
    BAD_AT(2, "units '-4'", "[dense]\nunits = -4\n[softmax]\n");
    BAD_AT(2, "units '99999999999999999999'", "[dense]\nunits = 99999999999999999999\n[softmax]\n");
    BAD_AT(2, "units '2000000'", "[dense]\nunits = 2000000\n[softmax]\n");
    BAD_AT(5, "rate '1.5'", L3 "[dropout]\nrate = 1.5\n");
    BAD_AT(2, "rate '-0.1'", "[dropout]\nrate = -0.1\n" L3);
    BAD_AT(2, "rate 'nan'", "[dropout]\nrate = nan\n" L3);
    BAD_AT(3, "lr '-1'", "[net]\noptimizer = sgd\nlr = -1\n" L3);
    BAD_AT(2, "lr 'inf'", "[net]\nlr = inf\n" L3);
    BAD_AT(2, "lr '0'", "[net]\nlr = 0\n" L3);
    BAD_AT(2, "momentum '1'", "[net]\nmomentum = 1\n" L3);
    BAD_AT(2, "batch '0'", "[net]\nbatch = 0\n" L3);
    BAD_AT(2, "epochs '1e3'", "[net]\nepochs = 1e3\n" L3);
    BAD_AT(2, "optimizer 'rmsprop'", "[net]\noptimizer = rmsprop\n" L3);
    BAD_AT(2, "schedule 'linear'", "[net]\nschedule = linear\n" L3);
    BAD_AT(2, "input '1x28'", "[net]\ninput = 1x28\n" L3);
    BAD_AT(2, "input '5x8x8'", "[net]\ninput = 5x8x8\n" L3);
    BAD_AT(2, "name 'a b'", "[net]\nname = a b\n" L3);
    BAD_AT(3, "binary 'maybe'", "[dense]\nunits = 3\nbinary = maybe\n[softmax]\n");
    BAD_AT(3, "bias '2'", "[dense]\nunits = 3\nbias = 2\n[softmax]\n");
    BAD_AT(2, "eps '0'", "[bn]\neps = 0\n" L3);
    BAD_AT(3, "lr_scale '-1'", "[group]\nname = g\nlr_scale = -1\n" L3);
    BAD_AT(3, "weight_decay '2'", "[group]\nname = g\nweight_decay = 2\n" L3);
    BAD_AT(3, "weight_decay '-0.5'", "[net]\nlr = 0.1\nweight_decay = -0.5\n" L3);

    /* Structure. */
    BAD_AT(3, "[dense] needs units", "[net]\n\n[dense]\nbias = 1\n[softmax]\n");
    BAD_AT(1, "[dense] needs units", "[dense]\n" L3);
    BAD_AT(3, "[softmax] must be the last layer", "[dense]\nunits = 3\n[softmax]\n[relu]\n");
    BAD_AT(1, "[softmax] must be the last layer", "[softmax]\n" L3);
    BAD_AT(0, "the last layer must be [softmax]", "[dense]\nunits = 3\n");
    BAD_AT(0, "no layers", "[net]\nname = x\n");
    BAD_AT(0, "no layers", "");
    BAD_AT(0, "no layers", "; only a comment\n\n# another\n");
    BAD_AT(4, "[net] must come before the layers", "[dense]\nunits = 3\n\n[net]\nlr = 0.1\n[softmax]\n");
    BAD_AT(3, "a second [net] section", "[net]\nlr = 0.1\n[net]\n" L3);
    BAD_AT(3, "group 'foo' is not defined", "[net]\n\n[dense]\nunits = 3\ngroup = foo\n[softmax]\n");
    BAD_AT(1, "group 'g' is not defined", "[bn]\ngroup = g\n[group]\nname = h\n" L3);
    BAD_AT(3, "group 'bad name'", "[dense]\nunits = 3\ngroup = bad name\n[softmax]\n");
    BAD_AT(2, "group", "[relu]\ngroup = g\n[group]\nname = g\n" L3);
    /* Group checks run after parsing and name no line yet (bc_group_spec keeps none): the
     * duplicate is at line 4, the nameless [group] at line 1. Accept "t.cfg: " or a line. */
    BAD_AT(4, "group 'a' defined twice", "[group]\nname = a\n[group]\nname = a\n" L3);
    BAD_AT(1, "has no name", "[group]\nlr_scale = 0.5\n" L3);
    BAD_AT(1, "key 'units' before the first section", "units = 3\n" L3);
    BAD_AT(3, "before the first section", "; comment\n\nunits = 3\n" L3);
    BAD_AT(2, "malformed section header", "[net]\n[dense\nunits = 3\n[softmax]\n");
    BAD_AT(1, "malformed section header", "[]\n" L3);
    BAD_AT(2, "syntax error", "[dense]\nunits 3\n[softmax]\n");
    BAD_AT(4, "syntax error", "[dense]\nunits = 3\n[softmax]\njust words\n");

    /* Over-long lines (inih's line buffer is 200 bytes): named at their line. */
    char text[1024];
    char longc[260];
    memset(longc, 'x', sizeof longc - 1);
    longc[0] = ';';
    longc[sizeof longc - 1] = '\0';
    snprintf(text, sizeof text, "[net]\nname = a\n%s\n" L3, longc);
    BAD_AT(3, "line longer than", text);
    snprintf(text, sizeof text, "[dense]\nunits = 3\n[softmax]\n%s", longc); /* no final newline */
    BAD_AT(4, "line longer than", text);
    /* 201 characters on the last line, without a newline. */
    longc[201] = '\0';
    snprintf(text, sizeof text, "[dense]\nunits = 3\n[softmax]\n%s", longc);
    BAD_AT(4, "line longer than", text);
    /* Long but acceptable lines (198 characters and its newline fit inih's 200-byte buffer). */
    longc[198] = '\0';
    snprintf(text, sizeof text, "%s\n" L3, longc);
    bc_netspec *s = GOOD(text);
    bc_netspec_free(s);
    snprintf(text, sizeof text, "[net]\nname = %.*s\n" L3, 23, "abcdefghijklmnopqrstuvwxyz");
    s = GOOD(text);
    bc_netspec_free(s);

    /* NULL text is a parameter error, not a format one. */
    s = (bc_netspec *)&s;
    BC_CHECK(bc_netspec_parse_text(NULL, "x", &s) == BC_ERR_PARAM && s == NULL);
    /* NULL origin: a default name in messages. */
    BC_CHECK(bc_netspec_parse_text("[dense]\n", NULL, &s) == BC_ERR_FORMAT && s == NULL);
    BC_CHECK(strlen(bc_last_error()) > 0);
}

static void test_files(void) {
    bc_netspec *s = (bc_netspec *)&s;
    /* Missing file: an I/O error naming it. */
    const char *missing = tpath("missing.cfg");
    BC_CHECK(bc_netspec_parse_file(missing, &s) == BC_ERR_IO && s == NULL);
    BC_CHECK(strstr(bc_last_error(), missing) != NULL);

    /* Binary content: a valid description followed by NUL bytes and garbage is not accepted. */
    static const char bin[] = "[dense]\nunits = 3\n[softmax]\n\0\0\0\x01\x02garbage\n";
    const char *pb = tpath("bin.cfg");
    bc_t_write_raw(pb, bin, sizeof bin - 1);
    s = (bc_netspec *)&s;
    bc_status st = bc_netspec_parse_file(pb, &s);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && s == NULL, "NUL bytes after a valid text: status %d (%s)", (int)st, bc_last_error());
    if (st == BC_OK) bc_netspec_free(s);
    BC_CHECK_MSG(strstr(bc_last_error(), pb) != NULL, "%s", bc_last_error());
    /* NUL first. */
    static const char bin0[] = "\0[dense]\nunits = 3\n[softmax]\n";
    bc_t_write_raw(pb, bin0, sizeof bin0 - 1);
    s = (bc_netspec *)&s;
    st = bc_netspec_parse_file(pb, &s);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && s == NULL, "leading NUL: status %d (%s)", (int)st, bc_last_error());
    if (st == BC_OK) bc_netspec_free(s);
    BC_CHECK_MSG(strstr(bc_last_error(), pb) != NULL, "%s", bc_last_error());

    /* Errors in a file carry its path and the line. */
    const char *pe = tpath("err.cfg");
    const char *etext = "[net]\nname = e\n\n[dense]\nunitz = 4\n[softmax]\n";
    bc_t_write_raw(pe, etext, strlen(etext));
    BC_CHECK(bc_netspec_parse_file(pe, &s) == BC_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s:5: ", pe);
    BC_CHECK_MSG(!strncmp(bc_last_error(), want, strlen(want)), "%s", bc_last_error());

    /* Empty file: no layers. */
    const char *p0 = tpath("empty.cfg");
    bc_t_write_raw(p0, "", 0);
    BC_CHECK(bc_netspec_parse_file(p0, &s) == BC_ERR_FORMAT);
    BC_CHECK(strstr(bc_last_error(), p0) != NULL);
}

static bool same_spec(const bc_netspec *a, const bc_netspec *b) {
    if (strcmp(bc_netspec_name(a), bc_netspec_name(b)) || strcmp(bc_netspec_text(a), bc_netspec_text(b))) return false;
    if (bc_netspec_layers(a) != bc_netspec_layers(b) || bc_netspec_groups(a) != bc_netspec_groups(b)) return false;
    if (a->has_input != b->has_input || a->input.c != b->input.c || a->input.h != b->input.h || a->input.w != b->input.w)
        return false;
    for (int32_t i = 0; i < bc_netspec_layers(a); i++) {
        const bc_layer_spec *x = bc_netspec_layer(a, i), *y = bc_netspec_layer(b, i);
        if (x->kind != y->kind || x->line != y->line || x->units != y->units || x->binary != y->binary ||
            x->bias != y->bias || x->bias_set != y->bias_set || x->momentum != y->momentum || x->eps != y->eps ||
            x->rate != y->rate || strcmp(x->group, y->group))
            return false;
    }
    for (int32_t i = 0; i < bc_netspec_groups(a); i++) {
        const bc_group_spec *x = bc_netspec_group(a, i), *y = bc_netspec_group(b, i);
        if (strcmp(x->name, y->name) || x->lr_scale != y->lr_scale || x->weight_decay != y->weight_decay) return false;
    }
    bc_train_spec t = bc_netspec_train(a), u = bc_netspec_train(b);
    return t.optimizer == u.optimizer && t.lr == u.lr && t.momentum == u.momentum && t.beta1 == u.beta1 &&
           t.beta2 == u.beta2 && t.adam_eps == u.adam_eps && t.weight_decay == u.weight_decay &&
           t.schedule == u.schedule && t.step_epochs == u.step_epochs && t.step_gamma == u.step_gamma &&
           t.epochs == u.epochs && t.batch == u.batch;
}

/* Parses path with parse_file and, from its text, with parse_text: both must agree. */
static bc_netspec *parse_both(const char *path) {
    bc_netspec *s = NULL, *t = NULL;
    bc_status st = bc_netspec_parse_file(path, &s);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    char *text = NULL;
    BC_CHECK(bc__read_file(path, 1 << 20, &text, NULL) == BC_OK);
    if (text) {
        BC_CHECK(bc_netspec_parse_text(text, path, &t) == BC_OK);
        BC_CHECK(s && t && same_spec(s, t));
        if (s) BC_CHECK(!strcmp(bc_netspec_text(s), text));
    }
    free(text);
    bc_netspec_free(t);
    return s;
}

static void check_mlp(const bc_netspec *s, const char *name, bool bnn) {
    BC_CHECK(!strcmp(bc_netspec_name(s), name));
    BC_CHECK(bc_netspec_layers(s) == 11);
    BC_CHECK(bc_netspec_groups(s) == 0);
    BC_CHECK(s->has_input && s->input.c == 1 && s->input.h == 28 && s->input.w == 28);
    static const bc_layer_kind kinds_bnn[11] = {BC_LAYER_DENSE, BC_LAYER_BN, BC_LAYER_SIGN, BC_LAYER_DENSE, BC_LAYER_BN, BC_LAYER_SIGN,
                                                BC_LAYER_DENSE, BC_LAYER_BN, BC_LAYER_SIGN, BC_LAYER_DENSE, BC_LAYER_SOFTMAX};
    for (int32_t i = 0; i < 11 && i < bc_netspec_layers(s); i++) {
        const bc_layer_spec *l = bc_netspec_layer(s, i);
        bc_layer_kind want = kinds_bnn[i];
        if (!bnn && want == BC_LAYER_SIGN) want = BC_LAYER_RELU;
        BC_CHECK_MSG(l->kind == want, "%s layer %d: %s", name, (int)i, bc_layer_kind_name(l->kind));
        BC_CHECK(l->line > 0);
        if (i > 0) BC_CHECK(l->line > bc_netspec_layer(s, i - 1)->line);
        if (l->kind == BC_LAYER_DENSE) {
            bool last = i == 9;
            BC_CHECK(l->units == (last ? 10 : 1024));
            BC_CHECK_MSG(l->binary == (bnn && (i == 3 || i == 6)), "%s layer %d binary", name, (int)i);
            BC_CHECK_MSG(l->bias == last, "%s layer %d bias", name, (int)i);
        }
        if (l->kind == BC_LAYER_BN) {
            BC_CHECK(l->momentum == 0.1f && l->eps == 1e-5f);
        }
        BC_CHECK(l->group[0] == '\0');
    }
    BC_CHECK(bc_netspec_layer(s, 11) == NULL && bc_netspec_layer(s, -1) == NULL);
    bc_train_spec t = bc_netspec_train(s);
    BC_CHECK(t.optimizer == BC_OPT_ADAM && t.lr == 3e-3f && t.schedule == BC_SCHED_COSINE);
    BC_CHECK(t.epochs == 10 && t.batch == 100);
}

static void test_models(void) {
    bc_netspec *s = parse_both(BC_SOURCE_DIR "/models/mlp-bnn.cfg");
    if (s) check_mlp(s, "mlp-bnn", true);
    bc_netspec_free(s);
    s = parse_both(BC_SOURCE_DIR "/models/mlp-fp.cfg");
    if (s) check_mlp(s, "mlp-fp", false);
    bc_netspec_free(s);
}

static void test_syntax(void) {
    /* Indentation, ; and # comments, inline comments, blank lines, CRLF-free spacing. */
    const char *text =
        "# full-line hash comment\n"
        "; full-line semicolon comment\n"
        "\n"
        "[net]\n"
        "  name = indented-net   ; inline comment\n"
        "\tlr=0.01\n"
        "   optimizer   =   sgd\n"
        "momentum = 0.5\n"
        "weight_decay = 1e-4\n"
        "schedule = step\n"
        "step_epochs = 3\n"
        "step_gamma = 0.5\n"
        "epochs = 7\n"
        "batch = 32\n"
        "beta1 = 0.8\n"
        "beta2 = 0.99\n"
        "input = 1x2x3\n"
        "\n"
        "[group]\n"
        "  name = slow\n"
        "  lr_scale = 0.25\n"
        "  weight_decay = 0.01\n"
        "[group]\n"
        "name = frozen\n"
        "lr_scale = 0\n"
        "  [dense]\n"
        "  units = 16\n"
        "  group = slow\n"
        "# between sections\n"
        "[bn]\n"
        "momentum = 0.2\n"
        "eps = 1e-3\n"
        "group = frozen\n"
        "[hardtanh]\n"
        "[dense]\n"
        "binary = true\n"
        "units = 8\n"
        "[dropout]\n"
        "rate = 0.25\n"
        "[dense]\n"
        "bias = yes\n"
        "binary = 1\n"
        "units = 4\n"
        "[dense]\n"
        "binary = 1\n"
        "bias = 1\n"
        "units = 4\n"
        "[dense]\n"
        "binary = 0\n"
        "units = 4\n"
        "[dense]\n"
        "units = 3\n"
        "bias = no\n"
        "[relu]\n"
        "[sign]\n"
        "[softmax]\n";
    bc_netspec *s = GOOD(text);
    if (!s) return;
    BC_CHECK(!strcmp(bc_netspec_name(s), "indented-net"));
    BC_CHECK(s->has_input && s->input.c == 1 && s->input.h == 2 && s->input.w == 3);
    bc_train_spec t = bc_netspec_train(s);
    BC_CHECK(t.optimizer == BC_OPT_SGD && t.lr == 0.01f && t.momentum == 0.5f && t.weight_decay == 1e-4f);
    BC_CHECK(t.schedule == BC_SCHED_STEP && t.step_epochs == 3 && t.step_gamma == 0.5f && t.epochs == 7 && t.batch == 32);
    BC_CHECK(t.beta1 == 0.8f && t.beta2 == 0.99f && t.adam_eps == 1e-8f);
    BC_CHECK(bc_netspec_groups(s) == 2);
    const bc_group_spec *g0 = bc_netspec_group(s, 0), *g1 = bc_netspec_group(s, 1);
    BC_CHECK(g0 && !strcmp(g0->name, "slow") && g0->lr_scale == 0.25f && g0->weight_decay == 0.01f);
    BC_CHECK(g1 && !strcmp(g1->name, "frozen") && g1->lr_scale == 0.0f && g1->weight_decay < 0.0f); /* inherit */
    BC_CHECK(bc_netspec_group(s, 2) == NULL);
    BC_CHECK(bc_netspec_layers(s) == 12);
    static const bc_layer_kind kinds[12] = {BC_LAYER_DENSE, BC_LAYER_BN, BC_LAYER_HARDTANH, BC_LAYER_DENSE,
                                            BC_LAYER_DROPOUT, BC_LAYER_DENSE, BC_LAYER_DENSE, BC_LAYER_DENSE,
                                            BC_LAYER_DENSE, BC_LAYER_RELU, BC_LAYER_SIGN, BC_LAYER_SOFTMAX};
    static const int lines[12] = {26, 30, 34, 35, 38, 40, 44, 48, 51, 54, 55, 56};
    for (int32_t i = 0; i < 12; i++) {
        BC_CHECK_MSG(bc_netspec_layer(s, i)->kind == kinds[i], "layer %d", (int)i);
        BC_CHECK_MSG(bc_netspec_layer(s, i)->line == lines[i], "layer %d line %d", (int)i, (int)bc_netspec_layer(s, i)->line);
    }
    const bc_layer_spec *l;
    l = bc_netspec_layer(s, 0);
    BC_CHECK(l->units == 16 && !l->binary && l->bias && !l->bias_set && !strcmp(l->group, "slow"));
    l = bc_netspec_layer(s, 1);
    BC_CHECK(l->momentum == 0.2f && l->eps == 1e-3f && !strcmp(l->group, "frozen"));
    l = bc_netspec_layer(s, 3); /* binary, bias not given: none */
    BC_CHECK(l->units == 8 && l->binary && !l->bias && !l->bias_set);
    l = bc_netspec_layer(s, 4);
    BC_CHECK(l->rate == 0.25f);
    l = bc_netspec_layer(s, 5); /* bias given before binary: kept */
    BC_CHECK(l->binary && l->bias && l->bias_set);
    l = bc_netspec_layer(s, 6); /* bias given after binary */
    BC_CHECK(l->binary && l->bias && l->bias_set);
    l = bc_netspec_layer(s, 7); /* explicit float: bias by default */
    BC_CHECK(!l->binary && l->bias && !l->bias_set);
    l = bc_netspec_layer(s, 8);
    BC_CHECK(!l->binary && !l->bias && l->bias_set && l->units == 3);
    BC_CHECK(bc_netspec_layer(s, 4)->rate == 0.25f);
    BC_CHECK(!strcmp(bc_netspec_text(s), text));

    /* CRLF line endings and a missing final newline. */
    bc_netspec *w = GOOD("[net]\r\nname = crlf\r\n[dense]\r\nunits = 3\r\nbinary = 1\r\n[softmax]");
    if (w) {
        BC_CHECK(!strcmp(bc_netspec_name(w), "crlf") && bc_netspec_layers(w) == 2);
        BC_CHECK(bc_netspec_layer(w, 0)->units == 3 && bc_netspec_layer(w, 0)->binary && bc_netspec_layer(w, 0)->line == 3);
    }
    bc_netspec_free(w);

    /* Defaults. */
    bc_netspec *d = GOOD("[dropout]\n[bn]\n" L3);
    if (d) {
        bc_train_spec u = bc_netspec_train(d);
        BC_CHECK(!strcmp(bc_netspec_name(d), "net") && !d->has_input);
        BC_CHECK(u.optimizer == BC_OPT_ADAM && u.lr == 3e-3f && u.momentum == 0.9f && u.beta1 == 0.9f && u.beta2 == 0.999f);
        BC_CHECK(u.weight_decay == 0.0f && u.schedule == BC_SCHED_COSINE && u.step_epochs == 10 && u.step_gamma == 0.1f);
        BC_CHECK(u.epochs == 10 && u.batch == 100);
        BC_CHECK(bc_netspec_layer(d, 0)->rate == 0.5f);
        BC_CHECK(bc_netspec_layer(d, 1)->momentum == 0.1f && bc_netspec_layer(d, 1)->eps == 1e-5f);
        BC_CHECK(bc_netspec_layer(d, 2)->bias && !bc_netspec_layer(d, 2)->binary);
        /* A copy (what models keep) is the same spec. */
        bc_netspec *c = NULL;
        BC_CHECK(bc_netspec_copy(d, &c) == BC_OK);
        BC_CHECK(c && same_spec(c, d));
        bc_netspec_free(c);
    }
    bc_netspec_free(d);

    /* The same text through a file gives the same spec; origin is the path. */
    const char *p = tpath("syntax.cfg");
    FILE *f = fopen(p, "wb");
    BC_CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
        bc_netspec *fs = NULL, *ts = NULL;
        BC_CHECK(bc_netspec_parse_file(p, &fs) == BC_OK);
        BC_CHECK(bc_netspec_parse_text(text, "other", &ts) == BC_OK);
        BC_CHECK(fs && ts && same_spec(fs, ts) && same_spec(fs, s));
        bc_netspec_free(fs);
        bc_netspec_free(ts);
    }
    bc_netspec_free(s);
    bc_netspec_free(NULL);
}

/* [net] input must match the data given to bc_model_new. */
static void test_model_input(void) {
    bc_ctx *ctx = NULL;
    BC_CHECK(bc_ctx_new(&ctx) == BC_OK);
    bc_netspec *s = GOOD("[net]\nname = in\ninput = 1x2x3\n" L3);
    bc_model *m = (bc_model *)&m;
    if (ctx && s) {
        BC_CHECK(bc_model_new(ctx, s, (bc_shape){1, 3, 2}, 1, &m) == BC_ERR_SHAPE && m == NULL);
        BC_CHECK(strstr(bc_last_error(), "in") != NULL);
        BC_CHECK(bc_model_new(ctx, s, (bc_shape){1, 2, 3}, 1, &m) == BC_OK);
        BC_CHECK(bc_model_outputs(m) == 3 && bc_model_param_count(m) == 6 * 3 + 3);
        bc_model_free(m);
    }
    bc_netspec_free(s);
    /* A network ending in one output cannot classify. */
    s = GOOD("[dense]\nunits = 1\n[softmax]\n");
    if (ctx && s) BC_CHECK(bc_model_new(ctx, s, (bc_shape){1, 2, 3}, 1, &m) == BC_ERR_SHAPE);
    bc_netspec_free(s);
    bc_ctx_free(ctx);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/bc_netspec_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_errors();
    test_files();
    test_models();
    test_syntax();
    test_model_input();
    const char *files[] = {"bin.cfg", "err.cfg", "empty.cfg", "syntax.cfg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(tpath(files[i]));
    rmdir(g_dir);
    return bc_t_report();
}
