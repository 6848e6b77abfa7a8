#!/usr/bin/perl

# The OCSP responder of the built-in CA, asked by openssl ocsp and by
# GnuTLS's ocsptool: good, revoked, unknown, nonces, SHA-1, SHA-256 and
# SHA-384 CertIDs, GET (cacheable without a nonce) and POST, the CA or
# the delegated signer, CertIDs of another issuer, tryLater before the
# CA exists; and every kind of bad request.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use MIME::Base64 qw(encode_base64);
use Test::More;
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;

$t->conf(<<'EOF')->run;
http {
    certmate_store %%DIR%%/store;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;
    certmate_ca;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
        }

        location /ocsp {
            certmate_ocsp;

            # a request of many CertIDs is read from a temporary file
            client_body_buffer_size 1k;
        }

        location /delegated/ {
            certmate_ocsp signer=delegated;
        }
    }
}
EOF

my $dir = $t->dir;
my $url = 'http://127.0.0.1:' . $t->port('admin');

my ($status, $json);

ok($t->wait_for(sub {
    ($status, $json) = $t->admin('GET', '/v1/ca');
    $json && $json->{state} eq 'ready';
}, 10), 'the CA is ready');

my @chain = $json->{chain} =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)/sg;
my $issuing = $t->write_file('issuing.pem', $chain[0]);
my $root = $t->write_file('root.pem', $chain[1]);

Certmate::Test::openssl('req', '-new', Certmate::Test::newkey('ec-p256'),
                        '-nodes', '-keyout', "$dir/leaf.key",
                        '-subj', '/CN=device-1', '-out', "$dir/leaf.csr");

my @leaves;

for my $i (0 .. 1) {
    ($status, $json) = $t->admin('POST', '/v1/ca/sign',
        json => { csr => slurp("$dir/leaf.csr"), profile => 'client' });
    is($status, 201, "leaf $i signed");
    push @leaves, { serial => $json->{serial},
                    pem => $t->write_file("leaf$i.pem",
                                          $json->{certificate}) };
}

my ($good, $revoked) = @leaves;

# issued by the CA (not a CSR): revoked by its id, for no reason given

($status, $json) = $t->admin('POST', '/v1/certificates/issue',
                             json => { names => ['a.test'] });
is($status, 201, 'a.test issued');
my $issued = $json;

($status) = $t->admin('POST', "/v1/serials/$revoked->{serial}/revoke",
                      json => { reason => 'keyCompromise' });
is($status, 200, 'one leaf revoked');

# openssl ocsp over POST

my $out = ocsp('/ocsp', '-cert', $good->{pem});
like($out, qr/Response verify OK/, 'good: the response verifies');
like($out, qr/leaf0\.pem: good/, 'good: good');
like($out, qr/This Update: .*\n\s+Next Update: /, 'good: this and next update');
unlike($out, qr/no nonce in response/, 'good: the nonce echoed');

$out = ocsp('/ocsp', '-cert', $revoked->{pem});
like($out, qr/leaf1\.pem: revoked/, 'revoked: revoked');
like($out, qr/Reason: keyCompromise/, 'revoked: the reason');
like($out, qr/Revocation Time: /, 'revoked: the time');

$out = ocsp('/ocsp', '-serial', '0x1234');
like($out, qr/0x1234: unknown/, 'unknown serial: unknown');
like($out, qr/Response verify OK/, 'unknown: signed');

$out = ocsp('/ocsp', '-sha256', '-cert', $good->{pem});
like($out, qr/leaf0\.pem: good/, 'SHA-256 CertID: good');
like($out, qr/Response verify OK/, 'SHA-256 CertID: verifies');

$out = ocsp('/ocsp', '-sha256', '-cert', $revoked->{pem});
like($out, qr/leaf1\.pem: revoked/, 'SHA-256 CertID: revoked');

$out = ocsp('/ocsp', '-sha384', '-cert', $good->{pem});
like($out, qr/leaf0\.pem: good/, 'SHA-384 CertID: good');

$out = ocsp('/ocsp', '-nonce', '-cert', $good->{pem}, '-resp_text');
like($out, qr/OCSP Nonce/, '-nonce: a nonce in the response');
like($out, qr/Response verify OK/, '-nonce: the nonce checked');

my $serial = "0x$issued->{serial}";

$out = ocsp('/ocsp', '-serial', $serial);
like($out, qr/\Q$serial\E: good/i, 'issued certificate: good');

($status, $json) = $t->admin('POST', "/v1/certificates/$issued->{id}/revoke",
                             json => {});
