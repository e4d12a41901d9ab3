// Cache hints the Swift standard library does not expose (header only, nothing to link).

/// Asks for the cache line holding p to be brought into L1 ahead of its use (PREFETCHT0 on x86).
static inline void wavemix_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// The same for a line about to be written (PREFETCHW): fetched ready to be modified.
static inline void wavemix_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }
