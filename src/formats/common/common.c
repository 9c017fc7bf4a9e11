#include "formats/common/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "io/ckd.h"

/* Length of a valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t k;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < k || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return k;
}

char *
mg_quote(char *dst, size_t cap, const void *s, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = s;
    size_t o = 0, i = 0, lim = n < max ? n : max;
    if (cap == 0)
        return dst;
    /* Room kept for "..." and the NUL. */
    size_t room = cap > 4 ? cap - 4 : 0;
    while (i < lim) {
        uint8_t c = p[i];
        char tmp[8];
        size_t k = 0, adv = 1;
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            tmp[k++] = (char)c;
        } else if (c == '\\') {
            tmp[k++] = '\\';
            tmp[k++] = '\\';
        } else if (c == '\n' || c == '\t' || c == '\r') {
            tmp[k++] = '\\';
            tmp[k++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        } else if (c >= 0x80 && (adv = utf8_seq(p + i, lim - i)) != 0) {
            memcpy(tmp, p + i, adv);
            k = adv;
        } else {
            adv = 1;
            tmp[k++] = '\\';
            tmp[k++] = 'x';
            tmp[k++] = hex[c >> 4];
            tmp[k++] = hex[c & 15];
        }
        if (o + k > room)
            break;
        memcpy(dst + o, tmp, k);
        o += k;
        i += adv;
    }
    if (i < n && cap >= 4) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o < cap ? o : cap - 1] = '\0';
    return dst;
}

static int
is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

enum mg_path_risk
mg_path_risk(const char *s, size_t n, int bare)
{
    const uint8_t *p = (const uint8_t *)s;
    if (n == 0)
        return MG_PATH_EMPTY;
    if (memchr(p, 0, n) != NULL)
        return MG_PATH_NUL;
    /* scheme:// (RFC 3986 scheme characters). */
    for (size_t i = 0; i < n && i < 32; i++) {
        uint8_t c = p[i];
        if (c == ':' && i > 1 && n - i >= 3 && p[i + 1] == '/' &&
            p[i + 2] == '/')
            return MG_PATH_URL;
        if (!(is_alpha(c) || (i > 0 && ((c >= '0' && c <= '9') || c == '+' ||
                                        c == '-' || c == '.'))))
            break;
    }
    if (p[0] == '/' || p[0] == '\\')
        return MG_PATH_ABSOLUTE;
    if (n >= 2 && is_alpha(p[0]) && p[1] == ':')
        return MG_PATH_ABSOLUTE; /* C:x is drive-relative: still outside */
    if (p[0] == '~')
        return MG_PATH_HOME;
    /* Components split on both separators: Windows loaders accept '\'. */
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '/' || p[i] == '\\') {
            size_t len = i - start;
            /* ".." and Windows' trailing-dot/space forms of it */
            if (len >= 2 && p[start] == '.' && p[start + 1] == '.') {
                size_t k = start + 2;
                while (k < i && (p[k] == '.' || p[k] == ' '))
                    k++;
                if (k == i)
                    return MG_PATH_PARENT;
            }
            start = i + 1;
        }
    }
    if (bare && (memchr(p, '/', n) != NULL || memchr(p, '\\', n) != NULL))
        return MG_PATH_SEPARATOR;
    return MG_PATH_OK;
}

const char *
mg_path_risk_text(enum mg_path_risk r)
{
    switch (r) {
    case MG_PATH_OK:
        return "stays inside the model folder";
    case MG_PATH_EMPTY:
        return "is empty";
    case MG_PATH_ABSOLUTE:
        return "is absolute";
    case MG_PATH_PARENT:
        return "climbs out of the model folder with '..'";
    case MG_PATH_URL:
        return "is a URL";
    case MG_PATH_HOME:
        return "starts with '~' (a home folder)";
    case MG_PATH_NUL:
        return "holds a NUL byte";
    case MG_PATH_SEPARATOR:
        return "holds a folder separator where a bare file name belongs";
    default:
        return "is unusual";
    }
}

static int
b64_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

size_t
mg_b64_decode(const char *s, size_t n, uint8_t *dst, size_t cap)
{
    const uint8_t *p = (const uint8_t *)s;
    uint32_t acc = 0;
    unsigned bits = 0, quad = 0, pads = 0;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '=') {
            /* binascii: enough padding after 2 or 3 characters ends the
               data; anything after it is ignored. */
            if (quad >= 2 && quad + ++pads >= 4)
                return out;
            continue;
        }
        int v = b64_val(c);
        if (v < 0)
            continue;
        pads = 0;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        quad = (quad + 1) & 3;
        if (bits >= 8) {
            bits -= 8;
            if (out < cap)
                dst[out] = (uint8_t)(acc >> bits);
            out++;
        }
    }
    /* A quantum left open is an error ("Incorrect padding"). */
    return quad == 0 ? out : (size_t)-1;
}

int
mg_b64_looks(const char *s, size_t n, size_t min)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (b64_val(c) >= 0)
            k++;
        else if (c != '=' && c != '\n' && c != '\r' && c != ' ')
            return 0;
    }
    return k >= min;
}

