/* bitcell command-line tool: dispatches to one function per subcommand. */
#include "cli.h"

#include <string.h>

static const struct {
    const char *name;
    bc_cmd_fn fn;
    const char *help;
} cmds[] = {
    {"train", cmd_train, "train a network on a dataset; writes a run directory"},
    {"eval", cmd_eval, "evaluate a checkpoint on a dataset's test split"},
    {"mc", cmd_mc, "run a checkpoint on a Monte-Carlo population of simulated CIM chips"},
    {"sweep", cmd_sweep, "accuracy over chips against one CIM hardware parameter"},
    {"calibrate", cmd_calibrate, "calibrate each simulated CIM chip and save the calibrations"},
    {"info", cmd_info, "show a checkpoint's network, tensors and training facts"},
    {"data", cmd_data, "list datasets, or prepare one (mnist10k)"},
    {"poppins", cmd_poppins, "simulate the POPPINS IQIF processor; closed-loop obstacle avoidance"},
};
#define N_CMDS (sizeof cmds / sizeof cmds[0])

static void usage(FILE *f) {
    fprintf(f,
            "bitcell %s - hardware-aware binary neural networks for SRAM compute-in-memory\n\n"
            "usage: bitcell <command> [options]   (bitcell <command> --help for its options)\n\n"
            "commands:\n",
            BC_VERSION);
    for (size_t i = 0; i < N_CMDS; i++) fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f,
            "\nexample:\n"
            "  bitcell train models/mlp-bnn.cfg --data fashion-mnist --epochs 10 --out runs/mlp-bnn\n"
            "  bitcell eval runs/mlp-bnn/model.safetensors --data fashion-mnist\n"
            "  bitcell mc runs/mlp-bnn/model.safetensors --hw hw/sram65-128.ini --chips 100\n"
            "\nenvironment: BC_THREADS (threads), BC_CPU=scalar|avx2|avx512 (cap the kernels),\n"
            "             BC_DATA_DIR (where prepared datasets live, default ~/.cache/bitcell)\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return BC_EXIT_USAGE;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        usage(stdout);
        return BC_EXIT_OK;
    }
    if (!strcmp(c, "--version")) {
        printf("bitcell %s\n", BC_VERSION);
        return BC_EXIT_OK;
    }
    for (size_t i = 0; i < N_CMDS; i++)
        if (!strcmp(c, cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "bitcell: unknown command '%s' (see bitcell --help)\n", c);
    return BC_EXIT_USAGE;
}
