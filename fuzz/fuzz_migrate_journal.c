/* DATA/migrate.journal, read back when `recd migrate` resumes: recd writes it, but the folder may
 * have been edited or the file cut by a crash, so what the parse lets through must have the shape
 * recd writes, and the offset it keeps must end a whole line. */
#include "core/sid.h"
#include "media/blob.h"
#include "service/migrate_internal.h"

#include <stdint.h>
#include <string.h>

static int add(void *ctx, const char *key, int64_t size)
{
    (void)ctx;
    if (size < 0 || !recd_blob_key_valid(key))
        __builtin_trap();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct recd_migrate_journal_head h;
    size_t at = 0, good = 0;
    if (recd_migrate_journal_head(p, size, &h, &at) == 0) {
        if (!recd_sid_valid(h.run, strlen(h.run), "MG", 1) || strlen(h.fingerprint) != 64 ||
            h.targets[0] == '\0' || at == 0 || at > size || p[at - 1] != '\n')
            __builtin_trap();
    } else {
        at = 0; /* not a journal: the lines alone, as if after a header */
    }
    if (recd_migrate_journal_lines(p + at, size - at, add, NULL, &good) != 0)
        __builtin_trap();
    if (good > size - at || (good > 0 && p[at + good - 1] != '\n'))
        __builtin_trap();
    return 0;
}
