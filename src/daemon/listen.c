/*
 * listen.c — where ttmemd listens: the socket directory, the one-daemon-per-socket lock, the
 * main socket (0600) and the read-only query socket (0660), and the pid file. In system mode
 * (--system) the directory is root's, 0750, and both sockets are 0660, of the daemon's group.
 *
 * Every file the daemon creates (lock, pid file, log) is opened with ttm__file_create: never
 * through a symbolic link, never a file that is not a plain file of ours (docs/RELIABILITY.md,
 * item 17). The default and system directories are checked with ttm__dir_check, the same check
 * the clients make (item 16).
 *
 * One daemon per socket is enforced twice: an flock() on SOCKET.lock, held for the daemon's
 * life (two daemons starting at once cannot both win), and a probe connect() on the socket
 * (something listening there that does not take our lock is not replaced either). A socket file
 * nobody listens on is stale and is replaced. The lock file is never removed: unlinking it
 * would let a third daemon lock a fresh inode while a second still holds the old one.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/paths.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

/* Creates the socket's directory when missing and checks it (ttm__listen_dir, daemon.h). */
static int ensure_dir(const ttm_daemon *d, char *msg, size_t msg_len)
{
    char copy[TTM_SOCK_PATH_MAX];
    snprintf(copy, sizeof copy, "%s", d->cfg.socket_path);
    const char *dir = dirname(copy);
    bool checked = d->cfg.system || d->cfg.default_socket;
    if (mkdir(dir, d->cfg.system ? 0750 : 0700) != 0 && errno != EEXIST) {
        ttm__set_msg(msg, msg_len, "cannot create directory %s: %s", dir, strerror(errno));
        return TTM_EIO;
    }
    if (!checked) { /* --socket PATH: the user chose the place; it must only be a directory */
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            ttm__set_msg(msg, msg_len, "cannot use directory %s: %s", dir,
                         errno != 0 ? strerror(errno) : "not a directory");
            return TTM_EIO;
        }
        return TTM_OK;
    }
    char why[300];
    int err = ttm__dir_check(dir, d->cfg.system, why, sizeof why);
    if (err != TTM_OK) {
        ttm__set_msg(msg, msg_len, "%s, or use --socket PATH", why);
        return err == TTM_ENOENT ? TTM_EIO : err;
    }
    if (!d->cfg.system)
        return TTM_OK;
    /* The system directory is root's (checked above); give it to the group, through a
     * descriptor so that what was checked is what changes. */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_uid != 0 || fchown(fd, (uid_t)-1, d->cfg.gid) != 0 ||
        fchmod(fd, 0750) != 0) {
        ttm__set_msg(msg, msg_len, "cannot give directory %s to group %s: %s", dir,
                     d->cfg.group, strerror(errno));
        if (fd >= 0)
            close(fd);
        return TTM_EIO;
    }
    close(fd);
    return TTM_OK;
}

int ttm__listen_dir(const ttm_daemon *d, char *msg, size_t msg_len)
{
    return ensure_dir(d, msg, msg_len);
}

/* What ttm__file_create's errno means, for the one line. */
static const char *file_error(int e)
{
    if (e == ELOOP)
        return "it is a symbolic link; remove it";
    if (e == EPERM)
        return "it is not a plain file of ours (a link, another owner or another kind); remove it";
    return strerror(e);
}

static long lock_holder(int fd)
{
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    return strtol(buf, NULL, 10);
}

static int take_lock(ttm_daemon *d, char *msg, size_t msg_len)
{
    int fd = ttm__file_create(d->cfg.lock_path, O_RDWR, 0600);
    if (fd < 0) {
        ttm__set_msg(msg, msg_len, "cannot open lock file %s: %s", d->cfg.lock_path,
                     file_error(errno));
        return TTM_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        long pid = lock_holder(fd);
        close(fd);
        if (e == EWOULDBLOCK) {
            char who[48] = "";
            if (pid > 0)
                snprintf(who, sizeof who, " (pid %ld)", pid);
            ttm__set_msg(msg, msg_len,
                    "another ttmemd%s is already running on %s: stop it first, or use "
                    "--socket PATH",
                    who, d->cfg.socket_path);
            return TTM_EEXIST;
        }
        ttm__set_msg(msg, msg_len, "cannot lock %s: %s", d->cfg.lock_path, strerror(e));
        return TTM_EIO;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        TTM_LOG(WARN, "cannot write pid to lock file %s: %s", d->cfg.lock_path, strerror(errno));
    d->lock_fd = fd;
    return TTM_OK;
}

/* Probes path: TTM_EEXIST when something listens there, 0 when nothing does (a stale file is
 * removed), TTM_EIO when the path is not usable. option names the option that moves it. */
static int probe_socket(const char *path, const char *option, char *msg, size_t msg_len)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return TTM_OK;
        ttm__set_msg(msg, msg_len, "cannot use %s: %s", path, strerror(errno));
        return TTM_EIO;
    }
    if (!S_ISSOCK(st.st_mode)) {
        ttm__set_msg(msg, msg_len, "%s exists and is not a socket: remove it, or use %s PATH",
                path, option);
        return TTM_EIO;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ttm__set_msg(msg, msg_len, "cannot create a socket: %s", strerror(errno));
        return TTM_EIO;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (r == 0) {
        ttm__set_msg(msg, msg_len,
                "another ttmemd is already listening on %s: stop it first, or use %s PATH",
                path, option);
        return TTM_EEXIST;
    }
    if (e != ECONNREFUSED && e != ENOENT) {
        ttm__set_msg(msg, msg_len, "cannot probe %s: %s", path, strerror(e));
        return TTM_EIO;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        ttm__set_msg(msg, msg_len, "cannot replace stale socket %s: %s", path, strerror(errno));
        return TTM_EIO;
    }
    TTM_LOG(INFO, "replaced stale socket %s (nothing listened on it)", path);
    return TTM_OK;
}

