"""Runs a command that must fail cleanly, for the hardening tests.

Passes (exit 0, the command's stderr on stdout for FileCheck) only when the
command exits with a status in [1, 127] within the time limit, was not
killed by a signal, and printed none of LLVM's crash or fatal-error
banners. Options, before `--`:
  --timeout S      seconds before the command counts as hung (default 60)
  --fsize BYTES    RLIMIT_FSIZE for the command (a disk that fills up)
  --no-new-files D fail if the command leaves a new entry in directory D
"""
import os
import resource
import signal
import subprocess
import sys

CRASH_MARKERS = ("PLEASE submit a bug report", "Stack dump", "LLVM ERROR",
                 "Segmentation fault", "Aborted", "terminate called")


def main(argv):
    timeout, fsize, watched = 60.0, None, None
    while argv and argv[0] != "--":
        flag, value = argv[0], argv[1]
        argv = argv[2:]
        if flag == "--timeout":
            timeout = float(value)
        elif flag == "--fsize":
            fsize = int(value)
        elif flag == "--no-new-files":
            watched = value
        else:
            sys.exit("expect_error.py: unknown option " + flag)
    command = argv[1:]
    before = set(os.listdir(watched)) if watched else set()

    def limits():
        if fsize is not None:
            # Ignored, a write past the limit fails with EFBIG instead of
            # killing the process, as a full disk's ENOSPC would.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout,
                              preexec_fn=limits)
    except subprocess.TimeoutExpired:
        sys.exit("expect_error.py: hung: no exit within %gs: %s" %
                 (timeout, " ".join(command)))
    err = done.stderr.decode(errors="replace")
    sys.stdout.write(err)
    problems = []
    if done.returncode < 0:
        problems.append("killed by signal %d" % -done.returncode)
    elif done.returncode == 0:
        problems.append("exited 0")
    elif done.returncode >= 128:
        problems.append("exit status %d (>= 128)" % done.returncode)
    problems += ["printed '%s'" % m for m in CRASH_MARKERS if m in err]
    if watched:
        left = sorted(set(os.listdir(watched)) - before)
        if left:
            problems.append("left behind %s in %s" % (left, watched))
    if problems:
        sys.exit("expect_error.py: %s: %s" % (" ".join(command),
                                              "; ".join(problems)))


if __name__ == "__main__":
    main(sys.argv[1:])
