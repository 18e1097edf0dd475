#ifndef RECD_SERVICE_BACKUP_INTERNAL_H
#define RECD_SERVICE_BACKUP_INTERNAL_H

/* Shared by backup.c and backup_restore.c, and nothing else. */

/** Copies all of `in` (from its current offset to its end) to `out`. 0, or -1 with errno set. */
int recd_backup_copy_fd(int in, int out);

#endif
