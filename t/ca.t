#!/usr/bin/perl

# The built-in CA: made by the helper, certificates issued by profile and
# served at the next handshake, CSRs signed, renewal, revocation, the
# CRL, and a CA imported as the sub-CA of another root.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use POSIX ();
use MIME::Base64 qw(encode_base64);
use Time::Local qw(timegm);
use Test::More;
use Time::HiRes qw(time);
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;

my $conf = <<'EOF';
http {
    certmate_store %%DIR%%/store;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    %%CA%%

    certmate_profile web usage=server key=ec-p256,rsa-2048
                         validity=30d max_validity=60d
                         names=*.example.com,example.com;
    certmate_profile device usage=client key=ec-p256,rsa-3072;
    certmate_profile both usage=server,client;
    certmate_profile rsafirst usage=server key=rsa-2048,ec-p256;

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        certmate_certificate on;
    }

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
            client_max_body_size 8k;
        }

        location = /crl {
            certmate_crl;
        }
    }
}
EOF

my $crl_url = 'http://127.0.0.1:' . $t->port('admin') . '/crl';
my $ocsp_url = 'http://127.0.0.1:' . $t->port('admin') . '/ocsp';

(my $made = $conf) =~ s{%%CA%%}{certmate_ca "subject=CN=Test CA,O=certmate tests" crl_url=$crl_url ocsp_url=$ocsp_url;};
$t->conf($made)->run;

my $dir = $t->dir;

# the helper makes the CA

my ($status, $json, $headers);

ok($t->wait_for(sub {
    ($status, $json) = $t->admin('GET', '/v1/ca');
    $json && $json->{state} eq 'ready';
}, 10), 'the CA is ready');

like($t->read_log, qr/\[notice\].*certmate made the CA "CN=Test CA,O=certmate tests" and its root/,
     'making the CA logged');
is($json->{subject}, 'O=certmate tests,CN=Test CA', 'GET /v1/ca: subject (RFC 2253)');
ok($json->{crl}{number} >= 1, 'GET /v1/ca: a CRL');
like($json->{ocsp_signer}{serial}, qr/^[0-9A-F]{32}$/,
     'GET /v1/ca: an OCSP signer');

my @chain = pems($json->{chain});
is(scalar @chain, 2, 'chain: issuing CA and root');
my $issuing = $t->write_file('issuing.pem', $chain[0]);
my $root = $t->write_file('root.pem', $chain[1]);

my $text = Certmate::Test::openssl('x509', '-in', $root, '-noout', '-text');
like($text, qr/Subject: CN = Test CA Root, O = certmate tests/, 'root: subject');
like($text, qr/NIST CURVE: P-384/, 'root: ec-p384');

$text = Certmate::Test::openssl('x509', '-in', $issuing, '-noout', '-text');
like($text, qr/NIST CURVE: P-256/, 'issuing CA: ec-p256');
like($text, qr/CA:TRUE, pathlen:0/, 'issuing CA: pathlen 0');
like(Certmate::Test::run_cmd('openssl', 'verify', '-CAfile', $root, $issuing),
     qr/: OK$/m, 'issuing CA verifies to the root');

my ($root_from, $root_to) = dates($root);
my ($issuing_from, $issuing_to) = dates($issuing);
ok(abs($root_to - $root_from - 3650 * 86400) < 5, 'root: 3650 days');
ok(abs($issuing_to - $root_to) < 5, 'issuing CA: valid as long as the root');
is(epoch(ca_json()->{not_after}), $issuing_to,
   'GET /v1/ca: not_after of the issuing CA');

# issuance

($status, $json, $headers) = $t->admin('POST', '/v1/certificates/issue',
    json => { names => ['a.example.com', 'b.example.com'] });
is($status, 201, 'issue: 201');
is($json->{source}, 'ca', 'issue: source ca');
is($json->{profile}, 'server', 'issue: the server profile by default');
is($json->{key_type}, 'ec-p256', 'issue: ec-p256 by default');
is($json->{status}, 'active', 'issue: active');
like($json->{serial}, qr/^[4-7][0-9A-F]{31}$/, 'issue: a 16-byte serial');
like($headers, qr{^Location: /certmate/v1/certificates/$json->{id}\r$}m,
     'issue: Location');

my $a = $json;

my $hs = $t->handshake('a.example.com',
                       args => ['-CAfile', $root, '-verify_return_error']);
is(substr($hs->{fingerprint}, 0, 32), $a->{id},
   'issued: served at the next handshake');
like($hs->{output}, qr/Verify return code: 0 \(ok\)/,
     'issued: verifies to the root');

$text = Certmate::Test::openssl('x509', '-in', "$dir/served.crt", '-noout',
                                '-text');
