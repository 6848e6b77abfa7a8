#!/usr/bin/perl

# ACME renewals against pebble issuing certificates for 12 seconds: the
# helper renews at two thirds of the lifetime, the new certificate is
# served at the next handshake and replaces the old one in the store.
# Then the CA goes away: renewals fail and back off while the current
# certificate is still served; the CA comes back without our account,
# which is registered again, and renewals go on.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::Piece;
use Certmate::Test;
use Certmate::Pebble;

my $t = Certmate::Test->new;
my $pebble = Certmate::Pebble->new($t, validity => 12)->start;

my $directory = $pebble->directory;
my $bundle = $pebble->ca_bundle;

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_acme_issuer pebble directory=$directory ca_bundle=$bundle
                                retry=1s;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        server_name r.example.com;
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name r.example.com;
        certmate_acme pebble;
    }

    server {
        listen 127.0.0.1:%%PORT_admin%%;
        location /certmate/ { certmate_admin; }
    }
}
EOF

ok(issued(1, 15), 'first certificate');
my $first = served();
my $born = not_before();

# renewal at two thirds of 12 seconds, less up to 5% of jitter

ok(issued(2, 20), 'renewed');
my $second = served();
isnt($second, $first, 'the renewed certificate is served');

my ($status, $json) = $t->admin('GET',
                                '/v1/certificates?name=r.example.com');
is(scalar @{$json->{items}}, 1, 'the old certificate is gone from the store');
is($json->{items}[0]{fingerprint_sha256}, $second, 'the new one is there');
is($json->{items}[0]{source}, 'acme', 'source acme');

my $renewed = not_before() - $born;
cmp_ok($renewed, '>=', 7, "renewed $renewed s after the first was issued, "
                          . 'at two thirds of its lifetime');
cmp_ok($renewed, '<', 12, 'before it expired');

# the CA goes away: the current certificate stays

$pebble->stop;

ok($t->wait_log(qr/\[error\].*certmate acme "r\.example\.com" failed: .* attempt 2,/, 20),
   'renewal fails while the CA is away, and is tried again');
is(served(), $second, 'the current certificate is still served');

($status, $json) = $t->admin('GET', '/v1/acme/orders');
is($json->{items}[0]{status}, 'failed', 'orders: failed');
cmp_ok($json->{items}[0]{failures}, '>=', 2, 'orders: failures counted');

# the CA comes back, knowing nothing of our account

$pebble->start;

ok(issued(3, 30), 'renewed after the CA came back');
isnt(served(), $second, 'and served');

my @accounts = $t->read_log =~ /certmate acme has the account/g;
is(scalar @accounts, 2, 'a new account with the new CA');

($status, $json) = $t->admin('GET', '/v1/acme/orders');
is($json->{items}[0]{failures}, 0, 'orders: failures cleared');
is($json->{items}[0]{last_error}, undef, 'orders: error cleared');

$t->stop;

done_testing;


sub issued {
    my ($n, $timeout) = @_;

    return $t->wait_for(sub {
        my @got = $t->read_log =~ /certmate acme "r\.example\.com" got certificate/g;
        @got >= $n;
    }, $timeout);
}

sub not_before {
    my ($status, $json) = $t->admin('GET', '/v1/certificates?source=acme');
    return Time::Piece->strptime($json->{items}[0]{not_before},
                                 '%Y-%m-%dT%H:%M:%SZ')->epoch;
}

sub served {
    return $t->handshake('r.example.com')->{fingerprint};
}
