#include "media/peaks.h"

#include "core/error.h"

#include "unit.h"

#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Waveform peaks against audiowaveform's published format (doc/DataFormat.md): the .dat header
 * read field by field at its documented offsets, the JSON read as JSON text, the values against
 * a brute-force min/max of the samples the test chose, and a sine whose amplitude is known.
 */

/* A computation's two outputs. */
struct out {
    struct recd_buf dat, json;
};

static void out_init(struct out *o)
{
    recd_buf_init(&o->dat, 0);
    recd_buf_init(&o->json, 0);
}

static void out_free(struct out *o)
{
    recd_buf_free(&o->dat);
    recd_buf_free(&o->json);
}

/* Peaks of `frames` interleaved frames, fed in pieces of `chunk` frames (0: all at once). */
static void compute(struct out *o, const int16_t *pcm, int channels, int rate, int spp, int64_t frames,
                    size_t chunk)
{
    struct recd_peaks p;
    out_init(o);
    assert_int_equal(recd_peaks_begin(&p, channels, rate, spp, frames, &o->dat, &o->json), 0);
    size_t left = (size_t)frames, at = 0;
    while (left > 0) {
        size_t n = chunk && chunk < left ? chunk : left;
        recd_peaks_feed(&p, pcm + at * (size_t)channels, n);
        at += n;
        left -= n;
    }
    assert_int_equal(recd_peaks_end(&p), 0);
}

