#!/usr/bin/perl

# The mTLS gateway with the built-in CA: client certificates verified at
# the handshake, revocation looked up at every request (a revoke is
# refused at the next request, on a new and on an open keep-alive
# connection), 495/496/403 as nginx answers them and through
# error_page, the identity variables in headers to the upstream and in
# the access log, certmate_client_require, "optional", foreign and
# expired and wrong-purpose certificates; and every configuration
# mistake at "nginx -t".

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::SSL;
use Test::More;
use Certmate::Test qw(slurp);
use Certmate::OpensslCA;

my $t = Certmate::Test->new;
my $dir = $t->dir;

my $server = $t->cert('gateway', names => ['localhost']);
my $other = Certmate::OpensslCA->new($t, 'other');

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;
    certmate_ca;
    certmate_profile api-client usage=client;

    log_format ids '\$certmate_client_verify|\$certmate_client_revocation|'
                   '\$certmate_client_serial|\$certmate_client_subject|'
                   '\$certmate_client_issuer|\$certmate_client_san|'
                   '\$certmate_client_fingerprint|\$certmate_client_not_after';

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_upstream%%;

        location / {
            return 200 "verify=\$http_x_client_verify serial=\$http_x_client_serial subject=\$http_x_client_subject san=\$http_x_client_san\\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_gw%% ssl;

        ssl_certificate $server->{crt};
        ssl_certificate_key $server->{key};

        certmate_verify_client on;

        access_log %%DIR%%/ids.log ids;

        location / {
            proxy_pass http://127.0.0.1:%%PORT_upstream%%;
            proxy_set_header X-Client-Verify \$certmate_client_verify;
            proxy_set_header X-Client-Serial \$certmate_client_serial;
            proxy_set_header X-Client-Subject \$certmate_client_subject;
            proxy_set_header X-Client-San \$certmate_client_san;
        }

        location /profile/ {
            certmate_client_require profile=api-client;
            return 200 "profile ok\\n";
        }

        location /either/ {
            certmate_client_require san=^bob\\.example\$;
            certmate_client_require subject=^CN=alice;
            return 200 "either ok\\n";
        }

        location /revoked/ {
            error_page 495 =403 /refused.html;
            return 200 "revoked ok\\n";
        }

        location = /refused.html {
            return 403 "refused: \$certmate_client_verify\\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_store%% ssl;
        server_name localhost;

        certmate_certificate on;
        certmate_verify_client on;

        location / {
            return 200 "\$certmate_client_verify \$certmate_certificate_id\\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_pages%% ssl;

        ssl_certificate $server->{crt};
        ssl_certificate_key $server->{key};

        certmate_verify_client on;
        error_page 495 496 =403 /refused.html;

        location / {
            return 200 "pages ok\\n";
        }

        location = /refused.html {
            return 403 "refused: \$certmate_client_verify\\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_optional%% ssl;

        ssl_certificate $server->{crt};
        ssl_certificate_key $server->{key};

        certmate_verify_client optional;
        certmate_verify_depth 2;
        certmate_client_ca @{[ $other->crt ]};

        location / {
            return 200 "\$certmate_client_verify \$certmate_client_revocation\\n";
        }

        location /api/ {
            certmate_client_require;
            return 200 "api ok\\n";
        }
    }
}
EOF

my ($status, $json);

ok($t->wait_for(sub {
    ($status, $json) = $t->admin('GET', '/v1/ca');
    $json && $json->{state} eq 'ready';
}, 10), 'the CA is ready');

# --- client certificates ------------------------------------------------

sub csr {
    my ($name, $cn) = @_;

    Certmate::Test::openssl('req', '-new', Certmate::Test::newkey('ec-p256'),
                            '-nodes', '-keyout', "$dir/$name.key",
                            '-subj', "/CN=$cn",
                            '-addext', "subjectAltName=DNS:$cn",
                            '-out', "$dir/$name.csr");
    return slurp("$dir/$name.csr");
}

sub sign {
    my ($name, $cn, $profile) = @_;

    my ($status, $json) = $t->admin('POST', '/v1/ca/sign',
        json => { csr => csr($name, $cn), profile => $profile });
    is($status, 201, "$name signed with the profile $profile");

    return { crt => $t->write_file("$name.crt", $json->{certificate}),
             key => "$dir/$name.key", serial => $json->{serial} };
}

my $alice = sign('alice', 'alice.example', 'client');
my $bob = sign('bob', 'bob.example', 'api-client');
my $carol = sign('carol', 'carol.example', 'client');
my $server_eku = sign('web', 'web.example', 'server');

# a certificate of a CA the gateway does not trust, and an expired one of
# the foreign CA the optional server trusts

my $stranger = $t->cert('stranger', names => ['stranger.example'],
                        issuer => $t->ca('stranger-ca'));

my $expired = $other->client('expired', start => '20200101000000Z',
                              end => '20200201000000Z');


# --- requests -----------------------------------------------------------

# curl: (status, body)

sub get {
    my ($port, $path, $cert, $host) = @_;

    my @cert = $cert ? ('--cert', $cert->{crt}, '--key', $cert->{key}) : ();
    my $p = $t->port($port);
    my @host = $host ? ('--resolve', "$host:$p:127.0.0.1") : ();
    my $out = Certmate::Test::run_cmd('curl', '-sk', '-o', "$dir/out",
        '-w', '%{http_code}', @cert, @host,
        'https://' . ($host || '127.0.0.1') . ":$p$path");

    return ($out, scalar slurp("$dir/out"));
}

my $body;

($status, $body) = get('gw', '/hello', $alice);
is($status, 200, 'a client of the built-in CA is admitted');
like($body, qr/verify=SUCCESS serial=\Q$alice->{serial}\E subject=CN=alice\.example san=DNS:alice\.example/,
     'the upstream is told who calls');

# nginx writes the access log after the response: wait for the line
my @ids = split /\|/, $t->wait_for(sub {
    -f "$dir/ids.log" && (split /\n/, slurp("$dir/ids.log"))[-1];
}, 5) // '';
is($ids[0], 'SUCCESS', '$certmate_client_verify');
is($ids[1], 'good', '$certmate_client_revocation');
is($ids[2], $alice->{serial}, '$certmate_client_serial');
is($ids[3], 'CN=alice.example', '$certmate_client_subject');
like($ids[4], qr/^CN=/, '$certmate_client_issuer');
is($ids[5], 'DNS:alice.example', '$certmate_client_san');
is($ids[6], Certmate::Test::fingerprint($alice->{crt}),
   '$certmate_client_fingerprint');
like($ids[7], qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     '$certmate_client_not_after');

($status, $body) = get('gw', '/hello');
is($status, 400, 'no certificate with "on": 496, sent as 400');
like($body, qr/No required SSL certificate was sent/, 'nginx\'s 496 page');
like($t->wait_log(qr/client sent no required SSL certificate/),
     qr/\[info\]/, 'logged at info');

($status, $body) = get('gw', '/hello', $stranger);
is($status, 400, 'a certificate of an untrusted CA: 495');
like($body, qr/The SSL certificate error/, 'nginx\'s 495 page');
ok($t->wait_log(qr/client SSL certificate verify error: \(20:unable to get local issuer certificate\)/),
   'the verify error is logged');

($status) = get('gw', '/hello', $server_eku);
is($status, 400, 'a certificate without clientAuth: 495');
ok($t->wait_log(qr/verify error: \(26:unsuitable certificate purpose\)/),
   'wrong purpose logged');

($status) = get('optional', '/', $expired);
is($status, 400, 'an expired certificate: 495');
ok($t->wait_log(qr/verify error: \(10:certificate has expired\)/),
   'expiry logged');

# error_page of the server takes 495 and 496 of verification

($status, $body) = get('pages', '/x');
is($status, 403, 'error_page 496 =403');
like($body, qr/refused: NONE/, 'the error page sees the variables');

($status, $body) = get('pages', '/x', $stranger);
is($status, 403, 'error_page 495 =403');
like($body, qr/refused: FAILED:unable to get local issuer certificate/,
     '$certmate_client_verify says why');

# certmate_client_require

($status) = get('gw', '/profile/', $bob);
is($status, 200, 'profile=api-client admits its certificate');

($status) = get('gw', '/profile/', $alice);
is($status, 403, 'profile=api-client refuses another profile');
ok($t->wait_log(qr/serial \Q$alice->{serial}\E does not meet "certmate_client_require"/),
   'the refusal is logged');

($status) = get('gw', '/either/', $bob);
is($status, 200, 'the first of two rules admits by SAN');
($status) = get('gw', '/either/', $alice);
is($status, 200, 'the second admits by subject');
($status) = get('gw', '/either/', $carol);
is($status, 403, 'neither admits another');

# with the server's certificate from the store

($status, $json) = $t->admin('POST', '/v1/certificates/issue',
    json => { names => ['localhost'], profile => 'server' });
is($status, 201, 'a server certificate for localhost issued');

($status, $body) = get('store', '/', $alice, 'localhost');
is($body, "SUCCESS $json->{id}\n",
   'certmate_certificate and certmate_verify_client in one server');

($status) = get('store', '/', undef, 'localhost');
is($status, 400, 'and without a client certificate: 496');

# optional

($status, $body) = get('optional', '/');
is($status, 200, 'optional: no certificate is admitted');
is($body, "NONE \n", 'as NONE, without a revocation status');

($status, $body) = get('optional', '/', $alice);
is($body, "SUCCESS good\n", 'optional: a certificate is verified');

($status) = get('optional', '/api/');
is($status, 400, 'optional, in a location that requires one: 496');

($status) = get('optional', '/api/', $alice);
is($status, 200, 'and with one: admitted');

# --- revocation: at the next request, no reload -------------------------

# an open keep-alive connection of carol's

my $sock = IO::Socket::SSL->new(
    PeerAddr => '127.0.0.1:' . $t->port('gw'),
    SSL_verify_mode => SSL_VERIFY_NONE,
    SSL_cert_file => $carol->{crt},
    SSL_key_file => $carol->{key},
) or die "connect: $SSL_ERROR";

sub keepalive {
    my ($sock) = @_;

    print $sock "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";

    my $head = '';
    while (my $line = <$sock>) {
        $head .= $line;
        last if $line eq "\r\n";
    }

    my ($len) = $head =~ /Content-Length: (\d+)/i;
    my $body = '';
    read($sock, $body, $len) if $len;

    return $head =~ m{^HTTP/1.1 (\d+)} ? $1 : 0;
}

is(keepalive($sock), 200, 'carol is admitted');

my $start = time;

($status) = $t->admin('POST', "/v1/serials/$carol->{serial}/revoke",
                      json => { reason => 'keyCompromise' });
is($status, 200, 'carol revoked through the admin API');

is(keepalive($sock), 400, 'the open connection is refused at its next request');
ok(time - $start <= 1, 'within a second of the revoke');
ok($t->wait_log(qr/client SSL certificate serial \Q$carol->{serial}\E is revoked \(keyCompromise\)/),
   'the revocation is logged with its reason');

($status) = get('gw', '/hello', $carol);
is($status, 400, 'a new connection is refused too');

($status, $body) = get('gw', '/revoked/', $carol);
is($status, 403, 'error_page of the location takes 495 of revocation');
is($body, "refused: FAILED:certificate revoked\n",
   '$certmate_client_verify says it is revoked');

($status, $body) = get('optional', '/', $carol);
is($status, 400, 'optional refuses a revoked certificate');

($status) = get('gw', '/hello', $alice);
is($status, 200, 'others are still admitted');

# --- configuration mistakes ---------------------------------------------

my $empty = $t->write_file('empty.pem', "nothing here\n");

my @cases = (
    [ "certmate_verify_client on;\nserver {\n}",
      qr/"certmate_verify_client" in \S+:(\d+) requires "certmate_store"/,
      'certmate_verify_client on', 'verify without a store' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_verify_client maybe;",
      qr/invalid value "maybe" in \S+:(\d+)/,
      'maybe', 'bad verify value' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_verify_depth -1;",
      qr/"certmate_verify_depth" directive invalid number in \S+:(\d+)/,
      'certmate_verify_depth', 'bad depth' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_client_ca %%DIR%%/none.pem;",
      qr/cannot read "certmate_client_ca" file ".*none.pem".* in \S+:(\d+)/,
      'none.pem', 'missing CA file' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_client_ca $empty;",
      qr/"certmate_client_ca" file ".*empty.pem" has no readable PEM certificates, or a damaged one in \S+:(\d+)/,
      'empty.pem', 'CA file without certificates' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_revocation strict;",
      qr/invalid value "strict", expected "hard" or "soft" in \S+:(\d+)/,
      'strict', 'bad revocation policy' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_revocation hard max_age=never;",
      qr/invalid parameter "max_age=never", expected "max_age=" and a time in \S+:(\d+)/,
      'max_age=never', 'bad max_age' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_crl_fetch ftp://example.com/x.crl;",
      qr/"ftp:\/\/example.com\/x.crl" is not an http or https URL in \S+:(\d+)/,
      'ftp://', 'CRL URL not http' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_crl_fetch http://a/x.crl;\ncertmate_crl_fetch http://a/x.crl;",
      qr/duplicate CRL "http:\/\/a\/x.crl", first in \S+:\d+ in \S+:(\d+)/,
      'certmate_crl_fetch http://a/x.crl;\ncertmate_crl_fetch', 'duplicate CRL' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_crl_fetch http://a/x.crl interval=soon;",
      qr/invalid parameter "interval=soon", expected "interval=" and a time in \S+:(\d+)/,
      'interval=soon', 'bad interval' ],

    [ "certmate_crl_fetch http://a/x.crl;",
      qr/"certmate_crl_fetch" in \S+:(\d+) requires "certmate_store"/,
      'certmate_crl_fetch', 'CRL fetch without a store' ],

    [ "certmate_store %%DIR%%/s2;\nserver {\nlocation / {\ncertmate_client_require;\n}\n}",
      qr/"certmate_client_require" in \S+:(\d+) needs "certmate_verify_client" in its server/,
      'certmate_client_require', 'require without verify' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_verify_client on;\nserver {\nlocation / {\ncertmate_client_require colour=blue;\n}\n}",
      qr/invalid parameter "colour=blue", expected "profile=", "san=" or "subject=" in \S+:(\d+)/,
      'colour=blue', 'bad require parameter' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_verify_client on;\nserver {\nlocation / {\ncertmate_client_require san=(;\n}\n}",
      qr/invalid regex in "san=\(".* in \S+:(\d+)/,
      'san=(', 'bad regex' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_verify_client on;\nserver {\nlocation / {\ncertmate_client_require profile=x;\n}\n}",
      qr/"certmate_client_require" directive with "profile=" requires "certmate_ca" before it in \S+:(\d+)/,
      'profile=x', 'profile without a CA' ],

    [ "certmate_store %%DIR%%/s2;\ncertmate_ca;\ncertmate_verify_client on;\nserver {\nlocation / {\ncertmate_client_require profile=nosuch;\n}\n}",
      qr/unknown profile "nosuch" in \S+:(\d+)/,
      'profile=nosuch', 'unknown profile' ],

    [ "certmate_store %%DIR%%/s2;\nserver {\nlisten 127.0.0.1:%%PORT_x%% ssl;\nssl_certificate $server->{crt};\nssl_certificate_key $server->{key};\nssl_verify_client on;\nssl_client_certificate @{[ $other->crt ]};\ncertmate_verify_client on;\n}",
      qr/"certmate_verify_client" and "ssl_verify_client" cannot be used together/,
      undef, 'both verify directives' ],
);

my $conf = slurp("$dir/nginx.conf");

for my $case (@cases) {
    my ($text, $re, $marker, $name) = @$case;

    $t->conf("http {\n$text\n}\n");
    my ($rc, $out) = $t->test_config;

    isnt($rc, 0, "$name: nginx -t fails");

    if (like($out, $re, "$name: the message") && defined $marker) {
        my ($line) = grep { defined } ($out =~ $re);
        my @lines = split /\n/, slurp("$dir/nginx.conf");
        my ($first) = split /\\n/, $marker;
        like($lines[$line - 1] // '', qr/\Q$first\E/, "$name: the line");
    }
}

$t->write_file("nginx.conf", $conf);
$t->stop;

done_testing;
