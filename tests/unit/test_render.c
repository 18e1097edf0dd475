#include "api/resource.h"

#include "core/buf.h"
#include "core/time.h"
#include "store/store.h"

#include "unit.h"

#define AC       "AC0123456789abcdef0123456789abcdef"
#define RE       "RE557ce644e5ab84fa21cc21112e22c485"
#define TR       "TR8c61027b709ffb038236612dc5af8723"
#define CA       "CAfedcba9876543210fedcba9876543210"
#define CF       "CF00000000000000000000000000000000"
#define BASE     "http://127.0.0.1:8080"
#define REC_PATH "/2010-04-01/Accounts/" AC "/Recordings/" RE
#define TRN_PATH "/2010-04-01/Accounts/" AC "/Transcriptions/" TR

#define S(sec) ((int64_t)(sec)*RECD_US_PER_SEC)
#define JUL17  S(INT64_C(1247795569)) /* Fri, 17 Jul 2009 01:52:49 +0000 */
#define D17    "Fri, 17 Jul 2009 01:52:49 +0000"
#define D17b   "Fri, 17 Jul 2009 01:52:50 +0000"
#define D17c   "Fri, 17 Jul 2009 01:51:00 +0000"

static struct recd_buf b;

static int setup(void **state)
{
    (void)state;
    recd_buf_init(&b, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    recd_buf_free(&b);
    return 0;
}

/* ---- the buffer and its writers ------------------------------------------------------------- */

static void json(const char *in, size_t n, const char *want)
{
    recd_buf_reset(&b);
    recd_buf_json_str(&b, (struct recd_str){in, n});
    assert_buf(&b, want);
}

static void test_json_str(void **state)
{
    (void)state;
    json(LIT(""), "\"\"");
    json(LIT("plain text"), "\"plain text\"");
    json(LIT("say \"hi\""), "\"say \\\"hi\\\"\"");
    json(LIT("C:\\path\\"), "\"C:\\\\path\\\\\"");
    json(LIT("a\nb\rc\td"), "\"a\\nb\\rc\\td\"");
    json(LIT("a/b"), "\"a/b\""); /* '/' needs no escape */
    json(LIT("\b\f"), "\"\\u0008\\u000c\"");
    json("\0", 1, "\"\\u0000\"");
    json(LIT("\x01\x1f\x1b"), "\"\\u0001\\u001f\\u001b\"");
    json(LIT("\x7f"), "\"\\u007f\"");
    json(LIT(" ~"), "\" ~\""); /* 0x20 and 0x7e are printable */
    /* UTF-8 passes through byte for byte: é, €, U+1F600. */
    json(LIT("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* Every control character, in one string: the worst case for the buffer's reservation. */
    char all[32];
    for (int i = 0; i < 32; i++)
        all[i] = (char)i;
    recd_buf_reset(&b);
    recd_buf_json_str(&b, (struct recd_str){all, 32});
    assert_int_equal(b.len, 2 + 6 * 32 - 3 * 4); /* \t \n \r are two bytes each */
    assert_memory_equal(b.p, "\"\\u0000\\u0001", 13);
    assert_memory_equal(b.p + b.len - 7, "\\u001f\"", 7);
    /* Appends to what is there. */
    recd_buf_reset(&b);
    recd_buf_adds(&b, "x=");
    recd_buf_json_str(&b, recd_str_c("<&>"));
    assert_buf(&b, "x=\"<&>\"");
}

static void xml(const char *in, size_t n, const char *want)
{
    recd_buf_reset(&b);
    recd_buf_xml_text(&b, (struct recd_str){in, n});
    assert_buf(&b, want);
}

static void test_xml_text(void **state)
{
    (void)state;
    xml(LIT(""), "");
    xml(LIT("plain"), "plain");
    xml(LIT("a & b < c > d \" e ' f"), "a &amp; b &lt; c &gt; d &quot; e &apos; f");
    xml(LIT("&amp;"), "&amp;amp;"); /* never decoded, always escaped */
    xml(LIT("<![CDATA[x]]>"), "&lt;![CDATA[x]]&gt;");
    xml(LIT("a\tb\nc\rd"), "a\tb\nc\rd"); /* the whitespace XML allows stays */
    /* Control characters XML 1.0 cannot carry are dropped, NUL included. */
    xml(LIT("a\x01"
            "b\x08"
            "c\x0b"
            "d\x0c"
            "e\x1f"
            "f\x1b"
            "g"),
        "abcdefg");
    xml("a\0b", 3, "ab");
    xml(LIT("\x7f"), "\x7f");
    xml(LIT("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* The worst case: every byte grows to six. */
    char q[200];
    memset(q, '"', sizeof q);
    recd_buf_reset(&b);
    recd_buf_xml_text(&b, (struct recd_str){q, sizeof q});
    assert_int_equal(b.len, 6 * sizeof q);
    assert_memory_equal(b.p + b.len - 6, "&quot;", 6);
}

static void addi(int64_t v, const char *want)
{
    recd_buf_reset(&b);
    recd_buf_addi(&b, v);
    assert_buf(&b, want);
}

static void test_addi(void **state)
{
    (void)state;
    addi(0, "0");
    addi(7, "7");
    addi(-1, "-1");
    addi(10, "10");
    addi(-10, "-10");
    addi(1234567890, "1234567890");
    addi(INT32_MAX, "2147483647");
    addi(INT32_MIN, "-2147483648");
    addi(INT64_MAX, "9223372036854775807");
    addi(INT64_MIN, "-9223372036854775808");
    addi(INT64_MIN + 1, "-9223372036854775807");
}

static void url(const char *in, size_t n, const char *want)
{
    recd_buf_reset(&b);
    recd_buf_url_enc(&b, (struct recd_str){in, n});
    assert_buf(&b, want);
}

static void test_url_enc(void **state)
{
    (void)state;
    url(LIT(""), "");
    url(LIT("ABCXYZabcxyz0189-_.~"), "ABCXYZabcxyz0189-_.~"); /* unreserved: kept */
    url(LIT("DateCreated<"), "DateCreated%3C");
    url(LIT("DateCreated>"), "DateCreated%3E");
    url(LIT("a b+c"), "a%20b%2Bc");
    url(LIT("2009-07-06T00:00:00+02:00"), "2009-07-06T00%3A00%3A00%2B02%3A00");
    url(LIT("%&=?#/"), "%25%26%3D%3F%23%2F");
    url(LIT("\xc3\xa9"), "%C3%A9");
    url("\0\xff", 2, "%00%FF");
    url(LIT("\"'<>\\"), "%22%27%3C%3E%5C");
}

static void test_buf_basics(void **state)
{
    (void)state;
    struct recd_buf t;
    recd_buf_init(&t, 0);
    assert_null(t.p);
    assert_int_equal(t.len, 0);
    recd_buf_add(&t, "", 0);
    assert_buf(&t, ""); /* NUL-terminated after the first append, even an empty one */
    recd_buf_addc(&t, 'a');
    recd_buf_adds(&t, "bc");
    recd_buf_addstr(&t, RECD_STR("de"));
    recd_buf_printf(&t, "%d-%s", 42, "x");
    assert_buf(&t, "abcde42-x");
    /* Growth far past the first allocation keeps every byte. */
    for (int i = 0; i < 100000; i++)
        recd_buf_addc(&t, (char)('0' + i % 10));
    assert_int_equal(t.len, 9 + 100000);
    assert_true(t.cap > t.len);
    assert_int_equal(t.p[9 + 99999], '9');
    assert_int_equal(t.p[t.len], '\0');
    recd_buf_reset(&t);
    assert_buf(&t, "");
    size_t n = 99;
    recd_buf_adds(&t, "kept");
    char *p = recd_buf_steal(&t, &n);
    assert_string_equal(p, "kept");
    assert_int_equal(n, 4);
    assert_null(t.p);
    assert_int_equal(t.len, 0);
    free(p);
    recd_buf_free(&t);

    assert_true(recd_str_eq(RECD_STR("abc"), "abc"));
    assert_false(recd_str_eq(RECD_STR("abc"), "ab"));
    assert_false(recd_str_eq(RECD_STR("ab"), "abc"));
    assert_true(recd_str_eq(RECD_STR(""), ""));
    struct recd_str s = recd_str_c(NULL);
    assert_int_equal(s.n, 0);
    s = recd_str_c("four");
    assert_int_equal(s.n, 4);
}

/*
 * BUG (src/core/buf.c, recd_buf_printf): buf.h promises the buffer is "always NUL-terminated
 * after the first append, so `p` can be handed to C APIs", but a printf that formats to ""
 * returns before reserving, leaving `p` NULL on a fresh buffer (recd_buf_add of 0 bytes does
 * allocate). Fix: call recd_buf_reserve(b, 0) (or handle n == 0 like add) before returning.
 */
static void test_buf_printf_empty(void **state)
{
    (void)state;
    struct recd_buf t;
    recd_buf_init(&t, 0);
    const char *empty = "";
    recd_buf_printf(&t, "%s", empty);
    assert_non_null(t.p);
    assert_buf(&t, "");
    recd_buf_free(&t);
}

/* ---- recordings ----------------------------------------------------------------------------- */

static struct recd_recording rec;
static const struct recd_render_ctx rc = {BASE};

static void make_recording(void)
{
    memset(&rec, 0, sizeof rec);
    strcpy(rec.sid, RE);
    strcpy(rec.account_sid, AC);
    strcpy(rec.call_sid, CA);
    rec.created_us = JUL17 + 999999; /* sub-second: floored */
    rec.updated_us = JUL17 + S(1);
    rec.duration_ms = 1499; /* 1.499 s rounds to 1 */
    rec.media_size = 12345;
    rec.channels = 1;
    rec.sample_rate = 8000;
    strcpy(rec.status, "completed");
    strcpy(rec.source, "RecordVerb");
    strcpy(rec.media_sha256, "00");
}

#define REC_JSON_HEAD "{\"account_sid\":\"" AC "\",\"api_version\":\"2010-04-01\","
#define REC_JSON_TAIL                                                                                        \
    "\"uri\":\"" REC_PATH ".json\",\"encryption_details\":null,"                                             \
    "\"subresource_uris\":{\"add_on_results\":\"" REC_PATH "/AddOnResults.json\","                           \
    "\"transcriptions\":\"" REC_PATH "/Transcriptions.json\"},"                                              \
    "\"media_url\":\"" BASE REC_PATH "\"}"

static void render_json(const struct recd_resource *res, const void *r, const char *want)
{
    recd_buf_reset(&b);
    recd_render_json(&b, res, r, &rc);
    assert_buf(&b, want);
}

static void render_xml(const struct recd_resource *res, const void *r, const char *want)
{
    recd_buf_reset(&b);
    recd_render_xml(&b, res, r, &rc);
    assert_buf(&b, want);
}

static void test_recording_json(void **state)
{
    (void)state;
    make_recording();
    render_json(&recd_res_recording, &rec,
                REC_JSON_HEAD "\"call_sid\":\"" CA "\",\"conference_sid\":null,"
                              "\"date_created\":\"" D17 "\",\"date_updated\":\"" D17b
                              "\",\"start_time\":null,"
                              "\"duration\":\"1\",\"sid\":\"" RE "\",\"price\":null,\"price_unit\":\"USD\","
                              "\"status\":\"completed\",\"channels\":1,\"source\":\"RecordVerb\","
                              "\"error_code\":null," REC_JSON_TAIL);
}

static void test_recording_json_all_set(void **state)
{
    (void)state;
    make_recording();
    rec.call_sid[0] = '\0';
    strcpy(rec.conference_sid, CF);
    rec.start_us = JUL17 - S(109);
    rec.duration_ms = 1500; /* 1.5 s rounds to 2 */
    rec.channels = 2;
    rec.error_code = 13227;
    strcpy(rec.status, "deleted");
    strcpy(rec.source, "StartConferenceRecordingAPI");
    render_json(&recd_res_recording, &rec,
                REC_JSON_HEAD
                "\"call_sid\":null,\"conference_sid\":\"" CF "\","
                "\"date_created\":\"" D17 "\",\"date_updated\":\"" D17b "\","
                "\"start_time\":\"" D17c "\",\"duration\":\"2\",\"sid\":\"" RE "\",\"price\":null,"
                "\"price_unit\":\"USD\",\"status\":\"deleted\",\"channels\":2,"
                "\"source\":\"StartConferenceRecordingAPI\",\"error_code\":13227," REC_JSON_TAIL);
}

static void test_duration_rounding(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *s;
    } v[] = {{0, "0"},    {499, "0"},  {500, "1"},        {1499, "1"},      {1500, "2"},
             {1999, "2"}, {2000, "2"}, {3600499, "3600"}, {3600500, "3601"}};
    make_recording();
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        rec.duration_ms = v[i].ms;
        char want[64];
        recd_buf_reset(&b);
        recd_render_json(&b, &recd_res_recording, &rec, &rc);
        snprintf(want, sizeof want, "\"duration\":\"%s\",", v[i].s);
        assert_non_null(strstr(b.p, want));
        recd_buf_reset(&b);
        recd_render_xml(&b, &recd_res_recording, &rec, &rc);
        snprintf(want, sizeof want, "<Duration>%s</Duration>", v[i].s);
        assert_non_null(strstr(b.p, want));
    }
}

#define REC_XML_TAIL                                                                                         \
    "<MediaUrl>" BASE REC_PATH "</MediaUrl>"                                                                 \
    "<SubresourceUris><Transcriptions>" REC_PATH "/Transcriptions.json</Transcriptions>"                     \
    "<AddOnResults>" REC_PATH "/AddOnResults.json</AddOnResults></SubresourceUris>"                          \
    "<EncryptionDetails/></Recording>"

static void test_recording_xml(void **state)
{
    (void)state;
    make_recording();
    render_xml(&recd_res_recording, &rec,
               "<Recording><Sid>" RE "</Sid><AccountSid>" AC "</AccountSid><CallSid>" CA "</CallSid>"
               "<Duration>1</Duration><DateCreated>" D17 "</DateCreated><ApiVersion>2010-04-01</ApiVersion>"
               "<DateUpdated>" D17b "</DateUpdated><Uri>" REC_PATH ".xml</Uri><ConferenceSid/><StartTime/>"
               "<Price/><PriceUnit>USD</PriceUnit><Status>completed</Status><Channels>1</Channels>"
               "<Source>RecordVerb</Source><ErrorCode/>" REC_XML_TAIL);

    rec.call_sid[0] = '\0';
    strcpy(rec.conference_sid, CF);
    rec.start_us = JUL17 - S(109);
    rec.duration_ms = 1500;
    rec.channels = 2;
    rec.error_code = 13227;
    render_xml(&recd_res_recording, &rec,
               "<Recording><Sid>" RE "</Sid><AccountSid>" AC "</AccountSid><CallSid/>"
               "<Duration>2</Duration><DateCreated>" D17 "</DateCreated><ApiVersion>2010-04-01</ApiVersion>"
               "<DateUpdated>" D17b "</DateUpdated><Uri>" REC_PATH ".xml</Uri><ConferenceSid>" CF
               "</ConferenceSid>"
               "<StartTime>" D17c "</StartTime><Price/><PriceUnit>USD</PriceUnit><Status>completed</Status>"
               "<Channels>2</Channels><Source>RecordVerb</Source><ErrorCode>13227</ErrorCode>" REC_XML_TAIL);
}

/* Stored strings are escaped in both representations. */
static void test_recording_escaping(void **state)
{
    (void)state;
    make_recording();
    strcpy(rec.source, "a\"b<c>&'\\");
    recd_buf_reset(&b);
    recd_render_json(&b, &recd_res_recording, &rec, &rc);
    assert_non_null(strstr(b.p, ",\"source\":\"a\\\"b<c>&'\\\\\","));
    recd_buf_reset(&b);
    recd_render_xml(&b, &recd_res_recording, &rec, &rc);
    assert_non_null(strstr(b.p, "<Source>a&quot;b&lt;c&gt;&amp;&apos;\\</Source>"));
}

/*
 * BUG (src/api/resource.c, json_value, case RECD_F_MEDIA): the base URL is appended raw into a
 * JSON string, while the XML renderer escapes it. `recd serve` refuses '"' and '\\' in
 * --base-url, but not control characters, and `recd import` takes RECD_BASE_URL from the
 * environment unchecked (src/cli/cli.c, base_url()), so a quote, backslash or newline there
 * yields invalid JSON. Fix: emit the whole media URL through recd_buf_json_str (e.g. build base
 * + path in a scratch buffer first).
 */
static void test_media_url_escaped(void **state)
{
    (void)state;
    make_recording();
    const struct recd_render_ctx odd = {"http://h/a\"b\\c\n"};
    recd_buf_reset(&b);
    recd_render_json(&b, &recd_res_recording, &rec, &odd);
    assert_non_null(strstr(b.p, ",\"media_url\":\"http://h/a\\\"b\\\\c\\n" REC_PATH "\"}"));
    recd_buf_reset(&b);
    recd_render_xml(&b, &recd_res_recording, &rec, &odd);
    assert_non_null(strstr(b.p, "<MediaUrl>http://h/a&quot;b\\c\n" REC_PATH "</MediaUrl>"));
}

/* The renderers append; they never clear what the caller wrote first. */
static void test_render_appends(void **state)
{
    (void)state;
    make_recording();
    recd_buf_reset(&b);
    recd_buf_adds(&b, "[");
    recd_render_json(&b, &recd_res_recording, &rec, &rc);
    recd_buf_adds(&b, ",");
    recd_render_json(&b, &recd_res_recording, &rec, &rc);
    recd_buf_adds(&b, "]");
    assert_memory_equal(b.p, "[{\"account_sid\":", 16);
    assert_memory_equal(b.p + b.len - 3, "\"}]", 3);
    size_t one = (b.len - 3) / 2;
    assert_memory_equal(b.p + 1, b.p + 2 + one, one);
}

/* ---- transcriptions ------------------------------------------------------------------------- */

static struct recd_transcription trn;
static char trn_text[RECD_TEXT_MAX + 1]; /* what trn.text points into */

static void make_transcription(const char *text, size_t n)
{
    memset(&trn, 0, sizeof trn);
    strcpy(trn.sid, TR);
    strcpy(trn.account_sid, AC);
    strcpy(trn.recording_sid, RE);
    trn.created_us = JUL17;
    trn.updated_us = JUL17 + S(1) + 1;
    trn.duration_ms = 1500;
    strcpy(trn.status, "completed");
    strcpy(trn.type, "fast");
    if (text) {
        memcpy(trn_text, text, n);
        trn.text = trn_text;
        trn.text_len = n;
    } else {
        trn.text_null = 1;
    }
}

#define TRN_JSON(text)                                                                                       \
    "{\"account_sid\":\"" AC "\",\"api_version\":\"2010-04-01\",\"date_created\":\"" D17 "\","               \
    "\"date_updated\":\"" D17b "\",\"duration\":\"2\",\"price\":null,\"price_unit\":\"USD\","                \
    "\"recording_sid\":\"" RE "\",\"sid\":\"" TR "\",\"status\":\"completed\","                              \
    "\"transcription_text\":" text ",\"type\":\"fast\",\"uri\":\"" TRN_PATH ".json\"}"

#define TRN_XML(text)                                                                                        \
    "<Transcription><Sid>" TR "</Sid><DateCreated>" D17 "</DateCreated><DateUpdated>" D17b                   \
    "</DateUpdated><AccountSid>" AC "</AccountSid><Status>completed</Status><Type>fast</Type>"               \
    "<RecordingSid>" RE "</RecordingSid><Duration>2</Duration>" text "<Price/>"                              \
    "<PriceUnit>USD</PriceUnit><ApiVersion>2010-04-01</ApiVersion><Uri>" TRN_PATH ".xml</Uri>"               \
    "</Transcription>"

static void test_transcription(void **state)
{
    (void)state;
    make_transcription(LIT("He said \"hi\"\nthen <left> & 'went'\t\\ \x01."));
    render_json(&recd_res_transcription, &trn,
                TRN_JSON("\"He said \\\"hi\\\"\\nthen <left> & 'went'\\t\\\\ \\u0001.\""));
    render_xml(
        &recd_res_transcription, &trn,
        TRN_XML("<TranscriptionText>He said &quot;hi&quot;\nthen &lt;left&gt; &amp; &apos;went&apos;\t\\ ."
                "</TranscriptionText>"));
}

static void test_transcription_null_and_empty(void **state)
{
    (void)state;
    make_transcription(NULL, 0);
    render_json(&recd_res_transcription, &trn, TRN_JSON("null"));
    render_xml(&recd_res_transcription, &trn, TRN_XML("<TranscriptionText/>"));
    make_transcription(LIT(""));
    render_json(&recd_res_transcription, &trn, TRN_JSON("\"\""));
    render_xml(&recd_res_transcription, &trn, TRN_XML("<TranscriptionText/>"));
}

/* The text is bytes with a length: an embedded NUL does not cut it. */
static void test_transcription_length(void **state)
{
    (void)state;
    make_transcription("ab\0cd", 5);
    render_json(&recd_res_transcription, &trn, TRN_JSON("\"ab\\u0000cd\""));
    render_xml(&recd_res_transcription, &trn, TRN_XML("<TranscriptionText>abcd</TranscriptionText>"));
    /* Only text_len bytes are read. */
    make_transcription(LIT("hello world"));
    trn.text_len = 5;
    render_json(&recd_res_transcription, &trn, TRN_JSON("\"hello\""));
    /* The longest text the store holds renders whole. */
    memset(&trn, 0, sizeof trn);
    make_transcription(LIT("x"));
    memset(trn_text, '<', RECD_TEXT_MAX);
    trn.text_len = RECD_TEXT_MAX;
    recd_buf_reset(&b);
    recd_render_xml(&b, &recd_res_transcription, &trn, &rc);
    assert_non_null(strstr(b.p, "<TranscriptionText>&lt;&lt;"));
    assert_non_null(strstr(b.p, "&lt;&lt;</TranscriptionText>"));
    assert_int_equal(b.len, strlen(TRN_XML("<TranscriptionText></TranscriptionText>")) + 4 * RECD_TEXT_MAX);
}

static void test_resource_tables(void **state)
{
    (void)state;
    assert_string_equal(recd_res_recording.xml_elem, "Recording");
    assert_string_equal(recd_res_transcription.xml_elem, "Transcription");
    /* Every field appears once in the XML order. */
    const struct recd_resource *res[] = {&recd_res_recording, &recd_res_transcription};
    for (size_t k = 0; k < 2; k++) {
        assert_int_equal(res[k]->nxml, res[k]->nfields);
        unsigned char seen[64] = {0};
        for (size_t i = 0; i < res[k]->nxml; i++) {
            assert_true(res[k]->xml_order[i] < res[k]->nfields);
            assert_int_equal(seen[res[k]->xml_order[i]]++, 0);
        }
    }
    assert_int_equal(recd_res_recording.nfields, 19);
    assert_int_equal(recd_res_transcription.nfields, 13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_str, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xml_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_addi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_enc, setup, teardown),
        cmocka_unit_test(test_buf_basics),
        cmocka_unit_test(test_buf_printf_empty),
        cmocka_unit_test_setup_teardown(test_recording_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recording_json_all_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duration_rounding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recording_xml, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recording_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_media_url_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transcription, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transcription_null_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transcription_length, setup, teardown),
        cmocka_unit_test(test_resource_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
