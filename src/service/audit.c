#include "service/audit.h"

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A worker's buffer past this is not emptied fast enough (the disk fails): records are dropped. */
#define BUF_LIMIT      (4u << 20)
#define DEFAULT_ROTATE (INT64_C(64) << 20)
/* A line is at most ~1 KiB (the path is bounded); longer ones are not ours. */
#define LINE_MAX_BYTES 4096

static const char *const event_names[RECD_AUDIT_EVENTS_] = {"none", "media", "delete", "auth"};
static const char *const cred_names[RECD_AUDIT_CREDS_] = {
    "public_url", "auth_token", "api_key", "signed_link", "other", "server", "cli", "none"};
static const char *const result_names[RECD_AUDIT_RESULTS_] = {"unchecked", "ok", "failed"};

const char *recd_audit_event_name(enum recd_audit_event e)
{
    return (unsigned)e < RECD_AUDIT_EVENTS_ ? event_names[e] : "none";
}

const char *recd_audit_cred_name(enum recd_audit_cred c)
{
    return (unsigned)c < RECD_AUDIT_CREDS_ ? cred_names[c] : "other";
}

/* --- Lines ------------------------------------------------------------------------------- */

/* "2026-12-07T19:02:04.123456Z": RFC 3339, what `--since` and every log shipper read. The date
 * and time of the last second a thread formatted are kept: glibc's gmtime_r takes a process-wide
 * lock, which every worker would otherwise take once a request. */
static void format_time(int64_t us, char out[48])
{
    static _Thread_local int64_t last_s = INT64_MIN;
    static _Thread_local char last[32];
    int64_t s = us / RECD_US_PER_SEC;
    long frac = (long)(us % RECD_US_PER_SEC);
    if (frac < 0) {
        frac += RECD_US_PER_SEC;
        s--;
    }
    if (s != last_s) {
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(last, sizeof last, "%04d-%02d-%02dT%02d:%02d:%02d", (tm.tm_year + 1900) % 10000,
                 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100);
        last_s = s;
    }
    size_t n = strlen(last);
    memcpy(out, last, n);
    out[n++] = '.';
    for (int i = 5; i >= 0; i--, frac /= 10)
        out[n + (size_t)i] = (char)('0' + frac % 10);
    memcpy(out + n + 6, "Z", 2);
}

/* A string field; request paths come from clients, so anything but printable ASCII becomes '?'
 * (a path is percent-encoded; raw bytes in one are an attack, not a name). */
