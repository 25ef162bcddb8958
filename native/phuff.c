/*
 * A faster entropy decoder for progressive JPEGs, put in libjpeg-turbo's
 * place for the scans of one decode (see phuff.h). Every ../shared poster is
 * progressive, and libjpeg-turbo 2.1's progressive Huffman decoder
 * (jdphuff.c) took about three quarters of a poster's decode. Most of it
 * went to refinement scans: each band is walked coefficient by coefficient
 * to find the nonzero ones, and each correction bit is a branch the CPU
 * cannot predict. Here each block's nonzero coefficients are a 64-bit mask,
 * correction bits are applied without branches, the bit reader stays in
 * registers and refills 8 bytes at a time where no 0xFF is among them, and
 * most codes are looked up with the bits that follow them at once.
 *
 * It fills the coefficient blocks exactly as libjpeg-turbo's jdphuff.c does
 * (same order, same arithmetic, its own zigzag table), and keeps the
 * library's progression table (coef_bits), so the pixels that libjpeg then
 * makes are the same. Wherever libjpeg would warn, fail, or behave in a way
 * not copied here (restart markers, bits past the end of the data, bad
 * tables or codes), it gives up at once: the caller starts over with
 * libjpeg's own decoder.
 */
#define JPEG_INTERNALS
#include <limits.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>

#include "phuff.h"

#define FAST_BITS 9

/* Zigzag position to natural (row-major) position: libjpeg's jpeg_natural_order, as bytes (posterscope_phuff_usable checks). */
static const uint8_t natural[64] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

/* One Huffman table, derived for decoding. */
struct table {
  /* By the next FAST_BITS bits: (code length << 8) | symbol, or 0 when the code is longer. */
  uint16_t fast[1 << FAST_BITS];
  /* AC tables only, by the same bits: the whole coefficient when the code and its value bits fit (see derive). */
  int32_t ac[1 << FAST_BITS];
  /* AC tables only, for refinement scans: a new coefficient's code with its sign bit, or a ZRL (see derive). */
  int32_t refine[1 << FAST_BITS];
  int32_t maxcode[18]; /* the largest code of each length, -1 when none */
  int32_t valoffset[17];
  uint8_t values[256];
};

/* The bit reader: kept in locals while an MCU is decoded, so the compiler holds it in registers. */
struct bits {
  const uint8_t *next, *end;
  uint64_t buf; /* the next bits, from the top */
  int count;    /* how many of them are there */
  int zeros;    /* how many of the last ones are zeros made up past a marker */
  int stopped;  /* a marker was met: no more bytes */
};

struct decoder {
  struct jpeg_entropy_decoder pub;
  jmp_buf *bail;         /* the caller's: longjmp here to give up */
  volatile int *gave_up; /* and this is set first */
  struct bits in;
  unsigned eobrun; /* blocks left in the current end-of-band run */
  unsigned mcus;   /* MCUs left in the scan */
  int last_dc[MAX_COMPS_IN_SCAN];
  struct table *dc[NUM_HUFF_TBLS], *ac_tables[NUM_HUFF_TBLS];
  struct table *ac; /* the active table of an AC scan */
  /*
   * By component and block (row by row, as an AC scan meets them): which
   * zigzag positions hold a nonzero coefficient. Refinement scans read these
   * instead of the blocks.
   */
  uint64_t *masks[MAX_COMPONENTS];
  uint64_t *mask;  /* the scan's component's */
  unsigned index;  /* the scan's block */
};

static void give_up(struct decoder *d) {
  *d->gave_up = 1;
  longjmp(*d->bail, 1);
}

/* Top up to more than 56 bits. libjpeg's rules: 0xFF 0x00 is a 0xFF byte; 0xFF fill bytes are skipped; any other marker stops the data, and zeros stand in after it. */
static void refill_slow(j_decompress_ptr cinfo, struct decoder *d) {
  struct bits *b = &d->in;
  while (b->count <= 56) {
    uint64_t c = 0;
    if (!b->stopped) {
      if (b->next >= b->end) give_up(d); /* libjpeg would warn: premature end of file */
      c = *b->next++;
      if (c == 0xFF) {
        int m;
        do {
          if (b->next >= b->end) give_up(d);
          m = *b->next++;
        } while (m == 0xFF);
        if (m != 0) {
          cinfo->unread_marker = m;
          b->stopped = 1;
          c = 0;
          b->zeros += 8;
        }
      }
    } else {
      b->zeros += 8;
    }
    b->buf |= c << (56 - b->count);
    b->count += 8;
  }
}

