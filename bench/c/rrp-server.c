/* rrp-server: a minimal RRP/1 server in C, the machine's practical limit in `make bench`.
 *
 * One thread, one epoll set: UDP in batches with recvmmsg/sendmmsg, TCP with non-blocking sockets and
 * per-connection buffers. It answers NOOP, ECHO and INCREMENT and judges only what it must to stay in sync
 * (magic, REPLY flag, version, size); it has none of the reference server's protections (deadlines,
 * connection limits, rate limiting, duplicate cache) and is not meant to face untrusted peers.
 *
 * UDP replies use the same generic segmentation offload (UDP GSO, Linux 4.18+) as the reference server
 * (python-ref/src/rrp/udp_replies.py), so that this server stays the machine's limit: consecutive replies of a
 * batch to the same address with the same length go out as one message carrying a UDP_SEGMENT control message,
 * and the kernel cuts it back into the separate datagrams the client would have received one by one.
 *
 * Usage: rrp-server [--udp HOST:PORT] [--tcp HOST:PORT] [--no-gso]
 * --no-gso, or RRP_C_SERVER_GSO=0 in the environment, sends every UDP reply as its own datagram, so both ways
 * can be measured (`make bench` starts its servers with its own environment: RRP_C_SERVER_GSO=0 make bench).
 * Prints "listening udp HOST:PORT" / "listening tcp HOST:PORT" once bound (port 0 picks a free port), and
 * "rrp-server: udp gso on|off (why)" on standard error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rrp_wire.h"

#define BATCH 64
#define TCP_MAX_PAYLOAD (1u << 20)
#define RBUF (64 * 1024)
#define UDP_LISTENER UINT32_MAX
#define TCP_LISTENER (UINT32_MAX - 1)

/* UDP GSO limits, the reference server's (python-ref/src/rrp/udp_replies.py). At most 64 segments per send: the
 * kernel's UDP_MAX_SEGMENTS on older kernels (newer ones take 128). At most 1232 bytes per segment: IPv6's
 * minimum MTU (1280) less the IPv6 and UDP headers, so no segment ever needs IP fragmentation, which GSO
 * refuses. And at most one datagram's worth of bytes in all, the most one UDP send may carry. */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_SEGMENT_SIZE (1280 - 40 - 8)
#define GSO_MAX_BYTES RRP_MAX_UDP_DATAGRAM
/* Segmented sends refused in a row (each while a plain send to the same place went out) before GSO is switched
 * off: one client's route (an IPsec policy, a forged tiny path MTU) must not switch it off for everyone. */
#define GSO_REFUSALS_BEFORE_OFF 8
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* <linux/udp.h>; older C libraries lack it */
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

struct conn {
    int fd;
    uint8_t *rbuf; /* grows to hold one whole request when a payload is larger than RBUF */
    size_t rcap, rlen;
    uint8_t *wbuf;
    size_t wcap, wlen;
    int want_out;
};

static uint64_t counter;
static int epfd;

/* Build the reply to a request whose header is `h` and whose payload is `payload`; returns its length
 * (0 when the request gets no reply) and sets *close_after when the connection must end. */
static size_t build_reply(const uint8_t *h, const uint8_t *payload, uint32_t size, uint8_t *out, int *close_after) {
    uint16_t op = rrp_get16(h + RRP_OFF_OPERATION);
    uint64_t id = rrp_get64(h + RRP_OFF_REQUEST_ID);
    *close_after = 0;
    if (!rrp_magic_ok(h) || (h[RRP_OFF_FLAGS] & RRP_FLAG_REPLY)) {
        *close_after = 1;
        return 0;
    }
    if (h[RRP_OFF_VERSION] != RRP_VERSION) {
        *close_after = 1;
        rrp_put_header(out, RRP_FLAG_REPLY, op, RRP_RESULT_UNSUPPORTED_VERSION, id, 0);
        return RRP_HEADER_SIZE;
    }
    switch (op) {
    case RRP_OP_NOOP: rrp_put_header(out, RRP_FLAG_REPLY, op, RRP_RESULT_OK, id, 0); return RRP_HEADER_SIZE;
    case RRP_OP_ECHO:
        rrp_put_header(out, RRP_FLAG_REPLY, op, RRP_RESULT_OK, id, size);
        memcpy(out + RRP_HEADER_SIZE, payload, size);
        return RRP_HEADER_SIZE + size;
    case RRP_OP_INCREMENT:
        rrp_put_header(out, RRP_FLAG_REPLY, op, RRP_RESULT_OK, id, RRP_COUNTER_SIZE);
        rrp_put64(out + RRP_HEADER_SIZE, ++counter);
        return RRP_HEADER_SIZE + RRP_COUNTER_SIZE;
    default:
        rrp_put_header(out, RRP_FLAG_REPLY, op, RRP_RESULT_UNKNOWN_OPERATION, id, 0);
        return RRP_HEADER_SIZE;
    }
}