like($text, qr/DNS:a\.example\.com, DNS:b\.example\.com/, 'issued: names');
like($text, qr/TLS Web Server Authentication/, 'issued: serverAuth');
like($text, qr/Digital Signature/, 'issued: keyUsage');
like($text, qr/URI:\Q$crl_url\E/, 'issued: CRL distribution point');
like($text, qr/OCSP - URI:\Q$ocsp_url\E/, 'issued: OCSP URL');
like($text, qr/CA:FALSE/, 'issued: not a CA');
like($text, qr/Subject: CN = a\.example\.com/, 'issued: CN is the first name');
like(Certmate::Test::run_cmd('openssl', 'verify', '-CAfile', $root,
                             '-untrusted', $issuing, "$dir/served.crt"),
     qr/: OK$/m, 'issued: openssl verify -untrusted issuing CA');
ok(abs(epoch($a->{not_after}) - epoch($a->{not_before}) - 90 * 86400) < 5,
   'issue: the default validity, 90d');

($status, $json) = $t->admin('POST', '/v1/certificates/issue',
    json => { names => ['rsa.example.com'], profile => 'web',
              key => 'rsa-2048', validity => '10d' });
is($status, 201, 'issue rsa-2048: 201');
is($json->{key_type}, 'rsa-2048', 'issue: rsa-2048');
is($json->{profile}, 'web', 'issue: profile web');
ok(abs(epoch($json->{not_after})
       - epoch($json->{not_before}) - 10 * 86400) < 5,
   'issue: validity 10d');

$text = Certmate::Test::openssl('x509', '-noout', '-text', '-in',
    $t->write_file('rsa.pem', cert_pem('rsa.example.com')));
like($text, qr/Key Encipherment/, 'rsa server key: keyEncipherment');

# "key" defaults to the profile's first key type

($status, $json) = $t->admin('POST', '/v1/certificates/issue',
    json => { names => ['rsafirst.example.com'], profile => 'rsafirst' });
is($status, 201, 'issue rsafirst: 201');
is($json->{key_type}, 'rsa-2048', 'issue: the profile\'s first key type');
my $a_b = $json;

# a certificate of a client profile is issued, but not served by SNI

($status, $json) = $t->admin('POST', '/v1/certificates/issue',
    json => { names => ['c.example.com'], profile => 'client' });
is($status, 201, 'issue profile client: 201');
is($json->{profile}, 'client', 'issue: profile client');
my $client_cert = $json;

$hs = $t->handshake('c.example.com');
isnt(substr($hs->{fingerprint} // '', 0, 32), $client_cert->{id},
     'a client certificate is not served by SNI');

# while a worker waits for an RSA key, it serves others

my $pid = fork // die "fork: $!";

if ($pid == 0) {
    $t->admin('POST', '/v1/certificates/issue',
              json => { names => ['slow.example.com'], key => 'rsa-4096' });
    POSIX::_exit(0);
}

my $start = time;
my $answered;
for (1 .. 10) {
    ($status) = $t->admin('GET', '/v1/health');
    $answered++ if $status == 200;
}
my $took = time - $start;
waitpid $pid, 0;

is($answered, 10, 'health answered while an RSA key is made');
($status, $json) = $t->admin('GET', '/v1/certificates?name=slow.example.com');
is($json->{items}[0]{key_type}, 'rsa-4096', 'the rsa-4096 certificate came');
diag(sprintf 'ten requests took %.3f s beside an rsa-4096 key', $took);

# refusals write nothing

my $count = count();

for my $case (
    [ { names => ['x.example.com'], profile => 'nope' }, 422,
      'unknown_profile', qr/no profile "nope"/ ],
    [ { names => ['x.other.org'], profile => 'web' }, 422,
      'profile_violation', qr/names=/ ],
    [ { names => ['a.b.example.com'], profile => 'web' }, 422,
      'profile_violation', qr/does not allow the name/ ],
    [ { names => ['x.example.com'], profile => 'web', key => 'ec-p384' },
      422, 'profile_violation', qr/key=/ ],
    [ { names => ['x.example.com'], profile => 'web', validity => '61d' },
      422, 'profile_violation', qr/max_validity=/ ],
    [ { names => ['x.example.com'], validity => 'soon' }, 400,
      'invalid_request', qr/validity/ ],
    [ { names => ['x.example.com'], key => 'dsa-1024' }, 400,
      'invalid_request', qr/key/ ],
    [ { names => [] }, 400, 'invalid_request', qr/names/ ],
    [ { names => 'x.example.com' }, 400, 'invalid_request', qr/names/ ],
    [ { names => [1] }, 400, 'invalid_request', qr/names/ ],
    [ { profile => 'web' }, 400, 'invalid_request', qr/"names" is required/ ],
    [ { names => ['x.example.com'], color => 'red' }, 400,
      'invalid_request', qr/unknown member "color"/ ],
    [ { names => ['bad name'] }, 422, 'invalid_name', qr/not a DNS name/ ],
    [ { names => ['x.example.com', 'X.example.com'] }, 422, 'invalid_name',
      qr/twice/ ],
    [ '{"names": [', 400, 'invalid_json', qr/not JSON/ ],
    [ '[]', 400, 'invalid_request', qr/object/ ])
{
    my ($body, $want, $error, $message) = @$case;
    ($status, $json) = $t->admin('POST', '/v1/certificates/issue',
                                 json => $body);
    my $what = ref $body ? JSON::PP->new->canonical->encode($body) : $body;
    is($status, $want, "issue $what: $want");
    is($json->{error}, $error, "issue $what: $error");
    like($json->{message}, $message, "issue $what: message");
}

($status, $json) = $t->admin('POST', '/v1/certificates/issue',
    json => { names => ['x.example.com'] }, type => 'text/plain');
is($status, 415, 'issue text/plain: 415');

($status) = $t->admin('POST', '/v1/certificates/issue', token => undef,
                      json => { names => ['x.example.com'] });
is($status, 401, 'issue without a token: 401');

is(count(), $count, 'refused issuances wrote nothing');

# signing a CSR

my $csr = csr('client-1', 'ec-p256');

($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => slurp($csr), profile => 'device' });
is($status, 201, 'sign: 201');
is_deeply($json->{names}, ['client-1'], 'sign: the CN as the name');
is($json->{profile}, 'device', 'sign: profile');
like($json->{serial}, qr/^[0-9A-F]{32}$/, 'sign: serial');