static void add_field(struct recd_buf *out, const char *name, const char *v)
{
    char clean[RECD_AUDIT_PATH_MAX + 1];
    size_t n = strnlen(v, RECD_AUDIT_PATH_MAX);
    for (size_t i = 0; i < n; i++)
        clean[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
    recd_buf_adds(out, ",\"");
    recd_buf_adds(out, name);
    recd_buf_adds(out, "\":");
    recd_buf_json_str(out, (struct recd_str){clean, n});
}

/* A sid field: "" or two letters and 32 hex digits as every caller fills them, which need no
 * escaping; anything else goes through add_field's. */
static void add_sid(struct recd_buf *out, const char *head, const char *sid)
{
    size_t n = strnlen(sid, RECD_SID_LEN + 1);
    int safe = n == 0 || (sid[0] >= 'A' && sid[0] <= 'Z' && sid[1] >= 'A' && sid[1] <= 'Z' &&
                          recd_sid_valid(sid, n, sid, 1));
    if (!safe) {
        char name[16];
        size_t hl = strlen(head);
        snprintf(name, sizeof name, "%.*s", (int)(hl - 5), head + 2);
        add_field(out, name, sid);
        return;
    }
    recd_buf_adds(out, head);
    recd_buf_add(out, sid, n);
    recd_buf_addc(out, '"');
}

void recd_audit_format(const struct recd_audit_entry *e, struct recd_buf *out)
{
    char t[48];
    format_time(e->time_us, t);
    recd_buf_adds(out, "{\"time\":\"");
    recd_buf_adds(out, t);
    recd_buf_adds(out, "\",\"event\":\"");
    recd_buf_adds(out, recd_audit_event_name(e->event));
    recd_buf_adds(out, "\",\"credential\":\"");
    recd_buf_adds(out, recd_audit_cred_name(e->cred));
    recd_buf_adds(out, "\",\"auth\":\"");
    recd_buf_adds(out, (unsigned)e->result < RECD_AUDIT_RESULTS_ ? result_names[e->result] : "unchecked");
    recd_buf_addc(out, '"');
    add_sid(out, ",\"account_sid\":\"", e->account_sid);
    add_sid(out, ",\"principal\":\"", e->principal);
    add_sid(out, ",\"recording_sid\":\"", e->recording_sid);
    add_field(out, "address", e->address);
    add_field(out, "method", e->method);
    add_field(out, "path", e->path);
    recd_buf_adds(out, ",\"status\":");
    recd_buf_addi(out, e->status);
    recd_buf_adds(out, "}\n");
}

/* The index of `s` in `names`, or -1. */
static int name_index(const struct recd_json *j, long tok, const char *const *names, int n)
{
    if (tok < 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (recd_json_string_eq(j, (size_t)tok, names[i]))
            return i;
    return -1;
}

/* A sid field: "" or a well-formed sid of one of the prefixes. */
static int sid_field(const struct recd_json *j, const char *key, char out[RECD_SID_LEN + 1], const char *p1,
                     const char *p2)
{
    long t = recd_json_member(j, 0, key);
    if (t < 0 || recd_json_string_to(j, (size_t)t, out, RECD_SID_LEN + 1, 0) < 0)
        return -1;
    size_t n = strlen(out);
    if (n == 0)
        return 0;
    return recd_sid_valid(out, n, p1, 1) || (p2 && recd_sid_valid(out, n, p2, 1)) ? 0 : -1;
}

/* Parsed with the strict reader every outside JSON goes through: an audit file is on disk, where
 * anyone with access to the folder may have written to it. */
int recd_audit_parse(const char *p, size_t n, struct recd_audit_entry *e)
{
    struct recd_json j;
    int rc = -1;
    memset(e, 0, sizeof *e);
    if (n > LINE_MAX_BYTES)
        return -1;
    recd_json_init(&j);
    if (recd_json_parse(&j, p, n, 2) != 0 || recd_json_type(&j, 0) != RECD_JSON_OBJECT)
        goto out;
    char t[40];
    int is_day;
    long tok = recd_json_member(&j, 0, "time");
    if (tok < 0 || recd_json_string_to(&j, (size_t)tok, t, sizeof t, 0) < 0 ||
        recd_time_parse_filter(t, strlen(t), &e->time_us, &is_day) < 0 || is_day)
        goto out;
    int ev = name_index(&j, recd_json_member(&j, 0, "event"), event_names, RECD_AUDIT_EVENTS_);
    int cr = name_index(&j, recd_json_member(&j, 0, "credential"), cred_names, RECD_AUDIT_CREDS_);
    int rs = name_index(&j, recd_json_member(&j, 0, "auth"), result_names, RECD_AUDIT_RESULTS_);
    if (ev <= 0 || cr < 0 || rs < 0)
        goto out;
    e->event = (enum recd_audit_event)ev;
    e->cred = (enum recd_audit_cred)cr;
    e->result = (enum recd_audit_result)rs;
    if (sid_field(&j, "account_sid", e->account_sid, "AC", NULL) < 0 ||
        sid_field(&j, "principal", e->principal, "AC", "SK") < 0 ||
        sid_field(&j, "recording_sid", e->recording_sid, "RE", NULL) < 0)
        goto out;
    tok = recd_json_member(&j, 0, "address");
    if (tok < 0 || recd_json_string_to(&j, (size_t)tok, e->address, sizeof e->address, 0) < 0)
        goto out;
    tok = recd_json_member(&j, 0, "method");
    if (tok < 0 || recd_json_string_to(&j, (size_t)tok, e->method, sizeof e->method, 0) < 0)
        goto out;
    tok = recd_json_member(&j, 0, "path");
    if (tok < 0 || recd_json_string_to(&j, (size_t)tok, e->path, sizeof e->path, 0) < 0)
        goto out;
    int64_t status;
    tok = recd_json_member(&j, 0, "status");
    if (tok < 0 || recd_json_int(&j, (size_t)tok, &status) < 0 || status < 0 || status > 999)
        goto out;
    e->status = (int)status;
    rc = 0;
out:
    recd_json_free(&j);
    if (rc < 0)
        memset(e, 0, sizeof *e);
    return rc;
}

/* --- Writing ----------------------------------------------------------------------------- */

struct recd_audit_buf {
    struct recd_audit *owner;
    pthread_mutex_t lock;
    struct recd_buf lines;
    uint64_t dropped;
    struct recd_audit_buf *next;
};

struct recd_audit {
    char dir[PATH_MAX];
    char current[NAME_MAX + 1]; /* this process's file, in dir */
    int fd;
    int64_t size, rotate_bytes;
    int keep_days, flush_ms, sync;
    pthread_t thread;
    pthread_mutex_t lock; /* the buffers' list and `stop` */
    pthread_cond_t wake;
    int stop;
    struct recd_audit_buf *bufs;
    struct recd_buf out;  /* the writer's: every buffer's lines of one tick */
    struct recd_buf left; /* lines of buffers freed since the last tick; under `lock` */
    _Atomic uint64_t written, dropped, syncs;
    int64_t next_sweep_us;
    int failing;      /* the last write failed: logged once until one succeeds */
    int sync_failing; /* the last fdatasync failed: likewise */
    int cut;          /* the file ends in part of a line */
};

/* Opens a new file named by the time it begins and the process: names sort in the order files
 * were begun, and two processes (the server, `recd delete`) never share one. */
static int open_file(struct recd_audit *a)
{
    char t[48], path[PATH_MAX + NAME_MAX + 2];
    int64_t now = recd_now_us();
    format_time(now, t);
    /* "2026-12-07T19:02:04.123456Z" without the punctuation a shell or a glob trips on. */
    char compact[48];
    size_t k = 0;
    for (const char *c = t; *c && k < sizeof compact - 1; c++)
        if (*c != '-' && *c != ':')
            compact[k++] = *c;
    compact[k] = '\0';
    snprintf(a->current, sizeof a->current, "audit-%s-%ld.jsonl", compact, (long)getpid());
    snprintf(path, sizeof path, "%s/%s", a->dir, a->current);
    a->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        recd_log_error("audit: cannot open %s: %s", path, strerror(errno));
        return RECD_E_IO;
    }
    a->size = 0;
    /* The new name, too, must outlive a power loss for the synced lines in it to be found. Once
     * per file, so at start and rotation only. */
    if (a->sync) {
        int dfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

int recd_audit_file_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n <= 12 || n > RECD_AUDIT_FILE_NAME_MAX || strncmp(name, "audit-", 6) != 0 ||
        strcmp(name + n - 6, ".jsonl") != 0 || strstr(name, ".."))
        return 0;
    for (size_t i = 6; i < n - 6; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= 'a' && name[i] <= 'z') || name[i] == '-' || name[i] == '.'))
            return 0;
    return 1;
}

