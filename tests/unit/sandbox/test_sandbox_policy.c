/*
 * test_policy.c - sb_decide() for each class, in enforce and monitor
 * mode, and the invariants of the syscall table.
 */
#define _GNU_SOURCE 1 /* clone flags, MAP_ANONYMOUS: as src/sandbox */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"

static char *allow[] = {"/tmp/out"};

static struct sb_ctx
ctx(int monitor)
{
    struct sb_ctx c = {.monitor = monitor,
                       .namespaces = 1,
                       .landlock = 1,
                       .first_tid = 100,
                       .allow = allow,
                       .nallow = 1};
    return c;
}

static struct sb_decoded *
dec(void)
{
    struct sb_decoded *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    return d;
}

static void
decide(const struct sb_ctx *c,
       int nr,
       int tid,
       const uint64_t *args,
       const struct sb_decoded *d,
       struct sb_verdict *v)
{
    const struct sb_sysinfo *si = sb_sys_lookup(nr);
    assert_non_null(si);
    struct sb_call call = {.id = 1, .tid = tid, .nr = nr};
    if (args != NULL)
        memcpy(call.args, args, sizeof(call.args));
    sb_decide(c, si, &call, d, v);
}

static void
test_table(void **state)
{
    (void)state;
    size_t n;
    const struct sb_sysinfo *t = sb_sys_table(&n);
    assert_true(n > 50);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].name);
        assert_ptr_equal(sb_sys_lookup(t[i].nr), &t[i]); /* unique */
        if (t[i].cls == SB_PRIV)
            assert_non_null(t[i].rule);
        assert_true(t[i].path < 6 && t[i].path2 < 6 && t[i].flags < 6);
    }
    assert_null(sb_sys_lookup(SYS_read));
    assert_null(sb_sys_lookup(-1));
    /* The chmod family by number, newer than glibc's table. */
    assert_non_null(sb_sys_lookup(452)); /* fchmodat2 */
    assert_non_null(sb_sys_lookup(463)); /* setxattrat */
    assert_non_null(sb_sys_lookup(466)); /* removexattrat */
}

static void
test_exec(void **state)
{
    (void)state;
    struct sb_ctx c = ctx(0);
    struct sb_decoded *d = dec();
    struct sb_verdict v;
    decide(&c, SYS_execve, 100, NULL, d, &v);
    assert_string_equal(v.rule, "exec.start");
    assert_int_equal(v.action, SB_CONTINUE);
    assert_false(v.policy_deny);
    /* From another thread, even before the first exec. */
    decide(&c, SYS_execve, 101, NULL, d, &v);
    assert_string_equal(v.rule, "process.exec");
    assert_int_equal(v.action, SB_FAIL);
    assert_int_equal(v.err, EPERM);
    c.exec_done = 1;
    decide(&c, SYS_execve, 100, NULL, d, &v);
    assert_string_equal(v.rule, "process.exec");
    assert_int_equal(v.action, SB_FAIL);
    uint64_t a[6] = {3, 0, 0, 0, AT_EMPTY_PATH, 0};
    decide(&c, SYS_execveat, 100, a, d, &v);
    assert_string_equal(v.rule, "exec.fileless");
    assert_int_equal(v.action, SB_FAIL);
    /* Monitor: recorded as refused by policy, but let through. */
    struct sb_ctx m = ctx(1);
    m.exec_done = 1;
    decide(&m, SYS_execve, 100, NULL, d, &v);
    assert_true(v.policy_deny);
    assert_int_equal(v.action, SB_CONTINUE);
    free(d);
}

static void
test_spawn(void **state)
{
    (void)state;
    struct sb_ctx c = ctx(0), m = ctx(1);
    struct sb_decoded *d = dec();
    struct sb_verdict v;
#ifdef SYS_fork
    decide(&c, SYS_fork, 100, NULL, d, &v);
    assert_string_equal(v.rule, "process.spawn");
    assert_int_equal(v.err, EAGAIN);
#endif
    uint64_t fork_flags[6] = {SIGCHLD};
    decide(&c, SYS_clone, 100, fork_flags, d, &v);
    assert_string_equal(v.rule, "process.spawn");
    assert_int_equal(v.action, SB_FAIL);
    decide(&m, SYS_clone, 100, fork_flags, d, &v);
    assert_int_equal(v.action, SB_CONTINUE);
    assert_true(v.policy_deny);
    /* A namespace flag is refused in monitor mode too, with threads. */
    uint64_t ns[6] = {CLONE_THREAD | CLONE_VM | CLONE_SIGHAND | CLONE_NEWNET};
    decide(&m, SYS_clone, 100, ns, d, &v);
    assert_string_equal(v.rule, "priv.namespace");
    assert_int_equal(v.action, SB_FAIL);
    assert_int_equal(v.err, EPERM);
    free(d);
}

