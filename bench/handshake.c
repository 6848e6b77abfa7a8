
/*
 * certmate bench: a TLS 1.3 handshake load generator.
 *
 * One process, non-blocking sockets and epoll, so that it uses one core.
 * Every handshake is a full one on a new connection: no session is ever
 * offered again, and the certificate is not verified.  After the
 * handshake the client sends close_notify, reads until the server
 * closes (taking the server's session tickets, which it throws away),
 * and resets the connection so that no TIME_WAIT is left behind.
 *
 * Usage:
 *
 *   handshake -p PORT [-a ADDR] [-n TOTAL] [-c CONCURRENCY]
 *             [-f NAMES_FILE [-o] | -s NAME] [-v] [-g GROUPS] [-r SEED]
 *             [-T TIMEOUT_MS] [-q] [-C CERT -K KEY] [-R PATH] [-L]
 *
 *     -f    one SNI name a line; each handshake picks one uniformly at
 *           random, or, with -o, the next one in order (-n defaults to
 *           the number of names then)
 *     -s    a fixed SNI name; without -f or -s no SNI is sent
 *     -v    require that the served certificate matches the SNI name
 *           (subjectAltName, else CN) on every handshake
 *     -g    key share groups (default X25519)
 *     -C/-K a client certificate (PEM, with its chain) and its key
 *     -R    after the handshake, GET PATH on the connection and require
 *           a 200 answer before the server closes it
 *     -L    also print the latency of the handshakes, from connect() to
 *           the finished handshake: median, 99th percentile and largest
 *
 *   handshake -W -p PORT [-s NAME] [-T TIMEOUT_MS] -- COMMAND [ARG...]
 *
 *     starts COMMAND and tries handshakes until one succeeds; prints
 *     the milliseconds from the start of COMMAND to that handshake
 *
 * Prints a one-line summary; exits 1 if any handshake failed.
 */


#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>


#define BENCH_MAX_CONNS     4096
#define BENCH_MAX_ERRORS    5


typedef enum {
    BENCH_IDLE = 0,
    BENCH_CONNECTING,
    BENCH_HANDSHAKE,
    BENCH_RESPONSE,
    BENCH_CLOSING
} bench_state_e;


typedef struct {
    int             fd;
    bench_state_e   state;
    SSL            *ssl;
    const char     *name;
    double          start;
    char            status[16];     /* the response's first bytes */
    size_t          nstatus;
} bench_conn_t;


typedef struct {
    struct sockaddr_in   addr;
    SSL_CTX             *ctx;
    int                  ep;

    char               **names;
    unsigned long        nnames;
    unsigned long        next_name;
    const char          *fixed;
    int                  ordered;
    int                  verify;
    int                  quiet;
    const char          *request;
    size_t               request_len;
    double               timeout;
    uint64_t             rand;

    unsigned long        total;
    unsigned long        started;
    unsigned long        done;
    unsigned long        ok;
    unsigned long        failed;
    unsigned long        mismatched;
    unsigned long        errors;

    double              *latencies;
    unsigned long        nlatencies;

    bench_conn_t        *conns;
    unsigned long        nconns;
} bench_t;


static void usage(void);
static double now(void);
static uint64_t next_rand(bench_t *b);
static void load_names(bench_t *b, const char *path);
static SSL_CTX *make_ctx(const char *groups, const char *cert,
    const char *key);
static const char *pick_name(bench_t *b);
static int start_conn(bench_t *b, bench_conn_t *c);
static void drive(bench_t *b, bench_conn_t *c);
static void handshake_done(bench_t *b, bench_conn_t *c);
static void want(bench_t *b, bench_conn_t *c, int err);
static void finish(bench_t *b, bench_conn_t *c, int success,
    const char *why);
static void run_load(bench_t *b);
static int wait_first(bench_t *b, char **cmd);
static int try_once(bench_t *b);
static int cmp_double(const void *a, const void *b);
static void print_latencies(bench_t *b);


static void
usage(void)
{
    fprintf(stderr,
            "usage: handshake -p PORT [-a ADDR] [-n TOTAL] [-c CONC]\n"
            "                 [-f NAMES [-o] | -s NAME] [-v] [-g GROUPS]\n"
            "                 [-r SEED] [-T TIMEOUT_MS] [-q] [-L]\n"
            "       handshake -W -p PORT [-s NAME] [-T TIMEOUT_MS]"
            " -- COMMAND...\n");
    exit(2);
}


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* xorshift64* */