static uint8_t udp_rx[BATCH][RRP_MAX_UDP_DATAGRAM];
static uint8_t udp_tx[BATCH][RRP_MAX_UDP_DATAGRAM];
static struct sockaddr_storage udp_peer[BATCH];
static struct mmsghdr rx_msgs[BATCH];
static struct iovec rx_iov[BATCH], tx_iov[BATCH];
/* tx_msgs holds one plain message per reply; with GSO, gso_msgs holds the batch's messages, each one reply or
 * a run of them (its iovecs are the run's entries of tx_iov) with a UDP_SEGMENT control message. */
static struct mmsghdr tx_msgs[BATCH], gso_msgs[BATCH];
static unsigned gso_first[BATCH], gso_count[BATCH]; /* which replies (indexes into tx_msgs) each one carries */
static union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
} gso_ctl[BATCH];
static int gso_on;
static unsigned gso_refusals; /* segmented sends refused since the last one that went out */

/* Whether the kernel knows UDP_SEGMENT. A kernel before 4.18 does not refuse the control message, it ignores it
 * and sends a run as one merged datagram, so GSO is never used without this probe answering. */
static int kernel_segments(int fd) {
    int size;
    socklen_t len = sizeof size;
    return getsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, &len) == 0;
}

/* Whether two peers (as recvmmsg filled them in) are the same address and port. */
static int same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return 0;
}

/* Send msgs[0..n) with sendmmsg; returns how many went out. A message the kernel refuses is skipped rather than
 * dropping the rest of the batch behind it (UDP promises no delivery: a full socket buffer loses that reply, as a
 * network would). With refused_errno != NULL, sending stops at the first refused message instead: its errno is
 * stored there, and the count returned is also that message's index. */
static unsigned send_all(int fd, struct mmsghdr *msgs, unsigned n, int *refused_errno) {
    unsigned next = 0, went_out = 0;
    while (next < n) {
        int sent = sendmmsg(fd, msgs + next, n - next, MSG_DONTWAIT);
        if (sent > 0) {
            next += (unsigned)sent;
            went_out += (unsigned)sent;
            continue;
        }
        if (errno == EINTR) continue;
        if (refused_errno) {
            *refused_errno = errno;
            break;
        }
        next++; /* msgs[next] is lost; go on with the one after it */
    }
    return went_out;
}

/* Whether errno says the kernel (or the device) cannot segment, rather than that the peer cannot be reached. */
static int gso_refusal(int err) {
    return err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP;
}

/* Send the batch's `out` replies (tx_msgs/tx_iov), runs of them segmented. */
static void send_replies(int fd, unsigned out) {
    if (!gso_on || out == 1) {
        send_all(fd, tx_msgs, out, NULL);
        return;
    }
    unsigned nmsgs = 0;
    for (unsigned start = 0, end; start < out; start = end) {
        const struct sockaddr_storage *peer = tx_msgs[start].msg_hdr.msg_name;
        size_t size = tx_iov[start].iov_len;
        unsigned limit = out - start;
        if (size > GSO_MAX_SEGMENT_SIZE) limit = 1;
        if (limit > GSO_MAX_SEGMENTS) limit = GSO_MAX_SEGMENTS;
        if (limit > GSO_MAX_BYTES / size) limit = GSO_MAX_BYTES / size;
        end = start + 1;
        while (end - start < limit && tx_iov[end].iov_len == size &&
               same_peer(tx_msgs[end].msg_hdr.msg_name, peer))
            end++;
        struct msghdr *m = &gso_msgs[nmsgs].msg_hdr;
        *m = tx_msgs[start].msg_hdr; /* the peer and the first reply's iovec */
        m->msg_iovlen = end - start; /* the run's iovecs follow each other in tx_iov */
        if (end - start > 1) {
            m->msg_control = gso_ctl[nmsgs].buf;
            m->msg_controllen = sizeof gso_ctl[nmsgs].buf;
            struct cmsghdr *cm = CMSG_FIRSTHDR(m);
            cm->cmsg_level = SOL_UDP;
            cm->cmsg_type = UDP_SEGMENT;
            cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t segment = (uint16_t)size;
            memcpy(CMSG_DATA(cm), &segment, sizeof segment);
        }
        gso_first[nmsgs] = start;
        gso_count[nmsgs] = end - start;
        nmsgs++;
    }
    unsigned done = 0;
    while (done < nmsgs) {
        int err = 0;
        unsigned sent = send_all(fd, gso_msgs + done, nmsgs - done, &err);
        for (unsigned k = done; k < done + sent; k++)
            if (gso_count[k] > 1) gso_refusals = 0; /* a segmented send went out: the device can segment */
        done += sent;
        if (done == nmsgs) break;
        /* gso_msgs[done] was refused: send its replies one by one; if one of them goes out to the same peer,
         * segmenting was what the kernel refused. */
        unsigned count = gso_count[done];
        unsigned lone = count > 1 ? send_all(fd, tx_msgs + gso_first[done], count, NULL) : 0;
        if (count > 1 && gso_refusal(err) && lone > 0 && ++gso_refusals >= GSO_REFUSALS_BEFORE_OFF) {
            gso_on = 0;
            fprintf(stderr, "rrp-server: udp gso off (the kernel refused %d segmented sends in a row: %s)\n",
                    GSO_REFUSALS_BEFORE_OFF, strerror(err));
            unsigned rest = gso_first[done] + count; /* the batch's remaining replies, plain from now on */
            send_all(fd, tx_msgs + rest, out - rest, NULL);
            return;
        }
        done++;
    }
}

