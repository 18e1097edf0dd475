#include "voice/sip.h"

#include "core/error.h"

#include "unit.h"

/* The endpoint's pure decisions, without sockets: the same functions the INVITE path uses. */

#define HEAD "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"

static int offer(const char *sdp, struct recd_sip_sdp_choice *c)
{
    return recd_sip_sdp_offer((const uint8_t *)sdp, strlen(sdp), c);
}

static void test_first_g711_in_offer_order(void **state)
{
    (void)state;
    struct recd_sip_sdp_choice c;
    assert_int_equal(offer(HEAD "m=audio 7000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n", &c),
                     0);
    assert_int_equal(c.pt, 0);
    assert_int_equal(c.event_pt, 101);
    assert_int_equal(c.send, 1);
    assert_int_equal(c.hold, 0);
    assert_int_equal(offer(HEAD "m=audio 7000 RTP/AVP 96 8 0\r\na=rtpmap:96 telephone-event/8000\r\n", &c),
                     0);
    assert_int_equal(c.pt, 8);
    assert_int_equal(c.event_pt, 96);
    /* Without telephone-event the call still works; digits then come in-band only. */
    assert_int_equal(offer(HEAD "m=audio 7000 RTP/AVP 18 0\r\na=rtpmap:18 G729/8000\r\n", &c), 0);
    assert_int_equal(c.pt, 0);
    assert_int_equal(c.event_pt, -1);
}

static void test_directions(void **state)
{
    (void)state;
    struct recd_sip_sdp_choice c;
    assert_int_equal(offer(HEAD "m=audio 7000 RTP/AVP 0\r\na=sendonly\r\n", &c), 0);
    assert_int_equal(c.send, 0); /* the peer put us on hold: it sends, we do not */
    assert_int_equal(c.hold, 0);
    assert_int_equal(offer(HEAD "m=audio 7000 RTP/AVP 0\r\na=recvonly\r\n", &c), 0);
    assert_int_equal(c.send, 1);
    assert_int_equal(c.hold, 1);
    assert_int_equal(offer(HEAD "m=audio 7000 RTP/AVP 0\r\na=inactive\r\n", &c), 0);
    assert_int_equal(c.send, 0);
    assert_int_equal(c.hold, 1);
    /* RFC 2543 hold: c=0.0.0.0. */
    assert_int_equal(offer("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                           "m=audio 7000 RTP/AVP 0\r\n",
                           &c),
                     0);
    assert_int_equal(c.send, 0);
}

static void test_refused(void **state)
{
    (void)state;
    struct recd_sip_sdp_choice c;
    assert_int_equal(offer(HEAD "m=audio 7000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n", &c),
                     RECD_E_BAD_INPUT);
    assert_int_equal(offer(HEAD "m=audio 7000 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n", &c),
                     RECD_E_BAD_INPUT);
    assert_int_equal(offer(HEAD "m=audio 0 RTP/AVP 0\r\n", &c), RECD_E_BAD_INPUT);
    assert_int_equal(offer(HEAD "m=video 7000 RTP/AVP 0\r\n", &c), RECD_E_BAD_INPUT);
    assert_int_equal(offer(HEAD "m=audio 7000 RTP/SAVP 0\r\n", &c), RECD_E_BAD_INPUT);
    /* PCMU by name at another rate is not G.711. */
    assert_int_equal(offer(HEAD "m=audio 7000 RTP/AVP 97\r\na=rtpmap:97 PCMU/16000\r\n", &c),
                     RECD_E_BAD_INPUT);
    assert_int_equal(offer("", &c), RECD_E_BAD_INPUT);
    assert_int_equal(offer("garbage", &c), RECD_E_BAD_INPUT);
}

static void test_parsers(void **state)
{
    (void)state;
    struct recd_sip_cidr c;
    assert_int_equal(recd_sip_cidr_parse("10.1.2.0/24", &c), 0);
    assert_int_equal(c.family, 4);
    assert_int_equal(c.prefix, 24);
    assert_int_equal(recd_sip_cidr_parse("::1", &c), 0);
    assert_int_equal(c.family, 6);
    assert_int_equal(c.prefix, 128);
    assert_int_equal(recd_sip_cidr_parse("10.0.0.0/33", &c), RECD_E_BAD_INPUT);
    assert_int_equal(recd_sip_cidr_parse("10.0.0.0/", &c), RECD_E_BAD_INPUT);
    assert_int_equal(recd_sip_cidr_parse("example.com", &c), RECD_E_BAD_INPUT);
    uint16_t lo, hi;
    assert_int_equal(recd_sip_port_range_parse("16384-32767", &lo, &hi), 0);
    assert_int_equal(lo, 16384);
    assert_int_equal(hi, 32767);
    assert_int_equal(recd_sip_port_range_parse("2000-1000", &lo, &hi), RECD_E_BAD_INPUT);
    assert_int_equal(recd_sip_port_range_parse("100-2000", &lo, &hi), RECD_E_BAD_INPUT);
    assert_int_equal(recd_sip_port_range_parse("2000-70000", &lo, &hi), RECD_E_BAD_INPUT);
    assert_int_equal(recd_sip_port_range_parse("2000", &lo, &hi), RECD_E_BAD_INPUT);
}

