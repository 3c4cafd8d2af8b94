#include "dist.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if RIPPLE_HAVE_MPI
#include <mpi.h>
#endif

static int rank_, size_ = 1, started_;

int dist_built(void) { return RIPPLE_HAVE_MPI; }
int dist_rank(void) { return rank_; }
int dist_size(void) { return size_; }

static long env_long(const char *name, long fallback)
{
    const char *s = getenv(name);
    char *end;
    if (!s || !*s) return fallback;
    long v = strtol(s, &end, 10);
    return *end ? fallback : v;
}

/* Visible CUDA devices: the entries of CUDA_VISIBLE_DEVICES, else the
 * driver's device nodes /dev/nvidia0, /dev/nvidia1, ... (no CUDA call:
 * the device must be chosen before the runtime starts). */
static void pick_gpu(long local_rank)
{
    char buf[1024], pick[256];
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    if (vis) {
        if (!*vis || snprintf(buf, sizeof buf, "%s", vis) >= (int)sizeof buf) return;
        char *items[128];
        int n = 0;
        for (char *save, *t = strtok_r(buf, ",", &save); t && n < 128; t = strtok_r(NULL, ",", &save)) items[n++] = t;
        if (n == 0) return;
        snprintf(pick, sizeof pick, "%s", items[local_rank % n]);
    } else {
        int n = 0;
        DIR *d = opendir("/dev");
        if (!d) return;
        for (struct dirent *e; (e = readdir(d));) {
            const char *p = e->d_name;
            if (!strncmp(p, "nvidia", 6) && p[6] >= '0' && p[6] <= '9' && strspn(p + 6, "0123456789") == strlen(p + 6)) n++;
        }
        closedir(d);
        if (n == 0) return;
        snprintf(pick, sizeof pick, "%ld", local_rank % n);
    }
    setenv("CUDA_VISIBLE_DEVICES", pick, 1);
}

int dist_init(char *err, size_t n)
{
    (void)err, (void)n;
    if (started_) return 0;
    int launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
    if (!RIPPLE_HAVE_MPI || !launched) return 0;
#if RIPPLE_HAVE_MPI
    long local_rank = env_long("OMPI_COMM_WORLD_LOCAL_RANK", env_long("MPI_LOCALRANKID", env_long("SLURM_LOCALID", 0)));
    long local_size = env_long("OMPI_COMM_WORLD_LOCAL_SIZE", env_long("MPI_LOCALNRANKS", 1));
    if (local_rank < 0) local_rank = 0;
    if (local_size < 1) local_size = 1;
    pick_gpu(local_rank);
    const char *threads = getenv("RIPPLE_NUM_THREADS");
    if (!threads || !*threads) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN), per = cores > 0 ? cores / local_size : 1;
        char buf[32];
        snprintf(buf, sizeof buf, "%ld", per > 0 ? per : 1);
        setenv("RIPPLE_NUM_THREADS", buf, 1);
    }
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        snprintf(err, n, "MPI_Init_thread failed");
        return -1;
    }
    started_ = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    if (provided < MPI_THREAD_SERIALIZED) {
        snprintf(err, n, "the MPI library gives thread level %d, ripple needs MPI_THREAD_SERIALIZED", provided);
        return -1;
    }
    if (rank_ > 0) {
        fflush(stdout);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, STDOUT_FILENO), close(null);
    }
#endif
    return 0;
}

void dist_finalize(void)
{
#if RIPPLE_HAVE_MPI
    if (started_) MPI_Finalize();
#endif
    started_ = 0;
    rank_ = 0, size_ = 1;
}

void dist_abort(int code)
{
    (void)code;
#if RIPPLE_HAVE_MPI
    if (started_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    abort();
}

int dist_send(int to, int tag, const void *buf, size_t len)
{
#if RIPPLE_HAVE_MPI
    if (!started_ || len > (size_t)1 << 30) return -1;
    return MPI_Send(buf, (int)len, MPI_BYTE, to, tag, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
#else
    (void)to, (void)tag, (void)buf, (void)len;
    return -1;
#endif
}

int dist_recv(int from, int tag, int block, int *src, int *got_tag, char **buf, size_t *len)
{
#if RIPPLE_HAVE_MPI
    if (!started_) return -1;
    for (long polls = 0;; polls++) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(from < 0 ? MPI_ANY_SOURCE : from, tag < 0 ? MPI_ANY_TAG : tag, MPI_COMM_WORLD, &flag, &st) !=
            MPI_SUCCESS)
            return -1;
        if (flag) {
            int count = 0;
            MPI_Get_count(&st, MPI_BYTE, &count);
            char *b = malloc((size_t)count + 1);
            if (!b) return -1;
            if (MPI_Recv(b, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                free(b);
                return -1;
            }
            b[count] = '\0';
            *buf = b, *len = (size_t)count;
            if (src) *src = st.MPI_SOURCE;
            if (got_tag) *got_tag = st.MPI_TAG;
            return 1;
        }
        if (!block) return 0;
        /* short sleeps first (a reply is usually quick), then 1 ms */
        struct timespec ts = {0, polls < 50 ? 200000 : 1000000};
        nanosleep(&ts, NULL);
    }
#else
    (void)from, (void)tag, (void)block, (void)src, (void)got_tag, (void)buf, (void)len;
    return -1;
#endif
}
