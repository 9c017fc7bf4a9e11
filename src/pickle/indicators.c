/*
 * indicators.c - one cheap pass over a string decides which detailed
 * searches are worth running; most strings in a model (tensor names, dtype
 * names) trigger none.
 */
#include "pickle/indicators.h"

#include <string.h>

#define B64_MIN_RUN 80

/* Character classes for the first pass. */
enum {
    C_B64 = 1, /* A-Z a-z 0-9 + / */
    C_UPPER = 2,
    C_LOWER = 4,
    C_DIGIT = 8,
    C_HEX = 16,
    C_TRIG = 32 /* : / | ( space . */
};

static unsigned char
cls(unsigned char c)
{
    unsigned char k = 0;
    if (c >= 'A' && c <= 'Z')
        k |= C_B64 | C_UPPER;
    if (c >= 'a' && c <= 'z')
        k |= C_B64 | C_LOWER;
    if (c >= '0' && c <= '9')
        k |= C_B64 | C_DIGIT | C_HEX;
    if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
        k |= C_HEX;
    if (c == '+' || c == '/')
        k |= C_B64;
    if (c == ':' || c == '/' || c == '|' || c == '(' || c == ' ' || c == '.' ||
        c == '&' || c == ';' || c == '>')
        k |= C_TRIG;
    return k;
}

static const char *
find_ci(const char *p, size_t n, const char *pat)
{
    size_t m = strlen(pat);
    if (m == 0 || m > n)
        return NULL;
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m) {
            char a = p[i + j], b = pat[j];
            if (a >= 'A' && a <= 'Z')
                a = (char)(a - 'A' + 'a');
            if (a != b)
                break;
            j++;
        }
        if (j == m)
            return p + i;
    }
    return NULL;
}

static const char *const url_schemes[] = {
    "http://", "https://", "ftp://",  "ftps://", "ws://",   "wss://",
    "tcp://",  "udp://",   "sftp://", "smb://",  "ldap://", "gopher://"};

/* Lowercase patterns of shell command lines and payload code. */
static const char *const shell_pats[] = {"/dev/tcp/",
                                         "/dev/udp/",
                                         "sh -i",
                                         "bash -i",
                                         "nc -e",
                                         "ncat -e",
                                         "nc -c",
                                         "netcat -e",
                                         "| sh",
                                         "|sh",
                                         "| bash",
                                         "|bash",
                                         "mkfifo",
                                         "/bin/sh",
                                         "/bin/bash",
                                         "powershell",
                                         "cmd.exe",
                                         "python -c",
                                         "python3 -c",
                                         "perl -e",
                                         "ruby -e",
                                         "socat ",
                                         "chmod +x",
                                         "base64 -d",
                                         "base64 --decode",
                                         "rm -rf",
                                         "os.system(",
                                         "subprocess.",
                                         "__import__(",
                                         "exec(",
                                         "eval(",
                                         "nohup ",
                                         "crontab",
                                         "2>&1",
                                         "; sh",
                                         "&& sh",
                                         "/etc/passwd",
                                         "/etc/shadow",
                                         "authorized_keys",
                                         ".bashrc",
                                         "curl -",
                                         "wget -",
                                         "| python",
                                         "|python",
                                         "pty.spawn",
                                         "socket.socket",
                                         "reverse shell",
                                         "bin/nc "};

static int
is_url_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '\'' && c != '<' &&
           c != '>' && c != '`';
}

static size_t
find_url(const char *p, size_t n, size_t *len)
{
    size_t best = (size_t)-1;
    for (size_t i = 0; i < sizeof(url_schemes) / sizeof(url_schemes[0]); i++) {
        const char *h = find_ci(p, n, url_schemes[i]);
        if (h != NULL) {
            size_t at = (size_t)(h - p);
            size_t sl = strlen(url_schemes[i]);
            /* Needs a host after the scheme. */
            if (at + sl < n && is_url_char((unsigned char)p[at + sl]) &&
                at < best)
                best = at;
        }
    }
    if (best == (size_t)-1)
        return (size_t)-1;
    size_t e = best;
    while (e < n && is_url_char((unsigned char)p[e]))
        e++;
    *len = e - best;
    return best;
}

