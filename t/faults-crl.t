#!/usr/bin/perl

# The helper killed with SIGKILL again and again while it signs CRLs
# after batches of revocations, caught busy where it can be: after each
# respawn the CRL served parses and verifies, its number never goes
# back, and in the end it lists every serial revoked; the store and the
# audit chain are whole.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);
use Certmate::Test qw(slurp);

my $rounds = 10;
my $batch = 60;             # serials revoked before each kill

my $t = Certmate::Test->new;
my $dir = $t->dir;

$t->conf(<<'EOF')->run;
http {
    access_log off;

    certmate_store %%DIR%%/store;
    certmate_ca;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    server {
        listen 127.0.0.1:%%PORT_admin%%;
        location /certmate/ { certmate_admin; }
        location = /crl { certmate_crl; }
    }
}
EOF

my $url = 'http://127.0.0.1:' . $t->port('admin');
# a connection a request: HTTP::Tiny sends a body in a second segment,
# which Nagle and delayed ACKs would hold up on a kept connection

my $http = HTTP::Tiny->new(keep_alive => 0, timeout => 30,
                           default_headers =>
                               { Authorization => 'Bearer secret' });

my $ca;

ok($t->wait_for(sub {
    my $r = $http->get("$url/certmate/v1/ca");
    $ca = eval { decode_json($r->{content}) };
    $ca && $ca->{state} eq 'ready' && $ca->{crl};
}, 10), 'the CA is ready, with a CRL');

my $chain = $t->write_file('chain.pem', $ca->{chain});
my $first = $ca->{crl}{number};

# serials to revoke: the same CSR signed again and again

Certmate::Test::openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:P-256', '-nodes', '-keyout',
                        "$dir/dev.key", '-subj', '/CN=dev.faults.test',
                        '-out', "$dir/dev.csr");
my $sign = encode_json({ csr => scalar slurp("$dir/dev.csr"),
                         profile => 'client' });

my @serials;

for (1 .. $rounds * $batch) {
    my $r = $http->post("$url/certmate/v1/ca/sign", {
        headers => { 'Content-Type' => 'application/json' },
        content => $sign });
    die "sign: $r->{status} $r->{content}" unless $r->{status} == 201;
    push @serials, decode_json($r->{content})->{serial};
}

$t->expect_log(qr/cache manager process \d+ exited on signal 9/);

my (@numbers, %revoked);
my $busy = 0;

for my $round (1 .. $rounds) {
    for my $serial (splice @serials, 0, $batch) {
        my $r = $http->post("$url/certmate/v1/serials/$serial/revoke");
        die "revoke: $r->{status} $r->{content}" unless $r->{status} == 200;
        $revoked{$serial} = 1;
    }

    # the helper signs at its next tick: killed when seen running, or
    # at a random moment of the next 300 ms

    my ($helper) = $t->children('cache manager process');
    my $until = time + rand 0.3;

    while (time < $until) {
        my $stat = eval { slurp("/proc/$helper/stat") } // '';
        if ($stat =~ /^\d+ \(.*?\) [RD] /) {
            $busy++;
            last;
        }
    }

    kill 'KILL', $helper;

    ok($t->wait_for(sub {
        my ($new) = $t->children('cache manager process');
        $new && $new != $helper;
    }, 10), "round $round: the helper respawned") or last;

    my $crl = crl();
    ok($crl->{verified}, "round $round: the CRL served parses and verifies")
        or diag($crl->{text});
    push @numbers, $crl->{number};
}

my %signed;
$signed{$_}++ for $t->read_log =~ /certmate signed CRL number (\d+) with/g;

diag("$busy of $rounds kills found the helper running; "
     . grep({ $_ > 1 } values %signed) . ' CRLs signed again after a kill'
     . ' between signing and storing them');

is(scalar(grep { $numbers[$_] < $numbers[$_ - 1] } 1 .. $#numbers), 0,
   'the CRL number never went back: ' . join(' ', @numbers));

my $crl;

ok($t->wait_for(sub {
    $crl = crl();
    $crl->{verified} && !grep { !$crl->{serials}{$_} } keys %revoked;
}, 15), 'the CRL lists every serial revoked');

is(scalar keys %{$crl->{serials}}, scalar keys %revoked,
   'and no other serial');
ok($crl->{number} > $first, "its number grew from $first to $crl->{number}");

my $r = $http->get("$url/certmate/v1/ca");
is(decode_json($r->{content})->{crl}{number}, $crl->{number},
   'GET /v1/ca: the number of the CRL served');

my $out = Certmate::Test::run_cmd("$Certmate::Test::TOP/scripts/certmate",
                                  '--url', "$url/certmate", '--token',
                                  'secret', 'audit', '--check');
like($out, qr/^\d+ events, chain intact$/m, 'the audit chain is intact');

$t->stop;

SKIP: {
    skip 'mdb_stat is not installed (lmdb-utils)', 1
        if system('command -v mdb_stat >/dev/null 2>&1');

    $out = Certmate::Test::run_cmd('mdb_stat', '-a', "$dir/store");
    is($?, 0, 'mdb_stat reads every database of the store') or diag($out);
}

done_testing;


# the CRL served: {verified, number, serials => {HEX => 1}, text}

sub crl {
    my $r = $http->get("$url/crl");
    Certmate::Test::spew("$dir/crl.der", $r->{content});

    my $text = Certmate::Test::run_cmd('openssl', 'crl', '-inform', 'DER',
                                       '-in', "$dir/crl.der", '-CAfile',
                                       $chain, '-noout', '-text');
    my %serials = map { uc($_) => 1 } $text =~ /Serial Number: (\w+)/g;
    my ($number) = $text =~ /X509v3 CRL Number:\s+(\d+)/;

    return { verified => $r->{status} == 200 && $text =~ /verify OK/,
             number => $number // -1, serials => \%serials, text => $text };
}
