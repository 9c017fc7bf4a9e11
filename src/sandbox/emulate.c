/*
 * emulate.c - a connect() the policy allows is done by the supervisor on
 * the target's own socket (taken with pidfd_getfd), with the supervisor's
 * copy of the address it checked: another thread of the target cannot
 * swap the address after the check (reference B4, TOCTOU). The socket
 * keeps its network namespace, so a loopback connect stays inside the
 * sandbox's. A blocking socket is made non-blocking for the call, so the
 * supervisor never hangs on it longer than SB_CONNECT_WAIT_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

static int
finish_blocking(int s)
{
    struct pollfd p = {.fd = s, .events = POLLOUT};
    int r;
    do
        r = poll(&p, 1, (int)SB_CONNECT_WAIT_MS);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return ETIMEDOUT;
    if (r < 0)
        return errno;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return errno;
    return err;
}

int
sb_emulate_connect(int notify_fd,
                   uint64_t id,
                   int tid,
                   int tgid,
                   int fd,
                   const uint8_t *addr,
                   size_t len)
{
    /* A thread may have its own descriptor table (clone without
       CLONE_FILES): take the fd from the calling thread. */
    int pidfd =
        (int)syscall(SYS_pidfd_open, tid, tid == tgid ? 0 : PIDFD_THREAD);
    if (pidfd < 0)
        return EACCES;
    int s = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    int e = errno;
    close(pidfd);
    if (s < 0)
        return e == EBADF ? EBADF : EACCES;
    int rc;
    if (!sb_notif_id_valid(notify_fd, id)) { /* not that process any more */
        rc = EACCES;
        goto out;
    }
    int fl = fcntl(s, F_GETFL);
    int blocking = fl >= 0 && !(fl & O_NONBLOCK);
    if (blocking)
        fcntl(s, F_SETFL, fl | O_NONBLOCK);
    rc = connect(s, (const struct sockaddr *)addr, (socklen_t)len) == 0 ? 0
                                                                        : errno;
    if (blocking && rc == EINPROGRESS)
        rc = finish_blocking(s);
    if (blocking)
        fcntl(s, F_SETFL, fl);
out:
    close(s);
    return rc;
}