static int is_audit_name(const char *name)
{
    return recd_audit_file_name_ok(name);
}

/* Removes files last written more than keep_days ago (never the one being written). */
static void sweep(struct recd_audit *a, int64_t now_us)
{
    if (a->keep_days <= 0)
        return;
    DIR *d = opendir(a->dir);
    if (!d)
        return;
    int64_t limit = now_us - (int64_t)a->keep_days * RECD_US_PER_DAY;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat sb;
        if (!is_audit_name(de->d_name) || strcmp(de->d_name, a->current) == 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
            continue;
        int64_t mtime = (int64_t)sb.st_mtim.tv_sec * RECD_US_PER_SEC + sb.st_mtim.tv_nsec / 1000;
        if (mtime < limit && unlinkat(dirfd(d), de->d_name, 0) == 0)
            recd_log_info("audit: removed %s (older than %d days)", de->d_name, a->keep_days);
    }
    closedir(d);
}

/* Appends the writer's gathered lines to the file, rotating first when it is full. The writer
 * thread only (and close, after it has stopped). */
static void write_out(struct recd_audit *a)
{
    if (a->out.len == 0)
        return;
    if (a->fd >= 0 && a->size > 0 && a->size + (int64_t)a->out.len > a->rotate_bytes) {
        fsync(a->fd);
        close(a->fd);
        a->fd = -1;
        if (open_file(a) == 0)
            sweep(a, recd_now_us());
    }
    size_t off = 0;
    if (a->fd < 0 && open_file(a) < 0)
        goto count;
    /* A write the disk cut short left part of a line: end it, so that the reader skips that part
     * alone rather than it and the next record run together. */
    if (a->cut && write(a->fd, "\n", 1) == 1) {
        a->cut = 0;
        a->size++;
    }
    while (off < a->out.len) {
        ssize_t w = write(a->fd, a->out.p + off, a->out.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (!a->failing)
                recd_log_error("audit: cannot write %s/%s: %s; records are lost until it can", a->dir,
                               a->current, strerror(errno));
            a->failing = 1;
            break;
        }
        off += (size_t)w;
    }
    if (off == a->out.len)
        a->failing = 0;
    else if (off > 0 && a->out.p[off - 1] != '\n')
        a->cut = 1;
    a->size += (int64_t)off;
    /* Once per batch, on this thread: requests never wait for it, and an idle tick has returned
     * above, so an idle server never syncs. fdatasync: the size is what a reader needs, the
     * times are not. */
    if (off > 0 && a->sync) {
        if (fdatasync(a->fd) == 0) {
            a->syncs++;
            a->sync_failing = 0;
        } else if (!a->sync_failing) {
            recd_log_error("audit: cannot sync %s/%s: %s", a->dir, a->current, strerror(errno));
            a->sync_failing = 1;
        }
    }
count:;
    /* Count whole lines written; a line cut by a failed write is skipped by readers. Counted
     * here and added once: the counters are atomic, a byte-by-byte add would lock the bus. */
    uint64_t lines = 0, lost = 0;
    for (const char *p = a->out.p, *end = a->out.p + off; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        lines++;
    for (const char *p = a->out.p + off, *end = a->out.p + a->out.len;
         (p = memchr(p, '\n', (size_t)(end - p))); p++)
        lost++;
    a->written += lines;
    a->dropped += lost;
    recd_buf_reset(&a->out);
}

/* Takes every buffer's lines into a->out. With a->lock held. */
static void gather(struct recd_audit *a)
{
    if (a->left.len)
        recd_buf_add(&a->out, a->left.p, a->left.len);
    recd_buf_reset(&a->left);
    for (struct recd_audit_buf *b = a->bufs; b; b = b->next) {
        pthread_mutex_lock(&b->lock);
        if (b->lines.len)
            recd_buf_add(&a->out, b->lines.p, b->lines.len);
        recd_buf_reset(&b->lines);
        uint64_t dropped = b->dropped;
        b->dropped = 0;
        pthread_mutex_unlock(&b->lock);
        if (dropped) {
            a->dropped += dropped;
            recd_log_error("audit: %llu records dropped: the writer could not keep up",
                           (unsigned long long)dropped);
        }
    }
}

static void *writer_main(void *arg)
{
    struct recd_audit *a = arg;
    (void)pthread_setname_np(pthread_self(), "recd-audit"); /* for top -H, perf and its cost */
    pthread_mutex_lock(&a->lock);
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)a->flush_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (!a->stop)
            pthread_cond_timedwait(&a->wake, &a->lock, &ts);
        gather(a);
        int stop = a->stop;
        /* The disk is written without the list's lock: a worker that comes or goes waits only
         * for the gathering. */
        pthread_mutex_unlock(&a->lock);
        write_out(a);
        int64_t now = recd_now_us();
        if (now >= a->next_sweep_us) {
            a->next_sweep_us = now + 3600 * RECD_US_PER_SEC;
            sweep(a, now);
        }
        pthread_mutex_lock(&a->lock);
        if (stop && !a->bufs)
            break;
        if (stop) {
            /* Buffers still registered at close are the caller's to free; take their lines. */
            gather(a);
            pthread_mutex_unlock(&a->lock);
            write_out(a);
            pthread_mutex_lock(&a->lock);
            break;
        }
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

int recd_audit_open(const struct recd_audit_opts *o, struct recd_audit **out)
{
    *out = NULL;
    struct recd_audit *a = calloc(1, sizeof *a);
    if (!a)
        return RECD_E_INTERNAL;
    a->fd = -1;
    a->rotate_bytes = o->rotate_bytes > 0 ? o->rotate_bytes : DEFAULT_ROTATE;
    a->keep_days = o->keep_days;
    a->flush_ms = o->flush_ms > 0 ? o->flush_ms : 100;
    a->sync = !o->no_sync;
    if (snprintf(a->dir, sizeof a->dir, "%s/audit", o->data_dir) >= (int)sizeof a->dir) {
        free(a);
        return RECD_E_BAD_INPUT;
    }
    if (mkdir(a->dir, 0700) < 0 && errno != EEXIST) {
        recd_log_error("audit: cannot create %s: %s", a->dir, strerror(errno));
        free(a);
        return RECD_E_IO;
    }
    if (open_file(a) < 0) {
        free(a);
        return RECD_E_IO;
    }
    sweep(a, recd_now_us());
    a->next_sweep_us = recd_now_us() + 3600 * RECD_US_PER_SEC;
    recd_buf_init(&a->out, 0);
    recd_buf_init(&a->left, 0);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    /* The writer takes no signal: a process-directed SIGTERM must reach the thread that waits
     * for it (recd serve's main thread), never end the process from here. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int started = pthread_create(&a->thread, NULL, writer_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started != 0) {
        recd_log_error("audit: cannot start the writer thread");
        close(a->fd);
        pthread_mutex_destroy(&a->lock);
        pthread_cond_destroy(&a->wake);
        recd_buf_free(&a->out);
        recd_buf_free(&a->left);
        free(a);
        return RECD_E_INTERNAL;
    }
    *out = a;
    return 0;
}

void recd_audit_close(struct recd_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stop = 1;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    if (a->fd >= 0) {
        fsync(a->fd);
        close(a->fd);
    }
    /* Buffers not freed by their threads: their lines were written above; unlink them. */
    for (struct recd_audit_buf *b = a->bufs; b; b = b->next)
        b->owner = NULL;
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->wake);
    recd_buf_free(&a->out);
    recd_buf_free(&a->left);
    free(a);
}

