#ifndef RECD_STT_SPHINX_DL_H
#define RECD_STT_SPHINX_DL_H

/**
 * Loads PocketSphinx and sphinxbase now rather than at their first call (core/dl.h): 0, or
 * RECD_E_UNAVAILABLE after logging which one is missing and why.
 */
int recd_sphinx_dl_load(void);

#endif
