/*
 * loadgen: a small epoll WebSocket load generator for wsloop's benchmarks.
 *
 *   loadgen echo      --port N [--conns 50] [--size 32] [--type text|binary] [--depth 16]
 *                     [--warmup 1] [--duration 5] [--deflate] [--batch 1]
 *   loadgen handshake --port N [--workers 8] [--warmup 1] [--duration 5]
 *   loadgen idle      --port N [--conns 10000] [--prime BYTES] [--deflate] [--hold-max 120]
 *   common:           [--host 127.0.0.1] [--path /] [--protocol NAME] [--src-addrs N]
 *
 * It does its own HTTP upgrade (checks the 101 and Sec-WebSocket-Accept), sends frames
 * masked ahead of time, and checks every echoed byte against what it sent (a mismatch
 * is a hard error: exit 1 with {"error": ...}). Results are one JSON line on stdout;
 * before it, phase lines ({"phase":"measure"}, {"phase":"end"}, {"phase":"established"})
 * let a harness sample the server at the edges of the measured window. Its own CPU time
 * over the window (getrusage) is part of the result, so a report can show that the
 * generator was not the bottleneck.
 *
 * --batch B sends again only once B of a connection's --depth messages are back (default
 * 1: each as soon as it is back). It is a check on the generator, not a scenario: against
 * a server that answers each message with a write of its own, B > 1 cuts the generator's
 * writes B-fold, so if the server's figure does not move, the generator was not its limit.
 * The result line counts the generator's reads and writes per message while measuring.
 *
 * Echo payloads carry their sequence number (8 hex digits) in their first bytes, so a
 * dropped, duplicated or reordered message is caught too. With --deflate the generator
 * offers permessage-deflate with client_no_context_takeover, sends 64 pre-compressed
 * variants, and inflates the echoes (the server may keep its context) to check them.
 *
 * idle: opens K connections (a bounded number of handshakes in progress), optionally
 * echoes one message on each (--prime, which makes deflate allocate its state), prints
 * {"phase":"established"} and holds them until a line or EOF on stdin, then closes them
 * with a close handshake.
 *
 * Source addresses: connections are spread over 127.0.0.1..127.0.0.N (--src-addrs,
 * default 16 for handshake and idle) so that tens of thousands of short connections do
 * not run out of ephemeral ports.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* ------------------------------------------------------------------ utilities */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void json_escape(const char *s, char *out, size_t cap) {
  size_t o = 0;
  for (; *s && o + 7 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') { out[o++] = '\\'; out[o++] = (char)ch; }
    else if (ch < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
    else out[o++] = (char)ch;
  }
  out[o] = 0;
}

static void fatal(const char *fmt, ...) {
  char msg[512], esc[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_escape(msg, esc, sizeof esc);
  fflush(stdout);
  printf("{\"error\":\"%s\"}\n", esc);
  fflush(stdout);
  fprintf(stderr, "loadgen: %s\n", msg);
  exit(1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) {
  uint64_t x = rng_state;
  x ^= x << 13; x ^= x >> 7; x ^= x << 17;
  return rng_state = x;
}

/* SHA-1 (only for Sec-WebSocket-Accept) */
typedef struct { uint32_t h[5]; uint64_t len; uint8_t buf[64]; size_t n; } sha1_ctx;
static uint32_t rol(uint32_t v, int s) { return (v << s) | (v >> (32 - s)); }
static void sha1_block(sha1_ctx *c, const uint8_t *p) {
  uint32_t w[80], a, b, d, e, f, k, t, cc;
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  a = c->h[0]; b = c->h[1]; cc = c->h[2]; d = c->h[3]; e = c->h[4];
  for (int i = 0; i < 80; i++) {
    if (i < 20) { f = (b & cc) | (~b & d); k = 0x5A827999; }
    else if (i < 40) { f = b ^ cc ^ d; k = 0x6ED9EBA1; }
    else if (i < 60) { f = (b & cc) | (b & d) | (cc & d); k = 0x8F1BBCDC; }
    else { f = b ^ cc ^ d; k = 0xCA62C1D6; }
    t = rol(a, 5) + f + e + k + w[i]; e = d; d = cc; cc = rol(b, 30); b = a; a = t;
  }
  c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d; c->h[4] += e;
}
static void sha1(const uint8_t *data, size_t len, uint8_t out[20]) {
  sha1_ctx c = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
  c.len = len;
  while (len >= 64) { sha1_block(&c, data); data += 64; len -= 64; }
  uint8_t tail[128] = {0};
  memcpy(tail, data, len);
  tail[len] = 0x80;
  size_t tl = len + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = c.len * 8;
  for (int i = 0; i < 8; i++) tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
  sha1_block(&c, tail);
  if (tl == 128) sha1_block(&c, tail + 64);
  for (int i = 0; i < 5; i++) { out[4 * i] = (uint8_t)(c.h[i] >> 24); out[4 * i + 1] = (uint8_t)(c.h[i] >> 16); out[4 * i + 2] = (uint8_t)(c.h[i] >> 8); out[4 * i + 3] = (uint8_t)c.h[i]; }
}
static void base64(const uint8_t *in, size_t n, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = t[v >> 18 & 63]; out[o++] = t[v >> 12 & 63];
    out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = 0;
}

/* Latency histogram: exact below 4096 ns, then 2048 sub-buckets per power of two. */
#define HBUCKETS (4096 + 64 * 2048)
static uint64_t *hist;
static uint64_t hist_count;
static int hbucket(uint64_t v) {
  if (v < 4096) return (int)v;
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - 11;
  return 4096 + (shift - 1) * 2048 + (int)((v >> shift) - 2048);
}
static uint64_t hvalue(int b) {
  if (b < 4096) return (uint64_t)b;
  int shift = (b - 4096) / 2048 + 1;
  uint64_t m = (uint64_t)((b - 4096) % 2048) + 2048;
  return m << shift;
}
static void hadd(uint64_t v) { hist[hbucket(v)]++; hist_count++; }
static double hpct(double p) {
  if (!hist_count) return 0;
  uint64_t want = (uint64_t)(p * (double)hist_count);
  if (want >= hist_count) want = hist_count - 1;
  uint64_t acc = 0;
  for (int b = 0; b < HBUCKETS; b++) { acc += hist[b]; if (acc > want) return (double)hvalue(b) / 1000.0; }
  return 0;
}

/* ------------------------------------------------------------------ options */

enum { M_ECHO, M_HANDSHAKE, M_IDLE } mode;
static const char *opt_host = "127.0.0.1", *opt_path = "/", *opt_protocol = NULL;
static int opt_batch = 1;
static int opt_port = 0, opt_conns = -1, opt_depth = 1, opt_binary = 1, opt_deflate = 0, opt_workers = 8;
static size_t opt_size = 32, opt_prime = 0;
static double opt_warmup = 1, opt_duration = 5, opt_hold_max = 120;
static int opt_src_addrs = -1, opt_connect_concurrency = 256;

/* ------------------------------------------------------------------ messages */

#define SEQ_LEN 8
#define VARIANTS 64
static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};
static uint8_t *plain;        /* the payload template (plain text of every message, but its seq digits) */
static uint8_t *masked;       /* plain, masked with MASK from offset 0 */
static size_t seq_len;        /* SEQ_LEN, or 0 for payloads shorter than that */
static uint8_t *variant_frame[VARIANTS]; /* --deflate: whole masked frames */
static size_t variant_len[VARIANTS];
static uint8_t close_frame[8];

static void hex8(uint64_t v, uint8_t *out) {
  static const char h[] = "0123456789abcdef";
  for (int i = 7; i >= 0; i--) { out[i] = (uint8_t)h[v & 15]; v >>= 4; }
}

static size_t frame_header(uint8_t *h, int opcode, int rsv1, size_t len) {
  size_t n = 0;
  h[n++] = (uint8_t)(0x80 | (rsv1 ? 0x40 : 0) | opcode);
  if (len < 126) h[n++] = (uint8_t)(0x80 | len);
  else if (len < 65536) { h[n++] = 0x80 | 126; h[n++] = (uint8_t)(len >> 8); h[n++] = (uint8_t)len; }
  else { h[n++] = 0x80 | 127; for (int i = 7; i >= 0; i--) h[n++] = (uint8_t)(len >> (8 * i)); }
  memcpy(h + n, MASK, 4);
  return n + 4;
}

static void build_messages(size_t size) {
  plain = malloc(size + 1);
  masked = malloc(size + 1);
  if (!plain || !masked) fatal("out of memory for a %zu-byte message", size);
  static const char *words[] = {"socket ", "frame ", "loop ", "poll ", "echo ", "buffer ", "message ", "server ",
                                "client ", "deflate ", "context ", "the ", "a ", "writeable ", "receive ", "close "};
  if (opt_deflate || !opt_binary) {
    /* text-like and compressible (about 3:1), valid UTF-8 */
    size_t i = 0;
    while (i < size) {
      const char *w = words[rng() % 16];
      for (; *w && i < size; w++) plain[i++] = (uint8_t)*w;
    }
  } else {
    for (size_t i = 0; i < size; i++) plain[i] = (uint8_t)(rng() >> 29);
  }
  seq_len = size >= SEQ_LEN ? SEQ_LEN : 0;
  for (size_t i = 0; i < size; i++) masked[i] = plain[i] ^ MASK[i & 3];
  int opcode = opt_binary ? 2 : 1;
  if (opt_deflate && size) {
    uint8_t *tmp = malloc(size + 1);
    size_t cap = size + size / 100 + 256;
    uint8_t *out = malloc(cap);
    for (int v = 0; v < VARIANTS; v++) {
      memcpy(tmp, plain, size);
      if (seq_len) hex8((uint64_t)v, tmp);
      z_stream z; memset(&z, 0, sizeof z);
      if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) fatal("deflateInit2");
      z.next_in = tmp; z.avail_in = (uInt)size; z.next_out = out; z.avail_out = (uInt)cap;
      if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in) fatal("deflate");
      size_t clen = cap - z.avail_out;
      deflateEnd(&z);
      if (clen >= 4 && !memcmp(out + clen - 4, "\0\0\xff\xff", 4)) clen -= 4;
      variant_frame[v] = malloc(clen + 14);
      size_t h = frame_header(variant_frame[v], opcode, 1, clen);
      for (size_t i = 0; i < clen; i++) variant_frame[v][h + i] = out[i] ^ MASK[i & 3];
      variant_len[v] = h + clen;
    }
    free(tmp); free(out);
  }
  size_t h = frame_header(close_frame, 8, 0, 2);
  close_frame[h] = 0x03 ^ MASK[0]; close_frame[h + 1] = 0xe8 ^ MASK[1];
}

