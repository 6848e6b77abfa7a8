#!/usr/bin/perl

# ACME on existing sites, against Debian's pebble: the CA is down at
# first (the site keeps its own certificate, attempts back off), then
# up: several names on one server and a second server get certificates
# that chain to pebble's root, with no reload.  HTTP-01 answering needs
# no location, and what is not a known token goes to the site.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::Local qw(timegm);
use Certmate::Test;
use Certmate::Pebble;

my $t = Certmate::Test->new;
my $pebble = Certmate::Pebble->new($t);

my $own = $t->cert('snakeoil', names => ['a.example.com']);
my $directory = $pebble->directory;
my $bundle = $pebble->ca_bundle;

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_acme_issuer pebble directory=$directory ca_bundle=$bundle
                                contact=mailto:ops\@example.com retry=1s
                                timeout=5s;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        server_name a.example.com b.example.com c.example.com;

        location / { return 200 "site \$uri\\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name a.example.com b.example.com;

        ssl_certificate $own->{crt};
        ssl_certificate_key $own->{key};

        certmate_acme pebble;

        location / { return 200 "\$certmate_certificate_id\\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name c.example.com;

        certmate_acme pebble c.example.com;
    }

    server {
        listen 127.0.0.1:%%PORT_admin%%;
        location /certmate/ { certmate_admin; }
        location = /metrics { certmate_metrics; }
    }
}
EOF

# the CA is not there yet

ok($t->wait_log(qr/\[error\].*certmate acme "a\.example\.com" failed: directory: .*attempt 3/, 15),
   'CA down: attempts fail and go on');

my @next = map { /attempt (\d+), next in (\d+) s/ ? [$1, $2] : () }
           grep { /"a\.example\.com" failed/ } split /\n/, $t->read_log;
ok($next[1][1] > $next[0][1] && $next[2][1] > $next[1][1],
   'CA down: the delays grow: ' . join(', ', map { $_->[1] } @next[0 .. 2]));

is($t->handshake('a.example.com')->{fingerprint}, $own->{fingerprint},
   'CA down: the site keeps its own certificate');
is($t->handshake('c.example.com')->{alert}, 'unrecognized name',
   'CA down: no certificate yet for a server without one');

my ($status, $json) = $t->admin('GET', '/v1/acme/orders');
is($status, 200, 'orders: 200');
is_deeply([ map { $_->{name} } @{$json->{items}} ],
          ['a.example.com', 'b.example.com', 'c.example.com'],
          'orders: every name');
is($json->{items}[0]{status}, 'failed', 'orders: failed');
like($json->{items}[0]{last_error}, qr/directory/, 'orders: the error');
is($json->{items}[0]{issuer}, 'pebble', 'orders: the issuer');
is($json->{items}[0]{certificate_id}, undef, 'orders: no certificate');

# the CA comes up

$pebble->start;
my $root = $pebble->root;

for my $name ('a.example.com', 'b.example.com', 'c.example.com') {
    ok($t->wait_log(qr/\[notice\].*certmate acme "\Q$name\E" got certificate \w+ from "pebble"/, 30),
       "$name: certificate issued");
}

my %ids;

for my $name ('a.example.com', 'b.example.com', 'c.example.com') {
    my $hs = $t->handshake($name, args => ['-CAfile', $root,
                                           '-verify_return_error',
                                           '-verify_hostname', $name]);
    like($hs->{output}, qr/Verify return code: 0 \(ok\)/,
         "$name: served, chains to pebble's root");
    isnt($hs->{fingerprint}, $own->{fingerprint},
         "$name: not the site's own certificate");
    $ids{$name} = substr($hs->{fingerprint}, 0, 32);
}

is(scalar keys %{{ reverse %ids }}, 3, 'a certificate for each name');

($status, $json) = $t->admin('GET', '/v1/acme/orders');
for my $item (@{$json->{items}}) {
    is($item->{status}, 'valid', "orders: $item->{name} valid");
    is($item->{certificate_id}, $ids{$item->{name}},
       "orders: $item->{name} certificate");
    is($item->{failures}, 0, "orders: $item->{name} no failures");
    is($item->{last_error}, undef, "orders: $item->{name} no error");
    ok($item->{next} gt $item->{last_success},
       "orders: $item->{name} renewal scheduled");
}

# the same in the metrics

my $metrics = Certmate::Test::run_cmd('curl', '-s',
    'http://127.0.0.1:' . $t->port('admin') . '/metrics');
