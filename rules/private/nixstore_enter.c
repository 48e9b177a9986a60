/*
 * nixstore-enter: run one program with a Nix closure mapped read-only at
 * /nix/store, without root and without setuid.
 *
 *   enter <closure-dir> <program> [args...]
 *   <launcher> [args...]
 *
 * Started under any name but `enter`, it is the launcher of one executable of a
 * package (`bin/<exe>`): nixstore_executable makes the launcher a link to this
 * binary and writes the program to run into a data file beside it (see
 * "launcher mode" below). A launcher needs no shell: it finds its closure and
 * maps it as `enter` does, in the same process.
 *
 * <closure-dir> holds one entry per store path (<hash>-<name>), as the
 * package repositories of rules_nixstore lay it out (`nix/store/`). When the
 * `nix/store` directory beside this executable's resolved location exists, it
 * is mapped instead: that is the package repository itself when the launcher
 * runs from a runfiles tree of symlinks (so programs see real files, as in a
 * real store), and the same closure as <closure-dir> on a remote worker.
 *
 * If <program> is already visible (a real /nix/store, or Bazel's linux-sandbox
 * with --sandbox_add_mount_pair), it is executed directly. Otherwise the
 * process enters a new user + mount namespace in which its uid and gid map to
 * themselves (the program runs as the user that started it, and exec drops
 * the namespace capabilities), binds <closure-dir> read-only onto /nix/store
 * and executes <program>. Where /nix/store does not exist, a new root made of
 * bind mounts of every top-level entry of / plus /nix/store is entered.
 *
 * Nothing is created, written or followed outside that private namespace: the
 * new root is a tmpfs mounted in it (no staging directory in $TMPDIR or /tmp,
 * which another user could plant; TMPDIR is not read), and every mount acts on
 * a directory opened once (/proc/self/fd/N), not on a path looked up twice.
 * The one exception is the cache a packed closure is unpacked into (see
 * "packed closures" below): a directory of the user's own with no access for
 * others, written only through descriptors opened and checked there.
 *
 * Arguments reach the program as argv: no shell is involved.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *program_path = "";

/* The repository whose launcher this is (its name in runfiles trees), for messages: "" for enter. */
static const char *launcher_repo = "";

/* A directory being unpacked (packed closures, below), which die() removes: the directory that
 * holds it (-1 when there is none) and its name there. */
static int unpacking_parent = -1;
static char unpacking[NAME_MAX + 1];
static int remove_tree_at(int parent, const char *name, int depth);

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
  va_list ap;
  if (unpacking_parent >= 0) remove_tree_at(unpacking_parent, unpacking, 0);
  fprintf(stderr, "rules_nixstore launcher: cannot run %s: ", program_path);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(126);
}

static int read_int_file(const char *path, long *out) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  int ok = fscanf(f, "%ld", out) == 1;
  fclose(f);
  return ok ? 0 : -1;
}

/* Explains why unshare(CLONE_NEWUSER) failed, naming the cause and the fix. */
__attribute__((noreturn)) static void die_no_userns(int err) {
  long v;
  const char *cause = "the kernel or a seccomp/container policy refuses unprivileged user namespaces";
  const char *fix = "allow unprivileged user namespaces on this machine, or run the action where /nix/store is visible";
  if (read_int_file("/proc/sys/kernel/unprivileged_userns_clone", &v) == 0 && v == 0) {
    cause = "kernel.unprivileged_userns_clone = 0";
    fix = "sysctl -w kernel.unprivileged_userns_clone=1 (as root)";
  } else if (read_int_file("/proc/sys/user/max_user_namespaces", &v) == 0 && v == 0) {
    cause = "user.max_user_namespaces = 0";
    fix = "sysctl -w user.max_user_namespaces=15000 (as root)";
  } else if (read_int_file("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", &v) == 0 && v == 1) {
    cause = "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)";
    fix = "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (as root), or an AppArmor profile granting userns";
  } else if (err == ENOSPC) {
    cause = "the per-user limit of user namespaces is reached (user.max_user_namespaces)";
    fix = "raise user.max_user_namespaces (as root)";
  }
  die("the Nix store path is not visible here and mapping it failed: "
      "unshare(CLONE_NEWUSER|CLONE_NEWNS): %s.\n"
      "%s%s%s"
      "  cause: %s.\n"
      "  fix: %s;\n"
      "       or run this action where /nix/store is mapped (linux-sandbox with the\n"
      "       --sandbox_add_mount_pair that `nixgen bazelrc` writes).\n"
      "  check a machine with: unshare --user --map-root-user --mount true",
      strerror(err), launcher_repo[0] ? "  launcher of the repository @" : "", launcher_repo,
      launcher_repo[0] ? " (a Nix package or toolchain of rules_nixstore)\n" : "", cause, fix);
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open %s: %s", path, strerror(errno));
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) die("write %s: %s", path, strerror(errno));
  close(fd);
}

/* Flags the kernel locks on a bind mount made in a user namespace: a
 * read-only remount must repeat them or it fails with EPERM. */
static unsigned long locked_flags(const struct statvfs *st) {
  unsigned long flags = 0;
  if (st->f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st->f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st->f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st->f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st->f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st->f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

/* "/proc/self/fd/N": the path of what fd N refers to. Mounting from or onto it acts on exactly
 * the file opened (no second lookup, no symlink followed), even where a mount now covers it. */
static const char *fd_path(int fd, char *buf) {
  snprintf(buf, 32, "/proc/self/fd/%d", fd);
  return buf;
}

/* Binds the closure read-only onto `target`, the directory `name` under `parent` (a directory
 * fd, or AT_FDCWD) opened by the caller. The bind is checked to show the closure before it is
 * made read-only. Closes `target`. */
static void bind_store_readonly(int closure, int target, int parent, const char *name) {
  char src[32], dst[32];
  if (mount(fd_path(closure, src), fd_path(target, dst), NULL, MS_BIND | MS_REC, NULL) != 0)
    die("bind the closure onto %s: %s", name, strerror(errno));
  close(target);
  /* Opened again, the name resolves to the bind mount on top of it. */
  target = openat(parent, name, O_PATH | O_CLOEXEC);
  struct stat want, have;
  if (target < 0 || fstat(closure, &want) != 0 || fstat(target, &have) != 0 || want.st_dev != have.st_dev ||
      want.st_ino != have.st_ino)
    die("%s does not show the closure after binding it there", name);
  struct statvfs st;
  if (fstatvfs(target, &st) != 0) die("statvfs %s: %s", name, strerror(errno));
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(&st);
  if (mount(NULL, fd_path(target, dst), NULL, flags, NULL) != 0)
    die("remount %s read-only: %s", name, strerror(errno));
  close(target);
}

/* What is mapped at /nix/store: a closure directory, bound as it is; or, where that directory is
 * a repository's layout of links into the store that holds the closure (`store`, see
 * linked_store), that store's entries of the same names, each bound onto its name in a fresh
 * tmpfs. */
struct mapping {
  int closure_fd;
  const char *closure;
  const char *store; /* "" when the closure directory is bound as it is */
};

/* The directory `<dir>/<name>`, or `<dir>/<name>/<child>`, that the link `path` resolves to:
 * `dir` into `out` when it does. */
static int link_base(const char *path, const char *suffix, char *out) {
  char real[PATH_MAX];
  if (realpath(path, real) == NULL) return 0;
  size_t n = strlen(real), k = strlen(suffix);
  if (n <= k + 1 || strcmp(real + n - k, suffix) != 0 || real[n - k - 1] != '/') return 0;
  snprintf(out, PATH_MAX, "%.*s", (int)(n - k - 1), real);
  return 1;
}

/* The store a directory mirroring store path `name` links into: from its first link. */
static int mirrored_base(const char *dir, const char *name, char *out) {
  DIR *d = opendir(dir);
  if (d == NULL) return 0;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d)) != NULL) {
    char child[PATH_MAX], suffix[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(child, sizeof(child), "%s/%s", dir, e->d_name) >= sizeof(child) ||
        (size_t)snprintf(suffix, sizeof(suffix), "%s/%s", name, e->d_name) >= sizeof(suffix) ||
        lstat(child, &st) != 0 || !S_ISLNK(st.st_mode))
      continue;
    found = link_base(child, suffix, out);
  }
  closedir(d);
  return found;
}

/* A package repository lays its closure out as links into the store that holds it (a store
 * path holding links of its own becomes a directory of links, one per entry), so that Bazel
 * sees the files. Mapped as it is, a program that resolves its own path (GCC's cc1 finds its
 * headers from it) would find itself outside /nix/store. Finds that store: `store` (PATH_MAX
 * bytes) is the one directory that every link of `closure` resolves into and that holds every
 * entry of `closure`; returns 0 where there is none (a closure of real files: an input root). */
static int linked_store(const char *closure, char *store) {
  DIR *d = opendir(closure);
  if (d == NULL) return 0;
  struct dirent *e;
  int ok = 1;
  store[0] = '\0';
  while (ok && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[PATH_MAX], base[PATH_MAX] = "";
    struct stat st;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", closure, e->d_name) >= sizeof(path) || lstat(path, &st) != 0) {
      ok = 0;
    } else if (S_ISLNK(st.st_mode)) {
      ok = link_base(path, e->d_name, base);
    } else if (S_ISDIR(st.st_mode)) {
      mirrored_base(path, e->d_name, base);
    }
    if (ok && base[0] != '\0') {
      if (store[0] == '\0') snprintf(store, PATH_MAX, "%s", base);
      ok = strcmp(store, base) == 0;
    }
  }
  /* Every entry must be in that store. */
  if (ok && store[0] != '\0') {
    rewinddir(d);
    while (ok && (e = readdir(d)) != NULL) {
      char path[PATH_MAX];
      struct stat st;
      if (e->d_name[0] == '.') continue;
      ok = (size_t)snprintf(path, sizeof(path), "%s/%s", store, e->d_name) < sizeof(path) && lstat(path, &st) == 0;
    }
  }
  closedir(d);
  if (!ok) store[0] = '\0';
  return store[0] != '\0';
}

/* Mounts a tmpfs on `target` (the directory `name` under `parent`), binds the store's entries
 * of the closure's names onto entries of the same names (read-only), and makes it read-only.
 * Closes `target`. */
