#include "store/store.h"

#include "core/error.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

/*
 * Which backend a store location names: a PostgreSQL URL, or a SQLite file. The command line and
 * the server pass what the user gave (--store, $RECD_STORE, or the data folder's recd.db) and
 * never look at it themselves.
 */

int recd_store_is_pg(const char *where)
{
    return strncmp(where, "postgres://", 11) == 0 || strncmp(where, "postgresql://", 13) == 0;
}

int recd_store_open(const char *where, struct recd_store **out)
{
    *out = NULL;
    if (!where || !*where)
        return RECD_E_BAD_INPUT;
    if (recd_store_is_pg(where))
        return recd_store_pg_open(where, out);
    /* A path never holds "://"; any other scheme is a store this build does not know. */
    if (strstr(where, "://")) {
        char shown[512];
        recd_store_url_redact(where, shown, sizeof shown);
        recd_log_error("store: %s: unknown kind of store (want postgres:// or a file)", shown);
        return RECD_E_BAD_INPUT;
    }
    return recd_store_sqlite_open(where, out);
}

/* Copies at most n bytes of s to the end of out. */
static void put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    while (n-- && *len + 1 < cap)
        out[(*len)++] = *s++;
    out[*len] = '\0';
}

/*
 * scheme://user:password@host/db?password=…&… — the password after the user's colon (up to the
 * last '@' of the authority) and the value of a password= parameter are hidden.
 */
void recd_store_url_redact(const char *where, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    const char *p = strstr(where, "://");
    if (!p) {
        put(out, cap, &len, where, strlen(where));
        return;
    }
    p += 3;
    put(out, cap, &len, where, (size_t)(p - where));
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            put(out, cap, &len, p, (size_t)(colon - p));
            put(out, cap, &len, ":***", 4);
            p = at;
        }
    }
    while (*p) {
        const char *pw = strstr(p, "password=");
        if (!pw || (pw != p && pw[-1] != '?' && pw[-1] != '&')) {
            size_t n = pw ? (size_t)(pw - p) + 9 : strlen(p);
            put(out, cap, &len, p, n);
            p += n;
            continue;
        }
        put(out, cap, &len, p, (size_t)(pw - p) + 9);
        put(out, cap, &len, "***", 3);
        p = pw + 9 + strcspn(pw + 9, "&#");
    }
}
