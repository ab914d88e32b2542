/*
 * lws-echo: the libwebsockets reference for wsloop's benchmarks (Debian's
 * libwebsockets-dev, 4.1.x API).
 *
 *   lws-echo --port N [--host 127.0.0.1] [--deflate] [--max-message BYTES] [--rx-buffer BYTES]
 *
 * Echoes whole messages: RECEIVE chunks (lws delivers a frame in pieces of at most
 * rx_buffer_size, and a message may be fragmented) are reassembled until
 * lws_is_final_fragment() && lws_remaining_packet_payload() == 0, then queued on the
 * connection; each SERVER_WRITEABLE sends one queued message with a single lws_write and
 * asks for another callback if more are queued. UTF-8 of text messages is validated
 * (LWS_SERVER_OPTION_VALIDATE_UTF8), as ws and wsloop do.
 *
 * rx_buffer_size defaults to 16 MiB + 1 so that lws can take and send a whole 16 MiB
 * message in one piece (with tx_packet_size 0 it also caps a single send); lws allocates
 * it per connection at ESTABLISHED, untouched pages cost no RSS.
 *
 * --deflate adds lws's permessage-deflate extension. With it, lws keeps compressing from
 * the buffer passed to lws_write across later POLLOUTs ("tx draining"), so the last
 * message written is freed only at the next WRITEABLE (which lws delivers after draining)
 * or at CLOSED.
 *
 * lws 4.1.6's permessage-deflate corrupts received messages when several connections
 * are active and one message inflates to more than the extension's rx buffer (2^10 B by
 * default): the inflater keeps pointing at unconsumed input in the per-thread read
 * buffer, which the next connection's read overwrites ("invalid distance too far back",
 * then an assertion). --deflate therefore raises the extension's rx and tx buffers to
 * 2^16 B per connection (--deflate-buf LOG2, set at ESTABLISHED with
 * lws_set_extension_option), which also keeps lws from sending 1 KiB fragments.
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct msg {
  struct msg *next;
  size_t len;
  int binary;
  unsigned char *buf; /* LWS_PRE bytes of headroom, then the payload */
};

struct pss {
  struct msg *head, *tail;
  struct msg *sent; /* written, kept until lws no longer needs it */
  unsigned char *rx; /* message being reassembled: LWS_PRE + payload */
  size_t rx_len, rx_cap;
  int rx_binary, receiving;
};

static volatile int interrupted;
static size_t max_message = 16 * 1024 * 1024;
static char deflate_buf_pwr2[8]; /* --deflate-buf: log2 of pmd's rx and tx buffers ("" = lws's 10) */

static void free_msg(struct msg *m) {
  if (!m) return;
  free(m->buf);
  free(m);
}

static int append(struct pss *p, const void *in, size_t len) {
  if (p->rx_len + len > max_message) return -1;
  if (LWS_PRE + p->rx_len + len > p->rx_cap) {
    size_t cap = p->rx_cap ? p->rx_cap : LWS_PRE + 4096;
    while (cap < LWS_PRE + p->rx_len + len) cap *= 2;
    unsigned char *nb = realloc(p->rx, cap);
    if (!nb) return -1;
    p->rx = nb;
    p->rx_cap = cap;
  }
  memcpy(p->rx + LWS_PRE + p->rx_len, in, len);
  p->rx_len += len;
  return 0;
}

