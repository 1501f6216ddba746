/* rrp-load: a busy-polling RRP/1 load generator.
 *
 * Keeps K requests in flight on each of C connections (UDP sockets or TCP connections) to one RRP server
 * for a fixed time, checks every reply (header, request ID, payload) and prints one JSON line: requests/s,
 * latency percentiles, errors and losses. Sockets are non-blocking and the loop never sleeps: on a virtual
 * machine an idle wake-up costs 75-350 us, so a generator that blocks between replies measures the
 * hypervisor rather than the server.
 *
 * Request IDs carry the in-flight slot in their low 16 bits and random bits above, so each reply is matched
 * to its slot in O(1) and its whole ID is still checked. A UDP request unanswered after --timeout is counted
 * lost and its slot reissued with a fresh ID; a reply that arrives later is counted late, not as an error.
 *
 * Usage: rrp-load (--udp | --tcp) HOST:PORT [-c CONNS] [-k INFLIGHT] [-d SECONDS] [-w WARMUP] [-s BYTES]
 *                 [--op echo|noop] [--timeout SECONDS] [--bind ADDR] [--label TEXT] [--allow-remote]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rrp_wire.h"

#define MAX_SLOTS 65536 /* the slot index lives in the request ID's low 16 bits */
#define SLOT_BITS 16
#define BATCH 64
#define TCP_RBUF (256 * 1024)
#define CONNECT_TIMEOUT_MS 2000

/* Latency histogram: exact below 128 ns, then 64 sub-buckets per power of two (under 1.6 % error). */
#define SUB 64
#define NBUCKETS (128 + 58 * SUB)

enum transport { UDP, TCP };

struct slot {
    uint64_t id;      /* ID of the request in flight, when busy */
    uint64_t prev_id; /* ID this slot used before, so that a late reply is told apart from a wrong one */
    uint64_t sent_ns;
    uint32_t conn;
    uint8_t busy;
};

struct conn {
    int fd;
    int open;
    uint8_t *rbuf;
    size_t rlen;
    uint8_t *wbuf;
    size_t wlen;
};

struct counters {
    uint64_t sent, replies_ok, bad_header, bad_id, bad_payload, error_result, late, lost, disconnects, send_failures;
    uint64_t hist[NBUCKETS];
};

static struct {
    enum transport transport;
    const char *target;
    const char *bind_addr;
    const char *label;
    int conns, inflight, allow_remote;
    double duration, warmup, timeout;
    uint32_t payload;
    uint16_t op;
} opt = {.conns = 1, .inflight = 1, .duration = 5.0, .warmup = 0.2, .timeout = 0.2, .payload = 64,
         .op = RRP_OP_ECHO, .label = ""};

