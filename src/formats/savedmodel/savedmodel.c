/*
 * savedmodel.c - TensorFlow graphs: saved_model.pb (SavedModel ->
 * MetaGraphDef -> GraphDef and its function library), frozen GraphDef
 * files, and keras_metadata.pb (Keras JSON per object). Loading a
 * SavedModel runs its graph ops in the TensorFlow runtime, so the ops are
 * what matters: ops that read, write or list files, run Python, or talk
 * to other hosts are reported with the node, the function that holds it
 * and, when an input is a string constant, its value (the path or URL).
 * Asset file names that leave the assets folder, and Keras metadata
 * (Lambda layers, modules outside Keras) are reported too. Tensor bytes
 * are skipped.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/common/common.h"
#include "formats/format.h"
#include "formats/keras/keras.h"
#include "proto/pb.h"

enum op_cat {
    OC_PYTHON,     /* runs a Python function of the loading process */
    OC_WRITE,      /* writes files */
    OC_READ,       /* reads or lists files */
    OC_CHECKPOINT, /* checkpoint I/O: normal in a saver graph */
    OC_NETWORK,    /* talks to other hosts */
    OC_CLUSTER,    /* exchanges tensors with other workers */
    OC_DEBUG,      /* sends tensors to debug_urls */
    OC_PRINT       /* may write to a file (output_stream) */
};

static const struct {
    const char *op;
    enum op_cat cat;
} tf_ops[] = {
    {"PyFunc", OC_PYTHON},
    {"PyFuncStateless", OC_PYTHON},
    {"EagerPyFunc", OC_PYTHON},
    {"WriteFile", OC_WRITE},
    {"SaveDataset", OC_WRITE},
    {"SaveDatasetV2", OC_WRITE},
    {"DatasetToTFRecord", OC_WRITE},
    {"ExperimentalDatasetToTFRecord", OC_WRITE},
    {"SnapshotDataset", OC_WRITE},
    {"SnapshotDatasetV2", OC_WRITE},
    {"CacheDataset", OC_WRITE},
    {"CacheDatasetV2", OC_WRITE},
    {"CreateSummaryFileWriter", OC_WRITE},
    {"CreateSummaryDbWriter", OC_WRITE},
    {"ImportEvent", OC_WRITE},
    {"ReadFile", OC_READ},
    {"MatchingFiles", OC_READ},
    {"MatchingFilesDataset", OC_READ},
    {"ExperimentalMatchingFilesDataset", OC_READ},
    {"WholeFileReader", OC_READ},
    {"WholeFileReaderV2", OC_READ},
    {"TextLineReader", OC_READ},
    {"TextLineReaderV2", OC_READ},
    {"FixedLengthRecordReader", OC_READ},
    {"FixedLengthRecordReaderV2", OC_READ},
    {"TFRecordReader", OC_READ},
    {"TFRecordReaderV2", OC_READ},
    {"LMDBReader", OC_READ},
    {"TextLineDataset", OC_READ},
    {"TFRecordDataset", OC_READ},
    {"TFRecordDatasetV2", OC_READ},
    {"FixedLengthRecordDataset", OC_READ},
    {"FixedLengthRecordDatasetV2", OC_READ},
    {"LMDBDataset", OC_READ},
    {"ExperimentalLMDBDataset", OC_READ},
    {"CSVDataset", OC_READ},
    {"CSVDatasetV2", OC_READ},
    {"ExperimentalCSVDataset", OC_READ},
    {"SqlDataset", OC_READ},
    {"ExperimentalSqlDataset", OC_READ},
    {"LoadDataset", OC_READ},
    {"InitializeTableFromTextFile", OC_READ},
    {"InitializeTableFromTextFileV2", OC_READ},
    {"LoadAndRemapMatrix", OC_READ},
    {"GenerateVocabRemapping", OC_READ},
    {"ImmutableConst", OC_READ},
    {"RecordInput", OC_READ},
    {"DecodeProtoV2", OC_READ},
    {"EncodeProto", OC_READ},
    {"Save", OC_CHECKPOINT},
    {"SaveV2", OC_CHECKPOINT},
    {"SaveSlices", OC_CHECKPOINT},
    {"Restore", OC_CHECKPOINT},
    {"RestoreV2", OC_CHECKPOINT},
    {"RestoreSlice", OC_CHECKPOINT},
    {"MergeV2Checkpoints", OC_CHECKPOINT},
    {"DataServiceDataset", OC_NETWORK},
    {"DataServiceDatasetV2", OC_NETWORK},
    {"DataServiceDatasetV3", OC_NETWORK},
    {"DataServiceDatasetV4", OC_NETWORK},
    {"RegisterDataset", OC_NETWORK},
    {"RegisterDatasetV2", OC_NETWORK},
    {"RpcClient", OC_NETWORK},
    {"RpcCall", OC_NETWORK},
    {"RpcServer", OC_NETWORK},
    {"RpcServerStart", OC_NETWORK},
    {"RpcServerRegister", OC_NETWORK},
    {"Rpc", OC_NETWORK},
    {"TryRpc", OC_NETWORK},
    {"BigQueryReader", OC_NETWORK},
    {"GcsConfigureCredentials", OC_NETWORK},
    {"GcsConfigureBlockCache", OC_NETWORK},
    {"_Send", OC_CLUSTER},
    {"_Recv", OC_CLUSTER},
    {"_HostSend", OC_CLUSTER},
    {"_HostRecv", OC_CLUSTER},
    {"CollectiveBcastSend", OC_CLUSTER},
    {"CollectiveBcastRecv", OC_CLUSTER},
    {"CollectiveBcastSendV2", OC_CLUSTER},
    {"CollectiveBcastRecvV2", OC_CLUSTER},
    {"CollectiveReduce", OC_CLUSTER},
    {"CollectiveReduceV2", OC_CLUSTER},
    {"CollectiveReduceV3", OC_CLUSTER},
    {"CollectiveGather", OC_CLUSTER},
    {"CollectiveGatherV2", OC_CLUSTER},
    {"CollectiveAllToAllV2", OC_CLUSTER},
    {"CollectiveAllToAllV3", OC_CLUSTER},
    {"CollectiveInitializeCommunicator", OC_CLUSTER},
    {"DebugIdentity", OC_DEBUG},
    {"DebugIdentityV2", OC_DEBUG},
    {"DebugIdentityV3", OC_DEBUG},
    {"DebugNanCount", OC_DEBUG},
    {"DebugNumericSummary", OC_DEBUG},
    {"DebugNumericSummaryV2", OC_DEBUG},
    {"PrintV2", OC_PRINT},
};

