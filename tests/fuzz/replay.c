/* Runs a libFuzzer target over every file of the directories (or files) given, so the corpus
 * is a regression test where libFuzzer is not available. Exits non-zero when an argument
 * cannot be read or holds no input at all; a failing input aborts inside the target. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Far above any packet; a bigger file is a mistake in the corpus, not an input. */
#define REPLAY_MAX_INPUT (1u << 20)

static int run_file(const char *path)
{
    static uint8_t buf[REPLAY_MAX_INPUT];
    size_t n;
    FILE *f;
    int rc = 0;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof(buf), f);
    if (ferror(f) || !feof(f)) {
        fprintf(stderr, "replay: cannot read %s whole (at most %u bytes)\n", path,
                REPLAY_MAX_INPUT);
        rc = -1;
        goto out;
    }
    LLVMFuzzerTestOneInput(buf, n);
out:
    fclose(f);
    return rc;
}

/* Returns the number of inputs run, or -1. */
static long run_path(const char *path)
{
    char child[4096];
    struct dirent *e;
    struct stat st;
    long count = 0;
    DIR *d;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path) == 0 ? 1 : -1;
    d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        int len;

        if (e->d_name[0] == '.')
            continue;
        len = snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        if (len < 0 || (size_t)len >= sizeof(child)) {
            fprintf(stderr, "replay: path too long in %s\n", path);
            count = -1;
            break;
        }
        if (stat(child, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (run_file(child) != 0) {
            count = -1;
            break;
        }
        count++;
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    long total = 0, n;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        n = run_path(argv[i]);
        if (n < 0)
            return 1;
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    fprintf(stderr, "replay: %ld inputs ok\n", total);
    return 0;
}