static void bind_store_entries(const struct mapping *m, int target, int parent, const char *name) {
  char dst[32];
  if (mount("nixstore", fd_path(target, dst), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
    die("mount a tmpfs on %s: %s", name, strerror(errno));
  close(target);
  int root = openat(parent, name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct statfs fs;
  if (root < 0 || fstatfs(root, &fs) != 0 || fs.f_type != TMPFS_MAGIC) die("the tmpfs mounted on %s is not there", name);
  int store = open(m->store, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (store < 0) die("store %s: %s", m->store, strerror(errno));
  DIR *d = opendir(m->closure);
  if (d == NULL) die("closure directory %s: %s", m->closure, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    int src = openat(store, e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (src < 0 || fstat(src, &st) != 0) die("%s/%s: %s", m->store, e->d_name, strerror(errno));
    int made = S_ISDIR(st.st_mode) ? mkdirat(root, e->d_name, 0555) : -1;
    if (!S_ISDIR(st.st_mode)) {
      int fd = openat(root, e->d_name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
      made = fd < 0 ? -1 : close(fd);
    }
    int entry = made == 0 ? openat(root, e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (entry < 0) die("%s/%s in the tmpfs: %s", name, e->d_name, strerror(errno));
    bind_store_readonly(src, entry, root, e->d_name);
    close(src);
  }
  closedir(d);
  close(store);
  if (mount("nixstore", fd_path(root, dst), "tmpfs", MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755") != 0)
    die("remount %s read-only: %s", name, strerror(errno));
  close(root);
}

/* Maps `m` onto `target`, the directory `name` under `parent`. Closes `target`. */
static void map_store(const struct mapping *m, int target, int parent, const char *name) {
  if (m->store[0] != '\0')
    bind_store_entries(m, target, parent, name);
  else
    bind_store_readonly(m->closure_fd, target, parent, name);
}

/* One top-level entry of /, opened (O_PATH, not followed) before the new root covers any. */
struct entry {
  char name[NAME_MAX + 1];
  int fd;
  mode_t type;
};

static struct entry *root_entries(size_t *count) {
  DIR *d = opendir("/");
  if (d == NULL) die("opendir /: %s", strerror(errno));
  struct entry *entries = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, "nix") == 0) continue;
    int fd = openat(dirfd(d), e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) continue;
    entries = realloc(entries, (n + 1) * sizeof(*entries));
    if (entries == NULL) die("out of memory");
    snprintf(entries[n].name, sizeof(entries[n].name), "%s", e->d_name);
    entries[n].fd = fd;
    entries[n].type = st.st_mode & S_IFMT;
    n++;
  }
  closedir(d);
  *count = n;
  return entries;
}

/* Recreates `e` in the new root (the current directory): a directory or file is bound there
 * (recursively), a symlink copied; other kinds and entries that cannot be bound are left out. */
static void add_entry(const struct entry *e, dev_t new_root) {
  char src[32];
  if (e->type == S_IFDIR) {
    if (mkdir(e->name, 0755) != 0) die("mkdir %s in the new root: %s", e->name, strerror(errno));
    if (mount(fd_path(e->fd, src), e->name, NULL, MS_BIND | MS_REC, NULL) != 0) {
      rmdir(e->name);
      return;
    }
    /* The directory the new root is mounted on comes with a copy of the new root on top of
     * it: detach that, so the directory shows its own content again. */
    struct stat st;
    while (lstat(e->name, &st) == 0 && st.st_dev == new_root)
      if (umount2(e->name, MNT_DETACH) != 0) die("detach the new root from %s: %s", e->name, strerror(errno));
  } else if (e->type == S_IFLNK) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(e->fd, "", target, sizeof(target) - 1);
    if (n < 0) return;
    target[n] = '\0';
    if (symlink(target, e->name) != 0) die("symlink %s in the new root: %s", e->name, strerror(errno));
  } else if (e->type == S_IFREG) {
    int fd = open(e->name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    if (mount(fd_path(e->fd, src), e->name, NULL, MS_BIND, NULL) != 0) unlink(e->name);
  }
}

/* Builds a new root on a fresh tmpfs that mirrors / (bind mounts of every top-level entry) and
 * adds nix/store, then enters it.
 *
 * The tmpfs is mounted over an existing top-level directory of /, in this process's private
 * mount namespace: no other process sees it, and nothing is created, written or followed on a
 * shared file system (no staging directory under $TMPDIR or /tmp, which another user could
 * plant, no name to predict, nothing to clean up). Which directory does not matter: its own
 * content is bound into the new root like every other entry. /proc is not taken, as
 * /proc/self/fd is used until the end. */
static void enter_new_root(const struct mapping *m) {
  size_t n;
  struct entry *entries = root_entries(&n);
  const struct entry *under = NULL;
  for (size_t i = 0; i < n && under == NULL; i++)
    if (entries[i].type == S_IFDIR && strcmp(entries[i].name, "proc") != 0) under = &entries[i];
  if (under == NULL) die("/ has no directory to mount the new root on");
  char path[32];
  if (mount("nixstore-root", fd_path(under->fd, path), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
    die("mount a tmpfs on /%s: %s", under->name, strerror(errno));
  /* Looked up again, /<name> is the tmpfs just mounted; the entry's fd still is the directory. */
  char name[NAME_MAX + 2];
  snprintf(name, sizeof(name), "/%s", under->name);
  int root = open(name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct statfs fs;
  struct stat st, covered;
  if (root < 0 || fstatfs(root, &fs) != 0 || fs.f_type != TMPFS_MAGIC || fstat(root, &st) != 0 ||
      fstat(under->fd, &covered) != 0 || st.st_dev == covered.st_dev)
    die("the tmpfs mounted on %s is not there", name);
  if (fchdir(root) != 0) die("chdir into the new root: %s", strerror(errno));
  /* That directory first, while the new root holds nothing a copy would repeat. */
  add_entry(under, st.st_dev);
  for (size_t i = 0; i < n; i++)
    if (&entries[i] != under) add_entry(&entries[i], st.st_dev);
  if (mkdir("nix", 0755) != 0 || mkdir("nix/store", 0755) != 0) die("mkdir nix/store in the new root: %s", strerror(errno));
  int store = openat(root, "nix/store", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (store < 0) die("open nix/store in the new root: %s", strerror(errno));
  map_store(m, store, root, "nix/store");
  for (size_t i = 0; i < n; i++) close(entries[i].fd);
  free(entries);
  close(root);
  /* pivot_root, not chroot: the kernel refuses unshare(CLONE_NEWUSER) to a
   * chrooted process (EPERM), so a program started in a chroot could not map
   * another closure (a launcher run by a mapped program). pivot_root(".", ".")
   * stacks the old root on the new one; detaching it leaves the new root.
   * chroot remains the fallback where pivot_root is refused (e.g. when this
   * process is itself in a chroot, so its root is not a mount point). */
  if (syscall(SYS_pivot_root, ".", ".") == 0) {
    if (umount2(".", MNT_DETACH) != 0) die("detach the old root: %s", strerror(errno));
  } else if (chroot(".") != 0) {
    die("chroot into the new root: %s", strerror(errno));
  }
  if (chdir("/") != 0) die("chdir / in the new root: %s", strerror(errno));
}

/* `path`, resolved, into `out` (PATH_MAX bytes) when it is a directory. */
static int resolved_dir(const char *path, char *out) {
  char resolved[PATH_MAX];
  struct stat st;
  if (realpath(path, resolved) == NULL || stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
  strcpy(out, resolved);
  return 1;
}

/* <dir of the executable `exe`>/../nix/store, resolved, when it is a directory. */
static int closure_beside(const char *exe, char *out) {
  const char *slash = strrchr(exe, '/');
  if (slash == NULL) return 0;
  char path[PATH_MAX];
  if ((size_t)snprintf(path, sizeof(path), "%.*s/../nix/store", (int)(slash - exe), exe) >= sizeof(path)) return 0;
  return resolved_dir(path, out);
}

/* <dir of this process's resolved executable>/../nix/store, when it is a directory. */
static int closure_beside_self(char *out) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return 0;
  exe[n] = '\0';
  return closure_beside(exe, out);
}

/* Executes `path` with `argv`: execv(3) for a path, execvp(3) for a bare command name. */
static void exec_path(const char *path, char *const *argv) {
  if (strchr(path, '/') != NULL)
    execv(path, argv);
  else
    execvp(path, argv);
}

static int nar_cache_entry(const char *nar, const char *sha256, char *label);

/* Maps `closure` read-only at /nix/store in a new user + mount namespace (or, where /nix/store
 * does not exist, in a new root) and executes program_path with `prog_argv`. With `nar` (and
 * `closure` NULL), the closure is that packed archive's entry in the cache of unpacked archives
 * (see "packed closures" below), unpacked there first if need be, with digest `nar_sha256`. */
__attribute__((noreturn)) static void map_and_exec(const char *closure, const char *nar, const char *nar_sha256,
                                                   char *const *prog_argv) {
  /* Looked up before the namespace: it is the same file system, and the links are the user's.
   * An unpacked archive holds the closure's files themselves. */
  static char store_path[PATH_MAX], entry[PATH_MAX];
  if (nar == NULL) linked_store(closure, store_path);
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    int err = errno;
    /* root without user namespaces still owns its mount namespace; its copies of shared mounts
     * stay shared, so they are made private before anything is mounted. */
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0) die_no_userns(err);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
      die("make mounts private: %s", strerror(errno));
  } else {
    /* A mount namespace owned by a new user namespace is less privileged than the one it is
     * copied from: the kernel turns its shared mounts into slaves (mount_namespaces(7)), so no
     * mount made here propagates out, and there is nothing to make private. */
    char map[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof(map), "%ld %ld 1\n", (long)uid, (long)uid);
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof(map), "%ld %ld 1\n", (long)gid, (long)gid);
    write_file("/proc/self/gid_map", map);
  }
  /* Opened once, in the new namespace (a bind must come from one of its own mounts): every
   * mount below uses this very directory, whatever its path may show later. An unpacked
   * archive's entry is the directory that was checked whole through this very descriptor. */
  int closure_fd;
  if (nar != NULL) {
    closure_fd = nar_cache_entry(nar, nar_sha256, entry);
    closure = entry;
  } else {
    closure_fd = open(closure, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (closure_fd < 0) die("closure directory %s: %s", closure, strerror(errno));
  }
  struct mapping m = {closure_fd, closure, store_path};

  /* /nix/store is the machine's own (root's) path: where it is a directory, the closure is
   * bound onto that very directory; otherwise a new root gets one. */
  int store = open("/nix/store", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (store >= 0) {
    map_store(&m, store, AT_FDCWD, "/nix/store");
  } else {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL) die("getcwd: %s", strerror(errno));
    enter_new_root(&m);
    if (chdir(cwd) != 0) die("chdir %s in the new root: %s", cwd, strerror(errno));
  }
  close(closure_fd);
  exec_path(program_path, prog_argv);
  if (errno == ENOENT)
    die("%s is not in the mapped closure %s (or its interpreter is missing): %s", program_path, closure,
        strerror(errno));
  die("exec: %s", strerror(errno));
}

/* ---- packed closures ----------------------------------------------------------------------
 *
 * A package fetched with packed_closure = True carries its closure as one file,
 * `_nixstore/closure.nar`: a Nix archive (NAR, the canonical serialisation `nix-store --dump`
 * writes) of a directory whose entries are the closure's store paths. An action then has three
 * inputs (launcher, data, archive) instead of one per file of the closure, which is what a
 * remote client hashes and looks up and what a remote worker creates and deletes per action.
 *
 *   enter --pack <out.nar> <store-dir> <entry>...
 *       writes the NAR of <store-dir>/<entry>... (no Nix needed; the repository rule runs it)
 *       and prints its sha256 in hex.
 *   enter --nar-hash <store-dir> <entry>...
 *       prints, one line per entry, the NAR hash of <store-dir>/<entry> as
 *       `nix-store --query --hash` prints a store path's (sha256:<Nix base32>): the package rule
 *       checks a closure that a remote build sent back with it.
 *
 * Where the launcher finds no closure directory but its data names an archive (`nar=`, with
 * `nar_sha256=`), it unpacks the archive once per machine and user into a cache of its own and
 * maps the unpacked closure like any closure. The cache is NAR_CACHE_PREFIX<uid>, a directory
 * (not a link) of the user's with no access for others; where another user holds that name
 * first, or it is a link or open to others, a private directory beside it is used instead (see
 * private_nar_cache). Per archive it holds:
 *
 *   <sha256>.entry/closure    the unpacked archive, mapped at /nix/store
 *   <sha256>.entry/complete   the completion stamp, "rules_nixstore-nar 1 <sha256> <nodes>\n":
 *                             the archive and how many files, links and directories the
 *                             closure holds; written last, before the entry is renamed into place
 *   <sha256>.lock             locked (flock) by the launcher that unpacks or replaces the entry
 *   .tmp-<16 hex digits>-...  an unpacking in progress, locked (flock) by its launcher
 *
 * An entry is used only when its stamp names the archive and its closure still holds as many
 * nodes as the stamp says (an age-based /tmp cleaner removes files one by one); otherwise it is
 * set aside and unpacked again. Every check goes through the descriptor that the closure is then
 * bound from: no path is looked up again between the check and the mount. An archive is unpacked
 * into a fresh `.tmp-` directory beside the entry, checked against its sha256 while it is read,
 * and renamed into place only when it matches, so an entry is whole and verified; launchers that
 * need the same archive meanwhile wait for the lock and then find the entry. A `.tmp-` directory
 * that no live launcher holds and that has not changed for NAR_STALE_SECONDS (a killed unpack) is
 * removed by the next launcher that uses the cache. Delete the directory to prune it (not while
 * actions run); entries come back on next use. */
#define NAR_CACHE_PREFIX "/tmp/rules_nixstore-nar-"
#define NAR_MAX_DEPTH 256
#define NAR_ENTRY_SUFFIX ".entry"
#define NAR_LOCK_SUFFIX ".lock"
#define NAR_TMP_PREFIX ".tmp-"
#define NAR_CLOSURE "closure"
#define NAR_STAMP "complete"
#define NAR_STALE_SECONDS (10 * 60)

struct sha256 {
  uint32_t h[8];
  uint64_t bytes;
  unsigned char block[64];
  size_t used;
};

static const uint32_t SHA256_K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static void sha256_init(struct sha256 *s) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, h0, sizeof(h0));
  s->bytes = 0;
  s->used = 0;
}

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const unsigned char *p) {
  uint32_t w[64], v[8];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  memcpy(v, s->h, sizeof(v));
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = v[7] + (ROTR(v[4], 6) ^ ROTR(v[4], 11) ^ ROTR(v[4], 25)) + ((v[4] & v[5]) ^ (~v[4] & v[6])) +
                  SHA256_K[i] + w[i];
    uint32_t t2 = (ROTR(v[0], 2) ^ ROTR(v[0], 13) ^ ROTR(v[0], 22)) + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
    memmove(v + 1, v, 7 * sizeof(v[0]));
    v[4] += t1;
    v[0] = t1 + t2;
  }
  for (int i = 0; i < 8; i++) s->h[i] += v[i];
}

static void sha256_update(struct sha256 *s, const void *data, size_t len) {
  const unsigned char *p = data;
  s->bytes += len;
  while (len > 0) {
    size_t take = 64 - s->used < len ? 64 - s->used : len;
    memcpy(s->block + s->used, p, take);
    s->used += take;
    p += take;
    len -= take;
    if (s->used == 64) {
      sha256_block(s, s->block);
      s->used = 0;
    }
  }
}

/* Finishes `s` and writes its 32-byte digest into `digest`. */
static void sha256_final(struct sha256 *s, unsigned char digest[32]) {
  uint64_t bits = s->bytes * 8;
  unsigned char pad[72] = {0x80};
  size_t n = (s->used < 56 ? 56 : 120) - s->used;
  for (int i = 0; i < 8; i++) pad[n + i] = (unsigned char)(bits >> (56 - 8 * i));
  sha256_update(s, pad, n + 8);
  for (int i = 0; i < 32; i++) digest[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

/* Finishes `s` and writes its digest as 64 lowercase hex digits and a NUL into `hex`. */
static void sha256_hex(struct sha256 *s, char hex[65]) {
  unsigned char digest[32];
  sha256_final(s, digest);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

/* The 52 digits and a NUL of a sha256 digest in Nix's base32 (its own alphabet, last bits
 * first), as Nix prints hashes of store paths. */
static void nix_base32(const unsigned char digest[32], char out[53]) {
  static const char digits[] = "0123456789abcdfghijklmnpqrsvwxyz";
  const size_t len = (32 * 8 - 1) / 5 + 1;
  for (size_t n = 0; n < len; n++) {
    size_t b = (len - 1 - n) * 5, i = b / 8, j = b % 8;
    unsigned c = (unsigned)digest[i] >> j | (i + 1 < 32 ? (unsigned)digest[i + 1] << (8 - j) : 0);
    out[n] = digits[c & 0x1f];
  }
  out[len] = '\0';
}

/* A buffered stream over a file, hashing every byte that passes (an output stream with fd -1
 * only hashes). */
struct stream {
  int fd;
  const char *name;
  struct sha256 sha;
  unsigned char buf[1 << 16];
  size_t pos, len;
};

static void out_flush(struct stream *s) {
  for (size_t done = 0; done < s->pos;) {
    ssize_t n = write(s->fd, s->buf + done, s->pos - done);
    if (n <= 0) die("write %s: %s", s->name, strerror(errno));
    done += (size_t)n;
  }
  s->pos = 0;
}

static void out_bytes(struct stream *s, const void *data, size_t len) {
  const unsigned char *p = data;
  sha256_update(&s->sha, data, len);
  if (s->fd < 0) return;
  while (len > 0) {
    if (s->pos == sizeof(s->buf)) out_flush(s);
    size_t take = sizeof(s->buf) - s->pos < len ? sizeof(s->buf) - s->pos : len;
    memcpy(s->buf + s->pos, p, take);
    s->pos += take;
    p += take;
    len -= take;
  }
}

static const unsigned char ZEROS[8];

static void out_u64(struct stream *s, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  out_bytes(s, b, 8);
}

/* A NAR string: its length as 8 little-endian bytes, its bytes, zeros up to a multiple of 8. */
static void out_str(struct stream *s, const char *text, size_t len) {
  out_u64(s, len);
  out_bytes(s, text, len);
  out_bytes(s, ZEROS, (8 - len % 8) % 8);
}

#define OUT(s, literal) out_str(s, literal, sizeof(literal) - 1)

static int by_bytes(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in directory `fd`, sorted bytewise as in a NAR; *count set. */
static char **sorted_names(int fd, const char *what, size_t *count) {
  int dup_fd = dup(fd);
  DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
  if (d == NULL) die("list %s: %s", what, strerror(errno));
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    names = realloc(names, (n + 1) * sizeof(*names));
    if (names == NULL || (names[n] = strdup(e->d_name)) == NULL) die("out of memory");
    n++;
  }
  closedir(d);
  qsort(names, n, sizeof(*names), by_bytes);
  *count = n;
  return names;
}

static void dump_node(struct stream *s, int parent, const char *name, int depth);

static void dump_regular(struct stream *s, int parent, const char *name, const struct stat *st) {
  int fd = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("open %s to pack it: %s", name, strerror(errno));
  OUT(s, "regular");
  if (st->st_mode & S_IXUSR) {
    OUT(s, "executable");
    OUT(s, "");
  }
  OUT(s, "contents");
  out_u64(s, (uint64_t)st->st_size);
  unsigned char buf[1 << 16];
  uint64_t left = (uint64_t)st->st_size;
  while (left > 0) {
    ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
    if (n <= 0) die("read %s to pack it: %s", name, n < 0 ? strerror(errno) : "it shrank");
    out_bytes(s, buf, (size_t)n);
    left -= (uint64_t)n;
  }
  close(fd);
  out_bytes(s, ZEROS, (8 - st->st_size % 8) % 8);
}

/* Writes the entries of a directory node at `depth`: one for each of the `n` names (sorted
 * bytewise, as a NAR orders them) in directory `fd`. */
static void dump_entries(struct stream *s, int fd, char *const *names, size_t n, int depth) {
  for (size_t i = 0; i < n; i++) {
    OUT(s, "entry");
    OUT(s, "(");
    OUT(s, "name");
    out_str(s, names[i], strlen(names[i]));
    OUT(s, "node");
    dump_node(s, fd, names[i], depth + 1);
    OUT(s, ")");
  }
}

static void dump_directory(struct stream *s, int parent, const char *name, int depth) {
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("open directory %s to pack it: %s", name, strerror(errno));
  OUT(s, "directory");
  size_t n;
  char **names = sorted_names(fd, name, &n);
  dump_entries(s, fd, names, n, depth);
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  close(fd);
}

/* Writes the NAR node of `name` in directory `parent` (not followed if a link). */
static void dump_node(struct stream *s, int parent, const char *name, int depth) {
  struct stat st;
  if (depth > NAR_MAX_DEPTH) die("%s is nested more than %d directories deep", name, NAR_MAX_DEPTH);
  if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) die("stat %s to pack it: %s", name, strerror(errno));
  OUT(s, "(");
  OUT(s, "type");
  if (S_ISREG(st.st_mode)) {
    dump_regular(s, parent, name, &st);
  } else if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(parent, name, target, sizeof(target));
    if (n <= 0 || n == sizeof(target)) die("readlink %s to pack it: %s", name, strerror(errno));
    OUT(s, "symlink");
    OUT(s, "target");
    out_str(s, target, (size_t)n);
  } else if (S_ISDIR(st.st_mode)) {
    dump_directory(s, parent, name, depth);
  } else {
    die("%s is neither a file, a directory nor a symlink: a NAR cannot hold it", name);
  }
  OUT(s, ")");
}

/* enter --pack OUT STORE_DIR ENTRY...: writes the NAR of a directory holding the entries. */
static int pack(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: enter --pack <out.nar> <store-dir> <entry>...\n");
    return 2;
  }
  program_path = argv[1];
  static struct stream s;
  s.name = argv[1];
  s.fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int store = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s.fd < 0 || store < 0) die("open %s or %s: %s", argv[1], argv[2], strerror(errno));
  sha256_init(&s.sha);
  char **entries = &argv[3];
  size_t n = (size_t)(argc - 3);
  qsort(entries, n, sizeof(*entries), by_bytes);
  OUT(&s, "nix-archive-1");
  OUT(&s, "(");
  OUT(&s, "type");
  OUT(&s, "directory");
  for (size_t i = 0; i < n; i++)
    if (strchr(entries[i], '/') != NULL || (i > 0 && strcmp(entries[i - 1], entries[i]) == 0))
      die("entry %s: not one name, or given twice", entries[i]);
  dump_entries(&s, store, entries, n, 0);
  OUT(&s, ")");
  out_flush(&s);
  if (fsync(s.fd) != 0 || close(s.fd) != 0) die("close %s: %s", argv[1], strerror(errno));
  char hex[65];
  sha256_hex(&s.sha, hex);
  printf("%s\n", hex);
  return 0;
}

/* enter --nar-hash STORE_DIR ENTRY...: prints the NAR hash of each entry (the sha256 of what
 * `nix-store --dump STORE_DIR/ENTRY` writes) as `sha256:<Nix base32>`, one line per entry, in
 * the order given. */
static int nar_hash(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: enter --nar-hash <store-dir> <entry>...\n");
    return 2;
  }
  program_path = argv[1];
  int store = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (store < 0) die("open %s: %s", argv[1], strerror(errno));
  static struct stream s;
  s.fd = -1;
  s.name = argv[1];
  for (int i = 2; i < argc; i++) {
    if (argv[i][0] == '\0' || strchr(argv[i], '/') != NULL || strcmp(argv[i], ".") == 0 || strcmp(argv[i], "..") == 0)
      die("entry %s: not one name", argv[i]);
    sha256_init(&s.sha);
    OUT(&s, "nix-archive-1");
    dump_node(&s, store, argv[i], 0);
    unsigned char digest[32];
    char text[53];
    sha256_final(&s.sha, digest);
    nix_base32(digest, text);
    printf("sha256:%s\n", text);
  }
  close(store);
  return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- importing from the machine cache, and scanning a closure ----------------------------------
 *
 *   enter --import <cache-store-dir> <store-dir> <spaces: 0|1> [--root <link>=<target>]...
 *                  <entry>=<sha256:nix-base32>...
 *
 * The fast path of a package whose closure a lock (or the machine's evaluation cache) pins and the
 * machine cache holds: one process instead of Nix's (see rules/private/fetch.bzl). For each entry
 * missing from <store-dir>, the cache's copy is checked against its pinned NAR hash and then
 * hard-linked (copied across file systems) into <store-dir>, through a fresh `.import-` name
 * renamed into place: an entry is whole or absent, whichever of several fetches made it. Entries
 * already there are checked against their NAR hash too (exit 5 names one that was modified since),
 * unless this store verified the entry before and no file of it changed since: a stamp
 * <store-dir>/../var/rules_nixstore/verified/<entry> holds the NAR hash it had and a signature of
 * its tree, the sha256 of every node's name, device, inode, mode, size and change time (lstat).
 * Writing a file, chmod, adding, removing or renaming an entry, or a new hard link of a file all
 * set its change time, which no unprivileged process can set back: any of them makes the entry
 * hashed again (no stamp is written while a change time is the current second, for file systems
 * that keep whole seconds). Paths shared by many packages (a libc) are hashed once per output
 * base, not once per package. Then every entry is scanned, as the repository's
 * layout needs (see layout.bzl), and the records are printed NUL-separated on stdout, with paths
 * as /nix/store/<entry>/...:
 *   u<path>            a name Bazel labels cannot hold (not descended into)
 *   l<path> <target>   a symlink and its target (two fields)
 *   d<path>            the entry is a directory
 *   x<path>            an entry of <entry>/bin that is a regular file, or a symlink that
 *                      resolves to one in the closure (resolved as if the closure were mounted
 *                      at /nix/store, as layout.bzl does)
 * Each --root makes <link> (a garbage collector root of a store: gcroots/auto/<name>) a symlink
 * to <target> (the repository's `_nixstore/result`), replacing what was there, as
 * `nix-store --add-root` would. <store-dir> is made if missing.
 * Exits 3 naming an entry whose cache copy does not have its pinned NAR hash (a modified cache),
 * 4 naming an entry the cache does not hold: the caller then takes Nix's way, which repairs or
 * builds. Exits 5 naming an entry of <store-dir> that does not have its pinned NAR hash. Says on
 * stderr how many files it copied where a hard link was refused (another file system). */

/* mkdir -p `path`: its missing directories, mode 0755. */
static void make_dirs(const char *path) {
  char buf[PATH_MAX];
  if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf)) die("%s: path too long", path);
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char c = *p;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", buf, strerror(errno));
    *p = c;
    if (c == '\0') break;
  }
}

/* Makes `link` a symlink to `target`, through a fresh name renamed over it. */
static void make_root(const char *link, const char *target) {
  const char *slash = strrchr(link, '/');
  if (slash == NULL || slash == link) die("root %s: not an absolute path", link);
  char dir[PATH_MAX], tmp[PATH_MAX];
  snprintf(dir, sizeof(dir), "%.*s", (int)(slash - link), link);
  make_dirs(dir);
  if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", link, (long)getpid()) >= sizeof(tmp)) die("%s: path too long", link);
  unlink(tmp);
  if (symlink(target, tmp) != 0 || rename(tmp, link) != 0) die("root %s: %s", link, strerror(errno));
}

/* Whether `name` is one Bazel labels cannot hold: a backslash, a colon, a control character,
 * "...", or (unless `spaces`) a space. */
static int unnamable(const char *name, int spaces) {
  if (strcmp(name, "...") == 0) return 1;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    if (*p == '\\' || *p == ':' || *p < 0x20 || *p == 0x7f || (*p == ' ' && !spaces)) return 1;
  return 0;
}

static void record(char kind, const char *path, const char *extra) {
  printf("%c%s%c", kind, path, '\0');
  if (extra != NULL) printf("%s%c", extra, '\0');
}

/* Scans `path` (logical) at directory fd `parent`/`name`, as find -P does: unnamable names pruned. */
static void scan_node(int parent, const char *name, const char *path, int spaces, int depth) {
  if (depth > NAR_MAX_DEPTH) die("%s: deeper than %d", path, NAR_MAX_DEPTH);
  if (unnamable(name, spaces)) {
    record('u', path, NULL);
    return;
  }
  struct stat st;
  if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) die("stat %s: %s", path, strerror(errno));
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(parent, name, target, sizeof(target) - 1);
    if (n < 0) die("readlink %s: %s", path, strerror(errno));
    target[n] = '\0';
    record('l', path, target);
    return;
  }
  if (!S_ISDIR(st.st_mode)) return;
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("open %s: %s", path, strerror(errno));
  size_t n;
  char **names = sorted_names(fd, path, &n);
  for (size_t i = 0; i < n; i++) {
    char child[PATH_MAX];
    if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, names[i]) >= sizeof(child)) die("%s/%s: path too long", path, names[i]);
    scan_node(fd, names[i], child, spaces, depth + 1);
    free(names[i]);
  }
  free(names);
  close(fd);
}

