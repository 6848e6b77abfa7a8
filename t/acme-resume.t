#!/usr/bin/perl

# The helper killed with SIGKILL in the middle of an order: the next
# helper resumes that order from the store; the CA sees one order.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Certmate::Test;
use Certmate::Pebble;

my $t = Certmate::Test->new;

# pebble takes up to 4 s to validate

my $pebble = Certmate::Pebble->new($t, env => { PEBBLE_VA_NOSLEEP => 0,
                                                PEBBLE_VA_SLEEPTIME => 4 })
                             ->start;

my $directory = $pebble->directory;
my $bundle = $pebble->ca_bundle;

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_acme_issuer pebble directory=$directory ca_bundle=$bundle;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        server_name k.example.com;
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name k.example.com;
        certmate_acme pebble;
    }
}
EOF

my $ordered = qr/certmate acme "k\.example\.com" ordered (\S+)/;

ok($t->wait_log($ordered, 15), 'ordered');
my ($order) = $t->read_log =~ $ordered;

$t->expect_log(qr/cache manager process \d+ exited on signal 9/);

my ($helper) = $t->children('cache manager process');
kill 'KILL', $helper;

unlike($t->read_log, qr/"k\.example\.com" got certificate/,
       'killed before the certificate came');

ok($t->wait_log(qr/certmate acme "k\.example\.com" resumes order \Q$order\E/,
                10), 'the new helper resumes the order');
ok($t->wait_log(qr/certmate acme "k\.example\.com" got certificate/, 60),
   'and gets the certificate');

is($pebble->orders, 1, 'one order at the CA');
ok($t->handshake('k.example.com')->{fingerprint}, 'served');

$t->stop;

done_testing;
