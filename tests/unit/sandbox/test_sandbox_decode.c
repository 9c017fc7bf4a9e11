/*
 * test_decode.c - decoders of bytes read from the target (socket
 * addresses, msghdr, pointer arrays), path normalisation, and the
 * page-bounded string reader on this process's own memory.
 */
#define _GNU_SOURCE 1 /* clone flags, MAP_ANONYMOUS: as src/sandbox */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"

static void
test_sockaddr_inet(void **state)
{
    (void)state;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, "192.0.2.1", &a.sin_addr);
    struct sb_addr d;
    assert_int_equal(sb_decode_sockaddr((uint8_t *)&a, sizeof(a), &d), MG_OK);
    assert_int_equal(d.family, AF_INET);
    assert_string_equal(d.text, "192.0.2.1");
    assert_int_equal(d.port, 9);
    assert_false(d.loopback);
    inet_pton(AF_INET, "127.1.2.3", &a.sin_addr);
    assert_int_equal(sb_decode_sockaddr((uint8_t *)&a, sizeof(a), &d), MG_OK);
    assert_true(d.loopback);
    /* Cut before the address: truncated, never read past. */
    uint8_t *p = malloc(6);
    memcpy(p, &a, 6);
    assert_int_equal(sb_decode_sockaddr(p, 6, &d), MG_E_TRUNCATED);
    assert_int_equal(sb_decode_sockaddr(p, 1, &d), MG_E_TRUNCATED);
    free(p);
}

static void
test_sockaddr_inet6(void **state)
{
    (void)state;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    struct sb_addr d;
    inet_pton(AF_INET6, "::1", &a.sin6_addr);
    assert_int_equal(sb_decode_sockaddr((uint8_t *)&a, sizeof(a), &d), MG_OK);
    assert_true(d.loopback);
    assert_string_equal(d.text, "::1");
    assert_int_equal(d.port, 443);
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr);
    assert_int_equal(sb_decode_sockaddr((uint8_t *)&a, sizeof(a), &d), MG_OK);
    assert_true(d.loopback);
    inet_pton(AF_INET6, "::ffff:192.0.2.1", &a.sin6_addr);
    assert_int_equal(sb_decode_sockaddr((uint8_t *)&a, sizeof(a), &d), MG_OK);
    assert_false(d.loopback);
    inet_pton(AF_INET6, "2001:db8::1", &a.sin6_addr);
    assert_int_equal(sb_decode_sockaddr((uint8_t *)&a, sizeof(a), &d), MG_OK);
    assert_false(d.loopback);
    assert_string_equal(d.text, "2001:db8::1");
    assert_int_equal(sb_decode_sockaddr((uint8_t *)&a, 20, &d), MG_E_TRUNCATED);
}

static void
test_sockaddr_unix(void **state)
{
    (void)state;
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    struct sb_addr d;
    snprintf(u.sun_path, sizeof(u.sun_path), "%s", "/run/x.sock");
    assert_int_equal(sb_decode_sockaddr((uint8_t *)&u, sizeof(u), &d), MG_OK);
    assert_string_equal(d.text, "/run/x.sock");
    assert_true(d.unix_path);
    /* Abstract: leading NUL, then bytes with NULs and controls. */
    memcpy(u.sun_path, "\0ab\0\ncd", 7);
    assert_int_equal(sb_decode_sockaddr((uint8_t *)&u, 2 + 7, &d), MG_OK);
    assert_string_equal(d.text, "@ab??cd");
    assert_false(d.unix_path);
    /* Unnamed (just the family). */
    assert_int_equal(sb_decode_sockaddr((uint8_t *)&u, 2, &d), MG_OK);
    assert_false(d.unix_path);
    assert_string_equal(d.text, "");
    /* sun_path without NUL, longer than the text buffer: cut, bounded. */
    uint8_t big[SB_SOCKADDR_MAX + 64];
    memset(big, 'A', sizeof(big));
    big[0] = AF_UNIX;
    big[1] = 0;
    assert_int_equal(sb_decode_sockaddr(big, sizeof(big), &d), MG_OK);
    assert_true(strlen(d.text) < sizeof(d.text));
    assert_true(d.unix_path);
}

static void
test_sockaddr_other(void **state)
{
    (void)state;
    uint8_t b[4] = {AF_NETLINK, 0, 0, 0};
    struct sb_addr d;
    assert_int_equal(sb_decode_sockaddr(b, 4, &d), MG_OK);
    assert_string_equal(d.text, "AF_NETLINK");
    assert_int_equal(d.port, -1);
    b[0] = 0xff;
    b[1] = 0xff;
    assert_int_equal(sb_decode_sockaddr(b, 4, &d), MG_OK);
    assert_string_equal(d.text, "other");
}