/* The entries of the closure being imported (names), to tell where a symlink resolves. */
static char **closure_entries;
static int closure_count;

static int in_closure(const char *entry, size_t len) {
  for (int i = 0; i < closure_count; i++)
    if (strlen(closure_entries[i]) == len && strncmp(closure_entries[i], entry, len) == 0) return 1;
  return 0;
}

/* Whether logical `path` (/nix/store/<entry>/...) resolves to a regular file of the closure, links
 * followed as if the closure alone were mounted at /nix/store (the store directory `store` holds
 * it). */
static int resolves_to_file(int store, const char *path) {
  char cur[PATH_MAX], rest[PATH_MAX];
  snprintf(cur, sizeof(cur), "%s", "/nix/store");
  if (strncmp(path, "/nix/store/", 11) != 0 || (size_t)snprintf(rest, sizeof(rest), "%s", path + 11) >= sizeof(rest)) return 0;
  for (int links = 0; rest[0] != '\0';) {
    char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    char comp[NAME_MAX + 1];
    if (n > NAME_MAX) return 0;
    memcpy(comp, rest, n);
    comp[n] = '\0';
    memmove(rest, slash ? slash + 1 : rest + n, strlen(slash ? slash + 1 : rest + n) + 1);
    if (n == 0 || strcmp(comp, ".") == 0) continue;
    if (strcmp(comp, "..") == 0) {
      char *last = strrchr(cur, '/');
      if (last == NULL || strcmp(cur, "/nix/store") == 0) return 0;
      *last = '\0';
      continue;
    }
    char next[PATH_MAX];
    if ((size_t)snprintf(next, sizeof(next), "%s/%s", cur, comp) >= sizeof(next)) return 0;
    const char *entry = next + 11;
    const char *end = strchr(entry, '/');
    if (!in_closure(entry, end ? (size_t)(end - entry) : strlen(entry))) return 0;
    struct stat st;
    if (fstatat(store, entry, &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX], joined[PATH_MAX];
      ssize_t t = readlinkat(store, entry, target, sizeof(target) - 1);
      if (t < 0 || ++links > 40) return 0;
      target[t] = '\0';
      if (target[0] == '/') {
        if (strncmp(target, "/nix/store/", 11) != 0) return 0;
        snprintf(cur, sizeof(cur), "%s", "/nix/store");
        if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", target + 11, rest) >= sizeof(joined)) return 0;
      } else if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", target, rest) >= sizeof(joined)) {
        return 0;
      }
      snprintf(rest, sizeof(rest), "%s", joined);
      continue;
    }
    snprintf(cur, sizeof(cur), "%s", next);
    if (rest[0] == '\0') return S_ISREG(st.st_mode);
    if (!S_ISDIR(st.st_mode)) return 0;
  }
  return 0;
}