static const char *const cat_text[] = {
    "runs a Python function of the loading process",
    "writes files",
    "reads or lists files",
    "reads or writes a checkpoint",
    "connects to other hosts",
    "exchanges tensors with other workers",
    "sends tensors to its debug URLs",
    "prints"};

#define MAX_INPUTS      4
#define MAX_FLAGGED     4096u
#define SM_HARD_NESTING 1024u

struct flagged {
    uint32_t scope;
    enum op_cat cat;
    char op[48];
    char node[128];
    char where[128]; /* "graph" or the function name */
    char detail[320];
    unsigned ninputs;
    char inputs[MAX_INPUTS][96];
    char consts[MAX_INPUTS][200]; /* resolved string constants */
    uint64_t off;
};

struct sm {
    struct mg_ctx *ctx;
    struct mg_pb_src src;
    int stop;
    int pass; /* 1: find ops; 2: resolve constants */
    uint32_t scope;
    char scope_name[128];
    struct flagged *fl;
    size_t nfl, capfl;
    uint64_t dropped;
    uint64_t nodes, functions, metagraphs;
    char tfversion[64];
    char tags[128];
};

static enum mg_status
malformed(struct sm *s, enum mg_status why, uint64_t off, const char *where)
{
    if (s->pass == 2) { /* reported by the first pass */
        s->stop = 1;
        return MG_OK;
    }
    return mg_fmt_pb_damage(s->ctx, &s->stop, "tf-malformed", why, off, where,
                            "TensorFlow refuses it");
}

static int
op_lookup(const char *op, enum op_cat *cat)
{
    for (size_t i = 0; i < sizeof(tf_ops) / sizeof(tf_ops[0]); i++)
        if (strcmp(tf_ops[i].op, op) == 0) {
            *cat = tf_ops[i].cat;
            return 1;
        }
    return 0;
}

/* AttrValue: s = 2, list = 1 (ListValue: s = 2), tensor = 8 (TensorProto:
   string_val = 8). Appends the strings found to out. */
static enum mg_status
attr_strings(struct sm *s,
             const struct mg_pb *parent,
             const struct mg_pb_field *vf,
             char *out,
             size_t cap,
             int depth)
{
    struct mg_pb r;
    struct mg_pb_field f;
    mg_pb_sub(parent, vf, &r);
    while (!mg_pb_done(&r)) {
        enum mg_status st = mg_pb_next(&r, &f);
        if (st != MG_OK)
            return malformed(s, st, r.pos, "an attribute value");
        if (f.wire != MG_PB_LEN)
            continue;
        if ((f.num == 2 && depth < 2) || (f.num == 8 && depth == 2)) {
            char v[MG_PROTO_MAX_STRING];
            size_t n = mg_pbx_str(&s->src, &f, v, sizeof(v));
            size_t o = strlen(out);
            if (o + 8 < cap) {
                char q[MG_QUOTE_BYTES * 4 + 8];
                mg_quote(q, sizeof(q), v, n, MG_QUOTE_BYTES);
                snprintf(out + o, cap - o, "%s\"%s\"", o ? ", " : "", q);
            }
        } else if (f.num == 1 && depth == 0) {
            st = attr_strings(s, &r, &f, out, cap, 1); /* list */
        } else if (f.num == 8 && depth == 0) {
            st = attr_strings(s, &r, &f, out, cap, 2); /* tensor */
        }
        if (st != MG_OK)
            return st;
    }
    return MG_OK;
}

