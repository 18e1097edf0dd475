#include "voice/sip.h"

#include "core/cpu_wait.h"
#include "core/error.h"
#include "core/log.h"
#include "ops/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <re.h>

/* spandsp's headers assume the order its umbrella header includes them in. */
#include <spandsp/telephony.h>
#include <spandsp/logging.h>
#include <spandsp/super_tone_rx.h>
#include <spandsp/bit_operations.h>
#include <spandsp/g711.h>
#include <spandsp/dtmf.h>

/*
 * Threads: libre is single-threaded by design, so every libre object (the SIP stack, sessions,
 * SDP, RTP sockets, timers) lives on one thread that runs re_main. Other threads reach it only
 * through an mqueue (a pipe); what they share with it directly is each call's play queue and
 * counters, under the call's mutex, and the reference count.
 */

#define ALLOW_HDR "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE\r\nSupported: timer\r\n"
/* RFC 4028's smallest session interval, the default --sip-min-se, and the interval recd asks for
 * when a caller supports session timers without proposing one. */
#define SE_RFC_MIN 90
#define SE_DEFAULT 1800
#define SE_MAX     86400
#define PTIME_MS   20
/* Packets wait this long (timestamp units) for a missing predecessor: the reorder depth in time. */
#define HOLD_TS          (RECD_RTP_RX_DEPTH * RECD_RTP_FRAME)
#define MAX_PLAY_SAMPLES (8000u * 120u)
#define MAX_DIGITS       64
#define RATE_SLOTS       256
#define RATE_PROBE       4
/*
 * The media clock: every call sends (and expires its reorder buffer) every PTIME_MS, driven by one
 * endpoint timer that runs one of MEDIA_SLOTS groups of calls each SLOT_MS, not by a timer per call.
 * libre 1.1.0 keeps its timers in one sorted list and inserts by walking it from the tail, so with a
 * timer per call every 20 ms re-arm walked past every longer timer (SIP transactions keep 32 s ones):
 * at 600 calls that walk was 40 % of the SIP thread. The slots spread the calls' packets over the
 * 20 ms instead of sending them in one burst. The endpoint timer is a timerfd in libre's poll set,
 * not a libre timer: re-armed 200 times a second, a libre timer still walked the whole list, which
 * at 400 call setups a second holds some 13,000 transaction timers (64 % of the SIP thread).
 */
#define MEDIA_SLOTS 4
#define SLOT_MS     (PTIME_MS / MEDIA_SLOTS)

enum cmd { CMD_ANSWER, CMD_REJECT, CMD_HANGUP, CMD_STOP };

enum state { ST_RINGING, ST_ANSWERED, ST_ESTABLISHED, ST_ENDED };

/* A call's RFC 4028 session timer, as negotiated. */
struct se {
    unsigned s;    /* the session interval in seconds; 0: no session timer */
    int uas;       /* recd refreshes (refresher=uas) */
    char hdrs[96]; /* Session-Expires (and Require: timer) for the 2xx, or "" */
};

struct rate_slot {
    uint8_t ip[16];
    int used;
    double tokens;
    uint64_t last_ms;
};

struct recd_sip {
    struct recd_sip_opts o;
    struct recd_sip_handler h;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready; /* 1 started, -1 failed */
    int start_err;
    atomic_int stopping;
    uint16_t port;
    /* SIP thread only. */
    struct sa laddr;
    struct sip *sip;
    struct sipsess_sock *sock;
    struct sip_lsnr *lsnr;
    struct mqueue *mq;
    struct tmr stop_tmr;
    struct list calls;
    unsigned ncalls;
    int media_fd; /* timerfd of the media clock, in libre's poll set; -1 before the loop starts */
    struct list slot[MEDIA_SLOTS]; /* calls whose media is running, by the slot they tick in */
    unsigned nslot[MEDIA_SLOTS];
    unsigned media_slot; /* the slot to run next, due at media_next */
    uint64_t media_next;
    struct rate_slot rate[RATE_SLOTS];
};

struct recd_sip_call {
    atomic_int refs;
    atomic_int ended;
    struct recd_sip *ep;
    pthread_mutex_t mu; /* guards the play queue, digits and stats */
    int16_t *q;
    size_t qcap, qhead, qlen;
    char digits[MAX_DIGITS + 1];
    size_t ndigits;
    struct recd_sip_call_stats stats; /* rx part copied from `rx` on each packet */
    /* SIP thread only. */
    struct le le;
    enum state state;
    void *harg;
    struct sipsess *sess;
    struct sdp_session *sdp;
    struct sdp_media *sdpm;
    struct rtp_sock *rtp;
    struct sa peer;
    struct sa sig_src; /* where the INVITE came from */
    int heard_peer, latched;
    int pt, event_pt, send, peer_sends;
    struct telev *telev;
    int telev_busy;
    unsigned wait_ticks;
    uint32_t tx_ts, ev_ts;
    int marker;
    struct tmr ring_tmr, free_tmr;
    /* RFC 4028 session timer: the interval (0: none), who refreshes, the timer, and the headers
     * the INVITE's 2xx carries (Session-Expires, Require). */
    struct se se;
    struct tmr se_tmr;
    struct le media_le; /* in ep->slot[slot] while media runs */
    int slot;           /* -1 when not in a slot */
    uint64_t last_rtp_ms;
    struct recd_rtp_rx rx;
    struct recd_rtp_framer framer;
    struct recd_rtp_dtmf dtmf;
    struct recd_rtp_digit_dedup dedup;
    dtmf_rx_state_t *inband;
    uint64_t lost_counted; /* rx.stats.lost already in the metrics */
};

struct command {
    struct recd_sip_call *call;
    int arg;
};

/* ---- small parsers, used by the command line and tests ---- */

int recd_sip_cidr_parse(const char *s, struct recd_sip_cidr *out)
{
    char buf[64];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof buf)
        return RECD_E_BAD_INPUT;
    memcpy(buf, s, n + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || prefix < 0)
            return RECD_E_BAD_INPUT;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = 4;
        if (prefix > 32)
            return RECD_E_BAD_INPUT;
        out->prefix = (uint8_t)(prefix < 0 ? 32 : prefix);
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = 6;
        if (prefix > 128)
            return RECD_E_BAD_INPUT;
        out->prefix = (uint8_t)(prefix < 0 ? 128 : prefix);
    } else {
        return RECD_E_BAD_INPUT;
    }
    return 0;
}

int recd_sip_port_range_parse(const char *s, uint16_t *lo, uint16_t *hi)
{
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (errno || end == s || *end != '-')
        return RECD_E_BAD_INPUT;
    const char *t = end + 1;
    long b = strtol(t, &end, 10);
    if (errno || end == t || *end || a < 1024 || b > 65535 || a >= b)
        return RECD_E_BAD_INPUT;
    *lo = (uint16_t)a;
    *hi = (uint16_t)b;
    return 0;
}

static int cidr_match(const struct recd_sip_cidr *c, const struct sa *src)
{
    uint8_t a[16];
    unsigned bits;
    if (sa_af(src) == AF_INET && c->family == 4) {
        uint32_t v = htonl(sa_in(src));
        memcpy(a, &v, 4);
        bits = c->prefix;
    } else if (sa_af(src) == AF_INET6 && c->family == 6) {
        sa_in6(src, a);
        bits = c->prefix;
    } else {
        return 0;
    }
    unsigned i = 0;
    for (; bits >= 8; bits -= 8, i++)
        if (a[i] != c->addr[i])
            return 0;
    if (bits) {
        uint8_t mask = (uint8_t)(0xff << (8 - bits));
        if ((a[i] & mask) != (c->addr[i] & mask))
            return 0;
    }
    return 1;
}

static int allowed(const struct recd_sip *ep, const struct sa *src)
{
    /* libre's sa_is_loopback knows 127.0.0.1 alone; the default admits all of 127.0.0.0/8, as
     * documented, so a test or a local proxy may call from 127.0.0.2. */
    if (ep->o.nallow == 0)
        return (sa_af(src) == AF_INET && (sa_in(src) >> 24) == 127) || sa_is_loopback(src);
    for (unsigned i = 0; i < ep->o.nallow; i++)
        if (cidr_match(&ep->o.allow[i], src))
            return 1;
    return 0;
}

/*
 * A token bucket per source address, in a fixed table so that a flood of spoofed sources costs
 * bounded memory: each address probes RATE_PROBE slots and takes over the least recently used one.
 * Returns 0 when the INVITE may proceed, else the seconds until it may (for Retry-After).
 */
