/*
 * posterscope's pixel kernels in C: src/image/views.ts's enlarge, reduceRows
 * and writeCrop. Positions, taps and weights are worked out here with the
 * double arithmetic views.ts's JavaScript fallback uses, step for step and
 * in the same order (built with -ffp-contract=off, so no step is fused), so
 * the results are bit for bit the JavaScript ones; test/unit/image/native.test.ts
 * compares the two over many shapes. (They were computed in JavaScript and
 * passed in until a fresh process was found spending ~70 ms optimising that
 * JavaScript.) Built by node-gyp at install when a compiler is there; without
 * it the JavaScript runs.
 */
#include <math.h>
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

/* JavaScript's ToInt32 of Math.trunc(x), for any finite x. */
static int32_t to_int32(double x) {
  double m = fmod(trunc(x), 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return (int32_t)(uint32_t)m;
}

static int32_t clamp(double v, int32_t high) {
  return v < 0 ? 0 : v > high ? high : (int32_t)v;
}

/*
 * enlarge(pixels, width, height, out, outWidth, outHeight): RGB pixels, width
 * x height, to outWidth x outHeight (neither smaller) in out. The positions
 * are views.ts's enlargeInJavaScript's: scales 1 / (in / out), the inverse
 * through 1 / det, the column position accumulated along a row, each output
 * row's position from its index.
 */
static napi_value enlarge(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *pixels, *out;
  size_t n_pixels, n_out;
  int32_t width, height, out_width, out_height;
  if (argc != 6 || !typed(env, argv[0], napi_uint8_array, (void **)&pixels, &n_pixels) || !integer(env, argv[1], &width) ||
      !integer(env, argv[2], &height) || !typed(env, argv[3], napi_uint8_array, (void **)&out, &n_out) || !integer(env, argv[4], &out_width) ||
      !integer(env, argv[5], &out_height) || width <= 0 || height <= 0 || out_width < width || out_height < height ||
      (size_t)width * 3 > INT32_MAX / (size_t)height || n_pixels < (size_t)width * (size_t)height * 3 || n_out < (size_t)out_width * (size_t)out_height * 3) {
    napi_throw_error(env, NULL, "posterscope native enlarge: bad arguments");
    return NULL;
  }
  const double hscale = 1 / ((double)width / out_width);
  const double vscale = 1 / ((double)height / out_height);
  const double inverse = 1 / (hscale * vscale);
  const double ia = inverse * vscale;
  const double id = inverse * hscale;
  const size_t stride = (size_t)width * 3;
  const size_t n = (size_t)out_width * 3;
  /* Per output column: the byte offsets of its two source pixels, and the x fraction (of 4096) for each channel;
     then two gathered rows (below). */
  int32_t *memory = malloc((size_t)out_width * 2 * sizeof(int32_t) + n * 5 * sizeof(int32_t));
  if (!memory) {
    napi_throw_error(env, NULL, "posterscope native enlarge: out of memory");
    return NULL;
  }
  int32_t *left = memory, *right = memory + out_width;
  int32_t *xf3 = memory + 2 * (size_t)out_width;
  {
    double x = 0.5;
    for (int32_t o = 0; o < out_width; o++, x += ia) {
      const double whole = trunc(x);
      xf3[o * 3] = xf3[o * 3 + 1] = xf3[o * 3 + 2] = (int32_t)trunc((x - whole) * 4096);
      left[o] = clamp(whole - 1, width - 1) * 3;
      right[o] = clamp(whole, width - 1) * 3;
    }
  }
  /*
   * Each source row is gathered once into per-column arrays (a: the left
   * pixel, b: the right one, as int32); the blend of two gathered rows is then
   * a straight loop over the output row, which the compiler vectorises.
   * Enlarging, consecutive output rows share source rows: two slots suffice.
   */
  int32_t *slot_a[2] = {xf3 + n, xf3 + 2 * n};
  int32_t *slot_b[2] = {xf3 + 3 * n, xf3 + 4 * n};
  int32_t slot_row[2] = {-1, -1};
  for (int32_t oy = 0; oy < out_height; oy++) {
    const double y = id * oy + 0.5;
    const double whole = trunc(y);
    const int32_t yfraction = (int32_t)trunc((y - whole) * 4096);
    const int32_t rows[2] = {clamp(whole - 1, height - 1) * (int32_t)stride, clamp(whole, height - 1) * (int32_t)stride};
    int32_t at[2];
    for (int i = 0; i < 2; i++) {
      const int32_t row = rows[i];
      int32_t s = slot_row[0] == row ? 0 : slot_row[1] == row ? 1 : -1;
      if (s < 0) {
        /* Not gathered yet: take the slot the other row of this pair does not need. */
        s = i == 1 && slot_row[0] == rows[0] ? 1 : 0;
        gather_row(pixels + row, left, right, out_width, slot_a[s], slot_b[s]);
        slot_row[s] = row;
      }
      at[i] = s;
    }
    blend_rows(slot_a[at[0]], slot_b[at[0]], slot_a[at[1]], slot_b[at[1]], xf3, yfraction, out + (size_t)oy * n, (int32_t)n);
  }
  free(memory);
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

/* libvips' subpixel steps and fixed-point weights (VIPS_TRANSFORM_SCALE, VIPS_INTERPOLATE_SHIFT). */
#define SUBPIXELS 64
#define FIXED_ONE 4096
/* Shrinking by at most 1.5x: 2 * 1.5 + 1 taps. */
#define MAX_POINTS 4

/* One of libvips reducev's linear masks: its non-zero fixed-point weights and the tap index of the first. */
typedef struct {
  int first, count;
  int32_t weights[MAX_POINTS];
} taps_t;

/* views.ts's linearMasks: one mask per 1/64 pixel offset, zero taps dropped. */
static void linear_masks(double shrink, int points, taps_t masks[SUBPIXELS + 1]) {
  for (int t = 0; t <= SUBPIXELS; t++) {
    const double half = (double)(float)((double)t / SUBPIXELS) + (double)points / 2 - 1;
    double weights[MAX_POINTS];
    double sum = 0;
    for (int i = 0; i < points; i++) {
      const double d = fabs((i - half) / shrink);
      weights[i] = d < 1 ? 1 - d : 0;
      sum += weights[i];
    }
    int32_t fixed[MAX_POINTS];
    for (int i = 0; i < points; i++) fixed[i] = (int32_t)trunc((weights[i] / sum) * FIXED_ONE);
    int first = 0, last = points - 1;
    while (first < last && fixed[first] == 0) first++;
    while (last > first && fixed[last] == 0) last--;
    masks[t].first = first;
    masks[t].count = last - first + 1;
    for (int i = 0; i < masks[t].count; i++) masks[t].weights[i] = fixed[first + i];
  }
}

/*
 * reduceRows(pixels, width, height, out, outHeight): RGB rows shrunk from
 * height to outHeight (by 1.5x at most) with views.ts's reducePlan: per
 * output row, four source rows (edges repeated) and their weights.
 */
static napi_value reduce_rows(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *pixels, *out;
  size_t n_pixels, n_out;
  int32_t width, height, out_height;
  if (argc != 5 || !typed(env, argv[0], napi_uint8_array, (void **)&pixels, &n_pixels) || !integer(env, argv[1], &width) ||
      !integer(env, argv[2], &height) || !typed(env, argv[3], napi_uint8_array, (void **)&out, &n_out) || !integer(env, argv[4], &out_height) ||
      width <= 0 || out_height <= 0 || height <= out_height || 2 * (int64_t)height > 3 * (int64_t)out_height ||
      (size_t)width * 3 > INT32_MAX / (size_t)height || n_pixels < (size_t)width * (size_t)height * 3 ||
      n_out < (size_t)width * (size_t)out_height * 3) {
    napi_throw_error(env, NULL, "posterscope native reduceRows: bad arguments");
    return NULL;
  }
  const double shrink = (double)height / out_height;
  const int points = (int)ceil(2 * shrink) + 1;
  if (points > MAX_POINTS) {
    napi_throw_error(env, NULL, "posterscope native reduceRows: bad arguments");
    return NULL;
  }
  taps_t masks[SUBPIXELS + 1];
  linear_masks(shrink, points, masks);
  const int pad = (int)ceil((double)points / 2) - 1;
  const int32_t stride = width * 3;
  const double extra = out_height * shrink - height;
  const double offset = (1 + extra) / 2 - 0.5;
  double y = 0.5 * shrink - 0.5 - offset;
  for (int32_t o = 0; o < out_height; o++, y += shrink) {
    const taps_t *m = &masks[((to_int32(y * SUBPIXELS * 2) & (SUBPIXELS * 2 - 1)) + 1) >> 1];
    const double top = trunc(y) + m->first - pad;
    /* Masks with fewer taps are padded with zero weights on their last row (a zero tap adds nothing). */
    int32_t rows[MAX_POINTS] = {0}, weights[MAX_POINTS] = {0};
    for (int i = 0; i < points; i++) {
      rows[i] = clamp(top + (i < m->count - 1 ? i : m->count - 1), height - 1) * stride;
      weights[i] = i < m->count ? m->weights[i] : 0;
    }
    reduce_row4(pixels, rows, weights, out + (size_t)o * stride, stride);
  }
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
