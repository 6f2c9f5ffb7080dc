/*
 * fuzz.h -- the structure-reader fuzz target (fuzz_read.c), shared by the
 * libFuzzer entry point and the fixed-seed driver run by make check
 * (fuzz_main.c).
 */
#ifndef PELMAP_FUZZ_H
#define PELMAP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Feed data to eng_read_buffer in every format with a few option sets and
 * check what comes back: a valid system, or ENG_EPARSE / ENG_EINVAL with a
 * "fuzz:LINE:" message; every system read must also survive a write +
 * read round trip.  Returns 0 if all held, else 1 with a reason in why. */
int fuzz_read_one(const uint8_t *data, size_t size, char *why, size_t whysize);

/* libFuzzer entry point: aborts when fuzz_read_one finds a violation. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