static struct flagged *
find_flagged_input(struct sm *s,
                   uint32_t scope,
                   const char *name,
                   unsigned *which,
                   size_t *start)
{
    for (size_t i = *start; i < s->nfl; i++) {
        if (s->fl[i].scope != scope)
            continue;
        for (unsigned j = 0; j < s->fl[i].ninputs; j++) {
            const char *in = s->fl[i].inputs[j];
            size_t nl = strlen(name);
            /* "node", "node:0", "node:output:0" all name node's output */
            if (strncmp(in, name, nl) == 0 &&
                (in[nl] == '\0' || in[nl] == ':')) {
                *which = j;
                *start = i + 1;
                return &s->fl[i];
            }
        }
    }
    return NULL;
}

/* NodeDef: name = 1, op = 2, input = 3, attr = 5 (map entry: key = 1,
   value = 2). */
static enum mg_status
nodedef(struct sm *s, const struct mg_pb *parent, const struct mg_pb_field *nf)
{
    struct mg_pb r;
    struct mg_pb_field f;
    char name[128] = "", op[48] = "";
    const struct mg_pbx_pick want[] = {
        {.num = 1, .str = name, .cap = sizeof(name)},
        {.num = 2, .str = op, .cap = sizeof(op)}};
    uint64_t bad;
    enum mg_status st = mg_pbx_pick(parent, nf, want, 2, &bad);
    if (st != MG_OK)
        return malformed(s, st, bad, "a node");
    if (s->pass == 2) {
        /* Constants feeding a flagged op: remember their strings. */
        if (strcmp(op, "Const") != 0)
            return MG_OK;
        size_t start = 0;
        unsigned which;
        struct flagged *fl;
        while ((fl = find_flagged_input(s, s->scope, name, &which, &start)) !=
               NULL) {
            mg_pb_sub(parent, nf, &r);
            while (!mg_pb_done(&r)) {
                if ((st = mg_pb_next(&r, &f)) != MG_OK)
                    return malformed(s, st, r.pos, "a node");
                if (f.num != 5 || f.wire != MG_PB_LEN)
                    continue;
                struct mg_pb e;
                struct mg_pb_field ef;
                char key[32] = "";
                mg_pb_sub(&r, &f, &e);
                while (!mg_pb_done(&e)) {
                    if ((st = mg_pb_next(&e, &ef)) != MG_OK)
                        return malformed(s, st, e.pos, "an attribute");
                    if (ef.num == 1 && ef.wire == MG_PB_LEN)
                        mg_pbx_str(&s->src, &ef, key, sizeof(key));
                    else if (ef.num == 2 && ef.wire == MG_PB_LEN &&
                             strcmp(key, "value") == 0)
                        st = attr_strings(s, &e, &ef, fl->consts[which],
                                          sizeof(fl->consts[which]), 0);
                    if (st != MG_OK)
                        return st;
                }
            }
        }
        return MG_OK;
    }
    s->nodes++;
    enum op_cat cat;
    if (!op_lookup(op, &cat))
        return MG_OK;
    if (s->nfl == MAX_FLAGGED) {
        s->dropped++;
        return MG_OK;
    }
    if (s->nfl == s->capfl) {
        size_t nc = s->capfl ? s->capfl * 2 : 16;
        struct flagged *nfl = mg_reallocarray(s->fl, nc, sizeof(*nfl));
        if (nfl == NULL)
            return MG_E_NOMEM;
        s->fl = nfl;
        s->capfl = nc;
    }
    struct flagged *fl = &s->fl[s->nfl++];
    memset(fl, 0, sizeof(*fl));
    fl->scope = s->scope;
    fl->cat = cat;
    fl->off = nf->off;
    snprintf(fl->op, sizeof(fl->op), "%s", op);
    mg_quote(fl->node, sizeof(fl->node), name, strlen(name), 40);
    snprintf(fl->where, sizeof(fl->where), "%s", s->scope_name);
    mg_pb_sub(parent, nf, &r);
    while (!mg_pb_done(&r)) {
        if ((st = mg_pb_next(&r, &f)) != MG_OK)
            return malformed(s, st, r.pos, "a node");
        if (f.num == 3 && f.wire == MG_PB_LEN && fl->ninputs < MAX_INPUTS) {
            mg_pbx_str(&s->src, &f, fl->inputs[fl->ninputs],
                       sizeof(fl->inputs[0]));
            fl->ninputs++;
        } else if (f.num == 5 && f.wire == MG_PB_LEN) {
            struct mg_pb e;
            struct mg_pb_field ef;
            char key[32] = "";
            mg_pb_sub(&r, &f, &e);
            while (!mg_pb_done(&e)) {
                if ((st = mg_pb_next(&e, &ef)) != MG_OK)
                    return malformed(s, st, e.pos, "an attribute");
                if (ef.num == 1 && ef.wire == MG_PB_LEN) {
                    mg_pbx_str(&s->src, &ef, key, sizeof(key));
                } else if (ef.num == 2 && ef.wire == MG_PB_LEN &&
                           (strcmp(key, "token") == 0 ||
                            strcmp(key, "debug_urls") == 0 ||
                            strcmp(key, "output_stream") == 0 ||
                            strcmp(key, "memory_region_name") == 0 ||
                            strcmp(key, "descriptor_source") == 0)) {
                    size_t o = strlen(fl->detail);
                    if (o + 40 < sizeof(fl->detail)) {
                        snprintf(fl->detail + o, sizeof(fl->detail) - o,
                                 "%s%s = ", o ? "; " : "", key);
                        char vals[260] = "";
                        st = attr_strings(s, &e, &ef, vals, sizeof(vals), 0);
                        o = strlen(fl->detail);
                        snprintf(fl->detail + o, sizeof(fl->detail) - o, "%s",
                                 vals[0] ? vals : "(none)");
                    }
                }
                if (st != MG_OK)
                    return st;
            }
        }
    }
    return MG_OK;
}

