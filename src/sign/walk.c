/*
 * walk.c - enumerate a model as model_signing does (recursive, dotfiles
 * included, regular files only, folders not recorded), with its refusals:
 * a symbolic link unless allowed, anything that is neither a file nor a
 * folder, a name that is not UTF-8 (it could not be written in JSON).
 *
 * The walk goes through directory file descriptors (openat/fstatat with
 * AT_SYMLINK_NOFOLLOW, O_NOFOLLOW on folders), so a folder swapped for a
 * link while we walk is not followed. Depth and file count are bounded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "io/ckd.h"
#include "io/utf8.h"
#include "sign/sign_int.h"

const char *const sig_git_paths[4] = {".git", ".gitattributes", ".github",
                                      ".gitignore"};

struct walker {
    const struct sig_walk_cfg *cfg;
    struct sig_model *m;
    struct mg_sig_result *r;
    enum mg_status st; /* first fatal status (NOMEM, LIMIT) */
};

static int
under_any(const char *rel, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sig_name_under(rel, list[i]))
            return 1;
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Is rel signed, or a folder holding a signed file? Only asked in
   ignore_unsigned_files mode, to make refusals elsewhere notes. */
static int
is_signed(const struct sig_walk_cfg *c, const char *rel)
{
    if (c->signed_names == NULL)
        return 1;
    if (bsearch(&rel, c->signed_names, c->n_signed, sizeof(char *), cmp_str) !=
        NULL)
        return 1;
    for (size_t i = 0; i < c->n_signed; i++)
        if (sig_name_under(c->signed_names[i], rel))
            return 1;
    return 0;
}

/* A refusal: a failure, or a note when the path is not signed and
   unsigned files are tolerated. */
static void
refuse(struct walker *w, const char *rel, const char *why)
{
    enum mg_sig_code code =
        is_signed(w->cfg, rel) ? MG_SIG_R_REFUSED : MG_SIG_R_NOTE;
    if (sig_result_add(w->r, code, rel, "%s", why) != MG_OK)
        w->st = MG_E_NOMEM;
}

static void
note(struct walker *w, const char *rel, const char *why)
{
    if (sig_result_add(w->r, MG_SIG_R_NOTE, rel, "%s", why) != MG_OK)
        w->st = MG_E_NOMEM;
}

static char *
join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n;
    if (ckd_add_size(&n, la, lb) || ckd_add_size(&n, n, 2))
        return NULL;
    char *s = mg_malloc(n);
    if (s == NULL)
        return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

static int
add_entry(struct walker *w,
          const char *rel,
          const char *path,
          const struct stat *sb,
          enum sig_entry_kind kind,
          int via_symlink)
{
    struct sig_model *m = w->m;
    if (m->n >= MG_SIG_MAX_FILES) {
        if (sig_result_add(w->r, MG_SIG_R_REFUSED, NULL,
                           "more than %u files in the model",
                           MG_SIG_MAX_FILES) != MG_OK)
            w->st = MG_E_NOMEM;
        else
            w->st = MG_E_LIMIT;
        return -1;
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        struct sig_entry *nv = mg_reallocarray(m->v, nc, sizeof(*nv));
        if (nv == NULL) {
            w->st = MG_E_NOMEM;
            return -1;
        }
        m->v = nv;
        m->cap = nc;
    }
    struct sig_entry *e = &m->v[m->n];
    memset(e, 0, sizeof(*e));
    e->name = mg_strdup(rel);
    e->path = mg_strdup(path);
    if (e->name == NULL || e->path == NULL) {
        mg_free(e->name);
        mg_free(e->path);
        w->st = MG_E_NOMEM;
        return -1;
    }
    e->kind = kind;
    e->via_symlink = via_symlink;
    e->dev = sb->st_dev;
    e->ino = sb->st_ino;
    e->size = (uint64_t)sb->st_size;
    m->n++;
    return 0;
}

/* Is the real path of path inside the model root? */
static int
inside_root(const struct sig_model *m, const char *path)
{
    char *rp = realpath(path, NULL);
    if (rp == NULL)
        return 0;
    int in = m->root_real != NULL && strcmp(m->root_real, "/") != 0
                 ? sig_name_under(rp, m->root_real)
                 : 1;
    free(rp); /* libc-owned: allocated by the C library */
    return in;
}