static int callback_echo(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  struct pss *p = user;

  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED:
    memset(p, 0, sizeof *p);
    if (deflate_buf_pwr2[0]) {
      /* no-ops when the connection did not negotiate permessage-deflate */
      lws_set_extension_option(wsi, "permessage-deflate", "rx_buf_size", deflate_buf_pwr2);
      lws_set_extension_option(wsi, "permessage-deflate", "tx_buf_size", deflate_buf_pwr2);
    }
    return 0;

  case LWS_CALLBACK_RECEIVE: {
    int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (!p->receiving) {
      p->receiving = 1;
      p->rx_len = 0;
      p->rx_binary = lws_frame_is_binary(wsi);
      if (final) {
        /* the common case, a message in one piece: one exact allocation, no realloc */
        if (len > max_message) goto too_big;
        struct msg *m = malloc(sizeof *m);
        unsigned char *b = malloc(LWS_PRE + len + 1);
        if (!m || !b) return -1;
        memcpy(b + LWS_PRE, in, len);
        *m = (struct msg){NULL, len, p->rx_binary, b};
        p->receiving = 0;
        if (p->tail) p->tail->next = m; else p->head = m;
        p->tail = m;
        lws_callback_on_writable(wsi);
        return 0;
      }
    }
    if (append(p, in, len)) goto too_big;
    if (final) {
      struct msg *m = malloc(sizeof *m);
      if (!m) return -1;
      *m = (struct msg){NULL, p->rx_len, p->rx_binary, p->rx};
      p->rx = NULL;
      p->rx_cap = 0;
      p->rx_len = 0;
      p->receiving = 0;
      if (p->tail) p->tail->next = m; else p->head = m;
      p->tail = m;
      lws_callback_on_writable(wsi);
    }
    return 0;
  too_big:
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
    return -1;
  }

  case LWS_CALLBACK_SERVER_WRITEABLE: {
    free_msg(p->sent);
    p->sent = NULL;
    struct msg *m = p->head;
    if (!m) return 0;
    p->head = m->next;
    if (!p->head) p->tail = NULL;
    int n = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    p->sent = m;
    if (n < (int)m->len) {
      lwsl_err("lws_write: %d of %zu\n", n, m->len);
      return -1;
    }
    if (p->head) lws_callback_on_writable(wsi);
    return 0;
  }

  case LWS_CALLBACK_CLOSED:
    free_msg(p->sent);
    p->sent = NULL;
    while (p->head) {
      struct msg *m = p->head;
      p->head = m->next;
      free_msg(m);
    }
    p->tail = NULL;
    free(p->rx);
    p->rx = NULL;
    return 0;

  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

static struct lws_protocols protocols[] = {
  {"echo", callback_echo, sizeof(struct pss), 16 * 1024 * 1024 + 1, 0, NULL, 0},
  {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_extension extensions[] = {
  {"permessage-deflate", lws_extension_callback_pm_deflate, "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
  {NULL, NULL, NULL},
};

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 7681, deflate = 0;
  size_t rx_buffer = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--host") && i + 1 < argc) host = argv[++i];
    else if (!strcmp(argv[i], "--max-message") && i + 1 < argc) max_message = (size_t)strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--rx-buffer") && i + 1 < argc) rx_buffer = (size_t)strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--deflate")) deflate = 1;
    else if (!strcmp(argv[i], "--deflate-buf") && i + 1 < argc) snprintf(deflate_buf_pwr2, sizeof deflate_buf_pwr2, "%d", atoi(argv[++i]));
    else {
      fprintf(stderr, "usage: lws-echo --port N [--host H] [--deflate] [--max-message BYTES] [--rx-buffer BYTES] [--deflate-buf LOG2]\n");
      return 2;
    }
  }
  protocols[0].rx_buffer_size = rx_buffer ? rx_buffer : max_message + 1;
  if (deflate && !deflate_buf_pwr2[0]) strcpy(deflate_buf_pwr2, "16");

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = port;
  info.iface = host;
  info.protocols = protocols;
  info.gid = -1;
  info.uid = -1;
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
  if (deflate) info.extensions = extensions;

  struct lws_context *context = lws_create_context(&info);
  if (!context) {
    fprintf(stderr, "lws-echo: lws_create_context failed (port %d in use?)\n", port);
    return 1;
  }
  printf("lws-echo listening on ws://%s:%d/ (libwebsockets %s%s)\n", host, port, lws_get_library_version(), deflate ? ", permessage-deflate" : "");
  fflush(stdout);
  while (!interrupted && lws_service(context, 0) >= 0)
    ;
  lws_context_destroy(context);
  return 0;
}
