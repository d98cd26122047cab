/* Image decoding (JPEG through libjpeg-turbo with PIL's settings, so the same bytes as PIL;
 * the other formats through stb_image), and torchvision's Inception v3 eval preprocessing:
 * Pillow's antialiased bilinear resize (same coefficients and fixed-point rounding, so the same
 * bytes), then the center crop and the scaling to [-1, 1], computed only for the pixels the
 * crop keeps. */
#include "../include/clinception.h"

#include "../common/file_io.h"

#include "../common/error.h"

#include <stb/stb_image.h>

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jpeglib.h needs stdio.h (FILE) and size_t before it. */
#include <jerror.h>
#include <jpeglib.h>

/* Pillow resamples 8-bit images with fixed-point weights of this many fraction bits, adding
 * half of the last unit before shifting so that each pass rounds to nearest. */
#define RESAMPLE_FRACTION_BITS 22
#define RESAMPLE_ONE (1 << RESAMPLE_FRACTION_BITS)
#define RESAMPLE_HALF (1 << (RESAMPLE_FRACTION_BITS - 1))

/* ---- Decoding ------------------------------------------------------------------------------ */

static const char *stb_reason(void) {
    const char *reason = stbi_failure_reason();
    return reason && *reason ? reason : "corrupt or truncated data (the decoder gives no reason)";
}

static int image_within_limits(int width, int height) {
    return width >= 1 && height >= 1 && width <= CLN_IMAGE_MAX_SIDE && height <= CLN_IMAGE_MAX_SIDE &&
           (int64_t)width * height <= CLN_IMAGE_MAX_PIXELS;
}

static cln_status refuse_size(const char *name, long long width, long long height, cln_error *err) {
    return cln_fail(err, CLN_ERR_FORMAT,
                    "%s: the image is %lld x %lld pixels; at most %d pixels a side and %d "
                    "pixels in all are allowed",
                    name, width, height, CLN_IMAGE_MAX_SIDE, CLN_IMAGE_MAX_PIXELS);
}

/* ---- JPEG through libjpeg-turbo, as PIL decodes it ------------------------------------------ */

/* Every JPEG starts with the start-of-image marker (FF D8) and then another marker (FF). */
static int is_jpeg(const unsigned char *bytes, size_t size) {
    return size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

/* libjpeg's error manager, with the place to jump back to when decoding fails (libjpeg's own
 * handler would exit the program). */
typedef struct {
    struct jpeg_error_mgr mgr; /* first: libjpeg sees only this part, through cinfo->err */
    jmp_buf escape;
    int scans; /* set by the progress monitor when a file passes JPEG_MAX_SCANS */
} jpeg_trap;

/* A progressive JPEG is decoded once per scan over the whole image; real
 * files have about 10 (libjpeg writes 10 by default, encoders rarely pass
 * 30). Each scan costs a pass over the image, so thousands keep the decoder
 * busy for minutes: past this many the file is refused. */
#define JPEG_MAX_SCANS 256

typedef struct {
    struct jpeg_progress_mgr mgr; /* first: libjpeg sees only this part */
    jpeg_trap *trap;
} jpeg_scan_limit;

static void jpeg_count_scans(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    jpeg_scan_limit *limit = (jpeg_scan_limit *)cinfo->progress;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        limit->trap->scans = d->input_scan_number;
        longjmp(limit->trap->escape, 1);
    }
}

static void jpeg_trap_error(j_common_ptr cinfo) {
    longjmp(((jpeg_trap *)cinfo->err)->escape, 1);
}

/* libjpeg reports running out of data only as a warning, and decodes the rest as grey. PIL
 * raises "image file is truncated" there instead, so that warning fails too. PIL ignores the
 * other warnings (corrupt but decodable data, which libjpeg repairs) and the trace messages,
 * and so does this. */
static void jpeg_trap_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        longjmp(((jpeg_trap *)cinfo->err)->escape, 1);
}

/* One decoded row to RGB, as PIL's convert('RGB') does. PIL reads a 1-component JPEG as L (its
 * RGB is the grey value three times) and a 3-component one as RGB (libjpeg converts from YCbCr).
 * A 4-component one is CMYK with Adobe's inverted samples: PIL stores C = 255 - c, ...,
 * K = 255 - k for the decoded samples c, m, y, k, and its CMYK to RGB makes
 * R = (255 - K) - round(C * (255 - K) / 255), which is k - round((255 - c) * k / 255); the same
 * for G from m and B from y. */
