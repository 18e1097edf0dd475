#include "voice/voice_dl.h"
#include "core/dl.h"

#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <stdint.h>

/* spandsp's headers assume the order its umbrella header includes them in. */
#include <spandsp/telephony.h>
#include <spandsp/logging.h>
#include <spandsp/super_tone_rx.h>
#include <spandsp/dtmf.h>

/*
 * espeak-ng and spandsp on first use (core/dl.h): only calls use them, and espeak-ng alone brings
 * PulseAudio, ALSA and X11 libraries into a process. Every function recd calls is listed once
 * here; one that is not fails at link time.
 */
#define ESPEAK_FNS(X, V)                                                                                     \
    V(void, espeak_SetSynthCallback, (t_espeak_callback * cb), (cb))                                         \
    X(int, espeak_ng_GetSampleRate, (void), ())                                                              \
    X(espeak_ng_STATUS, espeak_ng_Initialize, (espeak_ng_ERROR_CONTEXT * ctx), (ctx))                        \
    X(espeak_ng_STATUS, espeak_ng_InitializeOutput, (espeak_ng_OUTPUT_MODE mode, int len, const char *dev),  \
      (mode, len, dev))                                                                                      \
    V(void, espeak_ng_InitializePath, (const char *path), (path))                                            \
    X(espeak_ng_STATUS, espeak_ng_SetVoiceByProperties, (espeak_VOICE * v), (v))                             \
    X(espeak_ng_STATUS, espeak_ng_Synthesize,                                                                \
      (const void *text, size_t size, unsigned int pos, espeak_POSITION_TYPE pos_type, unsigned int end,     \
       unsigned int flags, unsigned int *id, void *user),                                                    \
      (text, size, pos, pos_type, end, flags, id, user))

#define SPANDSP_FNS(X, V)                                                                                    \
    X(int, dtmf_rx, (dtmf_rx_state_t * s, const int16_t amp[], int samples), (s, amp, samples))              \
    X(int, dtmf_rx_free, (dtmf_rx_state_t * s), (s))                                                         \
    X(dtmf_rx_state_t *, dtmf_rx_init, (dtmf_rx_state_t * s, digits_rx_callback_t cb, void *user),           \
      (s, cb, user))

enum { ESPEAK_FNS(RECD_DL_ENUM, RECD_DL_ENUM) DL_ESPEAK_N };
enum { SPANDSP_FNS(RECD_DL_ENUM, RECD_DL_ENUM) DL_SPANDSP_N };

static const char *const espeak_names[] = {ESPEAK_FNS(RECD_DL_NAME, RECD_DL_NAME)};
static void *espeak_slots[DL_ESPEAK_N];
static struct recd_dl espeak_dl = {"libespeak-ng.so.1", "libespeak-ng1", espeak_names,
                                   espeak_slots,        DL_ESPEAK_N,     0};

static const char *const spandsp_names[] = {SPANDSP_FNS(RECD_DL_NAME, RECD_DL_NAME)};
static void *spandsp_slots[DL_SPANDSP_N];
static struct recd_dl spandsp_dl = {"libspandsp.so.2", "libspandsp2", spandsp_names,
                                    spandsp_slots,     DL_SPANDSP_N,  0};

#define X(ret, name, params, args) RECD_DL_RET(espeak_dl, ret, name, params, args)
#define V(ret, name, params, args) RECD_DL_VOID(espeak_dl, ret, name, params, args)
ESPEAK_FNS(X, V)
#undef X
#undef V
#define X(ret, name, params, args) RECD_DL_RET(spandsp_dl, ret, name, params, args)
SPANDSP_FNS(X, X)
#undef X

int recd_voice_dl_load(void)
{
    int rc = recd_dl_load(&espeak_dl);
    int rc2 = recd_dl_load(&spandsp_dl);
    return rc < 0 ? rc : rc2;
}
