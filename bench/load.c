
/*
 * certmate bench: POSTs to the admin API.
 *
 * Reads request bodies, one JSON object a line (as gencerts writes
 * import bodies), and POSTs each one to URI over HTTP/1.1 keep-alive
 * connections, with up to DEPTH requests pipelined; when the server
 * closes a connection the requests it did not answer are sent again on
 * a new one.  With -l each line is "URI<TAB>BODY" instead, and the body
 * may be empty: then it goes with Content-Length: 0 and no Content-Type.
 * With -n it sends COUNT requests, taking the lines in turn, again from
 * the first after the last.
 *
 * Usage: load -p PORT -t TOKEN -f FILE (-u URI | -l) [-a ADDR] [-d DEPTH]
 *             [-n COUNT] [-s STATUS] [-o OUT [-k NAME]]
 *
 * -s: the status every answer must have (default 200 or 201).
 * -o: writes the body of each answer to OUT, one a line, in the order of
 * the requests; with -k only the value of its string member NAME (the
 * "serial" of a signed certificate, say), an empty line when it has none.
 *
 * Prints the number answered as expected and the rate; exits 1 if any
 * answer had another status.
 */


#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>


#define LOAD_MAX_ERRORS      5
#define LOAD_CONNECT_TRIES   50


typedef struct {
    char    *uri;
    char    *data;
    size_t   len;
} load_body_t;


typedef struct {
    struct sockaddr_in   addr;
    const char          *uri;
    const char          *token;
    int                  fd;

    char                *buf;
    size_t               size;
    size_t               start;
    size_t               end;
    int                  eof;
    int                  err;
} load_t;


static void usage(void);
static double now(void);
static load_body_t *read_bodies(const char *path, int per_line_uri,
    unsigned long *n);
static int open_conn(load_t *l);
static int send_request(load_t *l, load_body_t *body);
static int read_response(load_t *l, int *status, int *closing,
    char **body, size_t *body_len);
static int fill(load_t *l);
static char *find_header(char *headers, size_t len, const char *name);
static void write_answer(FILE *out, const char *name, char *body,
    size_t len);


static void
usage(void)
{
    fprintf(stderr, "usage: load -p PORT -t TOKEN -f FILE (-u URI | -l)"
                    " [-a ADDR] [-d DEPTH]\n"
                    "            [-n COUNT] [-s STATUS] [-o OUT [-k NAME]]\n");
    exit(2);
}


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static load_body_t *
read_bodies(const char *path, int per_line_uri, unsigned long *n)
{
    FILE          *f;
    char          *line, *tab;
    size_t         size;
    ssize_t        len;
    load_body_t   *bodies;
    unsigned long  cap;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "load: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }

    cap = 1024;
    *n = 0;
    bodies = malloc(cap * sizeof(load_body_t));

    for ( ;; ) {
        line = NULL;
        size = 0;

        len = getline(&line, &size, f);
        if (len == -1 || bodies == NULL) {
            free(line);
            break;
        }

        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            len--;
        }

        if (len == 0) {
            free(line);
            continue;
        }

        if (*n == cap) {
            cap *= 2;
            bodies = realloc(bodies, cap * sizeof(load_body_t));
            if (bodies == NULL) {
                break;
            }
        }

        bodies[*n].uri = NULL;
        bodies[*n].data = line;
        bodies[*n].len = len;

        if (per_line_uri) {
            tab = memchr(line, '\t', len);
            if (tab == NULL) {
                fprintf(stderr, "load: %s: line %lu has no tab\n", path,
                        *n + 1);
                exit(2);
            }

            *tab = '\0';
            bodies[*n].uri = line;
            bodies[*n].data = tab + 1;
            bodies[*n].len = len - (tab + 1 - line);
        }

        (*n)++;
    }

    fclose(f);

    if (bodies == NULL) {
        fprintf(stderr, "load: out of memory\n");
        exit(2);
    }

    return bodies;
}


static int
open_conn(load_t *l)
{
    int  one, tries;

    for (tries = 0; /* void */; tries++) {
        l->fd = socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0);
        if (l->fd == -1) {
            return -1;
        }

        if (connect(l->fd, (struct sockaddr *) &l->addr, sizeof(l->addr))
            == 0)
        {
            break;
        }

        fprintf(stderr, "load: connect() failed: %s\n", strerror(errno));

        close(l->fd);
        l->fd = -1;

        if (tries == LOAD_CONNECT_TRIES) {
            return -1;
        }

        usleep(100000);
    }

    one = 1;
    (void) setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    l->start = 0;
    l->end = 0;
    l->eof = 0;
    l->err = 0;

    return 0;
}


