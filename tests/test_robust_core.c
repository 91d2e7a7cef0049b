/* test_robust_core.c: the shared defences of issue 16, tested directly: the strict integer
 * parser, checked size arithmetic, the regular-file opener (directories, FIFOs and devices are
 * refused without blocking), the atomic writer's temporary files (mkstemp, never through a
 * symlink), the symlink-safe tree remover and the run-directory lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/checked.h"
#include "core/parse.h"
#include "io/fsutil.h"
#include "test.h"

TEST(robust_parse_strict_integers) {
    int64_t v = 0;
    const char *bad[] = {"", "abc", "2x", " 2", "2 ", "+2", "--2", "-", "0x10", "1e3",
                         "9223372036854775808", "-9223372036854775809", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        EXPECT(!ttt_parse_i64_ok(bad[i], INT64_MIN, INT64_MAX, &v), "accepted '%s'", bad[i]);
    EXPECT(!ttt_parse_i64_ok(NULL, 0, 1, &v), "accepted NULL");
    EXPECT(ttt_parse_i64_ok("9223372036854775807", INT64_MIN, INT64_MAX, &v) && v == INT64_MAX,
           "INT64_MAX");
    EXPECT(ttt_parse_i64_ok("-9223372036854775808", INT64_MIN, INT64_MAX, &v) && v == INT64_MIN,
           "INT64_MIN");
    EXPECT(ttt_parse_i64_ok("-17", -20, 0, &v) && v == -17, "-17");
    EXPECT(!ttt_parse_i64_ok("-1", 0, 10, &v), "range lo");
    EXPECT(!ttt_parse_i64_ok("11", 0, 10, &v), "range hi");
    uint64_t u = 0;
    EXPECT(ttt_parse_u64_ok("18446744073709551615", &u) && u == UINT64_MAX, "UINT64_MAX");
    EXPECT(!ttt_parse_u64_ok("18446744073709551616", &u), "UINT64_MAX+1");
    EXPECT(!ttt_parse_u64_ok("-1", &u), "-1 as u64");
    EXPECT(ttt_parse_i64("2x", 0, 5, &v, "step") != TTT_OK &&
               strstr(ttt_last_error(), "step") && strstr(ttt_last_error(), "'2x'"),
           "message: %s", ttt_last_error());
    return TEST_PASS;
}

TEST(robust_checked_arithmetic) {
    int64_t r;
    EXPECT(ttt_i64_mul(&r, 3, 4, "x") == TTT_OK && r == 12, "3*4");
    EXPECT(ttt_i64_mul(&r, INT64_MAX, 2, "width x depth") != TTT_OK &&
               strstr(ttt_last_error(), "width x depth"),
           "overflow not caught: %s", ttt_last_error());
    EXPECT(ttt_i64_mul(&r, -1, 2, "x") != TTT_OK, "negative");
    EXPECT(ttt_i64_add(&r, INT64_MAX, 1, "x") != TTT_OK, "add overflow");
    int64_t dims[4] = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
    EXPECT(ttt_i64_prod(&r, dims, 4, "shape") != TTT_OK, "2^80 accepted");
    EXPECT(ttt_i64_prod(&r, dims, 3, "shape") == TTT_OK && r == (int64_t)1 << 60, "2^60");
    EXPECT(ttt_i64_prod(&r, dims, 0, "shape") == TTT_OK && r == 1, "empty product");
    size_t s;
    EXPECT(!ttt_sz_mul_ok(SIZE_MAX / 2 + 1, 2, &s), "size_t overflow");
    return TEST_PASS;
}

TEST(robust_open_regular_refuses_special_files) {
    const char *dir = tmp_path("rc_dir");
    const char *fifo = tmp_path("rc_fifo");
    char *out;
    run_cmd(&out, "rm -rf %s %s && mkdir -p %s", dir, fifo, dir);
    free(out);
    EXPECT(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    char *buf;
    size_t n;
    /* a FIFO with no writer: must return at once with an error, not block */
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        ttt_status s = ttt_read_file(fifo, 100, &buf, &n);
        _exit(s != TTT_OK && strstr(ttt_last_error(), "FIFO") ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "FIFO: hung or accepted (status %d)", st);
    EXPECT(ttt_read_file(dir, 100, &buf, &n) != TTT_OK && strstr(ttt_last_error(), "directory"),
           "directory: %s", ttt_last_error());
    EXPECT(!strstr(ttt_last_error(), "9223372036854775807"), "%s", ttt_last_error());
    EXPECT(ttt_read_file("/dev/zero", 100, &buf, &n) != TTT_OK &&
               strstr(ttt_last_error(), "character device"),
           "/dev/zero: %s", ttt_last_error());
    const char *f = tmp_path("rc_file");
    write_whole(f, "hello", 5);
    EXPECT(ttt_read_file(f, 100, &buf, &n) == TTT_OK && n == 5 && !memcmp(buf, "hello", 6),
           "regular file");
    free(buf);
    EXPECT(ttt_read_file(f, 4, &buf, &n) != TTT_OK, "max_bytes");
    return TEST_PASS;
}

