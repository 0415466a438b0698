/* libFuzzer target for the config loader: any bytes must load or fail
 * with a one-line message, never crash, leak or read out of bounds. A
 * successful load is printed as a plan too, to exercise every field. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nat_config cfg;
	char err[256];
	int rc = nat_config_load_mem("fuzz.yaml", (const char *)data, size,
				     &cfg, err, sizeof err);

	if (rc == 0) {
		FILE *null = fopen("/dev/null", "w");
		if (null) {
			nat_config_print_plan(null, &cfg, 0);
			fclose(null);
		}
		nat_config_free(&cfg);
	} else {
		/* The message is one NUL-terminated line. */
		if (memchr(err, '\0', sizeof err) == NULL ||
		    strchr(err, '\n') != NULL)
			__builtin_trap();
		if (cfg.rules || cfg.forwards)
			__builtin_trap();
	}
	return 0;
}
