/*
 * posterscope's JPEG decoder in C: libjpeg-turbo (the system's libjpeg),
 * set as sharp's libvips sets it (accurate integer IDCT, fancy upsampling,
 * RGB out), writing straight into a buffer the caller owns. Used only for
 * the plain JPEGs src/image/jpeg.ts picks (baseline or progressive, 8-bit,
 * three components, no EXIF, ICC or Adobe marker): for those the pixels are
 * bit for bit sharp's. Any warning or error returns false and the caller
 * lets sharp decide. A progressive file's scans are entropy-decoded by
 * phuff.c instead of libjpeg's jdphuff.c (the same coefficients, less CPU);
 * libjpeg does the rest. Built by node-gyp at install when libjpeg's headers
 * are there; without them the WebAssembly decoder runs.
 */
#include <node_api.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jpeglib.h>

#include "phuff.h"

/* IJG libjpeg 7 and later scale chroma in the IDCT instead of fancy upsampling: not sharp's pixels. */
#ifndef LIBJPEG_TURBO_VERSION
#error "posterscope needs libjpeg-turbo (the libjpeg62-turbo-dev package), not IJG libjpeg"
#endif

struct failure {
  struct jpeg_error_mgr base;
  jmp_buf jump;
  volatile int warned;
};

/* Decodes that phuff.c gave up on and libjpeg redid, since the module was loaded (any thread). */
static uint32_t fallbacks = 0;

/* Whether phuff.c may decode with this libjpeg (posterscope_phuff_usable, asked at load). */
static int phuff_usable = 0;

/*
 * A progressive JPEG may hold thousands of scans, each a pass over the whole
 * image: a small file that costs seconds of CPU (libjpeg-turbo's "LJT-01-003").
 * Past this many the decode stops, as TurboJPEG's TJFLAG_LIMITSCANS does.
 */
struct scans {
  struct jpeg_progress_mgr base;
  int limit;
  int fast;              /* put phuff.c's decoder in at the first call */
  volatile int gave_up;  /* it gave up: start over without it */
};

/*
 * The progress monitor. Its first call comes inside jpeg_start_decompress,
 * after the modules are set up and before the scans are read: the moment to
 * put the faster progressive decoder in.
 */
static void count_scans(j_common_ptr info) {
  if (!info->is_decompressor) return;
  j_decompress_ptr cinfo = (j_decompress_ptr)info;
  struct scans *scans = (struct scans *)info->progress;
  if (cinfo->input_scan_number > scans->limit) longjmp(((struct failure *)info->err)->jump, 1);
  if (scans->fast) {
    scans->fast = 0;
    if (phuff_usable && cinfo->progressive_mode && cinfo->entropy != NULL && cinfo->coef_bits != NULL)
      posterscope_phuff_install(cinfo, &((struct failure *)info->err)->jump, &scans->gave_up);
  }
}

static void fail(j_common_ptr info) {
  struct failure *f = (struct failure *)info->err;
  longjmp(f->jump, 1);
}

/* Level -1 is a warning (e.g. "Premature end of JPEG file"): the file is not plain. */
static void message(j_common_ptr info, int level) {
  if (level < 0) ((struct failure *)info->err)->warned = 1;
}

static void silent(j_common_ptr info) { (void)info; }

/*
 * One decode; with fast, through phuff.c's decoder, and when that gives up,
 * once more through libjpeg's own. True when the pixels are in out.
 */
static int run(const unsigned char *bytes, size_t n_bytes, unsigned char *out, int32_t width, int32_t height, int32_t max_scans, int fast) {
  struct jpeg_decompress_struct cinfo;
  struct failure err;
  volatile int ok = 0;
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = fail;
  err.base.emit_message = message;
  err.base.output_message = silent;
  err.warned = 0;
  struct scans scans = {.base = {.progress_monitor = count_scans}, .limit = max_scans, .fast = fast, .gave_up = 0};
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &scans.base;
  if (setjmp(err.jump) == 0) {
    jpeg_mem_src(&cinfo, bytes, (unsigned long)n_bytes);
    if (jpeg_read_header(&cinfo, TRUE) == JPEG_HEADER_OK && cinfo.num_components == 3 && (int32_t)cinfo.image_width == width &&
        (int32_t)cinfo.image_height == height) {
      cinfo.out_color_space = JCS_RGB;
      cinfo.dct_method = JDCT_ISLOW;
      cinfo.do_fancy_upsampling = TRUE;
      jpeg_start_decompress(&cinfo);
      if (cinfo.output_components == 3 && (int32_t)cinfo.output_width == width && (int32_t)cinfo.output_height == height) {
        const size_t stride = (size_t)width * 3;
        while (cinfo.output_scanline < cinfo.output_height) {
          JSAMPROW rows[4];
          int n = 0;
          for (; n < 4 && cinfo.output_scanline + (JDIMENSION)n < cinfo.output_height; n++)
            rows[n] = out + (size_t)(cinfo.output_scanline + (JDIMENSION)n) * stride;
          if (jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)n) == 0) break;
        }
        ok = cinfo.output_scanline == cinfo.output_height;
        if (ok) jpeg_finish_decompress(&cinfo);
      }
    }
  }
  jpeg_destroy_decompress(&cinfo);
  if (scans.gave_up) {
    __atomic_fetch_add(&fallbacks, 1, __ATOMIC_RELAXED);
    return run(bytes, n_bytes, out, width, height, max_scans, 0);
  }
  return ok && !err.warned;
}

static int typed(napi_env env, napi_value value, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, data, &buffer, &offset) != napi_ok) return 0;
  return type == napi_uint8_array || type == napi_uint8_clamped_array;
}

/*
 * decode(bytes, out, width, height[, maxScans = 500[, fast = true]]) -> boolean
 * Decodes bytes to interleaved RGB in out (at least width*height*3 bytes).
 * False when libjpeg warns or fails, the image is not width x height RGB, or
 * it has more than maxScans scans. fast: a progressive file's scans go
 * through phuff.c (same pixels); false keeps libjpeg's own decoder.
 */
static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_value result;
  unsigned char *bytes, *out;
  size_t n_bytes, n_out;
  int32_t width, height, max_scans = 500;
  bool fast = true;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      (argc > 4 && (napi_get_value_int32(env, argv[4], &max_scans) != napi_ok || max_scans < 1)) ||
      (argc > 5 && napi_get_value_bool(env, argv[5], &fast) != napi_ok) || !typed(env, argv[0], (void **)&bytes, &n_bytes) ||
      !typed(env, argv[1], (void **)&out, &n_out) || napi_get_value_int32(env, argv[2], &width) != napi_ok ||
      napi_get_value_int32(env, argv[3], &height) != napi_ok || width <= 0 || height <= 0 ||
      n_out < (size_t)width * (size_t)height * 3 || n_bytes == 0) {
    napi_throw_error(env, NULL, "posterscope native decode: bad arguments");
    return NULL;
  }
  int ok = run(bytes, n_bytes, out, width, height, max_scans, fast);
  napi_get_boolean(env, ok, &result);
  return result;
}

/* fallbacks() -> number: decodes phuff.c gave up on (libjpeg redid them), since the module was loaded. */
static napi_value count_fallbacks(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  if (napi_create_uint32(env, __atomic_load_n(&fallbacks, __ATOMIC_RELAXED), &result) != napi_ok) return NULL;
  return result;
}

NAPI_MODULE_INIT() {
  phuff_usable = posterscope_phuff_usable();
  napi_property_descriptor props[] = {
      {"decode", NULL, decode, NULL, NULL, NULL, napi_default, NULL},
      {"fallbacks", NULL, count_fallbacks, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