/* FunctionDef: signature = 1 (OpDef: name = 1), node_def = 3. */
static enum mg_status
functiondef(struct sm *s,
            const struct mg_pb *parent,
            const struct mg_pb_field *ff)
{
    struct mg_pb r;
    struct mg_pb_field f;
    enum mg_status st;
    char fname[128] = "";
    const struct mg_pbx_pick sig[] = {
        {.num = 1, .str = fname, .cap = sizeof(fname)}};
    uint64_t bad;
    mg_pb_sub(parent, ff, &r);
    while (!mg_pb_done(&r)) {
        if ((st = mg_pb_next(&r, &f)) != MG_OK)
            return malformed(s, st, r.pos, "a function");
        if (f.num == 1 && f.wire == MG_PB_LEN &&
            (st = mg_pbx_pick(&r, &f, sig, 1, &bad)) != MG_OK)
            return malformed(s, st, bad, "a function signature");
    }
    s->scope++;
    if (s->pass == 1)
        s->functions++;
    char q[400];
    mg_quote(q, sizeof(q), fname, strlen(fname), 60);
    snprintf(s->scope_name, sizeof(s->scope_name), "function \"%.100s\"", q);
    mg_pb_sub(parent, ff, &r);
    uint64_t n = 0;
    while (!mg_pb_done(&r) && !s->stop) {
        if ((st = mg_pb_next(&r, &f)) != MG_OK)
            return malformed(s, st, r.pos, "a function");
        if (f.num == 3 && f.wire == MG_PB_LEN) {
            st = nodedef(s, &r, &f);
            if (st != MG_OK)
                return st;
        }
        if (mg_fmt_tick(s->ctx, &n, r.pos, &st)) {
            s->stop = 1;
            return st;
        }
    }
    return MG_OK;
}

/* GraphDef: node = 1, library = 2 (FunctionDefLibrary: function = 1). */
static enum mg_status
graphdef(struct sm *s, struct mg_pb *r)
{
    struct mg_pb_field f;
    enum mg_status st;
    s->scope++;
    snprintf(s->scope_name, sizeof(s->scope_name), "the graph");
    uint32_t graph_scope = s->scope;
    uint64_t n = 0;
    while (!mg_pb_done(r) && !s->stop) {
        if ((st = mg_pb_next(r, &f)) != MG_OK)
            return malformed(s, st, r->pos, "a graph");
        if (f.wire != MG_PB_LEN)
            continue;
        if (f.num == 1) {
            /* nodes of the graph may follow the library on the wire */
            uint32_t keep = s->scope;
            s->scope = graph_scope;
            snprintf(s->scope_name, sizeof(s->scope_name), "the graph");
            st = nodedef(s, r, &f);
            s->scope = keep;
        } else if (f.num == 2) {
            struct mg_pb l;
            struct mg_pb_field lf;
            mg_pb_sub(r, &f, &l);
            while (!mg_pb_done(&l) && !s->stop) {
                if ((st = mg_pb_next(&l, &lf)) != MG_OK)
                    return malformed(s, st, l.pos, "the function library");
                if (lf.num == 1 && lf.wire == MG_PB_LEN) {
                    st = functiondef(s, &l, &lf);
                    if (st != MG_OK)
                        return st;
                }
            }
            st = MG_OK;
        } else {
            st = MG_OK;
        }
        if (st != MG_OK)
            return st;
        if (mg_fmt_tick(s->ctx, &n, r->pos, &st)) {
            s->stop = 1;
            return st;
        }
    }
    return MG_OK;
}

/* Scan the Keras JSON in meta's payload (what: the damage report's
   "where" when it cannot be read), named pre, name (quoted), post. */