my $signed = $json;
my $leaf = $t->write_file('client-1.pem', $json->{certificate});
like(Certmate::Test::run_cmd('openssl', 'verify', '-CAfile', $root,
                             '-untrusted',
                             $t->write_file('sign-chain.pem', $json->{chain}),
                             $leaf),
     qr/: OK$/m, 'sign: verifies to the root');
$text = Certmate::Test::openssl('x509', '-in', $leaf, '-noout', '-text');
like($text, qr/TLS Web Client Authentication/, 'sign: clientAuth');
unlike($text, qr/Server Authentication/, 'sign: not serverAuth');

# the built-in profiles: "client" and, by default, "server"

($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => slurp($csr), profile => 'client', validity => '5d' });
is($status, 201, 'sign profile client: 201');
is($json->{profile}, 'client', 'sign: the built-in client profile');
ok(abs(epoch($json->{not_after}) - epoch($json->{not_before}) - 5 * 86400)
   < 5, 'sign: validity 5d');
$text = Certmate::Test::openssl('x509', '-noout', '-text', '-in',
    $t->write_file('client-1b.pem', $json->{certificate}));
like($text, qr/TLS Web Client Authentication/, 'sign client: clientAuth');
like($text, qr/Serial Number:\s+(?:[0-9a-f]{2}:){15}[0-9a-f]{2}\s/i,
     'sign client: a 16-byte serial');
like($json->{serial}, qr/^[0-9A-F]{32}$/, 'sign client: serial in hex');
like(Certmate::Test::run_cmd('openssl', 'verify', '-CAfile', $root,
                             '-untrusted', $issuing,
                             "$dir/client-1b.pem"),
     qr/: OK$/m, 'sign client: verifies to the root');

($status, $json) = $t->admin('POST', '/v1/ca/sign',
                             json => { csr => slurp($csr) });
is($status, 201, 'sign without a profile: 201');
is($json->{profile}, 'server', 'sign: the server profile by default');

# the same CSR again: a new serial
($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => slurp($csr), profile => 'device' });
isnt($json->{serial}, $signed->{serial}, 'sign again: another serial');

# base64 DER, names from the subjectAltName
my $der_csr = csr('ignored-cn', 'ec-p256',
                  '-addext', 'subjectAltName=DNS:dev.example.com,DNS:example.com');
Certmate::Test::openssl('req', '-in', $der_csr, '-outform', 'DER',
                        '-out', "$der_csr.der");
my $der = slurp("$der_csr.der");

($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => encode_base64($der, ''), profile => 'web' });
is($status, 201, 'sign base64 DER: 201');
is_deeply($json->{names}, ['dev.example.com', 'example.com'],
          'sign: names from the subjectAltName');

$count = count();
my $crl_number = ca_json()->{crl}{number};

# a broken signature: flip a byte of the signature at the end
my $broken = $der;
substr($broken, -5, 1) = chr(ord(substr($broken, -5, 1)) ^ 0x01);

