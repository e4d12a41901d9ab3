// Cache hints the Swift standard library does not expose (header only, nothing to link).

/// Asks for the cache line holding p to be brought into L1 ahead of its use (PREFETCHT0 on x86).
static inline void wavemix_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// The same into L2 only (PREFETCHT1). A line read with no other core holding it arrives
/// exclusive, so a write to it later needs no further memory traffic.
static inline void wavemix_prefetch_l2(const void *p) { __builtin_prefetch(p, 0, 2); }
