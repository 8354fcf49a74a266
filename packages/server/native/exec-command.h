/* Getting an exec'd command into its sandbox: the namespaces of init, then execvp. */
#ifndef TP_EXEC_COMMAND_H
#define TP_EXEC_COMMAND_H
#include <sys/types.h>

/* Every namespace of init (host pid PID, or its pidfd opened in the host's pid namespace), and its root. */
void enter_sandbox(long pid, int pidfd);
/* Into init's pid namespace for the children forked from now on (this process stays where it is). */
void enter_pid_ns(pid_t init, int pidfd);
/* execvp with a default PATH; exits 127 (not found) or 126 (not executable) with a message on stderr. */
void __attribute__((noreturn)) exec_command(char **argv);
/* The invalid_request message for a cwd that chdir refused with errnum: each with the hint that fits. Pure. */
void cwd_message(char *msg, size_t size, const char *cwd, int errnum);
#endif
