/*
 * listen.c — where ttmemd listens: the socket directory, the one-daemon-per-socket lock, the
 * main socket (0600) and the read-only query socket (0660), and the pid file.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/log.h"

static void set_msg(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_msg(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

/* Creates the socket's directory when missing (0700). An existing default directory must be
 * ours and closed to others, or a user could squat it before us. */
static int ensure_dir(const ttm_daemon *d, char *msg, size_t msg_len)
{
    char copy[TTM_SOCK_PATH_MAX];
    snprintf(copy, sizeof copy, "%s", d->cfg.socket_path);
    const char *dir = dirname(copy);
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT) {
            set_msg(msg, msg_len, "cannot use directory %s: %s", dir, strerror(errno));
            return TTM_EIO;
        }
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            set_msg(msg, msg_len, "cannot create directory %s: %s", dir, strerror(errno));
            return TTM_EIO;
        }
        if (stat(dir, &st) != 0) {
            set_msg(msg, msg_len, "cannot use directory %s: %s", dir, strerror(errno));
            return TTM_EIO;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        set_msg(msg, msg_len, "%s is not a directory", dir);
        return TTM_EIO;
    }
    if (d->cfg.default_socket && (st.st_uid != getuid() || (st.st_mode & 0077) != 0)) {
        set_msg(msg, msg_len,
                "directory %s must belong to uid %lu with mode 0700 (it has uid %lu, mode "
                "%03o): remove it, or use --socket PATH",
                dir, (unsigned long)getuid(), (unsigned long)st.st_uid,
                (unsigned)(st.st_mode & 0777));
        return TTM_EPERM;
    }
    return TTM_OK;
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
    int fd = open(d->cfg.lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_msg(msg, msg_len, "cannot open lock file %s: %s", d->cfg.lock_path,
                strerror(errno));
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
            set_msg(msg, msg_len,
                    "another ttmemd%s is already running on %s: stop it first, or use "
                    "--socket PATH",
                    who, d->cfg.socket_path);
            return TTM_EEXIST;
        }
        set_msg(msg, msg_len, "cannot lock %s: %s", d->cfg.lock_path, strerror(e));
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
        set_msg(msg, msg_len, "cannot use %s: %s", path, strerror(errno));
        return TTM_EIO;
    }
    if (!S_ISSOCK(st.st_mode)) {
        set_msg(msg, msg_len, "%s exists and is not a socket: remove it, or use %s PATH",
                path, option);
        return TTM_EIO;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_msg(msg, msg_len, "cannot create a socket: %s", strerror(errno));
        return TTM_EIO;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (r == 0) {
        set_msg(msg, msg_len,
                "another ttmemd is already listening on %s: stop it first, or use %s PATH",
                path, option);
        return TTM_EEXIST;
    }
    if (e != ECONNREFUSED && e != ENOENT) {
        set_msg(msg, msg_len, "cannot probe %s: %s", path, strerror(e));
        return TTM_EIO;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        set_msg(msg, msg_len, "cannot replace stale socket %s: %s", path, strerror(errno));
        return TTM_EIO;
    }
    TTM_LOG(INFO, "replaced stale socket %s (nothing listened on it)", path);
    return TTM_OK;
}

/* Binds a non-blocking listening socket at path with the given mode. Returns the fd or -1. */
static int bind_listen(const char *path, mode_t mode, char *msg, size_t msg_len)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_msg(msg, msg_len, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    mode_t old = umask((mode_t)(~mode & 0777)); /* the file is born with its final mode */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    umask(old);
    if (r != 0) {
        set_msg(msg, msg_len, "cannot bind %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    if (chmod(path, mode) != 0 || listen(fd, 128) != 0) {
        set_msg(msg, msg_len, "cannot listen on %s: %s", path, strerror(errno));
        unlink(path);
        close(fd);
        return -1;
    }
    return fd;
}

int ttm__listen_open(ttm_daemon *d, char *msg, size_t msg_len)
{
    int err = ensure_dir(d, msg, msg_len);
    if (err != TTM_OK)
        return err;
    err = take_lock(d, msg, msg_len);
    if (err != TTM_OK)
        return err;
    err = probe_socket(d->cfg.socket_path, "--socket", msg, msg_len);
    if (err == TTM_OK)
        err = probe_socket(d->cfg.query_path, "--query-socket", msg, msg_len);
    if (err != TTM_OK)
        goto out_unlock;
    d->listen_fd = bind_listen(d->cfg.socket_path, 0600, msg, msg_len);
    if (d->listen_fd < 0) {
        err = TTM_EIO;
        goto out_unlock;
    }
    d->query_fd = bind_listen(d->cfg.query_path, 0660, msg, msg_len);
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
    int fd = bind_listen(path, mode, msg, msg_len);
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
    int fd = open(d->cfg.pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        set_msg(msg, msg_len, "cannot write pid file %s: %s", d->cfg.pid_file, strerror(errno));
        return TTM_EIO;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    ssize_t w = write(fd, buf, (size_t)n);
    int e = errno;
    close(fd);
    if (w != n) {
        set_msg(msg, msg_len, "cannot write pid file %s: %s", d->cfg.pid_file, strerror(e));
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
