#include "api/api_internal.h"

#include "core/error.h"
#include "core/log.h"
#include "core/time.h"
#include "media/peaks.h"
#include "service/service.h"

#include <stdio.h>
#include <string.h>

/*
 * GET /recd/Accounts/AC…/Recordings/RE…/Peaks.json and Peaks.dat (contract §10): a recording's
 * waveform in audiowaveform's formats (media/peaks.h), at SamplesPerPixel (RECD_PEAKS_SPP_MIN to
 * _MAX, default RECD_PEAKS_SPP_DEFAULT). Made on the first request from the stored WAV, both
 * formats at once, and kept as derived media like the MP3 (service/derived.c); served from the
 * file with the media's validators, conditional requests and Range.
 */

#define CT_DAT "application/octet-stream"

/* SamplesPerPixel: absent gives the default; else 1 to 6 digits, no sign, within the range. */
static int spp_of(struct call *c, int *spp)
{
    const struct recd_str *v = recd_query_get(&c->qs, "SamplesPerPixel");
    *spp = RECD_PEAKS_SPP_DEFAULT;
    if (!v)
        return 0;
    long n = 0;
    int ok = v->n >= 1 && v->n <= 6;
    for (size_t i = 0; ok && i < v->n; i++) {
        ok = v->p[i] >= '0' && v->p[i] <= '9';
        n = n * 10 + (v->p[i] - '0');
    }
    if (!ok || n < RECD_PEAKS_SPP_MIN || n > RECD_PEAKS_SPP_MAX) {
        char why[96];
        snprintf(why, sizeof why, "SamplesPerPixel must be a whole number from %d to %d", RECD_PEAKS_SPP_MIN,
                 RECD_PEAKS_SPP_MAX);
        recd_call_fail(c, RECD_E_BAD_PARAM, why);
        return RECD_E_BAD_PARAM;
    }
    *spp = (int)n;
    return 0;
}

void recd_peaks_serve(struct call *c, const struct recd_recording *r, int json)
{
    int spp, fd;
    int64_t size;
    if (spp_of(c, &spp) < 0)
        return;
    /* In progress, absent or failed: no audio, so no waveform (yet), as for the media. */
    if (!recd_recording_has_media(r)) {
        recd_call_fail(c, RECD_E_NOT_FOUND, NULL);
        return;
    }
    char suffix[RECD_PEAKS_SUFFIX_MAX];
    recd_peaks_suffix(suffix, spp, json);
    int rc = recd_media_open(c->st, c->rq->blob, r, suffix, &fd, &size);
    if (rc < 0) {
        if (rc != RECD_E_NOT_FOUND && rc != RECD_E_UNAVAILABLE)
            rc = RECD_E_INTERNAL; /* logged where it happened */
        recd_call_fail(c, rc, NULL);
        return;
    }
    struct recd_response *rs = c->rs;
    /* Made once from a WAV that never changes: the WAV's digest, the format and SamplesPerPixel
     * name the bytes exactly, so the validator is strong. */
    snprintf(rs->etag, sizeof rs->etag, "\"%.32s-peaks%d-%s\"", r->media_sha256, spp, json ? "json" : "dat");
    recd_time_http(r->created_us, rs->last_modified);
    rs->accept_ranges = 1;
    rs->content_type = json ? RECD_CT_JSON : CT_DAT;
    recd_call_send_file(c, fd, size, r->created_us / RECD_US_PER_SEC);
}