static enum mg_status
keras_json(struct sm *s,
           const struct mg_pb_field *meta,
           const char *what,
           const char *pre,
           const char *name,
           const char *post)
{
    uint8_t *b;
    enum mg_status st =
        mg_input_dup(s->src.in, meta->off, (size_t)meta->len, &b);
    if (st != MG_OK)
        return st == MG_E_NOMEM ? st : malformed(s, st, meta->off, what);
    char where[300], q[200];
    mg_quote(q, sizeof(q), name, strlen(name), 60);
    snprintf(where, sizeof(where), "%s%s%s", pre, q, post);
    st = mg_keras_scan_json(s->ctx, b, (size_t)meta->len, (int64_t)meta->off,
                            where);
    mg_free(b);
    return st;
}

/* SavedObjectGraph: nodes = 1 (SavedObject: user_object = 4
   (SavedUserObject: identifier = 1, metadata = 3)). Keras stored its
   layer configs there before keras_metadata.pb. */
static enum mg_status
object_graph(struct sm *s,
             const struct mg_pb *parent,
             const struct mg_pb_field *gf)
{
    struct mg_pb r;
    struct mg_pb_field f;
    enum mg_status st;
    mg_pb_sub(parent, gf, &r);
    while (!mg_pb_done(&r) && !s->stop) {
        if ((st = mg_pb_next(&r, &f)) != MG_OK)
            return malformed(s, st, r.pos, "the object graph");
        if (f.num != 1 || f.wire != MG_PB_LEN)
            continue;
        struct mg_pb o;
        struct mg_pb_field of;
        mg_pb_sub(&r, &f, &o);
        while (!mg_pb_done(&o)) {
            if ((st = mg_pb_next(&o, &of)) != MG_OK)
                return malformed(s, st, o.pos, "a saved object");
            if (of.num != 4 || of.wire != MG_PB_LEN)
                continue;
            struct mg_pb_field meta = {0};
            char ident[64] = "";
            const struct mg_pbx_pick want[] = {
                {.num = 1, .str = ident, .cap = sizeof(ident)},
                {.num = 3, .raw = &meta}};
            uint64_t bad;
            if ((st = mg_pbx_pick(&o, &of, want, 2, &bad)) != MG_OK)
                return malformed(s, st, bad, "a user object");
            if (meta.len == 0 || meta.len > s->ctx->lim->max_header_bytes)
                continue;
            st = keras_json(s, &meta, "object metadata", "object metadata (",
                            ident, ")");
            if (st != MG_OK)
                return st;
        }
    }
    return MG_OK;
}

/* MetaGraphDef: meta_info_def = 1 (tags = 4, tensorflow_version = 5),
   graph_def = 2, asset_file_def = 6 (filename = 2), object_graph_def = 7. */
static enum mg_status
metagraph(struct sm *s,
          const struct mg_pb *parent,
          const struct mg_pb_field *mf)
{
    struct mg_pb r;
    struct mg_pb_field f;
    enum mg_status st = MG_OK;
    mg_pb_sub(parent, mf, &r);
    while (!mg_pb_done(&r) && !s->stop && st == MG_OK) {
        if ((st = mg_pb_next(&r, &f)) != MG_OK)
            return malformed(s, st, r.pos, "a meta graph");
        if (f.wire != MG_PB_LEN)
            continue;
        if (f.num == 2) {
            struct mg_pb g;
            mg_pb_sub(&r, &f, &g);
            st = graphdef(s, &g);
        } else if (s->pass == 2) {
            continue;
        } else if (f.num == 1) {
            struct mg_pb m;
            struct mg_pb_field mf2;
            mg_pb_sub(&r, &f, &m);
            while (!mg_pb_done(&m)) {
                if ((st = mg_pb_next(&m, &mf2)) != MG_OK)
                    return malformed(s, st, m.pos, "meta info");
                char v[64];
                if (mf2.num == 5 && mf2.wire == MG_PB_LEN) {
                    mg_pbx_str(&s->src, &mf2, v, sizeof(v));
                    mg_quote(s->tfversion, sizeof(s->tfversion), v, strlen(v),
                             20);
                } else if (mf2.num == 4 && mf2.wire == MG_PB_LEN) {
                    mg_pbx_str(&s->src, &mf2, v, sizeof(v));
                    size_t o = strlen(s->tags);
                    if (o + 24 < sizeof(s->tags)) {
                        char q[100];
                        mg_quote(q, sizeof(q), v, strlen(v), 16);
                        snprintf(s->tags + o, sizeof(s->tags) - o, "%s%s",
                                 o ? "," : "", q);
                    }
                }
            }
        } else if (f.num == 6) {
            struct mg_pb a;
            struct mg_pb_field af;
            mg_pb_sub(&r, &f, &a);
            while (!mg_pb_done(&a)) {
                if ((st = mg_pb_next(&a, &af)) != MG_OK)
                    return malformed(s, st, a.pos, "an asset");
                if (af.num != 2 || af.wire != MG_PB_LEN)
                    continue;
                char fn[1024];
                size_t n = mg_pbx_str(&s->src, &af, fn, sizeof(fn));
                enum mg_path_risk risk = mg_path_risk(fn, n, 1);
                if (risk == MG_PATH_OK)
                    continue;
                char q[MG_QUOTE_BYTES * 4 + 8];
                mg_quote(q, sizeof(q), fn, n, MG_QUOTE_BYTES);
                st = mg_ctx_findf(
                    s->ctx,
                    risk == MG_PATH_SEPARATOR || risk == MG_PATH_EMPTY
                        ? MG_SEV_SUSPICIOUS
                        : MG_SEV_DANGEROUS,
                    "tf-asset-path", (int64_t)af.off,
                    "asset file name \"%s\" %s: TensorFlow joins it to the "
                    "assets folder and opens it when the model is loaded",
                    q, mg_path_risk_text(risk));
                if (st != MG_OK)
                    return st;
            }
        } else if (f.num == 7) {
            st = object_graph(s, &r, &f);
        }
    }
    return st;
}

