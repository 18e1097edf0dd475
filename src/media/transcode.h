#ifndef RECD_MEDIA_TRANSCODE_H
#define RECD_MEDIA_TRANSCODE_H

#include "core/buf.h"

/*
 * Derived renditions of a stored recording: its MP3, and a mono downmix of a stereo WAV.
 * Both read the stored WAV through pread() only, so the caller's file offset never moves and
 * one descriptor may be shared by concurrent readers. Both stream in blocks of 4096 frames:
 * apart from `out`, memory stays bounded whatever the length of the recording.
 */

/**
 * Encodes the PCM WAV open at `fd` (any file recd_wav_probe accepts: 8/16/24/32-bit integer
 * PCM, 1–2 channels, 8–48 kHz) to a constant-bitrate MP3 with LAME, appending it to `out`.
 *
 * Sample rate: kept when MP3 has it (8, 11.025, 12, 16, 22.05, 24, 32, 44.1, 48 kHz); any other
 * rate is resampled by LAME to the next higher MP3 rate, so no bandwidth is lost.
 * Bitrate, by that output rate (Twilio's 32 kbit/s for 8 kHz mono):
 *
 *     output rate         mono        stereo (joint stereo)
 *     8, 11.025, 12 kHz   32 kbit/s   64 kbit/s
 *     16 kHz              48 kbit/s   96 kbit/s
 *     22.05 – 48 kHz      64 kbit/s   128 kbit/s
 *
 * (16–24 kHz mono cannot go lower: a frame must hold the 169-byte Info tag, or LAME drops it.)
 *
 * The output is deterministic (the same input gives the same bytes): no ID3 tag, and the first
 * frame is a LAME "Info" tag carrying the frame count, encoder delay and padding, so players
 * know the exact duration and can seek.
 *
 * Returns 0; RECD_E_BAD_INPUT when the file is not such a WAV or its samples cannot be read
 * to the end; RECD_E_INTERNAL when LAME fails (logged). On failure `out` is left as it was.
 */
int recd_mp3_encode(int fd, struct recd_buf *out);

/**
 * Downmixes the stereo PCM WAV open at `fd` to mono, appending a canonical WAV (a 44-byte
 * header: RIFF, a 16-byte PCM "fmt " chunk, then "data") to `out`. Sample rate and sample
 * format (8-bit unsigned, or 16/24/32-bit signed little-endian) are those of the input.
 *
 * Each output sample is the mean of the two channels, computed exactly at the source's bit
 * depth and rounded toward negative infinity: floor((L + R) / 2), which is the arithmetic
 * right shift of the sum by one. So L = 1000, R = -3001 gives -1001, and L = -1, R = 0 gives -1.
 * For 8-bit files the mean is taken of the signed values (byte - 128). An odd-length data
 * chunk (8-bit, odd frame count) is followed by the pad byte RIFF requires.
 *
 * Returns 0; RECD_E_BAD_INPUT when the file is not a WAV recd accepts, is mono, or its samples
 * cannot be read to the end. On failure `out` is left as it was.
 */
int recd_wav_downmix(int fd, struct recd_buf *out);

#endif
