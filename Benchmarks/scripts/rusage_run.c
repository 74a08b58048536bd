/*
 * rusage_run: run one command and report its wall time and resource usage.
 *
 *   rusage_run REPORT_FILE COMMAND [ARG...]
 *
 * Writes two JSON lines to REPORT_FILE: {"pid": N} as soon as the command is started (so the
 * harness can read /proc/N/status while it runs), and, once it has ended,
 *   {"wall": s, "user": s, "sys": s, "maxrss_kib": k, "exit": code, "signal": sig}
 * from wait4(2) on the command. Exits with the command's status (128 + signal if killed).
 *
 * Why a C launcher instead of os.wait4 in the Python harness: on Linux, exec() keeps the
 * high-water mark of the memory the process had *before* exec in ru_maxrss, and a child forked
 * by Python starts as a copy of the Python process. So a program started straight from Python
 * reports at least Python's RSS (`true` shows ~14 MiB), which would swamp a 16 MiB target.
 * Forked from this small program, the floor is about 1 MiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: rusage_run REPORT_FILE COMMAND [ARG...]\n");
        return 2;
    }
    FILE *report = fopen(argv[1], "w");
    if (report == NULL) {
        perror(argv[1]);
        return 2;
    }

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    fprintf(report, "{\"pid\": %d}\n", (int)pid);
    fflush(report);

    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("wait4");
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);

    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    double wall = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
    fprintf(report,
            "{\"wall\": %.6f, \"user\": %.6f, \"sys\": %.6f, \"maxrss_kib\": %ld, "
            "\"exit\": %d, \"signal\": %d}\n",
            wall, seconds(ru.ru_utime), seconds(ru.ru_stime), ru.ru_maxrss,
            WIFEXITED(status) ? WEXITSTATUS(status) : -1,
            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    fclose(report);
    return code;
}
