/* bitcell info: what a checkpoint holds: training facts, tensors, network description. */
#include "cli.h"

#include <inttypes.h>
#include <string.h>

static void help(FILE *f) {
    fprintf(f,
            "usage: bitcell info CKPT.safetensors [--network]\n\n"
            "Prints the checkpoint's metadata (dataset, epochs, seed, accuracy, bitcell version) and\n"
            "its tensors with dtype and shape. --network also prints the embedded network file.\n");
}

int cmd_info(int argc, char **argv) {
    bool show_net = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return BC_EXIT_OK; }
        if (!strcmp(argv[i], "--network")) show_net = true;
        else if (argv[i][0] == '-') return cli_usage("info", "unknown option '%s'", argv[i]);
        else if (path) return cli_usage("info", "expected one checkpoint");
        else path = argv[i];
    }
    if (!path) return cli_usage("info", "expected a checkpoint");
    bc_st_file *f = NULL;
    bc_status st = bc_st_open(path, &f);
    if (st) return cli_fail(st, NULL);
    printf("file: %s\n", path);
    for (int32_t i = 0; i < bc_st_meta_count(f); i++) {
        const char *k = bc_st_meta_key(f, i);
        if (!strcmp(k, "network")) continue;
        printf("%-16s %s\n", k, bc_st_meta(f, k));
    }
    int64_t total = 0;
    printf("tensors: %d\n", (int)bc_st_count(f));
    for (int32_t i = 0; i < bc_st_count(f); i++) {
        const char *name, *dtype;
        int32_t ndim;
        int64_t shape[8];
        const void *data;
        size_t bytes;
        if ((st = bc_st_tensor(f, i, &name, &dtype, &ndim, shape, &data, &bytes))) { bc_st_close(f); return cli_fail(st, NULL); }
        char dims[128] = "";
        int64_t n = 1;
        for (int32_t d = 0; d < ndim; d++) {
            size_t a = strlen(dims);
            snprintf(dims + a, sizeof dims - a, "%s%" PRId64, d ? "x" : "", shape[d]);
            n *= shape[d];
        }
        total += n;
        printf("  %-28s %-4s %s\n", name, dtype, dims);
    }
    printf("values: %" PRId64 "\n", total);
    const char *net = bc_st_meta(f, "network");
    if (show_net && net) printf("--- network ---\n%s", net);
    bc_st_close(f);
    return BC_EXIT_OK;
}
