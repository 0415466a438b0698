/* The state file: see state.h. Saved through nat_file_replace (file.h),
 * so a crash mid-save leaves the old file or the new one, never a mix;
 * each loaded entry is checked as a forward_add request would be. */
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "file.h"
#include "protocol.h"

#define ERRLEN 512

int nat_ctl_state_save(const char *path, const struct nat_engine *e,
		       char *errbuf, size_t errlen)
{
	char err[ERRLEN];
	struct nat_forward_info *fi = malloc(NAT_FORWARDS_MAX * sizeof(*fi));
	if (!fi) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	size_t n = nat_engine_forward_list(e, fi, NAT_FORWARDS_MAX);
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n && i < NAT_FORWARDS_MAX; i++)
		if (fi[i].f.runtime) {
			json_t *o = nat_ctl_forward_json(&fi[i].f, -1);
			json_object_del(o, "origin");
			json_array_append_new(arr, o);
		}
	free(fi);
	json_t *doc = json_pack("{s:i, s:o}", "version", 1, "forwards", arr);
	char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII)
			 : NULL;
	json_decref(doc);
	size_t len = text ? strlen(text) : 0;
	char *line = text ? realloc(text, len + 2) : NULL;
	if (!line) {
		free(text);
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	line[len++] = '\n';
	line[len] = '\0';
	int rc = nat_file_replace(path, line, len, err, sizeof(err));
	free(line);
	if (rc < 0) {
		snprintf(errbuf, errlen, "state file %s", err);
		return -1;
	}
	return 0;
}

int nat_ctl_state_load(const char *path, struct nat_forward_cfg **out,
		       size_t *n, char *errbuf, size_t errlen)
{
	json_error_t je;
	*out = NULL;
	*n = 0;
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 0;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(errbuf, errlen, "%s:%d:%d: %s", path, je.line,
			 je.column, je.text);
		return -1;
	}
	json_t *arr = json_object_get(root, "forwards");
	json_t *ver = json_object_get(root, "version");
	if (!json_is_object(root) || !json_is_array(arr) ||
	    !json_is_integer(ver) || json_integer_value(ver) != 1) {
		snprintf(errbuf, errlen,
			 "%s: not a glassnat state file (expected "
			 "{\"version\":1,\"forwards\":[...]})",
			 path);
		json_decref(root);
		return -1;
	}
	size_t cnt = json_array_size(arr);
	if (cnt > NAT_FORWARDS_MAX) {
		snprintf(errbuf, errlen, "%s: too many forwards", path);
		json_decref(root);
		return -1;
	}
	struct nat_forward_cfg *f = calloc(cnt ? cnt : 1, sizeof(*f));
	if (!f) {
		snprintf(errbuf, errlen, "out of memory");
		json_decref(root);
		return -1;
	}
	for (size_t i = 0; i < cnt; i++) {
		/* Each entry is checked as a forward_add request would be. */
		json_t *req = json_pack("{s:s, s:O}", "action", "forward_add",
					"rule", json_array_get(arr, i));
		char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
		json_decref(req);
		struct nat_ctl_req r;
		enum nat_ctl_error code;
		char err[ERRLEN] = "not an object";
		int rc = line ? nat_ctl_parse(line, strlen(line), &r, &code,
					      err, sizeof(err))
			      : -1;
		free(line);
		if (rc < 0) {
			snprintf(errbuf, errlen, "%s: forwards[%zu]: %s", path,
				 i, err);
			free(f);
			json_decref(root);
			return -1;
		}
		f[i] = r.fwd;
	}
	json_decref(root);
	*out = f;
	*n = cnt;
	return 0;
}
