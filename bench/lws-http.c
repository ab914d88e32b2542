/*
 * lws-http: the libwebsockets reference for wsloop's HTTP benchmark (Debian's
 * libwebsockets-dev, 4.1.x API).
 *
 *   lws-http --port N [--host 127.0.0.1] --root DIR [--serv-buf BYTES]
 *
 * One vhost, two mounts, HTTP/1.1 with keep-alive (lws's default for 1.1 when the
 * response has a Content-Length):
 *   /static  LWSMPRO_FILE on DIR: lws's own file server (.bin is mapped to
 *            application/octet-stream: lws answers 415 for an extension it does not know).
 *   /cb      LWSMPRO_CALLBACK bound to the "hello" protocol: LWS_CALLBACK_HTTP answers
 *            /cb/hello at once (headers with Content-Length, then the body as
 *            LWS_WRITE_HTTP_FINAL, then lws_http_transaction_completed), anything else 404.
 *
 * lws serves a file in pieces of its per-thread service buffer (pt_serv_buf_size, 4 KiB
 * by default): one read and one write per piece. --serv-buf sets it, 64 KiB by default, the
 * piece size wsloop's file mount and Node's fs streams use, so that the three servers make
 * the same number of reads and writes per file.
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static volatile int interrupted;

/* The dynamic answer: short, fixed, so that the client can check every byte. */
static const char hello[] = "hello from the callback mount\n";

static int callback_hello(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  switch (reason) {
  case LWS_CALLBACK_HTTP: {
    /* in: lws 4.1 passes the whole URI for a GET on a CALLBACK mount (only the part after
     * the mountpoint for a POST, or for a mount with .protocol set): accept both */
    const char *path = in ? (const char *)in : "";
    if (!strncmp(path, "/cb/", 4)) path += 3;
    if (strcmp(path, "/hello")) {
      if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL)) return -1;
      return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    unsigned char head[LWS_PRE + 256], *start = head + LWS_PRE, *p = start, *end = head + sizeof head - 1;
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "text/plain", sizeof hello - 1, &p, end)) return 1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return 1;
    unsigned char body[LWS_PRE + sizeof hello];
    memcpy(body + LWS_PRE, hello, sizeof hello - 1);
    if (lws_write(wsi, body + LWS_PRE, sizeof hello - 1, LWS_WRITE_HTTP_FINAL) != (int)(sizeof hello - 1)) return 1;
    /* non-zero: the connection must close (HTTP/1.0 without keep-alive, or an error) */
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }
  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

static struct lws_protocols protocols[] = {
  /* protocols[0] takes HTTP outside the CALLBACK mount, i.e. the file mount's callbacks */
  {"http-only", lws_callback_http_dummy, 0, 0, 0, NULL, 0},
  {"hello", callback_hello, 0, 0, 0, NULL, 0},
  {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_protocol_vhost_options bin_mime = {NULL, NULL, ".bin", "application/octet-stream"};

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *root = NULL;
  int port = 7681;
  unsigned int serv_buf = 64 * 1024;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--host") && i + 1 < argc) host = argv[++i];
    else if (!strcmp(argv[i], "--root") && i + 1 < argc) root = argv[++i];
    else if (!strcmp(argv[i], "--serv-buf") && i + 1 < argc) serv_buf = (unsigned int)strtoul(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: lws-http --port N [--host H] --root DIR [--serv-buf BYTES]\n");
      return 2;
    }
  }
  if (!root) {
    fprintf(stderr, "lws-http: --root DIR is required\n");
    return 2;
  }

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

  /* the callback mount first in the chain; lws picks the longest matching mountpoint */
  static struct lws_http_mount cb_mount, file_mount;
  memset(&file_mount, 0, sizeof file_mount);
  file_mount.mountpoint = "/static";
  file_mount.mountpoint_len = (unsigned char)strlen(file_mount.mountpoint);
  file_mount.origin = root;
  file_mount.origin_protocol = LWSMPRO_FILE;
  file_mount.extra_mimetypes = &bin_mime;
  memset(&cb_mount, 0, sizeof cb_mount);
  cb_mount.mount_next = &file_mount;
  cb_mount.mountpoint = "/cb";
  cb_mount.mountpoint_len = (unsigned char)strlen(cb_mount.mountpoint);
  cb_mount.origin = "hello";
  cb_mount.origin_protocol = LWSMPRO_CALLBACK;

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = port;
  info.iface = host;
  info.protocols = protocols;
  info.mounts = &cb_mount;
  info.pt_serv_buf_size = serv_buf;
  info.gid = -1;
  info.uid = -1;
  info.options = LWS_SERVER_OPTION_DISABLE_IPV6;

  struct lws_context *context = lws_create_context(&info);
  if (!context) {
    fprintf(stderr, "lws-http: lws_create_context failed (port %d in use?)\n", port);
    return 1;
  }
  printf("lws-http listening on http://%s:%d/ (libwebsockets %s, /static from %s, serv_buf %u)\n", host, port, lws_get_library_version(), root, serv_buf);
  fflush(stdout);
  while (!interrupted && lws_service(context, 0) >= 0)
    ;
  lws_context_destroy(context);
  return 0;
}