static void serve_udp(int fd) {
    for (;;) {
        for (int i = 0; i < BATCH; i++) rx_msgs[i].msg_hdr.msg_namelen = sizeof udp_peer[i];
        int n = recvmmsg(fd, rx_msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        unsigned out = 0;
        for (int i = 0; i < n; i++) {
            size_t len = rx_msgs[i].msg_len;
            if (len < RRP_HEADER_SIZE) continue;
            uint32_t size = rrp_get32(udp_rx[i] + RRP_OFF_SIZE);
            int close_after;
            size_t rlen;
            if (len != RRP_HEADER_SIZE + size) {
                rrp_put_header(udp_tx[out], RRP_FLAG_REPLY, rrp_get16(udp_rx[i] + RRP_OFF_OPERATION),
                               RRP_RESULT_SIZE_MISMATCH, rrp_get64(udp_rx[i] + RRP_OFF_REQUEST_ID), 0);
                rlen = RRP_HEADER_SIZE;
            } else {
                rlen = build_reply(udp_rx[i], udp_rx[i] + RRP_HEADER_SIZE, size, udp_tx[out], &close_after);
            }
            if (!rlen) continue;
            tx_iov[out].iov_len = rlen;
            tx_msgs[out].msg_hdr.msg_name = &udp_peer[i];
            tx_msgs[out].msg_hdr.msg_namelen = rx_msgs[i].msg_hdr.msg_namelen;
            out++;
        }
        if (out) send_replies(fd, out);
        if (n < BATCH) return;
    }
}

static void drop(struct conn *c) {
    close(c->fd); /* closing removes it from the epoll set */
    free(c->rbuf);
    free(c->wbuf);
    free(c);
}

static int reserve(uint8_t **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap : RBUF;
    while (cap2 < need) cap2 *= 2;
    uint8_t *p = realloc(*buf, cap2);
    if (!p) return -1;
    *buf = p;
    *cap = cap2;
    return 0;
}

/* Write what is queued; returns -1 when the connection is gone. */
static int flush_conn(struct conn *c) {
    size_t off = 0;
    while (off < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + off, c->wlen - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) off += (size_t)n;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        else return -1;
    }
    memmove(c->wbuf, c->wbuf + off, c->wlen - off);
    c->wlen -= off;
    int want = c->wlen > 0;
    if (want != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
    return 0;
}

static void serve_tcp(struct conn *c, uint32_t events) {
    if (events & EPOLLIN) {
        for (;;) {
            /* Room for at least a quarter buffer more; a large request grows the buffer to fit it whole. */
            if (c->rcap - c->rlen < RBUF / 4 && reserve(&c->rbuf, &c->rcap, c->rlen + RBUF) != 0) {
                drop(c);
                return;
            }
            size_t space = c->rcap - c->rlen;
            ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) { drop(c); return; }
            if (n < 0) break;
            c->rlen += (size_t)n;
            size_t off = 0;
            while (c->rlen - off >= RRP_HEADER_SIZE) {
                const uint8_t *h = c->rbuf + off;
                uint32_t size = rrp_get32(h + RRP_OFF_SIZE);
                int close_after;
                if (size > TCP_MAX_PAYLOAD) {
                    if (reserve(&c->wbuf, &c->wcap, c->wlen + RRP_HEADER_SIZE) != 0) { drop(c); return; }
                    rrp_put_header(c->wbuf + c->wlen, RRP_FLAG_REPLY, rrp_get16(h + RRP_OFF_OPERATION),
                                   RRP_RESULT_TOO_LARGE, rrp_get64(h + RRP_OFF_REQUEST_ID), 0);
                    c->wlen += RRP_HEADER_SIZE;
                    flush_conn(c);
                    { drop(c); return; }
                }
                if (c->rlen - off < RRP_HEADER_SIZE + size) break;
                if (reserve(&c->wbuf, &c->wcap, c->wlen + RRP_HEADER_SIZE + size + RRP_COUNTER_SIZE) != 0)
                    { drop(c); return; }
                c->wlen += build_reply(h, h + RRP_HEADER_SIZE, size, c->wbuf + c->wlen, &close_after);
                off += RRP_HEADER_SIZE + size;
                if (close_after) {
                    flush_conn(c);
                    { drop(c); return; }
                }
            }
            memmove(c->rbuf, c->rbuf + off, c->rlen - off);
            c->rlen -= off;
            if ((size_t)n < space) break;
        }
    }
    if (flush_conn(c) != 0) drop(c);
}

