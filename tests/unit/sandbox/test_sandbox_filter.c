/*
 * test_filter.c - the kernel layers for real, each in a forked child
 * (a filter or a Landlock domain cannot be removed from a process):
 * the ENOSYS/EPERM walls of the seccomp filter and its fail-closed
 * behaviour without a supervisor, Landlock's write and TCP wall, and the
 * library's run API end to end. Children leave with _exit(): LeakSanitizer
 * would need ptrace, which the filter refuses.
 */
#define _GNU_SOURCE 1 /* clone flags, MAP_ANONYMOUS: as src/sandbox */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"

/* Run fn in a child; its exit status is a bitmask of failed checks. */
static int
in_child(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(arg));
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static int
filter_walls(void *arg)
{
    (void)arg;
    int bad = 0, nfd;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        sb_seccomp_install(&nfd) != 0)
        return 0x80;
    /* Newer than the policy was reviewed against: ENOSYS. */
    errno = 0;
    if (syscall(470, 0, 0, 0) != -1 || errno != ENOSYS)
        bad |= 0x01;
    errno = 0;
    if (syscall(435 /* clone3 */, NULL, 0) != -1 || errno != ENOSYS)
        bad |= 0x02;
    errno = 0;
    if (syscall(437 /* openat2 */, AT_FDCWD, "/", NULL, 0) != -1 ||
        errno != ENOSYS)
        bad |= 0x04;
    char c = 'x';
    errno = 0;
    if (ioctl(0, TIOCSTI, &c) != -1 || errno != EPERM)
        bad |= 0x08;
    /* Without a supervisor listening, notified calls fail closed. */
    close(nfd);
    errno = 0;
    if (socket(AF_INET, SOCK_STREAM, 0) != -1 || errno != ENOSYS)
        bad |= 0x10;
    int u = socket(AF_UNIX, SOCK_STREAM, 0); /* not notified */
    if (u < 0)
        bad |= 0x20;
    errno = 0;
    if (open("/tmp/mg-filter-test", O_WRONLY | O_CREAT, 0600) != -1 ||
        errno != ENOSYS)
        bad |= 0x40;
    return bad;
}

static void
test_filter_walls(void **state)
{
    (void)state;
    if (!sb_seccomp_notify_available())
        skip();
    assert_int_equal(in_child(filter_walls, NULL), 0);
}

struct ll_arg {
    char allowed[64], outside[96], inside[96];
    int abi;
};

static int
landlock_walls(void *arg)
{
    struct ll_arg *a = arg;
    char *allow[] = {a->allowed};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        sb_landlock_apply(a->abi, allow, 1, 1) != 0)
        return 0x80;
    int bad = 0;
    errno = 0;
    if (open(a->outside, O_WRONLY | O_CREAT, 0600) != -1 || errno != EACCES)
        bad |= 0x01;
    int fd = open(a->inside, O_WRONLY | O_CREAT, 0600);
    if (fd < 0)
        bad |= 0x02;
    if (open("/dev/null", O_WRONLY | O_TRUNC) < 0)
        bad |= 0x04;
    if (a->abi >= 4) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons(9),
                                  .sin_addr.s_addr = htonl(0x7f000001)};
        errno = 0;
        if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) != -1 ||
            errno != EACCES)
            bad |= 0x08;
    }
    return bad;
}

static void
test_landlock_walls(void **state)
{
    (void)state;
    struct ll_arg a;
    a.abi = sb_landlock_abi();
    if (a.abi == 0)
        skip();
    snprintf(a.allowed, sizeof(a.allowed), "/tmp/mg-ll-XXXXXX");
    assert_non_null(mkdtemp(a.allowed));
    snprintf(a.inside, sizeof(a.inside), "%s/in", a.allowed);
    snprintf(a.outside, sizeof(a.outside), "%s-outside", a.allowed);
    assert_int_equal(in_child(landlock_walls, &a), 0);
    struct stat st;
    assert_int_equal(stat(a.inside, &st), 0);
    assert_int_not_equal(stat(a.outside, &st), 0); /* never created */
    unlink(a.inside);
    rmdir(a.allowed);
}

struct seen {
    int n, exec_start, process_exec;
};