static void
test_msghdr_and_ptrs(void **state)
{
    (void)state;
    uint8_t b[16] = {0x10, 0x20, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0};
    uint64_t name;
    uint32_t len;
    assert_int_equal(sb_decode_msghdr(b, 16, &name, &len), MG_OK);
    assert_int_equal(name, 0x2010);
    assert_int_equal(len, 16);
    assert_int_equal(sb_decode_msghdr(b, 11, &name, &len), MG_E_TRUNCATED);

    uint64_t arr[5] = {1, 2, 3, 0, 9}, out[4];
    size_t n;
    int term;
    assert_int_equal(
        sb_decode_ptrs((uint8_t *)arr, sizeof(arr), out, 4, &n, &term), MG_OK);
    assert_int_equal(n, 3);
    assert_true(term);
    /* No NULL within the bytes: not terminated, bounded by the bytes. */
    assert_int_equal(sb_decode_ptrs((uint8_t *)arr, 20, out, 4, &n, &term),
                     MG_OK);
    assert_int_equal(n, 2);
    assert_false(term);
    /* More entries than max. */
    uint64_t many[6] = {1, 2, 3, 4, 5, 0};
    assert_int_equal(
        sb_decode_ptrs((uint8_t *)many, sizeof(many), out, 4, &n, &term),
        MG_OK);
    assert_int_equal(n, 4);
    assert_false(term);
}

static void
test_path_normalize(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(
        sb_path_normalize("/home/u", "a/../b/./c//d", out, sizeof(out)), 0);
    assert_string_equal(out, "/home/u/b/c/d");
    assert_int_equal(
        sb_path_normalize("/x", "/etc/../../../etc/passwd", out, sizeof(out)),
        0);
    assert_string_equal(out, "/etc/passwd");
    assert_int_equal(sb_path_normalize("/a/b", "../../..", out, sizeof(out)),
                     0);
    assert_string_equal(out, "/");
    assert_int_equal(sb_path_normalize("/", ".", out, sizeof(out)), 0);
    assert_string_equal(out, "/");
    /* Relative with no usable base. */
    assert_int_equal(sb_path_normalize(NULL, "x", out, sizeof(out)), -1);
    assert_int_equal(sb_path_normalize("rel", "x", out, sizeof(out)), -1);
    /* Too long for the output: refused, not cut. */
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    longp[0] = '/';
    assert_int_equal(sb_path_normalize(NULL, longp, out, sizeof(out)), -1);
    assert_int_equal(sb_path_normalize("/a", "b", out, 3), -1);
}

static void
test_path_beneath(void **state)
{
    (void)state;
    assert_true(sb_path_beneath("/tmp/out", "/tmp/out"));
    assert_true(sb_path_beneath("/tmp/out/x/y", "/tmp/out"));
    assert_false(sb_path_beneath("/tmp/outside", "/tmp/out"));
    assert_false(sb_path_beneath("/tmp", "/tmp/out"));
    assert_true(sb_path_beneath("/anything", "/"));
}

/* The page-bounded reader, on this process's memory through
   /proc/self/mem: a string that ends right before an unmapped page is
   read; one that runs into it is refused; the cap cuts. */
static void
test_mem_read_str(void **state)
{
    (void)state;
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(munmap(m + pg, (size_t)pg), 0);
    int fd = sb_mem_open(getpid());
    assert_true(fd >= 0);
    char *s = m + pg - 6;
    memcpy(s, "hello", 6);
    char buf[256];
    int trunc;
    assert_int_equal(
        sb_mem_read_str(fd, (uintptr_t)s, buf, sizeof(buf), &trunc), 5);
    assert_string_equal(buf, "hello");
    assert_false(trunc);
    memset(m + pg - 10, 'x', 10); /* no NUL before the hole */
    assert_int_equal(
        sb_mem_read_str(fd, (uintptr_t)(m + pg - 10), buf, sizeof(buf), &trunc),
        -1);
    memset(m, 'y', 100);
    m[100] = '\0';
    assert_int_equal(sb_mem_read_str(fd, (uintptr_t)m, buf, 11, &trunc), 10);
    assert_true(trunc);
    assert_int_equal(strlen(buf), 10);
    assert_int_equal(sb_mem_read_str(fd, 0, buf, sizeof(buf), &trunc), -1);
    assert_int_equal(
        sb_mem_read_str(fd, UINT64_MAX - 2, buf, sizeof(buf), &trunc), -1);
    uint8_t b8[8];
    assert_int_equal(sb_mem_read(fd, (uintptr_t)(m + pg - 4), b8, 8), -1);
    assert_int_equal(sb_mem_read(fd, (uintptr_t)m, b8, 8), 0);
    assert_int_equal(sb_proc_tgid(getpid()), getpid());
    char comm[32];
    sb_proc_comm(getpid(), comm, sizeof(comm));
    assert_string_equal(comm, "test_sandbox_de"); /* comm: 15 bytes */
    close(fd);
    munmap(m, (size_t)pg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sockaddr_inet),
        cmocka_unit_test(test_sockaddr_inet6),
        cmocka_unit_test(test_sockaddr_unix),
        cmocka_unit_test(test_sockaddr_other),
        cmocka_unit_test(test_msghdr_and_ptrs),
        cmocka_unit_test(test_path_normalize),
        cmocka_unit_test(test_path_beneath),
        cmocka_unit_test(test_mem_read_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
