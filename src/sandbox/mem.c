/*
 * mem.c - reading the target: its memory through /proc/<tid>/mem, and a
 * few /proc facts for the event record. All of it is hostile input:
 * bounded reads, no trust in lengths, strings cut at the cap. Callers
 * re-check SECCOMP_IOCTL_NOTIF_ID_VALID after reading, because the tid may
 * have died and been reused meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/reader.h"
#include "sandbox/sandbox.h"

#define PAGE 4096u

int
sb_mem_open(int tid)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/mem", tid);
    return open(p, O_RDONLY | O_CLOEXEC);
}

int
sb_mem_read(int memfd, uint64_t addr, void *buf, size_t len)
{
    size_t done = 0;
    if (addr > INT64_MAX || len > INT64_MAX - addr)
        return -1;
    while (done < len) {
        ssize_t k =
            pread(memfd, (char *)buf + done, len - done, (off_t)(addr + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

long
sb_mem_read_str(int memfd, uint64_t addr, char *buf, size_t cap, int *truncated)
{
    /* Page by page: a string may end just before an unmapped page, and
       one large read across it would fail. */
    size_t n = 0;
    *truncated = 0;
    if (cap == 0 || addr == 0)
        return -1;
    while (n + 1 < cap) {
        uint64_t at = addr + n;
        if (at < addr) /* wrapped */
            return -1;
        size_t chunk = PAGE - (size_t)(at % PAGE);
        if (chunk > cap - 1 - n)
            chunk = cap - 1 - n;
        if (sb_mem_read(memfd, at, buf + n, chunk) != 0)
            return -1;
        void *z = memchr(buf + n, 0, chunk);
        if (z != NULL) {
            n = (size_t)((char *)z - buf);
            return (long)n;
        }
        n += chunk;
    }
    buf[n] = '\0';
    *truncated = 1;
    return (long)n;
}

int
sb_proc_readlink(int tid, const char *what, char *buf, size_t cap)
{
    char p[80];
    snprintf(p, sizeof(p), "/proc/%d/%s", tid, what);
    ssize_t k = readlink(p, buf, cap - 1);
    if (k < 0) {
        buf[0] = '\0';
        return -1;
    }
    buf[k] = '\0';
    return 0;
}

/* Read a small /proc file (at most cap-1 bytes). */
static ssize_t
read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

int
sb_proc_tgid(int tid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof(p), "/proc/%d/status", tid);
    ssize_t n = read_small(p, buf, sizeof(buf));
    if (n <= 0)
        return -1;
    /* "Name:" comes first and the kernel escapes newlines in it, so a
       line that starts with "Tgid:" is the kernel's. */
    struct mg_reader r;
    rd_init(&r, buf, (size_t)n);
    while (rd_left(&r) > 0) {
        size_t len;
        if (rd_find(&r, '\n', rd_left(&r), &len) != MG_OK)
            len = rd_left(&r);
        const uint8_t *line;
        rd_bytes(&r, len, &line);
        rd_skip(&r, rd_left(&r) > 0 ? 1 : 0);
        if (len > 5 && memcmp(line, "Tgid:", 5) == 0) {
            long v = 0;
            size_t i = 5;
            while (i < len && (line[i] == '\t' || line[i] == ' '))
                i++;
            for (; i < len && line[i] >= '0' && line[i] <= '9' && v < 100000000;
                 i++)
                v = v * 10 + (line[i] - '0');
            return v > 0 ? (int)v : -1;
        }
    }
    return -1;
}

void
sb_proc_comm(int tid, char *buf, size_t cap)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/comm", tid);
    ssize_t n = read_small(p, buf, cap);
    if (n <= 0) {
        buf[0] = '\0';
        return;
    }
    if (buf[n - 1] == '\n')
        buf[n - 1] = '\0';
}
