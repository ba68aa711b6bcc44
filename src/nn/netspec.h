/* The parsed network description (private layout behind the opaque bc_netspec). */
#ifndef BC_NN_NETSPEC_H
#define BC_NN_NETSPEC_H
#include "bitcell.h"

struct bc_netspec {
    char name[BC_NAME_MAX];
    char *text;             /* source text, stored in checkpoints */
    bc_shape input;         /* [net] input, when given */
    bool has_input;
    bc_train_spec train;
    bc_layer_spec *layers;  /* n_layers entries */
    int32_t n_layers;
    bc_group_spec groups[BC_MAX_GROUPS];
    int32_t n_groups;
};

bc_train_spec bc_train_spec_default(void);
bc_status bc_netspec_copy(const bc_netspec *s, bc_netspec **out);
#endif