static uint32_t le32(const void *p)
{
    const unsigned char *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The JSON's "data" array, parsed: its values into `v` (room for `cap`), their count returned.
 * Checks the fixed text around it too: the whole object is what `head` says, then the array. */
static size_t json_data(const struct recd_buf *json, const char *head, int *v, size_t cap)
{
    size_t hn = strlen(head);
    assert_true(json->len >= hn + 2);
    if (memcmp(json->p, head, hn) != 0) {
        print_error("JSON begins %.*s\nwant %s\n", (int)(hn + 10), json->p, head);
        fail();
    }
    assert_memory_equal(json->p + json->len - 2, "]}", 2);
    assert_int_equal(strlen(json->p), json->len); /* NUL-terminated, no NUL inside */
    size_t n = 0;
    const char *s = json->p + hn, *end = json->p + json->len - 2;
    while (s < end) {
        char *e;
        long x = strtol(s, &e, 10);
        assert_true(e > s && e <= end);
        assert_true(n < cap);
        v[n++] = (int)x;
        s = e;
        if (s < end) {
            assert_int_equal(*s, ',');
            s++;
            assert_true(s < end); /* no trailing comma */
        }
    }
    return n;
}

/* What audiowaveform writes for an extreme: the 16-bit value / 256, toward zero. */
static int v8(int v16)
{
    return v16 / 256;
}

/* Checks both outputs against a brute-force computation over the samples. */
static void check_against_samples(const struct out *o, const int16_t *pcm, int channels, int rate, int spp,
                                  int64_t frames)
{
    uint32_t length = (uint32_t)((frames + spp - 1) / spp);
    size_t values = (size_t)length * (size_t)channels * 2;

    /* .dat version 2: the header's six fields at their documented offsets, then the values. */
    assert_int_equal(o->dat.len, 24 + values);
    assert_int_equal(le32(o->dat.p), 2);
    assert_int_equal(le32(o->dat.p + 4), 1);
    assert_int_equal(le32(o->dat.p + 8), (uint32_t)rate);
    assert_int_equal(le32(o->dat.p + 12), (uint32_t)spp);
    assert_int_equal(le32(o->dat.p + 16), length);
    assert_int_equal(le32(o->dat.p + 20), (uint32_t)channels);

    char head[200];
    snprintf(head, sizeof head,
             "{\"version\":2,\"channels\":%d,\"sample_rate\":%d,\"samples_per_pixel\":%d,\"bits\":8,"
             "\"length\":%u,\"data\":[",
             channels, rate, spp, length);
    int *jv = malloc(sizeof *jv * (values + 1));
    assert_non_null(jv);
    assert_int_equal(json_data(&o->json, head, jv, values + 1), values);

    const signed char *dv = (const signed char *)o->dat.p + 24;
    for (uint32_t px = 0; px < length; px++) {
        for (int c = 0; c < channels; c++) {
            int mn = INT16_MAX, mx = INT16_MIN;
            for (int64_t i = (int64_t)px * spp; i < (int64_t)(px + 1) * spp && i < frames; i++) {
                int s = pcm[i * channels + c];
                mn = s < mn ? s : mn;
                mx = s > mx ? s : mx;
            }
            size_t at = ((size_t)px * (size_t)channels + (size_t)c) * 2;
            assert_int_equal(dv[at], v8(mn));
            assert_int_equal(dv[at + 1], v8(mx));
            assert_true(dv[at] <= dv[at + 1]);
            /* Both formats from the one pass hold the same numbers. */
            assert_int_equal(jv[at], dv[at]);
            assert_int_equal(jv[at + 1], dv[at + 1]);
        }
    }
    free(jv);
}

/* A small case written out by hand: every byte of both files. */
static void test_exact_bytes(void **state)
{
    (void)state;
    /* Two pixels of 32 and a last one of 2 samples. */
    int16_t pcm[66];
    for (int i = 0; i < 66; i++)
        pcm[i] = 0;
    pcm[3] = 32767;   /* first pixel max: 127 */
    pcm[10] = -32768; /* first pixel min: -128 */
    pcm[40] = 300;    /* second pixel: 300/256 = 1 */
    pcm[41] = -300;   /* -300/256 = -1 (toward zero) */
    pcm[64] = -255;   /* last pixel: -255/256 = 0 */
    pcm[65] = 256;    /* 1 */
    struct out o;
    compute(&o, pcm, 1, 8000, 32, 66, 0);
    const unsigned char want_dat[] = {2, 0, 0, 0, 1, 0, 0, 0, 0x40, 0x1f, 0,    0,    32,   0,    0,
                                      0, 3, 0, 0, 0, 1, 0, 0, 0,    0x80, 0x7f, 0xff, 0x01, 0x00, 0x01};
    assert_int_equal(o.dat.len, sizeof want_dat);
    assert_memory_equal(o.dat.p, want_dat, sizeof want_dat);
    assert_buf(&o.json,
               "{\"version\":2,\"channels\":1,\"sample_rate\":8000,\"samples_per_pixel\":32,\"bits\":8,"
               "\"length\":3,\"data\":[-128,127,-1,1,0,1]}");
    out_free(&o);
}

/* length = ceil(frames / spp): whole pixels, one sample over, and no samples at all. */
static void test_lengths(void **state)
{
    (void)state;
    static int16_t pcm[2 * 1025];
    for (int i = 0; i < 2 * 1025; i++)
        pcm[i] = (int16_t)((i * 7919) % 65536 - 32768);
    const struct {
        int channels, spp;
        int64_t frames;
        uint32_t length;
    } cases[] = {
        {1, 256, 1024, 4}, {1, 256, 1025, 5}, {1, 256, 1, 1},     {1, 256, 0, 0},
        {2, 32, 1024, 32}, {2, 33, 1024, 32}, {2, 1000, 1025, 2}, {1, 65536, 1025, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct out o;
        compute(&o, pcm, cases[i].channels, 16000, cases[i].spp, cases[i].frames, 0);
        assert_int_equal(le32(o.dat.p + 16), cases[i].length);
        check_against_samples(&o, pcm, cases[i].channels, 16000, cases[i].spp, cases[i].frames);
        out_free(&o);
    }
    struct out o;
    compute(&o, pcm, 1, 8000, 256, 0, 0);
    assert_buf(&o.json,
               "{\"version\":2,\"channels\":1,\"sample_rate\":8000,\"samples_per_pixel\":256,\"bits\":8,"
               "\"length\":0,\"data\":[]}");
    assert_int_equal(o.dat.len, 24);
    out_free(&o);
}

/* Random samples over the whole 16-bit range: min <= max everywhere, values as computed by hand,
 * whatever the pieces the samples come in. */
static void test_noise_any_chunking(void **state)
{
    (void)state;
    enum { FRAMES = 48000 };
    int16_t *pcm = malloc(sizeof *pcm * FRAMES * 2);
    assert_non_null(pcm);
    uint32_t x = 12345;
    for (int i = 0; i < FRAMES * 2; i++) {
        x = x * 1103515245u + 12345u;
        pcm[i] = (int16_t)(x >> 16);
    }
    struct out whole;
    compute(&whole, pcm, 2, 48000, 100, FRAMES, 0);
    check_against_samples(&whole, pcm, 2, 48000, 100, FRAMES);
    const size_t chunks[] = {1, 7, 99, 100, 101, 4096};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        struct out o;
        compute(&o, pcm, 2, 48000, 100, FRAMES, chunks[i]);
        assert_int_equal(o.dat.len, whole.dat.len);
        assert_memory_equal(o.dat.p, whole.dat.p, whole.dat.len);
        assert_int_equal(o.json.len, whole.json.len);
        assert_memory_equal(o.json.p, whole.json.p, whole.json.len);
        out_free(&o);
    }
    out_free(&whole);
    free(pcm);
}

/*
 * A known sine: 440 Hz at amplitude 20000 (8 kHz, 1 s). Each 256-sample pixel spans 14 periods,
 * so its extremes are the amplitude within rounding: 20000 / 256 = 78.1 gives 78 and -78.
 * A second channel of silence gives zeros, and a quiet one (amplitude 200, below one 8-bit step)
 * gives zeros too, as audiowaveform's division toward zero does.
 */
static void test_sine_amplitude_two_channels(void **state)
{
    (void)state;
    enum { RATE = 8000, FRAMES = 8000 };
    static int16_t pcm[FRAMES * 2];
    for (int i = 0; i < FRAMES; i++) {
        pcm[2 * i] = (int16_t)lrint(20000 * sin(2 * M_PI * 440 * i / RATE));
        pcm[2 * i + 1] = (int16_t)lrint(200 * sin(2 * M_PI * 1000 * i / RATE));
    }
    struct out o;
    compute(&o, pcm, 2, RATE, 256, FRAMES, 0);
    check_against_samples(&o, pcm, 2, RATE, 256, FRAMES);
    uint32_t length = le32(o.dat.p + 16);
    assert_int_equal(length, 32); /* 8000 / 256 = 31.25 */
    const signed char *v = (const signed char *)o.dat.p + 24;
    for (uint32_t px = 0; px < length; px++) {
        /* Channel 0 (the sine): the last pixel has 64 samples, still 3.5 periods. */
        assert_int_equal(v[px * 4], -78);
        assert_int_equal(v[px * 4 + 1], 78);
        /* Channel 1 (too quiet for one 8-bit step). */
        assert_int_equal(v[px * 4 + 2], 0);
        assert_int_equal(v[px * 4 + 3], 0);
    }
    out_free(&o);

    /* The same sine alone (mono) at full scale reaches the 8-bit extremes. */
    static int16_t mono[FRAMES];
    for (int i = 0; i < FRAMES; i++)
        mono[i] = (int16_t)lrint(32767 * sin(2 * M_PI * 440 * i / RATE));
    compute(&o, mono, 1, RATE, 1024, FRAMES, 0);
    v = (const signed char *)o.dat.p + 24;
    for (uint32_t px = 0; px < le32(o.dat.p + 16); px++) {
        assert_int_equal(v[px * 2], -127); /* -32767 / 256 toward zero */
        assert_int_equal(v[px * 2 + 1], 127);
    }
    out_free(&o);
}

static void test_begin_refuses(void **state)
{
    (void)state;
    struct out o;
    struct recd_peaks p;
    out_init(&o);
    assert_int_equal(recd_peaks_begin(&p, 0, 8000, 256, 10, &o.dat, &o.json), RECD_E_BAD_INPUT);
    assert_int_equal(recd_peaks_begin(&p, 3, 8000, 256, 10, &o.dat, &o.json), RECD_E_BAD_INPUT);
    assert_int_equal(recd_peaks_begin(&p, 1, 0, 256, 10, &o.dat, &o.json), RECD_E_BAD_INPUT);
    assert_int_equal(recd_peaks_begin(&p, 1, 8000, RECD_PEAKS_SPP_MIN - 1, 10, &o.dat, &o.json),
                     RECD_E_BAD_INPUT);
    assert_int_equal(recd_peaks_begin(&p, 1, 8000, RECD_PEAKS_SPP_MAX + 1, 10, &o.dat, &o.json),
                     RECD_E_BAD_INPUT);
    assert_int_equal(recd_peaks_begin(&p, 1, 8000, 256, -1, &o.dat, &o.json), RECD_E_BAD_INPUT);
    assert_int_equal(o.dat.len, 0);
    assert_int_equal(o.json.len, 0);

    /* Fewer frames than declared: an error, and nothing appended. More: the rest ignored. */
    int16_t pcm[100] = {0};
    recd_buf_adds(&o.dat, "keep");
    assert_int_equal(recd_peaks_begin(&p, 1, 8000, 32, 100, &o.dat, &o.json), 0);
    recd_peaks_feed(&p, pcm, 99);
    assert_int_equal(recd_peaks_end(&p), RECD_E_BAD_INPUT);
    assert_buf(&o.dat, "keep");
    assert_int_equal(o.json.len, 0);
    assert_int_equal(recd_peaks_begin(&p, 1, 8000, 32, 40, &o.dat, &o.json), 0);
    pcm[45] = 32767; /* beyond the 40 declared: must not show */
    recd_peaks_feed(&p, pcm, 100);
    assert_int_equal(recd_peaks_end(&p), 0);
    assert_int_equal(o.dat.len, 4 + 24 + 4);
    assert_int_equal(o.dat.p[4 + 24 + 3], 0);
    out_free(&o);
}

/* A WAV in memory (memfd): 16-bit, 8-bit or 24-bit PCM of the given 16-bit samples. */
static int wav_fd(const int16_t *pcm, int channels, int rate, int bits, int64_t frames, int64_t lie)
{
    int bytes = bits / 8;
    uint32_t data = (uint32_t)(frames * channels * bytes);
    unsigned char h[44];
    memcpy(h, "RIFF", 4);
    uint32_t riff = 36 + data + (data & 1);
    for (int i = 0; i < 4; i++)
        h[4 + i] = (unsigned char)(riff >> (8 * i));
    memcpy(h + 8, "WAVEfmt \x10\0\0\0\x01\0", 14);
    h[22] = (unsigned char)channels;
    h[23] = 0;
    uint32_t fields[] = {(uint32_t)rate, (uint32_t)(rate * channels * bytes)};
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < 4; i++)
            h[24 + 4 * f + i] = (unsigned char)(fields[f] >> (8 * i));
    h[32] = (unsigned char)(channels * bytes);
    h[33] = 0;
    h[34] = (unsigned char)bits;
    h[35] = 0;
    memcpy(h + 36, "data", 4);
    uint32_t declared = data + (uint32_t)lie;
    for (int i = 0; i < 4; i++)
        h[40 + i] = (unsigned char)(declared >> (8 * i));
    int fd = memfd_create("peaks-wav", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, h, 44), 44);
    for (int64_t i = 0; i < frames * channels; i++) {
        unsigned char b[3];
        int n = bytes;
        if (bits == 8) {
            b[0] = (unsigned char)((pcm[i] >> 8) + 128);
        } else if (bits == 16) {
            b[0] = (unsigned char)pcm[i];
            b[1] = (unsigned char)(pcm[i] >> 8);
        } else {
            b[0] = 0x5a; /* low bits below the 16 that peaks keep */
            b[1] = (unsigned char)pcm[i];
            b[2] = (unsigned char)(pcm[i] >> 8);
        }
        assert_int_equal(write(fd, b, (size_t)n), n);
    }
    if (data & 1)
        assert_int_equal(write(fd, "", 1), 1);
    return fd;
}