static void
test_socket(void **state)
{
    (void)state;
    struct sb_ctx c = ctx(0);
    struct sb_decoded *d = dec();
    struct sb_verdict v;
    uint64_t inet[6] = {AF_INET, SOCK_STREAM};
    decide(&c, SYS_socket, 100, inet, d, &v);
    assert_string_equal(v.rule, "net.socket");
    assert_int_equal(v.err, EACCES);
    uint64_t pkt[6] = {AF_PACKET, SOCK_RAW};
    c.allow_loopback = 1;
    decide(&c, SYS_socket, 100, pkt, d, &v);
    assert_int_equal(v.action, SB_FAIL);
    decide(&c, SYS_socket, 100, inet, d, &v);
    assert_int_equal(v.action, SB_CONTINUE);
    /* Loopback without a network namespace cannot be promised. */
    c.namespaces = 0;
    decide(&c, SYS_socket, 100, inet, d, &v);
    assert_int_equal(v.action, SB_FAIL);
    /* High bits above the int the kernel uses: judged as that int. */
    uint64_t hi[6] = {(1ull << 32) | AF_UNIX};
    decide(&c, SYS_socket, 100, hi, d, &v);
    assert_int_equal(v.action, SB_FAIL);
    free(d);
}

static void
set_addr(struct sb_decoded *d, int fam, const char *text, int lo, int path)
{
    memset(&d->addr, 0, sizeof(d->addr));
    d->have_addr = 1;
    d->addr.family = fam;
    snprintf(d->addr.text, sizeof(d->addr.text), "%s", text);
    d->addr.loopback = lo;
    d->addr.unix_path = path;
}

static void
test_net(void **state)
{
    (void)state;
    struct sb_ctx c = ctx(0), m = ctx(1);
    struct sb_decoded *d = dec();
    struct sb_verdict v;
    set_addr(d, AF_INET, "192.0.2.1", 0, 0);
    decide(&c, SYS_connect, 100, NULL, d, &v);
    assert_string_equal(v.rule, "net.outbound");
    assert_int_equal(v.action, SB_FAIL);
    decide(&c, SYS_sendto, 100, NULL, d, &v);
    assert_string_equal(v.rule, "net.outbound");
    decide(&c, SYS_bind, 100, NULL, d, &v);
    assert_string_equal(v.rule, "net.bind");
    decide(&m, SYS_connect, 100, NULL, d, &v);
    assert_int_equal(v.action, SB_CONTINUE);
    assert_true(v.policy_deny);
    /* Loopback: refused unless allowed, then connect is emulated. */
    set_addr(d, AF_INET6, "::1", 1, 0);
    decide(&c, SYS_connect, 100, NULL, d, &v);
    assert_string_equal(v.rule, "net.loopback");
    assert_int_equal(v.action, SB_FAIL);
    c.allow_loopback = 1;
    decide(&c, SYS_connect, 100, NULL, d, &v);
    assert_int_equal(v.action, SB_EMULATE);
    decide(&c, SYS_sendto, 100, NULL, d, &v);
    assert_int_equal(v.action, SB_CONTINUE);
    c.allow_loopback = 0;
    /* Unix: only the nscd socket, emulated; the rest refused. */
    set_addr(d, AF_UNIX, "/var/run/nscd/socket", 0, 1);
    decide(&c, SYS_connect, 100, NULL, d, &v);
    assert_int_equal(v.action, SB_EMULATE);
    assert_false(v.policy_deny);
    decide(&c, SYS_sendto, 100, NULL, d, &v);
    assert_int_equal(v.action, SB_FAIL);
    set_addr(d, AF_UNIX, "/run/docker.sock", 0, 1);
    decide(&c, SYS_connect, 100, NULL, d, &v);
    assert_string_equal(v.rule, "net.unix_connect");
    assert_int_equal(v.action, SB_FAIL);
    set_addr(d, AF_UNIX, "@/var/run/nscd/socket", 0, 0);
    decide(&c, SYS_connect, 100, NULL, d, &v);
    assert_int_equal(v.action, SB_FAIL);
    /* sendmsg on a connected socket: nothing to report. */
    memset(d, 0, sizeof(*d));
    decide(&c, SYS_sendmsg, 100, NULL, d, &v);
    assert_true(v.silent);
    assert_int_equal(v.action, SB_CONTINUE);
    /* An address that could not be read is refused. */
    d->read_failed = 1;
    decide(&c, SYS_sendmsg, 100, NULL, d, &v);
    assert_string_equal(v.rule, "net.unreadable");
    assert_int_equal(v.action, SB_FAIL);
    free(d);
}

static void
set_path(struct sb_decoded *d, const char *p, const char *p2)
{
    memset(d, 0, sizeof(*d));
    d->have_path = d->have_rpath = 1;
    snprintf(d->path, sizeof(d->path), "%s", p);
    snprintf(d->rpath, sizeof(d->rpath), "%s", p);
    if (p2 != NULL) {
        d->have_path2 = d->have_rpath2 = 1;
        snprintf(d->path2, sizeof(d->path2), "%s", p2);
        snprintf(d->rpath2, sizeof(d->rpath2), "%s", p2);
    }
}

