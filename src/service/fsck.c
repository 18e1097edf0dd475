#include "service/service.h"

#include "core/error.h"
#include "core/file.h"
#include "media/peaks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/*
 * fsck: every completed recording's media is present with the size and digest that were stored,
 * every stored file belongs to a live recording, every kept waveform is what its recording's
 * audio gives, and no temporary file is left over. Recordings
 * that are not completed (in progress, absent, failed) have no media to check; a recording in
 * progress may already have some written, which is its own and not an orphan.
 */

struct fsck_state {
    struct recd_ctx *ctx;
    FILE *out;
    struct recd_fsck_report *rep;
    int repair;
};

static int fsck_recording(void *p, const struct recd_recording *r)
{
    struct fsck_state *s = p;
    if (!recd_recording_has_media(r))
        return 0;
    s->rep->recordings++;
    char key[RECD_MEDIA_KEY_MAX], hex[65];
    int fd;
    int64_t size;
    recd_media_key(key, r->sid, ".wav");
    int rc = s->ctx->blob->ops->open(s->ctx->blob, key, &fd, &size);
    if (rc < 0) {
        fprintf(s->out, "damaged: recording %s: media %s\n", r->sid,
                rc == RECD_E_NOT_FOUND ? "missing" : "unreadable");
        s->rep->damaged++;
        return 0;
    }
    if (size != r->media_size) {
        fprintf(s->out, "damaged: recording %s: media is %lld bytes, expected %lld\n", r->sid,
                (long long)size, (long long)r->media_size);
        s->rep->damaged++;
    } else if (recd_file_sha256(fd, size, hex) < 0 || strcmp(hex, r->media_sha256) != 0) {
        fprintf(s->out, "damaged: recording %s: media content differs from what was stored\n", r->sid);
        s->rep->damaged++;
    }
    close(fd);
    return 0;
}

/* 1 when the stored file `key` (`size` bytes) holds exactly `want`; 0 when it differs or cannot
 * be read. */
static int blob_equals(struct recd_blob *bl, const char *key, const struct recd_buf *want)
{
    int fd;
    int64_t size;
    if (bl->ops->open(bl, key, &fd, &size) < 0)
        return 0;
    int same = 0;
    if (size == (int64_t)want->len) {
        char *got = malloc(want->len ? want->len : 1);
        same = got && recd_read_exact(fd, got, want->len) == 0 && memcmp(got, want->p, want->len) == 0;
        free(got);
    }
    close(fd);
    return same;
}

/*
 * A waveform of a live recording must be what the peaks pass makes of its WAV now, byte for
 * byte. One that differs is derived media gone bad, not acknowledged data: it is reported and,
 * with --repair, removed (the next request makes it again), but it is not damage. A WAV that
 * cannot be read is the recording's damage, already reported.
 */
static void fsck_peaks(struct fsck_state *s, const char *key, const struct recd_recording *r)
{
    int spp, json, fd;
    int64_t size;
    char wav[RECD_MEDIA_KEY_MAX];
    if (recd_peaks_suffix_parse(key + RECD_SID_LEN, &spp, &json) < 0)
        return;
    struct recd_blob *bl = s->ctx->blob;
    recd_media_key(wav, r->sid, ".wav");
    if (bl->ops->open(bl, wav, &fd, &size) < 0)
        return;
    struct recd_buf out[2];
    recd_buf_init(&out[0], 0);
    recd_buf_init(&out[1], 0);
    if (recd_peaks_from_wav(fd, spp, &out[0], &out[1]) == 0 && !blob_equals(bl, key, &out[json])) {
        s->rep->derived++;
        fprintf(s->out, "damaged derived: media %s does not match its recording%s\n", key,
                s->repair ? " (removed; made again when asked for)" : "");
        if (s->repair && bl->ops->remove(bl, key) == 0)
            s->rep->repaired++;
    }
    close(fd);
    recd_buf_free(&out[0]);
    recd_buf_free(&out[1]);
}

static int fsck_blob(void *p, const char *key, int64_t size)
{
    (void)size;
    struct fsck_state *s = p;
    char sid[RECD_SID_LEN + 1];
    struct recd_recording r;
    memcpy(sid, key, RECD_SID_LEN);
    sid[RECD_SID_LEN] = '\0';
    int rc = s->ctx->store->ops->recording_get(s->ctx->store, sid, &r);
    if (rc == 0 && recd_recording_has_media(&r)) {
        fsck_peaks(s, key, &r);
        return 0;
    }
    if (rc == 0 && recd_recording_in_progress(&r))
        return 0;
    if (rc < 0 && rc != RECD_E_NOT_FOUND)
        return rc;
    s->rep->orphans++;
    fprintf(s->out, "orphan: media %s has no live recording%s\n", key, s->repair ? " (removed)" : "");
    if (s->repair && s->ctx->blob->ops->remove(s->ctx->blob, key) == 0)
        s->rep->repaired++;
    return 0;
}

static int fsck_leftover(void *p, const char *name, int64_t size)
{
    struct fsck_state *s = p;
    s->rep->leftovers++;
    fprintf(s->out, "leftover: %s (%lld bytes) from an interrupted write%s\n", name, (long long)size,
            s->repair ? " (removed)" : "");
    return 0;
}

int recd_fsck(struct recd_ctx *ctx, int repair, void *out, struct recd_fsck_report *rep)
{
    struct fsck_state s = {ctx, out, rep, repair};
    memset(rep, 0, sizeof *rep);
    int rc = repair ? recd_media_guard(ctx->store, ctx->blob, RECD_BLOB_REPAIRING) : 0;
    if (rc < 0)
        return rc;
    rc = ctx->store->ops->recording_scan(ctx->store, fsck_recording, &s);
    if (rc == 0)
        rc = ctx->blob->ops->scan(ctx->blob, fsck_blob, &s);
    if (rc == 0)
        rc = ctx->blob->ops->scan_leftovers(ctx->blob, fsck_leftover, &s);
    if (rc == 0 && repair) {
        int64_t n = 0;
        rc = ctx->blob->ops->remove_leftovers(ctx->blob, 0, &n);
        rep->repaired += n;
    }
    if (repair)
        recd_media_guard(ctx->store, ctx->blob, RECD_BLOB_RELEASE);
    return rc;
}
