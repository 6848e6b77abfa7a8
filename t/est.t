#!/usr/bin/perl

# EST (RFC 7030) with curl and openssl as the client: cacerts, csrattrs,
# simpleenroll, simplereenroll and serverkeygen, labels, the three ways
# to authenticate (a password file, one-time tokens, client
# certificates), proof of possession with the TLS channel binding, the
# enrolled certificates in the admin API, and every refusal, each with
# nothing stored.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::SSL;
use MIME::Base64 qw(encode_base64 decode_base64);
use Test::More;
use Certmate::Test qw(slurp spew);

my $t = Certmate::Test->new;
my $dir = $t->dir;

my $server = $t->cert('est-server', names => ['localhost']);

my $apr1 = Certmate::Test::openssl('passwd', '-apr1', 'wonderland');
chomp $apr1;
spew("$dir/est.htpasswd", "# EST users\nalice:$apr1\r\nbob:{PLAIN}builder\n");

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;
    certmate_ca;
    certmate_profile device usage=client key=ec-p256,rsa-2048
                            names=*.devices.test validity=7d;
    certmate_profile popdev usage=client pop=on;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_est%% ssl;

        ssl_certificate $server->{crt};
        ssl_certificate_key $server->{key};
        certmate_verify_client optional;

        location /.well-known/est/ {
            certmate_est;
            certmate_est_auth basic %%DIR%%/est.htpasswd;
            certmate_est_auth token;
            certmate_est_auth cert;
            certmate_est_profile iot device;
            certmate_est_profile pop popdev;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_est2%% ssl;

        ssl_certificate $server->{crt};
        ssl_certificate_key $server->{key};
        certmate_verify_client optional;

        location /est {
            certmate_est superseded=revoke;
            certmate_est_auth token;
        }
    }
}
EOF

my ($status, $json) = (0, undef);

ok($t->wait_for(sub {
    ($status, $json) = $t->admin('GET', '/v1/ca');
    $json && $json->{state} eq 'ready';
}, 10), 'the CA is ready');

my @ca_pems = $json->{chain} =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)/gs;
my $chain = $t->write_file('ca-chain.pem', join '', @ca_pems);

# an EST request with curl: (status, headers, body)

