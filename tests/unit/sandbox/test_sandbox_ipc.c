/*
 * test_ipc.c - the child -> supervisor message decoder on hostile input:
 * every prefix, wrong magic/version/type/length, out-of-range fields,
 * and a deterministic random sweep (under ASan in CI: any read outside
 * the buffer fails the test).
 */
#define _GNU_SOURCE 1 /* clone flags, MAP_ANONYMOUS: as src/sandbox */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"

static size_t
enc(const struct sb_msg *m, uint8_t *buf)
{
    size_t n = sb_ipc_encode(m, buf);
    assert_true(n >= SB_MSG_HEADER && n <= SB_MSG_MAX);
    return n;
}

static void
test_roundtrip(void **state)
{
    (void)state;
    uint8_t buf[SB_MSG_MAX];
    struct sb_msg in = {.type = SB_MSG_READY,
                        .notify_fd = 7,
                        .flags = SB_READY_PROC | SB_READY_LOOPBACK,
                        .landlock_abi = 7},
                  out;
    size_t n = enc(&in, buf), used = 0;
    assert_int_equal(sb_ipc_decode(buf, n, &out, &used), MG_OK);
    assert_int_equal(used, n);
    assert_int_equal(out.type, SB_MSG_READY);
    assert_int_equal(out.notify_fd, 7);
    assert_int_equal(out.flags, SB_READY_PROC | SB_READY_LOOPBACK);
    assert_int_equal(out.landlock_abi, 7);

    struct sb_msg er = {.type = SB_MSG_ERROR, .stage = SB_STAGE_EXEC, .err = 2};
    n = enc(&er, buf);
    assert_int_equal(sb_ipc_decode(buf, n, &out, &used), MG_OK);
    assert_int_equal(out.type, SB_MSG_ERROR);
    assert_int_equal(out.stage, SB_STAGE_EXEC);
    assert_int_equal(out.err, 2);
    assert_string_equal(sb_stage_name(out.stage), "execve");

    struct sb_msg go = {.type = SB_MSG_GO};
    n = enc(&go, buf);
    assert_int_equal(n, SB_MSG_HEADER);
    assert_int_equal(sb_ipc_decode(buf, n, &out, &used), MG_OK);
    assert_int_equal(out.type, SB_MSG_GO);
}

/* Every strict prefix asks for more bytes; no prefix is accepted. */
static void
test_prefixes_truncated(void **state)
{
    (void)state;
    uint8_t buf[SB_MSG_MAX];
    struct sb_msg in = {.type = SB_MSG_READY, .notify_fd = 4}, out;
    size_t n = enc(&in, buf), used;
    for (size_t k = 0; k < n; k++) {
        /* A heap copy of exactly k bytes, so ASan sees any over-read. */
        uint8_t *p = malloc(k ? k : 1);
        memcpy(p, buf, k);
        assert_int_equal(sb_ipc_decode(k ? p : NULL, k, &out, &used),
                         MG_E_TRUNCATED);
        free(p);
    }
}

/* Trailing bytes are not consumed: used is the message only. */
static void
test_trailing_bytes_left(void **state)
{
    (void)state;
    uint8_t buf[2 * SB_MSG_MAX];
    struct sb_msg go = {.type = SB_MSG_GO}, out;
    size_t n = enc(&go, buf), used = 0;
    memset(buf + n, 'X', 10);
    assert_int_equal(sb_ipc_decode(buf, n + 10, &out, &used), MG_OK);
    assert_int_equal(used, n);
}

static void
expect_malformed(uint8_t *buf, size_t n)
{
    struct sb_msg out;
    size_t used;
    assert_int_equal(sb_ipc_decode(buf, n, &out, &used), MG_E_MALFORMED);
}

static void
test_bad_header(void **state)
{
    (void)state;
    uint8_t buf[SB_MSG_MAX], b[SB_MSG_MAX];
    struct sb_msg in = {.type = SB_MSG_ERROR, .stage = 1, .err = 1};
    size_t n = enc(&in, buf);
    /* Wrong magic is refused from its first byte on. */
    memcpy(b, buf, n);
    b[0] = 'X';
    expect_malformed(b, 1);
    expect_malformed(b, n);
    memcpy(b, buf, n);
    b[3] = 'X';
    expect_malformed(b, 4);
    memcpy(b, buf, n);
    b[4] = SB_MSG_VERSION + 1; /* version */
    expect_malformed(b, 5);
    memcpy(b, buf, n);
    b[5] = 0; /* type 0 */
    expect_malformed(b, 6);
    b[5] = 200; /* unknown type */
    expect_malformed(b, n);
    memcpy(b, buf, n);
    b[6] = 9; /* payload length differs from the type's */
    expect_malformed(b, n);
    b[6] = 8;
    b[7] = 1; /* 264 bytes claimed */
    expect_malformed(b, n);
    b[6] = 0xff;
    b[7] = 0xff; /* 65535 claimed: refused, never waited for */
    expect_malformed(b, 8);
}