/* ------------------------------------------------------------------ connections */

enum { S_FREE, S_CONNECTING, S_UPGRADING, S_OPEN, S_CLOSING, S_DONE };

typedef struct job { uint8_t head[14 + SEQ_LEN]; uint8_t hlen; const uint8_t *tail; size_t tlen; } job;

typedef struct conn {
  int fd, state, id;
  uint32_t ev;
  uint64_t t_start, t_open;
  char key[32], accept[32];
  char req[768]; size_t req_len, req_off;
  char resp[2048]; size_t resp_len;
  /* rx */
  uint8_t *rbuf; size_t rlen;
  int in_frame, in_msg, compressed, fin, opcode, msg_opcode;
  uint64_t frame_left;
  size_t msg_pos;
  uint8_t rseq[SEQ_LEN];
  uint64_t recv_seq, send_seq;
  int got_close;
  z_stream inf; int inf_init;
  /* tx */
  job *jobs; int jcap, jhead, jcount; size_t joff; /* joff: bytes of jobs[jhead] already written */
  uint64_t *sent_at;
  int dirty, primed;
  struct conn *next_dirty;
} conn;

#define RBUF 262144
static int ep;
static conn *conns;
static int nconns;
static conn *dirty_list;
/* System calls on connections while measuring: how much of the generator's core each message costs. */
static unsigned long long m_reads, m_writes;
static uint8_t scratch[65536];
static int measuring, stopping, stop_sending;
static uint64_t m_msgs, m_bytes, total_msgs;
static uint64_t hs_done_measured, hs_done_total, errors_unclean;
static int open_count, closed_count;

