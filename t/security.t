#!/usr/bin/perl

# Security checks, as a client sees them.  What other tests cover is
# not repeated here:
#
#   tokens as hashes: a "sha1:" hash, hex digits and the length refused
#     at nginx -t                                          t/config.t
#   EST one-time tokens kept as SHA-256, never in the log or the store
#     in the clear                                         t/est.t
#   401 before a 100,000-byte admin body (curl)            t/admin.t
#   413 of the admin API (Content-Length), 411 for chunked t/admin.t
#   413 of EST and OCSP, Content-Length and chunked        t/est.t, t/ocsp.t
#   no key in GET /v1/certificates[/{id}] and the error log
#     after an import, at info                             t/admin.t
#   the store directory 0700, data.mdb and lock.mdb 0600, of the worker
#     user, when nginx creates them                        t/store.t
#   the audit log's mirror 0600                            t/audit.t
#   unknown tokens, non-base64url tokens and POST under
#     /.well-known/acme-challenge/ go to the site          t/acme.t
#
# Tokens are compared in constant time: the admin API hashes the bearer
# token and compares it with CRYPTO_memcmp() against every configured
# hash (ngx_http_certmate_admin_auth()); EST tokens are looked up by
# their SHA-256, passwords compared with CRYPTO_memcmp().
#
# Here: plaintext and malformed tokens at nginx -t; refusals of admin
# and EST before a body of 100 MB is sent (raw sockets: no "100
# Continue", the answer at once, the connection closed); 413 before the
# body; no private key in any answer, metric, audit event or log line
# (at debug); the store's files under umask 0, a recreated lock file, a
# grown map; paths that try to escape; CR and LF from certificate fields
# in headers; the ACME challenge answering exactly what it should.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use File::Path qw(remove_tree);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::SSL;
use JSON::PP;
use List::Util qw(min);
use MIME::Base64 qw(encode_base64 decode_base64);
use Test::More;
use Time::HiRes qw(time);
use Certmate::Test qw(slurp spew);

my $t = Certmate::Test->new;
my $dir = $t->dir;
my $store = "$dir/store";
my $uid = $> == 0 ? getpwnam('nobody') : $>;

my $hash = '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b';

# --- tokens in the configuration --------------------------------------------

# a value that is not a hash may be the token itself: never echoed

my $invalid =
    qr/invalid hash of token "ops", expected "sha256:" and 64 hex digits/;

for my $case (
    [ 'secret', $invalid, 'a plaintext token' ],
    [ $hash, $invalid, 'a hash without "sha256:"' ],
    [ "sha256:${hash}0", $invalid, 'a hash of 65 digits' ],
    [ 'sha256:' . ('0' x 62) . '0x', $invalid, 'a hash ending in "0x"' ],
    [ 'sha256:' . ('0' x 62) . ' 1',
      qr/invalid number of arguments in "certmate_admin_token"/,
      'a hash with a blank' ],
)
{
    my ($value, $re, $what) = @$case;

    $t->conf(<<"EOF");
http {
    certmate_store %%DIR%%/store;
    certmate_admin_token ops $value;
}
EOF

    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, "$what: nginx -t fails");
    like($out, qr/\[emerg\] .*$re.* in \Q$dir\E\/nginx\.conf:\d+$/m,
         "$what: emerg with the reason and the file");
    unlike($out, qr/\Q$value\E/, "$what: the value is not in the message");
    my ($at) = $out =~ /nginx\.conf:(\d+)/;
    my @conf = split /\n/, slurp("$dir/nginx.conf");
    like($conf[($at // 1) - 1], qr/\Qcertmate_admin_token\E/,
         "$what: the line of the directive");
}

$t->conf(<<"EOF");
http {
    certmate_store %%DIR%%/store;
    certmate_admin_token sha256:$hash;
}
EOF

{
    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, 'a hash without a name: nginx -t fails');
    like($out,
         qr/\[emerg\] .*invalid number of arguments in "certmate_admin_token"/,
         'a hash without a name: the reason');
}

# --- the server ---------------------------------------------------------------

my $gateway = $t->cert('gateway', names => ['localhost']);
my $foreign = $t->ca('foreign');

my $apr1 = Certmate::Test::openssl('passwd', '-apr1', 'wonderland');
chomp $apr1;
spew("$dir/est.htpasswd", "alice:$apr1\n");

my $audit = "$dir/audit/events.jsonl";
mkdir "$dir/audit";
chown $uid, -1, "$dir/audit";

