#ifndef RECD_VOICE_VOICE_DL_H
#define RECD_VOICE_VOICE_DL_H

/**
 * Loads espeak-ng (<Say>) and spandsp (in-band DTMF) now rather than at their first call
 * (core/dl.h): 0, or RECD_E_UNAVAILABLE after logging which one is missing and why.
 */
int recd_voice_dl_load(void);

#endif
