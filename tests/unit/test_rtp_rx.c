#include "voice/rtp_rx.h"

#include "unit.h"

/*
 * Each packet's payload is 160 bytes all equal to a tag, so the played sequence can be read back
 * as a string: a tag letter per packet, '.' per 160 samples of silence, 'E' per event.
 */
struct out {
    char log[512];
    size_t n;
    uint64_t samples;
};

static void on_audio(void *arg, uint8_t pt, const uint8_t *p, size_t n)
{
    (void)pt;
    struct out *o = arg;
    o->log[o->n++] = (char)p[0];
    o->samples += n;
}

static void on_silence(void *arg, uint32_t samples)
{
    struct out *o = arg;
    for (uint32_t i = 0; i < samples / 160; i++)
        o->log[o->n++] = '.';
    o->samples += samples;
}

static void on_event(void *arg, uint32_t ts, const uint8_t *p, size_t n)
{
    (void)ts;
    (void)p;
    (void)n;
    struct out *o = arg;
    o->log[o->n++] = 'E';
}

static const struct recd_rtp_rx_ops ops = {on_audio, on_silence, on_event};

struct rig {
    struct recd_rtp_rx rx;
    struct out out;
};

static void setup(struct rig *r)
{
    memset(r, 0, sizeof *r);
    recd_rtp_rx_init(&r->rx, &ops, &r->out, 101);
}

/* Packet number k of a stream starting at seq0/ts0, tagged `tag`, arriving on time (+ skew). */
static int pkt(struct rig *r, uint32_t ssrc, uint16_t seq0, uint32_t ts0, unsigned k, char tag, int skew)
{
    uint8_t p[160];
    memset(p, tag, sizeof p);
    return recd_rtp_rx_push(&r->rx, ssrc, (uint16_t)(seq0 + k), ts0 + 160u * k, 0, p, sizeof p,
                            (uint32_t)(160 * (int)k + skew));
}

#define LOG_IS(r, want) assert_bytes((r)->out.log, (r)->out.n, want)

static void test_in_order(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    const char *tags = "abcdefgh";
    for (unsigned k = 0; k < 8; k++)
        assert_int_equal(pkt(&r, 1, 100, 5000, k, tags[k], 0), 0);
    /* In order, nothing is held back: every packet is played as it arrives. */
    LOG_IS(&r, "abcdefgh");
    assert_int_equal(r.rx.stats.received, 8);
    assert_int_equal(r.rx.stats.lost, 0);
    assert_int_equal(r.rx.stats.jitter, 0);
    assert_int_equal(r.out.samples, 8 * 160);
}

static void test_reorder(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    pkt(&r, 1, 0, 0, 0, 'a', 0);
    pkt(&r, 1, 0, 0, 2, 'c', 0); /* b is late: c waits */
    pkt(&r, 1, 0, 0, 3, 'd', 0);
    LOG_IS(&r, "a");
    pkt(&r, 1, 0, 0, 1, 'b', 40);
    LOG_IS(&r, "abcd");
    pkt(&r, 1, 0, 0, 5, 'f', 0);
    pkt(&r, 1, 0, 0, 4, 'e', 0);
    LOG_IS(&r, "abcdef");
    assert_int_equal(r.rx.stats.lost, 0);
    assert_int_equal(r.rx.stats.late, 0);
    assert_int_equal(r.out.samples, 6 * 160);
}

