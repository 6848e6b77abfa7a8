#!/usr/bin/perl

# conf-examples/ are real: "nginx -t" passes on each, and the quickstart
# of README.md works as it says.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use Test::More;
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;
my $top = $Certmate::Test::TOP;
my $dir = $t->dir;

mkdir "$dir/modules";
symlink $Certmate::Test::MODULE, "$dir/modules/ngx_certmate_module.so"
    or die "symlink: $!";

my @examples = glob "$top/conf-examples/*.conf";
ok(scalar @examples, 'there are examples');

for my $conf (@examples) {
    my $out = $t->run_nginx('-t', '-p', "$dir/", '-c', $conf);
    is($?, 0, "nginx -t $conf") or diag($out);
}

# scripts/run.sh: the first command of README.md

SKIP: {
    for my $port (8080, 8443) {
        skip "port $port is in use", 6
            if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
    }

    my $var = "$dir/var";
    my $pid = open my $run, '-|' // die "fork: $!";

    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        $ENV{CERTMATE_VAR} = $var;
        exec "$top/scripts/run.sh" or die "exec: $!";
    }

    my $token;
    while (my $line = <$run>) {
        last if ($token) = $line =~ /admin token:\s+(\w+)/;
    }

    ok($token, 'run.sh prints the token');

    my $up = $t->wait_for(sub {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1:8443') ? 1 : 0
    }, 20);
    ok($up, 'nginx listens on 8443');

    my $body = Certmate::Test::run_cmd('curl', '-s', '-w', ' %{http_code}',
        '-H', "Authorization: Bearer $token",
        '-H', 'Content-Type: application/json',
        '--data-binary', "\@$var/demo.json",
        'http://127.0.0.1:8080/certmate/v1/certificates');
    like($body, qr/"names":\["demo\.localhost"\].* 201$/s, 'demo imported');

    my ($id) = $body =~ /"id":"(\w+)"/;

    is(Certmate::Test::run_cmd('curl', '-sk', '--resolve',
                               'demo.localhost:8443:127.0.0.1',
                               'https://demo.localhost:8443/'),
       "certificate $id for demo.localhost\n", 'demo certificate served');

    is(Certmate::Test::run_cmd('curl', '-s', '-o', '/dev/null', '-w',
                               '%{http_code}',
                               'http://127.0.0.1:8080/certmate/v1/health'),
       '401', 'admin API needs the token');

    my $hash = (split ' ', Certmate::Test::run_cmd('sh', '-c',
                "printf %s $token | sha256sum"))[0];
    like(slurp("$var/quickstart.conf"), qr/sha256:$hash;/,
         'the config has the hash of the token');

    kill 'QUIT', slurp("$var/nginx.pid") =~ /(\d+)/;
    waitpid $pid, 0;
}

done_testing;
