#!/usr/bin/perl

# External account binding against a pebble that requires it: with the
# right key id and HMAC key an account is made and certificates come;
# without them, or with a wrong key, the failure says why.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Certmate::Test;
use Certmate::Pebble;

my $t = Certmate::Test->new;

my $key = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
my $wrong = 'b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH';

my $pebble = Certmate::Pebble->new($t, eab => { 'kid-1' => $key })->start;

my $directory = $pebble->directory;
my $bundle = $pebble->ca_bundle;

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    certmate_acme_issuer bound directory=$directory ca_bundle=$bundle
                               eab_kid=kid-1 eab_hmac_key=$key;
    certmate_acme_issuer unbound directory=$directory ca_bundle=$bundle;
    certmate_acme_issuer wrong directory=$directory ca_bundle=$bundle
                               eab_kid=kid-1 eab_hmac_key=$wrong;

    server {
        listen 127.0.0.1:%%PORT_http%%;
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name e.example.com;
        certmate_acme bound;
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name n.example.com;
        certmate_acme unbound;
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name w.example.com;
        certmate_acme wrong;
    }

    server {
        listen 127.0.0.1:%%PORT_admin%%;
        location /certmate/ { certmate_admin; }
    }
}
EOF

ok($t->wait_log(qr/certmate acme "e\.example\.com" got certificate/, 20),
   'bound account: certificate issued');
ok($t->handshake('e.example.com')->{fingerprint}, 'bound account: served');

ok($t->wait_log(qr/\[error\].*certmate acme "n\.example\.com" failed: the CA requires external account binding: give "eab_kid=" and "eab_hmac_key="/, 10),
   'no binding: the error says what to configure');

ok($t->wait_log(qr/\[error\].*certmate acme "w\.example\.com" failed: account: 4\d\d /, 10),
   'wrong key: the CA refuses the account');

my ($status, $json) = $t->admin('GET', '/v1/acme/orders');
my %items = map { $_->{name} => $_ } @{$json->{items}};

is($items{'e.example.com'}{status}, 'valid', 'orders: bound valid');
is($items{'n.example.com'}{status}, 'failed', 'orders: unbound failed');
like($items{'n.example.com'}{last_error}, qr/external account binding/,
     'orders: unbound error');
like($items{'w.example.com'}{last_error}, qr/^account: 4\d\d/,
     'orders: wrong key error');

$t->stop;

done_testing;
