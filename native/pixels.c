/*
 * posterscope's pixel kernels in C: the inner loops of src/image/views.ts
 * (enlarge, reduceRows, writeCrop), nothing else. Every position, tap and
 * weight is computed in JavaScript and passed in, so the arithmetic here is
 * the integer part alone and the results are bit for bit the JavaScript
 * ones (test/unit/image/native.test.ts compares the two). Built by node-gyp
 * at install when a compiler is there; without it the JavaScript loops run.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The hot loops are built for AVX2 as well as for plain x86-64; the loader
 * picks the AVX2 one on CPUs that have it. The integer arithmetic is the same
 * in both, so are the bytes.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif


#define CHECK(call)                                                          \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error(env, NULL, "posterscope native: bad arguments");      \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

static int typed(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, data, &buffer, &offset) != napi_ok) return 0;
  return type == want || (want == napi_uint8_array && type == napi_uint8_clamped_array);
}

static int integer(napi_env env, napi_value value, int32_t *out) {
  return napi_get_value_int32(env, value, out) == napi_ok;
}

VECTOR_CLONES
static void gather_row(const uint8_t *row, const int32_t *left, const int32_t *right, int32_t out_width, int32_t *restrict a, int32_t *restrict b) {
  for (int32_t o = 0; o < out_width; o++) {
    const uint8_t *l = row + left[o], *r = row + right[o];
    a[o * 3] = l[0];
    a[o * 3 + 1] = l[1];
    a[o * 3 + 2] = l[2];
    b[o * 3] = r[0];
    b[o * 3 + 1] = r[1];
    b[o * 3 + 2] = r[2];
  }
}

/* libvips' bilinear blend: the four weights from the x and y fractions (of 4096), then the rounded sum. */
VECTOR_CLONES
static void blend_rows(const int32_t *a0, const int32_t *b0, const int32_t *a1, const int32_t *b1, const int32_t *xf3, int32_t yf, uint8_t *restrict q,
                       int32_t n) {
  const int32_t yd = 4096 - yf;
  for (int32_t z = 0; z < n; z++) {
    const int32_t xf = xf3[z];
    const int32_t c4 = (yf * xf) >> 12;
    const int32_t c2 = (yd * xf) >> 12;
    const int32_t c3 = yf - c4;
    const int32_t c1 = yd - c2;
    q[z] = (uint8_t)((c1 * a0[z] + c2 * b0[z] + c3 * a1[z] + c4 * b1[z] + 2048) >> 12);
  }
}

/*
 * enlarge(pixels, width, left, right, fraction, rows0, rows1, yfraction, out, outWidth, outHeight)
 * left/right: per output column, byte offsets of the two source pixels in a row;
 * fraction: per output column, x fraction (0..4096); rows0/rows1: per output row,
 * byte offsets of the two source rows; yfraction: per output row.
 */