static struct slot *slots;
static struct conn *conns;
static struct counters st;
static uint64_t rng_state;
static size_t req_len; /* header + payload of every request */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t next_random(void) { /* xorshift64*: fast; these IDs need to be unpredictable to nobody */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static int bucket_of(uint64_t v) {
    if (v < 128) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 6;
    int b = (shift + 1) * SUB + (int)(v >> shift) - SUB;
    return b < NBUCKETS ? b : NBUCKETS - 1;
}

static double bucket_value(int b) {
    if (b < 128) return b;
    int shift = b / SUB - 1;
    double low = (double)((uint64_t)(b % SUB + SUB) << shift);
    return low + (double)(1ull << shift) / 2.0;
}

static double percentile_us(const uint64_t *hist, uint64_t total, double q) {
    if (total == 0) return 0.0;
    uint64_t rank = (uint64_t)(q * (double)total);
    if (rank >= total) rank = total - 1;
    uint64_t seen = 0;
    for (int b = 0; b < NBUCKETS; b++) {
        seen += hist[b];
        if (seen > rank) return bucket_value(b) / 1000.0;
    }
    return bucket_value(NBUCKETS - 1) / 1000.0;
}

static uint8_t payload_byte(uint64_t id, uint32_t i) { return (uint8_t)((id >> ((i & 7) * 8)) + i * 131u); }

/* Write slot g's next request (fresh ID) at out; returns its length. */
static size_t make_request(uint32_t g, uint8_t *out, uint64_t now) {
    struct slot *s = &slots[g];
    uint64_t id;
    do id = (next_random() << SLOT_BITS) | g;
    while (id == 0 || id == s->id);
    if (s->busy) s->prev_id = s->id;
    s->id = id;
    s->busy = 1;
    s->sent_ns = now;
    uint32_t size = opt.op == RRP_OP_ECHO ? opt.payload : 0;
    rrp_put_header(out, 0, opt.op, RRP_RESULT_OK, id, size);
    for (uint32_t i = 0; i < size; i++) out[RRP_HEADER_SIZE + i] = payload_byte(id, i);
    st.sent++;
    return RRP_HEADER_SIZE + size;
}

/* Judge one reply (header plus `payload_len` payload bytes); returns the slot it answered, or -1. */
static long handle_reply(uint32_t conn, const uint8_t *msg, size_t payload_len, uint64_t now) {
    if (!rrp_magic_ok(msg) || msg[RRP_OFF_VERSION] != RRP_VERSION || msg[RRP_OFF_FLAGS] != RRP_FLAG_REPLY) {
        st.bad_header++;
        return -1;
    }
    uint64_t id = rrp_get64(msg + RRP_OFF_REQUEST_ID);
    uint32_t g = (uint32_t)(id & (MAX_SLOTS - 1));
    if (g >= (uint32_t)(opt.conns * opt.inflight) || slots[g].conn != conn) {
        st.bad_id++;
        return -1;
    }
    struct slot *s = &slots[g];
    if (!(s->busy && s->id == id)) {
        if (id == s->prev_id) st.late++;
        else st.bad_id++;
        return -1;
    }
    s->busy = 0;
    s->prev_id = id;
    uint16_t result = rrp_get16(msg + RRP_OFF_RESULT);
    uint32_t size = rrp_get32(msg + RRP_OFF_SIZE);
    uint32_t want = opt.op == RRP_OP_ECHO ? opt.payload : 0;
    if (rrp_get16(msg + RRP_OFF_OPERATION) != opt.op || size != payload_len) {
        st.bad_header++;
    } else if (result != RRP_RESULT_OK) {
        st.error_result++;
    } else if (size != want) {
        st.bad_payload++;
    } else {
        for (uint32_t i = 0; i < size; i++) {
            if (msg[RRP_HEADER_SIZE + i] != payload_byte(id, i)) {
                st.bad_payload++;
                return g;
            }
        }
        st.replies_ok++;
        st.hist[bucket_of(now - s->sent_ns)]++;
    }
    return g;
}

static int is_loopback(const struct sockaddr_storage *a) {
    if (a->ss_family == AF_INET) return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) ||
           (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

static int open_socket(const struct sockaddr_storage *addr, socklen_t len) {
    int fd = socket(addr->ss_family, (opt.transport == UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (opt.bind_addr) {
        struct sockaddr_storage b;
        socklen_t blen;
        char spec[160];
        snprintf(spec, sizeof spec, "%s:0", opt.bind_addr);
        if (rrp_parse_addr(spec, &b, &blen) != 0 || bind(fd, (struct sockaddr *)&b, blen) != 0) {
            fprintf(stderr, "rrp-load: cannot bind to source address %s: %s\n", opt.bind_addr, strerror(errno));
            exit(3);
        }
    }
    if (opt.transport == TCP) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (connect(fd, (const struct sockaddr *)addr, len) != 0 && errno != EINPROGRESS) return -1;
    if (opt.transport == TCP) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t elen = sizeof err;
        if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err) {
            errno = err ? err : ETIMEDOUT;
            return -1;
        }
    }
    return fd;
}

/* Send what a TCP connection has queued; keeps the unsent rest. */
static void flush_tcp(uint32_t c) {
    struct conn *k = &conns[c];
    size_t off = 0;
    while (off < k->wlen) {
        ssize_t n = send(k->fd, k->wbuf + off, k->wlen - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) st.send_failures++;
            break;
        }
    }
    memmove(k->wbuf, k->wbuf + off, k->wlen - off);
    k->wlen -= off;
}

static void close_conn(uint32_t c, int epfd) {
    struct conn *k = &conns[c];
    if (!k->open) return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, k->fd, NULL);
    close(k->fd);
    k->open = 0;
    st.disconnects++;
    for (int i = 0; i < opt.inflight; i++) slots[c * (uint32_t)opt.inflight + (uint32_t)i].busy = 0;
}

