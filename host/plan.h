/* The memory plan of one input shape: every value's spatial size and its
 * place in one activation arena, shared by values whose lifetimes do not
 * overlap, plus the im2col scratch size. */
#ifndef CLN_PLAN_H
#define CLN_PLAN_H

#include "../include/clinception.h"
#include "../network/network.h"

#include <stddef.h>

typedef struct {
    int h, w;
    size_t floats;   /* channels * n * h * w */
    size_t offset;   /* in the arena, floats */
    int first, last; /* layers that write it first and read it last */
} value_plan;

typedef struct {
    int n, h, w; /* input batch and size */
    value_plan values[NET_MAX_VALUES];
    size_t arena_floats;   /* activations, all values */
    size_t scratch_floats; /* im2col or Winograd, at least one image of the largest layer */
} plan;

/* Infers every value's shape for an n x 3 x h x w input and places the values
 * in the arena. Refuses inputs that are too small or too large to index. */
cln_status plan_build(const network *net, int n, int h, int w, plan *out, cln_error *err);

#endif