static uint64_t
next_rand(bench_t *b)
{
    b->rand ^= b->rand >> 12;
    b->rand ^= b->rand << 25;
    b->rand ^= b->rand >> 27;

    return b->rand * 0x2545f4914f6cdd1dULL;
}


static void
load_names(bench_t *b, const char *path)
{
    FILE           *f;
    char           *line;
    size_t          size;
    ssize_t         len;
    unsigned long   cap;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "handshake: cannot open %s: %s\n", path,
                strerror(errno));
        exit(2);
    }

    cap = 1024;
    b->names = malloc(cap * sizeof(char *));
    line = NULL;
    size = 0;

    while (b->names && (len = getline(&line, &size, f)) != -1) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }

        if (len == 0) {
            continue;
        }

        if (b->nnames == cap) {
            cap *= 2;
            b->names = realloc(b->names, cap * sizeof(char *));
            if (b->names == NULL) {
                break;
            }
        }

        b->names[b->nnames] = strdup(line);
        if (b->names[b->nnames++] == NULL) {
            b->names = NULL;
        }
    }

    if (b->names == NULL) {
        fprintf(stderr, "handshake: out of memory\n");
        exit(2);
    }

    free(line);
    fclose(f);

    if (b->nnames == 0) {
        fprintf(stderr, "handshake: no names in %s\n", path);
        exit(2);
    }
}


static SSL_CTX *
make_ctx(const char *groups, const char *cert, const char *key)
{
    SSL_CTX  *ctx;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        goto failed;
    }

    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1
        || SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1
        || SSL_CTX_set1_groups_list(ctx, groups) != 1)
    {
        goto failed;
    }

    /* full handshakes only: sessions are neither kept nor offered */

    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

    if (cert
        && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1
            || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1))
    {
        goto failed;
    }

    return ctx;

failed:

    fprintf(stderr, "handshake: cannot set up the TLS client\n");
    ERR_print_errors_fp(stderr);
    exit(2);
}


static const char *
pick_name(bench_t *b)
{
    const char  *name;

    if (b->names == NULL) {
        return b->fixed;
    }

    if (b->ordered) {
        name = b->names[b->next_name++ % b->nnames];

    } else {
        name = b->names[next_rand(b) % b->nnames];
    }

    return name;
}


static int
start_conn(bench_t *b, bench_conn_t *c)
{
    int                 fd, one;
    struct epoll_event  ev;

    fd = socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0);
    if (fd == -1) {
        fprintf(stderr, "handshake: socket() failed: %s\n", strerror(errno));
        exit(2);
    }

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c->fd = fd;
    c->name = pick_name(b);
    c->start = now();
    c->ssl = NULL;
    b->started++;

    ev.events = EPOLLOUT;
    ev.data.ptr = c;

    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
        fprintf(stderr, "handshake: epoll_ctl() failed: %s\n",
                strerror(errno));
        exit(2);
    }

    if (connect(fd, (struct sockaddr *) &b->addr, sizeof(b->addr)) == -1
        && errno != EINPROGRESS)
    {
        c->state = BENCH_CONNECTING;
        finish(b, c, 0, strerror(errno));
        return -1;
    }

    c->state = BENCH_CONNECTING;

    return 0;
}


