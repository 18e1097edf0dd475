#include "media/blob_s3.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Where the media lives ("s3://BUCKET[/PREFIX]?endpoint=…&region=…") and the credentials to reach
 * it. Both are checked whole before anything is opened, so that a bad location is one line and
 * exit 2 on the command line. A secret never appears in a message: reasons name the variable or
 * the file, never a value read from it.
 */

#define CREDS_FILE_MAX (64 * 1024)

static int fail(char *why, size_t why_n, const char *fmt, const char *arg)
{
    snprintf(why, why_n, fmt, arg);
    return -1;
}

int recd_s3_is_location(const char *location)
{
    return location && strncmp(location, "s3://", 5) == 0;
}

/* A bucket name as S3 allows it: 3 to 63 of [a-z0-9.-], starting and ending with a letter or digit. */
static int bucket_valid(const char *s, size_t n)
{
    if (n < 3 || n > RECD_S3_BUCKET_MAX || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

/* A key prefix of [A-Za-z0-9._-] segments separated by single slashes: no empty or dot-only
 * segment, so that every object name recd builds is plain and needs no encoding. */
static int prefix_valid(const char *s, size_t n)
{
    size_t seg = 0;
    int dots_only = 1;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '/') {
            if (seg == 0 || dots_only)
                return i == n && seg == 0 && i > 0 && s[i - 1] == '/'; /* a trailing slash is fine */
            seg = 0;
            dots_only = 1;
            continue;
        }
        if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return 0;
        if (s[i] != '.')
            dots_only = 0;
        seg++;
    }
    return 1;
}

/* An endpoint "http(s)://host[:port]" (a trailing slash tolerated): host of [A-Za-z0-9.-] or an
 * IPv6 literal in brackets, a port of digits, nothing else. */
