#include "core/input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "io/ckd.h"

static enum mg_status
mem_read_at(void *impl, uint64_t off, void *buf, size_t n, size_t *got)
{
    struct mg_input *in = impl;
    if (off >= in->size) {
        *got = 0;
        return MG_OK;
    }
    uint64_t left = in->size - off;
    size_t k = left < n ? (size_t)left : n;
    memcpy(buf, in->mem + off, k);
    *got = k;
    return MG_OK;
}

void
mg_input_mem(struct mg_input *in, const void *buf, size_t len)
{
    memset(in, 0, sizeof(*in));
    in->size = len;
    in->mem = buf;
    in->read_at = mem_read_at;
    in->impl = in;
}

enum mg_status
mg_input_read(struct mg_input *in, uint64_t off, void *buf, size_t n)
{
    if (in->read_at == NULL)
        return MG_E_UNSUPPORTED;
    uint64_t end;
    if (ckd_add_u64(&end, off, n) || end > in->size)
        return MG_E_TRUNCATED;
    size_t done = 0;
    while (done < n) {
        size_t got = 0;
        enum mg_status st = in->read_at(in->impl, off + done,
                                        (uint8_t *)buf + done, n - done, &got);
        if (st != MG_OK)
            return st;
        if (got == 0)
            return MG_E_TRUNCATED;
        done += got;
    }
    if (in->bytes_read != NULL)
        *in->bytes_read += n;
    return MG_OK;
}

enum mg_status
mg_input_sniff(struct mg_input *in)
{
    in->head_len = 0;
    if (in->mem != NULL) {
        size_t k =
            in->size < MG_SNIFF_BYTES ? (size_t)in->size : MG_SNIFF_BYTES;
        memcpy(in->head, in->mem, k);
        in->head_len = k;
        return MG_OK;
    }
    if (in->read_at != NULL) {
        size_t k =
            in->size < MG_SNIFF_BYTES ? (size_t)in->size : MG_SNIFF_BYTES;
        enum mg_status st = mg_input_read(in, 0, in->head, k);
        if (st == MG_OK)
            in->head_len = k;
        return st;
    }
    while (in->head_len < MG_SNIFF_BYTES) {
        size_t got = 0;
        enum mg_status st = in->pull(in->impl, in->head + in->head_len,
                                     MG_SNIFF_BYTES - in->head_len, &got);
        if (st != MG_OK)
            return st;
        if (got == 0)
            break;
        in->head_len += got;
    }
    return MG_OK;
}

static enum mg_status
cursor_pull(void *impl, void *buf, size_t n, size_t *got)
{
    struct mg_input_cursor *c = impl;
    struct mg_input *in = c->in;
    *got = 0;
    if (in->read_at == NULL) {
        if (c->replay < in->head_len) {
            size_t k = in->head_len - c->replay;
            if (k > n)
                k = n;
            memcpy(buf, in->head + c->replay, k);
            c->replay += k;
            *got = k;
            return MG_OK;
        }
        return in->pull(in->impl, buf, n, got);
    }
    if (c->off >= c->end)
        return MG_OK;
    uint64_t left = c->end - c->off;
    size_t k = left < n ? (size_t)left : n;
    enum mg_status st = in->read_at(in->impl, c->off, buf, k, got);
    if (st == MG_OK) {
        c->off += *got;
        if (in->bytes_read != NULL)
            *in->bytes_read += *got;
    }
    return st;
}

/* Random-access sources skip by moving the cursor, without reading. */
static enum mg_status
cursor_skip(void *impl, uint64_t n, uint64_t *done)
{
    struct mg_input_cursor *c = impl;
    uint64_t left = c->end - c->off;
    *done = n < left ? n : left;
    c->off += *done;
    return MG_OK;
}

enum mg_status
mg_input_stream(struct mg_input *in,
                uint64_t off,
                uint64_t len,
                struct mg_input_cursor *cur,
                struct mg_stream *s)
{
    memset(cur, 0, sizeof(*cur));
    cur->in = in;
    if (in->read_at == NULL) {
        if (off != 0)
            return MG_E_UNSUPPORTED;
        mg_stream_init_pull(s, cursor_pull, cur, 0, MG_STREAM_WINDOW * 64);
        return MG_OK;
    }
    if (off > in->size)
        return MG_E_TRUNCATED;
    uint64_t end = in->size;
    if (len != UINT64_MAX && len < in->size - off)
        end = off + len;
    if (in->mem != NULL) {
        mg_stream_init_mem(s, in->mem + off, (size_t)(end - off), off);
        if (in->bytes_read != NULL)
            *in->bytes_read += end - off;
        return MG_OK;
    }
    cur->off = off;
    cur->end = end;
    mg_stream_init_pull(s, cursor_pull, cur, off, MG_STREAM_WINDOW * 64);
    s->skip = cursor_skip;
    return MG_OK;
}

