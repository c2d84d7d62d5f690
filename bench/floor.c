/* Reference for the respawn benchmark: the least a supervisor can do. It chdirs into the
 * service directory, then forever: fork, child setsid + exec ./run NAME, parent blocks in
 * waitpid and respawns at once. No status file, no events, no control FIFO, no pacing.
 * Its kill -> exec latency is the kernel's share (death, wakeup, fork, exec) on this
 * machine, against which ostler's and s6's supervisors are compared. Stopped by SIGTERM
 * (default action); the bench then kills the orphaned run by PID. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2 || chdir(argv[1]) != 0) {
        perror("floor: usage: floor DIR");
        return 100;
    }
    for (;;) {
        pid_t pid = fork();
        if (pid == 0) {
            setsid();
            execl("./run", "./run", argv[1], (char *)NULL);
            _exit(127);
        }
        if (pid < 0) {
            sleep(1);
            continue;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
            ;
    }
}
