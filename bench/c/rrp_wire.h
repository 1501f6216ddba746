/* Big-endian field access for the RRP header, on top of the generated rrp_spec.h.
 * Offsets and widths come from rrp_spec (generated); the static asserts below fail the
 * build if the spec ever changes a field's width under these accessors. */
#ifndef RRP_WIRE_H
#define RRP_WIRE_H

#include <stdint.h>
#include <string.h>

#include "rrp_spec.h"

_Static_assert(RRP_LEN_MAGIC == RRP_MAGIC_SIZE, "magic width");
_Static_assert(RRP_LEN_VERSION == 1, "version is a u8");
_Static_assert(RRP_LEN_FLAGS == 1, "flags is a u8");
_Static_assert(RRP_LEN_OPERATION == 2, "operation is a u16");
_Static_assert(RRP_LEN_RESULT == 2, "result is a u16");
_Static_assert(RRP_LEN_REQUEST_ID == 8, "request_id is a u64");
_Static_assert(RRP_LEN_SIZE == 4, "size is a u32");
_Static_assert(RRP_COUNTER_SIZE == 8, "the INCREMENT counter is a u64");

static inline uint16_t rrp_get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rrp_get32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline uint64_t rrp_get64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
static inline void rrp_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void rrp_put32(uint8_t *p, uint32_t v) { v = __builtin_bswap32(v); memcpy(p, &v, 4); }
static inline void rrp_put64(uint8_t *p, uint64_t v) { v = __builtin_bswap64(v); memcpy(p, &v, 8); }

/* Write a whole header at p. */
static inline void rrp_put_header(uint8_t *p, uint8_t flags, uint16_t operation, uint16_t result,
                                  uint64_t request_id, uint32_t size) {
    p[RRP_OFF_MAGIC] = RRP_MAGIC_0;
    p[RRP_OFF_MAGIC + 1] = RRP_MAGIC_1;
    p[RRP_OFF_VERSION] = RRP_VERSION;
    p[RRP_OFF_FLAGS] = flags;
    rrp_put16(p + RRP_OFF_OPERATION, operation);
    rrp_put16(p + RRP_OFF_RESULT, result);
    rrp_put64(p + RRP_OFF_REQUEST_ID, request_id);
    rrp_put32(p + RRP_OFF_SIZE, size);
}

static inline int rrp_magic_ok(const uint8_t *p) {
    return p[RRP_OFF_MAGIC] == RRP_MAGIC_0 && p[RRP_OFF_MAGIC + 1] == RRP_MAGIC_1;
}

/* Parse "HOST:PORT" (IPv4 dotted quad or [IPv6]) into a sockaddr; 0 on success. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

static inline int rrp_parse_addr(const char *text, struct sockaddr_storage *out, socklen_t *len) {
    char host[128];
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof host) return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1) return -1;
    memset(out, 0, sizeof *out);
    if (host[0] == '[') {
        size_t n = strlen(host);
        if (n < 2 || host[n - 1] != ']') return -1;
        host[n - 1] = 0;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1) return -1;
        *len = sizeof *a6;
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) return -1;
    *len = sizeof *a4;
    return 0;
}

#endif
