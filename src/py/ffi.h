/* ffi.h: internal part of ffi.c: the stop request of ttt_train_request_stop (ttt_train.h). */
#ifndef TTT_PY_FFI_H
#define TTT_PY_FFI_H

/* whether ttt_train_request_stop was called on this thread since the last call (and clear it) */
int ttt_train_stop_pending(void);

#endif
