/* SPDX-License-Identifier: MIT */
/*
 * What goes into one agent's view, decided by the parent before clone3:
 * its work directory (writable), /tmp and /dev/shm (size-limited tmpfs),
 * /etc/hosts naming it, its script (read-only, at its own path so argv
 * stays right) and its interpreter with what that needs — for a Python
 * virtual environment the venv itself, its base installation and the
 * directories its .pth files add (an editable install of the SDK lives
 * outside the venv) — unless the system entries already show them.
 *
 * Only files no agent could have written are searched for such paths: an
 * agent that wrote a pyvenv.cfg or a .pth file in its work directory must
 * not be able to widen its children's view. For the same reason an agent
 * can give a child only a script and an interpreter it can see itself: a
 * path inside its own view, resolved there without escaping the bind that
 * shows it (and, in its writable work directory, without following any
 * symlink — the child re-opens that file the same way when it binds it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "sandbox-internal.h"

/* Bounds on what the .pth files of one interpreter may add. */
#define PTH_MAX_FILES 64
#define PTH_MAX_BYTES (64 * 1024)
#define PTH_MAX_DIRS  16

struct plan {
	struct sandbox_spec *s;
	const struct sandbox_request *req;
	/* Agent entries; the system ones are in s->ctx. */
	struct sandbox_mount *m;
	size_t n;
	char *err;
	size_t errlen;
};

static char *own(struct plan *p, char *str)
{
	return sandbox_own(&p->s->strings, &p->s->nstrings, str);
}

static int add(struct plan *p, enum sandbox_mount_kind kind, bool dir,
	       const char *dst, const char *src, const char *beneath,
	       unsigned long flags)
{
	struct sandbox_mount *m = realloc(p->m, (p->n + 1) * sizeof(*m));
	char *d, *s = NULL, *b = NULL;

	if (!m)
		return -ENOMEM;
	p->m = m;
	d = own(p, strdup(dst));
	if (src)
		s = own(p, strdup(src));
	if (beneath)
		b = own(p, strdup(beneath));
	if (!d || (src && !s) || (beneath && !b))
		return -ENOMEM;
	p->m[p->n++] = (struct sandbox_mount){ .kind = kind,
					       .dir = dir,
					       .dst = d,
					       .src = s,
					       .beneath = b,
					       .flags = flags };
	return 0;
}

/*
 * Copies path into buf with repeated and trailing slashes removed.
 * -EINVAL unless absolute and free of "." and ".." components.
 */
static int normalize(const char *path, char *buf, size_t len)
{
	size_t o = 0;

	if (path[0] != '/')
		return -EINVAL;
	for (const char *c = path; *c;) {
		while (*c == '/')
			c++;
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);
		if (n == 0)
			break;
		if ((n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		if (o + 1 + n + 1 > len)
			return -ENAMETOOLONG;
		buf[o++] = '/';
		memcpy(buf + o, c, n);
		o += n;
		c = end;
	}
	if (o == 0)
		buf[o++] = '/';
	buf[o] = '\0';
	return 0;
}

/* True if path is dir or beneath it (both normalized). */
static bool beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1)
		return true;
	return strncmp(path, dir, n) == 0 &&
	       (path[n] == '/' || path[n] == '\0');
}

/* The bind entry of mounts[] that shows path (the deepest), or NULL. A
 * top-level symlink of the view (/bin -> usr/bin) is followed once; the
 * path the entry then shows is copied to ret_path (PATH_MAX) if given. */
static const struct sandbox_mount *find_bind_as(const struct sandbox_mount *m,
						size_t n, const char *path,
						char *ret_path)
{
	const struct sandbox_mount *best = NULL;
	char alias[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		const char *d = m[i].dst;
		if (m[i].kind == SANDBOX_MNT_SYMLINK && m[i].src[0] != '/' &&
		    !strchr(d + 1, '/') && beneath(path, d) &&
		    strcmp(path, d) != 0 &&
		    snprintf(alias, sizeof(alias), "/%s%s", m[i].src,
			     path + strlen(d)) < (int)sizeof(alias)) {
			path = alias;
			break;
		}
	}
	if (ret_path)
		snprintf(ret_path, PATH_MAX, "%s", path);
	for (size_t i = 0; i < n; i++) {
		bool bind = m[i].kind == SANDBOX_MNT_BIND_RO ||
			    m[i].kind == SANDBOX_MNT_BIND_RW;
		if (bind && beneath(path, m[i].dst) &&
		    (!best || strlen(m[i].dst) > strlen(best->dst)))
			best = &m[i];
	}
	return best;
}

static const struct sandbox_mount *find_bind(const struct sandbox_mount *m,
					     size_t n, const char *path)
{
	return find_bind_as(m, n, path, NULL);
}