enum mg_status
mg_input_random(struct mg_input *in,
                uint64_t max,
                struct mg_input *tmp,
                uint8_t **buf,
                struct mg_input **use)
{
    *buf = NULL;
    *use = in;
    if (in->read_at != NULL)
        return MG_OK;
    struct mg_input_cursor cur;
    struct mg_stream s;
    enum mg_status st = mg_input_stream(in, 0, UINT64_MAX, &cur, &s);
    if (st != MG_OK)
        return st;
    if (max > MG_MAX_ALLOCATION)
        max = MG_MAX_ALLOCATION;
    size_t cap = 1u << 16, len = 0;
    uint8_t *b = mg_malloc(cap);
    if (b == NULL) {
        mg_stream_fini(&s);
        return MG_E_NOMEM;
    }
    for (;;) {
        if (len == cap) {
            if ((uint64_t)cap >= max) {
                if (!mg_stream_at_end(&s))
                    st = MG_E_LIMIT;
                break;
            }
            size_t ncap = cap * 2;
            if ((uint64_t)ncap > max)
                ncap = (size_t)max;
            uint8_t *nb = mg_realloc(b, ncap);
            if (nb == NULL) {
                st = MG_E_NOMEM;
                break;
            }
            b = nb;
            cap = ncap;
        }
        const uint8_t *p = NULL;
        size_t got = 0;
        st = mg_stream_avail(&s, &p, &got);
        if (st != MG_OK || got == 0)
            break;
        if (got > cap - len)
            got = cap - len;
        memcpy(b + len, p, got);
        mg_stream_advance(&s, got);
        len += got;
    }
    mg_stream_fini(&s);
    if (st != MG_OK) {
        mg_free(b);
        return st;
    }
    mg_input_mem(tmp, b, len);
    *buf = b;
    *use = tmp;
    return MG_OK;
}

enum mg_status
mg_input_dup(struct mg_input *in, uint64_t off, size_t n, uint8_t **out)
{
    *out = NULL;
    uint8_t *b = mg_malloc(n ? n : 1);
    if (b == NULL)
        return MG_E_NOMEM;
    enum mg_status st = mg_input_read(in, off, b, n);
    if (st != MG_OK) {
        mg_free(b);
        return st;
    }
    *out = b;
    return MG_OK;
}

int
mg_has(const void *h, size_t n, const char *needle)
{
    const uint8_t *p = h;
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, needle, k) == 0)
            return 1;
    return 0;
}

size_t
mg_input_peek(struct mg_input *in, uint64_t off, void *buf, size_t n)
{
    if (off >= in->size)
        return 0;
    if ((uint64_t)n > in->size - off)
        n = (size_t)(in->size - off);
    if (mg_input_read(in, off, buf, n) != MG_OK)
        return 0;
    return n;
}

int
mg_fmt_random(struct mg_ctx *ctx,
              struct mg_input *in,
              uint64_t max,
              struct mg_input *tmp,
              uint8_t **buf,
              struct mg_input **use,
              enum mg_status *st)
{
    *st = mg_input_random(in, max, tmp, buf, use);
    if (*st == MG_OK)
        return 1;
    if (*st != MG_E_NOMEM)
        *st = mg_ctx_incomplete(ctx,
                                *st == MG_E_LIMIT
                                    ? (max == ctx->lim->max_header_bytes
                                           ? "max-header-bytes"
                                           : "max-member-bytes")
                                    : NULL,
                                -1, mg_strerror(*st));
    return 0;
}

enum mg_status
mg_fmt_vcapped(struct mg_ctx *ctx,
               unsigned *count,
               enum mg_severity sev,
               const char *rule,
               int64_t off,
               const char *fmt,
               va_list ap)
{
    if (*count < UINT32_MAX)
        (*count)++;
    if (*count > MG_FORMAT_MAX_REPORTS)
        return MG_OK;
    char msg[900];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return mg_ctx_findf(ctx, sev, rule, off, "%s", msg);
}

enum mg_status
mg_fmt_capped(struct mg_ctx *ctx,
              unsigned *count,
              enum mg_severity sev,
              const char *rule,
              int64_t off,
              const char *fmt,
              ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum mg_status st = mg_fmt_vcapped(ctx, count, sev, rule, off, fmt, ap);
    va_end(ap);
    return st;
}

enum mg_status
mg_fmt_capped_rest(struct mg_ctx *ctx,
                   const unsigned *counts,
                   const char *const *rules,
                   size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (counts[k] <= MG_FORMAT_MAX_REPORTS)
            continue;
        enum mg_status st =
            mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, rules[k], -1,
                         "%u more findings of this kind were not listed",
                         counts[k] - MG_FORMAT_MAX_REPORTS);
        if (st != MG_OK)
            return st;
    }
    return MG_OK;
}

enum mg_status
mg_fmt_pb_damage(struct mg_ctx *ctx,
                 int *stop,
                 const char *rule,
                 enum mg_status why,
                 uint64_t off,
                 const char *where,
                 const char *refusers)
{
    if (*stop)
        return MG_OK;
    *stop = 1;
    if (why != MG_E_MALFORMED && why != MG_E_TRUNCATED)
        return mg_ctx_incomplete(ctx, NULL, (int64_t)off, mg_strerror(why));
    return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, rule, (int64_t)off,
                        "the protobuf is %s in %s: %s",
                        why == MG_E_TRUNCATED ? "truncated" : "malformed",
                        where, refusers);
}

int
mg_fmt_tick(struct mg_ctx *ctx, uint64_t *n, uint64_t off, enum mg_status *st)
{
    if ((++*n & 0x3FFF) != 0 || !mg_ctx_expired(ctx))
        return 0;
    *st = mg_ctx_incomplete(ctx, "max-seconds", (int64_t)off, NULL);
    return 1;
}
