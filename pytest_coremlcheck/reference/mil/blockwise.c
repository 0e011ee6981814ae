/* Block-wise quantised weights (MIL constexpr_blockwise_shift_scale), decoded one row at a
 * time and, for a few input rows, multiplied in the same pass (see kernel.py).
 *
 * Weight: `rows` x `cols` integers `q` (4-bit, two per byte, low nibble first; or 8-bit),
 * signed (two's complement) or unsigned; per block a scale `s` (fp16 bits or float32) and an
 * optional integer offset `o` (float32), on a grid of `srows` x `scols` blocks:
 *     w[r, c] = (q[r, c] - o[b]) * s[b],  b = (r / (rows / srows), c / (cols / scols)),
 * computed in float32 (exact: q - o has at most 9 bits, an fp16 scale 11), then rounded to
 * fp16 (round to nearest, ties to even, overflow to infinity) when `round16` is set.
 */
#include <stdint.h>
#include <string.h>
#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

static float bits_to_float(uint32_t bits) {
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* IEEE half-precision bits to float (exact). */
static float half_to_float(uint16_t half) {
    uint32_t sign = (uint32_t)(half & 0x8000u) << 16;
    uint32_t exponent = (half >> 10) & 0x1fu, mantissa = half & 0x3ffu;
    if (exponent == 0) {
        float magnitude = (float)mantissa * 5.9604644775390625e-8f; /* 2^-24 */
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 31)
        return bits_to_float(sign | 0x7f800000u | (mantissa << 13));
    return bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

/* `value` rounded to the nearest fp16 value (ties to even), as float. Below 2^-14 the fp16
 * grid is 2^-24: (v + 0.75) - 0.75 rounds there, 0.75 having an ulp of 2^-24. From 2^-14 on,
 * the float mantissa is rounded to 10 bits; 65520 and above round to infinity. */
#if defined(__F16C__)
static inline float round_to_half(float value) { return _cvtsh_ss(_cvtss_sh(value, 0)); }
#elif defined(__FLT16_MAX__) && !defined(__x86_64__)
static inline float round_to_half(float value) { return (float)(_Float16)value; }
#else
static inline float round_to_half(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    uint32_t sign = bits & 0x80000000u, magnitude = bits ^ sign;
    uint32_t normal = ((magnitude + 0x0fffu + ((magnitude >> 13) & 1u)) & 0xffffe000u) | sign;
    if (magnitude >= 0x477ff000u)
        normal = magnitude > 0x7f800000u ? bits : (sign | 0x7f800000u);
    float subnormal = (value + 0.75f) - 0.75f;
    uint32_t subnormal_bits;
    memcpy(&subnormal_bits, &subnormal, sizeof subnormal_bits);
    return bits_to_float(magnitude < 0x38800000u ? (subnormal_bits | sign) : normal);
}
#endif

typedef struct {
    const uint8_t *data;
    int64_t rows, cols;
    int32_t nbits, is_signed, scale_half, round16;
    const void *scale;
    const float *offset; /* NULL: no offset */
    int64_t srows, scols;
} cmlc_weight;

/* The integers of row `r` as floats, into `out[cols]`. */
static void unpack_row(const cmlc_weight *w, int64_t r, float *restrict out) {
    if (w->nbits == 4) {
        const uint8_t *bytes = w->data + r * (w->cols / 2);
        int64_t pairs = w->cols / 2;
        if (w->is_signed) {
            for (int64_t j = 0; j < pairs; j++) {
                int32_t byte = bytes[j];
                out[2 * j] = (float)(((byte & 15) ^ 8) - 8);
                out[2 * j + 1] = (float)(((byte >> 4) ^ 8) - 8);
            }
        } else {
            for (int64_t j = 0; j < pairs; j++) {
                int32_t byte = bytes[j];
                out[2 * j] = (float)(byte & 15);
                out[2 * j + 1] = (float)(byte >> 4);
            }
        }
    } else {
        const uint8_t *bytes = w->data + r * w->cols;
        if (w->is_signed) {
            const int8_t *values = (const int8_t *)bytes;
            for (int64_t c = 0; c < w->cols; c++) out[c] = (float)values[c];
        } else {
            for (int64_t c = 0; c < w->cols; c++) out[c] = (float)bytes[c];
        }
    }
}

/* Row `r` of the decoded weight into `out[cols]`. */
static void decode_row(const cmlc_weight *w, int64_t r, float *restrict out) {
    unpack_row(w, r, out);
    int64_t block_row = r / (w->rows / w->srows), width = w->cols / w->scols;
    for (int64_t b = 0; b < w->scols; b++) {
        int64_t at = block_row * w->scols + b;
        float scale = w->scale_half ? half_to_float(((const uint16_t *)w->scale)[at])
                                    : ((const float *)w->scale)[at];
        float offset = w->offset ? w->offset[at] : 0.0f;
        float *values = out + b * width;
        if (w->round16) {
            int64_t c = 0;
#if defined(__F16C__) && defined(__AVX__)
            __m256 scales = _mm256_set1_ps(scale), offsets = _mm256_set1_ps(offset);
            for (; c + 8 <= width; c += 8) {
                __m256 value = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(values + c), offsets),
                                             scales);
                __m128i half = _mm256_cvtps_ph(value, _MM_FROUND_TO_NEAREST_INT);
                _mm256_storeu_ps(values + c, _mm256_cvtph_ps(half));
            }
#endif
            for (; c < width; c++)
                values[c] = round_to_half((values[c] - offset) * scale);
        } else {
            for (int64_t c = 0; c < width; c++) values[c] = (values[c] - offset) * scale;
        }
    }
}

