// Directives whose verdict does not depend on their arguments: one reason each, shared by every occurrence.
// Directives that set sidecar options, or whose verdict depends on their value, are handled in translate.ts.
// Anything in neither place is reported as unsupported ("unknown directive"), never silently dropped.
import type { NoteKind } from "./notes.ts";

export interface Verdict {
  kind: NoteKind;
  message: string;
}

const notNeeded = (message: string): Verdict => ({ kind: "not_needed", message });
const unsupported = (message: string): Verdict => ({ kind: "unsupported", message });

const WORKERS = notNeeded(
  "nginx process tuning; the sidecar is one Node.js event loop (connection limits come from the container's ulimit)",
);
const LOGS = notNeeded(
  "the sidecar writes one JSON line per request and per WebSocket to stdout (level: logLevel, default info)",
);
const FILE_IO = notNeeded("file-serving I/O tuning; the sidecar serves no files");
const HASHES = notNeeded("nginx hash-table sizing");
const BUFFERS = notNeeded("the sidecar streams requests and responses in both directions without buffering them");
const UPSTREAM_POOL = notNeeded("the sidecar always pools keep-alive connections to the gateway");
const TLS_TUNING = notNeeded(
  "the sidecar uses Node.js TLS defaults: TLS 1.2 and 1.3 only, with Node's default cipher list",
);
const CONTENT = notNeeded(
  "the gateway sets Content-Type and encoding itself; the sidecar passes responses through unchanged",
);
const NO_FILES = unsupported("the sidecar serves no files: every request goes to the gateway");
const NO_REWRITE = unsupported(
  "the sidecar forwards requests and responses unchanged apart from the forwarding headers",
);
const NO_ACL = unsupported(
  'not translated (nginx\'s order of allow and deny rules, and lists per location, have no equivalent): for "allow <cidr>; … deny all;" set allowedClients to the allowed CIDRs (checked on every path, against the client behind trustedHops), or publish the port on 127.0.0.1 only, use a firewall, or mode "identity"',
);
const NO_METHOD_ACL = unsupported(
  'the sidecar does not restrict methods: every method goes to the gateway; limit who may connect with allowedClients or mode "identity"',
);
const NO_CLIENT_CERT = unsupported(
  'the sidecar does not verify client certificates: use mode "identity" (a token per user) instead',
);
const NO_RATE_LIMIT = unsupported(
  "the sidecar has no request-rate limits; the gateway rate-limits failed logins per client IP, which the sidecar's X-Forwarded-For makes per real client",
);