is($status, 200, 'issued certificate revoked');

$out = ocsp('/ocsp', '-serial', $serial);
like($out, qr/\Q$serial\E: revoked/i, 'issued certificate: revoked');
like($out, qr/Revocation Time: /, 'issued certificate: the time');
unlike($out, qr/Reason:/, 'the reason unspecified is left out');

$out = ocsp('/ocsp', '-no_nonce', '-cert', $revoked->{pem}, '-resp_text');
like($out, qr/leaf1\.pem: revoked/, 'no nonce: answered');
unlike($out, qr/OCSP Nonce/, 'no nonce: none in the response');

$out = ocsp('/ocsp', '-cert', $good->{pem}, '-cert', $revoked->{pem});
like($out, qr/leaf0\.pem: good.*leaf1\.pem: revoked/s,
     'two CertIDs in one request');

# the delegated signer

$out = ocsp('/delegated/', '-cert', $good->{pem}, '-resp_text');
like($out, qr/Response verify OK/, 'delegated: verifies');
like($out, qr/leaf0\.pem: good/, 'delegated: good');
like($out, qr/Subject: CN ?= ?certmate OCSP signer/,
     'delegated: signed by the OCSP signer');
like($out, qr/OCSP Signing/, 'delegated: id-kp-OCSPSigning');
like($out, qr/OCSP No Check/, 'delegated: ocsp-nocheck');

$out = ocsp('/ocsp', '-cert', $good->{pem}, '-resp_text');
like($out, qr/Subject: CN ?= ?certmate CA\n/, 'CA signer: signed by the CA');

# GET: the request in base64, percent-encoded, after the prefix

Certmate::Test::openssl('ocsp', '-issuer', $issuing, '-cert', $revoked->{pem},
                        '-no_nonce', '-reqout', "$dir/req.der");
my $req = slurp("$dir/req.der");
my $b64 = encode_base64($req, '');

for my $path ("/ocsp/" . uri_escape($b64), "/delegated/" . uri_escape($b64),
              "/ocsp/$b64")
{
    my $code = Certmate::Test::run_cmd('curl', '-s', '-o', "$dir/resp.der",
                                       '-w', '%{http_code}', "$url$path");
    is($code, 200, "GET $path: 200");
    $out = Certmate::Test::run_cmd('openssl', 'ocsp', '-respin',
                                   "$dir/resp.der", '-issuer', $issuing,
                                   '-CAfile', $root,
                                   '-cert', $revoked->{pem});
    like($out, qr/leaf1\.pem: revoked/, "GET $path: revoked");
}

my $headers = Certmate::Test::run_cmd('curl', '-s', '-D', '-', '-o',
                                      '/dev/null', "$url/ocsp/"
                                      . uri_escape($b64));
like($headers, qr{^Content-Type: application/ocsp-response\r$}m,
     'GET: the content type');
my ($max_age) = $headers =~ qr{^Cache-Control: max-age=(\d+), public, no-transform, must-revalidate\r$}m;
ok($max_age && $max_age > 1800 && $max_age <= 3600,
   'GET without a nonce: cached up to nextUpdate');

$headers = Certmate::Test::run_cmd('curl', '-s', '-I', "$url/ocsp/"
                                   . uri_escape($b64));
like($headers, qr{^HTTP/1\.1 200 }, 'HEAD: 200');
like($headers, qr{^Content-Type: application/ocsp-response\r$}m,
     'HEAD: the content type');

Certmate::Test::openssl('ocsp', '-issuer', $issuing, '-cert', $good->{pem},
                        '-nonce', '-reqout', "$dir/nonce.der");
$headers = Certmate::Test::run_cmd('curl', '-s', '-D', '-', '-o',
                                   "$dir/resp.der", "$url/ocsp/"
                                   . uri_escape(encode_base64(
                                       slurp("$dir/nonce.der"), '')));
unlike($headers, qr/^Cache-Control/m, 'GET with a nonce: not cached');
$out = Certmate::Test::run_cmd('openssl', 'ocsp', '-respin', "$dir/resp.der",
                               '-issuer', $issuing, '-CAfile', $root,
                               '-cert', $good->{pem}, '-no_nonce',
                               '-resp_text');
like($out, qr/leaf0\.pem: good/, 'GET with a nonce: good');
my ($nonce) = Certmate::Test::openssl('ocsp', '-reqin', "$dir/nonce.der",
                                      '-req_text')
              =~ /OCSP Nonce:\s*\n\s*(\S+)/;