static void jpeg_row_to_rgb(const unsigned char *row, int components, int width,
                            unsigned char *rgb) {
    if (components == 3) {
        memcpy(rgb, row, (size_t)width * 3);
    } else if (components == 1) {
        for (int x = 0; x < width; x++)
            rgb[3 * x + 0] = rgb[3 * x + 1] = rgb[3 * x + 2] = row[x];
    } else {
        for (int x = 0; x < width; x++) {
            const unsigned char *p = row + 4 * x;
            int k = p[3];
            for (int c = 0; c < 3; c++) {
                /* a * b / 255 rounded to nearest, with Pillow's shifts (exact for a, b in
                 * [0, 255]). */
                int t = (255 - p[c]) * k + 128;
                int scaled = ((t >> 8) + t) >> 8;
                rgb[3 * x + c] = (unsigned char)(k - scaled); /* 0 <= scaled <= k */
            }
        }
    }
}

/* Decodes a JPEG with the settings Pillow 9.4 uses for Image.open(...).convert('RGB'): libjpeg's
 * defaults (accurate integer IDCT, fancy upsampling, block smoothing for progressive files),
 * the source colour space as libjpeg guesses it from the JFIF and Adobe markers (so YCCK comes
 * out as CMYK), and output as grey, RGB or CMYK by the number of components. Like PIL, it stops
 * after the last row instead of reading on to the end-of-image marker (jpeg_finish_decompress). */
static cln_status jpeg_load(const char *name, const unsigned char *bytes, size_t size,
                            cln_image *out, cln_error *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_trap trap;
    /* volatile: they change after setjmp and are freed after longjmp returns there. */
    unsigned char *volatile rgb = NULL;
    unsigned char *volatile row = NULL;

    memset(&cinfo, 0, sizeof cinfo); /* so that destroying it is safe whenever creating fails */
    cinfo.err = jpeg_std_error(&trap.mgr);
    trap.mgr.error_exit = jpeg_trap_error;
    trap.mgr.emit_message = jpeg_trap_message;
    trap.scans = 0;
    jpeg_scan_limit limit = {.trap = &trap};
    limit.mgr.progress_monitor = jpeg_count_scans;
    if (setjmp(trap.escape)) {
        if (trap.scans) {
            jpeg_destroy_decompress(&cinfo);
            free(row);
            free(rgb);
            return cln_fail(err, CLN_ERR_FORMAT,
                            "%s: cannot decode the JPEG: it has more than %d progressive scans "
                            "(real files have about 10); it is refused to bound the work",
                            name, JPEG_MAX_SCANS);
        }
        char reason[JMSG_LENGTH_MAX];
        trap.mgr.format_message((j_common_ptr)&cinfo, reason);
        int code = trap.mgr.msg_code;
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(rgb);
        if (code == JERR_OUT_OF_MEMORY)
            return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: cannot decode the JPEG: %s", name,
                            reason);
        if (code == JWRN_JPEG_EOF)
            return cln_fail(err, CLN_ERR_FORMAT,
                            "%s: cannot decode the JPEG: the file is truncated (%s)", name, reason);
        return cln_fail(err, CLN_ERR_FORMAT, "%s: cannot decode the JPEG: %s", name, reason);
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &limit.mgr;
    jpeg_mem_src(&cinfo, bytes, (unsigned long)size); /* size <= CLN_IMAGE_MAX_FILE_BYTES */
    jpeg_read_header(&cinfo, TRUE);

    /* The header alone first, so that a huge image is refused before anything is allocated. */
    long long width = cinfo.image_width, height = cinfo.image_height;
    int components = cinfo.num_components;
    cln_status status = CLN_OK;
    if (width > CLN_IMAGE_MAX_SIDE || height > CLN_IMAGE_MAX_SIDE ||
        !image_within_limits((int)width, (int)height))
        status = refuse_size(name, width, height, err);
    else if (components != 1 && components != 3 && components != 4)
        status = cln_fail(err, CLN_ERR_FORMAT,
                          "%s: a JPEG with %d components; only grey (1), colour (3) and CMYK "
                          "(4) JPEGs can be read",
                          name, components);
    if (status != CLN_OK) {
        jpeg_destroy_decompress(&cinfo);
        return status;
    }

    cinfo.out_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    cinfo.do_block_smoothing = TRUE;
    jpeg_start_decompress(&cinfo);
    if ((long long)cinfo.output_width != width || (long long)cinfo.output_height != height ||
        cinfo.output_components != components) {
        jpeg_destroy_decompress(&cinfo);
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: libjpeg decodes the %lld x %lld JPEG to %u x %u pixels of %d "
                        "components instead of %d",
                        name, width, height, cinfo.output_width, cinfo.output_height,
                        cinfo.output_components, components);
    }

    int w = (int)width, h = (int)height;
    rgb = malloc((size_t)w * h * 3);
    row = malloc((size_t)w * components);
    if (!rgb || !row) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(rgb);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: out of memory for a %d x %d image", name,
                        w, h);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        int y = (int)cinfo.output_scanline;
        JSAMPROW rows[1] = {row};
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break; /* cannot happen from memory */
        jpeg_row_to_rgb(row, components, w, rgb + (size_t)y * w * 3);
    }
    int complete = cinfo.output_scanline == cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    free(row);
    if (!complete) {
        free(rgb);
        return cln_fail(err, CLN_ERR_FORMAT, "%s: cannot decode the JPEG: libjpeg stopped early",
                        name);
    }
    out->width = w;
    out->height = h;
    out->rgb = rgb;
    return CLN_OK;
}