static unsigned rate_check(struct recd_sip *ep, const struct sa *src, uint64_t now_ms)
{
    uint8_t ip[16] = {0};
    if (sa_af(src) == AF_INET) {
        uint32_t v = htonl(sa_in(src));
        memcpy(ip, &v, 4);
    } else {
        sa_in6(src, ip);
    }
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ ip[i]) * 16777619u;
    struct rate_slot *slot = NULL, *oldest = NULL;
    for (unsigned k = 0; k < RATE_PROBE; k++) {
        struct rate_slot *s = &ep->rate[(h + k) % RATE_SLOTS];
        if (s->used && memcmp(s->ip, ip, 16) == 0) {
            slot = s;
            break;
        }
        if (!oldest || !s->used || (oldest->used && s->last_ms < oldest->last_ms))
            oldest = s;
    }
    double rate = ep->o.invite_rate, burst = ep->o.invite_burst;
    if (!slot) {
        slot = oldest;
        memcpy(slot->ip, ip, 16);
        slot->used = 1;
        slot->tokens = burst;
        slot->last_ms = now_ms;
    }
    slot->tokens += (double)(now_ms - slot->last_ms) * rate / 1000.0;
    if (slot->tokens > burst)
        slot->tokens = burst;
    slot->last_ms = now_ms;
    if (slot->tokens >= 1.0) {
        slot->tokens -= 1.0;
        return 0;
    }
    unsigned wait = (unsigned)((1.0 - slot->tokens) / rate + 0.999);
    return wait ? wait : 1;
}

/* ---- SDP ---- */

static int sdp_setup(struct sdp_session **sdpp, struct sdp_media **mp, const struct sa *laddr, uint16_t port)
{
    struct sdp_session *sdp = NULL;
    struct sdp_media *m = NULL;
    int err = sdp_session_alloc(&sdp, laddr);
    if (!err)
        err = sdp_media_add(&m, sdp, sdp_media_audio, port, sdp_proto_rtpavp);
    /* Our preference when we offer; when answering, libre reorders to the offer's order. */
    if (!err)
        err = sdp_format_add(NULL, m, false, "0", "PCMU", 8000, 1, NULL, NULL, NULL, false, NULL);
    if (!err)
        err = sdp_format_add(NULL, m, false, "8", "PCMA", 8000, 1, NULL, NULL, NULL, false, NULL);
    if (!err)
        err = sdp_format_add(NULL, m, false, "101", telev_rtpfmt, 8000, 1, NULL, NULL, NULL, false, "0-15");
    if (!err)
        err = sdp_media_set_lattr(m, true, sdp_attr_ptime, "%u", PTIME_MS);
    if (err) {
        mem_deref(sdp);
        return err;
    }
    *sdpp = sdp;
    *mp = m;
    return 0;
}

/*
 * After sdp_decode of an offer: picks the first G.711 format in the offer's order, keeps only it
 * (and telephone-event) in our answer so that both directions use one codec, and reads the
 * direction. Returns 0 or RECD_E_BAD_INPUT (answer 488).
 */
static int sdp_choose(struct sdp_media *m, struct recd_sip_sdp_choice *c)
{
    memset(c, 0, sizeof *c);
    c->pt = -1;
    c->event_pt = -1;
    if (!sa_port(sdp_media_raddr(m)))
        return RECD_E_BAD_INPUT;
    const struct list *rl = sdp_media_format_lst(m, false);
    const char *codec = NULL;
    for (struct le *le = rl ? rl->head : NULL; le; le = le->next) {
        const struct sdp_format *f = le->data;
        /* A static payload type may come without an rtpmap line: then libre matched it by number
         * and left the name empty. */
        const char *name = f->name ? f->name : f->pt == 0 ? "PCMU" : f->pt == 8 ? "PCMA" : NULL;
        if (!f->sup || !name)
            continue;
        if (!codec && (!str_casecmp(name, "PCMU") || !str_casecmp(name, "PCMA"))) {
            codec = !str_casecmp(name, "PCMU") ? "PCMU" : "PCMA";
            c->pt = f->pt;
        } else if (c->event_pt < 0 && !str_casecmp(name, telev_rtpfmt)) {
            c->event_pt = f->pt;
        }
    }
    if (!codec || (c->pt != 0 && c->pt != 8))
        return RECD_E_BAD_INPUT;
    struct sdp_format *other =
        sdp_media_format(m, true, NULL, -1, !strcmp(codec, "PCMU") ? "PCMA" : "PCMU", -1, -1);
    if (other)
        other->sup = false;
    enum sdp_dir rdir = sdp_media_rdir(m);
    const struct sa *ra = sdp_media_raddr(m);
    int addr_set = sa_isset(ra, SA_ADDR) && !sa_is_any(ra);
    /* libre stores the remote direction from our side: its "sendonly" is our SDP_RECVONLY. */
    c->send = addr_set && (rdir & SDP_SENDONLY) ? 1 : 0;
    c->hold = !(addr_set && (rdir & SDP_RECVONLY));
    return 0;
}

int recd_sip_sdp_offer(const uint8_t *sdp, size_t len, struct recd_sip_sdp_choice *out)
{
    struct sa la;
    struct sdp_session *s = NULL;
    struct sdp_media *m = NULL;
    struct mbuf *mb = NULL, *ans = NULL;
    int rc = RECD_E_BAD_INPUT;
    sa_set_str(&la, "127.0.0.1", 0);
    if (sdp_setup(&s, &m, &la, 4000))
        return RECD_E_INTERNAL;
    mb = mbuf_alloc(len + 1);
    if (!mb)
        goto out;
    if (mbuf_write_mem(mb, sdp, len))
        goto out;
    mb->pos = 0;
    if (sdp_decode(s, mb, true))
        goto out;
    rc = sdp_choose(m, out);
    /* Encoding the answer exercises the same path as a live call. */
    if (rc == 0 && sdp_encode(&ans, s, false))
        rc = RECD_E_INTERNAL;
out:
    mem_deref(ans);
    mem_deref(mb);
    mem_deref(s);
    return rc;
}

/* ---- calls ---- */

void recd_sip_call_ref(struct recd_sip_call *call)
{
    atomic_fetch_add(&call->refs, 1);
}

void recd_sip_call_unref(struct recd_sip_call *call)
{
    if (!call || atomic_fetch_sub(&call->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&call->mu);
    free(call->q);
    free(call);
}

static uint64_t now_ms(void)
{
    return tmr_jiffies();
}

/*
 * Arrival times in RTP timestamp units (1/8000 s) from the monotonic clock, wrapping: finer than
 * libre's millisecond timers, so that the RFC 3550 jitter is not quantised to 8 units.
 */
static uint32_t media_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 8000u + (uint64_t)ts.tv_nsec / 125000u);
}

static void deliver_digit(struct recd_sip_call *call, char digit, enum recd_rtp_digit_source src)
{
    if (!recd_rtp_digit_dedup(&call->dedup, digit, src, (int64_t)now_ms()))
        return;
    pthread_mutex_lock(&call->mu);
    call->stats.digits++;
    pthread_mutex_unlock(&call->mu);
    if (call->ep->h.on_digit)
        call->ep->h.on_digit(call->harg, digit, src);
}

static void inband_digits(void *arg, const char *digits, int len)
{
    struct recd_sip_call *call = arg;
    for (int i = 0; i < len; i++)
        deliver_digit(call, digits[i], RECD_RTP_DIGIT_INBAND);
}

static void on_frame(void *arg, const int16_t *pcm, size_t n)
{
    struct recd_sip_call *call = arg;
    if (call->inband)
        dtmf_rx(call->inband, pcm, (int)n);
    if (call->ep->h.on_audio)
        call->ep->h.on_audio(call->harg, pcm, n);
}

static void rx_audio(void *arg, uint8_t pt, const uint8_t *p, size_t n)
{
    struct recd_sip_call *call = arg;
    int16_t pcm[RECD_RTP_RX_MAX_PAYLOAD];
    for (size_t i = 0; i < n; i++)
        pcm[i] = pt == 8 ? alaw_to_linear(p[i]) : ulaw_to_linear(p[i]);
    recd_rtp_framer_put(&call->framer, pcm, n);
}

static void rx_silence(void *arg, uint32_t samples)
{
    struct recd_sip_call *call = arg;
    recd_rtp_framer_silence(&call->framer, samples);
}

static void rx_event(void *arg, uint32_t ts, const uint8_t *p, size_t n)
{
    struct recd_sip_call *call = arg;
    char d = recd_rtp_dtmf_event(&call->dtmf, ts, p, n);
    if (d)
        deliver_digit(call, d, RECD_RTP_DIGIT_RFC4733);
}

static const struct recd_rtp_rx_ops rx_ops = {rx_audio, rx_silence, rx_event};

static void sync_stats(struct recd_sip_call *call)
{
    pthread_mutex_lock(&call->mu);
    call->stats.rx = call->rx.stats;
    pthread_mutex_unlock(&call->mu);
    if (call->rx.stats.lost != call->lost_counted) {
        recd_metric_add(RECD_MET_RTP_LOST, 0, call->rx.stats.lost - call->lost_counted);
        call->lost_counted = call->rx.stats.lost;
    }
}

