#!/usr/bin/perl

# Faults while serving: workers killed with SIGKILL in the middle of
# admin imports and issuances (the store opens, every acknowledged
# write is listed and served, none is half-written, the audit chain
# holds); 1,000 admin writes, 50 at a time, while a client makes
# handshakes (every write committed, no handshake failed); the store
# made read-only and then deleted under the running nginx (serving goes
# on, imports, issuances and EST enrollments are refused with 503, the
# reason is logged, no process crashes, and once the store is writable again
# the workers and the helper write to it).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Test::More;
use Certmate::Test qw(slurp spew);

my $t = Certmate::Test->new(workers => 2);
my $dir = $t->dir;
my $store = "$dir/store";
my $cli = "$Certmate::Test::TOP/scripts/certmate";

spew("$dir/est.htpasswd", "alice:{PLAIN}wonderland\n");

$t->conf(<<'EOF')->run;
http {
    access_log off;

    certmate_store %%DIR%%/store;
    certmate_ca;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        certmate_certificate on;
    }

    server {
        listen 127.0.0.1:%%PORT_admin%%;
        location /certmate/ { certmate_admin; }

        location /.well-known/est/ {
            certmate_est;
            certmate_est_auth basic %%DIR%%/est.htpasswd;
        }
    }
}
EOF

my $url = 'http://127.0.0.1:' . $t->port('admin') . '/certmate';

ok($t->wait_for(sub {
    my (undef, $j) = $t->admin('GET', '/v1/ca');
    $j && $j->{state} eq 'ready';
}, 10), 'the CA is ready');

$t->expect_log(qr/worker process \d+ exited on signal 9/);


# --- workers killed during admin writes ------------------------------------

my @imports = map { $t->cert("imp$_", names => ["imp$_.faults.test"]) }
              0 .. 39;

# jobs: [method, path, body, name], an import and three issuances in turn,
# so that the kills find both kinds in flight

my @jobs;

for my $k (0 .. $#imports) {
    push @jobs, [ 'POST', '/v1/certificates', {
                      certificate => $imports[$k]{pem},
                      private_key => scalar slurp($imports[$k]{key}) },
                  "imp$k.faults.test", $imports[$k] ];
    push @jobs, map { [ 'POST', '/v1/certificates/issue',
                        { names => ["iss$_.faults.test"] },
                        "iss$_.faults.test" ] } 3 * $k .. 3 * $k + 2;
}

my $done = writes(\@jobs, 10, kill => [30, 70, 110]);

my @acked = grep { $done->[$_][0] =~ /^2/ } 0 .. $#jobs;
my @lost = grep { $done->[$_][0] !~ /^2/ } 0 .. $#jobs;

diag(scalar(@acked) . ' writes acknowledged, ' . scalar(@lost)
     . ' cut off by the kills');
