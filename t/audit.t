#!/usr/bin/perl

# The audit log: every state change through the admin API and EST, and
# refused credentials, appended with time, actor, client, object and
# detail in the same store transaction as the change, each event
# chained to the one before by SHA-256; GET /v1/audit with its filters
# and pages; "scripts/certmate audit --check" finds an altered and a
# deleted event; the JSON-lines mirror of certmate_audit_log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Test::More;
use Time::HiRes qw(sleep time);
use Certmate::Test qw(slurp spew);

my $t = Certmate::Test->new;
my $dir = $t->dir;
my $cli = "$Certmate::Test::TOP/scripts/certmate";

system('cc', '-O2', '-Wall', '-Werror', '-o', "$dir/store-tool",
       "$Certmate::Test::TOP/t/tools/store-tool.c", '-llmdb') == 0
    or BAIL_OUT('cannot build t/tools/store-tool.c');

my $root = $t->ca('root');
my $web = $t->cert('web', names => ['a.example.com'], issuer => $root);

spew("$dir/est.htpasswd", "alice:{PLAIN}wonderland\n");
mkdir "$dir/audit";
chmod 0777, "$dir/audit";

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_ca;
    certmate_audit_log %%DIR%%/audit/events.jsonl;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
            certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;
            certmate_admin_token auditor sha256:${\ sha256_hex('auditor-secret')};
        }

        location /.well-known/est/ {
            certmate_est;
            certmate_est_auth basic %%DIR%%/est.htpasswd;
            certmate_est_auth token;
        }
    }
}
EOF

ok($t->wait_for(sub {
    my (undef, $j) = $t->admin('GET', '/v1/ca');
    $j && $j->{state} eq 'ready';
}, 10), 'the CA is ready');

my $url = 'http://127.0.0.1:' . $t->port('admin');

# --- what changes the store ------------------------------------------------

my ($s, $imported) = $t->import_cert($web);
is($s, 201, 'import');
(undef, my $issued) = $t->admin('POST', '/v1/certificates/issue',
                                json => { names => ['b.example.com'] });
(undef, my $renewed) = $t->admin('POST',
                                 "/v1/certificates/$issued->{id}/renew");
($s) = $t->admin('POST', "/v1/certificates/$renewed->{id}/revoke",
                 json => { reason => 'keyCompromise' });
is($s, 200, 'revoke');

Certmate::Test::openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:P-256', '-nodes', '-keyout',
                        "$dir/c.key", '-subj', '/CN=c.example.com',
                        '-out', "$dir/c.csr");
(undef, my $signed) = $t->admin('POST', '/v1/ca/sign',
    json => { csr => scalar slurp("$dir/c.csr"), profile => 'client' });
($s) = $t->admin('POST', "/v1/serials/$signed->{serial}/revoke");
is($s, 200, 'revoke a serial');
($s) = $t->admin('DELETE', "/v1/certificates/$imported->{id}");
is($s, 204, 'delete');

(undef, my $tok) = $t->admin('POST', '/v1/est/tokens',
                             json => { names => ['d.example.com'] },
                             token => 'auditor-secret');
ok($tok->{token}, 'an EST token, by the other admin token');

Certmate::Test::openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:P-256', '-nodes', '-keyout',
                        "$dir/d.key", '-subj', '/CN=d.example.com',
                        '-outform', 'DER', '-out', "$dir/d.der");
spew("$dir/d.b64", encode_base64(slurp("$dir/d.der")));
is(Certmate::Test::run_cmd('curl', '-s', '-o', '/dev/null', '-w',
                           '%{http_code}', '-u', 'alice:wonderland', '-H',
                           'Content-Type: application/pkcs10',
                           '--data-binary', "\@$dir/d.b64",
                           "$url/.well-known/est/simpleenroll"),
   200, 'an EST enrollment');

# refused credentials: three in a second make one event (one curl on
# one connection, at the start of a second, so that a loaded machine
# does not spread them over two)

sleep(1.02 - (time - int time));
is(Certmate::Test::run_cmd('curl', '-s', '-w', '%{http_code} ', '-H',
                           'Authorization: Bearer wrong',
                           ('-o', '/dev/null', "$url/certmate/v1/health") x 3),
   '401 401 401 ', 'a wrong admin token, three times');