/* Parse a dotted quad at p[i..]; returns its length or 0. */
static size_t
ipv4_at(const char *p, size_t n, size_t i)
{
    size_t k = i;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (k >= n || p[k] != '.')
                return 0;
            k++;
        }
        size_t d = 0;
        unsigned v = 0;
        while (k < n && p[k] >= '0' && p[k] <= '9' && d < 4) {
            v = v * 10 + (unsigned)(p[k] - '0');
            k++;
            d++;
        }
        if (d == 0 || d > 3 || v > 255)
            return 0;
    }
    /* Not part of a longer dotted number (version strings). */
    if (k < n && (p[k] == '.' || (p[k] >= '0' && p[k] <= '9')) &&
        !(p[k] == '.' && (k + 1 >= n || p[k + 1] < '0' || p[k + 1] > '9')))
        return 0;
    return k - i;
}

static size_t
find_ipv4(const char *p, size_t n, size_t *len)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            continue;
        if (i > 0 && ((p[i - 1] >= '0' && p[i - 1] <= '9') || p[i - 1] == '.'))
            continue;
        size_t l = ipv4_at(p, n, i);
        if (l > 0) {
            *len = l;
            return i;
        }
    }
    return (size_t)-1;
}

static int
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

/* A full IPv6 address (RFC 4291 text form, optional trailing IPv4). */
static size_t
ipv6_at(const char *p, size_t n, size_t i)
{
    size_t k = i;
    int groups = 0, dbl = 0, hexgroups = 0;
    if (k + 1 < n && p[k] == ':' && p[k + 1] == ':') {
        dbl = 1;
        k += 2;
    }
    while (k < n && groups < 8) {
        size_t d = 0;
        while (k + d < n && is_hex(p[k + d]) && d < 5)
            d++;
        if (d == 0 || d > 4)
            break;
        k += d;
        groups++;
        hexgroups++;
        if (k + 1 < n && p[k] == ':' && p[k + 1] == ':') {
            if (dbl)
                return 0;
            dbl = 1;
            k += 2;
            continue;
        }
        if (k < n && p[k] == ':' && k + 1 < n && is_hex(p[k + 1])) {
            k++;
            continue;
        }
        break;
    }
    if (k < n && (is_hex(p[k]) || p[k] == ':' || (p[k] >= 'g' && p[k] <= 'z') ||
                  p[k] == '_'))
        return 0;
    if (hexgroups < 2 && !(dbl && hexgroups >= 1))
        return 0;
    if (!dbl && groups != 8)
        return 0;
    if (dbl && groups > 7)
        return 0;
    return k - i;
}

static size_t
find_ipv6(const char *p, size_t n, size_t *len)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (!(is_hex(p[i]) || p[i] == ':'))
            continue;
        if (i > 0 && (is_hex(p[i - 1]) || p[i - 1] == ':' ||
                      (p[i - 1] >= 'g' && p[i - 1] <= 'z') ||
                      (p[i - 1] >= 'G' && p[i - 1] <= 'Z') || p[i - 1] == '_'))
            continue;
        size_t l = ipv6_at(p, n, i);
        if (l > 0 && memchr(p + i, ':', l) != NULL) {
            *len = l;
            return i;
        }
    }
    return (size_t)-1;
}

static size_t
find_shell(const char *p, size_t n, size_t *len)
{
    size_t best = (size_t)-1;
    for (size_t i = 0; i < sizeof(shell_pats) / sizeof(shell_pats[0]); i++) {
        const char *h = find_ci(p, n, shell_pats[i]);
        if (h != NULL && (size_t)(h - p) < best)
            best = (size_t)(h - p);
    }
    if (best == (size_t)-1)
        return best;
    /* Report the whole line around it. */
    size_t s = best, e = best;
    while (s > 0 && p[s - 1] != '\n')
        s--;
    while (e < n && p[e] != '\n')
        e++;
    *len = e - s;
    return s;
}

static size_t
find_b64(const char *p, size_t n, size_t *len)
{
    size_t run = 0;
    unsigned seen = 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char k = i < n ? cls((unsigned char)p[i]) : 0;
        if (k & C_B64) {
            run++;
            seen |= k;
            continue;
        }
        if (run >= B64_MIN_RUN && (seen & (C_UPPER | C_LOWER | C_DIGIT)) ==
                                      (C_UPPER | C_LOWER | C_DIGIT)) {
            *len = run;
            return i - run;
        }
        run = 0;
        seen = 0;
    }
    return (size_t)-1;
}

