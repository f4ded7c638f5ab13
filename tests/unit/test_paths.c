/*
 * test_paths.c — unit tests of the socket directory checks, the daemon resolver, the peer check
 * and link-proof file creation (src/common/paths.h), in a temporary directory of this test.
 * The attacks by other uids run against real processes in tests/integration/it_trust.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/paths.h"
#include "ttmem/ttmem.h"

static char base[64];

static int setup(void **state)
{
    (void)state;
    snprintf(base, sizeof base, "/tmp/ttmem-paths.XXXXXX");
    return mkdtemp(base) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *at(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", base, name);
    return buf;
}

static void test_dir_check(void **state)
{
    (void)state;
    char d[128], l[128], f[128], msg[300];
    assert_int_equal(mkdir(at(d, sizeof d, "priv"), 0700), 0);
    assert_int_equal(ttm__dir_check(d, false, msg, sizeof msg), TTM_OK);
    assert_int_equal(chmod(d, 0750), 0);
    assert_int_equal(ttm__dir_check(d, false, msg, sizeof msg), TTM_EPERM);
    assert_non_null(strstr(msg, "mode 0750"));
    assert_int_equal(chmod(d, 0700), 0);
    assert_int_equal(symlink(d, at(l, sizeof l, "link")), 0);
    assert_int_equal(ttm__dir_check(l, false, msg, sizeof msg), TTM_EPERM);
    assert_non_null(strstr(msg, "symbolic link"));
    assert_int_equal(ttm__dir_check(at(f, sizeof f, "missing"), false, msg, sizeof msg),
                     TTM_ENOENT);
    int fd = open(at(f, sizeof f, "plain"), O_WRONLY | O_CREAT, 0600);
    close(fd);
    assert_int_equal(ttm__dir_check(f, false, msg, sizeof msg), TTM_EPERM);
    /* the system directory: root's, writable by root only */
    assert_int_equal(chmod(d, 0755), 0);
    assert_int_equal(ttm__dir_check(d, true, msg, sizeof msg), geteuid() == 0 ? TTM_OK : TTM_EPERM);
    assert_int_equal(chmod(d, 0775), 0);
    assert_int_equal(ttm__dir_check(d, true, msg, sizeof msg), TTM_EPERM);
    assert_int_equal(chmod(d, 0700), 0);
}

static void test_file_create(void **state)
{
    (void)state;
    char f[128], l[128], h[128], p[128];
    int fd = ttm__file_create(at(f, sizeof f, "log"), O_WRONLY | O_APPEND, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    fd = ttm__file_create(f, O_WRONLY | O_TRUNC, 0600);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    close(fd);
    assert_int_equal(write(fd = open(f, O_WRONLY), "keep", 4), 4);
    close(fd);
    assert_int_equal(symlink(f, at(l, sizeof l, "sym")), 0);
    assert_int_equal(ttm__file_create(l, O_WRONLY | O_TRUNC, 0600), -1);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(link(f, at(h, sizeof h, "hard")), 0);
    assert_int_equal(ttm__file_create(h, O_WRONLY | O_TRUNC, 0600), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_size, 4); /* neither link truncated it */
    assert_int_equal(mkfifo(at(p, sizeof p, "fifo"), 0600), 0);
    assert_int_equal(ttm__file_create(p, O_WRONLY, 0600), -1); /* no reader: never blocks */
}

/* A socket bound at path (listening when listen_too), left open in *fd. */
static void bind_at(const char *path, bool listen_too, int *fd)
{
    *fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof sa), 0);
    if (listen_too)
        assert_int_equal(listen(*fd, 4), 0);
}

static void write_pid(const char *sock, long pid)
{
    char lock[PATH_MAX];
    assert_true((size_t)snprintf(lock, sizeof lock, "%s.lock", sock) < sizeof lock);
    FILE *f = fopen(lock, "w");
    assert_non_null(f);
    fprintf(f, "%ld\n", pid);
    fclose(f);
}

