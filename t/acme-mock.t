#!/usr/bin/perl

# ACME against t/tools/mock-acme.pl, for what pebble does not do:
# renewal information (RFC 9773) with "replaces" and reused
# authorizations; 429 and 503 with Retry-After, orders "processing"
# with Retry-After, and bad nonces.  The mock logs every request, and
# the tests read what the client did from that log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use Test::More;
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;

my $ari = mock('ari', '--reuse-authz', '--ari-start-in', 2,
               '--ari-end-in', 3, '--ari-retry-after', 3600);
my $limits = mock('limits', '--new-order-429', 2, '--new-order-503', 1,
                  '--processing', 2, '--bad-nonce-first', 2,
                  '--retry-after', 2, '--no-ari');

my $ari_url = "http://127.0.0.1:$ari->{port}/directory";
my $limits_url = "http://127.0.0.1:$limits->{port}/directory";

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_acme_issuer ari directory=$ari_url retry=1s;
    certmate_acme_issuer limits directory=$limits_url retry=1s;

    server {
        listen 127.0.0.1:%%PORT_http%%;
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name ari.example.com;
        certmate_acme ari;
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name limits.example.com;
        certmate_acme limits;
    }
}
EOF

# renewal information: renewed in the window, replacing the first one

ok(got('ari.example.com', 1, 10), 'ARI: first certificate');
my $first = $t->handshake('ari.example.com')->{fingerprint};
my $first_id = cert_id('ari.example.com');

ok(got('ari.example.com', 2, 15), 'ARI: renewed in the suggested window');
isnt($t->handshake('ari.example.com')->{fingerprint}, $first,
     'ARI: the renewal is served');

my @log = requests($ari);
my @ari = grep { $_->{path} =~ m{^/renewal-info/} } @log;
ok(@ari, 'ARI: renewal information asked for');
is($ari[0]{path}, "/renewal-info/$first_id",
   'ARI: asked with the certificate id of RFC 9773');

my @orders = grep { $_->{path} eq '/new-order' } @log;
ok(!exists $orders[0]{payload}{replaces}, 'ARI: the first order replaces none');
is($orders[1]{payload}{replaces}, $first_id,
   'ARI: the renewal order says which certificate it replaces');

my @challenges = grep { $_->{path} =~ m{^/chall/} } @log;
is(scalar @challenges, 1,
   'ARI: the authorization still valid is not challenged again');

my $window = $ari[0]{time} + 2;
my ($renewal) = grep { $_->{time} > $ari[0]{time} } @orders;
cmp_ok($renewal->{time}, '>=', $window - 1,
       'ARI: not renewed before the window');

# rate limits, unavailability, processing, bad nonces

ok(got('limits.example.com', 1, 40), 'limits: certificate in the end');

@log = requests($limits);
@orders = grep { $_->{path} eq '/new-order' } @log;
is_deeply([ map { $_->{status} } @orders ], [429, 429, 503, 201],
          'limits: 429, 429, 503, then the order');

for my $i (1 .. 3) {
    cmp_ok($orders[$i]{time} - $orders[$i - 1]{time}, '>=', 1.9,
           "limits: order $i came after the Retry-After of 2 s");
}

like($t->read_log, qr/\[error\].*certmate acme "limits\.example\.com" failed: order: 429 rateLimited: /,
     'limits: the rate limit logged with the problem document');
like($t->read_log, qr/\[error\].*certmate acme "limits\.example\.com" failed: order: 503 serverInternal/,
     'limits: the 503 logged');

my @polls = grep { $_->{path} =~ m{^/order/} && $_->{method} eq 'POST' } @log;
ok(@polls >= 3, 'limits: the processing order polled');

my ($finalized) = grep { $_->{path} =~ m{^/finalize/} } @log;
my @after = grep { $_->{time} > $finalized->{time} } @polls;

for my $i (1 .. $#after) {
    cmp_ok($after[$i]{time} - $after[$i - 1]{time}, '>=', 1.9,
           "limits: poll $i after the Retry-After");
}

like($t->read_log, qr/certmate acme: bad nonce for \S+, retrying/,
     'limits: bad nonces retried');
my @bad = grep { $_->{status} == 400 } @log;
is(scalar @bad, 2, 'limits: the two bad nonces and no other 400');

ok($t->handshake('limits.example.com')->{fingerprint}, 'limits: served');

$t->stop;

kill 'TERM', $_->{pid} for $ari, $limits;
waitpid $_->{pid}, 0 for $ari, $limits;

done_testing;


sub mock {
    my ($name, @args) = @_;

    my $dir = $t->dir . "/mock-$name";
    mkdir $dir;

    my $port = $t->port("mock_$name");

    my $pid = open my $out, '-|', $^X, "$Certmate::Test::TOP/t/tools/mock-acme.pl",
                  '--port', $port, '--dir', $dir,
                  '--http-port', $t->port('http'), @args
        or die "mock-acme.pl: $!";

    my $ready = <$out>;
    die "mock-acme.pl did not start" unless ($ready // '') eq "ready\n";

    return { pid => $pid, dir => $dir, port => $port, out => $out };
}

sub requests {
    my ($mock) = @_;
    return map { decode_json($_) }
           split /\n/, slurp("$mock->{dir}/requests.jsonl");
}

sub got {
    my ($name, $n, $timeout) = @_;

    return $t->wait_for(sub {
        my @got = $t->read_log =~ /certmate acme "\Q$name\E" got certificate/g;
        @got >= $n;
    }, $timeout);
}

# RFC 9773 certificate id of the certificate served for a name

sub cert_id {
    my ($name) = @_;

    my $hs = $t->handshake($name);
    my $crt = "$hs->{output}" =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----)/s
        ? $t->write_file('ari.crt', "$1\n") : die 'no certificate';

    my $text = Certmate::Test::openssl('x509', '-in', $crt, '-noout',
                                       '-ext', 'authorityKeyIdentifier',
                                       '-serial');

    my ($aki) = $text =~ /(?:keyid:)?\s*((?:[0-9A-F]{2}:)+[0-9A-F]{2})/;
    my ($serial) = $text =~ /serial=([0-9A-F]+)/;

    $aki =~ s/://g;
    $serial = "0$serial" if length($serial) % 2;
    $serial = "00$serial" if hex(substr($serial, 0, 2)) >= 0x80;

    return encode_base64url(pack('H*', $aki)) . '.'
           . encode_base64url(pack('H*', $serial));
}