/* ---- The other formats through stb_image ---------------------------------------------------- */

/* ---- Where stb_image and PIL differ ----------------------------------------------------- */

static unsigned le16(const unsigned char *p) {
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What is done to a BMP or GIF so that stb_image decodes it to PIL's pixels: a copy of the
 * file with a header field changed, and whether the rows come out upside down. */
typedef struct {
    unsigned char *copy; /* malloc'd, or NULL: the file as it is */
    bool flip;
} stb_fixup;

static cln_status refuse_truncated(const char *name, cln_error *err) {
    return cln_fail(err, CLN_ERR_FORMAT,
                    "%s: cannot decode the image: the file is truncated (PIL refuses it too)",
                    name);
}

static cln_status make_copy(const char *name, const unsigned char *bytes, size_t size,
                            stb_fixup *fix, cln_error *err) {
    fix->copy = malloc(size);
    if (!fix->copy) return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    memcpy(fix->copy, bytes, size);
    return CLN_OK;
}

/* A BMP: one shorter than its header's pixel rows is refused, as PIL refuses it (stb_image
 * fills the missing rows with black); a top-down one (negative height, which stb_image 2.27
 * refuses and PIL reads) is decoded with the height made positive, then flipped. */
static cln_status bmp_fixup(const char *name, const unsigned char *bytes, size_t size,
                            stb_fixup *fix, cln_error *err) {
    if (size < 26) return refuse_truncated(name, err);
    const uint32_t offset = le32(bytes + 10), header = le32(bytes + 14);
    int64_t width, height;
    unsigned bpp, compression = 0;
    if (header == 12) { /* OS/2 BITMAPCOREHEADER */
        width = le16(bytes + 18);
        height = le16(bytes + 20);
        bpp = le16(bytes + 24);
    } else {
        if (size < 34) return refuse_truncated(name, err);
        width = (int32_t)le32(bytes + 18);
        height = (int32_t)le32(bytes + 22);
        bpp = le16(bytes + 28);
        compression = le32(bytes + 30);
    }
    const bool top_down = height < 0;
    if (top_down) height = -height;
    if (width < 1 || height < 1 || width > CLN_IMAGE_MAX_SIDE || height > CLN_IMAGE_MAX_SIDE)
        return refuse_size(name, (long long)width, (long long)(top_down ? -height : height), err);
    /* uncompressed rows (BI_RGB, BI_BITFIELDS) are padded to 4 bytes */
    if ((compression == 0 || compression == 3) && bpp >= 1 && bpp <= 32) {
        const uint64_t row = ((uint64_t)bpp * (uint64_t)width + 31) / 32 * 4;
        if ((uint64_t)offset + row * (uint64_t)height > size) return refuse_truncated(name, err);
    }
    if (!top_down) return CLN_OK;
    if (header == 12 || compression != 0)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: a top-down BMP that is compressed or has an old header; only "
                        "uncompressed ones can be read",
                        name);
    cln_status status = make_copy(name, bytes, size, fix, err);
    if (status != CLN_OK) return status;
    const uint32_t positive = (uint32_t)height;
    for (int k = 0; k < 4; k++)
        fix->copy[22 + k] = (unsigned char)(positive >> (8 * k));
    fix->flip = true;
    return CLN_OK;
}

/* Skips GIF data sub-blocks from *at; false if the file ends first. */
static bool gif_skip_blocks(const unsigned char *bytes, size_t size, size_t *at) {
    while (*at < size) {
        const size_t length = bytes[*at];
        *at += 1 + length;
        if (length == 0) return *at <= size;
    }
    return false;
}

/* A GIF: its first frame is what both decode. PIL's convert('RGB') shows a transparent
 * pixel in its palette colour where stb_image makes it black, so the transparency flag is
 * cleared; a first frame smaller than the screen (whose rest the two fill differently) is
 * refused, and so is a file that ends inside the frame (PIL: "image file is truncated"). */