static void set_events(conn *c, uint32_t ev) {
  if (c->ev == ev) return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0) fatal("epoll_ctl mod: %s", strerror(errno));
  c->ev = ev;
}

static void mark_dirty(conn *c) {
  if (c->dirty) return;
  c->dirty = 1; c->next_dirty = dirty_list; dirty_list = c;
}

static void conn_start(conn *c) {
  static uint32_t counter;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fatal("socket: %s (raise ulimit -n)", strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int nsrc = opt_src_addrs;
  if (nsrc > 1) {
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
    src.sin_addr.s_addr = htonl(0x7f000001u + (counter++ % (uint32_t)nsrc));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) fatal("bind source address: %s", strerror(errno));
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
  if (inet_pton(AF_INET, opt_host, &sa.sin_addr) != 1) fatal("bad --host %s", opt_host);
  int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  if (r < 0 && errno != EINPROGRESS) fatal("connect: %s", strerror(errno));
  c->fd = fd; c->state = S_CONNECTING; c->t_start = now_ns(); c->t_open = 0;
  c->rlen = 0; c->in_frame = c->in_msg = 0; c->msg_pos = 0; c->recv_seq = c->send_seq = 0; c->got_close = 0;
  c->jhead = c->jcount = 0; c->joff = 0; c->resp_len = 0; c->req_off = 0; c->primed = 0;
  uint8_t raw[16];
  for (int i = 0; i < 16; i++) raw[i] = (uint8_t)(rng() >> 24);
  base64(raw, 16, c->key);
  char cat[128];
  snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
  uint8_t dig[20];
  sha1((uint8_t *)cat, strlen(cat), dig);
  base64(dig, 20, c->accept);
  int n = snprintf(c->req, sizeof c->req,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                   opt_path, opt_host, opt_port, c->key);
  if (opt_protocol) n += snprintf(c->req + n, sizeof c->req - (size_t)n, "Sec-WebSocket-Protocol: %s\r\n", opt_protocol);
  if (opt_deflate) n += snprintf(c->req + n, sizeof c->req - (size_t)n, "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n");
  n += snprintf(c->req + n, sizeof c->req - (size_t)n, "\r\n");
  c->req_len = (size_t)n;
  struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) fatal("epoll_ctl add: %s", strerror(errno));
  c->ev = EPOLLOUT;
}

static uint64_t close_ns_sum, close_count;
static void conn_finish(conn *c) {
  if (measuring && c->t_open) { close_ns_sum += now_ns() - c->t_open; close_count++; }
  c->t_open = 0;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->state = S_DONE;
  if (c->inf_init) { inflateEnd(&c->inf); c->inf_init = 0; }
  closed_count++;
}

static void push_job(conn *c, const uint8_t *head, size_t hlen, const uint8_t *tail, size_t tlen) {
  if (c->jcount == c->jcap) fatal("internal: job ring full");
  job *j = &c->jobs[(c->jhead + c->jcount) % c->jcap];
  if (hlen) memcpy(j->head, head, hlen);
  j->hlen = (uint8_t)hlen; j->tail = tail; j->tlen = tlen;
  c->jcount++;
  mark_dirty(c);
}