ok(@acked >= 100, 'most writes acknowledged');
is(scalar(grep { $done->[$_][0] !~ /^(201|599)$/ } 0 .. $#jobs), 0,
   'every answer was 201, or none came');
my @killed = $t->read_log =~ /worker process \d+ exited on signal 9/g;
is(scalar @killed, 3, 'three workers killed');

$t->stop;

SKIP: {
    skip 'mdb_stat is not installed (lmdb-utils)', 1
        if system('command -v mdb_stat >/dev/null 2>&1');

    my $out = Certmate::Test::run_cmd('mdb_stat', '-a', $store);
    is($?, 0, 'mdb_stat reads every database of the store')
        or diag($out);
}

$t->run;

# what each acknowledged write made, and what the store has

my %sent = map { $jobs[$_][3] => $_ } 0 .. $#jobs;

my %listed = map { $_->{id} => $_ } list();

my @missing = grep { !$listed{$done->[$_][1]{id}} } @acked;
is(scalar @missing, 0, 'every acknowledged write is listed')
    or diag(join ', ', map { $jobs[$_][1] } @missing);

my @foreign = grep { @{$_->{names}} != 1 || !exists $sent{$_->{names}[0]} }
              values %listed;
is(scalar @foreign, 0, 'nothing listed that was not sent');
ok(keys %listed <= @jobs, scalar(keys %listed) . ' certificates listed');

my $http = HTTP::Tiny->new(default_headers =>
                               { Authorization => 'Bearer secret' });
my $bad = 0;

for my $id (sort keys %listed) {
    my $r = $http->get("$url/v1/certificates/$id");
    my $json = $r->{status} == 200 && eval { decode_json($r->{content}) };

    unless ($json && $json->{id} eq $id
            && "@{$json->{names}}" eq "@{$listed{$id}{names}}"
            && $json->{not_after})
    {
        diag("GET /v1/certificates/$id: $r->{status} $r->{content}")
            if $bad++ < 3;
    }
}

is($bad, 0, 'every listed certificate reads back whole');

my %served;
$bad = 0;

for my $id (sort keys %listed) {
    my $name = $listed{$id}{names}[0];
    my $fp = $t->served_fingerprint($name);

    if (!$fp || substr($fp, 0, 32) ne $id) {
        diag("$name: served " . ($fp // 'nothing') . ", stored $id")
            if $bad++ < 3;
    }

    $served{$name} = $fp;
}

is($bad, 0, 'every listed certificate is served for its name');

my @other = grep { $jobs[$_][4]
                   && $served{$jobs[$_][3]} ne $jobs[$_][4]{fingerprint} }
            @acked;
is(scalar @other, 0, 'every acknowledged import serves the certificate sent');

my $out = Certmate::Test::run_cmd($cli, '--url', $url, '--token', 'secret',
                                  'audit', '--check');
is($? >> 8, 0, 'audit --check: 0');
like($out, qr/^\d+ events, chain intact$/m, 'the audit chain is intact');

my ($status, $json) = $t->admin('GET', '/v1/audit?type=certificate&limit=1000');
is(scalar(grep { $_->{type} =~ /^certificate\.(import|issue)$/ }
          @{$json->{items}}),
   scalar(keys %listed), 'an audit event for each certificate stored');


# --- 1,000 writes, 50 at a time, while handshakes go on -------------------

my @names = sort keys %served;
my $stop = "$dir/stop";
my $shaker = fork // die "fork: $!";

if ($shaker == 0) {
    my ($n, $failed, $wrong) = (0, 0, 0);

    while ($n < 100 || !-e $stop) {
        my $name = $names[$n++ % @names];
        my $fp = $t->served_fingerprint($name);
        $failed++ unless $fp;
        $wrong++ if $fp && $fp ne $served{$name};
    }

    spew("$dir/shaker", "$n $failed $wrong\n");
    POSIX::_exit(0);
}

@jobs = map { [ 'POST', '/v1/certificates/issue',
                { names => ["bulk$_.faults.test"] } ] } 0 .. 999;

$done = writes(\@jobs, 50);

spew($stop, '');
waitpid $shaker, 0;

my @refused = grep { $done->[$_][0] != 201 } 0 .. $#jobs;
is(scalar @refused, 0, '1,000 concurrent writes: every one 201')
    or diag(join ', ', map { "$_: $done->[$_][0]" } @refused[0 .. 4]);

%listed = map { $_->{id} => 1 } list();
is(scalar(grep { !$listed{$_->[1]{id} // ''} } @$done), 0,
   '1,000 concurrent writes: every one listed');

my ($n, $failed, $wrong) = split ' ', slurp("$dir/shaker");
cmp_ok($n, '>=', 100, "$n handshakes during the writes");
is($failed, 0, 'no handshake failed during the writes');
is($wrong, 0, 'every handshake got its name\'s certificate');


# --- the store read-only --------------------------------------------------

is(($t->est_enroll('est.faults.test'))[0], 200,
   'writable: an EST enrollment 200');

my $spare = $t->cert('spare', names => ['spare.faults.test']);
my $fresh = 'bulk999.faults.test';

SKIP: {
    skip 'chattr +i does not work in ' . $dir, 17
        if system('chattr', '+i', "$store/data.mdb", $store);

    # the helper, stapling the certificates issued above, may be caught
    # in the middle of a commit: LMDB then gives up its environment, and
    # the store cannot be opened again until it is writable

    $t->expect_log(qr/mdb_txn_commit\(\) failed \(1: Operation not/);
    $t->expect_log(qr/certmate store "\Q$store\E" had a fatal error/);
    $t->expect_log(qr/mdb_env_open\("\Q$store\E"\) failed \(1: Operation/);

    my $crl = ca_crl();

    is($t->served_fingerprint($names[0]), $served{$names[0]},
       'read-only: a cached certificate is served');
    ok($t->served_fingerprint($fresh), 'read-only: one not cached yet is served');

    ($status, $json) = $t->import_cert($spare);
    is($status, 503, 'read-only: import 503');
    is($json->{error}, 'store_unavailable', 'read-only: store_unavailable');
    like($json->{message}, qr/error log/, 'read-only: the message');

    ($status, $json) = $t->admin('POST', '/v1/certificates/issue',
                                 json => { names => ['ro.faults.test'] });
    is($status, 503, 'read-only: issue 503');
    is($json->{error}, 'store_unavailable', 'read-only: store_unavailable');

    my ($code, $body) = $t->est_enroll('ro-est.faults.test');
    is($code, 503, 'read-only: EST enrollment 503');
    like($body, qr/^the certificate store failed; the error log says why$/,
         'read-only: EST enrollment, the reason');

    like($t->read_log,
         qr/\[crit\].*mdb_txn_commit\(\) failed \(1: Operation not permitted\)/,
         'read-only: the failed commit logged');

    ($status) = $t->admin('GET', '/v1/certificates?limit=1');
    is($status, 200, 'read-only: reading the API goes on');

    system('chattr', '-i', "$store/data.mdb", $store) == 0
        or BAIL_OUT("chattr -i $store failed");

    ($status) = $t->import_cert($spare);
    is($status, 201, 'writable again: import 201');
    is($t->served_fingerprint('spare.faults.test'), $spare->{fingerprint},
       'writable again: served');

    ($status) = $t->admin('POST', "/v1/certificates/$done->[0][1]{id}/revoke");
    is($status, 200, 'writable again: revoke 200');
    ok($t->wait_for(sub { ca_crl() > $crl }, 10),
       'writable again: the helper signs and stores a new CRL');
    unlike($t->read_log, qr/MDB_PANIC/,
           'read-only: no process was left with a dead store');
    is(scalar(@killed = $t->read_log =~ /exited on signal/g), 3,
       'read-only: no process crashed');
}


# --- the store deleted ----------------------------------------------------

my $other = $t->cert('other', names => ['other.faults.test']);

$t->expect_log(qr/certmate store "\Q$store\E" was removed, write refused/);

system('rm', '-rf', $store) == 0 or die "rm -rf $store failed";

is($t->served_fingerprint($names[0]), $served{$names[0]},
   'deleted: a cached certificate is served');
ok($t->served_fingerprint('bulk998.faults.test'), 'deleted: one not cached yet too');

($status, $json) = $t->import_cert($other);
is($status, 503, 'deleted: import 503');
is($json->{error}, 'store_unavailable', 'deleted: store_unavailable');

($status, $json) = $t->admin('POST', '/v1/certificates/issue',
                              json => { names => ['gone.faults.test'] });
is($status, 503, 'deleted: issue 503');
is($json->{error}, 'store_unavailable', 'deleted: issue store_unavailable');

my ($code, $body) = $t->est_enroll('gone-est.faults.test');
is($code, 503, 'deleted: EST enrollment 503');
like($body, qr/store failed/, 'deleted: EST enrollment, the reason');

like($t->read_log,
     qr/\[alert\].*certmate store "\Q$store\E" was removed, write refused/,
     'deleted: logged');

is($t->served_fingerprint($names[1]), $served{$names[1]}, 'deleted: still serving');
is(scalar(@killed = $t->read_log =~ /exited on signal/g), 3,
   'deleted: no process crashed');

$t->stop;

done_testing;


# runs the jobs [method, path, body] from $parallel processes, each with
# a client of its own, a connection a request (HTTP::Tiny sends a body
# in a second segment, which Nagle and delayed ACKs would hold up on a
# kept connection); kill => [n, ...] kills a worker busy with writes when
# n answers have been logged; returns [status, {id}] of each

sub writes {
    my ($jobs, $parallel, %opts) = @_;

    my @pids;

    for my $k (0 .. $parallel - 1) {
        my $pid = fork // die "fork: $!";

        if ($pid == 0) {
            my $ua = HTTP::Tiny->new(keep_alive => 0, timeout => 30);
            my @lines;

            for (my $i = $k; $i < @$jobs; $i += $parallel) {
                my ($method, $path, $body) = @{$jobs->[$i]};
                my $r = $ua->request($method, "$url$path", {
                    headers => { Authorization => 'Bearer secret',
                                 'Content-Type' => 'application/json' },
                    content => encode_json($body),
                });
                my $id = eval { decode_json($r->{content})->{id} } // '-';
                push @lines, "$i $r->{status} $id";
            }

            spew("$dir/writes$k", join("\n", @lines) . "\n");
            POSIX::_exit(0);
        }

        push @pids, $pid;
    }

    my $written = qr/\[notice\] (\d+)#\d+: \*\d+ certmate (?:imported|issued) /;
    my $base = () = $t->read_log =~ /$written/g;

    for my $at (@{$opts{kill} || []}) {
        my $pid;

        $t->wait_for(sub {
            my @pids = $t->read_log =~ /$written/g;
            $pid = $pids[-1] if @pids >= $base + $at;
            $pid;
        }, 30) or die "no $at writes logged\n";

        kill 'KILL', $pid;

        $t->wait_for(sub { !kill 0, $pid }, 5);
        $t->wait_for(sub { $t->children('worker process') == 2 }, 5)
            or die "no worker respawned\n";
    }

    waitpid $_, 0 for @pids;

    my @done;

    for my $k (0 .. $parallel - 1) {
        for my $line (split /\n/, slurp("$dir/writes$k")) {
            my ($i, $status, $id) = split ' ', $line;
            $done[$i] = [ $status, { id => $id } ];
        }
    }

    return \@done;
}


# the number of the CA's CRL in the store

sub ca_crl {
    my (undef, $json) = $t->admin('GET', '/v1/ca');
    return $json->{crl}{number};
}


# every certificate the admin API lists, page by page

sub list {
    my ($cursor, @items) = ('');

    for ( ;; ) {
        my ($status, $json) = $t->admin('GET',
            "/v1/certificates?limit=1000$cursor");
        die "GET /v1/certificates: $status" unless $status == 200;

        push @items, @{$json->{items}};
        last unless $json->{next_cursor};
        $cursor = "&cursor=$json->{next_cursor}";
    }

    return @items;
}

