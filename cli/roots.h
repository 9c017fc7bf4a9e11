/*
 * roots.h - where the dependency chain keeps model files: a Python
 * environment's import path (scan --python-env) and the Hugging Face and
 * torch hub caches (scan --hf-cache). Each adds folders to scan.
 */
#ifndef MG_CLI_ROOTS_H
#define MG_CLI_ROOTS_H

#include <stddef.h>

struct strlist {
    char **v;
    size_t n, cap;
};

/* Append a copy of s (once: duplicates are skipped). 0 or -1 (memory). */
int strlist_add(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

/*
 * The folders and files on PYTHON's import path: sys.path, the site
 * folders and what their .pth files name (their "import" lines are code
 * and are never run). Runs PYTHON once as "PYTHON -I -S -c PROGRAM" from
 * "/" with no standard input: isolated mode ignores PYTHON* variables and
 * the user's site folder, and -S skips the site module, so no .pth,
 * sitecustomize or usercustomize code runs. Returns 0, or 2 after a
 * message on stderr.
 */
int python_env_roots(const char *python, struct strlist *out, int verbose);

/*
 * The Hugging Face hub cache (dir, or $HF_HUB_CACHE, $HF_HOME/hub,
 * $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub) and, when dir
 * is "", the torch hub cache ($TORCH_HOME/hub, $XDG_CACHE_HOME/torch/hub,
 * ~/.cache/torch/hub). Missing default folders are noted on stderr; a
 * missing dir is an error. Returns 0, or 2 after a message.
 */
int hf_cache_roots(const char *dir, struct strlist *out, int verbose);

#endif
