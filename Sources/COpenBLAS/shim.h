// OpenBLAS: CBLAS plus the thread-control extensions (openblas_set_num_threads).
#include <cblas.h>

// A DYNAMIC_ARCH OpenBLAS (Debian's) picks its kernel set (core type) when it loads, from its own
// CPU table or from OPENBLAS_CORETYPE. These two entry points run that choice again, so a process
// can correct it after start-up. Weak: an OpenBLAS built for one CPU lacks them.
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

/// Re-runs OpenBLAS's kernel selection (which reads OPENBLAS_CORETYPE). Call before any other
/// thread uses OpenBLAS. Returns 0 where this OpenBLAS cannot change its kernels.
static inline int wavemix_openblas_reselect(void) {
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) return 0;
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    return 1;
}