/* From a stored WAV: the same bytes as feeding the samples, at 8, 16 and 24 bits. */
static void test_from_wav(void **state)
{
    (void)state;
    enum { FRAMES = 5001 };
    static int16_t pcm[FRAMES * 2], coarse[FRAMES * 2];
    for (int i = 0; i < FRAMES * 2; i++) {
        pcm[i] = (int16_t)lrint(30000 * sin(i * 0.01) * cos(i * 0.0003));
        coarse[i] = (int16_t)(pcm[i] & ~0xff); /* what an 8-bit file holds */
    }
    const int bits[] = {16, 24, 8};
    for (int ch = 1; ch <= 2; ch++) {
        for (size_t b = 0; b < 3; b++) {
            const int16_t *src = bits[b] == 8 ? coarse : pcm;
            int fd = wav_fd(src, ch, 22050, bits[b], FRAMES, 0);
            struct out want, got;
            compute(&want, src, ch, 22050, 300, FRAMES, 0);
            out_init(&got);
            assert_int_equal(recd_peaks_from_wav(fd, 300, &got.dat, &got.json), 0);
            assert_int_equal(got.dat.len, want.dat.len);
            assert_memory_equal(got.dat.p, want.dat.p, want.dat.len);
            assert_int_equal(got.json.len, want.json.len);
            assert_memory_equal(got.json.p, want.json.p, want.json.len);
            out_free(&want);
            out_free(&got);
            close(fd);
        }
    }
}