my $conf = <<"EOF";
http {
    access_log %%DIR%%/access.log;

    certmate_store %%DIR%%/store max_size=64m;
    certmate_admin_token ops sha256:$hash;
    certmate_ca;
    certmate_audit_log %%DIR%%/audit/events.jsonl;

    # an issuer that is down: its name has challenges answered on
    # every server

    certmate_acme_issuer down directory=http://127.0.0.1:%%PORT_noca%%/d
                              retry=1h timeout=1s;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
            client_max_body_size 16k;
        }

        location /admin2/ {
            certmate_admin;
        }

        location = /metrics { certmate_metrics; }
        location = /crl { certmate_crl; }
        location /ocsp { certmate_ocsp; }

        location /.well-known/est/ {
            certmate_est;
            certmate_est_auth basic %%DIR%%/est.htpasswd;
            certmate_est_auth token;
            certmate_est_profile iot client;
            client_max_body_size 200m;
        }

        location / {
            return 404 "site\\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_gw%% ssl;

        ssl_certificate $gateway->{crt};
        ssl_certificate_key $gateway->{key};

        certmate_verify_client on;
        certmate_client_ca $foreign->{crt};

        location / {
            proxy_pass http://127.0.0.1:%%PORT_upstream%%;
            proxy_set_header X-Client-San \$certmate_client_san;
            proxy_set_header X-Client-Subject \$certmate_client_subject;
            proxy_set_header X-Client-Issuer \$certmate_client_issuer;
            add_header X-San \$certmate_client_san;
            add_header X-Subject \$certmate_client_subject;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_upstream%%;

        location / {
            return 200 "injected=[\$http_x_injected] san=[\$http_x_client_san] subject=[\$http_x_client_subject]\\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name acme.example.com;
        certmate_acme down;

        location / {
            return 404 "tls site\\n";
        }
    }
}
EOF

$t->conf($conf, log_level => 'debug')->run;

my ($status, $json, $headers, $body);

ok($t->wait_for(sub {
    ($status, $json) = $t->admin('GET', '/v1/ca');
    $json && $json->{state} eq 'ready';
}, 10), 'the CA is ready');

my $admin = $t->port('admin');

# a request as given, on a new connection: what came back, when, and
# whether nginx closed the connection within "linger" seconds after it

sub raw {
    my ($request, %opts) = @_;

    my $s = $opts{ssl}
        ? IO::Socket::SSL->new(PeerAddr => '127.0.0.1',
                               PeerPort => $opts{port},
                               SSL_hostname => $opts{ssl_name},
                               SSL_verify_mode => SSL_VERIFY_NONE,
                               SSL_cert_file => $opts{cert},
                               SSL_key_file => $opts{key})
        : IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                PeerPort => $opts{port} || $admin,
                                Proto => 'tcp');
    die "connect: $! $SSL_ERROR" unless $s;

    my $start = time;
    syswrite($s, $request) == length $request or die "write: $!";

    my $sel = IO::Select->new($s);
    my ($buf, $answered, $closed) = ('', undef, undef);
    my $end = $start + ($opts{wait} || 5);

    while (time < $end) {
        next unless $sel->can_read($end - time);

        my $n = sysread($s, $buf, 65536, length $buf);

        if (!$n) {
            $closed = time;
            $answered //= $closed if length $buf;
            last;
        }

        (my $final = $buf) =~ s/\AHTTP\/1\.1 100 Continue\r\n\r\n//;

        if (!$answered && $final =~ /\r\n\r\n/) {
            my ($head, $rest) = split /\r\n\r\n/, $final, 2;
            my ($len) = $head =~ /^Content-Length: (\d+)\r?$/mi;
            $len = 0 if $request =~ /\AHEAD /;
            $answered = time if defined $len && length($rest) >= $len;
        }

        last if $answered && !$opts{linger};
        $end = min($end, $answered + $opts{linger})
            if $answered && $opts{linger};
    }

    close $s;

    my ($code) = $buf =~ /\AHTTP\/1\.[01] (\d+)/;
    my $final = $buf;
    $final =~ s/\AHTTP\/1\.1 100 Continue\r\n\r\n//;
    my ($fcode) = $final =~ /\AHTTP\/1\.[01] (\d+)/;

    return {
        raw => $buf,
        first => $code // 0,
        status => $fcode // 0,
        head => (split /\r\n\r\n/, $final, 2)[0] // '',
        body => (split /\r\n\r\n/, $final, 2)[1] // '',
        answered => defined $answered ? $answered - $start : undef,
        closed => defined $closed && defined $answered
                  ? $closed - $answered : undef,
    };
}

# --- refusals before a large body -------------------------------------------