like($out, qr/OCSP Nonce:\s*\n\s*\Q$nonce\E\n/,
     'GET with a nonce: the nonce echoed');

$headers = Certmate::Test::run_cmd('curl', '-s', '-D', '-', '-o',
                                   '/dev/null', '--data-binary',
                                   "\@$dir/req.der", "$url/ocsp");
unlike($headers, qr/^Cache-Control/m, 'POST: not cached');

# GET forms: the prefix percent-encoded, a query string, base64url; and
# base64 with "//" and "+" in the raw URI, where nginx merges slashes

(my $b64url = $b64) =~ tr{+/}{-_};
$b64url =~ s/=+$//;

my %forms = (
    'the prefix percent-encoded' => '/%6Fcsp/' . uri_escape($b64),
    'a query string' => '/ocsp/' . uri_escape($b64) . '?x=1',
    'an empty query string' => '/ocsp/' . uri_escape($b64) . '?',
    'base64url' => "/ocsp/$b64url",
);

for my $form (sort keys %forms) {
    is(get($forms{$form}), 0, "GET with $form: successful");
    $out = Certmate::Test::run_cmd('openssl', 'ocsp', '-respin',
                                   "$dir/answer.der", '-issuer', $issuing,
                                   '-CAfile', $root,
                                   '-cert', $revoked->{pem});
    like($out, qr/leaf1\.pem: revoked/, "GET with $form: revoked");
}

# a serial of 8 octets ends the request: chosen for its base64

Certmate::Test::openssl('ocsp', '-issuer', $issuing, '-no_nonce', '-serial',
                        '0x0102030405060708', '-reqout', "$dir/slash.der");
my $slash = slurp("$dir/slash.der");