/* An RTP port pair taken (-1) or given back (+1), for recd_rtp_ports_free. */
static void ports_held(struct recd_sip_call *call, int pairs)
{
    if (call->rtp)
        recd_metric_gauge_add(RECD_MET_RTP_PORTS_FREE, 0, -2 * pairs);
}

/* Every SIP message on the wire passes here (libre's trace hook, set only while metrics are on):
 * requests received by method, responses sent by status code. */
static void sip_trace(bool tx, enum sip_transp tp, const struct sa *src, const struct sa *dst,
                      const uint8_t *pkt, size_t len, void *arg)
{
    (void)tp;
    (void)src;
    (void)dst;
    (void)arg;
    int response = len >= 12 && memcmp(pkt, "SIP/2.0 ", 8) == 0;
    if (tx && response) {
        int code = (pkt[8] - '0') * 100 + (pkt[9] - '0') * 10 + (pkt[10] - '0');
        if (code >= 100 && code <= 699)
            recd_metric_add(RECD_MET_SIP_RESPONSES, (unsigned)(code - 100), 1);
    } else if (!tx && !response && len) {
        const uint8_t *sp = memchr(pkt, ' ', len < 16 ? len : 16);
        if (sp)
            recd_metric_add(RECD_MET_SIP_REQUESTS,
                            (unsigned)recd_metric_sip_method((const char *)pkt, (size_t)(sp - pkt)), 1);
    }
}

static void rtp_recv(const struct sa *src, const struct rtp_header *hdr, struct mbuf *mb, void *arg)
{
    struct recd_sip_call *call = arg;
    if (call->state == ST_ENDED || call->state == ST_RINGING)
        return;
    /*
     * Media is accepted from the address:port in the peer's SDP. Free symmetric latching (follow
     * whoever sends first) would let anyone who can reach the port inject audio into a recording.
     * One exception, before anything came from the SDP address: a packet from the IP address the
     * INVITE came from (an allow-listed source) latches the stream to its address:port, because
     * multi-homed user agents advertise one interface and send from another (baresip on a host with
     * loopback and eth0 does), and that address is trusted exactly as much as the SDP it sent.
     */
    if (sa_isset(&call->peer, SA_ALL) && sa_cmp(src, &call->peer, SA_ALL)) {
        call->heard_peer = 1;
    } else if (!call->heard_peer && !call->latched && sa_cmp(src, &call->sig_src, SA_ADDR)) {
        char was[64], now[64];
        re_snprintf(was, sizeof was, "%J", &call->peer);
        re_snprintf(now, sizeof now, "%J", src);
        recd_log_info("sip: RTP latched to %s (the SDP said %s)", now, was);
        call->peer = *src;
        call->latched = 1;
        call->heard_peer = 1;
        pthread_mutex_lock(&call->mu);
        call->stats.latched = 1;
        pthread_mutex_unlock(&call->mu);
    } else {
        pthread_mutex_lock(&call->mu);
        call->stats.foreign++;
        pthread_mutex_unlock(&call->mu);
        return;
    }
    if (hdr->pt != 0 && hdr->pt != 8 && (call->event_pt < 0 || hdr->pt != call->event_pt)) {
        call->rx.stats.invalid++;
        sync_stats(call);
        return;
    }
    uint64_t t = now_ms();
    call->last_rtp_ms = t;
    uint32_t arrival = media_clock();
    recd_rtp_rx_push(&call->rx, hdr->ssrc, hdr->seq, hdr->ts, hdr->pt, mbuf_buf(mb), mbuf_get_left(mb),
                     arrival);
    sync_stats(call);
    recd_metric_add(RECD_MET_RTP_PACKETS, RECD_RTP_RECEIVED, 1);
}

static void teardown(void *arg)
{
    struct recd_sip_call *call = arg;
    /* Dereferencing an established session sends its BYE. */
    call->sess = mem_deref(call->sess);
    ports_held(call, -1);
    call->rtp = mem_deref(call->rtp);
    call->sdp = mem_deref(call->sdp);
    call->telev = mem_deref(call->telev);
    if (call->inband) {
        dtmf_rx_free(call->inband);
        call->inband = NULL;
    }
    list_unlink(&call->le);
    call->ep->ncalls--;
    recd_sip_call_unref(call);
}

static void stop_media(struct recd_sip_call *call);

/*
 * The one way a call ends: the handler hears it once, then the libre objects are released from a
 * zero-delay timer, outside whatever libre callback brought us here.
 */
static void end_call(struct recd_sip_call *call, enum recd_sip_end_reason reason)
{
    if (call->state == ST_ENDED)
        return;
    enum state was = call->state;
    call->state = ST_ENDED;
    atomic_store(&call->ended, 1);
    stop_media(call);
    tmr_cancel(&call->ring_tmr);
    tmr_cancel(&call->se_tmr);
    if (was != ST_RINGING)
        recd_rtp_rx_flush(&call->rx);
    sync_stats(call);
    if (was != ST_RINGING) /* jitter is in 8 kHz timestamp units: 125 µs each */
        recd_metric_observe(RECD_MET_RTP_JITTER, 0, (int64_t)call->rx.stats.jitter * 125);
    struct recd_sip_call_stats st;
    recd_sip_call_stats(call, &st);
    if (call->ep->h.on_end)
        call->ep->h.on_end(call->harg, reason, &st);
    tmr_start(&call->free_tmr, 0, teardown, call);
}

static int send_rtp(struct recd_sip_call *call, bool marker, uint8_t pt, uint32_t ts, struct mbuf *mb)
{
    mb->pos = RTP_HEADER_SIZE;
    int err = rtp_send(call->rtp, &call->peer, false, marker, pt, ts, mb);
    if (!err) {
        pthread_mutex_lock(&call->mu);
        call->stats.sent++;
        pthread_mutex_unlock(&call->mu);
        recd_metric_add(RECD_MET_RTP_PACKETS, RECD_RTP_SENT, 1);
    }
    return err;
}

/* Takes the next digit to send when nothing is queued to play before it. */
static void next_digit(struct recd_sip_call *call)
{
    pthread_mutex_lock(&call->mu);
    if (call->qlen == 0 && call->ndigits > 0) {
        char d = call->digits[0];
        memmove(call->digits, call->digits + 1, call->ndigits);
        call->ndigits--;
        if (d == 'w') {
            call->wait_ticks = 500 / PTIME_MS;
        } else {
            int code = telev_digit2code(d);
            if (code >= 0) {
                (void)telev_send(call->telev, code, false);
                (void)telev_send(call->telev, code, true);
            }
        }
    }
    pthread_mutex_unlock(&call->mu);
}

/* One call's 20 ms: expire the reorder buffer, check the RTP timeout, send a packet. */
static void tick(struct recd_sip_call *call)
{
    struct recd_sip *ep = call->ep;
    uint64_t t = now_ms();

    recd_rtp_rx_expire(&call->rx, media_clock(), HOLD_TS);
    sync_stats(call);
    if (call->peer_sends && t - call->last_rtp_ms > ep->o.rtp_timeout_ms) {
        recd_log_warn("sip: no RTP for %u ms, ending the call", ep->o.rtp_timeout_ms);
        end_call(call, RECD_SIP_END_TIMEOUT);
        return;
    }

    int16_t pcm[RECD_RTP_FRAME] = {0};
    if (call->send && call->rtp) {
        uint8_t buf[RTP_HEADER_SIZE + RECD_RTP_FRAME];
        struct mbuf mb;
        mbuf_init(&mb);
        mb.buf = buf;
        mb.size = sizeof buf;
        mb.pos = mb.end = RTP_HEADER_SIZE;
        bool marker = false;
        int sent_event = 0;
        if (call->telev && call->event_pt >= 0) {
            if (!call->telev_busy && call->wait_ticks == 0)
                next_digit(call);
            if (telev_poll(call->telev, &marker, &mb) == 0) {
                if (marker)
                    call->ev_ts = call->tx_ts;
                mb.pos = RTP_HEADER_SIZE;
                (void)send_rtp(call, marker, (uint8_t)call->event_pt, call->ev_ts, &mb);
                call->telev_busy = 1;
                sent_event = 1;
            } else {
                call->telev_busy = 0;
            }
        }
        if (!sent_event) {
            pthread_mutex_lock(&call->mu);
            if (call->wait_ticks == 0 || call->qlen > 0) {
                size_t n = call->qlen < RECD_RTP_FRAME ? call->qlen : RECD_RTP_FRAME;
                for (size_t i = 0; i < n; i++)
                    pcm[i] = call->q[(call->qhead + i) % call->qcap];
                call->qhead = call->qcap ? (call->qhead + n) % call->qcap : 0;
                call->qlen -= n;
            }
            pthread_mutex_unlock(&call->mu);
            if (call->wait_ticks > 0)
                call->wait_ticks--;
            for (size_t i = 0; i < RECD_RTP_FRAME; i++)
                buf[RTP_HEADER_SIZE + i] = call->pt == 8 ? linear_to_alaw(pcm[i]) : linear_to_ulaw(pcm[i]);
            mb.pos = RTP_HEADER_SIZE;
            mb.end = RTP_HEADER_SIZE + RECD_RTP_FRAME;
            (void)send_rtp(call, call->marker != 0, (uint8_t)call->pt, call->tx_ts, &mb);
            call->marker = 0;
        }
    }
    if (call->ep->h.on_sent)
        call->ep->h.on_sent(call->harg, pcm, RECD_RTP_FRAME);
    call->tx_ts += RECD_RTP_FRAME;
}