static const char *
input_text(const struct flagged *fl, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < fl->ninputs; i++) {
        if (fl->consts[i][0] == '\0')
            continue;
        char q[200];
        mg_quote(q, sizeof(q), fl->inputs[i], strlen(fl->inputs[i]), 40);
        int w = snprintf(buf + o, cap - o, "%sinput %s = %s", o ? "; " : "", q,
                         fl->consts[i]);
        if (w < 0 || (size_t)w >= cap - o)
            break;
        o += (size_t)w;
    }
    return buf;
}

/* A constant path that leaves the model or names another host. */
static int
risky_const(const struct flagged *fl)
{
    for (unsigned i = 0; i < fl->ninputs; i++) {
        const char *c = fl->consts[i];
        if (c[0] != '"')
            continue;
        const char *end = strchr(c + 1, '"');
        size_t n = end ? (size_t)(end - c - 1) : strlen(c + 1);
        enum mg_path_risk r = mg_path_risk(c + 1, n, 0);
        if (r != MG_PATH_OK && r != MG_PATH_EMPTY)
            return 1;
    }
    return 0;
}

static int
has_const(const struct flagged *fl)
{
    for (unsigned i = 0; i < fl->ninputs; i++)
        if (fl->consts[i][0] != '\0')
            return 1;
    return 0;
}

static size_t
count_cat(const struct sm *s, enum op_cat c)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nfl; i++)
        n += s->fl[i].cat == c;
    return n;
}

static int
nonempty_const(const struct flagged *fl)
{
    for (unsigned i = 0; i < fl->ninputs; i++)
        if (fl->consts[i][0] != '\0' && strcmp(fl->consts[i], "\"\"") != 0)
            return 1;
    return 0;
}

static enum mg_status
report_ops(struct sm *s)
{
    unsigned reported = 0;
    for (size_t i = 0; i < s->nfl; i++) {
        const struct flagged *fl = &s->fl[i];
        enum mg_severity sev;
        /* An empty file name caches in memory. */
        if (strncmp(fl->op, "CacheDataset", 12) == 0 && has_const(fl) &&
            !nonempty_const(fl))
            continue;
        switch (fl->cat) {
        case OC_PYTHON:
        case OC_WRITE:
        case OC_NETWORK:
            sev = MG_SEV_DANGEROUS;
            break;
        case OC_READ:
            /* Descriptors default to the binary's own ("local://"). */
            if ((strcmp(fl->op, "DecodeProtoV2") == 0 ||
                 strcmp(fl->op, "EncodeProto") == 0) &&
                (strstr(fl->detail, "descriptor_source") == NULL ||
                 strstr(fl->detail, "\"local://\"") != NULL))
                continue;
            sev = risky_const(fl) ? MG_SEV_DANGEROUS : MG_SEV_SUSPICIOUS;
            break;
        case OC_CHECKPOINT:
            /* The saver's ops take their path from the loader (counted in
               the summary); a constant path reads or writes a fixed
               file. */
            if (!has_const(fl))
                continue;
            sev = MG_SEV_DANGEROUS;
            break;
        case OC_CLUSTER:
            sev = MG_SEV_SUSPICIOUS;
            break;
        case OC_DEBUG:
            sev = strstr(fl->detail, "://") ? MG_SEV_DANGEROUS : MG_SEV_INFO;
            break;
        case OC_PRINT:
            if (strstr(fl->detail, "file://") == NULL)
                continue;
            sev = MG_SEV_DANGEROUS;
            break;
        default:
            sev = MG_SEV_SUSPICIOUS;
        }
        if (sev > MG_SEV_INFO && ++reported > MG_FORMAT_MAX_REPORTS * 4)
            continue;
        char inputs[900];
        input_text(fl, inputs, sizeof(inputs));
        enum mg_status st = mg_ctx_findf(
            s->ctx, sev, "tf-op", (int64_t)fl->off,
            "op %s (node \"%s\" in %s) %s%s%s%s%s", fl->op, fl->node, fl->where,
            fl->cat == OC_PRINT ? "writes to a file" : cat_text[fl->cat],
            fl->detail[0] ? ": " : "", fl->detail, inputs[0] ? ": " : "",
            inputs);
        if (st != MG_OK)
            return st;
    }
    if (reported > MG_FORMAT_MAX_REPORTS * 4 || s->dropped > 0)
        return mg_ctx_findf(s->ctx, MG_SEV_SUSPICIOUS, "tf-op", -1,
                            "%" PRIu64 " more flagged ops were not listed",
                            s->dropped +
                                (reported > MG_FORMAT_MAX_REPORTS * 4
                                     ? reported - MG_FORMAT_MAX_REPORTS * 4
                                     : 0));
    return MG_OK;
}

