#!/usr/bin/perl

# certmate_notify: the helper posts expiry thresholds crossed, ACME
# failures and revocations to webhooks (a receiver started here), each
# event once and in order, retried when the receiver fails, nothing
# repeated after a restart; a webhook gets only its kinds of events;
# the configuration errors.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Certmate::Test qw(slurp spew);

my $t = Certmate::Test->new;
my $dir = $t->dir;

# --- the receiver: every body to a file of its path; fails while asked ---

my $hook_port = $t->port('hook');

my $receiver = fork() // die "fork: $!";

if ($receiver == 0) {
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $hook_port,
                                       Listen => 16, ReuseAddr => 1)
        or die "listen: $!";

    while (my $c = $listen->accept) {
        my ($head, $body) = ('', '');

        while (my $line = <$c>) {
            $head .= $line;
            last if $line eq "\r\n";
        }

        my ($path) = $head =~ m{^POST (/\w+) };
        my ($len) = $head =~ /^Content-Length: (\d+)/mi;
        read($c, $body, $len // 0);

        my $fails = -f "$dir/fail" ? slurp("$dir/fail") + 0 : 0;

        if ($fails > 0) {
            spew("$dir/fail", $fails - 1);
            print $c "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n"
                     . "Connection: close\r\n\r\n";

        } else {
            open my $fh, '>>', "$dir/received$path" or die;
            print $fh "$body\n" =~ s/\n+\z/\n/r;
            close $fh;
            print $c "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
        }

        close $c;
    }

    exit 0;
}

END { kill 'TERM', $receiver if $receiver; }

mkdir "$dir/received";

sub count {
    my @events = received(@_);
    return scalar @events;
}

sub received {
    my ($path) = @_;
    my $file = "$dir/received/$path";
    return () unless -f $file;
    return map { decode_json($_) } split /\n/, slurp($file);
}

# delivery is at least once: an event whose 2xx answer the helper has not
# seen yet when it exits is posted again by the next helper, so a test
# waits for the helper's word that it saw the answer before a reload or
# a stop

sub acknowledged {
    my ($path, $event) = @_;
    return $t->wait_log(qr/\[info\].*certmate notified "http:\/\/127\.0\.0\.1:$hook_port\/$path" of event $event->{seq}(?!\d)/, 10);
}

# --- certificates with little time left ------------------------------------

my $root = $t->ca('root');
my $soon = $t->cert('soon', names => ['soon.example.com'], issuer => $root,
                    days => 5);
my $later = $t->cert('later', names => ['later.example.com'],
                     issuer => $root, days => 20);
my $fine = $t->cert('fine', names => ['fine.example.com'], issuer => $root,
                    days => 60);

my $acme_port = $t->port('closed');

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_ca;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    certmate_notify webhook=http://127.0.0.1:$hook_port/all;
    certmate_notify webhook=http://127.0.0.1:$hook_port/revocations
                    events=revocation;

    certmate_acme_issuer down directory=http://127.0.0.1:$acme_port/dir
                         retry=30s timeout=1s;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        server_name acme.example.com;
        certmate_acme down;
    }
}
EOF

# the helper's first tick: the ACME failure posted, and the answer seen

ok($t->wait_for(sub { received('all') }, 10), 'the helper posts at its start');
ok(acknowledged('all', (received('all'))[0]), 'and sees the answer');

my %id;

for my $c (['soon', $soon], ['later', $later], ['fine', $fine]) {
    my ($s, $j) = $t->import_cert($c->[1]);
    is($s, 201, "$c->[0]: imported");
    $id{$c->[0]} = $j->{id};
}

# the helper scans at its start, and then every hour: a reload starts a
# new helper, which sees the imported certificates at once

$t->reload;

ok($t->wait_for(sub { grep({ $_->{type} eq 'certificate.expiring' }
                           received('all')) >= 2 }, 15),
   'the expiry thresholds crossed are posted');

my @expiring = grep { $_->{type} eq 'certificate.expiring' } received('all');
is_deeply([ sort map { $_->{object} } @expiring ],
          [ sort @id{qw(soon later)} ],
          'for the certificates within a threshold, not the other');

my ($e_soon) = grep { $_->{object} eq $id{soon} } @expiring;
like($e_soon->{detail}, qr/"soon\.example\.com" expires in [45] days, at \d+; threshold 7 days/,
     'the smallest threshold crossed, 7 days, with the name');
my ($e_later) = grep { $_->{object} eq $id{later} } @expiring;
like($e_later->{detail}, qr/threshold 30 days/, 'and 30 days');
is($e_soon->{actor}, 'helper', 'the actor: the helper');
like($t->read_log, qr/\[notice\].*certmate: certificate $id{soon}: "soon\.example\.com" expires in/,
     'logged at notice');

ok($t->wait_for(sub { grep { $_->{type} eq 'acme.failed' } received('all') },
                15), 'an ACME failure is posted');
like((grep { $_->{type} eq 'acme.failed' } received('all'))[0]{detail},
     qr/directory/, 'with the error');

# revocations reach both webhooks; a failing receiver gets them again

(undef, my $issued) = $t->admin('POST', '/v1/certificates/issue',
                                json => { names => ['r1.example.com'] });
my ($s) = $t->admin('POST', "/v1/certificates/$issued->{id}/revoke",
                    json => { reason => 'keyCompromise' });
is($s, 200, 'a revocation');

