/* The processes one run is spread over: one for `clinception`, MPI's ranks
 * for `clinception-mpi` (tools/cluster_local.c or tools/cluster_mpi.c is
 * linked in). Every rank runs the same command on its shard of the inputs;
 * the others send their results to rank 0, which writes them in input
 * order. A rank that fails ends the whole run (cluster_abort), so that no
 * rank waits for one that will never send. */
#ifndef CLN_CLUSTER_H
#define CLN_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
