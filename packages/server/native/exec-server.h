/* The sandbox's supervisor: serves execs on a Unix socket (a handler process per connection) and
 * reaps init and the handlers; ends once init has exited. */
#ifndef TP_EXEC_SERVER_H
#define TP_EXEC_SERVER_H
#include <sys/types.h>

/* The supervisor's exec socket: mode 0600 in a 0700 directory; returns -1 (errno set) on failure. */
int listen_exec(const char *path);
/* The supervisor's loop; returns init's exit status (128+N for signal N). */
int serve_execs(int listen_fd, pid_t init, long uid_base);
/* --run-fd: the one command of a one-shot sandbox over the connected socket `conn` (the exec protocol, its
 * request already sent), in a handler as serve_execs would fork; when the handler is done, init is killed
 * (taking the pid namespace along) and reaped. Returns 0 once no child is left. */
int run_one(int conn, pid_t init, long uid_base);
/* One exec, in the handler process forked for connection `conn` (exec-conn.c). */
void __attribute__((noreturn)) serve_connection(int conn, pid_t init, long uid_base);
#endif
