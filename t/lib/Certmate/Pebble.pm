package Certmate::Pebble;

# Debian's pebble (an RFC 8555 test CA that validates for real) and
# pebble-challtestsrv (its DNS, answering 127.0.0.1 for every name), on
# loopback ports of the test.  pebble validates HTTP-01 challenges on
# the port of the test's "http" listener (or the one named by http =>).

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);

use Certmate::Test qw(slurp spew);

# options: name => 'pebble' (ports and files), http => port name,
# validity => seconds, eab => { kid => base64url key }, env => { ... }

sub new {
    my ($class, $t, %opts) = @_;

    for my $tool ('pebble', 'pebble-challtestsrv') {
        plan(skip_all => "$tool is not installed")
            if system("command -v $tool >/dev/null 2>&1");
    }

    my $name = $opts{name} || 'pebble';
    my $dir = $t->dir . "/$name";
    mkdir $dir;

    my $self = bless { t => $t, name => $name, dir => $dir, opts => \%opts,
                       pids => {} }, $class;

    # pebble's own TLS certificate, from a CA of the test's

    Certmate::Test::openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
        'ec_paramgen_curve:P-256', '-nodes', '-keyout', "$dir/ca.key",
        '-out', "$dir/ca.crt", '-days', 2, '-subj', "/CN=$name test CA");
    Certmate::Test::openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
        'ec_paramgen_curve:P-256', '-nodes', '-keyout', "$dir/tls.key",
        '-out', "$dir/tls.csr", '-subj', '/CN=localhost');
    spew("$dir/tls.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    Certmate::Test::openssl('x509', '-req', '-in', "$dir/tls.csr",
        '-CA', "$dir/ca.crt", '-CAkey', "$dir/ca.key", '-set_serial', 1,
        '-days', 2, '-extfile', "$dir/tls.ext", '-out', "$dir/tls.crt");

    my %config = (
        listenAddress => '127.0.0.1:' . $t->port("${name}_acme"),
        managementListenAddress => '127.0.0.1:' . $t->port("${name}_mgmt"),
        certificate => "$dir/tls.crt",
        privateKey => "$dir/tls.key",
        httpPort => $t->port($opts{http} || 'http') + 0,
        tlsPort => $t->port("${name}_tls") + 0,
        ocspResponderURL => '',
        externalAccountBindingRequired =>
            $opts{eab} ? JSON::PP::true : JSON::PP::false,
    );

    $config{externalAccountMACKeys} = $opts{eab} if $opts{eab};
    $config{certificateValidityPeriod} = $opts{validity} + 0
        if $opts{validity};

    spew("$dir/pebble.json", encode_json({ pebble => \%config }));

    return $self;
}

sub directory {
    my ($self) = @_;
    return 'https://127.0.0.1:' . $self->{t}->port("$self->{name}_acme")
           . '/dir';
}

sub ca_bundle { "$_[0]{dir}/ca.crt" }

sub start {
    my ($self) = @_;

    my $t = $self->{t};
    my $name = $self->{name};
    my $dns = '127.0.0.1:' . $t->port("${name}_dns");

    $self->spawn('dns', 'pebble-challtestsrv', '-dns01', $dns,
                 '-http01', '', '-https01', '', '-tlsalpn01', '',
                 '-management', '127.0.0.1:' . $t->port("${name}_dnsmgmt"),
                 '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '')
        unless $self->{pids}{dns};

    # no random bad nonces: orders are counted by their requests (bad
    # nonces are tested against t/tools/mock-acme.pl)

    local %ENV = (%ENV, PEBBLE_VA_NOSLEEP => 1, PEBBLE_WFE_NONCEREJECT => 0,
                  %{$self->{opts}{env} || {}});

    $self->spawn('pebble', 'pebble', '-config', "$self->{dir}/pebble.json",
                 '-dnsserver', $dns);

    my $port = $t->port("${name}_acme");
    $t->wait_for(sub {
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") ? 1 : 0
    }, 10) or die "pebble does not listen:\n" . $self->log;

    return $self;
}

sub spawn {
    my ($self, $what, @cmd) = @_;

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDOUT, '>>', "$self->{dir}/$what.log" or POSIX::_exit(1);
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(1);
    }

    $self->{pids}{$what} = $pid;
}

# stops pebble (its roots and accounts are gone with it); the DNS stays

sub stop {
    my ($self) = @_;
    $self->terminate('pebble');
}

sub terminate {
    my ($self, $what) = @_;

    my $pid = delete $self->{pids}{$what} or return;
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

# sends a signal to pebble: STOP freezes the CA mid-exchange, CONT thaws it

sub signal {
    my ($self, $signal) = @_;
    kill $signal, $self->{pids}{pebble};
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->terminate($_) for keys %{$self->{pids}};
}

sub log {
    my ($self) = @_;
    my $path = "$self->{dir}/pebble.log";
    return -f $path ? slurp($path) : '';
}

# how many orders pebble was asked for

sub orders {
    my ($self) = @_;
    my @orders = $self->log =~ m{POST /order-plz}g;
    return scalar @orders;
}

# pebble's root, which its certificates chain to

sub root {
    my ($self) = @_;

    my $path = "$self->{dir}/root.pem";
    my $port = $self->{t}->port("$self->{name}_mgmt");

    my $pem = Certmate::Test::run_cmd('curl', '-s', '--cacert',
                                      $self->ca_bundle,
                                      "https://127.0.0.1:$port/roots/0");
    spew($path, $pem);
    return $path;
}

1;
