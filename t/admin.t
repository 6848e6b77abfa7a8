#!/usr/bin/perl

# The admin API: authentication, every route, every error status with
# a JSON body, listing with filters and pages.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use Test::More;
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;

my $other = sha256_hex('other-token');

$t->conf(<<"EOF")->run;
http {
    access_log off;

    certmate_store %%DIR%%/store;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
            client_max_body_size 16k;
        }

        location /other {
            certmate_admin;
            certmate_admin_token other sha256:$other;
        }

        location = /exact {
            certmate_admin;
        }
    }
}
EOF

my $ca = $t->ca('root');
my $int = $t->ca('intermediate', issuer => $ca);
my $foreign = $t->ca('foreign');

my $a = $t->cert('a', names => ['a.example.com', 'www.example.com'],
                 issuer => $int);
my $b = $t->cert('b', names => ['*.b.example.com'], days => 1);
my $c = $t->cert('c', names => ['c.example.com'], key => 'rsa-2048');
my $p384 = $t->cert('p384', names => ['p384.example.com'], key => 'ec-p384');

# authentication

my ($status, $json, $headers) = $t->admin('GET', '/v1/health', token => undef);
is($status, 401, 'no token: 401');
is($json->{error}, 'unauthorized', 'no token: JSON error');
like($headers, qr/^WWW-Authenticate: Bearer realm="certmate"\r$/m,
     'no token: WWW-Authenticate');

($status, $json) = $t->admin('GET', '/v1/health', token => 'wrong');
is($status, 401, 'wrong token: 401');
like($json->{message}, qr/not valid/, 'wrong token: message');

($status) = $t->admin('GET', '/v1/health', token => undef,
                      curl => ['-H', 'Authorization: Basic b3BzOnNlY3JldA==']);
is($status, 401, 'basic credentials: 401');

($status) = $t->admin('GET', '/v1/health', token => 'other-token');
is($status, 401, 'token of another location: 401');

($status) = $t->admin('GET', '/v1/health', prefix => '/other',
                      token => 'other-token');
is($status, 200, 'location token accepted');

($status) = $t->admin('GET', '/v1/health', prefix => '/other');
is($status, 401, 'location tokens replace inherited ones');

($status) = $t->admin('GET', '/v1/health', token => undef,
                      curl => ['-H', 'Authorization: bearer   secret']);
is($status, 200, 'scheme case and spaces');

like($t->read_log, qr/\[info\].*certmate admin refused GET: the bearer token is not valid/,
     'refusal logged at info');

my $big = 'x' x 100000;
($status, $json) = $t->admin('POST', '/v1/certificates', token => undef,
                             json => $big);
is($status, 401, 'no token and a large body: 401 first');

# health

($status, $json, $headers) = $t->admin('GET', '/v1/health');
is($status, 200, 'health: 200');
is($json->{status}, 'ok', 'health: ok');
is($json->{store}{schema}, 1, 'health: schema');
is($json->{store}{certificates}, 0, 'health: no certificates');
ok($json->{store}{map_size} >= $json->{store}{map_used}, 'health: map');
like($headers, qr/^Content-Type: application\/json\r$/m, 'content type');
like($headers, qr/^Cache-Control: no-store\r$/m, 'not cached');

($status, undef, $headers, my $body) = $t->admin('HEAD', '/v1/health',
                                                 curl => ['-I']);
is($status, 200, 'HEAD: 200');
like($headers, qr/^Content-Length: \d+\r$/m, 'HEAD: length of GET');
like($body, qr/\r\n\r\n\z/, 'HEAD: no body');

# routes and methods

($status, $json) = $t->admin('GET', '/v1/nothing');
is($status, 404, 'unknown path: 404');
is($json->{error}, 'not_found', 'unknown path: JSON');

($status) = $t->admin('GET', '/');
is($status, 404, 'prefix alone: 404');

($status) = $t->admin('GET', '/v1/health', prefix => '/exact');
is($status, 404, 'exact location has no routes below it');

($status, $json, $headers) = $t->admin('PUT', '/v1/certificates');
is($status, 405, 'PUT list: 405');
like($headers, qr/^Allow: GET, HEAD, POST\r$/m, 'PUT list: Allow');
is($json->{error}, 'method_not_allowed', 'PUT list: JSON');

