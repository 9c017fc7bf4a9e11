/*
 * onnx.c - ONNX models (onnx/onnx.proto: ModelProto). The model is walked
 * with the schema-less wire decoder: graph, nodes, attributes, subgraphs
 * (If/Loop/Scan bodies, bounded by max-nesting), initializers, sparse
 * initializers, training graphs and model-local functions. Reported:
 * tensors whose data lives in an external file outside the model folder
 * (onnx.load and onnxruntime open it: absolute paths, '..', URLs), every
 * external data file, operators of domains outside the ONNX standard (the
 * runtime must load code for them), and the model-local functions. Tensor
 * bytes are skipped, never read.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/common/common.h"
#include "formats/format.h"
#include "proto/pb.h"

/* Standard domains, and the runtime's own contrib domains (built into
   onnxruntime, so no extra code is loaded for them). */
static const char *const std_domains[] = {"",
                                          "ai.onnx",
                                          "ai.onnx.ml",
                                          "ai.onnx.training",
                                          "ai.onnx.preview.training",
                                          "ai.onnx.preview"};
static const char *const runtime_domains[] = {
    "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental",
    "com.microsoft.dml", "org.pytorch.aten"};

#define MAX_DOMAINS       64
#define OPS_PER_DOMAIN    8
#define MAX_FUNCS         256
#define ONNX_HARD_NESTING 1024u

struct domain {
    char name[128];
    uint64_t nodes;
    unsigned nops;
    char ops[OPS_PER_DOMAIN][64];
};

struct onnx {
    struct mg_ctx *ctx;
    struct mg_pb_src src;
    int stop; /* malformed: nothing more can be read */
    uint64_t nodes;
    uint64_t tensors;
    uint64_t external;
    unsigned ndomains;
    uint64_t domains_dropped;
    struct domain domains[MAX_DOMAINS];
    unsigned nfuncs;
    char funcs[MAX_FUNCS][2][128]; /* domain, name */
    unsigned reports;
};

static int
in_list(const char *const *l, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i], s) == 0)
            return 1;
    return 0;
}

/* Protobuf damage: reported once, then the walk stops. */
static enum mg_status
malformed(struct onnx *o, enum mg_status why, uint64_t off, const char *where)
{
    return mg_fmt_pb_damage(o->ctx, &o->stop, "onnx-malformed", why, off, where,
                            "onnx.load and onnxruntime refuse the model");
}

static void
note_op(struct onnx *o, const char *domain, const char *op)
{
    struct domain *d = NULL;
    for (unsigned i = 0; i < o->ndomains; i++)
        if (strcmp(o->domains[i].name, domain) == 0)
            d = &o->domains[i];
    if (d == NULL) {
        if (o->ndomains == MAX_DOMAINS) {
            o->domains_dropped++;
            return;
        }
        d = &o->domains[o->ndomains++];
        snprintf(d->name, sizeof(d->name), "%s", domain);
    }
    d->nodes++;
    for (unsigned i = 0; i < d->nops; i++)
        if (strcmp(d->ops[i], op) == 0)
            return;
    if (d->nops < OPS_PER_DOMAIN)
        snprintf(d->ops[d->nops++], sizeof(d->ops[0]), "%s", op);
}

