/* Parsing --overlay and --bind (see args.h). */
#include "compat.h"
#include "args.h"

int parse_overlay(struct overlay *o, const char *arg, struct tp_err *e) {
  char *s = strdup(arg);
  if (!s) return tp_errf(e, TP_ERR_INTERNAL, "strdup: out of memory");
  char *first = strchr(s, ':');
  char *last = strrchr(s, ':');
  if (!first || first == last) goto bad;
  *last = 0;
  char *second_last = strrchr(s, ':');
  if (!second_last || second_last == first) goto bad;
  *first = 0;
  *second_last = 0;
  o->target = s;
  o->lowers = first + 1;
  o->upper = second_last + 1;
  o->work = last + 1;
  if (!*o->target || !*o->lowers || !*o->upper || !*o->work) goto bad;
  return 0;
bad:
  free(s);
  return tp_errf(e, TP_ERR_INVALID_REQUEST, "--overlay expects TARGET:LOWER[:LOWER...]:UPPER:WORK");
}

int parse_bind(struct bind *b, const char *arg, struct tp_err *e) {
  char *s = strdup(arg);
  if (!s) return tp_errf(e, TP_ERR_INTERNAL, "strdup: out of memory");
  b->ro = 0;
  size_t len = strlen(s);
  if (len > 3 && strcmp(s + len - 3, ":ro") == 0) {
    b->ro = 1;
    s[len - 3] = 0;
  }
  char *colon = strchr(s, ':');
  if (!colon || colon == s || !colon[1] || strchr(colon + 1, ':')) {
    free(s);
    return tp_errf(e, TP_ERR_INVALID_REQUEST, "--bind expects SRC:DST[:ro]");
  }
  *colon = 0;
  b->src = s;
  b->dst = colon + 1;
  return 0;
}