static int
send_request(load_t *l, load_body_t *body)
{
    int      n;
    char     head[1024];
    size_t   sent, total;
    ssize_t  rc;
    char    *p;

    n = snprintf(head, sizeof(head),
                 "POST %s HTTP/1.1\r\n"
                 "Host: localhost\r\n"
                 "Authorization: Bearer %s\r\n"
                 "%s"
                 "Content-Length: %zu\r\n"
                 "\r\n", body->uri ? body->uri : l->uri, l->token,
                 body->len ? "Content-Type: application/json\r\n" : "",
                 body->len);

    if (n < 0 || (size_t) n >= sizeof(head)) {
        return -1;
    }

    total = n + body->len;
    sent = 0;

    while (sent < total) {
        if (sent < (size_t) n) {
            p = head + sent;
            rc = send(l->fd, p, n - sent,
                      MSG_NOSIGNAL|(body->len ? MSG_MORE : 0));

        } else {
            p = body->data + (sent - n);
            rc = send(l->fd, p, total - sent, MSG_NOSIGNAL);
        }

        if (rc == -1) {
            if (errno == EINTR) {
                continue;
            }

            return -1;
        }

        sent += rc;
    }

    return 0;
}


/* more bytes into the buffer; 0 on EOF or an error */

static int
fill(load_t *l)
{
    ssize_t  n;

    if (l->start == l->end) {
        l->start = 0;
        l->end = 0;

    } else if (l->start > l->size / 2) {
        memmove(l->buf, l->buf + l->start, l->end - l->start);
        l->end -= l->start;
        l->start = 0;
    }

    if (l->end == l->size) {
        l->size *= 2;
        l->buf = realloc(l->buf, l->size);
        if (l->buf == NULL) {
            fprintf(stderr, "load: out of memory\n");
            exit(2);
        }
    }

    do {
        n = recv(l->fd, l->buf + l->end, l->size - l->end, 0);
    } while (n == -1 && errno == EINTR);

    if (n <= 0) {
        l->eof = 1;
        l->err = (n == 0) ? 0 : errno;
        return 0;
    }

    l->end += n;

    return 1;
}


static char *
find_header(char *headers, size_t len, const char *name)
{
    char    *p, *last;
    size_t   n;

    n = strlen(name);
    last = headers + len;

    for (p = headers; p && p < last; p = memchr(p, '\n', last - p)) {
        if (*p == '\n') {
            p++;
        }

        if ((size_t) (last - p) > n && strncasecmp(p, name, n) == 0
            && p[n] == ':')
        {
            p += n + 1;

            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            return p;
        }
    }

    return NULL;
}


/* one line of OUT: the body, or the value of its string member NAME */

static void
write_answer(FILE *out, const char *name, char *body, size_t len)
{
    char    *p, *last, *q;
    size_t   i, n;

    if (name == NULL) {
        for (i = 0; i < len; i++) {
            fputc((body[i] == '\n' || body[i] == '\r') ? ' ' : body[i], out);
        }

        fputc('\n', out);
        return;
    }

    n = strlen(name);
    last = body + len;

    for (p = body; p < last; p++) {
        p = memchr(p, '"', last - p);
        if (p == NULL || (size_t) (last - p) < n + 3) {
            break;
        }

        if (strncmp(p + 1, name, n) != 0 || p[n + 1] != '"') {
            continue;
        }

        for (q = p + n + 2; q < last && (*q == ' ' || *q == ':'); q++) {
            /* void */
        }

        if (q == last || *q != '"') {
            continue;
        }

        p = ++q;

        while (q < last && *q != '"') {
            q++;
        }

        fwrite(p, 1, q - p, out);
        break;
    }

    fputc('\n', out);
}


static int
read_response(load_t *l, int *status, int *closing, char **body,
    size_t *body_len)
{
    char    *p, *head, *h;
    size_t   head_len, len;

    for ( ;; ) {
        head = l->buf + l->start;
        p = memmem(head, l->end - l->start, "\r\n\r\n", 4);

        if (p) {
            break;
        }

        if (!fill(l)) {
            return -1;
        }
    }

    head_len = p + 4 - head;

    if (head_len < 12 || strncmp(head, "HTTP/1.", 7) != 0) {
        return -1;
    }

    *status = atoi(head + 9);

    h = find_header(head, head_len, "Content-Length");
    len = h ? strtoul(h, NULL, 10) : 0;

    h = find_header(head, head_len, "Connection");
    *closing = (h && strncasecmp(h, "close", 5) == 0);

    while (l->end - l->start < head_len + len) {
        if (!fill(l)) {
            return -1;
        }
    }

    *body = l->buf + l->start + head_len;
    *body_len = len;

    l->start += head_len + len;

    return 0;
}


