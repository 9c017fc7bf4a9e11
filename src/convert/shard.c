/*
 * shard.c - sharded checkpoints: pytorch_model.bin.index.json names, in
 * its "weight_map", the shard file of every tensor. Each shard is scanned
 * and converted as a single file (pytorch_model-0000N-of-0000M.bin ->
 * model-0000N-of-0000M.safetensors, the Hugging Face converter's names),
 * and the index is rewritten with the new names
 * (model.safetensors.index.json), "metadata.total_size" set to the bytes
 * of tensor data written. Every file goes to a temporary file first; the
 * renames happen only when all of them are complete.
 *
 * The index is parsed strictly (jansson, duplicate keys refused, at most
 * MG_CONVERT_MAX_INDEX_BYTES); shard names must be plain file names in
 * the index's folder.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "convert/convert_int.h"
#include "core/alloc.h"
#include "core/input.h"
#include "core/limits.h"
#include "core/scanner.h"

struct shard {
    char *name;     /* in the index */
    char *out_name; /* converted name */
    char *tmp;      /* temporary file, until renamed */
    uint64_t data_bytes;
};

struct job {
    struct mg_conversion *c;
    struct mg_scanner *sc;
    int force;
    char *in_dir;
    const char *out_dir;
    json_t *index;
    json_t *weight_map;
    struct shard *sh;
    size_t nsh;
    char *index_out; /* name of the new index */
    char *index_tmp;
};

