/*
 * pelmapd.c -- the pelmap job-service daemon: command line, the
 * libmicrohttpd set-up (thread pool, limits, TLS), one SQLite connection per
 * server thread, the periodic lease reaper, the bundled default potential,
 * graceful shutdown on SIGTERM/SIGINT (whichever thread the kernel hands the
 * signal to, see on_stop_signal), and the `pelmapd user ...` admin
 * commands.  The routes are in api.c.
 *
 *   pelmapd --db FILE --listen ADDR:PORT [--web DIR] [--tls-cert F --tls-key F]
 *           [--default-potential FILE|none] [--threads N] [--max-body BYTES] ...
 *   pelmapd user add NAME [--role user|worker|admin] [--admin] --db FILE [limits]
 *   pelmapd user limits NAME --db FILE [--max-upload B] [--max-atoms N]
 *           [--max-queued N] [--rate R]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "server.h"

static api_server S;

/* ------------------------------------------------------------------ */
/* Per-thread database handles                                         */
/* ------------------------------------------------------------------ */

static void close_q(void *p) { jobq_close(p); }

/* This thread's queue handle, opened on first use (closed by close_q when
 * the thread exits); NULL if the database cannot be opened. */
jobq *api_q(api_server *s) {
  jobq *q = pthread_getspecific(s->qkey);
  if (q) return q;
  if (jobq_open(s->db_path, &q) < 0) return NULL;
  jobq_set_backoff(q, s->backoff_base, s->backoff_max);
  /* Requests never checkpoint: the main thread does it (see main). */
  jobq_set_autocheckpoint(q, 0);
  if (pthread_setspecific(s->qkey, q) != 0) {
    jobq_close(q);
    return NULL;
  }
  return q;
}

/* ------------------------------------------------------------------ */
/* libmicrohttpd callbacks                                             */
/* ------------------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  api_server *s = cls;
  api_req *r = *con_cls;
  (void)version;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    *con_cls = r;
    atomic_fetch_add(&s->requests, 1);
    enum MHD_Result ret = MHD_YES;
    if (api_precheck(s, r, c, url, method, &ret)) {
      r->responded = 1;
      return ret;
    }
    r->started = 1;
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (!r->responded && !r->overflow) {
      if (r->body.n + *upload_data_size > r->limit) {
        r->overflow = 1;
        free(r->body.s);
        r->body = (http_buf){0};
      } else {
        http_buf_add(&r->body, upload_data, *upload_data_size);
        if (r->body.oom) r->overflow = 1;
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (r->responded) return MHD_YES;
  r->responded = 1;
  return api_route(s, r, c, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  api_req *r = *con_cls;
  if (!r) return;
  free(r->body.s);
  free(r);
  *con_cls = NULL;
}

static void on_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  fprintf(stderr, "pelmapd: ");
  vfprintf(stderr, fmt, ap);
}

/* ------------------------------------------------------------------ */
/* Stop signals                                                        */
/* ------------------------------------------------------------------ */

/* The main thread takes SIGTERM and SIGINT with sigtimedwait; it and every
 * thread it starts (the libmicrohttpd pool) block them.  Threads that a
 * library starts before main runs do not: OpenBLAS's constructor starts its
 * thread pool at load time with no signal blocked.  The kernel gives a
 * process-directed signal to any thread that does not block it, so a SIGTERM
 * sent while the main thread is between two sigtimedwait calls (reaping,
 * checkpointing) went to such a thread, and with the default action it
 * killed the process (exit status 143, no clean shutdown).  With this
 * handler installed the signal is caught there instead and passed on to
 * the main thread, where it stays pending (blocked) until sigtimedwait takes
 * it; stop_signal records it as well.  Only async-signal-safe calls. */
static pthread_t main_thread;
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) {
  int e = errno;
  stop_signal = sig;
  pthread_kill(main_thread, sig);
  errno = e;
}

/* Block SIGTERM and SIGINT in this (the main) thread and in the threads it
 * will start, catch them in any other thread (on_stop_signal), ignore
 * SIGPIPE; fills *sigs with the set for sigtimedwait.  0, or -1 if a
 * handler cannot be installed. */
