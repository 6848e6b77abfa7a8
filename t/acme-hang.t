#!/usr/bin/perl

# A CA that accepts connections and never answers: the helper gives up
# after its "timeout=", says so, and tries again later; the workers
# never wait for it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time);
use Certmate::Test;

my $t = Certmate::Test->new;

# the silent CA: accepts, reads, never answers

my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                   Listen => 64, ReuseAddr => 1)
    or die "listen: $!";
my $port = $silent->sockport;

my $pid = fork // die "fork: $!";

if ($pid == 0) {
    my @held;
    while (my $c = $silent->accept) {
        push @held, $c;
    }
    POSIX::_exit(0);
}

close $silent;

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_acme_issuer silent directory=http://127.0.0.1:$port/dir
                                timeout=1s retry=1s;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        server_name h.example.com;
        location / { return 200 "up\\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name h.example.com;
        certmate_acme silent;
    }
}
EOF

# workers answer at once while the helper waits for the CA

my $slowest = 0;
my $url = 'http://127.0.0.1:' . $t->port('http') . '/';

for (1 .. 20) {
    my $start = time;
    my $body = Certmate::Test::run_cmd('curl', '-s', '-m', '5', $url);
    my $took = time - $start;
    $slowest = $took if $took > $slowest;
    last unless $body eq "up\n";
}

cmp_ok($slowest, '<', 0.5, sprintf('workers answer while the CA hangs '
                                  . '(slowest %.3f s)', $slowest));

ok($t->wait_log(qr/\[error\].*certmate acme "h\.example\.com" failed: directory: \S+ Timeout was reached; attempt 1/, 10),
   'the helper gives up after its timeout');
ok($t->wait_log(qr/certmate acme "h\.example\.com" failed: .*attempt 2,/, 10),
   'and tries again');

$t->stop;

kill 'KILL', $pid;
waitpid $pid, 0;

done_testing;