enum sm_kind {
    SM_SAVEDMODEL,
    SM_GRAPHDEF,
    SM_KERAS_METADATA
};

/* keras_metadata.pb: SavedMetadata {nodes = 1 (SavedObject: node_path =
   3, identifier = 4, metadata = 5)}. */
static enum mg_status
keras_metadata(struct sm *s, struct mg_pb *r)
{
    struct mg_pb_field f;
    enum mg_status st;
    uint64_t objects = 0;
    while (!mg_pb_done(r) && !s->stop) {
        if ((st = mg_pb_next(r, &f)) != MG_OK)
            return malformed(s, st, r->pos, "keras metadata");
        if (f.num != 1 || f.wire != MG_PB_LEN)
            continue;
        struct mg_pb_field meta = {0};
        char path[128] = "";
        const struct mg_pbx_pick want[] = {
            {.num = 3, .str = path, .cap = sizeof(path)},
            {.num = 5, .raw = &meta}};
        uint64_t bad;
        if ((st = mg_pbx_pick(r, &f, want, 2, &bad)) != MG_OK)
            return malformed(s, st, bad, "a keras object");
        objects++;
        if (meta.len == 0)
            continue;
        if (meta.len > s->ctx->lim->max_header_bytes) {
            st = mg_ctx_incomplete(s->ctx, "max-header-bytes",
                                   (int64_t)meta.off, "keras object metadata");
            if (st != MG_OK)
                return st;
            continue;
        }
        st = keras_json(s, &meta, "metadata", "keras_metadata object ", path,
                        "");
        if (st != MG_OK)
            return st;
    }
    return mg_ctx_findf(s->ctx, MG_SEV_INFO, "tf-summary", -1,
                        "Keras SavedModel metadata: %" PRIu64 " objects",
                        objects);
}

static enum mg_status
tf_scan(struct mg_ctx *ctx, struct mg_input *in, enum sm_kind kind)
{
    struct mg_input tmp, *use;
    uint8_t *buf = NULL;
    enum mg_status st;
    if (!mg_fmt_random(ctx, in, ctx->lim->max_member_bytes, &tmp, &buf, &use,
                       &st))
        return st;
    struct sm *s = mg_calloc(1, sizeof(*s));
    if (s == NULL) {
        mg_free(buf);
        return MG_E_NOMEM;
    }
    s->ctx = ctx;
    mg_pb_src_init(&s->src, use);
    for (s->pass = 1; s->pass <= 2 && st == MG_OK; s->pass++) {
        if (s->pass == 2 && (s->nfl == 0 || kind == SM_KERAS_METADATA))
            break;
        s->stop = 0;
        s->scope = 0;
        struct mg_pb r;
        struct mg_pb_field f;
        mg_pb_init(&r, &s->src, 0, use->size);
        if (kind == SM_GRAPHDEF) {
            st = graphdef(s, &r);
            continue;
        }
        if (kind == SM_KERAS_METADATA) {
            st = keras_metadata(s, &r);
            continue;
        }
        while (!mg_pb_done(&r) && !s->stop && st == MG_OK) {
            st = mg_pb_next(&r, &f);
            if (st != MG_OK) {
                st = malformed(s, st, r.pos, "the SavedModel");
                break;
            }
            if (f.num == 2 && f.wire == MG_PB_LEN) {
                s->metagraphs++;
                st = metagraph(s, &r, &f);
            }
        }
        if (s->pass == 1 && st == MG_OK && s->metagraphs == 0 && !s->stop)
            st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "tf-malformed", -1,
                              "the SavedModel has no meta graph: TensorFlow "
                              "refuses it (a file cut short?)");
    }
    if (st == MG_OK)
        st = report_ops(s);
    if (st == MG_OK && kind != SM_KERAS_METADATA)
        st = mg_ctx_findf(ctx, MG_SEV_INFO, "tf-summary", -1,
                          "TensorFlow %s%s%s%s%s: %" PRIu64 " nodes, %" PRIu64
                          " functions, %zu ops of interest (%zu checkpoint "
                          "ops)",
                          kind == SM_GRAPHDEF ? "GraphDef" : "SavedModel",
                          s->tfversion[0] ? " written by TensorFlow " : "",
                          s->tfversion, s->tags[0] ? ", tags " : "", s->tags,
                          s->nodes, s->functions, s->nfl,
                          count_cat(s, OC_CHECKPOINT));
    mg_free(s->fl);
    mg_free(s);
    mg_free(buf);
    return st;
}

