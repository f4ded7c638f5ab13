/*
 * paths.c — the daemon socket's path, the checks of its directory and of the daemon behind it,
 * and files created without following links (paths.h).
 */
#include "common/paths.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "ttmem/ttmem.h"

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

static int put_path(char *buf, size_t len, int n)
{
    if (n < 0 || (size_t)n >= len || (size_t)n >= SUN_PATH_MAX) {
        buf[0] = '\0';
        return TTM_ERANGE;
    }
    return TTM_OK;
}

int ttm__default_socket_path(char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return TTM_EINVAL;
    const char *env = getenv("TTMEM_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (env != NULL && env[0] != '\0')
        n = snprintf(buf, len, "%s", env);
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(buf, len, "%s/ttmem/" TTM_SOCKET_NAME, xdg);
    else
        n = snprintf(buf, len, "/tmp/ttmem-%lu/" TTM_SOCKET_NAME, (unsigned long)getuid());
    return put_path(buf, len, n);
}

int ttm__system_dir(char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return TTM_EINVAL;
    const char *env = getenv("TTMEM_SYSTEM_DIR");
    int n = snprintf(buf, len, "%s", env != NULL && env[0] == '/' ? env : TTM_SYSTEM_DIR_DEFAULT);
    return put_path(buf, len, n);
}

int ttm__dir_check(const char *dir, bool system, char *msg, size_t msg_len)
{
    struct stat st;
    if (lstat(dir, &st) != 0) {
        int e = errno;
        ttm__set_msg(msg, msg_len, "cannot use directory %s: %s", dir, strerror(e));
        return e == ENOENT ? TTM_ENOENT : TTM_EIO;
    }
    if (S_ISLNK(st.st_mode)) {
        ttm__set_msg(msg, msg_len, "directory %s is a symbolic link: remove it", dir);
        return TTM_EPERM;
    }
    if (!S_ISDIR(st.st_mode)) {
        ttm__set_msg(msg, msg_len, "%s is not a directory: remove it", dir);
        return TTM_EPERM;
    }
    unsigned mode = (unsigned)(st.st_mode & 07777);
    if (system && (st.st_uid != 0 || (st.st_mode & 0022) != 0)) {
        ttm__set_msg(msg, msg_len,
                     "system directory %s must belong to root and be writable only by root "
                     "(it has uid %lu, mode %04o)",
                     dir, (unsigned long)st.st_uid, mode);
        return TTM_EPERM;
    }
    if (!system && (st.st_uid != getuid() || (st.st_mode & 0077) != 0)) {
        ttm__set_msg(msg, msg_len,
                     "directory %s must belong to uid %lu with mode 0700 (it has uid %lu, mode "
                     "%04o): someone else may have planted it; remove it",
                     dir, (unsigned long)getuid(), (unsigned long)st.st_uid, mode);
        return TTM_EPERM;
    }
    return TTM_OK;
}

/* The directory part of path (which has a '/'), into buf. */
static void dir_of(const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "%s", path);
    char *slash = strrchr(buf, '/');
    if (slash == buf)
        slash[1] = '\0'; /* "/x" lives in "/" */
    else if (slash != NULL)
        *slash = '\0';
}

/* True when path is a socket, or may be one that we cannot see (a directory closed to us:
 * connect() then tells the user why). */
static bool is_socket(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == EACCES;
    return S_ISSOCK(st.st_mode);
}

/* True unless the daemon that holds path's lock file is known to be gone (a socket left behind
 * by a killed daemon). The lock file is read, never locked: locking it, even briefly, could
 * make a daemon that starts meanwhile believe another one runs. */
static bool holder_alive(const char *sock)
{
    char lock[SUN_PATH_MAX + 8], buf[32] = {0};
    snprintf(lock, sizeof lock, "%s.lock", sock);
    int fd = open(lock, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno != ENOENT;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
    return pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

int ttm__socket_resolve(const char *chosen, char *buf, size_t len, bool *system, char *msg,
                        size_t msg_len)
{
    if (buf == NULL || len == 0)
        return TTM_EINVAL;
    ttm__set_msg(msg, msg_len, "%s", "");
    if (system != NULL)
        *system = false;
    const char *env = getenv("TTMEM_SOCKET");
    if (chosen == NULL && env != NULL && env[0] != '\0')
        chosen = env;
    if (chosen != NULL) {
        int err = put_path(buf, len, snprintf(buf, len, "%s", chosen));
        if (err != TTM_OK)
            ttm__set_msg(msg, msg_len, "socket path '%s' is too long for a Unix socket", chosen);
        return err;
    }
    char user[SUN_PATH_MAX], dir[SUN_PATH_MAX];
    int err = ttm__default_socket_path(user, sizeof user);
    if (err != TTM_OK) {
        ttm__set_msg(msg, msg_len, "the default socket path is too long; set TTMEM_SOCKET");
        return err;
    }
    dir_of(user, dir, sizeof dir);
    err = ttm__dir_check(dir, false, msg, msg_len);
    if (err == TTM_EPERM)
        return err;
    if (err == TTM_OK && is_socket(user) && holder_alive(user))
        return put_path(buf, len, snprintf(buf, len, "%s", user));

    char sys[SUN_PATH_MAX], sysdir[SUN_PATH_MAX];
    if (ttm__system_dir(sysdir, sizeof sysdir) == TTM_OK &&
        put_path(sys, sizeof sys, snprintf(sys, sizeof sys, "%s/" TTM_SOCKET_NAME, sysdir)) ==
            TTM_OK &&
        is_socket(sys)) {
        err = ttm__dir_check(sysdir, true, msg, msg_len);
        if (err != TTM_OK)
            return TTM_EPERM;
        if (system != NULL)
            *system = true;
        return put_path(buf, len, snprintf(buf, len, "%s", sys));
    }
    ttm__set_msg(msg, msg_len, "%s", "");
    return put_path(buf, len, snprintf(buf, len, "%s", user));
}

int ttm__peer_check(int fd, const char *path, char *msg, size_t msg_len)
{
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
        ttm__set_msg(msg, msg_len, "cannot tell who listens at %s (%s); not trusting it", path,
                     strerror(errno));
        return TTM_EPERM;
    }
    if (cred.uid == getuid() || cred.uid == geteuid() || cred.uid == 0)
        return TTM_OK;
    ttm__set_msg(msg, msg_len,
                 "refusing the daemon at %s: it runs as uid %lu (pid %ld), not as uid %lu or "
                 "root",
                 path, (unsigned long)cred.uid, (long)cred.pid, (unsigned long)getuid());
    return TTM_EPERM;
}

int ttm__file_create(const char *path, int flags, mode_t mode)
{
    int open_flags = (flags & (O_ACCMODE | O_APPEND)) | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
                     O_NONBLOCK | O_NOCTTY;
    int fd = open(path, open_flags, mode);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto out_close_fd;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
        errno = EPERM;
        goto out_close_fd;
    }
    if ((flags & O_TRUNC) && ftruncate(fd, 0) != 0)
        goto out_close_fd;
    return fd;

out_close_fd: {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}
}
