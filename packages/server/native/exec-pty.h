/* A pseudo-terminal for an exec: allocated in the sandbox's own devpts instance (see mounts.c). */
#ifndef TP_EXEC_PTY_H
#define TP_EXEC_PTY_H
#include <sys/types.h>
#include "util.h"

/*
 * Opens a new terminal pair of the devpts mounted at /dev/pts inside the sandbox of init (host pid), from
 * the host: the path is resolved with openat2 RESOLVE_IN_ROOT under init's root, so nothing the sandbox
 * put at /dev (a symlink out, another mount) makes us open a host file, and the result is checked to be a
 * devpts ptmx. The slave is owned by host uid `uid` and gid `tty_gid` (mode 0620, what login gives a
 * terminal) and has the size cols x rows. 0 with *master and *slave set (both close-on-exec), or -1 with e.
 */
int open_sandbox_pty(pid_t init, long uid, long tty_gid, unsigned cols, unsigned rows, int *master, int *slave, struct tp_err *e);
/* Sets the size of the terminal of master; -1 with errno on failure. */
int set_pty_size(int master, unsigned cols, unsigned rows);
/* In the command, before execve: a new session whose controlling terminal is slave, on fds 0, 1 and 2. */
void become_pty_session(int slave);
#endif