# headers only, announcing 100 MB; the answer must come at once, without
# "100 Continue", and the connection must be closed, not kept to read
# the body

sub early {
    my ($what, $path, $want, @headers) = @_;

    my $r = raw("POST $path HTTP/1.1\r\nHost: localhost\r\n"
                . join('', map { "$_\r\n" } @headers) . "\r\n",
                linger => 3);

    is($r->{status}, $want, "$what: $want");
    ok(defined $r->{answered} && $r->{answered} < 2.5,
       "$what: answered without the body");
    isnt($r->{first}, 100, "$what: no 100 Continue");
    like($r->{head}, qr/^Connection: close\r?$/mi, "$what: Connection: close");
    ok(defined $r->{closed} && $r->{closed} < 2,
       "$what: the connection is closed, not kept to read the body");

    return $r;
}

my @big = ('Content-Type: application/json', 'Content-Length: 100000000',
           'Expect: 100-continue');
my @chunked = ('Content-Type: application/json',
               'Transfer-Encoding: chunked', 'Expect: 100-continue');

for my $path ('/v1/certificates', '/v1/certificates/issue', '/v1/ca/sign',
              '/v1/est/tokens', '/v1/certificates/' . '0' x 32 . '/revoke',
              '/v1/serials/01/revoke')
{
    my $r = early("admin POST $path, no token", "/certmate$path", 401, @big);
    like($r->{body}, qr/"error":"unauthorized"/, "admin POST $path: JSON");

    early("admin POST $path, a wrong token", "/certmate$path", 401, @big,
          'Authorization: Bearer wrong');
    early("admin POST $path, chunked, no token", "/certmate$path", 401,
          @chunked);
}

my $r = early('admin, a good token and 100 MB', '/certmate/v1/certificates',
              413, @big, 'Authorization: Bearer secret');
like($r->{body}, qr/"body_too_large".*100000000 bytes/,
     'admin, 100 MB: body_too_large');

# a client that sends the body at once gets the refusal, and the
# connection is not kept to read the rest

$r = raw("POST /certmate/v1/certificates HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Type: application/json\r\n"
         . "Content-Length: 100000000\r\n\r\n" . ('x' x 65536), linger => 3);
is($r->{status}, 401, 'admin, no token, 64 KB of 100 MB sent: 401');
ok(defined $r->{closed} && $r->{closed} < 2,
   'admin, no token, 64 KB of 100 MB sent: closed');

my @pkcs10 = ('Content-Type: application/pkcs10',
              'Content-Length: 100000000', 'Expect: 100-continue');

for my $op ('simpleenroll', 'serverkeygen', 'iot/simpleenroll') {
    my $path = "/.well-known/est/$op";

    $r = early("EST $op, no credentials", $path, 401, @pkcs10);
    like($r->{head}, qr/^WWW-Authenticate: Basic/mi,
         "EST $op, no credentials: WWW-Authenticate");
    early("EST $op, a wrong password", $path, 401, @pkcs10,
          'Authorization: Basic ' . encode_base64('alice:queen', ''));
    early("EST $op, an unknown token", $path, 401, @pkcs10,
          'Authorization: Bearer made-up');
    early("EST $op, chunked, no credentials", $path, 401,
          'Content-Type: application/pkcs10', 'Transfer-Encoding: chunked',
          'Expect: 100-continue');
}

$r = early('EST, a good password and 100 MB', '/.well-known/est/simpleenroll',
           413, @pkcs10,
           'Authorization: Basic ' . encode_base64('alice:wonderland', ''));
like($r->{body}, qr/the body has 100000000 bytes, a CSR may have 16384/,
     'EST, 100 MB: why');

# OCSP and the admin API's default limit refuse before the body too

$r = raw("POST /ocsp HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Type: application/ocsp-request\r\n"
         . "Content-Length: 20000\r\nExpect: 100-continue\r\n\r\n");
is($r->{status}, 413, 'OCSP, 20,000 bytes announced: 413');
isnt($r->{first}, 100, 'OCSP, 20,000 bytes announced: no 100 Continue');

$r = raw("POST /admin2/v1/certificates HTTP/1.1\r\nHost: localhost\r\n"
         . "Authorization: Bearer secret\r\n"
         . "Content-Type: application/json\r\n"
         . "Content-Length: 1048577\r\nExpect: 100-continue\r\n\r\n");
is($r->{status}, 413, 'admin, the default client_max_body_size: 413');
like($r->{body}, qr/"client_max_body_size\\" allows 1048576/,
     'admin, the default client_max_body_size: 1m');
isnt($r->{first}, 100, 'admin, over the default limit: no 100 Continue');

