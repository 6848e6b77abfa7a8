package Certmate::OpensslCA;

# A foreign CA run with "openssl ca": client certificates with chosen
# extensions and validity, revocations, CRLs; and "openssl ocsp" as its
# responder.

use strict;
use warnings;

use File::Path qw(make_path);
use Scalar::Util qw(weaken);
use Certmate::Test qw(slurp);

sub new {
    my ($class, $t, $name) = @_;

    my $dir = $t->dir . "/ca-$name";
    make_path("$dir/new");

    my $self = bless { t => $t, name => $name, dir => $dir }, $class;

    # the test's object goes first at the end: it stops nginx
    weaken($self->{t});

    Certmate::Test::spew("$dir/index.txt", '');
    Certmate::Test::spew("$dir/crlnumber", "01\n");
    Certmate::Test::spew("$dir/serial", "1000\n");
    Certmate::Test::spew("$dir/ca.cnf", <<"EOF");
[ca]
default_ca = this

[this]
dir = $dir
database = \$dir/index.txt
new_certs_dir = \$dir/new
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
crlnumber = \$dir/crlnumber
serial = \$dir/serial
default_md = sha256
default_days = 30
default_crl_days = 1
policy = any
unique_subject = no
copy_extensions = copy

[any]
commonName = supplied

[client]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
EOF

    Certmate::Test::openssl('req', '-x509', '-new',
        Certmate::Test::newkey('ec-p256'), '-nodes', '-keyout', "$dir/ca.key",
        '-subj', "/CN=$name", '-days', 365,
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
        '-out', "$dir/ca.crt");

    return $self;
}

sub crt { "$_[0]{dir}/ca.crt" }
sub key { "$_[0]{dir}/ca.key" }

# a client certificate: cn, ext => [ "crlDistributionPoints=URI:..." ],
# start/end => "YYYYMMDDHHMMSSZ", eku => 'serverAuth'

sub client {
    my ($self, $file, %opts) = @_;

    my $dir = $self->{dir};
    my $base = "$dir/$file";
    my $cn = $opts{cn} || $file;

    my @ext = ('basicConstraints=CA:FALSE',
               'extendedKeyUsage=' . ($opts{eku} || 'clientAuth'),
               "subjectAltName=DNS:$cn", @{$opts{ext} || []});

    Certmate::Test::spew("$base.ext", join("\n", @ext) . "\n");

    Certmate::Test::openssl('req', '-new', Certmate::Test::newkey('ec-p256'),
                            '-nodes', '-keyout', "$base.key",
                            '-subj', "/CN=$cn", '-out', "$base.csr");

    my @days = $opts{start}
        ? ('-startdate', $opts{start}, '-enddate', $opts{end})
        : ('-days', 30);

    Certmate::Test::openssl('ca', '-batch', '-config', "$dir/ca.cnf",
                            '-notext', '-extfile', "$base.ext", @days,
                            '-in', "$base.csr", '-out', "$base.crt");

    return { crt => "$base.crt", key => "$base.key" };
}

sub revoke {
    my ($self, $cert, $reason) = @_;

    Certmate::Test::openssl('ca', '-config', "$self->{dir}/ca.cnf",
                            '-revoke', $cert->{crt},
                            '-crl_reason', $reason || 'keyCompromise');
}

# a CRL in DER; seconds => its nextUpdate from now

sub crl {
    my ($self, $path, %opts) = @_;

    my $pem = "$self->{dir}/crl.pem";

    Certmate::Test::openssl('ca', '-config', "$self->{dir}/ca.cnf",
                            '-gencrl', '-crlsec', $opts{seconds} || 3600,
                            '-out', $pem);
    Certmate::Test::openssl('crl', '-in', $pem, '-outform', 'DER',
                            '-out', "$path.tmp");
    rename "$path.tmp", $path or die "$path: $!";
}

# "openssl ocsp" answering for this CA on a port, until stopped; its
# answers are valid for the minutes given (60)

sub ocsp_start {
    my ($self, $port, $minutes) = @_;

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDOUT, '>', "$self->{dir}/ocsp.log";
        open STDERR, '>&', \*STDOUT;
        exec 'openssl', 'ocsp', '-index', "$self->{dir}/index.txt",
             '-port', $port, '-rsigner', $self->crt,
             '-rkey', $self->key, '-CA', $self->crt, '-nmin', $minutes || 60,
             '-ignore_err';
        exit 1;
    }

    $self->{ocsp} = $pid;

    # a connection without a request would hang "openssl ocsp" of 3.0

    $self->{t}->wait_for(sub {
        -f "$self->{dir}/ocsp.log"
        && slurp("$self->{dir}/ocsp.log") =~ /waiting for OCSP client/;
    }, 5) or die "openssl ocsp did not start";
}

sub ocsp_stop {
    my ($self) = @_;

    return unless $self->{ocsp};

    kill 'TERM', $self->{ocsp};
    waitpid $self->{ocsp}, 0;
    delete $self->{ocsp};
}

sub DESTROY {
    my ($self) = @_;
    $self->ocsp_stop;
}

1;