static void
drive(bench_t *b, bench_conn_t *c)
{
    int        rc, err;
    socklen_t  len;
    char       buf[4096];

    switch (c->state) {

    case BENCH_CONNECTING:
        len = sizeof(err);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            err = errno;
        }

        if (err) {
            finish(b, c, 0, strerror(err));
            return;
        }

        c->ssl = SSL_new(b->ctx);
        if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
            finish(b, c, 0, "SSL_new() failed");
            return;
        }

        if (c->name && SSL_set_tlsext_host_name(c->ssl, c->name) != 1) {
            finish(b, c, 0, "SSL_set_tlsext_host_name() failed");
            return;
        }

        SSL_set_connect_state(c->ssl);
        c->state = BENCH_HANDSHAKE;

        /* fall through */

    case BENCH_HANDSHAKE:
        ERR_clear_error();

        rc = SSL_do_handshake(c->ssl);

        if (rc == 1) {
            handshake_done(b, c);
            return;
        }

        err = SSL_get_error(c->ssl, rc);

        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            want(b, c, err);
            return;
        }

        finish(b, c, 0, NULL);
        return;

    case BENCH_RESPONSE:

        for ( ;; ) {
            ERR_clear_error();

            rc = SSL_read(c->ssl, buf, sizeof(buf));

            if (rc > 0) {
                len = sizeof(c->status) - c->nstatus;
                len = (size_t) rc < len ? (size_t) rc : len;
                memcpy(c->status + c->nstatus, buf, len);
                c->nstatus += len;
                continue;
            }

            err = SSL_get_error(c->ssl, rc);

            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                want(b, c, err);
                return;
            }

            if (c->nstatus >= 12 && memcmp(c->status + 8, " 200", 4) == 0) {
                b->ok++;
                finish(b, c, 1, NULL);

            } else {
                finish(b, c, 0, "no 200 answer");
            }

            return;
        }

    case BENCH_CLOSING:

        for ( ;; ) {
            ERR_clear_error();

            rc = SSL_read(c->ssl, buf, sizeof(buf));

            if (rc > 0) {
                continue;
            }

            err = SSL_get_error(c->ssl, rc);

            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                want(b, c, err);
                return;
            }

            /* the server closed: close_notify, EOF or a reset */

            finish(b, c, 1, NULL);
            return;
        }

    default:
        return;
    }
}


static void
handshake_done(bench_t *b, bench_conn_t *c)
{
    int    rc;
    X509  *x;

    if (b->latencies) {
        b->latencies[b->nlatencies++] = now() - c->start;
    }

    if (b->verify && c->name) {
        x = SSL_get0_peer_certificate(c->ssl);

        if (x == NULL || X509_check_host(x, c->name, 0, 0, NULL) != 1) {
            b->mismatched++;
            finish(b, c, 0, "the certificate does not match the name");
            return;
        }
    }

    if (b->request) {
        c->state = BENCH_RESPONSE;
        c->nstatus = 0;

        ERR_clear_error();

        /* a few dozen bytes: a fresh connection takes them at once */

        if (SSL_write(c->ssl, b->request, (int) b->request_len)
            != (int) b->request_len)
        {
            finish(b, c, 0, "SSL_write() failed");
            return;
        }

        drive(b, c);
        return;
    }

    b->ok++;
    c->state = BENCH_CLOSING;

    ERR_clear_error();

    rc = SSL_shutdown(c->ssl);

    if (rc < 0) {
        rc = SSL_get_error(c->ssl, rc);

        if (rc != SSL_ERROR_WANT_WRITE && rc != SSL_ERROR_WANT_READ) {
            /* the handshake counted; the server went away first */
            finish(b, c, 1, NULL);
            return;
        }
    }

    drive(b, c);
}


static void
want(bench_t *b, bench_conn_t *c, int err)
{
    struct epoll_event  ev;

    ev.events = (err == SSL_ERROR_WANT_WRITE) ? EPOLLOUT : EPOLLIN;
    ev.data.ptr = c;

    if (epoll_ctl(b->ep, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
        finish(b, c, 0, strerror(errno));
    }
}


/*
 * Ends a connection.  "success" tells whether the connection was good
 * to the end; a handshake is counted as good in handshake_done().
 */

static void
finish(bench_t *b, bench_conn_t *c, int success, const char *why)
{
    unsigned long  e;
    struct linger  lin;
    char           buf[256];

    if (!success) {
        if (c->state != BENCH_CLOSING) {
            b->failed++;
        }

        if (b->errors++ < BENCH_MAX_ERRORS && !b->quiet) {
            e = ERR_peek_last_error();

            if (why == NULL && e) {
                ERR_error_string_n(e, buf, sizeof(buf));
                why = buf;
            }

            fprintf(stderr, "handshake: \"%s\": %s\n",
                    c->name ? c->name : "(no SNI)",
                    why ? why : "closed by the server");
        }
    }

    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }

    /* a reset leaves no TIME_WAIT on either side of the loopback */

    lin.l_onoff = 1;
    lin.l_linger = 0;
    (void) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));

    close(c->fd);

    c->fd = -1;
    c->state = BENCH_IDLE;
    b->done++;
}


