/* The create command's list arguments (--overlay, --bind), parsed without side effects. */
#ifndef TP_ARGS_H
#define TP_ARGS_H
#include "util.h"

struct overlay {
  char *target, *lowers, *upper, *work;
};
struct bind {
  char *src, *dst;
  int ro;
};

/* TARGET:LOWER[:LOWER2...]:UPPER:WORK (paths must not contain ':'; overlayfs splits on it too). The
 * fields point into a copy of arg. 0, or -1 with e set (invalid_request). */
int parse_overlay(struct overlay *o, const char *arg, struct tp_err *e);
/* SRC:DST[:ro]. 0, or -1 with e set (invalid_request). */
int parse_bind(struct bind *b, const char *arg, struct tp_err *e);
#endif
