/* The processes one run is spread over: one for `clinception`, MPI's ranks
 * for `clinception-mpi` (tools/cluster_local.c or tools/cluster_mpi.c is
 * linked in). Every rank runs the same command on its shard of the inputs;
 * the others send their results to rank 0, which writes them in input
 * order. A rank that fails ends the whole run (cluster_abort), so that no
 * rank waits for one that will never send. */
#ifndef CLN_CLUSTER_H
#define CLN_CLUSTER_H

#include "clinception.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Starts and ends the processes' communication: first and last in main. */
void cluster_start(int *argc, char ***argv);
/* Ends the run with status (every rank: the worst of theirs) when all of
 * them got there; returns the status to exit with. */
int cluster_end(int status);

int cluster_rank(void);
int cluster_ranks(void);
/* The rank among those on this machine (to pick a device). */
int cluster_local_rank(void);

/* This rank failed (its message printed): ends every rank with status 1.
 * Returns only in a single process. */
void cluster_abort(void);

/* Bytes to rank 0, and rank 0's receiving of the next message a rank sent
 * (malloc'd, *size bytes). A failure of the communication ends the run. */
void cluster_send(const void *bytes, size_t size);
void *cluster_receive(int from, size_t *size);

/* The smallest of every rank's value, on every rank. */
long cluster_min(long value);

/* ---- The messages (cluster.c, over cluster_send and cluster_receive) ---- */

/* A batch's outputs to rank 0: its image count, their indices in the run,
 * out_floats floats each. */
void cluster_send_batch(const size_t *items, int n, const float *out, size_t out_floats);

/* Rank 0: rank `from`'s next batch, checked: at most max_n images, each
 * index below `images`, out_floats each. *message is malloc'd and holds
 * *out (free it after); items gets the indices. */
cln_status cluster_receive_batch(int from, int max_n, size_t images, size_t out_floats,
                                 void **message, size_t *items, int *n, const float **out,
                                 cln_error *err);

/* A rank's rows of floats to rank 0 (infer's logits, bench's rate), and
 * rank 0's receiving of exactly `floats` of them from rank `from` into out. */
void cluster_send_floats(const void *values, size_t count, size_t size_each);
cln_status cluster_receive_floats(int from, void *out, size_t count, size_t size_each,
                                  cln_error *err);

/* Before any work, over several ranks: every rank's values[n] (a
 * fingerprint of the run: counts and hashes, each named by names[i]) must
 * be rank 0's. A difference ends the check on every rank with a failure;
 * rank 0's message names the rank and what differs. */
cln_status cluster_agree(const char *const *names, const uint64_t *values, int n, cln_error *err);

/* After a run: this rank's failures and its sink's state (state_size bytes)
 * to rank 0. */
void cluster_send_results(size_t failures, const void *state, size_t state_size);

/* Rank 0: rank `from`'s results. *message is malloc'd and holds *state. */
cln_status cluster_receive_results(int from, size_t *failures, void **message, const void **state,
                                   size_t *state_size, cln_error *err);

#endif
