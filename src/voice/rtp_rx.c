#include "voice/rtp_rx.h"

#include <string.h>

/*
 * RFC 3550 appendix A.1's thresholds: a jump of more than MAX_DROPOUT ahead or MAX_MISORDER behind
 * is not believed until a second, consecutive packet confirms it, so one stray or forged packet
 * cannot reset the stream.
 */
#define MAX_DROPOUT  3000
#define MAX_MISORDER 100
/* When the stream restarts (new SSRC), the wall clock alone sizes the gap; this bounds it. */
#define MAX_WALL_GAP (8000u * 60u)
/* Clamp for one jitter step, so that a wild timestamp cannot overflow the scaled sum. */
#define MAX_JITTER_STEP (1u << 24)

void recd_rtp_rx_init(struct recd_rtp_rx *rx, const struct recd_rtp_rx_ops *ops, void *arg, int event_pt)
{
    memset(rx, 0, sizeof *rx);
    rx->ops = *ops;
    rx->arg = arg;
    rx->event_pt = event_pt;
}

void recd_rtp_rx_set_event_pt(struct recd_rtp_rx *rx, int event_pt)
{
    rx->event_pt = event_pt;
}

static void play(struct recd_rtp_rx *rx, const struct recd_rtp_rx_slot *s)
{
    if (rx->event_pt >= 0 && s->pt == rx->event_pt) {
        /* Events do not advance the audio clock: their timestamp is the key press's start. */
        if (rx->ops.event)
            rx->ops.event(rx->arg, s->ts, s->data, s->len);
        return;
    }
    uint32_t fill = 0;
    if (rx->have_ts) {
        int32_t gap = (int32_t)(s->ts - rx->expect_ts);
        if (gap > 0) {
            /* Believe the timestamps, but never more than the wall clock plus a slack: a peer
             * that jumps its timestamp cannot make us write hours of silence. */
            int32_t wall = rx->have_arrival ? (int32_t)(s->arrival - rx->last_arrival) : gap;
            uint32_t allowed = (wall > 0 ? (uint32_t)wall : 0u) + RECD_RTP_RX_GAP_SLACK;
            fill = (uint32_t)gap < allowed ? (uint32_t)gap : allowed;
        }
    } else if (rx->have_arrival) {
        /* A restarted stream: its timestamps say nothing about the pause, the clock does. */
        int32_t wall = (int32_t)(s->arrival - rx->last_arrival);
        if (wall > 0)
            fill = (uint32_t)wall < MAX_WALL_GAP ? (uint32_t)wall : MAX_WALL_GAP;
    }
    if (fill) {
        rx->stats.silence += fill;
        if (rx->ops.silence)
            rx->ops.silence(rx->arg, fill);
    }
    if (rx->ops.audio)
        rx->ops.audio(rx->arg, s->pt, s->data, s->len);
    rx->have_ts = 1;
    rx->expect_ts = s->ts + s->len;
    rx->have_arrival = 1;
    rx->last_arrival = s->arrival + s->len;
}

/* Plays the head of the buffer, which must be next_seq, and remembers it was played. */
static void pop_head(struct recd_rtp_rx *rx)
{
    play(rx, &rx->slot[0]);
    rx->seen = (rx->seen << 1) | 1u;
    rx->next_seq = (uint16_t)(rx->slot[0].seq + 1);
    rx->count--;
    memmove(&rx->slot[0], &rx->slot[1], rx->count * sizeof rx->slot[0]);
}

/* Gives up on the missing packets before the head and plays it. */
static void skip_to_head(struct recd_rtp_rx *rx)
{
    uint16_t k = (uint16_t)(rx->slot[0].seq - rx->next_seq);
    rx->stats.lost += k;
    rx->seen = k >= 64 ? 0 : rx->seen << k;
    rx->next_seq = rx->slot[0].seq;
    pop_head(rx);
}

static void drain(struct recd_rtp_rx *rx)
{
    for (;;) {
        while (rx->count > 0 && rx->slot[0].seq == rx->next_seq)
            pop_head(rx);
        if (rx->count <= RECD_RTP_RX_DEPTH)
            return;
        skip_to_head(rx);
    }
}

void recd_rtp_rx_flush(struct recd_rtp_rx *rx)
{
    while (rx->count > 0) {
        if (rx->slot[0].seq == rx->next_seq)
            pop_head(rx);
        else
            skip_to_head(rx);
    }
}

void recd_rtp_rx_expire(struct recd_rtp_rx *rx, uint32_t now, uint32_t hold)
{
    while (rx->count > 0 && (int32_t)(now - rx->slot[0].arrival) >= (int32_t)hold) {
        skip_to_head(rx);
        drain(rx);
    }
}

/* Starts over at `seq`: after an SSRC change or a confirmed jump. */
static void restart(struct recd_rtp_rx *rx, uint32_t ssrc, uint16_t seq)
{
    recd_rtp_rx_flush(rx);
    rx->started = 1;
    rx->ssrc = ssrc;
    rx->next_seq = seq;
    rx->seen = 0;
    rx->have_bad_seq = 0;
    rx->have_ts = 0;
    rx->have_transit = 0;
}