static cln_status gif_fixup(const char *name, const unsigned char *bytes, size_t size,
                            stb_fixup *fix, cln_error *err) {
    if (size < 13) return refuse_truncated(name, err);
    const unsigned screen_w = le16(bytes + 6), screen_h = le16(bytes + 8);
    size_t at = 13;
    if (bytes[10] & 0x80) at += 3u << ((bytes[10] & 7) + 1); /* the global colour table */
    size_t transparency_flag = 0;                            /* where it is, 0: none */
    while (at < size) {
        if (bytes[at] == 0x21) { /* an extension: label, then sub-blocks */
            if (at + 2 > size) break;
            if (bytes[at + 1] == 0xF9 && at + 4 <= size && bytes[at + 2] == 4)
                transparency_flag = at + 3;
            at += 2;
            if (!gif_skip_blocks(bytes, size, &at)) break;
            continue;
        }
        if (bytes[at] != 0x2C) break; /* the trailer, or junk: stb_image says what */
        if (at + 10 > size) return refuse_truncated(name, err);
        const unsigned left = le16(bytes + at + 1), top = le16(bytes + at + 3);
        const unsigned w = le16(bytes + at + 5), h = le16(bytes + at + 7);
        if (left != 0 || top != 0 || w != screen_w || h != screen_h)
            return cln_fail(err, CLN_ERR_FORMAT,
                            "%s: the GIF's first frame (%u x %u at %u, %u) does not cover its %u x "
                            "%u screen; only GIFs whose first frame does can be read",
                            name, w, h, left, top, screen_w, screen_h);
        size_t data = at + 10;
        if (bytes[at + 9] & 0x80) data += 3u << ((bytes[at + 9] & 7) + 1);
        data += 1; /* the LZW minimum code size */
        if (data > size || !gif_skip_blocks(bytes, size, &data)) return refuse_truncated(name, err);
        if (transparency_flag && (bytes[transparency_flag] & 1)) {
            cln_status status = make_copy(name, bytes, size, fix, err);
            if (status != CLN_OK) return status;
            fix->copy[transparency_flag] &= (unsigned char)~1u;
        }
        return CLN_OK;
    }
    return CLN_OK; /* no frame: stb_image refuses it */
}

/* A 16-bit grey PNG as PIL reads it: mode I, whose convert('RGB') clips each value at 255
 * (stb_image would keep the high byte). The grey channel only; alpha (from tRNS) is
 * dropped as convert('RGB') drops it. */
static bool png_is_grey16(const unsigned char *bytes, size_t size) {
    return size >= 26 && bytes[24] == 16 && bytes[25] == 0;
}

static unsigned char *load_grey16_clipped(const unsigned char *bytes, size_t size, int *width,
                                          int *height, int *channels) {
    stbi_us *wide = stbi_load_16_from_memory(bytes, (int)size, width, height, channels, 0);
    if (!wide) return NULL;
    const size_t count = (size_t)*width * *height * *channels;
    unsigned char *narrow = malloc(count ? count : 1);
    for (size_t i = 0; narrow && i < count; i++)
        narrow[i] = wide[i] > 255 ? 255 : (unsigned char)wide[i];
    stbi_image_free(wide);
    return narrow;
}

