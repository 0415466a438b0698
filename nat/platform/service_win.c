/* glassnat as a Windows service (service.h), through the service control
 * manager's documented API: CreateService / StartService / ControlService
 * for `glassnat service install|start|stop|remove`, and
 * StartServiceCtrlDispatcher + RegisterServiceCtrlHandlerEx +
 * SetServiceStatus for the service's own process. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "platform.h"
#include "service.h"

#define SVC_DISPLAY "glassnat NAT gateway"
#define SVC_DESCRIPTION                                                      \
	"User-space IPv4 NAT gateway (WinDivert) that records every "          \
	"translation. glassnat.exe service install|remove|start|stop."

static SERVICE_STATUS_HANDLE svc_handle;
static SERVICE_STATUS svc_status;
static volatile LONG svc_is_active;
static int (*svc_run_fn)(int argc, char **argv);
static int svc_argc;
static char **svc_argv;
static int svc_rc;

static void svc_error(const char *what, char *errbuf, size_t errlen)
{
	DWORD code = GetLastError();
	char why[256];
	DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM |
					 FORMAT_MESSAGE_IGNORE_INSERTS,
				 NULL, code, 0, why, sizeof(why), NULL);
	while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == '\r' ||
			 why[n - 1] == '.' || why[n - 1] == ' '))
		why[--n] = '\0';
	if (n == 0)
		snprintf(why, sizeof(why), "Windows error %lu",
			 (unsigned long)code);
	snprintf(errbuf, errlen, "%s: %s (error %lu)%s", what, why,
		 (unsigned long)code,
		 code == ERROR_ACCESS_DENIED
			 ? "; run from an elevated prompt"
			 : "");
}

/* The service, opened with access; NULL with errbuf. *scm must be closed
 * by the caller. */
static SC_HANDLE svc_open(SC_HANDLE *scm, DWORD access, char *errbuf,
			  size_t errlen)
{
	*scm = OpenSCManagerA(NULL, NULL, SC_MANAGER_CONNECT);
	if (!*scm) {
		svc_error("service control manager", errbuf, errlen);
		return NULL;
	}
	SC_HANDLE s = OpenServiceA(*scm, NAT_SERVICE_NAME, access);
	if (!s)
		svc_error("service " NAT_SERVICE_NAME, errbuf, errlen);
	return s;
}

int nat_service_install(const char *config, bool auto_start, char *errbuf,
			size_t errlen)
{
	char exe[MAX_PATH], full[MAX_PATH], cmd[3 * MAX_PATH];
	DWORD n = GetModuleFileNameA(NULL, exe, sizeof(exe));

	if (n == 0 || n >= sizeof(exe)) {
		svc_error("the path of glassnat.exe", errbuf, errlen);
		return -1;
	}
	/* The SCM starts services in the system directory: a relative
	 * config would be looked for there. */
	n = GetFullPathNameA(config, sizeof(full), full, NULL);
	if (n == 0 || n >= sizeof(full)) {
		svc_error(config, errbuf, errlen);
		return -1;
	}
	if (GetFileAttributesA(full) == INVALID_FILE_ATTRIBUTES) {
		snprintf(errbuf, errlen,
			 "config %s: not found (glassnat service install -c "
			 "FILE)",
			 full);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "\"%s\" service run -c \"%s\"", exe, full);
	SC_HANDLE scm = OpenSCManagerA(NULL, NULL, SC_MANAGER_CREATE_SERVICE);
	if (!scm) {
		svc_error("service control manager", errbuf, errlen);
		return -1;
	}
	SC_HANDLE s = CreateServiceA(
		scm, NAT_SERVICE_NAME, SVC_DISPLAY, SERVICE_ALL_ACCESS,
		SERVICE_WIN32_OWN_PROCESS,
		auto_start ? SERVICE_AUTO_START : SERVICE_DEMAND_START,
		SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL, NULL);
	if (!s) {
		svc_error("creating service " NAT_SERVICE_NAME, errbuf, errlen);
		CloseServiceHandle(scm);
		return -1;
	}
	/* Best effort: a description, and a restart after a crash (a crash
	 * fails closed), like systemd's Restart=on-failure. */
	SERVICE_DESCRIPTIONA d = { (LPSTR)SVC_DESCRIPTION };
	ChangeServiceConfig2A(s, SERVICE_CONFIG_DESCRIPTION, &d);
	SC_ACTION act[3] = { { SC_ACTION_RESTART, 1000 },
			     { SC_ACTION_RESTART, 5000 },
			     { SC_ACTION_NONE, 0 } };
	SERVICE_FAILURE_ACTIONSA fa = { 86400, NULL, NULL, 3, act };
	ChangeServiceConfig2A(s, SERVICE_CONFIG_FAILURE_ACTIONS, &fa);
	CloseServiceHandle(s);
	CloseServiceHandle(scm);
	return 0;
}

int nat_service_remove(char *errbuf, size_t errlen)
{
	SC_HANDLE scm, s = svc_open(&scm, DELETE, errbuf, errlen);
	int rc = -1;

	if (s) {
		if (DeleteService(s))
			rc = 0;
		else
			svc_error("removing service " NAT_SERVICE_NAME, errbuf,
				  errlen);
		CloseServiceHandle(s);
	}
	if (scm)
		CloseServiceHandle(scm);
	return rc;
}

/* Polls the service's state until it is want or STOPPED, at most
 * wait_ms. Returns the last state seen (0 when it cannot be read). */