export const STATIC_VERDICTS: Readonly<Record<string, Verdict>> = {
  // main and events context
  worker_processes: WORKERS,
  worker_connections: WORKERS,
  worker_rlimit_nofile: WORKERS,
  worker_cpu_affinity: WORKERS,
  worker_priority: WORKERS,
  worker_shutdown_timeout: WORKERS,
  worker_rlimit_core: WORKERS,
  multi_accept: WORKERS,
  use: WORKERS,
  accept_mutex: WORKERS,
  accept_mutex_delay: WORKERS,
  pid: WORKERS,
  user: WORKERS,
  daemon: WORKERS,
  master_process: WORKERS,
  pcre_jit: WORKERS,
  timer_resolution: WORKERS,
  thread_pool: WORKERS,
  lock_file: WORKERS,
  working_directory: WORKERS,
  env: notNeeded("pass environment to the sidecar container directly"),
  load_module: unsupported("nginx dynamic modules have no sidecar equivalent"),
  // logging
  error_log: LOGS,
  access_log: LOGS,
  log_format: LOGS,
  log_not_found: LOGS,
  log_subrequest: LOGS,
  open_log_file_cache: LOGS,
  rewrite_log: LOGS,
  // static files and I/O
  sendfile: FILE_IO,
  sendfile_max_chunk: FILE_IO,
  tcp_nopush: FILE_IO,
  aio: FILE_IO,
  directio: FILE_IO,
  output_buffers: FILE_IO,
  open_file_cache: FILE_IO,
  open_file_cache_valid: FILE_IO,
  open_file_cache_min_uses: FILE_IO,
  open_file_cache_errors: FILE_IO,
  tcp_nodelay: notNeeded("Node.js sets TCP_NODELAY on its sockets by default"),
  root: NO_FILES,
  alias: NO_FILES,
  index: NO_FILES,
  try_files: NO_FILES,
  autoindex: NO_FILES,
  expires: NO_FILES,
  etag: NO_FILES,
  error_page: unsupported(
    "the gateway's own error responses are passed through; the sidecar's 502/504 pages are fixed",
  ),
  // hash tables, MIME types
  types_hash_max_size: HASHES,
  types_hash_bucket_size: HASHES,
  server_names_hash_bucket_size: HASHES,
  server_names_hash_max_size: HASHES,
  variables_hash_max_size: HASHES,
  variables_hash_bucket_size: HASHES,
  map_hash_max_size: HASHES,
  map_hash_bucket_size: HASHES,
  proxy_headers_hash_max_size: HASHES,
  proxy_headers_hash_bucket_size: HASHES,
  types: CONTENT,
  default_type: CONTENT,
  charset: CONTENT,
  source_charset: CONTENT,
  gzip: notNeeded("the sidecar does not compress; responses pass through as the gateway sent them"),
  gzip_types: CONTENT,
  gzip_vary: CONTENT,
  gzip_proxied: CONTENT,
  gzip_comp_level: CONTENT,
  gzip_min_length: CONTENT,
  gzip_http_version: CONTENT,
  gzip_buffers: CONTENT,
  gzip_disable: CONTENT,
  server_tokens: notNeeded("the sidecar adds no Server header of its own"),
  // client connections
  keepalive_timeout: notNeeded(
    "client keep-alive is handled by the sidecar (65 s idle, longer than common load balancers)",
  ),
  keepalive_requests: notNeeded("client keep-alive is handled by the sidecar"),
  keepalive_time: notNeeded("client keep-alive is handled by the sidecar"),
  lingering_close: WORKERS,
  lingering_time: WORKERS,
  lingering_timeout: WORKERS,
  reset_timedout_connection: WORKERS,
  client_header_buffer_size: notNeeded(
    "buffer sizing; the header size limit is maxHeaderBytes (see large_client_header_buffers)",
  ),
  client_body_buffer_size: BUFFERS,
  client_body_temp_path: BUFFERS,
  client_body_in_file_only: BUFFERS,
  underscores_in_headers: notNeeded("Node.js accepts underscores in header names"),
  ignore_invalid_headers: notNeeded("Node.js rejects malformed header lines with 400"),
  chunked_transfer_encoding: notNeeded("transfer encoding is passed through"),
  absolute_redirect: notNeeded("the sidecar never rewrites Location"),
  port_in_redirect: notNeeded("the sidecar never rewrites Location"),
  server_name_in_redirect: notNeeded("the sidecar never rewrites Location"),
  http2: notNeeded(
    "the sidecar speaks HTTP/1.1, which WebSocket upgrades need anyway; browsers negotiate it transparently",
  ),
  http2_max_concurrent_streams: notNeeded("the sidecar speaks HTTP/1.1"),
  http2_chunk_size: notNeeded("the sidecar speaks HTTP/1.1"),
  // proxying to the gateway
  proxy_http_version: notNeeded("the sidecar always speaks HTTP/1.1 with keep-alive to the gateway"),
  proxy_buffering: BUFFERS,
  proxy_request_buffering: BUFFERS,
  proxy_buffer_size: BUFFERS,
  proxy_buffers: BUFFERS,
  proxy_busy_buffers_size: BUFFERS,
  proxy_max_temp_file_size: BUFFERS,
  proxy_temp_file_write_size: BUFFERS,
  proxy_temp_path: BUFFERS,
  proxy_socket_keepalive: UPSTREAM_POOL,
  keepalive: UPSTREAM_POOL,
  proxy_next_upstream: notNeeded(
    "one upstream, and the sidecar never retries (retrying a POST or a WebSocket is not safe)",
  ),
  proxy_next_upstream_tries: notNeeded("the sidecar never retries"),
  proxy_next_upstream_timeout: notNeeded("the sidecar never retries"),
  resolver: notNeeded(
    "the upstream name is resolved with the container's resolver (Docker's DNS) for each new connection",
  ),
  resolver_timeout: notNeeded("the upstream name is resolved with the container's resolver"),
  zone: notNeeded("shared-memory zone for nginx workers"),
  least_conn: notNeeded("one upstream server: nothing to balance"),
  ip_hash: notNeeded("one upstream server: nothing to balance"),
  hash: notNeeded("one upstream server: nothing to balance"),
  random: notNeeded("one upstream server: nothing to balance"),
  proxy_hide_header: NO_REWRITE,
  proxy_pass_header: NO_REWRITE,
  proxy_ignore_headers: NO_REWRITE,
  proxy_set_body: NO_REWRITE,
  proxy_method: NO_REWRITE,
  proxy_pass_request_headers: NO_REWRITE,
  proxy_pass_request_body: NO_REWRITE,
  proxy_intercept_errors: NO_REWRITE,
  proxy_cookie_domain: NO_REWRITE,
  proxy_cookie_path: NO_REWRITE,
  proxy_cookie_flags: NO_REWRITE,
  sub_filter: NO_REWRITE,
  sub_filter_once: NO_REWRITE,
  sub_filter_types: NO_REWRITE,
  rewrite: NO_REWRITE,
  more_set_headers: NO_REWRITE,
  more_clear_headers: NO_REWRITE,
  proxy_cache: unsupported("the sidecar caches nothing"),
  proxy_cache_path: unsupported("the sidecar caches nothing"),
  proxy_cache_valid: unsupported("the sidecar caches nothing"),
  proxy_cache_key: unsupported("the sidecar caches nothing"),
  proxy_cache_bypass: unsupported("the sidecar caches nothing"),
  proxy_no_cache: unsupported("the sidecar caches nothing"),
  proxy_ssl_verify: unsupported(
    "TLS to an https upstream uses Node.js defaults (certificate verified against the system CAs)",
  ),
  proxy_ssl_trusted_certificate: unsupported(
    "TLS to an https upstream uses Node.js defaults (NODE_EXTRA_CA_CERTS adds a CA)",
  ),
  proxy_ssl_server_name: unsupported("TLS to an https upstream uses Node.js defaults (SNI is the upstream host name)"),
  proxy_ssl_name: unsupported("TLS to an https upstream uses Node.js defaults"),
  proxy_ssl_protocols: unsupported("TLS to an https upstream uses Node.js defaults"),
  proxy_ssl_certificate: unsupported("the sidecar does not present a client certificate to the upstream"),
  proxy_ssl_certificate_key: unsupported("the sidecar does not present a client certificate to the upstream"),
  // TLS termination tuning
  ssl_ciphers: TLS_TUNING,
  ssl_prefer_server_ciphers: TLS_TUNING,
  ssl_session_cache: TLS_TUNING,
  ssl_session_timeout: TLS_TUNING,
  ssl_session_tickets: TLS_TUNING,
  ssl_ecdh_curve: TLS_TUNING,
  ssl_dhparam: TLS_TUNING,
  ssl_buffer_size: TLS_TUNING,
  ssl_early_data: TLS_TUNING,
  ssl_stapling: TLS_TUNING,
  ssl_stapling_verify: TLS_TUNING,
  ssl_conf_command: TLS_TUNING,
  ssl: unsupported('"ssl on" was removed in nginx 1.25.1; write "listen 443 ssl" instead'),
  ssl_password_file: unsupported("the TLS key must not be encrypted with a passphrase"),
  ssl_client_certificate: NO_CLIENT_CERT,
  ssl_verify_client: NO_CLIENT_CERT,
  ssl_verify_depth: NO_CLIENT_CERT,
  ssl_trusted_certificate: NO_CLIENT_CERT,
  ssl_crl: NO_CLIENT_CERT,
  // access control and limits
  allow: NO_ACL,
  deny: NO_ACL,
  limit_except: NO_METHOD_ACL,
  limit_req: NO_RATE_LIMIT,
  limit_req_zone: NO_RATE_LIMIT,
  limit_req_status: NO_RATE_LIMIT,
  limit_conn: NO_RATE_LIMIT,
  limit_conn_zone: NO_RATE_LIMIT,
  limit_conn_status: NO_RATE_LIMIT,
  limit_rate: NO_RATE_LIMIT,
  limit_rate_after: NO_RATE_LIMIT,
  // control flow: nothing in the sidecar is conditional on request variables
  if: unsupported('"if" blocks: the sidecar forwards every request the same way'),
  internal: unsupported("internal-only locations: the sidecar has no internal redirects or subrequests"),
  set: unsupported("variables: the sidecar forwards every request the same way"),
  geo: unsupported("variables: the sidecar forwards every request the same way"),
  split_clients: unsupported("variables: the sidecar forwards every request the same way"),
  stream: unsupported("TCP/UDP proxying (stream module): the sidecar proxies HTTP and WebSocket only"),
  mail: unsupported("mail proxying: the sidecar proxies HTTP and WebSocket only"),
};
