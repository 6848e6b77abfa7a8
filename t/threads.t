#!/usr/bin/perl

# Admin writes off the event loop.  While another process holds the
# store's write lock (mdb_load in the middle of a load), an import waits
# for it in a thread of the pool, and the worker that took the import
# goes on answering handshakes and admin reads; the import is answered
# once the lock is free; a client that leaves while its import waits
# breaks nothing, and its certificate is stored all the same.  A
# worker that a reload retires answers the import that waits before it
# exits.  An import into a map that another process grew, which a
# thread may not adopt, is made on the event loop.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Test::More;
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new(workers => 1);

plan(skip_all => 'mdb_load is not installed (lmdb-utils)')
    if system('command -v mdb_load >/dev/null 2>&1');

plan(skip_all => 'nginx is built without threads')
    unless $t->run_nginx('-V') =~ /--with-threads/;

my $dir = $t->dir;

system('cc', '-O2', '-Wall', '-Werror', '-o', "$dir/store-tool",
       "$Certmate::Test::TOP/t/tools/store-tool.c", '-llmdb') == 0
    or BAIL_OUT('cannot build t/tools/store-tool.c');

$t->conf(<<'EOF')->run;
http {
    access_log off;

    certmate_store %%DIR%%/store max_size=1m;
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

my $live = $t->cert('live', names => ['live.example.com']);
my $late = $t->cert('late', names => ['late.example.com']);
my $gone = $t->cert('gone', names => ['gone.example.com']);

my ($status, $json) = $t->import_cert($live);
is($status, 201, 'a certificate imported');
my $id = $json->{id};


# another process holds the store's write lock

my ($loader, $to) = lock_store();
ok($loader, 'mdb_load holds the write lock');

my $waiting = import_request($late);
my $leaving = import_request($gone);

ok(!IO::Select->new($waiting)->can_read(1),
   'the import waits for the write lock');

close $leaving;

my $served = 0;

for (1 .. 20) {
    $served++ if ($t->served_fingerprint('live.example.com') // '') eq $live->{fingerprint};
}

is($served, 20, 'the worker answers every handshake meanwhile');

($status) = $t->admin('GET', "/v1/certificates/$id", curl => ['-m', '10']);
is($status, 200, 'and admin reads');

ok(!IO::Select->new($waiting)->can_read(0),
   'the import still waits');

is(unlock_store($loader, $to), 0, 'mdb_load done, the lock free');

ok(IO::Select->new($waiting)->can_read(10), 'the import is answered');
my $reply = join '', <$waiting>;
like($reply, qr{^HTTP/1\.1 201 }, 'with 201');

ok($t->wait_for(sub {
    ($t->served_fingerprint('late.example.com') // '') eq $late->{fingerprint};
}, 5), 'its certificate is served');

ok($t->wait_for(sub {
    ($t->served_fingerprint('gone.example.com') // '') eq $gone->{fingerprint};
}, 5), 'and the one whose client left');

like($t->read_log, qr/certmate imported certificate \w+ for "gone\.example\.com"/,
     'which the log tells');



# a reload while an import waits: the old worker answers it, then exits

($loader, $to) = lock_store();
ok($loader, 'the write lock held again');

my $again = $t->cert('again', names => ['again.example.com']);
$waiting = import_request($again);
ok(!IO::Select->new($waiting)->can_read(1), 'an import waits');

# (the new worker waits for the lock too, to open the store)

my ($old) = $t->children('worker process');
$t->nginx('-s', 'reload');
ok($t->wait_log(qr/\[notice\] $old#$old: gracefully shutting down/, 10),
   'a reload retires the worker');

is(unlock_store($loader, $to), 0, 'the lock free');
ok(IO::Select->new($waiting)->can_read(10), 'the import is answered');
$reply = join '', <$waiting>;
like($reply, qr{^HTTP/1\.1 201 }, 'with 201');
ok($t->wait_for(sub { !kill 0, $old }, 10), 'and the old worker exits');
ok($t->wait_for(sub {
    grep { $_ != $old } $t->children('worker process');
}, 10), 'the new one runs');
$t->wait_ports;


# the map grown past this one's by another process: the import's write
# in a thread gives way, and the event loop adopts the map and writes

is(system("$dir/store-tool", 'grow', "$dir/store", 8 << 20, 2 << 20), 0,
   'another process grew the map');

my $grown = $t->cert('grown', names => ['grown.example.com']);
is(($t->import_cert($grown))[0], 201, 'an import in the grown map');
like($t->read_log, qr/\[notice\].*was grown by another process, adopting/,
     'the map adopted');
is($t->served_fingerprint('grown.example.com'), $grown->{fingerprint},
   'and the certificate served');

$t->stop;

done_testing;


# mdb_load reads the header, begins its write transaction, then waits
# for records on its standard input: the store's write lock is held
# until the input ends; (pid, the pipe to its input), once it waits

sub lock_store {
    pipe(my $from, my $to) or die "pipe: $!";
    syswrite($to, "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n");

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        close $to;
        POSIX::dup2(fileno($from), 0) or POSIX::_exit(126);
        exec 'mdb_load', "$dir/store" or POSIX::_exit(127);
    }

    close $from;

    $t->wait_for(sub {
        (slurp("/proc/$pid/wchan") // '') =~ /pipe/;
    }, 10) or return;

    return ($pid, $to);
}


# the end of mdb_load's input: it commits nothing and exits; its status

sub unlock_store {
    my ($pid, $to) = @_;

    syswrite($to, "DATA=END\n");
    close $to;
    waitpid $pid, 0;

    return $?;
}


# a POST /v1/certificates sent on a connection of its own, not read

sub import_request {
    my ($cert) = @_;

    my $body = encode_json({
        certificate => $cert->{pem},
        private_key => scalar slurp($cert->{key}),
    });

    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1:' . $t->port('admin'),
        Timeout => 5,
    ) or die "connect: $!";

    print $s "POST /certmate/v1/certificates HTTP/1.1\r\n"
             . "Host: localhost\r\n"
             . "Authorization: Bearer secret\r\n"
             . "Content-Type: application/json\r\n"
             . "Content-Length: " . length($body) . "\r\n"
             . "Connection: close\r\n\r\n" . $body;

    return $s;
}

