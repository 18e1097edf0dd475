#include "media/wav.h"

#include "core/error.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/*
 * Every WAV here is written byte by byte by the test itself, so that each case says exactly
 * which header field is wrong and the expected values do not depend on another encoder.
 */

static char tmpdir[] = "/tmp/recd-test-wav-XXXXXX";
static int file_no;

/* A byte buffer the test builds a file in. */
struct bytes {
    unsigned char *p;
    size_t n;
    size_t cap;
};

static void put(struct bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put16(struct bytes *b, unsigned v)
{
    unsigned char c[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(b, c, 2);
}

static void put32(struct bytes *b, uint32_t v)
{
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(b, c, 4);
}

static void set32(struct bytes *b, size_t at, uint32_t v)
{
    b->p[at] = (unsigned char)v;
    b->p[at + 1] = (unsigned char)(v >> 8);
    b->p[at + 2] = (unsigned char)(v >> 16);
    b->p[at + 3] = (unsigned char)(v >> 24);
}

/* Appends `n` bytes of a recognisable, non-silent pattern. */
static void put_samples(struct bytes *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)(i * 7 + 3);
        put(b, &c, 1);
    }
}

struct spec {
    unsigned tag;     /* 1 PCM, 3 float, 6 A-law, 0xFFFE extensible */
    unsigned ext_sub; /* extensible subformat code */
    unsigned channels;
    unsigned rate;
    unsigned bits;
    int64_t frames;    /* frames of audio actually written */
    int64_t data_decl; /* declared data size; -1 = the true size */
    int64_t riff_decl; /* declared RIFF size; -1 = the true size */
    int odd_chunk;     /* put a 5-byte "LIST" chunk (and its pad byte) before "data" */
};

/* Builds a canonical WAV per `s`. */
static struct bytes build(const struct spec *s)
{
    struct bytes b = {0};
    unsigned align = s->channels * (s->bits / 8);
    size_t data_n = (size_t)s->frames * align;

    put(&b, "RIFF", 4);
    put32(&b, 0); /* patched below */
    put(&b, "WAVE", 4);
    put(&b, "fmt ", 4);
    put32(&b, s->tag == 0xFFFE ? 40 : 16);
    put16(&b, s->tag);
    put16(&b, s->channels);
    put32(&b, s->rate);
    put32(&b, s->rate * align);
    put16(&b, align);
    put16(&b, s->bits);
    if (s->tag == 0xFFFE) {
        static const unsigned char tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                               0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
        put16(&b, 22);
        put16(&b, s->bits);
        put32(&b, s->channels == 1 ? 0x4 : 0x3);
        put16(&b, s->ext_sub);
        put(&b, tail, sizeof tail);
    }
    if (s->odd_chunk) {
        put(&b, "LIST", 4);
        put32(&b, 5);
        put(&b, "abcde", 5);
        put(&b, "\0", 1);
    }
    put(&b, "data", 4);
    put32(&b, s->data_decl >= 0 ? (uint32_t)s->data_decl : (uint32_t)data_n);
    put_samples(&b, data_n);
    set32(&b, 4, s->riff_decl >= 0 ? (uint32_t)s->riff_decl : (uint32_t)(b.n - 8));
    return b;
}

