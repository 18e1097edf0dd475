/*
 * A benchmark harness around the SIP endpoint alone (bench/calls.py): it answers every INVITE for
 * one number, counts the audio it is handed and records nothing, so that the SIP/RTP path's own
 * limits can be measured apart from the call engine and the recorder. One line per call end goes
 * to stdout (buffered; flushed when the endpoint stops and every second by the main thread):
 *
 *   READY <port>
 *   END <reason> samples=.. received=.. lost=.. late=.. duplicates=.. invalid=.. foreign=.. sent=..
 *       silence=.. jitter=..
 *
 * `samples` counts what on_audio delivered (the length a recording would have), `silence` the
 * part of it that filled gaps. SIGTERM or SIGINT stops the endpoint and exits 0.
 *
 * With --record DIR, every call is also recorded by recd's recorder (src/voice/recorder.h) into a
 * store and media folder made in DIR, as <Record> would: on_audio copies each frame into the
 * recording's ring, the recorder's threads spool it to disk and finish the WAV when the call ends,
 * and one more line follows each call's END, from the recorder's finisher thread:
 *
 *   REC <status> duration_ms=..
 *
 * The callbacks run on the SIP thread and never block (the recorder's ring copy does not either);
 * nothing here allocates per packet.
 */
#include "service/service.h"
#include "store/store.h"
#include "voice/recorder.h"
#include "voice/sip.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct call {
    uint64_t samples;
    struct recd_rec *rec; /* NULL without --record */
};

static const char *number = "bench";
static struct recd_recorder *recorder;
static char account_sid[RECD_SID_LEN + 1];
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stop;

static enum recd_sip_decision on_invite(void *arg, struct recd_sip_call *sc,
                                        const struct recd_sip_call_info *info, void **call_arg)
{
    (void)arg;
    (void)sc;
    if (strcmp(info->number, number) != 0)
        return RECD_SIP_NOT_FOUND;
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        return RECD_SIP_UNAVAILABLE;
    if (recorder) {
        struct recd_rec_params p = {.account_sid = account_sid, .source = "RecordVerb", .channels = 1};
        char sid[RECD_SID_LEN + 1];
        if (recd_rec_begin(recorder, &p, &c->rec, sid) < 0) {
            free(c);
            return RECD_SIP_UNAVAILABLE;
        }
    }
    *call_arg = c;
    return RECD_SIP_ANSWER;
}

static void on_audio(void *arg, const int16_t *pcm, size_t n)
{
    struct call *c = arg;
    c->samples += n;
    if (c->rec)
        recd_rec_audio(c->rec, pcm, n);
}

static void on_recorded(void *arg, const struct recd_rec_result *res)
{
    (void)arg;
    pthread_mutex_lock(&out_mu);
    printf("REC %s duration_ms=%lld\n", res->status, (long long)res->duration_ms);
    pthread_mutex_unlock(&out_mu);
}

static void on_end(void *arg, enum recd_sip_end_reason reason, const struct recd_sip_call_stats *st)
{
    struct call *c = arg;
    pthread_mutex_lock(&out_mu);
    printf("END %d samples=%llu received=%llu lost=%llu late=%llu duplicates=%llu invalid=%llu foreign=%llu "
           "sent=%llu silence=%llu jitter=%u\n",
           (int)reason, (unsigned long long)c->samples, (unsigned long long)st->rx.received,
           (unsigned long long)st->rx.lost, (unsigned long long)st->rx.late,
           (unsigned long long)st->rx.duplicates, (unsigned long long)st->rx.invalid,
           (unsigned long long)st->foreign, (unsigned long long)st->sent, (unsigned long long)st->rx.silence,
           st->rx.jitter);
    pthread_mutex_unlock(&out_mu);
    if (c->rec)
        recd_rec_finish(c->rec, on_recorded, NULL);
    free(c);
}

/* A store with one account, the media folder and the recorder, in `dir` (made if missing). */
static int start_recorder(const char *dir, struct recd_ctx *ctx)
{
    char db[4096], spool[4096], token[64];
    struct recd_account acc;
    struct recd_store *st;
    snprintf(db, sizeof db, "%s/recd.db", dir);
    snprintf(spool, sizeof spool, "%s/spool", dir);
    if (recd_ctx_open(dir, ctx) < 0 || recd_account_create(ctx, "bench", NULL, &acc, token) < 0)
        return -1;
    memcpy(account_sid, acc.sid, sizeof account_sid);
    if (recd_store_sqlite_open(db, &st) < 0)
        return -1;
    struct recd_recorder_opts o = {.store = st, .blob = ctx->blob, .spool_dir = spool};
    if (recd_recorder_start(&o, &recorder) < 0) {
        st->ops->close(st);
        return -1;
    }
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: sip_sink --port P [--host H] [--rtp LO-HI] [--number N] [--max-calls N] "
                    "[--invite-rate R] [--invite-burst B] [--rtp-timeout-ms MS] [--record DIR]\n");
    exit(2);
}

static unsigned num(const char *v)
{
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*v == '\0' || *end || n > 1000000)
        usage();
    return (unsigned)n;
}

int main(int argc, char **argv)
{
    struct recd_sip_opts o = {0};
    const char *record_dir = NULL;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--port"))
            o.port = (uint16_t)num(v);
        else if (!strcmp(a, "--host"))
            o.host = v;
        else if (!strcmp(a, "--rtp")) {
            if (recd_sip_port_range_parse(v, &o.rtp_lo, &o.rtp_hi))
                usage();
        } else if (!strcmp(a, "--number"))
            number = v;
        else if (!strcmp(a, "--max-calls"))
            o.max_calls = num(v);
        else if (!strcmp(a, "--invite-rate"))
            o.invite_rate = num(v);
        else if (!strcmp(a, "--invite-burst"))
            o.invite_burst = num(v);
        else if (!strcmp(a, "--rtp-timeout-ms"))
            o.rtp_timeout_ms = num(v);
        else if (!strcmp(a, "--record"))
            record_dir = v;
        else
            usage();
    }
    struct recd_sip_handler h = {.on_invite = on_invite, .on_audio = on_audio, .on_end = on_end};
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    struct recd_ctx ctx;
    if (record_dir && start_recorder(record_dir, &ctx) < 0) {
        fprintf(stderr, "sip_sink: cannot start the recorder in %s\n", record_dir);
        return 1;
    }
    struct recd_sip *ep;
    if (recd_sip_start(&o, &h, &ep)) {
        fprintf(stderr, "sip_sink: cannot start\n");
        return 1;
    }
    printf("READY %u\n", recd_sip_port(ep));
    fflush(stdout);
    while (!stop) {
        sleep(1);
        pthread_mutex_lock(&out_mu);
        fflush(stdout);
        pthread_mutex_unlock(&out_mu);
    }
    recd_sip_stop(ep);
    if (recorder) {
        recd_recorder_stop(recorder);
        recd_ctx_close(&ctx);
    }
    printf("STOPPED\n");
    fflush(stdout);
    return 0;
}
