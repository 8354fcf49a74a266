/* An exec connection's request: the 'q' frame's fields, parsed without side effects (see frame.h). */
#ifndef TP_EXEC_REQUEST_H
#define TP_EXEC_REQUEST_H
#include <stddef.h>
#include "util.h"

struct exec_req {
  long uid, gid;
  char *cwd;
  char *clone_into; /* a cgroup2 directory the command is cloned straight into, or "" */
  char **cgroup_procs; /* cgroup.procs files the command joins after fork (hosts without cgroup2) */
  long n_cgroup_procs;
  char **argv, **envp;
  long timeout_ms;   /* kill the command's whole tree this long after it starts (0: never) */
  long detached;     /* 1: keep running when the client goes away (a background command) */
  char *status_file; /* where the exit status is written when the command ends, or "" */
  long pty_cols, pty_rows; /* both > 0: the command runs on a pseudo-terminal of this size */
};

/*
 * The 'q' frame's payload: NUL-terminated fields "uid", "gid", "cwd", "clone-into" (a cgroup2 directory
 * or ""), then three lists, each a count and its items: cgroup.procs files to join, argv, environment
 * ("K=V"), then "timeout-ms" (0: none), "detached" (0 or 1) and "status-file" (an absolute host path or
 * ""), then, optionally (a client older than ptys sends neither), "pty-cols" and "pty-rows" (0: no pty,
 * else both 1..65535). The fields point into buf (len bytes); the lists are allocated. 0, or -1 with e set.
 */
int parse_request(char *buf, size_t len, struct exec_req *r, struct tp_err *e);
/* Reads the 'q' frame from conn and parses it; a malformed one ends the handler with an error frame. */
void read_request(int conn, struct exec_req *r);
/* The exec cgroup's directory: the cgroup2 one the command is cloned into, else the directory of the
 * first cgroup.procs file it joins; "" if neither. Pure. */
void exec_cgroup_dir(const struct exec_req *r, char *dir, size_t size);
#endif
