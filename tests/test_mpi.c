/* clinception-mpi over 2 ranks (mpirun, Open MPI) against clinception in
 * one process: classify's lines, features' rows and paths (of images and
 * of an --input batch) and infer's
 * logits byte for byte, fid's value within 1e-8 (its sums add up in another
 * order); a rank that fails ends every rank with its message. Each rank
 * has a one-thread PoCL CPU device. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include "tmp_dir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *env(const char *name) {
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set (run through meson test)", name);
    return v;
}

static void setup(void) {
    tmp_dir_make("test_mpi");
    setenv("POCL_DEVICES", "pthread", 1);
    setenv("POCL_MAX_PTHREAD_COUNT", "1", 1); /* PoCL 3.1; later ones read the next */
    setenv("POCL_CPU_MAX_CU_COUNT", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
}

TestSuite(mpi, .init = setup, .fini = tmp_dir_remove, .timeout = 600);

/* Runs a shell command; returns its exit status. */
static int run(const char *cmd) {
    fprintf(stderr, "$ %s\n", cmd);
    int rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

/* `clinception ARGS > out` in one process, and over 2 ranks into out_mpi. */
static void both(const char *args, const char *out, const char *out_mpi, int status) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s %s > %s 2>> %s", env("CLINCEPTION"), args, out,
             tmp_path("log.txt"));
    cr_assert_eq(run(cmd), status, "clinception %s", args);
    snprintf(cmd, sizeof cmd, "mpirun --allow-run-as-root --oversubscribe -n 2 %s %s > %s 2>> %s",
             env("CLINCEPTION_MPI"), args, out_mpi, tmp_path("log.txt"));
    cr_assert_eq(run(cmd), status, "clinception-mpi %s", args);
}

/* 11 small images of varied sizes, one of them broken. */
static const char *images(void) {
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s", tmp_path("images"));
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && /usr/bin/python3 -c \"import numpy as np; from PIL import Image; "
             "rng = np.random.default_rng(9); "
             "[Image.fromarray(rng.integers(0, 256, (40 + 5 * i, 95 - 4 * i, 3), "
             "dtype=np.uint8)).save('%s/%%02d.png' %% i) for i in range(10)]\" && "
             "head -c 50 %s/03.png > %s/05.png.png",
             dir, dir, dir, dir);
    cr_assert_eq(run(cmd), 0);
    return dir;
}

/* Ranks that do not see the same run end, every one of them, in bounded
 * time with a message naming the rank and what differs: fewer images on
 * rank 1 (storage that differs per node: rank 0 would otherwise wait
 * forever for its batches), and a weights file of the same shape but other
 * content. Each rank reads its own folder or file, $OMPI_COMM_WORLD_RANK's. */
Test(mpi, ranks_that_disagree_on_the_run) {
    char cmd[16384], d0[1024], d1[1024];
    snprintf(d0, sizeof d0, "%s", tmp_path("set_0"));
    snprintf(d1, sizeof d1, "%s", tmp_path("set_1"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s %s && /usr/bin/python3 -c \"import numpy as np; from PIL import Image; "
             "rng = np.random.default_rng(6); "
             "[Image.fromarray(rng.integers(0, 256, (80, 90, 3), dtype=np.uint8)).save('%s/%%d.png' "
             "%% i) for i in range(4)]\" && cp %s/0.png %s/1.png %s/2.png %s/",
             d0, d1, d0, d0, d0, d0, d1);
    cr_assert_eq(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "mpirun --allow-run-as-root --oversubscribe -n 2 sh -c 'exec %s classify "
             "--random-weights --batch 2 --crop 75 %s/set_$OMPI_COMM_WORLD_RANK' > /dev/null "
             "2> %s",
             env("CLINCEPTION_MPI"), tmp_dir_path(), tmp_path("images.txt"));
    cr_expect_neq(run(cmd), 0, "ranks that see other images must not succeed");
    snprintf(cmd, sizeof cmd,
             "cat %s >&2; grep -q 'rank 1 does not agree with rank 0 on the number of inputs (3 "
             "against 4)' %s",
             tmp_path("images.txt"), tmp_path("images.txt"));
    cr_expect_eq(run(cmd), 0, "no message naming rank 1 and the inputs");

    /* two weight files of one shape: the second with one value changed */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tools/make_reference.py --out %s --seed 3 --height 75 --width 75 "
             ">&2 && cp %s/model.safetensors %s/w_0.safetensors && cp %s/model.safetensors "
             "%s/w_1.safetensors && printf '\\001' | dd of=%s/w_1.safetensors bs=1 seek=$(( "
             "$(stat -c %%s %s/w_1.safetensors) - 1 )) conv=notrunc 2>/dev/null",
             env("CLN_SOURCE_DIR"), tmp_dir_path(), tmp_dir_path(), tmp_dir_path(),
             tmp_dir_path(), tmp_dir_path(), tmp_dir_path(), tmp_dir_path());
    cr_assert_eq(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "mpirun --allow-run-as-root --oversubscribe -n 2 sh -c 'exec %s classify --weights "
             "%s/w_$OMPI_COMM_WORLD_RANK.safetensors --batch 2 --crop 75 %s' > /dev/null 2> %s",
             env("CLINCEPTION_MPI"), tmp_dir_path(), d0, tmp_path("weights.txt"));
    cr_expect_neq(run(cmd), 0, "ranks with other weights must not succeed");
    snprintf(cmd, sizeof cmd,
             "cat %s >&2; grep -q 'rank 1 does not agree with rank 0 on the weights' %s",
             tmp_path("weights.txt"), tmp_path("weights.txt"));
    cr_expect_eq(run(cmd), 0, "no message naming rank 1 and the weights");
}