/* Read everything a TCP connection has, judge each whole reply and queue a new request per answered slot. */
static void service_tcp(uint32_t c, int epfd) {
    struct conn *k = &conns[c];
    for (;;) {
        size_t space = TCP_RBUF - k->rlen;
        ssize_t n = recv(k->fd, k->rbuf + k->rlen, space, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            close_conn(c, epfd);
            return;
        }
        if (n < 0) break;
        k->rlen += (size_t)n;
        uint64_t now = now_ns();
        size_t off = 0;
        while (k->rlen - off >= RRP_HEADER_SIZE) {
            uint32_t size = rrp_get32(k->rbuf + off + RRP_OFF_SIZE);
            if (size > TCP_RBUF - RRP_HEADER_SIZE) { /* no honest reply is this big: the stream is lost */
                st.bad_header++;
                close_conn(c, epfd);
                return;
            }
            if (k->rlen - off < RRP_HEADER_SIZE + size) break;
            long g = handle_reply(c, k->rbuf + off, size, now);
            off += RRP_HEADER_SIZE + size;
            if (g >= 0) k->wlen += make_request((uint32_t)g, k->wbuf + k->wlen, now);
        }
        memmove(k->rbuf, k->rbuf + off, k->rlen - off);
        k->rlen -= off;
        if ((size_t)n < space) break; /* drained */
    }
    if (k->wlen) flush_tcp(c);
}

static uint8_t udp_rx[BATCH][RRP_MAX_UDP_DATAGRAM];
static uint8_t *udp_tx;
static struct mmsghdr rx_msgs[BATCH], tx_msgs[BATCH];
static struct iovec rx_iov[BATCH], tx_iov[BATCH];

/* Receive a batch of UDP replies on one socket and send the follow-up requests as one batch. */
static void service_udp(uint32_t c) {
    for (;;) {
        int n = recvmmsg(conns[c].fd, rx_msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        uint64_t now = now_ns();
        int out = 0;
        for (int i = 0; i < n; i++) {
            size_t len = rx_msgs[i].msg_len;
            if (len < RRP_HEADER_SIZE) {
                st.bad_header++;
                continue;
            }
            long g = handle_reply(c, udp_rx[i], len - RRP_HEADER_SIZE, now);
            if (g >= 0) {
                tx_iov[out].iov_len = make_request((uint32_t)g, udp_tx + (size_t)out * req_len, now);
                out++;
            }
        }
        if (out) {
            int sent = sendmmsg(conns[c].fd, tx_msgs, (unsigned)out, MSG_DONTWAIT);
            if (sent < out) st.send_failures += (uint64_t)(out - (sent > 0 ? sent : 0)); /* they time out as lost */
        }
        if (n < BATCH) return;
    }
}

/* UDP: reissue every request unanswered for longer than --timeout. */
static void expire_udp(uint64_t now, uint64_t timeout_ns) {
    uint8_t req[RRP_HEADER_SIZE + 65536];
    uint32_t total = (uint32_t)(opt.conns * opt.inflight);
    for (uint32_t g = 0; g < total; g++) {
        if (slots[g].busy && now > slots[g].sent_ns + timeout_ns) { /* sent_ns may be later than now */
            st.lost++;
            size_t len = make_request(g, req, now);
            if (send(conns[slots[g].conn].fd, req, len, MSG_DONTWAIT) < 0) st.send_failures++;
        }
    }
}

/* Start counting afresh when the warm-up ends; a connection lost during the warm-up is still reported. */
static void reset_counters(void) {
    uint64_t disconnects = st.disconnects;
    memset(&st, 0, sizeof st);
    st.disconnects = disconnects;
}

static void usage(FILE *to) {
    fputs("usage: rrp-load (--udp | --tcp) HOST:PORT [-c CONNS] [-k INFLIGHT] [-d SECONDS] [-w WARMUP]\n"
          "                [-s PAYLOAD_BYTES] [--op echo|noop] [--timeout SECONDS] [--bind SOURCE_ADDR]\n"
          "                [--label TEXT] [--allow-remote]\n"
          "Keeps INFLIGHT requests in flight on each of CONNS connections for SECONDS, busy-polling, and prints\n"
          "one JSON line. Targets loopback only unless --allow-remote is given.\n",
          to);
}

static double parse_seconds(const char *s, const char *what) {
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v >= 0) || v > 86400) {
        fprintf(stderr, "rrp-load: %s must be a number of seconds, not '%s'\n", what, s);
        exit(2);
    }
    return v;
}

