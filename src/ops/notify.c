#include "ops/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int recd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    /* A path, or "@name": a socket in the abstract namespace (a leading NUL). */
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof sa.sun_path) {
        errno = EINVAL;
        return -1;
    }
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    ssize_t w;
    do
        w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    while (w < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    errno = e;
    return w < 0 ? -1 : 0;
}

/* A whole decimal number, or -1. */
static long long number(const char *s)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
        return -1;
    return strtoll(s, NULL, 10);
}

int64_t recd_notify_watchdog_us(void)
{
    long long us = number(getenv("WATCHDOG_USEC"));
    if (us <= 0)
        return 0;
    const char *pid = getenv("WATCHDOG_PID");
    if (pid && *pid && number(pid) != (long long)getpid())
        return 0; /* meant for another process of the unit */
    return (int64_t)us;
}
