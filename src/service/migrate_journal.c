#include "service/migrate_internal.h"

#include "core/error.h"
#include "core/sid.h"
#include "media/blob.h"
#include "service/service.h"

#include <string.h>

/*
 * The parse of DATA/migrate.journal, apart from its file (migrate.c reads and repairs that), so
 * that fuzz_migrate_journal can give it anything. recd writes the journal, but it is read back
 * on resume from a folder anyone with access may have edited or a crash may have cut: every
 * field is checked for the shape recd writes, and what it says only ever saves work (an object
 * it lists is still checked in the bucket by size), so a line of another shape is skipped, never
 * trusted.
 */

static int is_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

/* The next field of `line` (up to the next space or its end), from *at; moves *at past it and the
 * one space after it. */
static const char *field(const char *line, size_t n, size_t *at, size_t *len)
{
    const char *f = line + *at;
    const char *sp = memchr(f, ' ', n - *at);
    *len = sp ? (size_t)(sp - f) : n - *at;
    *at += *len + (sp ? 1 : 0);
    return f;
}

int recd_migrate_journal_head(const char *p, size_t n, struct recd_migrate_journal_head *h, size_t *next)
{
    static const char magic[] = RECD_MIGRATE_MAGIC " ";
    memset(h, 0, sizeof *h);
    const char *nl = memchr(p, '\n', n);
    if (!nl)
        return RECD_E_BAD_INPUT; /* empty, or cut before its header was whole */
    size_t len = (size_t)(nl - p), at = sizeof magic - 1, fl;
    if (len < at || memcmp(p, magic, at) != 0)
        return RECD_E_BAD_INPUT;
    const char *run = field(p, len, &at, &fl);
    if (fl != RECD_SID_LEN || !recd_sid_valid(run, fl, "MG", 1))
        return RECD_E_BAD_INPUT;
    memcpy(h->run, run, fl);
    const char *fp = field(p, len, &at, &fl);
    if (fl != 64 || !is_hex(fp, fl))
        return RECD_E_BAD_INPUT;
    memcpy(h->fingerprint, fp, fl);
    /* The targets are the rest of the line, as migrate.c wrote them: printable, and compared
     * byte for byte with this run's. */
    size_t tl = len - at;
    if (at >= len || tl >= sizeof h->targets)
        return RECD_E_BAD_INPUT;
    for (size_t i = at; i < len; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return RECD_E_BAD_INPUT;
    memcpy(h->targets, p + at, tl);
    *next = len + 1;
    return 0;
}

/* "KEY SIZE SHA256": a key recd makes, a decimal size, a lowercase hex SHA-256. 1 and the key
 * and size when `line` is one, else 0. */
static int object_line(const char *line, size_t n, char key[RECD_MEDIA_KEY_MAX], int64_t *size)
{
    size_t at = 0, kl, sl, dl;
    if (n == 0)
        return 0;
    const char *k = field(line, n, &at, &kl);
    const char *s = field(line, n, &at, &sl);
    const char *d = field(line, n, &at, &dl);
    if (at != n || line[n - 1] == ' ' || kl == 0 || kl >= RECD_MEDIA_KEY_MAX || sl == 0 || sl > 18 ||
        dl != 64 || !is_hex(d, dl))
        return 0;
    memcpy(key, k, kl);
    key[kl] = '\0';
    if (memchr(key, '\0', kl) || !recd_blob_key_valid(key))
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < sl; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0'); /* at most 18 digits: no overflow */
    }
    *size = v;
    return 1;
}

int recd_migrate_journal_lines(const char *p, size_t n, int (*add)(void *ctx, const char *key, int64_t size),
                               void *ctx, size_t *good)
{
    size_t at = 0;
    *good = 0;
    while (at < n) {
        const char *e = memchr(p + at, '\n', n - at);
        if (!e)
            break; /* the last line, cut short by a crash */
        char key[RECD_MEDIA_KEY_MAX];
        int64_t size;
        if (object_line(p + at, (size_t)(e - (p + at)), key, &size)) {
            int rc = add(ctx, key, size);
            if (rc < 0)
                return rc;
        }
        at = (size_t)(e - p) + 1;
        *good = at;
    }
    return 0;
}