#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#define CMLC_GROUP 4
/* 8 weights from 8 integers (int32 lanes): (q - offset) * scale, fp16-rounded if asked. */
static inline __attribute__((always_inline)) __m256 scale8(
        __m256i q, const int has_offset, __m256 offset, __m256 scale, const int round16) {
    __m256 integers = _mm256_cvtepi32_ps(q);
    if (has_offset) integers = _mm256_sub_ps(integers, offset);
    __m256 value = _mm256_mul_ps(integers, scale);
    return round16 ? _mm256_cvtph_ps(_mm256_cvtps_ph(value, _MM_FROUND_TO_NEAREST_INT)) : value;
}

/* The integers of 16 consecutive weights as 16 int8 lanes, from 8 bytes (4-bit) or 16. */
static inline __attribute__((always_inline)) __m128i load16(const int nbits, const int is_signed,
                                                            const uint8_t *bytes) {
    if (nbits == 8) return _mm_loadu_si128((const __m128i *)bytes);
    __m128i packed = _mm_loadl_epi64((const __m128i *)bytes), nibble = _mm_set1_epi8(15);
    __m128i low = _mm_and_si128(packed, nibble);
    __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), nibble);
    __m128i values = _mm_unpacklo_epi8(low, high);
    if (is_signed) /* (n ^ 8) - 8 sign-extends a nibble */
        values = _mm_sub_epi8(_mm_xor_si128(values, _mm_set1_epi8(8)), _mm_set1_epi8(8));
    return values;
}

/* The sum of the 16 float32 lanes of `a` and `b`. */
static inline float lane_sum(__m256 a, __m256 b) {
    __m256 sum = _mm256_add_ps(a, b);
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
    return _mm_cvtss_f32(half);
}

/* fp16-rounded 4-bit weights of a block, by table: the block's 16 possible values
 * (q - offset) * scale, rounded to fp16 once per block, as a table of their low bytes and
 * one of their high bytes, indexed by the raw nibble. */
typedef struct {
    __m128i low, high;
} table16;

static inline __attribute__((always_inline)) table16 block_table(
        const int is_signed, const int has_offset, __m256 offset, __m256 scale) {
    __m256 first = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 second = is_signed ? _mm256_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1)
                              : _mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15);
    if (has_offset) {
        first = _mm256_sub_ps(first, offset);
        second = _mm256_sub_ps(second, offset);
    }
    __m128i a = _mm256_cvtps_ph(_mm256_mul_ps(first, scale), _MM_FROUND_TO_NEAREST_INT);
    __m128i b = _mm256_cvtps_ph(_mm256_mul_ps(second, scale), _MM_FROUND_TO_NEAREST_INT);
    const __m128i low_bytes = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1,
                                            -1, -1);
    const __m128i high_bytes = _mm_setr_epi8(1, 3, 5, 7, 9, 11, 13, 15, -1, -1, -1, -1, -1,
                                             -1, -1, -1);
    table16 table;
    table.low = _mm_unpacklo_epi64(_mm_shuffle_epi8(a, low_bytes), _mm_shuffle_epi8(b, low_bytes));
    table.high = _mm_unpacklo_epi64(_mm_shuffle_epi8(a, high_bytes),
                                    _mm_shuffle_epi8(b, high_bytes));
    return table;
}

