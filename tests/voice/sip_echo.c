/*
 * A test harness around the SIP endpoint, for tests/e2e/test_sip_endpoint.py: a trivial call
 * handler that answers known numbers, writes what it hears to a WAV file per call, can play a tone
 * back, send digits or hang up, and prints one line per event on stdout:
 *
 *   READY <port>
 *   INVITE <number> <codec> <source> <from>
 *   ANSWERED <n>
 *   DIGIT <n> <digit> rfc4733|inband
 *   END <n> <reason> received=.. lost=.. late=.. duplicates=.. foreign=.. sent=.. digits=.. jitter=..
 *
 * where <n> counts calls from 1. The WAV is <wav-dir>/call-<n>.wav, complete before END is printed.
 * SIGTERM or SIGINT stops the endpoint (every call ends) and exits 0.
 *
 * Being a harness, it writes the WAV from the end callback on the SIP thread; the real call
 * engine must hand that to another thread (sip.h: callbacks must not block).
 */
#include "voice/sip.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CALLS   64
#define MAX_SAMPLES (8000 * 120)

struct call {
    int n;
    struct recd_sip_call *sip;
    int answered_at_ms; /* -1 until answered */
    int ringing_since_ms;
    int ringing;
    int hung_up;
    int digits_sent;
    int ended;
    int16_t *pcm;
    size_t samples;
};

static struct {
    const char *number, *ring_number, *busy_number, *reject_number, *wav_dir, *digits;
    double tone_hz;
    int ring_ms, hangup_ms;
} cfg = {.wav_dir = ".", .ring_ms = 0, .hangup_ms = 0};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct call calls[MAX_CALLS];
static int ncalls;
static volatile sig_atomic_t stop;

static int ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static enum recd_sip_decision on_invite(void *arg, struct recd_sip_call *sc,
                                        const struct recd_sip_call_info *info, void **call_arg)
{
    (void)arg;
    say("INVITE %s %s %s %s\n", info->number, info->codec, info->source, info->from);
    if (cfg.busy_number && !strcmp(info->number, cfg.busy_number))
        return RECD_SIP_BUSY;
    if (cfg.reject_number && !strcmp(info->number, cfg.reject_number))
        return RECD_SIP_REJECTED;
    int ring = cfg.ring_number && !strcmp(info->number, cfg.ring_number);
    if (!ring && !(cfg.number && !strcmp(info->number, cfg.number)))
        return RECD_SIP_NOT_FOUND;
    pthread_mutex_lock(&mu);
    if (ncalls == MAX_CALLS) {
        pthread_mutex_unlock(&mu);
        return RECD_SIP_UNAVAILABLE;
    }
    struct call *c = &calls[ncalls];
    memset(c, 0, sizeof *c);
    c->n = ++ncalls;
    c->sip = sc;
    recd_sip_call_ref(sc);
    c->answered_at_ms = -1;
    c->ringing = ring;
    c->ringing_since_ms = ms_now();
    c->pcm = malloc(MAX_SAMPLES * sizeof *c->pcm);
    if (!c->pcm)
        abort();
    pthread_mutex_unlock(&mu);
    *call_arg = c;
    return ring ? RECD_SIP_RING : RECD_SIP_ANSWER;
}

static void on_audio(void *arg, const int16_t *pcm, size_t n)
{
    struct call *c = arg;
    pthread_mutex_lock(&mu);
    if (c->samples + n <= MAX_SAMPLES) {
        memcpy(c->pcm + c->samples, pcm, n * sizeof *pcm);
        c->samples += n;
    }
    pthread_mutex_unlock(&mu);
}

static void on_digit(void *arg, char digit, enum recd_rtp_digit_source src)
{
    struct call *c = arg;
    say("DIGIT %d %c %s\n", c->n, digit, src == RECD_RTP_DIGIT_RFC4733 ? "rfc4733" : "inband");
}

static void on_answered(void *arg)
{
    struct call *c = arg;
    say("ANSWERED %d\n", c->n);
}

static void put_le(FILE *f, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        fputc((int)((v >> (8 * i)) & 0xff), f);
}

static void write_wav(const struct call *c)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/call-%d.wav", cfg.wav_dir, c->n);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return;
    }
    uint32_t data = (uint32_t)(c->samples * 2);
    fwrite("RIFF", 1, 4, f);
    put_le(f, 36 + data, 4);
    fwrite("WAVEfmt ", 1, 8, f);
    put_le(f, 16, 4);
    put_le(f, 1, 2);
    put_le(f, 1, 2);
    put_le(f, 8000, 4);
    put_le(f, 16000, 4);
    put_le(f, 2, 2);
    put_le(f, 16, 2);
    fwrite("data", 1, 4, f);
    put_le(f, data, 4);
    for (size_t i = 0; i < c->samples; i++)
        put_le(f, (uint16_t)c->pcm[i], 2);
    fclose(f);
}