static void send_message(conn *c, uint64_t now) {
  uint64_t seq = c->send_seq++;
  c->sent_at[seq % (uint64_t)opt_depth] = now;
  if (opt_deflate) {
    int v = (int)(seq % VARIANTS);
    push_job(c, NULL, 0, variant_frame[v], variant_len[v]);
    return;
  }
  uint8_t head[14 + SEQ_LEN];
  size_t h = frame_header(head, opt_binary ? 2 : 1, 0, opt_size);
  if (seq_len) {
    hex8(seq, head + h);
    for (int i = 0; i < SEQ_LEN; i++) head[h + i] ^= MASK[i & 3];
    h += SEQ_LEN;
  }
  push_job(c, head, h, masked + seq_len, opt_size - seq_len);
}

static void send_close(conn *c) {
  if (c->state != S_OPEN) return;
  c->state = S_CLOSING;
  push_job(c, close_frame, sizeof close_frame, NULL, 0);
}

/* Write queued jobs with writev; returns 0, or -1 when the connection went away. */
static int flush(conn *c) {
  while (c->jcount) {
    struct iovec iov[128];
    int n = 0;
    size_t skip = c->joff;
    for (int k = 0; k < c->jcount && n < 126; k++) {
      job *j = &c->jobs[(c->jhead + k) % c->jcap];
      size_t hs = skip < j->hlen ? skip : j->hlen;
      if (j->hlen > hs) { iov[n].iov_base = j->head + hs; iov[n].iov_len = j->hlen - hs; n++; }
      skip -= hs;
      size_t ts = skip < j->tlen ? skip : j->tlen;
      if (j->tlen > ts) { iov[n].iov_base = (void *)(j->tail + ts); iov[n].iov_len = j->tlen - ts; n++; }
      skip -= ts;
    }
    ssize_t w = writev(c->fd, iov, n);
    if (measuring) m_writes++;
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) { set_events(c, EPOLLIN | EPOLLOUT); return 0; }
      if (errno == EINTR) continue;
      return -1;
    }
    size_t left = (size_t)w;
    while (left && c->jcount) {
      job *j = &c->jobs[c->jhead];
      size_t rest = j->hlen + j->tlen - c->joff;
      if (left >= rest) { left -= rest; c->joff = 0; c->jhead = (c->jhead + 1) % c->jcap; c->jcount--; }
      else { c->joff += left; left = 0; }
    }
  }
  set_events(c, EPOLLIN);
  return 0;
}

/* ------------------------------------------------------------------ receiving */

static void begin_expected(conn *c) {
  if (seq_len) hex8(opt_deflate ? c->recv_seq % VARIANTS : c->recv_seq, c->rseq);
  c->msg_pos = 0;
}

static void verify(conn *c, const uint8_t *p, size_t n) {
  size_t pos = c->msg_pos;
  if (pos + n > opt_size) fatal("conn %d: echo of message %llu is longer than the %zu bytes sent", c->id, (unsigned long long)c->recv_seq, opt_size);
  while (n && pos < seq_len) {
    if (*p != c->rseq[pos]) fatal("conn %d: echo of message %llu differs at byte %zu (sequence digits: got 0x%02x, want 0x%02x)", c->id, (unsigned long long)c->recv_seq, pos, *p, c->rseq[pos]);
    p++; pos++; n--;
  }
  if (n && memcmp(p, plain + pos, n)) {
    size_t i = 0;
    while (p[i] == plain[pos + i]) i++;
    fatal("conn %d: echo of message %llu differs at byte %zu (got 0x%02x, want 0x%02x)", c->id, (unsigned long long)c->recv_seq, pos + i, p[i], plain[pos + i]);
  }
  c->msg_pos = pos + n;
}

static void inflate_verify(conn *c, const uint8_t *p, size_t n) {
  c->inf.next_in = (Bytef *)p; c->inf.avail_in = (uInt)n;
  for (;;) {
    c->inf.next_out = scratch; c->inf.avail_out = sizeof scratch;
    int r = inflate(&c->inf, Z_SYNC_FLUSH);
    if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) fatal("conn %d: inflate failed (%d): the server's compressed data is corrupt", c->id, r);
    size_t got = sizeof scratch - c->inf.avail_out;
    if (got) verify(c, scratch, got);
    if (r == Z_STREAM_END) inflateReset(&c->inf);
    if (c->inf.avail_in == 0 && c->inf.avail_out != 0) break;
    if (r == Z_BUF_ERROR && got == 0) break;
  }
}

static void message_done(conn *c, uint64_t now);

