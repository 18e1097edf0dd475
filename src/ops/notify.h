#ifndef RECD_OPS_NOTIFY_H
#define RECD_OPS_NOTIFY_H

#include <stdint.h>

/*
 * systemd's notify protocol (sd_notify(3)), written out rather than linked from libsystemd: it is
 * one datagram to the socket named by $NOTIFY_SOCKET, and recd needs three of its messages
 * (READY=1, WATCHDOG=1, STOPPING=1) and STATUS=. docs/operations.md says why.
 */

/**
 * Sends `state` ("READY=1", "STATUS=…", several separated by newlines) to $NOTIFY_SOCKET. 0 when
 * sent or when there is no such socket (not run by systemd); -1 with errno when sending failed.
 */
int recd_notify(const char *state);

/**
 * The watchdog interval systemd asks for ($WATCHDOG_USEC, when $WATCHDOG_PID is unset or this
 * process), in microseconds; 0 when there is none. Ping at half of it.
 */
int64_t recd_notify_watchdog_us(void);

#endif