static napi_value enlarge(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *pixels, *out;
  int32_t *left, *right, *fraction, *rows0, *rows1, *yfraction;
  size_t n_pixels, n_out, n_left, n_right, n_fraction, n_rows0, n_rows1, n_yf;
  int32_t width, out_width, out_height;
  if (argc != 11 || !typed(env, argv[0], napi_uint8_array, (void **)&pixels, &n_pixels) || !integer(env, argv[1], &width) ||
      !typed(env, argv[2], napi_int32_array, (void **)&left, &n_left) || !typed(env, argv[3], napi_int32_array, (void **)&right, &n_right) ||
      !typed(env, argv[4], napi_int32_array, (void **)&fraction, &n_fraction) || !typed(env, argv[5], napi_int32_array, (void **)&rows0, &n_rows0) ||
      !typed(env, argv[6], napi_int32_array, (void **)&rows1, &n_rows1) || !typed(env, argv[7], napi_int32_array, (void **)&yfraction, &n_yf) ||
      !typed(env, argv[8], napi_uint8_array, (void **)&out, &n_out) || !integer(env, argv[9], &out_width) || !integer(env, argv[10], &out_height) ||
      out_width <= 0 || out_height <= 0 || n_left < (size_t)out_width || n_right < (size_t)out_width || n_fraction < (size_t)out_width ||
      n_rows0 < (size_t)out_height || n_rows1 < (size_t)out_height || n_yf < (size_t)out_height ||
      n_out < (size_t)out_width * (size_t)out_height * 3) {
    napi_throw_error(env, NULL, "posterscope native enlarge: bad arguments");
    return NULL;
  }
  (void)width;
  /* Every offset must stay inside the source: checked once, so the loop reads nothing else. */
  {
    int32_t widest = 0;
    for (int32_t o = 0; o < out_width; o++) {
      if (left[o] < 0 || right[o] < 0) goto bounds;
      if (left[o] > widest) widest = left[o];
      if (right[o] > widest) widest = right[o];
    }
    for (int32_t oy = 0; oy < out_height; oy++) {
      if (rows0[oy] < 0 || rows1[oy] < 0) goto bounds;
      size_t top = (size_t)(rows0[oy] > rows1[oy] ? rows0[oy] : rows1[oy]);
      if (top + (size_t)widest + 3 > n_pixels) goto bounds;
    }
  }
  /*
   * Each source row is gathered once into per-column arrays (a: the left
   * pixel, b: the right one, as int32); the blend of two gathered rows is then
   * a straight loop over the output row, which the compiler vectorises.
   * Enlarging, consecutive output rows share source rows: two slots suffice.
   */
  const size_t n = (size_t)out_width * 3;
  int32_t *memory = malloc(n * 5 * sizeof(int32_t));
  if (!memory) {
    napi_throw_error(env, NULL, "posterscope native enlarge: out of memory");
    return NULL;
  }
  int32_t *xf3 = memory;
  int32_t *slot_a[2] = {memory + n, memory + 2 * n};
  int32_t *slot_b[2] = {memory + 3 * n, memory + 4 * n};
  int32_t slot_row[2] = {-1, -1};
  for (int32_t o = 0; o < out_width; o++) xf3[o * 3] = xf3[o * 3 + 1] = xf3[o * 3 + 2] = fraction[o];
  for (int32_t oy = 0; oy < out_height; oy++) {
    int32_t at[2];
    for (int i = 0; i < 2; i++) {
      const int32_t row = i == 0 ? rows0[oy] : rows1[oy];
      int32_t s = slot_row[0] == row ? 0 : slot_row[1] == row ? 1 : -1;
      if (s < 0) {
        /* Not gathered yet: take the slot the other row of this pair does not need. */
        s = i == 1 && slot_row[0] == rows0[oy] ? 1 : 0;
        gather_row(pixels + row, left, right, out_width, slot_a[s], slot_b[s]);
        slot_row[s] = row;
      }
      at[i] = s;
    }
    blend_rows(slot_a[at[0]], slot_b[at[0]], slot_a[at[1]], slot_b[at[1]], xf3, yfraction[oy], out + (size_t)oy * n, (int32_t)n);
  }
  free(memory);
  return NULL;
bounds:
  napi_throw_range_error(env, NULL, "posterscope native enlarge: an offset is outside the image");
  return NULL;
}

VECTOR_CLONES
static void reduce_row4(const uint8_t *pixels, const int32_t *r, const int32_t *k, uint8_t *restrict q, int32_t stride) {
  const uint8_t *s0 = pixels + r[0], *s1 = pixels + r[1], *s2 = pixels + r[2], *s3 = pixels + r[3];
  const int32_t k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3];
  for (int32_t z = 0; z < stride; z++) {
    const int32_t v = (2048 + k0 * s0[z] + k1 * s1[z] + k2 * s2[z] + k3 * s3[z]) >> 12;
    q[z] = (uint8_t)(v > 255 ? 255 : v);
  }
}

/*
 * reduceRows(pixels, stride, rows, weights, taps, out, outHeight)
 * rows/weights: per output row, `taps` source-row byte offsets and fixed-point
 * weights (zero weights pad rows with fewer taps).
 */
