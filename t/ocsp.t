#!/usr/bin/perl

# The OCSP responder of the built-in CA, asked by openssl ocsp and by
# GnuTLS's ocsptool: good, revoked, unknown, nonces, SHA-1 and SHA-256
# CertIDs, GET and POST, the CA or the delegated signer; and every kind
# of bad request.

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

# bad requests: an OCSP error status, or an HTTP error

my %statuses = (1 => 'malformedRequest', 6 => 'unauthorized');

is(post("garbage"), 1, 'garbage: malformedRequest');
is(post(substr($req, 0, length($req) - 3)), 1, 'truncated: malformedRequest');
is(post(''), 1, 'empty: malformedRequest');
is(post($req . "\x00"), 1, 'trailing data: malformedRequest');
is(get('/ocsp/!!!notbase64'), 1, 'GET of bad base64: malformedRequest');
is(get('/ocsp/'), 1, 'GET of nothing: malformedRequest');

my $foreign = $t->ca('foreign');
Certmate::Test::openssl('ocsp', '-issuer', $foreign->{crt}, '-serial',
                        "0x$good->{serial}", '-reqout', "$dir/foreign.der");
is(post(slurp("$dir/foreign.der")), 6, 'another issuer: unauthorized');

is(Certmate::Test::run_cmd('curl', '-s', '-o', '/dev/null', '-w',
                           '%{http_code}', '-X', 'PUT', '--data-binary', 'x',
                           "$url/ocsp"),
   '405', 'PUT: 405');

$t->write_file('big.der', 'x' x 20000);
is(Certmate::Test::run_cmd('curl', '-s', '-o', '/dev/null', '-w',
                           '%{http_code}', '--data-binary', "\@$dir/big.der",
                           '-H', 'Content-Type: application/ocsp-request',
                           "$url/ocsp"),
   '413', 'a body over 16 KB: 413');

like($t->read_log, qr/\[info\].*certmate ocsp request is malformed/,
     'malformed requests logged');
like($t->read_log, qr/\[info\].*certmate ocsp request for another issuer/,
     'foreign issuers logged');

# GnuTLS as a second client

SKIP: {
    skip 'ocsptool (gnutls-bin) is not installed', 4
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

# the responseStatus of an answer: 30 03 0a 01 NN for an error
sub status_of {
    my ($der) = @_;
    return -1 unless length $der >= 5;
    return ord(substr($der, 4, 1));
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
