/* WAV headers: any bytes as a file to import; accepted files also decode and encode. */
#include "core/buf.h"
#include "media/transcode.h"
#include "media/wav.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-wav", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        struct recd_wav_info info;
        char why[200];
        if (recd_wav_probe(fd, &info, why, sizeof why) == 0) {
            if (info.channels < 1 || info.channels > 2 || info.file_size != (int64_t)size)
                __builtin_trap();
            /* Small accepted files only, so a run stays fast. */
            if (info.frames <= 48000) {
                struct recd_buf out;
                recd_buf_init(&out, 0);
                recd_mp3_encode(fd, &out);
                recd_buf_reset(&out);
                if (info.channels == 2)
                    recd_wav_downmix(fd, &out);
                recd_buf_free(&out);
            }
        }
    }
    close(fd);
    return 0;
}