static void
run_load(bench_t *b)
{
    int                  i, n;
    double               t, last_check;
    unsigned long        k;
    bench_conn_t        *c;
    struct epoll_event   events[256];

    b->ep = epoll_create1(EPOLL_CLOEXEC);
    if (b->ep == -1) {
        fprintf(stderr, "handshake: epoll_create1() failed\n");
        exit(2);
    }

    b->conns = calloc(b->nconns, sizeof(bench_conn_t));
    if (b->conns == NULL) {
        fprintf(stderr, "handshake: out of memory\n");
        exit(2);
    }

    last_check = now();

    while (b->done < b->total) {

        for (k = 0; k < b->nconns && b->started < b->total; k++) {
            if (b->conns[k].state == BENCH_IDLE) {
                (void) start_conn(b, &b->conns[k]);
            }
        }

        n = epoll_wait(b->ep, events, 256, 100);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "handshake: epoll_wait() failed: %s\n",
                    strerror(errno));
            exit(2);
        }

        for (i = 0; i < n; i++) {
            c = events[i].data.ptr;

            if (c->state != BENCH_IDLE) {
                drive(b, c);
            }
        }

        t = now();

        if (t - last_check < 0.1) {
            continue;
        }

        last_check = t;

        for (k = 0; k < b->nconns; k++) {
            c = &b->conns[k];

            if (c->state != BENCH_IDLE && t - c->start > b->timeout) {
                finish(b, c, 0, "timed out");
            }
        }
    }

    close(b->ep);
}


/*
 * Start-up time: starts the command, then tries one handshake after
 * another until one succeeds.
 */

static int
wait_first(bench_t *b, char **cmd)
{
    int     status, exited;
    pid_t   pid;
    double  t0, t;

    t0 = now();

    pid = fork();

    if (pid == -1) {
        fprintf(stderr, "handshake: fork() failed: %s\n", strerror(errno));
        return 2;
    }

    if (pid == 0) {
        execvp(cmd[0], cmd);
        fprintf(stderr, "handshake: cannot run %s: %s\n", cmd[0],
                strerror(errno));
        _exit(127);
    }

    exited = 0;

    for ( ;; ) {
        if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;

            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "handshake: %s failed\n", cmd[0]);
                return 1;
            }
        }

        if (try_once(b) == 0) {
            t = now();
            break;
        }

        if (now() - t0 > b->timeout) {
            fprintf(stderr, "handshake: no handshake in %.0f ms\n",
                    b->timeout * 1000);
            return 1;
        }

        usleep(200);
    }

    printf("startup_ms=%.2f\n", (t - t0) * 1000);

    if (!exited) {
        (void) waitpid(pid, &status, 0);
    }

    return 0;
}


static int
try_once(bench_t *b)
{
    int             fd, rc;
    SSL            *ssl;
    struct timeval  tv;

    fd = socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -1;
    }

    tv.tv_sec = (time_t) b->timeout;
    tv.tv_usec = 0;
    (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    if (connect(fd, (struct sockaddr *) &b->addr, sizeof(b->addr)) == -1) {
        close(fd);
        return -1;
    }

    rc = -1;

    ssl = SSL_new(b->ctx);

    if (ssl && SSL_set_fd(ssl, fd) == 1
        && (b->fixed == NULL || SSL_set_tlsext_host_name(ssl, b->fixed) == 1)
        && SSL_connect(ssl) == 1)
    {
        rc = 0;

        if (b->verify && b->fixed
            && X509_check_host(SSL_get0_peer_certificate(ssl), b->fixed, 0,
                               0, NULL) != 1)
        {
            rc = -1;
        }

        (void) SSL_shutdown(ssl);
    }

    ERR_clear_error();
    SSL_free(ssl);
    close(fd);

    return rc;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return (x > y) - (x < y);
}


/* nearest-rank percentiles of the handshakes that finished */