static DWORD svc_wait(SC_HANDLE s, DWORD want, unsigned wait_ms,
		      SERVICE_STATUS *st)
{
	ULONGLONG end = GetTickCount64() + wait_ms;
	for (;;) {
		if (!QueryServiceStatus(s, st))
			return 0;
		if (st->dwCurrentState == want ||
		    st->dwCurrentState == SERVICE_STOPPED ||
		    GetTickCount64() >= end)
			return st->dwCurrentState;
		Sleep(100);
	}
}

int nat_service_start(unsigned wait_ms, char *errbuf, size_t errlen)
{
	SC_HANDLE scm,
		s = svc_open(&scm, SERVICE_START | SERVICE_QUERY_STATUS, errbuf,
			     errlen);
	SERVICE_STATUS st;
	int rc = -1;

	if (!s)
		goto out;
	if (!StartServiceA(s, 0, NULL)) {
		svc_error("starting service " NAT_SERVICE_NAME, errbuf,
			  errlen);
		goto out;
	}
	DWORD state = svc_wait(s, SERVICE_RUNNING, wait_ms, &st);
	if (state == SERVICE_RUNNING)
		rc = 0;
	else if (state == SERVICE_STOPPED)
		snprintf(errbuf, errlen,
			 "service " NAT_SERVICE_NAME " stopped while starting "
			 "(exit code %lu): see glassnat.log beside its config",
			 (unsigned long)(st.dwWin32ExitCode ==
						 ERROR_SERVICE_SPECIFIC_ERROR
					 ? st.dwServiceSpecificExitCode
					 : st.dwWin32ExitCode));
	else
		snprintf(errbuf, errlen,
			 "service " NAT_SERVICE_NAME " not running after %u ms "
			 "(state %lu)",
			 wait_ms, (unsigned long)state);
out:
	if (s)
		CloseServiceHandle(s);
	if (scm)
		CloseServiceHandle(scm);
	return rc;
}

int nat_service_stop(unsigned wait_ms, char *errbuf, size_t errlen)
{
	SC_HANDLE scm,
		s = svc_open(&scm, SERVICE_STOP | SERVICE_QUERY_STATUS, errbuf,
			     errlen);
	SERVICE_STATUS st;
	int rc = -1;

	if (!s)
		goto out;
	if (!ControlService(s, SERVICE_CONTROL_STOP, &st) &&
	    GetLastError() != ERROR_SERVICE_NOT_ACTIVE) {
		svc_error("stopping service " NAT_SERVICE_NAME, errbuf,
			  errlen);
		goto out;
	}
	if (svc_wait(s, SERVICE_STOPPED, wait_ms, &st) == SERVICE_STOPPED)
		rc = 0;
	else
		snprintf(errbuf, errlen,
			 "service " NAT_SERVICE_NAME " not stopped after %u ms",
			 wait_ms);
out:
	if (s)
		CloseServiceHandle(s);
	if (scm)
		CloseServiceHandle(scm);
	return rc;
}

/* ---- the service's process ---- */

static void svc_set(DWORD state, DWORD wait_hint)
{
	svc_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	svc_status.dwCurrentState = state;
	svc_status.dwControlsAccepted =
		state == SERVICE_RUNNING
			? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN
			: 0;
	svc_status.dwWaitHint = wait_hint;
	if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING)
		svc_status.dwCheckPoint++;
	else
		svc_status.dwCheckPoint = 0;
	SetServiceStatus(svc_handle, &svc_status);
}

/* The SCM's controls, on the dispatcher's thread. */
static DWORD WINAPI svc_control(DWORD ctl, DWORD type, LPVOID data,
				LPVOID ctx)
{
	(void)type;
	(void)data;
	(void)ctx;
	switch (ctl) {
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_SHUTDOWN:
		svc_set(SERVICE_STOP_PENDING, 30000);
		nat_plat_stop_now(SIGTERM);
		return NO_ERROR;
	case SERVICE_CONTROL_INTERROGATE:
		return NO_ERROR;
	default:
		return ERROR_CALL_NOT_IMPLEMENTED;
	}
}

static void WINAPI svc_main(DWORD argc, LPSTR *argv)
{
	(void)argc;
	(void)argv;
	svc_handle = RegisterServiceCtrlHandlerExA(NAT_SERVICE_NAME,
						   svc_control, NULL);
	if (!svc_handle)
		return;
	svc_set(SERVICE_START_PENDING, 30000);
	InterlockedExchange(&svc_is_active, 1);
	svc_rc = svc_run_fn(svc_argc, svc_argv);
	InterlockedExchange(&svc_is_active, 0);
	svc_status.dwWin32ExitCode =
		svc_rc ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
	svc_status.dwServiceSpecificExitCode = (DWORD)svc_rc;
	svc_set(SERVICE_STOPPED, 0);
}

int nat_service_run(int (*run)(int argc, char **argv), int argc, char **argv,
		    char *errbuf, size_t errlen)
{
	SERVICE_TABLE_ENTRYA table[] = {
		{ (LPSTR)NAT_SERVICE_NAME, svc_main },
		{ NULL, NULL },
	};

	svc_run_fn = run;
	svc_argc = argc;
	svc_argv = argv;
	if (!StartServiceCtrlDispatcherA(table)) {
		svc_error("glassnat service run is what the service control "
			  "manager starts (glassnat service start)",
			  errbuf, errlen);
		return -1;
	}
	return svc_rc;
}

bool nat_service_active(void)
{
	return InterlockedCompareExchange(&svc_is_active, 0, 0) != 0;
}

void nat_service_running(void)
{
	if (nat_service_active())
		svc_set(SERVICE_RUNNING, 0);
}

void nat_service_stopping(void)
{
	if (nat_service_active())
		svc_set(SERVICE_STOP_PENDING, 30000);
}