/* A TensorProto: where its data lives. */
static enum mg_status
tensor(struct onnx *o,
       const struct mg_pb *parent,
       const struct mg_pb_field *tf,
       const char *what)
{
    struct mg_pb r;
    mg_pb_sub(parent, tf, &r);
    struct mg_pb_field f;
    char name[256] = "", loc[1024] = "";
    size_t loclen = 0;
    int has_loc = 0;
    uint64_t data_location = 0, loc_off = tf->off;
    enum mg_status st;
    o->tensors++;
    while (!mg_pb_done(&r)) {
        if ((st = mg_pb_next(&r, &f)) != MG_OK)
            return malformed(o, st, r.pos, "a tensor");
        if (f.num == 8 && f.wire == MG_PB_LEN) {
            mg_pbx_str(&o->src, &f, name, sizeof(name));
        } else if (f.num == 14 && f.wire == MG_PB_VARINT) {
            data_location = f.v;
        } else if (f.num == 13 && f.wire == MG_PB_LEN) {
            /* StringStringEntryProto {key = 1; value = 2} */
            struct mg_pb_field val = {0}; /* num 0: absent */
            char key[64] = "";
            const struct mg_pbx_pick want[] = {
                {.num = 1, .str = key, .cap = sizeof(key)},
                {.num = 2, .raw = &val}};
            uint64_t bad;
            if ((st = mg_pbx_pick(&r, &f, want, 2, &bad)) != MG_OK)
                return malformed(o, st, bad, "an external_data entry");
            if (strcmp(key, "location") == 0 && val.num != 0) {
                has_loc = 1;
                loclen = mg_pbx_str(&o->src, &val, loc, sizeof(loc));
                loc_off = val.off;
            }
        }
    }
    if (!has_loc) {
        if (data_location == 1)
            return mg_ctx_findf(o->ctx, MG_SEV_SUSPICIOUS, "onnx-external-data",
                                (int64_t)tf->off,
                                "%s \"%s\" says its data is external but "
                                "names no location",
                                what, name);
        return MG_OK;
    }
    o->external++;
    char q[MG_QUOTE_BYTES * 4 + 8], nq[MG_QUOTE_BYTES * 4 + 8];
    mg_quote(q, sizeof(q), loc, loclen, MG_QUOTE_BYTES);
    mg_quote(nq, sizeof(nq), name, strlen(name), 80);
    enum mg_path_risk risk = mg_path_risk(loc, loclen, 0);
    /* onnx joins the location to the model folder: "scheme://x" is an
       odd relative path there, not a download. */
    if (risk == MG_PATH_URL)
        return mg_ctx_findf(o->ctx, MG_SEV_SUSPICIOUS, "onnx-external-data",
                            (int64_t)loc_off,
                            "%s \"%s\" reads its data from \"%s\", which "
                            "looks like a URL: loaders treat it as a path in "
                            "the model folder",
                            what, nq, q);
    if (risk != MG_PATH_OK)
        return mg_ctx_findf(
            o->ctx, MG_SEV_DANGEROUS, "onnx-external-data", (int64_t)loc_off,
            "%s \"%s\" reads its data from \"%s\", a path that %s: loading "
            "the model opens that file (onnx.load, onnxruntime)%s",
            what, nq, q, mg_path_risk_text(risk),
            data_location == 1 ? "" : " once data_location says EXTERNAL");
    if (data_location != 1)
        return mg_ctx_findf(o->ctx, MG_SEV_SUSPICIOUS, "onnx-external-data",
                            (int64_t)loc_off,
                            "%s \"%s\" names external data \"%s\" but its "
                            "data_location is not EXTERNAL: loaders disagree "
                            "on where its data is",
                            what, nq, q);
    return mg_ctx_findf(o->ctx, MG_SEV_INFO, "onnx-external-data",
                        (int64_t)loc_off,
                        "%s \"%s\" reads its data from \"%s\" in the model "
                        "folder",
                        what, nq, q);
}

/* SparseTensorProto {values = 1; indices = 2}. */
static enum mg_status
sparse(struct onnx *o,
       const struct mg_pb *parent,
       const struct mg_pb_field *sf,
       const char *what)
{
    struct mg_pb r;
    struct mg_pb_field f;
    mg_pb_sub(parent, sf, &r);
    while (!mg_pb_done(&r) && !o->stop) {
        enum mg_status st = mg_pb_next(&r, &f);
        if (st != MG_OK)
            return malformed(o, st, r.pos, "a sparse tensor");
        if ((f.num == 1 || f.num == 2) && f.wire == MG_PB_LEN) {
            st = tensor(o, &r, &f, what);
            if (st != MG_OK)
                return st;
        }
    }
    return MG_OK;
}

static enum mg_status graph(struct onnx *o,
                            const struct mg_pb *parent,
                            const struct mg_pb_field *gf,
                            unsigned depth);

static enum mg_status
nesting(struct onnx *o, unsigned depth, uint64_t off)
{
    uint64_t lim = o->ctx->lim->max_nesting;
    if (lim > ONNX_HARD_NESTING)
        lim = ONNX_HARD_NESTING;
    if (depth <= lim)
        return MG_OK;
    o->stop = 1;
    return mg_ctx_incomplete(o->ctx, "max-nesting", (int64_t)off,
                             "ONNX subgraphs nested too deeply");
}