static void
walk_dir(struct walker *w, int dfd, const char *rel, unsigned depth);

static void
walk_symlink(struct walker *w,
             int dfd,
             const char *name,
             const char *rel,
             const char *path)
{
    if (!w->cfg->allow_symlinks) {
        refuse(w, rel,
               "symbolic link (refused unless signed with "
               "--allow-symlinks)");
        return;
    }
    struct stat tb;
    if (fstatat(dfd, name, &tb, 0) != 0) {
        refuse(w, rel, "broken symbolic link");
        return;
    }
    if (S_ISDIR(tb.st_mode)) {
        note(w, rel,
             "symbolic link to a folder: not followed (as model_signing "
             "does)");
        return;
    }
    if (!S_ISREG(tb.st_mode)) {
        refuse(w, rel, "symbolic link to a special file");
        return;
    }
    if (!inside_root(w->m, path))
        note(w, rel, "symbolic link to a file outside the model");
    add_entry(w, rel, path, &tb, SIG_ENTRY_FILE, 1);
}

static void
walk_one(struct walker *w,
         int dfd,
         const char *name,
         const char *rel,
         unsigned depth,
         int ignored)
{
    char *path = join(w->m->root, rel);
    if (path == NULL) {
        w->st = MG_E_NOMEM;
        return;
    }
    struct stat sb;
    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        if (sig_result_add(w->r, MG_SIG_R_IO, rel, "cannot stat: %s",
                           strerror(errno)) != MG_OK)
            w->st = MG_E_NOMEM;
    } else if (S_ISLNK(sb.st_mode)) {
        if (!ignored)
            walk_symlink(w, dfd, name, rel, path);
    } else if (S_ISDIR(sb.st_mode)) {
        if (depth + 1 > MG_SIG_MAX_DEPTH) {
            refuse(w, rel, "folders nested too deep");
        } else {
            int cfd = openat(dfd, name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0) {
                if (sig_result_add(w->r, MG_SIG_R_IO, rel, "cannot open: %s",
                                   strerror(errno)) != MG_OK)
                    w->st = MG_E_NOMEM;
            } else {
                walk_dir(w, cfd, rel, depth + 1);
            }
        }
    } else if (S_ISREG(sb.st_mode)) {
        add_entry(w, rel, path, &sb,
                  ignored ? SIG_ENTRY_IGNORED : SIG_ENTRY_FILE, 0);
    } else if (!ignored) {
        refuse(w, rel, "not a regular file (fifo, socket or device)");
    }
    mg_free(path);
}

/* Walk folder dfd (taken over) whose relative name is rel ("" at root). */
static void
walk_dir(struct walker *w, int dfd, const char *rel, unsigned depth)
{
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        if (sig_result_add(w->r, MG_SIG_R_IO, rel[0] ? rel : NULL,
                           "cannot read folder: %s", strerror(errno)) != MG_OK)
            w->st = MG_E_NOMEM;
        return;
    }
    for (;;) {
        if (w->st != MG_OK)
            break;
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0 &&
                sig_result_add(w->r, MG_SIG_R_IO, rel[0] ? rel : NULL,
                               "cannot read folder: %s",
                               strerror(errno)) != MG_OK)
                w->st = MG_E_NOMEM;
            break;
        }
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        char *crel = rel[0] ? join(rel, name) : mg_strdup(name);
        if (crel == NULL) {
            w->st = MG_E_NOMEM;
            break;
        }
        size_t clen = strlen(crel);
        if (under_any(crel, w->cfg->skip, w->cfg->n_skip)) {
            /* left out entirely */
        } else if (clen > MG_SIG_MAX_NAME) {
            refuse(w, crel, "name too long");
        } else if (!mg_utf8_valid(name, strlen(name))) {
            refuse(w, crel,
                   "file name is not valid UTF-8 (it cannot be recorded)");
        } else {
            int ignored = under_any(crel, w->cfg->ignore, w->cfg->n_ignore);
            walk_one(w, dirfd(d), name, crel, depth, ignored);
        }
        mg_free(crel);
    }
    closedir(d);
}

static int
cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct sig_entry *)a)->name,
                  ((const struct sig_entry *)b)->name);
}