# --- paths that try to escape -----------------------------------------------

my $a = $t->cert('a', names => ['a.example.com']);
my $c = $t->cert('c', names => ['c.example.com'], key => 'rsa-2048');

($status, $json) = $t->import_cert($a);
is($status, 201, 'imported an EC certificate and key');
my $a_id = $json->{id};
($status, $json) = $t->import_cert($c);
is($status, 201, 'imported an RSA certificate and key');
my $c_id = $json->{id};

my @workers = $t->children('worker process');

sub get {
    my ($path, %opts) = @_;

    return raw("GET $path HTTP/1.1\r\nHost: localhost\r\n"
               . "Authorization: Bearer secret\r\nConnection: close\r\n\r\n",
               %opts);
}

# dot segments, also percent-encoded, are resolved by nginx before any
# location sees the path: the answer is the one of the resolved path

for my $case (
    [ '/certmate/v1/certificates/../ca', '/certmate/v1/ca' ],
    [ '/certmate/v1/certificates/%2e%2e/ca', '/certmate/v1/ca' ],
    [ '/certmate/v1/certificates/%2E%2E/ca', '/certmate/v1/ca' ],
    [ '/certmate/v1/certificates/..%2fca', '/certmate/v1/ca' ],
    [ "/certmate/v1/certificates/$a_id%2f..%2f..%2fhealth",
      '/certmate/v1/health' ],
    [ '/certmate//v1//health', '/certmate/v1/health' ],
    [ '/.well-known/est/iot/../cacerts', '/.well-known/est/cacerts' ],
    [ '/metrics/../metrics', '/metrics' ],
    [ '/.well-known/est/..%2f..%2fcertmate/v1/health',
      '/certmate/v1/health' ],
)
{
    my ($path, $resolved) = @$case;
    my $got = get($path);
    my $want = get($resolved);
    is($got->{status}, $want->{status}, "$path: as $resolved");
    is(ref_of($got->{body}), ref_of($want->{body}),
       "$path: the answer of $resolved");
}

is(raw("GET /.well-known/est/..%2f..%2fcertmate/v1/health HTTP/1.1\r\n"
       . "Host: localhost\r\n\r\n")->{status}, 401,
   'a path resolved into the admin API needs its token');

# what the answer is about, without what changes from one to the next

sub ref_of {
    my ($body) = @_;
    my $j = eval { decode_json($body) };
    return $j ? join(',', sort keys %$j) : substr($body, 0, 40);
}

