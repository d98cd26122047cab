/* libFuzzer harness for image decoding and preprocessing: the first two bytes of the input pick
 * a resize (1 to 64) and a crop (1 to 64), the rest is decoded by image_load_memory and, when
 * it decodes, preprocessed by image_preprocess, which must then succeed with values in [-1, 1]. */
#include "../../tools/image.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <stdlib.h>

#define FUZZ_MAX_RESIZE 64 /* small sizes keep each run fast and still exercise the resampler */
#define FUZZ_MAX_CROP 64

/* Where the sum of the pixels goes, so that the loop reading them is kept. */
static volatile unsigned fuzz_pixel_sum;

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size) {
    if (size < 2) return 0;
    int resize = 1 + bytes[0] % FUZZ_MAX_RESIZE;
    int crop = 1 + bytes[1] % FUZZ_MAX_CROP;

    cln_error err = {0};
    rgb_image img;
    cln_status status = image_load_memory("fuzz image", bytes + 2, size - 2, &img, &err);
    if (status != CLN_OK) {
        fuzz_check_refusal(status, &err);
        fuzz_require(!img.rgb && img.width == 0 && img.height == 0, "a refused image is zeroed");
        return 0;
    }
    fuzz_require(img.rgb && img.width >= 1 && img.height >= 1 && img.width <= IMAGE_MAX_SIDE &&
                     img.height <= IMAGE_MAX_SIDE &&
                     (int64_t)img.width * img.height <= IMAGE_MAX_PIXELS,
                 "a decoded image is within the limits");
    /* Reads every pixel, so that AddressSanitizer catches a buffer smaller than its size. */
    size_t pixel_bytes = (size_t)img.width * (size_t)img.height * 3;
    unsigned sum = 0;
    for (size_t i = 0; i < pixel_bytes; i++)
        sum += img.rgb[i];
    fuzz_pixel_sum = sum;

    size_t out_count = 3 * (size_t)crop * (size_t)crop;
    float *out = malloc(out_count * sizeof(float));
    fuzz_require(out != NULL, "memory for the crop");
    status = image_preprocess(&img, resize, crop, out, &err);
    fuzz_require(status == CLN_OK, "a decoded image preprocesses at any resize and crop up to 64");
    for (size_t i = 0; i < out_count; i++)
        fuzz_require(out[i] >= -1.0f && out[i] <= 1.0f, "preprocessed values are in [-1, 1]");
    free(out);
    image_free(&img);
    return 0;
}
