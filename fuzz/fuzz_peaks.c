/* Waveform peaks of any bytes taken as a stored WAV (media/peaks.h): a file the probe accepts
 * gives a .dat that the reader accepts with the file's own rate, channels and the expected
 * length, a min <= max in every pair, and a JSON with the same values; anything else is refused
 * with both outputs untouched. */
#include "core/buf.h"
#include "media/peaks.h"
#include "media/wav.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void check(const struct recd_wav_info *w, int spp, const struct recd_buf *dat,
                  const struct recd_buf *json)
{
    struct recd_peaks_info info;
    if (recd_peaks_dat_parse(dat->p, dat->len, &info) != 0 || info.version != 2 || info.bits != 8 ||
        info.channels != w->channels || info.sample_rate != w->sample_rate || info.samples_per_pixel != spp ||
        (int64_t)info.length != (w->frames + spp - 1) / spp)
        __builtin_trap();
    const signed char *v = (const signed char *)dat->p + info.data_offset;
    size_t n = (size_t)info.length * (size_t)info.channels * 2;
    for (size_t i = 0; i < n; i += 2)
        if (v[i] > v[i + 1])
            __builtin_trap();
    const char *s = strstr(json->p, "\"data\":[");
    if (s == NULL || json->len < 2 || memcmp(json->p + json->len - 2, "]}", 2) != 0)
        __builtin_trap();
    s += 8;
    for (size_t i = 0; i < n; i++) {
        char *e;
        long x = strtol(s, &e, 10);
        if (e == s || x != v[i] || (*e != ',' && *e != ']'))
            __builtin_trap();
        s = e + 1;
    }
    /* After the last value's ']' (or, with none, at the ']' itself), only the '}' is left. */
    if (s != json->p + json->len - (n ? 1 : 2))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-peaks", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        struct recd_wav_info w;
        char why[200];
        /* The size picks SamplesPerPixel, so one input explores one of many. */
        int spp = RECD_PEAKS_SPP_MIN + (int)(size % 997);
        struct recd_buf dat, json;
        recd_buf_init(&dat, 0);
        recd_buf_init(&json, 0);
        recd_buf_adds(&dat, "d");
        recd_buf_adds(&json, "j");
        int probed = recd_wav_probe(fd, &w, why, sizeof why) == 0;
        if (!probed || w.frames <= 96000) {
            int rc = recd_peaks_from_wav(fd, spp, &dat, &json);
            if (rc != 0 && (strcmp(dat.p, "d") != 0 || strcmp(json.p, "j") != 0))
                __builtin_trap();
            if (rc == 0) {
                if (!probed)
                    __builtin_trap();
                struct recd_buf d2 = {dat.p + 1, dat.len - 1, 0}, j2 = {json.p + 1, json.len - 1, 0};
                check(&w, spp, &d2, &j2);
            }
        }
        recd_buf_free(&dat);
        recd_buf_free(&json);
    }
    close(fd);
    return 0;
}