static void
test_fs(void **state)
{
    (void)state;
    struct sb_ctx c = ctx(0);
    struct sb_decoded *d = dec();
    struct sb_verdict v;
    set_path(d, "/tmp/out/a.txt", NULL);
    decide(&c, SYS_openat, 100, NULL, d, &v);
    assert_string_equal(v.rule, "fs.write");
    assert_int_equal(v.action, SB_CONTINUE);
    set_path(d, "/tmp/outside.txt", NULL);
    decide(&c, SYS_openat, 100, NULL, d, &v);
    assert_string_equal(v.rule, "fs.write_outside");
    assert_int_equal(v.err, EACCES);
    set_path(d, "/dev/null", NULL);
    decide(&c, SYS_openat, 100, NULL, d, &v);
    assert_int_equal(v.action, SB_CONTINUE);
    decide(&c, SYS_unlinkat, 100, NULL, d, &v); /* only opens */
    assert_int_equal(v.action, SB_FAIL);
    /* rename: both ends must be inside. */
    set_path(d, "/tmp/out/a", "/etc/a");
    decide(&c, SYS_renameat2, 100, NULL, d, &v);
    assert_int_equal(v.action, SB_FAIL);
    set_path(d, "/tmp/out/a", "/tmp/out/b");
    decide(&c, SYS_renameat2, 100, NULL, d, &v);
    assert_int_equal(v.action, SB_CONTINUE);
    /* Without Landlock nothing backs an allowed path: refused. */
    c.landlock = 0;
    decide(&c, SYS_renameat2, 100, NULL, d, &v);
    assert_string_equal(v.rule, "fs.write_unenforced");
    assert_int_equal(v.action, SB_FAIL);
    c.landlock = 1;
    /* Unresolvable path. */
    memset(d, 0, sizeof(*d));
    d->have_path = 1;
    decide(&c, SYS_openat, 100, NULL, d, &v);
    assert_string_equal(v.rule, "fs.write_unresolved");
    assert_int_equal(v.action, SB_FAIL);
    /* chmod inside the allowed folder is still refused. */
    set_path(d, "/tmp/out/a", NULL);
    decide(&c, SYS_fchmodat, 100, NULL, d, &v);
    assert_string_equal(v.rule, "fs.perm_change");
    assert_int_equal(v.err, EPERM);
    decide(&c, 452, 100, NULL, d, &v);
    assert_string_equal(v.rule, "fs.perm_change");
    /* The rest of the family (issue 7: chmod/chown/xattr): refused in
       enforce mode, let through and recorded in monitor mode. */
    static const int perm[] = {
#ifdef SYS_chmod /* the legacy calls: not on aarch64 */
        SYS_chmod,
        SYS_chown,
        SYS_lchown,
        SYS_utimes,
#endif
        SYS_fchmod,
        SYS_fchown,
        SYS_fchownat,
        SYS_setxattr,
        SYS_lsetxattr,
        SYS_fsetxattr,
        SYS_removexattr,
        SYS_lremovexattr,
        SYS_fremovexattr,
        463,
        466,
        SYS_utimensat};
    struct sb_ctx m = ctx(1);
    for (size_t i = 0; i < sizeof(perm) / sizeof(perm[0]); i++) {
        decide(&c, perm[i], 100, NULL, d, &v);
        assert_string_equal(v.rule, "fs.perm_change");
        assert_int_equal(v.action, SB_FAIL);
        assert_int_equal(v.err, EPERM);
        decide(&m, perm[i], 100, NULL, d, &v);
        assert_string_equal(v.rule, "fs.perm_change");
        assert_true(v.policy_deny);
        assert_int_equal(v.action, SB_CONTINUE);
    }
    free(d);
}

static void
test_priv(void **state)
{
    (void)state;
    struct sb_ctx m = ctx(1);
    struct sb_decoded *d = dec();
    struct sb_verdict v;
    static const int nrs[] = {SYS_ptrace,      SYS_mount, SYS_bpf,
                              SYS_unshare,     SYS_setns, SYS_io_uring_setup,
                              SYS_init_module, SYS_keyctl};
    for (size_t i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++) {
        decide(&m, nrs[i], 100, NULL, d, &v);
        assert_int_equal(v.action, SB_FAIL); /* even in monitor mode */
        assert_int_equal(v.err, EPERM);
        assert_true(strncmp(v.rule, "priv.", 5) == 0);
    }
    free(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table), cmocka_unit_test(test_exec),
        cmocka_unit_test(test_spawn), cmocka_unit_test(test_socket),
        cmocka_unit_test(test_net),   cmocka_unit_test(test_fs),
        cmocka_unit_test(test_priv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