for my $case (
    [ encode_base64($broken, ''), qr/signature does not verify/,
      'a broken signature', 'invalid_csr' ],
    [ 'garbage', qr/neither PEM nor base64 DER/, 'garbage', 'invalid_csr' ],
    [ encode_base64(substr($der, 0, 40), ''), qr/neither PEM nor base64/,
      'truncated DER', 'invalid_csr' ],
    [ "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
      qr/neither PEM/, 'empty PEM', 'invalid_csr' ],
    [ slurp(csr('ca', 'ec-p256', '-addext',
                'basicConstraints=critical,CA:TRUE')),
      qr/CA certificate/, 'CA:TRUE', 'invalid_csr' ],
    [ slurp(csr('crit', 'ec-p256', '-addext', '1.2.3.4=critical,ASN1:NULL')),
      qr/critical extension/, 'an unknown critical extension', 'invalid_csr' ],
    [ slurp(csr('ip', 'ec-p256', '-addext', 'subjectAltName=IP:10.0.0.1')),
      qr/not a DNS name/, 'an IP subjectAltName' ],
    [ slurp(csr('John Doe', 'ec-p256')), qr/not a DNS name/,
      'a CN that is not a DNS name', 'invalid_name' ],
    [ slurp(csr('ec384', 'ec-p384')), qr/key=/,
      'a key type the profile refuses', 'profile_violation' ],
    [ slurp(csr('rsa2048', 'rsa-2048')), qr/RSA key of 2048 bits/,
      'an RSA key smaller than the profile allows', 'profile_violation' ])
{
    my ($body, $message, $what, $error) = @$case;
    ($status, $json) = $t->admin('POST', '/v1/ca/sign',
                                 json => { csr => $body, profile => 'device' });
    is($status, 422, "sign $what: 422");
    like($json->{message}, $message, "sign $what: message");
    is($json->{error}, $error, "sign $what: $error") if defined $error;
}

($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => slurp($der_csr), profile => 'web', validity => '61d' });
is($status, 422, 'sign over max_validity: 422');
is($json->{error}, 'profile_violation', 'sign over max_validity: error');
like($json->{message}, qr/max_validity=/, 'sign over max_validity: message');

($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => slurp($csr), profile => 'nope' });
is($status, 422, 'sign with an unknown profile: 422');
is($json->{error}, 'unknown_profile', 'sign unknown profile: error');

($status, $json) = $t->admin('POST', '/v1/ca/sign', json => '{"csr": ');
is($status, 400, 'sign bad JSON: 400');
is($json->{error}, 'invalid_json', 'sign bad JSON: invalid_json');

($status, $json) = $t->admin('POST', '/v1/ca/sign', json => { csr => 5 });
is($status, 400, 'sign a CSR that is not a string: 400');
is($json->{error}, 'invalid_request', 'sign csr not a string: error');

($status) = $t->admin('POST', '/v1/ca/sign', type => 'text/plain',
                      json => { csr => slurp($csr) });
is($status, 415, 'sign text/plain: 415');

($status) = $t->admin('POST', '/v1/ca/sign', token => undef,
                      json => { csr => slurp($csr) });
is($status, 401, 'sign without a token: 401');

($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => slurp(csr('rsa4096', 'rsa-4096')), profile => 'device' });
is($status, 201, 'sign: an RSA key larger than rsa-3072 is allowed');

($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => slurp(csr('host.other.org', 'ec-p256')),
              profile => 'web' });
is($status, 422, 'sign a name the profile forbids: 422');
is($json->{error}, 'profile_violation', 'sign forbidden name: error');

($status, $json) = $t->admin('POST', '/v1/ca/sign', json => {});
is($status, 400, 'sign without a CSR: 400');
is($json->{error}, 'invalid_request', 'sign without a CSR: invalid_request');

($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => 'x' x 10000 });
is($status, 413, 'sign an oversized body: 413');

($status, $json) = $t->admin('GET', '/v1/ca/sign');
is($status, 405, 'GET /v1/ca/sign: 405');

is(count(), $count, 'refused signatures stored no certificate');
sleep 1;
is(ca_json()->{crl}{number}, $crl_number, 'and changed no CRL');

# renewal

($status, $json, $headers) = $t->admin('POST',
                                       "/v1/certificates/$a->{id}/renew");
is($status, 201, 'renew: 201');
isnt($json->{id}, $a->{id}, 'renew: a new certificate');
isnt($json->{serial}, $a->{serial}, 'renew: a new serial');
is_deeply($json->{names}, $a->{names}, 'renew: the same names');
is($json->{profile}, $a->{profile}, 'renew: the same profile');

my $renewed = $json;

is(substr($t->handshake('b.example.com')->{fingerprint}, 0, 32),
   $renewed->{id}, 'renewed: served at the next handshake');

($status) = $t->admin('GET', "/v1/certificates/$a->{id}");
is($status, 404, 'renewed: the old one is gone');

my $imported = $t->cert('imported', names => ['imp.example.com']);
($status, $json) = $t->admin('POST', '/v1/certificates',
    json => { certificate => $imported->{pem},
              private_key => slurp($imported->{key}) });
my $imported_id = $json->{id};

($status, $json) = $t->admin('POST', "/v1/certificates/$imported_id/renew");
is($status, 409, 'renew an imported certificate: 409');
is($json->{error}, 'not_ca_issued', 'renew imported: not_ca_issued');