/* The last batch of the run is rank 1's and none of its images can be
 * read: rank 1 still sends it (empty), so rank 0 neither waits for it nor
 * takes rank 1's results for it; both runs name the two images, exit 1. */
Test(mpi, a_last_batch_of_unreadable_images) {
    char dir[1024], cmd[16384], args[4096], a[1024], b[1024];
    snprintf(dir, sizeof dir, "%s", tmp_path("last"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && /usr/bin/python3 -c \"import numpy as np; from PIL import Image; "
             "rng = np.random.default_rng(3); "
             "[Image.fromarray(rng.integers(0, 256, (80, 90, 3), dtype=np.uint8)).save('%s/%%d.png' "
             "%% i) for i in range(2)]\" && echo junk > %s/2.png && echo junk > %s/3.png",
             dir, dir, dir, dir);
    cr_assert_eq(run(cmd), 0);
    snprintf(a, sizeof a, "%s", tmp_path("last_one.txt"));
    snprintf(b, sizeof b, "%s", tmp_path("last_two.txt"));
    snprintf(args, sizeof args, "classify --random-weights --batch 2 --crop 75 %s", dir);
    both(args, a, b, 1);
    tmp_expect_same_bytes(a, b);
    /* each run's summary counts the two, and no rank's message was taken
     * for another */
    snprintf(cmd, sizeof cmd,
             "test \"$(grep -c '4 images, 2 failed' %s)\" = 2 && ! grep -q malformed %s",
             tmp_path("log.txt"), tmp_path("log.txt"));
    cr_expect_eq(run(cmd), 0, "a summary is missing, or a message was malformed (see log.txt)");
}

Test(mpi, two_ranks_give_the_single_process_results) {
    const char *dir = images();
    char args[4096], a[1024], b[1024];
    snprintf(a, sizeof a, "%s", tmp_path("one.txt"));
    snprintf(b, sizeof b, "%s", tmp_path("two.txt"));
    /* a broken image: named, left out, exit 1 in both */
    snprintf(args, sizeof args, "classify --random-weights --batch 2 --crop 75 %s", dir);
    both(args, a, b, 1);
    tmp_expect_same_bytes(a, b);

    snprintf(args, sizeof args,
             "features --random-weights --batch 2 --crop 75 --layer Mixed_5c --output %s %s",
             tmp_path("one.npy"), dir);
    both(args, "/dev/null", "/dev/null", 1);
    char one[1024], two[1024];
    snprintf(one, sizeof one, "%s", tmp_path("one.npy"));
    snprintf(two, sizeof two, "%s", tmp_path("two.npy"));
    cr_assert_eq(rename(one, two), 0);
    snprintf(one, sizeof one, "%s", tmp_path("one.paths.txt"));
    snprintf(two, sizeof two, "%s", tmp_path("two.paths.txt"));
    cr_assert_eq(rename(one, two), 0);
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "%s features --random-weights --batch 2 --crop 75 --layer Mixed_5c --output %s %s "
             "2>> %s",
             env("CLINCEPTION"), tmp_path("one.npy"), dir, tmp_path("log.txt"));
    cr_assert_eq(run(cmd), 1);
    /* the mpi run wrote one.npy: the single-process run above, two.npy was the first */
    tmp_expect_same_bytes(tmp_path("one.npy"), tmp_path("two.npy"));
    tmp_expect_same_bytes(tmp_path("one.paths.txt"), tmp_path("two.paths.txt"));

    snprintf(args, sizeof args, "fid --random-weights --batch 2 --dims 192 --json %s %s", dir, dir);
    both(args, a, b, 1);
    size_t size;
    char *x = tmp_read(a, &size), *y = tmp_read(b, &size);
    const char *fx = strstr(x, "\"fid\": "), *fy = strstr(y, "\"fid\": ");
    cr_assert(fx && fy, "%s / %s", x, y);
    cr_expect(fabs(strtod(fx + 7, NULL) - strtod(fy + 7, NULL)) < 1e-8, "%s / %s", x, y);
    cr_expect(strstr(y, "\"images\": [10, 10], \"failed\": 2"), "%s", y);
    free(x);
    free(y);

    /* infer's 3 images over 2 ranks: batches of 2, rows [0, 2) and [2, 3),
     * as one process runs them with --batch 2 */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np; np.save('%s', "
             "np.random.default_rng(4).standard_normal((3, 3, 80, 77)).astype(np.float32))\"",
             tmp_path("x.npy"));
    cr_assert_eq(run(cmd), 0);
    snprintf(args, sizeof args, "infer --random-weights --batch 2 --input %s --output %s",
             tmp_path("x.npy"), tmp_path("y_one.npy"));
    snprintf(cmd, sizeof cmd, "%s %s > /dev/null 2>> %s", env("CLINCEPTION"), args,
             tmp_path("log.txt"));
    cr_assert_eq(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "mpirun --allow-run-as-root --oversubscribe -n 2 %s infer --random-weights --input "
             "%s --output %s > /dev/null 2>> %s",
             env("CLINCEPTION_MPI"), tmp_path("x.npy"), tmp_path("y_two.npy"), tmp_path("log.txt"));
    cr_assert_eq(run(cmd), 0);
    tmp_expect_same_bytes(tmp_path("y_one.npy"), tmp_path("y_two.npy"));

    /* features --input as infer splits it: 5 images in batches of 2, rank 0
     * rows [0, 2), rank 1 rows [2, 5); a block's rows in input order, the
     * bytes of one process */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np; np.save('%s', "
             "np.random.default_rng(5).standard_normal((5, 3, 79, 81)).astype(np.float32))\"",
             tmp_path("x5.npy"));
    cr_assert_eq(run(cmd), 0);
    snprintf(args, sizeof args,
             "features --random-weights --batch 2 --layer Mixed_5b --input %s --output %s",
             tmp_path("x5.npy"), tmp_path("f_one.npy"));
    snprintf(cmd, sizeof cmd, "%s %s > /dev/null 2>> %s", env("CLINCEPTION"), args,
             tmp_path("log.txt"));
    cr_assert_eq(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "mpirun --allow-run-as-root --oversubscribe -n 2 %s features --random-weights "
             "--batch 2 --layer Mixed_5b --input %s --output %s > /dev/null 2>> %s",
             env("CLINCEPTION_MPI"), tmp_path("x5.npy"), tmp_path("f_two.npy"),
             tmp_path("log.txt"));
    cr_assert_eq(run(cmd), 0, "clinception-mpi features --input");
    tmp_expect_same_bytes(tmp_path("f_one.npy"), tmp_path("f_two.npy"));
}

/* Rank 1 cannot open its device (--device names one per rank on the
 * machine): every rank ends, with its message, exit status non-zero, and
 * no output file. */
Test(mpi, a_failing_rank_ends_every_rank) {
    const char *dir = images();
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "timeout 120 mpirun --allow-run-as-root --oversubscribe -n 2 %s features "
             "--random-weights --device 0:0,7:7 --batch 2 --crop 75 --output %s %s > /dev/null "
             "2> %s",
             env("CLINCEPTION_MPI"), tmp_path("out.npy"), dir, tmp_path("err.txt"));
    const int status = run(cmd);
    cr_expect(status != 0 && status != 124, "exit status %d", status);
    size_t size;
    char *err = tmp_read(tmp_path("err.txt"), &size);
    cr_expect(strstr(err, "no OpenCL device matches --device \"7:7\""), "%s", err);
    cr_expect(strstr(err, "rank 1 failed"), "%s", err);
    free(err);
    struct stat st;
    cr_expect(stat(tmp_path("out.npy"), &st) != 0, "a failed run left its output");
}
