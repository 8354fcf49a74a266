/* The seccomp filter every process of a sandbox runs under (init and each exec'd command). */
#ifndef TP_SECCOMP_H
#define TP_SECCOMP_H
/* Sets no_new_privs and installs the filter; fails (exits) if the kernel refuses either. */
void install_seccomp(void);
#endif