static int stop_signals_init(sigset_t *sigs) {
  main_thread = pthread_self();
  sigemptyset(sigs);
  sigaddset(sigs, SIGTERM);
  sigaddset(sigs, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, sigs, NULL) != 0) return -1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;
  sigfillset(&sa.sa_mask);
  if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) return -1;
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 65536 + 1 > cap) {
      cap = cap ? cap * 2 : 131072;
      char *t = realloc(buf, cap);
      if (!t) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = t;
    }
    size_t k = fread(buf + n, 1, 65536, f);
    n += k;
    if (k < 65536) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Register FILE as the public default potential. */
static int register_default_potential(jobq *q, const char *path) {
  size_t len = 0;
  char *data = read_file(path, &len);
  if (!data) {
    fprintf(stderr, "pelmapd: --default-potential %s: %s\n", path, strerror(errno));
    return -1;
  }
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  eng_potential *pot = NULL;
  if (eng_potential_read_buffer(data, len, base, ENG_POT_AUTO, &pot) != ENG_OK) {
    fprintf(stderr, "pelmapd: --default-potential: %s\n", eng_last_error());
    free(data);
    return -1;
  }
  char elements[512] = "[";
  for (int k = 0; k < eng_potential_nelements(pot); k++) {
    size_t n = strlen(elements);
    snprintf(elements + n, sizeof elements - n, "%s\"%s\"", k ? "," : "",
             eng_potential_element(pot, k));
  }
  strncat(elements, "]", sizeof elements - strlen(elements) - 1);
  char name[64];
  snprintf(name, sizeof name, "%s", base);
  jobq_potential_in in = {0, name, eng_pot_style_name(eng_potential_style(pot)), elements,
                          eng_potential_cutoff(pot), data, len, 1};
  int64_t id = 0;
  int existed = 0;
  int rc = jobq_potential_add(q, &in, &id, &existed);
  eng_potential_free(pot);
  free(data);
  if (rc < 0) {
    fprintf(stderr, "pelmapd: default potential: %s\n", jobq_errmsg(q));
    return -1;
  }
  fprintf(stderr, "pelmapd: default potential %s is id %lld\n", name, (long long)id);
  return 0;
}

static int parse_listen(const char *spec, struct sockaddr_in *sa) {
  char host[256];
  const char *colon = strrchr(spec, ':');
  if (!colon || (size_t)(colon - spec) >= sizeof host) return -1;
  memcpy(host, spec, (size_t)(colon - spec));
  host[colon - spec] = '\0';
  int64_t port = 0;
  if (http_parse_int64(colon + 1, 0, 65535, &port) < 0) return -1;
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)port);
  if (!host[0] || strcmp(host, "*") == 0)
    sa->sin_addr.s_addr = htonl(INADDR_ANY);
  else if (strcmp(host, "localhost") == 0)
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
    return -1;
  return 0;
}

/* ------------------------------------------------------------------ */
/* pelmapd user ...                                                    */
/* ------------------------------------------------------------------ */

static void user_usage(FILE *f) {
  fprintf(f,
          "usage: pelmapd user add NAME [--role user|worker|admin] [--admin] --db FILE [limits]\n"
          "       pelmapd user limits NAME --db FILE [limits]\n"
          "  add     create a user and print its new token once (only a hash is stored)\n"
          "  limits  change a user's limits\n"
          "  --db FILE          the service database (created if absent)\n"
          "  --role R           user (default: sees only its own objects), worker (claims and\n"
          "                     runs jobs, reads any file), admin (sees everything)\n"
          "  --admin            same as --role admin\n"
          "limits (default: 64 MiB, 1000000 atoms, 100000 jobs, 1000 requests/s):\n"
          "  --max-upload BYTES --max-atoms N --max-queued N --rate REQUESTS_PER_S\n");
}

