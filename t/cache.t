#!/usr/bin/perl

# The per-worker cache of parsed certificates: the steady state parses
# nothing, a new version of a record is parsed once, and a full cache
# drops the least recently used entry.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Certmate::Test;

my $t = Certmate::Test->new;

$t->conf(<<'EOF', log_level => 'debug')->run;
http {
    access_log off;

    certmate_store %%DIR%%/store;
    certmate_certificate_cache 2;
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

my %c = map { $_ => $t->cert($_, names => ["$_.example.com"]) } qw(a b c);

is(($t->import_cert($c{$_}))[0], 201, "$_ imported") for qw(a b c);

ok(served('a'), 'a served');
is(parses(), 1, 'first handshake parses');

ok(served('a'), 'a served again') for 1 .. 3;
is(parses(), 1, 'the steady state parses nothing');

ok(served('b'), 'b served');
is(parses(), 2, 'b parsed');

ok(served('a') && served('b'), 'a and b from the cache');
is(parses(), 2, 'two entries fit');

ok(served('c'), 'c served');
is(parses(), 3, 'c parsed, a dropped');

ok(served('b'), 'b still cached');
is(parses(), 3, 'the recently used entry stayed');

ok(served('a'), 'a served after it was dropped');
is(parses(), 4, 'a parsed again');

is(($t->import_cert($c{a}))[0], 200, 'a stored again: a new version');
ok(served('a'), 'a served');
like($t->read_log, qr/certmate cache stale version/, 'old version noticed');
is(parses(), 5, 'the new version parsed once');
ok(served('a'), 'a served');
is(parses(), 5, 'and then not again');

# entries share their issuer's certificate; it lives as long as one of
# them does

my $root = $t->ca('root');
my $int = $t->ca('intermediate', issuer => $root);

$c{$_} = $t->cert($_, names => ["$_.example.com"], issuer => $int)
    for qw(d e);
is(($t->import_cert($c{$_}))[0], 201, "$_ imported") for qw(d e);

ok(served('d') && served('e'), 'd and e share an issuer');
ok(served('a'), 'a pushes d out');
ok(chain_ok('e'), 'e still sends a valid chain');
ok(served('a') && served('b'), 'a and b push e out');
ok(chain_ok('d'), 'd parsed again with its chain');
ok(chain_ok('e'), 'e parsed again with its chain');

$t->stop;

done_testing;


sub parses {
    my @parses = $t->read_log =~ /certmate cache parse version/g;
    return scalar @parses;
}

sub chain_ok {
    my ($name) = @_;
    my $hs = $t->handshake("$name.example.com",
                           args => ['-showcerts', '-CAfile', $root->{crt},
                                    '-verify_return_error']);
    my @sent = $hs->{output} =~ /BEGIN CERTIFICATE/g;
    return @sent == 2 && $hs->{output} =~ /Verify return code: 0 \(ok\)/;
}

sub served {
    my ($name) = @_;
    return $t->handshake("$name.example.com")->{fingerprint}
           eq $c{$name}{fingerprint};
}
