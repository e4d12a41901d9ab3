// OpenBLAS: CBLAS plus the thread-control extensions (openblas_set_num_threads).
#include <cblas.h>
