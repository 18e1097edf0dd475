/*
 * A test harness that writes rows straight into a data folder's store, for the end-to-end tests
 * of states that only a live call produces (a recording in progress, absent or failed; calls in
 * every status). It goes through the store's operations, so every check the store makes on a
 * row applies; what it cannot do is anything the API or the command line would refuse.
 *
 *   store_rows DATA recording field=value…   inserts a recording; prints its sid
 *   store_rows DATA finish field=value…      recording_finish of sid=…
 *   store_rows DATA call field=value…        inserts a call; prints its sid
 *   store_rows DATA call-update field=value… call_update of sid=… (the fields given; others kept)
 *
 * Fields are the struct's own names (store/store.h); sid defaults to a fresh one, times to now.
 * Exit 0 on success, 2 on a bad field, 1 with the store's error name otherwise.
 */
#include "core/error.h"
#include "core/sid.h"
#include "core/time.h"
#include "service/service.h"
#include "store/store.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { STR, I64, INT };

struct field {
    const char *name;
    enum kind kind;
    size_t off, size;
};

#define F(T, f, k)                                                                                           \
    {                                                                                                        \
#f, k, offsetof(T, f), sizeof(((T *)0)->f)                                                           \
    }
#define R(f, k) F(struct recd_recording, f, k)
#define C(f, k) F(struct recd_call, f, k)

static const struct field recording_fields[] = {
    R(sid, STR),        R(account_sid, STR), R(call_sid, STR),     R(conference_sid, STR),
    R(created_us, I64), R(updated_us, I64),  R(start_us, I64),     R(duration_ms, I64),
    R(media_size, I64), R(channels, INT),    R(sample_rate, INT),  R(error_code, INT),
    R(status, STR),     R(source, STR),      R(media_sha256, STR), R(transcribe, INT),
};

static const struct field call_fields[] = {
    C(sid, STR),       C(account_sid, STR), C(number_sid, STR),  C(parent_call_sid, STR),
    C(from_addr, STR), C(to_addr, STR),     C(caller_name, STR), C(status, STR),
    C(direction, STR), C(created_us, I64),  C(updated_us, I64),  C(start_us, I64),
    C(end_us, I64),    C(duration_ms, I64), C(error_code, INT),  C(answered_by, STR),
};

/* Sets field `name` of `row` from `value`; 0, or -1 for an unknown field or a bad value. */
static int set_field(const struct field *fs, size_t n, void *row, const char *name, const char *value)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fs[i].name, name) != 0)
            continue;
        char *p = (char *)row + fs[i].off, *end;
        if (fs[i].kind == STR) {
            if (strlen(value) >= fs[i].size)
                return -1;
            memcpy(p, value, strlen(value) + 1);
            return 0;
        }
        long long v = strtoll(value, &end, 10);
        if (*end || !*value)
            return -1;
        if (fs[i].kind == I64) {
            int64_t v64 = v;
            memcpy(p, &v64, sizeof v64);
        } else {
            int vi = (int)v;
            memcpy(p, &vi, sizeof vi);
        }
        return 0;
    }
    return -1;
}

/* Applies every field=value argument; 0, or -1 (reported) for a bad one. */
static int set_fields(const struct field *fs, size_t n, void *row, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *eq = strchr(argv[i], '=');
        if (!eq || (size_t)(eq - argv[i]) >= sizeof name) {
            fprintf(stderr, "store_rows: want field=value, not %s\n", argv[i]);
            return -1;
        }
        memcpy(name, argv[i], (size_t)(eq - argv[i]));
        name[eq - argv[i]] = '\0';
        if (set_field(fs, n, row, name, eq + 1) < 0) {
            fprintf(stderr, "store_rows: bad field %s\n", argv[i]);
            return -1;
        }
    }
    return 0;
}

static int has_arg(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return 1;
    return 0;
}

#define NF(a) (sizeof(a) / sizeof((a)[0]))

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: store_rows DATA recording|finish|call|call-update field=value…\n");
        return 2;
    }
    struct recd_ctx ctx;
    /* $RECD_STORE: the store the server under test uses, when it is not the data folder's. */
    if (recd_ctx_open_store(argv[1], getenv("RECD_STORE"), &ctx) < 0) {
        fprintf(stderr, "store_rows: cannot open %s\n", argv[1]);
        return 1;
    }
    struct recd_store *st = ctx.store;
    const char *what = argv[2];
    int n = argc - 3, rc = 0;
    char **args = argv + 3;
    int64_t now = recd_now_us();
    if (strcmp(what, "recording") == 0 || strcmp(what, "finish") == 0) {
        struct recd_recording r;
        memset(&r, 0, sizeof r);
        r.created_us = r.updated_us = now;
        r.channels = 1;
        r.sample_rate = 8000;
        snprintf(r.status, sizeof r.status, RECD_REC_IN_PROGRESS);
        snprintf(r.source, sizeof r.source, "RecordVerb");
        if (!has_arg(n, args, "sid") && recd_sid_new(r.sid, "RE") < 0)
            rc = RECD_E_INTERNAL;
        if (rc == 0 && set_fields(recording_fields, NF(recording_fields), &r, n, args) < 0) {
            recd_ctx_close(&ctx);
            return 2;
        }
        if (rc == 0)
            rc = what[0] == 'r' ? st->ops->recording_insert(st, &r) : st->ops->recording_finish(st, &r);
        if (rc == 0)
            printf("%s\n", r.sid);
    } else if (strcmp(what, "call") == 0 || strcmp(what, "call-update") == 0) {
        struct recd_call c;
        memset(&c, 0, sizeof c);
        int update = strcmp(what, "call-update") == 0;
        if (update) {
            /* The row as it is, then the fields given. */
            char sid[RECD_SID_LEN + 1] = "";
            for (int i = 0; i < n; i++)
                if (strncmp(args[i], "sid=", 4) == 0)
                    snprintf(sid, sizeof sid, "%s", args[i] + 4);
            rc = st->ops->call_get(st, sid, &c);
            c.updated_us = now;
        } else {
            c.created_us = c.updated_us = now;
            snprintf(c.status, sizeof c.status, "queued");
            snprintf(c.direction, sizeof c.direction, "inbound");
            if (!has_arg(n, args, "sid") && recd_sid_new(c.sid, "CA") < 0)
                rc = RECD_E_INTERNAL;
        }
        if (rc == 0 && set_fields(call_fields, NF(call_fields), &c, n, args) < 0) {
            recd_ctx_close(&ctx);
            return 2;
        }
        if (rc == 0)
            rc = update ? st->ops->call_update(st, &c) : st->ops->call_insert(st, &c);
        if (rc == 0)
            printf("%s\n", c.sid);
    } else {
        fprintf(stderr, "store_rows: unknown row kind %s\n", what);
        recd_ctx_close(&ctx);
        return 2;
    }
    if (rc < 0)
        fprintf(stderr, "store_rows: %s\n", recd_err_name(rc));
    recd_ctx_close(&ctx);
    return rc < 0 ? 1 : 0;
}