static enum mg_status
savedmodel_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    return tf_scan(ctx, in, SM_SAVEDMODEL);
}

static enum mg_status
graphdef_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    return tf_scan(ctx, in, SM_GRAPHDEF);
}

static enum mg_status
keras_metadata_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    return tf_scan(ctx, in, SM_KERAS_METADATA);
}

/* Sniff a nested message at h[off..off+len) (what is in the head). */
static int
sub_sniff(const uint8_t *h,
          size_t hl,
          const struct mg_pbx_sniff *s,
          unsigned i,
          struct mg_pbx_sniff *out)
{
    size_t n = s->off[i] + (size_t)s->val[i] <= hl ? (size_t)s->val[i]
                                                   : hl - s->off[i];
    return mg_pbx_sniff(h + s->off[i], n, out);
}

/* saved_model_schema_version = 1, then a MetaGraphDef whose fields are
   messages among 1..7. */
static unsigned
savedmodel_probe(const uint8_t *h, size_t len, uint64_t size)
{
    (void)size;
    struct mg_pbx_sniff s, m;
    if (mg_pbx_sniff(h, len, &s) != 0 || s.n < 2 || s.num[0] != 1 ||
        s.wire[0] != MG_PB_VARINT || s.val[0] != 1 || s.num[1] != 2 ||
        s.wire[1] != MG_PB_LEN)
        return 0;
    if (sub_sniff(h, len, &s, 1, &m) != 0 || m.n == 0)
        return 0;
    for (unsigned i = 0; i < m.n; i++)
        if (m.num[i] < 1 || m.num[i] > 7 || m.wire[i] != MG_PB_LEN)
            return 0;
    return 40;
}

/* A GraphDef: its first node with a printable name and op. */
static unsigned
graphdef_probe(const uint8_t *h, size_t len, uint64_t size)
{
    (void)size;
    struct mg_pbx_sniff s, n;
    if (mg_pbx_sniff(h, len, &s) != 0 || s.n < 1 || s.num[0] != 1 ||
        s.wire[0] != MG_PB_LEN)
        return 0;
    if (sub_sniff(h, len, &s, 0, &n) != 0 || n.n < 2 || n.num[0] != 1 ||
        n.wire[0] != MG_PB_LEN || !n.text[0] || n.val[0] == 0 ||
        n.num[1] != 2 || n.wire[1] != MG_PB_LEN || !n.text[1] || n.val[1] == 0)
        return 0;
    return 32;
}

/* keras_metadata.pb: objects with a node path and a "_tf_keras"
   identifier. */
static unsigned
keras_metadata_probe(const uint8_t *h, size_t len, uint64_t size)
{
    (void)size;
    struct mg_pbx_sniff s;
    if (mg_pbx_sniff(h, len, &s) != 0 || s.n < 1)
        return 0;
    for (unsigned i = 0; i < s.n; i++)
        if (s.num[i] != 1 || s.wire[i] != MG_PB_LEN)
            return 0;
    return mg_has(h, len, "_tf_keras_") ? 40 : 0;
}

/* fingerprint.pb (FingerprintDef, TensorFlow 2.12+): hashes as varints
   (fields 1 to 5), a version message and an id; nothing that runs. The
   whole file must be in the head and parse. A stream of unknown size (a
   compressed stream's member) is whole when the head is this short: the
   head is only shorter than MG_SNIFF_BYTES where the input ends. */
static unsigned
fingerprint_probe(const uint8_t *h, size_t len, uint64_t size)
{
    struct mg_pbx_sniff s;
    if ((size != UINT64_MAX && size != len) || len > 1024 ||
        mg_pbx_sniff(h, len, &s) != 0 || s.n < 2 || s.n >= MG_PBX_SNIFF_MAX)
        return 0;
    unsigned hashes = 0;
    for (unsigned i = 0; i < s.n; i++) {
        if (s.num[i] >= 1 && s.num[i] <= 5 && s.wire[i] == MG_PB_VARINT)
            hashes++;
        else if (!((s.num[i] == 6 || s.num[i] == 7) && s.wire[i] == MG_PB_LEN &&
                   s.whole[i]))
            return 0;
    }
    return hashes >= 2 ? 24 : 0;
}

static enum mg_status
fingerprint_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    return mg_ctx_findf(
        ctx, MG_SEV_INFO, "tf-summary", -1,
        "TensorFlow SavedModel fingerprint (%" PRIu64 " bytes of hashes)",
        in->size != UINT64_MAX ? in->size : (uint64_t)in->head_len);
}

const struct mg_format mg_format_tf_fingerprint = {
    "tf-fingerprint", fingerprint_probe, fingerprint_scan};
const struct mg_format mg_format_tf_savedmodel = {
    "tf-savedmodel", savedmodel_probe, savedmodel_scan};
const struct mg_format mg_format_tf_graphdef = {"tf-graphdef", graphdef_probe,
                                                graphdef_scan};
const struct mg_format mg_format_keras_metadata = {
    "keras-metadata-pb", keras_metadata_probe, keras_metadata_scan};
