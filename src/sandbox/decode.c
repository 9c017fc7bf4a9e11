/*
 * decode.c - pure decoders for bytes the supervisor read from the target's
 * memory. The target chose those bytes: every length is bounded, every
 * field goes through the bounded reader, nothing is overlaid on a struct.
 * x86_64 and aarch64 are little-endian; sa_family is host order.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "io/reader.h"
#include "sandbox/sandbox.h"

const char *
sb_family_name(int family)
{
    switch (family) {
    case AF_UNIX:
        return "AF_UNIX";
    case AF_INET:
        return "AF_INET";
    case AF_INET6:
        return "AF_INET6";
    case AF_NETLINK:
        return "AF_NETLINK";
    case AF_PACKET:
        return "AF_PACKET";
    case AF_UNSPEC:
        return "AF_UNSPEC";
    default:
        return "other";
    }
}

/* Printable copy of an AF_UNIX name: abstract names start with '@', and
   bytes below 0x20 (NUL included) become '?'. */
static void
unix_text(const uint8_t *p, size_t n, struct sb_addr *out)
{
    size_t o = 0;
    size_t i = 0;
    if (n > 0 && p[0] == '\0') {
        out->text[o++] = '@';
        i = 1;
    } else {
        /* A path ends at its first NUL. */
        const uint8_t *z = memchr(p, 0, n);
        if (z != NULL)
            n = (size_t)(z - p);
        out->unix_path = n > 0;
    }
    for (; i < n && o + 1 < sizeof(out->text); i++)
        out->text[o++] = p[i] < 0x20 ? '?' : (char)p[i];
    out->text[o] = '\0';
}

enum mg_status
sb_decode_sockaddr(const uint8_t *p, size_t len, struct sb_addr *out)
{
    memset(out, 0, sizeof(*out));
    out->family = -1;
    out->port = -1;
    struct mg_reader r;
    rd_init(&r, p, len > SB_SOCKADDR_MAX ? SB_SOCKADDR_MAX : len);
    uint16_t fam;
    enum mg_status st = rd_u16le(&r, &fam);
    if (st != MG_OK)
        return st;
    out->family = fam;
    const uint8_t *b;
    switch (fam) {
    case AF_INET: {
        uint16_t port;
        if ((st = rd_u16be(&r, &port)) != MG_OK ||
            (st = rd_bytes(&r, 4, &b)) != MG_OK)
            return st;
        out->port = port;
        inet_ntop(AF_INET, b, out->text, sizeof(out->text));
        out->loopback = b[0] == 127;
        return MG_OK;
    }
    case AF_INET6: {
        uint16_t port;
        if ((st = rd_u16be(&r, &port)) != MG_OK || (st = rd_skip(&r, 4)) ||
            (st = rd_bytes(&r, 16, &b)) != MG_OK)
            return st;
        out->port = port;
        inet_ntop(AF_INET6, b, out->text, sizeof(out->text));
        static const uint8_t lo6[16] = {[15] = 1};
        static const uint8_t v4map[12] = {[10] = 0xff, [11] = 0xff};
        out->loopback = memcmp(b, lo6, 16) == 0 ||
                        (memcmp(b, v4map, 12) == 0 && b[12] == 127);
        return MG_OK;
    }
    case AF_UNIX:
        /* sun_path is whatever follows, up to addrlen (may be empty:
           an unnamed socket). */
        rd_bytes(&r, rd_left(&r), &b);
        unix_text(b, r.len - 2, out);
        return MG_OK;
    default:
        snprintf(out->text, sizeof(out->text), "%s", sb_family_name(fam));
        return MG_OK;
    }
}

enum mg_status
sb_decode_msghdr(const uint8_t *p,
                 size_t len,
                 uint64_t *name,
                 uint32_t *namelen)
{
    /* struct msghdr on LP64: void *msg_name; socklen_t msg_namelen; ... */
    struct mg_reader r;
    rd_init(&r, p, len);
    enum mg_status st = rd_u64le(&r, name);
    if (st != MG_OK)
        return st;
    return rd_u32le(&r, namelen);
}

enum mg_status
sb_decode_ptrs(const uint8_t *p,
               size_t len,
               uint64_t *out,
               size_t max,
               size_t *n,
               int *terminated)
{
    struct mg_reader r;
    rd_init(&r, p, len);
    *n = 0;
    *terminated = 0;
    while (*n < max) {
        uint64_t v;
        if (rd_u64le(&r, &v) != MG_OK)
            return MG_OK; /* ran out of bytes: not terminated */
        if (v == 0) {
            *terminated = 1;
            return MG_OK;
        }
        out[(*n)++] = v;
    }
    /* max pointers and no NULL among them: check the next slot. */
    uint64_t v;
    if (rd_u64le(&r, &v) == MG_OK && v == 0)
        *terminated = 1;
    return MG_OK;
}

int
sb_path_normalize(const char *base, const char *rel, char *out, size_t cap)
{
    if (cap < 2)
        return -1;
    size_t o = 0;
    out[o++] = '/';
    out[o] = '\0';
    const char *parts[2] = {rel[0] == '/' ? "" : base, rel};
    if (rel[0] != '/' && (base == NULL || base[0] != '/'))
        return -1;
    for (int k = 0; k < 2; k++) {
        const char *s = parts[k];
        while (*s) {
            while (*s == '/')
                s++;
            if (*s == '\0')
                break;
            const char *e = strchr(s, '/');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            if (n == 1 && s[0] == '.') {
                /* nothing */
            } else if (n == 2 && s[0] == '.' && s[1] == '.') {
                while (o > 1 && out[o - 1] != '/')
                    o--;
                if (o > 1)
                    o--; /* the slash before the removed part */
                out[o] = '\0';
            } else {
                if (o > 1) {
                    if (o + 1 >= cap)
                        return -1;
                    out[o++] = '/';
                }
                if (n >= cap - o)
                    return -1;
                memcpy(out + o, s, n);
                o += n;
                out[o] = '\0';
            }
            s += n;
        }
    }
    return 0;
}

int
sb_path_beneath(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return path[0] == '/';
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}
