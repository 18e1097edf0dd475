/*
 * The floor for `recd import`: the least a program can do to store the same files as durably.
 *
 *   build/bench/rawwrite OUTDIR FILE…
 *
 * For each FILE: read it, write its bytes to a new temporary file in OUTDIR/tmp, fsync it,
 * rename it into OUTDIR/final, fsync OUTDIR/final. That is the order recd's blob store follows
 * (temp, fsync, rename, fsync the directory), without the metadata, the WAV checks or the
 * digest. OUTDIR must not exist yet; it is created on the same filesystem as given. Prints
 * "rawwrite: N files in S s (R files/s)" on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, const char *name)
{
    fprintf(stderr, "rawwrite: %s %s: %s\n", what, name, strerror(errno));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: rawwrite OUTDIR FILE...\n");
        return 2;
    }
    char path[4096];
    double t0 = now_s();
    if (mkdir(argv[1], 0700) < 0)
        die("mkdir", argv[1]);
    snprintf(path, sizeof path, "%s/tmp", argv[1]);
    if (mkdir(path, 0700) < 0)
        die("mkdir", path);
    int tmp = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(path, sizeof path, "%s/final", argv[1]);
    if (mkdir(path, 0700) < 0)
        die("mkdir", path);
    int fin = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tmp < 0 || fin < 0)
        die("open", argv[1]);

    static char buf[1 << 20];
    for (int i = 2; i < argc; i++) {
        int in = open(argv[i], O_RDONLY | O_CLOEXEC);
        if (in < 0)
            die("open", argv[i]);
        char name[64];
        snprintf(name, sizeof name, "f%06d.wav", i - 2);
        char tname[80];
        snprintf(tname, sizeof tname, "%s.tmp", name);
        int out = openat(tmp, tname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (out < 0)
            die("create", tname);
        ssize_t r;
        while ((r = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)r) != r)
                die("write", tname);
        if (r < 0)
            die("read", argv[i]);
        close(in);
        if (fsync(out) < 0 || close(out) < 0)
            die("fsync", tname);
        if (renameat(tmp, tname, fin, name) < 0)
            die("rename", tname);
        if (fsync(fin) < 0)
            die("fsync dir", argv[1]);
    }
    double el = now_s() - t0;
    int n = argc - 2;
    printf("rawwrite: %d files in %.3f s (%.1f files/s)\n", n, el, n / el);
    return 0;
}
