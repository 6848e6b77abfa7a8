#!/usr/bin/perl

# The store: files and owners, restarts, a full map, a map grown by
# another process, a schema from a newer release, a full reader table,
# stale reader slots cleared by the helper, master_process off.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Certmate::Test qw(slurp spew);

my $t = Certmate::Test->new;
my $dir = $t->dir;
my $store = "$dir/store";

system('cc', '-O2', '-Wall', '-Werror', '-o', "$dir/store-tool",
       "$Certmate::Test::TOP/t/tools/store-tool.c", '-llmdb') == 0
    or BAIL_OUT('cannot build t/tools/store-tool.c');

spew("$dir/est.htpasswd", "alice:{PLAIN}wonderland\n");

my $conf = <<'EOF';
http {
    access_log off;

    certmate_store %%DIR%%/store max_size=64k;
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

$t->conf($conf)->run;

my $a = $t->cert('a', names => ['a.example.com']);
is(($t->import_cert($a))[0], 201, 'imported');

# files: created by nginx for the worker user, private

my $uid = $> == 0 ? getpwnam('nobody') : $>;

my @st = stat $store;
is($st[2] & 07777, 0700, 'store directory is 0700');
is($st[4], $uid, 'store directory belongs to the worker user');

for my $file ('data.mdb', 'lock.mdb') {
    @st = stat "$store/$file";
    is($st[2] & 07777, 0600, "$file is 0600");
    is($st[4], $uid, "$file belongs to the worker user");
}

like($t->read_log, qr/\[notice\].*certmate store "\Q$store\E" created, schema 1/,
     'creation logged');

# a restart serves what was stored

$t->stop;
$t->run;

is($t->handshake('a.example.com')->{fingerprint}, $a->{fingerprint},
   'served after a restart');

# a full store refuses writes and keeps serving

$t->expect_log(qr/certmate store "\Q$store\E" is full \(max_size=65536\), write refused/);

my ($status, $json);
my $n = 0;

while ($n < 200) {
    my $c = $t->cert("fill$n", names => ["fill$n.example.com"]);
    ($status, $json) = $t->import_cert($c);
    last if $status != 201;
    $n++;
}

is($status, 507, "store full after $n imports: 507");
is($json->{error}, 'store_full', 'store full: JSON');
like($json->{message}, qr/max_size/, 'store full: message names max_size');
like($t->read_log, qr/\[alert\].*is full/, 'store full: alert');

my $body;
($status, $body) = $t->est_enroll('est.example.com');
is($status, 507, 'store full: EST enrollment 507');
like($body, qr/^the store is full; raise "max_size" of "certmate_store"$/,
     'store full: EST enrollment, the reason');

is($t->handshake('a.example.com')->{fingerprint}, $a->{fingerprint},
   'store full: still serving');
($status, $json) = $t->admin('GET', '/v1/health');
is($status, 200, 'store full: health');
($status, $json) = $t->admin('GET', '/v1/certificates?limit=1000');
is(scalar @{$json->{items}}, $n + 1, 'store full: nothing lost');

# another process grows the map beyond this one's

is(system("$dir/store-tool", 'grow', $store, 4 << 20, 300000), 0,
   'another process grew the store');

is($t->handshake('a.example.com')->{fingerprint}, $a->{fingerprint},
   'served after the map grew');
ok($t->wait_log(qr/\[notice\].*was grown by another process, adopting its size/),
   'grown map adopted');

my $b = $t->cert('b', names => ['b.example.com']);
is(($t->import_cert($b))[0], 201, 'imports again in the grown map');
is($t->handshake('b.example.com')->{fingerprint}, $b->{fingerprint},
   'served from the grown map');

# a store written by a newer release is left alone

$t->stop;

is(system("$dir/store-tool", 'schema', $store, 99), 0, 'schema set to 99');

$t->expect_log(qr/certmate store "\Q$store\E" has schema 99, this module reads schema 1/);
$t->run;

is($t->handshake('a.example.com')->{alert}, 'internal error',
   'unknown schema: handshake refused');
($status, $json) = $t->admin('GET', '/v1/health');
is($status, 503, 'unknown schema: health 503');
is($json->{error}, 'store_unavailable', 'unknown schema: JSON');
($status) = $t->import_cert($b);
is($status, 503, 'unknown schema: import 503');

is(system("$dir/store-tool", 'schema', $store, 1), 0, 'schema set back');
sleep 1.1;
is($t->handshake('a.example.com')->{fingerprint}, $a->{fingerprint},
   'store opens once the schema is known');

# a full reader table: refused until the holder dies

$t->stop;
unlink "$store/lock.mdb";

my $tool = open my $readers, '-|', "$dir/store-tool", 'readers', $store, 4
    or die "store-tool: $!";
is(scalar <$readers>, "ready\n", 'another process holds every reader slot');
chown $uid, -1, "$store/lock.mdb";

$t->expect_log(qr/certmate store "\Q$store\E" has no free reader slot/);
$t->run;

is($t->handshake('a.example.com')->{alert}, 'internal error',
   'reader table full: handshake refused');
is(($t->admin('GET', '/v1/health'))[0], 503, 'reader table full: 503');
like($t->read_log, qr/\[alert\].*has no free reader slot/,
     'reader table full: alert');

kill 'KILL', $tool;
waitpid $tool, 0;

is($t->handshake('a.example.com')->{fingerprint}, $a->{fingerprint},
   'the slots of a dead process are taken over');
like($t->read_log, qr/\[notice\].*certmate store cleared 4 stale reader slots/,
     'stale slots cleared');

# stale slots of a killed worker are cleared by the helper

$t->expect_log(qr/exited on signal 9/);

my ($worker) = $t->children('worker process');
kill 'KILL', $worker;
ok($t->wait_for(sub { grep { $_ != $worker }
                      $t->children('worker process') }, 5),
   'worker respawned');

my ($helper) = $t->children('cache manager process');
ok($helper, 'helper process runs');
kill 'KILL', $helper;

ok($t->wait_log(qr/\[notice\].*certmate store cleared 1 stale reader slots/),
   'helper cleared the killed worker\'s slot');
ok(scalar $t->children('cache manager process'), 'helper respawned');

is($t->handshake('a.example.com')->{fingerprint}, $a->{fingerprint},
   'serving after the kills');

$t->stop;

# no helper without a master process

$t->conf("master_process off;\n$conf")->run;

ok($t->wait_log(qr/\[warn\].*certmate has no helper process with "master_process off"/),
   'master_process off: warned');
is($t->handshake('a.example.com')->{fingerprint}, $a->{fingerprint},
   'master_process off: serving');

$t->stop;

done_testing;