for my $case (
    [ "/certmate/v1/certificates/$a_id%00", 400 ],
    [ '/certmate/v1/health%00', 400 ],
    [ '/certmate/../../etc/passwd', 400 ],
    [ "/certmate/v1/certificates/$a_id/..", 404, qr/"not_found"/ ],
    [ '/certmate/v1/certificates/' . substr($a_id, 0, 31), 404,
      qr/"not_found"/ ],
    [ "/certmate/v1/certificates/${a_id}0", 404, qr/"not_found"/ ],
    [ '/certmate/v1/certificates/' . ('g' x 32), 404, qr/"not_found"/ ],
    [ '/certmate/v1/certificates/' . ('a' x 4000), 404, qr/"not_found"/ ],
    [ '/certmate/v1/certificates/' . ('a' x 8192), 414 ],
    [ "/certmate/v1/certificates/$a_id%2f..", 404, qr/"not_found"/ ],
    [ '/certmate/v1/certificates/%0d%0aX-Injected:%201', 404,
      qr/"not_found"/ ],
    [ '/certmate/v1/health/', 404, qr/"not_found"/ ],
    [ '/certmatex/v1/health', 404, qr/^site$/ ],
    [ '/.well-known/est/../simpleenroll', 404, qr/^site$/ ],
    [ '/.well-known/est/%2e%2e/cacerts', 404, qr/^site$/ ],
    [ '/.well-known/est/iot%00/cacerts', 400 ],
    [ '/.well-known/est/cacerts%00', 400 ],
    [ '/.well-known/est/' . ('a' x 4000) . '/cacerts', 404,
      qr/^no EST label "a+/ ],
    [ '/.well-known/est/a%2fb/cacerts', 404, qr/^no EST operation/ ],
    [ '/.well-known/est/iot%0d%0aX-Injected:%201/cacerts', 404,
      qr/^no EST label "iot\?\?X-Injected: 1"$/ ],
    [ '/.well-known/est/iot/cacerts/..', 404, qr/^no EST operation/ ],
    [ '/metrics%00', 400 ],
    [ '/metricsx', 404, qr/^site$/ ],
    [ '/metrics/', 404, qr/^site$/ ],
    [ '/crl/..', 404, qr/^site$/ ],
    [ '/crl%3fformat=pem', 404, qr/^site$/ ],
    [ '/ocsp/%00', 400 ],
    [ '/ocsp/..%2f..%2fetc', 400 ],
    [ '/ocsp/%2e%2e', 404, qr/^site$/ ],
)
{
    my ($path, $want, $re) = @$case;
    my $what = length $path > 60 ? substr($path, 0, 60) . '...' : $path;
    my $got = get($path);
    is($got->{status}, $want, "$what: $want");
    like($got->{body}, $re, "$what: the answer") if $re;
    unlike($got->{head}, qr/^X-Injected/mi, "$what: no injected header");
}

my $ocsp = get('/ocsp/' . ('A' x 4000));
is($ocsp->{status}, 200, 'a long OCSP GET: 200');
like($ocsp->{head}, qr{^Content-Type: application/ocsp-response\r?$}mi,
     'a long OCSP GET: an OCSP response');
is(unpack('H*', $ocsp->{body}), '30030a0101',
   'a long OCSP GET: malformedRequest');

for my $id ($a_id, $c_id) {
    is(get("/certmate/v1/certificates/$id")->{status}, 200,
       "$id: still there after the tries");
}

my @log = split /\n/, $t->read_log;
is(join("\n", grep { /\[(alert|crit)\]|exited on signal/ } @log), '',
   'the tries: no alert, no worker crashed');
is_deeply([ $t->children('worker process') ], \@workers,
          'the tries: the same worker');
is(join("\n", grep { /certmate est refused GET "[^"]*iot[^"]*$/ } @log), '',
   'a CR LF in the path does not break the line of an EST refusal');
ok(grep({ m{certmate est refused GET "/\.well-known/est/iot%0d%0aX-Injected:%201/cacerts": no EST label} } @log),
   'an EST refusal logs the path as it was sent');

# --- no private key in any answer, metric, event or log line ---------------

# an issued certificate's key is made here and kept in the store only

($status, $json, undef, $body) = $t->admin('POST', '/v1/certificates/issue',
    json => { names => ['issued.example.com'] });
is($status, 201, 'issued a certificate with a key made here');
my $issued_id = $json->{id};
ok(!exists $json->{private_key} && $body !~ /PRIVATE/,
   'the issuance answers no key');

# EST serverkeygen answers the key it made, once

Certmate::Test::openssl('req', '-new', Certmate::Test::newkey('ec-p256'),
                        '-nodes', '-keyout', "$dir/kg-csr.key",
                        '-subj', '/CN=kg.example.com', '-outform', 'DER',
                        '-out', "$dir/kg.der");
spew("$dir/kg.b64", encode_base64(slurp("$dir/kg.der")));

my $kg = Certmate::Test::run_cmd('curl', '-s', '-D', '-', '-u',
    'alice:wonderland', '-H', 'Content-Type: application/pkcs10',
    '--data-binary', "\@$dir/kg.b64",
    "http://127.0.0.1:$admin/.well-known/est/serverkeygen");
like($kg, qr{^HTTP/1.1 200}, 'EST serverkeygen: 200');

my ($kg_b64) = $kg =~ m{Content-Type: application/pkcs8\r?\n.*?\r?\n\r?\n(.*?)\r?\n--}s;
my $kg_der = decode_base64($kg_b64 // '');
spew("$dir/kg.p8", $kg_der);

Certmate::Test::openssl('req', '-new', Certmate::Test::newkey('ec-p256'),
                        '-nodes', '-keyout', "$dir/en.key",
                        '-subj', '/CN=en.example.com', '-outform', 'DER',
                        '-out', "$dir/en.der");
spew("$dir/en.b64", encode_base64(slurp("$dir/en.der")));
like(Certmate::Test::run_cmd('curl', '-s', '-o', '/dev/null', '-w',
         '%{http_code}', '-u', 'alice:wonderland', '-H',
         'Content-Type: application/pkcs10', '--data-binary', "\@$dir/en.b64",
         "http://127.0.0.1:$admin/.well-known/est/simpleenroll"),
     qr/^200$/, 'EST simpleenroll: 200');

is(($t->admin('POST', "/v1/certificates/$issued_id/revoke"))[0], 200,
   'revoked the issued certificate');
is(($t->admin('POST', '/v1/est/tokens',
              json => { names => ['tok.example.com'] }))[0], 201,
   'made an EST token');
is($t->handshake('a.example.com')->{fingerprint}, $a->{fingerprint},
   'served the imported certificate');

# the secret numbers of the keys we know: an EC key's scalar, an RSA
# key's primes

sub secrets {
    my ($file, $form) = @_;

    my $text = Certmate::Test::openssl('pkey', '-in', $file, '-inform',
                                       $form || 'PEM', '-noout', '-text');
    my @secrets;

    for my $field ('priv', 'prime1', 'prime2') {
        my ($hex) = $text =~ /^$field:\s*\n((?:\s+[0-9a-f:]+\n)+)/m or next;
        $hex =~ s/[\s:]//g;
        $hex =~ s/^00//;
        push @secrets, pack('H*', $hex);
    }

    return @secrets;
}

my @known = (secrets($a->{key}), secrets($c->{key}));
my @kg_secrets = secrets("$dir/kg.p8", 'DER');
is(scalar @known, 3, 'the secrets of the imported keys');
is(scalar @kg_secrets, 1, 'the secret of the key of serverkeygen');

# a key found in a text: "PRIVATE KEY", the secrets, or a DER private
# key (a SEQUENCE that starts with its version, INTEGER 0 or 1) in
# base64, base64url or hex

sub leaks {
    my ($text, @secrets) = @_;

    my @found;
    push @found, 'PRIVATE KEY' if $text =~ /PRIVATE KEY/;

    # base64 in lines (PEM, EST, JSON strings with "\n") in one piece

    my $flat = $text;
    $flat =~ s{(?<=[A-Za-z0-9+/]{64})(?:\\r\\n|\\n|\r?\n)}{}g;

    my @blobs = ($text);
    push @blobs, map { decode_base64($_) }
                 $flat =~ m{([A-Za-z0-9+/]{40,}={0,2})}g;
    push @blobs, map { decode_base64(tr{-_}{+/}r) }
                 $flat =~ m{([A-Za-z0-9_-]{40,})}g;
    push @blobs, map { pack('H*', s/://gr) }
                 $flat =~ /((?:[0-9a-fA-F]{2}:){31,}[0-9a-fA-F]{2})/g;
    push @blobs, map { pack('H*', $_) } grep { length() % 2 == 0 }
                 $flat =~ /([0-9a-fA-F]{64,})/g;

    for my $blob (@blobs) {
        push @found, 'a DER private key'
            if $blob =~ /\A\x30(?:[\x00-\x7f]|\x81.|\x82..)\x02\x01[\x00\x01]/s;
        for my $secret (@secrets) {
            push @found, 'a secret of a key' if index($blob, $secret) >= 0;
        }
    }

    return join ', ', @found;
}

like(leaks($kg, @kg_secrets), qr/PRIVATE KEY|a DER private key.*a secret/,
     'the search finds the key that serverkeygen answers');
like(leaks(slurp($a->{key}), @known), qr/PRIVATE KEY/,
     'the search finds a PEM key');
ok(index(slurp("$store/data.mdb"), $known[0]) >= 0,
   'the search finds an imported key in the store');
ok(index(slurp("$store/data.mdb"), $kg_secrets[0]) < 0,
   'the key of serverkeygen is not in the store');

my %out;

($status, $json) = $t->admin('GET', '/v1/certificates?limit=1000');
my @ids = map { $_->{id} } @{$json->{items}};
ok(@ids >= 5, 'every certificate listed: ' . scalar @ids);

for my $path ('/v1/health', '/v1/certificates?limit=1000',
              (map { "/v1/certificates/$_" } @ids), '/v1/acme/orders',
              '/v1/audit?limit=1000', '/v1/ca')
{
    ($status, undef, $headers, $body) = $t->admin('GET', $path);
    is($status, 200, "GET $path: 200");
    $out{"GET $path"} = $headers . $body;
}

for my $path ('/metrics', '/crl', '/crl?format=pem',
              '/.well-known/est/cacerts', '/.well-known/est/csrattrs',
              '/.well-known/est/iot/cacerts')
{
    $out{"GET $path"} = Certmate::Test::run_cmd('curl', '-s', '-i',
                                                "http://127.0.0.1:$admin$path");
    like($out{"GET $path"}, qr{^HTTP/1.1 20[04]}, "GET $path: 2xx");
}

(undef, $json) = $t->admin('GET', '/v1/audit?limit=1000');
my $events = @{$json->{items}};
ok($t->wait_for(sub {
    -f "$audit" && (() = slurp("$audit") =~ /\n/g) >= $events;
}, 10), "the audit log file has the $events events");

$out{'the audit log file'} = slurp("$audit");
$out{'the access log'} = slurp("$dir/access.log");
$out{'the error log at debug'} = $t->read_log;

like($out{'the error log at debug'}, qr/\[debug\]/, 'the error log has debug lines');

for my $what (sort keys %out) {
    is(leaks($out{$what}, @known, @kg_secrets), '', "$what: no private key");
}

# --- CR and LF from certificate fields in headers -------------------------

# a client certificate of a trusted CA whose names carry CR LF and a
# header line: in a DNS, an email and a URI subjectAltName (IA5Strings,
# which OpenSSL takes as they are), and in the CN

sub tlv {
    my ($tag, $value) = @_;
    return chr($tag) . chr(length $value) . $value;
}

my $san = tlv(0x30, tlv(0x82, "evil.example\r\nX-Injected: 1")
                    . tlv(0x81, "evil\@example.com\r\nX-Injected: 2")
                    . tlv(0x86, "spiffe://evil\r\nX-Injected: 3"));

spew("$dir/evil.ext", "basicConstraints=CA:FALSE\n"
                      . "extendedKeyUsage=clientAuth\n"
                      . 'subjectAltName=DER:' . unpack('H*', $san) . "\n");

Certmate::Test::openssl('req', '-new', Certmate::Test::newkey('ec-p256'),
                        '-nodes', '-keyout', "$dir/evil.key", '-utf8',
                        '-subj', "/CN=evil\r\nX-Injected: 4",
                        '-out', "$dir/evil.csr");
Certmate::Test::openssl('x509', '-req', '-in', "$dir/evil.csr",
                        '-CA', $foreign->{crt}, '-CAkey', $foreign->{key},
                        '-set_serial', 4242, '-days', 30,
                        '-extfile', "$dir/evil.ext", '-out', "$dir/evil.crt");

like(Certmate::Test::openssl('x509', '-in', "$dir/evil.crt", '-noout',
                             '-ext', 'subjectAltName'),
     qr/DNS:evil\.example/, 'a certificate with CR LF in its names');

$r = raw("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
         ssl => 1, port => $t->port('gw'), cert => "$dir/evil.crt",
         key => "$dir/evil.key");

is($r->{status}, 200, 'CR LF in the names: verified and proxied');
unlike($r->{head}, qr/^X-Injected/mi, 'CR LF in the names: no header added');
like($r->{body}, qr/^injected=\[\] /, 'CR LF in the names: none to the upstream');

my ($x_san) = $r->{head} =~ /^X-San: (.*?)\r$/m;
is($x_san, 'DNS:evil.example\0D\0AX-Injected: 1,'
           . 'email:evil@example.com\0D\0AX-Injected: 2,'
           . 'URI:spiffe://evil\0D\0AX-Injected: 3',
   '$certmate_client_san: CR and LF as \0D\0A');
like($r->{body}, qr/san=\[\Q$x_san\E\]/,
     '$certmate_client_san: the same to the upstream');

my ($x_subject) = $r->{head} =~ /^X-Subject: (.*?)\r?$/m;
is($x_subject, 'CN=evil\0D\0AX-Injected: 4',
   '$certmate_client_subject: CR and LF as \0D\0A');

# --- the ACME challenge ------------------------------------------------------

# two challenges under way, as the helper writes them: token -> key
# authorization in the store's "tokens" database

my $thumb = 'Wq0pM0JvJjU1LrMhy5L6ZgGvrYgYJ3l8uC4JbpNzVxo';
my @tokens = ('LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0',
              'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA');
my %keyauth = map { $_ => "$_.$thumb" } @tokens;

spew("$dir/tokens.txt", join '', map { "$_\n$keyauth{$_}\n" } @tokens);
is(system('mdb_load', '-T', '-s', 'tokens', '-f', "$dir/tokens.txt", $store),
   0, 'two challenge tokens in the store');

sub challenge {
    my ($method, $path, %opts) = @_;

    return raw("$method /.well-known/acme-challenge/$path HTTP/1.1\r\n"
               . "Host: " . ($opts{host} || 'a.example.com') . "\r\n"
               . ($opts{body} ? "Content-Length: 1\r\n" : '')
               . "Connection: close\r\n\r\n" . ($opts{body} ? 'x' : ''),
               %opts);
}

for my $token (@tokens) {
    $r = challenge('GET', $token);
    is($r->{status}, 200, "$token: 200");
    is($r->{body}, $keyauth{$token}, "$token: exactly its key authorization");
    like($r->{head}, qr/^Content-Length: 87\r$/m, "$token: its length");
    like($r->{head}, qr{^Content-Type: application/octet-stream\r$}m,
         "$token: application/octet-stream");
}

$r = challenge('HEAD', $tokens[0], wait => 2);
is($r->{status}, 200, 'HEAD: 200');
is($r->{body}, '', 'HEAD: no body');

$r = challenge('GET', $tokens[0], ssl => 1, port => $t->port('https'),
               ssl_name => 'a.example.com');
is($r->{body}, $keyauth{$tokens[0]}, 'answered on a TLS server too');

for my $path ("x/../$tokens[0]", "%2F$tokens[0]", "%2e/$tokens[0]") {
    $r = challenge('GET', $path);
    is($r->{body}, $keyauth{$tokens[0]},
       "$path resolves to the token: answered");
}

my $other = $tokens[0] =~ s/X0$/X1/r;

for my $case (
    [ $other, 'another token of the same length' ],
    [ substr($tokens[0], 0, 20), 'a prefix of a token' ],
    [ "$tokens[0]x", 'a token and more' ],
    [ uc $tokens[0], 'a token in upper case' ],
    [ "$tokens[0]/", 'a token and a slash' ],
    [ "$tokens[0]/..", 'a token and ..' ],
    [ "$tokens[0]%2F", 'a token and %2F' ],
    [ "..%2F$tokens[0]", '..%2F and a token' ],
    [ "$tokens[0]%0d%0a", 'a token and CR LF' ],
    [ "$tokens[0].$thumb", 'the key authorization as the token' ],
    [ "$tokens[0]%2e", 'a token and %2e' ],
    [ 'A' x 300, 'a token of 300 characters' ],
    [ '', 'no token' ],
)
{
    my ($path, $what) = @$case;
    $r = challenge('GET', $path);
    is($r->{status}, 404, "$what: the site's 404");
    is($r->{body}, "site\n", "$what: the site's answer");
}

is(challenge('GET', "$tokens[0]%00")->{status}, 400, 'a token and NUL: 400');
is(challenge('GET', 'A' x 8192)->{status}, 414,
   'a token of 8 KB: nginx\'s 414');

for my $method ('POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH') {
    $r = challenge($method, $tokens[0], body => 1);
    is($r->{body}, "site\n", "$method of a token: the site's");
}

is(join("\n", grep { /\[(alert|crit)\]|exited on signal/ }
               split /\n/, $t->read_log),
   '', 'the challenges: no alert, no worker crashed');

# --- the store's files -------------------------------------------------------

system('cc', '-O2', '-Wall', '-Werror', '-o', "$dir/store-tool",
       "$Certmate::Test::TOP/t/tools/store-tool.c", '-llmdb') == 0
    or BAIL_OUT('cannot build t/tools/store-tool.c');

sub private_files {
    my ($what) = @_;

    my @st = stat $store;
    is(sprintf('%o', $st[2] & 07777), '700', "$what: the directory is 0700");
    is($st[4], $uid, "$what: the directory is the worker user's");

    my @files = glob "$store/*";
    is(scalar @files, 2, "$what: data.mdb and lock.mdb only");

    for my $file (@files) {
        my $name = $file =~ s{.*/}{}r;
        @st = stat $file;
        is(sprintf('%o', $st[2] & 07777), '600', "$what: $name is 0600");
        is($st[4], $uid, "$what: $name is the worker user's");
    }
}

# a map grown by another process, and the write that uses it

is(system("$dir/store-tool", 'grow', $store, 128 << 20, 100000), 0,
   'another process grew the map');
ok($t->wait_for(sub {
    ($status) = $t->import_cert($t->cert('grown', names => ['g.example.com']));
    $status == 201;
}, 5), 'an import in the grown map');
private_files('after the map grew');

# a lock file made again at the next start, by a worker or the helper

$t->stop;
unlink "$store/lock.mdb";
$t->run;
is(get('/certmate/v1/health')->{status}, 200, 'the store opens again');
private_files('a new lock file');

# nginx started with umask 000: a new store, its files and the audit log

$t->stop;
remove_tree($store);
unlink "$audit";

my $umask = umask 0;
$t->conf($conf)->run;
umask $umask;

ok($t->wait_for(sub {
    ($status, $json) = $t->admin('GET', '/v1/ca');
    $json && $json->{state} eq 'ready';
}, 10), 'umask 000: the helper made the CA');
is(($t->import_cert($a))[0], 201, 'umask 000: a worker wrote');
ok($t->wait_for(sub { -s "$audit" }, 10),
   'umask 000: the helper wrote the audit log');
private_files('umask 000');

my @st = stat "$audit";
is(sprintf('%o', $st[2] & 07777), '600', 'umask 000: the audit log is 0600');
is($st[4], $uid, 'umask 000: the audit log is the worker user\'s');

$t->stop;

done_testing;