static void
print_latencies(bench_t *b)
{
    unsigned long  n;

    n = b->nlatencies;

    if (n == 0) {
        printf("p50_us=0 p99_us=0 max_us=0\n");
        return;
    }

    qsort(b->latencies, n, sizeof(double), cmp_double);

    printf("p50_us=%.0f p99_us=%.0f max_us=%.0f\n",
           b->latencies[(n + 1) / 2 - 1] * 1e6,
           b->latencies[(99 * n + 99) / 100 - 1] * 1e6,
           b->latencies[n - 1] * 1e6);
}


int
main(int argc, char **argv)
{
    int          ch, wait, latency;
    double       t0, t1;
    bench_t      b;
    const char  *addr, *groups, *file, *cert, *key, *path;

    memset(&b, 0, sizeof(bench_t));

    cert = NULL;
    key = NULL;
    path = NULL;

    addr = "127.0.0.1";
    groups = "X25519";
    file = NULL;
    wait = 0;
    latency = 0;
    b.nconns = 32;
    b.timeout = 10;
    b.rand = (uint64_t) time(NULL) * 2654435761ULL ^ (uint64_t) getpid();

    b.addr.sin_family = AF_INET;

    while ((ch = getopt(argc, argv, "p:a:n:c:f:os:vg:r:T:qWC:K:R:L")) != -1) {
        switch (ch) {
        case 'p':
            b.addr.sin_port = htons((uint16_t) atoi(optarg));
            break;
        case 'a':
            addr = optarg;
            break;
        case 'n':
            b.total = strtoul(optarg, NULL, 10);
            break;
        case 'c':
            b.nconns = strtoul(optarg, NULL, 10);
            break;
        case 'f':
            file = optarg;
            break;
        case 'o':
            b.ordered = 1;
            break;
        case 's':
            b.fixed = optarg;
            break;
        case 'v':
            b.verify = 1;
            break;
        case 'g':
            groups = optarg;
            break;
        case 'r':
            b.rand = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            b.timeout = atof(optarg) / 1000;
            break;
        case 'q':
            b.quiet = 1;
            break;
        case 'W':
            wait = 1;
            break;
        case 'C':
            cert = optarg;
            break;
        case 'K':
            key = optarg;
            break;
        case 'R':
            path = optarg;
            break;
        case 'L':
            latency = 1;
            break;
        default:
            usage();
        }
    }

    if (b.addr.sin_port == 0
        || inet_pton(AF_INET, addr, &b.addr.sin_addr) != 1
        || b.nconns == 0 || b.nconns > BENCH_MAX_CONNS
        || (file && b.fixed) || b.timeout <= 0
        || (cert == NULL) != (key == NULL))
    {
        usage();
    }

    if (b.rand == 0) {
        b.rand = 1;
    }

    signal(SIGPIPE, SIG_IGN);

    b.ctx = make_ctx(groups, cert, key);

    if (path) {
        b.request_len = strlen(path) + 64;
        b.request = malloc(b.request_len);
        if (b.request == NULL) {
            return 2;
        }

        b.request_len = snprintf((char *) b.request, b.request_len,
                                 "GET %s HTTP/1.1\r\nHost: bench\r\n"
                                 "Connection: close\r\n\r\n", path);
    }

    if (wait) {
        if (optind >= argc || file) {
            usage();
        }

        return wait_first(&b, argv + optind);
    }

    if (optind != argc) {
        usage();
    }

    if (file) {
        load_names(&b, file);

        if (b.total == 0 && b.ordered) {
            b.total = b.nnames;
        }
    }

    if (b.total == 0) {
        usage();
    }

    if (b.nconns > b.total) {
        b.nconns = b.total;
    }

    if (latency) {
        b.latencies = malloc(b.total * sizeof(double));
        if (b.latencies == NULL) {
            fprintf(stderr, "handshake: out of memory\n");
            return 2;
        }
    }

    t0 = now();
    run_load(&b);
    t1 = now();

    printf("handshakes=%lu failures=%lu mismatches=%lu seconds=%.3f "
           "rate=%.0f/s\n", b.ok, b.failed, b.mismatched, t1 - t0,
           b.ok / (t1 - t0));

    if (b.latencies) {
        print_latencies(&b);
    }

    return b.failed ? 1 : 0;
}
