/* A network's parameters packed for the device: per conv layer the folded
 * weights in the layout of weights/layout.h ((Cin*kh*kw) x padded Cout), then
 * the bias [Cout], and for a 3x3 stride-1 convolution its Winograd filters
 * as well (16 x Cin x padded Cout); the same for fc. Read from a torchvision
 * state dict in .safetensors, or seeded random. */
#ifndef CLN_MODEL_WEIGHTS_H
#define CLN_MODEL_WEIGHTS_H

#include "../include/clinception.h"
#include "../network/network.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    float *data; /* floats, one allocation */
    size_t floats;
    size_t w_off[NET_MAX_LAYERS]; /* per layer with parameters, floats */
    size_t b_off[NET_MAX_LAYERS];
    size_t winograd_off[NET_MAX_LAYERS]; /* where winograd_applies to the layer */
    bool panels; /* the weights in panels (weights/layout.h's weight_panel_index) */
} packed_weights;

/* Reads path, checks every tensor the network needs (names, shapes, dtypes,
 * finite values), folds BatchNorm into the convolutions with the network's
 * eps and packs them; a tensor the network neither uses nor ignores
 * (network_ignores) is refused. The network's class count becomes that of
 * the file's classifier (the rows of fc.weight). */
cln_status weights_load_safetensors(network *net, const char *path, packed_weights *out,
                                    cln_error *err);
/* He-initialised weights with identity BatchNorm, from seed. */
cln_status weights_random(const network *net, uint64_t seed, packed_weights *out, cln_error *err);
void packed_weights_free(packed_weights *pw);
/* Rearranges every layer's weights and each of its Winograd matrices into
 * panels of WEIGHT_CHANNEL_ALIGN output channels (weights/layout.h's
 * weight_panel_index), in place. */
cln_status packed_weights_to_panels(const network *net, packed_weights *pw, cln_error *err);
/* The same for one k x padded cout block w, through `plain` (as many floats). */
void weights_block_to_panels(float *w, int cout, size_t k, float *plain);

/* A 3x3 convolution's Winograd filters u (weights/layout.h's winograd_weight_index)
 * from its weights w (weight_index layout), cout x cin filters. */
void winograd_filters(const float *w, int cout, int cin, float *u);

#endif