/* At least need (1..32) bits in the buffer: when fewer, it is topped up to more than 56. */
static inline void refill(j_decompress_ptr cinfo, struct decoder *d, struct bits *b, int need) {
  if (b->count >= need) return;
  /* The common case: the next 8 bytes are plain data. */
  if (!b->stopped && b->end - b->next >= 8) {
    uint64_t word;
    memcpy(&word, b->next, 8);
    /* Any 0xFF byte among them? (has-zero-byte test on the complement) */
    uint64_t inverse = ~word;
    if (((inverse - 0x0101010101010101ULL) & ~inverse & 0x8080808080808080ULL) == 0) {
      word = __builtin_bswap64(word);
      int take = (64 - b->count) >> 3; /* whole bytes that fit: at least one */
      b->buf |= (word >> (64 - take * 8)) << (64 - take * 8 - b->count);
      b->next += take;
      b->count += take * 8;
      return;
    }
  }
  d->in = *b;
  refill_slow(cinfo, d);
  *b = d->in;
}

static inline uint32_t peek(struct bits *b, int n) { return (uint32_t)(b->buf >> (64 - n)); }
static inline void skip(struct bits *b, int n) {
  b->buf <<= n;
  b->count -= n;
}
/* n in 1..32 bits; the caller has refilled. */
static inline uint32_t take(struct bits *b, int n) {
  uint32_t v = peek(b, n);
  skip(b, n);
  return v;
}

static inline int extend(uint32_t v, int s) { return v < (1u << (s - 1)) ? (int)v + (int)(((unsigned)-1 << s) + 1) : (int)v; }

/* The next symbol; at least 16 bits must be in the buffer. */
static inline int symbol(struct decoder *d, struct bits *b, const struct table *t) {
  unsigned e = t->fast[peek(b, FAST_BITS)];
  if (e) {
    skip(b, (int)(e >> 8));
    return (int)(e & 0xFF);
  }
  uint32_t code = peek(b, 16);
  for (int l = FAST_BITS + 1; l <= 16; l++) {
    int32_t c = (int32_t)(code >> (16 - l));
    if (c <= t->maxcode[l]) {
      skip(b, l);
      return t->values[(c + t->valoffset[l]) & 0xFF];
    }
  }
  give_up(d); /* libjpeg warns: bad Huffman code */
  return 0;
}

/* Made as jpeg_make_d_derived_tbl checks: gives up where it fails. */
static struct table *derive(j_decompress_ptr cinfo, struct decoder *d, int dc, int number) {
  if (number < 0 || number >= NUM_HUFF_TBLS) give_up(d);
  JHUFF_TBL *h = dc ? cinfo->dc_huff_tbl_ptrs[number] : cinfo->ac_huff_tbl_ptrs[number];
  if (h == NULL) give_up(d); /* libjpeg would use a standard table or fail: not copied */
  struct table **slot = dc ? &d->dc[number] : &d->ac_tables[number];
  if (*slot == NULL) *slot = (*cinfo->mem->alloc_small)((j_common_ptr)cinfo, JPOOL_IMAGE, sizeof(struct table));
  struct table *t = *slot;
  memset(t->fast, 0, sizeof t->fast);
  int total = 0;
  for (int l = 1; l <= 16; l++) total += h->bits[l];
  if (total > 256) give_up(d);
  memcpy(t->values, h->huffval, 256);
  int32_t code = 0;
  int k = 0;
  for (int l = 1; l <= 16; l++) {
    int n = h->bits[l];
    if (n) {
      t->valoffset[l] = k - code;
      code += n;
      k += n;
      t->maxcode[l] = code - 1;
    } else {
      t->maxcode[l] = -1;
    }
    if (code > (1 << l)) give_up(d); /* more codes than fit */
    code <<= 1;
  }
  t->maxcode[17] = INT32_MAX;
  if (dc)
    for (int i = 0; i < total; i++)
      if (t->values[i] > 15) give_up(d);
  /* The fast table. */
  code = 0;
  k = 0;
  for (int l = 1; l <= 16; l++) {
    for (int i = 0; i < h->bits[l]; i++, k++, code++) {
      if (l <= FAST_BITS) {
        int shift = FAST_BITS - l;
        for (int j = 0; j < (1 << shift); j++) t->fast[(code << shift) | j] = (uint16_t)((l << 8) | t->values[k]);
      }
    }
    code <<= 1;
  }
  /*
   * AC first scans: by the next FAST_BITS bits, a code for a coefficient of
   * size s after a run r whose value bits also fit is decoded at once:
   * (value << 16) | (r << 8) | (code length + s), or 0 for anything else.
   */
  if (!dc) {
    for (int i = 0; i < (1 << FAST_BITS); i++) {
      unsigned e = t->fast[i];
      t->ac[i] = 0;
      if (!e) continue;
      int l = (int)(e >> 8), rs = (int)(e & 0xFF), r = rs >> 4, s = rs & 15;
      if (s == 0 || l + s > FAST_BITS) continue;
      uint32_t v = ((uint32_t)i >> (FAST_BITS - l - s)) & ((1u << s) - 1);
      t->ac[i] = (int32_t)((uint32_t)extend(v, s) << 16) | (r << 8) | (l + s);
    }
    /*
     * Refinement scans: by the next FAST_BITS bits, (code length + sign bit)
     * | (r << 8) | 0x1000, with 0x2000 when the sign bit says positive, for a
     * new coefficient (size 1) after r zeros; (code length) | (15 << 8) for a
     * ZRL; 0 for anything else (end-of-band runs, long codes, bad sizes).
     */
    for (int i = 0; i < (1 << FAST_BITS); i++) {
      unsigned e = t->fast[i];
      t->refine[i] = 0;
      if (!e) continue;
      int l = (int)(e >> 8), rs = (int)(e & 0xFF);
      if (rs == 0xF0) {
        t->refine[i] = l | (15 << 8);
      } else if ((rs & 15) == 1 && l < FAST_BITS) {
        int positive = (i >> (FAST_BITS - l - 1)) & 1;
        t->refine[i] = (l + 1) | ((rs >> 4) << 8) | 0x1000 | (positive << 13);
      }
    }
  }
  return t;
}