/* Writes `n` bytes to a new file in the test's directory and opens it read-only. */
static int file_fd(const void *p, size_t n)
{
    char path[sizeof tmpdir + 32];
    snprintf(path, sizeof path, "%s/f%d.wav", tmpdir, file_no++);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

/* Probes the bytes; returns the result and fills *info and `why`. */
static int probe_bytes(const void *p, size_t n, struct recd_wav_info *info, char *why, unsigned why_n)
{
    int fd = file_fd(p, n);
    int r = recd_wav_probe(fd, info, why, why_n);
    close(fd);
    return r;
}

static int probe_spec(const struct spec *s, struct recd_wav_info *info, char *why, unsigned why_n)
{
    struct bytes b = build(s);
    int r = probe_bytes(b.p, b.n, info, why, why_n);
    free(b.p);
    return r;
}

/* Asserts that `s` is refused with exactly `reason`. */
static void expect_refused(const struct spec *s, const char *reason)
{
    struct recd_wav_info info;
    char why[256];
    assert_int_equal(probe_spec(s, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, reason);
}

static void test_mono_8k_16bit(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 1, .channels = 1, .rate = 8000, .bits = 16, .frames = 12000, .data_decl = -1, .riff_decl = -1};
    struct recd_wav_info info;
    char why[128] = "untouched";
    assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
    assert_string_equal(why, "");
    assert_int_equal(info.channels, 1);
    assert_int_equal(info.sample_rate, 8000);
    assert_int_equal(info.bits, 16);
    assert_int_equal(info.frames, 12000);
    assert_int_equal(info.duration_ms, 1500);
    assert_int_equal(info.file_size, 44 + 24000);
}

static void test_stereo_44k_rounds_up(void **state)
{
    (void)state;
    /* 44123 / 44100 s = 1000.52 ms, which rounds to 1001. */
    struct spec s = {.tag = 1,
                     .channels = 2,
                     .rate = 44100,
                     .bits = 16,
                     .frames = 44123,
                     .data_decl = -1,
                     .riff_decl = -1};
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
    assert_int_equal(info.channels, 2);
    assert_int_equal(info.sample_rate, 44100);
    assert_int_equal(info.frames, 44123);
    assert_int_equal(info.duration_ms, 1001);
    assert_int_equal(info.file_size, 44 + 44123 * 4);
}

static void test_stereo_44k_rounds_down(void **state)
{
    (void)state;
    /* 44120 / 44100 s = 1000.45 ms, which rounds to 1000. */
    struct spec s = {.tag = 1,
                     .channels = 2,
                     .rate = 44100,
                     .bits = 16,
                     .frames = 44120,
                     .data_decl = -1,
                     .riff_decl = -1};
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
    assert_int_equal(info.duration_ms, 1000);
}

static void test_8bit(void **state)
{
    (void)state;
    /* 8004 frames at 8 kHz are 1000.5 ms: halves round up. */
    struct spec s = {
        .tag = 1, .channels = 1, .rate = 8000, .bits = 8, .frames = 8004, .data_decl = -1, .riff_decl = -1};
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
    assert_int_equal(info.bits, 8);
    assert_int_equal(info.frames, 8004);
    assert_int_equal(info.duration_ms, 1001);
    assert_int_equal(info.file_size, 44 + 8004);
}

static void test_24bit(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 1, .channels = 2, .rate = 48000, .bits = 24, .frames = 4800, .data_decl = -1, .riff_decl = -1};
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
    assert_int_equal(info.bits, 24);
    assert_int_equal(info.channels, 2);
    assert_int_equal(info.sample_rate, 48000);
    assert_int_equal(info.frames, 4800);
    assert_int_equal(info.duration_ms, 100);
    assert_int_equal(info.file_size, 44 + 4800 * 6);
}

static void test_32bit_int(void **state)
{
    (void)state;
    struct spec s = {.tag = 1,
                     .channels = 1,
                     .rate = 22050,
                     .bits = 32,
                     .frames = 22050,
                     .data_decl = -1,
                     .riff_decl = -1};
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
    assert_int_equal(info.bits, 32);
    assert_int_equal(info.frames, 22050);
    assert_int_equal(info.duration_ms, 1000);
}

static void test_extensible_pcm(void **state)
{
    (void)state;
    struct spec s = {.tag = 0xFFFE,
                     .ext_sub = 1,
                     .channels = 1,
                     .rate = 16000,
                     .bits = 16,
                     .frames = 16000,
                     .data_decl = -1,
                     .riff_decl = -1};
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
    assert_int_equal(info.channels, 1);
    assert_int_equal(info.sample_rate, 16000);
    assert_int_equal(info.bits, 16);
    assert_int_equal(info.frames, 16000);
    assert_int_equal(info.duration_ms, 1000);
    assert_int_equal(info.file_size, 68 + 32000);
}

