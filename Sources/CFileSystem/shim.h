// fstatfs, for Checkpoint's TemporaryFile, which uses direct I/O only on ext4 and xfs (Swift's Glibc
// module leaves <sys/statfs.h> out).
#include <sys/statfs.h>
