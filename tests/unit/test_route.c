#include "api/route.h"

#include "core/error.h"

#include "unit.h"

#define AC "AC0123456789abcdef0123456789abcdef"
#define RE "RE557ce644e5ab84fa21cc21112e22c485"
#define TR "TR8c61027b709ffb038236612dc5af8723"
#define CA "CAfedcba9876543210fedcba9876543210"
#define CF "CF00000000000000000000000000000000"
#define P  "/2010-04-01/Accounts/" AC

/* The representations and which resources have them (contract §1). */
enum { X_NONE, X_JSON, X_XML, X_WAV, X_MP3, X_TXT, NX };
static const char *ext_str[NX] = {"", ".json", ".xml", ".wav", ".mp3", ".txt"};
static const enum recd_ext ext_val[NX] = {RECD_EXT_NONE, RECD_EXT_JSON, RECD_EXT_XML,
                                          RECD_EXT_WAV,  RECD_EXT_MP3,  RECD_EXT_TXT};
#define EXT_LIST ((1u << X_NONE) | (1u << X_JSON) | (1u << X_XML))
#define EXT_REC  (EXT_LIST | (1u << X_WAV) | (1u << X_MP3))
#define EXT_TRN  (EXT_LIST | (1u << X_TXT))

struct rcase {
    const char *path; /* without extension */
    enum recd_route_kind kind;
    unsigned exts;
    int is_list, is_rec;
    const char *call, *conf, *rec, *trn;
};

static const struct rcase cases[] = {
    {P "/Recordings", RECD_R_RECORDINGS, EXT_LIST, 1, 0, "", "", "", ""},
    {P "/Recordings/" RE, RECD_R_RECORDING, EXT_REC, 0, 1, "", "", RE, ""},
    {P "/Recordings/" RE "/Transcriptions", RECD_R_REC_TRANSCRIPTIONS, EXT_LIST, 1, 0, "", "", RE, ""},
    {P "/Recordings/" RE "/Transcriptions/" TR, RECD_R_REC_TRANSCRIPTION, EXT_TRN, 0, 0, "", "", RE, TR},
    {P "/Recordings/" RE "/AddOnResults", RECD_R_REC_ADDONS, EXT_LIST, 1, 0, "", "", RE, ""},
    {P "/Calls/" CA "/Recordings", RECD_R_CALL_RECORDINGS, EXT_LIST, 1, 0, CA, "", "", ""},
    {P "/Calls/" CA "/Recordings/" RE, RECD_R_CALL_RECORDING, EXT_REC, 0, 1, CA, "", RE, ""},
    {P "/Conferences/" CF "/Recordings", RECD_R_CONF_RECORDINGS, EXT_LIST, 1, 0, "", CF, "", ""},
    {P "/Conferences/" CF "/Recordings/" RE, RECD_R_CONF_RECORDING, EXT_REC, 0, 1, "", CF, RE, ""},
    {P "/Transcriptions", RECD_R_TRANSCRIPTIONS, EXT_LIST, 1, 0, "", "", "", ""},
    {P "/Transcriptions/" TR, RECD_R_TRANSCRIPTION, EXT_TRN, 0, 0, "", "", "", TR},
    {P "/Calls", RECD_R_CALLS, EXT_LIST, 1, 0, "", "", "", ""},
    {P "/Calls/" CA, RECD_R_CALL, EXT_LIST, 0, 0, CA, "", "", ""},
};

static int match(const char *path, struct recd_route *r)
{
    memset(r, 0x5A, sizeof *r); /* the matcher must set every field itself */
    return recd_route_match(path, strlen(path), r);
}

static void not_found(const char *path)
{
    struct recd_route r;
    int rc = match(path, &r);
    if (rc != RECD_E_NOT_FOUND)
        print_error("route_match(\"%s\") = %d, want NOT_FOUND\n", path, rc);
    assert_int_equal(rc, RECD_E_NOT_FOUND);
}