/* AttributeProto: tensors and graphs inside. */
static enum mg_status
attribute(struct onnx *o,
          const struct mg_pb *parent,
          const struct mg_pb_field *af,
          unsigned depth)
{
    struct mg_pb r;
    struct mg_pb_field f;
    mg_pb_sub(parent, af, &r);
    while (!mg_pb_done(&r) && !o->stop) {
        enum mg_status st = mg_pb_next(&r, &f);
        if (st != MG_OK)
            return malformed(o, st, r.pos, "an attribute");
        if (f.wire != MG_PB_LEN)
            continue;
        if (f.num == 5 || f.num == 10)
            st = tensor(o, &r, &f, "attribute tensor");
        else if (f.num == 6 || f.num == 11)
            st = graph(o, &r, &f, depth + 1);
        else if (f.num == 22 || f.num == 23)
            st = sparse(o, &r, &f, "attribute sparse tensor");
        if (st != MG_OK)
            return st;
    }
    return MG_OK;
}

/* NodeProto: op_type = 4, domain = 7, attribute = 5. */
static enum mg_status
node(struct onnx *o,
     const struct mg_pb *parent,
     const struct mg_pb_field *nf,
     unsigned depth)
{
    struct mg_pb r;
    struct mg_pb_field f;
    char op[64] = "", domain[128] = "";
    const struct mg_pbx_pick want[] = {
        {.num = 4, .str = op, .cap = sizeof(op)},
        {.num = 7, .str = domain, .cap = sizeof(domain)}};
    uint64_t bad;
    o->nodes++;
    enum mg_status st = mg_pbx_pick(parent, nf, want, 2, &bad);
    if (st != MG_OK)
        return malformed(o, st, bad, "a node");
    if (!in_list(std_domains, sizeof(std_domains) / sizeof(std_domains[0]),
                 domain))
        note_op(o, domain, op);
    mg_pb_sub(parent, nf, &r);
    while (!mg_pb_done(&r) && !o->stop) {
        st = mg_pb_next(&r, &f);
        if (st != MG_OK)
            return malformed(o, st, r.pos, "a node");
        if (f.num == 5 && f.wire == MG_PB_LEN) {
            st = attribute(o, &r, &f, depth);
            if (st != MG_OK)
                return st;
        }
    }
    return MG_OK;
}

/* GraphProto: node = 1, initializer = 5, sparse_initializer = 15. */
static enum mg_status
graph(struct onnx *o,
      const struct mg_pb *parent,
      const struct mg_pb_field *gf,
      unsigned depth)
{
    enum mg_status st = nesting(o, depth, gf->off);
    if (st != MG_OK || o->stop)
        return st;
    struct mg_pb r;
    struct mg_pb_field f;
    mg_pb_sub(parent, gf, &r);
    uint64_t n = 0;
    while (!mg_pb_done(&r) && !o->stop) {
        st = mg_pb_next(&r, &f);
        if (st != MG_OK)
            return malformed(o, st, r.pos, "a graph");
        if (f.wire != MG_PB_LEN)
            continue;
        if (f.num == 1)
            st = node(o, &r, &f, depth);
        else if (f.num == 5)
            st = tensor(o, &r, &f, "initializer");
        else if (f.num == 15)
            st = sparse(o, &r, &f, "sparse initializer");
        if (st != MG_OK)
            return st;
        if (mg_fmt_tick(o->ctx, &n, r.pos, &st)) {
            o->stop = 1;
            return st;
        }
    }
    return MG_OK;
}

/* FunctionProto: name = 1, node = 7, domain = 10, attribute_proto = 11. */
static enum mg_status
function(struct onnx *o,
         const struct mg_pb *parent,
         const struct mg_pb_field *ff)
{
    struct mg_pb r;
    struct mg_pb_field f;
    char name[128] = "", domain[128] = "";
    mg_pb_sub(parent, ff, &r);
    enum mg_status st;
    while (!mg_pb_done(&r) && !o->stop) {
        if ((st = mg_pb_next(&r, &f)) != MG_OK)
            return malformed(o, st, r.pos, "a function");
        if (f.wire != MG_PB_LEN)
            continue;
        if (f.num == 1)
            mg_pbx_str(&o->src, &f, name, sizeof(name));
        else if (f.num == 10)
            mg_pbx_str(&o->src, &f, domain, sizeof(domain));
        else if (f.num == 7)
            st = node(o, &r, &f, 1);
        else if (f.num == 11)
            st = attribute(o, &r, &f, 1);
        else
            st = MG_OK;
        if (st != MG_OK)
            return st;
    }
    if (o->nfuncs < MAX_FUNCS) {
        snprintf(o->funcs[o->nfuncs][0], 128, "%s", domain);
        snprintf(o->funcs[o->nfuncs][1], 128, "%s", name);
        o->nfuncs++;
    }
    char dq[400], nq[400];
    mg_quote(dq, sizeof(dq), domain, strlen(domain), 80);
    mg_quote(nq, sizeof(nq), name, strlen(name), 80);
    return mg_ctx_findf(o->ctx, MG_SEV_INFO, "onnx-function", (int64_t)ff->off,
                        "model-local function %s%s%s: its body is made of "
                        "other operators, checked like the graph",
                        dq, dq[0] ? ":" : "", nq);
}

