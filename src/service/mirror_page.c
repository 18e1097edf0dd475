#include "service/mirror.h"

#include "core/error.h"
#include "core/json.h"
#include "core/time.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The reader of a Twilio-compatible API's JSON list pages: what `recd mirror` trusts of another
 * server. The page as a whole must be a JSON object with the list's array; each item is checked
 * field by field, and a bad item is marked rather than failing its neighbours.
 */

#define JSON_DEPTH 16

void recd_mirror_page_init(struct recd_mirror_page *pg)
{
    memset(pg, 0, sizeof *pg);
    recd_buf_init(&pg->text, 0);
}

void recd_mirror_page_free(struct recd_mirror_page *pg)
{
    free(pg->recs);
    free(pg->trs);
    recd_buf_free(&pg->text);
    memset(pg, 0, sizeof *pg);
}

static int why_set(char *why, size_t why_n, const char *s)
{
    snprintf(why, why_n, "%s", s);
    return -1;
}

/* next_page_uri: null, or a relative URI on `list_path` (the same list) made of printable ASCII. */
static int next_uri(const struct recd_json *j, long t, const char *list_path, char *out)
{
    out[0] = '\0';
    if (t < 0 || recd_json_type(j, (size_t)t) == RECD_JSON_NULL)
        return 0;
    if (recd_json_string_to(j, (size_t)t, out, RECD_MIRROR_URI_MAX + 1, 0) < 0)
        return -1;
    size_t pl = strlen(list_path), n = strlen(out);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] <= 0x20 || (unsigned char)out[i] >= 0x7f || out[i] == '#' || out[i] == '\\')
            goto bad;
    if (n < pl || memcmp(out, list_path, pl) != 0 || (out[pl] != '\0' && out[pl] != '?'))
        goto bad;
    return 0;
bad:
    out[0] = '\0';
    return -1;
}

/* A sid member of `prefix`, or "" for null/absent when `null_ok`. */
static int sid_of(const struct recd_json *j, size_t obj, const char *key, const char *prefix, int null_ok,
                  char out[RECD_SID_LEN + 1])
{
    long t = recd_json_member(j, obj, key);
    out[0] = '\0';
    if (t < 0 || recd_json_type(j, (size_t)t) == RECD_JSON_NULL)
        return null_ok ? 0 : -1;
    if (recd_json_string_to(j, (size_t)t, out, RECD_SID_LEN + 1, 0) < 0 ||
        !recd_sid_valid(out, strlen(out), prefix, 1)) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* A date member (RFC 2822, as Twilio writes them, or RFC 3339); 0 for null/absent when `null_ok`. */
static int date_of(const struct recd_json *j, size_t obj, const char *key, int null_ok, int64_t *us)
{
    char s[64];
    long t = recd_json_member(j, obj, key);
    *us = 0;
    if (t < 0 || recd_json_type(j, (size_t)t) == RECD_JSON_NULL)
        return null_ok ? 0 : -1;
    if (recd_json_string_to(j, (size_t)t, s, sizeof s, 0) < 0 || recd_time_parse_any(s, strlen(s), us) < 0 ||
        *us <= 0)
        return -1;
    return 0;
}

/* `duration`: a string of whole seconds (the schema's type), or a number; -1 for null/absent. */
static int duration_of(const struct recd_json *j, size_t obj, int64_t *secs)
{
    long t = recd_json_member(j, obj, "duration");
    *secs = -1;
    if (t < 0 || recd_json_type(j, (size_t)t) == RECD_JSON_NULL)
        return 0;
    if (recd_json_type(j, (size_t)t) == RECD_JSON_NUMBER)
        return recd_json_int(j, (size_t)t, secs) == 0 && *secs >= 0 ? 0 : -1;
    char s[24];
    if (recd_json_string_to(j, (size_t)t, s, sizeof s, 0) < 0 || !s[0] || strlen(s) > 12)
        return -1;
    /* recd lists a recording in progress with "-1" (Twilio's way of saying not yet known). */
    if (strcmp(s, "-1") == 0)
        return 0;
    int64_t v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        v = v * 10 + (*c - '0');
    }
    *secs = v;
    return 0;
}

static int text_of(const struct recd_json *j, size_t obj, const char *key, char *out, size_t cap)
{
    long t = recd_json_member(j, obj, key);
    out[0] = '\0';
    if (t < 0)
        return 0;
    return recd_json_string_to(j, (size_t)t, out, cap, 1);
}