/* Parse and check what is in c->rbuf; returns -1 when the connection is finished. */
static int parse(conn *c, uint64_t now) {
  size_t off = 0;
  for (;;) {
    uint8_t *p = c->rbuf + off;
    size_t avail = c->rlen - off;
    if (!c->in_frame) {
      if (avail < 2) break;
      size_t hl = 2, len = p[1] & 0x7f;
      if (p[1] & 0x80) fatal("conn %d: the server sent a masked frame", c->id);
      if (len == 126) hl = 4; else if (len == 127) hl = 10;
      if (avail < hl) break;
      if (len == 126) len = (size_t)p[2] << 8 | p[3];
      else if (len == 127) { len = 0; for (int i = 2; i < 10; i++) len = len << 8 | p[i]; }
      int fin = p[0] >> 7, rsv1 = (p[0] >> 6) & 1, opcode = p[0] & 15;
      if (p[0] & 0x30) fatal("conn %d: RSV2/RSV3 set", c->id);
      if (opcode >= 8) {
        if (avail < hl + len) break;
        if (opcode == 8) {
          c->got_close = 1;
          if (c->state == S_OPEN) {
            if (!stopping) fatal("conn %d: the server closed the connection (close frame, code %d)", c->id, len >= 2 ? p[hl] << 8 | p[hl + 1] : 1005);
            send_close(c);
          }
        } else if (opcode == 9) {
          uint8_t pong[14 + 125];
          size_t h = frame_header(pong, 10, 0, len);
          for (size_t i = 0; i < len; i++) pong[h + i] = p[hl + i] ^ MASK[i & 3];
          /* pongs are rare here: send them as a job whose head holds the whole frame if it fits */
          if (h + len <= sizeof(((job *)0)->head)) push_job(c, pong, h + len, NULL, 0);
        }
        off += hl + len;
        continue;
      }
      if (mode == M_HANDSHAKE) fatal("conn %d: unexpected data frame during the handshake test", c->id);
      if (opcode == 0) {
        if (!c->in_msg) fatal("conn %d: continuation frame outside a message", c->id);
      } else {
        if (c->in_msg) fatal("conn %d: new message inside a fragmented one", c->id);
        if (opcode != (opt_binary ? 2 : 1)) fatal("conn %d: echo has opcode %d, sent %d", c->id, opcode, opt_binary ? 2 : 1);
        if (rsv1 && !opt_deflate) fatal("conn %d: RSV1 set without permessage-deflate", c->id);
        c->in_msg = 1; c->compressed = rsv1; c->msg_opcode = opcode;
        if (c->recv_seq >= c->send_seq) fatal("conn %d: an echo arrived for a message never sent", c->id);
        begin_expected(c);
      }
      c->in_frame = 1; c->fin = fin; c->frame_left = len;
      off += hl;
      p = c->rbuf + off; avail = c->rlen - off;
    }
    size_t n = avail < c->frame_left ? avail : (size_t)c->frame_left;
    if (n) {
      if (c->compressed) inflate_verify(c, p, n); else verify(c, p, n);
      off += n; c->frame_left -= n;
    }
    if (c->frame_left) break;
    c->in_frame = 0;
    if (c->fin) {
      if (c->compressed) inflate_verify(c, (const uint8_t *)"\0\0\xff\xff", 4);
      if (c->msg_pos != opt_size) fatal("conn %d: echo of message %llu has %zu bytes, sent %zu", c->id, (unsigned long long)c->recv_seq, c->msg_pos, opt_size);
      c->in_msg = 0;
      message_done(c, now);
    }
  }
  if (off) { memmove(c->rbuf, c->rbuf + off, c->rlen - off); c->rlen -= off; }
  return 0;
}

static void message_done(conn *c, uint64_t now) {
  uint64_t seq = c->recv_seq++;
  total_msgs++;
  if (mode == M_IDLE) { c->primed = 1; return; }
  if (measuring) {
    m_msgs++; m_bytes += opt_size;
    hadd(now - c->sent_at[seq % (uint64_t)opt_depth]);
  }
  if (stop_sending) return;
  /* Refill once --batch of the --depth messages are back (1: each as it comes back). */
  if (c->send_seq - c->recv_seq + (uint64_t)opt_batch > (uint64_t)opt_depth) return;
  while (c->send_seq - c->recv_seq < (uint64_t)opt_depth) send_message(c, now);
}

static int check_upgrade(conn *c) {
  char *end = memmem(c->resp, c->resp_len, "\r\n\r\n", 4);
  if (!end) {
    if (c->resp_len >= sizeof c->resp - 1) fatal("conn %d: handshake response too long", c->id);
    return 0;
  }
  *end = 0;
  if (strncmp(c->resp, "HTTP/1.1 101", 12)) {
    char *eol = strstr(c->resp, "\r\n");
    if (eol) *eol = 0;
    fatal("conn %d: upgrade refused: \"%s\"", c->id, c->resp);
  }
  int accept_ok = 0, pmd = 0;
  for (char *line = strstr(c->resp, "\r\n"); line; line = strstr(line, "\r\n")) {
    line += 2;
    if (!strncasecmp(line, "sec-websocket-accept:", 21)) {
      char *v = line + 21;
      while (*v == ' ' || *v == '\t') v++;
      size_t al = strlen(c->accept);
      if (!strncmp(v, c->accept, al) && (v[al] == '\r' || v[al] == 0 || v[al] == ' ')) accept_ok = 1;
      else fatal("conn %d: wrong Sec-WebSocket-Accept", c->id);
    } else if (!strncasecmp(line, "sec-websocket-extensions:", 25)) {
      char *eol = strstr(line, "\r\n");
      if (eol) *eol = 0;
      if (strstr(line, "permessage-deflate")) pmd = 1;
      if (eol) *eol = '\r';
    }
  }
  if (!accept_ok) fatal("conn %d: no Sec-WebSocket-Accept in the 101", c->id);
  if (opt_deflate && !pmd) fatal("the server did not accept permessage-deflate");
  if (!opt_deflate && pmd) fatal("the server negotiated permessage-deflate, which was not offered");
  /* bytes after the response are frames */
  size_t hdr = (size_t)(end - c->resp) + 4;
  size_t extra = c->resp_len - hdr;
  if (extra) { memcpy(c->rbuf, c->resp + hdr, extra); c->rlen = extra; }
  return 1;
}