static void test_loss_fills_silence(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    pkt(&r, 1, 0, 0, 0, 'a', 0);
    /* Packets 1 and 2 never come; 3..7 arrive. After DEPTH (4) are held, the gap is given up. */
    pkt(&r, 1, 0, 0, 3, 'd', 0);
    pkt(&r, 1, 0, 0, 4, 'e', 0);
    pkt(&r, 1, 0, 0, 5, 'f', 0);
    pkt(&r, 1, 0, 0, 6, 'g', 0);
    LOG_IS(&r, "a");
    pkt(&r, 1, 0, 0, 7, 'h', 0);
    LOG_IS(&r, "a..defgh");
    assert_int_equal(r.rx.stats.lost, 2);
    /* The duration is still true: 8 packets' worth. */
    assert_int_equal(r.out.samples, 8 * 160);
    assert_int_equal(r.rx.stats.silence, 2 * 160);
    /* Packet 1 arrives after its place was given up: late, not played, not a duplicate. */
    assert_int_equal(pkt(&r, 1, 0, 0, 1, 'b', 0), 1);
    assert_int_equal(r.rx.stats.late, 1);
    assert_int_equal(r.rx.stats.duplicates, 0);
    LOG_IS(&r, "a..defgh");
}

static void test_expire(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    pkt(&r, 1, 0, 0, 0, 'a', 0);
    pkt(&r, 1, 0, 0, 2, 'c', 0); /* arrives at 320 */
    recd_rtp_rx_expire(&r.rx, 320 + 100, 480);
    LOG_IS(&r, "a");
    recd_rtp_rx_expire(&r.rx, 320 + 480, 480);
    LOG_IS(&r, "a.c");
    assert_int_equal(r.rx.stats.lost, 1);
}

static void test_duplicates(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    pkt(&r, 1, 0, 0, 0, 'a', 0);
    assert_int_equal(pkt(&r, 1, 0, 0, 0, 'a', 0), 1); /* already played */
    pkt(&r, 1, 0, 0, 2, 'c', 0);
    assert_int_equal(pkt(&r, 1, 0, 0, 2, 'c', 0), 1); /* already buffered */
    pkt(&r, 1, 0, 0, 1, 'b', 0);
    assert_int_equal(pkt(&r, 1, 0, 0, 1, 'b', 0), 1);
    LOG_IS(&r, "abc");
    assert_int_equal(r.rx.stats.duplicates, 3);
    assert_int_equal(r.rx.stats.received, 6);
}

static void test_seq_and_ts_wrap(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    /* Starts 2 before the 16-bit sequence wraps and 320 samples before the timestamp wraps. */
    uint32_t ts0 = UINT32_MAX - 319;
    pkt(&r, 7, 65534, ts0, 0, 'a', 0);
    pkt(&r, 7, 65534, ts0, 2, 'c', 0); /* seq 0, ts 0: past both wraps */
    pkt(&r, 7, 65534, ts0, 1, 'b', 0); /* seq 65535 */
    pkt(&r, 7, 65534, ts0, 4, 'e', 0);
    pkt(&r, 7, 65534, ts0, 5, 'f', 0);
    pkt(&r, 7, 65534, ts0, 6, 'g', 0);
    pkt(&r, 7, 65534, ts0, 7, 'h', 0);
    pkt(&r, 7, 65534, ts0, 8, 'i', 0);
    LOG_IS(&r, "abc.efghi");
    assert_int_equal(r.rx.stats.lost, 1);
    assert_int_equal(r.out.samples, 9 * 160);
    /* A duplicate from before the wrap is still recognised. */
    assert_int_equal(pkt(&r, 7, 65534, ts0, 1, 'b', 0), 1);
    assert_int_equal(r.rx.stats.duplicates, 1);
}

static void test_ssrc_change(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    pkt(&r, 1, 0, 0, 0, 'a', 0);
    pkt(&r, 1, 0, 0, 2, 'c', 0); /* held, waiting for b */
    /* A new source with unrelated seq and ts, 2 packets' time after 'c' would have ended. */
    uint8_t p[160];
    memset(p, 'x', sizeof p);
    assert_int_equal(recd_rtp_rx_push(&r.rx, 2, 40000, 123456, 0, p, sizeof p, 5 * 160), 0);
    /* The old stream's held packet is flushed (b lost), then the pause, by the clock, then x. */
    LOG_IS(&r, "a.c..x");
    assert_int_equal(r.rx.stats.ssrc_changes, 1);
    assert_int_equal(r.rx.stats.lost, 1);
    memset(p, 'y', sizeof p);
    assert_int_equal(recd_rtp_rx_push(&r.rx, 2, 40001, 123456 + 160, 0, p, sizeof p, 6 * 160), 0);
    LOG_IS(&r, "a.c..xy");
}

