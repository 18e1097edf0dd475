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
 * The callbacks run on the SIP thread and only add to counters, as the real recorder's copy into
 * its ring does not block either; nothing here allocates per packet.
 */
#include "voice/sip.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct call {
    uint64_t samples;
};

static const char *number = "bench";
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
    *call_arg = c;
    return RECD_SIP_ANSWER;
}

static void on_audio(void *arg, const int16_t *pcm, size_t n)
{
    (void)pcm;
    struct call *c = arg;
    c->samples += n;
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
    free(c);
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: sip_sink --port P [--host H] [--rtp LO-HI] [--number N] [--max-calls N] "
                    "[--invite-rate R] [--invite-burst B] [--rtp-timeout-ms MS]\n");
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
        else
            usage();
    }
    struct recd_sip_handler h = {.on_invite = on_invite, .on_audio = on_audio, .on_end = on_end};
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
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
    printf("STOPPED\n");
    fflush(stdout);
    return 0;
}
