#!/usr/bin/perl

# certmate soak: one nginx under continuous handshakes (names from the
# store, more than its certificate cache holds), mTLS requests with
# client certificates of the built-in CA, imports that replace stored
# certificates, revocations of client certificates and the issuance of
# their successors, and ACME renewals against Debian's pebble, for an
# hour.  Every minute it writes the workers' and the helper's RSS, the
# store's size and what the clients saw.  At the end:
#   - the workers' RSS has not grown beyond the certificate cache's bound
#     since the first sample after the warm-up;
#   - no client saw an error that was not injected (a revoked client
#     certificate is refused: that one is), and the error log has no line
#     at [error] or above;
#   - the store is consistent: every certificate listed reads back, the
#     audit chain verifies (scripts/certmate audit --check), every name
#     is served the certificate the store has for it.
#
# Usage: bench/soak.pl (after scripts/build.sh; scripts/deps.sh bench)
#
# Environment (defaults in brackets):
#   DURATION     seconds [3600]
#   SAMPLE       seconds between samples [60]
#   WARMUP       seconds before the RSS baseline [300]
#   NAMES        names imported and served from the store [300]
#   CACHE        certmate_certificate_cache [100]
#   ACME_NAMES   names kept by certmate_acme [4]
#   VALIDITY     lifetime of pebble's certificates, seconds [120]
#   CLIENTS      client certificates in use at any time [8]
#   THREADS      threads of nginx's pool "default", where the writes run
#                [nginx's own default, 32]
#   CERTMATE_KEEP=1  keep the temporary directory

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use POSIX ();
use JSON::PP;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use IO::Socket::SSL;
use Certmate::Test qw(slurp spew);
use Certmate::Pebble;
use Test::More ();

my $duration = $ENV{DURATION} || 3600;
my $sample = $ENV{SAMPLE} || 60;
my $warmup = $ENV{WARMUP} // 300;
my $names = $ENV{NAMES} || 300;
my $cache = $ENV{CACHE} || 100;
my $acme_names = $ENV{ACME_NAMES} || 4;
my $validity = $ENV{VALIDITY} || 120;
my $clients = $ENV{CLIENTS} || 8;
my $pool = $ENV{THREADS} ? "thread_pool default threads=$ENV{THREADS};" : '';

$| = 1;

my $t = Certmate::Test->new;
my $dir = $t->dir;
my $pebble = Certmate::Pebble->new($t, validity => $validity)->start;
my $directory = $pebble->directory;
my $bundle = $pebble->ca_bundle;
my @acme = map { "acme$_.example.com" } 1 .. $acme_names;

$t->conf(<<"EOF")->run;
$pool
http {
    certmate_store %%DIR%%/store max_size=512m;
    certmate_certificate_cache $cache;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;
    certmate_ca;
    certmate_acme_issuer pebble directory=$directory ca_bundle=$bundle
                                retry=5s;
    access_log off;

    server {
        listen 127.0.0.1:%%PORT_admin%%;
        location /certmate/ { certmate_admin; }
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;
        server_name @acme;
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name @acme;
        certmate_acme pebble;
        certmate_certificate on;
    }

    server {
        listen 127.0.0.1:%%PORT_mtls%% ssl;
        server_name localhost;
        certmate_certificate on;
        certmate_verify_client on;
        location / { return 200 "\$certmate_client_serial\\n"; }
    }
}
EOF

my $http = HTTP::Tiny->new(timeout => 30);
my $admin = 'http://127.0.0.1:' . $t->port('admin') . '/certmate';
my %auth = (Authorization => 'Bearer secret',
            'Content-Type' => 'application/json');

sub api {
    my ($method, $path, $body) = @_;

    my $r = $http->request($method, "$admin$path", {
        headers => \%auth,
        defined $body ? (content => encode_json($body)) : () });

    my $json = eval { decode_json($r->{content}) };
    return ($r->{status}, $json);
}

sub stamp { POSIX::strftime('%H:%M:%S', localtime) }

sub note { print stamp(), ' ', @_, "\n" }

# --- set-up: the names, the gateway's certificate, the clients' CSRs -----

note("importing $names names ($cache cached per worker)");

my $ca = $t->ca('soak');
my %current;                    # name -> id of its stored certificate