($status, undef, $headers) = $t->admin('DELETE', '/v1/health');
is($status, 405, 'DELETE health: 405');
like($headers, qr/^Allow: GET, HEAD\r$/m, 'DELETE health: Allow');

($status, undef, $headers) = $t->admin('POST', '/v1/certificates/' . '0' x 32);
is($status, 405, 'POST one: 405');
like($headers, qr/^Allow: GET, HEAD, DELETE\r$/m, 'POST one: Allow');

($status, $json) = $t->admin('GET', '/v1/acme/orders');
is($status, 200, 'ACME orders: 200');
is_deeply($json, { items => [], next_cursor => undef },
          'ACME orders: none without certmate_acme');

($status, undef, $headers) = $t->admin('POST', '/v1/acme/orders');
is($status, 405, 'POST ACME orders: 405');
like($headers, qr/^Allow: GET, HEAD\r$/m, 'POST ACME orders: Allow');

($status) = $t->admin('GET', '/v1/certificates/' . '0' x 32);
is($status, 404, 'unknown id: 404');

($status) = $t->admin('GET', '/v1/certificates/not-an-id');
is($status, 404, 'malformed id: 404');

($status) = $t->admin('DELETE', '/v1/certificates/' . '0' x 32);
is($status, 404, 'delete unknown id: 404');

($status) = $t->admin('GET', '/v1/certificates/' . '0' x 32 . '/x');
is($status, 404, 'path below an id: 404');

# bodies that are not what the API takes

($status, $json) = $t->admin('POST', '/v1/certificates', json => '{}',
                             type => 'text/plain');
is($status, 415, 'text/plain: 415');
is($json->{error}, 'unsupported_media_type', '415: JSON');

($status) = $t->admin('POST', '/v1/certificates', json => '{}',
                      type => 'application/jsonx');
is($status, 415, 'application/jsonx: 415');

($status) = $t->admin('POST', '/v1/certificates', json => '{}',
                      type => 'application/json; charset=utf-8');
is($status, 400, 'application/json with charset accepted');

($status, $json) = $t->admin('POST', '/v1/certificates', json => '{}',
                             curl => ['-H', 'Transfer-Encoding: chunked']);
is($status, 411, 'chunked body: 411');
is($json->{error}, 'length_required', '411: JSON');

($status, $json, $headers) = $t->admin('POST', '/v1/certificates',
                                       json => $big);
is($status, 413, 'large body: 413');
is($json->{error}, 'body_too_large', '413: JSON');
like($json->{message}, qr/100000 bytes.*allows 16384/, '413: message');

for my $case (
    [ 'not json', 'invalid_json', 'not JSON' ],
    [ '', 'invalid_json', 'empty body' ],
    [ '[1,2]', 'invalid_request', 'an array' ],
    [ '{"certificate": "x", "certificate": "y", "private_key": "z"}',
      'invalid_json', 'duplicate member' ],
    [ '{"certificate": "x", "private_key": "y", "key": "z"}',
      'invalid_request', 'unknown member' ],
    [ '{"certificate": "x"}', 'invalid_request', 'no private_key' ],
    [ '{"private_key": "x"}', 'invalid_request', 'no certificate' ],
    [ '{"certificate": 1, "private_key": "x"}', 'invalid_request',
      'number for a string' ],
    [ "{\"certificate\": \"\xff\xfe\", \"private_key\": \"x\"}",
      'invalid_json', 'not UTF-8' ],
)
{
    my ($body, $code, $name) = @$case;
    ($status, $json) = $t->admin('POST', '/v1/certificates', json => $body);
    is($status, 400, "$name: 400");
    is($json->{error}, $code, "$name: $code");
}

# certificates and keys that cannot be served

my $key_a = slurp($a->{key});
my $rsa1024 = $t->cert('rsa1024', names => ['old.example.com'],
                       key => 'rsa-1024');
my $p521 = $t->cert('p521', names => ['p521.example.com'], key => 'ec-p521');
my $ip = $t->cert('ip', names => ['127.0.0.1'], cn => 'ip');
my $bad_name = $t->cert('bad-name', names => ['bad..example.com']);