($status) = $t->admin('POST', '/v1/certificates/' . ('0' x 32) . '/renew');
is($status, 404, 'renew an unknown certificate: 404');

# revocation

($status, $json) = $t->admin('POST', "/v1/certificates/$renewed->{id}/revoke",
                             json => { reason => 'bogus' });
is($status, 400, 'revoke with an unknown reason: 400');

($status, $json) = $t->admin('POST', "/v1/certificates/$renewed->{id}/revoke",
                             json => { reason => 'keyCompromise' });
is($status, 200, 'revoke: 200');
is($json->{status}, 'revoked', 'revoke: status revoked');

is($t->handshake('a.example.com')->{alert}, 'unrecognized name',
   'revoked: no longer served');

($status, $json) = $t->admin('POST', "/v1/certificates/$renewed->{id}/revoke");
is($status, 409, 'revoke again: 409');
is($json->{error}, 'already_revoked', 'revoke again: already_revoked');

($status, $json) = $t->admin('POST', "/v1/certificates/$renewed->{id}/renew");
is($status, 409, 'renew a revoked certificate: 409');

($status, $json) = $t->admin('POST', "/v1/certificates/$imported_id/revoke");
is($status, 409, 'revoke an imported certificate: 409');
is($json->{error}, 'not_ca_issued', 'revoke imported: not_ca_issued');

($status, $json) = $t->admin('POST', "/v1/serials/$signed->{serial}/revoke",
                             json => { reason => 'cessationOfOperation' });
