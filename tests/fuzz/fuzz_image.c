/* libFuzzer harness for image decoding and preprocessing: the first two bytes of the input pick
 * a resize and a crop (1 to 64 each), the rest is decoded by cln_image_load_memory and, when it
 * decodes, preprocessed by cln_image_preprocess, which must then succeed with values in [-1, 1].
 * Images of more than FUZZ_MAX_PIXELS are skipped to keep the fuzzer fast. */
#include "../../include/clinception.h"
#include "fuzz_check.h"

#include <sanitizer/asan_interface.h>
#include <stb_image.h>
#include <stdint.h>
#include <stdlib.h>

#define FUZZ_MAX_RESIZE 64 /* small sizes keep each run fast and still exercise the resampler */
#define FUZZ_MAX_CROP 64
/* An image whose header promises more pixels is skipped before decoding: one of up to
 * CLN_IMAGE_MAX_PIXELS takes seconds under the sanitizers and takes no other path through the code
 * (a larger one is still refused, by cln_image_load_memory, before decoding). */
#define FUZZ_MAX_PIXELS (1 << 20)

/* The pixel count in the frame header (SOFn) of a JPEG, or 0 when the markers after the
 * start-of-image marker do not lead to one. */
static int64_t jpeg_frame_pixels(const uint8_t *p, size_t size) {
    size_t i = 2;
    while (i + 4 <= size && p[i] == 0xFF) {
        int marker = p[i + 1];
        if (marker == 0xFF) { /* a fill byte */
            i++;
            continue;
        }
        int frame =
            marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
        if (frame) /* FF Cn, length (2), precision (1), height (2), width (2) */
            return i + 9 <= size ? (int64_t)(p[i + 5] << 8 | p[i + 6]) * (p[i + 7] << 8 | p[i + 8])
                                 : 0;
        if (marker == 0xDA || marker == 0xD9) return 0; /* start of scan, end of image */
        i += 2 + (size_t)(p[i + 2] << 8 | p[i + 3]);
    }
    return 0;
}

/* The pixel count that the header of an image promises, or 0 when it cannot be told. */
static int64_t header_pixels(const uint8_t *p, size_t size) {
    if (size >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return jpeg_frame_pixels(p, size);
    int width, height, channels;
    if (size > INT32_MAX || !stbi_info_from_memory(p, (int)size, &width, &height, &channels))
        return 0;
    return (int64_t)width * height;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size) {
    if (size < 2) return 0;
    int resize = 1 + bytes[0] % FUZZ_MAX_RESIZE;
    int crop = 1 + bytes[1] % FUZZ_MAX_CROP;
    int64_t promised = header_pixels(bytes + 2, size - 2);
    if (promised > FUZZ_MAX_PIXELS && promised <= CLN_IMAGE_MAX_PIXELS) return 0;

    cln_error err = {0};
    cln_image img;
    cln_status status = cln_image_load_memory("fuzz image", bytes + 2, size - 2, &img, &err);
    if (status != CLN_OK) {
        fuzz_check_refusal(status, &err);
        fuzz_require(!img.rgb && img.width == 0 && img.height == 0, "a refused image is zeroed");
        return 0;
    }
    fuzz_require(img.rgb && img.width >= 1 && img.height >= 1 && img.width <= CLN_IMAGE_MAX_SIDE &&
                     img.height <= CLN_IMAGE_MAX_SIDE &&
                     (int64_t)img.width * img.height <= CLN_IMAGE_MAX_PIXELS,
                 "a decoded image is within the limits");
    size_t pixel_bytes = (size_t)img.width * (size_t)img.height * 3;
    fuzz_require(__asan_region_is_poisoned(img.rgb, pixel_bytes) == NULL,
                 "the pixels are width x height x 3 bytes of one allocation");

    size_t out_count = 3 * (size_t)crop * (size_t)crop;
    float *out = malloc(out_count * sizeof(float));
    fuzz_require(out != NULL, "memory for the crop");
    status = cln_image_preprocess(&img, resize, crop, out, &err);
    fuzz_require(status == CLN_OK, "a decoded image preprocesses at any resize and crop up to 64");
    for (size_t i = 0; i < out_count; i++)
        fuzz_require(out[i] >= -1.0f && out[i] <= 1.0f, "preprocessed values are in [-1, 1]");
    free(out);
    cln_image_free(&img);
    return 0;
}