static void test_far_jump_needs_confirmation(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    pkt(&r, 1, 0, 0, 0, 'a', 0);
    pkt(&r, 1, 0, 0, 1, 'b', 0);
    /* One stray packet far ahead is dropped... */
    assert_int_equal(pkt(&r, 1, 0, 0, 20000, 'z', -20000 * 160 + 320), 1);
    assert_int_equal(r.rx.stats.invalid, 1);
    pkt(&r, 1, 0, 0, 2, 'c', 0);
    LOG_IS(&r, "abc");
    /* ...but two consecutive ones restart the stream there. */
    assert_int_equal(pkt(&r, 1, 0, 0, 30000, 'y', -30000 * 160 + 480), 1);
    assert_int_equal(pkt(&r, 1, 0, 0, 30001, 'z', -30001 * 160 + 640), 0);
    LOG_IS(&r, "abc.z"); /* y never played: its time is silence */
}

static void test_ts_jump_bounded_by_clock(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    uint8_t p[160];
    memset(p, 'a', sizeof p);
    recd_rtp_rx_push(&r.rx, 1, 0, 0, 0, p, sizeof p, 0);
    /* The next packet claims an hour passed, but it came 20 ms later: at most 1 s of silence. */
    memset(p, 'b', sizeof p);
    recd_rtp_rx_push(&r.rx, 1, 1, 8000u * 3600u, 0, p, sizeof p, 160);
    assert_int_equal(r.rx.stats.silence, RECD_RTP_RX_GAP_SLACK);
    /* A genuine pause (silence suppression) of 2 s is kept whole. */
    memset(p, 'c', sizeof p);
    recd_rtp_rx_push(&r.rx, 1, 2, 8000u * 3600u + 160 + 16000, 0, p, sizeof p, 320 + 16000);
    assert_int_equal(r.rx.stats.silence, RECD_RTP_RX_GAP_SLACK + 16000);
}

static void test_events_share_sequence(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    pkt(&r, 1, 0, 0, 0, 'a', 0);
    uint8_t ev[4] = {1, 10, 0, 160};
    /* Events take sequence numbers 1..3 with the key press's start timestamp; audio resumes at 4. */
    for (uint16_t k = 1; k <= 3; k++)
        recd_rtp_rx_push(&r.rx, 1, k, 160, 101, ev, sizeof ev, 160u * k);
    pkt(&r, 1, 0, 0, 4, 'e', 0);
    /* No loss; the audio the events replaced becomes silence, so the duration is true. */
    LOG_IS(&r, "aEEE...e");
    assert_int_equal(r.rx.stats.lost, 0);
    assert_int_equal(r.out.samples, 5 * 160);
}

static void test_jitter(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    /* Alternating 0 and 80 samples (10 ms) late: |D| = 80 each step, J -> 80 (RFC 3550 6.4.1). */
    for (unsigned k = 0; k < 400; k++)
        pkt(&r, 1, 0, 0, k, 'a', (k & 1) ? 80 : 0);
    assert_in_range(r.rx.stats.jitter, 76, 80);
    assert_int_equal(r.rx.stats.lost, 0);
}

static void test_oversize(void **state)
{
    (void)state;
    struct rig r;
    setup(&r);
    uint8_t big[RECD_RTP_RX_MAX_PAYLOAD + 1] = {0};
    assert_int_equal(recd_rtp_rx_push(&r.rx, 1, 0, 0, 0, big, sizeof big, 0), 1);
    assert_int_equal(r.rx.stats.invalid, 1);
    assert_int_equal(r.out.n, 0);
}

