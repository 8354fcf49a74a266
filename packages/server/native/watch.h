/* `tidepool-helper watch`: reports the moment a watched process (a sandbox's init or supervisor) exits. */
#ifndef TP_WATCH_H
#define TP_WATCH_H
int watch_main(void);
#endif