/* Every MCU ends here, with the reader's state kept: bits past a marker used, or the scan over. */
static inline boolean end_mcu(j_decompress_ptr cinfo, struct decoder *d, const struct bits *in) {
  d->in = *in;
  if (d->in.count < d->in.zeros) give_up(d); /* libjpeg warns: corrupt data, hit a marker */
  if (d->mcus == 0) give_up(d);
  d->index++;
  if (--d->mcus == 0) {
    /*
     * The scan is over. Whole bytes it did not need: libjpeg may or may not
     * have read them, and warns when it did not. Else what follows must be
     * the next marker, as libjpeg's reader finds it.
     */
    if (d->in.count - d->in.zeros >= 8) give_up(d);
    if (cinfo->unread_marker == 0) {
      const uint8_t *p = d->in.next;
      if (p >= d->in.end || *p != 0xFF) give_up(d);
      while (p < d->in.end && *p == 0xFF) p++;
      if (p >= d->in.end || *p == 0) give_up(d);
    }
    cinfo->src->next_input_byte = d->in.next;
    cinfo->src->bytes_in_buffer = (size_t)(d->in.end - d->in.next);
  }
  return TRUE;
}

static boolean dc_first(j_decompress_ptr cinfo, JBLOCKROW *blocks) {
  struct decoder *d = (struct decoder *)cinfo->entropy;
  struct bits in = d->in;
  int al = cinfo->Al;
  for (int b = 0; b < cinfo->blocks_in_MCU; b++) {
    int ci = cinfo->MCU_membership[b];
    const struct table *t = d->dc[cinfo->cur_comp_info[ci]->dc_tbl_no];
    refill(cinfo, d, &in, 16);
    int s = symbol(d, &in, t);
    if (s) {
      refill(cinfo, d, &in, s);
      s = extend(take(&in, s), s);
    }
    int last = d->last_dc[ci];
    if ((last >= 0 && s > INT_MAX - last) || (last < 0 && s < INT_MIN - last)) give_up(d);
    s += last;
    d->last_dc[ci] = s;
    (*blocks[b])[0] = (JCOEF)(int)((unsigned)s << al);
  }
  return end_mcu(cinfo, d, &in);
}

static boolean dc_refine(j_decompress_ptr cinfo, JBLOCKROW *blocks) {
  struct decoder *d = (struct decoder *)cinfo->entropy;
  struct bits in = d->in;
  int p1 = 1 << cinfo->Al;
  for (int b = 0; b < cinfo->blocks_in_MCU; b++) {
    refill(cinfo, d, &in, 1);
    if (take(&in, 1)) (*blocks[b])[0] |= p1;
  }
  return end_mcu(cinfo, d, &in);
}