my ($a_item) = grep { $_->{name} eq 'a.example.com' } @{$json->{items}};
my ($y, $mo, $d, $h, $mi, $se) =
    $a_item->{next} =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/;
my $next = timegm($se, $mi, $h, $d, $mo - 1, $y);

like($metrics, qr/^certmate_acme_orders_total\{result="success"\} 3$/m,
     'metrics: three orders succeeded');
ok(($metrics =~ /^certmate_acme_orders_total\{result="failure"\} (\d+)$/m)[0]
   >= 3, 'metrics: the failed attempts while the CA was down');
like($metrics, qr/^certmate_acme_next_renewal_timestamp_seconds\{name="a\.example\.com",issuer="pebble"\} $next$/m,
     'metrics: the next renewal of a name');
like($metrics, qr/^certmate_acme_failures\{name="c\.example\.com",issuer="pebble"\} 0$/m,
     'metrics: no failure since the last success');

# and in the audit log, by the helper

($status, $json) = $t->admin('GET', '/v1/audit?type=acme');
my @issued = grep { $_->{type} eq 'acme.issued' } @{$json->{items}};
is_deeply([ sort map { $_->{object} } @issued ],
          ['a.example.com', 'b.example.com', 'c.example.com'],
          'audit: an acme.issued event for each name');
is($issued[0]{actor}, 'helper', 'audit: by the helper');
ok(grep({ $_->{type} eq 'acme.failed' && $_->{detail} =~ /directory/ }
        @{$json->{items}}), 'audit: the failures while the CA was down');

($status, $json) = $t->admin('GET', '/v1/certificates?source=acme');
is(scalar @{$json->{items}}, 3, 'certificates: three from ACME');
is($json->{items}[0]{issuer} =~ /Pebble/ ? 1 : 0, 1,
   'certificates: issued by pebble');

is(Certmate::Test::run_cmd('curl', '-sk', '--resolve',
       'b.example.com:' . $t->port('https') . ':127.0.0.1',
       'https://b.example.com:' . $t->port('https') . '/'),
   "$ids{'b.example.com'}\n", '$certmate_certificate_id');

# the challenge path is the site's for anything but a known token

my $http = 'http://127.0.0.1:' . $t->port('http');

for my $path ('/.well-known/acme-challenge/unknownToken123',
              '/.well-known/acme-challenge/not.a.token',
              '/.well-known/acme-challenge/',
              '/.well-known/acme-challengex')
{
    is(Certmate::Test::run_cmd('curl', '-s', '-H', 'Host: a.example.com',
                               "$http$path"),
       "site $path\n", "$path goes to the site");
}

is(Certmate::Test::run_cmd('curl', '-s', '-X', 'POST', '-d', 'x',
                           '-H', 'Host: a.example.com',
                           "$http/.well-known/acme-challenge/abc"),
   "site /.well-known/acme-challenge/abc\n", 'POST goes to the site');

like($t->read_log, qr/\[notice\].*certmate acme has the account https:\S+ with "pebble"/,
     'account registered');

$t->stop;

# a restart orders nothing: every name has its certificate

my $orders = $pebble->orders;

$t->run;

is(substr($t->handshake('a.example.com')->{fingerprint}, 0, 32),
   $ids{'a.example.com'}, 'served after a restart');
sleep 2;
is($pebble->orders, $orders, 'no order after a restart');

# the admin API asks for a renewal now

($status, $json) = $t->admin('POST',
                             "/v1/certificates/$ids{'a.example.com'}/renew");
is($status, 202, 'renew an ACME certificate: 202');
is_deeply($json->{names}, ['a.example.com'], 'renew: the names');
is($json->{status}, 'renewing', 'renew: renewing');

ok($t->wait_log(qr/\[notice\].*certmate renews "a\.example\.com" now, as the admin API asked/, 15),
   'renew: the helper heard');

my $renewed;
for (1 .. 100) {
    $renewed = substr($t->handshake('a.example.com')->{fingerprint}, 0, 32);
    last if $renewed ne $ids{'a.example.com'};
    select undef, undef, undef, 0.2;
}

isnt($renewed, $ids{'a.example.com'}, 'renew: a new certificate served');
sleep 1;
is($pebble->orders, $orders + 1, 'renew: one order');
is(substr($t->handshake('b.example.com')->{fingerprint}, 0, 32),
   $ids{'b.example.com'}, 'renew: the other names keep theirs');

($status, $json) = $t->admin('POST', "/v1/certificates/$ids{'a.example.com'}/renew");
is($status, 404, 'renew the replaced certificate: 404');

$t->stop;

done_testing;