static void test_resolve(void **state)
{
    (void)state;
    char xdg[128], udir[160], usock[180], sys[128], ssock[160], buf[108], msg[300];
    bool system;
    unsetenv("TTMEM_SOCKET");
    setenv("XDG_RUNTIME_DIR", at(xdg, sizeof xdg, "xdg"), 1);
    setenv("TTMEM_SYSTEM_DIR", at(sys, sizeof sys, "sys"), 1);
    snprintf(udir, sizeof udir, "%s/ttmem", xdg);
    snprintf(usock, sizeof usock, "%s/ttmemd.sock", udir);
    snprintf(ssock, sizeof ssock, "%s/ttmemd.sock", sys);

    /* nothing anywhere: the per-user path, for the "no daemon" line */
    assert_int_equal(ttm__socket_resolve(NULL, buf, sizeof buf, &system, msg, sizeof msg),
                     TTM_OK);
    assert_string_equal(buf, usock);
    assert_false(system);
    /* a chosen path is used as given */
    assert_int_equal(ttm__socket_resolve("/x/y.sock", buf, sizeof buf, &system, msg, sizeof msg),
                     TTM_OK);
    assert_string_equal(buf, "/x/y.sock");
    setenv("TTMEM_SOCKET", "/env.sock", 1);
    assert_int_equal(ttm__socket_resolve(NULL, buf, sizeof buf, NULL, msg, sizeof msg), TTM_OK);
    assert_string_equal(buf, "/env.sock");
    unsetenv("TTMEM_SOCKET");

    /* the system daemon when no per-user one runs */
    assert_int_equal(mkdir(sys, 0755), 0);
    int sfd;
    bind_at(ssock, true, &sfd);
    assert_int_equal(ttm__socket_resolve(NULL, buf, sizeof buf, &system, msg, sizeof msg),
                     geteuid() == 0 ? TTM_OK : TTM_EPERM); /* root's directory only */
    if (geteuid() == 0) {
        assert_string_equal(buf, ssock);
        assert_true(system);
    }
    /* a per-user socket whose daemon is gone does not hide it */
    assert_int_equal(mkdir(xdg, 0700), 0);
    assert_int_equal(mkdir(udir, 0700), 0);
    int ufd;
    bind_at(usock, false, &ufd);
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    write_pid(usock, dead);
    assert_int_equal(ttm__socket_resolve(NULL, buf, sizeof buf, &system, msg, sizeof msg),
                     geteuid() == 0 ? TTM_OK : TTM_EPERM);
    if (geteuid() == 0)
        assert_string_equal(buf, ssock);
    /* a live per-user daemon comes first */
    write_pid(usock, getpid());
    assert_int_equal(ttm__socket_resolve(NULL, buf, sizeof buf, &system, msg, sizeof msg),
                     TTM_OK);
    assert_string_equal(buf, usock);
    assert_false(system);
    /* a per-user directory open to others is refused, not skipped */
    assert_int_equal(chmod(udir, 0777), 0);
    assert_int_equal(ttm__socket_resolve(NULL, buf, sizeof buf, &system, msg, sizeof msg),
                     TTM_EPERM);
    assert_non_null(strstr(msg, "mode 0777"));
    assert_int_equal(chmod(udir, 0700), 0);
    close(ufd);
    close(sfd);
    unsetenv("XDG_RUNTIME_DIR");
    unsetenv("TTMEM_SYSTEM_DIR");
}

static void test_peer_check(void **state)
{
    (void)state;
    int sv[2];
    char msg[300];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(ttm__peer_check(sv[0], "pair", msg, sizeof msg), TTM_OK);
    close(sv[0]);
    close(sv[1]);
    int fd = open("/dev/null", O_RDONLY); /* not a socket: nobody to trust */
    assert_int_equal(ttm__peer_check(fd, "/dev/null", msg, sizeof msg), TTM_EPERM);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir_check),
        cmocka_unit_test(test_file_create),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_peer_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