static int16_t frames_seen[4][RECD_RTP_FRAME];
static int nframes;

static void on_frame(void *arg, const int16_t *pcm, size_t n)
{
    (void)arg;
    assert_int_equal(n, RECD_RTP_FRAME);
    memcpy(frames_seen[nframes++], pcm, sizeof frames_seen[0]);
}

static void test_framer(void **state)
{
    (void)state;
    struct recd_rtp_framer f = {.frame = on_frame};
    int16_t pcm[240];
    for (int i = 0; i < 240; i++)
        pcm[i] = (int16_t)(i + 1);
    nframes = 0;
    recd_rtp_framer_put(&f, pcm, 240); /* 30 ms packets: one frame and a half */
    assert_int_equal(nframes, 1);
    recd_rtp_framer_silence(&f, 100);
    assert_int_equal(nframes, 2);
    assert_int_equal(frames_seen[1][0], 161);
    assert_int_equal(frames_seen[1][79], 240);
    assert_int_equal(frames_seen[1][80], 0);
    assert_int_equal(f.fill, 20);
}

static void test_dtmf_event(void **state)
{
    (void)state;
    struct recd_rtp_dtmf d = {0};
    uint8_t one[4] = {1, 10, 0, 160}, one_end[4] = {1, 0x8a, 3, 0x20}, star[4] = {10, 10, 0, 160};
    assert_int_equal(recd_rtp_dtmf_event(&d, 1000, one, 4), '1');
    assert_int_equal(recd_rtp_dtmf_event(&d, 1000, one, 4), 0);
    assert_int_equal(recd_rtp_dtmf_event(&d, 1000, one_end, 4), 0);
    assert_int_equal(recd_rtp_dtmf_event(&d, 1000, one_end, 4), 0);
    /* The same key again is a new press because its start timestamp differs. */
    assert_int_equal(recd_rtp_dtmf_event(&d, 3000, one_end, 4), '1');
    assert_int_equal(recd_rtp_dtmf_event(&d, 5000, star, 4), '*');
    uint8_t flash[4] = {16, 10, 0, 160};
    assert_int_equal(recd_rtp_dtmf_event(&d, 7000, flash, 4), 0);
    assert_int_equal(recd_rtp_dtmf_event(&d, 9000, one, 3), 0);
}

static void test_digit_dedup(void **state)
{
    (void)state;
    struct recd_rtp_digit_dedup d = {0};
    assert_int_equal(recd_rtp_digit_dedup(&d, '5', RECD_RTP_DIGIT_RFC4733, 1000), 1);
    /* The same press heard in-band 60 ms later is an echo. */
    assert_int_equal(recd_rtp_digit_dedup(&d, '5', RECD_RTP_DIGIT_INBAND, 1060), 0);
    /* A second press from the same source always counts. */
    assert_int_equal(recd_rtp_digit_dedup(&d, '5', RECD_RTP_DIGIT_RFC4733, 1200), 1);
    /* Another digit, or the same one long after, counts. */
    assert_int_equal(recd_rtp_digit_dedup(&d, '6', RECD_RTP_DIGIT_INBAND, 1300), 1);
    assert_int_equal(recd_rtp_digit_dedup(&d, '6', RECD_RTP_DIGIT_RFC4733, 1300 + RECD_RTP_DIGIT_DEDUP_MS),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_reorder),
        cmocka_unit_test(test_loss_fills_silence),
        cmocka_unit_test(test_expire),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_seq_and_ts_wrap),
        cmocka_unit_test(test_ssrc_change),
        cmocka_unit_test(test_far_jump_needs_confirmation),
        cmocka_unit_test(test_ts_jump_bounded_by_clock),
        cmocka_unit_test(test_events_share_sequence),
        cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_framer),
        cmocka_unit_test(test_dtmf_event),
        cmocka_unit_test(test_digit_dedup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