/* Every path of contract §1 with every representation: the allowed ones match, the rest 404. */
static void test_every_path_every_ext(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct rcase *c = &cases[i];
        for (int x = 0; x < NX; x++) {
            char path[300];
            snprintf(path, sizeof path, "%s%s", c->path, ext_str[x]);
            struct recd_route r;
            int rc = match(path, &r);
            if (!(c->exts & (1u << x))) {
                if (rc != RECD_E_NOT_FOUND)
                    print_error("route_match(\"%s\") = %d, want NOT_FOUND\n", path, rc);
                assert_int_equal(rc, RECD_E_NOT_FOUND);
                continue;
            }
            if (rc != 0)
                print_error("route_match(\"%s\") = %d\n", path, rc);
            assert_int_equal(rc, 0);
            assert_int_equal(r.kind, c->kind);
            assert_int_equal(r.ext, ext_val[x]);
            assert_int_equal(r.is_list, c->is_list);
            assert_int_equal(r.is_recording_instance, c->is_rec);
            assert_string_equal(r.account_sid, AC);
            assert_string_equal(r.call_sid, c->call);
            assert_string_equal(r.conference_sid, c->conf);
            assert_string_equal(r.recording_sid, c->rec);
            assert_string_equal(r.transcription_sid, c->trn);
            /* base is the path without extension, pointing into the input. */
            assert_ptr_equal(r.base.p, path);
            assert_bytes(r.base.p, r.base.n, c->path);
        }
    }
}

static void test_spot_checks(void **state)
{
    (void)state;
    struct recd_route r;
    /* The seed's own example. */
    assert_int_equal(match(P "/Recordings/" RE ".mp3", &r), 0);
    assert_int_equal(r.kind, RECD_R_RECORDING);
    assert_int_equal(r.ext, RECD_EXT_MP3);
    assert_bytes(r.base.p, r.base.n, P "/Recordings/" RE);
    assert_int_equal(match(P "/Transcriptions/" TR ".txt", &r), 0);
    assert_int_equal(r.kind, RECD_R_TRANSCRIPTION);
    assert_int_equal(r.ext, RECD_EXT_TXT);
    assert_int_equal(r.is_list, 0);
    /* The length given is what counts, not the NUL: a longer buffer cut to the path. */
    const char *longer = P "/Recordings.json/extra";
    assert_int_equal(recd_route_match(longer, strlen(P "/Recordings.json"), &r), 0);
    assert_int_equal(r.kind, RECD_R_RECORDINGS);
    assert_int_equal(r.ext, RECD_EXT_JSON);
    assert_int_equal(recd_route_match(P "/Recordings/" RE, strlen(P "/Recordings/" RE) - 1, &r),
                     RECD_E_NOT_FOUND);
    /* Outside the API (another version, no prefix at all) a path is not found, but its extension
     * is still read, so that the 404 comes in the format asked for. */
    assert_int_equal(match("/2008-08-01/Accounts/" AC "/Recordings/" RE ".json", &r), RECD_E_NOT_FOUND);
    assert_int_equal(r.ext, RECD_EXT_JSON);
    assert_int_equal(match("/x.json", &r), RECD_E_NOT_FOUND);
    assert_int_equal(r.ext, RECD_EXT_JSON);
}

static void test_bad_extensions(void **state)
{
    (void)state;
    /* Unknown or mis-spelled extensions. */
    not_found(P "/Recordings.csv");
    not_found(P "/Recordings.JSON");
    not_found(P "/Recordings.Json");
    not_found(P "/Recordings.");
    not_found(P "/Recordings.js");
    not_found(P "/Recordings.jsonx");
    not_found(P "/Recordings.json.json");
    not_found(P "/Recordings.xml.json");
    not_found(P "/Recordings/" RE ".wave");
    not_found(P "/Recordings/" RE ".MP3");
    not_found(P "/Recordings/" RE ".mp3.wav");
    not_found(P "/Recordings/" RE ".flac");
    not_found(P "/Recordings/" RE ".");
    not_found(P "/Recordings/.json");
    not_found(P "/.json");
    /* Not allowed for that resource: media on lists, text on recordings, media on transcriptions. */
    not_found(P "/Recordings.wav");
    not_found(P "/Recordings.mp3");
    not_found(P "/Recordings.txt");
    not_found(P "/Calls/" CA "/Recordings.wav");
    not_found(P "/Transcriptions.txt");
    not_found(P "/Recordings/" RE ".txt");
    not_found(P "/Calls/" CA "/Recordings/" RE ".txt");
    not_found(P "/Recordings/" RE "/Transcriptions/" TR ".mp3");
    not_found(P "/Transcriptions/" TR ".mp3");
    not_found(P "/Transcriptions/" TR ".wav");
    not_found(P "/Recordings/" RE "/AddOnResults.mp3");
    /* An extension only belongs to the last segment. */
    not_found(P "/Recordings/" RE ".json/Transcriptions");
    not_found("/2010-04-01/Accounts/" AC ".json/Recordings");
}