static long parse_count(const char *s, const char *what, long lo, long hi) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || end == s || v < lo || v > hi) {
        fprintf(stderr, "rrp-load: %s must be an integer from %ld to %ld, not '%s'\n", what, lo, hi, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv) {
    static const struct option longs[] = {
        {"udp", required_argument, 0, 'U'},      {"tcp", required_argument, 0, 'T'},
        {"connections", required_argument, 0, 'c'}, {"inflight", required_argument, 0, 'k'},
        {"duration", required_argument, 0, 'd'}, {"warmup", required_argument, 0, 'w'},
        {"payload", required_argument, 0, 's'},  {"op", required_argument, 0, 'o'},
        {"timeout", required_argument, 0, 't'},  {"bind", required_argument, 0, 'b'},
        {"label", required_argument, 0, 'l'},    {"allow-remote", no_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:k:d:w:s:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'U': opt.transport = UDP; opt.target = optarg; break;
        case 'T': opt.transport = TCP; opt.target = optarg; break;
        case 'c': opt.conns = (int)parse_count(optarg, "--connections", 1, 4096); break;
        case 'k': opt.inflight = (int)parse_count(optarg, "--inflight", 1, 4096); break;
        case 'd': opt.duration = parse_seconds(optarg, "--duration"); break;
        case 'w': opt.warmup = parse_seconds(optarg, "--warmup"); break;
        case 's': opt.payload = (uint32_t)parse_count(optarg, "--payload", 0, 65536); break;
        case 't': opt.timeout = parse_seconds(optarg, "--timeout"); break;
        case 'b': opt.bind_addr = optarg; break;
        case 'l': opt.label = optarg; break;
        case 'R': opt.allow_remote = 1; break;
        case 'o':
            if (!strcmp(optarg, "echo")) opt.op = RRP_OP_ECHO;
            else if (!strcmp(optarg, "noop")) opt.op = RRP_OP_NOOP;
            else { fprintf(stderr, "rrp-load: --op must be echo or noop, not '%s'\n", optarg); exit(2); }
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (!opt.target || optind != argc) {
        usage(stderr);
        exit(2);
    }
    if ((long)opt.conns * opt.inflight > MAX_SLOTS) {
        fprintf(stderr, "rrp-load: connections x inflight must be at most %d\n", MAX_SLOTS);
        exit(2);
    }
    if (opt.transport == UDP && RRP_HEADER_SIZE + opt.payload > RRP_MAX_UDP_DATAGRAM) {
        fprintf(stderr, "rrp-load: a %u-byte payload does not fit one UDP datagram\n", opt.payload);
        exit(2);
    }
    if (opt.timeout <= 0) opt.timeout = 0.2;
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    struct sockaddr_storage addr;
    socklen_t alen;
    if (rrp_parse_addr(opt.target, &addr, &alen) != 0) {
        fprintf(stderr, "rrp-load: '%s' is not HOST:PORT with a numeric IPv4 or [IPv6] host\n", opt.target);
        return 2;
    }
    if (!is_loopback(&addr) && !opt.allow_remote) {
        fprintf(stderr, "rrp-load: %s is not a loopback address; pass --allow-remote to load a server you own\n",
                opt.target);
        return 2;
    }
    rng_state = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
    uint32_t total = (uint32_t)(opt.conns * opt.inflight);
    req_len = RRP_HEADER_SIZE + (opt.op == RRP_OP_ECHO ? opt.payload : 0);
    slots = calloc(total, sizeof *slots);
    conns = calloc((size_t)opt.conns, sizeof *conns);
    udp_tx = malloc(BATCH * req_len);
    if (!slots || !conns || !udp_tx) return 1;
    for (int i = 0; i < BATCH; i++) {
        rx_iov[i] = (struct iovec){.iov_base = udp_rx[i], .iov_len = sizeof udp_rx[i]};
        rx_msgs[i].msg_hdr = (struct msghdr){.msg_iov = &rx_iov[i], .msg_iovlen = 1};
        tx_iov[i] = (struct iovec){.iov_base = udp_tx + (size_t)i * req_len, .iov_len = req_len};
        tx_msgs[i].msg_hdr = (struct msghdr){.msg_iov = &tx_iov[i], .msg_iovlen = 1};
    }
    int epfd = epoll_create1(0);
    for (int c = 0; c < opt.conns; c++) {
        int fd = open_socket(&addr, alen);
        if (fd < 0) {
            fprintf(stderr, "rrp-load: cannot connect to %s: %s\n", opt.target, strerror(errno));
            return 3;
        }
        conns[c] = (struct conn){.fd = fd, .open = 1};
        if (opt.transport == TCP) {
            conns[c].rbuf = malloc(TCP_RBUF);
            conns[c].wbuf = malloc((size_t)opt.inflight * req_len);
            if (!conns[c].rbuf || !conns[c].wbuf) return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
        for (int i = 0; i < opt.inflight; i++) slots[c * opt.inflight + i].conn = (uint32_t)c;
    }

    uint64_t start = now_ns();
    uint64_t warm_end = start + (uint64_t)(opt.warmup * 1e9);
    uint64_t end = warm_end + (uint64_t)(opt.duration * 1e9);
    uint64_t timeout_ns = (uint64_t)(opt.timeout * 1e9);
    /* Prime every slot. */
    for (uint32_t g = 0; g < total; g++) {
        uint8_t req[RRP_HEADER_SIZE + 65536];
        struct conn *k = &conns[slots[g].conn];
        if (opt.transport == TCP) {
            k->wlen += make_request(g, k->wbuf + k->wlen, start);
        } else {
            size_t len = make_request(g, req, start);
            if (send(k->fd, req, len, MSG_DONTWAIT) < 0) st.send_failures++;
        }
    }
    if (opt.transport == TCP)
        for (int c = 0; c < opt.conns; c++) flush_tcp((uint32_t)c);

    int measuring = opt.warmup <= 0;
    uint64_t measure_start = start, next_expiry = start;
    struct epoll_event evs[256];
    uint64_t now = start;
    int open_conns = opt.conns;
    while ((now = now_ns()) < end && open_conns > 0) {
        if (!measuring && now >= warm_end) {
            reset_counters(); /* counts and latencies from here on only */
            measuring = 1;
            measure_start = now;
        }
        if (opt.conns == 1) {
            if (opt.transport == UDP) service_udp(0);
            else service_tcp(0, epfd);
        } else {
            int n = epoll_wait(epfd, evs, 256, 0);
            for (int i = 0; i < n; i++) {
                if (opt.transport == UDP) service_udp(evs[i].data.u32);
                else service_tcp(evs[i].data.u32, epfd);
            }
        }
        if (opt.transport == TCP) {
            open_conns = 0;
            for (int c = 0; c < opt.conns; c++) {
                if (conns[c].open && conns[c].wlen) flush_tcp((uint32_t)c);
                open_conns += conns[c].open;
            }
        } else if (now >= next_expiry) {
            expire_udp(now, timeout_ns);
            next_expiry = now + 1000000; /* every millisecond is plenty against a 200 ms timeout */
        }
    }
    if (!measuring) { /* every connection closed during the warm-up: nothing was measured */
        reset_counters();
        measure_start = now;
    }
    double elapsed = (double)(now - measure_start) / 1e9;
    uint64_t outstanding = 0;
    for (uint32_t g = 0; g < total; g++) outstanding += slots[g].busy;
    uint64_t errors = st.bad_header + st.bad_id + st.bad_payload + st.error_result + st.disconnects;
    printf("{\"label\":\"");
    for (const char *p = opt.label; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) putchar(*p);
    printf("\",\"transport\":\"%s\",\"target\":\"%s\",\"connections\":%d,\"inflight\":%d,\"payload\":%u,"
           "\"op\":\"%s\",\"seconds\":%.6f,\"sent\":%llu,\"replies_ok\":%llu,\"rps\":%.1f,"
           "\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"errors\":%llu,\"bad_header\":%llu,"
           "\"bad_id\":%llu,\"bad_payload\":%llu,\"error_result\":%llu,\"disconnects\":%llu,"
           "\"send_failures\":%llu,\"late\":%llu,\"lost\":%llu,\"outstanding_at_end\":%llu}\n",
           opt.transport == UDP ? "udp" : "tcp", opt.target, opt.conns, opt.inflight,
           opt.op == RRP_OP_ECHO ? opt.payload : 0, opt.op == RRP_OP_ECHO ? "echo" : "noop", elapsed,
           (unsigned long long)st.sent, (unsigned long long)st.replies_ok,
           elapsed > 0 ? (double)st.replies_ok / elapsed : 0.0, percentile_us(st.hist, st.replies_ok, 0.50),
           percentile_us(st.hist, st.replies_ok, 0.99), percentile_us(st.hist, st.replies_ok, 0.999),
           (unsigned long long)errors, (unsigned long long)st.bad_header, (unsigned long long)st.bad_id,
           (unsigned long long)st.bad_payload, (unsigned long long)st.error_result,
           (unsigned long long)st.disconnects, (unsigned long long)st.send_failures, (unsigned long long)st.late,
           (unsigned long long)st.lost, (unsigned long long)outstanding);
    return 0;
}
