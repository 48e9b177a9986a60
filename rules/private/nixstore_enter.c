/*
 * nixstore-enter: run one program with a Nix closure mapped read-only at
 * /nix/store, without root and without setuid.
 *
 *   nixstore-enter <closure-dir> <program> [args...]
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
 * Arguments reach the program as argv: no shell is involved.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static const char *program_path = "";

static void die(const char *fmt, ...) {
  va_list ap;
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
static void die_no_userns(int err) {
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
      "  cause: %s.\n"
      "  fix: %s;\n"
      "       or run this action where /nix/store is mapped (linux-sandbox with the\n"
      "       --sandbox_add_mount_pair that `nixgen bazelrc` writes).\n"
      "  check a machine with: unshare --user --map-root-user --mount true",
      strerror(err), cause, fix);
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
static unsigned long locked_flags(const char *path) {
  struct statvfs st;
  unsigned long flags = 0;
  if (statvfs(path, &st) != 0) return 0;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

static void bind_store_readonly(const char *closure, const char *target) {
  if (mount(closure, target, NULL, MS_BIND | MS_REC, NULL) != 0)
    die("bind %s onto %s: %s", closure, target, strerror(errno));
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(target);
  if (mount(NULL, target, NULL, flags, NULL) != 0)
    die("remount %s read-only: %s", target, strerror(errno));
}

static void join(char *out, const char *a, const char *b) {
  if ((size_t)snprintf(out, PATH_MAX, "%s/%s", a, b) >= PATH_MAX) die("path too long: %s/%s", a, b);
}

/* Builds a root on a tmpfs at `root` that mirrors / (bind mounts of every
 * top-level entry) and adds nix/store, then chroots into it. */
static void enter_new_root(const char *closure, const char *root) {
  char src[PATH_MAX], dst[PATH_MAX];
  if (mount("nixstore-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
    die("mount a tmpfs on %s: %s", root, strerror(errno));
  DIR *d = opendir("/");
  if (d == NULL) die("opendir /: %s", strerror(errno));
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, "nix") == 0) continue;
    join(src, "", e->d_name);
    join(dst, root, e->d_name);
    struct stat st;
    if (lstat(src, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (mkdir(dst, 0755) != 0) die("mkdir %s: %s", dst, strerror(errno));
      if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0) {
        /* Unreadable or special entries (e.g. lost+found) are left out. */
        rmdir(dst);
      }
    } else if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = readlink(src, target, sizeof(target) - 1);
      if (n < 0) continue;
      target[n] = '\0';
      if (symlink(target, dst) != 0) die("symlink %s: %s", dst, strerror(errno));
    } else if (S_ISREG(st.st_mode)) {
      int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd >= 0) close(fd);
      if (mount(src, dst, NULL, MS_BIND, NULL) != 0) unlink(dst);
    }
  }
  closedir(d);
  join(dst, root, "nix");
  if (mkdir(dst, 0755) != 0) die("mkdir %s: %s", dst, strerror(errno));
  join(dst, root, "nix/store");
  if (mkdir(dst, 0755) != 0) die("mkdir %s: %s", dst, strerror(errno));
  bind_store_readonly(closure, dst);
  if (chdir(root) != 0) die("chdir %s: %s", root, strerror(errno));
  /* pivot_root, not chroot: the kernel refuses unshare(CLONE_NEWUSER) to a
   * chrooted process (EPERM), so a program started in a chroot could not map
   * another closure (a launcher run by a mapped program). pivot_root(".", ".")
   * stacks the old root on the new one; detaching it leaves the new root.
   * chroot remains the fallback where pivot_root is refused (e.g. when this
   * process is itself in a chroot, so its root is not a mount point). */
  if (syscall(SYS_pivot_root, ".", ".") == 0) {
    if (umount2(".", MNT_DETACH) != 0) die("detach the old root: %s", strerror(errno));
  } else if (chroot(".") != 0) {
    die("chroot %s: %s", root, strerror(errno));
  }
  if (chdir("/") != 0) die("chdir / in the new root: %s", strerror(errno));
}

/* An existing directory to stage the new root on. Mounts happen only in this
 * process's private mount namespace; the directory itself stays empty. */
static void staging_dir(char *out) {
  const char *tmp = getenv("TMPDIR");
  const char *bases[] = {tmp, "/tmp", "/var/tmp", "/dev/shm"};
  for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
    if (bases[i] == NULL || bases[i][0] != '/') continue;
    if ((size_t)snprintf(out, PATH_MAX, "%s/.nixstore-root-%ld", bases[i], (long)getuid()) >= PATH_MAX) continue;
    if (mkdir(out, 0700) != 0 && errno != EEXIST) continue;
    struct stat st;
    if (lstat(out, &st) == 0 && S_ISDIR(st.st_mode)) return;
  }
  die("no writable temporary directory to stage a root with /nix/store (tried $TMPDIR, /tmp, /var/tmp, /dev/shm)");
}

/* <dir of the resolved executable>/../nix/store, when it is a directory. */
static int closure_beside_self(char *out) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return 0;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash == NULL) return 0;
  *slash = '\0';
  if ((size_t)snprintf(out, PATH_MAX, "%s/../nix/store", exe) >= PATH_MAX) return 0;
  char resolved[PATH_MAX];
  struct stat st;
  if (realpath(out, resolved) == NULL || stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
  strcpy(out, resolved);
  return 1;
}

int main(int argc, char **argv) {
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
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == NULL) die("getcwd: %s", strerror(errno));

  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    int err = errno;
    /* root without user namespaces still owns its mount namespace */
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0) die_no_userns(err);
  } else {
    char map[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof(map), "%ld %ld 1\n", (long)uid, (long)uid);
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof(map), "%ld %ld 1\n", (long)gid, (long)gid);
    write_file("/proc/self/gid_map", map);
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    die("make mounts private: %s", strerror(errno));

  struct stat st;
  if (stat("/nix/store", &st) == 0 && S_ISDIR(st.st_mode)) {
    bind_store_readonly(closure, "/nix/store");
  } else {
    char root[PATH_MAX];
    staging_dir(root);
    enter_new_root(closure, root);
    if (chdir(cwd) != 0) die("chdir %s in the new root: %s", cwd, strerror(errno));
  }
  execv(program_path, prog_argv);
  if (errno == ENOENT)
    die("%s is not in the mapped closure %s (or its interpreter is missing): %s", program_path, closure,
        strerror(errno));
  die("exec: %s", strerror(errno));
  return 126;
}
