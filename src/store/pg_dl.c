#include "store/pg_dl.h"
#include "core/dl.h"

#include <libpq-fe.h>

/*
 * libpq on first use (core/dl.h): only a postgres:// store needs it. Every libpq function recd
 * calls is listed once here; one that is not fails at link time.
 */
#define PQ_FNS(X, V)                                                                                         \
    V(void, PQclear, (PGresult * r), (r))                                                                    \
    X(char *, PQcmdStatus, (PGresult * r), (r))                                                              \
    X(char *, PQcmdTuples, (PGresult * r), (r))                                                              \
    X(PGconn *, PQconnectdb, (const char *info), (info))                                                     \
    X(PGconn *, PQconnectdbParams, (const char *const *keys, const char *const *values, int expand),         \
      (keys, values, expand))                                                                                \
    X(int, PQconsumeInput, (PGconn * c), (c))                                                                \
    X(char *, PQerrorMessage, (const PGconn *c), (c))                                                        \
    X(PGresult *, PQexec, (PGconn * c, const char *q), (c, q))                                               \
    X(PGresult *, PQexecParams,                                                                              \
      (PGconn * c, const char *q, int n, const Oid *types, const char *const *values, const int *lengths,    \
       const int *formats, int result_format),                                                               \
      (c, q, n, types, values, lengths, formats, result_format))                                             \
    X(PGresult *, PQexecPrepared,                                                                            \
      (PGconn * c, const char *name, int n, const char *const *values, const int *lengths,                   \
       const int *formats, int result_format),                                                               \
      (c, name, n, values, lengths, formats, result_format))                                                 \
    V(void, PQfinish, (PGconn * c), (c))                                                                     \
    V(void, PQfreemem, (void *p), (p))                                                                       \
    X(Oid, PQftype, (const PGresult *r, int col), (r, col))                                                  \
    X(PGresult *, PQgetResult, (PGconn * c), (c))                                                            \
    X(int, PQgetisnull, (const PGresult *r, int row, int col), (r, row, col))                                \
    X(int, PQgetlength, (const PGresult *r, int row, int col), (r, row, col))                                \
    X(char *, PQgetvalue, (const PGresult *r, int row, int col), (r, row, col))                              \
    X(int, PQisBusy, (PGconn * c), (c))                                                                      \
    X(int, PQnfields, (const PGresult *r), (r))                                                              \
    X(PGnotify *, PQnotifies, (PGconn * c), (c))                                                             \
    X(int, PQntuples, (const PGresult *r), (r))                                                              \
    X(const char *, PQparameterStatus, (const PGconn *c, const char *name), (c, name))                       \
    X(PGresult *, PQprepare, (PGconn * c, const char *name, const char *q, int n, const Oid *types),         \
      (c, name, q, n, types))                                                                                \
    V(void, PQreset, (PGconn * c), (c))                                                                      \
    X(PostgresPollingStatusType, PQresetPoll, (PGconn * c), (c))                                             \
    X(int, PQresetStart, (PGconn * c), (c))                                                                  \
    X(char *, PQresultErrorField, (const PGresult *r, int field), (r, field))                                \
    X(char *, PQresultErrorMessage, (const PGresult *r), (r))                                                \
    X(ExecStatusType, PQresultStatus, (const PGresult *r), (r))                                              \
    X(int, PQsendQuery, (PGconn * c, const char *q), (c, q))                                                 \
    X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn * c, PQnoticeProcessor p, void *arg), (c, p, arg))    \
    X(PQnoticeReceiver, PQsetNoticeReceiver, (PGconn * c, PQnoticeReceiver p, void *arg), (c, p, arg))       \
    X(int, PQsocket, (const PGconn *c), (c))                                                                 \
    X(ConnStatusType, PQstatus, (const PGconn *c), (c))

enum { PQ_FNS(RECD_DL_ENUM, RECD_DL_ENUM) DL_PQ_N };

static const char *const names[] = {PQ_FNS(RECD_DL_NAME, RECD_DL_NAME)};
static void *slots[DL_PQ_N];
static struct recd_dl pq_dl = {"libpq.so.5", "libpq5", names, slots, DL_PQ_N, 0};

#define X(ret, name, params, args) RECD_DL_RET(pq_dl, ret, name, params, args)
#define V(ret, name, params, args) RECD_DL_VOID(pq_dl, ret, name, params, args)
PQ_FNS(X, V)
#undef X
#undef V

int recd_pg_dl_load(void)
{
    return recd_dl_load(&pq_dl);
}
