#include "media/blob_s3.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/*
 * The S3 backend's pure parts: media locations, credentials files, and the parsers of S3's
 * answers (the requests themselves are tested end to end, tests/e2e/test_s3.py).
 */

static void test_location(void **state)
{
    (void)state;
    struct recd_s3_config c;
    char why[300];
    assert_int_equal(recd_s3_parse_location("s3://my-bucket?endpoint=http://127.0.0.1:9000&region=eu-west-3",
                                            &c, why, sizeof why),
                     0);
    assert_string_equal(c.bucket, "my-bucket");
    assert_string_equal(c.prefix, "");
    assert_string_equal(c.endpoint, "http://127.0.0.1:9000");
    assert_string_equal(c.region, "eu-west-3");
    assert_int_equal(c.virtual_host, 0);
    assert_int_equal(
        recd_s3_parse_location("s3://b-example/a/b_c?style=virtual&endpoint=https%3A%2F%2Fs3.x.io%2F", &c,
                               why, sizeof why),
        0);
    assert_string_equal(c.prefix, "a/b_c/");
    assert_string_equal(c.endpoint, "https://s3.x.io");
    assert_int_equal(c.virtual_host, 1);
    assert_int_equal(recd_s3_parse_location("s3://b.dots?style=virtual", &c, why, sizeof why), -1);
    assert_int_equal(recd_s3_parse_location("s3://bucket", &c, why, sizeof why), 0);
    assert_string_equal(c.endpoint, "https://s3.us-east-1.amazonaws.com");
    static const char *const bad[] = {
        "s3://",
        "s3://ab",
        "s3://-bucket",
        "s3://bucket/..",
        "s3://bucket//x",
        "s3://b_b",
        "s3://bucket?x",
        "s3://bucket?region=",
        "s3://bucket?e=1",
        "http://bucket",
        "s3://bucket?endpoint=http://h:99999",
        "s3://bucket?endpoint=http://h/p",
        "s3://bucket?endpoint=%zz",
        "s3://bucket?endpoint=http://a b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(recd_s3_parse_location(bad[i], &c, why, sizeof why), -1);
        assert_true(why[0] != '\0');
        assert_null(strchr(why, '\n'));
    }
}

static void test_credentials_file(void **state)
{
    (void)state;
    char path[] = "/tmp/recd-test-s3-XXXXXX", why[400];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "[other]\naws_access_key_id = NO\naws_secret_access_key = NO\n"
                        "# comment\n[default]\n aws_access_key_id=AKID \naws_secret_access_key =  s3cret\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    struct recd_s3_config c;
    memset(&c, 0, sizeof c);
    assert_int_equal(recd_s3_load_credentials(&c, path, why, sizeof why), 0);
    assert_string_equal(c.key_id, "AKID");
    assert_string_equal(c.secret, "s3cret");
    FILE *f = fopen(path, "w");
    fputs("aws_access_key_id = AKID\naws_secret_access_key = uniq-xyz tail\n", f);
    fclose(f);
    assert_int_equal(recd_s3_load_credentials(&c, path, why, sizeof why), -1);
    assert_null(strstr(why, "uniq-xyz"));
    unlink(path);
    assert_int_equal(recd_s3_load_credentials(&c, path, why, sizeof why), -1);
}

struct seen {
    int n;
    char keys[4][64];
    int64_t sizes[4];
};

static int collect(void *ctx, const char *key, int64_t size, const char *upload_id, int64_t initiated_s)
{
    (void)upload_id, (void)initiated_s;
    struct seen *s = ctx;
    if (s->n < 4) {
        snprintf(s->keys[s->n], sizeof s->keys[s->n], "%s", key);
        s->sizes[s->n] = size;
    }
    s->n++;
    return 0;
}

static void test_answers(void **state)
{
    (void)state;
    char code[RECD_S3_CODE_MAX + 1], msg[RECD_S3_MSG_MAX + 1], id[RECD_S3_UPLOAD_ID_MAX + 1];
    char next[RECD_S3_TOKEN_ANSWER_MAX + 1], next2[RECD_S3_UPLOAD_ID_MAX + 1];
    const char err[] =
        "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone\t</Message></Error>";
    assert_int_equal(recd_s3_parse_error(err, sizeof err - 1, code, msg), 0);
    assert_string_equal(code, "NoSuchKey");
    assert_string_equal(msg, "gone?");
    assert_int_equal(recd_s3_parse_error("<Other/>", 8, code, msg), -1);
    const char init[] =
        "<InitiateMultipartUploadResult><UploadId>abc-123</UploadId></InitiateMultipartUploadResult>";
    assert_int_equal(recd_s3_parse_upload_id(init, sizeof init - 1, id), 0);
    assert_string_equal(id, "abc-123");
    const char spaced[] =
        "<InitiateMultipartUploadResult><UploadId>a b</UploadId></InitiateMultipartUploadResult>";
    assert_int_equal(recd_s3_parse_upload_id(spaced, sizeof spaced - 1, id), -1);
    const char done[] = "<CompleteMultipartUploadResult><ETag>\"x\"</ETag></CompleteMultipartUploadResult>";
    assert_int_equal(recd_s3_parse_complete(done, sizeof done - 1, code, msg), 1);
    assert_int_equal(recd_s3_parse_complete(err, sizeof err - 1, code, msg), 0);
    const char list[] =
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t/1=</NextContinuationToken>"
        "<Contents><Key>p/a.wav</Key><Size>12</Size></Contents><Contents><Key>b</Key><Size>0</Size>"
        "</Contents></ListBucketResult>";
    struct seen s = {0};
    int truncated = 0;
    assert_int_equal(recd_s3_parse_list(list, sizeof list - 1, collect, &s, &truncated, next, next2), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "p/a.wav");
    assert_int_equal(s.sizes[0], 12);
    assert_int_equal(truncated, 1);
    assert_string_equal(next, "t/1=");
    const char nosize[] = "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>";
    assert_int_equal(recd_s3_parse_list(nosize, sizeof nosize - 1, collect, &s, &truncated, next, next2), -1);
    const char ent[] = "<!DOCTYPE x [<!ENTITY a \"b\">]><ListBucketResult></ListBucketResult>";
    assert_int_equal(recd_s3_parse_list(ent, sizeof ent - 1, collect, &s, &truncated, next, next2), -1);
    int64_t a, z, size;
    assert_int_equal(recd_s3_parse_content_range("bytes 0-99/1234", 15, &a, &z, &size), 0);
    assert_true(a == 0 && z == 99 && size == 1234);
    assert_int_equal(recd_s3_parse_content_range("bytes 5-2/9", 11, &a, &z, &size), -1);
    assert_int_equal(recd_s3_parse_content_range("bytes */9", 9, &a, &z, &size), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_location),
        cmocka_unit_test(test_credentials_file),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests_name("s3", tests, NULL, NULL);
}
