/*
 * tap.h -- minimal Test Anything Protocol helpers for pelmap's C tests.
 * Each check prints "ok N - description" or "not ok N - description" with
 * the file and line; tap_done() prints the plan and returns the exit code.
 * Header-only; include once per test program.
 */
#ifndef PELMAP_TAP_H
#define PELMAP_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* UNDER_ASAN: 1 in an AddressSanitizer build (gcc's __SANITIZE_ADDRESS__ or
 * clang's __has_feature), else 0; slow physics checks run smaller there. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static int tap__n, tap__fail;

static int tap__check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int tap__check(int ok, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  tap__n++;
  printf("%s %d - ", ok ? "ok" : "not ok", tap__n);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  if (!ok) {
    tap__fail++;
    printf("#   failed at %s:%d\n", file, line);
  }
  fflush(stdout);
  return ok;
}

/* ok(cond, "what is checked") */
#define ok(cond, ...) tap__check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* near(a, b, tol, "what"): |a-b| <= tol, printing both values. */
#define near(a, b, tol, ...)                                                   \
  do {                                                                         \
    double tap__a = (a), tap__b = (b), tap__t = (tol);                         \
    if (!ok(fabs(tap__a - tap__b) <= tap__t && !isnan(tap__a) && !isnan(tap__b), __VA_ARGS__)) \
      printf("#   got %.12g, expected %.12g (tolerance %.3g)\n", tap__a, tap__b, tap__t); \
  } while (0)
/* skip(reason): one skipped check. */
#define skip(...)                                  \
  do {                                             \
    tap__n++;                                      \
    printf("ok %d # SKIP ", tap__n);               \
    printf(__VA_ARGS__);                           \
    printf("\n");                                  \
  } while (0)
/* bail(reason): abort the whole test program. */
#define bail(...)                        \
  do {                                   \
    printf("Bail out! ");                \
    printf(__VA_ARGS__);                 \
    printf("\n");                        \
    exit(1);                             \
  } while (0)
#define diag(...)            \
  do {                       \
    printf("# ");            \
    printf(__VA_ARGS__);     \
    printf("\n");            \
  } while (0)

static int tap_done(void) {
  printf("1..%d\n", tap__n);
  return tap__fail ? 1 : 0;
}

#endif
