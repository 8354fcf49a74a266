/* The command line: usage (exit 2) and the original argv (init rewrites it to its own title). */
#ifndef TP_CLI_H
#define TP_CLI_H
extern int g_argc;
extern char **g_argv;
void __attribute__((noreturn)) usage(void);
#endif
