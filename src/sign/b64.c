/*
 * b64.c - base64 (RFC 4648) and hex. Written here rather than with
 * EVP_DecodeBlock, which ignores padding in its length and accepts
 * whitespace: a decoder of hostile input should say exactly what it
 * accepts. Bundles carry standard base64; protobuf's JSON reader (what
 * model_signing uses) also accepts the URL-safe alphabet and missing
 * padding, so we do too.
 */
#include <string.h>

#include "core/alloc.h"
#include "io/ckd.h"
#include "sign/sign_int.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
sig_b64_encode(const uint8_t *in, size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    size_t olen;
    if (ckd_mul_size(&olen, groups, 4) || ckd_add_size(&olen, olen, 1))
        return NULL;
    char *out = mg_malloc(olen);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
                     (uint32_t)in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

enum mg_status
sig_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    size_t pad = 0;
    if (n % 4 == 0 && n >= 4) {
        if (s[n - 1] == '=')
            pad++;
        if (s[n - 2] == '=')
            pad++;
    }
    size_t data = n - pad; /* base64 characters carrying bits */
    if (data % 4 == 1)
        return MG_E_MALFORMED;
    size_t olen = data / 4 * 3 + (data % 4 == 0 ? 0 : data % 4 - 1);
    uint8_t *o = mg_malloc(olen + 1);
    if (o == NULL)
        return MG_E_NOMEM;
    size_t k = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < data; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            mg_free(o);
            return MG_E_MALFORMED;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero (canonical encoding). */
    if (acc != 0) {
        mg_free(o);
        return MG_E_MALFORMED;
    }
    o[k] = 0;
    *out = o;
    *outlen = k;
    return MG_OK;
}

void
sig_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int
hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
sig_hex_decode(const char *s, size_t n, uint8_t *out, size_t outlen)
{
    if (n != 2 * outlen)
        return -1;
    for (size_t i = 0; i < outlen; i++) {
        int hi = hex_value((unsigned char)s[2 * i]);
        int lo = hex_value((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
