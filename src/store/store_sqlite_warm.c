#include "store/store_sqlite_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*
 * Reading ahead of a batch of inserts (recording_warm). A recording's row goes at the end of the
 * table, but two of its index entries go where its random sid sorts: the sid's own index and
 * (status, sid). In a large store those are leaf pages nobody has read lately, and a transaction
 * reads them one at a time, waiting on the disk for each (two per row: most of an import's
 * commit on a cold cache). Here a few read-only connections look the new keys up side by side,
 * which reads the same pages into the operating system's cache, several requests in flight at
 * once; the transaction then finds them there.
 *
 * The connections are this handle's, opened on the first call and closed with it. Nothing is
 * written and nothing is reported: whatever fails here, the inserts read the pages themselves.
 */

#define WARM_CONNS 4
/* SQLite's lookups need little stack; small stacks stay in glibc's cache between calls. */
#define WARM_STACK (512 * 1024)

struct warm_conn {
    sqlite3 *db;
    sqlite3_stmt *by_sid;
    sqlite3_stmt *by_status;
    int broken; /* could not open or prepare: not tried again */
};

struct sqlite_warm {
    struct warm_conn conn[WARM_CONNS];
    char *path;
};

struct warm_job {
    struct sqlite_warm *w;
    struct warm_conn *c;
    const struct recd_recording *recs;
    int first, step, n;
};

static const char by_sid_sql[] = "SELECT 1 FROM recordings WHERE sid = ?1";
/* INDEXED BY: the planner would rather take the sid's own index for this, which is warm already. */
static const char by_status_sql[] =
    "SELECT 1 FROM recordings INDEXED BY recordings_status WHERE status = ?1 AND sid = ?2";

static int conn_open(struct sqlite_warm *w, struct warm_conn *c)
{
    if (c->db)
        return 0;
    if (c->broken)
        return -1;
    if (sqlite3_open_v2(w->path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(c->db, by_sid_sql, -1, SQLITE_PREPARE_PERSISTENT, &c->by_sid, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(c->db, by_status_sql, -1, SQLITE_PREPARE_PERSISTENT, &c->by_status, NULL) !=
            SQLITE_OK) {
        /* An older schema without the status index, or no file: the inserts do without. */
        sqlite3_finalize(c->by_sid);
        sqlite3_finalize(c->by_status);
        sqlite3_close(c->db);
        c->db = NULL;
        c->by_sid = c->by_status = NULL;
        c->broken = 1;
        return -1;
    }
    /* A lookup that meets a lock is simply skipped: waiting would only delay the batch. */
    sqlite3_busy_timeout(c->db, 0);
    /* The pages matter in the operating system's cache, not in this connection's: a small cache
     * of its own recycles its memory (each page it keeps is one more allocation to fault in). */
    sqlite3_exec(c->db, "PRAGMA cache_size = 32", NULL, NULL, NULL);
    return 0;
}

static void look_up(sqlite3_stmt *st)
{
    sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void *warm_run(void *arg)
{
    struct warm_job *j = arg;
    if (conn_open(j->w, j->c) < 0)
        return NULL;
    for (int i = j->first; i < j->n; i += j->step) {
        const struct recd_recording *r = &j->recs[i];
        sqlite3_bind_text(j->c->by_sid, 1, r->sid, -1, SQLITE_STATIC);
        look_up(j->c->by_sid);
        sqlite3_bind_text(j->c->by_status, 1, r->status, -1, SQLITE_STATIC);
        sqlite3_bind_text(j->c->by_status, 2, r->sid, -1, SQLITE_STATIC);
        look_up(j->c->by_status);
    }
    return NULL;
}

int recd_sqlite_op_recording_warm(struct recd_store *st, const struct recd_recording *recs, int n)
{
    struct sqlite_store *s = S(st);
    if (n < 1)
        return 0;
    if (!s->warm) {
        const char *path = sqlite3_db_filename(s->db, "main");
        /* An in-memory store (tests) has no file to read ahead of. */
        if (!path || !path[0])
            return 0;
        struct sqlite_warm *w = calloc(1, sizeof *w);
        if (!w)
            return 0;
        w->path = strdup(path);
        if (!w->path) {
            free(w);
            return 0;
        }
        s->warm = w;
    }
    struct warm_job jobs[WARM_CONNS];
    pthread_t t[WARM_CONNS];
    int k = n < WARM_CONNS ? n : WARM_CONNS, started = 0;
    for (int i = 0; i < k; i++)
        jobs[i] = (struct warm_job){
            .w = s->warm, .c = &s->warm->conn[i], .recs = recs, .first = i, .step = k, .n = n};
    /* The caller's thread takes the first share; a thread that cannot start leaves its share undone. */
    pthread_attr_t attr;
    int attr_ok = pthread_attr_init(&attr) == 0;
    if (attr_ok)
        pthread_attr_setstacksize(&attr, WARM_STACK);
    for (int i = 1; i < k; i++)
        if (pthread_create(&t[started], attr_ok ? &attr : NULL, warm_run, &jobs[i]) == 0)
            started++;
    if (attr_ok)
        pthread_attr_destroy(&attr);
    warm_run(&jobs[0]);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    return 0;
}

void recd_sqlite_warm_close(struct sqlite_store *s)
{
    struct sqlite_warm *w = s->warm;
    if (!w)
        return;
    for (int i = 0; i < WARM_CONNS; i++) {
        sqlite3_finalize(w->conn[i].by_sid);
        sqlite3_finalize(w->conn[i].by_status);
        sqlite3_close(w->conn[i].db);
    }
    free(w->path);
    free(w);
    s->warm = NULL;
}