static void
test_bad_fields(void **state)
{
    (void)state;
    uint8_t buf[SB_MSG_MAX];
    struct sb_msg m = {.type = SB_MSG_READY, .notify_fd = 2};
    expect_malformed(buf, enc(&m, buf)); /* a standard stream */
    m.notify_fd = 70000;
    expect_malformed(buf, enc(&m, buf));
    m.notify_fd = 0xffffffffu;
    expect_malformed(buf, enc(&m, buf));
    m.notify_fd = 5;
    m.flags = 0x80000000u; /* unknown flag */
    expect_malformed(buf, enc(&m, buf));
    m.flags = 0;
    m.landlock_abi = 1000;
    expect_malformed(buf, enc(&m, buf));
    struct sb_msg e = {.type = SB_MSG_ERROR, .stage = 0, .err = 1};
    expect_malformed(buf, enc(&e, buf));
    e.stage = SB_STAGE_MAX_ + 1;
    expect_malformed(buf, enc(&e, buf));
    e.stage = SB_STAGE_EXEC;
    e.err = 5000;
    expect_malformed(buf, enc(&e, buf));
    assert_string_equal(sb_stage_name(999), "?");
    /* notify_fd 0 means "no filter" and is valid. */
    struct sb_msg z = {.type = SB_MSG_READY, .notify_fd = 0}, out;
    size_t used;
    size_t n = enc(&z, buf);
    assert_int_equal(sb_ipc_decode(buf, n, &out, &used), MG_OK);
}

/* Random bytes, and random mutations of valid messages: the decoder
   answers OK, TRUNCATED or MALFORMED, OK only with used <= len and
   fields in range. */
static void
test_random_sweep(void **state)
{
    (void)state;
    uint32_t x = 12345;
    for (int iter = 0; iter < 200000; iter++) {
        uint8_t buf[SB_MSG_MAX + 8];
        size_t n;
        x = x * 1103515245u + 12345u;
        if (iter % 2 == 0) {
            struct sb_msg m = {.type = (enum sb_msg_type)(1 + (x >> 8) % 3),
                               .notify_fd = 3 + (x >> 12) % 100,
                               .stage = 1 + (x >> 4) % SB_STAGE_MAX_,
                               .err = (x >> 16) % 100};
            n = sb_ipc_encode(&m, buf);
            x = x * 1103515245u + 12345u;
            buf[(x >> 8) % n] ^= (uint8_t)(1u << ((x >> 20) % 8));
            x = x * 1103515245u + 12345u;
            n = (x >> 8) % (n + 1);
        } else {
            n = (x >> 8) % sizeof(buf);
            for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                buf[i] = (uint8_t)(x >> 16);
            }
            if (n >= 4 && (x & 1))
                memcpy(buf, SB_MSG_MAGIC, 4);
        }
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, buf, n);
        struct sb_msg out;
        size_t used = 0;
        enum mg_status st = sb_ipc_decode(n ? p : NULL, n, &out, &used);
        assert_true(st == MG_OK || st == MG_E_TRUNCATED ||
                    st == MG_E_MALFORMED);
        if (st == MG_OK) {
            assert_true(used <= n);
            assert_true(out.type >= SB_MSG_READY && out.type <= SB_MSG_GO);
        }
        free(p);
    }
}

/* Over a socketpair: a message split in pieces, garbage, and EOF. */
static void
test_recv_stream(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uint8_t buf[SB_MSG_MAX];
    struct sb_msg in = {.type = SB_MSG_READY, .notify_fd = 9}, out;
    size_t n = enc(&in, buf);
    assert_int_equal(write(sv[1], buf, 3), 3);
    assert_int_equal(write(sv[1], buf + 3, n - 3), (ssize_t)(n - 3));
    assert_int_equal(write(sv[1], "g", 1), 1); /* refused at once */
    assert_int_equal(sb_ipc_recv(sv[0], &out, 1000), MG_OK);
    assert_int_equal(out.notify_fd, 9);
    assert_int_equal(sb_ipc_recv(sv[0], &out, 1000), MG_E_MALFORMED);
    /* Nothing more: a time-out, not a hang. */
    assert_int_equal(sb_ipc_recv(sv[0], &out, 50), MG_E_IO);
    close(sv[1]);
    assert_int_equal(sb_ipc_recv(sv[0], &out, 1000), MG_E_IO);
    close(sv[0]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_prefixes_truncated),
        cmocka_unit_test(test_trailing_bytes_left),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_random_sweep),
        cmocka_unit_test(test_recv_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
