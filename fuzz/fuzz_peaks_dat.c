/* Waveform .dat files read back (media/peaks.h): any bytes; an accepted file's header must
 * describe exactly the bytes that follow it, and its values must be readable to the end. */
#include "media/peaks.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_peaks_info info;
    if (recd_peaks_dat_parse(data, size, &info) != 0)
        return 0;
    size_t bytes = (size_t)info.bits / 8;
    if ((info.version != 1 && info.version != 2) || (bytes != 1 && bytes != 2) || info.channels < 1 ||
        info.channels > 24 || (info.version == 1 && info.channels != 1) || info.samples_per_pixel < 2 ||
        info.sample_rate < 1 || info.data_offset != (info.version == 2 ? 24u : 20u) ||
        info.data_offset + (size_t)info.length * (size_t)info.channels * 2 * bytes != size)
        __builtin_trap();
    /* Touch every value, as a reader drawing the waveform would. */
    unsigned sum = 0;
    for (size_t i = info.data_offset; i < size; i++)
        sum += data[i];
    volatile unsigned sink = sum;
    (void)sink;
    return 0;
}
