/* The engine's transport between the processes of an MPI run
 * (`mpirun -np N ripple ...`, engine.h): rank 0 leads, the other ranks
 * work. In a build without MPI (-Dmpi=disabled), or when no MPI launcher
 * started the process, there is one process: rank 0 of size 1, and
 * nothing here talks to anyone.
 *
 * Messages are bytes with a tag. Waiting polls with short sleeps (0.2 to
 * 1 ms), so a rank that waits does not spin a core the computing ranks
 * need (a blocking MPI_Recv of Open MPI busy-polls). The library behind it
 * is initialised with MPI_THREAD_SERIALIZED: rank 0 has a thread that
 * answers the workers while its main thread computes, and only one thread
 * calls MPI at a time (engine.c says which). Errors return -1 with a
 * message into err; nothing here prints or exits. */
#ifndef RIPPLE_DIST_H
#define RIPPLE_DIST_H

#include <stddef.h>

/* 1 in a build with MPI. */
int dist_built(void);
/* Starts MPI when an MPI launcher started this process (Open MPI's
 * OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment) and the
 * build has MPI; does nothing otherwise. Before MPI_Init: each rank's CUDA
 * device is the one of its local rank (CUDA_VISIBLE_DEVICES set to the
 * local rank's entry of the visible devices), and RIPPLE_NUM_THREADS, when
 * unset, becomes the cores of the node divided among its local ranks.
 * On ranks > 0 stdout goes to /dev/null (rank 0 writes the results).
 * Returns 0, or -1 with err[n]. */
int dist_init(char *err, size_t n);
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);

/* Sends len bytes to rank to with tag (0 <= tag < 100). 0 or -1. */
int dist_send(int to, int tag, const void *buf, size_t len);
/* The next message from rank from (-1: any) with tag (-1: any): 1 with
 * *buf (malloc'd, NUL-terminated beyond len; free it), *len, *src, *tag;
 * 0 when block is 0 and there is none; -1 on an error. */
int dist_recv(int from, int tag, int block, int *src, int *got_tag, char **buf, size_t *len);
/* Ends every rank (a bug or a broken transport: nothing else can). */
void dist_abort(int code);

#endif
