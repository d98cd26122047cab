/* The installable library: `meson install` into a scratch root puts a shared
 * libclinception with its soversion, the header and clinception.pc there;
 * with them, tests/install_app.c builds through pkg-config and runs one
 * forward; the library exports the header's functions and nothing else. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include "../include/clinception.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(install, .timeout = 300);

static const char *env(const char *name) {
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set (run through meson test)", name);
    return v;
}

/* Runs a shell command; returns its exit code. Its output goes to the log,
 * or into out (up to size bytes) when out is given. */
static int run(const char *cmd, char *out, size_t size) {
    fprintf(stderr, "$ %s\n", cmd);
    if (!out) {
        int rc = system(cmd);
        return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
    }
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t used = fread(out, 1, size - 1, p);
    out[used] = '\0';
    fprintf(stderr, "%s", out);
    int rc = pclose(p);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

Test(install, version_is_the_project_version) {
    cr_expect_str_eq(cln_version(), CLN_VERSION_STRING);
    cr_expect_str_eq(cln_version(), env("CLN_VERSION"), "meson.build's version");
    char major[16];
    snprintf(major, sizeof major, "%d.", CLN_VERSION_MAJOR);
    cr_expect_eq(strncmp(cln_version(), major, strlen(major)), 0);
}

Test(install, a_program_builds_through_pkg_config_and_runs) {
    char root[] = "/tmp/test_install_XXXXXX", cmd[16384], out[65536];
    cr_assert_not_null(mkdtemp(root));
    snprintf(cmd, sizeof cmd, "meson install -C %s --no-rebuild --quiet --destdir %s >&2",
             env("CLN_BUILD_DIR"), root);
    cr_assert_eq(run(cmd, NULL, 0), 0, "meson install failed");

    /* the installed files: where the .pc is, the library beside its folder */
    snprintf(cmd, sizeof cmd, "dirname \"$(find %s -name clinception.pc)\"", root);
    cr_assert_eq(run(cmd, out, sizeof out), 0);
    char pc_dir[1024];
    snprintf(pc_dir, sizeof pc_dir, "%.*s", (int)strcspn(out, "\n"), out);
    cr_assert(pc_dir[0] == '/', "no clinception.pc installed under %s", root);
    const char *lib_dir_end = strrchr(pc_dir, '/');
    char lib_dir[1024];
    snprintf(lib_dir, sizeof lib_dir, "%.*s", (int)(lib_dir_end - pc_dir), pc_dir);
    snprintf(cmd, sizeof cmd, "ls %s", lib_dir);
    cr_assert_eq(run(cmd, out, sizeof out), 0);
    char soname[64];
    snprintf(soname, sizeof soname, "libclinception.so.%d\n", CLN_VERSION_MAJOR);
    cr_expect(strstr(out, soname) != NULL, "no %s in %s: %s", soname, lib_dir, out);
    cr_expect(strstr(out, "libclinception.so." CLN_VERSION_STRING) != NULL, "%s", out);

    /* exported: every function the header declares, and nothing else */
    snprintf(cmd, sizeof cmd,
             "nm -D --defined-only %s/libclinception.so | awk '$2 == \"T\" || $2 == \"D\" || "
             "$2 == \"B\" || $2 == \"R\" {print $3}' | sed 's/@.*//'",
             lib_dir);
    cr_assert_eq(run(cmd, out, sizeof out), 0);
    size_t exported = 0;
    char header[1024];
    snprintf(header, sizeof header, "%s/include/clinception.h", env("CLN_SOURCE_DIR"));
    for (char *name = strtok(out, "\n"); name; name = strtok(NULL, "\n")) {
        exported++;
        cr_expect_eq(strncmp(name, "cln_", 4), 0, "exports %s", name);
        char grep[2048];
        snprintf(grep, sizeof grep, "grep -q '\\b%s(' %s", name, header);
        cr_expect_eq(run(grep, NULL, 0), 0, "exports %s, which clinception.h does not declare",
                     name);
    }
    cr_expect_geq(exported, 20, "only %zu symbols exported", exported);

    /* someone else's program: cflags and libs from pkg-config alone; under
     * the sanitizers, built with them too (the library carries their
     * runtime) */
    const char *sanitize = getenv("CLN_SANITIZE");
    char flags[256] = "";
    if (sanitize && *sanitize && strcmp(sanitize, "none") != 0)
        snprintf(flags, sizeof flags, "-fsanitize=%s", sanitize);
    snprintf(cmd, sizeof cmd,
             "PKG_CONFIG_PATH=%s PKG_CONFIG_SYSROOT_DIR=%s cc -std=c11 -Wall -Werror %s "
             "%s/tests/install_app.c -o %s/app $(PKG_CONFIG_PATH=%s PKG_CONFIG_SYSROOT_DIR=%s "
             "pkg-config --cflags --libs clinception) >&2",
             pc_dir, root, flags, env("CLN_SOURCE_DIR"), root, pc_dir, root);
    cr_assert_eq(run(cmd, NULL, 0), 0, "the program did not build against the installed tree");
    snprintf(cmd, sizeof cmd, "LD_LIBRARY_PATH=%s %s/app %s/tools/data", lib_dir, root,
             env("CLN_SOURCE_DIR"));
    cr_assert_eq(run(cmd, out, sizeof out), 0, "the program failed: %s", out);
    cr_expect(strstr(out, "version " CLN_VERSION_STRING) != NULL, "%s", out);
    int cls = -1;
    const char *line = strstr(out, "class ");
    cr_assert_not_null(line, "%s", out);
    cr_expect_eq(sscanf(line, "class %d", &cls), 1);
    cr_expect(cls >= 0 && cls < CLN_NUM_CLASSES, "class %d", cls);

    /* the folder's four photos classified in sorted order, through the library's pool */
    static const char *const photos[] = {"astronaut.png", "chelsea.png", "coffee.jpg",
                                         "coffee.png"};
    const char *at = out;
    for (size_t i = 0; i < sizeof photos / sizeof photos[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "image %s/tools/data/%s class ", env("CLN_SOURCE_DIR"),
                 photos[i]);
        const char *found = strstr(at, path);
        cr_assert_not_null(found, "no line for %s after the previous one: %s", photos[i], out);
        double prob = -1;
        cr_expect_eq(sscanf(found + strlen(path), "%d prob %lf", &cls, &prob), 2, "%s", found);
        cr_expect(cls >= 0 && cls < CLN_NUM_CLASSES && prob > 0 && prob <= 1, "%s", found);
        at = found + 1;
    }
    /* FID of a set against itself is zero; without one of its images, not */
    double self = -1, other = -1;
    const char *f = strstr(out, "fid-self ");
    cr_assert_not_null(f, "%s", out);
    cr_expect_eq(sscanf(f, "fid-self %lf\nfid-other %lf", &self, &other), 2, "%s", f);
    cr_expect(other > 0, "fid-other %g", other);
    /* four images: a covariance of rank 3, whose square root keeps about 1e-5 */
    cr_expect(self >= -1e-4 * other && self <= 1e-4 * other, "fid-self %g against %g", self,
              other);
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    run(cmd, NULL, 0);
}
