#include "core/tally.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LEN 31

/* One tally's fields while it is merged: the kept ones, then this run's. */
struct merged {
    char name[RECD_TALLY_FIELDS_MAX][NAME_MAX_LEN + 1];
    int64_t value[RECD_TALLY_FIELDS_MAX];
    size_t n;
};

static int name_ok(const char *s, int underscore_digits)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] >= 'a' && s[i] <= 'z') &&
            !(underscore_digits && (s[i] == '_' || (s[i] >= '0' && s[i] <= '9'))))
            return 0;
    return 1;
}

/* Every member of the object in p[0…n) into m (names checked, values integers). 0 or -1. */
static int parse_all(const char *p, size_t n, struct merged *m)
{
    struct recd_json j;
    recd_json_init(&j);
    int rc = recd_json_parse(&j, p, n, 1) == 0 && recd_json_type(&j, 0) == RECD_JSON_OBJECT ? 0 : -1;
    m->n = 0;
    for (size_t i = 1; rc == 0 && i < j.ntok; i = j.tok[i + 1].next) {
        if (m->n == RECD_TALLY_FIELDS_MAX || i + 1 >= j.ntok ||
            recd_json_string_to(&j, i, m->name[m->n], sizeof m->name[m->n], 0) < 0 ||
            !name_ok(m->name[m->n], 1) || recd_json_type(&j, i + 1) != RECD_JSON_NUMBER ||
            recd_json_int(&j, i + 1, &m->value[m->n]) < 0) {
            rc = -1;
            break;
        }
        m->n++;
    }
    if (rc < 0)
        m->n = 0;
    recd_json_free(&j);
    return rc;
}

int recd_tally_parse(const char *p, size_t n, struct recd_tally_field *f, size_t nf)
{
    struct merged m;
    for (size_t i = 0; i < nf; i++)
        f[i].value = 0;
    if (n > RECD_TALLY_FILE_MAX || parse_all(p, n, &m) < 0)
        return -1;
    for (size_t i = 0; i < nf; i++)
        for (size_t k = 0; k < m.n; k++)
            if (strcmp(f[i].name, m.name[k]) == 0)
                f[i].value = m.value[k];
    return 0;
}

/* The ops folder of data_dir, opened (and made when `create`); -1 with errno set. */
static int ops_dir(const char *data_dir, int create)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/ops", data_dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (create && mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    return open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Reads the file `name` of dirfd whole into buf (at most RECD_TALLY_FILE_MAX + 1 bytes, so that
 * a larger file shows as too large). 1 read, 0 none, -1 error with errno. */
static int read_file(int dirfd, const char *name, char *buf, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    size_t n = 0;
    while (n < RECD_TALLY_FILE_MAX + 1) {
        ssize_t r = read(fd, buf + n, RECD_TALLY_FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return 1;
}

int recd_tally_read(const char *data_dir, const char *kind, struct recd_tally_field *f, size_t n)
{
    char name[48], buf[RECD_TALLY_FILE_MAX + 1];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        f[i].value = 0;
    if (!name_ok(kind, 0) || snprintf(name, sizeof name, "%s.json", kind) >= (int)sizeof name)
        return -1;
    int dirfd = ops_dir(data_dir, 0);
    if (dirfd < 0)
        return errno == ENOENT ? 0 : -1;
    int got = read_file(dirfd, name, buf, &len);
    close(dirfd);
    if (got <= 0)
        return got;
    return recd_tally_parse(buf, len, f, n) == 0 ? 1 : -1;
}

/* 1 when the kept fields that `f` does not name leave room for all of f. */
static int room_for(const struct merged *m, const struct recd_tally_field *f, size_t n)
{
    size_t other = 0;
    for (size_t k = 0; k < m->n; k++) {
        size_t i = 0;
        while (i < n && strcmp(f[i].name, m->name[k]) != 0)
            i++;
        other += i == n;
    }
    return other + n <= RECD_TALLY_FIELDS_MAX;
}

/* Adds or sets field f in m (room_for said there is room). */
static void merge_one(struct merged *m, const struct recd_tally_field *f)
{
    for (size_t k = 0; k < m->n; k++)
        if (strcmp(m->name[k], f->name) == 0) {
            /* Saturating: a kept value anyone with the folder could have edited must not overflow. */
            if (f->set)
                m->value[k] = f->value;
            else if (__builtin_add_overflow(m->value[k], f->value, &m->value[k]))
                m->value[k] = f->value < 0 ? INT64_MIN : INT64_MAX;
            return;
        }
    snprintf(m->name[m->n], sizeof m->name[m->n], "%s", f->name);
    m->value[m->n++] = f->value;
}

/* Writes m as kind.json in dirfd, replacing it durably. */
static int write_tally(int dirfd, const char *name, const char *kind, const struct merged *m)
{
    struct recd_buf b;
    recd_buf_init(&b, 256);
    recd_buf_addc(&b, '{');
    for (size_t k = 0; k < m->n; k++)
        recd_buf_printf(&b, "%s\"%s\":%lld", k ? "," : "", m->name[k], (long long)m->value[k]);
    recd_buf_adds(&b, "}\n");
    struct recd_tmpfile t;
    int rc = recd_tmpfile_create(&t, dirfd, kind, 0600);
    if (rc == 0) {
        if (recd_write_all(t.fd, b.p, b.len) < 0)
            rc = recd_err_from_errno(errno);
        else
            rc = recd_tmpfile_publish(&t, dirfd, name, 0, NULL);
        recd_tmpfile_discard(&t);
    }
    recd_buf_free(&b);
    return rc;
}

int recd_tally_add(const char *data_dir, const char *kind, const struct recd_tally_field *f, size_t n)
{
    char name[48], lock[48], buf[RECD_TALLY_FILE_MAX + 1];
    if (!name_ok(kind, 0) || n > RECD_TALLY_FIELDS_MAX)
        return RECD_E_BAD_INPUT;
    for (size_t i = 0; i < n; i++)
        if (!f[i].name || !name_ok(f[i].name, 1))
            return RECD_E_BAD_INPUT;
    snprintf(name, sizeof name, "%s.json", kind);
    snprintf(lock, sizeof lock, "%s.lock", kind);
    int dirfd = ops_dir(data_dir, 1);
    if (dirfd < 0)
        return recd_err_from_errno(errno);
    int lfd = openat(dirfd, lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = 0;
    if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
        rc = recd_err_from_errno(errno);
        goto out;
    }
    struct merged m = {.n = 0};
    size_t len = 0;
    int got = read_file(dirfd, name, buf, &len);
    if (got < 0) {
        rc = recd_err_from_errno(errno);
        goto out;
    }
    if (got > 0 && (len > RECD_TALLY_FILE_MAX || parse_all(buf, len, &m) < 0))
        recd_log_warn("%s/ops/%s is not a tally recd wrote; starting it again", data_dir, name);
    if (!room_for(&m, f, n))
        m.n = 0; /* an older recd's fields crowd this run's out: this run's count */
    for (size_t i = 0; i < n; i++)
        merge_one(&m, &f[i]);
    rc = write_tally(dirfd, name, kind, &m);
out:
    if (lfd >= 0)
        close(lfd); /* releases the flock */
    close(dirfd);
    return rc;
}
