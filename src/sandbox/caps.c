/*
 * caps.c - the target runs with no capabilities at all: an empty bounding
 * and ambient set, SECBIT_NOROOT locked (so that an execve as uid 0, which
 * is what root outside maps to inside, grants none), and empty effective,
 * permitted and inheritable sets. Done before no-new-privs and Landlock.
 */
#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

static int
cap_get(struct __user_cap_data_struct d[2])
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    return (int)syscall(SYS_capget, &h, d);
}

static int
cap_set(struct __user_cap_data_struct d[2])
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    return (int)syscall(SYS_capset, &h, d);
}

int
sb_caps_drop_all(void)
{
    struct __user_cap_data_struct d[2] = {{0}};
    if (cap_get(d) != 0)
        return -1;
    int none = (d[0].effective | d[0].permitted | d[1].effective |
                d[1].permitted) == 0;
    if (none && geteuid() != 0)
        return 0; /* nothing to drop, and execve grants nothing */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL)
                break; /* past the last capability */
            return -1;
        }
    }
    unsigned long bits =
        SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
        SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0)
        return -1;
    struct __user_cap_data_struct z[2] = {{0}};
    return cap_set(z);
}
