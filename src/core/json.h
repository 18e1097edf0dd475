#ifndef RECD_CORE_JSON_H
#define RECD_CORE_JSON_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/*
 * A strict, bounded JSON reader (RFC 8259) for what recd reads from other servers: a speech
 * engine's answer (src/stt) and a Twilio-compatible API's pages (the mirror). One pass checks the
 * whole document and records it as a flat array of tokens in document order, so a reader walks
 * it by index without allocating; strings are unescaped only when asked for. Nesting is bounded
 * by the caller, and every read is bounded by the document's length.
 */

enum recd_json_type {
    RECD_JSON_NULL = 0,
    RECD_JSON_FALSE,
    RECD_JSON_TRUE,
    RECD_JSON_NUMBER,
    RECD_JSON_STRING,
    RECD_JSON_ARRAY,
    RECD_JSON_OBJECT,
};

/*
 * One value, or one member name of an object. An object's members are its name token followed
 * by its value's tokens; an array's items follow it. `next` is the index just past the value's
 * tokens (its next sibling, when there is one).
 */
struct recd_json_tok {
    enum recd_json_type type;
    size_t start, len; /* raw text; for a string, between the quotes (escapes not undone) */
    size_t count;      /* an array's items, an object's members; 0 otherwise */
    size_t next;
};

/** A parsed document: tokens into the text it was parsed from, which must outlive it. */
struct recd_json {
    const char *src;
    struct recd_json_tok *tok;
    size_t ntok, cap;
};

/** Prepares an empty document; reusable for any number of parses, freed once. */
void recd_json_init(struct recd_json *j);
void recd_json_free(struct recd_json *j);

/**
 * Parses p[0…n): exactly one JSON value, surrounded by white space only, nested at most
 * `max_depth` arrays and objects deep. Token 0 is the document's value. Returns 0, or -1 when the
 * text is not such a document (then the document is empty); RECD_E_INTERNAL when out of memory.
 */
int recd_json_parse(struct recd_json *j, const char *p, size_t n, int max_depth);

/** The type of token `i` (< ntok). */
static inline enum recd_json_type recd_json_type(const struct recd_json *j, size_t i)
{
    return j->tok[i].type;
}

/**
 * The value of member `key` of object token `obj`: its token index, or -1 when `obj` is not an
 * object or has no such member. When a name repeats, the last one counts (as in JavaScript).
 * Names are compared unescaped.
 */
long recd_json_member(const struct recd_json *j, size_t obj, const char *key);

/**
 * Appends the unescaped value of string token `i` to `out`, NUL-terminated (not counted in
 * out->len). Returns 0, or -1 when the token is not a string, its value is not valid UTF-8, holds
 * a NUL, or is longer than `max` bytes (then `out` may hold part of it; reset it).
 */
int recd_json_string(const struct recd_json *j, size_t i, struct recd_buf *out, size_t max);

/**
 * As recd_json_string into a fixed array of `cap` bytes (value at most cap - 1 bytes). A null
 * token gives "" when `null_ok`. 0 or -1.
 */
int recd_json_string_to(const struct recd_json *j, size_t i, char *out, size_t cap, int null_ok);

/** 1 when string token `i` is exactly `s` (unescaped); 0 otherwise. */
int recd_json_string_eq(const struct recd_json *j, size_t i, const char *s);

/** The integer value of number token `i` (no fraction or exponent, within int64). 0 or -1. */
int recd_json_int(const struct recd_json *j, size_t i, int64_t *v);

#endif