struct recd_audit_buf *recd_audit_buf_new(struct recd_audit *a)
{
    struct recd_audit_buf *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->owner = a;
    pthread_mutex_init(&b->lock, NULL);
    recd_buf_init(&b->lines, 0);
    pthread_mutex_lock(&a->lock);
    b->next = a->bufs;
    a->bufs = b;
    pthread_mutex_unlock(&a->lock);
    return b;
}

void recd_audit_buf_free(struct recd_audit_buf *b)
{
    if (!b)
        return;
    struct recd_audit *a = b->owner;
    if (a) {
        pthread_mutex_lock(&a->lock);
        /* Its last lines go to the writer's next write. */
        pthread_mutex_lock(&b->lock);
        if (b->lines.len)
            recd_buf_add(&a->left, b->lines.p, b->lines.len);
        a->dropped += b->dropped;
        pthread_mutex_unlock(&b->lock);
        for (struct recd_audit_buf **p = &a->bufs; *p; p = &(*p)->next)
            if (*p == b) {
                *p = b->next;
                break;
            }
        pthread_mutex_unlock(&a->lock);
    }
    pthread_mutex_destroy(&b->lock);
    recd_buf_free(&b->lines);
    free(b);
}

void recd_audit_add(struct recd_audit_buf *b, const struct recd_audit_entry *e)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    if (b->lines.len < BUF_LIMIT)
        recd_audit_format(e, &b->lines);
    else
        b->dropped++;
    pthread_mutex_unlock(&b->lock);
}