/* True if the view built so far already shows path. */
static bool covered(const struct plan *p, const char *path)
{
	const struct sandbox_context *c = p->s->ctx;

	return find_bind(c->system, c->nsystem, path) ||
	       find_bind(p->m, p->n, path);
}

/* A read-only bind of path at its own path, unless the view shows it
 * already or it does not exist (a stale venv or .pth entry). */
static int add_ro(struct plan *p, const char *path, bool dir)
{
	struct stat st;

	/* Never the whole host. */
	if (strcmp(path, "/") == 0 || covered(p, path))
		return 0;
	if (stat(path, &st) < 0 || S_ISDIR(st.st_mode) != dir)
		return 0;
	return add(p, SANDBOX_MNT_BIND_RO, dir, path, path, NULL, 0);
}

/* The value of "home = ..." in a pyvenv.cfg, into buf. */
static bool venv_home(const char *cfg, char *buf, size_t len)
{
	char line[PATH_MAX + 64];
	bool found = false;
	FILE *f = fopen(cfg, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *key = line + strspn(line, " \t"), *eq = strchr(key, '=');
		if (!eq || strncmp(key, "home", 4) != 0 ||
		    key + 4 + strspn(key + 4, " \t") != eq)
			continue;
		char *v = eq + 1 + strspn(eq + 1, " \t");
		v[strcspn(v, "\r\n")] = '\0';
		for (size_t n = strlen(v);
		     n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t');)
			v[--n] = '\0';
		found = normalize(v, buf, len) == 0;
	}
	fclose(f);
	return found;
}

static int add_pth_file(struct plan *p, const char *path, unsigned *ndirs)
{
	char line[PATH_MAX + 2], norm[PATH_MAX];
	size_t total = 0;
	struct stat st;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f)
		return 0;
	while (r == 0 && *ndirs < PTH_MAX_DIRS &&
	       fgets(line, sizeof(line), f)) {
		total += strlen(line);
		if (total > PTH_MAX_BYTES)
			break;
		line[strcspn(line, "\r\n")] = '\0';
		/* Only plain absolute directories; "import" lines are code
		 * and relative lines stay inside site-packages. */
		if (line[0] != '/' || normalize(line, norm, sizeof(norm)) < 0 ||
		    stat(norm, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		r = add_ro(p, norm, true);
		(*ndirs)++;
	}
	fclose(f);
	return r;
}

/* The .pth files of <venv>/lib/python3.*\/site-packages. */
static int add_pth_dirs(struct plan *p, const char *venv)
{
	char lib[PATH_MAX], sp[PATH_MAX], pth[PATH_MAX];
	unsigned nfiles = 0, ndirs = 0;
	struct dirent *e, *v;
	DIR *libdir, *spdir;
	int r = 0;

	if (snprintf(lib, sizeof(lib), "%s/lib", venv) >= (int)sizeof(lib))
		return 0;
	libdir = opendir(lib);
	if (!libdir)
		return 0;
	while (r == 0 && (v = readdir(libdir))) {
		if (strncmp(v->d_name, "python3", 7) != 0 ||
		    snprintf(sp, sizeof(sp), "%s/%s/site-packages", lib,
			     v->d_name) >= (int)sizeof(sp))
			continue;
		spdir = opendir(sp);
		if (!spdir)
			continue;
		while (r == 0 && nfiles < PTH_MAX_FILES &&
		       (e = readdir(spdir))) {
			size_t n = strlen(e->d_name);
			if (n < 5 || strcmp(e->d_name + n - 4, ".pth") != 0 ||
			    snprintf(pth, sizeof(pth), "%s/%s", sp,
				     e->d_name) >= (int)sizeof(pth))
				continue;
			nfiles++;
			r = add_pth_file(p, pth, &ndirs);
		}
		closedir(spdir);
	}
	closedir(libdir);
	return r;
}

/* True if path is <prefix>/bin/<name>; *ret_prefix_len is the length of
 * <prefix> (0 for /bin/<name>). */
static bool in_bin_dir(const char *path, size_t *ret_prefix_len)
{
	const char *slash = strrchr(path, '/');

	if (!slash || slash - path < 4 || strncmp(slash - 4, "/bin", 4) != 0)
		return false;
	*ret_prefix_len = (size_t)(slash - 4 - path);
	return true;
}

/* A venv's root, its base installation and its .pth directories. */
static int discover_venv(struct plan *p, const char *program)
{
	char prefix[PATH_MAX], cfg[PATH_MAX], home[PATH_MAX];
	size_t len, hlen;
	int r;

	if (!in_bin_dir(program, &len) || len == 0 || len >= sizeof(prefix))
		return 0;
	memcpy(prefix, program, len);
	prefix[len] = '\0';
	if (snprintf(cfg, sizeof(cfg), "%s/pyvenv.cfg", prefix) >=
		    (int)sizeof(cfg) ||
	    access(cfg, R_OK) < 0)
		return 0;
	r = add_ro(p, prefix, true);
	if (r == 0 && venv_home(cfg, home, sizeof(home))) {
		/* home is the base interpreter's bin directory. */
		hlen = strlen(home);
		if (hlen > 4 && strcmp(home + hlen - 4, "/bin") == 0)
			home[hlen - 4] = '\0';
		r = add_ro(p, home, true);
	}
	return r == 0 ? add_pth_dirs(p, prefix) : r;
}

/* The interpreter itself: its real file's installation (a Python outside
 * /usr needs its lib/), else the file; and the path argv names. */
static int add_program(struct plan *p, const char *program, bool discover)
{
	char real[PATH_MAX];
	size_t len;
	int r = 0;

	if (discover)
		r = discover_venv(p, program);
	if (r == 0 && discover && realpath(program, real) &&
	    !covered(p, real)) {
		const char *base = strrchr(real, '/') + 1;
		if (strncmp(base, "python", 6) == 0 && in_bin_dir(real, &len) &&
		    len > 0) {
			real[len] = '\0';
			r = add_ro(p, real, true);
		} else {
			r = add_ro(p, real, false);
		}
	}
	if (r == 0 && !covered(p, program))
		r = add(p, SANDBOX_MNT_BIND_RO, false, program, program, NULL,
			0);
	return r;
}

/* rel beneath the agent-writable host directory dir, resolved without
 * following any symlink: a regular file, or -errno. */
static int check_beneath(const char *dir, const char *rel)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	if (dfd < 0)
		return negative_errno();
	fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	return S_ISREG(st.st_mode) ? 0 : -EACCES;
}

/* host beneath a read-only (not agent-writable) bind: symlinks are the
 * administrator's and are followed, but where they lead must be in the
 * parent's view too, and a regular file. */
static int check_readonly(const struct sandbox_spec *parent, const char *host)
{
	char real[PATH_MAX];
	struct stat st;

	if (!realpath(host, real) || stat(real, &st) < 0)
		return negative_errno();
	if (!find_bind(parent->mounts, parent->nmounts, real))
		return -EACCES;
	return S_ISREG(st.st_mode) ? 0 : -EACCES;
}

/*
 * A file a spawning agent names for its child (what: "script" or
 * "program"): it must be in the agent's own view. Adds the entry that
 * shows the child the same file; *ret_writable says whether it came from
 * the agent's writable work directory.
 */
static int add_from_parent(struct plan *p, const char *what, const char *path,
			   bool *ret_writable)
{
	const struct sandbox_spec *parent = p->req->parent;
	char seen[PATH_MAX], host[PATH_MAX];
	const struct sandbox_mount *b =
		find_bind_as(parent->mounts, parent->nmounts, path, seen);
	const char *rel;
	int r;

	*ret_writable = false;
	if (!b) {
		snprintf(p->err, p->errlen,
			 "%s '%.200s' is outside the spawning agent's view "
			 "(its work directory and read-only paths)",
			 what, path);
		return -EACCES;
	}
	if (!b->dir) {
		/* A file bind of the parent (its own script): the same. */
		if (covered(p, path))
			return 0;
		return add(p, SANDBOX_MNT_BIND_RO, false, path, b->src,
			   b->beneath, 0);
	}
	rel = seen + strlen(b->dst);
	rel += *rel == '/';
	*ret_writable = b->kind == SANDBOX_MNT_BIND_RW;
	if (snprintf(host, sizeof(host), "%s/%s", b->src, rel) >=
	    (int)sizeof(host))
		return -ENAMETOOLONG;
	if (!*rel)
		r = -EACCES;
	else if (*ret_writable)
		r = check_beneath(b->src, rel);
	else
		r = check_readonly(parent, host);
	if (r < 0) {
		snprintf(p->err, p->errlen,
			 "%s '%.200s' is not a regular file the spawning "
			 "agent can see%s%s",
			 what, path, r == -EACCES ? "" : ": ",
			 r == -EACCES ? "" : strerror(-r));
		return r == -ELOOP || r == -EXDEV ? -EACCES : r;
	}
	if (*ret_writable)
		return add(p, SANDBOX_MNT_BIND_RO, false, path, rel, b->src, 0);
	if (covered(p, path))
		return 0;
	return add(p, SANDBOX_MNT_BIND_RO, false, path, host, NULL, 0);
}

/* The program and the script, from the host or from the parent's view. */
static int add_code(struct plan *p, const char *program, const char *script)
{
	const struct sandbox_request *req = p->req;
	const char *state = p->s->ctx->state_dir;
	bool writable = false, discover;
	int r;

	/* Nothing an agent could have written is searched for paths. */
	discover = req->discover && !beneath(program, state);
	if (req->parent) {
		r = add_from_parent(p, "program", program, &writable);
		if (r == 0 && discover && !writable)
			r = add_program(p, program, true);
	} else if (access(program, X_OK) < 0) {
		r = negative_errno();
		snprintf(p->err, p->errlen, "program '%.200s' %s", program,
			 r == -ENOENT ? "not found" : strerror(-r));
	} else {
		r = add_program(p, program, discover);
	}
	if (r < 0)
		return r;
	if (req->parent)
		return add_from_parent(p, "script", script, &writable);
	if (covered(p, script))
		return 0;
	return add(p, SANDBOX_MNT_BIND_RO, false, script, script, NULL, 0);
}

static int add_agent_entries(struct plan *p, const char *work)
{
	const struct sandbox_request *req = p->req;
	char opts[64], *hosts = NULL;
	int r;

	snprintf(opts, sizeof(opts), "mode=1777,size=%llu",
		 (unsigned long long)req->tmp_size);
	r = add(p, SANDBOX_MNT_TMPFS, true, "/tmp", opts, NULL,
		MS_NOSUID | MS_NODEV);
	if (r == 0)
		r = add(p, SANDBOX_MNT_TMPFS, true, "/dev/shm", opts, NULL,
			MS_NOSUID | MS_NODEV | MS_NOEXEC);
	if (r == 0 && asprintf(&hosts,
			       "127.0.0.1\tlocalhost\n"
			       "::1\tlocalhost ip6-localhost ip6-loopback\n"
			       "127.0.1.1\t%s\n",
			       req->hostname) < 0)
		return -ENOMEM;
	if (r == 0)
		r = add(p, SANDBOX_MNT_FILE, false, "/etc/hosts", hosts, NULL,
			0);
	free(hosts);
	if (r == 0)
		r = add(p, SANDBOX_MNT_BIND_RW, true, work, work, NULL, 0);
	return r;
}

static int normalize_field(struct plan *p, const char *what, const char *in,
			   char *buf)
{
	int r = normalize(in, buf, PATH_MAX);

	if (r < 0)
		snprintf(p->err, p->errlen,
			 "%s '%.200s' must be an absolute path without . or .. "
			 "components",
			 what, in);
	return r;
}

/* The program as the child's execvpe will find it: a name is looked up in
 * the kernel's PATH, as proc.c does in the child. */
static int resolve_program(struct plan *p, const char *in, char *buf)
{
	const char *search = getenv("PATH");
	char cand[PATH_MAX];

	if (strchr(in, '/'))
		return normalize_field(p, "program", in, buf);
	if (!search)
		search = "/bin:/usr/bin";
	for (const char *dir = search; *dir;) {
		const char *end = strchrnul(dir, ':');
		int n = snprintf(cand, sizeof(cand), "%.*s/%s",
				 (int)(end - dir), dir, in);
		if (end > dir && dir[0] == '/' && n < (int)sizeof(cand) &&
		    access(cand, X_OK) == 0 &&
		    normalize(cand, buf, PATH_MAX) == 0)
			return 0;
		dir = *end ? end + 1 : end;
	}
	snprintf(p->err, p->errlen, "program '%.200s' not found", in);
	return -ENOENT;
}

int sandbox_plan_build(struct sandbox_spec *s,
		       const struct sandbox_request *req, char *err,
		       size_t errlen)
{
	struct plan p = { .s = s, .req = req, .err = err, .errlen = errlen };
	const struct sandbox_context *c = s->ctx;
	char program[PATH_MAX], script[PATH_MAX], work[PATH_MAX];
	int r;

	if ((r = resolve_program(&p, req->program, program)) < 0 ||
	    (r = normalize_field(&p, "script", req->script, script)) < 0 ||
	    (r = normalize_field(&p, "work directory", req->work_dir, work)) <
		    0)
		return r;
	r = add_agent_entries(&p, work);
	if (r == 0)
		r = add_code(&p, program, script);
	if (r == 0) {
		s->mounts = calloc(c->nsystem + p.n, sizeof(*s->mounts));
		if (!s->mounts)
			r = -ENOMEM;
	}
	if (r == 0) {
		for (size_t i = 0; i < c->nsystem; i++)
			if (req->network || !c->system[i].network_only)
				s->mounts[s->nmounts++] = c->system[i];
		memcpy(s->mounts + s->nmounts, p.m, p.n * sizeof(*p.m));
		s->nmounts += p.n;
		sandbox_mounts_sort(s->mounts, s->nmounts);
	}
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	else if (r < 0 && !err[0])
		snprintf(err, errlen, "cannot plan the sandbox: %s",
			 strerror(-r));
	free(p.m);
	return r;
}
