#ifndef MG_CLI_WALK_H
#define MG_CLI_WALK_H

#include <stddef.h>

struct walk_file {
    char *path; /* as shown to the user */
};

struct walk_list {
    struct walk_file *v;
    size_t n, cap;
    size_t errors; /* paths that could not be walked (reported on stderr) */
};

/*
 * Expand the command line's paths: files as given, folders recursively in
 * name order, "-" as itself. Inside a folder, symbolic links are followed
 * when their target lies inside that folder; every real file is listed
 * once (by device and inode), under the first name met, or under a
 * symbolic link's name when the first was the target itself (so a Hugging
 * Face cache shows snapshot names, not blob hashes). Only regular files
 * are listed. Returns 0, or -1 when out of memory.
 */
int walk_paths(const char *const *roots, size_t nroots, struct walk_list *out);
void walk_free(struct walk_list *l);

#endif