TEST(robust_atomic_writer_temp_files) {
    const char *dir = tmp_path("rc_atomic");
    const char *victim = tmp_path("rc_victim");
    char *out;
    run_cmd(&out, "rm -rf %s && mkdir -p %s", dir, dir);
    free(out);
    write_whole(victim, "keep", 4);
    /* the old predictable names, planted as symlinks to a victim, must not be written through */
    char target[1100], link[1200];
    snprintf(target, sizeof target, "%s/out.txt", dir);
    snprintf(link, sizeof link, "%s.tmp.%ld", target, (long)getpid());
    EXPECT(symlink(victim, link) == 0, "symlink");
    mode_t um = umask(022);
    EXPECT(ttt_atomic_write_file(target, "data", 4) == TTT_OK, "write: %s", ttt_last_error());
    umask(um);
    char *v = read_whole(victim, NULL);
    EXPECT(v && !strcmp(v, "keep"), "victim changed: '%s'", v ? v : "(gone)");
    free(v);
    char *t = read_whole(target, NULL);
    EXPECT(t && !strcmp(t, "data"), "target: '%s'", t ? t : "(none)");
    free(t);
    struct stat st;
    EXPECT(stat(target, &st) == 0 && (st.st_mode & 0777) == 0644, "mode %o, expected 644",
           st.st_mode & 0777);
    /* nothing left behind but the target and the planted link */
    EXPECT(run_cmd(&out, "ls -A %s | wc -l", dir) == 0 && atoi(out) == 2, "leftovers: %s", out);
    free(out);
    /* a directory that does not exist: an error naming the target */
    EXPECT(ttt_atomic_write_file(tmp_path("rc_nodir/x/y"), "d", 1) != TTT_OK &&
               strstr(ttt_last_error(), "rc_nodir"),
           "%s", ttt_last_error());
    return TEST_PASS;
}

TEST(robust_remove_tree_never_follows_links) {
    const char *root = tmp_path("rc_rm");
    char *out;
    run_cmd(&out,
            "rm -rf %s && mkdir -p %s/outside/sub %s/victim/tree && touch %s/outside/a "
            "%s/outside/sub/b && mkdir -p %s/tree/d && touch %s/tree/d/f && "
            "ln -s ../outside %s/tree/linkdir && ln -s ../../outside/a %s/tree/d/linkfile && "
            "ln -s %s/victim %s/linktop",
            root, root, root, root, root, root, root, root, root, root, root);
    free(out);
    char p[1100];
    snprintf(p, sizeof p, "%s/tree", root);
    EXPECT(ttt_remove_tree(p) == TTT_OK, "remove: %s", ttt_last_error());
    EXPECT(access(p, F_OK) != 0, "tree still there");
    EXPECT(run_cmd(&out, "test -f %s/outside/a && test -f %s/outside/sub/b", root, root) == 0,
           "files outside the tree were deleted");
    free(out);
    /* a top-level symlink is removed itself; its target's contents stay */
    snprintf(p, sizeof p, "%s/linktop", root);
    EXPECT(ttt_remove_tree(p) == TTT_OK, "remove link: %s", ttt_last_error());
    EXPECT(run_cmd(&out, "test -d %s/victim/tree && test ! -e %s/linktop", root, root) == 0,
           "link target touched");
    free(out);
    snprintf(p, sizeof p, "%s/missing", root);
    EXPECT(ttt_remove_tree(p) == TTT_OK, "missing path should be fine");
    return TEST_PASS;
}

TEST(robust_dir_lock_names_holder) {
    const char *dir = tmp_path("rc_lock");
    char *out;
    run_cmd(&out, "rm -rf %s && mkdir -p %s", dir, dir);
    free(out);
    int fd;
    EXPECT(ttt_dir_lock(dir, &fd) == TTT_OK, "lock: %s", ttt_last_error());
    char want[64];
    snprintf(want, sizeof want, "pid %ld", (long)getpid());
    pid_t pid = fork();
    if (pid == 0) {
        int fd2;
        ttt_status s = ttt_dir_lock(dir, &fd2);
        _exit(s != TTT_OK && strstr(ttt_last_error(), want) ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second locker was not refused by pid");
    ttt_dir_unlock(fd);
    pid = fork();
    if (pid == 0) {
        int fd2;
        _exit(ttt_dir_lock(dir, &fd2) == TTT_OK ? 0 : 1);
    }
    waitpid(pid, &st, 0);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "lock not released");
    return TEST_PASS;
}
