"""A program's own peak resident memory: run it to completion, stopped once at its exit (ptrace,
PTRACE_O_TRACEEXIT) to read VmHWM, RssAnon and RssFile from /proc/PID/status before the kernel
drops its memory.

Why not wait4's ru_maxrss: exec keeps the peak of the memory the process had before exec (the
launcher's, shared or copied at fork) in the process's max RSS, so every child of this Python
reports at least Python's own peak (≈ 10–14 MB) whatever it runs. VmHWM belongs to the memory
the program got at exec, so it is the program's alone (its children are not in it)."""
import ctypes, os

PTRACE_CONT = 7
PTRACE_SEIZE = 0x4206
PTRACE_O_TRACEEXIT = 0x40
PTRACE_EVENT_EXIT = 6

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long


def _ptrace(request, pid, data):
    if _libc.ptrace(request, pid, None, data) == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unable to ptrace({request:#x}) pid {pid}: {os.strerror(errno)}")


def _status_kib(pid, fields):
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name = line.split(":", 1)[0]
            if name in fields:
                found[name] = int(line.split()[1])
    return found


def peak(argv, env):
    """Runs argv (argv[0] a path) and returns (exit code, {VmHWM, RssAnon, RssFile} in KiB at exit).

    The child waits on a pipe until it is seized, so the whole life of the program is traced;
    only its exit stops it (signals it gets are passed on as they come)."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_w)
            os.read(ready_r, 1)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(ready_r)
    try:
        _ptrace(PTRACE_SEIZE, pid, PTRACE_O_TRACEEXIT)
    finally:
        os.close(ready_w)
    memory = {}
    while True:
        _, status = os.waitpid(pid, 0)
        if not os.WIFSTOPPED(status):
            return os.waitstatus_to_exitcode(status), memory
        event = status >> 16
        if event == PTRACE_EVENT_EXIT:
            memory = _status_kib(pid, ("VmHWM", "RssAnon", "RssFile"))
            _ptrace(PTRACE_CONT, pid, 0)
        elif event:
            _ptrace(PTRACE_CONT, pid, 0)
        else:  # a signal on its way to the program: deliver it
            _ptrace(PTRACE_CONT, pid, os.WSTOPSIG(status))
