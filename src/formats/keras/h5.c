/*
 * h5.c - HDF5 files, read with libhdf5 (the only code that sees it): the
 * legacy Keras .h5 model (its model_config and training_config attributes
 * are Keras JSON) and any other HDF5 file, e.g. model.weights.h5 inside a
 * .keras archive. libhdf5 reads through a read-only virtual file driver
 * over our input, so members in memory and large files work alike and it
 * never opens a path. What is examined: every attribute of every group
 * reachable by hard links (bounded by max-members and max-nesting), and
 * every link. Datasets are never opened (their data is weights; opening
 * a virtual dataset would open its source files).
 *
 * libhdf5 parses hostile metadata in-process and has had memory-safety
 * bugs on crafted files (CVE lists for HDF5 1.10): docs/formats.md says
 * so, and MG_HDF5=OFF builds without it (HDF5 files then get the verdict
 * error, never safe).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/common/common.h"
#include "formats/format.h"
#include "formats/keras/keras.h"

static const uint8_t h5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static unsigned
h5_probe(const uint8_t *h, size_t len, uint64_t size)
{
    (void)size;
    /* The superblock is at 0, 512, 1024, 2048... (a user block first). */
    for (size_t off = 0; off + 8 <= len; off = off ? off * 2 : 512)
        if (memcmp(h + off, h5_sig, 8) == 0)
            return 64;
    return 0;
}

#ifndef MG_HAVE_HDF5

static enum mg_status
h5_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    (void)in;
    return mg_ctx_incomplete(ctx, NULL, 0,
                             "HDF5 file: this modelgate was built without "
                             "libhdf5 (MG_HDF5=OFF)");
}

#else

#include <hdf5.h>

struct mgfd_info {
    struct mg_input *in;
};

struct mgfd {
    H5FD_t pub; /* must be first: libhdf5 owns it */
    struct mg_input *in;
    haddr_t eoa;
};

static H5FD_t *
mgfd_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr)
{
    (void)name;
    (void)maxaddr;
    if (flags & (H5F_ACC_RDWR | H5F_ACC_TRUNC | H5F_ACC_CREAT))
        return NULL;
    const struct mgfd_info *fi = H5Pget_driver_info(fapl);
    if (fi == NULL || fi->in == NULL)
        return NULL;
    struct mgfd *f = mg_calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->in = fi->in;
    return &f->pub;
}

static herr_t
mgfd_close(H5FD_t *file)
{
    mg_free(file);
    return 0;
}

static int
mgfd_cmp(const H5FD_t *a, const H5FD_t *b)
{
    return a < b ? -1 : (a > b);
}

static herr_t
mgfd_query(const H5FD_t *f, unsigned long *flags)
{
    (void)f;
    *flags = 0;
    return 0;
}

static haddr_t
mgfd_get_eoa(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return ((const struct mgfd *)(const void *)file)->eoa;
}

static herr_t
mgfd_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t addr)
{
    (void)type;
    ((struct mgfd *)(void *)file)->eoa = addr;
    return 0;
}

static haddr_t
mgfd_get_eof(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return (haddr_t)((const struct mgfd *)(const void *)file)->in->size;
}

/* Reads past the end of the input return zeros, as libhdf5's own POSIX
   driver does. */
static herr_t
mgfd_read(H5FD_t *file,
          H5FD_mem_t type,
          hid_t dxpl,
          haddr_t addr,
          size_t size,
          void *buf)
{
    (void)type;
    (void)dxpl;
    struct mgfd *f = (struct mgfd *)(void *)file;
    uint64_t sz = f->in->size;
    size_t have = 0;
    if ((uint64_t)addr < sz) {
        uint64_t left = sz - (uint64_t)addr;
        have = (uint64_t)size < left ? size : (size_t)left;
        if (mg_input_read(f->in, (uint64_t)addr, buf, have) != MG_OK)
            return -1;
    }
    if (have < size)
        memset((uint8_t *)buf + have, 0, size - have);
    return 0;
}