static void test_extensible_float(void **state)
{
    (void)state;
    struct spec s = {.tag = 0xFFFE,
                     .ext_sub = 3,
                     .channels = 2,
                     .rate = 48000,
                     .bits = 32,
                     .frames = 100,
                     .data_decl = -1,
                     .riff_decl = -1};
    expect_refused(&s, "unsupported encoding: 32-bit float (recd stores integer PCM)");
}

static void test_text_file(void **state)
{
    (void)state;
    static const char text[] = "This is not audio, just a note about a call.\n";
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_bytes(text, sizeof text - 1, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, "not a WAV file (no RIFF/WAVE header)");
}

static void test_empty_file(void **state)
{
    (void)state;
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_bytes("", 0, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, "empty file");
}

static void test_header_only_prefix(void **state)
{
    (void)state;
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_bytes("RIFF\0\0\0\0WAV", 11, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, "not a WAV file (no RIFF/WAVE header)");
    assert_int_equal(probe_bytes("RIFF\0\0\0\0WAVE", 12, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, "no data chunk");
}

static void test_truncated(void **state)
{
    (void)state;
    /* Written as 5 s of 8 kHz 16-bit mono (80000 bytes), declaring twice that. */
    struct spec s = {.tag = 1,
                     .channels = 1,
                     .rate = 8000,
                     .bits = 16,
                     .frames = 40000,
                     .data_decl = 160000,
                     .riff_decl = -1};
    expect_refused(&s, "truncated: data chunk declares 160000 bytes, file has 80000");
}

static void test_truncated_mid_header(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 1, .channels = 1, .rate = 8000, .bits = 16, .frames = 10, .data_decl = -1, .riff_decl = -1};
    struct bytes b = build(&s);
    struct recd_wav_info info;
    char why[128];
    /* Cut inside the fmt chunk: 12 + 8 + 10 bytes. */
    assert_int_equal(probe_bytes(b.p, 30, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, "truncated: fmt chunk declares 16 bytes, file has 10");
    /* Cut right after the data chunk's header: no samples at all. */
    assert_int_equal(probe_bytes(b.p, 44, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, "truncated: data chunk declares 20 bytes, file has 0");
    /* Cut inside the data chunk's header. */
    assert_int_equal(probe_bytes(b.p, 40, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, "no data chunk");
    free(b.p);
}

static void test_lying_data_size(void **state)
{
    (void)state;
    /* A streaming writer's placeholder size: never accepted for the data chunk. */
    struct spec s = {.tag = 1,
                     .channels = 1,
                     .rate = 8000,
                     .bits = 16,
                     .frames = 50,
                     .data_decl = 0xFFFFFFFF,
                     .riff_decl = -1};
    expect_refused(&s, "truncated: data chunk declares 4294967295 bytes, file has 100");
}

static void test_data_not_whole_frames(void **state)
{
    (void)state;
    /* 101 bytes of stereo 16-bit audio: the last frame is cut. */
    struct spec s = {
        .tag = 1, .channels = 2, .rate = 8000, .bits = 16, .frames = 30, .data_decl = 101, .riff_decl = -1};
    expect_refused(&s, "truncated: data size 101 is not a multiple of the 4-byte frame");
}

static void test_float32(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 3, .channels = 1, .rate = 8000, .bits = 32, .frames = 80, .data_decl = -1, .riff_decl = -1};
    expect_refused(&s, "unsupported encoding: 32-bit float (recd stores integer PCM)");
}

static void test_alaw(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 6, .channels = 1, .rate = 8000, .bits = 8, .frames = 80, .data_decl = -1, .riff_decl = -1};
    expect_refused(&s, "unsupported encoding: A-law (recd stores integer PCM)");
}

static void test_mulaw(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 7, .channels = 1, .rate = 8000, .bits = 8, .frames = 80, .data_decl = -1, .riff_decl = -1};
    expect_refused(&s, "unsupported encoding: mu-law (recd stores integer PCM)");
}