/* The records of one entry: d and x first, then the walk. */
static void scan_entry(int store, const char *entry, int spaces) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "/nix/store/%s", entry);
  struct stat st;
  if (fstatat(store, entry, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
    record('d', path, NULL);
    char bin[PATH_MAX];
    snprintf(bin, sizeof(bin), "%s/bin", entry);
    int fd = openat(store, bin, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      size_t n;
      char **names = sorted_names(fd, bin, &n);
      for (size_t i = 0; i < n; i++) {
        char exe[PATH_MAX];
        snprintf(exe, sizeof(exe), "%s/bin/%s", path, names[i]);
        if (resolves_to_file(store, exe)) record('x', exe, NULL);
        free(names[i]);
      }
      free(names);
      close(fd);
    }
  }
  scan_node(store, entry, path, spaces, 0);
}

/* Copies node `name` of directory `from` to `to` (a new name in directory `into`): directories
 * made anew, regular files hard-linked (or, across file systems, copied), symlinks recreated.
 * Modes are kept; directories stay writable until their content is in. */
static unsigned long copied_files; /* regular files copy_node copied instead of linking */

static void copy_node(int from, const char *name, int into, const char *to, const char *what) {
  struct stat st;
  if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) != 0) die("stat %s: %s", what, strerror(errno));
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(from, name, target, sizeof(target) - 1);
    if (n < 0) die("readlink %s: %s", what, strerror(errno));
    target[n] = '\0';
    if (symlinkat(target, into, to) != 0) die("symlink %s: %s", what, strerror(errno));
  } else if (S_ISREG(st.st_mode)) {
    if (linkat(from, name, into, to, 0) == 0) return;
    if (errno != EXDEV && errno != EPERM && errno != EMLINK) die("link %s: %s", what, strerror(errno));
    copied_files++;
    int in = openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int out = openat(into, to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07555);
    if (in < 0 || out < 0) die("copy %s: %s", what, strerror(errno));
    char buf[1 << 16];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
      if (write(out, buf, (size_t)n) != n) die("copy %s: %s", what, strerror(errno));
    if (n < 0 || close(out) != 0) die("copy %s: %s", what, strerror(errno));
    close(in);
  } else if (S_ISDIR(st.st_mode)) {
    if (mkdirat(into, to, 0700) != 0) die("mkdir %s: %s", what, strerror(errno));
    int src = openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int dst = openat(into, to, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0 || dst < 0) die("open %s: %s", what, strerror(errno));
    size_t n;
    char **names = sorted_names(src, what, &n);
    for (size_t i = 0; i < n; i++) {
      char child[PATH_MAX];
      snprintf(child, sizeof(child), "%s/%s", what, names[i]);
      copy_node(src, names[i], dst, names[i], child);
      free(names[i]);
    }
    free(names);
    if (fchmod(dst, st.st_mode & 07555) != 0) die("chmod %s: %s", what, strerror(errno));
    close(src);
    close(dst);
  } else {
    die("%s: not a file, directory or symlink", what);
  }
}

/* The NAR hash of `entry` in directory `store`, as `sha256:<Nix base32>` into `out`. */
static void entry_nar_hash(int store, const char *entry, char out[60]) {
  static struct stream s;
  s.fd = -1;
  s.name = entry;
  sha256_init(&s.sha);
  OUT(&s, "nix-archive-1");
  dump_node(&s, store, entry, 0);
  unsigned char digest[32];
  char text[53];
  sha256_final(&s.sha, digest);
  nix_base32(digest, text);
  snprintf(out, 60, "sha256:%s", text);
}

/* The newest change time (seconds) sign_node met. */
static time_t newest_change;

/* Adds `name` in `parent`, and everything under it, to the tree signature `s` (see above). */
static void sign_node(struct sha256 *s, int parent, const char *name, int depth) {
  struct stat st;
  if (depth > 4096) die("%s: too deep", name);
  if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) die("stat %s: %s", name, strerror(errno));
  if (st.st_ctim.tv_sec > newest_change) newest_change = st.st_ctim.tv_sec;
  uint64_t fields[6] = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_mode, (uint64_t)st.st_size,
                        (uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec};
  sha256_update(s, name, strlen(name) + 1);
  sha256_update(s, fields, sizeof(fields));
  if (!S_ISDIR(st.st_mode)) return;
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *dir = fd < 0 ? NULL : fdopendir(fd);
  if (dir == NULL) die("open %s: %s", name, strerror(errno));
  for (struct dirent *e; (e = readdir(dir)) != NULL;) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) sign_node(s, dirfd(dir), e->d_name, depth + 1);
  }
  closedir(dir);
  sha256_update(s, "/", 2);
}