static herr_t
mgfd_write(H5FD_t *file,
           H5FD_mem_t type,
           hid_t dxpl,
           haddr_t addr,
           size_t size,
           const void *buf)
{
    (void)file;
    (void)type;
    (void)dxpl;
    (void)addr;
    (void)size;
    (void)buf;
    return -1; /* read-only, always */
}

static const H5FD_class_t mgfd_class = {
    .name = "modelgate_input",
    .maxaddr = ((haddr_t)1 << 62) - 1,
    .fc_degree = H5F_CLOSE_WEAK,
    .fapl_size = sizeof(struct mgfd_info),
    .open = mgfd_open,
    .close = mgfd_close,
    .cmp = mgfd_cmp,
    .query = mgfd_query,
    .get_eoa = mgfd_get_eoa,
    .set_eoa = mgfd_set_eoa,
    .get_eof = mgfd_get_eof,
    .read = mgfd_read,
    .write = mgfd_write,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

struct h5 {
    struct mg_ctx *ctx;
    hid_t file;
    uint64_t objects;   /* groups visited */
    int keras;          /* a model_config was found */
    int stopped;        /* a limit ended the walk */
    enum mg_status st;  /* first hard error (NOMEM) */
    haddr_t seen[4096]; /* groups visited (hard-link cycles) */
    size_t nseen;
    char path[1024];
};

static int
seen_before(struct h5 *h, haddr_t a)
{
    for (size_t i = 0; i < h->nseen; i++)
        if (h->seen[i] == a)
            return 1;
    if (h->nseen < sizeof(h->seen) / sizeof(h->seen[0]))
        h->seen[h->nseen++] = a;
    return 0;
}

static int
is_pickle(const uint8_t *b, size_t n)
{
    return n >= 3 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5;
}

/* One attribute value (bytes): Keras JSON, or a pickle. */
static enum mg_status
judge_value(struct h5 *h, const char *aname, const uint8_t *b, size_t n)
{
    char where[1400];
    snprintf(where, sizeof(where), "HDF5 attribute %s%s%s", h->path,
             strcmp(h->path, "/") ? "/" : "", aname);
    /* Fixed-length strings are padded with NULs or spaces. */
    while (n > 0 && (b[n - 1] == 0 || b[n - 1] == ' '))
        n--;
    if (is_pickle(b, n)) {
        struct mg_input in;
        mg_input_mem(&in, b, n);
        enum mg_status st =
            mg_ctx_findf(h->ctx, MG_SEV_INFO, "h5-embedded-pickle", -1,
                         "%s holds a %zu-byte pickle: scanned as its own "
                         "layer",
                         where, n);
        return st == MG_OK ? mg_scan_input(h->ctx, &in, where) : st;
    }
    int config = strcmp(aname, "model_config") == 0 ||
                 strcmp(aname, "training_config") == 0;
    if (config || (n > 0 && mg_keras_json_probe(b, n) > 0)) {
        if (strcmp(aname, "model_config") == 0)
            h->keras = 1;
        return mg_keras_scan_json(h->ctx, b, n, -1, where);
    }
    return MG_OK;
}

static herr_t
on_attr(hid_t loc, const char *name, const H5A_info_t *info, void *op)
{
    struct h5 *h = op;
    (void)info;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return 0;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a), mem = -1;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    size_t esz = t >= 0 ? H5Tget_size(t) : 0;
    uint64_t max = h->ctx->lim->max_header_bytes;
    enum mg_status st = MG_OK;
    if (np <= 0 || np > 1000000)
        goto out;
    if (cls == H5T_STRING && H5Tis_variable_str(t) > 0) {
        mem = H5Tcopy(H5T_C_S1);
        if (mem < 0 || H5Tset_size(mem, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mem, H5Tget_cset(t)) < 0)
            goto out;
        char **v = mg_calloc((size_t)np, sizeof(*v));
        if (v == NULL) {
            st = MG_E_NOMEM;
            goto out;
        }
        if (H5Aread(a, mem, v) >= 0) {
            for (hssize_t i = 0; i < np && st == MG_OK; i++) {
                if (v[i] == NULL)
                    continue;
                size_t lim = max >= SIZE_MAX ? SIZE_MAX - 1 : (size_t)max;
                size_t n = strnlen(v[i], lim + 1);
                if ((uint64_t)n > max)
                    st =
                        mg_ctx_incomplete(h->ctx, "max-header-bytes", -1, name);
                else
                    st = judge_value(h, name, (const uint8_t *)v[i], n);
            }
            H5Dvlen_reclaim(mem, sp, H5P_DEFAULT, v);
        }
        mg_free(v);
    } else if ((cls == H5T_STRING || cls == H5T_OPAQUE ||
                (cls == H5T_INTEGER && esz == 1)) &&
               esz > 0) {
        uint64_t total = (uint64_t)esz * (uint64_t)np;
        if (total > max) {
            st = mg_ctx_incomplete(h->ctx, "max-header-bytes", -1, name);
            goto out;
        }
        uint8_t *b = mg_malloc((size_t)total);
        if (b == NULL) {
            st = MG_E_NOMEM;
            goto out;
        }
        if (H5Aread(a, t, b) >= 0) {
            if (cls == H5T_STRING && np > 1) {
                for (hssize_t i = 0; i < np && st == MG_OK; i++)
                    st = judge_value(h, name, b + (size_t)i * esz, esz);
            } else {
                st = judge_value(h, name, b, (size_t)total);
            }
        }
        mg_free(b);
    }
out:
    if (mem >= 0)
        H5Tclose(mem);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    H5Aclose(a);
    if (st != MG_OK) {
        h->st = st;
        return -1;
    }
    return 0;
}