int
main(int argc, char **argv)
{
    int             ch, status, expect, closing, per_line_uri;
    char           *file, *body, *out_file, *out_name;
    FILE           *out;
    size_t          body_len;
    double          t0, t1;
    load_t          l;
    load_body_t    *bodies;
    unsigned long   n, lines, count, depth, acked, sent, ok, failed;
    unsigned long   reconnects;

    memset(&l, 0, sizeof(load_t));

    l.addr.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &l.addr.sin_addr);
    file = NULL;
    out_file = NULL;
    out_name = NULL;
    out = NULL;
    per_line_uri = 0;
    count = 0;
    expect = 0;
    depth = 4;

    while ((ch = getopt(argc, argv, "p:u:t:f:a:d:ln:s:o:k:")) != -1) {
        switch (ch) {
        case 'p':
            l.addr.sin_port = htons((uint16_t) atoi(optarg));
            break;
        case 'u':
            l.uri = optarg;
            break;
        case 't':
            l.token = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'a':
            if (inet_pton(AF_INET, optarg, &l.addr.sin_addr) != 1) {
                usage();
            }
            break;
        case 'd':
            depth = strtoul(optarg, NULL, 10);
            break;
        case 'l':
            per_line_uri = 1;
            break;
        case 'n':
            count = strtoul(optarg, NULL, 10);
            if (count == 0) {
                usage();
            }
            break;
        case 's':
            expect = atoi(optarg);
            break;
        case 'o':
            out_file = optarg;
            break;
        case 'k':
            out_name = optarg;
            break;
        default:
            usage();
        }
    }

    if (l.addr.sin_port == 0 || (l.uri == NULL) == !per_line_uri
        || l.token == NULL || file == NULL || depth == 0
        || (out_name && out_file == NULL) || optind != argc)
    {
        usage();
    }

    bodies = read_bodies(file, per_line_uri, &lines);

    if (lines == 0) {
        fprintf(stderr, "load: %s has no requests\n", file);
        return 2;
    }

    n = count ? count : lines;

    if (out_file) {
        out = fopen(out_file, "w");
        if (out == NULL) {
            fprintf(stderr, "load: cannot open %s: %s\n", out_file,
                    strerror(errno));
            return 2;
        }
    }

    l.size = 65536;
    l.buf = malloc(l.size);
    if (l.buf == NULL) {
        fprintf(stderr, "load: out of memory\n");
        return 2;
    }

    t0 = now();

    acked = 0;
    sent = 0;
    ok = 0;
    failed = 0;
    reconnects = 0;
    l.fd = -1;

    while (acked < n) {

        if (l.fd == -1) {
            if (reconnects++ > n + 10 || open_conn(&l) != 0) {
                fprintf(stderr, "load: cannot connect\n");
                return 1;
            }

            /* what was not answered goes again */
            sent = acked;
        }

        while (sent < n && sent - acked < depth) {
            if (send_request(&l, &bodies[sent % lines]) != 0) {
                break;
            }

            sent++;
        }

        if (sent == acked
            || read_response(&l, &status, &closing, &body, &body_len) != 0)
        {
            fprintf(stderr, "load: connection lost after %lu answers (%s), "
                    "reconnecting\n", acked,
                    sent == acked ? "send failed"
                    : l.err ? strerror(l.err) : "closed by the server");
            close(l.fd);
            l.fd = -1;
            continue;
        }

        if (expect ? status == expect : (status == 200 || status == 201)) {
            ok++;

        } else if (failed++ < LOAD_MAX_ERRORS) {
            fprintf(stderr, "load: request %lu (line %lu): %d %.*s\n",
                    acked + 1, acked % lines + 1, status, (int) body_len,
                    body);
        }

        if (out) {
            write_answer(out, out_name, body, body_len);
        }

        acked++;

        if (closing) {
            close(l.fd);
            l.fd = -1;
        }
    }

    t1 = now();

    if (l.fd != -1) {
        close(l.fd);
    }

    if (out && fclose(out) != 0) {
        fprintf(stderr, "load: cannot write %s: %s\n", out_file,
                strerror(errno));
        return 2;
    }

    printf("ok=%lu failed=%lu seconds=%.2f rate=%.0f/s\n", ok, failed,
           t1 - t0, ok / (t1 - t0));

    return failed ? 1 : 0;
}