/* The directory of this store's verified stamps (see above), or "" where <store-dir> does not end
 * in /nix/store (no stamps then). */
static char verified_dir[PATH_MAX];

/* The stamp's line for `entry` of `store` with NAR hash `want`: "<want> <signature hex>\n". */
static void stamp_line(int store, const char *entry, const char *want, char *line, size_t cap) {
  struct sha256 s;
  char hex[65];
  sha256_init(&s);
  newest_change = 0;
  sign_node(&s, store, entry, 0);
  sha256_hex(&s, hex);
  snprintf(line, cap, "%s %s\n", want, hex);
}

/* Whether the stamp of `entry` holds `line`. */
static int stamped(const char *entry, const char *line) {
  char path[PATH_MAX], have[256];
  if (!verified_dir[0] || (size_t)snprintf(path, sizeof(path), "%s/%s", verified_dir, entry) >= sizeof(path)) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  ssize_t n = read(fd, have, sizeof(have) - 1);
  close(fd);
  return n > 0 && (size_t)n == strlen(line) && memcmp(have, line, (size_t)n) == 0;
}

/* Records that `entry` was verified as `line` says, through a fresh name renamed over the old
 * stamp. A stamp that cannot be written costs a hash next time, nothing else. */
static void stamp(const char *entry, const char *line) {
  char path[PATH_MAX], tmp[PATH_MAX];
  if (!verified_dir[0]) return;
  if ((size_t)snprintf(path, sizeof(path), "%s/%s", verified_dir, entry) >= sizeof(path)) return;
  if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid()) >= sizeof(tmp)) return;
  make_dirs(verified_dir);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return;
  ssize_t n = write(fd, line, strlen(line));
  close(fd);
  if (n != (ssize_t)strlen(line) || rename(tmp, path) != 0) unlink(tmp);
}

/* Brings `entry` from the cache into the store, checking its NAR hash first (see above); an entry
 * the store holds already is checked there (exit 5: modified since it came in), unless its stamp
 * says it was verified and nothing of it changed since. */
static void import_entry(int cache, int store, const char *cache_dir, const char *entry, const char *want) {
  struct stat st;
  char have[60];
  if (strncmp(want, "sha256:", 7) != 0) die("entry %s: the NAR hash %s is not sha256:<base32>", entry, want);
  if (fstatat(store, entry, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    /* Signed before it is hashed: a change while hashing leaves a stamp that no longer matches. */
    char line[256];
    stamp_line(store, entry, want, line, sizeof(line));
    if (stamped(entry, line)) return;
    entry_nar_hash(store, entry, have);
    if (strcmp(want, have) == 0) {
      /* Not while a change time is this second's: on a file system that keeps whole seconds, a
       * change later in this second would keep the signature (git's "racy" files). */
      if (newest_change < time(NULL)) stamp(entry, line);
      return;
    }
    fprintf(stderr, "path '/nix/store/%s' was modified! expected hash '%s', got '%s'\n", entry, want, have);
    exit(5);
  }
  if (fstatat(cache, entry, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    fprintf(stderr, "rules_nixstore: the machine cache %s does not hold %s\n", cache_dir, entry);
    exit(4);
  }
  entry_nar_hash(cache, entry, have);
  if (strcmp(want, have) != 0) {
    fprintf(stderr, "rules_nixstore: the machine cache's copy of /nix/store/%s (in %s) has NAR hash %s, not the pinned %s: it was modified after it was built\n",
            entry, cache_dir, have, want);
    exit(3);
  }
  /* die() removes a half-made copy. */
  snprintf(unpacking, sizeof(unpacking), ".import-%ld-%.200s", (long)getpid(), entry);
  unpacking_parent = store;
  copy_node(cache, entry, store, unpacking, entry);
  if (renameat(store, unpacking, store, entry) != 0) {
    int err = errno;
    /* Another fetch brought it in meanwhile: its copy is as good. */
    int taken = (err == EEXIST || err == ENOTEMPTY) && fstatat(store, entry, &st, AT_SYMLINK_NOFOLLOW) == 0;
    remove_tree_at(store, unpacking, 0);
    if (!taken) die("rename %s into place: %s", entry, strerror(err));
  }
  unpacking_parent = -1;
  unpacking[0] = '\0';
}

static int import_closure(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[3], "0") != 0 && strcmp(argv[3], "1") != 0)) {
    fprintf(stderr, "usage: enter --import <cache-store-dir> <store-dir> <spaces: 0|1> <entry>=<nar-hash>...\n");
    return 2;
  }
  program_path = argv[2];
  make_dirs(argv[2]);
  int cache = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int store = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cache < 0 || store < 0) die("open %s or %s: %s", argv[1], argv[2], strerror(errno));
  int spaces = argv[3][0] == '1';
  size_t len = strlen(argv[2]);
  if (len > 10 && strcmp(argv[2] + len - 10, "/nix/store") == 0)
    snprintf(verified_dir, sizeof(verified_dir), "%.*s/var/rules_nixstore/verified", (int)(len - 6), argv[2]);
  int first = 4;
  for (; first + 1 < argc && strcmp(argv[first], "--root") == 0; first += 2) {
    char *eq = strchr(argv[first + 1], '=');
    if (eq == NULL) die("--root %s: not <link>=<target>", argv[first + 1]);
    *eq = '\0';
    make_root(argv[first + 1], eq + 1);
  }
  for (int i = first; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (eq == NULL || eq == argv[i] || memchr(argv[i], '/', (size_t)(eq - argv[i])) != NULL) die("entry %s: not <name>=<nar-hash>", argv[i]);
    *eq = '\0';
    import_entry(cache, store, argv[1], argv[i], eq + 1);
  }
  closure_entries = &argv[first];
  closure_count = argc - first;
  for (int i = first; i < argc; i++) scan_entry(store, argv[i], spaces);
  if (copied_files > 0) fprintf(stderr, "rules_nixstore: copied %lu file(s), not hard-linked\n", copied_files);
  return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- unpacking: every read goes through the stream's hash ---- */

/* Reads exactly `len` bytes; a short archive is an error naming it. */
static void in_bytes(struct stream *s, void *data, size_t len) {
  unsigned char *p = data;
  while (len > 0) {
    if (s->pos == s->len) {
      ssize_t n = read(s->fd, s->buf, sizeof(s->buf));
      if (n <= 0) die("the archive %s ends early (%s)", s->name, n < 0 ? strerror(errno) : "truncated");
      s->pos = 0;
      s->len = (size_t)n;
    }
    size_t take = s->len - s->pos < len ? s->len - s->pos : len;
    memcpy(p, s->buf + s->pos, take);
    sha256_update(&s->sha, s->buf + s->pos, take);
    s->pos += take;
    p += take;
    len -= take;
  }
}

static uint64_t in_u64(struct stream *s) {
  unsigned char b[8];
  in_bytes(s, b, 8);
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
  return v;
}

static void in_padding(struct stream *s, uint64_t len) {
  unsigned char pad[8];
  size_t n = (size_t)((8 - len % 8) % 8);
  in_bytes(s, pad, n);
  if (memcmp(pad, ZEROS, n) != 0) die("the archive %s is not a NAR: non-zero padding", s->name);
}

/* A NAR string of at most `cap - 1` bytes, NUL-terminated, without NUL bytes in it. */
static void in_str(struct stream *s, char *out, size_t cap) {
  uint64_t len = in_u64(s);
  if (len >= cap) die("the archive %s is not a NAR of a closure: a string of %llu bytes", s->name, (unsigned long long)len);
  in_bytes(s, out, (size_t)len);
  out[len] = '\0';
  if (strlen(out) != len) die("the archive %s is not a NAR of a closure: a NUL byte in a name", s->name);
  in_padding(s, len);
}

static void expect(struct stream *s, const char *want) {
  char got[64];
  in_str(s, got, sizeof(got));
  if (strcmp(got, want) != 0) die("the archive %s is not a NAR: \"%s\" where \"%s\" belongs", s->name, got, want);
}

static void restore_node(struct stream *s, int parent, const char *name, int depth);

/* How many nodes (files, links, directories) below its root the archive being unpacked held. */
static unsigned long long restored_nodes;

static void restore_regular(struct stream *s, int parent, const char *name) {
  char tag[64];
  in_str(s, tag, sizeof(tag));
  int executable = strcmp(tag, "executable") == 0;
  if (executable) {
    expect(s, "");
    in_str(s, tag, sizeof(tag));
  }
  if (strcmp(tag, "contents") != 0) die("the archive %s is not a NAR: \"%s\" in a file", s->name, tag);
  int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, executable ? 0555 : 0444);
  if (fd < 0) die("create %s: %s", name, strerror(errno));
  uint64_t len = in_u64(s), left = len;
  unsigned char buf[1 << 16];
  while (left > 0) {
    size_t take = left < sizeof(buf) ? (size_t)left : sizeof(buf);
    in_bytes(s, buf, take);
    if (write(fd, buf, take) != (ssize_t)take) die("write %s: %s", name, strerror(errno));
    left -= take;
  }
  close(fd);
  in_padding(s, len);
}

static void restore_directory(struct stream *s, int parent, const char *name, int depth) {
  if (depth > 0 && mkdirat(parent, name, 0755) != 0) die("mkdir %s: %s", name, strerror(errno));
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("open %s: %s", name, strerror(errno));
  char tag[16], entry[NAME_MAX + 1], last[NAME_MAX + 1] = "";
  for (;;) {
    in_str(s, tag, sizeof(tag));
    if (strcmp(tag, ")") == 0) break;
    if (strcmp(tag, "entry") != 0) die("the archive %s is not a NAR: \"%s\" in a directory", s->name, tag);
    expect(s, "(");
    expect(s, "name");
    in_str(s, entry, sizeof(entry));
    if (entry[0] == '\0' || strchr(entry, '/') != NULL || strcmp(entry, ".") == 0 || strcmp(entry, "..") == 0 ||
        (last[0] != '\0' && strcmp(last, entry) >= 0))
      die("the archive %s is not a NAR: entry \"%s\" is not a name in order", s->name, entry);
    strcpy(last, entry);
    expect(s, "node");
    restore_node(s, fd, entry, depth + 1);
    expect(s, ")");
  }
  close(fd);
}

/* Recreates one NAR node as `name` in `parent`; depth 0 is the archive's root, `parent` and
 * `name` then being a directory already created. The node's closing ")" is read by the caller
 * of a directory entry, here for files and links. */
static void restore_node(struct stream *s, int parent, const char *name, int depth) {
  char type[16], target[PATH_MAX];
  if (depth > NAR_MAX_DEPTH) die("the archive %s nests more than %d directories", s->name, NAR_MAX_DEPTH);
  if (depth > 0) restored_nodes++;
  expect(s, "(");
  expect(s, "type");
  in_str(s, type, sizeof(type));
  if (strcmp(type, "directory") == 0) {
    restore_directory(s, parent, name, depth);
    return;
  }
  if (depth == 0) die("the archive %s is not a NAR of a closure: its root is not a directory", s->name);
  if (strcmp(type, "regular") == 0) {
    restore_regular(s, parent, name);
  } else if (strcmp(type, "symlink") == 0) {
    expect(s, "target");
    in_str(s, target, sizeof(target));
    if (symlinkat(target, parent, name) != 0) die("symlink %s: %s", name, strerror(errno));
  } else {
    die("the archive %s is not a NAR: node type \"%s\"", s->name, type);
  }
  expect(s, ")");
}

/* Removes `name` in directory `parent` and, if it is a directory, everything in it, without
 * following links; what cannot be removed is left. Returns 0 when `name` is gone. Used by die():
 * it never calls die(). */