cln_status cln_image_load_memory(const char *name, const unsigned char *bytes, size_t size,
                             cln_image *out, cln_error *err) {
    if (!out) return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "cln_image_load_memory: out is NULL");
    memset(out, 0, sizeof *out);
    if (!name) name = "(image in memory)";
    if (size == 0) return cln_fail(err, CLN_ERR_FORMAT, "%s: the file is empty", name);
    if (!bytes) return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "%s: bytes is NULL", name);
    if (size > CLN_IMAGE_MAX_FILE_BYTES)
        return cln_fail(err, CLN_ERR_FORMAT, "%s: %zu bytes is more than the %d bytes allowed",
                        name, size, CLN_IMAGE_MAX_FILE_BYTES);
    if (is_jpeg(bytes, size)) return jpeg_load(name, bytes, size, out, err);

    /* Only the formats whose stb_image decoders hold up against hostile files go on to stb
     * (its PNM and TGA readers read past truncated data in stb_image 2.27). */
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const bool is_png = size >= 8 && memcmp(bytes, png, 8) == 0;
    const bool is_gif =
        size >= 6 && (memcmp(bytes, "GIF87a", 6) == 0 || memcmp(bytes, "GIF89a", 6) == 0);
    const bool is_bmp = size >= 2 && bytes[0] == 'B' && bytes[1] == 'M';
    if (!is_png && !is_gif && !is_bmp)
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: not an image this program can read (PNG, JPEG, BMP or GIF)", name);
    /* A PNG's size from its header, before stb, which refuses huge ones with a vaguer reason. */
    if (is_png && size >= 24) {
        const unsigned char *ihdr = bytes + 16;
        unsigned long pw = (unsigned long)ihdr[0] << 24 | (unsigned long)ihdr[1] << 16 |
                           (unsigned long)ihdr[2] << 8 | ihdr[3];
        unsigned long ph = (unsigned long)ihdr[4] << 24 | (unsigned long)ihdr[5] << 16 |
                           (unsigned long)ihdr[6] << 8 | ihdr[7];
        if (pw > CLN_IMAGE_MAX_SIDE || ph > CLN_IMAGE_MAX_SIDE || !image_within_limits((int)pw, (int)ph))
            return refuse_size(name, (long long)pw, (long long)ph, err);
    }

    stb_fixup fix = {NULL, false};
    cln_status fixed = is_bmp   ? bmp_fixup(name, bytes, size, &fix, err)
                       : is_gif ? gif_fixup(name, bytes, size, &fix, err)
                                : CLN_OK;
    if (fixed != CLN_OK) return fixed;
    if (fix.copy) bytes = fix.copy;

    /* The header alone first, so that a huge image is refused before anything is allocated. */
    int width, height, channels;
    if (!stbi_info_from_memory(bytes, (int)size, &width, &height, &channels)) {
        free(fix.copy);
        return cln_fail(err, CLN_ERR_FORMAT, "%s: cannot read the image's header: %s", name,
                        stb_reason());
    }
    if (!image_within_limits(width, height)) {
        free(fix.copy);
        return refuse_size(name, width, height, err);
    }

    /* In the image's own channels (desired_channels 0), expanded to RGB below: stb_image 2.27
     * converts a 16-bit PGM to 3 channels as if it held 8-bit samples and then reads past the
     * end of its buffer (fixed in stb_image 2.28). */
    unsigned char *pixels =
        is_png && png_is_grey16(bytes, size)
            ? load_grey16_clipped(bytes, size, &width, &height, &channels)
            : stbi_load_from_memory(bytes, (int)size, &width, &height, &channels, 0);
    free(fix.copy);
    if (!pixels) {
        const char *reason = stb_reason();
        cln_status status =
            strcmp(reason, "outofmem") == 0 ? CLN_ERR_OUT_OF_MEMORY : CLN_ERR_FORMAT;
        return cln_fail(err, status, "%s: cannot decode the image: %s", name, reason);
    }
    if (!image_within_limits(width, height) || channels < 1 || channels > 4) {
        stbi_image_free(pixels);
        return cln_fail(err, CLN_ERR_FORMAT,
                        "%s: the image decodes to %d x %d pixels of %d channels, beyond the "
                        "limits its header passed",
                        name, width, height, channels);
    }
    if (fix.flip) { /* a top-down BMP, decoded as a bottom-up one */
        const size_t row = (size_t)width * channels;
        for (int y = 0; y < height / 2; y++)
            for (size_t i = 0; i < row; i++) {
                unsigned char t = pixels[(size_t)y * row + i];
                pixels[(size_t)y * row + i] = pixels[(size_t)(height - 1 - y) * row + i];
                pixels[(size_t)(height - 1 - y) * row + i] = t;
            }
    }
    unsigned char *rgb = pixels;
    if (channels != 3) {
        size_t count = (size_t)width * height;
        rgb = malloc(count * 3);
        if (!rgb) {
            stbi_image_free(pixels);
            return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "%s: out of memory for a %d x %d image",
                            name, width, height);
        }
        /* As convert('RGB'): grey (1, or 2 with alpha) is replicated, RGBA's alpha dropped. */
        for (size_t i = 0; i < count; i++) {
            const unsigned char *p = pixels + i * channels;
            rgb[3 * i + 0] = p[0];
            rgb[3 * i + 1] = channels < 3 ? p[0] : p[1];
            rgb[3 * i + 2] = channels < 3 ? p[0] : p[2];
        }
        stbi_image_free(pixels);
    }
    out->width = width;
    out->height = height;
    out->rgb = rgb;
    return CLN_OK;
}

cln_status cln_image_load(const char *path, cln_image *out, cln_error *err) {
    if (!out) return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "cln_image_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "cln_image_load: path is NULL");
    unsigned char *bytes;
    size_t size;
    cln_status status = file_read_all(path, CLN_IMAGE_MAX_FILE_BYTES, "an image", &bytes, &size, err);
    if (status != CLN_OK) return status;
    status = cln_image_load_memory(path, bytes, size, out, err);
    free(bytes);
    return status;
}