static int user_cmd(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    user_usage(argc < 3 && !(argc > 1 && argv[1][0] == '-') ? stderr : stdout);
    return argc < 3 && !(argc > 1 && argv[1][0] == '-') ? 2 : 0;
  }
  const char *sub = argv[1], *name = argv[2], *db = NULL;
  int role = JOBQ_ROLE_USER;
  int64_t max_upload = 0, max_atoms = 0, max_queued = 0;
  double rate = 0;
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                       {"role", required_argument, 0, 'r'},
                                       {"admin", no_argument, 0, 'a'},
                                       {"max-upload", required_argument, 0, 'U'},
                                       {"max-atoms", required_argument, 0, 'A'},
                                       {"max-queued", required_argument, 0, 'Q'},
                                       {"rate", required_argument, 0, 'R'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  optind = 3;
  for (;;) {
    int o = getopt_long(argc, argv, "", opts, NULL);
    if (o == -1) break;
    switch (o) {
    case 'd': db = optarg; break;
    case 'r':
      role = jobq_role_from_name(optarg);
      if (role < 0) {
        fprintf(stderr, "pelmapd: --role must be user, worker or admin\n");
        return 2;
      }
      break;
    case 'a': role = JOBQ_ROLE_ADMIN; break;
    case 'U':
    case 'A':
    case 'Q': {
      int64_t v = 0;
      if (http_parse_int64(optarg, 1, INT64_C(1) << 50, &v) < 0) {
        fprintf(stderr, "pelmapd: %s needs a positive integer\n", argv[optind - 2]);
        return 2;
      }
      if (o == 'U') max_upload = v;
      if (o == 'A') max_atoms = v;
      if (o == 'Q') max_queued = v;
      break;
    }
    case 'R': {
      char *end = NULL;
      rate = strtod(optarg, &end);
      if (!end || *end || !(rate > 0) || rate > 1e9) {
        fprintf(stderr, "pelmapd: --rate needs a positive number\n");
        return 2;
      }
      break;
    }
    case 'h': user_usage(stdout); return 0;
    default: user_usage(stderr); return 2;
    }
  }
  if (!db) {
    fprintf(stderr, "pelmapd: --db FILE is required\n");
    return 2;
  }
  jobq *q = NULL;
  if (jobq_open(db, &q) < 0) {
    fprintf(stderr, "pelmapd: %s\n", jobq_open_error());
    return 1;
  }
  int rc = 0;
  if (strcmp(sub, "add") == 0) {
    char token[65];
    int64_t id = 0;
    if (jobq_user_add(q, name, role, token, &id) < 0) {
      fprintf(stderr, "pelmapd: %s\n", jobq_errmsg(q));
      rc = 1;
    } else {
      if ((max_upload || max_atoms || max_queued || rate > 0) &&
          jobq_user_set_limits(q, name, max_upload, max_atoms, max_queued, rate) < 0) {
        fprintf(stderr, "pelmapd: %s\n", jobq_errmsg(q));
        rc = 1;
      }
      printf("%s\n", token);
      fprintf(stderr, "pelmapd: user %s (id %lld, role %s) created; the token above is shown "
                      "only once\n",
              name, (long long)id, jobq_role_name(role));
    }
  } else if (strcmp(sub, "limits") == 0) {
    if (jobq_user_set_limits(q, name, max_upload, max_atoms, max_queued, rate) < 0) {
      fprintf(stderr, "pelmapd: %s\n", jobq_errmsg(q));
      rc = 1;
    }
  } else {
    fprintf(stderr, "pelmapd: unknown user command '%s'\n", sub);
    user_usage(stderr);
    rc = 2;
  }
  jobq_close(q);
  return rc;
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(f,
          "usage: pelmapd --db FILE --listen ADDR:PORT [options]\n"
          "       pelmapd user add NAME [--role R] --db FILE   (see pelmapd user --help)\n"
          "Serves the pelmap job API (docs/api.md) from one SQLite database.\n"
          "  --db FILE                 service database, created and migrated if needed (required)\n"
          "  --listen ADDR:PORT        address to listen on (default 127.0.0.1:8080; port 0 =\n"
          "                            any free port, printed on stderr as 'listening on ...')\n"
          "  --web DIR                 serve the static files of DIR at / (default: none)\n"
          "  --tls-cert FILE           PEM certificate: serve HTTPS (needs --tls-key)\n"
          "  --tls-key FILE            PEM private key for --tls-cert\n"
          "  --default-potential FILE  potential used by jobs that name none, public to all users\n"
          "                            (default /usr/share/lammps/potentials/CuZr_mm.eam.fs if\n"
          "                            present; 'none' to skip)\n"
          "  --threads N               HTTP worker threads, each with its own database\n"
          "                            connection (default 4)\n"
          "  --max-connections N       concurrent connections (default 512)\n"
          "  --max-body BYTES          largest request body for anyone (default 268435456)\n"
          "  --retry-backoff SECONDS   base of the exponential retry backoff (default 2)\n"
          "  --retry-backoff-max SECONDS  cap of the backoff (default 300)\n"
          "  --reap-interval SECONDS   how often expired leases are requeued and the WAL is\n"
          "                            checkpointed (default 1)\n"
          "  --port-file FILE          write the bound port number to FILE once listening\n"
          "  --quiet                   no start-up messages\n"
          "  -h, --help                this help\n");
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "user") == 0) return user_cmd(argc - 1, argv + 1);
  const char *db = NULL, *listen_spec = "127.0.0.1:8080", *web = NULL, *cert = NULL,
             *key = NULL, *defpot = "/usr/share/lammps/potentials/CuZr_mm.eam.fs",
             *port_file = NULL;
  int defpot_explicit = 0, quiet = 0;
  int64_t threads = 4, max_conn = 512, max_body = 268435456;
  double backoff = 2, backoff_max = 300, reap_interval = 1;
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                       {"listen", required_argument, 0, 'l'},
                                       {"web", required_argument, 0, 'w'},
                                       {"tls-cert", required_argument, 0, 'c'},
                                       {"tls-key", required_argument, 0, 'k'},
                                       {"default-potential", required_argument, 0, 'p'},
                                       {"threads", required_argument, 0, 't'},
                                       {"max-connections", required_argument, 0, 'C'},
                                       {"max-body", required_argument, 0, 'B'},
                                       {"retry-backoff", required_argument, 0, 'b'},
                                       {"retry-backoff-max", required_argument, 0, 'M'},
                                       {"reap-interval", required_argument, 0, 'r'},
                                       {"port-file", required_argument, 0, 'P'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  for (;;) {
    int o = getopt_long(argc, argv, "h", opts, NULL);
    if (o == -1) break;
    char *end = NULL;
    switch (o) {
    case 'd': db = optarg; break;
    case 'l': listen_spec = optarg; break;
    case 'w': web = optarg; break;
    case 'c': cert = optarg; break;
    case 'k': key = optarg; break;
    case 'p':
      defpot = optarg;
      defpot_explicit = 1;
      break;
    case 'P': port_file = optarg; break;
    case 'q': quiet = 1; break;
    case 't':
    case 'C':
    case 'B': {
      int64_t v = 0;
      int64_t mx = o == 't' ? 64 : o == 'C' ? 100000 : INT64_C(1) << 40;
      if (http_parse_int64(optarg, 1, mx, &v) < 0) {
        fprintf(stderr, "pelmapd: %s: a positive integer up to %lld is needed\n",
                argv[optind - 2], (long long)mx);
        return 2;
      }
      if (o == 't') threads = v;
      if (o == 'C') max_conn = v;
      if (o == 'B') max_body = v;
      break;
    }
    case 'b':
    case 'M':
    case 'r': {
      double v = strtod(optarg, &end);
      if (!end || *end || !(v >= 0) || v > 1e6 || (o == 'r' && v < 0.01)) {
        fprintf(stderr, "pelmapd: %s: a number of seconds is needed\n", argv[optind - 2]);
        return 2;
      }
      if (o == 'b') backoff = v;
      if (o == 'M') backoff_max = v;
      if (o == 'r') reap_interval = v;
      break;
    }
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pelmapd: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  if (!db) {
    fprintf(stderr, "pelmapd: --db FILE is required\n");
    usage(stderr);
    return 2;
  }
  if (!cert != !key) {
    fprintf(stderr, "pelmapd: --tls-cert and --tls-key go together\n");
    return 2;
  }
  struct sockaddr_in sa;
  if (parse_listen(listen_spec, &sa) < 0) {
    fprintf(stderr, "pelmapd: --listen %s: expected ADDR:PORT (IPv4), e.g. 127.0.0.1:8080\n",
            listen_spec);
    return 2;
  }

  /* Before anything that takes time: a stop signal from now on is kept
   * pending and ends the main loop at once. */
  sigset_t sigs;
  if (stop_signals_init(&sigs) < 0) {
    fprintf(stderr, "pelmapd: cannot install the SIGTERM/SIGINT handlers: %s\n", strerror(errno));
    return 1;
  }
  S.db_path = db;
  S.max_body = (size_t)max_body;
  S.backoff_base = backoff;
  S.backoff_max = backoff_max;
  S.lease_default = 60;
  S.started = jobq_now();
  pthread_mutex_init(&S.rl_lock, NULL);
  pthread_mutex_init(&S.auth_lock, NULL);
  if (pthread_key_create(&S.qkey, close_q) != 0) return 1;
  if (web) {
    if (!realpath(web, S.web_root)) {
      fprintf(stderr, "pelmapd: --web %s: %s\n", web, strerror(errno));
      return 1;
    }
  }
  /* The main thread's handle: migrations, default potential, reaper. */
  jobq *q = NULL;
  if (jobq_open(db, &q) < 0) {
    fprintf(stderr, "pelmapd: %s\n", jobq_open_error());
    return 1;
  }
  jobq_set_backoff(q, backoff, backoff_max);
  if (strcmp(defpot, "none") != 0) {
    if (access(defpot, R_OK) == 0) {
      if (register_default_potential(q, defpot) < 0) {
        jobq_close(q);
        return 1;
      }
    } else if (defpot_explicit) {
      fprintf(stderr, "pelmapd: --default-potential %s: %s\n", defpot, strerror(errno));
      jobq_close(q);
      return 1;
    }
  }
  if (api_openapi_init() < 0) {
    fprintf(stderr, "pelmapd: cannot build the OpenAPI document\n");
    jobq_close(q);
    return 1;
  }

  char *cert_pem = NULL, *key_pem = NULL;
  size_t cl = 0, kl = 0;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
  if (cert) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      fprintf(stderr, "pelmapd: this libmicrohttpd was built without TLS\n");
      return 1;
    }
    cert_pem = read_file(cert, &cl);
    key_pem = read_file(key, &kl);
    if (!cert_pem || !key_pem) {
      fprintf(stderr, "pelmapd: cannot read %s: %s\n", !cert_pem ? cert : key, strerror(errno));
      return 1;
    }
    flags |= MHD_USE_TLS;
  }
  struct MHD_Daemon *d;
  if (cert)
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &S,
                         MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, &S,
                         MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
                         MHD_OPTION_END);
  else
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &S,
                         MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, &S,
                         MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "pelmapd: cannot listen on %s: %s\n", listen_spec, strerror(errno));
    jobq_close(q);
    free(cert_pem);
    free(key_pem);
    return 1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  unsigned port = info ? info->port : ntohs(sa.sin_port);
  if (port_file) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *pf = fopen(tmp, "w");
    if (pf) {
      fprintf(pf, "%u\n", port);
      fclose(pf);
      rename(tmp, port_file);
    }
  }
  if (!quiet)
    fprintf(stderr, "pelmapd: listening on %s://%s:%u/ (db %s, %lld threads)\n",
            cert ? "https" : "http", inet_ntoa(sa.sin_addr), port, db, (long long)threads);

  /* Main loop: wait for a signal; meanwhile requeue expired leases and
   * checkpoint the WAL every reap interval. */
  for (;;) {
    struct timespec ts = {(time_t)reap_interval,
                          (long)((reap_interval - (double)(time_t)reap_interval) * 1e9)};
    int sig = sigtimedwait(&sigs, NULL, &ts);
    if (sig == SIGTERM || sig == SIGINT || stop_signal) break;
    int n = 0;
    if (jobq_reap(q, &n) < 0) fprintf(stderr, "pelmapd: reaper: %s\n", jobq_errmsg(q));
    if (jobq_checkpoint(q) < 0) fprintf(stderr, "pelmapd: checkpoint: %s\n", jobq_errmsg(q));
  }
  if (!quiet) fprintf(stderr, "pelmapd: shutting down\n");
  /* Stop accepting, let in-flight requests finish (up to 2 s), then stop. */
  MHD_socket ls = MHD_quiesce_daemon(d);
  if (ls != MHD_INVALID_SOCKET) close(ls);
  for (int i = 0; i < 40; i++) {
    const union MHD_DaemonInfo *ci = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (!ci || ci->num_connections == 0) break;
    usleep(50000);
  }
  MHD_stop_daemon(d);
  api_openapi_free();
  jobq_close(q);
  free(cert_pem);
  free(key_pem);
  pthread_key_delete(S.qkey);
  if (!quiet) fprintf(stderr, "pelmapd: stopped\n");
  return 0;
}