static boolean ac_first(j_decompress_ptr cinfo, JBLOCKROW *blocks) {
  struct decoder *d = (struct decoder *)cinfo->entropy;
  struct bits in = d->in;
  if (d->eobrun > 0) {
    d->eobrun--;
  } else {
    const int se = cinfo->Se, al = cinfo->Al;
    const struct table *t = d->ac;
    JCOEF *block = *blocks[0];
    uint64_t nonzero = d->mask[d->index];
    for (int k = cinfo->Ss; k <= se; k++) {
      refill(cinfo, d, &in, 16);
      int32_t e = t->ac[peek(&in, FAST_BITS)];
      if (e) {
        skip(&in, e & 0xFF);
        k += (e >> 8) & 0xFF;
        if (k > se) give_up(d); /* past the band: not copied */
        JCOEF v = (JCOEF)(int)((unsigned)(e >> 16) << al);
        block[natural[k]] = v;
        nonzero |= (uint64_t)(v != 0) << k;
        continue;
      }
      int s = symbol(d, &in, t);
      int r = s >> 4;
      s &= 15;
      if (s) {
        k += r;
        if (k > se) give_up(d);
        refill(cinfo, d, &in, s);
        s = extend(take(&in, s), s);
        JCOEF v = (JCOEF)(int)((unsigned)s << al);
        block[natural[k]] = v;
        nonzero |= (uint64_t)(v != 0) << k;
      } else if (r == 15) {
        k += 15;
      } else {
        unsigned run = 1u << r;
        if (r) {
          refill(cinfo, d, &in, r);
          run += take(&in, r);
        }
        d->eobrun = run - 1;
        break;
      }
    }
    d->mask[d->index] = nonzero;
  }
  return end_mcu(cinfo, d, &in);
}

/* Bits lo..hi (hi <= 63) of a mask. */
static inline uint64_t span(int lo, int hi) {
  if (lo > hi) return 0;
  return (~0ULL >> (63 - hi)) & (~0ULL << lo);
}

/*
 * Correction bits for the nonzero coefficients at the zigzag positions in
 * which, lowest first: a bit 1 moves the coefficient's magnitude up by p1,
 * unless that bit is already set (libjpeg's rule). Without branches: the
 * bits are as good as random, and a mispredicted branch per bit cost more
 * than the rest of the work.
 */
static inline void correct(j_decompress_ptr cinfo, struct decoder *d, struct bits *b, JCOEF *block, uint64_t which, int p1) {
  while (which) {
    refill(cinfo, d, b, 32);
    uint32_t bits = peek(b, 32);
    int used = 0;
    do {
      JCOEF *c = block + natural[__builtin_ctzll(which)];
      which &= which - 1;
      int v = *c, sign = v >> 31;
      int apply = (int)((bits >> (31 - used)) & 1) & ((v & p1) == 0);
      *c = (JCOEF)(v + (((p1 ^ sign) - sign) & -apply));
      used++;
    } while (which && used < 32);
    skip(b, used);
  }
}

/*
 * A successive-approximation AC scan, as jdphuff.c's decode_mcu_AC_refine,
 * but the coefficients already nonzero are found from the block's mask, not
 * by reading each of the band's coefficients.
 */
static boolean ac_refine(j_decompress_ptr cinfo, JBLOCKROW *blocks) {
  struct decoder *d = (struct decoder *)cinfo->entropy;
  struct bits in = d->in;
  const int se = cinfo->Se;
  const int p1 = 1 << cinfo->Al, m1 = (int)((unsigned)-1 << cinfo->Al);
  const struct table *t = d->ac;
  JCOEF *block = *blocks[0];
  uint64_t nonzero = d->mask[d->index];
  int k = cinfo->Ss;
  if (d->eobrun == 0) {
    for (; k <= se; k++) {
      refill(cinfo, d, &in, 16);
      int32_t e = t->refine[peek(&in, FAST_BITS)];
      int r, s;
      if (e) {
        skip(&in, e & 0xFF);
        r = (e >> 8) & 15;
        s = e & 0x1000 ? (e & 0x2000 ? p1 : m1) : 0;
      } else {
        s = symbol(d, &in, t);
        r = s >> 4;
        s &= 15;
        if (s) {
          if (s != 1) give_up(d); /* libjpeg warns: bad Huffman code */
          refill(cinfo, d, &in, 1);
          s = take(&in, 1) ? p1 : m1;
        } else if (r != 15) {
          d->eobrun = 1u << r;
          if (r) {
            refill(cinfo, d, &in, r);
            d->eobrun += take(&in, r);
          }
          break;
        }
      }
      /* Past r zero coefficients to the next zero one, correcting the nonzero ones on the way. */
      uint64_t zeros = ~nonzero & span(k, se);
      for (; r > 0 && zeros; r--) zeros &= zeros - 1;
      int target = zeros ? __builtin_ctzll(zeros) : se + 1;
      correct(cinfo, d, &in, block, nonzero & span(k, target - 1), p1);
      k = target;
      if (s) {
        if (k > se) give_up(d); /* past the band: libjpeg writes coefficient 63; not copied */
        block[natural[k]] = (JCOEF)s;
        nonzero |= 1ULL << k;
      }
    }
  }
  if (d->eobrun > 0) {
    if (k <= se) correct(cinfo, d, &in, block, nonzero & span(k, se), p1);
    d->eobrun--;
  }
  d->mask[d->index] = nonzero;
  return end_mcu(cinfo, d, &in);
}

