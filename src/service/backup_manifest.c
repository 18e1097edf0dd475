#include "service/backup.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/json.h"
#include "core/sid.h"
#include "media/blob.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/*
 * The manifest reader. A manifest comes from a folder anyone may have edited, so every line is
 * parsed strictly and bounded, and the only paths it may name are the ones a backup writes: the
 * restore opens nothing else, whatever the manifest says.
 */

#define LINE_MAX_BYTES 1024 /* a file line is about 150 bytes; the head less than 300 */

static int bad(char *why, size_t why_n, long line, const char *what)
{
    snprintf(why, why_n, "manifest line %ld: %s", line, what);
    return RECD_E_BAD_INPUT;
}

static int is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[64] == '\0';
}

/* 1 when `path` is one a backup writes: recd.db, seal.key, or media/ab/cd/<key of shard ab/cd>. */
static int path_ok(const char *path)
{
    if (strcmp(path, "recd.db") == 0 || strcmp(path, "seal.key") == 0)
        return 1;
    if (strncmp(path, "media/", 6) != 0 || strlen(path) < 12 || path[8] != '/' || path[11] != '/')
        return 0;
    const char *key = path + 12;
    return recd_blob_key_valid(key) && memcmp(path + 6, key + 2, 2) == 0 && memcmp(path + 9, key + 4, 2) == 0;
}

static int int_member(const struct recd_json *j, const char *name, int64_t *v)
{
    long i = recd_json_member(j, 0, name);
    return i >= 0 && recd_json_type(j, (size_t)i) == RECD_JSON_NUMBER && recd_json_int(j, (size_t)i, v) == 0
               ? 0
               : -1;
}

static int str_member(const struct recd_json *j, const char *name, char *out, size_t cap)
{
    long i = recd_json_member(j, 0, name);
    return i >= 0 && recd_json_string_to(j, (size_t)i, out, cap, 0) == 0 ? 0 : -1;
}

struct walk {
    struct recd_json j;
    EVP_MD_CTX *md;
    int64_t files, bytes;
    int dbs, keys;
};

static int parse_head(struct walk *w, struct recd_manifest_head *h, char *why, size_t why_n)
{
    memset(h, 0, sizeof *h);
    if (int_member(&w->j, "recd_backup", &h->format) < 0)
        return bad(why, why_n, 1, "not the head of a recd backup manifest");
    if (h->format != RECD_BACKUP_FORMAT)
        return bad(why, why_n, 1, "a manifest format this recd does not know");
    if (int_member(&w->j, "schema_version", &h->schema_version) < 0 || h->schema_version < 1 ||
        str_member(&w->j, "recd_version", h->recd_version, sizeof h->recd_version) < 0 ||
        str_member(&w->j, "created", h->created, sizeof h->created) < 0)
        return bad(why, why_n, 1, "head lacks schema_version, recd_version or created");
    return 0;
}

static int parse_file(struct walk *w, long line, struct recd_manifest_file *f, char *why, size_t why_n)
{
    memset(f, 0, sizeof *f);
    if (str_member(&w->j, "path", f->path, sizeof f->path) < 0 || !path_ok(f->path))
        return bad(why, why_n, line, "a path a backup does not write");
    if (int_member(&w->j, "size", &f->size) < 0 || f->size < 0 || f->size > INT64_MAX / 2)
        return bad(why, why_n, line, "size is not a byte count");
    if (str_member(&w->j, "sha256", f->sha256, sizeof f->sha256) < 0 || !is_hex64(f->sha256))
        return bad(why, why_n, line, "sha256 is not 64 lowercase hex digits");
    if (w->bytes > INT64_MAX / 2 - f->size)
        return bad(why, why_n, line, "byte total too large");
    w->files++;
    w->bytes += f->size;
    w->dbs += strcmp(f->path, "recd.db") == 0;
    w->keys += strcmp(f->path, "seal.key") == 0;
    return 0;
}

static int parse_end(struct walk *w, long line, char *why, size_t why_n)
{
    int64_t files, bytes;
    char hex[65], want[65];
    unsigned char d[32];
    long e = recd_json_member(&w->j, 0, "end");
    if (e < 0 || recd_json_type(&w->j, (size_t)e) != RECD_JSON_TRUE ||
        int_member(&w->j, "files", &files) < 0 || int_member(&w->j, "bytes", &bytes) < 0 ||
        str_member(&w->j, "sha256", hex, sizeof hex) < 0)
        return bad(why, why_n, line, "end line lacks files, bytes or sha256");
    if (files != w->files || bytes != w->bytes)
        return bad(why, why_n, line, "the count of files or bytes differs from the lines above");
    if (w->dbs != 1 || w->keys > 1)
        return bad(why, why_n, line, "recd.db must be listed once, seal.key at most once");
    unsigned dn = 0;
    EVP_DigestFinal_ex(w->md, d, &dn);
    recd_hex(want, d, sizeof d);
    if (strcmp(hex, want) != 0)
        return bad(why, why_n, line, "the manifest's own digest does not match: it was altered");
    return 0;
}

/* Long because it is one walk over the lines, each kind handled in place, with one way out. */
int recd_backup_manifest_parse(const char *p, size_t n, struct recd_manifest_head *head,
                               recd_manifest_file_cb cb, void *ctx, char *why, size_t why_n)
{
    struct walk w = {0};
    int rc = 0, ended = 0;
    long line = 0;
    size_t off = 0;
    why[0] = '\0';
    recd_json_init(&w.j);
    w.md = EVP_MD_CTX_new();
    if (!w.md || !EVP_DigestInit_ex(w.md, EVP_sha256(), NULL)) {
        rc = RECD_E_INTERNAL;
        goto out;
    }
    while (off < n) {
        const char *s = p + off;
        const char *nl = memchr(s, '\n', n - off);
        line++;
        if (ended) {
            rc = bad(why, why_n, line, "text after the end line");
            goto out;
        }
        if (!nl) {
            rc = bad(why, why_n, line, "unterminated line: the manifest is cut short");
            goto out;
        }
        size_t len = (size_t)(nl - s);
        if (len > LINE_MAX_BYTES) {
            rc = bad(why, why_n, line, "line too long");
            goto out;
        }
        int pr = recd_json_parse(&w.j, s, len, 2);
        if (pr == RECD_E_INTERNAL) {
            rc = pr;
            goto out;
        }
        if (pr < 0 || recd_json_type(&w.j, 0) != RECD_JSON_OBJECT) {
            rc = bad(why, why_n, line, "not a JSON object");
            goto out;
        }
        if (line == 1) {
            rc = parse_head(&w, head, why, why_n);
        } else if (recd_json_member(&w.j, 0, "end") >= 0) {
            rc = parse_end(&w, line, why, why_n);
            ended = 1;
        } else {
            struct recd_manifest_file f;
            rc = parse_file(&w, line, &f, why, why_n);
            if (rc == 0 && cb)
                rc = cb(ctx, &f);
        }
        if (rc != 0)
            goto out;
        if (!ended)
            EVP_DigestUpdate(w.md, s, len + 1);
        off += len + 1;
    }
    if (!ended)
        rc = bad(why, why_n, line + 1, "no end line: the backup did not finish");
out:
    EVP_MD_CTX_free(w.md);
    recd_json_free(&w.j);
    return rc;
}
