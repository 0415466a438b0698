/* Files written whole or not at all (the control state file).
 * file_unix.c: open(O_EXCL | O_NOFOLLOW), fsync, rename, fsync of the
 * directory; file_win.c: CREATE_NEW, FlushFileBuffers, MoveFileExA with
 * MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH. */
#ifndef GLASSNAT_FILE_H
#define GLASSNAT_FILE_H

#include <stddef.h>

/* Replaces path with data[len], atomically: a reader (or a crash) sees the
 * old file or the new one whole, never a mix. The bytes go to PATH.tmp,
 * created new and private (0640; a leftover PATH.tmp, a symlink
 * included, is removed, never followed), are flushed to disk, and the
 * temporary file then takes path's place; a symlink at path is replaced,
 * its destination left alone. The directory is created (0750) when
 * missing, one level. Returns 0, or -1 with "PATH: mkdir DIR: ...",
 * "PATH.tmp: ..." or "PATH: ..." in errbuf (PATH.tmp is then removed). */
int nat_file_replace(const char *path, const void *data, size_t len,
		     char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

#endif
