#ifndef RECD_CORE_TALLY_H
#define RECD_CORE_TALLY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Tallies: counters that outlive the process that counts them. `recd mirror` runs as a command
 * of its own, not inside the server, so its counts cannot live in the server's per-thread
 * registry (src/ops/metrics.c); each run adds them to a small JSON object in the data folder
 * (ops/<kind>.json, one integer member per field), and the server's /metrics reads that file at
 * each scrape. Runs that end at the same moment add under an exclusive flock, and the file is
 * replaced whole (a temporary name, fsync, rename), so a reader sees one run's totals or the
 * next's, never half of one. A run killed before it adds loses its own counts, nothing more.
 */

/** At most this many fields per tally, each name at most 31 bytes of [a-z0-9_]. */
#define RECD_TALLY_FIELDS_MAX 16
/** The file's size bound: a reader refuses anything larger. */
#define RECD_TALLY_FILE_MAX 4096

struct recd_tally_field {
    const char *name;
    int64_t value;
    int set; /* 1: this run's value replaces the kept one (a timestamp); 0: it is added */
};

/**
 * Adds (or sets) `n` fields of tally `kind` ([a-z]+, e.g. "mirror") in `data_dir`/ops, creating
 * the folder and the file when missing; fields the file has and `f` lacks are kept. A file that
 * is not a tally recd wrote (too big, not a JSON object of integers) is replaced by this run's
 * values, with a warning. 0, RECD_E_BAD_INPUT for a bad kind or field, or RECD_E_IO /
 * RECD_E_NO_SPACE.
 */
int recd_tally_add(const char *data_dir, const char *kind, const struct recd_tally_field *f, size_t n);

/**
 * Reads tally `kind` of `data_dir` into f[i].value for each named field (0 when the file or the
 * field is missing). Returns 1 when the file exists and was read, 0 when there is none, or -1
 * when it cannot be read or is not a tally (the values are then 0).
 */
int recd_tally_read(const char *data_dir, const char *kind, struct recd_tally_field *f, size_t n);

/** Parses a tally file's bytes p[0…n) into the named fields, as recd_tally_read. 0 or -1. */
int recd_tally_parse(const char *p, size_t n, struct recd_tally_field *f, size_t nf);

#endif
