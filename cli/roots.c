#include "roots.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PY_TIMEOUT_MS 30000
#define PY_MAX_OUTPUT (4u << 20)

int
strlist_add(struct strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **nv = realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL)
            return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n] = strdup(s);
    if (l->v[l->n] == NULL)
        return -1;
    l->n++;
    return 0;
}

void
strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int
exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode));
}

static int
is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Lines of the program's output: "P<path>" (sys.path), "S<dir>" (site
 * folders, a virtual environment's included, found the way site.venv()
 * does from pyvenv.cfg), "U<dir>" (the user's site folder, unless a
 * virtual environment excludes it), each ending in a NUL byte: paths are
 * bytes (os.fsencode).
 */
static const char py_program[] =
    "import os, site, sys\n"
    "w = sys.stdout.buffer.write\n"
    "for p in sys.path:\n"
    "    w(b'P' + os.fsencode(p) + b'\\0')\n"
    /* what site.venv() would find, without running site: pyvenv.cfg */
    "exe_dir = os.path.dirname(os.path.abspath(sys.executable))\n"
    "prefix = os.path.dirname(exe_dir)\n"
    "cfg = [c for c in (os.path.join(exe_dir, 'pyvenv.cfg'),\n"
    "                   os.path.join(prefix, 'pyvenv.cfg'))\n"
    "       if os.path.isfile(c)]\n"
    "system_site = True\n"
    "prefixes = list(site.PREFIXES)\n"
    "if cfg:\n"
    "    with open(cfg[0], encoding='utf-8') as f:\n"
    "        for line in f:\n"
    "            k, sep, v = line.partition('=')\n"
    "            if sep and k.strip().lower() == "
    "'include-system-site-packages':\n"
    "                system_site = v.strip().lower() == 'true'\n"
    "    prefixes = [prefix] + (prefixes if system_site else [])\n"
    /* Debian's getsitepackages() names dist-packages unless site ran */
    "    v = 'python%d.%d' % sys.version_info[:2]\n"
    "    for lib in ('lib', 'lib64'):\n"
    "        w(b'S' + os.fsencode(os.path.join(prefix, lib, v,\n"
    "                                          'site-packages')) + b'\\0')\n"
    "for p in site.getsitepackages(prefixes):\n"
    "    w(b'S' + os.fsencode(p) + b'\\0')\n"
    "if system_site:\n"
    "    w(b'U' + os.fsencode(site.getusersitepackages()) + b'\\0')\n";

/* Run PYTHON -I -S -c PROGRAM; its output into *out (NUL-terminated). */
static int
run_python(const char *python, char **out, size_t *outlen)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        fprintf(stderr, "modelgate: pipe: %s\n", strerror(errno));
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "modelgate: fork: %s\n", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return 2;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(pipefd[1], 1) < 0 ||
            chdir("/") != 0)
            _exit(127);
        close(pipefd[0]);
        close(pipefd[1]);
        char *const args[] = {(char *)python,     "-I", "-S", "-c",
                              (char *)py_program, NULL};
        execvp(python, args);
        fprintf(stderr, "modelgate: cannot run %s: %s\n", python,
                strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int rc = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long waited = (long)(t.tv_sec - t0.tv_sec) * 1000 +
                      (long)(t.tv_nsec - t0.tv_nsec) / 1000000;
        if (buf == NULL || waited >= PY_TIMEOUT_MS) {
            fprintf(stderr, "modelgate: %s: %s\n", python,
                    buf == NULL ? "out of memory" : "no answer in 30 s");
            rc = 2;
            break;
        }
        struct pollfd p = {pipefd[0], POLLIN, 0};
        int k = poll(&p, 1, (int)(PY_TIMEOUT_MS - waited));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            continue;
        if (n + 1 >= cap) {
            if (cap >= PY_MAX_OUTPUT) {
                fprintf(stderr, "modelgate: %s: too much output\n", python);
                rc = 2;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                continue;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(pipefd[0], buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(pipefd[0]);
    if (rc != 0)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        fprintf(stderr,
                "modelgate: %s did not report its import path (exit %d)\n",
                python, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        rc = 2;
    }
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The paths a site folder's .pth files add (site.addpackage's rules:
   blank lines and '#' comments are skipped, lines starting with "import"
   are code, the rest are paths relative to the folder). */
static int
pth_paths(const char *dir, struct strlist *out, int verbose)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct strlist names = {0};
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".pth") == 0 &&
            e->d_name[0] != '.' && strlist_add(&names, e->d_name) != 0)
            rc = -1;
    }
    closedir(d);
    if (names.n > 0)
        qsort(names.v, names.n, sizeof(*names.v), cmp_str);
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names.v[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        char line[4096];
        unsigned code_lines = 0;
        while (fgets(line, sizeof(line), f) != NULL && rc == 0) {
            size_t n = strlen(line);
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
                             line[n - 1] == ' ' || line[n - 1] == '\t'))
                line[--n] = '\0';
            if (n == 0 || line[0] == '#')
                continue;
            if (strncmp(line, "import ", 7) == 0 ||
                strncmp(line, "import\t", 7) == 0) {
                code_lines++;
                continue;
            }
            char full[8192];
            if (line[0] == '/')
                snprintf(full, sizeof(full), "%s", line);
            else
                snprintf(full, sizeof(full), "%s/%s", dir, line);
            if (exists(full) && strlist_add(out, full) != 0)
                rc = -1;
        }
        fclose(f);
        if (code_lines > 0 && verbose)
            fprintf(stderr,
                    "modelgate: %s: %u import line(s): code that Python "
                    "runs at every start (not run here)\n",
                    path, code_lines);
    }
    strlist_free(&names);
    return rc;
}

