/* notify_listen PATH: the receiving end of systemd's readiness protocol,
 * for tests. Binds a Unix datagram socket at PATH (what NOTIFY_SOCKET
 * names), and prints each notification as one line, "pid=N FIELD=VALUE
 * FIELD=VALUE ...", with the sender's pid from its credentials as systemd
 * reads them (SO_PASSCRED). Exits 0 on SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void s_on_term(int sig)
{
    _exit(0);
}

int main(int argc, char **argv)
{
    signal(SIGTERM, s_on_term);
    if (argc != 2) {
        fprintf(stderr, "usage: notify_listen PATH\n");
        return 2;
    }
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "notify_listen: path too long: %s\n", argv[1]);
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int on = 1;
    unlink(argv[1]);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0
        || bind(fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        fprintf(stderr, "notify_listen: cannot bind %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char data[4096];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    for (;;) {
        struct iovec iov = { data, sizeof data - 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                              .msg_controllen = sizeof control.buf };
        ssize_t n = recvmsg(fd, &msg, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        data[n] = '\0';
        for (ssize_t i = 0; i < n; i++)
            if (data[i] == '\n')
                data[i] = ' ';
        long pid = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                struct ucred cred;
                memcpy(&cred, CMSG_DATA(c), sizeof cred);
                pid = (long) cred.pid;
            }
        printf("pid=%ld %s\n", pid, data);
    }
}