/*
 * The endpoint's media timer: runs every slot that is due, each slot once per PTIME_MS. Paced by
 * the clock, not by the previous run: a late run is followed by early ones, and a stall longer than
 * 100 ms is not made up with a burst. It stops when no call is in a slot.
 */
/* Fires the media clock once, `ms` from now (at least 1 ms; 0 disarms it). */
static void media_arm(struct recd_sip *ep, uint64_t ms)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000}};
    if (timerfd_settime(ep->media_fd, 0, &its, NULL) < 0)
        recd_log_error("sip: arming the media clock: %s", strerror(errno));
}

static void media_timer(int flags, void *arg)
{
    (void)flags;
    struct recd_sip *ep = arg;
    uint64_t expired;
    if (read(ep->media_fd, &expired, sizeof expired) < 0 && errno != EAGAIN)
        recd_log_error("sip: reading the media clock: %s", strerror(errno));
    uint64_t t = now_ms();
    while (ep->media_next <= t) {
        for (struct le *le = ep->slot[ep->media_slot].head; le;) {
            struct recd_sip_call *call = le->data;
            le = le->next; /* tick may end the call, which unlinks it */
            tick(call);
        }
        ep->media_slot = (ep->media_slot + 1) % MEDIA_SLOTS;
        ep->media_next += SLOT_MS;
        if (ep->media_next + 100 < t)
            ep->media_next = t + SLOT_MS;
    }
    unsigned running = 0;
    for (unsigned i = 0; i < MEDIA_SLOTS; i++)
        running += ep->nslot[i];
    media_arm(ep, running ? (ep->media_next > t ? ep->media_next - t : 1) : 0);
}

static void stop_media(struct recd_sip_call *call)
{
    if (call->slot < 0)
        return;
    list_unlink(&call->media_le);
    call->ep->nslot[call->slot]--;
    call->slot = -1;
}

/* Applies a negotiated offer to the media path: peer address, codec, event type, direction. */
static void apply_sdp(struct recd_sip_call *call, const struct recd_sip_sdp_choice *c)
{
    call->peer = *sdp_media_raddr(call->sdpm);
    call->heard_peer = 0;
    call->latched = 0;
    pthread_mutex_lock(&call->mu); /* recd_sip_send_digits reads event_pt from other threads */
    call->pt = c->pt;
    call->event_pt = c->event_pt;
    pthread_mutex_unlock(&call->mu);
    recd_rtp_rx_set_event_pt(&call->rx, c->event_pt);
    call->send = c->send;
    int was = call->peer_sends;
    call->peer_sends = !c->hold;
    if (call->peer_sends && !was)
        call->last_rtp_ms = now_ms();
}

/* Puts the call in the least busy slot: its first packet goes out within PTIME_MS. */
static void start_media(struct recd_sip_call *call)
{
    struct recd_sip *ep = call->ep;
    call->last_rtp_ms = now_ms();
    call->marker = 1;
    if (call->slot >= 0)
        return;
    unsigned best = 0, running = 0;
    for (unsigned i = 0; i < MEDIA_SLOTS; i++) {
        running += ep->nslot[i];
        if (ep->nslot[i] < ep->nslot[best])
            best = i;
    }
    list_append(&ep->slot[best], &call->media_le, call);
    ep->nslot[best]++;
    call->slot = (int)best;
    if (!running) {
        ep->media_slot = 0;
        ep->media_next = call->last_rtp_ms + SLOT_MS;
        media_arm(ep, SLOT_MS);
    }
}

/*
 * A re-INVITE's offer. It is also a session refresh; but libre 1.1.0 answers a re-INVITE itself
 * and gives no way to put Session-Expires in that 200, and a 2xx without it ends the session timer
 * (RFC 4028 7.4: the caller stops refreshing), so recd stops its timer too: the RTP timeout still
 * ends a call whose caller is gone. UPDATE (update_handler) keeps the timer; recd's Allow offers it.
 */
static int offer_handler(struct mbuf **descp, const struct sip_msg *msg, void *arg)
{
    struct recd_sip_call *call = arg;
    struct recd_sip_sdp_choice c;
    if (!mbuf_get_left(msg->mb))
        return EPROTO; /* a re-INVITE without an offer: libre answers 488 */
    int err = sdp_decode(call->sdp, msg->mb, true);
    if (err)
        return err;
    if (sdp_choose(call->sdpm, &c))
        return EPROTO;
    apply_sdp(call, &c);
    err = sdp_encode(descp, call->sdp, false);
    if (!err && call->se.s && !call->se.uas) {
        recd_log_info("sip: a re-INVITE refreshed the session; its 200 has no Session-Expires, so the "
                      "session timer stops (use UPDATE to refresh)");
        call->se.s = 0;
        tmr_cancel(&call->se_tmr);
    }
    return err;
}

static int answer_handler(const struct sip_msg *msg, void *arg)
{
    (void)msg;
    (void)arg;
    return 0; /* we never offer, so no answer arrives */
}

static void estab_handler(const struct sip_msg *msg, void *arg)
{
    (void)msg;
    struct recd_sip_call *call = arg;
    if (call->state != ST_ANSWERED)
        return;
    call->state = ST_ESTABLISHED;
    if (call->ep->h.on_answered)
        call->ep->h.on_answered(call->harg);
}

static void close_handler(int err, const struct sip_msg *msg, void *arg)
{
    (void)msg;
    struct recd_sip_call *call = arg;
    enum recd_sip_end_reason r = RECD_SIP_END_ERROR;
    if (err == ECONNRESET)
        r = call->state == ST_RINGING ? RECD_SIP_END_CANCEL : RECD_SIP_END_REMOTE_BYE;
    else if (err == ETIMEDOUT)
        r = RECD_SIP_END_TIMEOUT;
    end_call(call, r);
}

/* ---- session timers (RFC 4028), recd as the UAS ---- */

/* Session-Expires or Min-SE: delta-seconds, then parameters; *secs, and refresher when asked. */
static int se_value(const struct pl *v, unsigned *secs, struct pl *refresher)
{
    size_t i = 0;
    uint64_t n = 0;
    while (i < v->l && v->p[i] >= '0' && v->p[i] <= '9' && n <= UINT32_MAX)
        n = n * 10 + (uint64_t)(v->p[i++] - '0');
    if (i == 0 || n > UINT32_MAX)
        return -1;
    while (i < v->l && (v->p[i] == ' ' || v->p[i] == '\t'))
        i++;
    if (i < v->l && v->p[i] != ';')
        return -1;
    *secs = (unsigned)n;
    if (refresher) {
        struct pl rest = {v->p + i, v->l - i};
        if (msg_param_decode(&rest, "refresher", refresher))
            pl_set_str(refresher, "");
    }
    return 0;
}

/* The Require values other than "timer", for 420's Unsupported (as many as fit). */
struct unsup {
    char s[256];
    size_t n;
    int any;
};

static bool unsupported_req(const struct sip_hdr *hdr, const struct sip_msg *msg, void *arg)
{
    (void)msg;
    struct unsup *u = arg;
    if (pl_strcasecmp(&hdr->val, "timer") != 0)
        u->any = 1;
    if (pl_strcasecmp(&hdr->val, "timer") != 0 && u->n + hdr->val.l + 2 < sizeof u->s) {
        if (u->n)
            u->s[u->n++] = ',', u->s[u->n++] = ' ';
        for (size_t i = 0; i < hdr->val.l; i++) /* no CR or LF into our reply */
            u->s[u->n++] = hdr->val.p[i] == '\r' || hdr->val.p[i] == '\n' ? ' ' : hdr->val.p[i];
        u->s[u->n] = '\0';
    }
    return false;
}

/*
 * What an INVITE (or a refresh) asks of the session timer (`dflt`: the interval when the caller
 * supports timers but proposes none): 0 with *out set; or the status to answer: 400 for a malformed header,
 * 422 when the interval is below --sip-min-se (*min_se then has the Min-SE to send).
 */