static void rec_read(const struct recd_json *j, size_t obj, struct recd_mirror_rec *r)
{
    const char *bad = NULL;
    memset(r, 0, sizeof *r);
    r->duration_s = -1;
    int64_t ch = 0;
    long tch;
    if (recd_json_type(j, obj) != RECD_JSON_OBJECT)
        bad = "not an object";
    else if (sid_of(j, obj, "sid", "RE", 0, r->sid) < 0)
        bad = "no valid sid";
    else if (sid_of(j, obj, "account_sid", "AC", 0, r->account_sid) < 0)
        bad = "no valid account_sid";
    else if (sid_of(j, obj, "call_sid", "CA", 1, r->call_sid) < 0)
        bad = "malformed call_sid";
    else if (sid_of(j, obj, "conference_sid", "CF", 1, r->conference_sid) < 0)
        bad = "malformed conference_sid";
    else if (date_of(j, obj, "date_created", 0, &r->created_us) < 0)
        bad = "no valid date_created";
    else if (date_of(j, obj, "date_updated", 1, &r->updated_us) < 0)
        bad = "malformed date_updated";
    else if (date_of(j, obj, "start_time", 1, &r->start_us) < 0)
        bad = "malformed start_time";
    else if (duration_of(j, obj, &r->duration_s) < 0)
        bad = "malformed duration";
    else if (text_of(j, obj, "status", r->status, sizeof r->status) < 0 || !r->status[0])
        bad = "no valid status";
    else if (text_of(j, obj, "source", r->source, sizeof r->source) < 0)
        bad = "malformed source";
    else if ((tch = recd_json_member(j, obj, "channels")) >= 0 &&
             recd_json_type(j, (size_t)tch) != RECD_JSON_NULL &&
             (recd_json_int(j, (size_t)tch, &ch) < 0 || ch < 1 || ch > 2))
        bad = "channels is not 1 or 2";
    r->channels = (int)ch;
    if (bad)
        snprintf(r->bad, sizeof r->bad, "%s", bad);
}

static void tr_read(const struct recd_json *j, size_t obj, struct recd_mirror_tr *m, struct recd_buf *text,
                    size_t *off)
{
    const char *bad = NULL;
    struct recd_transcription *t = &m->t;
    memset(m, 0, sizeof *m);
    int64_t secs = -1;
    long tt = -1;
    *off = SIZE_MAX;
    if (recd_json_type(j, obj) != RECD_JSON_OBJECT)
        bad = "not an object";
    else if (sid_of(j, obj, "sid", "TR", 0, t->sid) < 0)
        bad = "no valid sid";
    else if (sid_of(j, obj, "account_sid", "AC", 0, t->account_sid) < 0)
        bad = "no valid account_sid";
    else if (sid_of(j, obj, "recording_sid", "RE", 0, t->recording_sid) < 0)
        bad = "no valid recording_sid";
    else if (date_of(j, obj, "date_created", 0, &t->created_us) < 0)
        bad = "no valid date_created";
    else if (date_of(j, obj, "date_updated", 1, &t->updated_us) < 0)
        bad = "malformed date_updated";
    else if (duration_of(j, obj, &secs) < 0)
        bad = "malformed duration";
    else if (text_of(j, obj, "status", t->status, sizeof t->status) < 0 || !t->status[0])
        bad = "no valid status";
    else if (text_of(j, obj, "type", t->type, sizeof t->type) < 0)
        bad = "malformed type";
    else if ((tt = recd_json_member(j, obj, "transcription_text")) >= 0 &&
             recd_json_type(j, (size_t)tt) != RECD_JSON_NULL) {
        size_t at = text->len;
        if (recd_json_string(j, (size_t)tt, text, RECD_TEXT_MAX) < 0) {
            text->len = at;
            bad = "transcription_text is not UTF-8 text of at most 64 KiB";
        } else {
            *off = at;
            t->text_len = text->len - at;
            recd_buf_addc(text, '\0'); /* each text its own C string */
        }
    }
    if (!t->updated_us)
        t->updated_us = t->created_us;
    if (!t->type[0])
        snprintf(t->type, sizeof t->type, "fast");
    t->duration_ms = secs > 0 ? secs * 1000 : 0;
    t->text_null = *off == SIZE_MAX;
    if (bad)
        snprintf(m->bad, sizeof m->bad, "%s", bad);
}