static void test_three_channels(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 1, .channels = 3, .rate = 8000, .bits = 16, .frames = 80, .data_decl = -1, .riff_decl = -1};
    expect_refused(&s, "unsupported channel count: 3 (recd accepts 1 or 2)");
}

static void test_96k(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 1, .channels = 2, .rate = 96000, .bits = 24, .frames = 96, .data_decl = -1, .riff_decl = -1};
    expect_refused(&s, "unsupported sample rate: 96000 Hz (recd accepts 8000-48000)");
}

static void test_rate_edges(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 1, .channels = 1, .rate = 7999, .bits = 16, .frames = 80, .data_decl = -1, .riff_decl = -1};
    expect_refused(&s, "unsupported sample rate: 7999 Hz (recd accepts 8000-48000)");
    s.rate = 48001;
    expect_refused(&s, "unsupported sample rate: 48001 Hz (recd accepts 8000-48000)");
    s.rate = 48000;
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
    assert_int_equal(info.sample_rate, 48000);
}

static void test_12bit(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 1, .channels = 1, .rate = 8000, .bits = 12, .frames = 80, .data_decl = -1, .riff_decl = -1};
    expect_refused(&s, "unsupported sample size: 12 bits (recd accepts 8, 16, 24 or 32)");
}

static void test_riff_size_placeholders(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {0, 0xFFFFFFFF, 36};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct spec s = {.tag = 1,
                         .channels = 1,
                         .rate = 8000,
                         .bits = 16,
                         .frames = 4000,
                         .data_decl = -1,
                         .riff_decl = sizes[i]};
        struct recd_wav_info info;
        char why[128] = "";
        assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
        assert_string_equal(why, "");
        assert_int_equal(info.frames, 4000);
        assert_int_equal(info.duration_ms, 500);
        assert_int_equal(info.file_size, 44 + 8000);
    }
}

static void test_odd_chunk_before_data(void **state)
{
    (void)state;
    struct spec s = {.tag = 1,
                     .channels = 1,
                     .rate = 8000,
                     .bits = 16,
                     .frames = 800,
                     .data_decl = -1,
                     .riff_decl = -1,
                     .odd_chunk = 1};
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
    assert_int_equal(info.frames, 800);
    assert_int_equal(info.duration_ms, 100);
    assert_int_equal(info.file_size, 44 + 14 + 1600);
}

static void test_odd_chunk_without_pad_is_refused(void **state)
{
    (void)state;
    /* A writer that forgot the pad byte: the next chunk header is misaligned by one. */
    struct spec s = {.tag = 1,
                     .channels = 1,
                     .rate = 8000,
                     .bits = 16,
                     .frames = 800,
                     .data_decl = -1,
                     .riff_decl = -1,
                     .odd_chunk = 1};
    struct bytes b = build(&s);
    memmove(b.p + 36 + 13, b.p + 36 + 14, b.n - (36 + 14));
    b.n--;
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_bytes(b.p, b.n, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, "no data chunk (a chunk runs past the end of the file)");
    free(b.p);
}

static void test_data_before_fmt(void **state)
{
    (void)state;
    struct bytes b = {0};
    put(&b, "RIFF", 4);
    put32(&b, 4 + 8 + 4 + 8 + 16);
    put(&b, "WAVE", 4);
    put(&b, "data", 4);
    put32(&b, 4);
    put_samples(&b, 4);
    put(&b, "fmt ", 4);
    put32(&b, 16);
    put16(&b, 1);
    put16(&b, 1);
    put32(&b, 8000);
    put32(&b, 16000);
    put16(&b, 2);
    put16(&b, 16);
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_bytes(b.p, b.n, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, "malformed: data chunk before fmt chunk");
    free(b.p);
}