is($status, 200, 'revoke by serial: 200');
is($json->{serial}, $signed->{serial}, 'revoke by serial: serial');
is($json->{status}, 'revoked', 'revoke by serial: status');
is($json->{reason}, 'cessationOfOperation', 'revoke by serial: reason');
like($json->{revoked_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'revoke by serial: time');

($status) = $t->admin('POST', "/v1/serials/" . lc($signed->{serial})
                              . "/revoke");
is($status, 409, 'revoke by serial again, lower case: 409');

($status) = $t->admin('POST', '/v1/serials/1234/revoke');
is($status, 404, 'revoke an unknown serial: 404');

($status) = $t->admin('POST', '/v1/serials/xyz/revoke');
is($status, 404, 'revoke a serial that is not hex: 404');

like($t->read_log, qr/\[notice\].*certmate revoked serial $signed->{serial}, cessationOfOperation/,
     'revocation logged');

# refused revocations write nothing

$count = count();

($status, $json) = $t->admin('POST', '/v1/certificates/' . ('0' x 32)
                                     . '/revoke');
is($status, 404, 'revoke an unknown certificate: 404');
is($json->{error}, 'not_found', 'revoke unknown: not_found');

for my $case (
    [ '{"reason": ', 400, 'invalid_json' ],
    [ '[]', 400, 'invalid_request' ],
    [ { reason => 5 }, 400, 'invalid_request' ],
    [ { reason => 'keycompromise' }, 400, 'invalid_request' ],
    [ { reason => 'superseded', colour => 'red' }, 400, 'invalid_request' ])
{
    my ($body, $want, $error) = @$case;
    my $what = ref $body ? JSON::PP->new->canonical->encode($body) : $body;
    ($status, $json) = $t->admin('POST', "/v1/certificates/$a_b->{id}/revoke",
                                 json => $body);
    is($status, $want, "revoke $what: $want");
    is($json->{error}, $error, "revoke $what: $error");
}

($status) = $t->admin('POST', "/v1/certificates/$a_b->{id}/revoke",
                      type => 'text/plain', json => { reason => 'superseded' });
is($status, 415, 'revoke text/plain: 415');
($status) = $t->admin('POST', "/v1/certificates/$a_b->{id}/revoke",
                      token => undef);
is($status, 401, 'revoke without a token: 401');
($status) = $t->admin('POST', "/v1/serials/$a_b->{serial}/revoke",
                      token => undef);
is($status, 401, 'revoke a serial without a token: 401');
($status) = $t->admin('GET', "/v1/certificates/$a_b->{id}/revoke");
is($status, 405, 'GET .../revoke: 405');

($status, $json) = $t->admin('GET', "/v1/certificates/$a_b->{id}");
is($json->{status}, 'active', 'refused revocations: still active');
is(count(), $count, 'refused revocations wrote nothing');
is(substr($t->handshake('rsafirst.example.com')->{fingerprint} // '', 0, 32),
   $a_b->{id}, 'refused revocations: still served');

# every reason of RFC 5280, by serial; without a body "unspecified"

my %reasons = (
    keyCompromise => 'Key Compromise',
    cACompromise => 'CA Compromise',
    affiliationChanged => 'Affiliation Changed',
    superseded => 'Superseded',
    cessationOfOperation => 'Cessation Of Operation',
    certificateHold => 'Certificate Hold',
    privilegeWithdrawn => 'Privilege Withdrawn',
    aACompromise => 'AA Compromise',
    unspecified => 'Unspecified',
);
my %reason_serial;

for my $reason (sort keys %reasons) {
    ($status, $json) = $t->admin('POST', '/v1/ca/sign',
        json => { csr => slurp($csr), profile => 'device' });
    my $serial = $json->{serial};
    ($status, $json) = $t->admin('POST', "/v1/serials/$serial/revoke",
        $reason eq 'unspecified' ? () : (json => { reason => $reason }));
    is($status, 200, "revoke $reason: 200");
    is($json->{reason}, $reason, "revoke $reason: reason");
    $reason_serial{$reason} = $serial;
}

# a certificate revoked by its serial is no longer served

($status, $json) = $t->admin('POST', "/v1/serials/$a_b->{serial}/revoke",
                             json => { reason => 'superseded' });
is($status, 200, 'revoke an issued certificate by serial: 200');
my $revoked_at = time;
($status, $json) = $t->admin('GET', "/v1/certificates/$a_b->{id}");
is($json->{status}, 'revoked', 'revoked by serial: the certificate too');
is($t->handshake('rsafirst.example.com')->{alert}, 'unrecognized name',
   'revoked by serial: no longer served');

# the CRL

ok($t->wait_for(sub { ca_json()->{crl}{number} >= $crl_number + 2 }, 3),
   'CRL: made again after the revocations');

# the last revocation is in the CRL within a second or so

my $latency;
$t->wait_for(sub {
    my $crl = Certmate::Test::run_cmd('sh', '-c',
        'curl -s http://127.0.0.1:' . $t->port('admin') . '/crl'
        . ' | openssl crl -inform DER -noout -text');
    $latency = time - $revoked_at;
    $crl =~ /Serial Number: $a_b->{serial}/;
}, 3);
ok($latency < 3, 'CRL: the last revocation listed within 3 s');
diag(sprintf 'the CRL listed the revocation after %.2f s', $latency);

my $http = 'http://127.0.0.1:' . $t->port('admin');

my $out = Certmate::Test::run_cmd('curl', '-s', '-D', "$dir/crl.headers",
                                  '-o', "$dir/crl.der", "$http/crl");
like(slurp("$dir/crl.headers"), qr{^Content-Type: application/pkix-crl\r$}m,
     'CRL: DER type');

$text = Certmate::Test::run_cmd('openssl', 'crl', '-inform', 'DER', '-in',
    "$dir/crl.der", '-CAfile', $t->write_file('ca-chain.pem',
                                              slurp($issuing) . slurp($root)),
    '-noout', '-text');
like($text, qr/verify OK/, 'CRL: signed by the issuing CA');
like($text, qr/Issuer: CN = Test CA, O = certmate tests/, 'CRL: issuer');
like($text, qr/Serial Number: $renewed->{serial}\s+Revocation Date: .*\s+CRL entry extensions:\s+X509v3 CRL Reason Code:\s+Key Compromise/,
     'CRL: the revoked certificate with its reason');
like($text, qr/Serial Number: $signed->{serial}\s+Revocation Date: .*\s+CRL entry extensions:\s+X509v3 CRL Reason Code:\s+Cessation Of Operation/,
     'CRL: the revoked serial with its reason');
like($text, qr/X509v3 CRL Number:\s+\d+/, 'CRL: number');
like($text, qr/X509v3 Authority Key Identifier/, 'CRL: authority key id');
my ($last, $next) = $text =~ /Last Update: (.*)\n\s+Next Update: (.*)\n/;
ok($last && $next, 'CRL: this and next update');
like($text, qr/Version 2 \(0x1\)/, 'CRL: v2');
ok(abs(openssl_epoch($next) - openssl_epoch($last) - 86400) < 5,
   'CRL: next update a day after this update');
my ($crl_no) = $text =~ /X509v3 CRL Number:\s+(\d+)/;
my $ca_crl = ca_json()->{crl};
is($ca_crl->{number}, $crl_no, 'GET /v1/ca: the CRL number served');
is(epoch($ca_crl->{this_update}), openssl_epoch($last),
   'GET /v1/ca: this_update');
is(epoch($ca_crl->{next_update}), openssl_epoch($next),
   'GET /v1/ca: next_update');

for my $reason (sort keys %reasons) {
    my $re = $reason eq 'unspecified'
        ? qr/Serial\ Number:\ $reason_serial{$reason}\s+
             Revocation\ Date:\ [^\n]+\n
             (?!\s+CRL\ entry\ extensions:\s+
                X509v3\ CRL\ Reason\ Code:\s+(?!Unspecified))/x
        : qr/Serial\ Number:\ $reason_serial{$reason}\s+
             Revocation\ Date:\ .*\s+
             CRL\ entry\ extensions:\s+
             X509v3\ CRL\ Reason\ Code:\s+\Q$reasons{$reason}\E\n/x;
    like($text, $re, "CRL: reason $reason");
}

Certmate::Test::run_cmd('curl', '-s', '-D', "$dir/crl.headers",
                        '-o', "$dir/crl.pem", "$http/crl?format=pem");
like(slurp("$dir/crl.pem"), qr/^-----BEGIN X509 CRL-----\n/, 'CRL: PEM');
like(slurp("$dir/crl.headers"), qr{^Content-Type: application/x-pem-file\r$}m,
     'CRL: PEM type');

like(Certmate::Test::run_cmd('openssl', 'verify', '-crl_check',
                             '-CRLfile', "$dir/crl.pem", '-CAfile', $root,
                             '-untrusted', $issuing, $leaf),
     qr/certificate revoked/, 'verify -crl_check: a revoked certificate');

($status, $json) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => slurp($csr), profile => 'device' });
my $good = $t->write_file('good.pem', $json->{certificate});
like(Certmate::Test::run_cmd('openssl', 'verify', '-crl_check',
                             '-CRLfile', "$dir/crl.pem", '-CAfile', $root,
                             '-untrusted', $issuing, $good),
     qr/: OK$/m, 'verify -crl_check: a good certificate');

