/* What every fuzz harness asks of a refused input: the status it returned is the one in the
 * cln_error, and the error carries a message. A broken promise aborts, so libFuzzer keeps it. */
#ifndef CLN_FUZZ_CHECK_H
#define CLN_FUZZ_CHECK_H

#include "../../include/clinception.h"

#include <stdio.h>
#include <stdlib.h>

/* libFuzzer's entry point, declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Aborts with what, when cond is false. */
static inline void fuzz_require(int cond, const char *what) {
    if (cond) return;
    fprintf(stderr, "fuzz check failed: %s\n", what);
    abort();
}

/* err was zeroed before the call that returned status (not CLN_OK). */
static inline void fuzz_check_refusal(cln_status status, const cln_error *err) {
    fuzz_require(status != CLN_OK, "a refusal has a status");
    fuzz_require(err->status == status, "the error holds the status that was returned");
    fuzz_require(err->message[0] != '\0', "a refusal has a message");
}

#endif
