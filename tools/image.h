/* Reading images (JPEG through libjpeg-turbo, PNG and the other formats stb_image decodes) as
 * 8-bit RGB, torchvision's eval preprocessing for Inception v3 (resize, center crop, scale
 * to [-1, 1]) and pytorch-fid's for the FID Inception (scale to [0, 1], bilinear resize). */
#ifndef CLN_IMAGE_H
#define CLN_IMAGE_H

#include "../include/clinception.h"

#include <stddef.h>

#define IMAGE_MAX_SIDE 16384             /* pixels; a wider or taller image is refused */
#define IMAGE_MAX_PIXELS 100000000       /* width x height; a larger image is refused */
#define IMAGE_MAX_FILE_BYTES (1 << 30)   /* a larger file is refused before decoding */
#define IMAGE_MAX_RESIZE 4096            /* the largest short side image_preprocess resizes to */
#define IMAGE_MAX_CROP 4096              /* the largest center crop */
#define IMAGE_MAX_RESIZED_SIDE (1 << 20) /* the largest long side after resizing */

typedef struct {
    int width, height;
    unsigned char *rgb; /* (height, width, 3): 8-bit R, G, B; owned, release with image_free */
} rgb_image;

/* Decodes an image file as image_load_memory does. A file that cannot be opened or read is
 * CLN_ERR_IO, with a message naming it. */
cln_status image_load(const char *path, rgb_image *out, cln_error *err);

/* Decodes an image in memory to 8-bit RGB as PIL's Image.open(...).convert('RGB') does: grey
 * is replicated, alpha dropped, palettes expanded (a GIF's transparent colour too), 16-bit
 * samples reduced to their high byte but 16-bit grey clipped at 255 as PIL 9.4 does, a
 * top-down BMP read top down. What PIL refuses is refused: a BMP or GIF cut short, and a GIF
 * whose first frame does not cover its screen (which the two would fill differently). A JPEG (told
 * by its first bytes, FF D8 FF) decodes to PIL's bytes, CMYK included; like PIL it accepts
 * entropy-coded data that libjpeg only warns about and repairs. A corrupt, truncated, empty or
 * unsupported file, or one larger than the limits above, is CLN_ERR_FORMAT with a message naming it
 * (name) and, for decoding errors, the decoder's reason. *out is zeroed on failure. */
cln_status image_load_memory(const char *name, const unsigned char *bytes, size_t size,
                             rgb_image *out, cln_error *err);

/* Releases an image from image_load or image_load_memory and zeroes it; NULL is ignored. */
void image_free(rgb_image *img);

/* torchvision's eval transform for Inception v3 with transform_input:
 *   Resize(resize): the short side to resize, the long side to int(resize * long / short),
 *     by PIL's antialiased bilinear resampling (Pillow 9.4, uint8 results after each pass);
 *   CenterCrop(crop): offsets int(round((size - crop) / 2.0)), zero padding where the
 *     resized image is smaller than crop;
 *   ToTensor, Normalize(ImageNet mean, std) and transform_input, which together map a
 *     value v to (v / 255 - 0.5) / 0.5.
 * So the result is fed to cln_model_forward with transform_input off.
 * img: 1 to IMAGE_MAX_SIDE pixels a side, at most IMAGE_MAX_PIXELS; resize in
 * [1, IMAGE_MAX_RESIZE], crop in [1, IMAGE_MAX_CROP]; out: 3 x crop x crop floats (CHW).
 * Anything else is CLN_ERR_INVALID_ARGUMENT. */
cln_status image_preprocess(const rgb_image *img, int resize, int crop, float *out, cln_error *err);

/* pytorch-fid's preprocessing: ToTensor (v / 255), then the whole image
 * resized to size x size by torch's F.interpolate(mode="bilinear",
 * align_corners=False), without antialiasing (not classify's resize). Its
 * 2x - 1 (normalize_input) is left to the FID Inception's input transform
 * (cln_forward_options.transform_input). out: 3 x size x size floats in
 * [0, 1]; size in [1, IMAGE_MAX_CROP]. */
cln_status image_preprocess_fid(const rgb_image *img, int size, float *out, cln_error *err);

#endif
