/*
 * SDP offers as the SIP endpoint reads them: libre's decoder, then recd's choice of codec,
 * telephone-event and direction (src/voice/sip.c), then the answer's encoding.
 */
#include "voice/sip.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_sip_sdp_choice c;
    if (recd_sip_sdp_offer(data, size, &c) == 0) {
        /* What is accepted is always G.711, and an event type is a real RTP payload type. */
        if (c.pt != 0 && c.pt != 8)
            abort();
        if (c.event_pt < -1 || c.event_pt > 127)
            abort();
    }
    return 0;
}
