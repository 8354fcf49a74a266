/* `tidepool-helper mount|umount`: a host directory mounted into (or detached from) a running sandbox. */
#ifndef TP_HOT_MOUNT_H
#define TP_HOT_MOUNT_H
int mount_main(int argc, char **argv, int unmount);
#endif
