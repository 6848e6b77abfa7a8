#!/usr/bin/perl

# The helper killed with SIGKILL in the middle of an order, once while
# the CA validates and once after it was asked to finalize: each next
# helper resumes that order from the store, the CA sees one order, and
# the store has the certificate, its key and the order's end, whole.

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
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        server_name k.example.com;
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name k.example.com;
        certmate_acme pebble;
    }

    server {
        listen 127.0.0.1:%%PORT_admin%%;
        location /certmate/ { certmate_admin; }
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

my $resumed = qr/certmate acme "k\.example\.com" resumes order \Q$order\E/;

ok($t->wait_log($resumed, 10), 'the new helper resumes the order');

# the second helper is killed once it has asked the CA to finalize, with
# the CA frozen, so that the certificate cannot come first

ok($t->wait_for(sub { $pebble->log =~ m{POST /finalize-order/} }, 30),
   'the resumed order is finalized');
$pebble->signal('STOP');

unlike($t->read_log, qr/"k\.example\.com" got certificate/,
       'killed again before the certificate came');

($helper) = $t->children('cache manager process');
kill 'KILL', $helper;

ok($t->wait_for(sub {
    my ($new) = $t->children('cache manager process');
    $new && $new != $helper;
}, 10), 'the helper respawned');

$pebble->signal('CONT');

ok($t->wait_for(sub { (() = $t->read_log =~ /$resumed/g) == 2 }, 10),
   'the third helper resumes the finalized order');
ok($t->wait_log(qr/certmate acme "k\.example\.com" got certificate/, 60),
   'and gets the certificate');

is($pebble->orders, 1, 'one order at the CA');

my $root = $pebble->root;
my $hs = $t->handshake('k.example.com', args => ['-CAfile', $root,
                                                 '-verify_return_error']);
like($hs->{output}, qr/Verify return code: 0 \(ok\)/,
     'served with the key of the finalized order, chains to pebble\'s root');

my ($status, $json) = $t->admin('GET', '/v1/acme/orders');
is($json->{items}[0]{status}, 'valid', 'the order is over: valid');
is($json->{items}[0]{certificate_id}, substr($hs->{fingerprint}, 0, 32),
   'the order\'s certificate is the one served');

($status, $json) = $t->admin('GET', '/v1/certificates?source=acme');
is(scalar @{$json->{items}}, 1, 'one certificate from ACME');

my $out = Certmate::Test::run_cmd("$Certmate::Test::TOP/scripts/certmate",
    '--url', 'http://127.0.0.1:' . $t->port('admin') . '/certmate',
    '--token', 'secret', 'audit', '--check');
like($out, qr/^\d+ events, chain intact$/m, 'the audit chain is intact');

$t->stop;

done_testing;