/* Model root without trailing slashes, real path and subject name. */
static enum mg_status
model_init(struct sig_model *m, const char *model_path)
{
    size_t n = strlen(model_path);
    while (n > 1 && model_path[n - 1] == '/')
        n--;
    m->root = mg_strndup(model_path, n);
    if (m->root == NULL)
        return MG_E_NOMEM;
    char *rp = realpath(model_path, NULL);
    if (rp != NULL) {
        m->root_real = mg_strdup(rp);
        free(rp); /* libc-owned: allocated by the C library */
        if (m->root_real == NULL)
            return MG_E_NOMEM;
    }
    sig_basename(m->root, m->name, sizeof(m->name));
    if ((m->name[0] == '\0' || strcmp(m->name, ".") == 0 ||
         strcmp(m->name, "..") == 0) &&
        m->root_real != NULL)
        sig_basename(m->root_real, m->name, sizeof(m->name));
    return MG_OK;
}

enum mg_status
sig_walk(const char *model_path,
         const struct sig_walk_cfg *cfg,
         struct sig_model *m,
         struct mg_sig_result *r)
{
    memset(m, 0, sizeof(*m));
    enum mg_status st = model_init(m, model_path);
    if (st != MG_OK)
        return st;
    struct walker w = {cfg, m, r, MG_OK};
    struct stat sb;
    if (lstat(model_path, &sb) != 0) {
        int eno = errno;
        if (sig_result_add(r, MG_SIG_R_IO, NULL, "%s: %s", model_path,
                           strerror(eno)) != MG_OK)
            return MG_E_NOMEM;
        return MG_E_IO;
    }
    int via_symlink = 0;
    if (S_ISLNK(sb.st_mode)) {
        if (!cfg->allow_symlinks) {
            refuse(&w, ".",
                   "the model path is a symbolic link (refused unless "
                   "signed with --allow-symlinks)");
            return w.st;
        }
        if (stat(model_path, &sb) != 0) {
            refuse(&w, ".", "the model path is a broken symbolic link");
            return w.st;
        }
        via_symlink = 1;
    }
    if (S_ISREG(sb.st_mode)) {
        m->single = 1;
        add_entry(&w, ".", m->root, &sb, SIG_ENTRY_FILE, via_symlink);
    } else if (S_ISDIR(sb.st_mode)) {
        int fd = open(model_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
                                      (via_symlink ? 0 : O_NOFOLLOW));
        if (fd < 0) {
            if (sig_result_add(r, MG_SIG_R_IO, NULL, "%s: %s", model_path,
                               strerror(errno)) != MG_OK)
                return MG_E_NOMEM;
            return MG_E_IO;
        }
        walk_dir(&w, fd, "", 0);
    } else {
        refuse(&w, ".", "the model path is not a file or a folder");
    }
    if (m->n > 1)
        qsort(m->v, m->n, sizeof(*m->v), cmp_entry);
    return w.st;
}

void
sig_model_free(struct sig_model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        mg_free(m->v[i].name);
        mg_free(m->v[i].path);
    }
    mg_free(m->v);
    mg_free(m->root);
    mg_free(m->root_real);
    memset(m, 0, sizeof(*m));
}

char *
sig_relative_inside(const char *model_path, const char *path)
{
    if (model_path == NULL || path == NULL)
        return NULL;
    char base[NAME_MAX + 1];
    sig_basename(path, base, sizeof(base));
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
        strcmp(base, "/") == 0)
        return NULL;
    struct stat sb;
    if (stat(model_path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return NULL;
    char *root = realpath(model_path, NULL);
    if (root == NULL)
        return NULL;
    /* real path of the folder holding it (the file may not exist yet) */
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/')
        s--;
    char *dir = s == 0 ? mg_strdup(".") : mg_strndup(path, s);
    char *rd = dir ? realpath(dir, NULL) : NULL;
    mg_free(dir);
    char *out = NULL;
    if (rd != NULL) {
        size_t rl = strlen(root);
        if (strcmp(rd, root) == 0)
            out = mg_strdup(base);
        else if (strcmp(root, "/") == 0)
            out = join(rd + 1, base);
        else if (sig_name_under(rd, root))
            out = join(rd + rl + 1, base);
    }
    free(rd);   /* libc-owned: both allocated by the C library */
    free(root); /* libc-owned */
    return out;
}