static void on_end(void *arg, enum recd_sip_end_reason reason, const struct recd_sip_call_stats *st)
{
    struct call *c = arg;
    pthread_mutex_lock(&mu);
    write_wav(c);
    c->ended = 1;
    pthread_mutex_unlock(&mu);
    say("END %d %d received=%llu lost=%llu late=%llu duplicates=%llu foreign=%llu sent=%llu digits=%llu "
        "jitter=%u ssrc_changes=%llu latched=%llu\n",
        c->n, (int)reason, (unsigned long long)st->rx.received, (unsigned long long)st->rx.lost,
        (unsigned long long)st->rx.late, (unsigned long long)st->rx.duplicates,
        (unsigned long long)st->foreign, (unsigned long long)st->sent, (unsigned long long)st->digits,
        st->rx.jitter, (unsigned long long)st->rx.ssrc_changes, (unsigned long long)st->latched);
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Two seconds of a sine at cfg.tone_hz, at half scale. */
static void play_tone(struct recd_sip_call *sc)
{
    static int16_t tone[16000];
    for (size_t i = 0; i < 16000; i++)
        tone[i] = (int16_t)(16000.0 * sin(2.0 * M_PI * cfg.tone_hz * (double)i / 8000.0));
    recd_sip_play(sc, tone, 16000);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sip_echo --port P [--rtp LO-HI] [--allow CIDR]... [--number N] [--ring-number N "
            "--ring-ms MS] [--busy-number N] [--reject-number N] [--wav-dir D] [--tone HZ] "
            "[--hangup-ms MS] [--digits D] [--invite-rate R --invite-burst B] [--rtp-timeout-ms MS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct recd_sip_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--port"))
            o.port = (uint16_t)atoi(v);
        else if (!strcmp(a, "--host"))
            o.host = v;
        else if (!strcmp(a, "--rtp")) {
            if (recd_sip_port_range_parse(v, &o.rtp_lo, &o.rtp_hi))
                usage();
        } else if (!strcmp(a, "--allow")) {
            if (o.nallow == RECD_SIP_MAX_ALLOW || recd_sip_cidr_parse(v, &o.allow[o.nallow++]))
                usage();
        } else if (!strcmp(a, "--number"))
            cfg.number = v;
        else if (!strcmp(a, "--ring-number"))
            cfg.ring_number = v;
        else if (!strcmp(a, "--ring-ms"))
            cfg.ring_ms = atoi(v);
        else if (!strcmp(a, "--busy-number"))
            cfg.busy_number = v;
        else if (!strcmp(a, "--reject-number"))
            cfg.reject_number = v;
        else if (!strcmp(a, "--wav-dir"))
            cfg.wav_dir = v;
        else if (!strcmp(a, "--tone"))
            cfg.tone_hz = atof(v);
        else if (!strcmp(a, "--hangup-ms"))
            cfg.hangup_ms = atoi(v);
        else if (!strcmp(a, "--digits"))
            cfg.digits = v;
        else if (!strcmp(a, "--invite-rate"))
            o.invite_rate = (unsigned)atoi(v);
        else if (!strcmp(a, "--invite-burst"))
            o.invite_burst = (unsigned)atoi(v);
        else if (!strcmp(a, "--rtp-timeout-ms"))
            o.rtp_timeout_ms = (unsigned)atoi(v);
        else
            usage();
    }
    struct recd_sip_handler h = {
        .on_invite = on_invite,
        .on_audio = on_audio,
        .on_digit = on_digit,
        .on_answered = on_answered,
        .on_end = on_end,
    };
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    struct recd_sip *ep;
    if (recd_sip_start(&o, &h, &ep)) {
        fprintf(stderr, "sip_echo: cannot start\n");
        return 1;
    }
    say("READY %u\n", recd_sip_port(ep));
    while (!stop) {
        usleep(10000);
        int t = ms_now();
        pthread_mutex_lock(&mu);
        for (int i = 0; i < ncalls; i++) {
            struct call *c = &calls[i];
            if (c->ended)
                continue;
            if (c->ringing && cfg.ring_ms > 0 && t - c->ringing_since_ms >= cfg.ring_ms) {
                c->ringing = 0;
                recd_sip_answer(c->sip);
            }
            if (c->answered_at_ms < 0 && !c->ringing) {
                c->answered_at_ms = t;
                if (cfg.tone_hz > 0)
                    play_tone(c->sip);
            }
            if (c->answered_at_ms >= 0 && cfg.digits && !c->digits_sent && t - c->answered_at_ms >= 300) {
                c->digits_sent = 1;
                recd_sip_send_digits(c->sip, cfg.digits);
            }
            if (c->answered_at_ms >= 0 && cfg.hangup_ms > 0 && !c->hung_up &&
                t - c->answered_at_ms >= cfg.hangup_ms) {
                c->hung_up = 1;
                recd_sip_hangup(c->sip);
            }
        }
        pthread_mutex_unlock(&mu);
    }
    recd_sip_stop(ep);
    for (int i = 0; i < ncalls; i++) {
        recd_sip_call_unref(calls[i].sip);
        free(calls[i].pcm);
    }
    say("STOPPED\n");
    return 0;
}