static void test_from_wav_refuses(void **state)
{
    (void)state;
    static int16_t pcm[1000];
    struct out o;
    out_init(&o);
    recd_buf_adds(&o.dat, "a");
    recd_buf_adds(&o.json, "b");
    /* A header that claims more samples than the file has: refused by the probe. */
    int fd = wav_fd(pcm, 1, 8000, 16, 1000, 2000);
    assert_int_equal(recd_peaks_from_wav(fd, 256, &o.dat, &o.json), RECD_E_BAD_INPUT);
    close(fd);
    /* Not a WAV at all. */
    fd = memfd_create("peaks-junk", MFD_CLOEXEC);
    assert_int_equal(write(fd, "RIFF\0\0\0\0WAVEjunk", 16), 16);
    assert_int_equal(recd_peaks_from_wav(fd, 256, &o.dat, &o.json), RECD_E_BAD_INPUT);
    close(fd);
    /* A SamplesPerPixel out of range. */
    fd = wav_fd(pcm, 1, 8000, 16, 1000, 0);
    assert_int_equal(recd_peaks_from_wav(fd, 2, &o.dat, &o.json), RECD_E_BAD_INPUT);
    close(fd);
    assert_buf(&o.dat, "a");
    assert_buf(&o.json, "b");
    out_free(&o);
}