/* The 32 weights packed in 16 bytes (low nibble first), looked up in `table`, as float32. */
static inline __attribute__((always_inline)) void lookup32(table16 table, const uint8_t *bytes,
                                                           __m256 out[4]) {
    __m128i packed = _mm_loadu_si128((const __m128i *)bytes), nibble = _mm_set1_epi8(15);
    __m128i even = _mm_and_si128(packed, nibble);
    __m128i odd = _mm_and_si128(_mm_srli_epi16(packed, 4), nibble);
    __m128i even_low = _mm_shuffle_epi8(table.low, even), even_high = _mm_shuffle_epi8(table.high, even);
    __m128i odd_low = _mm_shuffle_epi8(table.low, odd), odd_high = _mm_shuffle_epi8(table.high, odd);
    __m128i even_a = _mm_unpacklo_epi8(even_low, even_high);  /* weights 0, 2, ..., 14 */
    __m128i even_b = _mm_unpackhi_epi8(even_low, even_high);  /* 16, 18, ..., 30 */
    __m128i odd_a = _mm_unpacklo_epi8(odd_low, odd_high);     /* 1, 3, ..., 15 */
    __m128i odd_b = _mm_unpackhi_epi8(odd_low, odd_high);     /* 17, ..., 31 */
    out[0] = _mm256_cvtph_ps(_mm_unpacklo_epi16(even_a, odd_a));
    out[1] = _mm256_cvtph_ps(_mm_unpackhi_epi16(even_a, odd_a));
    out[2] = _mm256_cvtph_ps(_mm_unpacklo_epi16(even_b, odd_b));
    out[3] = _mm256_cvtph_ps(_mm_unpackhi_epi16(even_b, odd_b));
}

/* Blocks per row whose tables row_table4 builds before its products (32 bytes each, on the
 * stack); rows with more blocks take the scalar path. */
#define CMLC_MAX_TABLES 1024

/* The tables of the `count` blocks of a row whose scales (and offsets) start at `at`: scales
 * converted 8 at a time, then each table built; independent of one another, so the
 * conversions of successive blocks overlap. */
static inline __attribute__((always_inline)) void row_tables(
        const cmlc_weight *w, int64_t at, int64_t count, const int is_signed,
        const int has_offset, table16 *tables) {
    float scales[8], offsets[8];
    for (int64_t b0 = 0; b0 < count; b0 += 8) {
        int64_t n = count - b0 < 8 ? count - b0 : 8;
        if (w->scale_half && n == 8) {
            _mm256_storeu_ps(scales, _mm256_cvtph_ps(
                _mm_loadu_si128((const __m128i *)((const uint16_t *)w->scale + at + b0))));
        } else {
            for (int64_t j = 0; j < n; j++)
                scales[j] = w->scale_half ? half_to_float(((const uint16_t *)w->scale)[at + b0 + j])
                                          : ((const float *)w->scale)[at + b0 + j];
        }
        for (int64_t j = 0; j < n; j++) offsets[j] = has_offset ? w->offset[at + b0 + j] : 0.0f;
        for (int64_t j = 0; j < n; j++)
            tables[b0 + j] = block_table(is_signed, has_offset, _mm256_broadcast_ss(offsets + j),
                                         _mm256_broadcast_ss(scales + j));
    }
}

/* row_avx2 for fp16-rounded 4-bit weights in blocks of a multiple of 32 columns: the weights
 * come from the block's table (two byte shuffles per 16 weights instead of a rounding), the
 * row's tables built first. */
static inline __attribute__((always_inline)) void row_table4(
        const cmlc_weight *w, int64_t r, const float *x, const int group, const int is_signed,
        const int has_offset, float *sums_out, float *decoded) {
    const int64_t cols = w->cols, width = cols / w->scols;
    const uint8_t *bytes = w->data + r * (cols / 2);
    const int64_t block_row = r / (w->rows / w->srows);
    table16 tables[CMLC_MAX_TABLES];
    row_tables(w, block_row * w->scols, w->scols, is_signed, has_offset, tables);
    __m256 sums[CMLC_GROUP], more[CMLC_GROUP];
    for (int k = 0; k < group; k++) sums[k] = more[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < w->scols; b++) {
        table16 table = tables[b];
        for (int64_t c = b * width; c < (b + 1) * width; c += 32) {
            __m256 weights[4];
            lookup32(table, bytes + c / 2, weights);
            if (group == 0)
                for (int j = 0; j < 4; j++) _mm256_storeu_ps(decoded + c + 8 * j, weights[j]);
            for (int k = 0; k < group; k++) {
                const float *row = x + k * cols + c;
                sums[k] = _mm256_fmadd_ps(_mm256_loadu_ps(row), weights[0], sums[k]);
                more[k] = _mm256_fmadd_ps(_mm256_loadu_ps(row + 8), weights[1], more[k]);
                sums[k] = _mm256_fmadd_ps(_mm256_loadu_ps(row + 16), weights[2], sums[k]);
                more[k] = _mm256_fmadd_ps(_mm256_loadu_ps(row + 24), weights[3], more[k]);
            }
        }
    }
    for (int k = 0; k < group; k++) sums_out[k] = lane_sum(sums[k], more[k]);
}