/* ------------------------------------------------------------------ per-mode behaviour */

static void on_open(conn *c, uint64_t now) {
  c->state = S_OPEN;
  open_count++;
  if (opt_deflate) {
    memset(&c->inf, 0, sizeof c->inf);
    if (inflateInit2(&c->inf, -15) != Z_OK) fatal("inflateInit2");
    c->inf_init = 1;
  }
  c->t_open = now;
  if (mode != M_ECHO && measuring) hadd(now - c->t_start);
  if (mode == M_HANDSHAKE) {
    send_close(c);
  } else if (mode == M_IDLE) {
    if (opt_prime) send_message(c, now);
    else c->primed = 1;
  }
}

static void handle(conn *c, uint32_t events, uint64_t now) {
  if (c->state == S_CONNECTING) {
    int err = 0; socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) fatal("connect to %s:%d: %s", opt_host, opt_port, strerror(err));
    if (!(events & EPOLLOUT)) return;
    c->state = S_UPGRADING;
  }
  if (c->state == S_UPGRADING) {
    if (c->req_off < c->req_len) {
      ssize_t w = write(c->fd, c->req + c->req_off, c->req_len - c->req_off);
      if (w < 0 && errno != EAGAIN) fatal("conn %d: writing the upgrade request: %s", c->id, strerror(errno));
      if (w > 0) c->req_off += (size_t)w;
      set_events(c, c->req_off < c->req_len ? EPOLLOUT : EPOLLIN);
      if (c->req_off < c->req_len) return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      ssize_t r = read(c->fd, c->resp + c->resp_len, sizeof c->resp - 1 - c->resp_len);
      if (r == 0) fatal("conn %d: the server closed the connection during the handshake", c->id);
      if (r < 0) { if (errno == EAGAIN) return; fatal("conn %d: reading the handshake: %s", c->id, strerror(errno)); }
      c->resp_len += (size_t)r;
      if (!check_upgrade(c)) return;
      on_open(c, now);
      if (c->rlen && parse(c, now) < 0) return;
    }
    return;
  }
  if (events & EPOLLOUT) {
    if (flush(c) < 0) fatal("conn %d: write failed: %s", c->id, strerror(errno));
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    for (int rounds = 0; rounds < 16; rounds++) {
      ssize_t r = read(c->fd, c->rbuf + c->rlen, RBUF - c->rlen);
      if (measuring) m_reads++;
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        if (c->state == S_CLOSING && c->got_close) { conn_finish(c); return; }
        fatal("conn %d: read: %s", c->id, strerror(errno));
      }
      if (r == 0) {
        if (c->state == S_CLOSING && c->got_close) { conn_finish(c); return; }
        if (c->state == S_CLOSING) { errors_unclean++; conn_finish(c); return; }
        fatal("conn %d: the server closed the TCP connection without a close frame (after %llu echoes)", c->id, (unsigned long long)c->recv_seq);
      }
      c->rlen += (size_t)r;
      if (parse(c, now) < 0) return;
      if ((size_t)r < RBUF / 4) break;
    }
  }
}

/* ------------------------------------------------------------------ main */

static void usage(void) {
  fprintf(stderr, "usage: loadgen echo|handshake|idle --port N [options] (see the comment at the top of loadgen.c)\n");
  exit(2);
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
}

static conn *alloc_conns(int n, int jcap) {
  conn *cs = calloc((size_t)n, sizeof(conn));
  if (!cs) fatal("out of memory");
  for (int i = 0; i < n; i++) {
    cs[i].id = i; cs[i].fd = -1;
    cs[i].rbuf = malloc(RBUF);
    cs[i].jcap = jcap;
    cs[i].jobs = calloc((size_t)jcap, sizeof(job));
    cs[i].sent_at = calloc((size_t)(opt_depth > 0 ? opt_depth : 1), sizeof(uint64_t));
    if (!cs[i].rbuf || !cs[i].jobs || !cs[i].sent_at) fatal("out of memory");
  }
  return cs;
}

static int loop_once(int timeout_ms, uint64_t *nowp) {
  struct epoll_event evs[512];
  int n = epoll_wait(ep, evs, 512, timeout_ms);
  if (n < 0 && errno != EINTR) fatal("epoll_wait: %s", strerror(errno));
  uint64_t now = now_ns();
  *nowp = now;
  for (int i = 0; i < n; i++) {
    if (evs[i].data.ptr == NULL) return -2; /* stdin */
    conn *c = evs[i].data.ptr;
    if (c->fd < 0) continue;
    handle(c, evs[i].events, now);
  }
  while (dirty_list) {
    conn *c = dirty_list;
    dirty_list = c->next_dirty;
    c->dirty = 0;
    if (c->fd >= 0 && c->state >= S_OPEN && flush(c) < 0) {
      if (c->state == S_CLOSING) { conn_finish(c); continue; }
      fatal("conn %d: write failed: %s", c->id, strerror(errno));
    }
  }
  return n;
}