/* The reader accepts what the writer makes and audiowaveform's version 1 and 16-bit files, and
 * nothing whose size or fields disagree. */
static void test_dat_parse(void **state)
{
    (void)state;
    static int16_t pcm[2 * 700];
    for (int i = 0; i < 2 * 700; i++)
        pcm[i] = (int16_t)(i * 37);
    struct out o;
    compute(&o, pcm, 2, 44100, 64, 700, 0);
    struct recd_peaks_info info;
    assert_int_equal(recd_peaks_dat_parse(o.dat.p, o.dat.len, &info), 0);
    assert_int_equal(info.version, 2);
    assert_int_equal(info.bits, 8);
    assert_int_equal(info.sample_rate, 44100);
    assert_int_equal(info.samples_per_pixel, 64);
    assert_int_equal(info.length, 11);
    assert_int_equal(info.channels, 2);
    assert_int_equal(info.data_offset, 24);
    /* One byte more or less, a flag bit, a version, a channel count: refused. */
    assert_int_equal(recd_peaks_dat_parse(o.dat.p, o.dat.len - 1, &info), -1);
    recd_buf_addc(&o.dat, 0);
    assert_int_equal(recd_peaks_dat_parse(o.dat.p, o.dat.len, &info), -1);
    o.dat.len--;
    const struct {
        int offset;
        uint32_t value;
    } bad[] = {{0, 3}, {0, 0}, {4, 3}, {4, 0x80000001u}, {8, 0}, {12, 1}, {20, 0}, {20, 25}, {16, 12}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char copy[24 + 44];
        assert_int_equal(o.dat.len, sizeof copy);
        memcpy(copy, o.dat.p, sizeof copy);
        for (int b = 0; b < 4; b++)
            copy[bad[i].offset + b] = (unsigned char)(bad[i].value >> (8 * b));
        assert_int_equal(recd_peaks_dat_parse(copy, sizeof copy, &info), -1);
    }
    out_free(&o);

    /* Version 1, 16-bit, 2 pixels: 20 + 2 * 2 * 2 bytes. */
    unsigned char v1[28] = {1, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x1f, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0};
    assert_int_equal(recd_peaks_dat_parse(v1, sizeof v1, &info), 0);
    assert_int_equal(info.version, 1);
    assert_int_equal(info.bits, 16);
    assert_int_equal(info.channels, 1);
    assert_int_equal(info.length, 2);
    assert_int_equal(info.data_offset, 20);
    assert_int_equal(recd_peaks_dat_parse(v1, 19, &info), -1);
    assert_int_equal(recd_peaks_dat_parse(v1, 0, &info), -1);
    /* Version 2 needs its channels field. */
    v1[0] = 2;
    assert_int_equal(recd_peaks_dat_parse(v1, 20, &info), -1);
}