static void test_no_samples(void **state)
{
    (void)state;
    /* A complete header over an empty data chunk: a zero-length recording, not a damaged one. */
    struct spec s = {
        .tag = 1, .channels = 1, .rate = 8000, .bits = 16, .frames = 0, .data_decl = -1, .riff_decl = -1};
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(probe_spec(&s, &info, why, sizeof why), 0);
    assert_int_equal(info.frames, 0);
    assert_int_equal(info.duration_ms, 0);
    assert_int_equal(info.file_size, 44);
}

static void test_pipe_refused(void **state)
{
    (void)state;
    int p[2];
    struct recd_wav_info info;
    char why[128];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(recd_wav_probe(p[0], &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_string_equal(why, "not a regular file");
    close(p[0]);
    close(p[1]);
}

static void test_offset_restored(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 1, .channels = 1, .rate = 8000, .bits = 16, .frames = 12000, .data_decl = -1, .riff_decl = -1};
    struct bytes b = build(&s);
    int fd = file_fd(b.p, b.n);
    free(b.p);
    struct recd_wav_info info;
    char why[128];

    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    assert_int_equal(recd_wav_probe(fd, &info, why, sizeof why), 0);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    assert_int_equal(lseek(fd, 1234, SEEK_SET), 1234);
    assert_int_equal(recd_wav_probe(fd, &info, why, sizeof why), 0);
    assert_int_equal(info.frames, 12000);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 1234);
    close(fd);

    /* A refused file leaves the offset alone too. */
    fd = file_fd("hello, world", 12);
    assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
    assert_int_equal(recd_wav_probe(fd, &info, why, sizeof why), RECD_E_BAD_INPUT);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 5);
    close(fd);
}

static void test_why_is_bounded(void **state)
{
    (void)state;
    struct spec s = {
        .tag = 6, .channels = 1, .rate = 8000, .bits = 8, .frames = 80, .data_decl = -1, .riff_decl = -1};
    struct recd_wav_info info;
    char why[12];
    memset(why, 'x', sizeof why);
    assert_int_equal(probe_spec(&s, &info, why, 8), RECD_E_BAD_INPUT);
    assert_string_equal(why, "unsuppo");
    assert_int_equal(why[8], 'x');
    /* No reason buffer at all is allowed. */
    assert_int_equal(probe_spec(&s, &info, NULL, 0), RECD_E_BAD_INPUT);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mono_8k_16bit),
        cmocka_unit_test(test_stereo_44k_rounds_up),
        cmocka_unit_test(test_stereo_44k_rounds_down),
        cmocka_unit_test(test_8bit),
        cmocka_unit_test(test_24bit),
        cmocka_unit_test(test_32bit_int),
        cmocka_unit_test(test_extensible_pcm),
        cmocka_unit_test(test_extensible_float),
        cmocka_unit_test(test_text_file),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_header_only_prefix),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_truncated_mid_header),
        cmocka_unit_test(test_lying_data_size),
        cmocka_unit_test(test_data_not_whole_frames),
        cmocka_unit_test(test_float32),
        cmocka_unit_test(test_alaw),
        cmocka_unit_test(test_mulaw),
        cmocka_unit_test(test_three_channels),
        cmocka_unit_test(test_96k),
        cmocka_unit_test(test_rate_edges),
        cmocka_unit_test(test_12bit),
        cmocka_unit_test(test_riff_size_placeholders),
        cmocka_unit_test(test_odd_chunk_before_data),
        cmocka_unit_test(test_odd_chunk_without_pad_is_refused),
        cmocka_unit_test(test_data_before_fmt),
        cmocka_unit_test(test_no_samples),
        cmocka_unit_test(test_pipe_refused),
        cmocka_unit_test(test_offset_restored),
        cmocka_unit_test(test_why_is_bounded),
    };
    return cmocka_run_group_tests_name("wav", tests, setup, teardown);
}