# nothing refused before the store is written is in the log

($s) = $t->admin('POST', '/v1/certificates/issue',
                 json => { names => ['not a name'] });
is($s, 422, 'a refused issuance');

# --- GET /v1/audit ---------------------------------------------------------

my ($status, $json) = $t->admin('GET', '/v1/audit');
is($status, 200, 'GET /v1/audit: 200');

my @events = @{$json->{items}};
is_deeply([ map { $_->{type} } @events ],
          [ qw(certificate.import certificate.issue certificate.renew
               certificate.revoke ca.sign serial.revoke certificate.delete
               est.token est.enroll admin.unauthorized) ],
          'every change, in order, and the refused token');
is_deeply([ map { $_->{seq} } @events ], [ 1 .. 10 ], 'numbered from 1');
is($events[0]{prev_hash}, '0' x 64, 'the first follows nothing');

for my $i (1 .. $#events) {
    is($events[$i]{prev_hash}, $events[$i - 1]{hash},
       "event $events[$i]{seq} carries the hash of the one before");
}

my %by = map { $_->{type} => $_ } @events;

is($by{'certificate.import'}{actor}, 'token ops', 'the actor: the token');
is($by{'certificate.import'}{client}, '127.0.0.1', 'the client');
is($by{'certificate.import'}{object}, $imported->{id}, 'the object: the id');
like($by{'certificate.import'}{detail}, qr/a\.example\.com/,
     'the detail: the names');
is($by{'certificate.issue'}{object}, $issued->{serial},
   'an issuance: its serial');
is($by{'certificate.renew'}{object}, $renewed->{serial},
   'a renewal: the new serial');
like($by{'certificate.revoke'}{detail}, qr/keyCompromise/,
     'a revocation: its reason');
is($by{'ca.sign'}{object}, $signed->{serial}, 'a signature: its serial');
is($by{'est.token'}{actor}, 'token auditor', 'the other token');
is($by{'est.enroll'}{actor}, 'est user "alice"', 'EST: the user');
like($by{'admin.unauthorized'}{detail},
     qr{^GET /certmate/v1/health: the bearer token is not valid here},
     'the refused credential');
