/* libFuzzer harness for the .npy reader: npy_parse_f32 on the input; an accepted array must
 * hold as many floats as its shape says, and they must be the last bytes of the input. */
#include "../../jobs/npy.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size) {
    cln_error err = {0};
    cln_npy a;
    cln_status status = npy_parse_f32("fuzz.npy", bytes, size, &a, &err);
    if (status != CLN_OK) {
        fuzz_check_refusal(status, &err);
        fuzz_require(!a.data && a.numel == 0 && a.ndim == 0, "a refused array is left empty");
        return 0;
    }
    fuzz_require(a.ndim >= 0 && a.ndim <= CLN_NPY_MAX_DIMS, "ndim is within CLN_NPY_MAX_DIMS");
    size_t numel = 1;
    for (int i = 0; i < a.ndim; i++) {
        fuzz_require(a.shape[i] >= 0, "dimensions are not negative");
        numel *= (size_t)a.shape[i]; /* as the reader multiplies: never wraps once accepted */
    }
    fuzz_require(numel == a.numel, "numel is the product of the shape");
    size_t data_size = a.numel * sizeof(float);
    fuzz_require(a.data != NULL && data_size <= size, "the data is within the input");
    fuzz_require(memcmp(a.data, bytes + size - data_size, data_size) == 0,
                 "the data is the last bytes of the input");
    cln_npy_free(&a);
    return 0;
}