sub est {
    my ($path, %opts) = @_;

    my $port = $t->port($opts{port} || 'est');
    my $url = "https://127.0.0.1:$port" . ($opts{prefix} // '/.well-known/est/')
              . $path;

    my @args = ('curl', '-sk', '-o', "$dir/est.body", '-D', "$dir/est.headers",
                '-w', '%{http_code}');

    push @args, '-u', $opts{user} if $opts{user};
    push @args, '-H', "Authorization: Bearer $opts{bearer}" if $opts{bearer};
    push @args, '--cert', $opts{cert}, '--key', $opts{key} if $opts{cert};
    push @args, $opts{method} eq 'HEAD' ? '-I' : ('-X', $opts{method})
        if $opts{method};

    if (defined $opts{body}) {
        spew("$dir/est.request", $opts{body});
        push @args, '-H', 'Content-Type: ' . ($opts{type} // 'application/pkcs10'),
                    '--data-binary', "\@$dir/est.request";
    }

    push @args, map { ('-H', $_) } @{$opts{headers} || []};

    my $code = Certmate::Test::run_cmd(@args, $url);

    return ($code, slurp("$dir/est.headers"), slurp("$dir/est.body"));
}

# a key and a CSR: (key file, DER of the CSR)

my $n = 0;

sub csr {
    my (%opts) = @_;

    my $base = "$dir/csr" . ++$n;
    my $key = $opts{key} || $t->genkey("$base.key", $opts{type} || 'ec-p256');
    my @subj = ('-subj', $opts{subject} || "/CN=$opts{names}[0]");
    my @ext = @{$opts{names}} > 1 || $opts{san}
              ? ('-addext', 'subjectAltName='
                            . join(',', map { "DNS:$_" } @{$opts{names}}))
              : ();

    if (defined $opts{password}) {
        my $cnf = $t->write_file("csr$n.cnf", <<"EOF");
[req]
distinguished_name = dn
attributes = attrs
prompt = no
[dn]
CN = $opts{names}[0]
[attrs]
challengePassword = $opts{password}
EOF
        @subj = ('-config', $cnf);
    }

    Certmate::Test::openssl('req', '-new', '-key', $key, @subj, @ext,
                            '-outform', 'DER', '-out', "$base.der");

    return ($key, slurp("$base.der"));
}

# the certificates of a base64 PKCS#7, as PEM

sub pkcs7_certs {
    my ($b64) = @_;

    spew("$dir/p7.der", decode_base64($b64));
    my $out = Certmate::Test::run_cmd('openssl', 'pkcs7', '-inform', 'DER',
                                      '-in', "$dir/p7.der", '-print_certs');
    return $out =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)/gs;
}

sub subject {
    my ($pem) = @_;
    my $file = $t->write_file('subject.pem', $pem);
    my $out = Certmate::Test::openssl('x509', '-in', $file, '-noout',
                                      '-subject', '-serial');
    return $out;
}

sub est_certificates {
    my ($s, $j) = $t->admin('GET', '/v1/certificates?source=est&limit=1000');
    return $j ? @{$j->{items}} : ();
}

sub headers_ok {
    my ($headers, $what) = @_;
    like($headers, qr/^Content-Length: \d+\r$/mi, "$what: Content-Length");
    unlike($headers, qr/^Transfer-Encoding/mi, "$what: not chunked");
}

# --- cacerts ---------------------------------------------------------------

my ($code, $headers, $body) = est('cacerts');
is($code, 200, 'cacerts: 200');
like($headers, qr{^Content-Type: application/pkcs7-mime\r$}m,
     'cacerts: application/pkcs7-mime');
like($headers, qr{^Content-Transfer-Encoding: base64\r$}m,
     'cacerts: Content-Transfer-Encoding base64');
headers_ok($headers, 'cacerts');
like($body, qr{^[A-Za-z0-9+/=\n]+$}, 'cacerts: base64 in lines');

my @certs = pkcs7_certs($body);
is(scalar @certs, 2, 'cacerts: the issuing CA and the root');
is_deeply([ map { subject($_) } @certs ], [ map { subject($_) } @ca_pems ],
          'cacerts: the chain of GET /v1/ca');

($code) = est('iot/cacerts');
is($code, 200, 'cacerts with a label: 200');

($code, $headers, $body) = est('cacerts', method => 'HEAD');
is($code, 200, 'HEAD cacerts: 200');
like($body, qr/^Content-Length: \d+\r$/mi, 'HEAD cacerts: Content-Length');
like($body, qr/\r\n\r\n\z/, 'HEAD cacerts: no body');
($code, $headers) = est('cacerts', method => 'POST', body => 'x');
is($code, 405, 'POST cacerts: 405');
like($headers, qr/^Allow: GET, HEAD\r$/m, 'POST cacerts: Allow');

($code, $headers) = est('simpleenroll');
is($code, 405, 'GET simpleenroll: 405');
like($headers, qr/^Allow: POST\r$/m, 'GET simpleenroll: Allow');

($code, undef, $body) = est('nothing');
is($code, 404, 'an unknown operation: 404');
like($body, qr/no EST operation/, 'an unknown operation: why');

($code, undef, $body) = est('nolabel/cacerts');
is($code, 404, 'an unknown label: 404');
like($body, qr/no EST label "nolabel"/, 'an unknown label: why');

($code) = est('a/b/cacerts');
is($code, 404, 'two labels: 404');

# --- csrattrs --------------------------------------------------------------

($code, $headers, $body) = est('csrattrs');
is($code, 204, 'csrattrs of a profile that asks nothing: 204');

($code, $headers, $body) = est('iot/csrattrs');
is($code, 200, 'csrattrs of a profile with key types: 200');
like($headers, qr{^Content-Type: application/csrattrs\r$}m,
     'csrattrs: application/csrattrs');
headers_ok($headers, 'csrattrs');
spew("$dir/attrs.der", decode_base64($body));
my $asn1 = Certmate::Test::openssl('asn1parse', '-inform', 'DER', '-in',
                                   "$dir/attrs.der");
like($asn1, qr/id-ecPublicKey.*prime256v1/s,
     'csrattrs: the key type, id-ecPublicKey with P-256');

($code, $headers, $body) = est('pop/csrattrs');
spew("$dir/attrs.der", decode_base64($body));
$asn1 = Certmate::Test::openssl('asn1parse', '-inform', 'DER', '-in',
                                "$dir/attrs.der");
like($asn1, qr/OBJECT\s+:challengePassword/,
     'csrattrs of a profile with pop=on: challengePassword');

# --- simpleenroll with a password ------------------------------------------

my @before = est_certificates();
is(scalar @before, 0, 'no EST certificates yet');

my ($key1, $der1) = csr(names => ['dev1.example.com']);

($code, $headers, $body) = est('simpleenroll', user => 'alice:wonderland',
                               body => encode_base64($der1));
is($code, 200, 'simpleenroll: 200');
like($headers,
     qr{^Content-Type: application/pkcs7-mime; smime-type=certs-only\r$}m,
     'simpleenroll: application/pkcs7-mime; smime-type=certs-only');
like($headers, qr{^Content-Transfer-Encoding: base64\r$}m,
     'simpleenroll: Content-Transfer-Encoding base64');
headers_ok($headers, 'simpleenroll');

@certs = pkcs7_certs($body);
is(scalar @certs, 1, 'simpleenroll: exactly the one certificate');

my $cert1 = $t->write_file('dev1.crt', $certs[0]);
like(Certmate::Test::run_cmd('openssl', 'verify', '-CAfile', $chain, $cert1),
     qr/: OK$/m, 'simpleenroll: the certificate verifies to the CA');

my $text = Certmate::Test::openssl('x509', '-in', $cert1, '-noout', '-text');
like($text, qr/Subject: CN = dev1.example.com/, 'simpleenroll: the subject');
like($text, qr/DNS:dev1.example.com/, 'simpleenroll: the name');
like($text, qr/TLS Web Client Authentication/,
     'simpleenroll: clientAuth, as the profile "client" has it');
is(Certmate::Test::run_cmd('openssl', 'x509', '-in', $cert1, '-noout',
                           '-pubkey'),
   Certmate::Test::run_cmd('openssl', 'pkey', '-in', $key1, '-pubout'),
   'simpleenroll: for the key of the CSR');

like($t->read_log, qr/\[notice\].*certmate est enrolled certificate [0-9A-F]+ for "dev1.example.com", profile "client", by user "alice"/,
     'simpleenroll: logged');

my @after = est_certificates();
is(scalar @after, 1, 'GET /v1/certificates?source=est: the enrollment');
my $rec1 = $after[0];
is_deeply($rec1->{names}, ['dev1.example.com'], 'the record: its names');
is($rec1->{profile}, 'client', 'the record: its profile');
is($rec1->{status}, 'active', 'the record: active');
is($rec1->{fingerprint_sha256}, Certmate::Test::fingerprint($cert1),
   'the record: the certificate enrolled');

# bodies as clients send them

my %forms = (
    'base64 with CRLF line breaks' => join("\r\n", encode_base64($der1, '') =~ /(.{1,64})/g) . "\r\n",
    'base64 in one line' => encode_base64($der1, ''),
    'PEM' => "-----BEGIN CERTIFICATE REQUEST-----\n"
             . encode_base64($der1) . "-----END CERTIFICATE REQUEST-----\n",
);

for my $form (sort keys %forms) {
    ($code) = est('simpleenroll', user => 'bob:builder', body => $forms{$form});
    is($code, 200, "simpleenroll, $form: 200");
}

($code) = est('simpleenroll', user => 'bob:builder',
              body => encode_base64($der1),
              headers => ['Content-Transfer-Encoding: base64']);
is($code, 200, 'simpleenroll with Content-Transfer-Encoding: base64: 200');

($code) = est('simpleenroll', user => 'bob:builder',
              body => encode_base64($der1),
              type => 'application/pkcs10; charset=us-ascii');
is($code, 200, 'simpleenroll, a content type with a parameter: 200');

is(scalar(est_certificates()), 6, 'six enrollments stored');

# --- refusals, each with nothing stored -------------------------------------

my $count = scalar est_certificates();

sub refused {
    my ($what, $want, $re, %opts) = @_;

    my ($c, $h, $b) = est(delete $opts{path} || 'simpleenroll', %opts);
    is($c, $want, "$what: $want");
    like($b, $re, "$what: why") if $re;
    return $h;
}

my $csr1 = encode_base64($der1);

$headers = refused('no credentials', 401, qr/^enrollment needs credentials$/m,
                   body => $csr1);
like($headers, qr/^WWW-Authenticate: Basic realm="certmate EST"\r$/m,
     'no credentials: WWW-Authenticate with the Basic realm');
like($headers, qr{^Content-Type: text/plain\r$}m, 'a refusal: text/plain');
headers_ok($headers, 'a refusal');

$headers = refused('a wrong password', 401,
                   qr/wrong user name or password for "alice"/,
                   user => 'alice:queen', body => $csr1);
like($headers, qr/^WWW-Authenticate: Basic/m,
     'a wrong password: WWW-Authenticate');
refused('an unknown user', 401, qr/wrong user name or password for "carol"/,
        user => 'carol:wonderland', body => $csr1);
refused('a bearer token nobody made', 401,
        qr/the enrollment token is not known/, bearer => 'made-up',
        body => $csr1);
refused('another scheme', 401, qr/neither HTTP Basic nor a Bearer token/,
        headers => ['Authorization: Digest username="alice"'], body => $csr1);

my %auth = (user => 'alice:wonderland');

refused('bad base64', 400, qr/neither PEM nor base64 DER/, %auth,
        body => "!!! this is not base64 !!!\n");
refused('base64 of something else', 400, qr/neither PEM nor base64 DER/,
        %auth, body => encode_base64('not a CSR at all'));
refused('an empty body', 400, qr/neither PEM nor base64 DER/, %auth,
        body => '');

my $broken = $der1;
substr($broken, -2, 1) = chr(ord(substr($broken, -2, 1)) ^ 0x55);
refused('a CSR whose signature does not verify', 400,
        qr/the CSR's signature does not verify/, %auth,
        body => encode_base64($broken));

my (undef, $ca_der) = csr(names => ['ca.example.com']);
Certmate::Test::openssl('req', '-new', '-key', "$dir/csr$n.key",
                        '-subj', '/CN=ca.example.com', '-addext',
                        'basicConstraints=critical,CA:TRUE',
                        '-outform', 'DER', '-out', "$dir/ca-req.der");
refused('a CSR for a CA', 400, qr/asks for a CA certificate/, %auth,
        body => encode_base64(slurp("$dir/ca-req.der")));

refused('a body of 20000 bytes', 413,
        qr/the body has 20000 bytes, a CSR may have 16384/, %auth,
        body => 'A' x 20000);
refused('a chunked body of 20000 bytes', 413,
        qr/the body has 20000 bytes, a CSR may have 16384/, %auth,
        body => 'A' x 20000, headers => ['Transfer-Encoding: chunked']);
refused('another content type', 415, qr{must be "application/pkcs10"},
        %auth, body => $csr1, type => 'application/json');

my (undef, $other_der) = csr(names => ['other.example.com']);
refused('a name the label\'s profile does not allow', 403,
        qr/profile "device" does not allow the name "other.example.com"/,
        %auth, path => 'iot/simpleenroll', body => encode_base64($other_der));

my (undef, $p384_der) = csr(names => ['a.devices.test'], type => 'ec-p384');
refused('a key type the profile does not allow', 403,
        qr/profile "device" does not allow/, %auth,
        path => 'iot/simpleenroll', body => encode_base64($p384_der));

is(scalar(est_certificates()), $count, 'the refusals stored nothing');
like($t->read_log, qr{\[info\].*certmate est refused POST "/.well-known/est/simpleenroll": enrollment needs credentials},
     'refusals are logged at info');

# a label's profile

my (undef, $iot_der) = csr(names => ['t1.devices.test']);
($code, undef, $body) = est('iot/simpleenroll', %auth,
                            body => encode_base64($iot_der));
is($code, 200, 'simpleenroll at a label: 200');
my ($iot) = grep { $_->{names}[0] eq 't1.devices.test' } est_certificates();
is($iot->{profile}, 'device', 'simpleenroll at a label: its profile');
$text = Certmate::Test::openssl('x509', '-in',
                                $t->write_file('t1.crt', (pkcs7_certs($body))[0]),
                                '-noout', '-dates');
my ($from, $to) = $text =~ /notBefore=(.*)\nnotAfter=(.*)/;
is(Certmate::Test::run_cmd('date', '-ud', $to, '+%s')
   - Certmate::Test::run_cmd('date', '-ud', $from, '+%s'), 7 * 86400,
   'simpleenroll at a label: the profile\'s validity');

# --- one-time tokens --------------------------------------------------------

my ($s, $tok) = $t->admin('POST', '/v1/est/tokens', json => {
    names => ['sensor1.devices.test', 'Sensor2.devices.test'],
    profile => 'device', expires_in => '1h' });
is($s, 201, 'POST /v1/est/tokens: 201');
like($tok->{token}, qr/^[A-Za-z0-9_-]{43}$/, 'a token: 32 random bytes');
is($tok->{profile}, 'device', 'a token: its profile');
is_deeply($tok->{names}, ['sensor1.devices.test', 'sensor2.devices.test'],
          'a token: its names, lowercase');
like($tok->{expires_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'a token: when it expires');
unlike($t->read_log, qr/\Q$tok->{token}\E/, 'the token is not logged');
ok(!grep({ index(slurp($_), $tok->{token}) >= 0 } glob "$dir/store/*"),
   'the store does not keep the token itself');

my (undef, $s3_der) = csr(names => ['sensor3.devices.test']);
refused('a name the token does not allow', 403,
        qr/the enrollment token does not allow the name "sensor3.devices.test"/,
        bearer => $tok->{token}, body => encode_base64($s3_der));

my (undef, $s1_der) = csr(names => ['sensor1.devices.test']);
($code) = est('simpleenroll', bearer => $tok->{token},
              body => encode_base64($s1_der));
is($code, 200, 'simpleenroll with a token (still unused after a refusal)');
my ($s1) = grep { $_->{names}[0] eq 'sensor1.devices.test' } est_certificates();
is($s1->{profile}, 'device', 'a token: the profile is the token\'s');
like($t->read_log, qr/enrolled certificate \S+ for "sensor1.devices.test", profile "device", by an enrollment token/,
     'a token: logged');

refused('a token used already', 401, qr/it was used, it expired/,
        bearer => $tok->{token}, body => encode_base64($s1_der));

(undef, my $tok2) = $t->admin('POST', '/v1/est/tokens', json => {
    names => ['dev9.example.com'] });
is($tok2->{profile}, 'client', 'a token without a profile: "client"');
my (undef, $d9_der) = csr(names => ['dev9.example.com']);
($code) = est('simpleenroll', user => "dev9:$tok2->{token}",
              body => encode_base64($d9_der));
is($code, 200, 'a token as the Basic password: 200');

(undef, my $tok3) = $t->admin('POST', '/v1/est/tokens', json => {
    names => ['dev10.example.com'], expires_in => '1s' });
sleep 2;
my (undef, $d10_der) = csr(names => ['dev10.example.com']);
refused('an expired token', 401, qr/the enrollment token has expired/,
        bearer => $tok3->{token}, body => encode_base64($d10_der));

for my $case (
    [ { profile => 'device' }, 400, 'invalid_request', 'no names' ],
    [ { names => ['x.example.com'], profile => 'nope' }, 422,
      'unknown_profile', 'an unknown profile' ],
    [ { names => ['other.example.com'], profile => 'device' }, 422,
      'profile_violation', 'a name the profile does not allow' ],
    [ { names => ['a.devices.test'], expires_in => 'soon' }, 400,
      'invalid_request', 'a bad expires_in' ],
    [ { names => ['not a name'] }, 422, 'invalid_name', 'not a DNS name' ])
{
    my ($req, $want, $err, $what) = @$case;
    ($s, $json) = $t->admin('POST', '/v1/est/tokens', json => $req);
    is($s, $want, "POST /v1/est/tokens, $what: $want");
    is($json->{error}, $err, "POST /v1/est/tokens, $what: $err");
}

($s) = $t->admin('POST', '/v1/est/tokens', token => undef,
                 json => { names => ['x.example.com'] });
is($s, 401, 'POST /v1/est/tokens without the admin token: 401');

# --- client certificates ----------------------------------------------------

($code) = est('simpleenroll', cert => $cert1, key => $key1,
              body => encode_base64((csr(names => ['dev11.example.com']))[1]));
is($code, 200, 'simpleenroll with a client certificate of ours: 200');
like($t->read_log, qr/for "dev11.example.com", profile "client", by a client certificate/,
     'simpleenroll with a client certificate: logged');

my $foreign = $t->cert('foreign', names => ['dev1.example.com']);
refused('a client certificate nobody trusts', 400,
        qr/The SSL certificate error/, cert => $foreign->{crt},
        key => $foreign->{key},
        body => encode_base64((csr(names => ['dev12.example.com']))[1]));

# --- simplereenroll ---------------------------------------------------------

my ($key1b, $der1b) = csr(names => ['dev1.example.com']);
($code, $headers, $body) = est('simplereenroll', cert => $cert1, key => $key1,
                               body => encode_base64($der1b));
is($code, 200, 'simplereenroll: 200');
like($headers,
     qr{^Content-Type: application/pkcs7-mime; smime-type=certs-only\r$}m,
     'simplereenroll: PKCS#7 certs-only');
@certs = pkcs7_certs($body);
is(scalar @certs, 1, 'simplereenroll: one certificate');
my $cert1b = $t->write_file('dev1b.crt', $certs[0]);
is(Certmate::Test::run_cmd('openssl', 'x509', '-in', $cert1b, '-noout',
                           '-pubkey'),
   Certmate::Test::run_cmd('openssl', 'pkey', '-in', $key1b, '-pubout'),
   'simplereenroll: for the new key');
like(subject($certs[0]), qr/CN = dev1.example.com/,
     'simplereenroll: the same subject');

($s) = $t->admin('GET', "/v1/certificates/$rec1->{id}");
is($s, 404, 'simplereenroll: the record it renews is replaced');
my ($rec1b) = grep { $_->{fingerprint_sha256} eq Certmate::Test::fingerprint($cert1b) }
              est_certificates();
ok($rec1b, 'simplereenroll: the new record is listed');

($code) = est('simplereenroll', cert => $cert1, key => $key1,
              body => encode_base64((csr(key => $key1,
                                         names => ['dev1.example.com']))[1]));
is($code, 200, 'superseded=keep: the renewed certificate is still good');

$count = scalar est_certificates();

refused('simplereenroll without a client certificate', 403,
        qr/simplereenroll needs the verified, unrevoked client certificate/,
        path => 'simplereenroll', %auth, body => encode_base64($der1b));
refused('simplereenroll for another subject', 403,
        qr/the CSR's subject is not that of the client certificate/,
        path => 'simplereenroll', cert => $cert1b, key => $key1b,
        body => encode_base64((csr(key => $key1b,
                                   names => ['dev2.example.com']))[1]));
refused('simplereenroll with other names', 403,
        qr/the CSR's names are not those of the client certificate/,
        path => 'simplereenroll', cert => $cert1b, key => $key1b,
        body => encode_base64((csr(key => $key1b, subject => '/CN=dev1.example.com',
                                   names => ['dev1.example.com',
                                             'extra.example.com']))[1]));
refused('simplereenroll with a foreign certificate', 400,
        qr/The SSL certificate error/,
        path => 'simplereenroll', cert => $foreign->{crt},
        key => $foreign->{key}, body => encode_base64($der1b));

($s, $json) = $t->admin('POST', "/v1/certificates/$rec1b->{id}/revoke",
                        json => { reason => 'keyCompromise' });
is($s, 200, 'an EST certificate is revoked like any other');
is($json->{status}, 'revoked', 'the revoked EST certificate: revoked');

refused('simplereenroll with a revoked certificate', 403,
        qr/simplereenroll needs the verified, unrevoked client certificate/,
        path => 'simplereenroll', cert => $cert1b, key => $key1b,
        body => encode_base64($der1b));
like($t->read_log, qr/client SSL certificate serial \S+ is revoked \(keyCompromise\)/,
     'the revoked certificate: logged');

is(scalar(est_certificates()), $count, 'the refused re-enrollments stored nothing');

# superseded=revoke, in a location without a trailing slash

(undef, my $tok4) = $t->admin('POST', '/v1/est/tokens', json => {
    names => ['dev20.example.com'] });
my ($key20, $der20) = csr(names => ['dev20.example.com']);
($code, undef, $body) = est('simpleenroll', port => 'est2', prefix => '/est/',
                            bearer => $tok4->{token},
                            body => encode_base64($der20));
is($code, 200, 'location /est: simpleenroll');
my $cert20 = $t->write_file('dev20.crt', (pkcs7_certs($body))[0]);

($code) = est('simplereenroll', port => 'est2', prefix => '/est/',
              cert => $cert20, key => $key20,
              body => encode_base64((csr(names => ['dev20.example.com']))[1]));
is($code, 200, 'superseded=revoke: simplereenroll');
like($t->read_log, qr/certmate est revoked the superseded certificate/,
     'superseded=revoke: logged');
($code) = est('simplereenroll', port => 'est2', prefix => '/est/',
              cert => $cert20, key => $key20,
              body => encode_base64((csr(names => ['dev20.example.com']))[1]));
is($code, 403, 'superseded=revoke: the renewed certificate is revoked');

# --- serverkeygen -----------------------------------------------------------

sub parts {
    my ($headers, $body) = @_;

    my ($boundary) = $headers =~ /^Content-Type: multipart\/mixed; boundary=(\S+)\r$/m
        or return;
    my @parts;

    for my $part (split /--\Q$boundary\E(?:--)?\r\n/, $body) {
        next if $part eq '';
        my ($head, $content) = split /\r\n\r\n/, $part, 2;
        push @parts, { head => $head, content => $content };
    }

    return @parts;
}

sub keygen {
    my ($path, $names, $type) = @_;

    my (undef, $der) = csr(names => $names, type => $type);
    my ($c, $h, $b) = est($path, %auth, body => encode_base64($der));
    my @p = parts($h, $b);
    return ($c, $h, @p);
}

my ($kg_code, $kg_headers, @parts) = keygen('serverkeygen', ['kg1.example.com']);
is($kg_code, 200, 'serverkeygen: 200');
headers_ok($kg_headers, 'serverkeygen');
like($kg_headers, qr/^Cache-Control: no-store\r$/m, 'serverkeygen: no-store');
is(scalar @parts, 2, 'serverkeygen: multipart/mixed of two parts');
like($parts[0]{head}, qr{^Content-Type: application/pkcs8\r?$}m,
     'serverkeygen: the key first, application/pkcs8');
like($parts[0]{head}, qr{^Content-Transfer-Encoding: base64\r?$}m,
     'serverkeygen: the key in base64');
like($parts[1]{head},
     qr{^Content-Type: application/pkcs7-mime; smime-type=certs-only\r?$}m,
     'serverkeygen: then the certificate');

spew("$dir/kg.p8", decode_base64($parts[0]{content}));
my $kg_pub = Certmate::Test::run_cmd('openssl', 'pkey', '-inform', 'DER',
                                     '-in', "$dir/kg.p8", '-pubout');
my $kg_crt = $t->write_file('kg1.crt', (pkcs7_certs($parts[1]{content}))[0]);
like($kg_pub, qr/BEGIN PUBLIC KEY/, 'serverkeygen: a PKCS#8 key');
is(Certmate::Test::run_cmd('openssl', 'x509', '-in', $kg_crt, '-noout',
                           '-pubkey'), $kg_pub,
   'serverkeygen: the certificate is for that key');
like(Certmate::Test::openssl('pkey', '-inform', 'DER', '-in', "$dir/kg.p8",
                             '-noout', '-text'),
     qr/NIST CURVE: P-256/, 'serverkeygen: a key of the CSR\'s type');
ok(grep({ $_->{names}[0] eq 'kg1.example.com' } est_certificates()),
   'serverkeygen: the certificate is stored');

($kg_code, undef, @parts) = keygen('iot/serverkeygen', ['kg2.devices.test'],
                                   'rsa-2048');
is($kg_code, 200, 'serverkeygen of an RSA key: 200');
spew("$dir/kg2.p8", decode_base64($parts[0]{content}));
like(Certmate::Test::openssl('pkey', '-inform', 'DER', '-in', "$dir/kg2.p8",
                             '-noout', '-text'),
     qr/Private-Key: \(2048 bit/, 'serverkeygen: an RSA key of 2048 bits');

($kg_code) = keygen('iot/serverkeygen', ['kg3.devices.test'], 'ec-p384');
is($kg_code, 200, 'serverkeygen for a CSR of a type the profile lacks: 200');

# --- proof of possession ----------------------------------------------------

sub pop_enroll {
    my (%o) = @_;

    my $sock = IO::Socket::SSL->new(
        PeerAddr => '127.0.0.1', PeerPort => $t->port('est'),
        SSL_verify_mode => SSL_VERIFY_NONE, SSL_version => $o{version})
        or die "connect: $SSL_ERROR";
    my $ssl = $sock->_get_ssl_object;

    my $binding;
    if ($o{version} eq 'TLSv1_3') {
        $binding = Net::SSLeay::export_keying_material(
            $ssl, 32, 'EXPORTER-Channel-Binding', '');
    } else {
        Net::SSLeay::get_finished($ssl, $binding);
    }

    my $password = exists $o{password} ? $o{password}
                                       : encode_base64($binding, '');
    my (undef, $der) = csr(names => [$o{name}], password => $password);
    my $b64 = encode_base64($der);

    print $sock "POST /.well-known/est/pop/simpleenroll HTTP/1.1\r\n"
        . "Host: localhost\r\n"
        . "Authorization: Basic " . encode_base64('alice:wonderland', '')
        . "\r\nContent-Type: application/pkcs10\r\n"
        . "Content-Length: " . length($b64) . "\r\n"
        . "Connection: close\r\n\r\n$b64";

    local $/;
    my $response = <$sock> // '';
    close $sock;

    my ($c) = $response =~ m{^HTTP/1\.1 (\d+)};
    return ($c // 0, $response);
}

my ($pc, $pr) = pop_enroll(version => 'TLSv1_2', name => 'pop1.example.com');
is($pc, 200, 'pop=on, TLS 1.2: the tls-unique in challengePassword: 200');
($pc, $pr) = pop_enroll(version => 'TLSv1_3', name => 'pop2.example.com');
is($pc, 200, 'pop=on, TLS 1.3: the tls-exporter in challengePassword: 200');

$count = scalar est_certificates();

($pc, $pr) = pop_enroll(version => 'TLSv1_2', name => 'pop3.example.com',
                        password => encode_base64('x' x 12, ''));
is($pc, 403, 'pop=on, another channel binding: 403');
like($pr, qr/the CSR's challengePassword is not the channel binding of this TLS connection/,
     'pop=on, another channel binding: why');

($code, undef, $body) = est('pop/simpleenroll', %auth,
                            body => encode_base64((csr(names => ['pop4.example.com']))[1]));
is($code, 403, 'pop=on, no challengePassword: 403');
like($body, qr/the profile needs proof of possession: the CSR's challengePassword must be the base64 of the TLS channel binding/,
     'pop=on, no challengePassword: why');

is(scalar(est_certificates()), $count, 'the refused proofs stored nothing');

# the helper removes expired tokens when it starts and every hour

(undef, my $tok5) = $t->admin('POST', '/v1/est/tokens', json => {
    names => ['dev30.example.com'], expires_in => '1s' });
sleep 2;
$t->reload;
ok($t->wait_log(qr/certmate removed [12] expired EST tokens/, 10),
   'the helper removes expired tokens');

$t->stop;

# no CA yet: without a helper ("master_process off") it is never made

my $t2 = Certmate::Test->new;

$t2->conf(<<"EOF2")->run;
master_process off;
http {
    certmate_store %%DIR%%/store;
    certmate_ca;

    server {
        listen 127.0.0.1:%%PORT_est%%;

        location /.well-known/est/ {
            certmate_est;
            certmate_est_auth token;
        }

        location /certmate/ {
            certmate_admin;
            certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;
        }
    }
}
EOF2

(undef, my $tok6) = $t2->admin('POST', '/v1/est/tokens', port => 'est',
                               json => { names => ['dev40.example.com'] });
spew($t2->dir . '/csr.b64',
     encode_base64((csr(names => ['dev40.example.com']))[1]));

for my $op ('cacerts', 'simpleenroll', 'simpleenroll') {
    my @args = ('curl', '-s', '-D', '-', '-o', '/dev/null');
    push @args, '-H', "Authorization: Bearer $tok6->{token}",
                '-H', 'Content-Type: application/pkcs10',
                '--data-binary', '@' . $t2->dir . '/csr.b64'
        if $op eq 'simpleenroll';
    my $out = Certmate::Test::run_cmd(@args, "http://127.0.0.1:"
                                      . $t2->port('est')
                                      . "/.well-known/est/$op");
    like($out, qr{^HTTP/1.1 503}, "no CA yet: $op is 503");
    like($out, qr/^Retry-After: 5\r$/m, "no CA yet: $op has Retry-After");
}

$t2->stop;

done_testing();