/* Row r of y for `group` input rows (a constant after inlining, so the sums stay in
 * registers): the weight is decoded in registers, 16 values at a time, and multiplied into
 * 8 float32 lanes per input row; with `group` 0, the decoded row is stored into `decoded`.
 * Needs blocks of a multiple of 16 columns. */
static inline __attribute__((always_inline)) void row_avx2(
        const cmlc_weight *w, int64_t r, const float *x, const int group, const int nbits,
        const int is_signed, const int round16, const int has_offset, float *sums_out,
        float *decoded) {
    const int64_t cols = w->cols, width = cols / w->scols;
    if (nbits == 4 && round16 && width % 32 == 0 && w->scols <= CMLC_MAX_TABLES) {
        row_table4(w, r, x, group, is_signed, has_offset, sums_out, decoded);
        return;
    }
    const int wide_signed = is_signed || nbits == 4;
    const uint8_t *bytes = w->data + r * (cols * nbits / 8);
    const int64_t block_row = r / (w->rows / w->srows);
    __m256 sums[CMLC_GROUP], more[CMLC_GROUP]; /* two chains of additions per input row */
    for (int k = 0; k < group; k++) sums[k] = more[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < w->scols; b++) {
        int64_t at = block_row * w->scols + b;
        float scale_value = w->scale_half ? half_to_float(((const uint16_t *)w->scale)[at])
                                          : ((const float *)w->scale)[at];
        __m256 scale = _mm256_set1_ps(scale_value);
        __m256 offset = _mm256_set1_ps(w->offset ? w->offset[at] : 0.0f);
        for (int64_t c = b * width; c < (b + 1) * width; c += 16) {
            __m128i q = load16(nbits, is_signed, bytes + c * nbits / 8), rest = _mm_srli_si128(q, 8);
            __m256i q0 = wide_signed ? _mm256_cvtepi8_epi32(q) : _mm256_cvtepu8_epi32(q);
            __m256i q1 = wide_signed ? _mm256_cvtepi8_epi32(rest) : _mm256_cvtepu8_epi32(rest);
            __m256 w0 = scale8(q0, has_offset, offset, scale, round16);
            __m256 w1 = scale8(q1, has_offset, offset, scale, round16);
            if (group == 0) {
                _mm256_storeu_ps(decoded + c, w0);
                _mm256_storeu_ps(decoded + c + 8, w1);
            }
            for (int k = 0; k < group; k++) {
                const float *row = x + k * cols + c;
                sums[k] = _mm256_fmadd_ps(_mm256_loadu_ps(row), w0, sums[k]);
                more[k] = _mm256_fmadd_ps(_mm256_loadu_ps(row + 8), w1, more[k]);
            }
        }
    }
    for (int k = 0; k < group; k++) sums_out[k] = lane_sum(sums[k], more[k]);
}

/* The rows of y for one group of input rows, with the weight's format as constants. */
#define CMLC_ROWS(group, nbits, is_signed, round16, has_offset)                              \
    for (int64_t r = 0; r < w->rows; r++) {                                                   \
        row_avx2(w, r, x, group, nbits, is_signed, round16, has_offset, sums, NULL);          \
        for (int64_t k = 0; k < group; k++)                                                   \
            y[k * w->rows + r] = bias ? sums[k] + bias[r] : sums[k];                          \
    }