static int number(const char *msg, char *out)
{
    memset(out, 'X', 64);
    return recd_sip_request_number((const uint8_t *)msg, strlen(msg), out, 64);
}

#define REST "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"

static void test_request_number(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(number("INVITE sip:5550100@h SIP/2.0\r\nTo: <sip:999@h>\r\n" REST "\r\n", out), 0);
    assert_string_equal(out, "5550100"); /* the Request-URI wins over To */
    assert_int_equal(
        number("INVITE sip:h:5060 SIP/2.0\r\nTo: \"B\" <sip:%2B15550100@h;user=phone>\r\n" REST "\r\n", out),
        0);
    assert_string_equal(out, "+15550100"); /* To when the Request-URI has no user; unescaped */
    assert_int_equal(number("INVITE sip:h SIP/2.0\r\nTo: <sip:h>\r\n" REST "\r\n", out), RECD_E_BAD_INPUT);
    assert_int_equal(number("SIP/2.0 200 OK\r\nTo: <sip:1@h>\r\n" REST "\r\n", out), RECD_E_BAD_INPUT);
    /* An escaped control character stays escaped: it is never decoded into the number. */
    assert_int_equal(number("INVITE sip:12%0a3@h SIP/2.0\r\nTo: <sip:1@h>\r\n" REST "\r\n", out), 0);
    assert_string_equal(out, "12%0a3");
    char lng[200];
    snprintf(lng, sizeof lng, "INVITE sip:%s@h SIP/2.0\r\nTo: <sip:1@h>\r\n" REST "\r\n",
             "1234567890123456789012345678901234567890123456789012345678901234");
    assert_int_equal(number(lng, out), RECD_E_BAD_INPUT); /* 64 characters do not fit in 64 bytes */
    assert_int_equal(number("", out), RECD_E_BAD_INPUT);
}

static struct recd_sip_timer timer(const char *hdrs, unsigned min_se)
{
    char msg[512];
    struct recd_sip_timer t;
    snprintf(msg, sizeof msg, "INVITE sip:1@h SIP/2.0\r\nTo: <sip:1@h>\r\n" REST "%s\r\n", hdrs);
    assert_int_equal(recd_sip_request_timer((const uint8_t *)msg, strlen(msg), min_se, &t), 0);
    return t;
}

/* RFC 4028 as the UAS: 9's table 2 for the refresher, 422 below Min-SE, 420 for other extensions. */
static void test_session_timer(void **state)
{
    (void)state;
    struct recd_sip_timer t = timer("", 0);
    assert_int_equal(t.status, 0);
    assert_int_equal(t.interval, 0); /* neither side asked: no timer */
    t = timer("Session-Expires: 1800;refresher=uac\r\nSupported: timer\r\n", 0);
    assert_int_equal(t.status, 0);
    assert_int_equal(t.interval, 1800);
    assert_int_equal(t.refresher_uas, 0);
    assert_string_equal(t.headers, "Session-Expires: 1800;refresher=uac\r\nRequire: timer\r\n");
    t = timer("x: 120;refresher=uas\r\nk: 100rel, timer\r\n", 0); /* compact forms; the caller asks us */
    assert_int_equal(t.interval, 120);
    assert_int_equal(t.refresher_uas, 1);
    t = timer("Session-Expires: 300\r\n", 0); /* a caller without timers cannot refresh: recd does */
    assert_int_equal(t.refresher_uas, 1);
    assert_string_equal(t.headers, "Session-Expires: 300;refresher=uas\r\n");
    t = timer("Supported: timer\r\nMin-SE: 4000\r\n", 0); /* none proposed: 1800, but not below Min-SE */
    assert_int_equal(t.interval, 4000);
    assert_int_equal(t.refresher_uas, 0);
    t = timer("Session-Expires: 60\r\nSupported: timer\r\n", 0);
    assert_int_equal(t.status, 422);
    assert_int_equal(t.min_se, 90);
    t = timer("Session-Expires: 60\r\nMin-SE: 70\r\n", 30); /* below the caller's own Min-SE */
    assert_int_equal(t.status, 422);
    assert_int_equal(t.min_se, 70);
    assert_int_equal(timer("Session-Expires: 3\r\n", 2).status, 0);
    assert_int_equal(timer("Session-Expires: soon\r\n", 0).status, 400);
    assert_int_equal(timer("Session-Expires: 99999999999\r\n", 0).status, 400);
    t = timer("Require: timer, 100rel\r\nSession-Expires: 90\r\n", 0);
    assert_int_equal(t.status, 420);
    assert_string_equal(t.headers, "Unsupported: 100rel\r\n");
    t = timer("Require: timer\r\nSession-Expires: 90\r\n", 0);
    assert_int_equal(t.status, 0);
    assert_string_equal(t.headers, "Session-Expires: 90;refresher=uac\r\nRequire: timer\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_g711_in_offer_order),
        cmocka_unit_test(test_directions),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_request_number),
        cmocka_unit_test(test_session_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