void recd_audit_counts(struct recd_audit *a, uint64_t *written, uint64_t *dropped)
{
    *written = a->written;
    *dropped = a->dropped;
}

uint64_t recd_audit_syncs(struct recd_audit *a)
{
    return a->syncs;
}

/* --- Reading ----------------------------------------------------------------------------- */

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Prints the matching records of one file. */
static void print_file(int dfd, const char *name, const char *account_sid, int64_t since_us, FILE *out,
                       int64_t *skipped)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        recd_log_warn("audit: cannot read %s: %s", name, strerror(errno));
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    struct recd_audit_entry e;
    while ((n = getline(&line, &cap, f)) > 0) {
        size_t len = (size_t)n;
        if (line[len - 1] != '\n') {
            (*skipped)++; /* the last line of a file cut by a crash */
            continue;
        }
        len--;
        if (recd_audit_parse(line, len, &e) < 0) {
            (*skipped)++;
            continue;
        }
        if (e.time_us < since_us || (account_sid && strcmp(e.account_sid, account_sid) != 0))
            continue;
        fwrite(line, 1, len + 1, out);
    }
    free(line);
    fclose(f);
}

int recd_audit_print(const char *data_dir, const char *account_sid, int64_t since_us, void *out,
                     int64_t *skipped)
{
    char dir[PATH_MAX];
    *skipped = 0;
    if (snprintf(dir, sizeof dir, "%s/audit", data_dir) >= (int)sizeof dir)
        return RECD_E_BAD_INPUT;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : RECD_E_IO;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_audit_name(de->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn) {
                rc = RECD_E_INTERNAL;
                break;
            }
            names = nn;
            cap = ncap;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = RECD_E_INTERNAL;
            break;
        }
        n++;
    }
    if (rc == 0) {
        qsort(names, n, sizeof *names, cmp_names);
        for (size_t i = 0; i < n; i++)
            print_file(dirfd(d), names[i], account_sid, since_us, out, skipped);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}