static int remove_tree_at(int parent, const char *name, int depth) {
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return unlinkat(parent, name, 0);
  int copy = depth <= NAR_MAX_DEPTH ? dup(fd) : -1;
  DIR *d = copy < 0 ? NULL : fdopendir(copy);
  if (d == NULL && copy >= 0) close(copy);
  if (d != NULL) {
    /* Directories of an archive are the user's; one made read-only is opened up first. */
    fchmod(fd, 0700);
    /* Entries removed while the directory is read may be skipped: read it again while that
     * removes something. */
    for (int removed = 1; removed;) {
      removed = 0;
      rewinddir(d);
      struct dirent *e;
      while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && remove_tree_at(fd, e->d_name, depth + 1) == 0)
          removed = 1;
    }
    closedir(d);
  }
  close(fd);
  return unlinkat(parent, name, AT_REMOVEDIR);
}

/* Unpacks `nar` into the new directory `name` in `parent`, checking it against `sha256`; exits
 * naming the archive when it does not match (die removes what the caller is unpacking). */
static void unpack_checked(const char *nar, const char *sha256, int parent, const char *name) {
  static struct stream s;
  s.name = nar;
  s.pos = s.len = 0;
  s.fd = open(nar, O_RDONLY | O_CLOEXEC);
  if (s.fd < 0) die("open the closure archive %s: %s", nar, strerror(errno));
  sha256_init(&s.sha);
  expect(&s, "nix-archive-1");
  restored_nodes = 0;
  restore_node(&s, parent, name, 0);
  char extra, hex[65];
  int trailing = read(s.fd, &extra, 1) != 0 || s.pos != s.len;
  close(s.fd);
  sha256_hex(&s.sha, hex);
  if (trailing || strcmp(hex, sha256) != 0)
    die("the closure archive %s does not match the sha256 its launcher names (%s; it has %s%s): a corrupt or "
        "tampered input. Fetch the package again (bazel sync) and check the remote cache.",
        nar, sha256, hex, trailing ? ", and bytes after its end" : "");
}

/* Opens directory `name` in `parent` (AT_FDCWD: a path) when it is a directory, not a link, of
 * this user's, with no access for others; otherwise returns -1 and says why in `why`. */
static int own_private_dir(int parent, const char *name, const char **why) {
  struct stat st;
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    *why = strerror(err);
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
      *why = S_ISLNK(st.st_mode)    ? "it is a symbolic link"
             : !S_ISDIR(st.st_mode) ? "it is not a directory"
             : st.st_uid != getuid() ? "it belongs to another user"
                                     : *why;
    return -1;
  }
  if (fstat(fd, &st) != 0 || st.st_uid != getuid() || (st.st_mode & 077) != 0) {
    *why = st.st_uid != getuid() ? "it belongs to another user" : "it is open to other users (not mode 0700)";
    close(fd);
    return -1;
  }
  return fd;
}

/* The private cache used where NAR_CACHE_PREFIX<uid> (`primary`) cannot be: a directory
 * NAR_CACHE_PREFIX<uid>.<6 random characters> of this user's, mode 0700, beside it. The first
 * launcher that needs one makes it with mkdtemp(3), which creates a fresh name that no one held
 * before (so nothing planted is taken over), and says so on stderr; later launchers find it
 * again by name, owner and mode (no other user can make a directory that this user owns), taking
 * the first in byte order where several were made at once. Its path goes into `path`.
 *
 * Not $XDG_RUNTIME_DIR: actions seldom have it (Bazel passes them a fixed environment, and a
 * remote worker's runner has no login session), and it is a small tmpfs. Not one directory per
 * process: every action would unpack the archive again. */
static int private_nar_cache(const char *primary, const char *why, const char *nar, char *path, size_t cap) {
  const char *slash = strrchr(primary, '/');
  char base_path[PATH_MAX], prefix[NAME_MAX + 1], best[NAME_MAX + 1] = "";
  snprintf(base_path, sizeof(base_path), "%.*s", (int)(slash - primary), primary);
  snprintf(prefix, sizeof(prefix), "%s.", slash + 1);
  int base = open(base_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int copy = base < 0 ? -1 : dup(base);
  DIR *d = copy < 0 ? NULL : fdopendir(copy);
  if (d == NULL && copy >= 0) close(copy);
  if (d != NULL) {
    struct dirent *e;
    const char *ignored;
    while ((e = readdir(d)) != NULL) {
      if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || (best[0] != '\0' && strcmp(e->d_name, best) >= 0)) continue;
      int fd = own_private_dir(base, e->d_name, &ignored);
      if (fd < 0) continue;
      close(fd);
      snprintf(best, sizeof(best), "%s", e->d_name);
    }
    closedir(d);
  }
  const char *ignored;
  int fd = best[0] == '\0' ? -1 : own_private_dir(base, best, &ignored);
  if (base >= 0) close(base);
  if (fd >= 0) {
    snprintf(path, cap, "%s/%s", base_path, best);
    return fd;
  }
  char made[PATH_MAX];
  snprintf(made, sizeof(made), "%s.XXXXXX", primary);
  if (mkdtemp(made) == NULL || (fd = own_private_dir(AT_FDCWD, made, &ignored)) < 0)
    die("its closure archive %s is unpacked into %s, which cannot be used (%s), and no private directory could be "
        "made beside it: %s",
        nar, primary, why, strerror(errno));
  fprintf(stderr, "rules_nixstore launcher: note: %s cannot be used (%s): closure archives are unpacked into %s instead.\n",
          primary, why, made);
  snprintf(path, cap, "%s", made);
  return fd;
}

/* The cache directory (its path into `path`), opened: NAR_CACHE_PREFIX<uid>, created if missing,
 * when it is this user's own, else the private one beside it. */
static int open_nar_cache(const char *nar, char *path, size_t cap) {
  char primary[64];
  const char *why = NULL;
  snprintf(primary, sizeof(primary), NAR_CACHE_PREFIX "%ld", (long)getuid());
  if (mkdir(primary, 0700) != 0 && errno != EEXIST) why = strerror(errno);
  int fd = why != NULL ? -1 : own_private_dir(AT_FDCWD, primary, &why);
  if (fd >= 0) {
    snprintf(path, cap, "%s", primary);
    return fd;
  }
  return private_nar_cache(primary, why, nar, path, cap);
}

/* A name for a directory being unpacked or removed that no other process picks: AT_RANDOM's 16
 * bytes and a count of the names this process made. */