static void update_jitter(struct recd_rtp_rx *rx, uint32_t ts, uint32_t arrival)
{
    uint32_t transit = arrival - ts;
    if (rx->have_transit) {
        int32_t d = (int32_t)(transit - rx->transit);
        uint32_t ad = d < 0 ? (uint32_t) - (int64_t)d : (uint32_t)d;
        if (ad > MAX_JITTER_STEP)
            ad = MAX_JITTER_STEP;
        rx->jitter16 = rx->jitter16 + ad - ((rx->jitter16 + 8) >> 4);
        rx->stats.jitter = rx->jitter16 >> 4;
    }
    rx->transit = transit;
    rx->have_transit = 1;
}

int recd_rtp_rx_push(struct recd_rtp_rx *rx, uint32_t ssrc, uint16_t seq, uint32_t ts, uint8_t pt,
                     const uint8_t *payload, size_t n, uint32_t arrival)
{
    if (n > RECD_RTP_RX_MAX_PAYLOAD) {
        rx->stats.invalid++;
        return 1;
    }
    rx->stats.received++;
    if (rx->started && ssrc != rx->ssrc) {
        rx->stats.ssrc_changes++;
        restart(rx, ssrc, seq);
    } else if (!rx->started) {
        restart(rx, ssrc, seq);
    }

    int d = (int16_t)(uint16_t)(seq - rx->next_seq);
    int far = 0;
    if (d < 0) {
        unsigned back = (unsigned)-d;
        if (back <= 64 && ((rx->seen >> (back - 1)) & 1u)) {
            rx->stats.duplicates++;
            return 1;
        }
        if (back <= MAX_MISORDER) {
            rx->stats.late++;
            return 1;
        }
        far = 1;
    } else if (d > MAX_DROPOUT) {
        far = 1;
    }
    if (far) {
        if (rx->have_bad_seq && seq == rx->bad_seq) {
            restart(rx, ssrc, seq);
        } else {
            rx->bad_seq = (uint16_t)(seq + 1);
            rx->have_bad_seq = 1;
            rx->stats.invalid++;
            return 1;
        }
    }

    /* Insert in order of distance from next_seq; at most DEPTH + 1 entries, so a scan is fine. */
    unsigned at = 0;
    d = (uint16_t)(seq - rx->next_seq);
    while (at < rx->count) {
        int da = (uint16_t)(rx->slot[at].seq - rx->next_seq);
        if (da == d) {
            rx->stats.duplicates++;
            return 1;
        }
        if (da > d)
            break;
        at++;
    }
    memmove(&rx->slot[at + 1], &rx->slot[at], (rx->count - at) * sizeof rx->slot[0]);
    struct recd_rtp_rx_slot *s = &rx->slot[at];
    s->seq = seq;
    s->pt = pt;
    s->ts = ts;
    s->arrival = arrival;
    s->len = (uint16_t)n;
    if (n)
        memcpy(s->data, payload, n);
    rx->count++;

    if (rx->event_pt < 0 || pt != rx->event_pt)
        update_jitter(rx, ts, arrival);
    drain(rx);
    return 0;
}

void recd_rtp_framer_put(struct recd_rtp_framer *f, const int16_t *pcm, size_t n)
{
    while (n > 0) {
        size_t take = RECD_RTP_FRAME - f->fill;
        if (take > n)
            take = n;
        memcpy(f->pcm + f->fill, pcm, take * sizeof *pcm);
        f->fill += (unsigned)take;
        pcm += take;
        n -= take;
        if (f->fill == RECD_RTP_FRAME) {
            f->frame(f->arg, f->pcm, RECD_RTP_FRAME);
            f->fill = 0;
        }
    }
}

void recd_rtp_framer_silence(struct recd_rtp_framer *f, size_t n)
{
    while (n > 0) {
        size_t take = RECD_RTP_FRAME - f->fill;
        if (take > n)
            take = n;
        memset(f->pcm + f->fill, 0, take * sizeof f->pcm[0]);
        f->fill += (unsigned)take;
        n -= take;
        if (f->fill == RECD_RTP_FRAME) {
            f->frame(f->arg, f->pcm, RECD_RTP_FRAME);
            f->fill = 0;
        }
    }
}

char recd_rtp_dtmf_event(struct recd_rtp_dtmf *d, uint32_t ts, const uint8_t *payload, size_t n)
{
    static const char digits[] = "0123456789*#ABCD";
    if (n < 4 || payload[0] > 15)
        return 0;
    if (d->have && d->ts == ts)
        return 0;
    d->have = 1;
    d->ts = ts;
    return digits[payload[0]];
}

int recd_rtp_digit_dedup(struct recd_rtp_digit_dedup *d, char digit, enum recd_rtp_digit_source source,
                         int64_t now_ms)
{
    if (d->digit == digit && d->source != source && now_ms - d->at_ms < RECD_RTP_DIGIT_DEDUP_MS)
        return 0;
    d->digit = digit;
    d->source = source;
    d->at_ms = now_ms;
    return 1;
}