for (1 .. 1000000) {
    substr($slash, -8) = chr(1 + int rand 127)
                         . join('', map { chr int rand 256 } 1 .. 7);
    my $try = encode_base64($slash, '');
    last if $try =~ m{//} && $try =~ /\+/;
}

my $raw = encode_base64($slash, '');
my $hex = uc unpack('H*', substr($slash, -8));

for my $path ("/ocsp/$raw", "/delegated/$raw") {
    is(get($path), 0, "GET $path: successful");
    $out = Certmate::Test::run_cmd('openssl', 'ocsp', '-respin',
                                   "$dir/answer.der", '-resp_text',
                                   '-CAfile', $root);
    like($out, qr/Serial Number: \Q$hex\E.*?Cert Status: unknown/si,
         "GET $path: the serial unknown");
}

# bad requests: an OCSP error status, or an HTTP error

my %statuses = (1 => 'malformedRequest', 6 => 'unauthorized');

is(post("garbage"), 1, 'garbage: malformedRequest');
is(post(substr($req, 0, length($req) - 3)), 1, 'truncated: malformedRequest');
is(scalar(grep { post(substr($req, 0, $_)) != 1 } 1 .. length($req) - 1), 0,
   'truncated at every length: malformedRequest');
is(post(''), 1, 'empty: malformedRequest');
is(post($req . "\x00"), 1, 'trailing data: malformedRequest');
is(get('/ocsp/!!!notbase64'), 1, 'GET of bad base64: malformedRequest');
is(get('/ocsp/'), 1, 'GET of nothing: malformedRequest');

my $foreign = $t->ca('foreign');
Certmate::Test::openssl('ocsp', '-issuer', $foreign->{crt}, '-serial',
                        "0x$good->{serial}", '-reqout', "$dir/foreign.der");
is(post(slurp("$dir/foreign.der")), 6, 'another issuer: unauthorized');

# the same name as the CA, another key: the key hash tells them apart

my $twin = $t->ca('certmate CA');
Certmate::Test::openssl('ocsp', '-issuer', $twin->{crt}, '-serial',
                        "0x$good->{serial}", '-reqout', "$dir/twin.der");
is(post(slurp("$dir/twin.der")), 6, 'the name of the CA, not its key: '
                                    . 'unauthorized');

# one CertID of ours among others: answered, "unknown" for the others;
# OpenSSL verifies such a response only with its signer trusted

$out = Certmate::Test::run_cmd('openssl', 'ocsp', '-issuer', $issuing,
                               '-cert', $good->{pem},
                               '-issuer', $foreign->{crt}, '-serial', '0x77',
                               '-url', "$url/ocsp", '-CAfile', $root,
                               '-VAfile', $issuing);
like($out, qr/leaf0\.pem: good/, 'ours and another issuer\'s: ours good');
like($out, qr/0x77: unknown/, 'ours and another issuer\'s: theirs unknown');
like($out, qr/Response verify OK/, 'ours and another issuer\'s: verifies');

# a request in a temporary file: many CertIDs

my @many = map { ('-serial', sprintf('0x%x', 0x1000 + $_)) } 1 .. 40;
$out = ocsp('/ocsp', '-cert', $good->{pem}, @many);
like($out, qr/leaf0\.pem: good/, 'a request of 41 CertIDs: good');
is(scalar(() = $out =~ /: unknown/g), 40,
   'a request of 41 CertIDs: 40 unknown');
like($out, qr/Response verify OK/, 'a request of 41 CertIDs: verifies');
like($t->read_log, qr/\[warn\].*request body is buffered to a temporary file/,
     'a request of 41 CertIDs: read from a temporary file');

for my $method ('PUT', 'DELETE') {
    my $h = Certmate::Test::run_cmd('curl', '-s', '-D', '-', '-o',
                                    '/dev/null', '-X', $method,
                                    '--data-binary', 'x', "$url/ocsp");
    like($h, qr{^HTTP/1\.1 405 }, "$method: 405");
    like($h, qr{^Allow: GET, HEAD, POST\r$}m, "$method: Allow");
}

$out = Certmate::Test::run_cmd('curl', '-s', '-o', "$dir/answer.der",
                               '-w', '%{http_code}', '--data-binary',
                               "\@$dir/req.der", '-H', 'Content-Type:',
                               "$url/ocsp");
is($out, '200', 'POST without a Content-Type: 200');
$out = Certmate::Test::run_cmd('openssl', 'ocsp', '-respin',
                               "$dir/answer.der", '-issuer', $issuing,
                               '-CAfile', $root, '-cert', $revoked->{pem});
like($out, qr/leaf1\.pem: revoked/, 'POST without a Content-Type: answered');

$t->write_file('big.der', 'x' x 20000);
is(Certmate::Test::run_cmd('curl', '-s', '-o', '/dev/null', '-w',
                           '%{http_code}', '--data-binary', "\@$dir/big.der",
                           '-H', 'Content-Type: application/ocsp-request',
                           "$url/ocsp"),
   '413', 'a body over 16 KB: 413');
is(Certmate::Test::run_cmd('curl', '-s', '-o', '/dev/null', '-w',
                           '%{http_code}', '--data-binary', "\@$dir/big.der",
                           '-H', 'Content-Type: application/ocsp-request',
                           '-H', 'Transfer-Encoding: chunked', "$url/ocsp"),
   '413', 'a chunked body over 16 KB: 413');
like($t->read_log, qr/\[info\].*certmate ocsp request of 20000 bytes refused/,
     'refused bodies logged');

like($t->read_log, qr/\[info\].*certmate ocsp request is malformed/,
     'malformed requests logged');
like($t->read_log, qr/\[info\].*certmate ocsp request for another issuer/,
     'foreign issuers logged');

# until the helper has made the CA: tryLater; an RSA root takes a moment

my $t2 = Certmate::Test->new;
$t2->conf(<<'EOF')->run;
http {
    certmate_store %%DIR%%/store;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;
    certmate_ca key=rsa-4096;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
        }

        location /ocsp {
            certmate_ocsp;
        }
    }
}
EOF

Certmate::Test::run_cmd('curl', '-s', '-o', "$dir/early.der",
                        '--data-binary', "\@$dir/req.der",
                        'http://127.0.0.1:' . $t2->port('admin') . '/ocsp');
my (undef, $early) = $t2->admin('GET', '/v1/ca');

SKIP: {
    skip 'the CA was ready before the first request', 2
        unless $early && $early->{state} eq 'pending';

    is(status_of(slurp("$dir/early.der")), 3, 'no CA yet: tryLater');
    like($t2->read_log, qr/\[info\].*certmate ocsp request before the CA/,
         'no CA yet: logged');
}

$t2->stop;

# answers for the same request without a nonce are signed once, until a
# revocation

($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => slurp("$dir/leaf.csr"), profile => 'client' });
my $cached = $t->write_file('cached.pem', $json->{certificate});
my $cached_serial = $json->{serial};

Certmate::Test::openssl('ocsp', '-issuer', $issuing, '-cert', $cached,
                        '-no_nonce', '-reqout', "$dir/cached.der");