/* Binds a non-blocking listening socket at path with the given mode and, unless gid is -1,
 * group. Returns the fd or -1. */
static int bind_listen(const char *path, mode_t mode, gid_t gid, char *msg, size_t msg_len)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ttm__set_msg(msg, msg_len, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    mode_t old = umask((mode_t)(~mode & 0777)); /* the file is born with its final mode */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    umask(old);
    if (r != 0) {
        ttm__set_msg(msg, msg_len, "cannot bind %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    if (chmod(path, mode) != 0 || (gid != (gid_t)-1 && lchown(path, (uid_t)-1, gid) != 0) ||
        listen(fd, 128) != 0) {
        ttm__set_msg(msg, msg_len, "cannot listen on %s: %s", path, strerror(errno));
        unlink(path);
        close(fd);
        return -1;
    }
    return fd;
}

int ttm__listen_open(ttm_daemon *d, char *msg, size_t msg_len)
{
    int err = take_lock(d, msg, msg_len);
    if (err != TTM_OK)
        return err;
    err = probe_socket(d->cfg.socket_path, "--socket", msg, msg_len);
    if (err == TTM_OK)
        err = probe_socket(d->cfg.query_path, "--query-socket", msg, msg_len);
    if (err != TTM_OK)
        goto out_unlock;
    /* system mode: the group may connect (clients of every uid) and query (see everyone) */
    gid_t gid = d->cfg.system ? d->cfg.gid : (gid_t)-1;
    d->listen_fd = bind_listen(d->cfg.socket_path, d->cfg.system ? 0660 : 0600, gid, msg, msg_len);
    if (d->listen_fd < 0) {
        err = TTM_EIO;
        goto out_unlock;
    }
    d->query_fd = bind_listen(d->cfg.query_path, 0660, gid, msg, msg_len);
    if (d->query_fd < 0) {
        err = TTM_EIO;
        goto out_close_listen;
    }
    return TTM_OK;

out_close_listen:
    close(d->listen_fd);
    d->listen_fd = -1;
    unlink(d->cfg.socket_path);
out_unlock:
    close(d->lock_fd);
    d->lock_fd = -1;
    return err;
}

int ttm__listen_unix(const char *path, mode_t mode, const char *option, char *msg,
                     size_t msg_len)
{
    int err = probe_socket(path, option, msg, msg_len);
    if (err != TTM_OK)
        return err;
    int fd = bind_listen(path, mode, (gid_t)-1, msg, msg_len);
    return fd >= 0 ? fd : TTM_EIO;
}

void ttm__listen_close(ttm_daemon *d)
{
    if (d->listen_fd >= 0) {
        close(d->listen_fd);
        d->listen_fd = -1;
        unlink(d->cfg.socket_path);
    }
    if (d->query_fd >= 0) {
        close(d->query_fd);
        d->query_fd = -1;
        unlink(d->cfg.query_path);
    }
    if (d->lock_fd >= 0) {
        close(d->lock_fd); /* releases the lock */
        d->lock_fd = -1;
    }
}

int ttm__pidfile_write(const ttm_daemon *d, char *msg, size_t msg_len)
{
    if (d->cfg.pid_file[0] == '\0')
        return TTM_OK;
    int fd = ttm__file_create(d->cfg.pid_file, O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) {
        ttm__set_msg(msg, msg_len, "cannot write pid file %s: %s", d->cfg.pid_file,
                     file_error(errno));
        return TTM_EIO;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    ssize_t w = write(fd, buf, (size_t)n);
    int e = errno;
    close(fd);
    if (w != n) {
        ttm__set_msg(msg, msg_len, "cannot write pid file %s: %s", d->cfg.pid_file, strerror(e));
        unlink(d->cfg.pid_file);
        return TTM_EIO;
    }
    return TTM_OK;
}

void ttm__pidfile_remove(const ttm_daemon *d)
{
    if (d->cfg.pid_file[0] != '\0')
        unlink(d->cfg.pid_file);
}