static void fresh_name(char *out, size_t cap, const char *sha256) {
  static unsigned made;
  const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
  char hex[33] = "0";
  for (int i = 0; r != NULL && i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", r[i]);
  snprintf(out, cap, NAR_TMP_PREFIX "%.16s-%s-%u", sha256, hex, made++);
}

/* Removes the `.tmp-` directories of `cache` that killed launchers left: those unchanged for
 * NAR_STALE_SECONDS (by their modification time) whose lock no live launcher holds. */
static void sweep_stale(int cache) {
  int copy = dup(cache);
  DIR *d = copy < 0 ? NULL : fdopendir(copy);
  if (d == NULL) {
    if (copy >= 0) close(copy);
    return;
  }
  rewinddir(d);
  time_t now = time(NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    struct stat st;
    if (strncmp(e->d_name, NAR_TMP_PREFIX, strlen(NAR_TMP_PREFIX)) != 0 ||
        fstatat(cache, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
        now - st.st_mtime < NAR_STALE_SECONDS)
      continue;
    int fd = openat(cache, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) remove_tree_at(cache, e->d_name, 0);
    close(fd);
  }
  closedir(d);
}

/* Counts the nodes (files, links, directories) below directory `dir` into *n, following no
 * link; -1 when a directory cannot be read. */
static int count_nodes(int dir, int depth, unsigned long long *n) {
  if (depth > NAR_MAX_DEPTH) return -1;
  int copy = dup(dir);
  DIR *d = copy < 0 ? NULL : fdopendir(copy);
  if (d == NULL) {
    if (copy >= 0) close(copy);
    return -1;
  }
  rewinddir(d);
  int ok = 0;
  struct dirent *e;
  while (ok == 0 && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    (*n)++;
    int is_dir = e->d_type == DT_DIR;
    struct stat st;
    if (e->d_type == DT_UNKNOWN) {
      if (fstatat(dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) ok = -1;
      is_dir = ok == 0 && S_ISDIR(st.st_mode);
    }
    if (!is_dir) continue;
    int sub = openat(dir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ok = sub < 0 ? -1 : count_nodes(sub, depth + 1, n);
    if (sub >= 0) close(sub);
  }
  closedir(d);
  return ok;
}

/* Whether the cache entry `entry` (a directory, opened) is whole: its stamp names archive
 * `sha256` and as many nodes as its closure holds now. When it is, its closure directory, opened
 * and counted through this descriptor, goes into *closure. */
static int entry_whole(int entry, const char *sha256, int *closure) {
  char stamp[160], want[160];
  int fd = openat(entry, NAR_STAMP, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t len = read(fd, stamp, sizeof(stamp) - 1);
  close(fd);
  if (len <= 0) return 0;
  stamp[len] = '\0';
  int c = openat(entry, NAR_CLOSURE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  unsigned long long nodes = 0;
  if (c < 0) return 0;
  snprintf(want, sizeof(want), "rules_nixstore-nar 1 %s ", sha256);
  if (strncmp(stamp, want, strlen(want)) != 0 || count_nodes(c, 0, &nodes) != 0) {
    close(c);
    return 0;
  }
  snprintf(want, sizeof(want), "rules_nixstore-nar 1 %s %llu\n", sha256, nodes);
  if (strcmp(stamp, want) != 0) {
    close(c);
    return 0;
  }
  *closure = c;
  return 1;
}

/* Unpacks archive `nar` (digest `sha256`) into the entry `entry_name` of `cache` (at
 * `cache_path`), setting aside and removing what is there (an entry that is not whole); the
 * caller holds the archive's lock. Returns the entry's closure directory, opened. */
static int unpack_entry(int cache, const char *cache_path, const char *nar, const char *sha256, const char *entry_name) {
  char name[128];
  struct stat st;
  if (fstatat(cache, entry_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    /* Set aside under a `.tmp-` name, locked, so that the sweep of another launcher leaves it to
     * this one (or removes it, should this one be killed). */
    fresh_name(name, sizeof(name), sha256);
    int old = openat(cache, entry_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (old >= 0) flock(old, LOCK_EX | LOCK_NB);
    if (renameat(cache, entry_name, cache, name) != 0)
      die("set aside the incomplete entry %s/%s: %s", cache_path, entry_name, strerror(errno));
    remove_tree_at(cache, name, 0);
    if (old >= 0) close(old);
  }
  fresh_name(name, sizeof(name), sha256);
  if (mkdirat(cache, name, 0700) != 0) die("mkdir %s/%s: %s", cache_path, name, strerror(errno));
  /* From here on, any failure removes the half-unpacked directory (die). */
  unpacking_parent = cache;
  snprintf(unpacking, sizeof(unpacking), "%s", name);
  int tmp = openat(cache, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (tmp < 0 || flock(tmp, LOCK_EX | LOCK_NB) != 0) die("open %s/%s: %s", cache_path, name, strerror(errno));
  if (mkdirat(tmp, NAR_CLOSURE, 0755) != 0) die("mkdir %s/%s/" NAR_CLOSURE ": %s", cache_path, name, strerror(errno));
  unpack_checked(nar, sha256, tmp, NAR_CLOSURE);
  char stamp[160];
  int n = snprintf(stamp, sizeof(stamp), "rules_nixstore-nar 1 %s %llu\n", sha256, restored_nodes);
  int fd = openat(tmp, NAR_STAMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
  if (fd < 0 || write(fd, stamp, (size_t)n) != n || close(fd) != 0)
    die("write %s/%s/" NAR_STAMP ": %s", cache_path, name, strerror(errno));
  if (renameat(cache, name, cache, entry_name) != 0)
    die("rename %s/%s into place: %s", cache_path, name, strerror(errno));
  unpacking_parent = -1;
  int closure;
  if (!entry_whole(tmp, sha256, &closure)) die("the entry just unpacked, %s/%s, is not whole", cache_path, entry_name);
  close(tmp);
  return closure;
}

/* The closure directory, opened, of archive `nar` with digest `sha256` in the cache: its entry
 * when it is whole, else unpacked again (see above). Its path, for messages, into `label`
 * (PATH_MAX bytes). */
static int nar_cache_entry(const char *nar, const char *sha256, char *label) {
  char cache_path[PATH_MAX], entry_name[96], lock_name[96];
  int cache = open_nar_cache(nar, cache_path, sizeof(cache_path));
  sweep_stale(cache);
  snprintf(entry_name, sizeof(entry_name), "%s" NAR_ENTRY_SUFFIX, sha256);
  snprintf(lock_name, sizeof(lock_name), "%s" NAR_LOCK_SUFFIX, sha256);
  snprintf(label, PATH_MAX, "%s/%s/" NAR_CLOSURE, cache_path, entry_name);
  int closure = -1, lock = -1;
  for (int attempt = 0; attempt < 2; attempt++) {
    int entry = openat(cache, entry_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int whole = entry >= 0 && entry_whole(entry, sha256, &closure);
    if (entry >= 0) close(entry);
    if (whole) break;
    if (attempt == 0) {
      /* Missing or incomplete: one launcher at a time unpacks it; the others wait, then find it. */
      lock = openat(cache, lock_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (lock < 0 || flock(lock, LOCK_EX) != 0) die("lock %s/%s: %s", cache_path, lock_name, strerror(errno));
    } else {
      closure = unpack_entry(cache, cache_path, nar, sha256, entry_name);
    }
  }
  if (lock >= 0) close(lock);
  close(cache);
  return closure;
}

/* ---- downloaded NARs: closures from binary caches without Nix --------------------------------
 *
 *   enter --unpack-nars <store-dir> (<entry> <nar-hash> <file> <decompressor>)...
 *       unpacks each downloaded NAR <file> (the archive of one store path, as a Nix binary cache
 *       serves it) into <store-dir>/<entry>, checked against <nar-hash> (`sha256:<Nix base32>`,
 *       as the lock file pins it and `nix-store --query --hash` prints it). <decompressor> is
 *       `none` for a plain NAR, else the program (xz, zstd, bzip2) run as
 *       `<decompressor> -d -c -- <file>`, whose output is read through a pipe.
 *
 * The package rule (binary_cache.bzl) runs it after Bazel's downloader checked each file's
 * sha256. Each entry is unpacked into <entry> of a fresh, locked `.tmp-` directory of
 * <store-dir>, hashed as it is read, and renamed into place only when its NAR hash is the pinned
 * one; on any failure that directory is removed (by die), so the store never holds a
 * half-unpacked path. An entry that appeared meanwhile (another package's fetch) is kept when it
 * has the pinned hash, and replaced when it does not. `.tmp-` directories of killed runs are
 * swept as in the launchers' cache. */
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* Starts `tool -d -c -- file` with its standard output a pipe; returns the pipe's read end. */
static int start_decompressor(const char *tool, const char *file, pid_t *pid) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) die("pipe: %s", strerror(errno));
  *pid = fork();
  if (*pid < 0) die("fork: %s", strerror(errno));
  if (*pid == 0) {
    if (dup2(fds[1], STDOUT_FILENO) < 0) _exit(127);
    execl(tool, tool, "-d", "-c", "--", file, (char *)NULL);
    fprintf(stderr, "rules_nixstore: cannot run the decompressor %s: %s\n", tool, strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  return fds[0];
}

/* Moves the unpacked `tmp`/`entry` to `store`/`entry`, unless an entry with the pinned hash is
 * there already; one with another hash (modified since) is set aside and removed. */
static void place_entry(int store, int tmp, const char *entry, const char *want) {
  if (syscall(SYS_renameat2, tmp, entry, store, entry, RENAME_NOREPLACE) == 0) return;
  /* File systems without renameat2 flags: rename(2) moves a directory only onto an empty one
   * (or none), and replaces a file or link, which is what an existing entry would hold. */
  if ((errno == EINVAL || errno == ENOSYS) && renameat(tmp, entry, store, entry) == 0) return;
  if (errno != EEXIST && errno != ENOTEMPTY) die("rename %s into the store: %s", entry, strerror(errno));
  char have[60], old[NAME_MAX + 1];
  entry_nar_hash(store, entry, have);
  if (strcmp(have, want) == 0) return;
  fresh_name(old, sizeof(old), entry);
  if (renameat(store, entry, store, old) != 0 || renameat(tmp, entry, store, entry) != 0)
    die("replace the modified store path %s: %s", entry, strerror(errno));
  remove_tree_at(store, old, 0);
}

/* Unpacks one NAR (see above) into the store; dies naming it when it is not the pinned one. */
static void unpack_nar(int store, const char *store_dir, const char *entry, const char *want, const char *file,
                       const char *tool) {
  if (entry[0] == '\0' || entry[0] == '.' || strchr(entry, '/') != NULL)
    die("%s is not the name of a store path", entry);
  char tmp_name[NAME_MAX + 1], label[PATH_MAX + 64];
  fresh_name(tmp_name, sizeof(tmp_name), entry);
  if (mkdirat(store, tmp_name, 0700) != 0) die("mkdir %s/%s: %s", store_dir, tmp_name, strerror(errno));
  /* From here on, any failure removes the half-unpacked directory (die). */
  unpacking_parent = store;
  snprintf(unpacking, sizeof(unpacking), "%s", tmp_name);
  int tmp = openat(store, tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (tmp < 0 || flock(tmp, LOCK_EX | LOCK_NB) != 0) die("open %s/%s: %s", store_dir, tmp_name, strerror(errno));

  static struct stream s;
  pid_t pid = -1;
  int plain = strcmp(tool, "none") == 0;
  snprintf(label, sizeof(label), plain ? "%s" : "%s (decompressed with %s)", file, tool);
  s.name = label;
  s.pos = s.len = 0;
  s.fd = plain ? open(file, O_RDONLY | O_CLOEXEC) : start_decompressor(tool, file, &pid);
  if (s.fd < 0) die("open %s: %s", file, strerror(errno));
  sha256_init(&s.sha);
  expect(&s, "nix-archive-1");
  /* Depth 1: the store path itself may be a directory, a file or a link. */
  restore_node(&s, tmp, entry, 1);
  char extra;
  int trailing = s.pos != s.len || read(s.fd, &extra, 1) != 0;
  close(s.fd);
  int status = 0;
  if (pid > 0 && (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
    die("%s failed to decompress %s (%s %d): a corrupt download", tool, file,
        WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  if (trailing) die("the NAR of /nix/store/%s (%s) has bytes after its end: a corrupt download", entry, label);
  unsigned char digest[32];
  char text[53], got[60];
  sha256_final(&s.sha, digest);
  nix_base32(digest, text);
  snprintf(got, sizeof(got), "sha256:%s", text);
  if (strcmp(got, want) != 0)
    die("NAR hash mismatch: the NAR of /nix/store/%s (%s) has NAR hash %s, but the lock pins %s: the file was "
        "tampered with, or the lock was edited. Nothing of it was unpacked.",
        entry, label, got, want);
  place_entry(store, tmp, entry, want);
  unpacking_parent = -1;
  remove_tree_at(store, tmp_name, 0);
  close(tmp);
}

/* enter --unpack-nars STORE_DIR (ENTRY NAR_HASH FILE DECOMPRESSOR)... (see above). */
static int unpack_nars(int argc, char **argv) {
  if (argc < 6 || (argc - 2) % 4 != 0) {
    fprintf(stderr, "usage: enter --unpack-nars <store-dir> (<entry> <nar-hash> <file> <decompressor>)...\n");
    return 2;
  }
  program_path = "enter --unpack-nars";
  int store = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (store < 0) die("open the store %s: %s", argv[1], strerror(errno));
  sweep_stale(store);
  for (int i = 2; i + 3 < argc; i += 4) unpack_nar(store, argv[1], argv[i], argv[i + 1], argv[i + 2], argv[i + 3]);
  close(store);
  return 0;
}

/* ---- launcher mode ------------------------------------------------------------------------
 *
 * A package's `bin/<exe>` is this very binary (a link to, or a copy of, `_nixstore/enter`),
 * beside a data file `<launcher>` LAUNCH_SUFFIX that `nixstore_executable` writes:
 *
 *   # comment lines
 *   program=<the program's path, every byte outside [A-Za-z0-9+-._/=?] written as \0ddd>
 *   runfiles_repo=<the package repository's name in runfiles trees>
 *   exec_repo=<the repository's path relative to the execution root>
 *   nar=<its packed closure's path in the repository>      (packed_closure = True only)
 *   nar_sha256=<that archive's sha256, 64 hex digits>      (packed_closure = True only)
 *   run=argv                                               (a runtime launcher only)
 *
 * With `run=argv`, the launcher runs its first argument with the rest (`<launcher> <command>
 * [args...]`), found as execvp(3) finds it, instead of `program`; `program` then only names a
 * store path that the command needs (e.g. the dynamic linker of the programs a Nix toolchain
 * linked): where /nix/store shows it, the command runs as it is, otherwise the closure is mapped
 * first. A toolchain's runtime launcher is such a one (Bazel's --run_under: the tests and
 * `bazel run` programs of a toolchain that links against /nix/store).
 *
 * The launcher is the path the kernel was asked to execute (AT_EXECFN: what a shell script would
 * see as $0, also when found on PATH). Its data file is beside it (in a runfiles tree, or an
 * execution root where runfiles are inputs at their own paths), else beside what it links to
 * (and so on), else in its own runfiles tree (a remote worker's input root). Where /nix/store shows the program, the launcher
 * executes it; otherwise it finds the closure as the launcher scripts of earlier versions did
 * and maps it like `enter` does: no shell runs, so no argument or name is ever evaluated. */
#define LAUNCH_SUFFIX ".nixstore-launch"

struct launch {
  char path[PATH_MAX];    /* the launcher whose data file was found */
  char program[PATH_MAX]; /* /nix/store/<hash>-<name>/bin/<exe>, decoded */
  char runfiles_repo[PATH_MAX];
  char exec_repo[PATH_MAX];
  char nar[PATH_MAX];       /* "" unless the closure is packed */
  char nar_sha256[PATH_MAX];
  char run[PATH_MAX];       /* "argv" for a runtime launcher, "" otherwise */
};

/* Prints "rules_nixstore launcher: <what>: <message>" and exits with `code`. */
__attribute__((noreturn, format(printf, 3, 4))) static void die_launch(int code, const char *what, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "rules_nixstore launcher: %s: ", what);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(code);
}

/* Copies `value` (up to the end of its line) into `out`, decoding \0ddd escapes. */
static int decode_value(const char *value, const char *end, char *out, size_t cap) {
  size_t n = 0;
  for (const char *p = value; p < end; p++) {
    char c = *p;
    if (c == '\\') {
      if (end - p < 5 || p[1] != '0' || p[2] < '0' || p[2] > '3' || p[3] < '0' || p[3] > '7' || p[4] < '0' || p[4] > '7')
        return 0;
      c = (char)((p[2] - '0') * 64 + (p[3] - '0') * 8 + (p[4] - '0'));
      if (c == '\0') return 0;
      p += 4;
    }
    if (n + 1 >= cap) return 0;
    out[n++] = c;
  }
  out[n] = '\0';
  return n > 0;
}

/* Reads `<path>` LAUNCH_SUFFIX into `l`. Returns 0 when there is no such file; exits 127 naming
 * the file when it cannot be read or is not what nixstore_executable writes. */
static int read_launch(const char *path, struct launch *l) {
  char file[PATH_MAX];
  if ((size_t)snprintf(file, sizeof(file), "%s%s", path, LAUNCH_SUFFIX) >= sizeof(file)) return 0;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return 0;
    die_launch(127, file, "cannot read this launcher's data: %s", strerror(errno));
  }
  static char text[4 * PATH_MAX];
  size_t len = 0;
  ssize_t n;
  while ((n = read(fd, text + len, sizeof(text) - len)) > 0) len += (size_t)n;
  close(fd);
  if (n < 0 || len == sizeof(text)) die_launch(127, file, "cannot read this launcher's data (too long, or %s)", strerror(errno));
  struct {
    const char *key;
    char *out;
  } fields[] = {{"program=", l->program},
                {"runfiles_repo=", l->runfiles_repo},
                {"exec_repo=", l->exec_repo},
                {"nar=", l->nar},
                {"nar_sha256=", l->nar_sha256},
                {"run=", l->run}};
  int seen = 0;
  for (const char *line = text, *end; line < text + len; line = end + 1) {
    end = memchr(line, '\n', (size_t)(text + len - line));
    if (end == NULL) end = text + len;
    if (line == end || *line == '#') continue;
    size_t i;
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
      size_t k = strlen(fields[i].key);
      if ((size_t)(end - line) >= k && memcmp(line, fields[i].key, k) == 0) break;
    }
    if (i == sizeof(fields) / sizeof(fields[0]) || !decode_value(line + strlen(fields[i].key), end, fields[i].out, PATH_MAX))
      die_launch(127, file, "not launcher data of nixstore_executable: bad line \"%.*s\"; rebuild the launcher (bazel clean)",
                 (int)(end - line), line);
    seen |= 1 << i;
  }
  size_t hex = strspn(l->nar_sha256, "0123456789abcdef");
  int nar = (seen >> 3) & 3;
  if ((seen & 7) != 7 || (nar != 0 && (nar != 3 || hex != 64 || l->nar_sha256[hex] != '\0')) ||
      ((seen >> 5) != 0 && strcmp(l->run, "argv") != 0))
    die_launch(127, file, "not launcher data of nixstore_executable: a field is missing or malformed; rebuild the launcher (bazel clean)");
  snprintf(l->path, sizeof(l->path), "%s", path);
  return 1;
}

/* Reads the data of launcher `self` from its own runfiles tree, `<self>.runfiles/`, where a
 * remote executor puts it (runfiles are not inputs at their execution paths there). The data's
 * runfiles path is `<repo>/<path in repo>.nixstore-launch`, and `self` is
 * `.../external/<repo>/<path in repo>` for a repository's launcher, `bazel-out/<cfg>/bin/<path
 * in repo>` for one of the main repository (whose runfiles name is not known here): each split
 * is tried, the first from the right. That tree holds the runfiles of this launcher only. */
static int read_launch_in_runfiles(const char *self, struct launch *l) {
  char runfiles[PATH_MAX], base[PATH_MAX];
  if ((size_t)snprintf(runfiles, sizeof(runfiles), "%s.runfiles", self) >= sizeof(runfiles)) return 0;
  DIR *d = NULL;
  for (const char *p = self + strlen(self); p > self; p--) {
    if (p[-1] != '/') continue;
    /* p: the part of `self` after a slash. "external/<repo>/<rest>" names the repository. */
    if (strncmp(p, "external/", 9) == 0) {
      const char *repo = p + 9, *rest = strchr(repo, '/');
      if (rest != NULL && rest > repo &&
          (size_t)snprintf(base, sizeof(base), "%s/%.*s%s", runfiles, (int)(rest - repo), repo, rest) < sizeof(base) &&
          read_launch(base, l))
        goto found;
    }
    /* "bin/<rest>": <rest> in each repository of the tree. */
    if (strncmp(p, "bin/", 4) == 0 && p[4] != '\0') {
      if (d == NULL && (d = opendir(runfiles)) == NULL) return 0;
      rewinddir(d);
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' ||
            (size_t)snprintf(base, sizeof(base), "%s/%s/%s", runfiles, e->d_name, p + 4) >= sizeof(base))
          continue;
        if (read_launch(base, l)) goto found;
      }
    }
  }
  if (d != NULL) closedir(d);
  return 0;
found:
  if (d != NULL) closedir(d);
  snprintf(l->path, sizeof(l->path), "%s", self);
  return 1;
}

/* Finds the data of the launcher `self` (see above): beside it, beside what it links to, or in
 * its runfiles tree. */
static int find_launch(const char *self, struct launch *l) {
  char path[PATH_MAX], target[PATH_MAX];
  if ((size_t)snprintf(path, sizeof(path), "%s", self) >= sizeof(path)) return 0;
  for (int hops = 0; hops < 40; hops++) {
    if (read_launch(path, l)) return 1;
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n <= 0) break;
    target[n] = '\0';
    const char *slash = strrchr(path, '/');
    if (target[0] == '/' || slash == NULL) {
      strcpy(path, target);
    } else {
      char next[PATH_MAX];
      if ((size_t)snprintf(next, sizeof(next), "%.*s/%s", (int)(slash - path), path, target) >= sizeof(next)) break;
      strcpy(path, next);
    }
  }
  return read_launch_in_runfiles(self, l);
}

/* Where a launcher that does not sit beside its closure looks for it, first to last:
 * `$0.runfiles/<repo>`, `$RUNFILES_DIR/<repo>`, `<dir of $0>/../..` and `<exec_repo>` (relative to
 * the working directory). Returns how many of `bases` it filled. */
static int launch_bases(const struct launch *l, char bases[4][PATH_MAX]) {
  int n = 0;
  const char *runfiles_dir = getenv("RUNFILES_DIR");
  const char *slash = strrchr(l->path, '/');
  if ((size_t)snprintf(bases[n], PATH_MAX, "%s.runfiles/%s", l->path, l->runfiles_repo) < PATH_MAX) n++;
  if (runfiles_dir != NULL && *runfiles_dir != '\0' &&
      (size_t)snprintf(bases[n], PATH_MAX, "%s/%s", runfiles_dir, l->runfiles_repo) < PATH_MAX)
    n++;
  if (slash == NULL) {
    snprintf(bases[n++], PATH_MAX, "../..");
  } else if ((size_t)snprintf(bases[n], PATH_MAX, "%.*s/../..", (int)(slash - l->path), l->path) < PATH_MAX) {
    n++;
  }
  if ((size_t)snprintf(bases[n], PATH_MAX, "%s", l->exec_repo) < PATH_MAX) n++;
  return n;
}

/* The closure directory of a launcher that does not sit beside one: in the first base that holds
 * both `_nixstore/enter` and `nix/store`, the `nix/store` beside the resolved `_nixstore/enter`
 * (the package repository itself, where runfiles are links to it), else `nix/store` itself. */
static int closure_in_bases(const struct launch *l, char *out) {
  char bases[4][PATH_MAX];
  int n = launch_bases(l, bases);
  for (int i = 0; i < n; i++) {
    char enter[PATH_MAX], store[PATH_MAX], resolved[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(enter, sizeof(enter), "%s/_nixstore/enter", bases[i]) >= sizeof(enter) ||
        (size_t)snprintf(store, sizeof(store), "%s/nix/store", bases[i]) >= sizeof(store))
      continue;
    if (access(enter, X_OK) != 0 || stat(store, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (realpath(enter, resolved) != NULL && closure_beside(resolved, out)) return 1;
    if (resolved_dir(store, out)) return 1;
  }
  return 0;
}

/* A packed closure's archive (`nar=` of the data) in the first base that holds it: its path into
 * `out` (PATH_MAX bytes). */
static int archive_in_bases(const struct launch *l, char *out) {
  char bases[4][PATH_MAX];
  int n = launch_bases(l, bases);
  for (int i = 0; l->nar[0] != '\0' && i < n; i++) {
    struct stat st;
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", bases[i], l->nar) < PATH_MAX && stat(out, &st) == 0 &&
        S_ISREG(st.st_mode))
      return 1;
  }
  return 0;
}

/* Runs the program of launcher `l` with this process's arguments (with `run=argv`: runs the
 * command its arguments name, see above). */
__attribute__((noreturn)) static void launch(struct launch *l, int argc, char **argv) {
  int run_argv = l->run[0] != '\0';
  program_path = l->program;
  launcher_repo = l->runfiles_repo;
  /* The program gets its own path as argv[0], as from `exec "$program" "$@"`. */
  char *no_args[] = {l->program, NULL};
  char **prog_argv = argc > 0 ? argv : no_args;
  if (run_argv) {
    if (argc < 2) die_launch(2, l->path, "usage: %s <command> [args...] (runs the command with the closure mapped)", l->path);
    prog_argv = argv + 1;
  } else {
    prog_argv[0] = l->program;
  }
  if (access(program_path, X_OK) == 0) {
    program_path = prog_argv[0];
    exec_path(program_path, prog_argv);
    die("exec: %s", strerror(errno));
  }
  if (strncmp(program_path, "/nix/store/", 11) != 0)
    die("not found, and it is not a /nix/store path that could be mapped");
  char closure[PATH_MAX], nar[PATH_MAX];
  int found = closure_beside_self(closure) || closure_in_bases(l, closure);
  int packed = !found && archive_in_bases(l, nar);
  if (!found && !packed) {
    fprintf(stderr,
            "rules_nixstore launcher: cannot run %s: /nix/store does not show %s, and its closure\n"
            "  (%s/nix/store%s%s) is neither in this launcher's runfiles nor under '%s'.\n"
            "  Depend on the runnable target (@%s//:bin/<exe>, or a toolchain's runtime), not the raw file,\n"
            "  so the closure travels with it.\n",
            prog_argv[0], run_argv ? l->program : "it", l->runfiles_repo, l->nar[0] ? ", or its archive " : "", l->nar,
            l->exec_repo, l->runfiles_repo);
    exit(127);
  }
  if (run_argv) program_path = prog_argv[0];
  if (packed) map_and_exec(NULL, nar, l->nar_sha256, prog_argv);
  map_and_exec(closure, NULL, NULL, prog_argv);
}

int main(int argc, char **argv) {
  const char *self = (const char *)getauxval(AT_EXECFN);
  if (self == NULL || *self == '\0') self = argc > 0 ? argv[0] : "";
  static struct launch l;
  if (find_launch(self, &l)) launch(&l, argc, argv);
  const char *slash = strrchr(self, '/');
  if (argc > 1 && strcmp(argv[1], "--pack") == 0) return pack(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "--nar-hash") == 0) return nar_hash(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "--import") == 0) return import_closure(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "--unpack-nars") == 0) return unpack_nars(argc - 1, argv + 1);
  if (strcmp(slash ? slash + 1 : self, "enter") != 0)
    die_launch(127, self, "no launcher data %s%s beside it, beside what it links to or in its runfiles, and it is not named enter.\n"
               "  A launcher of nixstore_executable needs the data file the rule writes beside it: run the target\n"
               "  (bazel run, or $(location) of @<repo>//:bin/<exe>), not a copy of its file.", self, LAUNCH_SUFFIX);
  if (argc < 3) {
    fprintf(stderr, "usage: %s <closure-dir> <program> [args...]\n", argv[0]);
    return 2;
  }
  program_path = argv[2];
  char *const *prog_argv = &argv[2];
  if (access(program_path, X_OK) == 0) {
    execv(program_path, prog_argv);
    die("exec: %s", strerror(errno));
  }
  if (strncmp(program_path, "/nix/store/", 11) != 0)
    die("not found, and it is not a /nix/store path that could be mapped");

  char closure[PATH_MAX];
  if (!closure_beside_self(closure) && realpath(argv[1], closure) == NULL)
    die("closure directory %s: %s", argv[1], strerror(errno));
  map_and_exec(closure, NULL, NULL, prog_argv);
  return 126;
}