int recd_mirror_page_read(const char *p, size_t n, enum recd_mirror_kind kind, const char *list_path,
                          struct recd_mirror_page *pg, char *why, size_t why_n)
{
    struct recd_json j;
    size_t *offs = NULL;
    int rc = -1;
    recd_json_init(&j);
    pg->kind = kind;
    pg->count = 0;
    pg->next[0] = '\0';
    recd_buf_reset(&pg->text);
    int prc = recd_json_parse(&j, p, n, JSON_DEPTH);
    if (prc == RECD_E_INTERNAL) {
        rc = RECD_E_INTERNAL;
        goto out;
    }
    if (prc < 0 || recd_json_type(&j, 0) != RECD_JSON_OBJECT) {
        why_set(why, why_n, "the page is not a JSON object");
        goto out;
    }
    const char *key = kind == RECD_MIRROR_RECORDINGS ? "recordings" : "transcriptions";
    long arr = recd_json_member(&j, 0, key);
    if (arr < 0 || recd_json_type(&j, (size_t)arr) != RECD_JSON_ARRAY) {
        snprintf(why, why_n, "the page has no \"%s\" array", key);
        goto out;
    }
    if (next_uri(&j, recd_json_member(&j, 0, "next_page_uri"), list_path, pg->next) < 0) {
        why_set(why, why_n, "next_page_uri is not a relative URI on the same list");
        goto out;
    }
    size_t count = j.tok[arr].count;
    if (count > RECD_LIST_LIMIT_MAX) {
        why_set(why, why_n, "the page has more than 1000 items");
        goto out;
    }
    if (count > pg->cap) {
        void *recs = realloc(pg->recs, count * sizeof *pg->recs);
        if (recs)
            pg->recs = recs;
        void *trs = realloc(pg->trs, count * sizeof *pg->trs);
        if (trs)
            pg->trs = trs;
        if (!recs || !trs) {
            rc = RECD_E_INTERNAL;
            goto out;
        }
        pg->cap = count;
    }
    if (kind == RECD_MIRROR_TRANSCRIPTIONS && count && !(offs = calloc(count, sizeof *offs))) {
        rc = RECD_E_INTERNAL;
        goto out;
    }
    size_t it = (size_t)arr + 1;
    for (size_t i = 0; i < count; i++, it = j.tok[it].next) {
        if (kind == RECD_MIRROR_RECORDINGS)
            rec_read(&j, it, &pg->recs[i]);
        else
            tr_read(&j, it, &pg->trs[i], &pg->text, &offs[i]);
    }
    /* Texts point into the buffer only once it has stopped growing. */
    for (size_t i = 0; kind == RECD_MIRROR_TRANSCRIPTIONS && i < count; i++)
        pg->trs[i].t.text = offs[i] == SIZE_MAX ? NULL : pg->text.p + offs[i];
    pg->count = (int)count;
    rc = 0;
out:
    free(offs);
    recd_json_free(&j);
    return rc;
}

int recd_mirror_credentials_read(const char *path, char *user, size_t user_cap, char *pass, size_t pass_cap,
                                 char *why, size_t why_n)
{
    char buf[4097];
    struct stat st;
    const char *bad = NULL;
    user[0] = pass[0] = '\0';
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, why_n, "%s: %s", path,
                 errno == ELOOP ? "is a symbolic link; name the file itself" : strerror(errno));
        return RECD_E_BAD_INPUT;
    }
    ssize_t n = -1;
    if (fstat(fd, &st) < 0)
        bad = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        bad = "not a regular file";
    else if (st.st_uid != geteuid())
        bad = "owned by another user; it must belong to the user recd runs as";
    else if (st.st_mode & 077)
        bad = "readable or writable by group or others; chmod 600 it (and consider it leaked)";
    else if ((n = read(fd, buf, sizeof buf - 1)) < 0)
        bad = strerror(errno);
    else if ((size_t)n == sizeof buf - 1)
        bad = "larger than 4 KiB";
    close(fd);
    if (!bad) {
        buf[n] = '\0';
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line && !bad; line = strtok_r(NULL, "\n", &save)) {
            line[strcspn(line, "\r")] = '\0';
            if (!line[0] || line[0] == '#')
                continue;
            char *eq = strchr(line, '=');
            char *dst = NULL;
            size_t cap = 0;
            if (eq && eq - line == 8 && memcmp(line, "username", 8) == 0)
                dst = user, cap = user_cap;
            else if (eq && eq - line == 8 && memcmp(line, "password", 8) == 0)
                dst = pass, cap = pass_cap;
            if (!dst)
                bad = "a line is not username=… or password=…";
            else if (strlen(eq + 1) >= cap || !eq[1] || strpbrk(eq + 1, " \t"))
                bad = "a value is empty, too long or has spaces";
            else
                snprintf(dst, cap, "%s", eq + 1);
        }
    }
    if (!bad &&
        (!recd_sid_valid(user, strlen(user), "AC", 0) && !recd_sid_valid(user, strlen(user), "SK", 0)))
        bad = "username= must be an account sid (AC…) or an API key sid (SK…)";
    if (!bad && !pass[0])
        bad = "password= is missing";
    explicit_bzero(buf, sizeof buf);
    if (bad) {
        explicit_bzero(pass, pass_cap);
        snprintf(why, why_n, "credentials file %s: %s", path, bad);
        return RECD_E_BAD_INPUT;
    }
    return 0;
}