static int
is_local_function(const struct onnx *o, const char *domain, const char *op)
{
    for (unsigned i = 0; i < o->nfuncs; i++)
        if (strcmp(o->funcs[i][0], domain) == 0 &&
            strcmp(o->funcs[i][1], op) == 0)
            return 1;
    return 0;
}

static enum mg_status
report_domains(struct onnx *o)
{
    for (unsigned i = 0; i < o->ndomains; i++) {
        struct domain *d = &o->domains[i];
        char ops[600];
        size_t k = 0;
        unsigned custom = 0;
        ops[0] = '\0';
        for (unsigned j = 0; j < d->nops; j++) {
            if (is_local_function(o, d->name, d->ops[j]))
                continue;
            custom++;
            char q[260];
            mg_quote(q, sizeof(q), d->ops[j], strlen(d->ops[j]), 60);
            int w =
                snprintf(ops + k, sizeof(ops) - k, "%s%s", k ? ", " : "", q);
            if (w > 0 && (size_t)w < sizeof(ops) - k)
                k += (size_t)w;
        }
        if (custom == 0)
            continue;
        char dq[400];
        mg_quote(dq, sizeof(dq), d->name, strlen(d->name), 80);
        int rt = in_list(runtime_domains,
                         sizeof(runtime_domains) / sizeof(runtime_domains[0]),
                         d->name);
        enum mg_status st = mg_ctx_findf(
            o->ctx, rt ? MG_SEV_INFO : MG_SEV_UNKNOWN, "onnx-custom-domain", -1,
            "%" PRIu64 " nodes use operators of domain \"%s\" (%s%s)%s",
            d->nodes, dq, ops, d->nops == OPS_PER_DOMAIN ? ", ..." : "",
            rt ? ": built into onnxruntime"
               : ": implemented outside ONNX, so the runtime must load a "
                 "custom operator library (code) to run them");
        if (st != MG_OK)
            return st;
    }
    if (o->domains_dropped > 0)
        return mg_ctx_findf(o->ctx, MG_SEV_UNKNOWN, "onnx-custom-domain", -1,
                            "%" PRIu64 " more nodes use further custom "
                            "domains (not listed)",
                            o->domains_dropped);
    return MG_OK;
}