static void test_bad_sids(void **state)
{
    (void)state;
    static const char *bad_re[] = {
        "TR557ce644e5ab84fa21cc21112e22c485", /* wrong prefix */
        "re557ce644e5ab84fa21cc21112e22c485",
        "RE557CE644E5AB84FA21CC21112E22C485", /* uppercase hex: paths match byte for byte */
        "RE557ce644e5ab84fa21cc21112e22c48F",
        "RE557ce644e5ab84fa21cc21112e22c48",   /* 33 characters */
        "RE557ce644e5ab84fa21cc21112e22c4850", /* 35 characters */
        "RE557ce644e5ab84fa21cc21112e22c48g",
        "RE",
    };
    for (size_t i = 0; i < sizeof bad_re / sizeof bad_re[0]; i++) {
        char path[300];
        const char *fmt[] = {P "/Recordings/%s",
                             P "/Recordings/%s.json",
                             P "/Recordings/%s/Transcriptions",
                             P "/Calls/" CA "/Recordings/%s.mp3",
                             P "/Conferences/" CF "/Recordings/%s",
                             P "/Recordings/%s/Transcriptions/" TR,
                             P "/Recordings/%s/AddOnResults.json"};
        for (size_t f = 0; f < sizeof fmt / sizeof fmt[0]; f++) {
            snprintf(path, sizeof path, fmt[f], bad_re[i]);
            not_found(path);
        }
    }
    /* Each sid position with the wrong prefix, uppercase, or the wrong length. */
    not_found("/2010-04-01/Accounts/RE0123456789abcdef0123456789abcdef/Recordings");
    not_found("/2010-04-01/Accounts/AC0123456789ABCDEF0123456789ABCDEF/Recordings");
    not_found("/2010-04-01/Accounts/AC0123456789abcdef0123456789abcde/Recordings");
    not_found("/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef0/Recordings");
    not_found(P "/Calls/CF00000000000000000000000000000000/Recordings");
    not_found(P "/Calls/CAFEDCBA9876543210FEDCBA9876543210/Recordings");
    not_found(P "/Calls/CAfedcba9876543210fedcba987654321/Recordings.json");
    not_found(P "/Conferences/" CA "/Recordings");
    not_found(P "/Conferences/CF0000000000000000000000000000000/Recordings");
    not_found(P "/Transcriptions/" RE);
    not_found(P "/Transcriptions/TR8C61027B709FFB038236612DC5AF8723");
    not_found(P "/Transcriptions/TR8c61027b709ffb038236612dc5af872");
    not_found(P "/Transcriptions/TR8c61027b709ffb038236612dc5af87230.json");
    not_found(P "/Recordings/" RE "/Transcriptions/" RE);
    not_found(P "/Recordings/" TR);
    not_found(P "/Calls/" CA "/Recordings/" TR);
}