static int se_negotiate(unsigned floor, const struct sip_msg *msg, unsigned dflt, struct se *out,
                        unsigned *min_se)
{
    unsigned se = 0, req_min = 0;
    struct pl refresher = PL_INIT;
    const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_SESSION_EXPIRES);
    const struct sip_hdr *m = sip_msg_hdr(msg, SIP_HDR_MIN_SE);
    if ((h && se_value(&h->val, &se, &refresher)) || (m && se_value(&m->val, &req_min, NULL)))
        return 400;
    if (h && (se < floor || se < req_min)) {
        *min_se = floor > req_min ? floor : req_min;
        return 422;
    }
    bool supported = sip_msg_hdr_has_value(msg, SIP_HDR_SUPPORTED, "timer") ||
                     sip_msg_hdr_has_value(msg, SIP_HDR_REQUIRE, "timer");
    memset(out, 0, sizeof *out);
    if (!h && !supported)
        return 0; /* the caller knows nothing of session timers: none */
    if (!h) {
        se = dflt > floor ? dflt : floor;
        se = se > req_min ? se : req_min;
    }
    if (se > SE_MAX)
        se = SE_MAX;
    /* RFC 4028 9, table 2: a caller without the extension cannot refresh, so recd does; one that
     * has it refreshes unless it asked recd to. */
    out->uas = !supported || pl_strcasecmp(&refresher, "uas") == 0;
    out->s = se;
    (void)re_snprintf(out->hdrs, sizeof out->hdrs, "Session-Expires: %u;refresher=%s\r\n%s", se,
                      out->uas ? "uas" : "uac", supported ? "Require: timer\r\n" : "");
    return 0;
}

/* An INVITE's Require (RFC 4028's "timer" is the one extension recd has) and session timer:
 * 0, or the status to answer (420 with u->s, 422 with *min_se, 400). */
static int invite_extensions(const struct sip_msg *msg, unsigned floor, struct unsup *u, struct se *se,
                             unsigned *min_se)
{
    memset(u, 0, sizeof *u);
    (void)sip_msg_hdr_apply(msg, true, SIP_HDR_REQUIRE, unsupported_req, u);
    if (u->any)
        return 420;
    return se_negotiate(floor, msg, SE_DEFAULT, se, min_se);
}

/* A raw SIP request decoded as the stack decodes one off the wire: 0 with *m set (the caller
 * mem_derefs it), RECD_E_BAD_INPUT for what is not a request, RECD_E_INTERNAL. */
static int decode_request(const uint8_t *msg, size_t len, struct sip_msg **m)
{
    struct mbuf *mb = mbuf_alloc(len + 1);
    int rc = RECD_E_BAD_INPUT;
    *m = NULL;
    if (!mb)
        return RECD_E_INTERNAL;
    if (mbuf_write_mem(mb, msg, len) == 0) {
        mb->pos = 0;
        if (sip_msg_decode(m, mb) == 0 && (*m)->req)
            rc = 0;
    }
    if (rc < 0)
        *m = mem_deref(*m);
    mem_deref(mb);
    return rc;
}

int recd_sip_request_timer(const uint8_t *msg, size_t len, unsigned min_se, struct recd_sip_timer *out)
{
    struct sip_msg *m = NULL;
    memset(out, 0, sizeof *out);
    int rc = decode_request(msg, len, &m);
    if (rc < 0)
        return rc;
    struct unsup u;
    struct se se;
    out->status = invite_extensions(m, min_se ? min_se : SE_RFC_MIN, &u, &se, &out->min_se);
    if (out->status == 0) {
        out->interval = se.s;
        out->refresher_uas = se.uas;
        snprintf(out->headers, sizeof out->headers, "%s", se.hdrs);
    } else if (out->status == 420) {
        snprintf(out->headers, sizeof out->headers, "Unsupported: %s\r\n", u.s);
    }
    mem_deref(m);
    return 0;
}

static void se_expired(void *arg);
static void se_refresh(void *arg);

/* (Re)starts the session timer from now: recd refreshes at half the interval; else the call ends
 * if no refresh came, at the interval less min(32 s, a third of it) (RFC 4028 10). */
static void se_arm(struct recd_sip_call *call)
{
    tmr_cancel(&call->se_tmr);
    if (!call->se.s || call->state == ST_ENDED)
        return;
    uint64_t ms = (uint64_t)call->se.s * 1000;
    if (call->se.uas)
        tmr_start(&call->se_tmr, ms / 2, se_refresh, call);
    else
        tmr_start(&call->se_tmr, ms - (ms / 3 < 32000 ? ms / 3 : 32000), se_expired, call);
}

static void se_expired(void *arg)
{
    struct recd_sip_call *call = arg;
    recd_log_info("sip: no session refresh within %u s (RFC 4028): ending the call with BYE", call->se.s);
    /* end_call's teardown dereferences the session, which sends the BYE. */
    end_call(call, RECD_SIP_END_SESSION_EXPIRED);
}

/* recd is the refresher: a re-INVITE with the same SDP, which libre's session sends. */
static void se_refresh(void *arg)
{
    struct recd_sip_call *call = arg;
    struct mbuf *desc = NULL;
    int err = sdp_encode(&desc, call->sdp, true);
    if (!err)
        err = sipsess_modify(call->sess, desc);
    mem_deref(desc);
    if (err)
        recd_log_warn("sip: session refresh (re-INVITE) not sent: %s", strerror(err));
    se_arm(call);
}

static void ring_timeout(void *arg)
{
    struct recd_sip_call *call = arg;
    (void)sipsess_reject(call->sess, 480, "Temporarily Unavailable", NULL);
    end_call(call, RECD_SIP_END_TIMEOUT);
}

static int do_answer(struct recd_sip_call *call)
{
    struct mbuf *desc = NULL;
    int err = sdp_encode(&desc, call->sdp, false);
    if (!err)
        err = sipsess_answer(call->sess, 200, "OK", desc, ALLOW_HDR "%s", call->se.hdrs);
    mem_deref(desc);
    if (err)
        return err;
    tmr_cancel(&call->ring_tmr);
    call->state = ST_ANSWERED;
    start_media(call);
    se_arm(call);
    return 0;
}

static void decision_reply(enum recd_sip_decision d, uint16_t *code, const char **reason)
{
    switch (d) {
    case RECD_SIP_NOT_FOUND: *code = 404, *reason = "Not Found"; return;
    case RECD_SIP_BUSY: *code = 486, *reason = "Busy Here"; return;
    case RECD_SIP_REJECTED: *code = 603, *reason = "Decline"; return;
    case RECD_SIP_UNAVAILABLE: *code = 503, *reason = "Service Unavailable"; return;
    default: *code = 480, *reason = "Temporarily Unavailable"; return;
    }
}

/* Copies a URI user part, undoing %-escapes, into `out`; returns 0 or -1 when it does not fit. */
static int copy_user(const struct pl *pl, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < pl->l; i++) {
        char ch = pl->p[i];
        if (ch == '%' && i + 2 < pl->l) {
            char hx[3] = {pl->p[i + 1], pl->p[i + 2], 0};
            char *end;
            long v = strtol(hx, &end, 16);
            if (*end == '\0' && v > 0x1f && v < 0x7f) {
                ch = (char)v;
                i += 2;
            }
        }
        if ((unsigned char)ch < 0x20 || ch == 0x7f || j + 1 >= cap)
            return -1;
        out[j++] = ch;
    }
    out[j] = '\0';
    return 0;
}

/* The number an INVITE is for: the Request-URI's user part, else To's. */
static int number_of(const struct sip_msg *msg, char *out, size_t cap)
{
    const struct pl *user = pl_isset(&msg->uri.user) ? &msg->uri.user : &msg->to.uri.user;
    if (!pl_isset(user) || copy_user(user, out, cap))
        return -1;
    return 0;
}

int recd_sip_request_number(const uint8_t *msg, size_t len, char *out, size_t cap)
{
    struct sip_msg *m = NULL;
    int rc = decode_request(msg, len, &m);
    if (rc < 0)
        return rc;
    rc = number_of(m, out, cap) == 0 ? 0 : RECD_E_BAD_INPUT;
    mem_deref(m);
    return rc;
}

static void free_unstarted(struct recd_sip_call *call)
{
    call->state = ST_ENDED;
    atomic_store(&call->ended, 1);
    ports_held(call, -1);
    mem_deref(call->rtp);
    mem_deref(call->sdp);
    mem_deref(call->telev);
    if (call->inband)
        dtmf_rx_free(call->inband);
    recd_sip_call_unref(call);
}

