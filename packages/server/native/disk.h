/* Disk limits: one btrfs subvolume per sandbox, with a qgroup limit (create --disk-subvol, disk-limit,
 * disk-pool). */
#ifndef TP_DISK_H
#define TP_DISK_H
#include "create.h"

/* create --disk-subvol: the sandbox's dir becomes a limited subvolume holding its writable layer. */
void disk_create(struct create_opts *o);
int disk_limit_main(int argc, char **argv);
int disk_pool_main(int argc, char **argv);
#endif
