/* libFuzzer harness for the FID statistics reader: cln_fid_stats_parse on the input (a zip
 * through libzip, then mu.npy and sigma.npy); accepted statistics must have dims in range
 * and finite values, a refusal must leave them empty. */
#include "../../include/clinception.h"
#include "fuzz_check.h"

#include <math.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size) {
    cln_error err = {0};
    cln_fid_stats s;
    cln_status status = cln_fid_stats_parse("fuzz.npz", bytes, size, &s, &err);
    if (status != CLN_OK) {
        fuzz_check_refusal(status, &err);
        fuzz_require(!s.mu && !s.sigma && s.dims == 0, "refused statistics are left empty");
        return 0;
    }
    fuzz_require(s.dims >= 1 && s.dims <= CLN_FID_MAX_DIMS, "dims within CLN_FID_MAX_DIMS");
    for (int i = 0; i < s.dims; i++)
        fuzz_require(isfinite(s.mu[i]), "mu is finite");
    for (size_t i = 0; i < (size_t)s.dims * s.dims; i++)
        fuzz_require(isfinite(s.sigma[i]), "sigma is finite");
    cln_fid_stats_free(&s);
    return 0;
}
