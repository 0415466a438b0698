/* glassnat as a Windows service: installing it with the service control
 * manager (SCM), starting and stopping it, and the service's entry point
 * (service_win.c). On Linux every call fails with a pointer to systemd
 * (service_unix.c): glassnat.service does that job there. */
#ifndef GLASSNAT_SERVICE_H
#define GLASSNAT_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#define NAT_SERVICE_NAME "glassnat"

/* Registers the service: the SCM will run this executable as
 * `glassnat.exe service run -c CONFIG` (config made absolute), started by
 * hand or, with auto_start, at boot; restarted after a crash. Returns 0,
 * or -1 with errbuf. */
int nat_service_install(const char *config, bool auto_start, char *errbuf,
			size_t errlen) __attribute__((warn_unused_result));

/* Removes the service (stop it first). Returns 0, or -1 with errbuf. */
int nat_service_remove(char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Starts the service and waits (at most wait_ms) until it runs (0) or
 * stops again (-1, with its exit code in errbuf). */
int nat_service_start(unsigned wait_ms, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Asks the service to stop and waits (at most wait_ms) until it has. */
int nat_service_stop(unsigned wait_ms, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* The service's process: connects to the SCM (which started it) and
 * runs run(argc, argv) as the service, reporting start pending, running
 * (nat_service_running) and stopped with run's exit status; the SCM's
 * stop and shutdown controls become a stop request
 * (nat_plat_stop_now(SIGTERM)). Returns run's status, or -1 with errbuf
 * when the process was not started by the SCM. */
int nat_service_run(int (*run)(int argc, char **argv), int argc, char **argv,
		    char *errbuf, size_t errlen);

/* True inside nat_service_run's run(). */
bool nat_service_active(void);

/* Tells the SCM the service runs (after start pending) / is stopping. */
void nat_service_running(void);
void nat_service_stopping(void);

#endif