is($by{'admin.unauthorized'}{actor}, '', 'no actor for a refused one');
like($by{'certificate.import'}{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'the time, RFC 3339');

# the hash is that of the one before and the event's own fields

my $e = $events[1];
my $fields = pack('H64 Q> q>', $e->{prev_hash}, $e->{seq}, $e->{timestamp})
             . join '', map { pack('N', length $e->{$_}) . $e->{$_} }
                            qw(type actor client object detail);
is(sha256_hex($fields), $e->{hash}, 'the hash is the documented SHA-256');

# filters and pages

(undef, $json) = $t->admin('GET', '/v1/audit?type=certificate');
is_deeply([ map { $_->{type} } @{$json->{items}} ],
          [ qw(certificate.import certificate.issue certificate.renew
               certificate.revoke certificate.delete) ],
          'type= the part before the dot');
(undef, $json) = $t->admin('GET', '/v1/audit?type=est.enroll');
is(scalar @{$json->{items}}, 1, 'type= one exactly');
(undef, $json) = $t->admin('GET', '/v1/audit?since=2099-01-01T00:00:00Z');
is(scalar @{$json->{items}}, 0, 'since= the future: nothing');
(undef, $json) = $t->admin('GET', '/v1/audit?since=2000-01-01T00:00:00Z');
is(scalar @{$json->{items}}, 10, 'since= the past: all');

my @paged;
my $cursor;
do {
    (undef, $json) = $t->admin('GET', '/v1/audit?limit=3'
                                      . ($cursor ? "&cursor=$cursor" : ''));
    push @paged, map { $_->{seq} } @{$json->{items}};
    $cursor = $json->{next_cursor};
} while ($cursor);
is_deeply(\@paged, [ 1 .. 10 ], 'pages of 3, by next_cursor');

for my $bad ('limit=0', 'limit=x', 'cursor=abc', 'since=yesterday') {
    ($s, $json) = $t->admin('GET', "/v1/audit?$bad");
    is($s, 400, "GET /v1/audit?$bad: 400");
    is($json->{error}, 'invalid_parameter', "?$bad: invalid_parameter");
}

($s) = $t->admin('GET', '/v1/audit', token => undef);
is($s, 401, 'GET /v1/audit without a token: 401');
($s) = $t->admin('DELETE', '/v1/audit');
is($s, 405, 'DELETE /v1/audit: 405');

# --- the JSON-lines mirror -------------------------------------------------

my $mirror = "$dir/audit/events.jsonl";
ok($t->wait_for(sub { -f $mirror && (() = slurp($mirror) =~ /\n/g) >= 10 },
                10), 'the helper mirrors the events to the file');

my @lines = map { decode_json($_) } split /\n/, slurp($mirror);
is_deeply([ map { $_->{seq} } @lines ], [ 1 .. @lines ],
          'the mirror: every event once, in order');
is_deeply([ map { $_->{hash} } @lines[0 .. 9] ],
          [ map { $_->{hash} } @events ], 'the mirror: the same events');
is((stat $mirror)[2] & 0777, 0600, 'the mirror: mode 0600');

# --- scripts/certmate audit --check -----------------------------------------

my @cli = ($cli, '--url', "$url/certmate", '--token', 'secret');

my $out = Certmate::Test::run_cmd(@cli, 'audit', '--check');
is($? >> 8, 0, 'audit --check: 0');
like($out, qr/^\d+ events, chain intact$/m, 'audit --check: intact');

$out = Certmate::Test::run_cmd(@cli, 'audit', '--type', 'est');
like($out, qr/^SEQ\s+TIME\s+TYPE\s+ACTOR/m, 'audit: a table');
like($out, qr/est\.enroll\s+est user "alice"/, 'audit: the EST events');

$t->stop;

system("$dir/store-tool", 'audit-alter', "$dir/store", 4) == 0
    or die 'store-tool audit-alter failed';
$t->run;

$out = Certmate::Test::run_cmd(@cli, 'audit', '--check');
is($? >> 8, 3, 'an altered event: audit --check exits 3');
like($out, qr/event 4 was altered/, 'an altered event: found');

$t->stop;

system("$dir/store-tool", 'audit-delete', "$dir/store", 6) == 0
    or die 'store-tool audit-delete failed';
$t->run;

$out = Certmate::Test::run_cmd(@cli, 'audit', '--check');
is($? >> 8, 3, 'a deleted event: audit --check exits 3');
like($out, qr/event 5 is followed by 7: 1 missing/, 'a deleted event: found');
like($out, qr/event 7 does not follow the hash of the one before/,
     'a deleted event: the chain is broken');

$out = Certmate::Test::run_cmd(@cli, 'audit');
like($out, qr/^7\s/m, 'the log goes on after them');

$t->stop;

# --- configuration ---------------------------------------------------------

for my $case (
    [ 'certmate_audit_log %%DIR%%/audit/x.jsonl;',
      qr/"certmate_audit_log" requires "certmate_store"/, 'without a store' ],
    [ "certmate_store %%DIR%%/store;\n"
      . 'certmate_audit_log %%DIR%%/missing/x.jsonl;',
      qr/the directory "\S+\/missing\/" of "\S+" is not there .* in \S+:\d+/,
      'in a missing directory' ],
    [ "certmate_store %%DIR%%/store;\n"
      . "certmate_audit_log %%DIR%%/audit/x.jsonl;\n"
      . 'certmate_audit_log %%DIR%%/audit/y.jsonl;',
      qr/"certmate_audit_log" directive is duplicate in \S+:\d+/,
      'twice' ])
{
    my ($conf, $re, $name) = @$case;
    $t->conf("http {\n$conf\n}\n");
    my ($rc, $o) = $t->test_config;
    isnt($rc, 0, "certmate_audit_log $name: nginx -t fails");
    ok($o =~ $re, "certmate_audit_log $name: message") or diag($o);
}

done_testing();