ok($t->wait_for(sub { count('revocations') >= 1 }, 10),
   'the revocation is posted to the webhook of revocations');
is_deeply([ map { $_->{type} } received('revocations') ],
          ['certificate.revoke'], 'which gets nothing else');
ok($t->wait_for(sub { grep { $_->{type} eq 'certificate.revoke' }
                           received('all') }, 10),
   'and to the other');

spew("$dir/fail", 2);

(undef, my $issued2) = $t->admin('POST', '/v1/certificates/issue',
                                 json => { names => ['r2.example.com'] });
($s) = $t->admin('POST', "/v1/serials/$issued2->{serial}/revoke");
is($s, 200, 'another revocation, while the receiver fails');

ok($t->wait_log(qr/\[error\].*certmate cannot notify "http:\/\/127\.0\.0\.1:$hook_port\/\w+" of event \d+: status 503; again in 1 s/, 10),
   'a failure is logged, and retried');
ok($t->wait_for(sub { count('revocations') >= 2 }, 15),
   'the revocation arrives after the failures');
is_deeply([ map { $_->{object} } received('revocations') ],
          [ $issued->{id}, $issued2->{serial} ],
          'each once, in order');

my @seqs = map { $_->{seq} } received('all');
is_deeply([ sort { $a <=> $b } @seqs ], \@seqs, 'in the order of the log');
my %seen;
ok(!grep({ $seen{$_}++ } @seqs), 'none twice');

# a restart repeats nothing (once nothing is on its way: an event whose
# answer the helper does not see is posted again)

my $last;
ok($t->wait_for(sub {
    ($last) = grep { $_->{object} eq $issued2->{serial} } received('all');
}, 15), 'the other webhook has it too');
ok(acknowledged('all', $last) && acknowledged('revocations', $last),
   'the helper saw both answers');

my @before = grep { $_->{type} ne 'acme.failed' } received('all');
my $revocations = count('revocations');

$t->stop;
$t->run;
sleep 3;

is(scalar(grep { $_->{type} ne 'acme.failed' } received('all')),
   scalar @before, 'a restart posts nothing again');
is(count('revocations'), $revocations,
   'a restart: nothing again to the webhook of revocations');
is(scalar(grep { $_->{type} eq 'certificate.expiring' } received('all')), 2,
   'a restart: no threshold told twice');

# a reload while the old helper cannot exit yet: the new one waits for it
# (before, the two posted the same events, out of order, when the old
# one was slow to exit)

my ($old_helper) = $t->children('cache manager');
kill 'STOP', $old_helper;
$t->reload;

ok($t->wait_log(qr/\[notice\].*certmate helper waits for the one before to exit/, 10),
   'after a reload, the new helper waits for the old one');

(undef, my $issued3) = $t->admin('POST', '/v1/certificates/issue',
                                 json => { names => ['r3.example.com'] });
($s) = $t->admin('POST', "/v1/serials/$issued3->{serial}/revoke");
is($s, 200, 'a revocation while the old helper is stopped');

sleep 2;
is(count('revocations'), $revocations, 'nothing is posted meanwhile');

kill 'CONT', $old_helper;
ok($t->wait_for(sub { !kill 0, $old_helper }, 10), 'the old helper exits');
ok($t->wait_for(sub { count('revocations') > $revocations }, 15),
   'the new one posts the revocation');
is((received('revocations'))[$revocations]{object}, $issued3->{serial},
   'in its order');

$t->stop;

# --- configuration ---------------------------------------------------------

for my $case (
    [ 'certmate_notify webhook=http://127.0.0.1:1/;',
      qr/"certmate_notify" in \S+:\d+ requires "certmate_store"/,
      'without a store' ],
    [ "certmate_store %%DIR%%/store;\ncertmate_notify events=expiry;",
      qr/"certmate_notify" needs "webhook=" in \S+:\d+/, 'without a webhook' ],
    [ "certmate_store %%DIR%%/store;\ncertmate_notify webhook=ftp://x/;",
      qr/"webhook=" needs an http or https URL, not "ftp:\/\/x\/" in \S+:\d+/,
      'an FTP URL' ],
    [ "certmate_store %%DIR%%/store;\n"
      . "certmate_notify webhook=http://x/ events=expiry,weather;",
      qr/invalid event "weather", expected "expiry", "renewal" or "revocation" in \S+:\d+/,
      'an unknown event' ],
    [ "certmate_store %%DIR%%/store;\n"
      . "certmate_notify webhook=http://x/ expiry=30d,12h;",
      qr/invalid threshold "12h" of "expiry=", expected whole days such as 30d in \S+:\d+/,
      'a threshold under a day' ],
    [ "certmate_store %%DIR%%/store;\ncertmate_notify webhook=http://x/ x=1;",
      qr/invalid parameter "x=1" in \S+:\d+/, 'an unknown parameter' ])
{
    my ($conf, $re, $name) = @$case;
    $t->conf("http {\n$conf\n}\n");
    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, "certmate_notify $name: nginx -t fails");
    ok($out =~ $re, "certmate_notify $name: message") or diag($out);
}

$t->conf("http {\ncertmate_store %%DIR%%/store;\n"
         . "certmate_notify webhook=https://hooks.example.com/certmate "
         . "events=expiry,renewal expiry=60d,1d;\n}\n");
my ($rc, $out) = $t->test_config;
is($rc, 0, 'a good certmate_notify') or diag($out);

done_testing();
