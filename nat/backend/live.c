/* What every live backend shares (live.h). */
#include "live.h"

size_t nat_live_fill_counters(const struct nat_live_counter *list,
			      const uint64_t *values, size_t n,
			      struct nat_live_counter *out, size_t max)
{
	size_t k = n < max ? n : max;
	for (size_t i = 0; i < k; i++) {
		out[i] = list[i];
		out[i].value = values[i];
	}
	return k;
}
