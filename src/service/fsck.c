#include "service/service.h"

#include "core/error.h"
#include "core/file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/*
 * fsck: every completed recording's media is present with the size and digest that were stored,
 * every stored file belongs to a live recording, and no temporary file is left over. Recordings
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

static int fsck_blob(void *p, const char *key, int64_t size)
{
    (void)size;
    struct fsck_state *s = p;
    char sid[RECD_SID_LEN + 1];
    struct recd_recording r;
    memcpy(sid, key, RECD_SID_LEN);
    sid[RECD_SID_LEN] = '\0';
    int rc = s->ctx->store->ops->recording_get(s->ctx->store, sid, &r);
    if (rc == 0 && (recd_recording_has_media(&r) || recd_recording_in_progress(&r)))
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
