/*
 * rng.c -- xoshiro256** generator seeded by splitmix64 (Blackman & Vigna),
 * the engine's only source of randomness, so that every stochastic result
 * is reproducible from its recorded seed.
 */
#include "internal.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void eng_rng_seed(eng_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t eng_rng_next(eng_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double eng_rng_uniform(eng_rng *r) {
  return (double)(eng_rng_next(r) >> 11) * 0x1.0p-53;
}

double eng_rng_normal(eng_rng *r) {
  double u1, u2;
  do {
    u1 = eng_rng_uniform(r);
  } while (u1 <= 0.0);
  u2 = eng_rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
