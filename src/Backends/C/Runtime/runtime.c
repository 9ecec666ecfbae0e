/* ---- integer semantics (ArchNet emulator, docs/backends.md) ------------------------------------------------------
 * Compile with IEEE float32 arithmetic and no contraction (-ffp-contract=off, no -ffast-math): the float
 * requantization rounds a float32 product exactly as the emulator does. Right shifts of negative numbers are
 * arithmetic (every mainstream C compiler). */
static inline int64_t an_round(double v)
{
#if AN_ROUNDING == 0
    return (int64_t)rint(v); /* ties to even under the default rounding mode */
#elif AN_ROUNDING == 1
    return (int64_t)round(v); /* ties away from zero */
#else
    return (int64_t)floor(v + 0.5); /* ties towards +infinity */
#endif
}

/* R(p / 2^n) for an exact integer p. */
static inline int64_t an_round_shift(int64_t p, int n)
{
    int64_t fl, rem, half;
    if (n == 0) return p;
    fl = p >> n;
    rem = p & (((int64_t)1 << n) - 1);
    half = (int64_t)1 << (n - 1);
    if (rem > half) return fl + 1;
    if (rem < half) return fl;
#if AN_ROUNDING == 0
    return (fl & 1) ? fl + 1 : fl;
#elif AN_ROUNDING == 1
    return p < 0 ? fl : fl + 1;
#else
    return fl + 1;
#endif
}

static inline int32_t an_sat(int64_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : (int32_t)v; }

static inline int64_t an_sat_acc(int64_t acc)
{
    const int64_t lo = -((int64_t)1 << (AN_ACC_BITS - 1)), hi = ((int64_t)1 << (AN_ACC_BITS - 1)) - 1;
    return acc < lo ? lo : acc > hi ? hi : acc;
}

/* requant(acc) = sat(R(acc * M) + z): M a float32 multiplier, or m * 2^-n. */
static inline int32_t an_requant_f(int64_t acc, float m, int32_t z, int32_t lo, int32_t hi)
{
    float t = (float)an_sat_acc(acc) * m;
    return an_sat(an_round((double)t) + z, lo, hi);
}

static inline int32_t an_requant_i(int64_t acc, int32_t m, int n, int32_t z, int32_t lo, int32_t hi)
{
    return an_sat(an_round_shift(an_sat_acc(acc) * (int64_t)m, n) + z, lo, hi);
}

/* q = sat(R(f32(x / s)) + z) for a float input. */
static inline int32_t an_quantize(float x, float s, int32_t z, int32_t lo, int32_t hi)
{
    float v = x / s;
    if (isnan(v)) return an_sat(z, lo, hi);
    if (isinf(v)) return v > 0 ? hi : lo;
    return an_sat(an_round((double)v) + z, lo, hi);
}

/* Sign-extends packed weights (2 or 4 bits, lowest bits first) into int16. */
static inline void an_unpack(const uint8_t *src, int bits, int32_t first, int count, int16_t *dst)
{
    int i;
    const int per = 8 / bits, mask = (1 << bits) - 1, sign = 1 << (bits - 1);
    for (i = 0; i < count; i++)
    {
        int32_t j = first + i;
        int v = (src[j / per] >> ((j % per) * bits)) & mask;
        dst[i] = (int16_t)(v >= sign ? v - (1 << bits) : v);
    }
}

/* Dot products of int16 rows into int32: the shapes gcc and clang vectorize (pmaddwd and friends). */
static inline int32_t an_dot(const int16_t *a, const int16_t *w, int k)
{
    int32_t acc = 0;
    int i;
    for (i = 0; i < k; i++) acc += (int32_t)a[i] * w[i];
    return acc;
}

/* Four rows against one weight row at once: the weight row is loaded once for four outputs. */
static inline void an_dot4(const int16_t *a0, const int16_t *a1, const int16_t *a2, const int16_t *a3,
                           const int16_t *w, int k, int32_t *out)
{
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i;
    for (i = 0; i < k; i++)
    {
        int32_t wi = w[i];
        s0 += (int32_t)a0[i] * wi;
        s1 += (int32_t)a1[i] * wi;
        s2 += (int32_t)a2[i] * wi;
        s3 += (int32_t)a3[i] * wi;
    }
    out[0] = s0; out[1] = s1; out[2] = s2; out[3] = s3;
}

static inline int64_t an_dot64(const int32_t *a, const int16_t *w, int k)
{
    int64_t acc = 0;
    int i;
    for (i = 0; i < k; i++) acc += (int64_t)a[i] * w[i];
    return acc;
}

/* Window elements along one axis counting explicit padding (count_include_pad), end pad taken equal to the start's. */
static inline int an_extent(int o, int s, int pad, int k, int d, int size)
{
    const int start = o * s - pad;
    int end = start + (k - 1) * d + 1;
    if (end > size + pad) end = size + pad;
    return (end - start + d - 1) / d;
}