Certmate::Test::openssl('ocsp', '-issuer', $issuing, '-cert', $cached,
                        '-nonce', '-reqout', "$dir/cached-nonce.der");

is(post(slurp("$dir/cached.der")), 0, 'cached: successful');
my $first = slurp("$dir/answer.der");
sleep 1;
post(slurp("$dir/cached.der"));
is(slurp("$dir/answer.der"), $first, 'cached: the same answer again');

post(slurp("$dir/cached-nonce.der"));
my $nonce1 = slurp("$dir/answer.der");
post(slurp("$dir/cached-nonce.der"));
isnt(slurp("$dir/answer.der"), $nonce1, 'with a nonce: signed each time');
isnt($nonce1, $first, 'with a nonce: not the cached answer');

($status) = $t->admin('POST', "/v1/serials/$cached_serial/revoke");
is($status, 200, 'cached: revoked');

post(slurp("$dir/cached.der"));
$out = Certmate::Test::run_cmd('openssl', 'ocsp', '-respin',
                               "$dir/answer.der", '-issuer', $issuing,
                               '-CAfile', $root, '-cert', $cached);
like($out, qr/cached\.pem: revoked/, 'cached: revoked at once');

# GnuTLS as a second client

SKIP: {
    skip 'ocsptool (gnutls-bin) is not installed', 9
        if system('command -v ocsptool >/dev/null 2>&1');

    $out = Certmate::Test::run_cmd('ocsptool', "--ask=$url/ocsp",
                                   "--load-issuer=$issuing",
                                   "--load-cert=$good->{pem}");
    like($out, qr/Certificate Status: good/, 'ocsptool: good');
    like($out, qr/Verifying OCSP Response: Success/, 'ocsptool: verified');

    $out = Certmate::Test::run_cmd('ocsptool', "--ask=$url/delegated/",
                                   "--load-issuer=$issuing",
                                   "--load-cert=$revoked->{pem}");
    like($out, qr/Certificate Status: revoked/, 'ocsptool: revoked');
    like($out, qr/Verifying OCSP Response: Success/,
         'ocsptool: delegated signer verified');

    $out = Certmate::Test::run_cmd('ocsptool', "--ask=$url/ocsp", '--nonce',
                                   "--load-issuer=$issuing",
                                   "--load-cert=$good->{pem}");
    like($out, qr/Extensions:\s*\n\s*Nonce: [0-9a-f]+/,
         'ocsptool --nonce: the nonce echoed');
    like($out, qr/Verifying OCSP Response: Success/,
         'ocsptool --nonce: verified');

    # the delegated signer verifies with the issuing CA as the only anchor

    Certmate::Test::run_cmd('ocsptool', "--ask=$url/delegated/",
                            "--load-issuer=$issuing",
                            "--load-cert=$revoked->{pem}",
                            "--outfile=$dir/gnutls.der");
    $out = Certmate::Test::run_cmd('ocsptool', '-e',
                                   "--load-trust=$issuing",
                                   "--load-response=$dir/gnutls.der");
    like($out, qr/Certificate Status: revoked/,
         'ocsptool -e: revoked');
    like($out, qr/Revocation time: /, 'ocsptool -e: the time');
    like($out, qr/Verifying OCSP Response: Success/,
         'ocsptool -e: the delegated signer verified by the CA');
}

$t->stop;

done_testing;


sub uri_escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub ocsp {
    my ($path, @args) = @_;
    return Certmate::Test::run_cmd('openssl', 'ocsp', '-issuer', $issuing,
                                   @args, '-url', "$url$path",
                                   '-CAfile', $root);
}

# the responseStatus of an answer: 30 03 0a 01 NN for an error, 0 at the
# start of a successful one (30 82 LL LL 0a 01 00 ...)
sub status_of {
    my ($der) = @_;
    return ord($1)
        if $der =~ /^\x30(?:[\x00-\x7f]|\x81.|\x82..)\x0a\x01(.)/s;
    return -1;
}

sub post {
    my ($body) = @_;
    $t->write_file('post.der', $body);
    Certmate::Test::run_cmd('curl', '-s', '-o', "$dir/answer.der",
                            '--data-binary', "\@$dir/post.der",
                            '-H', 'Content-Type: application/ocsp-request',
                            "$url/ocsp");
    return status_of(slurp("$dir/answer.der"));
}

sub get {
    my ($path) = @_;
    Certmate::Test::run_cmd('curl', '-s', '-o', "$dir/answer.der",
                            "$url$path");
    return status_of(slurp("$dir/answer.der"));
}