void cln_image_free(cln_image *img) {
    if (!img) return;
    free(img->rgb); /* from malloc: jpeg_load's, or stb_image's (STBI_FREE is free) */
    memset(img, 0, sizeof *img);
}

/* ---- Resampling as Pillow does ---------------------------------------------------------- */

/* The weights that make outputs [first, first + count) of one axis resized from in_size to
 * out_size samples. Output first + i reads input samples [start[i], start[i] + len[i]) with
 * weights weight[i * taps ...], fixed-point with RESAMPLE_FRACTION_BITS fraction bits. */
typedef struct {
    int count;       /* the outputs computed */
    int taps;        /* the widest window: the stride of weight */
    int *start;      /* (count): the first input sample of each window */
    int *len;        /* (count): the samples in each window, at most taps */
    int32_t *weight; /* (count, taps) */
} resample_axis;

static void resample_axis_free(resample_axis *axis) {
    free(axis->start); /* start, len and weight share one allocation */
    memset(axis, 0, sizeof *axis);
}

/* Pillow's bilinear filter: a triangle of half-width 1. */
static double triangle(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Output sample o covers input coordinates around center = (o + 0.5) * scale. When
 * shrinking, the triangle is stretched by the scale (antialiasing), so every input sample
 * under an output contributes. The window is rounded to whole samples and clipped to the
 * image, and the weights in it are normalized to sum to 1 before being rounded to fixed
 * point, as Pillow's precompute_coeffs and normalize_coeffs_8bpc do; the floating-point
 * expressions follow Pillow's order of operations so the rounded weights are the same. */
static cln_status resample_axis_init(resample_axis *axis, int in_size, int out_size, int first,
                                     int count, cln_error *err) {
    memset(axis, 0, sizeof *axis);
    double scale = (double)in_size / out_size;
    double filter_scale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filter_scale; /* the triangle's half-width, in input samples */
    double inv_filter_scale = 1.0 / filter_scale;
    int taps = (int)ceil(support) * 2 + 1;

    /* count <= out_size, so count * taps <= about 2 * in_size + 3 * count: no overflow. */
    size_t windows = (size_t)count;
    void *block = malloc(windows * 2 * sizeof(int) + windows * (size_t)taps * sizeof(int32_t));
    if (!block)
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "out of memory for %d x %d resize weights",
                        count, taps);
    axis->count = count;
    axis->taps = taps;
    axis->start = block;
    axis->len = axis->start + windows;
    axis->weight = (int32_t *)(axis->len + windows);

    for (int i = 0; i < count; i++) {
        double center = (first + i + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size) hi = in_size;
        /* The window spans at most 2 * ceil(support) < taps samples; the clamp only guards
         * the buffer. */
        int n = hi - lo < taps ? hi - lo : taps;
        double sum = 0.0;
        for (int k = 0; k < n; k++)
            sum += triangle(((k + lo) - center + 0.5) * inv_filter_scale);
        int32_t *fixed = axis->weight + (size_t)i * taps;
        for (int k = 0; k < n; k++) {
            double w = triangle(((k + lo) - center + 0.5) * inv_filter_scale);
            double normalized = sum != 0.0 ? w / sum : w;
            fixed[k] = (int32_t)(0.5 + normalized * RESAMPLE_ONE); /* weights are >= 0 */
        }
        for (int k = n; k < taps; k++)
            fixed[k] = 0;
        axis->start[i] = lo;
        axis->len[i] = n;
    }
    return CLN_OK;
}

/* A fixed-point sum (which starts at RESAMPLE_HALF) rounded to a uint8, as Pillow's clip8. */
static unsigned char clip_to_u8(int32_t sum) {
    int32_t v = sum >> RESAMPLE_FRACTION_BITS; /* sum >= 0: weights and samples are >= 0 */
    return (unsigned char)(v > 255 ? 255 : v);
}

/* ---- Preprocessing ----------------------------------------------------------------------- */

/* torchvision's CenterCrop offset along an axis of the resized image: where output 0 of the
 * crop falls, negative when the crop is larger (then the image is centred in zero padding,
 * the smaller half of the padding before it). Otherwise int(round((size - crop) / 2.0)) with
 * Python's round, which takes x.5 to the even neighbour. */
static int center_crop_offset(int size, int crop) {
    if (crop > size) return -((crop - size) / 2);
    int diff = size - crop;
    int offset = diff / 2;
    if (diff % 2 == 1 && offset % 2 == 1) offset += 1;
    return offset;
}