static int endpoint_valid(const char *s, size_t n, char *out)
{
    size_t at = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
    if (!at || n > RECD_S3_ENDPOINT_MAX)
        return 0;
    if (n > at && s[n - 1] == '/')
        n--;
    size_t host = at;
    if (host < n && s[host] == '[') {
        while (host < n && s[host] != ']') {
            if (!(isxdigit((unsigned char)s[host]) || s[host] == ':' || s[host] == '['))
                return 0;
            host++;
        }
        if (host >= n)
            return 0;
        host++;
    } else {
        while (host < n && (isalnum((unsigned char)s[host]) || s[host] == '.' || s[host] == '-'))
            host++;
    }
    if (host == at)
        return 0;
    if (host < n) {
        if (s[host] != ':' || host + 1 == n || n - host - 1 > 5)
            return 0;
        long port = 0;
        for (size_t i = host + 1; i < n; i++) {
            if (!isdigit((unsigned char)s[i]))
                return 0;
            port = port * 10 + (s[i] - '0');
        }
        if (port < 1 || port > 65535)
            return 0;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

static int region_valid(const char *s, size_t n)
{
    if (n < 1 || n > RECD_S3_REGION_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return 0;
    return 1;
}

/* Decodes %XX escapes of a query value into out (cap bytes with the NUL): 0, or -1. */
static int unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
                return -1;
            c = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        if ((unsigned char)c < 0x21 || (unsigned char)c > 0x7e || o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int recd_s3_parse_location(const char *location, struct recd_s3_config *cfg, char *why, size_t why_n)
{
    char shown[80];
    memset(cfg, 0, sizeof *cfg);
    if (!recd_s3_is_location(location))
        return fail(why, why_n, "%s", "a media location must begin s3://");
    size_t total = strlen(location);
    if (total > 2048)
        return fail(why, why_n, "%s", "the media location is too long");
    const char *p = location + 5, *q = strchr(p, '?');
    const char *path_end = q ? q : location + total;
    const char *slash = memchr(p, '/', (size_t)(path_end - p));
    const char *bucket_end = slash ? slash : path_end;
    size_t bn = (size_t)(bucket_end - p);
    if (!bucket_valid(p, bn)) {
        snprintf(shown, sizeof shown, "%.*s", (int)(bn < 64 ? bn : 64), p);
        return fail(why, why_n, "bucket name \"%s\": want 3 to 63 of a-z, 0-9, '.' and '-'", shown);
    }
    memcpy(cfg->bucket, p, bn);
    if (slash && slash + 1 < path_end) {
        size_t pn = (size_t)(path_end - slash - 1);
        if (pn + 1 > RECD_S3_PREFIX_MAX || !prefix_valid(slash + 1, pn))
            return fail(why, why_n, "%s",
                        "key prefix: want segments of A-Z, a-z, 0-9, '.', '_' and '-' "
                        "separated by single slashes");
        memcpy(cfg->prefix, slash + 1, pn);
        if (cfg->prefix[pn - 1] != '/')
            cfg->prefix[pn] = '/';
    }
    char endpoint[RECD_S3_ENDPOINT_MAX + 1] = "";
    snprintf(cfg->region, sizeof cfg->region, "us-east-1");
    for (const char *a = q ? q + 1 : NULL; a && *a;) {
        const char *amp = strchr(a, '&');
        size_t an = amp ? (size_t)(amp - a) : strlen(a);
        const char *eq = memchr(a, '=', an);
        char name[32], value[RECD_S3_ENDPOINT_MAX + 1];
        size_t nn = eq ? (size_t)(eq - a) : an;
        if (!eq || nn == 0 || nn >= sizeof name || unescape(eq + 1, an - nn - 1, value, sizeof value) < 0) {
            snprintf(shown, sizeof shown, "%.*s", (int)(an < 40 ? an : 40), a);
            return fail(why, why_n, "bad option \"%s\" in the media location (want name=value)", shown);
        }
        memcpy(name, a, nn);
        name[nn] = '\0';
        if (strcmp(name, "endpoint") == 0) {
            if (!endpoint_valid(value, strlen(value), endpoint))
                return fail(why, why_n, "%s", "endpoint: want http://HOST[:PORT] or https://HOST[:PORT]");
        } else if (strcmp(name, "region") == 0) {
            if (!region_valid(value, strlen(value)))
                return fail(why, why_n, "%s", "region: want a-z, 0-9 and '-', like us-east-1");
            memcpy(cfg->region, value, strlen(value) + 1); /* checked: it fits */
        } else if (strcmp(name, "style") == 0) {
            if (strcmp(value, "path") == 0)
                cfg->virtual_host = 0;
            else if (strcmp(value, "virtual") == 0)
                cfg->virtual_host = 1;
            else
                return fail(why, why_n, "%s", "style: want path or virtual");
        } else {
            return fail(why, why_n, "unknown option \"%s\" in the media location (endpoint, region, style)",
                        name);
        }
        a = amp ? amp + 1 : NULL;
    }
    if (endpoint[0])
        snprintf(cfg->endpoint, sizeof cfg->endpoint, "%s", endpoint);
    else
        snprintf(cfg->endpoint, sizeof cfg->endpoint, "https://s3.%s.amazonaws.com", cfg->region);
    if (cfg->virtual_host && strchr(cfg->bucket, '.') && strncmp(cfg->endpoint, "https://", 8) == 0)
        return fail(why, why_n, "%s", "a bucket with dots in its name needs style=path over https");
    return 0;
}

/* Copies a credential value (printable ASCII, no spaces) into dst: 0, or -1. */
static int set_value(char *dst, size_t cap, const char *v, size_t n)
{
    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
            return -1;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

/* Reads a credentials file whole (bounded): 0 with buf filled, or -1 with a reason. */
static int read_file(const char *file, char *buf, size_t cap, char *why, size_t why_n)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(why, why_n, "cannot read the S3 credentials file %s", file);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size >= (off_t)cap) {
        close(fd);
        return fail(why, why_n, "the S3 credentials file %s is not a small regular file", file);
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return 0;
}

/*
 * The AWS shared-credentials format: "[section]" lines and "name = value" lines, '#' and ';'
 * comments. The keys of [default] count, or those before any section (a file of just the keys).
 */
static int parse_credentials_file(struct recd_s3_config *cfg, const char *file, char *text, char *why,
                                  size_t why_n)
{
    int in_default = 1, line_no = 0;
    cfg->key_id[0] = cfg->secret[0] = cfg->token[0] = '\0';
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        size_t n = strlen(line);
        while (n && isspace((unsigned char)line[n - 1]))
            line[--n] = '\0';
        while (*line && isspace((unsigned char)*line))
            line++;
        if (!*line || *line == '#' || *line == ';')
            continue;
        if (*line == '[') {
            in_default = strcmp(line, "[default]") == 0;
            continue;
        }
        if (!in_default)
            continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            char at[16];
            snprintf(at, sizeof at, "%d", line_no);
            char msg[300];
            snprintf(msg, sizeof msg, "the S3 credentials file %.200s: line %s is not name = value", file,
                     at);
            return fail(why, why_n, "%s", msg);
        }
        char *name = line, *value = eq + 1;
        char *ne = eq;
        while (ne > name && isspace((unsigned char)ne[-1]))
            ne--;
        *ne = '\0';
        while (*value && isspace((unsigned char)*value))
            value++;
        int bad = 0;
        if (strcmp(name, "aws_access_key_id") == 0)
            bad = set_value(cfg->key_id, sizeof cfg->key_id, value, strlen(value));
        else if (strcmp(name, "aws_secret_access_key") == 0)
            bad = set_value(cfg->secret, sizeof cfg->secret, value, strlen(value));
        else if (strcmp(name, "aws_session_token") == 0)
            bad = set_value(cfg->token, sizeof cfg->token, value, strlen(value));
        if (bad) {
            char msg[400];
            snprintf(msg, sizeof msg,
                     "the S3 credentials file %.200s: the value of %.40s is empty, too long or "
                     "has spaces",
                     file, name);
            return fail(why, why_n, "%s", msg);
        }
    }
    if (!cfg->key_id[0] || !cfg->secret[0])
        return fail(why, why_n,
                    "the S3 credentials file %s has no aws_access_key_id and aws_secret_access_key "
                    "in [default]",
                    file);
    return 0;
}

int recd_s3_load_credentials(struct recd_s3_config *cfg, const char *file, char *why, size_t why_n)
{
    if (file) {
        static char text[CREDS_FILE_MAX];
        int rc = read_file(file, text, sizeof text, why, why_n);
        if (rc == 0)
            rc = parse_credentials_file(cfg, file, text, why, why_n);
        memset(text, 0, sizeof text);
        return rc;
    }
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY"),
               *token = getenv("AWS_SESSION_TOKEN");
    if (!id || !*id || !secret || !*secret)
        return fail(why, why_n, "%s",
                    "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    "or give --s3-credentials FILE");
    if (set_value(cfg->key_id, sizeof cfg->key_id, id, strlen(id)) < 0)
        return fail(why, why_n, "%s", "AWS_ACCESS_KEY_ID is too long or has spaces");
    if (set_value(cfg->secret, sizeof cfg->secret, secret, strlen(secret)) < 0)
        return fail(why, why_n, "%s", "AWS_SECRET_ACCESS_KEY is too long or has spaces");
    cfg->token[0] = '\0';
    if (token && *token && set_value(cfg->token, sizeof cfg->token, token, strlen(token)) < 0)
        return fail(why, why_n, "%s", "AWS_SESSION_TOKEN is too long or has spaces");
    return 0;
}
