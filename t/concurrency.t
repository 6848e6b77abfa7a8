#!/usr/bin/perl

# Handshakes from several concurrent clients while the certificate of
# their name is replaced 100 times: no handshake fails, and each one got
# a certificate that was the current one at some instant of it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::SSL;
use POSIX ();
use Test::More;
use Time::HiRes qw(time);
use Certmate::Test qw(slurp spew);

my $clients = 4;
my $minimum = 250;          # handshakes per client
my $replacements = 100;

my $t = Certmate::Test->new(workers => 2);

$t->conf(<<'EOF')->run;
http {
    access_log off;

    certmate_store %%DIR%%/store;
    certmate_certificate_cache 4;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        certmate_certificate on;
    }

    server {
        listen 127.0.0.1:%%PORT_admin%%;
        location /certmate/ { certmate_admin; }
    }
}
EOF

my @certs = map { $t->cert("live$_", names => ['live.example.com']) }
            0 .. $replacements;
my %index = map { $certs[$_]{fingerprint} => $_ } 0 .. $#certs;

is(($t->import_cert($certs[0]))[0], 201, 'first certificate imported');

my $dir = $t->dir;
my $port = $t->port('https');
my $stop = "$dir/stop";
my @pids;

for my $client (1 .. $clients) {
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        my @lines;

        for (my $n = 0; $n < $minimum || !-e $stop; $n++) {
            my $start = time;
            my $ssl = IO::Socket::SSL->new(
                PeerAddr => "127.0.0.1:$port",
                SSL_hostname => 'live.example.com',
                SSL_verify_mode => SSL_VERIFY_NONE,
                SSL_session_cache_size => 0,
            );
            my $end = time;

            if ($ssl) {
                (my $fp = $ssl->get_fingerprint('sha256')) =~ s/^sha256\$//;
                $fp =~ s/://g;
                push @lines, sprintf("%.6f %.6f %s", $start, $end, lc $fp);
                $ssl->close(SSL_no_shutdown => 1);

            } else {
                push @lines, sprintf("%.6f %.6f FAIL %s", $start, $end,
                                     $SSL_ERROR);
            }
        }

        spew("$dir/client$client", join("\n", @lines) . "\n");
        POSIX::_exit(0);
    }

    push @pids, $pid;
}

# replacements: cert $k became current within [$sent[$k], $done[$k]]

my (@sent, @done);
$sent[0] = $done[0] = 0;

for my $k (1 .. $replacements) {
    $sent[$k] = time;
    my ($status) = $t->import_cert($certs[$k]);
    $done[$k] = time;
    is($status, 201, "replacement $k") unless $status == 201;
}

$sent[$replacements + 1] = $done[$replacements + 1] = 9**9**9;

spew($stop, '');
waitpid $_, 0 for @pids;

my ($total, $failed, $stale, %seen) = (0, 0, 0);

for my $client (1 .. $clients) {
    for my $line (split /\n/, slurp("$dir/client$client")) {
        my ($start, $end, $fp, $why) = split / /, $line, 4;
        $total++;

        if ($fp eq 'FAIL') {
            $failed++;
            diag("handshake failed: $why") if $failed < 5;
            next;
        }

        my $k = $index{$fp};

        if (!defined $k) {
            $stale++;
            diag("unknown certificate $fp");
            next;
        }

        $seen{$k}++;

        # current at some instant of [start, end]: it could have become
        # current before the end, and was not replaced before the start

        if ($end < $sent[$k] || $start > $done[$k + 1]) {
            $stale++;
            diag(sprintf "certificate %d at [%.3f, %.3f], current from "
                 . "[%.3f, %.3f] to [%.3f, %.3f]", $k, $start, $end,
                 $sent[$k], $done[$k], $sent[$k + 1], $done[$k + 1]);
        }
    }
}

cmp_ok($total, '>=', $clients * $minimum, "$total handshakes");
is($failed, 0, 'no handshake failed');
is($stale, 0, 'every handshake got a certificate current at the time');
cmp_ok(scalar keys %seen, '>=', 20,
       scalar(keys %seen) . ' different certificates seen');

$t->stop;

done_testing;