static enum mg_status
onnx_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    struct mg_input tmp, *use;
    uint8_t *buf = NULL;
    enum mg_status st;
    if (!mg_fmt_random(ctx, in, ctx->lim->max_member_bytes, &tmp, &buf, &use,
                       &st))
        return st;
    struct onnx *o = mg_calloc(1, sizeof(*o));
    if (o == NULL) {
        mg_free(buf);
        return MG_E_NOMEM;
    }
    o->ctx = ctx;
    mg_pb_src_init(&o->src, use);
    struct mg_pb r;
    struct mg_pb_field f;
    mg_pb_init(&r, &o->src, 0, use->size);
    uint64_t ir = 0;
    int has_graph = 0;
    char producer[128] = "", opsets[400] = "";
    size_t ol = 0;
    while (!mg_pb_done(&r) && !o->stop && st == MG_OK) {
        st = mg_pb_next(&r, &f);
        if (st != MG_OK) {
            st = malformed(o, st, r.pos, "the model");
            break;
        }
        if (f.num == 1 && f.wire == MG_PB_VARINT) {
            ir = f.v;
        } else if (f.num == 2 && f.wire == MG_PB_LEN) {
            mg_pbx_str(&o->src, &f, producer, sizeof(producer));
        } else if (f.num == 7 && f.wire == MG_PB_LEN) {
            has_graph = 1;
            st = graph(o, &r, &f, 1);
        } else if (f.num == 8 && f.wire == MG_PB_LEN) {
            /* OperatorSetIdProto {domain = 1; version = 2} */
            char dom[64] = "";
            uint64_t ver = 0, bad;
            const struct mg_pbx_pick want[] = {
                {.num = 1, .str = dom, .cap = sizeof(dom)},
                {.num = 2, .v = &ver}};
            if ((st = mg_pbx_pick(&r, &f, want, 2, &bad)) != MG_OK) {
                st = malformed(o, st, bad, "an opset import");
                break;
            }
            char dq[260];
            mg_quote(dq, sizeof(dq), dom[0] ? dom : "ai.onnx",
                     strlen(dom[0] ? dom : "ai.onnx"), 60);
            int w = snprintf(opsets + ol, sizeof(opsets) - ol, "%s%s %" PRIu64,
                             ol ? ", " : "", dq, ver);
            if (w > 0 && (size_t)w < sizeof(opsets) - ol)
                ol += (size_t)w;
        } else if (f.num == 20 && f.wire == MG_PB_LEN) {
            /* TrainingInfoProto {initialization = 1; algorithm = 2} */
            struct mg_pb e;
            struct mg_pb_field ef;
            mg_pb_sub(&r, &f, &e);
            while (!mg_pb_done(&e) && !o->stop && st == MG_OK) {
                if ((st = mg_pb_next(&e, &ef)) != MG_OK) {
                    st = malformed(o, st, e.pos, "training info");
                    break;
                }
                if ((ef.num == 1 || ef.num == 2) && ef.wire == MG_PB_LEN)
                    st = graph(o, &e, &ef, 1);
            }
        } else if (f.num == 25 && f.wire == MG_PB_LEN) {
            st = function(o, &r, &f);
        }
    }
    if (st == MG_OK && !has_graph && !o->stop)
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "onnx-malformed", -1,
                          "the model has no graph: runtimes refuse it (a "
                          "file cut short, or not really ONNX)");
    if (st == MG_OK)
        st = report_domains(o);
    if (st == MG_OK) {
        char pq[300];
        mg_quote(pq, sizeof(pq), producer, strlen(producer), 60);
        st = mg_ctx_findf(ctx, MG_SEV_INFO, "onnx-summary", -1,
                          "ONNX IR version %" PRIu64 ", producer \"%s\", "
                          "opsets [%s], %" PRIu64 " nodes, %" PRIu64
                          " tensors (%" PRIu64 " with external data)",
                          ir, pq, opsets, o->nodes, o->tensors, o->external);
    }
    mg_free(o);
    mg_free(buf);
    return st;
}

/* ir_version first, then only fields ModelProto has, each well formed as
   far as the head goes. */
static unsigned
onnx_probe(const uint8_t *h, size_t len, uint64_t size)
{
    (void)size;
    static const uint8_t fields[][2] = {
        {1, MG_PB_VARINT}, {2, MG_PB_LEN},  {3, MG_PB_LEN},  {4, MG_PB_LEN},
        {5, MG_PB_VARINT}, {6, MG_PB_LEN},  {7, MG_PB_LEN},  {8, MG_PB_LEN},
        {14, MG_PB_LEN},   {20, MG_PB_LEN}, {25, MG_PB_LEN}, {26, MG_PB_LEN}};
    struct mg_pbx_sniff s;
    if (mg_pbx_sniff(h, len, &s) != 0 || s.n < 2 || s.num[0] != 1 ||
        s.wire[0] != MG_PB_VARINT || s.val[0] == 0 || s.val[0] > 64)
        return 0;
    unsigned bits = 16;
    for (unsigned i = 1; i < s.n; i++) {
        int ok = 0;
        for (size_t j = 0; j < sizeof(fields) / sizeof(fields[0]); j++)
            ok |= s.num[i] == fields[j][0] && s.wire[i] == fields[j][1];
        if (!ok)
            return 0;
        if (s.num[i] == 2 && !s.text[i])
            return 0; /* producer_name is text */
        bits += 6;
    }
    return bits > 48 ? 48 : bits;
}

const struct mg_format mg_format_onnx = {"onnx", onnx_probe, onnx_scan};
