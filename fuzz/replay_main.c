/*
 * Replays fuzz inputs without libFuzzer, so `make test` can run every corpus and every input that
 * ever crashed under the sanitizers with the ordinary compiler. Each argument is a file or a
 * folder of files; each file is one input to LLVMFuzzerTestOneInput.
 *
 * Usage: replay_NAME PATH... [--optional PATH...]. A path before --optional must exist and hold
 * at least one input: a seed corpus that is missing or empty would otherwise replay nothing and
 * still look clean. A path after it may be absent or empty (no crashes saved yet). Exits 1 if a
 * path fails either rule or cannot be read.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long replayed;

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *p = realloc(buf, cap);
            if (!p)
                abort();
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    replayed++;
    return 0;
}

static int replay(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        if (replay(p) < 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0, optional = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--optional") == 0) {
            optional = 1;
            continue;
        }
        struct stat st;
        if (optional && stat(argv[i], &st) < 0)
            continue; /* no crashes saved yet */
        long before = replayed;
        if (replay(argv[i]) < 0) {
            rc = 1;
        } else if (!optional && replayed == before) {
            fprintf(stderr, "%s: no inputs (a seed corpus must hold at least one)\n", argv[i]);
            rc = 1;
        }
    }
    printf("%s: replayed %ld inputs\n", argv[0], replayed);
    return rc;
}
