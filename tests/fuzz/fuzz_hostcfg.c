/* libFuzzer target for nat/backend/hostcfg's two parsers, fed from memory.
 *
 * The first byte picks one. Even: the ip_local_reserved_ports list, copied
 * into a heap buffer of exactly its size (ASan sees any read past it); an
 * accepted list must print to a canonical text that parses back to the
 * same set and prints the same again, and subtract/merge must keep their
 * laws; a refused one must leave the set empty and a message. Odd: a state
 * file, written to a private directory and recovered against an empty
 * /proc/sys tree (so nothing it names exists and nothing is written
 * outside the directory); it must not crash, and a refused file must be
 * kept. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static struct nat_hostcfg_ports a, b, c;
static char text[300000], again[300000];

static void fuzz_ports(const uint8_t *data, size_t size)
{
	char err[512];
	char *buf = malloc(size ? size : 1);

	check(buf != NULL);
	memcpy(buf, data, size);
	err[0] = '\0';
	if (nat_hostcfg_ports_parse(buf, size, &a, err, sizeof(err)) != 0) {
		check(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
		check(nat_hostcfg_ports_count(&a) == 0);
		free(buf);
		return;
	}
	free(buf);
	size_t n = nat_hostcfg_ports_format(&a, text, sizeof(text));
	check(n < sizeof(text) && strlen(text) == n);
	check(nat_hostcfg_ports_parse(text, n, &b, err, sizeof(err)) == 0);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	check(nat_hostcfg_ports_format(&b, again, sizeof(again)) == n);
	check(strcmp(text, again) == 0);

	/* (a - r) | r covers a; (a - r) has nothing of r. */
	nat_hostcfg_ports_clear(&b);
	nat_hostcfg_ports_add(&b, 40000, 60000);
	c = a;
	nat_hostcfg_ports_subtract(&c, &b);
	for (uint32_t p = 40000; p <= 60000; p++)
		check(!nat_hostcfg_ports_has(&c, (uint16_t)p));
	nat_hostcfg_ports_merge(&c, &b);
	check(nat_hostcfg_ports_count(&c) >= nat_hostcfg_ports_count(&a));
	for (uint32_t p = 0; p < 65536; p += 251)
		check(!nat_hostcfg_ports_has(&a, (uint16_t)p) ||
		      nat_hostcfg_ports_has(&c, (uint16_t)p));
}

static char dir[64], proc[96], state[96];

/* Writes to proc never create files (no O_CREAT): the tree stays empty. */
static void remove_dir(void)
{
	unlink(state);
	rmdir(proc);
	rmdir(dir);
}

static void fuzz_state(const uint8_t *data, size_t size)
{
	struct nat_hostcfg h;
	char err[1024];
	FILE *f;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/fuzz_hostcfg.XXXXXX");
		check(mkdtemp(dir) != NULL);
		snprintf(proc, sizeof(proc), "%s/proc", dir);
		snprintf(state, sizeof(state), "%s/state", dir);
		check(mkdir(proc, 0700) == 0);
		atexit(remove_dir);
	}
	f = fopen(state, "wb");
	check(f != NULL);
	check(fwrite(data, 1, size, f) == size);
	fclose(f);
	nat_hostcfg_init(&h, proc, NULL, NULL);
	err[0] = '\0';
	if (nat_hostcfg_recover(&h, state, err, sizeof(err)) != 0) {
		struct stat st;
		check(err[0] != '\0');
		check(stat(state, &st) == 0);
	}
	unlink(state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_ports(data + 1, size - 1);
	else
		fuzz_state(data + 1, size - 1);
	return 0;
}