/* jdphuff.c's start_pass, with its checks: a bad or bogus progression (an error or a warning there) gives up. */
static void begin_scan(j_decompress_ptr cinfo, struct decoder *d, int progression) {
  int dc = cinfo->Ss == 0;
  if (cinfo->restart_interval != 0) give_up(d); /* restarts: not copied */
  if (dc ? cinfo->Se != 0 : (cinfo->Ss > cinfo->Se || cinfo->Se >= DCTSIZE2 || cinfo->comps_in_scan != 1)) give_up(d);
  if ((cinfo->Ah != 0 && cinfo->Al != cinfo->Ah - 1) || cinfo->Al > 13) give_up(d);
  if (progression) {
    for (int ci = 0; ci < cinfo->comps_in_scan; ci++) {
      int *bits = cinfo->coef_bits[cinfo->cur_comp_info[ci]->component_index];
      if (!dc && bits[0] < 0) give_up(d);
      for (int k = cinfo->Ss; k <= cinfo->Se; k++) {
        if (cinfo->Ah != (bits[k] < 0 ? 0 : bits[k])) give_up(d);
        bits[k] = cinfo->Al;
      }
    }
  }
  d->pub.decode_mcu = cinfo->Ah == 0 ? (dc ? dc_first : ac_first) : (dc ? dc_refine : ac_refine);
  for (int ci = 0; ci < cinfo->comps_in_scan; ci++) {
    jpeg_component_info *comp = cinfo->cur_comp_info[ci];
    if (dc) {
      if (cinfo->Ah == 0) derive(cinfo, d, 1, comp->dc_tbl_no);
    } else {
      d->ac = derive(cinfo, d, 0, comp->ac_tbl_no);
      d->mask = d->masks[comp->component_index];
      if ((JDIMENSION)cinfo->MCUs_per_row != comp->width_in_blocks || (JDIMENSION)cinfo->MCU_rows_in_scan != comp->height_in_blocks) give_up(d);
    }
    d->last_dc[ci] = 0;
  }
  d->in.buf = 0;
  d->in.count = 0;
  d->in.zeros = 0;
  d->in.stopped = 0;
  d->eobrun = 0;
  d->pub.insufficient_data = FALSE;
  d->in.next = cinfo->src->next_input_byte;
  d->in.end = d->in.next + cinfo->src->bytes_in_buffer;
  d->mcus = cinfo->MCUs_per_row * cinfo->MCU_rows_in_scan;
  d->index = 0;
  if (d->mcus == 0) give_up(d);
}

static void start_pass(j_decompress_ptr cinfo) { begin_scan(cinfo, (struct decoder *)cinfo->entropy, 1); }

int posterscope_phuff_usable(void) {
  /* Never false with libjpeg-turbo: its zigzag table is the standard's. */
  for (int k = 0; k < DCTSIZE2; k++)
    if (natural[k] != jpeg_natural_order[k]) return 0;
  return 1;
}

void posterscope_phuff_install(j_decompress_ptr cinfo, jmp_buf *bail, volatile int *gave_up) {
  struct decoder *d = (*cinfo->mem->alloc_small)((j_common_ptr)cinfo, JPOOL_IMAGE, sizeof(struct decoder));
  memset(d, 0, sizeof *d);
  d->bail = bail;
  d->gave_up = gave_up;
  if (cinfo->num_components > MAX_COMPONENTS) give_up(d);
  for (int ci = 0; ci < cinfo->num_components; ci++) {
    size_t n = (size_t)cinfo->comp_info[ci].width_in_blocks * cinfo->comp_info[ci].height_in_blocks;
    d->masks[ci] = (*cinfo->mem->alloc_large)((j_common_ptr)cinfo, JPOOL_IMAGE, n * sizeof(uint64_t));
    memset(d->masks[ci], 0, n * sizeof(uint64_t));
  }
  d->pub.start_pass = start_pass;
  /* libjpeg has begun the first scan (and marked its progression): begin it again here. */
  begin_scan(cinfo, d, 0);
  cinfo->entropy = &d->pub;
}