/*
 * A new INVITE, in the order of its checks: flood limit, allow-list, capacity, Require and session
 * timer (RFC 4028), the number, the offer, the RTP port, then the handler's decision and the
 * answer. Long because each refusal answers the INVITE at once with its own status, and the steps
 * after the call exists unwind what the ones before made.
 */
static void connect_handler(const struct sip_msg *msg, void *arg)
{
    struct recd_sip *ep = arg;
    struct sip *sip = ep->sip;
    char src[64];
    re_snprintf(src, sizeof src, "%J", &msg->src);
    int ok = allowed(ep, &msg->src);
    unsigned wait = rate_check(ep, &msg->src, now_ms());
    if (wait) {
        /*
         * 503 with Retry-After is SIP's overload answer (RFC 3261 21.5.4): a proxy retries later or
         * elsewhere. SIP's 429 means something else (RFC 3892). A source that is not allowed gets
         * nothing at all, so that a spoofed flood is not reflected.
         */
        if (ok)
            (void)sip_treplyf(NULL, NULL, sip, msg, false, 503, "Service Unavailable",
                              "Retry-After: %u\r\nContent-Length: 0\r\n\r\n", wait);
        return;
    }
    if (!ok) {
        recd_log_info("sip: INVITE from %s refused: not in the allow-list", src);
        (void)sip_treply(NULL, sip, msg, 403, "Forbidden");
        return;
    }
    if (atomic_load(&ep->stopping) || ep->ncalls >= ep->o.max_calls) {
        (void)sip_treplyf(NULL, NULL, sip, msg, false, 503, "Service Unavailable",
                          "Retry-After: 5\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    /* RFC 4028's "timer" is the one extension recd supports. */
    struct unsup unsup;
    struct se se;
    unsigned min_se = 0;
    int se_code = invite_extensions(msg, ep->o.min_se_s, &unsup, &se, &min_se);
    if (se_code == 420) {
        (void)sip_treplyf(NULL, NULL, sip, msg, false, 420, "Bad Extension",
                          "Unsupported: %s\r\nContent-Length: 0\r\n\r\n", unsup.s);
        return;
    }
    if (se_code == 422) {
        (void)sip_treplyf(NULL, NULL, sip, msg, false, 422, "Session Interval Too Small",
                          "Min-SE: %u\r\nContent-Length: 0\r\n\r\n", min_se);
        return;
    }
    if (se_code) {
        (void)sip_treply(NULL, sip, msg, 400, "Bad Session-Expires or Min-SE");
        return;
    }

    char number[64], from[64], to[64], callid[128];
    if (number_of(msg, number, sizeof number)) {
        (void)sip_treply(NULL, sip, msg, 404, "Not Found");
        return;
    }
    if (copy_user(&msg->from.uri.user, from, sizeof from))
        from[0] = '\0';
    if (copy_user(&msg->to.uri.user, to, sizeof to))
        to[0] = '\0';
    pl_strcpy(&msg->callid, callid, sizeof callid);

    if (!mbuf_get_left(msg->mb) || msg_ctype_cmp(&msg->ctyp, "application", "sdp") == false) {
        /* An INVITE without an offer would need us to offer in the 200 (not implemented). */
        (void)sip_treply(NULL, sip, msg, 488, "Not Acceptable Here");
        return;
    }

    struct recd_sip_call *call = calloc(1, sizeof *call);
    if (!call) {
        (void)sip_treply(NULL, sip, msg, 500, "Server Internal Error");
        return;
    }
    atomic_init(&call->refs, 1);
    atomic_init(&call->ended, 0);
    pthread_mutex_init(&call->mu, NULL);
    call->ep = ep;
    call->sig_src = msg->src;
    call->state = ST_RINGING;
    call->event_pt = -1;
    call->slot = -1;
    call->se = se;
    tmr_init(&call->se_tmr);
    tmr_init(&call->ring_tmr);
    tmr_init(&call->free_tmr);
    recd_rtp_rx_init(&call->rx, &rx_ops, call, -1);
    call->framer.frame = on_frame;
    call->framer.arg = call;
    call->tx_ts = (uint32_t)rand_u32();

    struct sa media = ep->laddr;
    if (sa_is_any(&media))
        (void)sip_transp_laddr(sip, &media, msg->tp, &msg->src);
    sa_set_port(&media, 0);
    int err =
        rtp_listen(&call->rtp, IPPROTO_UDP, &media, ep->o.rtp_lo, ep->o.rtp_hi, true, rtp_recv, NULL, call);
    if (err) {
        recd_log_error("sip: no free RTP port in %u-%u: %s", ep->o.rtp_lo, ep->o.rtp_hi, strerror(err));
        (void)sip_treplyf(NULL, NULL, sip, msg, false, 503, "Service Unavailable",
                          "Retry-After: 5\r\nContent-Length: 0\r\n\r\n");
        free_unstarted(call);
        return;
    }
    ports_held(call, 1);
    struct recd_sip_sdp_choice c;
    if (sdp_setup(&call->sdp, &call->sdpm, &media, sa_port(rtp_local(call->rtp))) ||
        sdp_decode(call->sdp, msg->mb, true) || sdp_choose(call->sdpm, &c)) {
        (void)sip_treply(NULL, sip, msg, 488, "Not Acceptable Here");
        free_unstarted(call);
        return;
    }
    apply_sdp(call, &c);
    if (telev_alloc(&call->telev, PTIME_MS) == 0)
        (void)telev_set_srate(call->telev, 8000);
    call->inband = dtmf_rx_init(NULL, inband_digits, call);

    struct recd_sip_call_info info = {callid, number, from, to, src, c.pt == 8 ? "PCMA" : "PCMU"};
    enum recd_sip_decision d = ep->h.on_invite(ep->h.arg, call, &info, &call->harg);
    if (d != RECD_SIP_ANSWER && d != RECD_SIP_RING) {
        uint16_t code;
        const char *reason;
        decision_reply(d, &code, &reason);
        (void)sip_treply(NULL, sip, msg, code, reason);
        free_unstarted(call);
        return;
    }

    struct mbuf *desc = NULL;
    if (d == RECD_SIP_ANSWER)
        err = sdp_encode(&desc, call->sdp, false);
    if (!err)
        err = sipsess_accept(&call->sess, ep->sock, msg, d == RECD_SIP_ANSWER ? 200 : 180,
                             d == RECD_SIP_ANSWER ? "OK" : "Ringing", "recd", "application/sdp", desc, NULL,
                             NULL, false, offer_handler, answer_handler, estab_handler, NULL, NULL,
                             close_handler, call, ALLOW_HDR "%s", d == RECD_SIP_ANSWER ? call->se.hdrs : "");
    mem_deref(desc);
    if (err) {
        recd_log_error("sip: accepting the INVITE from %s failed: %s", src, strerror(err));
        (void)sip_treply(NULL, sip, msg, 500, "Server Internal Error");
        /* The handler was told of the call; it hears the end too. */
        list_append(&ep->calls, &call->le, call);
        ep->ncalls++;
        end_call(call, RECD_SIP_END_ERROR);
        return;
    }
    list_append(&ep->calls, &call->le, call);
    ep->ncalls++;
    if (d == RECD_SIP_ANSWER) {
        call->state = ST_ANSWERED;
        start_media(call);
        se_arm(call);
    } else {
        tmr_start(&call->ring_tmr, ep->o.ring_timeout_ms, ring_timeout, call);
    }
}

/* The answered call whose dialog `msg` is in, or NULL. A walk: in-dialog UPDATEs are rare. */
static struct recd_sip_call *dialog_call(struct recd_sip *ep, const struct sip_msg *msg)
{
    for (struct le *le = ep->calls.head; le; le = le->next) {
        struct recd_sip_call *call = le->data;
        struct sip_dialog *dlg = call->sess ? sipsess_dialog(call->sess) : NULL;
        if ((call->state == ST_ANSWERED || call->state == ST_ESTABLISHED) && dlg && sip_dialog_cmp(dlg, msg))
            return call;
    }
    return NULL;
}

/*
 * UPDATE (RFC 3311) in an answered call, which libre 1.1.0's sessions do not take: a session
 * refresh (RFC 4028), with or without a new offer. The 200 carries Session-Expires as the INVITE's
 * did, and the session timer starts again.
 */
static void update_handler(struct recd_sip *ep, const struct sip_msg *msg)
{
    struct recd_sip_call *call = dialog_call(ep, msg);
    if (!call) {
        (void)sip_treply(NULL, ep->sip, msg, 481, "Call/Transaction Does Not Exist");
        return;
    }
    struct sip_dialog *dlg = sipsess_dialog(call->sess);
    if (!sip_dialog_rseq_valid(dlg, msg)) {
        (void)sip_treply(NULL, ep->sip, msg, 500, "Server Internal Error");
        return;
    }
    unsigned min_se = 0;
    struct se se;
    int code = se_negotiate(ep->o.min_se_s, msg, call->se.s ? call->se.s : SE_DEFAULT, &se, &min_se);
    if (code) { /* a refused refresh changes nothing */
        if (code == 422)
            (void)sip_treplyf(NULL, NULL, ep->sip, msg, false, 422, "Session Interval Too Small",
                              "Min-SE: %u\r\nContent-Length: 0\r\n\r\n", min_se);
        else
            (void)sip_treply(NULL, ep->sip, msg, 400, "Bad Session-Expires or Min-SE");
        return;
    }
    struct mbuf *desc = NULL;
    if (mbuf_get_left(msg->mb)) {
        struct recd_sip_sdp_choice c;
        if (msg_ctype_cmp(&msg->ctyp, "application", "sdp") == false ||
            sdp_decode(call->sdp, msg->mb, true) || sdp_choose(call->sdpm, &c) ||
            sdp_encode(&desc, call->sdp, false)) {
            (void)sip_treply(NULL, ep->sip, msg, 488, "Not Acceptable Here");
            return;
        }
        apply_sdp(call, &c);
    }
    call->se = se;
    (void)sip_dialog_update(dlg, msg);
    struct sip_contact contact;
    sip_contact_set(&contact, "recd", &msg->dst, msg->tp);
    (void)sip_treplyf(NULL, NULL, ep->sip, msg, true, 200, "OK",
                      "%H" ALLOW_HDR "%s%s"
                      "Content-Length: %zu\r\n\r\n%b",
                      sip_contact_print, &contact, call->se.hdrs,
                      desc ? "Content-Type: application/sdp\r\n" : "", desc ? mbuf_get_left(desc) : (size_t)0,
                      desc ? mbuf_buf(desc) : NULL, desc ? mbuf_get_left(desc) : (size_t)0);
    mem_deref(desc);
    se_arm(call);
}

static bool options_handler(const struct sip_msg *msg, void *arg)
{
    struct recd_sip *ep = arg;
    if (!pl_strcmp(&msg->met, "UPDATE")) {
        update_handler(ep, msg);
        return true;
    }
    if (pl_strcmp(&msg->met, "OPTIONS"))
        return false;
    if (!allowed(ep, &msg->src)) {
        (void)sip_treply(NULL, ep->sip, msg, 403, "Forbidden");
        return true;
    }
    (void)sip_treplyf(NULL, NULL, ep->sip, msg, false, 200, "OK",
                      ALLOW_HDR "Accept: application/sdp\r\nContent-Length: 0\r\n\r\n");
    return true;
}

/* ---- commands from other threads ---- */

static void hang_up(struct recd_sip_call *call, uint16_t code, const char *reason)
{
    if (call->state == ST_ENDED)
        return;
    if (call->state == ST_RINGING)
        (void)sipsess_reject(call->sess, code, reason, NULL);
    end_call(call, RECD_SIP_END_LOCAL);
}

static void stop_timeout(void *arg)
{
    (void)arg;
    re_cancel();
}

/* Lets the BYEs and final responses finish, but stops within a second whether or not they do. */
static void stop_close(void *arg)
{
    struct recd_sip *ep = arg;
    tmr_start(&ep->stop_tmr, 1000, stop_timeout, ep);
    sip_close(ep->sip, false);
}

static void sip_exit(void *arg)
{
    (void)arg;
    re_cancel();
}

static void mq_handler(int id, void *data, void *arg)
{
    struct recd_sip *ep = arg;
    struct command *cmd = data;
    if (id == CMD_STOP) {
        for (struct le *le = ep->calls.head; le;) {
            struct recd_sip_call *call = le->data;
            le = le->next;
            hang_up(call, 503, "Service Unavailable");
        }
        /* The calls' teardown timers send the BYEs; close the stack after them. */
        tmr_start(&ep->stop_tmr, 20, stop_close, ep);
        return;
    }
    struct recd_sip_call *call = cmd->call;
    if (call->state != ST_ENDED) {
        if (id == CMD_ANSWER && call->state == ST_RINGING) {
            if (do_answer(call))
                hang_up(call, 500, "Server Internal Error");
        } else if (id == CMD_REJECT) {
            uint16_t code;
            const char *reason;
            decision_reply((enum recd_sip_decision)cmd->arg, &code, &reason);
            hang_up(call, code, reason);
        } else if (id == CMD_HANGUP) {
            hang_up(call, 480, "Temporarily Unavailable");
        }
    }
    recd_sip_call_unref(call);
    free(cmd);
}

static int push(struct recd_sip_call *call, enum cmd id, int arg)
{
    if (!call || atomic_load(&call->ended))
        return RECD_E_NOT_FOUND;
    struct command *cmd = malloc(sizeof *cmd);
    if (!cmd)
        return RECD_E_INTERNAL;
    recd_sip_call_ref(call);
    cmd->call = call;
    cmd->arg = arg;
    if (mqueue_push(call->ep->mq, (int)id, cmd)) {
        recd_sip_call_unref(call);
        free(cmd);
        return RECD_E_UNAVAILABLE;
    }
    return 0;
}

int recd_sip_answer(struct recd_sip_call *call)
{
    return push(call, CMD_ANSWER, 0);
}

int recd_sip_reject(struct recd_sip_call *call, enum recd_sip_decision why)
{
    return push(call, CMD_REJECT, (int)why);
}

int recd_sip_hangup(struct recd_sip_call *call)
{
    int rc = push(call, CMD_HANGUP, 0);
    return rc == RECD_E_NOT_FOUND ? 0 : rc;
}

int recd_sip_play(struct recd_sip_call *call, const int16_t *pcm, size_t samples)
{
    if (atomic_load(&call->ended))
        return RECD_E_NOT_FOUND;
    pthread_mutex_lock(&call->mu);
    int rc = 0;
    if (call->qlen + samples > MAX_PLAY_SAMPLES) {
        rc = RECD_E_TOO_LARGE;
        goto out;
    }
    if (call->qlen + samples > call->qcap) {
        size_t cap = call->qcap ? call->qcap : 8000;
        while (cap < call->qlen + samples)
            cap *= 2;
        int16_t *q = malloc(cap * sizeof *q);
        if (!q) {
            rc = RECD_E_INTERNAL;
            goto out;
        }
        for (size_t i = 0; i < call->qlen; i++)
            q[i] = call->q[(call->qhead + i) % call->qcap];
        free(call->q);
        call->q = q;
        call->qcap = cap;
        call->qhead = 0;
    }
    for (size_t i = 0; i < samples; i++)
        call->q[(call->qhead + call->qlen + i) % call->qcap] = pcm[i];
    call->qlen += samples;
out:
    pthread_mutex_unlock(&call->mu);
    return rc;
}

void recd_sip_play_clear(struct recd_sip_call *call)
{
    pthread_mutex_lock(&call->mu);
    call->qlen = 0;
    call->qhead = 0;
    pthread_mutex_unlock(&call->mu);
}

size_t recd_sip_play_pending(struct recd_sip_call *call)
{
    pthread_mutex_lock(&call->mu);
    size_t n = call->qlen;
    pthread_mutex_unlock(&call->mu);
    return n;
}

int recd_sip_send_digits(struct recd_sip_call *call, const char *digits)
{
    if (atomic_load(&call->ended))
        return RECD_E_NOT_FOUND;
    size_t n = strlen(digits);
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789*#ABCDw", digits[i]))
            return RECD_E_BAD_INPUT;
    pthread_mutex_lock(&call->mu);
    int rc = 0;
    if (call->event_pt < 0)
        rc = RECD_E_BAD_INPUT;
    else if (call->ndigits + n > MAX_DIGITS)
        rc = RECD_E_TOO_LARGE;
    else {
        memcpy(call->digits + call->ndigits, digits, n);
        call->ndigits += n;
        call->digits[call->ndigits] = '\0';
    }
    pthread_mutex_unlock(&call->mu);
    return rc;
}

void recd_sip_call_stats(struct recd_sip_call *call, struct recd_sip_call_stats *out)
{
    pthread_mutex_lock(&call->mu);
    *out = call->stats;
    pthread_mutex_unlock(&call->mu);
}

/* ---- the endpoint ---- */

static void started(struct recd_sip *ep, int ok, int err)
{
    pthread_mutex_lock(&ep->mu);
    ep->ready = ok ? 1 : -1;
    ep->start_err = err;
    pthread_cond_signal(&ep->cv);
    pthread_mutex_unlock(&ep->mu);
}

static pthread_once_t libre_once = PTHREAD_ONCE_INIT;
static int libre_init_err;

static void libre_init_once(void)
{
    libre_init_err = libre_init();
}

/*
 * libre's loop indexes its handler table by descriptor number and sizes it, unless told otherwise,
 * at FD_SETSIZE (1024): a descriptor numbered past it cannot be polled, so each call's two RTP/RTCP
 * sockets would cap the endpoint near 500 calls whatever max_calls says. Size it from the process's
 * descriptor limit instead (it must be set before the loop's first descriptor), and say so when
 * that limit cannot hold max_calls.
 */
static int loop_fds(const struct recd_sip *ep)
{
    struct rlimit rl;
    rlim_t n = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > n)
        n = rl.rlim_cur;
    /* libre zeroes its tables (about 50 bytes per descriptor): 65536 is 3 MB and 32,000 calls. */
    if (n > 65536)
        n = 65536;
    /* Two descriptors per call, plus the SIP sockets, the mqueue and whatever else the process has. */
    if ((rlim_t)ep->o.max_calls * 2 + 64 > n)
        recd_log_warn("sip: %llu file descriptors allow about %llu calls, fewer than max_calls %u (raise "
                      "ulimit -n)",
                      (unsigned long long)n, (unsigned long long)(n - 64) / 2, ep->o.max_calls);
    return (int)n;
}

/*
 * Buckets for libre's hash tables (sessions, client and server transactions): a power of two near
 * `n`, 32 to 65536. libre finds a transaction or session for every request it receives by walking
 * its bucket; server transactions outlive their call by 32 s (RFC 3261's timer J), so at 400 setups
 * a second some 13,000 are alive, and 32 buckets made every lookup a walk of hundreds.
 */
static uint32_t hash_size(unsigned n)
{
    uint32_t b = 32;
    while (b < n && b < 65536)
        b <<= 1;
    return b;
}

/* Long because libre's objects must be made and freed on the thread that runs their loop: this
 * is the endpoint's whole set-up (media clock, transports, session socket), its loop and its
 * teardown, in that order. */
static void *sip_thread(void *arg)
{
    struct recd_sip *ep = arg;
    /* Named so that top -H, perf and the call benchmark can tell the media loop from the rest. */
    (void)pthread_setname_np(pthread_self(), "recd-sip");
    int64_t range = 0;
    int err = re_thread_init();
    const char *step = "re_thread_init";
    if (err)
        goto fail;
    tmr_init(&ep->stop_tmr);
    step = "fd_setsize";
    err = fd_setsize(loop_fds(ep));
    if (err)
        goto fail;
    step = "the media clock";
    ep->media_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ep->media_fd < 0) {
        err = errno;
        goto fail;
    }
    err = fd_listen(ep->media_fd, FD_READ, media_timer, ep);
    if (err)
        goto fail;
    step = "the address";
    err = sa_set_str(&ep->laddr, ep->o.host, ep->o.port);
    if (err)
        goto fail;
    step = "sip_alloc";
    err = sip_alloc(&ep->sip, NULL, hash_size(ep->o.max_calls), hash_size(ep->o.max_calls * 8u), 32, "recd",
                    sip_exit, ep);
    if (err)
        goto fail;
    if (recd_metrics_enabled())
        sip_set_trace_handler(ep->sip, sip_trace);
    step = "SIP over UDP";
    err = sip_transp_add(ep->sip, SIP_TRANSP_UDP, &ep->laddr);
    if (err)
        goto fail;
    step = "SIP over TCP";
    err = sip_transp_add(ep->sip, SIP_TRANSP_TCP, &ep->laddr);
    if (err)
        goto fail;
    step = "sipsess_listen";
    err = sipsess_listen(&ep->sock, ep->sip, hash_size(ep->o.max_calls), connect_handler, ep);
    if (err)
        goto fail;
    step = "sip_listen";
    err = sip_listen(&ep->lsnr, ep->sip, true, options_handler, ep);
    if (err)
        goto fail;
    step = "mqueue_alloc";
    err = mqueue_alloc(&ep->mq, mq_handler, ep);
    if (err)
        goto fail;
    started(ep, 1, 0);
    /* The range's ports, less two per call that holds an RTP socket (ports_held). */
    range = (int64_t)ep->o.rtp_hi - ep->o.rtp_lo + 1;
    recd_metric_gauge_add(RECD_MET_RTP_PORTS_FREE, 0, range);
    /* The media clock's waits for a CPU tell background work (the transcription decoders) to
     * step aside, as the HTTP loops' do: late packets are heard. */
    recd_cpu_wait_watch_self();
    err = re_main(NULL);
    recd_cpu_wait_unwatch_self();
    if (err)
        recd_log_error("sip: the event loop stopped: %s", strerror(err));
    goto done;
fail:
    recd_log_error("sip: starting on %s:%u failed at %s: %s", ep->o.host, ep->o.port, step, strerror(err));
    started(ep, 0, err);
done:
    tmr_cancel(&ep->stop_tmr);
    if (ep->media_fd >= 0) {
        fd_close(ep->media_fd);
        close(ep->media_fd);
        ep->media_fd = -1;
    }
    /* Calls still here are hung up already; their teardown timers may not have run. */
    for (struct le *le = ep->calls.head; le;) {
        struct recd_sip_call *call = le->data;
        le = le->next;
        end_call(call, RECD_SIP_END_LOCAL);
        tmr_cancel(&call->free_tmr);
        teardown(call);
    }
    recd_metric_gauge_add(RECD_MET_RTP_PORTS_FREE, 0, -range);
    ep->lsnr = mem_deref(ep->lsnr);
    ep->sock = mem_deref(ep->sock);
    if (ep->sip)
        sip_close(ep->sip, true);
    ep->sip = mem_deref(ep->sip);
    ep->mq = mem_deref(ep->mq);
    re_thread_close();
    return NULL;
}