static void walk(struct h5 *h, hid_t g, unsigned depth);

struct link_op {
    struct h5 *h;
    unsigned depth;
};

static herr_t
on_link(hid_t g, const char *name, const H5L_info_t *info, void *op)
{
    struct link_op *lo = op;
    struct h5 *h = lo->h;
    char q[400];
    mg_quote(q, sizeof(q), name, strlen(name), 120);
    enum mg_status st = MG_OK;
    if (info->type == H5L_TYPE_EXTERNAL) {
        char val[2048];
        size_t vs =
            info->u.val_size < sizeof(val) ? info->u.val_size : sizeof(val);
        const char *file = NULL, *obj = NULL;
        unsigned fl;
        if (H5Lget_val(g, name, val, vs, H5P_DEFAULT) >= 0 &&
            H5Lunpack_elink_val(val, vs, &fl, &file, &obj) >= 0 &&
            file != NULL) {
            enum mg_path_risk r = mg_path_risk(file, strlen(file), 0);
            char fq[400], oq[400];
            mg_quote(fq, sizeof(fq), file, strlen(file), 120);
            mg_quote(oq, sizeof(oq), obj ? obj : "", obj ? strlen(obj) : 0,
                     120);
            st = mg_ctx_findf(
                h->ctx, r == MG_PATH_OK ? MG_SEV_SUSPICIOUS : MG_SEV_DANGEROUS,
                "h5-external-link", -1,
                "link %s%s%s points into another file \"%s\" (object "
                "\"%s\")%s%s: h5py opens it when the link is followed",
                h->path, strcmp(h->path, "/") ? "/" : "", q, fq, oq,
                r == MG_PATH_OK ? "" : ", a path that ",
                r == MG_PATH_OK ? "" : mg_path_risk_text(r));
        }
    } else if (info->type != H5L_TYPE_HARD && info->type != H5L_TYPE_SOFT) {
        st = mg_ctx_findf(h->ctx, MG_SEV_SUSPICIOUS, "h5-external-link", -1,
                          "link %s%s%s is of user-defined type %d: following "
                          "it runs a link class the loading program "
                          "registered",
                          h->path, strcmp(h->path, "/") ? "/" : "", q,
                          (int)info->type);
    } else if (info->type == H5L_TYPE_HARD && !h->stopped) {
        H5O_info_t oi;
        if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >=
                0 &&
            oi.type == H5O_TYPE_GROUP && !seen_before(h, oi.addr)) {
            hid_t sub = H5Gopen2(g, name, H5P_DEFAULT);
            if (sub >= 0) {
                size_t plen = strlen(h->path);
                snprintf(h->path + plen, sizeof(h->path) - plen, "%s%s",
                         plen > 1 ? "/" : "", name);
                walk(h, sub, lo->depth + 1);
                h->path[plen] = '\0';
                H5Gclose(sub);
            }
        }
    }
    if (st != MG_OK) {
        h->st = st;
        return -1;
    }
    return h->st != MG_OK ? -1 : 0;
}