sub import_name {
    my ($i) = @_;

    my $name = "n$i.soak.example";
    my $cert = $t->cert("n$i", names => [$name], issuer => $ca);
    my ($status, $json) = api('POST', '/v1/certificates', {
        certificate => $cert->{pem},
        private_key => scalar slurp($cert->{key}) });

    return undef unless $status == 201 || $status == 200;

    my $old = $current{$name};
    $current{$name} = $json->{id};

    return ($old, $name);
}

for my $i (1 .. $names) {
    import_name($i) or die "import of n$i failed";
}

my ($status) = api('POST', '/v1/certificates/issue',
                   { names => ['localhost'], profile => 'server' });
die "gateway certificate: $status" unless $status == 201;

# a client certificate is in active/, then in revoking/ while its
# revocation is under way (either answer is right), then in revoked/

mkdir "$dir/$_" for qw(clients active revoking revoked);

my $serial_seq = 0;

sub new_client {
    my $n = ++$serial_seq;
    my $base = "$dir/clients/c$n";

    Certmate::Test::openssl('req', '-new',
        Certmate::Test::newkey('ec-p256'), '-nodes', '-keyout', "$base.key",
        '-subj', "/CN=client$n.soak", '-out', "$base.csr");

    my ($status, $json) = api('POST', '/v1/ca/sign',
        { csr => scalar slurp("$base.csr"), profile => 'client' });
    return undef unless $status == 201;

    spew("$base.crt", $json->{certificate});
    spew("$base.serial", $json->{serial});
    symlink("$base.crt", "$dir/active/c$n") or die "symlink: $!";

    return $n;
}

my @live = map { new_client() // die 'client certificate' } 1 .. $clients;

note('waiting for the first ACME certificates');

$t->wait_for(sub {
    my ($s, $j) = api('GET', '/v1/certificates?source=acme');
    return $s == 200 && @{$j->{items}} >= @acme;
}, 300) or die "no ACME certificates:\n" . $t->read_log;

# --- the load: each in a process of its own, counting in a file --------

my $deadline = time + $duration;
my @kids;

sub counts_file { "$dir/counts-$_[0]" }

sub spawn_load {
    my ($what, $code) = @_;

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        my %count;
        my $flushed = time;

        while (time < $deadline) {
            $code->(\%count);

            if (time - $flushed >= 5) {
                spew(counts_file($what), encode_json(\%count));
                $flushed = time;
            }
        }

        spew(counts_file($what), encode_json(\%count));
        POSIX::_exit(0);
    }

    push @kids, $pid;
}

my $https = $t->port('https');
my $mtls = $t->port('mtls');
my @served = ((map { "n$_.soak.example" } 1 .. $names), @acme);

for my $k (1 .. 2) {
    spawn_load("handshakes$k", sub {
        my ($count) = @_;
        my $name = $served[int rand @served];

        my $s = IO::Socket::SSL->new(PeerAddr => "127.0.0.1:$https",
                                     SSL_hostname => $name,
                                     SSL_verify_mode => SSL_VERIFY_NONE,
                                     Timeout => 10);
        if ($s && $s->peer_certificate('subject')) {
            $count->{ok}++;
        } else {
            $count->{failed}++;
            $count->{last_error} = "$name: $SSL_ERROR";
        }
    });
}