static void phase(const char *name) { printf("{\"phase\":\"%s\"}\n", name); fflush(stdout); }

static void close_all(double seconds) {
  stopping = 1;
  for (int i = 0; i < nconns; i++) if (conns[i].fd >= 0) send_close(&conns[i]);
  uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9), now = 0;
  while (closed_count < nconns && now_ns() < deadline) loop_once(50, &now);
  for (int i = 0; i < nconns; i++) if (conns[i].fd >= 0) { errors_unclean++; conn_finish(&conns[i]); }
}

static void run_echo(void) {
  int n = opt_conns > 0 ? opt_conns : 50;
  nconns = n;
  conns = alloc_conns(n, opt_depth + 8);
  build_messages(opt_size);
  for (int i = 0; i < n; i++) conn_start(&conns[i]);
  uint64_t now = now_ns(), deadline = now + 10000000000ull;
  while (open_count < n) { loop_once(100, &now); if (now > deadline) fatal("only %d of %d connections opened in 10 s", open_count, n); }
  for (int i = 0; i < n; i++) for (int k = 0; k < opt_depth; k++) send_message(&conns[i], now);
  uint64_t t0 = now_ns();
  uint64_t tm = t0 + (uint64_t)(opt_warmup * 1e9), te = tm + (uint64_t)(opt_duration * 1e9);
  double cpu0 = 0, cpu1 = 0;
  uint64_t start = 0, end = 0, warm_msgs = 0;
  while (1) {
    loop_once(10, &now);
    if (!measuring && !start && now >= tm) { measuring = 1; start = now; cpu0 = cpu_seconds(); warm_msgs = total_msgs; phase("measure"); }
    if (measuring && now >= te) { measuring = 0; end = now; cpu1 = cpu_seconds(); phase("end"); break; }
    if (!start && now > tm + 5000000000ull) break;
  }
  if (!warm_msgs && !m_msgs) fatal("no echo came back during the warm-up and measurement");
  /* let what is in flight come back (not counted), then close cleanly */
  stop_sending = 1;
  uint64_t drain_deadline = now_ns() + 5000000000ull;
  for (;;) {
    int pending = 0;
    for (int i = 0; i < n; i++) if (conns[i].recv_seq < conns[i].send_seq) { pending = 1; break; }
    if (!pending || now_ns() > drain_deadline) break;
    loop_once(20, &now);
  }
  int stalled = 0;
  for (int i = 0; i < n; i++) if (conns[i].recv_seq < conns[i].send_seq) stalled++;
  close_all(3);
  double secs = (double)(end - start) / 1e9;
  printf("{\"mode\":\"echo\",\"conns\":%d,\"size\":%zu,\"type\":\"%s\",\"depth\":%d,\"deflate\":%s,"
         "\"duration_s\":%.3f,\"messages\":%llu,\"msgs_per_s\":%.1f,\"mb_per_s\":%.2f,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"gen_cpu_s\":%.3f,\"gen_cpu_share\":%.3f,"
         "\"stalled_conns\":%d,\"unclean_closes\":%llu,\"reads_per_msg\":%.3f,\"writes_per_msg\":%.3f}\n",
         n, opt_size, opt_binary ? "binary" : "text", opt_depth, opt_deflate ? "true" : "false", secs,
         (unsigned long long)m_msgs, m_msgs / secs, m_bytes / secs / 1e6, hpct(0.50), hpct(0.99), cpu1 - cpu0,
         (cpu1 - cpu0) / secs, stalled, (unsigned long long)errors_unclean,
         m_msgs ? (double)m_reads / m_msgs : 0.0, m_msgs ? (double)m_writes / m_msgs : 0.0);
}

static void run_handshake(void) {
  int w = opt_workers;
  nconns = w;
  conns = alloc_conns(w, 8);
  opt_depth = 1;
  build_messages(0);
  mode = M_HANDSHAKE;
  uint64_t now = now_ns();
  uint64_t t0 = now, tm = t0 + (uint64_t)(opt_warmup * 1e9), te = tm + (uint64_t)(opt_duration * 1e9);
  for (int i = 0; i < w; i++) conn_start(&conns[i]);
  uint64_t start = 0, end = 0;
  double cpu0 = 0, cpu1 = 0;
  while (1) {
    loop_once(10, &now);
    for (int i = 0; i < w; i++) {
      conn *c = &conns[i];
      if (c->state == S_DONE) {
        hs_done_total++;
        if (measuring) hs_done_measured++;
        closed_count--;
        if (!end) conn_start(c);
      } else if (c->fd >= 0 && now - c->t_start > 5000000000ull) {
        fatal("conn %d: a handshake and close took longer than 5 s (state %d)", c->id, c->state);
      }
    }
    if (!measuring && !start && now >= tm) { measuring = 1; start = now; cpu0 = cpu_seconds(); phase("measure"); }
    if (measuring && now >= te) { measuring = 0; end = now; cpu1 = cpu_seconds(); phase("end"); break; }
  }
  /* finish the ones in progress */
  uint64_t deadline = now_ns() + 5000000000ull;
  for (;;) {
    int busy = 0;
    for (int i = 0; i < w; i++) if (conns[i].fd >= 0) busy = 1;
    if (!busy || now_ns() > deadline) break;
    loop_once(20, &now);
  }
  double secs = (double)(end - start) / 1e9;
  printf("{\"mode\":\"handshake\",\"workers\":%d,\"duration_s\":%.3f,\"handshakes\":%llu,\"per_s\":%.1f,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"close_mean_us\":%.1f,\"gen_cpu_s\":%.3f,\"gen_cpu_share\":%.3f,\"unclean_closes\":%llu}\n",
         w, secs, (unsigned long long)hs_done_measured, hs_done_measured / secs, hpct(0.5), hpct(0.99),
         close_count ? close_ns_sum / 1e3 / (double)close_count : 0.0, cpu1 - cpu0,
         (cpu1 - cpu0) / secs, (unsigned long long)errors_unclean);
}