static int
plain_name(const char *s, size_t len)
{
    return len > 0 && strlen(s) == len && strchr(s, '/') == NULL &&
           strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static enum mg_status
read_index(struct job *j, const char *path)
{
    struct mg_input in;
    struct mg_file_input f;
    char err[200];
    enum mg_status st = mg_input_file(&in, &f, path, err, sizeof(err));
    if (st != MG_OK)
        return cv_refuse(j->c, st == MG_E_NOMEM ? st : MG_E_IO, "%s: %s", path,
                         err);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (in.size > MG_CONVERT_MAX_INDEX_BYTES)
        st = cv_refuse(j->c, MG_E_LIMIT, "%s: the index has more than %u bytes",
                       path, MG_CONVERT_MAX_INDEX_BYTES);
    else if ((buf = mg_malloc((size_t)in.size)) == NULL)
        st = MG_E_NOMEM;
    else if ((st = mg_input_read(&in, 0, buf, (size_t)in.size)) != MG_OK)
        st = cv_refuse(j->c, MG_E_IO, "%s: %s", path, mg_strerror(st));
    len = (size_t)in.size;
    mg_input_file_close(&f);
    if (st != MG_OK) {
        mg_free(buf);
        return st;
    }
    json_error_t je;
    j->index = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    mg_free(buf);
    if (j->index == NULL)
        return cv_refuse(j->c, MG_E_MALFORMED,
                         "%s: not valid JSON (line %d: %s)", path, je.line,
                         je.text);
    j->weight_map = json_object_get(j->index, "weight_map");
    if (!json_is_object(j->index) || !json_is_object(j->weight_map) ||
        json_object_size(j->weight_map) == 0)
        return cv_refuse(j->c, MG_E_MALFORMED,
                         "%s: not a shard index (no \"weight_map\" object)",
                         path);
    json_t *meta = json_object_get(j->index, "metadata");
    if (meta != NULL && !json_is_object(meta))
        return cv_refuse(j->c, MG_E_MALFORMED,
                         "%s: \"metadata\" is not an object", path);
    return MG_OK;
}

/* The shard files the weight map names, each once, in order. */
static enum mg_status
list_shards(struct job *j)
{
    size_t cap = 0;
    const char *key;
    json_t *v;
    json_object_foreach(j->weight_map, key, v)
    {
        if (!json_is_string(v) ||
            !plain_name(json_string_value(v), json_string_length(v)))
            return cv_refuse(j->c, MG_E_MALFORMED,
                             "the index maps '%s' to something that is not "
                             "a file name in the index's folder",
                             key);
        const char *name = json_string_value(v);
        size_t i = 0;
        while (i < j->nsh && strcmp(j->sh[i].name, name) != 0)
            i++;
        if (i < j->nsh)
            continue;
        if (j->nsh >= MG_CONVERT_MAX_SHARDS)
            return cv_refuse(j->c, MG_E_LIMIT,
                             "the index names more than %u shards",
                             MG_CONVERT_MAX_SHARDS);
        struct shard *ns = cv_reserve(j->sh, j->nsh, &cap, sizeof(*ns), 8);
        if (ns == NULL)
            return MG_E_NOMEM;
        j->sh = ns;
        struct shard *s = &j->sh[j->nsh];
        memset(s, 0, sizeof(*s));
        j->nsh++;
        s->name = mg_strdup(name);
        s->out_name = cv_rename(name);
        if (s->name == NULL || s->out_name == NULL)
            return MG_E_NOMEM;
        for (size_t k = 0; k + 1 < j->nsh; k++)
            if (strcmp(j->sh[k].out_name, s->out_name) == 0)
                return cv_refuse(j->c, MG_E_UNSUPPORTED,
                                 "shards %s and %s would both become %s",
                                 j->sh[k].name, name, s->out_name);
    }
    return MG_OK;
}

/* Every name the index puts in this shard must be there. */
static enum mg_status
check_names(struct job *j, const struct shard *s, const struct cv_model *m)
{
    size_t listed = 0;
    const char *key;
    json_t *v;
    json_object_foreach(j->weight_map, key, v)
    {
        if (strcmp(json_string_value(v), s->name) != 0)
            continue;
        size_t idx;
        if (!cv_map_get(&m->tmap, key, strlen(key), &idx))
            return cv_refuse(j->c, MG_E_MALFORMED,
                             "the index puts '%s' in %s, which does not "
                             "hold it",
                             key, s->name);
        listed++;
    }
    if (listed < m->nt)
        return cv_note(j->c,
                       "%s holds %zu tensors the index does not list: "
                       "converted, left out of the index",
                       s->name, m->nt - listed);
    return MG_OK;
}

static char *
join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = mg_malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static enum mg_status
convert_shard(struct job *j, struct shard *s)
{
    char *path = join(j->in_dir, s->name);
    if (path == NULL)
        return MG_E_NOMEM;
    j->c->prefix = s->name;
    struct cv_model m;
    enum mg_status st = cv_convert_path(j->c, j->sc, path, j->out_dir,
                                        s->out_name, j->force, &m, &s->tmp);
    if (st == MG_OK)
        st = check_names(j, s, &m);
    if (st == MG_OK) {
        s->data_bytes = m.data_bytes;
        j->c->tensors += m.nwritten;
        j->c->aliases += m.naliases;
        j->c->data_bytes += m.data_bytes;
    }
    cv_model_fini(&m);
    mg_free(path);
    j->c->prefix = NULL;
    return st;
}

/* The new index: the old one with the shards renamed and total_size set
   to the bytes written. */
static enum mg_status
write_index(struct job *j, const char *index_path)
{
    const char *base = strrchr(index_path, '/');
    base = base ? base + 1 : index_path;
    static const char suffix[] = ".index.json";
    size_t bl = strlen(base), sl = sizeof(suffix) - 1;
    char *stem = bl > sl && strcmp(base + bl - sl, suffix) == 0
                     ? mg_strndup(base, bl - sl)
                     : mg_strdup("pytorch_model.bin");
    char *renamed = stem ? cv_rename(stem) : NULL;
    mg_free(stem);
    if (renamed == NULL)
        return MG_E_NOMEM;
    size_t n = strlen(renamed) + sl + 1;
    j->index_out = mg_malloc(n);
    if (j->index_out != NULL)
        snprintf(j->index_out, n, "%s%s", renamed, suffix);
    mg_free(renamed);
    if (j->index_out == NULL)
        return MG_E_NOMEM;
    for (size_t i = 0; i < j->nsh; i++)
        if (strcmp(j->sh[i].out_name, j->index_out) == 0)
            return cv_refuse(j->c, MG_E_UNSUPPORTED,
                             "shard %s would overwrite the index %s",
                             j->sh[i].name, j->index_out);

    uint64_t total = 0;
    for (size_t i = 0; i < j->nsh; i++)
        total += j->sh[i].data_bytes; /* each fits: files were written */
    json_t *meta = json_object_get(j->index, "metadata");
    if (meta != NULL && json_object_get(meta, "total_size") != NULL &&
        json_object_set_new(meta, "total_size",
                            json_integer((json_int_t)total)) != 0)
        return MG_E_NOMEM;
    const char *key;
    json_t *v;
    json_object_foreach(j->weight_map, key, v)
    {
        for (size_t i = 0; i < j->nsh; i++)
            if (strcmp(json_string_value(v), j->sh[i].name) == 0) {
                if (json_string_set(v, j->sh[i].out_name) != 0)
                    return MG_E_NOMEM;
                break;
            }
    }
    char *text = json_dumps(j->index, JSON_INDENT(4));
    if (text == NULL)
        return MG_E_NOMEM;
    int fd = -1;
    enum mg_status st =
        cv_tmp_open(j->c, j->out_dir, j->index_out, &j->index_tmp, &fd);
    size_t len = strlen(text);
    for (size_t off = 0; st == MG_OK && off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            st = cv_refuse(j->c, MG_E_IO, "writing the index: %s",
                           strerror(errno));
        else
            off += (size_t)w;
    }
    if (st == MG_OK && write(fd, "\n", 1) != 1)
        st = cv_refuse(j->c, MG_E_IO, "writing the index: %s", strerror(errno));
    free(text); /* libc-owned: jansson's allocator */
    if (fd >= 0) {
        enum mg_status fst = cv_tmp_finish(j->c, fd, j->index_tmp);
        if (st == MG_OK)
            st = fst;
    }
    return st;
}

static enum mg_status
rename_all(struct job *j)
{
    for (size_t i = 0; i <= j->nsh; i++) {
        const char *tmp = i < j->nsh ? j->sh[i].tmp : j->index_tmp;
        const char *name = i < j->nsh ? j->sh[i].out_name : j->index_out;
        char *dst = join(j->out_dir, name);
        if (dst == NULL)
            return MG_E_NOMEM;
        enum mg_status st = MG_OK;
        if (rename(tmp, dst) != 0)
            st = cv_refuse(j->c, MG_E_IO,
                           "renaming to %s: %s (%zu files were already in "
                           "place)",
                           dst, strerror(errno), i);
        else
            st = cv_add_output(j->c, dst);
        mg_free(dst);
        if (st != MG_OK)
            return st;
        if (i < j->nsh) {
            mg_free(j->sh[i].tmp);
            j->sh[i].tmp = NULL;
        } else {
            mg_free(j->index_tmp);
            j->index_tmp = NULL;
        }
    }
    return MG_OK;
}

enum mg_status
mg_convert_sharded(const struct mg_convert_options *o,
                   const char *index_path,
                   const char *out_dir,
                   struct mg_conversion **out)
{
    if (out == NULL)
        return MG_E_INVALID;
    *out = NULL;
    if (o == NULL || index_path == NULL || out_dir == NULL)
        return MG_E_INVALID;
    struct job j;
    memset(&j, 0, sizeof(j));
    j.c = cv_conversion_new();
    if (j.c == NULL)
        return MG_E_NOMEM;
    *out = j.c;
    j.force = o->force;
    j.out_dir = out_dir;
    j.in_dir = cv_dir_of(index_path);
    enum mg_status st = j.in_dir ? mg_scanner_new(&o->scan, &j.sc) : MG_E_NOMEM;
    if (st == MG_OK)
        st = read_index(&j, index_path);
    if (st == MG_OK)
        st = list_shards(&j);
    if (st == MG_OK && mkdir(out_dir, 0777) != 0 && errno != EEXIST)
        st = cv_refuse(j.c, MG_E_IO, "cannot create %s: %s", out_dir,
                       strerror(errno));
    for (size_t i = 0; st == MG_OK && i < j.nsh; i++)
        st = convert_shard(&j, &j.sh[i]);
    if (st == MG_OK)
        st = write_index(&j, index_path);
    if (st == MG_OK)
        st = rename_all(&j);
    for (size_t i = 0; i < j.nsh; i++) {
        if (j.sh[i].tmp != NULL)
            unlink(j.sh[i].tmp);
        mg_free(j.sh[i].tmp);
        mg_free(j.sh[i].out_name);
        mg_free(j.sh[i].name);
    }
    if (j.index_tmp != NULL)
        unlink(j.index_tmp);
    mg_free(j.index_tmp);
    mg_free(j.index_out);
    mg_free(j.sh);
    mg_free(j.in_dir);
    json_decref(j.index);
    mg_scanner_free(j.sc);
    if (st == MG_E_NOMEM)
        cv_refuse(j.c, st, "out of memory");
    return cv_finish(j.c, st);
}