static enum mg_status
window_read_at(void *impl, uint64_t off, void *buf, size_t n, size_t *got)
{
    struct mg_input_window *w = impl;
    if (off >= w->len) {
        *got = 0;
        return MG_OK;
    }
    if (n > w->len - off)
        n = (size_t)(w->len - off);
    return w->parent->read_at(w->parent->impl, w->off + off, buf, n, got);
}

enum mg_status
mg_input_sub(struct mg_input *parent,
             uint64_t off,
             uint64_t len,
             struct mg_input_window *w,
             struct mg_input *child)
{
    uint64_t end;
    if (parent->read_at == NULL)
        return MG_E_UNSUPPORTED;
    if (ckd_add_u64(&end, off, len) || end > parent->size)
        return MG_E_TRUNCATED;
    memset(child, 0, sizeof(*child));
    child->size = len;
    if (parent->mem != NULL) {
        child->mem = parent->mem + off;
        child->read_at = mem_read_at;
        child->impl = child;
        return MG_OK;
    }
    w->parent = parent;
    w->off = off;
    w->len = len;
    child->read_at = window_read_at;
    child->impl = w;
    child->bytes_read = parent->bytes_read;
    return MG_OK;
}

enum mg_status
mg_input_spool(struct mg_input *in,
               uint64_t max,
               uint8_t **buf,
               const uint8_t **mem,
               size_t *len)
{
    *buf = NULL;
    *mem = NULL;
    *len = 0;
    if (in->mem != NULL) {
        *mem = in->mem;
        *len = (size_t)in->size;
        return MG_OK;
    }
    if (in->read_at != NULL) {
        size_t n;
        if (in->size > max || ckd_u64_to_size(&n, in->size))
            return MG_E_LIMIT;
        uint8_t *b = mg_malloc(n);
        if (b == NULL)
            return MG_E_NOMEM;
        enum mg_status st = mg_input_read(in, 0, b, n);
        if (st != MG_OK) {
            mg_free(b);
            return st;
        }
        *buf = b;
        *mem = b;
        *len = n;
        return MG_OK;
    }
    /* Sequential: what sniffing took first, then the rest. */
    size_t cap = in->head_len > 4096 ? in->head_len : 4096, n = 0;
    uint8_t *b = mg_malloc(cap);
    if (b == NULL)
        return MG_E_NOMEM;
    memcpy(b, in->head, in->head_len);
    n = in->head_len;
    enum mg_status st = MG_OK;
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                st = MG_E_LIMIT;
                break;
            }
            size_t nc = cap * 2 > max ? (size_t)max : cap * 2;
            uint8_t *nb = mg_realloc(b, nc);
            if (nb == NULL) {
                st = MG_E_NOMEM;
                break;
            }
            b = nb;
            cap = nc;
        }
        size_t got = 0;
        st = in->pull(in->impl, b + n, cap - n, &got);
        if (st != MG_OK || got == 0)
            break;
        n += got;
    }
    if (st != MG_OK && st != MG_E_LIMIT) {
        mg_free(b);
        return st;
    }
    if (n > max) { /* what sniffing took is already more */
        n = (size_t)max;
        st = MG_E_LIMIT;
    }
    *buf = b;
    *mem = b;
    *len = n;
    return st;
}

static enum mg_status
file_read_at(void *impl, uint64_t off, void *buf, size_t n, size_t *got)
{
    struct mg_file_input *f = impl;
    *got = 0;
    if (off >= f->size)
        return MG_OK;
    if (n > f->size - off)
        n = (size_t)(f->size - off);
    for (;;) {
        ssize_t k = pread(f->fd, buf, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return MG_E_IO;
        *got = (size_t)k;
        return MG_OK;
    }
}

enum mg_status
mg_input_file(struct mg_input *in,
              struct mg_file_input *f,
              const char *path,
              char *err,
              size_t errlen)
{
    memset(in, 0, sizeof(*in));
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return MG_E_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat: %s", strerror(errno));
        close(fd);
        return MG_E_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        close(fd);
        return MG_E_IO;
    }
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    in->size = f->size;
    in->read_at = file_read_at;
    in->impl = f;
    in->bytes_read = &f->bytes_read;
    if (f->size <= MG_READ_WHOLE) {
        f->data = mg_malloc((size_t)f->size);
        if (f->data == NULL) {
            snprintf(err, errlen, "out of memory");
            mg_input_file_close(f);
            return MG_E_NOMEM;
        }
        enum mg_status s2 = mg_input_read(in, 0, f->data, (size_t)f->size);
        if (s2 != MG_OK) {
            snprintf(err, errlen, "cannot read: %s",
                     s2 == MG_E_TRUNCATED ? "file shrank while read"
                                          : strerror(errno));
            mg_input_file_close(f);
            return MG_E_IO;
        }
        in->mem = f->data;
        /* Counted once above; streams over memory add nothing more. */
        in->bytes_read = NULL;
    }
    return MG_OK;
}

void
mg_input_file_close(struct mg_file_input *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    mg_free(f->data);
    f->data = NULL;
}