static void test_suffix(void **state)
{
    (void)state;
    char s[RECD_PEAKS_SUFFIX_MAX];
    int spp, json;
    recd_peaks_suffix(s, 256, 0);
    assert_string_equal(s, ".peaks256.dat");
    recd_peaks_suffix(s, RECD_PEAKS_SPP_MAX, 1);
    assert_string_equal(s, ".peaks65536.json");
    assert_int_equal(recd_peaks_suffix_parse(s, &spp, &json), 0);
    assert_int_equal(spp, 65536);
    assert_int_equal(json, 1);
    assert_int_equal(recd_peaks_suffix_parse(".peaks32.dat", &spp, &json), 0);
    assert_int_equal(spp, 32);
    assert_int_equal(json, 0);
    const char *bad[] = {".peaks31.dat",   ".peaks65537.dat",   ".peaks0256.dat", ".peaks256",
                         ".peaks256.",     ".peaks.dat",        ".peaks256.DAT",  ".peaks256.dat ",
                         ".peaks+256.dat", ".peaks1234567.dat", ".wav",           "",
                         ".peaks256.jsonx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(recd_peaks_suffix_parse(bad[i], &spp, &json), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_noise_any_chunking),
        cmocka_unit_test(test_sine_amplitude_two_channels),
        cmocka_unit_test(test_begin_refuses),
        cmocka_unit_test(test_from_wav),
        cmocka_unit_test(test_from_wav_refuses),
        cmocka_unit_test(test_dat_parse),
        cmocka_unit_test(test_suffix),
    };
    return cmocka_run_group_tests_name("peaks", tests, NULL, NULL);
}
