#ifndef RECD_CONSOLE_ASSETS_H
#define RECD_CONSOLE_ASSETS_H

#include <stddef.h>

/*
 * The console's files (console/ in the source tree), embedded in the binary when it is built:
 * scripts/embed-assets.py writes the table (build/gen/console_assets.c) from the files, so the
 * server needs nothing from disk and nothing is built when it runs.
 */
struct recd_console_asset {
    const char *name;         /* file name in console/, e.g. "console.js" */
    const char *content_type; /* with a charset for text */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* the same bytes gzip-compressed (made once, at build time) */
    size_t gz_len;
    const char *etag;    /* strong ETag of data (quoted): 128 bits of its SHA-256 */
    const char *gz_etag; /* strong ETag of gz: the same with "-gz" */
};

/** Every embedded file, in name order. */
extern const struct recd_console_asset recd_console_assets[];
extern const size_t recd_console_asset_count;

#endif
