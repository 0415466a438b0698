/* thread.h on Windows. */
#include <errno.h>
#include <windows.h>

#include "thread.h"

int nat_thread_prefer(void)
{
	if (!SetThreadPriority(GetCurrentThread(),
			       THREAD_PRIORITY_ABOVE_NORMAL)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}