spawn_load('mtls', sub {
    my ($count) = @_;

    my @active = glob "$dir/active/c*";
    my @revoked = glob "$dir/revoked/c*";
    my $revoked = @revoked && rand() < 0.2;
    my $link = $revoked ? $revoked[int rand @revoked]
                        : $active[int rand @active];
    return sleep 0.1 unless $link;

    my ($n) = $link =~ /c(\d+)$/;
    my $base = "$dir/clients/c$n";

    my $s = IO::Socket::SSL->new(PeerAddr => "127.0.0.1:$mtls",
                                 SSL_hostname => 'localhost',
                                 SSL_verify_mode => SSL_VERIFY_NONE,
                                 SSL_cert_file => "$base.crt",
                                 SSL_key_file => "$base.key",
                                 Timeout => 10);
    unless ($s) {
        if (!-e "$dir/active/c$n") {
            $count->{revoked_refused}++;        # injected
        } else {
            $count->{mtls_connect_failed}++;
            $count->{last_error} = "c$n: $SSL_ERROR";
        }
        return;
    }

    # three requests on one connection
    for (1 .. 3) {
        print $s "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        my $head = '';
        while (defined(my $line = <$s>)) {
            $head .= $line;
            last if $line eq "\r\n";
        }
        my ($code) = $head =~ m{^HTTP/1\.1 (\d+)};
        my ($len) = $head =~ /^Content-Length: (\d+)/mi;
        read($s, my $body, $len // 0);
        last unless defined $code;

        if ($code == 200) {
            # a revoked one admitted: only if revoked since the glob
            $count->{$revoked ? 'revoked_admitted' : 'mtls_ok'}++;
        } elsif (!-e "$dir/active/c$n") {
            $count->{revoked_refused}++;        # injected
            last;
        } else {
            $count->{mtls_refused}++;
            $count->{last_error} = "c$n: status $code";
            last;
        }
    }
});

# the churn, in this process: an import a second, a revocation and a new
# client certificate every 10 s; and a sample every $sample s

my (%churn, @samples);
my $next_sample = time;
my $started = time;
my $imports = 0;
my $tick = 0;

# kB of a process's private memory (RssAnon: what a leak grows), and of
# the files it maps (RssFile: mostly the store's pages it has read)

sub rss {
    my ($pid, $kind) = @_;
    my ($kb) = (eval { slurp("/proc/$pid/status") } // '')
               =~ /Rss$kind:\s+(\d+)/;
    return $kb // 0;
}

sub take_sample {
    my @workers = $t->children('worker process');
    my ($helper) = $t->children('cache manager');
    my %seen;

    for my $f (glob "$dir/counts-*") {
        my $c = eval { decode_json(slurp($f)) } or next;
        $seen{$_} += $c->{$_} for grep { $_ ne 'last_error' } keys %$c;
    }

    my ($s, $health) = api('GET', '/v1/health');
    my %sample = (
        t => int(time - $started),
        workers => [map { rss($_, 'Anon') } @workers],
        workers_file => [map { rss($_, 'File') } @workers],
        helper => $helper ? rss($helper, 'Anon') : 0,
        store_used => $health->{store}{map_used} // 0,
        data_mdb => -s "$dir/store/data.mdb",
        %seen, %churn,
    );

    push @samples, \%sample;
    note(sprintf 't=%5ds workers %s kB (+%s kB of files), helper %d kB, '
                 . 'store %.1f MB used, '
                 . 'handshakes %d (%d failed), mtls %d ok (%d revoked '
                 . 'refused), imports %d, revocations %d',
         $sample{t}, join('/', @{$sample{workers}}),
         join('/', @{$sample{workers_file}}), $sample{helper},
         $sample{store_used} / 1048576, $seen{ok} // 0, $seen{failed} // 0,
         $seen{mtls_ok} // 0, $seen{revoked_refused} // 0,
         $churn{imports} // 0, $churn{revocations} // 0);
}

while (time < $deadline) {
    my $i = 1 + $imports++ % $names;
    my ($old, $name) = import_name($i);

    if (!defined $name) {
        $churn{import_failed}++;
    } else {
        $churn{imports}++;
        my ($s) = api('DELETE', "/v1/certificates/$old");
        $churn{$s == 200 || $s == 204 ? 'deletes' : 'delete_failed'}++;
    }

    if (++$tick % 10 == 0) {
        my $victim = shift @live;
        my $serial = slurp("$dir/clients/c$victim.serial");

        rename("$dir/active/c$victim", "$dir/revoking/c$victim");

        my ($s) = api('POST', "/v1/serials/$serial/revoke",
                      { reason => 'superseded' });

        if ($s == 200) {
            $churn{revocations}++;
            rename("$dir/revoking/c$victim", "$dir/revoked/c$victim");
        } else {
            $churn{revoke_failed}++;
            rename("$dir/revoking/c$victim", "$dir/active/c$victim");
            push @live, $victim;
        }

        my $n = new_client();
        if (defined $n) { push @live, $n } else { $churn{sign_failed}++ }
    }

    if (time >= $next_sample) {
        take_sample();
        $next_sample += $sample;
    }

    my $rest = $started + $tick - time;
    sleep $rest if $rest > 0;
}

waitpid $_, 0 for @kids;
take_sample();

# --- the verdict -------------------------------------------------------

my $fail = 0;

sub verdict {
    my ($ok, $what) = @_;
    note(($ok ? 'ok: ' : 'FAILED: ') . $what);
    $fail++ unless $ok;
}

my $last = $samples[-1];
my ($base) = grep { $_->{t} >= $warmup } @samples;
$base //= $samples[0];

# a cached certificate with its key: ~12 KB (README); the bound is the
# whole cache filling after the baseline, with half again for allocator
# slack
my $bound = int($cache * 12 * 1.5);

for my $w (0 .. $#{$last->{workers}}) {
    my $grew = $last->{workers}[$w] - ($base->{workers}[$w] // 0);
    my @all = map { $_->{workers}[$w] // 0 } @samples;
    my ($max) = sort { $b <=> $a } @all;
    verdict($grew <= $bound,
            sprintf('worker %d private RSS %d kB at t=%ds, %d kB at the end '
                    . '(+%d kB, bound %d kB; max %d kB)', $w,
                    $base->{workers}[$w] // 0, $base->{t},
                    $last->{workers}[$w], $grew, $bound, $max));
}

note(sprintf 'helper private RSS %d kB at t=%ds, %d kB at the end',
     $base->{helper}, $base->{t}, $last->{helper});
note(sprintf 'workers\' RSS of files (the store mapped) %s kB at t=%ds, '
     . '%s kB at the end', join('/', @{$base->{workers_file}}), $base->{t},
     join('/', @{$last->{workers_file}}));

my %seen;
for my $f (glob "$dir/counts-*") {
    my $c = decode_json(slurp($f));
    for (keys %$c) {
        if ($_ eq 'last_error') { note("$f: last error: $c->{$_}") }
        else { $seen{$_} += $c->{$_} }
    }
}

note(join ', ', map { "$_ $seen{$_}" } sort keys %seen);
note(join ', ', map { "$_ $churn{$_}" } sort keys %churn);

verdict(!$seen{failed},
        sprintf('%d handshakes, none failed', $seen{ok} // 0));
verdict(!$seen{mtls_refused} && !$seen{mtls_connect_failed}
        && !$seen{revoked_admitted},
        sprintf('%d mTLS requests admitted, %d with a revoked certificate '
                . 'refused (injected), none else refused',
                $seen{mtls_ok} // 0, $seen{revoked_refused} // 0));
verdict(!$churn{import_failed} && !$churn{delete_failed}
        && !$churn{revoke_failed} && !$churn{sign_failed},
        'every import, delete, revocation and signature succeeded');

my @bad = grep { /\[(error|crit|alert|emerg)\]/ } split /\n/, $t->read_log;
verdict(!@bad, scalar(@bad) . ' error log lines at [error] or above'
               . (@bad ? ":\n" . join("\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)])
                       : ''));

# the store: every certificate reads back, the audit chain, the names

my ($s, $list) = api('GET', '/v1/certificates?limit=1000');
my @items = @{$list->{items} || []};
my $cursor = $list->{next_cursor};

while ($cursor) {
    ($s, $list) = api('GET', "/v1/certificates?limit=1000&cursor=$cursor");
    push @items, @{$list->{items} || []};
    $cursor = $list->{next_cursor};
}

my $unreadable = grep { (api('GET', "/v1/certificates/$_->{id}"))[0] != 200 }
                 @items;
verdict(!$unreadable, scalar(@items) . " certificates listed, $unreadable "
                      . 'of them unreadable');

my $imported = grep { ($_->{source} // '') eq 'import' } @items;
verdict($imported == $names, "$imported imported certificates stored, one "
                             . "per name ($names)");

my $acme_stored = grep { ($_->{source} // '') eq 'acme' } @items;
verdict($acme_stored == @acme, "$acme_stored ACME certificates stored, one "
                               . 'per name (' . scalar(@acme) . ')');

my $check = Certmate::Test::run_cmd("$FindBin::Bin/../scripts/certmate",
    '--url', $admin, '--token', 'secret', 'audit', '--check');
verdict($? == 0, "audit chain: $check");

my $wrong = 0;
for my $name (map { "n$_.soak.example" } 1 .. $names) {
    my ($id) = map { $_->{id} } grep { $_->{names}[0] eq $name } @items;
    my $r = $t->handshake($name);
    my ($st, $j) = api('GET', "/v1/certificates/" . ($id // 'none'));
    $wrong++ unless $r->{fingerprint} && $j
                    && $r->{fingerprint} eq $j->{fingerprint_sha256};
}
verdict(!$wrong, "every name served its stored certificate ($wrong not)");

$t->stop;
$pebble->stop;
Test::More::done_testing();

note($fail ? "soak FAILED ($fail checks)" : 'soak passed');
exit($fail ? 1 : 0);
