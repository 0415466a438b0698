/* Atomic file replacement on Linux (file.h). */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { FILE_PATH_MAX = 4096 };

/* Writes it all, then flushes it to disk. Returns 0, or -1 with errno. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return fsync(fd);
}

int nat_file_replace(const char *path, const void *data, size_t len,
		     char *errbuf, size_t errlen)
{
	char dir[FILE_PATH_MAX], tmp[FILE_PATH_MAX + 8];
	size_t plen = strlen(path);
	if (plen == 0 || plen >= FILE_PATH_MAX) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
		return -1;
	}
	memcpy(dir, path, plen + 1);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
			snprintf(errbuf, errlen, "%s: mkdir %s: %s", path, dir,
				 strerror(errno));
			return -1;
		}
	} else {
		snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/* A leftover (a crash mid-save, or a planted symlink) goes; O_EXCL
	 * then refuses anything that appears in its place. */
	if (unlink(tmp) != 0 && errno != ENOENT) {
		snprintf(errbuf, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      0640);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	bool ok = write_all(fd, data, len) == 0;
	int saved = errno;
	close(fd);
	/* rename replaces path itself, a symlink there included. */
	if (!ok || rename(tmp, path) != 0) {
		if (ok)
			saved = errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(saved));
		unlink(tmp);
		return -1;
	}
	/* The rename itself is durable once the directory is. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}
