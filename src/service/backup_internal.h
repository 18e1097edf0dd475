#ifndef RECD_SERVICE_BACKUP_INTERNAL_H
#define RECD_SERVICE_BACKUP_INTERNAL_H

#include <stdint.h>

/* Shared by backup.c and backup_restore.c, and nothing else. */

/** Copies all of `in` (from its current offset to its end) to `out`. 0, or -1 with errno set. */
int recd_backup_copy_fd(int in, int out);

/** 1 when a progress line is due on `out`: there is one to draw on, and this is the last line or
 * the previous was drawn long enough ago (then *last_draw_us is now); else 0. */
int recd_backup_progress_due(const void *out, int64_t *last_draw_us, int last);

#endif
