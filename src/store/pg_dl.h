#ifndef RECD_STORE_PG_DL_H
#define RECD_STORE_PG_DL_H

/**
 * Loads libpq now rather than at its first call (core/dl.h): 0, or RECD_E_UNAVAILABLE after
 * logging why. Only a postgres:// store uses it.
 */
int recd_pg_dl_load(void);

#endif
