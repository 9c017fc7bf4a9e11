#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_DIR_DEPTH 256

struct seen {
    dev_t dev;
    ino_t ino;
    size_t index; /* into the file list, or SIZE_MAX for folders */
    int via_link;
    int used;
};

struct walker {
    struct walk_list *out;
    struct seen *seen; /* open-addressing hash on (dev, ino) */
    size_t nseen, capseen;
    char root_real[PATH_MAX];
};

static int
add_file(struct walk_list *l, const char *path)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct walk_file *nv = realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL)
            return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n].path = strdup(path);
    if (l->v[l->n].path == NULL)
        return -1;
    l->n++;
    return 0;
}

static size_t
seen_hash(dev_t dev, ino_t ino, size_t cap)
{
    unsigned long long h = (unsigned long long)ino * 0x9e3779b97f4a7c15ULL;
    h ^= (unsigned long long)dev + (h >> 29);
    return (size_t)h & (cap - 1);
}

static struct seen *
find_seen(struct walker *w, const struct stat *st)
{
    if (w->capseen == 0)
        return NULL;
    size_t i = seen_hash(st->st_dev, st->st_ino, w->capseen);
    while (w->seen[i].used) {
        if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
            return &w->seen[i];
        i = (i + 1) & (w->capseen - 1);
    }
    return NULL;
}

static int
add_seen(struct walker *w, const struct stat *st, size_t index, int via_link)
{
    if ((w->nseen + 1) * 2 > w->capseen) {
        size_t nc = w->capseen ? w->capseen * 2 : 256;
        struct seen *ns = calloc(nc, sizeof(*ns));
        if (ns == NULL)
            return -1;
        for (size_t i = 0; i < w->capseen; i++) {
            if (!w->seen[i].used)
                continue;
            size_t j = seen_hash(w->seen[i].dev, w->seen[i].ino, nc);
            while (ns[j].used)
                j = (j + 1) & (nc - 1);
            ns[j] = w->seen[i];
        }
        free(w->seen);
        w->seen = ns;
        w->capseen = nc;
    }
    size_t i = seen_hash(st->st_dev, st->st_ino, w->capseen);
    while (w->seen[i].used)
        i = (i + 1) & (w->capseen - 1);
    w->seen[i] = (struct seen){st->st_dev, st->st_ino, index, via_link, 1};
    w->nseen++;
    return 0;
}

static int
inside_root(const struct walker *w, const char *real)
{
    size_t n = strlen(w->root_real);
    if (strcmp(w->root_real, "/") == 0)
        return 1;
    return strncmp(real, w->root_real, n) == 0 &&
           (real[n] == '/' || real[n] == '\0');
}

static int walk_dir(struct walker *w, const char *path, int depth);

static int
visit(struct walker *w, const char *path, int depth, int in_dir)
{
    struct stat lst, st;
    if (lstat(path, &lst) != 0) {
        fprintf(stderr, "modelgate: %s: %s\n", path, strerror(errno));
        w->out->errors++;
        return 0;
    }
    int via_link = S_ISLNK(lst.st_mode);
    if (via_link) {
        char real[PATH_MAX];
        if (realpath(path, real) == NULL || stat(real, &st) != 0) {
            if (!in_dir) {
                fprintf(stderr, "modelgate: %s: broken symbolic link\n", path);
                w->out->errors++;
            }
            return 0;
        }
        if (in_dir && !inside_root(w, real))
            return 0; /* links out of the scanned folder are not followed */
    } else {
        st = lst;
    }
    if (S_ISDIR(st.st_mode)) {
        if (find_seen(w, &st) != NULL)
            return 0;
        if (add_seen(w, &st, SIZE_MAX, via_link) != 0)
            return -1;
        if (depth >= MAX_DIR_DEPTH) {
            fprintf(stderr, "modelgate: %s: folders nested too deep\n", path);
            w->out->errors++;
            return 0;
        }
        return walk_dir(w, path, depth + 1);
    }
    if (!S_ISREG(st.st_mode)) {
        if (!in_dir) {
            fprintf(stderr, "modelgate: %s: not a regular file\n", path);
            w->out->errors++;
        }
        return 0;
    }
    struct seen *s = find_seen(w, &st);
    if (s != NULL) {
        if (via_link && !s->via_link && s->index != SIZE_MAX) {
            char *p = strdup(path);
            if (p == NULL)
                return -1;
            free(w->out->v[s->index].path);
            w->out->v[s->index].path = p;
            s->via_link = 1;
        }
        return 0;
    }
    if (add_seen(w, &st, w->out->n, via_link) != 0)
        return -1;
    return add_file(w->out, path);
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
walk_dir(struct walker *w, const char *path, int depth)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "modelgate: %s: %s\n", path, strerror(errno));
        w->out->errors++;
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = realloc(names, nc * sizeof(*nn));
            if (nn == NULL) {
                rc = -1;
                goto out;
            }
            names = nn;
            cap = nc;
        }
        names[n] = strdup(e->d_name);
        if (names[n] == NULL) {
            rc = -1;
            goto out;
        }
        n++;
    }
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen(path) + strlen(names[i]) + 2;
        char *child = malloc(len);
        if (child == NULL) {
            rc = -1;
            break;
        }
        int slash = path[strlen(path) - 1] == '/';
        snprintf(child, len, "%s%s%s", path, slash ? "" : "/", names[i]);
        rc = visit(w, child, depth, 1);
        free(child);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int
walk_paths(const char *const *roots, size_t nroots, struct walk_list *out)
{
    struct walker w;
    memset(&w, 0, sizeof(w));
    w.out = out;
    int rc = 0;
    for (size_t i = 0; i < nroots && rc == 0; i++) {
        if (strcmp(roots[i], "-") == 0) {
            rc = add_file(out, "-");
            continue;
        }
        if (realpath(roots[i], w.root_real) == NULL) {
            fprintf(stderr, "modelgate: %s: %s\n", roots[i], strerror(errno));
            out->errors++;
            continue;
        }
        rc = visit(&w, roots[i], 0, 0);
    }
    free(w.seen);
    return rc;
}

void
walk_free(struct walk_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
    memset(l, 0, sizeof(*l));
}