int recd_sip_start(const struct recd_sip_opts *opts, const struct recd_sip_handler *handler,
                   struct recd_sip **out)
{
    if (!handler || !handler->on_invite)
        return RECD_E_BAD_INPUT;
    pthread_once(&libre_once, libre_init_once);
    if (libre_init_err) {
        recd_log_error("sip: libre_init failed: %s", strerror(libre_init_err));
        return RECD_E_INTERNAL;
    }
    struct recd_sip *ep = calloc(1, sizeof *ep);
    if (!ep)
        return RECD_E_INTERNAL;
    ep->o = *opts;
    ep->h = *handler;
    if (!ep->o.host)
        ep->o.host = "127.0.0.1";
    if (!ep->o.port)
        ep->o.port = 5060;
    if (!ep->o.rtp_lo || !ep->o.rtp_hi) {
        ep->o.rtp_lo = 16384;
        ep->o.rtp_hi = 32767;
    }
    if (ep->o.rtp_lo >= ep->o.rtp_hi || ep->o.nallow > RECD_SIP_MAX_ALLOW) {
        free(ep);
        return RECD_E_BAD_INPUT;
    }
    if (!ep->o.invite_rate)
        ep->o.invite_rate = 5;
    if (!ep->o.invite_burst)
        ep->o.invite_burst = 20;
    if (!ep->o.max_calls)
        ep->o.max_calls = 500;
    if (!ep->o.rtp_timeout_ms)
        ep->o.rtp_timeout_ms = 60000;
    if (!ep->o.ring_timeout_ms)
        ep->o.ring_timeout_ms = 120000;
    if (!ep->o.min_se_s)
        ep->o.min_se_s = SE_RFC_MIN;
    ep->port = ep->o.port;
    ep->media_fd = -1;
    pthread_mutex_init(&ep->mu, NULL);
    pthread_cond_init(&ep->cv, NULL);
    atomic_init(&ep->stopping, 0);
    if (pthread_create(&ep->thread, NULL, sip_thread, ep)) {
        recd_log_error("sip: cannot start the SIP thread");
        pthread_mutex_destroy(&ep->mu);
        pthread_cond_destroy(&ep->cv);
        free(ep);
        return RECD_E_UNAVAILABLE;
    }
    pthread_mutex_lock(&ep->mu);
    while (!ep->ready)
        pthread_cond_wait(&ep->cv, &ep->mu);
    int ok = ep->ready > 0;
    pthread_mutex_unlock(&ep->mu);
    if (!ok) {
        pthread_join(ep->thread, NULL);
        pthread_mutex_destroy(&ep->mu);
        pthread_cond_destroy(&ep->cv);
        free(ep);
        return RECD_E_UNAVAILABLE;
    }
    *out = ep;
    return 0;
}

uint16_t recd_sip_port(const struct recd_sip *sip)
{
    return sip->port;
}

void recd_sip_stop(struct recd_sip *sip)
{
    if (!sip)
        return;
    atomic_store(&sip->stopping, 1);
    if (mqueue_push(sip->mq, CMD_STOP, NULL))
        recd_log_error("sip: cannot signal the SIP thread to stop");
    pthread_join(sip->thread, NULL);
    pthread_mutex_destroy(&sip->mu);
    pthread_cond_destroy(&sip->cv);
    free(sip);
}