/* What both preprocessings need of their arguments; who names the caller. */
static cln_status check_preprocess_args(const char *who, const cln_image *img, const float *out,
                                        cln_error *err) {
    if (!img) return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "%s: the image is NULL", who);
    if (!img->rgb)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "%s: the image has no pixels (rgb is NULL)",
                        who);
    if (!out) return cln_fail(err, CLN_ERR_INVALID_ARGUMENT, "%s: out is NULL", who);
    if (!image_within_limits(img->width, img->height))
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "%s: the image is %d x %d pixels; it must be 1 to %d pixels a side and "
                        "at most %d pixels in all",
                        who, img->width, img->height, CLN_IMAGE_MAX_SIDE, CLN_IMAGE_MAX_PIXELS);
    return CLN_OK;
}

cln_status cln_image_preprocess(const cln_image *img, int resize, int crop, float *out,
                            cln_error *err) {
    cln_status status = check_preprocess_args("cln_image_preprocess", img, out, err);
    if (status != CLN_OK) return status;
    if (resize < 1 || resize > CLN_IMAGE_MAX_RESIZE)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "cln_image_preprocess: resize %d is out of range (1 to %d)", resize,
                        CLN_IMAGE_MAX_RESIZE);
    if (crop < 1 || crop > CLN_IMAGE_MAX_CROP)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "cln_image_preprocess: crop %d is out of range (1 to %d)", crop,
                        CLN_IMAGE_MAX_CROP);

    /* Resize's output size, as torchvision computes it (integer product, true division,
     * truncation: all exact in double here, so the same as Python's). */
    int w = img->width, h = img->height;
    int short_side = w <= h ? w : h, long_side = w <= h ? h : w;
    double resized_long = (double)((int64_t)resize * long_side) / short_side;
    if (resized_long > CLN_IMAGE_MAX_RESIZED_SIDE)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "cln_image_preprocess: resizing the %d x %d image to a short side of %d "
                        "makes its long side %.0f pixels; at most %d are allowed",
                        w, h, resize, floor(resized_long), CLN_IMAGE_MAX_RESIZED_SIDE);
    int new_w = w <= h ? resize : (int)resized_long;
    int new_h = w <= h ? (int)resized_long : resize;

    /* The part of the resized image that the crop keeps: resized columns [x0, x1) and rows
     * [y0, y1) go to the crop at offset (ox, oy) subtracted; the rest of the crop is padding. */
    int ox = center_crop_offset(new_w, crop), oy = center_crop_offset(new_h, crop);
    int x0 = ox > 0 ? ox : 0, y0 = oy > 0 ? oy : 0;
    int x1 = ox + crop < new_w ? ox + crop : new_w, y1 = oy + crop < new_h ? oy + crop : new_h;

    resample_axis horiz, vert;
    status = resample_axis_init(&horiz, w, new_w, x0, x1 - x0, err);
    if (status != CLN_OK) return status;
    status = resample_axis_init(&vert, h, new_h, y0, y1 - y0, err);
    if (status != CLN_OK) {
        resample_axis_free(&horiz);
        return status;
    }

    /* Horizontal pass first, as Pillow does, over just the input rows the vertical pass reads;
     * results are rounded to uint8 between the passes. */
    int row0 = vert.start[0];
    int row1 = vert.start[vert.count - 1] + vert.len[vert.count - 1];
    size_t tmp_stride = (size_t)horiz.count * 3;
    unsigned char *tmp = malloc((size_t)(row1 - row0) * tmp_stride);
    if (!tmp) {
        resample_axis_free(&horiz);
        resample_axis_free(&vert);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY,
                        "cln_image_preprocess: out of memory for a %d x %d intermediate image",
                        horiz.count, row1 - row0);
    }
    for (int y = row0; y < row1; y++) {
        const unsigned char *src = img->rgb + (size_t)y * w * 3;
        unsigned char *dst = tmp + (size_t)(y - row0) * tmp_stride;
        for (int j = 0; j < horiz.count; j++) {
            const int32_t *k = horiz.weight + (size_t)j * horiz.taps;
            const unsigned char *s = src + (size_t)horiz.start[j] * 3;
            int32_t r = RESAMPLE_HALF, g = RESAMPLE_HALF, b = RESAMPLE_HALF;
            for (int t = 0; t < horiz.len[j]; t++) {
                r += s[3 * t + 0] * k[t];
                g += s[3 * t + 1] * k[t];
                b += s[3 * t + 2] * k[t];
            }
            dst[3 * j + 0] = clip_to_u8(r);
            dst[3 * j + 1] = clip_to_u8(g);
            dst[3 * j + 2] = clip_to_u8(b);
        }
    }

    /* (v / 255 - 0.5) / 0.5 for every byte value, rounded once from double. */
    float value[256];
    for (int v = 0; v < 256; v++)
        value[v] = (float)((v / 255.0 - 0.5) / 0.5);

    size_t plane = (size_t)crop * crop;
    for (size_t i = 0; i < 3 * plane; i++)
        out[i] = value[0]; /* the zero padding */

    /* Vertical pass, writing each kept pixel straight into the CHW crop. */
    for (int i = 0; i < vert.count; i++) {
        const int32_t *k = vert.weight + (size_t)i * vert.taps;
        const unsigned char *s = tmp + (size_t)(vert.start[i] - row0) * tmp_stride;
        size_t row_out = (size_t)(y0 + i - oy) * crop + (size_t)(x0 - ox);
        for (int j = 0; j < horiz.count; j++) {
            int32_t r = RESAMPLE_HALF, g = RESAMPLE_HALF, b = RESAMPLE_HALF;
            for (int t = 0; t < vert.len[i]; t++) {
                const unsigned char *p = s + (size_t)t * tmp_stride + 3 * (size_t)j;
                r += p[0] * k[t];
                g += p[1] * k[t];
                b += p[2] * k[t];
            }
            out[0 * plane + row_out + j] = value[clip_to_u8(r)];
            out[1 * plane + row_out + j] = value[clip_to_u8(g)];
            out[2 * plane + row_out + j] = value[clip_to_u8(b)];
        }
    }

    free(tmp);
    resample_axis_free(&horiz);
    resample_axis_free(&vert);
    return CLN_OK;
}