is(Certmate::Test::run_cmd('curl', '-s', '-o', '/dev/null', '-w',
                           '%{http_code}', '-X', 'POST', "$http/crl"),
   '405', 'POST /crl: 405');

# a restart keeps the CA

my $subject_key = ca_json()->{chain};
$t->stop;
$t->run;
ok($t->wait_for(sub { ca_json()->{state} eq 'ready' }, 10), 'restart: ready');
is(ca_json()->{chain}, $subject_key, 'restart: the same CA');

$t->stop;

# a sub-CA of another root: imported with cert= and key_file=

my $ext_root = $t->ca('corporate-root', key => 'ec-p384');
my $sub = $t->ca('corporate-sub', issuer => $ext_root);
my $sub_chain = $t->write_file('sub-chain.pem',
                               slurp($sub->{crt}) . slurp($ext_root->{crt}));

my $t2 = Certmate::Test->new;
(my $imported_conf = $conf) =~ s{%%CA%%}{certmate_ca cert=$sub_chain key_file=$sub->{key};};
$t2->conf($imported_conf)->run;

ok($t2->wait_for(sub {
    ($status, $json) = $t2->admin('GET', '/v1/ca');
    $json && $json->{state} eq 'ready';
}, 10), 'sub-CA: ready');
is($json->{subject}, 'CN=corporate-sub', 'sub-CA: the imported subject');
like($t2->read_log, qr/\[notice\].*certmate imported the CA of "certmate_ca cert="/,
     'sub-CA: import logged');

($status, $json) = $t2->admin('POST', '/v1/certificates/issue',
                              json => { names => ['sub.example.com'] });
is($status, 201, 'sub-CA: issue');

$hs = $t2->handshake('sub.example.com',
                     args => ['-CAfile', $ext_root->{crt},
                              '-verify_return_error', '-showcerts']);
like($hs->{output}, qr/Verify return code: 0 \(ok\)/,
     'sub-CA: the served chain verifies to the corporate root');

