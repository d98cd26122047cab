/* Device enumeration and selection, and a kernel build failure reaching the
 * caller with its build log. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <sys/stat.h>
#include <unistd.h>

#include "../include/clinception.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(runtime, .timeout = 300);

Test(runtime, lists_every_device) {
    cln_device_info *list = NULL;
    size_t n = 0;
    cln_error err;
    cr_assert_eq(cln_devices_list(&list, &n, &err), CLN_OK, "%s", err.message);
    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        cr_expect_gt(list[i].compute_units, 0);
        cr_expect_gt(list[i].global_mem_bytes, 0);
        cr_expect_gt(list[i].max_alloc_bytes, 0);
        cr_expect(strstr(list[i].device_version, "OpenCL"), "%s", list[i].device_version);
    }
    free(list);
}

static cln_device_info select_ok(const char *selector) {
    cln_device_info d;
    cln_error err;
    cr_assert_eq(cln_device_select(selector, &d, &err), CLN_OK, "%s: %s", selector, err.message);
    return d;
}

Test(runtime, selects_by_index_type_and_name) {
    unsetenv("CLINCEPTION_DEVICE");
    cln_device_info first = select_ok("0:0");
    cr_expect_eq(first.platform_index, 0);
    cr_expect_eq(first.device_index, 0);
    cln_device_info cpu = select_ok("CPU");
    cr_expect(cpu.is_cpu);
    /* part of the platform name, in another case */
    char part[8] = {0};
    for (int i = 0; i < 4 && first.platform_name[i]; i++)
        part[i] = (char)(i % 2 ? first.platform_name[i] : (first.platform_name[i] ^ 0x20));
    cln_device_info named = select_ok(part);
    cr_expect_eq(named.platform_index, first.platform_index);
    select_ok(NULL);
}

Test(runtime, unknown_device_is_a_clear_error) {
    unsetenv("CLINCEPTION_DEVICE");
    cln_device_info d;
    cln_error err;
    cr_expect_eq(cln_device_select("99:0", &d, &err), CLN_ERR_DEVICE);
    cr_expect(strstr(err.message, "99:0") && strstr(err.message, "0:0"), "%s", err.message);
    cr_expect_eq(cln_device_select("no-such-accelerator", &d, &err), CLN_ERR_DEVICE);
    cr_expect(strstr(err.message, "no-such-accelerator"), "%s", err.message);
}

Test(runtime, environment_names_the_default_device) {
    cln_device_info d;
    cln_error err;
    setenv("CLINCEPTION_DEVICE", "cpu", 1);
    cr_expect_eq(cln_device_select(NULL, &d, &err), CLN_OK, "%s", err.message);
    cr_expect(d.is_cpu);
    setenv("CLINCEPTION_DEVICE", "no-such-accelerator", 1);
    cr_expect_eq(cln_device_select("", &d, &err), CLN_ERR_DEVICE);
    cr_expect(strstr(err.message, "$CLINCEPTION_DEVICE"), "%s", err.message);
    /* an explicit selector wins over the environment */
    cr_expect_eq(cln_device_select("0:0", &d, &err), CLN_OK, "%s", err.message);
    unsetenv("CLINCEPTION_DEVICE");
}

/* Copies cl_kernels/ to a temporary folder with one file broken. */
Test(runtime, build_failure_shows_the_build_log) {
    const char *src = getenv("CLN_SOURCE_DIR");
    cr_assert(src, "CLN_SOURCE_DIR is not set (run through meson test)");
    char dir[] = "/tmp/cln_kernels_XXXXXX", cmd[8192];
    cr_assert(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "cp %s/cl_kernels/*.cl %s/ && echo 'this is not OpenCL C;' >> %s/pool.cl", src, dir,
             dir);
    cr_assert_eq(system(cmd), 0);
    setenv("CLINCEPTION_KERNEL_DIR", dir, 1);
    cln_runtime *rt = NULL;
    cln_error err;
    cln_status st = cln_runtime_create("cpu", &rt, &err);
    unsetenv("CLINCEPTION_KERNEL_DIR");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    cr_assert_eq(st, CLN_ERR_OPENCL);
    cr_expect_null(rt);
    cr_expect(strstr(err.message, "pool.cl") && strstr(err.message, "CL_BUILD_PROGRAM_FAILURE") &&
                  strstr(err.message, "build log"),
              "%s", err.message);
}

Test(runtime, missing_kernel_dir_is_a_clear_error) {
    setenv("CLINCEPTION_KERNEL_DIR", "/nonexistent/kernels", 1);
    cln_runtime *rt = NULL;
    cln_error err;
    cr_expect_eq(cln_runtime_create("cpu", &rt, &err), CLN_ERR_IO);
    cr_expect(strstr(err.message, "/nonexistent/kernels"), "%s", err.message);
    unsetenv("CLINCEPTION_KERNEL_DIR");
}

/* A kernel "file" that is a folder or a named pipe is refused as such,
 * without blocking, naming the file and $CLINCEPTION_KERNEL_DIR. */
Test(runtime, kernel_file_that_is_not_a_file_is_named) {
    char dir[] = "/tmp/test_runtime_XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    static const char *const kinds[2] = {"a folder", "a named pipe"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/prelude.cl", dir);
        cr_assert_eq(k == 0 ? mkdir(path, 0700) : mkfifo(path, 0600), 0);
        setenv("CLINCEPTION_KERNEL_DIR", dir, 1);
        cln_runtime *rt = NULL;
        cln_error err;
        cr_expect_eq(cln_runtime_create("cpu", &rt, &err), CLN_ERR_IO);
        cr_expect(strstr(err.message, "prelude.cl: cannot read: it is") &&
                      strstr(err.message, kinds[k]) &&
                      strstr(err.message, "CLINCEPTION_KERNEL_DIR"),
                  "%s", err.message);
        unsetenv("CLINCEPTION_KERNEL_DIR");
        cln_runtime_free(rt);
        cr_assert_eq(k == 0 ? rmdir(path) : unlink(path), 0);
    }
    rmdir(dir);
}

/* $CLINCEPTION_TUNABLES is checked against each tunable's constraint when
 * a runtime is made: a zero tile (which would divide by zero), a tile that
 * is no vector width, a huge one, a name that is none, another's value. */
Test(runtime, tunables_outside_their_constraints_are_refused) {
    static const struct {
        const char *value, *phrase;
    } cases[] = {
        {"TILE_N=0", "TILE_N takes a whole number from 4 to 16 that is a power of two"},
        {"TILE_M=3", "TILE_M takes a whole number from 1 to 16 that is a power of two"},
        {"GROUP_CONVS=1,TILE_V=99999", "TILE_V takes a whole number from 1 to 8"},
        {"TILE_V=2x", "\"TILE_V=2x\""},
        {"NO_SUCH=1", "\"NO_SUCH=1\" is not NAME=VALUE with NAME one of INPUT_RUN"},
        {"IM2COL_PANEL=8", "IM2COL_PANEL follows TILE_N"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("CLINCEPTION_TUNABLES", cases[i].value, 1);
        cln_runtime *rt = NULL;
        cln_error err;
        cr_expect_eq(cln_runtime_create("cpu", &rt, &err), CLN_ERR_INVALID_ARGUMENT, "%s",
                     cases[i].value);
        cr_expect(strstr(err.message, cases[i].phrase), "%s: %s", cases[i].value, err.message);
        cln_runtime_free(rt);
    }
    unsetenv("CLINCEPTION_TUNABLES");
}