static napi_value reduce_rows(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *pixels, *out;
  int32_t *rows, *weights;
  size_t n_pixels, n_out, n_rows, n_weights;
  int32_t stride, taps, out_height;
  if (argc != 7 || !typed(env, argv[0], napi_uint8_array, (void **)&pixels, &n_pixels) || !integer(env, argv[1], &stride) ||
      !typed(env, argv[2], napi_int32_array, (void **)&rows, &n_rows) || !typed(env, argv[3], napi_int32_array, (void **)&weights, &n_weights) ||
      !integer(env, argv[4], &taps) || !typed(env, argv[5], napi_uint8_array, (void **)&out, &n_out) || !integer(env, argv[6], &out_height) ||
      stride <= 0 || taps <= 0 || taps > 64 || out_height <= 0 || n_rows < (size_t)taps * (size_t)out_height ||
      n_weights < (size_t)taps * (size_t)out_height || n_out < (size_t)stride * (size_t)out_height) {
    napi_throw_error(env, NULL, "posterscope native reduceRows: bad arguments");
    return NULL;
  }
  for (size_t i = 0; i < (size_t)taps * (size_t)out_height; i++) {
    if (rows[i] < 0 || (size_t)rows[i] + (size_t)stride > n_pixels) {
      napi_throw_range_error(env, NULL, "posterscope native reduceRows: a row is outside the image");
      return NULL;
    }
  }
  if (taps == 4) {
    /* Shrinking by at most 1.5x (every native view): four taps, one pass per output row. */
    for (int32_t o = 0; o < out_height; o++)
      reduce_row4(pixels, rows + (size_t)o * 4, weights + (size_t)o * 4, out + (size_t)o * stride, stride);
    return NULL;
  }
  /* One row of sums, tap by tap: the inner loop is a plain multiply-add over a row, which the compiler vectorises. */
  int32_t *acc = malloc((size_t)stride * sizeof(int32_t));
  if (!acc) {
    napi_throw_error(env, NULL, "posterscope native reduceRows: out of memory");
    return NULL;
  }
  for (int32_t o = 0; o < out_height; o++) {
    const int32_t *k = weights + (size_t)o * taps;
    const int32_t *r = rows + (size_t)o * taps;
    uint8_t *q = out + (size_t)o * stride;
    for (int32_t z = 0; z < stride; z++) acc[z] = 2048;
    for (int32_t i = 0; i < taps; i++) {
      const int32_t w = k[i];
      if (w == 0) continue;
      const uint8_t *src = pixels + r[i];
      for (int32_t z = 0; z < stride; z++) acc[z] += w * src[z];
    }
    for (int32_t z = 0; z < stride; z++) {
      const int32_t v = acc[z] >> 12;
      q[z] = (uint8_t)(v > 255 ? 255 : v);
    }
  }
  free(acc);
  return NULL;
}

/* writeCrop(crop, t0, t1, t2, nchw, batch, index) */
static napi_value write_crop(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *crop;
  float *t0, *t1, *t2, *batch;
  size_t n_crop, n0, n1, n2, n_batch;
  bool nchw;
  int32_t index;
  if (argc != 7 || !typed(env, argv[0], napi_uint8_array, (void **)&crop, &n_crop) || !typed(env, argv[1], napi_float32_array, (void **)&t0, &n0) ||
      !typed(env, argv[2], napi_float32_array, (void **)&t1, &n1) || !typed(env, argv[3], napi_float32_array, (void **)&t2, &n2) ||
      napi_get_value_bool(env, argv[4], &nchw) != napi_ok || !typed(env, argv[5], napi_float32_array, (void **)&batch, &n_batch) ||
      !integer(env, argv[6], &index) || n0 < 256 || n1 < 256 || n2 < 256 || index < 0 || n_crop % 3 != 0 ||
      ((size_t)index + 1) * n_crop > n_batch) {
    napi_throw_error(env, NULL, "posterscope native writeCrop: bad arguments");
    return NULL;
  }
  const size_t plane = n_crop / 3;
  float *base = batch + (size_t)index * n_crop;
  if (nchw) {
    float *r = base, *g = base + plane, *b = base + 2 * plane;
    for (size_t i = 0, p = 0; i < plane; i++, p += 3) {
      r[i] = t0[crop[p]];
      g[i] = t1[crop[p + 1]];
      b[i] = t2[crop[p + 2]];
    }
  } else {
    for (size_t p = 0; p < n_crop; p += 3) {
      base[p] = t0[crop[p]];
      base[p + 1] = t1[crop[p + 1]];
      base[p + 2] = t2[crop[p + 2]];
    }
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"enlarge", NULL, enlarge, NULL, NULL, NULL, napi_default, NULL},
      {"reduceRows", NULL, reduce_rows, NULL, NULL, NULL, napi_default, NULL},
      {"writeCrop", NULL, write_crop, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
