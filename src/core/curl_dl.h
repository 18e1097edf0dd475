#ifndef RECD_CORE_CURL_DL_H
#define RECD_CORE_CURL_DL_H

/**
 * Loads libcurl now rather than at its first call (core/dl.h): 0, or RECD_E_UNAVAILABLE after
 * logging why. Webhooks (voice), the S3 media store, the mirror and external STT engines all use
 * libcurl, so its stand-ins live here, below all of them.
 */
int recd_curl_dl_load(void);

#endif