Certmate::Test::openssl('pkey', '-in', $a->{key}, '-aes128', '-passout',
                        'pass:pw', '-out', $t->dir . '/pki/encrypted.key');

for my $case (
    [ { certificate => 'garbage', private_key => $key_a },
      'invalid_certificate', qr/no PEM certificate/, 'no PEM' ],
    [ { certificate => "-----BEGIN CERTIFICATE-----\nAAAA\n"
                       . "-----END CERTIFICATE-----\n",
        private_key => $key_a },
      'invalid_certificate', qr/not valid/, 'broken PEM' ],
    [ { certificate => $a->{pem}, private_key => 'garbage' },
      'invalid_key', qr/not a PEM private key/, 'no key' ],
    [ { certificate => $a->{pem},
        private_key => slurp($t->dir . '/pki/encrypted.key') },
      'invalid_key', qr/passphrase/, 'encrypted key' ],
    [ { certificate => $a->{pem}, private_key => slurp($b->{key}) },
      'key_mismatch', qr/belongs to none/, 'key of another certificate' ],
    [ { certificate => $a->{pem} . slurp($foreign->{crt}),
        private_key => $key_a },
      'invalid_chain', qr/"CN=foreign" is not in the chain/,
      'certificate outside the chain' ],
    [ { certificate => $rsa1024->{pem},
        private_key => slurp($rsa1024->{key}) },
      'unsupported_key', qr/ec-p256, ec-p384, rsa-2048/, 'RSA 1024' ],
    [ { certificate => $p521->{pem}, private_key => slurp($p521->{key}) },
      'unsupported_key', qr/supported types/, 'P-521' ],
    [ { certificate => $ip->{pem}, private_key => slurp($ip->{key}) },
      'no_names', qr/no DNS names/, 'IP address only' ],
    [ { certificate => $bad_name->{pem},
        private_key => slurp($bad_name->{key}) },
      'invalid_name', qr/"bad\.\.example\.com"/, 'invalid DNS name' ],
)
{
    my ($body, $code, $message, $name) = @$case;
    ($status, $json) = $t->admin('POST', '/v1/certificates', json => $body);
    is($status, 422, "$name: 422");
    is($json->{error}, $code, "$name: $code");
    like($json->{message}, $message, "$name: message");
}

like($t->read_log, qr/\[info\].*certmate admin refused POST: "private_key" belongs to none/,
     '422 logged at info');

($status, $json) = $t->admin('GET', '/v1/health');
is($json->{store}{certificates}, 0, 'nothing stored from bad input');
is($json->{store}{generation}, 0, 'no write from bad input');

# import, show, list

($status, $json, $headers) = $t->import_cert($a);
is($status, 201, 'import: 201');
my $a_id = $json->{id};
like($headers, qr{^Location: /certmate/v1/certificates/$a_id\r$}m,
     'import: Location');
is_deeply($json->{names}, ['a.example.com', 'www.example.com'],
          'import: names');
is($json->{key_type}, 'ec-p256', 'import: key type');
is($json->{source}, 'import', 'import: source');
is($json->{status}, 'active', 'import: status');
is($json->{subject}, 'CN=a.example.com', 'import: subject');
is($json->{issuer}, 'CN=intermediate', 'import: issuer');
is($json->{profile}, undef, 'import: no profile');
like(Certmate::Test::openssl('x509', '-in', $a->{crt}, '-noout', '-serial'),
     qr/^serial=0?$json->{serial}$/m, 'import: serial');
like($json->{not_after}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'import: RFC 3339 time');
is($json->{version}, 1, 'import: version');

($status, $json) = $t->import_cert($a);
is($status, 200, 'same certificate again: 200');
is($json->{id}, $a_id, 'same certificate again: same id');
is($json->{version}, 2, 'same certificate again: new version');

($status, $json, $headers, $body) = $t->admin('GET', "/v1/certificates/$a_id");
is($status, 200, 'show: 200');
is($json->{fingerprint_sha256}, $a->{fingerprint}, 'show: fingerprint');
unlike($body, qr/PRIVATE|$a_id.*BEGIN/s, 'show: no key');

is(($t->admin('GET', '/v1/certificates/' . uc $a_id))[0], 200,
   'ids in upper case');

