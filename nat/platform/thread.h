/* Thread scheduling seams. Linux: the calling thread's nice value
 * (setpriority on its thread id: Linux keeps one per thread, and threads it
 * creates inherit it). Windows: SetThreadPriority. thread_unix.c,
 * thread_win.c. */
#ifndef GLASSNAT_THREAD_H
#define GLASSNAT_THREAD_H

/* Gives the calling thread more of the CPU than the threads at the default
 * priority when the CPU is short: a writer that must keep up with what the
 * packet path produces (trace/tracer.c). Best effort: returns 0, or -1
 * (errno) when the system refused (no CAP_SYS_NICE): the thread then runs
 * at the default priority, nothing else changes. Any thread. */
int nat_thread_prefer(void);

#endif
