/*
 * ns.c - the namespaces: clone() into new user, network, pid, mount, IPC
 * and UTS namespaces (fork-like, no new stack), the id maps written by the
 * supervisor, and what the child sets up inside before anything else:
 * private mounts, a fresh /proc for its pid namespace, and lo when
 * loopback is wanted. The network namespace has no other device, so
 * nothing outside the machine (or on its loopback) can be reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

#define SB_NS_FLAGS                                              \
    (CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS | \
     CLONE_NEWIPC | CLONE_NEWUTS)

pid_t
sb_ns_clone(void)
{
    /* x86_64 and aarch64 order: flags, stack, parent_tid, child_tid, tls.
       A NULL stack makes it fork-like. */
    return (pid_t)syscall(SYS_clone, (unsigned long)(SB_NS_FLAGS | SIGCHLD), 0,
                          0, 0, 0);
}

static int
write_file(pid_t pid, const char *name, const char *text)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/%s", (int)pid, name);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    ssize_t k = write(fd, text, n);
    int e = errno;
    close(fd);
    errno = e;
    return k == (ssize_t)n ? 0 : -1;
}

int
sb_ns_write_maps(pid_t pid, uid_t uid, gid_t gid)
{
    /* The same ids inside, so that file ownership and getpwuid() behave;
       setgroups must be denied before an unprivileged gid_map. */
    char m[64];
    if (write_file(pid, "setgroups", "deny") != 0)
        return -1;
    snprintf(m, sizeof(m), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if (write_file(pid, "uid_map", m) != 0)
        return -1;
    snprintf(m, sizeof(m), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    return write_file(pid, "gid_map", m);
}

int
sb_ns_setup_mounts(int *proc_mounted)
{
    *proc_mounted = 0;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return -1;
    /* Without a /proc of its own the target would see the host's
       processes. Not fatal: the kernel refuses it when parts of /proc
       are hidden by other mounts; the report says so. */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) == 0)
        *proc_mounted = 1;
    return 0;
}

int
sb_ns_loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(s);
    errno = e;
    return rc;
}
