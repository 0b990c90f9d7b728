/*
 * Corpus replayer: runs every regular file of the directories given on the
 * command line through LLVMFuzzerTestOneInput. Built with gcc so ctest
 * (label "fuzz") exercises the fuzz targets without clang/libFuzzer.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            fclose(f);
            return -1;
        }
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        cap *= 2;
        uint8_t *nb = realloc(buf, cap);
        if (nb == NULL)
            free(buf);
        buf = nb;
    }
    fclose(f);
    /* Copy to an exact-size allocation so ASan catches over-reads. */
    uint8_t *exact = malloc(len > 0 ? len : 1);
    if (exact != NULL && len > 0)
        memcpy(exact, buf, len);
    free(buf);
    if (exact == NULL)
        return -1;
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s corpus-dir...\n", argv[0]);
        return 2;
    }
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            perror(argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (run_file(path) != 0) {
                closedir(d);
                return 1;
            }
            n_files++;
        }
        closedir(d);
    }
    printf("replayed %d file(s)\n", n_files);
    return n_files > 0 ? 0 : 1;
}