/* RUN(group, format...) for the weight's format: 4/8 bits, signed, fp16-rounded, offset. */
#define CMLC_SWITCH(RUN, group)                                                               \
    switch (w->nbits * 8 + w->is_signed * 4 + w->round16 * 2 + (w->offset != NULL)) {        \
    case 32 + 0: RUN(group, 4, 0, 0, 0) break;                                                \
    case 32 + 1: RUN(group, 4, 0, 0, 1) break;                                                \
    case 32 + 2: RUN(group, 4, 0, 1, 0) break;                                                \
    case 32 + 3: RUN(group, 4, 0, 1, 1) break;                                                \
    case 32 + 4: RUN(group, 4, 1, 0, 0) break;                                                \
    case 32 + 5: RUN(group, 4, 1, 0, 1) break;                                                \
    case 32 + 6: RUN(group, 4, 1, 1, 0) break;                                                \
    case 32 + 7: RUN(group, 4, 1, 1, 1) break;                                                \
    case 64 + 0: RUN(group, 8, 0, 0, 0) break;                                                \
    case 64 + 1: RUN(group, 8, 0, 0, 1) break;                                                \
    case 64 + 2: RUN(group, 8, 0, 1, 0) break;                                                \
    case 64 + 3: RUN(group, 8, 0, 1, 1) break;                                                \
    case 64 + 4: RUN(group, 8, 1, 0, 0) break;                                                \
    case 64 + 5: RUN(group, 8, 1, 0, 1) break;                                                \
    case 64 + 6: RUN(group, 8, 1, 1, 0) break;                                                \
    default: RUN(group, 8, 1, 1, 1) break;                                                    \
    }
#define CMLC_FORMATS(group) CMLC_SWITCH(CMLC_ROWS, group)
#define CMLC_DECODE(group, nbits, is_signed, round16, has_offset)                            \
    for (int64_t r = start; r < stop; r++)                                                    \
        row_avx2(w, r, NULL, group, nbits, is_signed, round16, has_offset, NULL,              \
                 out + (r - start) * w->cols);

/* Rows [start, stop) decoded into `out`, 16 values at a time. */
static void decode_rows_avx2(const cmlc_weight *w, int64_t start, int64_t stop, float *out) {
    CMLC_SWITCH(CMLC_DECODE, 0)
}

/* y for `group` input rows x (1 to CMLC_GROUP). */
static void rows_avx2(const cmlc_weight *w, const float *x, int64_t group, const float *bias,
                      float *y) {
    float sums[CMLC_GROUP];
    switch (group) {
    case 1: CMLC_FORMATS(1) break;
    case 2: CMLC_FORMATS(2) break;
    case 3: CMLC_FORMATS(3) break;
    default: CMLC_FORMATS(4) break;
    }
}

static void linear_avx2(const cmlc_weight *w, const float *x, int64_t m, const float *bias,
                        float *y) {
    for (int64_t i0 = 0; i0 < m; i0 += CMLC_GROUP)
        rows_avx2(w, x + i0 * w->cols, m - i0 < CMLC_GROUP ? m - i0 : CMLC_GROUP, bias,
                  y + i0 * w->rows);
}
#endif

/* Rows [start, stop) of the decoded weight into `out`, row-major. */
void cmlc_decode_rows(const cmlc_weight *w, int64_t start, int64_t stop, float *out) {
#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
    if ((w->cols / w->scols) % 16 == 0) {
        decode_rows_avx2(w, start, stop, out);
        return;
    }
#endif
    for (int64_t r = start; r < stop; r++) decode_row(w, r, out + (r - start) * w->cols);
}

/* sum_c a[c] * b[c], in 8 float32 lanes (then summed pairwise). */
static float dot(const float *a, const float *b, int64_t count) {
    float lanes[8] = {0};
    int64_t c = 0;
    for (; c + 8 <= count; c += 8)
        for (int k = 0; k < 8; k++) lanes[k] += a[c + k] * b[c + k];
    for (; c < count; c++) lanes[0] += a[c] * b[c];
    return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) +
           ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
}

/* y[i, r] = sum_c x[i, c] * w[r, c] (+ bias[r]) for i < m. `scratch[cols]`: a decoded row
 * where the weight is not decoded in registers. */
void cmlc_linear(const cmlc_weight *w, const float *x, int64_t m, const float *bias,
                 float *y, float *scratch) {
    int64_t cols = w->cols;
#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
    if ((cols / w->scols) % 16 == 0) {
        linear_avx2(w, x, m, bias, y);
        return;
    }
#endif
    for (int64_t r = 0; r < w->rows; r++) {
        decode_row(w, r, scratch);
        for (int64_t i = 0; i < m; i++) {
            float sum = dot(x + i * cols, scratch, cols);
            y[i * w->rows + r] = bias ? sum + bias[r] : sum;
        }
    }
}

/* `source[count]` rounded to fp16 values, into `target` (may be `source`). */
void cmlc_round_to_half(const float *source, float *target, int64_t count) {
    int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
    for (; i + 8 <= count; i += 8) {
        __m128i half = _mm256_cvtps_ph(_mm256_loadu_ps(source + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(target + i, _mm256_cvtph_ps(half));
    }
#endif
    for (; i < count; i++) target[i] = round_to_half(source[i]);
}