/* One axis of torch's bilinear interpolation (align_corners=False, no
 * antialiasing) of a float tensor, as ATen computes it: the scale in /
 * out in float, the source position max(scale * (i + 0.5) - 0.5, 0) in
 * double (the 0.5 is a double there), its fraction l in float; output i
 * reads inputs i0 and i0 + (i0 < in - 1) with weights 1 - l and l. */
static void linear_axis(int in, int out, int *index, float *lambda) {
    const float scale = (float)in / (float)out;
    for (int i = 0; i < out; i++) {
        double src = (double)scale * (i + 0.5) - 0.5;
        if (src < 0) src = 0;
        index[i] = (int)src;
        const float l = (float)(src - index[i]);
        lambda[i] = l < 0 ? 0 : l > 1 ? 1 : l;
    }
}

cln_status cln_image_preprocess_fid(const cln_image *img, int size, float *out, cln_error *err) {
    cln_status status = check_preprocess_args("cln_image_preprocess_fid", img, out, err);
    if (status != CLN_OK) return status;
    if (size < 1 || size > CLN_IMAGE_MAX_CROP)
        return cln_fail(err, CLN_ERR_INVALID_ARGUMENT,
                        "cln_image_preprocess_fid: size %d is out of range (1 to %d)", size,
                        CLN_IMAGE_MAX_CROP);
    const int w = img->width, h = img->height;
    int *xi = malloc(2 * (size_t)size * sizeof *xi);
    float *xl = malloc(2 * (size_t)size * sizeof *xl);
    if (!xi || !xl) {
        free(xi);
        free(xl);
        return cln_fail(err, CLN_ERR_OUT_OF_MEMORY, "cln_image_preprocess_fid: out of memory");
    }
    int *yi = xi + size;
    float *yl = xl + size;
    linear_axis(w, size, xi, xl);
    linear_axis(h, size, yi, yl);
    /* ToTensor: v / 255 in float; then the width's two taps, then the height's */
    for (int c = 0; c < 3; c++)
        for (int oy = 0; oy < size; oy++) {
            const int y0 = yi[oy], y1 = y0 + (y0 < h - 1);
            const unsigned char *r0 = img->rgb + (size_t)y0 * w * 3 + c;
            const unsigned char *r1 = img->rgb + (size_t)y1 * w * 3 + c;
            float *dst = out + ((size_t)c * size + oy) * size;
            for (int ox = 0; ox < size; ox++) {
                const int x0 = xi[ox], x1 = x0 + (x0 < w - 1);
                const float lw = xl[ox], lh = yl[oy];
                const float t0 =
                    (float)r0[3 * x0] / 255.0f * (1.0f - lw) + (float)r0[3 * x1] / 255.0f * lw;
                const float t1 =
                    (float)r1[3 * x0] / 255.0f * (1.0f - lw) + (float)r1[3 * x1] / 255.0f * lw;
                dst[ox] = t0 * (1.0f - lh) + t1 * lh;
            }
        }
    free(xi);
    free(xl);
    return CLN_OK;
}