my @served = pems($hs->{output});
my $sub_leaf = $t2->write_file('sub-leaf.pem', shift(@served) // '');
my $sub_untrusted = $t2->write_file('sub-untrusted.pem', join '', @served);
like(Certmate::Test::run_cmd('openssl', 'verify', '-CAfile', $ext_root->{crt},
                             '-untrusted', $sub_untrusted, $sub_leaf),
     qr/: OK$/m, 'sub-CA: openssl verify -untrusted of the served chain');

($status, $json) = $t2->admin('GET', '/v1/ca');
my @sub_ca = pems($json->{chain});
is(Certmate::Test::fingerprint($t2->write_file('sub-first.pem',
                                               $sub_ca[0] // '')),
   Certmate::Test::fingerprint($sub->{crt}),
   'sub-CA: GET /v1/ca chain starts with the imported CA');

ok($t2->wait_for(sub {
    my (undef, $j) = $t2->admin('GET', '/v1/ca');
    $j && $j->{crl} && $j->{crl}{number};
}, 5), 'sub-CA: a CRL');
Certmate::Test::run_cmd('curl', '-s', '-o', $t2->dir . '/sub.crl',
                        'http://127.0.0.1:' . $t2->port('admin') . '/crl');
$text = Certmate::Test::run_cmd('openssl', 'crl', '-inform', 'DER', '-in',
                                $t2->dir . '/sub.crl', '-CAfile', $sub_chain,
                                '-noout', '-text');
like($text, qr/verify OK/, 'sub-CA: the CRL is signed by the imported CA');
like($text, qr/Issuer: CN = corporate-sub/, 'sub-CA: CRL issuer');

$t2->stop;

# until the helper has made the CA: 503; an RSA root takes a moment

my $t3 = Certmate::Test->new;
my $pending_csr = slurp($csr);
(my $rsa_conf = $conf) =~ s{%%CA%%}{certmate_ca key=rsa-4096;};
$t3->conf($rsa_conf)->run;

my ($issue_status, $issue_json) = $t3->admin('POST', '/v1/certificates/issue',
    json => { names => ['early.example.com'] });
my ($sign_status, $sign_json) = $t3->admin('POST', '/v1/ca/sign',
    json => { csr => $pending_csr, profile => 'device' });
my $crl_status = Certmate::Test::run_cmd('curl', '-s', '-o', '/dev/null',
    '-w', '%{http_code}', 'http://127.0.0.1:' . $t3->port('admin') . '/crl');
my (undef, $early) = $t3->admin('GET', '/v1/ca');

SKIP: {
    skip 'the CA was ready before the first request', 7
        unless $early && $early->{state} eq 'pending';

    pass('GET /v1/ca: pending');
    is($issue_status, 503, 'pending: issue 503');
    is($issue_json->{error}, 'ca_not_ready', 'pending: issue ca_not_ready');
    is($sign_status, 503, 'pending: sign 503');
    is($sign_json->{error}, 'ca_not_ready', 'pending: sign ca_not_ready');
    is($crl_status, '503', 'pending: CRL 503');
    my (undef, $h) = $t3->admin('GET', '/v1/health');
    is($h->{store}{certificates}, 0, 'pending: nothing stored');
}

ok($t3->wait_for(sub {
    ($status, $json) = $t3->admin('GET', '/v1/ca');
    $json && $json->{state} eq 'ready';
}, 15), 'rsa-4096 root: ready');

@chain = pems($json->{chain});
my $rsa_root = Certmate::Test::openssl('x509', '-noout', '-text', '-in',
    $t3->write_file('root.pem', $chain[1] // ''));
my $rsa_issuing = Certmate::Test::openssl('x509', '-noout', '-text', '-in',
    $t3->write_file('issuing.pem', $chain[0] // ''));
like($rsa_root, qr/Public-Key: \(4096 bit\)/, 'key=rsa-4096: the root');
like($rsa_issuing, qr/NIST CURVE: P-256/, 'key=rsa-4096: issuing CA ec-p256');
my ($issuing_cn) = $rsa_issuing =~ /Subject: CN = ([^,\n]+)/;
like($rsa_root, qr/Subject: CN = \Q$issuing_cn\E Root\b/,
     'default subject: the root is the issuing CA\'s CN and " Root"');

($status) = $t3->admin('POST', '/v1/certificates/issue',
                       json => { names => ['early.example.com'] });
is($status, 201, 'ready: issue 201');

$t3->stop;

done_testing;


sub epoch {
    my ($y, $m, $d, $H, $M, $S) = $_[0] =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/;
    return timegm($S, $M, $H, $d, $m - 1, $y);
}

# the PEM certificates in a text

sub pems {
    return $_[0] =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)/sg;
}

# notBefore and notAfter of a certificate file, as epoch seconds

sub dates {
    my ($file) = @_;
    my $out = Certmate::Test::openssl('x509', '-in', $file, '-noout',
                                      '-startdate', '-enddate');
    my ($from) = $out =~ /notBefore=(.*)/;
    my ($to) = $out =~ /notAfter=(.*)/;
    return (openssl_epoch($from), openssl_epoch($to));
}

# "Nov 22 13:15:47 2026 GMT"

sub openssl_epoch {
    my %m = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
             Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
    my ($mon, $d, $H, $M, $S, $y) =
        $_[0] =~ /^(\w{3})\s+(\d+) (\d+):(\d+):(\d+) (\d+) GMT/ or return 0;
    return timegm($S, $M, $H, $d, $m{$mon}, $y);
}

sub count {
    my ($s, $j) = $t->admin('GET', '/v1/health');
    return $j->{store}{certificates};
}

sub ca_json {
    my ($s, $j) = $t->admin('GET', '/v1/ca');
    return $j || {};
}

sub cert_pem {
    my ($name) = @_;
    my $out = Certmate::Test::run_cmd('openssl', 's_client', '-connect',
        '127.0.0.1:' . $t->port('https'), '-servername', $name,
        { stdin => '' });
    my ($pem) = $out =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)/s;
    return $pem;
}

sub csr {
    my ($cn, $key, @args) = @_;
    my $base = "$dir/csr-$cn";
    Certmate::Test::openssl('req', '-new',
                            Certmate::Test::newkey($key), '-nodes',
                            '-keyout', "$base.key", '-subj', "/CN=$cn",
                            @args, '-out', "$base.csr");
    return "$base.csr";
}
