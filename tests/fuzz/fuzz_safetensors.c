/* libFuzzer harness for the safetensors reader: st_open_memory on the input; every tensor of
 * an accepted file must lie inside the data section, be found by its name and, for F32, F16
 * and BF16, convert to float32. */
#include "../../weights/safetensors.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The checks on one tensor of an accepted file, data being where its data section begins. */
static void check_tensor(const st_file *f, const st_tensor *t, const uint8_t *data) {
    fuzz_require(st_find(f, t->name) == t, "st_find finds each tensor by its name");
    fuzz_require(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS, "ndim is within ST_MAX_DIMS");
    fuzz_require(t->nbytes == t->numel * st_dtype_size(t->dtype), "nbytes is numel x dtype size");
    fuzz_require(t->data >= data && (size_t)(t->data - data) <= f->size - (size_t)(data - f->bytes),
                 "a tensor begins inside the data section");
    fuzz_require(t->nbytes <= f->size - (size_t)(t->data - f->bytes),
                 "a tensor ends inside the file");

    cln_error err = {0};
    float *values = malloc(t->numel > 0 ? t->numel * sizeof(float) : 1);
    fuzz_require(values != NULL, "memory for the converted tensor");
    cln_status status = st_to_f32(f, t, values, &err);
    if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16)
        fuzz_require(status == CLN_OK, "F32, F16 and BF16 convert to float32");
    else
        fuzz_check_refusal(status, &err);
    free(values);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size) {
    cln_error err = {0};
    st_file f;
    cln_status status = st_open_memory("fuzz.safetensors", bytes, size, &f, &err);
    if (status != CLN_OK) {
        fuzz_check_refusal(status, &err);
        fuzz_require(!f.bytes && !f.tensors && f.count == 0, "a refused file is left empty");
        st_close(&f);
        return 0;
    }
    fuzz_require(f.size == size && memcmp(f.bytes, bytes, size) == 0, "the file is copied whole");
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; i--)
        header_size = header_size << 8 | bytes[i];
    const uint8_t *data = f.bytes + 8 + header_size;
    for (size_t i = 0; i < f.count; i++)
        check_tensor(&f, &f.tensors[i], data);
    st_close(&f);
    return 0;
}