static void
walk(struct h5 *h, hid_t g, unsigned depth)
{
    if (h->st != MG_OK || h->stopped)
        return;
    if (++h->objects > h->ctx->lim->max_members) {
        h->stopped = 1;
        h->st = mg_ctx_incomplete(h->ctx, "max-members", -1,
                                  "groups in the HDF5 file");
        return;
    }
    if (depth > h->ctx->lim->max_nesting) {
        h->stopped = 1;
        h->st = mg_ctx_incomplete(h->ctx, "max-nesting", -1,
                                  "groups nested in the HDF5 file");
        return;
    }
    if (mg_ctx_expired(h->ctx)) {
        h->stopped = 1;
        h->st = mg_ctx_incomplete(h->ctx, "max-seconds", -1, NULL);
        return;
    }
    hsize_t idx = 0;
    H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, on_attr, h);
    if (h->st != MG_OK)
        return;
    struct link_op lo = {h, depth};
    idx = 0;
    H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, on_link, &lo);
}

static enum mg_status
h5_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    struct mg_input tmp, *use;
    uint8_t *buf = NULL;
    enum mg_status st =
        mg_input_random(in, ctx->lim->max_member_bytes, &tmp, &buf, &use);
    if (st != MG_OK)
        return st == MG_E_NOMEM
                   ? st
                   : mg_ctx_incomplete(
                         ctx, st == MG_E_LIMIT ? "max-member-bytes" : NULL, -1,
                         mg_strerror(st));
    /* libhdf5 prints its error stack by default: not in a library. The
       setting is per thread in thread-safe builds; restored after. */
    H5E_auto2_t old_func = NULL;
    void *old_data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct h5 *h = mg_calloc(1, sizeof(*h));
    hid_t drv = -1, fapl = -1, file = -1, root = -1;
    if (h == NULL) {
        st = MG_E_NOMEM;
        goto out;
    }
    h->ctx = ctx;
    memcpy(h->path, "/", 2);
    struct mgfd_info info = {use};
    drv = H5FDregister(&mgfd_class);
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (drv < 0 || fapl < 0 || H5Pset_driver(fapl, drv, &info) < 0) {
        st = mg_ctx_incomplete(ctx, NULL, 0, "libhdf5 could not be set up");
        goto out;
    }
    file = H5Fopen("modelgate-input", H5F_ACC_RDONLY, fapl);
    if (file < 0) {
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "h5-malformed", 0,
                          "the file has an HDF5 signature but libhdf5 "
                          "cannot open it: loaders refuse it");
        goto out;
    }
    root = H5Gopen2(file, "/", H5P_DEFAULT);
    if (root < 0) {
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "h5-malformed", 0,
                          "libhdf5 cannot open the root group");
        goto out;
    }
    h->file = file;
    walk(h, root, 0);
    st = h->st;
    if (st == MG_OK) {
        st = mg_ctx_findf(ctx, MG_SEV_INFO, "h5-summary", -1,
                          "HDF5%s: %" PRIu64 " groups examined",
                          h->keras ? " (Keras model)" : "", h->objects);
    }
out:
    if (root >= 0)
        H5Gclose(root);
    if (file >= 0)
        H5Fclose(file);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (drv >= 0)
        H5FDunregister(drv);
    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    mg_free(h);
    mg_free(buf);
    return st;
}

#endif /* MG_HAVE_HDF5 */

const struct mg_format mg_format_hdf5 = {"hdf5", h5_probe, h5_scan};