static void
on_event(void *user, const struct mg_sandbox_event *e)
{
    struct seen *s = user;
    s->n++;
    if (strcmp(e->rule, "exec.start") == 0)
        s->exec_start++;
    if (strcmp(e->rule, "process.exec") == 0 &&
        e->decision == MG_DECISION_DENY && e->errno_value == EPERM)
        s->process_exec++;
}

static void
run(const char *const *argv,
    int no_ns,
    struct seen *s,
    struct mg_sandbox_result *res)
{
    struct mg_sandbox_options o;
    mg_sandbox_options_init(&o);
    o.on_event = on_event;
    o.user = s;
    o.disable_namespaces = no_ns;
    o.timeout_ms = 30000;
    struct mg_sandbox *sb = NULL;
    assert_int_equal(mg_sandbox_new(&o, &sb), MG_OK);
    assert_int_equal(mg_sandbox_run(sb, argv, res), MG_OK);
    mg_sandbox_free(sb);
}

static void
test_run_api(void **state)
{
    (void)state;
    char sh[4096];
    assert_int_equal(mg_sandbox_resolve("sh", 1, sh, sizeof(sh)), MG_OK);
    for (int no_ns = 0; no_ns < 2; no_ns++) {
        struct seen s = {0};
        struct mg_sandbox_result res;
        const char *ok[] = {sh, "-c", ":", NULL};
        run(ok, no_ns, &s, &res);
        assert_int_equal(res.end, MG_END_EXITED);
        assert_int_equal(res.exit_code, 0);
        assert_int_equal(res.denied, 0);
        assert_int_equal(s.exec_start, 1);
        assert_int_equal(res.namespaces, !no_ns);
        assert_int_equal(res.isolation, no_ns ? MG_ISOLATION_NO_NAMESPACES
                                              : MG_ISOLATION_FULL);
        memset(&s, 0, sizeof(s));
        const char *ex[] = {sh, "-c", "exec /bin/true", NULL};
        run(ex, no_ns, &s, &res);
        assert_int_equal(s.process_exec, 1);
        assert_int_equal(res.denied, 1);
        assert_int_equal(res.n_rules, 2);
        assert_int_not_equal(res.exit_code, 0); /* the shell saw EPERM */
    }
}

static void
test_api_errors(void **state)
{
    (void)state;
    struct mg_sandbox_options o;
    mg_sandbox_options_init(&o);
    const char *dirs[] = {"/nonexistent/dir"};
    o.allow_write = dirs;
    o.n_allow_write = 1;
    struct mg_sandbox *sb = NULL;
    assert_int_equal(mg_sandbox_new(&o, &sb), MG_E_INVALID);
    assert_non_null(strstr(mg_sandbox_errmsg(sb), "/nonexistent/dir"));
    mg_sandbox_free(sb);
    o.n_allow_write = 0;
    assert_int_equal(mg_sandbox_new(&o, &sb), MG_OK);
    struct mg_sandbox_result res;
    const char *rel[] = {"true", NULL};
    assert_int_equal(mg_sandbox_run(sb, rel, &res), MG_E_INVALID);
    assert_int_equal(res.end, MG_END_NOT_RUN);
    mg_sandbox_free(sb);
    mg_sandbox_free(NULL);
    char buf[8];
    assert_int_equal(mg_sandbox_resolve("sh", 0, buf, sizeof(buf)), MG_E_LIMIT);
    assert_int_equal(mg_sandbox_resolve("no-such-cmd-xyz", 0, buf, 8), MG_E_IO);
    /* A script is skipped when asked to. */
    char script[] = "/tmp/mg-script-XXXXXX";
    int fd = mkstemp(script);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    chmod(script, 0755);
    char out[4096];
    assert_int_equal(mg_sandbox_resolve(script, 1, out, sizeof(out)), MG_E_IO);
    assert_int_equal(mg_sandbox_resolve(script, 0, out, sizeof(out)), MG_OK);
    unlink(script);
    assert_string_equal(mg_sandbox_isolation_name(MG_ISOLATION_NONE),
                        "unmonitored");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_walls),
        cmocka_unit_test(test_landlock_walls),
        cmocka_unit_test(test_run_api),
        cmocka_unit_test(test_api_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
