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

my @chain = $json->{chain} =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)/sg;
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
      'a broken signature' ],
    [ 'garbage', qr/neither PEM nor base64 DER/, 'garbage' ],
    [ encode_base64(substr($der, 0, 40), ''), qr/neither PEM nor base64/,
      'truncated DER' ],
    [ "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
      qr/neither PEM/, 'empty PEM' ],
    [ slurp(csr('ca', 'ec-p256', '-addext',
                'basicConstraints=critical,CA:TRUE')),
      qr/CA certificate/, 'CA:TRUE' ],
    [ slurp(csr('crit', 'ec-p256', '-addext', '1.2.3.4=critical,ASN1:NULL')),
      qr/critical extension/, 'an unknown critical extension' ],
    [ slurp(csr('ip', 'ec-p256', '-addext', 'subjectAltName=IP:10.0.0.1')),
      qr/not a DNS name/, 'an IP subjectAltName' ],
    [ slurp(csr('ec384', 'ec-p384')), qr/key=/, 'a key type the profile refuses' ],
    [ slurp(csr('rsa2048', 'rsa-2048')), qr/RSA key of 2048 bits/,
      'an RSA key smaller than the profile allows' ])
{
    my ($body, $message, $what) = @$case;
    ($status, $json) = $t->admin('POST', '/v1/ca/sign',
                                 json => { csr => $body, profile => 'device' });
    is($status, 422, "sign $what: 422");
    like($json->{message}, $message, "sign $what: message");
}

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

# the CRL

ok($t->wait_for(sub { ca_json()->{crl}{number} >= $crl_number + 2 }, 3),
   'CRL: made again after the revocations');

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

$t2->stop;

done_testing;


sub epoch {
    my ($y, $m, $d, $H, $M, $S) = $_[0] =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/;
    return timegm($S, $M, $H, $d, $m - 1, $y);
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
