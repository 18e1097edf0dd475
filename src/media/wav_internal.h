#ifndef RECD_MEDIA_WAV_INTERNAL_H
#define RECD_MEDIA_WAV_INTERNAL_H

#include <sndfile.h>
#include <stdint.h>

/*
 * Shared by the media modules that read WAVs through libsndfile (wav.c probes, transcode.c
 * encodes): libsndfile's virtual I/O over pread(), so that the caller's file offset never moves.
 */

struct recd_wav_vio {
    int fd;
    sf_count_t pos;
    sf_count_t len;
    const unsigned char *head; /* when not NULL, the file's first head_len bytes, read already */
    sf_count_t head_len;
};

/**
 * Opens the `len`-byte file at `fd` for reading with libsndfile. `v` is the I/O state and must
 * outlive the returned handle; `info` is filled by libsndfile. NULL when libsndfile refuses the
 * file (sf_strerror(NULL) says why).
 */
SNDFILE *recd_wav_sf_open(struct recd_wav_vio *v, int fd, int64_t len, SF_INFO *info);

#endif
