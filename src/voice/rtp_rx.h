#ifndef RECD_VOICE_RTP_RX_H
#define RECD_VOICE_RTP_RX_H

/*
 * The receive side of one RTP stream, without sockets or libre: a small reorder buffer by
 * sequence number, silence for gaps so that durations stay true, duplicate and late detection,
 * SSRC changes, and RFC 3550 interarrival jitter. Also the pure helpers around it: G.711 framing
 * into 20 ms frames, RFC 4733 digit detection and the deduplication of digits that arrive both as
 * RFC 4733 events and as in-band tones. sip.c feeds it; tests/unit/test_rtp_rx.c drives it alone.
 *
 * Times are in RTP timestamp units (samples at 8 kHz), which is all G.711 needs.
 */

#include <stddef.h>
#include <stdint.h>

/** Packets held back waiting for a missing one; deeper adds latency only when packets are lost. */
#define RECD_RTP_RX_DEPTH 4
/** The largest payload accepted: 60 ms of G.711. Bigger packets are counted as invalid. */
#define RECD_RTP_RX_MAX_PAYLOAD 480
/** Samples in one 20 ms frame at 8 kHz. */
#define RECD_RTP_FRAME 160
/** A gap is filled with at most this much more silence than the wall clock says passed (1 s). */
#define RECD_RTP_RX_GAP_SLACK 8000u

/** Counters of one stream, per RFC 3550's meaning where it has one. */
struct recd_rtp_stats {
    uint64_t received;     /**< packets accepted from the peer, including late and duplicates */
    uint64_t lost;         /**< sequence numbers skipped at playout (never arrived in time) */
    uint64_t late;         /**< packets that arrived after their place was skipped */
    uint64_t duplicates;   /**< packets whose sequence number was already buffered or played */
    uint64_t invalid;      /**< packets too big, or a far jump not (yet) confirmed */
    uint64_t ssrc_changes; /**< times the stream restarted with another SSRC */
    uint64_t silence;      /**< samples of silence inserted for gaps */
    uint32_t jitter;       /**< RFC 3550 interarrival jitter, in timestamp units (1/8 ms) */
};

/** Where the stream's packets go, in sequence order. */
struct recd_rtp_rx_ops {
    /** An audio packet's payload (one byte per sample for G.711). */
    void (*audio)(void *arg, uint8_t pt, const uint8_t *payload, size_t n);
    /** `samples` of silence for a gap. */
    void (*silence)(void *arg, uint32_t samples);
    /** A telephone-event packet (RFC 4733), with its timestamp. */
    void (*event)(void *arg, uint32_t ts, const uint8_t *payload, size_t n);
};

struct recd_rtp_rx_slot {
    uint16_t seq;
    uint8_t pt;
    uint16_t len;
    uint32_t ts;
    uint32_t arrival;
    uint8_t data[RECD_RTP_RX_MAX_PAYLOAD];
};

/** One receive stream. Zero it with recd_rtp_rx_init; it allocates nothing. */
struct recd_rtp_rx {
    struct recd_rtp_rx_ops ops;
    void *arg;
    int event_pt; /* the negotiated telephone-event payload type, or -1 */
    int started;
    uint32_t ssrc;
    uint16_t next_seq;
    uint16_t bad_seq;
    int have_bad_seq;
    uint64_t seen; /* bit i: sequence number next_seq - 1 - i was played */
    struct recd_rtp_rx_slot slot[RECD_RTP_RX_DEPTH + 1];
    unsigned count;
    /* Playout position, for gap filling. */
    int have_ts;
    uint32_t expect_ts;
    uint32_t last_arrival; /* arrival of the last played audio, plus its duration */
    int have_arrival;
    /* Jitter state (RFC 3550 A.8), jitter16 is jitter scaled by 16. */
    int have_transit;
    uint32_t transit;
    uint32_t jitter16;
    struct recd_rtp_stats stats;
};

/** Prepares `rx`; `event_pt` is the telephone-event payload type (or -1 when none). */
void recd_rtp_rx_init(struct recd_rtp_rx *rx, const struct recd_rtp_rx_ops *ops, void *arg, int event_pt);

/** Changes the telephone-event payload type (after a re-INVITE). */
void recd_rtp_rx_set_event_pt(struct recd_rtp_rx *rx, int event_pt);

/**
 * One packet from the negotiated peer, already stripped to its payload. `arrival` is the receive
 * time in timestamp units (any origin, wrapping). Emits through the ops, in order, whatever can be
 * played now. Returns 0 when the packet was accepted, 1 when it was dropped (duplicate, late or
 * invalid; the reason is counted in the stats).
 */
int recd_rtp_rx_push(struct recd_rtp_rx *rx, uint32_t ssrc, uint16_t seq, uint32_t ts, uint8_t pt,
                     const uint8_t *payload, size_t n, uint32_t arrival);

/**
 * Releases packets that have waited `hold` timestamp units or more for a missing predecessor, so
 * that audio keeps flowing when the sender pauses after a loss. Call it on a timer.
 */
void recd_rtp_rx_expire(struct recd_rtp_rx *rx, uint32_t now, uint32_t hold);

/** Plays everything still buffered (end of call), counting the skipped sequence numbers as lost. */
void recd_rtp_rx_flush(struct recd_rtp_rx *rx);

/** Gathers samples into 20 ms frames for a callback that wants exactly RECD_RTP_FRAME at a time. */
struct recd_rtp_framer {
    int16_t pcm[RECD_RTP_FRAME];
    unsigned fill;
    void (*frame)(void *arg, const int16_t *pcm, size_t samples);
    void *arg;
};

/** Adds `n` samples; calls `frame` for each completed frame. */
void recd_rtp_framer_put(struct recd_rtp_framer *f, const int16_t *pcm, size_t n);

/** Adds `n` samples of silence; calls `frame` for each completed frame. */
void recd_rtp_framer_silence(struct recd_rtp_framer *f, size_t n);

/**
 * RFC 4733 digit detection for one stream. Each event carries the timestamp of its start, so a new
 * timestamp is a new key press even when every packet of the previous one's end was lost.
 */
struct recd_rtp_dtmf {
    int have;
    uint32_t ts;
};

/**
 * Reads one telephone-event payload. Returns the digit ('0'-'9', '*', '#', 'A'-'D') when the packet
 * starts a new key press, 0 otherwise (a continuation, an end retransmission, a non-DTMF event or a
 * short payload).
 */
char recd_rtp_dtmf_event(struct recd_rtp_dtmf *d, uint32_t ts, const uint8_t *payload, size_t n);

/** Where a digit came from. */
enum recd_rtp_digit_source {
    RECD_RTP_DIGIT_RFC4733 = 1,
    RECD_RTP_DIGIT_INBAND = 2,
};

/** The same key press reported by both sources within this many milliseconds is one digit. */
#define RECD_RTP_DIGIT_DEDUP_MS 400

/** Remembers the last digit delivered, to drop its echo from the other source. */
struct recd_rtp_digit_dedup {
    char digit;
    enum recd_rtp_digit_source source;
    int64_t at_ms;
};

/**
 * Returns 1 when `digit` from `source` at `now_ms` should be delivered, 0 when it is the same key
 * press already delivered from the other source. Repeats from one source always pass: that source
 * already tells key presses apart.
 */
int recd_rtp_digit_dedup(struct recd_rtp_digit_dedup *d, char digit, enum recd_rtp_digit_source source,
                         int64_t now_ms);

#endif