static void test_bad_shapes(void **state)
{
    (void)state;
    /* Trailing slashes. */
    not_found(P "/Recordings/");
    not_found(P "/Recordings.json/");
    not_found(P "/Recordings/" RE "/");
    not_found(P "/");
    not_found("/2010-04-01/Accounts/");
    /* Double slashes. */
    not_found("/2010-04-01/Accounts/" AC "//Recordings");
    not_found(P "/Recordings//" RE);
    not_found("//2010-04-01/Accounts/" AC "/Recordings");
    not_found("/2010-04-01//Accounts/" AC "/Recordings");
    not_found("/2010-04-01/Accounts//" AC "/Recordings");
    /* Extra or missing segments. */
    not_found(P);
    not_found(P ".json");
    not_found(P "/Recordings/" RE "/Transcriptions/" TR "/extra");
    not_found(P "/Recordings/" RE "/extra");
    not_found(P "/Recordings/" RE "/AddOnResults/extra");
    not_found(P "/Recordings/" RE "/AddOnResults/XR00000000000000000000000000000000");
    not_found(P "/Calls/" CA "/Recordings/" RE "/Transcriptions");
    not_found(P "/Calls/" CA "/extra");
    not_found(P "/Calls/" RE);
    not_found(P "/Calls/" CA "/Recordings/" RE "/extra");
    not_found(P "/Conferences/" CF);
    not_found(P "/Transcriptions/" TR "/extra");
    not_found(P "/Calls/");
    not_found(P "/Calls/" CA "/Transcriptions");
    not_found(P "/Recordings/" RE "/Transcriptions/" TR "/a/b/c/d");
    not_found(P "/Recordings/" RE "/Transcriptions/" TR "/a/b/c/d/e/f/g/h/i/j");
    /* Unknown collections and wrong case. */
    not_found(P "/recordings");
    not_found(P "/RECORDINGS.json");
    not_found(P "/Recording");
    not_found(P "/Recordingss");
    not_found(P "/Calls/" CA "/recordings");
    not_found(P "/Recordings/" RE "/transcriptions");
    not_found(P "/Recordings/" RE "/AddonResults");
    not_found(P "/Messages");
    /* Wrong API version, or prefix. */
    not_found("/2008-08-01/Accounts/" AC "/Recordings");
    not_found("/2010-04-02/Accounts/" AC "/Recordings.json");
    not_found("/2010-04-01/accounts/" AC "/Recordings");
    not_found("/2010-04-01/Account/" AC "/Recordings");
    not_found("2010-04-01/Accounts/" AC "/Recordings");
    not_found("/v1/Accounts/" AC "/Recordings");
    not_found("/Accounts/" AC "/Recordings");
    not_found("/api/2010-04-01/Accounts/" AC "/Recordings");
    not_found("");
    not_found("/");
    /* Percent-encoded segments are not ours: no sid or keyword needs escaping. */
    not_found(P "/%52ecordings");
    not_found(P "/Recordings%2F" RE);
    not_found(P "/Recordings/" RE "%2Ejson");
    not_found(P "/Recordings/RE%35%35%37ce644e5ab84fa21cc21112e22c485");
    not_found("/2010-04-01/Accounts/AC%30123456789abcdef0123456789abcdef/Recordings");
    not_found("%2F2010-04-01/Accounts/" AC "/Recordings");
    /* A query or fragment is not part of the path. */
    not_found(P "/Recordings.json?PageSize=1");
    not_found(P "/Recordings?PageSize=1");
    not_found(P "/Recordings#x");
    /* Dot segments. */
    not_found(P "/Recordings/../Recordings");
    not_found(P "/./Recordings");
}

/* A 404 still says which representation was asked for, so the error body can be JSON. */
static void test_ext_on_failure(void **state)
{
    (void)state;
    struct recd_route r;
    assert_int_equal(match(P "/Recordings/RE00.json", &r), RECD_E_NOT_FOUND);
    assert_int_equal(r.ext, RECD_EXT_JSON);
    assert_int_equal(match(P "/Nothing.json", &r), RECD_E_NOT_FOUND);
    assert_int_equal(r.ext, RECD_EXT_JSON);
    assert_int_equal(match(P "/Recordings/" RE "/Nothing.xml", &r), RECD_E_NOT_FOUND);
    assert_int_equal(r.ext, RECD_EXT_XML);
    assert_int_equal(match(P "/Nothing", &r), RECD_E_NOT_FOUND);
    assert_int_equal(r.ext, RECD_EXT_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_path_every_ext), cmocka_unit_test(test_spot_checks),
        cmocka_unit_test(test_bad_extensions),       cmocka_unit_test(test_bad_sids),
        cmocka_unit_test(test_bad_shapes),           cmocka_unit_test(test_ext_on_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
