/*
 * paths.h — where the daemon's socket lives and whom to trust there, decided in one place for
 * the client library, the daemon and the CLI (docs/DAEMON.md, "Files and permissions";
 * docs/RELIABILITY.md, "Threat model").
 *
 * Two kinds of daemon: a per-user one (socket in a private 0700 directory owned by the user)
 * and the host-wide system one (`ttmemd --system`: socket in a root-owned directory, by default
 * /run/ttmem, that only root can write). A client trusts a socket only in such a directory, and
 * a daemon only if the kernel says (SO_PEERCRED) it runs as the client's own uid or as root.
 */
#ifndef TTM_COMMON_PATHS_H
#define TTM_COMMON_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TTM_SYSTEM_DIR_DEFAULT "/run/ttmem" /* $TTMEM_SYSTEM_DIR moves it (tests) */
#define TTM_SYSTEM_GROUP_DEFAULT "ttmem"
#define TTM_SOCKET_NAME "ttmemd.sock"

/* Writes the per-user daemon socket path into buf (len bytes): $TTMEM_SOCKET if set and
 * non-empty, else $XDG_RUNTIME_DIR/ttmem/ttmemd.sock, else /tmp/ttmem-$UID/ttmemd.sock.
 * Creates no directory and checks nothing. Returns 0, TTM_EINVAL (NULL buf) or TTM_ERANGE (the
 * path does not fit in len bytes, or is longer than a sockaddr_un can hold). */
int ttm__default_socket_path(char *buf, size_t len);

/* Writes the system daemon's directory ($TTMEM_SYSTEM_DIR if set to an absolute path, else
 * /run/ttmem) into buf. Returns 0, TTM_EINVAL or TTM_ERANGE. */
int ttm__system_dir(char *buf, size_t len);

/* Checks the directory that holds a daemon socket, without following a symbolic link: it must
 * be a directory, not a link; private (system false): owned by the real uid, mode 0700 (nothing
 * for group and others); system: owned by root and writable by nobody but root. On failure
 * fills msg with one line naming the directory and what is wrong, and returns TTM_EPERM (a
 * directory that is there and must not be trusted), TTM_ENOENT (missing) or TTM_EIO. */
int ttm__dir_check(const char *dir, bool system, char *msg, size_t msg_len);

/* Chooses the socket a client or the CLI talks to and checks its directory. chosen (a
 * --socket option) or else $TTMEM_SOCKET is used as given: the user picked it, only the peer
 * check applies. Otherwise the per-user socket, when its directory exists it must pass
 * ttm__dir_check(private); it is used when its socket file exists and the daemon that holds
 * its lock still runs. Else the system socket, when it exists and its directory passes
 * ttm__dir_check(system). Else the per-user path (nothing runs; connect() will say so).
 * Writes the path into buf (len bytes) and sets *system (may be NULL) when it is the system
 * daemon's. Returns 0; TTM_EPERM with msg set when the directory must not be trusted;
 * TTM_ERANGE when a path is too long. */
int ttm__socket_resolve(const char *chosen, char *buf, size_t len, bool *system, char *msg,
                        size_t msg_len);

/* Checks who listens at the other end of fd, a connected AF_UNIX socket to path: the kernel's
 * SO_PEERCRED uid must be the real or effective uid of this process or root. Returns 0, or
 * TTM_EPERM with one line in msg naming path and the uid found. */
int ttm__peer_check(int fd, const char *path, char *msg, size_t msg_len);

/* Opens path for writing (flags: O_TRUNC and O_APPEND are honoured), creating it with mode
 * when missing, and never through a symbolic link or into anything but a plain file of our own:
 * O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, then the opened file must be a regular file owned by the
 * effective uid with one link (a planted hard link is refused, not truncated). Returns the
 * descriptor, or -1 with errno set (ELOOP: a link; EPERM: not ours or not a plain file). */
int ttm__file_create(const char *path, int flags, mode_t mode);

#endif /* TTM_COMMON_PATHS_H */
