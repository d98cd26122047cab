/* clinception devices: every OpenCL platform and device, with its index. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "cluster.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


int cmd_devices(int argc, char **argv) {
    const command cmd = {
        "devices",
        "devices",
        "Lists every OpenCL platform and device: its index P:D (for --device), type,\n"
        "compute units, global memory, largest allocation and OpenCL version.\n",
        NULL,
        0,
    };
    int parsed = parse_options(&cmd, argc, argv);
    if (parsed >= 0) return parsed;
    if (!no_arguments_left(&cmd, argc, argv)) return 2;
    cln_device_info *list = NULL;
    size_t n = 0;
    cln_error err;
    if (cln_devices_list(&list, &n, &err) != CLN_OK) return fail(&err);
    int last_platform = -1;
    for (size_t i = 0; i < n; i++) {
        const cln_device_info *d = &list[i];
        if (d->platform_index != last_platform) {
            printf("platform %d: %s\n", d->platform_index, d->platform_name);
            last_platform = d->platform_index;
        }
        printf("  %d:%d  %s\n", d->platform_index, d->device_index, d->device_name);
        printf("       type %s, %u compute units, %.1f GiB global memory, %.1f GiB max "
               "allocation\n",
               d->is_gpu   ? "GPU"
               : d->is_cpu ? "CPU"
                           : "other",
               d->compute_units, d->global_mem_bytes / 1073741824.0,
               d->max_alloc_bytes / 1073741824.0);
        printf("       %s, driver %s\n", d->device_version, d->driver_version);
    }
    if (n == 0) printf("no OpenCL devices\n");
    free(list);
    return 0;
}
