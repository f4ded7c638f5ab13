/*
 * paths.h — where the daemon's socket lives, computed in one place for the client library,
 * the daemon and the CLI.
 */
#ifndef TTM_COMMON_PATHS_H
#define TTM_COMMON_PATHS_H

#include <stddef.h>

/* Writes the daemon socket path into buf (len bytes): $TTMEM_SOCKET if set and non-empty,
 * else $XDG_RUNTIME_DIR/ttmem/ttmemd.sock, else /tmp/ttmem-$UID/ttmemd.sock. Creates no
 * directory. Returns 0, TTM_EINVAL (NULL buf) or TTM_ERANGE (the path does not fit in len
 * bytes, or is longer than a sockaddr_un can hold). */
int ttm__default_socket_path(char *buf, size_t len);

#endif /* TTM_COMMON_PATHS_H */