static int
looks_like_pickle(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    if (n >= 4 && u[0] == 0x80 && u[1] >= 2 && u[1] <= 5)
        return 1;
    /* Protocol 0/1 import at the very start: "cmodule\nname\n". */
    if (n >= 5 && u[0] == 'c') {
        size_t i = 1;
        int lines = 0;
        while (i < n && lines < 2) {
            size_t s = i;
            while (i < n && u[i] != '\n' &&
                   ((u[i] >= 'a' && u[i] <= 'z') ||
                    (u[i] >= 'A' && u[i] <= 'Z') ||
                    (u[i] >= '0' && u[i] <= '9') || u[i] == '_' || u[i] == '.'))
                i++;
            if (i >= n || u[i] != '\n' || i == s)
                return 0;
            i++;
            lines++;
        }
        return lines == 2;
    }
    return 0;
}

uint16_t
mg_ind_classify(const char *p, size_t n)
{
    uint16_t out = 0;
    size_t l;
    if (looks_like_pickle(p, n))
        out |= IND_PICKLE;
    if (n < 6)
        return out;
    /* One pass: which searches are worth it. Binary data (tensor bytes)
       is not text: only the embedded-pickle check applies to it. */
    unsigned any = 0;
    size_t run = 0, maxrun = 0, binary = 0, shellish = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        unsigned char k = cls(c);
        any |= k;
        if (k & C_B64) {
            if (++run > maxrun)
                maxrun = run;
        } else {
            run = 0;
        }
        if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f)
            binary++;
        if (c == ' ' || c == '/' || c == '|' || c == '(' || c == '&' ||
            c == ';')
            shellish = 1;
    }
    if (binary * 10 > n)
        return out;
    if (maxrun >= B64_MIN_RUN && find_b64(p, n, &l) != (size_t)-1)
        out |= IND_BASE64;
    if (!(any & C_TRIG))
        return out;
    if (memchr(p, ':', n) != NULL) {
        if (find_url(p, n, &l) != (size_t)-1)
            out |= IND_URL;
        if (find_ipv6(p, n, &l) != (size_t)-1)
            out |= IND_IPV6;
    }
    if (memchr(p, '.', n) != NULL && (any & C_DIGIT) &&
        find_ipv4(p, n, &l) != (size_t)-1)
        out |= IND_IPV4;
    if (shellish && find_shell(p, n, &l) != (size_t)-1)
        out |= IND_SHELL;
    return out;
}

size_t
mg_ind_extract(const char *p, size_t n, uint16_t c, char *out, size_t size)
{
    size_t at = (size_t)-1, len = 0;
    switch (c) {
    case IND_URL:
        at = find_url(p, n, &len);
        break;
    case IND_IPV4:
        at = find_ipv4(p, n, &len);
        break;
    case IND_IPV6:
        at = find_ipv6(p, n, &len);
        break;
    case IND_SHELL:
        at = find_shell(p, n, &len);
        break;
    case IND_BASE64:
        at = find_b64(p, n, &len);
        break;
    case IND_PICKLE:
        at = 0;
        len = n < 16 ? n : 16;
        break;
    default:
        break;
    }
    if (size == 0)
        return 0;
    out[0] = '\0';
    if (at == (size_t)-1)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < len && k + 5 < size; i++) {
        unsigned char ch = (unsigned char)p[at + i];
        if (ch < 0x20 || ch >= 0x7f) {
            static const char hx[] = "0123456789abcdef";
            out[k++] = '\\';
            out[k++] = 'x';
            out[k++] = hx[ch >> 4];
            out[k++] = hx[ch & 15];
        } else {
            out[k++] = (char)ch;
        }
    }
    if (c == IND_BASE64 && len > 48 && size > 52) {
        k = 48;
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return k;
}

const char *
mg_ind_rule(uint16_t c)
{
    switch (c) {
    case IND_URL:
        return "indicator-url";
    case IND_IPV4:
    case IND_IPV6:
        return "indicator-ip";
    case IND_SHELL:
        return "indicator-shell";
    case IND_BASE64:
        return "indicator-base64";
    case IND_PICKLE:
        return "indicator-pickle";
    default:
        return "indicator";
    }
}

const char *
mg_ind_label(uint16_t c)
{
    switch (c) {
    case IND_URL:
        return "URL";
    case IND_IPV4:
        return "IPv4 address";
    case IND_IPV6:
        return "IPv6 address";
    case IND_SHELL:
        return "shell command line";
    case IND_BASE64:
        return "long base64 blob";
    case IND_PICKLE:
        return "embedded pickle";
    default:
        return "indicator";
    }
}