for my $cert ($b, $c, $p384) {
    ($status, $json) = $t->import_cert($cert);
    is($status, 201, "import $json->{names}[0]");
}

($status, $json) = $t->admin('GET', '/v1/certificates');
is($status, 200, 'list: 200');
is(scalar @{$json->{items}}, 4, 'list: all');
is($json->{next_cursor}, undef, 'list: one page');
ok(!grep({ /PRIVATE/ } $body), 'list: no key');
is_deeply([ map { $_->{id} } @{$json->{items}} ],
          [ sort map { $_->{id} } @{$json->{items}} ], 'list: by id');

my %types = map { $_->{names}[0] => $_->{key_type} } @{$json->{items}};
is($types{'c.example.com'}, 'rsa-2048', 'list: rsa-2048');
is($types{'p384.example.com'}, 'ec-p384', 'list: ec-p384');

my @ids;
my $cursor = '';
for (1 .. 3) {
    ($status, $json) = $t->admin('GET', "/v1/certificates?limit=2$cursor");
    push @ids, map { $_->{id} } @{$json->{items}};
    last unless defined $json->{next_cursor};
    $cursor = "&cursor=$json->{next_cursor}";
}
is(scalar @ids, 4, 'pages: every certificate');
is($json->{next_cursor}, undef, 'pages: the last has no cursor');
is(scalar keys %{{ map { $_ => 1 } @ids }}, 4, 'pages: no repeats');

($status, $json) = $t->admin('GET', '/v1/certificates?name=www.example.com');
is_deeply([ map { $_->{id} } @{$json->{items}} ], [$a_id], 'name filter');

($status, $json) = $t->admin('GET', '/v1/certificates?name=x.b.example.com');
is_deeply([ map { $_->{names}[0] } @{$json->{items}} ], ['*.b.example.com'],
          'name filter through a wildcard');

($status, $json) = $t->admin('GET', '/v1/certificates?name=WWW.Example.Com');
is(scalar @{$json->{items}}, 1, 'name filter ignores case');

($status, $json) = $t->admin('GET', '/v1/certificates?source=import&limit=10');
is(scalar @{$json->{items}}, 4, 'source filter');

($status, $json) = $t->admin('GET', '/v1/certificates?source=acme');
is(scalar @{$json->{items}}, 0, 'source filter: none');

my @soon = gmtime(time + 7 * 86400);
my $soon = sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ', $soon[5] + 1900,
                   $soon[4] + 1, @soon[3, 2, 1, 0]);
($status, $json) = $t->admin('GET', "/v1/certificates?expires_before=$soon");
is_deeply([ map { $_->{names}[0] } @{$json->{items}} ], ['*.b.example.com'],
          'expires_before');

($status, $json) = $t->admin('GET',
    '/v1/certificates?expires_before=2000-01-01T00:00:00%2B01:00');
is(scalar @{$json->{items}}, 0, 'expires_before with an offset');

for my $case ('limit=0', 'limit=1001', 'limit=x', 'cursor=zz',
              'source=nope', 'expires_before=tomorrow',
              'expires_before=2030-13-01T00:00:00Z', 'name=')
{
    ($status, $json) = $t->admin('GET', "/v1/certificates?$case");
    is($status, 400, "$case: 400");
    is($json->{error}, 'invalid_parameter', "$case: invalid_parameter");
}

# delete

is(($t->admin('DELETE', "/v1/certificates/$a_id"))[0], 204, 'delete: 204');
is(($t->admin('GET', "/v1/certificates/$a_id"))[0], 404, 'deleted: 404');
is(($t->admin('DELETE', "/v1/certificates/$a_id"))[0], 404,
   'delete again: 404');

($status, $json) = $t->admin('GET', '/v1/health');
is($json->{store}{certificates}, 3, 'health counts certificates');

like($t->read_log, qr/\[notice\].*certmate imported certificate $a_id for "a\.example\.com"/,
     'import logged');
like($t->read_log, qr/\[notice\].*certmate deleted certificate $a_id/,
     'delete logged');
unlike($t->read_log, qr/PRIVATE KEY/, 'no key in the log');

$t->stop;

done_testing;
