/* A backup's manifest, which `recd restore` reads from a folder anyone may have edited: every
 * path it lets through must be one a backup writes, so that restore opens nothing else. */
#include "media/blob.h"
#include "service/backup.h"

#include <stdint.h>
#include <string.h>

static int check_file(void *ctx, const struct recd_manifest_file *f)
{
    (void)ctx;
    if (f->size < 0 || strlen(f->sha256) != 64 || strstr(f->path, "..") || f->path[0] == '/')
        __builtin_trap();
    if (strcmp(f->path, "recd.db") != 0 && strcmp(f->path, "seal.key") != 0 &&
        (strncmp(f->path, "media/", 6) != 0 || !recd_blob_key_valid(f->path + 12)))
        __builtin_trap();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_manifest_head head;
    char why[200];
    int rc = recd_backup_manifest_parse((const char *)data, size, &head, check_file, NULL, why, sizeof why);
    if (rc < 0 && why[0] == '\0')
        __builtin_trap();
    if (rc == 0 && (head.format != RECD_BACKUP_FORMAT || head.schema_version < 1))
        __builtin_trap();
    return 0;
}
