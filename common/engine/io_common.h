/*
 * io_common.h -- helpers shared by the structure-file readers and writers
 * (io_common.c, io_lammps.c, io_xyz.c).  Internal to the engine (eng__
 * prefix); front ends use eng_read_buffer / eng_write_stream from engine.h.
 *
 * The readers never touch the input buffer beyond len and never assume it
 * is NUL-terminated: eng__scan copies one line at a time into its own
 * NUL-terminated buffer, and every token is parsed from that copy.
 *
 * Ownership: an eng__scan owns its line buffer (eng__scan_free); it borrows
 * the input buffer and the name for its lifetime.
 */
#ifndef PELMAP_ENGINE_IO_COMMON_H
#define PELMAP_ENGINE_IO_COMMON_H

#include "internal.h"

#include <stdint.h>

/* Longest accepted line, bytes (without the newline). */
#define ENG__LINE_MAX 65536
/* Largest accepted number of atom types in any file. */
#define ENG__MAX_TYPES 4096
/* A declared atom count needs at least this many bytes per atom line. */
#define ENG__MIN_ATOM_LINE 5

/* Line scanner over a borrowed, not NUL-terminated buffer. */
typedef struct eng__scan {
  const char *buf;
  size_t len;
  size_t pos;       /* offset of the next unread byte */
  long lineno;      /* 1-based number of the line in line[]; 0 before any */
  const char *name; /* for messages */
  char *line;       /* NUL-terminated copy of the current line ('\r' cut) */
  size_t linelen;
} eng__scan;

/* Start scanning buf[0..len).  ENG_ENOMEM if the line buffer cannot be
 * allocated.  name is borrowed (used in messages). */
int eng__scan_init(eng__scan *s, const char *buf, size_t len, const char *name);
void eng__scan_free(eng__scan *s);
/* Read the next line into s->line.  Returns 1 if a line was read, 0 at the
 * end of the buffer, ENG_EPARSE (message set) for a line longer than
 * ENG__LINE_MAX or one holding a NUL byte. */
int eng__scan_next(eng__scan *s);
/* Bytes not yet consumed. */
size_t eng__scan_left(const eng__scan *s);
/* Set the message "name:LINE: <fmt>" (LINE = current line, at least 1) and
 * return ENG_EPARSE. */
int eng__scan_fail(const eng__scan *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same with an explicit line number. */
int eng__fail_at(const char *name, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Split line in place into at most maxtok whitespace-separated tokens.  If
 * comment is not NULL, '#' starts a comment: *comment then points to its
 * text (leading blanks skipped; "" if there is none; NULL if no '#').
 * Returns the number of tokens, or maxtok + 1 if there were more. */
int eng__split(char *line, char **tok, int maxtok, char **comment);
/* 1 if the line holds only blanks (and, if hash_comments, a comment). */
int eng__blank(const char *line, int hash_comments);

/* Parse a whole token as a finite double / a base-10 integer.  Return 0 on
 * success, -1 if the token is not such a number, -2 if it is not finite
 * (NaN, Inf, overflow). */
int eng__parse_double(const char *tok, double *out);
int eng__parse_int64(const char *tok, int64_t *out);
/* A printable, shortened copy of tok for messages ("<end of line>" if
 * tok is NULL). */
const char *eng__quote(const char *tok, char *buf, size_t size);

/* Species name of an element whose standard mass is within tol amu of
 * mass (the closest one), or NULL. */
const char *eng__element_by_mass(double mass, double tol);
/* 1 if name can be a species name: 1..ENG_NAME_MAX-1 printable, non-blank
 * characters, not starting with a digit. */
int eng__valid_species(const char *name);
/* Copy the k-th (0-based) space-separated name of list into out
 * (ENG_NAME_MAX bytes); 0 if found, -1 if the list is shorter. */
int eng__list_name(const char *list, int k, char out[ENG_NAME_MAX]);
/* Number of names in a space-separated list (0 for NULL). */
int eng__list_count(const char *list);

/* Grow sys to ntypes types (new ones zeroed).  ENG_ENOMEM on failure. */
int eng__system_set_ntypes(eng_system *sys, int ntypes);

/* Finish a freshly read system: sort atoms by id (dragging every per-atom
 * array and property along), reject duplicate ids (naming both lines from
 * line[], natoms entries) and check periodic widths against min_width
 * (box_line names the box line).  Returns ENG_OK or ENG_EPARSE/ENG_ENOMEM. */
int eng__finish_system(eng_system *sys, long *line, const char *name, long box_line,
                       double min_width);
/* Renumber types >= nfixed in order of first appearance in the (sorted)
 * atom list, moving names and masses along.  ENG_ENOMEM on failure. */
int eng__renumber_types(eng_system *sys, int nfixed);
/* 1 if x lies in the box along every non-periodic direction, with a
 * tolerance of 1e-6*(1+|lo|+|hi|) for values printed with few digits. */
int eng__inside_nonperiodic(const eng_box *b, const double x[3]);
/* Check a box: finite, positive lengths.  0 or ENG_EPARSE (at line). */
int eng__check_box(const eng_box *b, const char *name, long line);

/* Format readers / writers (io_lammps.c, io_xyz.c).  Arguments as for
 * eng_read_buffer; opts is never NULL here. */
int eng__read_lammps_data(const char *buf, size_t len, const char *name, const eng_read_opts *opts,
                          eng_system **out);
int eng__read_lammps_dump(const char *buf, size_t len, const char *name, const eng_read_opts *opts,
                          eng_system **out);
int eng__read_extxyz(const char *buf, size_t len, const char *name, const eng_read_opts *opts,
                     eng_system **out);
int eng__write_lammps_data(FILE *f, const eng_system *s);
int eng__write_extxyz(FILE *f, const eng_system *s);
/* Write a double with 17 significant digits (exact round trip). */
void eng__fmt_double(char *buf, size_t size, double v);
/* xhi for a box edge such that (xhi - lo) == len exactly when possible. */
double eng__hi_exact(double lo, double len);

#endif
