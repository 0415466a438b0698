/* thread.h on Linux. */
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "thread.h"

/* nice -10: a CFS weight of 9548 against 1024 at nice 0, so a busy writer
 * gets about nine times the share of a busy packet thread while both
 * want the CPU, and the packet path slows (TCP adapts) instead. */
enum { PREFER_NICE = -10 };

int nat_thread_prefer(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	return setpriority(PRIO_PROCESS, (id_t)tid, PREFER_NICE);
}
