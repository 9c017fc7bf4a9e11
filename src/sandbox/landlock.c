/*
 * landlock.c - the write wall: every write-ish filesystem right is
 * handled, and granted only beneath the allowed folders (and WRITE_FILE,
 * TRUNCATE on /dev/null); TCP bind/connect is handled with no rule (ABI
 * >= 4); abstract unix sockets and signals are scoped to the sandbox (ABI
 * >= 6). Reads and EXECUTE stay unhandled: the loader must read the
 * interpreter, its libraries and the model. Best effort by ABI, as the
 * kernel's landlock.rst recommends.
 *
 * Debian 12's linux-libc-dev (6.1) lacks the newer constants and struct
 * fields, so this file carries its own definitions of the stable UAPI.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule       445
#define SYS_landlock_restrict_self  446
#endif

struct sb_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

struct sb_ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH      1

#define LL_FS_WRITE_FILE  (1ull << 1)
#define LL_FS_REMOVE_DIR  (1ull << 4)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_CHAR   (1ull << 6)
#define LL_FS_MAKE_DIR    (1ull << 7)
#define LL_FS_MAKE_REG    (1ull << 8)
#define LL_FS_MAKE_SOCK   (1ull << 9)
#define LL_FS_MAKE_FIFO   (1ull << 10)
#define LL_FS_MAKE_BLOCK  (1ull << 11)
#define LL_FS_MAKE_SYM    (1ull << 12)
#define LL_FS_REFER       (1ull << 13) /* ABI 2 */
#define LL_FS_TRUNCATE    (1ull << 14) /* ABI 3 */

#define LL_NET_BIND_TCP    (1ull << 0) /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1)

#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL               (1ull << 1)

int
sb_landlock_abi(void)
{
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0,
                     LL_CREATE_RULESET_VERSION);
    return v > 0 ? (int)v : 0;
}

static int
add_path(int ruleset, const char *path, uint64_t access)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct sb_ll_path_beneath_attr pb = {.allowed_access = access,
                                         .parent_fd = fd};
    long rc =
        syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    errno = e;
    return rc == 0 ? 0 : -1;
}

int
sb_landlock_apply(int abi, char *const *allow, size_t nallow, int handle_tcp)
{
    struct sb_ll_ruleset_attr attr = {0};
    uint64_t fs = LL_FS_WRITE_FILE | LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE |
                  LL_FS_MAKE_CHAR | LL_FS_MAKE_DIR | LL_FS_MAKE_REG |
                  LL_FS_MAKE_SOCK | LL_FS_MAKE_FIFO | LL_FS_MAKE_BLOCK |
                  LL_FS_MAKE_SYM;
    if (abi >= 2)
        fs |= LL_FS_REFER;
    if (abi >= 3)
        fs |= LL_FS_TRUNCATE;
    attr.handled_access_fs = fs;
    if (abi >= 4 && handle_tcp)
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
    if (abi >= 6)
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
    /* The kernel accepts a larger struct when the extra fields are zero,
       but an ABI < 4 kernel wants exactly the fs field. */
    size_t size = abi >= 6   ? sizeof(attr)
                  : abi >= 4 ? 2 * sizeof(uint64_t)
                             : sizeof(uint64_t);
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0)
        return -1;
    int rc = -1;
    for (size_t i = 0; i < nallow; i++)
        if (add_path(rs, allow[i], fs) != 0)
            goto out;
    uint64_t devnull = LL_FS_WRITE_FILE | (abi >= 3 ? LL_FS_TRUNCATE : 0);
    if (add_path(rs, "/dev/null", devnull) != 0)
        goto out;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) /* already set */
        goto out;
    if (syscall(SYS_landlock_restrict_self, rs, 0) != 0)
        goto out;
    rc = 0;
out:;
    int e = errno;
    close(rs);
    errno = e;
    return rc;
}