static int bind_listener(const char *spec, int type) {
    struct sockaddr_storage addr;
    socklen_t len;
    if (rrp_parse_addr(spec, &addr, &len) != 0) {
        fprintf(stderr, "rrp-server: '%s' is not HOST:PORT with a numeric IPv4 or [IPv6] host\n", spec);
        exit(2);
    }
    int fd = socket(addr.ss_family, type | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, len) != 0 || (type == SOCK_STREAM && listen(fd, 4096) != 0)) {
        fprintf(stderr, "rrp-server: cannot listen on %s: %s\n", spec, strerror(errno));
        exit(3);
    }
    len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    char host[INET6_ADDRSTRLEN];
    int port;
    if (addr.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, host, sizeof host);
        port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
        printf("listening %s %s:%d\n", type == SOCK_DGRAM ? "udp" : "tcp", host, port);
    } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, host, sizeof host);
        port = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
        printf("listening %s [%s]:%d\n", type == SOCK_DGRAM ? "udp" : "tcp", host, port);
    }
    fflush(stdout);
    return fd;
}

static const char USAGE[] = "usage: rrp-server [--udp HOST:PORT] [--tcp HOST:PORT] [--no-gso]\n";

int main(int argc, char **argv) {
    static const struct option longs[] = {{"udp", required_argument, 0, 'U'},
                                          {"tcp", required_argument, 0, 'T'},
                                          {"no-gso", no_argument, 0, 'G'},
                                          {0, 0, 0, 0}};
    const char *udp = NULL, *tcp = NULL;
    const char *env_gso = getenv("RRP_C_SERVER_GSO");
    int want_gso = !(env_gso && strcmp(env_gso, "0") == 0);
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (ch == 'U') udp = optarg;
        else if (ch == 'T') tcp = optarg;
        else if (ch == 'G') want_gso = 0;
        else {
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if ((!udp && !tcp) || optind != argc) {
        fputs(USAGE, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < BATCH; i++) {
        rx_iov[i] = (struct iovec){.iov_base = udp_rx[i], .iov_len = sizeof udp_rx[i]};
        rx_msgs[i].msg_hdr = (struct msghdr){.msg_name = &udp_peer[i], .msg_iov = &rx_iov[i], .msg_iovlen = 1};
        tx_iov[i] = (struct iovec){.iov_base = udp_tx[i]};
        tx_msgs[i].msg_hdr = (struct msghdr){.msg_iov = &tx_iov[i], .msg_iovlen = 1};
    }
    epfd = epoll_create1(0);
    int ufd = -1, tfd = -1;
    if (udp) {
        ufd = bind_listener(udp, SOCK_DGRAM);
        gso_on = want_gso && kernel_segments(ufd);
        fprintf(stderr, "rrp-server: udp gso %s\n",
                gso_on ? "on" : want_gso ? "off (the kernel does not know UDP_SEGMENT)" : "off (as asked)");
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UDP_LISTENER};
        epoll_ctl(epfd, EPOLL_CTL_ADD, ufd, &ev);
    }
    if (tcp) {
        tfd = bind_listener(tcp, SOCK_STREAM);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TCP_LISTENER};
        epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
    }
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(epfd, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            /* Listeners are tagged with u32 sentinels; connections carry a pointer. Read the tag through u64
             * so a pointer whose low half happens to equal a sentinel is never mistaken for a listener. */
            uint64_t tag = evs[i].data.u64;
            if (tag == UDP_LISTENER) {
                serve_udp(ufd);
            } else if (tag == TCP_LISTENER) {
                for (;;) {
                    int fd = accept4(tfd, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0) break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *c = calloc(1, sizeof *c);
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
                }
            } else {
                serve_tcp(evs[i].data.ptr, evs[i].events);
            }
        }
    }
}