static void run_idle(void) {
  int k = opt_conns > 0 ? opt_conns : 10000;
  nconns = k;
  opt_depth = 1;
  conns = alloc_conns(k, 8);
  if (opt_prime) { opt_size = opt_prime; build_messages(opt_prime); } else build_messages(0);
  uint64_t now = now_ns(), t0 = now;
  double cpu0 = cpu_seconds();
  measuring = 1;
  int started = 0, ready = 0;
  uint64_t deadline = t0 + 60000000000ull;
  while (1) {
    int inprog = started - ready;
    while (started < k && inprog < opt_connect_concurrency) { conn_start(&conns[started++]); inprog++; }
    loop_once(10, &now);
    ready = 0;
    for (int i = 0; i < started; i++) if (conns[i].state == S_OPEN && conns[i].primed) ready++;
    if (ready == k) break;
    if (now > deadline) fatal("only %d of %d connections established in 60 s", ready, k);
  }
  double secs = (double)(now - t0) / 1e9;
  double cpu = cpu_seconds() - cpu0;
  printf("{\"phase\":\"established\",\"conns\":%d,\"elapsed_s\":%.3f}\n", k, secs);
  fflush(stdout);
  struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &e);
  uint64_t hold_deadline = now_ns() + (uint64_t)(opt_hold_max * 1e9);
  while (now_ns() < hold_deadline) {
    if (loop_once(200, &now) == -2) break;
  }
  epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
  int still_open = 0;
  for (int i = 0; i < k; i++) if (conns[i].state == S_OPEN) still_open++;
  close_all(5);
  printf("{\"mode\":\"idle\",\"conns\":%d,\"established_s\":%.3f,\"conns_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
         "\"gen_cpu_s\":%.3f,\"open_at_release\":%d,\"unclean_closes\":%llu}\n",
         k, secs, k / secs, hpct(0.5), hpct(0.99), cpu, still_open, (unsigned long long)errors_unclean);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  if (!strcmp(argv[1], "echo")) mode = M_ECHO;
  else if (!strcmp(argv[1], "handshake")) mode = M_HANDSHAKE;
  else if (!strcmp(argv[1], "idle")) mode = M_IDLE;
  else usage();
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && (i++, 1))
    if (ARG("--host")) opt_host = v;
    else if (ARG("--port")) opt_port = atoi(v);
    else if (ARG("--path")) opt_path = v;
    else if (ARG("--protocol")) opt_protocol = v;
    else if (ARG("--conns")) opt_conns = atoi(v);
    else if (ARG("--size")) opt_size = (size_t)strtoull(v, NULL, 10);
    else if (ARG("--type")) { if (!strcmp(v, "text")) opt_binary = 0; else if (!strcmp(v, "binary")) opt_binary = 1; else usage(); }
    else if (ARG("--depth")) opt_depth = atoi(v);
    else if (ARG("--batch")) opt_batch = atoi(v);
    else if (ARG("--warmup")) opt_warmup = atof(v);
    else if (ARG("--duration")) opt_duration = atof(v);
    else if (ARG("--workers")) opt_workers = atoi(v);
    else if (ARG("--prime")) opt_prime = (size_t)strtoull(v, NULL, 10);
    else if (ARG("--hold-max")) opt_hold_max = atof(v);
    else if (ARG("--src-addrs")) opt_src_addrs = atoi(v);
    else if (ARG("--connect-concurrency")) opt_connect_concurrency = atoi(v);
    else if (!strcmp(a, "--deflate")) opt_deflate = 1;
    else { fprintf(stderr, "loadgen: unknown or incomplete option %s\n", a); usage(); }
  }
  if (!opt_port || opt_depth < 1 || opt_workers < 1 || opt_batch < 1 || opt_batch > opt_depth) usage();
  if (opt_src_addrs < 0) opt_src_addrs = mode == M_ECHO ? 1 : 16;
  raise_nofile();
  rng_state ^= (uint64_t)getpid() * 0x2545F4914F6CDD1Dull;
  hist = calloc(HBUCKETS, sizeof(uint64_t));
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0 || !hist) fatal("setup failed");
  if (mode == M_ECHO) run_echo();
  else if (mode == M_HANDSHAKE) run_handshake();
  else run_idle();
  fflush(stdout);
  return 0;
}
