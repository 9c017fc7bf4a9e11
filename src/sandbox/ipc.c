/*
 * ipc.c - the messages between the child and the supervisor, over a
 * SOCK_STREAM socketpair: "MGSB", version, type, u16le payload length,
 * payload. The supervisor decodes what the child sends through the bounded
 * reader, as hostile input: the child may already be the target (an
 * execve failure is reported after the filter is in place), and a bug or
 * an attacker there must not reach beyond these bytes.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/reader.h"
#include "sandbox/sandbox.h"

static const char *const stage_names[] = {
    "?",    "sync",         "mount",    "loopback", "setsid", "rlimit",
    "caps", "no-new-privs", "landlock", "seccomp",  "chdir",  "execve"};

const char *
sb_stage_name(uint32_t stage)
{
    return stage <= SB_STAGE_MAX_ ? stage_names[stage] : "?";
}

static size_t
payload_len(enum sb_msg_type t)
{
    switch (t) {
    case SB_MSG_READY:
        return 12;
    case SB_MSG_ERROR:
        return 8;
    case SB_MSG_GO:
        return 0;
    default:
        return SIZE_MAX;
    }
}

enum mg_status
sb_ipc_decode(const uint8_t *buf, size_t len, struct sb_msg *out, size_t *used)
{
    struct mg_reader r;
    rd_init(&r, buf, len);
    const uint8_t *magic;
    uint8_t ver, type;
    uint16_t plen;
    enum mg_status st;
    memset(out, 0, sizeof(*out));
    /* Check each field as soon as it is there, so that garbage is
       refused without waiting for bytes that may never come. */
    size_t have = len < 4 ? len : 4;
    if (have > 0 && memcmp(buf, SB_MSG_MAGIC, have) != 0)
        return MG_E_MALFORMED;
    if ((st = rd_bytes(&r, 4, &magic)) != MG_OK ||
        (st = rd_u8(&r, &ver)) != MG_OK)
        return st;
    if (ver != SB_MSG_VERSION)
        return MG_E_MALFORMED;
    if ((st = rd_u8(&r, &type)) != MG_OK)
        return st;
    size_t want = payload_len((enum sb_msg_type)type);
    if (want == SIZE_MAX)
        return MG_E_MALFORMED;
    if ((st = rd_u16le(&r, &plen)) != MG_OK)
        return st;
    if (plen != want)
        return MG_E_MALFORMED;
    struct mg_reader p;
    if ((st = rd_sub(&r, plen, &p)) != MG_OK)
        return st;
    out->type = (enum sb_msg_type)type;
    switch (out->type) {
    case SB_MSG_READY:
        if (rd_u32le(&p, &out->notify_fd) != MG_OK ||
            rd_u32le(&p, &out->flags) != MG_OK ||
            rd_u32le(&p, &out->landlock_abi) != MG_OK)
            return MG_E_MALFORMED;
        if ((out->notify_fd != 0 &&
             (out->notify_fd < 3 || out->notify_fd > 65535)) ||
            (out->flags & ~(SB_READY_PROC | SB_READY_LOOPBACK)) != 0 ||
            out->landlock_abi > 255)
            return MG_E_MALFORMED;
        break;
    case SB_MSG_ERROR:
        if (rd_u32le(&p, &out->stage) != MG_OK ||
            rd_u32le(&p, &out->err) != MG_OK)
            return MG_E_MALFORMED;
        if (out->stage < SB_STAGE_SYNC || out->stage > SB_STAGE_MAX_ ||
            out->err > 4095)
            return MG_E_MALFORMED;
        break;
    case SB_MSG_GO:
        break;
    default:
        return MG_E_MALFORMED;
    }
    *used = r.pos;
    return MG_OK;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

size_t
sb_ipc_encode(const struct sb_msg *m, uint8_t *buf)
{
    size_t plen = payload_len(m->type);
    if (plen == SIZE_MAX)
        return 0;
    memcpy(buf, SB_MSG_MAGIC, 4);
    buf[4] = SB_MSG_VERSION;
    buf[5] = (uint8_t)m->type;
    buf[6] = (uint8_t)plen;
    buf[7] = 0;
    uint8_t *p = buf + SB_MSG_HEADER;
    if (m->type == SB_MSG_READY) {
        put_u32(p, m->notify_fd);
        put_u32(p + 4, m->flags);
        put_u32(p + 8, m->landlock_abi);
    } else if (m->type == SB_MSG_ERROR) {
        put_u32(p, m->stage);
        put_u32(p + 4, m->err);
    }
    return SB_MSG_HEADER + plen;
}

int
sb_ipc_send(int fd, const struct sb_msg *m)
{
    uint8_t buf[SB_MSG_MAX];
    size_t n = sb_ipc_encode(m, buf), done = 0;
    if (n == 0)
        return -1;
    while (done < n) {
        ssize_t k = send(fd, buf + done, n - done, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

enum mg_status
sb_ipc_recv(int fd, struct sb_msg *out, int timeout_ms)
{
    /* One byte at a time: a message never spans more than SB_MSG_MAX
       bytes, and nothing after it is consumed. */
    uint8_t buf[SB_MSG_MAX];
    size_t n = 0;
    uint64_t end = sb_now_ms() + (uint64_t)timeout_ms;
    while (n < sizeof(buf)) {
        uint64_t now = sb_now_ms();
        if (now >= end)
            return MG_E_IO;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(end - now));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return MG_E_IO;
        ssize_t k = read(fd, buf + n, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return MG_E_IO;
        n++;
        size_t used;
        enum mg_status st = sb_ipc_decode(buf, n, out, &used);
        if (st == MG_OK)
            return MG_OK;
        if (st != MG_E_TRUNCATED)
            return MG_E_MALFORMED;
    }
    return MG_E_MALFORMED;
}
