/* The command's own cgroup, ended by the exec handler itself: a timeout, a caller that went away and
 * the cleanup after the command do not depend on the control plane still being there (it may crash). */
#ifndef TP_EXEC_TREE_H
#define TP_EXEC_TREE_H
/* One round of SIGKILL for every process in exec cgroup DIR; returns how many processes were listed. */
int tree_kill_once(const char *dir);
/* Kills what the command left behind and removes its cgroup, waiting (bounded) for the last to go. */
void tree_end(const char *dir);
/* "<code>\n" or "<code> timeout\n" into the status file (written whole, then renamed into place). */
void write_status(const char *file, int code, int timed_out);
#endif
