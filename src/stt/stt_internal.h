#ifndef RECD_STT_STT_INTERNAL_H
#define RECD_STT_STT_INTERNAL_H

#include "core/buf.h"

#include <stddef.h>

/*
 * Internals of src/stt shared with its tests and fuzz target: the parser of what an external
 * engine answers.
 */

/** The deepest nesting of arrays and objects the parser follows. */
#define RECD_STT_JSON_DEPTH 32

/**
 * Parses an OpenAI-compatible transcription response (`{"text": "…", …}`): the whole of p[0…n)
 * must be one JSON object (RFC 8259, nesting at most RECD_STT_JSON_DEPTH) with a string member
 * "text" at its top level. The text, unescaped and trimmed of surrounding white space, replaces
 * the contents of `text`. Returns 0, or -1 when the body is not such a document, its text is not
 * valid UTF-8 or contains NUL, or the text is longer than `max_text` bytes (then `text` is
 * left empty).
 */
int recd_stt_json_text(const char *p, size_t n, size_t max_text, struct recd_buf *text);

struct recd_stt_config;

/** recd_stt_check for each engine. */
int recd_stt_sphinx_check(const struct recd_stt_config *c, char *why, size_t why_n);
int recd_stt_openai_check(const struct recd_stt_config *c, char *why, size_t why_n);

#endif