int
python_env_roots(const char *python, struct strlist *out, int verbose)
{
    if (python[0] == '\0')
        python = "python3";
    char *text = NULL;
    size_t len = 0;
    int rc = run_python(python, &text, &len);
    if (rc != 0)
        return rc;
    struct strlist sites = {0};
    size_t before = out->n;
    for (size_t i = 0; i < len && rc == 0;) {
        const char *item = text + i;
        size_t n = strlen(item);
        i += n + 1;
        if (n < 2)
            continue;
        const char *p = item + 1;
        /* relative entries ('' is the current folder) are not the
           environment's */
        if (p[0] != '/' || !exists(p))
            continue;
        if (strlist_add(out, p) != 0 ||
            ((item[0] == 'S' || item[0] == 'U') && is_dir(p) &&
             strlist_add(&sites, p) != 0))
            rc = -1;
    }
    for (size_t i = 0; i < sites.n && rc == 0; i++)
        rc = pth_paths(sites.v[i], out, verbose);
    strlist_free(&sites);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "modelgate: out of memory\n");
        return 2;
    }
    if (verbose)
        for (size_t i = before; i < out->n; i++)
            fprintf(stderr, "modelgate: %s: %s\n", python, out->v[i]);
    return 0;
}

/* Length of s without trailing slashes (but "/" stays "/"). */
static int
trimmed(const char *s)
{
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        n--;
    return n > 4096 ? 4096 : (int)n;
}

/* $VAR/suffix, or $HOME/.cache/fallback; "" when nothing is set. */
static void
cache_dir(char *buf,
          size_t size,
          const char *var,
          const char *var_suffix,
          const char *xdg_suffix)
{
    const char *v = getenv(var);
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (v != NULL && v[0] != '\0')
        snprintf(buf, size, "%.*s%s", trimmed(v), v, var_suffix);
    else if (xdg != NULL && xdg[0] != '\0')
        snprintf(buf, size, "%.*s/%s", trimmed(xdg), xdg, xdg_suffix);
    else if (home != NULL && home[0] != '\0')
        snprintf(buf, size, "%.*s/.cache/%s", trimmed(home), home, xdg_suffix);
    else
        buf[0] = '\0';
}

int
hf_cache_roots(const char *dir, struct strlist *out, int verbose)
{
    char hub[4096];
    if (dir[0] != '\0') {
        /* HF_HOME given instead of its hub folder: take the hub folder */
        snprintf(hub, sizeof(hub), "%.*s/hub", trimmed(dir), dir);
        if (!is_dir(hub))
            snprintf(hub, sizeof(hub), "%s", dir);
        if (!is_dir(hub)) {
            fprintf(stderr, "modelgate: %s: not a folder\n", dir);
            return 2;
        }
        return strlist_add(out, hub) == 0 ? 0 : 2;
    }
    const char *hc = getenv("HF_HUB_CACHE");
    if (hc != NULL && hc[0] != '\0')
        snprintf(hub, sizeof(hub), "%.*s", trimmed(hc), hc);
    else
        cache_dir(hub, sizeof(hub), "HF_HOME", "/hub", "huggingface/hub");
    char torch[4096];
    cache_dir(torch, sizeof(torch), "TORCH_HOME", "/hub", "torch/hub");
    const char *const found[] = {hub, torch};
    const char *const what[] = {"Hugging Face cache", "torch hub cache"};
    for (size_t i = 0; i < 2; i++) {
        if (found[i][0] == '\0')
            continue;
        if (!is_dir(found[i])) {
            fprintf(stderr, "modelgate: no %s at %s\n", what[i], found[i]);
            continue;
        }
        if (verbose)
            fprintf(stderr, "modelgate: %s: %s\n", what[i], found[i]);
        if (strlist_add(out, found[i]) != 0)
            return 2;
    }
    return 0;
}
